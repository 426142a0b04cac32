//! The invoke providers: Lambda (`aws lambda invoke` with the event `CodePipeline` would send;
//! the function's `outputVariables` are the exports) and Step Functions (`start-execution`,
//! then `describe-execution` until it ends; exports `ExecutionArn` and `StateMachineArn`).
#![allow(clippy::disallowed_methods)] // Reason: the runtime reads the function's answer and input files.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json as j};

use super::{Cli, Job, json, text_at};

type Exports = Result<BTreeMap<String, String>, String>;

/// How often a running execution is asked about.
const POLL: Duration = Duration::from_secs(3);

pub async fn lambda<C: Cli>(cli: &mut C, job: &Job) -> Exports {
    let function = job.get("FunctionName");
    let mut configuration = serde_json::Map::new();
    for (k, v) in &job.config {
        configuration.insert(k.clone(), Value::String(v.clone()));
    }
    let inputs: Vec<Value> = job.inputs.iter().map(|(n, _)| j!({ "name": n })).collect();
    // The event CodePipeline sends; locally there is no job to report to, so the function's
    // answer decides (docs/aws.md).
    let event = j!({
        "CodePipeline.job": {
            "id": format!("pipec-{}-{}", job.run_id, job.label),
            "data": {
                "actionConfiguration": { "configuration": configuration },
                "inputArtifacts": inputs,
                "outputArtifacts": [],
            }
        }
    });
    let answer = job.workspace.with_extension("lambda.json");
    // `fileb://`: the event's bytes as they are, in version 1 and 2 of the CLI alike.
    let payload = job.workspace.with_extension("event.json");
    if !cli.dry() {
        std::fs::write(&payload, event.to_string())
            .map_err(|e| format!("cannot write the event `{}`: {e}", payload.display()))?;
    }
    let out = cli
        .aws(job.argv(&[
            "lambda",
            "invoke",
            "--function-name",
            function,
            "--payload",
            &format!("fileb://{}", payload.display()),
            &answer.display().to_string(),
            "--output",
            "json",
        ]))
        .await;
    if cli.dry() {
        return Ok(BTreeMap::new());
    }
    let _ = std::fs::remove_file(&payload);
    let out = out?;
    let text = std::fs::read_to_string(&answer).unwrap_or_default();
    let _ = std::fs::remove_file(&answer);
    if !text_at(&json(&out)?, "/FunctionError").is_empty() {
        return Err(format!("function `{function}` failed: {}", text.trim()));
    }
    let mut exports = BTreeMap::new();
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&text) {
        if let Some(Value::Object(vars)) = m.get("outputVariables") {
            for (k, v) in vars {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                exports.insert(k.clone(), v);
            }
        }
    }
    Ok(exports)
}

pub async fn stepfunctions<C: Cli>(cli: &mut C, job: &Job) -> Exports {
    let machine = job.get("StateMachineArn");
    let input = if job.get("InputType") == "FilePath" {
        if cli.dry() {
            String::from("{}")
        } else {
            let file = job.input_dir("")?.join(job.get("Input"));
            crate::runtime::bounded::read_text(&file, 256 * 1024)
                .map_err(|e| format!("cannot read the input `{}`: {e}", job.get("Input")))?
        }
    } else {
        match job.get("Input") {
            "" => "{}".to_string(),
            text => text.to_string(),
        }
    };
    let name: String = format!("{}{}", job.get("ExecutionNamePrefix"), job.run_id)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(80)
        .collect();
    let out = cli
        .aws(job.argv(&[
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            machine,
            "--name",
            &name,
            "--input",
            &input,
            "--output",
            "json",
        ]))
        .await?;
    let execution = text_at(&json(&out)?, "/executionArn");
    loop {
        let out = cli
            .aws(job.argv(&[
                "stepfunctions",
                "describe-execution",
                "--execution-arn",
                &execution,
                "--output",
                "json",
            ]))
            .await?;
        if cli.dry() {
            break;
        }
        match text_at(&json(&out)?, "/status").as_str() {
            "RUNNING" | "PENDING_REDRIVE" => tokio::time::sleep(POLL).await,
            "SUCCEEDED" => break,
            other => return Err(format!("execution `{name}` of `{machine}` ended {other}")),
        }
    }
    Ok(BTreeMap::from([
        ("ExecutionArn".to_string(), execution),
        ("StateMachineArn".to_string(), machine.to_string()),
    ]))
}
