//! `pipec check`

use std::path::PathBuf;

use super::error::{Error, Outcome};
use crate::diagnostics::{Diagnostic, render};
use crate::source::SourceMap;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Graphical reports with source snippets, labels and help (stderr).
    Human,
    /// One line per diagnostic: `FILE:LINE:COL: error[CODE]: message` (stdout).
    Short,
    /// One JSON document (stdout), for editors and tools.
    Json,
    /// SARIF 2.1.0 (stdout), for code-scanning dashboards.
    Sarif,
    /// GitHub Actions workflow commands (stdout): annotations on pull requests.
    Github,
}

/// Check `.pipe` files for errors and warnings without running anything.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec check                         every .pipe file under the current folder\n  pipec check ci/ --format short       one line per problem\n  pipec check app.pipe --deny-warnings fail on warnings too (for CI)\n  cat app.pipe | pipec check --stdin-filename app.pipe --format json\n\nExit status: 0 no errors, 1 errors found (or warnings with --deny-warnings), 2 unreadable input."
)]
pub(crate) struct Args {
    /// Files, or folders searched recursively for `*.pipe` files (hidden folders, `target`
    /// and `node_modules` are skipped).
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Treat warnings as errors for the exit status.
    #[arg(long)]
    deny_warnings: bool,
    /// Read the source from stdin and report it under this name (for editors); local
    /// imports are resolved from the folder of NAME.
    #[arg(long, value_name = "NAME")]
    stdin_filename: Option<String>,
}

pub(crate) fn run(args: &Args) -> Outcome {
    let mut map = SourceMap::new();
    let mut roots = Vec::new();
    if args.stdin_filename.is_some() && args.paths.iter().any(|p| p.as_os_str() != ".") {
        return Err(Error::usage(
            "`--stdin-filename` checks standard input only; do not also name files",
        ));
    }
    if let Some(name) = &args.stdin_filename {
        let text = super::files::read_stdin()?;
        roots.push(map.add(name.clone(), text));
    } else {
        for f in super::files::collect(&args.paths)? {
            super::output::detail(&format!("checking `{}`", super::files::display_name(&f)));
            let text = super::files::read_source_or_say(&f)?;
            roots.push(map.add(super::files::display_name(&f), text));
        }
    }
    let mut all: Vec<Diagnostic> = Vec::new();
    for root in &roots {
        let checked =
            crate::check::Checker::check(&mut map, *root, &mut super::files::FsLoader, false);
        all.extend(checked.diagnostics);
        // The process ends soon: the model (every stage and action) is not freed piece by
        // piece, which is serial work after the last stage is checked.
        std::mem::forget(checked.model);
    }
    // A module imported by several roots reports its problems once.
    let first: Vec<bool> = {
        let mut seen = std::collections::HashSet::new();
        all.iter().map(|d| seen.insert(d)).collect()
    };
    let diags: Vec<Diagnostic> = all
        .into_iter()
        .zip(first)
        .filter_map(|(d, first)| first.then_some(d))
        .collect();
    print_report(&map, roots.len(), &diags, args.format);
    std::mem::forget(map);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let failed = errors > 0 || (args.deny_warnings && !diags.is_empty());
    Ok(if failed {
        super::exit::INVALID
    } else {
        super::exit::OK
    })
}

/// Prints diagnostics in a format (shared with `compile`).
pub(crate) fn print_report(map: &SourceMap, files: usize, diags: &[Diagnostic], format: Format) {
    print_report_to(map, files, diags, format, false);
}

/// The graphical reports of `diagnostics` on stderr (colour on a terminal unless `NO_COLOR`,
/// `COLUMNS` wide), as `pipec check` prints them.
pub(crate) fn eprint_human(map: &SourceMap, diags: &[Diagnostic]) {
    let color = super::output::color_stderr();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    for d in diags {
        eprint!(
            "{}",
            render::human(map, d, render::HumanOptions { color, width })
        );
        eprintln!();
    }
}

/// Prints diagnostics; machine formats go to stderr when stdout carries other output.
pub(crate) fn print_report_to(
    map: &SourceMap,
    files: usize,
    diags: &[Diagnostic],
    format: Format,
    stdout_taken: bool,
) {
    let emit = |line: String| {
        if stdout_taken {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    match format {
        Format::Human => {
            eprint_human(map, diags);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            let warnings = diags.len() - errors;
            let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
            super::output::say(&format!(
                "checked {}: {}, {}",
                plural(files, "file"),
                plural(errors, "error"),
                plural(warnings, "warning")
            ));
        }
        Format::Short => diags.iter().for_each(|d| emit(render::short(map, d))),
        Format::Github => diags.iter().for_each(|d| emit(render::github(map, d))),
        Format::Json => emit(render::json_document(map, files, diags)),
        Format::Sarif => emit(render::sarif(map, diags)),
    }
}
