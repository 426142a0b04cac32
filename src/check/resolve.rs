//! Names and declarations: imports, templates, the pipeline's items, and each action's
//! kind and attributes (with template expansion).

use std::collections::BTreeMap;

use super::types::{Ctx, Scope, Ty};
use super::{
    ActionModel, Checker, ConditionModel, EdgeModel, Model, Module, OutputModel, ParamModel,
    SecretModel, Site, StageModel, TemplateDef, Use, UseKind,
};
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic, suggest};
use crate::ir::{self, Kind};
use crate::source::{FileId, Span};

/// The attributes every action accepts (LANGUAGE.md §5).
pub(crate) const COMMON: &[&str] = &[
    "after", "input", "inputs", "output", "outputs", "exports", "env", "timeout", "retry", "when",
    "category",
];

const KINDS: &[&str] = &["sh", "dir", "git", "approval", "wait", "pipeline"];
const CATEGORIES: &[&str] = &["source", "build", "test", "deploy", "approval", "invoke"];
const TYPES: &[&str] = &[
    "string", "int", "bool", "duration", "list", "map", "secret", "artifact", "script",
];
/// Stage names that would shadow reference roots (§7).
const RESERVED_STAGES: &[&str] = &["run", "params", "secrets"];
/// Longest `timeout` (§8, E0410): 30 days.
pub(crate) const MAX_TIMEOUT: u64 = 30 * 86_400;

pub(crate) struct KindParam {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Option<fn() -> ir::Expr>,
}

fn s(v: &str) -> ir::Expr {
    ir::Expr::Str {
        value: v.to_string(),
    }
}

/// A built-in kind's own parameters.
pub(crate) fn kind_params(kind: Kind) -> Vec<KindParam> {
    let p = |name, ty, default| KindParam { name, ty, default };
    let list = || Ty::List(Box::new(Ty::String));
    match kind {
        Kind::Sh => vec![
            p("run", Ty::Script, None),
            p("shell", Ty::String, Some(|| s("bash"))),
            p("workdir", Ty::String, Some(|| s("."))),
        ],
        Kind::Dir => vec![
            p("path", Ty::String, None),
            p("exclude", list(), Some(|| ir::Expr::List { items: vec![] })),
        ],
        Kind::Git => vec![
            p("repo", Ty::String, None),
            p("ref", Ty::String, Some(|| s("HEAD"))),
        ],
        Kind::Approval => vec![
            p("summary", Ty::String, Some(|| s(""))),
            p("url", Ty::String, Some(|| s(""))),
            p(
                "approvers",
                list(),
                Some(|| ir::Expr::List { items: vec![] }),
            ),
        ],
        Kind::Wait => vec![p("duration", Ty::Duration, None)],
        Kind::Pipeline => vec![
            p("file", Ty::String, None),
            p(
                "params",
                Ty::Map(Box::new(Ty::String)),
                Some(|| ir::Expr::Map {
                    entries: BTreeMap::new(),
                }),
            ),
        ],
    }
}

pub(crate) fn kind_by_name(name: &str) -> Option<Kind> {
    Some(match name {
        "sh" => Kind::Sh,
        "dir" => Kind::Dir,
        "git" => Kind::Git,
        "approval" => Kind::Approval,
        "wait" => Kind::Wait,
        "pipeline" => Kind::Pipeline,
        _ => return None,
    })
}

pub(crate) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Sh => "sh",
        Kind::Dir => "dir",
        Kind::Git => "git",
        Kind::Approval => "approval",
        Kind::Wait => "wait",
        Kind::Pipeline => "pipeline",
    }
}

fn default_category(kind: Kind) -> ir::Category {
    match kind {
        Kind::Sh => ir::Category::Build,
        Kind::Dir | Kind::Git => ir::Category::Source,
        Kind::Approval => ir::Category::Approval,
        Kind::Wait | Kind::Pipeline => ir::Category::Invoke,
    }
}

/// An artifact name, or (in a template body) a parameter of type `artifact`.
#[derive(Clone, Debug)]
pub(crate) enum NameRef {
    Name(ast::Ident),
    Param(String, Span),
}

/// The processed attributes of an action, a `check` rule or a template body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parts {
    pub kind_params: BTreeMap<String, ir::Expr>,
    pub after: Vec<ast::Ident>,
    pub inputs: Vec<NameRef>,
    pub outputs: Vec<(NameRef, String)>,
    pub exports: Vec<ast::Ident>,
    pub env: BTreeMap<String, ir::Expr>,
    pub timeout: Option<(ir::Expr, Span)>,
    pub retry: Option<ir::Retry>,
    pub when: Option<ir::Expr>,
    pub category: Option<ir::Category>,
    /// Common attributes that were set (for call-site override).
    pub set: Vec<String>,
}

/// What the attributes belong to.
#[derive(Clone, Copy)]
enum Target<'t> {
    Kind(Kind),
    /// A template call: its parameters, the kind under it and its display name.
    Call(&'t TemplateDef, &'t str),
    /// The kind could not be resolved (already reported): accept anything quietly.
    Unknown,
}

impl Checker<'_> {
    // ------------------------------------------------------------------ imports

    pub(super) fn import(&mut self, from: FileId, imp: &ast::Import, visiting: &mut Vec<String>) {
        let Some(path) = imp.path.as_plain() else {
            self.report(Diagnostic::new(
                Code::E0205,
                "an import path cannot be interpolated",
                imp.path.span,
                "interpolated",
            ));
            return;
        };
        if let Some(module) = path.strip_prefix("std/") {
            let Some(text) = crate::stdlib::source(module) else {
                self.report(
                    Diagnostic::new(
                        Code::E0205,
                        format!("no stdlib module `{path}`"),
                        imp.path.span,
                        "not found",
                    )
                    .help_opt(
                        suggest(module, crate::stdlib::MODULES.iter().copied())
                            .map(|h| h.replace('`', "`std/").replacen("std/?", "?", 1)),
                    )
                    .note(format!(
                        "the stdlib has {}",
                        crate::stdlib::MODULES
                            .iter()
                            .map(|m| format!("`std/{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                return;
            };
            let name = imp
                .alias
                .as_ref()
                .map_or(module.to_string(), |a| a.name.clone());
            let key = crate::source::stdlib_name(module);
            let m = self.load_module(&key, || Ok(text.to_string()), visiting);
            self.add_module(name, imp, m);
            return;
        }
        let base = std::path::Path::new(&self.map.get(from).name)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let key = normalize(&base.join(&path));
        if visiting.contains(&key) {
            let chain = visiting.join(" → ");
            self.report(
                Diagnostic::new(
                    Code::E0205,
                    format!("import cycle through `{key}`"),
                    imp.path.span,
                    "cycle closes here",
                )
                .note(format!("import chain: {chain} → {key}")),
            );
            return;
        }
        let alias = imp.alias.as_ref().map(|a| a.name.clone()).or_else(|| {
            std::path::Path::new(&key)
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
        });
        let mut loader_err = None;
        let text = self.loader.read(&key);
        let m = match text {
            Ok(t) => self.load_module(&key, || Ok(t), visiting),
            Err(e) => {
                loader_err = Some(e);
                None
            }
        };
        if let Some(e) = loader_err {
            self.report(
                Diagnostic::new(
                    Code::E0205,
                    format!("cannot import `{path}`"),
                    imp.path.span,
                    "not found",
                )
                .note(format!("looked for `{key}`: {e}")),
            );
            return;
        }
        self.add_module(alias.unwrap_or_default(), imp, m);
    }

    fn add_module(&mut self, name: String, imp: &ast::Import, m: Option<Module>) {
        if self.modules.contains_key(&name) {
            self.report(Diagnostic::new(
                Code::E0202,
                format!("`{name}` is imported twice"),
                imp.span,
                "imported again here",
            ));
            return;
        }
        self.modules.insert(name, m.unwrap_or_default());
    }

    /// Parses and checks an imported file once; its diagnostics go with the rest.
    fn load_module(
        &mut self,
        key: &str,
        text: impl FnOnce() -> Result<String, String>,
        visiting: &mut Vec<String>,
    ) -> Option<Module> {
        if let Some(m) = self.loaded.get(key) {
            return Some(m.clone());
        }
        let text = text().ok()?;
        let id = self
            .map
            .find(key)
            .unwrap_or_else(|| self.map.add(key, text.clone()));
        let (file, diags) = crate::syntax::Parser::parse(id, &text);
        self.sink.extend(diags);
        visiting.push(key.to_string());
        for item in &file.items {
            if let ast::Item::Import(imp) = item {
                self.import(id, imp, visiting);
            }
        }
        visiting.pop();
        let m = self.templates_of(&file);
        self.loaded.insert(key.to_string(), m.clone());
        Some(m)
    }

    // ------------------------------------------------------------------ templates

    pub(super) fn templates_of(&mut self, file: &ast::File) -> Module {
        let mut m = Module::default();
        for item in &file.items {
            if let ast::Item::Template(t) = item {
                if let Some(first) = m.templates.get(&t.name.name) {
                    let d = Diagnostic::new(
                        Code::E0202,
                        format!("template `{}` is defined twice", t.name.name),
                        t.name.span,
                        "defined again here",
                    )
                    .label(first.name.span, "first defined here");
                    self.report(d);
                    continue;
                }
                let def = self.template(t);
                m.templates.insert(t.name.name.clone(), def);
            }
        }
        m
    }

    fn template(&mut self, t: &ast::Template) -> TemplateDef {
        let mut params: Vec<(ast::Ident, Option<ir::Type>, Option<ir::Expr>)> = Vec::new();
        for p in &t.params {
            if let Some((first, _, _)) = params.iter().find(|(n, _, _)| n.name == p.name.name) {
                let d = Diagnostic::new(
                    Code::E0202,
                    format!("parameter `{}` is declared twice", p.name.name),
                    p.name.span,
                    "declared again here",
                )
                .label(first.span, "first declared here");
                self.report(d);
                continue;
            }
            if COMMON.contains(&p.name.name.as_str()) {
                self.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!(
                            "template parameter `{}` is named like a common attribute",
                            p.name.name
                        ),
                        p.name.span,
                        "reserved name",
                    )
                    .help(format!("rename it, e.g. `{}_value`", p.name.name))
                    .note(format!(
                        "a call sets `{}` as the common attribute; the common attributes are {}",
                        p.name.name,
                        COMMON.join(", ")
                    )),
                );
            }
            let ty = self.type_expr(&p.ty);
            let default = p.default.as_ref().map(|d| {
                let expected = ty.as_ref().map_or(Ty::Any, Ty::from_ir);
                self.expect(
                    d,
                    &expected,
                    Ctx {
                        scope: Scope::Default,
                        site: Site::Nowhere,
                    },
                )
            });
            params.push((p.name.clone(), ty, default));
        }
        let kind = self.template_kind(&t.kind);
        let ctx = Ctx {
            scope: Scope::Template(&params),
            site: Site::Nowhere,
        };
        let target = kind.map_or(Target::Unknown, Target::Kind);
        let (body, _) = self.attrs(&t.attrs, target, ctx, t.name.span);
        if let Some(k) = kind {
            self.require_kind_params(
                k,
                &body.kind_params,
                t.name.span,
                &format!("template `{}`", t.name.name),
            );
        }
        self.unused_template_params(&params, &body);
        TemplateDef {
            name: t.name.clone(),
            doc: t.doc.clone(),
            params,
            kind,
            body,
        }
    }

    fn template_kind(&mut self, k: &ast::KindRef) -> Option<Kind> {
        if let [one] = k.segments.as_slice() {
            if let Some(kind) = kind_by_name(&one.name) {
                return Some(kind);
            }
        }
        let text = k.text();
        self.report(
            Diagnostic::new(
                Code::E0201,
                format!("unknown kind `{text}`"),
                k.span,
                "not a built-in kind",
            )
            .help_opt(suggest(&text, KINDS.iter().copied()))
            .note(format!(
                "a template is built on one of the built-in kinds: {}",
                KINDS.join(", ")
            )),
        );
        None
    }

    fn unused_template_params(
        &mut self,
        params: &[(ast::Ident, Option<ir::Type>, Option<ir::Expr>)],
        body: &Parts,
    ) {
        let mut used: Vec<String> = Vec::new();
        let mut visit = |e: &ir::Expr| {
            e.refs(&mut |r| {
                if let ir::Ref::TemplateParam { name } = r {
                    used.push(name.clone());
                }
            });
        };
        body.kind_params
            .values()
            .chain(body.env.values())
            .chain(body.when.iter())
            .for_each(&mut visit);
        if let Some((t, _)) = &body.timeout {
            visit(t);
        }
        for n in body
            .inputs
            .iter()
            .chain(body.outputs.iter().map(|(n, _)| n))
        {
            if let NameRef::Param(p, _) = n {
                used.push(p.clone());
            }
        }
        for (name, _, _) in params {
            if !used.contains(&name.name) {
                self.report(
                    Diagnostic::new(
                        Code::W0001,
                        format!("unused template parameter `{}`", name.name),
                        name.span,
                        "never used in the body",
                    )
                    .help("use it in the body, or remove it"),
                );
            }
        }
    }

    /// `string`, `list<string>` …
    pub(crate) fn type_expr(&mut self, t: &ast::TypeExpr) -> Option<ir::Type> {
        let arg = |this: &mut Self| -> Option<ir::Type> {
            if let Some(a) = &t.arg {
                return this.type_expr(a);
            }
            this.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("`{}` needs an element type", t.name.name),
                    t.span,
                    "missing `<T>`",
                )
                .help(format!("write `{}<string>`", t.name.name)),
            );
            None
        };
        let ty = match t.name.name.as_str() {
            "list" => ir::Type::List(Box::new(arg(self)?)),
            "map" => ir::Type::Map(Box::new(arg(self)?)),
            name => {
                let simple = match name {
                    "string" => ir::Type::String,
                    "int" => ir::Type::Int,
                    "bool" => ir::Type::Bool,
                    "duration" => ir::Type::Duration,
                    "secret" => ir::Type::Secret,
                    "artifact" => ir::Type::Artifact,
                    "script" => ir::Type::Script,
                    _ => {
                        self.unknown(&t.name, "type", TYPES.iter().copied());
                        return None;
                    }
                };
                if let Some(a) = &t.arg {
                    self.report(Diagnostic::new(
                        Code::E0301,
                        format!("`{name}` takes no element type"),
                        a.span,
                        "not expected",
                    ));
                }
                simple
            }
        };
        Some(ty)
    }

    // ------------------------------------------------------------------ attributes

    /// Processes an attribute block for `target`. Returns the parts and, for a template
    /// call, the template arguments.
    fn attrs(
        &mut self,
        attrs: &[ast::Attr],
        target: Target<'_>,
        ctx: Ctx<'_>,
        owner: Span,
    ) -> (Parts, BTreeMap<String, ir::Expr>) {
        let mut parts = Parts::default();
        let mut args = BTreeMap::new();
        let mut seen: Vec<&ast::Attr> = Vec::new();
        for a in attrs {
            let name = a.name.name.as_str();
            if let Some(first) = seen.iter().find(|s| s.name.name == name) {
                self.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!("attribute `{name}` is set twice"),
                        a.name.span,
                        "set again here",
                    )
                    .label(first.name.span, "first set here"),
                );
                continue;
            }
            seen.push(a);
            if COMMON.contains(&name) {
                self.common_attr(a, &mut parts, ctx, target);
                parts.set.push(name.to_string());
                continue;
            }
            match target {
                Target::Unknown => {}
                Target::Kind(kind) => {
                    let params = kind_params(kind);
                    if let Some(p) = params.iter().find(|p| p.name == name) {
                        let v = self.attr_expr(a, &p.ty, ctx);
                        parts.kind_params.insert(name.to_string(), v);
                    } else {
                        let names: Vec<&str> = params
                            .iter()
                            .map(|p| p.name)
                            .chain(COMMON.iter().copied())
                            .collect();
                        self.report(
                            Diagnostic::new(
                                Code::E0203,
                                format!(
                                    "unknown attribute `{name}` for kind `{}`",
                                    kind_name(kind)
                                ),
                                a.name.span,
                                "unknown attribute",
                            )
                            .help_opt(suggest(name, names.iter().copied()))
                            .note(format!(
                                "`{}` takes {}",
                                kind_name(kind),
                                params
                                    .iter()
                                    .map(|p| format!("`{}`", p.name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        );
                    }
                }
                Target::Call(def, display) => {
                    if let Some((_, ty, _)) = def.params.iter().find(|(n, _, _)| n.name == name) {
                        let v = self.template_arg(a, ty.as_ref(), ctx);
                        args.insert(name.to_string(), v);
                        continue;
                    }
                    let is_kind_param = def
                        .kind
                        .is_some_and(|k| kind_params(k).iter().any(|p| p.name == name));
                    let names: Vec<&str> = def
                        .params
                        .iter()
                        .map(|(n, _, _)| n.name.as_str())
                        .chain(COMMON.iter().copied())
                        .collect();
                    let d = if is_kind_param {
                        Diagnostic::new(Code::E0203, format!("template `{display}` does not take `{name}`"), a.name.span, "set by the template itself")
                            .note(format!("a template call sets the template's parameters and common attributes only; `{name}` belongs to the underlying kind"))
                    } else {
                        Diagnostic::new(
                            Code::E0203,
                            format!("unknown parameter `{name}` for template `{display}`"),
                            a.name.span,
                            "unknown parameter",
                        )
                        .help_opt(suggest(name, names.iter().copied()))
                    };
                    self.report(d.label(owner, format!("template `{display}`")));
                }
            }
        }
        (parts, args)
    }

    fn attr_expr(&mut self, a: &ast::Attr, ty: &Ty, ctx: Ctx<'_>) -> ir::Expr {
        match &a.value {
            AttrValue::Expr(e) => self.expect(e, ty, ctx),
            AttrValue::OutputFrom { name, .. } => {
                self.report(Diagnostic::new(
                    Code::E0301,
                    format!("`{} from \"…\"` is only for `output`", name.name),
                    a.value.span(),
                    "not a value",
                ));
                ir::Expr::Str {
                    value: String::new(),
                }
            }
        }
    }

    fn template_arg(&mut self, a: &ast::Attr, ty: Option<&ir::Type>, ctx: Ctx<'_>) -> ir::Expr {
        let expected = ty.map_or(Ty::Any, Ty::from_ir);
        if expected == Ty::Artifact {
            if let AttrValue::Expr(ast::Expr {
                kind: ExprKind::Path(p),
                ..
            }) = &a.value
            {
                if let [one] = p.as_slice() {
                    return ir::Expr::Str {
                        value: one.name.clone(),
                    };
                }
            }
            self.report(Diagnostic::new(
                Code::E0301,
                "expected an artifact name",
                a.value.span(),
                "not an artifact name",
            ));
            return ir::Expr::Str {
                value: String::new(),
            };
        }
        if expected == Ty::Secret {
            if let AttrValue::Expr(e) = &a.value {
                let (t, x) = self.expr(e, ctx);
                if t != Ty::Secret && t != Ty::Any {
                    self.require_type(&t, &Ty::Secret, e.span);
                }
                return x;
            }
        }
        self.attr_expr(a, &expected, ctx)
    }

    /// A bare name, or a list of them (`after`, `inputs`, `exports`).
    fn names(&mut self, v: &AttrValue, list: bool, what: &str) -> Vec<ast::Ident> {
        let bad = |this: &mut Self, span: Span| {
            let shape = if list {
                format!("a list of {what} names, like `[a, b]`")
            } else {
                format!("a {what} name")
            };
            this.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("expected {shape}"),
                    span,
                    "not a bare name",
                )
                .note(format!(
                    "this attribute takes bare {what} names, not expressions or strings"
                )),
            );
        };
        let AttrValue::Expr(e) = v else {
            bad(self, v.span());
            return vec![];
        };
        let one = |this: &mut Self, e: &ast::Expr| -> Option<ast::Ident> {
            match &e.kind {
                ExprKind::Path(p) if p.len() == 1 => Some(p[0].clone()),
                ExprKind::Error => None,
                _ => {
                    bad(this, e.span);
                    None
                }
            }
        };
        match (&e.kind, list) {
            (ExprKind::List(items), true) => items.iter().filter_map(|i| one(self, i)).collect(),
            (_, false) => one(self, e).into_iter().collect(),
            _ => {
                bad(self, e.span);
                vec![]
            }
        }
    }

    fn name_ref(id: ast::Ident, ctx: Ctx<'_>) -> NameRef {
        if let Scope::Template(params) = ctx.scope {
            if params
                .iter()
                .any(|(n, t, _)| n.name == id.name && *t == Some(ir::Type::Artifact))
            {
                return NameRef::Param(id.name, id.span);
            }
        }
        NameRef::Name(id)
    }

    #[allow(clippy::too_many_lines)] // Reason: one arm per common attribute reads best as one match.
    fn common_attr(&mut self, a: &ast::Attr, parts: &mut Parts, ctx: Ctx<'_>, target: Target<'_>) {
        match a.name.name.as_str() {
            "after" => parts.after = self.names(&a.value, true, "action"),
            "input" | "inputs" => {
                let list = a.name.name == "inputs";
                for id in self.names(&a.value, list, "artifact") {
                    parts.inputs.push(Self::name_ref(id, ctx));
                }
            }
            "output" => self.output(a, parts, ctx, target),
            "outputs" => {
                let AttrValue::Expr(ast::Expr {
                    kind: ExprKind::Map(entries),
                    ..
                }) = &a.value
                else {
                    self.report(Diagnostic::new(Code::E0301, "expected a map of artifact names to paths, like `{ bin = \"target/release/app\" }`", a.value.span(), "not a map"));
                    return;
                };
                for (k, v) in entries {
                    let path = self.output_path(v);
                    let r = Self::name_ref(k.clone(), ctx);
                    parts.outputs.push((r, path));
                }
            }
            "exports" => parts.exports = self.names(&a.value, true, "export"),
            "env" => {
                let AttrValue::Expr(ast::Expr {
                    kind: ExprKind::Map(entries),
                    ..
                }) = &a.value
                else {
                    self.report(Diagnostic::new(
                        Code::E0301,
                        "expected a map, like `env = { NAME = \"value\" }`",
                        a.value.span(),
                        "not a map",
                    ));
                    return;
                };
                let mut seen: Vec<&ast::Ident> = Vec::new();
                for (k, v) in entries {
                    if let Some(first) = seen.iter().find(|s| s.name == k.name) {
                        self.report(
                            Diagnostic::new(
                                Code::E0202,
                                format!("duplicate key `{}`", k.name),
                                k.span,
                                "set again here",
                            )
                            .label(first.span, "first set here"),
                        );
                        continue;
                    }
                    seen.push(k);
                    let (t, x) = self.expr(v, ctx);
                    if !matches!(t, Ty::String | Ty::Secret | Ty::Any) {
                        self.report(
                            Diagnostic::new(
                                Code::E0301,
                                format!("expected `string` or `secret`, found `{t}`"),
                                v.span,
                                format!("this is `{t}`"),
                            )
                            .help("interpolate it: `\"${…}\"`"),
                        );
                    }
                    parts.env.insert(k.name.clone(), x);
                }
            }
            "timeout" => {
                let x = self.attr_expr(a, &Ty::Duration, ctx);
                parts.timeout = Some((x, a.value.span()));
            }
            "retry" => parts.retry = self.retry(a, ctx),
            "when" => {
                if let AttrValue::Expr(e) = &a.value {
                    parts.when = Some(self.condition_expr(e, ctx, "`when`"));
                }
            }
            "category" => {
                for id in self.names(&a.value, false, "category") {
                    match CATEGORIES.iter().position(|c| *c == id.name) {
                        Some(i) => {
                            parts.category = Some(
                                [
                                    ir::Category::Source,
                                    ir::Category::Build,
                                    ir::Category::Test,
                                    ir::Category::Deploy,
                                    ir::Category::Approval,
                                    ir::Category::Invoke,
                                ][i],
                            );
                        }
                        None => self.unknown(&id, "category", CATEGORIES.iter().copied()),
                    }
                }
            }
            _ => {}
        }
    }

    /// A bool condition: `when`, `require`, a guard (E0302 otherwise).
    pub(crate) fn condition_expr(&mut self, e: &ast::Expr, ctx: Ctx<'_>, what: &str) -> ir::Expr {
        let (t, x) = self.expr(e, ctx);
        if t == Ty::Secret {
            self.secret_misuse(e.span, "used in a condition");
        } else if !t.fits(&Ty::Bool) {
            self.report(
                Diagnostic::new(
                    Code::E0302,
                    format!("{what} must be `bool`, found `{t}`"),
                    e.span,
                    format!("this is `{t}`"),
                )
                .help("compare it, e.g. `params.env == \"prod\"`"),
            );
        } else if !matches!(ctx.scope, Scope::Template(_)) && is_constant(&x) {
            self.report(
                Diagnostic::new(
                    Code::W0002,
                    format!("{what} is constant"),
                    e.span,
                    "always the same value",
                )
                .help(
                    "refer to a param, `run`, an export or a stage status, or remove the condition",
                ),
            );
        }
        x
    }

    fn output(&mut self, a: &ast::Attr, parts: &mut Parts, ctx: Ctx<'_>, target: Target<'_>) {
        match &a.value {
            AttrValue::OutputFrom { name, path } => {
                let p = self.output_path(&ast::Expr {
                    kind: ExprKind::Str(path.clone()),
                    span: path.span,
                });
                let r = Self::name_ref(name.clone(), ctx);
                parts.outputs.push((r, p));
            }
            AttrValue::Expr(_) => {
                let kind = match target {
                    Target::Kind(k) => Some(k),
                    Target::Call(def, _) => def.kind,
                    Target::Unknown => None,
                };
                for id in self.names(&a.value, false, "artifact") {
                    if kind.is_some_and(|k| !matches!(k, Kind::Dir | Kind::Git)) {
                        self.report(
                            Diagnostic::new(Code::E0204, format!("`output = {}` needs a path", id.name), a.span, "missing `from \"PATH\"`")
                                .help(format!("write `output = {} from \"PATH\"`", id.name))
                                .note("only `dir` and `git` have a result of their own; other kinds name the file or folder to capture"),
                        );
                    }
                    let r = Self::name_ref(id, ctx);
                    parts.outputs.push((r, ".".into()));
                }
            }
        }
    }

    fn output_path(&mut self, v: &ast::Expr) -> String {
        let ExprKind::Str(s) = &v.kind else {
            self.report(Diagnostic::new(
                Code::E0301,
                "expected a path string",
                v.span,
                "not a string",
            ));
            return ".".into();
        };
        let Some(p) = s.as_plain() else {
            self.report(Diagnostic::new(
                Code::E0301,
                "an output path cannot be interpolated",
                v.span,
                "interpolated",
            ));
            return ".".into();
        };
        let outside = p.starts_with('/') || p.split('/').any(|seg| seg == "..") || p.is_empty();
        if outside {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("output path `{p}` is not inside the workspace"),
                    v.span,
                    "outside the workspace",
                )
                .help("use a relative path without `..`, like `target/release/app`"),
            );
        }
        p
    }

    fn retry(&mut self, a: &ast::Attr, ctx: Ctx<'_>) -> Option<ir::Retry> {
        let AttrValue::Expr(e) = &a.value else {
            return None;
        };
        let mut out = ir::Retry {
            count: 0,
            backoff_secs: 0,
        };
        let count_expr = match &e.kind {
            ExprKind::Map(entries) => {
                let mut count = None;
                for (k, v) in entries {
                    match k.name.as_str() {
                        "count" => count = Some(v),
                        "backoff" => {
                            if let ir::Expr::Duration { secs } = self.expect(v, &Ty::Duration, ctx)
                            {
                                out.backoff_secs = secs;
                            }
                        }
                        other => self.report(
                            Diagnostic::new(
                                Code::E0203,
                                format!("unknown field `{other}` of `retry`"),
                                k.span,
                                "unknown field",
                            )
                            .help_opt(suggest(other, ["count", "backoff"])),
                        ),
                    }
                }
                if count.is_none() {
                    self.report(
                        Diagnostic::new(
                            Code::E0204,
                            "`retry` needs a `count`",
                            e.span,
                            "missing `count`",
                        )
                        .help("write `retry = { count = 2, backoff = 30s }`"),
                    );
                }
                count
            }
            _ => Some(e),
        }?;
        match self.expect(count_expr, &Ty::Int, ctx) {
            ir::Expr::Int { value } => {
                if (0..=10).contains(&value) {
                    out.count = u32::try_from(value).unwrap_or(0);
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::E0410,
                            format!("`retry` of {value} is out of range"),
                            count_expr.span,
                            "must be 0 to 10",
                        )
                        .note("`retry = N` re-runs a failed attempt N times, 0 to 10"),
                    );
                }
            }
            ir::Expr::Ref(_) if matches!(ctx.scope, Scope::Template(_)) => {}
            _ => {}
        }
        Some(out)
    }

    pub(crate) fn require_kind_params(
        &mut self,
        kind: Kind,
        given: &BTreeMap<String, ir::Expr>,
        span: Span,
        owner: &str,
    ) {
        for p in kind_params(kind) {
            if p.default.is_none() && !given.contains_key(p.name) {
                self.report(
                    Diagnostic::new(
                        Code::E0204,
                        format!("{owner} is missing `{}`", p.name),
                        span,
                        format!("needs `{}`", p.name),
                    )
                    .help(format!("add `{} = …` ({})", p.name, p.ty))
                    .note(format!(
                        "`{}` requires `{}`",
                        kind_name(kind),
                        p.name
                    )),
                );
            }
        }
    }

    // ------------------------------------------------------------------ pipeline

    pub(super) fn pipeline(&mut self, p: &ast::Pipeline) -> Model {
        let mut model = Model {
            name: p.name.clone(),
            span: p.span,
            mode: ir::Mode::Superseded,
            timeout: None,
            params: vec![],
            secrets: vec![],
            triggers: vec![],
            stages: vec![],
        };
        let mut first_of: BTreeMap<&str, Span> = BTreeMap::new();
        let mut once = |this: &mut Self, what: &'static str, span: Span| {
            if let Some(first) = first_of.get(what) {
                this.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!("`{what}` is set twice"),
                        span,
                        "set again here",
                    )
                    .label(*first, "first set here"),
                );
                false
            } else {
                first_of.insert(what, span);
                true
            }
        };
        // Declarations first, so that every expression can refer to any of them.
        for item in &p.items {
            match item {
                ast::PipelineItem::Mode(m, span, _) => {
                    if once(self, "mode", *span) {
                        model.mode = match m {
                            ast::Mode::Superseded => ir::Mode::Superseded,
                            ast::Mode::Queued => ir::Mode::Queued,
                            ast::Mode::Parallel => ir::Mode::Parallel,
                        };
                    }
                }
                ast::PipelineItem::Timeout(d, span) => {
                    if once(self, "timeout", *span) {
                        model.timeout = d.secs.map(|s| (s, d.span));
                        if let Some(secs) = d.secs {
                            self.timeout_range(secs, d.span, "pipeline");
                        }
                    }
                }
                ast::PipelineItem::Param(param) => self.declare_param(param),
                ast::PipelineItem::Secret(sec) => self.declare_secret(sec),
                ast::PipelineItem::Stage(st) => self.declare_stage(st),
                ast::PipelineItem::Trigger(_) | ast::PipelineItem::Transition(_) => {}
            }
        }
        for item in &p.items {
            match item {
                ast::PipelineItem::Param(param) => model.params.push(self.param(param)),
                ast::PipelineItem::Secret(sec) => model.secrets.push(self.secret(sec)),
                ast::PipelineItem::Trigger(t) => {
                    if let Some(t) = self.trigger(t) {
                        model.triggers.push(t);
                    }
                }
                _ => {}
            }
        }
        let stages: Vec<&ast::Stage> = p
            .items
            .iter()
            .filter_map(|i| {
                if let ast::PipelineItem::Stage(s) = i {
                    Some(s)
                } else {
                    None
                }
            })
            .collect();
        let mut index = 0;
        for st in &stages {
            if self.stage_index.get(&st.name.name) == Some(&index)
                && self.stages[index].span == st.span
            {
                self.stage(index, st);
                index += 1;
            }
        }
        let transitions: Vec<&ast::Transition> = p
            .items
            .iter()
            .filter_map(|i| {
                if let ast::PipelineItem::Transition(t) = i {
                    Some(t)
                } else {
                    None
                }
            })
            .collect();
        self.edges(&transitions);
        self.release_rules(&mut model);
        model.stages = std::mem::take(&mut self.stages);
        model
    }

    pub(crate) fn timeout_range(&mut self, secs: u64, span: Span, what: &str) {
        if secs == 0 || secs > MAX_TIMEOUT {
            self.report(
                Diagnostic::new(
                    Code::E0410,
                    format!(
                        "{what} timeout is {}",
                        if secs == 0 {
                            "zero"
                        } else {
                            "longer than 30 days"
                        }
                    ),
                    span,
                    "out of range",
                )
                .note("a timeout must be more than zero and at most 30d"),
            );
        }
    }

    fn declare_param(&mut self, p: &ast::Param) {
        if let Some((_, first)) = self.params.get(&p.name.name) {
            let d = Diagnostic::new(
                Code::E0202,
                format!("param `{}` is declared twice", p.name.name),
                p.name.span,
                "declared again here",
            )
            .label(*first, "first declared here");
            self.report(d);
            return;
        }
        let ty = self.type_expr(&p.ty);
        self.params.insert(p.name.name.clone(), (ty, p.name.span));
    }

    fn param(&mut self, p: &ast::Param) -> ParamModel {
        let ty = self.params.get(&p.name.name).and_then(|(t, _)| t.clone());
        if ty == Some(ir::Type::Secret) {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("param `{}` cannot have type `secret`", p.name.name),
                    p.ty.span,
                    "not a param type",
                )
                .help(format!(
                    "declare `secret {} = env(\"VAR\")` instead",
                    p.name.name
                )),
            );
        }
        let default = p.default.as_ref().map(|d| {
            let expected = ty.as_ref().map_or(Ty::Any, Ty::from_ir);
            self.expect(
                d,
                &expected,
                Ctx {
                    scope: Scope::Default,
                    site: Site::Nowhere,
                },
            )
        });
        ParamModel {
            name: p.name.clone(),
            doc: p.doc.clone(),
            ty,
            default,
            span: p.span,
        }
    }

    fn declare_secret(&mut self, s: &ast::SecretDecl) {
        if let Some(first) = self.secrets.get(&s.name.name) {
            let d = Diagnostic::new(
                Code::E0202,
                format!("secret `{}` is declared twice", s.name.name),
                s.name.span,
                "declared again here",
            )
            .label(*first, "first declared here");
            self.report(d);
            return;
        }
        self.secrets.insert(s.name.name.clone(), s.name.span);
    }

    fn secret(&mut self, s: &ast::SecretDecl) -> SecretModel {
        let source = match &s.source.kind {
            ExprKind::Call(f, args)
                if matches!(f.name.as_str(), "env" | "file") && args.len() == 1 =>
            {
                match &args[0].kind {
                    ExprKind::Str(lit) if lit.as_plain().is_some() => {
                        let v = lit.as_plain().unwrap_or_default();
                        Some(if f.name == "env" {
                            ir::SecretSource::Env { var: v }
                        } else {
                            ir::SecretSource::File { path: v }
                        })
                    }
                    _ => {
                        self.report(Diagnostic::new(
                            Code::E0301,
                            format!("`{}(…)` takes a plain string here", f.name),
                            args[0].span,
                            "not a plain string",
                        ));
                        None
                    }
                }
            }
            ExprKind::Call(f, _) if !matches!(f.name.as_str(), "env" | "file") => {
                self.unknown(f, "secret source", ["env", "file"].into_iter());
                None
            }
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::E0301,
                        "a secret comes from `env(\"VAR\")` or `file(\"PATH\")`",
                        s.source.span,
                        "not a secret source",
                    )
                    .help(format!("write `secret {} = env(\"VAR\")`", s.name.name)),
                );
                None
            }
        };
        SecretModel {
            name: s.name.clone(),
            source,
            span: s.span,
        }
    }

    #[allow(clippy::too_many_lines)] // Reason: one arm per trigger attribute reads best together.
    fn trigger(&mut self, t: &ast::Trigger) -> Option<ir::Trigger> {
        let (kind, allowed): (ir::TriggerKind, &[&str]) = match t.kind.name.as_str() {
            "push" => (ir::TriggerKind::Push, &["branches", "tags", "paths"]),
            "pull_request" => (
                ir::TriggerKind::PullRequest,
                &["branches", "paths", "events"],
            ),
            "schedule" => (ir::TriggerKind::Schedule, &["cron", "tz", "branches"]),
            "manual" => (ir::TriggerKind::Manual, &[]),
            _ => {
                self.unknown(
                    &t.kind,
                    "trigger",
                    ["push", "pull_request", "schedule", "manual"].into_iter(),
                );
                return None;
            }
        };
        let mut out = ir::Trigger {
            kind,
            branches: vec![],
            tags: vec![],
            paths: vec![],
            events: vec![],
            cron: None,
            tz: None,
            span: self.ir_span(t.span),
        };
        let ctx = Ctx {
            scope: Scope::Pipeline,
            site: Site::Nowhere,
        };
        let mut seen: Vec<&ast::Ident> = Vec::new();
        for a in &t.attrs {
            let name = a.name.name.as_str();
            if let Some(first) = seen.iter().find(|s| s.name == name) {
                self.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!("attribute `{name}` is set twice"),
                        a.name.span,
                        "set again here",
                    )
                    .label(first.span, "first set here"),
                );
                continue;
            }
            seen.push(&a.name);
            if !allowed.contains(&name) {
                self.report(
                    Diagnostic::new(
                        Code::E0203,
                        format!("unknown attribute `{name}` for trigger `{}`", t.kind.name),
                        a.name.span,
                        "unknown attribute",
                    )
                    .help_opt(suggest(name, allowed.iter().copied()))
                    .note(if allowed.is_empty() {
                        "a `manual` trigger takes no attributes".to_string()
                    } else {
                        format!("`{}` takes {}", t.kind.name, allowed.join(", "))
                    }),
                );
                continue;
            }
            match name {
                "events" => out.events = self.events(a),
                "cron" | "tz" => {
                    let Some(v) = self.plain_string(a, ctx) else {
                        continue;
                    };
                    let check = if name == "cron" {
                        crate::patterns::cron(&v).map(|_| ())
                    } else {
                        crate::patterns::time_zone(&v).map(|_| ())
                    };
                    if let Err(e) = check {
                        self.report(Diagnostic::new(
                            Code::E0304,
                            format!(
                                "invalid {} `{v}`",
                                if name == "cron" {
                                    "cron expression"
                                } else {
                                    "time zone"
                                }
                            ),
                            a.value.span(),
                            e,
                        ));
                    }
                    if name == "cron" {
                        out.cron = Some(v);
                    } else {
                        out.tz = Some(v);
                    }
                }
                _ => {
                    let globs = self.glob_list(a, ctx);
                    match name {
                        "branches" => out.branches = globs,
                        "tags" => out.tags = globs,
                        _ => out.paths = globs,
                    }
                }
            }
        }
        if kind == ir::TriggerKind::Schedule && out.cron.is_none() {
            self.report(
                Diagnostic::new(
                    Code::E0204,
                    "`schedule` trigger is missing `cron`",
                    t.kind.span,
                    "needs `cron`",
                )
                .help("add `cron = \"0 3 * * *\"` (minute hour day month weekday)"),
            );
        }
        Some(out)
    }

    fn plain_string(&mut self, a: &ast::Attr, ctx: Ctx<'_>) -> Option<String> {
        let AttrValue::Expr(e) = &a.value else {
            return None;
        };
        match &e.kind {
            ExprKind::Str(s) if s.as_plain().is_some() => s.as_plain(),
            _ => {
                self.expect(e, &Ty::String, ctx);
                None
            }
        }
    }

    /// A list of glob strings, each validated (E0304).
    pub(crate) fn glob_list(&mut self, a: &ast::Attr, ctx: Ctx<'_>) -> Vec<String> {
        let AttrValue::Expr(e) = &a.value else {
            return vec![];
        };
        let ExprKind::List(items) = &e.kind else {
            self.expect(e, &Ty::List(Box::new(Ty::String)), ctx);
            return vec![];
        };
        let mut out = Vec::new();
        for i in items {
            match &i.kind {
                ExprKind::Str(s) if s.as_plain().is_some() => {
                    let p = s.as_plain().unwrap_or_default();
                    self.check_glob(&p, i.span);
                    out.push(p);
                }
                _ => {
                    self.expect(i, &Ty::String, ctx);
                }
            }
        }
        out
    }

    fn events(&mut self, a: &ast::Attr) -> Vec<String> {
        const EVENTS: &[&str] = &["opened", "updated", "closed"];
        let AttrValue::Expr(ast::Expr {
            kind: ExprKind::List(items),
            span,
        }) = &a.value
        else {
            self.report(Diagnostic::new(
                Code::E0301,
                "expected a list of events, like `[opened, updated]`",
                a.value.span(),
                "not a list",
            ));
            return vec![];
        };
        let _ = span;
        let mut out = Vec::new();
        for i in items {
            let id = match &i.kind {
                ExprKind::Path(p) if p.len() == 1 => p[0].clone(),
                ExprKind::Str(s) if s.as_plain().is_some() => ast::Ident {
                    name: s.as_plain().unwrap_or_default(),
                    span: i.span,
                },
                _ => {
                    self.report(Diagnostic::new(
                        Code::E0301,
                        "expected an event name",
                        i.span,
                        "not an event",
                    ));
                    continue;
                }
            };
            if EVENTS.contains(&id.name.as_str()) {
                out.push(id.name);
            } else {
                self.unknown(&id, "pull request event", EVENTS.iter().copied());
            }
        }
        out
    }

    // ------------------------------------------------------------------ stages

    fn declare_stage(&mut self, st: &ast::Stage) {
        let name = &st.name.name;
        if let Some(&first) = self.stage_index.get(name) {
            let d = Diagnostic::new(
                Code::E0202,
                format!("stage `{name}` is defined twice"),
                st.name.span,
                "defined again here",
            )
            .label(self.stages[first].name.span, "first defined here");
            self.report(d);
            return;
        }
        if RESERVED_STAGES.contains(&name.as_str()) {
            self.report(
                Diagnostic::new(Code::E0202, format!("`{name}` is a reserved name"), st.name.span, "reserved")
                    .help(format!("rename the stage, e.g. `{name}_stage`"))
                    .note("stages may not be named `run`, `params` or `secrets`: those names start references"),
            );
        }
        let index = self.stages.len();
        self.stage_index.insert(name.clone(), index);
        let mut stage = StageModel {
            name: st.name.clone(),
            span: st.span,
            inbound: vec![],
            timeout: None,
            entry: None,
            on_success: None,
            on_failure: ir::FailurePolicy::Fail,
            actions: vec![],
            after: None,
            rollbacks: vec![],
            dangling: false,
        };
        for item in &st.items {
            let ast::StageItem::Action(a) = item else {
                continue;
            };
            if let Some(first) = stage.actions.iter().find(|x| x.name.name == a.name.name) {
                let d = Diagnostic::new(
                    Code::E0202,
                    format!(
                        "action `{}` is defined twice in stage `{name}`",
                        a.name.name
                    ),
                    a.name.span,
                    "defined again here",
                )
                .label(first.name.span, "first defined here");
                self.report(d);
                continue;
            }
            let exports = self.declared_exports(a);
            let kind = self.peek_kind(&a.kind);
            self.action_index
                .insert((index, a.name.name.clone()), stage.actions.len());
            stage.actions.push(ActionModel {
                name: a.name.clone(),
                span: a.span,
                kind: kind.unwrap_or(Kind::Sh),
                template: None,
                category: ir::Category::Build,
                params: BTreeMap::new(),
                after: vec![],
                inputs: vec![],
                outputs: vec![],
                exports,
                kind_exports: if kind == Some(Kind::Git) {
                    vec!["commit".into(), "branch".into()]
                } else {
                    vec![]
                },
                env: BTreeMap::new(),
                timeout: None,
                retry: ir::Retry {
                    count: 0,
                    backoff_secs: 0,
                },
                when: None,
            });
        }
        self.stages.push(stage);
    }

    /// The kind under a kind reference, without reporting anything.
    fn peek_kind(&self, k: &ast::KindRef) -> Option<Kind> {
        self.template_for(k).map_or_else(
            || k.segments.first().and_then(|s| kind_by_name(&s.name)),
            |t| t.kind,
        )
    }

    fn template_for(&self, k: &ast::KindRef) -> Option<&TemplateDef> {
        match k.segments.as_slice() {
            [one] => self.local.templates.get(&one.name),
            [m, t] => self
                .modules
                .get(&m.name)
                .and_then(|m| m.templates.get(&t.name)),
            _ => None,
        }
    }

    /// Exports named at the call site, else by the template body.
    fn declared_exports(&self, a: &ast::Action) -> Vec<ast::Ident> {
        if let Some(attr) = a.attrs.iter().find(|x| x.name.name == "exports") {
            if let AttrValue::Expr(ast::Expr {
                kind: ExprKind::List(items),
                ..
            }) = &attr.value
            {
                return items
                    .iter()
                    .filter_map(|i| match &i.kind {
                        ExprKind::Path(p) if p.len() == 1 => Some(p[0].clone()),
                        _ => None,
                    })
                    .collect();
            }
            return vec![];
        }
        self.template_for(&a.kind)
            .map(|t| t.body.exports.clone())
            .unwrap_or_default()
    }

    fn stage(&mut self, index: usize, st: &ast::Stage) {
        let mut first_of: BTreeMap<&str, Span> = BTreeMap::new();
        let mut action_index = 0;
        for item in &st.items {
            let key = match item {
                ast::StageItem::After(..) => "after",
                ast::StageItem::Timeout(..) => "timeout",
                ast::StageItem::Entry(_) => "entry",
                ast::StageItem::OnSuccess(_) => "on success",
                ast::StageItem::OnFailure(..) => "on failure",
                ast::StageItem::Action(_) => "",
            };
            if !key.is_empty() {
                if let Some(first) = first_of.get(key) {
                    self.report(
                        Diagnostic::new(
                            Code::E0202,
                            format!("`{key}` is set twice in stage `{}`", st.name.name),
                            item.span(),
                            "set again here",
                        )
                        .label(*first, "first set here"),
                    );
                    continue;
                }
                first_of.insert(key, item.span());
            }
            match item {
                ast::StageItem::After(e, _) => {
                    let names = self.names(&AttrValue::Expr(e.clone()), true, "stage");
                    self.stages[index].after = Some(names);
                }
                ast::StageItem::Timeout(d, _) => {
                    if let Some(secs) = d.secs {
                        self.timeout_range(secs, d.span, "stage");
                        self.stages[index].timeout = Some((secs, d.span));
                    }
                }
                ast::StageItem::Entry(c) => {
                    let c = self.stage_condition(c, Site::Entry(index));
                    self.stages[index].entry = Some(c);
                }
                ast::StageItem::OnSuccess(c) => {
                    if let Some((ast::ElseResult::Rollback, span)) = c.otherwise {
                        self.stages[index].rollbacks.push(span);
                    }
                    let c = self.stage_condition(c, Site::OnSuccess(index));
                    self.stages[index].on_success = Some(c);
                }
                ast::StageItem::OnFailure(policy, _) => {
                    if let ast::FailurePolicy::Rollback(span) = policy {
                        self.stages[index].rollbacks.push(*span);
                    }
                    self.stages[index].on_failure = self.failure_policy(policy);
                }
                ast::StageItem::Action(a) => {
                    // Skip duplicates (declared once, reported by `declare_stage`).
                    let slot = self
                        .action_index
                        .get(&(index, a.name.name.clone()))
                        .copied();
                    if slot == Some(action_index)
                        && self.stages[index].actions[action_index].span == a.span
                    {
                        let model = self.action(a, Site::Action(index, action_index));
                        let exports =
                            std::mem::take(&mut self.stages[index].actions[action_index].exports);
                        self.stages[index].actions[action_index] = ActionModel { exports, ..model };
                        action_index += 1;
                    }
                }
            }
        }
    }

    fn failure_policy(&mut self, p: &ast::FailurePolicy) -> ir::FailurePolicy {
        match p {
            ast::FailurePolicy::Fail => ir::FailurePolicy::Fail,
            ast::FailurePolicy::Rollback(_) => ir::FailurePolicy::Rollback,
            ast::FailurePolicy::Retry(count, scope) => {
                let n = match count {
                    Some((n, span)) if !(1..=10).contains(n) => {
                        self.report(
                            Diagnostic::new(Code::E0410, format!("`on failure retry {n}` is out of range"), *span, "must be 1 to 10")
                                .note("`on failure retry N` re-runs the stage's failed actions up to N times, 1 to 10"),
                        );
                        1
                    }
                    Some((n, _)) => u32::try_from(*n).unwrap_or(1),
                    None => 1,
                };
                let scope = match scope {
                    ast::RetryScope::Failed => ir::RetryScope::Failed,
                    ast::RetryScope::All => ir::RetryScope::All,
                };
                ir::FailurePolicy::Retry { count: n, scope }
            }
        }
    }

    fn stage_condition(&mut self, c: &ast::Condition, site: Site) -> ConditionModel {
        let ctx = Ctx {
            scope: Scope::Pipeline,
            site,
        };
        let mut rules = Vec::new();
        for r in &c.rules {
            match r {
                ast::CondRule::Require(e, span) => {
                    let expr = self.condition_expr(e, ctx, "a `require` rule");
                    rules.push(ir::CondRule::Require {
                        expr,
                        span: self.ir_span(*span),
                    });
                }
                ast::CondRule::Window { cron, tz, span } => {
                    let c = self.pattern_string(cron, crate::patterns::cron, "cron expression");
                    let z = tz
                        .as_ref()
                        .map(|t| self.pattern_string(t, crate::patterns::time_zone, "time zone"));
                    rules.push(ir::CondRule::Window {
                        cron: c,
                        tz: z,
                        span: self.ir_span(*span),
                    });
                }
                ast::CondRule::Check { kind, attrs, span } => {
                    let a = ast::Action {
                        name: ast::Ident {
                            name: "check".into(),
                            span: kind.span,
                        },
                        kind: kind.clone(),
                        attrs: attrs.clone(),
                        span: *span,
                    };
                    let m = self.action(&a, site);
                    rules.push(ir::CondRule::Check {
                        action: Box::new(crate::ir::lower::action(self.map, &m)),
                    });
                }
            }
        }
        let otherwise = match c.otherwise {
            Some((ast::ElseResult::Skip, _)) => ir::ElseResult::Skip,
            Some((ast::ElseResult::Rollback, _)) => ir::ElseResult::Rollback,
            _ => ir::ElseResult::Fail,
        };
        ConditionModel {
            rules,
            otherwise,
            span: c.span,
        }
    }

    fn pattern_string<T>(
        &mut self,
        s: &ast::StrLit,
        check: fn(&str) -> Result<T, String>,
        what: &str,
    ) -> String {
        let Some(v) = s.as_plain() else {
            self.report(Diagnostic::new(
                Code::E0301,
                format!("a {what} cannot be interpolated"),
                s.span,
                "interpolated",
            ));
            return String::new();
        };
        if let Err(e) = check(&v) {
            self.report(Diagnostic::new(
                Code::E0304,
                format!("invalid {what} `{v}`"),
                s.span,
                e,
            ));
        }
        v
    }

    // ------------------------------------------------------------------ actions

    /// Resolves an action's kind (built-in or template) and attributes.
    #[allow(clippy::too_many_lines)] // Reason: the steps share many locals; split they read worse.
    pub(crate) fn action(&mut self, a: &ast::Action, site: Site) -> ActionModel {
        let ctx = Ctx {
            scope: Scope::Pipeline,
            site,
        };
        let def = self.resolve_kind(&a.kind);
        let display = a.kind.text();
        let (kind, parts, template) = match &def {
            Resolved::Kind(k) => {
                let (parts, _) = self.attrs(&a.attrs, Target::Kind(*k), ctx, a.kind.span);
                self.require_kind_params(
                    *k,
                    &parts.kind_params,
                    a.name.span,
                    &format!("action `{}`", a.name.name),
                );
                (Some(*k), parts, None)
            }
            Resolved::Template(t) => {
                let (call, args) =
                    self.attrs(&a.attrs, Target::Call(t, &display), ctx, a.kind.span);
                let parts = self.expand(t, &call, args, a, &display);
                (t.kind, parts, Some(display.clone()))
            }
            Resolved::Unknown => {
                let (parts, _) = self.attrs(&a.attrs, Target::Unknown, ctx, a.kind.span);
                (None, parts, None)
            }
        };
        let kind_v = kind.unwrap_or(Kind::Sh);
        let mut params = parts.kind_params.clone();
        if let Some(k) = kind {
            for p in kind_params(k) {
                if let (Some(d), false) = (p.default, params.contains_key(p.name)) {
                    params.insert(p.name.to_string(), d());
                }
            }
        }
        let inputs: Vec<ast::Ident> = parts
            .inputs
            .iter()
            .filter_map(|n| match n {
                NameRef::Name(id) => Some(id.clone()),
                NameRef::Param(..) => None,
            })
            .collect();
        for id in &inputs {
            self.uses.push(Use {
                kind: UseKind::Artifact {
                    name: id.name.clone(),
                },
                span: id.span,
                site,
            });
        }
        let outputs = parts
            .outputs
            .iter()
            .filter_map(|(n, path)| match n {
                NameRef::Name(id) => Some(OutputModel {
                    name: id.clone(),
                    path: path.clone(),
                }),
                NameRef::Param(..) => None,
            })
            .collect();
        let timeout = parts.timeout.as_ref().and_then(|(e, span)| match e {
            ir::Expr::Duration { secs } => Some((*secs, *span)),
            _ => None,
        });
        if let Some((secs, span)) = timeout {
            if kind_v == Kind::Approval {
                if !(60..=MAX_TIMEOUT).contains(&secs) {
                    self.report(
                        Diagnostic::new(
                            Code::E0410,
                            "approval timeout out of range",
                            span,
                            "must be 1m to 30d",
                        )
                        .note(
                            "an approval waits at least a minute and at most 30 days (default 7d)",
                        ),
                    );
                }
            } else {
                self.timeout_range(secs, span, "action");
            }
        }
        ActionModel {
            name: a.name.clone(),
            span: a.span,
            kind: kind_v,
            template,
            category: parts.category.unwrap_or_else(|| default_category(kind_v)),
            params,
            after: parts.after.clone(),
            inputs,
            outputs,
            exports: parts.exports.clone(),
            kind_exports: if kind == Some(Kind::Git) {
                vec!["commit".into(), "branch".into()]
            } else {
                vec![]
            },
            env: parts.env.clone(),
            timeout,
            retry: parts.retry.unwrap_or(ir::Retry {
                count: 0,
                backoff_secs: 0,
            }),
            when: parts.when.clone(),
        }
    }

    fn resolve_kind(&mut self, k: &ast::KindRef) -> Resolved {
        match k.segments.as_slice() {
            [one] => {
                if let Some(kind) = kind_by_name(&one.name) {
                    return Resolved::Kind(kind);
                }
                if let Some(t) = self.local.templates.get(&one.name) {
                    return Resolved::Template(Box::new(t.clone()));
                }
                if !self.broken.contains(&one.name) {
                    let local: Vec<String> = self.local.templates.keys().cloned().collect();
                    let names: Vec<&str> = KINDS
                        .iter()
                        .copied()
                        .chain(local.iter().map(String::as_str))
                        .collect();
                    self.report(
                        Diagnostic::new(Code::E0201, format!("unknown kind `{}`", one.name), one.span, "not a kind or template")
                            .help_opt(suggest(&one.name, names.iter().copied()))
                            .note(format!("the built-in kinds are {}; templates come from this file or an `import`", KINDS.join(", "))),
                    );
                }
                Resolved::Unknown
            }
            [m, t] => {
                let Some(module) = self.modules.get(&m.name) else {
                    let help = if crate::stdlib::MODULES.contains(&m.name.as_str()) {
                        Some(format!(
                            "add `import \"std/{}\"` at the top of the file",
                            m.name
                        ))
                    } else {
                        suggest(&m.name, self.modules.keys().map(String::as_str))
                    };
                    self.report(
                        Diagnostic::new(
                            Code::E0201,
                            format!("unknown import `{}`", m.name),
                            m.span,
                            "not imported",
                        )
                        .help_opt(help),
                    );
                    return Resolved::Unknown;
                };
                if let Some(def) = module.templates.get(&t.name) {
                    return Resolved::Template(Box::new(def.clone()));
                }
                let names: Vec<String> = module.templates.keys().cloned().collect();
                self.report(
                    Diagnostic::new(
                        Code::E0201,
                        format!("unknown member `{}` of `{}`", t.name, m.name),
                        t.span,
                        "no such template",
                    )
                    .help_opt(suggest(&t.name, names.iter().map(String::as_str)))
                    .note(format!(
                        "`{}` has {}",
                        m.name,
                        names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                Resolved::Unknown
            }
            _ => {
                self.report(Diagnostic::new(
                    Code::E0201,
                    format!("unknown kind `{}`", k.text()),
                    k.span,
                    "not a kind or template",
                ));
                Resolved::Unknown
            }
        }
    }

    /// A template call: body attributes with the arguments substituted, call-site common
    /// attributes replacing the body's (`env` merges by key).
    fn expand(
        &mut self,
        t: &TemplateDef,
        call: &Parts,
        mut args: BTreeMap<String, ir::Expr>,
        a: &ast::Action,
        display: &str,
    ) -> Parts {
        for (name, _, default) in &t.params {
            if args.contains_key(&name.name) {
                continue;
            }
            match default {
                Some(d) => {
                    args.insert(name.name.clone(), d.clone());
                }
                None => self.report(
                    Diagnostic::new(
                        Code::E0204,
                        format!("missing parameter `{}` of template `{display}`", name.name),
                        a.name.span,
                        format!("needs `{}`", name.name),
                    )
                    .label(name.span, "declared here without a default")
                    .help(format!("add `{} = …` to the action", name.name)),
                ),
            }
        }
        let sub = |e: &ir::Expr| e.substitute(&args);
        let name_of = |n: &NameRef| -> NameRef {
            match n {
                NameRef::Param(p, span) => match args.get(p) {
                    Some(ir::Expr::Str { value }) => NameRef::Name(ast::Ident {
                        name: value.clone(),
                        span: a.span,
                    }),
                    _ => NameRef::Param(p.clone(), *span),
                },
                NameRef::Name(_) => n.clone(),
            }
        };
        let body = &t.body;
        let set = |k: &str| call.set.iter().any(|s| s == k);
        let mut env: BTreeMap<String, ir::Expr> =
            body.env.iter().map(|(k, v)| (k.clone(), sub(v))).collect();
        env.extend(call.env.clone());
        Parts {
            kind_params: body
                .kind_params
                .iter()
                .map(|(k, v)| (k.clone(), sub(v)))
                .collect(),
            after: if set("after") {
                call.after.clone()
            } else {
                body.after.clone()
            },
            inputs: if set("input") || set("inputs") {
                call.inputs.clone()
            } else {
                body.inputs.iter().map(name_of).collect()
            },
            outputs: if set("output") || set("outputs") {
                call.outputs.clone()
            } else {
                body.outputs
                    .iter()
                    .map(|(n, p)| (name_of(n), p.clone()))
                    .collect()
            },
            exports: if set("exports") {
                call.exports.clone()
            } else {
                body.exports.clone()
            },
            env,
            timeout: if set("timeout") {
                call.timeout.clone()
            } else {
                body.timeout.as_ref().map(|(e, _)| (sub(e), a.span))
            },
            retry: if set("retry") { call.retry } else { body.retry },
            when: if set("when") {
                call.when.clone()
            } else {
                body.when.as_ref().map(sub)
            },
            category: call.category.or(body.category),
            set: call.set.clone(),
        }
    }

    // ------------------------------------------------------------------ edges

    fn edges(&mut self, transitions: &[&ast::Transition]) {
        let mut targeted = vec![false; self.stages.len()];
        let mut explicit: Vec<Vec<EdgeModel>> = vec![Vec::new(); self.stages.len()];
        for (i, st) in self.stages.clone().iter().enumerate() {
            if let Some(after) = &st.after {
                targeted[i] = true;
                for id in after {
                    if let Some(&from) = self.stage_index.get(&id.name) {
                        explicit[i].push(EdgeModel {
                            from,
                            guard: None,
                            disabled: None,
                            span: id.span,
                        });
                    } else {
                        self.unknown_stage(id);
                        self.stages[i].dangling = true;
                    }
                }
            }
        }
        for t in transitions {
            let from = self.stage_index.get(&t.from.name).copied();
            let to = self.stage_index.get(&t.to.name).copied();
            if from.is_none() {
                self.unknown_stage(&t.from);
            }
            if to.is_none() {
                self.unknown_stage(&t.to);
            }
            let (Some(from), Some(to)) = (from, to) else {
                if let Some(to) = to {
                    self.stages[to].dangling = true;
                }
                continue;
            };
            targeted[to] = true;
            let guard = t.guard.as_ref().map(|g| {
                self.condition_expr(
                    g,
                    Ctx {
                        scope: Scope::Pipeline,
                        site: Site::Guard(from),
                    },
                    "a transition guard",
                )
            });
            let disabled = t
                .disabled
                .as_ref()
                .map(|d| d.as_plain().unwrap_or_default());
            explicit[to].push(EdgeModel {
                from,
                guard,
                disabled,
                span: t.span,
            });
        }
        for (i, edges) in explicit.into_iter().enumerate() {
            let inbound = if targeted[i] {
                edges
            } else if i > 0 {
                vec![EdgeModel {
                    from: i - 1,
                    guard: None,
                    disabled: None,
                    span: self.stages[i].name.span,
                }]
            } else {
                vec![]
            };
            let mut kept: Vec<EdgeModel> = Vec::new();
            for e in inbound {
                if let Some(first) = kept.iter().find(|k| k.from == e.from) {
                    self.report(
                        Diagnostic::new(
                            Code::E0202,
                            format!(
                                "edge `{}` -> `{}` is declared twice",
                                self.stages[e.from].name.name, self.stages[i].name.name
                            ),
                            e.span,
                            "declared again here",
                        )
                        .label(first.span, "first declared here"),
                    );
                    continue;
                }
                kept.push(e);
            }
            self.stages[i].inbound = kept;
        }
    }
}

enum Resolved {
    Kind(Kind),
    Template(Box<TemplateDef>),
    Unknown,
}

/// Whether an expression refers to nothing that varies between runs.
pub(crate) fn is_constant(e: &ir::Expr) -> bool {
    let mut refs = 0;
    e.refs(&mut |_| refs += 1);
    refs == 0
}

/// Lexically normalises `a/./b/../c` to `a/c`.
fn normalize(p: &std::path::Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if out.last().is_some_and(|l| l != "..") {
                    out.pop();
                } else {
                    out.push("..".into());
                }
            }
            other => out.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}
