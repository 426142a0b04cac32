//! What an exporter of the job-per-stage targets (GitHub Actions, GitLab CI, Argo Workflows)
//! knows while it works, and what it has found: the IR, the source map (to point a
//! diagnostic at a stage's or action's first line) and the diagnostics so far.
//!
//! Each target names itself (`GitHub Actions`, …) once, in [`Cx::new`]; the messages shared
//! code writes end in `on {target}`. GitLab's exporter wraps this context with what only it
//! needs (the stages whose status is read).

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Ir};
use crate::source::SourceMap;

pub(crate) struct Cx<'a> {
    pub(crate) ir: &'a Ir,
    pub(crate) map: Option<&'a SourceMap>,
    pub(crate) diags: Vec<Diagnostic>,
    /// The target's name in messages (`GitHub Actions`, `GitLab CI`, `Argo Workflows`).
    pub(crate) target: &'static str,
}

impl<'a> Cx<'a> {
    /// A context for exporting `ir` to `target`, every [`super::LocalOnly`] setting already
    /// warned about (W0005).
    pub(crate) fn new(ir: &'a Ir, map: Option<&'a SourceMap>, target: &'static str) -> Self {
        let mut cx = Cx {
            ir,
            map,
            diags: Vec::new(),
            target,
        };
        for w in super::local_only(ir, target) {
            let label = format!("not carried to {target}");
            cx.weaker(w.at, w.message, &label, w.help);
        }
        cx
    }
}

/// Where an exporter puts its diagnostics, and where they point: every target's context
/// (this [`Cx`], and CodePipeline's) reports through it.
pub(crate) trait Report {
    /// The diagnostics so far.
    fn diags(&mut self) -> &mut Vec<Diagnostic>;

    /// Where a diagnostic about `at` points (`at` itself unless the target narrows it).
    fn point(&self, at: ir::Span) -> ir::Span {
        at
    }

    /// Reports an error (`code`) about `at`.
    fn refuse(
        &mut self,
        code: Code,
        at: ir::Span,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let at = super::source_span(self.point(at));
        self.diags()
            .push(Diagnostic::new(code, message, at, label).help(help));
    }

    /// A warning (`W0005`): the target does not enforce this.
    fn weaker(&mut self, at: ir::Span, message: String, label: &str, help: &str) {
        self.refuse(Code::W0005, at, message, label, help);
    }
}

impl Report for Cx<'_> {
    fn diags(&mut self) -> &mut Vec<Diagnostic> {
        &mut self.diags
    }

    /// The first line of `at`: a diagnostic about a stage or an action points at its header.
    fn point(&self, at: ir::Span) -> ir::Span {
        self.head(at)
    }
}

impl Cx<'_> {
    /// The first line of `at` (a stage or an action's header), when the source is known.
    pub(crate) fn head(&self, at: ir::Span) -> ir::Span {
        super::first_line(self.map, at)
    }

    /// `file:line` of a span, for comments.
    pub(crate) fn place(&self, at: ir::Span) -> String {
        super::place(self.ir, at)
    }

    /// `e` (negated with `neg`) as a condition over params in `dialect` (GitLab's `rules:`,
    /// Argo's `when`), or `None` where it reads anything else.
    pub(crate) fn param_cond(
        &self,
        e: &ir::Expr,
        neg: bool,
        dialect: super::cond::Dialect,
    ) -> Option<super::cond::Cond> {
        super::cond::cond(e, neg, dialect, &|name: &str| {
            self.param_type(name).cloned()
        })
    }

    /// The type of param `name`.
    pub(crate) fn param_type(&self, name: &str) -> Option<&ir::Type> {
        self.ir
            .pipeline
            .params
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.ty)
    }
}
