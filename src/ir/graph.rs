//! `pipec graph`: a pipeline's IR drawn as Graphviz `dot` or Mermaid text.
//!
//! What is drawn: each stage as a box (a cluster, or a Mermaid subgraph) titled with its name
//! and its `entry` rules and their `else` result, holding its actions (name and kind or
//! template); the stage graph's edges (LANGUAGE.md §6) with their `when`
//! guards, a disabled transition dashed with its reason; `after` order between actions; and
//! artifact flow, dotted, from the action that outputs an artifact to each action that takes
//! it as an input. Pure: IR in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Action, CondRule, Edge, ElseResult, Ir, Kind, Stage};

/// The output language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
}

/// A stage edge, ready to draw.
struct StageEdge<'a> {
    from: &'a str,
    to: &'a str,
    label: Option<String>,
    disabled: bool,
}

/// An artifact going from the action that outputs it to one that takes it.
struct Flow<'a> {
    from: (&'a str, &'a str),
    to: (&'a str, &'a str),
    artifact: &'a str,
}

/// Draws `ir` in `format`.
pub fn render(ir: &Ir, format: Format) -> String {
    let edges = stage_edges(ir);
    let flows = flows(ir);
    match format {
        Format::Dot => dot(ir, &edges, &flows),
        Format::Mermaid => mermaid(ir, &edges, &flows),
    }
}

fn edge_label(e: &Edge) -> Option<String> {
    let guard = e
        .guard
        .as_ref()
        .map(|g| format!("when {}", super::describe::describe(g)));
    let disabled = e.disabled.as_ref().map(|r| {
        if r.is_empty() {
            "disabled".to_string()
        } else {
            format!("disabled: {r}")
        }
    });
    match (guard, disabled) {
        (Some(g), Some(d)) => Some(format!("{g}\n{d}")),
        (g, d) => g.or(d),
    }
}

fn stage_edges(ir: &Ir) -> Vec<StageEdge<'_>> {
    ir.pipeline
        .stages
        .iter()
        .flat_map(|s| {
            s.inbound.iter().map(move |e| StageEdge {
                from: &e.from,
                to: &s.name,
                label: edge_label(e),
                disabled: e.disabled.is_some(),
            })
        })
        .collect()
}

fn flows(ir: &Ir) -> Vec<Flow<'_>> {
    let mut producers: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for s in &ir.pipeline.stages {
        for a in &s.actions {
            for o in &a.outputs {
                producers
                    .entry(o.name.as_str())
                    .or_default()
                    .push((&s.name, &a.name));
            }
        }
    }
    let mut out = Vec::new();
    for s in &ir.pipeline.stages {
        for a in &s.actions {
            for i in &a.inputs {
                for &from in producers.get(i.name.as_str()).into_iter().flatten() {
                    out.push(Flow {
                        from,
                        to: (&s.name, &a.name),
                        artifact: &i.name,
                    });
                }
            }
        }
    }
    out
}

/// What a stage's box says: its name, then its entry rules (one a line) and their result.
fn stage_label(s: &Stage) -> String {
    let mut label = s.name.clone();
    let Some(entry) = &s.entry else {
        return label;
    };
    for (i, r) in entry.rules.iter().enumerate() {
        label.push_str(if i == 0 { "\nentry: " } else { "\nand " });
        match r {
            CondRule::Require { expr, .. } => {
                let _ = write!(label, "require {}", super::describe::describe(expr));
            }
            CondRule::Window { cron, tz, .. } => {
                let _ = write!(label, "window {cron:?}");
                if let Some(tz) = tz {
                    let _ = write!(label, " tz {tz:?}");
                }
            }
            CondRule::Check { action } => {
                let _ = write!(label, "check {}", kind_label(action));
            }
        }
    }
    label.push_str(match entry.otherwise {
        ElseResult::Skip => "\nelse skip",
        ElseResult::Fail => "\nelse fail",
        ElseResult::Rollback => "\nelse rollback",
        ElseResult::Wait => "\nelse wait",
    });
    label
}

/// What an action node says: its name and what it runs.
fn action_label(a: &Action) -> String {
    format!("{}\n{}", a.name, kind_label(a))
}

/// What an action runs: its template, else its kind (`aws`: with its provider).
fn kind_label(a: &Action) -> String {
    if let (None, Kind::Aws, Some(super::Expr::Str { value })) =
        (&a.template, a.kind, a.params.get("provider"))
    {
        return format!("aws {value}");
    }
    match &a.template {
        Some(t) => t.clone(),
        None => match a.kind {
            Kind::Sh => "sh",
            Kind::Dir => "dir",
            Kind::Git => "git",
            Kind::Approval => "approval",
            Kind::Wait => "wait",
            Kind::Pipeline => "pipeline",
            Kind::Aws => "aws",
        }
        .to_string(),
    }
}

fn node(stage: &str, action: &str) -> String {
    format!("{stage}__{action}")
}

fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn dot(ir: &Ir, edges: &[StageEdge<'_>], flows: &[Flow<'_>]) -> String {
    let mut out = String::new();
    let p = &ir.pipeline;
    let mode = format!("{:?}", p.mode).to_lowercase();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_text(&p.name));
    let _ = writeln!(
        out,
        "  label=\"pipeline {} ({mode})\";\n  labelloc=t;\n  compound=true;\n  rankdir=TB;\n  node [shape=box, style=rounded];",
        dot_text(&p.name)
    );
    for s in &p.stages {
        let _ = writeln!(out, "  subgraph \"cluster_{}\" {{", s.name);
        let _ = writeln!(out, "    label=\"{}\";", dot_text(&stage_label(s)));
        for a in &s.actions {
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\"];",
                node(&s.name, &a.name),
                dot_text(&action_label(a))
            );
        }
        for a in &s.actions {
            for pred in &a.after {
                let _ = writeln!(
                    out,
                    "    \"{}\" -> \"{}\";",
                    node(&s.name, pred),
                    node(&s.name, &a.name)
                );
            }
        }
        let _ = writeln!(out, "  }}");
    }
    // Stage edges go between the clusters (from and to each stage's first action).
    let first = |stage: &str| {
        p.stages
            .iter()
            .find(|s| s.name == stage)
            .and_then(|s| s.actions.first())
            .map(|a| node(stage, &a.name))
    };
    for e in edges {
        let (Some(from), Some(to)) = (first(e.from), first(e.to)) else {
            continue;
        };
        let mut attrs = vec![
            format!("ltail=\"cluster_{}\"", e.from),
            format!("lhead=\"cluster_{}\"", e.to),
            "penwidth=2".to_string(),
        ];
        if let Some(l) = &e.label {
            attrs.push(format!("label=\"{}\"", dot_text(l)));
        }
        if e.disabled {
            attrs.push("style=dashed, color=red, fontcolor=red".to_string());
        }
        let _ = writeln!(out, "  \"{from}\" -> \"{to}\" [{}];", attrs.join(", "));
    }
    for f in flows {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [style=dotted, color=blue, fontcolor=blue, label=\"{}\", constraint=false];",
            node(f.from.0, f.from.1),
            node(f.to.0, f.to.1),
            dot_text(f.artifact)
        );
    }
    out.push_str("}\n");
    out
}

/// Text inside a quoted Mermaid label: `#` and the characters Mermaid or HTML would read
/// as markup become entity codes (`#` first: the codes start with it).
fn mermaid_text(s: &str) -> String {
    s.replace('#', "#35;")
        .replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', "<br/>")
}

fn mermaid(ir: &Ir, edges: &[StageEdge<'_>], flows: &[Flow<'_>]) -> String {
    let mut out = String::new();
    let p = &ir.pipeline;
    let mode = format!("{:?}", p.mode).to_lowercase();
    let _ = writeln!(
        out,
        "---\ntitle: \"pipeline {} ({mode})\"\n---",
        mermaid_text(&p.name)
    );
    out.push_str("flowchart TD\n");
    for s in &p.stages {
        let _ = writeln!(
            out,
            "  subgraph s_{}[\"{}\"]",
            s.name,
            mermaid_text(&stage_label(s))
        );
        for a in &s.actions {
            let _ = writeln!(
                out,
                "    {}(\"{}\")",
                node(&s.name, &a.name),
                mermaid_text(&action_label(a))
            );
        }
        for a in &s.actions {
            for pred in &a.after {
                let _ = writeln!(
                    out,
                    "    {} --> {}",
                    node(&s.name, pred),
                    node(&s.name, &a.name)
                );
            }
        }
        out.push_str("  end\n");
    }
    for e in edges {
        let arrow = match (&e.label, e.disabled) {
            (Some(l), true) => format!("-. \"{}\" .->", mermaid_text(l)),
            (None, true) => "-.->".to_string(),
            (Some(l), false) => format!("==>|\"{}\"|", mermaid_text(l)),
            (None, false) => "==>".to_string(),
        };
        let _ = writeln!(out, "  s_{} {arrow} s_{}", e.from, e.to);
    }
    for f in flows {
        let _ = writeln!(
            out,
            "  {} -. \"{}\" .-> {}",
            node(f.from.0, f.from.1),
            mermaid_text(f.artifact),
            node(f.to.0, f.to.1)
        );
    }
    out
}
