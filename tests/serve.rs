//! `pipec serve` over real HTTP on 127.0.0.1, spoken to by a real client (ureq): every route
//! refuses without credentials, token roles, CSRF on forms, webhook signatures (valid,
//! invalid, missing, replayed), trigger filters, body and time limits, path traversal, HTML
//! escaping of what users and actions write, reloads that keep the last good version,
//! approvals that let a held run finish, a push to a real git repository, SIGTERM.

#[path = "serve/client.rs"]
mod client;
#[path = "serve/flags.rs"]
mod flags;
#[path = "serve/git.rs"]
mod git;
#[path = "serve/held.rs"]
mod held;
#[path = "serve/load.rs"]
mod load;
#[path = "serve/notify.rs"]
mod notify;
#[path = "serve/webdriver.rs"]
mod webdriver;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use client::{Served, sign};
use git::support_git;

const GATE: &str = r#"pipeline gate {
  trigger push { branches = ["main"] paths = ["src/**"] }
  trigger pull_request { branches = ["main"] events = ["opened", "updated"] }
  stage build { action hello: sh { run = "echo '<script>alert(1)</script>'" } }
  stage ask { action ok: approval { summary = "ship it?" approvers = ["alice"] } }
  stage after { action a: sh { run = "echo shipped" } }
}
"#;

fn served() -> Served {
    Served::start(&[("gate.pipe", GATE)], &[])
}

#[test]
fn serve_answers_nothing_without_credentials() {
    let s = served();
    for path in [
        "/api/pipelines",
        "/api/runs",
        "/api/runs/last",
        "/api/runs/last/logs/build.hello",
        "/api/runs/last/events",
    ] {
        let (status, body) = s.get(path, None);
        assert_eq!(status, 401, "{path}: {body}");
    }
    let (status, _) = s.post_json("/api/pipelines/gate/runs", None, "{}");
    assert_eq!(status, 401);
    // A page sends the browser to the login form, and shows nothing else.
    let (status, location, body) = s.get_page("/");
    assert_eq!((status, location.as_deref()), (303, Some("/login")));
    assert!(!body.contains("gate"), "{body}");
    let (status, _) = s.get("/api/pipelines", Some("pipec_not-a-token"));
    assert_eq!(status, 401);
}

#[test]
fn serve_tokens_have_roles() {
    let s = served();
    let (status, body) = s.get("/api/pipelines", Some(&s.viewer));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\":\"gate\""), "{body}");
    let (status, body) = s.post_json("/api/pipelines/gate/runs", Some(&s.viewer), "{}");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs the operator role"), "{body}");
    assert!(s.runs().is_empty());
    let id = s.start_run("gate");
    s.wait_status(&id, "waiting");
    let approve = r#"{"action": "ask.ok"}"#;
    let (status, body) = s.post_json(
        &format!("/api/runs/{id}/approve"),
        Some(&s.operator),
        approve,
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post_json("/api/pipelines/nope/runs", Some(&s.operator), "{}");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn serve_approvers_are_checked_against_the_token_name_and_the_held_run_finishes() {
    let s = served();
    let (_, body) = s.post_json("/api/pipelines/gate/runs", Some(&s.admin), "{}");
    let id = client::field(&body, "id");
    s.wait_status(&id, "waiting");
    // `bob` is an approver, but not one of this action's.
    let decide = r#"{"action": "ask.ok", "comment": "fine"}"#;
    let (status, body) = s.post_json(
        &format!("/api/runs/{id}/approve"),
        Some(&s.approver),
        decide,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("its approvers are alice"), "{body}");
    let (status, body) = s.post_json(&format!("/api/runs/{id}/approve"), Some(&s.alice), decide);
    assert_eq!(status, 200, "{body}");
    // Nobody types `pipec resume`: the server goes on with the held run.
    s.wait_status(&id, "succeeded");
    let (status, body) = s.post_json(&format!("/api/runs/{id}/approve"), Some(&s.alice), decide);
    assert_eq!(status, 409, "{body}");
}

#[test]
fn serve_github_signatures_valid_invalid_missing_and_replayed() {
    let s = served();
    let push = r#"{"ref": "refs/heads/main", "after": "abc123", "commits": [{"added": ["src/a.rs"], "modified": [], "removed": []}]}"#;
    let good = sign(push.as_bytes());
    let hook = |sig: Option<&str>, delivery: &str| {
        let mut h = vec![("X-GitHub-Event", "push"), ("X-GitHub-Delivery", delivery)];
        if let Some(sig) = sig {
            h.push(("X-Hub-Signature-256", sig));
        }
        s.post("/hooks/github", &h, push.as_bytes())
    };
    let wrong = sign(b"something else");
    assert_eq!(hook(Some(&wrong), "d1").0, 401);
    assert_eq!(hook(None, "d2").0, 401);
    assert_eq!(hook(Some("sha256=00"), "d3").0, 401);
    assert!(s.runs().is_empty(), "a refused delivery started a run");
    let (status, body) = hook(Some(&good), "d4");
    assert_eq!(status, 202, "{body}");
    let runs = client::ids(&body);
    assert_eq!(runs.len(), 1, "{body}");
    let (status, body) = hook(Some(&good), "d4");
    assert_eq!((status, body.as_str()), (202, r#"{"runs":[]}"#));
    assert_eq!(s.runs().len(), 1, "a replay started a run");
    let ping = br#"{"zen": "hi"}"#;
    let sig = sign(ping);
    let (status, body) = s.post(
        "/hooks/github",
        &[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", &sig)],
        ping,
    );
    assert_eq!((status, body.as_str()), (202, r#"{"runs":[]}"#));
}

#[test]
fn serve_triggers_filter_events_as_pipec_run_does() {
    let s = served();
    let generic = |body: &str| {
        let sig = sign(body.as_bytes());
        s.post(
            "/hooks/generic",
            &[("X-Pipec-Signature-256", &sig)],
            body.as_bytes(),
        )
    };
    // Outside `paths`, on another branch, a closed pull request: nothing starts.
    for body in [
        r#"{"event": "push", "branch": "main", "changed": ["docs/x.md"], "delivery": "g1"}"#,
        r#"{"event": "push", "branch": "topic", "changed": ["src/x.rs"], "delivery": "g2"}"#,
        r#"{"event": "pull_request", "branch": "main", "pr_event": "closed", "delivery": "g3"}"#,
    ] {
        let (status, answer) = generic(body);
        assert_eq!((status, answer.as_str()), (202, r#"{"runs":[]}"#), "{body}");
    }
    let (status, answer) = generic(
        r#"{"event": "push", "branch": "main", "changed": ["src/x.rs"], "delivery": "g4"}"#,
    );
    assert_eq!(status, 202);
    assert_eq!(client::ids(&answer).len(), 1, "{answer}");
    let gl = br#"{"object_kind": "merge_request", "object_attributes": {"action": "open", "target_branch": "main", "last_commit": {"id": "f00"}}}"#;
    let (status, _) = s.post("/hooks/gitlab", &[("X-Gitlab-Token", "wrong")], gl);
    assert_eq!(status, 401);
    let (status, answer) = s.post(
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Token", client::SECRET),
            ("X-Gitlab-Event-UUID", "u1"),
        ],
        gl,
    );
    assert_eq!(status, 202);
    assert_eq!(client::ids(&answer).len(), 1, "{answer}");
}

#[test]
fn serve_forms_need_the_session_csrf_token() {
    let s = served();
    let (status, cookie) = s.login(&s.operator);
    assert_eq!(status, 303);
    let set = cookie.expect("a session cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    let session = set.split(';').next().unwrap_or_default().to_string();
    let (status, _) = s.post_form("/pipelines/gate/runs", &session, "csrf=wrong");
    assert_eq!(status, 403);
    let (status, _) = s.post_form("/pipelines/gate/runs", &session, "");
    assert_eq!(status, 403);
    // The cookie alone does not pass the JSON API either.
    let (status, _) = s.post(
        "/api/pipelines/gate/runs",
        &[("Cookie", &session), ("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(status, 403);
    assert!(s.runs().is_empty());
    let page = s.page("/", &session);
    let csrf = client::csrf_in(&page);
    let (status, _) = s.post_form("/pipelines/gate/runs", &session, &format!("csrf={csrf}"));
    assert_eq!(status, 303);
    assert_eq!(s.runs().len(), 1);
    let (status, _) = s.login("pipec_wrong");
    assert_eq!(status, 401);
}

#[test]
fn serve_refuses_a_body_over_the_limit() {
    let s = Served::start(&[("gate.pipe", GATE)], &["--max-body", "4096"]);
    // Just over the limit, so the server has read all of it when it answers (a connection
    // closed with unread bytes may be reset before the client reads the answer).
    let big = vec![b' '; 5000];
    let sig = sign(&big);
    let (status, body) = s.post("/hooks/generic", &[("X-Pipec-Signature-256", &sig)], &big);
    assert_eq!(status, 413, "{body}");
    assert!(s.runs().is_empty());
    let (status, _) = s.post_json(
        "/api/pipelines/gate/runs",
        Some(&s.operator),
        &format!("{{\"params\": {{\"x\": \"{}\"}}}}", "y".repeat(5000)),
    );
    assert_eq!(status, 413);
}

#[test]
fn serve_logs_are_found_by_name_never_by_path() {
    let s = served();
    let (_, body) = s.post_json("/api/pipelines/gate/runs", Some(&s.admin), "{}");
    let id = client::field(&body, "id");
    s.wait_status(&id, "waiting");
    let (status, log) = s.get(&format!("/api/runs/{id}/logs/build.hello"), Some(&s.viewer));
    assert_eq!(status, 200);
    assert!(log.contains("<script>"), "{log}");
    for path in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "build.hello%2F..%2F..%2F..%2Fhistory.db",
        "..",
        "%2Fetc%2Fpasswd",
    ] {
        let (status, body) = s.get(&format!("/api/runs/{id}/logs/{path}"), Some(&s.viewer));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("root:"), "{body}");
    }
    let (status, _) = s.get("/api/runs/..%2F..%2Fetc/logs/build.hello", Some(&s.viewer));
    assert_eq!(status, 404);
}

#[test]
fn serve_pages_escape_what_users_and_actions_write() {
    let s = served();
    let (_, body) = s.post_json("/api/pipelines/gate/runs", Some(&s.admin), "{}");
    let id = client::field(&body, "id");
    s.wait_status(&id, "waiting");
    let comment = r#"{"action": "ask.ok", "comment": "<img src=x onerror=alert(2)>"}"#;
    let (status, body) = s.post_json(&format!("/api/runs/{id}/reject"), Some(&s.alice), comment);
    assert_eq!(status, 200, "{body}");
    s.wait_status(&id, "failed");
    let (_, cookie) = s.login(&s.viewer);
    let session = cookie
        .expect("cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let run = s.page(&format!("/runs/{id}"), &session);
    assert!(run.contains("&lt;img src=x onerror=alert(2)&gt;"), "{run}");
    assert!(!run.contains("<img"), "{run}");
    let log = s.page(&format!("/runs/{id}/logs/build.hello"), &session);
    assert!(log.contains("&lt;script&gt;alert(1)&lt;"), "{log}");
    assert!(!log.contains("<script>alert"), "{log}");
}

#[test]
fn serve_closes_connections_of_slow_clients() {
    let s = Served::start(
        &[("gate.pipe", GATE)],
        &["--header-timeout", "1s", "--request-timeout", "1s"],
    );
    // Headers never finished: the connection is closed.
    let mut c = std::net::TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(b"GET /api/pipelines HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "held open {:?}",
        start.elapsed()
    );
    // A body that never comes: 408.
    let mut c = std::net::TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = "POST /hooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
    c.write_all(head.as_bytes()).expect("write");
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn serve_keeps_the_last_good_version_of_a_broken_edit() {
    let s = served();
    std::fs::write(
        s.dir.path().join("gate.pipe"),
        "pipeline gate {\n  stage build {\n",
    )
    .expect("write");
    let start = Instant::now();
    let body = loop {
        let (_, body) = s.get("/api/pipelines", Some(&s.viewer));
        if body.contains("\"ok\":false") || start.elapsed() > Duration::from_secs(20) {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("\"ok\":false"), "{body}");
    assert!(body.contains("E01"), "{body}");
    assert!(body.contains("\"name\":\"gate\""), "{body}");
    let (status, body) = s.post_json("/api/pipelines/gate/runs", Some(&s.operator), "{}");
    assert_eq!(status, 201, "{body}");
    let (_, cookie) = s.login(&s.viewer);
    let session = cookie
        .expect("cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let page = s.page("/", &session);
    assert!(page.contains("does not check"), "{page}");
    // Mended, with a stage more: that version is served.
    let mended = GATE.replace(
        "stage after",
        "stage extra { action e: sh { run = \"true\" } }\n  stage after",
    );
    std::fs::write(s.dir.path().join("gate.pipe"), mended).expect("write");
    let start = Instant::now();
    while !s.page("/", &session).contains("extra") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the mended version is not served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And edited again, still good: the newest version is served.
    let renamed = GATE.replace("stage after", "stage later");
    std::fs::write(s.dir.path().join("gate.pipe"), renamed).expect("write");
    let start = Instant::now();
    while !s.page("/", &session).contains("later") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "a good edit of a good file is not served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let s = served();
    let (status, _) = s.get("/api/pipelines", Some(&s.viewer));
    assert_eq!(status, 200);
    let out = s.terminate();
    assert_eq!(out.0, Some(0), "{}", out.1);
    assert!(out.1.contains("stopping"), "{}", out.1);
}

#[test]
fn serve_resumes_a_run_whose_process_died_when_it_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipe = r#"pipeline slow {
  stage one { action a: sh { run = "touch ../../../../started; sleep 2; echo one" } }
  stage two { action b: sh { run = "echo two" } }
}
"#;
    std::fs::write(dir.path().join("slow.pipe"), pipe).expect("write");
    let mut run = client::pipec(dir.path())
        .args(["run", "slow.pipe", "--state-dir", "state"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pipec run");
    let start = Instant::now();
    while !dir.path().join("started").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A crash: the run stays `running` with no process.
    run.kill().expect("kill -9");
    run.wait().expect("wait");
    let s = Served::start_in(dir, &[]);
    let id = client::field(&s.get("/api/runs/last", Some(&s.viewer)).1, "id");
    s.wait_status(&id, "succeeded");
}

#[test]
fn serve_goes_on_with_a_run_approved_from_a_shell() {
    let s = served();
    let (_, body) = s.post_json("/api/pipelines/gate/runs", Some(&s.admin), "{}");
    let id = client::field(&body, "id");
    s.wait_status(&id, "waiting");
    s.approve_from_a_shell(&id, "ask.ok", "alice");
    s.wait_status(&id, "succeeded");
}

#[test]
fn serve_goes_on_when_a_held_stage_window_opens() {
    // A window that opens at the next minute (UTC): the run is held until then, and the
    // server resumes it without anyone typing `pipec resume`.
    let next = jiff::Timestamp::now().as_second() / 60 * 60 + 60;
    let at = jiff::Timestamp::from_second(next)
        .expect("time")
        .to_zoned(jiff::tz::TimeZone::UTC);
    let cron = format!("{} {} * * *", at.minute(), at.hour());
    let pipe = format!(
        r#"pipeline windowed {{
  stage build {{ action a: sh {{ run = "echo built" }} }}
  stage prod {{
    entry {{ window "{cron}" else wait }}
    action b: sh {{ run = "echo deployed" }}
  }}
}}
"#
    );
    let s = Served::start(&[("windowed.pipe", &pipe)], &[]);
    let id = s.start_run("windowed");
    if jiff::Timestamp::now().as_second() < next - 2 {
        s.wait_status(&id, "waiting");
    }
    s.wait_status_within(&id, "succeeded", Duration::from_secs(90));
}

#[test]
fn serve_artifact_downloads_are_found_in_the_manifest_never_by_path() {
    let pipe = r#"pipeline art {
  stage build {
    action make: sh {
      run = "mkdir -p out/sub && echo inside > out/sub/f.txt && echo single > one.txt"
      output = tree from "out"
    }
    action one: sh { run = "echo single > one.txt" output = single from "one.txt" }
  }
}
"#;
    let s = Served::start(&[("art.pipe", pipe)], &[]);
    let id = s.start_run("art");
    s.wait_status(&id, "succeeded");
    let (status, list) = s.get(&format!("/api/runs/{id}/artifacts"), Some(&s.viewer));
    assert_eq!(status, 200, "{list}");
    assert!(list.contains("sub/f.txt"), "{list}");
    let (status, file) = s.get(
        &format!("/api/runs/{id}/artifacts/tree/sub/f.txt"),
        Some(&s.viewer),
    );
    assert_eq!((status, file.as_str()), (200, "inside\n"));
    let (status, file) = s.get(
        &format!("/api/runs/{id}/artifacts/single/one.txt"),
        Some(&s.viewer),
    );
    assert_eq!((status, file.as_str()), (200, "single\n"));
    for path in [
        "tree/..%2F..%2F..%2Fhistory.db",
        "tree/../../../history.db",
        "..%2F..%2Fserve.db/x",
        "tree/%2Fetc%2Fpasswd",
        "tree/sub/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "..%2Ftree/sub/f.txt",
    ] {
        let (status, body) = s.get(&format!("/api/runs/{id}/artifacts/{path}"), Some(&s.viewer));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.contains("SQLite") && !body.contains("root:"),
            "{path}: {body}"
        );
    }
    let (status, _) = s.get(&format!("/api/runs/{id}/artifacts/tree/sub/f.txt"), None);
    assert_eq!(status, 401);
}

#[test]
fn serve_speaks_tls_with_a_secure_session_cookie() {
    if !crate::support::require_tool("openssl", "apt-get install openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gate.pipe"), GATE).expect("write");
    let mut openssl = std::process::Command::new("openssl");
    openssl
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "1"])
        .args(["-keyout", "key.pem", "-out", "cert.pem"]);
    crate::support::succeeds(openssl, "openssl");
    let s = Served::start_in(dir, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    assert_eq!(s.scheme, "https");
    let (status, body) = s.get("/api/pipelines", Some(&s.viewer));
    assert_eq!(status, 200, "{body}");
    let (status, cookie) = s.login(&s.viewer);
    assert_eq!(status, 303);
    let cookie = cookie.expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plain HTTP on the TLS port gets no answer.
    let mut c = std::net::TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    c.write_all(b"GET /api/pipelines HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(!answer.contains("HTTP/1.1 200"), "{answer}");
}

#[test]
fn serve_in_a_real_browser_logs_in_watches_a_run_live_and_approves_it() {
    let how = "apt-get install chromium chromium-driver";
    if !crate::support::require_tool("chromium", how)
        || !crate::support::require_tool("chromedriver", how)
    {
        return;
    }
    let (chromium, driver) = webdriver::installed().expect("chromium and chromedriver on PATH");
    let pipe = r#"pipeline gate {
  stage build { action compile: sh { run = "sleep 3; echo '<b>built</b>'" } }
  stage ask { action ok: approval { summary = "ship it?" approvers = ["alice"] } }
  stage after { action deploy: sh { run = "echo shipped" } }
}
"#;
    let s = Served::start(&[("gate.pipe", pipe)], &[]);
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-screenshots");
    std::fs::create_dir_all(&shots).expect("mkdir");
    let b = webdriver::Browser::start(&chromium, &driver);
    let base = format!("http://{}", s.addr);
    b.go(&format!("{base}/login"));
    b.screenshot(&shots.join("login.png"));
    b.type_into("input[name=token]", &s.alice);
    b.click("form[action='/login'] button");
    b.wait_text("header span", "alice (admin)", Duration::from_secs(10));
    assert!(
        b.text("header").contains("alice (admin)"),
        "{}",
        b.text("header")
    );
    // Start a run from the dashboard and land on its page, which follows it live.
    b.click("form[action='/pipelines/gate/runs'] button");
    b.wait_url("/runs/", Duration::from_secs(10));
    b.wait_text("#status", "running", Duration::from_secs(10));
    b.wait_text("#status", "waiting", Duration::from_secs(30));
    b.screenshot(&shots.join("run-waiting.png"));
    b.type_into(
        "form[action$='/approve'] input[name=comment]",
        "checked <the> canary",
    );
    b.click("form[action$='/approve'] button");
    b.wait_text("#status", "succeeded", Duration::from_secs(30));
    let decision = b.text("#action-ask-ok");
    assert!(
        decision.contains("approved by alice: checked <the> canary"),
        "{decision}"
    );
    b.screenshot(&shots.join("run-succeeded.png"));
    b.go(&format!("{base}/"));
    b.screenshot(&shots.join("dashboard.png"));
    b.go(&format!("{base}/runs"));
    b.screenshot(&shots.join("history.png"));
}

#[test]
fn serve_streams_a_log_while_its_action_runs() {
    let pipe = r#"pipeline talk {
  stage s { action a: sh { run = "for i in 1 2 3 4 5; do echo \"line $i <x>\"; sleep 0.3; done" } }
}
"#;
    let s = Served::start(&[("talk.pipe", pipe)], &[]);
    let id = s.start_run("talk");
    s.wait_status(&id, "running");
    let events = s.stream(&format!("/api/runs/{id}/logs/s.a/events"));
    let mut text = String::new();
    let mut pieces = 0;
    for (event, data) in &events {
        if event == "log" {
            pieces += 1;
            text.push_str(&serde_json::from_str::<String>(data).expect("a JSON string"));
        }
    }
    let lines: Vec<String> = (1..=5).map(|i| format!("line {i} <x>")).collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), lines, "{events:?}");
    assert!(
        pieces > 1,
        "the log came in one piece, not live: {events:?}"
    );
    assert_eq!(
        events.last().map(|e| e.0.as_str()),
        Some("end"),
        "{events:?}"
    );
}

#[test]
fn serve_api_stops_and_retries_a_run() {
    let pipe = r#"pipeline slow {
  stage one { action a: sh { run = "sleep 30" } }
}
"#;
    let s = Served::start(&[("slow.pipe", pipe)], &[]);
    let id = s.start_run("slow");
    s.wait_status(&id, "running");
    let (status, _) = s.post(&format!("/api/runs/{id}/stop"), &[], b"");
    assert_eq!(status, 401);
    let auth = format!("Bearer {}", s.viewer);
    let (status, _) = s.post(
        &format!("/api/runs/{id}/stop"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 403);
    let auth = format!("Bearer {}", s.operator);
    let (status, body) = s.post(
        &format!("/api/runs/{id}/stop"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    // Stop and wait lets the action finish in its own time: abandon it.
    let abandon = format!("/api/runs/{id}/abandon");
    let (status, body) = s.post(&abandon, &[("Authorization", &auth)], b"");
    assert_eq!(status, 200, "{body}");
    s.wait_status(&id, "stopped");
    let (status, body) = s.post(&abandon, &[("Authorization", &auth)], b"");
    assert_eq!(status, 409, "{body}");
    let (status, body) = s.post(
        &format!("/api/runs/{id}/retry"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(client::field(&body, "id"), id);
    s.wait_status(&id, "running");
    let (status, body) = s.post_json(&format!("/api/runs/{id}/approve"), Some(&s.alice), "");
    assert_eq!(status, 400, "{body}");
    let (status, _) = s.post(&abandon, &[("Authorization", &auth)], b"");
    assert_eq!(status, 200);
    s.wait_status(&id, "stopped");
}

#[test]
fn serve_dashboard_shows_each_stage_with_the_latest_run_that_entered_it() {
    let s = served();
    let decide = r#"{"action": "ask.ok"}"#;
    let first = s.start_run("gate");
    s.wait_status(&first, "waiting");
    s.post_json(
        &format!("/api/runs/{first}/approve"),
        Some(&s.alice),
        decide,
    );
    s.wait_status(&first, "succeeded");
    let second = s.start_run("gate");
    s.wait_status(&second, "waiting");
    let (_, cookie) = s.login(&s.viewer);
    let session = cookie
        .expect("cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let page = s.page("/", &session);
    // `build` and `ask` show the second run; `after`, which it has not reached, the first.
    let after = &page[page.find("<h3>after").expect("the stage `after`")..];
    assert!(after.contains(&format!("/runs/{first}")), "{after}");
    assert!(after.contains("succeeded"), "{after}");
    let ask = &page[page.find("<h3>ask").expect("the stage `ask`")..];
    assert!(ask.contains(&format!("/runs/{second}")), "{ask}");
    assert!(ask.contains("waiting"), "{ask}");
}
