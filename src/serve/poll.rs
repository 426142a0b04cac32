//! Polling `git` sources (CodePipeline's `PollForSourceChanges`). A pipeline is polled every
//! `poll` of its `push` triggers (the shortest, when several set one), else every `pipec serve
//! --poll INTERVAL`, else never. Every interval, each `git` action of a served pipeline whose
//! `repo` and `ref` are literal strings is asked for its head (`git ls-remote`); a head that
//! moved is fetched into a bare mirror under the state directory (`serve/poll/`), its
//! changed paths are read (`git diff --name-only OLD NEW`), and the pipeline's triggers get
//! a `push` with the branch (or tag), the new commit and those paths — exactly the facts a
//! webhook would give. The first head seen only starts the count (no run), and the head is
//! recorded in `serve.db` before the run starts (a restart does not start it again). When
//! the old commit cannot be read (the mirror was removed), the paths are unknown and
//! `paths` filters are not evaluated, as `pipec run` without `--changed`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::App;
use super::launch::{Facts, run_args};
use crate::ir::{Expr, Kind};

/// The most a `git` command may take.
const GIT_LIMIT: Duration = Duration::from_secs(120);

/// How often the loop looks for pipelines due (the finest interval a pipeline may ask for).
const GRAIN: Duration = Duration::from_secs(1);

/// Polls each pipeline at its interval (`default`: `--poll`) until the server stops.
pub(crate) async fn poll_loop(app: Arc<App>, default: Option<Duration>) {
    let mut tick = tokio::time::interval(GRAIN);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: HashMap<String, tokio::time::Instant> = HashMap::new();
    loop {
        tick.tick().await;
        if *app.stopping.borrow() {
            return;
        }
        poll_once(&app, default, &mut last).await;
    }
}

/// The interval of a pipeline: the shortest `poll` of its `push` triggers, else `default`.
pub(crate) fn interval(p: &crate::ir::Pipeline, default: Option<Duration>) -> Option<Duration> {
    p.triggers
        .iter()
        .filter_map(|t| t.poll_secs)
        .min()
        .map(Duration::from_secs)
        .or(default)
}

/// One `git` source of a pipeline.
#[derive(PartialEq, Eq)]
struct Polled {
    repo: String,
    reference: String,
}

fn literal(e: Option<&Expr>) -> Option<String> {
    match e? {
        Expr::Str { value } => Some(value.clone()),
        _ => None,
    }
}

async fn poll_once(
    app: &Arc<App>,
    default: Option<Duration>,
    last: &mut HashMap<String, tokio::time::Instant>,
) {
    let entries = app
        .pipelines
        .read()
        .map(|p| p.entries.clone())
        .unwrap_or_default();
    let now = tokio::time::Instant::now();
    for e in entries {
        let Some(good) = &e.good else { continue };
        let Some(every) = interval(&good.ir.pipeline, default) else {
            continue;
        };
        let name = good.ir.pipeline.name.clone();
        if last
            .get(&name)
            .is_some_and(|t| now.duration_since(*t) < every)
        {
            continue;
        }
        last.insert(name, now);
        let mut sources: Vec<Polled> = Vec::new();
        for a in good.ir.pipeline.stages.iter().flat_map(|s| &s.actions) {
            if a.kind != Kind::Git {
                continue;
            }
            let (Some(repo), Some(reference)) = (
                literal(a.params.get("repo")),
                literal(a.params.get("ref")).or(Some("HEAD".into())),
            ) else {
                continue;
            };
            let p = Polled { repo, reference };
            if !sources.contains(&p) {
                sources.push(p);
            }
        }
        for p in sources {
            let name = &good.ir.pipeline.name;
            match moved(app, name, &p).await {
                Ok(Some(facts)) => {
                    let decision =
                        crate::runtime::trigger::decide(&good.ir.pipeline.triggers, &facts.event());
                    if !matches!(decision, crate::runtime::trigger::Decision::Start { .. }) {
                        continue;
                    }
                    match app
                        .launcher
                        .start(&run_args(&e.file, &good.ir_file, &facts, &[]))
                        .await
                    {
                        Ok(id) => (app.report)(&format!(
                            "run {id} of `{name}` started: {} moved to {}",
                            p.repo,
                            facts.commit.as_deref().unwrap_or_default()
                        )),
                        Err(said) => {
                            (app.report)(&format!("`{name}` did not start: {}", said.text));
                        }
                    }
                }
                Ok(None) => {}
                Err(why) => (app.report)(&format!("polling {} for `{name}`: {why}", p.repo)),
            }
        }
    }
}

async fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut c = tokio::process::Command::new("git");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(GIT_LIMIT, c.output())
        .await
        .map_err(|_| format!("`git {}` took longer than {GIT_LIMIT:?}", args.join(" ")))?
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`git {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The facts of a push when the head of `p` moved since it was last seen.
async fn moved(app: &Arc<App>, pipeline: &str, p: &Polled) -> Result<Option<Facts>, String> {
    let listed = git(None, &["ls-remote", "--", &p.repo, &p.reference]).await?;
    let Some((head, name)) = listed.lines().next().and_then(|l| l.split_once('\t')) else {
        return Err(format!("no ref `{}` in {}", p.reference, p.repo));
    };
    let (head, name) = (head.to_string(), name.to_string());
    let key = format!("{pipeline}\u{1f}{}\u{1f}{}", p.repo, p.reference);
    let last = {
        let store = app.store.lock().map_err(|_| "store poisoned".to_string())?;
        store.poll_head(&key)?
    };
    if last.as_deref() == Some(head.as_str()) {
        return Ok(None);
    }
    let mirror = mirror_of(app, &p.repo);
    let changed = match fetch(&mirror, &p.repo, &head).await {
        Ok(()) => match &last {
            Some(old) => git(Some(&mirror), &["diff", "--name-only", old, &head])
                .await
                .map(|t| t.lines().map(str::to_string).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        },
        Err(why) => {
            (app.report)(&format!("polling {}: {why}", p.repo));
            Vec::new()
        }
    };
    {
        let store = app.store.lock().map_err(|_| "store poisoned".to_string())?;
        store.set_poll_head(&key, &head)?;
    }
    if last.is_none() {
        (app.report)(&format!(
            "polling {} ({}) for `{pipeline}`: at {head}",
            p.repo, p.reference
        ));
        return Ok(None);
    }
    let mut facts = Facts {
        event: Some("push".into()),
        commit: Some(head),
        changed,
        ..Facts::default()
    };
    if let Some(b) = name.strip_prefix("refs/heads/") {
        facts.branch = Some(b.to_string());
    } else if let Some(t) = name.strip_prefix("refs/tags/") {
        facts.tag = Some(t.to_string());
    }
    Ok(Some(facts))
}

/// The bare mirror of `repo` under the state directory.
fn mirror_of(app: &App, repo: &str) -> PathBuf {
    let sha = hex(&Sha256::digest(repo.as_bytes()));
    app.state_dir
        .join("serve")
        .join("poll")
        .join(format!("{}.git", &sha[..16]))
}

async fn fetch(mirror: &Path, repo: &str, head: &str) -> Result<(), String> {
    if !mirror.exists() {
        std::fs::create_dir_all(mirror).map_err(|e| format!("cannot create a mirror: {e}"))?;
        git(Some(mirror), &["init", "--quiet", "--bare"]).await?;
    }
    let refspec = format!("+{head}:refs/polled/{head}");
    if git(
        Some(mirror),
        &["fetch", "--quiet", "--no-tags", "--", repo, &refspec],
    )
    .await
    .is_err()
    {
        // A server that refuses to send a commit by id: fetch every branch instead.
        git(
            Some(mirror),
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--",
                repo,
                "+refs/heads/*:refs/heads/*",
            ],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::interval;

    fn with_polls(polls: &[Option<u64>]) -> crate::ir::Pipeline {
        let span = json!({"file": 0, "start": 0, "end": 0, "line": 1, "column": 1});
        let triggers: Vec<_> = polls
            .iter()
            .map(|p| {
                json!({"kind": "push", "branches": [], "tags": [], "paths": [], "events": [],
                       "cron": null, "tz": null, "poll_secs": p, "span": span})
            })
            .collect();
        serde_json::from_value(json!({
            "name": "p", "span": span, "mode": "superseded", "timeout_secs": null,
            "params": [], "secrets": [], "triggers": triggers, "stages": []
        }))
        .expect("a pipeline")
    }

    #[test]
    fn the_shortest_poll_of_the_push_triggers_wins_over_the_server_default() {
        let p = with_polls(&[Some(60), None, Some(30)]);
        assert_eq!(
            interval(&p, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn without_a_poll_the_server_default_applies_or_nothing() {
        let p = with_polls(&[None]);
        assert_eq!(
            interval(&p, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(interval(&p, None), None);
    }
}
