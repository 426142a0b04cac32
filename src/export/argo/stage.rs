//! A stage's container template (its actions' bash, run by `export::runner`) and its DAG task:
//! the values it reads as input parameters (each an environment variable of the container,
//! never text of the script), exports as output parameters, artifacts in and out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::dag::when;
use super::{Cx, DEFAULT_IMAGE, WORK, dns};
use crate::diagnostics::Code;
use crate::export::cond::Cond;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::runner::{self, Host, Runner};
use crate::export::stages;
use crate::ir::{self, Expr, FailurePolicy, Kind, Mode, Part, Ref, Type};
use crate::shell::quote_word;

/// What a stage's container reads: its input parameters (name, value) and the tasks they
/// come from.
#[derive(Default)]
struct Inputs {
    params: Vec<(String, String)>,
    tasks: BTreeSet<String>,
    secrets: BTreeSet<String>,
}

impl Inputs {
    fn add(&mut self, value: String) -> String {
        let n = self.params.len() + 1;
        self.params.push((format!("in-{n}"), value));
        format!("\"$PIPEC_IN_{n}\"")
    }
}

/// A bash word with the value of `e`, read from the container's environment.
fn word(cx: &mut Cx<'_>, e: &Expr, ins: &mut Inputs, at: ir::Span) -> Option<String> {
    Some(match e {
        Expr::Str { value } if !value.contains("{{") => quote_word(value),
        Expr::Int { value } => value.to_string(),
        Expr::Bool { value } => value.to_string(),
        Expr::Ref(Ref::Param { name })
            if !matches!(cx.param_type(name), Some(Type::List(_) | Type::Map(_))) =>
        {
            ins.add(format!("{{{{workflow.parameters.{name}}}}}"))
        }
        Expr::Ref(Ref::Export {
            stage,
            action,
            name,
        }) => {
            ins.tasks.insert(dns(stage));
            ins.add(format!(
                "{{{{tasks.{}.outputs.parameters.{action}__{name}}}}}",
                dns(stage)
            ))
        }
        Expr::Ref(Ref::Run { field }) if field == "id" => "\"$PIPEC_WORKFLOW\"".into(),
        Expr::Ref(Ref::Run { field }) => return cant(cx, at, &format!("`run.{field}`")),
        Expr::Ref(Ref::StageStatus { stage }) => {
            // The task's phase, as pipec's word: a stage a reader sees either succeeded, or
            // was skipped by its entry (`Skipped`) or not reached (`Omitted`); a failed one
            // stops the DAG.
            ins.tasks.insert(dns(stage));
            let v = ins.add(format!("{{{{tasks.{}.status}}}}", dns(stage)));
            format!("\"$(case {v} in Succeeded) echo succeeded ;; *) echo skipped ;; esac)\"")
        }
        Expr::Ref(Ref::Secret { name }) => {
            ins.secrets.insert(name.clone());
            format!("\"$PIPEC_SECRET_{name}\"")
        }
        Expr::Interp { parts, .. } => {
            let mut out = String::new();
            for p in parts {
                match p {
                    Part::Text(t) if t.contains("{{") => return cant(cx, at, "text with `{{`"),
                    Part::Text(t) if !t.is_empty() => out.push_str(&quote_word(t)),
                    Part::Text(_) => {}
                    Part::Expr(e) => out.push_str(&word(cx, e, ins, at)?),
                }
            }
            if out.is_empty() { "''".into() } else { out }
        }
        _ => return cant(cx, at, "this value"),
    })
}

fn cant(cx: &mut Cx<'_>, at: ir::Span, what: &str) -> Option<String> {
    cx.refuse(
        Code::E0502,
        at,
        format!("{what} on Argo Workflows"),
        "not computable on Argo Workflows",
        "compute it in the script, and pass it on as an export (`run.id` is the workflow's name)",
    );
    None
}

pub(super) fn stage_template(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    mut depends: Vec<String>,
    c: &Cond,
) -> (Node, Node) {
    let body = body(cx, stage);
    for t in body.ins.tasks.iter().chain(body.in_artifacts.values()) {
        let d = format!("({t}.Succeeded || {t}.Skipped || {t}.Omitted)");
        if !depends.contains(&d) {
            depends.push(d);
        }
    }
    let name = format!("stage-{}", dns(&stage.name));
    let env = env(cx, &body.ins);
    let image = stages::image(cx, stage, "a stage's task runs one container")
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    let t = template(cx, stage, &name, body.clone_io(), env, image);
    let task = task(stage, name, &depends, c, &body);
    (t, task)
}

/// What a stage's actions make of its container: the script, what it reads and outputs.
struct Body {
    ins: Inputs,
    script: String,
    outputs_params: Vec<Node>,
    out_artifacts: Vec<Node>,
    /// Artifacts from other stages, with the task that makes each.
    in_artifacts: BTreeMap<String, String>,
}

impl Body {
    fn clone_io(&self) -> Io {
        Io {
            params: self.ins.params.iter().map(|(n, _)| n.clone()).collect(),
            in_artifacts: self.in_artifacts.keys().cloned().collect(),
            outputs_params: self.outputs_params.clone(),
            out_artifacts: self.out_artifacts.clone(),
            script: self.script.clone(),
        }
    }
}

/// A template's inputs, outputs and script.
struct Io {
    params: Vec<String>,
    in_artifacts: Vec<String>,
    outputs_params: Vec<Node>,
    out_artifacts: Vec<Node>,
    script: String,
}

fn body(cx: &mut Cx<'_>, stage: &ir::Stage) -> Body {
    let mut ins = Inputs::default();
    let mut script = String::from("set -e\n");
    let mut outputs_params = Vec::new();
    let mut out_artifacts = Vec::new();
    let made_here: BTreeSet<&str> = stage
        .actions
        .iter()
        .flat_map(|a| a.outputs.iter().map(|o| o.name.as_str()))
        .collect();
    let mut in_artifacts: BTreeMap<String, String> = BTreeMap::new();
    for a in stages::order(stage) {
        for i in &a.inputs {
            if !made_here.contains(i.name.as_str()) {
                if let Some(p) = producer(cx, &i.name) {
                    in_artifacts.insert(i.name.clone(), p);
                }
            }
        }
        if let Some(item) = action(cx, stage, a, &mut ins) {
            script.push_str(&item);
        }
        for e in &a.exports {
            let n = format!("{}__{e}", a.name);
            outputs_params.push(Node::map([
                ("name", Node::Str(n.clone())),
                (
                    "valueFrom",
                    Node::map([("path", Node::Str(format!("{WORK}/.pipec/x/{n}")))]),
                ),
            ]));
        }
        for o in &a.outputs {
            out_artifacts.push(Node::map([
                ("name", Node::str(o.name.clone())),
                ("path", Node::Str(format!("{WORK}/.pipec/art/{}", o.name))),
            ]));
        }
    }
    Body {
        ins,
        script,
        outputs_params,
        out_artifacts,
        in_artifacts,
    }
}

/// The container's environment: pipec's variables, the inputs, the secrets.
fn env(cx: &Cx<'_>, ins: &Inputs) -> Vec<Node> {
    let mut env = vec![
        Node::map([
            ("name", Node::str("PIPEC_WORK")),
            ("value", Node::str(WORK)),
        ]),
        Node::map([
            ("name", Node::str("PIPEC_WORKFLOW")),
            ("value", Node::str("{{workflow.name}}")),
        ]),
    ];
    for (k, (n, _)) in ins.params.iter().enumerate() {
        env.push(Node::map([
            ("name", Node::Str(format!("PIPEC_IN_{}", k + 1))),
            ("value", Node::Str(format!("{{{{inputs.parameters.{n}}}}}"))),
        ]));
    }
    for s in &ins.secrets {
        env.push(Node::map([
            ("name", Node::Str(format!("PIPEC_SECRET_{s}"))),
            (
                "valueFrom",
                Node::map([(
                    "secretKeyRef",
                    Node::map([
                        (
                            "name",
                            Node::Str(format!("{}-secrets", dns(&cx.ir.pipeline.name))),
                        ),
                        ("key", Node::str(s.clone())),
                    ]),
                )]),
            ),
        ]));
    }
    env
}

fn template(
    cx: &Cx<'_>,
    stage: &ir::Stage,
    name: &str,
    io: Io,
    env: Vec<Node>,
    image: String,
) -> Node {
    let Io {
        params,
        in_artifacts,
        outputs_params,
        out_artifacts,
        script,
    } = io;
    let mut t: Vec<(String, Node)> = vec![("name".into(), Node::str(name))];
    let mut inputs = Vec::new();
    if !params.is_empty() {
        inputs.push((
            "parameters".to_string(),
            Node::Seq(
                params
                    .iter()
                    .map(|n| Node::map([("name", Node::str(n.clone()))]))
                    .collect(),
            ),
        ));
    }
    if !in_artifacts.is_empty() {
        inputs.push((
            "artifacts".to_string(),
            Node::Seq(
                in_artifacts
                    .iter()
                    .map(|n| {
                        Node::map([
                            ("name", Node::str(n.clone())),
                            ("path", Node::Str(format!("{WORK}/.pipec/art/{n}"))),
                        ])
                    })
                    .collect(),
            ),
        ));
    }
    if !inputs.is_empty() {
        t.push(("inputs".into(), Node::Map(inputs)));
    }
    let mut outputs = Vec::new();
    if !outputs_params.is_empty() {
        outputs.push(("parameters".to_string(), Node::Seq(outputs_params)));
    }
    if !out_artifacts.is_empty() {
        outputs.push(("artifacts".to_string(), Node::Seq(out_artifacts)));
    }
    if !outputs.is_empty() {
        t.push(("outputs".into(), Node::Map(outputs)));
    }
    if cx.ir.pipeline.mode == Mode::Queued {
        t.push((
            "synchronization".into(),
            Node::map([(
                "mutexes",
                Node::Seq(vec![Node::map([(
                    "name",
                    Node::Str(format!(
                        "pipec-{}-{}",
                        dns(&cx.ir.pipeline.name),
                        dns(&stage.name)
                    )),
                )])]),
            )]),
        ));
    }
    if let Some(secs) = stage.timeout_secs {
        // A template's deadline is an int-or-string, which the schema gives as a string.
        t.push(("activeDeadlineSeconds".into(), Node::Str(secs.to_string())));
    }
    if let FailurePolicy::Retry { count, .. } = stage.on_failure {
        t.push((
            "retryStrategy".into(),
            Node::map([("limit", Node::Str(count.to_string()))]),
        ));
    }
    t.push((
        "container".into(),
        Node::map([
            ("image", Node::Str(image)),
            ("workingDir", Node::str(WORK)),
            ("command", Node::strs(["bash", "-c"])),
            ("args", Node::Seq(vec![Node::Str(script)])),
            ("env", Node::Seq(env)),
        ]),
    ));
    Node::Map(t)
}

fn task(stage: &ir::Stage, name: String, depends: &[String], c: &Cond, body: &Body) -> Node {
    let ins = &body.ins;
    let in_artifacts = &body.in_artifacts;
    let mut task: Vec<(String, Node)> = vec![
        ("name".into(), Node::Str(dns(&stage.name))),
        ("template".into(), Node::Str(name)),
    ];
    if !depends.is_empty() {
        task.push(("depends".into(), Node::Str(depends.join(" && "))));
    }
    if let Some(w) = when(c) {
        task.push(("when".into(), w));
    }
    let mut args = Vec::new();
    if !ins.params.is_empty() {
        args.push((
            "parameters".to_string(),
            Node::Seq(
                ins.params
                    .iter()
                    .map(|(n, v)| {
                        Node::map([
                            ("name", Node::str(n.clone())),
                            ("value", Node::Str(v.clone())),
                        ])
                    })
                    .collect(),
            ),
        ));
    }
    if !in_artifacts.is_empty() {
        args.push((
            "artifacts".to_string(),
            Node::Seq(
                in_artifacts
                    .iter()
                    .map(|(n, p)| {
                        Node::map([
                            ("name", Node::str(n.clone())),
                            (
                                "from",
                                Node::Str(format!("{{{{tasks.{p}.outputs.artifacts.{n}}}}}")),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ));
    }
    if !args.is_empty() {
        task.push(("arguments".into(), Node::Map(args)));
    }
    Node::Map(task)
}

/// The task of the stage whose action outputs artifact `name`.
fn producer(cx: &Cx<'_>, name: &str) -> Option<String> {
    cx.ir
        .pipeline
        .stages
        .iter()
        .find(|s| {
            s.actions
                .iter()
                .any(|a| a.outputs.iter().any(|o| o.name == name))
        })
        .map(|s| dns(&s.name))
}

/// One action's bash (`bash -c` of its runner).
#[allow(clippy::match_wildcard_for_single_variants)] // Reason: kinds added later (`aws`) are refused too.
fn action(cx: &mut Cx<'_>, stage: &ir::Stage, a: &ir::Action, ins: &mut Inputs) -> Option<String> {
    let bash = match a.kind {
        Kind::Sh | Kind::Git => {
            let mut words = Words::new(cx, ins, a.span);
            let (script, mut prelude) = if a.kind == Kind::Git {
                let prelude = stages::git_prelude(&mut words, a)?;
                (crate::shell::GIT_CHECKOUT.to_string(), prelude)
            } else {
                stages::script(&mut words, a)?
            };
            for (k, v) in &a.env {
                let w = word(cx, v, ins, a.span)?;
                let _ = writeln!(prelude, "export {k}={w}");
            }
            let plain = |key: &str, default: &str| match a.params.get(key) {
                Some(Expr::Str { value }) => value.clone(),
                _ => default.to_string(),
            };
            runner::runner(&Runner {
                prelude,
                script,
                shell: plain("shell", "bash"),
                workdir: plain("workdir", "."),
                ..Runner::of(Host::Argo, stage, a)
            })
        }
        Kind::Wait => runner::sleep(a)?,
        Kind::Approval => return None,
        Kind::Aws => return stages::refuse_aws(cx, a),
        _ => {
            let kind = stages::kind_name(a.kind);
            let why = if a.kind == Kind::Dir {
                "no repository holds the pipeline on Argo; use a `git` action"
            } else {
                "not expressible on Argo Workflows"
            };
            cx.refuse(
                Code::E0501,
                a.span,
                format!("a `{kind}` action on Argo Workflows (`{}`)", a.name),
                why,
                "run it as an `sh` or `git` action, or in a workflow of its own",
            );
            return None;
        }
    };
    if bash.contains("{{") {
        cx.refuse(
            Code::E0501,
            a.span,
            format!("`{{{{` in the script of `{}` on Argo Workflows", a.name),
            "Argo would substitute it",
            "write it another way (`{\"{\"}`), or read it from a file",
        );
        return None;
    }
    let mut words = Words::new(cx, ins, a.span);
    let item = crate::export::shtest::guarded(&mut words, stage, a, runner::bash_c(&bash))?;
    Some(format!("# {}\n{item}\n", a.name))
}

/// The container's shell reads values as [`word`] does (for [`crate::export::shtest`]).
struct Words<'c, 'a, 'i> {
    cx: &'c mut Cx<'a>,
    ins: &'i mut Inputs,
    at: ir::Span,
}

impl<'c, 'a, 'i> Words<'c, 'a, 'i> {
    fn new(cx: &'c mut Cx<'a>, ins: &'i mut Inputs, at: ir::Span) -> Self {
        Words { cx, ins, at }
    }
}

impl<'a> crate::export::shtest::Words<'a> for Words<'_, 'a, '_> {
    fn word(&mut self, e: &Expr) -> Option<String> {
        word(self.cx, e, self.ins, self.at)
    }

    fn param_type(&self, name: &str) -> Option<Type> {
        self.cx.param_type(name).cloned()
    }

    fn cx(&mut self) -> &mut Cx<'a> {
        self.cx
    }

    fn at(&self) -> ir::Span {
        self.at
    }

    fn shell(&self) -> &'static str {
        "the container's shell"
    }
}
