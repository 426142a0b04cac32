//! The `aws` kind's own rules, driven by the provider catalog (`ir::aws`): the owner and the
//! provider, the configuration's keys and values (E0412–E0414), artifact counts (E0415) and
//! exports (E0416); an unknown AWS provider is W0006. Run on each `aws` action once its
//! template (if any) is expanded, so the values checked are the ones the action will have.
//!
//! Spans: a direct `aws` action points at its own keys and values; through a template, a value
//! that came from an argument points at that argument, anything else at the template's name.
//! Values that are not literal text (interpolations) are checked at run time, not here.

use std::collections::BTreeMap;

use super::Checker;
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::aws::{self, Provider, Variables};
use crate::ir::{self, Category};
use crate::source::Span;

/// Where the parts of one `aws` action are written.
#[derive(Debug)]
pub(super) struct AwsSpans {
    /// The kind or template name: the span of anything not written at the action.
    pub fallback: Span,
    /// A kind parameter (`provider`, `configuration`, …) → its value.
    pub attrs: BTreeMap<String, Span>,
    /// A configuration key → the key.
    pub keys: BTreeMap<String, Span>,
    /// A configuration key → its value.
    pub values: BTreeMap<String, Span>,
    /// The template the action calls (its configuration is set through its parameters).
    pub template: Option<String>,
}

impl AwsSpans {
    fn at(fallback: Span) -> AwsSpans {
        AwsSpans {
            fallback,
            attrs: BTreeMap::new(),
            keys: BTreeMap::new(),
            values: BTreeMap::new(),
            template: None,
        }
    }

    /// The spans of an action that names `aws` itself.
    pub(super) fn direct(a: &ast::Action) -> AwsSpans {
        let mut s = AwsSpans::at(a.kind.span);
        for attr in &a.attrs {
            s.attrs.insert(attr.name.name.clone(), attr.value.span());
            if attr.name.name != "configuration" {
                continue;
            }
            if let AttrValue::Expr(ast::Expr {
                kind: ExprKind::Map(entries),
                ..
            }) = &attr.value
            {
                for (k, v) in entries {
                    s.keys.insert(k.name.clone(), k.span);
                    s.values.insert(k.name.clone(), v.span);
                }
            }
        }
        s
    }

    /// The spans of a template call: values that are a template parameter point at its
    /// argument (`args`: parameter → the argument's span).
    pub(super) fn call(
        a: &ast::Action,
        body: &BTreeMap<String, ir::Expr>,
        args: &BTreeMap<String, Span>,
    ) -> AwsSpans {
        let mut s = AwsSpans::at(a.kind.span);
        s.template = Some(a.kind.text());
        let arg_of = |e: &ir::Expr| -> Option<Span> {
            let mut found = None;
            e.refs(&mut |r| {
                if let ir::Ref::TemplateParam { name } = r {
                    found = found.or_else(|| args.get(name).copied());
                }
            });
            found
        };
        for (name, e) in body {
            if let Some(span) = arg_of(e) {
                s.attrs.insert(name.clone(), span);
            }
            if let (true, ir::Expr::Map { entries }) = (name == "configuration", e) {
                for (k, v) in entries {
                    if let Some(span) = arg_of(v) {
                        s.keys.insert(k.clone(), span);
                        s.values.insert(k.clone(), span);
                    }
                }
            }
        }
        for attr in &a.attrs {
            s.attrs.insert(attr.name.name.clone(), attr.value.span());
        }
        s
    }

    fn attr(&self, name: &str) -> Span {
        self.attrs.get(name).copied().unwrap_or(self.fallback)
    }

    fn key(&self, name: &str) -> Span {
        self.keys
            .get(name)
            .copied()
            .unwrap_or_else(|| self.attr("configuration"))
    }

    fn value(&self, name: &str) -> Span {
        self.values
            .get(name)
            .copied()
            .unwrap_or_else(|| self.key(name))
    }
}

/// What the rules look at besides the kind's parameters.
pub(super) struct AwsAction<'a> {
    pub name: &'a ast::Ident,
    pub category: Option<Category>,
    /// The names of its input artifacts.
    pub input_names: Vec<String>,
    pub inputs: usize,
    pub outputs: usize,
    pub exports: &'a [ast::Ident],
}

fn literal<'e>(params: &'e BTreeMap<String, ir::Expr>, name: &str) -> Option<&'e str> {
    match params.get(name) {
        Some(ir::Expr::Str { value }) => Some(value),
        _ => None,
    }
}

fn ticked(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Checker<'_> {
    /// Checks one `aws` action and drops its configuration entries whose value is the empty
    /// string ("not set"). Returns its category (the catalog's when none is written).
    pub(super) fn aws_action(
        &mut self,
        params: &mut BTreeMap<String, ir::Expr>,
        action: &AwsAction<'_>,
        spans: &AwsSpans,
    ) -> Category {
        if let Some(ir::Expr::Map { entries }) = params.get_mut("configuration") {
            entries.retain(|_, v| !matches!(v, ir::Expr::Str { value } if value.is_empty()));
        }
        for name in ["provider", "owner", "version"] {
            if params
                .get(name)
                .is_some_and(|e| !matches!(e, ir::Expr::Str { .. }))
            {
                self.report(
                    Diagnostic::new(
                        Code::E0414,
                        format!("`{name}` must be literal text"),
                        spans.attr(name),
                        "not known before the run",
                    )
                    .help(format!(
                        "write the {name} itself, without `${{…}}`; choose between actions with `when` if it varies"
                    ))
                    .note(
                        "the exporter and `pipec run` need the provider before any value is known",
                    ),
                );
            }
        }
        self.aws_settings(params, spans);
        let owner = literal(params, "owner").unwrap_or("AWS");
        let Some(provider_name) = literal(params, "provider") else {
            return action.category.unwrap_or(Category::Invoke);
        };
        let provider = if owner == "AWS" {
            self.find_provider(provider_name, params, action, spans)
        } else {
            None
        };
        let Some(provider) = provider else {
            if action.category.is_none() {
                self.report(
                    Diagnostic::new(Code::E0204, format!("action `{}` is missing `category`", action.name.name), action.name.span, "needs `category`")
                        .help("add `category = build` (or source, test, deploy, approval, invoke)")
                        .note(format!("the provider catalog does not know `{provider_name}` (owner `{owner}`), so its category must be written")),
                );
            }
            return action.category.unwrap_or(Category::Invoke);
        };
        let category = self.aws_category(provider, action, spans);
        self.aws_configuration(provider, params, spans, action);
        self.aws_artifacts(provider, action, spans);
        self.aws_exports(provider, action);
        category
    }

    /// The catalog entry, or W0006 for an AWS provider it does not know.
    fn find_provider(
        &mut self,
        name: &str,
        params: &BTreeMap<String, ir::Expr>,
        action: &AwsAction<'_>,
        spans: &AwsSpans,
    ) -> Option<&'static Provider> {
        if aws::provider(name, None).is_none() {
            let help = if name == "Manual" {
                Some("use the `approval` kind for a manual approval".to_string())
            } else {
                self.did_you_mean(name, aws::PROVIDERS.iter().map(|p| p.name))
            };
            self.report(
                Diagnostic::new(Code::W0006, format!("provider `{name}` is not in the catalog"), spans.attr("provider"), "unknown provider")
                    .help_opt(help)
                    .note("its configuration is not checked; `pipec explain W0006` lists the providers pipec knows"),
            );
            return None;
        }
        // A provider with one entry per category (S3): the written category, else the entry
        // whose required keys are all given.
        let keys: Vec<&str> = match params.get("configuration") {
            Some(ir::Expr::Map { entries }) => entries.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let by_keys = aws::PROVIDERS.iter().find(|p| {
            p.name == name
                && p.keys
                    .iter()
                    .filter(|k| k.required)
                    .all(|k| keys.contains(&k.name))
        });
        match action.category {
            Some(c) => aws::provider(name, Some(c)),
            None => by_keys.or_else(|| aws::provider(name, None)),
        }
    }

    fn aws_category(
        &mut self,
        provider: &Provider,
        action: &AwsAction<'_>,
        spans: &AwsSpans,
    ) -> Category {
        let Some(c) = action.category else {
            return provider.categories[0];
        };
        if !provider.categories.contains(&c) {
            let words: Vec<&str> = provider.categories.iter().map(|c| c.as_str()).collect();
            self.report(
                Diagnostic::new(
                    Code::E0414,
                    format!(
                        "provider `{}` is not a `{}` action",
                        provider.name,
                        c.as_str()
                    ),
                    spans.attr("category"),
                    "wrong category",
                )
                .help(format!("write `category = {}` or leave it out", words[0]))
                .note(format!(
                    "`{}` actions are {}",
                    provider.name,
                    ticked(&words)
                )),
            );
        }
        c
    }

    /// `owner`, `region`, `role` and `namespace` when they are literal.
    fn aws_settings(&mut self, params: &BTreeMap<String, ir::Expr>, spans: &AwsSpans) {
        let mut bad = |name: &str, why: &str, help: &str| {
            self.report(
                Diagnostic::new(
                    Code::E0414,
                    format!("`{name}` {why}"),
                    spans.attr(name),
                    "not accepted",
                )
                .help(help.to_string()),
            );
        };
        if let Some(o) = literal(params, "owner") {
            if !aws::OWNERS.contains(&o) {
                bad(
                    "owner",
                    &format!("must be one of {}", ticked(aws::OWNERS)),
                    "write `owner = \"AWS\"` (the default) for AWS's providers",
                );
            }
        }
        if literal(params, "version").is_some_and(|v| v.is_empty() || v.len() > 9) {
            bad(
                "version",
                "must be 1 to 9 characters",
                "write `version = \"1\"` (the default)",
            );
        }
        if literal(params, "role").is_some_and(|r| !r.is_empty() && !r.starts_with("arn:")) {
            bad(
                "role",
                "must be an IAM role ARN",
                "write the role's ARN, `arn:aws:iam::ACCOUNT:role/NAME`",
            );
        }
        let ns_ok = |n: &str| {
            n.len() <= 100
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'_' | b'-'))
        };
        if literal(params, "namespace").is_some_and(|n| !ns_ok(n)) {
            bad(
                "namespace",
                "may hold only letters, digits, `@`, `_` and `-` (at most 100)",
                "rename the namespace",
            );
        }
        if literal(params, "region").is_some_and(|r| {
            !r.is_empty()
                && !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }) {
            bad(
                "region",
                "is not a region name",
                "write a region such as `eu-west-1`",
            );
        }
    }

    fn aws_configuration(
        &mut self,
        provider: &Provider,
        params: &BTreeMap<String, ir::Expr>,
        spans: &AwsSpans,
        this: &AwsAction<'_>,
    ) {
        let action = this.name;
        let entries = match params.get("configuration") {
            Some(ir::Expr::Map { entries }) => entries.clone(),
            _ => BTreeMap::new(),
        };
        let all = ticked(provider.keys.iter().map(|k| k.name));
        // Keys an unknown key is probably a misspelling of: not reported missing as well.
        let mut meant = Vec::new();
        for (k, v) in &entries {
            let Some(key) = provider.key(k) else {
                let help = self.did_you_mean(k, provider.keys.iter().map(|k| k.name));
                meant.extend(
                    provider
                        .keys
                        .iter()
                        .filter(|key| {
                            help.as_deref()
                                .is_some_and(|h| h.contains(&format!("`{}`", key.name)))
                        })
                        .map(|key| key.name),
                );
                self.report(
                    Diagnostic::new(
                        Code::E0412,
                        format!(
                            "provider `{}` has no configuration key `{k}`",
                            provider.name
                        ),
                        spans.key(k),
                        "unknown key",
                    )
                    .help_opt(help.map(|h| h.replace("did you mean", "did you mean the key")))
                    .note(format!("`{}` takes {all}", provider.name)),
                );
                continue;
            };
            if let ir::Expr::Str { value } = v {
                if self.artifact_not_an_input(key, k, value, this, spans) {
                    continue;
                }
                if !aws::accepts(key.value, value) {
                    self.report(
                        Diagnostic::new(
                            Code::E0414,
                            format!(
                                "`{k}` of provider `{}` does not accept `{value}`",
                                provider.name
                            ),
                            spans.value(k),
                            "not accepted",
                        )
                        .help(format!("write {}", aws::describe(key.value)))
                        .note(self.closest_word(key.value, value)),
                    );
                }
            }
        }
        self.aws_missing_keys(provider, &entries, &meant, spans, action);
    }

    /// Required keys (always, or by another key's value) that are not set (E0413); `meant`:
    /// keys an unknown key probably misspells (reported there).
    fn aws_missing_keys(
        &mut self,
        provider: &Provider,
        entries: &BTreeMap<String, ir::Expr>,
        meant: &[&str],
        spans: &AwsSpans,
        action: &ast::Ident,
    ) {
        for key in provider.keys {
            let needed = key.required
                || key.required_when.is_some_and(|(other, values)| {
                    matches!(entries.get(other), Some(ir::Expr::Str { value }) if values.contains(&value.as_str()))
                });
            if needed && !entries.contains_key(key.name) && !meant.contains(&key.name) {
                let why = key.required_when.map_or_else(
                    || format!("`{}` requires `{}`", provider.name, key.name),
                    |(other, values)| {
                        format!(
                            "`{}` requires `{}` when `{other}` is {}",
                            provider.name,
                            key.name,
                            ticked(values)
                        )
                    },
                );
                let span = spans
                    .attrs
                    .get("configuration")
                    .copied()
                    .unwrap_or(action.span);
                self.report(
                    Diagnostic::new(
                        Code::E0413,
                        format!(
                            "configuration of action `{}` is missing `{}`",
                            action.name, key.name
                        ),
                        span,
                        format!("needs `{}`", key.name),
                    )
                    .help(match &spans.template {
                        Some(t) => format!(
                            "give `{t}` the parameter that sets `{}` ({})",
                            key.name,
                            aws::describe(key.value)
                        ),
                        None => format!(
                            "add `{} = \"…\"` ({}) to `configuration`",
                            key.name,
                            aws::describe(key.value)
                        ),
                    })
                    .note(why),
                );
            }
        }
    }

    /// `ARTIFACT::PATH` naming an artifact that is not an input of the action (E0414).
    fn artifact_not_an_input(
        &mut self,
        key: &aws::Key,
        k: &str,
        value: &str,
        this: &AwsAction<'_>,
        spans: &AwsSpans,
    ) -> bool {
        let (aws::Value::ArtifactPath, Some((artifact, _))) = (key.value, value.split_once("::"))
        else {
            return false;
        };
        if artifact.is_empty() || this.input_names.iter().any(|n| n == artifact) {
            return false;
        }
        let inputs = if this.input_names.is_empty() {
            "it has none".to_string()
        } else {
            format!("its inputs are {}", ticked(&this.input_names))
        };
        self.report(
            Diagnostic::new(
                Code::E0414,
                format!(
                    "`{k}` reads artifact `{artifact}`, which is not an input of action `{}`",
                    this.name.name
                ),
                spans.value(k),
                "not an input",
            )
            .help(format!(
                "add `input = {artifact}` to the action, or name one of its inputs"
            ))
            .note(format!(
                "CodePipeline reads `{k}` from the action's input artifacts; {inputs}"
            )),
        );
        true
    }

    /// A "did you mean" for a word among the allowed ones, else the rule.
    fn closest_word(&self, value: aws::Value, text: &str) -> String {
        let aws::Value::OneOf(words) = value else {
            return "CodePipeline would reject the action when the pipeline is created".into();
        };
        self.did_you_mean(text, words.iter().copied()).map_or_else(
            || format!("the values are {}", ticked(words)),
            |h| h.replace("did you mean", "the closest value is"),
        )
    }

    fn aws_artifacts(&mut self, provider: &Provider, action: &AwsAction<'_>, spans: &AwsSpans) {
        let at = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| spans.attrs.get(*n).copied())
                .unwrap_or(action.name.span)
        };
        for (what, n, (lo, hi), names) in [
            ("input", action.inputs, provider.inputs, ["input", "inputs"]),
            (
                "output",
                action.outputs,
                provider.outputs,
                ["output", "outputs"],
            ),
        ] {
            if (lo..=hi).contains(&n) {
                continue;
            }
            let want = match (lo, hi) {
                (0, 0) => format!("no {what} artifacts"),
                (1, 1) => format!("exactly one {what} artifact"),
                (lo, hi) if lo == hi => format!("exactly {lo} {what} artifacts"),
                (lo, hi) => format!("{lo} to {hi} {what} artifacts"),
            };
            let label = if n == 1 {
                format!("1 {what} artifact")
            } else {
                format!("{n} {what} artifacts")
            };
            let help = if n < lo {
                format!("add `{what} = NAME`")
            } else if hi == 0 {
                format!("remove `{what}`")
            } else {
                format!("remove {} of them", n - hi)
            };
            self.report(
                Diagnostic::new(
                    Code::E0415,
                    format!(
                        "provider `{}` takes {want}, action `{}` has {n}",
                        provider.name, action.name.name
                    ),
                    at(names),
                    label,
                )
                .help(help)
                .note(format!(
                    "CodePipeline refuses a `{}` action with another number of {what} artifacts",
                    provider.name
                )),
            );
        }
    }

    fn aws_exports(&mut self, provider: &Provider, action: &AwsAction<'_>) {
        let known: &[&str] = match provider.variables {
            Variables::Any => return,
            Variables::None => &[],
            Variables::Fixed(names) => names,
        };
        for e in action.exports {
            if known.contains(&e.name.as_str()) {
                continue;
            }
            let note = if known.is_empty() {
                format!("`{}` has no output variables", provider.name)
            } else {
                format!("`{}` produces {}", provider.name, ticked(known))
            };
            let help = self
                .did_you_mean(&e.name, known.iter().copied())
                .unwrap_or_else(|| "remove it from `exports`".into());
            self.report(
                Diagnostic::new(
                    Code::E0416,
                    format!("provider `{}` does not produce `{}`", provider.name, e.name),
                    e.span,
                    "never set",
                )
                .help(help)
                .note(note),
            );
        }
    }
}
