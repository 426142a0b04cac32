//! The fuzzers' findings stay fixed: every file under `tests/fuzz-regressions/TARGET/` (one
//! input each, as libFuzzer saved it, minimised) goes through that target's own body — the
//! fuzz crate's library, included here — so no panic, hang or broken property comes back,
//! on stable Rust and without cargo-fuzz. How to add one: docs/fuzzing.md.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

#[allow(unreachable_pub, dead_code)] // Reason: the fuzz crate's library, whose items are public there.
#[path = "../fuzz/src/lib.rs"]
pub(crate) mod targets;

/// The saved inputs of `target`, sorted (none while it has found nothing).
fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new("tests/fuzz-regressions").join(target);
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs every saved input of `target` through it on a worker thread; a panic or a run over
/// 60 s (a debug build) fails, naming the files.
fn replay(target: &str) {
    let (_, body) = targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a fuzz target of that name");
    let mut failed = Vec::new();
    for file in cases(target) {
        let data = std::fs::read(&file).expect("readable");
        let (tx, rx) = mpsc::channel();
        let body = *body;
        let worker = std::thread::spawn(move || {
            body(&data);
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {
                let _ = worker.join();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                failed.push(format!("{}: over 60 s", file.display()));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failed.push(format!("{}: panicked (message above)", file.display()));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn check_findings_stay_fixed() {
    replay("check");
}

#[test]
fn fmt_findings_stay_fixed() {
    replay("fmt");
}

#[test]
fn compile_findings_stay_fixed() {
    replay("compile");
}

#[test]
fn graph_findings_stay_fixed() {
    replay("graph");
}

#[test]
fn lsp_findings_stay_fixed() {
    replay("lsp");
}

#[test]
fn import_findings_stay_fixed() {
    replay("import");
}

/// Every target has its test above and its binary in `fuzz/fuzz_targets/`.
#[test]
fn every_fuzz_target_is_replayed_and_built() {
    let names: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["check", "fmt", "compile", "graph", "lsp", "import"]);
    for name in names {
        let bin = Path::new("fuzz/fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
    }
}
