//! `pipec compile`

use std::path::PathBuf;

use super::check::{Format, print_report_to};
use super::error::{Error, Outcome};
use crate::source::SourceMap;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// The checked, resolved IR as JSON (what `pipec run` executes).
    Ir,
    /// AWS `CodePipeline` (not available yet).
    Codepipeline,
    /// GitHub Actions (not available yet).
    Github,
    /// GitLab CI (not available yet).
    Gitlab,
    /// Argo Workflows (not available yet).
    Argo,
}

/// Check a `.pipe` file and write its IR (JSON) for `pipec run` or other tools.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec compile app.pipe                    IR to stdout\n  pipec compile app.pipe -o app.ir.json\n  pipec compile app.pipe --param env=prod   bake a param value in as its default\n\nExit status: 0 written, 1 the file has errors, 2 unreadable input or unwritable output."
)]
pub(crate) struct Args {
    /// The `.pipe` file.
    file: PathBuf,
    /// Where to write the output (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// What to compile to. Only `ir` exists so far.
    #[arg(long, value_enum, default_value = "ir")]
    target: Target,
    /// Set a param: NAME=VALUE (repeatable); becomes the param's default in the IR.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = crate::params::parse_assignment)]
    params: Vec<(String, String)>,
    /// Format of diagnostics.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

pub(crate) fn run(args: &Args) -> Outcome {
    if args.target != Target::Ir {
        return Err(Error::usage(
            "only `--target ir` is available in this version of pipec",
        ));
    }
    let text = super::files::read_source_or_say(&args.file)?;
    // Diagnostics in a machine format must not mix with the IR on stdout.
    let to_stdout = args.output.is_none();
    let mut map = SourceMap::new();
    let root = map.add(super::files::display_name(&args.file), text);
    let out = crate::compile(&mut map, root, &mut super::files::FsLoader);
    let Some(mut ir) = out.ir else {
        if out.diagnostics.iter().all(|d| !d.is_error()) {
            print_report_to(&map, 1, &out.diagnostics, args.format, to_stdout);
            return Err(Error::invalid(format!(
                "`{}` has no pipeline to compile (only templates)",
                map.get(root).name
            )));
        }
        print_report_to(&map, 1, &out.diagnostics, args.format, to_stdout);
        return Err(Error::diagnosed());
    };
    if !out.diagnostics.is_empty() {
        print_report_to(&map, 1, &out.diagnostics, args.format, to_stdout);
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
                    print_report_to(&map, 1, &diags, args.format, to_stdout);
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
    let json = crate::ir::to_json(&ir);
    match &args.output {
        Some(path) => {
            std::fs::write(path, json + "\n")
                .map_err(|e| Error::usage(format!("cannot write `{}`: {e}", path.display())))?;
        }
        None => println!("{json}"),
    }
    Ok(super::exit::OK)
}
