//! Decisions about runs from the command line: `approve`, `reject`, `override` (of a stage's
//! condition) and `transition` (enable or disable one). They record; a run whose process is
//! still going sees the decision at once, a held one when it is resumed (`transition enable
//! --resume` resumes the runs it lets through). A rejection, or an approval out of time,
//! fails a held run at once where its stage's `on failure` needs nothing to run
//! (`runtime::settle`).

use std::path::PathBuf;

use super::durable::{Common, go_on, recorded};
use super::error::{Error, Outcome};
use super::execute::open_history;
use crate::runtime::holds::{
    ConditionOverride, Decision, Override, Refused, StageCondition, declared,
};
use crate::runtime::resume::ir_of;
use crate::runtime::run::{ActionStatus, RunStatus};
use crate::runtime::settle::Settled;
use crate::runtime::state::{Recorded, now, resolve_dir};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec approve last deploy.approve --comment \"checked the canary\"\n  pipec reject last deploy.approve --as release-manager\n\nThe decision is recorded; a run whose process is still there goes on at once, a held one with `pipec resume`. A rejection fails the action, its stage and, with `on failure fail` (the default), the run: at once for a held run, whose stages are then free for the next run."
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
is enabled and the run resumed. Runs held at one transition follow the execution mode, as \
runs waiting for a stage lock do: in `superseded` mode a newer run arriving there supersedes \
the older one held, in `queued` mode they go on in the order they came, in `parallel` mode all \
go on. Enabling names the held runs that may now go on; `--resume` resumes them. The setting \
lasts until the pipeline declares that transition differently.",
    after_help = "Examples:\n  pipec transition disable webapp staging prod --reason \"release freeze\"\n  pipec transition enable webapp staging prod --resume\n\nWith `--resume`, the exit status is that of the first resumed run that did not succeed (0 when all did; see `pipec resume --help`)."
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
    /// Enabling: resume the held runs that may now go on, one after the other in the order
    /// they were created.
    #[arg(long)]
    resume: bool,
    /// Who sets it (default: the user running pipec; `pipec serve` passes the token's name).
    #[arg(long = "as", value_name = "NAME")]
    by: Option<String>,
    #[command(flatten)]
    common: Common,
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
    let (history, rec, settled) = recorded(args.state_dir.as_deref(), &args.run)?;
    let verb = if approved { "approve" } else { "reject" };
    let Some((stage, action)) = args.action.split_once('.') else {
        return Err(Error::usage(format!(
            "`{}` is not STAGE.ACTION (for example `deploy.approve`)",
            args.action
        )));
    };
    // Its time was up: looking at the run failed it just now.
    if let Settled::Failed {
        action: failed,
        why,
    } = &settled
    {
        if *failed == args.action && why.starts_with("no decision within") {
            let timeout = ir_of(&rec)
                .ok()
                .and_then(|ir| {
                    let s = ir.pipeline.stages.iter().find(|s| s.name == stage)?;
                    let a = s.actions.iter().find(|a| a.name == action)?;
                    Some(crate::runtime::run::approval_timeout(a))
                })
                .map(|secs| format!(" ({})", crate::duration::format(secs)))
                .unwrap_or_default();
            return Err(Error::usage(format!(
                "`{}` of run {} waited longer than its timeout{timeout}: it can no longer be decided; the approval failed, and with it the run",
                args.action, rec.id
            )));
        }
    }
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
        .is_some_and(|o| o.alive())
        && rec.status == RunStatus::Running;
    // A rejection of a held run applies at once where it needs nothing to run.
    let settled = if approved || live {
        Settled::Nothing
    } else {
        history
            .settle(&rec.id, jiff::Timestamp::now())
            .map_err(Error::usage)?
    };
    let next = match settled {
        Settled::Failed { .. } => format!(
            "the approval failed, and with it stage `{stage}` and the run (its stages are free)"
        ),
        Settled::Later { .. } => format!(
            "the approval failed; `pipec resume {}` goes on with stage `{stage}`'s `on failure`",
            rec.id
        ),
        Settled::Nothing if live => "its pipec goes on with it".to_string(),
        Settled::Nothing => format!("`pipec resume {}` goes on", rec.id),
    };
    super::output::say(&format!(
        "{} `{}` of run {} as {by}; {next}",
        if approved { "approved" } else { "rejected" },
        args.action,
        rec.id
    ));
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
                crate::duration::format(secs),
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
    crate::runtime::resume::approvers_of(a, &ir, rec).map_err(Error::usage)
}

pub(crate) fn transition(args: &TransitionArgs) -> Outcome {
    let dir = resolve_dir(args.common.state_dir.as_deref());
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
    let by = args.by.clone().unwrap_or_else(whoami);
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
    super::output::say(&format!(
        "transition {} -> {} of `{}`: {}",
        args.from,
        args.to,
        args.pipeline,
        if enabled { "enabled" } else { "disabled" }
    ));
    if !enabled {
        return Ok(super::exit::OK);
    }
    // The runs held there (in `superseded` mode only the newest is left).
    let held = history
        .held_at(&args.pipeline, &args.from, &args.to)
        .map_err(Error::usage)?;
    if held.is_empty() {
        return Ok(super::exit::OK);
    }
    super::output::say(&format!("  held runs that may go on: {}", held.join(", ")));
    if !args.resume {
        super::output::say(
            "  `pipec resume RUN` goes on with each (oldest first), or pass `--resume`",
        );
        return Ok(super::exit::OK);
    }
    // One after the other, oldest first (`queued`: the order they go in).
    let mut code = super::exit::OK;
    for id in held {
        let Some(rec) = history.recorded(&id).map_err(Error::usage)? else {
            continue;
        };
        let this = go_on(&history, &rec, &args.common, false, None)?;
        if code == super::exit::OK {
            code = this;
        }
    }
    Ok(code)
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Which {
    /// The stage's `entry` condition (held for its window with `else wait`, or running its
    /// `check` rules).
    Entry,
    /// Its `on success` condition (running its `check` rules).
    Success,
}

/// Make a stage's condition that is holding or being evaluated count as met.
#[derive(clap::Args)]
#[command(
    long_about = "Make the `entry` or `on success` condition of STAGE in RUN count as met, as \
CodePipeline's OverrideStageCondition does: the break-glass for a deployment freeze. Only a \
condition in progress can be overridden: an `entry` that holds the stage (`else wait` outside \
its window) or whose `check` rules are running, an `on success` whose `check` rules are \
running (they are stopped). The override is recorded (who, when, the comment) and shown by \
`pipec show`. A run whose process is still going sees it within a second; a held run goes on \
with `pipec resume`.",
    after_help = "Examples:\n  pipec override last deploy entry --comment \"hotfix INC-42, approved by the on-call lead\"\n  pipec override 20261126-101500-3 verify success"
)]
pub(crate) struct OverrideArgs {
    /// A run id, or `last` (the newest run started by `pipec run` or `pipec rollback`).
    run: String,
    /// The stage whose condition to override.
    stage: String,
    /// Which condition.
    #[arg(value_enum)]
    condition: Which,
    /// Why (recorded, and shown by `pipec show`).
    #[arg(long)]
    comment: Option<String>,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

pub(crate) fn override_condition(args: &OverrideArgs) -> Outcome {
    let (history, rec, _) = recorded(args.state_dir.as_deref(), &args.run)?;
    let condition = match args.condition {
        Which::Entry => StageCondition::Entry,
        Which::Success => StageCondition::Success,
    };
    let ir = ir_of(&rec).map_err(Error::usage)?;
    let Some(stage) = ir.pipeline.stages.iter().find(|s| s.name == args.stage) else {
        let names: Vec<&str> = ir.pipeline.stages.iter().map(|s| s.name.as_str()).collect();
        return Err(
            Error::usage(format!("run {} has no stage `{}`", rec.id, args.stage))
                .help(format!("its stages: {}", names.join(", "))),
        );
    };
    let declared = match condition {
        StageCondition::Entry => stage.entry.is_some(),
        StageCondition::Success => stage.on_success.is_some(),
    };
    if !declared {
        return Err(Error::usage(format!(
            "stage `{}` has no {condition} condition to override",
            stage.name
        )));
    }
    let o = ConditionOverride {
        condition,
        by: whoami(),
        comment: args.comment.clone().filter(|c| !c.trim().is_empty()),
        at: now(),
    };
    match history.override_condition(&rec.id, &stage.name, &o) {
        Ok(Ok(())) => {}
        Ok(Err(refused)) => return Err(refusal(&rec, &stage.name, condition, refused)),
        Err(e) => return Err(Error::usage(e)),
    }
    let live = history
        .owner(&rec.id)
        .ok()
        .and_then(|(o, _)| o)
        .is_some_and(|o| o.alive())
        && rec.status == RunStatus::Running;
    let next = if live {
        "its pipec goes on with it".to_string()
    } else {
        format!("`pipec resume {}` goes on", rec.id)
    };
    super::output::say(&format!(
        "stage `{}` of run {}: {}; {next}",
        stage.name,
        rec.id,
        o.describe()
    ));
    Ok(super::exit::OK)
}

/// Why an override was refused, as the error the command ends on.
fn refusal(rec: &Recorded, stage: &str, condition: StageCondition, refused: Refused) -> Error {
    match refused {
        Refused::Ended(status) => Error::usage(format!(
            "run {} has ended ({status}): there is no condition to override",
            rec.id
        )),
        Refused::Already(o) => Error::usage(format!(
            "the {condition} condition of stage `{stage}` of run {} was already overridden by {} at {}",
            rec.id, o.by, o.at
        )),
        Refused::NotEvaluating(status) => Error::usage(format!(
            "the {condition} condition of stage `{stage}` of run {} is not holding or being evaluated now (the stage is {status})",
            rec.id
        ))
        .note("only a condition in progress can be overridden: an `entry` held for its window (`else wait`) or running its checks, an `on success` running its checks"),
    }
}
