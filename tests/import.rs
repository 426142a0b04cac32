//! `pipec import codepipeline`: the real-world corpus (`tests/data/corpus/codepipeline/`,
//! vendored) imported and snapshotted, its output in `pipec fmt`'s layout,
//! checked clean and round-tripped through `compile --target codepipeline` (those two need
//! the `aws` kind), the CLI's files and errors, and one case per mapping row.

use std::path::{Path, PathBuf};

use pipec::import::model::{Action, Pipeline};
use pipec::import::tree::{Part, Text};
use pipec::import::{Imported, Importer};

use crate::support::Test;

/// The vendored corpus (`tests/data/corpus/codepipeline/`, byte for byte as published).
const CORPUS: &str = "tests/data/corpus/codepipeline";

/// The corpus files (not its SOURCES.md), sorted.
fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let entries = std::fs::read_dir(&dir).expect("the corpus is in the repository");
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "SOURCES.md"))
        .collect();
    files.sort();
    files
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn import_file(path: &Path) -> Result<Vec<Imported>, pipec::import::Error> {
    let text = std::fs::read_to_string(path).expect("corpus files are text");
    Importer::import(&name_of(path), &text)
}

/// The snapshot of an import: every pipeline's text, or the error as the CLI words it.
fn report(result: &Result<Vec<Imported>, pipec::import::Error>) -> String {
    match result {
        Ok(pipelines) => pipelines
            .iter()
            .map(|p| format!("// ==== {}.pipe ====\n{}", p.name, p.text))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!(
            "error at {}:{}: {}\nhelp: {}\n",
            e.line.unwrap_or(0),
            e.column.unwrap_or(0),
            e.message,
            e.help
        ),
    }
}

#[test]
fn corpus_imports_or_gives_its_clear_error() {
    let files = corpus();
    assert_eq!(files.len(), 15, "the corpus holds 15 files");
    for path in &files {
        let name = name_of(path);
        let result = import_file(path);
        if name.starts_with("12-") {
            let e = result
                .as_ref()
                .expect_err("12 is the deliberately broken template");
            assert!(e.message.contains("%ServiceName%"), "{e:?}");
            assert_eq!((e.line, e.column), (Some(3), Some(12)));
        } else {
            assert!(result.is_ok(), "{name}: {result:?}");
        }
        insta::with_settings!({ snapshot_suffix => name.clone() }, {
            insta::assert_snapshot!(report(&result));
        });
    }
}

#[test]
fn corpus_output_is_in_fmt_layout() {
    let files = corpus();
    for path in &files {
        for p in import_file(path).unwrap_or_default() {
            let again = pipec::format_source(&p.text).expect("imported text parses");
            assert_eq!(
                again,
                p.text,
                "{}: not in `pipec fmt` layout",
                name_of(path)
            );
        }
    }
}

#[test]
fn corpus_import_is_deterministic() {
    let files = corpus();
    for path in &files {
        assert_eq!(report(&import_file(path)), report(&import_file(path)));
    }
}

#[test]
fn corpus_checks_clean_with_deny_warnings() {
    let files = corpus();
    for path in &files {
        for p in import_file(path).unwrap_or_default() {
            let (_, diagnostics) = pipec::check_source("imported.pipe", &p.text);
            assert!(
                diagnostics.is_empty(),
                "{}: {diagnostics:#?}\n{}",
                name_of(path),
                p.text
            );
        }
    }
}

/// What a round trip must keep of an action: names, type, configuration (variables
/// reduced to a marker: `${params.X}` comes back as `#{variables.X}`), artifacts, and its
/// place in the stage's run order (levels renumbered from 1: `after` keeps the order, not
/// the numbers). Names are compared as pipec identifiers: a name pipec renamed
/// (`Deploy-Prod` → `Deploy_Prod`) comes back renamed unless the exporter keeps originals.
fn structure(p: &Pipeline) -> Vec<String> {
    let mut out = Vec::new();
    for stage in p.stages.iter().filter(|s| !s.name.starts_with("pipec_")) {
        let mut levels: Vec<i64> = stage
            .actions
            .iter()
            .map(|a| a.run_order.unwrap_or(1))
            .collect();
        levels.sort_unstable();
        levels.dedup();
        for a in &stage.actions {
            let level = levels
                .iter()
                .position(|l| *l == a.run_order.unwrap_or(1))
                .unwrap_or(0);
            out.push(action_line(&id(&stage.name), a, level + 1));
        }
    }
    out
}

/// A name as the importer makes it an identifier.
fn id(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert(0, '_');
    }
    id
}

fn action_line(stage: &str, a: &Action, level: usize) -> String {
    // `Configuration` is a JSON object: its keys are compared as a set (the exporter
    // writes them sorted, the original in any order).
    let mut config: Vec<String> = a
        .configuration
        .iter()
        .map(|(k, v)| format!("{k}={}", canonical(v)))
        .collect();
    config.sort();
    format!(
        "{stage}.{} {}/{}/{}/{} order={level} in={:?} out={:?} ns={:?} {}",
        id(&a.name),
        a.category,
        a.owner,
        a.provider,
        a.version,
        a.inputs.iter().map(|i| id(i)).collect::<Vec<_>>(),
        a.outputs.iter().map(|o| id(o)).collect::<Vec<_>>(),
        a.namespace,
        config.join(" ")
    )
}

/// A value with every variable reduced to `#{var}`.
fn canonical(t: &Text) -> String {
    let mut out = String::new();
    for part in &t.0 {
        match part {
            Part::Lit(s) => {
                let mut rest = s.as_str();
                while let Some(i) = rest.find("#{variables.") {
                    out.push_str(&rest[..i]);
                    let end = rest[i..].find('}').map_or(rest.len(), |e| i + e + 1);
                    out.push_str("#{var}");
                    rest = &rest[end..];
                }
                out.push_str(rest);
            }
            Part::Param(_) | Part::Unresolved(_) => out.push_str("#{var}"),
            Part::Note(_) => {}
        }
    }
    out
}

/// Imports `text`, compiles each pipeline back to CloudFormation, reads that back with the
/// importer's own reader, and compares the two models' structure.
fn assert_round_trip(name: &str, text: &str) {
    let Ok(originals) = Importer::read(name, text) else {
        return;
    };
    let imported = Importer::import(name, text).expect("imports");
    for (original, p) in originals.iter().zip(&imported) {
        let t = Test::new().file("app.pipe", &p.text);
        let args = [
            "compile",
            "app.pipe",
            "--target",
            "codepipeline",
            "--format",
            "cfn-json",
        ];
        if original.stages.len() < 2 {
            // The other stages are known only to the file's own tool (a Terraform
            // `dynamic "stage"` block): CodePipeline refuses a pipeline of one stage, and so
            // does the exporter, saying so.
            t.args(args)
                .status(1)
                .stderr_contains("E0505")
                .stderr_contains("only its source stage")
                .run();
            continue;
        }
        let out = t.args(args).run();
        let back = Importer::read("app.json", &out.stdout).expect("our own template reads back");
        // `Commands` actions come back as the CodeBuild projects of `sh` actions: their
        // type and configuration differ, the rest (name, order, artifacts) is compared.
        let commands: Vec<(String, String)> = original
            .stages
            .iter()
            .flat_map(|s| {
                s.actions
                    .iter()
                    .filter(|a| a.provider == "Commands")
                    .map(|a| (id(&s.name), id(&a.name)))
            })
            .collect();
        let keep = |p: &Pipeline| {
            let mut p = p.clone();
            for s in &mut p.stages {
                for a in &mut s.actions {
                    if commands.contains(&(id(&s.name), id(&a.name))) {
                        "sh".clone_into(&mut a.category);
                        "sh".clone_into(&mut a.provider);
                        "-".clone_into(&mut a.owner);
                        "-".clone_into(&mut a.version);
                        a.configuration.clear();
                    }
                }
            }
            p
        };
        assert_eq!(
            structure(&keep(original)),
            structure(&keep(&back[0])),
            "{name}: the round trip changed the pipeline\n{}",
            p.text
        );
    }
}

#[test]
fn corpus_round_trips_through_compile_to_codepipeline() {
    let files = corpus();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("text");
        assert_round_trip(&name_of(path), &text);
    }
}

#[test]
fn a_pipeline_of_approvals_round_trips_through_compile_to_codepipeline() {
    let approval =
        r#"{"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}"#;
    let action = |name: &str, order: u32, data: &str| {
        format!(
            r#"{{"Name": "{name}", "RunOrder": {order}, "ActionTypeId": {approval},
               "Configuration": {{"CustomData": {data}}}}}"#
        )
    };
    let template = format!(
        r#"{{"Parameters": {{"Env": {{"Type": "String", "Default": "prod"}}}},
  "Resources": {{"Pipe": {{"Type": "AWS::CodePipeline::Pipeline", "Properties": {{
    "Name": "app", "ExecutionMode": "QUEUED",
    "Variables": [{{"Name": "Who", "DefaultValue": "ops"}}],
    "Stages": [
      {{"Name": "First", "Actions": [{}, {}, {}]}},
      {{"Name": "Second", "Actions": [{}]}}]}}}}}}}}"#,
        action("a", 1, r#""first""#),
        action("b", 1, r#""for #{variables.Who}""#),
        action("c", 4, r#"{"Fn::Sub": "in ${Env}"}"#),
        action("d", 1, r#""last""#)
    );
    assert_round_trip("p.json", &template);
}

// ---- the CLI ----

const TWO: &str = r#"{"Resources": {
  "A": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Name": "first", "Stages": [
    {"Name": "Gate", "Actions": [{"Name": "Ok", "ActionTypeId": {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}}]}]}},
  "B": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Name": "second", "Stages": [
    {"Name": "Gate", "Actions": [{"Name": "Ok", "ActionTypeId": {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}}]}]}}}}"#;

#[test]
fn import_writes_the_pipe_text_to_stdout() {
    let one = r#"{"pipeline": {"name": "first", "stages": [{"name": "Gate", "actions": [
      {"name": "Ok", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}]},
      "metadata": {"pipelineArn": "arn:aws:codepipeline:eu-west-1:111111111111:first"}}"#;
    let t = Test::new().file("p.json", one);
    let out = t.args(["import", "codepipeline", "p.json"]).run();
    assert!(out.stdout.contains("pipeline first {"), "{}", out.stdout);
    assert!(
        out.stdout.contains("action Ok: approval {}"),
        "{}",
        out.stdout
    );
}

#[test]
fn import_writes_several_pipelines_to_files_named_after_them() {
    let t = Test::new().file("p.json", TWO);
    t.args(["import", "codepipeline", "p.json", "-o", "ci.pipe"])
        .stderr_contains("wrote ci.first.pipe")
        .run();
    let first = std::fs::read_to_string(t.path("ci.first.pipe")).expect("written");
    let second = std::fs::read_to_string(t.path("ci.second.pipe")).expect("written");
    assert!(first.contains("pipeline first {") && second.contains("pipeline second {"));
    t.args([
        "check",
        "--deny-warnings",
        "ci.first.pipe",
        "ci.second.pipe",
    ])
    .run();
}

#[test]
fn import_prints_several_pipelines_one_after_another() {
    let t = Test::new().file("p.json", TWO);
    t.args(["import", "codepipeline", "p.json"])
        .stdout_starts_with("// ==== first.pipe ====\n")
        .stdout_contains("// ==== second.pipe ====\n")
        .run();
}

#[test]
fn import_of_invalid_yaml_says_where_and_exits_1() {
    let t = Test::new().file("p.yaml", "Resources:\n  P:\n    Type: [unclosed\n");
    t.args(["import", "codepipeline", "p.yaml"])
        .status(1)
        .stderr_contains("error: p.yaml:")
        .stderr_contains("invalid YAML")
        .stderr_contains("help: fix the YAML")
        .run();
}

#[test]
fn import_of_a_file_without_pipelines_exits_1() {
    let t = Test::new().file("p.yaml", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n");
    t.args(["import", "codepipeline", "p.yaml"])
        .status(1)
        .stderr_contains("no CodePipeline pipeline in this file")
        .run();
}

#[test]
fn import_of_a_template_with_placeholders_names_them_and_exits_1() {
    let t = Test::new().file(
        "p.json",
        "{\n  \"pipeline\": {\"name\": \"%Name%\", \"stages\": []}\n}\n",
    );
    t.args(["import", "codepipeline", "p.json"])
        .status(1)
        .stderr_contains("error: p.json:2:25: the file is a template with placeholders")
        .stderr_contains("%Name%")
        .run();
}

#[test]
fn import_of_a_missing_file_exits_2() {
    Test::new()
        .args(["import", "codepipeline", "nope.yaml"])
        .status(2)
        .stderr_contains("cannot read `nope.yaml`")
        .run();
}

#[test]
fn import_help_teaches_by_example() {
    Test::new()
        .args(["import", "codepipeline", "--help"])
        .stdout_contains("get-pipeline")
        .stdout_contains("OUT.NAME.pipe")
        .run();
}

// ---- arbitrary input never panics ----

/// The corpus files' names and texts (none without the corpus), read once.
fn corpus_texts() -> &'static [(String, String)] {
    static TEXTS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    TEXTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter_map(|p| Some((name_of(&p), std::fs::read_to_string(&p).ok()?)))
            .collect();
        out.sort();
        out
    })
}

mod properties {
    use proptest::prelude::*;

    use pipec::import::Importer;

    /// Pieces of the formats, so random files look like them often enough to go deep.
    const PIECES: &[&str] = &[
        "Resources:\n",
        "  P:\n",
        "    Type: AWS::CodePipeline::Pipeline\n",
        "    Properties:\n",
        "      Stages:\n",
        "        - Name: S\n",
        "          Actions:\n",
        "            - Name: A\n",
        "              ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: '1'}\n",
        "              Configuration: {ProjectName: !Ref X, K: !Sub '${AWS::Region}-#{NS.V}'}\n",
        "              RunOrder: 2\n",
        "              InputArtifacts: [{Name: a}]\n",
        "              OutputArtifacts: [{Name: a-b}]\n",
        "              Namespace: NS\n",
        "!If [C, a, !GetAtt B.Arn]",
        "!Join ['', [a, !Ref P]]",
        "{\"Fn::Sub\": [\"${x}\", {\"x\": 1}]}",
        "{\"pipeline\": {\"stages\": [",
        "{\"name\": \"s\", \"actions\": [{\"name\": \"a\"}]}",
        "]}}",
        "resource \"aws_codepipeline\" \"x\" {\n",
        "stage {\n",
        "action {\n",
        "name = \"${var.a}\"\n",
        "}\n",
        "dynamic \"stage\" { for_each = [1]\n content {\n",
        "#{variables.V}",
        "%NAME%",
        "\t",
        "\r\n",
        "[",
        "]",
        "{",
        "}",
        ":",
        "-",
        "*a",
        "&a",
        "'",
        "\"",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz::cases(512), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), ext in 0..4usize) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let name = ["p.yaml", "p.json", "p.tf", "p.sh"][ext];
            if let Err(e) = Importer::import(name, &text) {
                prop_assert!(!e.message.starts_with("internal error"), "{e:?}");
            }
        }

        #[test]
        fn mutated_corpus_files_never_panic(
            file in any::<usize>(),
            edits in proptest::collection::vec((any::<usize>(), 0..40usize, 0..PIECES.len()), 1..6),
        ) {
            let files = super::corpus_texts();
            if files.is_empty() {
                return Ok(());
            }
            let (name, text) = &files[file % files.len()];
            let mut text = text.clone();
            for (at, len, piece) in edits {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + len).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(at..end, PIECES[piece]);
            }
            if let Err(e) = Importer::import(name, &text) {
                prop_assert!(!e.message.starts_with("internal error"), "{e:?}");
            }
        }

        /// Any text (but `#{…}` references) comes out as a string literal that reads back
        /// as itself: escapes, interpolation markers, block strings' layout.
        #[test]
        fn values_read_back_exactly(value in "[a-z \\t\\n\"\\\\${}'!%\\u{e9}\\u{7}]{0,40}") {
            let stage = format!(
                r#"{{"pipeline": {{"name": "app", "stages": [{{"name": "Gate", "actions": [{{"name": "Ok",
                  "actionTypeId": {{"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}},
                  "configuration": {{"CustomData": {}}}}}]}}]}}}}"#,
                serde_json::to_string(&value).expect("json")
            );
            let Ok(imported) = Importer::import("p.json", &stage) else {
                // `%AB%` and `{{AB}}` are placeholders: refused, which is right.
                return Ok(());
            };
            let mut map = pipec::source::SourceMap::new();
            let id = map.add("app.pipe", imported[0].text.clone());
            let ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader).ir;
            let ir = serde_json::to_string(&ir).expect("json");
            let expected = serde_json::to_string(&value).expect("json");
            prop_assert!(
                value.is_empty() || ir.contains(&expected),
                "{value:?}\n{}\n{ir}",
                imported[0].text
            );
        }

        #[test]
        fn pieces_of_the_formats_never_panic(pieces in proptest::collection::vec(0..PIECES.len(), 0..60), ext in 0..4usize) {
            let text: String = pieces.iter().map(|&i| PIECES[i]).collect();
            let name = ["p.yaml", "p.json", "p.tf", "p.sh"][ext];
            if let Err(e) = Importer::import(name, &text) {
                prop_assert!(!e.message.starts_with("internal error"), "{e:?}");
            }
        }
    }
}

#[test]
fn import_reads_stdin_and_tells_the_format_by_content() {
    let yaml = "pipeline:\n  name: app\n  stages:\n    - name: Gate\n      actions:\n        - name: Ok\n          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: '1'}\n";
    Test::new()
        .args(["import", "codepipeline", "-"])
        .stdin(yaml)
        .stdout_contains("pipeline app {")
        .run();
}

#[test]
fn import_o_writes_one_file_that_checks_clean() {
    let one = r#"{"pipeline": {"name": "app", "stages": [{"name": "Gate", "actions": [
      {"name": "Ok", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}]}}"#;
    let t = Test::new().file("p.json", one);
    t.args(["import", "codepipeline", "p.json", "-o", "app.pipe"])
        .stdout("")
        .stderr("")
        .run();
    t.args(["check", "--deny-warnings", "app.pipe"]).run();
    t.args(["fmt", "--check", "app.pipe"]).run();
}

#[test]
fn import_to_an_unwritable_place_exits_2() {
    let one = r#"{"pipeline": {"name": "app", "stages": [{"name": "Gate", "actions": [
      {"name": "Ok", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}]}}"#;
    Test::new()
        .file("p.json", one)
        .args([
            "import",
            "codepipeline",
            "p.json",
            "-o",
            "no/such/dir/app.pipe",
        ])
        .status(2)
        .stderr_contains("cannot write `no/such/dir/app.pipe`")
        .run();
}

const MODULE_MAIN: &str = r#"resource "aws_codepipeline" "main" {
  name = "app-${var.env}"
  stage {
    name = "Gate"
    action {
      name     = "Ok"
      category = "Approval"
      owner    = "AWS"
      provider = "Manual"
      version  = "1"
      configuration = {
        CustomData = "ship to ${var.env}"
      }
    }
  }
}
"#;

#[test]
fn import_of_a_terraform_module_folder_reads_its_variables_file_too() {
    let t = Test::new()
        .file("mod/main.tf", MODULE_MAIN)
        .file(
            "mod/variables.tf",
            "variable \"env\" {\n  default = \"prod\"\n}\n",
        )
        .file("mod/README.md", "not Terraform");
    let out = t.args(["import", "codepipeline", "mod"]).run();
    assert!(out.stdout.contains("pipeline app_prod {"), "{}", out.stdout);
    assert!(
        out.stdout.contains("param env: string = \"prod\""),
        "{}",
        out.stdout
    );
}

#[test]
fn import_of_a_module_with_a_broken_file_names_that_file() {
    let t = Test::new()
        .file("mod/main.tf", MODULE_MAIN)
        .file("mod/variables.tf", "variable \"env\" {\n  default = \n}\n");
    t.args(["import", "codepipeline", "mod"])
        .status(1)
        .stderr_contains("error: mod/variables.tf:2:")
        .stderr_contains("invalid HCL")
        .run();
}
