//! The one error type of the command line: what a command ends on when it fails, with the
//! exit code that goes with it (CLI.md: 1 invalid input or a run that cannot go on, 2 wrong
//! use). A command returns its exit code (`Ok`: 0, 1 with diagnostics, 3 held, 130
//! stopped) or an `Error`; [`super::main`] prints the error — `error: MESSAGE`, then
//! `help: …` and `note: …` when there are — in one place.

use std::fmt;

/// An error a command ended on.
#[derive(Debug)]
pub(crate) struct Error {
    code: u8,
    message: String,
    help: Option<String>,
    note: Option<String>,
}

/// What a command returns: its exit code, or the error it ended on.
pub(crate) type Outcome = Result<u8, Error>;

impl Error {
    /// Wrong use: arguments that do not fit, or a state the command cannot act on (exit 2).
    pub(crate) fn usage(message: impl fmt::Display) -> Error {
        Error {
            code: super::exit::USAGE,
            message: message.to_string(),
            help: None,
            note: None,
        }
    }

    /// Input that is not valid, or a run that cannot go on (exit 1).
    pub(crate) fn invalid(message: impl fmt::Display) -> Error {
        Error {
            code: super::exit::INVALID,
            message: message.to_string(),
            help: None,
            note: None,
        }
    }

    /// pipec could not do its own part (a thread, the async runtime): exit 101, as for an
    /// internal error.
    pub(crate) fn internal(message: impl fmt::Display) -> Error {
        Error {
            code: super::exit::INTERNAL,
            message: message.to_string(),
            help: None,
            note: None,
        }
    }

    /// The input's diagnostics were printed (by the renderer chosen): they are the report,
    /// nothing more is said (exit 1).
    pub(crate) fn diagnosed() -> Error {
        Error::invalid("")
    }

    /// Whether there is something to print (diagnostics were printed already).
    pub(crate) fn says_something(&self) -> bool {
        !self.message.is_empty()
    }

    /// What else to know (`note: …`, after the help).
    pub(crate) fn note(self, note: impl fmt::Display) -> Error {
        Error {
            note: Some(note.to_string()),
            ..self
        }
    }

    /// What to do about it (`help: …`).
    pub(crate) fn help(self, help: impl fmt::Display) -> Error {
        Error {
            help: Some(help.to_string()),
            ..self
        }
    }

    /// The exit code it ends the command with.
    pub(crate) fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        if let Some(note) = &self.note {
            write!(f, "\nnote: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn an_error_knows_its_exit_code_and_says_what_to_do() {
        let e = Error::usage("no run `x` in this state directory").help("`pipec runs` lists them");
        assert_eq!(e.code(), 2);
        assert_eq!(
            e.to_string(),
            "no run `x` in this state directory\nhelp: `pipec runs` lists them"
        );
        assert_eq!(Error::invalid("bad").code(), 1);
    }
}
