//! Syntax: source text → [`ast::File`](crate::ast::File), with E01xx diagnostics.
//!
//! Input: one file's text. Output: the spanned AST and its syntax diagnostics.
//!
//! Method: `scan` first finds unterminated strings and comments (E0102) and patches them.
//! Then the pest grammar (`grammar/pipe.pest`) parses the whole file. pest stops at the first
//! error, so on failure we report it (E0101, with the expected tokens by their human names),
//! blank out the smallest enclosing item that we can delimit — the action, trigger, condition
//! block or template around the error, else the stage, else the line(s) of a pipeline item —
//! and parse again, up to [`MAX_RECOVERIES`] times. Names declared in blanked regions are
//! recorded in `File::broken_names` so the checker does not report them as unknown.
//! Finally `lower` turns pairs into AST nodes and validates literals (E0103).
//!
//! Limits: recovery is lexical; an error that unbalances braces ends recovery at that point.
//! pest types never leave this module.

mod format;
mod lower;
mod names;
mod scan;
mod stream;

pub use stream::{Parsed, Restart, STREAMED_FROM, StageStream};

use pest::Parser as _;

use crate::ast::File;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

pub use format::{FormatResult, Formatter, MAX_WIDTH};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/pipe.pest"]
struct PipeGrammar;

/// At most this many syntax errors are reported (and recovered from) per file.
const MAX_RECOVERIES: usize = 25;

/// The result of parsing one file.
pub type ParseResult = (File, Vec<Diagnostic>);

/// Parses `.pipe` source.
pub struct Parser;

impl Parser {
    /// Parses one file. Never fails: problems are diagnostics.
    pub fn parse(file: FileId, src: &str) -> ParseResult {
        let scanned = scan::scan(file, src);
        if scanned.too_deep {
            let whole = vec![Span::new(file, 0, src.len())];
            let ast = File {
                items: Vec::new(),
                broken_names: Vec::new(),
                broken_spans: whole,
            };
            return (ast, scanned.diagnostics);
        }
        let shadowed = cascade_regions(&scanned, src.len());
        let mut diagnostics = scanned.diagnostics;
        let mut text = scanned.text;
        let mut broken_names = Vec::new();
        let mut broken_spans: Vec<Span> = scanned
            .shadowed
            .iter()
            .map(|r| Span::new(file, r.start, r.end.min(src.len())))
            .collect();
        let mut last_blank: Option<std::ops::Range<usize>> = None;
        let mut last_pos: Option<usize> = None;
        for _ in 0..=MAX_RECOVERIES {
            match PipeGrammar::parse(Rule::file, &text) {
                Ok(mut pairs) => {
                    let mut lowerer = lower::Lowerer::new(file, src);
                    let root = pairs
                        .next()
                        .expect("grammar: file rule always yields one pair");
                    let mut ast = lowerer.lower_file(root);
                    ast.broken_names = broken_names;
                    ast.broken_spans = broken_spans;
                    diagnostics.extend(lowerer.diagnostics);
                    return (ast, diagnostics);
                }
                Err(err) => {
                    let (diag, pos) = syntax_error(file, &text, &err);
                    if last_pos == Some(pos) {
                        break;
                    }
                    last_pos = Some(pos);
                    if !shadowed.iter().any(|r| r.contains(&pos)) {
                        diagnostics.push(diag);
                    }
                    let Some(range) = recovery_range(&text, &scanned.braces, pos) else {
                        break;
                    };
                    if last_blank.as_ref().is_some_and(|r| *r == range) || range.is_empty() {
                        break;
                    }
                    broken_names.extend(idents_in(&text[range.clone()]));
                    broken_spans.push(Span::new(file, range.start, range.end));
                    blank(&mut text, range.clone());
                    last_blank = Some(range);
                }
            }
        }
        (
            File {
                items: Vec::new(),
                broken_names,
                broken_spans,
            },
            diagnostics,
        )
    }
}

/// Where syntax errors are consequences of an unterminated string or comment and are not
/// reported: the construct's own region, the rest of the stage around it (its closing
/// braces may have been swallowed), and the end of the file.
fn cascade_regions(scanned: &scan::Scan, len: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = scanned.shadowed.clone();
    for d in &scanned.diagnostics {
        let r = d.primary.span.range();
        let mut depth = 0usize;
        let mut stage_open = None;
        for &(at, open) in scanned.braces.iter().filter(|(at, _)| *at < r.start) {
            if open {
                depth += 1;
                if depth == 2 {
                    stage_open = Some(at);
                }
            } else {
                depth = depth.saturating_sub(1);
                if depth < 2 {
                    stage_open = None;
                }
            }
        }
        if stage_open.is_some() {
            let mut d = depth;
            let close = scanned
                .braces
                .iter()
                .filter(|(at, _)| *at >= r.end)
                .find_map(|&(at, open)| {
                    if open {
                        d += 1;
                    } else {
                        d = d.saturating_sub(1);
                    }
                    (d < 2).then_some(at)
                });
            out.push(r.start..close.map_or(len, |c| c + 1));
        }
    }
    if !scanned.shadowed.is_empty() {
        out.push(len..len + 1);
    }
    out
}

/// Byte ranges of the `stage NAME { … }` items directly inside a top-level `pipeline`.
pub(crate) fn stage_ranges(text: &str, braces: &[(usize, bool)]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_pipeline = false;
    let mut open_stage: Option<usize> = None;
    for &(at, open) in braces {
        if open {
            if depth == 0 {
                in_pipeline = head_of(text, at).1 == "pipeline";
            } else if depth == 1 && in_pipeline {
                let (start, word) = head_of(text, at);
                open_stage = (word == "stage").then_some(start);
            }
            depth += 1;
        } else {
            let Some(d) = depth.checked_sub(1) else {
                return Vec::new();
            };
            depth = d;
            if depth == 1 {
                if let Some(start) = open_stage.take() {
                    out.push(start..at + 1);
                }
            }
        }
    }
    out
}

fn error_pos(err: &pest::error::Error<Rule>) -> usize {
    match err.location {
        pest::error::InputLocation::Pos(p) | pest::error::InputLocation::Span((p, _)) => p,
    }
}

/// The E0101 for a pest error: where, what was found, what was expected, and a hint for
/// likely slips.
fn syntax_error(file: FileId, text: &str, err: &pest::error::Error<Rule>) -> (Diagnostic, usize) {
    let (pos, expected) = expected_at(text, err);
    let mut pos = pos.min(text.len());
    // pest may give up inside a word after trying a keyword that begins it (`on` of
    // `onFailure`): with nothing to expect there, the unexpected token is the whole word.
    if expected.is_empty() {
        pos = word_start(text, pos);
    }
    let found_len = token_len(&text[pos..]);
    let found = match &text[pos.min(text.len())..pos + found_len] {
        _ if pos >= text.len() => "end of file".to_string(),
        "\n" | "\r" => "end of line".to_string(),
        t => {
            let shown: String = t
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            format!("`{shown}`")
        }
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let span = Span::new(file, pos, pos + found_len);
    let d = Diagnostic::new(Code::E0101, message, span, "unexpected here");
    if let Some(help) = shell_expansion(text, pos)
        .or_else(|| hyphenated_name(text, pos))
        .or_else(|| crate::habits::item(word_at(text, pos)).map(str::to_string))
    {
        return (d.help(help), pos);
    }
    let d = match &text[pos..pos + found_len] {
        ":" => d.help(
            "`.pipe` is not YAML: attributes are written `NAME = value` and blocks `NAME { … }`",
        ),
        "}" => d.help("an item is incomplete before this `}`"),
        _ if pos >= text.len() => d.help("a block is not closed: add the missing `}`"),
        _ => d,
    };
    (d, pos)
}

/// For an error inside `${NAME` that the shell would read as its own parameter expansion
/// (`${AWS_REGION:-x}`, `${#list[@]}`, `${name/a/b}`): how to write it for the shell.
fn shell_expansion(text: &str, pos: usize) -> Option<String> {
    let before = text.get(..pos)?;
    let open = before.rfind("${")?;
    let name = &before[open + 2..];
    let at = text[pos..].chars().next()?;
    let shell_like = name.chars().all(is_word)
        && matches!(
            at,
            ':' | '#' | '%' | '/' | '^' | ',' | '@' | '[' | '-' | '=' | '?' | '+'
        );
    if !shell_like {
        return None;
    }
    let line_end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
    let end = text[pos..line_end]
        .find('}')
        .map_or(pos + at.len_utf8(), |n| pos + n + 1);
    let written = &text[open..end];
    let plain = if name.is_empty() {
        String::new()
    } else {
        format!(" (a plain `${name}` also reaches the shell)")
    };
    Some(format!(
        "for the shell's own expansion, escape the dollar: `\\{written}`{plain}; `${{…}}` inserts a pipec value such as `params.NAME`"
    ))
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Where the run of identifier characters that ends at `pos` starts.
fn word_before(text: &str, pos: usize) -> usize {
    text[..pos]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(pos, |(i, _)| i)
}

/// The start of the identifier that `pos` is inside of (else `pos`).
fn word_start(text: &str, pos: usize) -> usize {
    if text[pos..].starts_with(is_word) {
        word_before(text, pos)
    } else {
        pos
    }
}

/// The identifier that `pos` is in or at the start of (pest may have matched a keyword
/// that begins it, as `on` in `onFailure`).
fn word_at(text: &str, pos: usize) -> &str {
    let start = word_start(text, pos);
    let end = text[pos..]
        .find(|c| !is_word(c))
        .map_or(text.len(), |i| pos + i);
    &text[start..end]
}

/// For a `-` inside a name after its keyword (`stage Deploy-To-Test`): what names may
/// contain, and the name with `_`.
fn hyphenated_name(text: &str, pos: usize) -> Option<String> {
    if !text[pos..].starts_with('-') || !text[pos + 1..].starts_with(is_word) {
        return None;
    }
    let start = word_before(text, pos);
    let keyword = text[..start].trim_end();
    let declares = ["stage", "action", "param", "secret", "template", "pipeline"]
        .iter()
        .any(|k| keyword.ends_with(k) && word_at(keyword, keyword.len() - 1) == *k);
    if start == pos || !declares {
        return None;
    }
    let end = text[pos..]
        .find(|c: char| !(is_word(c) || c == '-'))
        .map_or(text.len(), |i| pos + i);
    let name = &text[start..end];
    Some(format!(
        "names contain letters, digits and `_` (and start with a letter or `_`): write `{}`",
        name.replace('-', "_")
    ))
}

/// Token-like names pest reports that users never type on purpose.
fn is_noise(token: &str) -> bool {
    matches!(token, "/*" | "//" | "," | ";")
        || token.starts_with('\u{feff}')
        || token.trim().is_empty()
}

/// Length of the token at the start of `rest`: an identifier/number run, or one character.
fn token_len(rest: &str) -> usize {
    let word = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if word > 0 {
        return word;
    }
    rest.chars().next().map_or(0, char::len_utf8)
}

/// The error position and the human names of what could stand there. pest only records
/// named rules in its error; literal tokens (`{`, `=`) need its detailed mode, which slows
/// parsing, so it is switched on just to re-parse a file that already failed.
fn expected_at(text: &str, err: &pest::error::Error<Rule>) -> (usize, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    let mut pos = error_pos(err);
    let detailed = {
        // pest's switch is process-wide: one detailed parse at a time, so that no other
        // thread turns it off in the middle of this one (parses running meanwhile only
        // track a little more, with the same result).
        static DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = DETAIL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pest::set_error_detail(true);
        let detailed = PipeGrammar::parse(Rule::file, text).err();
        pest::set_error_detail(false);
        detailed
    };
    let attempts = detailed.and_then(|e| e.parse_attempts());
    let use_attempts = attempts.as_ref().is_some_and(|a| a.max_position >= pos);
    if let (Some(a), true) = (&attempts, use_attempts) {
        pos = a.max_position;
        for t in a.expected_tokens() {
            // `ParsingToken` is not exported by pest; its Display is the literal token.
            let token = t.to_string();
            match token.as_str() {
                // The first character of an identifier.
                "_" => add("a name".into()),
                "\"" => add("a string".into()),
                "-" => add("a number".into()),
                t if t.contains("..") || t == "BUILTIN_RULE" || is_noise(t) => {}
                t => add(format!("`{t}`")),
            }
        }
    } else if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            if let Some(n) = names::rule_name(*r) {
                add(n.to_string());
            }
        }
    }
    // Right after an identifier pest also tries to extend it; that is never the fix.
    let after_ident = text[..pos.min(text.len())]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    let at_ident = text[pos.min(text.len())..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if after_ident && !at_ident && names.len() > 1 {
        names.retain(|n| n != "a name");
    }
    // Everything that can start an expression: say so once.
    if names.iter().any(|n| n == "`(`") && names.iter().any(|n| n == "`[`") {
        const STARTS: &[&str] = &[
            "`!`", "`\"\"\"`", "`(`", "`[`", "`false`", "`true`", "`{`", "a name", "a number",
            "a string",
        ];
        names.retain(|n| !STARTS.contains(&n.as_str()));
        names.push("a value".into());
    }
    names.sort_by_key(|n| (!n.starts_with('`'), n.clone()));
    (pos, names)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Replaces a byte range with spaces, keeping line breaks (so offsets stay valid).
pub(crate) fn blank(text: &mut String, range: std::ops::Range<usize>) {
    // Every byte of a character becomes a space: same length, still valid UTF-8.
    let replaced: String = text[range.clone()]
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    text.replace_range(range, &replaced);
}

fn idents_in(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// The region to blank out after a syntax error at `pos`.
fn recovery_range(
    text: &str,
    braces: &[(usize, bool)],
    pos: usize,
) -> Option<std::ops::Range<usize>> {
    // The braces enclosing `pos`, outermost first, each with its match (if any).
    let mut stack: Vec<usize> = Vec::new();
    for &(at, open) in braces {
        if at >= pos {
            break;
        }
        if open {
            stack.push(at);
        } else {
            stack.pop();
        }
    }
    // Skip braces already blanked.
    stack.retain(|&b| text.as_bytes().get(b) == Some(&b'{'));
    let close_of = |open: usize| -> Option<usize> {
        if text.as_bytes().get(open) != Some(&b'{') {
            return None;
        }
        let mut depth = 0usize;
        for &(at, is_open) in braces.iter().filter(|(at, _)| *at >= open) {
            if text
                .as_bytes()
                .get(at)
                .is_none_or(|b| *b != b'{' && *b != b'}')
            {
                continue;
            }
            if is_open {
                depth += 1;
            } else {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at);
                }
            }
        }
        None
    };
    // Innermost block with a recognisable head.
    for &open in stack.iter().rev() {
        let (head_start, word) = head_of(text, open);
        let Some(close) = close_of(open) else {
            continue;
        };
        match word {
            "action" | "trigger" | "notify" | "template" | "entry" | "on" | "check" | "stage" => {
                return Some(head_start..close + 1);
            }
            _ => {}
        }
    }
    // At the level of pipeline items (or top level): the lines from the last token before
    // the error to the error, extended over any block they open.
    let before = text[..pos].trim_end();
    let inner_open = stack.last().map_or(0, |&b| b + 1);
    let pos_line = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    // The error starts its line (a stray item): blank from there, not the line before,
    // which may hold the closing brace of something valid.
    // (At the end of the file or of a line, or at a `}`, there is nothing to blank there: the
    // broken item is the one before.)
    let at_end = text[pos..].trim_start_matches([' ', '\t', '\r']).is_empty()
        || text[pos..].starts_with('\n');
    // A closing brace at the error ends the block: the broken item is the one before it.
    let closes = text[pos..].starts_with('}');
    let starts_line = text[pos_line..pos].trim().is_empty() && !at_end && !closes;
    let start = if starts_line {
        pos_line
    } else {
        before.rfind('\n').map_or(0, |i| i + 1)
    }
    .max(inner_open);
    let mut end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    if let Some(&(open, _)) = braces
        .iter()
        .find(|&&(at, open)| open && at >= start && at < end)
    {
        if let Some(close) = close_of(open) {
            end = end.max(close + 1);
        }
    }
    // Never blank a closing brace of an enclosing block.
    if let Some(&inner) = stack.last() {
        if let Some(close) = close_of(inner) {
            end = end.min(close);
        }
    }
    (start < end).then_some(start..end)
}

/// The start offset and first word of the item whose block opens at `open`.
fn head_of(text: &str, open: usize) -> (usize, &str) {
    let before = &text[..open];
    // The item starts after the previous brace, `;`, `,` or the start of its line.
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let boundary = before
        .rfind(['{', '}', ';', ','])
        .map_or(0, |i| i + 1)
        .max(line_start);
    let head = &text[boundary..open];
    let trimmed = head.trim_start();
    let start = boundary + (head.len() - trimmed.len());
    let word_len = trimmed
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(trimmed.len());
    (start, &trimmed[..word_len])
}

#[cfg(test)]
mod tests;
