//! The IAM roles and the artifact bucket: template parameters by default; with
//! `--create-role`, generated: an encrypted, versioned, private bucket, and one role each for
//! the pipeline, the builds and the schedules, allowed only what they use.

use super::Cx;
use crate::export::doc::Node;

pub(super) fn pipeline_role(cx: &mut Cx<'_>) -> Node {
    if cx.opts.create_role {
        return Node::GetAtt("PipelineRole".into(), "Arn".into());
    }
    cx.param(
        "PipelineRoleArn",
        "The ARN of the IAM role CodePipeline runs the pipeline with".into(),
        None,
    )
}

pub(super) fn build_role(cx: &mut Cx<'_>) -> Node {
    if cx.opts.create_role {
        return Node::GetAtt("BuildRole".into(), "Arn".into());
    }
    cx.param(
        "BuildRoleArn",
        "The ARN of the IAM role the generated CodeBuild projects run with".into(),
        None,
    )
}

pub(super) fn scheduler_role(cx: &mut Cx<'_>) -> Node {
    if cx.opts.create_role {
        return Node::GetAtt("SchedulerRole".into(), "Arn".into());
    }
    cx.param(
        "SchedulerRoleArn",
        "The ARN of the IAM role the schedules start the pipeline with".into(),
        None,
    )
}

pub(super) fn bucket(cx: &mut Cx<'_>) -> Node {
    if cx.opts.create_role {
        return Node::Ref("ArtifactBucket".into());
    }
    cx.param(
        "ArtifactBucket",
        "The S3 bucket CodePipeline keeps artifacts in".into(),
        None,
    )
}

/// A resource's type and its logical id, for those the roles grant access to.
fn of_type<'a>(cx: &'a Cx<'_>, ty: &str) -> Vec<&'a str> {
    cx.resources
        .iter()
        .filter(|(_, n)| type_of(n) == Some(ty))
        .map(|(id, _)| id.as_str())
        .collect()
}

fn type_of(n: &Node) -> Option<&str> {
    match n {
        Node::Commented(_, inner) => type_of(inner),
        Node::Map(e) => e
            .iter()
            .find(|(k, _)| k == "Type")
            .and_then(|(_, v)| match v {
                Node::Str(s) => Some(s.as_str()),
                _ => None,
            }),
        _ => None,
    }
}

fn statement(actions: &[&str], resources: Vec<Node>) -> Node {
    Node::map([
        ("Effect", Node::str("Allow")),
        ("Action", Node::strs(actions.iter().copied())),
        ("Resource", Node::Seq(resources)),
    ])
}

fn role(service: &str, statements: Vec<Node>) -> Node {
    let trust = Node::map([
        ("Version", Node::str("2012-10-17")),
        (
            "Statement",
            Node::Seq(vec![Node::map([
                ("Effect", Node::str("Allow")),
                ("Principal", Node::map([("Service", Node::str(service))])),
                ("Action", Node::str("sts:AssumeRole")),
            ])]),
        ),
    ]);
    Node::map([
        ("Type", Node::str("AWS::IAM::Role")),
        (
            "Properties",
            Node::map([
                ("AssumeRolePolicyDocument", trust),
                (
                    "Policies",
                    Node::Seq(vec![Node::map([
                        ("PolicyName", Node::str("pipec")),
                        (
                            "PolicyDocument",
                            Node::map([
                                ("Version", Node::str("2012-10-17")),
                                ("Statement", Node::Seq(statements)),
                            ]),
                        ),
                    ])]),
                ),
            ]),
        ),
    ])
}

fn pipeline_arn() -> Node {
    Node::Sub(
        "arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:${PipelineName}"
            .into(),
    )
}

/// With `--create-role`: the bucket and the roles.
pub(super) fn create(cx: &mut Cx<'_>) {
    if !cx.opts.create_role {
        return;
    }
    let objects = Node::Sub("${ArtifactBucket.Arn}/*".into());
    let bucket_arn = Node::GetAtt("ArtifactBucket".into(), "Arn".into());
    let projects: Vec<Node> = of_type(cx, "AWS::CodeBuild::Project")
        .into_iter()
        .map(|id| Node::GetAtt(id.into(), "Arn".into()))
        .collect();
    let has_schedules = !of_type(cx, "AWS::Scheduler::Schedule").is_empty();
    let secrets: Vec<Node> = cx
        .params
        .iter()
        .filter(|(k, _)| k.starts_with("Secret"))
        .map(|(k, _)| Node::Sub(format!("arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{{k}}}-*")))
        .collect();
    let has_connection = cx.params.iter().any(|(k, _)| k == "ConnectionArn");
    let has_source_bucket = cx.params.iter().any(|(k, _)| k == "SourceBucket");
    let mut pipeline = vec![
        statement(
            &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            vec![objects.clone()],
        ),
        statement(
            &["s3:GetBucketVersioning", "s3:GetBucketLocation"],
            vec![bucket_arn.clone()],
        ),
    ];
    if !projects.is_empty() {
        pipeline.push(statement(
            &["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
            projects,
        ));
    }
    if has_connection {
        pipeline.push(statement(
            &[
                "codestar-connections:UseConnection",
                "codeconnections:UseConnection",
            ],
            vec![Node::Ref("ConnectionArn".into())],
        ));
    }
    if has_source_bucket {
        pipeline.push(statement(
            &[
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetBucketVersioning",
            ],
            vec![
                Node::Sub("arn:${AWS::Partition}:s3:::${SourceBucket}".into()),
                Node::Sub("arn:${AWS::Partition}:s3:::${SourceBucket}/*".into()),
            ],
        ));
    }
    pipeline.extend(super::aws::permissions(cx));
    let mut build = vec![
        statement(
            &["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            vec![Node::Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/codebuild/*".into())],
        ),
        statement(&["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], vec![objects]),
        statement(&["codepipeline:ListActionExecutions"], vec![pipeline_arn()]),
    ];
    if !secrets.is_empty() {
        build.push(statement(&["secretsmanager:GetSecretValue"], secrets));
    }
    let bucket = Node::map([
        ("Type", Node::str("AWS::S3::Bucket")),
        ("DeletionPolicy", Node::str("Retain")),
        ("UpdateReplacePolicy", Node::str("Retain")),
        (
            "Properties",
            Node::map([
                (
                    "BucketEncryption",
                    Node::map([(
                        "ServerSideEncryptionConfiguration",
                        Node::Seq(vec![Node::map([(
                            "ServerSideEncryptionByDefault",
                            Node::map([("SSEAlgorithm", Node::str("aws:kms"))]),
                        )])]),
                    )]),
                ),
                (
                    "PublicAccessBlockConfiguration",
                    Node::map([
                        ("BlockPublicAcls", Node::Bool(true)),
                        ("BlockPublicPolicy", Node::Bool(true)),
                        ("IgnorePublicAcls", Node::Bool(true)),
                        ("RestrictPublicBuckets", Node::Bool(true)),
                    ]),
                ),
                (
                    "VersioningConfiguration",
                    Node::map([("Status", Node::str("Enabled"))]),
                ),
            ]),
        ),
    ]);
    cx.resources.push((
        "ArtifactBucket".into(),
        bucket.commented("generated (--create-role): the artifact store, encrypted and private"),
    ));
    cx.resources.push((
        "PipelineRole".into(),
        role("codepipeline.amazonaws.com", pipeline)
            .commented("generated (--create-role): what the pipeline may do"),
    ));
    cx.resources.push((
        "BuildRole".into(),
        role("codebuild.amazonaws.com", build)
            .commented("generated (--create-role): what the builds may do"),
    ));
    if has_schedules {
        let start = vec![statement(
            &["codepipeline:StartPipelineExecution"],
            vec![pipeline_arn()],
        )];
        cx.resources.push((
            "SchedulerRole".into(),
            role("scheduler.amazonaws.com", start)
                .commented("generated (--create-role): what the schedules may do"),
        ));
    }
}
