//! Gates: a Manual approval (with the IAM policy of its `approvers`), and a `check sh`
//! rule as a `Commands` rule.

use std::collections::BTreeSet;

use super::actions::type_id;
use super::values;
use super::{Cx, camel};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, Expr, Kind, Part};

/// A Manual approval's default timeout (7 days), in seconds.
const APPROVAL_DEFAULT: u64 = 7 * 24 * 3600;

/// A Manual approval: the summary as `CustomData`, the link, the timeout; `approvers`
/// become an IAM policy that lets those groups approve it.
pub(super) fn approval(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    run_order: u32,
) -> Option<Node> {
    let mut config = Vec::new();
    if let Some(summary) = a.params.get("summary") {
        let t = values::text(cx, summary, cx.head(a.span))?;
        if !t.is_empty() {
            if t.chars().count() > 500 {
                let at = cx.head(a.span);
                cx.refuse(
                    Code::E0505,
                    at,
                    format!("the summary of `{}` is over 500 characters", a.name),
                    "a Manual approval's `CustomData` holds 500",
                    "shorten the summary, and link to the details with `url`",
                );
            }
            config.push(("CustomData".to_string(), Node::Str(t)));
        }
    }
    for (param, key) in [("url", "ExternalEntityLink"), ("notify", "NotificationArn")] {
        if let Some(v) = a.params.get(param) {
            let t = values::text(cx, v, cx.head(a.span))?;
            if !t.is_empty() {
                config.push((key.to_string(), Node::Str(t)));
            }
        }
    }
    let mut node = vec![
        ("Name".to_string(), Node::str(&a.name)),
        ("ActionTypeId".to_string(), type_id("Approval", "Manual")),
        ("RunOrder".to_string(), Node::Int(i64::from(run_order))),
    ];
    if !config.is_empty() {
        node.push(("Configuration".to_string(), Node::Map(config)));
    }
    let timeout = a.timeout_secs.unwrap_or(APPROVAL_DEFAULT);
    if timeout != APPROVAL_DEFAULT {
        if timeout < 300 || !timeout.is_multiple_of(60) {
            let at = cx.head(a.span);
            cx.refuse(
                Code::E0505,
                at,
                format!(
                    "the approval `{}` times out after {}",
                    a.name,
                    crate::duration::format(timeout)
                ),
                "CodePipeline's approval timeouts are whole minutes, at least 5",
                "use a timeout of whole minutes, at least `5m`",
            );
        }
        node.push((
            "TimeoutInMinutes".to_string(),
            Node::Int(i64::try_from(timeout / 60).unwrap_or(0)),
        ));
    }
    approvers(cx, stage, a);
    Some(Node::Map(node))
}

fn approvers(cx: &mut Cx<'_>, stage: &ir::Stage, a: &ir::Action) {
    let Some(Expr::List { items }) = a.params.get("approvers") else {
        return;
    };
    let groups: BTreeSet<String> = items
        .iter()
        .filter_map(|e| match e {
            Expr::Str { value } => Some(value.clone()),
            _ => None,
        })
        .collect();
    if groups.is_empty() {
        return;
    }
    let id = cx.id(&format!(
        "Approvers{}{}",
        camel(&stage.name),
        camel(&a.name)
    ));
    let place = cx.place(a.span);
    let statement = Node::map([
        ("Effect", Node::str("Allow")),
        ("Action", Node::str("codepipeline:PutApprovalResult")),
        (
            "Resource",
            Node::Sub(format!(
                "arn:${{AWS::Partition}}:codepipeline:${{AWS::Region}}:${{AWS::AccountId}}:${{PipelineName}}/{}/{}",
                stage.name, a.name
            )),
        ),
    ]);
    cx.resources.push((
        id,
        Node::map([
            ("Type", Node::str("AWS::IAM::ManagedPolicy")),
            (
                "Properties",
                Node::map([
                    (
                        "Description",
                        Node::Str(format!(
                            "pipec: who may approve `{}.{}`",
                            stage.name, a.name
                        )),
                    ),
                    ("Groups", Node::strs(groups)),
                    (
                        "PolicyDocument",
                        Node::map([
                            ("Version", Node::str("2012-10-17")),
                            ("Statement", Node::Seq(vec![statement])),
                        ]),
                    ),
                ]),
            ),
        ])
        .commented(format!(
            "{place}: the `approvers` of `{}.{}` (IAM groups)",
            stage.name, a.name
        )),
    ));
}

/// A `check sh { … }` rule as a `Commands` rule.
pub(super) fn check_rule(cx: &mut Cx<'_>, a: &ir::Action, i: usize) -> Option<Node> {
    let at = cx.head(a.span);
    let script = check_script(cx, a, at)?;
    let plain = a.env.is_empty()
        && a.retry.count == 0
        && a.inputs.len() <= 1
        && a.inputs.iter().all(|i| {
            i.folder.is_none() && cx.artifacts.get(&i.name).is_none_or(|l| l.folder.is_none())
        })
        && a.params
            .get("workdir")
            .is_none_or(|w| matches!(w, Expr::Str { value } if value == "."))
        && a.params
            .get("shell")
            .is_none_or(|w| matches!(w, Expr::Str { value } if value == "bash"));
    if !plain {
        cx.refuse(
            Code::E0501,
            at,
            "a `check` with `env`, `retry`, `shell`, `workdir` or several inputs",
            "a `Commands` rule runs plain commands in its one input",
            "keep the check to `run` and one `input`",
        );
        return None;
    }
    let lines: Vec<&str> = script.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() || lines.len() > 50 || lines.iter().any(|l| l.len() > 1000) {
        cx.refuse(
            Code::E0505,
            at,
            "a `check` script of more than 50 lines or lines over 1,000 characters",
            "a `Commands` rule takes 50 commands of 1,000 characters",
            "shorten the script, or put it in a file of an input artifact",
        );
        return None;
    }
    let input = a
        .inputs
        .first()
        .map(|i| {
            cx.artifacts
                .get(&i.name)
                .map_or_else(|| i.name.clone(), |l| l.artifact.clone())
        })
        .or_else(|| cx.dummy.clone())
        .unwrap_or_else(|| super::sources::SOURCE_STAGE.to_string());
    let mut node = vec![
        (
            "Name".to_string(),
            Node::Str(format!("Check{}_{}", i + 1, a.name)),
        ),
        ("RuleTypeId".to_string(), values::rule_type("Commands")),
        ("Commands".to_string(), Node::strs(lines)),
        (
            "InputArtifacts".to_string(),
            Node::Seq(vec![Node::map([("Name", Node::Str(input))])]),
        ),
    ];
    if let Some(t) = a.timeout_secs {
        if t < 300 || !t.is_multiple_of(60) {
            cx.refuse(
                Code::E0505,
                at,
                format!("a `check` with a timeout of {}", crate::duration::format(t)),
                "a rule's timeout is whole minutes, at least 5",
                "give the check a timeout of whole minutes, at least `5m`",
            );
            return None;
        }
        node.push((
            "TimeoutInMinutes".to_string(),
            Node::Int(i64::try_from(t.div_ceil(60).max(5)).unwrap_or(5)),
        ));
    }
    Some(Node::Map(node))
}

/// The script of a `check sh` rule (without interpolation).
fn check_script(cx: &mut Cx<'_>, a: &ir::Action, at: ir::Span) -> Option<String> {
    let script = match (a.kind, a.params.get("run")) {
        (Kind::Sh, Some(Expr::Str { value })) => value.clone(),
        (Kind::Sh, Some(Expr::Interp { parts, .. }))
            if parts.iter().all(|p| matches!(p, Part::Text(_))) =>
        {
            parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.as_str(),
                    Part::Expr(_) => "",
                })
                .collect()
        }
        (Kind::Sh, _) => {
            cx.refuse(
                Code::E0501,
                at,
                "a `check` script with `${…}`",
                "a `Commands` rule takes no variables",
                "write the check's script without interpolation",
            );
            return None;
        }
        _ => {
            cx.refuse(
                Code::E0501,
                at,
                "a `check` rule that is not `sh`",
                "CodePipeline's `Commands` rule runs shell commands",
                "write the check as `check sh { run = \"…\" }`",
            );
            return None;
        }
    };
    Some(script)
}
