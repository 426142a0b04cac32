//! The journal of action ends: what makes an end durable at once without a commit.
//!
//! An action's end (with the exports that go with it) is appended to this process's
//! journal, `journal-PID-START-NANOS-N` in the state directory, in one `write` before the
//! scheduler starts anything else: like a commit of the history's write-ahead log (which
//! pipec runs without `fsync`), it survives the pipec process being killed, but costs a
//! tenth of one.
//! The end itself stays queued and commits to the history with the next commit, within
//! `MAX_QUEUED` (a commit that fails puts it back on the queue); each commit records the
//! number of the journal's last line in `journals`, then the journal is emptied.
//!
//! When the process dies before that commit, the next process that opens the history
//! replays the journal (its owner, PID and START, is no longer alive), and so does one that
//! claims or stops a run whose process died since: the ends it holds are committed, then
//! the file goes. (A journal whose ends could not be committed, on a full disk, stays for
//! the next open too.) An end is replayed only onto an action that has not ended since (or
//! was taken for still running and abandoned) and has not started a later attempt, so a
//! replay that comes late (a second process replaying the same file) never undoes what
//! happened after it; lines the history marks committed are skipped (a crash between a
//! commit and the emptying); an export is replayed only with its action's end. A last line
//! cut short (the process died within the `write`) is ignored: the end it would have held is
//! lost, as an uncommitted end was before, and that action runs again.
#![allow(clippy::disallowed_methods)] // Reason: the runtime owns the state directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::{Connection, OptionalExtension as _, params};
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::changes::Change;
use super::{History, Owner, immediate, sql};
use crate::runtime::error::Error;
use crate::runtime::status::ActionStatus;

/// The start of a journal's file name: `journal-PID-START-NANOS-N` (the process, when the
/// history was opened, and which of this process's histories).
pub(super) const JOURNAL: &str = "journal-";

/// Journals opened by this process so far (each `History` has its own).
static OPENED: AtomicU32 = AtomicU32::new(0);

/// This process's journal of one history: appended to by the scheduler, emptied after each
/// commit.
pub(super) struct Journal {
    /// The state directory.
    dir: PathBuf,
    /// The file, once the first end has created it.
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    /// A `write` was cut short and could not be cut back: nothing more is written.
    broken: bool,
    /// Something was written since it was last emptied.
    dirty: bool,
    /// The number of the last line written (lines are numbered from 1, and on across
    /// emptyings): each commit records the last one it covers in `journals`.
    seq: u64,
    /// Its length (what a `write` cut short is cut back to).
    len: u64,
}

impl Journal {
    /// The journal of a history in `dir` (the file is named and created by the first end:
    /// a history that records no end never looks this process up).
    pub(super) fn new(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            path: None,
            file: None,
            broken: false,
            dirty: false,
            seq: 0,
            len: 0,
        }
    }

    /// A new journal file of this process: `journal-PID-START-NANOS-N`.
    fn create(&self) -> std::io::Result<(PathBuf, std::fs::File)> {
        let me = Owner::me().ok_or_else(|| {
            std::io::Error::other("this process's start time is unknown (no /proc)")
        })?;
        let n = OPENED.fetch_add(1, Ordering::Relaxed);
        // The time too: a process with the pid and start tick of one from before a reboot
        // must not append to the journal that one left.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = self
            .dir
            .join(format!("{JOURNAL}{}-{}-{nanos}-{n}", me.pid, me.start));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        Ok((path, file))
    }

    /// Its file's name.
    fn name(&self) -> Option<&str> {
        self.path
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
    }

    /// Records, in the transaction `conn` is in, that everything written so far is
    /// committed by it: a replay after a crash between that commit and the journal's
    /// emptying skips those lines (what came after them in the history may have changed the
    /// same actions again).
    pub(super) fn mark_committed(&self, conn: &Connection) -> rusqlite::Result<()> {
        let Some(name) = self.name().filter(|_| self.dirty) else {
            return Ok(());
        };
        conn.prepare_cached("INSERT OR REPLACE INTO journals (name, seq) VALUES (?1, ?2)")?
            .execute(params![name, i64::try_from(self.seq).unwrap_or(i64::MAX)])
            .map(|_| ())
    }

    /// Appends the ends among `changes` and their exports, in one write.
    pub(super) fn append(&mut self, changes: &[Change]) -> std::io::Result<()> {
        let mut text = String::new();
        let mut seq = self.seq;
        for c in changes {
            if let Some(line) = Line::of(c) {
                seq += 1;
                let numbered = Numbered {
                    seq: i64::try_from(seq).unwrap_or(i64::MAX),
                    line,
                };
                if let Ok(json) = serde_json::to_string(&numbered) {
                    text.push_str(&json);
                    text.push('\n');
                }
            }
        }
        if text.is_empty() {
            return Ok(());
        }
        if self.broken {
            return Err(std::io::Error::other("the journal was cut short"));
        }
        if self.file.is_none() {
            let (path, file) = self.create()?;
            self.path = Some(path);
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("no journal"));
        };
        self.dirty = true;
        match file.write_all(text.as_bytes()) {
            Ok(()) => {
                self.seq = seq;
                self.len += text.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A line cut short would swallow the next one: cut the journal back, or stop
                // writing to it (the ends commit instead; the lines before stay whole).
                if file.set_len(self.len).is_err() {
                    self.broken = true;
                }
                Err(e)
            }
        }
    }

    /// Empties the journal: everything in it is committed.
    pub(super) fn clear(&mut self) {
        if !self.dirty {
            return;
        }
        if let Some(f) = &self.file {
            // Reason: a journal that could not be emptied is replayed harmlessly (what the
            // history marks committed is skipped).
            if f.set_len(0).is_ok() {
                self.dirty = false;
                self.len = 0;
                // A line cut short went with the rest.
                self.broken = false;
            }
        }
    }

    /// The file goes, unless it holds ends that were not committed (a commit failed: the
    /// next process that opens the history replays them); then its mark in `journals`.
    pub(super) fn remove(&mut self, conn: &Connection) {
        if !self.dirty
            && self.file.take().is_some()
            && let Some(p) = &self.path
            && std::fs::remove_file(p).is_ok()
            && let Some(name) = self.name()
        {
            let _ = conn.execute("DELETE FROM journals WHERE name = ?1", params![name]);
        }
    }
}

/// One line of the journal, numbered (`seq`). A line without a number (pipec writes none)
/// is never taken for committed: the replay's guards still hold for it.
#[derive(Serialize, Deserialize)]
struct Numbered<'a> {
    #[serde(default = "unnumbered")]
    seq: i64,
    #[serde(flatten)]
    line: Line<'a>,
}

fn unnumbered() -> i64 {
    i64::MAX
}

/// The run, stage and action a line is about.
type Names<'a> = [Cow<'a, str>; 3];

/// What a line says: an action's end, an export, or when an action started (a "running"
/// mark written with the end that follows it). Told apart by the key that names the action.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line<'a> {
    End {
        end: Names<'a>,
        status: Cow<'a, str>,
        attempt: u32,
        exit_code: Option<i32>,
        log: Option<Cow<'a, str>>,
        at: Cow<'a, str>,
        started: Option<Cow<'a, str>>,
    },
    Export {
        export: Names<'a>,
        key: Cow<'a, str>,
        value: Cow<'a, str>,
    },
    Running {
        running: Names<'a>,
        at: Cow<'a, str>,
    },
}

impl<'a> Line<'a> {
    /// The line for `change`, if it goes to the journal.
    fn of(change: &'a Change) -> Option<Line<'a>> {
        let names =
            |run: &'a str, stage: &'a str, action: &'a str| [run, stage, action].map(Cow::Borrowed);
        match change {
            Change::Action {
                run,
                stage,
                action,
                status,
                attempt,
                exit_code,
                log,
                at,
                started,
            } if status.ended() => Some(Line::End {
                end: names(run, stage, action),
                status: Cow::Borrowed(status.as_str()),
                attempt: *attempt,
                exit_code: *exit_code,
                log: log.as_deref().map(Cow::Borrowed),
                at: Cow::Borrowed(at),
                started: started.as_deref().map(Cow::Borrowed),
            }),
            Change::Export {
                run,
                stage,
                action,
                key,
                value,
            } => Some(Line::Export {
                export: names(run, stage, action),
                key: Cow::Borrowed(key),
                value: Cow::Borrowed(value),
            }),
            Change::Action {
                run,
                stage,
                action,
                status: ActionStatus::Running,
                at,
                ..
            } => Some(Line::Running {
                running: names(run, stage, action),
                at: Cow::Borrowed(at),
            }),
            _ => None,
        }
    }
}

/// The owner of a journal, from its file name (`journal-PID-START-NANOS-N`).
fn owner_of(name: &str) -> Option<Owner> {
    let mut parts = name.strip_prefix(JOURNAL)?.split('-');
    Some(Owner {
        pid: parts.next()?.parse().ok()?,
        start: parts.next()?.parse().ok()?,
    })
}

impl History {
    /// Replays the journals of processes that are gone (see [`History::replay_journal`]).
    pub(super) fn replay_journals(&self) {
        self.replay_among(&self.state_files());
    }

    /// Replays the journals among `files` (the state directory's, by [`History::state_files`]).
    pub(super) fn replay_among(&self, files: &[(String, PathBuf)]) {
        for (name, path) in files.iter().filter(|(n, _)| n.starts_with(JOURNAL)) {
            self.replay_journal(name, path);
        }
    }

    /// Replays the journal `path` (named `name`) if its process is gone: its ends are
    /// committed, then it is removed. Best effort: a journal that cannot be replayed now
    /// stays for the next open.
    pub(super) fn replay_journal(&self, name: &str, path: &Path) {
        let Some(owner) = owner_of(name) else { return };
        if owner.alive() {
            return;
        }
        if self.replay(path).is_ok() && std::fs::remove_file(path).is_ok() {
            // After the file: a replayer that read the mark before still skips what it
            // covers, and one that comes after finds no file.
            let _ = self
                .conn
                .execute("DELETE FROM journals WHERE name = ?1", params![name]);
        }
    }

    fn replay(&self, path: &Path) -> Result<(), Error> {
        // Read under the write lock: a replay that comes second reads what is left.
        let tx = immediate(&self.conn)?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::StateDir {
                    path: path.to_path_buf(),
                    source: e.into(),
                });
            }
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Lines up to this one were committed before the process died.
        let committed: i64 = tx
            .query_row(
                "SELECT seq FROM journals WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?
            .unwrap_or(0);
        let mut last = committed;
        let mut exports: Vec<(Names<'_>, Cow<'_, str>, Cow<'_, str>)> = Vec::new();
        // Only whole lines: the last one may have been cut short.
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in whole.lines() {
            let Ok(Numbered { seq, line }) = serde_json::from_str::<Numbered>(line) else {
                continue;
            };
            if seq <= committed {
                continue;
            }
            if seq < i64::MAX {
                last = last.max(seq);
            }
            match line {
                Line::Export { export, key, value } => exports.push((export, key, value)),
                Line::Running { running, at } => replay_start(&tx, &running, &at)?,
                Line::End { ref end, .. } => {
                    let ended = replay_end(&tx, &line)?;
                    // The exports written before it are its own (or an earlier attempt's).
                    let (mine, others) = std::mem::take(&mut exports)
                        .into_iter()
                        .partition::<Vec<_>, _>(|(names, ..)| names == end);
                    exports = others;
                    if ended {
                        for (names, key, value) in &mine {
                            replay_export(&tx, names, key, value)?;
                        }
                    }
                }
            }
        }
        // A second replay of this file (its removal may not happen) skips it all.
        tx.execute(
            "INSERT OR REPLACE INTO journals (name, seq) VALUES (?1, ?2)",
            params![name, last],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }
}

/// Records a journaled end (`Line::End`) unless the action has ended since or started a
/// later attempt; whether it was recorded. An action `abandoned` for the same attempt was
/// taken for still running by whoever ended its run (its end was not committed yet): the
/// end is what happened.
fn replay_end(conn: &Connection, end: &Line<'_>) -> Result<bool, Error> {
    let Line::End {
        end: [run, stage, action],
        status,
        attempt,
        exit_code,
        log,
        at,
        started,
    } = end
    else {
        return Ok(false);
    };
    let Ok(status) = status.parse::<ActionStatus>() else {
        return Ok(false);
    };
    let n = conn
        .execute(
            "UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), started = COALESCE(started, ?9), finished = ?8 WHERE run = ?1 AND stage = ?2 AND name = ?3 AND status IN ('pending', 'running', 'abandoned') AND attempts <= ?5",
            params![run, stage, action, status, attempt, exit_code, log, at, started],
        )
        .map_err(sql)?;
    Ok(n > 0)
}

/// Records when a journaled action started, unless it has ended since.
fn replay_start(conn: &Connection, names: &Names<'_>, at: &str) -> Result<(), Error> {
    let [run, stage, action] = names;
    conn.execute(
        "UPDATE actions SET started = COALESCE(started, ?4) WHERE run = ?1 AND stage = ?2 AND name = ?3 AND status IN ('pending', 'running')",
        params![run, stage, action, at],
    )
    .map(|_| ())
    .map_err(sql)
}

fn replay_export(
    conn: &Connection,
    names: &Names<'_>,
    key: &str,
    value: &str,
) -> Result<(), Error> {
    let [run, stage, action] = names;
    conn.execute(
        "INSERT OR REPLACE INTO exports (run, stage, action, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![run, stage, action, key, value],
    )
    .map(|_| ())
    .map_err(sql)
}

#[cfg(test)]
mod tests;
