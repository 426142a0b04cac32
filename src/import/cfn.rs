//! CloudFormation templates: finds the `AWS::CodePipeline::Pipeline` resources and evaluates
//! the intrinsic functions in them (long form; YAML's short tags were turned into it).
//!
//! Resolved: `Ref` of a parameter (an input of the pipeline) or `AWS::NoValue`, `Fn::Sub`,
//! `Fn::Join`, `Fn::Select` and `Fn::FindInMap` of known values, `Fn::If` whose condition
//! the parameters' defaults decide (a note says which branch was taken). Everything else —
//! `Fn::GetAtt`, `Fn::ImportValue`, `Ref` of another resource or of a pseudo parameter, an
//! undecidable `Fn::If`, other functions — becomes an [`Unresolved`] value (a param with a
//! comment).

use super::model::{Input, Origin, Pipeline};
use super::read;
use super::tree::{Node, Part, Text, Unresolved};
use std::fmt::Write as _;

const MAX_DEPTH: usize = 64;

/// Whether the tree is a CloudFormation template (it has `Resources`).
pub(super) fn is_template(root: &Node) -> bool {
    root.entries().iter().any(|(k, _)| k == "Resources")
}

/// The template's pipelines, in the order of its resources.
pub(super) fn pipelines(root: &Node) -> Vec<Pipeline> {
    let t = Template::new(root);
    let mut out = Vec::new();
    for (id, res) in t.resources {
        if res.lit("Type").as_deref() != Some("AWS::CodePipeline::Pipeline") {
            continue;
        }
        let props = res
            .get("Properties")
            .cloned()
            .unwrap_or(Node::Map(Vec::new()));
        let props = t.eval(&props, 0);
        let mut p = read::pipeline(
            &props,
            id,
            Origin {
                what: format!("CloudFormation resource `{id}`"),
            },
        );
        if let Some(cond) = res.lit("Condition") {
            p.notes.push(format!(
                "the resource exists only where the template's condition `{cond}` holds"
            ));
        }
        p.inputs.clone_from(&t.inputs);
        out.push(p);
    }
    out
}

struct Template<'a> {
    resources: &'a [(String, Node)],
    conditions: &'a [(String, Node)],
    mappings: &'a [(String, Node)],
    inputs: Vec<Input>,
}

impl<'a> Template<'a> {
    fn new(root: &'a Node) -> Template<'a> {
        let section = |name: &str| {
            root.entries()
                .iter()
                .find(|(k, _)| k == name)
                .map_or(&[][..], |(_, v)| v.entries())
        };
        let inputs = section("Parameters")
            .iter()
            .map(|(name, p)| Input {
                name: name.clone(),
                default: p.get("Default").and_then(|d| match d.peel().0 {
                    Node::Text(t) => t.as_lit(),
                    Node::List(items) => Some(
                        items
                            .iter()
                            .filter_map(|i| i.text().and_then(Text::as_lit))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    _ => None,
                }),
                description: p.lit("Description"),
                allowed: p
                    .items(&["AllowedValues"])
                    .into_iter()
                    .filter_map(|n| n.text().and_then(Text::as_lit))
                    .collect(),
                no_echo: p
                    .lit("NoEcho")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                kind: "CloudFormation parameter",
            })
            .collect();
        Template {
            resources: section("Resources"),
            conditions: section("Conditions"),
            mappings: section("Mappings"),
            inputs,
        }
    }

    fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Evaluates the intrinsic functions in a node.
    fn eval(&self, node: &Node, depth: usize) -> Node {
        if depth > MAX_DEPTH {
            return unresolved("nested", "a value nested too deep", "nested too deep");
        }
        match node {
            Node::Map(entries) if entries.len() == 1 && is_intrinsic(&entries[0].0) => {
                self.intrinsic(&entries[0].0, &entries[0].1, depth + 1)
            }
            Node::Map(entries) => Node::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), self.eval(v, depth + 1)))
                    .filter(|(_, v)| *v != Node::NoValue)
                    .collect(),
            ),
            Node::List(items) => Node::List(
                items
                    .iter()
                    .map(|i| self.eval(i, depth + 1))
                    .filter(|v| *v != Node::NoValue)
                    .collect(),
            ),
            Node::Noted(n, inner) => Node::Noted(n.clone(), Box::new(self.eval(inner, depth + 1))),
            other => other.clone(),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Node, depth: usize) -> Node {
        let source = describe(name, arg);
        match name {
            "Ref" => match arg.text().and_then(Text::as_lit) {
                Some(r) => self.reference(&r, &source),
                None => other(&source),
            },
            "Fn::GetAtt" => {
                let path = match arg.peel().0 {
                    Node::List(items) => items
                        .iter()
                        .filter_map(|i| i.text().map(Text::describe))
                        .collect::<Vec<_>>()
                        .join("."),
                    n => n.text().map(Text::describe).unwrap_or_default(),
                };
                self.get_att(&path, &source)
            }
            "Fn::Sub" => self.sub(arg, depth, &source),
            "Fn::Join" => self.join(arg, depth, &source),
            "Fn::Select" => self.select(arg, depth, &source),
            "Fn::FindInMap" => self.find_in_map(arg, depth, &source),
            "Fn::If" => self.if_(arg, depth, &source),
            "Fn::ImportValue" => {
                let name = self
                    .eval(arg, depth)
                    .text()
                    .map(Text::describe)
                    .unwrap_or_default();
                unresolved(
                    &name,
                    &source,
                    "a value exported by another stack (`Fn::ImportValue`)",
                )
            }
            _ => other(&source),
        }
    }

    fn reference(&self, name: &str, source: &str) -> Node {
        if name == "AWS::NoValue" {
            return Node::NoValue;
        }
        if self.input(name).is_some() {
            return Node::Text(Text(vec![Part::Param(name.to_string())]));
        }
        if let Some(pseudo) = name.strip_prefix("AWS::") {
            let mut node = unresolved(
                &format!("AWS_{pseudo}"),
                source,
                "a pseudo parameter CloudFormation sets when it deploys the stack",
            );
            // The commercial partition's values: right but in China and GovCloud.
            let default = match pseudo {
                "Partition" => Some("aws"),
                "URLSuffix" => Some("amazonaws.com"),
                _ => None,
            };
            if let Node::Text(Text(parts)) = &mut node {
                if let Some(Part::Unresolved(u)) = parts.first_mut() {
                    u.default = default.map(str::to_string);
                }
            }
            return node;
        }
        match self.resources.iter().find(|(id, _)| id == name) {
            Some((_, res)) => {
                let ty = res.lit("Type").unwrap_or_default();
                // `Ref` of these types is the name the resource gives itself, when it does.
                let named = named_by(&ty)
                    .and_then(|prop| Some((prop, res.get("Properties")?.get(prop)?)))
                    .and_then(|(prop, v)| Some((prop, self.eval(v, 1).text()?.clone())));
                if let Some((prop, text)) = named {
                    let note = format!("`{source}` is the `{prop}` of the template's `{ty}`");
                    return Node::Text(Text::noted(note, &text));
                }
                unresolved(
                    name,
                    source,
                    &format!("the name or id of the template's resource `{name}` (`{ty}`)"),
                )
            }
            None => unresolved(name, source, "a name the template does not declare"),
        }
    }

    fn get_att(&self, path: &str, source: &str) -> Node {
        let resource = path.split('.').next().unwrap_or_default();
        let ty = self
            .resources
            .iter()
            .find(|(id, _)| id == resource)
            .and_then(|(_, r)| r.lit("Type"));
        let why = match ty {
            Some(ty) => format!("an attribute of the template's resource `{resource}` (`{ty}`)"),
            None => format!("an attribute of `{resource}`, which this template does not declare"),
        };
        unresolved(&path.replace('.', "_"), source, &why)
    }

    fn sub(&self, arg: &Node, depth: usize, source: &str) -> Node {
        let (template, vars) = match arg.peel().0 {
            Node::List(items) if !items.is_empty() => (items[0].text(), items.get(1)),
            n => (n.text(), None),
        };
        let Some(template) = template.and_then(Text::as_lit) else {
            return other(source);
        };
        let mut out = Text::default();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push(Text::lit(&rest[..start]));
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push(Text::lit(&rest[start..]));
                rest = "";
                break;
            };
            let name = after[..end].trim();
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push(Text::lit(format!("${{{literal}}}")));
                continue;
            }
            let var = vars.and_then(|v| v.entries().iter().find(|(k, _)| k == name));
            let value = match var {
                Some((_, v)) => self.eval(v, depth + 1),
                None if name.contains('.') && !name.starts_with("AWS::") => {
                    self.get_att(name, &format!("${{{name}}}"))
                }
                None => self.reference(name, &format!("${{{name}}}")),
            };
            match value.text() {
                Some(t) => out.push(t.clone()),
                None => out.push(Text(vec![Part::Unresolved(Unresolved {
                    name: name.to_string(),
                    source: format!("${{{name}}} in {source}"),
                    why: "a value that is not text".to_string(),
                    default: None,
                })])),
            }
        }
        out.push(Text::lit(rest));
        Node::Text(out)
    }

    fn join(&self, arg: &Node, depth: usize, source: &str) -> Node {
        let Node::List(items) = arg.peel().0 else {
            return other(source);
        };
        let (Some(sep), Some(list)) = (items.first().and_then(Node::text), items.get(1)) else {
            return other(source);
        };
        let Node::List(parts) = self.eval(list, depth + 1).peel().0.clone() else {
            return other(source);
        };
        let mut out = Text::default();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push(sep.clone());
            }
            match part.text() {
                Some(t) => out.push(t.clone()),
                None => return other(source),
            }
        }
        Node::Text(out)
    }

    fn select(&self, arg: &Node, depth: usize, source: &str) -> Node {
        let Node::List(items) = arg.peel().0 else {
            return other(source);
        };
        let index = items
            .first()
            .and_then(|i| self.eval(i, depth + 1).text().and_then(Text::as_lit))
            .and_then(|i| i.trim().parse::<usize>().ok());
        let list = items.get(1).map(|l| self.eval(l, depth + 1));
        match (index, list.as_ref().map(|l| l.peel().0)) {
            (Some(i), Some(Node::List(values))) if i < values.len() => values[i].clone(),
            (Some(i), Some(Node::Text(t))) => match t.as_lit() {
                // `!Select [0, !Split [",", "a,b"]]` after a literal split.
                Some(s) => s
                    .split(',')
                    .nth(i)
                    .map_or_else(|| other(source), |v| Node::Text(Text::lit(v))),
                None => other(source),
            },
            _ => other(source),
        }
    }

    fn find_in_map(&self, arg: &Node, depth: usize, source: &str) -> Node {
        let Node::List(items) = arg.peel().0 else {
            return other(source);
        };
        let keys: Option<Vec<String>> = items
            .iter()
            .map(|i| {
                self.eval(i, depth + 1)
                    .text()
                    .and_then(|t| self.with_defaults(t))
            })
            .collect();
        let Some(keys) = keys.filter(|k| k.len() == 3) else {
            return other(source);
        };
        let found = self
            .mappings
            .iter()
            .find(|(k, _)| *k == keys[0])
            .and_then(|(_, m)| m.entries().iter().find(|(k, _)| *k == keys[1]))
            .and_then(|(_, m)| m.entries().iter().find(|(k, _)| *k == keys[2]))
            .map(|(_, v)| v.clone());
        let note = format!("`{source}` looked up with the parameters' defaults");
        match found.map(|v| self.eval(&v, depth + 1)) {
            Some(Node::Text(t)) => Node::Text(Text::noted(note, &t)),
            Some(v) => Node::Noted(note, Box::new(v)),
            None => other(source),
        }
    }

    fn if_(&self, arg: &Node, depth: usize, source: &str) -> Node {
        let Node::List(items) = arg.peel().0 else {
            return other(source);
        };
        let (Some(cond), Some(yes), Some(no)) = (
            items.first().and_then(|c| c.text().and_then(Text::as_lit)),
            items.get(1),
            items.get(2),
        ) else {
            return other(source);
        };
        if let Some(holds) = self.condition_named(&cond, depth + 1) {
            let chosen = self.eval(if holds { yes } else { no }, depth + 1);
            let note = format!(
                "`Fn::If [{cond}, …]`: the condition `{cond}` is {holds} with the \
                     parameters' defaults, so its {} branch was imported",
                if holds { "first" } else { "second" }
            );
            match chosen {
                Node::NoValue => Node::NoValue,
                Node::Text(t) => Node::Text(Text::noted(note, &t)),
                other => Node::Noted(note, Box::new(other)),
            }
        } else {
            let chosen = self.eval(yes, depth + 1);
            if chosen.text().is_some() || chosen == Node::NoValue {
                unresolved(
                    &cond,
                    source,
                    &format!("it depends on the condition `{cond}`"),
                )
            } else {
                Node::Noted(
                    format!(
                        "`Fn::If [{cond}, …]`: the condition `{cond}` cannot be decided \
                             here, so its first branch was imported"
                    ),
                    Box::new(chosen),
                )
            }
        }
    }

    /// A text with every parameter replaced by its default, if all have one.
    fn with_defaults(&self, t: &Text) -> Option<String> {
        let mut out = String::new();
        for part in &t.0 {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Param(p) => out.push_str(self.input(p)?.default.as_deref()?),
                Part::Unresolved(_) => return None,
                Part::Note(_) => {}
            }
        }
        Some(out)
    }

    fn condition_named(&self, name: &str, depth: usize) -> Option<bool> {
        let (_, c) = self.conditions.iter().find(|(k, _)| k == name)?;
        self.condition(c, depth + 1)
    }

    fn condition(&self, c: &Node, depth: usize) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        let [(name, arg)] = c.entries() else {
            return None;
        };
        let args: Vec<&Node> = match arg.peel().0 {
            Node::List(items) => items.iter().collect(),
            n => vec![n],
        };
        match name.as_str() {
            "Condition" => self.condition_named(&arg.text()?.as_lit()?, depth),
            "Fn::Equals" => {
                let mut values = args.iter().map(|a| {
                    self.eval(a, depth + 1)
                        .text()
                        .and_then(|t| self.with_defaults(t))
                });
                let (a, b) = (values.next()??, values.next()??);
                Some(a == b)
            }
            "Fn::Not" => self.condition(args.first()?, depth + 1).map(|b| !b),
            "Fn::And" => args
                .iter()
                .map(|a| self.condition(a, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.iter().all(|b| *b)),
            "Fn::Or" => args
                .iter()
                .map(|a| self.condition(a, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.iter().any(|b| *b)),
            _ => None,
        }
    }
}

fn is_intrinsic(key: &str) -> bool {
    key == "Ref" || key.starts_with("Fn::")
}

/// The property whose value `Ref` returns, for the types where `Ref` is the resource's
/// name (for others, e.g. a topic's ARN or a repository's id, it is not a property).
fn named_by(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "AWS::CodeBuild::Project" | "AWS::CodePipeline::Pipeline" | "AWS::SSM::Parameter" => "Name",
        "AWS::Lambda::Function" => "FunctionName",
        "AWS::ECR::Repository" => "RepositoryName",
        "AWS::S3::Bucket" => "BucketName",
        "AWS::IAM::Role" => "RoleName",
        "AWS::ECS::Cluster" => "ClusterName",
        "AWS::CodeDeploy::Application" | "AWS::ElasticBeanstalk::Application" => "ApplicationName",
        "AWS::CodeDeploy::DeploymentGroup" => "DeploymentGroupName",
        "AWS::ElasticBeanstalk::Environment" => "EnvironmentName",
        "AWS::Logs::LogGroup" => "LogGroupName",
        _ => return None,
    })
}

fn unresolved(name: &str, source: &str, why: &str) -> Node {
    Node::Text(Text(vec![Part::Unresolved(Unresolved {
        name: name.to_string(),
        source: source.to_string(),
        why: why.to_string(),
        default: None,
    })]))
}

fn other(source: &str) -> Node {
    let name = source
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && *w != "Fn")
        .take(3)
        .collect::<Vec<_>>()
        .join("_");
    unresolved(
        &name,
        source,
        "an intrinsic function the import does not evaluate",
    )
}

/// A short-form rendering of an intrinsic call, for comments (at most ~80 characters).
fn describe(name: &str, arg: &Node) -> String {
    let short = name.strip_prefix("Fn::").unwrap_or(name);
    let mut out = format!("!{short} ");
    render(arg, &mut out);
    if out.chars().count() > 80 {
        out = out.chars().take(77).collect::<String>() + "…";
    }
    out
}

fn render(node: &Node, out: &mut String) {
    if out.len() > 100 {
        return;
    }
    match node.peel().0 {
        Node::Null | Node::NoValue => out.push_str("null"),
        Node::Text(t) => {
            let s = t.describe();
            if s.contains([' ', ',', '[', ']', '{', '}']) || s.contains(": ") || s.is_empty() {
                let _ = write!(out, "{s:?}");
            } else {
                out.push_str(&s);
            }
        }
        Node::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, out);
            }
            out.push(']');
        }
        Node::Map(entries) => {
            if let [(k, v)] = entries.as_slice() {
                if is_intrinsic(k) || k == "Condition" {
                    out.push_str(&describe(k, v));
                    return;
                }
            }
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render(v, out);
            }
            out.push('}');
        }
        Node::Noted(_, inner) => render(inner, out),
    }
}
