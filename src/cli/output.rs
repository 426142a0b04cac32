//! What every subcommand prints besides its results, decided in one place: how much
//! (`--quiet`, `--verbose`, global flags that mean the same on every subcommand) and whether
//! in colour (`NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`).
//!
//! - `--quiet`: errors, diagnostics, warnings, and the output asked for (stdout: JSON, a
//!   diff, a log, a list) only; no progress, notes, summaries or hints on stderr.
//! - `--verbose`: everything, and the details that are otherwise left out (each action's
//!   output as it runs, each file as it is checked or formatted, why each pruned run was kept,
//!   which state directory a command uses).

use std::io::IsTerminal as _;
use std::sync::OnceLock;

/// How much a command says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

static LEVEL: OnceLock<Level> = OnceLock::new();

/// Sets the level for the whole process (once, from the global flags).
pub(crate) fn set(level: Level) {
    let _ = LEVEL.set(level);
}

pub(crate) fn level() -> Level {
    LEVEL.get().copied().unwrap_or_default()
}

/// `--verbose` was given.
pub(crate) fn verbose() -> bool {
    level() == Level::Verbose
}

/// `--quiet` was given.
pub(crate) fn quiet() -> bool {
    level() == Level::Quiet
}

/// A line for people on stderr (progress, a note, a summary): not under `--quiet`.
pub(crate) fn say(text: &str) {
    if !quiet() {
        eprintln!("{text}");
    }
}

/// A detail on stderr: only under `--verbose`.
pub(crate) fn detail(text: &str) {
    if verbose() {
        eprintln!("{text}");
    }
}

/// Whether to write colour on a stream: never with `NO_COLOR` (set and not empty), always
/// with `CLICOLOR_FORCE` (set, not empty and not `0`), never with `CLICOLOR=0`; otherwise
/// when the stream is a terminal.
pub(crate) fn color(is_terminal: bool) -> bool {
    decide(
        |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        is_terminal,
    )
}

/// Colour on stderr, where people read diagnostics and progress.
pub(crate) fn color_stderr() -> bool {
    color(std::io::stderr().is_terminal())
}

/// The rule of [`color`], over any source of variables.
fn decide(var: impl Fn(&str) -> Option<String>, is_terminal: bool) -> bool {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if set("CLICOLOR").is_some_and(|v| v == "0") {
        return false;
    }
    is_terminal
}

/// clap's colour for help and usage errors, by the same rule (`Auto`: each stream's own
/// terminal test).
pub(crate) fn clap_color() -> clap::ColorChoice {
    let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    if !decide(var, true) {
        clap::ColorChoice::Never
    } else if decide(var, false) {
        clap::ColorChoice::Always
    } else {
        clap::ColorChoice::Auto
    }
}

#[cfg(test)]
mod tests {
    use super::decide;

    fn with(vars: &[(&str, &str)], terminal: bool) -> bool {
        decide(
            |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_string())
            },
            terminal,
        )
    }

    #[test]
    fn no_color_wins_over_everything() {
        assert!(!with(&[("NO_COLOR", "1")], true));
        assert!(!with(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")], true));
    }

    #[test]
    fn clicolor_force_colours_what_is_not_a_terminal() {
        assert!(with(&[("CLICOLOR_FORCE", "1")], false));
        assert!(!with(&[("CLICOLOR_FORCE", "0")], false));
        // Empty means unset (no-color.org).
        assert!(!with(&[("CLICOLOR_FORCE", "")], false));
        assert!(with(&[("NO_COLOR", "")], true));
    }

    #[test]
    fn clicolor_zero_turns_a_terminal_off_and_the_default_follows_the_terminal() {
        assert!(!with(&[("CLICOLOR", "0")], true));
        assert!(with(&[], true));
        assert!(!with(&[], false));
    }
}
