//! The architecture's rules as tests (STYLE.md §1, ARCHITECTURE.md "Layers"): each reads
//! every file under `src/` and fails naming `file:line` for each use that breaks a rule.
//!
//! - **Layers:** a module may name (`crate::X`, `super::X` from a file directly under
//!   `src/`) only the modules [`ALLOWED`] lists for it, so dependencies point one way.
//! - **pest** stays inside `syntax/`.
//! - **No I/O, processes, environment or clock** outside `cli/` and `runtime/`.
//! - **Only `cli/` prints.**
//! - **Phases return typed errors:** no public function of `syntax/`, `check/` or `ir/`
//!   returns `Result<_, String>`.
//!
//! Test code (`tests.rs` files, folders named `tests`, `#[cfg(test)]` items) is exempt: a
//! unit test of the runtime may compile a pipeline. Comments and literals are blanked
//! before scanning, so a doc link is not a dependency. Inline modules are read as their
//! file's module (none of ours reaches across layers through one).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// For each top-level module of the crate, the modules it may name. Read it as the layer
/// diagram: leaves first, phases in pipeline order, the binary's shell last.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves.
    ("source", &[]),
    ("duration", &[]),
    ("habits", &[]),
    ("paths", &[]),
    ("stdlib", &[]),
    ("shell", &[]),
    ("patterns", &[]),
    ("diagnostics", &["source"]),
    // The IR: serialisable data the compiler writes and the runtime reads; no phase.
    ("ir", &["duration"]),
    // The AST: spanned data (it shares the IR's operator, mode and `else` enums).
    ("ast", &["source", "ir"]),
    ("params", &["source", "diagnostics", "duration", "ir"]),
    // The compiler's phases, in order.
    (
        "syntax",
        &["source", "diagnostics", "duration", "habits", "ast"],
    ),
    (
        "check",
        &[
            "source",
            "diagnostics",
            "duration",
            "habits",
            "paths",
            "stdlib",
            "shell",
            "patterns",
            "params",
            "ast",
            "syntax",
            "ir",
        ],
    ),
    // Editor services: over the checker, never the CLI (the IR for the AWS provider catalog).
    (
        "ide",
        &[
            "source",
            "diagnostics",
            "paths",
            "stdlib",
            "ast",
            "syntax",
            "check",
            "ir",
        ],
    ),
    // The runtime reads the IR; it never parses or checks source.
    (
        "runtime",
        &[
            "source",
            "diagnostics",
            "duration",
            "paths",
            "shell",
            "patterns",
            "params",
            "ir",
        ],
    ),
    // The server: over the runtime (its runs are `pipec` processes); pipelines come checked
    // from the CLI through a trait, so it never parses or checks source itself.
    (
        "serve",
        &[
            "source",
            "diagnostics",
            "duration",
            "paths",
            "patterns",
            "params",
            "ir",
            "runtime",
        ],
    ),
    // Exporters: the IR to another engine's declaration (text or diagnostics), pure.
    (
        "export",
        &["source", "diagnostics", "duration", "shell", "ir"],
    ),
    // Importers: another engine's declaration to `.pipe` text, pure; the formatter lays it out.
    ("import", &["source", "diagnostics", "syntax"]),
    // The binary's shell and the library's root may use everything.
    ("cli", &["*"]),
    ("lib", &["*"]),
    ("main", &["*"]),
    ("allocator", &[]),
];

/// Pairs that must never be connected, directly or through other modules: the table above
/// is checked against them, so a new allowed arrow cannot open a path around a rule.
const FORBIDDEN: &[(&str, &str)] = &[
    ("runtime", "syntax"),
    ("runtime", "check"),
    ("runtime", "ast"),
    ("runtime", "ide"),
    ("runtime", "cli"),
    ("ir", "check"),
    ("ir", "syntax"),
    ("ir", "ast"),
    ("ir", "runtime"),
    ("check", "runtime"),
    ("check", "ide"),
    ("check", "cli"),
    ("syntax", "check"),
    ("syntax", "runtime"),
    ("ide", "cli"),
    ("ide", "runtime"),
    ("source", "diagnostics"),
    ("diagnostics", "syntax"),
    ("export", "check"),
    ("export", "syntax"),
    ("export", "runtime"),
    ("export", "cli"),
    ("import", "check"),
    ("import", "runtime"),
    ("import", "cli"),
    ("serve", "cli"),
    ("serve", "check"),
    ("serve", "syntax"),
    ("runtime", "serve"),
];

/// Modules that may touch files, processes, the environment and the clock.
const EFFECTFUL: &[&str] = &["cli", "runtime", "serve", "main"];

/// Paths (or prefixes) that mean I/O, processes, the environment, threads of a runtime, or
/// the clock.
const EFFECTS: &[&str] = &[
    "std::fs",
    "std::process",
    "std::env",
    "std::net",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "tokio",
    "rusqlite",
    "nix",
    "process_wrap",
];

/// Types whose `now` reads the clock.
const CLOCKS: &[&str] = &[
    "Instant",
    "SystemTime",
    "Timestamp",
    "Zoned",
    "Utc",
    "Local",
];

fn crate_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// One source file: its path relative to the crate, its module path, and its code with
/// comments, literals and test items blanked (lines kept).
struct Source {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn sources() -> Vec<Source> {
    let root = crate_root();
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel_src = path.strip_prefix(&root).ok()?.to_path_buf();
            let parts: Vec<String> = rel_src
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.iter().any(|p| p == "tests") {
                return None;
            }
            let mut module = parts;
            if module.last().is_some_and(|l| l == "mod") {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).ok()?;
            Some(Source {
                rel: format!("src/{}", rel_src.display()),
                module,
                code: without_tests(&blank(&text)),
            })
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code with comments and string and character literals replaced by spaces (newlines
/// kept, so line numbers hold).
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                wipe(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut j = i;
                while j < b.len() {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                wipe(&mut out, i, j);
                i = j;
            }
            b'r' if raw_string_start(b, i).is_some() => {
                let (hashes, body) = raw_string_start(b, i).unwrap_or((0, i));
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let end = text[body..]
                    .find(&close)
                    .map_or(b.len(), |n| body + n + close.len());
                wipe(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                wipe(&mut out, i, j + 1);
                i = j + 1;
            }
            b'\'' => {
                // A character literal, or a lifetime (left alone).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    text[i + 2..].find('\'').map(|n| i + 2 + n + 1)
                } else {
                    let c = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + c) == Some(&b'\'')).then_some(i + 2 + c)
                };
                match end {
                    Some(end) => {
                        wipe(&mut out, i, end);
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `r"`, `r#"`, `br"`…: the number of `#` and where the body starts.
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') && b[i - 1] != b'b' {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&b'#') {
        j += 1;
    }
    (b.get(j) == Some(&b'"')).then_some((j - i - 1, j + 1))
}

/// The code with every `#[cfg(test)]` item blanked (an attribute, then one item: up to its
/// `;` or its matching `}`).
fn without_tests(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    let mut from = 0;
    while let Some(n) = code[from..].find("#[cfg(test)]") {
        let start = from + n;
        let b = code.as_bytes();
        let mut j = start + "#[cfg(test)]".len();
        let mut depth = 0usize;
        while j < b.len() {
            match b[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    j += 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        for c in &mut out[start..j.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = j.min(b.len());
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A path as written, expanded over `{…}` groups: its segments and its line.
struct UsePath {
    segments: Vec<String>,
    line: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i + 1;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        end = j + 1;
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push((Tok::Ident(code[i..end].to_string()), line));
            }
            ':' if chars.peek().is_some_and(|&(_, d)| d == ':') => {
                chars.next();
                out.push((Tok::Colons, line));
            }
            '{' => out.push((Tok::Open, line)),
            '}' => out.push((Tok::Close, line)),
            ',' => out.push((Tok::Comma, line)),
            _ => out.push((Tok::Other, line)),
        }
    }
    out
}

/// Every path in the code, `use` groups expanded.
fn paths(code: &str) -> Vec<UsePath> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts = matches!(toks[i].0, Tok::Ident(_)) && (i == 0 || toks[i - 1].0 != Tok::Colons);
        if starts {
            let (found, next) = path_at(&toks, i, &[]);
            out.extend(found);
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The paths starting at token `i` (an identifier) under `prefix`, and the token after them.
fn path_at(toks: &[(Tok, usize)], mut i: usize, prefix: &[String]) -> (Vec<UsePath>, usize) {
    let mut segments = prefix.to_vec();
    let line = toks[i].1;
    while let Some((Tok::Ident(name), _)) = toks.get(i) {
        segments.push(name.clone());
        i += 1;
        if toks.get(i).map(|t| &t.0) != Some(&Tok::Colons) {
            break;
        }
        i += 1;
        if toks.get(i).map(|t| &t.0) == Some(&Tok::Open) {
            // A group: each item is a path under `segments`.
            i += 1;
            let mut out = Vec::new();
            while let Some((t, _)) = toks.get(i) {
                match t {
                    Tok::Close => {
                        i += 1;
                        break;
                    }
                    Tok::Comma | Tok::Other | Tok::Colons => i += 1,
                    Tok::Ident(_) => {
                        let (found, next) = path_at(toks, i, &segments);
                        out.extend(found);
                        i = next;
                    }
                    Tok::Open => {
                        // A nested brace that is not a path group: leave the group.
                        break;
                    }
                }
            }
            return (out, i);
        }
    }
    (vec![UsePath { segments, line }], i)
}

fn top(module: &[String]) -> &str {
    module.first().map_or("lib", String::as_str)
}

/// The top-level crate module a path names, when it names one other than its own.
fn target(src: &Source, segments: &[String]) -> Option<String> {
    let first = segments.first()?;
    let named = match first.as_str() {
        "crate" => segments.get(1)?.clone(),
        // `super` from a file directly under `src/` is the crate root.
        "super" if src.module.len() == 1 => segments.get(1)?.clone(),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            if ups < src.module.len() {
                return None;
            }
            segments.get(ups)?.clone()
        }
        _ => return None,
    };
    let modules: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    (modules.contains(named.as_str()) && named != top(&src.module)).then_some(named)
}

fn allowed(module: &str) -> &'static [&'static str] {
    ALLOWED
        .iter()
        .find(|(m, _)| *m == module)
        .map_or(&[], |(_, a)| *a)
}

fn report(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}:\n{}",
        problems.iter().fold(String::new(), |mut s, p| {
            let _ = writeln!(s, "  {p}");
            s
        })
    );
}

#[test]
fn every_module_is_in_the_layer_table() {
    let known: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    let mut problems = Vec::new();
    for src in sources() {
        let module = top(&src.module);
        if !known.contains(module) {
            problems.push(format!(
                "{}: module `{module}` is not in tests/tidy.rs's ALLOWED table: give it a layer",
                src.rel
            ));
        }
    }
    report("modules without a layer", &problems);
}

#[test]
fn the_layer_table_never_connects_a_forbidden_pair() {
    // The modules each one reaches through allowed arrows.
    let mut reach: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (m, _) in ALLOWED {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = allowed(m).to_vec();
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(allowed(n));
            }
        }
        reach.insert(m, seen);
    }
    let mut problems = Vec::new();
    for (from, to) in FORBIDDEN {
        if reach[from].contains(to) || reach[from].contains("*") {
            problems.push(format!("`{from}` reaches `{to}` through the ALLOWED table"));
        }
    }
    report("forbidden arrows the table allows", &problems);
}

#[test]
fn dependencies_point_one_way() {
    let mut problems = Vec::new();
    for src in sources() {
        let module = top(&src.module);
        let ok = allowed(module);
        if ok.contains(&"*") {
            continue;
        }
        for p in paths(&src.code) {
            if let Some(named) = target(&src, &p.segments)
                && !ok.contains(&named.as_str())
            {
                problems.push(format!(
                    "{}:{}: `{module}` must not depend on `{named}` (`{}`)",
                    src.rel,
                    p.line,
                    p.segments.join("::")
                ));
            }
        }
    }
    report(
        "forbidden arrows (the layers are in tests/tidy.rs and ARCHITECTURE.md)",
        &problems,
    );
}

#[test]
fn pest_stays_in_syntax() {
    let mut problems = Vec::new();
    for src in sources().iter().filter(|s| top(&s.module) != "syntax") {
        for p in paths(&src.code) {
            let s = &p.segments;
            let pest = matches!(s[0].as_str(), "pest" | "pest_derive")
                || (s.len() > 2 && s[0] == "crate" && s[1] == "syntax" && s[2] == "Rule");
            if pest {
                problems.push(format!("{}:{}: `{}`", src.rel, p.line, s.join("::")));
            }
        }
    }
    report("pest outside src/syntax/", &problems);
}

#[test]
fn only_the_cli_and_the_runtime_touch_the_world() {
    let mut problems = Vec::new();
    for src in sources()
        .iter()
        .filter(|s| !EFFECTFUL.contains(&top(&s.module)))
    {
        for p in paths(&src.code) {
            let joined = p.segments.join("::");
            let effect = EFFECTS
                .iter()
                .any(|e| joined == *e || joined.starts_with(&format!("{e}::")));
            let clock = p
                .segments
                .windows(2)
                .any(|w| w[1] == "now" && CLOCKS.contains(&w[0].as_str()));
            if effect || clock {
                problems.push(format!("{}:{}: `{joined}`", src.rel, p.line));
            }
        }
    }
    report(
        "I/O, processes, environment or clock outside cli/ and runtime/",
        &problems,
    );
}

#[test]
fn only_the_cli_prints() {
    let mut problems = Vec::new();
    for src in sources().iter().filter(|s| top(&s.module) != "cli") {
        let toks = tokens(&src.code);
        for w in toks.windows(2) {
            if let (Tok::Ident(name), Tok::Other) = (&w[0].0, &w[1].0)
                && matches!(
                    name.as_str(),
                    "print" | "println" | "eprint" | "eprintln" | "dbg"
                )
            {
                let bang = src
                    .code
                    .lines()
                    .nth(w[0].1 - 1)
                    .is_some_and(|l| l.contains(&format!("{name}!")));
                if bang {
                    problems.push(format!("{}:{}: `{name}!`", src.rel, w[0].1));
                }
            }
        }
    }
    report("printing outside src/cli/", &problems);
}

/// The return types of the `pub` functions in `code` (`pub(crate)` too), with their lines.
fn public_returns(code: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(n) = code[from..].find("pub") {
        let start = from + n;
        from = start + 3;
        let rest = &code[start..];
        let Some(fn_at) = rest.find("fn ") else { break };
        // `pub fn`, `pub(crate) fn`, `pub const fn`… : only words and a visibility between.
        let between = &rest[3..fn_at];
        if !between
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ()_\n".contains(c))
            || between.len() > 24
        {
            continue;
        }
        let Some(open) = rest[fn_at..].find('(').map(|o| start + fn_at + o) else {
            break;
        };
        let mut depth = 0usize;
        let mut j = open;
        while j < b.len() {
            match b[j] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let tail = &code[(j + 1).min(code.len())..];
        let end = tail.find(['{', ';']).unwrap_or(tail.len());
        let words: Vec<&str> = tail[..end]
            .split_whitespace()
            .take_while(|w| *w != "where")
            .collect();
        if words.first() == Some(&"->") {
            let line = code[..start].matches('\n').count() + 1;
            out.push((line, words[1..].join(" ")));
        }
    }
    out
}

#[test]
fn phases_return_typed_errors() {
    let mut problems = Vec::new();
    for src in sources()
        .iter()
        .filter(|s| ["syntax", "check", "ir"].contains(&top(&s.module)))
    {
        for (line, ret) in public_returns(&src.code) {
            let compact = ret.replace(' ', "");
            if compact.starts_with("Result<") && compact.ends_with(",String>") {
                problems.push(format!("{}:{line}: returns `{ret}`", src.rel));
            }
        }
    }
    report(
        "phase functions returning `Result<_, String>` (return a typed error)",
        &problems,
    );
}

#[test]
fn the_scanner_sees_through_groups_and_literals() {
    let code = blank(
        "use crate::{ast, check::{A, B}};\n// crate::runtime in a comment\nlet s = \"crate::cli\";\nlet c = '{';\nfn f<'a>() { crate::ir::X }\n",
    );
    let found: Vec<String> = paths(&code)
        .iter()
        .filter(|p| p.segments[0] == "crate")
        .map(|p| format!("{}@{}", p.segments.join("::"), p.line))
        .collect();
    assert_eq!(
        found,
        [
            "crate::ast@1",
            "crate::check::A@1",
            "crate::check::B@1",
            "crate::ir::X@5"
        ]
    );
    let tested = without_tests("fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::cli;\n}\n");
    assert!(!tested.contains("cli"), "{tested}");
    let returns = public_returns(
        "pub fn a(f: impl Fn() -> Result<u8, String>) -> Option<u8> {}\npub(crate) fn b<T>(\n    x: T,\n) -> Result<T, String>\nwhere T: Copy {}\nfn c() -> Result<(), String> {}\n",
    );
    assert_eq!(
        returns,
        [
            (1, "Option<u8>".to_string()),
            (2, "Result<T, String>".to_string())
        ]
    );
}
