//! The command line: argument parsing (clap), file reading, printing, exit codes.
//!
//! This is the only module that prints or reads files for the compiler phases. Each
//! subcommand lives in its own file and returns its exit code or the `error::Error` it
//! ended on, which [`main`] prints (`error: …`) with the error's exit code; `main` also
//! installs the panic hook that turns a bug into exit 101 with a request to report it.
#![allow(clippy::print_stdout, clippy::print_stderr)] // Reason: the CLI is where output happens.
#![allow(clippy::disallowed_methods)] // Reason: the CLI reads files and the environment.

mod check;
mod compile;
mod containers;
mod decisions;
mod durable;
mod error;
mod execute;
mod explain;
mod files;
mod fmt;
mod graph;
mod history;
mod import;
mod init;
mod lsp;
mod manuals;
mod output;
mod prune;
mod run;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

/// Exit codes (CLI.md).
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const INVALID: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const HELD: u8 = 3;
    pub(crate) const STOPPED: u8 = 130;
    pub(crate) const INTERNAL: u8 = 101;
}

#[derive(Parser)]
#[command(
    name = "pipec",
    version,
    about = "A typed release-pipeline language: check, compile and run `.pipe` files",
    long_about = "pipec checks, compiles and runs `.pipe` release pipelines: stages, actions, \
artifacts, variables, conditions, transitions, approvals, retries and rollback, with the \
semantics of AWS CodePipeline's release model.",
    after_help = "Examples:\n  pipec check                      check every .pipe file under the current folder\n  pipec check ci/app.pipe --format short\n  pipec compile ci/app.pipe -o app.ir.json\n  pipec explain E0201              what a diagnostic code means, with a fix\n  pipec run ci/app.pipe            run it here (history in the nearest .pipec/)\n  pipec show last                  what the newest run did; `pipec logs last` its output"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print only errors, diagnostics, warnings and the output asked for: no progress,
    /// notes or summaries (every subcommand).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more: each action's output as it runs (`run`, `resume`, `retry`, `rollback`),
    /// each file as it is checked or formatted, the state directory used, why a pruned run
    /// was kept (every subcommand).
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    Check(check::Args),
    Compile(compile::Args),
    Explain(explain::Args),
    Run(run::Args),
    Runs(history::RunsArgs),
    Show(history::ShowArgs),
    Logs(history::LogsArgs),
    Stop(history::StopArgs),
    Resume(durable::ResumeArgs),
    Retry(durable::RetryArgs),
    /// Approve an approval action of a run (then `pipec resume` a held run)
    Approve(decisions::DecideArgs),
    /// Reject an approval action of a run: the action fails, and its stage with it
    Reject(decisions::DecideArgs),
    Override(decisions::OverrideArgs),
    Transition(decisions::TransitionArgs),
    Rollback(durable::RollbackArgs),
    Graph(graph::Args),
    Fmt(fmt::Args),
    /// Import a pipeline from another tool (`pipec import codepipeline FILE`)
    Import(import::Args),
    Lsp(lsp::Args),
    Serve(serve::Args),
    Init(init::Args),
    Prune(prune::Args),
    Completions(manuals::CompletionsArgs),
    Man(manuals::ManArgs),
}

/// Runs the CLI and returns its exit code.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        // The reader of our output went away (`pipec show --json | head -1`): not a bug.
        // End quietly, as a program killed by SIGPIPE would (128 + 13).
        if payload.contains("failed printing to stdout") && payload.contains("Broken pipe") {
            std::process::exit(141);
        }
        eprintln!(
            "error: internal error in pipec {}, please report it with the input that caused it\n  {payload}{location}",
            env!("CARGO_PKG_VERSION")
        );
    }));
    let parsed = Cli::command()
        .color(output::clap_color())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    output::set(if cli.quiet {
        output::Level::Quiet
    } else if cli.verbose {
        output::Level::Verbose
    } else {
        output::Level::Normal
    });
    // A generous stack: checking recurses over expressions (bounded by the parser's limits),
    // and a crash must never be a raw stack overflow. A panic ends the thread; the hook above
    // has already asked the user to report it.
    let worker = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let outcome = command(cli.command);
            // The one place a command's error is printed.
            outcome.unwrap_or_else(|e| {
                if e.says_something() {
                    eprintln!("error: {e}");
                }
                e.code()
            })
        });
    // This thread only waits: SIGCHLD (one per process an action ends) goes to the worker,
    // which is woken by its end anyway, instead of waking this one every time.
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&nix::sys::signal::SigSet::from(
            nix::sys::signal::Signal::SIGCHLD,
        )),
        None,
    );
    let code = match worker {
        Ok(handle) => handle.join().unwrap_or(exit::INTERNAL),
        Err(e) => {
            eprintln!("error: cannot start pipec's worker thread: {e}");
            exit::INTERNAL
        }
    };
    ExitCode::from(code)
}

/// Runs a command: its exit code, or the error it ended on.
fn command(command: Command) -> error::Outcome {
    match command {
        Command::Check(a) => check::run(&a),
        Command::Compile(a) => compile::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Run(a) => run::run(&a),
        Command::Runs(a) => history::runs(&a),
        Command::Show(a) => history::show(&a),
        Command::Logs(a) => history::logs(&a),
        Command::Stop(a) => history::stop(&a),
        Command::Resume(a) => durable::resume(&a),
        Command::Retry(a) => durable::retry(&a),
        Command::Approve(a) => decisions::approve(&a),
        Command::Reject(a) => decisions::reject(&a),
        Command::Override(a) => decisions::override_condition(&a),
        Command::Transition(a) => decisions::transition(&a),
        Command::Rollback(a) => durable::rollback(&a),
        Command::Graph(a) => graph::run(&a),
        Command::Fmt(a) => fmt::run(&a),
        Command::Import(a) => import::run(&a),
        Command::Lsp(a) => lsp::run(&a),
        Command::Serve(a) => serve::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Prune(a) => prune::run(&a),
        Command::Completions(a) => manuals::completions(&a),
        Command::Man(a) => manuals::man(&a),
    }
}

/// Stack of the thread that runs a command.
const STACK_SIZE: usize = 256 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every subcommand, at any depth, has `--quiet` and `--verbose` (global flags).
    #[test]
    fn every_subcommand_takes_quiet_and_verbose() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut stack: Vec<&clap::Command> = cmd.get_subcommands().collect();
        assert!(stack.len() > 20, "the subcommands");
        while let Some(sub) = stack.pop() {
            // clap's own `pipec help SUBCOMMAND` prints help and takes no flags.
            if sub.get_name() == "help" {
                continue;
            }
            for flag in ["quiet", "verbose"] {
                assert!(
                    sub.get_arguments()
                        .any(|a| a.get_id() == flag && a.is_global_set()),
                    "`pipec {}` has no global `--{flag}`",
                    sub.get_name()
                );
            }
            stack.extend(sub.get_subcommands());
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
