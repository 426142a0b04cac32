//! When the history itself fails: a run whose end cannot be recorded (the disk is full), and
//! a history that was lost.
//!
//! A run that ends on an error of its own (a history write that failed with "database or
//! disk is full") is recorded `failed` at once when that works. When it does not, its
//! process leaves a note in the state directory — an empty file, `unrecorded-end-RUN`, which
//! needs no room on the disk beyond its name, with the reason written in it if there is room
//! — and ends. The next process that opens the history with room to write (any `pipec`
//! command: `runs`, `show`, `run`, …) records the run `failed` with that reason and removes
//! the note, unless the run has ended meanwhile or another live process runs it.
//!
//! A history is lost when `history.db` is missing or empty while the state directory holds
//! the logs, artifacts or workspaces of earlier runs: `SQLite` would silently start a new one.
//! pipec starts a new one too, but says what happened ([`lost`]).
#![allow(clippy::disallowed_methods)] // Reason: the runtime owns the state directory.

use std::path::Path;

use rusqlite::params;

use super::layout::UNRECORDED;
use super::{History, Layout, Owner, immediate, now, sql};
use crate::runtime::error::Error;

/// The reason recorded for a run that ended on an error, recorded then or `late`.
fn reason(why: &str, late: bool) -> String {
    match (late, why.is_empty()) {
        (false, _) => format!("the run ended on an error: {why}"),
        (true, false) => format!("the run ended on an error and could not be recorded then: {why}"),
        (true, true) => "the run ended on an error and could not be recorded then (the run history could not be written)".into(),
    }
}

impl History {
    /// Ends `run` `failed` because of `why` (an error that stopped it, such as a history write
    /// that failed): at once if the history takes it, else as soon as a process opens the
    /// history with room to write (a note in the state directory says so). `Err` says the
    /// run could not be recorded now.
    pub fn fail_run(&self, run: &str, why: &str) -> Result<(), Error> {
        // The note first: if this process cannot record the end, the next one will.
        let note = self.layout().unrecorded_note(run);
        if let Ok(mut f) = std::fs::File::create(&note) {
            use std::io::Write as _;
            // Reason: on a full disk the note stays empty; an empty note still counts.
            let _ = f.write_all(why.as_bytes());
        }
        // What was queued may be what failed; it is not retried.
        drop(self.take_queued());
        self.end_failed(run, &reason(why, false))?;
        let _ = std::fs::remove_file(&note);
        Ok(())
    }

    /// Records `run` and the runs nested in it that have not ended `failed`: what was
    /// running or waiting in them is abandoned, with `reason`, and their stages are freed.
    fn end_failed(&self, run: &str, reason: &str) -> Result<usize, Error> {
        let tx = immediate(&self.conn)?;
        let ids: Vec<String> = tx
            .prepare("WITH RECURSIVE tree(id) AS (SELECT ?1 UNION SELECT r.id FROM runs r JOIN tree t ON r.parent = t.id) SELECT r.id FROM runs r JOIN tree t ON r.id = t.id WHERE r.status IN ('running', 'waiting')")
            .and_then(|mut st| st.query_map(params![run], |r| r.get(0))?.collect())
            .map_err(sql)?;
        let at = now();
        for id in &ids {
            tx.execute(
                "UPDATE runs SET status = 'failed', finished = ?2 WHERE id = ?1",
                params![id, at],
            )
            .and_then(|_| {
                tx.execute(
                    "UPDATE stages SET status = 'abandoned', reason = ?3, finished = ?2 WHERE run = ?1 AND status IN ('running', 'waiting')",
                    params![id, at, reason],
                )
            })
            .and_then(|_| {
                tx.execute(
                    "UPDATE actions SET status = 'abandoned', finished = ?2 WHERE run = ?1 AND status IN ('running', 'waiting')",
                    params![id, at],
                )
            })
            .and_then(|_| tx.execute("DELETE FROM locks WHERE run = ?1", params![id]))
            .and_then(|_| tx.execute("DELETE FROM waits WHERE run = ?1", params![id]))
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(ids.len())
    }

    /// What dead processes left to record, in one look at the state directory: the ends
    /// in their journals (`journal`), then the runs' ends they could not record (their
    /// notes), where the run is still open and no live process runs it. Best effort: with
    /// no room yet, the files stay for the next open.
    pub(super) fn recover(&self) {
        let files = self.state_files();
        self.replay_among(&files);
        for (name, note) in &files {
            if let Some(run) = name.strip_prefix(UNRECORDED) {
                self.record_unrecorded_end(run, note);
            }
        }
    }

    /// The names and paths of what is at the top of the state directory (one look).
    pub(super) fn state_files(&self) -> Vec<(String, std::path::PathBuf)> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect()
    }

    fn record_unrecorded_end(&self, run: &str, note: &Path) {
        let owner = self.owner(run).ok().and_then(|(o, _)| o);
        if owner.is_some_and(|o| Some(o) != Owner::me() && o.alive()) {
            return;
        }
        let why = std::fs::read_to_string(note).unwrap_or_default();
        if self.end_failed(run, &reason(why.trim(), true)).is_ok() {
            let _ = std::fs::remove_file(note);
        }
    }
}

/// What to say when the history of `dir` was lost: `history.db` is missing or empty (and
/// has no write-ahead log to recover from), yet the state directory holds files of earlier
/// runs. `None` for a history that is there, or a state directory that never had one.
pub fn lost(dir: &Path) -> Option<String> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len());
    let layout = Layout::of(dir);
    let db = layout.history();
    let state = match size(&db) {
        Ok(0) => "empty",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
        _ => return None,
    };
    if size(&layout.history_wal()).is_ok_and(|n| n > 0) {
        return None;
    }
    let mut runs: Vec<String> = layout
        .run_folders()
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    runs.sort();
    runs.dedup();
    let first = runs.first()?;
    Some(format!(
        "the run history `{}` was lost: it is {state}, but this state directory holds the files of {} earlier run{} (`logs/{first}`, …), which a full disk or a clean-up can leave; a new history starts without them (their logs and artifacts stay where they are)",
        db.display(),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::History;
    use super::super::tests::{ir, start};
    use super::lost;
    use crate::runtime::state::Layout;

    #[test]
    fn a_note_left_by_a_process_records_the_run_failed_at_the_next_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let h = History::open(dir.path()).expect("opens");
        let run = start(
            &h,
            &ir("pipeline p { stage s { action a: sh { run = \"true\" } } }\n"),
        );
        // What a process leaves when the disk is full: a note, and the run still running.
        std::fs::write(
            Layout::of(dir.path()).unrecorded_note(&run),
            "run history: database or disk is full",
        )
        .expect("note");
        drop(h);
        let h = History::open(dir.path()).expect("opens again");
        let rows = h.runs(None).expect("runs");
        assert_eq!(rows[0].status, crate::runtime::status::RunStatus::Failed);
        assert!(
            !Layout::of(dir.path()).unrecorded_note(&run).exists(),
            "the note is gone"
        );
    }

    #[test]
    fn a_missing_or_empty_history_next_to_runs_files_is_lost() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(lost(dir.path()), None, "a new state directory");
        std::fs::create_dir_all(dir.path().join("logs/20260101-000000-1")).expect("mkdir");
        let said = lost(dir.path()).expect("lost");
        assert!(
            said.contains("it is missing") && said.contains("1 earlier run "),
            "{said}"
        );
        std::fs::write(dir.path().join("history.db"), "").expect("empty");
        assert!(lost(dir.path()).is_some_and(|s| s.contains("it is empty")));
        History::open(dir.path()).expect("a new history");
        assert_eq!(lost(dir.path()), None);
    }
}
