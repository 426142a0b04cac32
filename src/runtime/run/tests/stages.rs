//! Stages: approvals, stage locks, stops, `on failure retry`, entry checks, resume.

use super::*;

/// A pipeline whose `gate` stage waits for an approval (`timeout`) after `build`.
fn gated(timeout: &str) -> Ir {
    ir(&format!(
        "pipeline p {{
  stage build {{ action make: sh {{ run = \"true\" }} }}
  stage gate {{ action ok: approval {{ {timeout} }} }}
  stage ship {{ action go: sh {{ run = \"true\" }} }}
}}
"
    ))
}

#[test]
fn an_approval_with_nothing_else_to_do_holds_the_run() {
    let (_dir, history) = tmp();
    let ir = gated("");
    let ran = Setting::new(&ir, &history).run();
    assert_eq!(ran.status, RunStatus::Waiting);
    assert!(ran.of("ship.go").is_empty());
    let (status, why) = stage(&history, &ran.id, "gate");
    assert_eq!(status, StageStatus::Waiting);
    assert_eq!(
        why,
        format!(
            "waiting for approval: `pipec approve {id} gate.ok`, then `pipec resume {id}`",
            id = ran.id
        )
    );
}

#[test]
fn an_approval_decided_while_the_run_is_held_goes_on_at_resume() {
    let (_dir, history) = tmp();
    let ir = gated("");
    let held = Setting::new(&ir, &history).run();
    assert_eq!(held.status, RunStatus::Waiting);
    let decision = Decision {
        approved: true,
        by: "ana".into(),
        comment: None,
        at: "2026-11-26T10:00:30Z".into(),
    };
    history
        .decide(&held.id, "gate", "ok", &decision)
        .expect("history")
        .expect("decided once");
    let ran = Setting::new(&ir, &history).resume(&held.id).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert!(
        ran.of("build.make").is_empty(),
        "what succeeded is not run again"
    );
    assert_eq!(ran.of("ship.go").len(), 1);
    assert_eq!(
        action(&history, &ran.id, "gate", "ok").0,
        ActionStatus::Succeeded
    );
}

#[test]
fn an_approval_with_no_decision_fails_at_its_timeout() {
    let (_dir, history) = tmp();
    // `slow` keeps the run busy past the approval's hour, so the run is not held.
    let ir = ir("pipeline p {
  stage build { action make: sh { run = \"true\" } }
  stage gate { after = [build]  action ok: approval { timeout = 1h } }
  stage slow { after = [build]  action long: sh { run = \"true\" } }
}
");
    let steps: &[(&str, &[Step])] = &[("slow.long", &[Step::Succeed(2 * 3600)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert_eq!(
        ran.detail("gate.ok", ActionStatus::Failed),
        "no decision within its timeout (1h); the approval failed"
    );
}

#[test]
fn a_queued_stage_waits_for_its_lock_and_enters_once_it_is_free() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  mode queued
  stage deploy { action ship: sh { run = \"true\" } }
}
");
    // An earlier run of this process holds `deploy`, and leaves it 10 s in.
    let other = start_run(&history, &ir, None);
    let lock = history.lock("p", "deploy", &other, Mode::Queued);
    assert!(matches!(lock, Ok(crate::runtime::locks::Lock::Taken)));
    let leaving = other.clone();
    let ran = Setting::new(&ir, &history)
        .beside(Box::new(move |history, _, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                history.unlock("p", "deploy", &leaving).expect("unlocked");
            })
        }))
        .run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    let ship = ran.of("deploy.ship")[0];
    assert!(ship.start >= 10.0 && ship.start < 10.5, "{ship:?}");
    let waited = ran.progress.iter().any(|p| {
        matches!(p, Progress::Stage { status: StageStatus::Pending, detail, .. }
            if *detail == format!("waiting for run {other} to leave it (queued mode)"))
    });
    assert!(waited, "it said what it waits for");
}

#[test]
fn a_stop_request_abandons_the_running_attempts() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    action a: sh { run = \"sleep 60\" }
    action b: sh { run = \"true\"  after = [a] }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Succeed(60)])];
    let ran = Setting::new(&ir, &history)
        .steps(steps)
        .beside(stop_at(5, STOP))
        .run();
    assert_eq!(ran.status, RunStatus::Stopped);
    assert!((ran.of("s.a")[0].end - 5.0).abs() < 0.01);
    assert!(ran.of("s.b").is_empty());
    assert_eq!(
        action(&history, &ran.id, "s", "a").0,
        ActionStatus::Abandoned
    );
    assert_eq!(
        stage(&history, &ran.id, "s"),
        (StageStatus::Abandoned, "the run was stopped".to_string())
    );
}

#[test]
fn the_pipeline_timeout_cuts_an_attempt_short_and_names_the_pipeline() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  timeout 10s
  stage s { action a: sh { run = \"sleep 60\" } }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Succeed(60)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert!((ran.of("s.a")[0].end - 10.0).abs() < 0.01);
    let detail = ran.detail("s.a", ActionStatus::Failed);
    assert!(
        detail.starts_with("timed out: the pipeline's timeout (10s) was reached"),
        "{detail}"
    );
}

#[test]
fn on_failure_retry_all_runs_every_action_of_the_stage_again() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    on failure retry 1 all
    action ok: sh { run = \"true\" }
    action flaky: sh { run = \"false\" }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("s.flaky", &[Step::Fail(1), Step::Succeed(1)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert_eq!(ran.of("s.ok").len(), 2, "the whole round runs again");
    assert_eq!(ran.of("s.flaky").len(), 2);
}

#[test]
fn a_failing_entry_check_skips_the_stage_before_any_action_runs() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage gate {
    entry { check sh { run = \"exit 4\" } else skip }
    action a: sh { run = \"true\" }
  }
  stage next { action b: sh { run = \"true\" } }
}
");
    let steps: &[(&str, &[Step])] = &[("gate.entry.check", &[Step::Fail(2)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert_eq!(ran.of("gate.entry.check").len(), 1);
    assert!(ran.of("gate.a").is_empty());
    assert_eq!(stage(&history, &ran.id, "gate").0, StageStatus::Skipped);
    assert_eq!(
        action(&history, &ran.id, "gate", "a").0,
        ActionStatus::Skipped
    );
    assert_eq!(ran.of("next.b").len(), 1, "the next stage runs");
}

#[test]
fn a_rejected_approval_fails_its_stage_at_resume() {
    let (_dir, history) = tmp();
    let ir = gated("");
    let held = Setting::new(&ir, &history).run();
    let decision = Decision {
        approved: false,
        by: "ana".into(),
        comment: Some("not today".into()),
        at: "2026-11-26T10:00:30Z".into(),
    };
    history
        .decide(&held.id, "gate", "ok", &decision)
        .expect("history")
        .expect("decided once");
    let ran = Setting::new(&ir, &history).resume(&held.id).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert_eq!(
        ran.detail("gate.ok", ActionStatus::Failed),
        "rejected by ana: not today"
    );
    assert!(ran.of("ship.go").is_empty());
}

#[test]
fn a_resumed_run_does_not_run_again_what_had_succeeded() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    action a: sh { run = \"true\" }
    action b: sh { run = \"true\"  after = [a] }
  }
}
");
    // A first process ran `a` and was stopped during `b`.
    let steps: &[(&str, &[Step])] = &[("s.b", &[Step::Succeed(60)])];
    let first = Setting::new(&ir, &history)
        .steps(steps)
        .beside(stop_at(5, STOP))
        .run();
    assert_eq!(first.status, RunStatus::Stopped);
    // Recorded as a crash leaves it: `b` running.
    let running = crate::runtime::state::ActionUpdate {
        status: ActionStatus::Running,
        commit: crate::runtime::state::Commit::Now,
        attempt: 1,
        exit_code: None,
        log: None,
    };
    history
        .action(&first.id, "s", "b", &running)
        .expect("history");
    let ran = Setting::new(&ir, &history).resume(&first.id).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert!(ran.of("s.a").is_empty(), "`a` had succeeded");
    assert_eq!(ran.of("s.b").len(), 1);
    assert_eq!(ran.of("s.b")[0].attempt, 2, "the next attempt of `b`");
}
