//! `examples/` and `stdlib/` check clean; the IR survives a JSON round trip.

use std::path::{Path, PathBuf};

use crate::support::{check_file, render_human};

fn pipe_files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pipe") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

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
