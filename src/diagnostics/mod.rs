//! Diagnostics: one renderer-independent struct, the code registry, and output formats.
//!
//! Phases push [`Diagnostic`]s into a [`Sink`] and keep going, so `check` reports every
//! independent problem in one pass. Rendering (miette's graphical report, `short`, `json`,
//! `sarif`, `github`) lives in [`render`] and returns strings: only `cli/` prints.

mod code;
pub mod render;

pub use code::Code;

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A span with a few words about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// One lowercase line, no final period, names in backticks.
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    /// An action the user can take ("did you mean `build`?").
    pub help: Option<String>,
    /// The rule that was broken.
    pub note: Option<String>,
}

impl Diagnostic {
    /// A diagnostic of `code`; its severity follows from the code (`W…` are warnings).
    pub fn new(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        let severity = if code.is_warning() {
            Severity::Warning
        } else {
            Severity::Error
        };
        Diagnostic {
            code,
            severity,
            message: message.into(),
            primary: Label {
                span,
                message: label.into(),
            },
            secondary: Vec::new(),
            help: None,
            note: None,
        }
    }

    #[must_use]
    pub fn label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Where phases put diagnostics.
#[derive(Debug, Default)]
pub struct Sink {
    diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn new() -> Sink {
        Sink::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// The diagnostics sorted by position, duplicates removed.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by(|a, b| {
            (a.primary.span.file, a.primary.span.start, a.code).cmp(&(
                b.primary.span.file,
                b.primary.span.start,
                b.code,
            ))
        });
        self.diags
            .dedup_by(|a, b| a.code == b.code && a.primary == b.primary && a.message == b.message);
        self.diags
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.diags.extend(other);
    }
}

/// The closest candidate to `name` by edit distance, for "did you mean" help.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let score = strsim::normalized_damerau_levenshtein(&name.to_lowercase(), &c.to_lowercase());
        let close = score >= 0.6 || strsim::damerau_levenshtein(name, c) <= 1 + name.len() / 4;
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}
