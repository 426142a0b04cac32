//! Stages and actions: CodePipeline's action types to pipec kinds (Manual approval →
//! `approval`, `Commands` → `sh`, every other provider → `aws`), `RunOrder` → `after`,
//! artifacts → `input`/`inputs`/`output`, namespaces → `namespace` and `exports`.

use super::super::model::{Action, Pipeline, Stage};
use super::super::names::{Names, is_identifier};
use super::super::tree::Text;
use super::comment;
use super::conditions;
use super::values::{Values, quote};
use std::fmt::Write as _;

/// Every stage's text.
pub(super) fn stages(p: &Pipeline, values: &mut Values<'_>, artifacts: &mut Names) -> String {
    // Artifacts some action outputs and pipec can carry (one output per `aws` action).
    let mut produced: Vec<String> = Vec::new();
    for stage in &p.stages {
        for a in &stage.actions {
            if let Some(first) = a.outputs.first() {
                produced.push(first.clone());
            }
            if is_commands(a) {
                produced.extend(a.outputs.iter().skip(1).cloned());
            }
        }
    }
    let parallel = p
        .execution_mode
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case("parallel"));
    let mut out = String::new();
    for (i, stage) in p.stages.iter().enumerate() {
        if stage.actions.is_empty() {
            out.push('\n');
            comment(
                &mut out,
                &format!(
                    "not carried over: the stage `{}`, which has no actions here",
                    stage.name
                ),
            );
            continue;
        }
        let ctx = StageCtx {
            index: i,
            first: i == 0,
            parallel,
            produced: &produced,
        };
        out.push_str(&stage_text(stage, &ctx, values, artifacts));
    }
    out
}

struct StageCtx<'a> {
    index: usize,
    first: bool,
    parallel: bool,
    produced: &'a [String],
}

fn stage_text(
    stage: &Stage,
    ctx: &StageCtx<'_>,
    values: &mut Values<'_>,
    artifacts: &mut Names,
) -> String {
    let mut out = String::from("\n");
    let id = values.stage_ids[ctx.index].clone();
    if id != stage.name {
        comment(&mut out, &format!("CodePipeline stage `{}`", stage.name));
    }
    let _ = writeln!(out, "stage {id} {{");
    for n in &stage.notes {
        comment(&mut out, n);
    }
    conditions::stage_conditions(stage, ctx.first, ctx.parallel, values, &mut out);
    let levels = run_levels(&stage.actions);
    for (a, action) in stage.actions.iter().enumerate() {
        let after: Vec<String> = match levels.previous(a) {
            Some(level) => stage
                .actions
                .iter()
                .enumerate()
                .filter(|(_, b)| b.run_order.unwrap_or(1) == level)
                .map(|(j, _)| values.action_ids[ctx.index][j].clone())
                .collect(),
            None => Vec::new(),
        };
        out.push_str(&action_text(action, a, &after, ctx, values, artifacts));
    }
    out.push_str("}\n");
    out
}

/// The distinct run orders of a stage, to find the level before an action's.
struct Levels(Vec<i64>, Vec<i64>);

impl Levels {
    fn previous(&self, action: usize) -> Option<i64> {
        let mine = self.1[action];
        self.0.iter().rev().find(|l| **l < mine).copied()
    }
}

fn run_levels(actions: &[Action]) -> Levels {
    let orders: Vec<i64> = actions.iter().map(|a| a.run_order.unwrap_or(1)).collect();
    let mut levels = orders.clone();
    levels.sort_unstable();
    levels.dedup();
    Levels(levels, orders)
}

fn is_commands(a: &Action) -> bool {
    a.provider == "Commands" && a.owner.eq_ignore_ascii_case("AWS")
}

fn is_manual_approval(a: &Action) -> bool {
    a.category.eq_ignore_ascii_case("approval") && a.provider == "Manual"
}

fn action_text(
    a: &Action,
    index: usize,
    after: &[String],
    ctx: &StageCtx<'_>,
    values: &mut Values<'_>,
    artifacts: &mut Names,
) -> String {
    let id = values.action_ids[ctx.index][index].clone();
    let mut head = String::new();
    let mut body = String::new();
    if id != a.name {
        comment(&mut head, &format!("CodePipeline action `{}`", a.name));
    }
    for n in &a.notes {
        comment(&mut head, n);
    }
    let kind = if is_manual_approval(a) {
        approval(a, values, &mut head, &mut body);
        "approval"
    } else if is_commands(a) {
        commands(a, ctx.index, index, values, &mut head, &mut body);
        "sh"
    } else {
        aws(a, values, &mut body);
        "aws"
    };
    if !after.is_empty() {
        let _ = writeln!(body, "after = [{}]", after.join(", "));
    }
    artifacts_text(a, kind, ctx.produced, artifacts, &mut body);
    if let (Some(ns), "sh") = (&a.namespace, kind) {
        let _ = writeln!(body, "namespace = {}", quote(ns));
    }
    let exports = &values.exports[ctx.index][index];
    if !exports.is_empty() {
        let _ = writeln!(body, "exports = [{}]", exports.join(", "));
    }
    if let Some(minutes) = a.timeout_minutes.filter(|m| *m > 0) {
        let _ = writeln!(body, "timeout = {minutes}m");
    }
    format!("{head}action {id}: {kind} {{\n{body}}}\n")
}

fn configuration_entries(a: &Action) -> impl Iterator<Item = &(String, Text)> {
    a.configuration.iter()
}

fn approval(a: &Action, values: &mut Values<'_>, head: &mut String, body: &mut String) {
    for (key, value) in configuration_entries(a) {
        let mut notes = Vec::new();
        let attr = match key.as_str() {
            "CustomData" => "summary",
            "ExternalEntityLink" => "url",
            "NotificationArn" => "notify",
            _ => {
                comment(
                    head,
                    &format!("not carried over: `{key}` = {}", value.describe()),
                );
                continue;
            }
        };
        let v = values.string(value, &mut notes);
        for n in notes {
            comment(body, &n);
        }
        let _ = writeln!(body, "{attr} = {v}");
    }
    cross_account_note(a, head);
}

fn cross_account_note(a: &Action, head: &mut String) {
    if let Some(r) = &a.region {
        comment(head, &format!("not carried over: region {}", r.describe()));
    }
    if let Some(r) = &a.role_arn {
        comment(head, &format!("not carried over: role {}", r.describe()));
    }
}

fn commands(
    a: &Action,
    stage: usize,
    index: usize,
    values: &mut Values<'_>,
    head: &mut String,
    body: &mut String,
) {
    comment(
        head,
        "CodePipeline's `Commands` action, as an `sh` action run by bash",
    );
    let mut script = Text::default();
    for (i, c) in a.commands.iter().enumerate() {
        if i > 0 {
            script.push(Text::lit("\n"));
        }
        script.push(c.clone());
    }
    // CodePipeline exports the named environment variables; pipec reads $PIPEC_OUTPUT.
    for var in &a.output_variables {
        if is_identifier(var) {
            script.push(Text::lit(format!(
                "\necho \"{var}=${var}\" >> \"$PIPEC_OUTPUT\""
            )));
            let exports = &mut values.exports[stage][index];
            if !exports.contains(var) {
                exports.push(var.clone());
            }
        }
    }
    let mut notes = Vec::new();
    let run = values.string(&script, &mut notes);
    for n in notes {
        comment(body, &n);
    }
    let _ = writeln!(body, "run = {run}");
    for (key, value) in configuration_entries(a) {
        comment(
            head,
            &format!("not carried over: `{key}` = {}", value.describe()),
        );
    }
    cross_account_note(a, head);
}

fn aws(a: &Action, values: &mut Values<'_>, body: &mut String) {
    let _ = writeln!(body, "provider = {}", quote(&a.provider));
    if !a.owner.is_empty() && a.owner != "AWS" {
        let _ = writeln!(body, "owner = {}", quote(&a.owner));
    }
    if !a.version.is_empty() && a.version != "1" {
        let _ = writeln!(body, "version = {}", quote(&a.version));
    }
    let (category, note) = category(&a.category);
    if let Some(n) = note {
        comment(body, &n);
    }
    let _ = writeln!(body, "category = {category}");
    if !a.configuration.is_empty() {
        body.push_str("configuration = {\n");
        for (key, value) in &a.configuration {
            let mut notes = Vec::new();
            let v = values.string(value, &mut notes);
            for n in notes {
                comment(body, &n);
            }
            let k = if is_identifier(key) {
                key.clone()
            } else {
                quote(key)
            };
            let _ = writeln!(body, "{k} = {v}");
        }
        body.push_str("}\n");
    }
    for (attr, value) in [("region", &a.region), ("role", &a.role_arn)] {
        if let Some(v) = value {
            let mut notes = Vec::new();
            let v = values.string(v, &mut notes);
            for n in notes {
                comment(body, &n);
            }
            let _ = writeln!(body, "{attr} = {v}");
        }
    }
    if let Some(ns) = &a.namespace {
        let _ = writeln!(body, "namespace = {}", quote(ns));
    }
}

/// CodePipeline's category as pipec's, and a note when they differ.
fn category(c: &str) -> (&'static str, Option<String>) {
    match c.to_ascii_lowercase().as_str() {
        "source" => ("source", None),
        "build" => ("build", None),
        "test" => ("test", None),
        "deploy" => ("deploy", None),
        "approval" => ("approval", None),
        "invoke" => ("invoke", None),
        other => (
            "build",
            Some(format!(
                "CodePipeline category `{other}`, which pipec calls `build`"
            )),
        ),
    }
}

fn artifacts_text(
    a: &Action,
    kind: &str,
    produced: &[String],
    names: &mut Names,
    body: &mut String,
) {
    let mut inputs = Vec::new();
    for input in &a.inputs {
        if produced.contains(input) {
            inputs.push(names.name(input));
        } else {
            comment(
                body,
                &format!(
                    "not carried over: the input artifact `{input}`, which no action here outputs"
                ),
            );
        }
    }
    for (original, id) in a.inputs.iter().zip(&inputs) {
        if original != id {
            comment(
                body,
                &format!("artifact `{id}` is CodePipeline's `{original}`"),
            );
        }
    }
    match inputs.as_slice() {
        [] => {}
        [one] => {
            let _ = writeln!(body, "input = {one}");
        }
        // CodePipeline hands a provider each input artifact on its own, and `pipec run`
        // finds `ARTIFACT::PATH` in that artifact's folder: each input gets a folder named
        // after it (a `Commands` action keeps its primary source as its workspace).
        many => {
            let entries: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let folder = if i == 0 && kind == "sh" { "." } else { name };
                    format!("{name} = \"{folder}/\"")
                })
                .collect();
            let _ = writeln!(body, "inputs = {{ {} }}", entries.join(", "));
        }
    }
    let outputs: Vec<String> = a.outputs.iter().map(|o| names.name(o)).collect();
    for (original, id) in a.outputs.iter().zip(&outputs) {
        if original != id {
            comment(
                body,
                &format!("artifact `{id}` is CodePipeline's `{original}`"),
            );
        }
    }
    match (kind, outputs.as_slice()) {
        (_, []) => {}
        ("sh", many) => {
            let entries: Vec<String> = many.iter().map(|o| format!("{o} = \".\"")).collect();
            comment(
                body,
                "CodePipeline's `Commands` output artifacts: the workspace",
            );
            let _ = writeln!(body, "outputs = {{ {} }}", entries.join("  "));
        }
        (_, [first, rest @ ..]) => {
            let _ = writeln!(body, "output = {first}");
            if !rest.is_empty() {
                comment(
                    body,
                    &format!(
                        "not carried over: the further output artifacts {} (one output per action)",
                        rest.join(", ")
                    ),
                );
            }
        }
    }
}
