//! The history's writer: a thread with a connection of its own that commits batches of
//! changes in order, merging the batches that wait into one transaction (group commit). The
//! scheduler does not wait for the commit of an end nothing depends on, yet it is in the
//! history within moments; `flush` commits what is queued after whatever the writer holds.

use std::path::Path;

use rusqlite::Connection;

use super::changes::{Change, apply};
use super::{History, immediate, sql};
use crate::runtime::error::Error;

/// The writer thread and what it has not committed yet.
pub(super) struct Writer {
    tx: Option<std::sync::mpsc::Sender<Batch>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The first error of a batch nobody waited for (reported at the next flush).
    failed: std::sync::Arc<std::sync::Mutex<Option<Error>>>,
    /// Batches sent and not committed yet.
    pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct Batch {
    changes: Vec<Change>,
    /// Told when the batch is committed (a flush waits for it).
    done: Option<std::sync::mpsc::SyncSender<Result<(), Error>>>,
    /// Told too, for the scheduler (`History::committed`).
    notify: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Writer {
    fn start(path: &Path) -> Result<Writer, Error> {
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        let (tx, rx) = std::sync::mpsc::channel::<Batch>();
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = failed.clone();
        let pending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let left = pending.clone();
        let thread = std::thread::Builder::new()
            .name("pipec-history".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // What came while the last commit went on is committed together.
                    let mut batches = vec![first];
                    batches.extend(rx.try_iter());
                    let result = immediate(&conn).and_then(|t| {
                        for c in batches.iter().flat_map(|b| &b.changes) {
                            apply(&t, c)?;
                        }
                        t.commit().map_err(sql)
                    });
                    if let Err(e) = &result {
                        if let Ok(mut f) = seen.lock() {
                            f.get_or_insert_with(|| e.clone());
                        }
                    }
                    left.fetch_sub(batches.len(), std::sync::atomic::Ordering::SeqCst);
                    for b in batches {
                        if let Some(done) = b.done {
                            let _ = done.send(result.clone());
                        }
                        if let Some(n) = b.notify {
                            let _ = n.send(());
                        }
                    }
                }
            })
            .map_err(|e| Error::Thread {
                what: "history writer",
                source: e.into(),
            })?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            failed,
            pending,
        })
    }
}

impl History {
    /// Commits whatever is queued (and whatever the writer has not committed yet), and
    /// returns once it is committed.
    pub fn flush(&self) -> Result<(), Error> {
        let changes = self.take_queued();
        let writer = self.writer.borrow();
        // The writer has something to commit: these changes come after it.
        let busy = writer
            .as_ref()
            .filter(|w| w.pending.load(std::sync::atomic::Ordering::SeqCst) > 0);
        if let Some(w) = busy {
            w.pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (done, wait) = std::sync::mpsc::sync_channel(1);
            let sent = w.tx.as_ref().is_some_and(|tx| {
                tx.send(Batch {
                    changes,
                    done: Some(done),
                    notify: None,
                })
                .is_ok()
            });
            if !sent {
                return Err(Error::WriterStopped);
            }
            wait.recv().map_err(|_| Error::WriterStopped)??;
            return match w.failed.lock().map(|mut f| f.take()) {
                Ok(Some(e)) => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(Some(e)) = writer
            .as_ref()
            .map(|w| w.failed.lock().ok().and_then(|mut f| f.take()))
        {
            return Err(e);
        }
        if changes.is_empty() {
            return Ok(());
        }
        let tx = immediate(&self.conn)?;
        for c in &changes {
            apply(&tx, c)?;
        }
        tx.commit().map_err(sql)
    }

    /// Hands whatever is queued to the writer, to be committed at once without waiting.
    pub fn commit_soon(&self) -> Result<(), Error> {
        let changes = self.take_queued();
        if changes.is_empty() {
            return Ok(());
        }
        self.send(changes, None)
    }

    /// Hands whatever is queued to the writer; resolves once it (and everything handed
    /// over before) is committed.
    pub fn committed(&self) -> Result<tokio::sync::oneshot::Receiver<()>, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let changes = self.take_queued();
        if changes.is_empty() && self.writer.borrow().is_none() {
            let _ = tx.send(());
            return Ok(rx);
        }
        self.send(changes, Some(tx))?;
        Ok(rx)
    }

    fn send(
        &self,
        changes: Vec<Change>,
        notify: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<(), Error> {
        if self.writer.borrow().is_none() {
            let w = Writer::start(&self.layout().history())?;
            *self.writer.borrow_mut() = Some(w);
        }
        let writer = self.writer.borrow();
        let sent = writer.as_ref().is_some_and(|w| {
            w.pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            w.tx.as_ref().is_some_and(|tx| {
                tx.send(Batch {
                    changes,
                    done: None,
                    notify,
                })
                .is_ok()
            })
        });
        if sent {
            Ok(())
        } else {
            Err(Error::WriterStopped)
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        // Everything sent is committed before the history goes away.
        if let Some(mut w) = self.writer.get_mut().take() {
            drop(w.tx.take());
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}
