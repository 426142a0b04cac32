//! `entry { window … else wait }` in a run (LANGUAGE.md §5, §9; docs/runtime.md): a stage
//! whose deployment window is closed is held — recorded `waiting`, saying when the window
//! opens — until it opens, at most its stage's timeout from when it began waiting; its
//! other rules that fail still fail it (`plan::stage_verdict` decides, as for the dry run).
//!
//! While this process has other work, a timer wakes the stage when its window opens (or its
//! timeout ends) and the stage is decided again. When nothing but holds is left, the run is
//! held like one waiting for an approval (`waiting`, exit 3), and `pipec resume` decides the
//! stage again: before the window opens it holds again, after it the stage runs. When the
//! stage began waiting is kept in the history, so its timeout spans holds and processes.
//! The wall clock comes from the run's options, so tests can move it. An override of the
//! entry condition (`pipec override`) wakes the timer too (it looks every second), and the
//! stage's decision then counts the condition as met.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::checks::overridden;
use super::sched::{Event, Inflight, Sched};
use super::stage::{Phase, StageIx};
use crate::ir::{CondRule, ElseResult, Stage};
use crate::runtime::error::Error;
use crate::runtime::holds::StageCondition;
use crate::runtime::plan::Verdict;
use crate::runtime::status::StageStatus;

/// How long a held stage sleeps when its window opens neither within a year nor before its
/// timeout: it looks again then.
const LOOK_AGAIN_SECS: i64 = 3600;

/// The window holds of a run.
#[derive(Default)]
pub(super) struct Windows {
    /// When each held stage began waiting.
    since: BTreeMap<StageIx, Timestamp>,
    /// Wake-up timers in flight: when nothing else is, the run is held.
    pub(super) timers: usize,
}

/// What a stage held for its window does now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// Sleep until `wake` (the opening, or the end of the timeout, whichever is first); the
    /// stage is then decided again. `opens`: when the window opens, if within a year.
    Until {
        wake: Timestamp,
        opens: Option<Timestamp>,
    },
    /// The stage's timeout ended before the window opened.
    TimedOut(String),
}

/// The closed `window` rules of `stage` at `now`, as `(cron, zone)`.
fn closed_windows(stage: &Stage, now: Timestamp) -> Vec<(&str, Option<&str>)> {
    let rules = stage.entry.as_ref().map_or(&[][..], |c| &c.rules[..]);
    rules
        .iter()
        .filter_map(|r| match r {
            CondRule::Window { cron, tz, .. } => Some((cron.as_str(), tz.as_deref())),
            _ => None,
        })
        .filter(|(cron, tz)| !crate::patterns::in_window(cron, *tz, now).unwrap_or(false))
        .collect()
}

/// `cron` (`zone`), as the reasons say it.
fn window_text(cron: &str, tz: Option<&str>) -> String {
    format!(
        "the deployment window `{cron}`{}",
        tz.map(|z| format!(" ({z})")).unwrap_or_default()
    )
}

/// Decides what stage `stage`, held for its window since `since`, does at `now`.
pub(super) fn plan_wait(stage: &Stage, since: Timestamp, now: Timestamp) -> Wait {
    let closed = closed_windows(stage, now);
    let deadline = stage.timeout_secs.and_then(|t| {
        since
            .checked_add(jiff::SignedDuration::from_secs(t.cast_signed()))
            .ok()
    });
    if deadline.is_some_and(|end| now >= end) {
        let what: Vec<String> = closed.iter().map(|(c, z)| window_text(c, *z)).collect();
        let timeout = stage.timeout_secs.unwrap_or_default();
        return Wait::TimedOut(timed_out(&what, timeout, since));
    }
    let later = |secs: i64| {
        now.checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap_or(now)
    };
    if closed.is_empty() {
        // Opened since the stage was decided (a minute turned): look again at once.
        return Wait::Until {
            wake: later(1),
            opens: Some(now),
        };
    }
    // All windows must be open at once: wake when the last closed one opens, then look.
    let opens = closed
        .iter()
        .map(|(c, z)| crate::patterns::next_opening(c, *z, now).ok().flatten())
        .collect::<Option<Vec<_>>>()
        .and_then(|all| all.into_iter().max());
    let mut wake = match (opens, deadline) {
        (Some(o), Some(d)) => o.min(d),
        (Some(o), None) => o,
        (None, Some(d)) => d.min(later(LOOK_AGAIN_SECS)),
        (None, None) => later(LOOK_AGAIN_SECS),
    };
    // Never sooner than a second from now: a window decided closed is not looked at again
    // within the same instant.
    wake = wake.max(later(1));
    Wait::Until { wake, opens }
}

/// Why stage `stage`, which began waiting at `since`, may no longer go on at `now` though
/// its windows are open: it waited longer than its timeout (the run was held meanwhile, and
/// is resumed late). The wait is bounded, like an approval's.
pub(super) fn waited_too_long(stage: &Stage, since: Timestamp, now: Timestamp) -> Option<String> {
    let timeout = stage.timeout_secs?;
    let end = since
        .checked_add(jiff::SignedDuration::from_secs(timeout.cast_signed()))
        .ok()?;
    (now >= end).then(|| {
        let rules = stage.entry.as_ref().map_or(&[][..], |c| &c.rules[..]);
        let what: Vec<String> = rules
            .iter()
            .filter_map(|r| match r {
                CondRule::Window { cron, tz, .. } => Some(window_text(cron, tz.as_deref())),
                _ => None,
            })
            .collect();
        format!(
            "it waited for {} longer than the stage's timeout ({}, since {})",
            what.join(" and "),
            crate::duration::format(timeout),
            since.round(jiff::Unit::Second).unwrap_or(since),
        )
    })
}

/// The reason of a stage whose windows did not open within its timeout.
fn timed_out(what: &[String], timeout: u64, since: Timestamp) -> String {
    format!(
        "{} did not open within the stage's timeout ({}, since {})",
        if what.is_empty() {
            "its deployment window".to_string()
        } else {
            what.join(" and ")
        },
        crate::duration::format(timeout),
        since.round(jiff::Unit::Second).unwrap_or(since),
    )
}

impl<'r> Sched<'r, '_> {
    /// `else wait` in a decision of stage `i`: held while a window is closed, failed when it
    /// waited past its timeout. Whether the stage was dealt with here.
    pub(super) fn windowed(
        &mut self,
        i: StageIx,
        verdict: &Verdict,
        inflight: &mut Inflight<'r>,
    ) -> Result<bool, Error> {
        let stage = self.ir_stage(i);
        if !stage
            .entry
            .as_ref()
            .is_some_and(|c| c.otherwise == ElseResult::Wait)
        {
            return Ok(false);
        }
        if let Verdict::Waits(_) = verdict {
            self.wait_for_window(i, inflight)?;
            return Ok(true);
        }
        // Decided otherwise: a later decision (`pipec retry`) waits afresh. A stage that
        // waited past its timeout (held, and resumed late) fails, even though its window is
        // open now.
        let since = self.since(i)?;
        self.window_over(i)?;
        let proceeds = matches!(
            verdict,
            Verdict::Runs | Verdict::RunsOrSkipped(_) | Verdict::Depends(_)
        );
        let now = (self.run.options.clock)();
        match since.and_then(|t| waited_too_long(stage, t, now)) {
            Some(why) if proceeds => {
                self.fail_stage(i, &format!("entry: {why}"))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// When stage `i` began waiting for its window, if it did (also in an earlier process).
    fn since(&self, i: StageIx) -> Result<Option<Timestamp>, Error> {
        if let Some(t) = self.windows.since.get(&i) {
            return Ok(Some(*t));
        }
        let run = self.run;
        let name = &self.ir_stage(i).name;
        Ok(run
            .history
            .window_since(run.run_id, name)?
            .and_then(|t| t.parse().ok()))
    }

    /// Stage `i`'s entry holds it until its window opens.
    fn wait_for_window(&mut self, i: StageIx, inflight: &mut Inflight<'r>) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        // Whole seconds: what is recorded and shown.
        let now = (run.options.clock)();
        let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let since = if let Some(t) = self.since(i)? {
            t
        } else {
            let text = now.to_string();
            run.history
                .set_window_since(run.run_id, &stage.name, Some(&text))?;
            now
        };
        self.windows.since.insert(i, since);
        match plan_wait(stage, since, now) {
            Wait::TimedOut(reason) => {
                self.window_over(i)?;
                self.fail_stage(i, &format!("entry: {reason}"))
            }
            Wait::Until { wake, opens } => {
                // Checks run once the window is open, never on an old result.
                self.stages[i].checks.clear();
                self.stages[i].phase = Phase::Window;
                self.evaluating(i, Some(StageCondition::Entry))?;
                let detail = held_detail(stage, opens, since, now, run.run_id);
                self.stage_status(i, StageStatus::Waiting, &detail)?;
                self.window_timer(i, wake.duration_since(now), inflight);
                Ok(())
            }
        }
    }

    /// Wakes stage `i` after `after` (or when the run stops or fails meanwhile, or its entry
    /// condition is overridden from another terminal).
    fn window_timer(
        &mut self,
        i: StageIx,
        after: jiff::SignedDuration,
        inflight: &mut Inflight<'r>,
    ) {
        let sleep = std::time::Duration::try_from(after).unwrap_or_default();
        let nap = self.nap(tokio::time::Instant::now() + sleep);
        let overridden = overridden(self.run, &self.ir_stage(i).name, StageCondition::Entry);
        self.windows.timers += 1;
        inflight.push(Box::pin(async move {
            tokio::select! {
                () = nap => {}
                _ = overridden => {}
            }
            Event::WindowTimer { stage: i }
        }));
    }

    /// Stage `i`'s timer went off: it is decided again, unless the run is ending.
    pub(super) fn window_woke(&mut self, i: StageIx) -> Result<(), Error> {
        self.windows.timers -= 1;
        if self.stages[i].phase != Phase::Window {
            return Ok(());
        }
        self.stages[i].phase = Phase::Waiting;
        if self.stopping() || self.end.failed.is_some() {
            let why = if self.stopping() {
                "the run was stopped"
            } else {
                "the run failed"
            };
            let detail = format!("not decided: {why} while it waited for its deployment window");
            self.stage_status(i, StageStatus::Pending, &detail)?;
        }
        Ok(())
    }

    /// Stage `i` no longer waits for its window.
    pub(super) fn window_over(&mut self, i: StageIx) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        if self.windows.since.remove(&i).is_some() || self.since(i)?.is_some() {
            self.run
                .history
                .set_window_since(self.run.run_id, &stage.name, None)?;
        }
        Ok(())
    }
}

/// What `pipec show` says of a stage held for its window (closed at `now`).
fn held_detail(
    stage: &Stage,
    opens: Option<Timestamp>,
    since: Timestamp,
    now: Timestamp,
    run_id: &str,
) -> String {
    let closed = closed_windows(stage, now);
    let what: Vec<String> = closed.iter().map(|(c, z)| window_text(c, *z)).collect();
    let zone = closed.iter().find_map(|(_, z)| *z);
    let when = match opens {
        Some(t) => format!("; it opens at {}", shown(t, zone)),
        None => "; it does not open within a year".to_string(),
    };
    let limit = stage
        .timeout_secs
        .and_then(|t| {
            let end = since
                .checked_add(jiff::SignedDuration::from_secs(t.cast_signed()))
                .ok()?;
            Some(format!(
                "; it fails if still closed at {} (the stage's timeout, {})",
                shown(end, zone),
                crate::duration::format(t)
            ))
        })
        .unwrap_or_default();
    format!(
        "waiting for {}{when}{limit}; `pipec resume {run_id}` goes on once it is open",
        if what.is_empty() {
            "its deployment window".to_string()
        } else {
            what.join(" and ")
        }
    )
}

/// A time as RFC 3339 in UTC, and in the window's zone when it has one.
fn shown(t: Timestamp, zone: Option<&str>) -> String {
    let local = zone.and_then(|z| {
        let tz = crate::patterns::time_zone(z).ok()?;
        Some(format!(
            " ({} in {z})",
            t.to_zoned(tz).strftime("%Y-%m-%d %H:%M")
        ))
    });
    format!("{t}{}", local.unwrap_or_default())
}

#[cfg(test)]
mod tests;
