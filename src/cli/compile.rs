//! `pipec compile`

use std::path::PathBuf;

use super::check::{Format, print_report_to};
use super::error::{Error, Outcome};
use crate::source::SourceMap;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// The checked, resolved IR as JSON (what `pipec run` executes).
    Ir,
    /// AWS `CodePipeline` (V2): a CloudFormation template, or `create-pipeline` input.
    Codepipeline,
    /// GitHub Actions: a workflow (`.github/workflows/NAME.yml`).
    Github,
    /// GitLab CI: a `.gitlab-ci.yml`.
    Gitlab,
    /// Argo Workflows: a `Workflow`, or a `CronWorkflow` with schedules.
    Argo,
}

/// Check a `.pipe` file and write its IR (JSON) for `pipec run` or other tools.
/// The output format of a target (`cfn-…`, `cli-json`), or of the diagnostics.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutFormat {
    /// Diagnostics as graphical reports (the default).
    Human,
    /// Diagnostics one per line.
    Short,
    /// Diagnostics as one JSON document.
    Json,
    /// Diagnostics as SARIF 2.1.0.
    Sarif,
    /// Diagnostics as GitHub workflow commands.
    Github,
    /// `--target codepipeline`: a CloudFormation template in YAML (the default there).
    CfnYaml,
    /// `--target codepipeline`: a CloudFormation template in JSON.
    CfnJson,
    /// `--target codepipeline`: the input of `aws codepipeline create-pipeline --cli-input-json`.
    CliJson,
}

impl OutFormat {
    /// The diagnostics' format (human where the flag names an output format).
    fn diagnostics(self) -> Format {
        match self {
            OutFormat::Short => Format::Short,
            OutFormat::Json => Format::Json,
            OutFormat::Sarif => Format::Sarif,
            OutFormat::Github => Format::Github,
            OutFormat::Human | OutFormat::CfnYaml | OutFormat::CfnJson | OutFormat::CliJson => {
                Format::Human
            }
        }
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec compile app.pipe                    IR to stdout\n  pipec compile app.pipe -o app.ir.json\n  pipec compile app.pipe --param env=prod   bake a param value in as its default\n  pipec compile app.pipe --target codepipeline -o app.cfn.yaml\n  pipec compile app.pipe --target codepipeline --format cli-json\n  pipec compile app.pipe --target codepipeline --create-role\n  pipec compile app.pipe --target github -o .github/workflows/app.yml\n\nExit status: 0 written, 1 the file has errors (or a construct the target cannot express), 2 unreadable input or unwritable output."
)]
pub(crate) struct Args {
    /// The `.pipe` file.
    file: PathBuf,
    /// Where to write the output (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// What to compile to.
    #[arg(long, value_enum, default_value = "ir")]
    target: Target,
    /// Set a param: NAME=VALUE (repeatable); becomes the param's default in the IR.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = crate::params::parse_assignment)]
    params: Vec<(String, String)>,
    /// The output's format for `--target codepipeline` (`cfn-yaml`, the default, `cfn-json`,
    /// `cli-json`), or the format of diagnostics (`human`, `short`, `json`, `sarif`, `github`).
    #[arg(long, value_enum, default_value = "human")]
    format: OutFormat,
    /// `--target codepipeline`: generate the IAM roles and an encrypted artifact bucket
    /// instead of taking them as template parameters.
    #[arg(long)]
    create_role: bool,
}

pub(crate) fn run(args: &Args) -> Outcome {
    let output_format = matches!(
        args.format,
        OutFormat::CfnYaml | OutFormat::CfnJson | OutFormat::CliJson
    );
    match args.target {
        Target::Ir | Target::Codepipeline | Target::Github | Target::Gitlab | Target::Argo => {}
    }
    if output_format && args.target != Target::Codepipeline {
        return Err(Error::usage(
            "`--format cfn-yaml|cfn-json|cli-json` is for `--target codepipeline`",
        ));
    }
    if args.create_role && args.target != Target::Codepipeline {
        return Err(Error::usage(
            "`--create-role` is for `--target codepipeline`",
        ));
    }
    let format = args.format.diagnostics();
    let text = super::files::read_source_or_say(&args.file)?;
    // Diagnostics in a machine format must not mix with the IR on stdout.
    let to_stdout = args.output.is_none();
    let mut map = SourceMap::new();
    let root = map.add(super::files::display_name(&args.file), text);
    let out = crate::compile(&mut map, root, &mut super::files::FsLoader);
    let Some(mut ir) = out.ir else {
        if out.diagnostics.iter().all(|d| !d.is_error()) {
            print_report_to(&map, 1, &out.diagnostics, format, to_stdout);
            return Err(Error::invalid(format!(
                "`{}` has no pipeline to compile (only templates)",
                map.get(root).name
            )));
        }
        print_report_to(&map, 1, &out.diagnostics, format, to_stdout);
        return Err(Error::diagnosed());
    };
    if !out.diagnostics.is_empty() {
        print_report_to(&map, 1, &out.diagnostics, format, to_stdout);
    }
    if !args.params.is_empty() {
        match crate::params::bind(&ir, &args.params) {
            Ok(values) => {
                for p in &mut ir.pipeline.params {
                    if args.params.iter().any(|(k, _)| *k == p.name) {
                        p.default = values.get(&p.name).cloned();
                    }
                }
            }
            Err(diags) => {
                // Missing values are fine here (E0206 is for `run`); report the rest.
                let diags: Vec<_> = diags
                    .into_iter()
                    .filter(|d| d.code != crate::diagnostics::Code::E0206)
                    .collect();
                if !diags.is_empty() {
                    print_report_to(&map, 1, &diags, format, to_stdout);
                    return Err(Error::diagnosed());
                }
                let given: Vec<(String, String)> = args.params.clone();
                for p in &mut ir.pipeline.params {
                    if let Some((_, v)) = given.iter().find(|(k, _)| *k == p.name) {
                        p.default = crate::params::parse_value(&p.ty, v).ok();
                    }
                }
            }
        }
    }
    let json = match args.target {
        Target::Codepipeline => export(args, &map, &ir, format, to_stdout)?,
        Target::Github => {
            let out = crate::export::github::export(&ir, Some(&map));
            exported(out.map(|o| (o.text, o.warnings)), &map, format, to_stdout)?
        }
        Target::Gitlab => {
            let out = crate::export::gitlab::export(&ir, Some(&map));
            exported(out.map(|o| (o.text, o.warnings)), &map, format, to_stdout)?
        }
        Target::Argo => {
            let out = crate::export::argo::export(&ir, Some(&map));
            exported(out.map(|o| (o.text, o.warnings)), &map, format, to_stdout)?
        }
        Target::Ir => crate::ir::to_json(&ir),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, json + "\n")
                .map_err(|e| Error::usage(format!("cannot write `{}`: {e}", path.display())))?;
        }
        None => println!("{json}"),
    }
    Ok(super::exit::OK)
}

/// An exporter's text (its warnings printed), or the diagnostics' error.
fn exported(
    out: Result<(String, Vec<crate::diagnostics::Diagnostic>), Vec<crate::diagnostics::Diagnostic>>,
    map: &SourceMap,
    format: Format,
    to_stdout: bool,
) -> Result<String, Error> {
    match out {
        Ok((mut text, warnings)) => {
            if !warnings.is_empty() {
                print_report_to(map, 1, &warnings, format, to_stdout);
            }
            text.truncate(text.trim_end().len());
            Ok(text)
        }
        Err(diags) => {
            print_report_to(map, 1, &diags, format, to_stdout);
            Err(Error::diagnosed())
        }
    }
}

/// The `--target codepipeline` output (its warnings printed), or the diagnostics' error.
fn export(
    args: &Args,
    map: &SourceMap,
    ir: &crate::ir::Ir,
    format: Format,
    to_stdout: bool,
) -> Result<String, Error> {
    use crate::export::codepipeline::{self as cp, Options};
    let opts = Options {
        format: match args.format {
            OutFormat::CfnJson => cp::Format::CfnJson,
            OutFormat::CliJson => cp::Format::CliJson,
            _ => cp::Format::CfnYaml,
        },
        create_role: args.create_role,
        limits: true,
    };
    match cp::export(ir, Some(map), &opts) {
        Ok(out) => {
            if !out.warnings.is_empty() {
                print_report_to(map, 1, &out.warnings, format, to_stdout);
            }
            let mut text = out.text;
            text.truncate(text.trim_end().len());
            Ok(text)
        }
        Err(diags) => {
            print_report_to(map, 1, &diags, format, to_stdout);
            Err(Error::diagnosed())
        }
    }
}
