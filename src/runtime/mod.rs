//! The runtime: executing a pipeline's IR on this machine (`docs/runtime.md`).
//!
//! [`run`] schedules a run over the stage graph (one file per piece of the scheduler);
//! `attempt` prepares one attempt of an action by kind and owns the workspaces; [`exec`]
//! runs one process attempt; [`artifacts`] is the content-addressed store; [`state`] the
//! state directory (its layout) and the run history; [`status`] the statuses of runs, stages
//! and actions; [`error`] what stops a run; [`eval`] evaluates expressions and renders
//! scripts with safe quoting; [`plan`] is the dry run (and the stage decisions the real run
//! shares); [`trigger`] matches events against triggers; [`secrets`] masks secret values and
//! says what a nested run inherits. [`bounded`] reads the files pipec is given (regular
//! files only, up to a size); [`outputs`] reads the exports an action writes to
//! `$PIPEC_OUTPUT`. [`holds`] records what people decide about runs (approvals, transition
//! and condition overrides, stop requests), [`locks`] the stage locks of the execution modes,
//! and [`settle`] applies a rejection or a passed approval timeout to a run no process runs.
//! [`container`] runs an attempt in its image (`pipec run --containers`).

pub mod artifacts;
mod attempt;
pub mod aws;
pub mod bounded;
pub mod container;
pub mod error;
pub mod eval;
pub mod exec;
pub mod holds;
pub mod locks;
pub mod outputs;
pub mod plan;
pub mod prune;
pub mod resume;
pub mod run;
pub mod secrets;
pub mod settle;
pub mod state;
pub mod status;
pub mod trigger;
