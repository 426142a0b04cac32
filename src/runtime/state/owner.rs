//! The process that runs a run: recorded when it starts or claims the run, so that another
//! process can tell whether it is still alive (a reused pid is not taken for it).

/// The process that runs a run: its pid and its start time (so that a reused pid is not
/// taken for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: i32,
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Option<Owner> {
        let pid = i32::try_from(std::process::id()).ok()?;
        Some(Owner {
            pid,
            start: start_time(pid)?,
        })
    }

    /// Whether the process is still the one that started the run.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.pid, self.start)
    }
}

impl std::str::FromStr for Owner {
    type Err = ();
    fn from_str(s: &str) -> Result<Owner, ()> {
        let (pid, start) = s.split_once(':').ok_or(())?;
        Ok(Owner {
            pid: pid.parse().map_err(|_| ())?,
            start: start.parse().map_err(|_| ())?,
        })
    }
}

/// A process's start time (clock ticks after boot; field 22 of `/proc/PID/stat`).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the closing parenthesis.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}
