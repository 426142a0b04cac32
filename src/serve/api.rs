//! The JSON API (`/api/…`, docs/serve.md): the shapes of `pipec runs --json` and
//! `pipec show --json`, the masked logs, server-sent events of a run, and the actions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::actions::{self, resolve, with_history};
use super::auth::{Caller, Refusal, Role, csrf_header};
use crate::runtime::state::{ActionRow, RunDetail, RunRow};

type Answer = Result<Response, Refusal>;

#[allow(clippy::unnecessary_wraps)] // Reason: the handlers' last expression.
fn ok(v: Value) -> Answer {
    Ok(Json(v).into_response())
}

#[allow(clippy::unnecessary_wraps)] // Reason: a handler's answer, like `ok`.
fn created(v: Value) -> Answer {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `[{"name", "file", "ok", "diagnostics", "last_run"}]`.
pub(crate) async fn pipelines(State(app): State<Arc<App>>, _: Caller) -> Answer {
    ok(Value::Array(pipeline_rows(&app).await?))
}

pub(crate) async fn pipeline_rows(app: &Arc<App>) -> Result<Vec<Value>, Refusal> {
    let entries = app
        .pipelines
        .read()
        .map(|p| p.entries.clone())
        .unwrap_or_default();
    let runs = runs_of(app, Filter::default()).await?;
    Ok(entries
        .iter()
        .map(|e| {
            let last = e
                .name
                .as_ref()
                .and_then(|n| runs.iter().find(|r| &r.pipeline == n))
                .map(|r| r.id.clone());
            json!({"name": e.name, "file": e.shown, "ok": e.ok,
                   "diagnostics": e.diagnostics, "last_run": last})
        })
        .collect())
}

/// The filters of `GET /api/runs`.
#[derive(Default, Deserialize, Clone)]
pub(crate) struct Filter {
    pub(crate) pipeline: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) branch: Option<String>,
}

/// Runs, newest first, filtered (`branch` against the branch each run recorded).
pub(crate) async fn runs_of(app: &Arc<App>, f: Filter) -> Result<Vec<RunRow>, Refusal> {
    with_history(app, move |h| {
        let _ = h.settle_all(jiff::Timestamp::now());
        let pipeline = f.pipeline.as_deref().filter(|p| !p.is_empty());
        let rows = h.runs(pipeline).map_err(|e| Refusal::from(e.to_string()))?;
        let status = f.status.as_deref().filter(|s| !s.is_empty());
        let branch = f.branch.as_deref().filter(|b| !b.is_empty());
        Ok(rows
            .into_iter()
            .filter(|r| status.is_none_or(|s| r.status.as_str() == s))
            .filter(|r| {
                branch.is_none_or(|b| {
                    h.recorded(&r.id)
                        .ok()
                        .flatten()
                        .map(|rec| crate::runtime::resume::facts_of(&rec).branch)
                        .is_some_and(|rb| rb.as_deref() == Some(b))
                })
            })
            .collect())
    })
    .await
}

/// `GET /api/runs?pipeline=&status=&branch=`.
pub(crate) async fn runs(
    State(app): State<Arc<App>>,
    _: Caller,
    Query(f): Query<Filter>,
) -> Answer {
    let rows = runs_of(&app, f).await?;
    ok(serde_json::to_value(rows).map_err(|e| e.to_string())?)
}

/// One run as `pipec show --json` (settled first, as `show` does).
pub(crate) async fn detail(app: &Arc<App>, run: &str) -> Result<RunDetail, Refusal> {
    let id = resolve(app, run).await?;
    with_history(app, move |h| {
        let _ = h.settle(&id, jiff::Timestamp::now());
        h.show(&id)
            .map_err(|e| Refusal::from(e.to_string()))?
            .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("no run `{id}`")))
    })
    .await
}

/// `GET /api/runs/{id}`.
pub(crate) async fn run(State(app): State<Arc<App>>, _: Caller, Path(id): Path<String>) -> Answer {
    let d = detail(&app, &id).await?;
    ok(serde_json::to_value(d).map_err(|e| e.to_string())?)
}

/// The row of action `STAGE.ACTION` of run `d` (404 when it has none).
pub(crate) fn action_row<'d>(d: &'d RunDetail, action: &str) -> Result<&'d ActionRow, Refusal> {
    let (stage, name) = action.split_once('.').unwrap_or((action, ""));
    d.stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == name))
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("run {} has no action `{action}`", d.id),
            )
        })
}

/// The masked log of `STAGE.ACTION` of a run (its latest attempt). The file is the one the
/// history names for that action: nothing in the request becomes a path.
pub(crate) async fn log_text(app: &Arc<App>, run: &str, action: &str) -> Result<String, Refusal> {
    let d = detail(app, run).await?;
    let row = action_row(&d, action)?;
    let Some(path) = row.log.clone() else {
        return Ok(String::new());
    };
    tokio::task::spawn_blocking(move || {
        crate::runtime::bounded::read_text(std::path::Path::new(&path), LOG_LIMIT)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| Refusal::from(e.to_string()))
}

/// The most of a log the API sends (its tail is in `pipec logs`).
const LOG_LIMIT: u64 = 16 << 20;

/// `GET /api/runs/{id}/logs/{stage}.{action}`.
pub(crate) async fn logs(
    State(app): State<Arc<App>>,
    _: Caller,
    Path((id, action)): Path<(String, String)>,
) -> Answer {
    let text = log_text(&app, &id, &action).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `GET /api/runs/{id}/events`: an `run` event with the run's JSON whenever it changes;
/// the stream ends after the run has ended (or when the server stops).
pub(crate) async fn events(
    State(app): State<Arc<App>>,
    _: Caller,
    Path(id): Path<String>,
) -> Answer {
    let id = resolve(&app, &id).await?;
    let state = (app, id, String::new(), false);
    let stream = futures_util::stream::unfold(state, |(app, id, last, done)| async move {
        if done {
            return None;
        }
        let mut stop = app.stopping.clone();
        loop {
            let d = detail(&app, &id).await.ok()?;
            let text = serde_json::to_string(&d).ok()?;
            if text != last {
                let ended = d.status.ended();
                let event = Event::default().event("run").data(text.clone());
                return Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (app, id, text, ended),
                ));
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = stop.changed() => return None,
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `POST /api/pipelines/{name}/runs`: `{"params": {…}}` → 201 `{"id"}`.
pub(crate) async fn start(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Option<Json<StartBody>>,
) -> Answer {
    caller.may(Role::Operator, csrf_header(&headers))?;
    let params: Vec<(String, String)> = body
        .map(|Json(b)| {
            b.params
                .into_iter()
                .map(|(k, v)| (k, value_text(&v)))
                .collect()
        })
        .unwrap_or_default();
    let id = actions::start(&app, &name, &params).await?;
    created(json!({"id": id}))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
pub(crate) struct StartBody {
    #[serde(default)]
    params: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
pub(crate) struct DecideBody {
    action: String,
    comment: Option<String>,
}

/// `POST /api/runs/{id}/approve` and `/reject` (a JSON body), `/stop`, `/abandon`,
/// `/resume` and `/retry` (no body).
pub(crate) async fn decide(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    body: Option<Json<DecideBody>>,
) -> Answer {
    let approved = match verb.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return control(State(app), caller, headers, Path((id, verb))).await,
    };
    caller.may(Role::Approver, csrf_header(&headers))?;
    let Some(Json(b)) = body else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "a decision needs a JSON body: {\"action\": \"STAGE.ACTION\", \"comment\": \"…\"}",
        ));
    };
    ok(actions::decide(
        &app,
        &caller,
        &id,
        &b.action,
        b.comment.as_deref(),
        approved,
    )
    .await?)
}

/// `POST /api/runs/{id}/stop`, `/abandon`, `/resume`, `/retry`.
pub(crate) async fn control(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
) -> Answer {
    if !["stop", "abandon", "resume", "retry"].contains(&verb.as_str()) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!("no action `{verb}`"),
        ));
    }
    caller.may(Role::Operator, csrf_header(&headers))?;
    ok(actions::control(&app, &id, &verb).await?)
}

#[derive(Deserialize)]
pub(crate) struct TransitionBody {
    enabled: bool,
    reason: Option<String>,
}

/// `POST /api/pipelines/{name}/transitions/{from}/{to}`.
pub(crate) async fn transition(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((name, from, to)): Path<(String, String, String)>,
    Json(b): Json<TransitionBody>,
) -> Answer {
    caller.may(Role::Operator, csrf_header(&headers))?;
    ok(actions::transition(
        &app,
        &caller,
        &name,
        (&from, &to),
        b.enabled,
        b.reason.as_deref(),
    )
    .await?)
}

#[derive(Deserialize, Default)]
pub(crate) struct RollbackBody {
    to: Option<String>,
}

/// `POST /api/pipelines/{name}/stages/{stage}/rollback`: `{"to": RUN}` optional.
pub(crate) async fn rollback(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path((name, stage)): Path<(String, String)>,
    body: Option<Json<RollbackBody>>,
) -> Answer {
    caller.may(Role::Operator, csrf_header(&headers))?;
    let to = body.and_then(|Json(b)| b.to);
    created(actions::rollback(&app, &name, &stage, to.as_deref()).await?)
}
