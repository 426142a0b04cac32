//! The generator: a model pipeline to `.pipe` text, then through `pipec fmt`'s formatter.
//! Pure: model in, text out. Every value it cannot carry over is a comment at its place
//! (or a param with a comment), never left out silently. The mapping is `docs/import.md`.

mod actions;
mod conditions;
mod values;

use super::model::{Pipeline, Trigger};
use super::names::{Names, identifier};
use super::tree::Text;
use crate::source::FileId;
use crate::syntax::Formatter;
use std::fmt::Write as _;
use values::{Values, quote};

/// The pipeline as `.pipe` text in `pipec fmt`'s layout, or the formatter's refusal (a bug).
pub(super) fn generate(p: &Pipeline, id: &str, file: &str) -> Result<String, String> {
    let text = unformatted(p, id, file);
    Formatter::format(FileId(0), &text).map_err(|d| {
        let first = d.first().map(|d| d.message.clone()).unwrap_or_default();
        format!("{first}\n--- generated text ---\n{text}")
    })
}

/// The identifier a pipeline is given: its literal name, else its label.
pub(super) fn pipeline_id(p: &Pipeline) -> String {
    let literal = p
        .name
        .as_ref()
        .and_then(|name| Values::new(p, Vec::new(), Vec::new()).constant(name, &mut Vec::new()));
    match literal {
        Some(name) if !name.is_empty() => identifier(&name),
        _ => identifier(&p.label),
    }
}

fn unformatted(p: &Pipeline, id: &str, file: &str) -> String {
    let mut stage_names = Names::stages();
    let stage_ids: Vec<String> = p.stages.iter().map(|s| stage_names.name(&s.name)).collect();
    let action_ids: Vec<Vec<String>> = p
        .stages
        .iter()
        .map(|s| {
            let mut names = Names::default();
            s.actions.iter().map(|a| names.name(&a.name)).collect()
        })
        .collect();
    let mut values = Values::new(p, stage_ids.clone(), action_ids.clone());
    let mut artifacts = Names::default();
    // Pass one: the stages (this finds the exports, params and artifacts they use).
    let _ = actions::stages(p, &mut values, &mut artifacts);
    // Pass two, for real, now that every export is known before its producer is written.
    let stages = actions::stages(p, &mut values, &mut artifacts);
    let mut transitions_text = String::new();
    transitions(p, &stage_ids, &mut values, &mut transitions_text);

    let mut out = String::new();
    comment(
        &mut out,
        &format!(
            "Imported by `pipec import codepipeline` from {file} ({}).",
            p.origin.what
        ),
    );
    for note in &p.notes {
        comment(&mut out, note);
    }
    if let Some(role) = &p.role_arn {
        comment(
            &mut out,
            &format!(
                "not carried over: the pipeline's role `{}`",
                role.describe()
            ),
        );
    }
    match p.name.as_ref() {
        Some(name) if name.as_lit().is_none_or(|n| n != id) => {
            comment(&mut out, &format!("CodePipeline name: {}", name.describe()));
        }
        _ => {}
    }
    let _ = writeln!(out, "pipeline {id} {{");
    if let Some(mode) = &p.execution_mode {
        match mode.to_ascii_lowercase().as_str() {
            m @ ("superseded" | "queued" | "parallel") => {
                let _ = writeln!(out, "mode {m}");
            }
            other => comment(
                &mut out,
                &format!("not carried over: execution mode `{other}`"),
            ),
        }
    }
    if p.pipeline_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("V1"))
    {
        comment(
            &mut out,
            "the original is a V1 pipeline; pipec compiles to V2",
        );
    }
    params(&values, &mut out);
    for t in &p.triggers {
        trigger(t, p, &values, &mut out);
    }
    out.push_str(&stages);
    out.push_str(&transitions_text);
    out.push_str("}\n");
    out
}

/// Writes `text` as `//` comment lines.
pub(super) fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("// ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn params(values: &Values<'_>, out: &mut String) {
    if values.params.is_empty() {
        return;
    }
    out.push('\n');
    for p in &values.params {
        for c in &p.comments {
            comment(out, c);
        }
        let mut decl = format!("param {}: string", p.id);
        if let Some(d) = &p.default {
            let _ = write!(decl, " = {}", quote(d));
        }
        if !p.allowed.is_empty() {
            let allowed: Vec<String> = p.allowed.iter().map(|a| quote(a)).collect();
            let _ = write!(decl, " {{ allowed = [{}] }}", allowed.join(", "));
        }
        if p.used {
            out.push_str(&decl);
            out.push('\n');
        } else {
            // pipec warns about a param nothing reads (W0001): kept, as a comment.
            comment(out, "nothing in the pipeline reads this variable:");
            comment(out, &decl);
        }
    }
}

fn trigger(t: &Trigger, p: &Pipeline, values: &Values<'_>, out: &mut String) {
    let sources = p
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| a.category.eq_ignore_ascii_case("source"))
        .count();
    if sources > 1 {
        if let Some(source) = &t.source_action {
            comment(out, &format!("on the source action `{source}`"));
        }
    }
    let mut attrs = Vec::new();
    let mut notes = Vec::new();
    let mut list = |includes: &[Text], excludes: &[Text]| -> Option<String> {
        let mut items = Vec::new();
        for (texts, not) in [(includes, ""), (excludes, "!")] {
            for t in texts {
                match values.constant(t, &mut notes) {
                    Some(v) => items.push(quote(&format!("{not}{v}"))),
                    None => notes.push(format!(
                        "not carried over: the filter pattern `{not}{}`",
                        t.describe()
                    )),
                }
            }
        }
        (!items.is_empty()).then(|| format!("[{}]", items.join(", ")))
    };
    if let Some(l) = list(&t.branches.includes, &t.branches.excludes) {
        attrs.push(format!("branches = {l}"));
    }
    if let Some(l) = list(&t.tags.includes, &t.tags.excludes) {
        attrs.push(format!("tags = {l}"));
    }
    if let Some(l) = list(&t.paths.includes, &t.paths.excludes) {
        attrs.push(format!("paths = {l}"));
    }
    let events: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match e.to_ascii_uppercase().as_str() {
            "OPEN" => Some("opened"),
            "UPDATED" => Some("updated"),
            "CLOSED" => Some("closed"),
            _ => None,
        })
        .collect();
    if t.pull_request && !events.is_empty() {
        attrs.push(format!("events = [{}]", events.join(", ")));
    }
    for n in notes {
        comment(out, &n);
    }
    let kind = if t.pull_request {
        "pull_request"
    } else {
        "push"
    };
    let _ = writeln!(out, "trigger {kind} {{ {} }}", attrs.join("  "));
}

fn transitions(p: &Pipeline, stage_ids: &[String], values: &mut Values<'_>, out: &mut String) {
    for (stage, reason) in &p.disabled_transitions {
        let Some(i) = p.stages.iter().position(|s| s.name == *stage) else {
            comment(
                out,
                &format!(
                    "not carried over: a disabled transition into `{stage}`, which is not a stage here"
                ),
            );
            continue;
        };
        if i == 0 {
            comment(
                out,
                &format!("not carried over: a disabled transition into the first stage `{stage}`"),
            );
            continue;
        }
        let mut notes = Vec::new();
        let reason = values.string(reason, &mut notes);
        for n in notes {
            comment(out, &n);
        }
        let _ = writeln!(
            out,
            "transition {} -> {} disabled {reason}",
            stage_ids[i - 1],
            stage_ids[i]
        );
    }
}
