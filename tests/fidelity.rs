//! Where pipec's runs follow `CodePipeline`'s execution semantics (issue 18): retrying only the
//! latest run in a stage, runs held at a disabled transition under the execution mode, Stop
//! and wait, rejections that fail the run at once, manual starts, condition overrides, and a
//! rollback to a chosen run. Each test runs two runs (or more) in one state directory.

use std::time::{Duration, Instant};

use crate::durable::{WINDOWED, closed_window, lines, stage_reason, wait_for};
use crate::support::{Test, action, says, stage};

/// The id of the newest run.
fn last_id(t: &Test) -> String {
    t.show("last")["id"].as_str().expect("a run id").to_string()
}

/// Runs `pipeline.pipe` until it is held (exit 3): its id.
fn held_run(t: &Test) -> String {
    t.state(["run", "pipeline.pipe"]).status(3).run();
    last_id(t)
}

/// How many stage locks are held.
fn locks(t: &Test) -> i64 {
    rusqlite::Connection::open(t.path("state/history.db"))
        .and_then(|db| db.query_row("SELECT COUNT(*) FROM locks", [], |r| r.get(0)))
        .expect("locks")
}

// ------------------------------------------------------------------ 1. retry

const DEPLOYS: &str = r#"pipeline rel {
  param v: string
  stage build { action pack: sh { run = "true" } }
  stage deploy {
    action push: sh { run = "echo ${params.v} >> ../../../../deployed; test ! -e ../../../../broken" }
  }
}
"#;

#[test]
fn retry_refuses_a_run_whose_stage_a_later_run_has_entered() {
    let t = Test::new()
        .file("pipeline.pipe", DEPLOYS)
        .file("broken", "");
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "v=1"])
        .status(1)
        .run();
    let v1 = last_id(&t);
    std::fs::remove_file(t.path("broken")).expect("rm");
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "v=2"])
        .run();
    t.state(["retry", &v1])
        .status(2)
        .stderr_contains("a later run")
        .stderr_contains("`pipec rollback rel deploy")
        .run();
    // Version 1 did not go live over version 2.
    assert_eq!(lines(&t, "deployed"), ["1", "2"]);
    assert_eq!(t.show(&v1)["status"], "failed");
    // The latest run in the stage may be retried.
    std::fs::write(t.path("broken"), "").expect("write");
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "v=3"])
        .status(1)
        .run();
    std::fs::remove_file(t.path("broken")).expect("rm");
    t.state(["retry", "last"]).run();
    assert_eq!(lines(&t, "deployed"), ["1", "2", "3", "3"]);
}

// ------------------------------------------------------------------ 2. transitions

fn frozen(mode: &str) -> String {
    format!(
        r#"pipeline gate {{
  mode {mode}
  stage build {{ action a: sh {{ run = "true" }} }}
  stage deploy {{ action a: sh {{ run = "echo $PIPEC_RUN_ID >> ../../../../deployed" }} }}
  transition build -> deploy disabled "freeze"
}}
"#
    )
}

#[test]
fn a_newer_run_held_at_a_transition_supersedes_the_older_one() {
    let t = Test::new().file("pipeline.pipe", &frozen("superseded"));
    let a = held_run(&t);
    let b = held_run(&t);
    let older = t.show(&a);
    assert_eq!(older["status"], "superseded", "{older}");
    says(&stage_reason(&older, "deploy"), &format!("run {b}"));
    assert_eq!(t.show(&b)["status"], "waiting");
    // Enabling names the run that may go on, and `--resume` continues it.
    t.state([
        "transition",
        "enable",
        "gate",
        "build",
        "deploy",
        "--resume",
    ])
    .stderr_contains(&format!("may go on: {b}"))
    .stderr_lacks(&a)
    .run();
    assert_eq!(lines(&t, "deployed"), std::slice::from_ref(&b));
    assert_eq!(t.show(&b)["status"], "succeeded");
    // The older one stays superseded.
    t.state(["resume", &a])
        .status(1)
        .stderr_contains("has ended: superseded")
        .run();
}

#[test]
fn runs_held_at_a_queued_transition_go_on_in_their_order() {
    let t = Test::new().file("pipeline.pipe", &frozen("queued"));
    let a = held_run(&t);
    let b = held_run(&t);
    assert_eq!(t.show(&a)["status"], "waiting");
    t.state(["transition", "enable", "gate", "build", "deploy"])
        .stderr_contains(&format!("may go on: {a}, {b}"))
        .run();
    // The newer one resumed first waits for the older one to go first.
    let newer = t.state(["resume", &b]).within(20).spawn();
    wait_for("the newer run to wait for the older one", || {
        stage_reason(&t.show(&b), "deploy").contains(&format!("run {a}"))
    });
    t.state(["resume", &a]).run();
    newer.wait();
    assert_eq!(lines(&t, "deployed"), [a, b]);

    // `--resume` continues them in their order.
    let t = Test::new().file("pipeline.pipe", &frozen("queued"));
    let a = held_run(&t);
    let b = held_run(&t);
    t.state([
        "transition",
        "enable",
        "gate",
        "build",
        "deploy",
        "--resume",
    ])
    .run();
    assert_eq!(lines(&t, "deployed"), [a, b]);
}

// ------------------------------------------------------------------ 3. stop

#[test]
fn pipec_stop_lets_running_actions_finish_and_starts_nothing_new() {
    let src = r#"pipeline migrate {
  stage db {
    action migrate: sh { run = "touch ../../../../started; sleep 3; echo done >> ../../../../migrated" }
    action after: sh { after = [migrate] run = "touch ../../../../after" }
  }
  stage next { action a: sh { run = "touch ../../../../next" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let running = t
        .state(["run", "pipeline.pipe"])
        .within(20)
        .status(130)
        .spawn();
    wait_for("the migration to start", || t.path("started").exists());
    let stopping = t
        .state(["stop", "last"])
        .within(20)
        .stderr_contains("running actions finish")
        .spawn();
    wait_for("`pipec show` to say the run is stopping", || {
        t.state(["show", "last"])
            .any_status()
            .run()
            .stdout
            .contains("stopping (`pipec stop`)")
    });
    stopping.wait();
    running.wait();
    // The migration was not killed half-way; nothing after it started.
    assert_eq!(lines(&t, "migrated"), ["done"]);
    assert!(!t.path("after").exists());
    assert!(!t.path("next").exists());
    let v = t.show("last");
    assert_eq!(v["status"], "stopped");
    assert_eq!(action(&v, "db", "migrate")["status"], "succeeded");
    assert_eq!(action(&v, "db", "after")["status"], "pending");
}

// ------------------------------------------------------------------ 4. rejections

fn approved_deploy(timeout: &str) -> String {
    format!(
        r#"pipeline gate {{
  mode queued
  stage build {{ action a: sh {{ run = "true" }} }}
  stage deploy {{
    action ok: approval {{ {timeout} }}
    action push: sh {{ after = [ok] run = "echo $PIPEC_RUN_ID >> ../../../../deployed" }}
  }}
}}
"#
    )
}

#[test]
fn a_rejection_fails_a_held_run_at_once_and_frees_its_stage() {
    let t = Test::new().file("pipeline.pipe", &approved_deploy(""));
    let a = held_run(&t);
    t.state(["reject", &a, "deploy.ok", "--as", "bob", "--comment", "no"])
        .stderr_contains("failed")
        .run();
    let v = t.show(&a);
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(stage(&v, "deploy")["status"], "failed");
    says(&stage_reason(&v, "deploy"), "rejected by bob: no");
    assert_eq!(action(&v, "deploy", "ok")["status"], "failed");
    assert_eq!(locks(&t), 0);
    // The next run enters the stage (and waits for its own approval).
    t.state(["run", "pipeline.pipe"]).within(20).status(3).run();
    assert_eq!(stage(&t.show("last"), "deploy")["status"], "waiting");
    t.state(["resume", &a])
        .status(1)
        .stderr_contains("rejected by bob: no")
        .run();
}

#[test]
fn an_approval_past_its_timeout_fails_the_run_when_a_run_waits_for_its_stage() {
    let t = Test::new().file("pipeline.pipe", &approved_deploy("timeout = 1m"));
    let a = held_run(&t);
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE actions SET started = '2020-01-01T00:00:00Z' WHERE name = 'ok'",
        [],
    )
    .expect("update");
    // The next run, waiting for the stage, is the first to look at the held run.
    t.state(["run", "pipeline.pipe"]).within(20).status(3).run();
    let v = t.show(&a);
    assert_eq!(v["status"], "failed", "{v}");
    says(
        &stage_reason(&v, "deploy"),
        "no decision within its timeout (1m)",
    );
    // `pipec show` alone applies it too.
    let t = Test::new().file("pipeline.pipe", &approved_deploy("timeout = 1m"));
    t.state(["run", "pipeline.pipe"]).status(3).run();
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE actions SET started = '2020-01-01T00:00:00Z' WHERE name = 'ok'",
        [],
    )
    .expect("update");
    assert_eq!(t.show("last")["status"], "failed");
    assert_eq!(locks(&t), 0);
}

// ------------------------------------------------------------------ 5. manual starts

#[test]
fn a_manual_start_runs_whatever_the_triggers_say() {
    let src = r#"pipeline trig {
  trigger push { branches = ["main"] }
  stage s { action a: sh { run = "echo ${run.trigger} >> ../../../../started" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .args(["--event", "manual", "--branch", "feature"])
        .run();
    assert_eq!(lines(&t, "started"), ["manual"]);
    // Automatic events are still filtered.
    t.state(["run", "pipeline.pipe"])
        .args(["--event", "push", "--branch", "feature"])
        .stderr_contains("no trigger of pipeline `trig` matches")
        .run();
    assert_eq!(lines(&t, "started"), ["manual"]);
}

// ------------------------------------------------------------------ 6. overrides

#[test]
fn an_override_lets_a_stage_held_for_its_window_go_on() {
    let t = Test::new().file(
        "pipeline.pipe",
        &WINDOWED.replace("WINDOW", &closed_window()),
    );
    t.state(["run", "pipeline.pipe"]).status(3).run();
    // Only a condition in progress can be overridden.
    t.state(["override", "last", "build", "entry"])
        .status(2)
        .stderr_contains("has no entry condition")
        .run();
    t.state(["override", "last", "deploy", "success"])
        .status(2)
        .run();
    t.state(["override", "last", "deploy", "entry", "--comment", "hotfix"])
        .run();
    t.state(["resume", "last"]).run();
    assert_eq!(lines(&t, "log"), ["build", "deploy"]);
    let v = t.show("last");
    let overrides = &stage(&v, "deploy")["overrides"];
    assert_eq!(overrides[0]["condition"], "entry", "{v}");
    assert_eq!(overrides[0]["comment"], "hotfix", "{v}");
    assert!(overrides[0]["by"].is_string() && overrides[0]["at"].is_string());
    t.state(["show", "last"])
        .stdout_contains("entry condition overridden by")
        .run();
    // Twice is refused: the stage has run.
    t.state(["override", "last", "deploy", "entry"])
        .status(2)
        .run();
}

#[test]
fn an_override_reaches_a_run_whose_check_is_still_running() {
    let src = r#"pipeline checked {
  stage build { action a: sh { run = "true" } }
  stage deploy {
    entry { check sh { run = "touch ../../../../checking; sleep 30" } }
    action ship: sh { run = "touch ../../../../shipped" }
    on success { check sh { run = "touch ../../../../verifying; sleep 30" } }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let started = Instant::now();
    let running = t.state(["run", "pipeline.pipe"]).within(20).spawn();
    wait_for("the entry check to run", || t.path("checking").exists());
    t.state(["override", "last", "deploy", "entry"]).run();
    wait_for("the on success check to run", || {
        t.path("verifying").exists()
    });
    assert!(t.path("shipped").exists());
    t.state(["override", "last", "deploy", "success"]).run();
    running.wait();
    assert!(started.elapsed() < Duration::from_secs(25));
    assert_eq!(t.show("last")["status"], "succeeded");
}

// ------------------------------------------------------------------ 7. rollback --to

#[test]
fn rollback_to_a_chosen_run() {
    let t = Test::new().file("pipeline.pipe", DEPLOYS);
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "v=1"])
        .run();
    let v1 = last_id(&t);
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "v=2"])
        .run();
    t.state(["rollback", "rel", "deploy", "--to", &v1]).run();
    assert_eq!(lines(&t, "deployed"), ["1", "2", "1"]);
    // Without `--to`: the latest run in which the stage succeeded.
    t.state(["rollback", "rel", "deploy"]).run();
    assert_eq!(lines(&t, "deployed"), ["1", "2", "1", "2"]);
    // A run in which the stage did not succeed is refused.
    std::fs::write(t.path("broken"), "").expect("write");
    t.state(["run", "pipeline.pipe"])
        .args(["--param", "v=3"])
        .status(1)
        .run();
    let v3 = last_id(&t);
    t.state(["rollback", "rel", "deploy", "--to", &v3])
        .status(2)
        .stderr_contains("did not succeed")
        .stderr_contains(&v1)
        .run();
}

#[test]
fn pipec_stop_reaches_a_nested_run_through_the_run_around_it() {
    let inner = r#"pipeline inner {
  stage s {
    action slow: sh { run = "touch ../../../../started; sleep 2; touch ../../../../finished" }
    action next: sh { after = [slow] run = "touch ../../../../next" }
  }
}
"#;
    let outer = r#"pipeline outer {
  stage s { action nest: pipeline { file = "inner.pipe" } }
}
"#;
    let t = Test::new()
        .file("pipeline.pipe", outer)
        .file("inner.pipe", inner);
    let running = t
        .state(["run", "pipeline.pipe"])
        .within(20)
        .status(130)
        .spawn();
    wait_for("the nested action to start", || t.path("started").exists());
    let nested = t
        .runs()
        .iter()
        .find(|r| r["pipeline"] == "inner")
        .and_then(|r| r["id"].as_str())
        .expect("the nested run")
        .to_string();
    t.state(["stop", &nested])
        .status(2)
        .stderr_contains("runs inside run")
        .run();
    t.state(["stop", "last"]).run();
    running.wait();
    // The nested run's running action finished; nothing after it started.
    assert!(t.path("finished").exists());
    assert!(!t.path("next").exists());
    assert_eq!(t.show(&nested)["status"], "stopped");
}
