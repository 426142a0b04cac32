//! The state directory and the durable run history (`SQLite`, WAL).
//!
//! The folder's paths are named in one place (`layout.rs`). The history: its tables
//! (`schema.rs`), the changes a run makes (`changes.rs`: a change something may depend on
//! commits before the call returns, in one transaction with the changes queued before it;
//! an action's end is written to the journal (`journal.rs`) before the call returns and
//! commits within `MAX_QUEUED`; a change nothing depends on, "running", is queued), what
//! `pipec runs`/`show` read (`queries.rs`), what resuming reads and claims
//! (`recorded.rs`), the process that owns a run (`owner.rs`), and the ends of runs whose
//! process could not record them (`unrecorded.rs`). A crash can lose only queued "running"
//! marks, which resuming treats as "not finished" anyway: the next open replays the
//! journals of processes that are gone.
//!
//! One connection per process, opened by [`History::open`], does every write: WAL with
//! `synchronous=NORMAL` (a setting of the connection, not of the file), so a commit is a
//! write into the WAL, with no `fsync` (only checkpoints sync): tens of microseconds. An
//! action's end costs a tenth of that, one `write` to the journal, before the scheduler
//! starts anything else; a process that dies (`kill -9`) loses nothing committed or
//! journaled, and the database stays consistent after a power loss (which may lose the
//! last commits).
#![allow(clippy::disallowed_methods)] // Reason: the runtime owns the state directory.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

mod changes;
mod journal;
mod layout;
mod owner;
mod queries;
mod recorded;
mod schema;
#[cfg(test)]
pub(crate) mod tests;
mod unrecorded;

use crate::runtime::error::Error;
use changes::Change;
pub use changes::{ActionUpdate, Commit, Snapshot, StageUpdate};
pub use layout::Layout;
pub use owner::Owner;
pub use queries::{ActionRow, RunDetail, RunRow, StageRow};
pub use recorded::{Claim, Recorded, RecordedAction, RecordedStage};
pub use unrecorded::lost;

/// The state directory: `--state-dir`, else `PIPEC_STATE_DIR` (both given as `flag` by the
/// CLI), else the nearest `.pipec/` in the current folder or its parents, else `./.pipec/`.
pub fn resolve_dir(flag: Option<&Path>) -> PathBuf {
    // Absolute: actions run in their workspaces, where `$PIPEC_OUTPUT` must still resolve.
    if let Some(dir) = flag {
        return std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .map(|d| d.join(".pipec"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| cwd.join(".pipec"))
}

/// The run history of one state directory.
pub struct History {
    pub(super) conn: Connection,
    pub dir: PathBuf,
    /// Changes waiting for the next commit, and since when the oldest waits.
    queued: std::cell::RefCell<Vec<Change>>,
    since: std::cell::Cell<Option<std::time::Instant>>,
    /// How many of the queued changes are in the journal already.
    journaled: std::cell::Cell<usize>,
    journal: std::cell::RefCell<journal::Journal>,
    /// The history was lost and this one is new: what to tell the user ([`lost`]).
    pub lost: Option<String>,
}

/// Now, RFC 3339 in UTC with exactly three fractional digits (`2026-12-07T03:30:05.500Z`):
/// one width, so the text order of two such times is their time order.
pub fn now() -> String {
    let t = jiff::Timestamp::now();
    let t = t.round(jiff::Unit::Millisecond).unwrap_or(t);
    format!("{t:.3}")
}

/// A database error of the history, as `map_err(sql)`.
pub(super) fn sql(e: rusqlite::Error) -> Error {
    Error::history(e)
}

impl History {
    /// Opens (creating) the history of a state directory; records the ends of runs that
    /// their processes could not record (see `unrecorded`).
    pub fn open(dir: &Path) -> Result<History, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::StateDir {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        let lost = lost(dir);
        let conn = Connection::open(Layout::of(dir).history()).map_err(|e| Error::Open {
            dir: dir.to_path_buf(),
            source: e.into(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        // Switching to WAL takes a lock the busy timeout does not wait for: wait here.
        let since = std::time::Instant::now();
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && since.elapsed() < std::time::Duration::from_secs(30) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(sql(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        schema::create_or_upgrade(&conn)?;
        let history = History {
            conn,
            dir: dir.to_path_buf(),
            queued: std::cell::RefCell::new(Vec::new()),
            since: std::cell::Cell::new(None),
            journaled: std::cell::Cell::new(0),
            journal: std::cell::RefCell::new(journal::Journal::new(dir)),
            lost,
        };
        history.recover();
        Ok(history)
    }

    /// The paths of the state directory.
    pub fn layout(&self) -> Layout<'_> {
        Layout::of(&self.dir)
    }
}

impl Drop for History {
    /// This process's journal goes once nothing in it waits for a commit (a commit that
    /// failed leaves it for the next process that opens the history to replay).
    fn drop(&mut self) {
        self.journal.get_mut().remove(&self.conn);
    }
}

/// The longest a queued change waits for its commit.
pub const MAX_QUEUED: std::time::Duration = std::time::Duration::from_millis(100);

/// A write transaction that takes the database's write lock at once, so that it waits for
/// other processes (the busy timeout) instead of failing with "database is locked" when a
/// read would later turn into a write.
pub(super) fn immediate(conn: &Connection) -> Result<rusqlite::Transaction<'_>, Error> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)
}
