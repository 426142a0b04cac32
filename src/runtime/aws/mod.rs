//! `aws` actions run on this machine through the real `aws` CLI (docs/aws.md, "Running
//! locally").
//!
//! Input: an `aws` action of the IR with its configuration evaluated (an empty value is
//! "not set"), its workspace with the inputs restored. Output: its exports (the provider's
//! output variables) and, in the workspace, its output artifact. Method: one function per
//! provider (`cfn.rs`, `codebuild.rs`, `deploy.rs`, `invoke.rs`) makes its calls through
//! [`Cli`]: [`cli::Real`] runs `aws` with an argument vector (never a shell string: no value
//! is ever read as code), logs each call and its errors, and honours the user's
//! `AWS_PROFILE`, `AWS_REGION` and `AWS_ENDPOINT_URL` by leaving the environment as it is;
//! [`Dry`] answers every call with `{}` and records it, which is what `--dry-run` prints, so
//! the dry run and the run build their calls with the same code. `CodeBuild` runs its
//! buildspec's phases with bash, as `CodeBuild` does.
//!
//! [`attempt`] runs a job as an action's attempt (its time limit, its stop, its exports
//! written to the outputs file as any action's are).
//!
//! Limits: providers that read from AWS or a Git host (the source providers) or that only
//! exist inside `CodePipeline` are refused before the run starts ([`refusals`]); `CodeDeploy` and
//! Elastic Beanstalk need a bucket for their revision (`PIPEC_AWS_ARTIFACT_BUCKET`), as
//! `CodePipeline` uses its artifact store.
#![allow(clippy::disallowed_methods)] // Reason: the runtime writes the exports file.

pub mod cfn;
pub mod cli;
pub mod codebuild;
pub mod deploy;
pub mod invoke;
pub mod zip;

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::fmt::Write as _;
use std::path::Path;

use crate::ir::aws::{self as catalog, Local};
use crate::ir::{self, Category, Expr, Ir, Kind};
use crate::runtime::attempt::{Exit, Failure, outcome_result};
use crate::runtime::exec::{Attempt, Outcome};

/// The variable that names the bucket `CodeDeploy` and Elastic Beanstalk revisions are
/// uploaded to (`CodePipeline`'s artifact store, locally).
pub const BUCKET_VAR: &str = "PIPEC_AWS_ARTIFACT_BUCKET";

/// What the providers call.
#[allow(async_fn_in_trait)] // Reason: used with generics only, never as `dyn`.
pub trait Cli {
    /// Runs `aws ARGV…` and returns what it printed on stdout.
    async fn aws(&mut self, argv: Vec<String>) -> Result<String, String>;
    /// Runs one buildspec phase's commands with bash in `dir`, with `env` added.
    async fn phase(
        &mut self,
        phase: &str,
        script: String,
        dir: PathBuf,
        env: &[(String, String)],
    ) -> Result<(), String>;
    /// A value to mask in the log from now on (a secret a build reads).
    fn hide(&mut self, secret: &str);
    /// A line for the log (what pipec does besides calls).
    fn note(&mut self, text: &str);
    /// Variables for the calls that follow (the credentials of an assumed role).
    fn set_env(&mut self, vars: Vec<(String, String)>);
    /// Whether calls are only recorded (`--dry-run`): nothing is read or written.
    fn dry(&self) -> bool;
}

/// One `aws` action, ready to run.
#[derive(Clone, Debug)]
pub struct Job {
    /// `stage.action`.
    pub label: String,
    pub run_id: String,
    pub provider: String,
    pub category: Category,
    /// Configuration values that are set (not empty).
    pub config: BTreeMap<String, String>,
    pub region: String,
    pub role: String,
    /// Input artifacts by name, with where each is restored in the workspace.
    pub inputs: Vec<(String, PathBuf)>,
    pub workspace: PathBuf,
    pub has_output: bool,
    pub exports: Vec<String>,
    /// The action's `env`, for a `CodeBuild` build's commands.
    pub env: Vec<(String, String)>,
}

impl Job {
    /// A configuration value, or "" when it is not set.
    pub fn get(&self, key: &str) -> &str {
        self.config.get(key).map_or("", String::as_str)
    }

    /// `--region R` when the action is cross-region.
    fn region_args(&self) -> Vec<String> {
        if self.region.is_empty() {
            Vec::new()
        } else {
            vec!["--region".into(), self.region.clone()]
        }
    }

    /// An `aws` argument vector: the words, then `--region` when set.
    pub fn argv(&self, words: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = words.iter().map(|w| (*w).to_string()).collect();
        v.extend(self.region_args());
        v
    }

    /// The folder an input artifact is restored in; the first input for `""`.
    pub fn input_dir(&self, name: &str) -> Result<PathBuf, String> {
        let found = if name.is_empty() {
            self.inputs.first()
        } else {
            self.inputs.iter().find(|(n, _)| n == name)
        };
        found.map(|(_, p)| p.clone()).ok_or_else(|| {
            if name.is_empty() {
                format!("`{}` has no input artifact", self.label)
            } else {
                format!("`{}` has no input artifact `{name}`", self.label)
            }
        })
    }

    /// `ARTIFACT::PATH` as a file of the workspace.
    pub fn artifact_path(&self, key: &str) -> Result<PathBuf, String> {
        let value = self.get(key);
        let Some((artifact, path)) = value.split_once("::") else {
            return Err(format!("`{key}` is `{value}`, not `ARTIFACT::PATH`"));
        };
        let dir = self.input_dir(artifact)?;
        let file = dir.join(path);
        let inside = crate::paths::normalize(&file)
            .starts_with(&format!("{}/", crate::paths::normalize(&dir)));
        inside
            .then_some(file)
            .ok_or_else(|| format!("`{key}` names `{path}`, outside artifact `{artifact}`"))
    }
}

/// An `aws` action of the IR as a job, with its values evaluated by `text`.
pub fn job(
    a: &ir::Action,
    label: &str,
    run_id: &str,
    workspace: &std::path::Path,
    text: &mut dyn FnMut(&Expr) -> Result<String, String>,
) -> Result<Job, String> {
    let param = |name: &str, text: &mut dyn FnMut(&Expr) -> Result<String, String>| {
        a.params.get(name).map_or(Ok(String::new()), text)
    };
    let mut config = BTreeMap::new();
    if let Some(Expr::Map { entries }) = a.params.get("configuration") {
        for (k, v) in entries {
            let value = text(v)?;
            if !value.is_empty() {
                config.insert(k.clone(), value);
            }
        }
    }
    let mut env = Vec::new();
    for (k, v) in &a.env {
        env.push((k.clone(), text(v)?));
    }
    Ok(Job {
        label: label.to_string(),
        run_id: run_id.to_string(),
        provider: param("provider", text)?,
        category: a.category,
        config,
        region: param("region", text)?,
        role: param("role", text)?,
        inputs: a
            .inputs
            .iter()
            .map(|i| {
                let dir = crate::paths::normalize(&workspace.join(i.restored_at()));
                (i.name.clone(), PathBuf::from(dir))
            })
            .collect(),
        workspace: workspace.to_path_buf(),
        has_output: !a.outputs.is_empty(),
        exports: a.exports.clone(),
        env,
    })
}

/// Runs an `aws` action (`runtime/aws/`) within its time limit; its exports go to the
/// outputs file as any action's do.
pub(in crate::runtime) async fn attempt(
    job: &Job,
    attempt: Attempt,
    outputs: &Path,
    stop: &tokio::sync::watch::Receiver<u8>,
) -> Result<Exit, Failure> {
    let limit = attempt.timeout;
    let mut cli = cli::Real {
        masks: crate::runtime::exec::masks(&attempt.secrets),
        attempt,
        stop: stop.clone(),
        extra: Vec::new(),
    };
    let ran = run(&mut cli, job);
    let result = match limit {
        Some(t) => match tokio::time::timeout(t, ran).await {
            Ok(r) => r,
            Err(_) => return outcome_result(Outcome::TimedOut).map(Exit::quiet),
        },
        None => ran.await,
    };
    let exports = match result {
        Ok(e) => e,
        Err(why) if why == "stopped" => return outcome_result(Outcome::Stopped).map(Exit::quiet),
        Err(why) => return Err(Failure::new(why)),
    };
    let missing: Vec<&str> = job
        .exports
        .iter()
        .filter(|e| !exports.contains_key(*e))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let produced: Vec<String> = exports.keys().map(|k| format!("`{k}`")).collect();
        return Err(Failure::new(format!(
            "provider `{}` did not produce {} (it produced {})",
            job.provider,
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if produced.is_empty() {
                "none".to_string()
            } else {
                produced.join(", ")
            }
        )));
    }
    let mut text = String::new();
    for (k, v) in exports.iter().filter(|(k, _)| job.exports.contains(k)) {
        let mut delim = String::from("PIPEC_AWS_EOF");
        while v.lines().any(|l| l == delim) {
            delim.push('_');
        }
        let _ = writeln!(text, "{k}<<{delim}\n{v}\n{delim}");
    }
    if !text.is_empty() {
        std::fs::write(outputs, text)
            .map_err(|e| Failure::new(format!("cannot write the exports: {e}")))?;
    }
    Ok(Exit {
        code: None,
        logged: true,
    })
}

/// Why each `aws` action of the pipeline cannot run here (empty: all can), asked before
/// the run starts. `bucket`: whether [`BUCKET_VAR`] is set.
pub fn refusals(ir: &Ir, bucket: bool) -> Vec<String> {
    let mut out = Vec::new();
    for s in &ir.pipeline.stages {
        let actions = s
            .actions
            .iter()
            .chain(s.entry.iter().chain(&s.on_success).flat_map(|c| {
                c.rules.iter().filter_map(|r| match r {
                    ir::CondRule::Check { action } => Some(action.as_ref()),
                    _ => None,
                })
            }));
        for a in actions.filter(|a| a.kind == Kind::Aws) {
            if let Some(why) = refusal(a, bucket) {
                out.push(format!("`{}.{}`: {why}", s.name, a.name));
            }
        }
    }
    out
}

fn refusal(a: &ir::Action, bucket: bool) -> Option<String> {
    let literal = |name: &str| match a.params.get(name) {
        Some(Expr::Str { value }) => value.clone(),
        _ => String::new(),
    };
    let (owner, provider) = (literal("owner"), literal("provider"));
    if owner != "AWS" {
        return Some(format!(
            "provider `{provider}` of owner `{owner}` runs only in CodePipeline"
        ));
    }
    let Some(p) = catalog::provider(&provider, Some(a.category)) else {
        return Some(format!(
            "provider `{provider}` is not in the catalog, so pipec cannot run it"
        ));
    };
    if let Local::Refused(why) = p.local {
        return Some(format!("provider `{provider}` does not run locally: {why}"));
    }
    // Output artifacts a local run cannot make as CodePipeline would.
    let outputs = a.outputs.len();
    let no_outputs = match provider.as_str() {
        "Lambda" => Some("a function writes its output artifacts through CodePipeline's job API"),
        "StepFunctions" => Some("CodePipeline writes the execution's output as its artifact"),
        _ => None,
    };
    if let (Some(why), true) = (no_outputs, outputs > 0) {
        return Some(format!(
            "`{provider}` with an output artifact does not run locally: {why}"
        ));
    }
    if provider == "CodeBuild" && outputs > 1 {
        return Some(
            "`CodeBuild` with several output artifacts (`secondary-artifacts`) does not run locally: pipec makes the primary one"
                .into(),
        );
    }
    if matches!(provider.as_str(), "CodeDeploy" | "ElasticBeanstalk") && !bucket {
        return Some(format!(
            "provider `{provider}` deploys a revision from S3: set `{BUCKET_VAR}` to a bucket pipec may upload it to"
        ));
    }
    None
}

/// Runs one job through `cli`; returns its exports (all the provider's output variables:
/// the runtime keeps the declared ones).
pub async fn run<C: Cli>(cli: &mut C, job: &Job) -> Result<BTreeMap<String, String>, String> {
    check(job, cli.dry())?;
    if !job.role.is_empty() {
        assume_role(cli, job).await?;
    }
    match job.provider.as_str() {
        "CloudFormation" => cfn::run(cli, job).await,
        "CodeBuild" => codebuild::run(cli, job).await,
        "S3" => deploy::s3(cli, job).await,
        "ECS" => deploy::ecs(cli, job).await,
        "CodeDeploy" => deploy::codedeploy(cli, job).await,
        "ElasticBeanstalk" => deploy::beanstalk(cli, job).await,
        "Lambda" => invoke::lambda(cli, job).await,
        "StepFunctions" => invoke::stepfunctions(cli, job).await,
        other => Err(format!("provider `{other}` does not run locally")),
    }
}

/// The configuration as the checker checks it (E0413, E0414), now that every value is
/// known: a value that came from `${…}` may be empty (not set) or not accepted. A dry run
/// shows values known only while running as `${…}`: those are not checked.
fn check(job: &Job, dry: bool) -> Result<(), String> {
    let Some(p) = catalog::provider(&job.provider, Some(job.category)) else {
        return Ok(());
    };
    // Also here, for a nested pipeline's actions, which no check before the run has seen.
    if let Local::Refused(why) = p.local {
        return Err(format!("provider `{}` does not run locally: {why}", p.name));
    }
    for (k, v) in &job.config {
        if let Some(key) = p.key(k) {
            let unknown = dry && v.contains("${");
            if !unknown && !catalog::accepts(key.value, v) {
                return Err(format!(
                    "`{k}` of provider `{}` is `{v}`; it takes {}",
                    p.name,
                    catalog::describe(key.value)
                ));
            }
        }
    }
    for key in p.keys {
        let needed = key.required
            || key
                .required_when
                .is_some_and(|(other, values)| values.contains(&job.get(other)));
        if needed && job.get(key.name).is_empty() {
            return Err(format!(
                "the configuration of provider `{}` has no `{}` (an empty value is not set)",
                p.name, key.name
            ));
        }
    }
    Ok(())
}

/// The action's `role`, assumed with the user's credentials (as `CodePipeline` assumes it):
/// the calls that follow use its temporary credentials.
async fn assume_role<C: Cli>(cli: &mut C, job: &Job) -> Result<(), String> {
    let session = format!("pipec-{}", job.run_id);
    let session: String = session
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let out = json(
        &cli.aws(job.argv(&[
            "sts",
            "assume-role",
            "--role-arn",
            &job.role,
            "--role-session-name",
            &session,
            "--output",
            "json",
        ]))
        .await?,
    )?;
    let creds = |k: &str| text_at(&out, &format!("/Credentials/{k}"));
    if creds("AccessKeyId").is_empty() {
        return if cli.dry() {
            Ok(())
        } else {
            Err(format!(
                "`sts assume-role` of `{}` gave no credentials",
                job.role
            ))
        };
    }
    cli.set_env(vec![
        ("AWS_ACCESS_KEY_ID".into(), creds("AccessKeyId")),
        ("AWS_SECRET_ACCESS_KEY".into(), creds("SecretAccessKey")),
        ("AWS_SESSION_TOKEN".into(), creds("SessionToken")),
    ]);
    Ok(())
}

/// `--dry-run`: the calls a job would make, each as a shell-quoted line. Calls after the
/// first answer pipec cannot know are left out (a line says so).
pub fn dry_calls(job: &Job) -> Vec<String> {
    use futures_util::FutureExt as _;
    let mut dry = Dry::default();
    match run(&mut dry, job).now_or_never() {
        Some(Ok(_)) => {}
        // Refused before its first call: say why.
        Some(Err(e)) if dry.lines.is_empty() => dry.lines.push(format!("fails: {e}")),
        _ => dry
            .lines
            .push("… then what AWS answers decides the next calls".into()),
    }
    dry.lines
}

/// The recording [`Cli`] of `--dry-run`.
#[derive(Default)]
pub struct Dry {
    pub lines: Vec<String>,
}

impl Cli for Dry {
    async fn aws(&mut self, argv: Vec<String>) -> Result<String, String> {
        self.lines.push(cli::shown(&argv));
        Ok("{}".into())
    }
    async fn phase(
        &mut self,
        phase: &str,
        _: String,
        _: PathBuf,
        _: &[(String, String)],
    ) -> Result<(), String> {
        self.lines
            .push(format!("bash: the buildspec's `{phase}` commands"));
        Ok(())
    }
    fn note(&mut self, _: &str) {}
    fn hide(&mut self, _: &str) {}
    fn set_env(&mut self, _: Vec<(String, String)>) {}
    fn dry(&self) -> bool {
        true
    }
}

/// A JSON answer of the CLI (`{}` for an empty one).
pub fn json(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text).map_err(|e| format!("the aws CLI printed what is not JSON: {e}"))
}

/// The text at a JSON pointer (`""` when absent or not text).
pub fn text_at(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(provider: &str, category: Category, config: &[(&str, &str)]) -> Job {
        Job {
            label: "deploy.stack".into(),
            run_id: "r1".into(),
            provider: provider.into(),
            category,
            config: config
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            region: String::new(),
            role: String::new(),
            inputs: vec![("src".into(), PathBuf::from("/w"))],
            workspace: PathBuf::from("/w"),
            has_output: false,
            exports: Vec::new(),
            env: Vec::new(),
        }
    }

    #[test]
    fn a_value_known_only_at_run_time_is_checked_before_any_call() {
        let bad = job(
            "S3",
            Category::Deploy,
            &[("BucketName", "site"), ("Extract", "maybe")],
        );
        assert_eq!(
            dry_calls(&bad),
            ["fails: `Extract` of provider `S3` is `maybe`; it takes `true` or `false`"]
        );
        let err = futures_util::FutureExt::now_or_never(run(&mut Dry::default(), &bad));
        assert_eq!(
            err,
            Some(Err(
                "`Extract` of provider `S3` is `maybe`; it takes `true` or `false`".into()
            ))
        );
        let unset = job(
            "CloudFormation",
            Category::Deploy,
            &[("ActionMode", "CHANGE_SET_EXECUTE"), ("StackName", "app")],
        );
        let err = futures_util::FutureExt::now_or_never(run(&mut Dry::default(), &unset));
        assert_eq!(
            err,
            Some(Err("the configuration of provider `CloudFormation` has no `ChangeSetName` (an empty value is not set)".into()))
        );
    }

    #[test]
    fn a_provider_that_cannot_run_here_fails_before_any_call() {
        let source = job(
            "CodeCommit",
            Category::Source,
            &[("RepositoryName", "app"), ("BranchName", "main")],
        );
        assert_eq!(
            dry_calls(&source),
            [
                "fails: provider `CodeCommit` does not run locally: a source provider reads from AWS or a Git host; locally use a `git` or `dir` action"
            ]
        );
    }

    #[test]
    fn a_role_is_assumed_before_the_provider_calls() {
        let mut j = job("Lambda", Category::Invoke, &[("FunctionName", "f")]);
        j.role = "arn:aws:iam::1:role/r".into();
        j.region = "eu-west-1".into();
        let calls = dry_calls(&j);
        assert_eq!(
            calls[0],
            "aws sts assume-role --role-arn arn:aws:iam::1:role/r --role-session-name pipec-r1 --output json --region eu-west-1"
        );
        assert!(calls[1].starts_with("aws lambda invoke --function-name f --payload fileb:///w.event.json /w.lambda.json --output json --region eu-west-1"), "{calls:?}");
    }
}
