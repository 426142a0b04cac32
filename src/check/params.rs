//! A `param`'s constraints block, `{ allowed = […]  pattern = "…" }` (docs/language.md §4.2):
//! typed against the param's type, validated (a pattern is a regular expression that must
//! match the whole value), and checked against a literal default. Values given at run time
//! are checked against the same rules by `crate::params`, when they are bound.

use super::types::{Ctx, Scope, Ty};
use super::{Checker, Site};
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic, suggest};
use crate::ir;
use crate::source::Span;

/// The constraints a param may have.
const CONSTRAINTS: &[&str] = &["allowed", "pattern"];

/// A param's checked constraints (`None`: not set, or set wrongly and reported).
#[derive(Default)]
pub(super) struct Constraints {
    pub allowed: Option<Vec<ir::Expr>>,
    pub pattern: Option<String>,
}

/// Whether a checked expression is a literal value.
fn literal(e: &ir::Expr) -> bool {
    match e {
        ir::Expr::Str { .. }
        | ir::Expr::Int { .. }
        | ir::Expr::Bool { .. }
        | ir::Expr::Duration { .. } => true,
        ir::Expr::List { items } => items.iter().all(literal),
        _ => false,
    }
}

impl Checker<'_> {
    /// Checks the constraints of param `p` of type `ty` (`None`: its type is broken, already
    /// reported), and its checked `default` against them.
    pub(super) fn param_constraints(
        &mut self,
        p: &ast::Param,
        ty: Option<&ir::Type>,
        default: Option<&ir::Expr>,
    ) -> Constraints {
        let mut out = Constraints::default();
        for a in self.first_set_of(&p.constraints, "") {
            let name = a.name.name.as_str();
            if !CONSTRAINTS.contains(&name) {
                self.report(
                    Diagnostic::new(
                        Code::E0203,
                        format!("unknown constraint `{name}` for param `{}`", p.name.name),
                        a.name.span,
                        "unknown constraint",
                    )
                    .help_opt(suggest(name, CONSTRAINTS.iter().copied()))
                    .note("a param's block takes `allowed = [VALUE, …]` and `pattern = \"REGEX\"`"),
                );
                continue;
            }
            // A broken or forbidden type was reported already.
            let Some(ty) = ty
                .filter(|t| !matches!(t, ir::Type::Secret | ir::Type::Artifact | ir::Type::Script))
            else {
                continue;
            };
            let Some(elem) = constrainable(ty) else {
                self.report(
                    Diagnostic::new(
                        Code::E0301,
                        format!("a `{ty}` param cannot have `{name}`"),
                        a.name.span,
                        "not for this type",
                    )
                    .note("`allowed` applies to `string`, `int`, `bool` and `duration` params and to lists of them; `pattern` to `string` and `list<string>`"),
                );
                continue;
            };
            if name == "allowed" {
                out.allowed = self.allowed_values(a, &p.name.name, elem);
            } else {
                out.pattern = self.pattern(a, ty, elem);
            }
        }
        if let Some(d) = default {
            self.default_within(p, d, &out);
        }
        out
    }

    /// `allowed = [VALUE, …]`: literals of the param's (element) type, at least one.
    fn allowed_values(
        &mut self,
        a: &ast::Attr,
        param: &str,
        elem: &ir::Type,
    ) -> Option<Vec<ir::Expr>> {
        let items = self.expect_list(
            a,
            format!(
                "expected a list of the values `{param}` may take, like `[\"staging\", \"prod\"]`"
            ),
        )?;
        if items.is_empty() {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    "`allowed` lists no value",
                    a.value.span(),
                    "no value would be accepted",
                )
                .help(format!(
                    "list the values `{param}` may take, or remove `allowed`"
                )),
            );
            return None;
        }
        let ctx = Ctx {
            scope: Scope::Default,
            site: Site::Nowhere,
        };
        let expected = Ty::from_ir(elem);
        let mut out = Vec::new();
        let mut broken = false;
        for item in items {
            let (t, x) = self.expr(item, ctx);
            if !t.fits(&expected) || t == Ty::Any {
                // `Any`: a malformed literal, already reported.
                self.require_type(&t, &expected, item.span);
                broken = true;
            } else if !literal(&x) {
                self.report(Diagnostic::new(
                    Code::E0301,
                    "an allowed value must be a literal",
                    item.span,
                    "not a literal",
                ));
                broken = true;
            }
            out.push(x);
        }
        // A broken list would only add noise about the default.
        (!broken).then_some(out)
    }

    /// `pattern = "REGEX"`: a plain string, a valid regular expression, on `string` params.
    fn pattern(&mut self, a: &ast::Attr, ty: &ir::Type, elem: &ir::Type) -> Option<String> {
        if *elem != ir::Type::String {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("`pattern` applies to `string` params, not `{ty}`"),
                    a.name.span,
                    "not a `string` param",
                )
                .help("list the values it may take with `allowed = […]`"),
            );
            return None;
        }
        let text = match &a.value {
            AttrValue::Expr(ast::Expr {
                kind: ExprKind::Str(s),
                ..
            }) => s.as_plain(),
            _ => None,
        };
        let Some(text) = text else {
            self.report(Diagnostic::new(
                Code::E0301,
                "expected a plain string with a regular expression, like `\"^[0-9]+$\"`",
                a.value.span(),
                "not a plain string",
            ));
            return None;
        };
        if let Err(e) = crate::params::full_match(&text) {
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or("invalid").trim().to_string();
            self.report(Diagnostic::new(
                Code::E0304,
                "invalid regular expression",
                a.value.span(),
                last,
            ));
            return None;
        }
        Some(text)
    }

    /// A literal default must keep the param's own constraints.
    fn default_within(&mut self, p: &ast::Param, d: &ir::Expr, c: &Constraints) {
        if !literal(d) {
            // `env(…)` or `file(…)`: checked when the run reads it.
            return;
        }
        let Some((bad, rule)) =
            crate::params::violation(c.allowed.as_deref(), c.pattern.as_deref(), d)
        else {
            return;
        };
        let at = p.default.as_ref().map_or(p.span, |e| e.span);
        let mut diag = Diagnostic::new(
            Code::E0301,
            format!(
                "param `{}` does not allow `{bad}` (its default): {rule}",
                p.name.name
            ),
            at,
            "outside the constraints",
        );
        if let Some(block) = constraints_span(p) {
            diag = diag.label(block, "constrained here");
        }
        self.report(diag);
    }
}

/// The element type constraints apply to: the type itself, or a list's element type;
/// `None` for maps and lists of lists.
fn constrainable(ty: &ir::Type) -> Option<&ir::Type> {
    let elem = match ty {
        ir::Type::List(t) => t,
        other => other,
    };
    matches!(
        elem,
        ir::Type::String | ir::Type::Int | ir::Type::Bool | ir::Type::Duration
    )
    .then_some(elem)
}

/// From the first constraint to the last.
fn constraints_span(p: &ast::Param) -> Option<Span> {
    let first = p.constraints.first()?;
    let last = p.constraints.last()?;
    Some(first.span.to(last.span))
}
