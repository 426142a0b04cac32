//! Executing a run: one scheduler over the whole stage graph (LANGUAGE.md §6, §9).
//!
//! A stage is decided once every inbound edge's source has ended (so independent branches
//! run side by side, and a join waits only for the branches that ran); within a stage,
//! actions start when their `after` predecessors succeeded or were skipped. At most `jobs`
//! actions of the whole run are running at once. Everything runs on one current-thread
//! tokio runtime: attempts are futures polled side by side, and every state change is
//! recorded in the history before anything that depends on it starts.
//!
//! Durable runs (`docs/runtime.md`): a run may start from a recorded state ([`Start`]);
//! approvals, disabled transitions and closed `else wait` windows (`run/window.rs`) hold
//! it (it ends `waiting` when nothing else can go on); in `superseded` and `queued` modes a
//! stage is entered only with its lock ([`super::locks`]); `on failure rollback` runs the
//! stage again as a run of its own with the inputs of the last run in which it succeeded.
#![allow(clippy::disallowed_methods)] // Reason: the runtime creates workspaces and copies files.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use super::attempt::{Failure, Finished, Workspaces, append, blocking, prepare};
use super::eval::{Scope, Value, eval};
use super::exec::{self, Echo};
use super::holds::Decision;
use super::locks::Lock;
use super::plan::{Known, RunFacts, Verdict, stage_verdict, topological};
pub use super::resume::Start;
use super::secrets::Inherited;

mod window;

/// An approval action's timeout.
pub fn approval_timeout(a: &Action) -> u64 {
    a.timeout_secs.unwrap_or(APPROVAL_TIMEOUT_SECS)
}
use super::state::{ActionUpdate, Commit, History, Recorded, StageUpdate};
use crate::ir::{
    Action, CondRule, Condition, ElseResult, FailurePolicy, Ir, Kind, Mode, RetryScope, Stage,
};

/// An approval's timeout when its action sets none (LANGUAGE.md §5).
const APPROVAL_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// How often a run waiting for a stage lock or an approval looks again.
const POLL: Duration = Duration::from_millis(200);

/// What the CLI shows while a run goes on.
#[derive(Clone, Debug)]
pub enum Progress {
    Stage {
        stage: String,
        status: String,
        detail: String,
    },
    Action {
        stage: String,
        action: String,
        status: String,
        attempt: u32,
        secs: f64,
        /// Why it failed or was skipped, where its workspace was kept, …
        detail: String,
        log: Option<PathBuf>,
    },
    /// A line of an action's output (`--verbose`), already masked.
    Output { label: String, line: String },
    /// An entry or `on success` check ended.
    Check {
        /// `STAGE.entry.NAME` or `STAGE.on-success.NAME`.
        label: String,
        passed: bool,
        detail: String,
        log: Option<PathBuf>,
    },
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    Waiting,
    Stopped,
    Superseded,
}

impl Progress {
    /// The progress of a nested run (a `pipeline` action), shown under the action's label.
    pub(super) fn nested_under(mut self, label: &str) -> Progress {
        match &mut self {
            Progress::Stage { stage, .. } | Progress::Action { stage, .. } => {
                *stage = format!("{label} > {stage}");
            }
            Progress::Output { label: l, .. } | Progress::Check { label: l, .. } => {
                *l = format!("{label} > {l}");
            }
        }
        self
    }
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Waiting => "waiting",
            RunStatus::Stopped => "stopped",
            RunStatus::Superseded => "superseded",
        }
    }
}

/// A pipeline run by a `pipeline` action, loaded and checked by the caller's front end.
pub struct Child {
    pub ir: Ir,
    pub values: BTreeMap<String, Value>,
    pub secrets: BTreeMap<String, String>,
    /// Environment variables that are sources of the child's secrets.
    pub secret_sources: Vec<String>,
}

/// Loads the pipeline file of a `pipeline` action with its params (as text), in the
/// environment the nested run inherits (its secrets and param defaults read that).
pub type Loader<'a> =
    dyn Fn(&Path, &BTreeMap<String, String>, &Inherited) -> Result<Child, String> + 'a;

/// Settings of one run.
pub struct Options<'a> {
    pub jobs: usize,
    /// The pipeline file (relative paths such as `dir.path` resolve against its folder).
    pub file: PathBuf,
    /// Environment variables that are sources of secrets: removed from actions.
    pub secret_sources: Vec<String>,
    /// Stream every action's output (masked) as `Progress::Output`.
    pub verbose: bool,
    pub loader: &'a Loader<'a>,
    /// The pipeline files of the runs this one is nested in (outermost first).
    pub parents: Vec<PathBuf>,
    /// What this run inherits from the runs it is nested in: their secrets, masked here too
    /// and kept from its actions, and the `env` of the `pipeline` action.
    pub inherited: Inherited,
    /// The wall clock deployment windows are decided by (`jiff::Timestamp::now`; tests
    /// pass their own).
    pub clock: &'a dyn Fn() -> jiff::Timestamp,
}

impl Options<'_> {
    pub(super) fn base(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// Everything a run reads.
pub struct Run<'a> {
    pub ir: &'a Ir,
    pub history: &'a History,
    pub run_id: &'a str,
    pub values: &'a BTreeMap<String, Value>,
    pub secrets: &'a BTreeMap<String, String>,
    pub facts: &'a RunFacts,
    pub options: &'a Options<'a>,
    pub report: &'a dyn Fn(Progress),
    pub stop: &'a tokio::sync::watch::Receiver<u8>,
    pub start: &'a Start,
}

pub(super) struct RunScope<'a> {
    params: &'a BTreeMap<String, Value>,
    pub(super) secrets: &'a BTreeMap<String, String>,
    facts: &'a RunFacts,
    run_id: &'a str,
    exports: BTreeMap<(String, String, String), String>,
    statuses: BTreeMap<String, String>,
}

impl Scope for RunScope<'_> {
    fn param(&self, name: &str) -> Option<Value> {
        self.params.get(name).cloned()
    }
    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }
    fn export(&self, stage: &str, action: &str, name: &str) -> Option<String> {
        self.exports
            .get(&(stage.to_string(), action.to_string(), name.to_string()))
            .cloned()
    }
    fn run_field(&self, field: &str) -> Option<Value> {
        self.facts.field(field, self.run_id)
    }
    fn stage_status(&self, stage: &str) -> Option<String> {
        self.statuses.get(stage).cloned()
    }
    fn env_var(&self, _: &str) -> Option<String> {
        None
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        Err(format!("`{path}` is not read here"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActState {
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

struct StageRun {
    /// Indices of the stages its inbound edges come from.
    sources: Vec<usize>,
    /// For each action, the indices of its `after` predecessors.
    preds: Vec<Vec<usize>>,
    /// For each action, whether another action waits for it.
    awaited: Vec<bool>,
    /// For each action, the limit its running attempt has (to name it when it times out).
    limits: Vec<Option<Limit>>,
    phase: Phase,
    acts: Vec<(ActState, u32)>,
    rounds_left: u32,
    /// Results of the current condition's `check` rules, by rule index.
    checks: BTreeMap<usize, Result<(), String>>,
    /// Results of the `on success` condition's `check` rules, by rule index.
    exit_checks: BTreeMap<usize, Result<(), String>>,
    checks_running: usize,
    deadline: Option<Instant>,
    started: Instant,
    /// A look at the stage lock is scheduled.
    polling: bool,
    /// That it waits for the stage lock has been shown.
    lock_shown: bool,
    /// It holds the stage lock (it entered the stage).
    entered: bool,
}

/// Which time limit an attempt has (with its length in seconds).
#[derive(Clone, Copy, Debug)]
enum Limit {
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

/// What a future of the run reports back.
enum Event {
    Attempt {
        stage: usize,
        action: usize,
        took: Duration,
        workspace: PathBuf,
        result: Result<Finished, Failure>,
    },
    BackoffOver {
        stage: usize,
        action: usize,
        /// When the backoff would have ended.
        due: Instant,
    },
    Check {
        stage: usize,
        rule: usize,
        /// `STAGE.entry.NAME` or `STAGE.on-success.NAME` (its log is `LABEL.1.log`).
        label: String,
        workspace: PathBuf,
        result: Result<(), String>,
    },
    Approval {
        stage: usize,
        action: usize,
        outcome: Result<Approval, String>,
    },
    /// Time to look at a stage lock again.
    LockPoll { stage: usize },
    /// A stage held for its deployment window is to be decided again.
    WindowTimer { stage: usize },
    /// An action's end handed to the history's writer is committed: its slot is free.
    Committed,
    /// `on failure rollback` ran: the rollback run's id and how it ended.
    Rollback {
        stage: usize,
        /// Why the stage failed.
        why: String,
        /// The run whose inputs it used.
        source: String,
        result: Result<(String, RunStatus), String>,
    },
}

/// What ended an approval's wait.
enum Approval {
    Decided(Decision),
    TimedOut(u64),
    Stopped,
    /// Something failed meanwhile: see whether it should still wait.
    Recheck,
}

type EchoChannel = (
    tokio::sync::mpsc::UnboundedSender<(String, String)>,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
);

type Pending<'r> = Pin<Box<dyn Future<Output = Event> + 'r>>;

/// Runs `run.ir` to its end.
pub fn execute<'r>(
    run: &'r Run<'_>,
) -> Pin<Box<dyn Future<Output = Result<RunStatus, String>> + 'r>> {
    Box::pin(async move {
        let began = Instant::now();
        let mut sched = Sched::new(run)?;
        let status = sched.go().await;
        // Whatever of this run's processes is still around now (adopted by this process
        // after leaving its group) ends with it.
        exec::sweep(&[format!("PIPEC_RUN_ID={}", run.run_id)]);
        for c in std::mem::take(&mut sched.workspaces.cleanups) {
            let _ = c.await;
        }
        let status = status?;
        run.history
            .add_spent(run.run_id, began.elapsed().as_secs_f64())?;
        run.history.finish_run(run.run_id, status.as_str())?;
        Ok(status)
    })
}

struct Sched<'r, 'a> {
    run: &'r Run<'a>,
    scope: RunScope<'a>,
    order: Vec<usize>,
    stages: Vec<StageRun>,
    verdicts: BTreeMap<&'a str, Verdict>,
    /// Attempts in flight (the `jobs` limit).
    running: usize,
    /// Ended attempts whose end the history's writer has not committed yet: they count
    /// against `jobs` too, so that after a crash at most `jobs` actions run again.
    uncommitted: usize,
    /// Futures of the run that are not attempts, backoffs or checks (commit notices).
    notices: Vec<Pending<'r>>,
    /// The stage whose failure fails the run: nothing new starts.
    failed: Option<String>,
    /// The newer run that superseded this one (it ends `superseded`).
    superseded: Option<String>,
    /// Approvals waiting for a decision (their futures are in flight): when nothing else
    /// is, the run is held.
    approvals: std::collections::BTreeSet<(usize, usize)>,
    /// When each approval began waiting (kept across a hold).
    approval_since: BTreeMap<(usize, usize), jiff::Timestamp>,
    /// Stages held for their deployment windows (`else wait`).
    windows: window::Windows,
    /// Artifacts this run has not captured come from this run (a rollback's source).
    source: Option<String>,
    /// Changes whenever an action fails for good or the run fails: retry backoffs wake up
    /// to see whether they should still retry.
    halt: tokio::sync::watch::Sender<u64>,
    held: bool,
    workspaces: Workspaces,
    outputs: u64,
    deadline: Option<Instant>,
    /// `--verbose`: where attempts send their output lines (label, line).
    echo: Option<EchoChannel>,
    /// The values of this run's secrets and of the runs it is nested in (`secrets::masks`).
    masks: Vec<String>,
}

impl<'r, 'a> Sched<'r, 'a> {
    fn new(run: &'r Run<'a>) -> Result<Sched<'r, 'a>, String> {
        let ir = run.ir;
        let index: BTreeMap<&str, usize> = ir
            .pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let order = topological(&ir.pipeline.stages)
            .into_iter()
            .filter_map(|s| index.get(s.name.as_str()).copied())
            .collect();
        let now = Instant::now();
        let stages = stage_runs(ir, &index, now);
        let dir = &run.history.dir;
        let work = dir.join("work").join(run.run_id);
        for d in [&work, &dir.join("logs").join(run.run_id)] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create `{}`: {e}", d.display()))?;
        }
        if !matches!(run.start, Start::Fresh) {
            // What a process that ended before left of its attempts (their processes are
            // gone: the caller swept them): stale workspaces and `$PIPEC_OUTPUT` files.
            // Kept workspaces of failed attempts stay.
            for entry in std::fs::read_dir(&work).into_iter().flatten().flatten() {
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
            stages,
            verdicts: BTreeMap::new(),
            running: 0,
            uncommitted: 0,
            notices: Vec::new(),
            failed: None,
            superseded: None,
            approvals: std::collections::BTreeSet::new(),
            approval_since: BTreeMap::new(),
            windows: window::Windows::default(),
            source: run.start.source().map(str::to_string),
            halt: tokio::sync::watch::Sender::new(0),
            held: false,
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
        match run.start {
            Start::Fresh => {}
            Start::Resume(rec) => sched.restore(rec, None)?,
            Start::Retry { rec, all } => sched.restore(rec, Some(*all))?,
            Start::Rollback { stage, source } => sched.restore_rollback(stage, source)?,
        }
        if matches!(run.start, Start::Resume(_) | Start::Retry { .. }) {
            // A crash may have left it holding a stage it had left, or never entered.
            let going_on: Vec<&str> = ir
                .pipeline
                .stages
                .iter()
                .zip(&sched.stages)
                .filter(|(_, s)| s.phase == Phase::Locking)
                .map(|(st, _)| st.name.as_str())
                .collect();
            run.history
                .keep_locks(&ir.pipeline.name, run.run_id, &going_on)?;
        }
        Ok(sched)
    }

    /// Takes up a recorded run: what ended stays ended (and is not recorded again); a
    /// stage that was running goes on with the actions that had not finished. `retry`
    /// (`Some(all)`) also runs the failed or abandoned stages again.
    fn restore(&mut self, rec: &Recorded, retry: Option<bool>) -> Result<(), String> {
        let run = self.run;
        self.scope.exports.clone_from(&rec.exports);
        for rs in &rec.stages {
            let Some(i) = run
                .ir
                .pipeline
                .stages
                .iter()
                .position(|s| s.name == rs.name)
            else {
                continue;
            };
            let stage = &run.ir.pipeline.stages[i];
            let again = retry.is_some() && matches!(rs.status.as_str(), "failed" | "abandoned");
            let all = again && retry == Some(true);
            let s = &mut self.stages[i];
            if !again {
                s.rounds_left = s.rounds_left.saturating_sub(rs.rounds);
            }
            let mut started_any = false;
            for ra in &rs.actions {
                let Some(j) = stage.actions.iter().position(|a| a.name == ra.name) else {
                    continue;
                };
                let act_state = match ra.status.as_str() {
                    "succeeded" if !all => ActState::Succeeded,
                    "skipped" if !all => ActState::Skipped,
                    "failed" if !again => ActState::Failed,
                    _ => ActState::Pending,
                };
                // An approval asked again is decided again.
                if again
                    && act_state == ActState::Pending
                    && stage.actions[j].kind == Kind::Approval
                {
                    run.history
                        .forget_decision(run.run_id, &stage.name, &ra.name)?;
                }
                started_any |= ra.status != "pending";
                if ra.status == "waiting" {
                    if let Some(t) = ra.started.as_deref().and_then(|t| t.parse().ok()) {
                        self.approval_since.insert((i, j), t);
                    }
                }
                s.acts[j] = (act_state, ra.attempts);
            }
            let name: &'a str = &stage.name;
            let done = |status: &str| -> Option<Verdict> {
                let reason = rs.reason.clone().unwrap_or_default();
                match (status, rs.verdict.as_deref()) {
                    ("succeeded", _) => Some(Verdict::Runs),
                    ("skipped", Some("not-reached")) => Some(Verdict::NotReached(reason)),
                    ("skipped", _) => Some(Verdict::Skipped(reason)),
                    ("failed", _) if !again => Some(Verdict::Fails(reason)),
                    _ => None,
                }
            };
            if let Some(verdict) = done(&rs.status) {
                s.phase = Phase::Done;
                if matches!(verdict, Verdict::Fails(_)) {
                    self.failed.get_or_insert_with(|| name.to_string());
                }
                self.scope
                    .statuses
                    .insert(name.to_string(), rs.status.clone());
                self.verdicts.insert(name, verdict);
                continue;
            }
            // Running (or waiting for an approval, or to run again): into the stage again,
            // past its entry. Not decided yet, or held at a transition: decided again.
            let entered = rs.verdict.as_deref() == Some("runs") || started_any;
            s.phase = if entered {
                Phase::Locking
            } else {
                Phase::Waiting
            };
            if again {
                s.checks.clear();
                s.exit_checks.clear();
                // Recorded before anything runs: a crash during the retry resumes it.
                let reset: Vec<usize> = s
                    .acts
                    .iter()
                    .enumerate()
                    .filter(|(_, (a, _))| *a == ActState::Pending)
                    .map(|(j, _)| j)
                    .collect();
                self.record_pending(i, &reset)?;
                let (status, verdict) = if entered {
                    ("running", Some("runs"))
                } else {
                    ("pending", None)
                };
                self.stage_record(i, status, "retrying", verdict, Some(0))?;
            }
        }
        Ok(())
    }

    /// A rollback run: only `stage` runs (at once, with no entry condition); every other
    /// stage is as it was in `source`, whose exports and artifacts the stage's actions see.
    fn restore_rollback(&mut self, stage: &str, source: &Recorded) -> Result<(), String> {
        let run = self.run;
        let Some(target) = run.ir.pipeline.stages.iter().position(|s| s.name == stage) else {
            return Err(format!(
                "pipeline `{}` has no stage `{stage}`",
                run.ir.pipeline.name
            ));
        };
        self.scope.exports = source
            .exports
            .iter()
            .filter(|((s, _, _), _)| s != stage)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (i, s) in run.ir.pipeline.stages.iter().enumerate() {
            let name: &'a str = &s.name;
            if i == target {
                self.stages[i].phase = Phase::Locking;
                continue;
            }
            let status = source
                .stages
                .iter()
                .find(|r| r.name == s.name)
                .map_or("skipped", |r| r.status.as_str());
            let why = format!("not part of the rollback of `{stage}`");
            self.end_stage(i, "skipped", &why, Verdict::Runs)?;
            // Expressions see the stages as they were in the source run.
            self.scope
                .statuses
                .insert(name.to_string(), status.to_string());
        }
        Ok(())
    }

    fn stopping(&self) -> bool {
        *self.run.stop.borrow() > 0
    }

    async fn go(&mut self) -> Result<RunStatus, String> {
        let mut inflight: FuturesUnordered<Pending<'r>> = FuturesUnordered::new();
        loop {
            self.advance(&mut inflight)?;
            inflight.extend(self.notices.drain(..));
            if inflight.is_empty() {
                break;
            }
            // Only holds wait (approvals, windows): nothing can go on until someone decides
            // or a window opens (unless something failed meanwhile: then the approvals are
            // asked whether they should still wait).
            let holds = self.approvals.len() + self.windows.timers;
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
                .map(|t| super::state::MAX_QUEUED.saturating_sub(t));
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
                    self.run.history.commit_soon()?;
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
        Ok(if self.stopping() {
            RunStatus::Stopped
        } else if self.superseded.is_some() {
            RunStatus::Superseded
        } else if self.failed.is_some() {
            RunStatus::Failed
        } else if self.held {
            RunStatus::Waiting
        } else {
            RunStatus::Succeeded
        })
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
    fn advance(&mut self, inflight: &mut FuturesUnordered<Pending<'r>>) -> Result<(), String> {
        loop {
            let mut changed = false;
            if self.failed.is_none() && !self.stopping() {
                for k in 0..self.order.len() {
                    let i = self.order[k];
                    // A stage decided in this pass may have failed the run.
                    if self.failed.is_some() {
                        break;
                    }
                    if self.stages[i].phase == Phase::Waiting && self.sources_done(i) {
                        self.decide(i, inflight)?;
                        changed = true;
                    }
                }
            }
            for i in 0..self.stages.len() {
                let s = &self.stages[i];
                if s.phase == Phase::Locking
                    && !s.polling
                    && self.failed.is_none()
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

    fn sources_done(&self, i: usize) -> bool {
        self.stages[i]
            .sources
            .iter()
            .all(|&j| self.stages[j].phase == Phase::Done)
    }

    /// Decides stage `i` (its sources have ended): runs, is skipped, holds, fails, or first
    /// runs its entry checks.
    fn decide(
        &mut self,
        i: usize,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
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
            self.stage_status(i, "running", "entry checks")?;
            let entry = stage.entry.as_ref().map_or(&[][..], |c| &c.rules[..]);
            self.start_checks(i, entry, &unrun, "entry", inflight)?;
            return Ok(());
        }
        match verdict {
            Verdict::Runs => {
                self.stages[i].phase = Phase::Locking;
                self.enter(i, inflight)?;
            }
            Verdict::Skipped(ref why) | Verdict::NotReached(ref why) => {
                // Not reached: no edge out of it is taken either (the verdict says which).
                let why = why.clone();
                self.end_stage(i, "skipped", &why, verdict)?;
            }
            Verdict::Held(why) => {
                self.held = true;
                // Behind a held stage: not held itself, only not decided yet.
                let behind = stage
                    .inbound
                    .iter()
                    .find(|e| matches!(self.verdicts.get(e.from.as_str()), Some(Verdict::Held(_))));
                let (status, detail) = match behind {
                    Some(e) => ("pending", format!("after `{}`, which is held", e.from)),
                    None => (
                        "waiting",
                        format!("{why}; `pipec resume {}` once it is enabled", run.run_id),
                    ),
                };
                self.end_stage(i, status, &detail, Verdict::Held(why.clone()))?;
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

    /// The stage's inbound edges with their state now, when an override changes one (the
    /// overrides are read each time: `pipec transition disable` applies to runs in flight).
    fn transitions_now(&self, stage: &Stage) -> Result<Option<Stage>, String> {
        if stage.inbound.is_empty() {
            return Ok(None);
        }
        let overrides = self.run.history.overrides(&self.run.ir.pipeline.name)?;
        if overrides.is_empty() {
            return Ok(None);
        }
        let mut patched = stage.clone();
        for e in &mut patched.inbound {
            e.disabled =
                super::holds::effective(e.disabled.as_deref(), &e.from, &stage.name, &overrides);
        }
        Ok(Some(patched))
    }

    /// Stage `i` runs once it has its lock (`superseded` and `queued` modes; at once in
    /// `parallel`): enters it, waits (looking again every `POLL`), or ends the run
    /// `superseded`.
    fn enter(
        &mut self,
        i: usize,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
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
                self.stage_record(i, "running", "", Some("runs"), None)
            }
            Lock::Waiting { holder } => {
                if first {
                    let mode = format!("{mode:?}").to_lowercase();
                    let detail = format!("waiting for run {holder} to leave it ({mode} mode)");
                    self.stage_record(i, "pending", &detail, None, None)?;
                }
                self.stages[i].polling = true;
                let mut stop = run.stop.clone();
                let mut halt = self.halt.subscribe();
                inflight.push(Box::pin(async move {
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        _ = stop.wait_for(|level| *level > 0) => {}
                        _ = halt.changed() => {}
                    }
                    Event::LockPoll { stage: i }
                }));
                Ok(())
            }
            Lock::Superseded { by } => {
                self.superseded = Some(by.clone());
                self.failed.get_or_insert_with(|| stage.name.clone());
                self.halt.send_modify(|n| *n += 1);
                let detail = format!("superseded: run {by} is newer and waits for this stage");
                self.stage_record(i, "pending", &detail, None, None)?;
                Ok(())
            }
        }
    }

    /// Records actions of stage `i` as `pending` again (queued: committed with the stage's
    /// change that comes next).
    fn record_pending(&self, i: usize, actions: &[usize]) -> Result<(), String> {
        let stage = &self.run.ir.pipeline.stages[i];
        for &j in actions {
            let update = ActionUpdate {
                status: "pending",
                commit: Commit::Queued,
                attempt: 0,
                exit_code: None,
                log: None,
            };
            self.run.history.action(
                self.run.run_id,
                &stage.name,
                &stage.actions[j].name,
                &update,
            )?;
        }
        Ok(())
    }

    /// Whether a waiting approval should reconsider (its run or its stage failed, or the
    /// run is stopping): its future wakes up to do so.
    fn approvals_to_recheck(&self) -> bool {
        self.failed.is_some()
            || self.stopping()
            || self.approvals.iter().any(|&(i, _)| {
                self.stages[i]
                    .acts
                    .iter()
                    .any(|(s, _)| *s == ActState::Failed)
            })
    }

    /// Every approval in flight waits for a decision and nothing else can go on: the run is
    /// held (its stages say what they wait for).
    fn hold_approvals(&mut self) -> Result<(), String> {
        self.held = true;
        let run = self.run;
        let stages: std::collections::BTreeSet<usize> =
            self.approvals.iter().map(|&(i, _)| i).collect();
        for i in stages {
            let stage = &run.ir.pipeline.stages[i];
            let names: Vec<String> = self
                .approvals
                .iter()
                .filter(|&&(k, _)| k == i)
                .map(|&(_, j)| format!("{}.{}", stage.name, stage.actions[j].name))
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
            self.stage_record(i, "waiting", &detail, None, None)?;
        }
        Ok(())
    }

    fn stage_status(&self, i: usize, status: &str, detail: &str) -> Result<(), String> {
        self.stage_record(i, status, detail, None, None)
    }

    /// Records a stage's change (with how it was decided and why), then shows it.
    fn stage_record(
        &self,
        i: usize,
        status: &str,
        detail: &str,
        verdict: Option<&str>,
        rounds: Option<u32>,
    ) -> Result<(), String> {
        let name = &self.run.ir.pipeline.stages[i].name;
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
            status: status.into(),
            detail: detail.into(),
        });
        Ok(())
    }

    fn end_stage(
        &mut self,
        i: usize,
        status: &str,
        detail: &str,
        verdict: Verdict,
    ) -> Result<(), String> {
        let stage = &self.run.ir.pipeline.stages[i];
        let name: &'a str = &stage.name;
        if status == "skipped" {
            // A skipped stage's actions are skipped too (committed with the stage's end).
            for a in &stage.actions {
                let update = ActionUpdate {
                    status: "skipped",
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
        self.stages[i].phase = Phase::Done;
        self.scope
            .statuses
            .insert(name.to_string(), status.to_string());
        let code = match &verdict {
            Verdict::Runs | Verdict::RunsOrSkipped(_) => "runs",
            Verdict::Skipped(_) => "skipped",
            Verdict::NotReached(_) => "not-reached",
            Verdict::Held(_) | Verdict::Waits(_) => "held",
            Verdict::Fails(_) | Verdict::Depends(_) | Verdict::AfterFailure(_) => "fails",
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

    fn fail_stage(&mut self, i: usize, why: &str) -> Result<(), String> {
        let name = &self.run.ir.pipeline.stages[i].name;
        self.failed.get_or_insert_with(|| name.clone());
        self.halt.send_modify(|n| *n += 1);
        self.end_stage(i, "failed", why, Verdict::Fails(why.to_string()))
    }

    /// Starts the stage's ready actions, within the `jobs` limit. Returns whether anything
    /// changed.
    fn start_actions(
        &mut self,
        i: usize,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<bool, String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let mut changed = false;
        let stage_failed = self.stages[i]
            .acts
            .iter()
            .any(|(s, _)| matches!(s, ActState::Failed | ActState::Abandoned));
        if stage_failed || self.failed.is_some() || self.stopping() {
            return Ok(false);
        }
        for (j, a) in stage.actions.iter().enumerate() {
            if self.running + self.uncommitted >= run.options.jobs.max(1) {
                break;
            }
            if self.stages[i].acts[j].0 != ActState::Pending {
                continue;
            }
            let blocked = self.stages[i].preds[j].iter().any(|&k| {
                !matches!(
                    self.stages[i].acts[k].0,
                    ActState::Succeeded | ActState::Skipped
                )
            });
            if blocked {
                continue;
            }
            changed = true;
            if let Some(w) = &a.when {
                match eval(w, &self.scope) {
                    Ok(Value::Bool(true)) => {}
                    Ok(_) => {
                        let why = format!("when: `{}` is false", super::plan::describe(w));
                        self.stages[i].acts[j].0 = ActState::Skipped;
                        self.record(i, j, "skipped", 0, None, None, 0.0, &why)?;
                        continue;
                    }
                    // A condition that cannot be evaluated is a failure, not a "no".
                    Err(e) => {
                        let why = format!("when: `{}`: {e}", super::plan::describe(w));
                        self.stages[i].acts[j].0 = ActState::Failed;
                        self.record(i, j, "failed", 0, None, None, 0.0, &why)?;
                        continue;
                    }
                }
            }
            if let Some(why) = self.expired(i) {
                let attempt = self.stages[i].acts[j].1;
                self.stages[i].acts[j].0 = ActState::Failed;
                let why = format!("not started: {why}");
                self.record(i, j, "failed", attempt, None, None, 0.0, &why)?;
                continue;
            }
            if a.kind == Kind::Approval {
                self.start_approval(i, j, inflight)?;
                continue;
            }
            let attempt = self.stages[i].acts[j].1 + 1;
            self.stages[i].acts[j] = (ActState::Running, attempt);
            self.stages[i].limits[j] = self.limit(i, a.timeout_secs).map(|(_, which)| which);
            self.running += 1;
            self.record(i, j, "running", attempt, None, None, 0.0, "")?;
            let label = format!("{}.{}", stage.name, a.name);
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
                    let result = Err(Failure::new(e));
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
        }
        Ok(changed)
    }

    /// An approval action starts (or, resumed, starts again) waiting for its decision.
    fn start_approval(
        &mut self,
        i: usize,
        j: usize,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let a = &stage.actions[j];
        // One attempt however many times the run is held and resumed (it has waited before);
        // asked again (a retry), a new one.
        let attempt = if self.approval_since.contains_key(&(i, j)) {
            self.stages[i].acts[j].1.max(1)
        } else {
            self.stages[i].acts[j].1 + 1
        };
        self.stages[i].acts[j] = (ActState::Running, attempt);
        // Decided while the run was held: no need to say again that it waits.
        if self.approval_since.contains_key(&(i, j))
            && run
                .history
                .decision(run.run_id, &stage.name, &a.name)?
                .is_some()
        {
            self.wait_approval(i, j, inflight);
            return Ok(());
        }
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
        let label = format!("{}.{}", stage.name, a.name);
        let detail = format!(
            "needs a decision{}: `pipec approve {} {label}` or `pipec reject …`",
            if about.is_empty() {
                String::new()
            } else {
                format!(" ({})", about.join("; "))
            },
            run.run_id
        );
        let log = self.log_path(&format!("{label}.{attempt}"));
        let _ = append(&log, &format!("pipec: {detail}\n"));
        let log_text = log.to_string_lossy().into_owned();
        self.record(
            i,
            j,
            "waiting",
            attempt,
            None,
            Some(&log_text),
            0.0,
            &detail,
        )?;
        self.wait_approval(i, j, inflight);
        Ok(())
    }

    /// The time an attempt may take: its own timeout, within what is left of the stage's
    /// and the run's.
    fn time_left(&self, i: usize, own: Option<u64>) -> Option<Duration> {
        self.limit(i, own).map(|(d, _)| d)
    }

    /// The limit that ends an attempt starting now: what is left of it, and which it is.
    fn limit(&self, i: usize, own: Option<u64>) -> Option<(Duration, Limit)> {
        let now = Instant::now();
        let pipeline = self.run.ir.pipeline.timeout_secs.unwrap_or(0);
        let stage = self.run.ir.pipeline.stages[i].timeout_secs.unwrap_or(0);
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
    fn expired(&self, i: usize) -> Option<String> {
        self.limit(i, None)
            .filter(|(d, _)| d.is_zero())
            .map(|(_, which)| format!("{which} is over"))
    }

    /// Whether stage `i`'s actions are over for this round: nothing running or backing off,
    /// and either all ended or nothing more will start.
    fn actions_settled(&self, i: usize) -> bool {
        let acts = &self.stages[i].acts;
        if acts
            .iter()
            .any(|(s, _)| matches!(s, ActState::Running | ActState::Backoff))
        {
            return false;
        }
        let blocked = self.failed.is_some()
            || self.stopping()
            || acts
                .iter()
                .any(|(s, _)| matches!(s, ActState::Failed | ActState::Abandoned));
        blocked
            || acts
                .iter()
                .all(|(s, _)| matches!(s, ActState::Succeeded | ActState::Skipped))
    }

    /// Stage `i`'s actions are over: succeed (after `on success`), retry, or fail.
    fn actions_done(
        &mut self,
        i: usize,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let acts = &self.stages[i].acts;
        let failed = acts.iter().filter(|(s, _)| *s == ActState::Failed).count();
        let abandoned = acts.iter().any(|(s, _)| *s == ActState::Abandoned);
        let all_ended = acts
            .iter()
            .all(|(s, _)| matches!(s, ActState::Succeeded | ActState::Skipped));
        if abandoned || (self.stopping() && !all_ended) {
            return self.end_stage(
                i,
                "abandoned",
                "the run was stopped",
                Verdict::Fails("stopped".into()),
            );
        }
        if failed == 0 && !all_ended {
            // Another stage failed the run before this one could finish.
            let why = format!(
                "not finished: the run failed at `{}`",
                self.failed.clone().unwrap_or_default()
            );
            return self.end_stage(i, "abandoned", &why, Verdict::Fails(why.clone()));
        }
        if failed > 0 {
            match stage.on_failure {
                FailurePolicy::Retry { scope, .. }
                    if self.stages[i].rounds_left > 0
                        && self.failed.is_none()
                        && self.expired(i).is_none() =>
                {
                    let s = &mut self.stages[i];
                    s.rounds_left -= 1;
                    let used = match stage.on_failure {
                        FailurePolicy::Retry { count, .. } => count - s.rounds_left,
                        _ => 0,
                    };
                    let mut reset = Vec::new();
                    for (j, (state, _)) in s.acts.iter_mut().enumerate() {
                        let again = match scope {
                            RetryScope::All => true,
                            RetryScope::Failed => {
                                matches!(*state, ActState::Failed | ActState::Pending)
                            }
                        };
                        if again {
                            *state = ActState::Pending;
                            reset.push(j);
                        }
                    }
                    // Approvals asked again are decided again.
                    for &j in &reset {
                        if stage.actions[j].kind == Kind::Approval {
                            self.approval_since.remove(&(i, j));
                            run.history.forget_decision(
                                run.run_id,
                                &stage.name,
                                &stage.actions[j].name,
                            )?;
                        }
                    }
                    // Recorded with the round, so that a crash now does not lose the round.
                    self.record_pending(i, &reset)?;
                    let detail = format!("on failure: retrying ({scope:?} actions)").to_lowercase();
                    return self.stage_record(i, "running", &detail, None, Some(used));
                }
                FailurePolicy::Rollback if !self.stopping() => {
                    let why = if failed == 1 {
                        "an action failed".to_string()
                    } else {
                        format!("{failed} actions failed")
                    };
                    return self.roll_back(i, why, inflight);
                }
                _ => {
                    let why = if failed == 1 {
                        "an action failed".to_string()
                    } else {
                        format!("{failed} actions failed")
                    };
                    return self.fail_stage(i, &why);
                }
            }
        }
        // All succeeded or were skipped: `on success` decides.
        if let Some(cond) = &stage.on_success {
            let unrun = unrun_checks(cond, &self.stages[i].exit_checks);
            if !unrun.is_empty() {
                self.stages[i].phase = Phase::Exit;
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
        self.end_stage(i, "succeeded", "", Verdict::Runs)
    }

    /// The stage failed and rolls back: nothing new starts; the stage runs again, as a run
    /// of its own (nested in this one), with the inputs of the last run in which it
    /// succeeded; then the run fails (LANGUAGE.md §9).
    fn roll_back(
        &mut self,
        i: usize,
        why: String,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let pipeline = &run.ir.pipeline.name;
        if self.source.is_some() {
            // A rollback that fails does not roll back again.
            return self.fail_stage(i, &format!("{why}; the rollback failed"));
        }
        let Some(source) = run
            .history
            .last_success(pipeline, &stage.name, Some(run.run_id))?
        else {
            return self.fail_stage(
                i,
                &format!(
                    "{why}; rollback: no earlier run of `{pipeline}` in which `{}` succeeded, so nothing to roll back to",
                    stage.name
                ),
            );
        };
        self.failed.get_or_insert_with(|| stage.name.clone());
        self.halt.send_modify(|n| *n += 1);
        self.stages[i].phase = Phase::Exit;
        (run.report)(Progress::Stage {
            stage: stage.name.clone(),
            status: "rolling back".into(),
            detail: format!("{why}; running it again with the inputs of run {source}"),
        });
        let name = stage.name.clone();
        let label = format!("{} (rollback)", stage.name);
        inflight.push(Box::pin(async move {
            let result = rollback_run(run, &name, &source, &label).await;
            Event::Rollback {
                stage: i,
                why,
                source,
                result,
            }
        }));
        Ok(())
    }

    /// Why `cond` does not hold (all its rules decided), or `None` when it holds.
    fn condition_fails(&self, i: usize, cond: &Condition) -> Option<String> {
        let now = (self.run.options.clock)();
        for (ri, r) in cond.rules.iter().enumerate() {
            let known = match r {
                CondRule::Require { expr, .. } => super::plan::decide(expr, &self.scope),
                other => rule_known_at(ri, other, &self.stages[i].exit_checks, now),
            };
            match known {
                Known::Yes => {}
                Known::No(why) | Known::Depends(why) => return Some(why),
            }
        }
        None
    }

    fn start_checks(
        &mut self,
        i: usize,
        rules: &'a [CondRule],
        which: &[usize],
        phase: &str,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let stage = &self.run.ir.pipeline.stages[i];
        for &ri in which {
            let CondRule::Check { action } = &rules[ri] else {
                continue;
            };
            // Checks are named after their kind (`check`); with several, numbered in order.
            let nth = rules[..=ri]
                .iter()
                .filter(|r| matches!(r, CondRule::Check { .. }))
                .count();
            let several = rules
                .iter()
                .filter(|r| matches!(r, CondRule::Check { .. }))
                .count()
                > 1;
            let label = if several {
                format!("{}.{phase}.{}{nth}", stage.name, action.name)
            } else {
                format!("{}.{phase}.{}", stage.name, action.name)
            };
            let ws = self.workspaces.acquire()?;
            let timeout = self.time_left(i, action.timeout_secs);
            self.stages[i].checks_running += 1;
            let future = self
                .attempt(
                    action,
                    &label,
                    &format!("{label}.1"),
                    1,
                    ws.clone(),
                    timeout,
                )
                .map(move |result| Event::Check {
                    stage: i,
                    rule: ri,
                    label,
                    workspace: ws,
                    result: result.map(|_| ()).map_err(|f| f.why),
                });
            inflight.push(future);
        }
        Ok(())
    }

    fn handle(
        &mut self,
        event: Event,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        match event {
            Event::Attempt {
                stage: i,
                action: j,
                took,
                workspace,
                result,
            } => {
                self.running -= 1;
                self.attempt_ended(i, j, took, workspace, result, inflight)
            }
            Event::BackoffOver { stage, action, due } => {
                if self.stages[stage].acts[action].0 != ActState::Backoff {
                    return Ok(());
                }
                let failed_here = self.stages[stage]
                    .acts
                    .iter()
                    .position(|(s, _)| *s == ActState::Failed);
                let attempt = self.stages[stage].acts[action].1;
                // Not retried after all: the run is stopping, failed, or out of time.
                let (state, status, why) = if self.stopping() {
                    let why = "not retried: the run was stopped".to_string();
                    (ActState::Abandoned, "abandoned", why)
                } else if let Some(at) = &self.failed {
                    let why = format!("not retried: the run failed at `{at}`");
                    (ActState::Failed, "failed", why)
                } else if let Some(why) = self.expired(stage) {
                    (ActState::Failed, "failed", format!("not retried: {why}"))
                } else if let Some(k) = failed_here {
                    let other = &self.run.ir.pipeline.stages[stage].actions[k].name;
                    let why = format!("not retried: `{other}` of its stage failed");
                    (ActState::Failed, "failed", why)
                } else if Instant::now() < due {
                    // Woken by something that does not concern it: back to sleep.
                    self.backoff(stage, action, due, inflight);
                    return Ok(());
                } else {
                    self.stages[stage].acts[action].0 = ActState::Pending;
                    return Ok(());
                };
                self.stages[stage].acts[action].0 = state;
                self.record(stage, action, status, attempt, None, None, 0.0, &why)
            }
            Event::Check {
                stage,
                rule,
                label,
                workspace,
                result,
            } => self.check_ended(stage, rule, label, workspace, result, inflight),
            Event::Approval {
                stage,
                action,
                outcome,
            } => self.approval_ended(stage, action, outcome?, inflight),
            Event::LockPoll { stage } => {
                self.stages[stage].polling = false;
                Ok(())
            }
            Event::WindowTimer { stage } => self.window_woke(stage),
            Event::Committed => {
                self.uncommitted -= 1;
                Ok(())
            }
            Event::Rollback {
                stage,
                why,
                source,
                result,
            } => {
                let how = match result {
                    Ok((id, status)) => {
                        format!(
                            "rolled back by run {id} (inputs of run {source}): {}",
                            status.as_str()
                        )
                    }
                    Err(e) => {
                        format!("the rollback to the inputs of run {source} could not run: {e}")
                    }
                };
                self.stages[stage].phase = Phase::Actions;
                self.end_stage(
                    stage,
                    "failed",
                    &format!("{why}; {how}"),
                    Verdict::Fails(why.clone()),
                )
            }
        }
    }

    /// Starts waiting for a decision on approval action `j` of stage `i` (the stage is
    /// running: the action counts as running until it is decided or the run is held).
    fn wait_approval(&mut self, i: usize, j: usize, inflight: &mut FuturesUnordered<Pending<'r>>) {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let a = &stage.actions[j];
        let since = *self
            .approval_since
            .entry((i, j))
            .or_insert_with(jiff::Timestamp::now);
        let secs = approval_timeout(a);
        let waited = jiff::Timestamp::now()
            .duration_since(since)
            .as_secs()
            .max(0)
            .unsigned_abs();
        let deadline = Instant::now() + Duration::from_secs(secs.saturating_sub(waited));
        // Decided (or out of time) already: no wait, and nothing to hold the run for.
        // A decision made after the approval's time was up does not count.
        let late = |d: &Decision| {
            d.at.parse::<jiff::Timestamp>()
                .is_ok_and(|at| at.duration_since(since).as_secs().max(0).unsigned_abs() >= secs)
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
        self.approvals.insert((i, j));
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
                    () = tokio::time::sleep_until(deadline.min(now + POLL * 5).into()) => {}
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

    fn approval_ended(
        &mut self,
        i: usize,
        j: usize,
        outcome: Approval,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        self.approvals.remove(&(i, j));
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let a = &stage.actions[j];
        let attempt = self.stages[i].acts[j].1;
        let log = self.log_path(&format!("{}.{}.{attempt}", stage.name, a.name));
        let log_text = log.to_string_lossy().into_owned();
        let (act_state, status, detail) = match outcome {
            Approval::Recheck => {
                let failed_here = self.stages[i]
                    .acts
                    .iter()
                    .position(|(s, _)| *s == ActState::Failed);
                let why = match (&self.failed, failed_here) {
                    (Some(at), _) => format!("not decided: the run failed at `{at}`"),
                    (None, Some(k)) => format!(
                        "not decided: `{}` of its stage failed",
                        stage.actions[k].name
                    ),
                    (None, None) => {
                        self.wait_approval(i, j, inflight);
                        return Ok(());
                    }
                };
                // Not decided, as an action that never started: the stage's failure (and
                // its `on failure` policy, which may ask again) is decided as usual.
                (ActState::Pending, "abandoned", why)
            }
            Approval::Stopped => (
                ActState::Abandoned,
                "abandoned",
                "not decided: the run was stopped".to_string(),
            ),
            Approval::TimedOut(secs) => (
                ActState::Failed,
                "failed",
                format!(
                    "no decision within its timeout ({}); the approval failed",
                    crate::duration::format(secs)
                ),
            ),
            Approval::Decided(d) if d.approved => (ActState::Succeeded, "succeeded", d.describe()),
            Approval::Decided(d) => (ActState::Failed, "failed", d.describe()),
        };
        let _ = append(&log, &format!("pipec: {detail}\n"));
        self.stages[i].acts[j].0 = act_state;
        let log_field = log.exists().then_some(log_text.as_str());
        let secs = self.approval_since.get(&(i, j)).map_or(0.0, |t| {
            jiff::Timestamp::now().duration_since(*t).as_secs_f64()
        });
        self.record(i, j, status, attempt, None, log_field, secs, &detail)
    }

    /// An entry or `on success` check ended: when it was the last, decide the stage.
    fn check_ended(
        &mut self,
        i: usize,
        rule: usize,
        label: String,
        workspace: PathBuf,
        result: Result<(), String>,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let s = &mut self.stages[i];
        s.checks_running -= 1;
        let log = self.log_path(&format!("{label}.1"));
        let detail = match &result {
            Ok(()) => {
                self.workspaces.release(workspace);
                String::new()
            }
            Err(why) => {
                let why = exec::mask(why, &self.masks);
                let kept = self.workspaces.keep(&workspace, &label);
                let _ = append(&log, &format!("\npipec: {why}\n"));
                format!("{why}; workspace kept at {}", kept.display())
            }
        };
        (self.run.report)(Progress::Check {
            label,
            passed: result.is_ok(),
            detail,
            log: log.exists().then_some(log),
        });
        let stopping = self.stopping();
        let s = &mut self.stages[i];
        if s.phase == Phase::Exit {
            s.exit_checks.insert(rule, result);
        } else {
            s.checks.insert(rule, result);
        }
        if s.checks_running > 0 {
            return Ok(());
        }
        if stopping {
            return self.end_stage(
                i,
                "abandoned",
                "the run was stopped",
                Verdict::Fails("stopped".into()),
            );
        }
        let s = &mut self.stages[i];
        match s.phase {
            Phase::Entry => {
                s.phase = Phase::Waiting;
                self.decide(i, inflight)
            }
            Phase::Exit => {
                s.phase = Phase::Actions;
                self.actions_done(i, inflight)
            }
            _ => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)] // Reason: one attempt's outcome, each part distinct.
    fn attempt_ended(
        &mut self,
        i: usize,
        j: usize,
        took: Duration,
        workspace: PathBuf,
        result: Result<Finished, Failure>,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) -> Result<(), String> {
        let run = self.run;
        let stage = &run.ir.pipeline.stages[i];
        let a = &stage.actions[j];
        let attempt = self.stages[i].acts[j].1;
        let log = self.log_path(&format!("{}.{}.{attempt}", stage.name, a.name));
        let log_text = log.to_string_lossy().into_owned();
        match result {
            Ok(done) => {
                for w in &done.warnings {
                    let _ = append(&log, &format!("pipec: warning: {w}\n"));
                }
                for (k, v) in done.exports {
                    // A secret never reaches the history, nor later actions through an export.
                    let masked = exec::mask(&v, &self.masks);
                    if masked != v {
                        let warning = format!(
                            "pipec: warning: export `{k}` holds a secret's value; it is kept masked\n"
                        );
                        let _ = append(&log, &warning);
                    }
                    let v = masked;
                    run.history
                        .export(run.run_id, &stage.name, &a.name, &k, &v)?;
                    self.scope
                        .exports
                        .insert((stage.name.clone(), a.name.clone(), k), v);
                }
                self.workspaces.release(workspace);
                self.stages[i].acts[j].0 = ActState::Succeeded;
                let log = log.exists().then_some(log);
                let log_field = log.as_ref().map(|_| log_text.as_str());
                self.record(
                    i,
                    j,
                    "succeeded",
                    attempt,
                    done.exit_code,
                    log_field,
                    took.as_secs_f64(),
                    "",
                )?;
                let _ = log;
            }
            Err(mut failure) => {
                failure.why = exec::mask(&failure.why, &self.masks);
                if failure.timed_out {
                    if let Some(which) = &self.stages[i].limits[j] {
                        failure.why = format!(
                            "timed out: {which} was reached; its process group was stopped"
                        );
                    }
                }
                let _ = append(&log, &format!("\npipec: {}\n", failure.why));
                let kept = if workspace.as_os_str().is_empty() {
                    None
                } else {
                    Some(
                        self.workspaces
                            .keep(&workspace, &format!("{}.{}.{attempt}", stage.name, a.name)),
                    )
                };
                let retry = attempt <= a.retry.count
                    && !failure.stopped
                    && !self.stopping()
                    && self.failed.is_none()
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
                let status = if failure.stopped {
                    "abandoned"
                } else {
                    "failed"
                };
                self.stages[i].acts[j].0 = if failure.stopped {
                    ActState::Abandoned
                } else {
                    ActState::Failed
                };
                self.record(
                    i,
                    j,
                    status,
                    attempt,
                    failure.exit_code,
                    Some(&log_text),
                    took.as_secs_f64(),
                    &detail,
                )?;
            }
        }
        Ok(())
    }

    /// A failed attempt that has retries left: back off, then pending again.
    fn retry_later(
        &mut self,
        i: usize,
        j: usize,
        took: Duration,
        detail: String,
        log: PathBuf,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) {
        let stage = &self.run.ir.pipeline.stages[i];
        let a = &stage.actions[j];
        let attempt = self.stages[i].acts[j].1;
        self.stages[i].acts[j].0 = ActState::Backoff;
        (self.run.report)(Progress::Action {
            stage: stage.name.clone(),
            action: a.name.clone(),
            status: "retrying".into(),
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
    fn backoff(
        &self,
        i: usize,
        j: usize,
        due: Instant,
        inflight: &mut FuturesUnordered<Pending<'r>>,
    ) {
        let wake = self
            .limit(i, None)
            .map_or(due, |(left, _)| due.min(Instant::now() + left));
        let mut stop = self.run.stop.clone();
        let mut halt = self.halt.subscribe();
        inflight.push(Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => {}
                _ = stop.wait_for(|level| *level > 0) => {}
                _ = halt.changed() => {}
            }
            Event::BackoffOver {
                stage: i,
                action: j,
                due,
            }
        }));
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.run
            .history
            .dir
            .join("logs")
            .join(self.run.run_id)
            .join(format!("{name}.log"))
    }

    /// Records an action's change in the history, then shows it.
    #[allow(clippy::too_many_arguments)] // Reason: the change and where it goes, each distinct.
    fn record(
        &mut self,
        i: usize,
        j: usize,
        status: &str,
        attempt: u32,
        exit_code: Option<i32>,
        log: Option<&str>,
        secs: f64,
        detail: &str,
    ) -> Result<(), String> {
        let stage = &self.run.ir.pipeline.stages[i];
        let a = &stage.actions[j];
        // Every end is committed at once: after a crash, nothing that finished runs again.
        // The scheduler waits for the commit only when something depends on it (another
        // action, a failure); other ends go to the writer thread.
        let commit = if status == "running" {
            Commit::Queued
        } else if matches!(status, "succeeded" | "skipped") && !self.stages[i].awaited[j] {
            Commit::Soon
        } else {
            Commit::Now
        };
        if status == "failed" {
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
                attempt,
                exit_code,
                log,
            },
        )?;
        if commit == Commit::Soon {
            // The slot is free once the end is committed.
            let committed = self.run.history.committed()?;
            self.uncommitted += 1;
            self.notices.push(Box::pin(async move {
                let _ = committed.await;
                Event::Committed
            }));
        }
        (self.run.report)(Progress::Action {
            stage: stage.name.clone(),
            action: a.name.clone(),
            status: status.to_string(),
            attempt,
            secs,
            detail: detail.to_string(),
            log: log.map(PathBuf::from),
        });
        Ok(())
    }

    /// One attempt of `a` in workspace `ws`, as a future that owns what it needs.
    fn attempt(
        &mut self,
        a: &'a Action,
        label: &str,
        log_name: &str,
        attempt: u32,
        ws: PathBuf,
        timeout: Option<Duration>,
    ) -> AttemptFuture<'r> {
        let run = self.run;
        self.outputs += 1;
        let outputs_file = self
            .workspaces
            .root
            .join(format!("out{}.env", self.outputs));
        let log = self.log_path(log_name);
        let echo = self.echo.as_ref().map(|(tx, _)| Echo {
            tx: tx.clone(),
            label: label.to_string(),
        });
        let prepared = prepare(
            run,
            &self.scope,
            a,
            attempt,
            &ws,
            &outputs_file,
            log,
            timeout,
            echo.as_ref(),
            label,
        );
        let state = run.history.dir.clone();
        let run_id = run.run_id.to_string();
        let source = self.source.clone();
        let inputs = a.inputs.clone();
        let outputs = a.outputs.clone();
        let exports = a.exports.clone();
        let stop = run.stop.clone();
        AttemptFuture(Box::pin(async move {
            let prepared = prepared.map_err(Failure::new)?;
            // Inputs first: restoring and capturing may copy a lot, so off the scheduler.
            if !inputs.is_empty() {
                let (state, run_id, ws) = (state.clone(), run_id.clone(), ws.clone());
                blocking(move || {
                    for input in &inputs {
                        let name = &input.name;
                        // A rollback's inputs come from its source run.
                        let from = match &source {
                            Some(s) if !super::artifacts::exists(&state, &run_id, name) => s,
                            _ => &run_id,
                        };
                        let folder = input.folder.as_deref();
                        super::artifacts::restore(&state, from, name, &ws, folder)?;
                    }
                    Ok(())
                })
                .await
                .map_err(Failure::new)?;
            }
            let ended = prepared.go(run, &stop).await;
            // Read (with bounds) and removed whatever happened: it may hold anything.
            let written = super::outputs::read(&outputs_file, &exports);
            let _ = std::fs::remove_file(&outputs_file);
            let exit_code = ended?;
            let (exports, warnings) = written.map_err(Failure::new)?;
            if !outputs.is_empty() {
                blocking(move || {
                    for o in &outputs {
                        super::artifacts::capture(&state, &run_id, &o.name, &ws, &o.path)?;
                    }
                    Ok(())
                })
                .await
                .map_err(Failure::new)?;
            }
            Ok(Finished {
                exports,
                warnings,
                exit_code,
            })
        }))
    }
}

/// The run state of every stage, with its graph pre-indexed.
fn stage_runs(ir: &Ir, index: &BTreeMap<&str, usize>, now: Instant) -> Vec<StageRun> {
    ir.pipeline
        .stages
        .iter()
        .map(|s| {
            let actions: BTreeMap<&str, usize> = s
                .actions
                .iter()
                .enumerate()
                .map(|(j, a)| (a.name.as_str(), j))
                .collect();
            let preds: Vec<Vec<usize>> = s
                .actions
                .iter()
                .map(|a| {
                    a.after
                        .iter()
                        .filter_map(|p| actions.get(p.as_str()).copied())
                        .collect()
                })
                .collect();
            let mut awaited = vec![false; s.actions.len()];
            for &p in preds.iter().flatten() {
                awaited[p] = true;
            }
            (s, preds, awaited)
        })
        .map(|(s, preds, awaited)| StageRun {
            sources: s
                .inbound
                .iter()
                .filter_map(|e| index.get(e.from.as_str()).copied())
                .collect(),
            limits: vec![None; preds.len()],
            preds,
            awaited,
            phase: Phase::Waiting,
            acts: vec![(ActState::Pending, 0); s.actions.len()],
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
        })
        .collect()
}

/// `on failure rollback`: runs `stage` again as a run nested in `run`, with the recorded
/// pipeline, params, exports and artifacts of run `source`.
async fn rollback_run(
    run: &Run<'_>,
    stage: &str,
    source: &str,
    label: &str,
) -> Result<(String, RunStatus), String> {
    let rec = run
        .history
        .recorded(source)?
        .ok_or_else(|| format!("run {source} is not in the history"))?;
    let ir = super::resume::ir_of(&rec)?;
    let values = super::resume::params_of(&ir, &rec)?;
    let facts = super::resume::facts_of(&rec);
    let facts_json = serde_json::to_value(&facts).unwrap_or_default();
    let params_json = serde_json::to_value(&rec.params).unwrap_or_default();
    let file = rec.file.clone().unwrap_or_else(|| run.options.file.clone());
    let id = run.history.start_run(
        &ir,
        &params_json,
        &super::state::Snapshot {
            parent: Some(run.run_id),
            facts: &facts_json,
            file: Some(&file),
            source: Some(source),
        },
    )?;
    let options = Options {
        jobs: run.options.jobs,
        file,
        secret_sources: run.options.secret_sources.clone(),
        verbose: run.options.verbose,
        loader: run.options.loader,
        parents: run.options.parents.clone(),
        inherited: run.options.inherited.clone(),
        clock: run.options.clock,
    };
    let report = |p: Progress| (run.report)(p.nested_under(label));
    let start = Start::Rollback {
        stage: stage.to_string(),
        source: rec,
    };
    let child = Run {
        ir: &ir,
        history: run.history,
        run_id: &id,
        values: &values,
        secrets: run.secrets,
        facts: &facts,
        options: &options,
        report: &report,
        stop: run.stop,
        start: &start,
    };
    let mut status = execute(&child).await?;
    if status == RunStatus::Waiting {
        // A rollback is not resumed on its own: held, it fails (and leaves its stage).
        run.history.finish_run(&id, "failed")?;
        status = RunStatus::Failed;
    }
    Ok((id, status))
}

/// An attempt in flight; `map` tags its result with the event it becomes.
struct AttemptFuture<'r>(Pin<Box<dyn Future<Output = Result<Finished, Failure>> + 'r>>);

impl<'r> AttemptFuture<'r> {
    fn map(self, f: impl FnOnce(Result<Finished, Failure>) -> Event + 'r) -> Pending<'r> {
        Box::pin(async move { f(self.0.await) })
    }
}

/// A `window` or `check` rule, from the clock (`now`) or from the checks that ran.
fn rule_known_at(
    index: usize,
    rule: &CondRule,
    checks: &BTreeMap<usize, Result<(), String>>,
    now: jiff::Timestamp,
) -> Known {
    match rule {
        CondRule::Require { .. } => Known::Depends("a condition".into()),
        CondRule::Window { cron, tz, .. } => {
            match crate::patterns::in_window(cron, tz.as_deref(), now) {
                Ok(true) => Known::Yes,
                Ok(false) => Known::No(format!(
                    "outside the deployment window `{cron}`{}",
                    tz.as_ref().map(|z| format!(" ({z})")).unwrap_or_default()
                )),
                Err(e) => Known::No(format!("the deployment window `{cron}`: {e}")),
            }
        }
        CondRule::Check { action } => match checks.get(&index) {
            Some(Ok(())) => Known::Yes,
            Some(Err(why)) => Known::No(format!("check `{}` failed: {why}", action.name)),
            None => Known::Depends(format!("the check `{}` has not run", action.name)),
        },
    }
}

/// The `check` rules of `cond` with no result yet, by index.
fn unrun_checks(cond: &Condition, done: &BTreeMap<usize, Result<(), String>>) -> Vec<usize> {
    cond.rules
        .iter()
        .enumerate()
        .filter(|(i, r)| matches!(r, CondRule::Check { .. }) && !done.contains_key(i))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::rule_known_at;
    use crate::ir::CondRule;
    use crate::runtime::plan::Known;

    #[test]
    fn windows_hold_only_in_their_minutes() {
        let rule = |cron: &str, tz: Option<&str>| CondRule::Window {
            cron: cron.into(),
            tz: tz.map(str::to_string),
            span: crate::ir::Span::default(),
        };
        let at: jiff::Timestamp = "2026-11-26T10:30:00Z".parse().expect("time");
        let none = std::collections::BTreeMap::new();
        assert!(matches!(
            rule_known_at(0, &rule("* 10 * * *", None), &none, at),
            Known::Yes
        ));
        assert!(matches!(
            rule_known_at(0, &rule("* 9 * * *", None), &none, at),
            Known::No(_)
        ));
        // 10:30 UTC is 11:30 in Berlin (CET).
        assert!(matches!(
            rule_known_at(0, &rule("30 11 * * THU", Some("Europe/Berlin")), &none, at),
            Known::Yes
        ));
    }
}
