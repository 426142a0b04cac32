//! IR expressions written back in `.pipe` syntax (for reasons, plans and graphs).

use super::{Expr, Part, Ref};

/// An expression written back in `.pipe` syntax, for reasons.
pub fn describe(e: &Expr) -> String {
    match e {
        Expr::Str { value } => format!("{value:?}"),
        Expr::Int { value } => value.to_string(),
        Expr::Bool { value } => value.to_string(),
        Expr::Duration { secs } => crate::duration::format(*secs),
        Expr::List { items } => format!(
            "[{}]",
            items.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Expr::Map { entries } => {
            format!(
                "{{ {} }}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", describe(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Expr::Interp { parts, .. } => {
            let inner: String = parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.clone(),
                    Part::Expr(x) => format!("${{{}}}", describe(x)),
                })
                .collect();
            format!("{inner:?}")
        }
        Expr::Ref(r) => match r {
            Ref::Param { name } => format!("params.{name}"),
            Ref::Secret { name } => format!("secrets.{name}"),
            Ref::Export {
                stage,
                action,
                name,
            } => format!("{stage}.{action}.{name}"),
            Ref::Run { field } => format!("run.{field}"),
            Ref::StageStatus { stage } => format!("{stage}.status"),
            Ref::TemplateParam { name } => name.clone(),
        },
        Expr::Not { operand } => format!("!{}", describe(operand)),
        Expr::Binary { op, lhs, rhs } => {
            format!("{} {} {}", describe(lhs), op.text(), describe(rhs))
        }
        Expr::Call { func, args } => format!(
            "{func}({})",
            args.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
    }
}
