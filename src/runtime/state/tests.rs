//! What the history's tests share (test code: `tidy` lets it use the checker): a pipeline
//! compiled from its source, and a new run of it.

use super::{History, Snapshot};

/// The IR of the pipeline `src` (which must compile).
pub(crate) fn ir(src: &str) -> crate::ir::Ir {
    let mut map = crate::source::SourceMap::new();
    let root = map.add("p.pipe", src);
    crate::compile(&mut map, root, &mut crate::check::NoLoader)
        .ir
        .expect("compiles")
}

/// A new run of `ir` (no params, facts, file or parent): its id.
pub(crate) fn start(h: &History, ir: &crate::ir::Ir) -> String {
    let facts = serde_json::json!({});
    let snapshot = Snapshot {
        parent: None,
        facts: &facts,
        file: None,
        source: None,
    };
    h.start_run(ir, &serde_json::json!({}), &snapshot)
        .expect("starts")
}
