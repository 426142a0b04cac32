//! The real [`Cli`]: `aws` run with an argument vector, and buildspec phases run with bash
//! like a `sh` action's script (the attempt's process group, masked log, stop).
#![allow(clippy::disallowed_methods)] // Reason: the runtime runs the aws CLI and writes logs.

use std::path::PathBuf;
use std::process::Stdio;

use super::Cli;
use crate::runtime::attempt::{append, outcome_result};
use crate::runtime::exec::{self, Attempt};
use crate::runtime::secrets::mask;

/// The most of a call's stdout copied into the log.
const LOGGED: usize = 4096;

/// A call as the dry run and the log show it: `aws s3 cp …`, each word shell-quoted.
pub fn shown(argv: &[String]) -> String {
    let mut line = String::from("aws");
    for w in argv {
        line.push(' ');
        line.push_str(&crate::shell::quote_word(w));
    }
    line
}

/// Runs calls for one attempt.
pub struct Real {
    /// The template of a phase's process (its script and folder are set per phase).
    pub attempt: Attempt,
    /// Strings masked in the log.
    pub masks: Vec<String>,
    pub stop: tokio::sync::watch::Receiver<u8>,
    /// Added to the environment of every call (an assumed role's credentials).
    pub extra: Vec<(String, String)>,
}

impl Real {
    /// Into the action's log (masked), and to `--verbose` output line by line.
    fn log(&self, text: &str) {
        let masked = mask(text, &self.masks);
        let _ = append(&self.attempt.log, &masked);
        if let Some(echo) = &self.attempt.echo {
            for line in masked.lines() {
                let _ = echo.tx.send((echo.label.clone(), line.to_string()));
            }
        }
    }
}

impl Cli for Real {
    async fn aws(&mut self, argv: Vec<String>) -> Result<String, String> {
        self.log(&format!("pipec: {}\n", shown(&argv)));
        let mut cmd = tokio::process::Command::new("aws");
        cmd.args(&argv)
            .current_dir(&self.attempt.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        for k in &self.attempt.env_remove {
            cmd.env_remove(k);
        }
        // The action's `env` (and pipec's variables): `AWS_PROFILE` per action, say.
        cmd.envs(self.attempt.env.iter().map(|(k, v)| (k, v)));
        cmd.envs(self.extra.iter().map(|(k, v)| (k, v)));
        let what = argv.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
        let child = cmd.spawn().map_err(|e| {
            format!("cannot start `aws` ({e}): install the AWS CLI (`pip install awscli`)")
        })?;
        let mut stop = self.stop.clone();
        let out = tokio::select! {
            out = child.wait_with_output() => out.map_err(|e| format!("`aws {what}`: {e}"))?,
            _ = stop.wait_for(|level| *level >= exec::STOP) => return Err("stopped".into()),
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !stdout.trim().is_empty() {
            let cut = stdout
                .char_indices()
                .nth(LOGGED)
                .map_or(stdout.len(), |(i, _)| i);
            let more = if cut < stdout.len() { "…\n" } else { "" };
            self.log(&format!("{}{more}", &stdout[..cut]));
            if !stdout.ends_with('\n') && more.is_empty() {
                self.log("\n");
            }
        }
        if !stderr.trim().is_empty() {
            self.log(&stderr);
        }
        if out.status.success() {
            return Ok(stdout);
        }
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        Err(mask(
            &format!("`aws {what}` failed ({}): {}", out.status, last.trim()),
            &self.masks,
        ))
    }

    async fn phase(
        &mut self,
        phase: &str,
        script: String,
        dir: PathBuf,
        env: &[(String, String)],
    ) -> Result<(), String> {
        self.log(&format!("pipec: buildspec phase `{phase}`\n"));
        let mut attempt = self.attempt.clone();
        attempt.script = script;
        attempt.workdir = dir;
        attempt.env.extend(self.extra.iter().cloned());
        attempt.env.extend(env.iter().cloned());
        attempt.secrets.clone_from(&self.masks);
        let ran = exec::run(&attempt, &self.stop)
            .await
            .map_err(|e| format!("cannot start bash: {e}"))?;
        outcome_result(ran.outcome)
            .map(|_| ())
            .map_err(|f| format!("phase `{phase}` {}", f.why))
    }

    fn note(&mut self, text: &str) {
        self.log(&format!("pipec: {text}\n"));
    }

    fn hide(&mut self, secret: &str) {
        if !secret.is_empty() {
            self.masks.push(secret.to_string());
        }
    }

    fn set_env(&mut self, vars: Vec<(String, String)>) {
        for (k, v) in &vars {
            self.masks.push(v.clone());
            self.extra.retain(|(x, _)| x != k);
        }
        self.extra.extend(vars);
    }

    fn dry(&self) -> bool {
        false
    }
}
