//! Whole-process benchmark of `pipec prune` and `pipec runs` on a state directory of 10,000
//! runs (issue 17).
//!
//! Run: `cargo bench --bench prune` (`PIPEC_BENCH_RUNS` changes the size). It makes the state
//! directory quickly — rows inserted straight into the history, whose tables pipec creates,
//! and each run's files: four logs, a manifest, a workspace file, a blob of its own and one
//! all share (`tests/support/history.rs`) — then times `pipec runs` (median of 20, stdout
//! to /dev/null) and `pipec prune --keep-runs 50` (median of 3, each on a fresh copy; a
//! `--dry-run` too; again with the files synced to disk first). Goals: `pipec runs` < 20 ms,
//! `pipec prune` < 2 s.
//! `PIPEC_BENCH_MAKE=DIR` only makes the state directory in DIR, to profile by hand.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // Reason: a bench prints and runs processes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/history.rs"]
#[allow(dead_code)] // Reason: the tests' generator; the bench uses only `fill`.
mod history;

fn time(bin: &Path, args: &[&str], state: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(bin)
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pipec");
    let took = start.elapsed();
    assert!(status.success(), "pipec {args:?} failed");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_pipec"));
    let runs: usize = std::env::var("PIPEC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let made = |dir: &Path| {
        let start = Instant::now();
        history::fill(dir, runs);
        start.elapsed()
    };
    // `PIPEC_BENCH_MAKE=DIR`: only make the state directory (to profile a prune by hand).
    if let Some(dir) = std::env::var_os("PIPEC_BENCH_MAKE") {
        let took = made(Path::new(&dir));
        println!(
            "state directory of {runs} runs made in {:.1} s",
            took.as_secs_f64()
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let took = made(&state);
    println!(
        "state directory of {runs} runs made in {:.1} s",
        took.as_secs_f64()
    );
    // The first command opens (and upgrades) the history; not timed.
    time(bin, &["runs"], &state);
    let listing = median((0..20).map(|_| time(bin, &["runs"], &state)).collect());
    let json = median(
        (0..20)
            .map(|_| time(bin, &["runs", "--json"], &state))
            .collect(),
    );
    let dry = median(
        (0..3)
            .map(|_| time(bin, &["prune", "--keep-runs", "50", "--dry-run"], &state))
            .collect(),
    );
    // Twice: right after the files were written (still in the page cache, most without
    // blocks on the disk yet), and once they are on the disk (`sync`), as those of runs that
    // ended days ago are. On a file system that discards freed blocks synchronously (ext4
    // mounted with `discard`, no journal: this project's test machine) each freed block then
    // waits for the disk.
    let prune_of = |synced: bool| {
        let mut took = Vec::new();
        for i in 0..3 {
            let fresh = tmp.path().join(format!("fresh{i}"));
            made(&fresh);
            time(bin, &["runs"], &fresh);
            if synced {
                nix::unistd::sync();
            }
            took.push(time(bin, &["prune", "--keep-runs", "50"], &fresh));
            std::fs::remove_dir_all(&fresh).expect("clean");
        }
        median(took)
    };
    let prune = prune_of(false);
    let on_disk = prune_of(true);
    println!("pipec runs          {:>10}   (goal < 20 ms)", ms(listing));
    println!("pipec runs --json   {:>10}", ms(json));
    println!("pipec prune --dry-run --keep-runs 50   {:>10}", ms(dry));
    println!(
        "pipec prune --keep-runs 50             {:>10}   (goal < 2 s; removes {} runs)",
        ms(prune),
        runs.saturating_sub(50)
    );
    println!("  the same, its files synced to disk   {:>10}", ms(on_disk));
}
