//! Spans of pairs: pest's positions in the parsed text as byte ranges of the source.

use pest::iterators::Pair;

use super::Lowerer;
use crate::source::Span;
use crate::syntax::Rule;

impl Lowerer<'_> {
    /// The pair's span without the whitespace and comments pest may leave at its end (a rule
    /// whose last part is optional ends after the skip that preceded the attempt).
    pub(super) fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        // Bytes: every byte trimmed or looked for is ASCII or a whole U+FEFF, and this runs
        // for every node of the tree.
        let input = p.get_input().as_bytes();
        let text = &input[s.start()..s.end()];
        let mut len = trim_blank(text);
        // Skipped text ends in whitespace or `*/`, or at the end of the input (a line comment).
        let skipped = len < text.len() || text.last() == Some(&b'/') || s.end() == input.len();
        if skipped && may_end_in_comment(&text[..len]) {
            len = token_end(p) - s.start();
        }
        let start = self.to_src(s.start(), true);
        let end = self.to_src(s.start() + len, false);
        Span::new(self.file, start, end.max(start))
    }

    /// An offset of the parsed text as an offset of `src`. At a cut, a start lies after the
    /// text that was cut out and an end before it.
    fn to_src(&self, at: usize, start: bool) -> usize {
        if self.cuts.is_empty() {
            return self.base + at;
        }
        let i = self
            .cuts
            .partition_point(|&(cut, _)| cut < at || (start && cut == at));
        let removed = i.checked_sub(1).map_or(0, |i| self.cuts[i].1);
        self.base + at + removed
    }
}

/// The length of `text` without its trailing spaces, tabs, line breaks and byte-order marks.
fn trim_blank(text: &[u8]) -> usize {
    let mut len = text.len();
    loop {
        match &text[..len] {
            [.., b' ' | b'\t' | b'\r' | b'\n'] => len -= 1,
            // U+FEFF in UTF-8 (never the tail of another character: 0xEF leads a sequence).
            [.., 0xEF, 0xBB, 0xBF] => len -= 3,
            _ => return len,
        }
    }
}

/// Whether a pair's text (trailing whitespace removed) may end in a comment: a cheap test
/// (a `/` on its last line) that is true for every text that does.
fn may_end_in_comment(text: &[u8]) -> bool {
    text.iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .any(|&b| b == b'/')
}

/// Where the pair's last token ends: its last inner pair's last token, or the punctuation
/// the rule matched after it, but not the whitespace and comments skipped after those.
fn token_end(p: &Pair<'_, Rule>) -> usize {
    let s = p.as_span();
    // Strings are tokens whose text may look like a comment.
    if matches!(
        p.as_rule(),
        Rule::string
            | Rule::block_string
            | Rule::str_text
            | Rule::bstr_text
            | Rule::escape
            | Rule::bescape
    ) {
        return s.end();
    }
    let mut end = p
        .clone()
        .into_inner()
        .next_back()
        .map_or(s.start(), |q| token_end(&q));
    let gap = &s.as_str()[end - s.start()..];
    let mut rest = gap;
    while let Some(c) = rest.chars().next() {
        let skipped = if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            rest.find("*/").map_or(rest.len(), |i| i + 2)
        } else if matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{FEFF}') {
            c.len_utf8()
        } else {
            // Punctuation of the rule itself (`}`, `)`, `]`, `>` …): a token.
            end = s.end() - rest.len() + c.len_utf8();
            c.len_utf8()
        };
        rest = &rest[skipped..];
    }
    end
}
