//! pipec's processes and terminals: descendants of an attempt that leave its group, `pipec
//! stop` from another terminal (and `--abandon`), the live view on a terminal and plain lines,
//! `--jobs` bounds. Each test runs pipec in a temporary folder with its own state directory.

use crate::support::{Test, files_under, require_tool};

#[test]
fn descendants_that_leave_the_process_group_end_with_their_attempt() {
    if !require_tool("setsid", "util-linux: apt-get install util-linux") {
        return;
    }
    let marks = tempfile::tempdir().expect("tmp");
    let pid_file = marks.path().join("pid");
    let src = format!(
        "pipeline orphans {{\n  stage s {{\n    action daemon: sh {{ run = \"setsid bash -c 'echo $$ > {}; exec sleep 300' & sleep 0.5\" }}\n  }}\n}}\n",
        pid_file.display()
    );
    Test::new()
        .file("pipeline.pipe", &src)
        .state(["run", "pipeline.pipe"])
        .run();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the daemon started")
        .trim()
        .parse()
        .expect("a pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let alive = || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
    };
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let survived = alive();
    if survived {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(!survived, "the setsid'd process {pid} outlived its attempt");
}

#[test]
fn pipec_stop_stops_a_run_from_another_terminal() {
    // `pipec stop` lets the running action finish (Stop and wait).
    let src = r#"pipeline long {
  stage s { action sleepy: sh { run = "echo started; sleep 2" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let start = || t.state(["run", "pipeline.pipe"]).status(130).spawn();
    let wait_started = |n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline && files_under(&t.path("state/logs")).len() < n {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let running = start();
    wait_started(1);
    t.state(["stop", "last"]).run();
    running.wait();
    assert_eq!(t.show("last")["status"], "stopped");
    t.state(["stop", "last"])
        .stderr_contains("has already ended: stopped")
        .run();

    // A run whose process died (kill -9) is recorded as stopped. (Its action, left behind by
    // the crash, ends by itself soon.)
    std::fs::write(t.path("pipeline.pipe"), src.replace("sleep 2", "sleep 3")).expect("write");
    let crashed = start();
    wait_started(2);
    crashed.kill();
    t.state(["stop", "last"])
        .stderr_contains("its process is gone")
        .run();
    assert_eq!(t.show("last")["status"], "stopped");
}

#[test]
fn on_a_terminal_the_run_is_a_live_view() {
    if !require_tool("script", SCRIPT) {
        return;
    }
    // `script` (util-linux) gives pipec a pseudo-terminal.
    let src = r#"pipeline live {
  stage s {
    action a: sh { run = "sleep 0.3" }
    action b: sh { run = "sleep 0.3" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let (text, code) = on_terminal(&t, ("PIPEC_TEST", "1"));
    assert_eq!(code, Some(0), "{text}");
    // Spinners redraw with escape sequences; finished lines and the summary stay.
    assert!(text.contains('\u{1b}'), "no terminal drawing: {text}");
    assert!(
        text.contains("s.a: succeeded") && text.contains("s.b: succeeded"),
        "{text}"
    );
    assert!(text.contains("succeeded in"), "{text}");
}

/// Where `script`, which gives pipec a pseudo-terminal, comes from.
const SCRIPT: &str = "util-linux: apt-get install bsdutils";

/// `pipec run pipeline.pipe` under script(1), with one more environment variable; the
/// terminal's text and the exit code.
fn on_terminal(t: &Test, env: (&str, &str)) -> (String, Option<i32>) {
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} run pipeline.pipe --state-dir state",
                env!("CARGO_BIN_EXE_pipec")
            ),
            "/dev/null",
        ])
        .current_dir(t.path(""))
        .env("TERM", "xterm")
        .env_remove("PIPEC_PLAIN")
        .env(env.0, env.1)
        .output()
        .expect("script(1) runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn pipec_plain_keeps_plain_lines_on_a_terminal() {
    if !require_tool("script", SCRIPT) {
        return;
    }
    let t = Test::new().file(
        "pipeline.pipe",
        "pipeline p { stage s { action a: sh { run = \"sleep 0.2\" } } }\n",
    );
    let (text, code) = on_terminal(&t, ("PIPEC_PLAIN", "1"));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "terminal drawing despite PIPEC_PLAIN: {text}"
    );
    assert!(text.contains("s.a: succeeded"), "{text}");
}

#[test]
fn jobs_must_be_at_least_one_and_runs_of_an_empty_history_are_none() {
    Test::new()
        .file(
            "pipeline.pipe",
            "pipeline p { stage s { action a: sh { run = \"true\" } } }\n",
        )
        .state(["run", "pipeline.pipe"])
        .args(["--jobs", "0"])
        .status(2)
        .run();
    let out = Test::new()
        .args(["runs", "--json", "--state-dir", "empty"])
        .run();
    assert_eq!(out.stdout.trim(), "[]");
}

#[test]
fn pipec_stop_abandon_kills_at_once() {
    // The action ignores SIGTERM: a plain stop would wait out the 5 s grace period.
    let src = r#"pipeline stubborn {
  stage s { action a: sh { run = "trap '' TERM; echo started; sleep 60" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let running = t.state(["run", "pipeline.pipe"]).status(130).spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline && files_under(&t.path("state/logs")).is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    t.state(["stop", "last", "--abandon"]).run();
    running.wait();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_run_waiting_for_a_stage_ends_when_its_state_directory_is_removed() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline held {\n  mode queued\n  stage ask {\n    action ok: approval { approvers = [\"alice\"] }\n  }\n}\n",
    );
    // The first run waits for its approval (its process ends; the run keeps the stage).
    t.state(["run", "p.pipe"]).any_status().run();
    let waiting = || {
        rusqlite::Connection::open(t.path("state/history.db"))
            .and_then(|db| db.query_row("SELECT COUNT(*) FROM waits", [], |r| r.get::<_, i64>(0)))
            .unwrap_or(0)
    };
    let second = t
        .state(["run", "p.pipe"])
        .status(1)
        .stderr_contains("was removed while this run waited for a stage")
        .within(20)
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while waiting() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second run never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::remove_dir_all(t.path("state")).expect("rm -rf state");
    second.wait();
}
