//! Where a run starts from: afresh, or from the recorded state of a run that goes on
//! (`pipec resume`, `pipec retry`) or whose stage runs again (rollback).
//!
//! A recorded run carries its snapshot (IR, params as text, trigger facts, pipeline file), so
//! it goes on exactly as it began, whatever happened to the file since.

use std::collections::BTreeMap;

use super::eval::{EvalError, Scope, Value, eval};
use super::plan::RunFacts;
use super::state::Recorded;
use crate::ir::Ir;
use crate::runtime::error::Error;

/// How a run starts.
pub enum Start {
    Fresh,
    /// Goes on after a hold or a crash: what ended stays ended; what had not finished (at
    /// most the attempts that were running) runs again.
    Resume(Recorded),
    /// `pipec retry`: goes on, and the stage that failed (or was abandoned) runs again: its
    /// failed and unfinished actions, or all of them.
    Retry {
        rec: Recorded,
        all: bool,
    },
    /// Only `stage` runs, with the exports and artifacts of `source` (the last run in which
    /// the stage succeeded) and everything else as it was there.
    Rollback {
        stage: String,
        source: Recorded,
    },
}

impl Start {
    /// Seconds the run was active before (its pipeline timeout counts them).
    pub fn spent(&self) -> f64 {
        match self {
            Start::Resume(rec) | Start::Retry { rec, .. } => rec.spent,
            Start::Fresh | Start::Rollback { .. } => 0.0,
        }
    }

    /// The run whose artifacts inputs come from when this run has not captured them.
    pub fn source(&self) -> Option<&str> {
        match self {
            Start::Fresh => None,
            Start::Resume(rec) | Start::Retry { rec, .. } => rec.source.as_deref(),
            Start::Rollback { source, .. } => Some(&source.id),
        }
    }
}

/// The IR a run recorded.
pub fn ir_of(rec: &Recorded) -> Result<Ir, Error> {
    let text = rec.ir.as_deref().ok_or_else(|| {
        Error::Recorded(format!(
            "run {} was recorded by an older pipec that did not keep its pipeline; it cannot go on",
            rec.id
        ))
    })?;
    crate::ir::from_json(text)
        .map_err(|e| Error::Recorded(format!("run {}: its recorded pipeline: {e}", rec.id)))
}

/// The folder a run's pipeline file was in (where its relative paths start; empty when the
/// run recorded no file).
pub fn base_of(rec: &Recorded) -> std::path::PathBuf {
    rec.file
        .as_ref()
        .and_then(|f| f.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The trigger facts a run recorded.
pub fn facts_of(rec: &Recorded) -> RunFacts {
    rec.facts
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default()
}

/// The param values a run recorded, typed again by `ir`'s params.
pub fn params_of(ir: &Ir, rec: &Recorded) -> Result<BTreeMap<String, Value>, Error> {
    let given: Vec<(String, String)> = rec
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let bound = crate::params::bind(ir, &given).map_err(|diags| {
        Error::Recorded(
            diags
                .into_iter()
                .map(|d| format!("run {}: param: {}", rec.id, d.message))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let mut out = BTreeMap::new();
    for (name, expr) in bound {
        // Recorded params are literals: nothing else to look up.
        let v = eval_with_params(&expr, &BTreeMap::new())
            .map_err(|w| Error::Recorded(format!("run {}: param `{name}`: {w}", rec.id)))?;
        out.insert(name, v);
    }
    Ok(out)
}

/// The names an approval action's `approvers` list holds (with the run's params; empty:
/// anyone may decide). Shared by `pipec approve` and `pipec serve`.
pub fn approvers_of(a: &crate::ir::Action, ir: &Ir, rec: &Recorded) -> Result<Vec<String>, Error> {
    let Some(expr) = a.params.get("approvers") else {
        return Ok(Vec::new());
    };
    let values = params_of(ir, rec)?;
    match eval_with_params(expr, &values).map_err(Error::Recorded)? {
        Value::List(items) => Ok(items.iter().map(Value::text).collect()),
        other => Ok(vec![other.text()]),
    }
}

/// Evaluates an expression of a recorded run that may refer to its params only.
pub fn eval_with_params(
    expr: &crate::ir::Expr,
    values: &BTreeMap<String, Value>,
) -> Result<Value, String> {
    struct Params<'a>(&'a BTreeMap<String, Value>);
    impl Scope for Params<'_> {
        fn param(&self, name: &str) -> Option<Value> {
            self.0.get(name).cloned()
        }
        fn secret(&self, _: &str) -> Option<String> {
            None
        }
        fn export(&self, _: &str, _: &str, _: &str) -> Option<String> {
            None
        }
        fn run_field(&self, _: &str) -> Option<Value> {
            None
        }
        fn stage_status(&self, _: &str) -> Option<String> {
            None
        }
        fn env_var(&self, _: &str) -> Option<String> {
            None
        }
        fn read_file(&self, path: &str) -> Result<String, String> {
            Err(format!("`{path}` is not read here"))
        }
    }
    eval(expr, &Params(values)).map_err(|e| match e {
        EvalError::Unknown(w) | EvalError::Invalid(w) => w,
    })
}
