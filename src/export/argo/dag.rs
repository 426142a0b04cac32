//! The templates: the `pipeline` DAG (a task per stage, a `suspend` task per approval, the
//! params' check first), a container template per stage, and what they share.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::stage::stage_template;
use super::{Cx, DEFAULT_IMAGE, dns};
use crate::diagnostics::Code;
use crate::export::cond::{Cond, Dialect};
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::stages;
use crate::ir::{self, Expr, FailurePolicy, Mode, RetryScope, Type};

const PARAMS: &str = "pipec-params";

pub(super) fn templates(cx: &mut Cx<'_>) -> Vec<Node> {
    let ir = cx.ir;
    match ir.pipeline.mode {
        Mode::Superseded => cx.refuse(
            Code::E0501,
            ir.pipeline.span,
            "`mode superseded` (the default) on Argo Workflows",
            "a mutex lets every waiting run go on in turn, it never drops one",
            "write `mode queued` (one run at a time in each stage) or `mode parallel`",
        ),
        Mode::Queued | Mode::Parallel => {}
    }
    let mut tasks = Vec::new();
    let mut out = Vec::new();
    if let Some(t) = params_template(cx) {
        tasks.push(Node::map([
            ("name", Node::str(PARAMS)),
            ("template", Node::str(PARAMS)),
        ]));
        out.push(t);
    }
    let mut reach: BTreeMap<&str, Cond> = BTreeMap::new();
    let mut names = BTreeSet::new();
    let mut approval = false;
    for stage in &ir.pipeline.stages {
        refuse_unmapped(cx, stage);
        if !names.insert(dns(&stage.name)) || dns(&stage.name) == PARAMS {
            cx.refuse(
                Code::E0506,
                stage.span,
                format!(
                    "stage `{}` has the task name of another stage or of pipec's",
                    stage.name
                ),
                "Argo names are lower case, with `-` for `_`",
                "rename the stage",
            );
        }
        let why = "a task's `when` skips it, nothing else";
        let (r, entry) = stages::reached(cx, stage, &mut reach, why, param_cond);
        let mut depends: Vec<String> = stage
            .inbound
            .iter()
            .map(|e| {
                format!(
                    "({0}.Succeeded || {0}.Skipped || {0}.Omitted)",
                    dns(&e.from)
                )
            })
            .collect();
        if stage.inbound.is_empty() && !ir.pipeline.params.is_empty() {
            depends.push(format!("{PARAMS}.Succeeded"));
        }
        if let Some(gate) = gate(cx, stage, &depends, &r) {
            depends.push(format!("({0}.Succeeded || {0}.Skipped)", gate.0));
            tasks.push(gate.1);
            approval = true;
        }
        let (template, task) = stage_template(cx, stage, depends, &r.and(entry));
        out.push(template);
        tasks.push(task);
    }
    if approval {
        out.push(Node::map([
            ("name", Node::str("approval")),
            ("suspend", Node::Map(vec![])),
        ]));
    }
    let dag = Node::map([
        ("name", Node::str("pipeline")),
        ("dag", Node::map([("tasks", Node::Seq(tasks))])),
    ]);
    let mut all = vec![dag];
    all.extend(out);
    all
}

fn refuse_unmapped(cx: &mut Cx<'_>, stage: &ir::Stage) {
    stages::unmapped(
        cx,
        stage,
        &stages::Unmapped {
            success: "a task cannot roll back or fail after its container succeeded",
            carried: |f| {
                matches!(
                    f,
                    FailurePolicy::Fail
                        | FailurePolicy::Retry {
                            scope: RetryScope::All,
                            ..
                        }
                )
            },
            failure: (
                "a retry runs the stage's whole container again, and there is no rollback",
                "write `on failure retry N all`, or retry the actions with `retry`",
            ),
            disabled: (
                "a workflow cannot hold runs at an edge",
                "guard the stage with an approval (a suspend task) instead",
            ),
            approval_when: Some("Argo decides whether a whole suspend task runs, before the stage"),
        },
    );
}

fn param_cond(cx: &mut Cx<'_>, e: &Expr, at: ir::Span) -> Cond {
    if let Some(c) = cx.param_cond(e, false, Dialect::Argo) {
        return c;
    }
    cx.refuse(
        Code::E0502,
        at,
        "a condition Argo cannot decide from the workflow's parameters",
        "a task's `when` here compares params with text",
        "compare params with written-out values (`==`, `!=`, `in [..]`, `&&`, `||`, `!`), or decide it in a script",
    );
    Cond::True
}

pub(super) fn when(c: &Cond) -> Option<Node> {
    match c {
        Cond::True => None,
        Cond::False => Some(Node::str("false")),
        Cond::Text(t) => Some(Node::Str(t.clone())),
    }
}

/// The `suspend` task of the stage's approval: its name and the task.
fn gate(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    depends: &[String],
    reach: &Cond,
) -> Option<(String, Node)> {
    let a = stages::approval(
        cx,
        stage,
        &stages::Approval {
            is: "an approval is a suspend task the stage's task waits for",
            refuse_when: false,
            by: "workflow",
            approvers: (
                "anyone who may resume the workflow approves",
                "restrict `argo resume` with Kubernetes RBAC on the workflow",
            ),
            notify: "notify from a task of the stage, or drop `notify`",
            timeout: (
                "a suspend with a duration would approve, not fail, when it runs out",
                "stop workflows that wait too long",
            ),
        },
    )?;
    let name = format!("{}-{}", dns(&stage.name), dns(&a.name));
    let mut m: Vec<(String, Node)> = vec![
        ("name".into(), Node::Str(name.clone())),
        ("template".into(), Node::str("approval")),
    ];
    if !depends.is_empty() {
        m.push(("depends".into(), Node::Str(depends.join(" && "))));
    }
    if let Some(w) = when(reach) {
        m.push(("when".into(), w));
    }
    Some((name, Node::Map(m)))
}

/// The template that checks the params first: text without quotes or braces (it goes into
/// `when` expressions), ints, bools, `allowed` values.
fn params_template(cx: &mut Cx<'_>) -> Option<Node> {
    let params = &cx.ir.pipeline.params;
    if params.is_empty() {
        return None;
    }
    let mut script = String::from("set -eu\n");
    let mut env = Vec::new();
    for (i, p) in params.iter().enumerate() {
        env.push(Node::map([
            ("name", Node::Str(format!("PIPEC_P_{i}"))),
            (
                "value",
                Node::Str(format!("{{{{workflow.parameters.{}}}}}", p.name)),
            ),
        ]));
        let name = &p.name;
        let _ = writeln!(
            script,
            "case \"$PIPEC_P_{i}\" in *[\\'\\\\{{}}]*) echo \"pipec: param \\`{name}\\` may not hold quotes, backslashes or braces on Argo\"; exit 1 ;; esac"
        );
        match p.ty {
            Type::Int => {
                let _ = writeln!(
                    script,
                    "case \"$PIPEC_P_{i}\" in ''|-|*[!0-9-]*) echo \"pipec: param \\`{name}\\` must be an int\"; exit 1 ;; esac"
                );
            }
            Type::Bool => {
                let _ = writeln!(
                    script,
                    "case \"$PIPEC_P_{i}\" in true|false) ;; *) echo \"pipec: param \\`{name}\\` must be true or false\"; exit 1 ;; esac"
                );
            }
            _ => {}
        }
    }
    Some(Node::map([
        ("name", Node::str(PARAMS)),
        (
            "container",
            Node::map([
                ("image", Node::str(DEFAULT_IMAGE)),
                ("command", Node::strs(["bash", "-c"])),
                ("args", Node::Seq(vec![Node::Str(script)])),
                ("env", Node::Seq(env)),
            ]),
        ),
    ]))
}
