//! `pipec runs`, `pipec show`, `pipec logs`: reading the run history.

use std::path::PathBuf;

use super::error::{Error, Outcome};
use crate::runtime::state::History;
use crate::runtime::status::RunStatus;

/// List runs, newest first.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  pipec runs\n  pipec runs --pipeline webapp --json")]
pub(crate) struct RunsArgs {
    /// Only runs of this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Print a JSON array of {id, pipeline, status, started, finished}.
    #[arg(long)]
    json: bool,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// Show one run: its stages, actions, attempts, exit codes and exports.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  pipec show last\n  pipec show 20261126-101500-3 --json")]
pub(crate) struct ShowArgs {
    /// A run id, or `last`: the newest run started by `pipec run` or `pipec rollback` (the runs of `pipeline`
    /// actions have ids of their own, listed by `pipec runs`).
    run: String,
    /// Print the run as JSON.
    #[arg(long)]
    json: bool,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// Print the (masked) log of a run's actions.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec logs last\n  pipec logs last build.compile\n  pipec logs last build.compile --follow   while the run goes on\n  pipec logs last deploy.entry.check       an entry check's output"
)]
pub(crate) struct LogsArgs {
    /// A run id, or `last`: the newest run started by `pipec run` or `pipec rollback` (the runs of `pipeline`
    /// actions have ids of their own, listed by `pipec runs`).
    run: String,
    /// Only this action.
    #[arg(value_name = "STAGE.ACTION")]
    action: Option<String>,
    /// Keep printing new output until the run ends.
    #[arg(long, short = 'f')]
    follow: bool,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

fn open(dir: Option<&std::path::Path>) -> Result<History, Error> {
    let dir = crate::runtime::state::resolve_dir(dir);
    if !crate::runtime::state::Layout::of(&dir).history().exists() {
        return Err(
            Error::usage(format!("no run history in `{}`", dir.display()))
                .help("run a pipeline first, or pass `--state-dir DIR`"),
        );
    }
    super::output::detail(&format!("state directory: `{}`", dir.display()));
    let history = History::open(&dir).map_err(Error::usage)?;
    if let Some(lost) = &history.lost {
        eprintln!("warning: {lost}");
    }
    Ok(history)
}

fn find(h: &History, run: &str) -> Result<String, Error> {
    h.resolve(run).map_err(Error::usage)?.ok_or_else(|| {
        Error::usage(format!("no run `{run}` in this state directory"))
            .help("`pipec runs` lists them")
    })
}

/// A run of the history, by id or `last`.
fn load_run(
    dir: Option<&std::path::Path>,
    run: &str,
) -> Result<crate::runtime::state::RunDetail, Error> {
    let h = open(dir)?;
    let id = find(&h, run)?;
    // What a rejection or a passed approval timeout does to a held run applies now (the
    // first pipec process that looks applies it); a history that cannot be written is read
    // as it is.
    let _ = h.settle(&id, jiff::Timestamp::now());
    match h.show(&id) {
        Ok(Some(detail)) => Ok(detail),
        Ok(None) => Err(Error::usage(format!("cannot read run `{id}`"))),
        Err(e) => Err(Error::usage(format!("cannot read run `{id}`: {e}"))),
    }
}

pub(crate) fn runs(args: &RunsArgs) -> Outcome {
    // No history yet is an empty list, not an error.
    let dir = crate::runtime::state::resolve_dir(args.state_dir.as_deref());
    if !crate::runtime::state::Layout::of(&dir).history().exists() {
        if let Some(lost) = crate::runtime::state::lost(&dir) {
            eprintln!("warning: {lost}");
        }
        if args.json {
            println!("[]");
        } else {
            super::output::say(&format!("no runs yet in `{}`", dir.display()));
        }
        return Ok(super::exit::OK);
    }
    let h = open(args.state_dir.as_deref())?;
    let _ = h.settle_all(jiff::Timestamp::now());
    if args.json {
        let rows = h.runs(args.pipeline.as_deref()).map_err(Error::usage)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(super::exit::OK);
    }
    // Written into one buffer, and with one write (10,000 runs: a `write` each cost more
    // than everything else `runs` does), each run as the history hands it over.
    let mut text = Vec::new();
    h.each_run(args.pipeline.as_deref(), |id, pipeline, status, started| {
        for (field, width) in [(id, 22_usize), (pipeline, 20), (status.as_str(), 10)] {
            text.extend_from_slice(field.as_bytes());
            let pad = width.saturating_sub(field.chars().count()) + 1;
            text.resize(text.len() + pad, b' ');
        }
        text.extend_from_slice(started.as_bytes());
        text.push(b'\n');
    })
    .map_err(Error::usage)?;
    let mut out = std::io::stdout().lock();
    let _ =
        std::io::Write::write_all(&mut out, &text).and_then(|()| std::io::Write::flush(&mut out));
    Ok(super::exit::OK)
}

pub(crate) fn show(args: &ShowArgs) -> Outcome {
    let run = load_run(args.state_dir.as_deref(), &args.run)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run).unwrap_or_default());
        return Ok(super::exit::OK);
    }
    println!(
        "run {} of `{}`: {} (started {})",
        run.id, run.pipeline, run.status, run.started
    );
    if let Some(source) = &run.source {
        println!("  a rollback, with the inputs of run {source}");
    }
    if run.status == RunStatus::Running {
        // A run whose process died (`kill -9`, a crash) still says `running`.
        let h = open(args.state_dir.as_deref()).ok();
        let owner = h
            .as_ref()
            .and_then(|h| h.owner(&run.id).ok())
            .and_then(|(o, _)| o);
        if let Some(o) = owner.filter(|o| !o.alive()) {
            println!(
                "  its process ({}) is gone: `pipec resume {}` goes on from where it stopped",
                o.pid, run.id
            );
        } else if h.is_some_and(|h| h.stop_requested(&run.id).unwrap_or(false)) {
            println!("  stopping (`pipec stop`): its running actions finish, nothing new starts");
        }
    }
    for s in &run.stages {
        match &s.reason {
            Some(why) => println!("  stage {}: {} ({why})", s.name, s.status),
            None => println!("  stage {}: {}", s.name, s.status),
        }
        for o in &s.overrides {
            println!("    {} at {}", o.describe(), o.at);
        }
        for a in &s.actions {
            let exports: Vec<String> = a
                .exports
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let exports = if exports.is_empty() {
                String::new()
            } else {
                format!(" [{}]", exports.join(", "))
            };
            let decision = a
                .decision
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default();
            println!(
                "    {}: {} (attempts {}){exports}{decision}",
                a.name, a.status, a.attempts
            );
        }
    }
    for e in &run.transitions {
        let by =
            e.by.as_deref()
                .map(|b| format!(", set by {b}"))
                .unwrap_or_default();
        let state = if e.enabled { "enabled" } else { "disabled" };
        match &e.reason {
            Some(why) => println!("  transition {} -> {}: {state} ({why}{by})", e.from, e.to),
            None if by.is_empty() => println!("  transition {} -> {}: {state}", e.from, e.to),
            None => println!(
                "  transition {} -> {}: {state} ({})",
                e.from,
                e.to,
                by.trim_start_matches(", ")
            ),
        }
    }
    Ok(super::exit::OK)
}

pub(crate) fn logs(args: &LogsArgs) -> Outcome {
    let run = load_run(args.state_dir.as_deref(), &args.run)?;
    let history = open(args.state_dir.as_deref())?;
    let files = log_files(&history, &run.id);
    // What has a log, in the order of the run: a stage's entry checks, its actions, its
    // `on success` checks.
    let mut labels: Vec<String> = Vec::new();
    for s in &run.stages {
        let checks = |phase: &str| {
            files
                .keys()
                .filter(|l| l.starts_with(&format!("{}.{phase}.", s.name)))
                .cloned()
                .collect::<Vec<_>>()
        };
        labels.extend(checks("entry"));
        labels.extend(s.actions.iter().map(|a| format!("{}.{}", s.name, a.name)));
        labels.extend(checks("on-success"));
    }
    if let Some(want) = &args.action {
        if !labels.contains(want) {
            let close = labels
                .iter()
                .filter(|n| strsim::jaro_winkler(n, want) > 0.8)
                .max_by(|a, b| {
                    strsim::jaro_winkler(a, want).total_cmp(&strsim::jaro_winkler(b, want))
                });
            let error = Error::usage(format!("run {} has no action `{want}`", run.id));
            return Err(match close {
                Some(c) => error.help(format!("did you mean `{c}`?")),
                None => error.help("name it STAGE.ACTION, as `pipec show RUN` lists them"),
            });
        }
    }
    if args.follow {
        return follow(args, run);
    }
    let mut printed = false;
    for label in &labels {
        if args.action.as_ref().is_some_and(|want| want != label) {
            continue;
        }
        let attempts = files.get(label).map_or(&[][..], Vec::as_slice);
        for (n, path) in attempts {
            let Ok(file) = std::fs::File::open(path) else {
                continue;
            };
            if attempts.len() > 1 {
                println!("==> {label} (attempt {n}) <==");
            } else {
                println!("==> {label} <==");
            }
            // Streamed: a log can be bigger than memory.
            if copy_out(file).is_ok_and(|(_, last)| last != Some(b'\n')) {
                println!();
            }
            printed = true;
        }
    }
    if !printed {
        super::output::say(&format!(
            "note: no output{}",
            args.action
                .as_ref()
                .map(|a| format!(" from `{a}`"))
                .unwrap_or_default()
        ));
    }
    Ok(super::exit::OK)
}

/// The log files of a run: label (`STAGE.ACTION`, `STAGE.entry.CHECK`, …) -> (attempt,
/// path), attempts in order. A log exists from an attempt's first line of output.
fn log_files(
    history: &History,
    run: &str,
) -> std::collections::BTreeMap<String, Vec<(u32, String)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(u32, String)>> =
        std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(history.layout().logs(run)) else {
        return out;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some((label, n)) = file
            .strip_suffix(".log")
            .and_then(|f| f.rsplit_once('.'))
            .and_then(|(a, n)| Some((a.to_string(), n.parse::<u32>().ok()?)))
        else {
            continue;
        };
        out.entry(label)
            .or_default()
            .push((n, e.path().to_string_lossy().into_owned()));
    }
    for attempts in out.values_mut() {
        attempts.sort();
    }
    out
}

/// Copies what `from` holds (from where it stands) to stdout, in bounded pieces; returns
/// how many bytes and the last one.
fn copy_out(mut from: impl std::io::Read) -> std::io::Result<(u64, Option<u8>)> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut last) = (0, None);
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok((total, last));
        }
        if let Err(e) = out.write_all(&buf[..n]) {
            // The reader went away (`pipec logs RUN | head`): end as `print!` would.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            return Err(e);
        }
        total += n as u64;
        last = Some(buf[n - 1]);
    }
}

/// `logs --follow`: prints what the logs gain, polling, until the run is over.
fn follow(args: &LogsArgs, mut run: crate::runtime::state::RunDetail) -> Outcome {
    use std::io::{Seek as _, Write as _};
    let history = open(args.state_dir.as_deref())?;
    // Where each log has been printed up to, and whose output was printed last.
    let mut offsets: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut last = String::new();
    loop {
        let over = run.status.ended();
        let latest = log_files(&history, &run.id);
        for s in &run.stages {
            for a in &s.actions {
                let name = format!("{}.{}", s.name, a.name);
                if args.action.as_ref().is_some_and(|want| *want != name) {
                    continue;
                }
                // Each attempt writes its own log: follow the newest.
                let Some(path) = latest
                    .get(&name)
                    .and_then(|attempts| attempts.last())
                    .map(|(_, p)| p.clone())
                    .or_else(|| a.log.clone())
                else {
                    continue;
                };
                let Ok(mut f) = std::fs::File::open(&path) else {
                    continue;
                };
                let at = offsets.entry(path.clone()).or_insert(0);
                let grew = f.metadata().is_ok_and(|m| m.len() > *at);
                if grew && f.seek(std::io::SeekFrom::Start(*at)).is_ok() {
                    if last != path {
                        println!("==> {name} <==");
                        last.clone_from(&path);
                    }
                    if let Ok((n, _)) = copy_out(f) {
                        *at += n;
                    }
                    let _ = std::io::stdout().flush();
                }
            }
        }
        if over {
            return Ok(super::exit::OK);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        match history.show(&run.id) {
            Ok(Some(r)) => run = r,
            Ok(None) => return Ok(super::exit::OK),
            Err(e) => return Err(Error::usage(e)),
        }
    }
}

/// Stop a run from another terminal: running actions finish and nothing new starts (Stop and
/// wait), or with `--abandon` they are stopped (Stop and abandon).
#[derive(clap::Args)]
#[command(
    long_about = "Stop a run from another terminal. By default this is CodePipeline's \
\"Stop and wait\": no new action starts, running actions finish within their own timeouts \
(a database migration is not killed half-way), and the run ends `stopped`; the command waits \
for that (Ctrl-C here leaves the stop requested). With `--abandon` (\"Stop and abandon\") \
running actions are stopped at once: SIGTERM then SIGKILL to their process groups, and they \
end `abandoned`. Ctrl-C in the run's own terminal keeps the terminal's convention: it stops \
running actions with a grace period of 5 s (a second Ctrl-C kills them at once). A run whose \
process is gone (it crashed, or it is held) is recorded as stopped.",
    after_help = "Examples:\n  pipec stop last                  let running actions finish, start nothing new\n  pipec stop 20261126-101500-3 --abandon"
)]
pub(crate) struct StopArgs {
    /// A run id, or `last` (the newest run started by `pipec run` or `pipec rollback`).
    run: String,
    /// Stop running actions at once (SIGKILL to their process groups) instead of letting
    /// them finish.
    #[arg(long)]
    abandon: bool,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

pub(crate) fn stop(args: &StopArgs) -> Outcome {
    let h = open(args.state_dir.as_deref())?;
    let id = find(&h, &args.run)?;
    let (owner, status) = match h.owner(&id) {
        Ok(o) => o,
        Err(e) => return Err(Error::usage(e)),
    };
    if status.ended() {
        super::output::say(&format!("run {id} has already ended: {status}"));
        return Ok(super::exit::OK);
    }
    let owner = match owner.filter(crate::runtime::state::Owner::alive) {
        Some(o) => o,
        None => match stop_orphaned(&h, &id)? {
            Some(o) => o,
            None => return Ok(super::exit::OK),
        },
    };
    if args.abandon {
        return abandon(&h, &id, owner);
    }
    // A run nested in another (a `pipeline` action, a rollback) goes with it: its process
    // looks for stop requests of the outer run.
    if let Some(parent) = h
        .recorded(&id)
        .map_err(Error::usage)?
        .and_then(|r| r.parent)
    {
        return Err(Error::usage(format!(
            "run {id} runs inside run {parent} (a `pipeline` action or a rollback)"
        ))
        .help(format!(
            "stop the run around it: `pipec stop {parent}` (or `--abandon`)"
        )));
    }
    if !h.request_stop(&id).map_err(Error::usage)? {
        // It ended, or was held, meanwhile.
        let (_, status) = h.owner(&id).map_err(Error::usage)?;
        if status.ended() {
            super::output::say(&format!("run {id} has already ended: {status}"));
            return Ok(super::exit::OK);
        }
        return stop_orphaned(&h, &id).map(|_| super::exit::OK);
    }
    super::output::say(&format!(
        "stopping run {id} (process {}): running actions finish within their own timeouts, nothing new starts; waiting for the run to end (Ctrl-C here leaves it stopping; `pipec stop {id} --abandon` stops its actions)…",
        owner.pid
    ));
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        match h.owner(&id) {
            Ok((_, s)) if s != RunStatus::Running => {
                super::output::say(&format!("run {id} {s}"));
                return Ok(super::exit::OK);
            }
            // Its process died meanwhile: nothing else will end it.
            Ok((o, _)) if !o.is_some_and(|o| o.alive()) => {
                return stop_orphaned(&h, &id).map(|_| super::exit::OK);
            }
            Ok(_) => {}
            Err(e) => return Err(Error::usage(e)),
        }
    }
}

/// Records run `id`, whose process is gone, as stopped, and ends what its process left
/// running; `Some(owner)` when a resume took it over meanwhile (that process is to be
/// stopped instead).
fn stop_orphaned(h: &History, id: &str) -> Result<Option<crate::runtime::state::Owner>, Error> {
    match h.stop_orphaned(id) {
        Ok(None) => {
            let strays = crate::runtime::exec::end_strays(&h.work_dirs(id));
            let ended = if strays > 0 {
                format!(" (ended {strays} process(es) it left)")
            } else {
                String::new()
            };
            super::output::say(&format!(
                "run {id}: its process is gone; recorded as stopped{ended}"
            ));
            Ok(None)
        }
        Ok(Some(o)) => Ok(Some(o)),
        Err(e) => Err(Error::usage(e)),
    }
}

/// `pipec stop --abandon`: the run's own handler stops on the first SIGTERM and abandons on
/// the second.
fn abandon(h: &History, id: &str, owner: crate::runtime::state::Owner) -> Outcome {
    let pid = nix::unistd::Pid::from_raw(owner.pid);
    for n in 0..2 {
        if n > 0 {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
            return Err(Error::usage(format!(
                "cannot signal the process of run {id} ({}): {e}",
                owner.pid
            )));
        }
    }
    super::output::say(&format!("abandoning run {id} (process {})…", owner.pid));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        match h.owner(id) {
            Ok((_, s)) if s != RunStatus::Running => {
                super::output::say(&format!("run {id} {s}"));
                return Ok(super::exit::OK);
            }
            Ok(_) => {}
            Err(e) => return Err(Error::usage(e)),
        }
    }
    Err(Error::invalid(format!(
        "run {id} has not ended 30 s after it was abandoned"
    )))
}
