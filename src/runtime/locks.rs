//! Stage locks across the processes that share a state directory (LANGUAGE.md §9).
//!
//! In `superseded` and `queued` modes a stage holds one run at a time: the run in it owns a
//! row of `locks`, and runs that want in wait in `waits` (with their creation order, `seq`).
//! Every decision is one IMMEDIATE transaction, so two processes never both take a stage.
//! - `queued`: the stage goes to the earliest-created run waiting for it (FIFO).
//! - `superseded`: only the newest waiting run keeps waiting; an older one is recorded
//!   `superseded` (its process sees that at its next look and ends the run so).
//!
//! Runs held at a disabled transition into a stage wait for it the same way (a `waits` row
//! that names the transition's source, LANGUAGE.md §6), though no process runs them: a newer
//! run arriving supersedes them (`superseded`, ended here), a newer run asking for the stage
//! in `queued` mode waits until they have gone first, and `pipec transition enable` names
//! them ([`History::held_at`]).
//!
//! A run keeps its stage while held (approval) and while its process is gone without having
//! ended the run (a crash): `pipec resume` goes on with it, `pipec stop` ends it and frees
//! the stage.

use rusqlite::{OptionalExtension, params};

use super::state::{History, Owner, immediate, now, sql};
use super::status::RunStatus;
use crate::ir::Mode;
use crate::runtime::error::Error;

/// The answer to a run that wants a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    /// The stage is the run's (until [`History::unlock`] or the run's end).
    Taken,
    /// Another run is in the stage.
    Waiting { holder: String },
    /// `queued`: the stage is free, but `first` waits for it since before (or is held at a
    /// transition into it since before): it goes first.
    Behind { first: String },
    /// A newer run waits for the stage: this one ends `superseded`.
    Superseded { by: String },
}

/// The run in a stage, with its status (a superseded run whose process still finishes
/// what it runs counts as `running`).
fn holder_of(
    tx: &rusqlite::Transaction<'_>,
    pipeline: &str,
    stage: &str,
) -> Result<Option<(String, Option<RunStatus>)>, Error> {
    let holder: Option<(String, Option<RunStatus>, Option<String>)> = tx
        .query_row(
            "SELECT l.run, r.status, r.owner FROM locks l LEFT JOIN runs r ON r.id = l.run WHERE l.pipeline = ?1 AND l.stage = ?2",
            params![pipeline, stage],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?;
    // A superseded run's process still finishes what it runs (and then leaves).
    let holder = holder.map(|(h, status, owner)| {
        let alive = owner
            .and_then(|o| o.parse::<Owner>().ok())
            .is_some_and(|o| o.alive());
        let status = if status == Some(RunStatus::Superseded) && alive {
            Some(RunStatus::Running)
        } else {
            status
        };
        (h, status)
    });
    Ok(holder)
}

/// A run waiting for a stage: its id, creation order, and whether it is held at a disabled
/// transition into the stage with no process (`waiting`).
struct Waiter {
    run: String,
    seq: i64,
    held: bool,
}

/// The other runs waiting for a stage, oldest first: those whose process is still there (a
/// crashed waiter waits no more), and those held at a disabled transition into it.
fn live_waiters(
    tx: &rusqlite::Transaction<'_>,
    pipeline: &str,
    stage: &str,
    run: &str,
) -> Result<Vec<Waiter>, Error> {
    let waiting: Vec<(String, i64, Option<String>, RunStatus)> = tx
        .prepare(
        "SELECT w.run, w.seq, r.owner, r.status FROM waits w JOIN runs r ON r.id = w.run WHERE w.pipeline = ?1 AND w.stage = ?2 AND w.run <> ?3 AND (r.status = 'running' OR (r.status = 'waiting' AND w.held_from IS NOT NULL)) ORDER BY w.seq",
        )
        .and_then(|mut st| {
        st.query_map(params![pipeline, stage, run], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()
        })
        .map_err(sql)?;
    let alive = |o: &Option<String>| {
        o.as_deref()
            .and_then(|o| o.parse::<Owner>().ok())
            .is_some_and(|o| o.alive())
    };
    Ok(waiting
        .into_iter()
        .filter(|(_, _, o, status)| *status == RunStatus::Waiting || alive(o))
        .map(|(run, seq, _, status)| Waiter {
            run,
            seq,
            held: status == RunStatus::Waiting,
        })
        .collect())
}

/// `superseded` mode: the newest of the runs waiting for a stage keeps waiting (or enters a
/// free stage); the others are recorded `superseded` (a held one, which no process runs, is
/// ended here: its stages are freed).
fn supersede(
    tx: &rusqlite::Transaction<'_>,
    pipeline: &str,
    stage: &str,
    run: &str,
    seq: i64,
    waiting: &[Waiter],
    holder: Option<String>,
) -> Result<Lock, Error> {
    if let Some(newer) = waiting.iter().rev().find(|w| w.seq > seq) {
        tx.execute(
            "UPDATE runs SET status = 'superseded', finished = ?2 WHERE id = ?1",
            params![run, now()],
        )
        .map_err(sql)?;
        tx.execute("DELETE FROM waits WHERE run = ?1", params![run])
            .map_err(sql)?;
        return Ok(Lock::Superseded {
            by: newer.run.clone(),
        });
    }
    for older in waiting.iter().filter(|w| w.seq < seq) {
        if older.held {
            end_held(tx, &older.run, stage, run)?;
            continue;
        }
        tx.execute(
            "UPDATE runs SET status = 'superseded', finished = ?2 WHERE id = ?1 AND status = 'running'",
            params![older.run, now()],
        )
        .map_err(sql)?;
        tx.execute(
            "DELETE FROM waits WHERE run = ?1 AND pipeline = ?2 AND stage = ?3",
            params![older.run, pipeline, stage],
        )
        .map_err(sql)?;
    }
    Ok(match holder {
        Some(h) => Lock::Waiting { holder: h },
        None => Lock::Taken,
    })
}

/// Ends `held`, a run held at a transition into `stage` that no process runs, `superseded`
/// by the newer run `by`: it frees its stages, and what it waited for is left undecided.
fn end_held(
    tx: &rusqlite::Transaction<'_>,
    held: &str,
    stage: &str,
    by: &str,
) -> Result<(), Error> {
    let at = now();
    let why = format!("superseded: run {by} is newer and waits for this stage");
    let steps: [(&str, &[&dyn rusqlite::ToSql]); 6] = [
        (
            "UPDATE runs SET status = 'superseded', finished = ?2 WHERE id = ?1",
            &[&held, &at],
        ),
        (
            "UPDATE stages SET status = 'pending', reason = ?3, window_since = NULL, evaluating = NULL WHERE run = ?1 AND name = ?2",
            &[&held, &stage, &why],
        ),
        (
            "UPDATE stages SET status = 'pending', reason = 'not decided: the run was superseded', window_since = NULL, evaluating = NULL WHERE run = ?1 AND status = 'waiting'",
            &[&held],
        ),
        (
            "UPDATE actions SET status = 'abandoned', finished = ?2 WHERE run = ?1 AND status IN ('running', 'waiting')",
            &[&held, &at],
        ),
        ("DELETE FROM locks WHERE run = ?1", &[&held]),
        ("DELETE FROM waits WHERE run = ?1", &[&held]),
    ];
    for (q, p) in steps {
        tx.execute(q, p).map_err(sql)?;
    }
    Ok(())
}

impl History {
    /// Asks for `stage` of `pipeline` for `run`; call again until it is [`Lock::Taken`].
    pub fn lock(&self, pipeline: &str, stage: &str, run: &str, mode: Mode) -> Result<Lock, Error> {
        if mode == Mode::Parallel {
            return Ok(Lock::Taken);
        }
        // After what this process has queued (one transaction at a time on the connection).
        self.flush()?;
        let tx = immediate(&self.conn)?;
        let (seq, status, parent): (i64, RunStatus, Option<String>) = tx
            .query_row(
                "SELECT seq, status, parent FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(sql)?;
        if status == RunStatus::Superseded {
            let by: Option<String> = tx
                .query_row(
                    "SELECT run FROM waits WHERE pipeline = ?1 AND stage = ?2 ORDER BY seq DESC LIMIT 1",
                    params![pipeline, stage],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            tx.execute("DELETE FROM waits WHERE run = ?1", params![run])
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
            return Ok(Lock::Superseded {
                by: by.unwrap_or_else(|| "a newer run".into()),
            });
        }
        let holder = holder_of(&tx, pipeline, stage)?;
        let holder = match holder {
            Some((h, _)) if h == run => return Ok(Lock::Taken),
            // A rollback nested in the run that is in the stage takes its place.
            Some((h, _)) if Some(&h) == parent.as_ref() => {
                tx.execute(
                    "UPDATE locks SET run = ?3 WHERE pipeline = ?1 AND stage = ?2",
                    params![pipeline, stage, run],
                )
                .map_err(sql)?;
                tx.commit().map_err(sql)?;
                return Ok(Lock::Taken);
            }
            // A lock its run forgot (it ended without freeing it): free.
            // (A lock whose run is gone from the history is forgotten too.)
            Some((_, s)) if s.is_none_or(RunStatus::ended) => {
                tx.execute(
                    "DELETE FROM locks WHERE pipeline = ?1 AND stage = ?2",
                    params![pipeline, stage],
                )
                .map_err(sql)?;
                None
            }
            other => other.map(|(h, _)| h),
        };
        let waiting = live_waiters(&tx, pipeline, stage, run)?;
        let outcome = match mode {
            Mode::Superseded => supersede(&tx, pipeline, stage, run, seq, &waiting, holder)?,
            Mode::Queued => match (holder, waiting.iter().find(|w| w.seq < seq)) {
                (Some(h), _) => Lock::Waiting { holder: h },
                (None, Some(first)) => Lock::Behind {
                    first: first.run.clone(),
                },
                (None, None) => Lock::Taken,
            },
            Mode::Parallel => Lock::Taken,
        };
        match &outcome {
            Lock::Taken => {
                tx.execute(
                    "INSERT INTO locks (pipeline, stage, run, since) VALUES (?1, ?2, ?3, ?4)",
                    params![pipeline, stage, run, now()],
                )
                .map_err(sql)?;
                tx.execute(
                    "DELETE FROM waits WHERE run = ?1 AND pipeline = ?2 AND stage = ?3",
                    params![run, pipeline, stage],
                )
                .map_err(sql)?;
            }
            Lock::Waiting { .. } | Lock::Behind { .. } => {
                // (No longer held at a transition: it asks for the stage.)
                tx.execute(
                    "INSERT INTO waits (pipeline, stage, run, seq, since) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (pipeline, stage, run) DO UPDATE SET held_from = NULL",
                    params![pipeline, stage, run, seq, now()],
                )
                .map_err(sql)?;
            }
            Lock::Superseded { .. } => {}
        }
        tx.commit().map_err(sql)?;
        Ok(outcome)
    }

    /// `run` is held at the disabled transition `from -> stage`: it waits for the stage as a
    /// run waiting for its lock does, with no process (LANGUAGE.md §6). In `superseded` mode
    /// the older runs waiting for the stage are superseded, and so is this one when a newer
    /// one waits: then the newer one's id.
    pub fn hold_at(
        &self,
        pipeline: &str,
        stage: &str,
        from: &str,
        run: &str,
        mode: Mode,
    ) -> Result<Option<String>, Error> {
        self.flush()?;
        let tx = immediate(&self.conn)?;
        let (seq, status): (i64, RunStatus) = tx
            .query_row(
                "SELECT seq, status FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        if status == RunStatus::Superseded {
            return Ok(Some("a newer run".into()));
        }
        tx.execute(
            "INSERT INTO waits (pipeline, stage, run, seq, since, held_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (pipeline, stage, run) DO UPDATE SET held_from = excluded.held_from",
            params![pipeline, stage, run, seq, now(), from],
        )
        .map_err(sql)?;
        let by = if mode == Mode::Superseded {
            let waiting = live_waiters(&tx, pipeline, stage, run)?;
            match supersede(&tx, pipeline, stage, run, seq, &waiting, None)? {
                Lock::Superseded { by } => Some(by),
                _ => None,
            }
        } else {
            None
        };
        tx.commit().map_err(sql)?;
        Ok(by)
    }

    /// The runs held at the transition `from -> to` of `pipeline` (no process runs them),
    /// oldest first: those that may go on once it is enabled.
    pub fn held_at(&self, pipeline: &str, from: &str, to: &str) -> Result<Vec<String>, Error> {
        self.conn
            .prepare(
                "SELECT w.run FROM waits w JOIN runs r ON r.id = w.run WHERE w.pipeline = ?1 AND w.stage = ?3 AND w.held_from = ?2 AND r.status = 'waiting' ORDER BY w.seq",
            )
            .and_then(|mut st| {
                st.query_map(params![pipeline, from, to], |r| r.get(0))?
                    .collect()
            })
            .map_err(sql)
    }

    /// The transitions run `run` is held at, as (from, to) pairs.
    pub fn holds_of(&self, run: &str) -> Result<Vec<(String, String)>, Error> {
        self.conn
            .prepare(
                "SELECT held_from, stage FROM waits WHERE run = ?1 AND held_from IS NOT NULL ORDER BY seq",
            )
            .and_then(|mut st| {
                st.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(sql)
    }

    /// `run` is no longer held at a transition into `stage` (it was decided otherwise).
    pub fn unhold(&self, pipeline: &str, stage: &str, run: &str) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "DELETE FROM waits WHERE pipeline = ?1 AND stage = ?2 AND run = ?3 AND held_from IS NOT NULL",
            )
            .and_then(|mut st| st.execute(params![pipeline, stage, run]))
            .map(|_| ())
            .map_err(sql)
    }

    /// The run leaves the stage (it ended): the next may enter.
    pub fn unlock(&self, pipeline: &str, stage: &str, run: &str) -> Result<(), Error> {
        // What is queued goes first: the stage's end must be in the history before another
        // run is in the stage.
        self.flush()?;
        self.conn
            .prepare_cached("DELETE FROM locks WHERE pipeline = ?1 AND stage = ?2 AND run = ?3")
            .and_then(|mut st| st.execute(params![pipeline, stage, run]))
            .map(|_| ())
            .map_err(sql)
    }

    /// A run taken up again keeps only the locks of the stages it is about to go on in
    /// (`stages`): a crash may have left it holding one it had left, or never entered.
    pub fn keep_locks(&self, pipeline: &str, run: &str, stages: &[&str]) -> Result<(), Error> {
        self.flush()?;
        // A list of strings always serializes (an empty text would fail the query).
        let keep = serde_json::to_string(stages).unwrap_or_default();
        self.conn
            .execute(
                "DELETE FROM locks WHERE run = ?1 AND pipeline = ?2 AND stage NOT IN (SELECT value FROM json_each(?3))",
                params![run, pipeline, keep],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// Whether the run has been superseded by another process meanwhile.
    pub fn superseded(&self, run: &str) -> Result<bool, Error> {
        self.conn
            .prepare_cached("SELECT status FROM runs WHERE id = ?1")
            .and_then(|mut st| st.query_row(params![run], |r| r.get::<_, RunStatus>(0)))
            .map(|s| s == RunStatus::Superseded)
            .map_err(sql)
    }
}
