//! What people decide about runs, recorded in the history: approvals of `approval` actions
//! and overrides of transitions (`pipec transition enable|disable`); and when a stage began
//! waiting for its deployment window (`else wait`), which its timeout counts from.
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
