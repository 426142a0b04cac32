//! `aws` actions run by `pipec run` through the real `aws` CLI: against moto (a local AWS API
//! started here on 127.0.0.1, a free port, fake credentials) for CloudFormation, S3 and
//! CodeBuild; through a recording `aws` on PATH for the other providers, which is the real
//! CLI (its argument parsing, botocore's parameter validation against the service model, its
//! waiters) with every HTTP request answered from a table instead of sent. Both need the
//! virtual environment `TARGET/aws-venv` (or `PIPEC_AWS_VENV`) that `.ci/run` makes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Test, skip_or_fail};

pub(crate) const AWS_HOW: &str = "the AWS CLI and moto: `python3 -m venv \"$CARGO_TARGET_DIR/aws-venv\" && \"$CARGO_TARGET_DIR/aws-venv/bin/pip\" install awscli 'moto[server]'` (needs apt-get install python3-venv), as .ci/run does";

/// The folder of the virtual environment's programs, when it has `aws` and `moto_server`.
pub(crate) fn venv_bin() -> Option<PathBuf> {
    let venv = match std::env::var_os("PIPEC_AWS_VENV") {
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("aws-venv"))),
    };
    let bin = venv.map(|v| v.join("bin"))?;
    (bin.join("aws").is_file() && bin.join("moto_server").is_file()).then_some(bin)
}

fn require_venv() -> Option<PathBuf> {
    let found = venv_bin();
    if found.is_none() {
        skip_or_fail("`aws`, which is not on PATH", AWS_HOW);
    }
    found
}

/// A moto server on a free port of 127.0.0.1, stopped when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto(bin: &Path) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(bin.join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// The environment of the AWS CLI in these tests: the venv first on PATH, fake
/// credentials, a region, the endpoint, and no configuration of the developer's.
fn aws_env(bin: &Path, t: &Test, endpoint: Option<&str>) -> Vec<(String, String)> {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env = vec![
        ("PATH".to_string(), path),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        (
            "AWS_CONFIG_FILE".into(),
            t.path("no-aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            t.path("no-aws-credentials").display().to_string(),
        ),
    ];
    if let Some(url) = endpoint {
        env.push(("AWS_ENDPOINT_URL".into(), url.into()));
    }
    env
}

fn with_env(mut t: Test, env: &[(String, String)]) -> Test {
    for (k, v) in env {
        t = t.env(k, v);
    }
    t
}

/// `aws ARGS` with the tests' environment; its stdout (it must succeed).
fn aws(env: &[(String, String)], dir: &Path, args: &[&str]) -> String {
    let out = Command::new("aws")
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_PROFILE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run aws");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn exports_of(t: &Test, stage: &str, action: &str) -> serde_json::Value {
    let show = t.show("last");
    crate::support::action(&show, stage, action)["exports"].clone()
}

const STACK_TEMPLATE: &str = r"Parameters:
  Name:
    Type: String
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref Name
Outputs:
  BucketName:
    Value: !Ref Site
";

#[test]
fn a_cloudformation_stack_is_deployed_and_its_outputs_are_exports_of_later_actions() {
    let Some(bin) = require_venv() else { return };
    let moto = moto(&bin);
    let t = Test::new()
        .file("infra/template.yaml", STACK_TEMPLATE)
        .file(
            "app.pipe",
            r#"import "std/aws"

pipeline site {
  param env: string = "dev"
  stage source {
    action infra: dir { path = "infra"  output = src }
  }
  stage deploy {
    action stack: aws.cloudformation {
      stack = "site-${params.env}"
      template_path = "src::template.yaml"
      parameters = "{\"Name\": \"site-${params.env}-bucket\"}"
      input = src
      exports = [BucketName]
      output = report
      output_file = "outputs.json"
    }
  }
  stage verify {
    action show: sh {
      input = report
      run = "ls; cat outputs.json; echo bucket=${deploy.stack.BucketName}"
    }
  }
}
"#,
        );
    let env = aws_env(&bin, &t, Some(&moto.url));
    let t = with_env(t, &env);
    t.state(["run", "app.pipe"]).within(120).run();
    assert_eq!(
        exports_of(&t, "deploy", "stack"),
        serde_json::json!({ "BucketName": "site-dev-bucket" })
    );
    let shown = t
        .state(["logs", "last", "verify.show"])
        .stdout_contains("bucket=site-dev-bucket")
        .stdout_contains("\"BucketName\": \"site-dev-bucket\"")
        .run();
    // The output artifact is the outputs file alone, not the restored template.
    assert!(!shown.stdout.contains("template.yaml"), "{}", shown.stdout);
    // An output the stack does not have fails the action, naming what it has.
    let wants_more = std::fs::read_to_string(t.path("app.pipe"))
        .expect("read")
        .replace(
            "exports = [BucketName]",
            "exports = [BucketName, BucketArn]",
        );
    let t = t.file("more.pipe", &wants_more);
    t.state(["run", "more.pipe"])
        .within(120)
        .status(1)
        .stderr_contains(
            "provider `CloudFormation` did not produce `BucketArn` (it produced `BucketName`)",
        )
        .run();
    // The stack exists now: a second run updates it (nothing to update is a success).
    t.state(["run", "app.pipe"]).within(120).run();
    t.state(["logs", "last", "deploy.stack"])
        .stdout_contains("aws cloudformation update-stack --stack-name site-dev")
        .run();
    let stacks = aws(
        &env,
        &t.path("."),
        &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            "site-dev",
        ],
    );
    assert!(
        stacks.contains("CREATE_COMPLETE") || stacks.contains("UPDATE_COMPLETE"),
        "{stacks}"
    );
}

#[test]
fn an_s3_deploy_copies_the_artifact_extracted_or_as_one_zip() {
    let Some(bin) = require_venv() else { return };
    let moto = moto(&bin);
    let t = Test::new()
        .file("site/index.html", "<h1>hello</h1>\n")
        .file("site/css/app.css", "body {}\n")
        .file(
            "app.pipe",
            r#"import "std/aws"

pipeline site {
  stage source {
    action pages: dir { path = "site"  output = web }
  }
  stage deploy {
    action files: aws.s3 { bucket = "www"  object_key = "v1"  input = web }
    action archive: aws.s3 {
      bucket = "www"
      extract = false
      object_key = "archive/site.zip"
      input = web
    }
  }
}
"#,
        );
    let env = aws_env(&bin, &t, Some(&moto.url));
    let t = with_env(t, &env);
    aws(&env, &t.path("."), &["s3", "mb", "s3://www"]);
    t.state(["run", "app.pipe"]).within(120).run();
    let listed = aws(
        &env,
        &t.path("."),
        &["s3", "ls", "--recursive", "s3://www/"],
    );
    for key in ["v1/index.html", "v1/css/app.css", "archive/site.zip"] {
        assert!(listed.contains(key), "{key} not in:\n{listed}");
    }
    aws(
        &env,
        &t.path("."),
        &["s3", "cp", "s3://www/archive/site.zip", "got.zip"],
    );
    let unzip = Command::new(bin.join("python"))
        .args(["-m", "zipfile", "-l", "got.zip"])
        .current_dir(t.path("."))
        .output()
        .expect("python");
    let listing = String::from_utf8_lossy(&unzip.stdout);
    assert!(unzip.status.success(), "{listing}");
    assert!(
        listing.contains("css/app.css") && listing.contains("index.html"),
        "{listing}"
    );
}

const BUILDSPEC: &str = r#"version: 0.2
env:
  variables:
    GREETING: hello
  exported-variables:
    - IMAGE_TAG
    - GREETING
phases:
  install:
    commands:
      - export IMAGE_TAG="v-$(cat VERSION)"
  pre_build:
    commands:
      - cd app
  build:
    commands:
      - mkdir -p ../out/bin
      - echo "$GREETING $IMAGE_TAG from $(basename "$PWD")" > ../out/bin/built.txt
  post_build:
    commands:
      - echo "post_build ran, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
artifacts:
  files:
    - 'bin/**/*'
  base-directory: out
"#;

#[test]
fn a_codebuild_action_runs_its_buildspec_phases_and_exports_its_variables() {
    let Some(bin) = require_venv() else { return };
    let moto = moto(&bin);
    let t = Test::new()
        .file("repo/VERSION", "42\n")
        .file("repo/app/main.c", "int main(void) { return 0; }\n")
        .file(
            "app.pipe",
            r#"import "std/aws"

pipeline build {
  stage source {
    action repo: dir { path = "repo"  output = src }
  }
  stage build {
    action compile: aws.codebuild {
      project = "app-build"
      input = src
      output = bundle
      exports = [IMAGE_TAG, GREETING]
    }
  }
  stage use {
    action read: sh {
      input = bundle
      run = "cat bin/built.txt; echo tag=${build.compile.IMAGE_TAG}"
    }
  }
}
"#,
        );
    let env = aws_env(&bin, &t, Some(&moto.url));
    let t = with_env(t, &env);
    let source = serde_json::json!({ "type": "CODEPIPELINE", "location": "pipeline", "buildspec": BUILDSPEC });
    aws(
        &env,
        &t.path("."),
        &[
            "codebuild",
            "create-project",
            "--name",
            "app-build",
            "--source",
            &source.to_string(),
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "arn:aws:iam::123456789012:role/build",
        ],
    );
    t.state(["run", "app.pipe"]).within(120).run();
    assert_eq!(
        exports_of(&t, "build", "compile"),
        serde_json::json!({ "GREETING": "hello", "IMAGE_TAG": "v-42" })
    );
    t.state(["logs", "last", "use.read"])
        .stdout_contains("hello v-42 from app")
        .stdout_contains("tag=v-42")
        .run();
    t.state(["logs", "last", "build.compile"])
        .stdout_contains("buildspec from project `app-build`")
        .stdout_contains("post_build ran, succeeding=1")
        .run();
}

#[test]
fn a_codebuild_build_that_fails_still_runs_post_build_and_fails_the_action() {
    let Some(bin) = require_venv() else { return };
    let moto = moto(&bin);
    let t = Test::new()
        .file(
            "repo/buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo building\n      - exit 3\n      - echo never\n  post_build:\n    commands:\n      - echo \"cleanup succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n",
        )
        .file(
            "app.pipe",
            r#"import "std/aws"

pipeline build {
  stage source {
    action repo: dir { path = "repo"  output = src }
  }
  stage build {
    action compile: aws.codebuild { project = "plain"  input = src }
  }
}
"#,
        );
    let env = aws_env(&bin, &t, Some(&moto.url));
    let t = with_env(t, &env);
    aws(
        &env,
        &t.path("."),
        &[
            "codebuild",
            "create-project",
            "--name",
            "plain",
            "--source",
            "type=CODEPIPELINE,location=pipeline",
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "arn:aws:iam::123456789012:role/build",
        ],
    );
    t.state(["run", "app.pipe"]).within(120).status(1).run();
    t.state(["logs", "last", "build.compile"])
        .stdout_contains("buildspec from `buildspec.yml`")
        .stdout_contains("building")
        .stdout_lacks("never")
        .stdout_contains("cleanup succeeding=0")
        .run();
}

#[test]
fn a_source_provider_is_refused_before_the_run_starts() {
    let t = Test::new().file(
        "app.pipe",
        r#"pipeline p {
  stage source {
    action repo: aws {
      provider = "CodeCommit"
      category = source
      output = src
      configuration = { RepositoryName = "app", BranchName = "main" }
    }
  }
  stage build {
    action make: sh { input = src  run = "make" }
  }
}
"#,
    );
    t.state(["run", "app.pipe"])
        .status(1)
        .stderr_contains("`source.repo`: provider `CodeCommit` does not run locally")
        .stderr_contains("use a `git` or `dir` action")
        .run();
    assert!(t.runs().is_empty(), "a run was recorded");
    let t = t.file(
        "lambda.pipe",
        r#"pipeline p {
  stage invoke {
    action f: aws { provider = "Lambda"  output = result  configuration = { FunctionName = "f" } }
  }
}
"#,
    );
    t.state(["run", "lambda.pipe"])
        .status(1)
        .stderr_contains("`invoke.f`: `Lambda` with an output artifact does not run locally")
        .run();
}

#[test]
fn the_dry_run_shows_each_aws_call() {
    let t = Test::new().file(
        "app.pipe",
        r#"import "std/aws"

pipeline p {
  param env: string = "dev"
  stage source {
    action repo: dir { path = "."  output = src }
  }
  stage deploy {
    action stack: aws.cloudformation {
      stack = "app-${params.env}"
      template_path = "src::template.yaml"
      capabilities = "CAPABILITY_IAM"
      input = src
      exports = [Url]
      region = "eu-west-1"
    }
    action site: aws.s3 { bucket = deploy.stack.Url  input = src  after = [stack] }
  }
}
"#,
    );
    t.args(["run", "app.pipe", "--dry-run"])
        .stdout_contains("           aws cloudformation describe-stacks --stack-name app-dev --output json --region eu-west-1\n")
        .stdout_contains("aws cloudformation create-stack --stack-name app-dev --region eu-west-1 --template-body file://WORKSPACE/template.yaml --capabilities CAPABILITY_IAM\n")
        .stdout_contains("           aws s3 cp WORKSPACE 's3://${deploy.stack.Url}/' --recursive\n")
        .run();
}

#[test]
fn the_created_pipeline_role_may_do_what_its_aws_actions_need() {
    let t = Test::new().file(
        "app.pipe",
        r#"import "std/aws"

pipeline p {
  stage source {
    action repo: dir { path = "."  output = src }
  }
  stage deploy {
    action stack: aws.cloudformation {
      stack = "app"
      template_path = "src::template.yaml"
      input = src
      role = "arn:aws:iam::222222222222:role/deployer"
    }
    action notify: aws.lambda { function = "notify" }
  }
}
"#,
    );
    let out = t
        .args([
            "compile",
            "app.pipe",
            "--target",
            "codepipeline",
            "--create-role",
            "--format",
            "cfn-json",
        ])
        .run();
    let doc = out.json();
    let statements = &doc["Resources"]["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"];
    let allowed: Vec<(String, String)> = statements
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| {
            let resource = s["Resource"].to_string();
            s["Action"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| (a.as_str().unwrap_or_default().to_string(), resource.clone()))
        })
        .collect();
    let may = |action: &str| {
        allowed
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, r)| r.clone())
    };
    for action in [
        "cloudformation:CreateStack",
        "cloudformation:ExecuteChangeSet",
        "iam:PassRole",
        "lambda:InvokeFunction",
    ] {
        assert_eq!(
            may(action).as_deref(),
            Some("\"*\""),
            "{action} in {allowed:?}"
        );
    }
    assert_eq!(
        may("sts:AssumeRole").as_deref(),
        Some(r#"["arn:aws:iam::222222222222:role/deployer"]"#)
    );
    assert_eq!(may("ecs:UpdateService"), None, "only what the actions need");
    // The action itself names its role.
    let actions = &doc["Resources"]["Pipeline"]["Properties"]["Stages"][1]["Actions"];
    assert_eq!(
        actions[0]["RoleArn"],
        "arn:aws:iam::222222222222:role/deployer"
    );
}
