//! The scheduler's decisions, on tokio's paused time with a scripted [`Runner`]: no process
//! runs, and each attempt takes exactly the (virtual) time its script says. What is checked
//! is what the scheduler decides: order, the `--jobs` limit, retries and backoff, timeouts,
//! approvals and holds, stage-lock waits, stops. The history is a real one in a temporary
//! folder, so what the run recorded is checked too. The tests: `attempts.rs` (order,
//! `--jobs`, retries, timeouts, `when`), `stages.rs` (approvals, locks, stops, `on failure`,
//! entry checks, resume), `holds.rs` (`CodePipeline`'s execution semantics).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::{AttemptFuture, Job, Options, Progress, Run, Runner, Start, execute};
use crate::ir::{Ir, Mode};
use crate::runtime::attempt::{Failure, Finished};
use crate::runtime::exec::STOP;
use crate::runtime::holds::Decision;
use crate::runtime::plan::RunFacts;
use crate::runtime::state::{History, Snapshot};
use crate::runtime::status::{ActionStatus, RunStatus, StageStatus};

mod attempts;
mod holds;
mod stages;

/// Where the wall clock of every test run starts.
const WALL: &str = "2026-11-26T10:00:00Z";

/// What one attempt does: succeeds or fails (exit status 1) after some seconds, unless its
/// time limit or a stop request ends it first.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    Succeed(u64),
    Fail(u64),
}

/// An attempt the runner carried out, with its (virtual) times in seconds from the start.
#[derive(Clone, Debug)]
pub(super) struct Done {
    label: String,
    attempt: u32,
    pub(super) start: f64,
    pub(super) end: f64,
}

/// Runs attempts as their scripts say: attempt N of `label` does `steps[label][N-1]` (the
/// last step repeats); a label with no script succeeds after 1 s.
struct Scripted {
    steps: BTreeMap<String, Vec<Step>>,
    began: Instant,
    log: Rc<RefCell<Vec<Done>>>,
}

impl Runner for Scripted {
    fn start<'r>(&self, job: Job<'r, '_>) -> AttemptFuture<'r> {
        let step = self
            .steps
            .get(&job.label)
            .and_then(|s| {
                let n = usize::try_from(job.attempt).unwrap_or(1).max(1);
                s.get(n - 1).or_else(|| s.last())
            })
            .copied()
            .unwrap_or(Step::Succeed(1));
        let (began, log) = (self.began, self.log.clone());
        let (label, attempt, timeout) = (job.label, job.attempt, job.timeout);
        let mut stopped = job.run.stop.clone();
        AttemptFuture::new(async move {
            let start = began.elapsed().as_secs_f64();
            let (secs, fails) = match step {
                Step::Succeed(s) => (s, false),
                Step::Fail(s) => (s, true),
            };
            let limit = async {
                match timeout {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            let failure = |why: &str| Failure::new(why);
            let result = tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(secs)) => if fails {
                    Err(Failure { exit_code: Some(1), ..failure("exited with status 1") })
                } else {
                    Ok(Finished { exports: BTreeMap::new(), warnings: Vec::new(), exit_code: Some(0), logged: false })
                },
                () = limit => Err(Failure { timed_out: true, ..failure("timed out") }),
                Ok(_) = stopped.wait_for(|level| *level >= STOP) => Err(Failure { stopped: true, ..failure("stopped") }),
            };
            let end = began.elapsed().as_secs_f64();
            log.borrow_mut().push(Done {
                label,
                attempt,
                start,
                end,
            });
            result
        })
    }
}

pub(super) fn ir(src: &str) -> Ir {
    let mut map = crate::source::SourceMap::new();
    let id = map.add("p.pipe", src);
    let out = crate::compile(&mut map, id, &mut crate::check::NoLoader);
    out.ir
        .unwrap_or_else(|| panic!("checks clean: {:?}", out.diagnostics))
}

/// What one `execute` did.
pub(super) struct Ran {
    pub(super) id: String,
    pub(super) status: RunStatus,
    /// Elapsed virtual seconds when `execute` returned.
    pub(super) secs: f64,
    attempts: Vec<Done>,
    pub(super) progress: Vec<Progress>,
}

impl Ran {
    /// The attempts of `label`, in the order they ended.
    pub(super) fn of(&self, label: &str) -> Vec<&Done> {
        self.attempts.iter().filter(|d| d.label == label).collect()
    }

    /// The last detail shown for action `label` with `status`.
    fn detail(&self, label: &str, status: ActionStatus) -> String {
        self.progress
            .iter()
            .rev()
            .find_map(|p| match p {
                Progress::Action {
                    stage,
                    action,
                    status: s,
                    detail,
                    ..
                } if format!("{stage}.{action}") == label && *s == status => Some(detail.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no `{status}` shown for {label}"))
    }
}

/// Something a test does beside the run, on the same clock: it gets the history, the run's
/// id and the run's stop switch (kept by the harness too: a dropped switch would read as
/// a stop).
pub(super) type Beside<'h> = Box<
    dyn FnOnce(
            &'h History,
            String,
            Rc<tokio::sync::watch::Sender<u8>>,
        ) -> Pin<Box<dyn Future<Output = ()> + 'h>>
        + 'h,
>;

/// Beside the run: a stop request of `level` (`WAIT`, `STOP`, `ABANDON`) after `secs`.
pub(super) fn stop_at<'h>(secs: u64, level: u8) -> Beside<'h> {
    Box::new(move |_, _, stop| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let _ = stop.send(level);
        })
    })
}

/// A test's setting: the pipeline, the scripts of its attempts, `--jobs`.
pub(super) struct Setting<'h> {
    ir: &'h Ir,
    history: &'h History,
    steps: &'h [(&'h str, &'h [Step])],
    jobs: usize,
    /// Resume this run instead of starting one.
    resume: Option<&'h str>,
    beside: Option<Beside<'h>>,
}

impl<'h> Setting<'h> {
    pub(super) fn new(ir: &'h Ir, history: &'h History) -> Setting<'h> {
        Setting {
            ir,
            history,
            steps: &[],
            jobs: 4,
            resume: None,
            beside: None,
        }
    }

    pub(super) fn steps(self, steps: &'h [(&'h str, &'h [Step])]) -> Setting<'h> {
        Setting { steps, ..self }
    }

    fn jobs(self, jobs: usize) -> Setting<'h> {
        Setting { jobs, ..self }
    }

    pub(super) fn resume(self, id: &'h str) -> Setting<'h> {
        Setting {
            resume: Some(id),
            ..self
        }
    }

    pub(super) fn beside(self, beside: Beside<'h>) -> Setting<'h> {
        Setting {
            beside: Some(beside),
            ..self
        }
    }

    /// Runs it to its end on a paused clock (the wall clock starts at `WALL` and follows).
    pub(super) fn run(self) -> Ran {
        let history = self.history;
        let id = match self.resume {
            Some(id) => id.to_string(),
            None => start_run(history, self.ir, None),
        };
        let start = match self.resume {
            Some(_) => Start::Resume(history.recorded(&id).expect("history").expect("run")),
            None => Start::Fresh,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let began = Instant::now();
            let wall: jiff::Timestamp = WALL.parse().expect("a time");
            let clock = move || {
                let moved = jiff::SignedDuration::try_from(began.elapsed()).expect("short");
                wall.checked_add(moved).expect("a time")
            };
            let log = Rc::new(RefCell::new(Vec::new()));
            let runner = Scripted {
                steps: self
                    .steps
                    .iter()
                    .map(|(l, s)| ((*l).to_string(), s.to_vec()))
                    .collect(),
                began,
                log: log.clone(),
            };
            let loader = |_: &std::path::Path,
                          _: &BTreeMap<String, String>,
                          _: &crate::runtime::secrets::Inherited| {
                Err("no nested pipelines here".to_string())
            };
            let options = Options {
                jobs: self.jobs,
                file: history.dir.join("p.pipe"),
                secret_sources: Vec::new(),
                verbose: false,
                loader: &loader,
                parents: Vec::new(),
                inherited: crate::runtime::secrets::Inherited::default(),
                clock: &clock,
                runner: &runner,
                containers: crate::runtime::container::Containers::Off,
            };
            let (stop_tx, stop) = tokio::sync::watch::channel(0u8);
            let stop_tx = Rc::new(stop_tx);
            let progress = RefCell::new(Vec::new());
            let report = |p: Progress| progress.borrow_mut().push(p);
            // The params' defaults (literals).
            let values: BTreeMap<String, crate::runtime::eval::Value> = self
                .ir
                .pipeline
                .params
                .iter()
                .filter_map(|p| {
                    let default = p.default.as_ref()?;
                    let v = crate::runtime::resume::eval_with_params(default, &BTreeMap::new());
                    Some((p.name.clone(), v.ok()?))
                })
                .collect();
            let secrets = BTreeMap::new();
            let run = Run {
                ir: self.ir,
                history,
                run_id: &id,
                values: &values,
                secrets: &secrets,
                facts: &RunFacts::default(),
                options: &options,
                report: &report,
                stop: &stop,
                start: &start,
            };
            let beside = async {
                if let Some(f) = self.beside {
                    f(history, id.clone(), stop_tx.clone()).await;
                }
            };
            let (status, ()) = tokio::join!(execute(&run), beside);
            let secs = began.elapsed().as_secs_f64();
            Ran {
                id: id.clone(),
                status: status.expect("the run ends"),
                secs,
                attempts: log.borrow().clone(),
                progress: progress.borrow().clone(),
            }
        })
    }
}

/// Records a new run of `ir` (nested in `parent`).
pub(super) fn start_run(history: &History, ir: &Ir, parent: Option<&str>) -> String {
    let facts = serde_json::json!({});
    let snapshot = Snapshot {
        parent,
        facts: &facts,
        file: None,
        source: None,
    };
    history
        .start_run(ir, &serde_json::json!({}), &snapshot)
        .expect("a run")
}

/// The recorded status and attempts of action `action` of stage `stage`.
pub(super) fn action(
    history: &History,
    id: &str,
    stage: &str,
    action: &str,
) -> (ActionStatus, u32) {
    let rec = history.recorded(id).expect("history").expect("the run");
    let s = rec.stages.iter().find(|s| s.name == stage).expect("stage");
    let a = s.actions.iter().find(|a| a.name == action).expect("action");
    (a.status, a.attempts)
}

/// The recorded status and reason of stage `stage`.
pub(super) fn stage(history: &History, id: &str, stage: &str) -> (StageStatus, String) {
    let rec = history.recorded(id).expect("history").expect("the run");
    let s = rec.stages.iter().find(|s| s.name == stage).expect("stage");
    (s.status, s.reason.clone().unwrap_or_default())
}

pub(super) fn tmp() -> (tempfile::TempDir, History) {
    let dir = tempfile::tempdir().expect("tmp");
    let history = History::open(dir.path()).expect("history");
    (dir, history)
}
