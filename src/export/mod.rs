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

/// A setting only pipec itself acts on (`keep` for `pipec prune`, `notify` and a trigger's
/// `poll` for `pipec serve`): no target carries it, so every exporter warns (W0005) at its
/// place instead of dropping it silently.
pub(crate) struct LocalOnly {
    /// `keep`, `notify` or `poll`.
    pub(crate) what: &'static str,
    pub(crate) at: crate::ir::Span,
    pub(crate) message: String,
    pub(crate) help: &'static str,
}

/// The [`LocalOnly`] settings of `ir`, for a target named `target` (`GitHub Actions`, …).
pub(crate) fn local_only(ir: &crate::ir::Ir, target: &str) -> Vec<LocalOnly> {
    let p = &ir.pipeline;
    let mut found = Vec::new();
    if p.retention.is_some() {
        found.push(LocalOnly {
            what: "keep",
            at: p.span,
            message: format!("{target} keeps run history by its own rule, not by `keep`"),
            help: "`keep` tells `pipec prune` (and `pipec serve`) what to remove from a state directory; set the target's own retention where it has one",
        });
    }
    for n in &p.notify {
        found.push(LocalOnly {
            what: "notify",
            at: n.span,
            message: format!("{target} does not send `notify` webhooks"),
            help: "`notify` is sent by `pipec serve`; on the target, use its own notifications (or a last step that calls the URL)",
        });
    }
    for t in p.triggers.iter().filter(|t| t.poll_secs.is_some()) {
        found.push(LocalOnly {
            what: "poll",
            at: t.span,
            message: format!("{target} does not poll for changes as `poll` asks"),
            help: "`poll` is how often `pipec serve` looks for new commits; the target starts runs from its own events",
        });
    }
    found
}
