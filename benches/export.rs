//! Benchmark of `pipec compile --target codepipeline` against `pipec check` (issue 13: at
//! most 2× the time of `check`).
//!
//! Run: `cargo bench --bench export`. The file is the generated 1.3 MB pipeline of
//! `benches/check.rs` (2000 stages × 5 actions), the same text (a copy of that
//! generator). CodePipeline allows 50 stages, so that file is compiled with the quota checks
//! off (`Options::limits = false`), in process: `pipec::check` against `pipec::compile` plus
//! the export to CloudFormation YAML, median of 7 runs each. Then, as whole processes, the
//! largest file of that shape within CodePipeline's limits (49 stages, 50 with the source stage):
//! `pipec check` against `pipec compile --target codepipeline`.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // Reason: a bench prints and runs processes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipec::export::codepipeline::{Format, Options, export};

// The binary's allocator, so that both sides are measured as `pipec` runs them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use pipec::source::SourceMap;

#[path = "support/big.rs"]
mod big;
use big::generate;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn in_process(text: &str, runs: usize) -> (Duration, Duration, Duration, usize) {
    let mut check = Vec::new();
    let mut compile = Vec::new();
    let mut whole = Vec::new();
    let mut out_len = 0;
    let opts = Options {
        format: Format::CfnYaml,
        create_role: false,
        limits: false,
    };
    for _ in 0..runs {
        let mut map = SourceMap::new();
        let id = map.add("big.pipe", text);
        let t = Instant::now();
        let diags = pipec::check(&mut map, id, &mut pipec::check::NoLoader);
        check.push(t.elapsed());
        assert!(
            diags.iter().all(|d| !d.is_error()),
            "the generated file checks clean"
        );

        let mut map = SourceMap::new();
        let id = map.add("big.pipe", text);
        let t = Instant::now();
        let ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader)
            .ir
            .expect("IR");
        compile.push(t.elapsed());
        let out = export(&ir, Some(&map), &opts).unwrap_or_else(|e| {
            let first = e.iter().find(|d| d.is_error()).map(|d| d.message.clone());
            panic!("{} diagnostics, the first error: {first:?}", e.len())
        });
        whole.push(t.elapsed());
        out_len = out.text.len();
    }
    (median(check), median(compile), median(whole), out_len)
}

fn process(bin: &Path, args: &[&str], runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let status = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn pipec");
        times.push(t.elapsed());
        assert!(status.success(), "pipec {args:?} failed");
    }
    median(times)
}

fn main() {
    let text = generate(2000);
    let (check, compile, whole, out_len) = in_process(&text, 7);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "1.3 MB file ({} bytes, 2000 stages; CodePipeline limits off), in process, median of 7:",
        text.len()
    );
    println!("  pipec::check                       {:>8.1} ms", ms(check));
    println!(
        "  pipec::compile (check + IR)        {:>8.1} ms",
        ms(compile)
    );
    println!(
        "  compile + export to CFN YAML       {:>8.1} ms  ({out_len} bytes out)",
        ms(whole)
    );
    let ratio = whole.as_secs_f64() / check.as_secs_f64();
    println!("  ratio to check: {ratio:.2}x (goal <= 2x)");

    let bin = Path::new(env!("CARGO_BIN_EXE_pipec"));
    let dir = std::env::temp_dir().join(format!("pipec-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let small = generate(49);
    let file = dir.join("within-limits.pipe");
    std::fs::write(&file, &small).expect("write");
    let f = file.to_string_lossy();
    let check_p = process(bin, &["check", "--format", "short", &f], 15);
    let out = dir.join("out.yaml");
    let o = out.to_string_lossy();
    let compile_p = process(
        bin,
        &["compile", &f, "--target", "codepipeline", "-o", &o],
        15,
    );
    println!(
        "largest file of that shape within the limits ({} bytes, 49 stages: 50 on CodePipeline with the generated source stage), whole process, median of 15:",
        small.len()
    );
    println!(
        "  pipec check                        {:>8.1} ms",
        ms(check_p)
    );
    println!(
        "  pipec compile --target codepipeline {:>7.1} ms",
        ms(compile_p)
    );
    println!(
        "  ratio: {:.2}x (goal <= 2x)",
        compile_p.as_secs_f64() / check_p.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
