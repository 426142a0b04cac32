//! `CodeBuild`, run here: the project's buildspec (its inline one, from `batch-get-projects`,
//! else the file it names or `buildspec.yml` in the primary source) is read, and its phases
//! run with bash in the primary source's folder, as `CodeBuild` runs them: `install`,
//! `pre_build`, `build`, then `post_build` (also after `build` failed, with
//! `CODEBUILD_BUILD_SUCCEEDING=0`). Each phase is a process of its own; what a phase exports
//! and its folder carry over to the next (bash's `export -p`, as one `CodeBuild` shell would).
//! `env.variables` and the action's `EnvironmentVariables` are the environment,
//! `env.parameter-store` and `env.secrets-manager` (and those types) are read with the CLI
//! and masked; `env.exported-variables` become the exports; `artifacts.files` (with
//! `base-directory` and `discard-paths`) become the output artifact.
#![allow(clippy::disallowed_methods)] // Reason: the runtime reads the buildspec and arranges artifacts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Cli, Job, json, text_at};
use crate::shell::quote_word;

const PHASES: &[&str] = &["install", "pre_build", "build", "post_build"];
/// Scratch files of a build, inside the workspace while it runs.
const SCRATCH: &str = ".pipec-codebuild";

pub async fn run<C: Cli>(cli: &mut C, job: &Job) -> Result<BTreeMap<String, String>, String> {
    let primary = job.input_dir(job.get("PrimarySource"))?;
    let spec = buildspec(cli, job, &primary).await?;
    let Some(spec) = spec else {
        // The dry run cannot read the buildspec: it lists the phases.
        for p in PHASES {
            cli.phase(p, String::new(), primary.clone(), &[]).await?;
        }
        return Ok(BTreeMap::new());
    };
    if job.get("BatchEnabled") == "true" {
        cli.note("`BatchEnabled`: the buildspec runs here as one build, not as a batch");
    }
    let env = environment(cli, job, &spec, &primary).await?;
    let scratch = job.workspace.join(SCRATCH);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot make `{SCRATCH}`: {e}"))?;
    let state = scratch.join("env");
    let mut failed: Option<String> = None;
    for phase in PHASES {
        let commands = list(&spec, &format!("/phases/{phase}/commands"));
        let finally = list(&spec, &format!("/phases/{phase}/finally"));
        if commands.is_empty() && finally.is_empty() {
            continue;
        }
        if failed.is_some() && *phase != "post_build" {
            continue;
        }
        let succeeding = if failed.is_some() { "0" } else { "1" };
        let script = phase_script(&commands, &finally, &state, succeeding);
        if let Err(e) = cli.phase(phase, script, primary.clone(), &env).await {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(e);
    }
    let exports = exported(cli, &spec, &state, &primary).await;
    let arranged = if job.has_output {
        artifacts(&spec, &primary, &job.workspace)
    } else {
        Ok(())
    };
    let _ = std::fs::remove_dir_all(&scratch);
    arranged?;
    exports
}

/// The buildspec as JSON; `None` in a dry run.
async fn buildspec<C: Cli>(
    cli: &mut C,
    job: &Job,
    primary: &Path,
) -> Result<Option<Value>, String> {
    let project = job.get("ProjectName");
    let out = cli
        .aws(job.argv(&[
            "codebuild",
            "batch-get-projects",
            "--names",
            project,
            "--output",
            "json",
        ]))
        .await?;
    if cli.dry() {
        return Ok(None);
    }
    let v = json(&out)?;
    if v.pointer("/projects/0").is_none() {
        return Err(format!("CodeBuild has no project `{project}`"));
    }
    let inline = text_at(&v, "/projects/0/source/buildspec");
    let (text, from) = if inline.contains('\n') || inline.contains("phases") {
        (inline, format!("project `{project}`"))
    } else {
        let name = if inline.is_empty() {
            "buildspec.yml".to_string()
        } else {
            inline
        };
        let file = primary.join(&name);
        let text = crate::runtime::bounded::read_text(&file, 1 << 20).map_err(|e| {
            format!("cannot read the buildspec `{name}` of the primary source: {e}")
        })?;
        (text, format!("`{name}`"))
    };
    cli.note(&format!("buildspec from {from}"));
    let spec: Value = serde_saphyr::from_str(&text)
        .map_err(|e| format!("the buildspec from {from} is not YAML: {e}"))?;
    if !spec.is_object() {
        return Err(format!("the buildspec from {from} is not a YAML mapping"));
    }
    Ok(Some(spec))
}

/// A list of strings at `pointer` (one string counts as a list of one).
fn list(spec: &Value, pointer: &str) -> Vec<String> {
    match spec.pointer(pointer) {
        Some(Value::Array(items)) => items.iter().map(scalar).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(one) => vec![scalar(one)],
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn is_name(n: &str) -> bool {
    n.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The build's environment: `CodeBuild`'s variables, the buildspec's, then the action's.
async fn environment<C: Cli>(
    cli: &mut C,
    job: &Job,
    spec: &Value,
    primary: &Path,
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = vec![
        ("CODEBUILD_SRC_DIR".into(), primary.display().to_string()),
        ("CODEBUILD_BUILD_ID".into(), format!("pipec:{}", job.run_id)),
        ("CODEBUILD_INITIATOR".into(), format!("pipec/{}", job.label)),
    ];
    for (name, dir) in job.inputs.iter().skip(1) {
        env.push((
            format!("CODEBUILD_SRC_DIR_{name}"),
            dir.display().to_string(),
        ));
    }
    if let Some(Value::Object(vars)) = spec.pointer("/env/variables") {
        env.extend(vars.iter().map(|(k, v)| (k.clone(), scalar(v))));
    }
    for (section, kind) in [
        ("/env/parameter-store", "PARAMETER_STORE"),
        ("/env/secrets-manager", "SECRETS_MANAGER"),
    ] {
        if let Some(Value::Object(vars)) = spec.pointer(section) {
            for (k, v) in vars {
                let value = secret(cli, job, kind, &scalar(v)).await?;
                env.push((k.clone(), value));
            }
        }
    }
    let given = job.get("EnvironmentVariables");
    if !given.is_empty() {
        let list = json(given).map_err(|e| format!("`EnvironmentVariables`: {e}"))?;
        for item in list.as_array().into_iter().flatten() {
            let (name, value) = (text_at(item, "/name"), text_at(item, "/value"));
            let value = match text_at(item, "/type").as_str() {
                "" | "PLAINTEXT" => value,
                kind => secret(cli, job, kind, &value).await?,
            };
            env.push((name, value));
        }
    }
    env.extend(job.env.iter().cloned());
    if let Some((bad, _)) = env.iter().find(|(k, _)| !is_name(k)) {
        return Err(format!("`{bad}` is not a name for an environment variable"));
    }
    Ok(env)
}

/// A parameter's or a secret's value, read with the CLI and masked from then on.
async fn secret<C: Cli>(cli: &mut C, job: &Job, kind: &str, id: &str) -> Result<String, String> {
    let value = match kind {
        "PARAMETER_STORE" => {
            let out = cli
                .aws(job.argv(&[
                    "ssm",
                    "get-parameter",
                    "--name",
                    id,
                    "--with-decryption",
                    "--output",
                    "json",
                ]))
                .await?;
            text_at(&json(&out)?, "/Parameter/Value")
        }
        "SECRETS_MANAGER" => {
            // `secret-id:json-key:version-stage:version-id`, as CodeBuild reads it.
            let mut parts = id.split(':');
            let (secret_id, key) = if id.starts_with("arn:") {
                let arn: Vec<&str> = id.splitn(8, ':').collect();
                (
                    arn.iter().take(7).copied().collect::<Vec<_>>().join(":"),
                    arn.get(7)
                        .map_or("", |r| r.split(':').next().unwrap_or(""))
                        .to_string(),
                )
            } else {
                (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                )
            };
            let out = cli
                .aws(job.argv(&[
                    "secretsmanager",
                    "get-secret-value",
                    "--secret-id",
                    &secret_id,
                    "--output",
                    "json",
                ]))
                .await?;
            let text = text_at(&json(&out)?, "/SecretString");
            if key.is_empty() {
                text
            } else {
                text_at(&json(&text).unwrap_or_default(), &format!("/{key}"))
            }
        }
        other => {
            return Err(format!(
                "environment variable type `{other}` is not PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER"
            ));
        }
    };
    cli.hide(&value);
    Ok(value)
}

/// A phase's script: the state of the phase before restored, each command run while all
/// before it succeeded, the `finally` commands whatever happened, the state saved.
fn phase_script(commands: &[String], finally: &[String], state: &Path, succeeding: &str) -> String {
    let state = quote_word(&state.display().to_string());
    let mut s = format!(
        "if [ -f {state} ]; then . {state}; fi\nexport CODEBUILD_BUILD_SUCCEEDING={succeeding}\npipec_status=0\n"
    );
    let mut body = |cmds: &[String], always: bool| {
        for (i, c) in cmds.iter().enumerate() {
            let guard = if always {
                String::new()
            } else {
                "[ \"$pipec_status\" = 0 ] && ".into()
            };
            let name = format!("pipec_command_{}{i}", if always { "f" } else { "" });
            let _ = writeln!(
                s,
                "{name}() {{\n{c}\n}}\n{guard}{{ {name} || pipec_status=$?; }}"
            );
        }
    };
    body(commands, false);
    body(finally, true);
    let _ = writeln!(
        s,
        "{{ export -p; printf 'cd %q\\n' \"$PWD\"; }} > {state}\nexit \"$pipec_status\""
    );
    s
}

/// `env.exported-variables`, read from the state the last phase saved.
async fn exported<C: Cli>(
    cli: &mut C,
    spec: &Value,
    state: &Path,
    primary: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let names = list(spec, "/env/exported-variables");
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    if let Some(bad) = names.iter().find(|n| !is_name(n)) {
        return Err(format!(
            "`{bad}` in `exported-variables` is not a variable name"
        ));
    }
    let out = state.with_file_name("exported");
    let q = |p: &Path| quote_word(&p.display().to_string());
    let mut script = format!(
        "if [ -f {s} ]; then . {s}; fi\n: > {o}\n",
        s = q(state),
        o = q(&out)
    );
    for n in &names {
        let _ = writeln!(script, "printf '%s\\0' \"${{{n}-}}\" >> {}", q(&out));
    }
    cli.phase("(exported-variables)", script, primary.to_path_buf(), &[])
        .await?;
    let bytes =
        std::fs::read(&out).map_err(|e| format!("cannot read the exported variables: {e}"))?;
    let values: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    Ok(names.into_iter().zip(values).collect())
}

/// The output artifact: the files `artifacts.files` matches (under `base-directory`), and
/// nothing else, left in the workspace (which is captured).
fn artifacts(spec: &Value, primary: &Path, workspace: &Path) -> Result<(), String> {
    let patterns = list(spec, "/artifacts/files");
    if patterns.is_empty() {
        return Err(
            "the action has an output artifact but the buildspec has no `artifacts.files`".into(),
        );
    }
    let base = primary.join(scalar(
        spec.pointer("/artifacts/base-directory")
            .unwrap_or(&Value::Null),
    ));
    let discard = matches!(
        spec.pointer("/artifacts/discard-paths"),
        Some(Value::Bool(true))
    ) || matches!(
        spec.pointer("/artifacts/discard-paths")
            .map(scalar)
            .as_deref(),
        Some("yes" | "true")
    );
    let mut set = globset::GlobSetBuilder::new();
    for p in &patterns {
        set.add(globset::Glob::new(p).map_err(|e| format!("`artifacts.files` `{p}`: {e}"))?);
    }
    let set = set.build().map_err(|e| e.to_string())?;
    let staging = workspace.join(SCRATCH).join("artifact");
    let mut found = 0;
    for file in files_under(&base)? {
        let rel = file.strip_prefix(&base).unwrap_or(&file);
        if rel.starts_with(SCRATCH) || !set.is_match(rel) {
            continue;
        }
        let target = if discard {
            staging.join(rel.file_name().unwrap_or_default())
        } else {
            staging.join(rel)
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::copy(&file, &target)
            .map_err(|e| format!("cannot copy `{}`: {e}", rel.display()))?;
        found += 1;
    }
    if found == 0 {
        return Err(format!(
            "`artifacts.files` ({}) matched no file",
            patterns.join(", ")
        ));
    }
    for entry in std::fs::read_dir(workspace)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        if entry.file_name() != SCRATCH {
            let p = entry.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    for entry in std::fs::read_dir(&staging)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        std::fs::rename(entry.path(), workspace.join(entry.file_name()))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Every regular file under `dir`, depth first (symbolic links are not followed).
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot read `{}`: {e}", d.display()))?;
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
