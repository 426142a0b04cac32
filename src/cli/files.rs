//! Finding and reading `.pipe` files; the file system [`Loader`] for local imports.

use std::path::{Path, PathBuf};

use super::error::Error;
use crate::check::{LoadError, Loader};
use crate::runtime::bounded::{self, ReadError};

/// Reads imports from the file system (paths are relative to the current directory).
pub(crate) struct FsLoader;

impl Loader for FsLoader {
    fn read(&mut self, path: &str) -> Result<String, LoadError> {
        read_source(Path::new(path)).map_err(|e| load_error(&e))
    }
}

/// A `.pipe` file's text: a regular file of at most [`bounded::MAX_SOURCE`] bytes of UTF-8.
pub(crate) fn read_source(path: &Path) -> Result<String, ReadError> {
    bounded::read_text(path, bounded::MAX_SOURCE)
}

/// A `.pipe` file's text, or what to say when it cannot be read (exit 2).
pub(crate) fn read_source_or_say(path: &Path) -> Result<String, Error> {
    read_source(path).map_err(|e| Error::usage(format!("cannot read `{}`: {e}", path.display())))
}

/// Standard input as a `.pipe` file's text (at most [`bounded::MAX_SOURCE`] bytes of UTF-8).
pub(crate) fn read_stdin() -> Result<String, Error> {
    let bytes = bounded::read_at_most(std::io::stdin().lock(), bounded::MAX_SOURCE)
        .map_err(|e| Error::usage(format!("cannot read stdin: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::usage(format!("cannot read stdin: {}", ReadError::NotText)))
}

/// Whether `file` is compiled IR (JSON) rather than a `.pipe` file.
pub(crate) fn is_ir(file: &Path) -> bool {
    file.extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
}

/// The text of a pipeline to run: a `.pipe` file, or compiled IR (at most
/// [`bounded::MAX_IR`] bytes), or what to say when it cannot be read.
pub(crate) fn read_pipeline(file: &Path) -> Result<String, String> {
    let limit = if is_ir(file) {
        bounded::MAX_IR
    } else {
        bounded::MAX_SOURCE
    };
    bounded::read_text(file, limit).map_err(|e| format!("cannot read `{}`: {e}", file.display()))
}

/// The value of a `file(…)` source (a secret's or a param's): the file's text without its
/// final newlines, at most [`bounded::MAX_VALUE`] bytes.
pub(crate) fn read_value(path: &Path) -> Result<String, String> {
    bounded::read_text(path, bounded::MAX_VALUE)
        .map(|t| t.trim_end_matches('\n').to_string())
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// An import that cannot be read, for E0205.
pub(crate) fn load_error(e: &ReadError) -> LoadError {
    LoadError {
        missing: e.is_missing(),
        why: e.to_string(),
    }
}

/// `*.pipe` files: each file argument as is, each folder searched recursively (hidden
/// folders, `target` and `node_modules` skipped), sorted.
pub(crate) fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| Error::usage(format!("cannot read `{}`: {e}", p.display())))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    // The same file named twice (or through two paths) is checked once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| {
        seen.insert(
            std::path::absolute(p)
                .map_or_else(|_| display_name(p), |a| crate::paths::normalize(&a)),
        )
    });
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::usage(format!("cannot read folder `{}`: {e}", display_name(dir)))
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().map_err(fail)?.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, out)?;
            }
        } else if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("pipe"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The name shown to users: relative to the current directory (CLI.md), `..` included.
pub(crate) fn display_name(path: &Path) -> String {
    let (Ok(cwd), Ok(abs)) = (std::env::current_dir(), std::path::absolute(path)) else {
        return path.to_string_lossy().replace('\\', "/");
    };
    let cwd = crate::paths::normalize(&cwd);
    let abs = crate::paths::normalize(&abs);
    crate::paths::rebase(abs.trim_start_matches('/'), "", cwd.trim_start_matches('/'))
}
