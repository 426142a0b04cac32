//! Entry and `on success` conditions in a run: their `check` rules run as attempts (named
//! `STAGE.entry.NAME` and `STAGE.on-success.NAME`, numbered when there are several); once the
//! last has ended the stage is decided again (entry) or its end is (`on success`). Window
//! rules are read from the run's wall clock. While checks run, their condition may be
//! overridden from another terminal (`pipec override`): each check looks at the history
//! every second, and ends (its attempt dropped, its process group with it) once it is.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::future::Future;

use super::sched::{Event, Inflight, Sched};
use super::stage::{Phase, StageIx};
use super::{POLL, Progress, Run};
use crate::ir::{CondRule, Condition};
use crate::runtime::attempt::append;
use crate::runtime::error::Error;
use crate::runtime::exec;
use crate::runtime::holds::{ConditionOverride, StageCondition};
use crate::runtime::plan::{Known, Verdict};
use crate::runtime::status::StageStatus;

impl<'r, 'a> Sched<'r, 'a> {
    /// Why `cond` does not hold (all its rules decided), or `None` when it holds.
    pub(super) fn condition_fails(&self, i: StageIx, cond: &Condition) -> Option<String> {
        let now = (self.run.options.clock)();
        for (ri, r) in cond.rules.iter().enumerate() {
            let known = match r {
                CondRule::Require { expr, .. } => crate::runtime::plan::decide(expr, &self.scope),
                other => rule_known_at(ri, other, &self.stages[i].exit_checks, now),
            };
            match known {
                Known::Yes => {}
                Known::No(why) | Known::Depends(why) => return Some(why),
            }
        }
        None
    }

    /// Starts the `check` rules `which` of `rules` (`phase`: `entry` or `on-success`).
    pub(super) fn start_checks(
        &mut self,
        i: StageIx,
        rules: &'a [CondRule],
        which: &[usize],
        phase: &str,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let stage = self.ir_stage(i);
        let condition = if phase == "entry" {
            StageCondition::Entry
        } else {
            StageCondition::Success
        };
        let checks = rules
            .iter()
            .filter(|r| matches!(r, CondRule::Check { .. }))
            .count();
        for &ri in which {
            let CondRule::Check { action } = &rules[ri] else {
                continue;
            };
            // Checks are named after their kind (`check`); with several, numbered in order.
            let nth = rules[..=ri]
                .iter()
                .filter(|r| matches!(r, CondRule::Check { .. }))
                .count();
            let label = if checks > 1 {
                format!("{}.{phase}.{}{nth}", stage.name, action.name)
            } else {
                format!("{}.{phase}.{}", stage.name, action.name)
            };
            let ws = self.workspaces.acquire()?;
            let timeout = self.time_left(i, action.timeout_secs);
            self.stages[i].checks_running += 1;
            let (label2, ws2) = (label.clone(), ws.clone());
            let check = self
                .attempt(
                    action,
                    &label,
                    &format!("{label}.1"),
                    1,
                    ws.clone(),
                    timeout,
                )
                .map(move |result| Event::Check {
                    stage: i,
                    rule: ri,
                    label,
                    workspace: ws,
                    result: result.map(|_| ()).map_err(|f| f.why),
                    overridden: None,
                });
            // `pipec override` from another terminal ends the check (its process group
            // goes with the dropped attempt): the condition counts as met.
            let poll = overridden(self.run, &stage.name, condition);
            inflight.push(Box::pin(async move {
                tokio::select! {
                    event = check => event,
                    o = poll => Event::Check {
                        stage: i,
                        rule: ri,
                        label: label2,
                        workspace: ws2,
                        result: Ok(()),
                        overridden: Some(o.describe()),
                    },
                }
            }));
        }
        Ok(())
    }

    /// An entry or `on success` check ended (or was ended by an override of its condition:
    /// `overridden` says by whom): when it was the last, decide the stage.
    #[allow(clippy::too_many_arguments)] // Reason: one check's outcome, each part distinct.
    pub(super) fn check_ended(
        &mut self,
        i: StageIx,
        rule: usize,
        label: String,
        workspace: PathBuf,
        result: Result<(), String>,
        overridden: Option<&str>,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        self.stages[i].checks_running -= 1;
        let log = self.log_path(&format!("{label}.1"));
        if let Some(o) = &overridden {
            let _ = append(&log, &format!("\npipec: not finished: {o}\n"));
        }
        let detail = match &result {
            Ok(()) => {
                self.workspaces.release(workspace);
                String::new()
            }
            Err(why) => {
                let why = exec::mask(why, &self.masks);
                let kept = self.workspaces.keep(&workspace, &label);
                let _ = append(&log, &format!("\npipec: {why}\n"));
                format!("{why}; workspace kept at {}", kept.display())
            }
        };
        (self.run.report)(Progress::Check {
            label,
            passed: result.is_ok(),
            detail,
            log: log.exists().then_some(log),
        });
        let stopping = self.stopping();
        let s = &mut self.stages[i];
        if s.phase == Phase::Exit {
            s.exit_checks.insert(rule, result);
        } else {
            s.checks.insert(rule, result);
        }
        if s.checks_running > 0 {
            return Ok(());
        }
        if stopping {
            return self.end_stage(
                i,
                StageStatus::Abandoned,
                "the run was stopped",
                Verdict::Fails("stopped".into()),
            );
        }
        let s = &mut self.stages[i];
        match s.phase {
            Phase::Entry => {
                s.phase = Phase::Waiting;
                self.decide(i, inflight)
            }
            Phase::Exit => {
                s.phase = Phase::Actions;
                self.actions_done(i, inflight)
            }
            _ => Ok(()),
        }
    }
}

/// Resolves once `stage`'s `condition` is overridden in `run` (`pipec override`, maybe from
/// another terminal), looking at the history every second.
pub(super) fn overridden<'r>(
    run: &'r Run<'_>,
    stage: &'r str,
    condition: StageCondition,
) -> impl Future<Output = ConditionOverride> + 'r {
    let (history, run_id) = (run.history, run.run_id);
    async move {
        loop {
            if let Ok(Some(o)) = history.condition_override(run_id, stage, condition) {
                return o;
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }
}

/// A `window` or `check` rule, from the clock (`now`) or from the checks that ran.
pub(super) fn rule_known_at(
    index: usize,
    rule: &CondRule,
    checks: &BTreeMap<usize, Result<(), String>>,
    now: jiff::Timestamp,
) -> Known {
    match rule {
        CondRule::Require { .. } => Known::Depends("a condition".into()),
        CondRule::Window { cron, tz, .. } => {
            match crate::patterns::in_window(cron, tz.as_deref(), now) {
                Ok(true) => Known::Yes,
                Ok(false) => Known::No(format!(
                    "outside the deployment window `{cron}`{}",
                    tz.as_ref().map(|z| format!(" ({z})")).unwrap_or_default()
                )),
                Err(e) => Known::No(format!("the deployment window `{cron}`: {e}")),
            }
        }
        CondRule::Check { action } => match checks.get(&index) {
            Some(Ok(())) => Known::Yes,
            Some(Err(why)) => Known::No(format!("check `{}` failed: {why}", action.name)),
            None => Known::Depends(format!("the check `{}` has not run", action.name)),
        },
    }
}

/// The `check` rules of `cond` with no result yet, by index.
pub(super) fn unrun_checks(
    cond: &Condition,
    done: &BTreeMap<usize, Result<(), String>>,
) -> Vec<usize> {
    cond.rules
        .iter()
        .enumerate()
        .filter(|(i, r)| matches!(r, CondRule::Check { .. }) && !done.contains_key(i))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::rule_known_at;
    use crate::ir::CondRule;
    use crate::runtime::plan::Known;

    #[test]
    fn windows_hold_only_in_their_minutes() {
        let rule = |cron: &str, tz: Option<&str>| CondRule::Window {
            cron: cron.into(),
            tz: tz.map(str::to_string),
            span: crate::ir::Span::default(),
        };
        let at: jiff::Timestamp = "2026-11-26T10:30:00Z".parse().expect("time");
        let none = std::collections::BTreeMap::new();
        assert!(matches!(
            rule_known_at(0, &rule("* 10 * * *", None), &none, at),
            Known::Yes
        ));
        assert!(matches!(
            rule_known_at(0, &rule("* 9 * * *", None), &none, at),
            Known::No(_)
        ));
        // 10:30 UTC is 11:30 in Berlin (CET).
        assert!(matches!(
            rule_known_at(0, &rule("30 11 * * THU", Some("Europe/Berlin")), &none, at),
            Known::Yes
        ));
    }
}
