//! The runtime: executing a pipeline's IR on this machine (issue 3).
//!
//! So far only the pure core exists: [`eval`] evaluates IR expressions and renders scripts
//! with safe quoting. The scheduler, processes, artifacts and run history come next.

pub mod artifacts;
mod attempt;
pub mod eval;
pub mod exec;
pub mod plan;
pub mod run;
pub mod state;
pub mod trigger;
