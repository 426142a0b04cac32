//! Terraform: the `aws_codepipeline` resources of an HCL file, their bodies as trees.
//!
//! `var.NAME` is an input (a param; its default from the file's `variable` block when it is
//! literal), `local.NAME` is evaluated from the file's `locals`, a `dynamic "stage"` block is
//! expanded when its `for_each` is a literal list here (else a note says it was left out);
//! every other expression (`aws_iam_role.x.arn`, function calls, conditionals) is an
//! [`Unresolved`] value written as Terraform wrote it.

use std::str::FromStr;

use hcl::expr::{Expression, ObjectKey, TemplateExpr, TraversalOperator};
use hcl::structure::{Block, BlockLabel, Body, Structure};
use hcl::template::{Element, Template};

use super::error::Error;
use super::model::{Input, Origin, Pipeline};
use super::read;
use super::tree::{Node, Part, Text, Unresolved};

const MAX_DEPTH: usize = 64;

/// Whether the text looks like HCL (a `resource "…" "…" {` line).
pub(super) fn looks_like_hcl(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        (l.starts_with("resource \"") || l.starts_with("variable \""))
            && l.trim_end().ends_with('{')
    })
}

/// The file's `aws_codepipeline` resources.
pub(super) fn pipelines(text: &str) -> Result<Vec<Pipeline>, Error> {
    module(&[("", text)])
}

/// The `aws_codepipeline` resources of a module's files (name, text), read as one body:
/// `variable` defaults and `locals` of any file apply to every file.
pub(super) fn module(files: &[(&str, &str)]) -> Result<Vec<Pipeline>, Error> {
    let mut body = Body::default();
    for (name, text) in files {
        let part = hcl::parse(text).map_err(|e| {
            let help = "fix the Terraform at that place (`terraform validate` says more), then \
                        import it again";
            let err = match &e {
                hcl::Error::Parse(p) => Error::new(format!("invalid HCL: {}", p.message()), help)
                    .at(p.location().line(), p.location().column()),
                other => Error::new(format!("invalid HCL: {other}"), help),
            };
            Error {
                file: (!name.is_empty()).then(|| (*name).to_string()),
                ..err
            }
        })?;
        body.0.extend(part.0);
    }
    let file = File::new(&body);
    let mut out = Vec::new();
    for block in body.blocks() {
        if block.identifier.as_str() != "resource" || label(block, 0) != Some("aws_codepipeline") {
            continue;
        }
        let name = label(block, 1).unwrap_or("pipeline").to_string();
        let mut notes = Vec::new();
        let tree = file.body(&block.body, &Scope::default(), &mut notes, 0);
        let mut p = read::pipeline(
            &tree,
            &name,
            Origin {
                what: format!("Terraform resource `aws_codepipeline.{name}`"),
            },
        );
        p.notes.extend(notes);
        p.inputs.clone_from(&file.inputs);
        out.push(p);
    }
    Ok(out)
}

/// Whether a JSON tree is Terraform's JSON syntax (`.tf.json`) with a CodePipeline resource.
pub(super) fn is_terraform_json(root: &Node) -> bool {
    root.entries()
        .iter()
        .any(|(k, v)| k == "resource" && v.entries().iter().any(|(t, _)| t == "aws_codepipeline"))
}

/// The `aws_codepipeline` resources of `terraform show -json` (a state, or a plan's planned
/// values): every value is known there, `dynamic` blocks expanded. One per address.
pub(super) fn state_pipelines(root: &Node) -> Vec<Pipeline> {
    let mut found: Vec<(String, Node)> = Vec::new();
    collect_state(root, &mut found, 0);
    found
        .into_iter()
        .map(|(address, values)| {
            let label = address.rsplit('.').next().unwrap_or("pipeline").to_string();
            read::pipeline(
                &values,
                &label,
                Origin {
                    what: format!("Terraform state `{address}`"),
                },
            )
        })
        .collect()
}

fn collect_state(node: &Node, found: &mut Vec<(String, Node)>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match node.peel().0 {
        Node::Map(entries) => {
            let is_pipeline = node.lit("type").as_deref() == Some("aws_codepipeline")
                && node.lit("mode").as_deref() != Some("data");
            if let (true, Some(values)) = (is_pipeline, node.get("values")) {
                let address = node
                    .lit("address")
                    .unwrap_or_else(|| "aws_codepipeline".to_string());
                if !found.iter().any(|(a, _)| *a == address) {
                    found.push((address, values.clone()));
                }
                return;
            }
            for (_, v) in entries {
                collect_state(v, found, depth + 1);
            }
        }
        Node::List(items) => {
            for item in items {
                collect_state(item, found, depth + 1);
            }
        }
        _ => {}
    }
}

/// The `aws_codepipeline` resources of Terraform's JSON syntax: strings are templates
/// (`"${var.x}"`), evaluated as in HCL files.
pub(super) fn json_pipelines(root: &Node) -> Vec<Pipeline> {
    let empty = Body::default();
    let mut file = File::new(&empty);
    for (k, v) in root.entries() {
        if k == "variable" {
            for (name, decl) in v.entries() {
                file.inputs.push(Input {
                    name: name.clone(),
                    default: decl.lit("default"),
                    description: decl.lit("description"),
                    allowed: Vec::new(),
                    no_echo: decl.lit("sensitive").as_deref() == Some("true"),
                    kind: "Terraform variable",
                });
            }
        }
    }
    let mut out = Vec::new();
    for (k, v) in root.entries() {
        if k != "resource" {
            continue;
        }
        for (name, body) in v
            .get("aws_codepipeline")
            .map(Node::entries)
            .unwrap_or_default()
        {
            // A resource may be one object or a list of them (both are Terraform JSON).
            let body = match body.peel().0 {
                Node::List(items) => items.first().cloned().unwrap_or(Node::Null),
                other => other.clone(),
            };
            let tree = file.templates(&body, 0);
            let mut p = read::pipeline(
                &tree,
                name,
                Origin {
                    what: format!("Terraform JSON resource `aws_codepipeline.{name}`"),
                },
            );
            p.inputs.clone_from(&file.inputs);
            out.push(p);
        }
    }
    out
}

fn label(block: &Block, i: usize) -> Option<&str> {
    block.labels.get(i).map(|l| match l {
        BlockLabel::Identifier(id) => id.as_str(),
        BlockLabel::String(s) => s.as_str(),
    })
}

struct File<'a> {
    locals: Vec<(&'a str, &'a Expression)>,
    inputs: Vec<Input>,
}

/// The iterator of a `dynamic` block being expanded: its name and current element.
#[derive(Default)]
struct Scope {
    iterator: Option<(String, Node, usize)>,
}

impl<'a> File<'a> {
    fn new(body: &'a Body) -> File<'a> {
        let mut locals = Vec::new();
        let mut inputs = Vec::new();
        for block in body.blocks() {
            match block.identifier.as_str() {
                "locals" => {
                    for a in block.body.attributes() {
                        locals.push((a.key.as_str(), &a.expr));
                    }
                }
                "variable" => {
                    let Some(name) = label(block, 0) else {
                        continue;
                    };
                    let attr = |key: &str| {
                        block
                            .body
                            .attributes()
                            .find(|a| a.key.as_str() == key)
                            .map(|a| &a.expr)
                    };
                    inputs.push(Input {
                        name: name.to_string(),
                        default: attr("default").and_then(literal),
                        description: attr("description").and_then(literal),
                        allowed: Vec::new(),
                        no_echo: attr("sensitive").is_some_and(|e| *e == Expression::Bool(true)),
                        kind: "Terraform variable",
                    });
                }
                _ => {}
            }
        }
        File { locals, inputs }
    }

    /// Terraform JSON: every string evaluated as a template.
    fn templates(&self, node: &Node, depth: usize) -> Node {
        if depth > MAX_DEPTH {
            return Node::Null;
        }
        match node {
            Node::Text(t) => match t.as_lit() {
                Some(s) if s.contains("${") => match Template::from_str(&s) {
                    Ok(template) => self.elements(template.elements(), &Scope::default(), depth),
                    Err(_) => Node::Text(t.clone()),
                },
                _ => Node::Text(t.clone()),
            },
            Node::List(items) => {
                Node::List(items.iter().map(|i| self.templates(i, depth + 1)).collect())
            }
            Node::Map(entries) => Node::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), self.templates(v, depth + 1)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn body(&self, body: &Body, scope: &Scope, notes: &mut Vec<String>, depth: usize) -> Node {
        let mut entries = Vec::new();
        for s in body {
            match s {
                Structure::Attribute(a) => {
                    entries.push((a.key.to_string(), self.expr(&a.expr, scope, depth + 1)));
                }
                Structure::Block(b) if b.identifier.as_str() == "dynamic" => {
                    self.dynamic(b, scope, &mut entries, notes, depth + 1);
                }
                Structure::Block(b) => {
                    let node = self.body(&b.body, scope, notes, depth + 1);
                    entries.push((b.identifier.to_string(), node));
                }
            }
        }
        Node::Map(entries)
    }

    fn dynamic(
        &self,
        b: &Block,
        scope: &Scope,
        entries: &mut Vec<(String, Node)>,
        notes: &mut Vec<String>,
        depth: usize,
    ) {
        let name = label(b, 0).unwrap_or_default().to_string();
        let attr = |key: &str| {
            b.body
                .attributes()
                .find(|a| a.key.as_str() == key)
                .map(|a| &a.expr)
        };
        let content = b.body.blocks().find(|c| c.identifier.as_str() == "content");
        let iterator = attr("iterator").map_or_else(|| name.clone(), ToString::to_string);
        let for_each = attr("for_each");
        let items = for_each.map(|e| self.expr(e, scope, depth + 1));
        match (items.as_ref().map(|n| n.peel().0), content) {
            (Some(Node::List(items)), Some(content)) if depth < MAX_DEPTH => {
                for (i, item) in items.iter().enumerate() {
                    let inner = Scope {
                        iterator: Some((iterator.clone(), item.clone(), i)),
                    };
                    entries.push((
                        name.clone(),
                        self.body(&content.body, &inner, notes, depth + 1),
                    ));
                }
            }
            _ => notes.push(format!(
                "not carried over: a `dynamic \"{name}\"` block over `{}`, whose elements are \
                 only known to Terraform (import `terraform show -json` instead, where they are \
                 expanded, or `aws codepipeline get-pipeline --name NAME`)",
                for_each.map(ToString::to_string).unwrap_or_default()
            )),
        }
    }

    fn expr(&self, e: &Expression, scope: &Scope, depth: usize) -> Node {
        if depth > MAX_DEPTH {
            return unresolved("nested", &e.to_string());
        }
        match e {
            Expression::Null => Node::NoValue,
            Expression::Bool(b) => Node::Text(Text::lit(b.to_string())),
            Expression::Number(n) => Node::Text(Text::lit(n.to_string())),
            Expression::String(s) => Node::Text(Text::lit(s.clone())),
            Expression::Array(items) => Node::List(
                items
                    .iter()
                    .map(|i| self.expr(i, scope, depth + 1))
                    .collect(),
            ),
            Expression::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            ObjectKey::Identifier(id) => id.to_string(),
                            ObjectKey::Expression(e) => self
                                .expr(e, scope, depth + 1)
                                .text()
                                .map(Text::describe)
                                .unwrap_or_default(),
                            other => other.to_string(),
                        };
                        (key, self.expr(v, scope, depth + 1))
                    })
                    .filter(|(_, v)| *v != Node::NoValue)
                    .collect(),
            ),
            Expression::TemplateExpr(t) => self.template(t, scope, depth + 1),
            Expression::Parenthesis(inner) => self.expr(inner, scope, depth + 1),
            Expression::Traversal(_) | Expression::Variable(_) => {
                self.traversal(e, scope, depth + 1)
            }
            Expression::FuncCall(call) => self.call(call, scope, depth + 1),
            Expression::Conditional(_) => unresolved("value", &e.to_string()),
            other => unresolved(&name_of(&other.to_string()), &other.to_string()),
        }
    }

    /// `jsonencode(…)` of a value the import knows is that JSON (keys sorted, as Terraform
    /// writes them); other functions are values the import cannot know.
    fn call(&self, call: &hcl::expr::FuncCall, scope: &Scope, depth: usize) -> Node {
        let source = Expression::FuncCall(Box::new(call.clone())).to_string();
        let name = call.name.name.as_str();
        match (name, call.args.as_slice()) {
            ("jsonencode", [arg]) if call.name.namespace.is_empty() => {
                let value = sorted(self.expr(arg, scope, depth + 1));
                Node::Text(read::as_text(&value))
            }
            _ => unresolved(name, &source),
        }
    }

    fn template(&self, t: &TemplateExpr, scope: &Scope, depth: usize) -> Node {
        let Ok(template) = Template::from_expr(t) else {
            return unresolved("template", &t.to_string());
        };
        self.elements(template.elements(), scope, depth)
    }

    fn elements(&self, elements: &[Element], scope: &Scope, depth: usize) -> Node {
        let mut out = Text::default();
        for element in elements {
            match element {
                Element::Literal(s) => out.push(Text::lit(s.clone())),
                Element::Interpolation(i) => match self.expr(&i.expr, scope, depth + 1) {
                    Node::Text(t) => out.push(t),
                    _ => out.push(unresolved_text(&i.expr.to_string())),
                },
                Element::Directive(d) => {
                    let source = format!("{d:?}");
                    out.push(unresolved_text(
                        &source.chars().take(60).collect::<String>(),
                    ));
                }
            }
        }
        Node::Text(out)
    }

    fn traversal(&self, e: &Expression, scope: &Scope, depth: usize) -> Node {
        let source = e.to_string();
        let (root, ops): (&str, &[TraversalOperator]) = match e {
            Expression::Variable(v) => (v.as_str(), &[]),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => (v.as_str(), &t.operators),
                _ => return unresolved(&name_of(&source), &source),
            },
            _ => return unresolved(&name_of(&source), &source),
        };
        let first = ops.first().and_then(|op| match op {
            TraversalOperator::GetAttr(id) => Some(id.as_str()),
            _ => None,
        });
        match (root, first) {
            ("var", Some(name)) if ops.len() == 1 => {
                Node::Text(Text(vec![Part::Param(name.to_string())]))
            }
            ("local", Some(name)) if ops.len() == 1 => {
                match self.locals.iter().find(|(k, _)| *k == name) {
                    Some((_, e)) => self.expr(e, scope, depth + 1),
                    None => unresolved(name, &source),
                }
            }
            (it, _) if scope.iterator.as_ref().is_some_and(|(n, _, _)| n == it) => {
                Self::iterated(ops, scope, &source)
            }
            _ => unresolved(&name_of(&source), &source),
        }
    }

    /// `stage.value["name"]`, `stage.value.name`, `stage.key` inside a `dynamic` block.
    fn iterated(ops: &[TraversalOperator], scope: &Scope, source: &str) -> Node {
        let Some((_, item, index)) = &scope.iterator else {
            return unresolved(&name_of(source), source);
        };
        let mut node = match ops.first() {
            Some(TraversalOperator::GetAttr(id)) if id.as_str() == "value" => item.clone(),
            Some(TraversalOperator::GetAttr(id)) if id.as_str() == "key" => {
                return Node::Text(Text::lit(index.to_string()));
            }
            _ => return unresolved(&name_of(source), source),
        };
        for op in &ops[1..] {
            let key = match op {
                TraversalOperator::GetAttr(id) => id.to_string(),
                TraversalOperator::Index(Expression::String(s)) => s.clone(),
                TraversalOperator::Index(e) => match literal(e) {
                    Some(k) => k,
                    None => return unresolved(&name_of(source), source),
                },
                _ => return unresolved(&name_of(source), source),
            };
            node = match node.get(&key) {
                Some(n) => n.clone(),
                None => return unresolved(&name_of(source), source),
            };
        }
        node
    }
}

/// A tree with every map's keys sorted (Terraform's `jsonencode` order).
fn sorted(node: Node) -> Node {
    match node {
        Node::Map(mut entries) => {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Node::Map(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Node::List(items) => Node::List(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// A literal expression's text (defaults, descriptions).
fn literal(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.clone()),
        Expression::Number(n) => Some(n.to_string()),
        Expression::Bool(b) => Some(b.to_string()),
        Expression::TemplateExpr(t) => {
            let template = Template::from_expr(t).ok()?;
            match template.elements() {
                [Element::Literal(s)] => Some(s.clone()),
                [] => Some(String::new()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A param name from an expression's text: `aws_iam_role.pipeline.arn` → `pipeline_arn`.
fn name_of(source: &str) -> String {
    let words: Vec<&str> = source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let tail = if words.len() > 2 {
        &words[words.len() - 2..]
    } else {
        &words[..]
    };
    tail.join("_")
}

fn unresolved_text(source: &str) -> Text {
    Text(vec![Part::Unresolved(Unresolved {
        name: name_of(source),
        source: source.to_string(),
        why: "a Terraform expression the import does not evaluate".to_string(),
        default: None,
    })])
}

fn unresolved(name: &str, source: &str) -> Node {
    let mut t = unresolved_text(source);
    if let Some(Part::Unresolved(u)) = t.0.first_mut() {
        u.name = name.to_string();
    }
    Node::Text(t)
}
