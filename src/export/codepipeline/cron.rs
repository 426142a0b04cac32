//! POSIX cron (pipec's `cron` and `window`) in AWS's forms.
//!
//! AWS's cron (EventBridge Scheduler, the `DeploymentWindow` rule) numbers days of the week
//! 1-7 from Sunday, wants `?` in one of the two day fields, and has no "either day field"
//! of POSIX (both restricted): that is refused. Each field is expanded to its set of values
//! and written back as ranges, so the meaning cannot drift between the two dialects. The
//! same sets drive the bash test of a generated wait for a window (`else wait`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// One field: its range and names.
struct Field {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const WEEKDAY: Field = Field {
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// A parsed POSIX cron expression: the set of each field (weekdays 0-6 from Sunday), and
/// whether each day field is `*`.
pub(super) struct Sets {
    pub(super) minutes: BTreeSet<u32>,
    pub(super) hours: BTreeSet<u32>,
    pub(super) days: BTreeSet<u32>,
    pub(super) months: BTreeSet<u32>,
    pub(super) weekdays: BTreeSet<u32>,
    pub(super) any_day: bool,
    pub(super) any_weekday: bool,
}

/// Parses a 5-field cron expression the checker accepted (E0304 otherwise).
pub(super) fn parse(expr: &str) -> Option<Sets> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    let [mi, h, d, mo, w] = f[..] else {
        return None;
    };
    let mut weekdays = field(w, &WEEKDAY)?;
    if weekdays.remove(&7) {
        weekdays.insert(0);
    }
    Some(Sets {
        minutes: field(mi, &MINUTE)?,
        hours: field(h, &HOUR)?,
        days: field(d, &DAY)?,
        months: field(mo, &MONTH)?,
        weekdays,
        any_day: d == "*",
        any_weekday: w == "*",
    })
}

fn value(s: &str, f: &Field) -> Option<u32> {
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return u32::try_from(i).ok().map(|i| i + f.min);
    }
    s.parse().ok().filter(|v| (f.min..=f.max).contains(v))
}

fn field(text: &str, f: &Field) -> Option<BTreeSet<u32>> {
    let mut set = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, f)?, value(b, f)?)
        } else {
            let v = value(range, f)?;
            (v, if part.contains('/') { f.max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            set.insert(v);
            v += step;
        }
    }
    Some(set)
}

/// A set written back as a comma list of ranges (`1-5,7`); `*` when it is the whole range.
fn ranges(set: &BTreeSet<u32>, min: u32, max: u32, name: &dyn Fn(u32) -> String) -> String {
    if set.len() == (max - min + 1) as usize {
        return "*".into();
    }
    let mut out = String::new();
    let values: Vec<u32> = set.iter().copied().collect();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            let _ = write!(out, "{}-{}", name(values[i]), name(values[j]));
        } else {
            out.push_str(&name(values[i]));
        }
        i = j + 1;
    }
    out
}

/// `minute hour day-of-month month day-of-week` in AWS's syntax, or `None` when both day
/// fields are restricted (POSIX's "either").
pub(super) fn aws_fields(s: &Sets) -> Option<String> {
    let num = |v: u32| v.to_string();
    let day_name = |v: u32| WEEKDAY.names[v as usize].to_string();
    let (dom, dow) = match (s.any_day, s.any_weekday) {
        (true, true) => ("*".to_string(), "?".to_string()),
        (true, false) => ("?".to_string(), ranges(&s.weekdays, 0, 6, &day_name)),
        (false, true) => (ranges(&s.days, 1, 31, &num), "?".to_string()),
        (false, false) => return None,
    };
    Some(format!(
        "{} {} {dom} {} {dow}",
        ranges(&s.minutes, 0, 59, &num),
        ranges(&s.hours, 0, 23, &num),
        ranges(&s.months, 1, 12, &num),
    ))
}

/// A bash test that holds when the current minute (in `tz`) matches.
pub(super) fn bash_test(s: &Sets, tz: Option<&str>) -> String {
    let list = |set: &BTreeSet<u32>| set.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    let zone = tz.map_or_else(|| "UTC".to_string(), crate::shell::quote_word);
    let day = match (s.any_day, s.any_weekday) {
        (true, true) => "true".to_string(),
        (true, false) => format!("pipec_in \"$w\" '{}'", list(&s.weekdays)),
        (false, true) => format!("pipec_in \"$d\" '{}'", list(&s.days)),
        (false, false) => format!(
            "{{ pipec_in \"$d\" '{}' || pipec_in \"$w\" '{}'; }}",
            list(&s.days),
            list(&s.weekdays)
        ),
    };
    format!(
        "pipec_in() {{ [[ \" $2 \" == *\" $1 \"* ]]; }}\n\
         pipec_window() {{\n  read -r mi h d mo w < <(TZ={zone} date '+%-M %-H %-d %-m %w')\n  \
         pipec_in \"$mi\" '{}' && pipec_in \"$h\" '{}' && pipec_in \"$mo\" '{}' && {day}\n}}\n",
        list(&s.minutes),
        list(&s.hours),
        list(&s.months),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(expr: &str) -> Option<String> {
        aws_fields(&parse(expr)?)
    }

    #[test]
    fn weekdays_become_names_and_the_other_day_field_a_question_mark() {
        assert_eq!(aws("0 3 * * 1-5").as_deref(), Some("0 3 ? * MON-FRI"));
        assert_eq!(aws("0 2 * * *").as_deref(), Some("0 2 * * ?"));
        assert_eq!(aws("* 8-16 * * 1-4").as_deref(), Some("* 8-16 ? * MON-THU"));
        assert_eq!(aws("*/15 * 1 * *").as_deref(), Some("0,15,30,45 * 1 * ?"));
        assert_eq!(aws("0 0 * * 7,6").as_deref(), Some("0 0 ? * SUN,SAT"));
    }

    #[test]
    fn both_day_fields_restricted_has_no_aws_form() {
        assert_eq!(aws("0 0 1 * 1"), None);
    }

    #[test]
    fn month_names() {
        assert_eq!(aws("0 0 1 jan-mar *").as_deref(), Some("0 0 1 1-3 ?"));
    }
}
