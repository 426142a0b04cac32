//! Retention and `pipec prune` (issue 17): which runs go, what is freed, what is never
//! removed (held and resumable runs, runs `pipec retry` can take, a stage's last good run for
//! `pipec rollback`), the saved policy, and the JSON report. The `kill -9` test is in
//! `stress.rs`; the speed at 10,000 runs in `benches/prune.rs`.

use std::path::Path;

use crate::support::Test;
use crate::support::history::{PIPELINE, fill, run_id, sha};

fn ids(t: &Test) -> Vec<String> {
    t.runs()
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

fn files_of(state: &Path, run: &str) -> [bool; 3] {
    ["logs", "work", "artifacts"].map(|d| state.join(d).join(run).exists())
}

fn blob_exists(state: &Path, sha: &str) -> bool {
    state
        .join("store/sha256")
        .join(&sha[..2])
        .join(sha)
        .exists()
}

#[test]
fn prune_keeps_the_newest_runs_and_frees_the_others_files_and_blobs() {
    let t = Test::new();
    let state = t.path("state");
    fill(&state, 30);
    let out = t
        .state(["prune", "--keep-runs", "10", "--json"])
        .stderr_contains("removed 20 runs")
        .stderr_contains("10 runs kept")
        .run()
        .json();
    let removed: Vec<String> = out["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    assert_eq!(removed, (1..=20).map(run_id).collect::<Vec<_>>());
    assert_eq!(out["dry_run"], false);
    assert_eq!(out["kept"], 10);
    assert_eq!(
        out["logs"]["files"],
        20 * 4 - 2,
        "two failed runs have no deploy log: {out}"
    );
    assert_eq!(out["manifests"]["files"], 20);
    assert_eq!(out["workspaces"]["files"], 20);
    assert_eq!(
        out["blobs"]["files"], 20,
        "each run's own blob; the shared one stays"
    );
    let total = ["logs", "workspaces", "manifests", "blobs"]
        .iter()
        .map(|k| out[k]["bytes"].as_u64().expect("bytes"))
        .sum::<u64>();
    assert_eq!(out["bytes"], total);
    assert_eq!(ids(&t), (21..=30).rev().map(run_id).collect::<Vec<_>>());
    for n in 1..=20 {
        assert_eq!(files_of(&state, &run_id(n)), [false; 3], "run {n}");
    }
    for n in 21..=30 {
        assert_eq!(files_of(&state, &run_id(n)), [true; 3], "run {n}");
        t.state(["show", &run_id(n)]).run();
        t.state(["logs", &run_id(n), "build.go"])
            .stdout_contains(&format!("build of run {n}"))
            .run();
    }
    assert!(blob_exists(&state, &sha(b"shared by every run\n")));
    assert!(blob_exists(&state, &sha(b"the package of run 21\n")));
    assert!(!blob_exists(&state, &sha(b"the package of run 20\n")));
    // Nothing is left half done.
    let db = rusqlite::Connection::open(state.join("history.db")).expect("db");
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM pruned", [], |r| r.get(0))
        .expect("tombstones");
    assert_eq!(left, 0);
    assert!(!state.join("trash").exists(), "the trash is emptied");
    for table in ["stages", "actions"] {
        let orphans: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE run NOT IN (SELECT id FROM runs)"),
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(orphans, 0, "{table}");
    }
}

#[test]
fn what_a_killed_prune_left_in_the_trash_goes_at_the_next_and_is_counted() {
    let t = Test::new();
    let state = t.path("state");
    fill(&state, 3);
    // A prune killed between moving a run's folders into the trash and removing them.
    let logs = state.join("trash/07/20250101-000000-00009.logs");
    std::fs::create_dir_all(logs.join("deeper")).expect("mkdir");
    std::fs::write(logs.join("build.go.1.log"), "12345").expect("log");
    std::fs::write(logs.join("deeper/x"), "123").expect("log");
    let work = state.join("trash/63/20250101-000000-00009.work");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::write(work.join("left.txt"), "1").expect("file");
    let out = t
        .state(["prune", "--keep-runs", "3", "--json"])
        .run()
        .json();
    assert_eq!(out["removed"], serde_json::json!([]), "no run goes: {out}");
    assert_eq!(out["logs"]["files"], 2, "{out}");
    assert_eq!(out["logs"]["bytes"], 8, "{out}");
    assert_eq!(out["workspaces"]["files"], 1, "{out}");
    assert!(!state.join("trash").exists(), "the trash is emptied");
    assert_eq!(ids(&t).len(), 3);
    for n in 1..=3 {
        assert_eq!(files_of(&state, &run_id(n)), [true; 3], "run {n}");
    }
}

#[test]
fn a_dry_run_removes_nothing_and_reports_what_the_prune_frees() {
    let t = Test::new();
    fill(&t.path("state"), 12);
    let dry = t
        .state(["prune", "--keep-runs", "5", "--dry-run", "--json"])
        .stderr_contains("would remove 7 runs")
        .run()
        .json();
    assert_eq!(ids(&t).len(), 12);
    let real = t
        .state(["prune", "--keep-runs", "5", "--json"])
        .run()
        .json();
    assert_eq!(dry["dry_run"], true);
    for key in [
        "removed",
        "kept",
        "protected",
        "logs",
        "workspaces",
        "manifests",
        "blobs",
        "bytes",
    ] {
        assert_eq!(dry[key], real[key], "{key}");
    }
}

#[test]
fn keep_for_removes_the_runs_that_started_longer_ago() {
    let t = Test::new();
    fill(&t.path("state"), 30);
    // One minute apart, the newest now: the 11 newest started within 10m30s.
    t.state(["prune", "--keep-for", "10m30s"])
        .stderr_contains("removed 19 runs")
        .run();
    assert_eq!(ids(&t), (20..=30).rev().map(run_id).collect::<Vec<_>>());
}

#[test]
fn the_saved_policy_is_used_when_no_flag_is_given() {
    let t = Test::new();
    fill(&t.path("state"), 8);
    t.state(["prune"])
        .status(2)
        .stderr_contains("no retention policy in `")
        .stderr_contains("--keep-runs N")
        .run();
    t.state(["prune", "--pipeline", "other"])
        .status(2)
        .stderr_contains("no retention policy for pipeline `other`")
        .run();
    t.state(["prune", "--keep-runs", "6", "--save", "--dry-run"])
        .run();
    assert_eq!(ids(&t).len(), 8);
    t.state(["prune"]).stderr_contains("removed 2 runs").run();
    // The saved policy is every pipeline's.
    t.state(["prune", "--pipeline", "other"])
        .stderr_contains("removed 0 runs")
        .run();
    t.state(["prune", "--pipeline", PIPELINE, "--keep-runs", "3"])
        .stderr_contains("removed 3 runs")
        .run();
    t.state(["prune", "--save"]).status(2).run();
}

#[test]
fn prune_without_a_history_has_nothing_to_do() {
    let t = Test::new();
    t.state(["prune", "--keep-runs", "1", "--json"])
        .stdout_contains("\"removed\": []")
        .stderr_contains("nothing to prune")
        .run();
}

/// Builds, waits for an approval, deploys; `fail=true` makes the deploy fail.
const GATED: &str = r#"pipeline gated {
  param fail: bool = false
  stage build {
    action pack: sh { output = pkg from "pkg.txt"  run = "echo built > pkg.txt" }
  }
  stage release {
    action go: approval { summary = "ship?" }
  }
  stage deploy {
    action ship: sh { input = pkg  run = "cat pkg.txt; test ${params.fail} = false" }
  }
}
"#;

#[test]
fn prune_never_removes_a_held_run_a_retryable_run_or_the_last_good_run() {
    let t = Test::new().file("gated.pipe", GATED);
    let through = |fail: &str| {
        t.state(["run", "gated.pipe", "--param", &format!("fail={fail}")])
            .status(3)
            .run();
        t.state(["approve", "last", "release.go"]).run();
        t.state(["resume", "last"])
            .status(i32::from(fail == "true"))
            .run();
        t.show("last")["id"].as_str().expect("id").to_string()
    };
    let oldest = through("false");
    let good = through("false");
    let failed = through("true");
    t.state(["run", "gated.pipe"]).status(3).run();
    let held = t.show("last")["id"].as_str().expect("id").to_string();
    let out = t
        .state(["prune", "--keep-runs", "0", "--json", "--verbose"])
        .stderr_contains("kept 3 runs the policy would remove")
        .stderr_contains(&format!("{held}: not finished"))
        .stderr_contains(&format!("{failed}: `pipec retry` can still take it"))
        .stderr_contains(&format!(
            "{good}: the last run in which stage `deploy` succeeded"
        ))
        .run()
        .json();
    assert_eq!(out["removed"], serde_json::json!([oldest]));
    let why: Vec<(String, serde_json::Value)> = out["protected"]
        .as_array()
        .expect("protected")
        .iter()
        .map(|k| {
            (
                k["run"].as_str().expect("run").to_string(),
                k["why"].clone(),
            )
        })
        .collect();
    assert!(
        why.contains(&(held.clone(), serde_json::json!("unfinished"))),
        "{why:?}"
    );
    assert!(
        why.contains(&(failed.clone(), serde_json::json!("retryable"))),
        "{why:?}"
    );
    assert!(
        why.contains(&(good.clone(), serde_json::json!({"last_good": "deploy"}))),
        "{why:?}"
    );
    // Each still does what it was kept for (the retry first: a later run in `deploy` would
    // make it refuse, rightly).
    t.state(["retry", &failed])
        .status(1)
        .stderr_contains("deploy.ship: failed")
        .run();
    t.state(["rollback", "gated", "deploy"]).run();
    t.state(["approve", &held, "release.go"]).run();
    t.state(["resume", &held]).run();
}

#[test]
fn a_pipeline_that_declares_keep_is_pruned_by_it_without_flags() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline p {\n  keep 2 runs\n  stage build {\n    action a: sh { run = \"echo hi\" }\n  }\n}\n",
    );
    for _ in 0..4 {
        t.state(["run", "p.pipe"]).run();
    }
    // Nothing saved, no flag: the pipeline's own `keep`.
    t.state(["prune"]).stderr_contains("removed 2 runs").run();
    assert_eq!(t.runs().len(), 2);
    // The state directory's saved policy is for pipelines that declare none.
    t.state(["prune", "--keep-runs", "0", "--save", "--dry-run"])
        .run();
    t.state(["prune"]).stderr_contains("removed 0 runs").run();
    // Flags win over both.
    t.state(["prune", "--keep-runs", "1"])
        .stderr_contains("removed 1 run:")
        .run();
}

/// Captures files one finished run also captured (the same blobs), slowly, then reads them.
const CAPTURES: &str = r#"pipeline p {
  stage build {
    action make: sh {
      output = out from "out"
      run = "mkdir -p out; for i in 1 2 3 4 5 6; do echo same-$i > out/$i; sleep 0.1; done; date +%N > out/own"
    }
  }
  stage use {
    action read: sh { input = out  run = "cat out/1 out/6 out/own" }
  }
}
"#;

#[test]
fn prune_beside_a_running_pipeline_takes_nothing_it_uses() {
    let t = Test::new().file("p.pipe", CAPTURES);
    for _ in 0..3 {
        t.state(["run", "p.pipe"]).run();
    }
    let running = t.state(["run", "p.pipe"]).spawn();
    // Prunes of everything that may go, again and again while the run captures and
    // restores the blobs the pruned runs shared with it.
    let mut removed = 0;
    for _ in 0..12 {
        let out = t
            .state(["prune", "--keep-runs", "0", "--json"])
            .run()
            .json();
        removed += out["removed"].as_array().map_or(0, Vec::len);
        std::thread::sleep(std::time::Duration::from_millis(60));
    }
    running.wait();
    let run = t.show("last");
    assert_eq!(run["status"], "succeeded", "{run}");
    t.state(["logs", "last", "use.read"])
        .stdout_contains("same-1")
        .stdout_contains("same-6")
        .run();
    assert!(
        removed >= 2,
        "the earlier runs were pruned meanwhile ({removed})"
    );
    // What is left is whole: the newest run's manifest names only blobs that exist.
    let id = run["id"].as_str().expect("id");
    let state = t.path("state");
    let manifest = std::fs::read_to_string(state.join("artifacts").join(id).join("out.json"))
        .expect("manifest");
    let json: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    for f in json["files"].as_array().expect("files") {
        let sha = f["sha256"].as_str().expect("sha");
        assert!(blob_exists(&state, sha), "blob {sha} of {}", f["rel"]);
    }
}

#[test]
fn an_ended_run_that_kept_no_workspace_leaves_no_work_folder() {
    let t = Test::new().file(
        "p.pipe",
        "pipeline p {\n  stage a {\n    action ok: sh { run = \"true\" }\n  }\n  stage b {\n    action no: sh { run = \"exit 3\" }\n  }\n}\n",
    );
    t.state(["run", "p.pipe"]).any_status().run();
    let run = t.show("last");
    assert_eq!(run["status"], "failed", "{run}");
    let id = run["id"].as_str().expect("id");
    let work = t.path("state").join("work").join(id);
    // The failed attempt's workspace is kept, and only it: no empty one kept for reuse.
    let left: Vec<String> = std::fs::read_dir(&work)
        .expect("the work folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["b.no.1"], "kept for inspection");
    let t = Test::new().file(
        "q.pipe",
        "pipeline q {\n  stage a {\n    action ok: sh { run = \"true\" }\n  }\n}\n",
    );
    t.state(["run", "q.pipe"]).run();
    let id = t.show("last")["id"].as_str().expect("id").to_string();
    assert!(
        !t.path("state").join("work").join(&id).exists(),
        "a succeeded run leaves no work folder"
    );
    assert!(t.path("state").join("logs").join(&id).is_dir());
}

#[test]
fn one_prune_at_a_time_removes_files_and_two_at_once_both_finish_whole() {
    let t = Test::new();
    let state = t.path("state");
    fill(&state, 200);
    // Another prune holds the lock: this one waits, having removed nothing.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("prune.lock"))
        .expect("lock file");
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("flock");
    let mut waiting = t.state(["prune", "--keep-runs", "150"]).spawn();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(!waiting.has_ended(), "it waits for the lock");
    assert_eq!(ids(&t).len(), 200, "nothing went meanwhile");
    drop(held);
    waiting.wait();
    assert_eq!(ids(&t).len(), 150);
    // Two prunes at once: both succeed and leave the same whole state directory.
    let a = t.state(["prune", "--keep-runs", "20"]).spawn();
    let b = t.state(["prune", "--keep-runs", "20"]).spawn();
    a.wait();
    b.wait();
    assert_eq!(ids(&t), (181..=200).rev().map(run_id).collect::<Vec<_>>());
    for n in 1..=180 {
        assert_eq!(files_of(&state, &run_id(n)), [false; 3], "run {n}");
    }
    for n in 181..=200 {
        assert_eq!(files_of(&state, &run_id(n)), [true; 3], "run {n}");
    }
    assert!(!state.join("trash").exists(), "the trash is emptied");
    assert!(blob_exists(&state, &sha(b"the package of run 181\n")));
    assert!(!blob_exists(&state, &sha(b"the package of run 180\n")));
}

#[test]
fn runs_whose_logs_are_on_another_file_system_are_pruned_too() {
    let t = Test::new();
    let state = t.path("state");
    fill(&state, 12);
    // `logs` moved to another file system (tmpfs) and linked back: a rename into the trash
    // cannot cross it, so those folders are removed where they are.
    let elsewhere = tempfile::Builder::new()
        .prefix("pipec-logs")
        .tempdir_in("/dev/shm")
        .expect("a folder on tmpfs");
    let logs = elsewhere.path().join("logs");
    let moved = std::process::Command::new("mv")
        .arg(state.join("logs"))
        .arg(&logs)
        .status()
        .expect("mv");
    assert!(moved.success());
    std::os::unix::fs::symlink(&logs, state.join("logs")).expect("symlink");
    let out = t
        .state(["prune", "--keep-runs", "4", "--json"])
        .run()
        .json();
    assert_eq!(out["removed"].as_array().map(Vec::len), Some(8), "{out}");
    assert!(out["logs"]["files"].as_u64() > Some(20), "{out}");
    for n in 1..=8 {
        assert_eq!(files_of(&state, &run_id(n)), [false; 3], "run {n}");
    }
    for n in 9..=12 {
        assert_eq!(files_of(&state, &run_id(n)), [true; 3], "run {n}");
    }
    assert!(!state.join("trash").exists(), "the trash is emptied");
}
