//! References in expressions (LANGUAGE.md §7): `params.NAME`, `secrets.NAME`,
//! `STAGE.ACTION.EXPORT`, `STAGE.status`, `run.FIELD` and template parameters, resolved to IR
//! references, with E0201 ("did you mean", or how to write a shell variable) and E0402.
//!
//! References to stages declared later are kept pending and resolved after the last stage;
//! uses of exports are recorded for the "certainly runs before" rules of `release`.

use super::types::{Ctx, Scope, Ty};
use super::{Checker, Resolved, Site, Use, UseKind};
use crate::ast;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir;

const RUN_FIELDS: &[&str] = &["id", "branch", "tag", "commit", "trigger", "attempt"];

impl Checker<'_> {
    #[allow(clippy::too_many_lines)] // Reason: one arm per reference shape (§7), kept side by side.
    pub(crate) fn path(
        &mut self,
        segs: &[ast::Ident],
        span: crate::source::Span,
        ctx: Ctx<'_>,
    ) -> (Ty, ir::Expr) {
        let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
        let any = (
            Ty::Any,
            ir::Expr::Str {
                value: String::new(),
            },
        );
        match (ctx.scope, names.as_slice()) {
            (Scope::Pipeline, [root @ ("params" | "secrets" | "run"), name, _, ..]) => {
                // Still a use of the param (or secret), so no "unused" on top.
                match *root {
                    "params" => self.used_params.insert((*name).to_string()),
                    "secrets" => self.used_secrets.insert((*name).to_string()),
                    _ => false,
                };
                self.report(
                    Diagnostic::new(
                        Code::E0201,
                        format!("unknown name `{}`", names.join(".")),
                        span,
                        "no such field",
                    )
                    .note(format!("`{root}.NAME` is a whole value; it has no fields")),
                );
                any
            }
            (Scope::Pipeline | Scope::Template(_), ["run", field]) => {
                if RUN_FIELDS.contains(field) {
                    self.resolved(segs[1].span, || Resolved::RunField((*field).to_string()));
                    let ty = if *field == "attempt" {
                        Ty::Int
                    } else {
                        Ty::String
                    };
                    return (
                        ty,
                        ir::Expr::Ref(ir::Ref::Run {
                            field: (*field).to_string(),
                        }),
                    );
                }
                self.unknown(&segs[1], "`run` field", RUN_FIELDS.iter().copied());
                any
            }
            (Scope::Template(params), [name]) => {
                if let Some((_, ty, _)) = params.get(name) {
                    let ty = ty.as_ref().map_or(Ty::Any, Ty::from_ir);
                    if let Some(t) = self.template.clone() {
                        self.resolved(segs[0].span, || {
                            Resolved::TemplateParam(t, (*name).to_string())
                        });
                    }
                    return (
                        ty,
                        ir::Expr::Ref(ir::Ref::TemplateParam {
                            name: (*name).to_string(),
                        }),
                    );
                }
                let names = params.iter().map(|(p, _, _)| p.name.as_str());
                let help = self
                    .did_you_mean(name, names)
                    .or_else(|| self.shell_variable(&segs[0]));
                self.report_unknown(&segs[0], "template parameter", help);
                any
            }
            (Scope::Template(_) | Scope::Default, _) => {
                self.report(
                    Diagnostic::new(
                        Code::E0201,
                        format!("unknown name `{}`", names.join(".")),
                        span,
                        "not in scope",
                    )
                    .note(if matches!(ctx.scope, Scope::Default) {
                        "a default value is a literal, `env(\"VAR\")` or `file(\"PATH\")`"
                    } else {
                        "a template body sees only its own parameters and `run`"
                    }),
                );
                any
            }
            (Scope::Pipeline, ["params", name]) => self.param_ref(&segs[1], name),
            (Scope::Pipeline, ["secrets", name]) => {
                if self.secrets.contains_key(*name) {
                    self.used_secrets.insert((*name).to_string());
                    self.resolved(segs[1].span, || Resolved::Secret((*name).to_string()));
                    return (
                        Ty::Secret,
                        ir::Expr::Ref(ir::Ref::Secret {
                            name: (*name).to_string(),
                        }),
                    );
                }
                let help = self.did_you_mean(name, self.secrets.keys().map(String::as_str));
                self.report_unknown(&segs[1], "secret", help);
                any
            }
            (Scope::Pipeline, [stage, "status"]) => {
                if !self.all_declared && !self.stage_index.contains_key(*stage) {
                    // A later stage: resolved once every stage is declared.
                    self.pending.push(super::Pending::Status(segs[0].clone()));
                }
                if self.stage_index.contains_key(*stage) {
                    self.resolved(segs[0].span, || Resolved::Stage((*stage).to_string()));
                }
                if !self.all_declared || self.stage_index.contains_key(*stage) {
                    return (
                        Ty::String,
                        ir::Expr::Ref(ir::Ref::StageStatus {
                            stage: (*stage).to_string(),
                        }),
                    );
                }
                self.unknown_stage(&segs[0]);
                any
            }
            (Scope::Pipeline, [_, _, _]) => self.export_ref(segs, span, ctx.site),
            (Scope::Pipeline, [name]) => {
                if !self.broken.contains(*name) {
                    let shell = self.shell_variable(&segs[0]);
                    let help = if self.params.contains_key(*name) {
                        Some(format!("did you mean `params.{name}`?"))
                    } else if shell.is_some() && is_env_style(name) {
                        shell
                    } else {
                        self.did_you_mean(name, self.params.keys().map(String::as_str))
                            .map(|h| h.replace('`', "`params.").replacen("params.?", "?", 1))
                            .or(shell)
                    };
                    self.report(
                        Diagnostic::new(Code::E0201, format!("unknown name `{name}`"), span, "not defined")
                            .help_opt(help)
                            .note("values are `params.NAME`, `secrets.NAME`, `STAGE.ACTION.EXPORT`, `STAGE.status` or `run.FIELD`"),
                    );
                }
                any
            }
            _ => {
                if !segs.iter().any(|s| self.broken.contains(&s.name)) {
                    let d = Diagnostic::new(Code::E0201, format!("unknown name `{}`", names.join(".")), span, "not a value")
                        .note("values are `params.NAME`, `secrets.NAME`, `STAGE.ACTION.EXPORT`, `STAGE.status` or `run.FIELD`");
                    self.report(d);
                }
                any
            }
        }
    }

    fn param_ref(&mut self, seg: &ast::Ident, name: &str) -> (Ty, ir::Expr) {
        if let Some((ty, _)) = self.params.get(name) {
            // A param of a type params cannot have was reported at its declaration.
            let ty = match ty.as_ref().map_or(Ty::Any, Ty::from_ir) {
                Ty::Artifact | Ty::Script | Ty::Secret => Ty::Any,
                t => t,
            };
            if !self.used_params.contains(name) {
                self.used_params.insert(name.to_string());
            }
            self.resolved(seg.span, || Resolved::Param(name.to_string()));
            return (
                ty,
                ir::Expr::Ref(ir::Ref::Param {
                    name: name.to_string(),
                }),
            );
        }
        let help = self.did_you_mean(&seg.name, self.params.keys().map(String::as_str));
        self.report_unknown(seg, "param", help);
        (
            Ty::Any,
            ir::Expr::Str {
                value: String::new(),
            },
        )
    }

    /// `STAGE.ACTION.EXPORT`
    fn export_ref(
        &mut self,
        segs: &[ast::Ident],
        span: crate::source::Span,
        site: Site,
    ) -> (Ty, ir::Expr) {
        let any = (
            Ty::Any,
            ir::Expr::Str {
                value: String::new(),
            },
        );
        let reference = || {
            ir::Expr::Ref(ir::Ref::Export {
                stage: segs[0].name.clone(),
                action: segs[1].name.clone(),
                name: segs[2].name.clone(),
            })
        };
        let Some(&stage) = self.stage_index.get(&segs[0].name) else {
            if !self.all_declared {
                // A later stage: resolved once every stage is declared.
                self.pending
                    .push(super::Pending::Export(segs.to_vec(), span, site));
                return (Ty::String, reference());
            }
            self.unknown_stage(&segs[0]);
            return any;
        };
        self.resolved(segs[0].span, || Resolved::Stage(segs[0].name.clone()));
        let Some(&action) = self.action_index.get(&(stage, segs[1].name.clone())) else {
            if !self.broken.contains(&segs[1].name) {
                let known = self.stages[stage]
                    .actions
                    .iter()
                    .map(|a| a.name.name.as_str());
                let help = self.did_you_mean(&segs[1].name, known);
                self.report_unknown(
                    &segs[1],
                    &format!("action {{}} in stage `{}`", segs[0].name),
                    help,
                );
            }
            return any;
        };
        self.resolved(segs[1].span, || {
            Resolved::Action(segs[0].name.clone(), segs[1].name.clone())
        });
        let export = &segs[2].name;
        // Recorded also when not declared: the name means an export of that action (the
        // editor's hover says it is missing).
        self.resolved(segs[2].span, || {
            Resolved::Export(segs[0].name.clone(), segs[1].name.clone(), export.clone())
        });
        let a = &self.stages[stage].actions[action];
        let declared = self.export_index.contains(&(stage, action, export.clone()))
            || a.kind_exports.contains(export);
        if !declared {
            let known: Vec<String> = a
                .exports
                .iter()
                .map(|e| e.name.clone())
                .chain(a.kind_exports.iter().cloned())
                .collect();
            let help = self.did_you_mean(export, known.iter().map(String::as_str))
                .unwrap_or_else(|| format!("add `exports = [{export}]` to `{}.{}` and write `{export}=…` to `$PIPEC_OUTPUT`", segs[0].name, segs[1].name));
            self.report(
                Diagnostic::new(
                    Code::E0402,
                    format!(
                        "action `{}.{}` does not export `{export}`",
                        segs[0].name, segs[1].name
                    ),
                    segs[2].span,
                    "not exported",
                )
                .label(a.name.span, "action defined here")
                .help(help),
            );
            return any;
        }
        self.uses.push(Use {
            kind: UseKind::Export {
                stage,
                action,
                name: export.clone(),
            },
            span,
            site,
        });
        (Ty::String, reference())
    }

    /// Resolves references to stages declared after their use.
    pub(crate) fn resolve_pending(&mut self) {
        self.all_declared = true;
        for p in std::mem::take(&mut self.pending) {
            match p {
                super::Pending::Status(seg) => {
                    if self.stage_index.contains_key(&seg.name) {
                        self.resolved(seg.span, || Resolved::Stage(seg.name.clone()));
                    } else {
                        self.unknown_stage(&seg);
                    }
                }
                super::Pending::Export(segs, span, site) => {
                    self.export_ref(&segs, span, site);
                }
            }
        }
    }

    pub(crate) fn unknown_stage(&mut self, seg: &ast::Ident) {
        if self.broken.contains(&seg.name) {
            return;
        }
        let help = self.did_you_mean(&seg.name, self.stage_index.keys().map(String::as_str));
        self.report_unknown(seg, "stage", help);
    }

    /// For `${NAME}` meant as the shell's variable NAME: how to write that.
    fn shell_variable(&self, name: &ast::Ident) -> Option<String> {
        let text = &self.map.get(name.span.file).text;
        let before = text.get(..name.span.start as usize)?;
        let after = text.get(name.span.end as usize..)?;
        (before.ends_with("${") && after.starts_with('}')).then(|| {
            let n = &name.name;
            format!(
                "for the shell variable, write `${n}` or `\\${{{n}}}` (`${{…}}` inserts a pipec value such as `params.NAME`)"
            )
        })
    }

    /// E0201 with "did you mean" (unless the name failed to parse).
    pub(crate) fn unknown<'n>(
        &mut self,
        name: &ast::Ident,
        what: &str,
        candidates: impl Iterator<Item = &'n str>,
    ) {
        if self.broken.contains(&name.name) {
            return;
        }
        let help = self.did_you_mean(&name.name, candidates);
        self.report_unknown(name, what, help);
    }

    /// E0201 with its help already found (unless the name failed to parse).
    pub(crate) fn report_unknown(&mut self, name: &ast::Ident, what: &str, help: Option<String>) {
        if self.broken.contains(&name.name) {
            return;
        }
        // `what` may place the name itself: "action `{}` in stage `build`".
        let message = if what.contains("{}") {
            format!(
                "unknown {}",
                what.replace("{}", &format!("`{}`", name.name))
            )
        } else {
            format!("unknown {what} `{}`", name.name)
        };
        self.report(Diagnostic::new(Code::E0201, message, name.span, "not defined").help_opt(help));
    }
}

/// A name written like an environment variable (`HOME`, `AWS_REGION`).
fn is_env_style(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase()) && !name.chars().any(|c| c.is_ascii_lowercase())
}
