//! `pipec serve`'s flags that open or configure access: `--open-read` and
//! `--webhook-secret-file`.

use super::GATE;
use super::client::{self, Served};

#[test]
fn serve_open_read_answers_gets_without_a_token_and_nothing_else() {
    let s = Served::start(&[("gate.pipe", GATE)], &["--open-read"]);
    let (status, body) = s.get("/api/pipelines", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\":\"gate\""), "{body}");
    // Reading is open; starting a run (or any change) still needs a token.
    let (status, body) = s.post_json("/api/pipelines/gate/runs", None, "{}");
    assert_eq!(status, 401, "{body}");
    assert!(s.runs().is_empty(), "an anonymous POST started a run");
}

#[test]
fn serve_reads_the_webhook_secret_from_a_file_over_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gate.pipe"), GATE).expect("write");
    let secret = dir.path().join("hook.secret");
    // The trailing newline an editor leaves is not part of the secret.
    std::fs::write(&secret, "from-the-file\n").expect("write");
    let secret = secret.to_string_lossy().into_owned();
    let s = Served::start_in(dir, &["--webhook-secret-file", &secret]);
    let push = br#"{"ref": "refs/heads/main", "after": "abc123", "commits": [{"added": ["src/a.rs"], "modified": [], "removed": []}]}"#;
    let hook = |sig: &str, delivery: &str| {
        s.post(
            "/hooks/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", sig),
            ],
            push,
        )
    };
    // Signed with `PIPEC_WEBHOOK_SECRET` (which the test server also has): refused.
    let (status, body) = hook(&client::sign(push), "d1");
    assert_eq!(status, 401, "{body}");
    let (status, body) = hook(&client::sign_with("from-the-file", push), "d2");
    assert_eq!(status, 202, "{body}");
    assert_eq!(client::ids(&body).len(), 1, "{body}");
}
