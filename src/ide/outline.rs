//! Document symbols: an outline of imports, templates, the pipeline, its declarations,
//! stages and their actions.

use crate::ast;
use crate::source::Span;

use super::Analysis;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutlineKind {
    Import,
    Template,
    Pipeline,
    Param,
    Secret,
    Trigger,
    Stage,
    Action,
    Transition,
}

/// One entry of the outline.
#[derive(Clone, Debug)]
pub struct Outline {
    pub name: String,
    /// A few words: the kind of an action, the type of a param.
    pub detail: String,
    pub kind: OutlineKind,
    /// The whole item.
    pub span: Span,
    /// Its name.
    pub name_span: Span,
    pub children: Vec<Outline>,
}

fn leaf(name: &ast::Ident, detail: String, kind: OutlineKind, span: Span) -> Outline {
    Outline {
        name: name.name.clone(),
        detail,
        kind,
        span,
        name_span: name.span,
        children: Vec::new(),
    }
}

impl Analysis {
    /// The outline of the file, in source order.
    pub fn outline(&self) -> Vec<Outline> {
        let mut out = Vec::new();
        for item in &self.file.items {
            match item {
                ast::Item::Import(imp) => out.push(Outline {
                    name: self.text(imp.path.span).to_string(),
                    detail: String::new(),
                    kind: OutlineKind::Import,
                    span: imp.span,
                    name_span: imp.path.span,
                    children: Vec::new(),
                }),
                ast::Item::Template(t) => {
                    out.push(leaf(&t.name, t.kind.text(), OutlineKind::Template, t.span));
                }
                ast::Item::Pipeline(p) => out.push(self.pipeline_outline(p)),
            }
        }
        out
    }

    fn pipeline_outline(&self, p: &ast::Pipeline) -> Outline {
        let mut children = Vec::new();
        for item in &p.items {
            match item {
                ast::PipelineItem::Param(x) => children.push(leaf(
                    &x.name,
                    self.text(x.ty.span).to_string(),
                    OutlineKind::Param,
                    x.span,
                )),
                ast::PipelineItem::Secret(x) => {
                    children.push(leaf(&x.name, "secret".into(), OutlineKind::Secret, x.span));
                }
                ast::PipelineItem::Trigger(t) => {
                    children.push(leaf(
                        &t.kind,
                        "trigger".into(),
                        OutlineKind::Trigger,
                        t.span,
                    ));
                }
                ast::PipelineItem::Transition(t) => children.push(Outline {
                    name: format!("{} -> {}", t.from.name, t.to.name),
                    detail: if t.disabled.is_some() {
                        "disabled".into()
                    } else {
                        String::new()
                    },
                    kind: OutlineKind::Transition,
                    span: t.span,
                    name_span: t.from.span.to(t.to.span),
                    children: Vec::new(),
                }),
                ast::PipelineItem::Stage(s) => {
                    let mut stage = leaf(&s.name, String::new(), OutlineKind::Stage, s.span);
                    stage.children = super::actions(s)
                        .map(|a| leaf(&a.name, a.kind.text(), OutlineKind::Action, a.span))
                        .collect();
                    children.push(stage);
                }
                ast::PipelineItem::Notify(n) => children.push(Outline {
                    name: format!("notify {}", self.text(n.url.span)),
                    detail: String::new(),
                    kind: OutlineKind::Trigger,
                    span: n.span,
                    name_span: n.url.span,
                    children: Vec::new(),
                }),
                ast::PipelineItem::Mode(..)
                | ast::PipelineItem::Timeout(..)
                | ast::PipelineItem::Image(..)
                | ast::PipelineItem::Keep(..) => {}
            }
        }
        Outline {
            name: p.name.name.clone(),
            detail: "pipeline".into(),
            kind: OutlineKind::Pipeline,
            span: p.span,
            name_span: p.name.span,
            children,
        }
    }
}
