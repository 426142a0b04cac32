//! Durable runs: holds (approvals, disabled transitions) and `pipec resume`, resuming after
//! `kill -9`, one owner per run, `pipec retry`, rollback, and stage locks across processes
//! (execution modes). Each test has its own state directory.

use std::time::{Duration, Instant};

use crate::support::{Test, action, alive, says, stage};

/// Lines of a file the actions append to.
pub(crate) fn lines(t: &Test, name: &str) -> Vec<String> {
    std::fs::read_to_string(t.path(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

pub(crate) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const GATE: &str = r#"pipeline gate {
  stage build { action a: sh { run = "echo build >> ../../../../log" } }
  stage ask {
    action ok: approval { summary = "ship it?" approvers = ["bob", "ann"] }
  }
  stage after { action a: sh { run = "echo after >> ../../../../log; echo shipped" } }
}
"#;

#[test]
fn an_approval_holds_the_run_until_it_is_approved_and_resumed() {
    let t = Test::new().file("pipeline.pipe", GATE);
    t.state(["run", "pipeline.pipe"])
        .status(3)
        .stderr_contains("needs a decision (ship it?; approvers: bob, ann)")
        .stderr_contains("pipec resume")
        .run();
    let v = t.show("last");
    assert_eq!(v["status"], "waiting");
    assert_eq!(stage(&v, "ask")["status"], "waiting");
    assert_eq!(action(&v, "ask", "ok")["status"], "waiting");
    // Nothing decided yet: held again.
    t.state(["resume", "last"]).status(3).run();
    // Only its approvers may decide.
    t.state(["approve", "last", "ask.ok", "--as", "eve"])
        .status(2)
        .stderr_contains("`eve` may not approve `ask.ok`: its approvers are bob, ann")
        .run();
    t.state(["approve", "last", "build.a", "--as", "bob"])
        .status(2)
        .stderr_contains("not an approval action (its approvals: ask.ok)")
        .run();
    t.state([
        "approve",
        "last",
        "ask.ok",
        "--as",
        "ann",
        "--comment",
        "lgtm",
    ])
    .stderr_contains("`pipec resume")
    .run();
    t.state(["reject", "last", "ask.ok", "--as", " "])
        .status(2)
        .stderr_contains("`--as` needs a name")
        .run();
    t.state(["reject", "last", "ask.ok", "--as", "bob"])
        .status(2)
        .stderr_contains("was already approved by ann")
        .run();
    // `resume` schedules and shows like `run` (`--jobs`, `--verbose`).
    t.state(["resume", "last", "--jobs", "1", "--verbose"])
        .stderr_contains("approved by ann: lgtm")
        .stderr_contains("after.a | shipped")
        .run();
    // The stage before the hold ran once.
    assert_eq!(lines(&t, "log"), ["build", "after"]);
    let v = t.show("last");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(action(&v, "ask", "ok")["status"], "succeeded");
    // A finished run: its outcome, and its exit code.
    t.state(["resume", "last"])
        .stderr_contains("has ended: succeeded")
        .run();
    t.state(["logs", "last", "ask.ok"])
        .stdout_contains("approved by ann: lgtm")
        .run();
    assert_eq!(
        action(&t.show("last"), "ask", "ok")["decision"],
        "approved by ann: lgtm"
    );
}

#[test]
fn a_rejected_or_timed_out_approval_fails_the_run() {
    let t = Test::new().file("pipeline.pipe", GATE);
    t.state(["run", "pipeline.pipe"]).status(3).run();
    t.state([
        "reject",
        "last",
        "ask.ok",
        "--as",
        "bob",
        "--comment",
        "not now",
    ])
    .run();
    t.state(["resume", "last"])
        .status(1)
        .stderr_contains("rejected by bob: not now")
        .run();
    assert_eq!(lines(&t, "log"), ["build"]);
    // Retrying asks again.
    t.state(["retry", "last"]).status(3).run();
    t.state(["approve", "last", "ask.ok", "--as", "bob"]).run();
    t.state(["resume", "last"]).run();
    assert_eq!(lines(&t, "log"), ["build", "after"]);

    // An approval whose time is up when the run goes on fails.
    let src = GATE.replace("approvers = [\"bob\", \"ann\"]", "timeout = 1m");
    let t = Test::new().file("pipeline.pipe", &src);
    t.state(["run", "pipeline.pipe"]).status(3).run();
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE actions SET started = '2020-01-01T00:00:00Z' WHERE name = 'ok'",
        [],
    )
    .expect("update");
    // Too late to decide.
    t.state(["approve", "last", "ask.ok"])
        .status(2)
        .stderr_contains("waited longer than its timeout (1m)")
        .run();
    t.state(["resume", "last"])
        .status(1)
        .stderr_contains("no decision within its timeout (1m)")
        .run();
    // Approving a finished run is refused.
    t.state(["approve", "last", "ask.ok"])
        .status(2)
        .stderr_contains("has ended (failed)")
        .run();
}

#[test]
fn a_decision_reaches_a_run_whose_process_still_goes_on() {
    // Another branch keeps the run busy while the approval waits; approving from another
    // terminal lets it go on without a resume.
    let src = r#"pipeline busy {
  stage start { action a: sh { run = "true" } }
  stage slow { after = [start] action a: sh { run = "sleep 2" } }
  stage ask { after = [start] action ok: approval {} }
  stage after { after = [ask] action a: sh { run = "touch ../../../../after" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let child = t.state(["run", "pipeline.pipe"]).spawn();
    wait_for("the approval to wait", || {
        let out = t.state(["approve", "last", "ask.ok"]).any_status().run();
        out.code == 0
    });
    child.wait();
    assert!(t.path("after").exists());
}

#[test]
fn a_disabled_transition_holds_the_run_until_it_is_enabled() {
    let src = r#"pipeline gate {
  stage build { action a: sh { run = "echo build >> ../../../../log" } }
  stage deploy { action a: sh { run = "echo deploy >> ../../../../log" } }
  transition build -> deploy disabled "release freeze"
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .status(3)
        .stderr_contains("transition build -> deploy is disabled: release freeze")
        .run();
    let v = t.show("last");
    assert_eq!(stage(&v, "deploy")["status"], "waiting");
    t.state(["show", "last"])
        .stdout_contains("release freeze")
        .run();
    // Still disabled: held again.
    t.state(["resume", "last"]).status(3).run();
    t.state(["transition", "enable", "gate", "build", "nope"])
        .status(2)
        .stderr_contains("has no transition build -> nope")
        .run();
    t.state([
        "transition",
        "enable",
        "gate",
        "build",
        "deploy",
        "--reason",
        "freeze over",
    ])
    .run();
    t.state(["show", "last"])
        .stdout_contains("transition build -> deploy: enabled (freeze over, set by")
        .run();
    t.state(["resume", "last"]).run();
    assert_eq!(lines(&t, "log"), ["build", "deploy"]);
    // The override lasts: the next run goes through; disabling from the command line holds.
    t.state(["run", "pipeline.pipe"]).run();
    t.state([
        "transition",
        "disable",
        "gate",
        "build",
        "deploy",
        "--reason",
        "incident 42",
    ])
    .run();
    t.state(["run", "pipeline.pipe"])
        .status(3)
        .stderr_contains("incident 42")
        .run();
    let v = t.show("last");
    let edges = v["transitions"].as_array().expect("transitions");
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "build" && e["enabled"] == false && e["reason"] == "incident 42"),
        "{v}"
    );
}

const CRASH: &str = r#"pipeline crash {
  stage a {
    action one: sh { output = first from "f.txt" exports = [v] run = "echo one >> ../../../../log; echo 1 > f.txt; echo v=7 >> $PIPEC_OUTPUT" }
    action two: sh {
      after = [one]
      input = first
      run = "echo two >> ../../../../log; echo $$ > ../../../../pid.$(cat ../../../../n 2>/dev/null || echo 0); if [ ! -e ../../../../started ]; then touch ../../../../started; sleep 60; fi"
    }
  }
  stage b {
    action three: sh { env = { V = a.one.v } run = "echo three $V >> ../../../../log" }
  }
}
"#;

#[test]
fn after_kill_9_resume_reruns_only_the_interrupted_action() {
    let t = Test::new().file("pipeline.pipe", CRASH);
    let child = t.state(["run", "pipeline.pipe"]).spawn();
    wait_for("the action to start", || {
        t.path("started").exists() && t.path("pid.0").exists()
    });
    // A second process cannot take the run while its owner lives.
    t.state(["resume", "last"])
        .status(2)
        .stderr_contains("is being run by another pipec")
        .run();
    child.kill();
    let stray: i32 = std::fs::read_to_string(t.path("pid.0"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        alive(stray),
        "the interrupted action's process outlives pipec"
    );
    std::fs::write(t.path("n"), "1").expect("write");
    t.state(["resume", "last"])
        .stderr_contains("process(es) left by the earlier pipec")
        .run();
    assert!(!alive(stray), "the stray process {stray} was ended");
    // `one` ran once (its artifact and export were reused); `two` again.
    assert_eq!(lines(&t, "log"), ["one", "two", "two", "three 7"]);
    let v = t.show("last");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(action(&v, "a", "one")["attempts"], 1);
}

/// The journal files (`journal-PID-START-N`) in the state directory.
fn journals(t: &Test) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(t.path("state"))
        .expect("state dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
        .map(|e| e.path())
        .collect()
}

#[test]
fn an_end_only_in_the_journal_when_pipec_is_killed_is_not_run_again() {
    let t = Test::new().file("pipeline.pipe", CRASH);
    let child = t.state(["run", "pipeline.pipe"]).spawn();
    // `one` has ended and `two` started a moment ago: `one`'s end is in the journal (it
    // commits within 100 ms).
    wait_for("the action to start", || t.path("started").exists());
    child.kill();
    assert_eq!(journals(&t).len(), 1, "the killed process's journal stays");
    // The next pipec command records what the journal holds, and removes it.
    let v = t.show("last");
    assert_eq!(action(&v, "a", "one")["status"], "succeeded", "{v}");
    assert_eq!(action(&v, "a", "one")["exports"]["v"], "7", "{v}");
    assert!(journals(&t).is_empty());
    std::fs::write(t.path("n"), "1").expect("write");
    t.state(["resume", "last"]).run();
    assert_eq!(lines(&t, "log"), ["one", "two", "two", "three 7"]);
    assert!(journals(&t).is_empty(), "a run that ends leaves no journal");
}

/// A retry runs the pipeline as recorded, not as edited since, and says so.
#[test]
fn retry_runs_the_recorded_pipeline_and_says_so() {
    let failing = "pipeline again {\n  stage s {\n    action a: sh { run = \"echo recorded >> ../../../../log; false\" }\n  }\n}\n";
    let t = Test::new().file("pipeline.pipe", failing);
    t.state(["run", "pipeline.pipe"]).status(1).run();
    let edited = failing.replace(
        "recorded >> ../../../../log; false",
        "edited >> ../../../../log",
    );
    std::fs::write(t.path("pipeline.pipe"), edited).expect("write");
    t.state(["retry", "last"])
        .status(1)
        .stderr_contains("is retried as it was recorded when it started")
        .stderr_contains("changes made to `")
        .run();
    assert_eq!(lines(&t, "log"), ["recorded", "recorded"]);
}

#[test]
fn retry_reruns_the_failed_stage_in_the_same_run() {
    let src = r#"pipeline again {
  stage s {
    action ok: sh { run = "echo ok >> ../../../../log" }
    action flaky: sh { run = "echo flaky >> ../../../../log; test -e ../../../../fixed" }
  }
  stage next { action a: sh { run = "echo next >> ../../../../log" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(1).run();
    t.state(["retry", "last"]).status(1).run();
    std::fs::write(t.path("fixed"), "").expect("write");
    t.state(["retry", "last"]).run();
    let mut log = lines(&t, "log");
    log.sort();
    assert_eq!(log, ["flaky", "flaky", "flaky", "next", "ok"]);
    let v = t.show("last");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(action(&v, "s", "flaky")["attempts"], 3);
    // Only failed (or stopped) runs are retried.
    t.state(["retry", "last"])
        .status(2)
        .stderr_contains("the status of run")
        .stderr_contains("is `succeeded`")
        .run();
    // `--all` runs every action of the stage again.
    std::fs::remove_file(t.path("fixed")).expect("rm");
    t.state(["run", "pipeline.pipe"]).status(1).run();
    std::fs::write(t.path("fixed"), "").expect("write");
    std::fs::write(t.path("log"), "").expect("write");
    t.state(["retry", "last", "--all"]).run();
    let mut log = lines(&t, "log");
    log.sort();
    assert_eq!(log, ["flaky", "next", "ok"]);
}

const RELEASE: &str = r#"pipeline release {
  param version: string
  param broken: bool = false
  stage build {
    action pack: sh { run = "echo ${params.version} > v.txt" output = pkg from "v.txt" }
  }
  stage deploy {
    on failure rollback
    action push: sh {
      input = pkg
      run = "echo deployed $(cat v.txt) >> ../../../../log; test ${params.broken} = false"
    }
  }
}
"#;

#[test]
fn a_failed_stage_rolls_back_to_the_inputs_of_its_last_success() {
    let t = Test::new().file("pipeline.pipe", RELEASE);
    // Nothing to roll back to yet.
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "version=1", "--param", "broken=true"])
        .status(1)
        .stderr_contains("no earlier run of `release` in which `deploy` succeeded")
        .run();
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "version=2"])
        .run();
    std::fs::write(t.path("log"), "").expect("write");
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "version=3", "--param", "broken=true"])
        .status(1)
        .stderr_contains("succeeded")
        .stderr_contains("rolled back by run")
        .run();
    // Version 3 failed; the rollback deployed version 2's artifact with its params.
    assert_eq!(lines(&t, "log"), ["deployed 3", "deployed 2"]);
    assert_eq!(t.show("last")["status"], "failed");
    // `pipec rollback` does the same as a run of its own.
    t.state(["rollback", "release", "deploy"]).run();
    assert_eq!(lines(&t, "log"), ["deployed 3", "deployed 2", "deployed 2"]);
    let v = t.show("last");
    assert_eq!(stage(&v, "build")["status"], "skipped");
    assert_eq!(stage(&v, "deploy")["status"], "succeeded");
    t.state(["rollback", "release", "nothing"])
        .status(2)
        .stderr_contains("pipeline `release` has no stage `nothing`")
        .run();
    t.state(["rollback", "nope", "deploy"])
        .status(2)
        .stderr_contains("pipelines that ran here: release")
        .run();
    // The rollback run says whose inputs it used, and the approval its decision.
    t.state(["show", "last"])
        .stdout_contains("a rollback, with the inputs of run")
        .run();
}

/// A pipeline whose stage writes when runs enter and leave it (in one `echo`, so lines
/// never interleave).
fn locked(mode: &str) -> String {
    format!(
        r#"pipeline locks {{
  mode {mode}
  param hold: string = "0.3"
  stage only {{
    action a: sh {{ run = "echo enter $PIPEC_RUN_ID >> ../../../../log; sleep ${{params.hold}}; echo leave $PIPEC_RUN_ID >> ../../../../log" }}
  }}
}}
"#
    )
}

/// How many runs wait for a stage lock.
fn waiting(t: &Test) -> i64 {
    rusqlite::Connection::open(t.path("state/history.db"))
        .and_then(|db| db.query_row("SELECT COUNT(*) FROM waits", [], |r| r.get::<_, i64>(0)))
        .unwrap_or(0)
}

/// How many runs were in the stage at once, at most.
fn most_at_once(log: &[String]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for l in log {
        if l.starts_with("enter") {
            now += 1;
            most = most.max(now);
        } else {
            now -= 1;
        }
    }
    most
}

#[test]
fn queued_runs_take_the_stage_one_at_a_time_in_order() {
    let t = Test::new().file("pipeline.pipe", &locked("queued"));
    let mut children = vec![
        t.state(["run", "pipeline.pipe", "--param", "hold=1"])
            .spawn(),
    ];
    wait_for("the first run to enter", || !lines(&t, "log").is_empty());
    // The others come one after another, each waiting before the next comes.
    for n in 1..4 {
        children.push(t.state(["run", "pipeline.pipe"]).spawn());
        wait_for("the run to wait", || waiting(&t) == n);
    }
    for c in children {
        c.wait();
    }
    let log = lines(&t, "log");
    assert_eq!(log.len(), 8, "{log:?}");
    assert_eq!(most_at_once(&log), 1, "{log:?}");
    // In the order the runs were created.
    let mut ids: Vec<String> = t
        .runs()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.reverse();
    let entered: Vec<String> = log
        .iter()
        .filter_map(|l| l.strip_prefix("enter ").map(str::to_string))
        .collect();
    assert_eq!(entered, ids);
}

#[test]
fn parallel_runs_share_the_stage() {
    let t = Test::new().file("pipeline.pipe", &locked("parallel"));
    let children: Vec<_> = (0..3)
        .map(|_| {
            t.state(["run", "pipeline.pipe", "--param", "hold=1.5"])
                .spawn()
        })
        .collect();
    for c in children {
        c.wait();
    }
    assert!(most_at_once(&lines(&t, "log")) > 1);
}

#[test]
fn a_newer_waiting_run_supersedes_an_older_one() {
    let t = Test::new().file("pipeline.pipe", &locked("superseded"));
    let first = t
        .state(["run", "pipeline.pipe", "--param", "hold=3"])
        .spawn();
    wait_for("the first run to enter", || !lines(&t, "log").is_empty());
    let second = t
        .state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("superseded")
        .spawn();
    // The second waits for the stage before the third comes.
    wait_for("the second run to wait", || waiting(&t) == 1);
    let third = t.state(["run", "pipeline.pipe"]).spawn();
    second.wait();
    third.wait();
    first.wait();
    let log = lines(&t, "log");
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(most_at_once(&log), 1, "{log:?}");
    let statuses: Vec<String> = t
        .runs()
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(statuses, ["succeeded", "superseded", "succeeded"]);
}

#[test]
fn of_two_resumers_of_a_dead_run_one_goes_on() {
    let src = r#"pipeline once {
  stage s {
    action a: sh { run = "if [ ! -e ../../../../first ]; then touch ../../../../first; sleep 60; fi; touch ../../../../resumed; sleep 2" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let child = t.state(["run", "pipeline.pipe"]).spawn();
    wait_for("the action to start", || t.path("first").exists());
    child.kill();
    let both = [
        t.state(["resume", "last"]).any_status().spawn(),
        t.state(["resume", "last"]).any_status().spawn(),
    ];
    let mut codes: Vec<(i32, String)> = both
        .into_iter()
        .map(|c| {
            let out = c.wait();
            (out.code, out.stderr)
        })
        .collect();
    codes.sort();
    assert_eq!(codes[0].0, 0, "{}", codes[0].1);
    assert_eq!(codes[1].0, 2, "{}", codes[1].1);
    says(&codes[1].1, "is being run by another pipec");
    assert_eq!(t.show("last")["status"], "succeeded");
}

#[test]
fn the_gated_example_walks_through_as_its_comment_says() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gated/gated.pipe");
    let t = Test::new().file(
        "pipeline.pipe",
        &std::fs::read_to_string(example).expect("the example"),
    );
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "version=1.0"])
        .status(3)
        .run();
    t.state(["approve", "last", "release.go", "--comment", "ok"])
        .run();
    t.state(["resume", "last"]).run();
    let deployed = || std::fs::read_to_string(t.path("site/VERSION")).expect("deployed");
    assert_eq!(deployed(), "1.0\n");
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "version=1.1", "--param", "broken=true"])
        .status(3)
        .run();
    t.state(["approve", "last", "release.go"]).run();
    t.state(["resume", "last"])
        .status(1)
        .stderr_contains("deployed 1.1")
        .stderr_contains("rolled back by run")
        .run();
    assert_eq!(deployed(), "1.0\n");
    t.state(["rollback", "gated", "deploy"]).run();
    assert_eq!(deployed(), "1.0\n");
    t.state([
        "transition",
        "disable",
        "gated",
        "release",
        "deploy",
        "--reason",
        "freeze",
    ])
    .run();
}

#[test]
fn an_approval_whose_stage_fails_does_not_hold_or_hide_the_failure() {
    // Alone: the stage fails, the run is not held.
    let src = r#"pipeline gate {
  stage a {
    action gate: approval {}
    action bad: sh { run = "exit 1" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("not decided: `bad` of its stage failed")
        .run();
    // With another branch still busy when the sibling fails: the run fails too.
    let src = r#"pipeline gate {
  stage s0 { action a: sh { run = "true" } }
  stage a {
    after = [s0]
    action gate: approval {}
    action bad: sh { run = "sleep 0.3; exit 1" }
  }
  stage c { after = [s0] action slow: sh { run = "sleep 1" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(1).run();
    let v = t.show("last");
    assert_eq!(v["status"], "failed");
    assert_eq!(stage(&v, "a")["status"], "failed");
}

#[test]
fn a_held_approval_records_when_it_began_waiting() {
    let t = Test::new().file("pipeline.pipe", GATE);
    t.state(["run", "pipeline.pipe"]).status(3).run();
    let started = action(&t.show("last"), "ask", "ok")["started"].clone();
    assert!(started.is_string(), "{started}");
    // Still the first wait after a resume (the timeout counts from it).
    t.state(["resume", "last"]).status(3).run();
    assert_eq!(action(&t.show("last"), "ask", "ok")["started"], started);
}

#[test]
fn a_rollback_that_is_held_fails_and_leaves_its_stage() {
    let src = r#"pipeline held {
  mode queued
  param broken: bool = false
  stage build { action a: sh { run = "true" } }
  stage deploy {
    on failure rollback
    action ok: approval {}
    action push: sh { after = [ok] run = "test ${params.broken} = false" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(3).run();
    t.state(["approve", "last", "deploy.ok"]).run();
    t.state(["resume", "last"]).run();
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "broken=true"])
        .status(3)
        .run();
    t.state(["approve", "last", "deploy.ok"]).run();
    // The rollback waits for an approval of its own: it fails instead of holding.
    t.state(["resume", "last"])
        .status(1)
        .stderr_contains("failed")
        .run();
    let locks: i64 = rusqlite::Connection::open(t.path("state/history.db"))
        .and_then(|db| db.query_row("SELECT COUNT(*) FROM locks", [], |r| r.get(0)))
        .expect("locks");
    assert_eq!(locks, 0);
    // The next run enters the stage.
    t.state(["run", "pipeline.pipe"]).status(3).run();
}

#[test]
fn stopping_a_held_run_ends_its_holds_and_stages_behind_a_hold_are_pending() {
    let src = r#"pipeline gate {
  stage build { action a: sh { run = "echo \"$PIPEC_PIPELINE_DIR\" > \"$PIPEC_PIPELINE_DIR/where\"" } }
  stage deploy { action a: sh { run = "true" } }
  stage after { action a: sh { run = "true" } }
  transition build -> deploy disabled "freeze"
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(3).run();
    // `pipec run pipeline.pipe`: the pipeline's folder, absolute.
    let dir = std::fs::read_to_string(t.path("where")).expect("written in the pipeline's folder");
    assert!(dir.trim().starts_with('/'), "{dir}");
    let v = t.show("last");
    assert_eq!(stage(&v, "deploy")["status"], "waiting");
    assert_eq!(stage(&v, "after")["status"], "pending");
    t.state(["stop", "last"]).run();
    let v = t.show("last");
    assert_eq!(v["status"], "stopped");
    assert_eq!(stage(&v, "deploy")["status"], "abandoned");
    t.state(["resume", "last"]).status(130).run();
}

#[test]
fn a_stage_retried_on_failure_asks_its_approval_again() {
    let src = "pipeline again {
  stage ask {
    on failure retry 1
    action ok: approval {}
  }
}
";
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(3).run();
    t.state(["reject", "last", "ask.ok", "--comment", "not yet"])
        .run();
    // The stage's retry asks again (a second attempt), and the run is held again.
    t.state(["resume", "last"]).status(3).run();
    assert_eq!(action(&t.show("last"), "ask", "ok")["attempts"], 2);
    t.state(["approve", "last", "ask.ok"]).run();
    t.state(["resume", "last"]).run();
}

/// A pipeline whose `deploy` stage waits for a window: `WINDOW` is its cron.
pub(crate) const WINDOWED: &str = r#"pipeline windowed {
  stage build { action a: sh { run = "echo build >> ../../../../log" } }
  stage deploy {
    timeout 2h
    entry { window "WINDOW"  else wait }
    action ship: sh { run = "echo deploy >> ../../../../log" }
  }
}
"#;

/// A cron naming only the minute half an hour from now: closed for the whole test.
pub(crate) fn closed_window() -> String {
    let minute = jiff::Timestamp::now()
        .as_second()
        .div_euclid(60)
        .rem_euclid(60);
    format!("{} * * * *", (minute + 30) % 60)
}

pub(crate) fn stage_reason(v: &serde_json::Value, name: &str) -> String {
    stage(v, name)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_else_wait_window_holds_the_run_until_it_opens_within_the_stage_timeout() {
    let t = Test::new().file(
        "pipeline.pipe",
        &WINDOWED.replace("WINDOW", &closed_window()),
    );
    t.state(["run", "pipeline.pipe"]).status(3).run();
    let v = t.show("last");
    assert_eq!(v["status"], "waiting");
    assert_eq!(stage(&v, "deploy")["status"], "waiting");
    let why = stage_reason(&v, "deploy");
    says(&why, "waiting for the deployment window");
    says(&why, "it opens at ");
    says(&why, "(the stage's timeout, 2h)");
    // `pipec show` says it too.
    t.state(["show", "last"])
        .stdout_contains("stage deploy: waiting (waiting for the deployment window")
        .run();
    // Resumed while it is still closed: held again, nothing ran twice.
    t.state(["resume", "last"]).status(3).run();
    assert_eq!(lines(&t, "log"), ["build"]);
    // Its timeout counts from when it began waiting, across holds.
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE stages SET window_since = '2020-01-01T00:00:00Z' WHERE name = 'deploy'",
        [],
    )
    .expect("update");
    t.state(["resume", "last"])
        .status(1)
        .stderr_contains("did not open within the stage's timeout (2h")
        .run();
    assert_eq!(stage(&t.show("last"), "deploy")["status"], "failed");
    assert_eq!(lines(&t, "log"), ["build"]);
}

#[test]
fn an_open_window_with_else_wait_runs_at_once_and_the_dry_run_says_it_would_wait() {
    let t = Test::new().file("pipeline.pipe", &WINDOWED.replace("WINDOW", "* * * * *"));
    t.state(["run", "pipeline.pipe"]).run();
    assert_eq!(lines(&t, "log"), ["build", "deploy"]);
    t.state(["run", "pipeline.pipe"]).args(["--dry-run"])
        .stdout_contains("stage `deploy`: runs in its deployment window: entry: would wait for the deployment window `* * * * *` while it is closed, at most 2h (the stage's timeout)")
        .run();
}
