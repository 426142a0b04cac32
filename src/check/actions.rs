//! An action's kind (built-in or template) resolved and its attributes checked; template
//! calls expanded into their body's attributes.

use std::collections::BTreeMap;

use super::attrs::{Args, NameRef, Parts, Target};
use super::aws::{AwsAction, AwsSpans};
use super::kinds::{KINDS, default_category, kind_by_name, kind_params};
use super::types::{Ctx, Scope};
use super::{ActionModel, Checker, InputModel, OutputModel, Site, TemplateDef, Use, UseKind};
use crate::ast::{self};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Kind};

impl Checker<'_> {
    /// Resolves an action's kind (built-in or template) and attributes.
    #[allow(clippy::too_many_lines)] // Reason: the steps share many locals; split they read worse.
    pub(crate) fn action(&mut self, a: &ast::Action, site: Site) -> ActionModel {
        let ctx = Ctx {
            scope: Scope::Pipeline,
            site,
        };
        let def = self.resolve_kind(&a.kind);
        let display = a.kind.text();
        let mut aws_spans = None;
        let (kind, mut parts, template) = match &def {
            Resolved::Kind(k) => {
                if *k == Kind::Aws {
                    aws_spans = Some(AwsSpans::direct(a));
                }
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
                if t.kind == Some(Kind::Aws) {
                    aws_spans = Some(AwsSpans::call(a, &t.body.kind_params, &args.spans));
                }
                let parts = self.expand(t, &call, args, a, &display);
                (t.kind, parts, Some(display.clone()))
            }
            Resolved::Unknown => {
                let (parts, _) = self.attrs(&a.attrs, Target::Unknown, ctx, a.kind.span);
                (None, parts, None)
            }
        };
        let kind_v = kind.unwrap_or(Kind::Sh);
        let mut params = std::mem::take(&mut parts.kind_params);
        if let Some(k) = kind {
            for p in kind_params(k) {
                if let (Some(d), false) = (p.default, params.contains_key(p.name)) {
                    params.insert(p.name.to_string(), d());
                }
            }
        }
        let inputs = named(&parts.inputs, |name, folder| InputModel {
            name,
            folder: folder.clone(),
        });
        let names: Vec<ast::Ident> = inputs.iter().map(|i| i.name.clone()).collect();
        self.no_repeats(&names, "input artifact");
        for id in &names {
            self.uses.push(Use {
                kind: UseKind::Artifact {
                    name: id.name.clone(),
                },
                span: id.span,
                site,
            });
        }
        if inputs.len() > 1 {
            self.input_sets.push(inputs.clone());
        }
        let outputs = named(&parts.outputs, |name, path| OutputModel {
            name,
            path: path.clone(),
        });
        let image = self.image(kind, parts.image.take());
        let timeout = parts.timeout.as_ref().and_then(|(e, span)| match e {
            ir::Expr::Duration { secs } => Some((*secs, *span)),
            _ => None,
        });
        let category = match &aws_spans {
            Some(spans) => {
                let exports = std::mem::take(&mut parts.exports);
                let this = AwsAction {
                    name: &a.name,
                    category: parts.category,
                    input_names: inputs.iter().map(|i| i.name.name.clone()).collect(),
                    inputs: inputs.len(),
                    outputs: outputs.len(),
                    exports: &exports,
                };
                let c = self.aws_action(&mut params, &this, spans);
                parts.exports = exports;
                c
            }
            None => parts.category.unwrap_or_else(|| default_category(kind_v)),
        };
        ActionModel {
            name: a.name.clone(),
            span: a.span,
            kind: kind_v,
            template,
            category,
            params: params.into_iter().collect(),
            after: std::mem::take(&mut parts.after),
            inputs,
            outputs,
            exports: std::mem::take(&mut parts.exports),
            kind_exports: if kind == Some(Kind::Git) {
                vec!["commit".into(), "branch".into()]
            } else {
                vec![]
            },
            env: std::mem::take(&mut parts.env).into_iter().collect(),
            timeout,
            retry: parts.retry.unwrap_or(ir::Retry {
                count: 0,
                backoff_secs: 0,
            }),
            conditional: parts.when.is_some(),
            when: parts.when.take().map(Box::new),
            image,
        }
    }

    /// An action's container image: its own (only `sh` actions run in one: E0203 on any
    /// other kind), else the pipeline's `image` for an `sh` action.
    fn image(
        &mut self,
        kind: Option<Kind>,
        own: Option<(String, crate::source::Span)>,
    ) -> Option<String> {
        match (kind, own) {
            (Some(Kind::Sh) | None, Some((name, _))) => Some(name),
            (Some(k), Some((_, span))) => {
                self.report(
                    Diagnostic::new(
                        Code::E0203,
                        format!(
                            "attribute `image` does not apply to kind `{}`",
                            super::kinds::kind_name(k)
                        ),
                        span,
                        "only `sh` actions run in an image",
                    )
                    .help("remove `image`, or run the commands in an `sh` action"),
                );
                None
            }
            (Some(Kind::Sh), None) => self.default_image.clone(),
            (_, None) => None,
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
                            .help_opt(self.did_you_mean(&one.name, names.iter().copied()))
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
                        self.did_you_mean(&m.name, self.modules.keys().map(String::as_str))
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
                    .help_opt(self.did_you_mean(&t.name, names.iter().map(String::as_str)))
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
    #[allow(clippy::too_many_lines)] // Reason: one field per attribute, each with its own rule.
    fn expand(
        &mut self,
        t: &TemplateDef,
        call: &Parts,
        given: Args,
        a: &ast::Action,
        display: &str,
    ) -> Parts {
        let Args {
            values: mut args,
            spans,
        } = given;
        let arg_span = |name: &str| spans.get(name).copied().unwrap_or(a.name.span);
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
                        span: arg_span(p),
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
        let mut kind_params: BTreeMap<String, ir::Expr> = body
            .kind_params
            .iter()
            .map(|(k, v)| (k.clone(), sub(v)))
            .collect();
        // A script that is a parameter (`run = cmd`) stays a script: the interpolations of
        // the argument are shell-quoted like any others, never pasted in as code.
        if let Some(run) = kind_params.get_mut("run") {
            match run {
                ir::Expr::Interp { script, .. } => *script = true,
                ir::Expr::Str { value } => {
                    *run = ir::Expr::Interp {
                        parts: vec![ir::Part::Text(std::mem::take(value))],
                        script: true,
                    };
                }
                _ => {}
            }
        }
        Parts {
            kind_params,
            after: if set("after") {
                call.after.clone()
            } else {
                body.after.clone()
            },
            inputs: if set("input") || set("inputs") {
                call.inputs.clone()
            } else {
                body.inputs
                    .iter()
                    .map(|(n, folder)| (name_of(n), folder.clone()))
                    .collect()
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
                body.timeout
                    .as_ref()
                    .map(|(e, _)| self.fixed_duration(t.kind, e, &args, &arg_span))
            },
            retry: if set("retry") {
                call.retry
            } else {
                self.fixed_retry(body, &args, &arg_span)
            },
            retry_param: None,
            when: if set("when") {
                call.when.clone()
            } else {
                body.when.as_ref().map(sub)
            },
            category: call.category.or(body.category),
            image: if set("image") {
                call.image.clone()
            } else {
                body.image.clone()
            },
            set: call.set.clone(),
        }
    }
}

pub(crate) enum Resolved {
    Kind(Kind),
    Template(Box<TemplateDef>),
    Unknown,
}

/// The artifacts of `list` given by a plain name (not by a template's param), each made by
/// `make`. Inputs and outputs are kept until the release rules, for every action of the
/// pipeline: sized exactly (collecting a `filter_map` would start at four slots).
fn named<X, T>(list: &[(NameRef, X)], make: impl Fn(ast::Ident, &X) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(list.len());
    out.extend(list.iter().filter_map(|(n, x)| match n {
        NameRef::Name(id) => Some(make(id.clone(), x)),
        NameRef::Param(..) => None,
    }));
    out
}
