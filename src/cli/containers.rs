//! `--containers`: which container runtime runs actions that have an `image`, and the
//! refusal, before a run starts, of a pipeline whose actions need one when none is found.

use super::error::Error;
use crate::ir::Ir;
use crate::runtime::container::{self, Containers, Engine};

/// The runtime asked for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Choice {
    /// podman, else docker.
    Auto,
    Podman,
    Docker,
}

/// Where actions with an image run: nowhere special without `--containers`; with it, the
/// runtime found on `PATH`, or an error naming the first action that needs one.
pub(crate) fn resolve(choice: Option<Choice>, ir: &Ir) -> Result<Containers, Error> {
    let Some(choice) = choice else {
        return Ok(Containers::Off);
    };
    let wanted = match choice {
        Choice::Auto => None,
        Choice::Podman => Some(Engine::Podman),
        Choice::Docker => Some(Engine::Docker),
    };
    if let Some(runtime) = container::find(wanted) {
        return Ok(Containers::On(runtime));
    }
    let needs = ir.pipeline.stages.iter().find_map(|s| {
        s.actions
            .iter()
            .chain(s.entry.iter().chain(&s.on_success).flat_map(checks))
            .find_map(|a| Some((s.name.as_str(), a.name.as_str(), a.image.as_deref()?)))
    });
    let looked_for = wanted.map_or("podman or docker", Engine::name);
    match needs {
        Some((stage, action, image)) => Err(Error::invalid(format!(
            "action `{stage}.{action}` runs in image `{image}`, but no container runtime ({looked_for}) was found on PATH"
        ))
        .help(format!(
            "install {looked_for}, or run without `--containers` to run every action on this machine"
        ))),
        None => Ok(Containers::Missing),
    }
}

/// The actions of a condition's `check` rules.
fn checks(c: &crate::ir::Condition) -> impl Iterator<Item = &crate::ir::Action> {
    c.rules.iter().filter_map(|r| match r {
        crate::ir::CondRule::Check { action } => Some(&**action),
        _ => None,
    })
}
