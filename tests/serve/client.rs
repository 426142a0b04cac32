//! A `pipec serve` on 127.0.0.1 for one test, with a token per role, and a ureq client.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};

pub(crate) const SECRET: &str = "hook-secret";

/// `sha256=HEX` of `body` with the tests' webhook secret.
pub(crate) fn sign(body: &[u8]) -> String {
    sign_with(SECRET, body)
}

/// `sha256=HEX` of `body` with `secret`.
pub(crate) fn sign_with(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex = mac
        .finalize()
        .into_bytes()
        .iter()
        .fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        });
    format!("sha256={hex}")
}

pub(crate) struct Served {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) addr: SocketAddr,
    /// `http` or `https`.
    pub(crate) scheme: String,
    child: Option<Child>,
    agent: ureq::Agent,
    pub(crate) viewer: String,
    pub(crate) operator: String,
    pub(crate) approver: String,
    pub(crate) admin: String,
    /// An admin named `alice` (the approver the test pipelines name).
    pub(crate) alice: String,
}

pub(crate) fn pipec(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipec"));
    c.current_dir(dir)
        .env_remove("PIPEC_STATE_DIR")
        .env_remove("NO_COLOR");
    c
}

fn token(dir: &Path, name: &str, role: &str) -> String {
    // A server started again over the same folder makes its tokens again.
    let _ = pipec(dir)
        .args(["serve", "token", "revoke", name, "--state-dir", "state"])
        .output();
    let mut create = pipec(dir);
    create.args([
        "serve",
        "token",
        "create",
        name,
        "--role",
        role,
        "--state-dir",
        "state",
    ]);
    crate::support::succeeds(create, "pipec serve token create")
}

impl Served {
    pub(crate) fn start(files: &[(&str, &str)], extra: &[&str]) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        Served::start_in(dir, extra)
    }

    /// A server over folder `dir` (its state directory is `dir/state`).
    pub(crate) fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Served {
        let tokens = [
            token(dir.path(), "val", "viewer"),
            token(dir.path(), "otto", "operator"),
            token(dir.path(), "bob", "approver"),
            token(dir.path(), "ada", "admin"),
            token(dir.path(), "alice", "admin"),
        ];
        let log = std::fs::File::create(dir.path().join("serve.log")).expect("log");
        let mut child = pipec(dir.path())
            .args([
                "serve",
                ".",
                "--state-dir",
                "state",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--tick", "1s"])
            .args(extra)
            .env("PIPEC_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("pipec serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let (scheme, addr) = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|l| l.split_once("://"))
            .unwrap_or_else(|| panic!("first line: {line:?}"));
        let (scheme, addr) = (scheme.to_string(), addr.parse().expect("address"));
        // The tests' certificates are their own: the server's TLS is tested, not the chain.
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(true)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let [viewer, operator, approver, admin, alice] = tokens;
        Served {
            dir,
            addr,
            scheme,
            child: Some(child),
            agent,
            viewer,
            operator,
            approver,
            admin,
            alice,
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
        let mut r = r.expect("request");
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    }

    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(&self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        Self::answer(req.call())
    }

    /// A page without credentials: status, `Location`, body.
    pub(crate) fn get_page(&self, path: &str) -> (u16, Option<String>, String) {
        let mut r = self.agent.get(&self.url(path)).call().expect("request");
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = r.status().as_u16();
        (
            status,
            location,
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// A page as a logged-in browser (`cookie` is `pipec_session=…`).
    pub(crate) fn page(&self, path: &str, cookie: &str) -> String {
        let (status, body) = Self::answer(
            self.agent
                .get(&self.url(path))
                .header("Cookie", cookie)
                .call(),
        );
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    pub(crate) fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let mut req = self.agent.post(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.send(body))
    }

    pub(crate) fn post_json(&self, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        self.post(path, &headers, body.as_bytes())
    }

    pub(crate) fn post_form(&self, path: &str, cookie: &str, body: &str) -> (u16, String) {
        self.post(
            path,
            &[
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
    }

    /// The server-sent events of `path` (as a viewer) until the stream ends: (event, data).
    pub(crate) fn stream(&self, path: &str) -> Vec<(String, String)> {
        let mut r = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &format!("Bearer {}", self.viewer))
            .call()
            .expect("events");
        let text = r.body_mut().read_to_string().unwrap_or_default();
        text.split("\n\n")
            .filter_map(|block| {
                let mut event = String::new();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event: ") {
                        event = e.to_string();
                    } else if let Some(d) =
                        line.strip_prefix("data: ").or(line.strip_prefix("data:"))
                    {
                        data.push(d.to_string());
                    }
                }
                (!event.is_empty()).then(|| (event, data.join("\n")))
            })
            .collect()
    }

    /// Logs in with `token`: the status and the `Set-Cookie` header.
    pub(crate) fn login(&self, token: &str) -> (u16, Option<String>) {
        let r = self
            .agent
            .post(&self.url("/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={token}").as_bytes())
            .expect("login");
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (r.status().as_u16(), cookie)
    }

    /// What the server wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Waits (up to 20 s) until the server's log says `text`; else fails with `why`.
    pub(crate) fn wait_for_log(&self, text: &str, why: &str) {
        let log = self.dir.path().join("serve.log");
        let start = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(text)
        {
            assert!(start.elapsed() < Duration::from_secs(20), "{why}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `pipec approve RUN ACTION --as WHO` on the server's state directory, from a shell (no
    /// server involved); it must succeed.
    pub(crate) fn approve_from_a_shell(&self, run: &str, action: &str, who: &str) {
        let mut approve = pipec(self.dir.path());
        approve.args(["approve", run, action, "--as", who, "--state-dir", "state"]);
        crate::support::succeeds(approve, "pipec approve");
    }

    /// Starts a run of `pipeline` through the API as the operator (it must answer 201): its id.
    pub(crate) fn start_run(&self, pipeline: &str) -> String {
        let (status, body) = self.post_json(
            &format!("/api/pipelines/{pipeline}/runs"),
            Some(&self.operator),
            "{}",
        );
        assert_eq!(status, 201, "{body}");
        field(&body, "id")
    }

    /// Waits (up to 20 s) for a run to appear; else fails with `why`. The newest run's id.
    pub(crate) fn first_run(&self, why: &str) -> String {
        let start = Instant::now();
        while self.runs().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(20), "{why}");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.runs()[0]["id"].as_str().expect("id").to_string()
    }

    /// The runs of the state directory, newest first.
    pub(crate) fn runs(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/api/runs", Some(&self.viewer));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("runs")
    }

    /// Waits until run `id` has `status`.
    pub(crate) fn wait_status(&self, id: &str, status: &str) {
        self.wait_status_within(id, status, Duration::from_secs(30));
    }

    /// Waits at most `limit` until run `id` has `status`.
    pub(crate) fn wait_status_within(&self, id: &str, status: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let (_, body) = self.get(&format!("/api/runs/{id}"), Some(&self.viewer));
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if v["status"] == status {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "run {id} is not {status}: {body}\nserver: {}",
                std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server and hands its folder back (to start another over it).
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// SIGTERM: the exit code and what the server wrote on stderr.
    pub(crate) fn terminate(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("child");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default();
        (status.code(), log)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The string field `name` of a JSON object.
pub(crate) fn field(body: &str, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no `{name}` in {body}"))
        .to_string()
}

/// The run ids of a webhook's answer.
pub(crate) fn ids(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    v["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// The CSRF token of a page's forms.
pub(crate) fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..].split('"').next().unwrap_or_default().to_string()
}

/// Runs git in `repo`: its stdout, trimmed.
pub(crate) use crate::support::git;
