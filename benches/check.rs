//! Whole-process benchmark of `pipec check` on generated pipelines (issue: front end).
//!
//! Run: `cargo bench --bench check`. It generates a valid pipeline of about 1.3 MB
//! (2000 stages × 5 actions with exports, artifacts, `after` chains and entry conditions),
//! checks it at 1×, 4× and 10× that size, and a 100-line file, each as a separate
//! `pipec check` process, and prints median wall time, throughput, CPU time (all threads;
//! steadier than wall time on a busy machine) and peak memory (from `wait4`), with the goals:
//! ≥ 10 MB/s at every size (issue 12), 10× input ≤ 12× time, peak memory < 20× file size,
//! and a 100-line file < 5 ms.
//! Then the same for files full of errors (issue 11: checking time must grow linearly with
//! the number of diagnostics): each kind at N and 4N diagnostics, in `--format short` and
//! `--format json`, with the goal 4× the diagnostics ≤ 6× the time.
#![allow(clippy::print_stdout, clippy::disallowed_methods, unsafe_code)] // Reason: a bench prints, runs processes, and calls wait4.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)] // Reason: report arithmetic on small numbers.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/big.rs"]
mod big;
use big::generate;

/// A realistic 100-line file.
fn small() -> String {
    let mut s = generate(12);
    let lines: Vec<&str> = s.lines().collect();
    if lines.len() > 100 {
        s = generate(10);
    }
    s
}

struct Sample {
    wall: Duration,
    /// User and system time of all threads: steadier than wall time on a busy machine.
    cpu: Duration,
    max_rss_kib: i64,
    code: i32,
}

fn run_once(bin: &Path, file: &Path, format: &str) -> Sample {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(["check", "--format", format])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pipec");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let wall = start.elapsed();
    std::mem::forget(child); // Already reaped by wait4.
    Sample {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        code: libc::WEXITSTATUS(status),
    }
}

#[allow(clippy::cast_sign_loss)] // Reason: rusage times are never negative.
fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Median wall time, median CPU time and the largest peak memory of `runs` runs.
fn measure(bin: &Path, file: &Path, runs: usize) -> (Duration, Duration, i64) {
    measure_as(bin, file, runs, "short", 0)
}

/// As [`measure`], in another format, expecting exit code `code`.
fn measure_as(
    bin: &Path,
    file: &Path,
    runs: usize,
    format: &str,
    code: i32,
) -> (Duration, Duration, i64) {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let s = run_once(bin, file, format);
        assert_eq!(
            s.code,
            code,
            "pipec check exited {} on {}",
            s.code,
            file.display()
        );
        walls.push(s.wall);
        cpus.push(s.cpu);
        rss = rss.max(s.max_rss_kib);
    }
    walls.sort();
    cpus.sort();
    (walls[walls.len() / 2], cpus[cpus.len() / 2], rss)
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_pipec"));
    let dir = std::env::temp_dir().join(format!("pipec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let base = 2000;
    println!("pipec check, whole process ({})", bin.display());
    println!(
        "{:>6} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10}",
        "scale", "bytes", "median ms", "MB/s", "CPU ms", "peak MiB", "mem/size"
    );
    let mut times = Vec::new();
    let mut ok = true;
    for scale in [1usize, 4, 10] {
        let text = generate(base * scale);
        let file = dir.join(format!("big{scale}.pipe"));
        std::fs::write(&file, &text).expect("write");
        let runs = if scale == 10 { 3 } else { 7 };
        let (wall, cpu, rss) = measure(bin, &file, runs);
        let ms = wall.as_secs_f64() * 1e3;
        let cpu_ms = cpu.as_secs_f64() * 1e3;
        let mb_s = text.len() as f64 / wall.as_secs_f64() / 1e6;
        let mem_ratio = (rss as f64 * 1024.0) / text.len() as f64;
        println!(
            "{scale:>5}x {:>10} {ms:>10.1} {mb_s:>8.2} {cpu_ms:>10.1} {:>10.1} {mem_ratio:>9.1}x",
            text.len(),
            rss as f64 / 1024.0
        );
        if mem_ratio >= 20.0 || mb_s < 10.0 {
            ok = false;
        }
        times.push((scale, ms));
    }
    let t1 = times[0].1;
    let t10 = times[2].1;
    println!(
        "growth: 10x input took {:.2}x the time (goal <= 12x)",
        t10 / t1
    );
    println!("1x file: {t1:.1} ms (goal: >= 10 MB/s at every size, memory < 20x the file)");
    ok &= t1 < 300.0 && t10 / t1 <= 12.0;
    let text = small();
    let file = dir.join("small.pipe");
    std::fs::write(&file, &text).expect("write");
    let (wall, _, _) = measure(bin, &file, 31);
    let small_ms = wall.as_secs_f64() * 1e3;
    println!(
        "{}-line file: {small_ms:.2} ms median of 31 (goal < 5 ms)",
        text.lines().count()
    );
    ok &= small_ms < 5.0;
    ok &= errors(bin, &dir);
    println!(
        "{}",
        if ok {
            "all goals met"
        } else {
            "SOME GOALS MISSED"
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files full of errors, each at `n` problems: name → text.
fn error_files(n: usize) -> Vec<(&'static str, String)> {
    let mut after = String::from("pipeline p {\n  stage s {\n");
    for i in 0..n {
        let _ = writeln!(
            after,
            "    action a{i}: sh {{ after = [zz] run = \"true\" }}"
        );
    }
    after.push_str("  }\n}\n");
    let exports = format!(
        "pipeline p {{\n  stage s {{\n    action a: sh {{ run = \"true\" exports = [{}] }}\n  }}\n}}\n",
        vec!["x"; n + 1].join(", ")
    );
    let line: Vec<String> = (0..n / 2)
        .map(|i| format!("action a{i}: sh {{ after = [zz] exports = [x, x] run = \"true\" }}"))
        .collect();
    let one_line = format!("pipeline p {{ stage s {{ {} }} }}\n", line.join(" "));
    // A mix, ten problems a stage: unknown names of every sort, a repeated export, an
    // attribute from CodePipeline, an artifact nobody produces, an unreachable stage.
    let mut mix = String::from("pipeline p {\n  param env: string = \"x\"\n");
    for k in 0..n / 10 {
        let _ = write!(
            mix,
            "  stage s{k} {{\n    after = [gone{k}]\n    action a: sh {{ input = nope{k} run = \"echo ${{params.nope{k}}} ${{s{k}.b.v}} ${{params.envv}}\" exports = [v, v] runOrder = 1 }}\n    action b: sh {{ after = [c{k}] run = \"${{secrets.s{k}}} ${{missing{k}.a.v}}\" }}\n  }}\n"
        );
    }
    mix.push_str("}\n");
    vec![
        ("after", after),
        ("exports", exports),
        ("one-line", one_line),
        ("mix", mix),
    ]
}

/// Checking time against the number of diagnostics; true when every kind stays linear.
fn errors(bin: &Path, dir: &Path) -> bool {
    let n = 4000;
    println!("\nfiles full of errors: N and 4N problems (N = {n})");
    println!(
        "{:>9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "kind", "format", "N ms", "4N ms", "ratio", "4N MiB", "4N KB"
    );
    let mut ok = true;
    let small = error_files(n);
    let big = error_files(4 * n);
    for ((name, a), (_, b)) in small.iter().zip(&big) {
        let fa = dir.join(format!("{name}-1.pipe"));
        let fb = dir.join(format!("{name}-4.pipe"));
        std::fs::write(&fa, a).expect("write");
        std::fs::write(&fb, b).expect("write");
        for format in ["short", "json"] {
            let (ta, _, _) = measure_as(bin, &fa, 3, format, 1);
            let (tb, _, rss) = measure_as(bin, &fb, 3, format, 1);
            let ratio = tb.as_secs_f64() / ta.as_secs_f64();
            println!(
                "{name:>9} {format:>6} {:>10.1} {:>10.1} {ratio:>9.2}x {:>10.1} {:>8}",
                ta.as_secs_f64() * 1e3,
                tb.as_secs_f64() * 1e3,
                rss as f64 / 1024.0,
                b.len() / 1024
            );
            ok &= ratio <= 6.0;
        }
    }
    println!("goal: 4x the problems in at most 6x the time");
    ok
}
