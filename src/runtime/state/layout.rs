//! The state directory's layout, named in one place:
//!
//! ```text
//! history.db                         the run history (SQLite, WAL: also -wal, -shm)
//! work/RUN/wsN/                      workspaces (a failed attempt's kept as STAGE.ACTION.ATTEMPT)
//! work/RUN/outN.env                  an attempt's $PIPEC_OUTPUT
//! logs/RUN/STAGE.ACTION.ATTEMPT.log  an attempt's output
//! artifacts/RUN/NAME.json            the manifest of an artifact a run captured
//! store/sha256/AB/ABCD…              content-addressed files (read-only)
//! store/lock                         shared while an artifact is captured, exclusive while
//!                                    `pipec prune` removes blobs (flock)
//! journal-PID-START-NANOS-N          action ends not committed yet by process PID (`journal.rs`)
//! unrecorded-end-RUN                 a run's end its process could not record (a full disk)
//! trash/NN/RUN.{logs,work,artifacts}  folders `pipec prune` is removing (64 shards)
//! prune.lock                         held (flock) by the one `pipec prune` at work
//! serve.db                           `pipec serve`'s tokens, deliveries seen, schedule fires
//! serve/ir/SHA.json                  the pipeline versions `pipec serve` started runs of
//! serve/poll/HASH.git                 bare mirrors of the `git` sources `pipec serve --poll` polls
//! ```

use std::path::{Path, PathBuf};

/// The start of the name of a note of a run's unrecorded end (`unrecorded-end-RUN`).
pub(super) const UNRECORDED: &str = "unrecorded-end-";

/// The paths of one state directory.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'d>(&'d Path);

impl<'d> Layout<'d> {
    pub fn of(dir: &'d Path) -> Layout<'d> {
        Layout(dir)
    }

    /// The state directory itself.
    pub fn dir(self) -> &'d Path {
        self.0
    }

    /// The run history's database.
    pub fn history(self) -> PathBuf {
        self.0.join("history.db")
    }

    /// The database of `pipec serve` (tokens, webhook deliveries, schedules).
    pub fn serve_db(self) -> PathBuf {
        self.0.join("serve.db")
    }

    /// Where `pipec serve` keeps the checked IR of the versions it runs.
    pub fn serve_ir(self) -> PathBuf {
        self.0.join("serve").join("ir")
    }

    /// The history's write-ahead log.
    pub fn history_wal(self) -> PathBuf {
        self.0.join("history.db-wal")
    }

    /// The folder of a run's workspaces and output files.
    pub fn work(self, run: &str) -> PathBuf {
        self.0.join("work").join(run)
    }

    /// The folder of a run's logs.
    pub fn logs(self, run: &str) -> PathBuf {
        self.0.join("logs").join(run)
    }

    /// The log `NAME.log` of a run (`STAGE.ACTION.ATTEMPT`, `STAGE.entry.CHECK.1`).
    pub fn log(self, run: &str, name: &str) -> PathBuf {
        self.logs(run).join(format!("{name}.log"))
    }

    /// The manifest of artifact `name` captured by `run`.
    pub fn manifest(self, run: &str, name: &str) -> PathBuf {
        self.0
            .join("artifacts")
            .join(run)
            .join(format!("{name}.json"))
    }

    /// The folder of the runs' artifact manifests (`artifacts/RUN/NAME.json`).
    pub fn manifests(self) -> PathBuf {
        self.0.join("artifacts")
    }

    /// The folder of the content-addressed files (`store/sha256/AB/ABCD…`).
    pub fn blobs(self) -> PathBuf {
        self.0.join("store").join("sha256")
    }

    /// The lock file of the content-addressed store (see the module's table).
    pub fn store_lock(self) -> PathBuf {
        self.0.join("store").join("lock")
    }

    /// The stored file whose SHA-256 is `sha` (hex).
    pub fn blob(self, sha: &str) -> PathBuf {
        let shard = sha.get(..2).unwrap_or(sha);
        self.0.join("store").join("sha256").join(shard).join(sha)
    }

    /// Where `pipec prune` moves a run's folders to remove them (`trash/NN/`).
    pub fn trash(self) -> PathBuf {
        self.0.join("trash")
    }

    /// Held (an exclusive `flock`) by the `pipec prune` removing files.
    pub fn prune_lock(self) -> PathBuf {
        self.0.join("prune.lock")
    }

    /// The per-run folders (`work`, `logs`, `artifacts`): what shows that runs were here.
    pub fn run_folders(self) -> [PathBuf; 3] {
        ["work", "logs", "artifacts"].map(|d| self.0.join(d))
    }

    /// The note of a run's end its process could not record.
    pub fn unrecorded_note(self, run: &str) -> PathBuf {
        self.0.join(format!("{UNRECORDED}{run}"))
    }
}
