//! Stage conditions (`BeforeEntry`, `OnSuccess`, `OnFailure`) and triggers.
//!
//! A stage has at most one entry condition on CodePipeline, with one result (`FAIL` or
//! `SKIP`) and up to five rules. Its `SKIP` rules are the stage's reach (the guards on the
//! way to it, see `layout`) and its own `entry … else skip` rules; `SKIP` takes only
//! `VariableCheck` rules. `require` is `VariableCheck`, `window` is `DeploymentWindow`,
//! `check sh { … }` is a `Commands` rule. `entry { window … else wait }` has no CodePipeline
//! rule (entry conditions fail or skip): the stage gets a first action that waits for the
//! window, bounded by the stage's timeout. `on failure retry` is `RETRY` with a
//! `RetryConfiguration` (CodePipeline retries once: N > 1 is E0504), `rollback` is
//! `ROLLBACK`.

use super::Cx;
use super::cron;
use super::layout::Guard;
use super::values::{self, Check, rule, rule_type};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, CondRule, ElseResult, FailurePolicy, RetryScope, TriggerKind};

/// CodePipeline's limit on the rules of one condition.
const MAX_RULES: usize = 5;

/// A window an `entry … else wait` waits for: its cron sets, zone and bound.
pub(super) struct Wait {
    pub(super) sets: cron::Sets,
    pub(super) tz: Option<String>,
    pub(super) timeout_secs: u64,
    pub(super) span: ir::Span,
}

/// The `BeforeEntry` of a stage with this reach, and the window to wait for, if any.
/// `params` are the checks of the params' types and constraints (the first stage after
/// the sources takes them).
pub(super) fn entry(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    reach: &[Guard],
    params: &[Check],
) -> (Option<Node>, Option<Wait>) {
    let mut skip = Vec::new();
    for (i, g) in reach.iter().enumerate() {
        if let Some(cs) = values::checks(cx, &g.expr, g.span) {
            skip.extend(
                cs.iter()
                    .enumerate()
                    .map(|(k, c)| rule(&format!("Guard{}_{}", i + 1, k + 1), c)),
            );
        }
    }
    let mut wait = None;
    let mut own = Vec::new();
    let mut result = "FAIL";
    if let Some(cond) = &stage.entry {
        for (i, r) in cond.rules.iter().enumerate() {
            match (r, cond.otherwise) {
                (CondRule::Window { cron, tz, span }, ElseResult::Wait) => {
                    wait = wait_for(cx, stage, cron, tz.as_deref(), *span);
                }
                _ => own.extend(condition_rule(cx, r, i, cond.otherwise == ElseResult::Skip)),
            }
        }
        if cond.otherwise == ElseResult::Skip {
            result = "SKIP";
        }
    }
    let mut rules: Vec<Node>;
    if result == "SKIP" {
        rules = skip;
        rules.extend(own);
    } else {
        if !skip.is_empty() && !own.is_empty() {
            let at = stage.entry.as_ref().map_or(stage.span, |c| c.span);
            let at = cx.head(at);
            cx.refuse(
                Code::E0503,
                at,
                format!(
                    "stage `{}` is behind a guard and has an entry condition that fails",
                    stage.name
                ),
                "CodePipeline gives a stage one entry condition, with one result",
                "make the entry condition `else skip`, or move its rules to a stage of their own",
            );
        }
        if skip.is_empty() {
            rules = own;
        } else {
            rules = skip;
            result = "SKIP";
        }
    }
    if !params.is_empty() {
        if result == "SKIP" && !rules.is_empty() {
            let at = cx.head(stage.span);
            cx.refuse(
                Code::E0503,
                at,
                "the params' types and constraints cannot be checked before this stage",
                "it may be skipped",
                "CodePipeline variables are text: pipec checks them in the entry condition (FAIL) of the first stage after the sources; put a stage without conditions there",
            );
        } else {
            result = "FAIL";
            rules.extend(
                params
                    .iter()
                    .enumerate()
                    .map(|(i, c)| rule(&format!("Param{}", i + 1), c)),
            );
        }
    }
    if rules.is_empty() {
        return (None, wait);
    }
    too_many(cx, stage, rules.len(), "entry");
    let node = Node::map([(
        "Conditions",
        Node::Seq(vec![Node::map([
            ("Result", Node::str(result)),
            ("Rules", Node::Seq(rules)),
        ])]),
    )]);
    (Some(node), wait)
}

fn too_many(cx: &mut Cx<'_>, stage: &ir::Stage, n: usize, which: &str) {
    if n > MAX_RULES {
        let at = cx.head(stage.span);
        cx.refuse(
            Code::E0505,
            at,
            format!("the {which} condition of `{}` has {n} rules", stage.name),
            "CodePipeline allows 5 rules in a condition",
            "merge checks into fewer rules, or move some to a stage of their own",
        );
    }
}

/// One rule of a condition; `skip`: in a `SKIP` condition (`VariableCheck` only).
fn condition_rule(cx: &mut Cx<'_>, r: &CondRule, i: usize, skip: bool) -> Vec<Node> {
    match r {
        CondRule::Require { expr, span } => values::checks(cx, expr, *span)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(k, c)| rule(&format!("Require{}_{}", i + 1, k + 1), c))
            .collect(),
        CondRule::Window { cron, tz, span } => {
            if skip {
                only_variable_checks(cx, *span, "a `window`");
                return Vec::new();
            }
            window_rule(cx, cron, tz.as_deref(), *span, i)
                .into_iter()
                .collect()
        }
        CondRule::Check { action } => {
            if skip {
                let at = cx.head(action.span);
                only_variable_checks(cx, at, "a `check`");
                return Vec::new();
            }
            super::gates::check_rule(cx, action, i)
                .into_iter()
                .collect()
        }
    }
}

fn only_variable_checks(cx: &mut Cx<'_>, at: ir::Span, what: &str) {
    cx.refuse(
        Code::E0501,
        at,
        format!("{what} rule in an entry condition that skips"),
        "CodePipeline skips a stage only on `VariableCheck` rules",
        "make the condition `else fail`, or check this in a stage of its own",
    );
}

fn window_rule(
    cx: &mut Cx<'_>,
    expr: &str,
    tz: Option<&str>,
    at: ir::Span,
    i: usize,
) -> Option<Node> {
    let fields = cron::parse(expr).and_then(|s| cron::aws_fields(&s));
    let Some(fields) = fields else {
        both_days(cx, at);
        return None;
    };
    let mut config = vec![("Cron".to_string(), Node::Str(format!("* {fields}")))];
    if let Some(tz) = tz {
        config.push(("TimeZone".to_string(), Node::str(tz)));
    }
    Some(Node::map([
        ("Name", Node::Str(format!("Window{}", i + 1))),
        ("RuleTypeId", rule_type("DeploymentWindow")),
        ("Configuration", Node::Map(config)),
    ]))
}

fn both_days(cx: &mut Cx<'_>, at: ir::Span) {
    cx.refuse(
        Code::E0501,
        at,
        "a cron expression that restricts both the day of the month and the day of the week",
        "POSIX cron means either day; AWS's cron cannot say that",
        "restrict one of the two day fields and write `*` in the other",
    );
}

fn wait_for(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    expr: &str,
    tz: Option<&str>,
    at: ir::Span,
) -> Option<Wait> {
    let Some(sets) = cron::parse(expr) else {
        both_days(cx, at);
        return None;
    };
    let limit = 8 * 3600;
    match stage.timeout_secs {
        Some(t) if t <= limit => Some(Wait {
            sets,
            tz: tz.map(str::to_string),
            timeout_secs: t,
            span: at,
        }),
        _ => {
            cx.refuse(
                Code::E0501,
                at,
                format!(
                    "`else wait` for a window in stage `{}` without a timeout of at most 8h",
                    stage.name
                ),
                "the wait runs in a CodeBuild build, which stops after 8 hours",
                "give the stage a `timeout` of at most 8h (the wait's bound)",
            );
            None
        }
    }
}

/// `OnSuccess`.
pub(super) fn on_success(cx: &mut Cx<'_>, stage: &ir::Stage) -> Option<Node> {
    let cond = stage.on_success.as_ref()?;
    let rules: Vec<Node> = cond
        .rules
        .iter()
        .enumerate()
        .flat_map(|(i, r)| condition_rule(cx, r, i, false))
        .collect();
    if rules.is_empty() {
        return None;
    }
    too_many(cx, stage, rules.len(), "`on success`");
    let result = if cond.otherwise == ElseResult::Rollback {
        "ROLLBACK"
    } else {
        "FAIL"
    };
    Some(Node::map([(
        "Conditions",
        Node::Seq(vec![Node::map([
            ("Result", Node::str(result)),
            ("Rules", Node::Seq(rules)),
        ])]),
    )]))
}

/// `OnFailure`.
pub(super) fn on_failure(cx: &mut Cx<'_>, stage: &ir::Stage) -> Option<Node> {
    match stage.on_failure {
        FailurePolicy::Fail => None,
        FailurePolicy::Rollback => Some(Node::map([("Result", Node::str("ROLLBACK"))])),
        FailurePolicy::Retry { count, scope } => {
            if count > 1 {
                let at = cx.clause(stage.span, r"on\s+failure\s+retry");
                cx.refuse(
                    Code::E0504,
                    at,
                    format!("stage `{}` retries {count} times on failure", stage.name),
                    "CodePipeline retries a failed stage once",
                    "write `on failure retry` (once), or retry the actions themselves with their `retry` attribute",
                );
                return None;
            }
            let mode = match scope {
                RetryScope::Failed => "FAILED_ACTIONS",
                RetryScope::All => "ALL_ACTIONS",
            };
            Some(Node::map([
                ("Result", Node::str("RETRY")),
                (
                    "RetryConfiguration",
                    Node::map([("RetryMode", Node::str(mode))]),
                ),
            ]))
        }
    }
}

/// The V2 `Triggers` of push and pull request triggers, on the repository source.
pub(super) fn triggers(cx: &mut Cx<'_>) -> Option<Node> {
    let git: Vec<&ir::Trigger> = cx
        .ir
        .pipeline
        .triggers
        .iter()
        .filter(|t| matches!(t.kind, TriggerKind::Push | TriggerKind::PullRequest))
        .collect();
    let first = git.first()?;
    let Some(source) = cx.trigger_source.clone() else {
        let at = cx.head(first.span);
        cx.refuse(
            Code::E0501,
            at,
            "a push or pull request trigger without a repository source",
            "CodePipeline's triggers watch a CodeStar connection source",
            "add a `dir` or `git` source action (or an `aws` `CodeStarSourceConnection` one) to the entry stage",
        );
        return None;
    };
    let mut push = Vec::new();
    let mut pull = Vec::new();
    for t in &git {
        let paths = filter(cx, &t.paths, t.span);
        if t.kind == TriggerKind::Push {
            if !t.tags.is_empty() {
                push.push(Node::map([("Tags", filter(cx, &t.tags, t.span))]));
            }
            if !t.branches.is_empty() || t.tags.is_empty() {
                let branches = if t.branches.is_empty() {
                    vec!["**".to_string()]
                } else {
                    t.branches.clone()
                };
                let mut f = vec![("Branches".to_string(), filter(cx, &branches, t.span))];
                if !t.paths.is_empty() {
                    f.push(("FilePaths".to_string(), paths));
                }
                push.push(Node::Map(f));
            }
        } else {
            let branches = if t.branches.is_empty() {
                vec!["**".to_string()]
            } else {
                t.branches.clone()
            };
            let events: Vec<&str> = if t.events.is_empty() {
                vec!["OPEN", "UPDATED", "CLOSED"]
            } else {
                t.events
                    .iter()
                    .map(|e| match e.as_str() {
                        "opened" => "OPEN",
                        "updated" => "UPDATED",
                        _ => "CLOSED",
                    })
                    .collect()
            };
            let mut f = vec![
                ("Events".to_string(), Node::strs(events)),
                ("Branches".to_string(), filter(cx, &branches, t.span)),
            ];
            if !t.paths.is_empty() {
                f.push(("FilePaths".to_string(), paths));
            }
            pull.push(Node::Map(f));
        }
    }
    for (list, what) in [(&push, "push"), (&pull, "pull request")] {
        if list.len() > 3 {
            let at = cx.head(first.span);
            cx.refuse(
                Code::E0505,
                at,
                format!("{} {what} filters", list.len()),
                "CodePipeline allows 3 filters of each kind",
                "merge triggers of one kind into fewer",
            );
        }
    }
    let mut git_config = vec![("SourceActionName".to_string(), Node::Str(source))];
    if !push.is_empty() {
        git_config.push(("Push".to_string(), Node::Seq(push)));
    }
    if !pull.is_empty() {
        git_config.push(("PullRequest".to_string(), Node::Seq(pull)));
    }
    Some(Node::Seq(vec![Node::map([
        ("ProviderType", Node::str("CodeStarSourceConnection")),
        ("GitConfiguration", Node::Map(git_config)),
    ])]))
}

/// Globs as `Includes`/`Excludes` (a leading `!` excludes).
fn filter(cx: &mut Cx<'_>, globs: &[String], at: ir::Span) -> Node {
    let (excludes, includes): (Vec<&String>, Vec<&String>) =
        globs.iter().partition(|g| g.starts_with('!'));
    let excludes: Vec<&str> = excludes.iter().map(|g| &g[1..]).collect();
    let includes: Vec<&str> = if includes.is_empty() {
        vec!["**"]
    } else {
        includes.iter().map(|g| g.as_str()).collect()
    };
    if includes.len() > 8 || excludes.len() > 8 {
        let at = cx.head(at);
        cx.refuse(
            Code::E0505,
            at,
            "more than 8 patterns in one trigger filter",
            "CodePipeline allows 8 includes and 8 excludes",
            "use fewer, broader patterns (`**` matches across folders)",
        );
    }
    let mut f = vec![("Includes".to_string(), Node::strs(includes))];
    if !excludes.is_empty() {
        f.push(("Excludes".to_string(), Node::strs(excludes)));
    }
    Node::Map(f)
}

/// `schedule` triggers: EventBridge Scheduler schedules (they take a time zone, and start
/// the pipeline with `PIPEC_TRIGGER=schedule`).
pub(super) fn schedules(cx: &mut Cx<'_>, pipeline_id: &str) {
    let schedules: Vec<ir::Trigger> = cx
        .ir
        .pipeline
        .triggers
        .iter()
        .filter(|t| t.kind == TriggerKind::Schedule)
        .cloned()
        .collect();
    for (i, t) in schedules.iter().enumerate() {
        let Some(expr) = &t.cron else { continue };
        let Some(fields) = cron::parse(expr).and_then(|s| cron::aws_fields(&s)) else {
            let at = cx.head(t.span);
            both_days(cx, at);
            continue;
        };
        let role = super::template::scheduler_role(cx, pipeline_id);
        // Runs started by a push cannot set `PIPEC_TRIGGER`, so only a pipeline without
        // push and pull request triggers has it.
        let input = if cx.git_triggers() {
            Node::Sub(format!("{{\"Name\": \"${{{pipeline_id}}}\"}}"))
        } else {
            cx.trigger_var = true;
            Node::Sub(format!(
                "{{\"Name\": \"${{{pipeline_id}}}\", \"Variables\": [{{\"Name\": \"{}\", \"Value\": \"schedule\"}}]}}",
                values::TRIGGER_VAR
            ))
        };
        let mut props = vec![
            (
                "ScheduleExpression".to_string(),
                Node::Str(format!("cron({fields} *)")),
            ),
            (
                "ScheduleExpressionTimezone".to_string(),
                Node::str(t.tz.as_deref().unwrap_or("UTC")),
            ),
            (
                "FlexibleTimeWindow".to_string(),
                Node::map([("Mode", Node::str("OFF"))]),
            ),
            (
                "Target".to_string(),
                Node::map([
                    (
                        "Arn",
                        Node::str(
                            "arn:aws:scheduler:::aws-sdk:codepipeline:startPipelineExecution",
                        ),
                    ),
                    ("RoleArn", role),
                    ("Input", input),
                ]),
            ),
        ];
        props.insert(
            0,
            (
                "Description".to_string(),
                Node::Str(format!("pipec: trigger schedule {expr}")),
            ),
        );
        let id = cx.id(&format!("Schedule{}", i + 1));
        let place = cx.place(t.span);
        cx.resources.push((
            id,
            Node::map([
                ("Type", Node::str("AWS::Scheduler::Schedule")),
                ("Properties", Node::Map(props)),
            ])
            .commented(format!("{place}: trigger schedule")),
        ));
    }
}
