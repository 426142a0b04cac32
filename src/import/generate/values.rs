//! Values: CodePipeline text to pipec string literals and expressions. `#{NS.VAR}` becomes
//! `${STAGE.ACTION.VAR}` of the action with that namespace, `#{variables.X}` `${params.X}`,
//! `#{codepipeline.PipelineExecutionId}` `${run.id}`; the file's inputs and the values the
//! import cannot know become params (declared once, with a comment saying where from).

use super::super::model::{Input, Pipeline};
use super::super::names::{Names, is_identifier};
use super::super::tree::{Part, Text, Unresolved};
use std::fmt::Write as _;

/// A param the output declares.
pub(super) struct ParamDecl {
    pub(super) id: String,
    pub(super) default: Option<String>,
    pub(super) allowed: Vec<String>,
    pub(super) comments: Vec<String>,
    /// Whether the pipeline reads it (an unread param would be W0001).
    pub(super) used: bool,
    key: ParamKey,
}

#[derive(PartialEq)]
enum ParamKey {
    Variable(String),
    Input(String),
    Unresolved(String),
}

/// A reference `#{NS.VAR}` resolved to an action: stage index, action index.
pub(super) struct Namespace {
    pub(super) name: String,
    pub(super) stage: usize,
    pub(super) action: usize,
}

/// What rendering values needs and collects.
pub(super) struct Values<'a> {
    inputs: &'a [Input],
    /// Stage ids and, per stage, action ids.
    pub(super) stage_ids: Vec<String>,
    pub(super) action_ids: Vec<Vec<String>>,
    pub(super) namespaces: Vec<Namespace>,
    /// Per stage, per action: the exports others read.
    pub(super) exports: Vec<Vec<Vec<String>>>,
    pub(super) params: Vec<ParamDecl>,
    param_names: Names,
}

impl<'a> Values<'a> {
    pub(super) fn new(
        p: &'a Pipeline,
        stage_ids: Vec<String>,
        action_ids: Vec<Vec<String>>,
    ) -> Self {
        let mut namespaces = Vec::new();
        for (s, stage) in p.stages.iter().enumerate() {
            for (a, action) in stage.actions.iter().enumerate() {
                if let Some(ns) = &action.namespace {
                    namespaces.push(Namespace {
                        name: ns.clone(),
                        stage: s,
                        action: a,
                    });
                }
            }
        }
        let exports = p
            .stages
            .iter()
            .map(|s| vec![Vec::new(); s.actions.len()])
            .collect();
        let mut v = Values {
            inputs: &p.inputs,
            stage_ids,
            action_ids,
            namespaces,
            exports,
            params: Vec::new(),
            param_names: Names::default(),
        };
        for var in &p.variables {
            let id = v
                .param_names
                .keyed(&format!("variables.{}", var.name), &var.name);
            let mut comments = Vec::new();
            if let Some(d) = &var.description {
                comments.push(d.clone());
            }
            if id != var.name {
                comments.push(format!("the pipeline variable `{}`", var.name));
            }
            let default = match var.default.as_ref().map(Text::as_lit) {
                Some(Some(d)) => Some(d),
                Some(None) => {
                    let d = var.default.as_ref().map(Text::describe).unwrap_or_default();
                    comments.push(format!("its default in the file, `{d}`, is not a literal"));
                    None
                }
                None => None,
            };
            v.params.push(ParamDecl {
                id,
                default,
                allowed: Vec::new(),
                comments,
                key: ParamKey::Variable(var.name.clone()),
                used: false,
            });
        }
        v
    }

    /// The param for a pipeline variable (declared if the pipeline does not declare it).
    fn variable(&mut self, name: &str, notes: &mut Vec<String>) -> String {
        let key = ParamKey::Variable(name.to_string());
        if let Some(p) = self.params.iter_mut().find(|p| p.key == key) {
            p.used = true;
            return p.id.clone();
        }
        let id = self.param_names.keyed(&format!("variables.{name}"), name);
        notes.push(format!(
            "`#{{variables.{name}}}`: a variable the pipeline does not declare"
        ));
        self.params.push(ParamDecl {
            id: id.clone(),
            default: None,
            allowed: Vec::new(),
            comments: vec![format!(
                "read as `#{{variables.{name}}}` but not declared in the file"
            )],
            key,
            used: true,
        });
        id
    }

    fn input(&mut self, name: &str) -> String {
        let key = ParamKey::Input(name.to_string());
        if let Some(p) = self.params.iter_mut().find(|p| p.key == key) {
            p.used = true;
            return p.id.clone();
        }
        let id = self.param_names.keyed(&format!("input.{name}"), name);
        let mut comments = Vec::new();
        let mut default = None;
        let mut allowed = Vec::new();
        match self.inputs.iter().find(|i| i.name == name) {
            Some(input) => {
                let mut what = format!("{} `{}`", input.kind, input.name);
                if let Some(d) = &input.description {
                    what.push_str(": ");
                    what.push_str(d);
                }
                comments.push(what);
                if input.no_echo {
                    comments.push(
                        "a secret there (`NoEcho`/`sensitive`): pass it with --param, never \
                         commit it"
                            .to_string(),
                    );
                } else {
                    default.clone_from(&input.default);
                }
                if default.as_ref().is_none_or(|d| input.allowed.contains(d)) {
                    allowed.clone_from(&input.allowed);
                }
            }
            None => comments.push(format!(
                "`{name}`: an input of the file, declared elsewhere"
            )),
        }
        self.params.push(ParamDecl {
            id: id.clone(),
            default,
            allowed,
            comments,
            key,
            used: true,
        });
        id
    }

    fn unresolved(&mut self, u: &Unresolved, notes: &mut Vec<String>) -> String {
        let key = ParamKey::Unresolved(u.source.clone());
        let id = match self.params.iter().find(|p| p.key == key) {
            Some(p) => p.id.clone(),
            None => {
                let id = self
                    .param_names
                    .keyed(&format!("unresolved.{}", u.source), &u.name);
                self.params.push(ParamDecl {
                    id: id.clone(),
                    default: u.default.clone(),
                    allowed: Vec::new(),
                    comments: vec![if u.default.is_some() {
                        format!(
                            "`{}`: {}; the default is the usual value: set it with --param {id}=… \
                             where it differs",
                            u.source, u.why
                        )
                    } else {
                        format!(
                            "`{}`: {}, which the import cannot know: set it with --param {id}=…",
                            u.source, u.why
                        )
                    }],
                    key,
                    used: true,
                });
                id
            }
        };
        notes.push(format!("`{}` is `params.{id}`", u.source));
        id
    }

    /// A text's value when it is literal, or made of inputs with defaults (a note says so).
    pub(super) fn constant(&self, t: &Text, notes: &mut Vec<String>) -> Option<String> {
        let mut out = String::new();
        let mut defaulted = false;
        for part in &t.0 {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Param(name) => {
                    let input = self.inputs.iter().find(|i| i.name == *name)?;
                    out.push_str(input.default.as_deref()?);
                    defaulted = true;
                }
                Part::Unresolved(_) => return None,
                Part::Note(n) => notes.push(n.clone()),
            }
        }
        if defaulted {
            notes.push(format!("`{}` with its default, `{out}`", t.describe()));
        }
        Some(out)
    }

    /// A text as a pipec string literal: a block string (`"""`) when it has several lines
    /// and the block layout keeps it exactly, else one line with `\n` escapes.
    pub(super) fn string(&mut self, t: &Text, notes: &mut Vec<String>) -> String {
        let line = self.render(t, notes, false);
        let multiline =
            t.0.iter()
                .any(|p| matches!(p, Part::Lit(s) if s.contains('\n')));
        if multiline {
            let block = self.render(t, &mut Vec::new(), true);
            if block_keeps(&block) {
                return format!("\"\"\"\n{block}\n\"\"\"");
            }
        }
        format!("\"{line}\"")
    }

    /// A text's inside of a string literal; in a block string newlines stay newlines.
    fn render(&mut self, t: &Text, notes: &mut Vec<String>, block: bool) -> String {
        let mut out = String::new();
        for part in &t.0 {
            match part {
                Part::Lit(s) => self.literal(s, &mut out, notes, block),
                Part::Param(name) => {
                    let id = self.input(name);
                    let _ = write!(out, "${{params.{id}}}");
                }
                Part::Unresolved(u) => {
                    let id = self.unresolved(u, notes);
                    let _ = write!(out, "${{params.{id}}}");
                }
                Part::Note(n) => notes.push(n.clone()),
            }
        }
        out
    }

    /// A text as an expression: a lone reference as itself, anything else a string.
    pub(super) fn expr(&mut self, t: &Text, notes: &mut Vec<String>) -> String {
        let mut parts = Vec::new();
        for part in &t.0 {
            match part {
                Part::Note(n) => notes.push(n.clone()),
                other => parts.push(other.clone()),
            }
        }
        let t = &Text(parts);
        if let [Part::Lit(s)] = t.0.as_slice() {
            if let Some((ns, var)) = whole_reference(s) {
                if let Some(r) = self.reference(ns, var, notes) {
                    return r;
                }
            }
        }
        if let [Part::Param(name)] = t.0.as_slice() {
            return format!("params.{}", self.input(name));
        }
        self.string(t, notes)
    }

    fn literal(&mut self, s: &str, out: &mut String, notes: &mut Vec<String>, block: bool) {
        let escape: fn(&str, &mut String) = if block { escape_block } else { escape };
        let mut rest = s;
        while let Some(start) = rest.find("#{") {
            escape(&rest[..start], out);
            let after = &rest[start + 2..];
            let end = after.find('}');
            let reference = end.and_then(|e| after[..e].split_once('.'));
            match reference.and_then(|(ns, var)| self.reference(ns, var, notes)) {
                Some(r) => {
                    out.push_str("${");
                    out.push_str(&r);
                    out.push('}');
                    rest = &after[end.unwrap_or(0) + 1..];
                }
                None => {
                    out.push_str("#{");
                    rest = after;
                }
            }
        }
        escape(rest, out);
    }

    /// `NS.VAR` as a pipec reference, recording the export it reads.
    fn reference(&mut self, ns: &str, var: &str, notes: &mut Vec<String>) -> Option<String> {
        match ns {
            "variables" => Some(format!("params.{}", self.variable(var, notes))),
            "codepipeline" if var == "PipelineExecutionId" => Some("run.id".to_string()),
            "codepipeline" => {
                notes.push(format!(
                    "`#{{codepipeline.{var}}}` has no pipec equivalent: kept as text"
                ));
                None
            }
            _ => {
                let Some(found) = self.namespaces.iter().find(|n| n.name == ns) else {
                    notes.push(format!(
                        "`#{{{ns}.{var}}}`: no action of this pipeline has the namespace `{ns}`: \
                         kept as text"
                    ));
                    return None;
                };
                if !is_identifier(var) {
                    notes.push(format!(
                        "`#{{{ns}.{var}}}`: `{var}` is not a pipec name: kept as text"
                    ));
                    return None;
                }
                let (s, a) = (found.stage, found.action);
                let exports = &mut self.exports[s][a];
                if !exports.iter().any(|e| e == var) {
                    exports.push(var.to_string());
                }
                Some(format!(
                    "{}.{}.{var}",
                    self.stage_ids[s], self.action_ids[s][a]
                ))
            }
        }
    }
}

/// Whether a block string's content (as written between the `"""` lines) reads back as
/// itself under LANGUAGE.md §2's layout rules: no whitespace-only line (its indentation
/// would be cut), and some non-blank line without leading whitespace (so none is cut).
fn block_keeps(content: &str) -> bool {
    let lines: Vec<&str> = content.split('\n').collect();
    let whitespace_only = lines
        .iter()
        .any(|l| !l.is_empty() && l.trim_matches([' ', '\t']).is_empty());
    let flush = lines
        .iter()
        .any(|l| !l.is_empty() && !l.starts_with([' ', '\t']));
    !whitespace_only && flush
}

/// Text escaped for the inside of a block string: as [`escape`], but newlines stay and a
/// quote is escaped only before another quote (so `"""` never closes it early).
fn escape_block(s: &str, out: &mut String) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.peek() == Some(&'"') => out.push_str("\\\""),
            '"' | '\n' => out.push(c),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `#{NS.VAR}` filling the whole string.
fn whole_reference(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix("#{")?.strip_suffix('}')?;
    if inner.contains(['{', '}']) {
        return None;
    }
    inner.split_once('.')
}

/// Text escaped for the inside of a pipec string.
pub(super) fn escape(s: &str, out: &mut String) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// A plain string literal.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    escape(s, &mut out);
    out.push('"');
    out
}
