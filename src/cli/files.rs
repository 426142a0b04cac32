//! Finding and reading `.pipe` files; the file system [`Loader`] for local imports.

use std::path::{Path, PathBuf};

use crate::check::Loader;

/// Reads imports from the file system (paths are relative to the current directory).
pub(crate) struct FsLoader;

impl Loader for FsLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// `*.pipe` files: each file argument as is, each folder searched recursively (hidden
/// folders, `target` and `node_modules` skipped), sorted.
pub(crate) fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot read folder `{}`: {e}", display_name(dir));
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
