//! One attempt of a shell action: a process group of its own, output drained into a masked
//! log, a timeout that stops the whole group, and nothing left running afterwards.
//!
//! The process is spawned with `process_group(0)` (no `pre_exec` hook, so the standard
//! library uses `posix_spawn`: a `vfork`-like clone, no copy of pipec's memory). Stopping
//! sends SIGTERM to the group, waits a grace period, then SIGKILL. When the shell exits,
//! whatever of it is left is ended: pipec is the child subreaper of its attempts, so every
//! descendant still alive has become pipec's child by then; when it has none (the usual
//! case) nothing is left and nothing is signalled, else the group is killed and the adopted
//! processes of the attempt are swept (see [`sweep`]).
//!
//! stdout and stderr share one pipe (their lines stay in the order they were written); the
//! log file is created when the first byte arrives, so a silent action costs no file. A
//! line longer than 64 KiB reaches the log in pieces (`exec/lines.rs`), so memory stays
//! bounded whatever an action prints. Like
//! make, a script that is one simple command made of plain words (no quotes, expansions,
//! operators or shell builtins) is executed directly instead of through the shell: the
//! result is the same and a shell start (1–2 ms) is saved. See [`direct_argv`].
#![allow(clippy::disallowed_methods)] // Reason: the runtime runs processes and writes logs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use super::secrets::{mask, masks};

/// Everything one attempt needs.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub shell: String,
    /// The rendered script (see `eval::render_script`).
    pub script: String,
    pub workdir: PathBuf,
    /// Added to the environment.
    pub env: Vec<(String, String)>,
    /// Removed from the inherited environment (sources of secrets).
    pub env_remove: Vec<String>,
    pub timeout: Option<Duration>,
    /// Grace between SIGTERM and SIGKILL (at most 5 s, LANGUAGE.md §9).
    pub grace: Duration,
    /// Where stdout and stderr go, masked (created on the first byte of output).
    pub log: PathBuf,
    /// Secret values to mask in the log (each line of a multi-line secret too).
    pub secrets: Vec<String>,
    /// `--verbose`: every masked line is also sent here.
    pub echo: Option<Echo>,
    /// The workspace: `workdir` must be inside it (also through symbolic links).
    pub workspace: PathBuf,
    /// Run in this container (`pipec run --containers` and an action with an image).
    pub container: Option<super::container::Container>,
}

/// Where `--verbose` output lines go, with the label they are shown under.
#[derive(Clone, Debug)]
pub struct Echo {
    pub tx: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    pub label: String,
}

/// How an attempt ended, and whether it wrote to its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ran {
    pub outcome: Outcome,
    /// The log was created (the attempt printed something, or could not start).
    pub logged: bool,
}

/// How an attempt's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    /// Stopped on request (Ctrl-C, SIGTERM, `pipec stop`).
    Stopped,
}

/// Stop levels of a run, in the order they escalate. `WAIT` (`pipec stop`, `CodePipeline`'s
/// "Stop and wait") starts nothing new and lets running attempts finish: attempts do not
/// see it. `STOP` (Ctrl-C, SIGTERM, `pipec stop --abandon`) stops running attempts with a
/// grace period; `ABANDON` (a second one) at once.
pub const WAIT: u8 = 1;
pub const STOP: u8 = 2;
pub const ABANDON: u8 = 3;

enum Ended {
    Status(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Stopped(u8),
}

/// Resolves with the stop level once a stop of running attempts is requested (never, if the
/// sender goes away): `WAIT` lets them finish.
async fn stop_requested(stop: &mut tokio::sync::watch::Receiver<u8>) -> u8 {
    loop {
        let level = *stop.borrow_and_update();
        if level >= STOP {
            return level;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Shell reserved words and builtins: a command starting with one of these always goes
/// through the shell (an external program of the same name may behave differently).
const SHELL_WORDS: &[&str] = &[
    "!",
    ".",
    ":",
    "[",
    "[[",
    "]]",
    "{",
    "}",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// The argument vector of a script that is a single simple command of plain words, when
/// `shell` is a POSIX shell: running it directly gives what the shell would (no word of it
/// is quoted, expanded, split differently or interpreted), minus the shell's start-up.
/// `None` when the script needs the shell.
pub fn direct_argv(shell: &str, script: &str) -> Option<Vec<String>> {
    let name = shell.rsplit('/').next().unwrap_or(shell);
    if !matches!(name, "bash" | "sh" | "dash") {
        return None;
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:@%+,=-".contains(c);
    if !script.chars().all(|c| plain(c) || c == ' ' || c == '\t') {
        return None;
    }
    let words: Vec<String> = script.split_whitespace().map(str::to_string).collect();
    let first = words.first()?;
    if first.contains('=') || SHELL_WORDS.contains(&first.as_str()) {
        return None;
    }
    Some(words)
}

/// Where `program` is found on `path` (as the shell would find it: the first executable
/// file), remembered per program and PATH; the name itself when it has a `/` or is not found
/// (spawning then fails as the shell would).
fn find_program(program: &str, path: Option<&std::ffi::OsStr>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    type Cache = std::collections::HashMap<(String, std::ffi::OsString), PathBuf>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let Some(path) = path.filter(|_| !program.contains('/')) else {
        return PathBuf::from(program);
    };
    let key = (program.to_string(), path.to_os_string());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return found;
    }
    let found = std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    match found {
        Some(p) => {
            if let Ok(mut c) = cache.lock() {
                c.insert(key, p.clone());
            }
            p
        }
        None => PathBuf::from(program),
    }
}

/// The command of an attempt: the program run directly, or the shell with the script; its
/// folder and environment. The program's path is looked up here, once per run and program
/// (`posix_spawnp` would try every folder of PATH in the child, while the parent waits).
fn command(attempt: &Attempt, direct: Option<&[String]>) -> tokio::process::Command {
    let path_var = attempt
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let mut cmd = if let Some(c) = &attempt.container {
        let mut cmd = tokio::process::Command::new(&c.runtime.program);
        cmd.args(super::container::args(c, attempt));
        cmd
    } else if let Some(argv) = direct {
        let mut cmd = tokio::process::Command::new(find_program(&argv[0], path_var.as_deref()));
        cmd.args(&argv[1..]);
        // The shell would have set it.
        cmd.env("PWD", &attempt.workdir);
        cmd
    } else {
        let mut cmd =
            tokio::process::Command::new(find_program(&attempt.shell, path_var.as_deref()));
        cmd.arg("-c").arg(&attempt.script);
        cmd
    };
    cmd.current_dir(&attempt.workdir);
    for k in &attempt.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(attempt.env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// The working folder exists and is inside the workspace, also through symbolic links.
fn check_workdir(attempt: &Attempt) -> std::io::Result<()> {
    // The workspace itself (the usual case): the runtime made it.
    if attempt.workdir == attempt.workspace {
        return Ok(());
    }
    if !attempt.workdir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "its working folder `{}` does not exist",
                attempt.workdir.display()
            ),
        ));
    }
    let inside = match (
        std::fs::canonicalize(&attempt.workdir),
        std::fs::canonicalize(&attempt.workspace),
    ) {
        (Ok(w), Ok(root)) => w.starts_with(root),
        _ => false,
    };
    if !inside {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "its working folder `{}` is outside its workspace",
                attempt.workdir.display()
            ),
        ));
    }
    Ok(())
}

/// What the shell would have said and done when a command it was to run directly (`program`)
/// cannot start: the line it logs, and its exit code.
fn not_started(attempt: &Attempt, program: &str, e: &std::io::Error, mut sink: LogSink) -> i32 {
    let (code, why) = match e.kind() {
        std::io::ErrorKind::NotFound if program.contains('/') => (127, "No such file or directory"),
        std::io::ErrorKind::NotFound => (127, "command not found"),
        std::io::ErrorKind::PermissionDenied if Path::new(program).is_dir() => {
            (126, "Is a directory")
        }
        _ => (126, "Permission denied"),
    };
    let shell = attempt.shell.rsplit('/').next().unwrap_or(&attempt.shell);
    sink.line(format!("{shell}: line 1: {program}: {why}\n").as_bytes());
    code
}

/// Kills what is left of the group of an attempt that was stopped, or that left processes
/// behind (and removes a stopped attempt's container); returns the processes adopted.
async fn end_group(attempt: &Attempt, exited: bool, pgid: Option<u32>) -> Vec<i32> {
    let adopted = adopted();
    if !exited || !ADOPTING.load(Ordering::Relaxed) || !adopted.is_empty() {
        kill_group(pgid, nix::sys::signal::Signal::SIGKILL);
    }
    if let (false, Some(c)) = (exited, &attempt.container) {
        super::container::remove(c).await;
    }
    adopted
}

/// The words of a script run without the shell ([`direct_argv`]); none in a container
/// (whose output file is created first, to be mounted).
fn direct_or_container(attempt: &Attempt) -> std::io::Result<Option<Vec<String>>> {
    match &attempt.container {
        Some(c) => super::container::prepare(c).map(|()| None),
        None => Ok(direct_argv(&attempt.shell, &attempt.script)),
    }
}

/// Runs one attempt to its end (a stopped container is removed: the runtime's client was
/// signalled, but the container may outlive it).
pub async fn run(
    attempt: &Attempt,
    stop: &tokio::sync::watch::Receiver<u8>,
) -> std::io::Result<Ran> {
    check_workdir(attempt)?;
    let direct = direct_or_container(attempt)?;
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = command(attempt, direct.as_deref());
    cmd.stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let spawned = cmd.spawn();
    // The parent's copies of the pipe's write end go now, or the drain never sees its end.
    drop(cmd);
    let logged = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if direct.is_some() => {
            let program = direct.as_ref().map_or("", |argv| argv[0].as_str());
            let code = not_started(attempt, program, &e, LogSink::new(attempt, logged.clone()));
            return Ok(Ran {
                outcome: Outcome::Exited(code),
                logged: logged.get(),
            });
        }
        Err(e) => return Err(e),
    };
    let pgid = child.id();
    // If this future is dropped before the end (the run fails on an error of its own), the
    // group goes with it.
    let guard = GroupGuard(pgid);
    let leader = pgid.and_then(|p| i32::try_from(p).ok());
    if let (Some(p), Ok(mut l)) = (leader, LEADERS.lock()) {
        l.push(p);
    }
    let reader = receiver(reader)?;
    let mut drain = Box::pin(drain(reader, LogSink::new(attempt, logged.clone())));
    // The attempt ends by itself, by its timeout, or by a stop request (Ctrl-C, SIGTERM);
    // meanwhile its output is drained.
    let limit = attempt.timeout.unwrap_or(Duration::from_secs(u64::MAX / 4));
    let mut stop = stop.clone();
    let mut drained = false;
    let ended = loop {
        tokio::select! {
            status = child.wait() => break Ended::Status(status),
            () = tokio::time::sleep(limit) => break Ended::TimedOut,
            level = stop_requested(&mut stop) => break Ended::Stopped(level),
            () = &mut drain, if !drained => drained = true,
        }
    };
    // The shell ended by itself (not stopped by pipec).
    let exited = matches!(ended, Ended::Status(_));
    let outcome = match ended {
        Ended::Status(status) => {
            let status = status?;
            match (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status),
            ) {
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(sig)) => Outcome::Signalled(sig),
                (None, None) => Outcome::Exited(-1),
            }
        }
        Ended::TimedOut => {
            stop_group(
                pgid,
                attempt.grace,
                &mut child,
                &mut drain,
                &mut drained,
                &mut stop,
            )
            .await;
            Outcome::TimedOut
        }
        Ended::Stopped(level) => {
            // A second request abandons: no grace period.
            let grace = if level >= ABANDON {
                Duration::ZERO
            } else {
                attempt.grace
            };
            stop_group(pgid, grace, &mut child, &mut drain, &mut drained, &mut stop).await;
            Outcome::Stopped
        }
    };
    if let (Some(p), Ok(mut l)) = (leader, LEADERS.lock()) {
        l.retain(|x| *x != p);
    }
    // Nothing of the attempt may outlive it: background children that stayed in the group,
    // and those that left it (adopted by this process, found by their environment). As the
    // subreaper, pipec has adopted every descendant still alive once the shell has ended:
    // none (the usual case) means nothing is left to end.
    let adopted = end_group(attempt, exited, pgid).await;
    let marks = attempt_marks(attempt);
    if !marks.is_empty() && !adopted.is_empty() {
        sweep_among(&adopted, &marks);
    }
    std::mem::forget(guard);
    if !drained {
        // A process that left the group may still hold the pipe: do not wait for it forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut drain).await;
    }
    Ok(Ran {
        outcome,
        logged: logged.get(),
    })
}

/// The read end of an attempt's output pipe, registered with tokio. (Made non-blocking
/// here: `Receiver::from_owned_fd` would also ask the kernel whether it is a FIFO, and for
/// its flags, on every attempt.)
fn receiver(reader: std::io::PipeReader) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    // A pipe's read end opened by `pipe2(O_CLOEXEC)`: its only status flag is the access mode.
    fcntl(&reader, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(std::io::Error::from)?;
    tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(reader.into())
}

/// Kills a process group when dropped (forgotten once the attempt has ended normally).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0, nix::sys::signal::Signal::SIGKILL);
    }
}

fn kill_group(pgid: Option<u32>, signal: nix::sys::signal::Signal) -> bool {
    let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) else {
        return false;
    };
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal).is_ok()
}

/// SIGTERM to the group, then SIGKILL once the grace period is over.
async fn stop_group<F: std::future::Future<Output = ()> + Unpin>(
    pgid: Option<u32>,
    grace: Duration,
    child: &mut tokio::process::Child,
    drain: &mut F,
    drained: &mut bool,
    stop: &mut tokio::sync::watch::Receiver<u8>,
) {
    use nix::sys::signal::Signal::{SIGKILL, SIGTERM};
    let abandoning = |stop: &tokio::sync::watch::Receiver<u8>| *stop.borrow() >= ABANDON;
    let deadline = tokio::time::Instant::now() + grace;
    let mut signal = if grace.is_zero() || abandoning(stop) {
        SIGKILL
    } else {
        SIGTERM
    };
    kill_group(pgid, signal);
    // The leader first (it stays a zombie, and the group "alive", until it is reaped); its
    // output still reaches the log. SIGKILL when the grace period is over, or at once when
    // the stop turns into abandoning (a second Ctrl-C).
    loop {
        tokio::select! {
            _ = child.wait() => break,
            () = &mut *drain, if !*drained => *drained = true,
            () = tokio::time::sleep_until(deadline), if signal == SIGTERM => {
                signal = SIGKILL;
                kill_group(pgid, SIGKILL);
            }
            _ = stop.wait_for(|level| *level >= ABANDON), if signal == SIGTERM => {
                signal = SIGKILL;
                kill_group(pgid, SIGKILL);
            }
        }
    }
    // Then whatever else is left in the group, until the grace period is over.
    let probe = |p: u32| {
        i32::try_from(p)
            .is_ok_and(|p| nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p), None).is_ok())
    };
    while signal == SIGTERM
        && pgid.is_some_and(probe)
        && tokio::time::Instant::now() < deadline
        && !abandoning(stop)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_group(pgid, SIGKILL);
}

/// The leaders of running attempts (this process's own children): never swept.
static LEADERS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Whether this process is the child subreaper of what it starts ([`adopt_orphans`]).
static ADOPTING: AtomicBool = AtomicBool::new(false);

/// Makes this process the "child subreaper" of everything it starts (Linux): a descendant
/// that leaves its attempt's process group (`setsid`, a daemon) and loses its parent becomes
/// our child instead of init's, so [`sweep`] can find and end it.
pub fn adopt_orphans() {
    #[cfg(target_os = "linux")]
    if nix::sys::prctl::set_child_subreaper(true).is_ok() {
        ADOPTING.store(true, Ordering::Relaxed);
    }
}

/// Ends the adopted descendants whose environment says they belong to what `marks` names
/// (`PIPEC_RUN_ID=…`, and for one attempt also its stage, action and attempt), and reaps
/// every adopted descendant that has already ended. Attempt leaders are left to their waiters.
pub fn sweep(marks: &[String]) {
    sweep_among(&adopted(), marks);
}

/// [`sweep`] among the processes `adopted` (read by the caller).
fn sweep_among(adopted: &[i32], marks: &[String]) {
    let leaders = LEADERS.lock().map(|l| l.clone()).unwrap_or_default();
    for &pid in adopted {
        if leaders.contains(&pid) {
            continue;
        }
        let ours = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            marks
                .iter()
                .all(|m| env.split(|b| *b == 0).any(|var| var == m.as_bytes()))
        });
        let p = nix::unistd::Pid::from_raw(pid);
        if ours {
            let _ = nix::sys::signal::killpg(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        }
        // Reap it if it has ended (ours just now, or anyone's before).
        let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    }
}

/// Ends the processes an earlier process of a run left behind (it was killed with
/// `kill -9`, or crashed): found anywhere on the machine by their `$PIPEC_OUTPUT`, which
/// lies in the run's work folder (`work_dirs`, absolute). Returns how many were ended.
pub fn end_strays(work_dirs: &[PathBuf]) -> usize {
    use std::os::unix::ffi::OsStrExt as _;
    let prefixes: Vec<Vec<u8>> = work_dirs
        .iter()
        .map(|d| {
            let mut p = b"PIPEC_OUTPUT=".to_vec();
            p.extend_from_slice(d.as_os_str().as_bytes());
            p.push(b'/');
            p
        })
        .collect();
    let me = nix::unistd::getpid();
    let my_group = nix::unistd::getpgrp();
    let mut ended = 0;
    // Again until none is found: one may have forked while we looked.
    for _ in 0..20 {
        let mut found = 0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let p = nix::unistd::Pid::from_raw(pid);
            if p == me {
                continue;
            }
            let ours = std::fs::read(entry.path().join("environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|var| prefixes.iter().any(|pre| var.starts_with(pre)))
            });
            if !ours {
                continue;
            }
            found += 1;
            if let Ok(group) = nix::unistd::getpgid(Some(p)) {
                if group != my_group {
                    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                }
            }
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        }
        if found == 0 {
            break;
        }
        ended += found;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ended
}

/// The children of this process's main thread: Linux hands orphans to a subreaper's first
/// live thread, the main one (attempts are spawned by the worker thread, whose children are
/// listed apart). The list is read again through one descriptor kept open (a `pread` at
/// offset 0 makes procfs list them anew), one system call per attempt.
fn adopted() -> Vec<i32> {
    use std::os::unix::fs::FileExt as _;
    static CHILDREN: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let Some(file) = CHILDREN.get_or_init(|| {
        let pid = std::process::id();
        std::fs::File::open(format!("/proc/{pid}/task/{pid}/children")).ok()
    }) else {
        return Vec::new();
    };
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match file.read_at(&mut chunk, text.len() as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
        }
        // One read holds the usual list; a longer one is read on until its end.
    }
    String::from_utf8_lossy(&text)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .collect()
}

/// The environment entries that mark an attempt's processes.
fn attempt_marks(attempt: &Attempt) -> Vec<String> {
    attempt
        .env
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "PIPEC_RUN_ID" | "PIPEC_STAGE" | "PIPEC_ACTION" | "PIPEC_ATTEMPT"
            )
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// Where an attempt's output goes: the log file (opened on the first line), masked, and the
/// `--verbose` echo.
struct LogSink {
    path: PathBuf,
    file: Option<std::fs::File>,
    failed: bool,
    /// Set once the log file is created.
    created: std::rc::Rc<std::cell::Cell<bool>>,
    masks: Vec<String>,
    echo: Option<Echo>,
}

impl LogSink {
    fn new(attempt: &Attempt, created: std::rc::Rc<std::cell::Cell<bool>>) -> LogSink {
        LogSink {
            path: attempt.log.clone(),
            file: None,
            failed: false,
            created,
            masks: masks(&attempt.secrets),
            echo: attempt.echo.clone(),
        }
    }

    fn line(&mut self, bytes: &[u8]) {
        use std::io::Write as _;
        let text = String::from_utf8_lossy(bytes);
        let text = if self.masks.is_empty() {
            text
        } else {
            std::borrow::Cow::Owned(mask(&text, &self.masks))
        };
        if self.file.is_none() && !self.failed {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(f) => {
                    self.file = Some(f);
                    self.created.set(true);
                }
                Err(_) => self.failed = true,
            }
        }
        if let Some(f) = &mut self.file {
            // Reason: small appends to a local file; a lost log line must not fail the action.
            let _ = f.write_all(text.as_bytes());
        }
        if let Some(echo) = &self.echo {
            let line = text.trim_end_matches('\n').to_string();
            let _ = echo.tx.send((echo.label.clone(), line));
        }
    }
}

/// Drains the output into the log line by line; a line longer than [`lines::MAX_PIECE`]
/// goes in pieces (cut where no secret is split), so memory stays bounded.
async fn drain<R: tokio::io::AsyncRead + Unpin>(mut reader: R, mut sink: LogSink) {
    use tokio::io::AsyncReadExt as _;
    let mut lines = lines::Splitter::new(lines::MAX_PIECE, &sink.masks);
    let mut chunk = vec![0u8; 8 * 1024];
    while let Ok(n @ 1..) = reader.read(&mut chunk).await {
        lines.push(&chunk[..n], &mut |piece| sink.line(piece));
    }
    lines.finish(&mut |piece| sink.line(piece));
}

mod lines;

#[cfg(test)]
mod tests;
