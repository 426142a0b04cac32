//! Durable runs: holds (approvals, disabled transitions) and `pipec resume`, resuming after
//! `kill -9`, one owner per run, `pipec retry`, rollback, and stage locks across processes
//! (execution modes). Each test has its own state directory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Output, Test};

pub(crate) fn pipec(t: &Test, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--state-dir", "state"]);
    t.args_once(&all)
}

pub(crate) fn run(t: &Test, args: &[&str]) -> Output {
    let mut all = vec!["run", "pipeline.pipe"];
    all.extend_from_slice(args);
    pipec(t, &all)
}

pub(crate) fn show(t: &Test, run: &str) -> serde_json::Value {
    let out = pipec(t, &["show", run, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("show --json prints JSON")
}

pub(crate) fn action<'a>(
    v: &'a serde_json::Value,
    stage: &str,
    action: &str,
) -> &'a serde_json::Value {
    v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == stage))
        .and_then(|s| s["actions"].as_array())
        .and_then(|a| a.iter().find(|a| a["name"] == action))
        .unwrap_or_else(|| panic!("no action {stage}.{action} in {v}"))
}

pub(crate) fn stage_status(v: &serde_json::Value, stage: &str) -> String {
    v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == stage))
        .map_or_else(
            || panic!("no stage {stage} in {v}"),
            |s| s["status"].as_str().unwrap_or_default().to_string(),
        )
}

pub(crate) fn says(text: &str, needed: &str) {
    assert!(text.contains(needed), "no `{needed}` in:\n{text}");
}

/// Lines of a file the actions append to.
pub(crate) fn lines(t: &Test, name: &str) -> Vec<String> {
    std::fs::read_to_string(t.path(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `pipec ARGS --state-dir state` in the background.
pub(crate) fn spawn(t: &Test, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(args)
        .args(["--state-dir", "state"])
        .current_dir(t.path("."))
        .env("PIPEC_PLAIN", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pipec")
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

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
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
    let out = run(&t, &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    says(
        &out.stderr,
        "needs a decision (ship it?; approvers: bob, ann)",
    );
    says(&out.stderr, "pipec resume");
    let v = show(&t, "last");
    assert_eq!(v["status"], "waiting");
    assert_eq!(stage_status(&v, "ask"), "waiting");
    assert_eq!(action(&v, "ask", "ok")["status"], "waiting");
    // Nothing decided yet: held again.
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    // Only its approvers may decide.
    let out = pipec(&t, &["approve", "last", "ask.ok", "--as", "eve"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(
        &out.stderr,
        "`eve` may not approve `ask.ok`: its approvers are bob, ann",
    );
    let out = pipec(&t, &["approve", "last", "build.a", "--as", "bob"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(
        &out.stderr,
        "not an approval action (its approvals: ask.ok)",
    );
    let out = pipec(
        &t,
        &[
            "approve",
            "last",
            "ask.ok",
            "--as",
            "ann",
            "--comment",
            "lgtm",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, "`pipec resume");
    let out = pipec(&t, &["reject", "last", "ask.ok", "--as", " "]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "`--as` needs a name");
    let out = pipec(&t, &["reject", "last", "ask.ok", "--as", "bob"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "was already approved by ann");
    // `resume` schedules and shows like `run` (`--jobs`, `--verbose`).
    let out = pipec(&t, &["resume", "last", "--jobs", "1", "--verbose"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, "approved by ann: lgtm");
    says(&out.stderr, "after.a | shipped");
    // The stage before the hold ran once.
    assert_eq!(lines(&t, "log"), ["build", "after"]);
    let v = show(&t, "last");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(action(&v, "ask", "ok")["status"], "succeeded");
    // A finished run: its outcome, and its exit code.
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, "has ended: succeeded");
    let log = pipec(&t, &["logs", "last", "ask.ok"]);
    says(&log.stdout, "approved by ann: lgtm");
    assert_eq!(
        action(&show(&t, "last"), "ask", "ok")["decision"],
        "approved by ann: lgtm"
    );
}

#[test]
fn a_rejected_or_timed_out_approval_fails_the_run() {
    let t = Test::new().file("pipeline.pipe", GATE);
    assert_eq!(run(&t, &[]).code, 3);
    let out = pipec(
        &t,
        &[
            "reject",
            "last",
            "ask.ok",
            "--as",
            "bob",
            "--comment",
            "not now",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "rejected by bob: not now");
    assert_eq!(lines(&t, "log"), ["build"]);
    // Retrying asks again.
    let out = pipec(&t, &["retry", "last"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(
        pipec(&t, &["approve", "last", "ask.ok", "--as", "bob"]).code,
        0
    );
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "log"), ["build", "after"]);

    // An approval whose time is up when the run goes on fails.
    let src = GATE.replace("approvers = [\"bob\", \"ann\"]", "timeout = 1m");
    let t = Test::new().file("pipeline.pipe", &src);
    assert_eq!(run(&t, &[]).code, 3);
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE actions SET started = '2020-01-01T00:00:00Z' WHERE name = 'ok'",
        [],
    )
    .expect("update");
    // Too late to decide.
    let out = pipec(&t, &["approve", "last", "ask.ok"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "waited longer than its timeout (1m)");
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "no decision within its timeout (1m)");
    // Approving a finished run is refused.
    let out = pipec(&t, &["approve", "last", "ask.ok"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "has ended (failed)");
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
    let child = spawn(&t, &["run", "pipeline.pipe"]);
    wait_for("the approval to wait", || {
        let out = pipec(&t, &["approve", "last", "ask.ok"]);
        out.code == 0
    });
    let out = child.wait_with_output().expect("pipec ends");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let out = run(&t, &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    says(
        &out.stderr,
        "transition build -> deploy is disabled: release freeze",
    );
    let v = show(&t, "last");
    assert_eq!(stage_status(&v, "deploy"), "waiting");
    let human = pipec(&t, &["show", "last"]);
    says(&human.stdout, "release freeze");
    // Still disabled: held again.
    assert_eq!(pipec(&t, &["resume", "last"]).code, 3);
    let out = pipec(&t, &["transition", "enable", "gate", "build", "nope"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "has no transition build -> nope");
    let out = pipec(
        &t,
        &[
            "transition",
            "enable",
            "gate",
            "build",
            "deploy",
            "--reason",
            "freeze over",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let human = pipec(&t, &["show", "last"]);
    says(
        &human.stdout,
        "transition build -> deploy: enabled (freeze over, set by",
    );
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "log"), ["build", "deploy"]);
    // The override lasts: the next run goes through; disabling from the command line holds.
    assert_eq!(run(&t, &[]).code, 0);
    let out = pipec(
        &t,
        &[
            "transition",
            "disable",
            "gate",
            "build",
            "deploy",
            "--reason",
            "incident 42",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&t, &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    says(&out.stderr, "incident 42");
    let v = show(&t, "last");
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
    let mut child = spawn(&t, &["run", "pipeline.pipe"]);
    wait_for("the action to start", || {
        t.path("started").exists() && t.path("pid.0").exists()
    });
    // A second process cannot take the run while its owner lives.
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "is being run by another pipec");
    child.kill().expect("kill -9");
    let _ = child.wait();
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
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(&out.stderr, "process(es) left by the earlier pipec");
    assert!(!alive(stray), "the stray process {stray} was ended");
    // `one` ran once (its artifact and export were reused); `two` again.
    assert_eq!(lines(&t, "log"), ["one", "two", "two", "three 7"]);
    let v = show(&t, "last");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(action(&v, "a", "one")["attempts"], 1);
}

/// A retry runs the pipeline as recorded, not as edited since, and says so.
#[test]
fn retry_runs_the_recorded_pipeline_and_says_so() {
    let failing = "pipeline again {\n  stage s {\n    action a: sh { run = \"echo recorded >> ../../../../log; false\" }\n  }\n}\n";
    let t = Test::new().file("pipeline.pipe", failing);
    assert_eq!(run(&t, &[]).code, 1);
    let edited = failing.replace(
        "recorded >> ../../../../log; false",
        "edited >> ../../../../log",
    );
    std::fs::write(t.path("pipeline.pipe"), edited).expect("write");
    let out = pipec(&t, &["retry", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "is retried as it was recorded when it started");
    says(&out.stderr, "changes made to `");
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
    assert_eq!(run(&t, &[]).code, 1);
    let out = pipec(&t, &["retry", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    std::fs::write(t.path("fixed"), "").expect("write");
    let out = pipec(&t, &["retry", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut log = lines(&t, "log");
    log.sort();
    assert_eq!(log, ["flaky", "flaky", "flaky", "next", "ok"]);
    let v = show(&t, "last");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(action(&v, "s", "flaky")["attempts"], 3);
    // Only failed (or stopped) runs are retried.
    let out = pipec(&t, &["retry", "last"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "the status of run");
    says(&out.stderr, "is `succeeded`");
    // `--all` runs every action of the stage again.
    std::fs::remove_file(t.path("fixed")).expect("rm");
    assert_eq!(run(&t, &[]).code, 1);
    std::fs::write(t.path("fixed"), "").expect("write");
    std::fs::write(t.path("log"), "").expect("write");
    assert_eq!(pipec(&t, &["retry", "last", "--all"]).code, 0);
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
    let out = run(&t, &["--param", "version=1", "--param", "broken=true"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(
        &out.stderr,
        "no earlier run of `release` in which `deploy` succeeded",
    );
    assert_eq!(run(&t, &["--param", "version=2"]).code, 0);
    std::fs::write(t.path("log"), "").expect("write");
    let out = run(&t, &["--param", "version=3", "--param", "broken=true"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "succeeded");
    says(&out.stderr, "rolled back by run");
    // Version 3 failed; the rollback deployed version 2's artifact with its params.
    assert_eq!(lines(&t, "log"), ["deployed 3", "deployed 2"]);
    assert_eq!(show(&t, "last")["status"], "failed");
    // `pipec rollback` does the same as a run of its own.
    let out = pipec(&t, &["rollback", "release", "deploy"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "log"), ["deployed 3", "deployed 2", "deployed 2"]);
    let v = show(&t, "last");
    assert_eq!(stage_status(&v, "build"), "skipped");
    assert_eq!(stage_status(&v, "deploy"), "succeeded");
    let out = pipec(&t, &["rollback", "release", "nothing"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "pipeline `release` has no stage `nothing`");
    let out = pipec(&t, &["rollback", "nope", "deploy"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    says(&out.stderr, "pipelines that ran here: release");
    // The rollback run says whose inputs it used, and the approval its decision.
    let human = pipec(&t, &["show", "last"]);
    says(&human.stdout, "a rollback, with the inputs of run");
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
    let mut children = vec![spawn(&t, &["run", "pipeline.pipe", "--param", "hold=1"])];
    wait_for("the first run to enter", || !lines(&t, "log").is_empty());
    // The others come one after another, each waiting before the next comes.
    for n in 1..4 {
        children.push(spawn(&t, &["run", "pipeline.pipe"]));
        wait_for("the run to wait", || waiting(&t) == n);
    }
    for c in children {
        let out = c.wait_with_output().expect("ends");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = lines(&t, "log");
    assert_eq!(log.len(), 8, "{log:?}");
    assert_eq!(most_at_once(&log), 1, "{log:?}");
    // In the order the runs were created.
    let runs = pipec(&t, &["runs", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&runs.stdout).expect("json");
    let mut ids: Vec<String> = rows
        .as_array()
        .expect("rows")
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
    let children: Vec<Child> = (0..3)
        .map(|_| spawn(&t, &["run", "pipeline.pipe", "--param", "hold=1.5"]))
        .collect();
    for c in children {
        assert_eq!(c.wait_with_output().expect("ends").status.code(), Some(0));
    }
    assert!(most_at_once(&lines(&t, "log")) > 1);
}

#[test]
fn a_newer_waiting_run_supersedes_an_older_one() {
    let t = Test::new().file("pipeline.pipe", &locked("superseded"));
    let first = spawn(&t, &["run", "pipeline.pipe", "--param", "hold=3"]);
    wait_for("the first run to enter", || !lines(&t, "log").is_empty());
    let second = spawn(&t, &["run", "pipeline.pipe"]);
    // The second waits for the stage before the third comes.
    wait_for("the second run to wait", || waiting(&t) == 1);
    let third = spawn(&t, &["run", "pipeline.pipe"]);
    let second = second.wait_with_output().expect("ends");
    assert_eq!(second.status.code(), Some(1));
    says(&String::from_utf8_lossy(&second.stderr), "superseded");
    assert_eq!(
        third.wait_with_output().expect("ends").status.code(),
        Some(0)
    );
    assert_eq!(
        first.wait_with_output().expect("ends").status.code(),
        Some(0)
    );
    let log = lines(&t, "log");
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(most_at_once(&log), 1, "{log:?}");
    let runs = pipec(&t, &["runs", "--json"]);
    let statuses: Vec<String> = serde_json::from_str::<serde_json::Value>(&runs.stdout)
        .expect("json")
        .as_array()
        .expect("rows")
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
    let mut child = spawn(&t, &["run", "pipeline.pipe"]);
    wait_for("the action to start", || t.path("first").exists());
    child.kill().expect("kill -9");
    let _ = child.wait();
    let both = [
        spawn(&t, &["resume", "last"]),
        spawn(&t, &["resume", "last"]),
    ];
    let mut codes: Vec<(i32, String)> = both
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("ends");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect();
    codes.sort();
    assert_eq!(codes[0].0, 0, "{}", codes[0].1);
    assert_eq!(codes[1].0, 2, "{}", codes[1].1);
    says(&codes[1].1, "is being run by another pipec");
    assert_eq!(show(&t, "last")["status"], "succeeded");
}

#[test]
fn the_gated_example_walks_through_as_its_comment_says() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gated/gated.pipe");
    let t = Test::new().file(
        "pipeline.pipe",
        &std::fs::read_to_string(example).expect("the example"),
    );
    assert_eq!(run(&t, &["--param", "version=1.0"]).code, 3);
    assert_eq!(
        pipec(&t, &["approve", "last", "release.go", "--comment", "ok"]).code,
        0
    );
    assert_eq!(pipec(&t, &["resume", "last"]).code, 0);
    let deployed = || std::fs::read_to_string(t.path("site/VERSION")).expect("deployed");
    assert_eq!(deployed(), "1.0\n");
    let out = run(&t, &["--param", "version=1.1", "--param", "broken=true"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(pipec(&t, &["approve", "last", "release.go"]).code, 0);
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "deployed 1.1");
    says(&out.stderr, "rolled back by run");
    assert_eq!(deployed(), "1.0\n");
    assert_eq!(pipec(&t, &["rollback", "gated", "deploy"]).code, 0);
    assert_eq!(deployed(), "1.0\n");
    let out = pipec(
        &t,
        &[
            "transition",
            "disable",
            "gated",
            "release",
            "deploy",
            "--reason",
            "freeze",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    let out = run(&t, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "not decided: `bad` of its stage failed");
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
    let out = run(&t, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = show(&t, "last");
    assert_eq!(v["status"], "failed");
    assert_eq!(stage_status(&v, "a"), "failed");
}

#[test]
fn a_held_approval_records_when_it_began_waiting() {
    let t = Test::new().file("pipeline.pipe", GATE);
    assert_eq!(run(&t, &[]).code, 3);
    let started = action(&show(&t, "last"), "ask", "ok")["started"].clone();
    assert!(started.is_string(), "{started}");
    // Still the first wait after a resume (the timeout counts from it).
    assert_eq!(pipec(&t, &["resume", "last"]).code, 3);
    assert_eq!(action(&show(&t, "last"), "ask", "ok")["started"], started);
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
    assert_eq!(run(&t, &[]).code, 3);
    assert_eq!(pipec(&t, &["approve", "last", "deploy.ok"]).code, 0);
    assert_eq!(pipec(&t, &["resume", "last"]).code, 0);
    assert_eq!(run(&t, &["--param", "broken=true"]).code, 3);
    assert_eq!(pipec(&t, &["approve", "last", "deploy.ok"]).code, 0);
    // The rollback waits for an approval of its own: it fails instead of holding.
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "failed");
    let locks: i64 = rusqlite::Connection::open(t.path("state/history.db"))
        .and_then(|db| db.query_row("SELECT COUNT(*) FROM locks", [], |r| r.get(0)))
        .expect("locks");
    assert_eq!(locks, 0);
    // The next run enters the stage.
    assert_eq!(run(&t, &[]).code, 3);
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
    assert_eq!(run(&t, &[]).code, 3);
    // `pipec run pipeline.pipe`: the pipeline's folder, absolute.
    let dir = std::fs::read_to_string(t.path("where")).expect("written in the pipeline's folder");
    assert!(dir.trim().starts_with('/'), "{dir}");
    let v = show(&t, "last");
    assert_eq!(stage_status(&v, "deploy"), "waiting");
    assert_eq!(stage_status(&v, "after"), "pending");
    let out = pipec(&t, &["stop", "last"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = show(&t, "last");
    assert_eq!(v["status"], "stopped");
    assert_eq!(stage_status(&v, "deploy"), "abandoned");
    assert_eq!(pipec(&t, &["resume", "last"]).code, 130);
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
    assert_eq!(run(&t, &[]).code, 3);
    assert_eq!(
        pipec(&t, &["reject", "last", "ask.ok", "--comment", "not yet"]).code,
        0
    );
    // The stage's retry asks again (a second attempt), and the run is held again.
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(action(&show(&t, "last"), "ask", "ok")["attempts"], 2);
    assert_eq!(pipec(&t, &["approve", "last", "ask.ok"]).code, 0);
    assert_eq!(pipec(&t, &["resume", "last"]).code, 0);
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

pub(crate) fn stage_reason(v: &serde_json::Value, stage: &str) -> String {
    v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == stage))
        .and_then(|s| s["reason"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_else_wait_window_holds_the_run_until_it_opens_within_the_stage_timeout() {
    let t = Test::new().file(
        "pipeline.pipe",
        &WINDOWED.replace("WINDOW", &closed_window()),
    );
    let out = run(&t, &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let v = show(&t, "last");
    assert_eq!(v["status"], "waiting");
    assert_eq!(stage_status(&v, "deploy"), "waiting");
    let why = stage_reason(&v, "deploy");
    says(&why, "waiting for the deployment window");
    says(&why, "it opens at ");
    says(&why, "(the stage's timeout, 2h)");
    // `pipec show` says it too.
    says(
        &pipec(&t, &["show", "last"]).stdout,
        "stage deploy: waiting (waiting for the deployment window",
    );
    // Resumed while it is still closed: held again, nothing ran twice.
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(lines(&t, "log"), ["build"]);
    // Its timeout counts from when it began waiting, across holds.
    let db = rusqlite::Connection::open(t.path("state/history.db")).expect("history");
    db.execute(
        "UPDATE stages SET window_since = '2020-01-01T00:00:00Z' WHERE name = 'deploy'",
        [],
    )
    .expect("update");
    let out = pipec(&t, &["resume", "last"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "did not open within the stage's timeout (2h");
    assert_eq!(stage_status(&show(&t, "last"), "deploy"), "failed");
    assert_eq!(lines(&t, "log"), ["build"]);
}

#[test]
fn an_open_window_with_else_wait_runs_at_once_and_the_dry_run_says_it_would_wait() {
    let t = Test::new().file("pipeline.pipe", &WINDOWED.replace("WINDOW", "* * * * *"));
    let out = run(&t, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&t, "log"), ["build", "deploy"]);
    let out = run(&t, &["--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    says(
        &out.stdout,
        "stage `deploy`: runs in its deployment window: entry: would wait for the deployment window `* * * * *` while it is closed, at most 2h (the stage's timeout)",
    );
}
