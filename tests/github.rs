//! `pipec compile --target github` (docs/targets/github.md): a fixture per mapping row and
//! per refusal (`fixtures/github/`, `// expect:` headers, the workflow or the report
//! snapshotted), every example compiled or refused with its documented codes, GitHub's own
//! validators over every workflow (actionlint with shellcheck, which also checks every
//! `run:` script, and check-jsonschema's GitHub workflow schema: no error, no warning), our
//! own checks (no `${{` in a `run:` script, secrets only in `env:`), determinism, the CLI,
//! and generated pipelines.

use std::path::Path;
use std::process::Command;

use pipec::diagnostics::Code;
use pipec::export::github;

use crate::support::{Test, require_tool, targets, venv_program};

fn export_file(path: &Path) -> targets::Export {
    targets::export_file(path, |ir, map| github::export(ir, Some(map)))
}

fn run_fixture(path: &Path) {
    insta::assert_snapshot!(targets::fixture_report(path, export_file));
}

#[test]
fn fixture() {
    insta::glob!("fixtures/github/*.pipe", run_fixture);
}

/// What each runnable example gives: `None` compiles, else the codes of its errors.
const EXAMPLES: &[(&str, Option<&[Code]>)] = &[
    ("examples/aws-release.pipe", Some(&[Code::E0501])),
    ("examples/gated/gated.pipe", Some(&[Code::E0501])),
    ("examples/hello/hello.pipe", None),
    ("examples/library-release.pipe", Some(&[Code::E0501])),
    ("examples/monorepo.pipe", Some(&[Code::E0501])),
    ("examples/multi-region.pipe", Some(&[Code::E0501])),
    ("examples/nightly.pipe", Some(&[Code::E0501])),
    ("examples/preview-vs-prod.pipe", Some(&[Code::E0501])),
    ("examples/web-service.pipe", Some(&[Code::E0501])),
    ("examples/webapp.pipe", Some(&[Code::E0501])),
    ("examples/wordcount/wordcount.pipe", None),
];

#[test]
fn every_example_compiles_or_fails_with_its_documented_codes() {
    for (name, report) in targets::example_reports(EXAMPLES, export_file) {
        insta::with_settings!({ snapshot_suffix => name }, {
            insta::assert_snapshot!(report);
        });
    }
}

/// Every workflow of the examples that compile and of the `ok_` fixtures.
fn workflows() -> Vec<(String, String)> {
    targets::compiled(EXAMPLES, "tests/fixtures/github", export_file)
}

/// actionlint (with shellcheck on PATH, so every `run:` script is checked too) finds
/// nothing in the workflows `all`.
fn actionlint(actionlint: &Path, all: &[(String, String)]) {
    let dir = tempfile::tempdir().expect("tmp");
    let files = targets::written(dir.path(), all, "yml");
    targets::assert_finds_nothing(actionlint, &["-no-color", "-oneline"], &files);
}

#[test]
fn actionlint_with_shellcheck_accepts_every_workflow() {
    if !require_tool("shellcheck", "apt-get install shellcheck") {
        return;
    }
    let Some(lint) = targets::require_venv("actionlint") else {
        return;
    };
    actionlint(&lint, &workflows());
}

#[test]
fn the_github_workflow_schema_accepts_every_workflow() {
    let Some(cj) = targets::require_venv("check-jsonschema") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let files = targets::written(dir.path(), &workflows(), "yml");
    targets::assert_schema_accepts(&cj, "vendor.github-workflows", &files);
}

/// What we check ourselves: no expression in a `run:` script (values reach scripts only
/// through `env:`), secrets only as `${{ secrets.NAME }}` values of `env:`, and every
/// `needs.JOB` an expression names is a job the reading job needs.
fn own_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut in_run = None::<usize>;
    let mut job = String::new();
    let mut needs: Vec<String> = Vec::new();
    let mut in_needs = false;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = in_run {
            if line.trim().is_empty() || indent > at {
                if line.contains("${{") {
                    problems.push(format!("line {}: an expression in a `run:` script", n + 1));
                }
                continue;
            }
            in_run = None;
        }
        let t = line.trim_start().trim_start_matches("- ");
        if indent == 2 && line.trim_end().ends_with(':') && !line.trim_start().starts_with('#') {
            job = line.trim().trim_end_matches(':').to_string();
            needs.clear();
        }
        if indent == 4 && t.starts_with("needs:") {
            in_needs = true;
            continue;
        }
        if in_needs && indent == 6 && line.trim_start().starts_with("- ") {
            needs.push(line.trim_start()[2..].trim().to_string());
            continue;
        }
        in_needs = false;
        if t.starts_with("run:") {
            in_run = Some(indent);
            if t.contains("${{") {
                problems.push(format!("line {}: an expression in a `run:` script", n + 1));
            }
        }
        let env_secret = |v: &str| {
            v.strip_prefix("\"${{ secrets.")
                .and_then(|r| r.strip_suffix(" }}\""))
                .is_some_and(|n| {
                    n.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
        };
        if line.contains("secrets.") && !t.split_once(": ").is_some_and(|(_, v)| env_secret(v)) {
            problems.push(format!("line {}: a secret outside `env:`", n + 1));
        }
        let mut rest = line;
        while let Some(i) = rest.find("needs.") {
            rest = &rest[i + 6..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !needs.contains(&name) {
                problems.push(format!(
                    "line {}: job `{job}` reads `needs.{name}` without needing it",
                    n + 1
                ));
            }
        }
    }
    problems
}

#[test]
fn no_expression_reaches_a_script_and_every_needed_job_is_needed() {
    for (name, text) in workflows() {
        let problems = own_problems(&text);
        assert!(problems.is_empty(), "{name}:\n{problems:#?}");
    }
}

#[test]
fn our_checks_find_an_expression_in_a_script() {
    let bad = "jobs:\n  a:\n    steps:\n      - run: |\n          echo ${{ github.ref }}\n";
    assert_eq!(own_problems(bad).len(), 1);
}

#[test]
fn output_is_deterministic() {
    let first = workflows();
    assert_eq!(first, workflows());
}

#[test]
fn compile_writes_the_workflow_to_out() {
    let t = Test::new().file(
        "app.pipe",
        "pipeline app {\n  stage build {\n    action make: sh { run = \"make\" }\n  }\n}\n",
    );
    t.args(["compile", "app.pipe", "--target", "github", "-o", "app.yml"])
        .stdout("")
        .run();
    let text = std::fs::read_to_string(t.path("app.yml")).expect("written");
    assert!(
        text.starts_with("# Generated by `pipec compile --target github` from app.pipe"),
        "{text}"
    );
    assert!(text.contains("jobs:\n"), "{text}");
}

#[test]
fn compile_refuses_what_github_cannot_express_and_writes_nothing() {
    let t = Test::new().file(
        "app.pipe",
        "pipeline app {\n  mode queued\n  stage build {\n    action make: sh { run = \"make\" }\n  }\n}\n",
    );
    t.args(["compile", "app.pipe", "--target", "github", "-o", "app.yml"])
        .status(1)
        .stderr_contains("E0501")
        .stderr_contains("`mode queued` on GitHub Actions")
        .run();
    assert!(!t.path("app.yml").exists());
}

#[test]
fn generated_pipelines_validate_or_fail_with_e05xx() {
    let generated = targets::generated_exports(
        128,
        |text| text,
        |ir, m| github::export(ir, Some(m)),
        |_, _, out| own_problems(&out.text),
    );
    let (Some(lint), true) = (
        venv_program("actionlint"),
        crate::support::on_path("shellcheck"),
    ) else {
        return; // actionlint_with_shellcheck_accepts_every_workflow says why, once
    };
    actionlint(&lint, &generated.compiled);
}

/// The `run:` script and the `env:` names of the step `id` of a workflow.
fn step_of(workflow: &str, id: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = workflow.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == format!("id: {id}"))
        .unwrap_or_else(|| panic!("no step `{id}`"));
    let mut env = Vec::new();
    let mut i = at + 1;
    while !lines[i].trim_start().starts_with("run: |") {
        let t = lines[i].trim();
        if let Some((k, _)) = t.split_once(": ") {
            if k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                env.push(k.to_string());
            }
        }
        i += 1;
    }
    let indent = lines[i].len() - lines[i].trim_start().len() + 2;
    let mut script = String::new();
    for l in &lines[i + 1..] {
        if !l.trim().is_empty() && l.len() - l.trim_start().len() < indent {
            break;
        }
        script.push_str(l.get(indent..).unwrap_or(""));
        script.push('\n');
    }
    (script, env)
}

#[test]
fn the_generated_step_runs_the_script_with_its_pipec_meaning() {
    let t = Test::new().file("app.pipe", &targets::greeting_app(""));
    let (_, _, out) = export_file(&t.path("app.pipe"));
    let workflow = out.expect("compiles").text;
    let (script, env) = step_of(&workflow, "make");
    assert_eq!(env, ["PIPEC_ARG_1"]);
    let ws = t.path("ws");
    std::fs::create_dir_all(&ws).expect("ws");
    let output = t.path("github_output");
    let hostile = "$(touch pwned) `touch pwned2` \"; touch pwned3";
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&ws)
        .env("GITHUB_WORKSPACE", &ws)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_RUN_ID", "7")
        .env("PIPEC_ARG_1", hostile)
        .status()
        .expect("bash");
    assert!(status.success());
    let written = std::fs::read_to_string(&output).expect("outputs");
    assert!(written.starts_with("v<<pipec_"), "{written}");
    assert!(
        written.contains(&format!("\nhello {hostile}\n")),
        "{written}"
    );
    let saved = std::fs::read_to_string(ws.join(".pipec/art/site/out/g.txt")).expect("artifact");
    assert_eq!(saved, format!("hello {hostile}\n"));
    targets::assert_nothing_ran(&t.path("."));
}
