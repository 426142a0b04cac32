//! `pipec compile --target github`: a checked pipeline to a GitHub Actions workflow.
//!
//! Input: the IR of a file that checks clean, and (optionally) its source map, to point
//! diagnostics at a stage's or action's first line. Output: the workflow's YAML (comments
//! name the `.pipe` line of each job and step), or `E05xx` diagnostics for every construct
//! GitHub Actions cannot express.
//!
//! Method, one concern per file: [`on`] the triggers, `workflow_dispatch` inputs and the
//! `pipec_params` job that gives every run its param values; [`jobs`] one job per stage
//! (the stage graph as `needs` and `if:`, entry conditions, approvals as gate jobs with an
//! `environment`, modes as `concurrency`, timeouts); [`steps`] the steps of each action in
//! `after` order (artifacts through upload/download-artifact pinned by commit, exports
//! through `$GITHUB_OUTPUT` and job outputs), whose bash is `export::runner`'s; [`expr`]
//! expressions as GitHub expressions. Values reach scripts only through `env:`: no
//! `${{ … }}` is ever written into a `run:` script. The mapping is documented in
//! `docs/targets/github.md`.
//!
//! Limits: the actions of a stage are the steps of one job, run one after the other in
//! their `after` order (a stage's actions never run side by side).

mod expr;
mod jobs;
mod on;
mod steps;

use crate::diagnostics::Diagnostic;
use crate::export::cx::Cx;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::Ir;
use crate::source::SourceMap;

/// The job that decides every run's param values.
const PARAMS_JOB: &str = "pipec_params";

/// Actions the workflow uses, pinned by commit (the tag in a comment).
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683";
const CHECKOUT_TAG: &str = "v4.2.2";
const UPLOAD: &str = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02";
const UPLOAD_TAG: &str = "v4.6.2";
const DOWNLOAD: &str = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093";
const DOWNLOAD_TAG: &str = "v4.3.0";

/// The runner every job runs on.
const RUNS_ON: &str = "ubuntu-latest";

pub use super::Exported;

/// Exports `ir` as a workflow. Returns every `E05xx` error (and the warnings) when
/// something cannot be expressed.
pub fn export(ir: &Ir, map: Option<&SourceMap>) -> Result<Exported, Vec<Diagnostic>> {
    let mut cx = Cx::new(ir, map, "GitHub Actions");
    let doc = workflow(&mut cx);
    super::finish("github", ir, cx.diags, &doc)
}

fn workflow(cx: &mut Cx<'_>) -> Node {
    let p = &cx.ir.pipeline;
    let mut root = vec![
        ("name".to_string(), Node::str(p.name.clone())),
        ("on".to_string(), on::on(cx)),
        (
            "permissions".to_string(),
            Node::map([("contents", Node::str("read"))]),
        ),
    ];
    if let Some(t) = p.timeout_secs {
        cx.weaker(
            p.span,
            format!(
                "the pipeline's `timeout` ({}) is not enforced on GitHub Actions",
                crate::duration::format(t)
            ),
            "a workflow has no time limit of its own",
            "give the stages a `timeout` (each job's `timeout-minutes`)",
        );
    }
    let mut jobs = Vec::new();
    if let Some(job) = on::params_job(cx) {
        jobs.push((PARAMS_JOB.to_string(), job));
    }
    jobs.extend(jobs::jobs(cx));
    root.push(("jobs".to_string(), Node::Map(jobs)));
    Node::Map(root)
}

/// The job output that carries `ACTION`'s export `NAME`.
fn export_output(action: &str, name: &str) -> String {
    format!("{action}__{name}")
}
