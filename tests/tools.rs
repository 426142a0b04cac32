//! The guard of tests that need a program besides cargo, bash and coreutils
//! (`support::require_tool`): each such test, run alone in a child test process whose `PATH`
//! is an empty folder, passes after one line on stderr saying what it skipped; with `CI` set or
//! `PIPEC_REQUIRE_TOOLS=1` it fails instead.

use std::process::{Command, Stdio};

/// Every test that needs a program besides cargo, bash and coreutils, and that program (the
/// table in README.md lists them too).
const NEEDS: &[(&str, &str)] = &[
    ("graph::graphviz_draws_every_example", "dot"),
    (
        "neovim::neovim_reads_diagnostics_and_hovers_through_its_lsp_client",
        "nvim",
    ),
    (
        "runtime::git_actions_check_out_a_revision_and_export_it",
        "git",
    ),
    (
        "serve::git::serve_a_push_to_a_real_git_repository_starts_one_run_with_its_facts",
        "git",
    ),
    (
        "serve::git::serve_polls_a_git_source_and_starts_a_run_for_a_new_commit_with_its_paths",
        "git",
    ),
    (
        "serve::serve_in_a_real_browser_logs_in_watches_a_run_live_and_approves_it",
        "chromium",
    ),
    (
        "serve::serve_speaks_tls_with_a_secure_session_cookie",
        "openssl",
    ),
    (
        "runtime::the_wordcount_example_builds_tests_and_packages",
        "cc",
    ),
    ("processes::on_a_terminal_the_run_is_a_live_view", "script"),
    (
        "processes::pipec_plain_keeps_plain_lines_on_a_terminal",
        "script",
    ),
    (
        "processes::descendants_that_leave_the_process_group_end_with_their_attempt",
        "setsid",
    ),
    ("stress::ctrl_c_leaves_no_process_behind", "setsid"),
    (
        "resources::a_run_that_fills_the_disk_is_recorded_failed_once_there_is_space",
        "unshare",
    ),
    (
        "overhead::an_action_costs_pipec_no_fsync_no_thread_wait_and_no_call_that_fails",
        "strace",
    ),
    ("codepipeline::cfn_lint_accepts_every_template", "cfn-lint"),
    (
        "codepipeline::botocore_accepts_every_create_pipeline_input",
        "python3",
    ),
    (
        "github::actionlint_with_shellcheck_accepts_every_workflow",
        "shellcheck",
    ),
    (
        "github::the_github_workflow_schema_accepts_every_workflow",
        "check-jsonschema",
    ),
    (
        "gitlab::the_gitlab_ci_schema_accepts_every_pipeline",
        "check-jsonschema",
    ),
    (
        "argo::the_strict_argo_schema_and_our_checks_accept_every_resource",
        "python3",
    ),
    (
        "argo::the_strict_schema_refuses_a_misspelled_key",
        "python3",
    ),
    (
        "aws::a_cloudformation_stack_is_deployed_and_its_outputs_are_exports_of_later_actions",
        "aws",
    ),
    (
        "aws::an_s3_deploy_copies_the_artifact_extracted_or_as_one_zip",
        "aws",
    ),
    (
        "aws::a_codebuild_action_runs_its_buildspec_phases_and_exports_its_variables",
        "aws",
    ),
    (
        "aws::a_codebuild_build_that_fails_still_runs_post_build_and_fails_the_action",
        "aws",
    ),
    (
        "aws_stub::an_ecs_deploy_registers_a_revision_with_the_new_images_and_waits_for_the_service",
        "aws",
    ),
    (
        "aws_stub::cloudformation_change_sets_are_created_and_executed_and_stacks_deleted",
        "aws",
    ),
    (
        "aws_stub::lambda_and_step_functions_are_invoked_and_their_variables_exported",
        "aws",
    ),
    (
        "aws_stub::codedeploy_and_beanstalk_upload_the_artifact_as_a_revision_and_deploy_it",
        "aws",
    ),
    (
        "everyday::init_in_an_npm_project_writes_a_pipeline_that_installs_builds_and_tests",
        "npm",
    ),
    ("everyday::the_zsh_completion_script_parses", "zsh"),
    ("everyday::the_fish_completion_script_parses", "fish"),
    ("everyday::the_manual_page_renders_with_man", "man"),
    (
        "everyday::the_pre_commit_hooks_check_and_format_check_the_changed_pipe_files",
        "git",
    ),
];

/// Runs one test of this binary alone, with an empty `PATH`, no `CI` and no
/// `PIPEC_REQUIRE_TOOLS` unless `env` sets them: whether it passed, its stdout and its stderr.
fn alone_without_tools(test: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let empty = tempfile::tempdir().expect("tmp");
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .args([test, "--exact", "--test-threads", "1"])
        .env("PATH", empty.path())
        // The validators' virtual environment, which the CodePipeline tests also look in.
        .env("PIPEC_EXPORT_VENV", empty.path())
        // The AWS CLI's and moto's, which the `aws` tests look in.
        .env("PIPEC_AWS_VENV", empty.path())
        .env_remove("CI")
        .env_remove("PIPEC_REQUIRE_TOOLS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the test binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_test_whose_program_is_missing_skips_with_one_line() {
    for (test, program) in NEEDS {
        let (passed, stdout, stderr) = alone_without_tools(test, &[]);
        assert!(passed, "{test}:\n{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "{test} did not run:\n{stdout}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{test}:\n{stderr}");
        let expected = format!("skipped {test}: needs `{program}` (");
        assert!(lines[0].starts_with(&expected), "{test}:\n{stderr}");
        assert!(lines[0].contains("apt-get install "), "{test}:\n{stderr}");
    }
}

#[test]
fn on_ci_a_test_whose_program_is_missing_fails() {
    for (test, program) in NEEDS {
        let (passed, stdout, _) = alone_without_tools(test, &[("CI", "true")]);
        assert!(
            !passed,
            "{test} passed without `{program}` on CI:\n{stdout}"
        );
        let expected = format!("needs `{program}`, which is not on PATH");
        assert!(stdout.contains(&expected), "{test}:\n{stdout}");
        assert!(stdout.contains("CI is set"), "{test}:\n{stdout}");
    }
}

#[test]
fn pipec_require_tools_fails_a_test_whose_program_is_missing() {
    let (test, _) = NEEDS[0];
    let (passed, stdout, _) = alone_without_tools(test, &[("PIPEC_REQUIRE_TOOLS", "1")]);
    assert!(!passed, "{test} passed:\n{stdout}");
    assert!(
        stdout.contains("PIPEC_REQUIRE_TOOLS=1"),
        "{test}:\n{stdout}"
    );
}
