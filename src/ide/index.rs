//! Every name in a file and what it refers to: the table behind hover, definition,
//! references and rename.
//!
//! Declarations come from the AST (after error recovery), so they are there while the file
//! is being typed and broken. References in expressions (`params.X`, `secrets.X`, `run.X`,
//! `STAGE.status`, `STAGE.ACTION.EXPORT`, a template's parameters in its body) and in
//! `after` lists and transitions are the checker's own resolutions
//! ([`crate::check::Resolution`]): the editor never resolves those names a second way.
//! Kinds, template calls' attribute names, artifacts and imports are still read from the
//! AST. A reference is recorded by what it names: finding the declaration is a lookup of
//! the same [`Symbol`]. Imported modules, which the checker does not resolve for the
//! editor, are indexed from their AST alone.

use crate::ast::{self, Attr, AttrValue, CondRule, ExprKind, StageItem, StrPart};
use crate::check::{Resolution, Resolved};
use crate::source::Span;

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    Stage(String),
    /// Stage, action.
    Action(String, String),
    Param(String),
    Secret(String),
    Artifact(String),
    /// Stage, action, export.
    Export(String, String, String),
    /// An imported module by its name in scope.
    Module(String),
    /// Module (`None`: this file), template.
    Template(Option<String>, String),
    /// Module, template, parameter.
    TemplateParam(Option<String>, String, String),
    /// A built-in kind (`sh`).
    Kind(String),
    /// An attribute name inside an action's braces: the kind as written, the attribute.
    Attribute(String, String),
    /// `run.NAME`.
    RunField(String),
}

/// One place a name appears.
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: Symbol,
    /// The place that declares it.
    pub def: bool,
}

/// The names of one file, in source order.
#[derive(Clone, Debug, Default)]
pub struct Index {
    pub occurrences: Vec<Occurrence>,
}

impl Index {
    /// Indexes a file.
    pub fn new(file: &ast::File) -> Index {
        Index::build(file, ArtifactParams::new(), false)
    }

    /// Indexes a file the checker resolved (`resolutions`), whose template calls may pass
    /// artifacts to `artifact` parameters.
    pub(crate) fn resolved(
        file: &ast::File,
        artifact_params: ArtifactParams,
        resolutions: &[Resolution],
    ) -> Index {
        let mut index = Index::build(file, artifact_params, true);
        index
            .occurrences
            .extend(resolutions.iter().map(|r| Occurrence {
                span: r.span,
                symbol: symbol(&r.to),
                def: false,
            }));
        index.sort();
        index
    }

    /// Indexes a file whose template calls may pass artifacts to `artifact` parameters,
    /// resolving its references from the AST (`checked`: the checker resolves them).
    fn build(file: &ast::File, artifact_params: ArtifactParams, checked: bool) -> Index {
        let mut b = Builder {
            checked,
            artifact_params,
            ..Builder::default()
        };
        for item in &file.items {
            match item {
                ast::Item::Import(imp) => b.import(imp),
                ast::Item::Template(t) => b.template(t),
                ast::Item::Pipeline(p) => b.pipeline(p),
            }
        }
        b.index.sort();
        b.index
    }

    fn sort(&mut self) {
        self.occurrences.sort_by(|a, b| {
            (a.span.start, a.span.end, a.def).cmp(&(b.span.start, b.span.end, b.def))
        });
        // The checker may resolve a name twice (a reference kept pending, then resolved).
        self.occurrences
            .dedup_by(|a, b| a.span == b.span && a.symbol == b.symbol && a.def == b.def);
    }

    /// The occurrence under `offset` (a byte offset; the end of a name counts, so a cursor
    /// right after a name finds it).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let offset = offset as u32;
        self.occurrences
            .iter()
            .filter(|o| o.span.start <= offset && offset <= o.span.end)
            .min_by_key(|o| o.span.end - o.span.start)
    }

    /// Every occurrence of `symbol`.
    pub fn of<'a>(&'a self, symbol: &'a Symbol) -> impl Iterator<Item = &'a Occurrence> + 'a {
        self.occurrences.iter().filter(move |o| &o.symbol == symbol)
    }

    /// Names declared for one kind of symbol (stages, params, …), each once, in order.
    pub fn declared(&self, keep: impl Fn(&Symbol) -> bool) -> Vec<&Symbol> {
        let mut out: Vec<&Symbol> = Vec::new();
        for o in &self.occurrences {
            if o.def && keep(&o.symbol) && !out.contains(&&o.symbol) {
                out.push(&o.symbol);
            }
        }
        out
    }
}

/// The module and template an action's kind names, as written.
pub(crate) fn split_kind(kind: &ast::KindRef) -> (Option<String>, String) {
    match kind.segments.as_slice() {
        [one] => (None, one.name.clone()),
        [module, name, ..] => (Some(module.name.clone()), name.name.clone()),
        [] => (None, String::new()),
    }
}

/// The editor's name for what the checker resolved.
fn symbol(to: &Resolved) -> Symbol {
    match to.clone() {
        Resolved::Param(n) => Symbol::Param(n),
        Resolved::Secret(n) => Symbol::Secret(n),
        Resolved::RunField(n) => Symbol::RunField(n),
        Resolved::Stage(s) => Symbol::Stage(s),
        Resolved::Action(s, a) => Symbol::Action(s, a),
        Resolved::Export(s, a, e) => Symbol::Export(s, a, e),
        Resolved::TemplateParam(t, p) => Symbol::TemplateParam(None, t, p),
    }
}

#[derive(Default)]
struct Builder {
    index: Index,
    /// The checker resolved the file's references: take them from it, not from the AST.
    checked: bool,
    /// Parameters of the template being indexed (bare names refer to them).
    template: Option<(String, Vec<String>)>,
    artifact_params: ArtifactParams,
}

/// The `artifact` parameters of the templates in scope, by (module, template, parameter):
/// `true` when the template outputs the artifact, `false` when it reads it.
pub(crate) type ArtifactParams = std::collections::HashMap<(Option<String>, String, String), bool>;

/// Adds the `artifact` parameters of `templates` (of `module`) to `out`.
pub(crate) fn artifact_params_of<'a>(
    module: Option<&str>,
    templates: impl IntoIterator<Item = &'a ast::Template>,
    out: &mut ArtifactParams,
) {
    for t in templates {
        for p in t.params.iter().filter(|p| p.ty.name.name == "artifact") {
            let name = p.name.name.as_str();
            let output = t
                .attrs
                .iter()
                .any(|a| match (a.name.name.as_str(), &a.value) {
                    ("output", AttrValue::OutputFrom { name: n, .. }) => n.name == name,
                    ("output", AttrValue::Expr(e)) => bare_names(e).iter().any(|n| n.name == name),
                    ("outputs", AttrValue::Expr(e)) => {
                        matches!(&e.kind, ExprKind::Map(m) if m.iter().any(|(k, _)| k.name == name))
                    }
                    _ => false,
                });
            let key = (
                module.map(str::to_string),
                t.name.name.clone(),
                name.to_string(),
            );
            out.insert(key, output);
        }
    }
}

impl Builder {
    fn add(&mut self, span: Span, symbol: Symbol, def: bool) {
        self.index
            .occurrences
            .push(Occurrence { span, symbol, def });
    }

    fn import(&mut self, imp: &ast::Import) {
        let Some(path) = imp.path.as_plain() else {
            return;
        };
        let alias = imp.alias.as_ref().map(|a| a.name.as_str());
        let Some(name) = crate::check::import_target("", &path, alias).1 else {
            return;
        };
        self.add(imp.path.span, Symbol::Module(name.clone()), false);
        if let Some(alias) = &imp.alias {
            self.add(alias.span, Symbol::Module(name), true);
        }
    }

    fn template(&mut self, t: &ast::Template) {
        let name = t.name.name.clone();
        self.add(t.name.span, Symbol::Template(None, name.clone()), true);
        let mut params = Vec::new();
        for p in &t.params {
            self.add(
                p.name.span,
                Symbol::TemplateParam(None, name.clone(), p.name.name.clone()),
                true,
            );
            if let Some(d) = &p.default {
                self.expr(d, None);
            }
            params.push(p.name.name.clone());
        }
        self.template = Some((name, params));
        self.kind(&t.kind);
        for a in &t.attrs {
            self.attr(a, &t.kind, None, None);
        }
        self.template = None;
    }

    fn pipeline(&mut self, p: &ast::Pipeline) {
        for item in &p.items {
            match item {
                ast::PipelineItem::Param(x) => {
                    self.add(x.name.span, Symbol::Param(x.name.name.clone()), true);
                    if let Some(d) = &x.default {
                        self.expr(d, None);
                    }
                }
                ast::PipelineItem::Secret(x) => {
                    self.add(x.name.span, Symbol::Secret(x.name.name.clone()), true);
                    self.expr(&x.source, None);
                }
                ast::PipelineItem::Trigger(ast::Trigger { attrs, .. })
                | ast::PipelineItem::Notify(ast::Notify { attrs, .. }) => {
                    for a in attrs {
                        self.value(&a.value, None);
                    }
                }
                ast::PipelineItem::Stage(s) => self.stage(s),
                ast::PipelineItem::Transition(t) => {
                    if !self.checked {
                        self.add(t.from.span, Symbol::Stage(t.from.name.clone()), false);
                        self.add(t.to.span, Symbol::Stage(t.to.name.clone()), false);
                    }
                    if let Some(g) = &t.guard {
                        self.expr(g, None);
                    }
                }
                ast::PipelineItem::Mode(..)
                | ast::PipelineItem::Timeout(..)
                | ast::PipelineItem::Image(..)
                | ast::PipelineItem::Keep(..) => {}
            }
        }
    }

    fn stage(&mut self, s: &ast::Stage) {
        let stage = s.name.name.clone();
        self.add(s.name.span, Symbol::Stage(stage.clone()), true);
        for item in &s.items {
            match item {
                StageItem::After(e, _) if !self.checked => {
                    self.names(e, &|n| Symbol::Stage(n.to_string()));
                }
                StageItem::Entry(c) | StageItem::OnSuccess(c) => {
                    for rule in &c.rules {
                        match rule {
                            CondRule::Require(e, _) => self.expr(e, Some(&stage)),
                            CondRule::Check { kind, attrs, .. } => {
                                self.kind(kind);
                                for a in attrs {
                                    self.attr(a, kind, Some(&stage), None);
                                }
                            }
                            CondRule::Window { .. } => {}
                        }
                    }
                }
                StageItem::Action(a) => {
                    let name = a.name.name.clone();
                    self.add(
                        a.name.span,
                        Symbol::Action(stage.clone(), name.clone()),
                        true,
                    );
                    self.kind(&a.kind);
                    for attr in &a.attrs {
                        self.attr(attr, &a.kind, Some(&stage), Some(&name));
                    }
                }
                // Resolved by the checker (`after`), or naming nothing.
                StageItem::After(..) | StageItem::Timeout(..) | StageItem::OnFailure(..) => {}
            }
        }
    }

    fn kind(&mut self, kind: &ast::KindRef) {
        match kind.segments.as_slice() {
            [one] => {
                let symbol = if crate::check::kind_by_name(&one.name).is_some() {
                    Symbol::Kind(one.name.clone())
                } else {
                    Symbol::Template(None, one.name.clone())
                };
                self.add(one.span, symbol, false);
            }
            [module, name, ..] => {
                self.add(module.span, Symbol::Module(module.name.clone()), false);
                self.add(
                    name.span,
                    Symbol::Template(Some(module.name.clone()), name.name.clone()),
                    false,
                );
            }
            [] => {}
        }
    }

    /// An attribute of an action (or check, or template body) of kind `kind`.
    fn attr(&mut self, a: &Attr, kind: &ast::KindRef, stage: Option<&str>, action: Option<&str>) {
        let name = a.name.name.as_str();
        let (module, template) = split_kind(kind);
        let is_template = module.is_some() || crate::check::kind_by_name(&template).is_none();
        let attr_symbol = if is_template && !crate::check::COMMON.contains(&name) {
            Symbol::TemplateParam(module, template, name.to_string())
        } else {
            Symbol::Attribute(kind.text(), name.to_string())
        };
        // An artifact passed to an `artifact` parameter: produced or read by the call.
        if let (Symbol::TemplateParam(m, t, p), AttrValue::Expr(e)) = (&attr_symbol, &a.value)
            && let Some(&output) = self.artifact_params.get(&(m.clone(), t.clone(), p.clone()))
        {
            self.add(a.name.span, attr_symbol, false);
            self.artifacts(e, output);
            return;
        }
        self.add(a.name.span, attr_symbol, false);
        match (name, &a.value, stage) {
            ("after", AttrValue::Expr(e), Some(stage)) => {
                if !self.checked {
                    self.names(e, &|n| Symbol::Action(stage.to_string(), n.to_string()));
                }
            }
            ("input" | "inputs", AttrValue::Expr(e), _) => match &e.kind {
                // `inputs = { NAME = "FOLDER" }`
                ExprKind::Map(entries) => {
                    for (k, _) in entries {
                        self.artifact(k, false);
                    }
                }
                _ => self.artifacts(e, false),
            },
            ("output", AttrValue::OutputFrom { name, .. }, _) => self.artifact_def(name),
            ("output", AttrValue::Expr(e), _) => self.artifacts(e, true),
            ("outputs", AttrValue::Expr(e), _) => {
                if let ExprKind::Map(entries) = &e.kind {
                    for (k, v) in entries {
                        self.artifact_def(k);
                        self.expr(v, stage);
                    }
                }
            }
            ("exports", AttrValue::Expr(e), Some(stage)) => {
                if let Some(action) = action {
                    let (s, a) = (stage.to_string(), action.to_string());
                    self.declare(e, &|n| Symbol::Export(s.clone(), a.clone(), n.to_string()));
                }
            }
            ("category", _, _) => {}
            (_, value, _) => self.value(value, stage),
        }
    }

    fn value(&mut self, v: &AttrValue, stage: Option<&str>) {
        if let AttrValue::Expr(e) = v {
            self.expr(e, stage);
        }
    }

    /// Bare names in a name or a list of names (`after`), each a reference.
    fn names(&mut self, e: &ast::Expr, symbol: &dyn Fn(&str) -> Symbol) {
        for id in bare_names(e) {
            self.add(id.span, symbol(&id.name), false);
        }
    }

    /// Bare names that declare (`exports`).
    fn declare(&mut self, e: &ast::Expr, symbol: &dyn Fn(&str) -> Symbol) {
        for id in bare_names(e) {
            self.add(id.span, symbol(&id.name), true);
        }
    }

    /// Artifact names; inside a template a parameter may stand for one.
    fn artifacts(&mut self, e: &ast::Expr, def: bool) {
        for id in bare_names(e) {
            self.artifact(id, def);
        }
    }

    /// One artifact name; inside a template a parameter may stand for it.
    fn artifact(&mut self, id: &ast::Ident, def: bool) {
        if let Some(symbol) = self.template_param(&id.name) {
            self.add(id.span, symbol, false);
        } else {
            self.add(id.span, Symbol::Artifact(id.name.clone()), def);
        }
    }

    /// An artifact an action outputs; inside a template a parameter may name it.
    fn artifact_def(&mut self, name: &ast::Ident) {
        match self.template_param(&name.name) {
            Some(symbol) => self.add(name.span, symbol, false),
            None => self.add(name.span, Symbol::Artifact(name.name.clone()), true),
        }
    }

    fn template_param(&self, name: &str) -> Option<Symbol> {
        let (t, params) = self.template.as_ref()?;
        params
            .iter()
            .any(|p| p == name)
            .then(|| Symbol::TemplateParam(None, t.clone(), name.to_string()))
    }

    fn expr(&mut self, e: &ast::Expr, stage: Option<&str>) {
        match &e.kind {
            ExprKind::Str(s) => self.string(s, stage),
            ExprKind::List(items) => {
                for i in items {
                    self.expr(i, stage);
                }
            }
            ExprKind::Map(entries) => {
                for (_, v) in entries {
                    self.expr(v, stage);
                }
            }
            ExprKind::Path(segments) if !self.checked => self.path(segments),
            ExprKind::Call(_, args) => {
                for a in args {
                    self.expr(a, stage);
                }
            }
            ExprKind::Not(inner) => self.expr(inner, stage),
            ExprKind::Binary(_, l, r) => {
                self.expr(l, stage);
                self.expr(r, stage);
            }
            // A path the checker resolved, or no name.
            ExprKind::Path(_)
            | ExprKind::Int(_)
            | ExprKind::Bool(_)
            | ExprKind::Duration(_)
            | ExprKind::Error => {}
        }
    }

    fn string(&mut self, s: &ast::StrLit, stage: Option<&str>) {
        for part in &s.parts {
            if let StrPart::Interp(e, _) = part {
                self.expr(e, stage);
            }
        }
    }

    fn path(&mut self, segments: &[ast::Ident]) {
        let name = |i: usize| segments[i].name.clone();
        match segments {
            [one] => {
                if let Some(symbol) = self.template_param(&one.name) {
                    self.add(one.span, symbol, false);
                }
            }
            [root, member, ..] if root.name == "params" => {
                self.add(member.span, Symbol::Param(name(1)), false);
            }
            [root, member, ..] if root.name == "secrets" => {
                self.add(member.span, Symbol::Secret(name(1)), false);
            }
            [root, member, ..] if root.name == "run" => {
                self.add(member.span, Symbol::RunField(name(1)), false);
            }
            [stage, member] => {
                self.add(stage.span, Symbol::Stage(name(0)), false);
                if member.name != "status" {
                    self.add(member.span, Symbol::Action(name(0), name(1)), false);
                }
            }
            [stage, action, export, ..] => {
                self.add(stage.span, Symbol::Stage(name(0)), false);
                self.add(action.span, Symbol::Action(name(0), name(1)), false);
                self.add(
                    export.span,
                    Symbol::Export(name(0), name(1), name(2)),
                    false,
                );
            }
            [] => {}
        }
    }
}

/// The bare names of `NAME` or `[NAME, …]`.
pub(crate) fn bare_names(e: &ast::Expr) -> Vec<&ast::Ident> {
    fn one(e: &ast::Expr) -> Option<&ast::Ident> {
        match &e.kind {
            ExprKind::Path(p) if p.len() == 1 => Some(&p[0]),
            _ => None,
        }
    }
    match &e.kind {
        ExprKind::List(items) => items.iter().filter_map(one).collect(),
        _ => one(e).into_iter().collect(),
    }
}
