//! One job per stage: `needs` for the stage graph (optional: a job its rules left out does not
//! block), `rules:` for the guards and entry on the way to it, its actions as script items in
//! `after` order, artifacts and the dotenv report of its exports, an approval as a manual gate
//! job, `retry`, `timeout`, `image`, `resource_group` for `mode queued` and `superseded`
//! (with `interruptible` jobs in the latter).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::rules::{self, Cond};
use super::{Cx, PARAMS_JOB, values};
use crate::diagnostics::{Code, Diagnostic};
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::runner::{self, Host, Runner};
use crate::export::stages;
use crate::ir::{self, Expr, FailurePolicy, Kind, Mode, Part, RetryScope};

/// Job names GitLab reserves.
const RESERVED: &[&str] = &[
    "image",
    "services",
    "stages",
    "types",
    "before_script",
    "after_script",
    "variables",
    "cache",
    "include",
    "default",
    "workflow",
    "pages",
];

pub(super) fn jobs(cx: &mut Cx<'_>) -> Vec<(String, Node)> {
    let ir = cx.ir;
    match ir.pipeline.mode {
        Mode::Superseded => superseded(cx),
        Mode::Queued => cx.weaker(
            ir.pipeline.span,
            "runs wait for a stage in the resource group's order".into(),
            "`unordered` unless the project sets it",
            "set each resource group's process mode to `oldest_first` (API: PUT /projects/:id/resource_groups/:key)",
        ),
        Mode::Parallel => {}
    }
    let mut reach: BTreeMap<&str, Cond> = BTreeMap::new();
    let mut out = Vec::new();
    for stage in &ir.pipeline.stages {
        refuse_unmapped(cx, stage);
        let why = "GitLab's rules include or leave out a job, nothing else";
        let (r, entry) = stages::reached(cx, stage, &mut reach, why, param_cond);
        let mut needs: Vec<String> = stage.inbound.iter().map(|e| e.from.clone()).collect();
        if stage.inbound.is_empty() && !ir.pipeline.params.is_empty() {
            needs.push(PARAMS_JOB.to_string());
        }
        if let Some((name, gate)) = gate(cx, stage, &needs, &r) {
            needs.push(name.clone());
            out.push((name, gate));
        }
        let job = stage_job(cx, stage, needs, &r.and(entry));
        out.push((stage.name.clone(), job));
    }
    if let Some(s) = ir.pipeline.stages.iter().find(|s| {
        RESERVED.contains(&s.name.as_str())
            || s.name == PARAMS_JOB
            || out.iter().filter(|(n, _)| *n == s.name).count() > 1
    }) {
        cx.refuse(
            Code::E0506,
            s.span,
            format!(
                "stage `{}` has a name GitLab or pipec reserves for a job",
                s.name
            ),
            "a job of this name means something else",
            "rename the stage",
        );
    }
    out
}

/// `mode superseded`: each stage's lock is a resource group, and a newer pipeline of the same
/// ref cancels the older one's jobs (`interruptible`, `workflow: auto_cancel`). GitLab cancels
/// a running job too, where `pipec run` lets a stage that has started finish: a warning.
fn superseded(cx: &mut Cx<'_>) {
    let at = cx.head(cx.ir.pipeline.span);
    cx.diags.push(
        Diagnostic::new(
            Code::W0005,
            "a newer pipeline on the same ref cancels this one's jobs, also a stage that is running",
            super::span(at),
            "`mode superseded` (the default) on GitLab CI",
        )
        .help("write `mode queued` to let every run finish, or `mode parallel` for no locks")
        .note(
            "`pipec run` supersedes only a run waiting to enter a stage; GitLab's auto-cancel \
             stops the older pipeline's interruptible jobs whatever they are doing, and pipelines \
             of other refs wait for a stage in the resource group's order (`unordered` unless \
             the project sets it)",
        ),
    );
}

/// Whether the mode locks each stage (a resource group per stage).
pub(super) fn locks(mode: Mode) -> bool {
    matches!(mode, Mode::Superseded | Mode::Queued)
}

/// `interruptible: true` for a job of a `mode superseded` pipeline (cancelled by a newer one).
pub(super) fn interruptible(cx: &Cx<'_>, m: &mut Vec<(String, Node)>) {
    if cx.ir.pipeline.mode == Mode::Superseded {
        m.push(("interruptible".into(), Node::Bool(true)));
    }
}

fn refuse_unmapped(cx: &mut Cx<'_>, stage: &ir::Stage) {
    stages::unmapped(
        cx,
        stage,
        &stages::Unmapped {
            success: "a job cannot roll back or fail after its script succeeded",
            carried: |f| match f {
                FailurePolicy::Fail => true,
                FailurePolicy::Retry {
                    count,
                    scope: RetryScope::All,
                } => *count <= 2,
                FailurePolicy::Retry { .. } | FailurePolicy::Rollback => false,
            },
            failure: (
                "GitLab retries a whole job at most twice, and has no rollback",
                "write `on failure retry N all` with N at most 2, or retry the actions with `retry`",
            ),
            disabled: (
                "a pipeline cannot hold runs at an edge",
                "guard the stage with an approval (a manual job) instead",
            ),
            approval_when: Some(
                "a manual job is in the pipeline or not, decided when it is created",
            ),
        },
    );
}

/// A guard or entry rule as a rules expression (`true` after its `E0502`).
fn param_cond(cx: &mut crate::export::cx::Cx<'_>, e: &Expr, at: ir::Span) -> Cond {
    rules::cond(cx, e, false, at).unwrap_or(Cond::True)
}

fn rules_node(c: &Cond, when: Option<&str>) -> Option<Node> {
    let mut rule: Vec<(String, Node)> = Vec::new();
    match c {
        Cond::True if when.is_none() => return None,
        Cond::True => {}
        Cond::False => rule.push(("when".into(), Node::str("never"))),
        Cond::Text(t) => rule.push(("if".into(), Node::Str(t.clone()))),
    }
    if let (Some(w), false) = (when, *c == Cond::False) {
        rule.push(("when".into(), Node::str(w)));
    }
    Some(Node::Seq(vec![Node::Map(rule)]))
}

fn needs_node(needs: &[String], optional: bool) -> Node {
    Node::Seq(
        needs
            .iter()
            .map(|n| {
                Node::map([
                    ("job", Node::str(n.clone())),
                    ("artifacts", Node::Bool(true)),
                    ("optional", Node::Bool(optional && n != PARAMS_JOB)),
                ])
            })
            .collect(),
    )
}

/// The manual job of the stage's approval, with its name.
fn gate(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    needs: &[String],
    reach: &Cond,
) -> Option<(String, Node)> {
    let a = stages::approval(
        cx,
        stage,
        &stages::Approval {
            is: "an approval is a manual job the stage's job waits for",
            refuse_when: false,
            by: "pipeline",
            approvers: (
                "anyone who may run the pipeline may run a manual job",
                "protect the environment `STAGE-ACTION` and allow only them to deploy to it",
            ),
            notify: "notify from a job of the stage, or drop `notify`",
            timeout: (
                "a manual job waits until someone runs it",
                "cancel runs that wait too long",
            ),
        },
    )?;
    let name = format!("{}__{}", stage.name, a.name);
    let mut m: Vec<(String, Node)> = vec![("stage".into(), Node::str(stage.name.clone()))];
    if !needs.is_empty() {
        m.push(("needs".into(), needs_node(needs, true)));
    }
    if let Some(r) = rules_node(reach, Some("manual")) {
        m.push(("rules".into(), r));
    }
    m.push(("allow_failure".into(), Node::Bool(false)));
    interruptible(cx, &mut m);
    m.push((
        "environment".into(),
        Node::map([
            ("name", Node::Str(format!("{}-{}", stage.name, a.name))),
            ("action", Node::str("prepare")),
        ]),
    ));
    m.push((
        "script".into(),
        Node::Seq(vec![Node::Str(format!(
            "echo approved: {}.{}",
            stage.name, a.name
        ))]),
    ));
    Some((
        name,
        Node::Map(m).commented(format!(
            "approval {}.{} ({}): a manual job",
            stage.name,
            a.name,
            cx.place(a.span)
        )),
    ))
}

fn stage_job(cx: &mut Cx<'_>, stage: &ir::Stage, mut needs: Vec<String>, cond: &Cond) -> Node {
    let mut script = Vec::new();
    let mut paths = Vec::new();
    let mut exports = false;
    for a in stages::order(stage) {
        let Some(item) = action(cx, stage, a, &mut needs) else {
            continue;
        };
        script.push(Node::Str(item));
        paths.extend(a.outputs.iter().map(|o| format!(".pipec/art/{}", o.name)));
        exports |= !a.exports.is_empty();
    }
    let mut m: Vec<(String, Node)> = vec![("stage".into(), Node::str(stage.name.clone()))];
    if let Some(image) = stages::image(cx, stage, "a job runs in one image") {
        m.push(("image".into(), Node::Str(image)));
    }
    m.push(("needs".into(), needs_node(&needs, true)));
    if let Some(r) = rules_node(cond, None) {
        m.push(("rules".into(), r));
    }
    if locks(cx.ir.pipeline.mode) {
        m.push((
            "resource_group".into(),
            Node::Str(format!("pipec-{}-{}", cx.ir.pipeline.name, stage.name)),
        ));
    }
    interruptible(cx, &mut m);
    if let Some(t) = stage.timeout_secs {
        m.push(("timeout".into(), Node::Str(format!("{}m", t.div_ceil(60)))));
    }
    if let FailurePolicy::Retry { count, .. } = stage.on_failure {
        m.push((
            "retry".into(),
            Node::map([
                ("max", Node::Int(i64::from(count))),
                ("when", Node::str("script_failure")),
            ]),
        ));
    }
    if cx.statuses.contains(&stage.name) {
        script.push(Node::Str(format!(
            "# the stage's status, for `{0}.status`\nmkdir -p \"$CI_PROJECT_DIR/.pipec\" && echo {1}=succeeded >> \"$CI_PROJECT_DIR/.pipec/exports.env\"",
            stage.name,
            values::status_var(&stage.name)
        )));
        exports = true;
    }
    if script.is_empty() {
        script.push(Node::str("true"));
    }
    m.push(("script".into(), Node::Seq(script)));
    if !paths.is_empty() || exports {
        let mut art: Vec<(String, Node)> = Vec::new();
        if !paths.is_empty() {
            art.push(("paths".into(), Node::strs(paths)));
        }
        if exports {
            art.push((
                "reports".into(),
                Node::map([("dotenv", Node::str(".pipec/exports.env"))]),
            ));
        }
        m.push(("artifacts".into(), Node::Map(art)));
    }
    Node::Map(m).commented(format!("stage {} ({})", stage.name, cx.place(stage.span)))
}

/// One action as a script item: `bash -c` of its runner (its values exported first).
#[allow(clippy::match_wildcard_for_single_variants)] // Reason: kinds added later (`aws`) are refused too.
fn action(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    needs: &mut Vec<String>,
) -> Option<String> {
    let bash = match a.kind {
        Kind::Sh | Kind::Git => {
            let (script, prelude) = if a.kind == Kind::Git {
                git(cx, a, needs)?
            } else {
                sh(cx, a, needs)?
            };
            let mut prelude = prelude;
            for (k, v) in &a.env {
                let w = values::word(cx, v, needs, a.span)?;
                let _ = writeln!(prelude, "export {k}={w}");
            }
            runner::runner(&Runner {
                prelude,
                script,
                shell: plain(cx, a, "shell", "bash")?,
                workdir: plain(cx, a, "workdir", ".")?,
                ..Runner::of(Host::GitLab, stage, a)
            })
        }
        Kind::Dir => {
            let path = plain(cx, a, "path", ".")?;
            let Some(Expr::List { .. }) = a.params.get("exclude") else {
                return None;
            };
            let exclude = stages::globs(cx, a, "pipeline")?;
            let name = a.outputs.first().map_or("src", |o| o.name.as_str());
            runner::dir(Host::GitLab, name, &path, &exclude)
        }
        Kind::Wait => runner::sleep(a)?,
        Kind::Approval => return None,
        Kind::Aws => return stages::refuse_aws(cx, a),
        _ => {
            let kind = stages::kind_name(a.kind);
            cx.refuse(
                Code::E0501,
                a.span,
                format!("a `{kind}` action on GitLab CI (`{}`)", a.name),
                "not expressible on GitLab CI",
                "run it as an `sh` action, or in a pipeline of its own",
            );
            return None;
        }
    };
    let mut words = values::Words::new(cx, needs, a.span);
    let item = crate::export::shtest::guarded(&mut words, stage, a, runner::bash_c(&bash))?;
    Some(format!("# {} ({})\n{item}", a.name, cx.place(a.span)))
}

fn plain(cx: &mut Cx<'_>, a: &ir::Action, key: &str, default: &str) -> Option<String> {
    stages::literal(cx, a, key, default, "pipeline")
}

fn git(cx: &mut Cx<'_>, a: &ir::Action, needs: &mut Vec<String>) -> Option<(String, String)> {
    if let Some(Expr::Str { value }) = a.params.get("repo") {
        if !value.contains("://") && !value.contains('@') {
            cx.refuse(
                Code::E0501,
                a.span,
                format!("`{}` clones a local repository on GitLab CI", a.name),
                "a job has no such folder",
                "name the repository by its URL",
            );
            return None;
        }
    }
    let mut words = values::Words::new(cx, needs, a.span);
    let prelude = stages::git_prelude(&mut words, a)?;
    Some((crate::shell::GIT_CHECKOUT.to_string(), prelude))
}

/// The script with each interpolation a quoted reference to `PIPEC_ARG_N`, exported first
/// (in a POSIX shell only).
fn sh(cx: &mut Cx<'_>, a: &ir::Action, needs: &mut Vec<String>) -> Option<(String, String)> {
    let reads = matches!(a.params.get("run"), Some(Expr::Interp { parts, .. })
        if parts.iter().any(|p| matches!(p, Part::Expr(_))));
    if reads {
        let shell = plain(cx, a, "shell", "bash")?;
        if !matches!(
            shell.rsplit('/').next().unwrap_or(&shell),
            "sh" | "bash" | "dash" | "zsh" | "ksh"
        ) {
            cx.refuse(
                Code::E0501,
                a.span,
                format!(
                    "`${{…}}` in the script of `{}`, whose shell `{shell}` is not a POSIX shell",
                    a.name
                ),
                "values reach scripts as variables",
                "pass the value in `env` and read it from the environment",
            );
            return None;
        }
    }
    let mut words = values::Words::new(cx, needs, a.span);
    stages::script(&mut words, a)
}
