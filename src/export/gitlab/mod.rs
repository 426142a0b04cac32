//! `pipec compile --target gitlab`: a checked pipeline to a GitLab CI pipeline
//! (`.gitlab-ci.yml`).
//!
//! Input: the IR of a file that checks clean, and (optionally) its source map. Output: the
//! pipeline's YAML (comments name the `.pipe` line of each job and script item), or `E05xx`
//! diagnostics for every construct GitLab CI cannot express.
//!
//! Method: [`rules`] decides what GitLab decides when it creates a pipeline (triggers as
//! `workflow: rules:`, the guards and entries on the way to each stage as job `rules:`, over
//! params only); [`jobs`] makes one job per stage (`needs` for the stage graph, its actions
//! as script items running `export::runner`'s bash, artifacts, exports as a dotenv report,
//! approvals as manual jobs, `retry`, `timeout`, `image`, `resource_group`; an action's `when` a shell test in its job); [`values`] the
//! bash words that read values from variables. No value is ever written into a script: each
//! is read from a variable. The mapping is documented in `docs/targets/gitlab.md`.
//!
//! Limits: conditions are decided when the pipeline is created, so they may read params
//! only; a stage's actions run one after the other in its job.

mod jobs;
mod rules;
mod values;

use crate::diagnostics::Diagnostic;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::stages;
use crate::ir::{self, Expr, Ir, Type};
use crate::source::{SourceMap, Span};

/// The job that checks the params' values before any stage.
const PARAMS_JOB: &str = "pipec_params";

pub use super::Exported;

/// Exports `ir` as a `.gitlab-ci.yml`. Returns every `E05xx` error (and the warnings) when
/// something cannot be expressed.
pub fn export(ir: &Ir, map: Option<&SourceMap>) -> Result<Exported, Vec<Diagnostic>> {
    let mut cx = Cx {
        base: crate::export::cx::Cx::new(ir, map, "GitLab CI"),
        statuses: values::statuses_read(ir),
    };
    let doc = pipeline(&mut cx);
    super::finish("gitlab", ir, cx.base.diags, &doc)
}

fn pipeline(cx: &mut Cx<'_>) -> Node {
    let p = &cx.ir.pipeline;
    let mut root: Vec<(String, Node)> = Vec::new();
    let mut workflow = vec![("name".to_string(), Node::str(p.name.clone()))];
    if p.mode == ir::Mode::Superseded {
        workflow.push((
            "auto_cancel".into(),
            Node::map([("on_new_commit", Node::str("interruptible"))]),
        ));
    }
    if let Some(rules) = rules::workflow(cx) {
        let items = rules
            .into_iter()
            .map(|(cond, paths)| {
                let mut m = vec![("if".to_string(), Node::Str(cond))];
                if !paths.is_empty() {
                    m.push(("changes".into(), Node::strs(paths)));
                }
                Node::Map(m)
            })
            .collect();
        workflow.push(("rules".into(), Node::Seq(items)));
    }
    root.push(("workflow".into(), Node::Map(workflow)));
    if let Some(t) = p.timeout_secs {
        cx.weaker(
            p.span,
            format!(
                "the pipeline's `timeout` ({}) is not enforced on GitLab CI",
                crate::duration::format(t)
            ),
            "a pipeline has no time limit of its own",
            "give the stages a `timeout` (each job's `timeout`)",
        );
    }
    if let Some(v) = variables(cx) {
        root.push(("variables".into(), v));
    }
    let stages: Vec<String> = p.stages.iter().map(|s| s.name.clone()).collect();
    root.push(("stages".into(), Node::strs(stages)));
    if let Some(job) = params_job(cx) {
        root.push((PARAMS_JOB.into(), job));
    }
    root.extend(jobs::jobs(cx));
    Node::Map(root)
}

/// The params as pipeline variables (`PIPEC_PARAM_NAME`), shown in the form of a manual run.
fn variables(cx: &mut Cx<'_>) -> Option<Node> {
    let params = &cx.ir.pipeline.params;
    if params.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for p in params {
        let Some(value) = stages::param_value(
            cx,
            p,
            "a pipeline variable always has a value",
            "give it a default (a run started by hand may still set it)",
        ) else {
            continue;
        };
        let mut m = vec![
            ("value".to_string(), Node::Str(value)),
            (
                "description".to_string(),
                Node::Str(format!("param `{}: {}`", p.name, p.ty)),
            ),
        ];
        if let (Some(allowed), Type::String) = (&p.allowed, &p.ty) {
            let options: Vec<String> = allowed
                .iter()
                .filter_map(|a| match a {
                    Expr::Str { value } => Some(value.clone()),
                    _ => None,
                })
                .collect();
            m.push(("options".into(), Node::strs(options)));
        }
        out.push((rules::param_var(&p.name), Node::Map(m)));
    }
    Some(Node::Map(out))
}

/// The job that checks the params' types and allowed values first (in `.pre`).
fn params_job(cx: &mut Cx<'_>) -> Option<Node> {
    let params = &cx.ir.pipeline.params;
    if params.is_empty() {
        return None;
    }
    let mut script = Vec::new();
    for p in params {
        let var = rules::param_var(&p.name);
        let allowed: Option<Vec<String>> = p.allowed.as_ref().map(|a| {
            a.iter()
                .filter_map(|v| match v {
                    Expr::Str { value } => Some(crate::shell::quote_word(value)),
                    Expr::Int { value } => Some(value.to_string()),
                    _ => None,
                })
                .collect()
        });
        let pattern = match (&p.ty, allowed) {
            (_, Some(words)) if !words.is_empty() => words.join("|"),
            (Type::Int, _) => "-[0-9]*|[0-9]*".to_string(),
            (Type::Bool, _) => "true|false".to_string(),
            _ => continue,
        };
        let int_check = if p.ty == Type::Int {
            format!(
                " case \"${var}\" in *[!0-9-]*|-|'') echo \"pipec: param \\`{}\\` must be an int\"; exit 1 ;; esac;",
                p.name
            )
        } else {
            String::new()
        };
        script.push(Node::Str(format!(
            "case \"${var}\" in {pattern}) ;; *) echo \"pipec: param \\`{}\\` has a value it may not take\"; exit 1 ;; esac;{int_check}",
            p.name
        )));
    }
    if script.is_empty() {
        script.push(Node::str("true"));
    }
    let mut m = vec![("stage".to_string(), Node::str(".pre"))];
    jobs::interruptible(cx, &mut m);
    m.push(("script".into(), Node::Seq(script)));
    Some(Node::Map(m).commented(format!(
        "the params' values, checked before any stage ({})",
        cx.place(cx.ir.pipeline.span)
    )))
}

/// What the exporter knows while it works, and what it has found: the shared context and
/// the stages whose `STAGE.status` is read (their jobs report it in their dotenv).
struct Cx<'a> {
    base: crate::export::cx::Cx<'a>,
    statuses: std::collections::BTreeSet<String>,
}

impl<'a> std::ops::Deref for Cx<'a> {
    type Target = crate::export::cx::Cx<'a>;

    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

impl std::ops::DerefMut for Cx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.base
    }
}

fn span(s: ir::Span) -> Span {
    crate::export::source_span(s)
}
