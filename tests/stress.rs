//! Stress tests of durable runs (issue 4), small in CI; `bash bench/stress.sh` runs the long
//! variants (`docs/stress.md`):
//! - `kill -9` of `pipec run` at random points of a 50-action pipeline, then `pipec resume`:
//!   every run completes, and no action recorded as succeeded runs again;
//! - Ctrl-C (SIGINT, once or twice) while actions have children, background grandchildren
//!   and `setsid` daemons: no process survives;
//! - concurrent runs in each execution mode: stage locks hold, no record is lost, no
//!   "database is locked".
//!
//! Sizes: `PIPEC_STRESS_KILLS`, `PIPEC_STRESS_STOPS`, `PIPEC_STRESS_RUNS`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::support::{Test, alive, require_tool};

fn size(var: &str, ci: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// A small deterministic generator (the trials can be replayed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn db(t: &Test) -> rusqlite::Connection {
    rusqlite::Connection::open(t.path("state/history.db")).expect("history")
}

/// 5 stages of 10 actions (50): chains and fans within stages, exports and artifacts
/// across them. Each action appends `STAGE.ACTION` to `ledger` when it starts.
fn fifty() -> String {
    let mut s = String::from("pipeline fifty {\n");
    for st in 0..5 {
        let _ = writeln!(s, "  stage s{st} {{");
        for a in 0..10 {
            let after = if a > 0 && a % 3 != 0 {
                format!("after = [a{}] ", a - 1)
            } else {
                String::new()
            };
            let (input, env) = if st > 0 && a == 0 {
                (
                    format!("input = art{} ", st - 1),
                    format!("env = {{ V = s{}.a9.v }} ", st - 1),
                )
            } else {
                (String::new(), String::new())
            };
            // The last stage's artifact would be unused (a warning).
            let (output, exports, extra) = if a == 9 && st < 4 {
                (
                    format!("output = art{st} from \"out\" exports = [v] "),
                    String::new(),
                    format!("; echo {st} > out; echo v={st} >> $PIPEC_OUTPUT"),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            let check = if st > 0 && a == 0 {
                format!(
                    "; test \\\"$(cat out)\\\" = {} && test \\\"$V\\\" = {}",
                    st - 1,
                    st - 1
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "    action a{a}: sh {{ {after}{input}{env}{output}{exports}run = \"echo $PIPEC_STAGE.$PIPEC_ACTION >> ../../../../ledger; sleep 0.0{}{check}{extra}\" }}",
                (a * 7 + st) % 10
            );
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

#[test]
fn kill_9_at_random_points_then_resume() {
    let trials = size("PIPEC_STRESS_KILLS", 3);
    let mut rng = Lcg(0x5eed);
    let (mut reruns, mut finished_before, mut resumes) = (0usize, 0usize, 0usize);
    let (mut unrecorded, mut killed_resumes, mut journaled) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    // How long an uninterrupted run takes here: the kills fall within it.
    let whole = {
        let t = Test::new().file("pipeline.pipe", &fifty());
        let begin = Instant::now();
        t.state(["run", "pipeline.pipe", "--jobs", "3"]).run();
        u64::try_from(begin.elapsed().as_millis()).unwrap_or(u64::MAX)
    };
    for trial in 0..trials {
        let t = Test::new().file("pipeline.pipe", &fifty());
        let child = t
            .state(["run", "pipeline.pipe", "--jobs", "3"])
            .any_status()
            .spawn();
        // A random point within the run.
        std::thread::sleep(Duration::from_millis(rng.below(whole)));
        let err = child.kill().stderr;
        if !recorded(&t) {
            assert!(err.trim().is_empty(), "trial {trial}: pipec failed:\n{err}");
            // Killed before the run was recorded: there is nothing to resume.
            unrecorded += 1;
            continue;
        }
        // Resume; a third of the resumes are killed too (up to twice), then resumed again.
        let mut kills = 1usize;
        loop {
            // What the history says had succeeded when pipec died (with the ends only in
            // its journal).
            let (succeeded, only_journaled) = succeeded_after_replay(&t);
            journaled += only_journaled;
            let before: BTreeMap<String, usize> = count(&t);
            let last = kills >= 3 || rng.below(3) != 0;
            let resume = t.state(["resume", "last"]).any_status().spawn();
            let out = if last {
                resume.wait()
            } else {
                std::thread::sleep(Duration::from_millis(rng.below(whole)));
                resume.kill()
            };
            let (code, err) = (out.code, out.stderr);
            resumes += 1;
            let after = count(&t);
            for name in &succeeded {
                assert_eq!(
                    after.get(name),
                    before.get(name),
                    "trial {trial}: `{name}` had succeeded and ran again"
                );
            }
            if !last {
                kills += 1;
                continue;
            }
            if err.contains("has ended: succeeded") {
                finished_before += 1;
            }
            assert_eq!(code, 0, "trial {trial}: resume failed:\n{err}");
            // Every action ran; those that ran twice were running when a pipec died.
            assert_eq!(after.len(), 50, "trial {trial}: {after:?}");
            let extra: usize = after.values().map(|n| n - 1).sum();
            assert!(
                extra <= 3 * kills,
                "trial {trial}: {extra} re-runs after {kills} kills (--jobs 3): {after:?}"
            );
            reruns += extra;
            killed_resumes += kills - 1;
            break;
        }
        let status: String = db(&t)
            .query_row("SELECT status FROM runs", [], |r| r.get(0))
            .expect("run");
        assert_eq!(status, "succeeded", "trial {trial}");
    }
    println!(
        "kill -9: {trials} runs killed at random points of a {whole} ms run ({unrecorded} before the run was recorded), {killed_resumes} resumes killed too, {resumes} resumes, all runs completed ({finished_before} had finished before the kill), {reruns} interrupted actions re-run, 0 succeeded actions re-run ({journaled} of them recorded from the journal of the pipec that died), {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The actions the history records as succeeded.
fn succeeded_actions(t: &Test) -> Vec<String> {
    let db = db(t);
    let mut st = db
        .prepare("SELECT stage || '.' || name FROM actions WHERE status = 'succeeded'")
        .expect("query");
    st.query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// What pipec says had succeeded, and how many of those ends were only in the journal of
/// the pipec that died: any pipec command that opens the history records them first.
fn succeeded_after_replay(t: &Test) -> (Vec<String>, usize) {
    let committed = succeeded_actions(t).len();
    t.state(["runs"]).any_status().run();
    let all = succeeded_actions(t);
    let journaled = all.len().saturating_sub(committed);
    (all, journaled)
}

/// Whether the run is in the history (pipec may die before it records it).
fn recorded(t: &Test) -> bool {
    t.path("state/history.db").exists()
        && rusqlite::Connection::open(t.path("state/history.db"))
            .and_then(|db| db.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0)))
            .is_ok_and(|n| n == 1)
}

/// How many times each action started, from the ledger.
fn count(t: &Test) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(t.path("ledger"))
        .unwrap_or_default()
        .lines()
    {
        *m.entry(l.to_string()).or_default() += 1;
    }
    m
}

/// Actions that leave processes everywhere: a background child, a grandchild, a `setsid`
/// process and a double-forked daemon, each writing its pid.
const LITTER: &str = r#"pipeline litter {
  stage s {
    action a: sh { run = "P=../../../../pids; sleep 300 & echo $! >> $P; (sleep 300 & echo $! >> $P; wait) & setsid bash -c 'echo $$ >> ../../../../pids; exec sleep 300' & (setsid bash -c 'sleep 300 & echo $! >> ../../../../pids' &); sleep 300" }
    action b: sh { run = "trap '' TERM; sleep 300 & echo $! >> ../../../../pids; setsid bash -c 'trap \"\" TERM; echo $$ >> ../../../../pids; exec sleep 300' & sleep 300" }
    action c: sh { run = "echo $$ >> ../../../../pids; exec sleep 300" }
  }
}
"#;

#[test]
fn ctrl_c_leaves_no_process_behind() {
    if !require_tool("setsid", "util-linux: apt-get install util-linux") {
        return;
    }
    let trials = size("PIPEC_STRESS_STOPS", 2);
    let mut rng = Lcg(0x00c0_ffee);
    let (mut processes, mut twice) = (0usize, 0usize);
    let started = Instant::now();
    for trial in 0..trials {
        let t = Test::new().file("pipeline.pipe", LITTER);
        let child = t
            .state(["run", "pipeline.pipe", "--jobs", "3"])
            .any_status()
            .spawn();
        let pids = || -> Vec<i32> {
            std::fs::read_to_string(t.path("pids"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while pids().len() < 7 {
            assert!(
                Instant::now() < deadline,
                "trial {trial}: actions did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(rng.below(200)));
        child.signal(nix::sys::signal::Signal::SIGINT);
        // Half the trials press Ctrl-C again (abandon: SIGKILL at once).
        if rng.below(2) == 1 {
            std::thread::sleep(Duration::from_millis(rng.below(300)));
            child.signal(nix::sys::signal::Signal::SIGINT);
            twice += 1;
        }
        let out = child.wait();
        assert_eq!(out.code, 130, "trial {trial}:\n{}", out.stderr);
        // Ended ones may take a moment to be reaped by whoever adopted them.
        std::thread::sleep(Duration::from_millis(50));
        let survivors: Vec<i32> = pids().into_iter().filter(|p| alive(*p)).collect();
        for p in &survivors {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(
            survivors.is_empty(),
            "trial {trial}: survivors {survivors:?}\n{}",
            out.stderr
        );
        processes += pids().len();
        let status: String = db(&t)
            .query_row("SELECT status FROM runs", [], |r| r.get(0))
            .expect("run");
        assert_eq!(status, "stopped");
    }
    println!(
        "Ctrl-C: {trials} trials ({twice} with a second Ctrl-C), {processes} processes started (incl. setsid and daemons), 0 survivors, {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Two stages that log when runs enter and leave them.
fn modes(mode: &str) -> String {
    let stage = |name: &str| {
        format!(
            "  stage {name} {{\n    action a: sh {{ run = \"echo enter {name} $PIPEC_RUN_ID >> ../../../../log; sleep 0.05; echo leave {name} $PIPEC_RUN_ID >> ../../../../log\" }}\n  }}\n"
        )
    };
    format!(
        "pipeline modes {{\n  mode {mode}\n{}{}}}\n",
        stage("one"),
        stage("two")
    )
}

/// At most how many runs were in each stage at once.
fn occupancy(t: &Test) -> BTreeMap<String, usize> {
    let mut now: BTreeMap<String, usize> = BTreeMap::new();
    let mut most: BTreeMap<String, usize> = BTreeMap::new();
    for l in std::fs::read_to_string(t.path("log"))
        .unwrap_or_default()
        .lines()
    {
        let mut w = l.split(' ');
        let (Some(what), Some(stage)) = (w.next(), w.next()) else {
            continue;
        };
        let n = now.entry(stage.to_string()).or_default();
        if what == "enter" {
            *n += 1;
        } else {
            *n -= 1;
        }
        let m = most.entry(stage.to_string()).or_default();
        *m = (*m).max(*n);
    }
    most
}

#[test]
fn concurrent_runs_in_each_mode() {
    let runs = size("PIPEC_STRESS_RUNS", 4);
    let started = Instant::now();
    let mut report = Vec::new();
    for mode in ["queued", "superseded", "parallel"] {
        let t = Test::new().file("pipeline.pipe", &modes(mode));
        // One run first, so that the history exists (and the others contend for stages).
        let children: Vec<_> = (0..runs)
            .map(|_| t.state(["run", "pipeline.pipe"]).any_status().spawn())
            .collect();
        let ends: Vec<(i32, String)> = children
            .into_iter()
            .map(|c| {
                let out = c.wait();
                (out.code, out.stderr)
            })
            .collect();
        for (code, err) in &ends {
            assert!(!err.contains("database is locked"), "{mode}: {err}");
            assert!(!err.contains("run history:"), "{mode}: {err}");
            assert!(
                *code == 0 || (*code == 1 && mode == "superseded"),
                "{mode}: {code}\n{err}"
            );
        }
        let db = db(&t);
        let statuses: Vec<String> = db
            .prepare("SELECT status FROM runs ORDER BY seq")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .expect("runs");
        assert_eq!(statuses.len(), runs, "{mode}: a run is missing");
        let succeeded = statuses.iter().filter(|s| *s == "succeeded").count();
        let superseded = statuses.iter().filter(|s| *s == "superseded").count();
        assert_eq!(succeeded + superseded, runs, "{mode}: {statuses:?}");
        assert!(succeeded >= 1, "{mode}: {statuses:?}");
        if mode != "superseded" {
            assert_eq!(succeeded, runs, "{mode}: {statuses:?}");
        }
        // Every succeeded run has every action recorded succeeded (nothing lost).
        let incomplete: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM actions a JOIN runs r ON r.id = a.run WHERE r.status = 'succeeded' AND a.status <> 'succeeded'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(incomplete, 0, "{mode}");
        let locks: i64 = db
            .query_row("SELECT COUNT(*) FROM locks", [], |r| r.get(0))
            .expect("count");
        assert_eq!(locks, 0, "{mode}: a stage is still locked");
        let most = occupancy(&t);
        if mode == "parallel" {
            report.push(format!(
                "parallel: {succeeded} succeeded, up to {} in a stage",
                most.values().max().copied().unwrap_or(0)
            ));
        } else {
            assert!(most.values().all(|n| *n == 1), "{mode}: {most:?}");
            report.push(format!(
                "{mode}: {succeeded} succeeded, {superseded} superseded, 1 run per stage"
            ));
        }
    }
    println!(
        "modes, {runs} concurrent runs each: {}; {:.1}s",
        report.join("; "),
        started.elapsed().as_secs_f64()
    );
}

/// What a kept run must still have after any prune, killed or not: its rows, its logs, its
/// manifest and every blob the manifest names.
fn assert_whole(state: &std::path::Path, run: &str, trial: usize) {
    let db = rusqlite::Connection::open(state.join("history.db")).expect("history");
    for (table, column) in [("runs", "id"), ("stages", "run"), ("actions", "run")] {
        let n: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?1"),
                [run],
                |r| r.get(0),
            )
            .expect("count");
        assert!(n > 0, "trial {trial}: run {run} lost its {table} rows");
    }
    assert!(
        state
            .join("logs")
            .join(run)
            .join("build.go.1.log")
            .is_file(),
        "trial {trial}: run {run} lost its log"
    );
    let manifest = state.join("artifacts").join(run).join("pkg.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("trial {trial}: run {run} lost its manifest: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("manifest");
    for f in json["files"].as_array().expect("files") {
        let sha = f["sha256"].as_str().expect("sha");
        let blob = state.join("store/sha256").join(&sha[..2]).join(sha);
        assert!(
            blob.is_file(),
            "trial {trial}: run {run} lost its blob {sha}"
        );
    }
}

#[test]
fn kill_9_at_random_points_of_a_prune_loses_nothing_that_is_kept() {
    use crate::support::history::{fill, run_id};
    let trials = size("PIPEC_STRESS_PRUNE_KILLS", 4);
    let (runs, keep) = (300usize, 100usize);
    let mut rng = Lcg(0x9a7e);
    // How long an uninterrupted prune takes here: the kills fall within it.
    let whole = {
        let t = Test::new();
        fill(&t.path("state"), runs);
        let begin = Instant::now();
        t.state(["prune", "--keep-runs", &keep.to_string()]).run();
        u64::try_from(begin.elapsed().as_millis()).unwrap_or(u64::MAX)
    };
    let mut finished = 0usize;
    for trial in 0..trials {
        let t = Test::new();
        let state = t.path("state");
        fill(&state, runs);
        let child = t
            .state(["prune", "--keep-runs", &keep.to_string()])
            .any_status()
            .spawn();
        std::thread::sleep(Duration::from_millis(rng.below(whole + whole / 5)));
        let out = child.kill();
        if out.code == 0 {
            finished += 1;
        }
        let kept: Vec<String> = (runs - keep + 1..=runs).map(run_id).collect();
        for run in &kept {
            assert_whole(&state, run, trial);
        }
        // Either no row went, or every row of the runs that go (one transaction).
        let left = t.runs().len();
        assert!(
            left == runs || left == keep,
            "trial {trial}: {left} runs left"
        );
        // The next prune finishes what the killed one began.
        t.state(["prune", "--keep-runs", &keep.to_string()]).run();
        for run in &kept {
            assert_whole(&state, run, trial);
        }
        for n in 1..=runs - keep {
            for folder in ["logs", "work", "artifacts"] {
                assert!(
                    !state.join(folder).join(run_id(n)).exists(),
                    "trial {trial}: {folder} of pruned run {n} left"
                );
            }
        }
        assert!(
            !state.join("trash").exists(),
            "trial {trial}: the trash is emptied"
        );
        let blobs = crate::support::files_under(&state.join("store/sha256")).len();
        assert_eq!(
            blobs,
            keep + 1,
            "trial {trial}: the kept runs' blobs and the shared one"
        );
        let db = rusqlite::Connection::open(state.join("history.db")).expect("history");
        let tombstones: i64 = db
            .query_row("SELECT COUNT(*) FROM pruned", [], |r| r.get(0))
            .expect("tombstones");
        assert_eq!(tombstones, 0, "trial {trial}");
    }
    println!(
        "kill -9 of prune: {trials} prunes of {runs} runs (keep {keep}) killed at random points of a {whole} ms prune ({finished} had finished), nothing kept was lost"
    );
}
