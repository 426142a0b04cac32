//! JSON (CloudFormation's long form, the CLI's `create-pipeline`/`get-pipeline`) to a tree.
//! Object keys come out sorted (`serde_json`'s map), which only orders configuration keys.

use super::error::Error;
use super::tree::{Node, Text};

/// Parses JSON text.
pub(super) fn parse(text: &str) -> Result<Node, Error> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::new(
            format!("invalid JSON: {e}"),
            "fix the JSON at that place (a CloudFormation template, or the JSON of \
             `aws codepipeline get-pipeline`), then import it again",
        )
        .at(e.line(), e.column())
    })?;
    Ok(node(&value))
}

fn node(v: &serde_json::Value) -> Node {
    use serde_json::Value;
    match v {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Text(Text::lit(b.to_string())),
        Value::Number(n) => Node::Text(Text::lit(n.to_string())),
        Value::String(s) => Node::Text(Text::lit(s.clone())),
        Value::Array(items) => Node::List(items.iter().map(node).collect()),
        Value::Object(map) => Node::Map(map.iter().map(|(k, v)| (k.clone(), node(v))).collect()),
    }
}
