//! Byte-level helpers of lowering: where a pair's last token ends (its span without the
//! whitespace and comments pest may leave at its end), and which bytes of a block string
//! its layout rules drop.

use pest::iterators::Pair;

use crate::source::Span;
use crate::syntax::Rule;

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

/// The length of `bytes` without the whitespace (of the grammar's `WHITESPACE`, a
/// byte-order mark included) at its end.
fn without_whitespace(bytes: &[u8]) -> usize {
    let mut n = bytes.len();
    loop {
        if n > 0 && matches!(bytes[n - 1], b' ' | b'\t' | b'\r' | b'\n') {
            n -= 1;
        } else if bytes[..n].ends_with("\u{feff}".as_bytes()) {
            n -= 3;
        } else {
            return n;
        }
    }
}

/// The end of `q` without the whitespace its span may run on over.
fn trimmed_end(q: &Pair<'_, Rule>) -> usize {
    let span = q.as_span();
    let bytes = &span.get_input().as_bytes()[span.start()..span.end()];
    span.start() + without_whitespace(bytes)
}

/// From the end of a pair's last leaf (`from`) to the end of its span (`to`): after any
/// punctuation the grammar matched without a pair (`}`, `)`, `]`), skipping whitespace and
/// comments.
fn after_punctuation(input: &str, from: usize, to: usize) -> usize {
    // Bytes, not `str` slices: a non-ASCII whitespace (a byte-order mark) is skipped a byte
    // at a time.
    let bytes = &input.as_bytes()[from..to];
    if !bytes.contains(&b'/') {
        // No comment: up to the last character that is not whitespace.
        return from + without_whitespace(bytes);
    }
    let (mut i, mut end) = (0, 0);
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            i += rest[2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |n| n + 4);
        } else if bytes[i].is_ascii_whitespace() || !bytes[i].is_ascii() {
            i += 1;
        } else {
            i += 1;
            end = i;
        }
    }
    from + end
}

/// Where the last token of `p` ends: the end of its last leaf, then any punctuation the
/// grammar matched without a pair. Walks down the last children (see [`TokenEnds`] for
/// many pairs of one parse).
pub(super) fn token_end(p: &Pair<'_, Rule>) -> usize {
    let mut last = p.clone();
    while let Some(child) = last.clone().into_inner().next_back() {
        last = child;
    }
    if last.as_span() == p.as_span() {
        return trimmed_end(p);
    }
    after_punctuation(
        p.as_span().get_input(),
        trimmed_end(&last),
        p.as_span().end(),
    )
}

/// The ends of the leaves (pairs without inner pairs) of one parse, in order: the last
/// token of any pair of it in O(log n), where walking down its last children would cost
/// a count of the children at every level (pest's `into_inner`).
#[derive(Default)]
pub(super) struct TokenEnds(Vec<u32>);

impl TokenEnds {
    pub(super) fn of(root: &Pair<'_, Rule>) -> TokenEnds {
        let mut ends = Vec::new();
        let mut pairs = root.clone().into_inner().flatten().peekable();
        while let Some(p) = pairs.next() {
            // A pair with inner pairs is followed (in this order) by its first one, which
            // starts inside it.
            let span = p.as_span();
            let leaf = pairs
                .peek()
                .is_none_or(|next| next.as_span().start() >= span.end());
            // A leaf without text (the end of input) ends no token.
            let end = trimmed_end(&p);
            if leaf && end > span.start() {
                ends.push(end as u32);
            }
        }
        TokenEnds(ends)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// [`token_end`] of a pair of the parse this was built from.
    pub(super) fn end(&self, p: &Pair<'_, Rule>) -> usize {
        let span = p.as_span();
        let i = self.0.partition_point(|&e| e as usize <= span.end());
        match i.checked_sub(1).map(|i| self.0[i] as usize) {
            Some(last) if last > span.start() => {
                after_punctuation(span.get_input(), last, span.end())
            }
            _ => token_end(p),
        }
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

#[cfg(test)]
mod tests {
    use pest::Parser as _;

    use super::{TokenEnds, token_end};
    use crate::syntax::{PipeGrammar, Rule};

    /// The index gives every pair of a parse the end that walking its last children gives.
    #[test]
    fn the_index_agrees_with_the_walk() {
        let texts = [
            include_str!("../../../examples/webapp.pipe"),
            include_str!("../../../examples/monorepo.pipe"),
            "pipeline p {\n  param a: string \u{feff} /* x */ /// y\n  param b: int = 1 // z\n  stage s { action x: sh { run = \"x\" when = (true) } }\n}\n",
        ];
        for text in texts {
            let root = PipeGrammar::parse(Rule::file, text)
                .expect("parses")
                .next()
                .expect("a file");
            let index = TokenEnds::of(&root);
            for p in root.clone().into_inner().flatten() {
                assert_eq!(
                    index.end(&p),
                    token_end(&p),
                    "{:?}: {:?}",
                    p.as_rule(),
                    p.as_str()
                );
            }
        }
    }
}
