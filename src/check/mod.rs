//! Checking: AST → diagnostics and a resolved model, which [`lower`] turns into the IR.
//!
//! Input: the parsed root file, plus a [`Loader`] for local imports (the CLI reads files;
//! this phase does no I/O). Output: every diagnostic of E02xx–E04xx and W0xxx, and, when the
//! file has a pipeline, a [`Model`] of it with resolved, typed expressions (as IR
//! expressions) and expanded templates.
//!
//! Method, in order: `resolve` loads imports and checks template definitions, collects the
//! pipeline's declarations (duplicates, reserved names) and resolves each action's kind and
//! attributes, expanding templates; `types` types every expression, resolving references and
//! recording where exports and artifacts are used; `release` builds the stage graph (§6)
//! and the per-stage `after` graphs and enforces the release-model rules: cycles,
//! reachability, "certainly runs before" (via dominators), placement, ranges, warnings.
//!
//! Everything independent is reported in one pass: a broken declaration is still declared
//! (so its uses are not reported again), and names from regions that failed to parse are
//! never reported as unknown.

mod actions;
mod attrs;
mod aws;
mod hash;
mod inputs;
mod items;
mod kinds;
pub mod lower;
mod notify;
mod params;
mod pipeline;
mod refs;
mod release;
mod resolve;
mod secrets;
mod types;
mod wait;

use std::collections::BTreeMap;

use crate::ast;
use crate::diagnostics::{Code, Diagnostic, Sink, Suggester};
use crate::ir;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::{Parsed, Restart, StageStream};
use hash::{FastMap, FastSet};

pub use types::Ty;

pub(crate) use resolve::import_target;

pub(crate) use kinds::{
    CATEGORIES, COMMON, KINDS, RESERVED_STAGES, TYPES, kind_by_name, kind_params,
};

/// Reads a local import. Implemented by the CLI (this phase does no I/O).
pub trait Loader {
    /// Reads the file at `path` (already joined with the importing file's directory).
    fn read(&mut self, path: &str) -> Result<String, LoadError>;
}

/// Why a local import could not be read (E0205 says it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// There is no file at that path (else there is one that cannot be read: not a regular
    /// file, too big, not text, no permission).
    pub missing: bool,
    /// Why, in words (the diagnostic's note).
    pub why: String,
}

/// A loader that finds nothing: for checking text with no local imports.
pub struct NoLoader;

impl Loader for NoLoader {
    fn read(&mut self, path: &str) -> Result<String, LoadError> {
        Err(LoadError {
            missing: true,
            why: format!("cannot read `{path}` here"),
        })
    }
}

/// The outcome of checking one root file.
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    /// The resolved pipeline, when the file has one.
    pub model: Option<Model>,
    /// What each name the checker resolved refers to (filled by
    /// [`Checker::check_parsed`], for the editor; empty otherwise).
    pub resolutions: Vec<Resolution>,
}

/// One reference the checker resolved: where the name is written and what it names. The
/// editor's index takes references from here rather than resolving names again (issue 12:
/// the two resolutions drifted apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The name as written (one segment of a path such as `build.test.version`).
    pub span: Span,
    pub to: Resolved,
}

/// What a resolved name refers to (an export also when the action does not declare it:
/// E0402 said so).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resolved {
    Param(String),
    Secret(String),
    /// `run.FIELD`.
    RunField(String),
    Stage(String),
    /// Stage, action.
    Action(String, String),
    /// Stage, action, export.
    Export(String, String, String),
    /// A parameter of a template of the file, used in the template's body: template,
    /// parameter.
    TemplateParam(String, String),
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Where an expression stands, for the "certainly runs before" rules (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// In an attribute of action `.1` of stage `.0`.
    Action(usize, usize),
    /// In the `entry` condition of a stage.
    Entry(usize),
    /// In the `on success` condition of a stage.
    OnSuccess(usize),
    /// In the guard of an edge out of a stage.
    Guard(usize),
    /// Pipeline level (param defaults, triggers): no stage has run.
    Nowhere,
}

#[derive(Clone, Debug)]
pub(crate) enum UseKind {
    Export {
        stage: usize,
        action: usize,
        name: String,
    },
    Artifact {
        name: String,
    },
}

/// A reference to a stage not declared yet where it is used.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    Status(ast::Ident),
    Export(Vec<ast::Ident>, Span, Site),
}

/// A use of an export or artifact, checked once the stage graph is known.
#[derive(Clone, Debug)]
pub(crate) struct Use {
    pub kind: UseKind,
    pub span: Span,
    pub site: Site,
}

/// The resolved pipeline.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: ast::Ident,
    pub span: Span,
    pub mode: ir::Mode,
    pub timeout: Option<(u64, Span)>,
    /// Retention (`keep N runs`, `keep DURATION`).
    pub retention: ir::Retention,
    pub params: Vec<ParamModel>,
    pub secrets: Vec<SecretModel>,
    pub triggers: Vec<ir::Trigger>,
    pub notify: Vec<ir::Notify>,
    pub stages: Vec<StageModel>,
}

#[derive(Clone, Debug)]
pub struct ParamModel {
    pub name: ast::Ident,
    pub doc: Option<String>,
    pub ty: Option<ir::Type>,
    pub default: Option<ir::Expr>,
    /// `allowed = […]`, literals of the param's (element) type.
    pub allowed: Option<Vec<ir::Expr>>,
    /// `pattern = "…"`, a valid regular expression.
    pub pattern: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct SecretModel {
    pub name: ast::Ident,
    pub source: Option<ir::SecretSource>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct EdgeModel {
    pub from: usize,
    pub guard: Option<ir::Expr>,
    pub disabled: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ConditionModel {
    pub rules: Vec<ir::CondRule>,
    pub otherwise: ir::ElseResult,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct StageModel {
    pub name: ast::Ident,
    pub span: Span,
    pub inbound: Vec<EdgeModel>,
    pub timeout: Option<(u64, Span)>,
    pub entry: Option<ConditionModel>,
    pub on_success: Option<ConditionModel>,
    pub on_failure: ir::FailurePolicy,
    pub actions: Vec<ActionModel>,
    /// Explicit `after = [...]` entries (stage names), for the graph.
    pub(crate) after: Option<Vec<ast::Ident>>,
    /// Every `rollback` keyword of the stage (E0408).
    pub(crate) rollbacks: Vec<Span>,
    /// An inbound edge names an unknown stage (reported): reachability is not judged.
    pub(crate) dangling: bool,
}

#[derive(Clone, Debug)]
pub struct InputModel {
    pub name: ast::Ident,
    /// `inputs = { NAME = "FOLDER" }`: restored under this folder (normalised; `None` for
    /// the workspace root).
    pub folder: Option<String>,
}

#[derive(Clone, Debug)]
pub struct OutputModel {
    pub name: ast::Ident,
    pub path: String,
}

#[derive(Clone, Debug)]
pub struct ActionModel {
    pub name: ast::Ident,
    pub span: Span,
    pub kind: ir::Kind,
    pub template: Option<String>,
    pub category: ir::Category,
    /// The kind's parameters, sorted by name (defaults filled in).
    pub params: Vec<(String, ir::Expr)>,
    pub after: Vec<ast::Ident>,
    pub inputs: Vec<InputModel>,
    pub outputs: Vec<OutputModel>,
    /// Declared exports (from `exports`).
    pub exports: Vec<ast::Ident>,
    /// Exports the kind provides itself (`git`: commit, branch).
    pub kind_exports: Vec<String>,
    /// Sorted by name.
    pub env: Vec<(String, ir::Expr)>,
    pub timeout: Option<(u64, Span)>,
    pub retry: ir::Retry,
    /// Boxed: most actions have none, and every action's model is kept until the release
    /// rules (`pipec check` keeps none at all: only [`ActionModel::conditional`]).
    pub when: Option<Box<ir::Expr>>,
    /// Whether the action has a `when` (it may be skipped).
    pub conditional: bool,
    /// The container image (its own, else the pipeline's for `sh`).
    pub image: Option<String>,
}

/// A template parameter: its name, type and default.
pub(crate) type TemplateParam = (ast::Ident, Option<ir::Type>, Option<ir::Expr>);

/// A template's parameters in declaration order, found by name in O(1) (a body or a call
/// may name thousands of them).
#[derive(Clone, Debug, Default)]
pub(crate) struct TemplateParams {
    list: Vec<TemplateParam>,
    index: FastMap<String, usize>,
}

impl TemplateParams {
    /// Adds a parameter (a repeated name keeps the first for lookups).
    pub(crate) fn push(&mut self, p: TemplateParam) {
        self.index
            .entry(p.0.name.clone())
            .or_insert(self.list.len());
        self.list.push(p);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TemplateParam> {
        self.index.get(name).map(|&i| &self.list[i])
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, TemplateParam> {
        self.list.iter()
    }

    /// The parameters, to change their defaults (names stay as they are).
    pub(crate) fn defaults_mut(&mut self) -> impl Iterator<Item = (&str, &mut ir::Expr)> {
        self.list
            .iter_mut()
            .filter_map(|(n, _, d)| d.as_mut().map(|d| (n.name.as_str(), d)))
    }
}

impl<'a> IntoIterator for &'a TemplateParams {
    type Item = &'a TemplateParam;
    type IntoIter = std::slice::Iter<'a, TemplateParam>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// A template, checked once where it is defined.
#[derive(Clone, Debug)]
pub(crate) struct TemplateDef {
    pub name: ast::Ident,
    #[allow(dead_code)] // Reason: kept for hover in the language server (issue 5).
    pub doc: Option<String>,
    pub params: TemplateParams,
    pub kind: Option<ir::Kind>,
    pub body: attrs::Parts,
}

/// An imported module: its templates by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Module {
    pub templates: BTreeMap<String, TemplateDef>,
    /// The import that brought it into scope.
    pub import_span: Option<Span>,
}

/// Checks files. One `Checker` per root file.
pub struct Checker<'a> {
    map: &'a mut SourceMap,
    /// Display name of the root file (relative paths in the IR are relative to its folder).
    root_name: String,
    loader: &'a mut dyn Loader,
    sink: Sink,
    /// Templates of the root file.
    local: Module,
    /// Imported modules by their name in scope.
    modules: BTreeMap<String, Module>,
    /// Parsed and checked imported files, by normalised path.
    loaded: FastMap<String, Module>,
    /// Names that failed to parse: never reported as unknown.
    broken: FastSet<String>,
    /// Regions that failed to parse: no "empty" diagnostics around them.
    broken_spans: Vec<Span>,
    // Pipeline scope, filled by `resolve`.
    params: BTreeMap<String, (Option<ir::Type>, Span)>,
    secrets: BTreeMap<String, Span>,
    stage_index: BTreeMap<String, usize>,
    /// (stage, action) → its declared exports, for typing `STAGE.ACTION.EXPORT`.
    action_index: FastMap<(usize, String), usize>,
    /// (stage, action, name) of every declared export.
    export_index: FastSet<(usize, usize, String)>,
    stages: Vec<StageModel>,
    uses: Vec<Use>,
    /// The inputs of every action and `check` rule with two inputs or more (one cannot
    /// overlap), checked for overlaps (E0411) once every producer is known.
    input_sets: Vec<Vec<InputModel>>,
    used_params: FastSet<String>,
    used_secrets: FastSet<String>,
    /// References to stages declared later, resolved after the last stage.
    pending: Vec<Pending>,
    /// Every stage is declared: unknown names are reported at once.
    all_declared: bool,
    /// Keep the expressions of actions (for the IR); `check` alone drops them early.
    keep_model: bool,
    /// "Did you mean" for the whole file, with a bounded cost.
    suggester: Suggester,
    /// Resolved names of the root file, when recorded (`None`: not wanted).
    resolutions: Option<Vec<Resolution>>,
    /// The template of the root file whose body is being checked.
    template: Option<String>,
    /// The pipeline's `image`: the image of its `sh` actions that set none.
    default_image: Option<String>,
}

/// What a check keeps besides its diagnostics.
#[derive(Clone, Copy)]
struct Wants {
    /// The resolved model (for the IR).
    model: bool,
    /// The resolution table (for the editor).
    resolutions: bool,
}

/// The result of [`Checker::check`].
pub type CheckResult = Checked;

impl<'a> Checker<'a> {
    /// Checks the root file `root` of `map`. With `keep_model`, the result carries the
    /// resolved pipeline for [`lower`]; without, expressions are dropped as soon
    /// as they are checked, which keeps `pipec check` lean on big files.
    pub fn check(
        map: &mut SourceMap,
        root: FileId,
        loader: &mut dyn Loader,
        keep_model: bool,
    ) -> CheckResult {
        Checker::check_streaming_from(map, root, loader, keep_model, crate::syntax::STREAMED_FROM)
    }

    /// [`Checker::check`], streaming files from `threshold` bytes (tests compare 0 and max).
    pub fn check_streaming_from(
        map: &mut SourceMap,
        root: FileId,
        loader: &mut dyn Loader,
        keep_model: bool,
        threshold: usize,
    ) -> CheckResult {
        let text = map.get(root).text.clone();
        let parsed = crate::syntax::Parser::parse_streamed_from(root, &text, threshold);
        let (file, diagnostics, stages) = match parsed {
            Parsed::Streamed(skeleton, diagnostics, stages) => {
                (skeleton, diagnostics, Some(stages))
            }
            Parsed::Whole((file, diagnostics)) => (file, diagnostics, None),
        };
        let wants = Wants {
            model: keep_model,
            resolutions: false,
        };
        if let Ok(done) = Checker::run(map, root, loader, wants, file, diagnostics, stages) {
            return done;
        }
        // A streamed stage did not parse on its own: check the whole file, with recovery.
        let (file, diagnostics) = crate::syntax::Parser::parse(root, &text);
        Checker::run(map, root, loader, wants, file, diagnostics, None)
            .unwrap_or_else(|_| unreachable!("a whole file never restarts"))
    }

    /// Checks a root file already parsed (with [`crate::syntax::Parser::parse`]), for
    /// callers that keep the AST (the editor services). No model is kept.
    pub fn check_parsed(
        map: &mut SourceMap,
        root: FileId,
        loader: &mut dyn Loader,
        file: ast::File,
        diagnostics: Vec<Diagnostic>,
    ) -> CheckResult {
        let wants = Wants {
            model: false,
            resolutions: true,
        };
        let mut checked = Checker::run(map, root, loader, wants, file, diagnostics, None)
            .unwrap_or_else(|_| unreachable!("a whole file never restarts"));
        checked.resolutions.retain(|r| r.span.file == root);
        checked
    }

    fn run(
        map: &'a mut SourceMap,
        root: FileId,
        loader: &'a mut dyn Loader,
        wants: Wants,
        file: ast::File,
        diagnostics: Vec<Diagnostic>,
        stages: Option<StageStream>,
    ) -> Result<CheckResult, Restart> {
        let root_name = map.get(root).name.clone();
        let mut checker = Checker {
            root_name,
            map,
            loader,
            sink: Sink::new(),
            local: Module::default(),
            modules: BTreeMap::new(),
            loaded: FastMap::default(),
            broken: file.broken_names.iter().cloned().collect(),
            broken_spans: file.broken_spans.clone(),
            params: BTreeMap::new(),
            secrets: BTreeMap::new(),
            stage_index: BTreeMap::new(),
            action_index: FastMap::default(),
            export_index: FastSet::default(),
            stages: Vec::new(),
            uses: Vec::new(),
            input_sets: Vec::new(),
            used_params: FastSet::default(),
            used_secrets: FastSet::default(),
            pending: Vec::new(),
            all_declared: false,
            keep_model: wants.model,
            suggester: Suggester::new(),
            resolutions: wants.resolutions.then(Vec::new),
            template: None,
            default_image: None,
        };
        checker.sink.extend(diagnostics);
        let model = checker.check_file(root, file, stages)?;
        Ok(Checked {
            diagnostics: checker.sink.into_sorted(),
            model,
            resolutions: checker.resolutions.unwrap_or_default(),
        })
    }

    fn report(&mut self, d: Diagnostic) {
        self.sink.push(d);
    }

    /// Records that the name at `span` refers to `to()` (when resolutions are recorded; `to`
    /// is not called otherwise, which spares `pipec check` its names' copies).
    pub(crate) fn resolved(&mut self, span: Span, to: impl FnOnce() -> Resolved) {
        if let Some(r) = &mut self.resolutions {
            r.push(Resolution { span, to: to() });
        }
    }

    /// The attributes of `attrs` set for the first time, in order; each one set again is
    /// reported (E0202, pointing at the first) and left out.
    pub(super) fn first_set<'x>(&mut self, attrs: &'x [ast::Attr]) -> Vec<&'x ast::Attr> {
        self.first_set_of(attrs, "attribute ")
    }

    /// [`Checker::first_set`], with `what` before the name in the E0202 message
    /// ("attribute `name` is set twice"; with no `what`, "`min` is set twice").
    pub(super) fn first_set_of<'x>(
        &mut self,
        attrs: &'x [ast::Attr],
        what: &str,
    ) -> Vec<&'x ast::Attr> {
        let mut seen: FastMap<&str, &ast::Attr> = FastMap::default();
        let mut first = Vec::with_capacity(attrs.len());
        for a in attrs {
            let name = a.name.name.as_str();
            if let Some(earlier) = seen.get(name) {
                self.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!("{what}`{name}` is set twice"),
                        a.name.span,
                        "set again here",
                    )
                    .label(earlier.name.span, "first set here"),
                );
                continue;
            }
            seen.insert(name, a);
            first.push(a);
        }
        first
    }

    /// "Did you mean" help for an unknown `name`.
    fn did_you_mean<'n>(
        &self,
        name: &str,
        candidates: impl IntoIterator<Item = &'n str>,
    ) -> Option<String> {
        self.suggester.suggest(name, candidates)
    }

    /// An IR span (with line and column) for a source span.
    pub(crate) fn ir_span(&self, span: Span) -> ir::Span {
        lower::span(self.map, span)
    }

    fn check_file(
        &mut self,
        root: FileId,
        file: ast::File,
        stages: Option<StageStream>,
    ) -> Result<Option<Model>, Restart> {
        let mut visiting = vec![self.map.get(root).name.clone()];
        for item in &file.items {
            if let ast::Item::Import(imp) = item {
                self.import(root, imp, &mut visiting);
            }
        }
        self.local = self.templates_of(&file);
        let pipelines: Vec<ast::Pipeline> = file
            .items
            .into_iter()
            .filter_map(|i| {
                if let ast::Item::Pipeline(p) = i {
                    Some(p)
                } else {
                    None
                }
            })
            .collect();
        for extra in pipelines.iter().skip(1) {
            self.report(
                Diagnostic::new(
                    crate::diagnostics::Code::E0202,
                    format!("second pipeline `{}` in one file", extra.name.name),
                    extra.name.span,
                    "second pipeline",
                )
                .label(pipelines[0].name.span, "first pipeline here")
                .note("a file holds at most one `pipeline`; move the other one to its own file"),
            );
        }
        let Some(pipeline) = pipelines.into_iter().next() else {
            return Ok(None);
        };
        self.secret_sources_in_params(&pipeline.items);
        self.pipeline(pipeline, stages).map(Some)
    }
}
