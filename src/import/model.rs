//! The CodePipeline model every reader produces: CodePipeline's own structure (stages,
//! actions with their action type, configuration, artifacts, run order; conditions, triggers,
//! variables), with values as [`Text`] (literal or not). Names are CodePipeline's, not yet
//! pipec identifiers: the generator renames.

use super::tree::Text;

/// Where a pipeline came from, for the header comment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origin {
    /// "CloudFormation resource `Pipeline`", "`aws_codepipeline.main`", "CLI JSON".
    pub what: String,
}

/// One pipeline declaration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    pub origin: Origin,
    /// The pipeline's name (CodePipeline's `name`), when the file gives one.
    pub name: Option<Text>,
    /// A fallback name: the CloudFormation logical id or the Terraform resource label.
    pub label: String,
    pub role_arn: Option<Text>,
    pub execution_mode: Option<String>,
    pub pipeline_type: Option<String>,
    pub variables: Vec<Variable>,
    pub triggers: Vec<Trigger>,
    pub stages: Vec<Stage>,
    /// `DisableInboundStageTransitions`: stage name and reason.
    pub disabled_transitions: Vec<(String, Text)>,
    /// Inputs of the file the values refer to (`Part::Param`).
    pub inputs: Vec<Input>,
    /// What the import noticed and could not carry over (one comment line each).
    pub notes: Vec<String>,
}

/// An input of the file: a CloudFormation parameter, a Terraform variable, a jq argument.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Input {
    pub name: String,
    pub default: Option<String>,
    pub description: Option<String>,
    pub allowed: Vec<String>,
    /// CloudFormation `NoEcho`: a secret passed as text.
    pub no_echo: bool,
    /// "CloudFormation parameter", "Terraform variable", "jq argument".
    pub kind: &'static str,
}

/// A pipeline-level variable (`variables`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Variable {
    pub name: String,
    pub default: Option<Text>,
    pub description: Option<String>,
}

/// A V2 trigger's filter: one push or pull request filter of a git configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trigger {
    pub pull_request: bool,
    pub source_action: Option<String>,
    pub branches: Filter,
    pub tags: Filter,
    pub paths: Filter,
    /// Pull request events as CodePipeline spells them (`OPEN`, `UPDATED`, `CLOSED`).
    pub events: Vec<String>,
}

/// Includes and excludes of one trigger filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub includes: Vec<Text>,
    pub excludes: Vec<Text>,
}

/// A stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stage {
    pub name: String,
    pub actions: Vec<Action>,
    pub before_entry: Option<Condition>,
    pub on_success: Option<Condition>,
    pub on_failure: Option<Failure>,
    pub notes: Vec<String>,
}

/// An action.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Action {
    pub name: String,
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
    pub run_order: Option<i64>,
    /// `Configuration`, in the file's order.
    pub configuration: Vec<(String, Text)>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub namespace: Option<String>,
    pub region: Option<Text>,
    pub role_arn: Option<Text>,
    pub timeout_minutes: Option<i64>,
    /// The `Commands` action's commands.
    pub commands: Vec<Text>,
    pub output_variables: Vec<String>,
    pub notes: Vec<String>,
}

/// A `beforeEntry` or `onSuccess` condition (CodePipeline allows one per stage and kind).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Condition {
    /// `FAIL`, `SKIP`, `ROLLBACK`…
    pub result: String,
    pub rules: Vec<Rule>,
}

/// A rule of a condition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub name: String,
    /// `VariableCheck`, `DeploymentWindow`, `Commands`, `LambdaInvoke`, `CloudWatchAlarm`…
    pub provider: String,
    pub configuration: Vec<(String, Text)>,
    pub commands: Vec<Text>,
    pub inputs: Vec<String>,
}

/// `onFailure`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Failure {
    /// `RETRY`, `ROLLBACK`, `FAIL`, `SKIP`.
    pub result: String,
    /// `FAILED_ACTIONS` or `ALL_ACTIONS`.
    pub retry_mode: Option<String>,
    /// Rules of its conditions (pipec's `on failure` has none: kept as a comment).
    pub rules: Vec<Rule>,
}
