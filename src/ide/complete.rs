//! Completion in context.
//!
//! The file is usually broken where the cursor is, so the context comes from the text
//! before the cursor, not from the AST: a small scanner blanks comments and string
//! contents, tracks the open brackets (with the words before each, which say what the
//! block is), and looks at the words on the cursor's line. The names offered (stages,
//! params, artifacts, templates, …) come from the analysis' index and modules.

use super::docs;
use super::index::Symbol;
use super::{Analysis, is_identifier};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Kind,
    Template,
    Module,
    Attribute,
    Param,
    Secret,
    Stage,
    Action,
    Artifact,
    Export,
    Field,
    Function,
    Value,
}

/// One proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A few words: a type, a signature.
    pub detail: String,
    pub doc: Option<String>,
    /// The text to insert, when not the label.
    pub insert: Option<String>,
}

fn item(label: &str, kind: CompletionKind, detail: &str) -> Completion {
    Completion {
        label: label.to_string(),
        kind,
        detail: detail.to_string(),
        doc: None,
        insert: None,
    }
}

/// A token of the blanked text: a word (identifier or number) or one punctuation char.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tok {
    text: String,
    start: usize,
}

/// An open bracket: `{`, `[`, `(`, or `$` for `${` inside a string.
#[derive(Clone, Debug)]
struct Frame {
    open: char,
    /// Index into the token list of the bracket itself.
    tok: usize,
}

/// What the scanner learned about the text before the cursor.
struct Scan {
    toks: Vec<Tok>,
    frames: Vec<Frame>,
    /// In a string (outside `${…}`) or a comment.
    quoted: bool,
}

fn scan(text: &str) -> Scan {
    let mut scan = Scan {
        toks: Vec::new(),
        frames: Vec::new(),
        quoted: false,
    };
    // Strings we are in: `true` for block strings; a `${` inside pushes a `$` frame.
    let mut strings: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let interpolations = scan.frames.iter().filter(|f| f.open == '$').count();
        if strings.len() > interpolations {
            i = scan.in_string(text, i, &mut strings);
            scan.quoted = i >= text.len();
            continue;
        }
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if rest.starts_with("//") || rest.starts_with("/*") {
            let end = if rest.starts_with("//") {
                rest.find('\n')
            } else {
                rest.find("*/").map(|n| n + 2)
            };
            let Some(n) = end else {
                scan.quoted = true;
                return scan;
            };
            i += n;
        } else if rest.starts_with('"') {
            let block = rest.starts_with("\"\"\"");
            strings.push(block);
            scan.push("\"", i);
            i += if block { 3 } else { 1 };
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            scan.push(&rest[..n], i);
            i += n;
        } else if c.is_whitespace() {
            if c == '\n' {
                scan.push("\n", i);
            }
            i += c.len_utf8();
        } else {
            i += scan.punctuation(rest, i);
        }
    }
    scan
}

impl Scan {
    fn push(&mut self, text: &str, start: usize) {
        self.toks.push(Tok {
            text: text.to_string(),
            start,
        });
    }

    /// One step inside a string (outside its interpolations); returns the next offset.
    fn in_string(&mut self, text: &str, i: usize, strings: &mut Vec<bool>) -> usize {
        let block = strings.last().copied().unwrap_or(false);
        let rest = &text[i..];
        if let Some(escaped) = rest.strip_prefix('\\') {
            i + 1 + escaped.chars().next().map_or(0, char::len_utf8)
        } else if rest.starts_with("${") {
            self.frames.push(Frame {
                open: '$',
                tok: self.toks.len(),
            });
            self.push("${", i);
            i + 2
        } else if block && rest.starts_with("\"\"\"") || !block && rest.starts_with('"') {
            strings.pop();
            self.push("\"", i);
            i + if block { 3 } else { 1 }
        } else {
            i + rest.chars().next().map_or(1, char::len_utf8)
        }
    }

    /// A punctuation token at `i`; returns its length.
    fn punctuation(&mut self, rest: &str, i: usize) -> usize {
        let c = rest.chars().next().unwrap_or(' ');
        match c {
            '{' | '[' | '(' => self.frames.push(Frame {
                open: c,
                tok: self.toks.len(),
            }),
            // Closing a `${` frame is back inside its string.
            '}' | ']' | ')' => {
                self.frames.pop();
            }
            _ => {}
        }
        if rest.starts_with("->") {
            self.push("->", i);
            2
        } else {
            self.push(&c.to_string(), i);
            c.len_utf8()
        }
    }
}

/// What a `{` block is, from the words before it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Block {
    File,
    Pipeline,
    Stage(String),
    /// An action's (template's, check's) attributes, with its kind as written.
    Attrs(String),
    Trigger,
    /// A `param`'s constraints.
    Param,
    Rules,
    /// A map or list value of an attribute, or any other expression bracket.
    Value(Option<String>),
}

impl Scan {
    /// The words between the previous line break or bracket and token `end`.
    fn words_before(&self, end: usize) -> Vec<&str> {
        let mut out = Vec::new();
        for t in self.toks[..end].iter().rev() {
            if matches!(t.text.as_str(), "\n" | "{" | "}" | ";" | "[" | "]") {
                break;
            }
            out.push(t.text.as_str());
        }
        out.reverse();
        out
    }

    fn block(&self, frame: &Frame) -> Block {
        let w = self.words_before(frame.tok);
        let kind_after = |from: usize| w[from..].concat();
        match (frame.open, w.as_slice()) {
            ('{', ["pipeline", _]) => Block::Pipeline,
            ('{', ["stage", name]) => Block::Stage((*name).to_string()),
            ('{', ["action", _, ":", ..]) => Block::Attrs(kind_after(3)),
            ('{', ["check", ..]) => Block::Attrs(kind_after(1)),
            ('{', ["template", ..]) => {
                let colon = w.iter().rposition(|x| *x == ":").unwrap_or(w.len());
                Block::Attrs(kind_after((colon + 1).min(w.len())))
            }
            ('{', ["trigger", _]) => Block::Trigger,
            // `param NAME: TYPE [= DEFAULT] {`, not the map of `= {`.
            ('{', ["param", _, ":", .., last]) if *last != "=" => Block::Param,
            ('{', ["entry"] | ["on", "success"]) => Block::Rules,
            (_, [.., attr, "="]) => Block::Value(Some((*attr).to_string())),
            _ => Block::Value(None),
        }
    }

    /// The blocks around the cursor, outermost first, with the token each opens at.
    fn blocks(&self) -> Vec<(Block, usize)> {
        let mut out = vec![(Block::File, 0)];
        out.extend(self.frames.iter().map(|f| (self.block(f), f.tok)));
        out
    }
}

/// Where the cursor is, as far as completion cares.
struct Ctx<'a> {
    /// The words on the cursor's line before the word being typed (back to a bracket).
    words: Vec<&'a str>,
    /// The innermost block, and the one around it.
    inner: Block,
    parent: Block,
    /// The stage the cursor is in, and the token its block opens at.
    stage: Option<(String, usize)>,
    /// In an `aws` action: its `provider`, when written before the cursor.
    provider: Option<String>,
}

impl Ctx<'_> {
    /// The words end with a complete value (`path = "."`, `input = src`, `[a, b]`): what
    /// comes next is a new item of the block.
    fn after_value(&self) -> bool {
        match self.words.as_slice() {
            [.., "\"" | "]" | "}" | ")"] => true,
            [.., "=", last] => {
                is_identifier(last) || last.starts_with(|c: char| c.is_ascii_digit())
            }
            _ => false,
        }
    }

    /// Inside the braces of an action, check, trigger or template, or a pipeline or stage.
    fn in_items(&self) -> bool {
        !matches!(self.inner, Block::Value(_))
    }
}

impl Analysis {
    /// The completions at `offset`.
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        let text = &self.map.get(self.root).text;
        let Some(before) = text.get(..offset) else {
            return Vec::new();
        };
        let scan = scan(before);
        if scan.quoted {
            return Vec::new();
        }
        // The word being typed is replaced by the editor; look at what stands before it.
        let mut end = scan.toks.len();
        if let Some(last) = scan.toks.last()
            && is_identifier(&last.text)
            && last.start + last.text.len() == offset
        {
            end -= 1;
        }
        let blocks = scan.blocks();
        let at = |k: usize| {
            blocks
                .len()
                .checked_sub(k)
                .map_or(Block::File, |i| blocks[i].0.clone())
        };
        let ctx = Ctx {
            words: scan.words_before(end),
            inner: at(1),
            parent: at(2),
            stage: blocks.iter().rev().find_map(|(b, tok)| match b {
                Block::Stage(s) => Some((s.clone(), *tok)),
                _ => None,
            }),
            provider: blocks.iter().rev().find_map(|(b, tok)| match b {
                Block::Attrs(k) if k == "aws" => {
                    let from = scan.toks.get(*tok).map_or(0, |t| t.start);
                    provider_in(before.get(from..).unwrap_or(""))
                }
                _ => None,
            }),
        };
        if let Some(found) = self.after_dot(&ctx.words, &ctx.inner) {
            return found;
        }
        self.by_words(&ctx, &scan)
    }

    /// `params.`, `STAGE.ACTION.`, `module.` in a kind.
    fn after_dot(&self, words: &[&str], inner: &Block) -> Option<Vec<Completion>> {
        if words.last() != Some(&".") {
            return None;
        }
        // The dotted path before the cursor: `a . b .` → [a, b].
        let mut path = Vec::new();
        let mut i = words.len();
        while i >= 2 && words[i - 1] == "." && is_identifier(words[i - 2]) {
            path.push(words[i - 2]);
            i -= 2;
        }
        path.reverse();
        let in_kind = i >= 3 && words[i - 1] == ":" && words[i - 3] == "action"
            || i >= 1 && words[i - 1] == "check"
            || matches!(inner, Block::File) && i >= 1 && words[i - 1] == ":";
        Some(match path.as_slice() {
            [module] if in_kind => self.module_templates(module),
            ["params"] => self.symbols(|s| matches!(s, Symbol::Param(_)), CompletionKind::Param),
            ["secrets"] => self.symbols(|s| matches!(s, Symbol::Secret(_)), CompletionKind::Secret),
            ["run"] => ["id", "branch", "tag", "commit", "trigger", "attempt"]
                .iter()
                .filter_map(|f| {
                    let (ty, doc) = docs::run_field(f)?;
                    let mut c = item(f, CompletionKind::Field, ty);
                    c.doc = Some(doc.to_string());
                    Some(c)
                })
                .collect(),
            [stage] => {
                let mut out = self.stage_actions(stage);
                out.push(item(
                    "status",
                    CompletionKind::Field,
                    "the stage's status: string",
                ));
                out
            }
            [stage, action] => self.exports(stage, action),
            _ => Vec::new(),
        })
    }

    fn by_words(&self, ctx: &Ctx<'_>, scan: &Scan) -> Vec<Completion> {
        let words = ctx.words.as_slice();
        match words {
            ["action", _, ":"] | ["check"] => return self.kinds(),
            // `template NAME(PARAM: ▮` is a type; after the `)`, the kind.
            ["template", ..] if words.last() == Some(&":") => {
                return if words.contains(&")") {
                    self.kinds()
                } else {
                    types()
                };
            }
            ["param", _, ":"] | [.., "<"] => return types(),
            ["transition"] | ["transition", _, "->"] => {
                return self.symbols(|s| matches!(s, Symbol::Stage(_)), CompletionKind::Stage);
            }
            ["mode"] => return values(&["superseded", "queued", "parallel"]),
            ["on"] => return values(&["success", "failure"]),
            ["on", "failure"] => return values(&["retry", "rollback", "fail"]),
            [.., "else"] if ctx.inner == Block::Rules => {
                return values(&["skip", "fail", "rollback", "wait"]);
            }
            [.., attr, "="] if ctx.in_items() => return self.value_of(attr, &ctx.inner, ctx, scan),
            _ => {}
        }
        // Inside `[…]` or `{…}` of an attribute: its values.
        if let Block::Value(Some(attr)) = &ctx.inner
            && matches!(words.last().copied(), None | Some(","))
        {
            return self.value_of(attr, &ctx.parent, ctx, scan);
        }
        // At the start of an item (or after a complete one): what the block holds.
        let item_start = words.is_empty() || ctx.in_items() && ctx.after_value();
        if !item_start {
            return self.expression();
        }
        match &ctx.inner {
            Block::File => keywords(docs::FILE_KEYWORDS),
            Block::Pipeline => keywords(docs::PIPELINE_KEYWORDS),
            Block::Stage(_) => keywords(docs::STAGE_KEYWORDS),
            Block::Rules => keywords(docs::RULE_KEYWORDS),
            Block::Trigger => docs::TRIGGER_ATTRIBUTES
                .iter()
                .map(|(n, d)| attribute(n, d, None))
                .collect(),
            Block::Param => docs::PARAM_CONSTRAINTS
                .iter()
                .map(|(n, d)| attribute(n, d, None))
                .collect(),
            Block::Attrs(kind) => self.attributes(kind),
            Block::Value(_) => self.expression(),
        }
    }

    /// Values of attribute `attr` of `block` (`inputs = [`, `after = [`…).
    fn value_of(&self, attr: &str, block: &Block, ctx: &Ctx<'_>, scan: &Scan) -> Vec<Completion> {
        match (attr, block) {
            ("input" | "inputs", Block::Attrs(_)) => self.symbols(
                |s| matches!(s, Symbol::Artifact(_)),
                CompletionKind::Artifact,
            ),
            ("after", Block::Stage(_)) => {
                self.symbols(|s| matches!(s, Symbol::Stage(_)), CompletionKind::Stage)
            }
            ("after", Block::Attrs(_)) => ctx.stage.as_ref().map_or_else(Vec::new, |(s, tok)| {
                let mut out = self.stage_actions(s);
                // The stage may be broken while typed: take `action NAME` from its text too.
                for w in scan.toks[*tok..].windows(2) {
                    if w[0].text == "action"
                        && is_identifier(&w[1].text)
                        && !out.iter().any(|c| c.label == w[1].text)
                    {
                        out.push(item(&w[1].text, CompletionKind::Action, "action"));
                    }
                }
                out
            }),
            ("category", Block::Attrs(_)) => values(crate::check::CATEGORIES),
            ("configuration", Block::Attrs(k)) if k == "aws" => aws_keys(ctx.provider.as_deref()),
            ("exports" | "output" | "outputs", Block::Attrs(_)) => Vec::new(),
            _ => self.expression(),
        }
    }

    fn symbols(&self, keep: impl Fn(&Symbol) -> bool, kind: CompletionKind) -> Vec<Completion> {
        self.index
            .declared(keep)
            .into_iter()
            .filter_map(|s| {
                let (Symbol::Stage(name)
                | Symbol::Param(name)
                | Symbol::Secret(name)
                | Symbol::Artifact(name)) = s
                else {
                    return None;
                };
                let detail = self
                    .declaration(s)
                    .map(|span| first_line(self.text(span_line(self, span))))
                    .unwrap_or_default();
                Some(item(name, kind, &detail))
            })
            .collect()
    }

    fn stage_actions(&self, stage: &str) -> Vec<Completion> {
        self.stage(stage).map_or_else(Vec::new, |s| {
            super::actions(s)
                .map(|a| item(&a.name.name, CompletionKind::Action, &a.kind.text()))
                .collect()
        })
    }

    fn exports(&self, stage: &str, action: &str) -> Vec<Completion> {
        let mut out: Vec<Completion> = self
            .index
            .declared(|s| matches!(s, Symbol::Export(st, a, _) if st == stage && a == action))
            .into_iter()
            .filter_map(|s| match s {
                Symbol::Export(.., e) => Some(item(e, CompletionKind::Export, "string")),
                _ => None,
            })
            .collect();
        if let Some(a) = self.action(stage, action)
            && a.kind.text() == "git"
        {
            out.push(item("commit", CompletionKind::Export, "string (git)"));
            out.push(item("branch", CompletionKind::Export, "string (git)"));
        }
        out
    }

    /// Kinds after `action NAME:`: built-ins, this file's templates, imported modules.
    fn kinds(&self) -> Vec<Completion> {
        let mut out: Vec<Completion> = crate::check::KINDS
            .iter()
            .map(|k| {
                let mut c = item(k, CompletionKind::Kind, "built-in kind");
                c.doc = docs::kind(k).map(str::to_string);
                c
            })
            .collect();
        for t in self.templates(None) {
            out.push(self.template_item(&t.name.name, t));
        }
        for m in self.modules.keys() {
            let mut module = item(m, CompletionKind::Module, "module");
            module.insert = Some(format!("{m}."));
            out.push(module);
            for t in self.templates(Some(m)) {
                out.push(self.template_item(&format!("{m}.{}", t.name.name), t));
            }
        }
        out
    }

    fn module_templates(&self, module: &str) -> Vec<Completion> {
        self.templates(Some(module))
            .into_iter()
            .map(|t| self.template_item(&t.name.name, t))
            .collect()
    }

    fn template_item(&self, label: &str, t: &crate::ast::Template) -> Completion {
        let mut c = item(
            label,
            CompletionKind::Template,
            self.between(t.span, t.kind.span),
        );
        c.doc.clone_from(&t.doc);
        c
    }

    /// Attribute names inside the braces of an action of kind `kind`.
    fn attributes(&self, kind: &str) -> Vec<Completion> {
        let mut out = Vec::new();
        if let Some(k) = crate::check::kind_by_name(kind) {
            for p in crate::check::kind_params(k) {
                let doc = docs::kind_param(kind, p.name).map(|(_, d)| d);
                out.push(attribute(p.name, &p.ty.to_string(), doc));
            }
        } else {
            let (module, name) = match kind.split_once('.') {
                Some((m, t)) => (Some(m), t),
                None => (None, kind),
            };
            if let Some(t) = self.template(module, name) {
                for p in &t.params {
                    out.push(attribute(
                        &p.name.name,
                        self.text(p.ty.span),
                        t.doc.as_deref(),
                    ));
                }
            }
        }
        for c in crate::check::COMMON {
            if let Some((ty, doc)) = docs::common(c) {
                out.push(attribute(c, ty, Some(doc)));
            }
        }
        out
    }

    /// Names that start an expression.
    fn expression(&self) -> Vec<Completion> {
        let mut out = vec![
            item("params", CompletionKind::Field, "the pipeline's params"),
            item("secrets", CompletionKind::Field, "the pipeline's secrets"),
            item("run", CompletionKind::Field, "facts of the run"),
            item("true", CompletionKind::Value, "bool"),
            item("false", CompletionKind::Value, "bool"),
        ];
        out.extend(self.symbols(|s| matches!(s, Symbol::Stage(_)), CompletionKind::Stage));
        for (name, sig) in docs::FUNCTIONS {
            out.push(item(name, CompletionKind::Function, sig));
        }
        out
    }
}

fn attribute(name: &str, ty: &str, doc: Option<&str>) -> Completion {
    Completion {
        label: name.to_string(),
        kind: CompletionKind::Attribute,
        detail: ty.to_string(),
        doc: doc.map(str::to_string),
        insert: Some(format!("{name} = ")),
    }
}

/// The text of `provider = "NAME"` in an action's attributes.
fn provider_in(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find("provider") {
        let after = rest[i + "provider".len()..].trim_start();
        if let Some(v) = after.strip_prefix('=').map(str::trim_start) {
            if let Some(v) = v.strip_prefix('"') {
                return v.split('"').next().map(str::to_string);
            }
        }
        rest = &rest[i + 1..];
    }
    None
}

/// The configuration keys of a provider of the catalog (of every provider when it is not
/// known), required ones first.
fn aws_keys(provider: Option<&str>) -> Vec<Completion> {
    let mut out: Vec<Completion> = Vec::new();
    let of = |p: &crate::ir::aws::Provider| provider.is_none_or(|n| n == p.name);
    let mut keys: Vec<(&crate::ir::aws::Provider, &crate::ir::aws::Key)> =
        crate::ir::aws::PROVIDERS
            .iter()
            .filter(|p| of(p))
            .flat_map(|p| p.keys.iter().map(move |k| (p, k)))
            .collect();
    keys.sort_by_key(|(_, k)| !k.required);
    for (p, k) in keys {
        if out.iter().any(|c| c.label == k.name) {
            continue;
        }
        let need = if k.required { "required" } else { "optional" };
        let mut c = item(
            k.name,
            CompletionKind::Attribute,
            &format!("{need}: {}", crate::ir::aws::describe(k.value)),
        );
        c.doc = Some(format!(
            "A configuration key of `{}` (docs/aws.md).",
            p.name
        ));
        c.insert = Some(format!("{} = ", k.name));
        out.push(c);
    }
    out
}

fn keywords(list: &[(&str, &str)]) -> Vec<Completion> {
    list.iter()
        .map(|(k, d)| item(k, CompletionKind::Keyword, d))
        .collect()
}

/// Type names, for `param NAME:` and template parameters.
fn types() -> Vec<Completion> {
    crate::check::TYPES
        .iter()
        .map(|t| item(t, CompletionKind::Kind, "type"))
        .collect()
}

fn values(list: &[&str]) -> Vec<Completion> {
    list.iter()
        .map(|v| item(v, CompletionKind::Value, ""))
        .collect()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// The whole line a span is on (for a one-line summary of a declaration).
fn span_line(a: &Analysis, span: crate::source::Span) -> crate::source::Span {
    let text = &a.map.get(span.file).text;
    let start = text[..span.start as usize].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.start as usize..]
        .find('\n')
        .map_or(text.len(), |i| span.start as usize + i);
    crate::source::Span::new(span.file, start, end)
}
