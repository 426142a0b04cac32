//! pest pairs → the spanned AST, with lexical validation (E0103).

mod text;

use pest::iterators::{Pair, Pairs};

use super::Rule;
use crate::ast::{
    Action, Attr, AttrValue, BinOp, CondRule, Condition, DurationLit, ElseResult, Expr, ExprKind,
    FailurePolicy, File, Ident, Import, Item, KindRef, Mode, Notify, Param, Pipeline, PipelineItem,
    RetryScope, SecretDecl, Stage, StageItem, StrLit, StrPart, Template, TemplateParam, Transition,
    Trigger, TypeExpr,
};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};
use text::{Drops, block_drops};

mod keep;
mod span;

/// Longest identifier (LANGUAGE.md §2).
const MAX_IDENT: usize = 100;

/// Most operands, operators and `!` in one expression: bounds the depth of the tree, so
/// that nothing downstream recurses without limit.
const MAX_EXPR_ITEMS: usize = 1024;

pub(crate) struct Lowerer<'s> {
    file: FileId,
    /// The original source (not the patched one): doc comments and block-string lines.
    src: &'s str,
    /// Offset of the parsed text in `src` (non-zero when parsing one stage on its own).
    pub(crate) base: usize,
    /// When the parsed text is `src` with ranges cut out (a big file's skeleton): where each
    /// cut is in the parsed text and how many bytes were cut up to and including it, sorted.
    pub(crate) cuts: Vec<(usize, usize)>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'s> Lowerer<'s> {
    pub(crate) fn new(file: FileId, src: &'s str) -> Self {
        Lowerer {
            file,
            src,
            base: 0,
            cuts: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    fn err(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub(crate) fn lower_file(&mut self, file: Pair<'_, Rule>) -> File {
        let mut items = Vec::new();
        for p in file.into_inner() {
            match p.as_rule() {
                Rule::import => items.push(Item::Import(self.import(p))),
                Rule::pipeline => items.push(Item::Pipeline(self.pipeline(p))),
                Rule::template => items.push(Item::Template(self.template(p))),
                _ => {}
            }
        }
        File {
            items,
            broken_names: Vec::new(),
            broken_spans: Vec::new(),
        }
    }

    fn ident(&mut self, p: &Pair<'_, Rule>) -> Ident {
        let name = p.as_str().to_string();
        let span = self.span(p);
        if name.len() > MAX_IDENT {
            self.err(
                Diagnostic::new(
                    Code::E0103,
                    format!("identifier is {} characters long", name.chars().count()),
                    span,
                    "too long",
                )
                .note("identifiers are at most 100 characters"),
            );
        }
        Ident { name, span }
    }

    fn import(&mut self, p: Pair<'_, Rule>) -> Import {
        let span = self.span(&p);
        let mut inner = p
            .into_inner()
            .filter(|p| p.as_rule() != Rule::k_import && p.as_rule() != Rule::k_as);
        let path = inner.next().map(|s| self.string(s));
        let alias = inner.next().map(|a| self.ident(&a));
        Import {
            path: path.unwrap_or_else(|| empty_str(span)),
            alias,
            span,
        }
    }

    /// The `///` lines right above `start`, joined.
    pub(crate) fn doc_above(&self, start: usize) -> Option<String> {
        let before = &self.src[..start];
        let mut lines: Vec<&str> = Vec::new();
        for line in before.lines().rev() {
            // A byte-order mark before the first line is not part of it.
            let t = line.trim().trim_start_matches('\u{feff}');
            if t.is_empty() && lines.is_empty() {
                // The template keyword's own line prefix (indentation).
                continue;
            }
            match t.strip_prefix("///") {
                Some(doc) => lines.push(doc.strip_prefix(' ').unwrap_or(doc)),
                None => break,
            }
        }
        if lines.is_empty() {
            return None;
        }
        lines.reverse();
        Some(lines.join("\n"))
    }

    fn template(&mut self, p: Pair<'_, Rule>) -> Template {
        let span = self.span(&p);
        let doc = self.doc_above(span.start as usize);
        let mut name = None;
        let mut params = Vec::new();
        let mut kind = None;
        let mut attrs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(&c)),
                Rule::tparam => params.push(self.tparam(c)),
                Rule::kind_ref => kind = Some(self.kind_ref(c)),
                Rule::attr_block => attrs = self.attr_block(c),
                _ => {}
            }
        }
        Template {
            name: name.unwrap_or_else(|| missing_ident(span)),
            doc,
            params,
            kind: kind.unwrap_or_else(|| KindRef {
                segments: vec![],
                span,
            }),
            attrs,
            span,
        }
    }

    fn tparam(&mut self, p: Pair<'_, Rule>) -> TemplateParam {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next().expect("grammar: tparam has a name"));
        let ty = self.type_expr(inner.next().expect("grammar: tparam has a type"));
        let default = inner.next().map(|e| self.expr(e));
        TemplateParam {
            name,
            ty,
            default,
            span,
        }
    }

    fn type_expr(&mut self, p: Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next().expect("grammar: type has a name"));
        let arg = inner.next().map(|a| Box::new(self.type_expr(a)));
        TypeExpr { name, arg, span }
    }

    fn kind_ref(&mut self, p: Pair<'_, Rule>) -> KindRef {
        let span = self.span(&p);
        let segments = p.into_inner().map(|i| self.ident(&i)).collect();
        KindRef { segments, span }
    }

    fn attr_block(&mut self, p: Pair<'_, Rule>) -> Vec<Attr> {
        p.into_inner().map(|a| self.attr(a)).collect()
    }

    fn attr(&mut self, p: Pair<'_, Rule>) -> Attr {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next().expect("grammar: attr has a name"));
        let v = inner.next().expect("grammar: attr has a value");
        let value = if v.as_rule() == Rule::output_from {
            let mut parts = v.into_inner().filter(|p| p.as_rule() != Rule::k_from);
            let n = self.ident(&parts.next().expect("grammar: output name"));
            let path = self.string(parts.next().expect("grammar: output path"));
            AttrValue::OutputFrom { name: n, path }
        } else {
            AttrValue::Expr(self.expr(v))
        };
        Attr { name, value, span }
    }

    fn pipeline(&mut self, p: Pair<'_, Rule>) -> Pipeline {
        let span = self.span(&p);
        let mut inner = p.into_inner().filter(|p| p.as_rule() != Rule::k_pipeline);
        let name = self.ident(&inner.next().expect("grammar: pipeline has a name"));
        let items = inner.filter_map(|i| self.pipeline_item(i)).collect();
        Pipeline { name, items, span }
    }

    fn pipeline_item(&mut self, p: Pair<'_, Rule>) -> Option<PipelineItem> {
        let span = self.span(&p);
        Some(match p.as_rule() {
            Rule::mode_item => {
                let v = p.into_inner().nth(1).expect("grammar: mode value");
                let vspan = self.span(&v);
                let mode = match v.as_str() {
                    "queued" => Mode::Queued,
                    "parallel" => Mode::Parallel,
                    _ => Mode::Superseded,
                };
                PipelineItem::Mode(mode, span, vspan)
            }
            Rule::timeout_item => PipelineItem::Timeout(self.timeout_value(p), span),
            Rule::image_item => {
                let s = p.into_inner().nth(1).expect("grammar: image name");
                PipelineItem::Image(self.string(s), span)
            }
            Rule::keep_item => PipelineItem::Keep(self.keep(p), span),
            Rule::param_item => {
                let doc = self.doc_above(span.start as usize);
                let mut inner = p.into_inner().skip(1);
                let name = self.ident(&inner.next().expect("grammar: param name"));
                let ty = self.type_expr(inner.next().expect("grammar: param type"));
                let mut default = None;
                let mut constraints = Vec::new();
                for c in inner {
                    if c.as_rule() == Rule::attr_block {
                        constraints = self.attr_block(c);
                    } else {
                        default = Some(self.expr(c));
                    }
                }
                PipelineItem::Param(Param {
                    doc,
                    name,
                    ty,
                    default,
                    constraints,
                    span,
                })
            }
            Rule::secret_item => {
                let mut inner = p.into_inner().skip(1);
                let name = self.ident(&inner.next().expect("grammar: secret name"));
                let source = self.expr(inner.next().expect("grammar: secret source"));
                PipelineItem::Secret(SecretDecl { name, source, span })
            }
            Rule::trigger_item => {
                let mut inner = p.into_inner().skip(1);
                let kind = self.ident(&inner.next().expect("grammar: trigger kind"));
                let attrs = self.attr_block(inner.next().expect("grammar: trigger block"));
                PipelineItem::Trigger(Trigger { kind, attrs, span })
            }
            Rule::notify_item => {
                let mut inner = p.into_inner().skip(1);
                let url = self.string(inner.next().expect("grammar: notify url"));
                let attrs = inner.next().map(|b| self.attr_block(b)).unwrap_or_default();
                PipelineItem::Notify(Notify { url, attrs, span })
            }
            Rule::stage => PipelineItem::Stage(self.stage(p)),
            Rule::transition => PipelineItem::Transition(self.transition(p)),
            _ => return None,
        })
    }

    fn timeout_value(&mut self, p: Pair<'_, Rule>) -> DurationLit {
        let d = p.into_inner().nth(1).expect("grammar: timeout value");
        let span = self.span(&d);
        let secs = self.duration(&d);
        DurationLit { secs, span }
    }

    fn transition(&mut self, p: Pair<'_, Rule>) -> Transition {
        let span = self.span(&p);
        let mut inner = p.into_inner().skip(1);
        let from = self.ident(&inner.next().expect("grammar: transition source"));
        let to = self.ident(&inner.next().expect("grammar: transition target"));
        let mut guard = None;
        let mut disabled = None;
        for c in inner {
            match c.as_rule() {
                Rule::guard => guard = c.into_inner().nth(1).map(|e| self.expr(e)),
                Rule::disabled => {
                    let at = self.span(&c);
                    disabled = Some(if let Some(s) = c.into_inner().nth(1) {
                        self.string(s)
                    } else {
                        // Still disabled (what was meant), and said precisely.
                        self.err(
                            Diagnostic::new(
                                Code::E0101,
                                "`disabled` needs a reason",
                                at,
                                "expected a string after `disabled`",
                            )
                            .help(
                                "write `disabled \"why\"`: the reason is shown where runs are held",
                            ),
                        );
                        StrLit {
                            parts: Vec::new(),
                            block: false,
                            span: at,
                        }
                    });
                }
                _ => {}
            }
        }
        Transition {
            from,
            to,
            guard,
            disabled,
            span,
        }
    }

    /// The stage of a `stage_chunk` parse.
    pub(crate) fn stage_chunk(&mut self, p: Pair<'_, Rule>) -> Option<Stage> {
        let stage = p.into_inner().find(|p| p.as_rule() == Rule::stage)?;
        Some(self.stage(stage))
    }

    fn stage(&mut self, p: Pair<'_, Rule>) -> Stage {
        let span = self.span(&p);
        let mut inner = p.into_inner().skip(1);
        let name = self.ident(&inner.next().expect("grammar: stage name"));
        let items = inner.filter_map(|i| self.stage_item(i)).collect();
        Stage { name, items, span }
    }

    fn stage_item(&mut self, p: Pair<'_, Rule>) -> Option<StageItem> {
        let span = self.span(&p);
        Some(match p.as_rule() {
            Rule::stage_after => {
                let e = p.into_inner().nth(1).expect("grammar: after value");
                StageItem::After(self.expr(e), span)
            }
            Rule::timeout_item => StageItem::Timeout(self.timeout_value(p), span),
            Rule::entry => StageItem::Entry(self.condition(p, span)),
            Rule::on_success => StageItem::OnSuccess(self.condition(p, span)),
            Rule::on_failure => {
                let policy = p.into_inner().nth(2).expect("grammar: failure policy");
                StageItem::OnFailure(self.failure_policy(policy), span)
            }
            Rule::action => StageItem::Action(self.action(p)),
            _ => return None,
        })
    }

    fn failure_policy(&mut self, p: Pair<'_, Rule>) -> FailurePolicy {
        match p.as_rule() {
            Rule::k_rollback => FailurePolicy::Rollback(self.span(&p)),
            Rule::failure_retry => {
                let mut count = None;
                let mut scope = RetryScope::Failed;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::integer => {
                            let span = self.span(&c);
                            count = self.integer(&c).map(|n| (n, span));
                        }
                        Rule::k_all => scope = RetryScope::All,
                        _ => {}
                    }
                }
                FailurePolicy::Retry(count, scope)
            }
            _ => FailurePolicy::Fail,
        }
    }

    fn condition(&mut self, p: Pair<'_, Rule>, span: Span) -> Condition {
        let mut rules = Vec::new();
        let mut otherwise = None;
        for c in p.into_inner() {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::require_rule => {
                    let e = c.into_inner().nth(1).expect("grammar: require expr");
                    rules.push(CondRule::Require(self.expr(e), cspan));
                }
                Rule::window_rule => {
                    let mut strings = c.into_inner().filter(|p| p.as_rule() == Rule::string);
                    let cron = self.string(strings.next().expect("grammar: window cron"));
                    let tz = strings.next().map(|s| self.string(s));
                    rules.push(CondRule::Window {
                        cron,
                        tz,
                        span: cspan,
                    });
                }
                Rule::check_rule => {
                    let mut inner = c.into_inner().skip(1);
                    let kind = self.kind_ref(inner.next().expect("grammar: check kind"));
                    let attrs = self.attr_block(inner.next().expect("grammar: check block"));
                    rules.push(CondRule::Check {
                        kind,
                        attrs,
                        span: cspan,
                    });
                }
                Rule::entry_else | Rule::success_else => {
                    let v = c.into_inner().nth(1).expect("grammar: else value");
                    let result = match v.as_rule() {
                        Rule::k_skip => ElseResult::Skip,
                        Rule::k_rollback => ElseResult::Rollback,
                        Rule::k_wait => ElseResult::Wait,
                        _ => ElseResult::Fail,
                    };
                    otherwise = Some((result, self.span(&v)));
                }
                _ => {}
            }
        }
        Condition {
            rules,
            otherwise,
            span,
        }
    }

    fn action(&mut self, p: Pair<'_, Rule>) -> Action {
        let span = self.span(&p);
        let mut inner = p.into_inner().skip(1);
        let name = self.ident(&inner.next().expect("grammar: action name"));
        let kind = self.kind_ref(inner.next().expect("grammar: action kind"));
        let attrs = self.attr_block(inner.next().expect("grammar: action block"));
        Action {
            name,
            kind,
            attrs,
            span,
        }
    }

    // ------------------------------------------------------------------ expressions

    pub(crate) fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        if p.as_rule() == Rule::expr {
            return self.flat_expr(p);
        }
        let span = self.span(&p);
        match p.as_rule() {
            Rule::duration => {
                let kind = self
                    .duration(&p)
                    .map_or(ExprKind::Error, ExprKind::Duration);
                Expr { kind, span }
            }
            Rule::integer => Expr {
                kind: self.integer(&p).map_or(ExprKind::Error, ExprKind::Int),
                span,
            },
            Rule::k_true => Expr {
                kind: ExprKind::Bool(true),
                span,
            },
            Rule::k_false => Expr {
                kind: ExprKind::Bool(false),
                span,
            },
            Rule::string | Rule::block_string => Expr {
                kind: ExprKind::Str(self.string(p)),
                span,
            },
            Rule::list => Expr {
                kind: ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()),
                span,
            },
            Rule::map => {
                let entries = p
                    .into_inner()
                    .map(|entry| {
                        let mut inner = entry.into_inner();
                        let k = inner.next().expect("grammar: map key");
                        let key = if k.as_rule() == Rule::ident {
                            self.ident(&k)
                        } else {
                            let s = self.string(k);
                            Ident {
                                name: s.as_plain().unwrap_or_default(),
                                span: s.span,
                            }
                        };
                        (key, self.expr(inner.next().expect("grammar: map value")))
                    })
                    .collect();
                Expr {
                    kind: ExprKind::Map(entries),
                    span,
                }
            }
            Rule::path => {
                let mut segments = Vec::new();
                for q in p.into_inner() {
                    if q.as_rule() == Rule::call {
                        // `NAME(ARGS)`: the grammar allows no dots before the arguments.
                        let name = segments.pop().expect("grammar: a call follows its name");
                        let args = q.into_inner().map(|a| self.expr(a)).collect();
                        return Expr {
                            kind: ExprKind::Call(name, args),
                            span,
                        };
                    }
                    segments.push(self.ident(&q));
                }
                Expr {
                    kind: ExprKind::Path(segments),
                    span,
                }
            }
            _ => unreachable!("grammar: unexpected expression rule {:?}", p.as_rule()),
        }
    }

    /// An `expr`: its flat sequence of operands and operators, with precedence applied.
    fn flat_expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        // Every item is at least one byte long: only long texts need counting.
        if p.as_str().len() > MAX_EXPR_ITEMS {
            let count = p.clone().into_inner().len();
            if count > MAX_EXPR_ITEMS {
                let span = self.span(&p);
                self.err(
                    Diagnostic::new(
                        Code::E0101,
                        format!("expression has {count} operands and operators, more than {MAX_EXPR_ITEMS}"),
                        span,
                        "too long",
                    )
                    .help("split the condition over several params or stages"),
                );
                return Expr {
                    kind: ExprKind::Error,
                    span,
                };
            }
        }
        let mut items = p.into_inner().peekable();
        self.climb(&mut items, 1)
    }

    /// Precedence climbing over the flat `expr` sequence: `||` (1) < `&&` (2) <
    /// comparisons (3, which do not chain); prefix `!` applies to one operand.
    fn climb(&mut self, items: &mut std::iter::Peekable<Pairs<'_, Rule>>, min: u8) -> Expr {
        let mut lhs = self.operand(items);
        let mut compared = false;
        while let Some(op) = items.peek() {
            let (op, prec) = match op.as_str() {
                "||" => (BinOp::Or, 1),
                "&&" => (BinOp::And, 2),
                "==" => (BinOp::Eq, 3),
                "!=" => (BinOp::Ne, 3),
                "<" => (BinOp::Lt, 3),
                "<=" => (BinOp::Le, 3),
                ">" => (BinOp::Gt, 3),
                ">=" => (BinOp::Ge, 3),
                "in" => (BinOp::In, 3),
                _ => (BinOp::Matches, 3),
            };
            if prec < min {
                break;
            }
            let op_pair = items.next().expect("peeked");
            if prec == 3 && compared {
                self.err(
                    Diagnostic::new(
                        Code::E0101,
                        format!(
                            "comparisons cannot be chained: found a second `{}`",
                            op.text()
                        ),
                        self.span(&op_pair),
                        "second comparison",
                    )
                    .help("combine comparisons with `&&` or `||`, or group them with `(…)`"),
                );
            }
            compared |= prec == 3;
            let rhs = self.climb(items, prec + 1);
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        lhs
    }

    /// `!`* primary
    fn operand(&mut self, items: &mut std::iter::Peekable<Pairs<'_, Rule>>) -> Expr {
        let mut nots = Vec::new();
        while items.peek().is_some_and(|p| p.as_rule() == Rule::not_op) {
            nots.push(self.span(&items.next().expect("peeked")));
        }
        let primary = items
            .next()
            .expect("grammar: an operand follows its prefixes");
        let mut e = self.expr(primary);
        for not in nots.into_iter().rev() {
            let span = not.to(e.span);
            e = Expr {
                kind: ExprKind::Not(Box::new(e)),
                span,
            };
        }
        e
    }

    fn integer(&mut self, p: &Pair<'_, Rule>) -> Option<i64> {
        if let Ok(n) = p.as_str().parse::<i64>() {
            return Some(n);
        }
        if p.as_str().contains('.') {
            self.err(
                Diagnostic::new(
                    Code::E0103,
                    format!("`{}` is not an integer", p.as_str()),
                    self.span(p),
                    "has a fraction",
                )
                .note("numbers are whole 64-bit integers; there are no decimals"),
            );
            return None;
        }
        self.err(
            Diagnostic::new(
                Code::E0103,
                format!("integer `{}` is out of range", p.as_str()),
                self.span(p),
                "does not fit in 64 bits",
            )
            .note("integers are 64-bit signed: -9223372036854775808 to 9223372036854775807"),
        );
        None
    }

    fn duration(&mut self, p: &Pair<'_, Rule>) -> Option<u64> {
        match crate::duration::parse(p.as_str()) {
            Ok(secs) => Some(secs),
            Err(why) => {
                self.err(
                    Diagnostic::new(
                        Code::E0103,
                        format!("malformed duration `{}`", p.as_str()),
                        self.span(p),
                        why,
                    )
                    .help("write a whole number followed by `d`, `h`, `m` or `s`, largest unit first: `90s`, `15m`, `1h30m`, `7d`"),
                );
                None
            }
        }
    }

    // ------------------------------------------------------------------ strings

    pub(crate) fn string(&mut self, p: Pair<'_, Rule>) -> StrLit {
        let span = self.span(&p);
        let block = p.as_rule() == Rule::block_string;
        let dropped = if block {
            block_drops(self.src, span)
        } else {
            Drops::none()
        };
        let mut parts: Vec<StrPart> = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::interp => {
                    let cspan = self.span(&c);
                    let e = c.into_inner().next().expect("grammar: interpolation body");
                    parts.push(StrPart::Interp(self.expr(e), cspan));
                }
                Rule::escape | Rule::bescape => {
                    if let Some(text) = self.escape(&c) {
                        push_text(&mut parts, &text);
                    }
                }
                _ if !block => push_text(&mut parts, c.as_str()),
                _ => {
                    let start = self.span(&c).start as usize;
                    let text: String = c
                        .as_str()
                        .char_indices()
                        .filter(|(i, _)| dropped.keeps(start + i))
                        .map(|(_, ch)| ch)
                        .collect();
                    push_text(&mut parts, &text);
                }
            }
        }
        if block {
            // CRLF sources: a block string's lines end in `\n` only.
            for p in &mut parts {
                if let StrPart::Text(t) = p {
                    if t.contains('\r') {
                        *t = t.replace("\r\n", "\n");
                    }
                }
            }
        }
        StrLit { parts, block, span }
    }

    fn escape(&mut self, p: &Pair<'_, Rule>) -> Option<String> {
        let s = p.as_str();
        let body = &s[1..];
        let out = match body {
            "\"" => "\"".to_string(),
            "\"\"\"" => "\"\"\"".to_string(),
            "\\" => "\\".to_string(),
            "n" => "\n".to_string(),
            "t" => "\t".to_string(),
            "$" => "$".to_string(),
            _ => {
                if let Some(hex) = body.strip_prefix("u{").and_then(|b| b.strip_suffix('}')) {
                    if let Some(c) = u32::from_str_radix(hex, 16)
                        .ok()
                        .filter(|_| (1..=6).contains(&hex.len()))
                        .and_then(char::from_u32)
                    {
                        return Some(c.to_string());
                    }
                    self.err(
                        Diagnostic::new(
                            Code::E0103,
                            format!("invalid unicode escape `{s}`"),
                            self.span(p),
                            "not a Unicode scalar value",
                        )
                        .help(
                            "write 1 to 6 hex digits of a Unicode scalar value, like `\\u{1F680}`",
                        ),
                    );
                    return None;
                }
                self.err(
                    Diagnostic::new(Code::E0103, format!("unknown escape `{s}`"), self.span(p), "unknown escape")
                        .help("the escapes are `\\\"` `\\\\` `\\n` `\\t` `\\$` and `\\u{…}`; write `\\\\` for a backslash"),
                );
                return None;
            }
        };
        Some(out)
    }
}

fn push_text(parts: &mut Vec<StrPart>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(StrPart::Text(t)) = parts.last_mut() {
        t.push_str(text);
    } else {
        parts.push(StrPart::Text(text.to_string()));
    }
}

fn empty_str(span: Span) -> StrLit {
    StrLit {
        parts: vec![],
        block: false,
        span,
    }
}

fn missing_ident(span: Span) -> Ident {
    Ident {
        name: String::new(),
        span,
    }
}
