//! `pipec serve` and real git repositories: a push delivered as GitHub would starts one run
//! with its facts; `--poll` finds a new commit in `paths` and starts a run for it.

use std::time::Duration;

use super::client::{self, Served, sign};

#[test]
fn serve_a_push_to_a_real_git_repository_starts_one_run_with_its_facts() {
    if !support_git() {
        return;
    }
    let s = Served::start(
        &[(
            "ci.pipe",
            r#"pipeline ci {
  trigger push { branches = ["main"] paths = ["src/**"] }
  stage build { action show: sh { run = "echo commit=${run.commit} branch=${run.branch}" } }
}
"#,
        )],
        &[],
    );
    let repo = s.dir.path().join("repo");
    let git = |args: &[&str]| client::git(&repo, args);
    std::fs::create_dir_all(repo.join("src")).expect("mkdir");
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("src/lib.rs"), "fn main() {}\n").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let sha = git(&["rev-parse", "HEAD"]);
    let changed = git(&["show", "--name-only", "--format=", "HEAD"]);
    let files: Vec<String> = changed.lines().map(|l| format!("\"{l}\"")).collect();
    let payload = format!(
        r#"{{"ref": "refs/heads/main", "after": "{sha}", "commits": [{{"id": "{sha}", "added": [{}], "modified": [], "removed": []}}]}}"#,
        files.join(", ")
    );
    let sig = sign(payload.as_bytes());
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "real-1"),
        ("X-Hub-Signature-256", sig.as_str()),
    ];
    let (status, body) = s.post("/hooks/github", &headers, payload.as_bytes());
    assert_eq!(status, 202, "{body}");
    let ids = client::ids(&body);
    assert_eq!(ids.len(), 1, "{body}");
    s.wait_status(&ids[0], "succeeded");
    let (_, log) = s.get(
        &format!("/api/runs/{}/logs/build.show", ids[0]),
        Some(&s.viewer),
    );
    assert!(log.contains(&format!("commit={sha} branch=main")), "{log}");
    // The same delivery again (GitHub's "redeliver"): nothing new.
    let (_, body) = s.post("/hooks/github", &headers, payload.as_bytes());
    assert_eq!(body, r#"{"runs":[]}"#);
    assert_eq!(s.runs().len(), 1);
}

pub(super) fn support_git() -> bool {
    crate::support::require_tool("git", "apt-get install git")
}

#[test]
fn serve_polls_a_git_source_and_starts_a_run_for_a_new_commit_with_its_paths() {
    if !support_git() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = dir.path().join("upstream");
    std::fs::create_dir_all(upstream.join("src")).expect("mkdir");
    let git = |args: &[&str]| client::git(&upstream, args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(upstream.join("src/lib.rs"), "1\n").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let pipe = format!(
        r#"pipeline polled {{
  trigger push {{ branches = ["main"] paths = ["src/**"] }}
  stage source {{ action checkout: git {{ repo = "{}" ref = "main" output = code }} }}
  stage build {{ action show: sh {{ input = code run = "echo commit=${{run.commit}}" }} }}
}}
"#,
        upstream.display()
    );
    std::fs::create_dir_all(dir.path().join("ci")).expect("mkdir");
    std::fs::write(dir.path().join("ci/polled.pipe"), pipe).expect("write");
    let s = Served::start_in(dir, &["--poll", "1s"]);
    s.wait_for_log("polling", "never polled");
    // A commit outside `paths`: no run.
    std::fs::write(upstream.join("README"), "docs\n").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "docs"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(s.runs().is_empty(), "{:?}", s.runs());
    std::fs::write(upstream.join("src/lib.rs"), "2\n").expect("write");
    git(&["commit", "-q", "-am", "code"]);
    let sha = git(&["rev-parse", "HEAD"]);
    let id = s.first_run("no run for the new commit");
    s.wait_status(&id, "succeeded");
    let (_, out) = s.get(&format!("/api/runs/{id}/logs/build.show"), Some(&s.viewer));
    assert!(out.contains(&format!("commit={sha}")), "{out}");
    assert_eq!(s.runs().len(), 1);
}
