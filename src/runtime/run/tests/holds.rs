//! The scheduler's decisions where it follows `CodePipeline`'s execution semantics (issue 18),
//! with the harness of `mod.rs` (paused time, a scripted runner, a real history): Stop and
//! wait, runs held at a transition under the execution mode, overrides of conditions seen by
//! a running run, a held run's rejection applied by a run waiting for its stage, and what a
//! run's row keeps across holds (its IR, the time spent).

use std::time::Duration;

use super::{Setting, Step, action, ir, stage, start_run, stop_at, tmp};
use crate::runtime::exec::WAIT;
use crate::runtime::holds::{ConditionOverride, Decision, StageCondition};
use crate::runtime::status::{ActionStatus, RunStatus, StageStatus};

#[test]
fn a_stop_and_wait_lets_running_attempts_finish_and_starts_nothing_new() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    action migrate: sh { run = \"sleep 60\" }
    action after: sh { run = \"true\"  after = [migrate] }
  }
  stage next { action a: sh { run = \"true\" } }
}
");
    let steps: &[(&str, &[Step])] = &[("s.migrate", &[Step::Succeed(60)])];
    let ran = Setting::new(&ir, &history)
        .steps(steps)
        .beside(stop_at(5, WAIT))
        .run();
    assert_eq!(ran.status, RunStatus::Stopped);
    // The running attempt was not cut short; nothing started after it.
    assert!((ran.of("s.migrate")[0].end - 60.0).abs() < 0.01);
    assert!(ran.of("s.after").is_empty() && ran.of("next.a").is_empty());
    assert_eq!(
        action(&history, &ran.id, "s", "migrate").0,
        ActionStatus::Succeeded
    );
    assert_eq!(
        action(&history, &ran.id, "s", "after").0,
        ActionStatus::Pending
    );
    assert_eq!(stage(&history, &ran.id, "next").0, StageStatus::Pending);
}

/// A pipeline in `mode` whose transition into `deploy` is disabled.
fn frozen(mode: &str) -> crate::ir::Ir {
    ir(&format!(
        "pipeline p {{
  mode {mode}
  stage build {{ action make: sh {{ run = \"true\" }} }}
  stage deploy {{ action ship: sh {{ run = \"true\" }} }}
  transition build -> deploy disabled \"freeze\"
}}
"
    ))
}

#[test]
fn a_newer_run_held_at_a_transition_supersedes_the_older_one_held_there() {
    let (_dir, history) = tmp();
    let ir = frozen("superseded");
    let older = Setting::new(&ir, &history).run();
    assert_eq!(older.status, RunStatus::Waiting);
    let newer = Setting::new(&ir, &history).run();
    assert_eq!(newer.status, RunStatus::Waiting);
    let rec = history.recorded(&older.id).expect("history").expect("run");
    assert_eq!(rec.status, RunStatus::Superseded);
    let (status, why) = stage(&history, &older.id, "deploy");
    assert_eq!(status, StageStatus::Pending);
    assert!(why.contains(&newer.id), "{why}");
    assert_eq!(
        history.held_at("p", "build", "deploy").expect("history"),
        std::slice::from_ref(&newer.id)
    );
}

#[test]
fn a_queued_run_goes_on_from_a_transition_only_after_the_older_one_held_there() {
    let (_dir, history) = tmp();
    let ir = frozen("queued");
    let older = Setting::new(&ir, &history).run();
    let newer = Setting::new(&ir, &history).run();
    assert_eq!(
        history.held_at("p", "build", "deploy").expect("history"),
        [older.id.clone(), newer.id.clone()]
    );
    let enabled = crate::runtime::holds::Override {
        from: "build".into(),
        to: "deploy".into(),
        enabled: true,
        reason: None,
        declared: crate::runtime::holds::declared(Some("freeze")),
        by: "ann".into(),
        at: String::new(),
    };
    history.set_override("p", &enabled).expect("history");
    // The newer one, resumed first, waits for the older one (still held) to go first; 20 s
    // later the older one is stopped, and the newer one enters.
    let gone = older.id.clone();
    let ran = Setting::new(&ir, &history)
        .resume(&newer.id)
        .beside(Box::new(move |history, _, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                history.stop_orphaned(&gone).expect("stopped");
            })
        }))
        .run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert!(ran.of("deploy.ship")[0].start >= 20.0);
    let waited = ran.progress.iter().any(|p| {
        matches!(p, super::Progress::Stage { status: StageStatus::Pending, detail, .. }
            if detail.contains(&format!("run {}", older.id)) && detail.contains("to go first"))
    });
    assert!(waited, "it said whom it waits for");
}

#[test]
fn an_override_ends_a_running_entry_check_and_the_stage_runs() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage deploy {
    entry { check sh { run = \"sleep 600\" } }
    action ship: sh { run = \"true\" }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("deploy.entry.check", &[Step::Succeed(600)])];
    let ran = Setting::new(&ir, &history)
        .steps(steps)
        .beside(Box::new(|history, id, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let o = ConditionOverride {
                    condition: StageCondition::Entry,
                    by: "ann".into(),
                    comment: Some("freeze exception".into()),
                    at: "2026-11-26T10:00:05Z".into(),
                };
                history
                    .override_condition(&id, "deploy", &o)
                    .expect("history")
                    .expect("the entry condition is being evaluated");
            })
        }))
        .run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    // Seen within a second of the override; the check did not run its ten minutes.
    assert!(ran.secs < 10.0, "{}", ran.secs);
    assert_eq!(
        action(&history, &ran.id, "deploy", "ship").0,
        ActionStatus::Succeeded
    );
}

#[test]
fn an_override_wakes_a_stage_held_for_its_window_while_other_work_goes_on() {
    let (_dir, history) = tmp();
    // The window opens at 10:30 (the wall clock starts at 10:00); `slow` keeps the run busy.
    let ir = ir("pipeline p {
  stage build { action make: sh { run = \"true\" } }
  stage deploy {
    after = [build]
    entry { window \"30-59 * * * *\" else wait }
    action ship: sh { run = \"true\" }
  }
  stage slow { after = [build]  action long: sh { run = \"true\" } }
}
");
    let steps: &[(&str, &[Step])] = &[("slow.long", &[Step::Succeed(600)])];
    let ran = Setting::new(&ir, &history)
        .steps(steps)
        .beside(Box::new(|history, id, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let o = ConditionOverride {
                    condition: StageCondition::Entry,
                    by: "ann".into(),
                    comment: None,
                    at: "2026-11-26T10:00:10Z".into(),
                };
                history
                    .override_condition(&id, "deploy", &o)
                    .expect("history")
                    .expect("the stage is held for its window");
            })
        }))
        .run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    let ship = ran.of("deploy.ship")[0];
    assert!(ship.start < 15.0, "not at 10:30: {ship:?}");
}

#[test]
fn a_run_waiting_for_a_stage_fails_the_held_run_whose_approval_was_rejected() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  mode queued
  stage deploy {
    action ok: approval {}
    action ship: sh { run = \"true\"  after = [ok] }
  }
}
");
    let held = Setting::new(&ir, &history).run();
    assert_eq!(held.status, RunStatus::Waiting);
    let no = Decision {
        approved: false,
        by: "ann".into(),
        comment: Some("not this one".into()),
        at: "2026-11-26T10:00:30Z".into(),
    };
    history
        .decide(&held.id, "deploy", "ok", &no)
        .expect("history")
        .expect("decided once");
    // The next run waits for `deploy`, looks at the run in it, fails it, and enters.
    let next = Setting::new(&ir, &history).run();
    assert_eq!(next.status, RunStatus::Waiting);
    assert_eq!(stage(&history, &next.id, "deploy").0, StageStatus::Waiting);
    let rec = history.recorded(&held.id).expect("history").expect("run");
    assert_eq!(rec.status, RunStatus::Failed);
    let (status, why) = stage(&history, &held.id, "deploy");
    assert_eq!(status, StageStatus::Failed);
    assert_eq!(why, "`ok` failed: rejected by ann: not this one");
    assert_eq!(
        action(&history, &held.id, "deploy", "ok").0,
        ActionStatus::Failed
    );
    // A second look changes nothing.
    let again = history
        .settle(&held.id, "2026-11-26T11:00:00Z".parse().expect("a time"))
        .expect("history");
    assert_eq!(again, crate::runtime::settle::Settled::Nothing);
}

#[test]
fn a_stop_and_wait_ends_a_wait_for_a_stage_lock_at_once() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  mode queued
  stage deploy { action ship: sh { run = \"true\" } }
}
");
    // Another run holds `deploy` and does not leave it.
    let other = start_run(&history, &ir, None);
    let lock = history.lock("p", "deploy", &other, crate::ir::Mode::Queued);
    assert!(matches!(lock, Ok(crate::runtime::locks::Lock::Taken)));
    let ran = Setting::new(&ir, &history).beside(stop_at(5, WAIT)).run();
    assert_eq!(ran.status, RunStatus::Stopped);
    assert!(ran.secs < 6.0, "{}", ran.secs);
    assert_eq!(
        stage(&history, &ran.id, "deploy"),
        (
            StageStatus::Pending,
            "not entered: the run was stopped while it waited for the stage".to_string()
        )
    );
}

#[test]
fn the_time_spent_adds_up_over_a_runs_processes_and_commits_with_its_end_or_hold() {
    let (dir, history) = tmp();
    let ir = ir("pipeline p {\n  stage s {\n    action a: sh { run = \"true\" }\n  }\n}\n");
    let id = start_run(&history, &ir, None);
    // What another process (`pipec show`, a resume) reads.
    let spent = || {
        crate::runtime::state::History::open(dir.path())
            .expect("history")
            .recorded(&id)
            .expect("history")
            .expect("the run")
            .spent
    };
    history.add_spent(&id, 1.5).expect("queued");
    // The run's row (which holds its IR) is written once, with the hold.
    assert!(spent().abs() < f64::EPSILON, "committed before the hold");
    history.finish_run(&id, RunStatus::Waiting).expect("held");
    assert!((spent() - 1.5).abs() < 1e-9);
    history.add_spent(&id, 2.0).expect("queued");
    history
        .finish_run(&id, RunStatus::Succeeded)
        .expect("ended");
    assert!((spent() - 3.5).abs() < 1e-9);
}

#[test]
fn a_run_keeps_its_ir_as_one_line_of_json_that_reads_back_the_same() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {\n  stage s {\n    action a: sh { run = \"true\" }\n  }\n}\n");
    let id = start_run(&history, &ir, None);
    let kept = history
        .recorded(&id)
        .expect("history")
        .expect("the run")
        .ir
        .expect("an IR");
    assert!(!kept.contains('\n'), "{kept}");
    let back = crate::ir::from_json(&kept).expect("reads back");
    assert_eq!(crate::ir::to_json(&back), crate::ir::to_json(&ir));
}
