//! Triggers as `on:`, params as `workflow_dispatch` inputs, and the `pipec_params` job that
//! gives every run its param values (the inputs of a run started by hand, the defaults
//! otherwise), checked against their types and `allowed` values before any stage starts.

use std::fmt::Write as _;

use super::{Cx, RUNS_ON};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, Expr, TriggerKind, Type};

/// The `on:` map.
pub(super) fn on(cx: &mut Cx<'_>) -> Node {
    let triggers = &cx.ir.pipeline.triggers;
    let mut out: Vec<(String, Node)> = Vec::new();
    if triggers.is_empty() {
        // No trigger: every event starts a run.
        out.push(("push".into(), Node::Map(vec![])));
        out.push(("pull_request".into(), Node::Map(vec![])));
    }
    let mut schedules = Vec::new();
    for t in triggers {
        match t.kind {
            TriggerKind::Push => {
                let mut m = Vec::new();
                filters(&mut m, "branches", &t.branches);
                filters(&mut m, "tags", &t.tags);
                filters(&mut m, "paths", &t.paths);
                once(cx, &mut out, "push", Node::Map(m), t.span);
            }
            TriggerKind::PullRequest => {
                let mut m = Vec::new();
                filters(&mut m, "branches", &t.branches);
                filters(&mut m, "paths", &t.paths);
                if !t.events.is_empty() {
                    let types: Vec<&str> = t
                        .events
                        .iter()
                        .map(|e| match e.as_str() {
                            "updated" => "synchronize",
                            other => other,
                        })
                        .collect();
                    m.push(("types".into(), Node::strs(types)));
                }
                once(cx, &mut out, "pull_request", Node::Map(m), t.span);
            }
            TriggerKind::Schedule => {
                if t.tz
                    .as_deref()
                    .is_some_and(|z| !matches!(z, "UTC" | "Etc/UTC"))
                {
                    cx.refuse(
                        Code::E0501,
                        t.span,
                        "a schedule in a time zone other than UTC",
                        "GitHub Actions schedules run in UTC",
                        "write the cron expression in UTC and remove `tz`",
                    );
                }
                if let Some(c) = &t.cron {
                    schedules.push(Node::map([("cron", Node::str(c.clone()))]));
                }
            }
            TriggerKind::Manual => {}
        }
    }
    if !schedules.is_empty() {
        out.push(("schedule".into(), Node::Seq(schedules)));
    }
    out.push(("workflow_dispatch".into(), dispatch(cx)));
    Node::Map(out)
}

/// A filter list: `!` patterns only go to `*-ignore`, mixed lists stay as they are.
fn filters(m: &mut Vec<(String, Node)>, key: &str, patterns: &[String]) {
    if patterns.is_empty() {
        return;
    }
    if patterns.iter().all(|p| p.starts_with('!')) {
        m.push((
            format!("{key}-ignore"),
            Node::strs(patterns.iter().map(|p| p[1..].to_string())),
        ));
    } else {
        m.push((key.to_string(), Node::strs(patterns.iter().cloned())));
    }
}

fn once(cx: &mut Cx<'_>, out: &mut Vec<(String, Node)>, key: &str, v: Node, at: ir::Span) {
    if out.iter().any(|(k, _)| k == key) {
        cx.refuse(
            Code::E0501,
            at,
            format!("a second `{key}` trigger"),
            "a workflow has one filter per event",
            "merge the triggers' filters into one",
        );
        return;
    }
    out.push((key.to_string(), v));
}

/// `workflow_dispatch` with one input per param.
fn dispatch(cx: &mut Cx<'_>) -> Node {
    let params = &cx.ir.pipeline.params;
    if params.is_empty() {
        return Node::Map(vec![]);
    }
    let mut inputs = Vec::new();
    for p in params {
        let mut m = vec![(
            "description".to_string(),
            Node::Str(format!("param `{}: {}`", p.name, p.ty)),
        )];
        m.push(("required".into(), Node::Bool(p.default.is_none())));
        let choice = matches!(p.ty, Type::String) && p.allowed.is_some();
        let ty = match p.ty {
            Type::Bool => "boolean",
            Type::Int => "number",
            _ if choice => "choice",
            _ => "string",
        };
        m.push(("type".into(), Node::str(ty)));
        if let Some(d) = &p.default {
            m.push(("default".into(), default_node(d)));
        }
        if let (true, Some(allowed)) = (choice, &p.allowed) {
            m.push((
                "options".into(),
                Node::Seq(allowed.iter().map(|a| Node::Str(value_text(a))).collect()),
            ));
        }
        inputs.push((p.name.clone(), Node::Map(m)));
    }
    Node::map([("inputs", Node::Map(inputs))])
}

fn default_node(e: &Expr) -> Node {
    match e {
        Expr::Bool { value } => Node::Bool(*value),
        Expr::Int { value } => Node::Int(*value),
        other => Node::Str(value_text(other)),
    }
}

/// A constant's text as a run sees it (a list: JSON).
fn value_text(e: &Expr) -> String {
    match e {
        Expr::Str { value } => value.clone(),
        Expr::Int { value } => value.to_string(),
        Expr::Bool { value } => value.to_string(),
        Expr::Duration { secs } => crate::duration::format(*secs),
        Expr::List { items } => serde_json::Value::Array(
            items
                .iter()
                .map(|i| match i {
                    Expr::Int { value } => serde_json::Value::from(*value),
                    Expr::Bool { value } => serde_json::Value::Bool(*value),
                    other => serde_json::Value::String(value_text(other)),
                })
                .collect(),
        )
        .to_string(),
        _ => String::new(),
    }
}

/// The `pipec_params` job, when the pipeline has params.
pub(super) fn params_job(cx: &mut Cx<'_>) -> Option<Node> {
    let params = &cx.ir.pipeline.params;
    if params.is_empty() {
        return None;
    }
    let mut env = vec![(
        "PIPEC_EVENT".to_string(),
        Node::str("${{ github.event_name }}"),
    )];
    let mut script = String::from("set -euo pipefail\n");
    let mut outputs = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if matches!(p.ty, Type::Duration | Type::Map(_)) {
            cx.refuse(
                Code::E0501,
                p.span,
                format!("a `{}` param on GitHub Actions", p.ty),
                "a workflow input is text, a number or a bool",
                "use a `string` or `int` param",
            );
            continue;
        }
        if p.pattern.is_some() {
            cx.weaker(
                p.span,
                format!(
                    "the `pattern` of param `{}` is not checked on GitHub Actions",
                    p.name
                ),
                "not checked",
                "check the value in the first script that uses it",
            );
        }
        env.push((
            format!("PIPEC_IN_{i}"),
            Node::Str(format!("${{{{ inputs.{} }}}}", p.name)),
        ));
        if let Some(d) = &p.default {
            env.push((format!("PIPEC_DEFAULT_{i}"), Node::Str(value_text(d))));
        }
        param_script(&mut script, i, p);
        outputs.push((
            p.name.clone(),
            Node::Str(format!("${{{{ steps.params.outputs.{} }}}}", p.name)),
        ));
    }
    let step = Node::map([
        ("id", Node::str("params")),
        ("shell", Node::str("bash")),
        ("env", Node::Map(env)),
        ("run", Node::Str(script)),
    ]);
    Some(
        Node::map([
            ("runs-on", Node::str(RUNS_ON)),
            ("outputs", Node::Map(outputs)),
            ("steps", Node::Seq(vec![step])),
        ])
        .commented(format!(
            "the run's param values: a manual run's inputs, else the defaults ({})",
            cx.place(cx.ir.pipeline.span)
        )),
    )
}

/// The bash that decides one param's value and checks it.
fn param_script(s: &mut String, i: usize, p: &ir::Param) {
    let name = &p.name;
    let default = if p.default.is_some() {
        format!("\"$PIPEC_DEFAULT_{i}\"")
    } else {
        format!(
            "\"\"; echo \"pipec: param \\`{name}\\` has no default: only a run started by hand can set it\"; exit 1"
        )
    };
    let _ = writeln!(
        s,
        "if [ \"$PIPEC_EVENT\" = workflow_dispatch ]; then v=\"$PIPEC_IN_{i}\"; else v={default}; fi"
    );
    match &p.ty {
        Type::Int => {
            let _ = writeln!(
                s,
                "[[ $v =~ ^-?[0-9]+$ ]] || {{ echo \"pipec: param \\`{name}\\` must be an int\"; exit 1; }}"
            );
        }
        Type::Bool => {
            let _ = writeln!(
                s,
                "[[ $v =~ ^(true|false)$ ]] || {{ echo \"pipec: param \\`{name}\\` must be true or false\"; exit 1; }}"
            );
        }
        _ => {}
    }
    if let (Some(allowed), false) = (&p.allowed, matches!(p.ty, Type::List(_))) {
        let words: Vec<String> = allowed
            .iter()
            .map(|a| crate::shell::quote_word(&value_text(a)))
            .collect();
        let _ = writeln!(
            s,
            "case \"$v\" in {}) ;; *) echo \"pipec: param \\`{name}\\` is not an allowed value\"; exit 1 ;; esac",
            words.join("|")
        );
    }
    let _ = writeln!(
        s,
        "d=\"pipec_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \\n')\"\nprintf '%s<<%s\\n%s\\n%s\\n' {name} \"$d\" \"$v\" \"$d\" >> \"$GITHUB_OUTPUT\""
    );
}
