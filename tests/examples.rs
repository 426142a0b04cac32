//! `examples/` and `stdlib/` check clean; the IR survives a JSON round trip.

use std::path::{Path, PathBuf};

use crate::support::{check_file, pipe_files, render_human};

#[test]
fn examples_and_stdlib_check_clean() {
    let files: Vec<PathBuf> = pipe_files("examples")
        .into_iter()
        .chain(pipe_files("stdlib"))
        .collect();
    assert!(files.len() >= 12, "examples and stdlib are present");
    for f in files {
        let (map, diags, _) = check_file(&f);
        assert!(
            diags.is_empty(),
            "{} is not clean:\n{}",
            f.display(),
            render_human(&map, &diags)
        );
    }
}

#[test]
fn at_least_six_example_pipelines_compile() {
    let with_pipeline: Vec<PathBuf> = pipe_files("examples")
        .into_iter()
        .filter(|f| check_file(f).2.is_some())
        .collect();
    assert!(with_pipeline.len() >= 6, "{with_pipeline:?}");
}

#[test]
fn ir_round_trips_through_json() {
    for f in pipe_files("examples") {
        let (_, _, ir) = check_file(&f);
        let Some(ir) = ir else { continue };
        let json = pipec::ir::to_json(&ir);
        let back = pipec::ir::from_json(&json).expect("IR reads back");
        assert_eq!(back, ir, "{}", f.display());
        assert_eq!(pipec::ir::validate(&back), Ok(()), "{}", f.display());
    }
}

#[test]
fn ir_of_the_spec_example() {
    let (_, _, ir) = check_file(Path::new("examples/webapp.pipe"));
    let ir = ir.expect("webapp compiles");
    insta::assert_snapshot!(pipec::ir::to_json(&ir));
}

#[test]
fn ir_version_mismatch_is_an_error_not_a_panic() {
    let err = pipec::ir::from_json(r#"{"ir_version": 999, "files": [], "pipeline": {}}"#)
        .expect_err("rejected");
    assert!(err.to_string().contains("version 999"), "{err}");
    let err = pipec::ir::from_json("not json").expect_err("rejected");
    assert!(err.to_string().contains("not a pipec IR"), "{err}");
}

/// Big files stream their stages through the checker; the result must be exactly what the
/// whole-file path gives, for clean files and for files with errors (which restart).
#[test]
fn streamed_and_whole_file_checking_agree() {
    let mut cases: Vec<(String, String)> = pipe_files("examples")
        .into_iter()
        .chain(pipe_files("tests/fixtures/check"))
        .chain(pipe_files("tests/fixtures/syntax"))
        .map(|f| {
            (
                f.to_string_lossy().into_owned(),
                std::fs::read_to_string(&f).expect("readable"),
            )
        })
        .collect();
    // Forward references, a later stage's status, unknown names and a syntax error.
    cases.push(("forward.pipe".into(), "pipeline p {\n  stage a { action x: sh { run = \"${b.y.v} ${c.status} ${b.z.v}\" } }\n  stage b { action y: sh { run = \"x\" exports = [v] } }\n}\n".into()));
    cases.push(("broken.pipe".into(), "pipeline p {\n  stage a { action x: sh { run = \"x\" } }\n  stage b { action y: sh { run = } }\n  stage c { action z: sh { run = \"${params.q}\" } }\n}\n".into()));
    // A stage header over two lines: the stage must not be checked out of file order.
    cases.push(("split-header.pipe".into(), "pipeline p {\n  stage source { action checkout: dir { path = \".\"  output = src } }\n  stage build { action make: sh { input = src  run = \"make\" } }\n  stage deploy\n  {\n    action ship: sh { run = \"./ship\" }\n  }\n  /* a */ stage late { action z: sh { run = \"x\" } }\n}\n".into()));
    // Skeleton items between and after stages, whose spans are mapped back over the stages cut
    // out of the skeleton: a duration and an integer out of range (E0103), `disabled` without
    // a reason (its pair ends in whitespace before a cut), an unknown stage, unused params.
    cases.push(("between.pipe".into(), "pipeline p {\n  param unused: string = \"x\"\n  stage a { action x: sh { run = \"x\" } }\n  timeout 5x\n  stage b { action y: sh { run = \"y\" } }\n  transition a -> nowhere\n  transition a -> b disabled\n  stage c { action z: sh { run = \"z\" } }stage d { action w: sh { run = \"w\" } }\n  /// A doc.\n  param late: int = 99999999999999999999\n}\n".into()));
    for (name, text) in cases {
        let run = |threshold: usize| {
            let mut map = pipec::source::SourceMap::new();
            let id = map.add(name.clone(), text.clone());
            let out = pipec::check::Checker::check_streaming_from(
                &mut map,
                id,
                &mut crate::support::FsLoader,
                true,
                threshold,
            );
            let ir = out
                .model
                .as_ref()
                .filter(|_| !out.has_errors())
                .map(|m| pipec::ir::to_json(&pipec::check::lower::Lowerer::lower(&map, m)));
            let diags: Vec<String> = crate::support::summarize(&map, &out.diagnostics, &name)
                .into_iter()
                .zip(&out.diagnostics)
                .map(|(s, d)| format!("{s} {}", d.message))
                .collect();
            (diags, ir)
        };
        assert_eq!(run(0), run(usize::MAX), "{name}");
    }
}
