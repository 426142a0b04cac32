//! `pipec prune`: removes the runs the retention policy does not keep (`runtime::prune`).

use std::path::PathBuf;

use super::error::{Error, Outcome};
use crate::runtime::prune::{Policies, Policy, Report, Why, prune};
use crate::runtime::state::{History, Layout, resolve_dir};

/// Remove old runs: their history, logs, workspaces, and the artifact blobs nothing else uses.
///
/// Which runs go: those beyond the newest `--keep-runs` of their pipeline, or started longer
/// ago than `--keep-for`. Without either, the policy saved with `--save` is used (the one
/// `pipec serve` prunes with). Whatever the policy, a run is kept while it can be resumed
/// (running, held), retried (`pipec retry`), or is a stage's last good run (what
/// `pipec rollback` goes back to).
#[derive(clap::Args)]
#[command(
    group(clap::ArgGroup::new("keep").args(["keep_runs", "keep_for"]).multiple(true)),
    after_help = "Examples:\n  pipec prune --keep-runs 50 --dry-run     what would go, and what it would free\n  pipec prune --keep-runs 50 --keep-for 30d --save   prune, and keep the policy for next time\n  pipec prune                              prune with the saved policy\n  pipec prune --json                       the report as JSON\n\nExit status: 0 pruned (or nothing to prune), 2 usage error (no policy given or saved), unusable state directory, or a file that cannot be removed."
)]
pub(crate) struct Args {
    /// Keep at most N runs of each pipeline (the newest).
    #[arg(long, value_name = "N")]
    keep_runs: Option<u32>,
    /// Keep no run that started longer ago than this (`30d`, `12h`, `1d12h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    keep_for: Option<u64>,
    /// Only this pipeline's runs (with `--save`: a policy for this pipeline alone).
    #[arg(long)]
    pipeline: Option<String>,
    /// Save `--keep-runs`/`--keep-for` as the state directory's policy (then prune with it).
    #[arg(long, requires = "keep")]
    save: bool,
    /// Remove nothing: say what would go and what it would free.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

fn parse_age(s: &str) -> Result<u64, String> {
    crate::duration::parse(s).map_err(|e| format!("`{s}`: {e}"))
}

pub(crate) fn run(args: &Args) -> Outcome {
    let dir = resolve_dir(args.state_dir.as_deref());
    if !Layout::of(&dir).history().exists() {
        super::output::say(&format!(
            "no run history in `{}`: nothing to prune",
            dir.display()
        ));
        if args.json {
            println!("{}", to_json(&Report::default()));
        }
        return Ok(super::exit::OK);
    }
    let history = History::open(&dir).map_err(Error::usage)?;
    let given = Policy {
        runs: args.keep_runs,
        age: args.keep_for,
    };
    if args.save {
        history
            .save_retention(args.pipeline.as_deref(), given)
            .map_err(Error::usage)?;
    }
    let policies = policies(&history, args, given)?;
    let report =
        prune(&history, &policies, jiff::Timestamp::now(), args.dry_run).map_err(Error::usage)?;
    if args.json {
        println!("{}", to_json(&report));
    }
    summarize(&report);
    Ok(super::exit::OK)
}

/// The policies this call prunes with: the flags', else the saved ones (only `--pipeline`'s
/// when given).
fn policies(history: &History, args: &Args, given: Policy) -> Result<Policies, Error> {
    let mut policies = if given.is_empty() {
        history.retention().map_err(Error::usage)?
    } else if let Some(p) = &args.pipeline {
        let mut one = Policies::default();
        one.pipelines.insert(p.clone(), given);
        one
    } else {
        Policies {
            default: Some(given),
            ..Policies::default()
        }
    };
    if let Some(p) = &args.pipeline {
        let only = policies.of(p);
        policies = Policies::default();
        if let Some(only) = only {
            policies.pipelines.insert(p.clone(), only);
        }
    }
    if policies.is_empty() {
        return Err(Error::usage(format!(
            "no retention policy{} in `{}`",
            args.pipeline
                .as_ref()
                .map(|p| format!(" for pipeline `{p}`"))
                .unwrap_or_default(),
            history.dir.display()
        ))
        .help("declare `keep 50 runs` or `keep 30d` in the pipeline, or pass `--keep-runs N` or `--keep-for 30d` (and `--save` to keep it for next time)"));
    }
    Ok(policies)
}

fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// The report for people, on stderr (nothing under `--quiet`; every kept run with `--verbose`).
fn summarize(report: &Report) {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let runs = plural(report.removed.len() as u64, "run");
    super::output::say(&format!(
        "{verb} {runs}: {} (logs {}, workspaces {}, artifact manifests {}, {} {}); {} kept",
        size(report.bytes),
        size(report.logs.bytes),
        size(report.workspaces.bytes),
        size(report.manifests.bytes),
        plural(report.blobs.files, "stored blob"),
        size(report.blobs.bytes),
        plural(report.kept, "run"),
    ));
    if report.protected.is_empty() {
        return;
    }
    super::output::say(&format!(
        "kept {} the policy would remove, because something still needs them",
        plural(report.protected.len() as u64, "run")
    ));
    for k in &report.protected {
        let why = match &k.why {
            Why::Unfinished => "not finished: it can be resumed".to_string(),
            Why::Retryable => "`pipec retry` can still take it".to_string(),
            Why::LastGood(stage) => {
                format!("the last run in which stage `{stage}` succeeded (`pipec rollback`)")
            }
            Why::RollbackSource(run) => format!("rollback run {run} re-used its inputs"),
            Why::Locked => "it holds or waits for a stage's lock".to_string(),
        };
        super::output::detail(&format!("  {}: {why}", k.run));
    }
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Bytes as people read them: `512 B`, `3.4 kB`, `12.0 MB`.
fn size(bytes: u64) -> String {
    // Reason: a size shown with one decimal; precision past 2^52 bytes does not matter.
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes < 1000 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} GB", b / 1e9)
    }
}
