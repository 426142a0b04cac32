//! Approvals decided or timed out while no process runs their run (LANGUAGE.md §9).
//!
//! Input: a run that is held (`waiting`), or `running` with its process gone, and has an
//! approval action `waiting`. Output: what was applied ([`Settled`]). A rejection, or an
//! approval timeout that has passed (on the caller's clock), fails the action at once, as in
//! `CodePipeline`; the stage's `on failure` then applies where it needs nothing to run: with
//! `fail` (or `retry` whose rounds are used up) the stage and the run end `failed`, their
//! stage locks and waits freed, what else was held is left undecided. `retry` and `rollback`
//! need a run: the next `pipec resume` carries them on (the run's process sees the decision).
//!
//! Method: a cheap look first (most runs have nothing waiting); then the decision is taken
//! again inside one IMMEDIATE transaction that checks the run is still not taken up by a
//! process and the action still waiting, so concurrent pipec processes apply it once, and a
//! `pipec resume` that claims the run first wins. Every pipec process that reads a run calls
//! [`History::settle`] (`show`, `runs`, `resume`, `retry`, `approve`, `reject`, a run waiting
//! for the stage's lock).

use rusqlite::{OptionalExtension, params};

use super::holds::Decision;
use super::state::{History, Owner, immediate, now, sql};
use crate::ir::{FailurePolicy, Ir, Kind, Stage};
use crate::runtime::error::Error;
use crate::runtime::status::RunStatus;

/// What [`History::settle`] applied to a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nothing: no approval of a run without a process was rejected or out of time.
    Nothing,
    /// The approval `action` (`STAGE.ACTION`) failed (`why`); its stage's `on failure`
    /// (retry, rollback) is carried on by the next `pipec resume`.
    Later { action: String, why: String },
    /// The approval `action` failed (`why`), and with it its stage and the run (`failed`).
    Failed { action: String, why: String },
}

/// An approval of a held run that fails now.
struct Failing<'a> {
    stage: &'a Stage,
    action: String,
    why: String,
    log: Option<String>,
}

/// A run no process runs, with an approval waiting: its IR and whether it was `running`.
fn unsettled(history: &History, run: &str) -> Result<Option<(String, bool)>, Error> {
    let head: Option<(RunStatus, Option<String>, Option<String>)> = history
        .conn
        .prepare_cached(
            "SELECT status, owner, ir FROM runs WHERE id = ?1 AND status IN ('waiting', 'running') AND EXISTS (SELECT 1 FROM actions WHERE run = ?1 AND status = 'waiting')",
        )
        .and_then(|mut st| {
            st.query_row(params![run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(sql)?;
    let Some((status, owner, Some(ir))) = head else {
        return Ok(None);
    };
    let running = status == RunStatus::Running;
    if running
        && owner
            .and_then(|o| o.parse::<Owner>().ok())
            .is_some_and(|o| o.alive())
    {
        return Ok(None);
    }
    Ok(Some((ir, running)))
}

/// Why an approval waiting since `since` fails at `now` (rejected, or out of time), if it
/// does. A decision made after its time was up does not count.
fn fails(
    decision: Option<&Decision>,
    since: jiff::Timestamp,
    secs: u64,
    now: jiff::Timestamp,
) -> Option<String> {
    let end = since
        .checked_add(jiff::SignedDuration::from_secs(secs.cast_signed()))
        .unwrap_or(since);
    let in_time = |d: &Decision| d.at.parse::<jiff::Timestamp>().is_ok_and(|at| at < end);
    match decision {
        Some(d) if in_time(d) => (!d.approved).then(|| d.describe()),
        _ if now >= end => Some(format!(
            "no decision within its timeout ({}); the approval failed",
            crate::duration::format(secs)
        )),
        _ => None,
    }
}

impl History {
    /// Applies the rejections and passed timeouts of `run`'s approvals when no process runs
    /// it (see the module's documentation); `now` is the wall clock.
    pub fn settle(&self, run: &str, now: jiff::Timestamp) -> Result<Settled, Error> {
        let Some((text, running)) = unsettled(self, run)? else {
            return Ok(Settled::Nothing);
        };
        let Ok(ir) = crate::ir::from_json(&text) else {
            return Ok(Settled::Nothing);
        };
        let Some(failing) = self.failing(run, &ir, now)? else {
            return Ok(Settled::Nothing);
        };
        let label = format!("{}.{}", failing.stage.name, failing.action);
        if !self.fails_the_run(run, failing.stage)? {
            return Ok(Settled::Later {
                action: label,
                why: failing.why,
            });
        }
        if !self.fail_held(run, &failing)? {
            return Ok(Settled::Nothing);
        }
        if let Some(log) = &failing.log {
            let _ = crate::runtime::attempt::append(
                std::path::Path::new(log),
                &format!("pipec: {}\n", failing.why),
            );
        }
        if running {
            // What its dead process left running ends with it.
            crate::runtime::exec::end_strays(&self.work_dirs(run));
        }
        Ok(Settled::Failed {
            action: label,
            why: failing.why,
        })
    }

    /// Settles every run that has an approval waiting ([`History::settle`]).
    pub fn settle_all(&self, now: jiff::Timestamp) -> Result<(), Error> {
        let runs: Vec<String> = self
            .conn
            .prepare(
                "SELECT r.id FROM runs r WHERE r.status IN ('waiting', 'running') AND EXISTS (SELECT 1 FROM actions a WHERE a.run = r.id AND a.status = 'waiting')",
            )
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(sql)?;
        for run in runs {
            self.settle(&run, now)?;
        }
        Ok(())
    }

    /// The first waiting approval of `run` that fails at `now`.
    fn failing<'i>(
        &self,
        run: &str,
        ir: &'i Ir,
        now: jiff::Timestamp,
    ) -> Result<Option<Failing<'i>>, Error> {
        let waiting: Vec<(String, String, Option<String>, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT stage, name, started, log FROM actions WHERE run = ?1 AND status = 'waiting' ORDER BY stage, idx",
            )
            .and_then(|mut st| {
                st.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(sql)?;
        for (stage, action, started, log) in waiting {
            let Some(s) = ir.pipeline.stages.iter().find(|s| s.name == stage) else {
                continue;
            };
            let Some(a) = s
                .actions
                .iter()
                .find(|a| a.name == action && a.kind == Kind::Approval)
            else {
                continue;
            };
            let Some(since) = started.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
                continue;
            };
            let decision = self.decision(run, &stage, &action)?;
            let secs = crate::runtime::run::approval_timeout(a);
            if let Some(why) = fails(decision.as_ref(), since, secs, now) {
                return Ok(Some(Failing {
                    stage: s,
                    action,
                    why,
                    log,
                }));
            }
        }
        Ok(None)
    }

    /// Whether a failure of `stage` in `run` fails the run with nothing to run: `on failure
    /// fail`, or `retry` with its rounds used up.
    fn fails_the_run(&self, run: &str, stage: &Stage) -> Result<bool, Error> {
        match stage.on_failure {
            FailurePolicy::Fail => Ok(true),
            FailurePolicy::Rollback => Ok(false),
            FailurePolicy::Retry { count, .. } => {
                let used: u32 = self
                    .conn
                    .query_row(
                        "SELECT COALESCE(rounds, 0) FROM stages WHERE run = ?1 AND name = ?2",
                        params![run, stage.name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql)?
                    .unwrap_or(0);
                Ok(used >= count)
            }
        }
    }

    /// Records the approval failed, its stage and `run` failed, and frees the run's stages,
    /// in one transaction that checks no process has taken the run up and the approval still
    /// waits. Whether it did.
    fn fail_held(&self, run: &str, f: &Failing<'_>) -> Result<bool, Error> {
        self.flush()?;
        let tx = immediate(&self.conn)?;
        let head: Option<(RunStatus, Option<String>)> = tx
            .query_row(
                "SELECT status, owner FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql)?;
        let free = match head {
            Some((RunStatus::Waiting, _)) => true,
            Some((RunStatus::Running, owner)) => !owner
                .and_then(|o| o.parse::<Owner>().ok())
                .is_some_and(|o| o.alive()),
            _ => false,
        };
        let stage = &f.stage.name;
        let still: bool = tx
            .query_row(
                "SELECT status = 'waiting' FROM actions WHERE run = ?1 AND stage = ?2 AND name = ?3",
                params![run, stage, f.action],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?
            .unwrap_or(false);
        if !free || !still {
            return Ok(false);
        }
        let at = now();
        let why = format!("`{}` failed: {}", f.action, f.why);
        let undecided = format!("not decided: the run failed at `{stage}`");
        let steps: [(&str, &[&dyn rusqlite::ToSql]); 8] = [
            (
                "UPDATE actions SET status = 'failed', finished = ?4 WHERE run = ?1 AND stage = ?2 AND name = ?3",
                &[&run, stage, &f.action, &at],
            ),
            (
                "UPDATE actions SET status = 'abandoned', finished = ?2 WHERE run = ?1 AND status IN ('running', 'waiting')",
                &[&run, &at],
            ),
            (
                "UPDATE stages SET status = 'failed', verdict = 'fails', reason = ?3, finished = ?4 WHERE run = ?1 AND name = ?2",
                &[&run, stage, &why, &at],
            ),
            (
                "UPDATE stages SET status = 'abandoned', reason = ?2, finished = ?3 WHERE run = ?1 AND status = 'running'",
                &[
                    &run,
                    &format!("not finished: the run failed at `{stage}`"),
                    &at,
                ],
            ),
            (
                "UPDATE stages SET status = 'pending', reason = ?2, window_since = NULL WHERE run = ?1 AND status = 'waiting'",
                &[&run, &undecided],
            ),
            (
                "UPDATE runs SET status = 'failed', finished = ?2 WHERE id = ?1",
                &[&run, &at],
            ),
            ("DELETE FROM locks WHERE run = ?1", &[&run]),
            ("DELETE FROM waits WHERE run = ?1", &[&run]),
        ];
        for (q, p) in steps {
            tx.execute(q, p).map_err(sql)?;
        }
        // Runs nested in it that its dead process left will not go on either.
        tx.execute(
            "WITH RECURSIVE nested(id) AS (SELECT id FROM runs WHERE parent = ?1 UNION SELECT r.id FROM runs r JOIN nested n ON r.parent = n.id) UPDATE runs SET status = 'stopped', finished = ?2 WHERE id IN nested AND status IN ('running', 'waiting')",
            params![run, at],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::fails;
    use crate::runtime::holds::Decision;

    fn at(t: &str) -> jiff::Timestamp {
        t.parse().expect("a time")
    }

    fn decision(approved: bool, when: &str) -> Decision {
        Decision {
            approved,
            by: "ann".into(),
            comment: None,
            at: when.into(),
        }
    }

    #[test]
    fn a_rejection_or_a_passed_timeout_fails_an_approval() {
        let since = at("2026-11-26T10:00:00Z");
        let soon = at("2026-11-26T10:00:30Z");
        let later = at("2026-11-26T11:00:00Z");
        // Undecided, within its hour: nothing yet; after it: failed.
        assert_eq!(fails(None, since, 3600, soon), None);
        assert!(fails(None, since, 3600, later).is_some_and(|w| w.contains("(1h)")));
        // Rejected in time: failed at once, saying by whom.
        let no = decision(false, "2026-11-26T10:00:10Z");
        assert_eq!(
            fails(Some(&no), since, 3600, soon),
            Some("rejected by ann".into())
        );
        // Approved in time: not failed, even after the timeout.
        let yes = decision(true, "2026-11-26T10:00:10Z");
        assert_eq!(fails(Some(&yes), since, 3600, later), None);
        // Approved too late: the timeout counts.
        let late = decision(true, "2026-11-26T10:59:59Z");
        assert!(fails(Some(&late), since, 60, later).is_some());
    }
}
