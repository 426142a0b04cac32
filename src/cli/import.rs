//! `pipec import codepipeline FILE [-o OUT]`

use std::path::{Path, PathBuf};

use super::error::{Error, Outcome};
use crate::import::{Imported, Importer};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    from: From,
}

/// Where the declaration comes from.
#[derive(clap::Subcommand)]
enum From {
    Codepipeline(CodepipelineArgs),
}

/// Import an AWS CodePipeline declaration as a `.pipe` file
///
/// Reads a CloudFormation template (YAML with `!Ref`/`!Sub`/`!GetAtt`/`!If`… or JSON) with
/// `AWS::CodePipeline::Pipeline` resources, the JSON of `aws codepipeline get-pipeline` or
/// `create-pipeline --cli-input-json` (with or without `metadata`), a Terraform file with
/// `aws_codepipeline` resources, or a shell script that builds that JSON with `jq -n`.
/// Writes a `.pipe` file in `pipec fmt`'s layout: AWS provider actions become `aws`
/// actions, Manual approvals `approval` actions, `Commands` actions `sh` actions; values
/// the file does not give (`!GetAtt`, `!ImportValue`, Terraform references) become params
/// with a comment saying what they stood for. Every value not carried over is a comment at
/// its place. The mapping: docs/import.md.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec import codepipeline pipeline.yaml            a CloudFormation template; .pipe on stdout\n  pipec import codepipeline pipeline.yaml -o ci/app.pipe\n  aws codepipeline get-pipeline --name app > app.json\n  pipec import codepipeline app.json -o app.pipe     a pipeline AWS runs already\n  pipec import codepipeline main.tf -o app.pipe      Terraform (also main.tf.json)\n  pipec import codepipeline modules/ci/ -o app.pipe  a Terraform module: variables.tf's defaults too\n  terraform show -json | pipec import codepipeline -   Terraform's state: dynamic blocks expanded\n  pipec check --deny-warnings app.pipe && pipec compile app.pipe --target codepipeline\n\nSeveral pipelines in one file: with -o OUT.pipe each goes to OUT.NAME.pipe beside it\n(NAME is the pipeline's name in the output); on stdout they follow one another, each\nafter a `// ==== NAME.pipe ====` line.\n\nExit status: 0 written, 1 the file holds no pipeline or cannot be read as one (the error\nsays where and what to do), 2 unreadable input or unwritable output."
)]
struct CodepipelineArgs {
    /// The declaration: `.yaml`/`.yml`/`.json` (CloudFormation or the CLI's JSON), `.tf`,
    /// `.sh`; a Terraform module's folder (its `*.tf` files read as one); `-` reads stdin.
    file: PathBuf,
    /// Where to write the `.pipe` file (default: stdout).
    #[arg(short, long, value_name = "OUT.pipe")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Outcome {
    let From::Codepipeline(args) = &args.from;
    let shown = if args.file == Path::new("-") {
        "<stdin>".to_string()
    } else {
        super::files::display_name(&args.file)
    };
    let name = args
        .file
        .file_name()
        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().to_string());
    let result = if args.file.is_dir() {
        let files = module_files(&args.file)?;
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        Importer::import_module(&name, &files)
    } else {
        let text = if args.file == Path::new("-") {
            super::files::read_stdin()?
        } else {
            read(&args.file)?
        };
        Importer::import(&name, &text)
    };
    let imported = result.map_err(|e| {
        let file = match &e.file {
            Some(f) => format!("{}/{f}", shown.trim_end_matches('/')),
            None => shown.clone(),
        };
        let at = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}: "),
            _ => format!("{file}: "),
        };
        let err = if e.message.starts_with("internal error") {
            Error::internal(format!("{at}{}", e.message))
        } else {
            Error::invalid(format!("{at}{}", e.message))
        };
        err.help(e.help)
    })?;
    match &args.output {
        None => print_all(&imported),
        Some(out) => write_all(&imported, out)?,
    }
    Ok(super::exit::OK)
}

fn read(path: &Path) -> Result<String, Error> {
    crate::runtime::bounded::read_text(path, crate::import::MAX_INPUT as u64)
        .map_err(|e| Error::usage(format!("cannot read `{}`: {e}", path.display())))
}

/// A Terraform module's `*.tf` files (name, text), by name.
fn module_files(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::usage(format!("cannot read `{}`: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf") && p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(
            Error::usage(format!("`{}` has no `.tf` files", dir.display())).help(
                "give a CloudFormation, CLI JSON or Terraform file, or a Terraform module's folder",
            ),
        );
    }
    paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            Ok((name, read(p)?))
        })
        .collect()
}

fn print_all(imported: &[Imported]) {
    if let [one] = imported {
        print!("{}", one.text);
        return;
    }
    for (i, p) in imported.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("// ==== {}.pipe ====", p.name);
        print!("{}", p.text);
    }
}

fn write_all(imported: &[Imported], out: &Path) -> Result<(), Error> {
    let paths: Vec<PathBuf> = match imported {
        [_] => vec![out.to_path_buf()],
        many => many.iter().map(|p| several(out, &p.name)).collect(),
    };
    for (p, path) in imported.iter().zip(&paths) {
        std::fs::write(path, &p.text)
            .map_err(|e| Error::usage(format!("cannot write `{}`: {e}", path.display())))?;
        if imported.len() > 1 {
            eprintln!("wrote {} (pipeline `{}`)", path.display(), p.name);
        }
    }
    Ok(())
}

/// `OUT.pipe` and pipeline `NAME` → `OUT.NAME.pipe` beside it.
fn several(out: &Path, name: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map_or_else(|| "pipe".to_string(), |e| e.to_string_lossy().to_string());
    out.with_file_name(format!("{stem}.{name}.{ext}"))
}
