//! Attempts: order, the `--jobs` limit, retries and backoff, timeouts, `when`.

use super::*;

#[test]
fn after_orders_the_actions_of_a_stage() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    action c: sh { run = \"true\"  after = [b] }
    action b: sh { run = \"true\"  after = [a] }
    action a: sh { run = \"true\" }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Succeed(5)]), ("s.b", &[Step::Succeed(3)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    let (a, b, c) = (ran.of("s.a")[0], ran.of("s.b")[0], ran.of("s.c")[0]);
    assert!(b.start >= a.end && c.start >= b.end, "{:?}", ran.attempts);
    assert!((c.end - 9.0).abs() < 0.01, "c ends at 5 + 3 + 1 s: {c:?}");
}

#[test]
fn independent_branches_run_side_by_side_and_a_join_waits_for_both() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage build { action make: sh { run = \"true\" } }
  stage left { after = [build]  action l: sh { run = \"true\" } }
  stage right { after = [build]  action r: sh { run = \"true\" } }
  stage join { after = [left, right]  action j: sh { run = \"true\" } }
}
");
    let steps: &[(&str, &[Step])] = &[
        ("left.l", &[Step::Succeed(10)]),
        ("right.r", &[Step::Succeed(20)]),
    ];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    let (l, r, j) = (
        ran.of("left.l")[0],
        ran.of("right.r")[0],
        ran.of("join.j")[0],
    );
    assert!((l.start - r.start).abs() < 0.01, "{:?}", ran.attempts);
    assert!(j.start >= r.end, "{:?}", ran.attempts);
}

#[test]
fn the_jobs_limit_bounds_the_attempts_in_flight() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    action a: sh { run = \"true\" }
    action b: sh { run = \"true\" }
    action c: sh { run = \"true\" }
    action d: sh { run = \"true\" }
    action e: sh { run = \"true\" }
  }
}
");
    let steps: &[(&str, &[Step])] = &[
        ("s.a", &[Step::Succeed(10)]),
        ("s.b", &[Step::Succeed(10)]),
        ("s.c", &[Step::Succeed(10)]),
        ("s.d", &[Step::Succeed(10)]),
        ("s.e", &[Step::Succeed(10)]),
    ];
    let ran = Setting::new(&ir, &history).steps(steps).jobs(2).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    let most = ran
        .attempts
        .iter()
        .map(|d| {
            ran.attempts
                .iter()
                .filter(|o| o.start <= d.start && d.start < o.end)
                .count()
        })
        .max();
    assert_eq!(most, Some(2), "{:?}", ran.attempts);
    // Three rounds of 10 s: an ended attempt's end is committed when it is recorded, so its
    // slot is free at once.
    assert!((ran.secs - 30.0).abs() < 0.01, "{}", ran.secs);
    assert_eq!(ran.attempts.len(), 5);
}

#[test]
fn a_failed_attempt_is_retried_after_its_backoff() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s { action a: sh { run = \"true\"  retry = { count = 2, backoff = 5s } } }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Fail(1), Step::Succeed(3)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    let tries = ran.of("s.a");
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[1].attempt, 2);
    // Attempt 1 fails at 1 s; attempt 2 starts after the 5 s backoff and takes 3 s.
    assert!((tries[1].start - 6.0).abs() < 0.01, "{tries:?}");
    assert!((tries[1].end - 9.0).abs() < 0.01, "{tries:?}");
    assert_eq!(
        action(&history, &ran.id, "s", "a"),
        (ActionStatus::Succeeded, 2)
    );
    assert!(
        ran.detail("s.a", ActionStatus::Retrying)
            .ends_with("next attempt in 5s"),
        "{}",
        ran.detail("s.a", ActionStatus::Retrying)
    );
}

#[test]
fn retries_end_at_their_count_and_the_action_fails() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s { action a: sh { run = \"false\"  retry = { count = 2, backoff = 1s } } }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Fail(1)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert_eq!(ran.of("s.a").len(), 3, "one attempt and two retries");
    assert_eq!(
        action(&history, &ran.id, "s", "a"),
        (ActionStatus::Failed, 3)
    );
    assert_eq!(
        stage(&history, &ran.id, "s"),
        (StageStatus::Failed, "an action failed".to_string())
    );
}

#[test]
fn an_attempt_past_its_timeout_fails_naming_its_limit() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s { action a: sh { run = \"sleep 60\"  timeout = 5s } }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Succeed(60)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert!((ran.of("s.a")[0].end - 5.0).abs() < 0.01);
    let detail = ran.detail("s.a", ActionStatus::Failed);
    assert!(
        detail.starts_with("timed out: its timeout (5s) was reached"),
        "{detail}"
    );
}

#[test]
fn the_stage_timeout_cuts_an_attempt_short_and_names_the_stage() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    timeout 10s
    action a: sh { run = \"true\" }
    action b: sh { run = \"sleep 60\"  after = [a]  timeout = 1m }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Succeed(4)]), ("s.b", &[Step::Succeed(60)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    // 6 s were left of the stage's 10 s when `b` started.
    assert!(
        (ran.of("s.b")[0].end - 10.0).abs() < 0.01,
        "{:?}",
        ran.attempts
    );
    let detail = ran.detail("s.b", ActionStatus::Failed);
    assert!(
        detail.starts_with("timed out: the stage's timeout (10s) was reached"),
        "{detail}"
    );
}

#[test]
fn a_backoff_past_the_stage_timeout_gives_up_when_the_time_is_up() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    timeout 10s
    action a: sh { run = \"false\"  retry = { count = 3, backoff = 30s } }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("s.a", &[Step::Fail(2)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert_eq!(ran.of("s.a").len(), 1, "no second attempt");
    assert!(
        (ran.secs - 10.0).abs() < 0.5,
        "it gave up at 10 s: {}",
        ran.secs
    );
    assert_eq!(
        ran.detail("s.a", ActionStatus::Failed),
        "not retried: the stage's timeout (10s) is over"
    );
}

#[test]
fn a_failure_in_the_stage_wakes_a_backoff_and_ends_its_retry() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    action flaky: sh { run = \"false\"  retry = { count = 1, backoff = 1m } }
    action broken: sh { run = \"false\" }
  }
}
");
    let steps: &[(&str, &[Step])] = &[
        ("s.flaky", &[Step::Fail(1)]),
        ("s.broken", &[Step::Fail(3)]),
    ];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Failed);
    assert_eq!(ran.of("s.flaky").len(), 1);
    assert!(ran.secs < 4.0, "not a minute: {}", ran.secs);
    assert_eq!(
        ran.detail("s.flaky", ActionStatus::Failed),
        "not retried: `broken` of its stage failed"
    );
}

#[test]
fn on_failure_retry_runs_the_failed_actions_of_the_stage_again() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  stage s {
    on failure retry 1 failed
    action ok: sh { run = \"true\" }
    action flaky: sh { run = \"false\" }
  }
}
");
    let steps: &[(&str, &[Step])] = &[("s.flaky", &[Step::Fail(1), Step::Succeed(1)])];
    let ran = Setting::new(&ir, &history).steps(steps).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert_eq!(
        ran.of("s.ok").len(),
        1,
        "the action that succeeded is not run again"
    );
    assert_eq!(ran.of("s.flaky").len(), 2);
}

#[test]
fn a_false_when_skips_the_action_without_an_attempt() {
    let (_dir, history) = tmp();
    let ir = ir("pipeline p {
  param go: bool = false
  stage s {
    action a: sh { run = \"true\"  when = params.go }
    action b: sh { run = \"true\"  after = [a] }
  }
}
");
    let ran = Setting::new(&ir, &history).run();
    assert_eq!(ran.status, RunStatus::Succeeded);
    assert!(ran.of("s.a").is_empty());
    assert_eq!(
        ran.of("s.b").len(),
        1,
        "a skipped action lets the next one start"
    );
    assert_eq!(action(&history, &ran.id, "s", "a").0, ActionStatus::Skipped);
}
