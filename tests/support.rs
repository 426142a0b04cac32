//! Shared helpers: checking a file from disk like the CLI does, a CLI runner, and the guard
//! of tests that need a program besides cargo, bash and coreutils.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// Whether an executable file named `program` is in one of `PATH`'s folders.
fn on_path(program: &str) -> bool {
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

/// The result of running the `pipec` binary.
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// A builder for one `pipec` invocation in a temporary folder.
pub(crate) struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(String, String)>,
}

impl Test {
    pub(crate) fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
        }
    }

    /// Writes a file (relative to the temp folder).
    pub(crate) fn file(self, name: &str, text: &str) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write file");
        self
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Test {
        self.args.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    /// Sets an environment variable for the run.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs with these arguments in the same folder, keeping the builder.
    pub(crate) fn args_once(&self, args: &[&str]) -> Output {
        self.args_once_env(args, ("PIPEC_TEST", "1"))
    }

    /// [`Test::args_once`] with one more environment variable.
    pub(crate) fn args_once_env(&self, args: &[&str], (key, value): (&str, &str)) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipec"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env(key, value);
        let out = cmd.output().expect("run pipec");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `pipec ARGS` in the background, in this folder, with no terminal and its output
    /// discarded.
    pub(crate) fn spawn_quiet(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pipec")
    }

    pub(crate) fn stdin(mut self, text: &str) -> Test {
        self.stdin = Some(text.to_string());
        self
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn run(&self) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipec"));
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env_remove("NO_COLOR")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("COLUMNS", "80")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pipec");
        if let Some(text) = &self.stdin {
            use std::io::Write;
            // pipec may exit before reading (a usage error): a broken pipe is not a failure.
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(text.as_bytes());
            }
        }
        let out = child.wait_with_output().expect("wait for pipec");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
