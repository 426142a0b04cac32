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
        Type::Int => {
            if leading_zeros(text) {
                return Err(format!(
                    "`{text}` has leading zeros, which an `int` would drop"
                ));
            }
            Expr::Int {
                value: text
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{text}` is not an integer"))?,
            }
        }
        Type::Bool => match text.trim() {
            "true" => Expr::Bool { value: true },
            "false" => Expr::Bool { value: false },
            _ => return Err(format!("`{text}` is not `true` or `false`")),
        },
        Type::Duration => Expr::Duration {
            secs: crate::duration::parse(text.trim())
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

/// Whether an integer's text has leading zeros (`007`, `-01`): the number would lose them,
/// which for an account id or a version is lost data, not a number.
fn leading_zeros(text: &str) -> bool {
    let digits = text.trim().trim_start_matches(['-', '+']);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` for a param of type `ty` holds an integer with leading zeros.
fn drops_zeros(ty: &Type, text: &str) -> bool {
    match ty {
        Type::Int => leading_zeros(text),
        Type::List(elem) if **elem == Type::Int => {
            let items: Vec<String> = serde_json::from_str::<Vec<String>>(text)
                .unwrap_or_else(|_| text.split(',').map(str::to_string).collect());
            items.iter().any(|i| leading_zeros(i))
        }
        _ => false,
    }
}

/// A value as shown in messages: strings without quotes, the rest as written in `.pipe`.
fn shown(e: &Expr) -> String {
    match e {
        Expr::Str { value } => value.clone(),
        other => crate::ir::describe::describe(other),
    }
}

/// A param's `pattern` as a regular expression that must match the whole value.
pub fn full_match(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// How a value breaks a param's constraints (`allowed`, `pattern`; for a list, checked on
/// each element): the offending value as shown, and the rule it breaks. `None` when it
/// keeps them (or is not a literal).
pub fn violation(
    allowed: Option<&[Expr]>,
    pattern: Option<&str>,
    value: &Expr,
) -> Option<(String, String)> {
    match value {
        Expr::List { items } => {
            return items.iter().find_map(|i| violation(allowed, pattern, i));
        }
        Expr::Str { .. } | Expr::Int { .. } | Expr::Bool { .. } | Expr::Duration { .. } => {}
        _ => return None,
    }
    if let Some(allowed) = allowed {
        if !allowed.contains(value) {
            let set: Vec<String> = allowed.iter().map(|a| format!("`{}`", shown(a))).collect();
            return Some((
                shown(value),
                format!("it must be one of {}", set.join(", ")),
            ));
        }
    }
    if let (Some(pattern), Expr::Str { value: text }) = (pattern, value) {
        // An invalid pattern was reported when checking; the IR of a file that checked
        // clean has none.
        if full_match(pattern).is_ok_and(|re| !re.is_match(text)) {
            return Some((
                text.clone(),
                format!("it must match the pattern `{pattern}` (the whole value)"),
            ));
        }
    }
    None
}

/// The diagnostic for a value of param `p` that breaks its constraints.
fn constraint_error(p: &crate::ir::Param, value: &Expr) -> Option<Diagnostic> {
    let (bad, rule) = violation(p.allowed.as_deref(), p.pattern.as_deref(), value)?;
    Some(
        Diagnostic::new(
            Code::E0301,
            format!("param `{}` does not allow `{bad}`: {rule}", p.name),
            src_span(p.span),
            "declared here",
        )
        .note("a param's `allowed` and `pattern` are checked before anything runs"),
    )
}

/// Checks a value of param `name` (bound or evaluated) against its constraints; the error
/// is the message to show.
pub fn check_value(ir: &Ir, name: &str, value: &Expr) -> Result<(), String> {
    let Some(p) = ir.pipeline.params.iter().find(|p| p.name == name) else {
        return Ok(());
    };
    match constraint_error(p, value) {
        Some(d) => Err(format!("error[{}]: {}", d.code, d.message)),
        None => Ok(()),
    }
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
            Ok(v) => match constraint_error(p, &v) {
                Some(d) => errors.push(d),
                None => {
                    out.insert(name.clone(), v);
                }
            },
            Err(e) => errors.push(
                Diagnostic::new(
                    Code::E0301,
                    format!("bad value for param `{name}`: expected `{}`", p.ty),
                    src_span(p.span),
                    e,
                )
                .help_opt(
                    drops_zeros(&p.ty, text)
                        .then(|| format!("declare `{name}` as `string` to keep leading zeros")),
                ),
            ),
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
