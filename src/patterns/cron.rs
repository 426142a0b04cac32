//! 5-field POSIX cron on jiff: parsing, matching a local time, and the next matching minute.
//!
//! Input: the expression's text (already checked for 5 fields and POSIX characters by
//! [`super::cron`]). Output: a [`Cron`] of bit sets, one per field. Method: each field is a
//! comma list of `*`, values, ranges `a-b` and steps (`*/n`, `a/n` = `a-MAX/n`, `a-b/n`);
//! months and days of the week also take their English three-letter names, in their own
//! field only; day of week 7 is Sunday. When both day fields are restricted (not exactly
//! `*`), a day matching either matches (POSIX).
//!
//! Why not a crate: croner takes chrono types (a second date library); the cron crates on
//! jiff either join the two day fields with "and" and need a seconds field (`jiff-cron`),
//! or loop forever at a daylight-saving change of half an hour (`cronexpr` 1.7.0, from
//! `0 2 * * *` in `Australia/Lord_Howe` on 4 April 2026). The search here steps through
//! instants, never across an offset change, so it cannot loop and cannot skip a minute.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: Bits,
    hours: Bits,
    days: Bits,
    months: Bits,
    /// Sunday is 0 (a 7 is folded into it).
    weekdays: Bits,
    /// The day-of-month field is exactly `*`.
    any_day: bool,
    /// The day-of-week field is exactly `*`.
    any_weekday: bool,
}

/// Values 0..=63 in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits(u64);

impl Bits {
    fn has(self, v: i8) -> bool {
        u32::try_from(v).is_ok_and(|v| v < 64 && self.0 & (1 << v) != 0)
    }
}

/// One field's range, names and what to call it in messages.
struct Field {
    what: &'static str,
    min: u16,
    max: u16,
    /// Names for `min`, `min + 1`, … (months, days of the week).
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    what: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    what: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    what: "day of the month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    what: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const WEEKDAY: Field = Field {
    what: "day of the week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Cron {
    /// Parses the five fields of `expr`.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!("expected 5 fields, found {}", fields.len()));
        };
        let mut weekdays = parse_field(weekday, &WEEKDAY)?;
        if weekdays.has(7) {
            weekdays.0 = (weekdays.0 & !(1 << 7)) | 1;
        }
        Ok(Cron {
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)?,
            days: parse_field(day, &DAY)?,
            months: parse_field(month, &MONTH)?,
            weekdays,
            any_day: day == "*",
            any_weekday: weekday == "*",
        })
    }

    /// Whether the local time `at` (its minute) matches.
    pub fn matches(&self, at: DateTime) -> bool {
        self.minutes_to_skip(at).is_none()
    }

    /// Whether the day of `at` matches: with both day fields restricted, either one.
    fn day_matches(&self, at: DateTime) -> bool {
        let by_day = self.days.has(at.day());
        let by_weekday = self.weekdays.has(at.weekday().to_sunday_zero_offset());
        match (self.any_day, self.any_weekday) {
            (true, _) => by_weekday,
            (false, true) => by_day,
            (false, false) => by_day || by_weekday,
        }
    }

    /// `None` when the local time `at` matches; else how many minutes of local time pass
    /// before one might (the rest of the day, of the hour, or one minute).
    fn minutes_to_skip(&self, at: DateTime) -> Option<i64> {
        let past = i64::from(at.hour()) * 60 + i64::from(at.minute());
        if !self.months.has(at.month()) || !self.day_matches(at) {
            Some(24 * 60 - past)
        } else if !self.hours.has(at.hour()) {
            Some(60 - i64::from(at.minute()))
        } else if !self.minutes.has(at.minute()) {
            Some(1)
        } else {
            None
        }
    }

    /// The first minute, from the minute of `from` on, in `zone`, that matches; `None` when
    /// none does before `limit` (a Unix second).
    ///
    /// It steps through instants: a local time that does not match tells how long nothing
    /// can (the rest of its day, its hour, its minute); a step never crosses a change of
    /// the zone's offset, where the local time jumps, so every matching minute is seen and
    /// the search always moves forward.
    pub fn next_in(
        &self,
        zone: &TimeZone,
        from: Timestamp,
        limit: i64,
    ) -> Result<Option<Timestamp>, String> {
        let mut at = from.as_second() - from.as_second().rem_euclid(60);
        while at <= limit {
            let now = Timestamp::from_second(at).map_err(|e| e.to_string())?;
            let Some(minutes) = self.minutes_to_skip(zone.to_datetime(now)) else {
                return Ok(Some(now));
            };
            let mut next = at + minutes * 60;
            if let Some(change) = zone.following(now).next() {
                let second = change.timestamp().as_second();
                // The first whole minute at or after the change.
                let minute = second + (60 - second.rem_euclid(60)) % 60;
                next = next.min(minute.max(at + 60));
            }
            at = next;
        }
        Ok(None)
    }
}

/// One field: `*`, or a comma list of values, ranges and steps.
fn parse_field(text: &str, field: &Field) -> Result<Bits, String> {
    let mut bits = 0u64;
    let mut add = |from: u16, to: u16, step: u16| {
        let mut v = from;
        while v <= to {
            bits |= 1 << v;
            v += step;
        }
    };
    if text == "*" {
        add(field.min, field.max, 1);
        return Ok(Bits(bits));
    }
    // An empty item (`1,,2`) adds nothing, as in croner, which pipec used before.
    for item in text.split(',').filter(|i| !i.is_empty()) {
        if item.matches('/').count() > 1
            || item
                .split('/')
                .next()
                .is_some_and(|r| r.matches('-').count() > 1)
        {
            return Err(malformed(item));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let stepped = step.is_some();
        let step = match step {
            None => 1,
            Some(s) => match s.parse::<u16>() {
                Ok(0) => return Err(format!("the step of `{item}` must be at least 1")),
                Ok(n) => n,
                Err(_) => return Err(malformed(item)),
            },
        };
        let (from, to) = if range == "*" && !stepped {
            return Err(format!(
                "`*` in the list `{text}` stands for every value: write it alone"
            ));
        } else if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (from, to) = (value(a, item, field, false)?, value(b, item, field, true)?);
            if from > to {
                return Err(format!("the range `{range}` goes backwards"));
            }
            (from, to)
        } else if item.contains('/') {
            // `a/n` steps from `a` to the end of the field.
            (value(range, item, field, false)?, field.max)
        } else {
            let v = value(range, item, field, false)?;
            (v, v)
        };
        add(from, to, step);
    }
    Ok(Bits(bits))
}

/// A value of `field` in `item`: a number in its range, or one of its names (`SUN` ends a
/// range as 7, so `FRI-SUN` works).
fn value(text: &str, item: &str, field: &Field, range_end: bool) -> Result<u16, String> {
    let v = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u32>().ok()
    } else if let Some(i) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        let v = u32::from(field.min) + u32::try_from(i).unwrap_or(0);
        Some(if range_end && field.max == 7 && v == 0 {
            7
        } else {
            v
        })
    } else {
        return Err(if text.is_empty() {
            malformed(item)
        } else {
            format!("`{text}` is not a {} ({})", field.what, accepted(field))
        });
    };
    match v.and_then(|v| u16::try_from(v).ok()) {
        Some(v) if (field.min..=field.max).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{text}` is out of range for the {} ({})",
            field.what,
            accepted(field)
        )),
    }
}

fn accepted(field: &Field) -> String {
    match field.names {
        [] => format!("{}–{}", field.min, field.max),
        [first, .., last] => format!("{}–{} or `{first}`–`{last}`", field.min, field.max),
        [one] => format!("{}–{} or `{one}`", field.min, field.max),
    }
}

fn malformed(item: &str) -> String {
    format!("`{item}` is not a value, a range `a-b` or a step `*/n`")
}

#[cfg(test)]
mod tests {
    use super::Cron;

    fn local(s: &str) -> jiff::civil::DateTime {
        s.parse().expect("a local time")
    }

    #[test]
    fn fields_take_values_ranges_steps_and_names() {
        let c = Cron::parse("*/15 9-17 * JAN-mar MON-FRI").expect("valid");
        assert!(c.matches(local("2026-02-02T09:45"))); // a Monday
        assert!(!c.matches(local("2026-02-02T09:44")));
        assert!(!c.matches(local("2026-02-01T09:45"))); // a Sunday
        assert!(!c.matches(local("2026-04-06T09:45"))); // April
        let sunday = Cron::parse("0 0 * * 7").expect("valid");
        assert!(sunday.matches(local("2026-02-01T00:00")));
        let weekend = Cron::parse("0 0 * * FRI-SUN").expect("valid");
        assert!(weekend.matches(local("2026-02-01T00:00")));
        assert!(weekend.matches(local("2026-01-30T00:00")));
        assert!(!weekend.matches(local("2026-01-29T00:00")));
        let from = Cron::parse("5/20 * * * *").expect("valid");
        assert!(from.matches(local("2026-01-01T00:45")));
        assert!(!from.matches(local("2026-01-01T00:00")));
    }

    #[test]
    fn restricted_day_fields_match_either_day() {
        // The 1st, and every Monday (POSIX); `*/2` counts as a restriction.
        let c = Cron::parse("0 12 1 * MON").expect("valid");
        assert!(c.matches(local("2026-03-01T12:00"))); // Sunday the 1st
        assert!(c.matches(local("2026-03-02T12:00"))); // Monday the 2nd
        assert!(!c.matches(local("2026-03-03T12:00")));
        let odd = Cron::parse("0 12 */2 * 6").expect("valid");
        assert!(odd.matches(local("2026-03-03T12:00"))); // odd day, Tuesday
        assert!(odd.matches(local("2026-03-14T12:00"))); // even day, Saturday
        assert!(!odd.matches(local("2026-03-04T12:00")));
        // With one field `*`, only the other decides.
        let mondays = Cron::parse("0 12 * * MON").expect("valid");
        assert!(!mondays.matches(local("2026-03-01T12:00")));
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let err = |e: &str| Cron::parse(e).expect_err(e);
        assert_eq!(
            err("0 24 * * *"),
            "`24` is out of range for the hour (0–23)"
        );
        assert_eq!(
            err("0 0 * FOO *"),
            "`FOO` is not a month (1–12 or `JAN`–`DEC`)"
        );
        assert_eq!(err("MON 0 * * *"), "`MON` is not a minute (0–59)");
        assert_eq!(err("0 0 * * 5-2"), "the range `5-2` goes backwards");
        assert_eq!(err("*/0 * * * *"), "the step of `*/0` must be at least 1");
        assert_eq!(
            err("1-2-3 * * * *"),
            "`1-2-3` is not a value, a range `a-b` or a step `*/n`"
        );
        assert_eq!(
            err("0 0 0 * *"),
            "`0` is out of range for the day of the month (1–31)"
        );
        assert_eq!(
            err("0 0 * * 99999999999"),
            "`99999999999` is out of range for the day of the week (0–7 or `SUN`–`SAT`)"
        );
    }
}
