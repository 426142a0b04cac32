//! Byte-level helpers of lowering: which bytes of a block string its layout rules drop.

use crate::source::Span;

/// Which bytes of a block string's raw content are dropped by its layout rules
/// (LANGUAGE.md §2): the first newline, a whitespace-only last line, and the common
/// indentation of the non-blank lines, computed on the raw source lines.
pub(super) struct Drops {
    pub(super) keep: std::ops::Range<usize>,
    /// Sorted, disjoint byte ranges to drop (indentation).
    pub(super) indents: Vec<std::ops::Range<usize>>,
}

impl Drops {
    pub(super) fn none() -> Drops {
        Drops {
            keep: 0..usize::MAX,
            indents: Vec::new(),
        }
    }

    pub(super) fn keeps(&self, at: usize) -> bool {
        if !self.keep.contains(&at) {
            return false;
        }
        let i = self.indents.partition_point(|r| r.end <= at);
        !self.indents.get(i).is_some_and(|r| r.contains(&at))
    }
}

pub(super) fn block_drops(src: &str, span: Span) -> Drops {
    let (open, close) = (
        span.start as usize + 3,
        (span.end as usize).saturating_sub(3),
    );
    if close < open {
        return Drops::none();
    }
    let content = &src[open..close];
    let mut start = open;
    if content.starts_with("\r\n") {
        start += 2;
    } else if content.starts_with('\n') {
        start += 1;
    }
    let mut end = close;
    if let Some(nl) = src[start.min(close)..close].rfind('\n') {
        let last = &src[start + nl + 1..close];
        if last.chars().all(|c| c == ' ' || c == '\t') {
            end = start + nl;
            if src[..end].ends_with('\r') {
                end -= 1;
            }
        }
    }
    if end < start {
        return Drops {
            keep: start..start,
            indents: Vec::new(),
        };
    }
    let body = &src[start..end];
    let mut line_starts = vec![start];
    line_starts.extend(body.match_indices('\n').map(|(i, _)| start + i + 1));
    let indent_of = |ls: usize| -> (usize, bool) {
        let line = &src[ls..end];
        let line = line.split('\n').next().unwrap_or("");
        let n = line.len() - line.trim_start_matches([' ', '\t']).len();
        (n, line.trim().is_empty())
    };
    let common = line_starts
        .iter()
        .filter_map(|&ls| {
            let (n, blank) = indent_of(ls);
            (!blank).then_some(n)
        })
        .min()
        .unwrap_or(0);
    let indents = line_starts
        .iter()
        .map(|&ls| ls..ls + indent_of(ls).0.min(common))
        .filter(|r| !r.is_empty())
        .collect();
    Drops {
        keep: start..end,
        indents,
    }
}
