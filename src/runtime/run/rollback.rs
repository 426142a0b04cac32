//! `on failure rollback` (LANGUAGE.md §9): the failed stage runs again, as a run of its own
//! nested in this one, with the recorded pipeline, params, exports and artifacts of the
//! last run in which it succeeded; then the stage (and the run) fails, saying how the
//! rollback went. A rollback that fails does not roll back again.

use super::sched::{Event, Inflight, Sched};
use super::stage::{Phase, StageIx};
use super::{Options, Progress, Run, Start, execute};
use crate::runtime::error::Error;
use crate::runtime::plan::Verdict;
use crate::runtime::resume::{facts_of, ir_of, params_of};
use crate::runtime::state::Snapshot;
use crate::runtime::status::{RunStatus, StageStatus};

impl<'r> Sched<'r, '_> {
    /// The stage failed and rolls back: nothing new starts; the stage runs again; then the
    /// run fails.
    pub(super) fn roll_back(
        &mut self,
        i: StageIx,
        why: String,
        inflight: &mut Inflight<'r>,
    ) -> Result<(), Error> {
        let run = self.run;
        let stage = self.ir_stage(i);
        let pipeline = &run.ir.pipeline.name;
        if self.source.is_some() {
            // A rollback that fails does not roll back again.
            return self.fail_stage(i, &format!("{why}; the rollback failed"));
        }
        let Some(source) = run
            .history
            .last_success(pipeline, &stage.name, Some(run.run_id))?
        else {
            return self.fail_stage(
                i,
                &format!(
                    "{why}; rollback: no earlier run of `{pipeline}` in which `{}` succeeded, so nothing to roll back to",
                    stage.name
                ),
            );
        };
        self.end.failed.get_or_insert_with(|| stage.name.clone());
        self.halt.send_modify(|n| *n += 1);
        self.stages[i].phase = Phase::Exit;
        (run.report)(Progress::Stage {
            stage: stage.name.clone(),
            status: StageStatus::RollingBack,
            detail: format!("{why}; running it again with the inputs of run {source}"),
        });
        let name = stage.name.clone();
        let label = format!("{} (rollback)", stage.name);
        inflight.push(Box::pin(async move {
            let result = rollback_run(run, &name, &source, &label).await;
            Event::Rollback {
                stage: i,
                why,
                source,
                result,
            }
        }));
        Ok(())
    }

    /// The rollback run of stage `i` ended: the stage fails, saying how it went.
    pub(super) fn rollback_ended(
        &mut self,
        i: StageIx,
        why: &str,
        source: &str,
        result: Result<(String, RunStatus), Error>,
    ) -> Result<(), Error> {
        let how = match result {
            Ok((id, status)) => {
                format!("rolled back by run {id} (inputs of run {source}): {status}")
            }
            Err(e) => format!("the rollback to the inputs of run {source} could not run: {e}"),
        };
        self.stages[i].phase = Phase::Actions;
        self.end_stage(
            i,
            StageStatus::Failed,
            &format!("{why}; {how}"),
            Verdict::Fails(why.to_string()),
        )
    }
}

/// Runs `stage` again as a run nested in `run`, with the recorded pipeline, params,
/// exports and artifacts of run `source`.
async fn rollback_run(
    run: &Run<'_>,
    stage: &str,
    source: &str,
    label: &str,
) -> Result<(String, RunStatus), Error> {
    let rec = run
        .history
        .recorded(source)?
        .ok_or_else(|| Error::RunNotFound(source.to_string()))?;
    let ir = ir_of(&rec)?;
    let values = params_of(&ir, &rec)?;
    let facts = facts_of(&rec);
    let facts_json = serde_json::to_value(&facts).unwrap_or_default();
    let params_json = serde_json::to_value(&rec.params).unwrap_or_default();
    let file = rec.file.clone().unwrap_or_else(|| run.options.file.clone());
    let id = run.history.start_run(
        &ir,
        &params_json,
        &Snapshot {
            parent: Some(run.run_id),
            facts: &facts_json,
            file: Some(&file),
            source: Some(source),
        },
    )?;
    let options = Options {
        file,
        ..run.options.clone()
    };
    let report = |p: Progress| (run.report)(p.nested_under(label));
    let start = Start::Rollback {
        stage: stage.to_string(),
        source: rec,
    };
    let child = Run {
        ir: &ir,
        history: run.history,
        run_id: &id,
        values: &values,
        secrets: run.secrets,
        facts: &facts,
        options: &options,
        report: &report,
        stop: run.stop,
        start: &start,
    };
    let mut status = execute(&child).await?;
    if status == RunStatus::Waiting {
        // A rollback is not resumed on its own: held, it fails (and leaves its stage).
        run.history.finish_run(&id, RunStatus::Failed)?;
        status = RunStatus::Failed;
    }
    Ok((id, status))
}
