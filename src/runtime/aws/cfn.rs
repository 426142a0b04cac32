//! CloudFormation: each `ActionMode` as CodePipeline performs it, through the CLI.
//!
//! `CREATE_UPDATE`: `create-stack` when the stack does not exist, else `update-stack` ("no
//! updates" is success), then the matching `wait`. `REPLACE_ON_FAILURE`: the same, after
//! deleting a stack in a failed state. `DELETE_ONLY`: `delete-stack` and wait, when it exists.
//! `CHANGE_SET_REPLACE`: the old change set deleted, `create-change-set` (type `CREATE` for a
//! new stack) and wait. `CHANGE_SET_EXECUTE`: `execute-change-set` and wait. The stack's
//! outputs are the exports (and the `OutputFileName` file of the output artifact).
//! Parameters: `TemplateConfiguration`'s, then `ParameterOverrides` over them.
#![allow(clippy::disallowed_methods)] // Reason: the runtime reads the template configuration and writes the output file.

use std::collections::BTreeMap;

use super::{Cli, Job, json, text_at};

/// Stack states from which CodePipeline's `REPLACE_ON_FAILURE` deletes the stack first.
const FAILED: &[&str] = &[
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
];

pub async fn run<C: Cli>(cli: &mut C, job: &Job) -> Result<BTreeMap<String, String>, String> {
    let stack = job.get("StackName").to_string();
    let status = status(cli, job, &stack).await?;
    match job.get("ActionMode") {
        "DELETE_ONLY" => {
            if status.is_some() {
                delete(cli, job, &stack).await?;
            } else {
                cli.note(&format!(
                    "stack `{stack}` does not exist: nothing to delete"
                ));
            }
            return Ok(BTreeMap::new());
        }
        "CHANGE_SET_REPLACE" => {
            change_set(cli, job, &stack, status.as_deref()).await?;
            return Ok(BTreeMap::new());
        }
        "CHANGE_SET_EXECUTE" => {
            let name = job.get("ChangeSetName");
            cli.aws(job.argv(&[
                "cloudformation",
                "execute-change-set",
                "--stack-name",
                &stack,
                "--change-set-name",
                name,
            ]))
            .await?;
            let event = if status.as_deref() == Some("REVIEW_IN_PROGRESS") {
                "stack-create-complete"
            } else {
                "stack-update-complete"
            };
            wait(cli, job, event, &stack).await?;
        }
        "REPLACE_ON_FAILURE" if status.as_deref().is_some_and(|s| FAILED.contains(&s)) => {
            delete(cli, job, &stack).await?;
            deploy(cli, job, &stack, false).await?;
        }
        "CREATE_UPDATE" | "REPLACE_ON_FAILURE" => {
            let exists = status.is_some() && status.as_deref() != Some("REVIEW_IN_PROGRESS");
            deploy(cli, job, &stack, exists).await?;
        }
        other => {
            return Err(format!(
                "`ActionMode` `{other}` is not a CloudFormation mode"
            ));
        }
    }
    outputs(cli, job, &stack).await
}

/// The stack's status, `None` when it does not exist.
async fn status<C: Cli>(cli: &mut C, job: &Job, stack: &str) -> Result<Option<String>, String> {
    let argv = job.argv(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack,
        "--output",
        "json",
    ]);
    match cli.aws(argv).await {
        Ok(out) => {
            let s = text_at(&json(&out)?, "/Stacks/0/StackStatus");
            Ok((!s.is_empty()).then_some(s))
        }
        Err(e) if e.contains("does not exist") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn wait<C: Cli>(cli: &mut C, job: &Job, event: &str, stack: &str) -> Result<(), String> {
    cli.aws(job.argv(&["cloudformation", "wait", event, "--stack-name", stack]))
        .await
        .map(|_| ())
        .map_err(|e| format!("stack `{stack}` did not reach `{event}`: {e}"))
}

async fn delete<C: Cli>(cli: &mut C, job: &Job, stack: &str) -> Result<(), String> {
    let mut argv = job.argv(&["cloudformation", "delete-stack", "--stack-name", stack]);
    push_role(job, &mut argv);
    cli.aws(argv).await?;
    wait(cli, job, "stack-delete-complete", stack).await
}

/// `--role-arn` when `RoleArn` is set.
fn push_role(job: &Job, argv: &mut Vec<String>) {
    if !job.get("RoleArn").is_empty() {
        argv.extend(["--role-arn".into(), job.get("RoleArn").to_string()]);
    }
}

/// The template, parameters, capabilities, role and tags of a create, update or change set.
fn template_args<C: Cli>(cli: &C, job: &Job) -> Result<Vec<String>, String> {
    let template = job.artifact_path("TemplatePath")?;
    let mut args = vec![
        "--template-body".to_string(),
        format!("file://{}", template.display()),
    ];
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    if !job.get("TemplateConfiguration").is_empty() && !cli.dry() {
        let file = job.artifact_path("TemplateConfiguration")?;
        let text = std::fs::read_to_string(&file).map_err(|e| {
            format!(
                "cannot read `TemplateConfiguration` `{}`: {e}",
                file.display()
            )
        })?;
        let conf = json(&text)?;
        params.extend(strings(&conf, "/Parameters"));
        tags.extend(strings(&conf, "/Tags"));
    }
    if !job.get("ParameterOverrides").is_empty() {
        let overrides = json(job.get("ParameterOverrides"))
            .map_err(|e| format!("`ParameterOverrides`: {e}"))?;
        for (k, v) in overrides.as_object().into_iter().flatten() {
            params.insert(k.clone(), override_value(cli, job, k, v)?);
        }
    }
    if !params.is_empty() {
        let list: Vec<serde_json::Value> = params
            .iter()
            .map(|(k, v)| serde_json::json!({ "ParameterKey": k, "ParameterValue": v }))
            .collect();
        args.extend([
            "--parameters".into(),
            serde_json::Value::Array(list).to_string(),
        ]);
    }
    if !tags.is_empty() {
        let list: Vec<serde_json::Value> = tags
            .iter()
            .map(|(k, v)| serde_json::json!({ "Key": k, "Value": v }))
            .collect();
        args.extend(["--tags".into(), serde_json::Value::Array(list).to_string()]);
    }
    let caps: Vec<&str> = job
        .get("Capabilities")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if !caps.is_empty() {
        args.push("--capabilities".into());
        args.extend(caps.iter().map(|c| (*c).to_string()));
    }
    push_role(job, &mut args);
    Ok(args)
}

/// A `ParameterOverrides` value: text, or CodePipeline's `Fn::GetParam` (a key of a JSON
/// file of an input artifact), read here; `Fn::GetArtifactAtt` names where CodePipeline
/// stores an artifact, which a local run has no such place for.
fn override_value<C: Cli>(
    cli: &C,
    job: &Job,
    key: &str,
    v: &serde_json::Value,
) -> Result<String, String> {
    let get = v.get("Fn::GetParam").and_then(serde_json::Value::as_array);
    if let Some([artifact, file, name]) = get.map(Vec::as_slice) {
        let (artifact, file, name) = (
            artifact.as_str().unwrap_or_default(),
            file.as_str().unwrap_or_default(),
            name.as_str().unwrap_or_default(),
        );
        if cli.dry() {
            return Ok(format!("<{name} of {artifact}::{file}>"));
        }
        let path = job.input_dir(artifact)?.join(file);
        let text = crate::runtime::bounded::read_text(&path, 1 << 20).map_err(|e| {
            format!("`{key}`: `Fn::GetParam` cannot read `{artifact}::{file}`: {e}")
        })?;
        let found = json(&text)?;
        return match found.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(other) => Ok(other.to_string()),
            None => Err(format!("`{key}`: `{artifact}::{file}` has no `{name}`")),
        };
    }
    if v.get("Fn::GetArtifactAtt").is_some() {
        return Err(format!(
            "`{key}`: `Fn::GetArtifactAtt` names where CodePipeline stores an artifact; a local run has no artifact store"
        ));
    }
    Ok(match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A JSON object's values as text (numbers and booleans as written).
fn strings(v: &serde_json::Value, pointer: &str) -> BTreeMap<String, String> {
    let Some(serde_json::Value::Object(m)) = v.pointer(pointer) else {
        return BTreeMap::new();
    };
    m.iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

async fn deploy<C: Cli>(cli: &mut C, job: &Job, stack: &str, exists: bool) -> Result<(), String> {
    let verb = if exists {
        "update-stack"
    } else {
        "create-stack"
    };
    let mut argv = job.argv(&["cloudformation", verb, "--stack-name", stack]);
    argv.extend(template_args(cli, job)?);
    match cli.aws(argv).await {
        Ok(_) => {}
        Err(e) if exists && e.contains("No updates are to be performed") => {
            cli.note(&format!("stack `{stack}` is up to date"));
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let event = if exists {
        "stack-update-complete"
    } else {
        "stack-create-complete"
    };
    wait(cli, job, event, stack).await
}

async fn change_set<C: Cli>(
    cli: &mut C,
    job: &Job,
    stack: &str,
    status: Option<&str>,
) -> Result<(), String> {
    let name = job.get("ChangeSetName");
    let new = status.is_none() || status == Some("REVIEW_IN_PROGRESS");
    if !new {
        // CodePipeline replaces a change set of the same name.
        let argv = job.argv(&[
            "cloudformation",
            "delete-change-set",
            "--stack-name",
            stack,
            "--change-set-name",
            name,
        ]);
        if let Err(e) = cli.aws(argv).await {
            if !e.contains("does not exist") {
                return Err(e);
            }
        }
    }
    let kind = if new { "CREATE" } else { "UPDATE" };
    let mut argv = job.argv(&[
        "cloudformation",
        "create-change-set",
        "--stack-name",
        stack,
        "--change-set-name",
        name,
        "--change-set-type",
        kind,
    ]);
    argv.extend(template_args(cli, job)?);
    cli.aws(argv).await?;
    cli.aws(job.argv(&[
        "cloudformation",
        "wait",
        "change-set-create-complete",
        "--stack-name",
        stack,
        "--change-set-name",
        name,
    ]))
    .await
    .map(|_| ())
}

/// The stack's outputs as exports; also written to `OutputFileName` in the output artifact.
async fn outputs<C: Cli>(
    cli: &mut C,
    job: &Job,
    stack: &str,
) -> Result<BTreeMap<String, String>, String> {
    let out = cli
        .aws(job.argv(&[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            stack,
            "--output",
            "json",
        ]))
        .await?;
    let v = json(&out)?;
    let mut exports = BTreeMap::new();
    if let Some(list) = v.pointer("/Stacks/0/Outputs").and_then(|o| o.as_array()) {
        for o in list {
            let key = text_at(o, "/OutputKey");
            if !key.is_empty() {
                exports.insert(key, text_at(o, "/OutputValue"));
            }
        }
    }
    if job.has_output && !cli.dry() {
        output_artifact(job, &exports)?;
    }
    Ok(exports)
}

/// The output artifact: only `OutputFileName` (the outputs as JSON) when it is set, as
/// CodePipeline makes it; the restored inputs are cleared from the workspace either way.
fn output_artifact(job: &Job, exports: &BTreeMap<String, String>) -> Result<(), String> {
    for entry in std::fs::read_dir(&job.workspace)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let p = entry.path();
        let _ = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
    let file = job.get("OutputFileName");
    if file.is_empty() {
        return Ok(());
    }
    let path = job.workspace.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let text = serde_json::to_string_pretty(exports).unwrap_or_default();
    std::fs::write(&path, text)
        .map_err(|e| format!("cannot write `OutputFileName` `{}`: {e}", path.display()))
}
