//! How a stage ends once its actions are over for a round: `on failure` (retry the round,
//! roll back, or fail), `on success` (its checks, then its rules), or succeeded; and the
//! end itself, recorded before the stage's lock is given up.

use super::checks::unrun_checks;
use super::sched::{Inflight, Sched};
use super::stage::{ActState, ActionIx, Phase, StageIx};
use crate::ir::{ElseResult, FailurePolicy, Kind, RetryScope};
use crate::runtime::error::Error;
use crate::runtime::holds::StageCondition;
use crate::runtime::plan::Verdict;
use crate::runtime::state::{ActionUpdate, Commit};
use crate::runtime::status::{ActionStatus, Decided, RunStatus, StageStatus};

/// What ends a run other than running out of work.
#[derive(Default)]
pub(super) struct Ending {
    /// The stage whose failure fails the run: nothing new starts.
    pub(super) failed: Option<String>,
    /// The newer run that superseded this one.
    pub(super) superseded: Option<String>,
    /// A stage is held (an approval, a disabled transition, a closed window).
    pub(super) held: bool,
}

impl Ending {
    /// How the run ends once nothing is in flight (`stopping`: a stop was asked for).
    pub(super) fn status(&self, stopping: bool) -> RunStatus {
        if stopping {
            RunStatus::Stopped
        } else if self.superseded.is_some() {
            RunStatus::Superseded
        } else if self.failed.is_some() {
            RunStatus::Failed
        } else if self.held {
            RunStatus::Waiting
        } else {
            RunStatus::Succeeded
        }
    }
}

impl<'r, 'a> Sched<'r, 'a> {
    /// Whether stage `i`'s actions are over for this round: nothing running or backing off,
    /// and either all ended or nothing more will start.
    pub(super) fn actions_settled(&self, i: StageIx) -> bool {
        let s = &self.stages[i];
        if s.any(|a| matches!(a, ActState::Running | ActState::Backoff)) {
            return false;
        }
        let blocked = self.end.failed.is_some() || self.stopping() || s.any(ActState::broken);
        blocked || s.actions.iter().all(|a| a.state.done_well())
    }

    /// Stage `i`'s actions are over: succeed (after `on success`), retry, or fail.
    pub(super) fn actions_done(
        &mut self,
        i: StageIx,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        let s = &self.stages[i];
        let failed = s
            .actions
            .iter()
            .filter(|a| a.state == ActState::Failed)
            .count();
        let abandoned = s.any(|a| a == ActState::Abandoned);
        let all_ended = s.actions.iter().all(|a| a.state.done_well());
        if abandoned || (self.stopping() && !all_ended) {
            return self.end_stage(
                i,
                StageStatus::Abandoned,
                "the run was stopped",
                Verdict::Fails("stopped".into()),
            );
        }
        if failed == 0 && !all_ended {
            // Another stage failed the run before this one could finish.
            let why = format!(
                "not finished: the run failed at `{}`",
                self.end.failed.clone().unwrap_or_default()
            );
            return self.end_stage(i, StageStatus::Abandoned, &why, Verdict::Fails(why.clone()));
        }
        if failed > 0 {
            let why = if failed == 1 {
                "an action failed".to_string()
            } else {
                format!("{failed} actions failed")
            };
            return match stage.on_failure {
                FailurePolicy::Retry { scope, count }
                    if self.stages[i].rounds_left > 0
                        && self.end.failed.is_none()
                        && !self.stopping()
                        && self.expired(i).is_none() =>
                {
                    self.retry_round(i, scope, count)
                }
                FailurePolicy::Rollback if !self.stopping() => self.roll_back(i, why, inflight),
                _ => self.fail_stage(i, &why),
            };
        }
        // All succeeded or were skipped: `on success` decides (unless it was overridden).
        let run = self.run;
        let overridden = match &stage.on_success {
            Some(_) => {
                run.history
                    .condition_override(run.run_id, &stage.name, StageCondition::Success)?
            }
            None => None,
        };
        if let Some(o) = &overridden {
            self.stage_status(i, StageStatus::Running, &o.describe())?;
        }
        if let Some(cond) = stage.on_success.as_ref().filter(|_| overridden.is_none()) {
            let unrun = unrun_checks(cond, &self.stages[i].exit_checks);
            if !unrun.is_empty() {
                self.stages[i].phase = Phase::Exit;
                self.evaluating(i, Some(StageCondition::Success))?;
                return self.start_checks(i, &cond.rules, &unrun, "on-success", inflight);
            }
            if let Some(why) = self.condition_fails(i, cond) {
                return match cond.otherwise {
                    ElseResult::Rollback if !self.stopping() => {
                        self.roll_back(i, format!("on success: {why}"), inflight)
                    }
                    _ => self.fail_stage(i, &format!("on success: {why}")),
                };
            }
        }
        self.end_stage(i, StageStatus::Succeeded, "", Verdict::Runs)
    }

    /// `on failure retry`: another round of stage `i` (of `count`), with all its actions or
    /// the failed and unfinished ones.
    fn retry_round(&mut self, i: StageIx, scope: RetryScope, count: u32) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let s = &mut self.stages[i];
        s.rounds_left -= 1;
        let used = count - s.rounds_left;
        let mut reset = Vec::new();
        for (j, act) in s.actions.iter_mut().enumerate() {
            let again = match scope {
                RetryScope::All => true,
                RetryScope::Failed => matches!(act.state, ActState::Failed | ActState::Pending),
            };
            if again {
                act.state = ActState::Pending;
                reset.push(ActionIx(j));
            }
        }
        // Approvals asked again are decided again.
        for &j in &reset {
            let a = j.of(stage);
            if a.kind == Kind::Approval {
                self.approvals.since.remove(&(i, j));
                run.history
                    .forget_decision(run.run_id, &stage.name, &a.name)?;
            }
        }
        // Recorded with the round, so that a crash now does not lose the round.
        self.record_pending(i, &reset)?;
        let detail = format!("on failure: retrying ({scope:?} actions)").to_lowercase();
        self.stage_record(i, StageStatus::Running, &detail, None, Some(used))
    }

    /// Stage `i` ends: recorded (a skipped stage's actions too), then its lock is left.
    pub(super) fn end_stage(
        &mut self,
        i: StageIx,
        status: StageStatus,
        detail: &str,
        verdict: Verdict,
    ) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        let name: &'a str = &stage.name;
        if status == StageStatus::Skipped {
            // A skipped stage's actions are skipped too (committed with the stage's end).
            for a in &stage.actions {
                let update = ActionUpdate {
                    status: ActionStatus::Skipped,
                    commit: Commit::Queued,
                    attempt: 0,
                    exit_code: None,
                    log: None,
                };
                self.run
                    .history
                    .action(self.run.run_id, name, &a.name, &update)?;
            }
        }
        self.evaluating(i, None)?;
        self.stages[i].phase = Phase::Done;
        self.scope.statuses.insert(name.to_string(), status);
        let code = match &verdict {
            Verdict::Runs | Verdict::RunsOrSkipped(_) => Decided::Runs,
            Verdict::Skipped(_) => Decided::Skipped,
            Verdict::NotReached(_) => Decided::NotReached,
            Verdict::Held(_) | Verdict::Waits(_) => Decided::Held,
            Verdict::Fails(_) | Verdict::Depends(_) | Verdict::AfterFailure(_) => Decided::Fails,
        };
        self.verdicts.insert(name, verdict);
        self.stage_record(i, status, detail, Some(code), None)?;
        // The stage's end is in the history: the next run may enter.
        if std::mem::take(&mut self.stages[i].entered) {
            self.run
                .history
                .unlock(&self.run.ir.pipeline.name, name, self.run.run_id)?;
        }
        Ok(())
    }

    /// Stage `i` fails, and with it the run: nothing new starts.
    pub(super) fn fail_stage(&mut self, i: StageIx, why: &str) -> Result<(), Error> {
        let name = &self.ir_stage(i).name;
        self.end.failed.get_or_insert_with(|| name.clone());
        self.halt.send_modify(|n| *n += 1);
        self.end_stage(i, StageStatus::Failed, why, Verdict::Fails(why.to_string()))
    }
}
