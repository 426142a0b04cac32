//! A small `WebDriver` client (the W3C protocol's JSON over HTTP, with ureq) and a
//! chromedriver started for one test with Debian's headless Chromium.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key of an element reference in `WebDriver` answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

/// The Chromium binary and its driver, when both are installed.
pub(crate) fn installed() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(n))
                    .find(|f| f.is_file())
            })
        })
    };
    Some((
        find(&["chromium", "chromium-browser"])?,
        find(&["chromedriver"])?,
    ))
}

impl Browser {
    pub(crate) fn start(chromium: &Path, driver: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver: child,
            base,
            session: String::new(),
            agent,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]}}}});
        let v = b.call("POST", "/session", Some(&caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let answer = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(&json!({})).to_string().as_bytes()),
        };
        let text = answer
            .expect("webdriver")
            .body_mut()
            .read_to_string()
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        v.get("value").cloned().unwrap_or(v)
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub(crate) fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), Some(&json!({"url": url})));
    }

    /// The element `css` selects, if there is one now.
    pub(crate) fn find(&self, css: &str) -> Option<String> {
        let v = self.call(
            "POST",
            &self.at("/element"),
            Some(&json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().map(str::to_string)
    }

    fn element(&self, css: &str) -> String {
        self.find(css)
            .unwrap_or_else(|| panic!("no `{css}` on the page"))
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            Some(&json!({"text": text})),
        );
    }

    pub(crate) fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &self.at(&format!("/element/{e}/click")), None);
    }

    /// The text of the element `css` selects (empty while the page reloads).
    pub(crate) fn text(&self, css: &str) -> String {
        let Some(e) = self.find(css) else {
            return String::new();
        };
        let v = self.call("GET", &self.at(&format!("/element/{e}/text")), None);
        v.as_str().unwrap_or_default().to_string()
    }

    /// Waits until the element `css` says `text`, without navigating.
    pub(crate) fn wait_text(&self, css: &str, text: &str, limit: Duration) {
        let start = Instant::now();
        while self.text(css) != text {
            assert!(
                start.elapsed() < limit,
                "`{css}` says {:?}, not {text:?}",
                self.text(css)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the page's address contains `part` (a click that submits a form returns
    /// before the next page has loaded).
    pub(crate) fn wait_url(&self, part: &str, limit: Duration) {
        let start = Instant::now();
        while !self.url().contains(part) {
            assert!(start.elapsed() < limit, "at {}, not at {part}", self.url());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn url(&self) -> String {
        self.call("GET", &self.at("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A PNG of the page, written to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let v = self.call("GET", &self.at("/screenshot"), None);
        let png = base64(v.as_str().expect("a screenshot"));
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 to bytes.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}
