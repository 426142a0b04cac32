//! Recording: every change of a stage or an action goes to the history, then to the
//! progress the CLI shows. How an action's change is committed is decided here: every end
//! is in the history's journal before `record` returns (committed within `MAX_QUEUED`), so
//! it is durable before the scheduler starts anything else, and an ended attempt's
//! `--jobs` slot is free at once; an approval's wait and end commit at once (another
//! terminal decides it); "running" marks are queued.

use std::path::PathBuf;

use super::Progress;
use super::sched::Sched;
use super::stage::{ActionIx, StageIx};
use crate::runtime::error::Error;
use crate::runtime::exec;
use crate::runtime::state::{ActionUpdate, Commit, StageUpdate};
use crate::runtime::status::{ActionStatus, Decided, StageStatus};

/// A change of an action to record: its status and what goes with it.
#[derive(Clone, Copy)]
pub(super) struct Note<'x> {
    pub(super) status: ActionStatus,
    pub(super) attempt: u32,
    pub(super) exit_code: Option<i32>,
    pub(super) log: Option<&'x str>,
    /// How long it took (shown).
    pub(super) secs: f64,
    /// Why it failed or was skipped, … (shown).
    pub(super) detail: &'x str,
}

impl<'x> Note<'x> {
    pub(super) fn new(status: ActionStatus, attempt: u32, detail: &'x str) -> Note<'x> {
        Note {
            status,
            attempt,
            exit_code: None,
            log: None,
            secs: 0.0,
            detail,
        }
    }

    pub(super) fn exit(self, exit_code: Option<i32>) -> Note<'x> {
        Note { exit_code, ..self }
    }

    pub(super) fn log(self, log: Option<&'x str>) -> Note<'x> {
        Note { log, ..self }
    }

    pub(super) fn secs(self, secs: f64) -> Note<'x> {
        Note { secs, ..self }
    }
}

impl Sched<'_, '_> {
    /// Records actions of stage `i` as `pending` again (queued: committed with the stage's
    /// change that comes next).
    pub(super) fn record_pending(&self, i: StageIx, actions: &[ActionIx]) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        for &j in actions {
            let update = ActionUpdate {
                status: ActionStatus::Pending,
                commit: Commit::Queued,
                attempt: 0,
                exit_code: None,
                log: None,
            };
            self.run
                .history
                .action(self.run.run_id, &stage.name, &j.of(stage).name, &update)?;
        }
        Ok(())
    }

    /// Records a stage's status with why (no verdict), then shows it.
    pub(super) fn stage_status(
        &self,
        i: StageIx,
        status: StageStatus,
        detail: &str,
    ) -> Result<(), Error> {
        self.stage_record(i, status, detail, None, None)
    }

    /// Records a stage's change (with how it was decided and why), then shows it.
    pub(super) fn stage_record(
        &self,
        i: StageIx,
        status: StageStatus,
        detail: &str,
        verdict: Option<Decided>,
        rounds: Option<u32>,
    ) -> Result<(), Error> {
        let name = &self.ir_stage(i).name;
        let detail = &exec::mask(detail, &self.masks);
        let update = StageUpdate {
            status,
            verdict,
            reason: (!detail.is_empty()).then_some(detail),
            rounds,
        };
        self.run.history.stage(self.run.run_id, name, &update)?;
        (self.run.report)(Progress::Stage {
            stage: name.clone(),
            status,
            detail: detail.into(),
        });
        Ok(())
    }

    /// Records an action's change in the history, then shows it.
    pub(super) fn record(&mut self, i: StageIx, j: ActionIx, note: Note<'_>) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        let a = j.of(stage);
        let status = note.status;
        // Every end is durable at once, before the scheduler starts anything else: after a
        // crash nothing that finished runs again, and at most the attempts that were running
        // (`--jobs`) do. The journal takes it in one `write` (a commit costs ten times that:
        // on 1000 short actions, a tenth of the run); it commits with the next commit.
        // An approval's end commits at once: `pipec approve` in another terminal must not
        // take it for still waiting.
        let commit = match status {
            ActionStatus::Running => Commit::Queued,
            s if s.ended() && a.kind != crate::ir::Kind::Approval => Commit::Journaled,
            _ => Commit::Now,
        };
        if status == ActionStatus::Failed {
            // Actions waiting out a retry backoff reconsider.
            self.halt.send_modify(|n| *n += 1);
        }
        self.run.history.action(
            self.run.run_id,
            &stage.name,
            &a.name,
            &ActionUpdate {
                status,
                commit,
                attempt: note.attempt,
                exit_code: note.exit_code,
                log: note.log,
            },
        )?;
        (self.run.report)(Progress::Action {
            stage: stage.name.clone(),
            action: a.name.clone(),
            status,
            attempt: note.attempt,
            secs: note.secs,
            detail: note.detail.to_string(),
            log: note.log.map(PathBuf::from),
        });
        Ok(())
    }

    /// The log of `name` (`STAGE.ACTION.ATTEMPT`, `STAGE.entry.CHECK.1`) in this run.
    pub(super) fn log_path(&self, name: &str) -> PathBuf {
        self.run.history.layout().log(self.run.run_id, name)
    }
}
