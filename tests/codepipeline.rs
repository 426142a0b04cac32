//! `pipec compile --target codepipeline` (docs/targets/codepipeline.md): a fixture per
//! mapping row and per `E05xx` code (`fixtures/codepipeline/`, `// expect:` headers, the
//! output or the report snapshotted), every example compiled or refused with its documented
//! codes, the real validators (cfn-lint, botocore's model of `CreatePipeline`) over every
//! output, semantic checks of our own, determinism, the CLI, and generated pipelines.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use pipec::diagnostics::Code;
use pipec::export::codepipeline::{self as cp, Format, Options};
use pipec::source::SourceMap;
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::support::{Run, Test, pipe_files, render_human, skip_or_fail, targets, venv_program};

fn options(format: Format, create_role: bool) -> Options {
    Options {
        format,
        create_role,
        limits: true,
    }
}

/// Checks a file and exports it: the source map, the checker's diagnostics, the export.
fn export_file(path: &Path, opts: Options) -> targets::Export {
    targets::export_file(path, |ir, map| cp::export(ir, Some(map), &opts))
}

fn run_fixture(path: &Path) {
    insta::assert_snapshot!(targets::fixture_report(path, |p| export_file(
        p,
        Options::default()
    )));
}

#[test]
fn fixture() {
    insta::glob!("fixtures/codepipeline/*.pipe", run_fixture);
}

/// What each runnable example gives: `None` compiles, else the codes of its errors.
const EXAMPLES: &[(&str, Option<&[Code]>)] = &[
    ("examples/aws-release.pipe", None),
    ("examples/gated/gated.pipe", None),
    ("examples/hello/hello.pipe", None),
    ("examples/library-release.pipe", Some(&[Code::E0502])),
    ("examples/monorepo.pipe", Some(&[Code::E0501, Code::E0504])),
    ("examples/multi-region.pipe", None),
    ("examples/nightly.pipe", None),
    ("examples/preview-vs-prod.pipe", None),
    ("examples/web-service.pipe", None),
    ("examples/webapp.pipe", None),
    ("examples/wordcount/wordcount.pipe", None),
];

/// Whether `stem` names an example of [`EXAMPLES`] (for stale snapshots).
pub(crate) fn is_example(stem: &str) -> bool {
    EXAMPLES
        .iter()
        .any(|(p, _)| Path::new(p).file_stem().is_some_and(|s| s == stem))
}

/// The files of `examples/` that hold a pipeline (the library holds templates only).
pub(crate) fn example_files() -> Vec<PathBuf> {
    pipe_files("examples")
        .into_iter()
        .filter(|p| !p.starts_with("examples/lib"))
        .collect()
}

#[test]
fn every_example_compiles_or_fails_with_its_documented_codes() {
    let reports = targets::example_reports(EXAMPLES, |p| export_file(p, Options::default()));
    for (name, snapshot) in reports {
        insta::with_settings!({ snapshot_suffix => name }, {
            insta::assert_snapshot!(snapshot);
        });
    }
    let compiled = EXAMPLES.iter().filter(|(_, e)| e.is_none()).count();
    assert!(compiled >= 8, "only {compiled} of the examples compile");
}

/// Every output of the examples that compile and of the `ok_` fixtures, in `format`.
fn outputs(format: Format, create_role: bool) -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = EXAMPLES
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(p, _)| PathBuf::from(p))
        .collect();
    files.extend(
        pipe_files("tests/fixtures/codepipeline")
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("ok_"))
            }),
    );
    files
        .iter()
        .filter_map(|p| {
            let (map, _, out) = export_file(p, options(format, create_role));
            match out {
                Ok(out) => Some((p.to_string_lossy().into_owned(), out.text)),
                // The `create-pipeline` input cannot disable a transition (E0501): those
                // files are validated in their CloudFormation forms.
                Err(e) if format == Format::CliJson && refused_for_disabled_transitions(&e) => None,
                Err(e) => panic!("{}:\n{}", p.display(), render_human(&map, &e)),
            }
        })
        .collect()
}

/// Whether the only errors are E0501 for disabled transitions in the `cli-json` form.
fn refused_for_disabled_transitions(diags: &[pipec::diagnostics::Diagnostic]) -> bool {
    let mut errors = diags.iter().filter(|d| d.is_error()).peekable();
    errors.peek().is_some()
        && errors.all(|d| {
            d.code.as_str() == "E0501" && d.message.contains("cannot disable the transition")
        })
}

#[test]
fn output_is_deterministic() {
    for format in [Format::CfnYaml, Format::CfnJson, Format::CliJson] {
        assert_eq!(outputs(format, false), outputs(format, false));
    }
}

#[test]
fn cfn_lint_accepts_every_template() {
    let Some(cfn_lint) = targets::require_venv("cfn-lint") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut files = Vec::new();
    for (format, role, ext) in [
        (Format::CfnYaml, false, "yaml"),
        (Format::CfnJson, false, "json"),
        (Format::CfnYaml, true, "role.yaml"),
    ] {
        files.extend(targets::written(dir.path(), &outputs(format, role), ext));
    }
    targets::assert_finds_nothing(&cfn_lint, &["--format", "parseable"], &files);
}

/// Validates each JSON document given as an argument against `CreatePipeline`'s input shape.
const BOTOCORE_CHECK: &str = r#"
import json, sys
import botocore.session
from botocore.validate import validate_parameters
model = botocore.session.get_session().get_service_model("codepipeline")
shape = model.operation_model("CreatePipeline").input_shape
bad = 0
for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    try:
        validate_parameters(doc, shape)
    except Exception as e:
        bad += 1
        print(path + ": " + str(e))
sys.exit(1 if bad else 0)
"#;

#[test]
fn botocore_accepts_every_create_pipeline_input() {
    let Some(python) = targets::require_venv("python3") else {
        return;
    };
    let has_botocore = Command::new(&python)
        .args(["-c", "import botocore"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_botocore {
        skip_or_fail("`python3` with botocore", targets::VENV_HOW);
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let files = targets::written(dir.path(), &outputs(Format::CliJson, false), "json");
    let out = Command::new(&python)
        .arg("-c")
        .arg(BOTOCORE_CHECK)
        .args(&files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "botocore rejected:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `#{NS.VAR}` references in a JSON value's strings (not `variables` or `codepipeline`).
fn namespaces_used(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("#{") {
                let after = &rest[i + 2..];
                if let Some(dot) = after.find('.') {
                    let ns = &after[..dot];
                    if ns != "variables" && ns != "codepipeline" {
                        out.push(ns.to_string());
                    }
                }
                rest = after;
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| namespaces_used(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| namespaces_used(x, out)),
        _ => {}
    }
}

fn names(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.get("name")
                        .and_then(serde_json::Value::as_str)
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Our own checks of a `create-pipeline` document: every `#{NS.VAR}` names the namespace of
/// an action that ran before (an earlier stage, or a lower `runOrder` of the same stage;
/// a stage's `onSuccess` may read its own), every input artifact was output before, and
/// names of stages, actions in a stage, namespaces and artifacts are unique.
fn semantic_problems(doc: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let mut artifacts: BTreeSet<String> = BTreeSet::new();
    let mut stage_names = BTreeSet::new();
    let stages = doc["pipeline"]["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for stage in &stages {
        let sname = stage["name"].as_str().unwrap_or("?").to_string();
        if !stage_names.insert(sname.clone()) {
            problems.push(format!("stage `{sname}` twice"));
        }
        let mut used = Vec::new();
        namespaces_used(&stage["beforeEntry"], &mut used);
        for ns in used {
            if !namespaces.contains(&ns) {
                problems.push(format!("entry of `{sname}` reads `{ns}` before it ran"));
            }
        }
        let actions = stage["actions"].as_array().cloned().unwrap_or_default();
        let mut orders: Vec<i64> = actions
            .iter()
            .map(|a| a["runOrder"].as_i64().unwrap_or(1))
            .collect();
        orders.sort_unstable();
        orders.dedup();
        let mut action_names = BTreeSet::new();
        for order in orders {
            let level: Vec<&serde_json::Value> = actions
                .iter()
                .filter(|a| a["runOrder"].as_i64().unwrap_or(1) == order)
                .collect();
            for a in &level {
                let aname = a["name"].as_str().unwrap_or("?");
                if !action_names.insert(aname.to_string()) {
                    problems.push(format!("action `{sname}.{aname}` twice"));
                }
                let mut used = Vec::new();
                namespaces_used(&a["configuration"], &mut used);
                for ns in used {
                    if !namespaces.contains(&ns) {
                        problems.push(format!("`{sname}.{aname}` reads `{ns}` before it ran"));
                    }
                }
                for input in names(a, "inputArtifacts") {
                    if !artifacts.contains(&input) {
                        problems.push(format!(
                            "`{sname}.{aname}` takes `{input}` before it was made"
                        ));
                    }
                }
            }
            for a in &level {
                for output in names(a, "outputArtifacts") {
                    if !artifacts.insert(output.clone()) {
                        problems.push(format!("artifact `{output}` made twice"));
                    }
                }
                if let Some(ns) = a["namespace"].as_str() {
                    if !namespaces.insert(ns.to_string()) {
                        problems.push(format!("namespace `{ns}` twice"));
                    }
                }
            }
        }
        let mut used = Vec::new();
        namespaces_used(&stage["onSuccess"], &mut used);
        for ns in used {
            if !namespaces.contains(&ns) {
                problems.push(format!(
                    "`on success` of `{sname}` reads `{ns}` that never ran"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_variable_and_input_artifact_is_produced_earlier() {
    for (name, text) in outputs(Format::CliJson, false) {
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let problems = semantic_problems(&doc);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

/// `pipec compile app.pipe --target codepipeline EXTRA…` in `t`'s folder.
fn compile_cp<'a>(t: &'a Test, extra: &[&str]) -> Run<'a> {
    t.args(["compile", "app.pipe", "--target", "codepipeline"])
        .args(extra.iter().copied())
}

#[test]
fn compile_writes_the_template_to_out() {
    let t = Test::new()
        .file("app.pipe", "pipeline app {\n  stage source {\n    action checkout: dir { path = \".\"  output = src }\n  }\n  stage build {\n    action make: sh { input = src  run = \"make\" }\n  }\n}\n");
    compile_cp(&t, &["-o", "app.yaml"]).run();
    let written = std::fs::read_to_string(t.path("app.yaml")).expect("written");
    assert!(written.contains("PipelineType: V2"), "{written}");
    assert!(written.contains("# app.pipe:6: action `make`"), "{written}");
}

#[test]
fn compile_refuses_what_codepipeline_cannot_express_and_writes_nothing() {
    let t = Test::new()
        .file("app.pipe", "pipeline app {\n  stage source {\n    action checkout: dir { path = \".\"  output = src }\n  }\n  stage build {\n    on failure retry 3\n    action make: sh { input = src  run = \"make\" }\n  }\n}\n");
    compile_cp(&t, &["-o", "app.yaml"])
        .status(1)
        .stderr_contains("E0504")
        .run();
    assert!(!t.path("app.yaml").exists());
}

#[test]
fn output_formats_are_for_the_codepipeline_target() {
    Test::new()
        .file(
            "app.pipe",
            "pipeline app { stage build { action make: sh { run = \"make\" } } }\n",
        )
        .args(["compile", "app.pipe", "--format", "cfn-json"])
        .status(2)
        .stderr_contains("--target codepipeline")
        .run();
}

#[test]
fn cli_json_refuses_a_disabled_transition_the_template_keeps() {
    let src = "pipeline app {\n  stage build { action make: sh { run = \"make\" } }\n  stage deploy { action ship: sh { run = \"./ship\" } }\n  transition build -> deploy disabled \"freeze\"\n}\n";
    let t = Test::new().file("app.pipe", src);
    compile_cp(&t, &["--format", "cli-json", "-o", "app.json"])
        .status(1)
        .stderr_contains("E0501")
        .stderr_contains("cannot disable the transition build -> deploy")
        .stderr_contains("app.pipe:4:")
        .run();
    assert!(!t.path("app.json").exists());
    let out = compile_cp(&t, &[]).run();
    assert!(
        out.stdout.contains("DisableInboundStageTransitions"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_cli_flags_choose_the_form_the_roles_and_the_params() {
    let t = Test::new().file(
        "app.pipe",
        "pipeline app {\n  param env: string = \"staging\"\n  stage source {\n    action checkout: dir { path = \".\"  output = src }\n  }\n  stage build {\n    action make: sh { input = src  run = \"make ${params.env}\" }\n  }\n}\n",
    );
    // `--format cfn-yaml` is the default form.
    let default = compile_cp(&t, &[]).run();
    let yaml = compile_cp(&t, &["--format", "cfn-yaml"]).run();
    assert_eq!(default.stdout, yaml.stdout);
    // Without `--create-role` the roles are parameters; with it they are resources.
    let doc = compile_cp(&t, &["--format", "cfn-json"]).run().json();
    assert!(doc["Parameters"]["PipelineRoleArn"].is_object(), "{doc:#}");
    let types = |doc: &serde_json::Value| -> BTreeSet<String> {
        doc["Resources"]
            .as_object()
            .expect("resources")
            .values()
            .filter_map(|r| r["Type"].as_str().map(str::to_string))
            .collect()
    };
    assert!(!types(&doc).contains("AWS::IAM::Role"));
    let created = compile_cp(
        &t,
        &[
            "--format",
            "cfn-json",
            "--create-role",
            "--param",
            "env=prod",
        ],
    )
    .run()
    .json();
    assert!(
        created["Parameters"]["PipelineRoleArn"].is_null(),
        "{created:#}"
    );
    let made = types(&created);
    assert!(
        made.contains("AWS::IAM::Role") && made.contains("AWS::S3::Bucket"),
        "{made:?}"
    );
    // `--param` sets the pipeline variable's default.
    let pipeline = created["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["Type"] == "AWS::CodePipeline::Pipeline")
        .expect("the pipeline");
    assert_eq!(
        pipeline["Properties"]["Variables"][0]["DefaultValue"],
        "prod"
    );
}

#[test]
fn cli_json_on_stdout_is_a_create_pipeline_input() {
    let t = Test::new().file(
        "app.pipe",
        "pipeline app { stage build { action make: sh { run = \"make\" } } }\n",
    );
    // The projects are not in this format: W0005 says so.
    let out = compile_cp(&t, &["--format", "cli-json"])
        .stderr_contains("W0005")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["pipeline"]["pipelineType"], "V2");
}

/// A generated pipeline: stages of `sh`, `approval` and `wait` actions with artifacts,
/// exports, params, conditions, failure policies, transitions and triggers, chosen by
/// `choices` (most check clean; those that do not are skipped).
pub(crate) fn generated(choices: &[u8]) -> String {
    let pick = |i: usize, n: u8| choices.get(i).copied().unwrap_or(0) % n;
    let mut s = String::from("pipeline gen {\n");
    s.push_str(["", "  mode queued\n", "  mode parallel\n"][usize::from(pick(0, 3))]);
    s.push_str(
        "  param target: string = \"staging\"\n  param flag: bool = true\n  param count: int = 2\n",
    );
    s.push_str(
        [
            "",
            "  trigger push { branches = [\"main\"] }\n",
            "  trigger schedule { cron = \"0 3 * * 1-5\" }\n",
        ][usize::from(pick(1, 3))],
    );
    s.push_str("  stage source {\n    action checkout: dir { path = \".\"  output = src }\n  }\n");
    let stages = 1 + usize::from(pick(2, 4));
    for k in 0..stages {
        let at = 3 + k * 8;
        let _ = writeln!(s, "  stage s{k} {{");
        match pick(at, 5) {
            1 => s.push_str("    entry { require params.target == \"prod\"  else skip }\n"),
            2 => s.push_str("    entry { require params.flag  else fail }\n"),
            3 => s.push_str("    entry { window \"* 8-16 * * 1-5\"  else fail }\n"),
            _ => {}
        }
        match pick(at + 1, 5) {
            1 => s.push_str("    on failure retry\n"),
            2 => s.push_str("    on failure retry 2 all\n"),
            3 => s.push_str("    on failure rollback\n"),
            _ => {}
        }
        let actions = 1 + usize::from(pick(at + 2, 3));
        for j in 0..actions {
            let after = if j > 0 && pick(at + 3, 2) == 1 {
                format!("after = [a{}]  ", j - 1)
            } else {
                String::new()
            };
            match pick(at + 4 + j, 6) {
                4 => {
                    let _ = writeln!(
                        s,
                        "    action a{j}: approval {{ {after}summary = \"ok ${{params.target}}?\"  timeout = 1h }}"
                    );
                }
                5 => {
                    let _ = writeln!(s, "    action a{j}: wait {{ {after}duration = 1m }}");
                }
                n => {
                    let retry = if n == 1 { "retry = 1  " } else { "" };
                    let timeout = if n == 2 { "timeout = 2m  " } else { "" };
                    let read = if k > 0 && n == 3 {
                        "env = { V = s0.a0.v }  "
                    } else {
                        ""
                    };
                    let _ = write!(
                        s,
                        "    action a{j}: sh {{ {after}input = src  {retry}{timeout}{read}exports = [v]  output = o{k}_{j} from \"out\"\n      run = \"mkdir -p out && echo v=${{params.count}} >> \\\"$PIPEC_OUTPUT\\\" && echo ${{params.target}} > out/t\" }}\n"
                    );
                }
            }
        }
        s.push_str("  }\n");
    }
    if stages > 2 && pick(40, 2) == 1 {
        s.push_str("  transition s0 -> s1 when params.target == \"prod\"\n");
    }
    s.push_str("}\n");
    s
}

#[test]
fn generated_pipelines_compile_and_validate_or_fail_with_e05xx() {
    let generated = targets::generated_exports(
        256,
        |text| text,
        |ir, m| cp::export(ir, Some(m), &Options::default()),
        |ir, m, _| {
            let json = cp::export(ir, Some(m), &options(Format::CliJson, false))
                .expect("the same pipeline in JSON");
            let doc: serde_json::Value = serde_json::from_str(&json.text).expect("JSON");
            semantic_problems(&doc)
        },
    );
    assert!(
        generated.checked * 4 >= generated.cases as usize,
        "only {} of {} generated pipelines checked clean",
        generated.checked,
        generated.cases
    );
    let Some(cfn_lint) = venv_program("cfn-lint") else {
        return; // cfn_lint_accepts_every_template says why, once
    };
    let dir = tempfile::tempdir().expect("tmp");
    let files = targets::written(dir.path(), &generated.compiled, "yaml");
    targets::assert_finds_nothing(&cfn_lint, &["--format", "parseable"], &files);
}

/// The runner of a generated project's buildspec (the literal block under `commands`).
fn runner_of(template: &serde_json::Value, project: &str) -> String {
    let spec = template["Resources"][project]["Properties"]["Source"]["BuildSpec"]
        .as_str()
        .unwrap_or_else(|| panic!("no project {project}"));
    let lines: Vec<&str> = spec.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end().ends_with("- |"))
        .expect("a literal block")
        + 1;
    let indent = lines[start].len() - lines[start].trim_start().len();
    lines[start..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_generated_build_runs_the_script_with_its_pipec_meaning() {
    let (_, _, out) = export_file(
        Path::new("examples/hello/hello.pipe"),
        options(Format::CfnJson, false),
    );
    let template: serde_json::Value =
        serde_json::from_str(&out.expect("hello compiles").text).expect("JSON");
    let runner = runner_of(&template, "ProjectBuildGreet");
    let src = tempfile::tempdir().expect("tmp");
    for f in ["greet.sh", "VERSION"] {
        std::fs::copy(Path::new("examples/hello").join(f), src.path().join(f)).expect("copy");
    }
    let hostile = "wor ld; $(touch pwned) `touch pwned2` '\"";
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{runner}\necho \"exported version=$version\""))
        .env("CODEBUILD_SRC_DIR", src.path())
        .env("PIPEC_ARG_1", hostile)
        .current_dir(src.path())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("exported version=1.0.0"), "{stdout}");
    let site = src.path().join(".pipec/out/site/out");
    let greeting = std::fs::read_to_string(site.join("greeting.txt")).expect("the output artifact");
    assert_eq!(greeting.trim_end(), format!("Hello, {hostile}!"));
    assert!(!src.path().join("pwned").exists() && !src.path().join("pwned2").exists());
}

#[test]
fn the_generated_build_retries_and_fails_on_a_missing_export() {
    let text = "pipeline app {\n  stage build {\n    action flaky: sh {\n      retry = { count = 2, backoff = 1s }\n      exports = [v]\n      run = \"n=$(cat \\\"$PIPEC_PIPELINE_DIR/n\\\" 2>/dev/null || echo 0); echo $((n + 1)) > \\\"$PIPEC_PIPELINE_DIR/n\\\"; [ $PIPEC_ATTEMPT -ge 2 ] && echo v=ok >> \\\"$PIPEC_OUTPUT\\\"; true\"\n    }\n  }\n}\n";
    let mut map = SourceMap::new();
    let id = map.add("app.pipe", text);
    let ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader)
        .ir
        .expect("checks clean");
    let out = cp::export(&ir, Some(&map), &options(Format::CfnJson, false)).expect("compiles");
    let template: serde_json::Value = serde_json::from_str(&out.text).expect("JSON");
    let runner = runner_of(&template, "ProjectBuildFlaky");
    let src = tempfile::tempdir().expect("tmp");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{runner}\necho \"exported v=$v\""))
        .env("CODEBUILD_SRC_DIR", src.path())
        .current_dir(src.path())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("export `v` was not written"),
        "the first attempt fails: {stdout}"
    );
    assert!(stdout.contains("exported v=ok"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(src.path().join("n"))
            .expect("attempts")
            .trim(),
        "2"
    );
}

proptest! {
    #![proptest_config(Config { cases: crate::fuzz::cases(128), failure_persistence: None, ..Config::default() })]

    /// The fuzz tests' mutated programs (examples and fixtures with edits spliced in): those
    /// that check clean export, or fail with `E05xx` errors only; never a panic.
    #[test]
    fn mutated_programs_that_check_clean_export_or_fail_with_e05xx(
        seed in any::<usize>(),
        edits in proptest::collection::vec(crate::fuzz::edit(), 0..4),
    ) {
        let seeds = crate::fuzz::seeds();
        let text = crate::fuzz::apply(&seeds[seed % seeds.len()], &edits);
        let mut map = SourceMap::new();
        let id = map.add("mutated.pipe", text.clone());
        if let Some(ir) = pipec::compile(&mut map, id, &mut pipec::check::NoLoader).ir {
            for format in [Format::CfnYaml, Format::CliJson] {
                if let Err(errors) = cp::export(&ir, Some(&map), &options(format, false)) {
                    let only_e05 = errors.iter().filter(|d| d.is_error()).all(|d| d.code.as_str().starts_with("E05"));
                    prop_assert!(only_e05, "{text}\n{}", render_human(&map, &errors));
                }
            }
        }
    }
}
