//! Durations (`90s`, `1h30m`, `7d`): text to seconds and back. A leaf every layer may use —
//! the parser reads duration literals with it, and the checker, the IR's descriptions, the
//! runtime and the CLI write durations back with it — so none of them depends on another
//! for it.

use std::fmt::Write as _;

/// Parses `90s`, `15m`, `1h30m`, `7d` into seconds.
pub fn parse(s: &str) -> Result<u64, &'static str> {
    if s.starts_with('-') {
        return Err("a duration cannot be negative");
    }
    if s.contains('.') {
        return Err("fractions are not supported; combine units instead, like `1h30m`");
    }
    let mut total: u64 = 0;
    let mut last_rank = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err("expected a number before each unit");
        }
        let n: u64 = rest[..digits].parse().map_err(|_| "number too large")?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (mult, rank) = match &rest[..unit_len] {
            "d" => (86_400, 1),
            "h" => (3_600, 2),
            "m" => (60, 3),
            "s" => (1, 4),
            "" => return Err("a number needs a unit"),
            _ => return Err("unknown unit"),
        };
        if rank <= last_rank {
            return Err("units must go from largest to smallest, each once");
        }
        last_rank = rank;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or("too long")?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Renders seconds back as `1h30m`.
pub fn format(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    #[test]
    fn durations_parse_and_render() {
        for (text, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            ("7d", 604_800),
            ("1h30m", 5400),
        ] {
            assert_eq!(parse(text), Ok(secs), "{text}");
        }
        assert_eq!(format(5400), "1h30m");
        assert_eq!(format(90), "1m30s");
        assert!(parse("5x").is_err());
        assert!(parse("30m1h").is_err());
        assert!(parse("-5m").is_err());
        assert!(parse("1h30").is_err());
    }
}
