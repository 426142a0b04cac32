//! One case per mapping row of docs/import.md: the reader, the model and the text.
//! Files with only `approval` and `sh` actions are also checked clean here; those with
//! `aws` actions are checked by tests/import.rs once the `aws` kind exists.

use super::Importer;

fn import(file: &str, text: &str) -> String {
    match Importer::import(file, text) {
        Ok(p) => p.into_iter().map(|p| p.text).collect::<Vec<_>>().join("\n"),
        Err(e) => panic!("{file}: {e:?}"),
    }
}

/// `text` contains each of `needed` (the whole text is shown when one is missing).
fn assert_contains(text: &str, needed: &[&str]) {
    for n in needed {
        assert!(text.contains(n), "no `{n}` in:\n{text}");
    }
}

fn assert_clean(text: &str) {
    let (_, diagnostics) = crate::check_source("imported.pipe", text);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}\n{text}");
}

const APPROVAL: &str =
    r#"{"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}"#;

fn cfn(stages: &str, extra: &str) -> String {
    format!(
        r#"{{"Parameters": {{"Env": {{"Type": "String", "Default": "prod", "AllowedValues": ["dev", "prod"]}}}},
  "Conditions": {{"IsProd": {{"Fn::Equals": [{{"Ref": "Env"}}, "prod"]}}}},
  "Resources": {{"Pipe": {{"Type": "AWS::CodePipeline::Pipeline", "Properties": {{
    "Name": "app" {extra}, "Stages": [{stages}]}}}}}}}}"#
    )
}

/// Two stages of one approval each, `One.a` and `Two.b`; `two` goes after `Two`'s actions.
fn two_stages(two: &str) -> String {
    format!(
        r#"{{"Name": "One", "Actions": [{{"Name": "a", "ActionTypeId": {APPROVAL}}}]}},
        {{"Name": "Two", "Actions": [{{"Name": "b", "ActionTypeId": {APPROVAL}}}]{two}}}"#
    )
}

/// The rule `name` of the provider `provider`; `rest` goes after its type.
fn rule(name: &str, provider: &str, rest: &str) -> String {
    format!(
        r#"{{"Name": "{name}", "RuleTypeId": {{"Category": "Rule", "Owner": "AWS", "Provider": "{provider}", "Version": "1"}}, {rest}}}"#
    )
}

/// Conditions of one condition: its result and its rules.
fn conditions(result: &str, rules: &[String]) -> String {
    let rules = rules.join(", ");
    format!(r#"{{"Conditions": [{{"Result": "{result}", "Rules": [{rules}]}}]}}"#)
}

#[test]
fn approvals_become_approval_actions_with_summary_url_and_timeout() {
    let text = import(
        "p.json",
        &cfn(
            &format!(
                r#"{{"Name": "Gate", "Actions": [{{"Name": "Ship", "ActionTypeId": {APPROVAL},
                "TimeoutInMinutes": 60,
                "Configuration": {{"CustomData": "Ship {{\"Ref\": 1}} to #{{variables.Env}}?", "ExternalEntityLink": "https://x", "NotificationArn": "arn:sns"}}}}]}}"#
            ),
            r#", "Variables": [{"Name": "Env", "DefaultValue": "staging"}]"#,
        ),
    );
    assert_contains(
        &text,
        &[
            "action Ship: approval {",
            "summary = \"Ship {\\\"Ref\\\": 1} to ${params.Env}?\"",
            "url = \"https://x\"",
            "timeout = 60m",
            "notify = \"arn:sns\"",
            "param Env: string = \"staging\"",
        ],
    );
    assert_clean(&text);
}

#[test]
fn short_form_tags_are_evaluated_and_unknowns_become_params_with_comments() {
    let yaml = r#"
Parameters:
  Repo: {Type: String, Default: acme/app}
Conditions:
  IsMain: !Equals [!Ref Repo, acme/app]
Resources:
  Bucket: {Type: AWS::S3::Bucket, Properties: {BucketName: my-bucket}}
  Pipe:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      RoleArn: !GetAtt Role.Arn
      Stages:
        - Name: Source
          Actions:
            - Name: Src
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration:
                S3Bucket: !Ref Bucket
                S3ObjectKey: !Sub "${Repo}/${AWS::Region}.zip"
                Other: !ImportValue shared-vpc
                Pick: !If [IsMain, yes-main, no-main]
                Joined: !Join ["-", [a, !Ref Repo]]
                Sel: !Select [1, [x, y]]
              OutputArtifacts: [{Name: out-1}]
"#;
    let text = import("p.yaml", yaml);
    assert_contains(
        &text,
        &[
            "S3Bucket = \"my-bucket\"",
            "// `!Ref Bucket` is the `BucketName` of the template's `AWS::S3::Bucket`",
            "S3ObjectKey = \"${params.Repo}/${params.AWS_Region}.zip\"",
            "`!ImportValue shared-vpc`: a value exported by another stack",
            "Pick = \"yes-main\"",
            "Joined = \"a-${params.Repo}\"",
            "Sel = \"y\"",
            "// artifact `out_1` is CodePipeline's `out-1`",
            "the pipeline's role `!GetAtt Role.Arn`",
        ],
    );
}

#[test]
fn the_cli_json_reads_with_and_without_its_wrapper() {
    let inner = format!(
        r#"{{"name": "app", "executionMode": "QUEUED", "stages": [{{"name": "Gate", "actions": [{{"name": "Ok", "actionTypeId": {}}}]}}]}}"#,
        APPROVAL
            .to_lowercase()
            .replace("\"manual\"", "\"Manual\"")
            .replace("\"approval\"", "\"Approval\"")
            .replace("\"aws\"", "\"AWS\"")
    );
    let wrapped = format!(r#"{{"pipeline": {inner}, "metadata": {{"pipelineArn": "arn:x"}}}}"#);
    let a = import("a.json", &inner);
    let b = import("b.json", &wrapped);
    assert_contains(&a, &["mode queued", "action Ok: approval {}"]);
    assert_contains(&b, &["`get-pipeline` metadata: arn:x"]);
    assert_clean(&a);
    assert_clean(&b);
}

#[test]
fn run_order_becomes_after_on_the_level_before() {
    let action = |name: &str, order: u32| {
        format!(r#"{{"Name": "{name}", "RunOrder": {order}, "ActionTypeId": {APPROVAL}}}"#)
    };
    let stage = format!(
        r#"{{"Name": "Gate", "Actions": [{}, {}, {}, {}]}}"#,
        action("a", 1),
        action("b", 1),
        action("c", 3),
        action("d", 5)
    );
    let text = import("p.json", &cfn(&stage, ""));
    assert_contains(
        &text,
        &[
            "action c: approval { after = [a, b] }",
            "action d: approval { after = [c] }",
        ],
    );
    assert_clean(&text);
}

#[test]
fn conditions_transitions_and_failure_results_are_carried() {
    let entry = conditions(
        "SKIP",
        &[
            rule(
                "r",
                "VariableCheck",
                r##""Configuration": {"Variable": "#{variables.Env}", "Value": "prod", "Operator": "EQ"}"##,
            ),
            rule(
                "w",
                "DeploymentWindow",
                r#""Configuration": {"Cron": "0 0 9-17 ? * 2-6 *", "TimeZone": "Europe/Paris"}"#,
            ),
            rule(
                "alarm",
                "CloudWatchAlarm",
                r#""Configuration": {"AlarmName": "x"}"#,
            ),
        ],
    );
    let success = conditions(
        "ROLLBACK",
        &[rule("c", "Commands", r#""Commands": ["test -f ok"]"#)],
    );
    let stages = two_stages(&format!(
        r#", "BeforeEntry": {entry}, "OnSuccess": {success},
          "OnFailure": {{"Result": "RETRY", "RetryConfiguration": {{"RetryMode": "ALL_ACTIONS"}}}}"#
    ));
    let extra = r#", "Variables": [{"Name": "Env", "DefaultValue": "dev"}],
       "DisableInboundStageTransitions": [{"StageName": "Two", "Reason": "freeze"}]"#;
    let text = import("p.json", &cfn(&stages, extra));
    assert_contains(
        &text,
        &[
            "require params.Env == \"prod\"",
            "window \"0 9-17 * * 1-5\" tz \"Europe/Paris\"",
            "// not carried over: the rule `alarm` (CloudWatchAlarm) AlarmName = x",
            "else skip",
            "check sh { run = \"test -f ok\" }",
            "else rollback",
            "on failure retry all",
            "transition One -> Two disabled \"freeze\"",
        ],
    );
    assert_clean(&text);
}

#[test]
fn namespaces_become_exports_and_references() {
    let json = r#"{"pipeline": {"name": "app", "stages": [
      {"name": "Source", "actions": [{"name": "Src", "namespace": "SourceVariables",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
        "configuration": {"FullRepositoryId": "acme/app", "BranchName": "main", "ConnectionArn": "arn:c"},
        "outputArtifacts": [{"name": "src"}], "region": "eu-west-1", "roleArn": "arn:role"}]},
      {"name": "Build", "actions": [{"name": "Run", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["echo #{SourceVariables.CommitId} #{codepipeline.PipelineExecutionId}"], "outputVariables": ["OUT"],
        "inputArtifacts": [{"name": "src"}]}]}],
      "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "Src",
        "push": [{"branches": {"includes": ["main"], "excludes": ["wip/*"]}, "filePaths": {"includes": ["src/**"]}}],
        "pullRequest": [{"events": ["OPEN", "CLOSED"], "branches": {"includes": ["main"]}}]}}]}}"#;
    let text = import("p.json", json);
    assert_contains(
        &text,
        &[
            "exports = [CommitId]",
            "namespace = \"SourceVariables\"",
            "region = \"eu-west-1\"",
            "role = \"arn:role\"",
            "echo ${Source.Src.CommitId} ${run.id}",
            "\n      echo \"OUT=$OUT\" >> \"$PIPEC_OUTPUT\"\n",
            "trigger push { branches = [\"main\", \"!wip/*\"]  paths = [\"src/**\"] }",
            "trigger pull_request { branches = [\"main\"]  events = [opened, closed] }",
        ],
    );
}

#[test]
fn terraform_variables_are_params_and_references_are_placeholders() {
    let tf = r#"
variable "branch" {
  default = "main"
}
locals {
  repo = "acme/app"
}
resource "aws_codepipeline" "main" {
  name     = "app-${var.branch}"
  role_arn = aws_iam_role.pipeline.arn
  stage {
    name = "Gate"
    action {
      name     = "Ok"
      category = "Approval"
      owner    = "AWS"
      provider = "Manual"
      version  = "1"
      configuration = {
        CustomData = "${local.repo} on ${var.branch} by ${aws_iam_role.pipeline.name}"
      }
    }
  }
  dynamic "stage" {
    for_each = [{ name = "Two" }]
    content {
      name = stage.value["name"]
      action {
        name     = "Ok2"
        category = "Approval"
        owner    = "AWS"
        provider = "Manual"
        version  = "1"
      }
    }
  }
}
"#;
    let text = import("main.tf", tf);
    assert_contains(
        &text,
        &[
            "pipeline app_main {",
            "param branch: string = \"main\"",
            "summary = \"acme/app on ${params.branch} by ${params.pipeline_name}\"",
            "stage Two {",
        ],
    );
    assert_clean(&text);
}

#[test]
fn a_file_without_pipelines_or_with_broken_syntax_is_an_error_with_a_place() {
    let e = Importer::import("p.yaml", "a: [b\n").expect_err("broken");
    assert!(e.message.starts_with("invalid YAML"), "{e:?}");
    assert!(e.line.is_some());
    let e = Importer::import("p.json", "{\"a\": }").expect_err("broken");
    assert_eq!((e.line, e.column), (Some(1), Some(7)));
    let e = Importer::import("p.tf", "resource \"aws_codepipeline\" \"x\" {\n  name = \n")
        .expect_err("broken");
    assert!(e.message.starts_with("invalid HCL"), "{e:?}");
    assert_eq!(e.line, Some(2), "{e:?}");
    let e = Importer::import("p.yaml", "Resources: {}\n").expect_err("none");
    assert!(e.message.contains("no CodePipeline pipeline"), "{e:?}");
}

#[test]
fn names_that_are_not_identifiers_are_renamed_deterministically() {
    let stage = format!(
        r#"{{"Name": "run", "Actions": [{{"Name": "1-a", "ActionTypeId": {APPROVAL}}}, {{"Name": "1.a", "ActionTypeId": {APPROVAL}}}]}}"#
    );
    let text = import("p.json", &cfn(&stage, ""));
    assert_contains(
        &text,
        &[
            "stage run_2 {",
            "action _1_a: approval {}",
            "action _1_a_2: approval {}",
        ],
    );
    assert_clean(&text);
}

#[test]
fn every_yaml_document_is_read() {
    let doc = |name: &str| {
        format!(
            "pipeline:\n  name: {name}\n  stages:\n    - name: Gate\n      actions:\n        - name: Ok\n          actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: '1'}}\n"
        )
    };
    let text = format!("{}---\n{}", doc("one"), doc("two"));
    let pipelines = Importer::import("p.yaml", &text).expect("imports");
    let names: Vec<&str> = pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn terraform_json_strings_are_templates() {
    let json = r#"{"variable": {"env": {"default": "prod"}},
      "resource": {"aws_codepipeline": {"main": {"name": "app-${var.env}",
        "stage": [{"name": "Gate", "action": [{"name": "Ok", "category": "Approval", "owner": "AWS",
          "provider": "Manual", "version": "1",
          "configuration": {"CustomData": "to ${var.env} as ${aws_iam_role.r.name}"}}]}]}}}}"#;
    let text = import("main.tf.json", json);
    assert_contains(
        &text,
        &[
            "pipeline app_prod {",
            "summary = \"to ${params.env} as ${params.r_name}\"",
            "param env: string = \"prod\"",
        ],
    );
    assert_clean(&text);
}

#[test]
fn date_formats_and_dynamic_references_are_not_placeholders() {
    let stage = format!(
        r#"{{"Name": "Gate", "Actions": [{{"Name": "Ok", "ActionTypeId": {APPROVAL},
          "Configuration": {{"CustomData": "date +%Y%m%d %H%M {{{{resolve:ssm:/app/x}}}} 100%"}}}}]}}"#
    );
    let text = import("p.json", &cfn(&stage, ""));
    assert_contains(&text, &["date +%Y%m%d %H%M {{resolve:ssm:/app/x}} 100%"]);
    let e = Importer::import("p.json", "{\"a\": \"{{Bucket}}\"}").expect_err("a placeholder");
    assert!(e.message.contains("{{Bucket}}"), "{e:?}");
}

#[test]
fn values_are_escaped_as_pipec_strings() {
    let stage = format!(
        r#"{{"Name": "Gate", "Actions": [{{"Name": "Ok", "ActionTypeId": {APPROVAL},
          "Configuration": {{"CustomData": "a \"q\" \\ ${{HOME}} $X line\ttab \u0007"}}}}]}}"#
    );
    let text = import("p.json", &cfn(&stage, ""));
    assert_contains(
        &text,
        &[r#"summary = "a \"q\" \\ \${HOME} $X line\ttab \u{7}""#],
    );
    assert!(summary_of(&text).contains(r#""a \"q\" \\ ${HOME} $X line\ttab \u0007""#));
    assert_clean(&text);
}

#[test]
fn a_variable_nothing_reads_is_kept_as_a_comment() {
    let stage =
        format!(r#"{{"Name": "Gate", "Actions": [{{"Name": "Ok", "ActionTypeId": {APPROVAL}}}]}}"#);
    let extra =
        r#", "Variables": [{"Name": "Unread", "DefaultValue": "x", "Description": "kept"}]"#;
    let text = import("p.json", &cfn(&stage, extra));
    assert!(
        text.contains(
            "// nothing in the pipeline reads this variable:\n  // param Unread: string = \"x\""
        ),
        "{text}"
    );
    assert_clean(&text);
}

#[test]
fn terraform_jsonencode_is_json_with_sorted_keys() {
    let tf = r#"
variable "env" {
  default = "dev"
}
resource "aws_codepipeline" "main" {
  name = "app"
  stage {
    name = "Gate"
    action {
      name     = "Ok"
      category = "Approval"
      owner    = "AWS"
      provider = "Manual"
      version  = "1"
      configuration = {
        CustomData = jsonencode([{ name = "ENV", value = var.env, type = "PLAINTEXT" }])
        ExternalEntityLink = lookup(var.links, "x")
      }
    }
  }
}
"#;
    let text = import("main.tf", tf);
    assert!(
        text.contains(
            r#"summary = "[{\"name\":\"ENV\",\"type\":\"PLAINTEXT\",\"value\":\"${params.env}\"}]""#
        ),
        "{text}"
    );
    assert_contains(&text, &["url = \"${params.lookup}\""]);
    assert_clean(&text);
}

#[test]
fn the_partition_pseudo_parameter_defaults_to_aws() {
    let stage = format!(
        r#"{{"Name": "Gate", "Actions": [{{"Name": "Ok", "ActionTypeId": {APPROVAL},
          "Configuration": {{"CustomData": {{"Fn::Join": ["", ["arn:", {{"Ref": "AWS::Partition"}}, ":x"]]}}}}}}]}}"#
    );
    let text = import("p.json", &cfn(&stage, ""));
    assert_contains(
        &text,
        &[
            "param AWS_Partition: string = \"aws\"",
            "summary = \"arn:${params.AWS_Partition}:x\"",
        ],
    );
    assert_clean(&text);
}

/// The value a generated string literal reads back as: the IR of an approval's summary.
fn summary_of(text: &str) -> String {
    let mut map = crate::source::SourceMap::new();
    let id = map.add("imported.pipe", text.to_string());
    let ir = crate::compile(&mut map, id, &mut crate::check::NoLoader)
        .ir
        .expect("compiles");
    serde_json::to_string(&ir).expect("json")
}

#[test]
fn multi_line_values_are_block_strings_that_read_back_exactly() {
    for value in [
        "{\n  \"a\": \"b\"\n}\n",
        "line one\n  indented \"\"\" quotes\n\nlast",
        "\nstarts with a newline\n",
        "x\n\ty\n${HOME} and \\ back",
        "  all\n  indented",
        "a\n   \nwhitespace-only line",
        "\n",
    ] {
        let stage = format!(
            r#"{{"Name": "Gate", "Actions": [{{"Name": "Ok", "ActionTypeId": {APPROVAL},
              "Configuration": {{"CustomData": {}}}}}]}}"#,
            serde_json::to_string(value).expect("json")
        );
        let text = import("p.json", &cfn(&stage, ""));
        let ir = summary_of(&text);
        let expected = serde_json::to_string(value).expect("json");
        assert!(
            ir.contains(&expected),
            "{value:?} did not read back\n{text}\n{ir}"
        );
    }
    let text = import(
        "p.json",
        &cfn(
            &format!(
                r#"{{"Name": "Gate", "Actions": [{{"Name": "Ok", "ActionTypeId": {APPROVAL},
                  "Configuration": {{"CustomData": "{{\n  \"a\": 1\n}}"}}}}]}}"#
            ),
            "",
        ),
    );
    assert_contains(&text, &["summary = \"\"\"\n"]);
}

#[test]
fn terraform_state_json_has_every_value_known() {
    let json = r#"{"format_version": "1.0", "values": {"root_module": {"child_modules": [{"resources": [
      {"address": "module.ci.aws_codepipeline.main", "mode": "managed", "type": "aws_codepipeline", "name": "main",
       "values": {"name": "app", "role_arn": "arn:aws:iam::1:role/p", "execution_mode": "QUEUED",
         "stage": [{"name": "Gate", "action": [{"name": "Ok", "category": "Approval", "owner": "AWS",
           "provider": "Manual", "version": "1", "run_order": 1, "input_artifacts": [], "output_artifacts": [],
           "configuration": {"CustomData": "ship it"}}]}]}}]}]}}}"#;
    let text = import("state.json", json);
    assert_contains(
        &text,
        &[
            "Terraform state `module.ci.aws_codepipeline.main`",
            "pipeline app {",
            "mode queued",
            "summary = \"ship it\"",
        ],
    );
    assert_clean(&text);
}

#[test]
fn a_variable_check_of_an_unknown_namespace_is_a_comment_not_a_constant_condition() {
    let entry = conditions(
        "FAIL",
        &[rule(
            "r",
            "VariableCheck",
            r##""Configuration": {"Variable": "#{Nowhere.X}", "Value": "1", "Operator": "EQ"}"##,
        )],
    );
    let stages = two_stages(&format!(r#", "BeforeEntry": {entry}"#));
    let text = import("p.json", &cfn(&stages, ""));
    assert_contains(&text, &["// the rule `r` compares two constants here"]);
    assert!(!text.contains("entry {"), "{text}");
    assert_clean(&text);
}

#[test]
fn a_commands_action_with_an_output_artifact_checks_clean() {
    let json = r#"{"pipeline": {"name": "app", "stages": [
      {"name": "Gate", "actions": [{"name": "Ok", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]},
      {"name": "Build", "actions": [
        {"name": "Make", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
         "commands": ["make"], "outputArtifacts": [{"name": "out", "files": ["bin/**"]}]},
        {"name": "Use", "runOrder": 2, "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
         "commands": ["ls"], "inputArtifacts": [{"name": "out"}]}]}]}}"#;
    let text = import("p.json", json);
    assert_contains(
        &text,
        &[
            "outputs = { out = \".\" }",
            "// the output artifact `out` holds the files bin/** in CodePipeline",
            "input = out",
        ],
    );
    assert_clean(&text);
}

#[test]
fn several_input_artifacts_are_restored_in_folders_of_their_own() {
    let source = |name: &str| {
        format!(
            r#"{{"name": "{name}", "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}},
              "configuration": {{"S3Bucket": "b", "S3ObjectKey": "{name}.zip"}}, "outputArtifacts": [{{"name": "{name}"}}]}}"#
        )
    };
    let json = format!(
        r#"{{"pipeline": {{"name": "app", "stages": [
      {{"name": "Source", "actions": [{}, {}]}},
      {{"name": "Deploy", "actions": [{{"name": "Stack",
        "actionTypeId": {{"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"}},
        "configuration": {{"ActionMode": "CREATE_UPDATE", "StackName": "s", "TemplatePath": "Tpl::t.yaml",
          "TemplateConfiguration": "Cfg::c.json"}},
        "inputArtifacts": [{{"name": "Tpl"}}, {{"name": "Cfg"}}]}},
       {{"name": "Run", "actionTypeId": {{"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"}},
        "commands": ["ls"], "inputArtifacts": [{{"name": "Tpl"}}, {{"name": "Cfg"}}]}}]}}]}}}}"#,
        source("Tpl"),
        source("Cfg")
    );
    let text = import("p.json", &json);
    assert_contains(
        &text,
        &[
            "inputs = { Tpl = \"Tpl/\", Cfg = \"Cfg/\" }",
            "inputs = { Tpl = \"./\", Cfg = \"Cfg/\" }",
        ],
    );
    assert_clean(&text);
}

#[test]
fn a_commands_action_keeps_its_namespace() {
    let json = r#"{"pipeline": {"name": "app", "stages": [
      {"name": "Source", "actions": [{"name": "Src",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"}, "outputArtifacts": [{"name": "src"}]}]},
      {"name": "Build", "actions": [{"name": "Lint", "namespace": "LintVariables",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["make lint"], "inputArtifacts": [{"name": "src"}]}]}]}}"#;
    let text = import("p.json", json);
    assert_contains(&text, &["namespace = \"LintVariables\""]);
    assert_clean(&text);
}
