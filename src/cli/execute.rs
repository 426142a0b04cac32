//! `pipec run` without `--dry-run`: reads secrets, opens the history, runs, reports.

use std::collections::BTreeMap;

use crate::ir::{Ir, SecretSource};
use crate::runtime::eval::Value;
use crate::runtime::plan::RunFacts;
use crate::runtime::run::{Options, Progress, RunStatus, execute};
use crate::runtime::state::History;

pub(crate) fn run(
    args: &super::run::Args,
    ir: &Ir,
    values: &BTreeMap<String, Value>,
    facts: &RunFacts,
) -> u8 {
    let base = args
        .file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let Some(secrets) = read_secrets(ir, &base) else {
        return super::exit::INVALID;
    };
    let dir = crate::runtime::state::resolve_dir(args.state_dir.as_deref());
    let history = match History::open(&dir) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}\nhelp: pass a writable folder with `--state-dir DIR`");
            return super::exit::USAGE;
        }
    };
    let params_json: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.text())))
        .collect();
    let run_id = match history.start_run(ir, &serde_json::Value::Object(params_json)) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: {e}");
            return super::exit::USAGE;
        }
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1);
    let secret_sources = ir
        .pipeline
        .secrets
        .iter()
        .filter_map(|s| match &s.source {
            SecretSource::Env { var } => Some(var.clone()),
            SecretSource::File { .. } => None,
        })
        .collect();
    let options = Options {
        jobs,
        base,
        secret_sources,
    };
    eprintln!(
        "{} run {run_id} of pipeline `{}` (state: {})",
        stamp(),
        ir.pipeline.name,
        dir.display()
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return super::exit::INTERNAL;
        }
    };
    let masks: Vec<String> = secrets.values().cloned().collect();
    let report = |p: Progress| show(&p, &masks);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(0u8);
    let result = runtime.block_on(async {
        // Handlers are installed before anything runs, so no signal is missed.
        let kind = tokio::signal::unix::SignalKind::interrupt();
        let int = tokio::signal::unix::signal(kind).ok();
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::spawn(watch_signals(stop_tx, int, term));
        execute(
            &stop_rx, ir, &history, &run_id, values, &secrets, facts, &options, &report,
        )
        .await
    });
    match result {
        Ok(status) => {
            eprintln!("{} run {run_id} {}", stamp(), status.as_str());
            match status {
                RunStatus::Succeeded => super::exit::OK,
                RunStatus::Failed => super::exit::INVALID,
                RunStatus::Stopped => 130,
                RunStatus::Waiting => {
                    eprintln!(
                        "note: the run is held; holds are released by `pipec resume`, which is not available yet"
                    );
                    3
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            let _ = history.finish_run(&run_id, "failed");
            super::exit::INVALID
        }
    }
}

/// Ctrl-C or SIGTERM stops the run (running actions get a grace period); a second one
/// abandons it (SIGKILL at once).
async fn watch_signals(
    stop_tx: tokio::sync::watch::Sender<u8>,
    mut int: Option<tokio::signal::unix::Signal>,
    mut term: Option<tokio::signal::unix::Signal>,
) {
    async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
        match s.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    for level in [crate::runtime::exec::STOP, crate::runtime::exec::ABANDON] {
        tokio::select! {
            () = next(&mut int) => {}
            () = next(&mut term) => {}
        }
        let what = if level == crate::runtime::exec::STOP {
            "stopping: running actions get SIGTERM (again to abandon)"
        } else {
            "abandoning: SIGKILL"
        };
        eprintln!("{} {what}", stamp());
        let _ = stop_tx.send(level);
    }
}

/// Secrets are read when the run starts and never stored.
fn read_secrets(ir: &Ir, base: &std::path::Path) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in &ir.pipeline.secrets {
        let value = match &s.source {
            SecretSource::Env { var } => {
                std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))
            }
            SecretSource::File { path } => std::fs::read_to_string(base.join(path))
                .map(|t| t.trim_end_matches('\n').to_string())
                .map_err(|e| format!("cannot read `{}`: {e}", base.join(path).display())),
        };
        match value {
            Ok(v) => {
                out.insert(s.name.clone(), v);
            }
            Err(why) => {
                eprintln!("error: secret `{}` has no value: {why}", s.name);
                return None;
            }
        }
    }
    Some(out)
}

fn stamp() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}

fn show(p: &Progress, masks: &[String]) {
    match p {
        Progress::Stage {
            stage,
            status,
            detail,
        } => {
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            };
            eprintln!("{} stage {stage}: {status}{detail}", stamp());
        }
        Progress::Action {
            stage,
            action,
            status,
            attempt,
            secs,
            log,
        } => {
            if status == "running" {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                eprintln!("{}   {stage}.{action}: running{again}", stamp());
                return;
            }
            eprintln!("{}   {stage}.{action}: {status} ({secs:.1}s)", stamp());
            if status == "failed" {
                if let Some(text) = log.as_ref().and_then(|l| std::fs::read_to_string(l).ok()) {
                    let lines: Vec<&str> = text.lines().collect();
                    eprintln!(
                        "      --- last lines of {} ---",
                        log.as_ref()
                            .map_or(String::new(), |l| l.display().to_string())
                    );
                    for l in &lines[lines.len().saturating_sub(20)..] {
                        eprintln!("      {}", crate::runtime::exec::mask(l, masks));
                    }
                }
            }
        }
    }
}
