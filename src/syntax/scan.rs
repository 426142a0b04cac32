//! A lexical pre-pass over the raw text, before the grammar runs.
//!
//! It finds unterminated strings and block comments (E0102, reported at the opening
//! delimiter, which pest cannot do: it only knows where it gave up), patches them so the
//! grammar can still parse the rest of the file, and records the positions of block braces
//! outside strings and comments, which `recover` uses to find the item around a syntax error.

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

pub(crate) struct Scan {
    /// The text with unterminated constructs blanked (same length, same line breaks).
    pub(crate) text: String,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Byte ranges whose syntax errors follow from an E0102 and are not reported again.
    pub(crate) shadowed: Vec<std::ops::Range<usize>>,
    /// `(offset, is_open)` of every `{` / `}` outside strings and comments.
    pub(crate) braces: Vec<(usize, bool)>,
    /// Brackets, braces, parentheses and interpolations nest deeper than [`MAX_NESTING`]:
    /// the file is not parsed (reported as E0101), so nothing recurses that deep.
    pub(crate) too_deep: bool,
}

/// The deepest nesting of `(`, `[`, `{`, strings and `${…}` the parser accepts.
pub(crate) const MAX_NESTING: usize = 128;

/// The bytes that code acts on: comments, brackets, strings and braces.
const CODE_STOPS: [bool; 256] = stops(b"/([)]\"{}");
/// The bytes that a string acts on: escapes, interpolations, its end, a line break.
const STRING_STOPS: [bool; 256] = stops(b"\\$\"\n");

const fn stops(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// The length of the run of bytes at the start of `rest` that `stops` does not name (a table
/// lookup per byte is about half the instructions of a `matches!` of eight bytes).
fn plain_run(rest: &[u8], stops: &[bool; 256]) -> usize {
    rest.iter()
        .position(|&b| stops[usize::from(b)])
        .unwrap_or(rest.len())
}

enum Ctx {
    /// Code; the brace depth inside an interpolation `${…}` (None at top level).
    Code(Option<u32>),
    Str {
        start: usize,
        block: bool,
    },
}

#[allow(clippy::too_many_lines)] // Reason: one state machine; its arms share the cursor and stack.
pub(crate) fn scan(file: FileId, src: &str) -> Scan {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut diagnostics = Vec::new();
    let mut shadowed = Vec::new();
    let mut braces = Vec::new();
    let mut stack = vec![Ctx::Code(None)];
    let mut nesting = 0usize;
    let mut too_deep = false;
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, range: std::ops::Range<usize>| {
        for b in &mut out[range] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        // `stack` always holds the top-level context, which is no nesting.
        if nesting + stack.len() - 1 > MAX_NESTING && !too_deep {
            too_deep = true;
            diagnostics.push(
                Diagnostic::new(
                    Code::E0101,
                    format!("nesting is deeper than {MAX_NESTING} levels"),
                    Span::new(file, i, i + 1),
                    "too deep",
                )
                .help("flatten the expression, e.g. with intermediate params or fewer parentheses"),
            );
            break;
        }
        match stack.last_mut() {
            Some(Ctx::Code(depth)) => {
                // Bytes that change nothing, in one step.
                let plain = plain_run(rest, &CODE_STOPS);
                if plain > 0 {
                    i += plain;
                    continue;
                }
                if rest.starts_with(b"//") {
                    i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                    continue;
                }
                if rest.starts_with(b"/*") {
                    if let Some(end) = find(rest, b"*/") {
                        i += end + 2;
                    } else {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::E0102,
                                "unterminated block comment",
                                Span::new(file, i, i + 2),
                                "this comment is never closed",
                            )
                            .help("close it with `*/`"),
                        );
                        blank(&mut out, i..bytes.len());
                        shadowed.push(i..usize::MAX);
                        i = bytes.len();
                    }
                    continue;
                }
                match rest[0] {
                    b'(' | b'[' => nesting += 1,
                    b')' | b']' => nesting = nesting.saturating_sub(1),
                    b'"' => {
                        let block = rest.starts_with(b"\"\"\"");
                        stack.push(Ctx::Str { start: i, block });
                        i += if block { 3 } else { 1 };
                        continue;
                    }
                    b'{' => {
                        nesting += 1;
                        if let Some(d) = depth {
                            *d += 1;
                        } else {
                            braces.push((i, true));
                        }
                    }
                    b'}' => match depth {
                        Some(0) => {
                            stack.pop();
                        }
                        Some(d) => {
                            nesting = nesting.saturating_sub(1);
                            *d -= 1;
                        }
                        None => {
                            nesting = nesting.saturating_sub(1);
                            braces.push((i, false));
                        }
                    },
                    _ => {}
                }
                i += 1;
            }
            Some(&mut Ctx::Str { start, block }) => {
                let plain = plain_run(rest, &STRING_STOPS);
                if plain > 0 {
                    i += plain;
                    continue;
                }
                if rest.starts_with(b"\\") {
                    // An escape; a backslash before a newline in a one-line string is still
                    // a raw newline, handled below.
                    i += if rest.get(1) == Some(&b'\n') { 1 } else { 2 };
                    continue;
                }
                if rest.starts_with(b"${") {
                    stack.push(Ctx::Code(Some(0)));
                    i += 2;
                    continue;
                }
                if block && rest.starts_with(b"\"\"\"") {
                    stack.pop();
                    i += 3;
                    continue;
                }
                if !block && rest[0] == b'"' {
                    stack.pop();
                    i += 1;
                    continue;
                }
                if !block && rest[0] == b'\n' {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0102,
                            "unterminated string",
                            Span::new(file, start, start + 1),
                            "this string is not closed on its line",
                        )
                        .help("close the string with `\"` on the same line, or use a block string `\"\"\"…\"\"\"` for several lines"),
                    );
                    // The next line closes it (an odd number of quotes there): the author
                    // wrote a multi-line string. Keep it as one string so the rest parses.
                    let next =
                        &src[i + 1..src[i + 1..].find('\n').map_or(src.len(), |n| i + 1 + n)];
                    if unescaped_quotes(next) % 2 == 1 {
                        out[i] = b' ';
                        shadowed.push(line_range(src, start).start..i + 1 + next.len());
                        i += 1;
                        continue;
                    }
                    // Close the string at the end of its line so the rest still parses.
                    blank(&mut out, start..i);
                    out[start] = b'"';
                    if i - start >= 2 {
                        out[i - 1] = b'"';
                    }
                    shadowed.push(line_range(src, start));
                    // Drop every context opened since the string started.
                    while let Some(ctx) = stack.pop() {
                        if matches!(ctx, Ctx::Str { start: s, .. } if s == start) {
                            break;
                        }
                    }
                    if stack.is_empty() {
                        stack.push(Ctx::Code(None));
                    }
                    i += 1;
                    continue;
                }
                i += 1;
            }
            None => break,
        }
    }
    // Anything still open at the end of the file: an unterminated block string (or a
    // string/interpolation that ran into the end). Not when the scan stopped early.
    if let Some(start) = stack.iter().filter(|_| !too_deep).find_map(|c| match c {
        Ctx::Str { start, .. } => Some(*start),
        Ctx::Code(_) => None,
    }) {
        let block = src[start..].starts_with("\"\"\"");
        let len = if block { 3 } else { 1 };
        diagnostics.push(
            Diagnostic::new(
                Code::E0102,
                if block {
                    "unterminated block string"
                } else {
                    "unterminated string"
                },
                Span::new(file, start, start + len),
                "this string is never closed",
            )
            .help(if block {
                "close it with `\"\"\"`"
            } else {
                "close it with `\"`"
            }),
        );
        blank(&mut out, start..bytes.len());
        shadowed.push(start..usize::MAX);
        braces.retain(|&(p, _)| p < start);
    }
    // Blanking only replaced whole UTF-8 sequences' bytes with ASCII or kept them; but a
    // multi-byte character may have been cut by a range boundary at a quote, which is ASCII,
    // so the text stays valid UTF-8. Fall back to a lossy conversion rather than panic.
    let text = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Scan {
        text,
        diagnostics,
        shadowed,
        braces,
        too_deep,
    }
}

fn unescaped_quotes(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => n += 1,
            _ => {}
        }
    }
    n
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn line_range(src: &str, at: usize) -> std::ops::Range<usize> {
    let start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = src[at..].find('\n').map_or(src.len(), |i| at + i);
    start..end
}
