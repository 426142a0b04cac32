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
        let text = s.as_str();
        let mut len = trim_blank(text).len();
        // Skipped text ends in whitespace or `*/`, or at the end of the input (a line comment).
        let skipped = len < text.len() || text.ends_with('/') || s.end() == p.get_input().len();
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
        let i = self
            .cuts
            .partition_point(|&(cut, _)| cut < at || (start && cut == at));
        let removed = i.checked_sub(1).map_or(0, |i| self.cuts[i].1);
        self.base + at + removed
    }
}

fn trim_blank(text: &str) -> &str {
    text.trim_end_matches([' ', '\t', '\r', '\n', '\u{FEFF}'])
}

/// Whether a pair's text (trailing whitespace removed) may end in a comment: a cheap test
/// (a `/` on its last line) that is true for every text that does.
fn may_end_in_comment(text: &str) -> bool {
    text.bytes()
        .rev()
        .take_while(|&b| b != b'\n')
        .any(|b| b == b'/')
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
