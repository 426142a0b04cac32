//! Approval actions in a run (LANGUAGE.md §5, docs/runtime.md): an approval waits for a
//! decision recorded by `pipec approve`/`reject` (looked for in the history every few
//! seconds), at most its timeout from when it first waited (on the run's wall clock, kept
//! across holds); when nothing but approvals and window holds is left, the run is held
//! (`waiting`, exit 3) and `pipec resume` takes it up again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::POLL;
use super::record::Note;
use super::sched::{Event, Inflight, Sched};
use super::stage::{ActState, ActionIx, StageIx};
use crate::ir::Action;
use crate::runtime::attempt::append;
use crate::runtime::error::Error;
use crate::runtime::eval::{Value, eval};
use crate::runtime::holds::Decision;
use crate::runtime::status::{ActionStatus, StageStatus};

/// An approval's timeout when its action sets none (LANGUAGE.md §5).
const APPROVAL_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// An approval action's timeout.
pub fn approval_timeout(a: &Action) -> u64 {
    a.timeout_secs.unwrap_or(APPROVAL_TIMEOUT_SECS)
}

/// The approvals of a run that wait for a decision.
#[derive(Default)]
pub(super) struct Approvals {
    /// Waiting now (their futures are in flight): when nothing else is, the run is held.
    pub(super) waiting: BTreeSet<(StageIx, ActionIx)>,
    /// When each began waiting (kept across a hold).
    pub(super) since: BTreeMap<(StageIx, ActionIx), jiff::Timestamp>,
}

/// What ended an approval's wait.
pub(super) enum Approval {
    Decided(Decision),
    TimedOut(u64),
    Stopped,
    /// Something failed meanwhile: see whether it should still wait.
    Recheck,
}

/// Whole seconds from `since` to `now` (none when `now` is earlier).
fn secs_between(since: jiff::Timestamp, now: jiff::Timestamp) -> u64 {
    now.duration_since(since).as_secs().max(0).unsigned_abs()
}

impl<'r, 'a> Sched<'r, 'a> {
    /// Whether a waiting approval should reconsider (its run or its stage failed, or the
    /// run is stopping): its future wakes up to do so.
    pub(super) fn approvals_to_recheck(&self) -> bool {
        self.end.failed.is_some()
            || self.stopping()
            || self
                .approvals
                .waiting
                .iter()
                .any(|&(i, _)| self.stages[i].any(|a| a == ActState::Failed))
    }

    /// Every approval in flight waits for a decision and nothing else can go on: the run is
    /// held (its stages say what they wait for).
    pub(super) fn hold_approvals(&mut self) -> Result<(), Error> {
        self.end.held = true;
        let run = self.run;
        let stages: BTreeSet<StageIx> = self.approvals.waiting.iter().map(|&(i, _)| i).collect();
        for i in stages {
            let stage = self.ir_stage(i);
            let names: Vec<String> = self
                .approvals
                .waiting
                .iter()
                .filter(|&&(k, _)| k == i)
                .map(|&(_, j)| format!("{}.{}", stage.name, j.of(stage).name))
                .collect();
            let detail = match names.as_slice() {
                [one] => format!(
                    "waiting for approval: `pipec approve {} {one}`, then `pipec resume {}`",
                    run.run_id, run.run_id
                ),
                _ => format!(
                    "waiting for approval of {}: `pipec approve {} STAGE.ACTION` for each, then `pipec resume {}`",
                    names.join(", "),
                    run.run_id,
                    run.run_id
                ),
            };
            self.stage_record(i, StageStatus::Waiting, &detail, None, None)?;
        }
        Ok(())
    }

    /// An approval action starts (or, resumed, starts again) waiting for its decision.
    pub(super) fn start_approval(
        &mut self,
        i: StageIx,
        j: ActionIx,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        // One attempt however many times the run is held and resumed (it has waited before);
        // asked again (a retry), a new one.
        let waited_before = self.approvals.since.contains_key(&(i, j));
        let act = &mut self.stages[i][j];
        let attempt = if waited_before {
            act.attempts.max(1)
        } else {
            act.attempts + 1
        };
        act.state = ActState::Running;
        act.attempts = attempt;
        // Decided while the run was held: no need to say again that it waits.
        if waited_before
            && run
                .history
                .decision(run.run_id, &stage.name, &a.name)?
                .is_some()
        {
            self.wait_approval(i, j, inflight);
            return Ok(());
        }
        let label = format!("{}.{}", stage.name, a.name);
        let detail = format!(
            "needs a decision{}: `pipec approve {} {label}` or `pipec reject …`",
            self.about(a),
            run.run_id
        );
        let log = self.log_path(&format!("{label}.{attempt}"));
        let _ = append(&log, &format!("pipec: {detail}\n"));
        let log_text = log.to_string_lossy().into_owned();
        self.record(
            i,
            j,
            Note::new(ActionStatus::Waiting, attempt, &detail).log(Some(&log_text)),
        )?;
        self.wait_approval(i, j, inflight);
        Ok(())
    }

    /// What an approval says of itself (its summary, url and approvers), as ` (…)`.
    fn about(&self, a: &Action) -> String {
        let text = |name: &str| {
            a.params
                .get(name)
                .and_then(|e| eval(e, &self.scope).ok())
                .map(|v| v.text())
                .filter(|t| !t.is_empty())
        };
        let mut about = Vec::new();
        if let Some(s) = text("summary") {
            about.push(s);
        }
        if let Some(u) = text("url") {
            about.push(u);
        }
        if let Some(Value::List(l)) = a
            .params
            .get("approvers")
            .and_then(|e| eval(e, &self.scope).ok())
        {
            if !l.is_empty() {
                let names: Vec<String> = l.iter().map(Value::text).collect();
                about.push(format!("approvers: {}", names.join(", ")));
            }
        }
        if about.is_empty() {
            String::new()
        } else {
            format!(" ({})", about.join("; "))
        }
    }

    /// Starts waiting for a decision on approval action `j` of stage `i` (the stage is
    /// running: the action counts as running until it is decided or the run is held).
    pub(super) fn wait_approval(&mut self, i: StageIx, j: ActionIx, inflight: &mut Inflight<'r>) {
        let run = self.run;
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        let wall = (run.options.clock)();
        let since = *self.approvals.since.entry((i, j)).or_insert(wall);
        let secs = approval_timeout(a);
        let waited = secs_between(since, wall);
        let deadline = Instant::now() + Duration::from_secs(secs.saturating_sub(waited));
        // Decided (or out of time) already: no wait, and nothing to hold the run for.
        // A decision made after the approval's time was up does not count.
        let late = |d: &Decision| {
            d.at.parse::<jiff::Timestamp>()
                .is_ok_and(|at| secs_between(since, at) >= secs)
        };
        let now = match run.history.decision(run.run_id, &stage.name, &a.name) {
            Ok(Some(d)) if late(&d) => Some(Ok(Approval::TimedOut(secs))),
            Ok(Some(d)) => Some(Ok(Approval::Decided(d))),
            Ok(None) if Instant::now() >= deadline => Some(Ok(Approval::TimedOut(secs))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        };
        if let Some(outcome) = now {
            inflight.push(Box::pin(async move {
                Event::Approval {
                    stage: i,
                    action: j,
                    outcome,
                }
            }));
            return;
        }
        self.approvals.waiting.insert((i, j));
        let mut stop = run.stop.clone();
        let mut halt = self.halt.subscribe();
        let (history, run_id) = (run.history, run.run_id);
        let (sname, aname): (&'a str, &'a str) = (&stage.name, &a.name);
        inflight.push(Box::pin(async move {
            let outcome = loop {
                match history.decision(run_id, sname, aname) {
                    Ok(Some(d)) => break Ok(Approval::Decided(d)),
                    Ok(None) => {}
                    Err(e) => break Err(e),
                }
                let now = Instant::now();
                if now >= deadline {
                    break Ok(Approval::TimedOut(secs));
                }
                tokio::select! {
                    () = tokio::time::sleep_until(deadline.min(now + POLL * 5)) => {}
                    _ = stop.wait_for(|level| *level > 0) => break Ok(Approval::Stopped),
                    _ = halt.changed() => break Ok(Approval::Recheck),
                }
            };
            Event::Approval {
                stage: i,
                action: j,
                outcome,
            }
        }));
    }

    /// An approval's wait ended: decided, timed out, stopped, or to look again.
    pub(super) fn approval_ended(
        &mut self,
        i: StageIx,
        j: ActionIx,
        outcome: Approval,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        self.approvals.waiting.remove(&(i, j));
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        let attempt = self.stages[i][j].attempts;
        let log = self.log_path(&format!("{}.{}.{attempt}", stage.name, a.name));
        let log_text = log.to_string_lossy().into_owned();
        let (next, status, detail) = match outcome {
            Approval::Recheck => {
                let why = match (&self.end.failed, self.stages[i].first_failed()) {
                    (Some(at), _) => format!("not decided: the run failed at `{at}`"),
                    (None, Some(k)) => {
                        format!("not decided: `{}` of its stage failed", k.of(stage).name)
                    }
                    (None, None) => {
                        self.wait_approval(i, j, inflight);
                        return Ok(());
                    }
                };
                // Not decided, as an action that never started: the stage's failure (and
                // its `on failure` policy, which may ask again) is decided as usual.
                (ActState::Pending, ActionStatus::Abandoned, why)
            }
            Approval::Stopped => (
                ActState::Abandoned,
                ActionStatus::Abandoned,
                "not decided: the run was stopped".to_string(),
            ),
            Approval::TimedOut(secs) => (
                ActState::Failed,
                ActionStatus::Failed,
                format!(
                    "no decision within its timeout ({}); the approval failed",
                    crate::duration::format(secs)
                ),
            ),
            Approval::Decided(d) if d.approved => {
                (ActState::Succeeded, ActionStatus::Succeeded, d.describe())
            }
            Approval::Decided(d) => (ActState::Failed, ActionStatus::Failed, d.describe()),
        };
        let _ = append(&log, &format!("pipec: {detail}\n"));
        self.stages[i][j].state = next;
        let log_field = log.exists().then_some(log_text.as_str());
        let wall = (self.run.options.clock)();
        let secs = self
            .approvals
            .since
            .get(&(i, j))
            .map_or(0.0, |t| wall.duration_since(*t).as_secs_f64());
        self.record(
            i,
            j,
            Note::new(status, attempt, &detail)
                .log(log_field)
                .secs(secs),
        )
    }
}
