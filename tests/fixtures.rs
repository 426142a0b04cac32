//! Fixture tests: every `tests/fixtures/{syntax,check}/**/*.pipe` states its expected
//! diagnostics in leading `// expect:` comments (exact code and line:column range, or
//! `ok`); the runner requires exactly those, and snapshots the rendered human report.

use std::path::{Path, PathBuf};

use pipec::diagnostics::Diagnostic;
use pipec::source::SourceMap;

use crate::support::{check_file, render_human, summarize};

/// The `// expect:` lines at the top of a fixture, sorted (`ok` is none).
fn expectations(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .map_while(|l| l.strip_prefix("// expect:"))
        .map(|l| l.trim().to_string())
        .filter(|l| l != "ok")
        .collect();
    out.sort();
    out
}

/// A fixture's path from the repository's root, and its text (which must start with its
/// `// expect:` lines).
pub(crate) fn read_fixture(path: &Path) -> (PathBuf, String) {
    let rel = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .to_path_buf();
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    assert!(
        text.starts_with("// expect:"),
        "{}: a fixture starts with `// expect:` lines",
        rel.display()
    );
    (rel, text)
}

/// Exactly the diagnostics the fixture's `// expect:` lines name (code and range).
pub(crate) fn assert_expected(map: &SourceMap, diags: &[Diagnostic], rel: &Path, text: &str) {
    let mut actual = summarize(map, diags, &rel.to_string_lossy());
    actual.sort();
    assert_eq!(
        actual,
        expectations(text),
        "diagnostics of {}",
        rel.display()
    );
}

fn run_fixture(path: &Path) {
    let (rel, text) = read_fixture(path);
    let (map, diags, _) = check_file(&rel);
    assert_expected(&map, &diags, &rel, &text);
    let rendered = render_human(&map, &diags);
    insta::assert_snapshot!(format!("{text}\n---- rendered ----\n{rendered}"));
}

#[test]
fn syntax_fixtures() {
    insta::glob!("fixtures/syntax/**/*.pipe", run_fixture);
}

#[test]
fn check_fixtures() {
    insta::glob!("fixtures/check/**/*.pipe", run_fixture);
}

/// Every diagnostic code has at least one fixture (the file name starts with the code).
#[test]
fn every_code_has_a_fixture() {
    let mut names = Vec::new();
    for dir in [
        "tests/fixtures/syntax",
        "tests/fixtures/check",
        "tests/fixtures/codepipeline",
    ] {
        for e in std::fs::read_dir(dir).expect("fixture dir") {
            names.push(e.expect("entry").file_name().to_string_lossy().into_owned());
        }
    }
    for code in pipec::diagnostics::Code::ALL {
        if *code == pipec::diagnostics::Code::E0206 {
            continue; // Reported by `run` (param binding): see tests/explain.rs and cli.rs.
        }
        assert!(
            names.iter().any(|n| n.starts_with(code.as_str())),
            "no fixture for {code}"
        );
    }
}

/// Every stored snapshot belongs to a fixture or test that still exists (no stale ones).
#[test]
fn no_unreferenced_snapshots() {
    const NAMED: &[&str] = &[
        "integration__examples__ir_of_the_spec_example.snap",
        "integration__graph__graph_dot.snap",
        "integration__graph__graph_mermaid.snap",
        "integration__graph__graph_entry_dot.snap",
        "integration__graph__graph_entry_mermaid.snap",
    ];
    // insta names a snapshot after the fixture's path below the glob root, `/` as `__`.
    let mut fixtures = Vec::new();
    for (dir, prefix) in [
        ("tests/fixtures/syntax", ""),
        ("tests/fixtures/check", ""),
        ("tests/fixtures/check/lib", "lib__"),
    ] {
        for e in std::fs::read_dir(dir).expect("fixture dir") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            fixtures.push(format!("{prefix}{name}"));
        }
    }
    for e in std::fs::read_dir("tests/snapshots").expect("snapshot dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        let known = NAMED.contains(&name.as_str())
            || name
                .strip_prefix("integration__fixtures__run_fixture@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| fixtures.iter().any(|x| x == f))
            || name
                .strip_prefix("integration__fmt__golden@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| Path::new("tests/fixtures/fmt").join(f).is_file())
            || name
                .strip_prefix("integration__codepipeline__run_fixture@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| Path::new("tests/fixtures/codepipeline").join(f).is_file())
            || name
                .strip_prefix("integration__codepipeline__every_example_compiles_or_fails_with_its_documented_codes@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(crate::codepipeline::is_example)
            || name
                .strip_prefix("integration__github__run_fixture@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| Path::new("tests/fixtures/github").join(f).is_file())
            || name
                .strip_prefix("integration__argo__run_fixture@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| Path::new("tests/fixtures/argo").join(f).is_file())
            || name
                .strip_prefix("integration__argo__every_example_compiles_or_fails_with_its_documented_codes@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(crate::codepipeline::is_example)
            || name
                .strip_prefix("integration__gitlab__run_fixture@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| Path::new("tests/fixtures/gitlab").join(f).is_file())
            || name
                .strip_prefix("integration__gitlab__every_example_compiles_or_fails_with_its_documented_codes@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(crate::codepipeline::is_example)
            || name
                .strip_prefix("integration__github__every_example_compiles_or_fails_with_its_documented_codes@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(crate::codepipeline::is_example)
            || name
                .strip_prefix("integration__import__corpus_imports_or_gives_its_clear_error@")
                .and_then(|n| n.strip_suffix(".snap"))
                .is_some_and(|f| Path::new("tests/data/corpus/codepipeline").join(f).is_file());
        assert!(
            known,
            "unreferenced snapshot tests/snapshots/{name}: delete it"
        );
    }
}
