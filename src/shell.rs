//! Tracks POSIX shell quoting through script text (pure; used by the checker for W0004 and
//! by the runtime to place interpolated words inside the script's own quoting).
//!
//! The tracker follows `'…'`, `"…"`, `$'…'`, backslash escapes, `# comments`, command
//! substitutions (`$(…)` and backticks, which start a fresh unquoted context even inside
//! double quotes) and here-documents (`<<WORD`, `<<-WORD`, with a quoted WORD meaning no
//! expansion in the body). The runtime never puts interpolated data into the script text
//! (it passes values in environment variables and the script refers to them), so a context
//! this tracker gets wrong can change how a value is split, never execute it.

/// The quoting context at a point of a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Quote {
    #[default]
    None,
    Single,
    Double,
    /// `$'…'`.
    AnsiC,
    /// The body of a here-document; `expand` when its delimiter was not quoted.
    Heredoc {
        expand: bool,
    },
    /// An arithmetic expression (`$((…))`, `((…))`, `$[…]`): bash evaluates the text of
    /// what is expanded there as an expression.
    Arith,
    /// Inside `[[ … ]]`.
    Test,
}

/// What an unquoted level is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlainKind {
    Script,
    /// `$(…)`.
    Subst,
    Backtick,
    /// `[[ … ]]`.
    Test,
    /// The elements of a compound array assignment `NAME=(…)`, where `[…]=` is a subscript.
    Compound,
}

/// Commands whose arguments name variables: a subscript there (`unset a[…]`) is evaluated
/// as arithmetic.
const NAMING: &[&str] = &[
    "unset", "read", "printf", "declare", "local", "typeset", "readonly", "export",
];

/// A nesting level of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    /// Unquoted text. In a `$(…)`: its open parentheses, and its open `case … esac` (whose
    /// `)` end patterns, not the substitution).
    Plain {
        kind: PlainKind,
        parens: u32,
        cases: u32,
    },
    Single,
    Double,
    AnsiC,
    /// `$((…))` or `((…))` with its open parentheses, or `$[…]` with its open brackets.
    Arith {
        depth: u32,
        bracket: bool,
    },
}

impl Ctx {
    fn plain(kind: PlainKind) -> Ctx {
        Ctx::Plain {
            kind,
            parens: 0,
            cases: 0,
        }
    }
}

/// What the previous character opened, when the next one may make it something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opened {
    /// `$(`: with another `(`, arithmetic.
    Subst,
    /// `(` at the start of a command: with another `(`, arithmetic.
    Paren,
    /// `[` at the start of a word: with another `[`, a `[[` test.
    Bracket,
}

/// A here-document announced on the current line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Heredoc {
    delim: String,
    quoted: bool,
    strip_tabs: bool,
}

/// Where the tracker is in a `<<` operator.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Redirect {
    None,
    /// After one `<`.
    Less,
    /// After `<<` (and maybe `-`): the delimiter word comes.
    Word {
        heredoc: Heredoc,
        started: bool,
        quote: Option<char>,
        escaped: bool,
    },
}

/// Feeds script text and remembers the quoting context at its end.
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // Reason: independent lexer flags, each one character of state.
pub struct QuoteTracker {
    stack: Vec<Ctx>,
    escaped: bool,
    /// Inside a `# comment` (to the end of the line).
    comment: bool,
    /// The previous character ends a word (start of text, blank, `;`, `|`, `&`, `(`).
    word_start: bool,
    /// The previous character was an unescaped, unquoted `$`.
    dollar: bool,
    opened: Option<Opened>,
    prev: char,
    /// The unquoted word being read (for `case` and `esac`).
    word: String,
    redirect: Redirect,
    /// Here-documents whose bodies start after the current line.
    pending: Vec<Heredoc>,
    /// The here-document whose body is being read, and the body's current line.
    /// With the stack depth at its start: deeper means inside an expansion in the body.
    body: Option<(Heredoc, String, usize)>,
    /// The first word of the current command, once read (for `let` and `declare -i`).
    command: Option<String>,
    /// The current command is `declare`/`local`/`typeset` with an `-i` option.
    int_decl: bool,
    /// Variables declared `-i` so far: a value assigned to one is evaluated as arithmetic.
    int_names: std::collections::BTreeSet<String>,
    /// The current word assigns to one of `int_names` (`v=…`, also across quotes).
    int_assign: bool,
}

impl Default for QuoteTracker {
    fn default() -> QuoteTracker {
        QuoteTracker::new()
    }
}

impl QuoteTracker {
    pub fn new() -> QuoteTracker {
        QuoteTracker {
            stack: vec![Ctx::plain(PlainKind::Script)],
            escaped: false,
            comment: false,
            word_start: true,
            dollar: false,
            opened: None,
            prev: '\n',
            word: String::new(),
            redirect: Redirect::None,
            pending: Vec::new(),
            body: None,
            command: None,
            int_decl: false,
            int_names: std::collections::BTreeSet::new(),
            int_assign: false,
        }
    }

    fn top(&self) -> Ctx {
        self.stack
            .last()
            .copied()
            .unwrap_or(Ctx::plain(PlainKind::Script))
    }

    fn set_top(&mut self, ctx: Ctx) {
        if let Some(top) = self.stack.last_mut() {
            *top = ctx;
        }
    }

    pub fn feed(&mut self, text: &str) {
        for c in text.chars() {
            self.step(c);
            self.prev = c;
        }
    }

    fn step(&mut self, c: char) {
        let depth = self.stack.len();
        if let Some((doc, line, base)) = &mut self.body
            && depth <= *base
        {
            // Expansions of an unquoted body: `$(…)`, `$((…))`, `$[…]`, backticks.
            if !doc.quoted {
                let dollar = std::mem::take(&mut self.dollar);
                let escaped = std::mem::take(&mut self.escaped);
                match c {
                    _ if escaped => {}
                    '\\' => self.escaped = true,
                    '$' => self.dollar = true,
                    '(' if dollar => {
                        self.stack.push(Ctx::plain(PlainKind::Subst));
                        self.opened = Some(Opened::Subst);
                    }
                    '[' if dollar => self.stack.push(Ctx::Arith {
                        depth: 1,
                        bracket: true,
                    }),
                    '`' => self.stack.push(Ctx::plain(PlainKind::Backtick)),
                    _ => {}
                }
            }
            if c == '\n' {
                let text = if doc.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line.as_str()
                };
                if text == doc.delim {
                    self.body = None;
                    self.next_body();
                } else {
                    line.clear();
                }
            } else {
                line.push(c);
            }
            return;
        }
        self.command_words(c);
        if self.delimiter(c) {
            return;
        }
        let at_word_start = std::mem::replace(
            &mut self.word_start,
            c.is_whitespace() || ";|&()`".contains(c),
        );
        let dollar = std::mem::take(&mut self.dollar);
        let opened = self.opened.take();
        if self.comment {
            self.comment = c != '\n';
            if c == '\n' {
                self.next_body();
            }
            return;
        }
        if self.escaped {
            self.escaped = false;
            return;
        }
        match self.top() {
            Ctx::Single => {
                if c == '\'' {
                    self.stack.pop();
                }
            }
            Ctx::AnsiC => match c {
                '\\' => self.escaped = true,
                '\'' => {
                    self.stack.pop();
                }
                _ => {}
            },
            Ctx::Double => self.double(c, dollar, opened),
            Ctx::Arith { depth, bracket } => self.arith(c, depth, bracket, dollar, opened),
            Ctx::Plain {
                kind,
                parens,
                cases,
            } => {
                self.plain(c, (kind, parens, cases), dollar, at_word_start, opened);
            }
        }
    }

    /// A character inside `"…"`.
    fn double(&mut self, c: char, dollar: bool, opened: Option<Opened>) {
        // Words, for `${NAME[…]}` and `${NAME:…}`.
        if c.is_whitespace() || ";|&()<>\"'`$".contains(c) {
            self.word.clear();
        } else {
            self.word.push(c);
        }
        let subscript = c == '['
            && self
                .word
                .strip_suffix('[')
                .and_then(|w| w.strip_prefix('{'))
                .map(|w| w.trim_start_matches(['#', '!']))
                .is_some_and(is_name);
        match c {
            '\\' => self.escaped = true,
            '"' => {
                self.stack.pop();
            }
            '`' => self.stack.push(Ctx::plain(PlainKind::Backtick)),
            '(' if opened == Some(Opened::Subst) => {
                self.set_top(Ctx::Arith {
                    depth: 2,
                    bracket: false,
                });
            }
            '(' if dollar => {
                self.stack.push(Ctx::plain(PlainKind::Subst));
                self.opened = Some(Opened::Subst);
            }
            '[' if dollar || subscript => self.stack.push(Ctx::Arith {
                depth: 1,
                bracket: true,
            }),
            '$' => self.dollar = true,
            _ => {}
        }
    }

    /// Follows unquoted words; returns the word `c` ends (if any). In a substitution,
    /// counts the open `case … esac` (a quote or `$` is never part of those words).
    fn plain_word(&mut self, c: char, kind: PlainKind, cases: &mut u32) -> String {
        if !(c.is_whitespace() || ";|&()<>\"'`$".contains(c)) {
            self.word.push(c);
            return String::new();
        }
        let finished = std::mem::take(&mut self.word);
        if kind == PlainKind::Subst {
            match finished.as_str() {
                "case" => *cases += 1,
                "esac" => *cases = cases.saturating_sub(1),
                _ => {}
            }
        }
        finished
    }

    /// A character of an arithmetic expression.
    fn arith(&mut self, c: char, depth: u32, bracket: bool, dollar: bool, opened: Option<Opened>) {
        let (open, close) = if bracket { ('[', ']') } else { ('(', ')') };
        match c {
            '(' if opened == Some(Opened::Subst) => self.set_top(Ctx::Arith {
                depth: 2,
                bracket: false,
            }),
            '(' if dollar => {
                self.stack.push(Ctx::plain(PlainKind::Subst));
                self.opened = Some(Opened::Subst);
            }
            '"' => self.stack.push(Ctx::Double),
            '$' => self.dollar = true,
            c if c == open => self.set_top(Ctx::Arith {
                depth: depth + 1,
                bracket,
            }),
            c if c == close => {
                if depth <= 1 {
                    self.stack.pop();
                } else {
                    self.set_top(Ctx::Arith {
                        depth: depth - 1,
                        bracket,
                    });
                }
            }
            _ => {}
        }
    }

    /// A character in unquoted text (the script, `$(…)`, backticks or `[[ … ]]`).
    fn plain(
        &mut self,
        c: char,
        (kind, mut parens, mut cases): (PlainKind, u32, u32),
        dollar: bool,
        at_word_start: bool,
        opened: Option<Opened>,
    ) {
        let finished = self.plain_word(c, kind, &mut cases);
        // `((` also right after these keywords (`while((`, `for((`).
        let command_start = at_word_start
            || matches!(
                finished.as_str(),
                "for" | "while" | "until" | "if" | "elif" | "do" | "then" | "else" | "!"
            );
        let subscript = self.names(c, kind);
        self.set_top(Ctx::Plain {
            kind,
            parens,
            cases,
        });
        match c {
            '\\' => self.escaped = true,
            '\'' if dollar => self.stack.push(Ctx::AnsiC),
            '\'' => self.stack.push(Ctx::Single),
            '"' => self.stack.push(Ctx::Double),
            '`' if kind == PlainKind::Backtick => {
                self.stack.pop();
            }
            '`' => self.stack.push(Ctx::plain(PlainKind::Backtick)),
            // `$((`: the substitution just opened is arithmetic.
            '(' if opened == Some(Opened::Subst) => self.set_top(Ctx::Arith {
                depth: 2,
                bracket: false,
            }),
            // `((` at the start of a command.
            '(' if opened == Some(Opened::Paren) => {
                if kind == PlainKind::Subst && parens > 0 {
                    parens -= 1;
                    self.set_top(Ctx::Plain {
                        kind,
                        parens,
                        cases,
                    });
                }
                self.stack.push(Ctx::Arith {
                    depth: 2,
                    bracket: false,
                });
            }
            '(' if dollar => {
                self.stack.push(Ctx::plain(PlainKind::Subst));
                self.opened = Some(Opened::Subst);
            }
            // `NAME=(` or `NAME+=(`: a compound array assignment.
            '(' if finished
                .strip_suffix('=')
                .is_some_and(|w| is_name(w.strip_suffix('+').unwrap_or(w))) =>
            {
                self.stack.push(Ctx::plain(PlainKind::Compound));
            }
            ')' if kind == PlainKind::Compound => {
                self.stack.pop();
            }
            '(' => {
                if kind == PlainKind::Subst {
                    self.set_top(Ctx::Plain {
                        kind,
                        parens: parens + 1,
                        cases,
                    });
                }
                if command_start {
                    self.opened = Some(Opened::Paren);
                }
            }
            ')' if kind == PlainKind::Subst => {
                if parens > 0 {
                    self.set_top(Ctx::Plain {
                        kind,
                        parens: parens - 1,
                        cases,
                    });
                } else if cases == 0 {
                    self.stack.pop();
                }
                // (else: the end of a `case` pattern)
            }
            '[' if dollar || subscript => self.stack.push(Ctx::Arith {
                depth: 1,
                bracket: true,
            }),
            '[' if opened == Some(Opened::Bracket) => {
                self.stack.push(Ctx::plain(PlainKind::Test));
            }
            '[' if at_word_start => self.opened = Some(Opened::Bracket),
            ']' if kind == PlainKind::Test && self.prev == ']' => {
                self.stack.pop();
            }
            '#' if at_word_start => self.comment = true,
            '$' => self.dollar = true,
            '<' if kind != PlainKind::Test => self.less(),
            '\n' => self.next_body(),
            _ => {}
        }
        if c != '<' && self.redirect == Redirect::Less {
            self.redirect = Redirect::None;
        }
    }

    /// Follows the names in unquoted words: whether `c` opens a subscript, and whether the
    /// word assigns to a variable declared `-i`.
    fn names(&mut self, c: char, kind: PlainKind) -> bool {
        // `${NAME[`, `NAME[` starting a command (an assignment) or in the arguments of a
        // command that names variables, `[` starting an element of `NAME=(…)`: a subscript,
        // evaluated as arithmetic. (Elsewhere `NAME[…]` is a glob.)
        let naming = self
            .command
            .as_deref()
            .is_none_or(|cmd| NAMING.contains(&cmd));
        if c.is_whitespace() || ";|&()<>".contains(c) {
            self.int_assign = false;
        } else if c == '=' && naming {
            let target = self.word.trim_end_matches('=').trim_end_matches('+');
            self.int_assign = self.int_names.contains(target);
        }
        c == '['
            && (self
                .word
                .strip_suffix('[')
                .is_some_and(|w| match w.strip_prefix('{') {
                    Some(w) => is_name(w.trim_start_matches(['#', '!'])),
                    None => naming && is_name(w),
                })
                || (kind == PlainKind::Compound && self.word == "["))
    }

    /// A `<`: the second of `<<` announces a here-document.
    fn less(&mut self) {
        self.redirect = if self.redirect == Redirect::Less {
            Redirect::Word {
                heredoc: Heredoc {
                    delim: String::new(),
                    quoted: false,
                    strip_tabs: false,
                },
                started: false,
                quote: None,
                escaped: false,
            }
        } else {
            Redirect::Less
        };
    }

    /// Reads the delimiter word after `<<`; true when `c` was part of it.
    fn delimiter(&mut self, c: char) -> bool {
        let Redirect::Word {
            heredoc,
            started,
            quote,
            escaped,
        } = &mut self.redirect
        else {
            return false;
        };
        if *escaped {
            *escaped = false;
            heredoc.delim.push(c);
            return true;
        }
        if let Some(q) = *quote {
            if c == q {
                *quote = None;
            } else {
                heredoc.delim.push(c);
            }
            return true;
        }
        match c {
            // `<<<` is a here-string, not a here-document.
            '<' if !*started && heredoc.delim.is_empty() && !heredoc.strip_tabs => {
                self.redirect = Redirect::None;
                return true;
            }
            '-' if !*started && !heredoc.strip_tabs && heredoc.delim.is_empty() => {
                heredoc.strip_tabs = true;
                return true;
            }
            ' ' | '\t' if !*started => return true,
            '\'' | '"' => {
                *started = true;
                heredoc.quoted = true;
                *quote = Some(c);
                return true;
            }
            '\\' => {
                *started = true;
                heredoc.quoted = true;
                *escaped = true;
                return true;
            }
            c if c.is_whitespace() || ";|&<>()".contains(c) => {}
            c => {
                *started = true;
                heredoc.delim.push(c);
                return true;
            }
        }
        // The word ended at `c`, which the normal rules handle.
        let Redirect::Word { heredoc, .. } = std::mem::replace(&mut self.redirect, Redirect::None)
        else {
            return false;
        };
        if !heredoc.delim.is_empty() {
            self.pending.push(heredoc);
        }
        false
    }

    /// At the end of a command line: the first announced here-document's body starts.
    fn next_body(&mut self) {
        if !self.pending.is_empty() {
            let doc = self.pending.remove(0);
            self.body = Some((doc, String::new(), self.stack.len()));
        }
    }

    pub fn quote(&self) -> Quote {
        if let Some((doc, _, base)) = &self.body
            && self.stack.len() <= *base
        {
            return Quote::Heredoc {
                expand: !doc.quoted,
            };
        }
        match self.top() {
            Ctx::Plain {
                kind: PlainKind::Test,
                ..
            } => Quote::Test,
            Ctx::Plain { .. } => Quote::None,
            Ctx::Single => Quote::Single,
            Ctx::Double => Quote::Double,
            Ctx::AnsiC => Quote::AnsiC,
            Ctx::Arith { .. } => Quote::Arith,
        }
    }

    /// Inside a shell comment, where an interpolated word would be inert.
    pub fn in_comment(&self) -> bool {
        self.comment
    }

    /// Whether bash evaluates what is expanded here as an arithmetic expression: inside
    /// `$((…))`, `((…))`, `$[…]`, a subscript `NAME[…]` (also within quotes there), a
    /// substring offset `${NAME:…}`, or the arguments of `let` and `declare -i`.
    pub fn arithmetic(&self) -> bool {
        let in_expansion = self.stack.iter().any(|c| matches!(c, Ctx::Arith { .. }));
        let offset = self
            .word
            .strip_prefix('{')
            .and_then(|w| w.split_once(':'))
            .is_some_and(|(name, rest)| is_name(name) && !rest.starts_with(['-', '=', '+', '?']));
        let command = matches!(self.top(), Ctx::Plain { .. })
            && (self.command.as_deref() == Some("let") || self.int_decl);
        in_expansion || offset || command || self.int_assign
    }

    /// Inside `[[ … ]]` (also within quotes there).
    pub fn in_test(&self) -> bool {
        self.stack.iter().any(|c| {
            matches!(
                c,
                Ctx::Plain {
                    kind: PlainKind::Test,
                    ..
                }
            )
        })
    }

    /// Marks an interpolated value at this point: it is part of a word (so a `#` right after
    /// it does not start a comment).
    pub fn value(&mut self) {
        self.word_start = false;
        self.word.push('\u{1}');
    }

    /// Follows the command's words, for `let`, `declare -i` and the variables it declares.
    fn command_words(&mut self, c: char) {
        if !matches!(self.top(), Ctx::Plain { .. }) || self.comment || self.escaped {
            return;
        }
        let separator = c == '\n' || ";|&(){}`".contains(c);
        if (separator || c.is_whitespace()) && !self.word.is_empty() {
            let word = self.word.as_str();
            match &self.command {
                // Reserved words before a command: the command is the next word.
                None if matches!(
                    word,
                    "{" | "!" | "if" | "then" | "do" | "else" | "elif" | "while" | "until" | "time"
                ) => {}
                None => self.command = Some(word.to_string()),
                Some(cmd)
                    if matches!(cmd.as_str(), "declare" | "local" | "typeset")
                        && word.starts_with('-') =>
                {
                    self.int_decl |= word.contains('i');
                }
                Some(_) if self.int_decl => {
                    let name = word.split(['=', '[', '+']).next().unwrap_or("");
                    if is_name(name) {
                        self.int_names.insert(name.to_string());
                    }
                }
                Some(_) => {}
            }
        }
        if separator {
            self.command = None;
            self.int_decl = false;
        }
    }
}

/// The operators of `[[ … ]]` that evaluate their operands as arithmetic.
const ARITHMETIC_TESTS: &[&str] = &["-eq", "-ne", "-lt", "-le", "-gt", "-ge"];

/// Whether a value interpolated where `quotes` stands is evaluated by bash as an arithmetic
/// expression, so that only a number may go there (a string could run commands hidden in
/// it: `a[$(…)]`). Inside `[[ … ]]` that depends on the operator beside it: `around` gives
/// the script's text before and after the value (other values as `\u{1}`). Shared by the
/// checker (E0301) and the runtime, which refuses such a value.
pub fn evaluates_arithmetic(
    quotes: &QuoteTracker,
    around: impl FnOnce() -> (String, String),
) -> bool {
    if quotes.arithmetic() {
        return true;
    }
    if !quotes.in_test() {
        return false;
    }
    let (before, after) = around();
    let word_chars = |c: char| !c.is_whitespace();
    let before = before.trim_end_matches(word_chars);
    let after = after.trim_start_matches(word_chars);
    [
        before.split_whitespace().next_back(),
        after.split_whitespace().next(),
    ]
    .iter()
    .flatten()
    .any(|w| ARITHMETIC_TESTS.contains(w))
}

/// A shell variable name.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How references to variables are written where `quote` says the script's text stands, so
/// that the shell expands each once and never splits or parses its value: `words` is the
/// quoted form (`"${A}" "${B}"`), `bare` the unquoted one (`${A} ${B}`), `many` when there
/// is more than one word (a list). `None` where nothing expands: a here-document whose
/// delimiter is quoted (`<<'EOF'`). The runtime and the exporters write scripts with it.
pub fn reference(quote: Quote, words: &str, bare: &str, many: bool) -> Option<String> {
    Some(match quote {
        Quote::None | Quote::Test => words.to_string(),
        Quote::Single => format!("'{words}'"),
        Quote::AnsiC => format!("'{words}$'"),
        Quote::Double if many => format!("\"{words}\""),
        // Where the shell does not split.
        Quote::Double | Quote::Arith | Quote::Heredoc { expand: true } => bare.to_string(),
        Quote::Heredoc { expand: false } => return None,
    })
}

/// The script of a `git` action, run in an empty workspace: clones `$PIPEC_GIT_REPO`,
/// checks out `$PIPEC_GIT_REF` and exports `commit` and `branch` (its values come from the
/// environment only). The runtime and the exporters run it.
pub const GIT_CHECKOUT: &str = r#"set -eu
git clone --quiet --no-hardlinks -- "$PIPEC_GIT_REPO" .
branch=
if [ "$PIPEC_GIT_REF" = HEAD ]; then
  branch=$(git symbolic-ref --quiet --short HEAD || true)
else
  commit=$(git rev-parse --verify --quiet "$PIPEC_GIT_REF^{commit}" \
    || git rev-parse --verify --quiet "origin/$PIPEC_GIT_REF^{commit}" || true)
  if [ -z "$commit" ]; then
    echo "pipec: \`$PIPEC_GIT_REF\` is not a branch, tag or commit of $PIPEC_GIT_REPO" >&2
    exit 1
  fi
  git -c advice.detachedHead=false checkout --quiet --detach "$commit"
  if git show-ref --verify --quiet "refs/remotes/origin/$PIPEC_GIT_REF"; then
    branch=$PIPEC_GIT_REF
  fi
fi
printf 'commit=%s\nbranch=%s\n' "$(git rev-parse HEAD)" "$branch" >> "$PIPEC_OUTPUT"
rm -rf .git
"#;

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
mod tests;
