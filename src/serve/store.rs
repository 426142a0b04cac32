//! The server's own records, in `serve.db` beside the run history of the state directory:
//! API tokens (only their SHA-256), the webhook deliveries already seen, and the last fire of
//! each schedule, the head each polled `git` source had, the notifications already queued
//! (`notify`) and the runs whose last one was. Each method is one statement (`SQLite` serialises writers; a busy database
//! is waited for up to five seconds).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest as _, Sha256};

use super::auth::Role;

/// The server's database.
pub(crate) struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  source TEXT NOT NULL, id TEXT NOT NULL, received TEXT NOT NULL, PRIMARY KEY (source, id));
CREATE TABLE IF NOT EXISTS schedules (key TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS polls (key TEXT PRIMARY KEY, head TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notices (key TEXT PRIMARY KEY, sent TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS noticed_runs (run TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

#[allow(clippy::needless_pass_by_value)] // Reason: used as `map_err(sql)`.
fn sql(e: rusqlite::Error) -> String {
    format!("the server's database: {e}")
}

/// The hex SHA-256 of a token (the only form kept).
fn digest(token: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `n` random bytes as hex, from the kernel.
pub(crate) fn random_hex(n: usize) -> Result<String, String> {
    use std::fmt::Write as _;
    use std::io::Read as _;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read random bytes: {e}"))?;
    Ok(bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// One token as `pipec serve token list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct TokenRow {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) created: String,
}

impl Store {
    /// Opens (creating) the database of state directory `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let path = crate::runtime::state::Layout::of(dir).serve_db();
        let conn = Connection::open(&path)
            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Store { conn })
    }

    /// Creates token `name` with `role`: the token, which is never stored.
    pub(crate) fn create_token(
        &self,
        name: &str,
        role: Role,
        created: &str,
    ) -> Result<String, String> {
        let token = format!("pipec_{}", random_hex(32)?);
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO tokens (name, role, hash, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), digest(&token), created],
            )
            .map_err(sql)?;
        if n == 0 {
            return Err(format!(
                "a token named `{name}` exists already (`pipec serve token revoke {name}` first)"
            ));
        }
        Ok(token)
    }

    /// The tokens, by name.
    pub(crate) fn tokens(&self) -> Result<Vec<TokenRow>, String> {
        let mut st = self
            .conn
            .prepare("SELECT name, role, created FROM tokens ORDER BY name")
            .map_err(sql)?;
        st.query_map([], |r| {
            Ok(TokenRow {
                name: r.get(0)?,
                role: r.get(1)?,
                created: r.get(2)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)
    }

    /// Revokes token `name`: whether there was one.
    pub(crate) fn revoke(&self, name: &str) -> Result<bool, String> {
        self.conn
            .execute("DELETE FROM tokens WHERE name = ?1", params![name])
            .map(|n| n > 0)
            .map_err(sql)
    }

    /// Who `token` is, if it is a token of this server. The lookup is by the SHA-256 of a
    /// random 256-bit token, so its timing says nothing useful about other tokens.
    pub(crate) fn authenticate(&self, token: &str) -> Result<Option<(String, Role)>, String> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT name, role FROM tokens WHERE hash = ?1",
                params![digest(token)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql)?;
        Ok(row.and_then(|(name, role)| role.parse().ok().map(|role| (name, role))))
    }

    /// Records delivery `id` from `source`: false when it was seen before (a replay).
    pub(crate) fn first_delivery(&self, source: &str, id: &str, now: &str) -> Result<bool, String> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO deliveries (source, id, received) VALUES (?1, ?2, ?3)",
                params![source, id, now],
            )
            .map(|n| n == 1)
            .map_err(sql)
    }

    /// The last fire (a Unix second) recorded for schedule `key`.
    pub(crate) fn schedule_last(&self, key: &str) -> Result<Option<i64>, String> {
        self.conn
            .query_row(
                "SELECT last FROM schedules WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// Records `last` as the last fire of schedule `key`.
    pub(crate) fn set_schedule_last(&self, key: &str, last: i64) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT INTO schedules (key, last) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET last = ?2",
                params![key, last],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// The head last seen for polled source `key`.
    pub(crate) fn poll_head(&self, key: &str) -> Result<Option<String>, String> {
        self.conn
            .query_row("SELECT head FROM polls WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)
    }

    /// Records `head` as the head of polled source `key`.
    pub(crate) fn set_poll_head(&self, key: &str, head: &str) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT INTO polls (key, head) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET head = ?2",
                params![key, head],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// Records notification `key` as queued at `now`; false when it was already.
    pub(crate) fn first_notice(&self, key: &str, now: &str) -> Result<bool, String> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO notices (key, sent) VALUES (?1, ?2)",
                params![key, now],
            )
            .map(|n| n == 1)
            .map_err(sql)
    }

    /// Forgets notification `key` (it could not be queued: the next sweep tries again).
    pub(crate) fn forget_notice(&self, key: &str) -> Result<(), String> {
        self.conn
            .execute("DELETE FROM notices WHERE key = ?1", params![key])
            .map(|_| ())
            .map_err(sql)
    }

    /// Whether every notification of run `id` (which has ended) was queued.
    pub(crate) fn run_noticed(&self, id: &str) -> Result<bool, String> {
        self.conn
            .query_row(
                "SELECT 1 FROM noticed_runs WHERE run = ?1",
                params![id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(sql)
    }

    pub(crate) fn set_run_noticed(&self, id: &str) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO noticed_runs (run) VALUES (?1)",
                params![id],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// When this state directory first served notifications, recorded the first time (the
    /// time `now` and the last run number `last_seq` of the history then; a `serve.db` of an
    /// older version has the time only and gets the number now). See [`NotifyStart`].
    pub(crate) fn notify_start(&self, now: &str, last_seq: i64) -> Result<NotifyStart, String> {
        for (key, value) in [
            ("notify_since", now.to_string()),
            ("notify_after_seq", last_seq.to_string()),
        ] {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )
                .map_err(sql)?;
        }
        self.notify_started()?
            .ok_or_else(|| "serve.db: the start of notifying was not recorded".to_string())
    }

    /// The start of notifying, once [`Store::notify_start`] recorded it.
    pub(crate) fn notify_started(&self) -> Result<Option<NotifyStart>, String> {
        let get = |key: &str| {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .map_err(sql)
        };
        let (Some(since), Some(seq)) = (get("notify_since")?, get("notify_after_seq")?) else {
            return Ok(None);
        };
        let after_seq = seq
            .parse()
            .map_err(|_| format!("serve.db: `notify_after_seq` is not a number: {seq:?}"))?;
        Ok(Some(NotifyStart { since, after_seq }))
    }
}

/// When a server first started on the state directory. A run predates it, and is never
/// notified, when both its number is at most `after_seq` and it started before `since`.
/// Either alone would do on a well-kept machine; together a clock stepped back (a run
/// numbered later but stamped earlier) and numbers used again (after `pipec prune` removed
/// the newest runs, or a new `history.db`) notify what they should.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotifyStart {
    pub(crate) since: String,
    pub(crate) after_seq: i64,
}

#[cfg(test)]
mod tests {
    use super::{NotifyStart, Store};

    #[test]
    fn the_start_of_notifying_is_recorded_once_and_an_older_record_gets_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.notify_started(), Ok(None));
        let first = NotifyStart {
            since: "2026-12-07T03:30:05.500Z".into(),
            after_seq: 4,
        };
        assert_eq!(store.notify_start(&first.since, 4), Ok(first.clone()));
        // A later start keeps the first.
        assert_eq!(
            store.notify_start("2026-12-08T00:00:00.000Z", 9),
            Ok(first.clone())
        );
        // A serve.db of an older version recorded the time only.
        store
            .conn
            .execute("DELETE FROM meta WHERE key = 'notify_after_seq'", [])
            .expect("delete");
        assert_eq!(store.notify_started(), Ok(None));
        assert_eq!(
            store.notify_start("2026-12-08T00:00:00.000Z", 9),
            Ok(NotifyStart {
                after_seq: 9,
                ..first
            })
        );
    }
}
