//! One attempt of an action: preparing it (evaluating its parameters, its environment and
//! script), running it by kind (`sh`, `git`, `dir`, `wait`, `pipeline`, `approval`; `aws`
//! through `runtime/aws/`), and the workspaces attempts run in.
#![allow(clippy::disallowed_methods)] // Reason: the runtime creates workspaces and copies files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::container::{self, Container, Containers};
use super::eval::{
    EvalError, Script, Value, eval, is_posix_shell, refuse_interpolation, render_script,
};
use super::exec::{self, Attempt, Echo, Outcome};
use super::run::{Options, Progress, Run, RunScope, RunStatus, execute};
use super::secrets::{Parent, Passed, mask};
use crate::ir::{Action, Expr, Kind, Ref};

/// How deep `pipeline` actions may nest.
const MAX_NESTING: usize = 8;

/// A successful attempt.
pub(super) struct Finished {
    pub(super) exports: BTreeMap<String, String>,
    /// Export keys written but not declared: noted in the log.
    pub(super) warnings: Vec<String>,
    pub(super) exit_code: Option<i32>,
    /// It wrote to its log (so the log exists, without asking the file system).
    pub(super) logged: bool,
}

/// How an attempt that succeeded ended: its process's exit code (when it had one), and
/// whether it wrote to its log.
pub(super) struct Exit {
    pub(super) code: Option<i32>,
    pub(super) logged: bool,
}

impl Exit {
    pub(super) fn quiet(code: Option<i32>) -> Exit {
        Exit {
            code,
            logged: false,
        }
    }
}

/// A failed attempt.
pub(super) struct Failure {
    pub(super) why: String,
    pub(super) exit_code: Option<i32>,
    pub(super) stopped: bool,
    pub(super) timed_out: bool,
}

impl From<super::error::Error> for Failure {
    /// The runtime failed the attempt (the history, a workspace, a nested run).
    fn from(e: super::error::Error) -> Failure {
        Failure::new(e.to_string())
    }
}

impl Failure {
    pub(super) fn new(why: impl Into<String>) -> Failure {
        Failure {
            why: why.into(),
            exit_code: None,
            stopped: false,
            timed_out: false,
        }
    }
}

/// Fresh, empty workspaces: a folder is reused only when the attempt that had it succeeded
/// and left it empty, as it was made (so a no-op action costs no new folder).
pub(super) struct Workspaces {
    pub(super) root: PathBuf,
    pub(super) free: Vec<PathBuf>,
    pub(super) next: u64,
    pub(super) cleanups: Vec<tokio::task::JoinHandle<()>>,
}

impl Workspaces {
    pub(super) fn acquire(&mut self) -> Result<PathBuf, super::error::Error> {
        if let Some(ws) = self.free.pop() {
            return Ok(ws);
        }
        self.next += 1;
        let ws = self.root.join(format!("ws{}", self.next));
        let _ = std::fs::remove_dir_all(&ws);
        std::fs::create_dir_all(&ws).map_err(|e| super::error::Error::Workspace {
            path: ws.clone(),
            source: e.into(),
        })?;
        Ok(ws)
    }

    /// After a success: reuse the folder if the attempt left it empty, else delete it.
    pub(super) fn release(&mut self, ws: PathBuf) {
        let pristine = std::fs::symlink_metadata(&ws).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt as _;
            m.is_dir() && m.permissions().mode() & 0o700 == 0o700
        }) && std::fs::read_dir(&ws).is_ok_and(|mut d| d.next().is_none());
        if pristine {
            self.free.push(ws);
        } else {
            self.cleanups.push(tokio::task::spawn_blocking(move || {
                let _ = std::fs::remove_dir_all(&ws);
            }));
        }
    }

    /// At the end of a run: the empty folders kept for reuse go.
    pub(super) fn close(&mut self) {
        for ws in self.free.drain(..) {
            let _ = std::fs::remove_dir(ws);
        }
    }

    /// After a failure: the folder is kept, under a name that says whose it was.
    pub(super) fn keep(&self, ws: &Path, name: &str) -> PathBuf {
        let target = self.root.join(name);
        let _ = std::fs::remove_dir_all(&target);
        match std::fs::rename(ws, &target) {
            Ok(()) => target,
            Err(_) => ws.to_path_buf(),
        }
    }
}

pub(super) async fn blocking(
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("a worker thread failed: {e}"))?
}

/// An attempt ready to go.
pub(super) enum Prepared {
    Shell(Box<Attempt>),
    /// How long, and the attempt's time limit.
    Wait(Duration, Option<Duration>),
    /// A `dir` snapshot is taken when the attempt "runs".
    Dir {
        from: PathBuf,
        exclude: Vec<String>,
        workspace: PathBuf,
        /// The state directory in use: never copied, wherever it is.
        state: PathBuf,
    },
    Pipeline {
        timeout: Option<Duration>,
        file: PathBuf,
        params: BTreeMap<String, String>,
        /// The action's `env`, for the nested run.
        env: Vec<(String, Passed)>,
        label: String,
        log: PathBuf,
    },
    Approval,
    /// An `aws` action: its job, the process template of its build phases, and where its
    /// exports go.
    Aws {
        job: Box<super::aws::Job>,
        attempt: Box<Attempt>,
        outputs: PathBuf,
    },
}

pub(super) fn outcome_result(outcome: Outcome) -> Result<Option<i32>, Failure> {
    let fail = |why: String, code| Failure {
        why,
        exit_code: code,
        stopped: false,
        timed_out: false,
    };
    match outcome {
        Outcome::Exited(0) => Ok(Some(0)),
        Outcome::Exited(code) => Err(fail(format!("exited with status {code}"), Some(code))),
        Outcome::Signalled(sig) => Err(fail(format!("killed by signal {sig}"), None)),
        Outcome::TimedOut => Err(Failure {
            timed_out: true,
            ..fail("timed out; its process group was stopped".into(), None)
        }),
        Outcome::Stopped => Err(Failure {
            stopped: true,
            ..fail("stopped".into(), None)
        }),
    }
}

impl Prepared {
    #[allow(clippy::too_many_lines)] // Reason: one arm per kind of attempt.
    pub(super) async fn go(
        self,
        run: &Run<'_>,
        stop: &tokio::sync::watch::Receiver<u8>,
    ) -> Result<Exit, Failure> {
        match self {
            Prepared::Shell(attempt) => {
                let ran = exec::run(&attempt, stop).await.map_err(|e| {
                    // E2BIG: Linux takes at most 128 KiB per environment value or argument.
                    let why = if e.raw_os_error() == Some(7) {
                        "its environment or script is too big (at most 128 KiB per value or \
                         interpolated value): pass big data in a file, as an artifact"
                            .to_string()
                    } else {
                        e.to_string()
                    };
                    Failure::new(format!("cannot start `{}`: {why}", attempt.shell))
                })?;
                outcome_result(ran.outcome).map(|code| Exit {
                    code,
                    logged: ran.logged,
                })
            }
            Prepared::Wait(d, limit) => {
                let mut stop = stop.clone();
                let limit = limit.unwrap_or(Duration::MAX);
                tokio::select! {
                    () = tokio::time::sleep(d), if d <= limit => Ok(Exit::quiet(None)),
                    () = tokio::time::sleep(limit), if limit < d => outcome_result(Outcome::TimedOut).map(Exit::quiet),
                    _ = stop.wait_for(|level| *level >= exec::STOP) => outcome_result(Outcome::Stopped).map(Exit::quiet),
                }
            }
            Prepared::Dir {
                from,
                exclude,
                workspace,
                state,
            } => {
                let shown = from.display().to_string();
                blocking(move || {
                    copy_tree(&from, &workspace, &exclude, &[&state, &workspace])
                        .map_err(|e| format!("cannot snapshot `{}`: {e}", from.display()))
                })
                .await
                .map_err(|e| {
                    Failure::new(if e.contains(&shown) {
                        e
                    } else {
                        format!("`{shown}`: {e}")
                    })
                })?;
                Ok(Exit::quiet(None))
            }
            Prepared::Aws {
                job,
                attempt,
                outputs,
            } => super::aws::attempt(&job, *attempt, &outputs, stop).await,
            Prepared::Approval => Err(Failure::new(
                "approval actions need `pipec resume` and `pipec approve`, which come with durable runs and are not in this version yet",
            )),
            Prepared::Pipeline {
                timeout,
                file,
                params,
                env,
                label,
                log,
            } => {
                // The nested run stops as a whole when the action's time is up, or when this
                // run is stopped: it has a stop signal of its own, fed from both.
                let (tx, rx) = tokio::sync::watch::channel(0u8);
                let child = nested(run, &file, &params, env, &label, &log, &rx);
                tokio::pin!(child);
                let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
                let mut timed_out = false;
                let mut outer = stop.clone();
                loop {
                    tokio::select! {
                        result = &mut child => {
                            return if timed_out {
                                Err(Failure {
                                    timed_out: true,
                                    ..Failure::new("timed out; the nested run was stopped")
                                })
                            } else {
                                // It says in its log which run it was.
                                result.map(|code| Exit { code, logged: true })
                            };
                        }
                        () = async {
                            match deadline {
                                Some(d) => tokio::time::sleep_until(d).await,
                                None => std::future::pending().await,
                            }
                        }, if !timed_out => {
                            timed_out = true;
                            // (The borrow ends before the send, which needs the lock.)
                            let level = (*tx.borrow()).max(exec::STOP);
                            let _ = tx.send(level);
                        }
                        Ok(()) = outer.changed() => {
                            let level = (*outer.borrow()).max(*tx.borrow());
                            let _ = tx.send(level);
                        }
                    }
                }
            }
        }
    }
}

/// The pipeline files of the runs a run of `file` nested in `run` is nested in; a pipeline
/// that would run itself, or nesting too deep, fails.
fn parents_of(run: &Run<'_>, file: &Path) -> Result<Vec<PathBuf>, Failure> {
    let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let mut parents = run.options.parents.clone();
    parents.push(
        std::fs::canonicalize(&run.options.file).unwrap_or_else(|_| run.options.file.clone()),
    );
    if parents.contains(&canonical) {
        return Err(Failure::new(format!(
            "`{}` would run itself (through {})",
            file.display(),
            parents
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(" -> ")
        )));
    }
    if parents.len() >= MAX_NESTING {
        return Err(Failure::new(format!(
            "pipelines nest more than {MAX_NESTING} levels deep"
        )));
    }
    Ok(parents)
}

/// A `pipeline` action: the child pipeline runs as a run of its own (in the same history),
/// and the action succeeds when that run does. It inherits this run's secrets (masked there
/// too, their variables kept from its actions) and the action's `env`.
pub(super) async fn nested(
    run: &Run<'_>,
    file: &Path,
    params: &BTreeMap<String, String>,
    env: Vec<(String, Passed)>,
    label: &str,
    log: &Path,
    stop: &tokio::sync::watch::Receiver<u8>,
) -> Result<Option<i32>, Failure> {
    let parents = parents_of(run, file)?;
    let inherited = run.options.inherited.nested(
        &Parent {
            ir: run.ir,
            secrets: run.secrets,
            vars: &run.options.secret_sources,
            base: &run.options.base(),
        },
        env,
    );
    let child = (run.options.loader)(file, params, &inherited).map_err(Failure::new)?;
    // Params never hold a secret (their defaults may not read one); masked all the same, as
    // nothing of a secret is stored in clear.
    let masks = inherited.masks_with(&child.secrets);
    let params_json: serde_json::Map<String, serde_json::Value> = child
        .values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::Value::String(mask(&v.text(), &masks)),
            )
        })
        .collect();
    let mut facts = run.facts.clone();
    facts.trigger = "pipeline".into();
    let child_id = run
        .history
        .start_run(
            &child.ir,
            &serde_json::Value::Object(params_json),
            &super::state::Snapshot {
                parent: Some(run.run_id),
                facts: &serde_json::to_value(&facts).unwrap_or_default(),
                file: Some(file),
                source: None,
            },
        )
        .map_err(Failure::from)?;
    let _ = append(
        log,
        &format!(
            "pipec: running pipeline `{}` ({}) as run {child_id}\n",
            child.ir.pipeline.name,
            file.display()
        ),
    );
    let options = Options {
        file: file.to_path_buf(),
        secret_sources: child.secret_sources.clone(),
        parents,
        inherited,
        ..run.options.clone()
    };
    // The nested run's secrets are masked in what the run around it shows too.
    let report = |p: Progress| (run.report)(p.masked(&masks).nested_under(label));
    let child_run = Run {
        ir: &child.ir,
        history: run.history,
        run_id: &child_id,
        values: &child.values,
        secrets: &child.secrets,
        facts: &facts,
        options: &options,
        report: &report,
        stop,
        start: &super::resume::Start::Fresh,
    };
    let status = execute(&child_run).await.map_err(Failure::from)?;
    if status == RunStatus::Waiting {
        // A nested run is not resumed on its own: held, it fails (and leaves its stages).
        run.history
            .finish_run(&child_id, RunStatus::Failed)
            .map_err(Failure::from)?;
        let _ = append(
            log,
            "pipec: the nested run is held (an approval or a disabled transition); holds inside a `pipeline` action's run are not supported, so it fails\n",
        );
    }
    let _ = append(log, &format!("pipec: run {child_id} {}\n", status.as_str()));
    match status {
        RunStatus::Succeeded => Ok(Some(0)),
        RunStatus::Stopped => outcome_result(Outcome::Stopped),
        RunStatus::Failed | RunStatus::Waiting | RunStatus::Superseded | RunStatus::Running => {
            Err(Failure::new(format!(
                "pipeline `{}` (run {child_id}) {}",
                child.ir.pipeline.name,
                status.as_str()
            )))
        }
    }
}

#[allow(clippy::too_many_arguments)] // Reason: the attempt's context, passed down explicitly.
pub(super) fn prepare(
    run: &Run<'_>,
    scope: &RunScope<'_>,
    a: &Action,
    attempt: u32,
    workspace: &Path,
    outputs_file: &Path,
    log: PathBuf,
    timeout: Option<Duration>,
    echo: Option<&Echo>,
    label: &str,
) -> Result<Prepared, String> {
    let base = run.options.base();
    let param_text = |name: &str| a.params.get(name).map(|e| eval(e, scope).map(|v| v.text()));
    let text = |name: &str, default: &str| -> Result<String, String> {
        Ok(param_text(name)
            .transpose()
            .map_err(describe)?
            .unwrap_or_else(|| default.to_string()))
    };
    let shell_attempt =
        |shell: String, script: Script, workdir: &str| -> Result<Prepared, String> {
            // What the `pipeline` actions around this run passed in comes first: the
            // action's own `env` and pipec's variables win.
            let (env_remove, mut env) = run
                .options
                .inherited
                .for_actions(&run.options.secret_sources);
            env.extend(script.args);
            for (k, v) in &a.env {
                env.push((k.clone(), eval(v, scope).map_err(describe)?.text()));
            }
            env.extend([
                ("PIPEC_RUN_ID".into(), run.run_id.to_string()),
                (
                    "PIPEC_STAGE".into(),
                    label.split('.').next().unwrap_or_default().to_string(),
                ),
                ("PIPEC_ACTION".into(), a.name.clone()),
                ("PIPEC_ATTEMPT".into(), attempt.to_string()),
                (
                    "PIPEC_OUTPUT".into(),
                    outputs_file.to_string_lossy().into_owned(),
                ),
                // Where the pipeline file is (an extension: relative paths of `dir`, `git`
                // and `pipeline` resolve against it; scripts may want it too).
                ("PIPEC_PIPELINE_DIR".into(), pipeline_dir(&base)),
            ]);
            for i in &a.inputs {
                env.push((
                    format!("PIPEC_INPUT_{}", i.name),
                    crate::paths::normalize(&workspace.join(i.restored_at())),
                ));
            }
            let container = container_of(run, a, label, attempt, outputs_file)?;
            Ok(Prepared::Shell(Box::new(Attempt {
                shell,
                script: script.text,
                workdir: if workdir == "." {
                    workspace.to_path_buf()
                } else {
                    workspace.join(workdir)
                },
                env,
                env_remove,
                timeout,
                grace: Duration::from_secs(5),
                log: log.clone(),
                secrets: run.options.inherited.secrets_with(scope.secrets),
                echo: echo.cloned(),
                workspace: workspace.to_path_buf(),
                container,
            })))
        };
    match a.kind {
        Kind::Sh => {
            let shell = text("shell", "bash")?;
            let plain = |text: String| Script {
                text,
                args: Vec::new(),
            };
            let script = match a.params.get("run") {
                Some(Expr::Interp { parts, .. }) if is_posix_shell(&shell) => {
                    render_script(parts, scope)
                }
                Some(Expr::Interp { parts, .. }) => refuse_interpolation(parts, &shell).map(plain),
                Some(other) => eval(other, scope).map(|v| plain(v.text())),
                None => Ok(plain(String::new())),
            }
            .map_err(describe)?;
            shell_attempt(shell, script, &text("workdir", ".")?)
        }
        Kind::Git => {
            let repo = text("repo", "")?;
            let reference = text("ref", "HEAD")?;
            // A local repository is named relative to the pipeline file.
            let local = base.join(&repo);
            let repo = if !repo.contains("://") && !repo.contains('@') && local.exists() {
                crate::paths::normalize(&std::path::absolute(&local).unwrap_or(local))
            } else {
                repo
            };
            shell_attempt("sh".into(), git_script(&repo, &reference), ".")
        }
        Kind::Wait => match a.params.get("duration").map(|e| eval(e, scope)) {
            Some(Ok(Value::Duration(secs))) => {
                Ok(Prepared::Wait(Duration::from_secs(secs), timeout))
            }
            _ => Err("`wait` needs a duration".into()),
        },
        Kind::Dir => {
            let path = text("path", ".")?;
            let mut exclude: Vec<String> = match a.params.get("exclude").map(|e| eval(e, scope)) {
                Some(Ok(Value::List(items))) => items.iter().map(Value::text).collect(),
                _ => Vec::new(),
            };
            // Never snapshot a state directory: `.pipec/` by name, the one in use wherever it
            // is (`copy_tree` knows it by identity).
            exclude.push(".pipec/**".into());
            Ok(Prepared::Dir {
                from: base.join(path),
                exclude,
                workspace: workspace.to_path_buf(),
                state: run.history.dir.clone(),
            })
        }
        Kind::Pipeline => {
            let file = base.join(text("file", "")?);
            let params = match a.params.get("params").map(|e| eval(e, scope)) {
                Some(Ok(Value::Map(m))) => m.into_iter().map(|(k, v)| (k, v.text())).collect(),
                Some(Err(e)) => return Err(describe(e)),
                _ => BTreeMap::new(),
            };
            let mut env = Vec::new();
            for (k, v) in &a.env {
                let value = eval(v, scope).map_err(describe)?.text();
                let secret = matches!(v, Expr::Ref(Ref::Secret { .. }));
                env.push((k.clone(), Passed { value, secret }));
            }
            Ok(Prepared::Pipeline {
                timeout,
                file,
                params,
                env,
                label: label.to_string(),
                log,
            })
        }
        Kind::Approval => Ok(Prepared::Approval),
        Kind::Aws => {
            let job = super::aws::job(a, label, run.run_id, workspace, &mut |e| {
                eval(e, scope).map(|v| v.text()).map_err(describe)
            })?;
            let plain = Script {
                text: String::new(),
                args: Vec::new(),
            };
            let Prepared::Shell(attempt) = shell_attempt("bash".into(), plain, ".")? else {
                return Err("an `aws` action's process could not be prepared".into());
            };
            Ok(Prepared::Aws {
                job: Box::new(job),
                attempt,
                outputs: outputs_file.to_path_buf(),
            })
        }
    }
}

/// Where an `sh` attempt runs with `--containers`: in its image, or nowhere (no image, no
/// `--containers`); an error when it has an image and no runtime was found.
fn container_of(
    run: &Run<'_>,
    a: &Action,
    label: &str,
    attempt: u32,
    outputs_file: &Path,
) -> Result<Option<Container>, String> {
    match (&run.options.containers, &a.image) {
        (Containers::Missing, Some(image)) => Err(format!(
            "it runs in image `{image}`, but no container runtime (podman or docker) was found"
        )),
        (Containers::On(runtime), Some(image)) => Ok(Some(Container {
            runtime: runtime.clone(),
            image: image.clone(),
            name: container::name(run.run_id, label, attempt),
            output: outputs_file.to_path_buf(),
            pipeline_dir: Some(PathBuf::from(pipeline_dir(&run.options.base()))),
        })),
        _ => Ok(None),
    }
}

/// The absolute path of the pipeline file's folder (`run x.pipe`: its parent is "", the
/// current folder).
fn pipeline_dir(base: &Path) -> String {
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    std::path::absolute(base)
        .unwrap_or_else(|_| base.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// The script of a `git` action: clone, check out `reference`, export `commit` and
/// `branch`, and leave only the files (no `.git`: the checkout is the artifact). Every
/// value is one quoted word.
pub(super) fn git_script(repo: &str, reference: &str) -> Script {
    Script {
        text: crate::shell::GIT_CHECKOUT.to_string(),
        args: vec![
            ("PIPEC_GIT_REPO".into(), repo.to_string()),
            ("PIPEC_GIT_REF".into(), reference.to_string()),
        ],
    }
}

#[allow(clippy::needless_pass_by_value)] // Reason: used as `map_err(describe)`.
pub(super) fn describe(e: EvalError) -> String {
    e.to_string()
}

/// Copies a folder, leaving out paths (relative to `from`) that match `exclude` globs, and
/// the folders `skip` names (the state directory in use, the destination): those are known
/// by identity (device and inode), not by path, so that no spelling of them — relative,
/// with `..`, through a symbolic link — lets a snapshot copy itself into itself.
pub(super) fn copy_tree(
    from: &Path,
    to: &Path,
    exclude: &[String],
    skip: &[&Path],
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let matchers: Vec<_> = exclude
        .iter()
        .filter_map(|p| crate::patterns::glob(p).ok())
        .collect();
    std::fs::create_dir_all(to)?;
    let skip: Vec<(u64, u64)> = skip
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let mut stack = vec![from.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(from).unwrap_or(&path);
            let rel_text = rel.to_string_lossy();
            if matchers
                .iter()
                .any(|m| m.is_match(rel_text.as_ref()) || m.is_match(format!("{rel_text}/x")))
            {
                continue;
            }
            let target = to.join(rel);
            let kind = entry.file_type()?;
            // A folder to skip, or a link to one (`--state-dir ./link`).
            let skipped = |meta: std::fs::Metadata| skip.contains(&(meta.dev(), meta.ino()));
            if (kind.is_dir() && skipped(entry.metadata()?))
                || (kind.is_symlink() && std::fs::metadata(&path).is_ok_and(skipped))
            {
                continue;
            }
            // Files and links to files are copied; a FIFO, a socket or a device would block
            // the copy or never end, and a link to a folder is not followed.
            let followed = std::fs::metadata(&path)?.file_type();
            if !kind.is_dir() && !followed.is_file() {
                let through = if kind.is_symlink() {
                    ", through a symbolic link"
                } else {
                    ""
                };
                return Err(std::io::Error::other(format!(
                    "`{rel_text}` is not a regular file ({}{through}): leave it out with `exclude`",
                    super::bounded::kind(followed)
                )));
            }
            if kind.is_dir() {
                std::fs::create_dir_all(&target)?;
                stack.push(path);
            } else {
                std::fs::copy(&path, &target)?;
            }
        }
    }
    Ok(())
}

/// Appends to a log; a text starting with a line break gets it only when the log's last line
/// is unfinished.
pub(super) fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, Write as _};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let mut text = text;
    if let Some(rest) = text.strip_prefix('\n') {
        let mut last = [0u8; 1];
        let unfinished = f.seek(std::io::SeekFrom::End(-1)).is_ok()
            && f.read_exact(&mut last).is_ok()
            && last[0] != b'\n';
        if !unfinished {
            text = rest;
        }
    }
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::git_script;

    #[test]
    fn the_git_script_takes_its_values_from_the_environment() {
        let s = git_script("/tmp/x'; rm -rf ~; '", "$(reboot)");
        assert!(
            !s.text.contains("reboot") && !s.text.contains("rm -rf ~"),
            "{}",
            s.text
        );
        assert_eq!(s.args[1], ("PIPEC_GIT_REF".into(), "$(reboot)".into()));
    }
}
