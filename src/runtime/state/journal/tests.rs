//! The journal: an end written to it and not committed is recorded by the next process
//! that opens the history once its writer is gone, and never undoes what happened after it.

use super::super::tests::{ir, start};
use super::super::{ActionUpdate, Commit, History, Owner};
use super::JOURNAL;
use crate::runtime::state::ActionRow;
use crate::runtime::status::ActionStatus;

/// A new history with a run of a stage `s` of two actions, `a` and `b`: the folder, the
/// history, the run's id.
fn opened() -> (tempfile::TempDir, History, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let h = History::open(dir.path()).expect("opens");
    let run = start(
        &h,
        &ir(
            "pipeline p { stage s { action a: sh { run = \"true\" }\n action b: sh { run = \"true\" } } }\n",
        ),
    );
    (dir, h, run)
}

/// Records action `action` of stage `s` as `status` in its attempt `attempt`.
fn mark(h: &History, run: &str, action: &str, status: ActionStatus, commit: Commit, attempt: u32) {
    h.action(run, "s", action, &update(status, commit, attempt))
        .expect("recorded");
}

fn update(status: ActionStatus, commit: Commit, attempt: u32) -> ActionUpdate<'static> {
    ActionUpdate {
        status,
        commit,
        attempt,
        exit_code: Some(0),
        log: Some("/logs/s.a.1.log"),
    }
}

fn row(h: &History, run: &str, action: &str) -> ActionRow {
    let detail = h.show(run).expect("history").expect("the run");
    let stage = detail.stages.into_iter().next().expect("stage s");
    stage
        .actions
        .into_iter()
        .find(|a| a.name == action)
        .expect("the action")
}

/// The journals in `dir`.
fn journals(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(JOURNAL))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// A journal name of a process that is gone (this pid, another start time).
fn dead_journal(dir: &std::path::Path) -> std::path::PathBuf {
    let me = Owner::me().expect("/proc");
    dir.join(format!("{JOURNAL}{}-{}-0", me.pid, me.start + 1))
}

#[test]
fn an_end_only_in_the_journal_of_a_process_that_died_is_recorded_at_the_next_open() {
    let (dir, h, run) = opened();
    mark(&h, &run, "a", ActionStatus::Running, Commit::Queued, 1);
    h.export(&run, "s", "a", "version", "1.2").expect("export");
    mark(&h, &run, "a", ActionStatus::Succeeded, Commit::Journaled, 1);
    // Not committed yet: the history still says pending.
    let other = History::open(dir.path()).expect("a second reader");
    assert_eq!(row(&other, &run, "a").status, ActionStatus::Pending);
    drop(other);
    // The process dies (nothing more of it runs: no commit, no clean-up).
    let written = journals(dir.path());
    assert_eq!(written.len(), 1, "{written:?}");
    std::mem::forget(h);
    std::fs::rename(&written[0], dead_journal(dir.path())).expect("rename");

    let h = History::open(dir.path()).expect("opens again");
    let a = row(&h, &run, "a");
    assert_eq!(a.status, ActionStatus::Succeeded);
    assert_eq!((a.attempts, a.exit_code), (1, Some(0)));
    assert_eq!(a.log.as_deref(), Some("/logs/s.a.1.log"));
    assert!(a.started.is_some() && a.finished.is_some(), "{a:?}");
    assert_eq!(a.exports.get("version"), Some(&serde_json::json!("1.2")));
    assert_eq!(row(&h, &run, "b").status, ActionStatus::Pending);
    assert!(
        journals(dir.path()).is_empty(),
        "the replayed journal is gone"
    );
}

#[test]
fn a_late_replay_never_undoes_what_happened_after_the_end_it_holds() {
    let (dir, h, run) = opened();
    // Since the journal was written, `a` started a second attempt and `b` ended otherwise.
    mark(&h, &run, "a", ActionStatus::Running, Commit::Now, 2);
    mark(&h, &run, "b", ActionStatus::Failed, Commit::Now, 1);
    let line = |action: &str, status: &str, attempt: u32| {
        format!(
            "{}\n{}\n",
            serde_json::json!({"export": [run, "s", action], "key": "k", "value": "old"}),
            serde_json::json!({"end": [run, "s", action], "status": status, "attempt": attempt,
                "exit_code": 0, "log": null, "at": "2026-01-01T00:00:00Z", "started": null}),
        )
    };
    std::fs::write(
        dead_journal(dir.path()),
        line("a", "succeeded", 1) + &line("b", "succeeded", 1),
    )
    .expect("journal");
    drop(h);

    let h = History::open(dir.path()).expect("opens again");
    let (a, b) = (row(&h, &run, "a"), row(&h, &run, "b"));
    assert_eq!((a.status, a.attempts), (ActionStatus::Running, 2));
    assert_eq!((b.status, b.attempts), (ActionStatus::Failed, 1));
    assert!(
        a.exports.is_empty() && b.exports.is_empty(),
        "no stale export"
    );
    assert!(journals(dir.path()).is_empty());
}

#[test]
fn a_line_cut_short_by_the_death_of_its_writer_is_ignored() {
    let (dir, h, run) = opened();
    let end = |action: &str| {
        serde_json::json!({"end": [run, "s", action], "status": "succeeded", "attempt": 1,
            "exit_code": 0, "log": null, "at": "2026-01-01T00:00:00Z", "started": null})
        .to_string()
    };
    let whole = end("a");
    let cut = end("b");
    std::fs::write(
        dead_journal(dir.path()),
        format!("{whole}\n{}", &cut[..cut.len() - 1]),
    )
    .expect("journal");
    drop(h);
    let h = History::open(dir.path()).expect("opens again");
    assert_eq!(row(&h, &run, "a").status, ActionStatus::Succeeded);
    assert_eq!(row(&h, &run, "b").status, ActionStatus::Pending);
}

#[test]
fn the_journal_of_a_live_process_is_left_to_it() {
    let (dir, h, run) = opened();
    mark(&h, &run, "a", ActionStatus::Succeeded, Commit::Journaled, 1);
    // Another process (here: another history of this live one) opens the history.
    let other = History::open(dir.path()).expect("a second reader");
    assert_eq!(row(&other, &run, "a").status, ActionStatus::Pending);
    assert_eq!(journals(dir.path()).len(), 1, "still there");
    drop(other);
    drop(h);
}

#[test]
fn a_commit_empties_the_journal_and_the_file_goes_with_its_history() {
    let (dir, h, run) = opened();
    assert!(journals(dir.path()).is_empty(), "created by the first end");
    mark(&h, &run, "a", ActionStatus::Succeeded, Commit::Journaled, 1);
    let file = journals(dir.path()).pop().expect("a journal");
    let size = || std::fs::metadata(&file).expect("journal").len();
    assert!(size() > 0);
    // A "running" mark alone is not journaled; the next end writes it with it.
    mark(&h, &run, "b", ActionStatus::Running, Commit::Queued, 1);
    let before = size();
    mark(&h, &run, "b", ActionStatus::Failed, Commit::Journaled, 1);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(size() > before && text.lines().count() == 3, "{text}");
    h.flush().expect("commits");
    assert_eq!(size(), 0, "emptied by the commit");
    assert_eq!(row(&h, &run, "b").status, ActionStatus::Failed);
    drop(h);
    assert!(!file.exists(), "removed with its history");
}

/// An end of `action` as a dead pipec journaled it.
fn journaled_end(run: &str, action: &str) -> String {
    serde_json::json!({"end": [run, "s", action], "status": "succeeded", "attempt": 1,
        "exit_code": 0, "log": null, "at": "2026-01-01T00:00:00Z", "started": null})
    .to_string()
        + "\n"
}

#[test]
fn a_journal_left_after_the_history_was_opened_is_replayed_when_its_run_is_claimed() {
    let (dir, h, run) = opened();
    // Its pipec dies after this process opened the history.
    std::fs::write(dead_journal(dir.path()), journaled_end(&run, "a")).expect("journal");
    let claim = h
        .claim(&run, &[crate::runtime::status::RunStatus::Running])
        .expect("claims");
    assert!(
        matches!(claim, crate::runtime::state::Claim::Taken),
        "{claim:?}"
    );
    assert_eq!(row(&h, &run, "a").status, ActionStatus::Succeeded);
    assert!(journals(dir.path()).is_empty());
}

#[test]
fn stopping_a_run_whose_pipec_died_keeps_the_ends_it_journaled() {
    let (dir, h, run) = opened();
    for action in ["a", "b"] {
        mark(&h, &run, action, ActionStatus::Running, Commit::Now, 1);
    }
    std::fs::write(dead_journal(dir.path()), journaled_end(&run, "a")).expect("journal");
    assert_eq!(h.stop_orphaned(&run).expect("stops"), None);
    assert_eq!(row(&h, &run, "a").status, ActionStatus::Succeeded);
    assert_eq!(row(&h, &run, "b").status, ActionStatus::Abandoned);
}

#[test]
fn a_replay_skips_what_the_history_committed_before_its_writer_died() {
    let (dir, h, run) = opened();
    // Both end, and an `on failure retry` round sets both pending again in the same commit;
    // the process dies before it empties its journal.
    mark(&h, &run, "a", ActionStatus::Failed, Commit::Journaled, 1);
    mark(&h, &run, "b", ActionStatus::Succeeded, Commit::Journaled, 1);
    let file = journals(dir.path()).pop().expect("a journal");
    let lines = std::fs::read_to_string(&file).expect("journal");
    mark(&h, &run, "a", ActionStatus::Pending, Commit::Queued, 1);
    mark(&h, &run, "b", ActionStatus::Pending, Commit::Queued, 1);
    h.flush().expect("commits");
    assert_eq!(std::fs::metadata(&file).expect("journal").len(), 0);
    std::fs::write(&file, &lines).expect("as if never emptied");
    let name = file.file_name().expect("name").to_owned();
    std::mem::forget(h);
    let dead = dead_journal(dir.path());
    std::fs::rename(&file, &dead).expect("rename");
    // The mark of what was committed follows the file's name.
    let conn = rusqlite::Connection::open(dir.path().join("history.db")).expect("db");
    conn.execute(
        "UPDATE journals SET name = ?1 WHERE name = ?2",
        rusqlite::params![
            dead.file_name().expect("name").to_string_lossy(),
            name.to_string_lossy()
        ],
    )
    .expect("renamed mark");
    drop(conn);

    let h = History::open(dir.path()).expect("opens again");
    assert_eq!(row(&h, &run, "a").status, ActionStatus::Pending);
    assert_eq!(row(&h, &run, "b").status, ActionStatus::Pending);
    assert!(journals(dir.path()).is_empty());
}

#[test]
fn an_end_taken_off_the_queue_by_a_commit_that_failed_is_committed_by_the_next() {
    let (dir, h, run) = opened();
    mark(&h, &run, "a", ActionStatus::Succeeded, Commit::Journaled, 1);
    // Another process holds the write lock past the busy timeout: the commit fails.
    let blocker = rusqlite::Connection::open(dir.path().join("history.db")).expect("db");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    h.conn
        .busy_timeout(std::time::Duration::from_millis(10))
        .expect("timeout");
    assert!(h.flush().is_err(), "the history is locked");
    blocker.execute_batch("ROLLBACK").expect("unlock");
    h.flush().expect("commits");
    assert_eq!(row(&h, &run, "a").status, ActionStatus::Succeeded);
}
