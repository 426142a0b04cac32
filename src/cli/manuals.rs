//! `pipec completions SHELL` and `pipec man`: shell completion scripts (`clap_complete`) and
//! manual pages (`clap_mangen`), both generated from the same clap definitions as the parser.
//!
//! The manual pages come from a command rather than a build step: they always describe the
//! binary that prints them (a `build.rs` would have to compile the CLI's definitions a
//! second time, outside `src/cli`, and slow every build), and packagers write them with one
//! call (`pipec man -o share/man/man1`).

use std::path::PathBuf;

use clap::CommandFactory as _;

use super::Cli;
use super::error::{Error, Outcome};

/// Print a shell completion script.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec completions bash > ~/.local/share/bash-completion/completions/pipec\n  pipec completions zsh > ~/.zfunc/_pipec         (with `fpath+=~/.zfunc` before `compinit`)\n  pipec completions fish > ~/.config/fish/completions/pipec.fish\n  pipec completions powershell >> $PROFILE"
)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Print the manual page, or write one per subcommand into a folder.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec man | man -l -                 read pipec(1)\n  pipec man -o /usr/local/share/man/man1   pipec.1 and pipec-SUBCOMMAND.1 for each subcommand"
)]
pub(crate) struct ManArgs {
    /// Write `pipec.1` and `pipec-SUBCOMMAND.1` for every subcommand into this folder
    /// (created if missing) instead of printing `pipec.1`.
    #[arg(long, short = 'o', value_name = "DIR")]
    out: Option<PathBuf>,
}

pub(crate) fn completions(args: &CompletionsArgs) -> Outcome {
    use std::io::Write as _;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "pipec", &mut script);
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| Error::usage(format!("cannot write the completion script: {e}")))?;
    Ok(super::exit::OK)
}

pub(crate) fn man(args: &ManArgs) -> Outcome {
    let cmd = Cli::command();
    let Some(dir) = &args.out else {
        clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| Error::usage(format!("cannot write the manual page: {e}")))?;
        return Ok(super::exit::OK);
    };
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(cmd, dir))
        .map_err(|e| {
            Error::usage(format!(
                "cannot write manual pages into `{}`: {e}",
                dir.display()
            ))
        })?;
    super::output::say(&format!("wrote the manual pages into `{}`", dir.display()));
    Ok(super::exit::OK)
}
