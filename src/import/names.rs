//! CodePipeline names (`[A-Za-z0-9.@_-]+`) to pipec identifiers (`[A-Za-z_][A-Za-z0-9_]*`,
//! at most 100 characters), deterministically: every other character becomes `_`, a leading
//! digit gets a `_` before it, and a name taken already gets `_2`, `_3`…

/// Names given out in one scope.
#[derive(Default)]
pub(super) struct Names {
    taken: Vec<(String, String)>,
}

/// Words pipec reserves where a stage name stands.
const RESERVED: &[&str] = &["run", "params", "secrets"];

impl Names {
    /// Reserves names that may not be given out (`run`, `params`, `secrets` for stages).
    pub(super) fn reserving(words: &[&str]) -> Names {
        Names {
            taken: words
                .iter()
                .map(|w| (String::new(), (*w).to_string()))
                .collect(),
        }
    }

    /// Names for stages.
    pub(super) fn stages() -> Names {
        Names::reserving(RESERVED)
    }

    /// The identifier for `original` (the same one each time it is asked).
    pub(super) fn name(&mut self, original: &str) -> String {
        self.keyed(original, original)
    }

    /// The identifier for the thing known as `key`, made from `original`.
    pub(super) fn keyed(&mut self, key: &str, original: &str) -> String {
        if let Some((_, id)) = self.taken.iter().find(|(o, _)| o == key && !o.is_empty()) {
            return id.clone();
        }
        let base = identifier(original);
        let mut id = base.clone();
        let mut n = 2;
        while self.taken.iter().any(|(_, t)| *t == id) {
            id = format!("{base}_{n}");
            n += 1;
        }
        self.taken.push((key.to_string(), id.clone()));
        id
    }
}

/// `original` as an identifier (not checked for uniqueness).
pub(super) fn identifier(original: &str) -> String {
    let mut id: String = original
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert(0, '_');
    }
    id.truncate(90);
    id
}

/// Whether `s` is a pipec identifier already.
pub(super) fn is_identifier(s: &str) -> bool {
    identifier(s) == s
}
