//! Binding `--param NAME=VALUE` to a pipeline's params (E0206 and friends), shared by
//! `pipec run` and `pipec compile --param`.

use std::collections::BTreeMap;

use crate::diagnostics::{Code, Diagnostic, suggest};
use crate::ir::{Expr, Ir, Type};
use crate::source::{FileId, Span};

fn src_span(s: crate::ir::Span) -> Span {
    Span {
        file: FileId(s.file),
        start: s.start,
        end: s.end,
    }
}

/// Parses `NAME=VALUE`.
pub fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, found `{s}`")),
    }
}

/// A value given on the command line, as a literal of the param's type.
pub fn parse_value(ty: &Type, text: &str) -> Result<Expr, String> {
    Ok(match ty {
        Type::String | Type::Script | Type::Artifact | Type::Secret => Expr::Str {
            value: text.to_string(),
        },
        Type::Int => Expr::Int {
            value: text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not an integer"))?,
        },
        Type::Bool => match text.trim() {
            "true" => Expr::Bool { value: true },
            "false" => Expr::Bool { value: false },
            _ => return Err(format!("`{text}` is not `true` or `false`")),
        },
        Type::Duration => Expr::Duration {
            secs: crate::syntax::parse_duration_text(text.trim())
                .map_err(|e| format!("`{text}` is not a duration: {e}"))?,
        },
        Type::List(elem) => {
            let items: Vec<String> = if text.trim().starts_with('[') {
                serde_json::from_str(text)
                    .map_err(|e| format!("`{text}` is not a JSON list of strings: {e}"))?
            } else if text.is_empty() {
                vec![]
            } else {
                text.split(',').map(str::to_string).collect()
            };
            Expr::List {
                items: items
                    .iter()
                    .map(|i| parse_value(elem, i))
                    .collect::<Result<_, _>>()?,
            }
        }
        Type::Map(elem) => {
            let m: BTreeMap<String, String> = serde_json::from_str(text)
                .map_err(|e| format!("`{text}` is not a JSON object: {e}"))?;
            Expr::Map {
                entries: m
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), parse_value(elem, v)?)))
                    .collect::<Result<_, String>>()?,
            }
        }
    })
}

/// Binds given values to the pipeline's params; every param gets a value or a diagnostic.
pub fn bind(
    ir: &Ir,
    given: &[(String, String)],
) -> Result<BTreeMap<String, Expr>, Vec<Diagnostic>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    let params = &ir.pipeline.params;
    for (name, text) in given {
        let Some(p) = params.iter().find(|p| p.name == *name) else {
            let help = suggest(name, params.iter().map(|p| p.name.as_str()));
            // Point at the `pipeline` keyword, not the whole pipeline.
            let mut at = src_span(ir.pipeline.span);
            at.end = at.start + 8;
            errors.push(
                Diagnostic::new(
                    Code::E0201,
                    format!("unknown param `{name}`"),
                    at,
                    "this pipeline has no such param",
                )
                .help_opt(help),
            );
            continue;
        };
        match parse_value(&p.ty, text) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => errors.push(Diagnostic::new(
                Code::E0301,
                format!("bad value for param `{name}`: expected `{}`", p.ty),
                src_span(p.span),
                e,
            )),
        }
    }
    for p in params {
        if out.contains_key(&p.name) {
            continue;
        }
        match &p.default {
            Some(d) => {
                out.insert(p.name.clone(), d.clone());
            }
            None => errors.push(
                Diagnostic::new(
                    Code::E0206,
                    format!("missing value for param `{}`", p.name),
                    src_span(p.span),
                    "no default",
                )
                .help(format!(
                    "pass `--param {}=VALUE`, or give the param a default",
                    p.name
                )),
            ),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
