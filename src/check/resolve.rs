//! Imports and templates: loading local and stdlib modules (E0205), checking template
//! definitions once where they are written, and parameter types.

use super::attrs::{NameRef, Parts, Target};
use super::kinds::{COMMON, KINDS, TYPES, kind_by_name};
use super::types::{Ctx, Scope};
use super::{Checker, Module, Site, TemplateDef};
use crate::ast::{self};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Kind};
use crate::source::FileId;

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
            self.import_std(module, &path, imp, visiting);
            return;
        }
        let alias_name = imp.alias.as_ref().map(|a| a.name.as_str());
        let (key, alias) = import_target(&self.map.get(from).name, &path, alias_name);
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
        let is_ident = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if let Some(stem) = alias
            .as_deref()
            .filter(|a| imp.alias.is_none() && !is_ident(a))
        {
            self.report(
                Diagnostic::new(
                    Code::E0205,
                    format!("cannot name this import `{stem}`"),
                    imp.path.span,
                    "not a name",
                )
                .help("name it with `as`, like `import \"./my-lib.pipe\" as mylib`"),
            );
            return;
        }
        let m = match self.loader.read(&key) {
            Ok(t) => self.load_module(&key, || Ok(t), visiting),
            Err(e) => {
                self.report(
                    Diagnostic::new(
                        Code::E0205,
                        format!("cannot import `{path}`"),
                        imp.path.span,
                        if e.missing {
                            "not found"
                        } else {
                            "cannot be read"
                        },
                    )
                    .note(format!("looked for `{key}`: {}", e.why)),
                );
                return;
            }
        };
        self.add_module(alias.unwrap_or_default(), imp, m);
    }

    fn import_std(
        &mut self,
        module: &str,
        path: &str,
        imp: &ast::Import,
        visiting: &mut Vec<String>,
    ) {
        let Some(text) = crate::stdlib::source(module) else {
            self.report(
                Diagnostic::new(
                    Code::E0205,
                    format!("no stdlib module `{path}`"),
                    imp.path.span,
                    "not found",
                )
                .help_opt(
                    self.did_you_mean(module, crate::stdlib::MODULES.iter().copied())
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
        let (key, name) = import_target("", path, imp.alias.as_ref().map(|a| a.name.as_str()));
        let m = self.load_module(&key, || Ok(text.to_string()), visiting);
        self.add_module(name.unwrap_or_default(), imp, m);
    }

    fn add_module(&mut self, name: String, imp: &ast::Import, m: Option<Module>) {
        if let Some(first) = self.modules.get(&name) {
            let mut d = Diagnostic::new(
                Code::E0202,
                format!("`{name}` is imported twice"),
                imp.span,
                "imported again here",
            )
            .help("give one of them another name with `as NAME`");
            if let Some(span) = first.import_span {
                d = d.label(span, "first imported here");
            }
            self.report(d);
            return;
        }
        let mut m = m.unwrap_or_default();
        m.import_span = Some(imp.span);
        self.modules.insert(name, m);
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
        // The imported file's own imports are its business: they are loaded (for their
        // errors and cycles) into a scope of their own, not the importer's.
        let outer = std::mem::take(&mut self.modules);
        visiting.push(key.to_string());
        for item in &file.items {
            if let ast::Item::Import(imp) = item {
                self.import(id, imp, visiting);
            }
        }
        visiting.pop();
        self.modules = outer;
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
        let mut params = super::TemplateParams::default();
        let mut first_of: std::collections::HashMap<&str, crate::source::Span> =
            std::collections::HashMap::new();
        for p in &t.params {
            if let Some(first) = first_of.get(p.name.name.as_str()) {
                let d = Diagnostic::new(
                    Code::E0202,
                    format!("parameter `{}` is declared twice", p.name.name),
                    p.name.span,
                    "declared again here",
                )
                .label(*first, "first declared here");
                self.report(d);
                continue;
            }
            first_of.insert(&p.name.name, p.name.span);
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
            let default = p
                .default
                .as_ref()
                .map(|d| self.default_value(d, ty.as_ref()));
            params.push((p.name.clone(), ty, default));
        }
        let kind = self.template_kind(&t.kind);
        let ctx = Ctx {
            scope: Scope::Template(&params),
            site: Site::Nowhere,
        };
        let target = kind.map_or(Target::Unknown, Target::Kind);
        self.template = Some(t.name.name.clone());
        let (body, _) = self.attrs(&t.attrs, target, ctx, t.name.span);
        self.template = None;
        if let Some(k) = kind {
            self.require_kind_params(
                k,
                &body.kind_params,
                t.name.span,
                &format!("template `{}`", t.name.name),
            );
        }
        self.unused_template_params(&params, &body);
        let mut body = body;
        self.rebase_template_paths(t, kind, &mut params, &mut body);
        TemplateDef {
            name: t.name.clone(),
            doc: t.doc.clone(),
            params,
            kind,
            body,
        }
    }

    /// Relative paths written in a template (a `dir` path, a `pipeline` file, `file(…)` in a
    /// default) are relative to the template's own file (§3); the IR resolves every path
    /// against the pipeline's file, so rewrite them for it.
    fn rebase_template_paths(
        &self,
        t: &ast::Template,
        kind: Option<Kind>,
        params: &mut super::TemplateParams,
        body: &mut super::attrs::Parts,
    ) {
        let dir_of = |name: &str| {
            std::path::Path::new(name)
                .parent()
                .map_or(String::new(), |p| p.to_string_lossy().into_owned())
        };
        let from = dir_of(&self.map.get(t.name.span.file).name);
        let to = dir_of(&self.root_name);
        if from == to || from.starts_with('<') {
            return;
        }
        let fix = |e: &mut ir::Expr| {
            if let ir::Expr::Str { value } = e {
                *value = crate::paths::rebase(value, &from, &to);
            }
        };
        let path_param = match kind {
            Some(Kind::Dir) => Some("path"),
            Some(Kind::Pipeline) => Some("file"),
            _ => None,
        };
        if let Some(p) = path_param.and_then(|p| body.kind_params.get_mut(p)) {
            if let ir::Expr::Ref(ir::Ref::TemplateParam { name }) = p {
                let name = name.clone();
                if let Some((_, d)) = params.defaults_mut().find(|(n, _)| *n == name) {
                    fix(d);
                }
            } else {
                fix(p);
            }
        }
        for (_, default) in params.defaults_mut() {
            if let ir::Expr::Call { func, args } = default {
                if func == "file" {
                    args.iter_mut().for_each(fix);
                }
            }
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
            .help_opt(self.did_you_mean(&text, KINDS.iter().copied()))
            .note(format!(
                "a template is built on one of the built-in kinds: {}",
                KINDS.join(", ")
            )),
        );
        None
    }

    fn unused_template_params(&mut self, params: &super::TemplateParams, body: &Parts) {
        let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut visit = |e: &ir::Expr| {
            e.refs(&mut |r| {
                if let ir::Ref::TemplateParam { name } = r {
                    used.insert(name.clone());
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
            .map(|(n, _)| n)
            .chain(body.outputs.iter().map(|(n, _)| n))
        {
            if let NameRef::Param(p, _) = n {
                used.insert(p.clone());
            }
        }
        used.extend(body.retry_param.iter().cloned());
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
}

/// Whether an expression refers to nothing that varies between runs.
pub(crate) fn is_constant(e: &ir::Expr) -> bool {
    let mut refs = 0;
    e.refs(&mut |_| refs += 1);
    refs == 0
}

/// Where an import points, as the source map names the file, and the name it brings into
/// scope: `"std/rust"` → (`<stdlib/rust.pipe>`, `rust`); `"./lib/a.pipe"` imported from
/// `/w/main.pipe` → (`/w/lib/a.pipe`, `a`); `as NAME` gives the name. `from` is the importing
/// file's name. The name is `None` when the path has no file name, and may not be an
/// identifier (the checker reports E0205 then).
pub(crate) fn import_target(
    from: &str,
    path: &str,
    alias: Option<&str>,
) -> (String, Option<String>) {
    if let Some(module) = path.strip_prefix("std/") {
        let name = alias.unwrap_or(module).to_string();
        return (crate::source::stdlib_name(module), Some(name));
    }
    let base = std::path::Path::new(from)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let key = crate::paths::normalize(&base.join(path));
    let name = alias.map(str::to_string).or_else(|| {
        std::path::Path::new(&key)
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
    });
    (key, name)
}
