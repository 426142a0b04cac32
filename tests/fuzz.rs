//! Property tests: arbitrary bytes and mutated valid programs never panic and never hang;
//! they yield diagnostics. The formatter likewise, on token soup, mutated programs and
//! programs with comments and line breaks sprinkled in, and what it formats formats to
//! itself. Case counts: `PROPTEST_CASES` (default below).

use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

/// Checks `text` on a worker thread; a panic or a run over the deadline fails the case.
fn check_quickly(text: String) -> Result<usize, TestCaseError> {
    quickly(move || {
        let (_, diags) = pipec::check_source("fuzz.pipe", &text);
        // The streaming path too (every file streams from 0 bytes).
        let mut map = pipec::source::SourceMap::new();
        let id = map.add("fuzz.pipe", text);
        let streamed = pipec::check::Checker::check_streaming_from(
            &mut map,
            id,
            &mut pipec::check::NoLoader,
            false,
            0,
        );
        diags.len() + streamed.diagnostics.len()
    })
}

/// Every editor service at a few offsets of `text` (as the language server would call them).
fn ide_quickly(text: String, cursor: usize) -> Result<usize, TestCaseError> {
    quickly(move || {
        let a = pipec::ide::Analysis::new("/fuzz/f.pipe", &text, &mut pipec::check::NoLoader);
        let mut n = a.outline().len() + a.fixes().len() + a.import_problems().len();
        let len = text.len().max(1);
        let offsets = (0..8).map(|k| k * len / 8).chain([cursor % (len + 1)]);
        for at in offsets {
            n += a.completions(at).len();
            n += usize::from(a.hover(at).is_some()) + usize::from(a.definition(at).is_some());
            n += a.references(at, true).len();
            if a.prepare_rename(at).is_some() {
                n += a.rename(at, "renamed_1").map_or(0, |e| e.len());
            }
        }
        n
    })
}

/// `PROPTEST_CASES` when set (for long runs), else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `work` on a worker thread; a panic or a run over 10 s fails the case.
fn quickly(work: impl FnOnce() -> usize + Send + 'static) -> Result<usize, TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(n) => {
            let _ = worker.join();
            Ok(n)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(TestCaseError::fail("checking took over 10 s (hang)"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(TestCaseError::fail("the checker panicked"))
        }
    }
}

pub(crate) fn seeds() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["examples", "tests/fixtures/check", "tests/fixtures/syntax"] {
        for e in std::fs::read_dir(dir).expect("folder") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "pipe") {
                out.push(std::fs::read_to_string(p).expect("readable"));
            }
        }
    }
    out
}

/// Source-like fragments that mutations splice in.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "\"",
    "\"\"\"",
    "${",
    "/*",
    "*/",
    "//",
    "\n",
    "=",
    ":",
    ",",
    ";",
    "[",
    "]",
    "(",
    ")",
    "->",
    "stage x { }",
    "action a: sh { run = \"x\" }",
    "after = [a]",
    "when",
    "else skip",
    "rollback",
    "params.",
    "secrets.",
    "run.",
    "5m",
    "-1",
    "99999999999999999999",
    "\\u{",
    "é",
    "\t",
    "template",
];

#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Insert(usize, usize),
    Delete(usize, usize),
    Replace(usize, usize),
}

pub(crate) fn apply(text: &str, edits: &[Edit]) -> String {
    let mut t: Vec<char> = text.chars().collect();
    for e in edits {
        let len = t.len().max(1);
        match *e {
            Edit::Insert(at, f) => {
                let at = at % (len + 1);
                let frag: Vec<char> = FRAGMENTS[f % FRAGMENTS.len()].chars().collect();
                t.splice(at.min(t.len())..at.min(t.len()), frag);
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n % 20).min(t.len());
                if at < end {
                    t.drain(at..end);
                }
            }
            Edit::Replace(at, f) => {
                let at = at % len;
                if at < t.len() {
                    let frag: Vec<char> = FRAGMENTS[f % FRAGMENTS.len()].chars().collect();
                    t.splice(at..=at, frag);
                }
            }
        }
    }
    t.into_iter().collect()
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Insert(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Replace(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check_quickly(text)?;
    }

    #[test]
    fn mutated_programs_never_panic(seed in any::<usize>(), edits in proptest::collection::vec(edit(), 1..6)) {
        let seeds = seeds();
        let text = apply(&seeds[seed % seeds.len()], &edits);
        check_quickly(text)?;
    }

    #[test]
    fn editor_services_never_panic(seed in any::<usize>(), edits in proptest::collection::vec(edit(), 0..6), cursor in any::<usize>()) {
        let seeds = seeds();
        let text = apply(&seeds[seed % seeds.len()], &edits);
        ide_quickly(text, cursor)?;
    }
}

/// The deepest nesting the parser accepts must not overflow a test thread's 2 MiB stack,
/// even in a debug build (pest's own stack guard is off: the scanner bounds nesting).
#[test]
fn deepest_accepted_nesting_fits_a_small_stack() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{ A = ", " }")] {
        let depth = 120;
        let src = format!(
            "pipeline p {{\n  param v: string = \"x\"\n  stage a {{ action x: sh {{ run = \"x\" when = {}true{} }} }}\n}}\n",
            open.repeat(depth),
            close.repeat(depth)
        );
        let worker = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || pipec::check_source("deep.pipe", &src).1.len())
            .expect("thread");
        assert!(
            worker.join().is_ok(),
            "overflow at depth {depth} with {open}"
        );
    }
}

/// The formatter recurses with the nesting too: the deepest accepted file formats on a test
/// thread's 2 MiB stack in a debug build, on one line and broken over many.
#[test]
fn deepest_accepted_nesting_formats_on_a_small_stack() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{ A = ", " }"), ("(x || ", ")")] {
        for pad in ["", "// c\n"] {
            let depth = 120;
            let src = format!(
                "pipeline p {{\n  stage a {{ action x: sh {{ run = \"x\" when = {}{pad}true{} }} }}\n}}\n",
                open.repeat(depth),
                close.repeat(depth)
            );
            let worker = std::thread::Builder::new()
                .stack_size(2 * 1024 * 1024)
                .spawn(move || pipec::format_source(&src).is_ok())
                .expect("thread");
            assert!(
                worker.join().is_ok_and(|ok| ok),
                "overflow or refusal at depth {depth} with {open}"
            );
        }
    }
}

/// Formats `text` on a worker thread: a panic or a hang fails the case, and so does a
/// formatted text that formats to something else.
fn format_quickly(text: String) -> Result<(), TestCaseError> {
    use pipec::syntax::Formatter;
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let id = pipec::source::FileId(0);
        let stable = match Formatter::format(id, &text) {
            Ok(out) => Formatter::format(id, &out).ok().as_ref() == Some(&out),
            Err(_) => true,
        };
        let _ = tx.send(stable);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(stable) => {
            let _ = worker.join();
            prop_assert!(stable, "formatting the formatted text changed it");
            Ok(())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(TestCaseError::fail("formatting took over 10 s (hang)"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(TestCaseError::fail("the formatter panicked"))
        }
    }
}

/// What token soup is made of: words, keywords, literals, punctuation, comments, layout.
const TOKENS: &[&str] = &[
    "pipeline",
    "stage",
    "action",
    "template",
    "param",
    "secret",
    "trigger",
    "transition",
    "import",
    "as",
    "mode",
    "queued",
    "timeout",
    "entry",
    "on",
    "success",
    "failure",
    "retry",
    "rollback",
    "require",
    "window",
    "check",
    "else",
    "skip",
    "when",
    "disabled",
    "after",
    "from",
    "in",
    "matches",
    "true",
    "p",
    "x",
    "sh",
    "run",
    "env",
    "1",
    "-2",
    "5m",
    "\"s\"",
    "\"${x}\"",
    "\"\"\"\n  a\n  \"\"\"",
    ":",
    "=",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    ",",
    ";",
    ".",
    "->",
    "&&",
    "||",
    "==",
    "!",
    "// c\n",
    "/* c */",
    "\n",
    "\n\n",
    " ",
    "\t",
];

/// Layout that changes no meaning where it lands between tokens.
const LAYOUT: &[&str] = &[
    "\n",
    "\n\n",
    " ",
    "\t",
    "// c\n",
    "/* c */",
    "/* a\n b */",
    ",",
    ";",
    "\n// d\n\n",
    "// e\n  // f\n",
    " // g\n      // h\n",
    "    ",
    "/// i\n",
];

/// Seeds for layout mutations: every parseable kind of file, odd layouts included.
fn layout_seeds() -> Vec<String> {
    let mut out = seeds();
    for e in std::fs::read_dir("tests/fixtures/fmt").expect("folder") {
        out.push(std::fs::read_to_string(e.expect("entry").path()).expect("readable"));
    }
    out
}

proptest! {
    // 256 cases by default (`PROPTEST_CASES` overrides it).
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn formatting_token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..120)) {
        let text = tokens.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        format_quickly(text)?;
    }

    #[test]
    fn formatting_mutated_programs_never_panics(seed in any::<usize>(), edits in proptest::collection::vec(edit(), 1..6)) {
        let seeds = layout_seeds();
        format_quickly(apply(&seeds[seed % seeds.len()], &edits))?;
    }

    #[test]
    fn formatting_programs_with_odd_layout_is_stable(
        seed in any::<usize>(),
        inserts in proptest::collection::vec((any::<usize>(), 0..LAYOUT.len()), 1..12),
    ) {
        let seeds = layout_seeds();
        let mut text: Vec<char> = seeds[seed % seeds.len()].chars().collect();
        for (at, frag) in inserts {
            let at = at % (text.len() + 1);
            text.splice(at..at, LAYOUT[frag].chars());
        }
        format_quickly(text.into_iter().collect())?;
    }
}
