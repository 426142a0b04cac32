//! `pipec graph`: the drawing of a pipeline in `dot` and Mermaid (snapshots), and every
//! example drawn by Graphviz itself (skipped without `dot`; `.ci/run` installs graphviz).

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use crate::support::{Test, files_under, require_tool};

/// `pipec graph FILE --format FORMAT`, which must succeed.
fn graph(file: &std::path::Path, format: &str) -> String {
    Test::new()
        .args([
            OsStr::new("graph"),
            file.as_os_str(),
            OsStr::new("--format"),
            OsStr::new(format),
        ])
        .run()
        .stdout
}

const BRANCHY: &str = r#"pipeline branchy {
  mode queued
  stage build {
    action compile: sh { run = "make" output = bin from "out" }
    action test: sh { after = [compile] input = bin run = "make test" }
  }
  stage preview {
    action publish: sh { input = bin run = "echo \"preview\"" }
  }
  stage prod {
    action ok: approval {}
    action publish: sh { after = [ok] input = bin run = "true" }
  }
  transition build -> preview when run.branch != "main"
  transition build -> prod when run.branch == "main" disabled "freeze \"Q4\""
}
"#;

#[test]
fn graphs_show_stages_actions_guards_disabled_transitions_and_artifacts() {
    let t = Test::new().file("branchy.pipe", BRANCHY);
    let dot = graph(&t.path("branchy.pipe"), "dot");
    insta::assert_snapshot!("graph_dot", dot);
    let mermaid = graph(&t.path("branchy.pipe"), "mermaid");
    insta::assert_snapshot!("graph_mermaid", mermaid);
}

const GATED: &str = r##"pipeline gated {
  param env: string = "staging"
  param tag: string = "#1 & <b>"
  stage build {
    action compile: sh { run = "make" }
  }
  stage deploy {
    entry {
      require params.env == "prod" && params.tag != "#1 & <b>"
      window "0 9 * * 1-5" tz "Europe/Paris"
      check sh { run = "curl -fsS \"http://localhost/health\"" }
      else skip
    }
    action ship: sh { run = "./deploy.sh" }
  }
}
"##;

/// Entry rules are drawn on the stage: each rule, then the `else` result, with quotes, `#`,
/// `&` and angle brackets escaped for each language.
#[test]
fn graphs_show_entry_rules_on_the_stage() {
    let t = Test::new().file("gated.pipe", GATED);
    let dot = graph(&t.path("gated.pipe"), "dot");
    insta::assert_snapshot!("graph_entry_dot", dot);
    let mermaid = graph(&t.path("gated.pipe"), "mermaid");
    insta::assert_snapshot!("graph_entry_mermaid", mermaid);
}

#[test]
fn graphviz_draws_every_example() {
    if !require_tool("dot", "Graphviz: apt-get install graphviz") {
        return;
    }
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for entry in files_under(&examples) {
        if entry.extension().is_some_and(|x| x == "pipe")
            && !entry.starts_with(examples.join("lib"))
        {
            files.push(entry);
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let text = graph(&f, "dot");
        let mut dot = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run Graphviz `dot`");
        {
            use std::io::Write as _;
            dot.stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write");
        }
        let out = dot.wait_with_output().expect("dot ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {err}\n{text}", f.display());
        assert!(!err.contains("Warning"), "{}: {err}\n{text}", f.display());
    }
}
