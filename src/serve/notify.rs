//! Which notifications are due (`notify` items, docs/serve.md). Each sweep reads the runs
//! of the served pipelines from the history, as `pipec runs` does, and turns what it finds
//! into events: `approval` (an approval action waiting, per attempt), `held` (a stage
//! waiting with no approval waiting in it: a disabled transition or a closed window, per
//! round), `failed` and `succeeded` (the run ended so). Each (URL, event) is recorded in
//! `serve.db` when it is queued, before it is sent, so it is delivered at most once: a
//! restart does not send it again, and an event whose delivery was cut by the restart is
//! lost (reported). The `notify` items and secrets are those of the pipeline as served now.
//!
//! While the server is down nothing is sent. At the next start the sweep sees the runs as
//! they are then: a run that ended meanwhile gets its `failed`/`succeeded`, late (the body's
//! `ended` says when); an approval or a hold still in place is sent; one that began and was
//! resolved while the server was down is not. Runs started before the state directory first
//! served (`NotifyStart` in `serve.db`, recorded when a server first starts on it: the time
//! and the history's last run number) are never notified.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::App;
use super::actions::with_history;
use super::auth::Refusal;
use super::deliver::Delivery;
use super::store::NotifyStart;
use crate::ir::{Ir, NotifyEvent, SecretSource};
use crate::runtime::run::{ActionStatus, RunStatus};
use crate::runtime::status::StageStatus;

/// One event of one run.
struct Event {
    kind: NotifyEvent,
    /// Unique per run and occurrence: `RUN/failed`, `RUN/approval/STAGE.ACTION/ATTEMPT`.
    key: String,
    run: String,
    pipeline: String,
    status: RunStatus,
    stage: Option<String>,
    action: Option<String>,
    ended: Option<String>,
}

/// A served pipeline that notifies.
struct Served {
    ir: Arc<Ir>,
    file: PathBuf,
}

/// Queues the notifications due now.
pub(crate) async fn sweep(app: &Arc<App>) {
    let served: BTreeMap<String, Served> = app
        .pipelines
        .read()
        .map(|p| {
            p.entries
                .iter()
                .filter_map(|e| {
                    let good = e.good.as_ref()?;
                    (!good.ir.pipeline.notify.is_empty()).then(|| {
                        let s = Served {
                            ir: good.ir.clone(),
                            file: e.file.clone(),
                        };
                        (good.ir.pipeline.name.clone(), s)
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if served.is_empty() {
        return;
    }
    let start = match app.store.lock() {
        Ok(store) => store.notify_started(),
        Err(_) => return,
    };
    let start = match start {
        Ok(Some(s)) => s,
        // Recorded when the server started: only a `serve.db` changed under it lacks it.
        Ok(None) => {
            return (app.report)(
                "notifications: serve.db no longer records when notifying began (it was changed under the server); restart `pipec serve` to record it again",
            );
        }
        Err(why) => return (app.report)(&format!("notifications: {why}")),
    };
    let names: Vec<String> = served.keys().cloned().collect();
    let events = with_history(app, move |h| {
        let rows = h.runs(None).map_err(|e| Refusal::from(e.to_string()))?;
        let mut out = Vec::new();
        for r in rows {
            if !names.contains(&r.pipeline) || predates(&r, &start) {
                continue;
            }
            events_of(h, &r, &mut out);
        }
        Ok(out)
    })
    .await;
    match events {
        Ok(events) => queue(app, &served, &events),
        // Tried again at the next sweep.
        Err(why) => (app.report)(&format!(
            "notifications: cannot read the history: {}",
            why.message
        )),
    }
}

/// Whether run `r` predates the first server on the state directory (`NotifyStart`): its
/// number is at most the last one then, and it started before then.
fn predates(r: &crate::runtime::state::RunRow, start: &NotifyStart) -> bool {
    r.seq <= start.after_seq && began_before(&r.started, &start.since)
}

/// Whether a run that started at `started` began before `since`: compared as instants, never
/// as text (a history written by older versions holds `…:05.5Z` and `…:05.51Z`, whose text
/// order is not their time order). A time that does not parse counts as not before, so
/// such a run is notified rather than silently skipped.
fn began_before(started: &str, since: &str) -> bool {
    match (
        started.parse::<jiff::Timestamp>(),
        since.parse::<jiff::Timestamp>(),
    ) {
        (Ok(started), Ok(since)) => started < since,
        _ => false,
    }
}

fn events_of(
    h: &crate::runtime::state::History,
    r: &crate::runtime::state::RunRow,
    out: &mut Vec<Event>,
) {
    let event = |kind, key: String, stage: Option<&str>, action: Option<&str>| Event {
        kind,
        key,
        run: r.id.clone(),
        pipeline: r.pipeline.clone(),
        status: r.status,
        stage: stage.map(str::to_string),
        action: action.map(str::to_string),
        ended: r.finished.clone(),
    };
    match r.status {
        RunStatus::Succeeded => {
            out.push(event(
                NotifyEvent::Succeeded,
                format!("{}/succeeded", r.id),
                None,
                None,
            ));
        }
        RunStatus::Failed => {
            out.push(event(
                NotifyEvent::Failed,
                format!("{}/failed", r.id),
                None,
                None,
            ));
        }
        RunStatus::Running | RunStatus::Waiting => {
            let Ok(Some(rec)) = h.recorded(&r.id) else {
                return;
            };
            if rec.parent.is_some() {
                return;
            }
            for s in rec
                .stages
                .iter()
                .filter(|s| s.status == StageStatus::Waiting)
            {
                let waiting: Vec<_> = s
                    .actions
                    .iter()
                    .filter(|a| a.status == ActionStatus::Waiting)
                    .collect();
                for a in &waiting {
                    let key = format!("{}/approval/{}.{}/{}", r.id, s.name, a.name, a.attempts);
                    out.push(event(
                        NotifyEvent::Approval,
                        key,
                        Some(&s.name),
                        Some(&a.name),
                    ));
                }
                if waiting.is_empty() {
                    let key = format!("{}/held/{}/{}", r.id, s.name, s.rounds);
                    out.push(event(NotifyEvent::Held, key, Some(&s.name), None));
                }
            }
        }
        _ => {}
    }
}

fn queue(app: &Arc<App>, served: &BTreeMap<String, Served>, events: &[Event]) {
    let Ok(store) = app.store.lock() else { return };
    let now = crate::runtime::state::now();
    let mut full = Vec::new();
    // Runs with a notification left for the next sweep.
    let mut held_back = Vec::new();
    for e in events {
        let Some(s) = served.get(&e.pipeline) else {
            continue;
        };
        if e.status.ended() && store.run_noticed(&e.run).unwrap_or(false) {
            continue;
        }
        for n in
            s.ir.pipeline
                .notify
                .iter()
                .filter(|n| n.events.contains(&e.kind))
        {
            let key = format!("{}\u{1f}{}", n.url, e.key);
            match store.first_notice(&key, &now) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(why) => {
                    // Not recorded: the next sweep tries again (the run is not marked).
                    (app.report)(&format!("notifications: {why}"));
                    held_back.push(e.run.clone());
                    continue;
                }
            }
            let about = format!("`{}` of run {}", e.kind.as_str(), e.run);
            let secret = match &n.secret {
                Some(name) => match secret_value(&s.ir, &s.file, name) {
                    Ok(v) => Some(v.into_bytes()),
                    Err(why) => {
                        (app.report)(&format!(
                            "notification {about} to {}: not sent: {why}",
                            n.url
                        ));
                        continue;
                    }
                },
                None => None,
            };
            let d = Delivery {
                id: delivery_id(&key),
                url: n.url.clone(),
                event: e.kind.as_str(),
                body: body(app, e, &delivery_id(&key), &now),
                secret,
                about,
            };
            if app.outbox.try_send(d).is_err() {
                // Full (or stopping): not recorded, so the next sweep queues it again.
                let _ = store.forget_notice(&key);
                full.push(e.run.clone());
                held_back.push(e.run.clone());
            }
        }
    }
    for e in events
        .iter()
        .filter(|e| e.status.ended() && !held_back.contains(&e.run))
    {
        let _ = store.set_run_noticed(&e.run);
    }
    if !full.is_empty() {
        (app.report)("notifications: the queue is full; the rest wait for the next sweep");
    }
}

/// The delivery's id, the same on every attempt: the first 128 bits of SHA-256 of its key.
fn delivery_id(key: &str) -> String {
    use sha2::{Digest as _, Sha256};
    use std::fmt::Write as _;
    Sha256::digest(key.as_bytes())[..16]
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The JSON body: names, ids, statuses and the dashboard's URL only, never a value a run
/// computed (no log line, export or param value, so no secret).
fn body(app: &App, e: &Event, id: &str, now: &str) -> Vec<u8> {
    let doc = serde_json::json!({
        "delivery": id,
        "event": e.kind.as_str(),
        "timestamp": now,
        "pipeline": e.pipeline,
        "run": {
            "id": e.run,
            "status": e.status.as_str(),
            "ended": e.ended,
            "url": format!("{}/runs/{}", app.base_url, e.run),
        },
        "stage": e.stage,
        "action": e.action,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The value of secret `name` of `ir`, read as `pipec run` reads it (relative to the
/// pipeline's file).
fn secret_value(ir: &Ir, file: &Path, name: &str) -> Result<String, String> {
    let s = ir
        .pipeline
        .secrets
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no secret `{name}`"))?;
    let value = match &s.source {
        SecretSource::Env { var } => {
            std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))
        }
        SecretSource::File { path } => {
            let p = file.parent().unwrap_or(Path::new(".")).join(path);
            crate::runtime::bounded::read_text(&p, crate::runtime::bounded::MAX_VALUE)
                .map(|t| t.trim_end_matches('\n').to_string())
                .map_err(|e| format!("cannot read `{}`: {e}", p.display()))
        }
    };
    value.map_err(|why| format!("secret `{name}` has no value: {why}"))
}

#[cfg(test)]
mod tests {
    use super::{NotifyStart, began_before, predates};
    use crate::runtime::run::RunStatus;
    use crate::runtime::state::RunRow;

    fn run(seq: i64, started: &str) -> RunRow {
        RunRow {
            id: format!("20261207-033005-{seq}"),
            pipeline: "p".into(),
            status: RunStatus::Succeeded,
            started: started.into(),
            finished: None,
            seq,
        }
    }

    #[test]
    fn a_run_predates_notifying_only_by_both_its_number_and_its_time() {
        let start = NotifyStart {
            since: "2026-12-07T03:30:05.500Z".into(),
            after_seq: 7,
        };
        assert!(predates(&run(7, "2026-12-07T03:30:05.499Z"), &start));
        assert!(predates(&run(1, "2026-12-01T00:00:00Z"), &start));
        // Recorded after the server started, stamped earlier: the clock was stepped back.
        assert!(!predates(&run(8, "2026-12-07T03:29:00.000Z"), &start));
        // A number used again (the newest runs pruned, or a new history.db), later in time.
        assert!(!predates(&run(3, "2026-12-07T04:00:00.000Z"), &start));
    }

    #[test]
    fn a_run_is_compared_with_the_start_of_notifying_as_a_time_not_as_text() {
        // Text order would put `05.51Z` before `05.5Z` ('1' < 'Z').
        assert!(!began_before(
            "2026-12-07T03:30:05.51Z",
            "2026-12-07T03:30:05.5Z"
        ));
        assert!(!began_before(
            "2026-12-07T03:30:05.3Z",
            "2026-12-07T03:30:05Z"
        ));
        assert!(began_before(
            "2026-12-07T03:30:05.49Z",
            "2026-12-07T03:30:05.5Z"
        ));
        assert!(began_before(
            "2026-12-07T03:30:04.999Z",
            "2026-12-07T03:30:05.000Z"
        ));
        assert!(!began_before(
            "2026-12-07T03:30:05.500Z",
            "2026-12-07T03:30:05.5Z"
        ));
        assert!(!began_before("not a time", "2026-12-07T03:30:05.5Z"));
    }
}
