//! A log followed live: `GET /api/runs/{id}/logs/{stage}.{action}/events?from=BYTES` sends
//! the masked log of the action's latest attempt as server-sent events (`event: log`, the
//! new text as a JSON string; `event: attempt` when a new attempt's log starts, then its text), from byte
//! `from` on, until the action has ended and its log is read to the end (or the server
//! stops). The log file is the one the history names (or, while the attempt runs, the one
//! the state directory's layout names for it); it is read in bounded pieces.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::App;
use super::api::{action_row, detail};
use super::auth::{Caller, Refusal};

/// The most read from a log at once.
const PIECE: u64 = 256 * 1024;

#[derive(Deserialize, Default)]
pub(crate) struct From {
    #[serde(default)]
    from: u64,
}

/// Where the action's latest log is, and whether the action has ended.
async fn latest(
    app: &Arc<App>,
    run: &str,
    action: &str,
) -> Result<(Option<String>, bool), Refusal> {
    let d = detail(app, run).await?;
    let row = action_row(&d, action)?;
    let ended = d.status.ended() || row.finished.is_some();
    // While an attempt runs the history has not named its log yet: it is the attempt's
    // name in the state directory's layout (`STAGE.ACTION.ATTEMPT.log`).
    let running = (row.attempts > 0 && row.finished.is_none()).then(|| {
        let layout = crate::runtime::state::Layout::of(&app.state_dir);
        let file = layout.log(&d.id, &format!("{action}.{}", row.attempts));
        file.to_string_lossy().into_owned()
    });
    Ok((running.or_else(|| row.log.clone()), ended))
}

/// Up to `PIECE` bytes of `path` from `offset`, as text (a character cut at the end of a
/// piece comes whole with the next one).
fn piece(path: &str, offset: u64) -> Option<(String, u64)> {
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::new();
    f.take(PIECE).read_to_end(&mut buf).ok()?;
    let valid = match std::str::from_utf8(&buf) {
        // A character cut by the end of the piece: it comes whole with the next one.
        Err(e) if buf.len() - e.valid_up_to() < 4 && e.error_len().is_none() => e.valid_up_to(),
        _ => buf.len(),
    };
    let text = String::from_utf8_lossy(&buf[..valid]).into_owned();
    Some((text, offset + valid as u64))
}

struct Follow {
    app: Arc<App>,
    run: String,
    action: String,
    path: Option<String>,
    offset: u64,
    done: bool,
}

/// `GET /api/runs/{id}/logs/{stage}.{action}/events`.
pub(crate) async fn events(
    State(app): State<Arc<App>>,
    _: Caller,
    Path((run, action)): Path<(String, String)>,
    Query(q): Query<From>,
) -> Result<Response, Refusal> {
    let (path, _) = latest(&app, &run, &action).await?;
    let state = Follow {
        app,
        run,
        action,
        path,
        offset: q.from,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut f| async move {
        if f.done {
            return None;
        }
        let mut stop = f.app.stopping.clone();
        loop {
            let (path, ended) = latest(&f.app, &f.run, &f.action).await.ok()?;
            if path != f.path {
                f.path = path;
                f.offset = 0;
                let event = Event::default().event("attempt").data("");
                return Some((Ok::<_, std::convert::Infallible>(event), f));
            }
            let read = match &f.path {
                Some(p) => {
                    let (p, at) = (p.clone(), f.offset);
                    tokio::task::spawn_blocking(move || piece(&p, at))
                        .await
                        .ok()
                        .flatten()
                }
                None => None,
            };
            if let Some((text, next)) = read.filter(|(t, _)| !t.is_empty()) {
                f.offset = next;
                // JSON text: a line break or carriage return stays inside one event.
                let data = serde_json::to_string(&text).unwrap_or_default();
                return Some((Ok(Event::default().event("log").data(data)), f));
            }
            if ended {
                f.done = true;
                return Some((Ok(Event::default().event("end").data("")), f));
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => return None,
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
