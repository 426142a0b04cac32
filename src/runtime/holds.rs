//! What people decide about runs, recorded in the history: approvals of `approval` actions,
//! overrides of transitions (`pipec transition enable|disable`) and of stage conditions
//! (`pipec override`, with which condition is being evaluated now), and stop requests
//! (`pipec stop`); and when a stage began waiting for its deployment window (`else wait`),
//! which its timeout counts from.
//!
//! These commands only record; the run they concern reads the decision when it gets there
//! (at once when its process is still going, else when it is resumed).

use rusqlite::{OptionalExtension, params};

use super::state::{History, immediate, now, sql};
use crate::runtime::error::Error;

/// `pipec approve` or `pipec reject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub approved: bool,
    pub by: String,
    pub comment: Option<String>,
    pub at: String,
}

impl Decision {
    /// `approved by NAME: COMMENT`.
    pub fn describe(&self) -> String {
        format!(
            "{} by {}{}",
            if self.approved {
                "approved"
            } else {
                "rejected"
            },
            self.by,
            self.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        )
    }
}

/// A stage's condition that `pipec override` may make count as met (`CodePipeline`'s
/// `OverrideStageCondition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageCondition {
    /// `entry { … }` (beforeEntry).
    Entry,
    /// `on success { … }` (onSuccess).
    Success,
}

impl StageCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            StageCondition::Entry => "entry",
            StageCondition::Success => "success",
        }
    }
}

impl std::str::FromStr for StageCondition {
    type Err = String;
    fn from_str(s: &str) -> Result<StageCondition, String> {
        match s {
            "entry" => Ok(StageCondition::Entry),
            "success" => Ok(StageCondition::Success),
            other => Err(format!("unknown condition `{other}`")),
        }
    }
}

impl std::fmt::Display for StageCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `pipec override`: a stage's condition counted as met, by whom, when and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConditionOverride {
    pub condition: StageCondition,
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at: String,
}

impl ConditionOverride {
    /// `entry condition overridden by NAME: COMMENT`.
    pub fn describe(&self) -> String {
        format!(
            "{} condition overridden by {}{}",
            self.condition,
            self.by,
            self.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        )
    }
}

/// Why `pipec override` was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The run has ended.
    Ended(crate::runtime::status::RunStatus),
    /// The condition is not holding or being evaluated now; the stage's status.
    NotEvaluating(crate::runtime::status::StageStatus),
    /// It was overridden before.
    Already(ConditionOverride),
}

/// A transition's state set from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub from: String,
    pub to: String,
    pub enabled: bool,
    pub reason: Option<String>,
    /// The declaration it overrides ([`declared`]): once the pipeline declares the
    /// transition differently, the override no longer applies.
    pub declared: String,
    pub by: String,
    pub at: String,
}

/// How a transition is declared, as an override remembers it.
pub fn declared(disabled: Option<&str>) -> String {
    match disabled {
        Some(reason) => format!("disabled: {reason}"),
        None => "enabled".into(),
    }
}

/// The decision on an approval action, read through `conn` (or a transaction).
fn decision_in(
    conn: &rusqlite::Connection,
    run: &str,
    stage: &str,
    action: &str,
) -> Result<Option<Decision>, Error> {
    conn.prepare_cached(
        "SELECT approved, by, comment, at FROM approvals WHERE run = ?1 AND stage = ?2 AND action = ?3",
    )
    .and_then(|mut st| {
        st.query_row(params![run, stage, action], |r| {
            Ok(Decision {
                approved: r.get(0)?,
                by: r.get(1)?,
                comment: r.get(2)?,
                at: r.get(3)?,
            })
        })
        .optional()
    })
    .map_err(sql)
}

/// The override of a stage's condition, read through `conn` (or a transaction).
fn condition_in(
    conn: &rusqlite::Connection,
    run: &str,
    stage: &str,
    condition: StageCondition,
) -> Result<Option<ConditionOverride>, Error> {
    conn.prepare_cached(
        "SELECT by, comment, at FROM conditions WHERE run = ?1 AND stage = ?2 AND condition = ?3",
    )
    .and_then(|mut st| {
        st.query_row(params![run, stage, condition.as_str()], |r| {
            Ok(ConditionOverride {
                condition,
                by: r.get(0)?,
                comment: r.get(1)?,
                at: r.get(2)?,
            })
        })
        .optional()
    })
    .map_err(sql)
}

impl History {
    /// The decision on an approval action, if there is one.
    pub fn decision(
        &self,
        run: &str,
        stage: &str,
        action: &str,
    ) -> Result<Option<Decision>, Error> {
        decision_in(&self.conn, run, stage, action)
    }

    /// Records a decision; an action is decided once (the earlier decision is returned as
    /// the error's subject).
    pub fn decide(
        &self,
        run: &str,
        stage: &str,
        action: &str,
        decision: &Decision,
    ) -> Result<Result<(), Decision>, Error> {
        let tx = immediate(&self.conn)?;
        let earlier = decision_in(&tx, run, stage, action)?;
        if let Some(d) = earlier {
            return Ok(Err(d));
        }
        tx.execute(
            "INSERT INTO approvals (run, stage, action, approved, by, comment, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![run, stage, action, decision.approved, decision.by, decision.comment, decision.at],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Ok(()))
    }

    /// Forgets the decision on an approval action (`pipec retry` asks again).
    pub fn forget_decision(&self, run: &str, stage: &str, action: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "DELETE FROM approvals WHERE run = ?1 AND stage = ?2 AND action = ?3",
                params![run, stage, action],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// The transition overrides of a pipeline.
    pub fn overrides(&self, pipeline: &str) -> Result<Vec<Override>, Error> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT source, target, enabled, reason, declared, by, at FROM transitions WHERE pipeline = ?1 ORDER BY source, target",
            )
            .map_err(sql)?;
        st.query_map(params![pipeline], |r| {
            Ok(Override {
                from: r.get(0)?,
                to: r.get(1)?,
                enabled: r.get(2)?,
                reason: r.get(3)?,
                declared: r.get(4)?,
                by: r.get(5)?,
                at: r.get(6)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)
    }

    /// When stage `stage` of `run` began waiting for its deployment window (RFC 3339).
    pub fn window_since(&self, run: &str, stage: &str) -> Result<Option<String>, Error> {
        self.conn
            .prepare_cached("SELECT window_since FROM stages WHERE run = ?1 AND name = ?2")
            .and_then(|mut st| {
                st.query_row(params![run, stage], |r| r.get(0))
                    .optional()
                    .map(Option::flatten)
            })
            .map_err(sql)
    }

    /// Records (or, with `None`, forgets) when a stage began waiting for its window.
    pub fn set_window_since(
        &self,
        run: &str,
        stage: &str,
        since: Option<&str>,
    ) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE stages SET window_since = ?3 WHERE run = ?1 AND name = ?2",
                params![run, stage, since],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// Asks the process running `run` to stop and wait (`pipec stop`): it starts nothing new
    /// and lets its running actions finish. Whether the run was still running.
    pub fn request_stop(&self, run: &str) -> Result<bool, Error> {
        self.conn
            .execute(
                "UPDATE runs SET stop = 'wait' WHERE id = ?1 AND status = 'running'",
                params![run],
            )
            .map(|n| n > 0)
            .map_err(sql)
    }

    /// Whether a stop of `run` was asked for ([`History::request_stop`]).
    pub fn stop_requested(&self, run: &str) -> Result<bool, Error> {
        self.conn
            .prepare_cached("SELECT stop IS NOT NULL FROM runs WHERE id = ?1")
            .and_then(|mut st| st.query_row(params![run], |r| r.get(0)).optional())
            .map(|asked| asked.unwrap_or(false))
            .map_err(sql)
    }

    /// Records `o`, an override of `stage`'s condition in `run`, when that condition is
    /// holding or being evaluated now (checked in the same transaction); else why not.
    pub fn override_condition(
        &self,
        run: &str,
        stage: &str,
        o: &ConditionOverride,
    ) -> Result<Result<(), Refused>, Error> {
        use crate::runtime::status::{RunStatus, StageStatus};
        let tx = immediate(&self.conn)?;
        let status: RunStatus = tx
            .query_row("SELECT status FROM runs WHERE id = ?1", params![run], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        if status.ended() {
            return Ok(Err(Refused::Ended(status)));
        }
        if let Some(earlier) = condition_in(&tx, run, stage, o.condition)? {
            return Ok(Err(Refused::Already(earlier)));
        }
        let (now, evaluating): (StageStatus, Option<String>) = tx
            .query_row(
                "SELECT status, evaluating FROM stages WHERE run = ?1 AND name = ?2",
                params![run, stage],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        if evaluating.as_deref() != Some(o.condition.as_str()) {
            return Ok(Err(Refused::NotEvaluating(now)));
        }
        tx.execute(
            "INSERT INTO conditions (run, stage, condition, by, comment, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run, stage, o.condition.as_str(), o.by, o.comment, o.at],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Ok(()))
    }

    /// The override of `stage`'s `condition` in `run`, if there is one.
    pub fn condition_override(
        &self,
        run: &str,
        stage: &str,
        condition: StageCondition,
    ) -> Result<Option<ConditionOverride>, Error> {
        condition_in(&self.conn, run, stage, condition)
    }

    /// The overrides of `stage`'s conditions in `run` (`pipec show`).
    pub fn condition_overrides(
        &self,
        run: &str,
        stage: &str,
    ) -> Result<Vec<ConditionOverride>, Error> {
        let mut out = Vec::new();
        for c in [StageCondition::Entry, StageCondition::Success] {
            out.extend(condition_in(&self.conn, run, stage, c)?);
        }
        Ok(out)
    }

    /// Records which condition of `stage` is being evaluated now (`None`: none), what
    /// `pipec override` may override.
    pub fn set_evaluating(
        &self,
        run: &str,
        stage: &str,
        condition: Option<StageCondition>,
    ) -> Result<(), Error> {
        self.conn
            .prepare_cached("UPDATE stages SET evaluating = ?3 WHERE run = ?1 AND name = ?2")
            .and_then(|mut st| {
                st.execute(params![run, stage, condition.map(StageCondition::as_str)])
            })
            .map(|_| ())
            .map_err(sql)
    }

    /// Records a transition's state for a pipeline (replacing an earlier override).
    pub fn set_override(&self, pipeline: &str, o: &Override) -> Result<(), Error> {
        let tx = immediate(&self.conn)?;
        tx.execute(
            "INSERT OR REPLACE INTO transitions (pipeline, source, target, enabled, reason, declared, by, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![pipeline, o.from, o.to, o.enabled, o.reason, o.declared, o.by, now()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }
}

/// A transition that is disabled, by its declaration or from the command line, or whose
/// declaration is overridden (`pipec show`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EdgeState {
    pub from: String,
    pub to: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who set it from the command line, when someone did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The transitions of `ir` that are disabled or overridden now.
pub fn edge_states(ir: &crate::ir::Ir, overrides: &[Override]) -> Vec<EdgeState> {
    let mut out = Vec::new();
    for s in &ir.pipeline.stages {
        for e in &s.inbound {
            let here = declared(e.disabled.as_deref());
            let o = overrides
                .iter()
                .find(|o| o.from == e.from && o.to == s.name && o.declared == here);
            if e.disabled.is_none() && o.is_none() {
                continue;
            }
            let disabled = effective(e.disabled.as_deref(), &e.from, &s.name, overrides);
            out.push(EdgeState {
                from: e.from.clone(),
                to: s.name.clone(),
                enabled: disabled.is_none(),
                // Why it is disabled, or why it was enabled (when someone said).
                reason: disabled.or_else(|| o.and_then(|o| o.reason.clone())),
                by: o.map(|o| o.by.clone()),
            });
        }
    }
    out
}

/// The state of an edge into a stage: its reason when disabled, `None` when enabled; an
/// override applies while the edge is declared as it was when the override was made.
pub fn effective(
    declared_reason: Option<&str>,
    from: &str,
    to: &str,
    overrides: &[Override],
) -> Option<String> {
    let here = declared(declared_reason);
    match overrides
        .iter()
        .find(|o| o.from == from && o.to == to && o.declared == here)
    {
        Some(o) if o.enabled => None,
        Some(o) => Some(
            o.reason
                .clone()
                .unwrap_or_else(|| format!("disabled by {}", o.by)),
        ),
        None => declared_reason.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::{Override, declared, effective};

    fn o(enabled: bool, declared_as: Option<&str>) -> Override {
        Override {
            from: "a".into(),
            to: "b".into(),
            enabled,
            reason: (!enabled).then(|| "freeze".to_string()),
            declared: declared(declared_as),
            by: "ann".into(),
            at: String::new(),
        }
    }

    #[test]
    fn overrides_last_until_the_declaration_changes() {
        // Declared disabled, enabled from the command line.
        assert_eq!(effective(Some("x"), "a", "b", &[o(true, Some("x"))]), None);
        // The declaration's reason changed: the override is stale.
        assert_eq!(
            effective(Some("y"), "a", "b", &[o(true, Some("x"))]),
            Some("y".into())
        );
        // Declared enabled, disabled from the command line.
        assert_eq!(
            effective(None, "a", "b", &[o(false, None)]),
            Some("freeze".into())
        );
        // Another edge's override does not apply.
        assert_eq!(effective(None, "a", "c", &[o(false, None)]), None);
    }
}
