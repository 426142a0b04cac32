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
