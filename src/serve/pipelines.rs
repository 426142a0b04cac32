//! The pipelines the server serves, reloaded when their files change. A file that stops
//! checking keeps its last good version (runs start from it) and shows its diagnostics;
//! each good version's IR is written once to the state directory (`serve/ir/SHA.json`) and
//! runs are started from that file, so a run starts from exactly the version the server
//! shows, whatever the file holds by then.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::ir::Ir;

/// One file as the loader found it.
pub(crate) struct Loaded {
    pub(crate) file: PathBuf,
    /// The path shown to users.
    pub(crate) shown: String,
    /// The checked pipeline, when the file checks clean and has one.
    pub(crate) ir: Option<Ir>,
    /// Whether the file declares no pipeline and has no error (a library of templates).
    pub(crate) library: bool,
    /// Its diagnostics, as `pipec check --format json` writes each.
    pub(crate) diagnostics: Vec<serde_json::Value>,
}

/// Where pipelines come from: the command line's discovery and checker.
pub(crate) trait Source: Send + Sync {
    /// A value that changes when any file might have (names, sizes, times).
    fn stamp(&self) -> u64;
    /// Every file, checked.
    fn load(&self) -> Vec<Loaded>;
}

/// A good version of a pipeline.
#[derive(Clone)]
pub(crate) struct Good {
    pub(crate) ir: Arc<Ir>,
    /// Its IR, written for `pipec run --compiled`.
    pub(crate) ir_file: PathBuf,
}

/// A served pipeline file.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) file: PathBuf,
    pub(crate) shown: String,
    /// The pipeline's name (of the last good version).
    pub(crate) name: Option<String>,
    pub(crate) good: Option<Good>,
    /// Whether the file as it is now checks clean.
    pub(crate) ok: bool,
    pub(crate) diagnostics: Vec<serde_json::Value>,
}

/// All served pipelines.
#[derive(Default, Clone)]
pub(crate) struct Pipelines {
    pub(crate) entries: Vec<Entry>,
    stamp: Option<u64>,
}

impl Pipelines {
    /// The entry of pipeline `name`.
    pub(crate) fn named(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.name.as_deref() == Some(name))
    }

    /// Reloads when the source's stamp changed: what to say about it (`None`: nothing
    /// changed).
    pub(crate) fn refresh(&mut self, source: &dyn Source, ir_dir: &Path) -> Option<Vec<String>> {
        let stamp = source.stamp();
        if self.stamp == Some(stamp) {
            return None;
        }
        self.stamp = Some(stamp);
        let mut said = Vec::new();
        let loaded = source.load();
        let entries = loaded
            .into_iter()
            .filter(|l| !l.library)
            .filter_map(|l| {
                let before = self.entries.iter().find(|e| e.file == l.file);
                entry(l, before, ir_dir, &mut said)
            })
            .collect();
        self.entries = entries;
        Some(said)
    }
}

/// The entry of a file as loaded now (`before`: as it was), saying what changed.
fn entry(
    l: Loaded,
    before: Option<&Entry>,
    ir_dir: &Path,
    said: &mut Vec<String>,
) -> Option<Entry> {
    let Some(ir) = l.ir else {
        let kept = before.and_then(|b| b.good.clone());
        said.push(match &kept {
            Some(_) => format!(
                "{} does not check: its last good version stays served",
                l.shown
            ),
            None => format!("{} does not check", l.shown),
        });
        return Some(Entry {
            file: l.file,
            shown: l.shown,
            name: before.and_then(|b| b.name.clone()),
            good: kept,
            ok: false,
            diagnostics: l.diagnostics,
        });
    };
    let ir_file = match write_ir(&ir, ir_dir) {
        Ok(f) => f,
        Err(why) => {
            said.push(why);
            return None;
        }
    };
    if before.is_none_or(|b| !b.ok) {
        said.push(format!(
            "serving pipeline `{}` ({})",
            ir.pipeline.name, l.shown
        ));
    }
    Some(Entry {
        file: l.file,
        shown: l.shown,
        name: Some(ir.pipeline.name.clone()),
        good: Some(Good {
            ir: Arc::new(ir),
            ir_file,
        }),
        ok: true,
        diagnostics: l.diagnostics,
    })
}

/// Writes `ir` as `DIR/SHA.json` (once per version): the file.
fn write_ir(ir: &Ir, dir: &Path) -> Result<PathBuf, String> {
    use std::fmt::Write as _;
    let json = crate::ir::to_json(ir);
    let sha = Sha256::digest(json.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    let path = dir.join(format!("{sha}.json"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{sha}.tmp"));
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(path)
}
