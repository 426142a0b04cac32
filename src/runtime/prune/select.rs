//! Which runs a prune removes, and removing their rows (inside the caller's transaction).

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};

use super::{Kept, Policies, Why};
use crate::runtime::error::Error;
use crate::runtime::state::sql as sql_error;
use crate::runtime::status::RunStatus;

/// The decision: the runs to remove (nested runs included, oldest first), the runs kept
/// against the policy and why, and how many runs stay.
pub(super) struct Chosen {
    pub(super) removed: Vec<String>,
    pub(super) protected: Vec<Kept>,
    pub(super) kept: u64,
}

/// A top-level run (nested runs go and stay with the run around them).
struct Run {
    id: String,
    pipeline: String,
    seq: i64,
    status: Option<RunStatus>,
    started: Option<jiff::Timestamp>,
}

pub(super) fn choose(
    conn: &Connection,
    policies: &Policies,
    now: jiff::Timestamp,
) -> Result<Chosen, Error> {
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .map_err(sql_error)?;
    let runs = top_level(conn)?;
    let mut over = Vec::new();
    let mut rank: HashMap<&str, u32> = HashMap::new();
    for run in &runs {
        let n = rank.entry(run.pipeline.as_str()).or_insert(0);
        *n += 1;
        let Some(policy) = policies.of(&run.pipeline) else {
            continue;
        };
        let too_many = policy.runs.is_some_and(|keep| *n > keep);
        let too_old = match (policy.age, run.started) {
            (Some(age), Some(started)) => {
                now.duration_since(started).as_secs() > i64::try_from(age).unwrap_or(i64::MAX)
            }
            _ => false,
        };
        if too_many || too_old {
            over.push(run);
        }
    }
    let needed = needed(conn, &runs)?;
    let mut removed = Vec::new();
    let mut protected = Vec::new();
    for run in over {
        let why = match run.status {
            Some(RunStatus::Running | RunStatus::Waiting) | None => Some(Why::Unfinished),
            _ => needed.get(run.id.as_str()).cloned(),
        };
        match why {
            Some(why) => protected.push(Kept {
                run: run.id.clone(),
                why,
            }),
            None => removed.push((run.seq, run.id.clone())),
        }
    }
    removed.sort();
    let mut removed: Vec<String> = removed.into_iter().map(|(_, id)| id).collect();
    removed.extend(nested(conn, &removed)?);
    protected.sort_by(|a, b| a.run.cmp(&b.run));
    let kept = u64::try_from(total).unwrap_or(0) - removed.len() as u64;
    Ok(Chosen {
        removed,
        protected,
        kept,
    })
}

/// Top-level runs, each pipeline's newest first.
fn top_level(conn: &Connection) -> Result<Vec<Run>, Error> {
    let mut st = conn
        .prepare("SELECT id, pipeline, seq, status, started FROM runs WHERE parent IS NULL ORDER BY pipeline, seq DESC")
        .map_err(sql_error)?;
    st.query_map([], |r| {
        Ok(Run {
            id: r.get(0)?,
            pipeline: r.get(1)?,
            seq: r.get(2)?,
            // An unknown status (a newer pipec's) is kept: it may be unfinished.
            status: r.get::<_, String>(3)?.parse().ok(),
            started: r.get::<_, String>(4)?.parse().ok(),
        })
    })
    .and_then(Iterator::collect)
    .map_err(sql_error)
}

/// The runs something still needs, whatever the policy, and why.
fn needed<'r>(conn: &Connection, runs: &'r [Run]) -> Result<HashMap<&'r str, Why>, Error> {
    let by_id: HashMap<&str, &Run> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut needed: HashMap<&str, Why> = HashMap::new();
    let mut keep = |id: String, why: Why| {
        if let Some(run) = by_id.get(id.as_str()) {
            needed.entry(run.id.as_str()).or_insert(why);
        }
    };
    for id in strings(conn, LOCKED, [])? {
        keep(id, Why::Locked);
    }
    for id in strings(conn, RETRYABLE, [])? {
        keep(id, Why::Retryable);
    }
    let mut good = conn.prepare(LAST_GOOD).map_err(sql_error)?;
    let rows: Vec<(String, String)> = good
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(sql_error)?;
    for (id, stage) in rows {
        keep(id, Why::LastGood(stage));
    }
    // The sources of rollback runs that stay (every run not over the policy, and those
    // kept above): their artifacts are the rollback's inputs.
    let mut sources = conn
        .prepare("SELECT id, source FROM runs WHERE source IS NOT NULL")
        .map_err(sql_error)?;
    let rows: Vec<(String, String)> = sources
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(sql_error)?;
    for (id, source) in rows {
        keep(source, Why::RollbackSource(id));
    }
    Ok(needed)
}

/// Runs holding or waiting for a stage's lock.
const LOCKED: &str = "SELECT run FROM locks UNION SELECT run FROM waits";

/// Failed or stopped runs that `pipec retry` would still take: no later run of the pipeline
/// has entered a stage the retry would run (`History::entered_later`).
const RETRYABLE: &str = "
WITH entered AS (
  SELECT r.pipeline AS pipeline, a.stage AS stage, MAX(r.seq) AS seq
  FROM actions a JOIN runs r ON r.id = a.run WHERE a.started IS NOT NULL
  GROUP BY r.pipeline, a.stage)
SELECT r.id FROM runs r WHERE r.parent IS NULL AND r.status IN ('failed', 'stopped')
AND NOT EXISTS (
  SELECT 1 FROM stages s JOIN entered e ON e.pipeline = r.pipeline AND e.stage = s.name
  WHERE s.run = r.id AND s.status NOT IN ('succeeded', 'skipped') AND e.seq > r.seq)";

/// Each pipeline stage's newest run in which it succeeded (`History::last_success`): run, stage.
const LAST_GOOD: &str = "
WITH good AS (
  SELECT r.pipeline AS pipeline, s.name AS stage, MAX(r.seq) AS seq
  FROM runs r JOIN stages s ON s.run = r.id
  WHERE s.status = 'succeeded' AND r.ir IS NOT NULL AND r.source IS NULL
  GROUP BY r.pipeline, s.name)
SELECT r.id, g.stage FROM good g JOIN runs r ON r.pipeline = g.pipeline AND r.seq = g.seq";

fn strings<P: rusqlite::Params>(conn: &Connection, q: &str, p: P) -> Result<Vec<String>, Error> {
    conn.prepare(q)
        .and_then(|mut st| st.query_map(p, |r| r.get(0))?.collect())
        .map_err(sql_error)
}

/// The runs nested (at any depth) in `runs`.
fn nested(conn: &Connection, runs: &[String]) -> Result<Vec<String>, Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut st = conn
        .prepare("SELECT id, parent FROM runs WHERE parent IS NOT NULL ORDER BY seq")
        .map_err(sql_error)?;
    let rows: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(sql_error)?;
    for (id, parent) in rows {
        children.entry(parent).or_default().push(id);
    }
    let mut seen: HashSet<String> = runs.iter().cloned().collect();
    let mut stack: Vec<String> = runs.to_vec();
    let mut out = Vec::new();
    while let Some(run) = stack.pop() {
        for child in children.remove(&run).unwrap_or_default() {
            if seen.insert(child.clone()) {
                out.push(child.clone());
                stack.push(child);
            }
        }
    }
    Ok(out)
}

/// Deletes the rows of `runs` and writes their tombstones (in the caller's transaction).
pub(super) fn delete(conn: &Connection, runs: &[String]) -> Result<(), Error> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS going (id TEXT PRIMARY KEY); DELETE FROM going;",
    )
    .map_err(sql_error)?;
    {
        let mut ins = conn
            .prepare("INSERT OR IGNORE INTO going (id) VALUES (?1)")
            .map_err(sql_error)?;
        for run in runs {
            ins.execute(params![run]).map_err(sql_error)?;
        }
    }
    conn.execute_batch(
        "INSERT OR IGNORE INTO pruned (run) SELECT id FROM going;
         DELETE FROM exports WHERE run IN (SELECT id FROM going);
         DELETE FROM actions WHERE run IN (SELECT id FROM going);
         DELETE FROM stages WHERE run IN (SELECT id FROM going);
         DELETE FROM approvals WHERE run IN (SELECT id FROM going);
         DELETE FROM conditions WHERE run IN (SELECT id FROM going);
         DELETE FROM waits WHERE run IN (SELECT id FROM going);
         DELETE FROM runs WHERE id IN (SELECT id FROM going);
         DELETE FROM going;",
    )
    .map_err(sql_error)
}
