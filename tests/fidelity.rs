//! Where pipec's runs follow `CodePipeline`'s execution semantics (issue 18): retrying only the
//! latest run in a stage, runs held at a disabled transition under the execution mode, Stop
//! and wait, rejections that fail the run at once, manual starts, condition overrides, and a
//! rollback to a chosen run. Each test runs two runs (or more) in one state directory.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::durable::{
    WINDOWED, action, closed_window, lines, pipec, run, says, show, spawn, stage_reason,
    stage_status, wait_for,
};
use crate::support::Test;

/// The id of the newest run.
fn last_id(t: &Test) -> String {
    show(t, "last")["id"]
        .as_str()
        .expect("a run id")
        .to_string()
}

/// Waits for `child` at most `secs` seconds; kills it when it is still running then (so a
/// test that fails leaves no process behind). Its exit code and stderr.
fn finish(child: Child, secs: u64) -> (Option<i32>, String) {
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().expect("ends");
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("ends");
    panic!(
        "still running after {secs} s:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert_eq!(run(&t, &["--param", "v=1"]).code, 1);
    let v1 = last_id(&t);
    std::fs::remove_file(t.path("broken")).expect("rm");
    assert_eq!(run(&t, &["--param", "v=2"]).code, 0);
    let out = pipec(&t, &["retry", &v1]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "a later run");
    says(&out.stderr, "`pipec rollback rel deploy");
    // Version 1 did not go live over version 2.
    assert_eq!(lines(&t, "deployed"), ["1", "2"]);
    assert_eq!(show(&t, &v1)["status"], "failed");
    // The latest run in the stage may be retried.
    std::fs::write(t.path("broken"), "").expect("write");
    assert_eq!(run(&t, &["--param", "v=3"]).code, 1);
    std::fs::remove_file(t.path("broken")).expect("rm");
    let out = pipec(&t, &["retry", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    assert_eq!(run(&t, &[]).code, 3);
    let a = last_id(&t);
    assert_eq!(run(&t, &[]).code, 3);
    let b = last_id(&t);
    let older = show(&t, &a);
    assert_eq!(older["status"], "superseded", "{older}");
    says(&stage_reason(&older, "deploy"), &format!("run {b}"));
    assert_eq!(show(&t, &b)["status"], "waiting");
    // Enabling names the run that may go on, and `--resume` continues it.
    let out = pipec(
        &t,
        &[
            "transition",
            "enable",
            "gate",
            "build",
            "deploy",
            "--resume",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, &format!("may go on: {b}"));
    assert!(!out.stderr.contains(&a), "{}", out.stderr);
    assert_eq!(lines(&t, "deployed"), std::slice::from_ref(&b));
    assert_eq!(show(&t, &b)["status"], "succeeded");
    // The older one stays superseded.
    let out = pipec(&t, &["resume", &a]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "has ended: superseded");
}

#[test]
fn runs_held_at_a_queued_transition_go_on_in_their_order() {
    let t = Test::new().file("pipeline.pipe", &frozen("queued"));
    assert_eq!(run(&t, &[]).code, 3);
    let a = last_id(&t);
    assert_eq!(run(&t, &[]).code, 3);
    let b = last_id(&t);
    assert_eq!(show(&t, &a)["status"], "waiting");
    let out = pipec(&t, &["transition", "enable", "gate", "build", "deploy"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, &format!("may go on: {a}, {b}"));
    // The newer one resumed first waits for the older one to go first.
    let newer = spawn(&t, &["resume", &b]);
    wait_for("the newer run to wait for the older one", || {
        stage_reason(&show(&t, &b), "deploy").contains(&format!("run {a}"))
    });
    let out = pipec(&t, &["resume", &a]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (code, stderr) = finish(newer, 20);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines(&t, "deployed"), [a, b]);

    // `--resume` continues them in their order.
    let t = Test::new().file("pipeline.pipe", &frozen("queued"));
    assert_eq!(run(&t, &[]).code, 3);
    let a = last_id(&t);
    assert_eq!(run(&t, &[]).code, 3);
    let b = last_id(&t);
    let out = pipec(
        &t,
        &[
            "transition",
            "enable",
            "gate",
            "build",
            "deploy",
            "--resume",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    let running = spawn(&t, &["run", "pipeline.pipe"]);
    wait_for("the migration to start", || t.path("started").exists());
    let stopping = spawn(&t, &["stop", "last"]);
    wait_for("`pipec show` to say the run is stopping", || {
        pipec(&t, &["show", "last"])
            .stdout
            .contains("stopping (`pipec stop`)")
    });
    let (code, stderr) = finish(stopping, 20);
    assert_eq!(code, Some(0), "{stderr}");
    says(&stderr, "running actions finish");
    let (code, stderr) = finish(running, 20);
    assert_eq!(code, Some(130), "{stderr}");
    // The migration was not killed half-way; nothing after it started.
    assert_eq!(lines(&t, "migrated"), ["done"]);
    assert!(!t.path("after").exists());
    assert!(!t.path("next").exists());
    let v = show(&t, "last");
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
    assert_eq!(run(&t, &[]).code, 3);
    let a = last_id(&t);
    let out = pipec(
        &t,
        &["reject", &a, "deploy.ok", "--as", "bob", "--comment", "no"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, "failed");
    let v = show(&t, &a);
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(stage_status(&v, "deploy"), "failed");
    says(&stage_reason(&v, "deploy"), "rejected by bob: no");
    assert_eq!(action(&v, "deploy", "ok")["status"], "failed");
    assert_eq!(locks(&t), 0);
    // The next run enters the stage (and waits for its own approval).
    let next = spawn(&t, &["run", "pipeline.pipe"]);
    let (code, stderr) = finish(next, 20);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(stage_status(&show(&t, "last"), "deploy"), "waiting");
    let out = pipec(&t, &["resume", &a]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "rejected by bob: no");
}

#[test]
fn an_approval_past_its_timeout_fails_the_run_when_a_run_waits_for_its_stage() {
    let t = Test::new().file("pipeline.pipe", &approved_deploy("timeout = 1m"));
    assert_eq!(run(&t, &[]).code, 3);
    let a = last_id(&t);
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE actions SET started = '2020-01-01T00:00:00Z' WHERE name = 'ok'",
        [],
    )
    .expect("update");
    // The next run, waiting for the stage, is the first to look at the held run.
    let next = spawn(&t, &["run", "pipeline.pipe"]);
    let (code, stderr) = finish(next, 20);
    assert_eq!(code, Some(3), "{stderr}");
    let v = show(&t, &a);
    assert_eq!(v["status"], "failed", "{v}");
    says(
        &stage_reason(&v, "deploy"),
        "no decision within its timeout (1m)",
    );
    // `pipec show` alone applies it too.
    let t = Test::new().file("pipeline.pipe", &approved_deploy("timeout = 1m"));
    assert_eq!(run(&t, &[]).code, 3);
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE actions SET started = '2020-01-01T00:00:00Z' WHERE name = 'ok'",
        [],
    )
    .expect("update");
    assert_eq!(show(&t, "last")["status"], "failed");
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
    let out = run(&t, &["--event", "manual", "--branch", "feature"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "started"), ["manual"]);
    // Automatic events are still filtered.
    let out = run(&t, &["--event", "push", "--branch", "feature"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, "no trigger of pipeline `trig` matches");
    assert_eq!(lines(&t, "started"), ["manual"]);
}

// ------------------------------------------------------------------ 6. overrides

#[test]
fn an_override_lets_a_stage_held_for_its_window_go_on() {
    let t = Test::new().file(
        "pipeline.pipe",
        &WINDOWED.replace("WINDOW", &closed_window()),
    );
    assert_eq!(run(&t, &[]).code, 3);
    // Only a condition in progress can be overridden.
    let out = pipec(&t, &["override", "last", "build", "entry"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "has no entry condition");
    let out = pipec(&t, &["override", "last", "deploy", "success"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = pipec(
        &t,
        &["override", "last", "deploy", "entry", "--comment", "hotfix"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "log"), ["build", "deploy"]);
    let v = show(&t, "last");
    let overrides = v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "deploy"))
        .map(|s| s["overrides"].clone())
        .expect("deploy");
    assert_eq!(overrides[0]["condition"], "entry", "{v}");
    assert_eq!(overrides[0]["comment"], "hotfix", "{v}");
    assert!(overrides[0]["by"].is_string() && overrides[0]["at"].is_string());
    says(
        &pipec(&t, &["show", "last"]).stdout,
        "entry condition overridden by",
    );
    // Twice is refused: the stage has run.
    let out = pipec(&t, &["override", "last", "deploy", "entry"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
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
    let running = spawn(&t, &["run", "pipeline.pipe"]);
    wait_for("the entry check to run", || t.path("checking").exists());
    let out = pipec(&t, &["override", "last", "deploy", "entry"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    wait_for("the on success check to run", || {
        t.path("verifying").exists()
    });
    assert!(t.path("shipped").exists());
    let out = pipec(&t, &["override", "last", "deploy", "success"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (code, stderr) = finish(running, 20);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(25));
    assert_eq!(show(&t, "last")["status"], "succeeded");
}

// ------------------------------------------------------------------ 7. rollback --to

#[test]
fn rollback_to_a_chosen_run() {
    let t = Test::new().file("pipeline.pipe", DEPLOYS);
    assert_eq!(run(&t, &["--param", "v=1"]).code, 0);
    let v1 = last_id(&t);
    assert_eq!(run(&t, &["--param", "v=2"]).code, 0);
    let out = pipec(&t, &["rollback", "rel", "deploy", "--to", &v1]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "deployed"), ["1", "2", "1"]);
    // Without `--to`: the latest run in which the stage succeeded.
    assert_eq!(pipec(&t, &["rollback", "rel", "deploy"]).code, 0);
    assert_eq!(lines(&t, "deployed"), ["1", "2", "1", "2"]);
    // A run in which the stage did not succeed is refused.
    std::fs::write(t.path("broken"), "").expect("write");
    assert_eq!(run(&t, &["--param", "v=3"]).code, 1);
    let v3 = last_id(&t);
    let out = pipec(&t, &["rollback", "rel", "deploy", "--to", &v3]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "did not succeed");
    says(&out.stderr, &v1);
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
    let running = spawn(&t, &["run", "pipeline.pipe"]);
    wait_for("the nested action to start", || t.path("started").exists());
    let runs = pipec(&t, &["runs", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&runs.stdout).expect("json");
    let nested = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["pipeline"] == "inner"))
        .and_then(|r| r["id"].as_str())
        .expect("the nested run")
        .to_string();
    let out = pipec(&t, &["stop", &nested]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "runs inside run");
    let out = pipec(&t, &["stop", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (code, stderr) = finish(running, 20);
    assert_eq!(code, Some(130), "{stderr}");
    // The nested run's running action finished; nothing after it started.
    assert!(t.path("finished").exists());
    assert!(!t.path("next").exists());
    assert_eq!(show(&t, &nested)["status"], "stopped");
}
