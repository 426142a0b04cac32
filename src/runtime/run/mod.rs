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
//! approvals, disabled transitions and closed `else wait` windows hold it (it ends
//! `waiting` when nothing else can go on); in `superseded` and `queued` modes a stage is
//! entered only with its lock ([`super::locks`]); `on failure rollback` runs the stage
//! again as a run of its own with the inputs of the last run in which it succeeded.
//!
//! The pieces, one file each: `sched.rs` (the loop and its events), `stage.rs` (the state
//! of each stage and action, by `StageIx`/`ActionIx`), `decide.rs` (deciding and entering a
//! stage), `attempts.rs` (starting actions, their ends, retries and backoff), `checks.rs`
//! (entry and `on success` checks), `approvals.rs`, `window.rs` (`else wait`), `finish.rs`
//! (how a stage ends), `rollback.rs`, `restore.rs` (taking up a recorded run), `record.rs`
//! (history and progress), `runner.rs` (the [`Runner`] seam to processes).
//!
//! Time: monotonic time is tokio's (`tokio::time::Instant`, sleeps), which tests pause and
//! advance; wall-clock time (deployment windows, approval timeouts) comes from
//! [`Options::clock`].
#![allow(clippy::disallowed_methods)] // Reason: the runtime creates workspaces and copies files.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use super::eval::{Scope, Value};
use super::exec;
use super::plan::RunFacts;
pub use super::resume::Start;
use super::secrets::Inherited;
use super::state::History;
pub use super::status::{ActionStatus, RunStatus, StageStatus};
use crate::ir::Ir;
use crate::runtime::error::Error;

mod approvals;
mod attempts;
mod checks;
mod decide;
mod finish;
mod record;
mod restore;
mod rollback;
mod runner;
mod sched;
mod stage;
#[cfg(test)]
mod tests;
mod window;

pub use approvals::approval_timeout;
pub use runner::{AttemptFuture, Job, Processes, Runner};

/// How often a run waiting for a stage lock or an approval looks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// What the CLI shows while a run goes on.
#[derive(Clone, Debug)]
pub enum Progress {
    Stage {
        stage: String,
        status: StageStatus,
        detail: String,
    },
    Action {
        stage: String,
        action: String,
        status: ActionStatus,
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
#[derive(Clone)]
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
    /// The wall clock that deployment windows and approval timeouts are decided by
    /// (`jiff::Timestamp::now`; tests pass one that follows tokio's paused time).
    pub clock: &'a dyn Fn() -> jiff::Timestamp,
    /// What carries out attempts: [`Processes`] (tests pass a scripted one).
    pub runner: &'a dyn Runner,
    /// `--containers`: whether actions with an image run in it, and by what runtime.
    pub containers: crate::runtime::container::Containers,
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

/// What a run's expressions see: params, secrets, trigger facts, the exports of the
/// actions that ended, and the statuses of the stages that ended.
pub(super) struct RunScope<'a> {
    params: &'a BTreeMap<String, Value>,
    pub(super) secrets: &'a BTreeMap<String, String>,
    facts: &'a RunFacts,
    run_id: &'a str,
    exports: BTreeMap<(String, String, String), String>,
    statuses: BTreeMap<String, StageStatus>,
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
        self.statuses.get(stage).map(|s| s.as_str().to_string())
    }
    fn env_var(&self, _: &str) -> Option<String> {
        None
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        Err(format!("`{path}` is not read here"))
    }
}

/// Runs `run.ir` to its end.
pub fn execute<'r>(
    run: &'r Run<'_>,
) -> Pin<Box<dyn Future<Output = Result<RunStatus, Error>> + 'r>> {
    Box::pin(async move {
        let began = tokio::time::Instant::now();
        let mut sched = sched::Sched::new(run)?;
        let status = sched.go().await;
        // Whatever of this run's processes is still around now (adopted by this process
        // after leaving its group) ends with it.
        exec::sweep(&[format!("PIPEC_RUN_ID={}", run.run_id)]);
        for c in std::mem::take(&mut sched.workspaces.cleanups) {
            let _ = c.await;
        }
        let mut status = status?;
        if status == RunStatus::Waiting && run.history.superseded(run.run_id)? {
            // Held at a transition, where a newer run arrived meanwhile.
            status = RunStatus::Superseded;
        }
        run.history
            .add_spent(run.run_id, began.elapsed().as_secs_f64())?;
        run.history.finish_run(run.run_id, status)?;
        if status.ended() {
            // A run that kept no workspace leaves no empty folder (two fewer for `pipec
            // prune` to remove); a retry makes them again.
            sched.workspaces.close();
            let _ = std::fs::remove_dir(run.history.layout().work(run.run_id));
        }
        Ok(status)
    })
}
