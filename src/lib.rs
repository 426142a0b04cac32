//! pipec: a typed release-pipeline language — parser, checker, IR and (later) runtime.
//!
//! The phases, each in its own module: [`syntax`] (text → AST, E01xx) → [`check`] (names,
//! types and release-model rules, E02xx–E04xx, W0xxx) → [`ir`] (the serialisable, resolved
//! pipeline). [`diagnostics`] and [`source`] are shared leaves. Only the CLI prints and
//! reads files; this library takes text and returns values.
//!
//! ```
//! let broken = r#"pipeline app {
//!   stage build { action make: sh { run = "make" } }
//!   transition biuld -> build
//! }
//! "#;
//! let (_, diagnostics) = pipec::check_source("app.pipe", broken);
//! let codes: Vec<String> = diagnostics.iter().map(|d| d.code.to_string()).collect();
//! assert_eq!(codes, ["E0201"]); // unknown stage `biuld`
//!
//! let ugly = "pipeline app { stage build { action make: sh { run = \"make\" } } }";
//! let formatted = pipec::format_source(ugly).expect("it parses");
//! assert!(formatted.starts_with("pipeline app {\n  stage build {\n    action make: sh {"));
//! ```

// pest_derive (without its `std` feature, see ARCHITECTURE.md) names `alloc` from the crate root.
extern crate alloc;

pub mod ast;
pub mod check;
pub mod cli;
pub mod diagnostics;
pub mod duration;
pub mod export;
pub mod habits;
pub mod ide;
pub mod import;
pub mod ir;
pub mod params;
pub mod paths;
pub mod patterns;
pub mod runtime;
pub mod serve;
pub mod shell;
pub mod source;
pub mod stdlib;
pub mod syntax;

use check::{Checker, Loader};
use diagnostics::Diagnostic;
use source::{FileId, SourceMap};

/// The result of [`compile`]: diagnostics, and the IR when there are no errors and the file
/// has a pipeline.
pub struct Compiled {
    pub diagnostics: Vec<Diagnostic>,
    pub ir: Option<ir::Ir>,
}

/// Checks a file already added to `map` and lowers it to the IR when it checks clean.
pub fn compile(map: &mut SourceMap, root: FileId, loader: &mut dyn Loader) -> Compiled {
    let checked = Checker::check(map, root, loader, true);
    let ir = if checked.has_errors() {
        None
    } else {
        checked
            .model
            .as_ref()
            .map(|m| check::lower::Lowerer::lower(map, m))
    };
    Compiled {
        diagnostics: checked.diagnostics,
        ir,
    }
}

/// Checks a file already added to `map` (diagnostics only; no IR is built).
pub fn check(map: &mut SourceMap, root: FileId, loader: &mut dyn Loader) -> Vec<Diagnostic> {
    Checker::check(map, root, loader, false).diagnostics
}

/// Formats one source text in the canonical layout of `pipec fmt` (docs/formatting.md), for
/// editors and the language server.
///
/// Returns the formatted text (equal to `text` when it is already formatted), or the syntax
/// errors when `text` does not parse (their spans name [`FileId`]`(0)`): such a text is
/// never formatted. The formatted text has the same syntax tree as `text` (positions aside)
/// and formats to itself. For a file already in a [`SourceMap`], use
/// [`syntax::Formatter::format`] with its id. No I/O. It panics only on a bug of the
/// formatter: an output whose syntax tree differs from the input's is never returned.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    syntax::Formatter::format(FileId(0), text)
}

/// Checks one source text with no local imports (for tests and editors).
pub fn check_source(name: &str, text: &str) -> (SourceMap, Vec<Diagnostic>) {
    let mut map = SourceMap::new();
    let id = map.add(name, text);
    let out = compile(&mut map, id, &mut check::NoLoader);
    (map, out.diagnostics)
}
