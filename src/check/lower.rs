//! Checked model → IR: the checker's last step. Runs only on files that check clean.
//!
//! Lowering lives on the checker's side of the boundary: the checker already resolves
//! expressions into IR expressions (and a `check` rule into an IR action), so `ir/` stays
//! the serialisable data the runtime reads, depending on no phase.

use super::{ActionModel, ConditionModel, Model};
use crate::ir::{
    self, Action, Artifact, Condition, Edge, IR_VERSION, Input, Ir, Param, Pipeline, Secret, Stage,
};
use crate::source::{SourceMap, Span};

/// An IR span, with the 1-based line and column of its start.
pub(crate) fn span(map: &SourceMap, s: Span) -> ir::Span {
    let (start, _) = map.line_col(s);
    ir::Span {
        file: s.file.0,
        start: s.start,
        end: s.end,
        line: start.line,
        column: start.column,
    }
}

pub(crate) fn action(map: &SourceMap, a: &ActionModel) -> Action {
    // Each input is restored at the path its producer captured it from; the producer is
    // looked up by `lower` (a check action's inputs are filled the same way).
    Action {
        name: a.name.name.clone(),
        span: span(map, a.span),
        kind: a.kind,
        template: a.template.clone(),
        category: a.category,
        params: a.params.iter().cloned().collect(),
        after: a.after.iter().map(|i| i.name.clone()).collect(),
        inputs: a
            .inputs
            .iter()
            .map(|i| Input {
                name: i.name.name.clone(),
                path: String::new(),
                folder: i.folder.clone(),
            })
            .collect(),
        outputs: a
            .outputs
            .iter()
            .map(|o| Artifact {
                name: o.name.name.clone(),
                path: o.path.clone(),
            })
            .collect(),
        exports: a
            .exports
            .iter()
            .map(|e| e.name.clone())
            .chain(a.kind_exports.iter().cloned())
            .collect(),
        env: a.env.iter().cloned().collect(),
        timeout_secs: a
            .timeout
            .map(|(s, _)| s)
            .or((a.kind == ir::Kind::Approval).then_some(7 * 86_400)),
        retry: a.retry,
        when: a.when.as_deref().cloned(),
        image: a.image.clone(),
    }
}

fn condition(map: &SourceMap, c: &ConditionModel) -> Condition {
    Condition {
        rules: c.rules.clone(),
        otherwise: c.otherwise,
        span: span(map, c.span),
    }
}

/// Lowers a checked pipeline to the IR.
pub struct Lowerer;

impl Lowerer {
    pub fn lower(map: &SourceMap, m: &Model) -> Ir {
        let mut stages: Vec<Stage> = m
            .stages
            .iter()
            .map(|s| Stage {
                name: s.name.name.clone(),
                span: span(map, s.span),
                inbound: s
                    .inbound
                    .iter()
                    .map(|e| Edge {
                        from: m.stages[e.from].name.name.clone(),
                        guard: e.guard.clone(),
                        disabled: e.disabled.clone(),
                        span: span(map, e.span),
                    })
                    .collect(),
                timeout_secs: s.timeout.map(|(t, _)| t),
                entry: s.entry.as_ref().map(|c| condition(map, c)),
                on_success: s.on_success.as_ref().map(|c| condition(map, c)),
                on_failure: s.on_failure,
                actions: s.actions.iter().map(|a| action(map, a)).collect(),
            })
            .collect();
        let paths: std::collections::HashMap<String, String> = stages
            .iter()
            .flat_map(|s| {
                s.actions
                    .iter()
                    .flat_map(|a| a.outputs.iter().map(|o| (o.name.clone(), o.path.clone())))
            })
            .collect();
        let fill = |inputs: &mut Vec<Input>| {
            for i in inputs {
                i.path = paths.get(&i.name).cloned().unwrap_or_else(|| ".".into());
            }
        };
        for s in &mut stages {
            for a in &mut s.actions {
                fill(&mut a.inputs);
            }
            for c in s.entry.iter_mut().chain(s.on_success.iter_mut()) {
                for r in &mut c.rules {
                    if let ir::CondRule::Check { action } = r {
                        fill(&mut action.inputs);
                    }
                }
            }
        }
        let mut files: Vec<String> = map.files().map(|(_, f)| f.name.clone()).collect();
        files.shrink_to_fit();
        Ir {
            ir_version: IR_VERSION,
            files,
            pipeline: Pipeline {
                name: m.name.name.clone(),
                span: span(map, m.span),
                mode: m.mode,
                timeout_secs: m.timeout.map(|(t, _)| t),
                retention: (m.retention != ir::Retention::default()).then_some(m.retention),
                params: m
                    .params
                    .iter()
                    .map(|p| Param {
                        name: p.name.name.clone(),
                        ty: p.ty.clone().unwrap_or(ir::Type::String),
                        default: p.default.clone(),
                        allowed: p.allowed.clone(),
                        pattern: p.pattern.clone(),
                        span: span(map, p.span),
                    })
                    .collect(),
                secrets: m
                    .secrets
                    .iter()
                    .filter_map(|s| {
                        Some(Secret {
                            name: s.name.name.clone(),
                            source: s.source.clone()?,
                            span: span(map, s.span),
                        })
                    })
                    .collect(),
                triggers: m.triggers.clone(),
                notify: m.notify.clone(),
                stages,
            },
        }
    }
}
