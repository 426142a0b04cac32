//! All integration tests, in one binary (`autotests = false`): see tests/README.md.
#![allow(clippy::disallowed_methods, clippy::print_stdout)] // Reason: tests read fixtures and spawn pipec.

mod cli;
mod codepipeline;
mod durable;
mod everyday;
mod examples;
mod explain;
mod fidelity;
mod fixtures;
mod fmt;
mod fuzz;
mod fuzz_regressions;
mod graph;
mod lsp;
mod lsp_client;
mod neovim;
mod overhead;
mod processes;
mod prune;
mod resources;
mod run;
mod runtime;
mod scaling;
mod secrets;
mod stress;
mod support;
mod tidy;
mod tools;
