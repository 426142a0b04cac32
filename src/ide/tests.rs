//! Editor services on small texts; `$0` marks the cursor.

use super::{Analysis, Symbol};
use crate::check::NoLoader;

fn analyse(text: &str) -> (Analysis, usize) {
    let offset = text.find("$0").expect("a cursor");
    let text = text.replacen("$0", "", 1);
    (Analysis::new("/w/test.pipe", &text, &mut NoLoader), offset)
}

fn labels(text: &str) -> Vec<String> {
    let (a, offset) = analyse(text);
    a.completions(offset).into_iter().map(|c| c.label).collect()
}

const P: &str = "pipeline p {\n    stage build {\n        action a: sh { run = \"x\" }\n    }\n    stage deploy {\n        action b: sh { run = \"y\" }\n    }\n";

#[test]
fn transition_offers_stages_while_the_line_is_broken() {
    let text = format!("{P}    transition $0\n}}\n");
    assert_eq!(labels(&text), ["build", "deploy"]);
    let text = format!("{P}    transition build -> $0\n}}\n");
    assert_eq!(labels(&text), ["build", "deploy"]);
}

#[test]
fn the_index_records_stage_references() {
    let text = format!("{P}    transition bu$0ild -> deploy\n}}\n");
    let (a, offset) = analyse(&text);
    assert_eq!(
        a.index().at(offset).map(|o| o.symbol.clone()),
        Some(Symbol::Stage("build".into()))
    );
}

struct OneFile(&'static str);

impl crate::check::Loader for OneFile {
    fn read(&mut self, _: &str) -> Result<String, crate::check::LoadError> {
        Ok(self.0.to_string())
    }
}

#[test]
fn problems_of_an_imported_file_are_told_at_its_import() {
    let main = "import \"./lib.pipe\" as lib\npipeline p {\n    stage s {\n        action a: lib.hello {}\n    }\n}\n";
    let a = Analysis::new(
        "/w/main.pipe",
        main,
        &mut OneFile("template hello(): sh { run = 5 }\n"),
    );
    let problems = a.import_problems();
    assert_eq!(problems.len(), 1, "{:?}", a.diagnostics());
    assert_eq!(problems[0].0.start as usize, main.find('"').expect("quote"));
    assert_eq!(problems[0].1, 1);
    assert_eq!(problems[0].2.code.as_str(), "E0301");
}

const T: &str = "/// Builds with make.\ntemplate mk(target: string = \"all\", out: artifact): sh {\n    run = \"make ${target}\"\n    output = out from \"build\"\n}\n\npipeline p {\n    param env: string\n    trigger push { branches = [\"main\"] }\n    stage build {\n        action a: mk { target = \"x\"  out = bin }\n        action b: sh { after = [a]  input = bin  run = \"echo ${params.env}\" }\n    }\n}\n";

fn at(text: &str, needle: &str, delta: usize) -> usize {
    text.find(needle).expect("needle") + delta
}

#[test]
fn template_parameters_are_defined_used_and_renamed_together() {
    let a = Analysis::new("/w/t.pipe", T, &mut NoLoader);
    assert!(a.diagnostics().is_empty(), "{:?}", a.diagnostics());
    // The call-site attribute `target` → the template's parameter.
    let def = a
        .definition(at(T, "target = \"x\"", 1))
        .expect("a definition");
    assert_eq!(def.start as usize, at(T, "target: string", 0));
    // Its use inside the body, too.
    let def = a.definition(at(T, "${target}", 3)).expect("a definition");
    assert_eq!(def.start as usize, at(T, "target: string", 0));
    let edits = a
        .rename(at(T, "target: string", 0), "goal")
        .expect("renamed");
    assert_eq!(
        edits.len(),
        3,
        "declaration, body use, call-site attribute: {edits:?}"
    );
    let hover = a.hover(at(T, "target = \"x\"", 1)).expect("hover");
    assert!(
        hover.markdown.contains("target: string = \"all\""),
        "{}",
        hover.markdown
    );
    assert!(
        hover.markdown.contains("parameter of template `mk`"),
        "{}",
        hover.markdown
    );
    assert!(
        hover.markdown.contains("Builds with make."),
        "{}",
        hover.markdown
    );
}

#[test]
fn hover_on_a_kind_lists_its_parameters() {
    let a = Analysis::new("/w/t.pipe", T, &mut NoLoader);
    let hover = a.hover(at(T, "b: sh", 3)).expect("hover");
    for part in [
        "kind sh",
        "`run: script` (required)",
        "`shell: string` = \"bash\"",
        "`after`",
    ] {
        assert!(
            hover.markdown.contains(part),
            "{part} in {}",
            hover.markdown
        );
    }
    let hover = a.hover(at(T, "input = bin", 1)).expect("hover");
    assert!(
        hover.markdown.contains("artifact name"),
        "{}",
        hover.markdown
    );
    let hover = a.hover(at(T, "params.env", 8)).expect("hover");
    assert!(hover.markdown.contains("required"), "{}", hover.markdown);
}

#[test]
fn completion_in_more_places() {
    let l = labels(&T.replace("branches = [\"main\"]", "$0"));
    assert!(
        l.contains(&"branches".to_string()) && l.contains(&"cron".to_string()),
        "{l:?}"
    );
    let l = labels(&T.replace("input = bin", "category = $0"));
    assert!(l.contains(&"deploy".to_string()), "{l:?}");
    let l = labels(&T.replace("echo ${params.env}", "echo ${params.$0}"));
    assert_eq!(l, ["env"]);
    let l = labels(&T.replace(
        "    stage build {",
        "    stage build {\n        on failure $0",
    ));
    assert_eq!(l, ["retry", "rollback", "fail"]);
    let l = labels(&T.replace("    param env: string", "    mode $0"));
    assert_eq!(l, ["superseded", "queued", "parallel"]);
    let l = labels(&T.replace(
        "    stage build {",
        "    stage build {\n        entry { $0 }",
    ));
    assert!(
        l.contains(&"require".to_string()) && l.contains(&"window".to_string()),
        "{l:?}"
    );
    let l = labels(&T.replace(
        "    stage build {",
        "    stage build {\n        entry { check sh { $0 } }",
    ));
    assert!(l.contains(&"run".to_string()), "{l:?}");
    let l = labels(&T.replace("action a: mk {", "action a: mk { $0"));
    assert!(
        l.contains(&"target".to_string()) && l.contains(&"out".to_string()),
        "{l:?}"
    );
    // In a block string, outside an interpolation: nothing.
    let l = labels(&T.replace("\"make ${target}\"", "\"\"\"\n  make $0\n\"\"\""));
    assert!(l.is_empty(), "{l:?}");
}

#[test]
fn rename_refuses_reserved_stage_names_and_unrenameable_names() {
    let a = Analysis::new("/w/t.pipe", T, &mut NoLoader);
    let err = a
        .rename(at(T, "stage build", 6), "params")
        .expect_err("reserved");
    assert!(err.contains("cannot be named"), "{err}");
    let err = a.rename(at(T, "b: sh", 3), "bash").expect_err("a kind");
    assert!(err.contains("cannot be renamed"), "{err}");
    assert!(a.prepare_rename(at(T, "b: sh", 3)).is_none());
}

#[test]
fn renaming_an_artifact_parameter_edits_its_output_too() {
    let a = Analysis::new("/w/t.pipe", T, &mut NoLoader);
    let edits = a.rename(at(T, "out: artifact", 0), "res").expect("renamed");
    let starts: Vec<usize> = edits.iter().map(|e| e.span.start as usize).collect();
    assert_eq!(
        starts,
        [
            at(T, "out: artifact", 0),
            at(T, "out from", 0),
            at(T, "out = bin", 0)
        ]
    );
    // `bin`, the artifact the call passes to `out`, is produced there: renaming it edits both.
    let refs = a.references(at(T, "input = bin", 8), true);
    let starts: Vec<usize> = refs.iter().map(|s| s.start as usize).collect();
    assert_eq!(starts, [at(T, "bin }", 0), at(T, "input = bin", 8)]);
    let def = a.definition(at(T, "input = bin", 8));
    assert_eq!(def.map(|s| s.start as usize), Some(at(T, "bin }", 0)));
    assert_eq!(
        a.rename(at(T, "input = bin", 8), "pkg").map(|e| e.len()),
        Ok(2)
    );
}

#[test]
fn rename_needs_a_declaration_and_a_free_name() {
    let text = "pipeline p {\n    stage src {\n        action g: git { repo = \".\" }\n    }\n    stage b {\n        action x: sh { run = \"echo ${src.g.commit}\" }\n    }\n}\n";
    let a = Analysis::new("/w/g.pipe", text, &mut NoLoader);
    assert!(a.prepare_rename(at(text, "commit", 0)).is_none());
    let err = a
        .rename(at(text, "commit", 0), "sha")
        .expect_err("no declaration");
    assert!(err.contains("not declared"), "{err}");
    let a2 = Analysis::new("/w/t.pipe", T, &mut NoLoader);
    let err = a2
        .rename(at(T, "target: string", 0), "timeout")
        .expect_err("common");
    assert!(err.contains("common attribute"), "{err}");
}

#[test]
fn hover_on_an_export_that_is_not_declared_says_so() {
    let text = T.replace("echo ${params.env}", "echo ${build.a.nope}");
    let a = Analysis::new("/w/t.pipe", &text, &mut NoLoader);
    let hover = a.hover(at(&text, "nope", 0)).expect("hover");
    assert!(
        hover.markdown.contains("is not among the `exports`"),
        "{}",
        hover.markdown
    );
}

const TWO: &str = "pipeline p {\n    stage build {\n        action compile: sh { run = \"make\" }\n    }\n    stage deploy {\n        action ship: sh { run = \"x\" }\n        action smoke: sh { run = \"y\" }\n    }\n}\n";

#[test]
fn completion_follows_the_block_it_is_in() {
    // A stage's `after` lists stages; an action's lists actions of its own stage only.
    let l = labels(&TWO.replace(
        "        action ship",
        "        after = [$0]\n        action ship",
    ));
    assert_eq!(l, ["build", "deploy"]);
    let l = labels(&TWO.replace("run = \"y\" }", "run = \"y\"  after = [$0] }"));
    assert_eq!(l, ["ship", "smoke"]);
    // A second attribute on the same line.
    let l = labels(&TWO.replace("run = \"x\" }", "run = \"x\"  $0 }"));
    assert!(
        l.contains(&"shell".to_string()) && l.contains(&"after".to_string()),
        "{l:?}"
    );
    // `else` after a rule on the same line.
    let l = labels(&TWO.replace(
        "    stage deploy {\n",
        "    stage deploy {\n        entry { require true else $0 }\n",
    ));
    assert_eq!(l, ["skip", "fail", "rollback", "wait"]);
    // Types where a type goes.
    let l = labels(&TWO.replace("pipeline p {\n", "pipeline p {\n    param e: $0\n"));
    assert!(
        l.contains(&"string".to_string()) && l.contains(&"list".to_string()),
        "{l:?}"
    );
    let l = labels(&format!("template t(a: $0\n{TWO}"));
    assert!(
        l.contains(&"artifact".to_string()) && !l.contains(&"sh".to_string()),
        "{l:?}"
    );
    let l = labels(&format!("template t(a: string): $0\n{TWO}"));
    assert!(l.contains(&"sh".to_string()), "{l:?}");
    // A map key named like an attribute is not that attribute.
    let l = labels(&TWO.replace("run = \"x\" }", "run = \"x\"  env = { input = $0 } }"));
    assert!(l.contains(&"params".to_string()), "{l:?}");
}

#[test]
fn a_param_block_offers_its_constraints() {
    for decl in [
        "param e: string { $0 }",
        "param e: string = \"a\" { $0 }",
        "param e: list<string> { allowed = [\"a\"] $0 }",
    ] {
        let l = labels(&TWO.replace("pipeline p {\n", &format!("pipeline p {{\n    {decl}\n")));
        assert_eq!(l, ["allowed", "pattern"], "{decl}");
    }
    // The map of a default is not the constraints block.
    let l = labels(&TWO.replace(
        "pipeline p {\n",
        "pipeline p {\n    param m: map<string> = { $0 }\n",
    ));
    assert!(!l.contains(&"allowed".to_string()), "{l:?}");
}

#[test]
fn an_input_mapped_to_a_folder_is_a_reference_of_its_artifact() {
    let text = "pipeline p {\n    stage s {\n        action a: dir { path = \".\"  output = src }\n    }\n    stage b {\n        action x: sh { inputs = { src = \"app/\" }  run = \"ls app\" }\n    }\n}\n";
    let a = Analysis::new("/w/t.pipe", text, &mut NoLoader);
    let use_at = at(text, "src = \"app/\"", 0);
    let def = a.definition(use_at);
    assert_eq!(def.map(|s| s.start as usize), Some(at(text, "src }", 0)));
    assert_eq!(a.rename(use_at, "tree").map(|e| e.len()), Ok(2));
}

#[test]
fn the_map_of_inputs_offers_artifacts() {
    let text = "pipeline p {\n    stage s {\n        action a: dir { path = \".\"  output = src }\n    }\n    stage b {\n        action x: sh { inputs = { $0 }  run = \"ls\" }\n    }\n}\n";
    assert_eq!(labels(text), ["src"]);
}

/// A required param followed by the next one's `///` doc: the hover shows the declaration
/// alone, not the next doc comment (pest's span of the param ran over it).
#[test]
fn hover_on_a_required_param_stops_at_its_type() {
    let t = "pipeline p {\n  /// The target.\n  param env: string\n  /// How many.\n  param replicas: int = 2\n  stage s {\n    action a: sh { run = \"echo ${params.env} ${params.replicas}\" }\n  }\n}\n";
    let a = Analysis::new("/w/t.pipe", t, &mut NoLoader);
    let hover = a.hover(at(t, "params.env", 8)).expect("hover");
    assert!(
        hover
            .markdown
            .starts_with("```pipe\nparam env: string\n```\n\nThe target."),
        "{}",
        hover.markdown
    );
    assert!(!hover.markdown.contains("How many"), "{}", hover.markdown);
}

const SCOPES: &str = "template t(x: string): sh { run = \"${x} ${params.env}\" }\npipeline p {\n    param env: string = \"a\"\n    stage build {\n        action a: sh { run = \"${params.env}\" }\n        action b: t { x = \"1\"  after = [a] }\n    }\n}\n";

#[test]
fn the_checker_hands_the_editor_its_resolutions() {
    use crate::check::Resolved;
    let mut map = crate::source::SourceMap::new();
    let root = map.add("/w/t.pipe", SCOPES);
    let (file, syntax) = crate::syntax::Parser::parse(root, SCOPES);
    let checked = crate::check::Checker::check_parsed(&mut map, root, &mut NoLoader, file, syntax);
    let named = |r: &crate::check::Resolution| {
        (
            &SCOPES[r.span.start as usize..r.span.end as usize],
            r.to.clone(),
        )
    };
    let table: Vec<_> = checked.resolutions.iter().map(named).collect();
    for expected in [
        ("x", Resolved::TemplateParam("t".into(), "x".into())),
        ("env", Resolved::Param("env".into())),
        ("a", Resolved::Action("build".into(), "a".into())),
    ] {
        assert!(table.contains(&expected), "{expected:?} in {table:?}");
    }
    // `params.env` inside the template body is not in scope there (E0201): not resolved.
    assert_eq!(
        table
            .iter()
            .filter(|(_, to)| *to == Resolved::Param("env".into()))
            .count(),
        1,
        "{table:?}"
    );
}

#[test]
fn references_are_the_checkers_not_a_second_resolution() {
    let a = Analysis::new("/w/t.pipe", SCOPES, &mut NoLoader);
    // Only the pipeline's use: the template body's `params.env` is an error there, and the
    // editor does not call it a use of the param.
    let uses = a.references(at(SCOPES, "env: string", 0), false);
    assert_eq!(uses.len(), 1, "{uses:?}");
    assert_eq!(&SCOPES[uses[0].start as usize..uses[0].end as usize], "env");
    assert!(uses[0].start as usize > SCOPES.find("pipeline").expect("pipeline"));
}

#[test]
fn the_configuration_of_an_aws_action_offers_its_providers_keys() {
    let text = "pipeline p {\n  stage s {\n    action a: aws {\n      provider = \"Lambda\"\n      configuration = {\n        $0\n      }\n    }\n  }\n}\n";
    assert_eq!(labels(text), ["FunctionName", "UserParameters"]);
    let text = "pipeline p {\n  stage s {\n    action a: aws {\n      provider = \"S3\"\n      configuration = { BucketName = \"b\", $0 }\n    }\n  }\n}\n";
    let got = labels(text);
    assert_eq!(got[..2], ["S3Bucket", "S3ObjectKey"], "{got:?}");
    assert!(got.contains(&"Extract".to_string()), "{got:?}");
}
