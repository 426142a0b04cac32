//! `aws` actions: the native CodePipeline action of each (`ActionTypeId` from `owner`,
//! `provider`, `version` and the category; `Configuration` with `${…}` as `#{NS.VAR}`;
//! input and output artifacts; `Region`, `RoleArn` and `Namespace` when set).
//!
//! An `aws` action's input artifacts are the CodePipeline artifacts its inputs come from
//! (a `dir` snapshot: the repository's artifact). What CodePipeline cannot do for one
//! provider action is refused: retries (CodePipeline retries a stage, not an action) and
//! `env` (a provider action has no environment: CodeBuild takes `EnvironmentVariables`).

use super::{Cx, values};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, Expr};

/// The CodePipeline category of a pipec category.
fn category(c: ir::Category) -> &'static str {
    match c {
        ir::Category::Source => "Source",
        ir::Category::Build => "Build",
        ir::Category::Test => "Test",
        ir::Category::Deploy => "Deploy",
        ir::Category::Approval => "Approval",
        ir::Category::Invoke => "Invoke",
    }
}

/// A kind parameter's literal text ("" when unset or not literal; the checker requires
/// `provider`, `owner` and `version` to be literal).
pub(super) fn param<'a>(a: &'a ir::Action, name: &str) -> &'a str {
    match a.params.get(name) {
        Some(Expr::Str { value }) => value,
        _ => "",
    }
}

/// The namespace of an `aws` or `sh` action with `namespace` set, else `None`.
pub(super) fn namespace_of(a: &ir::Action) -> Option<&str> {
    (matches!(a.kind, ir::Kind::Aws | ir::Kind::Sh) && !param(a, "namespace").is_empty())
        .then(|| param(a, "namespace"))
}

/// The native action (`None` after reporting why there is none).
pub(super) fn action(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    run_order: u32,
    inputs: Vec<String>,
) -> Option<Node> {
    let at = cx.head(a.span);
    let mut ok = true;
    if a.retry.count > 0 {
        cx.refuse(
            Code::E0501,
            at,
            format!("`{}` has `retry`", a.name),
            "CodePipeline retries a failed stage, not one provider action",
            "remove `retry`, or retry the stage (`on failure retry`)",
        );
        ok = false;
    }
    if !a.env.is_empty() {
        cx.refuse(
            Code::E0501,
            at,
            format!("`{}` has `env`", a.name),
            "a provider action has no environment of its own",
            "pass the values in `configuration` (CodeBuild: `EnvironmentVariables`)",
        );
        ok = false;
    }
    let mut config = Vec::new();
    if let Some(Expr::Map { entries }) = a.params.get("configuration") {
        for (k, v) in entries {
            match values::text(cx, v, at) {
                // An empty value is "not set" (also once a variable is known: CodePipeline
                // has no empty configuration values).
                Some(t) if t.is_empty() => {}
                Some(t) => config.push((k.clone(), Node::Str(t))),
                None => ok = false,
            }
        }
    }
    if !ok {
        return None;
    }
    let mut node = vec![
        ("Name".to_string(), Node::str(&a.name)),
        (
            "ActionTypeId".to_string(),
            Node::map([
                ("Category", Node::str(category(a.category))),
                ("Owner", Node::str(param(a, "owner"))),
                ("Provider", Node::str(param(a, "provider"))),
                ("Version", Node::str(param(a, "version"))),
            ]),
        ),
        ("RunOrder".to_string(), Node::Int(i64::from(run_order))),
    ];
    if !config.is_empty() {
        node.push(("Configuration".to_string(), Node::Map(config)));
    }
    let names = |list: Vec<String>| {
        Node::Seq(
            list.iter()
                .map(|n| Node::map([("Name", Node::str(n))]))
                .collect(),
        )
    };
    if !inputs.is_empty() {
        node.push(("InputArtifacts".to_string(), names(inputs)));
    }
    if !a.outputs.is_empty() {
        let outs = a.outputs.iter().map(|o| o.name.clone()).collect();
        node.push(("OutputArtifacts".to_string(), names(outs)));
    }
    for (key, name) in [("Region", "region"), ("RoleArn", "role")] {
        let v = param(a, name);
        if !v.is_empty() {
            node.push((key.to_string(), Node::str(v)));
        } else if !matches!(a.params.get(name), Some(Expr::Str { .. }) | None) {
            let text = a.params.get(name).and_then(|e| values::text(cx, e, at))?;
            node.push((key.to_string(), Node::Str(text)));
        }
    }
    if let Some(ns) = namespace_of(a) {
        node.push(("Namespace".to_string(), Node::str(ns)));
    } else if !a.exports.is_empty() {
        node.push((
            "Namespace".to_string(),
            Node::Str(super::namespace(&stage.name, &a.name)),
        ));
    }
    Some(Node::Map(node))
}

/// What the pipeline's role needs for a provider (`--create-role`), as CodePipeline's
/// service role policy grants it.
fn needs(provider: &str) -> &'static [&'static str] {
    match provider {
        "CodeBuild" => &[
            "codebuild:StartBuild",
            "codebuild:BatchGetBuilds",
            "codebuild:StartBuildBatch",
            "codebuild:BatchGetBuildBatches",
        ],
        "CloudFormation" => &[
            "cloudformation:CreateStack",
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStacks",
            "cloudformation:UpdateStack",
            "cloudformation:CreateChangeSet",
            "cloudformation:DeleteChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:SetStackPolicy",
            "cloudformation:ValidateTemplate",
            "iam:PassRole",
        ],
        "ECS" => &[
            "ecs:DescribeServices",
            "ecs:DescribeTaskDefinition",
            "ecs:DescribeTasks",
            "ecs:ListTasks",
            "ecs:RegisterTaskDefinition",
            "ecs:TagResource",
            "ecs:UpdateService",
            "iam:PassRole",
        ],
        "CodeDeploy" | "CodeDeployToECS" => &[
            "codedeploy:CreateDeployment",
            "codedeploy:GetApplication",
            "codedeploy:GetApplicationRevision",
            "codedeploy:GetDeployment",
            "codedeploy:GetDeploymentConfig",
            "codedeploy:RegisterApplicationRevision",
            "ecs:RegisterTaskDefinition",
            "iam:PassRole",
        ],
        "ElasticBeanstalk" => &[
            "elasticbeanstalk:*",
            "ec2:*",
            "elasticloadbalancing:*",
            "autoscaling:*",
            "cloudwatch:*",
            "s3:*",
            "sns:*",
            "cloudformation:*",
            "rds:*",
            "sqs:*",
            "ecs:*",
        ],
        "Lambda" => &["lambda:InvokeFunction", "lambda:ListFunctions"],
        "S3" => &[
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetBucketVersioning",
            "s3:PutObject",
            "s3:PutObjectAcl",
        ],
        "StepFunctions" => &[
            "states:DescribeExecution",
            "states:DescribeStateMachine",
            "states:StartExecution",
        ],
        "CodeCommit" => &[
            "codecommit:GetBranch",
            "codecommit:GetCommit",
            "codecommit:GetRepository",
            "codecommit:UploadArchive",
            "codecommit:GetUploadArchiveStatus",
            "codecommit:CancelUploadArchive",
        ],
        "ECR" => &["ecr:DescribeImages"],
        "CodeStarSourceConnection" => &[
            "codestar-connections:UseConnection",
            "codeconnections:UseConnection",
        ],
        "CloudFormationStackSet" => &["cloudformation:*", "iam:PassRole"],
        "ECRBuildAndPublish" => &["ecr:*", "logs:*"],
        _ => &[],
    }
}

/// The statements the pipeline's role needs for its `aws` actions: the providers' actions
/// (on any resource, since names may come from variables), and `sts:AssumeRole` on the
/// actions' own roles.
pub(super) fn permissions(cx: &Cx<'_>) -> Vec<Node> {
    let mut actions: Vec<&str> = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    for a in cx.ir.pipeline.stages.iter().flat_map(|s| &s.actions) {
        if a.kind != ir::Kind::Aws || param(a, "owner") != "AWS" {
            continue;
        }
        for n in needs(param(a, "provider")) {
            if !actions.contains(n) {
                actions.push(n);
            }
        }
        let role = param(a, "role");
        if !role.is_empty() && !roles.iter().any(|r| r == role) {
            roles.push(role.to_string());
        }
    }
    actions.sort_unstable();
    let mut out = Vec::new();
    if !actions.is_empty() {
        out.push(Node::map([
            ("Effect", Node::str("Allow")),
            ("Action", Node::strs(actions)),
            ("Resource", Node::str("*")),
        ]));
    }
    if !roles.is_empty() {
        out.push(Node::map([
            ("Effect", Node::str("Allow")),
            ("Action", Node::strs(["sts:AssumeRole"])),
            (
                "Resource",
                Node::Seq(roles.into_iter().map(Node::Str).collect()),
            ),
        ]));
    }
    out
}
