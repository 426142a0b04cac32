//! pipec expressions as GitHub Actions expressions (the text inside `${{ … }}`).
//!
//! Params come from the `pipec_params` job's outputs (text: ints, bools and lists are read
//! back with `fromJSON`), exports from the outputs of the step (same job) or of the job
//! that produced them, a stage's status from that stage job's `pipec_status` output, `run.*`
//! from the `github` context. What GitHub's expressions cannot compute (`matches`, `regex`,
//! `len` of a value, `join`, `lower`, `upper`, durations, `run.attempt`) is `E0502`.

use super::Cx;
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::ir::{self, BinOp, Expr, Part, Ref, Type};

/// Where an expression is read: from a stage's job (which must then need the jobs it
/// names) and, for exports of its own stage, from its steps.
pub(super) struct Site<'s> {
    pub stage: &'s str,
    /// Jobs the expression read outputs of (added to the job's `needs`).
    pub needs: &'s mut Vec<String>,
}

/// A GitHub string literal.
pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `e` as a GitHub expression, or `None` after an `E0502` at `at`.
pub(super) fn expr(cx: &mut Cx<'_>, e: &Expr, site: &mut Site<'_>, at: ir::Span) -> Option<String> {
    Some(match e {
        Expr::Str { value } => lit(value),
        Expr::Int { value } => value.to_string(),
        Expr::Bool { value } => value.to_string(),
        Expr::List { items } => {
            let mut json = Vec::new();
            for i in items {
                json.push(match i {
                    Expr::Str { value } => serde_json::Value::String(value.clone()),
                    Expr::Int { value } => serde_json::Value::from(*value),
                    Expr::Bool { value } => serde_json::Value::Bool(*value),
                    _ => return cant(cx, at, "a list of computed values"),
                });
            }
            format!(
                "fromJSON({})",
                lit(&serde_json::Value::Array(json).to_string())
            )
        }
        Expr::Ref(r) => reference(cx, r, site, at)?,
        Expr::Not { operand } => format!("!({})", expr(cx, operand, site, at)?),
        Expr::Binary { op, lhs, rhs } => binary(cx, *op, lhs, rhs, site, at)?,
        Expr::Call { func, args } => call(cx, func, args, site, at)?,
        Expr::Interp { parts, .. } => interp(cx, parts, site, at)?,
        Expr::Duration { .. } => return cant(cx, at, "a duration"),
        Expr::Map { .. } => return cant(cx, at, "a map"),
    })
}

fn cant(cx: &mut Cx<'_>, at: ir::Span, what: &str) -> Option<String> {
    cx.refuse(
        Code::E0502,
        at,
        format!("GitHub Actions expressions cannot compute {what}"),
        "not expressible on GitHub Actions",
        "compute it in the script, and pass it on as an export",
    );
    None
}

fn reference(cx: &mut Cx<'_>, r: &Ref, site: &mut Site<'_>, at: ir::Span) -> Option<String> {
    Some(match r {
        Ref::Param { name } => {
            need(site, super::PARAMS_JOB);
            let text = format!("needs.{}.outputs.{name}", super::PARAMS_JOB);
            match cx.param_type(name) {
                Some(Type::String) | None => text,
                Some(Type::Int | Type::Bool | Type::List(_)) => format!("fromJSON({text})"),
                Some(_) => return cant(cx, at, &format!("the value of `params.{name}`")),
            }
        }
        Ref::Export {
            stage,
            action,
            name,
        } => {
            if stage == site.stage {
                format!("steps.{action}.outputs.{name}")
            } else {
                need(site, stage);
                format!("needs.{stage}.outputs.{}", super::export_output(action, name))
            }
        }
        Ref::StageStatus { stage } => {
            need(site, stage);
            format!("(needs.{stage}.outputs.pipec_status || 'skipped')")
        }
        Ref::Run { field } => match field.as_str() {
            "id" => "github.run_id".into(),
            "commit" => "github.sha".into(),
            "branch" => "(github.event_name == 'pull_request' && github.head_ref || (github.ref_type == 'branch' && github.ref_name || ''))".into(),
            "tag" => "(github.ref_type == 'tag' && github.ref_name || '')".into(),
            "trigger" => "(github.event_name == 'workflow_dispatch' && 'manual' || github.event_name)".into(),
            other => return cant(cx, at, &format!("`run.{other}`")),
        },
        Ref::Secret { .. } | Ref::TemplateParam { .. } => {
            return cant(cx, at, "a secret outside `env`");
        }
    })
}

fn need(site: &mut Site<'_>, job: &str) {
    if !site.needs.iter().any(|n| n == job) {
        site.needs.push(job.to_string());
    }
}

fn binary(
    cx: &mut Cx<'_>,
    op: BinOp,
    lhs: &Expr,
    rhs: &Expr,
    site: &mut Site<'_>,
    at: ir::Span,
) -> Option<String> {
    if op == BinOp::Matches {
        return cant(cx, at, "`matches` (no globs in its expressions)");
    }
    let l = expr(cx, lhs, site, at);
    let r = expr(cx, rhs, site, at);
    let (l, r) = (l?, r?);
    Some(match op {
        BinOp::In => format!("contains({r}, {l})"),
        _ => format!("({l} {} {r})", op.text()),
    })
}

fn call(
    cx: &mut Cx<'_>,
    func: &str,
    args: &[Expr],
    site: &mut Site<'_>,
    at: ir::Span,
) -> Option<String> {
    let name = match func {
        "contains" => "contains",
        "starts_with" => "startsWith",
        "ends_with" => "endsWith",
        other => return cant(cx, at, &format!("`{other}(…)`")),
    };
    let mut out = Vec::new();
    for a in args {
        out.push(expr(cx, a, site, at));
    }
    let out: Option<Vec<String>> = out.into_iter().collect();
    Some(format!("{name}({})", out?.join(", ")))
}

/// A string with interpolations: `format('…{0}…', value)`.
fn interp(cx: &mut Cx<'_>, parts: &[Part], site: &mut Site<'_>, at: ir::Span) -> Option<String> {
    let mut pattern = String::new();
    let mut values = Vec::new();
    let mut ok = true;
    for p in parts {
        match p {
            Part::Text(t) => pattern.push_str(&t.replace('{', "{{").replace('}', "}}")),
            Part::Expr(e) => {
                pattern.push('{');
                pattern.push_str(&values.len().to_string());
                pattern.push('}');
                match expr(cx, e, site, at) {
                    Some(v) => values.push(v),
                    None => ok = false,
                }
            }
        }
    }
    if !ok {
        return None;
    }
    if values.is_empty() {
        return Some(lit(&pattern.replace("{{", "{").replace("}}", "}")));
    }
    Some(format!("format({}, {})", lit(&pattern), values.join(", ")))
}

/// An `env` value or other text field: a literal as it is (unless GitHub would read
/// `${{` in it), anything else as `${{ … }}`.
pub(super) fn text(cx: &mut Cx<'_>, e: &Expr, site: &mut Site<'_>, at: ir::Span) -> Option<String> {
    match e {
        Expr::Str { value } if !value.contains("${{") => Some(value.clone()),
        Expr::Ref(Ref::Secret { name }) => {
            Some(format!("${{{{ secrets.{} }}}}", secret_name(name)))
        }
        _ => Some(format!("${{{{ {} }}}}", expr(cx, e, site, at)?)),
    }
}

/// The GitHub secret of `secrets.NAME`: its name in upper case.
pub(super) fn secret_name(name: &str) -> String {
    name.to_ascii_uppercase()
}
