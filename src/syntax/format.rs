//! The formatter: `.pipe` text → the same file in its canonical layout (`pipec fmt`).
//!
//! Input: one file's text. Output: the formatted text, or the file's syntax diagnostics (a
//! file with a syntax error is never formatted: its structure is unknown past the error).
//!
//! Method: the grammar parses the file and the pairs are printed again, in one layout
//! (docs/formatting.md). Comments are silent in the grammar, so they are recovered from the
//! gaps between tokens (the leaf pairs; a string is one token): a gap holds only whitespace,
//! the punctuation the grammar matches without a pair (`{`, `=`, `,` …) and comments. Each
//! comment is printed before the token that follows it. Between the items of a block (file,
//! pipeline, stage, attributes, conditions, broken lists and maps) a comment stays at the end
//! of its line when code came before it on that line, else it gets a line of its own; blank
//! lines between items become one. Inside an item a `/* */` comment stays inline and a `//`
//! comment ends the line. A list, map, argument list, small block or condition goes on one
//! line when it holds no comment or blank line and fits in [`MAX_WIDTH`] columns, else one
//! element per line (a condition: one operand per line). Every decision depends only on the tokens, the comments and the blank lines, never
//! on other whitespace: that is what makes formatting idempotent.
//!
//! Strings are printed as written. A block string is shifted sideways with the line it
//! starts on, which keeps its value: its common indentation is removed anyway (LANGUAGE.md
//! §2); when the shift could change the value (tabs, a line less indented than the shift,
//! an interpolation over several lines) it is printed as written.
//!
//! Meaning: before returning, the output is parsed again and its parse tree compared with the
//! input's, positions aside (block strings by their decoded text, templates and params with
//! their `///` docs). A difference is a bug in the formatter and panics, so a caller never
//! writes a file whose meaning changed.
//!
//! Limits: an expression is only broken before its `&&` and `||` (and inside its lists, maps
//! and calls), so a long comparison or string overflows [`MAX_WIDTH`]; the width of what
//! follows a group on its line is not counted when deciding whether the group fits; line
//! endings become `\n` and a byte-order mark is dropped.

mod text;
mod verify;

use pest::Parser as _;
use pest::iterators::Pair;

use super::{PipeGrammar, Rule};
use crate::diagnostics::Diagnostic;
use crate::source::FileId;
use text::{
    Comment, align_comments, first_punct, gap_comments, has_blank_line, leading_spaces, shift_block,
};
use verify::{parse_clean, same_tree};

/// Lines are kept within this many columns (Unicode scalar values) where the layout can break
/// them: lists, maps, argument and parameter lists, one-line blocks.
pub const MAX_WIDTH: usize = 100;

/// Spaces per level of indentation.
const INDENT: usize = 2;

/// The formatted text, or the syntax diagnostics of a file that cannot be formatted.
pub type FormatResult = Result<String, Vec<Diagnostic>>;

/// Formats `.pipe` source in the canonical layout.
pub struct Formatter;

impl Formatter {
    /// Formats one file. `file` is the id the diagnostics' spans name when the file has
    /// syntax errors (E01xx, exactly those `pipec check` reports first); then nothing is
    /// formatted. The output parses to the same syntax tree as `text` (positions aside), and
    /// formatting it again changes nothing.
    pub fn format(file: FileId, text: &str) -> FormatResult {
        let root = parse_clean(file, text)?;
        let mut printer = Printer::new(text, comments(text, root.clone()));
        printer.file(root.clone());
        let out = printer.finish();
        let again = match PipeGrammar::parse(Rule::file, &out) {
            Ok(mut pairs) => pairs.next().expect("grammar: file rule yields one pair"),
            Err(e) => panic!("the formatted file does not parse: {e}"),
        };
        assert!(
            same_tree((text, root), (&out, again)),
            "the formatter changed the syntax tree of the file"
        );
        Ok(out)
    }
}

/// Pairs printed as one token: their text is taken as written (comments inside a string's
/// interpolation are part of the string).
fn is_opaque(rule: Rule) -> bool {
    matches!(rule, Rule::string | Rule::block_string | Rule::cmp_op)
}

/// A token: an opaque pair, or a pair without inner pairs that is not an empty bracket.
fn is_token(p: &Pair<'_, Rule>) -> bool {
    is_opaque(p.as_rule())
        || (p.clone().into_inner().next().is_none()
            && !matches!(
                p.as_rule(),
                Rule::list | Rule::map | Rule::attr_block | Rule::call
            ))
}

/// Every comment of the file, in order: those in the gaps between tokens.
fn comments(src: &str, root: Pair<'_, Rule>) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut skip_until = 0;
    for p in root.into_inner().flatten() {
        let span = p.as_span();
        if span.start() < skip_until || !is_token(&p) {
            continue;
        }
        if is_opaque(p.as_rule()) {
            skip_until = span.end();
        }
        gap_comments(src, at, span.start(), &mut out);
        at = span.end();
    }
    gap_comments(src, at, src.len(), &mut out);
    out
}

/// How the elements of a bracketed group are separated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// Block items: two spaces on one line, nothing when broken.
    Block,
    /// List elements: `, ` on one line, a comma after each when broken.
    Comma,
}

/// A printer's position, to undo a layout that did not fit.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    next: usize,
    last: usize,
    open: bool,
}

/// How one node is printed (a method of the printer).
type Each<'s> = fn(&mut Printer<'s>, Pair<'s, Rule>);

struct Printer<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    /// The first comment not printed yet.
    next: usize,
    out: String,
    /// Levels of indentation of the current block.
    indent: usize,
    /// Source offset just past the last token or comment printed.
    last: usize,
    /// A `//` comment ends the current line: text after it needs a line break first.
    open: bool,
    /// Trying a group on one line: a line break, comment or block string fails the trial.
    flat: bool,
    failed: bool,
    /// Where block-level `//` comments at the end of a line start in `out`, and whether each
    /// continues the one above on a line of its own: they are aligned at the end.
    trailing: Vec<(usize, bool)>,
    /// The end and source column of the last `//` comment that ended a line of code (or
    /// continued one), which an own-line comment right below it in that column continues.
    trail: Option<(usize, usize)>,
}

impl<'s> Printer<'s> {
    fn new(src: &'s str, comments: Vec<Comment>) -> Self {
        Printer {
            src,
            comments,
            next: 0,
            out: String::with_capacity(src.len() + src.len() / 8),
            indent: 0,
            last: 0,
            open: false,
            flat: false,
            failed: false,
            trailing: Vec::new(),
            trail: None,
        }
    }

    fn finish(mut self) -> String {
        let len = self.out.trim_end().len();
        self.out.truncate(len);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        align_comments(&self.out, &self.trailing)
    }

    // ------------------------------------------------------------------ output

    fn text(&mut self, s: &str) {
        if self.open {
            self.line_break(self.indent + 1, false);
        }
        self.out.push_str(s);
    }

    /// Ends the line (trailing spaces removed) and indents the next one.
    fn line_break(&mut self, indent: usize, blank: bool) {
        if self.flat {
            self.failed = true;
            return;
        }
        self.open = false;
        let len = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(len);
        if self.out.is_empty() {
            return;
        }
        self.out.push('\n');
        if blank {
            self.out.push('\n');
        }
        self.out.extend(std::iter::repeat_n(' ', indent * INDENT));
    }

    /// The current line's width so far, in columns.
    fn column(&self) -> usize {
        let start = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out[start..].chars().count()
    }

    fn token(&mut self, p: &Pair<'s, Rule>) {
        let span = p.as_span();
        self.inline_comments(span.start());
        if p.as_rule() == Rule::block_string {
            if self.open {
                self.line_break(self.indent + 1, false);
            }
            self.block_string(p);
        } else {
            self.text(p.as_str());
        }
        self.last = span.end();
    }

    // ------------------------------------------------------------------ comments

    fn pending(&self, before: usize) -> bool {
        self.comments
            .get(self.next)
            .is_some_and(|c| c.start < before)
    }

    fn take_comment(&mut self, before: usize) -> Option<Comment> {
        let c = *self.comments.get(self.next).filter(|c| c.start < before)?;
        self.next += 1;
        Some(c)
    }

    fn push_comment(&mut self, c: Comment) {
        let text = &self.src[c.start..c.end];
        if c.line {
            self.out.push_str(text.trim_end());
            self.open = true;
        } else {
            self.out.push_str(text);
        }
        self.last = c.end;
    }

    /// Comments inside an item, before a token at `before`: `/* */` inline, `//` at the end
    /// of the line (the item goes on, one level deeper, on the next line).
    fn inline_comments(&mut self, before: usize) {
        while let Some(c) = self.take_comment(before) {
            if self.flat {
                self.failed = true;
                continue;
            }
            if self.open {
                self.line_break(self.indent + 1, false);
            }
            if !self.out.is_empty() && !self.out.ends_with([' ', '\n', '(', '[']) {
                self.out.push(' ');
            }
            self.push_comment(c);
            if !c.line {
                self.out.push(' ');
            }
        }
    }

    /// Comments between block items, before `before`: at the end of the line when code came
    /// before them on their source line, else each on its own line (after a blank line when
    /// the source had one there and `seen`: something of this block is already on its own
    /// line).
    fn block_comments(&mut self, before: usize, seen: &mut bool) {
        while let Some(c) = self.take_comment(before) {
            let line_start = self.src[..c.start].rfind('\n').map_or(0, |i| i + 1);
            let column = self.src[line_start..c.start].chars().count();
            let after_code = !self.src[line_start..c.start]
                .trim_matches([' ', '\t', '\r', '\u{FEFF}'])
                .is_empty();
            let continues = c.line
                && self.trail.is_some_and(|(end, col)| {
                    end == self.last
                        && col == column
                        && self.src[end..c.start].matches('\n').count() == 1
                });
            // After a `//` comment nothing can follow on its line.
            let at_end = after_code && !self.out.is_empty() && !self.open;
            if at_end {
                let len = self.out.trim_end_matches([' ', '\t']).len();
                self.out.truncate(len);
                self.out.push(' ');
                self.open = false;
                if c.line {
                    self.trailing.push((self.out.len(), false));
                }
            } else {
                let blank = *seen && !continues && self.blank_before(c.start);
                self.line_break(self.indent, blank);
                *seen = true;
                if continues {
                    self.trailing.push((self.out.len(), true));
                }
            }
            self.push_comment(c);
            self.trail = ((at_end || continues) && c.line).then_some((c.end, column));
        }
    }

    /// Whether the source has a blank line between the last token or comment printed and
    /// `at`, after the last bracket or separator there (a blank line before a closing `}` is
    /// dropped, not moved past it).
    fn blank_before(&self, at: usize) -> bool {
        let gap = self.src.get(self.last.min(at)..at).unwrap_or("");
        let tail = gap
            .rfind(|c: char| !c.is_whitespace() && c != '\u{FEFF}')
            .map_or(gap, |i| &gap[i + 1..]);
        has_blank_line(tail)
    }

    // ------------------------------------------------------------------ groups

    fn mark(&self) -> Mark {
        Mark {
            len: self.out.len(),
            next: self.next,
            last: self.last,
            open: self.open,
        }
    }

    fn reset(&mut self, m: Mark) {
        self.out.truncate(m.len);
        self.next = m.next;
        self.last = m.last;
        self.open = m.open;
        self.failed = false;
        self.trailing.retain(|(at, _)| *at < m.len);
    }

    /// Prints a group on one line when it holds no comment before `close` and fits, else
    /// broken.
    fn group(&mut self, close: usize, flat: &dyn Fn(&mut Self), broken: &dyn Fn(&mut Self)) {
        if self.flat {
            flat(self);
            return;
        }
        if !self.pending(close) {
            let mark = self.mark();
            self.flat = true;
            flat(self);
            self.flat = false;
            if !self.failed && self.column() <= MAX_WIDTH {
                return;
            }
            self.reset(mark);
        }
        broken(self);
    }

    /// Items on one line, `sep` between them; a blank line between two fails the trial.
    fn flat_items(&mut self, items: &[Pair<'s, Rule>], sep: &str, each: Each<'s>) {
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                if self.blank_before(it.as_span().start()) {
                    self.failed = true;
                }
                self.text(sep);
            }
            each(self, it.clone());
        }
    }

    /// Items one per line at the current indentation, with the comments before each.
    fn item_lines(&mut self, items: &[Pair<'s, Rule>], sep: Sep, each: Each<'s>) -> bool {
        let mut seen = false;
        for it in items {
            let start = it.as_span().start();
            self.block_comments(start, &mut seen);
            let blank = seen && self.blank_before(start);
            self.line_break(self.indent, blank);
            seen = true;
            each(self, it.clone());
            if sep == Sep::Comma {
                self.text(",");
            }
        }
        seen
    }

    /// The inside of a broken group, one level deeper, and the line of its closing bracket
    /// at `close`.
    fn broken_items(&mut self, items: &[Pair<'s, Rule>], close: usize, sep: Sep, each: Each<'s>) {
        self.indent += 1;
        let mut seen = self.item_lines(items, sep, each);
        self.block_comments(close, &mut seen);
        self.indent -= 1;
        self.line_break(self.indent, false);
    }

    /// A bracketed group: `open`, the items, `close_text` at source offset `close`; on one
    /// line with `pad` inside the brackets when it fits.
    fn bracketed(
        &mut self,
        (open, close_text): (&str, &str),
        pad: &str,
        items: &[Pair<'s, Rule>],
        close: usize,
        sep: Sep,
        each: Each<'s>,
    ) {
        if items.is_empty() && !self.pending(close) {
            self.text(open);
            self.text(close_text);
            return;
        }
        let flat_sep = if sep == Sep::Block { "  " } else { ", " };
        self.group(
            close,
            &|p| {
                p.text(open);
                p.text(pad);
                p.flat_items(items, flat_sep, each);
                p.text(pad);
                p.text(close_text);
            },
            &|p| {
                p.text(open);
                p.broken_items(items, close, sep, each);
                p.text(close_text);
            },
        );
    }

    /// `{ … }` that is always broken (pipeline, stage, template body), `{}` when empty.
    fn block(&mut self, items: &[Pair<'s, Rule>], close: usize) {
        self.text("{");
        if !items.is_empty() || self.pending(close) {
            self.broken_items(items, close, Sep::Block, Self::node);
        }
        self.text("}");
    }

    // ------------------------------------------------------------------ nodes

    fn file(&mut self, root: Pair<'s, Rule>) {
        let items: Vec<_> = root
            .into_inner()
            .filter(|p| p.as_rule() != Rule::EOI)
            .collect();
        let mut seen = self.item_lines(&items, Sep::Block, Self::node);
        self.block_comments(self.src.len(), &mut seen);
    }

    fn node(&mut self, p: Pair<'s, Rule>) {
        match p.as_rule() {
            _ if is_token(&p) => self.token(&p),
            Rule::expr => self.expr(p),
            Rule::type_expr => self.type_expr(p),
            Rule::list => {
                let close = p.as_span().end() - 1;
                let items: Vec<_> = p.into_inner().collect();
                self.bracketed(("[", "]"), "", &items, close, Sep::Comma, Self::expr);
            }
            Rule::map => {
                let close = p.as_span().end() - 1;
                let items: Vec<_> = p.into_inner().collect();
                self.bracketed(("{", "}"), " ", &items, close, Sep::Comma, Self::node);
            }
            // The arguments of a call (its name is the `path` before them).
            Rule::call => {
                let close = p.as_span().end() - 1;
                let args: Vec<_> = p.into_inner().collect();
                self.bracketed(("(", ")"), "", &args, close, Sep::Comma, Self::expr);
            }
            Rule::attr_block => {
                let close = p.as_span().end() - 1;
                let items: Vec<_> = p.into_inner().collect();
                self.bracketed(("{", "}"), " ", &items, close, Sep::Block, Self::node);
            }
            Rule::pipeline | Rule::stage | Rule::entry | Rule::on_success => self.braced(p),
            Rule::template => self.template(p),
            _ => self.seq(p),
        }
    }

    /// Children in order, separated as the grammar's punctuation between them says.
    fn seq(&mut self, p: Pair<'s, Rule>) {
        let mut prev_end = None;
        for c in p.into_inner() {
            let start = c.as_span().start();
            if let Some(end) = prev_end {
                let sep = match first_punct(self.src, end, start) {
                    // A call's arguments follow its name directly.
                    _ if c.as_rule() == Rule::call => "",
                    Some((_, b'=')) => " = ",
                    Some((_, b'-')) => " -> ",
                    Some((_, b':')) => ": ",
                    Some((_, b'.')) => ".",
                    _ => " ",
                };
                self.text(sep);
            }
            prev_end = Some(c.as_span().end());
            self.node(c);
        }
    }

    /// `keyword [keyword] [NAME] { items }`: pipeline and stage (always broken), `entry` and
    /// `on success` (one line when they fit).
    fn braced(&mut self, p: Pair<'s, Rule>) {
        let close = p.as_span().end() - 1;
        let always = matches!(p.as_rule(), Rule::pipeline | Rule::stage);
        let mut inner = p.into_inner().peekable();
        let mut first = true;
        // The keywords and the name: every token before the first item.
        while let Some(head) = inner.next_if(is_token) {
            if !first {
                self.text(" ");
            }
            first = false;
            self.token(&head);
        }
        let items: Vec<_> = inner.collect();
        self.text(" ");
        if always {
            self.block(&items, close);
        } else {
            self.bracketed(("{", "}"), " ", &items, close, Sep::Block, Self::node);
        }
    }

    /// `template NAME(PARAMS): KIND { … }`.
    fn template(&mut self, p: Pair<'s, Rule>) {
        let mut inner = p.into_inner();
        self.token(&inner.next().expect("grammar: template keyword"));
        self.text(" ");
        let name = inner.next().expect("grammar: template name");
        self.token(&name);
        let rest: Vec<_> = inner.collect();
        let params: Vec<_> = rest
            .iter()
            .filter(|c| c.as_rule() == Rule::tparam)
            .cloned()
            .collect();
        let from = params.last().unwrap_or(&name).as_span().end();
        let close = self.punct_after(from, b')');
        self.bracketed(("(", ")"), "", &params, close, Sep::Comma, Self::seq);
        self.text(": ");
        for c in rest.into_iter().filter(|c| c.as_rule() != Rule::tparam) {
            if c.as_rule() == Rule::attr_block {
                self.text(" ");
                let close = c.as_span().end() - 1;
                let attrs: Vec<_> = c.into_inner().collect();
                self.block(&attrs, close);
            } else {
                self.node(c);
            }
        }
    }

    fn punct_after(&self, mut from: usize, want: u8) -> usize {
        while let Some((at, b)) = first_punct(self.src, from, self.src.len()) {
            if b == want {
                return at;
            }
            from = at + 1;
        }
        panic!("grammar: `{}` follows", want as char)
    }

    fn type_expr(&mut self, p: Pair<'s, Rule>) {
        let mut inner = p.into_inner();
        self.token(&inner.next().expect("grammar: type name"));
        if let Some(arg) = inner.next() {
            self.text("<");
            self.type_expr(arg);
            self.text(">");
        }
    }

    /// An expression on one line when it fits, else broken before each `&&` and `||` of its
    /// own (not those inside parentheses), one level deeper. An expression with a comment
    /// inside stays on one line, the comments inline.
    fn expr(&mut self, p: Pair<'s, Rule>) {
        let end = last_token_end(&p);
        let children: Vec<_> = p.into_inner().collect();
        let breakable = children
            .iter()
            .any(|c| matches!(c.as_rule(), Rule::or_op | Rule::and_op));
        if !breakable || self.flat || self.pending(end) {
            self.operands(&children, false);
            return;
        }
        self.group(end, &|p| p.operands(&children, false), &|p| {
            p.indent += 1;
            p.operands(&children, true);
            p.indent -= 1;
        });
    }

    fn operands(&mut self, children: &[Pair<'s, Rule>], broken: bool) {
        for c in children {
            match c.as_rule() {
                Rule::or_op | Rule::and_op if broken => {
                    self.line_break(self.indent, false);
                    self.token(c);
                    self.text(" ");
                }
                Rule::or_op | Rule::and_op | Rule::cmp_op => {
                    self.text(" ");
                    self.token(c);
                    self.text(" ");
                }
                // A nested expression is always one in parentheses.
                Rule::expr => {
                    self.text("(");
                    self.expr(c.clone());
                    self.text(")");
                }
                _ => self.node(c.clone()),
            }
        }
    }

    // ------------------------------------------------------------------ block strings

    fn block_string(&mut self, p: &Pair<'s, Rule>) {
        if self.flat {
            self.failed = true;
        }
        let raw = p.as_str();
        let start = p.as_span().start();
        let line_start = self.src[..start].rfind('\n').map_or(0, |i| i + 1);
        let old = leading_spaces(&self.src[line_start..start]);
        let new = leading_spaces(&self.out[self.out.rfind('\n').map_or(0, |i| i + 1)..]);
        let multiline_interp = p
            .clone()
            .into_inner()
            .any(|c| c.as_rule() == Rule::interp && c.as_str().contains('\n'));
        let shifted = match (old, new) {
            (Some(old), Some(new)) if old != new && !multiline_interp => {
                shift_block(raw, new.cast_signed() - old.cast_signed())
            }
            _ => None,
        };
        self.out.push_str(shifted.as_deref().unwrap_or(raw));
    }
}

/// Where the last token of a pair ends (its span may run on over whitespace and comments,
/// where the grammar tried an optional part).
fn last_token_end(p: &Pair<'_, Rule>) -> usize {
    let exact = |q: &Pair<'_, Rule>| {
        is_token(q) || matches!(q.as_rule(), Rule::list | Rule::map | Rule::call)
    };
    p.clone()
        .into_inner()
        .flatten()
        .filter(exact)
        .map(|q| q.as_span().end())
        .max()
        .unwrap_or(p.as_span().start())
}

#[cfg(test)]
mod tests;
