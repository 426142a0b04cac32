//! Actions in containers (`pipec run --containers`): the command line that runs one attempt
//! of an `sh` action in its image with podman or docker, and the removal of its container
//! when the attempt is stopped.
//!
//! Input: an [`Attempt`] and its [`Container`]. Output: the runtime's program and arguments;
//! the environment of that program is the attempt's (see `exec::command`).
//!
//! Method: the container gets the workspace bind-mounted at the same path (so `$PIPEC_OUTPUT`,
//! `$PIPEC_INPUT_*`, the working folder and every path the runtime computed stay valid),
//! the output file and the pipeline's folder (read-only) likewise; each variable of the
//! attempt's environment is passed by name only (`--env NAME`), so the runtime copies the
//! value from its own environment: values, secrets among them, are never on a command line
//! or in a file. `--init` gives the script a reaper and forwards the stop signal; the
//! container is removed after the attempt (`--rm`), and at once (`rm --force`) when the
//! attempt is stopped or times out. Files the script writes belong to the user running
//! pipec (`--userns=keep-id` for podman, `--user UID:GID` for docker).
//!
//! Limits: the image must have the action's shell (`bash` unless `shell` says otherwise).
#![allow(clippy::disallowed_methods)] // Reason: looks for the runtime on PATH and runs it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::exec::Attempt;

/// Which container runtime runs the images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }
}

/// A container runtime found on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    pub engine: Engine,
    /// The program, as found on `PATH`.
    pub program: PathBuf,
}

/// Whether actions with an image run in it (`pipec run --containers`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Containers {
    /// Images are not used: actions run on this machine.
    #[default]
    Off,
    /// Actions with an image run in it, with this runtime.
    On(Runtime),
    /// Asked for, but no runtime was found: an action with an image cannot run (the CLI
    /// refuses such a pipeline before it starts; a nested pipeline's action fails).
    Missing,
}

/// Finds a container runtime on `PATH`: the one asked for, or podman then docker.
pub fn find(wanted: Option<Engine>) -> Option<Runtime> {
    let path = std::env::var_os("PATH")?;
    let engines = match wanted {
        Some(e) => vec![e],
        None => vec![Engine::Podman, Engine::Docker],
    };
    engines.into_iter().find_map(|engine| {
        std::env::split_paths(&path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(engine.name()))
            .find(|p| is_executable(p))
            .map(|program| Runtime { engine, program })
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where one attempt runs: the runtime, the image, the container's name.
#[derive(Clone, Debug)]
pub struct Container {
    pub runtime: Runtime,
    pub image: String,
    /// Unique per attempt: `pipec-RUN-STAGE-ACTION-ATTEMPT` (characters a name may hold).
    pub name: String,
    /// The output file (`$PIPEC_OUTPUT`), created before the start so it can be mounted.
    pub output: PathBuf,
    /// The pipeline's folder (`$PIPEC_PIPELINE_DIR`), mounted read-only.
    pub pipeline_dir: Option<PathBuf>,
}

/// A container name from its parts: letters, digits, `_`, `.` and `-` only.
pub fn name(run_id: &str, label: &str, attempt: u32) -> String {
    let raw = format!("pipec-{run_id}-{}-{attempt}", label.replace('.', "-"));
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The arguments of `RUNTIME run …` for one attempt (the program is `c.runtime.program`).
pub fn args(c: &Container, attempt: &Attempt) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["run", "--rm", "--init", "--network", "host"]
        .into_iter()
        .map(OsString::from)
        .collect();
    args.push("--name".into());
    args.push(c.name.clone().into());
    match c.runtime.engine {
        Engine::Podman => args.push("--userns=keep-id".into()),
        Engine::Docker => {
            let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
            args.push("--user".into());
            args.push(format!("{uid}:{gid}").into());
        }
    }
    let mut mount = |from: &Path, ro: bool| {
        let mut v = OsString::from(from);
        v.push(":");
        v.push(from);
        if ro {
            v.push(":ro");
        }
        args.push("--volume".into());
        args.push(v);
    };
    mount(&attempt.workspace, false);
    if !c.output.starts_with(&attempt.workspace) {
        mount(&c.output, false);
    }
    if let Some(dir) = c
        .pipeline_dir
        .as_deref()
        .filter(|d| d.is_absolute() && !attempt.workspace.starts_with(d))
    {
        mount(dir, true);
    }
    args.push("--workdir".into());
    args.push(attempt.workdir.clone().into());
    let mut names: Vec<&str> = Vec::new();
    for (k, _) in &attempt.env {
        if !names.contains(&k.as_str()) {
            names.push(k);
        }
    }
    for k in names {
        args.push("--env".into());
        args.push(k.into());
    }
    args.push(c.image.clone().into());
    args.push(attempt.shell.clone().into());
    args.push("-c".into());
    args.push(attempt.script.clone().into());
    args
}

/// Creates the output file (empty) so that it can be mounted.
pub fn prepare(c: &Container) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&c.output)
        .map(drop)
}

/// Removes the container at once (after a stop or a timeout: the runtime's client was
/// signalled, but the container may outlive it). Errors are ignored: it may be gone.
pub async fn remove(c: &Container) {
    let mut cmd = tokio::process::Command::new(&c.runtime.program);
    cmd.args(["rm", "--force"])
        .arg(&c.name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.status()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_what_a_container_name_may_hold() {
        assert_eq!(name("r1", "build.co mpile", 2), "pipec-r1-build-co_mpile-2");
    }
}
