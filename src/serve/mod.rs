//! `pipec serve`: one process that serves the pipelines under some paths, fires their
//! triggers (webhooks, schedules), lets held runs go on, and serves a dashboard and a JSON
//! API over HTTP (docs/serve.md).
//!
//! Input: the `Options` the command line builds (a `Source` of checked pipelines, the state
//! directory, limits). Output: nothing but its effects; it reports what it does through
//! `Options::report`, which the CLI prints (this module never prints).
//!
//! Method: an HTTP/1 server (hyper, with axum's router) on a tokio runtime; every request is
//! authenticated (`auth.rs`) before anything is read or done. Runs are `pipec` processes
//! (`launch.rs`), so the server shares every decision with the command line and the run
//! history with any other pipec on the same state directory. Background tasks: reload the
//! pipelines when their files change, fire schedules (`schedule.rs`), and sweep the history
//! (approval timeouts settle; runs whose process is gone — a crash, a restart — are resumed).
//!
//! Limits: HTTP/1 only (with TLS by rustls when asked, `tls.rs`); sessions are in memory.

#![allow(clippy::disallowed_methods)] // Reason: the server reads files, the clock and the environment.

mod actions;
mod api;
mod artifacts;
mod auth;
mod deliver;
mod follow;
mod hooks;
mod launch;
mod notify;
mod pages;
mod pipelines;
mod poll;
mod schedule;
mod store;
mod sweep;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub(crate) use auth::Role;
pub(crate) use pipelines::{Loaded, Source};
pub(crate) use store::Store;

/// Bounds on what a client may send and how long it may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The largest request body (413 above).
    pub(crate) body: usize,
    /// How long a request may take to be answered (reading its body included; 408 after).
    pub(crate) request: Duration,
    /// How long a client may take to send a request's headers (the connection is closed).
    pub(crate) headers: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body: 1 << 20,
            request: Duration::from_secs(30),
            headers: Duration::from_secs(10),
        }
    }
}

/// How the server runs.
pub(crate) struct Options {
    pub(crate) listen: SocketAddr,
    pub(crate) state_dir: PathBuf,
    pub(crate) webhook_secret: Option<Vec<u8>>,
    /// The `pipec` binary that runs the runs.
    pub(crate) pipec: PathBuf,
    pub(crate) source: Box<dyn Source>,
    pub(crate) report: Arc<dyn Fn(&str) + Send + Sync>,
    pub(crate) limits: Limits,
    /// Whether `GET` pages and API routes answer without credentials (as a viewer).
    pub(crate) open_read: bool,
    /// How often files are looked at for changes, schedules checked and held runs swept.
    pub(crate) tick: Duration,
    /// How often `git` sources are polled when their pipeline's `push` triggers set no
    /// `poll` (none: never).
    pub(crate) poll: Option<Duration>,
    /// The certificate chain and key files: serve HTTPS.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
}

/// What handlers share.
pub(crate) struct App {
    pub(crate) state_dir: PathBuf,
    pub(crate) webhook_secret: Option<Vec<u8>>,
    pub(crate) store: Mutex<Store>,
    pub(crate) sessions: auth::Sessions,
    pub(crate) pipelines: RwLock<pipelines::Pipelines>,
    pub(crate) launcher: launch::Launcher,
    pub(crate) report: Arc<dyn Fn(&str) + Send + Sync>,
    pub(crate) templates: minijinja::Environment<'static>,
    pub(crate) open_read: bool,
    pub(crate) tls: bool,
    /// Set when the server stops (event streams end).
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
    /// `http(s)://ADDR`, what notifications link to.
    pub(crate) base_url: String,
    /// The queue of notifications (`deliver.rs`).
    pub(crate) outbox: tokio::sync::mpsc::Sender<deliver::Delivery>,
}

/// A bound server, not yet serving.
pub(crate) struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    source: Box<dyn Source>,
    limits: Limits,
    tick: Duration,
    poll: Option<Duration>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    outbox: tokio::sync::mpsc::Receiver<deliver::Delivery>,
}

impl Server {
    /// Opens the state directory, loads the pipelines and binds the address.
    pub(crate) async fn bind(opts: Options) -> Result<Server, String> {
        let store = Store::open(&opts.state_dir)?;
        // Creates the history (and says why it cannot) before the first request.
        let history =
            crate::runtime::state::History::open(&opts.state_dir).map_err(|e| e.to_string())?;
        // Notifications cover every run started from now on, also one started before the
        // first sweep (a busy machine may take seconds to get there).
        let last_seq = history.last_seq().map_err(|e| e.to_string())?;
        drop(history);
        store.notify_start(&crate::runtime::state::now(), last_seq)?;
        let mut pipelines = pipelines::Pipelines::default();
        let ir_dir = crate::runtime::state::Layout::of(&opts.state_dir).serve_ir();
        for said in pipelines
            .refresh(opts.source.as_ref(), &ir_dir)
            .unwrap_or_default()
        {
            (opts.report)(&said);
        }
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
        let tls = match &opts.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        let (stop_tx, stopping) = tokio::sync::watch::channel(false);
        let (outbox, outbox_rx) = tokio::sync::mpsc::channel(deliver::QUEUE);
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let base_url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        let app = App {
            state_dir: opts.state_dir.clone(),
            webhook_secret: opts.webhook_secret,
            store: Mutex::new(store),
            sessions: auth::Sessions::default(),
            pipelines: RwLock::new(pipelines),
            launcher: launch::Launcher {
                pipec: opts.pipec,
                state_dir: opts.state_dir,
                report: opts.report.clone(),
            },
            report: opts.report,
            templates: pages::templates()?,
            open_read: opts.open_read,
            tls: tls.is_some(),
            stopping,
            base_url,
            outbox,
        };
        Ok(Server {
            listener,
            app: Arc::new(app),
            source: opts.source,
            limits: opts.limits,
            tick: opts.tick,
            poll: opts.poll,
            tls,
            stop_tx,
            outbox: outbox_rx,
        })
    }

    /// The address it listens on (the port chosen when 0 was asked).
    pub(crate) fn addr(&self) -> Result<SocketAddr, String> {
        self.listener.local_addr().map_err(|e| e.to_string())
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets requests in progress end
    /// (for up to ten seconds) and returns. Runs go on in their own processes.
    pub(crate) async fn run(self) -> Result<(), String> {
        let Server {
            listener,
            app,
            source,
            limits,
            tick,
            poll,
            tls,
            stop_tx,
            outbox,
        } = self;
        let router = router(app.clone(), limits);
        tokio::spawn(deliver::worker(
            outbox,
            app.report.clone(),
            deliver::Backoff::default(),
        ));
        tokio::spawn(background(app.clone(), source, tick));
        tokio::spawn(poll::poll_loop(app.clone(), poll));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.headers);
        let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let service = hyper_util::service::TowerToHyperService::new(router.clone());
                    let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
                    tokio::spawn(async move {
                        let Some(acceptor) = tls else {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = watcher.watch(http.serve_connection(io, service)).await;
                            return;
                        };
                        // A handshake is bounded like the headers that follow it.
                        let shake = tokio::time::timeout(limits.headers, acceptor.accept(stream));
                        if let Ok(Ok(stream)) = shake.await {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = watcher.watch(http.serve_connection(io, service)).await;
                        }
                    });
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        (app.report)("stopping: no new requests; runs go on in their own processes");
        drop(listener);
        let _ = stop_tx.send(true);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
        Ok(())
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, String> {
    tokio::signal::unix::signal(kind).map_err(|e| format!("cannot handle signals: {e}"))
}

/// Every route (docs/serve.md), with the body limit and the request timeout.
fn router(app: Arc<App>, limits: Limits) -> Router {
    let timeout = limits.request;
    Router::new()
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/", get(pages::index))
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/logs/{action}", get(pages::log))
        .route("/runs/{id}/{verb}", post(pages::run_action))
        .route("/pipelines/{name}/runs", post(pages::start))
        .route(
            "/pipelines/{name}/transitions/{from}/{to}",
            post(pages::transition),
        )
        .route(
            "/pipelines/{name}/stages/{stage}/rollback",
            post(pages::rollback),
        )
        .route("/api/pipelines", get(api::pipelines))
        .route("/api/pipelines/{name}/runs", post(api::start))
        .route(
            "/api/pipelines/{name}/transitions/{from}/{to}",
            post(api::transition),
        )
        .route(
            "/api/pipelines/{name}/stages/{stage}/rollback",
            post(api::rollback),
        )
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/logs/{action}", get(api::logs))
        .route("/api/runs/{id}/logs/{action}/events", get(follow::events))
        .route("/api/runs/{id}/events", get(api::events))
        .route("/api/runs/{id}/artifacts", get(artifacts::list))
        .route(
            "/api/runs/{id}/artifacts/{name}/{*path}",
            get(artifacts::download),
        )
        .route("/api/runs/{id}/{verb}", post(api::decide))
        .route("/hooks/github", post(hooks::github))
        .route("/hooks/gitlab", post(hooks::gitlab))
        .route("/hooks/generic", post(hooks::generic))
        .layer(DefaultBodyLimit::max(limits.body))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| in_time(req, next, timeout),
        ))
        .with_state(app)
}

/// Answers 408 when a request (its body included) takes longer than `limit`.
async fn in_time(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "the request took too long\n").into_response(),
    }
}

/// Sweeps of held runs happen every this many ticks.
const SWEEP_TICKS: u64 = 3;

/// Reloads pipelines and fires schedules every `tick`, and sweeps held runs every few. At start it also
/// resumes the runs a previous server (or any pipec) left running without a process.
async fn background(app: Arc<App>, source: Box<dyn Source>, tick: Duration) {
    let source: Arc<dyn Source> = Arc::from(source);
    let ir_dir = crate::runtime::state::Layout::of(&app.state_dir).serve_ir();
    let mut every = tokio::time::interval(tick);
    for n in 0u64.. {
        every.tick().await;
        if *app.stopping.borrow() {
            return;
        }
        let (src, dir, a) = (source.clone(), ir_dir.clone(), app.clone());
        let said = tokio::task::spawn_blocking(move || {
            let mut p = a.pipelines.read().map(|p| p.clone()).unwrap_or_default();
            let said = p.refresh(src.as_ref(), &dir)?;
            if let Ok(mut w) = a.pipelines.write() {
                *w = p;
            }
            Some(said)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
        for s in said {
            (app.report)(&s);
        }
        fire_schedules(&app).await;
        // The sweep reads every run of the history: every few ticks (and at start).
        if n % SWEEP_TICKS == 0 {
            sweep::sweep(&app).await;
            notify::sweep(&app).await;
        }
    }
}

/// Starts the runs of the schedules due now.
async fn fire_schedules(app: &Arc<App>) {
    let entries = app
        .pipelines
        .read()
        .map(|p| p.entries.clone())
        .unwrap_or_default();
    let now = jiff::Timestamp::now();
    for e in entries {
        let Some(good) = &e.good else { continue };
        for (index, t) in good.ir.pipeline.triggers.iter().enumerate() {
            let Some(cron) = &t.cron else { continue };
            let s = schedule::Schedule {
                pipeline: &good.ir.pipeline.name,
                index,
                cron,
                tz: t.tz.as_deref(),
            };
            let fire = match app.store.lock() {
                Ok(store) => s.check(&store, now),
                Err(_) => return,
            };
            match fire {
                Ok(schedule::Fire::Now { missed, .. }) => {
                    if missed > 1 {
                        (app.report)(&format!(
                            "schedule `{cron}` of `{}`: {missed} fires were missed; one run for the latest",
                            good.ir.pipeline.name
                        ));
                    }
                    let facts = launch::Facts {
                        event: Some("schedule".into()),
                        ..launch::Facts::default()
                    };
                    let args = launch::run_args(&e.file, &good.ir_file, &facts, &[]);
                    match app.launcher.start(&args).await {
                        Ok(id) => (app.report)(&format!(
                            "run {id} of `{}` started by its schedule `{cron}`",
                            good.ir.pipeline.name
                        )),
                        Err(said) => (app.report)(&format!(
                            "schedule of `{}` did not start a run: {}",
                            good.ir.pipeline.name, said.text
                        )),
                    }
                }
                Ok(_) => {}
                Err(why) => {
                    (app.report)(&format!("schedule of `{}`: {why}", good.ir.pipeline.name));
                }
            }
        }
    }
}
