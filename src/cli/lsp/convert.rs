//! Between the analysis' byte offsets and LSP positions (lines and UTF-16 columns), and
//! from `ide` values to LSP types.

use tower_lsp_server::ls_types::{
    CodeDescription, CompletionItem, CompletionItemKind, Diagnostic, DiagnosticRelatedInformation,
    DiagnosticSeverity, Documentation, Location, MarkupContent, MarkupKind, NumberOrString,
    Position, Range, Uri,
};

use crate::diagnostics::{self, Severity};
use crate::ide::{Completion, CompletionKind};
use crate::source::Span;

/// Where each line of a text starts, and how many UTF-16 units precede every
/// [`UNIT_STRIDE`]-th byte: a column costs at most that many bytes of counting, however long
/// its line is (one diagnostic per word of a one-line megabyte would be quadratic otherwise).
pub(super) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    units_before: Vec<u32>,
}

const UNIT_STRIDE: usize = 256;

/// UTF-16 units of the characters whose first byte is in `bytes`.
fn utf16_units(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0xBF => 0, // a continuation byte
            0xF0.. => 2,      // the first byte of a character outside the BMP
            _ => 1,
        })
        .sum()
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut units_before = vec![0u32];
        let mut total = 0;
        for chunk in text.as_bytes().chunks(UNIT_STRIDE) {
            total += utf16_units(chunk) as u32;
            units_before.push(total);
        }
        LineIndex {
            text,
            starts,
            units_before,
        }
    }

    /// UTF-16 units before byte `offset` (a char boundary).
    fn units_to(&self, offset: usize) -> usize {
        let mark = offset / UNIT_STRIDE;
        let from = mark * UNIT_STRIDE;
        self.units_before[mark] as usize + utf16_units(&self.text.as_bytes()[from..offset])
    }

    /// The position of byte `offset` (clamped to the text, and to a char boundary).
    pub(super) fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let col = self.units_to(offset) - self.units_to(self.starts[line]);
        Position::new(line as u32, col as u32)
    }

    /// The byte offset of `pos`; past the end of a line is its end, past the last line the
    /// end of the text.
    pub(super) fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(self.text.len(), |&e| e - 1);
        let mut units = 0;
        for (i, c) in self.text[start..end].char_indices() {
            if units >= pos.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }

    pub(super) fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    pub(super) fn span_range(&self, span: Span) -> Range {
        self.range(span.start as usize, span.end as usize)
    }
}

/// Resolves the file of a span to a URI and its text to ranges.
pub(super) trait Locate {
    fn location(&self, span: Span) -> Option<Location>;
    /// The page that explains a diagnostic code.
    fn explanation(&self, code: diagnostics::Code) -> Option<Uri>;
}

pub(super) fn diagnostic(
    d: &diagnostics::Diagnostic,
    lines: &LineIndex<'_>,
    locate: &dyn Locate,
) -> Diagnostic {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    if let Some(note) = &d.note {
        message.push_str("\nnote: ");
        message.push_str(note);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: locate.location(l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: lines.span_range(d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        code_description: locate
            .explanation(d.code)
            .map(|href| CodeDescription { href }),
        source: Some("pipec".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

pub(super) fn markdown(value: String) -> MarkupContent {
    MarkupContent {
        kind: MarkupKind::Markdown,
        value,
    }
}

pub(super) fn completion(c: Completion) -> CompletionItem {
    let kind = match c.kind {
        CompletionKind::Keyword => CompletionItemKind::KEYWORD,
        CompletionKind::Kind => CompletionItemKind::CLASS,
        CompletionKind::Module => CompletionItemKind::MODULE,
        CompletionKind::Attribute => CompletionItemKind::PROPERTY,
        CompletionKind::Param | CompletionKind::Secret => CompletionItemKind::VARIABLE,
        CompletionKind::Stage => CompletionItemKind::STRUCT,
        CompletionKind::Action => CompletionItemKind::METHOD,
        CompletionKind::Artifact => CompletionItemKind::FILE,
        CompletionKind::Export | CompletionKind::Field => CompletionItemKind::FIELD,
        CompletionKind::Template | CompletionKind::Function => CompletionItemKind::FUNCTION,
        CompletionKind::Value => CompletionItemKind::VALUE,
    };
    CompletionItem {
        label: c.label,
        kind: Some(kind),
        detail: (!c.detail.is_empty()).then_some(c.detail),
        documentation: c.doc.map(|d| Documentation::MarkupContent(markdown(d))),
        insert_text: c.insert,
        ..CompletionItem::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "ab\n\u{e9}\u{1F600}x\n";
        let lines = LineIndex::new(text);
        let x = text.find('x').expect("x");
        assert_eq!(lines.position(x), Position::new(1, 3));
        assert_eq!(lines.offset(Position::new(1, 3)), x);
        assert_eq!(lines.offset(Position::new(1, 99)), text.len() - 1);
        assert_eq!(lines.offset(Position::new(9, 0)), text.len());
        assert_eq!(lines.position(text.len()), Position::new(2, 0));
        // Inside a multi-byte character: clamped to its start.
        assert_eq!(lines.position(4), Position::new(1, 0));
    }

    /// Columns on a long line (across the index's marks) agree with counting from the
    /// line start.
    #[test]
    fn long_lines_count_like_the_line_start() {
        let text = format!("x\n{}", "a\u{e9}\u{20ac}\u{1F600} ".repeat(300));
        let lines = LineIndex::new(&text);
        for (offset, _) in text.char_indices().skip(2) {
            let col: usize = text[2..offset].chars().map(char::len_utf16).sum();
            assert_eq!(lines.position(offset), Position::new(1, col as u32));
            assert_eq!(lines.offset(lines.position(offset)), offset);
        }
    }
}
