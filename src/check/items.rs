//! The pipeline's params, secrets and triggers: declared, checked and lowered.

use super::types::{Ctx, Scope, Ty};
use super::{Checker, ParamModel, SecretModel, Site};
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self};
use crate::source::Span;

impl Checker<'_> {
    pub(super) fn declare_param(&mut self, p: &ast::Param) {
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

    pub(super) fn param(&mut self, p: &ast::Param) -> ParamModel {
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
        } else if let Some(t @ (ir::Type::Artifact | ir::Type::Script)) = &ty {
            self.report(
                Diagnostic::new(Code::E0301, format!("param `{}` cannot have type `{t}`", p.name.name), p.ty.span, "not a param type")
                    .note("params are `string`, `int`, `bool`, `duration`, `list<T>` or `map<T>`; `artifact` and `script` are for template parameters"),
            );
        }
        let default = p
            .default
            .as_ref()
            .map(|d| self.default_value(d, ty.as_ref()));
        let constraints = self.param_constraints(p, ty.as_ref(), default.as_ref());
        ParamModel {
            name: p.name.clone(),
            doc: p.doc.clone(),
            ty,
            default,
            allowed: constraints.allowed,
            pattern: constraints.pattern,
            span: p.span,
        }
    }

    pub(super) fn declare_secret(&mut self, s: &ast::SecretDecl) {
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

    pub(super) fn secret(&mut self, s: &ast::SecretDecl) -> SecretModel {
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
    pub(super) fn trigger(&mut self, t: &ast::Trigger) -> Option<ir::Trigger> {
        let (kind, allowed): (ir::TriggerKind, &[&str]) = match t.kind.name.as_str() {
            "push" => (
                ir::TriggerKind::Push,
                &["branches", "tags", "paths", "poll"],
            ),
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
            poll_secs: None,
            span: self.ir_span(t.span),
        };
        let ctx = Ctx {
            scope: Scope::Pipeline,
            site: Site::Nowhere,
        };
        for a in self.first_set(&t.attrs) {
            let name = a.name.name.as_str();
            if !allowed.contains(&name) {
                self.report(
                    Diagnostic::new(
                        Code::E0203,
                        format!("unknown attribute `{name}` for trigger `{}`", t.kind.name),
                        a.name.span,
                        "unknown attribute",
                    )
                    .help_opt(self.did_you_mean(name, allowed.iter().copied()))
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
                "poll" => out.poll_secs = self.poll_interval(a),
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

    pub(super) fn plain_string(&mut self, a: &ast::Attr, ctx: Ctx<'_>) -> Option<String> {
        let AttrValue::Expr(e) = &a.value else {
            return None;
        };
        match &e.kind {
            ExprKind::Str(s) if s.as_plain().is_some() => s.as_plain(),
            _ => {
                self.not_interpolated(e, ctx);
                None
            }
        }
    }

    /// The pipeline's `image "NAME"`, set at most once (E0202).
    pub(super) fn pipeline_image(&mut self, items: &[ast::PipelineItem]) -> Option<String> {
        let mut first: Option<(Span, Option<String>)> = None;
        for item in items {
            let ast::PipelineItem::Image(name, span) = item else {
                continue;
            };
            if let Some((at, _)) = &first {
                self.report(
                    Diagnostic::new(Code::E0202, "`image` is set twice", *span, "set again here")
                        .label(*at, "first set here"),
                );
                continue;
            }
            first = Some((*span, self.plain_image(name)));
        }
        first.and_then(|(_, image)| image)
    }

    /// An `image "NAME"`: a plain string (E0301 otherwise).
    fn plain_image(&mut self, name: &ast::StrLit) -> Option<String> {
        let plain = name.as_plain();
        if plain.is_none() {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    "expected a plain string, without `${…}`",
                    name.span,
                    "interpolated",
                )
                .note("an image is fixed before any run starts, so it cannot refer to run values"),
            );
        }
        plain
    }

    /// Where a plain string is required (trigger filters, cron, time zones, reasons):
    /// E0301 for an interpolated string, a type error for anything else.
    pub(super) fn not_interpolated(&mut self, e: &ast::Expr, ctx: Ctx<'_>) {
        if let ExprKind::Str(_) = e.kind {
            self.expect(e, &Ty::String, ctx);
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    "expected a plain string, without `${…}`",
                    e.span,
                    "interpolated",
                )
                .note(
                    "this value is fixed before any run starts, so it cannot refer to run values",
                ),
            );
        } else {
            self.expect(e, &Ty::String, ctx);
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
                _ => self.not_interpolated(i, ctx),
            }
        }
        out
    }

    /// The items of a list attribute; E0301 with `expected` when its value is not a list.
    pub(super) fn expect_list<'a>(
        &mut self,
        a: &'a ast::Attr,
        expected: impl Into<String>,
    ) -> Option<&'a [ast::Expr]> {
        if let AttrValue::Expr(ast::Expr {
            kind: ExprKind::List(items),
            ..
        }) = &a.value
        {
            return Some(items);
        }
        self.report(Diagnostic::new(
            Code::E0301,
            expected,
            a.value.span(),
            "not a list",
        ));
        None
    }

    pub(super) fn events(&mut self, a: &ast::Attr) -> Vec<String> {
        const EVENTS: &[&str] = &["opened", "updated", "closed"];
        let Some(items) =
            self.expect_list(a, "expected a list of events, like `[opened, updated]`")
        else {
            return vec![];
        };
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
}
