//! Output formats for diagnostics (CLI.md "Checking and compiling").
//!
//! Every function returns text; the CLI decides where it goes. The human format adapts a
//! [`Diagnostic`] to miette's graphical handler; the source lookup uses our line index
//! instead of miette's scan from the start of the file for every report.

use std::fmt::Write as _;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteSpanContents, SourceSpan};
use serde_json::{Value, json};

use super::{Diagnostic, Severity};
use crate::source::{SourceFile, SourceMap, Span};

/// Options of the human renderer.
#[derive(Clone, Copy, Debug)]
pub struct HumanOptions {
    pub color: bool,
    pub width: usize,
}

/// Past this column miette's snippet drawing fails (it formats columns as `u16`), and a
/// snippet that wide is useless anyway: such reports are drawn without the snippet.
const MAX_SNIPPET_COLUMN: u32 = 2000;

/// The report without a source snippet.
fn plain(map: &SourceMap, d: &Diagnostic) -> String {
    let mut out = format!("{}[{}]: {}\n", d.severity.as_str(), d.code, d.message);
    let (start, _) = map.line_col(d.primary.span);
    let _ = writeln!(
        out,
        "  --> {}:{}:{}: {}",
        map.get(d.primary.span.file).name,
        start.line,
        start.column,
        d.primary.message
    );
    for l in &d.secondary {
        let (s, _) = map.line_col(l.span);
        let _ = writeln!(
            out,
            "  --> {}:{}:{}: {}",
            map.get(l.span.file).name,
            s.line,
            s.column,
            l.message
        );
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "  help: {h}");
    }
    if let Some(n) = &d.note {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}

/// miette's graphical report for one diagnostic.
pub fn human(map: &SourceMap, d: &Diagnostic, opts: HumanOptions) -> String {
    let too_wide = std::iter::once(&d.primary).chain(&d.secondary).any(|l| {
        let file = map.get(l.span.file);
        // The whole lines miette would draw, not just the label.
        let (s, e) = map.line_col(l.span);
        let line_len = |line: u32| {
            let start = file.line_start(line as usize - 1).unwrap_or(0);
            let end = file.line_start(line as usize).unwrap_or(file.text.len());
            file.char_len(start..end)
        };
        e.column > MAX_SNIPPET_COLUMN
            || line_len(s.line) > MAX_SNIPPET_COLUMN as usize
            || line_len(e.line) > MAX_SNIPPET_COLUMN as usize
    });
    if too_wide {
        return plain(map, d);
    }
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false)
        .with_context_lines(1);
    if let Some(note) = &d.note {
        handler = handler.with_footer(format!("note: {note}"));
    }
    let adapter = Adapter {
        d,
        file: map.get(d.primary.span.file),
        file_id: d.primary.span.file,
    };
    let mut out = String::new();
    // Writing into a String cannot fail; a broken span would be a bug we still survive.
    if handler.render_report(&mut out, &adapter).is_err() {
        let _ = writeln!(out, "{}[{}]: {}", d.severity.as_str(), d.code, d.message);
    }
    out
}

struct Adapter<'a> {
    d: &'a Diagnostic,
    file: &'a SourceFile,
    file_id: crate::source::FileId,
}

impl std::fmt::Debug for Adapter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::fmt::Display for Adapter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for Adapter<'_> {}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new(
        (span.start as usize).into(),
        (span.end - span.start) as usize,
    )
}

impl miette::Diagnostic for Adapter<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.d.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.file)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(
            Some(self.d.primary.message.clone()),
            source_span(self.d.primary.span),
        );
        let others = self
            .d
            .secondary
            .iter()
            .filter(|l| l.span.file == self.file_id)
            .map(|l| LabeledSpan::new_with_span(Some(l.message.clone()), source_span(l.span)));
        Some(Box::new(std::iter::once(primary).chain(others)))
    }
}

impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text = &self.text;
        let start = span.offset().min(text.len());
        let end = (span.offset() + span.len()).min(text.len());
        let first = (self.line_col(start).line as usize - 1).saturating_sub(before);
        let last = self.line_col(end).line as usize - 1 + after;
        let from = self.line_start(first).unwrap_or(0);
        let to = self
            .line_start(last + 1)
            .map_or(text.len(), |e| e.saturating_sub(1).max(from));
        let data = &text.as_bytes()[from..to];
        let lines = text[from..to].lines().count().max(1);
        // miette reads the column for the report's `[file:line:col]` header (from a span read
        // with no context lines): the span's own column, in characters as everywhere else.
        let column = self.line_col(start).column as usize - 1;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            SourceSpan::new(from.into(), to - from),
            first,
            column,
            lines,
        )))
    }
}

/// `FILE:LINE:COL: error[E0201]: message`
pub fn short(map: &SourceMap, d: &Diagnostic) -> String {
    let (start, _) = map.line_col(d.primary.span);
    let file = &map.get(d.primary.span.file).name;
    // One line per diagnostic, whatever the message holds.
    let message = d.message.replace('\r', "\\r").replace('\n', "\\n");
    format!(
        "{file}:{}:{}: {}[{}]: {message}",
        start.line,
        start.column,
        d.severity.as_str(),
        d.code,
    )
}

/// A GitHub Actions workflow command.
pub fn github(map: &SourceMap, d: &Diagnostic) -> String {
    let (start, end) = map.line_col(d.primary.span);
    let file = &map.get(d.primary.span.file).name;
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    format!(
        "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
        gh_property(file),
        start.line,
        start.column,
        end.line,
        end.column,
        d.code,
        gh_data(&message)
    )
}

fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn range_json(map: &SourceMap, span: Span) -> Value {
    let (s, e) = map.line_col(span);
    json!({"start": {"line": s.line, "column": s.column}, "end": {"line": e.line, "column": e.column}})
}

/// One diagnostic as the JSON object of CLI.md.
pub fn json_diagnostic(map: &SourceMap, d: &Diagnostic) -> Value {
    let labels: Vec<Value> = d
        .secondary
        .iter()
        .map(|l| {
            let mut v = json!({"message": l.message, "range": range_json(map, l.span)});
            if l.span.file != d.primary.span.file {
                v["file"] = json!(map.get(l.span.file).name);
            }
            v
        })
        .collect();
    let mut v = json!({
        "file": map.get(d.primary.span.file).name,
        "severity": d.severity.as_str(),
        "code": d.code.as_str(),
        "message": d.message,
        "range": range_json(map, d.primary.span),
        "labels": labels,
    });
    if let Some(h) = &d.help {
        v["help"] = json!(h);
    }
    if let Some(n) = &d.note {
        v["note"] = json!(n);
    }
    v
}

/// The whole `--format json` document, as text. Written one diagnostic at a time (keys in
/// the order `serde_json` sorts them), so that a file with a hundred thousand diagnostics
/// never holds them all as JSON values.
pub fn json_document(map: &SourceMap, files: usize, diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let mut out = String::from("{\"diagnostics\":[");
    join_json(&mut out, diags.iter().map(|d| json_diagnostic(map, d)));
    let _ = write!(
        out,
        "],\"errors\":{errors},\"files\":{files},\"version\":1,\"warnings\":{}}}",
        diags.len() - errors
    );
    out
}

/// Appends `values` to `out`, comma-separated.
fn join_json(out: &mut String, values: impl Iterator<Item = Value>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v}");
    }
}

fn sarif_region(map: &SourceMap, span: Span) -> Value {
    let (s, e) = map.line_col(span);
    json!({"startLine": s.line, "startColumn": s.column, "endLine": e.line, "endColumn": e.column})
}

/// A SARIF artifact URI: a relative reference (or a `file://` URI for absolute paths), with
/// everything but unreserved characters and `/` percent-encoded.
fn sarif_uri(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if name.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

fn sarif_location(map: &SourceMap, span: Span, message: Option<&str>) -> Value {
    let mut v = json!({"physicalLocation": {
        "artifactLocation": {"uri": sarif_uri(&map.get(span.file).name)},
        "region": sarif_region(map, span),
    }});
    if let Some(m) = message {
        v["message"] = json!({"text": m});
    }
    v
}

/// A SARIF 2.1.0 log with one run, as text (written one result at a time, like
/// [`json_document`]).
pub fn sarif(map: &SourceMap, diags: &[Diagnostic]) -> String {
    let rules: Vec<Value> = super::Code::ALL
        .iter()
        .map(|c| json!({"id": c.as_str(), "shortDescription": {"text": c.title()}}))
        .collect();
    let results = diags.iter().map(|d| {
        let mut text = d.message.clone();
        if let Some(h) = &d.help {
            let _ = write!(text, " (help: {h})");
        }
        json!({
            "ruleId": d.code.as_str(),
            "level": d.severity.as_str(),
            "message": {"text": text},
            "locations": [sarif_location(map, d.primary.span, None)],
            "relatedLocations": d.secondary.iter().enumerate().map(|(i, l)| {
                let mut v = sarif_location(map, l.span, Some(&l.message));
                v["id"] = json!(i);
                v
            }).collect::<Vec<_>>(),
        })
    });
    let tool =
        json!({"driver": {"name": "pipec", "version": env!("CARGO_PKG_VERSION"), "rules": rules}});
    let mut out = String::from(
        "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[{\"columnKind\":\"unicodeCodePoints\",\"results\":[",
    );
    join_json(&mut out, results);
    let _ = write!(out, "],\"tool\":{tool}}}],\"version\":\"2.1.0\"}}");
    out
}
