//! `pipec run` without `--dry-run`: reads secrets, opens the history, runs, reports.
//!
//! On a terminal the run is a live view (a spinner per running action, finished stages and
//! actions above it); otherwise plain timestamped lines. Both end with a summary.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{Error, Outcome};
use crate::ir::{Ir, SecretSource};
use crate::runtime::eval::Value;
use crate::runtime::plan::RunFacts;
use crate::runtime::run::{
    ActionStatus, Child, Options, Processes, Progress, Run, RunStatus, Start, execute,
};
use crate::runtime::secrets::Inherited;
use crate::runtime::state::{History, Snapshot};

/// `aws` actions that cannot run on this machine stop the run before it starts.
fn refuse_aws(ir: &Ir) -> Result<(), Error> {
    let bucket = std::env::var_os(crate::runtime::aws::BUCKET_VAR).is_some_and(|b| !b.is_empty());
    let refused = crate::runtime::aws::refusals(ir, bucket);
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{} cannot run locally:\n  - {}",
        if refused.len() == 1 { "an `aws` action" } else { "some `aws` actions" },
        refused.join("\n  - ")
    ))
    .help("run the pipeline in CodePipeline (`pipec compile --target codepipeline`), or replace these actions for local runs"))
}

pub(crate) fn run(
    args: &super::run::Args,
    ir: &Ir,
    values: &BTreeMap<String, Value>,
    facts: &RunFacts,
    containers: &crate::runtime::container::Containers,
) -> Outcome {
    let base = args
        .file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let secrets = read_secrets(ir, &base).map_err(Error::invalid)?;
    refuse_aws(ir)?;
    let dir = crate::runtime::state::resolve_dir(args.state_dir.as_deref());
    let history = open_history(&dir)?;
    let params_json: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.text())))
        .collect();
    // Absolute: a run resumed from another folder still finds the files it names.
    let file = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let snapshot = Snapshot {
        parent: None,
        facts: &serde_json::to_value(facts).unwrap_or_default(),
        file: Some(&file),
        source: None,
    };
    let run_id = history
        .start_run(ir, &serde_json::Value::Object(params_json), &snapshot)
        .map_err(Error::usage)?;
    drive(&Drive {
        ir,
        values,
        facts,
        file: args.file.clone(),
        jobs: args.jobs,
        verbose: super::output::verbose(),
        containers: containers.clone(),
        start: &Start::Fresh,
        history: &history,
        run_id: &run_id,
        secrets: &secrets,
        headline: format!(
            "run {run_id} of pipeline `{}` (state: {})",
            ir.pipeline.name,
            dir.display()
        ),
    })
}

/// Opens the history of a state directory, or says why it cannot be used (exit 2).
pub(crate) fn open_history(dir: &Path) -> Result<History, Error> {
    let history = History::open(dir)
        .map_err(|e| Error::usage(e).help("pass a writable folder with `--state-dir DIR`"))?;
    if let Some(lost) = &history.lost {
        eprintln!("warning: {lost}");
    }
    Ok(history)
}

/// A run to drive to its end (or hold): new, resumed, retried or a rollback.
pub(crate) struct Drive<'a> {
    pub(crate) ir: &'a Ir,
    pub(crate) values: &'a BTreeMap<String, Value>,
    pub(crate) facts: &'a RunFacts,
    pub(crate) file: std::path::PathBuf,
    pub(crate) jobs: Option<u16>,
    pub(crate) verbose: bool,
    pub(crate) start: &'a Start,
    pub(crate) history: &'a History,
    pub(crate) run_id: &'a str,
    pub(crate) secrets: &'a BTreeMap<String, String>,
    /// The first line shown.
    pub(crate) headline: String,
    /// `--containers`: where actions with an image run.
    pub(crate) containers: crate::runtime::container::Containers,
}

/// Runs a recorded run in this process, showing its progress; returns the exit code.
pub(crate) fn drive(d: &Drive<'_>) -> Outcome {
    let (ir, history, run_id, secrets) = (d.ir, d.history, d.run_id, d.secrets);
    let jobs = d.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let options = Options {
        jobs,
        file: d.file.clone(),
        secret_sources: secret_sources(ir),
        verbose: d.verbose,
        loader: &load_child,
        parents: Vec::new(),
        inherited: Inherited::default(),
        clock: &jiff::Timestamp::now,
        runner: &Processes,
        containers: d.containers.clone(),
    };
    let masks = crate::runtime::exec::masks(&secrets.values().cloned().collect::<Vec<_>>());
    let view = View::new(masks.clone());
    view.line(&d.headline);
    // Descendants that leave their attempt's process group come back to us to be ended.
    crate::runtime::exec::adopt_orphans();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Err(Error::internal(format!("cannot start the runtime: {e}"))),
    };
    let report = |p: Progress| view.show(&p);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(0u8);
    let result = runtime.block_on(async {
        // Handlers are installed before anything runs, so no signal is missed.
        let kind = tokio::signal::unix::SignalKind::interrupt();
        let int = tokio::signal::unix::signal(kind).ok();
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::spawn(watch_signals(stop_tx.clone(), int, term));
        let run = Run {
            ir,
            history,
            run_id,
            values: d.values,
            secrets,
            facts: d.facts,
            options: &options,
            report: &report,
            stop: &stop_rx,
            start: d.start,
        };
        // `pipec stop` from another terminal is read from the history (the run may also be
        // held at a lock or an approval, where no signal would be seen sooner).
        tokio::select! {
            result = execute(&run) => result,
            () = watch_stop_requests(history, run_id, &stop_tx, &view) => unreachable!(),
        }
    });
    view.finish();
    match result {
        Ok(status) => {
            view.summary(run_id, status.as_str());
            if status == RunStatus::Waiting && !super::output::quiet() {
                eprintln!(
                    "note: the run is held (the stages marked `waiting` say by what); once it may go on (a decision, an enabled transition, an open window), `pipec resume {run_id}` goes on"
                );
            }
            Ok(exit_code(status))
        }
        Err(e) => {
            // An error may quote what an action wrote: masked before it is shown or kept.
            let e = crate::runtime::exec::mask(&e.to_string(), &masks);
            let error = Error::invalid(&e);
            Err(match history.fail_run(run_id, &e) {
                Ok(()) => error,
                Err(again) => error.note(format!(
                    "the run cannot be recorded as failed now ({again}); the next pipec command that opens this state directory with room to write records it"
                )),
            })
        }
    }
}

/// The exit code of a run that ended (or is held) with `status` (CLI.md).
pub(crate) fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Succeeded => super::exit::OK,
        RunStatus::Failed | RunStatus::Superseded => super::exit::INVALID,
        RunStatus::Stopped => super::exit::STOPPED,
        RunStatus::Waiting => super::exit::HELD,
        // A run never ends `running`: only a bug would ask.
        RunStatus::Running => super::exit::INTERNAL,
    }
}

/// Environment variables that are sources of secrets: actions do not inherit them.
fn secret_sources(ir: &Ir) -> Vec<String> {
    ir.pipeline
        .secrets
        .iter()
        .filter_map(|s| match &s.source {
            SecretSource::Env { var } => Some(var.clone()),
            SecretSource::File { .. } => None,
        })
        .collect()
}

/// The front end for `pipeline` actions: reads, checks and binds the child pipeline in the
/// environment it inherits. Diagnostics come back as text (they end up in the action's log
/// and failure message).
fn load_child(
    file: &Path,
    params: &BTreeMap<String, String>,
    inherited: &Inherited,
) -> Result<Child, String> {
    let text = super::files::read_pipeline(file)?;
    let ir = if super::files::is_ir(file) {
        let ir = crate::ir::from_json(&text).map_err(|e| format!("`{}`: {e}", file.display()))?;
        crate::ir::validate(&ir)
            .map_err(|why| format!("`{}` is not a valid pipeline: {why}", file.display()))?;
        ir
    } else {
        let mut map = crate::source::SourceMap::new();
        let root = map.add(super::files::display_name(file), text);
        let out = crate::compile(&mut map, root, &mut super::files::FsLoader);
        let errors: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| crate::diagnostics::render::short(&map, d))
            .collect();
        if !errors.is_empty() {
            return Err(format!(
                "`{}` has errors:\n{}",
                file.display(),
                errors.join("\n")
            ));
        }
        out.ir
            .ok_or_else(|| format!("`{}` has no pipeline to run", file.display()))?
    };
    let given: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let values = super::run::param_values_of(&ir, &given, &base, inherited)?;
    let secrets = secrets_in(&ir, &base, inherited)?;
    Ok(Child {
        secret_sources: secret_sources(&ir),
        ir,
        values,
        secrets,
    })
}

/// The last `most` bytes of a log, as text.
fn log_end(log: &Path, most: u64) -> std::io::Result<String> {
    use std::io::{Read as _, Seek as _};
    let mut f = std::fs::File::open(log)?;
    let len = f.metadata()?.len();
    f.seek(std::io::SeekFrom::Start(len.saturating_sub(most)))?;
    let mut bytes = Vec::new();
    f.take(most).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Looks for a `pipec stop` of the run every 200 ms: then nothing new starts and running
/// actions finish (Stop and wait). Never returns.
async fn watch_stop_requests(
    history: &History,
    run_id: &str,
    stop_tx: &tokio::sync::watch::Sender<u8>,
    view: &View,
) {
    let wait = crate::runtime::exec::WAIT;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if history.stop_requested(run_id).unwrap_or(false)
            && stop_tx.send_if_modified(|level| {
                let lower = *level < wait;
                *level = (*level).max(wait);
                lower
            })
        {
            view.line(&format!(
                "stopping (`pipec stop`): running actions finish, nothing new starts (Ctrl-C here, or `pipec stop {run_id} --abandon`, stops them)"
            ));
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
        stop_tx.send_modify(|l| *l = (*l).max(level));
    }
}

/// Secrets are read when the run starts and never stored.
pub(crate) fn read_secrets(
    ir: &Ir,
    base: &std::path::Path,
) -> Result<BTreeMap<String, String>, String> {
    secrets_in(ir, base, &Inherited::default())
}

/// The secrets of a run that inherits `inherited` (a nested run also reads the variables its
/// `pipeline` action sets).
fn secrets_in(
    ir: &Ir,
    base: &std::path::Path,
    inherited: &Inherited,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for s in &ir.pipeline.secrets {
        let value = match &s.source {
            SecretSource::Env { var } => inherited
                .env
                .get(var)
                .map(|p| p.value.clone())
                .or_else(|| std::env::var(var).ok())
                .ok_or_else(|| format!("environment variable `{var}` is not set")),
            SecretSource::File { path } => super::files::read_value(&base.join(path)),
        };
        let value = value.map_err(|why| format!("secret `{}` has no value: {why}", s.name))?;
        out.insert(s.name.clone(), value);
    }
    Ok(out)
}

/// One line on stderr in one write (`eprintln!` writes each piece of its format apart, and
/// a run prints two lines per action).
fn plain_line(line: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A duration as people read it: `35 ms`, `2.4s`, `3m 05s`.
fn took(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        // Reason: a run's duration in whole seconds fits easily.
        #[allow(clippy::cast_sign_loss)]
        let whole = secs as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

fn stamp() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}

/// How a run is shown: a live view on a terminal, plain lines otherwise.
struct View {
    live: Option<indicatif::MultiProgress>,
    /// `--quiet`: only failures are shown (a failed action or check, its log's tail, a run
    /// that did not succeed).
    quiet: bool,
    spinners: RefCell<BTreeMap<String, indicatif::ProgressBar>>,
    masks: Vec<String>,
    started: Instant,
    stages: RefCell<BTreeMap<String, String>>,
    actions: RefCell<BTreeMap<String, String>>,
}

impl View {
    fn new(masks: Vec<String>) -> View {
        let quiet = super::output::quiet();
        let live = (!quiet
            && std::io::stderr().is_terminal()
            && std::env::var_os("PIPEC_PLAIN").is_none())
        .then(|| {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
        });
        View {
            live,
            quiet,
            spinners: RefCell::new(BTreeMap::new()),
            masks,
            started: Instant::now(),
            stages: RefCell::new(BTreeMap::new()),
            actions: RefCell::new(BTreeMap::new()),
        }
    }

    /// A line above the live view, or a timestamped plain line (not under `--quiet`).
    fn line(&self, text: &str) {
        if !self.quiet {
            self.alert(text);
        }
    }

    /// A line shown even under `--quiet` (a failure).
    fn alert(&self, text: &str) {
        let text = crate::runtime::exec::mask(text, &self.masks);
        match &self.live {
            Some(m) => {
                let _ = m.println(text);
            }
            // A multi-line text stays under its timestamp.
            None => plain_line(&format!(
                "{} {}\n",
                stamp(),
                text.replace('\n', "\n         ")
            )),
        }
    }

    fn show(&self, p: &Progress) {
        match p {
            Progress::Stage {
                stage,
                status,
                detail,
            } => {
                // The summary counts this run's stages, not those of nested runs.
                if !stage.contains(" > ") {
                    self.stages
                        .borrow_mut()
                        .insert(stage.clone(), status.as_str().to_string());
                }
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                };
                self.line(&format!("stage {stage}: {status}{detail}"));
            }
            Progress::Action {
                stage,
                action,
                status,
                attempt,
                secs,
                detail,
                log,
            } => {
                let key = format!("{stage}.{action}");
                if !stage.contains(" > ") {
                    self.actions
                        .borrow_mut()
                        .insert(key.clone(), status.as_str().to_string());
                }
                if *status == ActionStatus::Running {
                    let again = if *attempt > 1 {
                        format!(" (attempt {attempt})")
                    } else {
                        String::new()
                    };
                    match &self.live {
                        Some(m) => {
                            let bar = m.add(indicatif::ProgressBar::new_spinner());
                            bar.set_style(
                                indicatif::ProgressStyle::with_template(
                                    "  {spinner} {msg} {elapsed}",
                                )
                                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                            );
                            bar.set_message(format!("{key}{again}"));
                            bar.enable_steady_tick(Duration::from_millis(100));
                            self.spinners.borrow_mut().insert(key, bar);
                        }
                        None if self.quiet => {}
                        None => plain_line(&format!("{}   {key}: running{again}\n", stamp())),
                    }
                    return;
                }
                if let Some(bar) = self.spinners.borrow_mut().remove(&key) {
                    bar.finish_and_clear();
                    if let Some(m) = &self.live {
                        m.remove(&bar);
                    }
                }
                let took = if *secs > 0.0 {
                    format!(" ({})", took(*secs))
                } else {
                    String::new()
                };
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                };
                let text = format!("  {key}: {status}{took}{detail}");
                if *status == ActionStatus::Failed {
                    self.alert(&text);
                    self.tail(log.as_deref());
                } else {
                    self.line(&text);
                }
            }
            Progress::Output { label, line } => self.line(&format!("  {label} | {line}")),
            Progress::Check {
                label,
                passed,
                detail,
                log,
            } => {
                if *passed {
                    self.line(&format!("  {label}: check passed"));
                } else {
                    self.alert(&format!("  {label}: check failed: {detail}"));
                    self.tail(log.as_deref());
                }
            }
        }
    }

    /// The last lines of a failed action's log (from its last 64 KiB: a log may be huge;
    /// a line is shown by its last 1000 characters).
    fn tail(&self, log: Option<&Path>) {
        let Some(log) = log else { return };
        let Ok(text) = log_end(log, 64 * 1024) else {
            return;
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut out = format!("    --- last lines of {} ---", log.display());
        for l in &lines[lines.len().saturating_sub(20)..] {
            out.push_str("\n    ");
            match l.char_indices().nth_back(999) {
                Some((at, _)) if at > 0 => {
                    out.push('…');
                    out.push_str(&l[at..]);
                }
                _ => out.push_str(l),
            }
        }
        self.alert(&out);
    }

    fn finish(&self) {
        for (_, bar) in std::mem::take(&mut *self.spinners.borrow_mut()) {
            bar.finish_and_clear();
        }
        if let Some(m) = &self.live {
            let _ = m.clear();
        }
    }

    /// The closing summary: counts by status, time taken, the final status.
    fn summary(&self, run_id: &str, status: &str) {
        if self.quiet && status == "succeeded" {
            return;
        }
        let count = |m: &BTreeMap<String, String>| {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for s in m.values() {
                *by.entry(s.as_str()).or_default() += 1;
            }
            by.iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let stages = count(&self.stages.borrow());
        let actions = count(&self.actions.borrow());
        eprintln!(
            "{} run {run_id} {status} in {}; stages: {}; actions: {}",
            stamp(),
            took(self.started.elapsed().as_secs_f64()),
            if stages.is_empty() {
                "none".into()
            } else {
                stages
            },
            if actions.is_empty() {
                "none".into()
            } else {
                actions
            },
        );
        if status != "succeeded" {
            eprintln!("  details: pipec show {run_id}   logs: pipec logs {run_id}");
        }
    }
}
