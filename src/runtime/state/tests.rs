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

#[test]
fn now_has_one_width_so_its_text_order_is_its_time_order() {
    let a = super::now();
    assert_eq!(a.len(), "2026-12-07T03:30:05.500Z".len(), "{a}");
    assert!(a.ends_with('Z'), "{a}");
    let t: jiff::Timestamp = a.parse().expect("RFC 3339");
    assert_eq!(t.subsec_nanosecond() % 1_000_000, 0, "{a}");
    assert!(super::now() >= a);
}
