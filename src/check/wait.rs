//! `entry { … else wait }`: the stage is held until its deployment window opens
//! (LANGUAGE.md §5), so the condition must have a `window` rule to wait for. Without one,
//! `else wait` would wait for nothing that changes with time: E0204, as a missing part of
//! the condition. (`on success … else wait` does not parse: E0101.)

use super::Checker;
use crate::ast;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir;
use crate::source::Span;

impl Checker<'_> {
    /// The result of `else wait` (at `at`) in entry condition `c`.
    pub(super) fn else_wait(&mut self, c: &ast::Condition, at: Span) -> ir::ElseResult {
        if c.rules
            .iter()
            .any(|r| matches!(r, ast::CondRule::Window { .. }))
        {
            return ir::ElseResult::Wait;
        }
        self.report(
            Diagnostic::new(
                Code::E0204,
                "`else wait` needs a `window` rule in its `entry`",
                at,
                "waits for a deployment window",
            )
            .help("add a rule like `window \"0-59 9-16 * * 1-5\"`, or write `else skip` or `else fail`")
            .note("`else wait` holds the stage until its deployment window opens; its other rules that fail still fail the stage"),
        );
        ir::ElseResult::Fail
    }
}
