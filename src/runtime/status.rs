//! The statuses of a run, a stage and an action: one enum per level (and how a stage was
//! decided, `Decided`), written as text only
//! at the edges (the history's SQL, `--json`, progress lines) through `as_str`, and read
//! back with `FromStr`, which names an unknown value instead of guessing.

use std::fmt;
use std::str::FromStr;

/// A status text the history holds that this pipec does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {level} status `{value}`")]
pub struct UnknownStatus {
    pub level: &'static str,
    pub value: String,
}

macro_rules! status {
    ($(#[$doc:meta])* $name:ident, $level:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The text the history, `--json` and progress lines use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<$name, UnknownStatus> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownStatus { level: $level, value: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad`: widths and alignment apply (`pipec runs` lines statuses up).
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<$name> {
                let text = v.as_str()?;
                text.parse().map_err(|e: UnknownStatus| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

status!(
    /// A run's status (`runs.status`); every one but `Running` is how a process left it.
    RunStatus, "run", {
        /// A process is running it (or was, until it died: `pipec show` says so).
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Held: an approval, a disabled transition or a closed window (exit 3).
        Waiting = "waiting",
        Stopped = "stopped",
        Superseded = "superseded",
    }
);

status!(
    /// A stage's status (`stages.status`, `Progress::Stage`).
    StageStatus, "stage", {
        Pending = "pending",
        Running = "running",
        /// Held: an approval, a disabled transition, a closed window.
        Waiting = "waiting",
        Succeeded = "succeeded",
        Failed = "failed",
        Skipped = "skipped",
        /// Did not finish: the run was stopped, or failed elsewhere.
        Abandoned = "abandoned",
        /// Shown only (never recorded): `on failure rollback` is running the stage again.
        RollingBack = "rolling back",
    }
);

status!(
    /// An action's status (`actions.status`, `Progress::Action`).
    ActionStatus, "action", {
        Pending = "pending",
        Running = "running",
        /// An approval waiting for its decision.
        Waiting = "waiting",
        Succeeded = "succeeded",
        Failed = "failed",
        Skipped = "skipped",
        /// Did not finish: the run was stopped, or (an approval) it was not decided.
        Abandoned = "abandoned",
        /// Shown only (never recorded): an attempt failed and another follows its backoff.
        Retrying = "retrying",
    }
);

status!(
    /// How a stage was decided (`stages.verdict`): what a resumed run goes on from.
    Decided, "stage verdict", {
        Runs = "runs",
        Skipped = "skipped",
        /// Skipped, and no edge out of it is taken either.
        NotReached = "not-reached",
        Held = "held",
        Fails = "fails",
    }
);

impl RunStatus {
    /// Whether the run has ended (`running` and `waiting` runs go on).
    pub fn ended(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::Waiting)
    }
}

impl StageStatus {
    /// Whether it has ended, for this round of its run.
    pub fn ended(self) -> bool {
        matches!(
            self,
            StageStatus::Succeeded
                | StageStatus::Failed
                | StageStatus::Skipped
                | StageStatus::Abandoned
        )
    }
}

impl ActionStatus {
    /// Whether it has ended, for this round of its stage.
    pub fn ended(self) -> bool {
        matches!(
            self,
            ActionStatus::Succeeded
                | ActionStatus::Failed
                | ActionStatus::Skipped
                | ActionStatus::Abandoned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{ActionStatus, RunStatus, StageStatus};

    #[test]
    fn each_status_reads_back_from_its_text() {
        for s in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Waiting,
            RunStatus::Stopped,
            RunStatus::Superseded,
        ] {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        for s in [
            StageStatus::Pending,
            StageStatus::Abandoned,
            StageStatus::RollingBack,
        ] {
            assert_eq!(s.to_string().parse::<StageStatus>(), Ok(s));
        }
        for s in [ActionStatus::Waiting, ActionStatus::Retrying] {
            assert_eq!(s.to_string().parse::<ActionStatus>(), Ok(s));
        }
    }

    #[test]
    fn a_status_keeps_to_the_width_it_is_given() {
        assert_eq!(format!("{:<10}|", RunStatus::Failed), "failed    |");
    }

    #[test]
    fn an_unknown_status_is_named() {
        let e = "finished".parse::<RunStatus>().expect_err("unknown");
        assert_eq!(e.to_string(), "unknown run status `finished`");
    }
}
