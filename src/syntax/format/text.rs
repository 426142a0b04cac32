//! The formatter's text helpers: comments and punctuation in the gaps between tokens, blank
//! lines, block-string shifting, and the alignment of end-of-line comments.

/// A comment's byte range in the source.
#[derive(Clone, Copy, Debug)]
pub(super) struct Comment {
    pub(super) start: usize,
    pub(super) end: usize,
    /// `// …` (ends its line) rather than `/* … */`.
    pub(super) line: bool,
}

/// The comments in `src[from..to]`, a gap between tokens.
pub(super) fn gap_comments(src: &str, from: usize, to: usize, out: &mut Vec<Comment>) {
    let bytes = src.as_bytes();
    let mut i = from;
    while i < to {
        if bytes[i..to].starts_with(b"//") {
            let end = src[i..to].find('\n').map_or(to, |n| i + n);
            out.push(Comment {
                start: i,
                end,
                line: true,
            });
            i = end;
        } else if bytes[i..to].starts_with(b"/*") {
            let end = src[i + 2..to].find("*/").map_or(to, |n| i + n + 4);
            out.push(Comment {
                start: i,
                end,
                line: false,
            });
            i = end;
        } else {
            i += 1;
        }
    }
}

/// The first punctuation character in a gap, comments skipped.
pub(super) fn first_punct(src: &str, from: usize, to: usize) -> Option<(usize, u8)> {
    let bytes = src.as_bytes();
    let mut i = from;
    while i < to {
        if bytes[i..to].starts_with(b"//") {
            i += src[i..to].find('\n').unwrap_or(to - i);
        } else if bytes[i..to].starts_with(b"/*") {
            i += src[i + 2..to].find("*/").map_or(to - i, |n| n + 4);
        } else if bytes[i].is_ascii_whitespace() || !bytes[i].is_ascii() {
            i += 1;
        } else {
            return Some((i, bytes[i]));
        }
    }
    None
}

/// Whether a gap holds an empty line (a line with only whitespace between two line breaks).
pub(super) fn has_blank_line(gap: &str) -> bool {
    let mut lines = gap.split('\n');
    lines.next();
    let mut middle: Vec<&str> = lines.collect();
    middle.pop();
    middle
        .iter()
        .any(|l| l.trim_matches([' ', '\t', '\r', '\u{FEFF}']).is_empty())
}

/// Aligns the comments that end lines of code (at `trailing`, offsets in `out`) on
/// consecutive lines of the same indentation, one space after the longest code, and the
/// comments that continue them on lines of their own.
pub(super) fn align_comments(out: &str, trailing: &[(usize, bool)]) -> String {
    let mut lines: Vec<(&str, Option<(usize, bool)>)> = Vec::new();
    let mut marks = trailing.iter().peekable();
    let mut start = 0;
    for line in out.split_inclusive('\n') {
        let end = start + line.len();
        let mark = marks
            .next_if(|(at, _)| *at < end)
            .map(|&(at, cont)| (at - start, cont));
        lines.push((line, mark));
        start = end;
    }
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let mut result = String::with_capacity(out.len() + 64);
    let mut i = 0;
    while i < lines.len() {
        let Some(_) = lines[i].1 else {
            result.push_str(lines[i].0);
            i += 1;
            continue;
        };
        // A run: the next lines of the same indentation that end in a comment, and the
        // comments that continue one (those stay with it whatever their indentation).
        let mut j = i + 1;
        while j < lines.len()
            && lines[j]
                .1
                .is_some_and(|(_, cont)| cont || indent(lines[j].0) == indent(lines[i].0))
        {
            j += 1;
        }
        let width = |l: &str, at: usize| l[..at].trim_end().chars().count();
        let column = lines[i..j]
            .iter()
            .filter_map(|(l, m)| m.filter(|(_, cont)| !cont).map(|(at, _)| width(l, at) + 1))
            .max()
            .unwrap_or(0);
        for (l, m) in &lines[i..j] {
            let (at, _) = m.expect("a line of the run");
            let code = l[..at].trim_end();
            let pad = column
                .saturating_sub(code.chars().count())
                .max(usize::from(!code.is_empty()));
            result.push_str(code);
            result.extend(std::iter::repeat_n(' ', pad));
            result.push_str(&l[at..]);
        }
        i = j;
    }
    result
}

/// The number of leading spaces of a line, `None` when its indentation holds a tab.
pub(super) fn leading_spaces(line: &str) -> Option<usize> {
    let n = line.len() - line.trim_start_matches(' ').len();
    (!line[n..].starts_with('\t')).then_some(n)
}

/// A block string (`"""…"""` as written) with every line after the opening one moved by
/// `delta` columns, when that keeps its value (LANGUAGE.md §2: the common indentation of the
/// non-blank lines is removed, whitespace-only lines keep what exceeds it).
pub(super) fn shift_block(raw: &str, delta: isize) -> Option<String> {
    let body = raw.strip_prefix("\"\"\"")?.strip_suffix("\"\"\"")?;
    let first_break = if body.starts_with("\r\n") { 2 } else { 1 };
    if !body.starts_with('\n') && first_break == 1 {
        return None;
    }
    let lines: Vec<&str> = body[first_break..].split('\n').collect();
    let (closing, content) = lines.split_last()?;
    // Blank as block-string layout counts it; whitespace-only as it drops it whole.
    let blank = |l: &str| l.trim().is_empty();
    let ws_only = |l: &str| l.trim_matches([' ', '\t', '\r']).is_empty();
    let closing_blank = closing.chars().all(|c| c == ' ' || c == '\t');
    let mut counted: Vec<&str> = content.to_vec();
    if !closing_blank {
        counted.push(closing);
    }
    let mut common = usize::MAX;
    for l in &counted {
        let n = leading_spaces(l)?;
        if !blank(l) {
            common = common.min(n);
        }
    }
    if common == usize::MAX || (delta < 0 && common < delta.unsigned_abs()) {
        return None;
    }
    let shift = |l: &str| -> String {
        let n = l.len() - l.trim_start_matches(' ').len();
        if ws_only(l) && n <= common {
            // Layout removes the leading spaces of a whitespace-only line (up to the common
            // indentation) and keeps the rest, such as a carriage return and what follows.
            return l[n..].to_string();
        }
        if delta >= 0 {
            format!("{}{l}", " ".repeat(delta.unsigned_abs()))
        } else {
            l[n.min(delta.unsigned_abs())..].to_string()
        }
    };
    let mut out = String::with_capacity(raw.len() + lines.len() * 4);
    out.push_str("\"\"\"");
    out.push_str(&body[..first_break]);
    for l in content {
        out.push_str(&shift(l));
        out.push('\n');
    }
    if closing_blank {
        let n = leading_spaces(closing)?;
        out.push_str(&" ".repeat(n.saturating_add_signed(delta)));
    } else {
        out.push_str(&shift(closing));
    }
    out.push_str("\"\"\"");
    Some(out)
}
