//! `trigger schedule` fires. Each schedule trigger of a served pipeline is a key (pipeline,
//! trigger number, cron, time zone) whose last fire is stored in `serve.db` before its run
//! starts, so a restart never fires a minute twice. The rule for restarts and down time:
//!
//! - A schedule seen for the first time (a new pipeline, or its cron or `tz` changed) counts
//!   from now: nothing fires for minutes before the server served it.
//! - Minutes missed while the server was down (or busy) fire **once**, at the next check, for
//!   the latest missed minute (what cron's "catch up" does in anacron or systemd's
//!   `Persistent=true`): a release pipeline needs the newest code once, not one run per
//!   missed minute. The server says how many it folded into that run.
//!
//! The time zone is the trigger's `tz`, else UTC (as the checker and exporters read it).

use jiff::Timestamp;

use super::store::Store;
use crate::patterns::Cron;

/// The minute to fire at, if any, for a schedule last fired at `last` (a Unix second), at
/// `now`: the latest matching minute after `last` and no later than `now`, and how many
/// matching minutes that covers.
pub(crate) fn due(
    cron: &Cron,
    zone: &jiff::tz::TimeZone,
    last: i64,
    now: Timestamp,
) -> Result<Option<(i64, u32)>, String> {
    let mut from = last - last.rem_euclid(60) + 60;
    let mut found = None;
    let mut count = 0u32;
    // A bound on the search (a minutely schedule down for a week is 10,080 minutes).
    while count < 100_000 {
        let start = Timestamp::from_second(from).map_err(|e| e.to_string())?;
        match cron.next_in(zone, start, now.as_second())? {
            Some(at) => {
                found = Some(at.as_second());
                count += 1;
                from = at.as_second() + 60;
            }
            None => break,
        }
    }
    Ok(found.map(|at| (at, count)))
}

/// One schedule trigger of a pipeline.
pub(crate) struct Schedule<'a> {
    pub(crate) pipeline: &'a str,
    pub(crate) index: usize,
    pub(crate) cron: &'a str,
    pub(crate) tz: Option<&'a str>,
}

/// What a check decided for one schedule.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fire {
    /// Start a run now, for minute `at` (covering `missed` matching minutes).
    Now {
        at: i64,
        missed: u32,
    },
    /// Seen for the first time: counting from now.
    Started,
    Nothing,
}

impl Schedule<'_> {
    fn key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.pipeline,
            self.index,
            self.cron,
            self.tz.unwrap_or("UTC")
        )
    }

    /// Decides at `now` and records the fire (before any run starts: at most once).
    pub(crate) fn check(&self, store: &Store, now: Timestamp) -> Result<Fire, String> {
        let key = self.key();
        let Some(last) = store.schedule_last(&key)? else {
            store.set_schedule_last(&key, now.as_second())?;
            return Ok(Fire::Started);
        };
        let cron = crate::patterns::cron(self.cron)?;
        let zone = crate::patterns::time_zone(self.tz.unwrap_or("UTC"))?;
        match due(&cron, &zone, last, now)? {
            Some((at, missed)) => {
                store.set_schedule_last(&key, at)?;
                Ok(Fire::Now { at, missed })
            }
            None => Ok(Fire::Nothing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn hourly<'a>() -> Schedule<'a> {
        Schedule {
            pipeline: "app",
            index: 0,
            cron: "0 * * * *",
            tz: Some("Europe/Paris"),
        }
    }

    #[test]
    fn a_schedule_fires_once_per_matching_minute_on_a_fake_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let s = hourly();
        assert_eq!(
            s.check(&store, at("2026-12-06T10:30:00Z")),
            Ok(Fire::Started)
        );
        assert_eq!(
            s.check(&store, at("2026-12-06T10:59:59Z")),
            Ok(Fire::Nothing)
        );
        let eleven = at("2026-12-06T11:00:00Z").as_second();
        assert_eq!(
            s.check(&store, at("2026-12-06T11:00:05Z")),
            Ok(Fire::Now {
                at: eleven,
                missed: 1
            })
        );
        // Checked again within the same minute: not again.
        assert_eq!(
            s.check(&store, at("2026-12-06T11:00:40Z")),
            Ok(Fire::Nothing)
        );
    }

    #[test]
    fn a_restart_neither_fires_twice_nor_loses_the_missed_fires() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("store");
            hourly()
                .check(&store, at("2026-12-06T10:30:00Z"))
                .expect("check");
            let fired = hourly()
                .check(&store, at("2026-12-06T11:00:01Z"))
                .expect("check");
            assert!(matches!(fired, Fire::Now { .. }));
        }
        // The server restarts within the minute it fired: no second run.
        let store = Store::open(dir.path()).expect("store");
        assert_eq!(
            hourly().check(&store, at("2026-12-06T11:00:30Z")),
            Ok(Fire::Nothing)
        );
        // It was down from 11:01 to 14:20: one run for the latest missed hour, covering 3.
        let two = at("2026-12-06T14:00:00Z").as_second();
        assert_eq!(
            hourly().check(&store, at("2026-12-06T14:20:00Z")),
            Ok(Fire::Now { at: two, missed: 3 })
        );
    }

    #[test]
    fn a_changed_cron_counts_from_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        hourly()
            .check(&store, at("2026-12-06T10:30:00Z"))
            .expect("check");
        let changed = Schedule {
            cron: "*/5 * * * *",
            ..hourly()
        };
        assert_eq!(
            changed.check(&store, at("2026-12-06T12:00:00Z")),
            Ok(Fire::Started)
        );
    }

    #[test]
    fn minutes_are_read_in_the_trigger_time_zone() {
        let cron = crate::patterns::cron("0 9 * * *").expect("cron");
        let paris = crate::patterns::time_zone("Europe/Paris").expect("tz");
        let last = at("2026-12-06T00:00:00Z").as_second();
        // 09:00 in Paris is 08:00 UTC in December.
        assert_eq!(
            due(&cron, &paris, last, at("2026-12-06T07:59:00Z")),
            Ok(None)
        );
        assert_eq!(
            due(&cron, &paris, last, at("2026-12-06T08:00:00Z")),
            Ok(Some((at("2026-12-06T08:00:00Z").as_second(), 1)))
        );
    }
}
