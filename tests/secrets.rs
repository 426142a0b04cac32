//! Secrets end to end: nested runs neither pass nor show the secrets of the runs around them,
//! params never hold a secret's value, overlapping secrets are masked whole, and a `pipeline`
//! action's `env` reaches the nested run. Each test looks for the value everywhere it could
//! land: the log files, `history.db` and its WAL (all of the state directory), `pipec logs`,
//! `pipec show --json` and the console.

use crate::support::{Output, Test, files_under};

/// The ids of every run in the state directory, newest first.
fn run_ids(t: &Test) -> Vec<String> {
    t.runs()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

/// Asserts that `needle` is nowhere: in no file under the state directory (the database and
/// its WAL, logs, kept workspaces), in no run's `pipec logs` or `pipec show --json`, and not
/// in the run's console output. Returns every run's logs, for further assertions.
fn nowhere(t: &Test, run: &Output, needle: &str) -> String {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(needle),
            "the secret is on the console: {text}"
        );
    }
    let files = files_under(&t.path("state"));
    for p in &files {
        let bytes = std::fs::read(p).expect("readable");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(needle),
            "the secret is in {}",
            p.display()
        );
    }
    assert!(!files.is_empty(), "the state directory is empty");
    let mut all_logs = String::new();
    for id in run_ids(t) {
        for args in [vec!["logs", &id], vec!["show", &id, "--json"]] {
            let out = t
                .state(&args)
                .stdout_lacks(needle)
                .stderr_lacks(needle)
                .run();
            if args[0] == "logs" {
                all_logs.push_str(&out.stdout);
            }
        }
    }
    all_logs
}

const OUTER: &str = r#"pipeline outer {
  secret tok = env("TOK")
  secret key = file("key.txt")
  stage s {
    action uses: sh { env = { T = secrets.tok, K = secrets.key } run = "echo outer \${#T} \${#K}" }
    action nested: pipeline { file = "inner.pipe" }
  }
}
"#;

/// The inner pipeline reaches the outer secrets in every way it can: the variable the outer
/// secret is read from, and the file, printed and exported.
const INNER: &str = r#"pipeline inner {
  stage s {
    action peek: sh {
      exports = [tok, key]
      run = """
        echo "env=[\${TOK:-unset}]"
        echo "tok=\${TOK:-}" >> "$PIPEC_OUTPUT"
        echo "file=[$(cat "$PIPEC_PIPELINE_DIR/key.txt")]"
        echo "key=$(cat "$PIPEC_PIPELINE_DIR/key.txt")" >> "$PIPEC_OUTPUT"
        """
    }
  }
}
"#;

#[test]
fn a_nested_run_neither_passes_nor_shows_the_outer_secrets() {
    let t = Test::new()
        .file("outer.pipe", OUTER)
        .file("inner.pipe", INNER)
        .file("key.txt", "key-FILESECRET-77\n");
    let out = t
        .state(["run", "outer.pipe", "-v"])
        .env("TOK", "tok-ENVSECRET-42")
        .run();
    for needle in ["ENVSECRET", "FILESECRET"] {
        let logs = nowhere(&t, &out, needle);
        assert!(
            logs.contains("env=[unset]"),
            "the nested run's actions do not inherit the outer secret's variable: {logs}"
        );
        assert!(logs.contains("file=[***]"), "{logs}");
    }
}

#[test]
fn a_nested_param_cannot_read_an_enclosing_secret_source() {
    let outer = |inner: &str| {
        format!(
            r#"pipeline outer {{
  secret tok = env("TOK")
  secret key = file("key.txt")
  stage s {{
    action uses: sh {{ env = {{ T = secrets.tok, K = secrets.key }} run = "true" }}
    action nested: pipeline {{ file = "{inner}" }}
  }}
}}
"#
        )
    };
    let by_env = r#"pipeline by_env {
  param p: string = env("TOK")
  stage s { action a: sh { run = "echo p=${params.p}" } }
}
"#;
    let by_file = r#"pipeline by_file {
  param p: string = file("./sub/../key.txt")
  stage s { action a: sh { run = "echo p=${params.p}" } }
}
"#;
    for (inner, src, what) in [
        ("by_env.pipe", by_env, "`TOK`"),
        ("by_file.pipe", by_file, "`./sub/../key.txt`"),
    ] {
        let t = Test::new()
            .file("outer.pipe", &outer(inner))
            .file(inner, src)
            .file("sub/.keep", "")
            .file("key.txt", "key-FILESECRET-77\n");
        let out = t
            .state(["run", "outer.pipe"])
            .env("TOK", "tok-ENVSECRET-42")
            .status(1)
            .run();
        for needle in ["ENVSECRET", "FILESECRET"] {
            nowhere(&t, &out, needle);
        }
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains("s.nested: failed"))
            .unwrap_or_else(|| panic!("{inner} fails: {}", out.stderr));
        assert!(
            line.contains(&format!("param `p` cannot read {what}"))
                && line.contains("a secret of an enclosing run"),
            "{line}"
        );
    }
}

#[test]
fn a_param_default_reading_a_secret_source_is_refused_before_the_run() {
    let src = r#"pipeline leaky {
  param p: string = env("TOK")
  secret tok = env("TOK")
  stage s { action a: sh { env = { T = secrets.tok } run = "echo p=${params.p}" } }
}
"#;
    let t = Test::new().file("leaky.pipe", src);
    let out = t
        .state(["run", "leaky.pipe"])
        .env("TOK", "tok-ENVSECRET-42")
        .status(1)
        .run();
    // The checker's diagnostic, before anything runs.
    assert!(
        out.stderr.contains("E0303")
            && out
                .stderr
                .contains("param `p` reads the source of secret `tok`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("ENVSECRET"), "{}", out.stderr);
    assert!(!t.path("state").join("history.db").exists());
}

/// Compiled IR is not checked again: the runtime refuses the read itself.
#[test]
fn compiled_ir_whose_param_reads_a_secret_source_is_refused_too() {
    let src = r#"pipeline leaky {
  param p: string = env("TOK_ELSEWHERE")
  secret tok = env("TOK")
  stage s { action a: sh { env = { T = secrets.tok } run = "echo p=${params.p}" } }
}
"#;
    let t = Test::new().file("leaky.pipe", src);
    t.args(["compile", "leaky.pipe", "-o", "leaky.json"]).run();
    let json = std::fs::read_to_string(t.path("leaky.json")).expect("compiled");
    let t = t.file("leaky.json", &json.replace("TOK_ELSEWHERE", "TOK"));
    t.state(["run", "leaky.json"])
        .env("TOK", "tok-ENVSECRET-42")
        .status(1)
        .stderr_contains("param `p`")
        .stderr_contains("secret `tok`")
        .stderr_lacks("ENVSECRET")
        .run();
}

#[test]
fn overlapping_secrets_are_masked_whole() {
    let src = r#"pipeline overlap {
  secret a = env("TOK")
  secret b = file("b.txt")
  stage s {
    action show: sh {
      env = { A = secrets.a, B = secrets.b }
      exports = [both]
      run = """
        echo "joined=[$A\${B:4}]"
        printf 'split=[%s' "\${A:0:6}"; sleep 0.1; printf '%s' "\${B:2:4}"; sleep 0.1; echo "\${B:6}]"
        echo "both=$A\${B:4}" >> "$PIPEC_OUTPUT"
        """
    }
  }
}
"#;
    let t = Test::new()
        .file("overlap.pipe", src)
        .file("b.txt", "BBBBCCCC\n");
    let out = t
        .state(["run", "overlap.pipe", "-v"])
        .env("TOK", "AAAABBBB")
        .run();
    // The console (`-v`), the logs and the export: one mask over the union, nothing left.
    let mut logs = String::new();
    for needle in ["AAAA", "BBBB", "CCCC"] {
        logs = nowhere(&t, &out, needle);
    }
    assert!(logs.contains("joined=[***]"), "{logs}");
    assert!(logs.contains("split=[***]"), "{logs}");
    assert!(out.stderr.contains("joined=[***]"), "{}", out.stderr);
}

#[test]
fn a_pipeline_actions_env_reaches_the_nested_run() {
    let outer = r#"pipeline outer {
  secret tok = env("TOK")
  stage s {
    action nested: pipeline {
      file = "inner.pipe"
      env = { GREETING = "hello", PASSED = secrets.tok }
    }
  }
}
"#;
    let inner = r#"pipeline inner {
  secret passed = env("PASSED")
  stage s {
    action a: sh {
      env = { P = secrets.passed }
      run = """
        echo "greeting=$GREETING"
        echo "passed=\${#P} [$P]"
        echo "inherited=[\${PASSED:-unset}]"
        """
    }
    action deeper: pipeline { file = "deeper.pipe" }
  }
}
"#;
    let deeper = r#"pipeline deeper {
  stage s { action b: sh { run = "echo deeper=$GREETING; echo also=[\${PASSED:-unset}]" } }
}
"#;
    let t = Test::new()
        .file("outer.pipe", outer)
        .file("inner.pipe", inner)
        .file("deeper.pipe", deeper);
    let out = t
        .state(["run", "outer.pipe"])
        .env("TOK", "tok-ENVSECRET-42")
        .run();
    let logs = nowhere(&t, &out, "ENVSECRET");
    assert!(logs.contains("greeting=hello"), "{logs}");
    // The inner pipeline reads its secret from the variable the action set; as the source of
    // a secret, its actions do not inherit the variable.
    assert!(logs.contains("passed=16 [***]"), "{logs}");
    assert!(logs.contains("inherited=[unset]"), "{logs}");
    assert!(logs.contains("deeper=hello"), "{logs}");
    assert!(logs.contains("also=[unset]"), "{logs}");
}

#[test]
fn a_nested_param_cannot_read_a_variable_set_from_a_secret() {
    let outer = r#"pipeline outer {
  secret tok = env("TOK")
  stage s {
    action nested: pipeline { file = "inner.pipe" env = { PASSED = secrets.tok, PLAIN = "fine" } }
  }
}
"#;
    let inner = r#"pipeline inner {
  param plain: string = env("PLAIN")
  param p: string = env("PASSED")
  stage s { action a: sh { run = "echo p=${params.p} ${params.plain}" } }
}
"#;
    let t = Test::new()
        .file("outer.pipe", outer)
        .file("inner.pipe", inner);
    let out = t
        .state(["run", "outer.pipe"])
        .env("TOK", "tok-ENVSECRET-42")
        .status(1)
        .run();
    nowhere(&t, &out, "ENVSECRET");
    assert!(
        out.stderr.contains("`PASSED`") && out.stderr.contains("from a secret"),
        "{}",
        out.stderr
    );
}
