//! Deciding a stage once its sources have ended (`plan::stage_verdict`, shared with the
//! dry run, decides; the run asks the clock, the checks it ran, the transition overrides in
//! force and whether its entry condition was overridden), and entering it: in `superseded`
//! and `queued` modes only with its stage lock (`runtime::locks`), looking again every `POLL`
//! while another run holds it (and settling that run when no process runs it). A run held at
//! a disabled transition waits for the stage under the execution mode too: a newer run held
//! there supersedes it.

use std::time::Duration;

use tokio::time::Instant;

use super::checks::{rule_known_at, unrun_checks};
use super::sched::{Event, Inflight, Sched};
use super::stage::{Phase, StageIx};
use super::{POLL, Start};
use crate::ir::{CondRule, Mode, Stage};
use crate::runtime::error::Error;
use crate::runtime::holds::StageCondition;
use crate::runtime::locks::Lock;
use crate::runtime::plan::{Known, Verdict, decide, stage_verdict};
use crate::runtime::status::{Decided, StageStatus};

impl<'r, 'a> Sched<'r, 'a> {
    /// Decides stage `i` (its sources have ended): runs, is skipped, holds, fails, or first
    /// runs its entry checks.
    pub(super) fn decide(&mut self, i: StageIx, inflight: &mut Inflight<'r>) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let mut patched = self.transitions_now(stage)?;
        // `pipec override RUN STAGE entry`: the entry condition counts as met.
        let overridden = match &stage.entry {
            Some(_) => {
                run.history
                    .condition_override(run.run_id, &stage.name, StageCondition::Entry)?
            }
            None => None,
        };
        if overridden.is_some() {
            patched.get_or_insert_with(|| stage.clone()).entry = None;
        }
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
        if !matches!(run.start, Start::Fresh) && !matches!(verdict, Verdict::Held(_)) {
            // Held at a transition into it before, perhaps: no longer.
            run.history
                .unhold(&run.ir.pipeline.name, &stage.name, run.run_id)?;
        }
        if let Some(o) = &overridden {
            self.window_over(i)?;
            self.stage_status(i, StageStatus::Pending, &o.describe())?;
        } else if self.windowed(i, &verdict, inflight)? {
            // `else wait`: held for the window, or failed for having waited too long.
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
            self.evaluating(i, Some(StageCondition::Entry))?;
            self.stage_status(i, StageStatus::Running, "entry checks")?;
            let entry = stage.entry.as_ref().map_or(&[][..], |c| &c.rules[..]);
            return self.start_checks(i, entry, &unrun, "entry", inflight);
        }
        match verdict {
            Verdict::Runs => {
                // Its entry is decided (it may still wait for the stage's lock).
                self.evaluating(i, None)?;
                self.stages[i].phase = Phase::Locking;
                self.enter(i, inflight)?;
            }
            Verdict::Skipped(ref why) | Verdict::NotReached(ref why) => {
                // Not reached: no edge out of it is taken either (the verdict says which).
                let why = why.clone();
                self.end_stage(i, StageStatus::Skipped, &why, verdict)?;
            }
            Verdict::Held(why) => {
                let from = self.held_edge(patched.as_ref().unwrap_or(stage));
                self.hold_stage(i, why, from)?;
            }
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

    /// The source of the disabled transition that holds `stage` (its inbound edges as they
    /// are now): the first whose source completed and whose guard holds, as
    /// `plan::stage_verdict` decides.
    fn held_edge(&self, stage: &Stage) -> Option<&'a str> {
        let ir_stage = self
            .run
            .ir
            .pipeline
            .stages
            .iter()
            .find(|s| s.name == stage.name)?;
        stage
            .inbound
            .iter()
            .zip(&ir_stage.inbound)
            .find(|(e, _)| {
                e.disabled.is_some()
                    && matches!(
                        self.verdicts.get(e.from.as_str()),
                        Some(Verdict::Runs | Verdict::Skipped(_) | Verdict::RunsOrSkipped(_))
                    )
                    && e.guard
                        .as_ref()
                        .is_none_or(|g| matches!(decide(g, &self.scope), Known::Yes))
            })
            .map(|(_, declared)| declared.from.as_str())
    }

    /// Stage `i` is held at a disabled transition (whose source is `from`), or behind a
    /// held stage. Held at the transition, the run waits for the stage under the execution
    /// mode (`runtime::locks`): a newer run held there supersedes it.
    fn hold_stage(&mut self, i: StageIx, why: String, from: Option<&str>) -> Result<(), Error> {
        self.end.held = true;
        let run = self.run;
        let stage = self.ir_stage(i);
        // Behind a held stage: not held itself, only not decided yet.
        let behind = stage
            .inbound
            .iter()
            .find(|e| matches!(self.verdicts.get(e.from.as_str()), Some(Verdict::Held(_))));
        let (status, detail) = match (behind, from) {
            (Some(e), _) => (
                StageStatus::Pending,
                format!("after `{}`, which is held", e.from),
            ),
            (None, Some(from)) => {
                let mode = run.ir.pipeline.mode;
                let pipeline = &run.ir.pipeline.name;
                if let Some(by) =
                    run.history
                        .hold_at(pipeline, &stage.name, from, run.run_id, mode)?
                {
                    return self.superseded(i, &by, "waits at the same transition");
                }
                (
                    StageStatus::Waiting,
                    format!("{why}; `pipec resume {}` once it is enabled", run.run_id),
                )
            }
            (None, None) => (
                StageStatus::Waiting,
                format!("{why}; `pipec resume {}` once it is enabled", run.run_id),
            ),
        };
        self.end_stage(i, status, &detail, Verdict::Held(why))
    }

    /// The run is superseded by `by`, a newer run that `what` (waits for stage `i`):
    /// nothing new starts, and the run ends `superseded`.
    fn superseded(&mut self, i: StageIx, by: &str, what: &str) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        self.end.superseded = Some(by.to_string());
        self.end.failed.get_or_insert_with(|| stage.name.clone());
        self.halt.send_modify(|n| *n += 1);
        let detail = format!("superseded: run {by} is newer and {what}");
        self.stage_record(i, StageStatus::Pending, &detail, None, None)
    }

    /// Records which condition of stage `i` is being evaluated (what `pipec override` may
    /// override), or that none is.
    pub(super) fn evaluating(
        &mut self,
        i: StageIx,
        c: Option<StageCondition>,
    ) -> Result<(), Error> {
        if c == self.stages[i].evaluating {
            return Ok(());
        }
        let run = self.run;
        run.history
            .set_evaluating(run.run_id, &self.ir_stage(i).name, c)?;
        self.stages[i].evaluating = c;
        Ok(())
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
                self.evaluating(i, None)?;
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
                let mode = format!("{mode:?}").to_lowercase();
                let detail = format!("waiting for run {holder} to leave it ({mode} mode)");
                self.wait_for_lock(i, first, &holder, &detail, inflight)
            }
            Lock::Behind { first: before } => {
                let mode = format!("{mode:?}").to_lowercase();
                let detail = format!(
                    "waiting for run {before}, which waits for this stage since before, to go first ({mode} mode)"
                );
                self.wait_for_lock(i, first, &before, &detail, inflight)
            }
            Lock::Superseded { by } => self.superseded(i, &by, "waits for this stage"),
        }
    }

    /// Stage `i` waits for its lock, which `other` holds (or, queued, waits for since
    /// before): shown the first time (`first`), looked at again in `POLL`.
    fn wait_for_lock(
        &mut self,
        i: StageIx,
        first: bool,
        other: &str,
        detail: &str,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let run = self.run;
        // A state directory removed under a waiting run (a temporary one, a `rm -rf`) would
        // keep its process waiting for ever, alone.
        let history = run.history.layout().history();
        if !history.exists() {
            return Err(Error::HistoryGone { path: history });
        }
        if first {
            self.stage_record(i, StageStatus::Pending, detail, None, None)?;
        }
        // A held run whose approval was rejected, or is out of time, is failed now (leaving
        // the stage): this run may be the first pipec process to look at it.
        run.history.settle(other, (run.options.clock)())?;
        self.stages[i].polling = true;
        let nap = self.nap(Instant::now() + POLL);
        inflight.push(Box::pin(async move {
            nap.await;
            Event::LockPoll { stage: i }
        }));
        Ok(())
    }
}
