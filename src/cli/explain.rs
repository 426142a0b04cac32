//! `pipec explain CODE`

use crate::diagnostics::{Code, suggest};

/// Print the long explanation of a diagnostic code, with a failing and a fixed example.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  pipec explain E0201")]
pub(crate) struct Args {
    /// A diagnostic code, like E0201 or W0004.
    code: String,
}

pub(crate) fn run(args: &Args) -> u8 {
    if let Some(code) = Code::parse(&args.code) {
        print!("{}", code.explanation());
        return super::exit::OK;
    }
    let help = suggest(
        &args.code.to_uppercase(),
        Code::ALL.iter().map(|c| c.as_str()),
    )
    .map(|h| format!("\nhelp: {h}"))
    .unwrap_or_default();
    eprintln!(
        "error: unknown diagnostic code `{}`{help}\nnote: the codes are {}",
        args.code,
        Code::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    super::exit::USAGE
}
