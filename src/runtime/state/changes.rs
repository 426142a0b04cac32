//! Changes of the history: a new run, and the changes of its runs, stages and actions.
//!
//! A change something may depend on (a stage ending, a run ending or held, a decision)
//! commits before the call returns, in one transaction with the changes queued before it.
//! An action's end is written to the journal before the call returns (`journal.rs`: as
//! durable as a commit, at a tenth of its cost) and committed with the next commit, within
//! `MAX_QUEUED`. A change nothing depends on ("running") is queued, and committed with the
//! next commit or within `MAX_QUEUED`. A crash can lose only queued "running" marks, which
//! resuming treats as "not finished" anyway.

use std::path::Path;

use rusqlite::{Connection, params};

use super::owner::Owner;
use super::{History, MAX_QUEUED, immediate, now, sql};
use crate::runtime::error::Error;
use crate::runtime::status::{ActionStatus, Decided, RunStatus, StageStatus};

/// A change of the history, applied in order.
#[derive(Clone)]
pub(super) enum Change {
    Stage {
        run: String,
        stage: String,
        status: StageStatus,
        verdict: Option<Decided>,
        reason: Option<String>,
        rounds: Option<u32>,
        at: String,
    },
    Action {
        run: String,
        stage: String,
        action: String,
        status: ActionStatus,
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
        status: RunStatus,
        at: String,
    },
    /// Seconds this process was active on the run, added to its `spent`.
    Spent { run: String, secs: f64 },
}

impl History {
    /// Records a new run and its stages and actions (all `pending`); returns its id. A run
    /// started by a `pipeline` action names its `parent` run.
    pub fn start_run(
        &self,
        ir: &crate::ir::Ir,
        params: &serde_json::Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<String, Error> {
        // Immediate: another pipec process starting a run waits, so sequence numbers (and
        // ids) stay unique. (After what this process has queued.)
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
                // One line: the row is written again at the run's end (with its status).
                crate::ir::to_compact_json(ir),
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
    pub fn finish_run(&self, run: &str, status: RunStatus) -> Result<(), Error> {
        self.change(
            Change::Run {
                run: run.into(),
                status,
                at: now(),
            },
            Commit::Now,
        )
    }

    /// A stage's status: committed at once (with what is queued), "running" too — with how
    /// the stage was decided, before any of its actions starts: the ends of its actions are
    /// only journaled, and a resumed run goes on from a stage entered, not deciding it again.
    pub fn stage(&self, run: &str, stage: &str, update: &StageUpdate<'_>) -> Result<(), Error> {
        self.change(
            Change::Stage {
                run: run.into(),
                stage: stage.into(),
                status: update.status,
                verdict: update.verdict,
                reason: update.reason.map(str::to_string),
                rounds: update.rounds,
                at: now(),
            },
            Commit::Now,
        )
    }

    /// An action's change, committed as `update.commit` says.
    pub fn action(
        &self,
        run: &str,
        stage: &str,
        action: &str,
        update: &ActionUpdate<'_>,
    ) -> Result<(), Error> {
        self.change(
            Change::Action {
                run: run.into(),
                stage: stage.into(),
                action: action.into(),
                status: update.status,
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
    ) -> Result<(), Error> {
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

    /// Takes what is queued off the queue (as queued: not folded).
    pub(super) fn take_queued(&self) -> Vec<Change> {
        self.since.set(None);
        self.journaled.set(0);
        std::mem::take(&mut *self.queued.borrow_mut())
    }

    fn change(&self, change: Change, when: Commit) -> Result<(), Error> {
        self.queued.borrow_mut().push(change);
        if self.since.get().is_none() {
            self.since.set(Some(std::time::Instant::now()));
        }
        // An end journaled while the queue is overdue commits instead (as the queue does).
        match when {
            Commit::Now | Commit::Journaled if self.queued_for() >= Some(MAX_QUEUED) => {
                self.flush()
            }
            Commit::Now => self.flush(),
            Commit::Journaled => {
                let written = {
                    let queued = self.queued.borrow();
                    let from = self.journaled.get().min(queued.len());
                    let written = self.journal.borrow_mut().append(&queued[from..]);
                    self.journaled.set(queued.len());
                    written
                };
                // Without a journal (a full disk), the end commits now, or fails to.
                match written {
                    Ok(()) => Ok(()),
                    Err(_) => self.flush(),
                }
            }
            // Nothing waits longer than `MAX_QUEUED`, whoever looks at the history meanwhile.
            Commit::Queued if self.queued_for() >= Some(MAX_QUEUED) => self.flush(),
            Commit::Queued => Ok(()),
        }
    }

    /// Commits whatever is queued, in one transaction (`BEGIN IMMEDIATE`), on this process's
    /// connection (`synchronous=NORMAL`: no `fsync`). Returns once it is committed. Every
    /// statement of it is prepared once per connection, `BEGIN` and `COMMIT` included: a
    /// change often commits alone, so parsing those two again would be a good part of its
    /// cost. Once committed, the journal is emptied.
    /// A commit that fails puts what it took back on the queue, to be committed by the next
    /// one: the ends in it may be only in the journal, which that next commit empties.
    pub fn flush(&self) -> Result<(), Error> {
        let (since, journaled) = (self.since.get(), self.journaled.get());
        let queued = self.take_queued();
        if queued.is_empty() {
            return Ok(());
        }
        let done = self.commit(&fold(queued.clone()));
        if done.is_ok() {
            // What the journal held is committed.
            self.journal.borrow_mut().clear();
        } else {
            let mut back = self.queued.borrow_mut();
            let later = std::mem::replace(&mut *back, queued);
            back.extend(later);
            self.since.set(since);
            self.journaled.set(journaled);
        }
        done
    }

    /// Commits `changes` in one transaction, with how much of the journal they cover.
    fn commit(&self, changes: &[Change]) -> Result<(), Error> {
        let run = |sql: &str| {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut st| st.execute([]))
                .map(|_| ())
                .map_err(super::sql)
        };
        run("BEGIN IMMEDIATE")?;
        let done = changes
            .iter()
            .try_for_each(|c| apply(&self.conn, c))
            .and_then(|()| {
                self.journal
                    .borrow()
                    .mark_committed(&self.conn)
                    .map_err(sql)
            })
            .and_then(|()| run("COMMIT"));
        if done.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        done
    }

    /// Adds the time this process spent on the run: queued, and committed with the run's
    /// end or hold ([`History::finish_run`]), which follows it. One transaction writes the
    /// run's row once: the row holds the run's IR, and each update of it rewrites all of it.
    pub fn add_spent(&self, run: &str, secs: f64) -> Result<(), Error> {
        self.change(
            Change::Spent {
                run: run.into(),
                secs,
            },
            Commit::Queued,
        )
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
            if *status == ActionStatus::Running {
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

/// Applies one change in the transaction `conn` is in.
fn apply(conn: &Connection, change: &Change) -> Result<(), Error> {
    match change {
        Change::Run { run, status, at } => apply_run(conn, run, *status, at),
        Change::Spent { run, secs } => conn
            .prepare_cached("UPDATE runs SET spent = COALESCE(spent, 0) + ?2 WHERE id = ?1")
            .and_then(|mut st| st.execute(params![run, secs]))
            .map(|_| ())
            .map_err(sql),
        Change::Stage {
            run,
            stage,
            status,
            verdict,
            reason,
            rounds,
            at,
        } => {
            let q = if *status == StageStatus::Running {
                "UPDATE stages SET status = ?3, started = COALESCE(started, ?4), verdict = COALESCE(?5, verdict), reason = ?6, rounds = COALESCE(?7, rounds), finished = NULL WHERE run = ?1 AND name = ?2"
            } else {
                "UPDATE stages SET status = ?3, finished = ?4, verdict = COALESCE(?5, verdict), reason = ?6, rounds = COALESCE(?7, rounds) WHERE run = ?1 AND name = ?2"
            };
            conn.prepare_cached(q)
                .and_then(|mut st| {
                    st.execute(params![run, stage, status, at, verdict, reason, rounds])
                })
                .map(|_| ())
                .map_err(sql)
        }
        Change::Action { .. } => apply_action(conn, change),
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
            .and_then(|mut st| st.execute(params![run, stage, action, key, value]))
            .map(|_| ())
            .map_err(sql),
    }
}

/// A run's end (or hold): it stops waiting for stages (a held one keeps waiting where it is
/// held at a transition), and an ended run leaves the stages it occupied (a held one keeps
/// them).
fn apply_run(conn: &Connection, run: &str, status: RunStatus, at: &str) -> Result<(), Error> {
    let finished = status.ended().then_some(at);
    conn.prepare_cached("UPDATE runs SET status = ?2, finished = ?3 WHERE id = ?1")
        .and_then(|mut st| st.execute(params![run, status, finished]))
        .and_then(|_| {
            conn.prepare_cached("DELETE FROM waits WHERE run = ?1 AND (?2 OR held_from IS NULL)")
                .and_then(|mut st| st.execute(params![run, status.ended()]))
        })
        .and_then(|n| {
            if !status.ended() {
                return Ok(n);
            }
            conn.prepare_cached("DELETE FROM locks WHERE run = ?1")
                .and_then(|mut st| st.execute(params![run]))
        })
        .map(|_| ())
        .map_err(sql)
}

/// An action's change (`change` is a `Change::Action`).
fn apply_action(conn: &Connection, change: &Change) -> Result<(), Error> {
    let Change::Action {
        run,
        stage,
        action,
        status,
        attempt,
        exit_code,
        log,
        at,
        started,
    } = change
    else {
        return Ok(());
    };
    if let Some(started) = started {
        // A "running" mark folded into this end.
        return conn
            .prepare_cached("UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), started = COALESCE(started, ?9), finished = ?8 WHERE run = ?1 AND stage = ?2 AND name = ?3")
            .and_then(|mut st| {
                st.execute(params![run, stage, action, status, attempt, exit_code, log, at, started])
            })
            .map(|_| ())
            .map_err(sql);
    }
    // An approval's wait starts when it first waits (its timeout counts from then); an
    // action to run again is not finished.
    if *status == ActionStatus::Pending {
        return conn
            .prepare_cached("UPDATE actions SET status = ?4, finished = NULL WHERE run = ?1 AND stage = ?2 AND name = ?3")
            .and_then(|mut st| st.execute(params![run, stage, action, status]))
            .map(|_| ())
            .map_err(sql);
    }
    let q = if matches!(status, ActionStatus::Running | ActionStatus::Waiting) {
        "UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), started = COALESCE(started, ?8) WHERE run = ?1 AND stage = ?2 AND name = ?3"
    } else {
        "UPDATE actions SET status = ?4, attempts = MAX(attempts, ?5), exit_code = COALESCE(?6, exit_code), log = COALESCE(?7, log), finished = ?8 WHERE run = ?1 AND stage = ?2 AND name = ?3"
    };
    conn.prepare_cached(q)
        .and_then(|mut st| {
            st.execute(params![
                run, stage, action, status, attempt, exit_code, log, at
            ])
        })
        .map(|_| ())
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
    pub status: StageStatus,
    /// How it was decided (kept from before when `None`).
    pub verdict: Option<Decided>,
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
    /// An action's end: in the journal before the call returns (durable: a crash of pipec
    /// loses nothing), committed with the next commit or within `MAX_QUEUED`.
    Journaled,
    /// With the next commit, or within `MAX_QUEUED` ("running" marks).
    Queued,
}

/// A change of an action's record.
pub struct ActionUpdate<'a> {
    pub status: ActionStatus,
    pub commit: Commit,
    pub attempt: u32,
    pub exit_code: Option<i32>,
    pub log: Option<&'a str>,
}
