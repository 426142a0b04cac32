//! Attributes of actions, `check` rules and template bodies (`actions.rs` resolves an
//! action's kind and expands template calls).

use std::collections::BTreeMap;

use super::hash::FastMap;
use super::kinds::{CATEGORIES, COMMON, MAX_TIMEOUT, kind_name, kind_params};
use super::types::{Ctx, Scope, Ty};
use super::{Checker, TemplateDef};
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Kind};
use crate::source::Span;

/// An artifact name, or (in a template body) a parameter of type `artifact`.
#[derive(Clone, Debug)]
pub(crate) enum NameRef {
    Name(ast::Ident),
    Param(String, Span),
}

/// The processed attributes of an action, a `check` rule or a template body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parts {
    pub kind_params: BTreeMap<String, ir::Expr>,
    pub after: Vec<ast::Ident>,
    /// With the folder each is restored under (`inputs = { NAME = "FOLDER" }`).
    pub inputs: Vec<(NameRef, Option<String>)>,
    pub outputs: Vec<(NameRef, String)>,
    pub exports: Vec<ast::Ident>,
    pub env: BTreeMap<String, ir::Expr>,
    pub timeout: Option<(ir::Expr, Span)>,
    pub retry: Option<ir::Retry>,
    /// In a template body: the parameter that gives the retry count.
    pub retry_param: Option<String>,
    pub when: Option<ir::Expr>,
    pub category: Option<ir::Category>,
    /// `image = "NAME"` (a plain string) and where it is set.
    pub image: Option<(String, Span)>,
    /// Common attributes that were set (for call-site override).
    pub set: Vec<String>,
}

/// What the attributes belong to.
#[derive(Clone, Copy)]
pub(crate) enum Target<'t> {
    Kind(Kind),
    /// A template call: its parameters, the kind under it and its display name.
    Call(&'t TemplateDef, &'t str),
    /// The kind could not be resolved (already reported): accept anything quietly.
    Unknown,
}

impl Checker<'_> {
    // ------------------------------------------------------------------ attributes

    /// Processes an attribute block for `target`. Returns the parts and, for a template
    /// call, the template arguments.
    pub(crate) fn attrs(
        &mut self,
        attrs: &[ast::Attr],
        target: Target<'_>,
        ctx: Ctx<'_>,
        owner: Span,
    ) -> (Parts, Args) {
        let mut parts = Parts::default();
        let mut args = Args::default();
        for a in self.first_set(attrs) {
            let name = a.name.name.as_str();
            if COMMON.contains(&name) {
                self.common_attr(a, &mut parts, ctx, target);
                parts.set.push(name.to_string());
                continue;
            }
            match target {
                Target::Unknown => {}
                Target::Kind(kind) => {
                    let params = kind_params(kind);
                    if let Some(p) = params.iter().find(|p| p.name == name) {
                        let v = self.attr_expr(a, &p.ty, ctx);
                        if kind == Kind::Dir && name == "exclude" {
                            self.literal_globs(&a.value);
                        }
                        parts.kind_params.insert(name.to_string(), v);
                    } else {
                        let names = params.iter().map(|p| p.name).chain(COMMON.iter().copied());
                        let takes = params
                            .iter()
                            .map(|p| format!("`{}`", p.name))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let help = crate::habits::attribute(name, &takes)
                            .or_else(|| self.did_you_mean(name, names));
                        self.report(
                            Diagnostic::new(
                                Code::E0203,
                                format!(
                                    "unknown attribute `{name}` for kind `{}`",
                                    kind_name(kind)
                                ),
                                a.name.span,
                                "unknown attribute",
                            )
                            .help_opt(help)
                            .note(format!("`{}` takes {takes}", kind_name(kind))),
                        );
                    }
                }
                Target::Call(def, display) => {
                    if let Some((_, ty, _)) = def.params.get(name) {
                        let v = self.template_arg(a, ty.as_ref(), ctx);
                        args.values.insert(name.to_string(), v);
                        args.spans.insert(name.to_string(), a.value.span());
                        continue;
                    }
                    let is_kind_param = def
                        .kind
                        .is_some_and(|k| kind_params(k).iter().any(|p| p.name == name));
                    let names = def
                        .params
                        .iter()
                        .map(|(n, _, _)| n.name.as_str())
                        .chain(COMMON.iter().copied());
                    let d = if is_kind_param {
                        Diagnostic::new(Code::E0203, format!("template `{display}` does not take `{name}`"), a.name.span, "set by the template itself")
                            .note(format!("a template call sets the template's parameters and common attributes only; `{name}` belongs to the underlying kind"))
                    } else {
                        Diagnostic::new(
                            Code::E0203,
                            format!("unknown parameter `{name}` for template `{display}`"),
                            a.name.span,
                            "unknown parameter",
                        )
                        .help_opt(
                            crate::habits::attribute(
                                name,
                                &format!("the parameters of `{display}`"),
                            )
                            .or_else(|| self.did_you_mean(name, names)),
                        )
                    };
                    self.report(d.label(owner, format!("template `{display}`")));
                }
            }
        }
        (parts, args)
    }

    fn attr_expr(&mut self, a: &ast::Attr, ty: &Ty, ctx: Ctx<'_>) -> ir::Expr {
        match &a.value {
            AttrValue::Expr(e) => self.expect(e, ty, ctx),
            AttrValue::OutputFrom { name, .. } => {
                self.report(Diagnostic::new(
                    Code::E0301,
                    format!("`{} from \"…\"` is only for `output`", name.name),
                    a.value.span(),
                    "not a value",
                ));
                ir::Expr::Str {
                    value: String::new(),
                }
            }
        }
    }

    fn template_arg(&mut self, a: &ast::Attr, ty: Option<&ir::Type>, ctx: Ctx<'_>) -> ir::Expr {
        let expected = ty.map_or(Ty::Any, Ty::from_ir);
        if expected == Ty::Artifact {
            if let AttrValue::Expr(ast::Expr {
                kind: ExprKind::Path(p),
                ..
            }) = &a.value
            {
                if let [one] = p.as_slice() {
                    return ir::Expr::Str {
                        value: one.name.clone(),
                    };
                }
            }
            self.report(Diagnostic::new(
                Code::E0301,
                "expected an artifact name",
                a.value.span(),
                "not an artifact name",
            ));
            return ir::Expr::Str {
                value: String::new(),
            };
        }
        if expected == Ty::Secret {
            if let AttrValue::Expr(e) = &a.value {
                let (t, x) = self.expr(e, ctx);
                if t != Ty::Secret && t != Ty::Any {
                    self.require_type(&t, &Ty::Secret, e.span);
                }
                return x;
            }
        }
        self.attr_expr(a, &expected, ctx)
    }

    /// A bare name, or a list of them (`after`, `inputs`, `exports`).
    pub(crate) fn names(&mut self, v: &AttrValue, list: bool, what: &str) -> Vec<ast::Ident> {
        let bad = |this: &mut Self, span: Span| {
            let shape = if list {
                format!("a list of {what} names, like `[a, b]`")
            } else {
                format!("a {what} name")
            };
            this.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("expected {shape}"),
                    span,
                    "not a bare name",
                )
                .note(format!(
                    "this attribute takes bare {what} names, not expressions or strings"
                )),
            );
        };
        let AttrValue::Expr(e) = v else {
            bad(self, v.span());
            return vec![];
        };
        let one = |this: &mut Self, e: &ast::Expr| -> Option<ast::Ident> {
            match &e.kind {
                ExprKind::Path(p) if p.len() == 1 => Some(p[0].clone()),
                ExprKind::Error => None,
                _ => {
                    bad(this, e.span);
                    None
                }
            }
        };
        match (&e.kind, list) {
            // Sized by the list (a `filter_map` would start at four slots): every action's
            // `after` list is kept until the release rules.
            (ExprKind::List(items), true) => {
                let mut names = Vec::with_capacity(items.len());
                names.extend(items.iter().filter_map(|i| one(self, i)));
                names
            }
            (_, false) => one(self, e).into_iter().collect(),
            _ => {
                bad(self, e.span);
                vec![]
            }
        }
    }

    pub(super) fn name_ref(id: ast::Ident, ctx: Ctx<'_>) -> NameRef {
        if let Scope::Template(params) = ctx.scope {
            if params
                .get(&id.name)
                .is_some_and(|(_, t, _)| *t == Some(ir::Type::Artifact))
            {
                return NameRef::Param(id.name, id.span);
            }
        }
        NameRef::Name(id)
    }

    #[allow(clippy::too_many_lines)] // Reason: one arm per common attribute reads best as one match.
    fn common_attr(&mut self, a: &ast::Attr, parts: &mut Parts, ctx: Ctx<'_>, target: Target<'_>) {
        match a.name.name.as_str() {
            "after" => parts.after = self.names(&a.value, true, "action"),
            "input" | "inputs" => {
                let inputs = self.inputs(a, ctx);
                parts.inputs.extend(inputs);
            }
            "output" => self.output(a, parts, ctx, target),
            "outputs" => {
                let AttrValue::Expr(ast::Expr {
                    kind: ExprKind::Map(entries),
                    ..
                }) = &a.value
                else {
                    self.report(Diagnostic::new(Code::E0301, "expected a map of artifact names to paths, like `{ bin = \"target/release/app\" }`", a.value.span(), "not a map"));
                    return;
                };
                for (k, v) in entries {
                    let path = self.output_path(v);
                    let r = Self::name_ref(k.clone(), ctx);
                    parts.outputs.push((r, path));
                }
            }
            "exports" => {
                let names = self.names(&a.value, true, "export");
                self.no_repeats(&names, "export");
                parts.exports = names;
            }
            "env" => {
                let AttrValue::Expr(ast::Expr {
                    kind: ExprKind::Map(entries),
                    ..
                }) = &a.value
                else {
                    self.report(Diagnostic::new(
                        Code::E0301,
                        "expected a map, like `env = { NAME = \"value\" }`",
                        a.value.span(),
                        "not a map",
                    ));
                    return;
                };
                let mut seen = FastMap::default();
                for (k, v) in entries {
                    if self.repeated_key(&mut seen, k) {
                        continue;
                    }
                    self.env_name(k);
                    let (t, x) = self.expr(v, ctx);
                    if !matches!(t, Ty::String | Ty::Secret | Ty::Any) {
                        self.report(
                            Diagnostic::new(
                                Code::E0301,
                                format!("expected `string` or `secret`, found `{t}`"),
                                v.span,
                                format!("this is `{t}`"),
                            )
                            .help("interpolate it: `\"${…}\"`"),
                        );
                    }
                    parts.env.insert(k.name.clone(), x);
                }
            }
            "timeout" => {
                let errors = self.sink.error_count();
                let x = self.attr_expr(a, &Ty::Duration, ctx);
                if let ir::Expr::Duration { secs } = x {
                    let kind = match target {
                        Target::Kind(k) => Some(k),
                        Target::Call(def, _) => def.kind,
                        Target::Unknown => None,
                    };
                    self.timeout_in_range(kind, secs, a.value.span());
                }
                let malformed = matches!(
                    &a.value,
                    AttrValue::Expr(ast::Expr {
                        kind: ExprKind::Error,
                        ..
                    })
                );
                let fine = malformed
                    || matches!(
                        x,
                        ir::Expr::Duration { .. } | ir::Expr::Ref(ir::Ref::TemplateParam { .. })
                    );
                if !fine && self.sink.error_count() == errors {
                    self.report(
                        Diagnostic::new(
                            Code::E0301,
                            "`timeout` must be a duration literal",
                            a.value.span(),
                            "not a literal",
                        )
                        .help("write the duration itself, like `timeout = 15m`")
                        .note("timeouts are fixed when the pipeline is compiled"),
                    );
                }
                parts.timeout = Some((x, a.value.span()));
            }
            "retry" => parts.retry = self.retry(a, ctx, &mut parts.retry_param),
            "image" => {
                if let Some(name) = self.plain_string(a, ctx) {
                    parts.image = Some((name, a.name.span));
                }
            }
            "when" => {
                if let AttrValue::Expr(e) = &a.value {
                    parts.when = Some(self.condition_expr(e, ctx, "`when`"));
                }
            }
            "category" => {
                for id in self.names(&a.value, false, "category") {
                    match CATEGORIES.iter().position(|c| *c == id.name) {
                        Some(i) => {
                            parts.category = Some(
                                [
                                    ir::Category::Source,
                                    ir::Category::Build,
                                    ir::Category::Test,
                                    ir::Category::Deploy,
                                    ir::Category::Approval,
                                    ir::Category::Invoke,
                                ][i],
                            );
                        }
                        None => self.unknown(&id, "category", CATEGORIES.iter().copied()),
                    }
                }
            }
            _ => {}
        }
    }

    /// A bool condition: `when`, `require`, a guard (E0302 otherwise).
    pub(crate) fn condition_expr(&mut self, e: &ast::Expr, ctx: Ctx<'_>, what: &str) -> ir::Expr {
        let errors_before = self.sink.error_count();
        let (t, x) = self.expr(e, ctx);
        let clean = self.sink.error_count() == errors_before;
        if t == Ty::Secret {
            self.secret_misuse(e.span, "used in a condition");
        } else if !t.fits(&Ty::Bool) {
            self.report(
                Diagnostic::new(
                    Code::E0302,
                    format!("{what} must be `bool`, found `{t}`"),
                    e.span,
                    format!("this is `{t}`"),
                )
                .help("compare it, e.g. `params.env == \"prod\"`"),
            );
        } else if clean
            && !has_error(e)
            && !matches!(ctx.scope, Scope::Template(_))
            && super::resolve::is_constant(&x)
        {
            self.report(
                Diagnostic::new(
                    Code::W0002,
                    format!("{what} is constant"),
                    e.span,
                    "always the same value",
                )
                .help(
                    "refer to a param, `run`, an export or a stage status, or remove the condition",
                ),
            );
        }
        x
    }

    fn output(&mut self, a: &ast::Attr, parts: &mut Parts, ctx: Ctx<'_>, target: Target<'_>) {
        match &a.value {
            AttrValue::OutputFrom { name, path } => {
                let p = self.output_path(&ast::Expr {
                    kind: ExprKind::Str(path.clone()),
                    span: path.span,
                });
                let r = Self::name_ref(name.clone(), ctx);
                parts.outputs.push((r, p));
            }
            AttrValue::Expr(_) => {
                let kind = match target {
                    Target::Kind(k) => Some(k),
                    Target::Call(def, _) => def.kind,
                    Target::Unknown => None,
                };
                for id in self.names(&a.value, false, "artifact") {
                    if kind.is_some_and(|k| !matches!(k, Kind::Dir | Kind::Git | Kind::Aws)) {
                        self.report(
                            Diagnostic::new(Code::E0204, format!("`output = {}` needs a path", id.name), a.span, "missing `from \"PATH\"`")
                                .help(format!("write `output = {} from \"PATH\"`", id.name))
                                .note("only `dir`, `git` and `aws` have a result of their own; other kinds name the file or folder to capture"),
                        );
                    }
                    let r = Self::name_ref(id, ctx);
                    parts.outputs.push((r, ".".into()));
                }
            }
        }
    }

    fn output_path(&mut self, v: &ast::Expr) -> String {
        let ExprKind::Str(s) = &v.kind else {
            self.report(Diagnostic::new(
                Code::E0301,
                "expected a path string",
                v.span,
                "not a string",
            ));
            return ".".into();
        };
        let Some(p) = s.as_plain() else {
            self.report(Diagnostic::new(
                Code::E0301,
                "an output path cannot be interpolated",
                v.span,
                "interpolated",
            ));
            return ".".into();
        };
        let outside = p.starts_with('/') || p.split('/').any(|seg| seg == "..") || p.is_empty();
        if outside {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("output path `{p}` is not inside the workspace"),
                    v.span,
                    "outside the workspace",
                )
                .help("use a relative path without `..`, like `target/release/app`"),
            );
        }
        p
    }

    fn retry(
        &mut self,
        a: &ast::Attr,
        ctx: Ctx<'_>,
        param: &mut Option<String>,
    ) -> Option<ir::Retry> {
        let AttrValue::Expr(e) = &a.value else {
            return None;
        };
        let mut out = ir::Retry {
            count: 0,
            backoff_secs: 0,
        };
        let count_expr = match &e.kind {
            ExprKind::Map(entries) => {
                let mut count = None;
                for (k, v) in entries {
                    match k.name.as_str() {
                        "count" => count = Some(v),
                        "backoff" => {
                            if let ir::Expr::Duration { secs } = self.expect(v, &Ty::Duration, ctx)
                            {
                                out.backoff_secs = secs;
                            }
                        }
                        other => self.report(
                            Diagnostic::new(
                                Code::E0203,
                                format!("unknown field `{other}` of `retry`"),
                                k.span,
                                "unknown field",
                            )
                            .help_opt(self.did_you_mean(other, ["count", "backoff"])),
                        ),
                    }
                }
                if count.is_none() {
                    self.report(
                        Diagnostic::new(
                            Code::E0204,
                            "`retry` needs a `count`",
                            e.span,
                            "missing `count`",
                        )
                        .help("write `retry = { count = 2, backoff = 30s }`"),
                    );
                }
                count
            }
            _ => Some(e),
        }?;
        match self.expect(count_expr, &Ty::Int, ctx) {
            ir::Expr::Int { value } => {
                if (0..=10).contains(&value) {
                    out.count = u32::try_from(value).unwrap_or(0);
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::E0410,
                            format!("`retry` of {value} is out of range"),
                            count_expr.span,
                            "must be 0 to 10",
                        )
                        .note("`retry = N` re-runs a failed attempt N times, 0 to 10"),
                    );
                }
            }
            ir::Expr::Ref(ir::Ref::TemplateParam { name }) => *param = Some(name),
            ir::Expr::Str { value } if value.is_empty() => {} // An error, already reported.
            _ => self.report(
                Diagnostic::new(
                    Code::E0301,
                    "`retry` must be a whole number literal",
                    count_expr.span,
                    "not a literal",
                )
                .help("write the count itself, like `retry = 2`"),
            ),
        }
        Some(out)
    }

    pub(crate) fn require_kind_params(
        &mut self,
        kind: Kind,
        given: &BTreeMap<String, ir::Expr>,
        span: Span,
        owner: &str,
    ) {
        for p in kind_params(kind) {
            if p.default.is_none() && !given.contains_key(p.name) {
                self.report(
                    Diagnostic::new(
                        Code::E0204,
                        format!("{owner} is missing `{}`", p.name),
                        span,
                        format!("needs `{}`", p.name),
                    )
                    .help(format!("add `{} = …` ({})", p.name, p.ty))
                    .note(format!(
                        "`{}` requires `{}`",
                        kind_name(kind),
                        p.name
                    )),
                );
            }
        }
    }
}

/// Arguments of a template call, with the span of each value.
#[derive(Default)]
pub(crate) struct Args {
    pub values: BTreeMap<String, ir::Expr>,
    pub spans: BTreeMap<String, Span>,
}

impl Checker<'_> {
    /// A template body's `timeout` after substitution: it must be a literal.
    pub(super) fn fixed_duration(
        &mut self,
        kind: Option<Kind>,
        e: &ir::Expr,
        args: &BTreeMap<String, ir::Expr>,
        span_of: &dyn Fn(&str) -> Span,
    ) -> (ir::Expr, Span) {
        let out = e.substitute(args);
        let ir::Expr::Ref(ir::Ref::TemplateParam { name }) = e else {
            // A literal in the body, checked where it is written.
            return (out, span_of(""));
        };
        let span = span_of(name);
        if let ir::Expr::Duration { secs } = out {
            self.timeout_in_range(kind, secs, span);
        } else {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    "this argument sets the template's `timeout`, which must be a duration literal",
                    span,
                    "not a literal",
                )
                .help("write the duration itself, like `15m`"),
            );
        }
        (out, span)
    }

    /// An `env` key must be a usable variable name, and not one the runtime sets (§9).
    fn env_name(&mut self, k: &ast::Ident) {
        let valid = k
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("`{}` is not an environment variable name", k.name),
                    k.span,
                    "not a variable name",
                )
                .help("use letters, digits and `_`, not starting with a digit"),
            );
        } else if k.name.starts_with("PIPEC_") {
            self.report(
                Diagnostic::new(Code::E0202, format!("`{}` is reserved", k.name), k.span, "set by pipec")
                    .note("pipec sets the `PIPEC_*` variables of every action (run id, stage, action, attempt, output, inputs)"),
            );
        }
    }

    /// E0410 for an action timeout out of range (approvals: 1m to 30d).
    fn timeout_in_range(&mut self, kind: Option<Kind>, secs: u64, span: Span) {
        if kind == Some(Kind::Approval) {
            if !(60..=MAX_TIMEOUT).contains(&secs) {
                self.report(
                    Diagnostic::new(
                        Code::E0410,
                        "approval timeout out of range",
                        span,
                        "must be 1m to 30d",
                    )
                    .note("an approval waits at least a minute and at most 30 days (default 7d)"),
                );
            }
        } else {
            self.timeout_range(secs, span, "action");
        }
    }

    /// A template body's `retry` whose count is a parameter: the argument must be a literal.
    pub(super) fn fixed_retry(
        &mut self,
        body: &Parts,
        args: &BTreeMap<String, ir::Expr>,
        span_of: &dyn Fn(&str) -> Span,
    ) -> Option<ir::Retry> {
        let Some(param) = &body.retry_param else {
            return body.retry;
        };
        let mut retry = body.retry.unwrap_or(ir::Retry {
            count: 0,
            backoff_secs: 0,
        });
        match args.get(param) {
            Some(ir::Expr::Int { value }) if (0..=10).contains(value) => {
                retry.count = u32::try_from(*value).unwrap_or(0);
            }
            Some(ir::Expr::Int { value }) => self.report(
                Diagnostic::new(
                    Code::E0410,
                    format!("`retry` of {value} is out of range"),
                    span_of(param),
                    "must be 0 to 10",
                )
                .note("`retry = N` re-runs a failed attempt N times, 0 to 10"),
            ),
            _ => self.report(Diagnostic::new(
                Code::E0301,
                "this argument sets the template's `retry`, which must be a whole number literal",
                span_of(param),
                "not a literal",
            )),
        }
        Some(retry)
    }

    /// Validates the literal globs of a list attribute (`exclude`).
    fn literal_globs(&mut self, v: &AttrValue) {
        if let AttrValue::Expr(ast::Expr {
            kind: ExprKind::List(items),
            ..
        }) = v
        {
            for i in items {
                if let ExprKind::Str(s) = &i.kind {
                    if let Some(p) = s.as_plain() {
                        self.check_glob(&p, i.span);
                    }
                }
            }
        }
    }

    /// E0202 for a name listed twice.
    pub(crate) fn no_repeats(&mut self, names: &[ast::Ident], what: &str) {
        let mut first_of: FastMap<&str, Span> = FastMap::default();
        for n in names {
            let Some(&first) = first_of.get(n.name.as_str()) else {
                first_of.insert(&n.name, n.span);
                continue;
            };
            self.report(
                Diagnostic::new(
                    Code::E0202,
                    format!("{what} `{}` is listed twice", n.name),
                    n.span,
                    "listed again here",
                )
                .label(first, "first listed here"),
            );
        }
    }
}

/// Whether an expression holds a malformed part (already reported by the parser).
pub(super) fn has_error(e: &ast::Expr) -> bool {
    match &e.kind {
        ExprKind::Error => true,
        ExprKind::Not(x) => has_error(x),
        ExprKind::Binary(_, l, r) => has_error(l) || has_error(r),
        ExprKind::List(items) | ExprKind::Call(_, items) => items.iter().any(has_error),
        _ => false,
    }
}
