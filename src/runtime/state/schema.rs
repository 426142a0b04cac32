//! The history's tables, and the columns added since their first version, so a history
//! written by an older pipec is upgraded in place. A new history gets every table whole in
//! one go; an older one gets the tables and columns it lacks. Either then carries the
//! schema's version (`PRAGMA user_version`), and a history at this version is not looked at
//! again: opening it writes nothing.

use rusqlite::Connection;

use super::{immediate, sql};
use crate::runtime::error::Error;

/// The schema's version: raise it whenever a table, column or index is added.
const VERSION: i64 = 2;

/// Each table: its name, its first version's columns, and its key when that is more than
/// one column.
const TABLES: &[(&str, &str, &str)] = &[
    (
        "runs",
        "id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL, params TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, seq INTEGER NOT NULL",
        "",
    ),
    (
        "stages",
        "run TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, started TEXT, finished TEXT",
        "run, name",
    ),
    (
        "actions",
        "run TEXT NOT NULL, stage TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, log TEXT, started TEXT, finished TEXT",
        "run, stage, name",
    ),
    (
        "exports",
        "run TEXT NOT NULL, stage TEXT NOT NULL, action TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL",
        "run, stage, action, key",
    ),
    (
        "approvals",
        "run TEXT NOT NULL, stage TEXT NOT NULL, action TEXT NOT NULL, approved INTEGER NOT NULL, by TEXT NOT NULL, comment TEXT, at TEXT NOT NULL",
        "run, stage, action",
    ),
    (
        "transitions",
        "pipeline TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, enabled INTEGER NOT NULL, reason TEXT, declared TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL",
        "pipeline, source, target",
    ),
    (
        "locks",
        "pipeline TEXT NOT NULL, stage TEXT NOT NULL, run TEXT NOT NULL, since TEXT NOT NULL",
        "pipeline, stage",
    ),
    (
        "waits",
        "pipeline TEXT NOT NULL, stage TEXT NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL, since TEXT NOT NULL",
        "pipeline, stage, run",
    ),
    (
        "conditions",
        "run TEXT NOT NULL, stage TEXT NOT NULL, condition TEXT NOT NULL, by TEXT NOT NULL, comment TEXT, at TEXT NOT NULL",
        "run, stage, condition",
    ),
    // Retention policies saved with `pipec prune --save` (pipeline '' is every pipeline's).
    (
        "retention",
        "pipeline TEXT PRIMARY KEY, runs INTEGER, age INTEGER",
        "",
    ),
    // Runs whose rows `pipec prune` deleted and whose folders it has still to remove.
    ("pruned", "run TEXT PRIMARY KEY", ""),
    // Each journal of action ends (`journal-…` files): the last line the history has
    // committed (a replay skips up to it). Version 2.
    (
        "journals",
        "name TEXT PRIMARY KEY, seq INTEGER NOT NULL",
        "",
    ),
];

/// Indexes, created after the columns they name exist.
const INDEXES: &str = "
-- `pipec runs` (newest first) and every look-up of a pipeline's newest runs.
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, seq);
CREATE INDEX IF NOT EXISTS runs_by_seq ON runs (seq);
";

/// Columns added after the first version of each table (a new table has them from the
/// start; an older one gets those it lacks).
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

/// A table as it is now: its first columns, the columns added since, and its key.
fn create(table: &str, first: &str, key: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} ({first}");
    for (_, column, ty) in COLUMNS.iter().filter(|(t, _, _)| *t == table) {
        let _ = write!(sql, ", {column} {ty}");
    }
    if !key.is_empty() {
        let _ = write!(sql, ", PRIMARY KEY ({key})");
    }
    sql.push_str(");\n");
    sql
}

fn version(conn: &Connection) -> Result<i64, Error> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)
}

/// Creates the tables and adds missing columns, unless the history is at this version
/// already; one process at a time (an immediate transaction), so concurrent first opens
/// agree.
pub(super) fn create_or_upgrade(conn: &Connection) -> Result<(), Error> {
    if version(conn)? >= VERSION {
        return Ok(());
    }
    let tx = immediate(conn)?;
    // Another process may have done it meanwhile.
    if version(&tx)? >= VERSION {
        return tx.commit().map_err(sql);
    }
    let tables: i64 = tx
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(sql)?;
    let whole: String = TABLES
        .iter()
        .map(|(table, first, key)| create(table, first, key))
        .collect();
    tx.execute_batch(&whole).map_err(sql)?;
    // Tables that were there already may lack the columns added since.
    if tables > 0 {
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
    }
    tx.execute_batch(INDEXES).map_err(sql)?;
    tx.execute_batch(&format!("PRAGMA user_version = {VERSION}"))
        .map_err(sql)?;
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

    /// Every table's columns (name, type, not null, key position) and the indexes.
    fn shape(conn: &rusqlite::Connection) -> Vec<String> {
        let mut out = Vec::new();
        for (table, _, _) in super::TABLES {
            let mut st = conn
                .prepare(&format!(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
                ))
                .expect("pragma");
            let rows = st
                .query_map([], |r| {
                    Ok(format!(
                        "{table}.{}: {} {} {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?
                    ))
                })
                .expect("rows");
            out.extend(rows.map(|r| r.expect("row")));
        }
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .expect("indexes");
        out.extend(
            st.query_map([], |r| r.get::<_, String>(0))
                .expect("rows")
                .map(|r| r.expect("row")),
        );
        out
    }

    #[test]
    fn a_new_history_has_the_tables_an_upgraded_one_has() {
        let new = rusqlite::Connection::open_in_memory().expect("sqlite");
        create_or_upgrade(&new).expect("created");
        let old = rusqlite::Connection::open_in_memory().expect("sqlite");
        old.execute_batch(FIRST).expect("the old tables");
        create_or_upgrade(&old).expect("upgraded");
        let shape_new = shape(&new);
        assert!(shape_new.iter().any(|c| c.starts_with("waits.held_from")));
        assert_eq!(shape_new, shape(&old));
        for conn in [&new, &old] {
            let v: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .expect("version");
            assert_eq!(v, super::VERSION);
        }
    }

    #[test]
    fn a_history_at_this_version_opens_without_a_write() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("history.db");
        create_or_upgrade(&rusqlite::Connection::open(&path).expect("sqlite")).expect("created");
        let read_only = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("read-only");
        create_or_upgrade(&read_only).expect("nothing to write");
    }
}
