//! The runtime's errors: what stops a run (or a command on the history) as opposed to what
//! fails an action (an attempt's `Failure`, whose reason is text shown to the user). Each
//! variant says what went wrong with what; its message is the one the CLI prints after
//! `error: `.

use std::path::PathBuf;
use std::sync::Arc;

use super::status::UnknownStatus;

/// An error of the runtime.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The run history (`SQLite`) failed: a full disk, a locked or damaged database, ….
    #[error("run history: {0}")]
    History(Arc<rusqlite::Error>),
    /// The history holds a status this pipec does not know (a newer pipec wrote it).
    #[error("run history: {0}")]
    Unknown(UnknownStatus),
    /// The state directory cannot be created.
    #[error("cannot create the state directory `{}`: {source}", path.display())]
    StateDir {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    /// The history in a state directory cannot be opened.
    #[error("cannot open the run history in `{}`: {source}", dir.display())]
    Open {
        dir: PathBuf,
        source: Arc<rusqlite::Error>,
    },
    /// A folder of the state directory cannot be created.
    #[error("cannot create `{}`: {source}", path.display())]
    Create {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    /// A workspace cannot be made.
    #[error("cannot create the workspace `{}`: {source}", path.display())]
    Workspace {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    /// A run the history does not hold.
    #[error("run {0} is not in the history")]
    RunNotFound(String),
    /// A stage the pipeline does not have.
    #[error("pipeline `{pipeline}` has no stage `{stage}`")]
    NoStage { pipeline: String, stage: String },
    /// A recorded run that cannot go on as recorded: kept by an older pipec, or its
    /// recorded pipeline or params no longer read.
    #[error("{0}")]
    Recorded(String),
    /// The state directory's history was removed while the run waited for a stage's lock:
    /// nothing would record what it does, and nothing would end its wait.
    #[error("the run history `{}` was removed while this run waited for a stage; the run stops", path.display())]
    HistoryGone { path: PathBuf },
    /// `pipec prune` cannot remove or read a file of the state directory (what it removed
    /// before stays removed; what it did not is still there).
    #[error("cannot prune `{}`: {source}", path.display())]
    Prune {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
}

impl Error {
    /// An error of the history's database.
    pub fn history(e: rusqlite::Error) -> Error {
        if let rusqlite::Error::FromSqlConversionFailure(_, _, source) = &e {
            if let Some(unknown) = source.downcast_ref::<UnknownStatus>() {
                return Error::Unknown(unknown.clone());
            }
        }
        Error::History(Arc::new(e))
    }
}

/// A result of the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn history_errors_say_so() {
        let e = Error::history(rusqlite::Error::InvalidQuery);
        assert!(e.to_string().starts_with("run history: "), "{e}");
        assert_eq!(
            Error::RunNotFound("20261126-101500-3".into()).to_string(),
            "run 20261126-101500-3 is not in the history"
        );
    }

    #[test]
    fn an_unknown_status_read_from_the_history_is_named() {
        let unknown = super::UnknownStatus {
            level: "run",
            value: "paused".into(),
        };
        let read = rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            Box::new(unknown),
        );
        assert_eq!(
            Error::history(read).to_string(),
            "run history: unknown run status `paused`"
        );
    }
}
