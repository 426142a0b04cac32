//! Durable runs from the command line: `resume`, `retry` and `rollback` drive a recorded run
//! on (decisions about runs, which only record, are in `decisions.rs`).

use std::path::PathBuf;

use super::error::{Error, Outcome};
use super::execute::{Drive, drive, exit_code, open_history, read_secrets};
use crate::runtime::resume::{Start, base_of, facts_of, ir_of, params_of};
use crate::runtime::run::{RunStatus, StageStatus};
use crate::runtime::settle::Settled;
use crate::runtime::state::{Claim, History, Recorded, Snapshot, resolve_dir};

/// How a run that goes on in this process is shown and scheduled.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Actions running at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Run actions that have an `image` in containers (as `pipec run --containers`).
    #[arg(long, env = "PIPEC_CONTAINERS", value_enum, num_args = 0..=1, default_missing_value = "auto", value_name = "RUNTIME")]
    containers: Option<super::containers::Choice>,
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

/// The history and the recorded run `run` names, once what its approvals need applied has
/// been ([`History::settle`]: a rejection or a passed timeout of a held run), with what was.
pub(crate) fn recorded(
    state_dir: Option<&std::path::Path>,
    run: &str,
) -> Result<(History, Recorded, Settled), Error> {
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
    let settled = h
        .settle(&id, jiff::Timestamp::now())
        .map_err(Error::usage)?;
    match h.recorded(&id) {
        Ok(Some(rec)) => Ok((h, rec, settled)),
        Ok(None) => Err(Error::usage(format!("run `{id}` is gone from the history"))),
        Err(e) => Err(Error::usage(e)),
    }
}

pub(crate) fn resume(args: &ResumeArgs) -> Outcome {
    let (history, rec, _) = recorded(args.common.state_dir.as_deref(), &args.run)?;
    if rec.status.ended() {
        eprintln!("run {} has ended: {}", rec.id, rec.status);
        // Why it failed (a rejection applied without a process, …).
        for s in &rec.stages {
            if s.status == StageStatus::Failed {
                let why = s.reason.as_deref().unwrap_or("failed");
                eprintln!("  stage {}: {why}", s.name);
            }
        }
        eprintln!("  details: pipec show {}", rec.id);
        return Ok(exit_code(rec.status));
    }
    go_on(&history, &rec, &args.common, false, None)
}

pub(crate) fn retry(args: &RetryArgs) -> Outcome {
    let (history, rec, _) = recorded(args.common.state_dir.as_deref(), &args.run)?;
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
    super::output::say(&format!(
        "note: run {} is retried as it was recorded when it started (its pipeline, params and \
         trigger); changes made to {file} since then are not used: start a new run with \
         `pipec run` to use them",
        rec.id
    ));
    go_on(&history, &rec, &args.common, true, Some(args.all))
}

/// Refuses to retry `rec` when a later run has entered a stage the retry would run (as
/// `CodePipeline` retries only the latest execution in a stage): its older inputs would go
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
pub(crate) fn go_on(
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
    let secrets = read_secrets(&ir, &base_of(rec)).map_err(Error::invalid)?;
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
        super::output::say(&format!(
            "note: ended {strays} process(es) left by the earlier pipec of run {}",
            rec.id
        ));
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
        verbose: super::output::verbose(),
        containers: super::containers::resolve(common.containers, &ir)?,
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
    let base = base_of(&rec);
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
    let containers = super::containers::resolve(args.common.containers, &ir)?;
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
        verbose: super::output::verbose(),
        containers,
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
    let status = rec
        .stages
        .iter()
        .find(|s| s.name == *stage)
        .map(|s| s.status);
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
