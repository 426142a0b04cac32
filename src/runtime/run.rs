//! Executing a run: stages in graph order, actions of a stage as their `after` graph allows
//! (at most `jobs` at once), attempts in fresh workspaces, artifacts and exports between
//! them, every state change recorded in the history before the run moves on.
//!
//! Supported kinds: `sh`, `dir`, `wait`. `git`, `approval` and `pipeline` actions, `window` and
//! `check` rules, and `rollback` fail with a message saying so (issue 3 is in progress).
#![allow(clippy::disallowed_methods)] // Reason: the runtime creates workspaces and copies files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::eval::{EvalError, Scope, Value, eval};
use super::exec::{self, Attempt, Outcome};
use super::plan::{RunFacts, Verdict, stage_verdict, topological};
use super::state::{ActionUpdate, History};
use crate::ir::{Action, Expr, FailurePolicy, Ir, Kind, RetryScope, Stage};

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
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Waiting => "waiting",
            RunStatus::Stopped => "stopped",
        }
    }
}

/// Settings of one run.
pub struct Options {
    pub jobs: usize,
    /// Folder of the pipeline file: relative paths (`dir.path`) resolve against it.
    pub base: PathBuf,
    /// Environment variables that are sources of secrets: removed from actions.
    pub secret_sources: Vec<String>,
}

struct RunScope<'a> {
    params: &'a BTreeMap<String, Value>,
    secrets: &'a BTreeMap<String, String>,
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

/// Runs `ir` to its end.
#[allow(clippy::too_many_arguments)] // Reason: the run's inputs, each distinct; a struct would only rename them.
pub async fn execute(
    stop: &tokio::sync::watch::Receiver<u8>,
    ir: &Ir,
    history: &History,
    run_id: &str,
    values: &BTreeMap<String, Value>,
    secrets: &BTreeMap<String, String>,
    facts: &RunFacts,
    options: &Options,
    report: &dyn Fn(Progress),
) -> Result<RunStatus, String> {
    let mut scope = RunScope {
        params: values,
        secrets,
        facts,
        run_id,
        exports: BTreeMap::new(),
        statuses: BTreeMap::new(),
    };
    let mut verdicts: BTreeMap<&str, Verdict> = BTreeMap::new();
    let mut status = RunStatus::Succeeded;
    for stage in topological(&ir.pipeline.stages) {
        if status != RunStatus::Succeeded || *stop.borrow() > 0 {
            break;
        }
        let verdict = stage_verdict(stage, &verdicts, &scope);
        let (record, detail) = match &verdict {
            Verdict::Runs => ("running", String::new()),
            Verdict::Skipped(why) | Verdict::NotReached(why) => ("skipped", why.clone()),
            Verdict::Held(why) => ("waiting", why.clone()),
            Verdict::Fails(why) => ("failed", why.clone()),
            Verdict::Depends(why) | Verdict::RunsOrSkipped(why) => (
                "failed",
                format!("this runtime cannot decide the entry yet: {why}"),
            ),
            Verdict::AfterFailure(why) => ("pending", why.clone()),
        };
        history.stage(run_id, &stage.name, record)?;
        report(Progress::Stage {
            stage: stage.name.clone(),
            status: record.into(),
            detail,
        });
        match record {
            "skipped" => {
                scope.statuses.insert(stage.name.clone(), "skipped".into());
            }
            "waiting" => status = RunStatus::Waiting,
            "pending" => {}
            "failed" => status = RunStatus::Failed,
            _ => {
                let ok = run_stage(
                    stop, ir, stage, history, run_id, &mut scope, options, report,
                )
                .await?;
                let result = if ok { "succeeded" } else { "failed" };
                history.stage(run_id, &stage.name, result)?;
                report(Progress::Stage {
                    stage: stage.name.clone(),
                    status: result.into(),
                    detail: String::new(),
                });
                scope.statuses.insert(stage.name.clone(), result.into());
                if !ok {
                    status = RunStatus::Failed;
                }
            }
        }
        verdicts.insert(
            &stage.name,
            if record == "running" {
                Verdict::Runs
            } else {
                verdict
            },
        );
    }
    if *stop.borrow() > 0 {
        status = RunStatus::Stopped;
    }
    history.finish_run(run_id, status.as_str())?;
    Ok(status)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Pending,
    Running,
    Succeeded,
    Skipped,
    Failed,
}

/// One stage: `after` order, `jobs` at a time, retries, then `on failure`.
#[allow(clippy::too_many_arguments)] // Reason: the run's context, passed down explicitly.
async fn run_stage(
    stop: &tokio::sync::watch::Receiver<u8>,
    ir: &Ir,
    stage: &Stage,
    history: &History,
    run_id: &str,
    scope: &mut RunScope<'_>,
    options: &Options,
    report: &dyn Fn(Progress),
) -> Result<bool, String> {
    let mut states = vec![State::Pending; stage.actions.len()];
    let mut rounds = match stage.on_failure {
        FailurePolicy::Retry { count, .. } => count + 1,
        _ => 1,
    };
    loop {
        run_actions(
            stop,
            ir,
            stage,
            &mut states,
            history,
            run_id,
            scope,
            options,
            report,
        )
        .await?;
        if !states.contains(&State::Failed) {
            return Ok(true);
        }
        rounds -= 1;
        match stage.on_failure {
            FailurePolicy::Retry { scope: which, .. } if rounds > 0 => {
                for s in &mut states {
                    let again = match which {
                        RetryScope::All => true,
                        RetryScope::Failed => matches!(*s, State::Failed | State::Pending),
                    };
                    if again {
                        *s = State::Pending;
                    }
                }
            }
            _ => return Ok(false),
        }
    }
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)] // Reason: one scheduling loop over the stage's context.
async fn run_actions(
    stop: &tokio::sync::watch::Receiver<u8>,
    ir: &Ir,
    stage: &Stage,
    states: &mut [State],
    history: &History,
    run_id: &str,
    scope: &mut RunScope<'_>,
    options: &Options,
    report: &dyn Fn(Progress),
) -> Result<(), String> {
    let index: BTreeMap<&str, usize> = stage
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let mut running = tokio::task::JoinSet::new();
    let mut attempts = vec![0u32; stage.actions.len()];
    let mut failed = false;
    loop {
        // Start what is ready, up to `jobs`, unless something failed for good.
        for i in 0..stage.actions.len() {
            if failed
                || *stop.borrow() > 0
                || running.len() >= options.jobs
                || states[i] != State::Pending
            {
                continue;
            }
            let a = &stage.actions[i];
            let preds: Vec<State> = a
                .after
                .iter()
                .filter_map(|p| index.get(p.as_str()))
                .map(|&j| states[j])
                .collect();
            if preds
                .iter()
                .any(|s| matches!(s, State::Pending | State::Running | State::Failed))
            {
                continue;
            }
            if let Some(w) = &a.when {
                if !matches!(eval(w, scope), Ok(Value::Bool(true))) {
                    states[i] = State::Skipped;
                    record(
                        history,
                        report,
                        run_id,
                        &stage.name,
                        &a.name,
                        &ActionUpdate {
                            status: "skipped",
                            attempt: 0,
                            exit_code: None,
                            log: None,
                        },
                        0.0,
                        None,
                    )?;
                    continue;
                }
            }
            attempts[i] += 1;
            let prepared = prepare(ir, stage, a, attempts[i], history, run_id, scope, options);
            states[i] = State::Running;
            let update = ActionUpdate {
                status: "running",
                attempt: attempts[i],
                exit_code: None,
                log: None,
            };
            record(
                history,
                report,
                run_id,
                &stage.name,
                &a.name,
                &update,
                0.0,
                None,
            )?;
            let started = Instant::now();
            let stop_rx = stop.clone();
            running.spawn(async move {
                let result = match prepared {
                    Ok(p) => p.go(stop_rx).await,
                    Err(e) => Err(e),
                };
                (i, started.elapsed(), result)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (i, took, result) = joined.map_err(|e| format!("an action task failed: {e}"))?;
        let a = &stage.actions[i];
        let log = history
            .dir
            .join("logs")
            .join(run_id)
            .join(format!("{}.{}.{}.log", stage.name, a.name, attempts[i]));
        let outcome = match result {
            Ok(done) => finish(stage, a, &done, scope, history, run_id),
            Err(e) => Err(e),
        };
        let (ended, exit_code) = match &outcome {
            Ok(c) => ("succeeded", *c),
            Err(why) => {
                let _ = append(&log, &format!("\npipec: {why}\n"));
                ("failed", None)
            }
        };
        if ended == "failed" && attempts[i] <= a.retry.count && *stop.borrow() == 0 {
            states[i] = State::Pending;
            tokio::time::sleep(Duration::from_secs(a.retry.backoff_secs)).await;
            continue;
        }
        states[i] = if ended == "succeeded" {
            State::Succeeded
        } else {
            State::Failed
        };
        failed |= ended == "failed";
        let log_text = log.to_string_lossy().into_owned();
        let update = ActionUpdate {
            status: ended,
            attempt: attempts[i],
            exit_code,
            log: Some(&log_text),
        };
        record(
            history,
            report,
            run_id,
            &stage.name,
            &a.name,
            &update,
            took.as_secs_f64(),
            Some(log),
        )?;
    }
    Ok(())
}

/// Records an action's change in the history, then shows it.
#[allow(clippy::too_many_arguments)] // Reason: the change and where it goes, each distinct.
fn record(
    history: &History,
    report: &dyn Fn(Progress),
    run_id: &str,
    stage: &str,
    action: &str,
    update: &ActionUpdate<'_>,
    secs: f64,
    log: Option<PathBuf>,
) -> Result<(), String> {
    history.action(run_id, stage, action, update)?;
    report(Progress::Action {
        stage: stage.to_string(),
        action: action.to_string(),
        status: update.status.to_string(),
        attempt: update.attempt,
        secs,
        log,
    });
    Ok(())
}

/// What a finished attempt left behind.
struct Done {
    outcome: Outcome,
    workspace: PathBuf,
    outputs_file: PathBuf,
}

/// An attempt ready to go.
enum Prepared {
    Shell(Box<Attempt>, PathBuf, PathBuf),
    Wait(Duration, PathBuf),
    /// A `dir` snapshot is taken when the attempt "runs".
    Dir {
        from: PathBuf,
        exclude: Vec<String>,
        workspace: PathBuf,
    },
}

impl Prepared {
    async fn go(self, stop: tokio::sync::watch::Receiver<u8>) -> Result<Done, String> {
        match self {
            Prepared::Shell(attempt, workspace, outputs_file) => {
                let outcome = exec::run(&attempt, &stop)
                    .await
                    .map_err(|e| format!("cannot start `{}`: {e}", attempt.shell))?;
                Ok(Done {
                    outcome,
                    workspace,
                    outputs_file,
                })
            }
            Prepared::Wait(d, workspace) => {
                tokio::time::sleep(d).await;
                Ok(Done {
                    outcome: Outcome::Exited(0),
                    outputs_file: workspace.join(".none"),
                    workspace,
                })
            }
            Prepared::Dir {
                from,
                exclude,
                workspace,
            } => {
                copy_tree(&from, &workspace, &exclude)
                    .map_err(|e| format!("cannot snapshot `{}`: {e}", from.display()))?;
                Ok(Done {
                    outcome: Outcome::Exited(0),
                    outputs_file: workspace.join(".none"),
                    workspace,
                })
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // Reason: the run's context, passed down explicitly.
fn prepare(
    ir: &Ir,
    stage: &Stage,
    a: &Action,
    attempt: u32,
    history: &History,
    run_id: &str,
    scope: &RunScope<'_>,
    options: &Options,
) -> Result<Prepared, String> {
    let root = history
        .dir
        .join("work")
        .join(run_id)
        .join(&stage.name)
        .join(&a.name)
        .join(attempt.to_string());
    let workspace = root.join("ws");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&workspace)
        .map_err(|e| format!("cannot create the workspace `{}`: {e}", workspace.display()))?;
    std::fs::create_dir_all(history.dir.join("logs").join(run_id)).map_err(|e| e.to_string())?;
    restore_inputs(a, &workspace, &history.dir, run_id)?;
    let param_text = |name: &str| a.params.get(name).map(|e| eval(e, scope).map(|v| v.text()));
    match a.kind {
        Kind::Sh => {
            let script = match a.params.get("run") {
                Some(Expr::Interp { parts, .. }) => super::eval::render_script(parts, scope),
                Some(other) => eval(other, scope).map(|v| v.text()),
                None => Ok(String::new()),
            }
            .map_err(describe)?;
            let shell = param_text("shell")
                .transpose()
                .map_err(describe)?
                .unwrap_or_else(|| "bash".into());
            let workdir = param_text("workdir")
                .transpose()
                .map_err(describe)?
                .unwrap_or_else(|| ".".into());
            let outputs_file = root.join("outputs.env");
            std::fs::write(&outputs_file, "").map_err(|e| e.to_string())?;
            let mut env: Vec<(String, String)> = Vec::new();
            for (k, v) in &a.env {
                env.push((k.clone(), eval(v, scope).map_err(describe)?.text()));
            }
            env.extend([
                ("PIPEC_RUN_ID".into(), run_id.to_string()),
                ("PIPEC_STAGE".into(), stage.name.clone()),
                ("PIPEC_ACTION".into(), a.name.clone()),
                ("PIPEC_ATTEMPT".into(), attempt.to_string()),
                (
                    "PIPEC_OUTPUT".into(),
                    outputs_file.to_string_lossy().into_owned(),
                ),
            ]);
            for i in &a.inputs {
                env.push((
                    format!("PIPEC_INPUT_{}", i.name),
                    workspace.join(&i.path).to_string_lossy().into_owned(),
                ));
            }
            let log = history
                .dir
                .join("logs")
                .join(run_id)
                .join(format!("{}.{}.{attempt}.log", stage.name, a.name));
            let attempt = Attempt {
                shell,
                script,
                workdir: workspace.join(workdir),
                env,
                env_remove: options.secret_sources.clone(),
                timeout: a
                    .timeout_secs
                    .or(ir.pipeline.timeout_secs)
                    .map(Duration::from_secs),
                grace: Duration::from_secs(5),
                log,
                secrets: scope.secrets.values().cloned().collect(),
            };
            Ok(Prepared::Shell(Box::new(attempt), workspace, outputs_file))
        }
        Kind::Wait => match a.params.get("duration").map(|e| eval(e, scope)) {
            Some(Ok(Value::Duration(secs))) => {
                Ok(Prepared::Wait(Duration::from_secs(secs), workspace))
            }
            _ => Err("`wait` needs a duration".into()),
        },
        Kind::Dir => {
            let path = param_text("path")
                .transpose()
                .map_err(describe)?
                .unwrap_or_else(|| ".".into());
            let exclude = match a.params.get("exclude").map(|e| eval(e, scope)) {
                Some(Ok(Value::List(items))) => items.iter().map(Value::text).collect(),
                _ => Vec::new(),
            };
            let mut exclude: Vec<String> = exclude;
            // Never snapshot the state directory itself.
            exclude.push(".pipec/**".into());
            Ok(Prepared::Dir {
                from: options.base.join(path),
                exclude,
                workspace,
            })
        }
        Kind::Git | Kind::Approval | Kind::Pipeline => Err(format!(
            "`{}` actions are not supported by this version of the runtime yet",
            match a.kind {
                Kind::Git => "git",
                Kind::Approval => "approval",
                _ => "pipeline",
            }
        )),
    }
}

#[allow(clippy::needless_pass_by_value)] // Reason: used as `map_err(describe)`.
fn describe(e: EvalError) -> String {
    e.to_string()
}

/// After an attempt: exit status, declared exports, declared outputs.
fn finish(
    stage: &Stage,
    a: &Action,
    done: &Done,
    scope: &mut RunScope<'_>,
    history: &History,
    run_id: &str,
) -> Result<Option<i32>, String> {
    match done.outcome {
        Outcome::Exited(0) => {}
        Outcome::Exited(code) => return Err(format!("exited with status {code}")),
        Outcome::Signalled(sig) => return Err(format!("killed by signal {sig}")),
        Outcome::TimedOut => return Err("timed out; its process group was stopped".into()),
        Outcome::Stopped => return Err("stopped".into()),
    }
    if a.kind == Kind::Sh {
        let text = std::fs::read_to_string(&done.outputs_file).unwrap_or_default();
        let declared: Vec<String> = a.exports.clone();
        let (values, _warnings) = exec::parse_outputs(&text, &declared)?;
        for (k, v) in values {
            history.export(run_id, &stage.name, &a.name, &k, &v)?;
            scope
                .exports
                .insert((stage.name.clone(), a.name.clone(), k), v);
        }
    }
    for o in &a.outputs {
        super::artifacts::capture(&history.dir, run_id, &o.name, &done.workspace, &o.path)?;
    }
    Ok(Some(0))
}

fn restore_inputs(a: &Action, workspace: &Path, state: &Path, run_id: &str) -> Result<(), String> {
    for i in &a.inputs {
        super::artifacts::restore(state, run_id, &i.name, workspace)?;
    }
    Ok(())
}

/// Copies a folder, leaving out paths (relative to `from`) that match `exclude` globs.
fn copy_tree(from: &Path, to: &Path, exclude: &[String]) -> std::io::Result<()> {
    let matchers: Vec<_> = exclude
        .iter()
        .filter_map(|p| crate::patterns::glob(p).ok())
        .collect();
    let mut stack = vec![from.to_path_buf()];
    std::fs::create_dir_all(to)?;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(from).unwrap_or(&path);
            let rel_text = rel.to_string_lossy();
            if matchers
                .iter()
                .any(|m| m.is_match(rel_text.as_ref()) || m.is_match(format!("{rel_text}/x")))
            {
                continue;
            }
            let target = to.join(rel);
            if entry.file_type()?.is_dir() {
                std::fs::create_dir_all(&target)?;
                stack.push(path);
            } else {
                std::fs::copy(&path, &target)?;
            }
        }
    }
    Ok(())
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}
