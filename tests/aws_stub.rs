//! The providers moto does not run, through a recording `aws` on PATH: the real AWS CLI
//! (`TARGET/aws-venv`, see `aws.rs`) whose HTTP requests are answered from a table instead of
//! sent. So each call is parsed by the CLI and its parameters validated by botocore against
//! the service's model exactly as for AWS (a wrong parameter fails the action), and the
//! waiters run their real acceptors. Each test asserts the exact argument vectors.

use std::path::{Path, PathBuf};

use crate::support::{Test, skip_or_fail};

const STUB: &str = r#"import json, os, sys
from awscli.clidriver import create_clidriver
from botocore.awsrequest import AWSResponse

log = os.environ["PIPEC_STUB_LOG"]
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
with open(os.environ["PIPEC_STUB_ANSWERS"]) as f:
    answers = json.load(f)

class Raw:
    def __init__(self, body):
        self.body = body
    def stream(self, **kwargs):
        yield self.body
    def read(self, *args, **kwargs):
        body, self.body = self.body, b""
        return body

def answer(request, event_name, **kwargs):
    op = event_name.split(".")[-1]
    given = answers.get(op)
    if given is None:
        sys.stderr.write("stub: no answer for " + op + "\n")
        sys.exit(97)
    if isinstance(given, list):
        count = log + ".count-" + op
        n = int(open(count).read()) if os.path.exists(count) else 0
        open(count, "w").write(str(n + 1))
        given = given[min(n, len(given) - 1)]
    if op == "Invoke":
        with open(log + ".bodies", "a") as f:
            f.write(request.body.decode() + "\n")
    body = given.get("body", "").encode()
    return AWSResponse(request.url, given.get("status", 200), given.get("headers", {}), Raw(body))

driver = create_clidriver()
driver.session.register("before-send", answer)
sys.exit(driver.main(sys.argv[1:]))
"#;

/// A test folder whose `aws` is the recording CLI, answering from `answers`.
fn stubbed(answers: &serde_json::Value) -> Option<Test> {
    let bin = super::aws::venv_bin().or_else(|| {
        skip_or_fail("`aws`, which is not on PATH", super::aws::AWS_HOW);
        None
    })?;
    let t = Test::new()
        .file("stub/stub.py", STUB)
        .file("stub/answers.json", &answers.to_string());
    let wrapper = format!(
        "#!/bin/sh\nexec {} {} \"$@\"\n",
        bin.join("python").display(),
        t.path("stub/stub.py").display()
    );
    let t = t.file("stub/bin/aws", &wrapper);
    make_executable(&t.path("stub/bin/aws"));
    let path = format!(
        "{}:{}",
        t.path("stub/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = t.path("stub/calls").display().to_string();
    let answers = t.path("stub/answers.json").display().to_string();
    let config = t.path("no-aws-config").display().to_string();
    Some(
        t.env("PATH", &path)
            .env("PIPEC_STUB_LOG", &log)
            .env("PIPEC_STUB_ANSWERS", &answers)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &config),
    )
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The recorded calls, with the run's id as `RUN` and the state folder as `STATE`.
fn calls(t: &Test) -> Vec<Vec<String>> {
    let run = t.runs()[0]["id"].as_str().unwrap_or_default().to_string();
    let state = t
        .path("state")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("state"));
    let text = std::fs::read_to_string(t.path("stub/calls")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let argv: Vec<String> = serde_json::from_str(l).expect("a JSON line");
            argv.into_iter()
                .map(|a| {
                    a.replace(&state.display().to_string(), "STATE")
                        .replace(&run, "RUN")
                })
                .collect()
        })
        .collect()
}

fn assert_calls(t: &Test, expected: &[&[&str]]) {
    let got = calls(t);
    let want: Vec<Vec<String>> = expected
        .iter()
        .map(|c| c.iter().map(|w| (*w).to_string()).collect())
        .collect();
    assert_eq!(got, want, "the aws calls differ");
}

fn json_body(v: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "body": v.to_string() })
}

#[test]
fn an_ecs_deploy_registers_a_revision_with_the_new_images_and_waits_for_the_service() {
    let answers = serde_json::json!({
        "DescribeServices": json_body(&serde_json::json!({"services": [{
            "serviceName": "web", "status": "ACTIVE", "runningCount": 1, "desiredCount": 1,
            "taskDefinition": "arn:aws:ecs:us-east-1:111111111111:task-definition/web:1",
            "deployments": [{"status": "PRIMARY"}]}]})),
        "DescribeTaskDefinition": json_body(&serde_json::json!({"taskDefinition": {
            "family": "web", "revision": 1, "status": "ACTIVE", "networkMode": "awsvpc",
            "containerDefinitions": [{"name": "app", "image": "app:1"}, {"name": "proxy", "image": "envoy:1"}]}})),
        "RegisterTaskDefinition": json_body(&serde_json::json!({"taskDefinition": {
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:111111111111:task-definition/web:2"}})),
        "UpdateService": json_body(&serde_json::json!({"service": {"serviceName": "web"}})),
    });
    let Some(t) = stubbed(&answers) else { return };
    let t = t
        .file(
            "images/imagedefinitions.json",
            r#"[{"name": "app", "imageUri": "app:2"}]"#,
        )
        .file(
            "app.pipe",
            r#"import "std/aws"

pipeline p {
  stage source {
    action images: dir { path = "images"  output = defs }
  }
  stage deploy {
    action service: aws.ecs { cluster = "shop"  service = "web"  input = defs }
  }
}
"#,
        );
    t.state(["run", "app.pipe", "--verbose"])
        .within(120)
        .stderr_contains("deploy.service | pipec: aws ecs describe-services --cluster shop --services web --output json")
        .run();
    let registered = r#"{"containerDefinitions":[{"image":"app:2","name":"app"},{"image":"envoy:1","name":"proxy"}],"family":"web","networkMode":"awsvpc"}"#;
    assert_calls(
        &t,
        &[
            &[
                "ecs",
                "describe-services",
                "--cluster",
                "shop",
                "--services",
                "web",
                "--output",
                "json",
            ],
            &[
                "ecs",
                "describe-task-definition",
                "--task-definition",
                "arn:aws:ecs:us-east-1:111111111111:task-definition/web:1",
                "--output",
                "json",
            ],
            &[
                "ecs",
                "register-task-definition",
                "--cli-input-json",
                registered,
                "--output",
                "json",
            ],
            &[
                "ecs",
                "update-service",
                "--cluster",
                "shop",
                "--service",
                "web",
                "--task-definition",
                "arn:aws:ecs:us-east-1:111111111111:task-definition/web:2",
                "--output",
                "json",
            ],
            &[
                "ecs",
                "wait",
                "services-stable",
                "--cluster",
                "shop",
                "--services",
                "web",
            ],
        ],
    );
}

fn xml(op: &str, result: &str) -> serde_json::Value {
    serde_json::json!({ "body": format!("<{op}Response><{op}Result>{result}</{op}Result></{op}Response>") })
}

fn cfn_missing() -> serde_json::Value {
    serde_json::json!({ "status": 400, "body": "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id app does not exist</Message></Error></ErrorResponse>" })
}

fn cfn_stack(status: &str, outputs: &str) -> serde_json::Value {
    xml(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackName>app</StackName><CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>{status}</StackStatus><Outputs>{outputs}</Outputs></member></Stacks>"
        ),
    )
}

#[test]
#[allow(clippy::too_many_lines)] // Reason: the expected calls, one argument vector each.
fn cloudformation_change_sets_are_created_and_executed_and_stacks_deleted() {
    let url = "<member><OutputKey>Url</OutputKey><OutputValue>https://app.example.com</OutputValue></member>";
    let answers = serde_json::json!({
        "DescribeStacks": [
            cfn_missing(),
            cfn_stack("REVIEW_IN_PROGRESS", ""),
            cfn_stack("CREATE_COMPLETE", url),
            cfn_stack("CREATE_COMPLETE", url),
            cfn_stack("CREATE_COMPLETE", url),
            cfn_missing(),
        ],
        "CreateChangeSet": xml("CreateChangeSet", "<Id>arn:aws:cloudformation:us-east-1:111111111111:changeSet/release/1</Id>"),
        "DescribeChangeSet": xml("DescribeChangeSet", "<ChangeSetName>release</ChangeSetName><Status>CREATE_COMPLETE</Status>"),
        "ExecuteChangeSet": xml("ExecuteChangeSet", ""),
        "DeleteStack": xml("DeleteStack", ""),
    });
    let Some(t) = stubbed(&answers) else { return };
    let t = t
        .file("infra/template.yaml", "Resources: {}\n")
        .file("infra/build.json", r#"{"image": "app:42"}"#)
        .file(
        "app.pipe",
        r#"import "std/aws"

pipeline p {
  stage source {
    action infra: dir { path = "infra"  output = src }
  }
  stage deploy {
    action plan: aws.cloudformation {
      stack = "app"
      mode = "CHANGE_SET_REPLACE"
      change_set = "release"
      template_path = "src::template.yaml"
      parameters = "{\"Env\": \"prod\", \"Size\": 3, \"Image\": {\"Fn::GetParam\": [\"src\", \"build.json\", \"image\"]}}"
      capabilities = "CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND"
      stack_role = "arn:aws:iam::111111111111:role/cfn"
      input = src
    }
    action apply: aws.cloudformation {
      stack = "app"
      mode = "CHANGE_SET_EXECUTE"
      change_set = "release"
      after = [plan]
      exports = [Url]
    }
  }
  stage teardown {
    action remove: aws.cloudformation { stack = "app"  mode = "DELETE_ONLY" }
  }
}
"#,
    );
    t.state(["run", "app.pipe"]).within(120).run();
    let template = "file://STATE/work/RUN/ws2/template.yaml";
    let params = r#"[{"ParameterKey":"Env","ParameterValue":"prod"},{"ParameterKey":"Image","ParameterValue":"app:42"},{"ParameterKey":"Size","ParameterValue":"3"}]"#;
    let describe: &[&str] = &[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        "app",
        "--output",
        "json",
    ];
    assert_calls(
        &t,
        &[
            describe,
            &[
                "cloudformation",
                "create-change-set",
                "--stack-name",
                "app",
                "--change-set-name",
                "release",
                "--change-set-type",
                "CREATE",
                "--template-body",
                template,
                "--parameters",
                params,
                "--capabilities",
                "CAPABILITY_IAM",
                "CAPABILITY_AUTO_EXPAND",
                "--role-arn",
                "arn:aws:iam::111111111111:role/cfn",
            ],
            &[
                "cloudformation",
                "wait",
                "change-set-create-complete",
                "--stack-name",
                "app",
                "--change-set-name",
                "release",
            ],
            describe,
            &[
                "cloudformation",
                "execute-change-set",
                "--stack-name",
                "app",
                "--change-set-name",
                "release",
            ],
            &[
                "cloudformation",
                "wait",
                "stack-create-complete",
                "--stack-name",
                "app",
            ],
            describe,
            describe,
            &["cloudformation", "delete-stack", "--stack-name", "app"],
            &[
                "cloudformation",
                "wait",
                "stack-delete-complete",
                "--stack-name",
                "app",
            ],
        ],
    );
    let show = t.show("last");
    assert_eq!(
        crate::support::action(&show, "deploy", "apply")["exports"],
        serde_json::json!({ "Url": "https://app.example.com" })
    );
}

#[test]
fn lambda_and_step_functions_are_invoked_and_their_variables_exported() {
    let answers = serde_json::json!({
        "Invoke": { "body": r#"{"outputVariables": {"Version": "7"}}"#, "headers": {"X-Amz-Executed-Version": "$LATEST"} },
        "StartExecution": json_body(&serde_json::json!({
            "executionArn": "arn:aws:states:us-east-1:111111111111:execution:smoke:RUN", "startDate": 0})),
        "DescribeExecution": json_body(&serde_json::json!({
            "executionArn": "arn:aws:states:us-east-1:111111111111:execution:smoke:RUN",
            "stateMachineArn": "arn:aws:states:us-east-1:111111111111:stateMachine:smoke",
            "status": "SUCCEEDED", "startDate": 0})),
    });
    let Some(t) = stubbed(&answers) else { return };
    let t = t.file(
        "app.pipe",
        r#"import "std/aws"

pipeline p {
  stage invoke {
    action notify: aws.lambda { function = "notify"  user_parameters = "prod"  exports = [Version] }
    action smoke: aws.stepfunctions {
      state_machine = "arn:aws:states:us-east-1:111111111111:stateMachine:smoke"
      execution_input = "{\"version\": \"${invoke.notify.Version}\"}"
      execution_name_prefix = "smoke-"
      after = [notify]
      exports = [ExecutionArn]
    }
  }
}
"#,
    );
    t.state(["run", "app.pipe"]).within(120).run();
    let calls = calls(&t);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[0],
        [
            "lambda",
            "invoke",
            "--function-name",
            "notify",
            "--payload",
            "fileb://STATE/work/RUN/ws1.event.json",
            "STATE/work/RUN/ws1.lambda.json",
            "--output",
            "json"
        ]
    );
    // The event CodePipeline sends, as the function received it.
    let sent = std::fs::read_to_string(t.path("stub/calls.bodies")).unwrap_or_default();
    let event = r#"{"CodePipeline.job":{"data":{"actionConfiguration":{"configuration":{"FunctionName":"notify","UserParameters":"prod"}},"inputArtifacts":[],"outputArtifacts":[]},"id":"pipec-RUN-invoke.notify"}}"#;
    let run = t.runs()[0]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        sent.lines()
            .next()
            .map(|l| l.replace(&run, "RUN"))
            .as_deref(),
        Some(event)
    );
    assert_eq!(
        calls[1],
        [
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            "arn:aws:states:us-east-1:111111111111:stateMachine:smoke",
            "--name",
            "smoke-RUN",
            "--input",
            r#"{"version": "7"}"#,
            "--output",
            "json"
        ]
    );
    assert_eq!(
        calls[2][..3],
        ["stepfunctions", "describe-execution", "--execution-arn"]
    );
    let show = t.show("last");
    assert_eq!(
        crate::support::action(&show, "invoke", "smoke")["exports"]["ExecutionArn"]
            .as_str()
            .map(|a| a.starts_with("arn:aws:states:")),
        Some(true)
    );
}

#[test]
#[allow(clippy::too_many_lines)] // Reason: the expected calls, one argument vector each.
fn codedeploy_and_beanstalk_upload_the_artifact_as_a_revision_and_deploy_it() {
    let answers = serde_json::json!({
        "PutObject": { "headers": {"ETag": "\"abc\""} },
        "CreateDeployment": json_body(&serde_json::json!({"deploymentId": "d-1"})),
        "GetDeployment": json_body(&serde_json::json!({"deploymentInfo": {"deploymentId": "d-1", "status": "Succeeded"}})),
        "CreateApplicationVersion": xml("CreateApplicationVersion", ""),
        "UpdateEnvironment": xml("UpdateEnvironment", ""),
        "DescribeEnvironments": xml("DescribeEnvironments", "<Environments><member><EnvironmentName>shop-prod</EnvironmentName><Status>Ready</Status></member></Environments>"),
    });
    let Some(t) = stubbed(&answers) else { return };
    let t = t.file("app/appspec.yml", "version: 0.0\n").file(
        "app.pipe",
        r#"import "std/aws"

pipeline p {
  stage source {
    action app: dir { path = "app"  output = bundle }
  }
  stage deploy {
    action servers: aws.codedeploy { application = "shop"  deployment_group = "web"  input = bundle }
    action legacy: aws.beanstalk { application = "shop"  environment = "shop-prod"  input = bundle  after = [servers] }
  }
}
"#,
    );
    t.state(["run", "app.pipe"])
        .status(1)
        .stderr_contains("set `PIPEC_AWS_ARTIFACT_BUCKET`")
        .run();
    t.state(["run", "app.pipe"])
        .env("PIPEC_AWS_ARTIFACT_BUCKET", "revisions")
        .within(120)
        .run();
    let zip = "STATE/work/RUN/ws2.zip";
    let zip3 = "STATE/work/RUN/ws3.zip";
    assert_calls(
        &t,
        &[
            &[
                "s3",
                "cp",
                zip,
                "s3://revisions/pipec/RUN/deploy.servers.zip",
            ],
            &[
                "deploy",
                "create-deployment",
                "--application-name",
                "shop",
                "--deployment-group-name",
                "web",
                "--s3-location",
                "bucket=revisions,key=pipec/RUN/deploy.servers.zip,bundleType=zip",
                "--output",
                "json",
            ],
            &[
                "deploy",
                "wait",
                "deployment-successful",
                "--deployment-id",
                "d-1",
            ],
            &[
                "s3",
                "cp",
                zip3,
                "s3://revisions/pipec/RUN/deploy.legacy.zip",
            ],
            &[
                "elasticbeanstalk",
                "create-application-version",
                "--application-name",
                "shop",
                "--version-label",
                "pipec-RUN-deploy-legacy",
                "--source-bundle",
                "S3Bucket=revisions,S3Key=pipec/RUN/deploy.legacy.zip",
                "--output",
                "json",
            ],
            &[
                "elasticbeanstalk",
                "update-environment",
                "--application-name",
                "shop",
                "--environment-name",
                "shop-prod",
                "--version-label",
                "pipec-RUN-deploy-legacy",
                "--output",
                "json",
            ],
            &[
                "elasticbeanstalk",
                "wait",
                "environment-updated",
                "--application-name",
                "shop",
                "--environment-names",
                "shop-prod",
            ],
        ],
    );
}
