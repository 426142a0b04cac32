//! All integration tests, in one binary (`autotests = false`): see tests/README.md.
#![allow(clippy::disallowed_methods, clippy::print_stdout)] // Reason: tests read fixtures and spawn pipec.

mod argo;
mod aws;
mod aws_stub;
mod cli;
mod codepipeline;
mod containers;
mod durable;
mod everyday;
mod examples;
mod explain;
mod fidelity;
mod fixtures;
mod fmt;
mod fuzz;
mod fuzz_regressions;
mod github;
mod gitlab;
mod graph;
mod import;
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
mod serve;
mod stress;
mod support;
mod tidy;
mod tools;
