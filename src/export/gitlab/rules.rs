//! Conditions GitLab decides when it creates a pipeline: `workflow: rules:` for triggers,
//! and job `rules:` for the stage graph's guards and entry conditions — over params only
//! (`$PIPEC_PARAM_NAME`), since exports and statuses do not exist yet then (`E0502`).

use super::Cx;
use crate::diagnostics::Code;
use crate::ir::{self, BinOp, Expr, Ref, TriggerKind, Type};

/// A condition known when the pipeline is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Cond {
    True,
    False,
    /// A GitLab rules expression.
    Text(String),
}

impl Cond {
    pub(super) fn and(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::False, _) | (_, Cond::False) => Cond::False,
            (Cond::True, c) | (c, Cond::True) => c,
            (Cond::Text(a), Cond::Text(b)) => Cond::Text(format!("({a}) && ({b})")),
        }
    }

    pub(super) fn or(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (Cond::False, c) | (c, Cond::False) => c,
            (Cond::Text(a), Cond::Text(b)) => Cond::Text(format!("({a}) || ({b})")),
        }
    }
}

/// The variable of a param.
pub(super) fn param_var(name: &str) -> String {
    format!("PIPEC_PARAM_{name}")
}

/// A GitLab string literal (double quotes; `None` where it would need escapes).
fn lit(s: &str) -> Option<String> {
    (!s.contains(['"', '\\', '$'])).then(|| format!("\"{s}\""))
}

/// `e` (negated with `neg`) as a rules expression, or `None` after an `E0502`.
pub(super) fn cond(cx: &mut Cx<'_>, e: &Expr, neg: bool, at: ir::Span) -> Option<Cond> {
    match e {
        Expr::Bool { value } => Some(if *value == neg {
            Cond::False
        } else {
            Cond::True
        }),
        Expr::Not { operand } => cond(cx, operand, !neg, at),
        Expr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            lhs,
            rhs,
        } => {
            let is_and = *op == BinOp::And;
            let l = cond(cx, lhs, neg, at);
            let r = cond(cx, rhs, neg, at);
            let (l, r) = (l?, r?);
            // De Morgan under a negation.
            Some(if is_and == neg { l.or(r) } else { l.and(r) })
        }
        Expr::Ref(Ref::Param { name }) if matches!(cx.param_type(name), Some(Type::Bool)) => {
            let op = if neg { "!=" } else { "==" };
            Some(Cond::Text(format!("${} {op} \"true\"", param_var(name))))
        }
        Expr::Binary { op, lhs, rhs } if matches!(op, BinOp::Eq | BinOp::Ne) => {
            let (name, value) = match (&**lhs, &**rhs) {
                (Expr::Ref(Ref::Param { name }), v) | (v, Expr::Ref(Ref::Param { name })) => {
                    (name, constant(v))
                }
                _ => return cant(cx, at),
            };
            let Some(value) = value.as_deref().and_then(lit) else {
                return cant(cx, at);
            };
            let eq = (*op == BinOp::Eq) != neg;
            let op = if eq { "==" } else { "!=" };
            Some(Cond::Text(format!("${} {op} {value}", param_var(name))))
        }
        Expr::Binary {
            op: BinOp::In,
            lhs,
            rhs,
        } => {
            let (Expr::Ref(Ref::Param { name }), Expr::List { items }) = (&**lhs, &**rhs) else {
                return cant(cx, at);
            };
            let mut out = if neg { Cond::True } else { Cond::False };
            for i in items {
                let Some(v) = constant(i).as_deref().and_then(lit) else {
                    return cant(cx, at);
                };
                let op = if neg { "!=" } else { "==" };
                let one = Cond::Text(format!("${} {op} {v}", param_var(name)));
                out = if neg { out.and(one) } else { out.or(one) };
            }
            Some(out)
        }
        _ => cant(cx, at),
    }
}

fn constant(e: &Expr) -> Option<String> {
    match e {
        Expr::Str { value } => Some(value.clone()),
        Expr::Int { value } => Some(value.to_string()),
        Expr::Bool { value } => Some(value.to_string()),
        _ => None,
    }
}

fn cant(cx: &mut Cx<'_>, at: ir::Span) -> Option<Cond> {
    cx.refuse(
        Code::E0502,
        at,
        "a condition GitLab cannot decide when it creates the pipeline",
        "GitLab's rules compare variables with text only, before any job runs",
        "compare params with written-out values (`==`, `!=`, `in [..]`, `&&`, `||`, `!`), or decide it in a script",
    );
    None
}

/// A glob (pipec's, §4.3) as an RE2 pattern matching the whole name.
fn glob_regex(g: &str) -> String {
    let mut out = String::from("^");
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '/' => out.push_str("\\/"),
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out.push('$');
    out
}

/// `$VAR` matches one of `patterns` (`!` ones excluded), as a rules expression.
fn matches(var: &str, patterns: &[String]) -> Cond {
    let mut yes = Cond::False;
    let mut no = Cond::True;
    for p in patterns {
        if let Some(n) = p.strip_prefix('!') {
            no = no.and(Cond::Text(format!("${var} !~ /{}/", glob_regex(n))));
        } else {
            yes = yes.or(Cond::Text(format!("${var} =~ /{}/", glob_regex(p))));
        }
    }
    if patterns.iter().all(|p| p.starts_with('!')) {
        yes = Cond::True;
    }
    yes.and(no)
}

/// `workflow: rules:` (each `if`, and the paths for `changes`), or nothing: every event.
pub(super) fn workflow(cx: &mut Cx<'_>) -> Option<Vec<(String, Vec<String>)>> {
    let triggers = &cx.ir.pipeline.triggers;
    if triggers.is_empty() {
        return None;
    }
    let source = |s: &str| Cond::Text(format!("$CI_PIPELINE_SOURCE == \"{s}\""));
    let mut rules = Vec::new();
    for t in triggers {
        let paths: Vec<String> = t.paths.clone();
        if paths.iter().any(|p| p.starts_with('!')) {
            cx.refuse(
                Code::E0501,
                t.span,
                "a `!` path pattern in a trigger on GitLab",
                "`rules: changes:` takes the paths that start a pipeline only",
                "list the paths that start it",
            );
        }
        let c = match t.kind {
            TriggerKind::Push => {
                let refs = match (t.branches.is_empty(), t.tags.is_empty()) {
                    (true, true) => Cond::True,
                    (false, true) => matches("CI_COMMIT_BRANCH", &t.branches),
                    (true, false) => matches("CI_COMMIT_TAG", &t.tags),
                    (false, false) => matches("CI_COMMIT_BRANCH", &t.branches)
                        .or(matches("CI_COMMIT_TAG", &t.tags)),
                };
                source("push").and(refs)
            }
            TriggerKind::PullRequest => {
                if t.events.iter().any(|e| e == "closed") {
                    cx.refuse(
                        Code::E0501,
                        t.span,
                        "a `closed` pull request event on GitLab",
                        "GitLab starts no pipeline when a merge request closes",
                        "remove `closed` from `events`",
                    );
                }
                let mut c = source("merge_request_event");
                if !t.branches.is_empty() {
                    c = c.and(matches("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", &t.branches));
                }
                c
            }
            TriggerKind::Schedule => {
                cx.weaker(
                    t.span,
                    format!(
                        "the schedule `{}` must be created in the project's settings",
                        t.cron.as_deref().unwrap_or("")
                    ),
                    "a .gitlab-ci.yml cannot declare schedules",
                    "create it under CI/CD → Schedules, with this cron and time zone",
                );
                source("schedule")
            }
            TriggerKind::Manual => continue,
        };
        if let Cond::Text(text) = c {
            rules.push((text, paths));
        } else {
            rules.push(("$CI_PIPELINE_SOURCE".to_string(), paths));
        }
    }
    // A manual start always runs.
    rules.push((
        "$CI_PIPELINE_SOURCE == \"web\" || $CI_PIPELINE_SOURCE == \"api\"".to_string(),
        vec![],
    ));
    Some(rules)
}
