//! The history's tables, and the columns added since their first version (added when
//! missing each time a history is opened; new tables are created when missing), so a history
//! written by an older pipec is upgraded in place.

use rusqlite::Connection;

use super::{immediate, sql};
use crate::runtime::error::Error;

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
CREATE TABLE IF NOT EXISTS conditions (
  run TEXT NOT NULL, stage TEXT NOT NULL, condition TEXT NOT NULL, by TEXT NOT NULL,
  comment TEXT, at TEXT NOT NULL, PRIMARY KEY (run, stage, condition)
);
-- Retention policies saved with `pipec prune --save` (pipeline '' is every pipeline's).
CREATE TABLE IF NOT EXISTS retention (
  pipeline TEXT PRIMARY KEY, runs INTEGER, age INTEGER
);
-- Runs whose rows `pipec prune` deleted and whose folders it has still to remove.
CREATE TABLE IF NOT EXISTS pruned (run TEXT PRIMARY KEY);
";

/// Indexes, created after the columns they name exist.
const INDEXES: &str = "
-- `pipec runs` (newest first) and every look-up of a pipeline's newest runs.
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, seq);
CREATE INDEX IF NOT EXISTS runs_by_seq ON runs (seq);
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
    // `pipec stop` asked the run's process to stop and wait (`wait`); cleared when a
    // process takes the run up again.
    ("runs", "stop", "TEXT"),
    ("stages", "verdict", "TEXT"),
    ("stages", "reason", "TEXT"),
    ("stages", "rounds", "INTEGER"),
    // When the stage began waiting for its deployment window (`else wait`).
    ("stages", "window_since", "TEXT"),
    // The condition being evaluated (`entry`: held for its window or running its checks;
    // `success`: running its checks): what `pipec override` may override.
    ("stages", "evaluating", "TEXT"),
    // A run held at a disabled transition into the stage: the transition's source (held
    // runs wait for the stage under the execution mode, as runs waiting for its lock do).
    ("waits", "held_from", "TEXT"),
];
/// Creates the tables and adds missing columns; one process at a time (an immediate
/// transaction), so concurrent first opens agree.
pub(super) fn create_or_upgrade(conn: &Connection) -> Result<(), Error> {
    let tx = immediate(conn)?;
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
    tx.execute_batch(INDEXES).map_err(sql)?;
    tx.commit().map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::create_or_upgrade;

    /// A history as the first version of each table made it (and a run in it).
    const FIRST: &str = "
CREATE TABLE runs (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL,
  params TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, seq INTEGER NOT NULL);
CREATE TABLE stages (run TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
  status TEXT NOT NULL, started TEXT, finished TEXT, PRIMARY KEY (run, name));
CREATE TABLE waits (pipeline TEXT NOT NULL, stage TEXT NOT NULL, run TEXT NOT NULL,
  seq INTEGER NOT NULL, since TEXT NOT NULL, PRIMARY KEY (pipeline, stage, run));
INSERT INTO runs VALUES ('r1', 'p', 'failed', '{}', '2026-01-01T00:00:00Z', NULL, 1);
INSERT INTO stages VALUES ('r1', 0, 's', 'failed', NULL, NULL);
";

    #[test]
    fn an_older_history_is_upgraded_in_place_and_keeps_its_runs() {
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        conn.execute_batch(FIRST).expect("the old tables");
        create_or_upgrade(&conn).expect("upgraded");
        // Twice is the same (every open upgrades).
        create_or_upgrade(&conn).expect("upgraded again");
        let has = |table: &str, column: &str| {
            conn.prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))
            .and_then(|mut st| st.exists([column]))
            .expect("pragma")
        };
        for (table, column) in [
            ("runs", "stop"),
            ("stages", "evaluating"),
            ("waits", "held_from"),
            ("conditions", "comment"),
        ] {
            assert!(has(table, column), "{table}.{column}");
        }
        let status: String = conn
            .query_row("SELECT status FROM runs WHERE id = 'r1'", [], |r| r.get(0))
            .expect("the old run");
        assert_eq!(status, "failed");
    }
}
