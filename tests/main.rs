//! All integration tests, in one binary (`autotests = false`): see tests/README.md.

mod cli;
mod examples;
mod explain;
mod fixtures;
mod fuzz;
mod support;
