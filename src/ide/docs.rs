//! The words shown on hover and in completion: built-in kinds and their parameters, common
//! attributes, `run.*` fields and keywords (LANGUAGE.md §4, §5, §7).
//!
//! Types come from the checker's tables (`check::kind_params`), so they cannot drift; a test
//! checks that every parameter the checker knows has words here.

/// A built-in kind: what it does.
pub(crate) fn kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "sh" => "Runs a script with a shell (bash by default) in a fresh workspace.",
        "dir" => "Snapshots a local folder as the action's result (`output = NAME`).",
        "git" => {
            "Checks out a revision of a git repository; exports `commit` and `branch`, and its \
             checkout is the action's result (`output = NAME`)."
        }
        "approval" => {
            "Holds the run until someone runs `pipec approve` (or `reject`); `timeout` is the \
             approval timeout (default 7d)."
        }
        "wait" => "Waits for a duration.",
        "pipeline" => "Runs another pipeline file as one action.",
        "aws" => {
            "An AWS CodePipeline provider action (CloudFormation, CodeBuild, S3, ECS, Lambda, …): \
             checked against the provider catalog, compiled to the native action, run locally \
             through the `aws` CLI (docs/aws.md)."
        }
        _ => return None,
    })
}

/// A built-in kind's parameter: its default (as written) or `None` when required, and what
/// it does.
pub(crate) fn kind_param(kind: &str, param: &str) -> Option<(Option<&'static str>, &'static str)> {
    Some(match (kind, param) {
        ("sh", "run") => (
            None,
            "The script. Each `${…}` becomes one shell-quoted word: data is never run as code.",
        ),
        ("sh", "shell") => (Some("\"bash\""), "The shell that runs the script."),
        ("sh", "namespace") => (
            Some("\"\""),
            "The `Namespace` of its exports on CodePipeline (default `STAGE_ACTION`).",
        ),
        ("sh", "workdir") => (
            Some("\".\""),
            "Where the script runs, relative to the workspace.",
        ),
        ("dir", "path") => (
            None,
            "The folder to snapshot, relative to the pipeline file.",
        ),
        ("dir", "exclude") => (Some("[]"), "Globs of paths to leave out."),
        ("git", "repo") => (None, "The repository: a path or a URL."),
        ("git", "ref") => (Some("\"HEAD\""), "The revision to check out."),
        ("approval", "summary") => (Some("\"\""), "What the approver is asked."),
        ("approval", "url") => (Some("\"\""), "A link for the approver to look at."),
        ("approval", "notify") => (
            Some("\"\""),
            "The SNS topic ARN CodePipeline notifies (`NotificationArn`); `pipec run` does not publish.",
        ),
        ("approval", "approvers") => (
            Some("[]"),
            "Who may decide (`pipec approve --as NAME`); empty: anyone.",
        ),
        ("wait", "duration") => (None, "How long to wait."),
        ("pipeline", "file") => (None, "The pipeline file to run, relative to this file."),
        ("pipeline", "params") => (Some("{}"), "Its parameters, by name."),
        ("aws", "provider") => (
            None,
            "The CodePipeline provider: `CloudFormation`, `CodeBuild`, `S3`, `ECS`, `Lambda`, …",
        ),
        ("aws", "owner") => (Some("\"AWS\""), "`AWS`, `ThirdParty` or `Custom`."),
        ("aws", "version") => (Some("\"1\""), "The provider's action version."),
        ("aws", "configuration") => (
            Some("{}"),
            "The provider's configuration, keys as AWS spells them; a `\"\"` value is not set.",
        ),
        ("aws", "region") => (Some("\"\""), "The region of a cross-region action."),
        ("aws", "role") => (
            Some("\"\""),
            "The IAM role the action runs as (cross-account), assumed by `pipec run` too.",
        ),
        ("aws", "namespace") => (
            Some("\"\""),
            "The CodePipeline namespace of its output variables (default `STAGE_ACTION`).",
        ),
        _ => return None,
    })
}

/// A common attribute: its type as written and what it does.
pub(crate) fn common(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "after" => (
            "list of action names",
            "Run order within the stage: this action starts after those succeed. Actions with \
             no order between them run in parallel.",
        ),
        "input" => (
            "artifact name",
            "An artifact restored in the workspace before the action runs.",
        ),
        "inputs" => (
            "list of artifact names",
            "Artifacts restored in the workspace before the action runs.",
        ),
        "output" => (
            "NAME from \"PATH\" | NAME",
            "A file or folder captured after success as a named artifact (`NAME` alone: the \
             kind's own result, for `dir`, `git` and `aws`).",
        ),
        "outputs" => (
            "{ NAME = \"PATH\" … }",
            "Files or folders captured after success as named artifacts.",
        ),
        "exports" => (
            "list of names",
            "Output variables the action sets by writing `NAME=VALUE` lines to \
             `$PIPEC_OUTPUT`; read them as `STAGE.ACTION.NAME`.",
        ),
        "env" => (
            "map<string | secret>",
            "Added to the environment of the process; the only place secrets may go.",
        ),
        "timeout" => (
            "duration",
            "Limit per attempt; on `approval`, the approval timeout (1m..30d).",
        ),
        "retry" => (
            "int | { count = N, backoff = DURATION }",
            "Re-runs after a failed attempt, 0..10.",
        ),
        "when" => ("bool", "Skip this action when false."),
        "image" => (
            "string",
            "The container image of an `sh` action (`pipec run --containers`, and the \
             export targets); the pipeline's `image` is the default.",
        ),
        "category" => (
            "source | build | test | deploy | approval | invoke",
            "What the action is, for the run view; defaults from the kind.",
        ),
        _ => return None,
    })
}

/// A `run.*` field: its type and meaning.
pub(crate) fn run_field(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "id" => ("string", "The run's id."),
        "branch" => (
            "string",
            "The branch (`--branch`, else read from git; empty when unknown).",
        ),
        "tag" => ("string", "The tag (`--tag`; empty when none)."),
        "commit" => ("string", "The commit (`--commit`, else read from git)."),
        "trigger" => (
            "string",
            "The event that started the run: `push`, `pull_request`, `schedule` or `manual`.",
        ),
        "attempt" => ("int", "The attempt number of the current action, from 1."),
        _ => return None,
    })
}

/// Keywords that start an item, by where they may stand, with a short meaning.
pub(crate) const FILE_KEYWORDS: &[(&str, &str)] = &[
    ("import", "import \"std/NAME\" or \"./file.pipe\" as NAME"),
    ("pipeline", "pipeline NAME { … }"),
    (
        "template",
        "template NAME(PARAM: TYPE = DEFAULT): KIND { … }",
    ),
];

pub(crate) const PIPELINE_KEYWORDS: &[(&str, &str)] = &[
    ("stage", "stage NAME { … }"),
    ("param", "param NAME: TYPE = DEFAULT"),
    ("secret", "secret NAME = env(\"VAR\")"),
    ("trigger", "trigger push|pull_request|schedule|manual { … }"),
    (
        "notify",
        "notify \"URL\" { events = [approval, failed, succeeded, held]  secret = secrets.NAME }",
    ),
    (
        "transition",
        "transition FROM -> TO [when EXPR] [disabled \"REASON\"]",
    ),
    ("mode", "mode superseded|queued|parallel"),
    ("timeout", "timeout DURATION"),
    ("image", "image \"NAME\""),
    ("keep", "keep N runs | keep DURATION"),
];

pub(crate) const STAGE_KEYWORDS: &[(&str, &str)] = &[
    ("action", "action NAME: KIND { … }"),
    ("after", "after = [STAGE, …]"),
    ("timeout", "timeout DURATION"),
    ("entry", "entry { RULE… [else skip|fail] }"),
    ("on success", "on success { RULE… [else rollback|fail] }"),
    (
        "on failure",
        "on failure retry [N] [failed|all] | rollback | fail",
    ),
];

pub(crate) const RULE_KEYWORDS: &[(&str, &str)] = &[
    ("require", "require EXPR"),
    ("window", "window \"CRON\" [tz \"ZONE\"]"),
    ("check", "check KIND { … }"),
    (
        "else",
        "else skip|fail|wait (entry), else rollback|fail (on success)",
    ),
];

pub(crate) const FUNCTIONS: &[(&str, &str)] = &[
    ("contains", "contains(list_or_string, value): bool"),
    ("starts_with", "starts_with(string, prefix): bool"),
    ("ends_with", "ends_with(string, suffix): bool"),
    ("len", "len(list_or_string): int"),
    ("join", "join(list, sep): string"),
    ("lower", "lower(string): string"),
    ("upper", "upper(string): string"),
    ("regex", "regex(string, pattern): bool"),
    (
        "env",
        "env(name): the environment variable (only in `secret` and `param` defaults)",
    ),
    (
        "file",
        "file(path): a file's text (only in `secret` and `param` defaults)",
    ),
];

pub(crate) const PARAM_CONSTRAINTS: &[(&str, &str)] = &[
    ("allowed", "list: the only values the param may take"),
    (
        "pattern",
        "string: a regular expression the whole value must match",
    ),
];

pub(crate) const TRIGGER_ATTRIBUTES: &[(&str, &str)] = &[
    ("branches", "list<string>: branch globs"),
    ("tags", "list<string>: tag globs"),
    ("paths", "list<string>: globs of changed paths"),
    (
        "events",
        "list<string>: pull request events (opened, updated, closed)",
    ),
    ("cron", "string: 5-field cron (schedule)"),
    ("tz", "string: IANA time zone of `cron`"),
];

#[cfg(test)]
mod tests {
    use crate::check::{KINDS, kind_by_name, kind_params};

    #[test]
    fn every_kind_parameter_has_words() {
        for k in KINDS {
            assert!(super::kind(k).is_some(), "kind `{k}` has no doc");
            let kind = kind_by_name(k).expect("a built-in kind");
            for p in kind_params(kind) {
                let (default, _) = super::kind_param(k, p.name)
                    .unwrap_or_else(|| panic!("`{k}.{}` has no doc", p.name));
                assert_eq!(default.is_some(), p.default.is_some(), "`{k}.{}`", p.name);
            }
        }
        for c in crate::check::COMMON {
            assert!(
                super::common(c).is_some(),
                "common attribute `{c}` has no doc"
            );
        }
    }
}
