//! Window holds, on a clock the tests move: the pure decision, and whole runs of the
//! scheduler on tokio's paused time with a wall clock that follows it.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Wait, plan_wait};
use crate::ir::Ir;
use crate::runtime::plan::RunFacts;
use crate::runtime::run::{Options, Run, RunStatus, Start, execute};
use crate::runtime::state::History;

fn at(s: &str) -> Timestamp {
    s.parse().expect("a time")
}

fn ir(src: &str) -> Ir {
    let mut map = crate::source::SourceMap::new();
    let id = map.add("p.pipe", src);
    let out = crate::compile(&mut map, id, &mut crate::check::NoLoader);
    out.ir
        .unwrap_or_else(|| panic!("checks clean: {:?}", out.diagnostics))
}

/// A pipeline whose `deploy` stage waits for the minutes `0-10` of every hour.
fn gated(timeout: &str) -> Ir {
    ir(&format!(
        "pipeline p {{
  stage build {{ action make: wait {{ duration = 1s }} }}
  stage deploy {{
    {timeout}
    entry {{ window \"0-10 * * * *\"  else wait }}
    action ship: wait {{ duration = 1s }}
  }}
}}
"
    ))
}

#[test]
fn a_closed_window_waits_for_its_opening_or_its_timeout() {
    let ir = gated("timeout 30m");
    let stage = &ir.pipeline.stages[1];
    let since = at("2026-11-26T10:20:00Z");
    // Closed at 10:20: it opens at 11:00, after the timeout ends at 10:50.
    assert_eq!(
        plan_wait(stage, since, since),
        Wait::Until {
            wake: at("2026-11-26T10:50:00Z"),
            opens: Some(at("2026-11-26T11:00:00Z")),
        }
    );
    // With no timeout, it sleeps until the opening.
    let ir = gated("");
    assert_eq!(
        plan_wait(&ir.pipeline.stages[1], since, at("2026-11-26T10:45:00Z")),
        Wait::Until {
            wake: at("2026-11-26T11:00:00Z"),
            opens: Some(at("2026-11-26T11:00:00Z")),
        }
    );
    // Its timeout counts from when it began waiting, across holds.
    let ir = gated("timeout 30m");
    let Wait::TimedOut(why) = plan_wait(&ir.pipeline.stages[1], since, at("2026-11-26T10:51:00Z"))
    else {
        panic!("timed out");
    };
    assert_eq!(
        why,
        "the deployment window `0-10 * * * *` did not open within the stage's timeout (30m, since 2026-11-26T10:20:00Z)"
    );
}

/// One `execute` of `ir` (fresh, or resuming run `id`) whose wall clock starts at `wall`
/// and moves with tokio's paused time. Returns the run's id and status.
fn drive(
    ir: &Ir,
    history: &History,
    dir: &std::path::Path,
    id: Option<&str>,
    wall: &str,
) -> (String, RunStatus) {
    let id = id.map_or_else(
        || crate::runtime::state::tests::start(history, ir),
        str::to_string,
    );
    let start = match history.recorded(&id).expect("history") {
        Some(rec) if rec.status != crate::runtime::status::RunStatus::Running => Start::Resume(rec),
        _ => Start::Fresh,
    };
    let wall = at(wall);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let status = runtime.block_on(async {
        let began = tokio::time::Instant::now();
        let clock = move || {
            let moved = jiff::SignedDuration::try_from(began.elapsed()).expect("short");
            wall.checked_add(moved).expect("a time")
        };
        let loader =
            |_: &std::path::Path,
             _: &BTreeMap<String, String>,
             _: &crate::runtime::secrets::Inherited| Err("none".to_string());
        let options = Options {
            jobs: 2,
            file: dir.join("p.pipe"),
            secret_sources: Vec::new(),
            verbose: false,
            loader: &loader,
            parents: Vec::new(),
            inherited: crate::runtime::secrets::Inherited::default(),
            clock: &clock,
            runner: &crate::runtime::run::Processes,
            containers: crate::runtime::container::Containers::Off,
        };
        let (_stop_tx, stop) = tokio::sync::watch::channel(0u8);
        // The params' defaults (literals).
        let values: BTreeMap<String, crate::runtime::eval::Value> = ir
            .pipeline
            .params
            .iter()
            .filter_map(|p| {
                let v =
                    crate::runtime::resume::eval_with_params(p.default.as_ref()?, &BTreeMap::new());
                Some((p.name.clone(), v.ok()?))
            })
            .collect();
        let secrets = BTreeMap::new();
        let run = Run {
            ir,
            history,
            run_id: &id,
            values: &values,
            secrets: &secrets,
            facts: &RunFacts::default(),
            options: &options,
            report: &|_| {},
            stop: &stop,
            start: &start,
        };
        execute(&run).await.expect("runs")
    });
    (id, status)
}

/// The recorded status and reason of stage `name` of run `id`.
fn stage(history: &History, id: &str, name: &str) -> (String, String) {
    let rec = history.recorded(id).expect("history").expect("the run");
    let s = rec
        .stages
        .iter()
        .find(|s| s.name == name)
        .expect("the stage");
    (
        s.status.as_str().to_string(),
        s.reason.clone().unwrap_or_default(),
    )
}

#[test]
fn a_held_window_holds_the_run_and_resume_goes_on_once_it_is_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    let ir = gated("timeout 2h");
    // 10:20: closed; nothing else to do: held at once.
    let (id, status) = drive(&ir, &history, dir.path(), None, "2026-11-26T10:20:00Z");
    assert_eq!(status, RunStatus::Waiting);
    let (st, why) = stage(&history, &id, "deploy");
    assert_eq!(st, "waiting");
    assert!(
        why.contains("waiting for the deployment window `0-10 * * * *`")
            && why.contains("it opens at 2026-11-26T11:00:00Z")
            && why.contains(&format!("`pipec resume {id}`")),
        "{why}"
    );
    // Resumed before it opens: held again.
    let (_, status) = drive(&ir, &history, dir.path(), Some(&id), "2026-11-26T10:59:00Z");
    assert_eq!(status, RunStatus::Waiting);
    // Resumed once open: the stage runs.
    let (_, status) = drive(&ir, &history, dir.path(), Some(&id), "2026-11-26T11:05:00Z");
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(stage(&history, &id, "deploy").0, "succeeded");
}

#[test]
fn a_window_that_stays_closed_past_the_stage_timeout_fails_the_stage() {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    let ir = gated("timeout 30m");
    let (id, status) = drive(&ir, &history, dir.path(), None, "2026-11-26T10:20:00Z");
    assert_eq!(status, RunStatus::Waiting);
    // Resumed after the timeout (10:50), although the window is open by then.
    let (_, status) = drive(&ir, &history, dir.path(), Some(&id), "2026-11-26T11:01:00Z");
    assert_eq!(status, RunStatus::Failed);
    let (st, why) = stage(&history, &id, "deploy");
    assert_eq!(st, "failed");
    // It began waiting after `build`'s second.
    assert_eq!(
        why,
        "entry: it waited for the deployment window `0-10 * * * *` longer than the stage's timeout (30m, since 2026-11-26T10:20:01Z)"
    );
}

#[test]
fn while_other_work_goes_on_the_stage_waits_in_the_process_until_its_window_opens() {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    // `slow` keeps the run busy for an hour; `deploy`'s window opens 40 minutes in.
    let ir = ir("pipeline p {
  stage build { action make: wait { duration = 1s } }
  stage slow { after = [build]  action long: wait { duration = 1h } }
  stage deploy {
    after = [build]
    entry { window \"0-10 * * * *\"  else wait }
    action ship: wait { duration = 1s }
  }
}
");
    let (id, status) = drive(&ir, &history, dir.path(), None, "2026-11-26T10:20:00Z");
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(stage(&history, &id, "deploy").0, "succeeded");
}

#[test]
fn a_stage_waiting_for_its_window_when_the_run_fails_elsewhere_is_left_undecided() {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    // `slow` fails a minute in (its timeout), while `deploy` waits for 11:00.
    let ir = ir("pipeline p {
  stage build { action make: wait { duration = 1s } }
  stage slow { after = [build]  action long: wait { duration = 1h  timeout = 1m } }
  stage deploy {
    after = [build]
    entry { window \"0-10 * * * *\"  else wait }
    action ship: wait { duration = 1s }
  }
}
");
    let (id, status) = drive(&ir, &history, dir.path(), None, "2026-11-26T10:20:00Z");
    assert_eq!(status, RunStatus::Failed);
    let (st, why) = stage(&history, &id, "deploy");
    assert_eq!(st, "pending");
    assert_eq!(
        why,
        "not decided: the run failed while it waited for its deployment window"
    );
}

#[test]
fn a_window_that_opened_since_the_decision_is_looked_at_again_at_once() {
    let ir = gated("");
    let now = at("2026-11-26T11:00:00Z");
    assert_eq!(
        plan_wait(&ir.pipeline.stages[1], now, now),
        Wait::Until {
            wake: at("2026-11-26T11:00:01Z"),
            opens: Some(now),
        }
    );
}

#[test]
fn the_other_rules_of_an_else_wait_entry_still_fail_the_stage_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    let ir = ir("pipeline p {
  param target: string = \"staging\"
  stage deploy {
    entry { window \"0-10 * * * *\"  require params.target == \"prod\"  else wait }
    action ship: wait { duration = 1s }
  }
}
");
    let (id, status) = drive(&ir, &history, dir.path(), None, "2026-11-26T10:20:00Z");
    assert_eq!(status, RunStatus::Failed);
    let (st, why) = stage(&history, &id, "deploy");
    assert_eq!(st, "failed");
    assert!(
        why.contains("`params.target == \"prod\"` is false"),
        "{why}"
    );
}
