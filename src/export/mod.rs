//! Exporters: a checked pipeline (the IR) to the declaration of another engine.
//!
//! Input: an [`crate::ir::Ir`] (a file that checks clean). Output: text (a CloudFormation
//! template, a JSON document) or diagnostics (`E05xx`) naming every construct the target
//! cannot express, with its span. Pure: no I/O; the CLI reads the source and writes the
//! output. One module per target ([`codepipeline`], [`github`], [`gitlab`], [`argo`]); [`doc`] is the ordered document tree
//! they build and its deterministic YAML and JSON writers; [`shtest`] an action's `when` as a
//! shell test (GitLab, Argo).

pub mod argo;
pub mod codepipeline;
mod cond;
pub mod doc;
pub mod github;
pub mod gitlab;
mod runner;
mod shtest;
