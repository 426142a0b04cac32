//! Secrets at run time: masking their values in what a run shows and stores, and what a
//! nested run (a `pipeline` action's, or a rollback of one) inherits from the runs around it.
//!
//! Input: the secret values of a run and of the runs it is nested in, the variables and files
//! they were read from, and a `pipeline` action's `env`. Output: [`mask`]ed text, the
//! environment a nested run's actions get ([`Inherited::for_actions`]), and whether a param
//! default may read a variable or a file ([`Sources`]).
//!
//! Masking replaces the union of all matches of all secrets with one `***`: overlapping or
//! adjacent matches (`AAAABBBB` and `BBBBCCCC` in `AAAABBBBCCCC`, a secret overlapping itself)
//! leave nothing of either. Text is masked a line at a time (logs are read line by line, so
//! a secret written in pieces is whole by then); hence each line of a multi-line secret is a
//! mask of its own. Limits: lines of a multi-line secret shorter than 3 characters are not
//! masked (they would mask ordinary text everywhere), and an empty secret masks nothing.
#![allow(clippy::disallowed_methods)] // Reason: secret files are compared by their real paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::ir::{Ir, SecretSource};

/// What replaces a secret's value.
const MASK: &str = "***";

/// Every value to hide: each secret, and each line (of 3 characters or more) of a multi-line
/// one; longest first, without duplicates or empty values.
pub fn masks(secrets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out.push(s.clone());
        out.extend(
            s.lines()
                .map(str::trim)
                .filter(|l| l.len() >= 3)
                .map(str::to_string),
        );
    }
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Replaces the union of every match of every value of `masks` in `text` with `***`
/// (overlapping and adjacent matches become one `***`).
pub fn mask(text: &str, masks: &[String]) -> String {
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    for m in masks.iter().filter(|m| !m.is_empty()) {
        let step = m.chars().next().map_or(1, char::len_utf8);
        let mut from = 0;
        // Every match, overlapping ones too (`aba` twice in `ababa`).
        while let Some(at) = text.get(from..).and_then(|rest| rest.find(m.as_str())) {
            hidden.push((from + at, from + at + m.len()));
            from += at + step;
        }
    }
    if hidden.is_empty() {
        return text.to_string();
    }
    hidden.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut shown = 0;
    let mut i = 0;
    while i < hidden.len() {
        let (start, mut end) = hidden[i];
        i += 1;
        while i < hidden.len() && hidden[i].0 <= end {
            end = end.max(hidden[i].1);
            i += 1;
        }
        // Match bounds are character bounds: `find` returns them, and a match ends one.
        out.push_str(&text[shown..start]);
        out.push_str(MASK);
        shown = end;
    }
    out.push_str(&text[shown..]);
    out
}

impl super::run::Progress {
    /// The progress with `masks` masked in its text (what a nested run reports).
    pub(super) fn masked(mut self, masks: &[String]) -> Self {
        use super::run::Progress;
        match &mut self {
            Progress::Stage { detail, .. }
            | Progress::Action { detail, .. }
            | Progress::Check { detail, .. }
            | Progress::Output { line: detail, .. } => *detail = mask(detail, masks),
        }
        self
    }
}

/// A variable a `pipeline` action's `env` sets for its nested run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    pub value: String,
    /// Its value is a secret (`secrets.NAME`).
    pub secret: bool,
}

/// What a nested run inherits from the runs it is nested in (nothing for a top-level run).
///
/// Its actions get the environment an action of the run around it would get: pipec's, minus
/// the variables that are sources of that run's secrets (and of the runs around it), plus the
/// `pipeline` action's `env`. Its secrets read pipec's environment plus that `env`; its param
/// defaults may not read the source of a secret of any enclosing run ([`Sources`]).
#[derive(Clone, Debug, Default)]
pub struct Inherited {
    /// The values of every enclosing run's secrets: masked in this run as its own are.
    pub secrets: Vec<String>,
    /// Variables that are sources of an enclosing run's secrets: this run's actions do not
    /// inherit them and its params may not read them.
    pub removed: BTreeSet<String>,
    /// Variables the `pipeline` actions above set with `env` (the innermost wins).
    pub env: BTreeMap<String, Passed>,
    /// Files that are sources of an enclosing run's secrets (real paths where they exist).
    pub files: Vec<PathBuf>,
}

impl Inherited {
    /// What a run nested in this one inherits: `parent` is the run around it (its secrets,
    /// their sources, its folder), `env` the `pipeline` action's evaluated `env`.
    #[must_use]
    pub fn nested(&self, parent: &Parent<'_>, env: Vec<(String, Passed)>) -> Inherited {
        let mut removed = self.removed.clone();
        removed.extend(parent.vars.iter().cloned());
        let mut passed = self.env.clone();
        passed.retain(|k, _| !parent.vars.contains(k));
        let mut secrets = self.secrets.clone();
        secrets.extend(parent.secrets.values().cloned());
        for (k, v) in env {
            // Set explicitly, so given to the nested run (masked when a secret).
            removed.remove(&k);
            if v.secret {
                secrets.push(v.value.clone());
            }
            passed.insert(k, v);
        }
        secrets.sort();
        secrets.dedup();
        let mut files = self.files.clone();
        files.extend(file_sources(parent.ir, parent.base));
        Inherited {
            secrets,
            removed,
            env: passed,
            files,
        }
    }

    /// The environment of an action of a run with these secret sources (`own`): the
    /// variables it does not inherit, and those it gets before its own `env`.
    pub fn for_actions(&self, own: &[String]) -> (Vec<String>, Vec<(String, String)>) {
        let mut remove: Vec<String> = own.to_vec();
        remove.extend(self.removed.iter().filter(|v| !own.contains(v)).cloned());
        let add = self
            .env
            .iter()
            .filter(|(k, _)| !own.contains(k))
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        (remove, add)
    }

    /// The secret values of a run with these secrets: its own and the inherited ones.
    pub fn secrets_with(&self, own: &BTreeMap<String, String>) -> Vec<String> {
        let mut all: Vec<String> = own.values().cloned().collect();
        all.extend(self.secrets.iter().cloned());
        all
    }

    /// Every value a run with these secrets masks ([`masks`] of [`Inherited::secrets_with`]).
    pub fn masks_with(&self, own: &BTreeMap<String, String>) -> Vec<String> {
        masks(&self.secrets_with(own))
    }
}

/// The run a `pipeline` action belongs to, as far as its nested run is concerned.
pub struct Parent<'a> {
    pub ir: &'a Ir,
    pub secrets: &'a BTreeMap<String, String>,
    /// Variables its secrets are read from.
    pub vars: &'a [String],
    /// The folder relative secret files are read from.
    pub base: &'a Path,
}

/// A path as compared with secret files: its real path where it exists.
fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| std::path::absolute(path).unwrap_or_default())
}

/// The files a pipeline's secrets are read from.
fn file_sources(ir: &Ir, base: &Path) -> Vec<PathBuf> {
    ir.pipeline
        .secrets
        .iter()
        .filter_map(|s| match &s.source {
            SecretSource::File { path } => Some(real(&base.join(path))),
            SecretSource::Env { .. } => None,
        })
        .collect()
}

/// The sources of secrets a run's param defaults may not read: those of its own secrets and
/// of the runs around it (LANGUAGE.md §7: a secret's value may only reach `env`).
pub struct Sources<'a> {
    /// (secret, variable) of the run's own secrets read from variables.
    vars: Vec<(String, String)>,
    /// (secret, real path) of the run's own secrets read from files.
    files: Vec<(String, PathBuf)>,
    inherited: &'a Inherited,
}

impl<'a> Sources<'a> {
    /// The sources of `ir`'s secrets (relative files against `base`) and `inherited` ones.
    pub fn new(ir: &Ir, base: &Path, inherited: &'a Inherited) -> Sources<'a> {
        let mut vars = Vec::new();
        let mut files = Vec::new();
        for s in &ir.pipeline.secrets {
            match &s.source {
                SecretSource::Env { var } => vars.push((s.name.clone(), var.clone())),
                SecretSource::File { path } => files.push((s.name.clone(), real(&base.join(path)))),
            }
        }
        Sources {
            vars,
            files,
            inherited,
        }
    }

    /// Why the variable `var` may not be read into a param, if it may not.
    pub fn var_refusal(&self, var: &str) -> Option<String> {
        if let Some((secret, _)) = self.vars.iter().find(|(_, v)| v == var) {
            return Some(format!("it is the source of secret `{secret}`"));
        }
        match self.inherited.env.get(var) {
            Some(p) if p.secret => Some("the `pipeline` action sets it from a secret".into()),
            Some(_) => None,
            None => self
                .inherited
                .removed
                .contains(var)
                .then(|| "it is the source of a secret of an enclosing run".into()),
        }
    }

    /// Why the file at `path` may not be read into a param, if it may not.
    pub fn file_refusal(&self, path: &Path) -> Option<String> {
        let path = real(path);
        if let Some((secret, _)) = self.files.iter().find(|(_, f)| *f == path) {
            return Some(format!("it is the source of secret `{secret}`"));
        }
        self.inherited
            .files
            .contains(&path)
            .then(|| "it is the source of a secret of an enclosing run".into())
    }
}

#[cfg(test)]
mod tests;
