//! Globs, cron expressions and time zones (LANGUAGE.md §4): validation for the checker and
//! matching for the runtime. Pure functions; the time zone database is bundled (no I/O).

mod cron;

use globset::{GlobBuilder, GlobMatcher};

pub use cron::Cron;

/// The deepest `{a,{b,c}}` nesting accepted in a glob.
const MAX_ALTERNATION_DEPTH: usize = 8;

/// A compiled glob; `*` stays within one path segment, `**` crosses segments.
pub fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    let pattern = pattern.strip_prefix('!').unwrap_or(pattern);
    // globset builds one regex; very deep `{…}` nesting makes that fail inside the crate.
    let mut depth = 0usize;
    for c in pattern.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_ALTERNATION_DEPTH {
            return Err(format!(
                "`{{…}}` alternatives nest deeper than {MAX_ALTERNATION_DEPTH} levels"
            ));
        }
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

/// Whether `text` passes a filter list: it matches at least one include (or there are only
/// excludes) and no `!` exclude.
pub fn filter_matches(patterns: &[String], text: &str) -> bool {
    let mut included = patterns.iter().all(|p| p.starts_with('!'));
    for p in patterns {
        let Ok(m) = glob(p) else { continue };
        if m.is_match(text) {
            if p.starts_with('!') {
                return false;
            }
            included = true;
        }
    }
    included
}

/// A 5-field POSIX cron expression.
pub fn cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
        ));
    }
    if expr.contains('@') {
        return Err("`@` nicknames are not supported; write the 5 fields".into());
    }
    // POSIX cron only: no Quartz extensions (`?`, `L`, `W`, `#`).
    for field in expr.split_whitespace() {
        let plain = field
            .chars()
            .all(|c| c.is_ascii_digit() || "*,-/".contains(c));
        let named = field
            .chars()
            .all(|c| c.is_ascii_alphabetic() || ",-".contains(c))
            && field.len() >= 3;
        if !(plain || named) {
            return Err(format!(
                "`{field}` is not a POSIX cron field (digits, `*`, `,`, `-`, `/`, or names like `MON`)"
            ));
        }
    }
    Cron::parse(expr)
}

/// Whether the minute of `now` (in `tz`, else UTC) matches the cron expression: a
/// deployment window is open during the minutes its cron names.
pub fn in_window(expr: &str, tz: Option<&str>, now: jiff::Timestamp) -> Result<bool, String> {
    let cron = cron(expr)?;
    let zone = zone_or_utc(tz)?;
    let minute = jiff::Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60))
        .map_err(|e| e.to_string())?;
    Ok(cron.matches(zone.to_datetime(minute)))
}

fn zone_or_utc(tz: Option<&str>) -> Result<jiff::tz::TimeZone, String> {
    tz.map_or(Ok(jiff::tz::TimeZone::UTC), time_zone)
}

/// An IANA time zone name.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::db()
        .get(name)
        .map_err(|_| format!("`{name}` is not a time zone of the IANA database"))
}

/// The first minute, from the minute of `from` on, in which the deployment window of `expr`
/// (in `tz`, else UTC) is open; `None` when none is found within a year and a day. Where
/// the zone's offset changes (daylight saving time), minutes are matched in the local time
/// of each instant: a skipped local time never opens, a repeated one opens twice.
pub fn next_opening(
    expr: &str,
    tz: Option<&str>,
    from: jiff::Timestamp,
) -> Result<Option<jiff::Timestamp>, String> {
    let cron = cron(expr)?;
    let zone = zone_or_utc(tz)?;
    cron.next_in(&zone, from, from.as_second() + 366 * 86_400)
}

#[cfg(test)]
mod tests {
    use super::{in_window, next_opening};

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().expect("a time")
    }

    #[test]
    fn a_window_opens_at_its_next_matching_minute() {
        let open = |cron: &str, tz: Option<&str>, from: &str| {
            next_opening(cron, tz, at(from))
                .expect("valid")
                .map(|t| t.to_string())
        };
        // Open now: this minute.
        assert_eq!(
            open("* * * * *", None, "2026-11-26T10:30:42Z").as_deref(),
            Some("2026-11-26T10:30:00Z")
        );
        // Office hours on weekdays, from a Friday evening: Monday 09:00.
        assert_eq!(
            open("0-59 9-16 * * 1-5", None, "2026-11-27T18:00:00Z").as_deref(),
            Some("2026-11-30T09:00:00Z")
        );
        // In a zone: 09:00 in Berlin is 08:00 UTC in winter.
        assert_eq!(
            open("0 9 * * *", Some("Europe/Berlin"), "2026-11-26T10:00:00Z").as_deref(),
            Some("2026-11-27T08:00:00Z")
        );
        // Across the change to summer time (29 March 2026 in Berlin): 09:00 is 07:00 UTC.
        assert_eq!(
            open("0 9 * * *", Some("Europe/Berlin"), "2026-03-28T12:00:00Z").as_deref(),
            Some("2026-03-29T07:00:00Z")
        );
        // Back to winter time (25 October 2026): 09:00 is 08:00 UTC again.
        assert_eq!(
            open("0 9 * * *", Some("Europe/Berlin"), "2026-10-24T12:00:00Z").as_deref(),
            Some("2026-10-25T08:00:00Z")
        );
        // A minute that does not exist this year (30 February): none.
        assert_eq!(open("0 0 30 2 *", None, "2026-03-01T00:00:00Z"), None);
    }

    #[test]
    fn windows_across_half_hour_and_repeated_hours() {
        let open = |cron: &str, tz: &str, from: &str| {
            next_opening(cron, Some(tz), at(from))
                .expect("valid")
                .map(|t| t.to_string())
        };
        // Lord Howe goes back half an hour at 02:00 (+11:00 → +10:30) on 5 April 2026, so
        // 02:00 first happens in the new offset (a crate found looping here was not used).
        assert_eq!(
            open("0 2 * * *", "Australia/Lord_Howe", "2026-04-04T10:00:00Z").as_deref(),
            Some("2026-04-04T15:30:00Z")
        );
        // Berlin repeats 02:00–02:59 on 25 October 2026: after the first 02:30 (00:30 UTC)
        // comes the second (01:30 UTC).
        assert_eq!(
            open("30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z").as_deref(),
            Some("2026-10-25T01:30:00Z")
        );
        // 02:30 does not exist on 29 March 2026 in Berlin: the next one is a day later.
        assert_eq!(
            open("30 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z").as_deref(),
            Some("2026-03-30T00:30:00Z")
        );
        // Kathmandu is 5:45 ahead: 09:00 there is 03:15 UTC.
        assert_eq!(
            open("0 9 * * *", "Asia/Kathmandu", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-01T03:15:00Z")
        );
    }

    #[test]
    fn every_found_opening_is_in_its_window() {
        let from = at("2026-03-28T20:00:00Z");
        for (cron, tz) in [
            ("30 2 * * *", Some("Europe/Berlin")),
            ("*/15 1-3 * * *", Some("America/New_York")),
            ("0 0 * * 0", None),
        ] {
            let t = next_opening(cron, tz, from).expect("valid").expect("found");
            assert!(in_window(cron, tz, t).expect("valid"), "{cron} {tz:?} {t}");
            assert!(
                t >= from
                    .checked_sub(jiff::SignedDuration::from_secs(60))
                    .expect("time")
            );
        }
    }
}
