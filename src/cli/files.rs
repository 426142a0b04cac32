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
            walk(p, &mut out).map_err(|e| format!("cannot read folder `{}`: {e}", p.display()))?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type()?.is_dir() {
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

/// The name shown to users: relative to the current directory where possible.
pub(crate) fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd
        .as_ref()
        .and_then(|c| path.strip_prefix(c).ok())
        .unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}
