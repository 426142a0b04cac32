//! The `pipec` binary: formats, exit codes, flags. One behaviour per test.

use crate::support::Test;

const CLEAN: &str =
    "pipeline p {\n  stage build {\n    action compile: sh { run = \"make\" }\n  }\n}\n";
const BROKEN: &str = "pipeline p {\n  stage build {\n    action compile: sh { run = \"make\" }\n  }\n  stage deploy {\n    after = [biuld]\n    action ship: sh { run = \"deploy\" }\n  }\n}\n";
const WARNS: &str = "pipeline p {\n  param unused: string = \"x\"\n  stage build {\n    action compile: sh { run = \"make\" }\n  }\n}\n";

#[test]
fn check_clean_file_exits_0() {
    Test::new()
        .file("app.pipe", CLEAN)
        .args(["check", "app.pipe"])
        .stderr_contains("checked 1 file: 0 errors, 0 warnings")
        .run();
}

#[test]
fn check_defaults_to_the_current_folder_recursively() {
    Test::new()
        .file("ci/a.pipe", CLEAN)
        .file("ci/deep/b.pipe", BROKEN)
        .file("notes.txt", "x")
        .args(["check"])
        .status(1)
        .stderr_contains("checked 2 files")
        .stderr_contains("ci/deep/b.pipe")
        .run();
}

#[test]
fn check_errors_exit_1_with_human_report() {
    Test::new()
        .file("app.pipe", BROKEN)
        .args(["check", "app.pipe"])
        .status(1)
        .stderr_contains("unknown stage `biuld`")
        .stderr_contains("did you mean `build`?")
        .stderr_contains("app.pipe:6:")
        .stdout("")
        .run();
}

#[test]
fn check_short_format() {
    let out = Test::new()
        .file("app.pipe", BROKEN)
        .args(["check", "app.pipe", "--format", "short"])
        .status(1)
        .run();
    assert_eq!(
        out.stdout.trim(),
        "app.pipe:6:14: error[E0201]: unknown stage `biuld`"
    );
}

#[test]
fn check_json_format_matches_the_cli_spec() {
    let v = Test::new()
        .file("app.pipe", BROKEN)
        .args(["check", "app.pipe", "--format", "json"])
        .status(1)
        .run()
        .json();
    assert_eq!(v["version"], 1);
    assert_eq!(v["files"], 1);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let d = &v["diagnostics"][0];
    assert_eq!(d["file"], "app.pipe");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "E0201");
    assert_eq!(d["message"], "unknown stage `biuld`");
    assert_eq!(d["range"]["start"]["line"], 6);
    assert_eq!(d["range"]["start"]["column"], 14);
    assert_eq!(d["range"]["end"]["line"], 6);
    assert_eq!(d["range"]["end"]["column"], 19);
    assert_eq!(d["help"], "did you mean `build`?");
    assert!(d["labels"].is_array());
}

#[test]
fn check_json_columns_count_unicode_scalars() {
    let src = "pipeline p {\n  stage build {\n    action compile: sh { run = \"é→ ${params.nope}\" }\n  }\n}\n";
    let v = Test::new()
        .file("app.pipe", src)
        .args(["check", "app.pipe", "--format", "json"])
        .status(1)
        .run()
        .json();
    // `    action compile: sh { run = "é→ ${params.` is 44 characters (47 bytes).
    assert_eq!(v["diagnostics"][0]["range"]["start"]["column"], 45);
}

#[test]
fn check_sarif_format() {
    let v = Test::new()
        .file("app.pipe", BROKEN)
        .args(["check", "app.pipe", "--format", "sarif"])
        .status(1)
        .run()
        .json();
    assert_eq!(v["version"], "2.1.0");
    let r = &v["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "E0201");
    assert_eq!(r["level"], "error");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "app.pipe"
    );
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        6
    );
    assert!(
        v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .is_some_and(|r| r.len() == pipec::diagnostics::Code::ALL.len())
    );
}

#[test]
fn check_github_format() {
    Test::new()
        .file("app.pipe", BROKEN)
        .args(["check", "app.pipe", "--format", "github"])
        .status(1)
        .stdout_starts_with("::error file=app.pipe,line=6,col=14,endLine=6,endColumn=19,title=E0201::unknown stage `biuld`%0Ahelp: did you mean `build`?")
        .run();
}

/// An export and an artifact kept for the record (`pipec show` lists them) are a run's
/// outputs: no W0001, so `--deny-warnings` accepts them.
#[test]
fn deny_warnings_accepts_outputs_nobody_reads() {
    Test::new()
        .file(
            "app.pipe",
            "pipeline p {\n  stage build {\n    action compile: sh {\n      run = \"echo v=1 >> $PIPEC_OUTPUT\"\n      exports = [v]\n      output = bin from \"out\"\n    }\n  }\n}\n",
        )
        .args(["check", "app.pipe", "--deny-warnings"])
        .stderr_contains("0 warnings")
        .run();
}

#[test]
fn warnings_exit_0_unless_denied() {
    let t = Test::new().file("app.pipe", WARNS);
    t.args(["check", "app.pipe"]).stderr_contains("W0001").run();
    Test::new()
        .file("app.pipe", WARNS)
        .args(["check", "app.pipe", "--deny-warnings"])
        .status(1)
        .run();
}

#[test]
fn check_reads_stdin_with_a_name() {
    Test::new()
        .args([
            "check",
            "--stdin-filename",
            "ci/app.pipe",
            "--format",
            "short",
        ])
        .stdin(BROKEN)
        .status(1)
        .stdout_starts_with("ci/app.pipe:6:14: error[E0201]")
        .run();
}

#[test]
fn check_missing_file_exits_2() {
    Test::new()
        .args(["check", "nope.pipe"])
        .status(2)
        .stderr_contains("cannot read `nope.pipe`")
        .run();
}

#[test]
fn bad_flag_exits_2() {
    Test::new()
        .args(["check", "--format", "xml"])
        .status(2)
        .run();
}

#[test]
fn help_teaches_with_examples() {
    Test::new()
        .args(["check", "--help"])
        .stdout_contains("Examples:")
        .stdout_contains("--deny-warnings")
        .run();
}

#[test]
fn explain_prints_the_page() {
    Test::new()
        .args(["explain", "e0201"])
        .stdout_starts_with("# E0201: unknown name")
        .stdout_contains("## Fix")
        .run();
}

#[test]
fn explain_unknown_code_exits_2_with_suggestion() {
    Test::new()
        .args(["explain", "E0210"])
        .status(2)
        .stderr_contains("unknown diagnostic code `E0210`")
        .stderr_contains("did you mean")
        .run();
}

#[test]
fn compile_writes_ir_that_reads_back() {
    let t = Test::new().file("app.pipe", CLEAN);
    t.args(["compile", "app.pipe", "-o", "app.ir.json"]).run();
    let text = std::fs::read_to_string(t.path("app.ir.json")).expect("IR written");
    let ir = pipec::ir::from_json(&text).expect("IR reads back");
    assert_eq!(ir.ir_version, pipec::ir::IR_VERSION);
    assert_eq!(ir.pipeline.stages[0].actions[0].name, "compile");
    assert_eq!(ir.pipeline.stages[0].actions[0].span.line, 3);
}

#[test]
fn compile_to_stdout() {
    let version = format!("\"ir_version\": {}", pipec::ir::IR_VERSION);
    Test::new()
        .file("app.pipe", CLEAN)
        .args(["compile", "app.pipe"])
        .stdout_contains(&version)
        .run();
}

#[test]
fn compile_errors_exit_1_and_write_nothing() {
    let t = Test::new().file("app.pipe", BROKEN);
    t.args(["compile", "app.pipe", "-o", "out.json"])
        .status(1)
        .stderr_contains("E0201")
        .run();
    assert!(!t.path("out.json").exists());
}

#[test]
fn compile_allows_params_without_default_and_bakes_given_values() {
    let src = "pipeline p {\n  param env: string\n  param n: int = 1\n  stage build {\n    action compile: sh { run = \"make ${params.env} ${params.n}\" }\n  }\n}\n";
    Test::new()
        .file("app.pipe", src)
        .args(["compile", "app.pipe"])
        .run();
    let out = Test::new()
        .file("app.pipe", src)
        .args(["compile", "app.pipe", "--param", "n=7"])
        .run();
    let ir = pipec::ir::from_json(&out.stdout).expect("ir");
    assert_eq!(
        ir.pipeline.params[1].default,
        Some(pipec::ir::Expr::Int { value: 7 })
    );
    Test::new()
        .file("app.pipe", src)
        .args(["compile", "app.pipe", "--param", "n=seven"])
        .status(1)
        .stderr_contains("not an integer")
        .run();
}

#[test]
fn compile_target_argo_writes_a_workflow() {
    Test::new()
        .file("app.pipe", "pipeline app {\n  mode parallel\n  stage build {\n    action make: sh { run = \"make\" }\n  }\n}\n")
        .args(["compile", "app.pipe", "--target", "argo"])
        .stdout_contains("kind: Workflow")
        .run();
}

#[test]
fn compile_local_import() {
    let lib = "/// Says hello.\ntemplate hello(who: string = \"you\"): sh {\n  run = \"echo ${who}\"\n}\n";
    let app = "import \"./lib/common.pipe\" as common\npipeline p {\n  stage build {\n    action hi: common.hello { who = \"me\" }\n  }\n}\n";
    let out = Test::new()
        .file("ci/lib/common.pipe", lib)
        .file("ci/app.pipe", app)
        .args(["compile", "ci/app.pipe"])
        .run();
    let ir = pipec::ir::from_json(&out.stdout).expect("ir");
    assert_eq!(
        ir.pipeline.stages[0].actions[0].template.as_deref(),
        Some("common.hello")
    );
    assert!(
        ir.files.contains(&"ci/lib/common.pipe".to_string()),
        "{:?}",
        ir.files
    );
}

#[test]
fn e0206_missing_param_value_is_reported_when_binding() {
    let src = "pipeline p {\n  param env: string\n  stage build {\n    action compile: sh { run = \"make ${params.env}\" }\n  }\n}\n";
    let mut map = pipec::source::SourceMap::new();
    let id = map.add("app.pipe", src);
    let ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader)
        .ir
        .expect("compiles");
    let diags = pipec::params::bind(&ir, &[]).expect_err("missing value");
    assert_eq!(diags[0].code, pipec::diagnostics::Code::E0206);
    let (start, _) = map.line_col(diags[0].primary.span);
    assert_eq!((start.line, start.column), (2, 3));
    assert!(pipec::params::bind(&ir, &[("env".into(), "prod".into())]).is_ok());
}

/// The span of E0206 is the param's declaration: not the `///` doc comment of the param
/// after it.
#[test]
fn e0206_span_ends_at_the_params_type() {
    let src = "pipeline p {\n  param env: string\n  /// How many.\n  param replicas: int = 2\n  stage build {\n    action compile: sh { run = \"make ${params.env} ${params.replicas}\" }\n  }\n}\n";
    let mut map = pipec::source::SourceMap::new();
    let id = map.add("app.pipe", src);
    let ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader)
        .ir
        .expect("compiles");
    let diags = pipec::params::bind(&ir, &[]).expect_err("missing value");
    let (start, end) = map.line_col(diags[0].primary.span);
    assert_eq!((start.line, start.column), (2, 3));
    assert_eq!((end.line, end.column), (2, 20));
}

/// A string where the shell evaluates arithmetic is E0301 before anything runs: bash would
/// run the command hidden in `a[$(…)]`.
#[test]
fn run_refuses_a_string_in_shell_arithmetic_before_running() {
    let t = Test::new()
        .file(
            "app.pipe",
            "pipeline p {\n  param n: string = \"1\"\n  stage s {\n    action a: sh { run = \"touch started; declare -i v; v=${params.n}\" }\n  }\n}\n",
        );
    t.args(["run", "app.pipe", "--param", "n=a[$(touch pwned)]"])
        .status(1)
        .stderr_contains("E0301")
        .run();
    assert!(!t.path("started").exists() && !t.path("pwned").exists());
}

#[test]
fn stdin_filename_with_paths_is_a_usage_error() {
    Test::new()
        .file("one.pipe", BROKEN)
        .args(["check", "--stdin-filename", "x.pipe", "one.pipe"])
        .stdin(CLEAN)
        .status(2)
        .stderr_contains("standard input only")
        .run();
}

#[test]
fn compile_keeps_stdout_for_the_ir_when_diagnostics_are_machine_readable() {
    let out = Test::new()
        .file("app.pipe", WARNS)
        .args(["compile", "app.pipe", "--format", "json"])
        .run();
    pipec::ir::from_json(&out.stdout).expect("stdout is exactly the IR");
    let diags: serde_json::Value =
        serde_json::from_str(out.stderr.trim()).expect("stderr is the JSON report");
    assert_eq!(diags["warnings"], 1);
}

#[test]
fn short_format_is_one_line_per_diagnostic() {
    let src = "pipeline p {\n  trigger push { branches = [\"a\\nb{\"] }\n  stage a { action x: sh { run = \"x\" } }\n}\n";
    let out = Test::new()
        .file("app.pipe", src)
        .args(["check", "app.pipe", "--format", "short"])
        .status(1)
        .run();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("a\\nb{"), "{}", out.stdout);
}

#[test]
fn sarif_uris_are_encoded_and_columns_are_code_points() {
    let v = Test::new()
        .file("we ird#1.pipe", BROKEN)
        .args(["check", "we ird#1.pipe", "--format", "sarif"])
        .status(1)
        .run()
        .json();
    assert_eq!(v["runs"][0]["columnKind"], "unicodeCodePoints");
    assert_eq!(
        v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "we%20ird%231.pipe"
    );
}

#[test]
fn paths_are_shown_relative_to_the_current_folder() {
    let t = Test::new()
        .file("ci/app.pipe", BROKEN)
        .file("ci/sub/keep", "");
    t.args(["check", "ci/sub/../app.pipe", "--format", "short"])
        .status(1)
        .stdout_starts_with("ci/app.pipe:6:14:")
        .run();
}

#[test]
fn a_file_named_twice_is_checked_once() {
    let out = Test::new()
        .file("app.pipe", BROKEN)
        .args(["check", "app.pipe", "./app.pipe", "--format", "short"])
        .status(1)
        .run();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
}

#[test]
fn a_script_passed_to_a_template_stays_a_script() {
    // `run = cmd` with `cmd = "echo ${params.x}"`: the param must still be quoted at run time.
    let src = "template t(cmd: string): sh { run = cmd }\npipeline p {\n  param x: string = \"a; rm -rf /\"\n  stage s { action a: t { cmd = \"echo ${params.x}\" } }\n}\n";
    let out = Test::new()
        .file("app.pipe", src)
        .args(["compile", "app.pipe"])
        .run();
    let ir = pipec::ir::from_json(&out.stdout).expect("ir");
    let run = &ir.pipeline.stages[0].actions[0].params["run"];
    assert!(
        matches!(run, pipec::ir::Expr::Interp { script: true, .. }),
        "{run:?}"
    );
}

#[test]
fn relative_paths_in_imported_templates_are_rebased_to_the_pipeline() {
    let lib = "template assets(): dir {\n  path = \"./assets\"\n  output = assets\n}\ntemplate child(f: string = \"./child.pipe\"): pipeline { file = f }\n";
    let app = "import \"./lib/f.pipe\"\npipeline p {\n  stage s { action d: f.assets {} }\n  stage b { action a: sh { input = assets run = \"ls\" } action c: f.child {} }\n}\n";
    let out = Test::new()
        .file("ci/lib/f.pipe", lib)
        .file("ci/app.pipe", app)
        .args(["compile", "ci/app.pipe"])
        .run();
    let ir = pipec::ir::from_json(&out.stdout).expect("ir");
    let path = &ir.pipeline.stages[0].actions[0].params["path"];
    assert_eq!(
        path,
        &pipec::ir::Expr::Str {
            value: "lib/assets".into()
        }
    );
    let file = &ir.pipeline.stages[1].actions[1].params["file"];
    assert_eq!(
        file,
        &pipec::ir::Expr::Str {
            value: "lib/child.pipe".into()
        }
    );
}

const RUNNABLE: &str = "pipeline p {\n  param env: string = \"staging\"\n  trigger push { branches = [\"main\"] }\n  stage build {\n    action make: sh { run = \"touch made.txt\" }\n    action pack: sh { after = [make] run = \"true\" }\n  }\n  stage deploy {\n    entry { require params.env == \"prod\" else skip }\n    action ship: sh { run = \"touch shipped.txt\" }\n  }\n}\n";

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let t = Test::new().file("app.pipe", RUNNABLE);
    t.args(["run", "app.pipe", "--dry-run"])
        .stdout_contains("1. stage `build`: runs")
        .stdout_contains("`pack` (after make): runs")
        .stdout_contains("2. stage `deploy`: skipped: entry: `params.env == \"prod\"` is false")
        .run();
    assert!(!t.path("made.txt").exists(), "a dry run executes nothing");
}

/// An approval in the plan waits for a decision: the plan says so rather than "runs".
#[test]
fn dry_run_says_an_approval_waits_for_approval() {
    Test::new()
        .file(
            "app.pipe",
            "pipeline p {\n  stage build {\n    action make: sh { run = \"true\" }\n  }\n  stage gate {\n    action ok: approval { summary = \"ship?\" }\n  }\n}\n",
        )
        .args(["run", "app.pipe", "--dry-run"])
        .stdout_contains("- `ok`: waits for approval\n")
        .stdout_contains("- `make`: runs\n")
        .run();
}

#[test]
fn dry_run_uses_params() {
    Test::new()
        .file("app.pipe", RUNNABLE)
        .args(["run", "app.pipe", "--dry-run", "--param", "env=prod"])
        .stdout_contains("2. stage `deploy`: runs")
        .run();
}

#[test]
fn run_reports_a_missing_param_value_as_e0206() {
    let src = RUNNABLE.replace("param env: string = \"staging\"", "param env: string");
    Test::new()
        .file("app.pipe", &src)
        .args(["run", "app.pipe", "--dry-run"])
        .status(1)
        .stderr_contains("E0206")
        .stderr_contains("missing value for param `env`")
        .run();
}

#[test]
fn an_event_no_trigger_matches_runs_nothing_and_says_why() {
    Test::new()
        .file("app.pipe", RUNNABLE)
        .args([
            "run",
            "app.pipe",
            "--dry-run",
            "--event",
            "push",
            "--branch",
            "dev",
        ])
        .stdout("")
        .stderr_contains("branch `dev` does not match")
        .run();
}

#[test]
fn dry_run_reads_compiled_ir() {
    let mut map = pipec::source::SourceMap::new();
    let id = map.add("app.pipe", RUNNABLE);
    let ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader)
        .ir
        .expect("compiles");
    let json = pipec::ir::to_json(&ir);
    Test::new()
        .file("app.ir.json", &json)
        .args(["run", "app.ir.json", "--dry-run"])
        .stdout_contains("1. stage `build`: runs")
        .run();
    Test::new()
        .file("bad.json", "{\"ir_version\": 7}")
        .args(["run", "bad.json", "--dry-run"])
        .status(2)
        .stderr_contains("version 7")
        .run();
}

#[test]
fn a_diagnostic_past_a_very_long_line_is_reported_without_a_snippet() {
    let src = format!(
        "pipeline p {{ stage a {{ action x: sh {{ run = \"y\" }} }} }}{}x\n",
        " ".repeat(70_000)
    );
    Test::new()
        .file("wide.pipe", &src)
        .args(["check", "wide.pipe"])
        .status(1)
        .stderr_contains("error[E0101]")
        .stderr_contains("wide.pipe:1:70")
        .run();
}

#[test]
fn events_are_spelled_as_in_the_spec_and_decided_before_params() {
    let src = "pipeline p {\n  param env: string\n  trigger pull_request { branches = [\"main\"] events = [opened] }\n  stage a { action x: sh { run = \"echo ${params.env}\" } }\n}\n";
    let t = Test::new().file("p.pipe", src);
    // No trigger matches, so the missing param does not matter.
    t.args([
        "run",
        "p.pipe",
        "--dry-run",
        "--event",
        "pull_request",
        "--branch",
        "dev",
        "--pr-event",
        "opened",
    ])
    .stderr_contains("branch `dev` does not match")
    .run();
    t.args([
        "run",
        "p.pipe",
        "--dry-run",
        "--event",
        "pull_request",
        "--branch",
        "main",
        "--pr-event",
        "opened",
    ])
    .status(1)
    .stderr_contains("E0206")
    .run();
}

#[test]
fn an_unknown_param_is_reported_briefly() {
    let out = Test::new()
        .file("app.pipe", CLEAN)
        .args(["run", "app.pipe", "--dry-run", "--param", "nope=1"])
        .status(1)
        .stderr_contains("unknown param `nope`")
        .run();
    assert!(
        out.stderr.lines().count() < 15,
        "the report does not print the whole pipeline: {}",
        out.stderr
    );
}

#[test]
fn dry_run_sees_through_stages_that_may_be_skipped() {
    let src = "pipeline g {\n  param p: bool = false\n  stage a { action x: sh { run = \"a\"  exports = [v] } }\n  stage b { entry { require a.x.v == \"y\" else skip } action x: sh { run = \"b\" } }\n  stage c { entry { require params.p else skip } action x: sh { run = \"c\" } }\n  stage d { action x: sh { run = \"d\" } }\n  transition c -> d disabled \"freeze\"\n}\n";
    Test::new()
        .file("g.pipe", src)
        .args(["run", "g.pipe", "--dry-run"])
        .stdout_contains("2. stage `b`: runs, or is skipped by its entry")
        .stdout_contains("3. stage `c`: skipped: entry: `params.p` is false")
        .stdout_contains("4. stage `d`: held: transition c -> d is disabled: freeze")
        .run();
}

#[test]
fn dry_run_says_which_stages_never_start_after_a_failure() {
    let src = "pipeline g {\n  param e: string = \"dev\"\n  stage a { action x: sh { run = \"a\" } }\n  stage b { entry { require params.e == \"prod\" else fail } action x: sh { run = \"b\" } }\n  stage c { action x: sh { run = \"c\" } }\n}\n";
    Test::new()
        .file("g.pipe", src)
        .args(["run", "g.pipe", "--dry-run"])
        .stdout_contains("2. stage `b`: fails the run")
        .stdout_contains("3. stage `c`: not started: the run fails before")
        .run();
}

#[test]
fn hand_edited_ir_is_validated_before_running() {
    let mut map = pipec::source::SourceMap::new();
    let id = map.add("app.pipe", RUNNABLE);
    let mut ir = pipec::compile(&mut map, id, &mut pipec::check::NoLoader)
        .ir
        .expect("compiles");
    let edge = ir.pipeline.stages[1].inbound[0].clone();
    let mut back = edge.clone();
    back.from = "deploy".into();
    ir.pipeline.stages[0].inbound.push(back);
    Test::new()
        .file("bad.json", &pipec::ir::to_json(&ir))
        .args(["run", "bad.json", "--dry-run"])
        .status(1)
        .stderr_contains("the stage graph has a cycle")
        .run();
}
