//! One job per stage: the stage graph as `needs` and `if:`, the entry condition as a first
//! step the actions' steps depend on, approvals as gate jobs with an `environment`, the
//! execution mode as `concurrency`, the stage's `timeout` as `timeout-minutes`, the stage's
//! status (`succeeded`, or `skipped` by its entry) as the job output `pipec_status`.
//!
//! An edge from stage A is taken when A's job ran to its end (`pipec_status` is set: it
//! succeeded or its entry skipped it) and the edge's guard holds; a stage's job runs when
//! one of its edges is taken and no job before it failed (`!cancelled() && !failure()`, which
//! also lets GitHub evaluate the condition when a needed job was skipped).

use super::expr::{self, Site};
use super::{Cx, PARAMS_JOB, RUNS_ON, export_output, steps};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::stages;
use crate::ir::{self, CondRule, ElseResult, FailurePolicy, Mode};

pub(super) fn jobs(cx: &mut Cx<'_>) -> Vec<(String, Node)> {
    let ir = cx.ir;
    if ir.pipeline.mode == Mode::Queued {
        cx.refuse(
            Code::E0501,
            ir.pipeline.span,
            "`mode queued` on GitHub Actions",
            "a concurrency group keeps one waiting run, not a queue",
            "use `mode superseded` (a newer run replaces the one waiting) or `mode parallel`",
        );
    }
    let mut out = Vec::new();
    for (i, stage) in ir.pipeline.stages.iter().enumerate() {
        refuse_unmapped(cx, stage);
        let mut needs: Vec<String> = stage.inbound.iter().map(|e| e.from.clone()).collect();
        if !ir.pipeline.params.is_empty() {
            needs.insert(0, PARAMS_JOB.to_string());
        }
        let reach = if i == 0 {
            None
        } else {
            reach(cx, stage, &mut needs)
        };
        let mut reach = reach.map(|r| format!("!cancelled() && !failure() && ({r})"));
        if let Some((name, gate)) = gate(cx, stage, &needs, reach.as_deref()) {
            reach = Some(format!(
                "!cancelled() && !failure() && needs.{name}.result == 'success'"
            ));
            needs.push(name.clone());
            out.push((name, gate));
        }
        let job = stage_job(cx, stage, needs, reach);
        out.push((stage.name.clone(), job));
    }
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(s) = ir
        .pipeline
        .stages
        .iter()
        .find(|s| s.name == PARAMS_JOB || names.iter().filter(|n| **n == s.name).count() > 1)
    {
        cx.refuse(
            Code::E0506,
            s.span,
            format!("stage `{}` has the name of a job pipec generates", s.name),
            "two jobs of one name",
            "rename the stage",
        );
    }
    out
}

/// What GitHub Actions has no construct for.
fn refuse_unmapped(cx: &mut Cx<'_>, stage: &ir::Stage) {
    stages::unmapped(
        cx,
        stage,
        &stages::Unmapped {
            success: "a job cannot roll back or fail after its steps succeeded",
            carried: |f| *f == FailurePolicy::Fail,
            failure: (
                "GitHub re-runs failed jobs by hand only, and has no rollback",
                "retry the actions themselves with `retry`, or remove `on failure`",
            ),
            disabled: (
                "a workflow cannot hold runs at an edge",
                "guard the stage with an approval (an `environment`) instead",
            ),
            approval_when: None,
        },
    );
    if let Some(c) = &stage.entry {
        let other = c.otherwise == ElseResult::Wait
            || c.rules
                .iter()
                .any(|r| !matches!(r, CondRule::Require { .. }));
        if other {
            cx.refuse(
                Code::E0501,
                c.span,
                format!(
                    "a `window` or `check` rule in the entry of stage `{}` on GitHub Actions",
                    stage.name
                ),
                "a job's condition is an expression only",
                "check it in a first `sh` action of the stage",
            );
        }
    }
}

/// The condition under which one of the stage's edges is taken.
fn reach(cx: &mut Cx<'_>, stage: &ir::Stage, needs: &mut Vec<String>) -> Option<String> {
    let mut taken = Vec::new();
    for e in &stage.inbound {
        let done = format!("needs.{}.outputs.pipec_status != ''", e.from);
        let mut site = Site {
            stage: &stage.name,
            needs,
        };
        match &e.guard {
            Some(g) => {
                let g = expr::expr(cx, g, &mut site, e.span)?;
                taken.push(format!("({done} && {g})"));
            }
            None => taken.push(format!("({done})")),
        }
    }
    Some(taken.join(" || "))
}

/// The gate job of the stage's approval, with its name.
fn gate(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    needs: &[String],
    reach: Option<&str>,
) -> Option<(String, Node)> {
    let a = stages::approval(
        cx,
        stage,
        &stages::Approval {
            is: "an approval is an environment a whole job waits for",
            refuse_when: true,
            by: "workflow",
            approvers: (
                "set them as the environment's required reviewers",
                "see docs/targets/github.md, \"Approvals\"",
            ),
            notify: "notify from a step of the stage's job, or drop `notify`",
            timeout: (
                "a deployment review waits up to 30 days",
                "see docs/targets/github.md, \"Approvals\"",
            ),
        },
    )?;
    let name = format!("{}__{}", stage.name, a.name);
    let mut m: Vec<(String, Node)> = Vec::new();
    if !needs.is_empty() {
        m.push(("needs".into(), Node::strs(needs.iter().cloned())));
    }
    if let Some(r) = reach {
        m.push(("if".into(), Node::Str(format!("${{{{ {r} }}}}"))));
    }
    m.push(("runs-on".into(), Node::str(RUNS_ON)));
    m.push((
        "environment".into(),
        Node::Str(format!("{}-{}", stage.name, a.name)),
    ));
    m.push((
        "steps".into(),
        Node::Seq(vec![Node::map([
            ("name", Node::str("approved")),
            (
                "run",
                Node::Str(format!("echo \"approved: {}.{}\"\n", stage.name, a.name)),
            ),
        ])]),
    ));
    let job = Node::Map(m).commented(format!(
        "approval {}.{} ({}): the environment's required reviewers approve",
        stage.name,
        a.name,
        cx.place(a.span)
    ));
    Some((name, job))
}

fn stage_job(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    mut needs: Vec<String>,
    reach: Option<String>,
) -> Node {
    let entry = entry(cx, stage, &mut needs);
    let gate = entry
        .as_ref()
        .map(|_| "steps.pipec_entry.outputs.entered == 'true'");
    let mut steps = Vec::new();
    if let Some(e) = entry {
        steps.push(e);
    }
    steps.extend(steps::steps(cx, stage, &mut needs, gate));
    steps.push(status_step(gate.is_some()));
    let mut m: Vec<(String, Node)> = Vec::new();
    if !needs.is_empty() {
        m.push(("needs".into(), Node::strs(needs)));
    }
    if let Some(r) = reach {
        m.push(("if".into(), Node::Str(format!("${{{{ {r} }}}}"))));
    }
    m.push(("runs-on".into(), Node::str(RUNS_ON)));
    if let Some(image) = stages::image(cx, stage, "the steps of a job share its container") {
        m.push(("container".into(), Node::map([("image", Node::Str(image))])));
    }
    if cx.ir.pipeline.mode == Mode::Superseded {
        m.push((
            "concurrency".into(),
            Node::map([
                (
                    "group",
                    Node::Str(format!("pipec-${{{{ github.workflow }}}}-{}", stage.name)),
                ),
                ("cancel-in-progress", Node::Bool(false)),
            ]),
        ));
    }
    if let Some(t) = stage.timeout_secs {
        m.push((
            "timeout-minutes".into(),
            Node::Int(i64::try_from(t.div_ceil(60)).unwrap_or(i64::MAX)),
        ));
    }
    let mut outputs = vec![(
        "pipec_status".to_string(),
        Node::str("${{ steps.pipec_status.outputs.status }}"),
    )];
    for a in &stage.actions {
        for e in &a.exports {
            outputs.push((
                export_output(&a.name, e),
                Node::Str(format!("${{{{ steps.{}.outputs.{e} }}}}", a.name)),
            ));
        }
    }
    m.push(("outputs".into(), Node::Map(outputs)));
    m.push(("steps".into(), Node::Seq(steps)));
    Node::Map(m).commented(format!("stage {} ({})", stage.name, cx.place(stage.span)))
}

/// The entry condition's step: `entered` is `true` or `false` (`else skip`), or the job
/// fails (`else fail`).
fn entry(cx: &mut Cx<'_>, stage: &ir::Stage, needs: &mut Vec<String>) -> Option<Node> {
    let c = stage.entry.as_ref()?;
    let mut parts = Vec::new();
    let mut site = Site {
        stage: &stage.name,
        needs,
    };
    for r in &c.rules {
        if let CondRule::Require { expr: e, span } = r {
            parts.push(expr::expr(cx, e, &mut site, *span)?);
        }
    }
    if parts.is_empty() {
        return None;
    }
    let run = if c.otherwise == ElseResult::Fail {
        format!(
            "if [ \"$PIPEC_ENTERED\" != true ]; then echo \"pipec: the entry condition of stage {} does not hold\"; exit 1; fi\necho entered=true >> \"$GITHUB_OUTPUT\"\n",
            stage.name
        )
    } else {
        "if [ \"$PIPEC_ENTERED\" = true ]; then echo entered=true; else echo entered=false; fi >> \"$GITHUB_OUTPUT\"\n".to_string()
    };
    Some(
        Node::map([
            ("name", Node::str("entry")),
            ("id", Node::str("pipec_entry")),
            ("shell", Node::str("bash")),
            (
                "env",
                Node::map([(
                    "PIPEC_ENTERED",
                    Node::Str(format!("${{{{ {} }}}}", parts.join(" && "))),
                )]),
            ),
            ("run", Node::Str(run)),
        ])
        .commented(format!("entry ({})", cx.place(c.span))),
    )
}

fn status_step(entry: bool) -> Node {
    let mut m = vec![
        ("name".to_string(), Node::str("status")),
        ("id".to_string(), Node::str("pipec_status")),
        ("shell".to_string(), Node::str("bash")),
    ];
    if entry {
        m.push((
            "env".into(),
            Node::map([(
                "PIPEC_ENTERED",
                Node::str("${{ steps.pipec_entry.outputs.entered }}"),
            )]),
        ));
        m.push((
            "run".into(),
            Node::str("if [ \"$PIPEC_ENTERED\" = true ]; then echo status=succeeded; else echo status=skipped; fi >> \"$GITHUB_OUTPUT\"\n"),
        ));
    } else {
        m.push((
            "run".into(),
            Node::str("echo status=succeeded >> \"$GITHUB_OUTPUT\"\n"),
        ));
    }
    Node::Map(m)
}
