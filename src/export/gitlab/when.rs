//! An action's `when`, decided by the job's shell when the action would start (as `pipec run`
//! decides it), not by GitLab's `rules:` (which include or leave out a whole job).
//!
//! Input: the `when` expression; output: a POSIX shell command list that succeeds when the
//! condition holds. Its operands are the bash words of [`values`], so no value is written
//! into the script: `[ "${PIPEC_PARAM_env-}" = 'prod' ]`. `==`/`!=` compare text (ints with
//! `-eq`), `<`… ints, `in` a written-out list, `contains`/`starts_with`/`ends_with` text.
//!
//! Limits: `matches` (pipec's globs are not the shell's), `regex`, `len`, lists read from
//! params, and what [`values`] refuses are `E0502`.

use super::Cx;
use super::values;
use crate::diagnostics::Code;
use crate::ir::{self, BinOp, Expr, Ref, Type};

/// A command list that succeeds when `e` holds; the stages it reads go to `needs`.
pub(super) fn test(
    cx: &mut Cx<'_>,
    e: &Expr,
    needs: &mut Vec<String>,
    at: ir::Span,
) -> Option<String> {
    Some(match e {
        Expr::Bool { value } => (if *value { "true" } else { "false" }).to_string(),
        Expr::Not { operand } => format!("! {{ {}; }}", test(cx, operand, needs, at)?),
        Expr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            lhs,
            rhs,
        } => {
            let l = test(cx, lhs, needs, at)?;
            let r = test(cx, rhs, needs, at)?;
            let op = if *op == BinOp::And { "&&" } else { "||" };
            format!("{{ {{ {l}; }} {op} {{ {r}; }}; }}")
        }
        Expr::Binary {
            op: BinOp::In,
            lhs,
            rhs,
        } => {
            let Expr::List { items } = &**rhs else {
                return cant(cx, at, "`in` a list that is not written out");
            };
            let w = values::word(cx, lhs, needs, at)?;
            let mut alts = Vec::new();
            for i in items {
                alts.push(values::word(cx, i, needs, at)?);
            }
            if alts.is_empty() {
                "false".to_string()
            } else {
                format!("case {w} in {}) true ;; *) false ;; esac", alts.join("|"))
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let ints = is_int(cx, lhs) && is_int(cx, rhs);
            let op = match (op, ints) {
                (BinOp::Eq, false) => "=",
                (BinOp::Ne, false) => "!=",
                (BinOp::Eq, true) => "-eq",
                (BinOp::Ne, true) => "-ne",
                (BinOp::Lt, true) => "-lt",
                (BinOp::Le, true) => "-le",
                (BinOp::Gt, true) => "-gt",
                (BinOp::Ge, true) => "-ge",
                (other, _) => return cant(cx, at, &format!("`{}` here", other.text())),
            };
            let l = values::word(cx, lhs, needs, at)?;
            let r = values::word(cx, rhs, needs, at)?;
            format!("[ {l} {op} {r} ]")
        }
        Expr::Call { func, args } => call(cx, func, args, needs, at)?,
        Expr::Ref(_) => format!("[ {} = true ]", values::word(cx, e, needs, at)?),
        _ => return cant(cx, at, "this condition"),
    })
}

fn call(
    cx: &mut Cx<'_>,
    func: &str,
    args: &[Expr],
    needs: &mut Vec<String>,
    at: ir::Span,
) -> Option<String> {
    let [a, b] = args else {
        return cant(cx, at, &format!("`{func}(…)`"));
    };
    if let ("contains", Expr::List { items }) = (func, a) {
        let eq = Expr::Binary {
            op: BinOp::In,
            lhs: Box::new(b.clone()),
            rhs: Box::new(Expr::List {
                items: items.clone(),
            }),
        };
        return test(cx, &eq, needs, at);
    }
    if is_list(cx, a) {
        return cant(cx, at, &format!("`{func}(…)` of a list param"));
    }
    let (x, y) = (
        values::word(cx, a, needs, at)?,
        values::word(cx, b, needs, at)?,
    );
    let pattern = match func {
        "contains" => format!("*{y}*"),
        "starts_with" => format!("{y}*"),
        "ends_with" => format!("*{y}"),
        other => return cant(cx, at, &format!("`{other}(…)`")),
    };
    Some(format!("case {x} in {pattern}) true ;; *) false ;; esac"))
}

fn is_int(cx: &Cx<'_>, e: &Expr) -> bool {
    match e {
        Expr::Int { .. } => true,
        Expr::Ref(Ref::Param { name }) => cx.param_type(name) == Some(&Type::Int),
        _ => false,
    }
}

fn is_list(cx: &Cx<'_>, e: &Expr) -> bool {
    match e {
        Expr::List { .. } => true,
        Expr::Ref(Ref::Param { name }) => matches!(cx.param_type(name), Some(Type::List(_))),
        _ => false,
    }
}

fn cant(cx: &mut Cx<'_>, at: ir::Span, what: &str) -> Option<String> {
    cx.refuse(
        Code::E0502,
        at,
        format!("{what} in the `when` of an action on GitLab CI"),
        "the job's shell cannot decide it",
        "compute it in the script of an earlier action, and pass it on as an export",
    );
    None
}
