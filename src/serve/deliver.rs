//! Sending notifications (`notify` items, docs/serve.md): a bounded queue the sweep fills
//! (`notify.rs`) and a worker that POSTs each delivery, at most [`PARALLEL`] at once.
//!
//! Each delivery is one JSON body, signed when its `notify` names a secret: HMAC-SHA256 of
//! the exact bytes sent, as `X-Pipec-Signature-256: sha256=HEX` (GitHub's
//! `X-Hub-Signature-256` scheme), with `X-Pipec-Delivery` (the same id on every attempt),
//! `X-Pipec-Event` and `X-Pipec-Timestamp` (Unix seconds; the body's `timestamp` is signed).
//! A 2xx answer delivers it; a connection error, a timeout, 408, 429 or a 5xx is tried again
//! after [`Backoff`] (doubling), up to its attempts; any other answer gives up at once.
//! Redirects are not followed. `https://` uses rustls with the Mozilla roots (webpki-roots).

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use tokio::sync::{Semaphore, mpsc};

/// How many deliveries wait at most; more are left for a later sweep (`notify.rs`).
pub(crate) const QUEUE: usize = 256;
/// How many deliveries are in flight at most.
const PARALLEL: usize = 8;
/// The most one attempt (connection, request and answer) may take.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);

/// One notification to send.
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) event: &'static str,
    pub(crate) body: Vec<u8>,
    /// The value of the `notify`'s secret, when it names one.
    pub(crate) secret: Option<Vec<u8>>,
    /// What the report lines call it (`failed of run ID`).
    pub(crate) about: String,
}

/// How often and how far apart a delivery is tried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) first: Duration,
    pub(crate) attempts: u32,
}

impl Default for Backoff {
    fn default() -> Backoff {
        // 1 + 2 + 4 + 8 + 16 s between six attempts.
        Backoff {
            first: Duration::from_secs(1),
            attempts: 6,
        }
    }
}

type Report = Arc<dyn Fn(&str) + Send + Sync>;

/// Delivers what arrives on `rx` until every sender is gone.
pub(crate) async fn worker(mut rx: mpsc::Receiver<Delivery>, report: Report, backoff: Backoff) {
    let slots = Arc::new(Semaphore::new(PARALLEL));
    while let Some(d) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let report = report.clone();
        tokio::spawn(async move {
            deliver(&d, &report, backoff).await;
            drop(slot);
        });
    }
}

async fn deliver(d: &Delivery, report: &Report, backoff: Backoff) {
    let mut wait = backoff.first;
    for attempt in 1..=backoff.attempts.max(1) {
        let outcome = tokio::time::timeout(ATTEMPT_LIMIT, send(d))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {ATTEMPT_LIMIT:?}")));
        let why = match outcome {
            Ok(status) if (200..300).contains(&status) => {
                report(&format!("notification {} to {}: delivered", d.about, d.url));
                return;
            }
            Ok(status) if !matches!(status, 408 | 429 | 500..=599) => {
                report(&format!(
                    "notification {} to {}: refused with {status}; not sent again",
                    d.about, d.url
                ));
                return;
            }
            Ok(status) => format!("answered {status}"),
            Err(why) => why,
        };
        if attempt == backoff.attempts.max(1) {
            report(&format!(
                "notification {} to {}: {why}; gave up after {attempt} attempts",
                d.about, d.url
            ));
            return;
        }
        report(&format!(
            "notification {} to {}: {why}; trying again in {wait:?}",
            d.about, d.url
        ));
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
}

/// `sha256=HEX` of `body` under `secret`.
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    use std::fmt::Write as _;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        // HMAC takes a key of any length.
        unreachable!("HMAC refused a key");
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .fold(String::from("sha256="), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// One attempt: the HTTP status of the answer.
async fn send(d: &Delivery) -> Result<u16, String> {
    let uri: hyper::Uri = d.url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("no host in the URL")?;
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map_or_else(|| host.to_string(), ToString::to_string);
    let target = uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let stamp = jiff::Timestamp::now().as_second().to_string();
    let mut req = hyper::Request::post(target)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("pipec/", env!("CARGO_PKG_VERSION")),
        )
        .header("X-Pipec-Delivery", &d.id)
        .header("X-Pipec-Event", d.event)
        .header("X-Pipec-Timestamp", stamp);
    if let Some(secret) = &d.secret {
        req = req.header("X-Pipec-Signature-256", signature(secret, &d.body));
    }
    let req = req
        .body(axum::body::Body::from(d.body.clone()))
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    if !https {
        return exchange(hyper_util::rt::TokioIo::new(tcp), req).await;
    }
    let name =
        rustls::pki_types::ServerName::try_from(bare).map_err(|e| format!("bad host name: {e}"))?;
    let tls = connector()?
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    exchange(hyper_util::rt::TokioIo::new(tls), req).await
}

async fn exchange<I>(io: I, req: hyper::Request<axum::body::Body>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driving = tokio::spawn(conn);
    let answer = sender.send_request(req).await.map_err(|e| e.to_string());
    driving.abort();
    Ok(answer?.status().as_u16())
}

fn connector() -> Result<tokio_rustls::TlsConnector, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // Reason: ring, as in `tls.rs`.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
