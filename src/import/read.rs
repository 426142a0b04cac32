//! One reader for every format's tree: a pipeline declaration (CloudFormation's
//! `Properties`, the CLI's `pipeline` object, a Terraform resource's body) to the model.
//! Keys are matched in any of the formats' spellings (`RunOrder`, `runOrder`, `run_order`),
//! and a list may be a list or a repeated key (Terraform's `stage { … }` blocks).

use super::model::{
    Action, Condition, Failure, Filter, Origin, Pipeline, Rule, Stage, Trigger, Variable,
};
use super::tree::{Node, Part, Text};

/// Reads one pipeline declaration.
pub(super) fn pipeline(decl: &Node, label: &str, origin: Origin) -> Pipeline {
    let mut p = Pipeline {
        origin,
        label: label.to_string(),
        name: decl.get("name").and_then(Node::text).cloned(),
        role_arn: decl.get("roleArn").and_then(Node::text).cloned(),
        execution_mode: decl.lit("executionMode"),
        pipeline_type: decl.lit("pipelineType"),
        ..Pipeline::default()
    };
    note_peeled(decl, &mut p.notes);
    for v in decl.items(&["variables", "variable"]) {
        if let Some(name) = v.lit("name") {
            p.variables.push(Variable {
                name,
                default: v.get("defaultValue").and_then(Node::text).cloned(),
                description: v.lit("description"),
            });
        }
    }
    for t in decl.items(&["triggers", "trigger"]) {
        triggers(t, &mut p.triggers, &mut p.notes);
    }
    for s in decl.items(&["stages", "stage"]) {
        p.stages.push(stage(s));
    }
    for d in decl.items(&["disableInboundStageTransitions"]) {
        if let Some(stage) = d.lit("stageName") {
            let reason = d.get("reason").and_then(Node::text).cloned();
            p.disabled_transitions
                .push((stage, reason.unwrap_or_else(|| Text::lit("disabled"))));
        }
    }
    for (key, what) in [
        (
            "artifactStore",
            "the artifact store (pipec keeps artifacts itself)",
        ),
        (
            "artifactStores",
            "the artifact stores (pipec keeps artifacts itself)",
        ),
        ("restartExecutionOnUpdate", "`RestartExecutionOnUpdate`"),
        ("tags", "the tags"),
    ] {
        if decl.get(key).is_some_and(|n| !matches!(n, Node::Null)) {
            p.notes.push(format!("not carried over: {what}"));
        }
    }
    p
}

fn note_peeled(node: &Node, notes: &mut Vec<String>) {
    notes.extend(node.peel().1.into_iter().map(str::to_string));
}

fn stage(s: &Node) -> Stage {
    let mut stage = Stage {
        name: s.lit("name").unwrap_or_default(),
        ..Stage::default()
    };
    note_peeled(s, &mut stage.notes);
    for a in s.items(&["actions", "action"]) {
        stage.actions.push(action(a));
    }
    stage.before_entry = s.get("beforeEntry").and_then(condition);
    stage.on_success = s.get("onSuccess").and_then(condition);
    if let Some(f) = s.get("onFailure") {
        let mut failure = Failure {
            result: f.lit("result").unwrap_or_default().to_ascii_uppercase(),
            retry_mode: f.get("retryConfiguration").and_then(|r| r.lit("retryMode")),
            rules: Vec::new(),
        };
        for c in f.items(&["conditions", "condition"]) {
            failure
                .rules
                .extend(c.items(&["rules", "rule"]).into_iter().map(rule));
        }
        stage.on_failure = Some(failure);
    }
    if !s.items(&["blockers"]).is_empty() {
        stage.notes.push("not carried over: `Blockers`".to_string());
    }
    stage
}

fn condition(c: &Node) -> Option<Condition> {
    // CodePipeline takes one condition per `beforeEntry`/`onSuccess`; a second one is kept
    // by merging its rules (both must hold either way) under the first one's result.
    let mut out: Option<Condition> = None;
    for cond in c.items(&["conditions", "condition"]) {
        let rules: Vec<Rule> = cond
            .items(&["rules", "rule"])
            .into_iter()
            .map(rule)
            .collect();
        let result = cond.lit("result").unwrap_or_default().to_ascii_uppercase();
        match &mut out {
            None => out = Some(Condition { result, rules }),
            Some(o) => o.rules.extend(rules),
        }
    }
    out
}

fn rule(r: &Node) -> Rule {
    let type_id = r.get("ruleTypeId");
    Rule {
        name: r.lit("name").unwrap_or_default(),
        provider: type_id
            .and_then(|t| t.lit("provider"))
            .or_else(|| r.lit("provider"))
            .unwrap_or_default(),
        configuration: configuration(r.get("configuration")),
        commands: texts(r.get("commands")),
        inputs: artifacts(r, &["inputArtifacts", "inputArtifact"]),
    }
}

fn action(a: &Node) -> Action {
    let type_id = a.get("actionTypeId");
    let field = |key: &str| {
        type_id
            .and_then(|t| t.lit(key))
            .or_else(|| a.lit(key))
            .unwrap_or_default()
    };
    let mut action = Action {
        name: a.lit("name").unwrap_or_default(),
        category: field("category"),
        owner: field("owner"),
        provider: field("provider"),
        version: field("version"),
        run_order: a.lit("runOrder").and_then(|r| r.trim().parse().ok()),
        configuration: configuration(a.get("configuration")),
        inputs: artifacts(a, &["inputArtifacts"]),
        outputs: artifacts(a, &["outputArtifacts"]),
        namespace: a.lit("namespace").filter(|n| !n.is_empty()),
        region: a.get("region").and_then(Node::text).cloned(),
        role_arn: a.get("roleArn").and_then(Node::text).cloned(),
        timeout_minutes: a
            .lit("timeoutInMinutes")
            .and_then(|r| r.trim().parse().ok()),
        commands: texts(a.get("commands")),
        output_variables: a
            .items(&["outputVariables"])
            .into_iter()
            .filter_map(|n| n.text().and_then(Text::as_lit))
            .collect(),
        notes: Vec::new(),
    };
    note_peeled(a, &mut action.notes);
    for o in a.items(&["outputArtifacts"]) {
        let files: Vec<String> = o
            .items(&["files"])
            .into_iter()
            .filter_map(|f| f.text().map(Text::describe))
            .collect();
        if !files.is_empty() {
            action.notes.push(format!(
                "the output artifact `{}` holds the files {} in CodePipeline",
                o.lit("name").unwrap_or_default(),
                files.join(", ")
            ));
        }
    }
    if a.get("runOrder").is_some() && action.run_order.is_none() {
        action
            .notes
            .push("its `RunOrder` is not a number here: it was left out".to_string());
    }
    action
}

/// An action's configuration: values that are not scalars (a list or a map in a
/// CloudFormation template) are written as JSON, as CodePipeline stores them.
fn configuration(node: Option<&Node>) -> Vec<(String, Text)> {
    let Some(node) = node else {
        return Vec::new();
    };
    node.entries()
        .iter()
        .filter(|(_, v)| !matches!(v, Node::NoValue | Node::Null))
        .map(|(k, v)| (k.clone(), as_text(v)))
        .collect()
}

/// A node as one text: a scalar as is, anything else as compact JSON.
pub(super) fn as_text(node: &Node) -> Text {
    match node.peel().0 {
        Node::Text(t) => t.clone(),
        other => {
            let mut out = Text::default();
            json(other, &mut out);
            out
        }
    }
}

fn json(node: &Node, out: &mut Text) {
    match node.peel().0 {
        Node::Null | Node::NoValue => out.push(Text::lit("null")),
        Node::Text(t) => {
            out.push(Text::lit("\""));
            let escaped =
                t.0.iter()
                    .map(|p| match p {
                        Part::Lit(s) => Part::Lit(
                            serde_json::to_string(s)
                                .map(|q| q[1..q.len() - 1].to_string())
                                .unwrap_or_default(),
                        ),
                        other => other.clone(),
                    })
                    .collect();
            out.push(Text(escaped));
            out.push(Text::lit("\""));
        }
        Node::List(items) => {
            out.push(Text::lit("["));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(Text::lit(","));
                }
                json(item, out);
            }
            out.push(Text::lit("]"));
        }
        Node::Map(entries) => {
            out.push(Text::lit("{"));
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(Text::lit(","));
                }
                out.push(Text::lit(serde_json::to_string(k).unwrap_or_default()));
                out.push(Text::lit(":"));
                json(v, out);
            }
            out.push(Text::lit("}"));
        }
        Node::Noted(_, inner) => json(inner, out),
    }
}

fn texts(node: Option<&Node>) -> Vec<Text> {
    match node.map(|n| n.peel().0) {
        Some(Node::List(items)) => items.iter().map(as_text).collect(),
        Some(Node::Text(t)) => vec![t.clone()],
        _ => Vec::new(),
    }
}

/// Artifact names: `[{Name: X}]` (CloudFormation, CLI) or `["X"]` (Terraform).
fn artifacts(a: &Node, keys: &[&str]) -> Vec<String> {
    a.items(keys)
        .into_iter()
        .filter_map(|n| match n.peel().0 {
            Node::Text(t) => t.as_lit(),
            other => other.lit("name"),
        })
        .filter(|n| !n.is_empty())
        .collect()
}

fn triggers(t: &Node, out: &mut Vec<Trigger>, notes: &mut Vec<String>) {
    let provider = t.lit("providerType").unwrap_or_default();
    let Some(git) = t.get("gitConfiguration") else {
        notes.push(format!(
            "not carried over: a `{provider}` trigger without a git configuration"
        ));
        return;
    };
    let source_action = git.lit("sourceActionName");
    for (key, pull_request) in [("push", false), ("pullRequest", true)] {
        for f in git.items(&[key]) {
            out.push(Trigger {
                pull_request,
                source_action: source_action.clone(),
                branches: filter(f.get("branches")),
                tags: filter(f.get("tags")),
                paths: filter(f.get("filePaths")),
                events: f
                    .items(&["events"])
                    .into_iter()
                    .filter_map(|e| e.text().and_then(Text::as_lit))
                    .collect(),
            });
        }
    }
}

fn filter(f: Option<&Node>) -> Filter {
    let list = |key: &str| -> Vec<Text> {
        f.map(|f| f.items(&[key]))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.text().cloned())
            .collect()
    };
    Filter {
        includes: list("includes"),
        excludes: list("excludes"),
    }
}
