//! An action's `when`, decided by the shell of the job (GitLab) or container (Argo) that runs
//! the stage when the action would start, as `pipec run` decides it — where the engine's own
//! conditions (GitLab's `rules:`, Argo's task `when`) include or leave out a whole stage.
//!
//! Input: the `when` expression and the target's [`Words`] (how a value is read); output: a
//! POSIX shell command list that succeeds when the condition holds. Operands are the target's
//! bash words, so no value is written into the script: `[ "${PIPEC_PARAM_env-}" = 'prod' ]`.
//! `==`/`!=` compare text (ints with `-eq`), `<`… ints, `in` a written-out list,
//! `contains`/`starts_with`/`ends_with` text through `case` patterns (a quoted word in a
//! pattern is matched literally).
//!
//! Limits: `matches` (pipec's globs are not the shell's), `regex`, `len`, lists read from
//! params, and what the target cannot read are `E0502`.

use super::cx::{Cx, Report as _};
use crate::diagnostics::Code;
use crate::ir::{BinOp, Expr, Ref, Type};

/// How a target reads values in its shell, for the action at [`Words::at`].
pub(crate) trait Words<'a> {
    /// A bash word with the value of `e`, or `None` once the target reported why not.
    fn word(&mut self, e: &Expr) -> Option<String>;
    /// The type of param `name`.
    fn param_type(&self, name: &str) -> Option<Type>;
    /// The exporter's context (where refusals go).
    fn cx(&mut self) -> &mut Cx<'a>;
    /// The action whose values are read.
    fn at(&self) -> crate::ir::Span;
    /// What decides an action's `when` on the target (`the job's shell`).
    fn shell(&self) -> &'static str;

    /// Reports (`E0502`) that `what` cannot be decided by the shell.
    fn cant(&mut self, what: &str) {
        let (at, shell) = (self.at(), self.shell());
        let cx = self.cx();
        let target = cx.target;
        cx.refuse(
            Code::E0502,
            at,
            format!("{what} in the `when` of an action on {target}"),
            format!("{shell} cannot decide it"),
            "compute it in the script of an earlier action, and pass it on as an export",
        );
    }
}

/// `item` (a shell command) run only when the action's `when` holds, else a line saying it
/// was skipped; `item` itself when the action has no `when`.
pub(crate) fn guarded(
    w: &mut dyn Words<'_>,
    stage: &crate::ir::Stage,
    a: &crate::ir::Action,
    item: String,
) -> Option<String> {
    let Some(when) = &a.when else {
        return Some(item);
    };
    let test = test(w, when)?;
    Some(format!(
        "if {test}; then\n{item}\nelse echo 'pipec: `{}.{}` skipped: its `when` is false'; fi",
        stage.name, a.name
    ))
}

/// A command list that succeeds when `e` holds.
pub(crate) fn test(w: &mut dyn Words<'_>, e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Bool { value } => (if *value { "true" } else { "false" }).to_string(),
        Expr::Not { operand } => format!("! {{ {}; }}", test(w, operand)?),
        Expr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            lhs,
            rhs,
        } => {
            let l = test(w, lhs)?;
            let r = test(w, rhs)?;
            let op = if *op == BinOp::And { "&&" } else { "||" };
            format!("{{ {{ {l}; }} {op} {{ {r}; }}; }}")
        }
        Expr::Binary {
            op: BinOp::In,
            lhs,
            rhs,
        } => {
            let Expr::List { items } = &**rhs else {
                return cant(w, "`in` a list that is not written out");
            };
            let x = w.word(lhs)?;
            let mut alts = Vec::new();
            for i in items {
                alts.push(w.word(i)?);
            }
            if alts.is_empty() {
                "false".to_string()
            } else {
                format!("case {x} in {}) true ;; *) false ;; esac", alts.join("|"))
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let ints = is_int(w, lhs) && is_int(w, rhs);
            let op = match (op, ints) {
                (BinOp::Eq, false) => "=",
                (BinOp::Ne, false) => "!=",
                (BinOp::Eq, true) => "-eq",
                (BinOp::Ne, true) => "-ne",
                (BinOp::Lt, true) => "-lt",
                (BinOp::Le, true) => "-le",
                (BinOp::Gt, true) => "-gt",
                (BinOp::Ge, true) => "-ge",
                (other, _) => return cant(w, &format!("`{}` here", other.text())),
            };
            let l = w.word(lhs)?;
            let r = w.word(rhs)?;
            format!("[ {l} {op} {r} ]")
        }
        Expr::Call { func, args } => call(w, func, args)?,
        Expr::Ref(_) => format!("[ {} = true ]", w.word(e)?),
        _ => return cant(w, "this condition"),
    })
}

fn call(w: &mut dyn Words<'_>, func: &str, args: &[Expr]) -> Option<String> {
    let [text, part] = args else {
        return cant(w, &format!("`{func}(…)`"));
    };
    if let ("contains", Expr::List { items }) = (func, text) {
        let eq = Expr::Binary {
            op: BinOp::In,
            lhs: Box::new(part.clone()),
            rhs: Box::new(Expr::List {
                items: items.clone(),
            }),
        };
        return test(w, &eq);
    }
    if is_list(w, text) {
        return cant(w, &format!("`{func}(…)` of a list param"));
    }
    let (hay, needle) = (w.word(text)?, w.word(part)?);
    let pattern = match func {
        "contains" => format!("*{needle}*"),
        "starts_with" => format!("{needle}*"),
        "ends_with" => format!("*{needle}"),
        other => return cant(w, &format!("`{other}(…)`")),
    };
    Some(format!("case {hay} in {pattern}) true ;; *) false ;; esac"))
}

fn is_int(w: &dyn Words<'_>, e: &Expr) -> bool {
    match e {
        Expr::Int { .. } => true,
        Expr::Ref(Ref::Param { name }) => w.param_type(name) == Some(Type::Int),
        _ => false,
    }
}

fn is_list(w: &dyn Words<'_>, e: &Expr) -> bool {
    match e {
        Expr::List { .. } => true,
        Expr::Ref(Ref::Param { name }) => matches!(w.param_type(name), Some(Type::List(_))),
        _ => false,
    }
}

fn cant(w: &mut dyn Words<'_>, what: &str) -> Option<String> {
    w.cant(what);
    None
}
