//! The open documents, and when each is analysed.
//!
//! Every change of a document's text (or of an open file it imports) bumps its
//! *generation*. At most one analysis of a document runs at a time, on a blocking thread
//! (never on the server's async thread, never under the documents' lock); when it ends, its
//! result is kept and published only if the generation did not move meanwhile, otherwise it
//! is dropped and the latest text is analysed at once. So a burst of changes costs at most
//! the analysis running when it started plus one of the last text, an edit alone costs no
//! waiting, and diagnostics of an older text are never published after a newer one's.
//! Requests wait (briefly) for the analysis of the current text, so their byte offsets
//! always refer to the text the editor sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

use super::convert::LineIndex;
use crate::check::{LoadError, Loader};
use crate::ide::Analysis;

/// How long a request waits for the analysis of the current text before it answers from
/// the last one (an analysis never takes this long unless something is wrong).
const FRESH_WAIT: Duration = Duration::from_secs(5);

/// An open document.
pub(super) struct Doc {
    pub(super) text: Arc<String>,
    /// The name the checker knows it by: its path, or the URI when it has none.
    pub(super) name: String,
    pub(super) version: Option<i32>,
    /// The analysis of the last generation analysed.
    pub(super) analysis: Arc<Analysis>,
    generation: u64,
    /// A task is analysing this document (it analyses again itself when the generation
    /// moved on while it ran).
    analysing: bool,
    /// The text changed since the last analysis ended: the open files that import this one
    /// are analysed again after the next.
    text_changed: bool,
    /// Woken when an analysis of the current generation ends.
    ready: Arc<Notify>,
}

/// What one analysis works on: a snapshot taken under the lock.
pub(super) struct Job {
    pub(super) generation: u64,
    pub(super) name: String,
    pub(super) text: Arc<String>,
    /// The open documents' texts by name, for imports.
    pub(super) overlay: HashMap<String, Arc<String>>,
}

/// How an analysis ended.
pub(super) enum Finished {
    /// The document changed meanwhile: the result was dropped; analyse again.
    Stale,
    /// The document was closed.
    Closed,
    /// Kept (`None`: the analysis panicked and the last one stays). `importers`: the open
    /// documents to analyse again because this one's text changed.
    Current {
        analysis: Option<Arc<Analysis>>,
        version: Option<i32>,
        importers: Vec<Uri>,
    },
}

/// The open documents, shared by the handlers and the analysis tasks.
#[derive(Clone, Default)]
pub(super) struct Docs(Arc<Mutex<HashMap<Uri, Doc>>>);

impl Docs {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uri, Doc>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens (or reopens) a document. Returns whether an analysis task must be started.
    pub(super) fn open(&self, uri: &Uri, name: String, text: String, version: i32) -> bool {
        let mut docs = self.lock();
        let doc = docs.entry(uri.clone()).or_insert_with(|| Doc {
            text: Arc::new(String::new()),
            analysis: Arc::new(Analysis::new(&name, "", &mut crate::check::NoLoader)),
            name: name.clone(),
            version: None,
            generation: 0,
            analysing: false,
            text_changed: false,
            ready: Arc::new(Notify::new()),
        });
        doc.name = name;
        doc.text = Arc::new(text);
        doc.version = Some(version);
        bump(doc, true)
    }

    /// Applies changes to an open document. Returns whether an analysis task must be
    /// started (`false` also for a document that is not open).
    pub(super) fn change(
        &self,
        uri: &Uri,
        changes: Vec<TextDocumentContentChangeEvent>,
        version: i32,
    ) -> bool {
        let mut docs = self.lock();
        let Some(doc) = docs.get_mut(uri) else {
            return false;
        };
        let text = Arc::make_mut(&mut doc.text);
        for change in changes {
            apply(text, change);
        }
        doc.version = Some(version);
        bump(doc, true)
    }

    /// Closes a document. Returns the open documents that imported it (to analyse again:
    /// they read it from disk now), each with whether a task must be started.
    pub(super) fn close(&self, uri: &Uri) -> Vec<(Uri, bool)> {
        let mut docs = self.lock();
        let Some(closed) = docs.remove(uri) else {
            return Vec::new();
        };
        closed.ready.notify_waiters();
        importers(&mut docs, uri, &closed.name)
    }

    /// The snapshot an analysis of `uri` works on; `None` once it is closed.
    pub(super) fn job(&self, uri: &Uri) -> Option<Job> {
        let docs = self.lock();
        let doc = docs.get(uri)?;
        Some(Job {
            generation: doc.generation,
            name: doc.name.clone(),
            text: Arc::clone(&doc.text),
            overlay: docs
                .values()
                .map(|d| (d.name.clone(), Arc::clone(&d.text)))
                .collect(),
        })
    }

    /// Records the end of an analysis of generation `generation` of `uri`.
    pub(super) fn finish(
        &self,
        uri: &Uri,
        generation: u64,
        analysis: Option<Analysis>,
    ) -> Finished {
        let mut docs = self.lock();
        let Some(doc) = docs.get_mut(uri) else {
            return Finished::Closed;
        };
        if doc.generation != generation {
            return Finished::Stale;
        }
        let analysis = analysis.map(Arc::new);
        if let Some(a) = &analysis {
            doc.analysis = Arc::clone(a);
        }
        doc.analysing = false;
        doc.ready.notify_waiters();
        let cascade = std::mem::take(&mut doc.text_changed);
        let (version, name) = (doc.version, doc.name.clone());
        let importers = if cascade {
            importers(&mut docs, uri, &name)
                .into_iter()
                .filter_map(|(other, start)| start.then_some(other))
                .collect()
        } else {
            Vec::new()
        };
        Finished::Current {
            analysis,
            version,
            importers,
        }
    }

    /// The analysis of the current text of `uri` (waiting for it while one runs), with the
    /// text it analysed.
    pub(super) async fn current(&self, uri: &Uri) -> Option<(Arc<Analysis>, Arc<String>)> {
        let ready = {
            let docs = self.lock();
            let doc = docs.get(uri)?;
            if !doc.analysing {
                return Some((Arc::clone(&doc.analysis), Arc::clone(&doc.text)));
            }
            Arc::clone(&doc.ready)
        };
        // Registered before the lock is taken again, so an end in between is not missed.
        let notified = ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let done = {
            let docs = self.lock();
            docs.get(uri).is_none_or(|d| !d.analysing)
        };
        if !done {
            let _ = tokio::time::timeout(FRESH_WAIT, notified).await;
        }
        let docs = self.lock();
        let doc = docs.get(uri)?;
        Some((Arc::clone(&doc.analysis), Arc::clone(&doc.text)))
    }

    /// The last analysis of `uri` as it is (for answers about other open documents).
    pub(super) fn last(&self, uri: &Uri) -> Option<(String, Arc<Analysis>)> {
        self.lock()
            .get(uri)
            .map(|d| (d.name.clone(), Arc::clone(&d.analysis)))
    }

    /// The open documents other than `except`, with their last analyses.
    pub(super) fn others(&self, except: &Uri) -> Vec<(Uri, Arc<Analysis>)> {
        self.lock()
            .iter()
            .filter(|(uri, _)| *uri != except)
            .map(|(uri, d)| (uri.clone(), Arc::clone(&d.analysis)))
            .collect()
    }

    /// The current text of `uri`.
    pub(super) fn text(&self, uri: &Uri) -> Option<Arc<String>> {
        self.lock().get(uri).map(|d| Arc::clone(&d.text))
    }
}

/// A new generation of `doc`. Returns whether an analysis task must be started.
fn bump(doc: &mut Doc, text_changed: bool) -> bool {
    doc.generation += 1;
    doc.text_changed |= text_changed;
    !std::mem::replace(&mut doc.analysing, true)
}

/// The open documents (other than `uri`) whose last analysis imports the file `name`, each
/// moved to a new generation, with whether a task must be started for it.
fn importers(docs: &mut HashMap<Uri, Doc>, uri: &Uri, name: &str) -> Vec<(Uri, bool)> {
    docs.iter_mut()
        .filter(|(other, doc)| *other != uri && doc.analysis.imports(name))
        .map(|(other, doc)| (other.clone(), bump(doc, false)))
        .collect()
}

fn apply(text: &mut String, change: TextDocumentContentChangeEvent) {
    match change.range {
        Some(range) => {
            let lines = LineIndex::new(text);
            let start = lines.offset(range.start);
            let end = lines.offset(range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
        None => *text = change.text,
    }
}

/// Analyses a text, reading imports from the open documents first, then from disk. `None`
/// when the analysis panicked (a bug; the hook has printed it to the editor's log).
pub(super) fn analyse(job: &Job) -> Option<Analysis> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut loader = OverlayLoader { open: &job.overlay };
        Analysis::new(&job.name, &job.text, &mut loader)
    }))
    .ok()
}

/// Reads imports from open documents first, then from disk.
struct OverlayLoader<'a> {
    open: &'a HashMap<String, Arc<String>>,
}

impl Loader for OverlayLoader<'_> {
    fn read(&mut self, path: &str) -> Result<String, LoadError> {
        if let Some(text) = self.open.get(path) {
            return Ok(text.as_str().to_string());
        }
        crate::cli::files::read_source(std::path::Path::new(path))
            .map_err(|e| crate::cli::files::load_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::{Docs, Finished, analyse};
    use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

    fn full(text: &str) -> Vec<TextDocumentContentChangeEvent> {
        vec![TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: text.to_string(),
        }]
    }

    #[test]
    fn a_result_for_an_older_text_is_dropped_and_the_latest_is_analysed() {
        let docs = Docs::default();
        let uri: Uri = "file:///work/a.pipe".parse().expect("a URI");
        let name = "/work/a.pipe".to_string();
        assert!(
            docs.open(&uri, name, "pipeline a {}".into(), 1),
            "a task starts"
        );
        let first = docs.job(&uri).expect("open");
        // Changes while it runs start no other task.
        for version in 2..=5 {
            assert!(!docs.change(&uri, full("pipeline b {}"), version));
        }
        let stale = analyse(&first);
        assert!(matches!(
            docs.finish(&uri, first.generation, stale),
            Finished::Stale
        ));
        let last = docs.job(&uri).expect("open");
        assert_eq!(last.text.as_str(), "pipeline b {}");
        match docs.finish(&uri, last.generation, analyse(&last)) {
            Finished::Current {
                analysis: Some(a),
                version,
                ..
            } => {
                assert_eq!(version, Some(5));
                assert_eq!(&*a.source_map().get(a.root()).text, "pipeline b {}");
            }
            _ => panic!("the last text's analysis is kept"),
        }
        // Idle again: the next change starts a task.
        assert!(docs.change(&uri, full("pipeline c {}"), 6));
    }
}
