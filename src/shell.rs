//! Tracks POSIX shell quoting through script text (pure; used by the checker for W0004 and
//! by the runtime to insert interpolated words safely inside quotes).

/// The quoting context at a point of a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Quote {
    #[default]
    None,
    Single,
    Double,
}

/// Feeds script text and remembers the quoting context at its end.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuoteTracker {
    quote: Quote,
    escaped: bool,
    /// Inside a `# comment` (to the end of the line).
    comment: bool,
    /// The previous character ends a word (start of text, blank, `;`, `|`, `&`, `(`).
    word_start: bool,
}

impl QuoteTracker {
    pub fn new() -> QuoteTracker {
        QuoteTracker {
            word_start: true,
            ..QuoteTracker::default()
        }
    }

    pub fn feed(&mut self, text: &str) {
        for c in text.chars() {
            let at_word_start = std::mem::replace(
                &mut self.word_start,
                c.is_whitespace() || ";|&()".contains(c),
            );
            if self.comment {
                self.comment = c != '\n';
                continue;
            }
            if self.escaped {
                self.escaped = false;
                continue;
            }
            if c == '#' && self.quote == Quote::None && at_word_start {
                self.comment = true;
                continue;
            }
            self.quote = match (self.quote, c) {
                (Quote::None | Quote::Double, '\\') => {
                    self.escaped = true;
                    self.quote
                }
                (Quote::None, '\'') => Quote::Single,
                (Quote::None, '"') => Quote::Double,
                (Quote::Single, '\'') | (Quote::Double, '"') => Quote::None,
                (q, _) => q,
            };
        }
    }

    pub fn quote(&self) -> Quote {
        self.quote
    }

    /// Inside a shell comment, where an interpolated word would be inert.
    pub fn in_comment(&self) -> bool {
        self.comment
    }
}

/// Quotes one word for a POSIX shell: the result is always exactly one word.
pub fn quote_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::{Quote, QuoteTracker, quote_word};

    fn at_end(s: &str) -> Quote {
        let mut t = QuoteTracker::new();
        t.feed(s);
        t.quote()
    }

    #[test]
    fn tracks_quotes_and_escapes() {
        assert_eq!(at_end("echo '"), Quote::Single);
        assert_eq!(at_end("echo \"a"), Quote::Double);
        assert_eq!(at_end("echo \\\" "), Quote::None);
        assert_eq!(at_end("echo \"it's\" "), Quote::None);
        assert_eq!(at_end("echo 'a\\'"), Quote::None);
    }

    #[test]
    fn comments_do_not_open_quotes() {
        assert_eq!(at_end("# don't quote\necho "), Quote::None);
        assert_eq!(at_end("echo x # it's\necho "), Quote::None);
        assert_eq!(at_end("echo a#'b"), Quote::Single);
    }

    #[test]
    fn quotes_words() {
        assert_eq!(quote_word("abc"), "abc");
        assert_eq!(quote_word(""), "''");
        assert_eq!(quote_word("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote_word("it's"), "'it'\\''s'");
    }
}
