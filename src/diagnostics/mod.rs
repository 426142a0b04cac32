//! Diagnostics: one renderer-independent struct, the code registry, and output formats.
//!
//! Phases push [`Diagnostic`]s into a [`Sink`] and keep going, so `check` reports every
//! independent problem in one pass. Rendering (miette's graphical report, `short`, `json`,
//! `sarif`, `github`) lives in [`render`] and returns strings: only `cli/` prints.

mod code;
pub mod render;

pub use code::Code;

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in the source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    /// Errors among `diags`, counted as they come (the checker asks after many steps).
    errors: usize,
}

impl Sink {
    pub fn new() -> Sink {
        Sink::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.errors += usize::from(d.is_error());
        self.diags.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    pub fn error_count(&self) -> usize {
        self.errors
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
        for d in other {
            self.push(d);
        }
    }
}

/// The closest candidate to `name` by edit distance, for "did you mean" help.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    Suggester::unbounded().suggest(name, candidates)
}

/// "Did you mean" with a bounded total cost. Each suggestion compares the name with every
/// candidate in scope, so a file with N unknown names among N declared ones would cost N²
/// comparisons: one `Suggester` serves a whole file and stops suggesting (the diagnostics
/// themselves are unchanged) once it has spent [`Suggester::BUDGET`].
#[derive(Debug)]
pub struct Suggester {
    left: std::cell::Cell<u64>,
}

impl Default for Suggester {
    fn default() -> Self {
        Suggester::new()
    }
}

impl Suggester {
    /// Work for one file, in units of about a hundred instructions (measured with
    /// callgrind): some 0.1 s, which covers thousands of suggestions in files of ordinary
    /// size.
    pub const BUDGET: u64 = 3_000_000;
    /// The fixed cost of one candidate whose distance is computed (two distances, each of
    /// which allocates).
    const PER_DISTANCE: u64 = 25;

    pub fn new() -> Suggester {
        Suggester {
            left: std::cell::Cell::new(Self::BUDGET),
        }
    }

    fn unbounded() -> Suggester {
        Suggester {
            left: std::cell::Cell::new(u64::MAX),
        }
    }

    /// Takes `cost` from the budget; false (and the budget emptied) when it does not cover it.
    fn spend(&self, cost: u64) -> bool {
        let left = self.left.get();
        if left < cost {
            self.left.set(0);
            return false;
        }
        self.left.set(left - cost);
        true
    }

    /// The closest candidate to `name`, or `None` when none is close or the budget ran out
    /// during the search (a partial search would suggest a worse name).
    #[allow(clippy::cast_precision_loss)] // Reason: lengths of names, far below 2^52.
    pub fn suggest<'a>(
        &self,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<String> {
        let lower = name.to_lowercase();
        let lower_len = lower.chars().count();
        let len = name.chars().count();
        let max_by_len = 1 + name.len() / 4;
        let mut best: Option<(f64, &str)> = None;
        let mut c_lower = String::new();
        for c in candidates {
            if !self.spend(2 + c.len() as u64 / 32) {
                return None;
            }
            if c == name {
                continue;
            }
            let c_len = if c.is_ascii() {
                c.len()
            } else {
                c.chars().count()
            };
            // Damerau's distance is at least the difference in length: a candidate too long
            // or too short to be close is skipped before anything else (for ASCII names,
            // lowercasing keeps the lengths).
            let far = |a: usize, b: usize| {
                let longest = a.max(b).max(1);
                let best_score = 1.0 - a.abs_diff(b) as f64 / longest as f64;
                best_score < 0.6 - 1e-9 && len.abs_diff(c_len) > max_by_len
            };
            if name.is_ascii() && c.is_ascii() && far(len, c_len) {
                continue;
            }
            c_lower.clear();
            c_lower.extend(c.chars().flat_map(char::to_lowercase));
            let c_lower_len = c_lower.chars().count();
            if far(lower_len, c_lower_len) {
                continue;
            }
            let cells = (lower_len * c_lower_len + len * c_len) as u64;
            if !self.spend(Self::PER_DISTANCE + cells / 6 + c.len() as u64 / 4) {
                return None;
            }
            // Restricted Damerau distance (optimal string alignment): no hash map per call.
            let longest = lower_len.max(c_lower_len).max(1);
            let score = 1.0 - strsim::osa_distance(&lower, &c_lower) as f64 / longest as f64;
            let close = score >= 0.6 || strsim::osa_distance(name, c) <= max_by_len;
            if close && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, c));
            }
        }
        best.map(|(_, c)| format!("did you mean `{c}`?"))
    }
}

#[cfg(test)]
mod tests {
    use super::Suggester;

    #[test]
    fn suggests_the_closest_name() {
        let s = Suggester::new();
        assert_eq!(
            s.suggest("biuld", ["test", "build", "deploy"]).as_deref(),
            Some("did you mean `build`?")
        );
        assert_eq!(s.suggest("zzzzzz", ["a", "build"]), None);
    }

    /// Many unknown names among many declared ones: the work stops at the budget.
    #[test]
    fn stops_suggesting_once_the_budget_is_spent() {
        let names: Vec<String> = (0..2_000).map(|i| format!("action_{i}")).collect();
        let s = Suggester::new();
        let mut suggested = 0;
        for i in 0..2_000 {
            if s.suggest(&format!("action_{i}x"), names.iter().map(String::as_str))
                .is_some()
            {
                suggested += 1;
            }
        }
        assert!(suggested > 10, "the first names still get a suggestion");
        assert!(
            suggested < 1_000,
            "{suggested} suggestions: the budget does not hold"
        );
        assert_eq!(s.left.get(), 0);
    }
}
