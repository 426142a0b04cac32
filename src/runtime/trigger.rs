//! Does an event start a run? (CLI.md `--event`, LANGUAGE.md §4 triggers.)

use crate::ir::{Trigger, TriggerKind};
use crate::patterns::filter_matches;

/// What happened: the `--event` flags of `pipec run`.
#[derive(Clone, Debug, Default)]
pub struct Event {
    pub kind: Option<TriggerKind>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    /// Changed paths, when known (`--changed`); `paths` filters need them.
    pub changed: Option<Vec<String>>,
    /// `opened`, `updated` or `closed` for pull requests.
    pub pr_event: Option<String>,
}

/// The outcome of matching an event against a pipeline's triggers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The run starts; notes say what was not evaluated.
    Start { notes: Vec<String> },
    /// No trigger matched: why, per trigger.
    Ignore { reasons: Vec<String> },
}

fn kind_name(k: TriggerKind) -> &'static str {
    match k {
        TriggerKind::Push => "push",
        TriggerKind::PullRequest => "pull_request",
        TriggerKind::Schedule => "schedule",
        TriggerKind::Manual => "manual",
    }
}

/// Matches `event` against `triggers`. A pipeline without triggers accepts every event; a
/// manual start (`--event manual`, or no `--event`) always runs: as in `CodePipeline`, triggers
/// filter only automatic events (push, pull request, schedule).
pub fn decide(triggers: &[Trigger], event: &Event) -> Decision {
    let kind = match event.kind {
        None | Some(TriggerKind::Manual) => return Decision::Start { notes: vec![] },
        Some(kind) => kind,
    };
    if triggers.is_empty() {
        return Decision::Start {
            notes: vec!["the pipeline has no `trigger`: every event starts it".into()],
        };
    }
    let mut reasons = Vec::new();
    for (i, t) in triggers.iter().enumerate() {
        let name = format!("trigger #{} ({})", i + 1, kind_name(t.kind));
        if t.kind != kind {
            reasons.push(format!("{name}: the event is `{}`", kind_name(kind)));
            continue;
        }
        match filters(t, event) {
            Ok(notes) => return Decision::Start { notes },
            Err(why) => reasons.push(format!("{name}: {why}")),
        }
    }
    Decision::Ignore { reasons }
}

/// Every filter of one trigger: `Err` with the first that rejects the event.
fn filters(t: &Trigger, event: &Event) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let on = |what: &str, patterns: &[String], value: Option<&String>| -> Result<(), String> {
        if patterns.is_empty() {
            return Ok(());
        }
        match value {
            Some(v) if filter_matches(patterns, v) => Ok(()),
            Some(v) => Err(format!("{what} `{v}` does not match {patterns:?}")),
            None => Err(format!("the event has no {what} (pass --{what})")),
        }
    };
    if !t.branches.is_empty() && !t.tags.is_empty() {
        // A push of either a matching branch or a matching tag.
        let branch = on("branch", &t.branches, event.branch.as_ref());
        let tag = on("tag", &t.tags, event.tag.as_ref());
        if let (Err(b), Err(t)) = (branch, tag) {
            return Err(format!("{b}; {t}"));
        }
    } else {
        on("branch", &t.branches, event.branch.as_ref())?;
        on("tag", &t.tags, event.tag.as_ref())?;
    }
    if !t.events.is_empty() {
        match &event.pr_event {
            Some(e) if t.events.contains(e) => {}
            Some(e) => {
                return Err(format!(
                    "pull request event `{e}` is not one of {:?}",
                    t.events
                ));
            }
            None => return Err("the event has no pull request event (pass --pr-event)".into()),
        }
    }
    if !t.paths.is_empty() {
        match &event.changed {
            Some(files) if files.iter().any(|f| filter_matches(&t.paths, f)) => {}
            Some(_) => return Err(format!("no changed path matches {:?}", t.paths)),
            None => {
                let note = "`paths` filters were not evaluated: no --changed paths given";
                notes.push(note.into());
            }
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::{Decision, Event, decide};
    use crate::ir::{Span, Trigger, TriggerKind};

    fn push(branches: &[&str], paths: &[&str]) -> Trigger {
        Trigger {
            kind: TriggerKind::Push,
            branches: branches.iter().map(|s| (*s).to_string()).collect(),
            tags: vec![],
            paths: paths.iter().map(|s| (*s).to_string()).collect(),
            events: vec![],
            cron: None,
            tz: None,
            poll_secs: None,
            span: Span {
                file: 0,
                start: 0,
                end: 0,
                line: 1,
                column: 1,
            },
        }
    }

    fn event(branch: &str, changed: Option<&[&str]>) -> Event {
        Event {
            kind: Some(TriggerKind::Push),
            branch: Some(branch.into()),
            changed: changed.map(|c| c.iter().map(|s| (*s).to_string()).collect()),
            ..Event::default()
        }
    }

    #[test]
    fn branch_globs_with_exclusions() {
        let t = [push(&["main", "release/**", "!release/old*"], &[])];
        assert!(matches!(
            decide(&t, &event("main", None)),
            Decision::Start { .. }
        ));
        assert!(matches!(
            decide(&t, &event("release/1.2/x", None)),
            Decision::Start { .. }
        ));
        assert!(matches!(
            decide(&t, &event("release/old1", None)),
            Decision::Ignore { .. }
        ));
        assert!(matches!(
            decide(&t, &event("feature/x", None)),
            Decision::Ignore { .. }
        ));
    }

    #[test]
    fn paths_need_changed_files() {
        let t = [push(&[], &["src/**", "!src/docs/**"])];
        assert!(matches!(
            decide(&t, &event("main", Some(&["src/a/b.rs"]))),
            Decision::Start { .. }
        ));
        assert!(matches!(
            decide(&t, &event("main", Some(&["src/docs/x.md"]))),
            Decision::Ignore { .. }
        ));
        let Decision::Start { notes } = decide(&t, &event("main", None)) else {
            panic!("starts")
        };
        assert_eq!(notes.len(), 1, "a note says paths were not evaluated");
    }

    #[test]
    fn other_kinds_do_not_match_and_no_triggers_accept_all() {
        let t = [push(&["main"], &[])];
        let schedule = Event {
            kind: Some(TriggerKind::Schedule),
            ..Event::default()
        };
        assert!(matches!(decide(&t, &schedule), Decision::Ignore { .. }));
        assert!(matches!(decide(&[], &schedule), Decision::Start { .. }));
    }

    #[test]
    fn a_manual_start_always_runs() {
        // Triggers filter automatic events only (CodePipeline allows a manual start always).
        let t = [push(&["main"], &[])];
        let manual = Event {
            kind: Some(TriggerKind::Manual),
            branch: Some("feature".into()),
            ..Event::default()
        };
        assert!(matches!(decide(&t, &manual), Decision::Start { .. }));
        assert!(matches!(decide(&[], &manual), Decision::Start { .. }));
    }
}
