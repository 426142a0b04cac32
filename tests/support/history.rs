//! A state directory of many finished runs, made quickly: rows inserted straight into the
//! history (whose tables pipec itself creates) and the files a run leaves (a log per action,
//! a manifest per run, a blob of its own and one every run shares). For `pipec prune` and
//! `pipec runs` at scale (`tests/prune.rs`, `benches/prune.rs`).

use std::path::Path;

/// The stages of every made run, in order; each has one action, `STAGE.go`.
pub(crate) const STAGES: [&str; 4] = ["source", "build", "test", "deploy"];

/// The pipeline every made run belongs to.
pub(crate) const PIPELINE: &str = "app";

/// The id of the `n`th made run (1-based; older first).
pub(crate) fn run_id(n: usize) -> String {
    format!("20260101-000000-{n:05}")
}

/// Whether the `n`th run failed (at `test`); the others succeeded.
pub(crate) fn failed(n: usize) -> bool {
    n % 10 == 7
}

/// Fills `dir` (a new or existing state directory) with `runs` finished runs of [`PIPELINE`],
/// one minute apart, the newest starting now.
pub(crate) fn fill(dir: &Path, runs: usize) {
    // pipec creates (or upgrades) the tables.
    drop(pipec::runtime::state::History::open(dir).expect("a history"));
    let mut conn = rusqlite::Connection::open(dir.join("history.db")).expect("open");
    let tx = conn.transaction().expect("tx");
    let now = jiff::Timestamp::now();
    let shared = blob(dir, b"shared by every run\n");
    {
        let mut run = tx
            .prepare("INSERT INTO runs (id, pipeline, status, params, started, finished, seq, ir, facts) VALUES (?1, ?2, ?3, '{}', ?4, ?4, ?5, '{}', '{}')")
            .expect("prepare");
        let mut stage = tx
            .prepare("INSERT INTO stages (run, idx, name, status, started, finished) VALUES (?1, ?2, ?3, ?4, ?5, ?5)")
            .expect("prepare");
        let mut action = tx
            .prepare("INSERT INTO actions (run, stage, idx, name, status, attempts, exit_code, log, started, finished) VALUES (?1, ?2, 0, 'go', ?3, 1, ?4, ?5, ?6, ?6)")
            .expect("prepare");
        for n in 1..=runs {
            let id = run_id(n);
            let minutes = i64::try_from(runs - n).expect("small");
            let started = now
                .checked_sub(jiff::SignedDuration::from_mins(minutes))
                .expect("a time")
                .to_string();
            let status = if failed(n) { "failed" } else { "succeeded" };
            let seq = i64::try_from(n).expect("small");
            run.execute(rusqlite::params![id, PIPELINE, status, started, seq])
                .expect("run row");
            for (i, name) in STAGES.iter().enumerate() {
                let (st, code) = match (failed(n), *name) {
                    (true, "test") => ("failed", Some(1)),
                    (true, "deploy") => ("skipped", None),
                    _ => ("succeeded", Some(0)),
                };
                stage
                    .execute(rusqlite::params![
                        id,
                        i64::try_from(i).expect("small"),
                        name,
                        st,
                        started
                    ])
                    .expect("stage row");
                if code.is_none() {
                    continue;
                }
                let log = dir.join("logs").join(&id).join(format!("{name}.go.1.log"));
                std::fs::create_dir_all(log.parent().expect("a folder")).expect("mkdir");
                std::fs::write(&log, format!("{name} of run {n}\n").repeat(8)).expect("log");
                action
                    .execute(rusqlite::params![
                        id,
                        name,
                        st,
                        code,
                        log.to_string_lossy(),
                        started
                    ])
                    .expect("action row");
            }
            let own = blob(dir, format!("the package of run {n}\n").as_bytes());
            let manifest = serde_json::json!({
                "path": "out", "single_file": false, "dirs": [],
                "files": [
                    {"rel": "pkg", "sha256": own, "executable": false},
                    {"rel": "README", "sha256": shared, "executable": false},
                ],
            });
            let file = dir.join("artifacts").join(&id).join("pkg.json");
            std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
            std::fs::write(&file, manifest.to_string()).expect("manifest");
            let ws = dir.join("work").join(&id).join("ws1");
            std::fs::create_dir_all(&ws).expect("workspace");
            std::fs::write(ws.join("left.txt"), "a failed attempt's file\n").expect("ws file");
        }
    }
    tx.commit().expect("commit");
}

/// The hash a blob of `content` is stored under (SHA-256, hex).
pub(crate) fn sha(content: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    sha2::Sha256::digest(content)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Stores `content` as a blob of the state directory: its hash.
pub(crate) fn blob(dir: &Path, content: &[u8]) -> String {
    let sha = sha(content);
    let path = dir.join("store").join("sha256").join(&sha[..2]).join(&sha);
    if !path.exists() {
        std::fs::create_dir_all(path.parent().expect("a shard")).expect("mkdir");
        std::fs::write(&path, content).expect("blob");
    }
    sha
}
