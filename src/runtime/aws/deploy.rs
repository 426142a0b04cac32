//! The deploy providers that take the input artifact somewhere: S3 (`aws s3 cp`), ECS (a
//! new task definition revision with the images of the image definitions file, then
//! `update-service` and `wait services-stable`), `CodeDeploy` and Elastic Beanstalk (the
//! artifact zipped and uploaded to [`super::BUCKET_VAR`]'s bucket as their revision).
#![allow(clippy::disallowed_methods)] // Reason: the runtime reads artifacts and the environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{Cli, Job, json, text_at};

type Exports = Result<BTreeMap<String, String>, String>;

/// The input artifact zipped into a scratch file (a placeholder name in a dry run).
fn zipped<C: Cli>(cli: &C, job: &Job) -> Result<PathBuf, String> {
    let dir = job.input_dir("")?;
    let file = job.workspace.with_extension("zip");
    if !cli.dry() {
        super::zip::write(&dir, &file)?;
    }
    Ok(file)
}

pub async fn s3<C: Cli>(cli: &mut C, job: &Job) -> Exports {
    let bucket = job.get("BucketName");
    let key = job.get("ObjectKey").trim_matches('/');
    let mut extra: Vec<String> = Vec::new();
    for (k, flag) in [("CannedACL", "--acl"), ("CacheControl", "--cache-control")] {
        if !job.get(k).is_empty() {
            extra.extend([flag.to_string(), job.get(k).to_string()]);
        }
    }
    if !job.get("KMSEncryptionKeyARN").is_empty() {
        extra.extend([
            "--sse".into(),
            "aws:kms".into(),
            "--sse-kms-key-id".into(),
            job.get("KMSEncryptionKeyARN").to_string(),
        ]);
    }
    if job.get("Extract") == "false" {
        let file = zipped(cli, job)?;
        let target = format!("s3://{bucket}/{key}");
        let mut argv = job.argv(&["s3", "cp", &file.display().to_string(), &target]);
        argv.extend(extra);
        let sent = cli.aws(argv).await;
        if !cli.dry() {
            let _ = std::fs::remove_file(&file);
        }
        sent?;
    } else {
        let dir = job.input_dir("")?;
        let target = if key.is_empty() {
            format!("s3://{bucket}/")
        } else {
            format!("s3://{bucket}/{key}/")
        };
        let mut argv = job.argv(&[
            "s3",
            "cp",
            &dir.display().to_string(),
            &target,
            "--recursive",
        ]);
        argv.extend(extra);
        cli.aws(argv).await?;
    }
    Ok(BTreeMap::new())
}

/// The fields of a task definition `register-task-definition` takes again.
const REGISTERED: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
];

pub async fn ecs<C: Cli>(cli: &mut C, job: &Job) -> Exports {
    let (cluster, service) = (job.get("ClusterName"), job.get("ServiceName"));
    let images = image_definitions(cli, job)?;
    let out = cli
        .aws(job.argv(&[
            "ecs",
            "describe-services",
            "--cluster",
            cluster,
            "--services",
            service,
            "--output",
            "json",
        ]))
        .await?;
    let current = text_at(&json(&out)?, "/services/0/taskDefinition");
    if current.is_empty() {
        return Err(format!(
            "ECS has no service `{service}` in cluster `{cluster}`"
        ));
    }
    let out = cli
        .aws(job.argv(&[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            &current,
            "--output",
            "json",
        ]))
        .await?;
    let def = json(&out)?;
    let mut input = serde_json::Map::new();
    for k in REGISTERED {
        if let Some(v) = def.pointer(&format!("/taskDefinition/{k}")) {
            input.insert((*k).to_string(), v.clone());
        }
    }
    if let Some(Value::Array(containers)) = input.get_mut("containerDefinitions") {
        for c in containers.iter_mut() {
            let name = text_at(c, "/name");
            if let (Some(image), Some(obj)) = (images.get(&name), c.as_object_mut()) {
                obj.insert("image".into(), Value::String(image.clone()));
            }
        }
    }
    let out = cli
        .aws(job.argv(&[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &Value::Object(input).to_string(),
            "--output",
            "json",
        ]))
        .await?;
    let new = text_at(&json(&out)?, "/taskDefinition/taskDefinitionArn");
    cli.aws(job.argv(&[
        "ecs",
        "update-service",
        "--cluster",
        cluster,
        "--service",
        service,
        "--task-definition",
        &new,
        "--output",
        "json",
    ]))
    .await?;
    cli.aws(job.argv(&[
        "ecs",
        "wait",
        "services-stable",
        "--cluster",
        cluster,
        "--services",
        service,
    ]))
    .await?;
    Ok(BTreeMap::new())
}

/// `FileName` (default `imagedefinitions.json`) of the input: container name → image.
fn image_definitions<C: Cli>(cli: &C, job: &Job) -> Result<BTreeMap<String, String>, String> {
    if cli.dry() {
        return Ok(BTreeMap::new());
    }
    let name = match job.get("FileName") {
        "" => "imagedefinitions.json",
        n => n,
    };
    let file = job.input_dir("")?.join(name);
    let text = crate::runtime::bounded::read_text(&file, 1 << 20)
        .map_err(|e| format!("cannot read the image definitions `{name}`: {e}"))?;
    let list = json(&text)?;
    let mut out = BTreeMap::new();
    for item in list.as_array().into_iter().flatten() {
        out.insert(text_at(item, "/name"), text_at(item, "/imageUri"));
    }
    if out.is_empty() {
        return Err(format!("`{name}` lists no `{{\"name\", \"imageUri\"}}`"));
    }
    Ok(out)
}

/// The artifact uploaded as a revision: `(bucket, key)`.
async fn revision<C: Cli>(cli: &mut C, job: &Job) -> Result<(String, String), String> {
    let bucket = std::env::var(super::BUCKET_VAR).unwrap_or_default();
    if bucket.is_empty() && !cli.dry() {
        return Err(format!(
            "set `{}` to the bucket of revisions",
            super::BUCKET_VAR
        ));
    }
    let key = format!("pipec/{}/{}.zip", job.run_id, job.label);
    let file = zipped(cli, job)?;
    let sent = cli
        .aws(job.argv(&[
            "s3",
            "cp",
            &file.display().to_string(),
            &format!("s3://{bucket}/{key}"),
        ]))
        .await;
    if !cli.dry() {
        let _ = std::fs::remove_file(&file);
    }
    sent?;
    Ok((bucket, key))
}

pub async fn codedeploy<C: Cli>(cli: &mut C, job: &Job) -> Exports {
    let (bucket, key) = revision(cli, job).await?;
    let out = cli
        .aws(job.argv(&[
            "deploy",
            "create-deployment",
            "--application-name",
            job.get("ApplicationName"),
            "--deployment-group-name",
            job.get("DeploymentGroupName"),
            "--s3-location",
            &format!("bucket={bucket},key={key},bundleType=zip"),
            "--output",
            "json",
        ]))
        .await?;
    let id = text_at(&json(&out)?, "/deploymentId");
    cli.aws(job.argv(&[
        "deploy",
        "wait",
        "deployment-successful",
        "--deployment-id",
        &id,
    ]))
    .await?;
    Ok(BTreeMap::new())
}

pub async fn beanstalk<C: Cli>(cli: &mut C, job: &Job) -> Exports {
    let (bucket, key) = revision(cli, job).await?;
    let (app, env) = (job.get("ApplicationName"), job.get("EnvironmentName"));
    let label: String = format!("pipec-{}-{}", job.run_id, job.label)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    cli.aws(job.argv(&[
        "elasticbeanstalk",
        "create-application-version",
        "--application-name",
        app,
        "--version-label",
        &label,
        "--source-bundle",
        &format!("S3Bucket={bucket},S3Key={key}"),
        "--output",
        "json",
    ]))
    .await?;
    cli.aws(job.argv(&[
        "elasticbeanstalk",
        "update-environment",
        "--application-name",
        app,
        "--environment-name",
        env,
        "--version-label",
        &label,
        "--output",
        "json",
    ]))
    .await?;
    cli.aws(job.argv(&[
        "elasticbeanstalk",
        "wait",
        "environment-updated",
        "--application-name",
        app,
        "--environment-names",
        env,
    ]))
    .await?;
    Ok(BTreeMap::new())
}
