//! `$PIPEC_OUTPUT`: the exports an attempt writes (LANGUAGE.md §9), read with bounds.
//!
//! The file is read only if it is a regular file of at most [`MAX_FILE`] bytes of UTF-8
//! (an action may write anything there, or put a FIFO in its place). `KEY=VALUE` lines and
//! `KEY<<DELIM` … `DELIM` blocks are parsed, the last write of a key winning; keys not
//! declared come back as warnings. The declared exports must all be there, hold no NUL byte
//! (no environment variable can carry one: the action that reads the export would fail
//! instead of the one that wrote it), and hold at most [`MAX_EXPORTS`] bytes in all, names
//! and values: `CodePipeline`'s quota for an action's output variables. An export goes to the
//! history and into the environment of the actions that read it, so big data belongs in an
//! artifact.
#![allow(clippy::disallowed_methods)] // Reason: the runtime reads what actions write.

use std::collections::BTreeMap;
use std::path::Path;

use super::bounded::{self, ReadError};

/// The most an action's exports may hold together, names and values, in bytes: the quota
/// of `CodePipeline` for all output variables of one action.
pub const MAX_EXPORTS: usize = 122_880;
/// The most pipec reads from `$PIPEC_OUTPUT` (keys written again and keys not declared
/// count too, so this is more than [`MAX_EXPORTS`]).
pub const MAX_FILE: u64 = 1 << 20;

/// [`read`], then removes the file, whatever it held (a later attempt gets a new one);
/// when nothing was written there, there is nothing to remove (and no call to make).
pub fn take(
    path: &Path,
    declared: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let (read, written) = read_written(path, declared);
    if written {
        let _ = std::fs::remove_file(path);
    }
    read
}

/// The exports and warnings of an attempt that wrote (or did not write) `path`.
pub fn read(
    path: &Path,
    declared: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    read_written(path, declared).0
}

/// [`read`], and whether anything is at `path` (even what cannot be read).
fn read_written(path: &Path, declared: &[String]) -> (Read, bool) {
    match bounded::read_text(path, MAX_FILE) {
        // Nothing written: fine unless an export was declared.
        Err(e) if e.is_missing() => (exports("", declared), false),
        text => (
            text.map_err(unreadable).and_then(|t| exports(&t, declared)),
            true,
        ),
    }
}

/// What [`read`] returns: the exports and the warnings, or why they cannot be read.
type Read = Result<(BTreeMap<String, String>, Vec<String>), String>;

fn unreadable(e: ReadError) -> String {
    match e {
        e @ ReadError::TooBig(_) => format!(
            "cannot read $PIPEC_OUTPUT: {e}; an action's exports hold at most {MAX_EXPORTS} bytes in all (pass big data as an artifact)"
        ),
        e => format!("cannot read $PIPEC_OUTPUT: {e}"),
    }
}

fn exports(text: &str, declared: &[String]) -> Read {
    let (values, warnings) = parse(text, declared)?;
    check(&values)?;
    Ok((values, warnings))
}

/// At most 60 characters of `text`, for a message.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The exports written in `text`, the last write of a key winning; keys not in `declared`
/// come back as warnings; a declared key never written is an error.
pub fn parse(
    text: &str,
    declared: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut values = BTreeMap::new();
    let mut ignored: Vec<String> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (key, value) = if let Some((key, delim)) = line.split_once("<<") {
            let mut block = Vec::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l == delim {
                    closed = true;
                    break;
                }
                block.push(l);
            }
            if !closed {
                return Err(format!(
                    "`{}` is not closed by a `{}` line",
                    quoted(&format!("{key}<<{delim}")),
                    quoted(delim)
                ));
            }
            (key.to_string(), block.join("\n"))
        } else if let Some((key, value)) = line.split_once('=') {
            (key.to_string(), value.to_string())
        } else {
            return Err(format!(
                "`{}` is neither `KEY=VALUE` nor `KEY<<DELIMITER`",
                quoted(line)
            ));
        };
        if declared.contains(&key) {
            values.insert(key, value);
        } else if !ignored.contains(&key) {
            ignored.push(key);
        }
    }
    if let Some(missing) = declared.iter().find(|k| !values.contains_key(*k)) {
        return Err(format!(
            "declared export `{missing}` was never written to $PIPEC_OUTPUT"
        ));
    }
    Ok((values, warnings(&ignored)))
}

/// One warning per key not in `exports` (at most ten, then how many more).
fn warnings(ignored: &[String]) -> Vec<String> {
    let mut out: Vec<String> = ignored
        .iter()
        .take(10)
        .map(|k| format!("`{}` is not in `exports`; ignored", quoted(k)))
        .collect();
    if ignored.len() > 10 {
        out.push(format!(
            "{} more keys not in `exports` were ignored",
            ignored.len() - 10
        ));
    }
    out
}

/// The declared exports can be stored and passed on: no NUL byte, and within the quota.
fn check(values: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(k) = values.keys().find(|k| values[*k].contains('\0')) {
        return Err(format!(
            "export `{k}` holds a NUL byte, which no environment variable can carry"
        ));
    }
    let total: usize = values.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_EXPORTS {
        return Err(format!(
            "its exports hold {total} bytes; an action's exports hold at most {MAX_EXPORTS} bytes in all, names and values (CodePipeline's quota for output variables): pass big data as an artifact"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{MAX_EXPORTS, parse, read, take};

    #[test]
    fn take_removes_what_was_written_and_only_that() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("out.env");
        let declared = vec!["v".to_string()];
        std::fs::write(&file, "v=1\n").expect("write");
        let (values, _) = take(&file, &declared).expect("parses");
        assert_eq!(values["v"], "1");
        assert!(!file.exists(), "read, then removed");
        std::fs::write(&file, "v=\0\n").expect("write");
        assert!(take(&file, &declared).is_err(), "a NUL byte fails");
        assert!(!file.exists(), "removed even when it fails the attempt");
        let (values, _) = take(&file, &[]).expect("nothing written is fine");
        assert!(values.is_empty());
    }

    #[test]
    fn outputs_parse_lines_and_blocks() {
        let declared = vec!["version".to_string(), "notes".to_string()];
        let text = "version=1.0\nversion=1.1\nnotes<<EOF\nline one\nline two\nEOF\nextra=x\n";
        let (values, warnings) = parse(text, &declared).expect("parses");
        assert_eq!(values["version"], "1.1");
        assert_eq!(values["notes"], "line one\nline two");
        assert_eq!(warnings.len(), 1);
        assert!(
            parse("version=1\n", &declared).is_err(),
            "a declared export never written fails"
        );
        assert!(
            parse("notes<<END\nx\n", &declared).is_err(),
            "an unclosed block fails"
        );
    }

    #[test]
    fn exports_are_within_the_quota_and_without_nul_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("out.env");
        let declared = vec!["v".to_string()];
        let fits = format!("v={}\n", "x".repeat(MAX_EXPORTS - 1));
        std::fs::write(&file, &fits).expect("write");
        assert!(read(&file, &declared).is_ok(), "exactly the quota fits");
        std::fs::write(&file, format!("v={}\n", "x".repeat(MAX_EXPORTS))).expect("write");
        let e = read(&file, &declared).expect_err("over the quota");
        assert!(e.contains("at most 122880 bytes"), "{e}");
        std::fs::write(&file, "v=a\0b\n").expect("write");
        let e = read(&file, &declared).expect_err("a NUL byte");
        assert!(e.contains("NUL"), "{e}");
        std::fs::write(&file, b"v=\xff\n").expect("write");
        let e = read(&file, &declared).expect_err("not text");
        assert!(e.contains("not UTF-8"), "{e}");
        let missing = dir.path().join("none.env");
        assert!(
            read(&missing, &[]).is_ok(),
            "nothing written, nothing declared"
        );
        let mut many: Vec<String> = (0..30).map(|i| format!("k{i}=1")).collect();
        many.push("v=1\n".into());
        std::fs::write(&file, many.join("\n")).expect("write");
        let (_, warnings) = read(&file, &declared).expect("parses");
        assert_eq!(warnings.len(), 11, "{warnings:?}");
    }
}
