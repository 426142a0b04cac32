//! `pipec run --dry-run`: which stages and actions would run, in what order, and why others
//! would not — decided from params, the event and run facts, without running anything.
//!
//! Values only known while running (exports, stage outcomes beyond "would succeed", time
//! windows, `check` rules) make a decision "depends on …" instead of guessing.

use std::collections::BTreeMap;

use super::eval::{EvalError, Scope, Value, eval};
use crate::ir::{CondRule, ElseResult, Expr, Ir, Stage};

/// Facts about the run known before it starts.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RunFacts {
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    pub trigger: String,
}

impl RunFacts {
    /// `run.FIELD` for a run with this id.
    pub fn field(&self, field: &str, run_id: &str) -> Option<Value> {
        let s = |v: &Option<String>| Some(Value::Str(v.clone().unwrap_or_default()));
        match field {
            "id" => Some(Value::Str(run_id.to_string())),
            "branch" => s(&self.branch),
            "tag" => s(&self.tag),
            "commit" => s(&self.commit),
            "trigger" => Some(Value::Str(self.trigger.clone())),
            "attempt" => Some(Value::Int(1)),
            _ => None,
        }
    }
}

/// What would happen to a stage or an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Runs,
    /// Skipped by its own condition (`entry … else skip`, `when`).
    Skipped(String),
    /// No inbound edge would be taken.
    NotReached(String),
    /// Held at a disabled transition.
    Held(String),
    /// The entry condition would fail the run.
    Fails(String),
    /// Decided only while running.
    Depends(String),
    /// Runs or is skipped by its own entry condition, decided while running: either way it
    /// completes, so the edges out of it are decided as for a stage that ran.
    RunsOrSkipped(String),
    /// Never starts: the run fails before (at the named stage).
    AfterFailure(String),
    /// Held until its deployment window opens (`entry { window … else wait }`); the dry run
    /// says it would wait while the window is closed.
    Waits(String),
}

#[derive(Clone, Debug)]
pub struct ActionPlan {
    pub name: String,
    /// 1-based step within the stage: actions of one step run in parallel.
    pub step: usize,
    pub after: Vec<String>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug)]
pub struct StagePlan {
    pub name: String,
    pub verdict: Verdict,
    pub actions: Vec<ActionPlan>,
}

/// The plan of a run, stages in the order they would start.
#[derive(Clone, Debug)]
pub struct Plan {
    pub stages: Vec<StagePlan>,
}

/// `--dry-run`: the AWS calls an `aws` action would make, with the values known before the
/// run (an export or another value known only while running is shown as `${…}`).
pub fn aws_calls(
    action: &crate::ir::Action,
    label: &str,
    params: &BTreeMap<String, Value>,
    facts: &RunFacts,
) -> Vec<String> {
    let scope = DryScope {
        params,
        facts,
        statuses: BTreeMap::new(),
    };
    let one = |e: &Expr| {
        eval(e, &scope).map_or_else(
            |_| format!("${{{}}}", crate::ir::describe::describe(e)),
            |v| v.text(),
        )
    };
    let mut text = |e: &Expr| {
        Ok(match e {
            Expr::Interp { parts, .. } => parts
                .iter()
                .map(|p| match p {
                    crate::ir::Part::Text(t) => t.clone(),
                    crate::ir::Part::Expr(x) => one(x),
                })
                .collect(),
            _ => one(e),
        })
    };
    let workspace = std::path::Path::new("WORKSPACE");
    match super::aws::job(action, label, "RUN", workspace, &mut text) {
        Ok(job) => super::aws::dry_calls(&job),
        Err(e) => vec![format!("cannot plan the calls: {e}")],
    }
}

struct DryScope<'a> {
    params: &'a BTreeMap<String, Value>,
    facts: &'a RunFacts,
    statuses: BTreeMap<String, &'static str>,
}

impl Scope for DryScope<'_> {
    fn param(&self, name: &str) -> Option<Value> {
        self.params.get(name).cloned()
    }
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
    fn export(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }
    fn run_field(&self, field: &str) -> Option<Value> {
        self.facts.field(field, "dry-run")
    }
    fn stage_status(&self, stage: &str) -> Option<String> {
        self.statuses.get(stage).map(|s| (*s).to_string())
    }
    fn env_var(&self, _: &str) -> Option<String> {
        None
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        Err(format!("`{path}` is not read in a plan"))
    }
}

/// A condition's value: known, or what it waits for.
pub(crate) enum Known {
    Yes,
    No(String),
    Depends(String),
}

pub(crate) fn decide(e: &Expr, scope: &dyn Scope) -> Known {
    match eval(e, scope) {
        Ok(Value::Bool(true)) => Known::Yes,
        Ok(_) => Known::No(format!("`{}` is false", describe(e))),
        Err(EvalError::Unknown(what)) => {
            Known::Depends(format!("`{}` (needs {what})", describe(e)))
        }
        Err(EvalError::Invalid(why)) => Known::Depends(format!("`{}`: {why}", describe(e))),
    }
}

/// Plans a run of `ir` with bound param values.
pub fn plan(ir: &Ir, params: &BTreeMap<String, Value>, facts: &RunFacts) -> Plan {
    let mut scope = DryScope {
        params,
        facts,
        statuses: BTreeMap::new(),
    };
    let mut verdicts: BTreeMap<&str, Verdict> = BTreeMap::new();
    let mut stages = Vec::new();
    for s in topological(&ir.pipeline.stages) {
        let verdict = stage_verdict(s, &verdicts, &scope, &undecided_rule);
        let status = match &verdict {
            Verdict::Runs => Some("succeeded"),
            Verdict::Skipped(_) | Verdict::NotReached(_) => Some("skipped"),
            _ => None,
        };
        if let Some(status) = status {
            scope.statuses.insert(s.name.clone(), status);
        }
        let actions = if matches!(
            verdict,
            Verdict::Runs | Verdict::Depends(_) | Verdict::RunsOrSkipped(_) | Verdict::Waits(_)
        ) {
            action_plans(s, &scope)
        } else {
            Vec::new()
        };
        verdicts.insert(&s.name, verdict.clone());
        stages.push(StagePlan {
            name: s.name.clone(),
            verdict,
            actions,
        });
    }
    Plan { stages }
}

/// Stages ordered so that every edge's source comes first (file order among equals).
pub(crate) fn topological(stages: &[Stage]) -> Vec<&Stage> {
    let mut done: Vec<bool> = vec![false; stages.len()];
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut out = Vec::with_capacity(stages.len());
    while out.len() < stages.len() {
        let before = out.len();
        for (i, s) in stages.iter().enumerate() {
            let ready = s
                .inbound
                .iter()
                .all(|e| index.get(e.from.as_str()).is_none_or(|&j| done[j]));
            if !done[i] && ready {
                done[i] = true;
                out.push(s);
            }
        }
        if out.len() == before {
            break; // A cycle: the checker rejects these; keep what is ordered.
        }
    }
    out
}

/// What happens to stage `s`, given the verdicts of the stages before it (shared by the dry
/// run and the real one, so the two cannot disagree).
///
/// `rule` decides the rules that are not plain expressions (`window`, `check`): the dry run
/// answers "depends", the real run looks at the clock and at the checks it ran.
pub(crate) fn stage_verdict(
    s: &Stage,
    verdicts: &BTreeMap<&str, Verdict>,
    scope: &dyn Scope,
    rule: &dyn Fn(usize, &CondRule) -> Known,
) -> Verdict {
    if !s.inbound.is_empty() {
        let mut taken = false;
        let mut waiting = Vec::new();
        let mut why_not = Vec::new();
        for e in &s.inbound {
            let source = verdicts.get(e.from.as_str());
            match source {
                Some(Verdict::Runs | Verdict::Skipped(_) | Verdict::RunsOrSkipped(_)) => {}
                Some(Verdict::NotReached(_)) | None => {
                    why_not.push(format!("`{}` is not reached", e.from));
                    continue;
                }
                Some(Verdict::Fails(_) | Verdict::AfterFailure(_)) => {
                    return Verdict::AfterFailure(format!(
                        "the run fails before: `{}` does not complete",
                        e.from
                    ));
                }
                Some(Verdict::Held(h)) => return Verdict::Held(h.clone()),
                Some(Verdict::Depends(_) | Verdict::Waits(_)) => {
                    // Name the stage, not its reasons: those are shown at the stage itself
                    // (and copying them would grow with every level of the graph).
                    waiting.push(format!("whether `{}` completes", e.from));
                    continue;
                }
            }
            match e.guard.as_ref().map_or(Known::Yes, |g| decide(g, scope)) {
                Known::Yes => {
                    if let Some(reason) = &e.disabled {
                        return Verdict::Held(format!(
                            "transition {} -> {} is disabled: {reason}",
                            e.from, s.name
                        ));
                    }
                    taken = true;
                }
                Known::No(why) => why_not.push(format!("{} -> {}: {why}", e.from, s.name)),
                Known::Depends(d) => waiting.push(format!("{} -> {}: {d}", e.from, s.name)),
            }
        }
        if !taken {
            return if waiting.is_empty() {
                Verdict::NotReached(why_not.join("; "))
            } else {
                Verdict::Depends(waiting.join("; "))
            };
        }
    }
    let Some(entry) = &s.entry else {
        return Verdict::Runs;
    };
    let mut depends = Vec::new();
    // `else wait`: a closed window holds the stage; the other rules decide as usual.
    let waits = entry.otherwise == ElseResult::Wait;
    let (mut closed, mut windows) = (None, Vec::new());
    for (i, r) in entry.rules.iter().enumerate() {
        let known = match r {
            CondRule::Require { expr, .. } => decide(expr, scope),
            other => rule(i, other),
        };
        let window = waits && matches!(r, CondRule::Window { .. });
        match known {
            Known::Yes => {}
            Known::No(why) if window => {
                closed.get_or_insert(why);
            }
            Known::No(why) => {
                return match entry.otherwise {
                    ElseResult::Skip => Verdict::Skipped(format!("entry: {why}")),
                    ElseResult::Fail | ElseResult::Rollback | ElseResult::Wait => {
                        Verdict::Fails(format!("entry: {why}"))
                    }
                };
            }
            Known::Depends(d) if window => windows.push(d),
            Known::Depends(d) => depends.push(d),
        }
    }
    if let Some(why) = closed {
        return Verdict::Waits(format!("entry: {why}"));
    }
    if !windows.is_empty() && depends.is_empty() {
        return Verdict::Waits(format!(
            "entry: would wait for {} while it is closed{}",
            windows.join(" and "),
            s.timeout_secs
                .map(|t| format!(
                    ", at most {} (the stage's timeout)",
                    crate::duration::format(t)
                ))
                .unwrap_or_default()
        ));
    }
    depends.extend(windows);
    if depends.is_empty() {
        Verdict::Runs
    } else if entry.otherwise == ElseResult::Skip {
        Verdict::RunsOrSkipped(format!("entry: {}", depends.join("; ")))
    } else {
        Verdict::Depends(format!("entry: {}", depends.join("; ")))
    }
}

/// The dry run's answer for `window` and `check` rules: known only while running.
pub(crate) fn undecided_rule(_: usize, rule: &CondRule) -> Known {
    match rule {
        CondRule::Require { .. } => Known::Depends("a condition".into()),
        CondRule::Window { cron, tz, .. } => Known::Depends(format!(
            "the deployment window `{cron}`{}",
            tz.as_ref().map(|z| format!(" ({z})")).unwrap_or_default()
        )),
        CondRule::Check { action } => Known::Depends(format!("the entry check `{}`", action.name)),
    }
}

fn action_plans(s: &Stage, scope: &dyn Scope) -> Vec<ActionPlan> {
    // Step = 1 + the longest `after` chain before the action, in one pass over a
    // topological order (the checker guarantees there is no cycle).
    let index: BTreeMap<&str, usize> = s
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let mut step = vec![0usize; s.actions.len()];
    let mut indegree: Vec<usize> = s
        .actions
        .iter()
        .map(|a| {
            a.after
                .iter()
                .filter(|p| index.contains_key(p.as_str()))
                .count()
        })
        .collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); s.actions.len()];
    for (i, a) in s.actions.iter().enumerate() {
        for p in &a.after {
            if let Some(&j) = index.get(p.as_str()) {
                next[j].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..s.actions.len()).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = ready.pop() {
        step[i] = step[i].max(1);
        for &k in &next[i] {
            step[k] = step[k].max(step[i] + 1);
            indegree[k] -= 1;
            if indegree[k] == 0 {
                ready.push(k);
            }
        }
    }
    let steps: BTreeMap<&str, usize> = s
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), step[i].max(1)))
        .collect();
    let mut out: Vec<ActionPlan> = s
        .actions
        .iter()
        .map(|a| ActionPlan {
            name: a.name.clone(),
            step: steps.get(a.name.as_str()).copied().unwrap_or(1),
            after: a.after.clone(),
            verdict: match a.when.as_ref().map_or(Known::Yes, |w| decide(w, scope)) {
                Known::Yes => Verdict::Runs,
                Known::No(why) => Verdict::Skipped(format!("when: {why}")),
                Known::Depends(d) => Verdict::Depends(format!("when: {d}")),
            },
        })
        .collect();
    out.sort_by_key(|a| a.step);
    out
}

pub use crate::ir::describe::describe;
