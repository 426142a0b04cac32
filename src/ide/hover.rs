//! Hover: the declaration, type and doc of the name under the cursor, in Markdown.

use std::fmt::Write as _;

use crate::ast::{self, AttrValue};
use crate::source::Span;

use super::index::{Symbol, bare_names, split_kind};
use super::{Analysis, actions, docs};

/// What to show for a name.
#[derive(Clone, Debug)]
pub struct Hover {
    /// The name the hover is about.
    pub span: Span,
    pub markdown: String,
}

fn code(text: &str) -> String {
    format!("```pipe\n{text}\n```")
}

impl Analysis {
    /// The hover for the name under `offset`.
    pub fn hover(&self, offset: usize) -> Option<Hover> {
        let occ = self.index.at(offset)?;
        let markdown = match &occ.symbol {
            Symbol::Stage(s) => self.hover_stage(s)?,
            Symbol::Action(s, a) => self.hover_action(s, a)?,
            Symbol::Param(p) => self.hover_param(p)?,
            Symbol::Secret(s) => self.hover_secret(s)?,
            Symbol::Artifact(a) => self.hover_artifact(a),
            Symbol::Export(s, a, e) => self.hover_export(s, a, e),
            Symbol::Module(m) => self.hover_module(m)?,
            Symbol::Template(m, t) => self.hover_template(m.as_deref(), t)?,
            Symbol::TemplateParam(m, t, p) => self.hover_template_param(m.as_deref(), t, p)?,
            Symbol::Kind(k) => hover_kind(k)?,
            Symbol::Attribute(k, a) => hover_attribute(k, a)?,
            Symbol::RunField(f) => {
                let (ty, doc) = docs::run_field(f)?;
                format!("{}\n\n{doc}", code(&format!("run.{f}: {ty}")))
            }
        };
        Some(Hover {
            span: occ.span,
            markdown,
        })
    }

    /// The source text from `from` to `to` (both in this analysis' files).
    pub(super) fn between(&self, from: Span, to: Span) -> &str {
        self.text(Span::new(from.file, from.start as usize, to.end as usize))
    }

    fn hover_stage(&self, name: &str) -> Option<String> {
        let stage = self.stage(name)?;
        let mut out = code(&format!("stage {name}"));
        let names: Vec<String> = actions(stage)
            .map(|a| format!("`{}` ({})", a.name.name, a.kind.text()))
            .collect();
        if !names.is_empty() {
            let _ = write!(out, "\n\nactions: {}", names.join(", "));
        }
        for item in &stage.items {
            match item {
                ast::StageItem::After(e, _) => {
                    let _ = write!(out, "\n\nruns after: {}", self.text(e.span));
                }
                ast::StageItem::OnFailure(_, span) => {
                    let _ = write!(out, "\n\n`{}`", self.text(*span));
                }
                _ => {}
            }
        }
        Some(out)
    }

    fn hover_action(&self, stage: &str, name: &str) -> Option<String> {
        let action = self.action(stage, name)?;
        let mut out = code(self.between(action.span, action.kind.span));
        let _ = write!(out, "\n\nin stage `{stage}`");
        for attr in &action.attrs {
            let what = match attr.name.name.as_str() {
                "exports" => "exports",
                "after" => "after",
                "output" | "outputs" => "outputs",
                "input" | "inputs" => "inputs",
                _ => continue,
            };
            let _ = write!(out, "\n\n{what}: `{}`", self.text(attr.value.span()));
        }
        Some(out)
    }

    fn hover_param(&self, name: &str) -> Option<String> {
        let param = self.pipeline()?.items.iter().find_map(|i| match i {
            ast::PipelineItem::Param(p) if p.name.name == name => Some(p),
            _ => None,
        })?;
        let mut out = code(self.text(param.span));
        if let Some(doc) = &param.doc {
            let _ = write!(out, "\n\n{doc}");
        }
        if param.default.is_none() {
            out.push_str("\n\nrequired: set it with `--param NAME=VALUE`");
        }
        Some(out)
    }

    fn hover_secret(&self, name: &str) -> Option<String> {
        let secret = self.pipeline()?.items.iter().find_map(|i| match i {
            ast::PipelineItem::Secret(s) if s.name.name == name => Some(s),
            _ => None,
        })?;
        Some(format!(
            "{}\n\nA secret: read when the run starts, masked in every log and output, never \
             stored. It may only be a value in `env`.",
            code(self.text(secret.span))
        ))
    }

    fn hover_artifact(&self, name: &str) -> String {
        let mut out = code(&format!("artifact {name}"));
        for stage in self.stages() {
            for action in actions(stage) {
                let who = format!("`{}.{}`", stage.name.name, action.name.name);
                for attr in &action.attrs {
                    match (attr.name.name.as_str(), &attr.value) {
                        ("output", AttrValue::OutputFrom { name: n, path }) if n.name == name => {
                            let _ =
                                write!(out, "\n\noutput of {who} from `{}`", self.text(path.span));
                        }
                        ("output", AttrValue::Expr(e))
                            if bare_names(e).iter().any(|n| n.name == name) =>
                        {
                            let _ = write!(out, "\n\nthe result of {who} ({})", action.kind.text());
                        }
                        ("outputs", AttrValue::Expr(e)) => {
                            if let ast::ExprKind::Map(entries) = &e.kind {
                                for (k, v) in entries {
                                    if k.name == name {
                                        let _ = write!(
                                            out,
                                            "\n\noutput of {who} from `{}`",
                                            self.text(v.span)
                                        );
                                    }
                                }
                            }
                        }
                        ("input" | "inputs", AttrValue::Expr(e))
                            if bare_names(e).iter().any(|n| n.name == name) =>
                        {
                            let _ = write!(out, "\n\ninput of {who}");
                        }
                        _ => {}
                    }
                }
            }
        }
        out
    }

    fn hover_export(&self, stage: &str, action: &str, name: &str) -> String {
        let mut out = code(&format!("{stage}.{action}.{name}: string"));
        match self.action(stage, action) {
            Some(a) if split_kind(&a.kind) == (None, "git".to_string()) => {
                out.push_str("\n\nexported by the `git` kind (`commit`, `branch`)");
            }
            Some(_)
                if self
                    .declaration(&Symbol::Export(stage.into(), action.into(), name.into()))
                    .is_some() =>
            {
                let _ = write!(
                    out,
                    "\n\nexported by action `{action}` of stage `{stage}`: it writes a \
                     `{name}=VALUE` line to `$PIPEC_OUTPUT`"
                );
            }
            Some(_) => {
                let _ = write!(
                    out,
                    "\n\n`{name}` is not among the `exports` of action `{action}` of stage `{stage}`"
                );
            }
            None => {}
        }
        out
    }

    fn hover_module(&self, name: &str) -> Option<String> {
        let module = self.modules.get(name)?;
        let file = &self.map.get(module.file).name;
        let mut out = format!("module `{name}` ({file})");
        for t in self.templates(Some(name)) {
            let _ = write!(out, "\n\n{}", code(self.between(t.span, t.kind.span)));
            if let Some(doc) = &t.doc {
                let _ = write!(out, "\n{doc}");
            }
        }
        Some(out)
    }

    fn hover_template(&self, module: Option<&str>, name: &str) -> Option<String> {
        let t = self.template(module, name)?;
        let mut out = code(self.between(t.span, t.kind.span));
        if let Some(m) = module {
            let _ = write!(out, "\n\nfrom module `{m}`");
        }
        if let Some(doc) = &t.doc {
            let _ = write!(out, "\n\n{doc}");
        }
        Some(out)
    }

    fn hover_template_param(
        &self,
        module: Option<&str>,
        template: &str,
        name: &str,
    ) -> Option<String> {
        let t = self.template(module, template)?;
        let p = t.params.iter().find(|p| p.name.name == name)?;
        let full = module.map_or(template.to_string(), |m| format!("{m}.{template}"));
        let mut out = format!(
            "{}\n\nparameter of template `{full}`",
            code(self.text(p.span))
        );
        if p.default.is_none() {
            out.push_str(" (required)");
        }
        if let Some(doc) = &t.doc {
            let _ = write!(out, "\n\n{doc}");
        }
        Some(out)
    }
}

/// A built-in kind: what it does and its parameters.
fn hover_kind(kind: &str) -> Option<String> {
    let k = crate::check::kind_by_name(kind)?;
    let mut out = format!(
        "{}\n\n{}\n",
        code(&format!("kind {kind}")),
        docs::kind(kind)?
    );
    for p in crate::check::kind_params(k) {
        let (default, doc) = docs::kind_param(kind, p.name)?;
        let default = default.map_or(" (required)".to_string(), |d| format!(" = {d}"));
        let _ = write!(out, "\n- `{}: {}`{default}: {doc}", p.name, p.ty);
    }
    out.push_str("\n\nand the common attributes: ");
    out.push_str(
        &crate::check::COMMON
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    Some(out)
}

/// An attribute inside an action's braces.
fn hover_attribute(kind: &str, name: &str) -> Option<String> {
    if let Some((ty, doc)) = docs::common(name) {
        return Some(format!("{}\n\n{doc}", code(&format!("{name}: {ty}"))));
    }
    let k = crate::check::kind_by_name(kind)?;
    let p = crate::check::kind_params(k)
        .into_iter()
        .find(|p| p.name == name)?;
    let (default, doc) = docs::kind_param(kind, name)?;
    let default = default.map_or(String::new(), |d| format!(" = {d}"));
    let required = if p.default.is_none() {
        " (required)"
    } else {
        ""
    };
    Some(format!(
        "{}\n\nparameter of kind `{kind}`{required}: {doc}",
        code(&format!("{name}: {}{default}", p.ty))
    ))
}
