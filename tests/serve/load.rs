//! The load run of `pipec serve` (`bash bench/serve-load.sh`, docs/serve.md "Load"): many
//! webhook deliveries at once (none lost, none doubled, replays start nothing), then the
//! dashboard and the API at a steady request rate while runs write logs and event streams
//! follow them: errors, latency percentiles, the server's memory. Loopback only; bounded by
//! `PIPEC_LOAD_HOOKS` (200), `PIPEC_LOAD_RPS` (500), `PIPEC_LOAD_SECS` (10).

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{self, Served, sign};

const HOOKED: &str = r#"pipeline hooked {
  trigger push { branches = ["main"] }
  stage build { action a: sh { run = "echo built" } }
}
"#;

const CHATTY: &str = r#"pipeline chatty {
  trigger push { branches = ["elsewhere"] }
  stage talk { action a: sh { run = "for i in $(seq 1 150); do echo line $i; sleep 0.1; done" } }
}
"#;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Reason: an index into a short list.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn memory(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends `n` distinct deliveries at once: the run ids of the answers, and the errors.
fn deliveries(s: &Arc<Served>, n: u64, tag: &str) -> (Vec<String>, Vec<String>) {
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let s = s.clone();
            let tag = tag.to_string();
            std::thread::spawn(move || {
                let body = format!(
                    r#"{{"event": "push", "branch": "main", "commit": "c{i}", "delivery": "{tag}-{i}"}}"#
                );
                let sig = sign(body.as_bytes());
                s.post("/hooks/generic", &[("X-Pipec-Signature-256", &sig)], body.as_bytes())
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for t in threads {
        match t.join() {
            Ok((202, body)) => ids.extend(client::ids(&body)),
            Ok((status, body)) => errors.push(format!("{status}: {body}")),
            Err(_) => errors.push("a client thread panicked".into()),
        }
    }
    (ids, errors)
}

#[test]
#[ignore = "a load run: bash bench/serve-load.sh"]
fn serve_load() {
    let hooks = var("PIPEC_LOAD_HOOKS", 200);
    let rps = var("PIPEC_LOAD_RPS", 500).max(1);
    let secs = var("PIPEC_LOAD_SECS", 10).max(1);
    let s = Arc::new(Served::start(
        &[("hooked.pipe", HOOKED), ("chatty.pipe", CHATTY)],
        &["--request-timeout", "120s"],
    ));
    triggers(&s, hooks);
    println!("server memory after the deliveries: {}", memory(s.pid()));
    let streams = follow(&s, 4);
    let (all, failures) = requests(&s, rps, secs);
    #[allow(clippy::cast_precision_loss)] // Reason: a count of requests.
    let rate = all.len() as f64 / secs as f64;
    println!(
        "requests: {} in {secs} s ({rate:.0}/s, asked {rps}/s), {} errors; latency p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}",
        all.len(),
        failures.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default()
    );
    println!("server memory after the requests: {}", memory(s.pid()));
    let events: usize = streams.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    println!("event streams: 4 runs followed, {events} events");
    assert!(
        failures.is_empty(),
        "{:?}",
        &failures[..failures.len().min(5)]
    );
}

/// `hooks` deliveries at once, then the same again: every first one starts one run, no
/// replay starts any.
fn triggers(s: &Arc<Served>, hooks: u64) {
    let start = Instant::now();
    let (ids, errors) = deliveries(s, hooks, "first");
    let took = start.elapsed();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    println!(
        "deliveries: {hooks} at once in {took:.2?}: {} runs, {} distinct, {} errors",
        ids.len(),
        unique.len(),
        errors.len()
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(unique.len(), ids.len(), "a run id answered twice");
    assert_eq!(ids.len() as u64, hooks, "lost triggers");
    let (again, errors) = deliveries(s, hooks, "first");
    println!(
        "replayed: {hooks} at once: {} runs, {} errors",
        again.len(),
        errors.len()
    );
    assert!(
        again.is_empty() && errors.is_empty(),
        "{again:?} {errors:?}"
    );
    let recorded = s
        .runs()
        .iter()
        .filter(|r| r["pipeline"] == "hooked")
        .count();
    assert_eq!(recorded as u64, hooks, "the history has {recorded} runs");
}

/// Starts `n` runs that write logs for 15 s, each followed by an event stream: the threads
/// reading them (each ends with its count of events).
fn follow(s: &Arc<Served>, n: usize) -> Vec<std::thread::JoinHandle<usize>> {
    (0..n)
        .map(|_| {
            let id = s.start_run("chatty");
            let url = s.url(&format!("/api/runs/{id}/events"));
            let token = s.viewer.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let auth = format!("Bearer {token}");
                let Ok(mut r) = agent.get(&url).header("Authorization", &auth).call() else {
                    return 0;
                };
                let mut reader = r.body_mut().as_reader();
                let (mut buf, mut events) = ([0u8; 4096], 0);
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    events += buf[..n].windows(10).filter(|w| w == b"event: run").count();
                }
                events
            })
        })
        .collect()
}

/// Pages and API routes at `rps` requests/s for `secs` seconds from 16 threads: the sorted
/// latencies and the failures.
fn requests(s: &Arc<Served>, rps: u64, secs: u64) -> (Vec<Duration>, Vec<String>) {
    let run = s.runs()[0]["id"].as_str().unwrap_or_default().to_string();
    let paths = [
        "/api/runs".to_string(),
        "/api/pipelines".to_string(),
        format!("/api/runs/{run}"),
        format!("/runs/{run}"),
        "/".to_string(),
        format!("/api/runs/{run}/logs/talk.a"),
    ];
    let workers = 16u64;
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let interval = Duration::from_micros(workers * 1_000_000 / rps);
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (s, paths) = (s.clone(), paths.clone());
            let (latencies, failures) = (latencies.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now();
                let mut i = usize::try_from(w).unwrap_or(0);
                while Instant::now() < deadline {
                    let path = &paths[i % paths.len()];
                    let sent = Instant::now();
                    let (status, body) = s.get(path, Some(&s.viewer));
                    latencies.lock().expect("lock").push(sent.elapsed());
                    if status != 200 {
                        failures
                            .lock()
                            .expect("lock")
                            .push(format!("{path}: {status} {body}"));
                    }
                    i += 1;
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let mut all = latencies.lock().expect("lock").clone();
    all.sort();
    let failures = failures.lock().expect("lock").clone();
    (all, failures)
}
