//! The state directory and the durable run history (`SQLite`, WAL).
//!
//! Layout: `history.db`, `work/RUN/` (workspaces; a failed attempt's is kept as
//! `STAGE.ACTION.ATTEMPT`), `logs/RUN/STAGE.ACTION.ATTEMPT.log`, `artifacts/RUN/` (manifests)
//! and `store/` (content-addressed files).
//!
//! Writes: a change something may depend on (an action or stage ending, a run ending, an
//! export) commits before the call returns, in one transaction with the changes queued
//! before it; a change nothing depends on ("running") is queued. A crash can lose only
//! queued "running" marks, which resuming treats as "not finished" anyway. WAL with
//! `synchronous=NORMAL` keeps commits cheap and the database consistent after a crash.
#![allow(clippy::disallowed_methods)] // Reason: the runtime owns the state directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

mod unrecorded;
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
    /// Commits changes nothing waits for in the background (started on first use).
    writer: std::cell::RefCell<Option<Writer>>,
    /// The history was lost and this one is new: what to tell the user ([`lost`]).
    pub lost: Option<String>,
}

/// A thread with a connection of its own that commits batches of changes in order, merging
/// the batches that wait into one transaction (group commit): the scheduler does not wait
/// for the commit of an end nothing depends on, yet it is in the history within moments.
struct Writer {
    tx: Option<std::sync::mpsc::Sender<Batch>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The first error of a batch nobody waited for (reported at the next flush).
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// Batches sent and not committed yet.
    pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct Batch {
    changes: Vec<Change>,
    /// Told when the batch is committed (a flush waits for it).
    done: Option<std::sync::mpsc::SyncSender<Result<(), String>>>,
    /// Told too, for the scheduler (`History::committed`).
    notify: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Writer {
    fn start(path: &Path) -> Result<Writer, String> {
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        let (tx, rx) = std::sync::mpsc::channel::<Batch>();
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = failed.clone();
        let pending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let left = pending.clone();
        let thread = std::thread::Builder::new()
            .name("pipec-history".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // What came while the last commit went on is committed together.
                    let mut batches = vec![first];
                    batches.extend(rx.try_iter());
                    let result = immediate(&conn).and_then(|t| {
                        for c in batches.iter().flat_map(|b| &b.changes) {
                            apply(&t, c)?;
                        }
                        t.commit().map_err(sql)
                    });
                    if let Err(e) = &result {
                        if let Ok(mut f) = seen.lock() {
                            f.get_or_insert_with(|| e.clone());
                        }
                    }
                    left.fetch_sub(batches.len(), std::sync::atomic::Ordering::SeqCst);
                    for b in batches {
                        if let Some(done) = b.done {
                            let _ = done.send(result.clone());
                        }
                        if let Some(n) = b.notify {
                            let _ = n.send(());
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the history writer: {e}"))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            failed,
            pending,
        })
    }
}

impl Drop for History {
    fn drop(&mut self) {
        // Everything sent is committed before the history goes away.
        if let Some(mut w) = self.writer.get_mut().take() {
            drop(w.tx.take());
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A change of the history, applied in order.
enum Change {
    Stage {
        run: String,
        stage: String,
        status: String,
        verdict: Option<String>,
        reason: Option<String>,
        rounds: Option<u32>,
        at: String,
    },
    Action {
        run: String,
        stage: String,
        action: String,
        status: String,
        attempt: u32,
        exit_code: Option<i32>,
        log: Option<String>,
        at: String,
        /// A queued "running" change folded into this one: when it started.
        started: Option<String>,
    },
    Export {
        run: String,
        stage: String,
        action: String,
        key: String,
        value: String,
    },
    Run {
        run: String,
        status: String,
        at: String,
    },
}

/// One row of `pipec runs --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunRow {
    pub id: String,
    pub pipeline: String,
    pub status: String,
    pub started: String,
    pub finished: Option<String>,
}

/// `pipec show --json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunDetail {
    pub id: String,
    pub pipeline: String,
    pub status: String,
    pub params: serde_json::Value,
    pub started: String,
    pub finished: Option<String>,
    /// A rollback run: the run whose inputs it used (extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub stages: Vec<StageRow>,
    /// Transitions of the pipeline that are disabled or set from the command line (now).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<super::holds::EdgeState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageRow {
    pub name: String,
    pub status: String,
    /// Why it is skipped, held, failed, … (when there is something to say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub actions: Vec<ActionRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ActionRow {
    pub name: String,
    pub status: String,
    pub attempts: u32,
    pub exit_code: Option<i32>,
    pub exports: serde_json::Map<String, serde_json::Value>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// An approval's decision: `approved by NAME: COMMENT` (extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(skip)]
    pub log: Option<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL,
  params TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stages (
  run TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
  started TEXT, finished TEXT, PRIMARY KEY (run, name)
);
CREATE TABLE IF NOT EXISTS actions (
  run TEXT NOT NULL, stage TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, exit_code INTEGER,
  log TEXT, started TEXT, finished TEXT, PRIMARY KEY (run, stage, name)
);
CREATE TABLE IF NOT EXISTS exports (
  run TEXT NOT NULL, stage TEXT NOT NULL, action TEXT NOT NULL, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (run, stage, action, key)
);
CREATE TABLE IF NOT EXISTS approvals (
  run TEXT NOT NULL, stage TEXT NOT NULL, action TEXT NOT NULL, approved INTEGER NOT NULL,
  by TEXT NOT NULL, comment TEXT, at TEXT NOT NULL, PRIMARY KEY (run, stage, action)
);
CREATE TABLE IF NOT EXISTS transitions (
  pipeline TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, enabled INTEGER NOT NULL,
  reason TEXT, declared TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (pipeline, source, target)
);
CREATE TABLE IF NOT EXISTS locks (
  pipeline TEXT NOT NULL, stage TEXT NOT NULL, run TEXT NOT NULL, since TEXT NOT NULL,
  PRIMARY KEY (pipeline, stage)
);
CREATE TABLE IF NOT EXISTS waits (
  pipeline TEXT NOT NULL, stage TEXT NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL,
  since TEXT NOT NULL, PRIMARY KEY (pipeline, stage, run)
);
";

/// Columns added after the first version of each table (checked, and added when missing,
/// each time a history is opened).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("runs", "parent", "TEXT"),
    ("runs", "owner", "TEXT"),
    // The run's snapshot: what resuming, retrying and rolling back need.
    ("runs", "ir", "TEXT"),
    ("runs", "facts", "TEXT"),
    ("runs", "file", "TEXT"),
    // Seconds the run was active before its current process (held time does not count).
    ("runs", "spent", "REAL"),
    // A rollback run: the run whose inputs it re-uses.
    ("runs", "source", "TEXT"),
    ("stages", "verdict", "TEXT"),
    ("stages", "reason", "TEXT"),
    ("stages", "rounds", "INTEGER"),
    // When the stage began waiting for its deployment window (`else wait`).
    ("stages", "window_since", "TEXT"),
];

/// Now, RFC 3339.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

#[allow(clippy::needless_pass_by_value)] // Reason: used as `map_err(sql)`.
pub(super) fn sql(e: rusqlite::Error) -> String {
    format!("run history: {e}")
}

impl History {
    /// Opens (creating) the history of a state directory; records the ends of runs that
    /// their processes could not record (see `unrecorded`).
    pub fn open(dir: &Path) -> Result<History, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the state directory `{}`: {e}", dir.display()))?;
        let lost = lost(dir);
        let conn = Connection::open(dir.join("history.db"))
            .map_err(|e| format!("cannot open the run history in `{}`: {e}", dir.display()))?;
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
        // One process at a time creates and upgrades the schema.
        let tx = immediate(&conn)?;
        tx.execute_batch(SCHEMA).map_err(sql)?;
        for (table, column, ty) in COLUMNS {
            let exists = tx
                .prepare(&format!(
                    "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
                ))
                .and_then(|mut st| st.exists([column]))
                .map_err(sql)?;
            if !exists {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))
                    .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        let history = History {
            conn,
            dir: dir.to_path_buf(),
            queued: std::cell::RefCell::new(Vec::new()),
            since: std::cell::Cell::new(None),
            writer: std::cell::RefCell::new(None),
            lost,
        };
        history.record_unrecorded_ends();
        Ok(history)
    }

    /// Records a new run and its stages and actions (all `pending`); returns its id. A run
    /// started by a `pipeline` action names its `parent` run.
    pub fn start_run(
        &self,
        ir: &crate::ir::Ir,
        params: &serde_json::Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<String, String> {
        // Immediate: another pipec process starting a run waits, so sequence numbers (and
        // ids) stay unique. (After what this process's writer thread has.)
        self.flush()?;
        let tx = immediate(&self.conn)?;
        let seq: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs", [], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        let id = format!("{}-{seq}", jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S"));
        tx.execute(
            "INSERT INTO runs (id, pipeline, status, params, started, seq, parent, owner, ir, facts, file, spent, source) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11)",
            params![
                id,
                ir.pipeline.name,
                params.to_string(),
                now(),
                seq,
                snapshot.parent,
                Owner::me().map(|o| o.to_string()),
                crate::ir::to_json(ir),
                snapshot.facts.to_string(),
                snapshot.file.map(|f| f.to_string_lossy().into_owned()),
                snapshot.source,
            ],
        )
        .map_err(sql)?;
        {
            let mut stage = tx
                .prepare_cached(
                    "INSERT INTO stages (run, idx, name, status) VALUES (?1, ?2, ?3, 'pending')",
                )
                .map_err(sql)?;
            let mut action = tx
                .prepare_cached("INSERT INTO actions (run, stage, idx, name, status) VALUES (?1, ?2, ?3, ?4, 'pending')")
                .map_err(sql)?;
            for (i, s) in ir.pipeline.stages.iter().enumerate() {
                stage
                    .execute(params![id, i64::try_from(i).unwrap_or(i64::MAX), s.name])
                    .map_err(sql)?;
                for (j, a) in s.actions.iter().enumerate() {
                    action
                        .execute(params![
                            id,
                            s.name,
                            i64::try_from(j).unwrap_or(i64::MAX),
                            a.name
                        ])
                        .map_err(sql)?;
                }
            }
        }
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// A run's end (or hold, `waiting`): committed at once. An ended run leaves the stages
    /// it occupied (a held one keeps them) and stops waiting for any.
    pub fn finish_run(&self, run: &str, status: &str) -> Result<(), String> {
        self.change(
            Change::Run {
                run: run.into(),
                status: status.into(),
                at: now(),
            },
            Commit::Now,
        )
    }

    /// A stage's status; "running" is queued, anything else commits (with what is queued).
    pub fn stage(&self, run: &str, stage: &str, update: &StageUpdate<'_>) -> Result<(), String> {
        self.change(
            Change::Stage {
                run: run.into(),
                stage: stage.into(),
                status: update.status.into(),
                verdict: update.verdict.map(str::to_string),
                reason: update.reason.map(str::to_string),
                rounds: update.rounds,
                at: now(),
            },
            if update.status != "running" || update.rounds.is_some() {
                Commit::Now
            } else {
                Commit::Queued
            },
        )
    }

    /// An action's change, committed as `update.commit` says.
    pub fn action(
        &self,
        run: &str,
        stage: &str,
        action: &str,
        update: &ActionUpdate<'_>,
    ) -> Result<(), String> {
        self.change(
            Change::Action {
                run: run.into(),
                stage: stage.into(),
                action: action.into(),
                status: update.status.into(),
                attempt: update.attempt,
                exit_code: update.exit_code,
                log: update.log.map(str::to_string),
                at: now(),
                started: None,
            },
            update.commit,
        )
    }

    /// An export; queued, and committed with the action's end (which comes right after).
    pub fn export(
        &self,
        run: &str,
        stage: &str,
        action: &str,
        key: &str,
        value: &str,
    ) -> Result<(), String> {
        self.change(
            Change::Export {
                run: run.into(),
                stage: stage.into(),
                action: action.into(),
                key: key.into(),
                value: value.into(),
            },
            Commit::Queued,
        )
    }

    /// How long the oldest queued change has waited (`None`: nothing queued).
    pub fn queued_for(&self) -> Option<std::time::Duration> {
        self.since.get().map(|t| t.elapsed())
    }

    /// Commits whatever is queued (and whatever the writer has not committed yet), and
    /// returns once it is committed.
    pub fn flush(&self) -> Result<(), String> {
        let changes = self.take_queued();
        let writer = self.writer.borrow();
        // The writer has something to commit: these changes come after it.
        let busy = writer
            .as_ref()
            .filter(|w| w.pending.load(std::sync::atomic::Ordering::SeqCst) > 0);
        if let Some(w) = busy {
            w.pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (done, wait) = std::sync::mpsc::sync_channel(1);
            let sent = w.tx.as_ref().is_some_and(|tx| {
                tx.send(Batch {
                    changes,
                    done: Some(done),
                    notify: None,
                })
                .is_ok()
            });
            if !sent {
                return Err("run history: its writer has stopped".into());
            }
            wait.recv()
                .map_err(|_| "run history: its writer has stopped".to_string())??;
            return match w.failed.lock().map(|mut f| f.take()) {
                Ok(Some(e)) => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(Some(e)) = writer
            .as_ref()
            .map(|w| w.failed.lock().ok().and_then(|mut f| f.take()))
        {
            return Err(e);
        }
        if changes.is_empty() {
            return Ok(());
        }
        let tx = immediate(&self.conn)?;
        for c in &changes {
            apply(&tx, c)?;
        }
        tx.commit().map_err(sql)
    }

    /// Hands whatever is queued to the writer, to be committed at once without waiting.
    pub fn commit_soon(&self) -> Result<(), String> {
        let changes = self.take_queued();
        if changes.is_empty() {
            return Ok(());
        }
        self.send(changes, None)
    }

    /// Hands whatever is queued to the writer; resolves once it (and everything handed
    /// over before) is committed.
    pub fn committed(&self) -> Result<tokio::sync::oneshot::Receiver<()>, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let changes = self.take_queued();
        if changes.is_empty() && self.writer.borrow().is_none() {
            let _ = tx.send(());
            return Ok(rx);
        }
        self.send(changes, Some(tx))?;
        Ok(rx)
    }

    fn send(
        &self,
        changes: Vec<Change>,
        notify: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<(), String> {
        if self.writer.borrow().is_none() {
            let w = Writer::start(&self.dir.join("history.db"))?;
            *self.writer.borrow_mut() = Some(w);
        }
        let writer = self.writer.borrow();
        let sent = writer.as_ref().is_some_and(|w| {
            w.pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            w.tx.as_ref().is_some_and(|tx| {
                tx.send(Batch {
                    changes,
                    done: None,
                    notify,
                })
                .is_ok()
            })
        });
        if sent {
            Ok(())
        } else {
            Err("run history: its writer has stopped".into())
        }
    }

    fn take_queued(&self) -> Vec<Change> {
        self.since.set(None);
        fold(std::mem::take(&mut *self.queued.borrow_mut()))
    }

    fn change(&self, change: Change, when: Commit) -> Result<(), String> {
        self.queued.borrow_mut().push(change);
        if self.since.get().is_none() {
            self.since.set(Some(std::time::Instant::now()));
        }
        match when {
            Commit::Now => self.flush(),
            // Nothing waits longer than this, whoever looks at the history meanwhile.
            Commit::Queued if self.queued_for() >= Some(MAX_QUEUED) => self.commit_soon(),
            // `Soon`: the caller hands it over with `committed`.
            Commit::Queued | Commit::Soon => Ok(()),
        }
    }

    /// Runs, newest first.
    pub fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRow>, String> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pipeline, status, started, finished FROM runs WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY seq DESC")
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![pipeline], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    pipeline: r.get(1)?,
                    status: r.get(2)?,
                    started: r.get(3)?,
                    finished: r.get(4)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    /// The process running `run` (recorded when it started) and its status.
    pub fn owner(&self, run: &str) -> Result<(Option<Owner>, String), String> {
        self.conn
            .query_row(
                "SELECT owner, status FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?)),
            )
            .map(|(o, s)| (o.and_then(|o| o.parse().ok()), s))
            .map_err(sql)
    }

    /// A run id, or `last` for the newest.
    pub fn resolve(&self, run: &str) -> Result<Option<String>, String> {
        let q = if run == "last" {
            "SELECT id FROM runs WHERE parent IS NULL ORDER BY seq DESC LIMIT 1"
        } else {
            "SELECT id FROM runs WHERE id = ?1"
        };
        let mut stmt = self.conn.prepare(q).map_err(sql)?;
        let found = if run == "last" {
            stmt.query_row([], |r| r.get(0))
        } else {
            stmt.query_row(params![run], |r| r.get(0))
        };
        found.optional().map_err(sql)
    }

    /// Everything about one run.
    pub fn show(&self, run: &str) -> Result<Option<RunDetail>, String> {
        let head = self
            .conn
            .query_row(
                "SELECT id, pipeline, status, params, started, finished, ir, source FROM runs WHERE id = ?1",
                params![run],
                |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ),
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(sql)?;
        let Some(((id, pipeline, status, params_json), started, finished, ir, source)) = head
        else {
            return Ok(None);
        };
        let transitions = match ir.as_deref().map(crate::ir::from_json) {
            Some(Ok(ir)) => super::holds::edge_states(&ir, &self.overrides(&pipeline)?),
            _ => Vec::new(),
        };
        let mut stages = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT name, status, reason FROM stages WHERE run = ?1 ORDER BY idx")
            .map_err(sql)?;
        let names: Vec<(String, String, Option<String>)> = stmt
            .query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        for (name, status, reason) in names {
            let mut a = self
                .conn
                .prepare("SELECT name, status, attempts, exit_code, started, finished, log FROM actions WHERE run = ?1 AND stage = ?2 ORDER BY idx")
                .map_err(sql)?;
            let actions: Vec<ActionRow> = a
                .query_map(params![run, name], |r| {
                    Ok(ActionRow {
                        name: r.get(0)?,
                        status: r.get(1)?,
                        attempts: r.get(2)?,
                        exit_code: r.get(3)?,
                        exports: serde_json::Map::new(),
                        started: r.get(4)?,
                        finished: r.get(5)?,
                        decision: None,
                        log: r.get(6)?,
                    })
                })
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            let mut actions = actions;
            for act in &mut actions {
                let mut e = self.conn.prepare("SELECT key, value FROM exports WHERE run = ?1 AND stage = ?2 AND action = ?3 ORDER BY key").map_err(sql)?;
                let kv: Vec<(String, String)> = e
                    .query_map(params![run, name, act.name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(sql)?
                    .collect::<Result<_, _>>()
                    .map_err(sql)?;
                act.exports = kv
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                act.decision = self.decision(run, &name, &act.name)?.map(|d| d.describe());
            }
            stages.push(StageRow {
                name,
                status,
                reason,
                actions,
            });
        }
        let params = serde_json::from_str(&params_json).unwrap_or(serde_json::Value::Null);
        Ok(Some(RunDetail {
            id,
            pipeline,
            status,
            params,
            started,
            finished,
            source,
            stages,
            transitions,
        }))
    }
}

/// A run as recorded: its snapshot and how far it got.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub id: String,
    pub pipeline: String,
    pub status: String,
    /// Param values as text, by name.
    pub params: BTreeMap<String, String>,
    /// The IR it ran (`None` for runs recorded before runs kept one).
    pub ir: Option<String>,
    pub facts: Option<String>,
    pub file: Option<PathBuf>,
    pub spent: f64,
    pub seq: i64,
    pub parent: Option<String>,
    pub source: Option<String>,
    pub stages: Vec<RecordedStage>,
    /// (stage, action, key) → value.
    pub exports: BTreeMap<(String, String, String), String>,
}

#[derive(Clone, Debug)]
pub struct RecordedStage {
    pub name: String,
    pub status: String,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub rounds: u32,
    pub actions: Vec<RecordedAction>,
}

#[derive(Clone, Debug)]
pub struct RecordedAction {
    pub name: String,
    pub status: String,
    pub attempts: u32,
    pub started: Option<String>,
}

/// Whether this process may go on with a run.
#[derive(Clone, Debug)]
pub enum Claim {
    /// It is ours now (its previous process, if any, is gone).
    Taken,
    /// Another live process runs it.
    Busy(Owner),
    /// Its status is no longer one the caller may go on from (another process ended it
    /// meanwhile): this status.
    Moved(String),
}

impl History {
    /// Everything needed to continue a run.
    pub fn recorded(&self, run: &str) -> Result<Option<Recorded>, String> {
        let head = self
            .conn
            .query_row(
                "SELECT id, pipeline, status, params, ir, facts, file, COALESCE(spent, 0), seq, parent, source FROM runs WHERE id = ?1",
                params![run],
                |r| {
                    Ok(Recorded {
                        id: r.get(0)?,
                        pipeline: r.get(1)?,
                        status: r.get(2)?,
                        params: serde_json::from_str::<BTreeMap<String, String>>(
                            &r.get::<_, String>(3)?,
                        )
                        .unwrap_or_default(),
                        ir: r.get(4)?,
                        facts: r.get(5)?,
                        file: r.get::<_, Option<String>>(6)?.map(PathBuf::from),
                        spent: r.get(7)?,
                        seq: r.get(8)?,
                        parent: r.get(9)?,
                        source: r.get(10)?,
                        stages: Vec::new(),
                        exports: BTreeMap::new(),
                    })
                },
            )
            .optional()
            .map_err(sql)?;
        let Some(mut rec) = head else {
            return Ok(None);
        };
        let mut st = self
            .conn
            .prepare("SELECT name, status, verdict, reason, COALESCE(rounds, 0) FROM stages WHERE run = ?1 ORDER BY idx")
            .map_err(sql)?;
        rec.stages = st
            .query_map(params![run], |r| {
                Ok(RecordedStage {
                    name: r.get(0)?,
                    status: r.get(1)?,
                    verdict: r.get(2)?,
                    reason: r.get(3)?,
                    rounds: r.get(4)?,
                    actions: Vec::new(),
                })
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        let mut act = self
            .conn
            .prepare("SELECT name, status, attempts, started FROM actions WHERE run = ?1 AND stage = ?2 ORDER BY idx")
            .map_err(sql)?;
        for s in &mut rec.stages {
            s.actions = act
                .query_map(params![run, s.name], |r| {
                    Ok(RecordedAction {
                        name: r.get(0)?,
                        status: r.get(1)?,
                        attempts: r.get(2)?,
                        started: r.get(3)?,
                    })
                })
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
        }
        let mut ex = self
            .conn
            .prepare("SELECT stage, action, key, value FROM exports WHERE run = ?1")
            .map_err(sql)?;
        rec.exports = ex
            .query_map(params![run], |r| {
                Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?))
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        Ok(Some(rec))
    }

    /// Makes this process the run's owner, unless another live process is: two resumers of
    /// one run cannot both go on. The run is `running` again; nested runs its dead owner
    /// left unfinished are recorded `stopped` (resuming starts their actions afresh).
    ///
    /// `from`: the statuses the caller may go on from (checked in the same transaction, so
    /// a run another process finished meanwhile is not taken up again).
    pub fn claim(&self, run: &str, from: &[&str]) -> Result<Claim, String> {
        let tx = immediate(&self.conn)?;
        let (owner, status): (Option<String>, String) = tx
            .query_row(
                "SELECT owner, status FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        let me = Owner::me();
        if let Some(o) = owner.and_then(|o| o.parse::<Owner>().ok()) {
            if Some(o) != me && o.alive() {
                return Ok(Claim::Busy(o));
            }
        }
        if !from.contains(&status.as_str()) {
            return Ok(Claim::Moved(status));
        }
        tx.execute(
            "UPDATE runs SET owner = ?2, status = 'running', finished = NULL WHERE id = ?1",
            params![run, me.map(|o| o.to_string())],
        )
        .map_err(sql)?;
        tx.execute(
            "WITH RECURSIVE nested(id) AS (SELECT id FROM runs WHERE parent = ?1 UNION SELECT r.id FROM runs r JOIN nested n ON r.parent = n.id) UPDATE runs SET status = 'stopped', finished = ?2 WHERE id IN nested AND status IN ('running', 'waiting')",
            params![run, now()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Claim::Taken)
    }

    /// The work folders of `run` and of the runs nested in it (where their processes'
    /// `$PIPEC_OUTPUT` lies: how processes a dead pipec left are found).
    pub fn work_dirs(&self, run: &str) -> Vec<PathBuf> {
        let work = self.dir.join("work");
        std::iter::once(run.to_string())
            .chain(self.nested(run).unwrap_or_default())
            .map(|r| work.join(r))
            .collect()
    }

    /// The runs nested in `run` (by `pipeline` actions and rollbacks), at any depth.
    pub fn nested(&self, run: &str) -> Result<Vec<String>, String> {
        let mut st = self
            .conn
            .prepare("WITH RECURSIVE nested(id) AS (SELECT id FROM runs WHERE parent = ?1 UNION SELECT r.id FROM runs r JOIN nested n ON r.parent = n.id) SELECT id FROM nested")
            .map_err(sql)?;
        st.query_map(params![run], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)
    }

    /// Records `run` (and the runs nested in it that have not ended) `stopped`, freeing the
    /// stages they hold — unless a live process runs it (checked in the same transaction):
    /// then that owner.
    pub fn stop_orphaned(&self, run: &str) -> Result<Option<Owner>, String> {
        let tx = immediate(&self.conn)?;
        let owner: Option<String> = tx
            .query_row("SELECT owner FROM runs WHERE id = ?1", params![run], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        if let Some(o) = owner.and_then(|o| o.parse::<Owner>().ok()) {
            if Some(o) != Owner::me() && o.alive() {
                return Ok(Some(o));
            }
        }
        let ids: Vec<String> = tx
            .prepare("WITH RECURSIVE tree(id) AS (SELECT ?1 UNION SELECT r.id FROM runs r JOIN tree t ON r.parent = t.id) SELECT r.id FROM runs r JOIN tree t ON r.id = t.id WHERE r.status IN ('running', 'waiting')")
            .and_then(|mut st| st.query_map(params![run], |r| r.get(0))?.collect())
            .map_err(sql)?;
        let at = now();
        for id in &ids {
            tx.execute(
                "UPDATE runs SET status = 'stopped', finished = ?2 WHERE id = ?1",
                params![id, at],
            )
            .map_err(sql)?;
            // What was running or waiting will not go on.
            tx.execute(
                "UPDATE stages SET status = 'abandoned', reason = 'the run was stopped', finished = ?2 WHERE run = ?1 AND status IN ('running', 'waiting')",
                params![id, at],
            )
            .map_err(sql)?;
            tx.execute(
                "UPDATE actions SET status = 'abandoned', finished = ?2 WHERE run = ?1 AND status IN ('running', 'waiting')",
                params![id, at],
            )
            .map_err(sql)?;
            tx.execute("DELETE FROM locks WHERE run = ?1", params![id])
                .map_err(sql)?;
            tx.execute("DELETE FROM waits WHERE run = ?1", params![id])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(None)
    }

    /// Adds the time this process spent on the run (commits at once).
    pub fn add_spent(&self, run: &str, secs: f64) -> Result<(), String> {
        self.flush()?;
        self.conn
            .execute(
                "UPDATE runs SET spent = COALESCE(spent, 0) + ?2 WHERE id = ?1",
                params![run, secs],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// The newest run of `pipeline`, other than `except`, in which `stage` succeeded (a
    /// rollback run does not count: it re-used an earlier run's inputs).
    pub fn last_success(
        &self,
        pipeline: &str,
        stage: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, String> {
        self.conn
            .query_row(
                "SELECT r.id FROM runs r JOIN stages s ON s.run = r.id WHERE r.pipeline = ?1 AND s.name = ?2 AND s.status = 'succeeded' AND r.ir IS NOT NULL AND r.source IS NULL AND (?3 IS NULL OR r.id <> ?3) ORDER BY r.seq DESC LIMIT 1",
                params![pipeline, stage, except],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// The newest run of `pipeline` that kept its IR: (run id, IR as JSON).
    pub fn latest_ir(&self, pipeline: &str) -> Result<Option<(String, String)>, String> {
        self.conn
            .query_row(
                "SELECT id, ir FROM runs WHERE pipeline = ?1 AND ir IS NOT NULL ORDER BY seq DESC LIMIT 1",
                params![pipeline],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql)
    }
}

/// Folds an action's queued "running" change into its end when both wait for the same
/// commit (one row update instead of two).
fn fold(changes: Vec<Change>) -> Vec<Change> {
    let mut out: Vec<Option<Change>> = Vec::with_capacity(changes.len());
    let mut running: std::collections::HashMap<(String, String, String), usize> =
        std::collections::HashMap::new();
    for c in changes {
        if let Change::Action {
            run,
            stage,
            action,
            status,
            ..
        } = &c
        {
            let key = (run.clone(), stage.clone(), action.clone());
            if status == "running" {
                running.insert(key, out.len());
            } else if let Some(k) = running.remove(&key) {
                if let Some(Change::Action {
                    at, attempt: a0, ..
                }) = out[k].take()
                {
                    let mut c = c;
                    if let Change::Action {
                        started, attempt, ..
                    } = &mut c
                    {
                        *started = Some(at);
                        *attempt = (*attempt).max(a0);
                    }
                    out.push(Some(c));
                    continue;
                }
            }
        }
        out.push(Some(c));
    }
    out.into_iter().flatten().collect()
}

fn apply(conn: &Connection, change: &Change) -> Result<(), String> {
    match change {
        Change::Run { run, status, at } => {
            let finished = (status != "running" && status != "waiting").then_some(at);
            conn.prepare_cached("UPDATE runs SET status = ?2, finished = ?3 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![run, status, finished]))
                .and_then(|_| {
                    conn.prepare_cached("DELETE FROM waits WHERE run = ?1")
                        .and_then(|mut st| st.execute(params![run]))
                })
                .and_then(|n| {
                    if status == "waiting" || status == "running" {
                        return Ok(n);
                    }
                    conn.prepare_cached("DELETE FROM locks WHERE run = ?1")
                        .and_then(|mut st| st.execute(params![run]))
                })
        }
        Change::Stage {
            run,
            stage,
            status,
            verdict,
            reason,
            rounds,
            at,
        } => {
            let q = if status == "running" {
                "UPDATE stages SET status = ?3, started = COALESCE(started, ?4), verdict = COALESCE(?5, verdict), reason = ?6, rounds = COALESCE(?7, rounds), finished = NULL WHERE run = ?1 AND name = ?2"
            } else {
                "UPDATE stages SET status = ?3, finished = ?4, verdict = COALESCE(?5, verdict), reason = ?6, rounds = COALESCE(?7, rounds) WHERE run = ?1 AND name = ?2"
            };
            conn.prepare_cached(q).and_then(|mut st| {
                st.execute(params![run, stage, status, at, verdict, reason, rounds])
            })
        }
        Change::Action {
            run,
            stage,
            action,
            status,
            attempt,
            exit_code,
            log,
            at,
            started: Some(started),
        } => conn
            .prepare_cached("UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), started = COALESCE(started, ?9), finished = ?8 WHERE run = ?1 AND stage = ?2 AND name = ?3")
            .and_then(|mut st| {
                st.execute(params![run, stage, action, status, attempt, exit_code, log, at, started])
            }),
        Change::Action {
            run,
            stage,
            action,
            status,
            attempt,
            exit_code,
            log,
            at,
            started: None,
        } => {
            // An approval's wait starts when it first waits (its timeout counts from then);
            // an action to run again is not finished.
            if status == "pending" {
                return conn
                    .prepare_cached("UPDATE actions SET status = ?4, finished = NULL WHERE run = ?1 AND stage = ?2 AND name = ?3")
                    .and_then(|mut st| st.execute(params![run, stage, action, status]))
                    .map(|_| ())
                    .map_err(sql);
            }
            let q = if status == "running" || status == "waiting" {
                "UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), started = COALESCE(started, ?8) WHERE run = ?1 AND stage = ?2 AND name = ?3"
            } else {
                "UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), finished = ?8 WHERE run = ?1 AND stage = ?2 AND name = ?3"
            };
            conn.prepare_cached(q).and_then(|mut st| {
                st.execute(params![run, stage, action, status, attempt, exit_code, log, at])
            })
        }
        Change::Export {
            run,
            stage,
            action,
            key,
            value,
        } => conn
            .prepare_cached(
                "INSERT OR REPLACE INTO exports (run, stage, action, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| st.execute(params![run, stage, action, key, value])),
    }
    .map(|_| ())
    .map_err(sql)
}

/// The longest a queued change waits for its commit.
pub const MAX_QUEUED: std::time::Duration = std::time::Duration::from_millis(100);

/// The process that runs a run: its pid and its start time (so that a reused pid is not
/// taken for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: i32,
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Option<Owner> {
        let pid = i32::try_from(std::process::id()).ok()?;
        Some(Owner {
            pid,
            start: start_time(pid)?,
        })
    }

    /// Whether the process is still the one that started the run.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.pid, self.start)
    }
}

impl std::str::FromStr for Owner {
    type Err = ();
    fn from_str(s: &str) -> Result<Owner, ()> {
        let (pid, start) = s.split_once(':').ok_or(())?;
        Ok(Owner {
            pid: pid.parse().map_err(|_| ())?,
            start: start.parse().map_err(|_| ())?,
        })
    }
}

/// A process's start time (clock ticks after boot; field 22 of `/proc/PID/stat`).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the closing parenthesis.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// A write transaction that takes the database's write lock at once, so that it waits for
/// other processes (the busy timeout) instead of failing with "database is locked" when a
/// read would later turn into a write.
pub(super) fn immediate(conn: &Connection) -> Result<rusqlite::Transaction<'_>, String> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)
}

/// What a new run records besides its IR and params.
pub struct Snapshot<'a> {
    /// The run a `pipeline` action's run is nested in.
    pub parent: Option<&'a str>,
    /// Trigger facts (`run.branch`, …), as JSON.
    pub facts: &'a serde_json::Value,
    /// The pipeline file (relative paths in it resolve against its folder).
    pub file: Option<&'a Path>,
    /// A rollback run: the run whose inputs it re-uses.
    pub source: Option<&'a str>,
}

/// A change of a stage's record.
pub struct StageUpdate<'a> {
    pub status: &'a str,
    /// How it was decided: `runs`, `skipped`, `not-reached`, `held`, `fails`.
    pub verdict: Option<&'a str>,
    /// Why (shown by `pipec show`).
    pub reason: Option<&'a str>,
    /// `on failure retry` rounds used so far.
    pub rounds: Option<u32>,
}

/// When a change is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Something is about to depend on it: committed before the call returns.
    Now,
    /// Nothing waits for it: queued, and handed to the writer thread by
    /// `History::committed`, which says when it is committed (at once, in the background).
    Soon,
    /// With the next commit, or within `MAX_QUEUED` ("running" marks).
    Queued,
}

/// A change of an action's record.
pub struct ActionUpdate<'a> {
    pub status: &'a str,
    pub commit: Commit,
    pub attempt: u32,
    pub exit_code: Option<i32>,
    pub log: Option<&'a str>,
}
