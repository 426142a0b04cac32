//! What running an action costs pipec itself, counted in system calls: `strace -f` follows
//! pipec's threads and the processes it starts, and only pipec's own calls are counted (a
//! started process is known by its `execve` of the action's program). One stage of no-op
//! actions (`true`), the wide shape of `bench/schedule.sh`; `bash bench/schedule.sh` times it.
//!
//! Each assertion is a cost that was once paid per action and is not anymore: an `fsync`
//! of the history, a commit of the history, a wait for another thread, a signal to a
//! process group that is gone, a read of the adopted processes, a look for files the
//! attempt did not write.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::support::{Test, require_tool};

/// How many actions the traced run has.
const ACTIONS: usize = 40;

/// pipec's own system calls in a run of `ACTIONS` no-op actions: name → (calls, failed).
struct Calls {
    counts: BTreeMap<String, (usize, usize)>,
    /// Every call of pipec, as strace wrote it.
    lines: Vec<String>,
    /// How long the traced run took.
    took: std::time::Duration,
}

impl Calls {
    fn of(&self, name: &str) -> (usize, usize) {
        self.counts.get(name).copied().unwrap_or_default()
    }

    /// pipec's calls whose line contains every one of `parts`.
    fn matching(&self, parts: &[&str]) -> usize {
        self.lines
            .iter()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    }
}

/// Runs `ACTIONS` no-op actions in one stage with `--jobs 2` under `strace -f`; `None`
/// when strace cannot trace here (no ptrace), after saying so.
fn traced() -> Option<Calls> {
    let mut src = String::from("pipeline wide {\n  stage s {\n");
    for a in 0..ACTIONS {
        writeln!(src, "    action a{a}: sh {{ run = \"true\" }}").expect("a string");
    }
    src.push_str("  }\n}\n");
    let t = Test::new().file("wide.pipe", &src).file("trace/.keep", "");
    // One file per process or thread (`-ff`): no call is split in two by another's.
    let began = std::time::Instant::now();
    let out = Command::new("strace")
        // `-y`: a descriptor is shown with its path (which file a write goes to).
        .args(["-f", "-ff", "-qq", "-y", "-o", "trace/t"])
        .arg(env!("CARGO_BIN_EXE_pipec"))
        .args(["run", "wide.pipe", "--state-dir", "state", "--jobs", "2"])
        .current_dir(t.path(""))
        .env("PIPEC_PLAIN", "1")
        .output()
        .expect("strace runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ptrace") || stderr.contains("Operation not permitted") {
        crate::support::skip_or_fail(
            &format!("strace to trace processes (it said: {})", stderr.trim()),
            "allow ptrace in this container (CAP_SYS_PTRACE)",
        );
        return None;
    }
    assert!(out.status.success(), "pipec under strace failed:\n{stderr}");
    Some(calls(&t.path("trace"), began.elapsed()))
}

/// pipec's own calls in the files of `strace -ff`: those of every process and thread but
/// the ones that ran the action's program (an `execve` of `…/true`); the run took `took`.
fn calls(dir: &Path, took: std::time::Duration) -> Calls {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).expect("trace folder") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("trace");
        if text
            .lines()
            .any(|l| l.starts_with("execve(\"") && l.contains("/true\""))
        {
            continue;
        }
        for call in text.lines() {
            // Calls only: not signals or exits.
            let Some(name) = call.split_once('(').map(|(n, _)| n).filter(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }) else {
                continue;
            };
            let entry = counts.entry(name.to_string()).or_default();
            entry.0 += 1;
            // strace aligns results: `kill(-7, SIGKILL)      = -1 ESRCH (…)`.
            if call
                .rsplit_once(" = ")
                .is_some_and(|(_, r)| r.starts_with("-1 "))
            {
                entry.1 += 1;
            }
            lines.push(call.to_string());
        }
    }
    Calls {
        counts,
        lines,
        took,
    }
}

#[test]
fn an_action_costs_pipec_no_fsync_no_thread_wait_and_no_call_that_fails() {
    if !require_tool("strace", "apt-get install strace") {
        return;
    }
    let Some(calls) = traced() else {
        return;
    };
    // Fewer than one call per two actions.
    let rare = |n: usize| n * 2 < ACTIONS;
    let summary = format!("{:?}", calls.counts);
    // The history commits in pipec's loop, with `synchronous=NORMAL`: no `fsync` per commit
    // (only opening the history and its checkpoints sync).
    let syncs = calls.of("fsync").0 + calls.of("fdatasync").0;
    assert!(
        rare(syncs),
        "{syncs} fsyncs for {ACTIONS} actions: {summary}"
    );
    // An action's end is one `write` to the journal, not a commit. The history commits
    // what is queued at least every 100 ms (an end that comes later than that commits
    // instead of being journaled), and at a stage's and the run's start and end: its write
    // transactions (each takes the WAL's write lock, byte 120 of `history.db-shm`) follow
    // the time the run took, not its actions. (strace slows the run down a lot.)
    let ticks = usize::try_from(calls.took.as_millis() / 100).unwrap_or(usize::MAX);
    let journaled = calls.matching(&["write(", "/journal-"]);
    assert!(
        journaled + ticks + 1 >= ACTIONS,
        "{journaled} writes to the journal for {ACTIONS} actions in {:?}: {summary}",
        calls.took
    );
    let transactions = calls.matching(&["fcntl(", "history.db-shm>", "F_WRLCK", "l_start=120"]);
    assert!(
        transactions <= 8 + ticks,
        "{transactions} write transactions for {ACTIONS} actions in {:?}: {summary}",
        calls.took
    );
    // No thread to hand commits to and wait for.
    let futex = calls.of("futex").0;
    assert!(rare(futex), "{futex} futex calls: {summary}");
    // Nothing signalled that is not there: the group of a shell that left nothing behind.
    assert_eq!(calls.of("kill").1, 0, "kill calls that failed: {summary}");
    // The adopted processes are read through one descriptor, not reopened per action.
    let opened = calls.matching(&["openat(", "/children\""]);
    assert!(
        opened <= 2,
        "/proc/…/children opened {opened} times: {summary}"
    );
    // No removal of an exports file that was not written, no look for a log that was not.
    assert_eq!(
        calls.of("unlink").1,
        0,
        "unlink calls that failed: {summary}"
    );
    let log_looks = calls.matching(&[".log\"", " = -1 ENOENT"]);
    assert_eq!(
        log_looks, 0,
        "looked for {log_looks} logs not written: {summary}"
    );
}

#[test]
fn a_background_child_in_the_group_ends_when_its_shell_does() {
    let marks = tempfile::tempdir().expect("tmp");
    let pid_file = marks.path().join("pid");
    let src = format!(
        "pipeline bg {{\n  stage s {{\n    action a: sh {{ run = \"sleep 300 & echo $! > {}\" }}\n  }}\n}}\n",
        pid_file.display()
    );
    let t = Test::new().file("bg.pipe", &src);
    t.args(["run", "bg.pipe", "--state-dir", "state"]).run();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the child started")
        .trim()
        .parse()
        .expect("a pid");
    let gone = || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gone() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let survived = !gone();
    if survived {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(!survived, "the background child {pid} outlived its attempt");
}
