//! The server's runs are `pipec` processes: every run, resume, retry, rollback, stop and
//! decision is the `pipec` command a user would type (`pipec run FILE --event push …`,
//! `pipec approve RUN STAGE.ACTION --as NAME`), started by the server with its state
//! directory. So the server cannot decide differently from the command line: triggers,
//! params, approvers, stage locks, execution modes and queues are the CLI's own code, and a
//! run keeps going in its own process (its own process group) whatever happens to a request.
//!
//! A new run's id is read from the first line its process writes (`run ID of pipeline …`);
//! a process that ends before saying it gives its error text instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// What a finished command said.
#[derive(Debug)]
pub(crate) struct Said {
    pub(crate) code: Option<i32>,
    /// Its stderr (the CLI's messages), trimmed.
    pub(crate) text: String,
}

/// Starts `pipec` commands against one state directory.
pub(crate) struct Launcher {
    pub(crate) pipec: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) report: Arc<dyn Fn(&str) + Send + Sync>,
}

/// A run id in a line the CLI wrote: `run 20261206-171200-3 of pipeline …`.
fn run_id_in(line: &str) -> Option<String> {
    let at = line.find("run ")?;
    let word = line[at + 4..].split([' ', ':']).next()?;
    let mut parts = word.split('-');
    let ok = parts.next().is_some_and(|d| d.len() == 8)
        && parts.next().is_some_and(|t| t.len() == 6)
        && parts.next().is_some_and(|s| !s.is_empty())
        && word.chars().all(|c| c.is_ascii_digit() || c == '-');
    if ok {
        Some(word.to_string())
    } else {
        run_id_in(&line[at + 4..])
    }
}

impl Launcher {
    fn command(&self, args: &[String]) -> Command {
        let mut c = Command::new(&self.pipec);
        c.args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("PIPEC_STATE_DIR")
            // Its own group: a Ctrl-C meant for the server is not the run's.
            .process_group(0)
            .kill_on_drop(false);
        c
    }

    /// Runs a short command (a decision, a stop) to its end.
    pub(crate) async fn call(&self, args: &[String]) -> Result<Said, String> {
        let out = self
            .command(args)
            .output()
            .await
            .map_err(|e| format!("cannot start `{}`: {e}", self.pipec.display()))?;
        Ok(Said {
            code: out.status.code(),
            text: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Starts a command that may take long (`pipec stop` waits for the run to end) and
    /// leaves it going; its outcome is reported when it ends.
    pub(crate) fn detach(&self, args: &[String]) -> Result<(), String> {
        let child = self
            .command(args)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.pipec.display()))?;
        let report = self.report.clone();
        let what = args.join(" ");
        tokio::spawn(async move {
            if let Ok(out) = child.wait_with_output().await {
                let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
                report(&format!("`pipec {what}` ended ({}): {said}", out.status));
            }
        });
        Ok(())
    }

    /// Starts a command that drives a run (`run`, `resume`, `retry`, `rollback`) and leaves
    /// it going: the run's id once its process has said it, or what the process said when
    /// it ended without starting one (`Err`).
    pub(crate) async fn start(&self, args: &[String]) -> Result<String, Said> {
        let mut child = self.command(args).spawn().map_err(|e| Said {
            code: None,
            text: format!("cannot start `{}`: {e}", self.pipec.display()),
        })?;
        let Some(stderr) = child.stderr.take() else {
            return Err(Said {
                code: None,
                text: "no stderr".into(),
            });
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        let mut id = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(found) = run_id_in(&line) {
                id = Some(found);
                break;
            }
            said.push(line);
        }
        let Some(id) = id else {
            let status = child.wait().await.ok();
            return Err(Said {
                code: status.and_then(|s| s.code()),
                text: said.join("\n").trim().to_string(),
            });
        };
        let report = self.report.clone();
        let what = args.first().cloned().unwrap_or_default();
        let run = id.clone();
        // Its output is in the history (`pipec logs`); the rest is drained and the process
        // reaped when it ends.
        tokio::spawn(async move {
            while let Ok(Some(_)) = lines.next_line().await {}
            if let Ok(status) = child.wait().await {
                report(&format!("`pipec {what}` of run {run} ended ({status})"));
            }
        });
        Ok(id)
    }
}

/// `pipec run` of a served pipeline: the IR the server checked (`ir`), named after its file.
pub(crate) fn run_args(
    file: &Path,
    ir: &Path,
    facts: &Facts,
    params: &[(String, String)],
) -> Vec<String> {
    let mut a = vec![
        "run".to_string(),
        file.to_string_lossy().into_owned(),
        "--compiled".into(),
        ir.to_string_lossy().into_owned(),
    ];
    if let Some(e) = &facts.event {
        a.push(format!("--event={e}"));
    }
    for (flag, value) in [
        ("--branch", &facts.branch),
        ("--tag", &facts.tag),
        ("--commit", &facts.commit),
        ("--pr-event", &facts.pr_event),
    ] {
        // `--flag=VALUE`: a value starting with `-` stays a value.
        if let Some(v) = value {
            a.push(format!("{flag}={v}"));
        }
    }
    for c in &facts.changed {
        a.push(format!("--changed={c}"));
    }
    for (k, v) in params {
        a.push(format!("--param={k}={v}"));
    }
    a
}

/// The facts of an event, as `pipec run`'s flags take them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// `push`, `pull_request`, `schedule` (none: a manual start).
    pub(crate) event: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) commit: Option<String>,
    pub(crate) pr_event: Option<String>,
    pub(crate) changed: Vec<String>,
}

impl Facts {
    /// The event `runtime::trigger::decide` matches (what `pipec run` builds from the same
    /// flags).
    pub(crate) fn event(&self) -> crate::runtime::trigger::Event {
        use crate::ir::TriggerKind;
        crate::runtime::trigger::Event {
            kind: self.event.as_deref().map(|e| match e {
                "push" => TriggerKind::Push,
                "pull_request" => TriggerKind::PullRequest,
                "schedule" => TriggerKind::Schedule,
                _ => TriggerKind::Manual,
            }),
            branch: self.branch.clone(),
            tag: self.tag.clone(),
            changed: (!self.changed.is_empty()).then(|| {
                self.changed
                    .iter()
                    .map(|c| crate::paths::normalize(Path::new(c)))
                    .collect()
            }),
            pr_event: self.pr_event.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_read_from_the_first_line() {
        assert_eq!(
            run_id_in("17:12:00 run 20261206-171200-3 of pipeline `app` (state: s)").as_deref(),
            Some("20261206-171200-3")
        );
        assert_eq!(
            run_id_in("run 20261206-171200-12: rollback of stage `prod`").as_deref(),
            Some("20261206-171200-12")
        );
        assert_eq!(
            run_id_in("resume run 20261206-171200-4 of pipeline `a`").as_deref(),
            Some("20261206-171200-4")
        );
        assert_eq!(run_id_in("error: the run failed"), None);
    }
}
