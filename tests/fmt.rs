//! `pipec fmt`: golden files (`fixtures/fmt/`, snapshots of input and output), idempotence and
//! meaning preservation over every `.pipe` file of the repository, and the command line
//! (`--check` and its diff, stdin, folders, files with syntax errors, exit codes).

use std::path::{Path, PathBuf};

use pipec::source::FileId;
use pipec::syntax::{Formatter, Parser};

use crate::fuzz_regressions::targets::meaning_of;
use crate::support::{FsLoader, Test, pipe_files};

fn format(text: &str) -> pipec::syntax::FormatResult {
    Formatter::format(FileId(0), text)
}

/// Every `.pipe` file of the repository: examples, stdlib and all test fixtures.
fn every_pipe_file() -> Vec<PathBuf> {
    let files: Vec<PathBuf> = ["examples", "stdlib", "tests/fixtures"]
        .into_iter()
        .flat_map(pipe_files)
        .collect();
    assert!(files.len() > 100, "{} files", files.len());
    files
}

fn has_syntax_errors(text: &str) -> bool {
    Parser::parse(FileId(0), text)
        .1
        .iter()
        .any(pipec::diagnostics::Diagnostic::is_error)
}

// ---------------------------------------------------------------------------- golden files

fn golden(path: &Path) {
    let input = std::fs::read_to_string(path).expect("readable");
    let out = format(&input).expect("a golden input parses");
    assert_eq!(format(&out).expect("formats again"), out, "not idempotent");
    insta::assert_snapshot!(format!("{input}\n---- formatted ----\n{out}"));
}

/// Odd layouts in `fixtures/fmt/` and their canonical form.
#[test]
fn golden_files() {
    insta::glob!("fixtures/fmt/*.pipe", golden);
}

// ---------------------------------------------------------------------------- meaning

/// The syntax tree without positions: the `Debug` rendering with every span removed.
fn ast_without_spans(text: &str) -> String {
    let (ast, _) = Parser::parse(FileId(0), text);
    let spans =
        regex::Regex::new(r"Span \{ file: FileId\(\d+\), start: \d+, end: \d+ \}").expect("regex");
    spans.replace_all(&format!("{ast:?}"), "Span").into_owned()
}

/// Checks `text` under `name` (local imports read from disk): the IR without spans, and the
/// diagnostics by code, severity and message.
fn compiled(name: &str, text: &str) -> (Option<serde_json::Value>, Vec<String>) {
    meaning_of(name, text, &mut FsLoader)
}

/// Formatting every file of the repository is idempotent and keeps its meaning: the same
/// syntax tree (positions aside), the same IR (spans aside) and the same diagnostics (codes
/// and messages); a file with syntax errors is refused with exactly those errors.
#[test]
fn every_file_formats_idempotently_and_keeps_its_meaning() {
    let mut formatted = 0;
    let mut refused = 0;
    for path in every_pipe_file() {
        let name = path.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&path).expect("readable");
        let out = match format(&text) {
            Ok(out) => out,
            Err(diags) => {
                assert!(has_syntax_errors(&text), "{name}: refused without errors");
                let syntax = Parser::parse(FileId(0), &text).1;
                let errors: Vec<_> = syntax
                    .into_iter()
                    .filter(pipec::diagnostics::Diagnostic::is_error)
                    .collect();
                assert_eq!(diags, errors, "{name}: refused with other diagnostics");
                refused += 1;
                continue;
            }
        };
        formatted += 1;
        assert_eq!(
            format(&out).ok().as_ref(),
            Some(&out),
            "{name}: not idempotent"
        );
        assert_eq!(
            ast_without_spans(&text),
            ast_without_spans(&out),
            "{name}: the syntax tree changed"
        );
        let (ir, diags) = compiled(&name, &text);
        let (ir_after, diags_after) = compiled(&name, &out);
        assert_eq!(ir, ir_after, "{name}: the IR changed");
        assert_eq!(diags, diags_after, "{name}: the diagnostics changed");
    }
    assert!(
        formatted > 90 && refused > 10,
        "{formatted} formatted, {refused} refused"
    );
}

/// A file whose text has no pipeline still round-trips, and an empty file stays empty.
#[test]
fn empty_and_comment_only_files() {
    assert_eq!(format("").ok().as_deref(), Some(""));
    assert_eq!(format("\n\n  \n").ok().as_deref(), Some(""));
    assert_eq!(
        format("  // only a comment  \n\n\n/* and another */")
            .ok()
            .as_deref(),
        Some("// only a comment\n\n/* and another */\n")
    );
}

// ---------------------------------------------------------------------------- the CLI

const UGLY: &str = "pipeline p { stage build { action compile: sh { run = \"make\" } } }\n";
const PRETTY: &str =
    "pipeline p {\n  stage build {\n    action compile: sh { run = \"make\" }\n  }\n}\n";
const BROKEN: &str = "pipeline p {\n  stage build {\n    action compile: sh { run = }\n  }\n}\n";

#[test]
fn fmt_rewrites_a_file_in_place() {
    let t = Test::new().file("app.pipe", UGLY);
    let out = t.args(["fmt", "app.pipe"]).run();
    assert_eq!(
        std::fs::read_to_string(t.path("app.pipe")).expect("file"),
        PRETTY
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(out.stderr.trim(), "1 file: 1 reformatted");
}

#[test]
fn fmt_leaves_formatted_files_untouched() {
    use std::os::unix::fs::MetadataExt as _;
    let t = Test::new().file("app.pipe", PRETTY);
    let before = std::fs::metadata(t.path("app.pipe")).expect("meta");
    let out = t.args(["fmt", "app.pipe"]).run();
    let after = std::fs::metadata(t.path("app.pipe")).expect("meta");
    // Not rewritten: a rewrite renames a new file over it.
    assert_eq!(before.ino(), after.ino());
    assert_eq!(out.stderr.trim(), "1 file: 1 already formatted");
}

#[test]
fn fmt_keeps_the_permissions_of_a_rewritten_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = Test::new().file("app.pipe", UGLY);
    std::fs::set_permissions(t.path("app.pipe"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    t.args(["fmt", "app.pipe"]).run();
    let mode = std::fs::metadata(t.path("app.pipe"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(t.path("."))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, ["app.pipe"], "no temporary file is left");
}

#[test]
fn fmt_check_prints_a_unified_diff_and_exits_1() {
    let t = Test::new().file("ci/app.pipe", UGLY);
    let out = t.args(["fmt", "--check", "ci/app.pipe"]).status(1).run();
    let expected = "--- ci/app.pipe\n+++ ci/app.pipe\n@@ -1 +1,5 @@\n-pipeline p { stage build { action compile: sh { run = \"make\" } } }\n+pipeline p {\n+  stage build {\n+    action compile: sh { run = \"make\" }\n+  }\n+}\n";
    assert_eq!(out.stdout, expected);
    assert_eq!(out.stderr.trim(), "1 file: 1 would be reformatted");
    // --check writes nothing.
    assert_eq!(
        std::fs::read_to_string(t.path("ci/app.pipe")).expect("file"),
        UGLY
    );
}

#[test]
fn fmt_check_exits_0_when_every_file_is_formatted() {
    let out = Test::new()
        .file("a.pipe", PRETTY)
        .file("b.pipe", PRETTY)
        .args(["fmt", "--check"])
        .stdout("")
        .run();
    assert_eq!(out.stderr.trim(), "2 files: 2 already formatted");
}

#[test]
fn fmt_walks_folders_recursively() {
    let t = Test::new()
        .file("a.pipe", UGLY)
        .file("ci/deep/b.pipe", UGLY)
        .file("ci/notes.txt", "not a pipe file { }")
        .file(".hidden/c.pipe", UGLY)
        .file("target/d.pipe", UGLY);
    let out = t.args(["fmt"]).run();
    assert_eq!(out.stderr.trim(), "2 files: 2 reformatted");
    let read = |p: &str| std::fs::read_to_string(t.path(p)).expect("file");
    assert_eq!(read("a.pipe"), PRETTY);
    assert_eq!(read("ci/deep/b.pipe"), PRETTY);
    assert_eq!(read(".hidden/c.pipe"), UGLY);
    assert_eq!(read("target/d.pipe"), UGLY);
    assert_eq!(read("ci/notes.txt"), "not a pipe file { }");
}

#[test]
fn fmt_refuses_a_file_with_syntax_errors_and_goes_on() {
    let t = Test::new()
        .file("a_broken.pipe", BROKEN)
        .file("b_ugly.pipe", UGLY);
    let out = t.args(["fmt", "."]).status(1).run();
    let read = |p: &str| std::fs::read_to_string(t.path(p)).expect("file");
    assert_eq!(read("a_broken.pipe"), BROKEN, "left as it was");
    assert_eq!(
        read("b_ugly.pipe"),
        PRETTY,
        "the next file is still formatted"
    );
    // The report `pipec check` gives.
    let check = Test::new()
        .file("a_broken.pipe", BROKEN)
        .args(["check", "a_broken.pipe"])
        .status(1)
        .run();
    let report = check.stderr.split("checked 1 file").next().expect("report");
    assert!(
        out.stderr.starts_with(report),
        "{}\n----\n{report}",
        out.stderr
    );
    assert!(out.stderr.contains("E0101"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`a_broken.pipe` has syntax errors: left as it is"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .ends_with("2 files: 1 reformatted, 1 left as it is (syntax errors)\n"),
        "{}",
        out.stderr
    );
}

/// Two files `check` accepts that the formatter used to fail on (exit 101, and the files
/// after them left unformatted): a byte-order mark before a `///` doc comment, and a block
/// string whose last line holds a carriage return before the closing quotes.
#[test]
fn fmt_formats_a_folder_with_a_byte_order_mark_and_a_carriage_return_in_a_block_string() {
    let bom = "\u{feff}/// Builds.\ntemplate b(): sh { run = \"make\" }\n";
    let cr = "pipeline p {\n  stage s {\n    action a: sh {\nrun = \"\"\"\n        echo hi\n\r \"\"\"\n    }\n  }\n}\n";
    let t = Test::new()
        .file("a_bom.pipe", bom)
        .file("b_cr.pipe", cr)
        .file("c_ugly.pipe", UGLY);
    let out = t.args(["fmt", "."]).run();
    let read = |p: &str| std::fs::read_to_string(t.path(p)).expect("file");
    assert_eq!(read("c_ugly.pipe"), PRETTY);
    for file in ["a_bom.pipe", "b_cr.pipe"] {
        let formatted = read(file);
        assert_eq!(format(&formatted).as_deref(), Ok(formatted.as_str()));
    }
    assert!(
        read("b_cr.pipe").contains("echo hi\n\r \"\"\""),
        "{}",
        read("b_cr.pipe")
    );
    assert!(
        out.stderr.ends_with("3 files: 3 reformatted\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn fmt_check_reports_syntax_errors_and_exits_1() {
    let out = Test::new()
        .file("a.pipe", BROKEN)
        .args(["fmt", "--check", "a.pipe"])
        .status(1)
        .run();
    assert!(out.stdout.is_empty(), "no diff for a refused file");
    assert!(out.stderr.contains("E0101"), "{}", out.stderr);
}

#[test]
fn fmt_dash_formats_stdin_to_stdout() {
    Test::new()
        .args(["fmt", "-"])
        .stdin(UGLY)
        .stdout(PRETTY)
        .stderr("")
        .run();
}

#[test]
fn fmt_stdin_flag_formats_stdin_to_stdout() {
    Test::new()
        .args(["fmt", "--stdin"])
        .stdin(UGLY)
        .stdout(PRETTY)
        .run();
}

#[test]
fn fmt_stdin_check_prints_the_diff() {
    Test::new()
        .args(["fmt", "--check", "-"])
        .stdin(UGLY)
        .status(1)
        .stdout_starts_with("--- <stdin>\n+++ <stdin>\n")
        .run();
    Test::new()
        .args(["fmt", "--check", "-"])
        .stdin(PRETTY)
        .stdout("")
        .run();
}

#[test]
fn fmt_stdin_with_syntax_errors_prints_nothing_on_stdout() {
    Test::new()
        .args(["fmt", "-"])
        .stdin(BROKEN)
        .status(1)
        .stdout("")
        .stderr_contains("<stdin>:3:")
        .run();
}

#[test]
fn fmt_stdin_and_files_together_is_a_usage_error() {
    Test::new()
        .file("a.pipe", UGLY)
        .args(["fmt", "-", "a.pipe"])
        .status(2)
        .stderr_contains("standard input only")
        .run();
}

#[test]
fn fmt_missing_path_exits_2() {
    Test::new()
        .args(["fmt", "nope.pipe"])
        .status(2)
        .stderr_contains("cannot read `nope.pipe`")
        .run();
}

#[test]
fn fmt_help_teaches_with_examples_and_exit_codes() {
    let out = Test::new().args(["fmt", "--help"]).run();
    for needle in [
        "Examples:",
        "pipec fmt --check",
        "pipec fmt -",
        "Exit status: 0",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
}

/// The examples and the stdlib are committed formatted.
#[test]
fn examples_and_stdlib_are_formatted() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["fmt", "--check", "examples", "stdlib"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run pipec");
    assert_eq!(
        out.status.code(),
        Some(0),
        "run `pipec fmt examples stdlib`:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every fixture with syntax errors, formatted from the command line: refused, reported,
/// and left byte for byte as it was.
#[test]
fn fixtures_with_syntax_errors_are_refused_and_left_unchanged() {
    let broken: Vec<(String, String)> = every_pipe_file()
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let name = p.to_string_lossy().replace(['/', '\\'], "__");
            (name, text)
        })
        .filter(|(_, text)| has_syntax_errors(text))
        .collect();
    assert!(broken.len() > 10, "{} broken fixtures", broken.len());
    let mut t = Test::new();
    for (name, text) in &broken {
        t = t.file(&format!("broken/{name}"), text);
    }
    let out = t.args(["fmt", "broken"]).status(1).run();
    for (name, text) in &broken {
        let now = std::fs::read_to_string(t.path(&format!("broken/{name}"))).expect("file");
        assert_eq!(&now, text, "{name} was changed");
        assert!(
            out.stderr
                .contains(&format!("`broken/{name}` has syntax errors")),
            "{name}: {}",
            out.stderr
        );
    }
    assert!(
        out.stderr.ends_with(&format!(
            "{n} files: {n} left as it is (syntax errors)\n",
            n = broken.len()
        )),
        "{}",
        out.stderr
    );
}
