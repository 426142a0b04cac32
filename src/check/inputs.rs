//! An action's input artifacts: `input = NAME`, `inputs = [NAME, …]`, or
//! `inputs = { NAME = "FOLDER", … }` to restore each under a folder of the workspace; and
//! E0411, two inputs of one action restored at the same place, found once every producer's
//! captured path is known. What only the files can tell (one input's file where another
//! has a folder) is left to the runtime, which refuses such an attempt.

use std::collections::HashMap;

use super::attrs::NameRef;
use super::types::Ctx;
use super::{Checker, InputModel};
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic};

/// A relative path with `.` and empty segments dropped (`""` for the workspace root).
fn normal(path: &str) -> String {
    path.split('/')
        .filter(|seg| !seg.is_empty() && *seg != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a folder of `inputs = { NAME = "FOLDER" }` is a relative path inside the
/// workspace.
fn inside(folder: &str) -> bool {
    !folder.is_empty() && !folder.starts_with('/') && !folder.split('/').any(|seg| seg == "..")
}

/// A path as shown: `.` for the root.
fn shown(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

impl Checker<'_> {
    /// The artifacts an `input` or `inputs` attribute names, each with the folder it is
    /// restored under (`None`: at its captured path).
    pub(super) fn inputs(&mut self, a: &ast::Attr, ctx: Ctx<'_>) -> Vec<(NameRef, Option<String>)> {
        let list = a.name.name == "inputs";
        if list {
            match &a.value {
                AttrValue::Expr(ast::Expr {
                    kind: ExprKind::Map(entries),
                    ..
                }) => {
                    // A name given twice is reported with the other inputs (E0202).
                    return entries
                        .iter()
                        .map(|(k, v)| (Self::name_ref(k.clone(), ctx), self.input_folder(v)))
                        .collect();
                }
                AttrValue::Expr(ast::Expr {
                    kind: ExprKind::List(_) | ExprKind::Error,
                    ..
                }) => {}
                other => {
                    self.report(
                        Diagnostic::new(
                            Code::E0301,
                            "expected a list of artifact names, or a map of artifact names to folders",
                            other.span(),
                            "not a list or a map",
                        )
                        .help("write `inputs = [src, bin]`, or `inputs = { src = \"app/\", cfg = \"config/\" }`"),
                    );
                    return Vec::new();
                }
            }
        }
        self.names(&a.value, list, "artifact")
            .into_iter()
            .map(|id| (Self::name_ref(id, ctx), None))
            .collect()
    }

    /// The folder of `inputs = { NAME = "FOLDER" }`: a plain relative path inside the
    /// workspace, normalised (`None` for the root itself). A wrong one is reported and kept
    /// as it is (never [`inside`]), which leaves its input out of the overlap check.
    fn input_folder(&mut self, v: &ast::Expr) -> Option<String> {
        let text = match &v.kind {
            ExprKind::Str(s) => s.as_plain(),
            ExprKind::Error => return None,
            _ => None,
        };
        let Some(text) = text else {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    "expected a folder, as a plain string like `\"app/\"`",
                    v.span,
                    "not a plain string",
                )
                .note(
                    "the folder is fixed when the pipeline is checked: it cannot be interpolated",
                ),
            );
            return Some("/".into());
        };
        if !inside(&text) {
            self.report(
                Diagnostic::new(
                    Code::E0301,
                    format!("input folder `{text}` is not inside the workspace"),
                    v.span,
                    "outside the workspace",
                )
                .help("use a relative folder without `..`, like `app/`"),
            );
            return Some(text);
        }
        let folder = normal(&text);
        (!folder.is_empty()).then_some(folder)
    }

    /// E0411: two inputs of one action restored at the same path (after their folders).
    pub(super) fn input_overlaps(&mut self) {
        // Only actions with two inputs or more are listed (see `Checker::input_sets`).
        let sets = std::mem::take(&mut self.input_sets);
        if sets.is_empty() {
            return;
        }
        let captured: HashMap<String, String> = self
            .stages
            .iter()
            .flat_map(|s| &s.actions)
            .flat_map(|a| &a.outputs)
            .map(|o| (o.name.name.clone(), normal(&o.path)))
            .collect();
        for set in sets {
            let mut at: Vec<(&InputModel, String)> = Vec::new();
            for input in &set {
                // Unknown artifacts (E0201) and wrong folders (E0301) are reported already.
                let Some(path) = captured.get(&input.name.name) else {
                    continue;
                };
                if input.folder.as_deref().is_some_and(|f| !inside(f)) {
                    continue;
                }
                let place = normal(&format!(
                    "{}/{path}",
                    input.folder.as_deref().unwrap_or_default()
                ));
                if let Some((first, _)) = at
                    .iter()
                    .find(|(i, p)| *p == place && i.name.name != input.name.name)
                {
                    let d = overlap(first, input, &place);
                    self.report(d);
                    continue;
                }
                at.push((input, place));
            }
        }
    }
}

fn overlap(first: &InputModel, second: &InputModel, place: &str) -> Diagnostic {
    let (a, b) = (&first.name.name, &second.name.name);
    Diagnostic::new(
        Code::E0411,
        format!(
            "inputs `{a}` and `{b}` would both be restored at `{}`",
            shown(place)
        ),
        second.name.span,
        format!("restored at `{}`", shown(place)),
    )
    .label(first.name.span, "restored there too")
    .help(format!(
        "restore them under folders of their own: `inputs = {{ {a} = \"{a}/\", {b} = \"{b}/\" }}`"
    ))
    .note("an input is restored at the path its producer captured it from (`.` for `dir` and `git` results), under its folder when `inputs` maps it to one")
}
