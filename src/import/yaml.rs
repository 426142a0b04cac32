//! YAML (CloudFormation with its short-form tags, or the CLI's input as YAML) to a tree.
//! A short-form tag becomes its long form (`!Ref X` → `{Ref: X}`, `!Sub s` →
//! `{Fn::Sub: s}`), so `cfn.rs` evaluates one form only.

use saphyr::{LoadableYamlNode, Scalar, Yaml};

use super::error::Error;
use super::tree::{Node, Text};

/// Deeper nesting than this is refused (no recursion without a bound).
pub(super) const MAX_DEPTH: usize = 200;

/// Parses YAML text: its documents (`---`).
pub(super) fn parse(text: &str) -> Result<Vec<Node>, Error> {
    let docs = Yaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        Error::new(
            format!("invalid YAML: {}", e.info()),
            "fix the YAML at that place (a CloudFormation template, or the pipeline's JSON or \
             YAML), then import it again",
        )
        .at(m.line(), m.col() + 1)
    })?;
    docs.iter().map(|doc| node(doc, 0)).collect()
}

fn node(y: &Yaml<'_>, depth: usize) -> Result<Node, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
            "no pipeline declaration is that deep: check that this is the right file",
        ));
    }
    Ok(match y {
        Yaml::Representation(s, _, _) => Node::Text(Text::lit(s.to_string())),
        Yaml::Value(scalar) => scalar_node(scalar),
        Yaml::Sequence(items) => Node::List(
            items
                .iter()
                .map(|i| node(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match node(k, depth + 1)? {
                    Node::Text(t) => t.as_lit().unwrap_or_default(),
                    _ => String::new(),
                };
                entries.push((key, node(v, depth + 1)?));
            }
            Node::Map(entries)
        }
        Yaml::Tagged(tag, inner) => {
            let inner = node(inner, depth + 1)?;
            if tag.handle == "!" {
                let name = match tag.suffix.as_str() {
                    "Ref" | "Condition" => tag.suffix.clone(),
                    other => format!("Fn::{other}"),
                };
                Node::Map(vec![(name, inner)])
            } else {
                inner
            }
        }
        Yaml::Alias(_) => {
            return Err(Error::new(
                "YAML aliases (`*name`) are not supported by the import",
                "write the aliased value out in full where the alias stands",
            ));
        }
        Yaml::BadValue => Node::Null,
    })
}

fn scalar_node(s: &Scalar<'_>) -> Node {
    match s {
        Scalar::Null => Node::Null,
        Scalar::Boolean(b) => Node::Text(Text::lit(b.to_string())),
        Scalar::Integer(i) => Node::Text(Text::lit(i.to_string())),
        Scalar::FloatingPoint(f) => Node::Text(Text::lit(f.to_string())),
        Scalar::String(s) => Node::Text(Text::lit(s.to_string())),
    }
}
