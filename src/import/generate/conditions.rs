//! Stage conditions: `beforeEntry` → `entry { … else skip|fail }`, `onSuccess` →
//! `on success { … else rollback|fail }`, `onFailure` → `on failure retry|rollback|fail`.
//! Rules: `VariableCheck` → `require`, `DeploymentWindow` → `window`, `Commands` →
//! `check sh`; other rules (`LambdaInvoke`, `CloudWatchAlarm`) are comments.

use super::super::model::{Condition, Rule, Stage};
use super::super::tree::Text;
use super::comment;
use super::values::{Values, quote};
use std::fmt::Write as _;

pub(super) fn stage_conditions(
    stage: &Stage,
    first: bool,
    parallel: bool,
    values: &mut Values<'_>,
    out: &mut String,
) {
    if let Some(c) = &stage.before_entry {
        let result = match c.result.as_str() {
            "SKIP" => Some("skip"),
            "FAIL" | "" => Some("fail"),
            _ => None,
        };
        condition("entry", "beforeEntry", c, result, values, out);
    }
    if let Some(c) = &stage.on_success {
        let result = match c.result.as_str() {
            "ROLLBACK" if !first && !parallel => Some("rollback"),
            "FAIL" | "" => Some("fail"),
            _ => None,
        };
        condition("on success", "onSuccess", c, result, values, out);
    }
    if let Some(f) = &stage.on_failure {
        for r in &f.rules {
            comment(
                out,
                &format!(
                    "not carried over: the `onFailure` rule `{}` ({})",
                    r.name, r.provider
                ),
            );
        }
        let all = f.retry_mode.as_deref() == Some("ALL_ACTIONS");
        match f.result.as_str() {
            "RETRY" if all => out.push_str("on failure retry all\n"),
            "RETRY" => out.push_str("on failure retry\n"),
            "ROLLBACK" if !first && !parallel => out.push_str("on failure rollback\n"),
            "FAIL" => out.push_str("on failure fail\n"),
            other => comment(
                out,
                &format!(
                    "not carried over: `onFailure` result `{other}`{}",
                    why(first, parallel)
                ),
            ),
        }
    }
}

fn why(first: bool, parallel: bool) -> &'static str {
    if first {
        " (no rollback in the entry stage)"
    } else if parallel {
        " (no rollback in `parallel` mode)"
    } else {
        ""
    }
}

fn condition(
    keyword: &str,
    aws_name: &str,
    c: &Condition,
    result: Option<&str>,
    values: &mut Values<'_>,
    out: &mut String,
) {
    let Some(result) = result else {
        comment(
            out,
            &format!(
                "not carried over: the `{aws_name}` condition with result `{}`",
                c.result
            ),
        );
        return;
    };
    let mut rules = String::new();
    for r in &c.rules {
        rule(r, values, &mut rules);
    }
    if !rules.lines().any(|l| !l.trim_start().starts_with("//")) {
        out.push_str(&rules);
        comment(
            out,
            &format!("not carried over: the `{aws_name}` condition (none of its rules is)"),
        );
        return;
    }
    let _ = writeln!(out, "{keyword} {{\n{rules}else {result}\n}}");
}

fn config<'r>(r: &'r Rule, key: &str) -> Option<&'r Text> {
    r.configuration
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn rule(r: &Rule, values: &mut Values<'_>, out: &mut String) {
    let mut notes = Vec::new();
    let line = match r.provider.as_str() {
        "VariableCheck" => variable_check(r, values, &mut notes),
        "DeploymentWindow" => window(r, &mut notes),
        "Commands" => Some(commands(r, values, &mut notes)),
        _ => None,
    };
    for n in notes {
        comment(out, &n);
    }
    match line {
        Some(l) => {
            let _ = writeln!(out, "{l}");
        }
        None => {
            let config: Vec<String> = r
                .configuration
                .iter()
                .map(|(k, v)| format!("{k} = {}", v.describe()))
                .collect();
            comment(
                out,
                &format!(
                    "not carried over: the rule `{}` ({}) {}",
                    r.name,
                    r.provider,
                    config.join(", ")
                ),
            );
        }
    }
}

fn variable_check(r: &Rule, values: &mut Values<'_>, notes: &mut Vec<String>) -> Option<String> {
    let variable = values.expr(config(r, "Variable")?, notes);
    // CodePipeline compares a variable with a written value: an input of the file there is
    // its value where the pipeline was made (its default, as for triggers).
    let value = config(r, "Value")?;
    let value = match values.constant(value, notes) {
        Some(c) => quote(&c),
        None => values.string(value, notes),
    };
    if variable.starts_with('"') && !variable.contains("${") && !value.contains("${") {
        // Two constants (a variable of no action here): pipec would call it constant (W0002).
        notes.push(format!("the rule `{}` compares two constants here", r.name));
        return None;
    }
    let op = config(r, "Operator")
        .and_then(Text::as_lit)
        .unwrap_or_else(|| "EQ".to_string());
    Some(match op.as_str() {
        "EQ" => format!("require {variable} == {value}"),
        "NE" => format!("require {variable} != {value}"),
        "CONTAINS" => format!("require contains({variable}, {value})"),
        "MATCHES" => format!("require regex({variable}, {value})"),
        _ => return None,
    })
}

/// AWS's cron (`sec min hour dom month dow [year]`, Quartz days 1-7 from Sunday) to POSIX.
fn window(r: &Rule, notes: &mut Vec<String>) -> Option<String> {
    let cron = config(r, "Cron")?.as_lit()?;
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let fields = match fields.len() {
        6 | 7 => &fields[1..6],
        5 => &fields[..],
        _ => return None,
    };
    if fields.iter().any(|f| f.contains(['L', 'W', '#'])) {
        return None;
    }
    let mut posix: Vec<String> = fields.iter().map(|f| f.replace('?', "*")).collect();
    posix[4] = quartz_days(&posix[4])?;
    let mut out = format!("window {}", quote(&posix.join(" ")));
    if let Some(tz) = config(r, "TimeZone").and_then(Text::as_lit) {
        let _ = write!(out, " tz {}", quote(&tz));
    }
    notes.push(format!("the deployment window `{cron}` in POSIX cron"));
    Some(out)
}

fn quartz_days(field: &str) -> Option<String> {
    let mut out = String::new();
    let mut number = String::new();
    let flush = |number: &mut String, out: &mut String| -> Option<()> {
        if !number.is_empty() {
            let n: u32 = number.parse().ok()?;
            if !(1..=7).contains(&n) {
                return None;
            }
            out.push_str(&(n - 1).to_string());
            number.clear();
        }
        Some(())
    };
    let mut step = false;
    for c in field.chars() {
        if c.is_ascii_digit() && step {
            // A step after `/` is a count, not a day.
            out.push(c);
        } else if c.is_ascii_digit() {
            number.push(c);
        } else {
            flush(&mut number, &mut out)?;
            step = c == '/';
            out.push(c);
        }
    }
    flush(&mut number, &mut out)?;
    Some(out)
}

fn commands(r: &Rule, values: &mut Values<'_>, notes: &mut Vec<String>) -> String {
    let mut script = Text::default();
    for (i, c) in r.commands.iter().enumerate() {
        if i > 0 {
            script.push(Text::lit("\n"));
        }
        script.push(c.clone());
    }
    let run = values.string(&script, notes);
    format!("check sh {{ run = {run} }}")
}
