//! The bash a job runs for an `sh` (or `git`) action: the action's `pipec run` meaning on a
//! GitHub or GitLab runner ([`Host`]).
//!
//! Each attempt runs in a fresh, empty folder where the inputs are copied from
//! `WORKSPACE/.pipec/art/NAME` (downloaded there, or left there by an earlier step of the
//! job) to where `pipec run` restores them, with the `PIPEC_*` variables set. The script is
//! written to a file from a quoted here-document (its text is never expanded, and no
//! `${{ … }}` is ever in it): interpolated values reach it through the step's `env`, as
//! quoted references (`shell::reference`). `timeout` is coreutils' `timeout` around each
//! attempt, `retry` a loop with its backoff. After a successful attempt the outputs must
//! exist and the exports must have been written to `$PIPEC_OUTPUT`; outputs are copied to
//! `WORKSPACE/.pipec/art/NAME`, exports written to `$GITHUB_OUTPUT` (a random delimiter per
//! value) or to GitLab's dotenv report `.pipec/exports.env` (one line per value).

use std::fmt::Write as _;

use crate::shell::quote_word;

/// An input: its artifact, where it is restored (relative), its folder (`inputs = {…}`).
pub(crate) struct Restore {
    pub name: String,
    pub folder: Option<String>,
    pub restored_at: String,
}

/// Where the runner runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    GitHub,
    GitLab,
    /// An Argo container: the work folder is `$PIPEC_WORK`, exports go to files read as
    /// output parameters (`.pipec/x/ACTION__NAME`).
    Argo,
}

impl Host {
    /// The variable holding the checkout (the job's folder).
    pub(crate) fn workspace(self) -> &'static str {
        match self {
            Host::GitHub => "GITHUB_WORKSPACE",
            Host::GitLab => "CI_PROJECT_DIR",
            Host::Argo => "PIPEC_WORK",
        }
    }

    fn run_id(self) -> &'static str {
        match self {
            Host::GitHub => "GITHUB_RUN_ID",
            Host::GitLab => "CI_PIPELINE_ID",
            Host::Argo => "PIPEC_WORKFLOW",
        }
    }
}

/// The variable of GitLab's dotenv report that carries the export `name` of `stage.action`.
pub(crate) fn dotenv_name(stage: &str, action: &str, name: &str) -> String {
    format!("PIPEC_X_{stage}_{action}_{name}")
}

/// Everything the runner needs.
pub(crate) struct Runner {
    pub host: Host,
    /// Bash run first (GitLab: the values the script reads, exported from variables).
    pub prelude: String,
    pub stage: String,
    pub action: String,
    pub script: String,
    pub shell: String,
    pub workdir: String,
    pub inputs: Vec<Restore>,
    pub outputs: Vec<(String, String)>,
    pub exports: Vec<String>,
    pub retries: u32,
    pub backoff_secs: u64,
    pub timeout_secs: Option<u64>,
}

impl Runner {
    /// The runner of action `a` of `stage` on `host`: its inputs, outputs, exports, retries
    /// and timeout; the script, prelude, shell and work folder still empty (set them with
    /// `Runner { script, .. }`).
    pub(crate) fn of(host: Host, stage: &crate::ir::Stage, a: &crate::ir::Action) -> Runner {
        Runner {
            host,
            prelude: String::new(),
            stage: stage.name.clone(),
            action: a.name.clone(),
            script: String::new(),
            shell: String::new(),
            workdir: String::new(),
            inputs: a
                .inputs
                .iter()
                .map(|i| Restore {
                    name: i.name.clone(),
                    folder: i.folder.clone(),
                    restored_at: i.restored_at(),
                })
                .collect(),
            outputs: outputs(a),
            exports: a.exports.clone(),
            retries: a.retry.count,
            backoff_secs: a.retry.backoff_secs,
            timeout_secs: a.timeout_secs,
        }
    }
}

/// An action's outputs as (artifact, path) pairs (the runners of every target save them).
pub(crate) fn outputs(a: &crate::ir::Action) -> Vec<(String, String)> {
    a.outputs
        .iter()
        .map(|o| (o.name.clone(), o.path.clone()))
        .collect()
}

/// The bash of a `wait` action (`None` when its duration is not written out).
pub(crate) fn sleep(a: &crate::ir::Action) -> Option<String> {
    let Some(crate::ir::Expr::Duration { secs }) = a.params.get("duration") else {
        return None;
    };
    Some(format!("sleep {secs}\n"))
}

/// `bash` as one shell command (GitLab's script item, a line of Argo's container script):
/// `bash -c` of a quoted here-document whose delimiter no line of `bash` is.
pub(crate) fn bash_c(bash: &str) -> String {
    let mut delim = "PIPEC_STEP".to_string();
    let mut n = 1;
    while bash.lines().any(|l| l == delim) {
        delim = format!("PIPEC_STEP_{n}");
        n += 1;
    }
    format!("bash -c \"$(cat <<'{delim}'\n{bash}{delim}\n)\"")
}

/// The step's bash.
pub(crate) fn runner(r: &Runner) -> String {
    let mut s = String::with_capacity(r.script.len() + 2048);
    let _ = writeln!(s, "# pipec: `{}.{}`", r.stage, r.action);
    s.push_str("set -uo pipefail\n");
    let ws = r.host.workspace();
    let _ = writeln!(
        s,
        "export PIPEC_RUN_ID=\"${}\" PIPEC_STAGE={} PIPEC_ACTION={} PIPEC_PIPELINE_DIR=\"${ws}\"",
        r.host.run_id(),
        quote_word(&r.stage),
        quote_word(&r.action)
    );
    s.push_str(&r.prelude);
    if !r.inputs.is_empty() || !r.outputs.is_empty() {
        let _ = writeln!(s, "pipec_art=\"${ws}/.pipec/art\"");
    }
    s.push_str("pipec_script=$(mktemp)\n");
    let mut delim = "PIPEC_SCRIPT".to_string();
    let mut n = 1;
    while r.script.lines().any(|l| l == delim) {
        delim = format!("PIPEC_SCRIPT_{n}");
        n += 1;
    }
    let _ = write!(s, "cat > \"$pipec_script\" <<'{delim}'\n{}", r.script);
    if !r.script.ends_with('\n') {
        s.push('\n');
    }
    let _ = writeln!(s, "{delim}");
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
        |e| format!("pipec_x[{e}]"),
    );
    for (name, path) in &r.outputs {
        save(&mut s, name, path);
    }
    for e in &r.exports {
        if r.host == Host::Argo {
            let _ = writeln!(
                s,
                "mkdir -p \"${ws}/.pipec/x\" && printf '%s' \"${{pipec_x[{e}]}}\" > \"${ws}/.pipec/x/{}__{e}\"",
                r.action
            );
            continue;
        }
        if r.host == Host::GitLab {
            let var = dotenv_name(&r.stage, &r.action, e);
            let _ = writeln!(
                s,
                "case \"${{pipec_x[{e}]}}\" in *$'\\n'*) echo \"pipec: export \\`{e}\\` holds a newline, which a dotenv report cannot\"; exit 1 ;; esac\nmkdir -p \"${ws}/.pipec\" && printf '%s=%s\\n' {var} \"${{pipec_x[{e}]}}\" >> \"${ws}/.pipec/exports.env\""
            );
            continue;
        }
        let _ = writeln!(
            s,
            "pipec_delim=\"pipec_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \\n')\"\nprintf '%s<<%s\\n%s\\n%s\\n' {e} \"$pipec_delim\" \"${{pipec_x[{e}]}}\" \"$pipec_delim\" >> \"$GITHUB_OUTPUT\""
        );
    }
    s
}

/// What the retry loop of an action's bash checks after each attempt.
pub(crate) struct Loop<'a> {
    pub(crate) outputs: &'a [(String, String)],
    pub(crate) exports: &'a [String],
    pub(crate) retries: u32,
    pub(crate) backoff_secs: u64,
}

/// The attempts of an action, as `pipec run` makes them, in bash (every target's runner and
/// CodePipeline's buildspec): a fresh workspace per attempt (`inputs` restores the inputs into
/// it, `attempt` runs the script), outputs and exports checked after success, `retries`
/// re-runs after `backoff_secs`; `export_var` names the shell variable holding an export that
/// was read back.
pub(crate) fn attempt_loop(
    s: &mut String,
    l: &Loop<'_>,
    inputs: impl FnOnce(&mut String),
    attempt: impl FnOnce(&mut String),
    export_var: impl Fn(&str) -> String,
) {
    s.push_str("pipec_attempt=1\nwhile :; do\n  pipec_ws=$(mktemp -d)\n");
    inputs(s);
    s.push_str("  pipec_out=$(mktemp)\n");
    attempt(s);
    s.push_str(
        "  pipec_status=$?\n  pipec_ok=0\n  if [ \"$pipec_status\" -eq 0 ]; then\n    pipec_ok=1\n",
    );
    for (name, path) in l.outputs {
        let _ = writeln!(
            s,
            "    [ -e \"$pipec_ws\"/{p} ] || {{ echo \"pipec: output \\`{name}\\`: {p} is missing\"; pipec_ok=0; }}",
            p = quote_word(path)
        );
    }
    if !l.exports.is_empty() {
        s.push_str("    pipec_read \"$pipec_out\"\n");
        for e in l.exports {
            let _ = writeln!(
                s,
                "    [ -n \"${{{}+set}}\" ] || {{ echo \"pipec: export \\`{e}\\` was not written to \\$PIPEC_OUTPUT\"; pipec_ok=0; }}",
                export_var(e)
            );
        }
    }
    s.push_str("  elif [ \"$pipec_status\" -eq 124 ]; then\n    echo \"pipec: attempt $pipec_attempt timed out\"\n  fi\n");
    s.push_str("  [ \"$pipec_ok\" = 1 ] && break\n");
    let _ = writeln!(
        s,
        "  if [ \"$pipec_attempt\" -gt {} ]; then echo \"pipec: failed after $pipec_attempt attempt(s)\"; exit 1; fi",
        l.retries
    );
    let _ = writeln!(
        s,
        "  pipec_attempt=$((pipec_attempt + 1))\n  sleep {}\ndone",
        l.backoff_secs
    );
}

/// Copies an output to `$pipec_art/NAME`, at its path (a folder `.`: its content).
fn save(s: &mut String, name: &str, path: &str) {
    let dest = format!("\"$pipec_art\"/{}", quote_word(name));
    if path == "." {
        let _ = writeln!(s, "mkdir -p {dest} && cp -a \"$pipec_ws\"/. {dest}/");
    } else {
        let p = quote_word(path);
        let _ = writeln!(
            s,
            "mkdir -p \"$(dirname {dest}/{p})\" && cp -a \"$pipec_ws\"/{p} {dest}/{p}"
        );
    }
}

/// Reads `KEY=VALUE` lines and `KEY<<DELIM` blocks of `$PIPEC_OUTPUT` into `pipec_x`.
fn read_outputs(s: &mut String, exports: &[String]) {
    s.push_str(
        "declare -A pipec_x\n\
         pipec_read() {\n\
         \x20 local line key delim value first\n\
         \x20 pipec_x=()\n",
    );
    output_loop(s, exports, "pipec_x[$key]=$value");
}

/// The body of `pipec_read` after its locals: each `KEY=VALUE` line and `KEY<<DELIM` block
/// of the file `$1` whose key is one of `exports` is stored by the bash `store` (of `$key`
/// and `$value`); any other key is reported and ignored. Every target's runner reads
/// `$PIPEC_OUTPUT` with it.
pub(crate) fn output_loop(s: &mut String, exports: &[String], store: &str) {
    s.push_str(
        "  while IFS= read -r line || [ -n \"$line\" ]; do\n\
         \x20   if [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)\\<\\<(.+)$ ]]; then\n\
         \x20     key=${BASH_REMATCH[1]}; delim=${BASH_REMATCH[2]}; value=; first=1\n\
         \x20     while IFS= read -r line; do\n\
         \x20       [ \"$line\" = \"$delim\" ] && break\n\
         \x20       if [ \"$first\" = 1 ]; then value=$line; first=0; else value+=$'\\n'$line; fi\n\
         \x20     done\n\
         \x20   elif [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then\n\
         \x20     key=${BASH_REMATCH[1]}; value=${BASH_REMATCH[2]}\n\
         \x20   else\n\
         \x20     continue\n\
         \x20   fi\n\
         \x20   case \"$key\" in\n",
    );
    let _ = writeln!(s, "      {}) {store} ;;", exports.join("|"));
    s.push_str(
        "      *) echo \"pipec: \\`$key\\` in \\$PIPEC_OUTPUT is not in \\`exports\\`: ignored\" ;;\n\
         \x20   esac\n  done < \"$1\"\n}\n",
    );
}

fn restore(s: &mut String, i: &Restore) {
    let into = i
        .folder
        .as_deref()
        .map_or_else(String::new, |f| format!("/{}", quote_word(f)));
    let _ = writeln!(
        s,
        "  mkdir -p \"$pipec_ws\"{into} && cp -a \"$pipec_art\"/{}/. \"$pipec_ws\"{into}/",
        quote_word(&i.name)
    );
    let _ = writeln!(
        s,
        "  export PIPEC_INPUT_{}=\"$pipec_ws\"/{}",
        i.name,
        quote_word(&i.restored_at)
    );
}

fn attempt(s: &mut String, r: &Runner) {
    attempt_line(s, &r.workdir, r.timeout_secs, &r.shell);
}

/// One attempt, in a subshell: in the workspace (its folder `workdir`), with its variables,
/// `shell` running `$pipec_script` under `timeout` — the same line for every target's runner.
pub(crate) fn attempt_line(s: &mut String, workdir: &str, timeout_secs: Option<u64>, shell: &str) {
    let dir = if workdir == "." {
        String::new()
    } else {
        format!("/{}", quote_word(workdir))
    };
    let limit = timeout_secs.map_or_else(String::new, |t| format!("timeout -k 5 {t} "));
    let _ = writeln!(
        s,
        "  (cd \"$pipec_ws\"{dir} && export PIPEC_OUTPUT=\"$pipec_out\" PIPEC_ATTEMPT=\"$pipec_attempt\" && exec {limit}{} \"$pipec_script\")",
        quote_word(shell)
    );
}

/// The bash of a `dir` action: the checkout's folder `path` (without `.git` and the
/// `exclude` patterns) as the artifact `name`.
pub(crate) fn dir(host: Host, name: &str, path: &str, exclude: &[String]) -> String {
    let mut s = String::new();
    let ws = host.workspace();
    let dest = format!("\"${ws}\"/.pipec/art/{}", quote_word(name));
    let _ = writeln!(s, "set -euo pipefail\nmkdir -p {dest}");
    let _ = writeln!(
        s,
        "(cd \"${ws}\"/{} && tar -c --exclude=./.git --exclude=./.pipec .) | tar -x -C {dest}",
        quote_word(path)
    );
    if !exclude.is_empty() {
        let _ = writeln!(
            s,
            "(cd {dest} && shopt -s globstar dotglob nullglob && for f in {}; do rm -rf -- \"$f\"; done)",
            exclude.join(" ")
        );
    }
    s
}

/// Whether a glob can be written into the script unquoted (so bash expands it) without
/// anything else in it being read as shell syntax.
pub(crate) fn safe_glob(g: &str) -> bool {
    !g.is_empty()
        && !g.starts_with('-')
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/*?[]{},-".contains(c))
}
