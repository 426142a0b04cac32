//! Who is asking: API tokens (`Authorization: Bearer TOKEN`), or the session cookie a
//! browser got by logging in with a token. Roles are ordered (an approver may operate and
//! view); a state-changing request made with the cookie must also carry the session's CSRF
//! token (the form field `csrf`, or the header `X-Pipec-Csrf`), compared in constant time.
//! Sessions live in the server's memory (a restart logs browsers out) for twelve hours.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;

use super::App;

/// What a token may do; each role may do what the ones before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    Viewer,
    Operator,
    Approver,
    Admin,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "approver" => Ok(Role::Approver),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

/// The name of the session cookie.
pub(crate) const COOKIE: &str = "pipec_session";
/// The header a script sends the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-pipec-csrf";
const SESSION_LIFE: Duration = Duration::from_secs(12 * 3600);

/// A logged-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) csrf: String,
    expires: Instant,
}

/// The sessions of this server's life.
#[derive(Default)]
pub(crate) struct Sessions(std::sync::Mutex<HashMap<String, Session>>);

impl Sessions {
    /// A new session for `name`: its id (the cookie's value).
    pub(crate) fn open(&self, name: String, role: Role) -> Result<String, String> {
        let id = super::store::random_hex(32)?;
        let csrf = super::store::random_hex(32)?;
        let mut map = self.0.lock().map_err(|_| "sessions poisoned".to_string())?;
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            id.clone(),
            Session {
                name,
                role,
                csrf,
                expires: now + SESSION_LIFE,
            },
        );
        Ok(id)
    }

    fn get(&self, id: &str) -> Option<Session> {
        let map = self.0.lock().ok()?;
        map.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub(crate) fn close(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// The session's CSRF token when the caller came with the cookie.
    pub(crate) csrf: Option<String>,
}

/// Why a request is refused: its status and what to say.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// A page (not the API): send the browser to the login page instead of a 401.
    pub(crate) login: bool,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
            login: false,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if self.login {
            return Redirect::to("/login").into_response();
        }
        (
            self.status,
            axum::Json(serde_json::json!({"error": self.message})),
        )
            .into_response()
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// The value of cookie `name` in `headers`.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Who sent `headers`: a bearer token first, else the session cookie.
pub(crate) fn identify(app: &App, headers: &HeaderMap) -> Result<Option<Caller>, String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        let store = app.store.lock().map_err(|_| "store poisoned".to_string())?;
        return Ok(store
            .authenticate(token.trim())?
            .map(|(name, role)| Caller {
                name,
                role,
                csrf: None,
            }));
    }
    Ok(cookie(headers, COOKIE).and_then(|id| {
        app.sessions.get(id).map(|s| Caller {
            name: s.name,
            role: s.role,
            csrf: Some(s.csrf),
        })
    }))
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Caller, Refusal> {
        match identify(app, &parts.headers)? {
            Some(c) => Ok(c),
            None if app.open_read && parts.method == Method::GET => Ok(Caller {
                name: "anonymous".into(),
                role: Role::Viewer,
                csrf: None,
            }),
            None => {
                let page = parts.method == Method::GET && !parts.uri.path().starts_with("/api/");
                Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    message: "authentication required: send `Authorization: Bearer TOKEN` (`pipec serve token create`)".into(),
                    login: page,
                })
            }
        }
    }
}

impl Caller {
    /// Refuses a caller below `role` (403), and a cookie caller without the session's
    /// CSRF token (`given`, from the form or the header).
    pub(crate) fn may(&self, role: Role, given: Option<&str>) -> Result<(), Refusal> {
        if self.role < role {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "`{}` is a {}: this needs the {} role",
                    self.name,
                    self.role.as_str(),
                    role.as_str()
                ),
            ));
        }
        if let Some(expected) = &self.csrf {
            let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())));
            if !ok {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong CSRF token: reload the page and try again",
                ));
            }
        }
        Ok(())
    }
}

/// The CSRF token a script sent in its header.
pub(crate) fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_before_them() {
        assert!(Role::Admin > Role::Approver);
        assert!(Role::Approver > Role::Operator);
        assert!(Role::Operator > Role::Viewer);
        for r in [Role::Viewer, Role::Operator, Role::Approver, Role::Admin] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; pipec_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
