//! Durable runs from the command line: `resume`, `retry`, `rollback` (they drive a recorded
//! run on), `approve`, `reject` and `transition` (they only record a decision).

use std::path::PathBuf;

use super::error::{Error, Outcome};
use super::execute::{Drive, drive, exit_code, open_history, read_secrets};
use crate::runtime::holds::{Decision, Override, declared};
use crate::runtime::resume::{Start, facts_of, ir_of, params_of};
use crate::runtime::run::{ActionStatus, RunStatus, StageStatus};
use crate::runtime::state::{Claim, History, Recorded, Snapshot, now, resolve_dir};

/// How a run that goes on in this process is shown and scheduled.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Actions running at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Stream every action's output live.
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// Continue a held or interrupted run.
#[derive(clap::Args)]
#[command(
    long_about = "Continue a run that is held (an approval was decided, a transition enabled) or \
whose process ended without ending it (killed, crashed). What finished stays finished: only \
actions that had not finished run again, with the artifacts and exports of those that did. \
Processes the earlier pipec left behind are ended first. On a run that has ended, prints its \
outcome and exits with its code (0, 1 or 130).",
    after_help = "Examples:\n  pipec resume last\n  pipec approve last deploy.approve && pipec resume last"
)]
pub(crate) struct ResumeArgs {
    /// A run id, or `last` (the newest run started by `pipec run` or `pipec rollback`).
    run: String,
    #[command(flatten)]
    common: Common,
}

/// Re-run the failed stage of a failed (or stopped) run, and go on from there.
#[derive(clap::Args)]
#[command(
    long_about = "Re-run the stage at which a run failed (or was stopped) in the same run: its \
failed and unfinished actions (with `--all`, all its actions), then go on. Succeeded stages \
stay as they were. The run goes on with the pipeline, params and trigger recorded when it \
started: changes made to the `.pipe` file since then are not used (start a new run with \
`pipec run` to use them).",
    after_help = "Examples:\n  pipec retry last\n  pipec retry 20261126-101500-3 --all"
)]
pub(crate) struct RetryArgs {
    /// A run id, or `last` (the newest run started by `pipec run` or `pipec rollback`).
    run: String,
    /// Re-run every action of the stage, not only those that failed or did not finish.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    common: Common,
}

/// Re-run a stage with the inputs of the last run in which it succeeded (or of `--to RUN`).
#[derive(clap::Args)]
#[command(
    long_about = "Re-run STAGE of PIPELINE as a new run, with the recorded pipeline, params, \
exports and artifacts of the newest run in which STAGE succeeded, or of the run `--to` names \
(STAGE must have succeeded in it). Other stages do not run.",
    after_help = "Examples:\n  pipec rollback webapp deploy\n  pipec rollback webapp deploy --to 20261126-101500-3"
)]
pub(crate) struct RollbackArgs {
    /// The pipeline's name (as in `pipeline NAME`).
    pipeline: String,
    /// The stage to run again.
    stage: String,
    /// The run whose inputs to use (default: the newest in which STAGE succeeded).
    #[arg(long, value_name = "RUN")]
    to: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec approve last deploy.approve --comment \"checked the canary\"\n  pipec reject last deploy.approve --as release-manager\n\nThe decision is recorded; a run whose process is still there goes on at once, a held one with `pipec resume`."
)]
pub(crate) struct DecideArgs {
    /// A run id, or `last` (the newest run started by `pipec run` or `pipec rollback`).
    run: String,
    /// The approval action.
    #[arg(value_name = "STAGE.ACTION")]
    action: String,
    /// Why (recorded, and shown in the action's log and in `pipec show`).
    #[arg(long)]
    comment: Option<String>,
    /// Who decides (default: the user running pipec); checked against the action's
    /// `approvers` when it has any.
    #[arg(long = "as", value_name = "NAME")]
    by: Option<String>,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Switch {
    /// Let runs through (held runs go on when resumed).
    Enable,
    /// Hold runs that get there.
    Disable,
}

/// Enable or disable a transition of a pipeline.
#[derive(clap::Args)]
#[command(
    long_about = "Enable or disable the transition FROM -> TO of PIPELINE for the runs in this \
state directory. A run that reaches a disabled transition is held there (`waiting`) until it \
is enabled and the run resumed. The setting lasts until the pipeline declares that transition \
differently.",
    after_help = "Examples:\n  pipec transition disable webapp staging prod --reason \"release freeze\"\n  pipec transition enable webapp staging prod && pipec resume last"
)]
pub(crate) struct TransitionArgs {
    #[arg(value_enum)]
    switch: Switch,
    /// The pipeline's name (as in `pipeline NAME`).
    pipeline: String,
    /// The stage the transition leaves.
    from: String,
    /// The stage it leads to.
    to: String,
    /// Why (shown where runs are held).
    #[arg(long)]
    reason: Option<String>,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// The history and the recorded run `run` names.
fn recorded(state_dir: Option<&std::path::Path>, run: &str) -> Result<(History, Recorded), Error> {
    let dir = resolve_dir(state_dir);
    if !crate::runtime::state::Layout::of(&dir).history().exists() {
        return Err(Error::usage(format!(
            "no run history in `{}`\nhelp: pass `--state-dir DIR`",
            dir.display()
        )));
    }
    let h = open_history(&dir)?;
    let id = match h.resolve(run) {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(Error::usage(format!(
                "no run `{run}` in this state directory\nhelp: `pipec runs` lists them"
            )));
        }
        Err(e) => return Err(Error::usage(e)),
    };
    match h.recorded(&id) {
        Ok(Some(rec)) => Ok((h, rec)),
        Ok(None) => Err(Error::usage(format!("run `{id}` is gone from the history"))),
        Err(e) => Err(Error::usage(e)),
    }
}

pub(crate) fn resume(args: &ResumeArgs) -> Outcome {
    let (history, rec) = recorded(args.common.state_dir.as_deref(), &args.run)?;
    if rec.status.ended() {
        eprintln!(
            "run {} has ended: {}\n  details: pipec show {}",
            rec.id, rec.status, rec.id
        );
        return Ok(exit_code(rec.status));
    }
    go_on(&history, &rec, &args.common, false, None)
}

pub(crate) fn retry(args: &RetryArgs) -> Outcome {
    let (history, rec) = recorded(args.common.state_dir.as_deref(), &args.run)?;
    if !matches!(rec.status, RunStatus::Failed | RunStatus::Stopped) {
        return Err(Error::usage(format!(
            "the status of run {} is `{}`; `pipec retry` re-runs the failed stage of a failed or stopped run{}",
            rec.id,
            rec.status,
            if matches!(rec.status, RunStatus::Waiting | RunStatus::Running) {
                " (a held or interrupted run goes on with `pipec resume`)"
            } else {
                ""
            }
        )));
    }
    not_overtaken(&history, &rec)?;
    // Like CodePipeline's retry: the run goes on with what it was started with.
    let file = rec
        .file
        .as_ref()
        .map_or_else(|| "the file".to_string(), |f| format!("`{}`", f.display()));
    eprintln!(
        "note: run {} is retried as it was recorded when it started (its pipeline, params and \
         trigger); changes made to {file} since then are not used: start a new run with \
         `pipec run` to use them",
        rec.id
    );
    go_on(&history, &rec, &args.common, true, Some(args.all))
}

/// Refuses to retry `rec` when a later run has entered a stage the retry would run (as
/// CodePipeline retries only the latest execution in a stage): its older inputs would go
/// over the later run's.
fn not_overtaken(history: &History, rec: &Recorded) -> Result<(), Error> {
    for s in &rec.stages {
        if matches!(s.status, StageStatus::Succeeded | StageStatus::Skipped) {
            continue;
        }
        let later = history
            .entered_later(&rec.pipeline, &s.name, rec.seq)
            .map_err(Error::usage)?;
        if let Some(later) = later {
            let to = history
                .successes(&rec.pipeline, &s.name, 1)
                .ok()
                .and_then(|v| v.into_iter().next())
                .map(|r| format!(" (the newest in which it succeeded: {r})"))
                .unwrap_or_default();
            return Err(Error::usage(format!(
                "stage `{}` has run in a later run, {later}, than run {}: a retry would run the older run's inputs over it, so run {} can no longer be retried",
                s.name, rec.id, rec.id
            ))
            .help(format!(
                "to go back to an earlier run's inputs, `pipec rollback {} {} --to RUN`{to}; to go on with run {}'s changes, start a new run",
                rec.pipeline, s.name, rec.id
            )));
        }
    }
    Ok(())
}

/// Resumes (or retries) a recorded run in this process.
fn go_on(
    history: &History,
    rec: &Recorded,
    common: &Common,
    retry: bool,
    all: Option<bool>,
) -> Outcome {
    if let Some(parent) = &rec.parent {
        return Err(Error::usage(format!(
            "run {} runs inside run {parent} (a `pipeline` action or a rollback); resume or retry {parent} instead",
            rec.id
        )));
    }
    let ir = ir_of(rec).map_err(Error::invalid)?;
    let values = params_of(&ir, rec).map_err(Error::invalid)?;
    let base = rec
        .file
        .as_ref()
        .and_then(|f| f.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let secrets = read_secrets(&ir, &base).map_err(Error::invalid)?;
    let from: &[RunStatus] = if retry {
        &[RunStatus::Failed, RunStatus::Stopped]
    } else {
        &[RunStatus::Running, RunStatus::Waiting]
    };
    match history.claim(&rec.id, from) {
        Ok(Claim::Taken) => {}
        Ok(Claim::Busy(owner)) => {
            return Err(Error::usage(format!(
                "run {} is being run by another pipec (process {}); wait for it, or stop it with `pipec stop {}`",
                rec.id, owner.pid, rec.id
            )));
        }
        Ok(Claim::Moved(status)) => {
            return Err(Error::usage(format!(
                "run {} is {status} now (another pipec went on with it meanwhile)\n  details: pipec show {}",
                rec.id, rec.id
            )));
        }
        Err(e) => return Err(Error::usage(e)),
    }
    // What it is now that it is ours (another process may have moved it on since it was
    // read).
    let rec = match history.recorded(&rec.id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(Error::usage(format!(
                "run `{}` is gone from the history",
                rec.id
            )));
        }
        Err(e) => return Err(Error::usage(e)),
    };
    // Whatever the earlier process of this run (and of the runs nested in it) left running.
    let strays = crate::runtime::exec::end_strays(&history.work_dirs(&rec.id));
    if strays > 0 {
        eprintln!(
            "note: ended {strays} process(es) left by the earlier pipec of run {}",
            rec.id
        );
    }
    let facts = facts_of(&rec);
    let file = rec.file.clone().unwrap_or_default();
    let id = rec.id.clone();
    let (verb, start) = if retry {
        (
            "retrying",
            Start::Retry {
                rec,
                all: all.unwrap_or(false),
            },
        )
    } else {
        ("resuming", Start::Resume(rec))
    };
    drive(&Drive {
        ir: &ir,
        values: &values,
        facts: &facts,
        file,
        jobs: common.jobs,
        verbose: common.verbose,
        start: &start,
        history,
        run_id: &id,
        secrets: &secrets,
        headline: format!(
            "{verb} run {id} of pipeline `{}` (state: {})",
            ir.pipeline.name,
            history.dir.display()
        ),
    })
}

pub(crate) fn rollback(args: &RollbackArgs) -> Outcome {
    let dir = resolve_dir(args.common.state_dir.as_deref());
    if !crate::runtime::state::Layout::of(&dir).history().exists() {
        return Err(Error::usage(format!(
            "no run history in `{}`: nothing to roll back to\nhelp: pass `--state-dir DIR`",
            dir.display()
        )));
    }
    let history = open_history(&dir)?;
    known_stage(&history, &dir, &args.pipeline, &args.stage)?;
    let source = match &args.to {
        Some(to) => chosen_source(&history, args, to)?,
        None => match history.last_success(&args.pipeline, &args.stage, None) {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(Error::usage(format!(
                    "no run of pipeline `{}` in which stage `{}` succeeded: nothing to roll back to\nhelp: `pipec runs --pipeline {}` lists its runs",
                    args.pipeline, args.stage, args.pipeline
                )));
            }
            Err(e) => return Err(Error::usage(e)),
        },
    };
    let rec = match history.recorded(&source) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(Error::usage(format!(
                "run `{source}` is gone from the history"
            )));
        }
        Err(e) => return Err(Error::usage(e)),
    };
    let base = rec
        .file
        .as_ref()
        .and_then(|f| f.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let ir = ir_of(&rec).map_err(Error::invalid)?;
    let values = params_of(&ir, &rec).map_err(Error::invalid)?;
    let secrets = read_secrets(&ir, &base).map_err(Error::invalid)?;
    let facts = facts_of(&rec);
    let file = rec.file.clone().unwrap_or_default();
    let snapshot = Snapshot {
        parent: None,
        facts: &serde_json::to_value(&facts).unwrap_or_default(),
        file: Some(&file),
        source: Some(&source),
    };
    let params = serde_json::to_value(&rec.params).unwrap_or_default();
    let id = match history.start_run(&ir, &params, &snapshot) {
        Ok(id) => id,
        Err(e) => return Err(Error::usage(e)),
    };
    let start = Start::Rollback {
        stage: args.stage.clone(),
        source: rec,
    };
    drive(&Drive {
        ir: &ir,
        values: &values,
        facts: &facts,
        file,
        jobs: args.common.jobs,
        verbose: args.common.verbose,
        start: &start,
        history: &history,
        run_id: &id,
        secrets: &secrets,
        headline: format!(
            "run {id}: rollback of stage `{}` of pipeline `{}` with the inputs of run {source}",
            args.stage, args.pipeline
        ),
    })
}

/// The run `rollback --to` names, when its stage may be rolled back to: a run of the
/// pipeline (not a rollback itself) in which the stage succeeded.
fn chosen_source(history: &History, args: &RollbackArgs, to: &str) -> Result<String, Error> {
    let (pipeline, stage) = (&args.pipeline, &args.stage);
    let id = match history.resolve(to) {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(
                Error::usage(format!("no run `{to}` in this state directory"))
                    .help(format!("`pipec runs --pipeline {pipeline}` lists its runs")),
            );
        }
        Err(e) => return Err(Error::usage(e)),
    };
    let rec = match history.recorded(&id) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Error::usage(format!("run `{id}` is gone from the history"))),
        Err(e) => return Err(Error::usage(e)),
    };
    let status = rec.stages.iter().find(|s| s.name == *stage).map(|s| s.status);
    let why = if rec.pipeline != *pipeline {
        Some(format!("run {id} is a run of pipeline `{}`", rec.pipeline))
    } else if let Some(source) = &rec.source {
        Some(format!(
            "run {id} is a rollback (with the inputs of run {source}): roll back to {source} instead"
        ))
    } else if status != Some(StageStatus::Succeeded) {
        Some(format!(
            "stage `{stage}` did not succeed in run {id} (it is {})",
            status.map_or("not recorded", |s| s.as_str())
        ))
    } else if rec.ir.is_none() {
        Some(format!("run {id} was recorded without its pipeline"))
    } else {
        None
    };
    let Some(why) = why else {
        return Ok(id);
    };
    let good = history.successes(pipeline, stage, 5).unwrap_or_default();
    let help = if good.is_empty() {
        format!("no run of `{pipeline}` succeeded in `{stage}`")
    } else {
        format!(
            "runs in which `{stage}` succeeded, newest first: {}",
            good.join(", ")
        )
    };
    Err(Error::usage(why).help(help))
}

/// An unknown pipeline or stage, said as such (known from the newest run of the pipeline).
fn known_stage(
    history: &History,
    dir: &std::path::Path,
    pipeline: &str,
    stage: &str,
) -> Result<(), Error> {
    match history.latest_ir(pipeline).map_err(Error::usage)? {
        None => {
            let names: std::collections::BTreeSet<String> = history
                .runs(None)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.pipeline)
                .collect();
            Err(Error::usage(format!(
                "no run of a pipeline `{pipeline}` in `{}`{}",
                dir.display(),
                if names.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\nhelp: pipelines that ran here: {}",
                        names.into_iter().collect::<Vec<_>>().join(", ")
                    )
                }
            )))
        }
        Some((_, text)) => {
            let Ok(ir) = crate::ir::from_json(&text) else {
                return Ok(());
            };
            let stages: Vec<&str> = ir.pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            if stages.contains(&stage) {
                Ok(())
            } else {
                Err(Error::usage(format!(
                    "pipeline `{pipeline}` has no stage `{stage}`\nhelp: its stages: {}",
                    stages.join(", ")
                )))
            }
        }
    }
}

/// The user running pipec.
fn whoami() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

pub(crate) fn approve(args: &DecideArgs) -> Outcome {
    decide(args, true)
}

pub(crate) fn reject(args: &DecideArgs) -> Outcome {
    decide(args, false)
}

fn decide(args: &DecideArgs, approved: bool) -> Outcome {
    let (history, rec) = recorded(args.state_dir.as_deref(), &args.run)?;
    let verb = if approved { "approve" } else { "reject" };
    let Some((stage, action)) = args.action.split_once('.') else {
        return Err(Error::usage(format!(
            "`{}` is not STAGE.ACTION (for example `deploy.approve`)",
            args.action
        )));
    };
    let by = args.by.clone().unwrap_or_else(whoami);
    if by.trim().is_empty() {
        return Err(Error::usage("`--as` needs a name"));
    }
    let approvers = decidable(&rec, stage, action, verb)?;
    if !approvers.is_empty() && !approvers.contains(&by) {
        return Err(Error::usage(format!(
            "`{by}` may not {verb} `{}`: its approvers are {}\nhelp: decide as one of them (`--as NAME` names who decides)",
            args.action,
            approvers.join(", ")
        )));
    }
    let decision = Decision {
        approved,
        by: by.clone(),
        comment: args.comment.clone(),
        at: now(),
    };
    match history.decide(&rec.id, stage, action, &decision) {
        Ok(Ok(())) => {}
        Ok(Err(earlier)) => {
            return Err(Error::usage(format!(
                "`{}` of run {} was already {} by {} at {}",
                args.action,
                rec.id,
                if earlier.approved {
                    "approved"
                } else {
                    "rejected"
                },
                earlier.by,
                earlier.at
            )));
        }
        Err(e) => return Err(Error::usage(e)),
    }
    let live = history
        .owner(&rec.id)
        .ok()
        .and_then(|(o, _)| o)
        .is_some_and(|o| o.alive());
    let next = if live {
        "its pipec goes on with it".to_string()
    } else {
        format!("`pipec resume {}` goes on", rec.id)
    };
    eprintln!(
        "{} `{}` of run {} as {by}; {next}",
        if approved { "approved" } else { "rejected" },
        args.action,
        rec.id
    );
    Ok(super::exit::OK)
}

/// The approvers of approval action `stage.action` of `rec` (empty: anyone), when it waits
/// for a decision; else why it cannot be decided.
fn decidable(rec: &Recorded, stage: &str, action: &str, verb: &str) -> Result<Vec<String>, Error> {
    let ir = ir_of(rec).map_err(Error::usage)?;
    let found = ir
        .pipeline
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == action));
    let approvals: Vec<String> = ir
        .pipeline
        .stages
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .filter(|a| a.kind == crate::ir::Kind::Approval)
                .map(move |a| format!("{}.{}", s.name, a.name))
        })
        .collect();
    let list = if approvals.is_empty() {
        "it has none".to_string()
    } else {
        format!("its approvals: {}", approvals.join(", "))
    };
    let Some(a) = found else {
        return Err(Error::usage(format!(
            "run {} has no action `{stage}.{action}` ({list})",
            rec.id
        )));
    };
    if a.kind != crate::ir::Kind::Approval {
        return Err(Error::usage(format!(
            "`{stage}.{action}` is not an approval action ({list})"
        )));
    }
    if rec.status.ended() {
        return Err(Error::usage(format!(
            "run {} has ended ({}): there is nothing to {verb}",
            rec.id, rec.status
        )));
    }
    let recorded = rec
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|x| x.name == action));
    let status = recorded.map_or(ActionStatus::Pending, |x| x.status);
    // Too late: the approval's time is up (its run fails it when it goes on).
    let since = recorded
        .and_then(|x| x.started.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if let Some(since) = since {
        let secs = crate::runtime::run::approval_timeout(a);
        let waited = jiff::Timestamp::now().duration_since(since).as_secs();
        if status == ActionStatus::Waiting && waited >= i64::try_from(secs).unwrap_or(i64::MAX) {
            return Err(Error::usage(format!(
                "`{stage}.{action}` of run {} waited longer than its timeout ({}): it can no longer be decided, and fails when the run goes on (`pipec resume {}`)",
                rec.id,
                crate::syntax::format_duration(secs),
                rec.id
            )));
        }
    }
    if status != ActionStatus::Waiting {
        return Err(Error::usage(format!(
            "`{stage}.{action}` of run {} is not waiting for a decision (it is {status})",
            rec.id
        )));
    }
    approvers_of(a, &ir, rec)
}

/// The names an approval action's `approvers` list holds (with the run's params).
fn approvers_of(
    a: &crate::ir::Action,
    ir: &crate::ir::Ir,
    rec: &Recorded,
) -> Result<Vec<String>, Error> {
    let Some(expr) = a.params.get("approvers") else {
        return Ok(Vec::new());
    };
    let values = params_of(ir, rec).map_err(Error::usage)?;
    match crate::runtime::resume::eval_with_params(expr, &values).map_err(Error::usage)? {
        crate::runtime::eval::Value::List(items) => Ok(items
            .iter()
            .map(crate::runtime::eval::Value::text)
            .collect()),
        other => Ok(vec![other.text()]),
    }
}

pub(crate) fn transition(args: &TransitionArgs) -> Outcome {
    let dir = resolve_dir(args.state_dir.as_deref());
    let history = open_history(&dir)?;
    let ir = match history.latest_ir(&args.pipeline) {
        Ok(Some((_, text))) => match crate::ir::from_json(&text) {
            Ok(ir) => ir,
            Err(e) => {
                return Err(Error::usage(format!(
                    "the recorded pipeline `{}`: {e}",
                    args.pipeline
                )));
            }
        },
        Ok(None) => {
            return Err(Error::usage(format!(
                "no run of pipeline `{}` in `{}`: its transitions are known from its runs\nhelp: run it once, or pass the `--state-dir` it runs with",
                args.pipeline,
                dir.display()
            )));
        }
        Err(e) => return Err(Error::usage(e)),
    };
    let edge = ir
        .pipeline
        .stages
        .iter()
        .find(|s| s.name == args.to)
        .and_then(|s| s.inbound.iter().find(|e| e.from == args.from));
    let Some(edge) = edge else {
        let edges: Vec<String> = ir
            .pipeline
            .stages
            .iter()
            .flat_map(|s| {
                s.inbound
                    .iter()
                    .map(move |e| format!("{} -> {}", e.from, s.name))
            })
            .collect();
        return Err(Error::usage(format!(
            "pipeline `{}` has no transition {} -> {}\nhelp: its transitions: {}",
            args.pipeline,
            args.from,
            args.to,
            edges.join(", ")
        )));
    };
    let enabled = matches!(args.switch, Switch::Enable);
    let by = whoami();
    let reason = args.reason.clone().filter(|r| !r.trim().is_empty());
    let o = Override {
        from: args.from.clone(),
        to: args.to.clone(),
        enabled,
        reason: if enabled {
            reason
        } else {
            Some(reason.unwrap_or_else(|| format!("disabled by {by}")))
        },
        declared: declared(edge.disabled.as_deref()),
        by,
        at: now(),
    };
    if let Err(e) = history.set_override(&args.pipeline, &o) {
        return Err(Error::usage(e));
    }
    let held = history
        .runs(Some(&args.pipeline))
        .map(|rows| {
            rows.into_iter()
                .filter(|r| r.status == RunStatus::Waiting)
                .map(|r| r.id)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    eprintln!(
        "transition {} -> {} of `{}`: {}",
        args.from,
        args.to,
        args.pipeline,
        if enabled { "enabled" } else { "disabled" }
    );
    if enabled && !held.is_empty() {
        eprintln!(
            "  held runs of `{}` go on with `pipec resume RUN`: {}",
            args.pipeline,
            held.join(", ")
        );
    }
    Ok(super::exit::OK)
}
