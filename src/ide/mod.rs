//! Editor services over one file: diagnostics, hover, definition, references, rename,
//! completion, outline and quick fixes. The language server (`cli/lsp`) is a thin adapter
//! from LSP messages to this module.
//!
//! Input: a file's text, its name (an absolute path, so relative imports resolve) and a
//! [`Loader`] for its imports. Output: plain values in byte offsets and [`Span`]s; the
//! adapter converts them to LSP positions. Like the other phases it does no I/O.
//!
//! Method: the checker gives the diagnostics (the same ones `pipec check` prints); the
//! parser's recovered AST gives an [`Index`] of every name and what it refers to, which
//! answers everything else. Imported modules (local files and the stdlib) are parsed and
//! indexed too, so definitions and hovers reach into them.

mod complete;
mod docs;
mod hover;
mod index;
mod outline;

use std::collections::BTreeMap;

use crate::ast;
use crate::check::{Checker, Loader};
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, SourceMap, Span};

pub use complete::{Completion, CompletionKind};
pub use hover::Hover;
pub use index::{Index, Occurrence, Symbol};
pub use outline::{Outline, OutlineKind};

/// One replacement of source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub text: String,
}

/// A quick fix for a diagnostic.
#[derive(Clone, Debug)]
pub struct Fix {
    pub title: String,
    /// Index into [`Analysis::diagnostics`].
    pub diagnostic: usize,
    pub edit: Edit,
}

/// An imported module: its file (in the analysis' source map), AST and names.
struct Module {
    file: FileId,
    ast: ast::File,
    index: Index,
}

/// Everything known about one file.
pub struct Analysis {
    map: SourceMap,
    root: FileId,
    file: ast::File,
    diagnostics: Vec<Diagnostic>,
    index: Index,
    /// Imported modules by their name in scope.
    modules: BTreeMap<String, Module>,
}

impl Analysis {
    /// Checks and indexes `text`, the contents of the file named `name`.
    pub fn new(name: &str, text: &str, loader: &mut dyn Loader) -> Analysis {
        let mut map = SourceMap::new();
        let root = map.add(name, text);
        // One parse serves the checker and the index.
        let (file, syntax) = crate::syntax::Parser::parse(root, text);
        let checked = Checker::check_parsed(&mut map, root, loader, file.clone(), syntax);
        let diagnostics = checked.diagnostics;
        let mut modules = BTreeMap::new();
        for item in &file.items {
            if let ast::Item::Import(imp) = item
                && let Some((alias, key)) = import_key(name, imp)
                && let Some(id) = map.find(&key)
            {
                let (ast, _) = crate::syntax::Parser::parse(id, &map.get(id).text);
                let index = Index::new(&ast);
                modules.insert(
                    alias,
                    Module {
                        file: id,
                        ast,
                        index,
                    },
                );
            }
        }
        // Artifacts passed to templates count as produced or read by the call.
        let mut artifact_params = index::ArtifactParams::new();
        index::artifact_params_of(None, templates_in(&file), &mut artifact_params);
        for (alias, m) in &modules {
            index::artifact_params_of(Some(alias), templates_in(&m.ast), &mut artifact_params);
        }
        let index = Index::resolved(&file, artifact_params, &checked.resolutions);
        Analysis {
            map,
            root,
            file,
            diagnostics,
            index,
            modules,
        }
    }

    /// The checker's diagnostics (of this file and its imports).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Whether this file imports the file named `name` (directly).
    pub fn imports(&self, name: &str) -> bool {
        self.modules
            .values()
            .any(|m| self.map.get(m.file).name == name)
    }

    /// Problems in imported local files, by the import that brings each file in: the span of
    /// its path in this file, how many errors the file has, and the first one.
    pub fn import_problems(&self) -> Vec<(Span, usize, &Diagnostic)> {
        // Errors by file in one pass (a file may have thousands of imports and diagnostics).
        let mut by_file: std::collections::HashMap<FileId, (usize, &Diagnostic)> =
            std::collections::HashMap::new();
        for d in self.diagnostics.iter().filter(|d| d.is_error()) {
            by_file.entry(d.primary.span.file).or_insert((0, d)).0 += 1;
        }
        let mut out = Vec::new();
        for item in &self.file.items {
            let ast::Item::Import(imp) = item else {
                continue;
            };
            let Some(module) = import_key(&self.map.get(self.root).name, imp)
                .and_then(|(alias, _)| self.modules.get(&alias))
            else {
                continue;
            };
            if let Some(&(count, first)) = by_file.get(&module.file) {
                out.push((imp.path.span, count, first));
            }
        }
        out
    }

    /// The texts behind every [`Span`] this analysis returns.
    pub fn source_map(&self) -> &SourceMap {
        &self.map
    }

    pub fn root(&self) -> FileId {
        self.root
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    fn text(&self, span: Span) -> &str {
        self.map
            .get(span.file)
            .text
            .get(span.range())
            .unwrap_or_default()
    }

    /// Where the name under `offset` is declared.
    pub fn definition(&self, offset: usize) -> Option<Span> {
        let occ = self.index.at(offset)?;
        self.declaration(&occ.symbol)
    }

    /// Where `symbol` is declared: in this file or in an imported module.
    pub fn declaration(&self, symbol: &Symbol) -> Option<Span> {
        let in_module = |m: &str, local: Symbol| {
            let module = self.modules.get(m)?;
            module.index.of(&local).find(|o| o.def).map(|o| o.span)
        };
        match symbol {
            Symbol::Template(Some(m), t) => in_module(m, Symbol::Template(None, t.clone())),
            Symbol::TemplateParam(Some(m), t, p) => {
                in_module(m, Symbol::TemplateParam(None, t.clone(), p.clone()))
            }
            Symbol::Module(m) => self.modules.get(m).map(|m| Span::new(m.file, 0, 0)),
            _ => self.index.of(symbol).find(|o| o.def).map(|o| o.span),
        }
    }

    /// Every place the name under `offset` appears: its declaration (when
    /// `with_declaration`, and wherever it is) and its uses in this file.
    pub fn references(&self, offset: usize, with_declaration: bool) -> Vec<Span> {
        let Some(occ) = self.index.at(offset) else {
            return Vec::new();
        };
        let mut out: Vec<Span> = self
            .index
            .of(&occ.symbol)
            .filter(|o| with_declaration || !o.def)
            .map(|o| o.span)
            .collect();
        if with_declaration
            && let Some(decl) = self.declaration(&occ.symbol)
            && decl.file != self.root
        {
            out.insert(0, decl);
        }
        // A template of an imported module: its uses inside that module too.
        if let Some((module, local)) = self.in_module(&occ.symbol) {
            out.extend(module.index.of(&local).filter(|o| !o.def).map(|o| o.span));
        }
        out
    }

    /// For a template (or template parameter) of an imported module: the module, and the
    /// symbol as the module itself names it.
    fn in_module(&self, symbol: &Symbol) -> Option<(&Module, Symbol)> {
        match symbol {
            Symbol::Template(Some(m), t) => {
                Some((self.modules.get(m)?, Symbol::Template(None, t.clone())))
            }
            Symbol::TemplateParam(Some(m), t, p) => Some((
                self.modules.get(m)?,
                Symbol::TemplateParam(None, t.clone(), p.clone()),
            )),
            _ => None,
        }
    }

    /// For a template (or template parameter) of an imported module: the module's file name
    /// and the symbol as the module names it (for [`Analysis::uses_of_imported`] elsewhere).
    pub fn imported_from(&self, symbol: &Symbol) -> Option<(String, Symbol)> {
        let (module, local) = self.in_module(symbol)?;
        Some((self.map.get(module.file).name.clone(), local))
    }

    /// What the name under `offset` refers to.
    pub fn symbol_at(&self, offset: usize) -> Option<&Symbol> {
        self.index.at(offset).map(|o| &o.symbol)
    }

    /// Uses in this file of `symbol`, a template or template parameter declared in the file
    /// named `module` (which this file imports): references across imports.
    pub fn uses_of_imported(&self, module: &str, symbol: &Symbol) -> Vec<Span> {
        let mut out = Vec::new();
        for (alias, m) in &self.modules {
            if self.map.get(m.file).name != module {
                continue;
            }
            let here = match symbol {
                Symbol::Template(None, t) => Symbol::Template(Some(alias.clone()), t.clone()),
                Symbol::TemplateParam(None, t, p) => {
                    Symbol::TemplateParam(Some(alias.clone()), t.clone(), p.clone())
                }
                _ => continue,
            };
            out.extend(self.index.of(&here).map(|o| o.span));
        }
        out
    }

    /// The name `rename` would change at `offset`, and its current text.
    pub fn prepare_rename(&self, offset: usize) -> Option<(Span, String)> {
        let occ = self.index.at(offset)?;
        (renameable(&occ.symbol) && self.declaration(&occ.symbol).is_some())
            .then(|| (occ.span, self.text(occ.span).to_string()))
    }

    /// The edits that rename the name under `offset` to `new_name`, in this file.
    pub fn rename(&self, offset: usize, new_name: &str) -> Result<Vec<Edit>, String> {
        let occ = self
            .index
            .at(offset)
            .ok_or("there is no name here to rename")?;
        if !renameable(&occ.symbol) {
            return Err(format!(
                "`{}` cannot be renamed here: only stages, actions, params, secrets, \
                 artifacts, exports and this file's templates and their parameters can",
                self.text(occ.span)
            ));
        }
        if self.declaration(&occ.symbol).is_none() {
            return Err(format!(
                "`{}` is not declared anywhere: there is nothing to rename",
                self.text(occ.span)
            ));
        }
        if !is_identifier(new_name) {
            return Err(format!(
                "`{new_name}` is not a name: use letters, digits and `_`, not starting with a digit"
            ));
        }
        let renamed = with_name(&occ.symbol, new_name);
        if self.index.of(&renamed).any(|o| o.def) {
            return Err(format!("`{new_name}` is already declared"));
        }
        if matches!(occ.symbol, Symbol::Stage(_))
            && crate::check::RESERVED_STAGES.contains(&new_name)
        {
            return Err(format!("a stage cannot be named `{new_name}`"));
        }
        if matches!(occ.symbol, Symbol::TemplateParam(..))
            && crate::check::COMMON.contains(&new_name)
        {
            return Err(format!(
                "a template parameter cannot be named `{new_name}`: that is a common attribute"
            ));
        }
        // Only the symbol's own name changes: in `build.compile.version`, renaming the
        // stage edits `build`, which the index records as the stage's own occurrence.
        Ok(self
            .index
            .of(&occ.symbol)
            .map(|o| Edit {
                span: o.span,
                text: new_name.to_string(),
            })
            .collect())
    }

    /// Quick fixes: "did you mean" suggestions of diagnostics in this file.
    pub fn fixes(&self) -> Vec<Fix> {
        let mut out = Vec::new();
        for (i, d) in self.diagnostics.iter().enumerate() {
            let Some(help) = &d.help else { continue };
            let Some(suggestion) = help
                .strip_prefix("did you mean `")
                .and_then(|r| r.strip_suffix("`?"))
            else {
                continue;
            };
            let span = d.primary.span;
            if span.file != self.root || span.start == span.end {
                continue;
            }
            let current = self.text(span);
            let text = if current.starts_with('"') {
                format!("\"{suggestion}\"")
            } else {
                suggestion.to_string()
            };
            if current == text || current.contains(char::is_whitespace) {
                continue;
            }
            out.push(Fix {
                title: format!("replace `{current}` with `{text}`"),
                diagnostic: i,
                edit: Edit { span, text },
            });
        }
        out
    }

    fn pipeline(&self) -> Option<&ast::Pipeline> {
        self.file.items.iter().find_map(|i| match i {
            ast::Item::Pipeline(p) => Some(p),
            _ => None,
        })
    }

    fn stages(&self) -> impl Iterator<Item = &ast::Stage> {
        self.pipeline().into_iter().flat_map(|p| {
            p.items.iter().filter_map(|i| match i {
                ast::PipelineItem::Stage(s) => Some(s),
                _ => None,
            })
        })
    }

    fn stage(&self, name: &str) -> Option<&ast::Stage> {
        self.stages().find(|s| s.name.name == name)
    }

    fn action(&self, stage: &str, name: &str) -> Option<&ast::Action> {
        actions(self.stage(stage)?).find(|a| a.name.name == name)
    }

    /// A template by module (`None`: this file) and name.
    fn template(&self, module: Option<&str>, name: &str) -> Option<&ast::Template> {
        self.templates(module)
            .into_iter()
            .find(|t| t.name.name == name)
    }

    /// The templates of a module (`None`: this file).
    fn templates(&self, module: Option<&str>) -> Vec<&ast::Template> {
        let file = match module {
            None => Some(&self.file),
            Some(m) => self.modules.get(m).map(|m| &m.ast),
        };
        file.into_iter().flat_map(templates_in).collect()
    }
}

fn templates_in(file: &ast::File) -> impl Iterator<Item = &ast::Template> {
    file.items.iter().filter_map(|i| match i {
        ast::Item::Template(t) => Some(t),
        _ => None,
    })
}

fn actions(stage: &ast::Stage) -> impl Iterator<Item = &ast::Action> {
    stage.items.iter().filter_map(|i| match i {
        ast::StageItem::Action(a) => Some(a),
        _ => None,
    })
}

/// The name in scope and the source-map key of an import, as the checker computes them.
fn import_key(root: &str, imp: &ast::Import) -> Option<(String, String)> {
    let path = imp.path.as_plain()?;
    let (key, name) =
        crate::check::import_target(root, &path, imp.alias.as_ref().map(|a| a.name.as_str()));
    Some((name?, key))
}

fn renameable(symbol: &Symbol) -> bool {
    matches!(
        symbol,
        Symbol::Stage(_)
            | Symbol::Action(..)
            | Symbol::Param(_)
            | Symbol::Secret(_)
            | Symbol::Artifact(_)
            | Symbol::Export(..)
            | Symbol::Template(None, _)
            | Symbol::TemplateParam(None, ..)
    )
}

/// `symbol` with its own (last) name replaced.
fn with_name(symbol: &Symbol, name: &str) -> Symbol {
    let n = name.to_string();
    match symbol.clone() {
        Symbol::Stage(_) => Symbol::Stage(n),
        Symbol::Action(s, _) => Symbol::Action(s, n),
        Symbol::Param(_) => Symbol::Param(n),
        Symbol::Secret(_) => Symbol::Secret(n),
        Symbol::Artifact(_) => Symbol::Artifact(n),
        Symbol::Export(s, a, _) => Symbol::Export(s, a, n),
        Symbol::Template(m, _) => Symbol::Template(m, n),
        Symbol::TemplateParam(m, t, _) => Symbol::TemplateParam(m, t, n),
        other => other,
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() <= 100
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
