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
    after_help = "Examples:\n  pipec fmt                        format every .pipe file under the current folder\n  pipec fmt ci/app.pipe lib/       these files, and the .pipe files under lib/\n  pipec fmt --check                change nothing; print a diff of what would change (for CI)\n  pipec fmt - < app.pipe           format stdin to stdout (for editors; also `--stdin`)\n\nExit status: 0 every file is formatted (with --check: no file would change), 1 a file would change (--check) or has syntax errors (left untouched), 2 usage error or a file that cannot be read or written, 101 a bug of the formatter on some file (that file is left as it is; the others are still formatted)."
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
    /// A bug of the formatter (reported by the panic hook): the file left as it was.
    Internal,
    /// Could not be read or written.
    Failed,
}

impl Outcome {
    /// What happened to a file (`--verbose`).
    fn describe(self, check: bool) -> &'static str {
        match (self, check) {
            (Outcome::Unchanged, _) => "already formatted",
            (Outcome::Changed, true) => "would be reformatted",
            (Outcome::Changed, false) => "reformatted",
            (Outcome::Refused, _) => "has syntax errors: left as it is",
            (Outcome::Internal, _) => "could not be formatted: left as it is",
            (Outcome::Failed, _) => "could not be read or written",
        }
    }
}

/// Formats one text (the formatter; tests pass one that fails).
type FormatFn = fn(crate::source::FileId, &str) -> crate::syntax::FormatResult;

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
    let outcomes = format_files(&files, args.check, Formatter::format);
    super::output::say(&summary(&outcomes, args.check));
    Ok(if outcomes.contains(&Outcome::Internal) {
        super::exit::INTERNAL
    } else if outcomes.contains(&Outcome::Failed) {
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

/// Formats every file; one that cannot be formatted (syntax errors, unreadable, or even a
/// bug of the formatter) is reported and left as it is, and the others are still formatted.
fn format_files(files: &[PathBuf], check: bool, format: FormatFn) -> Vec<Outcome> {
    files
        .iter()
        .map(|f| {
            let outcome = one_file(f, check, format);
            super::output::detail(&format!(
                "`{}`: {}",
                super::files::display_name(f),
                outcome.describe(check)
            ));
            outcome
        })
        .collect()
}

fn one_file(path: &Path, check: bool, format: FormatFn) -> Outcome {
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
    // The formatter panics only on a bug of its own (its output failed its self-check);
    // the panic hook has asked for a report, and the other files are still formatted.
    let out = match std::panic::catch_unwind(|| format(id, &text)) {
        Ok(Ok(out)) => out,
        Ok(Err(diags)) => {
            super::check::eprint_human(&map, &diags);
            eprintln!("note: `{name}` has syntax errors: left as it is");
            return Outcome::Refused;
        }
        Err(_) => {
            eprintln!("note: `{name}` could not be formatted: left as it is");
            return Outcome::Internal;
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
        (Outcome::Internal, "left as it is (internal error)"),
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

#[cfg(test)]
mod tests {
    use super::{Outcome, format_files};
    use crate::source::FileId;

    /// A bug of the formatter on one file (it panics) leaves that file as it is, and the
    /// files after it are still formatted.
    #[test]
    fn a_file_the_formatter_fails_on_does_not_stop_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ugly = "pipeline p { stage a { action x: sh { run = \"x\" } } }";
        let (a, b) = (dir.path().join("a.pipe"), dir.path().join("b.pipe"));
        std::fs::write(&a, format!("// fails\n{ugly}")).expect("write");
        std::fs::write(&b, ugly).expect("write");
        let failing = |file: FileId, text: &str| {
            assert!(!text.starts_with("// fails"), "a formatter bug");
            crate::syntax::Formatter::format(file, text)
        };
        let outcomes = format_files(&[a.clone(), b.clone()], false, failing);
        assert!(outcomes == [Outcome::Internal, Outcome::Changed]);
        let read = |p| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(&a), format!("// fails\n{ugly}"), "left as it was");
        assert!(
            read(&b).starts_with("pipeline p {\n  stage a {\n"),
            "{}",
            read(&b)
        );
    }
}
