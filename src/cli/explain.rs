//! `pipec explain CODE`

use super::error::{Error, Outcome};
use crate::diagnostics::{Code, suggest};

/// Print the long explanation of a diagnostic code, with a failing and a fixed example.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  pipec explain E0201")]
pub(crate) struct Args {
    /// A diagnostic code, like E0201 or W0004.
    code: String,
}

pub(crate) fn run(args: &Args) -> Outcome {
    if let Some(code) = Code::parse(&args.code) {
        print!("{}", code.explanation());
        return Ok(super::exit::OK);
    }
    let error = Error::usage(format!("unknown diagnostic code `{}`", args.code));
    let error = match suggest(
        &args.code.to_uppercase(),
        Code::ALL.iter().map(|c| c.as_str()),
    ) {
        Some(h) => error.help(h),
        None => error,
    };
    Err(error.note(format!(
        "the codes are {}",
        Code::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}
