//! `pipec compile --target gitlab` (docs/targets/gitlab.md): a fixture per mapping row and
//! per refusal (`fixtures/gitlab/`, `// expect:` headers, the pipeline or the report
//! snapshotted), every example compiled or refused with its documented codes, GitLab's
//! pipeline schema (`check-jsonschema --builtin-schema vendor.gitlab-ci`) over every output,
//! the generated script items run by `sh` (hostile values stay data), determinism, the CLI,
//! and generated pipelines.

use std::path::{Path, PathBuf};
use std::process::Command;

use pipec::diagnostics::{Code, Diagnostic};
use pipec::export::gitlab;
use pipec::source::SourceMap;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::codepipeline::generated;
use crate::fixtures::{assert_expected, read_fixture};
use crate::support::venv_program;
use crate::support::{Test, check_file, render_human, targets};

type Out = Result<gitlab::Exported, Vec<Diagnostic>>;

fn export_file(path: &Path) -> (SourceMap, Vec<Diagnostic>, Out) {
    let (map, diags, ir) = check_file(path);
    let ir = ir.unwrap_or_else(|| panic!("{} checks clean", path.display()));
    let out = gitlab::export(&ir, Some(&map));
    (map, diags, out)
}

fn run_fixture(path: &Path) {
    let (rel, text) = read_fixture(path);
    let (map, mut diags, out) = export_file(&rel);
    let output = match out {
        Ok(e) => {
            diags.extend(e.warnings);
            e.text
        }
        Err(errors) => {
            diags.extend(errors);
            String::new()
        }
    };
    assert_expected(&map, &diags, &rel, &text);
    let rendered = render_human(&map, &diags);
    insta::assert_snapshot!(format!(
        "{text}\n---- diagnostics ----\n{rendered}\n---- output ----\n{output}"
    ));
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
    let files: Vec<PathBuf> = all
        .iter()
        .enumerate()
        .map(|(i, (_, text))| {
            let f = dir.path().join(format!("{i:02}.gitlab-ci.yml"));
            std::fs::write(&f, text).expect("write");
            f
        })
        .collect();
    let out = Command::new(cj)
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .args(&files)
        .output()
        .expect("run check-jsonschema");
    let report = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !report.contains("rror") && !err.to_lowercase().contains("warn"),
        "check-jsonschema:\n{report}{err}"
    );
}

#[test]
fn the_gitlab_ci_schema_accepts_every_pipeline() {
    let Some(cj) = crate::github::require_venv("check-jsonschema") else {
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
    let t = Test::new().file(
        "app.pipe",
        r#"pipeline app {
  mode parallel
  param who: string = "world"
  stage build {
    action make: sh {
      run = "mkdir -p out && echo hello ${params.who} > out/g.txt && echo \"v=$(cat out/g.txt)\" >> \"$PIPEC_OUTPUT\""
      output = site from "out"
      exports = [v]
    }
  }
}
"#,
    );
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
    for p in crate::support::files_under(&t.path(".")) {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(!name.starts_with("pwned"), "the value ran as code: {name}");
    }
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
    for p in crate::support::files_under(&t.path(".")) {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(!name.starts_with("pwned"), "the value ran as code: {name}");
    }
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
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let compiled = std::cell::RefCell::new(Vec::new());
    runner
        .run(&proptest::collection::vec(any::<u8>(), 48), |choices| {
            let text = generated(&choices);
            let (_, diags) = crate::support::check_text("gen.pipe", &text);
            if diags.iter().any(Diagnostic::is_error) {
                return Ok(());
            }
            let mut m = SourceMap::new();
            let id = m.add("gen.pipe", text.clone());
            let ir = pipec::compile(&mut m, id, &mut pipec::check::NoLoader)
                .ir
                .expect("clean");
            match gitlab::export(&ir, Some(&m)) {
                Ok(out) => {
                    if compiled.borrow().len() < 24 {
                        compiled
                            .borrow_mut()
                            .push(("gen.pipe".to_string(), out.text));
                    }
                }
                Err(errors) => {
                    let all_e05 = errors
                        .iter()
                        .all(|d| d.code.as_str().starts_with("E05") || !d.is_error());
                    prop_assert!(all_e05, "{text}\n{}", render_human(&m, &errors));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let compiled = compiled.into_inner();
    assert!(!compiled.is_empty(), "no generated pipeline compiled");
    if let Some(cj) = venv_program("check-jsonschema") {
        schema_check(&cj, &compiled);
    }
}
