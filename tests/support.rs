//! Shared helpers: checking a file from disk like the CLI does, the [`Test`] builder that
//! runs the `pipec` binary and asserts what it does, reading what a run recorded, and the
//! guard of tests that need a program besides cargo, bash and coreutils.

pub(crate) mod history;
pub(crate) mod targets;
mod test;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub(crate) use test::{Output, Run, Test, output_within};

use pipec::check::{LoadError, Loader};
use pipec::diagnostics::{Diagnostic, render};
use pipec::source::SourceMap;

/// Reads local imports from disk (paths relative to the crate root, where tests run), as
/// the CLI does (regular files only, of a bounded size).
pub(crate) struct FsLoader;

impl Loader for FsLoader {
    fn read(&mut self, path: &str) -> Result<String, LoadError> {
        use pipec::runtime::bounded;
        bounded::read_text(Path::new(path), bounded::MAX_SOURCE).map_err(|e| LoadError {
            missing: e.is_missing(),
            why: e.to_string(),
        })
    }
}

/// The `*.pipe` files under `dir` (relative to the crate root), recursively, sorted.
pub(crate) fn pipe_files(dir: &str) -> Vec<PathBuf> {
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

/// Whether `program` is on `PATH`, for a test that needs it (`how` says what it is and how
/// to install it, e.g. `"Graphviz: apt-get install graphviz"`).
///
/// When it is missing, the test should return at once: this writes one line naming the test,
/// the program and `how` straight to stderr (libtest captures only the print macros, so the
/// line shows in `cargo test`'s output even though the test passes). Where every test must
/// run — `CI` set to anything non-empty, or `PIPEC_REQUIRE_TOOLS=1` — it panics instead.
pub(crate) fn require_tool(program: &str, how: &str) -> bool {
    if on_path(program) {
        return true;
    }
    skip_or_fail(&format!("`{program}`, which is not on PATH"), how)
}

/// For a test that needs something of the machine that is missing (`what`, with `how` to
/// get it): one line saying the test is skipped, or a panic where tests may not skip (as
/// [`require_tool`]). Returns `false` so a test can `return` on it.
pub(crate) fn skip_or_fail(what: &str, how: &str) -> bool {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let required = if !var("CI").is_empty() {
        Some("CI is set")
    } else if var("PIPEC_REQUIRE_TOOLS") == "1" {
        Some("PIPEC_REQUIRE_TOOLS=1")
    } else {
        None
    };
    if let Some(why) = required {
        panic!("this test needs {what} ({how}); {why}, so tests may not skip");
    }
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(String::new, |n| format!(" {n}"));
    let what = what.split(", which").next().unwrap_or(what);
    let line = format!("skipped{test}: needs {what} ({how})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// A program of the Python tools' virtual environment (`PIPEC_EXPORT_VENV`, else
/// `TARGET/export-venv`, as `.ci/run` makes it: the CodePipeline target's validators and
/// `pre-commit`), else on `PATH`.
pub(crate) fn venv_program(program: &str) -> Option<PathBuf> {
    let venv = match std::env::var_os("PIPEC_EXPORT_VENV") {
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("export-venv"))),
    };
    let in_venv = venv
        .map(|v| v.join("bin").join(program))
        .filter(|p| p.is_file());
    in_venv.or_else(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Whether an executable file named `program` is in one of `PATH`'s folders.
pub(crate) fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Checks one file given by its path relative to the crate root.
pub(crate) fn check_file(path: &Path) -> (SourceMap, Vec<Diagnostic>, Option<pipec::ir::Ir>) {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let mut map = SourceMap::new();
    let name = path.to_string_lossy().replace('\\', "/");
    let id = map.add(name, text);
    let out = pipec::compile(&mut map, id, &mut FsLoader);
    (map, out.diagnostics, out.ir)
}

/// Checks source text with no imports from disk.
pub(crate) fn check_text(name: &str, text: &str) -> (SourceMap, Vec<Diagnostic>) {
    pipec::check_source(name, text)
}

/// The deterministic human rendering used in snapshots: no colour, width 80.
pub(crate) fn render_human(map: &SourceMap, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| {
            render::human(
                map,
                d,
                render::HumanOptions {
                    color: false,
                    width: 80,
                },
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `error[E0201] 4:9-4:15` for each diagnostic (with `@FILE ` when it is in another file).
pub(crate) fn summarize(map: &SourceMap, diags: &[Diagnostic], home: &str) -> Vec<String> {
    let dir = Path::new(home).parent().unwrap_or(Path::new(""));
    diags
        .iter()
        .map(|d| {
            let (s, e) = map.line_col(d.primary.span);
            let file = &map.get(d.primary.span.file).name;
            let at = if file == home {
                String::new()
            } else {
                let rel = Path::new(file)
                    .strip_prefix(dir)
                    .map_or(file.clone(), |p| p.to_string_lossy().into_owned());
                format!("@{rel} ")
            };
            format!(
                "{}[{}] {at}{}:{}-{}:{}",
                d.severity.as_str(),
                d.code,
                s.line,
                s.column,
                e.line,
                e.column
            )
        })
        .collect()
}

/// `text` contains `needed` (the whole text is shown when not).
pub(crate) fn says(text: &str, needed: &str) {
    assert!(text.contains(needed), "no `{needed}` in:\n{text}");
}

/// Every file under `dir`, recursively (a folder that comes and goes while a run goes on is
/// passed over).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether process `pid` lives (a zombie does not).
pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// The stage `name` of a run as `pipec show --json` prints it.
pub(crate) fn stage<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no stage {name} in {v}"))
}

/// The action `stage.name` of a run as `pipec show --json` prints it.
pub(crate) fn action<'a>(
    v: &'a serde_json::Value,
    stage: &str,
    name: &str,
) -> &'a serde_json::Value {
    self::stage(v, stage)["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name))
        .unwrap_or_else(|| panic!("no action {stage}.{name} in {v}"))
}

/// Runs `cmd` (`what` it is, for the failure message), which must succeed: its stdout,
/// trimmed.
pub(crate) fn succeeds(mut cmd: std::process::Command, what: &str) -> String {
    let out = cmd.output().expect(what);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `git ARGS` in `dir` (with an author and committer set), which must succeed; its output,
/// trimmed.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    succeeds(cmd, &format!("git {args:?}"))
}
