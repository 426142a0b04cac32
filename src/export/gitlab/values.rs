//! Values a job reads while it runs, as bash words that take them from variables: params
//! (`$PIPEC_PARAM_NAME`), exports (the dotenv variables of the jobs it needs), `run.*` (GitLab's
//! predefined variables), secrets (CI/CD variables). The job's script never holds data: a
//! text part is one quoted word, a value a quoted variable reference.

use std::collections::BTreeSet;

use super::Cx;
use super::rules::param_var;
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::runner::dotenv_name;
use crate::ir::{self, Expr, Part, Ref, Type};
use crate::shell::quote_word;

/// A bash word with the value of `e`; the stages whose dotenv it reads go to `needs`.
pub(super) fn word(
    cx: &mut Cx<'_>,
    e: &Expr,
    needs: &mut Vec<String>,
    at: ir::Span,
) -> Option<String> {
    Some(match e {
        Expr::Str { value } => quote_word(value),
        Expr::Int { value } => value.to_string(),
        Expr::Bool { value } => value.to_string(),
        Expr::Ref(r) => reference(cx, r, needs, at)?,
        Expr::Interp { parts, .. } => {
            let mut out = String::new();
            for p in parts {
                match p {
                    Part::Text(t) if !t.is_empty() => out.push_str(&quote_word(t)),
                    Part::Text(_) => {}
                    Part::Expr(e) => out.push_str(&word(cx, e, needs, at)?),
                }
            }
            if out.is_empty() {
                "''".to_string()
            } else {
                out
            }
        }
        _ => return cant(cx, at, "a computed value"),
    })
}

fn reference(cx: &mut Cx<'_>, r: &Ref, needs: &mut Vec<String>, at: ir::Span) -> Option<String> {
    Some(match r {
        Ref::Param { name } => {
            if matches!(cx.param_type(name), Some(Type::List(_) | Type::Map(_))) {
                return cant(cx, at, &format!("the list `params.{name}` as one value"));
            }
            format!("\"${{{}-}}\"", param_var(name))
        }
        Ref::Export {
            stage,
            action,
            name,
        } => {
            if !needs.contains(stage) {
                needs.push(stage.clone());
            }
            format!("\"${{{}-}}\"", dotenv_name(stage, action, name))
        }
        Ref::Secret { name } => format!("\"${{{}-}}\"", name.to_ascii_uppercase()),
        Ref::Run { field } => match field.as_str() {
            "id" => "\"$CI_PIPELINE_ID\"".into(),
            "commit" => "\"$CI_COMMIT_SHA\"".into(),
            "branch" => "\"${CI_COMMIT_BRANCH:-${CI_MERGE_REQUEST_SOURCE_BRANCH_NAME:-}}\"".into(),
            "tag" => "\"${CI_COMMIT_TAG:-}\"".into(),
            "trigger" => "\"$(case \"$CI_PIPELINE_SOURCE\" in push) echo push ;; merge_request_event) echo pull_request ;; schedule) echo schedule ;; *) echo manual ;; esac)\"".into(),
            other => return cant(cx, at, &format!("`run.{other}`")),
        },
        Ref::StageStatus { stage } => {
            if !needs.contains(stage) {
                needs.push(stage.clone());
            }
            format!("\"${{{}:-skipped}}\"", status_var(stage))
        }
        Ref::TemplateParam { .. } => return cant(cx, at, "a template parameter"),
    })
}

/// The dotenv variable a stage's job sets to `succeeded` once all its actions are done; a job
/// that did not run (left out by its rules: not reached, or skipped by its entry) sets none,
/// read as `skipped`. A failed job stops the pipeline, so no reader sees `failed`.
pub(super) fn status_var(stage: &str) -> String {
    format!("PIPEC_S_{stage}")
}

/// Every stage whose `STAGE.status` some expression of the pipeline reads (found in the IR's
/// JSON, so no place an expression may stand is missed).
pub(super) fn statuses_read(ir: &ir::Ir) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("ref").and_then(serde_json::Value::as_str) == Some("stage_status")
                    && let Some(stage) = m.get("stage").and_then(serde_json::Value::as_str)
                {
                    out.insert(stage.to_string());
                }
                m.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(v) = serde_json::to_value(&ir.pipeline) {
        walk(&v, &mut out);
    }
    out
}

/// The shell reads values as [`word`] does (for [`crate::export::shtest`]).
pub(super) struct Words<'c, 'a, 'n> {
    cx: &'c mut Cx<'a>,
    needs: &'n mut Vec<String>,
    at: ir::Span,
}

impl<'c, 'a, 'n> Words<'c, 'a, 'n> {
    pub(super) fn new(cx: &'c mut Cx<'a>, needs: &'n mut Vec<String>, at: ir::Span) -> Self {
        Words { cx, needs, at }
    }
}

impl<'a> crate::export::shtest::Words<'a> for Words<'_, 'a, '_> {
    fn word(&mut self, e: &Expr) -> Option<String> {
        word(self.cx, e, self.needs, self.at)
    }

    fn param_type(&self, name: &str) -> Option<Type> {
        self.cx.param_type(name).cloned()
    }

    fn cx(&mut self) -> &mut crate::export::cx::Cx<'a> {
        &mut self.cx.base
    }

    fn at(&self) -> ir::Span {
        self.at
    }

    fn shell(&self) -> &'static str {
        "the job's shell"
    }
}

fn cant(cx: &mut Cx<'_>, at: ir::Span, what: &str) -> Option<String> {
    cx.refuse(
        Code::E0502,
        at,
        format!("{what} on GitLab CI"),
        "not computable on GitLab CI",
        "compute it in the script, and pass it on as an export",
    );
    None
}
