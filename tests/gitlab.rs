//! `pipec compile --target gitlab` (docs/targets/gitlab.md): a fixture per mapping row and
//! per refusal (`fixtures/gitlab/`, `// expect:` headers, the pipeline or the report
//! snapshotted), every example compiled or refused with its documented codes, GitLab's
//! pipeline schema (`check-jsonschema --builtin-schema vendor.gitlab-ci`) over every output,
//! the generated script items run by `sh` (hostile values stay data), determinism, the CLI,
//! and generated pipelines.

use std::path::Path;
use std::process::Command;

use pipec::diagnostics::Code;
use pipec::export::gitlab;

use crate::support::{Test, targets, venv_program};

fn export_file(path: &Path) -> targets::Export {
    targets::export_file(path, |ir, map| gitlab::export(ir, Some(map)))
}

fn run_fixture(path: &Path) {
    insta::assert_snapshot!(targets::fixture_report(path, export_file));
}

#[test]
fn fixture() {
    insta::glob!("fixtures/gitlab/*.pipe", run_fixture);
}

/// What each runnable example gives: `None` compiles, else the codes of its errors.
const EXAMPLES: &[(&str, Option<&[Code]>)] = &[
    ("examples/aws-release.pipe", Some(&[Code::E0501])),
    ("examples/gated/gated.pipe", Some(&[Code::E0501])),
    ("examples/hello/hello.pipe", None),
    ("examples/library-release.pipe", Some(&[Code::E0501])),
    ("examples/monorepo.pipe", Some(&[Code::E0501, Code::E0502])),
    ("examples/multi-region.pipe", Some(&[Code::E0501])),
    ("examples/nightly.pipe", None),
    ("examples/preview-vs-prod.pipe", Some(&[Code::E0501])),
    ("examples/web-service.pipe", Some(&[Code::E0501])),
    ("examples/webapp.pipe", Some(&[Code::E0501, Code::E0502])),
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

/// Every pipeline of the examples that compile and of the `ok_` fixtures.
fn pipelines() -> Vec<(String, String)> {
    targets::compiled(EXAMPLES, "tests/fixtures/gitlab", export_file)
}

fn schema_check(cj: &Path, all: &[(String, String)]) {
    let dir = tempfile::tempdir().expect("tmp");
    let files = targets::written(dir.path(), all, "gitlab-ci.yml");
    targets::assert_schema_accepts(cj, "vendor.gitlab-ci", &files);
}

#[test]
fn the_gitlab_ci_schema_accepts_every_pipeline() {
    let Some(cj) = targets::require_venv("check-jsonschema") else {
        return;
    };
    schema_check(&cj, &pipelines());
}

#[test]
fn no_value_is_written_into_a_script() {
    for (name, text) in pipelines() {
        for line in text.lines() {
            assert!(!line.contains("${{"), "{name}: {line}");
        }
    }
}

#[test]
fn output_is_deterministic() {
    assert_eq!(pipelines(), pipelines());
}

/// The script items of job `job`, each a string as GitLab runs it.
fn items(text: &str, job: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == format!("{job}:"))
        .expect("the job");
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < lines.len() && (lines[i].starts_with(' ') || lines[i].is_empty()) {
        if lines[i].trim_start() == "- |-" {
            let indent = lines[i].len() - lines[i].trim_start().len() + 4;
            let mut item = Vec::new();
            i += 1;
            while i < lines.len()
                && (lines[i].is_empty() || lines[i].len() - lines[i].trim_start().len() >= indent)
            {
                item.push(lines[i].get(indent..).unwrap_or(""));
                i += 1;
            }
            out.push(item.join("\n"));
            continue;
        }
        i += 1;
    }
    out
}

#[test]
fn the_generated_script_item_runs_with_its_pipec_meaning() {
    let t = Test::new().file("app.pipe", &targets::greeting_app("  mode parallel\n"));
    let (_, _, out) = export_file(&t.path("app.pipe"));
    let text = out.expect("compiles").text;
    let item = items(&text, "build").pop().expect("a script item");
    let ws = t.path("ws");
    std::fs::create_dir_all(&ws).expect("ws");
    let hostile = "$(touch pwned) `touch pwned2` \"; touch pwned3 )";
    let status = Command::new("sh")
        .arg("-c")
        .arg(&item)
        .current_dir(&ws)
        .env("CI_PROJECT_DIR", &ws)
        .env("CI_PIPELINE_ID", "7")
        .env("PIPEC_PARAM_who", hostile)
        .status()
        .expect("sh");
    assert!(status.success());
    let dotenv = std::fs::read_to_string(ws.join(".pipec/exports.env")).expect("dotenv");
    assert_eq!(dotenv, format!("PIPEC_X_build_make_v=hello {hostile}\n"));
    let saved = std::fs::read_to_string(ws.join(".pipec/art/site/out/g.txt")).expect("artifact");
    assert_eq!(saved, format!("hello {hostile}\n"));
    targets::assert_nothing_ran(&t.path("."));
}

/// An action's `when` is decided by the job's shell as `pipec run` decides it, and a hostile
/// value in it stays data.
#[test]
fn the_when_of_an_action_is_decided_in_the_job() {
    let t = Test::new().file(
        "app.pipe",
        r#"pipeline app {
  mode parallel
  param docs: bool = true
  param env: string = "staging"
  stage build {
    action a: sh { run = "touch \"$PIPEC_PIPELINE_DIR/ran_a\""  when = params.docs }
    action b: sh {
      run = "touch \"$PIPEC_PIPELINE_DIR/ran_b\""
      when = params.env in ["prod"] || (starts_with(params.env, "x") && !contains(params.env, "*"))
    }
  }
}
"#,
    );
    let (_, _, out) = export_file(&t.path("app.pipe"));
    let text = out.expect("compiles").text;
    let items = items(&text, "build");
    assert_eq!(items.len(), 2, "{text}");
    let hostile = "x$(touch pwned) `touch pwned2` \"; touch pwned3 )";
    for (docs, env, ran) in [
        ("false", hostile, [false, true]),
        ("true", "prod", [true, true]),
        ("false", "staging", [false, false]),
        ("true", "x*", [true, false]),
    ] {
        let ws = t.path(&format!("ws-{docs}-{}", env.len()));
        std::fs::create_dir_all(&ws).expect("ws");
        for item in &items {
            let status = Command::new("sh")
                .arg("-c")
                .arg(item)
                .current_dir(&ws)
                .env("CI_PROJECT_DIR", &ws)
                .env("CI_PIPELINE_ID", "7")
                .env("PIPEC_PARAM_docs", docs)
                .env("PIPEC_PARAM_env", env)
                .status()
                .expect("sh");
            assert!(status.success(), "{item}");
        }
        for (name, want) in ["ran_a", "ran_b"].iter().zip(ran) {
            assert_eq!(
                ws.join(name).exists(),
                want,
                "{name} with docs={docs} env={env}"
            );
        }
    }
    targets::assert_nothing_ran(&t.path("."));
}

#[test]
fn compile_writes_the_pipeline_to_out() {
    let t = Test::new().file(
        "app.pipe",
        "pipeline app {\n  mode parallel\n  stage build {\n    action make: sh { run = \"make\" }\n  }\n}\n",
    );
    t.args([
        "compile",
        "app.pipe",
        "--target",
        "gitlab",
        "-o",
        ".gitlab-ci.yml",
    ])
    .stdout("")
    .run();
    let text = std::fs::read_to_string(t.path(".gitlab-ci.yml")).expect("written");
    assert!(
        text.starts_with("# Generated by `pipec compile --target gitlab` from app.pipe"),
        "{text}"
    );
}

#[test]
fn generated_pipelines_validate_or_fail_with_e05xx() {
    let generated = targets::generated_exports(
        128,
        |text| text,
        |ir, m| gitlab::export(ir, Some(m)),
        |_, _, _| Vec::new(),
    );
    if let Some(cj) = venv_program("check-jsonschema") {
        schema_check(&cj, &generated.compiled);
    }
}
