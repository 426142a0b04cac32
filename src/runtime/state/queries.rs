//! What `pipec runs` and `pipec show` read, and the history's other read-only questions
//! (which run is `last`, the newest run whose stage succeeded, the newest recorded IR).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::owner::Owner;
use super::{History, sql};
use crate::runtime::error::Error;
use crate::runtime::status::{ActionStatus, RunStatus, StageStatus};

/// One row of `pipec runs --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunRow {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
    pub started: String,
    pub finished: Option<String>,
    /// The run's number in this history, in the order runs were recorded (its id's last
    /// part). Not shown: the id carries it.
    #[serde(skip)]
    pub seq: i64,
}

/// `pipec show --json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunDetail {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
    pub params: serde_json::Value,
    pub started: String,
    pub finished: Option<String>,
    /// A rollback run: the run whose inputs it used (extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub stages: Vec<StageRow>,
    /// Transitions of the pipeline that are disabled or set from the command line (now).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<crate::runtime::holds::EdgeState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageRow {
    pub name: String,
    pub status: StageStatus,
    /// Why it is skipped, held, failed, … (when there is something to say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub actions: Vec<ActionRow>,
    /// Its conditions overridden by `pipec override` (extension).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<crate::runtime::holds::ConditionOverride>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ActionRow {
    pub name: String,
    pub status: ActionStatus,
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

impl History {
    /// Runs, newest first.
    pub fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRow>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pipeline, status, started, finished, seq FROM runs WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY seq DESC")
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![pipeline], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    pipeline: r.get(1)?,
                    status: r.get(2)?,
                    started: r.get(3)?,
                    finished: r.get(4)?,
                    seq: r.get(5)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    /// The number of the last run recorded (0 when there is none).
    pub fn last_seq(&self) -> Result<i64, Error> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM runs", [], |r| r.get(0))
            .map_err(sql)
    }

    /// Runs, newest first, each handed to `each` as (id, pipeline, status, started) without
    /// being kept: `pipec runs` on a history of 10,000 runs allocates nothing per run.
    pub fn each_run(
        &self,
        pipeline: Option<&str>,
        mut each: impl FnMut(&str, &str, RunStatus, &str),
    ) -> Result<(), Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pipeline, status, started FROM runs WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY seq DESC")
            .map_err(sql)?;
        let mut rows = stmt.query(params![pipeline]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let text = |i: usize| r.get_ref(i).and_then(|v| Ok(v.as_str()?));
            let status: RunStatus = r.get(2).map_err(sql)?;
            each(
                text(0).map_err(sql)?,
                text(1).map_err(sql)?,
                status,
                text(3).map_err(sql)?,
            );
        }
        Ok(())
    }

    /// The process running `run` (recorded when it started) and its status.
    pub fn owner(&self, run: &str) -> Result<(Option<Owner>, RunStatus), Error> {
        self.conn
            .query_row(
                "SELECT owner, status FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, RunStatus>(1)?)),
            )
            .map(|(o, s)| (o.and_then(|o| o.parse().ok()), s))
            .map_err(sql)
    }

    /// A run id, or `last` for the newest.
    pub fn resolve(&self, run: &str) -> Result<Option<String>, Error> {
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
    pub fn show(&self, run: &str) -> Result<Option<RunDetail>, Error> {
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
                            r.get::<_, RunStatus>(2)?,
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
            Some(Ok(ir)) => crate::runtime::holds::edge_states(&ir, &self.overrides(&pipeline)?),
            _ => Vec::new(),
        };
        let mut stages = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT name, status, reason FROM stages WHERE run = ?1 ORDER BY idx")
            .map_err(sql)?;
        let names: Vec<(String, StageStatus, Option<String>)> = stmt
            .query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        for (name, status, reason) in names {
            let actions = self.action_rows(run, &name)?;
            let overrides = self.condition_overrides(run, &name)?;
            stages.push(StageRow {
                name,
                status,
                reason,
                actions,
                overrides,
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

    /// The actions of stage `stage` of run `run`, with their exports and decisions.
    fn action_rows(&self, run: &str, stage: &str) -> Result<Vec<ActionRow>, Error> {
        let mut a = self
            .conn
            .prepare("SELECT name, status, attempts, exit_code, started, finished, log FROM actions WHERE run = ?1 AND stage = ?2 ORDER BY idx")
            .map_err(sql)?;
        let mut actions: Vec<ActionRow> = a
            .query_map(params![run, stage], |r| {
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
        for act in &mut actions {
            let mut e = self.conn.prepare("SELECT key, value FROM exports WHERE run = ?1 AND stage = ?2 AND action = ?3 ORDER BY key").map_err(sql)?;
            let kv: Vec<(String, String)> = e
                .query_map(params![run, stage, act.name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            act.exports = kv
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            act.decision = self.decision(run, stage, &act.name)?.map(|d| d.describe());
        }
        Ok(actions)
    }

    /// The newest run of `pipeline`, other than `except`, in which `stage` succeeded (a
    /// rollback run does not count: it re-used an earlier run's inputs).
    pub fn last_success(
        &self,
        pipeline: &str,
        stage: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, Error> {
        self.conn
            .query_row(
                "SELECT r.id FROM runs r JOIN stages s ON s.run = r.id WHERE r.pipeline = ?1 AND s.name = ?2 AND s.status = 'succeeded' AND r.ir IS NOT NULL AND r.source IS NULL AND (?3 IS NULL OR r.id <> ?3) ORDER BY r.seq DESC LIMIT 1",
                params![pipeline, stage, except],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// The newest run of `pipeline` created after the run numbered `seq` that has entered
    /// `stage` (an action of it started there), if any: `pipec retry` of an older run would
    /// run its older inputs over that run's (`CodePipeline` retries only the latest execution
    /// in a stage).
    pub fn entered_later(
        &self,
        pipeline: &str,
        stage: &str,
        seq: i64,
    ) -> Result<Option<String>, Error> {
        self.conn
            .query_row(
                "SELECT r.id FROM runs r WHERE r.pipeline = ?1 AND r.seq > ?3 AND EXISTS (SELECT 1 FROM actions a WHERE a.run = r.id AND a.stage = ?2 AND a.started IS NOT NULL) ORDER BY r.seq DESC LIMIT 1",
                params![pipeline, stage, seq],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// The runs of `pipeline` in which `stage` succeeded, newest first, at most `most` (rollback
    /// runs are not among them: they re-used an earlier run's inputs).
    pub fn successes(&self, pipeline: &str, stage: &str, most: u32) -> Result<Vec<String>, Error> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.id FROM runs r JOIN stages s ON s.run = r.id WHERE r.pipeline = ?1 AND s.name = ?2 AND s.status = 'succeeded' AND r.ir IS NOT NULL AND r.source IS NULL ORDER BY r.seq DESC LIMIT ?3",
            )
            .map_err(sql)?;
        st.query_map(params![pipeline, stage, most], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)
    }

    /// The newest run of `pipeline` that kept its IR: (run id, IR as JSON).
    pub fn latest_ir(&self, pipeline: &str) -> Result<Option<(String, String)>, Error> {
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
