//! The import's one error: what stops a file from being imported, where, and what to do.

use std::fmt;

/// A file that cannot be imported. `line`/`column` are 1-based, in the input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The file of a folder it is in, when it is not the file imported.
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub help: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>, help: impl Into<String>) -> Error {
        Error {
            file: None,
            line: None,
            column: None,
            message: message.into(),
            help: help.into(),
        }
    }

    pub(crate) fn at(self, line: usize, column: usize) -> Error {
        Error {
            line: Some(line.max(1)),
            column: Some(column.max(1)),
            ..self
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The line and column (1-based) of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
