//! The whole document: the pipeline's declaration (stages in layout order, variables,
//! triggers, execution mode, disabled transitions) and the template around it
//! (parameters, the generated resources), in one of the three formats.

use std::fmt::Write as _;

use super::layout::{self, Layout};
use super::values::{self, Check, TRIGGER_VAR};
use super::{Cx, Format, actions, conditions, limits, roles, sources};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, Expr, Mode, Type};

/// The logical id of the pipeline resource.
const PIPELINE: &str = "Pipeline";

pub(super) fn build(cx: &mut Cx<'_>) -> Node {
    let name = cx.ir.pipeline.name.clone();
    cx.param(
        "PipelineName",
        "The name of the CodePipeline pipeline".into(),
        Some(&name),
    );
    if let Some(t) = cx.ir.pipeline.timeout_secs {
        let at = cx.clause(cx.ir.pipeline.span, r"\btimeout\s+[0-9]");
        cx.weaker(
            at,
            format!(
                "CodePipeline does not limit how long a run takes ({})",
                crate::duration::format(t)
            ),
            "not enforced on CodePipeline",
            "each action keeps its own timeout (an action without one is limited to this); stop runs that take too long with `aws codepipeline stop-pipeline-execution`",
        );
    }
    if cx.ir.pipeline.retention.is_some() {
        let at = cx.clause(cx.ir.pipeline.span, r"\bkeep\s");
        cx.weaker(
            at,
            "CodePipeline keeps a pipeline's run history by its own rule, not by `keep`".to_string(),
            "not enforced on CodePipeline",
            "`keep` tells `pipec prune` what to remove from a local state directory; CodePipeline keeps the executions of the last 12 months",
        );
    }
    for w in crate::export::local_only(cx.ir, "CodePipeline") {
        if w.what == "keep" {
            continue; // Warned about above, at its clause.
        }
        cx.weaker(w.at, w.message, "not carried to CodePipeline", w.help);
    }
    let layout = layout::lay_out(cx);
    let stages = stages(cx, &layout);
    limits::check(cx, &stages);
    let variables = variables(cx);
    let triggers = conditions::triggers(cx);
    let mut props = vec![
        ("Name".to_string(), Node::Ref("PipelineName".into())),
        ("PipelineType".to_string(), Node::str("V2")),
        (
            "ExecutionMode".to_string(),
            Node::str(mode(cx.ir.pipeline.mode)),
        ),
        ("RoleArn".to_string(), roles::pipeline_role(cx)),
        (
            "ArtifactStore".to_string(),
            Node::map([("Type", Node::str("S3")), ("Location", roles::bucket(cx))]),
        ),
    ];
    if !variables.is_empty() {
        props.push(("Variables".to_string(), Node::Seq(variables)));
    }
    if let Some(t) = triggers {
        props.push(("Triggers".to_string(), t));
    }
    let disabled = disabled(cx, &layout);
    if !disabled.is_empty() && cx.opts.format != Format::CliJson {
        props.push((
            "DisableInboundStageTransitions".to_string(),
            Node::Seq(disabled),
        ));
    }
    props.push(("Stages".to_string(), Node::Seq(stages)));
    conditions::schedules(cx, PIPELINE);
    if cx.trigger_var {
        // Declared after the stages were read (they decide whether it is needed).
        if let Some((_, Node::Seq(vars))) = props.iter_mut().find(|(k, _)| k == "Variables") {
            vars.push(trigger_variable());
        } else {
            let at = props.len() - 1;
            props.insert(
                at,
                ("Variables".to_string(), Node::Seq(vec![trigger_variable()])),
            );
        }
    }
    roles::create(cx);
    match cx.opts.format {
        Format::CliJson => cli_json(cx, props),
        Format::CfnYaml | Format::CfnJson => cfn(cx, props),
    }
}

fn trigger_variable() -> Node {
    Node::map([
        ("Name", Node::str(TRIGGER_VAR)),
        ("DefaultValue", Node::str("manual")),
        (
            "Description",
            Node::str("pipec's `run.trigger`: `schedule` when a schedule started the run"),
        ),
    ])
}

fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Superseded => "SUPERSEDED",
        Mode::Queued => "QUEUED",
        Mode::Parallel => "PARALLEL",
    }
}

/// The stages, the source stage first.
fn stages(cx: &mut Cx<'_>, layout: &Layout) -> Vec<Node> {
    let all = &cx.ir.pipeline.stages;
    let Some(entry) = all.first() else {
        return Vec::new();
    };
    let (name, source_actions) = sources::first_stage(cx, entry);
    let entry_is_source = name == entry.name;
    let comment = if entry_is_source {
        format!("{}: stage `{}` (sources)", cx.place(entry.span), entry.name)
    } else {
        "generated: the source stage".to_string()
    };
    let mut out = vec![
        Node::map([
            ("Name", Node::Str(name)),
            ("Actions", Node::Seq(source_actions)),
        ])
        .commented(comment),
    ];
    let checks = param_checks(cx);
    let mut first = true;
    let mut previous: Option<&str> = None;
    for &i in &layout.order {
        let stage = &all[i];
        if i == 0 && entry_is_source {
            previous = Some(&stage.name);
            continue;
        }
        let params: &[Check] = if first { &checks } else { &[] };
        first = false;
        out.push(stage_node(cx, stage, &layout.reach[i], params, previous));
        previous = Some(&stage.name);
    }
    out
}

fn stage_node(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    reach: &[layout::Guard],
    params: &[Check],
    previous: Option<&str>,
) -> Node {
    let (entry, wait) = conditions::entry(cx, stage, reach, params);
    let orders = layout::run_orders(stage);
    let shift = u32::from(wait.is_some());
    let mut acts = Vec::new();
    if let Some(w) = wait {
        if let Some(a) = actions::window_wait(cx, stage, &w) {
            acts.push(a);
        }
    }
    for (k, a) in stage.actions.iter().enumerate() {
        if let Some(node) = actions::action(cx, stage, a, orders[k] + shift) {
            let mut note = format!("{}: action `{}`", cx.place(a.span), a.name);
            if let Some(lost) = layout::lost_parallelism(stage, &orders, k) {
                let _ = write!(note, "; {lost}");
            }
            acts.push(node.commented(note));
        }
    }
    let mut node = vec![
        ("Name".to_string(), Node::str(&stage.name)),
        ("Actions".to_string(), Node::Seq(acts)),
    ];
    if let Some(e) = entry {
        node.push(("BeforeEntry".to_string(), e));
    }
    if let Some(s) = conditions::on_success(cx, stage) {
        node.push(("OnSuccess".to_string(), s));
    }
    if let Some(f) = conditions::on_failure(cx, stage) {
        node.push(("OnFailure".to_string(), f));
    }
    if let Some(t) = stage.timeout_secs {
        let at = cx.clause(stage.span, r"\btimeout\b");
        cx.weaker(
            at,
            format!(
                "CodePipeline does not limit how long stage `{}` takes ({})",
                stage.name,
                crate::duration::format(t)
            ),
            "not enforced on CodePipeline",
            "each action keeps its own timeout; give the actions of this stage `timeout`s that add up to the stage's",
        );
    }
    let mut comment = format!("{}: stage `{}`", cx.place(stage.span), stage.name);
    let sequential = previous
        .is_some_and(|p| !stage.inbound.is_empty() && !stage.inbound.iter().any(|e| e.from == p));
    if sequential {
        let _ = write!(
            comment,
            "; after `{}` in CodePipeline's sequence (under pipec it does not wait for it)",
            previous.unwrap_or_default()
        );
    }
    if !reach.is_empty() {
        comment.push_str("; skipped unless the guards on the way to it hold");
    }
    Node::Map(node).commented(comment)
}

/// The params' types and constraints as rules, checked before the first stage after the
/// sources (CodePipeline variables are text, and have no constraints).
fn param_checks(cx: &mut Cx<'_>) -> Vec<Check> {
    let mut out = Vec::new();
    for p in &cx.ir.pipeline.params {
        let var = format!("#{{variables.{}}}", p.name);
        let is_list = matches!(p.ty, Type::List(_) | Type::Map(_));
        if is_list && (p.allowed.is_some() || p.pattern.is_some()) {
            cx.refuse(
                Code::E0501,
                p.span,
                format!("constraints on the list `params.{}`", p.name),
                "CodePipeline cannot check the elements of a list variable",
                "drop `allowed`/`pattern` here and check the values in the script",
            );
            continue;
        }
        if let Some(allowed) = &p.allowed {
            let words: Vec<String> = allowed
                .iter()
                .filter_map(|e| match e {
                    Expr::Str { value } => Some(value.clone()),
                    Expr::Int { value } => Some(value.to_string()),
                    Expr::Bool { value } => Some(value.to_string()),
                    _ => None,
                })
                .map(|w| values::java_quote(&w))
                .collect();
            out.push((var.clone(), "MATCHES", format!("^(?:{})$", words.join("|"))));
        } else {
            match p.ty {
                Type::Int => out.push((var.clone(), "MATCHES", "^-?[0-9]+$".into())),
                Type::Bool => out.push((var.clone(), "MATCHES", "^(?:true|false)$".into())),
                Type::Duration => out.push((var.clone(), "MATCHES", "^(?:[0-9]+[dhms])+$".into())),
                _ => {}
            }
        }
        if let Some(pattern) = &p.pattern {
            out.push((var, "MATCHES", format!("^(?:{pattern})$")));
        }
    }
    out
}

/// Pipeline-level variables of the params.
fn variables(cx: &mut Cx<'_>) -> Vec<Node> {
    let mut out = Vec::new();
    for p in &cx.ir.pipeline.params {
        let mut v = vec![("Name".to_string(), Node::str(&p.name))];
        if let Some(d) = &p.default {
            let Some(text) = default_text(d) else {
                continue;
            };
            if text.is_empty() {
                cx.refuse(
                    Code::E0501,
                    p.span,
                    format!("`params.{}` defaults to empty text", p.name),
                    "a CodePipeline variable's default is at least one character",
                    "give it a non-empty default, or none (then every run must set it)",
                );
                continue;
            }
            v.push(("DefaultValue".to_string(), Node::Str(text)));
        }
        v.push((
            "Description".to_string(),
            Node::Str(format!("pipec `param {}: {}`", p.name, p.ty)),
        ));
        out.push(Node::Map(v));
    }
    out
}

/// A default as the variable's text (a list as JSON).
fn default_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Str { value } => Some(value.clone()),
        Expr::Int { value } => Some(value.to_string()),
        Expr::Bool { value } => Some(value.to_string()),
        Expr::Duration { secs } => Some(crate::duration::format(*secs)),
        Expr::List { items } => {
            let json: Vec<serde_json::Value> = items
                .iter()
                .map(|i| match i {
                    Expr::Int { value } => serde_json::Value::from(*value),
                    Expr::Bool { value } => serde_json::Value::from(*value),
                    other => serde_json::Value::String(default_text(other).unwrap_or_default()),
                })
                .collect();
            Some(serde_json::Value::Array(json).to_string())
        }
        _ => None,
    }
}

/// `DisableInboundStageTransitions` of the edges declared `disabled`.
fn disabled(cx: &mut Cx<'_>, layout: &Layout) -> Vec<Node> {
    let mut out = Vec::new();
    for &i in &layout.order {
        let s = &cx.ir.pipeline.stages[i];
        if let Some(e) = s.inbound.iter().find(|e| e.disabled.is_some()) {
            let reason = e.disabled.clone().unwrap_or_default();
            let reason: String = reason.chars().take(300).collect();
            let reason = if reason.is_empty() {
                "disabled in the .pipe file".to_string()
            } else {
                reason
            };
            out.push(
                Node::map([
                    ("StageName", Node::str(&s.name)),
                    ("Reason", Node::Str(reason)),
                ])
                .commented(format!(
                    "{}: transition {} -> {} disabled",
                    cx.place(e.span),
                    e.from,
                    s.name
                )),
            );
        }
    }
    if cx.opts.format == Format::CliJson {
        // `create-pipeline` has no field for them: the pipeline would let runs through.
        for &i in &layout.order {
            let s = &cx.ir.pipeline.stages[i];
            for e in s.inbound.iter().filter(|e| e.disabled.is_some()) {
                let at = cx.head(e.span);
                cx.refuse(
                    Code::E0501,
                    at,
                    format!(
                        "the `create-pipeline` input cannot disable the transition {} -> {}",
                        e.from, s.name
                    ),
                    "disabled here",
                    "compile the CloudFormation form (`--format cfn-yaml` or `cfn-json`), which disables it",
                );
            }
        }
    }
    out
}

/// A CloudFormation template.
fn cfn(cx: &mut Cx<'_>, props: Vec<(String, Node)>) -> Node {
    let mut resources = vec![(
        PIPELINE.to_string(),
        Node::map([
            ("Type", Node::str("AWS::CodePipeline::Pipeline")),
            ("Properties", Node::Map(props)),
        ])
        .commented(format!(
            "{}: pipeline `{}`",
            cx.place(cx.ir.pipeline.span),
            cx.ir.pipeline.name
        )),
    )];
    resources.extend(std::mem::take(&mut cx.resources));
    Node::map([
        ("AWSTemplateFormatVersion", Node::str("2010-09-09")),
        (
            "Description",
            Node::Str(format!(
                "pipec: pipeline `{}` from {}",
                cx.ir.pipeline.name,
                cx.ir.files.first().map_or("?", String::as_str)
            )),
        ),
        ("Parameters", Node::Map(std::mem::take(&mut cx.params))),
        ("Resources", Node::Map(resources)),
        (
            "Outputs",
            Node::map([(
                "PipelineName",
                Node::map([
                    ("Description", Node::str("The pipeline's name")),
                    ("Value", Node::Ref(PIPELINE.into())),
                ]),
            )]),
        ),
    ])
    .commented(format!(
        "Generated by pipec from {}. Deploy it with `aws cloudformation deploy --template-file FILE --stack-name NAME --parameter-overrides KEY=VALUE…`.",
        cx.ir.files.first().map_or("?", String::as_str)
    ))
}

/// The input of `aws codepipeline create-pipeline --cli-input-json`: the declaration with
/// camelCase keys; template parameters become `{{Name}}` placeholders to fill in.
fn cli_json(cx: &mut Cx<'_>, props: Vec<(String, Node)>) -> Node {
    if !cx.resources.is_empty() {
        let at = cx.head(cx.ir.pipeline.span);
        let kinds: std::collections::BTreeSet<String> = cx
            .resources
            .iter()
            .filter_map(|(_, n)| match n {
                Node::Commented(_, inner) => match &**inner {
                    Node::Map(e) => {
                        e.iter()
                            .find(|(k, _)| k == "Type")
                            .and_then(|(_, v)| match v {
                                Node::Str(s) => Some(s.clone()),
                                _ => None,
                            })
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let kinds = kinds.into_iter().collect::<Vec<_>>().join(", ");
        cx.weaker(
            at,
            format!("the pipeline refers to resources this format does not create ({kinds})"),
            "create them first",
            "the CloudFormation form (`--format cfn-yaml`) creates them; or create them with the names this file uses",
        );
    }
    let decl: Vec<(String, Node)> = props
        .into_iter()
        .filter(|(k, _)| k != "DisableInboundStageTransitions")
        .collect();
    let pipeline = camelize(&Node::Map(decl), false).resolve(&placeholder);
    Node::map([("pipeline", pipeline)])
}

fn placeholder(n: &Node) -> Node {
    match n {
        Node::Ref(name) => Node::Str(format!("{{{{{name}}}}}")),
        Node::Sub(text) => Node::Str(text.replace("${", "{{").replace('}', "}}")),
        Node::GetAtt(r, a) => Node::Str(format!("{{{{{r}.{a}}}}}")),
        other => other.clone(),
    }
}

/// CloudFormation's `PascalCase` keys as the API's `camelCase` (not inside `Configuration`).
fn camelize(n: &Node, in_config: bool) -> Node {
    match n {
        Node::Map(entries) => Node::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = if in_config { k.clone() } else { lower_first(k) };
                    (key, camelize(v, !in_config && k == "Configuration"))
                })
                .collect(),
        ),
        Node::Seq(items) => Node::Seq(items.iter().map(|i| camelize(i, false)).collect()),
        Node::Commented(c, inner) => {
            Node::Commented(c.clone(), Box::new(camelize(inner, in_config)))
        }
        other => other.clone(),
    }
}

fn lower_first(k: &str) -> String {
    let mut c = k.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// The role CodeBuild projects run with.
pub(super) fn build_role(cx: &mut Cx<'_>) -> Node {
    roles::build_role(cx)
}

/// The role schedules start the pipeline with.
pub(super) fn scheduler_role(cx: &mut Cx<'_>, _pipeline: &str) -> Node {
    roles::scheduler_role(cx)
}
