//! The JSON (or YAML) of the CodePipeline API: `aws codepipeline create-pipeline
//! --cli-input-json` input and `get-pipeline` output, with or without the `pipeline`
//! wrapper and `metadata`; a list of such objects holds several pipelines.

use super::model::{Origin, Pipeline};
use super::read;
use super::tree::Node;

/// The pipelines of an API document.
pub(super) fn pipelines(root: &Node) -> Vec<Pipeline> {
    let mut out = Vec::new();
    match root.peel().0 {
        Node::List(items) => {
            for item in items {
                collect(item, &mut out);
            }
        }
        other => collect(other, &mut out),
    }
    out
}

fn collect(node: &Node, out: &mut Vec<Pipeline>) {
    let (decl, what) = match node.get("pipeline") {
        Some(p) if p.get("stages").is_some() => (p, "the JSON of the CodePipeline API"),
        _ if node.get("stages").is_some() => (node, "the JSON of the CodePipeline API"),
        _ => return,
    };
    let mut p = read::pipeline(
        decl,
        "pipeline",
        Origin {
            what: what.to_string(),
        },
    );
    if let Some(arn) = node.get("metadata").and_then(|m| m.lit("pipelineArn")) {
        p.notes.push(format!("`get-pipeline` metadata: {arn}"));
    }
    out.push(p);
}
