//! Webhooks: GitHub (`X-Hub-Signature-256`), GitLab (`X-Gitlab-Token`) and a generic signed
//! JSON hook (`X-Pipec-Signature-256`). A request is authenticated before its body is read
//! as JSON (HMAC-SHA256 of the raw body, or the token, compared in constant time); a
//! delivery id seen before starts nothing; the event becomes the facts `pipec run --event
//! --branch --tag --commit --pr-event --changed` takes, and every served pipeline whose
//! triggers accept them (`runtime::trigger::decide`, the code `pipec run` uses) starts a run.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use super::App;
use super::auth::Refusal;
use super::launch::Facts;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Whether `header` is `sha256=HEX`, the HMAC-SHA256 of `body` with `secret`; the
/// comparison takes the same time wherever the first difference is.
pub(crate) fn signed(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(unhex)
    else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The HMAC header value of `body` (for tests and the documentation's examples).
#[cfg(test)]
pub(crate) fn sign(secret: &[u8], body: &[u8]) -> String {
    use std::fmt::Write as _;
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let hex = mac
        .finalize()
        .into_bytes()
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    format!("sha256={hex}")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn secret(app: &App) -> Result<&[u8], Refusal> {
    app.webhook_secret.as_deref().ok_or_else(|| {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "no webhook secret is configured (`--webhook-secret-file` or `PIPEC_WEBHOOK_SECRET`)",
        )
    })
}

/// Whether the request proves it knows the webhook secret (`proves`, given the secret); the
/// refusal names the header that carries the proof.
fn verified(app: &App, proof: &str, proves: impl FnOnce(&[u8]) -> bool) -> Result<(), Refusal> {
    if proves(secret(app)?) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            format!("missing or wrong `{proof}`"),
        ))
    }
}

fn parse(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })
}

/// `POST /hooks/github`.
pub(crate) async fn github(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = verified(&app, "X-Hub-Signature-256", |secret| {
        signed(secret, &body, header(&headers, "x-hub-signature-256"))
    }) {
        return r.into_response();
    }
    let result = async {
        let payload = parse(&body)?;
        let facts = match header(&headers, "x-github-event").unwrap_or_default() {
            "ping" => None,
            "push" => github_push(&payload),
            "pull_request" => github_pull_request(&payload),
            other => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("unsupported `X-GitHub-Event` `{other}` (push, pull_request, ping)"),
                ));
            }
        };
        fire(&app, "github", header(&headers, "x-github-delivery"), facts).await
    }
    .await;
    answer(result)
}

/// `POST /hooks/gitlab`.
pub(crate) async fn gitlab(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = verified(&app, "X-Gitlab-Token", |secret| {
        let given = header(&headers, "x-gitlab-token").unwrap_or_default();
        bool::from(given.as_bytes().ct_eq(secret))
    }) {
        return r.into_response();
    }
    let result = async {
        let payload = parse(&body)?;
        let facts = match payload["object_kind"].as_str().unwrap_or_default() {
            "push" | "tag_push" => gitlab_push(&payload),
            "merge_request" => gitlab_merge_request(&payload),
            other => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("unsupported GitLab event `{other}` (push, tag_push, merge_request)"),
                ));
            }
        };
        let delivery =
            header(&headers, "x-gitlab-event-uuid").or_else(|| header(&headers, "idempotency-key"));
        fire(&app, "gitlab", delivery, facts).await
    }
    .await;
    answer(result)
}

/// `POST /hooks/generic`: `{"event", "branch", "tag", "commit", "pr_event", "changed",
/// "delivery"}`.
pub(crate) async fn generic(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = verified(&app, "X-Pipec-Signature-256", |secret| {
        signed(secret, &body, header(&headers, "x-pipec-signature-256"))
    }) {
        return r.into_response();
    }
    let result = async {
        let p = parse(&body)?;
        let event = p["event"].as_str().unwrap_or_default();
        if !["push", "pull_request", "schedule", "manual"].contains(&event) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "`event` must be push, pull_request, schedule or manual",
            ));
        }
        let facts = Facts {
            event: (event != "manual").then(|| event.to_string()),
            branch: text(&p["branch"]),
            tag: text(&p["tag"]),
            commit: text(&p["commit"]),
            pr_event: text(&p["pr_event"]),
            changed: strings(&p["changed"]),
        };
        let delivery = p["delivery"].as_str().map(str::to_string);
        fire(&app, "generic", delivery.as_deref(), Some(facts)).await
    }
    .await;
    answer(result)
}

fn answer(result: Result<Vec<String>, Refusal>) -> Response {
    match result {
        Ok(runs) => (StatusCode::ACCEPTED, axum::Json(json!({"runs": runs}))).into_response(),
        Err(r) => r.into_response(),
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The changed paths of a push's commits (added, modified, removed), once each.
fn changed_in(commits: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in commits.as_array().into_iter().flatten() {
        for key in ["added", "modified", "removed"] {
            for p in strings(&c[key]) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// `refs/heads/B` or `refs/tags/T`.
fn ref_facts(r: &str, facts: &mut Facts) {
    if let Some(b) = r.strip_prefix("refs/heads/") {
        facts.branch = Some(b.to_string());
    } else if let Some(t) = r.strip_prefix("refs/tags/") {
        facts.tag = Some(t.to_string());
    }
}

fn github_push(p: &Value) -> Option<Facts> {
    // A deleted branch or tag has nothing to build.
    if p["deleted"].as_bool() == Some(true) {
        return None;
    }
    let mut f = Facts {
        event: Some("push".into()),
        commit: text(&p["after"]),
        changed: changed_in(&p["commits"]),
        ..Facts::default()
    };
    ref_facts(p["ref"].as_str().unwrap_or_default(), &mut f);
    Some(f)
}

/// A pull request's branch is the one it merges into (CodePipeline's filter).
fn github_pull_request(p: &Value) -> Option<Facts> {
    let pr_event = match p["action"].as_str()? {
        "opened" | "reopened" => "opened",
        "synchronize" | "edited" => "updated",
        "closed" => "closed",
        _ => return None,
    };
    let pr = &p["pull_request"];
    Some(Facts {
        event: Some("pull_request".into()),
        branch: text(&pr["base"]["ref"]),
        commit: text(&pr["head"]["sha"]),
        pr_event: Some(pr_event.into()),
        ..Facts::default()
    })
}

fn gitlab_push(p: &Value) -> Option<Facts> {
    let after = p["after"].as_str().unwrap_or_default();
    if after.chars().all(|c| c == '0') {
        return None;
    }
    let mut f = Facts {
        event: Some("push".into()),
        commit: text(&p["checkout_sha"]).or_else(|| text(&p["after"])),
        changed: changed_in(&p["commits"]),
        ..Facts::default()
    };
    ref_facts(p["ref"].as_str().unwrap_or_default(), &mut f);
    Some(f)
}

fn gitlab_merge_request(p: &Value) -> Option<Facts> {
    let a = &p["object_attributes"];
    let pr_event = match a["action"].as_str()? {
        "open" | "reopen" => "opened",
        "update" => "updated",
        "close" | "merge" => "closed",
        _ => return None,
    };
    Some(Facts {
        event: Some("pull_request".into()),
        branch: text(&a["target_branch"]),
        commit: text(&a["last_commit"]["id"]),
        pr_event: Some(pr_event.into()),
        ..Facts::default()
    })
}

/// Records the delivery (a replay starts nothing) and starts the runs `facts` trigger.
async fn fire(
    app: &Arc<App>,
    source: &str,
    delivery: Option<&str>,
    facts: Option<Facts>,
) -> Result<Vec<String>, Refusal> {
    if let Some(id) = delivery {
        let first = {
            let store = app.store.lock().map_err(|_| "store poisoned".to_string())?;
            store.first_delivery(source, id, &crate::runtime::state::now())?
        };
        if !first {
            (app.report)(&format!("{source} delivery {id} seen before: ignored"));
            return Ok(Vec::new());
        }
    }
    let Some(facts) = facts else {
        return Ok(Vec::new());
    };
    Ok(super::actions::trigger(app, &facts).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_checked_over_the_exact_body() {
        let s = sign(b"secret", b"{}");
        assert!(signed(b"secret", b"{}", Some(&s)));
        assert!(!signed(b"secret", b"{} ", Some(&s)));
        assert!(!signed(b"other", b"{}", Some(&s)));
        assert!(!signed(b"secret", b"{}", None));
        assert!(!signed(b"secret", b"{}", Some("sha256=zz")));
        assert!(!signed(
            b"secret",
            b"{}",
            Some(s.trim_start_matches("sha256="))
        ));
    }

    #[test]
    fn a_push_gives_branch_commit_and_changed_paths() {
        let p = json!({"ref": "refs/heads/main", "after": "abc",
            "commits": [{"added": ["a"], "modified": ["b"], "removed": []},
                        {"added": [], "modified": ["b", "c"], "removed": ["d"]}]});
        let f = github_push(&p).expect("facts");
        assert_eq!(f.branch.as_deref(), Some("main"));
        assert_eq!(f.commit.as_deref(), Some("abc"));
        assert_eq!(f.changed, ["a", "b", "c", "d"]);
        let tag = github_push(&json!({"ref": "refs/tags/v1", "after": "x"})).expect("facts");
        assert_eq!((tag.tag.as_deref(), tag.branch), (Some("v1"), None));
        assert!(github_push(&json!({"ref": "refs/heads/x", "deleted": true})).is_none());
    }

    #[test]
    fn a_pull_request_is_filtered_on_its_base_branch() {
        let p = json!({"action": "synchronize",
            "pull_request": {"base": {"ref": "main"}, "head": {"ref": "topic", "sha": "f00"}}});
        let f = github_pull_request(&p).expect("facts");
        assert_eq!(f.branch.as_deref(), Some("main"));
        assert_eq!(f.pr_event.as_deref(), Some("updated"));
    }
}
