//! The seam between the scheduler and the outside world: a [`Runner`] carries out one
//! attempt of an action. [`Processes`] is the real one (it prepares the attempt by kind,
//! restores its inputs, runs its process through `runtime::exec`, reads its exports and
//! captures its outputs); the scheduler's unit tests pass a scripted one, so its decisions
//! (order, retries, backoff, timeouts, holds) are tested on tokio's paused time without
//! processes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use super::sched::{Event, Pending};
use super::{Run, RunScope};
use crate::ir::Action;
use crate::runtime::artifacts;
use crate::runtime::attempt::{Failure, Finished, blocking, prepare};
use crate::runtime::exec::Echo;

/// Carries out attempts of actions (and of entry and `on success` checks).
pub trait Runner {
    /// Starts attempt `job.attempt` of `job.action`: a future that owns what it needs.
    fn start<'r>(&self, job: Job<'r, '_>) -> AttemptFuture<'r>;
}

/// One attempt to carry out.
pub struct Job<'r, 's> {
    pub(super) run: &'r Run<'r>,
    /// What the action's expressions see now (read before `start` returns).
    pub(super) scope: &'s RunScope<'s>,
    pub(super) action: &'r Action,
    /// `STAGE.ACTION`, or a check's `STAGE.entry.NAME`.
    pub(super) label: String,
    pub(super) attempt: u32,
    /// Its fresh workspace.
    pub(super) workspace: PathBuf,
    /// Its `$PIPEC_OUTPUT`.
    pub(super) outputs_file: PathBuf,
    pub(super) log: PathBuf,
    /// The time it may take (its own timeout within the stage's and the run's).
    pub(super) timeout: Option<Duration>,
    /// `--verbose`: where its output lines go.
    pub(super) echo: Option<Echo>,
    /// A rollback's source run, whose artifacts inputs come from when this run has none.
    pub(super) source: Option<String>,
}

/// An attempt in flight; `map` tags its result with the event it becomes.
pub struct AttemptFuture<'r>(Pin<Box<dyn Future<Output = Result<Finished, Failure>> + 'r>>);

impl<'r> AttemptFuture<'r> {
    pub(in crate::runtime) fn new(
        f: impl Future<Output = Result<Finished, Failure>> + 'r,
    ) -> AttemptFuture<'r> {
        AttemptFuture(Box::pin(f))
    }

    pub(super) fn map(
        self,
        f: impl FnOnce(Result<Finished, Failure>) -> Event + 'r,
    ) -> Pending<'r> {
        Box::pin(async move { f(self.0.await) })
    }
}

/// The real runner: processes, files and nested runs.
pub struct Processes;

impl Runner for Processes {
    fn start<'r>(&self, job: Job<'r, '_>) -> AttemptFuture<'r> {
        let Job {
            run,
            scope,
            action: a,
            label,
            attempt,
            workspace: ws,
            outputs_file,
            log,
            timeout,
            echo,
            source,
        } = job;
        let prepared = prepare(
            run,
            scope,
            a,
            attempt,
            &ws,
            &outputs_file,
            log,
            timeout,
            echo.as_ref(),
            &label,
        );
        let state = run.history.dir.clone();
        let run_id = run.run_id.to_string();
        let inputs = a.inputs.clone();
        let outputs = a.outputs.clone();
        let exports = a.exports.clone();
        let stop = run.stop.clone();
        AttemptFuture::new(async move {
            let prepared = prepared.map_err(Failure::new)?;
            // Inputs first: restoring and capturing may copy a lot, so off the scheduler.
            if !inputs.is_empty() {
                let (state, run_id, ws) = (state.clone(), run_id.clone(), ws.clone());
                blocking(move || restore_inputs(&state, &run_id, source.as_deref(), &inputs, &ws))
                    .await
                    .map_err(Failure::new)?;
            }
            let ended = prepared.go(run, &stop).await;
            // Read (with bounds) and removed whatever happened: it may hold anything.
            let written = crate::runtime::outputs::take(&outputs_file, &exports);
            let exit = ended?;
            let (exports, warnings) = written.map_err(Failure::new)?;
            if !outputs.is_empty() {
                blocking(move || capture_outputs(&state, &run_id, &outputs, &ws))
                    .await
                    .map_err(Failure::new)?;
            }
            Ok(Finished {
                exports,
                warnings,
                exit_code: exit.code,
                logged: exit.logged,
            })
        })
    }
}

/// Restores an attempt's `inputs` into its workspace `ws`: from this run, or (a rollback)
/// from its `source` run when this run has not captured them.
fn restore_inputs(
    state: &Path,
    run_id: &str,
    source: Option<&str>,
    inputs: &[crate::ir::Input],
    ws: &Path,
) -> Result<(), String> {
    for input in inputs {
        let name = &input.name;
        let from = match source {
            Some(s) if !artifacts::exists(state, run_id, name) => s,
            _ => run_id,
        };
        artifacts::restore(state, from, name, ws, input.folder.as_deref())?;
    }
    Ok(())
}

/// Captures an attempt's `outputs` from its workspace `ws` into the store.
fn capture_outputs(
    state: &Path,
    run_id: &str,
    outputs: &[crate::ir::Artifact],
    ws: &Path,
) -> Result<(), String> {
    for o in outputs {
        artifacts::capture(state, run_id, &o.name, ws, &o.path)?;
    }
    Ok(())
}
