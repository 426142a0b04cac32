//! Notifications (`notify` items) sent by `pipec serve` to a receiver on 127.0.0.1 that this
//! test runs: signature, payload, retries after a 500, no secret in the body, at most once
//! across a restart; and a pipeline's own `poll` interval.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};

use super::client::{self, Served};

const HOOK_SECRET: &str = "n0tify-s1gning-key";
const DEPLOY_TOKEN: &str = "d3ploy-t0ken-value";

/// One request the receiver got: its headers (lowercase names) and body.
#[derive(Clone, Debug)]
struct Got {
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP receiver answering the statuses of `script` in order, then 200.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let (seen, mut script) = (got.clone(), script.to_vec());
        script.reverse();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Some(req) = read(&mut stream) else {
                    continue;
                };
                seen.lock().expect("lock").push(req);
                let status = script.pop().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { addr, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits until `n` requests came from `server`.
    fn wait_for(&self, n: usize, limit: Duration, server: &Served) -> Vec<Got> {
        let start = Instant::now();
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "{} of {n} notifications came: {got:?}\nthe server's log:\n{}",
                got.len(),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn read(stream: &mut std::net::TcpStream) -> Option<Got> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let n: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; n];
    r.read_exact(&mut body).ok()?;
    Some(Got {
        target,
        headers,
        body,
    })
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .fold(String::from("sha256="), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn json(g: &Got) -> serde_json::Value {
    serde_json::from_slice(&g.body).expect("a JSON body")
}

fn notified(port: u16) -> String {
    format!(
        r#"pipeline notified {{
  secret HOOK = file("hook.secret")
  secret TOKEN = file("deploy.token")
  notify "http://127.0.0.1:{port}/hooks/pipec?team=ops" {{
    events = [approval, failed]
    secret = secrets.HOOK
  }}
  stage build {{
    action a: sh {{ run = "echo token=$TOKEN" env = {{ TOKEN = secrets.TOKEN }} }}
  }}
  stage ask {{ action ok: approval {{ approvers = ["alice"] }} }}
  stage boom {{ action b: sh {{ run = "echo $TOKEN; exit 1" env = {{ TOKEN = secrets.TOKEN }} }} }}
}}
"#
    )
}

#[test]
fn serve_notifies_signed_json_retries_after_a_500_and_never_twice() {
    let hook = Receiver::start(&[500]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hook.secret"), format!("{HOOK_SECRET}\n")).expect("write");
    std::fs::write(dir.path().join("deploy.token"), DEPLOY_TOKEN).expect("write");
    std::fs::write(dir.path().join("notified.pipe"), notified(hook.addr.port())).expect("write");
    let s = Served::start_in(dir, &[]);
    let id = s.start_run("notified");
    s.wait_status(&id, "waiting");
    // The approval: refused once with a 500, then delivered again with the same id.
    let got = hook.wait_for(2, Duration::from_secs(30), &s);
    let (first, again) = (&got[0], &got[1]);
    assert_eq!(first.target, "/hooks/pipec?team=ops");
    assert_eq!(first.body, again.body, "a retry sends the same bytes");
    assert_eq!(
        first.headers["x-pipec-delivery"],
        again.headers["x-pipec-delivery"]
    );
    let approval = json(first);
    assert_eq!(approval["event"], "approval");
    assert_eq!(approval["pipeline"], "notified");
    assert_eq!(approval["run"]["id"], id.as_str());
    assert_eq!(approval["stage"], "ask");
    assert_eq!(approval["action"], "ok");
    assert_eq!(
        approval["run"]["url"],
        format!("http://{}/runs/{id}", s.addr).as_str()
    );
    s.approve_from_a_shell(&id, "ask.ok", "alice");
    s.wait_status(&id, "failed");
    let got = hook.wait_for(3, Duration::from_secs(30), &s);
    let failed = json(&got[2]);
    assert_eq!(failed["event"], "failed");
    assert_eq!(failed["run"]["status"], "failed");
    assert_ne!(
        got[2].headers["x-pipec-delivery"],
        first.headers["x-pipec-delivery"]
    );
    for g in &got {
        assert_eq!(g.headers["content-type"], "application/json");
        assert_eq!(
            g.headers["x-pipec-event"],
            json(g)["event"].as_str().expect("event")
        );
        assert!(g.headers["x-pipec-timestamp"].parse::<i64>().is_ok());
        assert_eq!(
            g.headers["x-pipec-signature-256"],
            hmac_hex(HOOK_SECRET, &g.body),
            "the signature is HMAC-SHA256 of the exact body"
        );
        let text = String::from_utf8_lossy(&g.body);
        for secret in [HOOK_SECRET, DEPLOY_TOKEN, "token="] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    // A restart sends nothing again, and `succeeded` (not asked for) is never sent.
    let dir = s.stop();
    let s = Served::start_in(dir, &[]);
    // The sweep runs at start and every three ticks of a second.
    std::thread::sleep(Duration::from_secs(5));
    drop(s);
    assert_eq!(hook.got().len(), 3, "{:?}", hook.got());
}

#[test]
fn serve_polls_a_pipeline_at_its_own_poll_interval() {
    if !super::support_git() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = dir.path().join("upstream");
    std::fs::create_dir_all(&upstream).expect("mkdir");
    let git = |args: &[&str]| client::git(&upstream, args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(upstream.join("a.txt"), "1\n").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let pipe = format!(
        r#"pipeline polled {{
  trigger push {{ branches = ["main"]  poll = 1s }}
  stage source {{ action checkout: git {{ repo = "{}" ref = "main" output = code }} }}
}}
"#,
        upstream.display()
    );
    std::fs::write(dir.path().join("polled.pipe"), pipe).expect("write");
    // No `--poll`: the pipeline's own interval is the only reason to poll.
    let s = Served::start_in(dir, &[]);
    s.wait_for_log("polling", "never polled");
    std::fs::write(upstream.join("a.txt"), "2\n").expect("write");
    git(&["commit", "-q", "-am", "second"]);
    let id = s.first_run("no run for the new commit");
    s.wait_status(&id, "succeeded");
}

#[test]
fn serve_does_not_poll_a_pipeline_without_an_interval() {
    if !super::support_git() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = dir.path().join("upstream");
    std::fs::create_dir_all(&upstream).expect("mkdir");
    client::git(&upstream, &["init", "-q", "-b", "main"]);
    std::fs::write(upstream.join("a.txt"), "1\n").expect("write");
    client::git(&upstream, &["add", "."]);
    client::git(&upstream, &["commit", "-q", "-m", "first"]);
    let pipe = format!(
        r#"pipeline unpolled {{
  trigger push {{ branches = ["main"] }}
  stage source {{ action checkout: git {{ repo = "{}" ref = "main" output = code }} }}
}}
"#,
        upstream.display()
    );
    std::fs::write(dir.path().join("unpolled.pipe"), pipe).expect("write");
    let s = Served::start_in(dir, &[]);
    std::thread::sleep(Duration::from_secs(3));
    let (_, log) = s.terminate();
    assert!(!log.contains("polling"), "{log}");
}

#[test]
fn serve_notifies_a_held_stage_and_a_success_unsigned_without_a_secret() {
    let hook = Receiver::start(&[]);
    let pipe = format!(
        r#"pipeline frozen {{
  notify "http://127.0.0.1:{}/h" {{ events = [held, succeeded] }}
  stage build {{ action a: sh {{ run = "echo built" }} }}
  stage deploy {{ action b: sh {{ run = "echo deployed" }} }}
  transition build -> deploy disabled "release freeze"
}}
"#,
        hook.addr.port()
    );
    let s = Served::start(&[("frozen.pipe", &pipe)], &[]);
    let id = s.start_run("frozen");
    let got = hook.wait_for(1, Duration::from_secs(30), &s);
    let held = json(&got[0]);
    assert_eq!(held["event"], "held");
    assert_eq!(held["stage"], "deploy");
    assert_eq!(held["action"], serde_json::Value::Null);
    assert!(!got[0].headers.contains_key("x-pipec-signature-256"));
    let (status, body) = s.post_json(
        "/api/pipelines/frozen/transitions/build/deploy",
        Some(&s.operator),
        r#"{"enabled": true}"#,
    );
    assert_eq!(status, 200, "{body}");
    s.wait_status(&id, "succeeded");
    let got = hook.wait_for(2, Duration::from_secs(30), &s);
    let done = json(&got[1]);
    assert_eq!(done["event"], "succeeded");
    assert_eq!(done["run"]["status"], "succeeded");
    assert!(done["run"]["ended"].is_string());
}

#[test]
fn serve_notifies_a_run_started_before_its_pipeline_said_notify() {
    let hook = Receiver::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let stage = "  stage a { action x: sh { run = \"sleep 2; exit 1\" } }\n";
    std::fs::write(
        dir.path().join("late.pipe"),
        format!("pipeline late {{\n{stage}}}\n"),
    )
    .expect("write");
    let s = Served::start_in(dir, &[]);
    let id = s.start_run("late");
    // While it runs, the pipeline learns to notify: the run began while the server served,
    // so its end is notified (no sweep had recorded when notifying began until now).
    std::fs::write(
        s.dir.path().join("late.pipe"),
        format!(
            "pipeline late {{\n  notify \"http://127.0.0.1:{}/late\" {{ events = [failed] }}\n{stage}}}\n",
            hook.addr.port()
        ),
    )
    .expect("write");
    s.wait_status(&id, "failed");
    let got = hook.wait_for(1, Duration::from_secs(30), &s);
    let failed = json(&got[0]);
    assert_eq!(failed["event"], "failed");
    assert_eq!(failed["run"]["id"], id.as_str());
}

#[test]
fn serve_notifies_a_run_stamped_before_it_started_when_the_clock_was_stepped_back() {
    let hook = Receiver::start(&[]);
    let pipe = format!(
        "pipeline stepped {{\n  notify \"http://127.0.0.1:{}/s\" {{ events = [succeeded] }}\n  stage a {{ action x: sh {{ run = \"true\" }} }}\n}}\n",
        hook.addr.port()
    );
    let s = Served::start(&[("stepped.pipe", &pipe)], &[]);
    let dir = s.stop();
    // As if the clock had been an hour ahead when the server first started, and was then
    // set right: every run from now on is stamped before the recorded start.
    let db = rusqlite::Connection::open(dir.path().join("state/serve.db")).expect("serve.db");
    let since: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'notify_since'",
            [],
            |r| r.get(0),
        )
        .expect("the start of notifying is recorded");
    let ahead: jiff::Timestamp = since.parse().expect("a time");
    let ahead = ahead + jiff::SignedDuration::from_hours(1);
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'notify_since'",
        [ahead.to_string()],
    )
    .expect("update");
    drop(db);
    let s = Served::start_in(dir, &[]);
    let id = s.start_run("stepped");
    s.wait_status(&id, "succeeded");
    let got = hook.wait_for(1, Duration::from_secs(30), &s);
    let done = json(&got[0]);
    assert_eq!(done["event"], "succeeded");
    assert_eq!(done["run"]["id"], id.as_str());
}
