//! [`Test`]: a temporary folder where a test writes files and runs the `pipec` binary, each
//! command ([`Run`]) asserting its exit status (0 unless told otherwise) and what is asked of
//! its stdout and stderr, all at once, in one failure message that shows the command, its
//! status and both outputs.

use std::ffi::{OsStr, OsString};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder, removed when the test ends, where `pipec` runs.
pub(crate) struct Test {
    dir: tempfile::TempDir,
    env: Vec<(OsString, OsString)>,
}

impl Test {
    pub(crate) fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
        }
    }

    /// Writes a file (its path relative to the folder; folders are created).
    pub(crate) fn file(self, name: &str, text: &str) -> Test {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write file");
        self
    }

    /// Sets an environment variable for every command run in this folder.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A path in the folder.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `pipec ARGS` in this folder: set what to expect, then [`Run::run`] it.
    pub(crate) fn args<I, S>(&self, args: I) -> Run<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run {
            test: self,
            args: Vec::new(),
            env: Vec::new(),
            stdin: Stdin::Null,
            cap_kib: None,
            deadline: None,
            status: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
        .args(args)
    }

    /// `pipec ARGS --state-dir state`: a command on the runs recorded in the folder's `state`.
    pub(crate) fn state<I, S>(&self, args: I) -> Run<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args(args).args(["--state-dir", "state"])
    }

    /// `pipec show RUN --json` of the folder's `state`, which must succeed.
    pub(crate) fn show(&self, run: &str) -> serde_json::Value {
        self.state(["show", run, "--json"]).run().json()
    }

    /// `pipec runs --json` of the folder's `state` (newest first), which must succeed.
    pub(crate) fn runs(&self) -> Vec<serde_json::Value> {
        match self.state(["runs", "--json"]).run().json() {
            serde_json::Value::Array(rows) => rows,
            other => panic!("`pipec runs --json` printed no array: {other}"),
        }
    }
}

/// What a command reads on stdin.
enum Stdin {
    Null,
    Text(Vec<u8>),
    File(PathBuf),
}

/// One expectation of an output.
enum Expect {
    Is(String),
    Contains(String),
    Lacks(String),
    StartsWith(String),
}

impl Expect {
    fn holds(&self, text: &str) -> bool {
        match self {
            Expect::Is(s) => text == s,
            Expect::Contains(s) => text.contains(s.as_str()),
            Expect::Lacks(s) => !text.contains(s.as_str()),
            Expect::StartsWith(s) => text.starts_with(s.as_str()),
        }
    }

    fn describe(&self, stream: &str) -> String {
        match self {
            Expect::Is(s) if s.is_empty() => format!("{stream} to be empty"),
            Expect::Is(s) => format!("{stream} to be exactly:\n{s}\n(end)"),
            Expect::Contains(s) => format!("{stream} to contain {s:?}"),
            Expect::Lacks(s) => format!("{stream} not to contain {s:?}"),
            Expect::StartsWith(s) => format!("{stream} to start with {s:?}"),
        }
    }
}

/// One `pipec` command in a [`Test`]'s folder and what it must do. Nothing is inherited
/// from the test's own environment that changes pipec's output: `NO_COLOR` and
/// `PIPEC_STATE_DIR` are removed, `COLUMNS` is 100 (pipec's own default).
#[must_use = "a command does nothing until it is run"]
pub(crate) struct Run<'a> {
    test: &'a Test,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Stdin,
    cap_kib: Option<u64>,
    deadline: Option<Duration>,
    status: Option<i32>,
    stdout: Vec<Expect>,
    stderr: Vec<Expect>,
}

impl<'a> Run<'a> {
    /// More arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for this command.
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.into(), value.as_ref().to_os_string()));
        self
    }

    /// Writes `text` to its stdin (else stdin is `/dev/null`).
    pub(crate) fn stdin(mut self, text: &str) -> Self {
        self.stdin = Stdin::Text(text.as_bytes().to_vec());
        self
    }

    /// Reads its stdin from a file (a FIFO or a device too).
    pub(crate) fn stdin_file(mut self, path: &Path) -> Self {
        self.stdin = Stdin::File(path.to_path_buf());
        self
    }

    /// Runs it under `ulimit -v KIB` (its address space), so that an unbounded read fails
    /// instead of eating the machine's memory.
    pub(crate) fn address_space_kib(mut self, kib: u64) -> Self {
        self.cap_kib = Some(kib);
        self
    }

    /// Kills it and fails the test when it has not ended after `secs` seconds.
    pub(crate) fn within(mut self, secs: u64) -> Self {
        self.deadline = Some(Duration::from_secs(secs));
        self
    }

    /// Its exit status (0 unless said).
    pub(crate) fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// Any exit status will do (a command racing another, or one whose status the test
    /// checks against something else).
    pub(crate) fn any_status(mut self) -> Self {
        self.status = None;
        self
    }

    /// Its stdout, exactly (`""`: nothing).
    pub(crate) fn stdout(mut self, text: &str) -> Self {
        self.stdout.push(Expect::Is(text.into()));
        self
    }

    pub(crate) fn stdout_contains(mut self, text: &str) -> Self {
        self.stdout.push(Expect::Contains(text.into()));
        self
    }

    pub(crate) fn stdout_lacks(mut self, text: &str) -> Self {
        self.stdout.push(Expect::Lacks(text.into()));
        self
    }

    pub(crate) fn stdout_starts_with(mut self, text: &str) -> Self {
        self.stdout.push(Expect::StartsWith(text.into()));
        self
    }

    /// Its stderr, exactly (`""`: nothing).
    pub(crate) fn stderr(mut self, text: &str) -> Self {
        self.stderr.push(Expect::Is(text.into()));
        self
    }

    pub(crate) fn stderr_contains(mut self, text: &str) -> Self {
        self.stderr.push(Expect::Contains(text.into()));
        self
    }

    pub(crate) fn stderr_lacks(mut self, text: &str) -> Self {
        self.stderr.push(Expect::Lacks(text.into()));
        self
    }

    /// `pipec ARGS` as a shell would show it, and where it ran.
    fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                let a = a.to_string_lossy();
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c))
                {
                    format!("'{}'", a.replace('\'', r"'\''"))
                } else {
                    a.into_owned()
                }
            })
            .collect();
        format!(
            "`pipec {}` in {}",
            args.join(" "),
            self.test.dir.path().display()
        )
    }

    fn command(&self) -> Command {
        let mut cmd = if let Some(kib) = self.cap_kib {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -v {kib}; exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_pipec"));
            sh
        } else {
            Command::new(env!("CARGO_BIN_EXE_pipec"))
        };
        cmd.args(&self.args)
            .current_dir(self.test.dir.path())
            .env_remove("NO_COLOR")
            .env_remove("PIPEC_STATE_DIR")
            .env("COLUMNS", "100")
            .envs(self.test.env.iter().map(|(k, v)| (k, v)))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(match &self.stdin {
                Stdin::Null => Stdio::null(),
                Stdin::Text(_) => Stdio::piped(),
                Stdin::File(p) => Stdio::from(std::fs::File::open(p).expect("stdin file")),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts it in the background: [`Running::wait`] checks what is expected.
    pub(crate) fn spawn(self) -> Running<'a> {
        let mut cmd = self.command();
        let stdin = match &self.stdin {
            Stdin::Text(text) => Some(text.clone()),
            Stdin::Null | Stdin::File(_) => None,
        };
        Running {
            started: Started::new(&mut cmd, stdin),
            run: self,
        }
    }

    /// Runs it to its end and checks what is expected: the output, for more assertions.
    pub(crate) fn run(self) -> Output {
        self.spawn().wait()
    }
}

/// A command started by [`Run::spawn`].
pub(crate) struct Running<'a> {
    run: Run<'a>,
    started: Started,
}

impl Running<'_> {
    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.started.child.id()
    }

    /// Whether it has ended.
    pub(crate) fn has_ended(&mut self) -> bool {
        self.started
            .child
            .try_wait()
            .expect("wait for pipec")
            .is_some()
    }

    /// `kill -9` (a crash): what it wrote until then. Nothing is expected of it any more.
    pub(crate) fn kill(mut self) -> Output {
        let _ = self.started.child.kill();
        let status = self.started.child.wait().expect("wait");
        self.started.collect(status, false)
    }

    /// Sends `signal` to it.
    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("signal pipec");
    }

    /// Waits for its end (killing it and failing past [`Run::within`]'s deadline) and checks
    /// what is expected.
    pub(crate) fn wait(self) -> Output {
        let out = match self.started.finish(self.run.deadline) {
            Ok(out) => out,
            Err(out) => {
                let secs = self.run.deadline.map_or(0, |d| d.as_secs());
                panic!(
                    "{}",
                    out.report(&self.run, &[format!("it to end within {secs} s")])
                );
            }
        };
        let mut failed = Vec::new();
        if let Some(code) = self.run.status
            && out.code != code
        {
            failed.push(format!("exit status {code}, got {}", out.code));
        }
        for (stream, expects, text) in [
            ("stdout", &self.run.stdout, &out.stdout),
            ("stderr", &self.run.stderr, &out.stderr),
        ] {
            failed.extend(
                expects
                    .iter()
                    .filter(|e| !e.holds(text))
                    .map(|e| e.describe(stream)),
            );
        }
        assert!(failed.is_empty(), "{}", out.report(&self.run, &failed));
        out
    }
}

/// Runs `cmd` (not pipec: a program that runs it) to its end with its stdout and stderr
/// captured; kills it and fails the test past `secs` seconds.
pub(crate) fn output_within(mut cmd: Command, secs: u64) -> Output {
    let shown = format!("{cmd:?}");
    Started::new(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()), None)
        .finish(Some(Duration::from_secs(secs)))
        .unwrap_or_else(|out| {
            panic!(
                "`{shown}` did not end within {secs} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.stdout, out.stderr
            )
        })
}

/// A process whose stdout and stderr are read as it runs (so that it never blocks on a
/// full pipe), and whose stdin is written from a thread.
struct Started {
    child: Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Started {
    fn new(cmd: &mut Command, stdin: Option<Vec<u8>>) -> Started {
        let mut child = cmd.spawn().expect("spawn");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // pipec may exit before reading (a usage error): a broken pipe is not a failure.
            std::thread::spawn(move || {
                use std::io::Write as _;
                let _ = pipe.write_all(&text);
            });
        }
        let read = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut bytes);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = read(child.stdout.take().map(|o| Box::new(o) as _));
        let stderr = read(child.stderr.take().map(|e| Box::new(e) as _));
        Started {
            child,
            stdout,
            stderr,
        }
    }

    /// Its output once it has ended; `Err` (what it wrote until then) when it was still
    /// running after `deadline`, and was killed.
    fn finish(mut self, deadline: Option<Duration>) -> Result<Output, Output> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Ok(self.collect(status, true));
            }
            if deadline.is_some_and(|d| start.elapsed() > d) {
                let _ = self.child.kill();
                let status = self.child.wait().expect("wait");
                return Err(self.collect(status, false));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What it wrote, once it has ended with `status`. Killed (not `patient`), it may have
    /// left processes that hold its pipes open: what they hold is not waited for long.
    fn collect(self, status: std::process::ExitStatus, patient: bool) -> Output {
        let join = |h: std::thread::JoinHandle<String>| {
            let give_up = Instant::now() + Duration::from_secs(2);
            while !patient && !h.is_finished() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(10));
            }
            if !patient && !h.is_finished() {
                return "(not read to its end: its pipe is still open)".to_string();
            }
            h.join().expect("reader")
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: join(self.stdout),
            stderr: join(self.stderr),
        }
    }
}

/// What a `pipec` command did.
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// Its stdout as one JSON document.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is no JSON document ({e}):\n{}", self.stdout))
    }

    /// The failure message: the command, what was expected of it, and what it did.
    fn report(&self, run: &Run<'_>, failed: &[String]) -> String {
        use std::fmt::Write as _;
        let mut s = format!("{} did not do what was expected:\n", run.describe());
        for f in failed {
            let _ = writeln!(s, "  expected {f}");
        }
        let _ = write!(
            s,
            "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.code, self.stdout, self.stderr
        );
        s
    }
}

/// The builder itself: each expectation that does not hold fails the test, all of them are
/// named at once, with the command, its status and both outputs.
#[test]
fn a_command_that_does_not_do_what_is_expected_fails_with_everything_shown() {
    let t = Test::new().file("bad.pipe", "pipeline p {");
    // What holds passes.
    let out = t
        .args(["check", "bad.pipe", "--format", "short"])
        .status(1)
        .stdout_starts_with("bad.pipe:1:")
        .stdout_contains("error[E0101]")
        .stdout_lacks("warning")
        .stderr_lacks("panicked")
        .run();
    assert!(out.stdout.ends_with('\n'));
    let failure = |run: Run<'_>| {
        let Err(err) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.run())) else {
            panic!("the expectation held");
        };
        err.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    // The default status is 0; the report names the command and every failed expectation.
    let report = failure(
        t.args(["check", "bad.pipe", "--format", "short"])
            .stdout("")
            .stderr_contains("no such text"),
    );
    for needed in [
        "`pipec check bad.pipe --format short` in ",
        "expected exit status 0, got 1",
        "expected stdout to be empty",
        "expected stderr to contain \"no such text\"",
        "--- stdout ---\nbad.pipe:1:",
        "--- stderr ---\n",
    ] {
        assert!(report.contains(needed), "{needed}: {report}");
    }
    assert!(
        failure(t.args(["check", "bad.pipe"]).any_status().stdout_lacks(""))
            .contains("not to contain"),
    );
    assert!(failure(t.args(["--version"]).stderr("x")).contains("stderr to be exactly"));
    let slow = t.file(
        "slow.pipe",
        "pipeline s { stage a { action x: sh { run = \"sleep 30\" } } }\n",
    );
    let report = failure(slow.state(["run", "slow.pipe"]).within(1));
    assert!(report.contains("expected it to end within 1 s"), "{report}");
}
