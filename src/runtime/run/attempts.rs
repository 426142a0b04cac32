//! Attempts of a stage's actions: which start (their `after` predecessors succeeded or
//! were skipped, their `when` holds, within the run's `--jobs` limit and the stage's and
//! run's time), how an attempt ends (exports kept masked, workspace released or kept),
//! and retries (`retry { count, backoff }`): a backoff that wakes early when the run
//! stops, something fails for good, or time runs out.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::Progress;
use super::record::Note;
use super::runner::{AttemptFuture, Job};
use super::sched::{Event, Inflight, Pending, Sched};
use super::stage::{ActState, ActionIx, Limit, StageIx};
use crate::ir::{Action, Kind};
use crate::runtime::attempt::{Failure, Finished, append};
use crate::runtime::error::Error;
use crate::runtime::eval::{Value, eval};
use crate::runtime::exec::{self, Echo};
use crate::runtime::status::ActionStatus;

/// The run's `--jobs` slots in use.
#[derive(Default)]
pub(super) struct Slots {
    /// Attempts in flight. (An attempt's end is committed when it is recorded, so an ended
    /// attempt holds no slot: after a crash at most `jobs` actions run again.)
    pub(super) running: usize,
}

impl Slots {
    /// Whether another attempt may start under a limit of `jobs`.
    fn free(&self, jobs: usize) -> bool {
        self.running < jobs.max(1)
    }
}

impl<'r, 'a> Sched<'r, 'a> {
    /// Starts the stage's ready actions, within the `jobs` limit. Returns whether anything
    /// changed.
    pub(super) fn start_actions(
        &mut self,
        i: StageIx,
        inflight: &mut Inflight<'r>,
    ) -> Result<bool, Error> {
        let stage = self.ir_stage(i);
        let mut changed = false;
        if self.stages[i].any(ActState::broken) || self.end.failed.is_some() || self.stopping() {
            return Ok(false);
        }
        for (j, a) in stage.actions.iter().enumerate() {
            let j = ActionIx(j);
            if !self.slots.free(self.run.options.jobs) {
                break;
            }
            let s = &self.stages[i];
            if s[j].state != ActState::Pending {
                continue;
            }
            if s[j].preds.iter().any(|&k| !s[k].state.done_well()) {
                continue;
            }
            changed = true;
            self.start_action(i, j, a, inflight)?;
        }
        Ok(changed)
    }

    /// Starts action `j` (ready) of stage `i`, unless its `when` is false or cannot be
    /// evaluated, or the stage's time is over.
    fn start_action(
        &mut self,
        i: StageIx,
        j: ActionIx,
        a: &'a Action,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        if !self.when_holds(i, j, a)? {
            return Ok(());
        }
        if let Some(why) = self.expired(i) {
            let attempt = self.stages[i][j].attempts;
            self.stages[i][j].state = ActState::Failed;
            let why = format!("not started: {why}");
            self.record(i, j, Note::new(ActionStatus::Failed, attempt, &why))?;
            return Ok(());
        }
        if a.kind == Kind::Approval {
            self.start_approval(i, j, inflight)?;
            return Ok(());
        }
        self.launch(i, j, a, inflight)
    }

    /// Whether action `j`'s `when` holds (or it has none); else it is recorded skipped, or
    /// failed when the condition cannot be evaluated.
    fn when_holds(&mut self, i: StageIx, j: ActionIx, a: &Action) -> Result<bool, Error> {
        let Some(when) = &a.when else {
            return Ok(true);
        };
        let (state, status, why) = match eval(when, &self.scope) {
            Ok(Value::Bool(true)) => return Ok(true),
            Ok(_) => (
                ActState::Skipped,
                ActionStatus::Skipped,
                format!("when: `{}` is false", crate::runtime::plan::describe(when)),
            ),
            // A condition that cannot be evaluated is a failure, not a "no".
            Err(err) => (
                ActState::Failed,
                ActionStatus::Failed,
                format!("when: `{}`: {err}", crate::runtime::plan::describe(when)),
            ),
        };
        self.stages[i][j].state = state;
        self.record(i, j, Note::new(status, 0, &why))?;
        Ok(false)
    }

    /// Starts the next attempt of action `j` of stage `i`, in a fresh workspace.
    fn launch(
        &mut self,
        i: StageIx,
        j: ActionIx,
        a: &'a Action,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let attempt = self.stages[i][j].attempts + 1;
        let limit = self.limit(i, a.timeout_secs).map(|(_, which)| which);
        let act = &mut self.stages[i][j];
        act.state = ActState::Running;
        act.attempts = attempt;
        act.limit = limit;
        self.slots.running += 1;
        self.record(i, j, Note::new(ActionStatus::Running, attempt, ""))?;
        let label = format!("{}.{}", self.ir_stage(i).name, a.name);
        let log_name = format!("{label}.{attempt}");
        let started = Instant::now();
        let timeout = self.time_left(i, a.timeout_secs);
        let future = match self.workspaces.acquire() {
            Ok(ws) => self
                .attempt(a, &label, &log_name, attempt, ws.clone(), timeout)
                .map(move |result| Event::Attempt {
                    stage: i,
                    action: j,
                    took: started.elapsed(),
                    workspace: ws,
                    result,
                }),
            Err(e) => {
                let result = Err(Failure::from(e));
                Box::pin(async move {
                    Event::Attempt {
                        stage: i,
                        action: j,
                        took: started.elapsed(),
                        workspace: PathBuf::new(),
                        result,
                    }
                }) as Pending<'r>
            }
        };
        inflight.push(future);
        Ok(())
    }

    /// The time an attempt may take: its own timeout, within what is left of the stage's
    /// and the run's.
    pub(super) fn time_left(&self, i: StageIx, own: Option<u64>) -> Option<Duration> {
        self.limit(i, own).map(|(d, _)| d)
    }

    /// The limit that ends an attempt starting now: what is left of it, and which it is.
    pub(super) fn limit(&self, i: StageIx, own: Option<u64>) -> Option<(Duration, Limit)> {
        let now = Instant::now();
        let pipeline = self.run.ir.pipeline.timeout_secs.unwrap_or(0);
        let stage = self.ir_stage(i).timeout_secs.unwrap_or(0);
        [
            own.map(|s| (Duration::from_secs(s), Limit::Own(s))),
            self.stages[i]
                .deadline
                .map(|d| (d.saturating_duration_since(now), Limit::Stage(stage))),
            self.deadline
                .map(|d| (d.saturating_duration_since(now), Limit::Pipeline(pipeline))),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(d, _)| *d)
    }

    /// The stage's or the run's time is up: nothing of the stage may start or retry.
    pub(super) fn expired(&self, i: StageIx) -> Option<String> {
        self.limit(i, None)
            .filter(|(d, _)| d.is_zero())
            .map(|(_, which)| format!("{which} is over"))
    }

    /// An attempt of action `j` of stage `i` ended.
    #[allow(clippy::too_many_arguments)] // Reason: one attempt's outcome, each part distinct.
    pub(super) fn attempt_ended(
        &mut self,
        i: StageIx,
        j: ActionIx,
        took: Duration,
        workspace: PathBuf,
        result: Result<Finished, Failure>,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        match result {
            Ok(done) => self.attempt_succeeded(i, j, took, workspace, done),
            Err(failure) => self.attempt_failed(i, j, took, &workspace, failure, inflight),
        }
    }

    fn attempt_succeeded(
        &mut self,
        i: StageIx,
        j: ActionIx,
        took: Duration,
        workspace: PathBuf,
        done: Finished,
    ) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        let attempt = self.stages[i][j].attempts;
        let log = self.log_path(&format!("{}.{}.{attempt}", stage.name, a.name));
        // Whether the log exists: the runner knows, and so do the warnings written here.
        let mut logged = done.logged;
        for w in &done.warnings {
            logged |= append(&log, &format!("pipec: warning: {w}\n")).is_ok();
        }
        for (k, v) in done.exports {
            // A secret never reaches the history, nor later actions through an export.
            let masked = exec::mask(&v, &self.masks);
            if masked != v {
                let warning = format!(
                    "pipec: warning: export `{k}` holds a secret's value; it is kept masked\n"
                );
                logged |= append(&log, &warning).is_ok();
            }
            run.history
                .export(run.run_id, &stage.name, &a.name, &k, &masked)?;
            self.scope
                .exports
                .insert((stage.name.clone(), a.name.clone(), k), masked);
        }
        self.workspaces.release(workspace);
        self.stages[i][j].state = ActState::Succeeded;
        let log_text = log.to_string_lossy().into_owned();
        let log_field = logged.then_some(log_text.as_str());
        self.record(
            i,
            j,
            Note::new(ActionStatus::Succeeded, attempt, "")
                .exit(done.exit_code)
                .log(log_field)
                .secs(took.as_secs_f64()),
        )
    }

    fn attempt_failed(
        &mut self,
        i: StageIx,
        j: ActionIx,
        took: Duration,
        workspace: &std::path::Path,
        mut failure: Failure,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        let attempt = self.stages[i][j].attempts;
        let log = self.log_path(&format!("{}.{}.{attempt}", stage.name, a.name));
        failure.why = exec::mask(&failure.why, &self.masks);
        if failure.timed_out {
            if let Some(which) = &self.stages[i][j].limit {
                failure.why =
                    format!("timed out: {which} was reached; its process group was stopped");
            }
        }
        let _ = append(&log, &format!("\npipec: {}\n", failure.why));
        let kept = (!workspace.as_os_str().is_empty()).then(|| {
            self.workspaces
                .keep(workspace, &format!("{}.{}.{attempt}", stage.name, a.name))
        });
        let retry = attempt <= a.retry.count
            && !failure.stopped
            && !self.stopping()
            && self.end.failed.is_none()
            && self.expired(i).is_none();
        let detail = match &kept {
            Some(ws) => format!("{}; workspace kept at {}", failure.why, ws.display()),
            None => failure.why.clone(),
        };
        if retry {
            let detail = format!(
                "{detail}; next attempt in {}",
                crate::duration::format(a.retry.backoff_secs)
            );
            self.retry_later(i, j, took, detail, log, inflight);
            return Ok(());
        }
        let (next, status) = if failure.stopped {
            (ActState::Abandoned, ActionStatus::Abandoned)
        } else {
            (ActState::Failed, ActionStatus::Failed)
        };
        self.stages[i][j].state = next;
        let log_text = log.to_string_lossy().into_owned();
        self.record(
            i,
            j,
            Note::new(status, attempt, &detail)
                .exit(failure.exit_code)
                .log(Some(&log_text))
                .secs(took.as_secs_f64()),
        )
    }

    /// A failed attempt that has retries left: back off, then pending again.
    fn retry_later(
        &mut self,
        i: StageIx,
        j: ActionIx,
        took: Duration,
        detail: String,
        log: PathBuf,
        inflight: &mut Inflight<'r>,
    ) {
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        let attempt = self.stages[i][j].attempts;
        self.stages[i][j].state = ActState::Backoff;
        (self.run.report)(Progress::Action {
            stage: stage.name.clone(),
            action: a.name.clone(),
            status: ActionStatus::Retrying,
            attempt,
            secs: took.as_secs_f64(),
            detail,
            log: Some(log),
        });
        let due = Instant::now() + Duration::from_secs(a.retry.backoff_secs);
        self.backoff(i, j, due, inflight);
    }

    /// Waits until `due` — or less: until the stage's or run's time is up, something fails
    /// for good, or the run is stopped; then the action's retry is decided again.
    fn backoff(&self, i: StageIx, j: ActionIx, due: Instant, inflight: &mut Inflight<'r>) {
        let wake = self
            .limit(i, None)
            .map_or(due, |(left, _)| due.min(Instant::now() + left));
        let nap = self.nap(wake);
        inflight.push(Box::pin(async move {
            nap.await;
            Event::BackoffOver {
                stage: i,
                action: j,
                due,
            }
        }));
    }

    /// A backoff ended (or was woken): retry, sleep again, or give up.
    pub(super) fn backoff_over(
        &mut self,
        i: StageIx,
        j: ActionIx,
        due: Instant,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        if self.stages[i][j].state != ActState::Backoff {
            return Ok(());
        }
        let attempt = self.stages[i][j].attempts;
        // Not retried after all: the run is stopping, failed, or out of time.
        let (state, status, why) = if self.stopping() {
            let why = "not retried: the run was stopped".to_string();
            (ActState::Abandoned, ActionStatus::Abandoned, why)
        } else if let Some(at) = &self.end.failed {
            let why = format!("not retried: the run failed at `{at}`");
            (ActState::Failed, ActionStatus::Failed, why)
        } else if let Some(why) = self.expired(i) {
            let why = format!("not retried: {why}");
            (ActState::Failed, ActionStatus::Failed, why)
        } else if let Some(k) = self.stages[i].first_failed() {
            let other = &k.of(self.ir_stage(i)).name;
            let why = format!("not retried: `{other}` of its stage failed");
            (ActState::Failed, ActionStatus::Failed, why)
        } else if Instant::now() < due {
            // Woken by something that does not concern it: back to sleep.
            self.backoff(i, j, due, inflight);
            return Ok(());
        } else {
            self.stages[i][j].state = ActState::Pending;
            return Ok(());
        };
        self.stages[i][j].state = state;
        self.record(i, j, Note::new(status, attempt, &why))
    }

    /// One attempt of `a` in workspace `ws`, by the run's runner.
    pub(super) fn attempt(
        &mut self,
        a: &'a Action,
        label: &str,
        log_name: &str,
        attempt: u32,
        ws: PathBuf,
        timeout: Option<Duration>,
    ) -> AttemptFuture<'r> {
        self.outputs += 1;
        let outputs_file = self
            .workspaces
            .root
            .join(format!("out{}.env", self.outputs));
        let echo = self.echo.as_ref().map(|(tx, _)| Echo {
            tx: tx.clone(),
            label: label.to_string(),
        });
        let job = Job {
            run: self.run,
            scope: &self.scope,
            action: a,
            label: label.to_string(),
            attempt,
            workspace: ws,
            outputs_file,
            log: self.log_path(log_name),
            timeout,
            echo,
            source: self.source.clone(),
        };
        self.run.options.runner.start(job)
    }
}
