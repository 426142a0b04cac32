//! Big files: the pipeline's stages are cut out of the text and parsed on worker threads,
//! then handed to the checker one at a time, in file order.
//!
//! The rest of the file (the skeleton: imports, templates, pipeline items other than stages;
//! the stages' text is cut out and spans are mapped back) is parsed first. Each stage is then
//! parsed on its own with the same grammar (entry rule `stage_chunk`) by one of up to two
//! workers, which send them in batches over small bounded channels.
//! The checker checks each stage and drops its syntax tree before taking the next, so
//! neither pest's token queue nor the AST of the whole file is ever held at once, and the
//! two cores share the parsing. A stage that fails to parse makes the stream return
//! [`Restart`]: the caller then parses the whole file with error recovery, so diagnostics
//! never depend on this path.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

use pest::Parser as _;

use super::{ParseResult, Parser, PipeGrammar, Rule, lower, scan};
use crate::ast::{File, Item, Stage};
use crate::diagnostics::Diagnostic;
use crate::source::FileId;

/// Files at least this large are streamed.
pub const STREAMED_FROM: usize = 64 * 1024;
/// Stages a worker sends at once: a message per stage cost a futex wait and wake each (the
/// checker is faster than a worker and usually waits), about 3 system calls per stage.
const BATCH: usize = 8;
/// Batches parsed ahead of the checker, per worker.
const AHEAD: usize = 2;

/// The outcome of [`Parser::parse_streamed`].
pub enum Parsed {
    /// The whole file, parsed at once.
    Whole(ParseResult),
    /// The skeleton (every item but the pipeline's stages) and the stages to come.
    Streamed(File, Vec<Diagnostic>, StageStream),
}

/// A stage failed to parse on its own: parse the whole file instead.
#[derive(Debug)]
pub struct Restart;

/// Up to [`BATCH`] consecutive stages, or `None` when one of them did not parse.
type Message = Option<Vec<(Stage, Vec<Diagnostic>)>>;

/// The pipeline's stages, in file order, as the workers parse them.
///
/// Checked stages are handed back ([`StageStream::done`]) and dropped by the worker that
/// built them: a free on the allocating thread is cheaper than one from another thread, and
/// the checker's thread does not spend its time freeing.
pub struct StageStream {
    receivers: Vec<Receiver<Message>>,
    /// To each worker: its checked stages, to drop.
    returns: Vec<Sender<Vec<Stage>>>,
    /// The checked stages of the current batch.
    checked: Vec<Stage>,
    /// The batches to come.
    batches: usize,
    /// The next batch's number.
    next: usize,
    /// The current batch, reversed (the next stage last).
    current: Vec<(Stage, Vec<Diagnostic>)>,
}

impl StageStream {
    /// The next stage and its literal diagnostics (E0103), or `None` after the last.
    pub fn next_stage(&mut self) -> Result<Option<(Stage, Vec<Diagnostic>)>, Restart> {
        if let Some(stage) = self.current.pop() {
            return Ok(Some(stage));
        }
        self.hand_back();
        if self.next == self.batches {
            return Ok(None);
        }
        let rx = &self.receivers[self.next % self.receivers.len()];
        match rx.recv() {
            Ok(Some(mut batch)) => {
                self.next += 1;
                batch.reverse();
                self.current = batch;
                Ok(self.current.pop())
            }
            _ => Err(Restart),
        }
    }

    /// A stage from [`StageStream::next_stage`], checked: its worker drops it.
    pub fn done(&mut self, stage: Stage) {
        self.checked.push(stage);
    }

    /// Sends the checked stages of the last batch to the worker that parsed it (a worker
    /// that has ended no longer receives: they are dropped here then).
    fn hand_back(&mut self) {
        if self.checked.is_empty() || self.next == 0 {
            return;
        }
        let to = &self.returns[(self.next - 1) % self.returns.len()];
        let _ = to.send(std::mem::take(&mut self.checked));
    }
}

impl Drop for StageStream {
    fn drop(&mut self) {
        self.hand_back();
    }
}

impl Parser {
    /// Parses `src`, streaming the stages of a big, well-formed file (see the module docs).
    pub fn parse_streamed(file: FileId, src: &Arc<str>) -> Parsed {
        Parser::parse_streamed_from(file, src, STREAMED_FROM)
    }

    /// [`Parser::parse_streamed`] with another size threshold (tests use 0).
    pub fn parse_streamed_from(file: FileId, src: &Arc<str>, threshold: usize) -> Parsed {
        match stream(file, src, threshold) {
            Some((skeleton, diagnostics, stages)) => {
                Parsed::Streamed(skeleton, diagnostics, stages)
            }
            None => Parsed::Whole(Parser::parse(file, src)),
        }
    }
}

fn stream(
    file: FileId,
    src: &Arc<str>,
    threshold: usize,
) -> Option<(File, Vec<Diagnostic>, StageStream)> {
    if src.len() < threshold {
        return None;
    }
    let scanned = scan::scan(file, src);
    if !scanned.diagnostics.is_empty() || scanned.too_deep {
        return None;
    }
    let ranges = super::stage_ranges(&scanned.text, &scanned.braces);
    if ranges.len() < 2 {
        return None;
    }
    let mut lowerer = lower::Lowerer::new(file, src);
    let skeleton = {
        let (skeleton_text, cuts) = cut(&scanned.text, &ranges);
        lowerer.cuts = cuts;
        let mut pairs = PipeGrammar::parse(Rule::file, &skeleton_text).ok()?;
        lowerer.lower_file(pairs.next()?)
    };
    // Exactly one pipeline, and every one of its stages cut out: a stage the lexical cut
    // missed (its header written unusually) would be checked out of file order.
    let mut pipelines = skeleton.items.iter().filter_map(|i| match i {
        Item::Pipeline(p) => Some(p),
        _ => None,
    });
    let pipeline = pipelines.next()?;
    if pipelines.next().is_some()
        || pipeline
            .items
            .iter()
            .any(|i| matches!(i, crate::ast::PipelineItem::Stage(_)))
    {
        return None;
    }
    // Without diagnostics the scan patched nothing: the workers parse `src` itself.
    debug_assert_eq!(scanned.text, **src);
    drop(scanned);
    let ranges = Arc::new(ranges);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(2);
    let mut receivers = Vec::with_capacity(workers);
    let mut returns = Vec::with_capacity(workers);
    for w in 0..workers {
        let (tx, rx) = sync_channel::<Message>(AHEAD);
        let (return_tx, checked) = channel::<Vec<Stage>>();
        let (ranges, src) = (Arc::clone(&ranges), Arc::clone(src));
        let spawned = std::thread::Builder::new()
            .name(format!("pipec-parse-{w}"))
            .stack_size(16 << 20)
            .spawn(move || {
                let mut lowerer = lower::Lowerer::new(file, &src);
                for batch in ranges.chunks(BATCH).skip(w).step_by(workers) {
                    let message: Message = batch
                        .iter()
                        .map(|r| {
                            let mut pairs =
                                PipeGrammar::parse(Rule::stage_chunk, &src[r.clone()]).ok()?;
                            lowerer.base = r.start;
                            let stage = lowerer.stage_chunk(pairs.next()?)?;
                            Some((stage, std::mem::take(&mut lowerer.diagnostics)))
                        })
                        .collect();
                    let failed = message.is_none();
                    if tx.send(message).is_err() || failed {
                        return;
                    }
                    checked.try_iter().for_each(drop);
                }
                // Until the stream is dropped.
                checked.iter().for_each(drop);
            });
        spawned.ok()?;
        receivers.push(rx);
        returns.push(return_tx);
    }
    let batches = ranges.len().div_ceil(BATCH);
    Some((
        skeleton,
        lowerer.diagnostics,
        StageStream {
            receivers,
            returns,
            checked: Vec::new(),
            batches,
            next: 0,
            current: Vec::new(),
        },
    ))
}

/// `text` without the byte ranges `ranges` (sorted, disjoint), and the cuts that map its
/// offsets back (see `Lowerer::cuts`). Cutting the stages out, rather than blanking them,
/// keeps the skeleton small: pest would otherwise step over the blank once per optional
/// part that might follow it.
fn cut(text: &str, ranges: &[std::ops::Range<usize>]) -> (String, Vec<(usize, usize)>) {
    let mut out = String::with_capacity(
        text.len() - ranges.iter().map(ExactSizeIterator::len).sum::<usize>(),
    );
    let mut cuts = Vec::with_capacity(ranges.len());
    let mut at = 0;
    for r in ranges {
        out.push_str(&text[at..r.start]);
        cuts.push((out.len(), r.end - out.len()));
        at = r.end;
    }
    out.push_str(&text[at..]);
    (out, cuts)
}
