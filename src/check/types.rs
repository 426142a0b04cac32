//! Types of expressions; E0201/E0301–E0304 on expressions (references: `refs.rs`).
//!
//! Every expression is typed in a [`Ctx`]: its scope (the pipeline, a template body, or a
//! literal-only default) and its [`Site`]. Typing resolves it into an [`ir::Expr`] and
//! records uses of params, secrets, exports and artifacts for the later rules.

use super::hash::FastMap;
use super::{Checker, Site};
use crate::ast::{self, BinOp, ExprKind, StrPart};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir;
use crate::shell::{Quote, QuoteTracker};

/// The type of an expression while checking: an IR type, or `Any` after an error (or for
/// the elements of an empty list), which fits everything so one mistake is reported once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    Any,
    String,
    Int,
    Bool,
    Duration,
    List(Box<Ty>),
    Map(Box<Ty>),
    Secret,
    Artifact,
    Script,
}

impl Ty {
    pub(crate) fn from_ir(t: &ir::Type) -> Ty {
        match t {
            ir::Type::String => Ty::String,
            ir::Type::Int => Ty::Int,
            ir::Type::Bool => Ty::Bool,
            ir::Type::Duration => Ty::Duration,
            ir::Type::List(t) => Ty::List(Box::new(Ty::from_ir(t))),
            ir::Type::Map(t) => Ty::Map(Box::new(Ty::from_ir(t))),
            ir::Type::Secret => Ty::Secret,
            ir::Type::Artifact => Ty::Artifact,
            ir::Type::Script => Ty::Script,
        }
    }

    /// Whether a value of type `self` may stand where `expected` is required.
    pub(crate) fn fits(&self, expected: &Ty) -> bool {
        match (self, expected) {
            (Ty::Any, _) | (_, Ty::Any) | (Ty::String, Ty::Script) => true,
            (Ty::List(a), Ty::List(b)) | (Ty::Map(a), Ty::Map(b)) => a.fits(b),
            (a, b) => a == b,
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Any => f.write_str("any"),
            Ty::String => f.write_str("string"),
            Ty::Int => f.write_str("int"),
            Ty::Bool => f.write_str("bool"),
            Ty::Duration => f.write_str("duration"),
            Ty::List(t) => write!(f, "list<{t}>"),
            Ty::Map(t) => write!(f, "map<{t}>"),
            Ty::Secret => f.write_str("secret"),
            Ty::Artifact => f.write_str("artifact"),
            Ty::Script => f.write_str("script"),
        }
    }
}

/// What names an expression can see.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'t> {
    Pipeline,
    /// A template body: its parameters (and `run`).
    Template(&'t super::TemplateParams),
    /// A `param` default or `secret` source: literals and `env(…)`/`file(…)`.
    Default,
}

#[derive(Clone, Copy)]
pub(crate) struct Ctx<'t> {
    pub scope: Scope<'t>,
    pub site: Site,
}

const FUNCTIONS: &[&str] = &[
    "contains",
    "starts_with",
    "ends_with",
    "len",
    "join",
    "lower",
    "upper",
    "regex",
    "env",
    "file",
];

impl Checker<'_> {
    /// Types `e` against `expected` and resolves it.
    pub(crate) fn expect(&mut self, e: &ast::Expr, expected: &Ty, ctx: Ctx<'_>) -> ir::Expr {
        if let (ExprKind::Str(s), Ty::Script) = (&e.kind, expected) {
            return self.string(s, ctx, true);
        }
        let (ty, out) = self.expr(e, ctx);
        self.require_type(&ty, expected, e.span);
        out
    }

    /// Reports a mismatch of `found` against `expected` at `span`.
    pub(crate) fn require_type(&mut self, found: &Ty, expected: &Ty, span: crate::source::Span) {
        if *found == Ty::Secret && *expected != Ty::Secret && *expected != Ty::Any {
            self.secret_misuse(span, "used as a value");
        } else if !found.fits(expected) {
            let d = Diagnostic::new(
                Code::E0301,
                format!("expected `{expected}`, found `{found}`"),
                span,
                format!("this is `{found}`"),
            );
            let d = match (found, expected) {
                (Ty::String, Ty::Duration) => {
                    d.help("write the duration without quotes, like `15m`")
                }
                (Ty::String, Ty::Int) => d.help("write the number without quotes"),
                (Ty::List(_), Ty::String) => d.help("use `join(list, \" \")` to make one string"),
                _ => d,
            };
            self.report(d);
        }
    }

    pub(crate) fn secret_misuse(&mut self, span: crate::source::Span, how: &str) {
        self.report(
            Diagnostic::new(Code::E0303, format!("secret {how} outside `env`"), span, "a secret")
                .help("pass it to the process through `env = { NAME = secrets.X }` and read `$NAME` in the script")
                .note("a secret may only be a value in `env` (or a `secret` template parameter), so it is never printed or stored"),
        );
    }

    /// Types and resolves an expression.
    pub(crate) fn expr(&mut self, e: &ast::Expr, ctx: Ctx<'_>) -> (Ty, ir::Expr) {
        match &e.kind {
            ExprKind::Str(s) => (Ty::String, self.string(s, ctx, false)),
            ExprKind::Int(n) => (Ty::Int, ir::Expr::Int { value: *n }),
            ExprKind::Bool(b) => (Ty::Bool, ir::Expr::Bool { value: *b }),
            ExprKind::Duration(s) => (Ty::Duration, ir::Expr::Duration { secs: *s }),
            ExprKind::Error => (
                Ty::Any,
                ir::Expr::Str {
                    value: String::new(),
                },
            ),
            ExprKind::List(items) => self.list(items, ctx),
            ExprKind::Map(entries) => self.map(entries, ctx),
            ExprKind::Path(segs) => self.path(segs, e.span, ctx),
            ExprKind::Call(name, args) => self.call(name, args, e.span, ctx),
            ExprKind::Not(inner) => {
                let (t, x) = self.expr(inner, ctx);
                self.operand(&t, &Ty::Bool, inner.span);
                (
                    Ty::Bool,
                    ir::Expr::Not {
                        operand: Box::new(x),
                    },
                )
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, ctx),
        }
    }

    /// An operand must be of type `expected` (secrets are E0303).
    fn operand(&mut self, t: &Ty, expected: &Ty, span: crate::source::Span) {
        if *t == Ty::Secret {
            self.secret_misuse(span, "compared or computed with");
        } else {
            self.require_type(t, expected, span);
        }
    }

    fn list(&mut self, items: &[ast::Expr], ctx: Ctx<'_>) -> (Ty, ir::Expr) {
        let mut elem = Ty::Any;
        let mut out = Vec::new();
        for item in items {
            let (t, x) = self.expr(item, ctx);
            if t == Ty::Secret {
                self.secret_misuse(item.span, "put in a list");
            } else if elem == Ty::Any {
                elem = t;
            } else if !t.fits(&elem) {
                self.require_type(&t, &elem, item.span);
            }
            out.push(x);
        }
        (Ty::List(Box::new(elem)), ir::Expr::List { items: out })
    }

    fn map(&mut self, entries: &[(ast::Ident, ast::Expr)], ctx: Ctx<'_>) -> (Ty, ir::Expr) {
        let mut elem = Ty::Any;
        let mut out = std::collections::BTreeMap::new();
        let mut seen = FastMap::default();
        for (k, v) in entries {
            self.repeated_key(&mut seen, k);
            let (t, x) = self.expr(v, ctx);
            if t == Ty::Secret {
                self.secret_misuse(v.span, "put in a map");
            } else if elem == Ty::Any {
                elem = t;
            } else if !t.fits(&elem) {
                self.require_type(&t, &elem, v.span);
            }
            out.insert(k.name.clone(), x);
        }
        (Ty::Map(Box::new(elem)), ir::Expr::Map { entries: out })
    }

    /// E0202 when a map key was already `seen` (then `true`); otherwise remembers it.
    pub(crate) fn repeated_key<'k>(
        &mut self,
        seen: &mut FastMap<&'k str, &'k ast::Ident>,
        k: &'k ast::Ident,
    ) -> bool {
        if let Some(first) = seen.get(k.name.as_str()) {
            self.report(
                Diagnostic::new(
                    Code::E0202,
                    format!("duplicate key `{}`", k.name),
                    k.span,
                    "set again here",
                )
                .label(first.span, "first set here"),
            );
            return true;
        }
        seen.insert(&k.name, k);
        false
    }

    /// A `param` or template parameter default: a literal (or `env(…)`/`file(…)`) of `ty`.
    pub(crate) fn default_value(&mut self, d: &ast::Expr, ty: Option<&ir::Type>) -> ir::Expr {
        let expected = ty.map_or(Ty::Any, Ty::from_ir);
        self.expect(
            d,
            &expected,
            Ctx {
                scope: Scope::Default,
                site: Site::Nowhere,
            },
        )
    }

    /// A string literal; `script` strings are checked for `${…}` inside shell quotes.
    pub(crate) fn string(&mut self, s: &ast::StrLit, ctx: Ctx<'_>, script: bool) -> ir::Expr {
        if let Some(text) = s.as_plain() {
            return if script {
                ir::Expr::Interp {
                    parts: vec![ir::Part::Text(text)],
                    script: true,
                }
            } else {
                ir::Expr::Str { value: text }
            };
        }
        let mut quotes = QuoteTracker::new();
        // The shell quoting is read at each interpolation of a script only: text after the
        // last one is not fed (tracking costs about 200 instructions a character).
        let quoted_until = if script {
            s.parts
                .iter()
                .rposition(|p| matches!(p, StrPart::Interp(..)))
                .unwrap_or(0)
        } else {
            0
        };
        let mut parts = Vec::new();
        for (at, p) in s.parts.iter().enumerate() {
            match p {
                StrPart::Text(t) => {
                    if at < quoted_until {
                        quotes.feed(t);
                    }
                    parts.push(ir::Part::Text(t.clone()));
                }
                StrPart::Interp(e, whole) => {
                    let (t, x) = self.expr(e, ctx);
                    self.interpolated(&t, e.span, script);
                    if script
                        && !is_numeric(&t)
                        && crate::shell::evaluates_arithmetic(&quotes, || around(&s.parts, at))
                    {
                        self.not_arithmetic(&t, *whole);
                    }
                    quotes.value();
                    if script
                        && matches!(quotes.quote(), Quote::Single | Quote::Double | Quote::AnsiC)
                    {
                        self.report(
                            Diagnostic::new(
                                Code::W0004,
                                "interpolation inside shell quotes",
                                *whole,
                                "inside quotes",
                            )
                            .help("remove the surrounding quotes: every `${…}` already becomes exactly one shell word")
                            .note("pipec inserts the value as a separately quoted word, so these quotes do not apply to it"),
                        );
                    }
                    parts.push(ir::Part::Expr(x));
                }
            }
        }
        ir::Expr::Interp { parts, script }
    }

    /// E0301: a value that is not a number where the shell evaluates arithmetic (§7).
    fn not_arithmetic(&mut self, t: &Ty, whole: crate::source::Span) {
        self.report(
            Diagnostic::new(
                Code::E0301,
                format!("expected `int` where the shell evaluates arithmetic, found `{t}`"),
                whole,
                "evaluated as arithmetic by the shell",
            )
            .help("use an `int` param, or pass the value in `env` and check that it is a number before the script uses it")
            .note("bash evaluates the text of a value in `$((…))`, `((…))`, `let`, `declare -i`, a subscript or `[[ … -eq … ]]` as an expression, which can run commands hidden in it (`a[$(cmd)]`)"),
        );
    }

    fn interpolated(&mut self, t: &Ty, span: crate::source::Span, script: bool) {
        match t {
            Ty::Secret => self.secret_misuse(span, "interpolated"),
            Ty::Artifact => self.report(
                Diagnostic::new(Code::E0301, "an `artifact` parameter cannot be interpolated", span, "an artifact name")
                    .help("use it in `input`, `inputs`, `output` or `outputs`; in a script, read `$PIPEC_INPUT_<NAME>`"),
            ),
            Ty::Map(_) => self.report(Diagnostic::new(
                Code::E0301,
                "a map cannot be interpolated",
                span,
                format!("this is `{t}`"),
            ).help("interpolate one entry, or pass the map through `env`")),
            Ty::List(_) if !script => self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("expected a string, number, bool or duration, found `{t}`"),
                    span,
                    "a list",
                )
                .help("use `join(list, \" \")` to make one string (in a `run` script a list becomes one word per element)"),
            ),
            _ => {}
        }
    }

    fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: crate::source::Span,
        ctx: Ctx<'_>,
    ) -> (Ty, ir::Expr) {
        let typed: Vec<(Ty, ir::Expr)> = args.iter().map(|a| self.expr(a, ctx)).collect();
        let out = ir::Expr::Call {
            func: name.name.clone(),
            args: typed.iter().map(|(_, x)| x.clone()).collect(),
        };
        let Some(sig) = signature(&name.name) else {
            self.unknown(name, "function", FUNCTIONS.iter().copied());
            return (Ty::Any, out);
        };
        if args.len() != sig.0.len() {
            self.report(Diagnostic::new(
                Code::E0301,
                format!(
                    "`{}` takes {} argument{}, found {}",
                    name.name,
                    sig.0.len(),
                    if sig.0.len() == 1 { "" } else { "s" },
                    args.len()
                ),
                span,
                "wrong number of arguments",
            ));
            return (sig.1, out);
        }
        for ((t, _), (arg, expected)) in typed.iter().zip(args.iter().zip(sig.0.iter())) {
            self.operand(t, expected, arg.span);
        }
        self.generic_args(&name.name, &typed, args);
        if matches!(name.name.as_str(), "env" | "file") && !matches!(ctx.scope, Scope::Default) {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!(
                        "`{}(…)` is only allowed in `secret` and `param` defaults",
                        name.name
                    ),
                    span,
                    "not allowed here",
                )
                .help("declare a `param` or `secret` with it and refer to that instead"),
            );
        }
        if name.name == "regex" {
            if let ExprKind::Str(s) = &args[1].kind {
                if let Some(p) = s.as_plain() {
                    if let Err(e) = regex::Regex::new(&p) {
                        let msg = e.to_string();
                        let last = msg.lines().last().unwrap_or("invalid").trim().to_string();
                        self.report(Diagnostic::new(
                            Code::E0304,
                            "invalid regular expression",
                            args[1].span,
                            last,
                        ));
                    }
                }
            }
        }
        (sig.1, out)
    }

    /// The generic functions: `len(list|string|map)`, `contains(list<T>, T)` or
    /// `contains(string, string)`, `join(list<scalar>, string)`.
    fn generic_args(&mut self, func: &str, typed: &[(Ty, ir::Expr)], args: &[ast::Expr]) {
        let scalar = |t: &Ty| matches!(t, Ty::Any | Ty::String | Ty::Int | Ty::Bool | Ty::Duration);
        let bad = |this: &mut Self, i: usize, wanted: &str| {
            let t = &typed[i].0;
            this.report(Diagnostic::new(
                Code::E0301,
                format!("`{func}` expects {wanted}, found `{t}`"),
                args[i].span,
                format!("this is `{t}`"),
            ));
        };
        match func {
            "len"
                if !matches!(
                    typed[0].0,
                    Ty::Any | Ty::String | Ty::List(_) | Ty::Map(_) | Ty::Secret
                ) =>
            {
                bad(self, 0, "a list, string or map");
            }
            "contains" => match &typed[0].0 {
                Ty::List(elem) => {
                    if !(typed[1].0.fits(elem) || elem.fits(&typed[1].0)) {
                        bad(self, 1, &format!("`{elem}` (the list's element type)"));
                    }
                }
                Ty::String => {
                    if !typed[1].0.fits(&Ty::String) && typed[1].0 != Ty::Secret {
                        bad(self, 1, "a `string`");
                    }
                }
                Ty::Any | Ty::Secret => {}
                _ => bad(self, 0, "a list or string"),
            },
            "join" => {
                if let Ty::List(elem) = &typed[0].0 {
                    if !scalar(elem) {
                        bad(self, 0, "a list of strings, numbers, bools or durations");
                    }
                }
            }
            _ => {}
        }
    }

    fn binary(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr, ctx: Ctx<'_>) -> (Ty, ir::Expr) {
        let (lt, lx) = self.expr(l, ctx);
        let (rt, rx) = self.expr(r, ctx);
        match op {
            BinOp::Or | BinOp::And => {
                self.operand(&lt, &Ty::Bool, l.span);
                self.operand(&rt, &Ty::Bool, r.span);
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                if lt == Ty::Secret || rt == Ty::Secret {
                    let span = if lt == Ty::Secret { l.span } else { r.span };
                    self.secret_misuse(span, "compared");
                } else if !lt.fits(&rt) && !rt.fits(&lt) {
                    self.report(
                        Diagnostic::new(
                            Code::E0301,
                            format!("cannot compare `{lt}` with `{rt}`"),
                            r.span,
                            format!("this is `{rt}`"),
                        )
                        .label(l.span, format!("this is `{lt}`")),
                    );
                } else if !matches!(op, BinOp::Eq | BinOp::Ne)
                    && !matches!(lt, Ty::Int | Ty::Duration | Ty::String | Ty::Any)
                {
                    self.report(Diagnostic::new(
                        Code::E0301,
                        format!(
                            "`{}` needs numbers, durations or strings, found `{lt}`",
                            op.text()
                        ),
                        l.span,
                        format!("this is `{lt}`"),
                    ));
                }
            }
            BinOp::In => {
                if lt == Ty::Secret {
                    self.secret_misuse(l.span, "compared");
                } else if let Ty::List(elem) = &rt {
                    if !lt.fits(elem) && !elem.fits(&lt) {
                        self.require_type(&lt, elem, l.span);
                    }
                } else if rt != Ty::Any {
                    self.require_type(&rt, &Ty::List(Box::new(lt.clone())), r.span);
                }
            }
            BinOp::Matches => {
                self.operand(&lt, &Ty::String, l.span);
                self.operand(&rt, &Ty::String, r.span);
                if let ExprKind::Str(s) = &r.kind {
                    if let Some(p) = s.as_plain() {
                        self.check_glob(&p, r.span);
                    }
                }
            }
        }
        (
            Ty::Bool,
            ir::Expr::Binary {
                op,
                lhs: Box::new(lx),
                rhs: Box::new(rx),
            },
        )
    }

    pub(crate) fn check_glob(&mut self, pattern: &str, span: crate::source::Span) {
        if let Err(e) = crate::patterns::glob(pattern) {
            self.report(
                Diagnostic::new(Code::E0304, format!("invalid glob `{pattern}`"), span, e)
                    .help("globs use `*`, `**`, `?`, `[…]` and `{a,b}`; close every `[` and `{`"),
            );
        }
    }
}

/// Parameter types and result type of a built-in function.
fn signature(name: &str) -> Option<(Vec<Ty>, Ty)> {
    let s = Ty::String;
    Some(match name {
        // `contains(list_or_string, item)` and `len(list_or_string_or_map)` are generic.
        "contains" | "len" => {
            let arity = if name == "len" { 1 } else { 2 };
            (
                vec![Ty::Any; arity],
                if name == "len" { Ty::Int } else { Ty::Bool },
            )
        }
        "starts_with" | "ends_with" | "regex" => (vec![s.clone(), s], Ty::Bool),
        "join" => (vec![Ty::List(Box::new(Ty::Any)), s.clone()], s),
        "lower" | "upper" | "env" | "file" => (vec![s.clone()], s),
        _ => return None,
    })
}

/// Whether values of type `t` are numbers (or unknown, after an error).
fn is_numeric(t: &Ty) -> bool {
    match t {
        Ty::Int | Ty::Any | Ty::Secret => true,
        Ty::List(elem) => matches!(**elem, Ty::Int | Ty::Any),
        _ => false,
    }
}

/// A script's text before and after interpolation `at`, other interpolations as `\u{1}`.
fn around(parts: &[StrPart], at: usize) -> (String, String) {
    let flat = |ps: &[StrPart]| {
        ps.iter()
            .map(|p| match p {
                StrPart::Text(t) => t.as_str(),
                StrPart::Interp(..) => "\u{1}",
            })
            .collect::<String>()
    };
    (flat(&parts[..at]), flat(&parts[at + 1..]))
}
