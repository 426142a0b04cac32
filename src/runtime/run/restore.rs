//! Taking up a recorded run (`pipec resume`, `pipec retry`) or a rollback run's source:
//! what ended stays ended (and is not recorded again); a stage that was running goes on
//! with the actions that had not finished; a retry also runs the failed or abandoned
//! stages again. What an earlier process left in the work folder is cleared first.

use std::path::Path;

use super::Start;
use super::sched::Sched;
use super::stage::{ActState, ActionIx, Phase, StageIx};
use crate::ir::Kind;
use crate::runtime::error::Error;
use crate::runtime::plan::Verdict;
use crate::runtime::state::{Recorded, RecordedStage};
use crate::runtime::status::{ActionStatus, Decided, StageStatus};

/// Removes what a process that ended before left of its attempts in `work` (their
/// processes are gone: the caller swept them): stale workspaces and `$PIPEC_OUTPUT` files.
/// Kept workspaces of failed attempts stay.
pub(super) fn remove_stale(work: &Path) {
    for entry in std::fs::read_dir(work).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = |prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)
                .and_then(|n| n.strip_suffix(suffix))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if stale("ws", "") {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if stale("out", ".env") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl<'a> Sched<'_, 'a> {
    /// Starts from where `run.start` says.
    pub(super) fn take_up(&mut self) -> Result<(), Error> {
        let run = self.run;
        match run.start {
            Start::Fresh => {}
            Start::Resume(rec) => self.restore(rec, None)?,
            Start::Retry { rec, all } => self.restore(rec, Some(*all))?,
            Start::Rollback { stage, source } => self.restore_rollback(stage, source)?,
        }
        if matches!(run.start, Start::Resume(_) | Start::Retry { .. }) {
            // A crash may have left it holding a stage it had left, or never entered.
            let going_on: Vec<&str> = self
                .stages
                .ixs()
                .filter(|&i| self.stages[i].phase == Phase::Locking)
                .map(|i| self.ir_stage(i).name.as_str())
                .collect();
            run.history
                .keep_locks(&run.ir.pipeline.name, run.run_id, &going_on)?;
        }
        Ok(())
    }

    /// Takes up a recorded run. `retry` (`Some(all)`) also runs the failed or abandoned
    /// stages again (all their actions, or the failed and unfinished ones).
    fn restore(&mut self, rec: &Recorded, retry: Option<bool>) -> Result<(), Error> {
        let run = self.run;
        self.scope.exports.clone_from(&rec.exports);
        for rs in &rec.stages {
            let Some(i) = run
                .ir
                .pipeline
                .stages
                .iter()
                .position(|s| s.name == rs.name)
                .map(StageIx)
            else {
                continue;
            };
            let stage = self.ir_stage(i);
            let again = retry.is_some()
                && matches!(rs.status, StageStatus::Failed | StageStatus::Abandoned);
            let all = again && retry == Some(true);
            if !again {
                let s = &mut self.stages[i];
                s.rounds_left = s.rounds_left.saturating_sub(rs.rounds);
            }
            let started_any = self.restore_actions(i, rs, again, all)?;
            let name: &'a str = &stage.name;
            let reason = rs.reason.clone().unwrap_or_default();
            let done = match (rs.status, rs.verdict) {
                (StageStatus::Succeeded, _) => Some(Verdict::Runs),
                (StageStatus::Skipped, Some(Decided::NotReached)) => {
                    Some(Verdict::NotReached(reason))
                }
                (StageStatus::Skipped, _) => Some(Verdict::Skipped(reason)),
                (StageStatus::Failed, _) if !again => Some(Verdict::Fails(reason)),
                _ => None,
            };
            if let Some(verdict) = done {
                self.stages[i].phase = Phase::Done;
                if matches!(verdict, Verdict::Fails(_)) {
                    self.end.failed.get_or_insert_with(|| name.to_string());
                }
                self.scope.statuses.insert(name.to_string(), rs.status);
                self.verdicts.insert(name, verdict);
                continue;
            }
            // Running (or waiting for an approval, or to run again): into the stage again,
            // past its entry. Not decided yet, or held at a transition: decided again.
            // (An earlier process may have recorded its entry being evaluated.)
            self.stages[i].evaluating = Some(crate::runtime::holds::StageCondition::Entry);
            let entered = rs.verdict == Some(Decided::Runs) || started_any;
            self.stages[i].phase = if entered {
                Phase::Locking
            } else {
                Phase::Waiting
            };
            if again {
                self.retry_stage(i, entered)?;
            }
        }
        Ok(())
    }

    /// Takes up the actions of stage `i` as `rs` recorded them (`again`: the stage runs
    /// again, `all` of its actions). Whether any had started.
    fn restore_actions(
        &mut self,
        i: StageIx,
        rs: &RecordedStage,
        again: bool,
        all: bool,
    ) -> Result<bool, Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let mut started_any = false;
        for ra in &rs.actions {
            let Some(j) = stage
                .actions
                .iter()
                .position(|a| a.name == ra.name)
                .map(ActionIx)
            else {
                continue;
            };
            let next = match ra.status {
                ActionStatus::Succeeded if !all => ActState::Succeeded,
                ActionStatus::Skipped if !all => ActState::Skipped,
                ActionStatus::Failed if !again => ActState::Failed,
                _ => ActState::Pending,
            };
            // An approval asked again is decided again.
            if again && next == ActState::Pending && j.of(stage).kind == Kind::Approval {
                run.history
                    .forget_decision(run.run_id, &stage.name, &ra.name)?;
            }
            started_any |= ra.status != ActionStatus::Pending;
            if ra.status == ActionStatus::Waiting {
                if let Some(t) = ra.started.as_deref().and_then(|t| t.parse().ok()) {
                    self.approvals.since.insert((i, j), t);
                }
            }
            let act = &mut self.stages[i][j];
            act.state = next;
            act.attempts = ra.attempts;
        }
        Ok(started_any)
    }

    /// `pipec retry`: stage `i` runs again, recorded before anything runs (a crash during
    /// the retry resumes it).
    fn retry_stage(&mut self, i: StageIx, entered: bool) -> Result<(), Error> {
        let s = &mut self.stages[i];
        s.checks.clear();
        s.exit_checks.clear();
        let reset: Vec<ActionIx> = s
            .each()
            .filter(|(_, a)| a.state == ActState::Pending)
            .map(|(j, _)| j)
            .collect();
        self.record_pending(i, &reset)?;
        let (status, verdict) = if entered {
            (StageStatus::Running, Some(Decided::Runs))
        } else {
            (StageStatus::Pending, None)
        };
        self.stage_record(i, status, "retrying", verdict, Some(0))
    }

    /// A rollback run: only `stage` runs (at once, with no entry condition); every other
    /// stage is as it was in `source`, whose exports and artifacts the stage's actions see.
    fn restore_rollback(&mut self, stage: &str, source: &Recorded) -> Result<(), Error> {
        let run = self.run;
        let Some(target) = run
            .ir
            .pipeline
            .stages
            .iter()
            .position(|s| s.name == stage)
            .map(StageIx)
        else {
            return Err(Error::NoStage {
                pipeline: run.ir.pipeline.name.clone(),
                stage: stage.to_string(),
            });
        };
        self.scope.exports = source
            .exports
            .iter()
            .filter(|((s, _, _), _)| s != stage)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for i in self.stages.ixs() {
            let name: &'a str = &self.ir_stage(i).name;
            if i == target {
                self.stages[i].phase = Phase::Locking;
                continue;
            }
            let status = source
                .stages
                .iter()
                .find(|r| r.name == name)
                .map_or(StageStatus::Skipped, |r| r.status);
            let why = format!("not part of the rollback of `{stage}`");
            self.end_stage(i, StageStatus::Skipped, &why, Verdict::Runs)?;
            // Expressions see the stages as they were in the source run.
            self.scope.statuses.insert(name.to_string(), status);
        }
        Ok(())
    }
}
