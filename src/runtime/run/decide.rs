//! Deciding a stage once its sources have ended (`plan::stage_verdict`, shared with the
//! dry run, decides; the run asks the clock, the checks it ran and the transition
//! overrides in force), and entering it: in `superseded` and `queued` modes only with its
//! stage lock (`runtime::locks`), looking again every `POLL` while another run holds it.

use std::time::Duration;

use tokio::time::Instant;

use super::POLL;
use super::checks::{rule_known_at, unrun_checks};
use super::sched::{Event, Inflight, Sched};
use super::stage::{Phase, StageIx};
use crate::ir::{CondRule, Mode, Stage};
use crate::runtime::error::Error;
use crate::runtime::locks::Lock;
use crate::runtime::plan::{Verdict, stage_verdict};
use crate::runtime::status::{Decided, StageStatus};

impl<'r> Sched<'r, '_> {
    /// Decides stage `i` (its sources have ended): runs, is skipped, holds, fails, or first
    /// runs its entry checks.
    pub(super) fn decide(&mut self, i: StageIx, inflight: &mut Inflight<'r>) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let patched = self.transitions_now(stage)?;
        let verdict = {
            let checks = &self.stages[i].checks;
            let now = (run.options.clock)();
            let rule = |ri: usize, r: &CondRule| rule_known_at(ri, r, checks, now);
            stage_verdict(
                patched.as_ref().unwrap_or(stage),
                &self.verdicts,
                &self.scope,
                &rule,
            )
        };
        // `else wait`: held for the window, or failed for having waited too long.
        if self.windowed(i, &verdict, inflight)? {
            return Ok(());
        }
        let unrun: Vec<usize> = match (&verdict, &stage.entry) {
            (Verdict::Depends(_) | Verdict::RunsOrSkipped(_), Some(entry)) => {
                unrun_checks(entry, &self.stages[i].checks)
            }
            _ => Vec::new(),
        };
        if !unrun.is_empty() {
            self.stages[i].phase = Phase::Entry;
            self.stage_status(i, StageStatus::Running, "entry checks")?;
            let entry = stage.entry.as_ref().map_or(&[][..], |c| &c.rules[..]);
            return self.start_checks(i, entry, &unrun, "entry", inflight);
        }
        match verdict {
            Verdict::Runs => {
                self.stages[i].phase = Phase::Locking;
                self.enter(i, inflight)?;
            }
            Verdict::Skipped(ref why) | Verdict::NotReached(ref why) => {
                // Not reached: no edge out of it is taken either (the verdict says which).
                let why = why.clone();
                self.end_stage(i, StageStatus::Skipped, &why, verdict)?;
            }
            Verdict::Held(why) => self.hold_stage(i, why)?,
            Verdict::Fails(why) => self.fail_stage(i, &why)?,
            Verdict::Depends(why)
            | Verdict::RunsOrSkipped(why)
            | Verdict::AfterFailure(why)
            | Verdict::Waits(why) => {
                self.fail_stage(i, &format!("cannot decide the entry: {why}"))?;
            }
        }
        Ok(())
    }

    /// Stage `i` is held at a disabled transition (or behind a held stage).
    fn hold_stage(&mut self, i: StageIx, why: String) -> Result<(), Error> {
        self.end.held = true;
        let stage = self.ir_stage(i);
        // Behind a held stage: not held itself, only not decided yet.
        let behind = stage
            .inbound
            .iter()
            .find(|e| matches!(self.verdicts.get(e.from.as_str()), Some(Verdict::Held(_))));
        let (status, detail) = match behind {
            Some(e) => (
                StageStatus::Pending,
                format!("after `{}`, which is held", e.from),
            ),
            None => (
                StageStatus::Waiting,
                format!(
                    "{why}; `pipec resume {}` once it is enabled",
                    self.run.run_id
                ),
            ),
        };
        self.end_stage(i, status, &detail, Verdict::Held(why))
    }

    /// The stage's inbound edges with their state now, when an override changes one (the
    /// overrides are read each time: `pipec transition disable` applies to runs in flight).
    fn transitions_now(&self, stage: &Stage) -> Result<Option<Stage>, Error> {
        if stage.inbound.is_empty() {
            return Ok(None);
        }
        let overrides = self.run.history.overrides(&self.run.ir.pipeline.name)?;
        if overrides.is_empty() {
            return Ok(None);
        }
        let mut patched = stage.clone();
        for e in &mut patched.inbound {
            e.disabled = crate::runtime::holds::effective(
                e.disabled.as_deref(),
                &e.from,
                &stage.name,
                &overrides,
            );
        }
        Ok(Some(patched))
    }

    /// Stage `i` runs once it has its lock (`superseded` and `queued` modes; at once in
    /// `parallel`): enters it, waits (looking again every `POLL`), or ends the run
    /// `superseded`.
    pub(super) fn enter(&mut self, i: StageIx, inflight: &mut Inflight<'r>) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let mode = run.ir.pipeline.mode;
        let first = !std::mem::replace(&mut self.stages[i].lock_shown, true);
        match run
            .history
            .lock(&run.ir.pipeline.name, &stage.name, run.run_id, mode)?
        {
            Lock::Taken => {
                let s = &mut self.stages[i];
                s.phase = Phase::Actions;
                s.entered = mode != Mode::Parallel;
                s.started = Instant::now();
                s.deadline = stage
                    .timeout_secs
                    .map(|t| s.started + Duration::from_secs(t));
                self.stage_record(i, StageStatus::Running, "", Some(Decided::Runs), None)
            }
            Lock::Waiting { holder } => {
                if first {
                    let mode = format!("{mode:?}").to_lowercase();
                    let detail = format!("waiting for run {holder} to leave it ({mode} mode)");
                    self.stage_record(i, StageStatus::Pending, &detail, None, None)?;
                }
                self.stages[i].polling = true;
                let nap = self.nap(Instant::now() + POLL);
                inflight.push(Box::pin(async move {
                    nap.await;
                    Event::LockPoll { stage: i }
                }));
                Ok(())
            }
            Lock::Superseded { by } => {
                self.end.superseded = Some(by.clone());
                self.end.failed.get_or_insert_with(|| stage.name.clone());
                self.halt.send_modify(|n| *n += 1);
                let detail = format!("superseded: run {by} is newer and waits for this stage");
                self.stage_record(i, StageStatus::Pending, &detail, None, None)
            }
        }
    }
}
