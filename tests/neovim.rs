//! A real editor as the client: Neovim (Debian's package; skipped without `nvim`; `.ci/run`
//! installs it), headless, with its built-in LSP client attached to `pipec lsp` by
//! `tests/editors/nvim-lsp.lua`, reads the diagnostics of a broken file and a hover.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::require_tool;

const BROKEN: &str = r#"pipeline web {
    param env: string = "staging"
    stage build {
        action compile: sh { run = "make" }
    }
    stage deploy {
        action ship: sh { run = "deploy ${params.env}" }
    }
    transition biuld -> deploy
}
"#;

#[test]
fn neovim_reads_diagnostics_and_hovers_through_its_lsp_client() {
    if !require_tool("nvim", "Neovim: apt-get install neovim") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("web.pipe");
    std::fs::write(&file, BROKEN).expect("write");
    let out = dir.path().join("out.txt");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/editors/nvim-lsp.lua");
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-n", "-c"])
        .arg(format!("luafile {script}"))
        .env("PIPEC", env!("CARGO_BIN_EXE_pipec"))
        .env("PIPEC_FILE", &file)
        .env("PIPEC_OUT", &out)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Neovim");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("Neovim did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = std::fs::read_to_string(&out).expect("the script wrote its report");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines,
        [
            "diagnostics-arrived true",
            "diagnostic 9:16 E0201 unknown stage `biuld`",
            "hover param env: string = \"staging\"",
        ],
        "{report}"
    );
}
