//! `pipec run` executing pipelines, and the history commands, in temporary state folders.

use crate::support::Test;

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

/// `pipec show last --json` in a state folder.
fn show_last(state: &str) -> serde_json::Value {
    let out = Test::new()
        .args(&["show", "last", "--json", "--state-dir", state])
        .run();
    serde_json::from_str(&out.stdout).expect("show --json prints JSON")
}

fn with_token(t: Test) -> Test {
    t.env("FLOW_TOKEN", "tok-SECRET-42")
}

#[test]
fn a_run_passes_artifacts_and_exports_and_records_them() {
    let t = with_token(Test::new().file("flow.pipe", FLOW)).args(&[
        "run",
        "flow.pipe",
        "--state-dir",
        "state",
        "--param",
        "who=$(id)",
    ]);
    let out = t.run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("run ") && out.stderr.contains(" succeeded"),
        "{}",
        out.stderr
    );
    let v = show_last(t.path("state").to_str().expect("utf-8"));
    assert_eq!(v["pipeline"], "flow");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["params"]["who"], "$(id)");
    assert_eq!(v["stages"][0]["name"], "build");
    assert_eq!(v["stages"][0]["actions"][0]["exports"]["version"], "1.2.3");
    assert_eq!(v["stages"][0]["actions"][0]["exit_code"], 0);
    assert_eq!(v["stages"][0]["actions"][1]["status"], "skipped");
    assert_eq!(v["stages"][1]["actions"][0]["status"], "succeeded");
    let logs = Test::new()
        .args(&[
            "logs",
            "last",
            "check.read",
            "--state-dir",
            t.path("state").to_str().expect("utf-8"),
        ])
        .run();
    assert!(
        logs.stdout.contains("hello $(id)"),
        "the param is data, not a command: {}",
        logs.stdout
    );
}

#[test]
fn secrets_never_reach_logs_or_the_state_directory() {
    let t = with_token(Test::new().file("flow.pipe", FLOW)).args(&[
        "run",
        "flow.pipe",
        "--state-dir",
        "state",
    ]);
    let out = t.run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("tok-SECRET-42"));
    let mut stack = vec![t.path("state")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("readable") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("readable");
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("tok-SECRET-42"),
                    "secret found in {}",
                    p.display()
                );
            }
        }
    }
    let logs = Test::new()
        .args(&[
            "logs",
            "last",
            "build.make",
            "--state-dir",
            t.path("state").to_str().expect("utf-8"),
        ])
        .run();
    assert!(logs.stdout.contains("token is ***"), "{}", logs.stdout);
}

#[test]
fn a_missing_secret_is_a_clear_error() {
    let out = Test::new()
        .file("flow.pipe", FLOW)
        .args(&["run", "flow.pipe", "--state-dir", "state"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("secret `token` has no value: environment variable `FLOW_TOKEN` is not set"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_failed_action_stops_its_dependants_and_fails_the_run() {
    let src = "pipeline p {\n  stage a {\n    action bad: sh { run = \"echo about to fail; exit 7\" }\n    action later: sh { after = [bad] run = \"touch ../../../../../later\" }\n  }\n  stage b { action never: sh { run = \"true\" } }\n}\n";
    let t = Test::new()
        .file("p.pipe", src)
        .args(&["run", "p.pipe", "--state-dir", "state"]);
    let out = t.run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("a.bad: failed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("about to fail") && out.stderr.contains("exited with status 7"),
        "the log tail is shown: {}",
        out.stderr
    );
    let v = show_last(t.path("state").to_str().expect("utf-8"));
    assert_eq!(v["status"], "failed");
    assert_eq!(v["stages"][0]["actions"][1]["status"], "pending");
    assert_eq!(v["stages"][1]["status"], "pending");
}

#[test]
fn retries_rerun_a_failed_attempt() {
    let src = "pipeline p {\n  param counter: string\n  stage a {\n    action flaky: sh {\n      retry = 2\n      run = \"n=$(cat ${params.counter} 2>/dev/null || echo 0); echo $((n+1)) > ${params.counter}; test $n -ge 1\"\n    }\n  }\n}\n";
    let t = Test::new().file("p.pipe", src);
    let counter = t.path("counter.txt");
    let t = t.args(&[
        "run",
        "p.pipe",
        "--state-dir",
        "state",
        "--param",
        &format!("counter={}", counter.display()),
    ]);
    let out = t.run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("(attempt 2)"), "{}", out.stderr);
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
        assert_eq!(
            t.args_once(&["run", "p.pipe", "--state-dir", "state"]).code,
            0
        );
    }
    let out = Test::new()
        .args(&[
            "runs",
            "--json",
            "--state-dir",
            t.path("state").to_str().expect("utf-8"),
        ])
        .run();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let rows = v.as_array().expect("array");
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
    let out = Test::new()
        .args(&[
            "run",
            example.to_str().expect("utf-8"),
            "--state-dir",
            "state",
            "--param",
            "name=it's me",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("deploy.publish: succeeded"),
        "{}",
        out.stderr
    );
}

#[test]
fn ctrl_c_stops_the_run_and_its_processes() {
    let dir = tempfile::tempdir().expect("tmp");
    let pid_file = dir.path().join("child.pid");
    let src = format!(
        "pipeline p {{\n  stage a {{\n    action slow: sh {{ run = \"sleep 30 & echo $! > {}; sleep 30\" }}\n  }}\n}}\n",
        pid_file.display()
    );
    std::fs::write(dir.path().join("p.pipe"), src).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["run", "p.pipe", "--state-dir", "state"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    while !pid_file.exists() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(grandchild), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"));
    assert!(!alive, "the action's child survived Ctrl-C");
    let v = show_last(dir.path().join("state").to_str().expect("utf-8"));
    assert_eq!(v["status"], "stopped");
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
        let out = t.args_once_env(&["run", file, "--jobs", "1"], ("PIPEC_STATE_DIR", state));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let out = Test::new()
        .args(&["runs", "--json", "--pipeline", "b", "--state-dir", state])
        .run();
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["pipeline"], "b");
}

#[test]
fn changed_paths_are_matched_after_normalising() {
    let src = "pipeline p {\n  trigger push { paths = [\"src/**\"] }\n  stage s { action x: sh { run = \"true\" } }\n}\n";
    let t = Test::new().file("p.pipe", src);
    let out = t.args_once(&[
        "run",
        "p.pipe",
        "--dry-run",
        "--event",
        "push",
        "--branch",
        "main",
        "--changed",
        "./src/a.rs",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("1. stage `s`: runs"),
        "the trigger matched: {}{}",
        out.stdout,
        out.stderr
    );
    let out = t.args_once(&[
        "run",
        "p.pipe",
        "--dry-run",
        "--event",
        "push",
        "--branch",
        "main",
        "--changed",
        "docs/x.md",
    ]);
    assert!(
        out.stdout.is_empty() && out.stderr.contains("no changed path matches"),
        "{}",
        out.stderr
    );
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
    let out = t.args_once_env(&all, ("RELEASE_REGION", region));
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
    let out = t.args_once(&["run", "trees.pipe", "--state-dir", "state", "--verbose"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("build.make | main") && out.stderr.contains("build.make | ENV=prod"),
        "{}",
        out.stderr
    );
    // Both at the workspace root: the check refuses it, and nothing runs.
    let t = trees("inputs = [app_src, config_src]");
    let out = t.args_once(&["run", "trees.pipe", "--state-dir", "state"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
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
    assert_eq!(
        t.args_once(&["run", "p.pipe", "--state-dir", "state"]).code,
        0
    );
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
        let out = t.args_once(args);
        assert_eq!(out.code, 2, "{command}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("run history: unknown run status `paused`"),
            "{command}: {}",
            out.stderr
        );
    }
}
