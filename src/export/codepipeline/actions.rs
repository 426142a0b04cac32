//! The actions of a stage: `sh` and `wait` as CodeBuild actions of generated projects,
//! `approval` as a Manual approval, a `check sh` rule as a `Commands` rule (`aws` actions:
//! `aws.rs`).
//!
//! Why CodeBuild projects rather than the `Commands` action: an `sh` action needs secrets
//! from Secrets Manager (a project's environment takes them), several output artifacts
//! (`secondary-artifacts`), exports as output variables (`exported-variables`), per-attempt
//! timeouts under five minutes and retries with backoff (a runner around the script), none
//! of which the `Commands` action has; and a project's buildspec carries the script verbatim,
//! where the `Commands` action takes at most 50 lines of 1,000 characters.

use super::buildspec::{self, Extra, Restore, Runner};
use super::values;
use super::{Cx, camel, namespace};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::{Node, json_string};
use crate::ir::{self, Expr, Kind, Part, Ref, Type};

/// The longest time a CodeBuild build may run, in seconds (8 hours: the maximum of `TimeoutInMinutes`).
const BUILD_MAX: u64 = 8 * 3600;

/// One CodePipeline action of a pipec action (`None` after reporting why there is none).
pub(super) fn action(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    run_order: u32,
) -> Option<Node> {
    if a.when.is_some() {
        let at = cx.head(a.span);
        cx.refuse(
            Code::E0501,
            at,
            format!("`{}` has a `when` condition", a.name),
            "CodePipeline has no condition on one action",
            "put the action in a stage of its own with `entry { require … else skip }`",
        );
        return None;
    }
    match a.kind {
        Kind::Sh => {
            let script = match a.params.get("run") {
                Some(e) => e.clone(),
                None => Expr::Str {
                    value: String::new(),
                },
            };
            build(cx, stage, a, &script, run_order)
        }
        Kind::Wait => {
            let secs = match a.params.get("duration") {
                Some(Expr::Duration { secs }) => *secs,
                _ => 0,
            };
            let script = Expr::Str {
                value: format!("sleep {secs}\n"),
            };
            build(cx, stage, a, &script, run_order)
        }
        Kind::Approval => super::gates::approval(cx, stage, a, run_order),
        Kind::Pipeline => {
            let at = cx.head(a.span);
            cx.refuse(
                Code::E0501,
                at,
                format!("`{}` runs a nested pipeline", a.name),
                "CodePipeline cannot run a pipeline as one action and wait for it",
                "deploy the nested pipeline on its own and start it from a `sh` action (`aws codepipeline start-pipeline-execution`), or inline its stages",
            );
            None
        }
        Kind::Dir | Kind::Git => None, // the entry stage's (E0406 elsewhere)
        // A source action is the first stage's (`sources.rs`).
        Kind::Aws if a.category == ir::Category::Source => None,
        Kind::Aws => {
            let mut names: Vec<String> = Vec::new();
            for r in restores(cx, a)? {
                if r.folder.is_some() || !r.exclude.is_empty() {
                    let at = cx.head(a.span);
                    let what = r.folder.map_or_else(
                        || "with `exclude` patterns".to_string(),
                        |f| format!("of folder `{f}`"),
                    );
                    cx.refuse(
                        Code::E0501,
                        at,
                        format!("`{}` takes `{}`, a `dir` snapshot {what}", a.name, r.name),
                        "a provider action gets the whole repository artifact",
                        "give the provider a `dir { path = \".\" }` snapshot, or an artifact a build made",
                    );
                    return None;
                }
                let name = if r.from.is_empty() { r.name } else { r.from };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            super::aws::action(cx, stage, a, run_order, names)
        }
    }
}

/// A generated CodeBuild project and the action that runs it.
fn build(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    script: &Expr,
    run_order: u32,
) -> Option<Node> {
    let mut env: Vec<(String, String)> = vec![(
        "PIPEC_RUN_ID".into(),
        "#{codepipeline.PipelineExecutionId}".into(),
    )];
    let mut secrets = Vec::new();
    for (k, v) in &a.env {
        if let Expr::Ref(Ref::Secret { name }) = v {
            secrets.push((k.clone(), name.clone()));
        } else {
            let at = cx.head(a.span);
            if let Some(t) = values::text(cx, v, at) {
                env.push((k.clone(), t));
            }
        }
    }
    let shell = param_text(a, "shell", "bash");
    let (text, extras) = render(cx, a, script, &mut env, shell == "bash")?;
    let mut inputs = restores(cx, a)?;
    let (primary, artifacts) = input_artifacts(cx, a, &inputs);
    // Where each input is read from depends on the primary source.
    for i in &mut inputs {
        let artifact = if i.from.is_empty() {
            i.name.clone()
        } else {
            i.from.clone()
        };
        i.from = source_dir(&primary, &artifact);
    }
    let retries = a.retry.count;
    let runner = Runner {
        stage: stage.name.clone(),
        action: a.name.clone(),
        script: text,
        shell,
        workdir: param_text(a, "workdir", "."),
        extras,
        inputs,
        outputs: crate::export::runner::outputs(a),
        exports: a.exports.clone(),
        retries,
        backoff_secs: a.retry.backoff_secs,
        timeout_secs: a.timeout_secs,
    };
    let minutes = build_minutes(cx, a)?;
    limits_of_build(cx, a, artifacts.len());
    let project = project(cx, stage, a, &runner, &secrets, minutes);
    let env_json = env_json(cx, a, &env);
    Some(action_node(
        stage, a, run_order, project, primary, &artifacts, env_json,
    ))
}

/// The action's environment variables as the JSON its configuration takes.
fn env_json(cx: &mut Cx<'_>, a: &ir::Action, env: &[(String, String)]) -> String {
    let env_json = format!(
        "[{}]",
        env.iter()
            .map(|(k, v)| format!(
                "{{\"name\":{},\"value\":{},\"type\":\"PLAINTEXT\"}}",
                json_string(k),
                json_string(v)
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    if env_json.len() > 1000 {
        let at = cx.head(a.span);
        cx.refuse(
            Code::E0505,
            at,
            format!("the values `{}` passes to its build take {} characters", a.name, env_json.len()),
            "CodePipeline allows 1,000 characters in one configuration value",
            "pass fewer values through `env` and `${…}`, or shorter ones (read files from an artifact instead)",
        );
    }
    env_json
}

fn action_node(
    stage: &ir::Stage,
    a: &ir::Action,
    run_order: u32,
    project: String,
    primary: String,
    artifacts: &[String],
    env_json: String,
) -> Node {
    let mut config = vec![("ProjectName".to_string(), Node::Ref(project))];
    if artifacts.len() > 1 {
        config.push(("PrimarySource".to_string(), Node::Str(primary)));
    }
    config.push(("EnvironmentVariables".to_string(), Node::Str(env_json)));
    let mut node = vec![
        ("Name".to_string(), Node::str(&a.name)),
        ("ActionTypeId".to_string(), type_id("Build", "CodeBuild")),
        ("RunOrder".to_string(), Node::Int(i64::from(run_order))),
        ("Configuration".to_string(), Node::Map(config)),
        (
            "InputArtifacts".to_string(),
            Node::Seq(
                artifacts
                    .iter()
                    .map(|n| Node::map([("Name", Node::str(n))]))
                    .collect(),
            ),
        ),
    ];
    if !a.outputs.is_empty() {
        node.push((
            "OutputArtifacts".to_string(),
            Node::Seq(
                a.outputs
                    .iter()
                    .map(|o| Node::map([("Name", Node::str(&o.name))]))
                    .collect(),
            ),
        ));
    }
    if let Some(ns) = super::aws::namespace_of(a) {
        node.push(("Namespace".to_string(), Node::str(ns)));
    } else if !a.exports.is_empty() {
        node.push((
            "Namespace".to_string(),
            Node::Str(namespace(&stage.name, &a.name)),
        ));
    }
    Node::Map(node)
}

fn param_text(a: &ir::Action, key: &str, default: &str) -> String {
    match a.params.get(key) {
        Some(Expr::Str { value }) => value.clone(),
        _ => default.to_string(),
    }
}

/// The script with each interpolation as a quoted reference to a variable, as the runtime
/// renders it; the variables CodePipeline fills go to `env`.
fn render(
    cx: &mut Cx<'_>,
    a: &ir::Action,
    script: &Expr,
    env: &mut Vec<(String, String)>,
    bash: bool,
) -> Option<(String, Vec<Extra>)> {
    let parts: Vec<Part> = match script {
        Expr::Interp { parts, .. } => parts.clone(),
        Expr::Str { value } => vec![Part::Text(value.clone())],
        _ => return None,
    };
    let mut text = String::new();
    let mut extras = Vec::new();
    let mut quotes = crate::shell::QuoteTracker::new();
    let mut ok = true;
    let mut n = 0;
    for p in &parts {
        match p {
            Part::Text(t) => {
                quotes.feed(t);
                text.push_str(t);
            }
            Part::Expr(e) => {
                n += 1;
                let var = format!("PIPEC_ARG_{n}");
                let list = matches!(e, Expr::Ref(Ref::Param { name }) if cx.param_decl(name).is_some_and(|p| matches!(p.ty, Type::List(_))));
                if list {
                    if !bash {
                        let at = cx.head(a.span);
                        cx.refuse(
                            Code::E0501,
                            at,
                            format!(
                                "a list interpolated into a `{}` script that is not run by bash",
                                a.name
                            ),
                            "pipec passes a list to the build as a bash array",
                            "use the default `shell = \"bash\"`",
                        );
                        ok = false;
                        continue;
                    }
                    let Expr::Ref(Ref::Param { name }) = e else {
                        continue;
                    };
                    let json = format!("PIPEC_LIST_{n}");
                    env.push((json.clone(), format!("#{{variables.{name}}}")));
                    extras.push(Extra::List {
                        var: var.clone(),
                        json,
                    });
                    let words = format!("\"${{{var}[@]}}\"");
                    let bare = format!("${{{var}[*]}}");
                    ok &= write_words(cx, a, &mut text, &quotes, (&words, &bare), true);
                } else {
                    match e {
                        Expr::Ref(Ref::StageStatus { stage }) => {
                            extras.push(Extra::Status {
                                var: var.clone(),
                                stage: stage.clone(),
                            });
                        }
                        _ => match values::text(cx, e, cx.head(a.span)) {
                            Some(t) => env.push((var.clone(), t)),
                            None => ok = false,
                        },
                    }
                    let words = format!("\"${{{var}}}\"");
                    let bare = format!("${{{var}}}");
                    ok &= write_words(cx, a, &mut text, &quotes, (&words, &bare), false);
                }
                quotes.value();
            }
        }
    }
    ok.then_some((text, extras))
}

/// Writes a reference where the script's quotes stand (the runtime's rules:
/// [`crate::shell::reference`]); where nothing would expand it, refuses the action as the
/// runtime refuses to run it.
fn write_words(
    cx: &mut Cx<'_>,
    a: &ir::Action,
    text: &mut String,
    quotes: &crate::shell::QuoteTracker,
    (words, bare): (&str, &str),
    many: bool,
) -> bool {
    if let Some(reference) = crate::shell::reference(quotes.quote(), words, bare, many) {
        text.push_str(&reference);
        return true;
    }
    let at = cx.head(a.span);
    cx.refuse(
        Code::E0501,
        at,
        format!(
            "`${{…}}` in `{}` stands in a here-document with a quoted delimiter (`<<'EOF'`), where nothing expands",
            a.name
        ),
        "`pipec run` refuses to run this script",
        "quote the delimiter's word no more (`<<EOF`) or pass the value in `env`",
    );
    false
}

/// How each input is restored in the workspace.
fn restores(cx: &mut Cx<'_>, a: &ir::Action) -> Option<Vec<Restore>> {
    let mut out = Vec::new();
    for i in &a.inputs {
        let Some(loc) = cx.artifacts.get(&i.name).cloned() else {
            // Produced by a build: its artifact has its own name.
            out.push(Restore {
                name: i.name.clone(),
                from: String::new(),
                folder: None,
                into: i.folder.clone(),
                exclude: Vec::new(),
                restored_at: i.restored_at(),
            });
            continue;
        };
        if let Some(bad) = loc
            .exclude
            .iter()
            .find(|g| !crate::export::runner::safe_glob(g))
        {
            let at = cx.head(a.span);
            cx.refuse(
                Code::E0501,
                at,
                format!("the `exclude` pattern `{bad}` of artifact `{}`", i.name),
                "pipec removes excluded files with bash globs, which this pattern would not be",
                "use letters, digits and `._/-` with `*`, `**`, `?`, `[…]` and `{a,b}`",
            );
            return None;
        }
        out.push(Restore {
            name: i.name.clone(),
            from: loc.artifact,
            folder: loc.folder,
            into: i.folder.clone(),
            exclude: loc.exclude,
            restored_at: i.restored_at(),
        });
    }
    Some(out)
}

/// The CodePipeline input artifacts (each once) and the primary source; fills in where
/// each restore reads from. An action with no input gets the first source's artifact.
fn input_artifacts(cx: &Cx<'_>, _a: &ir::Action, inputs: &[Restore]) -> (String, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    for i in inputs {
        let name = if i.from.is_empty() {
            i.name.clone()
        } else {
            i.from.clone()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        names.push(
            cx.dummy
                .clone()
                .unwrap_or_else(|| super::sources::SOURCE_STAGE.to_string()),
        );
    }
    (names[0].clone(), names)
}

/// The source folder variable of an input artifact in the build.
fn source_dir(primary: &str, artifact: &str) -> String {
    if primary == artifact {
        "CODEBUILD_SRC_DIR".to_string()
    } else {
        format!("CODEBUILD_SRC_DIR_{artifact}")
    }
}

/// The project's timeout: every attempt and backoff, within CodeBuild's 5 minutes to 8
/// hours (E0505 beyond).
fn build_minutes(cx: &mut Cx<'_>, a: &ir::Action) -> Option<u64> {
    let attempts = u64::from(a.retry.count) + 1;
    let per = a
        .timeout_secs
        .or(cx.ir.pipeline.timeout_secs)
        .unwrap_or(BUILD_MAX);
    let total = per.saturating_mul(attempts) + a.retry.backoff_secs * u64::from(a.retry.count);
    if a.timeout_secs.is_some() && total > BUILD_MAX {
        let at = cx.head(a.span);
        cx.refuse(
            Code::E0505,
            at,
            format!(
                "`{}` may run for {} in all its attempts",
                a.name,
                crate::duration::format(total)
            ),
            "a CodeBuild build runs at most 8 hours",
            "lower its `timeout` or its `retry` count",
        );
        return None;
    }
    Some(total.min(BUILD_MAX).div_ceil(60).max(5))
}

fn limits_of_build(cx: &mut Cx<'_>, a: &ir::Action, inputs: usize) {
    for (n, what) in [(inputs, "input"), (a.outputs.len(), "output")] {
        if n > 5 {
            let at = cx.head(a.span);
            cx.refuse(
                Code::E0505,
                at,
                format!("`{}` has {n} {what} artifacts", a.name),
                "a CodeBuild action takes at most 5 input and 5 output artifacts",
                "combine artifacts (a folder holds many files), or split the action",
            );
        }
    }
}

/// The `AWS::CodeBuild::Project` resource; returns its logical id.
fn project(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    runner: &Runner,
    secrets: &[(String, String)],
    minutes: u64,
) -> String {
    let spec = buildspec::buildspec(runner);
    // The action's own image (from a registry CodeBuild can pull; the runner needs bash),
    // else the template's.
    let image = match &a.image {
        Some(name) => Node::str(name),
        None => cx.param(
            "BuildImage",
            "The CodeBuild image of the generated projects (bash, coreutils, python3, the AWS CLI)"
                .into(),
            Some("aws/codebuild/standard:7.0"),
        ),
    };
    let role = super::template::build_role(cx);
    let pipeline_name = Node::Ref("PipelineName".into());
    let mut env_vars = vec![Node::map([
        ("Name", Node::str("PIPEC_PIPELINE")),
        ("Type", Node::str("PLAINTEXT")),
        ("Value", pipeline_name),
    ])];
    for (k, secret) in secrets {
        let param = secret_param(cx, secret);
        env_vars.push(Node::map([
            ("Name", Node::str(k)),
            ("Type", Node::str("SECRETS_MANAGER")),
            ("Value", param),
        ]));
    }
    let id = cx.id(&format!("Project{}{}", camel(&stage.name), camel(&a.name)));
    let place = cx.place(a.span);
    let props = Node::map([
        (
            "Name",
            Node::Sub(format!("${{PipelineName}}-{}-{}", stage.name, a.name)),
        ),
        (
            "Description",
            Node::Str(format!("pipec: `{}.{}` ({place})", stage.name, a.name)),
        ),
        ("ServiceRole", role),
        (
            "Source",
            Node::map([
                ("Type", Node::str("CODEPIPELINE")),
                ("BuildSpec", Node::Str(spec)),
            ]),
        ),
        (
            "Artifacts",
            Node::map([("Type", Node::str("CODEPIPELINE"))]),
        ),
        (
            "Environment",
            Node::map([
                ("Type", Node::str("LINUX_CONTAINER")),
                ("ComputeType", Node::str("BUILD_GENERAL1_SMALL")),
                ("Image", image),
                ("EnvironmentVariables", Node::Seq(env_vars)),
            ]),
        ),
        (
            "TimeoutInMinutes",
            Node::Int(i64::try_from(minutes).unwrap_or(2160)),
        ),
    ]);
    cx.resources.push((
        id.clone(),
        Node::map([
            ("Type", Node::str("AWS::CodeBuild::Project")),
            ("Properties", props),
        ])
        .commented(format!("{place}: action `{}.{}`", stage.name, a.name)),
    ));
    id
}

/// The template parameter naming the Secrets Manager secret of `secrets.NAME`.
pub(super) fn secret_param(cx: &mut Cx<'_>, name: &str) -> Node {
    let source = cx
        .ir
        .pipeline
        .secrets
        .iter()
        .find(|s| s.name == name)
        .map(|s| match &s.source {
            ir::SecretSource::Env { var } => format!("env(\"{var}\")"),
            ir::SecretSource::File { path } => format!("file(\"{path}\")"),
        })
        .unwrap_or_default();
    cx.param(
        &format!("Secret{}", camel(name)),
        format!("The ARN or name of the Secrets Manager secret for `secrets.{name}` (pipec reads it from {source})"),
        None,
    )
}

pub(super) fn type_id(category: &str, provider: &str) -> Node {
    Node::map([
        ("Category", Node::str(category)),
        ("Owner", Node::str("AWS")),
        ("Provider", Node::str(provider)),
        ("Version", Node::str("1")),
    ])
}

/// The first action of a stage whose entry waits for a window (`else wait`): a build that
/// polls the clock until the window opens, at most the stage's timeout.
pub(super) fn window_wait(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    w: &super::conditions::Wait,
) -> Option<Node> {
    let test = super::cron::bash_test(&w.sets, w.tz.as_deref());
    let script = format!(
        "{test}until pipec_window; do\n  echo \"pipec: waiting for the window of stage {} to open\"\n  sleep 30\ndone\n",
        crate::shell::quote_word(&stage.name)
    );
    let waiter = ir::Action {
        name: "pipec_window".into(),
        span: w.span,
        kind: Kind::Sh,
        template: None,
        category: ir::Category::Invoke,
        params: std::collections::BTreeMap::new(),
        after: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        exports: Vec::new(),
        env: std::collections::BTreeMap::new(),
        timeout_secs: Some(w.timeout_secs),
        retry: ir::Retry {
            count: 0,
            backoff_secs: 0,
        },
        when: None,
        image: None,
    };
    if stage.actions.iter().any(|a| a.name == waiter.name) {
        let at = cx.head(stage.span);
        cx.refuse(
            Code::E0506,
            at,
            format!("stage `{}` has an action named `pipec_window`", stage.name),
            "pipec generates an action of this name for `else wait`",
            "rename the action",
        );
        return None;
    }
    let place = cx.place(w.span);
    build(cx, stage, &waiter, &Expr::Str { value: script }, 1)
        .map(|n| n.commented(format!("{place}: generated: `entry {{ window … else wait }}` waits here, at most the stage's timeout")))
}
