//! What resuming, retrying and rolling back read of a recorded run (its snapshot and how
//! far it got), claiming a run for this process, and ending the runs whose process died.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};

use super::owner::Owner;
use super::{History, immediate, now, sql};
use crate::runtime::error::Error;
use crate::runtime::status::{ActionStatus, Decided, RunStatus, StageStatus};

/// A run as recorded: its snapshot and how far it got.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
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
    pub status: StageStatus,
    pub verdict: Option<Decided>,
    pub reason: Option<String>,
    pub rounds: u32,
    pub actions: Vec<RecordedAction>,
}

#[derive(Clone, Debug)]
pub struct RecordedAction {
    pub name: String,
    pub status: ActionStatus,
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
    Moved(RunStatus),
}

impl History {
    /// Everything needed to continue a run.
    pub fn recorded(&self, run: &str) -> Result<Option<Recorded>, Error> {
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
    pub fn claim(&self, run: &str, from: &[RunStatus]) -> Result<Claim, Error> {
        let tx = immediate(&self.conn)?;
        let (owner, status): (Option<String>, RunStatus) = tx
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
        if !from.contains(&status) {
            return Ok(Claim::Moved(status));
        }
        tx.execute(
            "UPDATE runs SET owner = ?2, status = 'running', finished = NULL, stop = NULL WHERE id = ?1",
            params![run, me.map(|o| o.to_string())],
        )
        .map_err(sql)?;
        tx.execute(
            "WITH RECURSIVE nested(id) AS (SELECT id FROM runs WHERE parent = ?1 UNION SELECT r.id FROM runs r JOIN nested n ON r.parent = n.id) UPDATE runs SET status = 'stopped', finished = ?2 WHERE id IN nested AND status IN ('running', 'waiting')",
            params![run, now()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        // The ends its dead owner journaled (it may have died since this history was opened).
        self.replay_journals();
        Ok(Claim::Taken)
    }

    /// The work folders of `run` and of the runs nested in it (where their processes'
    /// `$PIPEC_OUTPUT` lies: how processes a dead pipec left are found).
    pub fn work_dirs(&self, run: &str) -> Vec<PathBuf> {
        let layout = self.layout();
        std::iter::once(run.to_string())
            .chain(self.nested(run).unwrap_or_default())
            .map(|r| layout.work(&r))
            .collect()
    }

    /// The runs nested in `run` (by `pipeline` actions and rollbacks), at any depth.
    pub fn nested(&self, run: &str) -> Result<Vec<String>, Error> {
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
    pub fn stop_orphaned(&self, run: &str) -> Result<Option<Owner>, Error> {
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
        // The ends its dead owner journaled: what had ended is not abandoned.
        self.replay_journals();
        Ok(None)
    }
}
