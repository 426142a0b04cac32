//! Retention: which runs a state directory keeps, and `pipec prune`, which removes the others
//! with their logs, workspaces, artifact manifests and the stored blobs nothing else names.
//!
//! Input: a [`History`], the [`Policies`] (saved in the history's `retention` table by
//! `pipec prune --save`, or given for one call), the time now, and whether to only say what
//! would go (`dry_run`). Output: a [`Report`] (also `pipec prune --json`). `pipec serve`
//! calls [`prune`] with [`History::retention`] on the same policy.
//!
//! Method, in three steps that each leave the state directory whole if the process dies
//! between (or inside) them:
//! 1. One `BEGIN IMMEDIATE` transaction decides which runs go (`select.rs`), deletes their
//!    rows (and those of the runs nested in them) and writes a tombstone per run (`pruned`).
//!    Other pipec processes wait for it (the busy timeout) and then see the runs gone, so a
//!    run is never claimed (resumed, retried) while it is being removed. Runs that are not
//!    finished, can still be retried, are a pipeline stage's last good run (the default of
//!    `pipec rollback`), or are the source of a kept rollback, are kept whatever the policy.
//! 2. The folders of every tombstoned run (this call's and any a killed prune left) are
//!    renamed into `trash/` and removed there, then the tombstone; what a killed prune left
//!    in `trash/` goes first. Only tombstoned runs' folders are touched. One prune at a time
//!    does this (`prune.lock`).
//! 3. Under the store's exclusive lock (captures hold it shared from their first blob to
//!    their manifest), every manifest left is read and each blob none names is removed.
//!
//! Limits: `pipec rollback --to RUN` of a run other than the last good one of its stage
//! needs that run kept by the policy; a blob is freed at the first prune after the last
//! manifest naming it is gone.

mod files;
mod select;

use std::collections::BTreeMap;

use rusqlite::params;
use serde::Serialize;

use crate::runtime::artifacts::lock_file;
use crate::runtime::error::Error;
use crate::runtime::state::{History, Layout, immediate as immediate_tx, sql as sql_error};

/// How much of one pipeline's history to keep. A run goes when it is not among the newest
/// `runs` of its pipeline, or when it started more than `age` seconds ago (either rule alone
/// removes it); runs nested in a kept run are kept with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Keep at most this many runs of the pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<u32>,
    /// Keep no run that started longer ago than this (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u64>,
}

impl Policy {
    /// Whether the policy removes anything at all.
    pub fn is_empty(self) -> bool {
        self.runs.is_none() && self.age.is_none()
    }
}

/// The policies a prune applies, the first that has one for a pipeline: the pipeline's own
/// `keep` (its newest recorded run's), the state directory's policy for it, the state
/// directory's policy for every pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policies {
    /// Declared in the pipelines (`keep 50 runs`, `keep 30d`), by pipeline.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub declared: BTreeMap<String, Policy>,
    /// Saved in the state directory for one pipeline (`pipec prune --pipeline P --save`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pipelines: BTreeMap<String, Policy>,
    /// Saved in the state directory for every pipeline (`pipec prune --save`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Policy>,
}

impl Policies {
    /// The policy of `pipeline`, if any.
    pub fn of(&self, pipeline: &str) -> Option<Policy> {
        self.declared
            .get(pipeline)
            .or_else(|| self.pipelines.get(pipeline))
            .copied()
            .or(self.default)
    }

    /// Whether no pipeline has a policy.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.pipelines.is_empty() && self.declared.is_empty()
    }
}

/// Why a run the policy would remove is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Running, held or waiting: it can be resumed.
    Unfinished,
    /// Failed or stopped, and no later run has entered the stages `pipec retry` would run.
    Retryable,
    /// The newest run in which this stage succeeded: what `pipec rollback` re-uses.
    LastGood(String),
    /// The run whose inputs this kept rollback run re-used.
    RollbackSource(String),
    /// It holds or waits for a stage's lock.
    Locked,
}

/// A run the policy would remove, kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub run: String,
    pub why: Why,
}

/// Files removed (or, in a dry run, that would be) and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Freed {
    pub files: u64,
    pub bytes: u64,
}

impl Freed {
    pub(super) fn add(&mut self, other: Freed) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

/// What a prune did (`pipec prune --json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The runs removed (ids; nested runs included), oldest first.
    pub removed: Vec<String>,
    /// Runs left in the history.
    pub kept: u64,
    /// Runs the policy would have removed but that something still needs.
    pub protected: Vec<Kept>,
    pub logs: Freed,
    pub workspaces: Freed,
    /// Artifact manifests (`artifacts/RUN/*.json`).
    pub manifests: Freed,
    /// Stored blobs no manifest names any more.
    pub blobs: Freed,
    /// Every byte freed.
    pub bytes: u64,
}

/// Removes (or, with `dry_run`, lists) the runs `policies` does not keep at `now`, their
/// files, and the blobs nothing names any more. Safe beside other pipec processes using the
/// state directory, and after a killed prune (see the module's header).
pub fn prune(
    history: &History,
    policies: &Policies,
    now: jiff::Timestamp,
    dry_run: bool,
) -> Result<Report, Error> {
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    let dir = history.dir.as_path();
    if dry_run {
        let tx = history.conn.unchecked_transaction().map_err(sql_error)?;
        let chosen = select::choose(&tx, policies, now)?;
        report.protected = chosen.protected;
        report.kept = chosen.kept;
        files::measure_runs(dir, &chosen.removed, &mut report);
        let going: std::collections::HashSet<&str> =
            chosen.removed.iter().map(String::as_str).collect();
        report.blobs = files::sweep_blobs(dir, &going, true)?;
        report.removed = chosen.removed;
    } else {
        // One prune removes files at a time: a second waits here for the first to finish.
        let lock = Layout::of(dir).prune_lock();
        let _lock = lock_file(&lock, true).map_err(|e| Error::Prune {
            path: lock.clone(),
            source: std::sync::Arc::new(e),
        })?;
        let tx = immediate_tx(&history.conn)?;
        let chosen = select::choose(&tx, policies, now)?;
        select::delete(&tx, &chosen.removed)?;
        tx.commit().map_err(sql_error)?;
        report.protected = chosen.protected;
        report.kept = chosen.kept;
        report.removed = chosen.removed;
        // What a killed prune left in the trash, then this call's tombstones and any a killed
        // prune left; each batch's tombstones go in one transaction once its folders are gone
        // (a commit per run would write the same pages thousands of times).
        files::empty_trash(dir, &mut report)?;
        for batch in tombstones(history)?.chunks(TOMBSTONE_BATCH) {
            files::remove_runs(dir, batch, &mut report)?;
            let tx = immediate_tx(&history.conn)?;
            {
                let mut done = tx
                    .prepare("DELETE FROM pruned WHERE run = ?1")
                    .map_err(sql_error)?;
                for run in batch {
                    done.execute(params![run]).map_err(sql_error)?;
                }
            }
            tx.commit().map_err(sql_error)?;
        }
        files::empty_trash(dir, &mut report)?;
        report.blobs = files::sweep_blobs(dir, &std::collections::HashSet::new(), false)?;
    }
    report.bytes =
        report.logs.bytes + report.workspaces.bytes + report.manifests.bytes + report.blobs.bytes;
    Ok(report)
}

/// Runs whose tombstones are cleared in one transaction.
const TOMBSTONE_BATCH: usize = 1000;

fn tombstones(history: &History) -> Result<Vec<String>, Error> {
    history
        .conn
        .prepare("SELECT run FROM pruned ORDER BY run")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(sql_error)
}

impl History {
    /// The retention policies of the state directory: those the pipelines declare (read from
    /// each pipeline's newest recorded run) and those saved with `pipec prune --save`. What
    /// `pipec prune` without flags, and `pipec serve`, prune with.
    pub fn retention(&self) -> Result<Policies, Error> {
        let mut policies = self.saved_retention()?;
        let pipelines: Vec<String> = self
            .conn
            .prepare("SELECT DISTINCT pipeline FROM runs WHERE parent IS NULL")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(sql_error)?;
        for pipeline in pipelines {
            let Some((_, ir)) = self.latest_ir(&pipeline)? else {
                continue;
            };
            // Only the one field: an IR another pipec version wrote still says it.
            let declared = serde_json::from_str::<serde_json::Value>(&ir)
                .ok()
                .and_then(|v| {
                    serde_json::from_value::<crate::ir::Retention>(
                        v.get("pipeline")?.get("retention")?.clone(),
                    )
                    .ok()
                });
            if let Some(r) = declared {
                policies.declared.insert(
                    pipeline,
                    Policy {
                        runs: r.runs,
                        age: r.age_secs,
                    },
                );
            }
        }
        Ok(policies)
    }

    /// The policies saved in the state directory (`pipec prune --save`).
    pub fn saved_retention(&self) -> Result<Policies, Error> {
        let rows: Vec<(String, Option<u32>, Option<i64>)> = self
            .conn
            .prepare("SELECT pipeline, runs, age FROM retention ORDER BY pipeline")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(sql_error)?;
        let mut policies = Policies::default();
        for (pipeline, runs, age) in rows {
            let policy = Policy {
                runs,
                age: age.and_then(|a| u64::try_from(a).ok()),
            };
            if pipeline.is_empty() {
                policies.default = Some(policy);
            } else {
                policies.pipelines.insert(pipeline, policy);
            }
        }
        Ok(policies)
    }

    /// Saves `policy` for `pipeline` (`None`: every pipeline without one of its own); an
    /// empty policy removes the saved one.
    pub fn save_retention(&self, pipeline: Option<&str>, policy: Policy) -> Result<(), Error> {
        let key = pipeline.unwrap_or("");
        if policy.is_empty() {
            self.conn
                .execute("DELETE FROM retention WHERE pipeline = ?1", params![key])
                .map_err(sql_error)?;
            return Ok(());
        }
        let age = policy.age.map(|a| i64::try_from(a).unwrap_or(i64::MAX));
        self.conn
            .execute(
                "INSERT OR REPLACE INTO retention (pipeline, runs, age) VALUES (?1, ?2, ?3)",
                params![key, policy.runs, age],
            )
            .map_err(sql_error)?;
        Ok(())
    }
}
