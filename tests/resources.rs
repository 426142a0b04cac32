//! What pipec does with hostile sizes and odd files (issue 11): output lines without end,
//! huge exports, a state directory inside a `dir` snapshot, files that are not regular
//! files (FIFOs, devices) or too big, a full disk, and file names that are not UTF-8.
//!
//! Commands that could read without bound run under an address-space cap (`ulimit -v`) and
//! a deadline, so that a regression fails the test instead of hanging it or eating the
//! machine's memory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Output, Test, action, output_within};

/// Address space pipec may use in these tests (KiB): enough for a run (thread stacks and
/// allocator reservations count), far below what an unbounded read would take.
const CAP_KIB: u64 = 2_000_000;

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(ok.success(), "mkfifo {}", path.display());
}

// ------------------------------------------------------------------ output lines

/// The highest "peak resident set" (`VmHWM`, KiB) `pid` reported while it ran.
fn watch_peak(pid: u32, done: &std::sync::atomic::AtomicBool) -> u64 {
    let mut peak = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    peak
}

#[test]
fn a_line_without_an_end_keeps_pipec_memory_bounded_and_the_log_keeps_every_byte() {
    // 100 MB without a newline, a pause in which the peak is read, and a failure (whose log
    // tail pipec shows).
    let t = Test::new().file(
        "big.pipe",
        r#"pipeline big {
  stage s {
    action shout: sh { run = "head -c 100000000 /dev/zero | tr '\\0' x; sleep 0.5; exit 3" }
  }
}
"#,
    );
    let mut child = t.state(["run", "big.pipe"]).status(1).spawn();
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watcher = std::thread::spawn(move || watch_peak(pid, &flag));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !child.has_ended() {
        assert!(Instant::now() < deadline, "pipec did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak_kib = watcher.join().expect("watcher");
    child.wait();
    assert!(
        peak_kib > 0 && peak_kib < 64 * 1024,
        "pipec's peak memory was {peak_kib} KiB for a 100 MB line"
    );
    let log = t
        .path("state/logs")
        .read_dir()
        .expect("logs")
        .flatten()
        .next();
    let log = log.expect("a run folder").path().join("s.shout.1.log");
    let mut log = std::fs::File::open(&log).expect("the log");
    let mut around = [0u8; 2];
    std::io::Seek::seek(&mut log, std::io::SeekFrom::Start(99_999_999)).expect("seek");
    std::io::Read::read_exact(&mut log, &mut around).expect("read");
    assert_eq!(
        &around, b"x\n",
        "the log keeps every byte, then pipec's note"
    );
}

#[test]
fn a_secret_is_masked_where_a_long_line_is_cut() {
    // The secret straddles 64 KiB, where a line is cut into pieces.
    let t = Test::new().file(
        "cut.pipe",
        r#"pipeline cut {
  secret tok = env("CUT_TOKEN")
  stage s {
    action shout: sh {
      env = { T = secrets.tok }
      run = "printf '%065530d%s%0100000d' 0 \"$T\" 0"
    }
  }
}
"#,
    );
    t.state(["run", "cut.pipe"])
        .env("CUT_TOKEN", "tok-SECRET-4242")
        .run();
    let logs = t.state(["logs", "last"]).run();
    assert!(!logs.stdout.contains("SECRET"), "the secret leaked");
    assert!(logs.stdout.contains("0***0"), "masked in place");
    assert!(
        logs.stdout.len() > 165_000,
        "every byte: {}",
        logs.stdout.len()
    );
}

// ------------------------------------------------------------------ exports

#[test]
fn an_export_over_codepipelines_limit_fails_its_producer() {
    let t = Test::new().file(
        "big.pipe",
        r#"pipeline big {
  stage s {
    action make: sh {
      run = "printf 'v=%0200000d\\n' 0 >> \"$PIPEC_OUTPUT\""
      exports = [v]
    }
    action use: sh { after = [make] env = { V = s.make.v } run = "true" }
  }
}
"#,
    );
    t.args(["run", "big.pipe", "--state-dir", "state"])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(1)
        .stderr_contains("122880 bytes")
        .stderr_contains("s.make")
        .run();
    let v = t.show("last");
    assert_eq!(action(&v, "s", "make")["status"], "failed");
    assert_eq!(action(&v, "s", "use")["attempts"], 0);
    let db = std::fs::metadata(t.path("state/history.db"))
        .expect("db")
        .len();
    let wal = std::fs::metadata(t.path("state/history.db-wal")).map_or(0, |m| m.len());
    assert!(
        db + wal < 150_000,
        "the value reached the history: {db} + {wal}"
    );
}

#[test]
fn an_export_holding_a_nul_byte_fails_its_producer_not_its_consumer() {
    let t = Test::new().file(
        "nul.pipe",
        r#"pipeline nul {
  stage s {
    action make: sh { run = "printf 'v=a\\0b\\n' >> \"$PIPEC_OUTPUT\"" exports = [v] }
    action use: sh { after = [make] env = { V = s.make.v } run = "true" }
  }
}
"#,
    );
    t.args(["run", "nul.pipe", "--state-dir", "state"])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(1)
        .stderr_contains("NUL")
        .run();
    let v = t.show("last");
    assert_eq!(action(&v, "s", "make")["status"], "failed");
    assert_eq!(action(&v, "s", "use")["attempts"], 0);
}

#[test]
fn the_output_file_is_read_with_a_bound() {
    // 3 MB on one line: refused by its size, not read whole (nor quoted back whole).
    let t = Test::new().file(
        "out.pipe",
        r#"pipeline out {
  stage s {
    action make: sh {
      run = "head -c 3000000 /dev/zero | tr '\\0' a >> \"$PIPEC_OUTPUT\""
      exports = [v]
    }
  }
}
"#,
    );
    let out = t
        .args(["run", "out.pipe", "--state-dir", "state"])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(1)
        .run();
    assert!(
        out.stderr.contains("1 MiB"),
        "{}",
        &out.stderr[..out.stderr.len().min(2000)]
    );
    assert!(
        out.stderr.len() < 10_000,
        "{} bytes of errors",
        out.stderr.len()
    );
}

#[test]
fn an_output_file_replaced_by_a_fifo_fails_the_action() {
    let t = Test::new().file(
        "fifo.pipe",
        r#"pipeline fifo {
  stage s {
    action make: sh { run = "rm -f \"$PIPEC_OUTPUT\"; mkfifo \"$PIPEC_OUTPUT\"" exports = [v] }
  }
}
"#,
    );
    t.args(["run", "fifo.pipe", "--state-dir", "state"])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(1)
        .stderr_contains("not a regular file")
        .run();
}

// ------------------------------------------------------------------ the state directory

#[test]
fn a_dir_snapshot_leaves_out_the_state_directory_in_use_however_it_is_named() {
    // `proj/st` is inside the snapshotted folder; it is named directly, through a symbolic
    // link from outside, with `..`, and through a link inside the folder (which is left out
    // too).
    let src = r#"pipeline snap {
  stage source { action take: dir { path = "." output = src } }
  stage check {
    action look: sh {
      input = src
      run = "test -f a.txt && test -f sub/b.txt && test ! -e st && test ! -L in-link"
    }
  }
}
"#;
    let forms = ["proj/st", "st-link", "proj/sub/../st", "proj/in-link"];
    for state in forms {
        let t = Test::new()
            .file("proj/snap.pipe", src)
            .file("proj/a.txt", "a")
            .file("proj/sub/b.txt", "b")
            .file("proj/st/keep", "");
        std::os::unix::fs::symlink("proj/st", t.path("st-link")).expect("link");
        std::os::unix::fs::symlink("st", t.path("proj/in-link")).expect("link");
        // Form {i}: `--state-dir {state}`.
        t.args(["run", "proj/snap.pipe", "--state-dir", state])
            .address_space_kib(CAP_KIB)
            .within(60)
            .run();
    }
}

// ------------------------------------------------------------------ files pipec reads

#[test]
fn check_refuses_what_is_not_a_regular_file() {
    let t = Test::new().file(
        "ok.pipe",
        "pipeline p { stage s { action a: sh { run = \"true\" } } }\n",
    );
    mkfifo(&t.path("fifo.pipe"));
    for (path, what) in [("/dev/zero", "a character device"), ("fifo.pipe", "a FIFO")] {
        t.args(["check", path])
            .address_space_kib(CAP_KIB)
            .within(30)
            .status(2)
            .stderr_contains("not a regular file")
            .stderr_contains(what)
            .run();
    }
    // The same FIFO found in a folder.
    t.args(["check", "."])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(2)
        .stderr_contains("fifo.pipe")
        .run();
}

#[test]
fn imports_of_devices_and_fifos_are_e0205_in_check_compile_and_run() {
    let t = Test::new().file(
        "main.pipe",
        r#"import "/dev/zero" as zero
import "./fifo.pipe" as fifo

pipeline p { stage s { action a: sh { run = "true" } } }
"#,
    );
    mkfifo(&t.path("fifo.pipe"));
    for args in [
        &["check", "main.pipe", "--format", "short"][..],
        &["compile", "main.pipe", "--format", "short"][..],
        &["run", "main.pipe", "--state-dir", "state"][..],
    ] {
        let out = t
            .args(args)
            .address_space_kib(CAP_KIB)
            .within(30)
            .status(1)
            .run();
        let all = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(all.matches("cannot import").count(), 2, "{args:?}: {all}");
    }
    t.args(["check", "main.pipe"])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(1)
        .stderr_contains("not a regular file (a character device)")
        .stderr_contains("not a regular file (a FIFO)")
        .run();
}

#[test]
fn sources_over_16_mib_are_refused_also_on_stdin() {
    let mut text = String::from("pipeline p { stage s { action a: sh { run = \"true\" } } }\n");
    let line = format!("// {}\n", "x".repeat(1000));
    while text.len() <= 16 << 20 {
        text.push_str(&line);
    }
    let t = Test::new().file("huge.pipe", &text);
    t.args(["check", "huge.pipe"])
        .address_space_kib(CAP_KIB)
        .within(30)
        .status(2)
        .stderr_contains("bigger than 16 MiB")
        .run();
    let zero = Path::new("/dev/zero");
    for args in [
        &["check", "--stdin-filename", "x.pipe"][..],
        &["fmt", "-"][..],
    ] {
        t.args(args)
            .address_space_kib(CAP_KIB)
            .within(30)
            .stdin_file(zero)
            .status(2)
            .stderr_contains("bigger than 16 MiB")
            .run();
    }
}

#[test]
fn file_values_and_pipeline_files_that_are_not_regular_files_fail_clearly() {
    let t = Test::new()
        .file(
            "secret.pipe",
            r#"pipeline s {
  secret key = file("/dev/zero")
  stage s { action a: sh { env = { K = secrets.key } run = "true" } }
}
"#,
        )
        .file(
            "param.pipe",
            r#"pipeline p {
  param v: string = file("./fifo")
  stage s { action a: sh { run = "echo ${params.v}" } }
}
"#,
        )
        .file(
            "outer.pipe",
            r#"pipeline outer {
  stage s { action inner: pipeline { file = "./fifo.pipe" } }
}
"#,
        );
    mkfifo(&t.path("fifo"));
    mkfifo(&t.path("fifo.pipe"));
    for (file, says) in [
        (
            "secret.pipe",
            "`/dev/zero`: it is not a regular file (a character device)",
        ),
        ("param.pipe", "fifo`: it is not a regular file (a FIFO)"),
        (
            "outer.pipe",
            "fifo.pipe`: it is not a regular file (a FIFO)",
        ),
        ("fifo.pipe", "fifo.pipe`: it is not a regular file (a FIFO)"),
    ] {
        let out = t
            .state(["run", file])
            .address_space_kib(CAP_KIB)
            .within(30)
            .any_status()
            .stderr_contains(says)
            .run();
        assert_ne!(out.code, 0, "{file}: {}", out.stderr);
    }
}

#[test]
fn fifos_in_a_snapshot_or_an_output_fail_the_action_instead_of_blocking() {
    let t = Test::new()
        .file(
            "snap.pipe",
            r#"pipeline snap {
  stage s { action take: dir { path = "proj" output = src } }
}
"#,
        )
        .file(
            "out.pipe",
            r#"pipeline out {
  stage s { action make: sh { run = "mkdir out && mkfifo out/pipe" output = o from "out" } }
}
"#,
        )
        .file("proj/a.txt", "a");
    mkfifo(&t.path("proj/pipe"));
    for (file, says) in [
        (
            "snap.pipe",
            "`pipe` is not a regular file (a FIFO): leave it out with `exclude`",
        ),
        ("out.pipe", "pipe`: it is not a regular file (a FIFO)"),
    ] {
        t.state(["run", file])
            .address_space_kib(CAP_KIB)
            .within(30)
            .status(1)
            .stderr_contains(says)
            .run();
    }
}

// ------------------------------------------------------------------ a full disk

/// A shell script run as root in a mount namespace of its own (a user namespace too when
/// this process is not root), so that it can mount a small tmpfs (needs `unshare`, from
/// util-linux); `None` when this machine allows neither.
fn in_mount_namespace(dir: &Path, script: &str) -> Option<Output> {
    for flags in [
        &["--mount"][..],
        &["--user", "--map-root-user", "--mount"][..],
    ] {
        let probe = Command::new("unshare")
            .args(flags)
            .args([
                "sh",
                "-c",
                "mount -t tmpfs -o size=64k tmpfs \"$0\"",
                "/mnt",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            continue;
        }
        let mut cmd = Command::new("unshare");
        cmd.args(flags)
            .args(["sh", "-c", script])
            .current_dir(dir)
            .env("PIPEC", env!("CARGO_BIN_EXE_pipec"))
            .env("PIPEC_TEST", "1")
            .stdin(Stdio::null());
        return Some(output_within(cmd, 120));
    }
    None
}

#[test]
fn a_run_that_fills_the_disk_is_recorded_failed_once_there_is_space() {
    let t = Test::new().file(
        "full.pipe",
        r#"pipeline full {
  stage s {
    action a: sh { run = "echo hi" }
    action fill: sh { after = [a] run = "dd if=/dev/zero of=../../../../fill bs=4k 2>/dev/null; echo filled" }
    action b: sh { after = [fill] run = "echo b" }
  }
}
"#,
    );
    std::fs::create_dir(t.path("disk")).expect("mkdir");
    // The state directory is `disk/st`; `fill` (four folders up from a workspace,
    // `disk/st/work/RUN/wsN`) fills the disk from inside the action.
    let script = r#"
mount -t tmpfs -o size=1m tmpfs disk || exit 90
"$PIPEC" run full.pipe --state-dir disk/st >out.txt 2>&1
echo "code=$?"
cat out.txt
echo "--- after, still full:"
"$PIPEC" runs --state-dir disk/st --json
rm -f disk/fill
echo "--- after, with space:"
"$PIPEC" show last --state-dir disk/st --json
"#;
    if !crate::support::require_tool("unshare", "util-linux: apt-get install util-linux") {
        return;
    }
    let Some(out) = in_mount_namespace(&t.path(""), script) else {
        crate::support::skip_or_fail(
            "a mount namespace to mount a small tmpfs in",
            "run as root, or allow unprivileged user namespaces",
        );
        return;
    };
    let text = out.stdout;
    assert!(text.contains("code=1"), "{text}{}", out.stderr);
    assert!(text.contains("disk is full"), "{text}");
    let after = text
        .split("--- after, with space:")
        .nth(1)
        .expect("show ran");
    let v: serde_json::Value = serde_json::from_str(after.trim()).expect("show --json");
    assert_eq!(v["status"], "failed", "{v}");
    let s = &v["stages"][0];
    assert!(
        s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the run ended on an error")),
        "{v}"
    );
    assert_ne!(action(&v, "s", "fill")["status"], "running", "{v}");
    // `a` ended before the disk was full: its end, in the journal, is not lost.
    assert_eq!(action(&v, "s", "a")["status"], "succeeded", "{v}");
}

#[test]
fn a_history_that_was_lost_is_said_to_be_lost() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline p { stage s { action a: sh { run = \"echo hi\" } } }\n",
    );
    t.state(["run", "p.pipe"]).run();
    // What a full disk (or a careless clean-up) can leave: an empty database file.
    for f in ["history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(t.path("state").join(f));
    }
    std::fs::write(t.path("state/history.db"), "").expect("truncate");
    t.state(["runs"])
        .stderr_contains("the run history")
        .stderr_contains("was lost")
        .run();
    // Said once: the new history is a history.
    t.state(["runs"]).stderr_lacks("was lost").run();
}

#[test]
fn show_says_when_the_process_of_a_running_run_is_gone() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline p { stage s { action a: sh { run = \"touch ../../../../started; sleep 30\" } } }\n",
    );
    let child = t.state(["run", "p.pipe"]).spawn();
    let start = Instant::now();
    while !t.path("started").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the action did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill();
    t.state(["show", "last"])
        .stdout_contains(": running")
        .stdout_contains("is gone: `pipec resume")
        .run();
    // What the dead pipec left (its `sleep`) is ended.
    t.state(["stop", "last"]).any_status().run();
}

// ------------------------------------------------------------------ file names

#[test]
fn file_names_that_are_not_utf8_come_back_byte_for_byte() {
    let t = Test::new().file(
        "names.pipe",
        r#"pipeline names {
  stage make {
    action files: sh {
      run = """
        mkdir -p out
        echo one > "out/a$(printf '\\377')"
        echo two > "out/a$(printf '\\376')"
        """
      output = o from "out"
    }
  }
  stage read {
    action check: sh {
      input = o
      run = """
        test "$(cat "out/a$(printf '\\377')")" = one
        test "$(cat "out/a$(printf '\\376')")" = two
        test "$(ls out | wc -l)" = 2
        """
    }
  }
}
"#,
    );
    t.args(["run", "names.pipe", "--state-dir", "state"])
        .address_space_kib(CAP_KIB)
        .within(60)
        .run();
}
