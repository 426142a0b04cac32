//! The bodies of the fuzz targets, one per entry point of pipec: what each does with an input
//! and what must hold for it. `fuzz/fuzz_targets/*.rs` hand them to libFuzzer (`cargo fuzz`,
//! `bash bench/fuzz.sh`); `tests/fuzz_regressions.rs` includes this file and replays every
//! case under `tests/fuzz-regressions/TARGET/` through them in `cargo test`, so a finding
//! stays fixed on stable Rust without cargo-fuzz.
//!
//! An input is the bytes of a `.pipe` file, read as UTF-8 with lost bytes replaced (as an
//! editor would show them), except for `fmt`, which takes only valid UTF-8 like `pipec fmt`,
//! and `graph`, which also reads an input that starts with `{` as IR JSON like
//! `pipec graph FILE.json`. Local imports read the input itself (so imports, their templates and
//! import cycles are reached), up to a depth of three folders.
//! A property that does not hold panics, which libFuzzer reports as a crash.

use pipec::check::{Checker, LoadError, Loader};
use pipec::diagnostics::{Diagnostic, render};
use pipec::ide::Analysis;
use pipec::ir::graph::Format;
use pipec::source::{SourceMap, Span};

/// A target's body: it panics when a property does not hold for the input.
pub type Target = fn(&[u8]);

/// The targets by name: the folder names under `fuzz/corpus/` and
/// `tests/fuzz-regressions/`, and the names of the binaries in `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("check", check),
    ("fmt", fmt),
    ("compile", compile),
    ("graph", graph),
    ("lsp", lsp),
    ("import", import),
];

/// Reads any path as the input text, as long as it has at most three `/`: an import of
/// `"a/x.pipe"` read this way imports `a/a/x.pipe`, and so on, so a chain ends. Like a disk,
/// it reads a path the same each time: the checker may read a file twice (a streamed check
/// that restarts on the whole file).
struct Echo<'a> {
    text: &'a str,
}

impl Loader for Echo<'_> {
    fn read(&mut self, path: &str) -> Result<String, LoadError> {
        if path.matches('/').count() > 3 {
            return Err(LoadError {
                missing: true,
                why: format!("cannot read `{path}` here"),
            });
        }
        Ok(self.text.to_string())
    }
}

fn text_of(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A span lies in its file's text, in order, on character boundaries.
fn assert_span(map: &SourceMap, span: Span, what: &str) {
    let text = &map.get(span.file).text;
    let (start, end) = (span.start as usize, span.end as usize);
    assert!(
        start <= end && end <= text.len(),
        "{what}: span {start}..{end} outside a text of {} bytes",
        text.len()
    );
    assert!(
        text.is_char_boundary(start) && text.is_char_boundary(end),
        "{what}: span {start}..{end} inside a character"
    );
}

fn assert_diagnostic_spans(map: &SourceMap, diags: &[Diagnostic]) {
    for d in diags {
        assert_span(map, d.primary.span, &d.message);
        for l in &d.secondary {
            assert_span(map, l.span, &d.message);
        }
    }
}

/// Severity, code, message and where, with the file by name (ids may differ between maps).
fn summary(map: &SourceMap, diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            let s = d.primary.span;
            format!(
                "{}[{}] {}:{}-{} {}",
                d.severity.as_str(),
                d.code,
                map.get(s.file).name,
                s.start,
                s.end,
                d.message
            )
        })
        .collect()
}

/// `pipec check`: the checker, whole and streamed stage by stage (which must agree), and every
/// report format of its diagnostics.
pub fn check(data: &[u8]) {
    let text = text_of(data);
    let run = |threshold: usize| {
        let mut map = SourceMap::new();
        let id = map.add("fuzz.pipe", text.clone());
        let out = Checker::check_streaming_from(
            &mut map,
            id,
            &mut Echo { text: &text },
            false,
            threshold,
        );
        (map, out.diagnostics)
    };
    let (map, diags) = run(usize::MAX);
    let (streamed_map, streamed) = run(0);
    assert_diagnostic_spans(&map, &diags);
    assert_eq!(
        summary(&map, &diags),
        summary(&streamed_map, &streamed),
        "checking the file whole and stage by stage disagree"
    );
    let options = render::HumanOptions {
        color: false,
        width: 80,
    };
    for d in &diags {
        let _ = render::human(&map, d, options);
        let _ = render::short(&map, d);
        let _ = render::github(&map, d);
    }
    let _ = render::json_document(&map, 1, &diags);
    let _ = render::sarif(&map, &diags);
}

/// Spans (file, byte range, line and column) replaced by `null`: they move when the layout
/// changes. Nothing else in the IR depends on the layout.
fn without_spans(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let span = ["file", "start", "end", "line", "column"]
                .iter()
                .all(|k| map.contains_key(*k))
                && map.len() == 5;
            if span {
                *v = serde_json::Value::Null;
            } else {
                map.values_mut().for_each(without_spans);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_spans),
        _ => {}
    }
}

/// The IR without spans (they move with the layout), and the diagnostics by code, severity
/// and message: what formatting must not change.
fn meaning(text: &str) -> (Option<serde_json::Value>, Vec<String>) {
    meaning_of("fuzz.pipe", text, &mut Echo { text })
}

/// [`meaning`] of `text` checked as `name`, imports read by `loader` (also used by
/// `tests/fmt.rs`).
pub fn meaning_of(
    name: &str,
    text: &str,
    loader: &mut dyn Loader,
) -> (Option<serde_json::Value>, Vec<String>) {
    let mut map = SourceMap::new();
    let id = map.add(name, text);
    let out = pipec::compile(&mut map, id, loader);
    let ir = out.ir.map(|ir| {
        let mut v: serde_json::Value =
            serde_json::from_str(&pipec::ir::to_json(&ir)).expect("the IR is JSON");
        without_spans(&mut v);
        v
    });
    let diags = out
        .diagnostics
        .iter()
        .map(|d| format!("{}[{}] {}", d.severity.as_str(), d.code, d.message))
        .collect();
    (ir, diags)
}

/// `pipec fmt`: a file is refused exactly when it has syntax errors, with those errors;
/// otherwise its formatted text formats to itself and means what the file meant (the same
/// IR, spans aside, and the same diagnostics). The formatter itself panics when the syntax
/// tree of its output differs from the input's.
pub fn fmt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let id = pipec::source::FileId(0);
    let (_, parsed) = pipec::syntax::Parser::parse(id, text);
    let errors: Vec<Diagnostic> = parsed.into_iter().filter(Diagnostic::is_error).collect();
    match pipec::format_source(text) {
        Err(refused) => {
            assert!(
                !errors.is_empty(),
                "a file without syntax errors was refused"
            );
            assert_eq!(
                refused, errors,
                "refused with other errors than the parser's"
            );
        }
        Ok(out) => {
            assert!(errors.is_empty(), "a file with syntax errors was formatted");
            let again = pipec::format_source(&out);
            assert!(
                again.as_ref() == Ok(&out),
                "formatting the formatted text changed it:\n{out}\n----\n{again:?}"
            );
            assert_eq!(
                meaning(text),
                meaning(&out),
                "formatting changed the meaning:\n{out}"
            );
        }
    }
}

/// `pipec compile`: a file that checks clean lowers to an IR that passes the runtime's
/// validation, and that reads back from its JSON unchanged.
pub fn compile(data: &[u8]) {
    let text = text_of(data);
    let mut map = SourceMap::new();
    let id = map.add("fuzz.pipe", text.clone());
    let out = pipec::compile(&mut map, id, &mut Echo { text: &text });
    assert_diagnostic_spans(&map, &out.diagnostics);
    let Some(ir) = out.ir else {
        return;
    };
    assert!(
        !out.diagnostics.iter().any(Diagnostic::is_error),
        "an IR despite errors"
    );
    if let Err(why) = pipec::ir::validate(&ir) {
        panic!("the compiled IR is not valid: {why}");
    }
    let json = pipec::ir::to_json(&ir);
    let back = pipec::ir::from_json(&json).expect("the IR reads back from its JSON");
    assert!(back == ir, "the IR changed through JSON");
    assert_eq!(pipec::ir::to_json(&back), json, "the IR's JSON changed");
}

/// `pipec graph`: `dot` and Mermaid drawings of a compiled file are well-formed text (every
/// quoted string closed on its line, braces and subgraphs balanced); IR JSON (input starting
/// with `{`) that reads and validates is drawn without a panic.
pub fn graph(data: &[u8]) {
    let text = text_of(data);
    if text.starts_with('{') {
        if let Ok(ir) = pipec::ir::from_json(&text)
            && pipec::ir::validate(&ir).is_ok()
        {
            let _ = pipec::ir::graph::render(&ir, Format::Dot);
            let _ = pipec::ir::graph::render(&ir, Format::Mermaid);
        }
        return;
    }
    let mut map = SourceMap::new();
    let id = map.add("fuzz.pipe", text.clone());
    let Some(ir) = pipec::compile(&mut map, id, &mut Echo { text: &text }).ir else {
        return;
    };
    let dot = pipec::ir::graph::render(&ir, Format::Dot);
    assert_dot(&dot);
    let mermaid = pipec::ir::graph::render(&ir, Format::Mermaid);
    assert_mermaid(&mermaid);
}

/// Every line of `dot` ends outside a quoted string (`\` escapes the next character), and
/// braces outside strings balance.
fn assert_dot(dot: &str) {
    let mut depth = 0i64;
    for line in dot.lines() {
        let (mut quoted, mut escaped) = (false, false);
        for c in line.chars() {
            match (quoted, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (_, false, '"') => quoted = !quoted,
                (false, _, '{') => depth += 1,
                (false, _, '}') => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "a `}}` closes nothing in dot:\n{dot}");
        }
        assert!(
            !quoted,
            "a string left open on a line of dot: {line}\n{dot}"
        );
    }
    assert_eq!(depth, 0, "unbalanced braces in dot:\n{dot}");
}

/// Quotes pair up on every line of the Mermaid text (quotes in labels are `#quot;`), and
/// every `subgraph` has its `end`.
fn assert_mermaid(mermaid: &str) {
    let mut open = 0i64;
    for line in mermaid.lines() {
        assert!(
            line.matches('"').count() % 2 == 0,
            "an odd number of quotes in a Mermaid line: {line}\n{mermaid}"
        );
        match line.trim_start().split(' ').next() {
            Some("subgraph") => open += 1,
            Some("end") => open -= 1,
            _ => {}
        }
        assert!(open >= 0, "an `end` closes nothing:\n{mermaid}");
    }
    assert_eq!(open, 0, "a subgraph without its `end`:\n{mermaid}");
}

/// Byte offsets where an editor's cursor may stand (character boundaries, as the language
/// server converts positions): all of them in a short text, else 24 spread over it plus one
/// that depends on the text.
fn cursors(text: &str) -> Vec<usize> {
    let floor = |mut at: usize| {
        at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    if text.len() <= 160 {
        return (0..=text.len())
            .filter(|&at| text.is_char_boundary(at))
            .collect();
    }
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let spread = (0..=24).map(|k| k * text.len() / 24);
    let mut out: Vec<usize> = spread
        .chain([usize::try_from(hash % (text.len() as u64 + 1)).unwrap_or(0)])
        .map(floor)
        .collect();
    out.dedup();
    out
}

/// The language server's analysis (`pipec lsp`): diagnostics, outline and quick fixes, and at
/// each cursor hover, definition, references, completion and rename, as an editor asks them.
/// Every span handed back lies in its file on character boundaries; a quick fix names one of
/// the diagnostics; a rename's edits do not overlap.
pub fn lsp(data: &[u8]) {
    let text = text_of(data);
    let a = Analysis::new("/fuzz/f.pipe", &text, &mut Echo { text: &text });
    let map = a.source_map();
    assert_diagnostic_spans(map, a.diagnostics());
    for (span, _, _) in a.import_problems() {
        assert_span(map, span, "import problem");
    }
    let mut outline = a.outline();
    while let Some(o) = outline.pop() {
        assert_span(map, o.span, "outline");
        assert_span(map, o.name_span, "outline name");
        outline.extend(o.children);
    }
    for fix in a.fixes() {
        assert!(
            fix.diagnostic < a.diagnostics().len(),
            "a fix for no diagnostic"
        );
        assert_span(map, fix.edit.span, "quick fix");
    }
    for at in cursors(&text) {
        let _ = a.completions(at);
        if let Some(h) = a.hover(at) {
            assert_span(map, h.span, "hover");
        }
        if let Some(span) = a.definition(at) {
            assert_span(map, span, "definition");
        }
        for with_declaration in [true, false] {
            for span in a.references(at, with_declaration) {
                assert_span(map, span, "reference");
            }
        }
        if let Some(symbol) = a.symbol_at(at)
            && let Some((module, imported)) = a.imported_from(symbol)
        {
            for span in a.uses_of_imported(&module, &imported) {
                assert_span(map, span, "use of an import");
            }
        }
        if let Some((span, _)) = a.prepare_rename(at) {
            assert_span(map, span, "rename target");
            let _ = a.rename(at, "not a name");
            if let Ok(mut edits) = a.rename(at, "renamed_1") {
                edits.sort_by_key(|e| (e.span.file, e.span.start, e.span.end));
                for pair in edits.windows(2) {
                    assert!(
                        pair[0].span.file != pair[1].span.file
                            || pair[0].span.end <= pair[1].span.start,
                        "rename edits overlap: {:?} and {:?}",
                        pair[0].span,
                        pair[1].span
                    );
                }
                for e in &edits {
                    assert_span(map, e.span, "rename edit");
                }
            }
        }
    }
}

/// `pipec import codepipeline`: any input, read as each format the importer tells apart,
/// is imported or refused with an error that is not an internal one; what it imports is in
/// `pipec fmt`'s layout already.
pub fn import(data: &[u8]) {
    let text = text_of(data);
    for name in ["fuzz.yaml", "fuzz.json", "fuzz.tf", "fuzz.sh"] {
        match pipec::import::Importer::import(name, &text) {
            Ok(pipelines) => {
                for p in pipelines {
                    let again = pipec::format_source(&p.text);
                    assert_eq!(
                        again.as_deref().ok(),
                        Some(p.text.as_str()),
                        "not in fmt layout"
                    );
                }
            }
            Err(e) => assert!(!e.message.starts_with("internal error"), "{e:?}"),
        }
    }
}
