//! The scheduler's decisions, on tokio's paused time with a scripted [`Runner`]: no process
//! runs, and each attempt takes exactly the (virtual) time its script says. What is checked
//! is what the scheduler decides: order, the `--jobs` limit, retries and backoff, timeouts,
//! approvals and holds, stage-lock waits, stops. The history is a real one in a temporary
//! folder, so what the run recorded is checked too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::{AttemptFuture, Job, Options, Progress, Run, Runner, Start, execute};
use crate::ir::{Ir, Mode};
use crate::runtime::attempt::{Failure, Finished};
use crate::runtime::exec::STOP;
use crate::runtime::holds::Decision;
use crate::runtime::plan::RunFacts;
use crate::runtime::state::{History, Snapshot};
use crate::runtime::status::{ActionStatus, RunStatus, StageStatus};

/// Where the wall clock of every test run starts.
const WALL: &str = "2026-11-26T10:00:00Z";

/// What one attempt does: succeeds or fails (exit status 1) after some seconds, unless its
/// time limit or a stop request ends it first.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    Succeed(u64),
    Fail(u64),
}

/// An attempt the runner carried out, with its (virtual) times in seconds from the start.
#[derive(Clone, Debug)]
pub(super) struct Done {
    label: String,
    attempt: u32,
    pub(super) start: f64,
    pub(super) end: f64,
}

/// Runs attempts as their scripts say: attempt N of `label` does `steps[label][N-1]` (the
/// last step repeats); a label with no script succeeds after 1 s.
struct Scripted {
    steps: BTreeMap<String, Vec<Step>>,
    began: Instant,
    log: Rc<RefCell<Vec<Done>>>,
}

impl Runner for Scripted {
    fn start<'r>(&self, job: Job<'r, '_>) -> AttemptFuture<'r> {
        let step = self
            .steps
            .get(&job.label)
            .and_then(|s| {
                let n = usize::try_from(job.attempt).unwrap_or(1).max(1);
                s.get(n - 1).or_else(|| s.last())
            })
            .copied()
            .unwrap_or(Step::Succeed(1));
        let (began, log) = (self.began, self.log.clone());
        let (label, attempt, timeout) = (job.label, job.attempt, job.timeout);
        let mut stopped = job.run.stop.clone();
        AttemptFuture::new(async move {
            let start = began.elapsed().as_secs_f64();
            let (secs, fails) = match step {
                Step::Succeed(s) => (s, false),
                Step::Fail(s) => (s, true),
            };
            let limit = async {
                match timeout {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            let failure = |why: &str| Failure::new(why);
            let result = tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(secs)) => if fails {
                    Err(Failure { exit_code: Some(1), ..failure("exited with status 1") })
                } else {
                    Ok(Finished { exports: BTreeMap::new(), warnings: Vec::new(), exit_code: Some(0), logged: false })
                },
                () = limit => Err(Failure { timed_out: true, ..failure("timed out") }),
                Ok(_) = stopped.wait_for(|level| *level >= STOP) => Err(Failure { stopped: true, ..failure("stopped") }),
            };
            let end = began.elapsed().as_secs_f64();
            log.borrow_mut().push(Done {
                label,
                attempt,
                start,
                end,
            });
            result
        })
    }
}

pub(super) fn ir(src: &str) -> Ir {
    let mut map = crate::source::SourceMap::new();
    let id = map.add("p.pipe", src);
    let out = crate::compile(&mut map, id, &mut crate::check::NoLoader);
    out.ir
        .unwrap_or_else(|| panic!("checks clean: {:?}", out.diagnostics))
}

/// What one `execute` did.
pub(super) struct Ran {
    pub(super) id: String,
    pub(super) status: RunStatus,
    /// Elapsed virtual seconds when `execute` returned.
    pub(super) secs: f64,
    attempts: Vec<Done>,
    pub(super) progress: Vec<Progress>,
}

impl Ran {
    /// The attempts of `label`, in the order they ended.
    pub(super) fn of(&self, label: &str) -> Vec<&Done> {
        self.attempts.iter().filter(|d| d.label == label).collect()
    }

    /// The last detail shown for action `label` with `status`.
    fn detail(&self, label: &str, status: ActionStatus) -> String {
        self.progress
            .iter()
            .rev()
            .find_map(|p| match p {
                Progress::Action {
                    stage,
                    action,
                    status: s,
                    detail,
                    ..
                } if format!("{stage}.{action}") == label && *s == status => Some(detail.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no `{status}` shown for {label}"))
    }
}

/// Something a test does beside the run, on the same clock: it gets the history, the run's
/// id and the run's stop switch (kept by the harness too: a dropped switch would read as
/// a stop).
pub(super) type Beside<'h> = Box<
    dyn FnOnce(
            &'h History,
            String,
            Rc<tokio::sync::watch::Sender<u8>>,
        ) -> Pin<Box<dyn Future<Output = ()> + 'h>>
        + 'h,
>;

/// A test's setting: the pipeline, the scripts of its attempts, `--jobs`.
pub(super) struct Setting<'h> {
    ir: &'h Ir,
    history: &'h History,
    steps: &'h [(&'h str, &'h [Step])],
    jobs: usize,
    /// Resume this run instead of starting one.
    resume: Option<&'h str>,
    beside: Option<Beside<'h>>,
}

impl<'h> Setting<'h> {
    pub(super) fn new(ir: &'h Ir, history: &'h History) -> Setting<'h> {
        Setting {
            ir,
            history,
            steps: &[],
            jobs: 4,
            resume: None,
            beside: None,
        }
    }

    pub(super) fn steps(self, steps: &'h [(&'h str, &'h [Step])]) -> Setting<'h> {
        Setting { steps, ..self }
    }

    fn jobs(self, jobs: usize) -> Setting<'h> {
        Setting { jobs, ..self }
    }

    pub(super) fn resume(self, id: &'h str) -> Setting<'h> {
        Setting {
            resume: Some(id),
            ..self
        }
    }

    pub(super) fn beside(self, beside: Beside<'h>) -> Setting<'h> {
        Setting {
            beside: Some(beside),
            ..self
        }
    }

    /// Runs it to its end on a paused clock (the wall clock starts at `WALL` and follows).
    pub(super) fn run(self) -> Ran {
        let history = self.history;
        let id = match self.resume {
            Some(id) => id.to_string(),
            None => start_run(history, self.ir, None),
        };
        let start = match self.resume {
            Some(_) => Start::Resume(history.recorded(&id).expect("history").expect("run")),
            None => Start::Fresh,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let began = Instant::now();
            let wall: jiff::Timestamp = WALL.parse().expect("a time");
            let clock = move || {
                let moved = jiff::SignedDuration::try_from(began.elapsed()).expect("short");
                wall.checked_add(moved).expect("a time")
            };
            let log = Rc::new(RefCell::new(Vec::new()));
            let runner = Scripted {
                steps: self
                    .steps
                    .iter()
                    .map(|(l, s)| ((*l).to_string(), s.to_vec()))
                    .collect(),
                began,
                log: log.clone(),
            };
            let loader = |_: &std::path::Path,
                          _: &BTreeMap<String, String>,
                          _: &crate::runtime::secrets::Inherited| {
                Err("no nested pipelines here".to_string())
            };
            let options = Options {
                jobs: self.jobs,
                file: history.dir.join("p.pipe"),
                secret_sources: Vec::new(),
                verbose: false,
                loader: &loader,
                parents: Vec::new(),
                inherited: crate::runtime::secrets::Inherited::default(),
                clock: &clock,
                runner: &runner,
            };
            let (stop_tx, stop) = tokio::sync::watch::channel(0u8);
            let stop_tx = Rc::new(stop_tx);
            let progress = RefCell::new(Vec::new());
            let report = |p: Progress| progress.borrow_mut().push(p);
            // The params' defaults (literals).
            let values: BTreeMap<String, crate::runtime::eval::Value> = self
                .ir
                .pipeline
                .params
                .iter()
                .filter_map(|p| {
                    let default = p.default.as_ref()?;
                    let v = crate::runtime::resume::eval_with_params(default, &BTreeMap::new());
                    Some((p.name.clone(), v.ok()?))
                })
                .collect();
            let secrets = BTreeMap::new();
            let run = Run {
                ir: self.ir,
                history,
                run_id: &id,
                values: &values,
                secrets: &secrets,
                facts: &RunFacts::default(),
                options: &options,
                report: &report,
                stop: &stop,
                start: &start,
            };
            let beside = async {
                if let Some(f) = self.beside {
                    f(history, id.clone(), stop_tx.clone()).await;
                }
            };
            let (status, ()) = tokio::join!(execute(&run), beside);
            let secs = began.elapsed().as_secs_f64();
            Ran {
                id: id.clone(),
                status: status.expect("the run ends"),
                secs,
                attempts: log.borrow().clone(),
                progress: progress.borrow().clone(),
            }
        })
    }
}

/// Records a new run of `ir` (nested in `parent`).
pub(super) fn start_run(history: &History, ir: &Ir, parent: Option<&str>) -> String {
    let facts = serde_json::json!({});
    let snapshot = Snapshot {
        parent,
        facts: &facts,
        file: None,
        source: None,
    };
    history
        .start_run(ir, &serde_json::json!({}), &snapshot)
        .expect("a run")
}

/// The recorded status and attempts of action `action` of stage `stage`.
pub(super) fn action(
    history: &History,
    id: &str,
    stage: &str,
    action: &str,
) -> (ActionStatus, u32) {
    let rec = history.recorded(id).expect("history").expect("the run");
    let s = rec.stages.iter().find(|s| s.name == stage).expect("stage");
    let a = s.actions.iter().find(|a| a.name == action).expect("action");
    (a.status, a.attempts)
}

/// The recorded status and reason of stage `stage`.
pub(super) fn stage(history: &History, id: &str, stage: &str) -> (StageStatus, String) {
    let rec = history.recorded(id).expect("history").expect("the run");
    let s = rec.stages.iter().find(|s| s.name == stage).expect("stage");
    (s.status, s.reason.clone().unwrap_or_default())
}

pub(super) fn tmp() -> (tempfile::TempDir, History) {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    (dir, history)
}

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
        .beside(Box::new(|_, _, stop| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let _ = stop.send(STOP);
            })
        }))
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
        .beside(Box::new(|_, _, stop| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let _ = stop.send(STOP);
            })
        }))
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
