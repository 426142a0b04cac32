//! `pipec run` executing pipelines, and the history commands, in temporary state folders.

use crate::support::{Test, alive, files_under, git, require_tool};

const FLOW: &str = r#"pipeline flow {
  param who: string = "world"
  secret token = env("FLOW_TOKEN")
  stage build {
    action make: sh {
      run = """
        mkdir -p out
        echo hello ${params.who} > out/greeting.txt
        echo "version=1.2.3" >> "$PIPEC_OUTPUT"
        echo "token is $TOKEN"
        """
      env = { TOKEN = secrets.token }
      output = site from "out"
      exports = [version]
    }
    action skipped: sh { run = "touch never" when = params.who == "nobody" }
  }
  stage check {
    action read: sh {
      input = site
      env = { V = build.make.version }
      run = "cat out/greeting.txt; test \"$V\" = 1.2.3"
    }
  }
}
"#;

#[test]
fn a_run_passes_artifacts_and_exports_and_records_them() {
    let t = Test::new()
        .file("flow.pipe", FLOW)
        .env("FLOW_TOKEN", "tok-SECRET-42");
    t.state(["run", "flow.pipe", "--param", "who=$(id)"])
        .stderr_contains("run ")
        .stderr_contains(" succeeded")
        .run();
    let v = t.show("last");
    assert_eq!(v["pipeline"], "flow");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["params"]["who"], "$(id)");
    assert_eq!(v["stages"][0]["name"], "build");
    assert_eq!(v["stages"][0]["actions"][0]["exports"]["version"], "1.2.3");
    assert_eq!(v["stages"][0]["actions"][0]["exit_code"], 0);
    assert_eq!(v["stages"][0]["actions"][1]["status"], "skipped");
    assert_eq!(v["stages"][1]["actions"][0]["status"], "succeeded");
    // The param is data, not a command.
    t.state(["logs", "last", "check.read"])
        .stdout_contains("hello $(id)")
        .run();
}

#[test]
fn secrets_never_reach_logs_or_the_state_directory() {
    let t = Test::new()
        .file("flow.pipe", FLOW)
        .env("FLOW_TOKEN", "tok-SECRET-42");
    t.state(["run", "flow.pipe"])
        .stderr_lacks("tok-SECRET-42")
        .run();
    let files = files_under(&t.path("state"));
    assert!(!files.is_empty(), "the state directory is empty");
    for p in files {
        let bytes = std::fs::read(&p).expect("readable");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("tok-SECRET-42"),
            "secret found in {}",
            p.display()
        );
    }
    t.state(["logs", "last", "build.make"])
        .stdout_contains("token is ***")
        .run();
}

#[test]
fn a_missing_secret_is_a_clear_error() {
    Test::new()
        .file("flow.pipe", FLOW)
        .state(["run", "flow.pipe"])
        .status(1)
        .stderr_contains(
            "secret `token` has no value: environment variable `FLOW_TOKEN` is not set",
        )
        .run();
}

#[test]
fn a_failed_action_stops_its_dependants_and_fails_the_run() {
    let src = "pipeline p {\n  stage a {\n    action bad: sh { run = \"echo about to fail; exit 7\" }\n    action later: sh { after = [bad] run = \"touch ../../../../../later\" }\n  }\n  stage b { action never: sh { run = \"true\" } }\n}\n";
    let t = Test::new().file("p.pipe", src);
    let out = t
        .state(["run", "p.pipe"])
        .status(1)
        .stderr_contains("a.bad: failed")
        .run();
    assert!(
        out.stderr.contains("about to fail") && out.stderr.contains("exited with status 7"),
        "the log tail is shown: {}",
        out.stderr
    );
    let v = t.show("last");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["stages"][0]["actions"][1]["status"], "pending");
    assert_eq!(v["stages"][1]["status"], "pending");
}

#[test]
fn retries_rerun_a_failed_attempt() {
    let src = "pipeline p {\n  param counter: string\n  stage a {\n    action flaky: sh {\n      retry = 2\n      run = \"n=$(cat ${params.counter} 2>/dev/null || echo 0); echo $((n+1)) > ${params.counter}; test $n -ge 1\"\n    }\n  }\n}\n";
    let t = Test::new().file("p.pipe", src);
    let counter = t.path("counter.txt");
    t.state([
        "run",
        "p.pipe",
        "--param",
        &format!("counter={}", counter.display()),
    ])
    .stderr_contains("(attempt 2)")
    .run();
    assert_eq!(
        std::fs::read_to_string(counter).expect("counter").trim(),
        "2"
    );
}

#[test]
fn runs_lists_newest_first_as_json() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline p { stage a { action x: sh { run = \"true\" } } }\n",
    );
    for _ in 0..2 {
        t.state(["run", "p.pipe"]).run();
    }
    let rows = t.runs();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0]["started"].as_str() >= rows[1]["started"].as_str(),
        "newest first: {rows:?}"
    );
    for key in ["id", "pipeline", "status", "started", "finished"] {
        assert!(rows[0].get(key).is_some(), "{key}");
    }
}

#[test]
fn the_hello_example_runs_end_to_end() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello/hello.pipe");
    Test::new()
        .state([
            "run",
            example.to_str().expect("utf-8"),
            "--param",
            "name=it's me",
        ])
        .stderr_contains("deploy.publish: succeeded")
        .run();
}

#[test]
fn ctrl_c_stops_the_run_and_its_processes() {
    let t = Test::new();
    let pid_file = t.path("child.pid");
    let src = format!(
        "pipeline p {{\n  stage a {{\n    action slow: sh {{ run = \"sleep 30 & echo $! > {}; sleep 30\" }}\n  }}\n}}\n",
        pid_file.display()
    );
    let t = t.file("p.pipe", &src);
    let child = t.state(["run", "p.pipe"]).status(130).spawn();
    let started = std::time::Instant::now();
    while !pid_file.exists() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.signal(nix::sys::signal::Signal::SIGINT);
    child.wait();
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!alive(grandchild), "the action's child survived Ctrl-C");
    assert_eq!(t.show("last")["status"], "stopped");
}

#[test]
fn the_state_directory_comes_from_the_environment_and_runs_filter_by_pipeline() {
    let t = Test::new()
        .file(
            "a.pipe",
            "pipeline a { stage s { action x: sh { run = \"true\" } } }\n",
        )
        .file(
            "b.pipe",
            "pipeline b { stage s { action x: sh { run = \"true\" } } }\n",
        );
    let state = t.path("shared-state");
    let state = state.to_str().expect("utf-8");
    for file in ["a.pipe", "b.pipe"] {
        t.args(["run", file, "--jobs", "1"])
            .env("PIPEC_STATE_DIR", state)
            .run();
    }
    let rows = Test::new()
        .args(["runs", "--json", "--pipeline", "b", "--state-dir", state])
        .run()
        .json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["pipeline"], "b");
}

#[test]
fn changed_paths_are_matched_after_normalising() {
    let src = "pipeline p {\n  trigger push { paths = [\"src/**\"] }\n  stage s { action x: sh { run = \"true\" } }\n}\n";
    let t = Test::new().file("p.pipe", src);
    let out = t
        .args([
            "run",
            "p.pipe",
            "--dry-run",
            "--event",
            "push",
            "--branch",
            "main",
            "--changed",
            "./src/a.rs",
        ])
        .run();
    assert!(
        out.stdout.contains("1. stage `s`: runs"),
        "the trigger matched: {}{}",
        out.stdout,
        out.stderr
    );
    t.args([
        "run",
        "p.pipe",
        "--dry-run",
        "--event",
        "push",
        "--branch",
        "main",
        "--changed",
        "docs/x.md",
    ])
    .stdout("")
    .stderr_contains("no changed path matches")
    .run();
}

const CONSTRAINED: &str = r#"pipeline release {
  param env: string = "staging" { allowed = ["staging", "prod"] }
  param version: string = "1.0" { pattern = "[0-9]+\\.[0-9]+" }
  param account: int = 1
  param region: string = env("RELEASE_REGION") { allowed = ["eu", "us"] }
  stage s {
    action a: sh { run = "touch ran; echo ${params.env} ${params.version} ${params.account} ${params.region}" }
  }
}
"#;

/// `pipec run` of `CONSTRAINED` with `args`: its output, and whether anything ran.
fn run_constrained(args: &[&str], region: &str) -> (crate::support::Output, bool) {
    let t = Test::new().file("release.pipe", CONSTRAINED);
    let mut all = vec!["run", "release.pipe", "--state-dir", "state"];
    all.extend_from_slice(args);
    let out = t
        .args(&all)
        .env("RELEASE_REGION", region)
        .any_status()
        .run();
    let ran = t.path("state/work").exists();
    (out, ran)
}

#[test]
fn an_int_param_refuses_leading_zeros_and_says_to_declare_it_string() {
    let (out, ran) = run_constrained(&["--param", "account=012345678901"], "eu");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!ran, "nothing runs");
    for needed in [
        "bad value for param `account`: expected `int`",
        "`012345678901` has leading zeros, which an `int` would drop",
        "help: declare `account` as `string` to keep leading zeros",
    ] {
        assert!(out.stderr.contains(needed), "{needed}: {}", out.stderr);
    }
    // Zero itself, and a negative number, are fine.
    for ok in ["account=0", "account=-12"] {
        let (out, ran) = run_constrained(&["--param", ok], "eu");
        assert_eq!(out.code, 0, "{ok}: {}", out.stderr);
        assert!(ran);
    }
}

#[test]
fn param_values_outside_allowed_or_pattern_stop_the_run_before_anything_runs() {
    let (out, ran) = run_constrained(&["--param", "env=qa", "--param", "version=1.2.3"], "eu");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!ran, "nothing runs");
    for needed in [
        "param `env` does not allow `qa`: it must be one of `staging`, `prod`",
        "param `version` does not allow `1.2.3`",
        "it must match the pattern `[0-9]+\\.[0-9]+`",
    ] {
        assert!(out.stderr.contains(needed), "{needed}: {}", out.stderr);
    }
    // A default read from the environment is checked when it is read.
    let (out, ran) = run_constrained(&[], "asia");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!ran, "nothing runs");
    assert!(
        out.stderr
            .contains("param `region` does not allow `asia`: it must be one of `eu`, `us`"),
        "{}",
        out.stderr
    );
    let (out, ran) = run_constrained(&["--param", "env=prod", "--param", "version=10.2"], "us");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(ran);
}

const TWO_TREES: &str = r#"pipeline trees {
  stage source {
    action app: dir { path = "app"  output = app_src }
    action config: dir { path = "config"  output = config_src }
  }
  stage build {
    action make: sh {
      INPUTS
      run = """
        cat app/main.txt config/prod.env
        test "$PIPEC_INPUT_app_src" = "$PWD/app"
        test "$PIPEC_INPUT_config_src" = "$PWD/config"
        """
    }
  }
}
"#;

#[test]
fn two_dir_inputs_go_to_folders_of_their_own_and_at_the_root_they_are_refused_before_running() {
    let trees = |inputs: &str| {
        Test::new()
            .file("app/main.txt", "main\n")
            .file("config/prod.env", "ENV=prod\n")
            .file("trees.pipe", &TWO_TREES.replace("INPUTS", inputs))
    };
    let t = trees(r#"inputs = { app_src = "app/", config_src = "config" }"#);
    t.state(["run", "trees.pipe", "--verbose"])
        .stderr_contains("build.make | main")
        .stderr_contains("build.make | ENV=prod")
        .run();
    // Both at the workspace root: the check refuses it, and nothing runs.
    let t = trees("inputs = [app_src, config_src]");
    let out = t.state(["run", "trees.pipe"]).status(1).run();
    assert!(
        out.stderr.contains("E0411")
            && out
                .stderr
                .contains("inputs `app_src` and `config_src` would both be restored at `.`"),
        "{}",
        out.stderr
    );
    assert!(!t.path("state/work").exists(), "nothing ran");
}

#[test]
fn a_status_the_history_does_not_know_is_named_by_show_and_runs() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline p { stage a { action x: sh { run = \"true\" } } }\n",
    );
    t.state(["run", "p.pipe"]).run();
    // As a newer pipec might leave it.
    rusqlite::Connection::open(t.path("state/history.db"))
        .expect("history")
        .execute("UPDATE runs SET status = 'paused'", [])
        .expect("update");
    for command in ["show", "runs"] {
        let args: &[&str] = if command == "show" {
            &["show", "last", "--state-dir", "state"]
        } else {
            &["runs", "--state-dir", "state"]
        };
        t.args(args)
            .status(2)
            .stderr_contains("run history: unknown run status `paused`")
            .run();
    }
}

#[test]
fn run_branch_and_commit_come_from_the_repository_around_the_file_unless_given() {
    if !require_tool("git", "apt-get install git") {
        return;
    }
    let src = r#"pipeline facts {
  stage s {
    action a: sh { env = { B = run.branch, C = run.commit } run = "echo branch=$B commit=$C" }
  }
}
"#;
    // No repository above the test's folder is looked at (the temp folder may be inside one).
    let t = Test::new()
        .file("repo/pipeline.pipe", src)
        .file("plain/pipeline.pipe", src);
    let ceiling = t.path("");
    let t = t.env("GIT_CEILING_DIRECTORIES", &ceiling.to_string_lossy());
    let repo = t.path("repo");
    git(&repo, &["init", "-q", "-b", "feature"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let said = |t: &Test, args: &[&str], line: &str| {
        t.state(["run"]).args(args).run();
        t.state(["logs", "last", "s.a"]).stdout_contains(line).run();
    };
    said(
        &t,
        &["repo/pipeline.pipe"],
        &format!("branch=feature commit={sha}\n"),
    );
    // The flags win, each on its own.
    said(
        &t,
        &["repo/pipeline.pipe", "--branch", "main"],
        &format!("branch=main commit={sha}\n"),
    );
    said(
        &t,
        &["repo/pipeline.pipe", "--commit", "abc"],
        "branch=feature commit=abc\n",
    );
    // A detached HEAD has a commit and no branch; outside a repository, neither.
    git(&repo, &["checkout", "-q", "--detach"]);
    said(
        &t,
        &["repo/pipeline.pipe"],
        &format!("branch= commit={sha}\n"),
    );
    said(&t, &["plain/pipeline.pipe"], "branch= commit=\n");
}
