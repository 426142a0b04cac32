//! Conditions GitLab decides when it creates a pipeline: `workflow: rules:` for triggers,
//! and job `rules:` for the stage graph's guards and entry conditions — over params
//! (`$PIPEC_PARAM_NAME`) and the branch, tag and source GitLab knows then, since exports and
//! statuses do not exist yet (`E0502`).

use super::Cx;
use crate::diagnostics::Code;
use crate::ir::{self, Expr, TriggerKind};

pub(super) use crate::export::cond::Cond;
use crate::export::cond::Dialect;
use crate::export::cx::Report as _;

/// The variable of a param.
pub(super) fn param_var(name: &str) -> String {
    format!("PIPEC_PARAM_{name}")
}

/// `e` (negated with `neg`) as a rules expression, or `None` after an `E0502`.
pub(super) fn cond(
    cx: &mut crate::export::cx::Cx<'_>,
    e: &Expr,
    neg: bool,
    at: ir::Span,
) -> Option<Cond> {
    match cx.param_cond(e, neg, Dialect::GitLab) {
        Some(c) => Some(c),
        None => cant(cx, at),
    }
}

fn cant(cx: &mut crate::export::cx::Cx<'_>, at: ir::Span) -> Option<Cond> {
    cx.refuse(
        Code::E0502,
        at,
        "a condition GitLab cannot decide when it creates the pipeline",
        "GitLab's rules compare variables with text only, before any job runs",
        "compare params, `run.branch`, `run.tag` or `run.trigger` with written-out values (`==`, `!=`, `in [..]`, `&&`, `||`, `!`), or decide it in a script",
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
