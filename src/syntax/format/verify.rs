//! The formatter's safety: refusing files with syntax errors, and comparing the parse trees
//! of a file and its formatted text.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diagnostics::Diagnostic;
use crate::source::FileId;
use crate::syntax::lower::Lowerer;
use crate::syntax::{PipeGrammar, Rule};

/// The file's parse, or its syntax errors: exactly those [`Parser::parse`](crate::syntax::Parser)
/// reports, which runs the same steps (scan, grammar, literal checks while lowering).
pub(super) fn parse_clean(file: FileId, text: &str) -> Result<Pair<'_, Rule>, Vec<Diagnostic>> {
    let refuse = || {
        let (_, diagnostics) = crate::syntax::Parser::parse(file, text);
        Err(diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect())
    };
    let scanned = crate::syntax::scan::scan(file, text);
    if scanned.too_deep || scanned.diagnostics.iter().any(Diagnostic::is_error) {
        return refuse();
    }
    let Ok(mut pairs) = PipeGrammar::parse(Rule::file, text) else {
        return refuse();
    };
    let root = pairs.next().expect("grammar: file rule yields one pair");
    let mut lowerer = Lowerer::new(file, text);
    lowerer.lower_file(root.clone());
    if lowerer.diagnostics.iter().any(Diagnostic::is_error) {
        return refuse();
    }
    Ok(root)
}

/// Whether two parse trees are the same, positions aside: the same rules in the same order,
/// the same token texts, block strings with the same decoded text, templates and params with
/// the same docs.
pub(super) fn same_tree(
    (a_src, a): (&str, Pair<'_, Rule>),
    (b_src, b): (&str, Pair<'_, Rule>),
) -> bool {
    let mut a_lower = Lowerer::new(FileId(0), a_src);
    let mut b_lower = Lowerer::new(FileId(0), b_src);
    let mut a_pairs = a.into_inner().flatten();
    let mut b_pairs = b.into_inner().flatten();
    loop {
        let (p, q) = match (a_pairs.next(), b_pairs.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p.as_rule() == q.as_rule() => (p, q),
            _ => return false,
        };
        let same = match p.as_rule() {
            Rule::block_string => block_value(&mut a_lower, p) == block_value(&mut b_lower, q),
            Rule::template | Rule::param_item => {
                a_lower.doc_above(p.as_span().start()) == b_lower.doc_above(q.as_span().start())
            }
            Rule::bstr_text | Rule::list | Rule::map | Rule::attr_block => true,
            _ if p.clone().into_inner().next().is_none() => p.as_str() == q.as_str(),
            _ => true,
        };
        if !same {
            return false;
        }
    }
}

/// A block string's decoded text, interpolations as `None`.
fn block_value(lowerer: &mut Lowerer<'_>, p: Pair<'_, Rule>) -> Vec<Option<String>> {
    lowerer
        .string(p)
        .parts
        .into_iter()
        .map(|part| match part {
            crate::ast::StrPart::Text(t) => Some(t),
            crate::ast::StrPart::Interp(..) => None,
        })
        .collect()
}
