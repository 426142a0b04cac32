//! `pipec graph`: draws a pipeline (Graphviz `dot` or Mermaid) on stdout.

use std::path::PathBuf;

use crate::ir::graph::{Format, render};

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    /// Graphviz (`pipec graph app.pipe | dot -Tsvg > app.svg`).
    Dot,
    /// Mermaid (for Markdown: inside a fenced block marked mermaid).
    Mermaid,
}

/// Draw a pipeline: stages with their actions, the stage graph's edges with guards and
/// disabled transitions, `after` order, and artifact flow.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec graph app.pipe | dot -Tsvg > app.svg\n  pipec graph app.pipe --format mermaid > app.mmd\n\nIn the drawing: stage edges are bold (dashed red when disabled, labelled with `when` guards), `after` order is a plain arrow, artifacts flow along dotted blue arrows labelled with their names.\nExit status: 0 drawn, 1 the file has errors, 2 unreadable input."
)]
pub(crate) struct Args {
    /// The `.pipe` file (or compiled IR JSON).
    file: PathBuf,
    /// The drawing's language.
    #[arg(long, value_enum, default_value = "dot")]
    format: GraphFormat,
}

pub(crate) fn run(args: &Args) -> super::error::Outcome {
    let (ir, _) = super::run::load_ir(&args.file, "draw")?;
    let format = match args.format {
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Mermaid => Format::Mermaid,
    };
    print!("{}", render(&ir, format));
    Ok(super::exit::OK)
}
