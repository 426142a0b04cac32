//! Lowering `keep N runs` / `keep DURATION` (retention, docs/language.md §4).

use pest::iterators::Pair;

use super::Lowerer;
use crate::ast::{DurationLit, Keep};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::Rule;

impl Lowerer<'_> {
    /// `keep N runs` or `keep DURATION`: a count that does not fit (or is negative) is
    /// E0103, like any literal out of range.
    pub(super) fn keep(&mut self, p: Pair<'_, Rule>) -> Keep {
        let v = p.into_inner().nth(1).expect("grammar: keep value");
        let span = self.span(&v);
        if v.as_rule() == Rule::duration {
            return Keep::Age(DurationLit {
                secs: self.duration(&v),
                span,
            });
        }
        let count = v.into_inner().next().expect("grammar: keep count");
        let n = count.as_str().parse().ok();
        if n.is_none() {
            let at = self.span(&count);
            let (why, label) = if count.as_str().starts_with('-') {
                ("cannot be negative", "not a count")
            } else {
                ("is too large", "at most 4294967295")
            };
            self.err(
                Diagnostic::new(
                    Code::E0103,
                    format!("run count `{}` {why}", count.as_str()),
                    at,
                    label,
                )
                .help(
                    "keep a number of runs from 0 up, or keep runs for a time instead: `keep 90d`",
                ),
            );
        }
        Keep::Runs(n, span)
    }
}
