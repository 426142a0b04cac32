//! Source files and spans.
//!
//! Every file the compiler sees (a user's file, a local import, an embedded stdlib module)
//! gets a [`FileId`] in one [`SourceMap`]. A [`Span`] is a file plus a byte range; line and
//! column (1-based, columns in Unicode scalar values, as CLI.md requires) are computed on
//! demand from a per-file line index, so rendering many diagnostics of a big file stays cheap.

use serde::{Deserialize, Serialize};

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId(pub u32);

/// A byte range in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (same file assumed).
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A 1-based line and column (column in Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// One source file with its line index.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown to users: a path relative to the current directory, or
    /// `<stdlib/NAME.pipe>` for embedded modules.
    pub name: String,
    /// Shared, so that parser threads can read it without a copy.
    pub text: std::sync::Arc<str>,
    /// Built on first use: checking a clean file never asks for a line or column, and a big
    /// file's index costs as much as a tenth of its parse, before the parse can start.
    index: std::sync::OnceLock<LineIndex>,
}

/// Where lines start, and how many characters precede every `CHAR_STRIDE`th byte.
#[derive(Debug)]
struct LineIndex {
    line_starts: Vec<usize>,
    /// `chars_before[i]`: characters in the first `i * CHAR_STRIDE` bytes, so that a column
    /// costs at most `CHAR_STRIDE` bytes of counting however long its line is (a fuzzed
    /// file may be one line of a megabyte, with thousands of diagnostics on it).
    chars_before: Vec<u32>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars_before = vec![0u32];
        let mut total = 0;
        for chunk in text.as_bytes().chunks(CHAR_STRIDE) {
            total += count_chars(chunk) as u32;
            chars_before.push(total);
        }
        LineIndex {
            line_starts,
            chars_before,
        }
    }
}

/// Bytes between two entries of [`SourceFile`]'s character index.
const CHAR_STRIDE: usize = 256;

/// Characters whose first byte is in `bytes` (continuation bytes are `0b10xx_xxxx`).
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl SourceFile {
    pub fn new(name: String, text: String) -> SourceFile {
        SourceFile {
            name,
            text: text.into(),
            index: std::sync::OnceLock::new(),
        }
    }

    fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(&self.text))
    }

    /// Characters before the byte offset `offset` (a char boundary).
    fn chars_to(&self, offset: usize) -> usize {
        let mark = offset / CHAR_STRIDE;
        let from = mark * CHAR_STRIDE;
        self.index().chars_before[mark] as usize + count_chars(&self.text.as_bytes()[from..offset])
    }

    /// Characters in the byte range `range` (clamped to the text; ends on char boundaries).
    pub fn char_len(&self, range: std::ops::Range<usize>) -> usize {
        let end = range.end.min(self.text.len());
        self.chars_to(end) - self.chars_to(range.start.min(end))
    }

    /// Byte offset where the 0-based line `index` starts.
    pub fn line_start(&self, index: usize) -> Option<usize> {
        self.index().line_starts.get(index).copied()
    }

    /// Line and column of a byte offset (clamped to the text and to a char boundary).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_starts = &self.index().line_starts;
        let line = line_starts.partition_point(|&s| s <= offset) - 1;
        let column = self.chars_to(offset) - self.chars_to(line_starts[line]);
        LineCol {
            line: line as u32 + 1,
            column: column as u32 + 1,
        }
    }
}

/// All files of one compilation.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name.into(), text.into()));
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .map(|i| FileId(i as u32))
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn line_col(&self, span: Span) -> (LineCol, LineCol) {
        let f = self.get(span.file);
        (
            f.line_col(span.start as usize),
            f.line_col(span.end as usize),
        )
    }
}

/// Display name of an embedded stdlib module.
pub fn stdlib_name(module: &str) -> String {
    format!("<stdlib/{module}.pipe>")
}

#[cfg(test)]
mod tests {
    use super::SourceFile;

    /// The indexed columns agree with counting from the line start, across index marks
    /// and multi-byte characters.
    #[test]
    fn columns_match_a_count_from_the_line_start() {
        let line = "aé€😀 x".repeat(200);
        let text = format!("{line}\n{line}\nend");
        let file = SourceFile::new("t.pipe".into(), text.clone());
        for (offset, _) in text.char_indices() {
            let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let lc = file.line_col(offset);
            assert_eq!(lc.column as usize, text[start..offset].chars().count() + 1);
            assert_eq!(lc.line as usize, text[..offset].matches('\n').count() + 1);
        }
        assert_eq!(file.char_len(0..text.len()), text.chars().count());
    }
}
