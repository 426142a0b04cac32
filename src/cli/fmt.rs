//! `pipec fmt`: rewrites `.pipe` files in the canonical layout, or (`--check`) shows the diff.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::Error;
use crate::source::SourceMap;
use crate::syntax::Formatter;

/// Format `.pipe` files in the one canonical layout (comments and blank-line groups kept).
#[derive(clap::Args)]
#[command(
    long_about = "Format `.pipe` files in the one canonical layout: two-space indentation, one item \
per line in pipelines, stages and templates, small blocks, lists and maps on one line when they \
fit in 100 columns, comments and blank-line groups kept. Formatting never changes what a file \
means, and formatting a formatted file changes nothing. A file with syntax errors is left as it \
is: its errors are reported as `pipec check` reports them, and the other files are still \
formatted. Files are only written when they change, through a temporary file renamed over them.",
    after_help = "Examples:\n  pipec fmt                        format every .pipe file under the current folder\n  pipec fmt ci/app.pipe lib/       these files, and the .pipe files under lib/\n  pipec fmt --check                change nothing; print a diff of what would change (for CI)\n  pipec fmt - < app.pipe           format stdin to stdout (for editors; also `--stdin`)\n\nExit status: 0 every file is formatted (with --check: no file would change), 1 a file would change (--check) or has syntax errors (left untouched), 2 usage error or a file that cannot be read or written."
)]
pub(crate) struct Args {
    /// Files, or folders searched recursively for `*.pipe` files (hidden folders, `target`
    /// and `node_modules` are skipped); `-` reads stdin and writes the result to stdout.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Write nothing: print a unified diff of each file that is not formatted, and exit 1 if
    /// there is one.
    #[arg(long)]
    check: bool,
    /// Read the source from stdin and write the formatted text to stdout (the same as PATH `-`).
    #[arg(long)]
    stdin: bool,
}

/// What became of one file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Unchanged,
    Changed,
    /// Syntax errors: reported, the file left as it was.
    Refused,
    /// Could not be read or written.
    Failed,
}

pub(crate) fn run(args: &Args) -> Result<u8, Error> {
    let dash = args.paths.iter().any(|p| p.as_os_str() == "-");
    if args.stdin || dash {
        let only_stdin = args.paths.iter().all(|p| p.as_os_str() == "-")
            || (args.stdin && args.paths.iter().all(|p| p.as_os_str() == "."));
        if !only_stdin {
            return Err(Error::usage(
                "`-` (or `--stdin`) formats standard input only; do not also name files",
            ));
        }
        return stdin(args.check);
    }
    let files = super::files::collect(&args.paths)?;
    let outcomes: Vec<Outcome> = files.iter().map(|f| one_file(f, args.check)).collect();
    eprintln!("{}", summary(&outcomes, args.check));
    Ok(if outcomes.contains(&Outcome::Failed) {
        super::exit::USAGE
    } else if outcomes.contains(&Outcome::Refused)
        || (args.check && outcomes.contains(&Outcome::Changed))
    {
        super::exit::INVALID
    } else {
        super::exit::OK
    })
}

fn stdin(check: bool) -> Result<u8, Error> {
    let text = super::files::read_stdin()?;
    let name = "<stdin>";
    let mut map = SourceMap::new();
    let id = map.add(name, text.as_str());
    Ok(match Formatter::format(id, &text) {
        Err(diags) => {
            super::check::eprint_human(&map, &diags);
            super::exit::INVALID
        }
        Ok(out) if check => {
            if out == text {
                super::exit::OK
            } else {
                print!("{}", diff(name, &text, &out));
                super::exit::INVALID
            }
        }
        Ok(out) => {
            print!("{out}");
            super::exit::OK
        }
    })
}

fn one_file(path: &Path, check: bool) -> Outcome {
    let name = super::files::display_name(path);
    let text = match super::files::read_source(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{name}`: {e}");
            return Outcome::Failed;
        }
    };
    let mut map = SourceMap::new();
    let id = map.add(name.as_str(), text.as_str());
    let out = match Formatter::format(id, &text) {
        Ok(out) => out,
        Err(diags) => {
            super::check::eprint_human(&map, &diags);
            eprintln!("note: `{name}` has syntax errors: left as it is");
            return Outcome::Refused;
        }
    };
    if out == text {
        return Outcome::Unchanged;
    }
    if check {
        print!("{}", diff(&name, &text, &out));
    } else if let Err(e) = write_atomically(path, &out) {
        eprintln!("error: cannot write `{name}`: {e}");
        return Outcome::Failed;
    }
    Outcome::Changed
}

/// A unified diff from `old` to `new`, both sides named `name`.
fn diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, name)
        .to_string()
}

/// Replaces the file (the target of a symbolic link) by a temporary file in the same folder,
/// renamed over it, so that a reader never sees half a file; its permissions are kept.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.pipec-fmt-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::metadata(&target)?.permissions())?;
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `3 files: 1 reformatted, 1 already formatted, 1 left as it is (syntax errors)`.
fn summary(outcomes: &[Outcome], check: bool) -> String {
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
    let changed = if check {
        "would be reformatted"
    } else {
        "reformatted"
    };
    let parts: Vec<String> = [
        (Outcome::Changed, changed),
        (Outcome::Unchanged, "already formatted"),
        (Outcome::Refused, "left as it is (syntax errors)"),
        (Outcome::Failed, "unreadable or unwritable"),
    ]
    .into_iter()
    .filter(|(o, _)| count(*o) > 0)
    .map(|(o, what)| format!("{} {what}", count(o)))
    .collect();
    match outcomes.len() {
        0 => "no .pipe files found".to_string(),
        1 => format!("1 file: {}", parts.join(", ")),
        n => format!("{n} files: {}", parts.join(", ")),
    }
}
