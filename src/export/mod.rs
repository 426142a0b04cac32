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

/// The source span of an IR span.
pub(crate) fn source_span(s: crate::ir::Span) -> crate::source::Span {
    crate::source::Span {
        file: crate::source::FileId(s.file),
        start: s.start,
        end: s.end,
    }
}

/// The first line of `at` (a stage's or an action's header), when the source is known:
/// where every exporter puts a diagnostic about a whole stage or action.
pub(crate) fn first_line(
    map: Option<&crate::source::SourceMap>,
    at: crate::ir::Span,
) -> crate::ir::Span {
    let Some(text) = map.and_then(|m| {
        m.get(crate::source::FileId(at.file))
            .text
            .get(at.start as usize..at.end as usize)
    }) else {
        return at;
    };
    let line = text.split('\n').next().unwrap_or("").trim_end();
    crate::ir::Span {
        end: at.start + u32::try_from(line.len()).unwrap_or(0),
        ..at
    }
}

/// The file and line of a span, for comments (`app.pipe:12`).
pub(crate) fn place(ir: &crate::ir::Ir, at: crate::ir::Span) -> String {
    let file = ir.files.get(at.file as usize).map_or("?", String::as_str);
    format!("{file}:{}", at.line)
}
