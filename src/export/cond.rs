//! Conditions over params decided by the engine before a stage runs: GitLab's `rules:` and
//! Argo's `when:` (both `==`, `!=`, `&&`, `||` and parentheses over text). A condition on
//! anything else (exports, statuses, computations) has no such form: `None`, and the target
//! reports `E0502`.

use crate::ir::{BinOp, Expr, Ref, Type};

/// A condition known before the stage runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    True,
    False,
    /// An expression of the target.
    Text(String),
}

impl Cond {
    pub(crate) fn and(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::False, _) | (_, Cond::False) => Cond::False,
            (Cond::True, c) | (c, Cond::True) => c,
            (Cond::Text(a), Cond::Text(b)) => Cond::Text(format!("({a}) && ({b})")),
        }
    }

    pub(crate) fn or(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (Cond::False, c) | (c, Cond::False) => c,
            (Cond::Text(a), Cond::Text(b)) => Cond::Text(format!("({a}) || ({b})")),
        }
    }
}

/// Whose expressions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `$PIPEC_PARAM_NAME == "text"`.
    GitLab,
    /// `'{{workflow.parameters.NAME}}' == 'text'` (govaluate after substitution; the values
    /// are checked to hold no quote before any stage runs).
    Argo,
}

impl Dialect {
    fn param(self, name: &str) -> String {
        match self {
            Dialect::GitLab => format!("$PIPEC_PARAM_{name}"),
            Dialect::Argo => format!("'{{{{workflow.parameters.{name}}}}}'"),
        }
    }

    /// A string literal (`None` where it would need escapes).
    fn lit(self, s: &str) -> Option<String> {
        match self {
            Dialect::GitLab => (!s.contains(['"', '\\', '$'])).then(|| format!("\"{s}\"")),
            Dialect::Argo => (!s.contains(['\'', '\\', '{', '}'])).then(|| format!("'{s}'")),
        }
    }
}

/// `e` (negated with `neg`) in dialect `d`; `ty` gives a param's type.
pub(crate) fn cond(
    e: &Expr,
    neg: bool,
    d: Dialect,
    ty: &dyn Fn(&str) -> Option<Type>,
) -> Option<Cond> {
    match e {
        Expr::Bool { value } => Some(if *value == neg {
            Cond::False
        } else {
            Cond::True
        }),
        Expr::Not { operand } => cond(operand, !neg, d, ty),
        Expr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            lhs,
            rhs,
        } => {
            let l = cond(lhs, neg, d, ty)?;
            let r = cond(rhs, neg, d, ty)?;
            // De Morgan under a negation.
            Some(if (*op == BinOp::And) == neg {
                l.or(r)
            } else {
                l.and(r)
            })
        }
        Expr::Ref(Ref::Param { name }) if ty(name) == Some(Type::Bool) => {
            let op = if neg { "!=" } else { "==" };
            Some(Cond::Text(format!(
                "{} {op} {}",
                d.param(name),
                d.lit("true")?
            )))
        }
        Expr::Binary { op, lhs, rhs } if matches!(op, BinOp::Eq | BinOp::Ne) => {
            if let (Expr::Ref(Ref::Run { field }), v) | (v, Expr::Ref(Ref::Run { field })) =
                (&**lhs, &**rhs)
            {
                return run(d, field, &constant(v)?, (*op == BinOp::Eq) != neg);
            }
            let (name, value) = match (&**lhs, &**rhs) {
                (Expr::Ref(Ref::Param { name }), v) | (v, Expr::Ref(Ref::Param { name })) => {
                    (name, constant(v)?)
                }
                _ => return None,
            };
            let eq = (*op == BinOp::Eq) != neg;
            let op = if eq { "==" } else { "!=" };
            Some(Cond::Text(format!(
                "{} {op} {}",
                d.param(name),
                d.lit(&value)?
            )))
        }
        Expr::Binary {
            op: BinOp::In,
            lhs,
            rhs,
        } => {
            let (Expr::Ref(Ref::Param { name }), Expr::List { items }) = (&**lhs, &**rhs) else {
                return None;
            };
            let mut out = if neg { Cond::True } else { Cond::False };
            for i in items {
                let v = d.lit(&constant(i)?)?;
                let op = if neg { "!=" } else { "==" };
                let one = Cond::Text(format!("{} {op} {v}", d.param(name)));
                out = if neg { out.and(one) } else { out.or(one) };
            }
            Some(out)
        }
        _ => None,
    }
}

/// `run.FIELD == value` (`!=` unless `eq`) from the variables GitLab sets when it creates
/// the pipeline; Argo knows none of them.
fn run(d: Dialect, field: &str, value: &str, eq: bool) -> Option<Cond> {
    if d != Dialect::GitLab || value.is_empty() {
        return None;
    }
    let lit = d.lit(value)?;
    let is = if eq { "==" } else { "!=" };
    let all = |vars: &[&str], op: &str, join: fn(Cond, Cond) -> Cond, start: Cond| {
        vars.iter().fold(start, |acc, v| {
            join(acc, Cond::Text(format!("${v} {op} {lit}")))
        })
    };
    Some(match field {
        // A branch pipeline sets the first, a merge request pipeline the second.
        "branch" => {
            let vars = ["CI_COMMIT_BRANCH", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"];
            if eq {
                all(&vars, is, Cond::or, Cond::False)
            } else {
                all(&vars, is, Cond::and, Cond::True)
            }
        }
        "tag" => Cond::Text(format!("$CI_COMMIT_TAG {is} {lit}")),
        "trigger" => {
            const SOURCES: [(&str, &str); 3] = [
                ("push", "push"),
                ("pull_request", "merge_request_event"),
                ("schedule", "schedule"),
            ];
            let source =
                |s: &str, op: &str| Cond::Text(format!("$CI_PIPELINE_SOURCE {op} \"{s}\""));
            if let Some((_, s)) = SOURCES.iter().find(|(w, _)| *w == value) {
                source(s, is)
            } else if value == "manual" {
                // Every other source starts what pipec calls a manual run.
                let each = SOURCES
                    .iter()
                    .map(|(_, s)| source(s, if eq { "!=" } else { "==" }));
                if eq {
                    each.fold(Cond::True, Cond::and)
                } else {
                    each.fold(Cond::False, Cond::or)
                }
            } else if eq {
                Cond::False
            } else {
                Cond::True
            }
        }
        _ => return None,
    })
}

fn constant(e: &Expr) -> Option<String> {
    match e {
        Expr::Str { value } => Some(value.clone()),
        Expr::Int { value } => Some(value.to_string()),
        Expr::Bool { value } => Some(value.to_string()),
        _ => None,
    }
}
