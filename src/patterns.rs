//! Globs, cron expressions and time zones (LANGUAGE.md §4): validation for the checker and
//! matching for the runtime. Pure functions; the time zone database is bundled (no I/O).

use globset::{GlobBuilder, GlobMatcher};

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
pub fn cron(expr: &str) -> Result<croner::Cron, String> {
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
    expr.parse::<croner::Cron>().map_err(|e| e.to_string())
}

/// Whether the minute of `now` (in `tz`, else UTC) matches the cron expression: a
/// deployment window is open during the minutes its cron names.
pub fn in_window(expr: &str, tz: Option<&str>, now: jiff::Timestamp) -> Result<bool, String> {
    let cron = cron(expr)?;
    let zone = match tz {
        Some(name) => time_zone(name)?,
        None => jiff::tz::TimeZone::UTC,
    };
    let offset = zone.to_offset(now).seconds();
    let fixed = chrono::FixedOffset::east_opt(offset).ok_or("time zone offset out of range")?;
    let minute = now.as_second() - now.as_second().rem_euclid(60);
    let at = chrono::DateTime::from_timestamp(minute, 0)
        .ok_or("time out of range")?
        .with_timezone(&fixed);
    cron.is_time_matching(&at).map_err(|e| e.to_string())
}

/// An IANA time zone name.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::db()
        .get(name)
        .map_err(|_| format!("`{name}` is not a time zone of the IANA database"))
}

/// The first minute, from the minute of `from` on, in which the deployment window of `expr`
/// (in `tz`, else UTC) is open; `None` when none is found within a year and a day.
///
/// croner searches in one fixed offset; where the zone's offset changes (daylight saving
/// time) the search starts again from there in the new offset, and every candidate is
/// confirmed with [`in_window`], so a changed offset never yields a wrong minute.
pub fn next_opening(
    expr: &str,
    tz: Option<&str>,
    from: jiff::Timestamp,
) -> Result<Option<jiff::Timestamp>, String> {
    let cron = cron(expr)?;
    let zone = match tz {
        Some(name) => time_zone(name)?,
        None => jiff::tz::TimeZone::UTC,
    };
    let limit = from.as_second() + 366 * 86_400;
    let mut at = from.as_second() - from.as_second().rem_euclid(60);
    // Each round either finds the minute or moves past an offset change (a few a year).
    for _ in 0..64 {
        let now = jiff::Timestamp::from_second(at).map_err(|e| e.to_string())?;
        let offset = zone.to_offset(now).seconds();
        let fixed = chrono::FixedOffset::east_opt(offset).ok_or("time zone offset out of range")?;
        let start = chrono::DateTime::from_timestamp(at, 0)
            .ok_or("time out of range")?
            .with_timezone(&fixed);
        let Ok(found) = cron.find_next_occurrence(&start, true) else {
            return Ok(None);
        };
        let second = found.timestamp();
        if second > limit {
            return Ok(None);
        }
        let candidate = jiff::Timestamp::from_second(second).map_err(|e| e.to_string())?;
        if zone.to_offset(candidate).seconds() == offset {
            // The offset held from `at` to the candidate (or changed and changed back
            // within a day, where `in_window` decides).
            if in_window(expr, tz, candidate)? {
                return Ok(Some(candidate));
            }
            at = second + 60;
        } else {
            // The offset changed before the candidate: search on from the first minute of
            // the new offset.
            at = first_minute_with_offset(&zone, at, second, offset);
        }
    }
    Ok(None)
}

/// The first minute in `(lo, hi]` whose offset in `zone` differs from `offset` (bisection;
/// the offset is `offset` at `lo` and differs at `hi`).
fn first_minute_with_offset(
    zone: &jiff::tz::TimeZone,
    mut lo: i64,
    mut hi: i64,
    offset: i32,
) -> i64 {
    let minute = |s: i64| s - s.rem_euclid(60);
    let (mut lo_m, mut hi_m) = (minute(lo) / 60, minute(hi) / 60);
    while hi_m - lo_m > 1 {
        let mid = lo_m + (hi_m - lo_m) / 2;
        let differs = jiff::Timestamp::from_second(mid * 60)
            .map_or(true, |t| zone.to_offset(t).seconds() != offset);
        if differs {
            hi_m = mid;
        } else {
            lo_m = mid;
        }
    }
    lo = lo_m * 60;
    hi = hi_m * 60;
    hi.max(lo + 60)
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
