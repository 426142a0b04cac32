//! Runs held at a disabled transition that a shell enables (`pipec transition enable`
//! without `--resume`, no server involved) are resumed by the server's sweep.

use super::client::{self, Served};

const FROZEN: &str = r#"pipeline frozen {
  stage build { action a: sh { run = "echo built" } }
  stage deploy { action b: sh { run = "echo deployed" } }
  transition build -> deploy disabled "release freeze"
}
"#;

#[test]
fn serve_goes_on_with_a_run_whose_transition_a_shell_enabled() {
    let s = Served::start(&[("frozen.pipe", FROZEN)], &[]);
    let id = s.start_run("frozen");
    s.wait_status(&id, "waiting");
    let mut enable = client::pipec(s.dir.path());
    enable.args([
        "transition",
        "enable",
        "frozen",
        "build",
        "deploy",
        "--state-dir",
        "state",
    ]);
    crate::support::succeeds(enable, "pipec transition enable");
    s.wait_status(&id, "succeeded");
}
