//! `pipec compile --target argo` (docs/targets/argo.md): a fixture per mapping row and per
//! refusal (`fixtures/argo/`, `// expect:` headers, the resource or the report snapshotted),
//! every example compiled or refused with its documented codes, Argo's published JSON schema
//! in a strict copy derived here (`additionalProperties: false` on every object schema that
//! lists its properties, so a misspelled key is an error) and semantic checks of our own
//! (every template, task, parameter and artifact a resource names exists), a stage's script
//! run by bash with hostile values, determinism, generated pipelines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipec::diagnostics::Code;
use pipec::export::argo;

use crate::support::{Test, targets, venv_program};

fn export_file(path: &Path) -> targets::Export {
    targets::export_file(path, |ir, map| argo::export(ir, Some(map)))
}

fn run_fixture(path: &Path) {
    insta::assert_snapshot!(targets::fixture_report(path, export_file));
}

#[test]
fn fixture() {
    insta::glob!("fixtures/argo/*.pipe", run_fixture);
}

/// What each runnable example gives: `None` compiles, else the codes of its errors.
const EXAMPLES: &[(&str, Option<&[Code]>)] = &[
    ("examples/aws-release.pipe", Some(&[Code::E0501])),
    ("examples/gated/gated.pipe", Some(&[Code::E0501])),
    ("examples/hello/hello.pipe", Some(&[Code::E0501])),
    (
        "examples/library-release.pipe",
        Some(&[Code::E0501, Code::E0502]),
    ),
    ("examples/monorepo.pipe", Some(&[Code::E0501, Code::E0502])),
    ("examples/multi-region.pipe", Some(&[Code::E0501])),
    ("examples/nightly.pipe", Some(&[Code::E0502])),
    (
        "examples/preview-vs-prod.pipe",
        Some(&[Code::E0501, Code::E0502]),
    ),
    ("examples/web-service.pipe", Some(&[Code::E0501])),
    ("examples/webapp.pipe", Some(&[Code::E0501, Code::E0502])),
    ("examples/wordcount/wordcount.pipe", Some(&[Code::E0501])),
];

#[test]
fn every_example_compiles_or_fails_with_its_documented_codes() {
    for (name, report) in targets::example_reports(EXAMPLES, export_file) {
        insta::with_settings!({ snapshot_suffix => name }, {
            insta::assert_snapshot!(report);
        });
    }
}

/// Every resource of the examples that compile and of the `ok_` fixtures.
fn resources() -> Vec<(String, String)> {
    targets::compiled(EXAMPLES, "tests/fixtures/argo", export_file)
}

/// The strict schema (derived), then our checks; prints one line per problem.
const CHECK: &str = r##"
import json, re, sys, copy
import yaml
import jsonschema

schema = json.load(open(sys.argv[1]))

def strict(node):
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for v in node.values():
            strict(v)
    elif isinstance(node, list):
        for v in node:
            strict(v)

strict(schema)
validators = {}
for kind in ("Workflow", "CronWorkflow"):
    one = dict(schema)
    one.pop("oneOf")
    one["$ref"] = "#/definitions/io.argoproj.workflow.v1alpha1." + kind
    validators[kind] = jsonschema.Draft202012Validator(one)
bad = []

def problems(path, doc):
    validator = validators.get(doc.get("kind"))
    if validator is None:
        bad.append(f"{path}: kind {doc.get('kind')}")
        return
    for e in validator.iter_errors(doc):
        bad.append(f"{path}: schema: {e.message} at {list(e.absolute_path)}")
    spec = doc["spec"].get("workflowSpec", doc["spec"])
    templates = {t["name"]: t for t in spec["templates"]}
    wf_params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    if spec["entrypoint"] not in templates:
        bad.append(f"{path}: no entrypoint template")
    for t in spec["templates"]:
        declared = {p["name"] for p in t.get("inputs", {}).get("parameters", [])}
        text = json.dumps(t.get("container", {}))
        for ref in re.findall(r"\{\{inputs\.parameters\.([^}]+)\}\}", text):
            if ref not in declared:
                bad.append(f"{path}: template {t['name']} reads undeclared input {ref}")
        for ref in re.findall(r"\{\{workflow\.parameters\.([^}]+)\}\}", json.dumps(t)):
            if ref not in wf_params:
                bad.append(f"{path}: unknown workflow parameter {ref}")
        if "dag" not in t:
            continue
        tasks = {k["name"]: k for k in t["dag"]["tasks"]}
        for k in t["dag"]["tasks"]:
            tt = templates.get(k["template"])
            if tt is None:
                bad.append(f"{path}: task {k['name']} names no template {k['template']}")
                continue
            for dep in re.findall(r"([a-z0-9-]+)\.(?:Succeeded|Skipped|Omitted|Failed)", k.get("depends", "")):
                if dep not in tasks:
                    bad.append(f"{path}: task {k['name']} depends on unknown task {dep}")
            want = {p["name"] for p in tt.get("inputs", {}).get("parameters", [])}
            given = {p["name"] for p in k.get("arguments", {}).get("parameters", [])}
            if want != given:
                bad.append(f"{path}: task {k['name']} passes {sorted(given)}, its template takes {sorted(want)}")
            want_a = {a["name"] for a in tt.get("inputs", {}).get("artifacts", [])}
            given_a = {a["name"] for a in k.get("arguments", {}).get("artifacts", [])}
            if want_a != given_a:
                bad.append(f"{path}: task {k['name']} passes artifacts {sorted(given_a)}, its template takes {sorted(want_a)}")
            text = json.dumps(k)
            for src, kind, name in re.findall(r"\{\{tasks\.([a-z0-9-]+)\.outputs\.(parameters|artifacts)\.([^}]+)\}\}", text):
                other = tasks.get(src)
                if other is None:
                    bad.append(f"{path}: task {k['name']} reads unknown task {src}")
                    continue
                outs = {o["name"] for o in templates[other["template"]].get("outputs", {}).get(kind, [])}
                if name not in outs:
                    bad.append(f"{path}: task {k['name']} reads {kind} {name} that {src} does not output")
                if src not in k.get("depends", ""):
                    bad.append(f"{path}: task {k['name']} reads {src} without depending on it")

for path in sys.argv[2:]:
    problems(path, yaml.safe_load(open(path)))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
"##;

const SCHEMA: &str = "tests/data/argo/argo-workflows.schema.json";

/// The schema's path: `PIPEC_ARGO_SCHEMA`, else the vendored copy.
fn schema() -> Option<PathBuf> {
    std::env::var_os("PIPEC_ARGO_SCHEMA")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(SCHEMA)))
        .filter(|p| p.is_file())
}

/// [`CHECK`] run over the resources `all`, or `None` (after one line, or a failure where
/// tests may not skip) without python3 or the schema.
fn checked(all: &[(String, String)]) -> Option<Output> {
    let python = targets::require_venv("python3")?;
    let Some(schema) = schema() else {
        crate::support::skip_or_fail(
            "Argo's JSON schema (`tests/data/argo/argo-workflows.schema.json`, or `PIPEC_ARGO_SCHEMA`)",
            "restore the vendored schema (or point PIPEC_ARGO_SCHEMA at one); python3 with jsonschema and pyyaml comes from the validators' venv (apt-get install python3-venv)",
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let files = targets::written(dir.path(), all, "argo.yaml");
    let out = Command::new(python)
        .arg("-c")
        .arg(CHECK)
        .arg(&schema)
        .args(&files)
        .output()
        .expect("python3");
    Some(out)
}

fn check(all: &[(String, String)]) {
    let Some(out) = checked(all) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_strict_argo_schema_and_our_checks_accept_every_resource() {
    check(&resources());
}

#[test]
fn the_strict_schema_refuses_a_misspelled_key() {
    let (_, text) = resources().into_iter().next().expect("a resource");
    let bad = text.replacen("  templates:", "  template:", 1);
    let Some(out) = checked(&[("bad.yaml".to_string(), bad)]) else {
        return;
    };
    assert!(!out.status.success(), "a misspelled key passed");
}

#[test]
fn output_is_deterministic() {
    assert_eq!(resources(), resources());
}

#[test]
fn generated_pipelines_validate_or_fail_with_e05xx() {
    // The generator's `dir` source is refused on Argo: a `git` source instead.
    let generated = targets::generated_exports(
        128,
        |text| {
            text.replace(
                "action checkout: dir { path = \".\"  output = src }",
                "action checkout: git { repo = \"https://github.com/acme/app.git\"  output = src }",
            )
        },
        |ir, m| argo::export(ir, Some(m)),
        |_, _, _| Vec::new(),
    );
    if venv_program("python3").is_some() && schema().is_some() {
        check(&generated.compiled);
    }
}

#[test]
fn a_stage_script_runs_with_its_pipec_meaning() {
    let t = Test::new().file("app.pipe", &targets::greeting_app("  mode parallel\n"));
    let (_, _, out) = export_file(&t.path("app.pipe"));
    let text = out.expect("compiles").text;
    // The container's script: the literal block under `args:` of the stage's template.
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "- name: stage-build")
        .expect("the template");
    let args = at
        + lines[at..]
            .iter()
            .position(|l| l.trim() == "args:")
            .expect("args");
    let indent = lines[args + 1].len() - lines[args + 1].trim_start().len() + 4;
    let mut script = String::new();
    for l in &lines[args + 2..] {
        if !l.trim().is_empty() && l.len() - l.trim_start().len() < indent {
            break;
        }
        script.push_str(l.get(indent..).unwrap_or(""));
        script.push('\n');
    }
    let work = t.path("work");
    std::fs::create_dir_all(&work).expect("work");
    let hostile = "$(touch pwned) `touch pwned2` \"; touch pwned3 )";
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env("PIPEC_WORK", &work)
        .env("PIPEC_WORKFLOW", "app-x1")
        .env("PIPEC_IN_1", hostile)
        .status()
        .expect("bash");
    assert!(status.success(), "{script}");
    let v = std::fs::read_to_string(work.join(".pipec/x/make__v")).expect("export");
    assert_eq!(v, format!("hello {hostile}"));
    let saved = std::fs::read_to_string(work.join(".pipec/art/site/out/g.txt")).expect("artifact");
    assert_eq!(saved, format!("hello {hostile}\n"));
    targets::assert_nothing_ran(&t.path("."));
}
