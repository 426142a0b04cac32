//! What the API and the dashboard's forms do, in one place: start runs (by hand or for an
//! event), decide approvals, stop, resume, retry, roll back, switch transitions. Each is the
//! `pipec` command of the same name (`launch.rs`); this file adds the caller's identity
//! (`--as` the token's name), turns the command's exit into an HTTP status, and resumes a
//! held run that a decision lets go on (no one needs to type `pipec resume`).

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::App;
use super::auth::{Caller, Refusal};
use super::launch::{Facts, Said, run_args};
use crate::runtime::run::RunStatus;
use crate::runtime::state::History;

/// A command's refusal as an HTTP answer: exit 2 (cannot be carried out) is 409, exit 1
/// (invalid: params, a failed run) 422, anything else 500.
fn refusal(said: &Said) -> Refusal {
    let status = match said.code {
        Some(2) => StatusCode::CONFLICT,
        Some(1) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = said
        .text
        .lines()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    Refusal::new(status, text)
}

fn not_found(what: String) -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, what)
}

/// Runs `f` on the history, off the async threads.
pub(crate) async fn with_history<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&History) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let dir = app.state_dir.clone();
    tokio::task::spawn_blocking(move || {
        let h = History::open(&dir).map_err(|e| Refusal::from(e.to_string()))?;
        f(&h)
    })
    .await
    .map_err(|e| Refusal::from(e.to_string()))?
}

/// The id of run `run` (`last` allowed), or 404.
pub(crate) async fn resolve(app: &Arc<App>, run: &str) -> Result<String, Refusal> {
    let run = run.to_string();
    with_history(app, move |h| {
        h.resolve(&run)
            .map_err(|e| Refusal::from(e.to_string()))?
            .ok_or_else(|| not_found(format!("no run `{run}`")))
    })
    .await
}

/// Starts a run of every served pipeline whose triggers accept `facts`: their ids.
pub(crate) async fn trigger(app: &Arc<App>, facts: &Facts) -> Vec<String> {
    let event = facts.event();
    let entries = app
        .pipelines
        .read()
        .map(|p| p.entries.clone())
        .unwrap_or_default();
    let mut ids = Vec::new();
    for e in entries {
        let Some(good) = &e.good else { continue };
        let decision = crate::runtime::trigger::decide(&good.ir.pipeline.triggers, &event);
        if !matches!(decision, crate::runtime::trigger::Decision::Start { .. }) {
            continue;
        }
        match app
            .launcher
            .start(&run_args(&e.file, &good.ir_file, facts, &[]))
            .await
        {
            Ok(id) => {
                (app.report)(&format!(
                    "run {id} of `{}` started by {}",
                    good.ir.pipeline.name,
                    facts.event.as_deref().unwrap_or("hand")
                ));
                ids.push(id);
            }
            Err(said) => (app.report)(&format!(
                "`{}` did not start: {}",
                good.ir.pipeline.name, said.text
            )),
        }
    }
    ids
}

/// Starts a run of pipeline `name` by hand with `params`.
pub(crate) async fn start(
    app: &Arc<App>,
    name: &str,
    params: &[(String, String)],
) -> Result<String, Refusal> {
    let entry = app
        .pipelines
        .read()
        .ok()
        .and_then(|p| p.named(name).cloned())
        .ok_or_else(|| not_found(format!("no pipeline `{name}` is served")))?;
    let Some(good) = &entry.good else {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!("pipeline `{name}` does not check"),
        ));
    };
    app.launcher
        .start(&run_args(
            &entry.file,
            &good.ir_file,
            &Facts::default(),
            params,
        ))
        .await
        .map_err(|s| refusal(&s))
}

/// Approves or rejects `action` (`STAGE.ACTION`) of `run` as the caller, then lets a held
/// run go on.
pub(crate) async fn decide(
    app: &Arc<App>,
    caller: &Caller,
    run: &str,
    action: &str,
    comment: Option<&str>,
    approved: bool,
) -> Result<Value, Refusal> {
    let id = resolve(app, run).await?;
    approvers(app, &id, action, &caller.name).await?;
    let mut args = vec![
        if approved { "approve" } else { "reject" }.to_string(),
        id.clone(),
        action.to_string(),
        format!("--as={}", caller.name),
    ];
    if let Some(c) = comment.filter(|c| !c.trim().is_empty()) {
        args.push(format!("--comment={c}"));
    }
    let said = app.launcher.call(&args).await.map_err(Refusal::from)?;
    if said.code != Some(0) {
        return Err(refusal(&said));
    }
    let resumed = go_on(app, &id).await;
    Ok(json!({"id": id, "said": said.text, "resumed": resumed}))
}

/// Refuses (403) a caller who is not among the approvers of `action` of run `id`.
async fn approvers(app: &Arc<App>, id: &str, action: &str, name: &str) -> Result<(), Refusal> {
    let (id, action, name) = (id.to_string(), action.to_string(), name.to_string());
    with_history(app, move |h| {
        let rec = h
            .recorded(&id)
            .map_err(|e| Refusal::from(e.to_string()))?
            .ok_or_else(|| not_found(format!("no run `{id}`")))?;
        let Ok(ir) = crate::runtime::resume::ir_of(&rec) else {
            return Ok(());
        };
        let (stage, act) = action.split_once('.').unwrap_or((&action, ""));
        let found = ir
            .pipeline
            .stages
            .iter()
            .find(|s| s.name == stage)
            .and_then(|s| s.actions.iter().find(|a| a.name == act));
        // Anything else wrong is the command's to say.
        let Some(a) = found else { return Ok(()) };
        let list = crate::runtime::resume::approvers_of(a, &ir, &rec).unwrap_or_default();
        if list.is_empty() || list.contains(&name) {
            return Ok(());
        }
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "`{name}` may not decide `{action}`: its approvers are {}",
                list.join(", ")
            ),
        ))
    })
    .await
}

/// Resumes run `id` when it is held or interrupted and no process runs it: whether it did.
pub(crate) async fn go_on(app: &Arc<App>, id: &str) -> bool {
    let run = id.to_string();
    let idle = with_history(app, move |h| {
        let (owner, status) = h.owner(&run).map_err(|e| Refusal::from(e.to_string()))?;
        let alive = owner.is_some_and(|o| o.alive());
        Ok(!alive && matches!(status, RunStatus::Waiting | RunStatus::Running))
    })
    .await
    .unwrap_or(false);
    if !idle {
        return false;
    }
    match app
        .launcher
        .start(&["resume".to_string(), id.to_string()])
        .await
    {
        Ok(_) => {
            (app.report)(&format!("resumed run {id}"));
            true
        }
        Err(said) => {
            (app.report)(&format!("run {id} did not resume: {}", said.text));
            false
        }
    }
}

/// `stop` (Stop and wait), `abandon` (Stop and abandon), `resume` or `retry` of `run`.
pub(crate) async fn control(app: &Arc<App>, run: &str, verb: &str) -> Result<Value, Refusal> {
    let id = resolve(app, run).await?;
    if verb == "stop" || verb == "abandon" {
        let run = id.clone();
        let (_, status) = with_history(app, move |h| {
            h.owner(&run).map_err(|e| Refusal::from(e.to_string()))
        })
        .await?;
        if status.ended() {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                format!("run {id} has already ended: {status}"),
            ));
        }
        // `pipec stop` waits for the run to end: it goes on after the answer.
        let mut args = vec!["stop".to_string(), id.clone()];
        if verb == "abandon" {
            args.push("--abandon".into());
        }
        app.launcher.detach(&args).map_err(Refusal::from)?;
        return Ok(json!({"id": id, "stopping": true, "abandon": verb == "abandon"}));
    }
    let started = app
        .launcher
        .start(&[verb.to_string(), id.clone()])
        .await
        .map_err(|s| {
            // A finished run's `resume` says its outcome and exits 0, 1 or 130.
            if verb == "resume" && matches!(s.code, Some(0 | 1 | 130)) {
                Refusal::new(StatusCode::CONFLICT, s.text)
            } else {
                refusal(&s)
            }
        })?;
    Ok(json!({"id": started}))
}

/// `pipec rollback NAME STAGE [--to RUN]`: the new run's id.
pub(crate) async fn rollback(
    app: &Arc<App>,
    name: &str,
    stage: &str,
    to: Option<&str>,
) -> Result<Value, Refusal> {
    let mut args = vec!["rollback".to_string(), name.to_string(), stage.to_string()];
    if let Some(to) = to.filter(|t| !t.is_empty()) {
        args.push(format!("--to={to}"));
    }
    let id = app.launcher.start(&args).await.map_err(|s| refusal(&s))?;
    Ok(json!({"id": id}))
}

/// Enables or disables transition `from` → `to` of pipeline `name` as the caller; enabling
/// resumes the runs held there (oldest first).
pub(crate) async fn transition(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    (from, to): (&str, &str),
    enabled: bool,
    reason: Option<&str>,
) -> Result<Value, Refusal> {
    let mut args = vec![
        "transition".to_string(),
        if enabled { "enable" } else { "disable" }.into(),
        name.to_string(),
        from.to_string(),
        to.to_string(),
        format!("--as={}", caller.name),
    ];
    if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
        args.push(format!("--reason={r}"));
    }
    let said = app.launcher.call(&args).await.map_err(Refusal::from)?;
    if said.code != Some(0) {
        return Err(refusal(&said));
    }
    let mut resumed = Vec::new();
    if enabled {
        let (p, f, t) = (name.to_string(), from.to_string(), to.to_string());
        let held = with_history(app, move |h| {
            h.held_at(&p, &f, &t)
                .map_err(|e| Refusal::from(e.to_string()))
        })
        .await?;
        for id in held {
            if go_on(app, &id).await {
                resumed.push(id);
            }
        }
    }
    Ok(json!({"enabled": enabled, "resumed": resumed}))
}
