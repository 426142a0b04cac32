//! Holds that resolve themselves. Every tick the server reads the history as `pipec runs`
//! does (approvals out of time are settled: the run fails, or goes on to its stage's
//! `on failure`), then resumes (`pipec resume`) each top-level run that no process runs and
//! that may go on:
//!
//! - interrupted: recorded `running` but its process is gone (a crash, `kill -9`, a reboot,
//!   the server's own restart);
//! - held, with a reason that has passed: an approval decided (from the dashboard, the API
//!   or `pipec approve` in a shell), a stage whose `entry … else wait` window is open now
//!   or whose timeout has passed since it began waiting.
//!
//! - held at a disabled transition that is enabled now: through the server
//!   (`actions::transition` resumes the runs held there at once) or from a shell
//!   (`pipec transition enable` without `--resume`: the next sweep resumes them).

use std::sync::Arc;

use jiff::Timestamp;

use super::App;
use super::actions::{go_on, with_history};
use super::auth::Refusal;
use crate::ir::{CondRule, ElseResult, Ir};
use crate::runtime::run::{ActionStatus, RunStatus};
use crate::runtime::state::{History, Recorded};
use crate::runtime::status::StageStatus;

/// Resumes what may go on (above).
pub(crate) async fn sweep(app: &Arc<App>) {
    let ready = with_history(app, |h| {
        let now = Timestamp::now();
        let _ = h.settle_all(now);
        let rows = h.runs(None).map_err(|e| Refusal::from(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter(|r| matches!(r.status, RunStatus::Running | RunStatus::Waiting))
            .filter(|r| may_go_on(h, &r.id, now))
            .map(|r| r.id)
            .collect::<Vec<_>>())
    })
    .await;
    let ready = match ready {
        Ok(ready) => ready,
        // Tried again at the next sweep.
        Err(why) => {
            return (app.report)(&format!("sweep: cannot read the history: {}", why.message));
        }
    };
    for id in ready {
        go_on(app, &id).await;
    }
}

/// Whether run `id`, top-level and without a live process, may go on at `now`.
fn may_go_on(h: &History, id: &str, now: Timestamp) -> bool {
    let Ok((owner, status)) = h.owner(id) else {
        return false;
    };
    if owner.is_some_and(|o| o.alive()) {
        return false;
    }
    let Ok(Some(rec)) = h.recorded(id) else {
        return false;
    };
    if rec.parent.is_some() {
        return false;
    }
    if status == RunStatus::Running {
        return true;
    }
    let Ok(ir) = crate::runtime::resume::ir_of(&rec) else {
        return false;
    };
    decided(h, &rec) || window_passed(h, &rec, &ir, now) || transition_enabled(h, &rec, &ir)
}

/// The run is held at a transition that is enabled now (from the dashboard, the API or a
/// shell's `pipec transition enable`).
fn transition_enabled(h: &History, rec: &Recorded, ir: &Ir) -> bool {
    let Ok(holds) = h.holds_of(&rec.id) else {
        return false;
    };
    if holds.is_empty() {
        return false;
    }
    let Ok(overrides) = h.overrides(&rec.pipeline) else {
        return false;
    };
    holds.iter().any(|(from, to)| {
        ir.pipeline
            .stages
            .iter()
            .find(|s| &s.name == to)
            .and_then(|s| s.inbound.iter().find(|e| &e.from == from))
            .is_some_and(|e| {
                crate::runtime::holds::effective(e.disabled.as_deref(), from, to, &overrides)
                    .is_none()
            })
    })
}

/// An approval the run waits on has a decision.
fn decided(h: &History, rec: &Recorded) -> bool {
    rec.stages.iter().any(|s| {
        s.actions.iter().any(|a| {
            a.status == ActionStatus::Waiting
                && h.decision(&rec.id, &s.name, &a.name)
                    .ok()
                    .flatten()
                    .is_some()
        })
    })
}

/// A stage held for its window may be decided again: the window is open, or its timeout
/// has passed since it began waiting.
fn window_passed(h: &History, rec: &Recorded, ir: &Ir, now: Timestamp) -> bool {
    rec.stages
        .iter()
        .filter(|s| s.status == StageStatus::Waiting)
        .any(|s| {
            let Some(stage) = ir.pipeline.stages.iter().find(|x| x.name == s.name) else {
                return false;
            };
            let Some(entry) = stage
                .entry
                .as_ref()
                .filter(|e| e.otherwise == ElseResult::Wait)
            else {
                return false;
            };
            let windows: Vec<(&String, Option<&str>)> = entry
                .rules
                .iter()
                .filter_map(|r| match r {
                    CondRule::Window { cron, tz, .. } => Some((cron, tz.as_deref())),
                    _ => None,
                })
                .collect();
            if windows.is_empty() {
                return false;
            }
            let open = windows
                .iter()
                .all(|(cron, tz)| crate::patterns::in_window(cron, *tz, now).unwrap_or(false));
            let since = h
                .window_since(&rec.id, &s.name)
                .ok()
                .flatten()
                .and_then(|t| t.parse::<Timestamp>().ok());
            let timed_out = stage.timeout_secs.zip(since).is_some_and(|(secs, since)| {
                now.duration_since(since).as_secs() >= i64::try_from(secs).unwrap_or(i64::MAX)
            });
            open || timed_out
        })
}
