//! The buildspec of a generated CodeBuild project: a bash runner that gives an `sh` action
//! the meaning it has under `pipec run`.
//!
//! Each attempt runs in a fresh, empty workspace where the action's input artifacts are
//! restored where pipec restores them (`dir` snapshots of a subfolder from that folder of
//! the repository, `exclude` patterns removed), with `PIPEC_*` variables set; the script is
//! written to a file from a quoted here-document (its text is never expanded), and every
//! interpolated value reaches it as an environment variable that the text refers to as one
//! quoted word, exactly as the runtime renders scripts (`runtime::eval::render_script`).
//! Values CodePipeline resolves (`#{…}`) come in through the action's environment; a list
//! param's JSON value becomes a bash array; a stage's status is asked of CodePipeline.
//! `timeout` is coreutils' `timeout` around each attempt, `retry` a loop with its backoff;
//! exports are parsed from `$PIPEC_OUTPUT` and exported for `exported-variables`; outputs
//! are copied to one folder per artifact, which the buildspec's artifacts name.

use std::fmt::Write as _;

use crate::export::doc::{Node, to_yaml};
use crate::export::runner::{Loop, attempt_line, attempt_loop, output_loop};
use crate::shell::quote_word;

#[derive(Clone)]
/// How an input is restored: from `dir` (a CodeBuild source folder variable), the folder
/// of it that is the artifact, where it goes in the workspace, the patterns to remove.
pub(super) struct Restore {
    pub(super) name: String,
    pub(super) from: String,
    pub(super) folder: Option<String>,
    pub(super) into: Option<String>,
    pub(super) exclude: Vec<String>,
    pub(super) restored_at: String,
}

#[derive(Clone)]
/// A value the script reads that is not in the environment already.
pub(super) enum Extra {
    /// A bash array from the JSON list in this environment variable.
    List { var: String, json: String },
    /// The status of a stage of this run.
    Status { var: String, stage: String },
}

#[derive(Clone)]
/// Everything the runner needs.
pub(super) struct Runner {
    pub(super) stage: String,
    pub(super) action: String,
    pub(super) script: String,
    pub(super) shell: String,
    pub(super) workdir: String,
    pub(super) extras: Vec<Extra>,
    pub(super) inputs: Vec<Restore>,
    pub(super) outputs: Vec<(String, String)>,
    pub(super) exports: Vec<String>,
    pub(super) retries: u32,
    pub(super) backoff_secs: u64,
    pub(super) timeout_secs: Option<u64>,
}

/// Where outputs are gathered, below `$CODEBUILD_SRC_DIR`.
const OUT: &str = ".pipec/out";

/// The buildspec (YAML text).
pub(super) fn buildspec(r: &Runner) -> String {
    let mut env = vec![("shell".to_string(), Node::str("bash"))];
    if !r.exports.is_empty() {
        env.push((
            "exported-variables".to_string(),
            Node::strs(r.exports.iter().map(String::as_str)),
        ));
    }
    let mut root = vec![
        ("version".to_string(), Node::str("0.2")),
        ("env".to_string(), Node::Map(env)),
        (
            "phases".to_string(),
            Node::map([(
                "build",
                Node::map([("commands", Node::Seq(vec![Node::Str(runner(r))]))]),
            )]),
        ),
    ];
    let artifact = |name: &str| {
        Node::map([
            ("base-directory", Node::Str(format!("{OUT}/{name}"))),
            ("files", Node::strs(["**/*"])),
        ])
    };
    match r.outputs.as_slice() {
        [] => {}
        [(name, _)] => root.push(("artifacts".to_string(), artifact(name))),
        many => root.push((
            "artifacts".to_string(),
            Node::map([(
                "secondary-artifacts",
                Node::Map(many.iter().map(|(n, _)| (n.clone(), artifact(n))).collect()),
            )]),
        )),
    }
    to_yaml(&Node::Map(root))
}

/// The bash runner.
fn runner(r: &Runner) -> String {
    let mut s = String::with_capacity(r.script.len() + 4096);
    let _ = writeln!(s, "# pipec: `{}.{}`", r.stage, r.action);
    s.push_str("set -uo pipefail\n");
    s.push_str("export PIPEC_STAGE=");
    s.push_str(&quote_word(&r.stage));
    s.push_str(" PIPEC_ACTION=");
    s.push_str(&quote_word(&r.action));
    s.push_str(" PIPEC_PIPELINE_DIR=\"$CODEBUILD_SRC_DIR\"\n");
    script_file(&mut s, r);
    if !r.exports.is_empty() {
        read_outputs(&mut s, &r.exports);
    }
    attempt_loop(
        &mut s,
        &Loop {
            outputs: &r.outputs,
            exports: &r.exports,
            retries: r.retries,
            backoff_secs: r.backoff_secs,
        },
        |s| {
            for i in &r.inputs {
                restore(s, i);
            }
        },
        |s| attempt(s, r),
        |e| format!("pipec_x_{e}"),
    );
    for (name, path) in &r.outputs {
        let p = quote_word(path);
        let dest = format!("\"$CODEBUILD_SRC_DIR\"/{OUT}/{name}");
        if path == "." {
            let _ = writeln!(s, "mkdir -p {dest} && cp -a \"$pipec_ws\"/. {dest}/");
        } else {
            let _ = writeln!(
                s,
                "mkdir -p \"$(dirname {dest}/{p})\" && cp -a \"$pipec_ws\"/{p} {dest}/{p}"
            );
        }
    }
    for e in &r.exports {
        let _ = writeln!(s, "export {e}=\"$pipec_x_{e}\"");
    }
    s
}

/// The script's file: the values the environment does not hold yet, then the script.
fn script_file(s: &mut String, r: &Runner) {
    s.push_str("pipec_script=$(mktemp)\n");
    for e in &r.extras {
        match e {
            Extra::List { var, json } => {
                let _ = writeln!(
                    s,
                    "python3 -c 'import json, os, shlex\nv = json.loads(os.environ[\"{json}\"])\nassert isinstance(v, list), \"not a JSON list\"\nprint(\"{var}=(\" + \" \".join(shlex.quote(x if isinstance(x, str) else json.dumps(x)) for x in v) + \")\")' >> \"$pipec_script\" || {{ echo \"pipec: \\${json} is not a JSON list\"; exit 1; }}"
                );
            }
            Extra::Status { var, stage } => {
                let _ = writeln!(
                    s,
                    "pipec_n=$(aws codepipeline list-action-executions --pipeline-name \"$PIPEC_PIPELINE\" --filter pipelineExecutionId=\"$PIPEC_RUN_ID\" --query \"length(actionExecutionDetails[?stageName=='{stage}'])\" --output text) || exit 1\n\
                     if [ \"$pipec_n\" -gt 0 ]; then echo 'export {var}=succeeded'; else echo 'export {var}=skipped'; fi >> \"$pipec_script\""
                );
            }
        }
    }
    let mut delim = "PIPEC_SCRIPT".to_string();
    let mut n = 1;
    while r.script.lines().any(|l| l == delim) {
        delim = format!("PIPEC_SCRIPT_{n}");
        n += 1;
    }
    let _ = write!(s, "cat >> \"$pipec_script\" <<'{delim}'\n{}", r.script);
    if !r.script.ends_with('\n') {
        s.push('\n');
    }
    let _ = writeln!(s, "{delim}");
}

/// Reads `KEY=VALUE` lines and `KEY<<DELIM` blocks of `$PIPEC_OUTPUT` into `pipec_x_KEY`.
fn read_outputs(s: &mut String, exports: &[String]) {
    s.push_str("pipec_read() {\n  local line key delim value first\n");
    for e in exports {
        let _ = writeln!(s, "  unset pipec_x_{e}");
    }
    output_loop(s, exports, "printf -v \"pipec_x_$key\" '%s' \"$value\"");
}

fn restore(s: &mut String, i: &Restore) {
    let into = i
        .into
        .as_deref()
        .map_or_else(String::new, |f| format!("/{}", quote_word(f)));
    let from = i
        .folder
        .as_deref()
        .map_or_else(String::new, |f| format!("/{}", quote_word(f)));
    let _ = writeln!(
        s,
        "  mkdir -p \"$pipec_ws\"{into} && cp -a \"${}\"{from}/. \"$pipec_ws\"{into}/",
        i.from
    );
    if !i.exclude.is_empty() {
        let _ = writeln!(
            s,
            "  (cd \"$pipec_ws\"{into} && shopt -s globstar dotglob nullglob && for f in {}; do rm -rf -- \"$f\"; done)",
            i.exclude.join(" ")
        );
    }
    let _ = writeln!(
        s,
        "  export PIPEC_INPUT_{}=\"$pipec_ws\"/{}",
        i.name,
        quote_word(&i.restored_at)
    );
}

/// One attempt: the line every target's runner runs it with.
fn attempt(s: &mut String, r: &Runner) {
    attempt_line(s, &r.workdir, r.timeout_secs, &r.shell);
}
