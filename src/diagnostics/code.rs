//! The registry of diagnostic codes: a stable public API (LANGUAGE.md §8).
//!
//! Codes are grouped by phase (E01 syntax, E02 names, E03 types, E04 release-model rules,
//! W0 warnings) and never reused. Each knows its title and its long explanation, which is
//! `docs/errors/CODE.md` embedded at build time and printed by `pipec explain`.

macro_rules! codes {
    ($($variant:ident => $title:literal,)*) => {
        /// A diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// `E0201`
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => stringify!($variant),)*
                }
            }

            /// A few words: "unknown name".
            pub fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)*
                }
            }

            /// The Markdown explanation printed by `pipec explain`.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => include_str!(concat!("../../docs/errors/", stringify!($variant), ".md")),)*
                }
            }
        }
    };
}

codes! {
    E0101 => "syntax error",
    E0102 => "unterminated string or block comment",
    E0103 => "malformed literal",
    E0201 => "unknown name",
    E0202 => "duplicate definition or reserved name",
    E0203 => "unknown attribute or parameter",
    E0204 => "missing required attribute or parameter",
    E0205 => "import not found, or import cycle",
    E0206 => "missing value for a parameter",
    E0301 => "type mismatch",
    E0302 => "condition is not `bool`",
    E0303 => "secret used outside `env`",
    E0304 => "invalid glob, cron, regex, time zone or URL",
    E0401 => "input artifact not certainly produced before",
    E0402 => "export not declared, or not certainly produced before",
    E0403 => "cycle in `after` within a stage",
    E0404 => "cycle in the stage graph",
    E0405 => "stage unreachable from the entry stage",
    E0406 => "source action outside the entry stage",
    E0407 => "empty pipeline or empty stage",
    E0408 => "`rollback` not allowed here",
    E0409 => "edge across stages or into the entry stage",
    E0410 => "timeout, retry count or poll interval out of range",
    E0411 => "inputs of one action restored at the same place",
    E0412 => "unknown configuration key of an AWS provider",
    E0413 => "missing configuration key of an AWS provider",
    E0414 => "value an AWS provider does not accept",
    E0415 => "wrong number of artifacts for an AWS provider",
    E0416 => "output variable an AWS provider does not produce",
    E0501 => "construct the target cannot express",
    E0502 => "value the target cannot compute",
    E0503 => "stage graph the target cannot lay out",
    E0504 => "`on failure retry` more than once on CodePipeline",
    E0505 => "over a CodePipeline limit",
    E0506 => "names that collide on the target",
    W0001 => "unused declaration",
    W0002 => "constant condition",
    W0003 => "action timeout longer than the pipeline timeout",
    W0004 => "interpolation inside shell quotes",
    W0005 => "not enforced on the target",
    W0006 => "AWS provider not in the catalog",
}

impl Code {
    /// Parses `E0201` (case-insensitive).
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn is_warning(self) -> bool {
        self.as_str().starts_with('W')
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
