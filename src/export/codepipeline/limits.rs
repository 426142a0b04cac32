//! CodePipeline's quotas and naming rules that cfn-lint does not check: 2 to 50 stages, 1
//! to 50 actions in a stage, 50 pipeline variables, names of at most 100 characters, and
//! namespaces (`STAGE_ACTION`) that stay distinct. Off with `Options::limits = false`
//! (benchmarks of files far beyond them).

use std::collections::BTreeMap;

use super::{Cx, namespace};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;

const MAX_STAGES: usize = 50;
const MAX_ACTIONS: usize = 50;
const MAX_VARIABLES: usize = 50;
const MAX_NAME: usize = 100;

pub(super) fn check(cx: &mut Cx<'_>, stages: &[Node]) {
    if !cx.opts.limits {
        return;
    }
    let pipeline = cx.ir.pipeline.span;
    let at = cx.head(pipeline);
    if stages.len() > MAX_STAGES {
        cx.refuse(
            Code::E0505,
            at,
            format!("the pipeline has {} stages on CodePipeline", stages.len()),
            "CodePipeline allows 50 stages",
            "split the pipeline into several, started one from another",
        );
    }
    if stages.len() < 2 {
        cx.refuse(
            Code::E0505,
            at,
            "the pipeline has only its source stage on CodePipeline",
            "CodePipeline needs at least 2 stages",
            "add a stage after the sources",
        );
    }
    let params = cx.ir.pipeline.params.len() + usize::from(cx.trigger_var);
    if params > MAX_VARIABLES {
        cx.refuse(
            Code::E0505,
            at,
            format!("the pipeline has {params} variables on CodePipeline"),
            "CodePipeline allows 50 pipeline-level variables",
            "combine params (a JSON list param holds many values)",
        );
    }
    names(cx);
}

/// Namespaces that are too long or collide, and the generated stage's name taken.
fn names(cx: &mut Cx<'_>) {
    let mut namespaces: BTreeMap<String, (String, String)> = BTreeMap::new();
    for stage in &cx.ir.pipeline.stages {
        if stage.actions.len() > MAX_ACTIONS {
            let at = cx.head(stage.span);
            cx.refuse(
                Code::E0505,
                at,
                format!("stage `{}` has {} actions", stage.name, stage.actions.len()),
                "CodePipeline allows 50 actions in a stage",
                "split the stage",
            );
        }
        for a in &stage.actions {
            let ns = super::aws::namespace_of(a)
                .map_or_else(|| namespace(&stage.name, &a.name), str::to_string);
            let needs_ns = !a.exports.is_empty()
                || matches!(a.kind, crate::ir::Kind::Git | crate::ir::Kind::Dir)
                || super::aws::namespace_of(a).is_some();
            if !needs_ns {
                continue;
            }
            if ns.len() > MAX_NAME {
                let at = cx.head(a.span);
                cx.refuse(
                    Code::E0505,
                    at,
                    format!(
                        "the namespace `{ns}` of `{}.{}` is over 100 characters",
                        stage.name, a.name
                    ),
                    "CodePipeline namespaces have at most 100 characters",
                    "shorten the stage's or the action's name",
                );
            }
            // The checker checks an `aws` action's; an `sh` action's only means something here.
            let odd = |b: u8| !(b.is_ascii_alphanumeric() || matches!(b, b'@' | b'_' | b'-'));
            if a.kind == crate::ir::Kind::Sh && ns.bytes().any(odd) {
                let at = cx.head(a.span);
                cx.refuse(
                    Code::E0505,
                    at,
                    format!(
                        "the namespace `{ns}` of `{}.{}` has characters CodePipeline refuses",
                        stage.name, a.name
                    ),
                    "a namespace holds only letters, digits, `@`, `_` and `-`",
                    "rename the namespace",
                );
            }
            if let Some((s, n)) = namespaces.get(&ns) {
                let at = cx.head(a.span);
                cx.refuse(
                    Code::E0506,
                    at,
                    format!(
                        "`{}.{}` and `{s}.{n}` both get the namespace `{ns}`",
                        stage.name, a.name
                    ),
                    "pipec names an action's variables `STAGE_ACTION`",
                    "rename one of the two stages or actions",
                );
            } else {
                namespaces.insert(ns, (stage.name.clone(), a.name.clone()));
            }
        }
    }
    if cx
        .ir
        .pipeline
        .stages
        .iter()
        .any(|s| s.name == super::sources::SOURCE_STAGE)
    {
        let stage = cx
            .ir
            .pipeline
            .stages
            .iter()
            .find(|s| s.name == super::sources::SOURCE_STAGE);
        if let Some(s) = stage {
            let at = cx.head(s.span);
            cx.refuse(
                Code::E0506,
                at,
                format!(
                    "stage `{}` has the name of the generated source stage",
                    s.name
                ),
                "pipec generates a stage of this name",
                "rename the stage",
            );
        }
    }
}
