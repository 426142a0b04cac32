//! A `param` default that reads the source of one of the pipeline's secrets (E0303).
//!
//! Input: the pipeline's `param` and `secret` declarations. Output: an E0303 at each
//! `env("VAR")` or `file("PATH")` in a param default whose argument names the variable or
//! file a secret is read from (files compared lexically: `./sub/../key.pem` is `key.pem`, as
//! both paths are relative to the same file). A param's value is shown and stored in the run
//! history, so a secret's value must never become one.
//!
//! Limits: only plain-string arguments are compared (a computed one, or a path that names the
//! same file through a link, is left to the runtime, which refuses the read itself:
//! `runtime::secrets::Sources`).

use super::Checker;
use crate::ast::{self, Expr, ExprKind, StrPart};
use crate::diagnostics::{Code, Diagnostic};

/// `env("VAR")` or `file("PATH")` with a plain string: the function and what it reads.
fn source_of(e: &Expr) -> Option<(&str, String)> {
    let ExprKind::Call(f, args) = &e.kind else {
        return None;
    };
    let ([arg], "env" | "file") = (args.as_slice(), f.name.as_str()) else {
        return None;
    };
    let ExprKind::Str(s) = &arg.kind else {
        return None;
    };
    let text = s.as_plain()?;
    Some(if f.name == "file" {
        ("file", crate::paths::normalize(std::path::Path::new(&text)))
    } else {
        ("env", text)
    })
}

/// Every call in `e` (also inside arguments, lists, maps and interpolations).
fn calls<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Call(_, args) => {
            out.push(e);
            for a in args {
                calls(a, out);
            }
        }
        ExprKind::List(items) => items.iter().for_each(|i| calls(i, out)),
        ExprKind::Map(entries) => entries.iter().for_each(|(_, v)| calls(v, out)),
        ExprKind::Not(inner) => calls(inner, out),
        ExprKind::Binary(_, l, r) => {
            calls(l, out);
            calls(r, out);
        }
        ExprKind::Str(s) => {
            for p in &s.parts {
                if let StrPart::Interp(inner, _) = p {
                    calls(inner, out);
                }
            }
        }
        ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Duration(_)
        | ExprKind::Path(_)
        | ExprKind::Error => {}
    }
}

impl Checker<'_> {
    /// Reports param defaults that read a secret's source (E0303). Runs before the pipeline's
    /// declarations are checked, so it finds repeated params itself.
    pub(super) fn secret_sources_in_params(&mut self, items: &[ast::PipelineItem]) {
        let secrets: Vec<(&ast::SecretDecl, (&str, String))> = items
            .iter()
            .filter_map(|i| match i {
                ast::PipelineItem::Secret(s) => source_of(&s.source).map(|src| (s, src)),
                _ => None,
            })
            .collect();
        if secrets.is_empty() {
            return;
        }
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let ast::PipelineItem::Param(p) = item else {
                continue;
            };
            // A repeated declaration is E0202 and not checked again.
            let first = seen.insert(p.name.name.as_str());
            let Some(default) = p.default.as_ref().filter(|_| first) else {
                continue;
            };
            let mut found = Vec::new();
            calls(default, &mut found);
            for call in found {
                let Some(read) = source_of(call) else {
                    continue;
                };
                if let Some((secret, _)) = secrets.iter().find(|(_, src)| *src == read) {
                    self.report(secret_source_read(p, secret, call));
                }
            }
        }
    }
}

fn secret_source_read(p: &ast::Param, secret: &ast::SecretDecl, call: &Expr) -> Diagnostic {
    let (param, name) = (&p.name.name, &secret.name.name);
    Diagnostic::new(
        Code::E0303,
        format!("param `{param}` reads the source of secret `{name}`"),
        call.span,
        format!("the value of `secrets.{name}`"),
    )
    .label(secret.source.span, format!("`{name}` is read from it here"))
    .help(format!(
        "pass `secrets.{name}` to the action through `env`, or give `{param}` a default that is not a secret"
    ))
    .note("a param's value is shown and stored in the run history; a secret's value may only reach a process through `env`")
}
