//! Habits from AWS `CodePipeline`: the names its users type (in the JSON of the API, or
//! capitalised as in `CloudFormation`), and what pipec calls them. Pure tables, read by the
//! diagnostics that meet such a name: E0203 (an unknown attribute of an action) and E0101 (an
//! item of a stage or pipeline that does not parse).
//!
//! Names are matched without regard to case, so `runOrder` and `RunOrder` both find
//! `after`. Each entry is the help of the diagnostic: an action, in pipec's terms.

/// Attributes of a `CodePipeline` action. `{params}` stands for the parameters of the kind or
/// template at hand.
const ACTION: &[(&str, &str)] = &[
    (
        "runOrder",
        "CodePipeline's `runOrder` is `after = [ACTION, …]` here: name the actions of the stage this one runs after (actions with no `after` between them run in parallel)",
    ),
    (
        "inputArtifacts",
        "CodePipeline's `inputArtifacts` is `inputs = [ARTIFACT, …]` (or `input = ARTIFACT`) here",
    ),
    (
        "outputArtifacts",
        "CodePipeline's `outputArtifacts` is `outputs = { NAME = \"PATH\" }` (or `output = NAME from \"PATH\"`) here",
    ),
    (
        "namespace",
        "CodePipeline's `namespace` is `namespace = \"NS\"` (lowercase) with `exports = [NAME, …]` here: the action writes `NAME=value` to `$PIPEC_OUTPUT`, and others read it as `STAGE.ACTION.NAME`",
    ),
    (
        "configuration",
        "CodePipeline's `configuration` has no block of its own here: write the parameters ({params}) directly in the action's block",
    ),
    (
        "actionTypeId",
        "CodePipeline's `actionTypeId` is the kind after the action's name: `action NAME: sh { … }` (or `dir`, `git`, `approval`, `wait`, `pipeline`, a template)",
    ),
    (
        "provider",
        "CodePipeline's `provider` is the kind after the action's name: `action NAME: sh { … }` (or `dir`, `git`, `approval`, `wait`, `pipeline`, a template)",
    ),
    (
        "owner",
        "CodePipeline's `owner` has no counterpart: the kind after the action's name says what runs (`action NAME: sh { … }`)",
    ),
    (
        "version",
        "CodePipeline's action `version` has no counterpart: a kind has one version (a template is versioned with the file it comes from)",
    ),
    (
        "name",
        "the action's name is written after `action`: `action NAME: KIND { … }`",
    ),
    (
        "region",
        "actions run where pipec runs, so there is no `region`: pass it to the command, e.g. `env = { AWS_REGION = \"eu-west-1\" }`",
    ),
    (
        "roleArn",
        "actions run with pipec's own credentials, so there is no `roleArn`: assume a role in the command, with credentials from a `secret` passed through `env`",
    ),
    (
        "timeoutInMinutes",
        "the timeout is `timeout = 30m` here (a duration: `90s`, `15m`, `2h`)",
    ),
    (
        "environmentVariables",
        "environment variables are `env = { NAME = \"value\" }` here (a `secret` through `env = { NAME = secrets.NAME }`)",
    ),
];

/// Items of a `CodePipeline` stage (and of the pipeline), met where the parser expects an
/// item.
const ITEM: &[(&str, &str)] = &[
    (
        "onFailure",
        "CodePipeline's `onFailure` is the stage item `on failure retry|rollback|fail` here (no `=`)",
    ),
    (
        "onSuccess",
        "CodePipeline's `onSuccess` is the stage item `on success { RULE… [else rollback|fail] }` here",
    ),
    (
        "beforeEntry",
        "CodePipeline's `beforeEntry` is the stage item `entry { RULE… [else skip|fail|wait] }` here",
    ),
    (
        "blockers",
        "pipec has no stage blockers: order stages with `after = [STAGE, …]`, and hold a run with `transition A -> B disabled \"REASON\"`",
    ),
    (
        "actions",
        "actions are items of the stage here: `action NAME: KIND { … }`, one per action",
    ),
    (
        "stages",
        "stages are items of the pipeline here: `stage NAME { … }`, one per stage",
    ),
    (
        "name",
        "a name is written after its keyword: `stage NAME { … }`, `action NAME: KIND { … }`",
    ),
    (
        "executionMode",
        "CodePipeline's `executionMode` is the pipeline item `mode superseded|queued|parallel` here",
    ),
    (
        "variables",
        "CodePipeline's pipeline `variables` are `param NAME: TYPE = DEFAULT` items here",
    ),
    (
        "triggers",
        "CodePipeline's `triggers` are `trigger push|pull_request|schedule|manual { … }` items here",
    ),
    (
        "pipelineType",
        "pipec has one pipeline type: remove `pipelineType`",
    ),
    (
        "artifactStore",
        "artifacts are stored in pipec's state directory: remove `artifactStore`",
    ),
];

fn find(table: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, help)| *help)
}

/// The help for an unknown action attribute named as in `CodePipeline`; `params` lists the
/// parameters of the kind or template (for `configuration`).
pub fn action_attribute(name: &str, params: &str) -> Option<String> {
    find(ACTION, name).map(|h| h.replace("{params}", params))
}

/// The help for an unknown attribute of an action named as in `CodePipeline`: an action's
/// attribute, or a stage's item written inside an action.
pub fn attribute(name: &str, params: &str) -> Option<String> {
    action_attribute(name, params).or_else(|| item(name).map(str::to_string))
}

/// The help for a stage or pipeline item named as in `CodePipeline`.
pub fn item(name: &str) -> Option<&'static str> {
    find(ITEM, name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_in_any_case() {
        assert!(super::action_attribute("RunOrder", "").is_some_and(|h| h.contains("after")));
        assert!(super::action_attribute("runorder", "").is_some());
        assert!(super::item("OnFailure").is_some_and(|h| h.contains("on failure")));
        assert_eq!(super::item("stage"), None);
        assert!(
            super::action_attribute("configuration", "`run`, `shell`")
                .is_some_and(|h| h.contains("(`run`, `shell`)"))
        );
    }
}
