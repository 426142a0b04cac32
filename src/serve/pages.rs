//! The dashboard: server-rendered HTML (minijinja templates in `templates/`, every value
//! HTML-escaped by the template engine), forms that post to the same actions as the API
//! (with the session's CSRF token), and a run page that follows the run's server-sent
//! events. Pages need a login (a token, exchanged for a session cookie).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Environment, context};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::actions;
use super::api::{Filter, detail, log_text, runs_of};
use super::auth::{COOKIE, Caller, Refusal, Role, cookie};

/// The templates, compiled once.
pub(crate) fn templates() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("message.html", include_str!("templates/message.html")),
        ("index.html", include_str!("templates/index.html")),
        ("runs.html", include_str!("templates/runs.html")),
        ("run.html", include_str!("templates/run.html")),
        ("log.html", include_str!("templates/log.html")),
    ] {
        env.add_template(name, text).map_err(|e| e.to_string())?;
    }
    Ok(env)
}

fn render(app: &App, name: &str, ctx: minijinja::Value) -> Response {
    match app.templates.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template {name}: {e}"),
        )
            .into_response(),
    }
}

/// The values every page shows about the caller.
fn who(c: &Caller) -> minijinja::Value {
    context! {
        who => c.name,
        role => c.role.as_str(),
        csrf => c.csrf.clone().unwrap_or_default(),
        can_operate => c.role >= Role::Operator,
        can_approve => c.role >= Role::Approver,
    }
}

/// A refusal as a page.
fn page_error(app: &App, c: Option<&Caller>, r: &Refusal, back: &str) -> Response {
    let base = c.map(who).unwrap_or_default();
    let mut resp = render(
        app,
        "message.html",
        context! { title => "Refused", message => r.message, back => back, ..base },
    );
    *resp.status_mut() = r.status;
    resp
}

/// `GET /login`.
pub(crate) async fn login_page(State(app): State<Arc<App>>) -> Response {
    render(&app, "login.html", context! {})
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// `POST /login`: a token for a session cookie.
pub(crate) async fn login(State(app): State<Arc<App>>, Form(f): Form<LoginForm>) -> Response {
    let found = app
        .store
        .lock()
        .ok()
        .and_then(|s| s.authenticate(f.token.trim()).ok().flatten());
    let Some((name, role)) = found else {
        let mut resp = render(&app, "login.html", context! { error => "unknown token" });
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        return resp;
    };
    let Ok(id) = app.sessions.open(name, role) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let secure = if app.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(app): State<Arc<App>>,
    c: Caller,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = c.may(Role::Viewer, Some(&f.csrf)) {
        return page_error(&app, Some(&c), &r, "/");
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        app.sessions.close(id);
    }
    let gone = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, gone)], Redirect::to("/login")).into_response()
}

/// How many of a pipeline's newest runs the dashboard looks through for each stage's latest.
const RECENT: usize = 5;

/// `GET /`: each pipeline's stages in order, each with the latest of the recent runs that
/// entered it (as CodePipeline's console shows them), transitions with their switches, and
/// the diagnostics of a file that does not check.
pub(crate) async fn index(State(app): State<Arc<App>>, c: Caller) -> Response {
    let entries = app
        .pipelines
        .read()
        .map(|p| p.entries.clone())
        .unwrap_or_default();
    let all = match runs_of(&app, Filter::default()).await {
        Ok(r) => r,
        Err(r) => return page_error(&app, Some(&c), &r, "/"),
    };
    let mut shown = Vec::new();
    for e in entries {
        let mut recent = Vec::new();
        for r in all
            .iter()
            .filter(|r| e.name.as_ref() == Some(&r.pipeline))
            .take(RECENT)
        {
            if let Ok(d) = detail(&app, &r.id).await {
                recent.push(d);
            }
        }
        let stages: Vec<Value> = e
            .good
            .as_ref()
            .map(|g| {
                g.ir.pipeline
                    .stages
                    .iter()
                    .map(|s| stage_card(s, &recent))
                    .collect()
            })
            .unwrap_or_default();
        shown.push(json!({
            "name": e.name, "file": e.shown, "ok": e.ok,
            "diagnostics": e.diagnostics, "served": e.good.is_some(),
            "run": recent.first().map(|r| json!({"id": r.id, "status": r.status})),
            "stages": stages,
        }));
    }
    render(
        &app,
        "index.html",
        context! { pipelines => shown, ..who(&c) },
    )
}

/// A stage of the pipeline with the latest of `recent` (newest first) that entered it, and
/// its inbound transitions as they are now.
fn stage_card(s: &crate::ir::Stage, recent: &[crate::runtime::state::RunDetail]) -> Value {
    use crate::runtime::status::StageStatus;
    let row_in = |r: &'_ crate::runtime::state::RunDetail| {
        r.stages.iter().find(|x| x.name == s.name).cloned()
    };
    let entered = recent.iter().find_map(|r| {
        row_in(r)
            .filter(|x| !matches!(x.status, StageStatus::Pending | StageStatus::Skipped))
            .map(|x| (r.id.clone(), x))
    });
    let latest = recent.first();
    let (run, row) = match entered {
        Some((id, x)) => (Some(id), Some(x)),
        None => (latest.map(|r| r.id.clone()), latest.and_then(row_in)),
    };
    let actions: Vec<Value> = s
        .actions
        .iter()
        .map(|a| {
            let status = row
                .as_ref()
                .and_then(|r| r.actions.iter().find(|x| x.name == a.name))
                .map_or("pending".to_string(), |x| x.status.to_string());
            json!({"name": a.name, "status": status})
        })
        .collect();
    let inbound: Vec<Value> = s
        .inbound
        .iter()
        .map(|e| {
            let now = latest.and_then(|r| {
                r.transitions
                    .iter()
                    .find(|t| t.from == e.from && t.to == s.name)
            });
            let (disabled, reason) = match now {
                Some(t) => (!t.enabled, t.reason.clone()),
                None => (e.disabled.is_some(), e.disabled.clone()),
            };
            json!({"from": e.from, "disabled": disabled, "reason": reason})
        })
        .collect();
    json!({
        "name": s.name, "run": run,
        "status": row.as_ref().map_or("pending".to_string(), |r| r.status.to_string()),
        "actions": actions, "inbound": inbound,
    })
}

/// `GET /runs?pipeline=&status=&branch=`.
pub(crate) async fn runs(
    State(app): State<Arc<App>>,
    c: Caller,
    Query(f): Query<Filter>,
) -> Response {
    let rows = match runs_of(&app, f.clone()).await {
        Ok(r) => r,
        Err(r) => return page_error(&app, Some(&c), &r, "/"),
    };
    let statuses = [
        "running",
        "waiting",
        "succeeded",
        "failed",
        "stopped",
        "superseded",
    ];
    let filter = json!({"pipeline": f.pipeline, "status": f.status, "branch": f.branch});
    render(
        &app,
        "runs.html",
        context! { runs => rows, filter => filter, statuses => statuses, ..who(&c) },
    )
}

/// `GET /runs/{id}`.
pub(crate) async fn run(
    State(app): State<Arc<App>>,
    c: Caller,
    Path(id): Path<String>,
) -> Response {
    match detail(&app, &id).await {
        Ok(d) => {
            let artifacts = super::artifacts::listing(&app, &d.id).await;
            render(
                &app,
                "run.html",
                context! { run => d, artifacts => artifacts, ..who(&c) },
            )
        }
        Err(r) => page_error(&app, Some(&c), &r, "/runs"),
    }
}

/// `GET /runs/{id}/logs/{stage}.{action}`.
pub(crate) async fn log(
    State(app): State<Arc<App>>,
    c: Caller,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    match log_text(&app, &id, &action).await {
        Ok(text) => {
            let from = text.len();
            render(
                &app,
                "log.html",
                context! { run => id, action => action, text => text, from => from, ..who(&c) },
            )
        }
        Err(r) => page_error(&app, Some(&c), &r, &format!("/runs/{id}")),
    }
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    action: Option<String>,
    comment: Option<String>,
}

/// `POST /runs/{id}/{approve|reject|stop|resume|retry}`: back to the run's page.
pub(crate) async fn run_action(
    State(app): State<Arc<App>>,
    c: Caller,
    Path((id, verb)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    let back = format!("/runs/{id}");
    let result = async {
        match verb.as_str() {
            "approve" | "reject" => {
                c.may(Role::Approver, Some(&f.csrf))?;
                let action = f.action.clone().unwrap_or_default();
                actions::decide(
                    &app,
                    &c,
                    &id,
                    &action,
                    f.comment.as_deref(),
                    verb == "approve",
                )
                .await
                .map(|_| back.clone())
            }
            "stop" | "abandon" | "resume" | "retry" => {
                c.may(Role::Operator, Some(&f.csrf))?;
                actions::control(&app, &id, &verb).await.map(|v| {
                    v["id"]
                        .as_str()
                        .map_or(back.clone(), |i| format!("/runs/{i}"))
                })
            }
            _ => Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no action `{verb}`"),
            )),
        }
    }
    .await;
    match result {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(r) => page_error(&app, Some(&c), &r, &back),
    }
}

/// `POST /pipelines/{name}/runs`: a run started by hand.
pub(crate) async fn start(
    State(app): State<Arc<App>>,
    c: Caller,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let result = async {
        c.may(Role::Operator, Some(&f.csrf))?;
        actions::start(&app, &name, &[]).await
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(r) => page_error(&app, Some(&c), &r, "/"),
    }
}

#[derive(Deserialize)]
pub(crate) struct TransitionForm {
    #[serde(default)]
    csrf: String,
    enabled: String,
    reason: Option<String>,
}

/// `POST /pipelines/{name}/transitions/{from}/{to}`.
pub(crate) async fn transition(
    State(app): State<Arc<App>>,
    c: Caller,
    Path((name, from, to)): Path<(String, String, String)>,
    Form(f): Form<TransitionForm>,
) -> Response {
    let result = async {
        c.may(Role::Operator, Some(&f.csrf))?;
        let enabled = f.enabled == "true";
        actions::transition(&app, &c, &name, (&from, &to), enabled, f.reason.as_deref()).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/").into_response(),
        Err(r) => page_error(&app, Some(&c), &r, "/"),
    }
}

/// `POST /pipelines/{name}/stages/{stage}/rollback`.
pub(crate) async fn rollback(
    State(app): State<Arc<App>>,
    c: Caller,
    Path((name, stage)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let result = async {
        c.may(Role::Operator, Some(&f.csrf))?;
        actions::rollback(&app, &name, &stage, None).await
    }
    .await;
    match result {
        Ok(v) => {
            Redirect::to(&format!("/runs/{}", v["id"].as_str().unwrap_or_default())).into_response()
        }
        Err(r) => page_error(&app, Some(&c), &r, "/"),
    }
}
