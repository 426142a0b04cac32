//! `pipec compile --target argo`: a checked pipeline to an Argo Workflows `Workflow` (or a
//! `CronWorkflow` when it has schedules).
//!
//! Input: the IR of a file that checks clean, and (optionally) its source map. Output: the
//! resource's YAML, or `E05xx` diagnostics for every construct Argo cannot express.
//!
//! Method: [`dag`] makes the `pipeline` DAG template (a task per stage: `depends` for the
//! stage graph, `when` for the guards and entries on the way to it — over params only —,
//! approvals as `suspend` tasks) and a container template per stage whose script runs its
//! actions with `export::runner`'s bash; params are workflow parameters (checked by a first
//! task), exports output parameters, artifacts input and output artifacts through the
//! configured artifact repository. Values reach scripts only as environment variables whose
//! values Argo substitutes (`{{…}}`), never inside the script. The mapping is documented in
//! `docs/targets/argo.md`.

mod dag;
mod stage;

use crate::diagnostics::{Code, Diagnostic};
use crate::export::cx::Cx;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::stages;
use crate::ir::{self, Expr, Ir, TriggerKind};
use crate::source::SourceMap;

/// Where a stage's container works (the workspace of its actions' runner).
const WORK: &str = "/work";

/// A task or template name: lower case, `_` as `-`.
fn dns(name: &str) -> String {
    name.replace('_', "-").to_ascii_lowercase()
}

/// The image of stages whose actions name none (bash and coreutils).
const DEFAULT_IMAGE: &str = "debian:12-slim";

pub use super::Exported;

/// Exports `ir` as an Argo `Workflow` or `CronWorkflow`. Returns every `E05xx` error (and the
/// warnings) when something cannot be expressed.
pub fn export(ir: &Ir, map: Option<&SourceMap>) -> Result<Exported, Vec<Diagnostic>> {
    let mut cx = Cx::new(ir, map, "Argo Workflows");
    let doc = resource(&mut cx);
    super::finish("argo", ir, cx.diags, &doc)
}

fn resource(cx: &mut Cx<'_>) -> Node {
    let p = &cx.ir.pipeline;
    let mut spec: Vec<(String, Node)> = vec![("entrypoint".into(), Node::str("pipeline"))];
    if let Some(t) = p.timeout_secs {
        spec.push((
            "activeDeadlineSeconds".into(),
            Node::Int(i64::try_from(t).unwrap_or(i64::MAX)),
        ));
    }
    if let Some(args) = arguments(cx) {
        spec.push(("arguments".into(), args));
    }
    spec.push(("templates".into(), Node::Seq(dag::templates(cx))));
    let name = p.name.replace('_', "-").to_ascii_lowercase();
    let schedules: Vec<&ir::Trigger> = p
        .triggers
        .iter()
        .filter(|t| t.kind == TriggerKind::Schedule)
        .collect();
    for t in &p.triggers {
        if matches!(t.kind, TriggerKind::Push | TriggerKind::PullRequest) {
            cx.weaker(
                t.span,
                "Argo Workflows has no git events: this trigger starts nothing".into(),
                "not started by pushes or pull requests",
                "submit the workflow from an Argo Events sensor on these events",
            );
        }
    }
    let header = |kind: &str, meta: Node| {
        vec![
            ("apiVersion".to_string(), Node::str("argoproj.io/v1alpha1")),
            ("kind".to_string(), Node::str(kind)),
            ("metadata".to_string(), meta),
        ]
    };
    if schedules.is_empty() {
        let mut root = header(
            "Workflow",
            Node::map([("generateName", Node::Str(format!("{name}-")))]),
        );
        root.push(("spec".into(), Node::Map(spec)));
        return Node::Map(root);
    }
    let zones: Vec<Option<&str>> = schedules.iter().map(|t| t.tz.as_deref()).collect();
    if zones.iter().any(|z| *z != zones[0]) {
        cx.refuse(
            Code::E0501,
            schedules[1].span,
            "schedules in different time zones on Argo Workflows",
            "a CronWorkflow has one time zone",
            "write the schedules in one time zone",
        );
    }
    let mut cron: Vec<(String, Node)> = vec![(
        "schedules".into(),
        Node::strs(schedules.iter().filter_map(|t| t.cron.clone())),
    )];
    if let Some(z) = zones[0] {
        cron.push(("timezone".into(), Node::str(z)));
    }
    cron.push(("workflowSpec".into(), Node::Map(spec)));
    let mut root = header("CronWorkflow", Node::map([("name", Node::Str(name))]));
    root.push(("spec".into(), Node::Map(cron)));
    Node::Map(root)
}

/// The params as workflow parameters (`enum` for `allowed` values).
fn arguments(cx: &mut Cx<'_>) -> Option<Node> {
    let params = &cx.ir.pipeline.params;
    if params.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for p in params {
        let Some(value) = stages::param_value(
            cx,
            p,
            "a workflow parameter is text",
            "give it a default (a submission may still set it with `-p`)",
        ) else {
            continue;
        };
        let mut m = vec![
            ("name".to_string(), Node::str(p.name.clone())),
            ("value".to_string(), Node::Str(value)),
            (
                "description".to_string(),
                Node::Str(format!("param `{}: {}`", p.name, p.ty)),
            ),
        ];
        if let Some(allowed) = &p.allowed {
            let options: Vec<String> = allowed
                .iter()
                .filter_map(|a| match a {
                    Expr::Str { value } => Some(value.clone()),
                    Expr::Int { value } => Some(value.to_string()),
                    _ => None,
                })
                .collect();
            m.push(("enum".into(), Node::strs(options)));
        }
        out.push(Node::Map(m));
    }
    Some(Node::map([("parameters", Node::Seq(out))]))
}
