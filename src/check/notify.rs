//! `notify "URL" { events = […]  secret = secrets.NAME }`: an outgoing webhook of
//! `pipec serve` (docs/serve.md), checked and lowered to an [`ir::Notify`]; and the `poll`
//! interval of a `push` trigger.
//!
//! The URL must be a plain `http://` or `https://` string with a host (E0304); `events`
//! names [`ir::NotifyEvent`]s (E0201 with "did you mean"); `secret`, which signs each
//! delivery, must name a declared secret (E0301 for anything else). Without `events` the
//! webhook is sent for every event.

use super::Checker;
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, NotifyEvent};

const ATTRS: &[&str] = &["events", "secret"];

/// The most a `poll` interval may be.
const MAX_POLL: u64 = 24 * 60 * 60;

impl Checker<'_> {
    pub(super) fn notify(&mut self, n: &ast::Notify) -> Option<ir::Notify> {
        let url = self.notify_url(&n.url);
        let mut events = None;
        let mut secret = None;
        for a in self.first_set(&n.attrs) {
            let name = a.name.name.as_str();
            match name {
                "events" => events = Some(self.notify_events(a)),
                "secret" => secret = self.notify_secret(a),
                _ => self.report(
                    Diagnostic::new(
                        Code::E0203,
                        format!("unknown attribute `{name}` for `notify`"),
                        a.name.span,
                        "unknown attribute",
                    )
                    .help_opt(self.did_you_mean(name, ATTRS.iter().copied()))
                    .note("`notify` takes events, secret"),
                ),
            }
        }
        Some(ir::Notify {
            url: url?,
            events: events.unwrap_or_else(|| NotifyEvent::ALL.to_vec()),
            secret,
            span: self.ir_span(n.span),
        })
    }

    fn notify_url(&mut self, s: &ast::StrLit) -> Option<String> {
        let Some(url) = s.as_plain() else {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    "the URL of `notify` cannot interpolate values",
                    s.span,
                    "interpolated",
                )
                .help("write the URL itself, like `\"https://hooks.example.com/pipec\"`"),
            );
            return None;
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
        let valid = host.is_some_and(|h| {
            !h.is_empty() && !h.contains('@') && !h.chars().any(char::is_whitespace)
        }) && !url.chars().any(char::is_control);
        if !valid {
            self.report(
                Diagnostic::new(
                    Code::E0304,
                    format!("invalid URL `{url}`"),
                    s.span,
                    if rest.is_none() {
                        "not `http://` or `https://`"
                    } else {
                        "no host"
                    },
                )
                .help("write an `https://HOST/PATH` URL (no user name or password in it)"),
            );
            return None;
        }
        Some(url)
    }

    fn notify_events(&mut self, a: &ast::Attr) -> Vec<NotifyEvent> {
        let Some(items) = self.expect_list(
            a,
            "expected a list of events, like `[approval, failed, succeeded, held]`",
        ) else {
            return vec![];
        };
        let mut out = Vec::new();
        for i in items {
            let id = match &i.kind {
                ExprKind::Path(p) if p.len() == 1 => p[0].clone(),
                _ => {
                    self.report(Diagnostic::new(
                        Code::E0301,
                        "expected an event name",
                        i.span,
                        "not an event",
                    ));
                    continue;
                }
            };
            match NotifyEvent::ALL.iter().find(|e| e.as_str() == id.name) {
                Some(e) if !out.contains(e) => out.push(*e),
                Some(_) => {}
                None => self.unknown(
                    &id,
                    "notify event",
                    NotifyEvent::ALL.iter().map(|e| e.as_str()),
                ),
            }
        }
        out
    }

    fn notify_secret(&mut self, a: &ast::Attr) -> Option<String> {
        let AttrValue::Expr(e) = &a.value else {
            return None;
        };
        match &e.kind {
            ExprKind::Path(p) if p.len() == 2 && p[0].name == "secrets" => {
                let name = &p[1];
                if self.secrets.contains_key(&name.name) {
                    self.used_secrets.insert(name.name.clone());
                    Some(name.name.clone())
                } else {
                    let help =
                        self.did_you_mean(&name.name, self.secrets.keys().map(String::as_str));
                    self.report_unknown(name, "secret", help);
                    None
                }
            }
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::E0301,
                        "`secret` of `notify` must be a `secret`",
                        e.span,
                        "not a secret",
                    )
                    .help("declare `secret HOOK = env(\"VAR\")` and write `secret = secrets.HOOK`"),
                );
                None
            }
        }
    }

    /// A `push` trigger's `poll = DURATION`: a literal from 1s to 1d.
    pub(super) fn poll_interval(&mut self, a: &ast::Attr) -> Option<u64> {
        let AttrValue::Expr(e) = &a.value else {
            return None;
        };
        match e.kind {
            ExprKind::Duration(secs) if (1..=MAX_POLL).contains(&secs) => Some(secs),
            ExprKind::Duration(_) => {
                self.report(
                    Diagnostic::new(
                        Code::E0410,
                        "poll interval is out of range",
                        e.span,
                        "out of range",
                    )
                    .note("a poll interval must be at least 1s and at most 1d"),
                );
                None
            }
            ExprKind::Error => None,
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::E0301,
                        "`poll` takes a duration literal",
                        e.span,
                        "not a duration literal",
                    )
                    .help("write how often to poll, like `poll = 1m`"),
                );
                None
            }
        }
    }
}
