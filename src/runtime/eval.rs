//! Evaluating IR expressions at run time, and rendering scripts safely.
//!
//! Pure: everything the evaluation needs from the outside (params, run facts, exports, stage
//! statuses, secrets, the environment and files for defaults) comes through [`Scope`].
//!
//! Scripts (`run` of `sh`) are rendered so that interpolated data is never executed as code
//! (LANGUAGE.md §7): each value becomes exactly one shell-quoted word, a list one word per
//! element, and where `${…}` stands inside the script's own `'…'` or `"…"` the quote is
//! closed, the word inserted and the quote reopened.

use std::collections::BTreeMap;

use crate::ir::{BinOp, Expr, Part, Ref};
use crate::shell::QuoteTracker;

/// A run-time value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Duration(u64),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The text a value interpolates as: ints, bools and durations as written.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Duration(s) => crate::duration::format(*s),
            Value::List(items) => items.iter().map(Value::text).collect::<Vec<_>>().join(" "),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.text()))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The value as an IR literal (to check it against a param's constraints).
    pub fn literal(&self) -> Expr {
        match self {
            Value::Str(s) => Expr::Str { value: s.clone() },
            Value::Int(n) => Expr::Int { value: *n },
            Value::Bool(b) => Expr::Bool { value: *b },
            Value::Duration(s) => Expr::Duration { secs: *s },
            Value::List(items) => Expr::List {
                items: items.iter().map(Value::literal).collect(),
            },
            Value::Map(m) => Expr::Map {
                entries: m.iter().map(|(k, v)| (k.clone(), v.literal())).collect(),
            },
        }
    }
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("`{0}` has no value yet")]
    Unknown(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where values come from.
pub trait Scope {
    fn param(&self, name: &str) -> Option<Value>;
    fn secret(&self, name: &str) -> Option<String>;
    fn export(&self, stage: &str, action: &str, name: &str) -> Option<String>;
    fn run_field(&self, field: &str) -> Option<Value>;
    fn stage_status(&self, stage: &str) -> Option<String>;
    /// `env(NAME)` in a default; `None` when unset.
    fn env_var(&self, name: &str) -> Option<String>;
    /// `file(PATH)` in a default.
    fn read_file(&self, path: &str) -> Result<String, String>;
}

/// Evaluates an expression.
pub fn eval(e: &Expr, scope: &dyn Scope) -> Result<Value, EvalError> {
    Ok(match e {
        Expr::Str { value } => Value::Str(value.clone()),
        Expr::Int { value } => Value::Int(*value),
        Expr::Bool { value } => Value::Bool(*value),
        Expr::Duration { secs } => Value::Duration(*secs),
        Expr::List { items } => Value::List(
            items
                .iter()
                .map(|i| eval(i, scope))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Map { entries } => Value::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), eval(v, scope)?)))
                .collect::<Result<_, EvalError>>()?,
        ),
        // A script's text is only shown when evaluated as a value; `sh` renders it with
        // `render_script` to run it.
        Expr::Interp { parts, .. } => Value::Str(render_text(parts, scope)?),
        Expr::Ref(r) => reference(r, scope)?,
        Expr::Not { operand } => Value::Bool(!truth(&eval(operand, scope)?)?),
        Expr::Binary { op, lhs, rhs } => binary(*op, lhs, rhs, scope)?,
        Expr::Call { func, args } => call(func, args, scope)?,
    })
}

fn reference(r: &Ref, scope: &dyn Scope) -> Result<Value, EvalError> {
    let missing = |what: String| EvalError::Unknown(what);
    match r {
        Ref::Param { name } => scope
            .param(name)
            .ok_or_else(|| missing(format!("params.{name}"))),
        Ref::Secret { name } => scope
            .secret(name)
            .map(Value::Str)
            .ok_or_else(|| missing(format!("secrets.{name}"))),
        Ref::Export {
            stage,
            action,
            name,
        } => scope
            .export(stage, action, name)
            .map(Value::Str)
            .ok_or_else(|| missing(format!("{stage}.{action}.{name}"))),
        Ref::Run { field } => scope
            .run_field(field)
            .ok_or_else(|| missing(format!("run.{field}"))),
        Ref::StageStatus { stage } => scope
            .stage_status(stage)
            .map(Value::Str)
            .ok_or_else(|| missing(format!("{stage}.status"))),
        Ref::TemplateParam { name } => Err(EvalError::Invalid(format!(
            "unexpanded template parameter `{name}`"
        ))),
    }
}

fn truth(v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError::Invalid(format!(
            "expected a bool, found `{}`",
            other.text()
        ))),
    }
}

fn binary(op: BinOp, lhs: &Expr, rhs: &Expr, scope: &dyn Scope) -> Result<Value, EvalError> {
    // `&&` and `||` short-circuit: the right side may refer to what does not exist yet.
    match op {
        BinOp::And => {
            return Ok(Value::Bool(
                truth(&eval(lhs, scope)?)? && truth(&eval(rhs, scope)?)?,
            ));
        }
        BinOp::Or => {
            return Ok(Value::Bool(
                truth(&eval(lhs, scope)?)? || truth(&eval(rhs, scope)?)?,
            ));
        }
        _ => {}
    }
    let (l, r) = (eval(lhs, scope)?, eval(rhs, scope)?);
    let order = || -> Result<std::cmp::Ordering, EvalError> {
        match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => Ok(a.cmp(b)),
            (Value::Duration(a), Value::Duration(b)) => Ok(a.cmp(b)),
            (Value::Str(a), Value::Str(b)) => Ok(a.cmp(b)),
            _ => Err(EvalError::Invalid(format!(
                "cannot order `{}` and `{}`",
                l.text(),
                r.text()
            ))),
        }
    };
    Ok(Value::Bool(match op {
        BinOp::Eq => l == r,
        BinOp::Ne => l != r,
        BinOp::Lt => order()?.is_lt(),
        BinOp::Le => order()?.is_le(),
        BinOp::Gt => order()?.is_gt(),
        BinOp::Ge => order()?.is_ge(),
        BinOp::In => match &r {
            Value::List(items) => items.contains(&l),
            other => {
                return Err(EvalError::Invalid(format!(
                    "`in` needs a list, found `{}`",
                    other.text()
                )));
            }
        },
        BinOp::Matches => {
            let pattern = r.text();
            let m = crate::patterns::glob(&pattern).map_err(EvalError::Invalid)?;
            m.is_match(l.text())
        }
        BinOp::And | BinOp::Or => unreachable!("handled above"),
    }))
}

fn call(func: &str, args: &[Expr], scope: &dyn Scope) -> Result<Value, EvalError> {
    let v: Vec<Value> = args
        .iter()
        .map(|a| eval(a, scope))
        .collect::<Result<_, _>>()?;
    let s = |i: usize| v.get(i).map(Value::text).unwrap_or_default();
    Ok(match (func, v.as_slice()) {
        ("contains", [Value::List(items), x]) => Value::Bool(items.contains(x)),
        ("contains", [a, b]) => Value::Bool(a.text().contains(&b.text())),
        ("starts_with", _) => Value::Bool(s(0).starts_with(&s(1))),
        ("ends_with", _) => Value::Bool(s(0).ends_with(&s(1))),
        ("len", [Value::List(items)]) => length(items.len()),
        ("len", [Value::Map(m)]) => length(m.len()),
        ("len", [x]) => length(x.text().chars().count()),
        ("join", [Value::List(items), sep]) => Value::Str(
            items
                .iter()
                .map(Value::text)
                .collect::<Vec<_>>()
                .join(&sep.text()),
        ),
        ("lower", _) => Value::Str(s(0).to_lowercase()),
        ("upper", _) => Value::Str(s(0).to_uppercase()),
        ("regex", _) => {
            let re = regex::Regex::new(&s(1)).map_err(|e| EvalError::Invalid(e.to_string()))?;
            Value::Bool(re.is_match(&s(0)))
        }
        ("env", _) => Value::Str(
            scope
                .env_var(&s(0))
                .ok_or_else(|| EvalError::Unknown(format!("env(\"{}\")", s(0))))?,
        ),
        ("file", _) => Value::Str(scope.read_file(&s(0)).map_err(EvalError::Invalid)?),
        _ => {
            return Err(EvalError::Invalid(format!(
                "cannot call `{func}` with these arguments"
            )));
        }
    })
}

fn length(n: usize) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A plain string with interpolations: each value's text inserted as is.
fn render_text(parts: &[Part], scope: &dyn Scope) -> Result<String, EvalError> {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Expr(e) => out.push_str(&eval(e, scope)?.text()),
        }
    }
    Ok(out)
}

/// A rendered script: its text, and the environment variables its interpolations refer to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub args: Vec<(String, String)>,
}

/// A script for a POSIX shell. Interpolated data never enters the script's text: each value
/// goes into an environment variable (`PIPEC_ARG_N`; a list's elements into
/// `PIPEC_ARG_N_K`), and the text refers to it as one quoted word per value — closing and
/// reopening the script's own quotes around it, or without quotes where the shell does not
/// split (inside `"…"`, in a here-document). The shell expands a variable once and never
/// parses its value, so whatever the value holds is data, in every context.
pub fn render_script(parts: &[Part], scope: &dyn Scope) -> Result<Script, EvalError> {
    let mut text = String::new();
    let mut args = Vec::new();
    let mut quotes = QuoteTracker::new();
    let mut n = 0;
    for (at, p) in parts.iter().enumerate() {
        match p {
            Part::Text(t) => {
                quotes.feed(t);
                text.push_str(t);
            }
            Part::Expr(e) => {
                n += 1;
                let value = eval(e, scope)?;
                // Where bash evaluates text as an arithmetic expression, a string could run
                // commands (`a[$(…)]`): only numbers go there.
                let numeric = match &value {
                    Value::Int(_) => true,
                    Value::List(items) => items.iter().all(|i| matches!(i, Value::Int(_))),
                    _ => false,
                };
                let arithmetic = crate::shell::evaluates_arithmetic(&quotes, || around(parts, at));
                if arithmetic && !numeric {
                    return Err(EvalError::Invalid(
                        "`${…}` of a value that is not an `int` stands where bash evaluates arithmetic (`$((…))`, `((…))`, a subscript, `[[ … -eq … ]]`, `let`, `declare -i`), which can run commands hidden in the value: use an `int` param, or pass the value in `env` and check it is a number first".into(),
                    ));
                }
                let names: Vec<String> = match value {
                    Value::List(items) => items
                        .iter()
                        .enumerate()
                        .map(|(k, item)| {
                            let name = format!("PIPEC_ARG_{n}_{k}");
                            args.push((name.clone(), item.text()));
                            name
                        })
                        .collect(),
                    other => {
                        let name = format!("PIPEC_ARG_{n}");
                        args.push((name.clone(), other.text()));
                        vec![name]
                    }
                };
                let words = names
                    .iter()
                    .map(|v| format!("\"${{{v}}}\""))
                    .collect::<Vec<_>>()
                    .join(" ");
                let bare = names
                    .iter()
                    .map(|v| format!("${{{v}}}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let Some(reference) =
                    crate::shell::reference(quotes.quote(), &words, &bare, names.len() > 1)
                else {
                    return Err(EvalError::Invalid(
                        "`${…}` stands in a here-document with a quoted delimiter (`<<'EOF'`), where nothing expands; quote the delimiter's word no more (`<<EOF`) or pass the value in `env`".into(),
                    ));
                };
                text.push_str(&reference);
                quotes.value();
            }
        }
    }
    Ok(Script { text, args })
}

/// The script's text before and after interpolation `at`, other interpolations as `\u{1}`.
fn around(parts: &[Part], at: usize) -> (String, String) {
    let flat = |ps: &[Part]| {
        ps.iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Expr(_) => "\u{1}",
            })
            .collect::<String>()
    };
    (flat(&parts[..at]), flat(&parts[at + 1..]))
}

/// The same script for a shell that is not a POSIX shell: interpolation would have to put
/// data into code, so it is refused.
pub fn refuse_interpolation(parts: &[Part], shell: &str) -> Result<String, EvalError> {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Expr(_) => {
                return Err(EvalError::Invalid(format!(
                    "`${{…}}` in `run` needs a POSIX shell (sh, bash, dash, zsh, ksh), not `{shell}`: pass the value in `env` and read it from the environment"
                )));
            }
        }
    }
    Ok(out)
}

/// Whether `shell` (a name or path) is a POSIX shell.
pub fn is_posix_shell(shell: &str) -> bool {
    let name = shell.rsplit('/').next().unwrap_or(shell);
    matches!(
        name,
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash" | "busybox"
    )
}

#[cfg(test)]
mod tests;
