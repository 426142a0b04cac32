//! The spanned syntax tree of one `.pipe` file.
//!
//! Produced by `syntax` (which alone knows pest), consumed by `check`. Every node keeps the
//! [`Span`] of its source so that diagnostics can point at it. Literals are already decoded
//! (escapes, durations, block-string indentation); malformed ones become
//! [`ExprKind::Error`] after `syntax` reported E0103, so the checker stays quiet about them.

use crate::source::Span;

// The words the AST and the IR share, defined once: `ir/` is pure data that depends on no
// phase, so the AST may name its enums.
pub use crate::ir::{BinOp, ElseResult, Mode};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct File {
    pub items: Vec<Item>,
    /// Names of stages, actions and templates whose source failed to parse. The checker
    /// does not report references to them as unknown: the syntax error already said enough.
    pub broken_names: Vec<String>,
    /// The regions that failed to parse.
    pub broken_spans: Vec<Span>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Import(Import),
    Pipeline(Pipeline),
    Template(Template),
}

#[derive(Clone, Debug)]
pub struct Import {
    pub path: StrLit,
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Template {
    pub name: Ident,
    pub doc: Option<String>,
    pub params: Vec<TemplateParam>,
    pub kind: KindRef,
    pub attrs: Vec<Attr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct TemplateParam {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct TypeExpr {
    pub name: Ident,
    pub arg: Option<Box<TypeExpr>>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Pipeline {
    pub name: Ident,
    pub items: Vec<PipelineItem>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum PipelineItem {
    /// `mode X`; the span covers the item, the second one the value.
    Mode(Mode, Span, Span),
    Timeout(DurationLit, Span),
    /// `image "NAME"`: the default image of the pipeline's `sh` actions.
    Image(StrLit, Span),
    /// Retention: `keep N runs` or `keep DURATION`.
    Keep(Keep, Span),
    Param(Param),
    Secret(SecretDecl),
    Trigger(Trigger),
    /// `notify "URL" { … }`: an outgoing webhook of `pipec serve`.
    Notify(Notify),
    Stage(Stage),
    Transition(Transition),
}

impl PipelineItem {
    pub fn span(&self) -> Span {
        match self {
            PipelineItem::Mode(_, s, _)
            | PipelineItem::Timeout(_, s)
            | PipelineItem::Image(_, s)
            | PipelineItem::Keep(_, s) => *s,
            PipelineItem::Param(p) => p.span,
            PipelineItem::Secret(s) => s.span,
            PipelineItem::Trigger(t) => t.span,
            PipelineItem::Notify(n) => n.span,
            PipelineItem::Stage(s) => s.span,
            PipelineItem::Transition(t) => t.span,
        }
    }
}

/// A retention rule of the pipeline (`pipec prune`).
#[derive(Clone, Copy, Debug)]
pub enum Keep {
    /// `keep N runs`: the count (`None` when malformed: already reported) and its span.
    Runs(Option<u32>, Span),
    /// `keep DURATION`: no run that started longer ago.
    Age(DurationLit),
}

#[derive(Clone, Copy, Debug)]
pub struct DurationLit {
    /// `None` when malformed (already reported).
    pub secs: Option<u64>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub doc: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    /// The constraints block `{ allowed = […]  pattern = "…" }`, as attributes.
    pub constraints: Vec<Attr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct SecretDecl {
    pub name: Ident,
    pub source: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Trigger {
    pub kind: Ident,
    pub attrs: Vec<Attr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Notify {
    pub url: StrLit,
    pub attrs: Vec<Attr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Transition {
    pub from: Ident,
    pub to: Ident,
    pub guard: Option<Expr>,
    pub disabled: Option<StrLit>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub name: Ident,
    pub items: Vec<StageItem>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StageItem {
    /// `after = [...]`: the span of the keyword item and the list expression.
    After(Expr, Span),
    Timeout(DurationLit, Span),
    Entry(Condition),
    OnSuccess(Condition),
    OnFailure(FailurePolicy, Span),
    Action(Action),
}

impl StageItem {
    pub fn span(&self) -> Span {
        match self {
            StageItem::After(_, s) | StageItem::Timeout(_, s) | StageItem::OnFailure(_, s) => *s,
            StageItem::Entry(c) | StageItem::OnSuccess(c) => c.span,
            StageItem::Action(a) => a.span,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub rules: Vec<CondRule>,
    /// The `else` result and the span of its value keyword.
    pub otherwise: Option<(ElseResult, Span)>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum CondRule {
    Require(Expr, Span),
    Window {
        cron: StrLit,
        tz: Option<StrLit>,
        span: Span,
    },
    Check {
        kind: KindRef,
        attrs: Vec<Attr>,
        span: Span,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryScope {
    Failed,
    All,
}

#[derive(Clone, Debug)]
pub enum FailurePolicy {
    /// `retry [N] [failed|all]`: N with its span (when given).
    Retry(Option<(i64, Span)>, RetryScope),
    /// `rollback`, with the span of the keyword.
    Rollback(Span),
    Fail,
}

#[derive(Clone, Debug)]
pub struct Action {
    pub name: Ident,
    pub kind: KindRef,
    pub attrs: Vec<Attr>,
    pub span: Span,
}

/// `sh`, `rust.build`: a built-in kind, a local template, or an imported one.
#[derive(Clone, Debug)]
pub struct KindRef {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl KindRef {
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[derive(Clone, Debug)]
pub struct Attr {
    pub name: Ident,
    pub value: AttrValue,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum AttrValue {
    Expr(Expr),
    /// `NAME from "PATH"`
    OutputFrom {
        name: Ident,
        path: StrLit,
    },
}

impl AttrValue {
    pub fn span(&self) -> Span {
        match self {
            AttrValue::Expr(e) => e.span,
            AttrValue::OutputFrom { name, path } => name.span.to(path.span),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Str(StrLit),
    Int(i64),
    Bool(bool),
    Duration(u64),
    List(Vec<Expr>),
    Map(Vec<(Ident, Expr)>),
    /// `a`, `a.b`, `a.b.c`
    Path(Vec<Ident>),
    Call(Ident, Vec<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A malformed literal, already reported.
    Error,
}

#[derive(Clone, Debug)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    pub block: bool,
    pub span: Span,
}

impl StrLit {
    /// The text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(..) => return None,
            }
        }
        Some(out)
    }
}

#[derive(Clone, Debug)]
pub enum StrPart {
    /// Decoded text (escapes applied, block indentation removed).
    Text(String),
    /// `${expr}`: the expression and the span of the whole `${…}`.
    Interp(Expr, Span),
}
