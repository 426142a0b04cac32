//! Expressions as CodePipeline sees them: text with `#{NAMESPACE.VARIABLE}` references
//! (resolved by CodePipeline when an action starts), and `require` expressions as
//! `VariableCheck` rules.
//!
//! A param is `#{variables.NAME}`; an export `#{STAGE_ACTION.NAME}` (the producer's
//! namespace); `git`'s `commit` and `branch` its source's `CommitId` and `BranchName`;
//! `run.id` the execution id; `run.branch` and `run.commit` the repository source's
//! variables (a `CodeStar` connection only); `run.trigger` the variable `PIPEC_TRIGGER`, which
//! schedules set (only without push and pull request triggers, whose runs cannot set it).
//! What is computed at run time (functions, operators, lists outside scripts, `run.tag`,
//! `run.attempt`, a stage's status outside scripts) has no such form: E0502.

use super::{Cx, namespace};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, BinOp, Expr, Kind, Part, Ref, Type};

/// The name of the pipeline variable that says what started a run.
pub(super) const TRIGGER_VAR: &str = "PIPEC_TRIGGER";

/// `expr` as CodePipeline text (`None` after reporting why it has none).
pub(super) fn text(cx: &mut Cx<'_>, e: &Expr, at: ir::Span) -> Option<String> {
    match e {
        Expr::Str { value } => literal(cx, value, at),
        Expr::Int { value } => Some(value.to_string()),
        Expr::Bool { value } => Some(value.to_string()),
        Expr::Duration { secs } => Some(crate::duration::format(*secs)),
        Expr::Interp { parts, .. } => {
            let mut out = String::new();
            let mut ok = true;
            for p in parts {
                match p {
                    Part::Text(t) => ok &= literal(cx, t, at).map(|t| out.push_str(&t)).is_some(),
                    Part::Expr(x) => ok &= text(cx, x, at).map(|t| out.push_str(&t)).is_some(),
                }
            }
            ok.then_some(out)
        }
        Expr::Ref(r) => reference(cx, r, at),
        _ => {
            computed(cx, at, &describe(e));
            None
        }
    }
}

fn literal(cx: &mut Cx<'_>, s: &str, at: ir::Span) -> Option<String> {
    if s.contains("#{") {
        cx.refuse(
            Code::E0501,
            at,
            "text with `#{` in a value CodePipeline resolves",
            "CodePipeline would read `#{…}` as a variable",
            "write the `#` and the `{` apart, or pass the text through a script",
        );
        return None;
    }
    Some(s.to_string())
}

/// A reference as `#{NAMESPACE.VARIABLE}`.
pub(super) fn reference(cx: &mut Cx<'_>, r: &Ref, at: ir::Span) -> Option<String> {
    match r {
        Ref::Param { name } => {
            if cx
                .param_decl(name)
                .is_some_and(|p| matches!(p.ty, Type::List(_) | Type::Map(_)))
            {
                cx.refuse(
                    Code::E0502,
                    at,
                    format!("the list `params.{name}` used where CodePipeline needs text"),
                    "CodePipeline variables are text",
                    "use the list in a script (`run`), where it expands to one word per element",
                );
                return None;
            }
            Some(format!("#{{variables.{name}}}"))
        }
        Ref::Export {
            stage,
            action,
            name,
        } => {
            let producer = cx.action(stage, action);
            let var = match (producer.map(|a| a.kind), name.as_str()) {
                (Some(Kind::Git), "commit") => "CommitId",
                (Some(Kind::Git), "branch") => "BranchName",
                _ => name,
            };
            let ns = producer
                .and_then(super::aws::namespace_of)
                .map_or_else(|| namespace(stage, action), str::to_string);
            Some(format!("#{{{ns}.{var}}}"))
        }
        Ref::Run { field } => run_field(cx, field, at),
        Ref::StageStatus { stage } => {
            computed(cx, at, &format!("`{stage}.status`"));
            None
        }
        Ref::Secret { .. } | Ref::TemplateParam { .. } => {
            computed(cx, at, "this reference");
            None
        }
    }
}

fn run_field(cx: &mut Cx<'_>, field: &str, at: ir::Span) -> Option<String> {
    match field {
        "id" => Some("#{codepipeline.PipelineExecutionId}".into()),
        "branch" | "commit" => {
            let var = if field == "branch" {
                "BranchName"
            } else {
                "CommitId"
            };
            match cx.repo.clone() {
                Some(repo) if repo.git => Some(format!("#{{{}.{var}}}", repo.namespace)),
                _ => {
                    cx.refuse(
                        Code::E0502,
                        at,
                        format!("`run.{field}` on a pipeline without a repository source"),
                        "CodePipeline knows a run's branch and commit from a CodeStar connection source",
                        "add a `trigger push { … }` (the `dir` sources then come from the repository through a CodeStar connection), or read it from a `git` action's exports",
                    );
                    None
                }
            }
        }
        "trigger" => {
            if cx.git_triggers() {
                cx.refuse(
                    Code::E0502,
                    at,
                    "`run.trigger` in a pipeline with push or pull request triggers",
                    "CodePipeline does not tell a run what started it",
                    "pipec maps `run.trigger` to a variable that schedules set; runs started by a push cannot set it: compare something else (`run.branch`, a param)",
                );
                return None;
            }
            cx.trigger_var = true;
            Some(format!("#{{variables.{TRIGGER_VAR}}}"))
        }
        _ => {
            computed(cx, at, &format!("`run.{field}`"));
            None
        }
    }
}

fn computed(cx: &mut Cx<'_>, at: ir::Span, what: &str) {
    cx.refuse(
        Code::E0502,
        at,
        format!("{what} has no value CodePipeline can substitute"),
        "computed at run time",
        "CodePipeline substitutes variables only (`#{NS.VAR}`): compute the value in a script and export it, or use a param",
    );
}

/// A few words for an expression in a message.
fn describe(e: &Expr) -> String {
    match e {
        Expr::Call { func, .. } => format!("`{func}(…)`"),
        Expr::Binary { op, .. } => format!("`{}`", op.text()),
        Expr::Not { .. } => "`!`".into(),
        Expr::List { .. } => "a list".into(),
        Expr::Map { .. } => "a map".into(),
        _ => "this value".into(),
    }
}

/// A `VariableCheck` rule's parts: (variable, operator, value).
pub(super) type Check = (String, &'static str, String);

/// A `require` expression (or a guard) as `VariableCheck` rules, all of which must hold.
pub(super) fn checks(cx: &mut Cx<'_>, e: &Expr, at: ir::Span) -> Option<Vec<Check>> {
    match e {
        Expr::Binary {
            op: BinOp::And,
            lhs,
            rhs,
        } => {
            let l = checks(cx, lhs, at);
            let r = checks(cx, rhs, at);
            Some([l?, r?].concat())
        }
        Expr::Binary {
            op: op @ (BinOp::Eq | BinOp::Ne),
            lhs,
            rhs,
        } => {
            let code = if *op == BinOp::Eq { "EQ" } else { "NE" };
            compare(cx, lhs, rhs, code, at).map(|c| vec![c])
        }
        Expr::Binary {
            op: BinOp::In,
            lhs,
            rhs,
        } => match &**rhs {
            Expr::List { items } => {
                let var = variable(cx, lhs, at)?;
                let words: Option<Vec<String>> = items.iter().map(constant).collect();
                let Some(words) = words else {
                    return unsupported(cx, at, "`in` a list of computed values");
                };
                let alternatives: Vec<String> = words.iter().map(|w| java_quote(w)).collect();
                Some(vec![(
                    var,
                    "MATCHES",
                    format!("^(?:{})$", alternatives.join("|")),
                )])
            }
            _ => unsupported(cx, at, "`in` a list that is not written out"),
        },
        Expr::Not { operand } => match &**operand {
            Expr::Binary {
                op: op @ (BinOp::Eq | BinOp::Ne),
                lhs,
                rhs,
            } => {
                let code = if *op == BinOp::Eq { "NE" } else { "EQ" };
                compare(cx, lhs, rhs, code, at).map(|c| vec![c])
            }
            Expr::Ref(_) => Some(vec![(variable(cx, operand, at)?, "EQ", "false".into())]),
            _ => unsupported(cx, at, "`!` of this expression"),
        },
        Expr::Ref(_) => Some(vec![(variable(cx, e, at)?, "EQ", "true".into())]),
        Expr::Bool { value: true } => Some(Vec::new()),
        Expr::Call { func, args }
            if args.len() == 2
                && ["contains", "starts_with", "ends_with"].contains(&func.as_str()) =>
        {
            let var = variable(cx, &args[0], at)?;
            let Some(word) = constant(&args[1]) else {
                return unsupported(cx, at, &format!("`{func}` of a computed value"));
            };
            Some(vec![match func.as_str() {
                "contains" => (var, "CONTAINS", word),
                "starts_with" => (var, "MATCHES", format!("^{}[\\s\\S]*$", java_quote(&word))),
                _ => (var, "MATCHES", format!("^[\\s\\S]*{}$", java_quote(&word))),
            }])
        }
        _ => unsupported(cx, at, &describe(e)),
    }
}

fn unsupported<T>(cx: &mut Cx<'_>, at: ir::Span, what: &str) -> Option<T> {
    cx.refuse(
        Code::E0502,
        at,
        format!("{what} has no CodePipeline rule"),
        "no `VariableCheck` rule says this",
        "CodePipeline checks a variable against a written value (`==`, `!=`, `contains`, `starts_with`, `ends_with`, `in [...]`), and every rule of a condition must hold: split `||` into stages, or compute the answer in a script and export it",
    );
    None
}

/// `a == b` as a rule: one side a variable, the other written out.
fn compare(
    cx: &mut Cx<'_>,
    lhs: &Expr,
    rhs: &Expr,
    op: &'static str,
    at: ir::Span,
) -> Option<Check> {
    let (var, value) = match (constant(lhs), constant(rhs)) {
        (None, Some(v)) => (lhs, v),
        (Some(v), None) => (rhs, v),
        _ => return unsupported(cx, at, "a comparison of two computed values"),
    };
    let variable = variable(cx, var, at)?;
    // A rule's value has at least one character: compare with empty text by a pattern.
    Some(match (op, value.is_empty()) {
        ("EQ", true) => (variable, "MATCHES", "^$".into()),
        (_, true) => (variable, "MATCHES", "^[\\s\\S]+$".into()),
        _ => (variable, op, value),
    })
}

/// A reference as a rule's variable.
fn variable(cx: &mut Cx<'_>, e: &Expr, at: ir::Span) -> Option<String> {
    match e {
        Expr::Ref(r) => reference(cx, r, at),
        _ => unsupported(cx, at, &describe(e)),
    }
}

/// The text of a constant.
fn constant(e: &Expr) -> Option<String> {
    match e {
        Expr::Str { value } => Some(value.clone()),
        Expr::Int { value } => Some(value.to_string()),
        Expr::Bool { value } => Some(value.to_string()),
        Expr::Duration { secs } => Some(crate::duration::format(*secs)),
        Expr::Interp { parts, .. } if parts.iter().all(|p| matches!(p, Part::Text(_))) => Some(
            parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.as_str(),
                    Part::Expr(_) => "",
                })
                .collect(),
        ),
        _ => None,
    }
}

/// `s` matched literally by a Java regular expression.
pub(super) fn java_quote(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.[]{}()*+?^$|-&~#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `VariableCheck` rule.
pub(super) fn rule(name: &str, (variable, op, value): &Check) -> Node {
    Node::map([
        ("Name", Node::str(name)),
        ("RuleTypeId", rule_type("VariableCheck")),
        (
            "Configuration",
            Node::map([
                ("Variable", Node::str(variable)),
                ("Operator", Node::str(*op)),
                ("Value", Node::str(value)),
            ]),
        ),
    ])
}

pub(super) fn rule_type(provider: &str) -> Node {
    Node::map([
        ("Category", Node::str("Rule")),
        ("Owner", Node::str("AWS")),
        ("Provider", Node::str(provider)),
        ("Version", Node::str("1")),
    ])
}
