//! A shell script that builds the pipeline's JSON with `jq -n --arg NAME VALUE '{…}'` (as
//! `aws codepipeline create-pipeline --cli-input-json "$(jq …)"` scripts do): the jq program
//! is JSON where `$NAME` stands for a value and `"\($NAME)"` interpolates one. Each `$NAME`
//! becomes an input (a param), with the `--arg` value as its default when the script's
//! plain assignments (`NAME=value`, `NAME="…$OTHER…"`) give it.

use super::error::{Error, position};
use super::json;
use super::model::Input;
use super::tree::{Node, Part, Text};

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The tree of the script's jq template, and its inputs.
pub(super) fn parse(text: &str) -> Result<(Node, Vec<Input>), Error> {
    let Some(jq) = text.find("jq ") else {
        return Err(not_jq());
    };
    let Some((start, program)) = program(text, jq) else {
        return Err(not_jq());
    };
    let json_text = to_json(program);
    let root = json::parse(&json_text).map_err(|e| {
        // The JSON's line within the program is a line of the script.
        let (line, _) = position(text, start);
        Error::new(
            format!(
                "the jq program is not JSON with `$NAME` values: {}",
                e.message
            ),
            "the import reads jq templates that are JSON with `$NAME` and `\\($NAME)`; \
             run the script's jq command and import its output instead",
        )
        .at(line + e.line.unwrap_or(1) - 1, e.column.unwrap_or(1))
    })?;
    let inputs = inputs(text, jq);
    Ok((params(root), inputs))
}

fn not_jq() -> Error {
    Error::new(
        "a shell script, and its pipeline JSON is not a `jq -n '{…}'` template",
        "run the part of the script that writes the pipeline's JSON and import that file",
    )
    .at(1, 1)
}

/// The first single-quoted argument after `jq` that starts like JSON, and its offset.
fn program(text: &str, from: usize) -> Option<(usize, &str)> {
    let mut rest = &text[from..];
    let mut offset = from;
    while let Some(q) = rest.find('\'') {
        let body_start = q + 1;
        let end = rest[body_start..].find('\'')? + body_start;
        let body = &rest[body_start..end];
        if body.trim_start().starts_with(['{', '[']) {
            return Some((offset + body_start, body));
        }
        offset += end + 1;
        rest = &rest[end + 1..];
    }
    None
}

/// jq's `$NAME` outside strings and `\($NAME)` inside them become marked string text.
fn to_json(program: &str) -> String {
    let mut out = String::with_capacity(program.len());
    let mut chars = program.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if in_string {
            if c == '\\' && program[i + 1..].starts_with('(') {
                let close = program[i..].find(')').map_or(program.len(), |e| i + e);
                let inner = program[i + 2..close].trim();
                out.push_str(&marker(inner.trim_start_matches('$')));
                while chars.peek().is_some_and(|(j, _)| *j <= close) {
                    chars.next();
                }
                continue;
            }
            if c == '\\' {
                out.push(c);
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
                continue;
            }
            if c == '"' {
                in_string = false;
            }
            out.push(c);
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '$' {
            let name: String = program[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            for _ in 0..name.chars().count() {
                chars.next();
            }
            out.push('"');
            out.push_str(&marker(&name));
            out.push('"');
        } else {
            out.push(c);
        }
    }
    out
}

fn marker(name: &str) -> String {
    format!("\\u{:04X}{name}\\u{:04X}", OPEN as u32, CLOSE as u32)
}

/// Marked text to `Part::Param`s.
fn params(node: Node) -> Node {
    match node {
        Node::Text(t) => Node::Text(split(t)),
        Node::List(items) => Node::List(items.into_iter().map(params).collect()),
        Node::Map(entries) => Node::Map(entries.into_iter().map(|(k, v)| (k, params(v))).collect()),
        other => other,
    }
}

fn split(t: Text) -> Text {
    let mut out = Text::default();
    for part in t.0 {
        let Part::Lit(s) = part else {
            out.0.push(part);
            continue;
        };
        let mut rest = s.as_str();
        while let Some(open) = rest.find(OPEN) {
            out.push(Text::lit(&rest[..open]));
            let after = &rest[open + OPEN.len_utf8()..];
            let close = after.find(CLOSE).unwrap_or(after.len());
            out.0.push(Part::Param(after[..close].to_string()));
            rest = after.get(close + CLOSE.len_utf8()..).unwrap_or("");
        }
        out.push(Text::lit(rest));
    }
    out
}

/// `--arg NAME VALUE` pairs after `jq`, with defaults from the script's assignments.
fn inputs(text: &str, jq: usize) -> Vec<Input> {
    let vars = assignments(&text[..jq]);
    let words: Vec<&str> = text[jq..].split_whitespace().collect();
    let mut out = Vec::new();
    for w in words.windows(3) {
        if w[0] == "--arg" {
            let value = w[2].trim_end_matches('\\').trim_matches('"');
            out.push(Input {
                name: w[1].to_string(),
                default: expand(value, &vars),
                description: None,
                allowed: Vec::new(),
                no_echo: false,
                kind: "jq argument",
            });
        }
    }
    out
}

/// `NAME=value` lines (plain values only; command substitutions give no value).
fn assignments(script: &str) -> Vec<(String, Option<String>)> {
    let mut vars: Vec<(String, Option<String>)> = Vec::new();
    for line in script.lines() {
        let line = line.trim();
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.split("  #").next().unwrap_or_default().trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let expanded = expand(value, &vars);
        vars.push((name.to_string(), expanded));
    }
    vars
}

/// `$NAME`/`${NAME}` expanded from known assignments; `None` if anything is not known.
fn expand(value: &str, vars: &[(String, Option<String>)]) -> Option<String> {
    if value.contains("$(") || value.contains('`') {
        return None;
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(d) = rest.find('$') {
        out.push_str(&rest[..d]);
        let after = &rest[d + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(b) => {
                let end = b.find('}')?;
                (&b[..end], end + 2)
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        let (_, v) = vars.iter().rev().find(|(n, _)| n == name)?;
        out.push_str(v.as_deref()?);
        rest = &after[len..];
    }
    out.push_str(rest);
    Some(out)
}
