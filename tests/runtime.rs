//! The scheduler and the kinds of `pipec run`: the stage graph, the `jobs` limit, entry and
//! `on success` rules, timeouts, `git` and `pipeline` actions, `--verbose` (approvals and
//! rollback: `durable.rs`).
//! Each test runs pipec in a temporary folder with its own state directory.

use crate::support::{Test, files_under, git, require_tool, says, stage};

/// Two branches whose actions each wait (up to 5 s) for the other's marker: they pass only
/// when both run at once. The join waits for both; a branch whose guard is false is not
/// reached, and neither is the stage behind it.
const BRANCHES: &str = r#"pipeline branches {
  param dir: string
  stage start { action go: sh { run = "true" } }
  stage left {
    after = [start]
    action meet: sh { run = "touch ${params.dir}/left; for i in $(seq 50); do test -f ${params.dir}/right && exit 0; sleep 0.1; done; exit 1" }
  }
  stage right {
    after = [start]
    action meet: sh { run = "touch ${params.dir}/right; for i in $(seq 50); do test -f ${params.dir}/left && exit 0; sleep 0.1; done; exit 1" }
  }
  stage never {
    action no: sh { run = "touch ${params.dir}/never" }
  }
  stage behind_never { action no: sh { run = "touch ${params.dir}/never" } }
  stage join {
    after = [left, right, behind_never]
    action done: sh { run = "touch ${params.dir}/joined" }
  }
  transition start -> never when params.dir == "nowhere"
}
"#;

#[test]
fn branches_run_side_by_side_and_a_join_waits_for_the_branches_that_ran() {
    let marks = tempfile::tempdir().expect("tmp");
    let dir = format!("dir={}", marks.path().display());
    let t = Test::new().file("pipeline.pipe", BRANCHES);
    t.state(["run", "pipeline.pipe"])
        .args(["--param", &dir, "--jobs", "2"])
        .run();
    assert!(marks.path().join("joined").exists());
    assert!(!marks.path().join("never").exists());
    let v = t.show("last");
    assert_eq!(stage(&v, "never")["status"], "skipped");
    assert_eq!(stage(&v, "never")["actions"][0]["status"], "skipped");
    assert_eq!(stage(&v, "behind_never")["status"], "skipped");
    assert_eq!(stage(&v, "join")["status"], "succeeded");
}

#[test]
fn the_jobs_limit_holds_across_stages() {
    // With one job, the two branches cannot meet: each gives up after 5 s.
    let marks = tempfile::tempdir().expect("tmp");
    let dir = format!("dir={}", marks.path().display());
    let t = Test::new().file("pipeline.pipe", BRANCHES);
    t.state(["run", "pipeline.pipe"])
        .args(["--param", &dir, "--jobs", "1"])
        .status(1)
        .run();
    let v = t.show("last");
    assert_eq!(v["status"], "failed");
    assert!(!marks.path().join("joined").exists());
}

#[test]
fn entry_windows_and_checks_decide_at_run_time() {
    let src = r#"pipeline gates {
  stage always {
    entry { window "* * * * *" }
    action a: sh { run = "true" }
  }
  stage never {
    entry { window "0 0 31 2 *" else skip }
    action a: sh { run = "touch never" }
  }
  stage checked {
    entry { check sh { run = "exit 3" } else skip }
    action a: sh { run = "touch never" }
  }
  stage passed {
    entry { check sh { run = "test -n \"$PIPEC_RUN_ID\"" } }
    action a: sh { run = "true" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .stderr_contains("outside the deployment window `0 0 31 2 *`")
        .stderr_contains("exited with status 3")
        .run();
    let v = t.show("last");
    assert_eq!(stage(&v, "always")["status"], "succeeded");
    assert_eq!(stage(&v, "never")["status"], "skipped");
    assert_eq!(stage(&v, "checked")["status"], "skipped");
    assert_eq!(stage(&v, "passed")["status"], "succeeded");
}

#[test]
fn a_window_with_else_fail_fails_the_run_at_once() {
    let src = r#"pipeline gates {
  stage deploy {
    entry { window "0 0 31 2 *" else fail }
    action a: sh { run = "touch ran" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(1).run();
    assert!(!t.path("ran").exists());
    assert_eq!(stage(&t.show("last"), "deploy")["status"], "failed");
}

#[test]
fn on_success_rules_fail_the_stage_clearly() {
    let src = r#"pipeline after {
  param ok: bool = false
  stage verify {
    on success { require params.ok }
    action a: sh { run = "true" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("on success: `params.ok` is false")
        .run();
    assert_eq!(stage(&t.show("last"), "verify")["status"], "failed");
    Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .args(["--param", "ok=true"])
        .run();
}

#[test]
fn on_failure_retry_reruns_the_failed_actions_of_the_stage() {
    let src = r#"pipeline again {
  param dir: string
  stage flaky {
    on failure retry 1 failed
    action steady: sh { run = "echo x >> ${params.dir}/steady" }
    action flaky: sh { run = "test -f ${params.dir}/seen || { touch ${params.dir}/seen; exit 1; }" }
  }
}
"#;
    let marks = tempfile::tempdir().expect("tmp");
    let dir = format!("dir={}", marks.path().display());
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .args(["--param", &dir])
        .run();
    // Only the failed action ran again.
    let steady = std::fs::read_to_string(marks.path().join("steady")).expect("ran");
    assert_eq!(steady.lines().count(), 1);
    let v = t.show("last");
    assert_eq!(stage(&v, "flaky")["actions"][1]["attempts"], 2);
}

#[test]
fn stage_and_pipeline_timeouts_stop_their_actions() {
    let src = r#"pipeline slow {
  stage s {
    timeout 1s
    action a: sh { run = "sleep 30" }
  }
}
"#;
    let started = std::time::Instant::now();
    Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("timed out")
        .run();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    // The pipeline's timeout covers the whole run: the second stage gets what is left.
    let src = r#"pipeline slow {
  timeout 2s
  stage one { action a: sh { run = "sleep 1.5" } }
  stage two { action b: sh { run = "sleep 30" } }
}
"#;
    let started = std::time::Instant::now();
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(1).run();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let v = t.show("last");
    assert_eq!(stage(&v, "one")["status"], "succeeded");
    assert_eq!(stage(&v, "two")["status"], "failed");
}

#[test]
fn plain_commands_behave_as_in_the_shell() {
    let src = r#"pipeline plain {
  stage s {
    action echo: sh { run = "printf %s-%s one two" }
    action missing: sh { run = "no-such-command-pipec --flag" after = [echo] }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("exited with status 127")
        .run();
    t.state(["logs", "last", "s.echo"])
        .stdout_contains("\none-two")
        .run();
    t.state(["logs", "last", "s.missing"])
        .stdout_contains("no-such-command-pipec: command not found")
        .run();
}

#[test]
fn verbose_streams_output_with_a_prefix() {
    let src = r#"pipeline loud {
  secret token = env("LOUD_TOKEN")
  stage s {
    action talk: sh {
      env = { T = secrets.token }
      run = "echo hello from talk; echo token $T >&2"
    }
  }
}
"#;
    let t = Test::new()
        .file("pipeline.pipe", src)
        .env("LOUD_TOKEN", "s3cr3t-value");
    t.state(["run", "pipeline.pipe", "--verbose"])
        .stderr_contains("s.talk | hello from talk")
        .stderr_contains("s.talk | token ***")
        .stderr_lacks("s3cr3t-value")
        .run();
}

#[test]
fn git_actions_check_out_a_revision_and_export_it() {
    if !require_tool("git", "apt-get install git") {
        return;
    }
    let src = r#"pipeline fromgit {
  param rev: string = "HEAD"
  stage source {
    action fetch: git { repo = "repo" ref = params.rev output = src }
  }
  stage build {
    action read: sh {
      input = src
      env = { COMMIT = source.fetch.commit, BRANCH = source.fetch.branch }
      run = "cat app.txt; echo commit=$COMMIT branch=$BRANCH; test ! -e .git"
    }
  }
}
"#;
    let t = Test::new()
        .file("pipeline.pipe", src)
        .file("repo/app.txt", "first\n");
    let repo = t.path("repo");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("app.txt"), "second\n").expect("write");
    git(&repo, &["commit", "-q", "-am", "two"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);

    t.state(["run", "pipeline.pipe"]).run();
    let v = t.show("last");
    let exports = &stage(&v, "source")["actions"][0]["exports"];
    assert_eq!(exports["commit"], second.as_str());
    assert_eq!(exports["branch"], "main");
    t.state(["logs", "last", "build.read"])
        .stdout_contains("\nsecond\n")
        .run();

    let rev = format!("rev={first}");
    t.state(["run", "pipeline.pipe", "--param", &rev]).run();
    t.state(["logs", "last", "build.read"])
        .stdout_contains("\nfirst\n")
        .run();

    t.state(["run", "pipeline.pipe", "--param", "rev=v9"])
        .status(1)
        .stderr_contains("`v9` is not a branch, tag or commit of")
        .run();
}

#[test]
fn pipeline_actions_run_another_pipeline_as_a_run_of_its_own() {
    let parent = r#"pipeline parent {
  param fail: string = "no"
  stage deploy {
    action child: pipeline { file = "child.pipe" params = { who = "parent's $(id)", fail = params.fail } }
  }
}
"#;
    let child = r#"pipeline child {
  param who: string
  param fail: string = "no"
  stage s { action greet: sh { run = "echo hi ${params.who}; test ${params.fail} = no" } }
}
"#;
    let t = Test::new()
        .file("parent.pipe", parent)
        .file("child.pipe", child);
    // Child progress is shown under the action.
    t.state(["run", "parent.pipe"])
        .stderr_contains("deploy.child > s")
        .run();
    let rows = t.runs();
    let pipelines: Vec<&str> = rows.iter().filter_map(|r| r["pipeline"].as_str()).collect();
    assert_eq!(pipelines, ["child", "parent"], "newest first");
    // `last` is the run started by `pipec run`, not the nested one.
    assert_eq!(t.show("last")["pipeline"], "parent");

    t.state(["run", "parent.pipe", "--param", "fail=yes"])
        .status(1)
        .stderr_contains("pipeline `child`")
        .run();
}

#[test]
fn a_pipeline_that_runs_itself_fails_instead_of_recursing() {
    let src = r#"pipeline selfish {
  stage s { action again: pipeline { file = "pipeline.pipe" } }
}
"#;
    Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("would run itself")
        .run();
}

#[test]
fn logs_names_unknown_actions_and_follows_a_running_one() {
    let src = r#"pipeline talk {
  stage s {
    action slow: sh { run = "echo one; sleep 1; echo two" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let running = t.state(["run", "pipeline.pipe"]).spawn();
    // Follow from the first line on: the rest arrives while `logs` waits.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !t.path("state/logs").is_dir() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    t.state(["logs", "last", "s.slow", "--follow"])
        .stdout_contains("one\ntwo\n")
        .run();
    running.wait();

    t.state(["logs", "last", "s.slwo"])
        .status(2)
        .stderr_contains("did you mean `s.slow`?")
        .run();
}

#[test]
fn the_wordcount_example_builds_tests_and_packages() {
    if !require_tool(
        "cc",
        "a C compiler with UBSan: apt-get install gcc libc6-dev",
    ) {
        return;
    }
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wordcount/wordcount.pipe");
    let dest = tempfile::tempdir().expect("tmp");
    let dest_param = format!("dest={}", dest.path().display());
    let out = Test::new()
        .state([
            "run",
            example.to_str().expect("utf-8"),
            "--param",
            "deploy=true",
            "--param",
            &dest_param,
        ])
        .any_status()
        .run();
    let version = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wordcount/VERSION"),
    )
    .expect("VERSION");
    let tarball = dest
        .path()
        .join(format!("wordcount-{}.tar.gz", version.trim()));
    assert!(tarball.is_file(), "{}", out.stderr);
}

#[test]
fn interpolated_values_are_data_in_every_shell_context() {
    let src = r#"pipeline hostile {
  param x: string
  stage s {
    action contexts: sh {
      run = """
        set -eu
        printf '%s|\n' ${params.x}
        printf '%s|\n' "double ${params.x}"
        printf '%s|\n' 'single ${params.x}'
        printf '%s|\n' "$(printf '%s' "${params.x}")"
        printf '%s|\n' "`printf '%s' "${params.x}"`"
        printf '%s|\n' $'ansi ${params.x}'
        cat <<EOT
        heredoc ${params.x}
        EOT
        """
    }
    action python: sh { shell = "python3" run = "print('${params.x}')" after = [contexts] }
  }
}
"#;
    let marker = tempfile::tempdir().expect("tmp");
    let m = marker.path().join("pwned");
    let value = format!(
        "x=$(touch {m}) `touch {m}` '; touch {m}; ' \"\nEOT\ntouch {m}\n",
        m = m.display()
    );
    let t = Test::new().file("pipeline.pipe", src);
    let out = t
        .state(["run", "pipeline.pipe"])
        .args(["--param", &value])
        .any_status()
        .run();
    assert!(
        !m.exists(),
        "an interpolated value was executed: {}",
        out.stderr
    );
    // The shell contexts ran; the python one is refused: its shell is not a POSIX shell.
    assert_eq!(out.code, 1, "{}", out.stderr);
    says(&out.stderr, "needs a POSIX shell");
    let logs = t.state(["logs", "last", "s.contexts"]).run();
    // Seven contexts, each printing the whole value (four `touch`es) as data.
    assert_eq!(
        logs.stdout.matches("touch").count(),
        7 * 4,
        "{}",
        logs.stdout
    );
}

#[test]
fn a_secret_written_as_an_export_is_stored_masked() {
    let src = r#"pipeline leaky {
  secret token = env("LEAK_TOKEN")
  stage s {
    action a: sh {
      env = { T = secrets.token }
      exports = [leak]
      run = "echo leak=prefix-$T >> $PIPEC_OUTPUT"
    }
    action b: sh { after = [a] env = { L = s.a.leak } run = "echo got $L; exit 1" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .env("LEAK_TOKEN", "tok-SUPERSECRET-12345")
        .status(1)
        .run();
    let v = t.show("last");
    assert_eq!(
        stage(&v, "s")["actions"][0]["exports"]["leak"],
        "prefix-***"
    );
    // Nowhere under the state directory, the database and kept workspaces included.
    for entry in files_under(&t.path("state")) {
        let bytes = std::fs::read(&entry).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("SUPERSECRET"),
            "the secret is in {}",
            entry.display()
        );
    }
}

#[test]
fn no_attempt_starts_or_retries_once_the_stage_time_is_up() {
    let src = r#"pipeline late {
  stage s {
    timeout 2s
    on failure retry 10 all
    action a: sh { retry = { count = 10, backoff = 1s } run = "sleep 0.3; exit 1" }
  }
}
"#;
    let started = std::time::Instant::now();
    let t = Test::new().file("pipeline.pipe", src);
    let out = t.state(["run", "pipeline.pipe"]).status(1).run();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}: {}",
        started.elapsed(),
        out.stderr
    );
    says(&out.stderr, "the stage's timeout (2s) is over");
    let attempts = stage(&t.show("last"), "s")["actions"][0]["attempts"]
        .as_u64()
        .expect("attempts");
    assert!(attempts <= 3, "{attempts} attempts in 2 s");

    let src = r#"pipeline named {
  stage s { timeout 1s  action a: sh { run = "sleep 30" } }
}
"#;
    Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("timed out: the stage's timeout (1s) was reached")
        .run();
}

#[test]
fn stopping_during_a_retry_backoff_abandons_the_action() {
    let src = r#"pipeline patient {
  stage s { action a: sh { retry = { count = 3, backoff = 1m } run = "touch tried; exit 1" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    let child = t.state(["run", "pipeline.pipe"]).status(130).spawn();
    // The first attempt writes `tried` in its (kept) workspace; wait for its failure.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && !files_under(&t.path("state"))
            .iter()
            .any(|p| p.ends_with("tried"))
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.signal(nix::sys::signal::Signal::SIGINT);
    child.wait();
    let v = t.show("last");
    assert_eq!(v["status"], "stopped");
    assert_eq!(stage(&v, "s")["actions"][0]["status"], "abandoned");
    assert_eq!(stage(&v, "s")["status"], "abandoned");
}

#[test]
fn check_logs_and_every_attempt_are_in_pipec_logs() {
    let src = r#"pipeline checked {
  stage gate {
    entry { check sh { run = "echo checking the gate; exit 4" } else skip }
    action a: sh { run = "true" }
  }
  stage flaky {
    action twice: sh { retry = 1 run = "echo attempt $PIPEC_ATTEMPT; test $PIPEC_ATTEMPT = 2" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    // The check's failure, and the tail of its log.
    t.state(["run", "pipeline.pipe"])
        .stderr_contains("gate.entry.check: check failed: exited with status 4")
        .stderr_contains("checking the gate")
        .run();
    t.state(["logs", "last"])
        .stdout_contains("==> gate.entry.check <==\nchecking the gate\n")
        .stdout_contains("==> flaky.twice (attempt 1) <==\nattempt 1\n")
        .stdout_contains("==> flaky.twice (attempt 2) <==\nattempt 2\n")
        .run();
}

#[test]
fn a_closed_pipe_ends_pipec_quietly() {
    let src = r#"pipeline big { stage s { action a: sh { run = "seq 1 300000" } } }
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).run();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["logs", "last", "--state-dir", "state"])
        .current_dir(t.path(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compiled_ir_runs_like_its_source() {
    let src = r#"pipeline compiled {
  param who: string = "world"
  stage build {
    action make: sh {
      run = "mkdir -p out; echo hello ${params.who} > out/greeting.txt; echo version=2.0 >> $PIPEC_OUTPUT"
      output = site from "out"
      exports = [version]
    }
  }
  stage check {
    action read: sh { input = site  env = { V = build.make.version }  run = "grep -q 'hello it' out/greeting.txt; test $V = 2.0" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.args(["compile", "pipeline.pipe", "-o", "pipeline.ir.json"])
        .run();
    t.state(["run", "pipeline.ir.json", "--param", "who=it's me"])
        .run();
    let v = t.show("last");
    assert_eq!(v["pipeline"], "compiled");
    assert_eq!(
        stage(&v, "build")["actions"][0]["exports"]["version"],
        "2.0"
    );
    assert_eq!(stage(&v, "check")["status"], "succeeded");
}

#[test]
fn entry_and_on_success_checks_are_decided_apart() {
    let src = r#"pipeline both {
  stage a {
    entry { check sh { run = "echo pre" } }
    on success { check sh { run = "echo post; exit 1" } }
    action x: sh { run = "echo x" }
  }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("a.on-success.check: check failed")
        .run();
    assert_eq!(stage(&t.show("last"), "a")["status"], "failed");
}

#[test]
fn wait_and_pipeline_actions_keep_to_their_time_limits() {
    let src = "pipeline slow {
  stage a { action w: wait { duration = 30s  timeout = 1s } }
}
";
    let started = std::time::Instant::now();
    Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("timed out")
        .run();
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    let parent = r#"pipeline parent {
  stage a { action child: pipeline { file = "child.pipe"  timeout = 1s } }
}
"#;
    let child = r#"pipeline child {
  stage s { action sleepy: sh { run = "sleep 30" } }
}
"#;
    let t = Test::new()
        .file("parent.pipe", parent)
        .file("child.pipe", child);
    let started = std::time::Instant::now();
    t.state(["run", "parent.pipe"])
        .status(1)
        .stderr_contains("timed out")
        .run();
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn a_retry_backoff_ends_with_the_pipelines_time() {
    let src = r#"pipeline late {
  timeout 2s
  stage s { action a: sh { retry = { count = 3, backoff = 30s } run = "exit 1" } }
}
"#;
    let started = std::time::Instant::now();
    let out = Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .status(1)
        .run();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    says(&out.stderr, "not retried");
}

#[test]
fn outputs_and_workdirs_stay_inside_the_workspace() {
    let src = r#"pipeline escape {
  stage a {
    action link: sh { run = "ln -s /etc e" output = o from "e" }
  }
}
"#;
    Test::new()
        .file("pipeline.pipe", src)
        .state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("leads outside the workspace")
        .run();
    let src = r#"pipeline escape {
  param w: string = "../.."
  stage a { action up: sh { workdir = params.w run = "touch escaped" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"])
        .status(1)
        .stderr_contains("outside its workspace")
        .run();
    assert!(
        !files_under(&t.path("state"))
            .iter()
            .any(|p| p.ends_with("escaped"))
    );
}

#[test]
fn a_when_that_cannot_be_evaluated_fails_and_later_stages_stay_pending() {
    let src = r#"pipeline broken {
  param pat: string = "("
  stage a { action x: sh { run = "true" when = regex("abc", params.pat) } }
  stage b { action y: sh { run = "true" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe"]).status(1).run();
    let v = t.show("last");
    assert_eq!(stage(&v, "a")["actions"][0]["status"], "failed");
    assert_eq!(stage(&v, "b")["status"], "pending");
}

#[test]
fn an_empty_secret_masks_nothing() {
    let src = r#"pipeline empty {
  secret e = env("EMPTY_SECRET")
  stage s { action a: sh { env = { E = secrets.e } run = "echo plain text" } }
}
"#;
    let t = Test::new().file("pipeline.pipe", src);
    t.state(["run", "pipeline.pipe", "-v"])
        .env("EMPTY_SECRET", "")
        .stderr_contains("s.a | plain text")
        .run();
}
