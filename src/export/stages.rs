//! What the job-per-stage targets (GitHub Actions, GitLab CI, Argo Workflows) decide alike
//! about a stage: its actions' order, its one image, whether it is reached (over params,
//! GitLab and Argo), its approval's checks, the settings and kinds no such target carries,
//! and (GitLab, Argo) an `sh` or `git` action's values as exported shell variables.
//!
//! Input: a stage of the IR and the target's words for what differs (what a job is called,
//! what a refusal's label says); output: the shared decision, its diagnostics pushed to the
//! [`Cx`]. Pure, like the rest of `export`.

use std::collections::{BTreeMap, BTreeSet};

use std::fmt::Write as _;

use super::cond::Cond;
use super::cx::{Cx, Report as _};
use super::shtest::Words;
use crate::diagnostics::Code;
use crate::ir::{self, CondRule, ElseResult, Expr, FailurePolicy, Kind, Part};

/// The actions in `after` order (file order where free); approvals, which are gate jobs or
/// suspend tasks, left out.
pub(crate) fn order(stage: &ir::Stage) -> Vec<&ir::Action> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < stage.actions.len() {
        let before = out.len();
        for a in &stage.actions {
            if !done.contains(a.name.as_str()) && a.after.iter().all(|p| done.contains(p.as_str()))
            {
                done.insert(&a.name);
                out.push(a);
            }
        }
        if out.len() == before {
            break; // A cycle: the checker refuses it.
        }
    }
    out.retain(|a| a.kind != Kind::Approval);
    out
}

/// The target's words about a stage's settings it has no construct for (see [`unmapped`]).
pub(crate) struct Unmapped {
    /// Why `on success` cannot be: what cannot roll back after it succeeded.
    pub(crate) success: &'static str,
    /// The `on failure` policies the target carries out.
    pub(crate) carried: fn(&FailurePolicy) -> bool,
    /// The label and help of a refused `on failure`.
    pub(crate) failure: (&'static str, &'static str),
    /// The label and help of a refused disabled transition.
    pub(crate) disabled: (&'static str, &'static str),
    /// The label of a refused approval's `when`, where this refuses it (GitHub's
    /// [`approval`] does).
    pub(crate) approval_when: Option<&'static str>,
}

/// `E0501` for the stage's `on success`, an `on failure` the target does not carry out, a
/// disabled transition into it, and (with [`Unmapped::approval_when`]) an approval's `when`.
pub(crate) fn unmapped(cx: &mut Cx<'_>, stage: &ir::Stage, t: &Unmapped) {
    let (at, target) = (stage.span, cx.target);
    if stage.on_success.is_some() {
        cx.refuse(
            Code::E0501,
            at,
            format!("`on success` of stage `{}` on {target}", stage.name),
            t.success,
            "check the result in a last `sh` action of the stage",
        );
    }
    if !(t.carried)(&stage.on_failure) {
        cx.refuse(
            Code::E0501,
            at,
            format!("`on failure` of stage `{}` on {target}", stage.name),
            t.failure.0,
            t.failure.1,
        );
    }
    if let Some(e) = stage.inbound.iter().find(|e| e.disabled.is_some()) {
        cx.refuse(
            Code::E0501,
            e.span,
            format!(
                "the disabled transition `{} -> {}` on {target}",
                e.from, stage.name
            ),
            t.disabled.0,
            t.disabled.1,
        );
    }
    let Some(why) = t.approval_when else {
        return;
    };
    for a in &stage.actions {
        if a.when.is_some() && a.kind == Kind::Approval {
            cx.refuse(
                Code::E0501,
                a.span,
                format!("`when` of approval `{}` on {target}", a.name),
                why,
                "give the approval a stage of its own with `entry { require … else skip }`",
            );
        }
    }
}

/// A param's default as the text of a parameter or variable (`E0501` for one not written
/// out: `why` and `help` say what the target needs), warning that its `pattern` is not
/// checked.
pub(crate) fn param_value(cx: &mut Cx<'_>, p: &ir::Param, why: &str, help: &str) -> Option<String> {
    let target = cx.target;
    let value = match &p.default {
        Some(Expr::Str { value }) => value.clone(),
        Some(Expr::Int { value }) => value.to_string(),
        Some(Expr::Bool { value }) => value.to_string(),
        _ => {
            cx.refuse(
                Code::E0501,
                p.span,
                format!(
                    "param `{}` on {target} needs a written-out string, int or bool default",
                    p.name
                ),
                why,
                help,
            );
            return None;
        }
    };
    if p.pattern.is_some() {
        cx.weaker(
            p.span,
            format!(
                "the `pattern` of param `{}` is not checked on {target}",
                p.name
            ),
            "not checked",
            "check the value in the first script that uses it",
        );
    }
    Some(value)
}

/// The image the stage's actions name (one per stage: `E0501` at an action naming another;
/// `why` is the label, what runs in one image on the target).
pub(crate) fn image(cx: &mut Cx<'_>, stage: &ir::Stage, why: &str) -> Option<String> {
    let mut found: Option<&str> = None;
    for a in &stage.actions {
        let Some(i) = a.image.as_deref() else {
            continue;
        };
        match found {
            Some(f) if f != i => cx.refuse(
                Code::E0501,
                a.span,
                format!(
                    "`{}` runs in image `{i}`, another action of stage `{}` in `{f}`",
                    a.name, stage.name
                ),
                why,
                "give the stage's actions one image, or move this action to a stage of its own",
            ),
            _ => found = Some(i),
        }
    }
    found.map(str::to_string)
}

/// A condition over params as the target writes it (`Cond::True` after its `E0502`).
pub(crate) type ParamCond = fn(&mut Cx<'_>, &Expr, ir::Span) -> Cond;

/// Whether the stage is reached (recorded in `done` for the stages after it) and its entry
/// holds, as `(reach, entry)`; `why` labels an entry the target cannot decide (see
/// [`entry_of`]).
pub(crate) fn reached<'s>(
    cx: &mut Cx<'_>,
    stage: &'s ir::Stage,
    done: &mut BTreeMap<&'s str, Cond>,
    why: &str,
    cond: ParamCond,
) -> (Cond, Cond) {
    let r = reach_of(cx, stage, done, cond);
    let entry = entry_of(cx, stage, why, cond);
    done.insert(&stage.name, r.clone());
    (r, entry)
}

/// Whether the stage is reached: one of its edges from a reached stage (`done`), guard
/// holding.
fn reach_of(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    done: &BTreeMap<&str, Cond>,
    cond: ParamCond,
) -> Cond {
    if stage.inbound.is_empty() {
        return Cond::True;
    }
    let mut r = Cond::False;
    for e in &stage.inbound {
        let from = done.get(e.from.as_str()).cloned().unwrap_or(Cond::True);
        let guard = e.guard.as_ref().map_or(Cond::True, |g| cond(cx, g, e.span));
        r = r.or(from.and(guard));
    }
    r
}

/// The stage's entry, when it only skips (`else skip`, `require` rules); `E0501` for one that
/// fails, waits or checks, `why` its label.
fn entry_of(cx: &mut Cx<'_>, stage: &ir::Stage, why: &str, cond: ParamCond) -> Cond {
    let Some(c) = &stage.entry else {
        return Cond::True;
    };
    if c.otherwise != ElseResult::Skip
        || c.rules
            .iter()
            .any(|r| !matches!(r, CondRule::Require { .. }))
    {
        let target = cx.target;
        cx.refuse(
            Code::E0501,
            c.span,
            format!(
                "an entry of stage `{}` that fails, waits or runs a check, on {target}",
                stage.name
            ),
            why,
            "write `entry { require … else skip }`, or check it in a first `sh` action",
        );
        return Cond::True;
    }
    let mut out = Cond::True;
    for r in &c.rules {
        if let CondRule::Require { expr, span } = r {
            out = out.and(cond(cx, expr, *span));
        }
    }
    out
}

/// The target's words about an approval (see [`approval`]).
pub(crate) struct Approval {
    /// What an approval is on the target (the label of a second one in a stage).
    pub(crate) is: &'static str,
    /// Whether an approval's `when` is refused here too (not by the stage's other checks).
    pub(crate) refuse_when: bool,
    /// What runs the stages: `workflow` or `pipeline`.
    pub(crate) by: &'static str,
    /// The label and help of the warning about `approvers`.
    pub(crate) approvers: (&'static str, &'static str),
    /// The help of the warning about `notify`.
    pub(crate) notify: &'static str,
    /// The label and help of the warning about a `timeout`.
    pub(crate) timeout: (&'static str, &'static str),
}

/// The stage's approval (its first), after refusing any other and one with `after` (or
/// `when`), and warning of what the target does not enforce: `approvers`, `notify`, a
/// `timeout` other than the default 7 days.
pub(crate) fn approval<'s>(
    cx: &mut Cx<'_>,
    stage: &'s ir::Stage,
    t: &Approval,
) -> Option<&'s ir::Action> {
    let approvals: Vec<&ir::Action> = stage
        .actions
        .iter()
        .filter(|a| a.kind == Kind::Approval)
        .collect();
    let a = *approvals.first()?;
    let (placed, help) = if t.refuse_when {
        (
            (|a: &ir::Action| !a.after.is_empty() || a.when.is_some()) as fn(&ir::Action) -> bool,
            "give the approval no `after` or `when`, one per stage",
        )
    } else {
        (
            (|a: &ir::Action| !a.after.is_empty()) as fn(&ir::Action) -> bool,
            "give the approval no `after`, one per stage",
        )
    };
    let target = cx.target;
    for extra in approvals
        .iter()
        .skip(1)
        .chain(approvals.iter().filter(|a| placed(a)))
    {
        cx.refuse(
            Code::E0501,
            extra.span,
            format!(
                "approval `{}` inside stage `{}` on {target}",
                extra.name, stage.name
            ),
            t.is,
            help,
        );
    }
    let warnings = [
        (
            "approvers",
            format!(
                "the `approvers` of `{}` are not enforced by the {}",
                a.name, t.by
            ),
            t.approvers,
        ),
        (
            "notify",
            format!(
                "the `notify` topic of `{}` is not notified by the {}",
                a.name, t.by
            ),
            (
                "CodePipeline's `NotificationArn` has no counterpart here",
                t.notify,
            ),
        ),
    ];
    for (key, message, (label, help)) in warnings {
        if a.params.get(key).is_some_and(written) {
            cx.weaker(a.span, message, label, help);
        }
    }
    if a.timeout_secs.is_some_and(|t| t != 7 * 86_400) {
        cx.weaker(
            a.span,
            format!("the `timeout` of approval `{}` is not enforced", a.name),
            t.timeout.0,
            t.timeout.1,
        );
    }
    Some(a)
}

/// Whether an approval's `approvers` (a list) or `notify` (a string) is set: not empty.
fn written(v: &Expr) -> bool {
    !matches!(v, Expr::List { items } if items.is_empty())
        && !matches!(v, Expr::Str { value } if value.is_empty())
}

/// `E0501`: an `aws` action is CodePipeline's own.
pub(crate) fn refuse_aws<T>(cx: &mut Cx<'_>, a: &ir::Action) -> Option<T> {
    let target = cx.target;
    cx.refuse(
        Code::E0501,
        a.span,
        format!("an `aws` action on {target} (`{}`)", a.name),
        "the `aws` kind compiles only to CodePipeline",
        "compile this pipeline with `--target codepipeline`, or call the `aws` CLI from an `sh` action",
    );
    None
}

/// The name of an action's kind as written (`manual`, …), for a refusal.
pub(crate) fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A kind parameter that must be written out (a plain string): `E0502` for a computed one.
/// `fixes` is what fixes it before any run (`workflow`, `pipeline`).
pub(crate) fn literal(
    cx: &mut Cx<'_>,
    a: &ir::Action,
    key: &str,
    default: &str,
    fixes: &str,
) -> Option<String> {
    match a.params.get(key) {
        None => Some(default.to_string()),
        Some(Expr::Str { value }) => Some(value.clone()),
        Some(_) => {
            let target = cx.target;
            cx.refuse(
                Code::E0502,
                a.span,
                format!("a computed `{key}` of `{}` on {target}", a.name),
                format!("the {fixes} fixes it before any run"),
                format!("write `{key}` as a plain string"),
            );
            None
        }
    }
}

/// A `dir` action's `exclude` patterns, each one the runner can write safely (`E0501` at the
/// first it cannot). `by` is what writes them (`workflow`, `pipeline`).
pub(crate) fn globs(cx: &mut Cx<'_>, a: &ir::Action, by: &str) -> Option<Vec<String>> {
    let Some(Expr::List { items }) = a.params.get("exclude") else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    for i in items {
        match i {
            Expr::Str { value } if super::runner::safe_glob(value) => out.push(value.clone()),
            _ => {
                cx.refuse(
                    Code::E0501,
                    a.span,
                    format!(
                        "an `exclude` pattern of `{}` the {by} cannot write safely",
                        a.name
                    ),
                    "only letters, digits and `._/*?[]{},-`",
                    "simplify the pattern",
                );
                return None;
            }
        }
    }
    Some(out)
}

/// A `git` action's `export` lines of its repository and reference (GitLab, Argo: values read
/// through the target's [`Words`]).
pub(crate) fn git_prelude(w: &mut dyn Words<'_>, a: &ir::Action) -> Option<String> {
    let mut prelude = String::new();
    for (var, key, default) in [
        ("PIPEC_GIT_REPO", "repo", ""),
        ("PIPEC_GIT_REF", "ref", "HEAD"),
    ] {
        let v = match a.params.get(key) {
            Some(e) => w.word(e)?,
            None => crate::shell::quote_word(default),
        };
        let _ = writeln!(prelude, "export {var}={v}");
    }
    Some(prelude)
}

/// An `sh` action's script with each interpolation a quoted reference to `PIPEC_ARG_N`, and
/// the prelude that exports those variables (values read through the target's [`Words`]).
pub(crate) fn script(w: &mut dyn Words<'_>, a: &ir::Action) -> Option<(String, String)> {
    let parts: Vec<Part> = match a.params.get("run") {
        Some(Expr::Interp { parts, .. }) => parts.clone(),
        Some(Expr::Str { value }) => vec![Part::Text(value.clone())],
        _ => Vec::new(),
    };
    let mut text = String::new();
    let mut prelude = String::new();
    let mut quotes = crate::shell::QuoteTracker::new();
    let mut count = 0;
    for part in &parts {
        let value = match part {
            Part::Text(t) => {
                quotes.feed(t);
                text.push_str(t);
                continue;
            }
            Part::Expr(value) => value,
        };
        count += 1;
        let var = format!("PIPEC_ARG_{count}");
        let _ = writeln!(prelude, "export {var}={}", w.word(value)?);
        text.push_str(&reference(w, a, quotes.quote(), &var)?);
        quotes.value();
    }
    Some((text, prelude))
}

/// A quoted reference to variable `var` where the script's quoting is `quote` (`E0501` in a
/// here-document whose delimiter is quoted, where nothing expands).
fn reference(
    w: &mut dyn Words<'_>,
    a: &ir::Action,
    quote: crate::shell::Quote,
    var: &str,
) -> Option<String> {
    let words = format!("\"${{{var}}}\"");
    let bare = format!("${{{var}}}");
    let r = crate::shell::reference(quote, &words, &bare, false);
    if r.is_none() {
        w.cx().refuse(
            Code::E0501,
            a.span,
            format!("`${{…}}` in `{}` stands in a here-document with a quoted delimiter (`<<'EOF'`), where nothing expands", a.name),
            "`pipec run` refuses to run this script",
            "quote the delimiter's word no more (`<<EOF`) or pass the value in `env`",
        );
    }
    r
}
