//! The scheduler's state of each stage and action, addressed by index newtypes: a stage by
//! its position in the pipeline (`StageIx`), an action by its position in its stage
//! (`ActionIx`), so the two can never be swapped.

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use tokio::time::Instant;

use crate::ir::{Action, FailurePolicy, Ir, Stage};

/// A stage, by its position in `ir.pipeline.stages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct StageIx(pub(super) usize);

/// An action, by its position in its stage's `actions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ActionIx(pub(super) usize);

impl StageIx {
    /// The stage in the IR.
    pub(super) fn of(self, ir: &Ir) -> &Stage {
        &ir.pipeline.stages[self.0]
    }
}

impl ActionIx {
    /// The action in its stage's IR.
    pub(super) fn of(self, stage: &Stage) -> &Action {
        &stage.actions[self.0]
    }
}

/// Where a stage is in its life within the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not decided yet.
    Waiting,
    /// It runs, once it has its stage lock (`superseded` and `queued` modes).
    Locking,
    /// Entry checks are running.
    Entry,
    /// Held until its deployment window opens (`else wait`); a timer wakes it.
    Window,
    Actions,
    /// `on success` checks are running.
    Exit,
    Done,
}

/// Where an action is in its stage's current round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ActState {
    Pending,
    /// Waiting out a retry's backoff.
    Backoff,
    Running,
    Succeeded,
    Skipped,
    Failed,
    /// Stopped by a stop request.
    Abandoned,
}

impl ActState {
    /// Succeeded or skipped: what lets the actions `after` it start.
    pub(super) fn done_well(self) -> bool {
        matches!(self, ActState::Succeeded | ActState::Skipped)
    }

    /// Failed or abandoned: nothing more of its stage starts.
    pub(super) fn broken(self) -> bool {
        matches!(self, ActState::Failed | ActState::Abandoned)
    }
}

/// One action of a running stage.
pub(super) struct ActionRun {
    /// Its `after` predecessors.
    pub(super) preds: Vec<ActionIx>,
    /// The limit its running attempt has (to name it when it times out).
    pub(super) limit: Option<Limit>,
    pub(super) state: ActState,
    /// Attempts made so far (across holds and resumes).
    pub(super) attempts: u32,
}

/// One stage of the run.
pub(super) struct StageRun {
    /// The stages its inbound edges come from.
    pub(super) sources: Vec<StageIx>,
    pub(super) actions: Vec<ActionRun>,
    pub(super) phase: Phase,
    /// `on failure retry` rounds left.
    pub(super) rounds_left: u32,
    /// Results of the current condition's `check` rules, by rule index.
    pub(super) checks: BTreeMap<usize, Result<(), String>>,
    /// Results of the `on success` condition's `check` rules, by rule index.
    pub(super) exit_checks: BTreeMap<usize, Result<(), String>>,
    pub(super) checks_running: usize,
    pub(super) deadline: Option<Instant>,
    pub(super) started: Instant,
    /// A look at the stage lock is scheduled.
    pub(super) polling: bool,
    /// That it waits for the stage lock has been shown.
    pub(super) lock_shown: bool,
    /// It holds the stage lock (it entered the stage).
    pub(super) entered: bool,
    /// The condition of it the history may say is being evaluated (`pipec override`).
    pub(super) evaluating: Option<crate::runtime::holds::StageCondition>,
}

impl StageRun {
    /// Its actions with their indices.
    pub(super) fn each(&self) -> impl Iterator<Item = (ActionIx, &ActionRun)> {
        self.actions
            .iter()
            .enumerate()
            .map(|(j, a)| (ActionIx(j), a))
    }

    /// Whether any action is in one of `states`.
    pub(super) fn any(&self, test: impl Fn(ActState) -> bool) -> bool {
        self.actions.iter().any(|a| test(a.state))
    }

    /// The first action that failed, if one did.
    pub(super) fn first_failed(&self) -> Option<ActionIx> {
        self.each()
            .find(|(_, a)| a.state == ActState::Failed)
            .map(|(j, _)| j)
    }
}

impl Index<ActionIx> for StageRun {
    type Output = ActionRun;
    fn index(&self, j: ActionIx) -> &ActionRun {
        &self.actions[j.0]
    }
}

impl IndexMut<ActionIx> for StageRun {
    fn index_mut(&mut self, j: ActionIx) -> &mut ActionRun {
        &mut self.actions[j.0]
    }
}

/// Every stage of the run, by `StageIx`.
pub(super) struct Stages(Vec<StageRun>);

impl Stages {
    /// The run state of every stage of `ir`, with its graph pre-indexed.
    pub(super) fn new(ir: &Ir, now: Instant) -> Stages {
        let index: BTreeMap<&str, StageIx> = ir
            .pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), StageIx(i)))
            .collect();
        Stages(
            ir.pipeline
                .stages
                .iter()
                .map(|s| stage_run(s, &index, now))
                .collect(),
        )
    }

    /// Every stage's index, in the pipeline's order.
    pub(super) fn ixs(&self) -> impl Iterator<Item = StageIx> + use<> {
        (0..self.0.len()).map(StageIx)
    }
}

impl Index<StageIx> for Stages {
    type Output = StageRun;
    fn index(&self, i: StageIx) -> &StageRun {
        &self.0[i.0]
    }
}

impl IndexMut<StageIx> for Stages {
    fn index_mut(&mut self, i: StageIx) -> &mut StageRun {
        &mut self.0[i.0]
    }
}

/// The run state of stage `s`, its graph resolved through `index`.
fn stage_run(s: &Stage, index: &BTreeMap<&str, StageIx>, now: Instant) -> StageRun {
    let by_name: BTreeMap<&str, ActionIx> = s
        .actions
        .iter()
        .enumerate()
        .map(|(j, a)| (a.name.as_str(), ActionIx(j)))
        .collect();
    let actions: Vec<ActionRun> = s
        .actions
        .iter()
        .map(|a| ActionRun {
            preds: a
                .after
                .iter()
                .filter_map(|p| by_name.get(p.as_str()).copied())
                .collect(),
            limit: None,
            state: ActState::Pending,
            attempts: 0,
        })
        .collect();
    StageRun {
        sources: s
            .inbound
            .iter()
            .filter_map(|e| index.get(e.from.as_str()).copied())
            .collect(),
        actions,
        phase: Phase::Waiting,
        rounds_left: match s.on_failure {
            FailurePolicy::Retry { count, .. } => count,
            _ => 0,
        },
        checks: BTreeMap::new(),
        exit_checks: BTreeMap::new(),
        checks_running: 0,
        deadline: None,
        started: now,
        polling: false,
        lock_shown: false,
        entered: false,
        evaluating: None,
    }
}

/// Which time limit an attempt has (with its length in seconds).
#[derive(Clone, Copy, Debug)]
pub(super) enum Limit {
    Own(u64),
    Stage(u64),
    Pipeline(u64),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fmt = crate::duration::format;
        match *self {
            Limit::Own(s) => write!(f, "its timeout ({})", fmt(s)),
            Limit::Stage(s) => write!(f, "the stage's timeout ({})", fmt(s)),
            Limit::Pipeline(s) => write!(f, "the pipeline's timeout ({})", fmt(s)),
        }
    }
}
