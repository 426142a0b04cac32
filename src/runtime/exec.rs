//! One attempt of a shell action: a process group of its own, output drained into a masked
//! log, a timeout that stops the whole group, and nothing left running afterwards.
//!
//! The process is spawned with `process_group(0)` (no `pre_exec` hook, so the standard
//! library can use `posix_spawn`). Stopping sends SIGTERM to the group, waits a grace period,
//! then SIGKILL. When the shell exits, the group is killed too, so background children that
//! stayed in it never outlive the attempt.
#![allow(clippy::disallowed_methods)] // Reason: the runtime runs processes and writes logs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use process_wrap::tokio::{CommandWrap, ProcessGroup};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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
    /// Where stdout and stderr go, masked.
    pub log: PathBuf,
    /// Secret values to mask in the log (each line of a multi-line secret too).
    pub secrets: Vec<String>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    /// Stopped on request (Ctrl-C, SIGTERM, `pipec stop`).
    Stopped,
}

/// Stop levels sent to running attempts: stop with a grace period, or abandon at once.
pub const STOP: u8 = 1;
pub const ABANDON: u8 = 2;

enum Ended {
    Status(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Stopped(u8),
}

/// Resolves with the stop level once one is requested (never, if the sender goes away).
async fn stop_requested(stop: &mut tokio::sync::watch::Receiver<u8>) -> u8 {
    loop {
        let level = *stop.borrow_and_update();
        if level > 0 {
            return level;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs one attempt to its end.
pub async fn run(
    attempt: &Attempt,
    stop: &tokio::sync::watch::Receiver<u8>,
) -> std::io::Result<Outcome> {
    let mut cmd = tokio::process::Command::new(&attempt.shell);
    cmd.arg("-c")
        .arg(&attempt.script)
        .current_dir(&attempt.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in &attempt.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(attempt.env.iter().map(|(k, v)| (k, v)));
    let mut wrapped = CommandWrap::from(cmd);
    wrapped.wrap(ProcessGroup::leader());
    let mut child = wrapped.spawn()?;
    let pgid = child.id();
    let log = tokio::fs::File::create(&attempt.log).await?;
    let log = std::sync::Arc::new(tokio::sync::Mutex::new(log));
    let masks = mask_list(&attempt.secrets);
    let mut drains = Vec::new();
    if let Some(out) = child.stdout().take() {
        drains.push(tokio::spawn(drain(
            BufReader::new(out),
            log.clone(),
            masks.clone(),
        )));
    }
    if let Some(err) = child.stderr().take() {
        drains.push(tokio::spawn(drain(
            BufReader::new(err),
            log.clone(),
            masks.clone(),
        )));
    }
    // The attempt ends by itself, by its timeout, or by a stop request (Ctrl-C, SIGTERM).
    let limit = attempt.timeout.unwrap_or(Duration::from_secs(u64::MAX / 4));
    let mut stop = stop.clone();
    let ended = tokio::select! {
        status = child.wait() => Ended::Status(status),
        () = tokio::time::sleep(limit) => Ended::TimedOut,
        level = stop_requested(&mut stop) => Ended::Stopped(level),
    };
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
            stop_group(pgid, attempt.grace, &mut child).await;
            Outcome::TimedOut
        }
        Ended::Stopped(level) => {
            // A second request abandons: no grace period.
            let grace = if level >= ABANDON {
                Duration::ZERO
            } else {
                attempt.grace
            };
            stop_group(pgid, grace, &mut child).await;
            Outcome::Stopped
        }
    };
    // Nothing of the attempt may outlive it: background children that stayed in the group.
    kill_group(pgid, nix::sys::signal::Signal::SIGKILL);
    for d in drains {
        let _ = d.await;
    }
    log.lock().await.flush().await?;
    Ok(outcome)
}

fn kill_group(pgid: Option<u32>, signal: nix::sys::signal::Signal) -> bool {
    let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) else {
        return false;
    };
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal).is_ok()
}

/// SIGTERM to the group, then SIGKILL once the grace period is over.
async fn stop_group(
    pgid: Option<u32>,
    grace: Duration,
    child: &mut Box<dyn process_wrap::tokio::ChildWrapper>,
) {
    if !kill_group(pgid, nix::sys::signal::Signal::SIGTERM) {
        let _ = child.wait().await;
        return;
    }
    let deadline = tokio::time::Instant::now() + grace;
    // The leader first (it stays a zombie, and the group "alive", until it is reaped).
    if tokio::time::timeout_at(deadline, child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait().await;
        return;
    }
    // Then whatever else is left in the group, until the grace period is over.
    let probe = |p: u32| {
        i32::try_from(p)
            .is_ok_and(|p| nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p), None).is_ok())
    };
    while pgid.is_some_and(probe) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_group(pgid, nix::sys::signal::Signal::SIGKILL);
}

/// Every value to hide: each secret, and each non-empty line of a multi-line one.
fn mask_list(secrets: &[String]) -> std::sync::Arc<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out.push(s.clone());
        out.extend(
            s.lines()
                .map(str::trim)
                .filter(|l| l.len() >= 3)
                .map(str::to_string),
        );
    }
    // Longest first, so that a secret containing another is masked whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    std::sync::Arc::new(out)
}

/// Replaces every secret value in `line` with `***`.
pub fn mask(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

async fn drain<R: tokio::io::AsyncBufRead + Unpin>(
    mut reader: R,
    log: std::sync::Arc<tokio::sync::Mutex<tokio::fs::File>>,
    secrets: std::sync::Arc<Vec<String>>,
) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = mask(&String::from_utf8_lossy(&line), &secrets);
                let _ = log.lock().await.write_all(text.as_bytes()).await;
            }
        }
    }
}

/// The exports an attempt wrote to `$PIPEC_OUTPUT` (LANGUAGE.md §9): `KEY=VALUE` lines and
/// `KEY<<DELIM` … `DELIM` blocks, the last write of a key winning. Keys not in `declared`
/// come back as warnings; a declared key never written is an error.
pub fn parse_outputs(
    text: &str,
    declared: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut values = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (key, value) = if let Some((key, delim)) = line.split_once("<<") {
            let mut block = Vec::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l == delim {
                    closed = true;
                    break;
                }
                block.push(l);
            }
            if !closed {
                return Err(format!(
                    "`{key}<<{delim}` is not closed by a `{delim}` line"
                ));
            }
            (key.to_string(), block.join("\n"))
        } else if let Some((key, value)) = line.split_once('=') {
            (key.to_string(), value.to_string())
        } else {
            return Err(format!(
                "`{line}` is neither `KEY=VALUE` nor `KEY<<DELIMITER`"
            ));
        };
        if declared.contains(&key) {
            values.insert(key, value);
        } else {
            warnings.push(format!("`{key}` is not in `exports`; ignored"));
        }
    }
    if let Some(missing) = declared.iter().find(|k| !values.contains_key(*k)) {
        return Err(format!(
            "declared export `{missing}` was never written to $PIPEC_OUTPUT"
        ));
    }
    Ok((values, warnings))
}

#[cfg(test)]
mod tests;
