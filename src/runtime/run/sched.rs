//! The scheduler's loop: one current-thread loop over the whole stage graph. Every attempt,
//! backoff, check, approval wait and timer is a future in one `FuturesUnordered` (so they
//! borrow the run instead of being `'static` tasks); each event updates the state, records
//! it in the history, and the loop starts whatever became ready.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::approvals::{Approval, Approvals};
use super::attempts::Slots;
use super::finish::Ending;
use super::stage::{ActionIx, Phase, StageIx, Stages};
use super::{Progress, Run, RunScope, Start, window};
use crate::runtime::attempt::{Failure, Finished, Workspaces};
use crate::runtime::error::Error;
use crate::runtime::plan::{Verdict, topological};
use crate::runtime::status::RunStatus;

/// What a future of the run reports back.
pub(super) enum Event {
    Attempt {
        stage: StageIx,
        action: ActionIx,
        took: Duration,
        workspace: PathBuf,
        result: Result<Finished, Failure>,
    },
    BackoffOver {
        stage: StageIx,
        action: ActionIx,
        /// When the backoff would have ended.
        due: Instant,
    },
    Check {
        stage: StageIx,
        rule: usize,
        /// `STAGE.entry.NAME` or `STAGE.on-success.NAME` (its log is `LABEL.1.log`).
        label: String,
        workspace: PathBuf,
        result: Result<(), String>,
        /// Ended by an override of its condition (`pipec override`): by whom.
        overridden: Option<String>,
    },
    Approval {
        stage: StageIx,
        action: ActionIx,
        outcome: Result<Approval, Error>,
    },
    /// Time to look at a stage lock again.
    LockPoll { stage: StageIx },
    /// A stage held for its deployment window is to be decided again.
    WindowTimer { stage: StageIx },
    /// `on failure rollback` ran: the rollback run's id and how it ended.
    Rollback {
        stage: StageIx,
        /// Why the stage failed.
        why: String,
        /// The run whose inputs it used.
        source: String,
        result: Result<(String, RunStatus), Error>,
    },
}

type EchoChannel = (
    tokio::sync::mpsc::UnboundedSender<(String, String)>,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
);

/// A future of the run in flight.
pub(super) type Pending<'r> = Pin<Box<dyn Future<Output = Event> + 'r>>;

/// The futures in flight.
pub(super) type Inflight<'r> = FuturesUnordered<Pending<'r>>;

/// The state of one run being executed.
pub(super) struct Sched<'r, 'a> {
    pub(super) run: &'r Run<'a>,
    pub(super) scope: RunScope<'a>,
    /// The stages in an order that decides sources before their targets.
    order: Vec<StageIx>,
    pub(super) stages: Stages,
    pub(super) verdicts: BTreeMap<&'a str, Verdict>,
    /// The `--jobs` slots taken.
    pub(super) slots: Slots,
    /// What ends the run other than running out of work: a failure, a newer run, a hold.
    pub(super) end: Ending,
    /// Approvals waiting for a decision.
    pub(super) approvals: Approvals,
    /// Stages held for their deployment windows (`else wait`).
    pub(super) windows: window::Windows,
    /// Artifacts this run has not captured come from this run (a rollback's source).
    pub(super) source: Option<String>,
    /// Changes whenever an action fails for good or the run fails: retry backoffs wake up
    /// to see whether they should still retry.
    pub(super) halt: tokio::sync::watch::Sender<u64>,
    pub(super) workspaces: Workspaces,
    pub(super) outputs: u64,
    pub(super) deadline: Option<Instant>,
    /// `--verbose`: where attempts send their output lines (label, line).
    pub(super) echo: Option<EchoChannel>,
    /// The values of this run's secrets and of the runs it is nested in (`secrets::masks`).
    pub(super) masks: Vec<String>,
}

impl<'r, 'a> Sched<'r, 'a> {
    pub(super) fn new(run: &'r Run<'a>) -> Result<Sched<'r, 'a>, Error> {
        let ir = run.ir;
        let index: BTreeMap<&str, StageIx> = ir
            .pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), StageIx(i)))
            .collect();
        let order = topological(&ir.pipeline.stages)
            .into_iter()
            .filter_map(|s| index.get(s.name.as_str()).copied())
            .collect();
        let now = Instant::now();
        let layout = run.history.layout();
        let work = layout.work(run.run_id);
        for d in [&work, &layout.logs(run.run_id)] {
            std::fs::create_dir_all(d).map_err(|e| Error::Create {
                path: d.clone(),
                source: e.into(),
            })?;
        }
        if !matches!(run.start, Start::Fresh) {
            super::restore::remove_stale(&work);
        }
        let mut sched = Sched {
            run,
            scope: RunScope {
                params: run.values,
                secrets: run.secrets,
                facts: run.facts,
                run_id: run.run_id,
                exports: BTreeMap::new(),
                statuses: BTreeMap::new(),
            },
            order,
            stages: Stages::new(ir, now),
            verdicts: BTreeMap::new(),
            slots: Slots::default(),
            end: Ending::default(),
            approvals: Approvals::default(),
            windows: window::Windows::default(),
            source: run.start.source().map(str::to_string),
            halt: tokio::sync::watch::Sender::new(0),
            workspaces: Workspaces {
                root: work,
                free: Vec::new(),
                next: 0,
                cleanups: Vec::new(),
            },
            outputs: 0,
            // Time the run was active before counts; time it was held does not.
            deadline: ir.pipeline.timeout_secs.map(|s| {
                now + Duration::from_secs(s)
                    .saturating_sub(Duration::from_secs_f64(run.start.spent().max(0.0)))
            }),
            echo: run
                .options
                .verbose
                .then(tokio::sync::mpsc::unbounded_channel),
            masks: run.options.inherited.masks_with(run.secrets),
        };
        sched.take_up()?;
        Ok(sched)
    }

    /// The stage `i` in the IR.
    pub(super) fn ir_stage(&self, i: StageIx) -> &'a crate::ir::Stage {
        i.of(self.run.ir)
    }

    pub(super) fn stopping(&self) -> bool {
        *self.run.stop.borrow() > 0
    }

    /// Runs until nothing is in flight (or only holds are): how the run ended.
    pub(super) async fn go(&mut self) -> Result<RunStatus, Error> {
        let mut inflight: Inflight<'r> = FuturesUnordered::new();
        loop {
            self.advance(&mut inflight)?;
            if inflight.is_empty() {
                break;
            }
            // Only holds wait (approvals, windows): nothing can go on until someone decides
            // or a window opens (unless something failed meanwhile: then the approvals are
            // asked whether they should still wait).
            let holds = self.approvals.waiting.len() + self.windows.timers;
            if holds == inflight.len() && !self.approvals_to_recheck() {
                self.hold_approvals()?;
                break;
            }
            // Queued history changes are committed within `MAX_QUEUED`, even when nothing
            // else happens meanwhile (someone may be watching with `pipec show`).
            let flush_in = self
                .run
                .history
                .queued_for()
                .map(|t| crate::runtime::state::MAX_QUEUED.saturating_sub(t));
            let flush_due = async {
                match flush_in {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let echo = async {
                match &mut self.echo {
                    Some((_, rx)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                ev = inflight.next() => ev,
                Some((label, line)) = echo => {
                    (self.run.report)(Progress::Output { label, line });
                    continue;
                }
                () = flush_due => {
                    self.run.history.flush()?;
                    continue;
                }
            };
            // Output already written comes before what the event reports.
            self.echo_pending();
            if let Some(event) = event {
                self.handle(event, &mut inflight)?;
            }
        }
        self.echo_pending();
        Ok(self.end.status(self.stopping()))
    }

    /// `--verbose`: shows the output lines that have arrived.
    fn echo_pending(&mut self) {
        if let Some((_, rx)) = &mut self.echo {
            while let Ok((label, line)) = rx.try_recv() {
                (self.run.report)(Progress::Output { label, line });
            }
        }
    }

    /// Decides what can be decided and starts what can start, until nothing changes.
    fn advance(&mut self, inflight: &mut Inflight<'r>) -> Result<(), Error> {
        loop {
            let mut changed = false;
            if self.end.failed.is_none() && !self.stopping() {
                for k in 0..self.order.len() {
                    let i = self.order[k];
                    // A stage decided in this pass may have failed the run.
                    if self.end.failed.is_some() {
                        break;
                    }
                    if self.stages[i].phase == Phase::Waiting && self.sources_done(i) {
                        self.decide(i, inflight)?;
                        changed = true;
                    }
                }
            }
            for i in self.stages.ixs() {
                let s = &self.stages[i];
                if s.phase == Phase::Locking
                    && !s.polling
                    && self.end.failed.is_none()
                    && !self.stopping()
                {
                    self.enter(i, inflight)?;
                    changed |= self.stages[i].phase != Phase::Locking;
                }
                if self.stages[i].phase == Phase::Actions {
                    changed |= self.start_actions(i, inflight)?;
                    if self.actions_settled(i) {
                        self.actions_done(i, inflight)?;
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(());
            }
        }
    }

    fn sources_done(&self, i: StageIx) -> bool {
        self.stages[i]
            .sources
            .iter()
            .all(|&k| self.stages[k].phase == Phase::Done)
    }

    /// Takes in what a future reported.
    fn handle(&mut self, event: Event, inflight: &mut Inflight<'r>) -> Result<(), Error> {
        match event {
            Event::Attempt {
                stage,
                action,
                took,
                workspace,
                result,
            } => {
                self.slots.running -= 1;
                self.attempt_ended(stage, action, took, workspace, result, inflight)
            }
            Event::BackoffOver { stage, action, due } => {
                self.backoff_over(stage, action, due, inflight)
            }
            Event::Check {
                stage,
                rule,
                label,
                workspace,
                result,
                overridden,
            } => self.check_ended(
                stage,
                rule,
                label,
                workspace,
                result,
                overridden.as_deref(),
                inflight,
            ),
            Event::Approval {
                stage,
                action,
                outcome,
            } => self.approval_ended(stage, action, outcome?, inflight),
            Event::LockPoll { stage } => {
                self.stages[stage].polling = false;
                if self.stopping() && self.stages[stage].phase == Phase::Locking {
                    let why = "not entered: the run was stopped while it waited for the stage";
                    self.stage_status(stage, crate::runtime::status::StageStatus::Pending, why)?;
                }
                Ok(())
            }
            Event::WindowTimer { stage } => self.window_woke(stage),
            Event::Rollback {
                stage,
                why,
                source,
                result,
            } => self.rollback_ended(stage, &why, &source, result),
        }
    }
}

impl Sched<'_, '_> {
    /// Sleeps until `until`, or less: until the run is stopped or something fails for good
    /// (then whoever waits looks again at whether it should still wait).
    pub(super) fn nap(&self, until: Instant) -> impl Future<Output = ()> + 'static {
        let mut stop = self.run.stop.clone();
        let mut halt = self.halt.subscribe();
        async move {
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                _ = stop.wait_for(|level| *level > 0) => {}
                _ = halt.changed() => {}
            }
        }
    }
}
