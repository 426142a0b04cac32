//! Benchmark of `pipec import codepipeline` over the corpus (issue 14: under 50 ms a file).
//!
//! Run: `cargo bench --bench import`. Each file of `tests/data/corpus/codepipeline/` is
//! imported in process (read, model, `.pipe` text, formatted) 21 times; the median and the
//! slowest run are printed, and the bench fails if a median reaches 50 ms.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // Reason: a bench prints and reads files.

use std::path::Path;
use std::time::{Duration, Instant};

use pipec::import::Importer;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/codepipeline");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("no corpus at {}: nothing to measure", dir.display());
        return;
    };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let mut worst = Duration::ZERO;
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
    {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let mut times: Vec<Duration> = (0..21)
            .map(|_| {
                let t = Instant::now();
                let _ = std::hint::black_box(Importer::import(&name, &text));
                t.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        worst = worst.max(median);
        println!(
            "{name:55} {:7.3} ms median  {:7.3} ms max  ({} bytes)",
            median.as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            text.len()
        );
    }
    println!(
        "slowest median: {:.3} ms (bound: 50 ms)",
        worst.as_secs_f64() * 1e3
    );
    assert!(
        worst < Duration::from_millis(50),
        "an import took 50 ms or more"
    );
}
