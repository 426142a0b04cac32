//! `pipec compile --target codepipeline`: a checked pipeline to AWS CodePipeline (V2).
//!
//! Input: the IR of a file that checks clean, and (optionally) the source map it came from,
//! to narrow spans of whole stages to the clause a diagnostic is about. Output: a
//! CloudFormation template (YAML or JSON) whose `AWS::CodePipeline::Pipeline` has
//! `PipelineType: V2`, with a generated `AWS::CodeBuild::Project` per `sh` action, or the
//! JSON of `aws codepipeline create-pipeline --cli-input-json`; or `E05xx` diagnostics for
//! every construct CodePipeline cannot express (all of them, not only the first).
//!
//! Method, one concern per file: [`layout`] orders the stage graph into CodePipeline's
//! sequence (with the `SKIP` conditions that keep branches' meaning) and `after` into
//! `RunOrder` levels; [`sources`] maps `dir` and `git` actions to source actions and
//! artifacts; [`values`] turns expressions into CodePipeline's `#{NS.VAR}` text and rules;
//! [`conditions`] builds entry, success and failure conditions and triggers; [`actions`]
//! the stages' actions; [`buildspec`] the scripts that run `sh` (and `wait`) actions in
//! CodeBuild; [`template`] the parameters, resources and the output formats; [`limits`]
//! CodePipeline's quotas. The mapping is documented in `docs/targets/codepipeline.md`.
//!
//! Limits: a pipeline's stage graph becomes one sequence, so branches that ran in parallel
//! run one after the other (comments in the output say where).

mod actions;
mod aws;
mod buildspec;
mod conditions;
mod cron;
mod gates;
mod layout;
mod limits;
mod roles;
mod sources;
mod template;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::Diagnostic;
use crate::export::doc::Node;
use crate::ir::{self, Ir};
use crate::source::{FileId, SourceMap};

/// The output's form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A CloudFormation template in YAML (the default).
    CfnYaml,
    /// The same template in JSON.
    CfnJson,
    /// The input of `aws codepipeline create-pipeline --cli-input-json`.
    CliJson,
}

/// How to export.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub format: Format,
    /// Generate the IAM roles and an encrypted artifact bucket instead of taking them as
    /// template parameters.
    pub create_role: bool,
    /// Check CodePipeline's quotas (off only for benchmarks of huge files).
    pub limits: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            format: Format::CfnYaml,
            create_role: false,
            limits: true,
        }
    }
}

pub use super::Exported;

/// Exports `ir`. `map`, when given, is the source map the IR was lowered from (its spans
/// narrow diagnostics about a stage's clauses); without it, they point at the stage.
/// Returns every `E05xx` error (and the warnings) when something cannot be expressed.
pub fn export(
    ir: &Ir,
    map: Option<&SourceMap>,
    opts: &Options,
) -> Result<Exported, Vec<Diagnostic>> {
    let mut cx = Cx::new(ir, map, *opts);
    let doc = template::build(&mut cx);
    if cx.diags.iter().any(Diagnostic::is_error) {
        let mut all = cx.diags;
        all.sort_by_key(|d| (d.primary.span, d.code));
        // One construct used several times in one place is reported once.
        all.dedup();
        return Err(all);
    }
    let text = match opts.format {
        Format::CfnYaml => crate::export::doc::to_yaml(&doc),
        Format::CfnJson | Format::CliJson => crate::export::doc::to_json(&doc),
    };
    let mut warnings = cx.diags;
    warnings.sort_by_key(|d| (d.primary.span, d.code));
    warnings.dedup();
    Ok(Exported { text, warnings })
}

/// What the exporter knows while it works, and what it has found.
struct Cx<'a> {
    ir: &'a Ir,
    map: Option<&'a SourceMap>,
    opts: Options,
    diags: Vec<Diagnostic>,
    /// Template parameters, in the order they were first needed.
    params: Vec<(String, Node)>,
    /// Template resources beside the pipeline, in order.
    resources: Vec<(String, Node)>,
    /// Logical ids taken so far.
    ids: BTreeSet<String>,
    /// `run.trigger` is read: the pipeline gets the variable `PIPEC_TRIGGER`.
    trigger_var: bool,
    /// How each pipec artifact reaches CodePipeline.
    artifacts: BTreeMap<String, sources::Loc>,
    /// The repository source (from `dir` actions), when there is one.
    repo: Option<sources::Repo>,
    /// The artifact given to actions that take none (CodeBuild needs one).
    dummy: Option<String>,
    /// The source action that push and pull request triggers watch.
    trigger_source: Option<String>,
    /// Stage indices by name.
    stage_index: BTreeMap<&'a str, usize>,
    /// Compiled patterns of [`Cx::clause`].
    patterns: BTreeMap<&'static str, Option<regex::Regex>>,
}

impl crate::export::cx::Report for Cx<'_> {
    fn diags(&mut self) -> &mut Vec<Diagnostic> {
        &mut self.diags
    }
}

impl<'a> Cx<'a> {
    fn new(ir: &'a Ir, map: Option<&'a SourceMap>, opts: Options) -> Cx<'a> {
        Cx {
            ir,
            map,
            opts,
            diags: Vec::new(),
            params: Vec::new(),
            resources: Vec::new(),
            ids: [
                "Pipeline",
                "PipelineName",
                "ArtifactBucket",
                "PipelineRole",
                "BuildRole",
                "SchedulerRole",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            trigger_var: false,
            artifacts: BTreeMap::new(),
            repo: None,
            dummy: None,
            trigger_source: None,
            stage_index: ir
                .pipeline
                .stages
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.as_str(), i))
                .collect(),
            patterns: BTreeMap::new(),
        }
    }

    /// The first line of `at` (a stage or an action's header), when the source is known.
    fn head(&self, at: ir::Span) -> ir::Span {
        crate::export::first_line(self.map, at)
    }

    /// The clause of `at` that starts with `pattern` (a regex), up to the end of its line.
    fn clause(&mut self, at: ir::Span, pattern: &'static str) -> ir::Span {
        let re = self
            .patterns
            .entry(pattern)
            .or_insert_with(|| regex::Regex::new(pattern).ok())
            .clone();
        let found = self.text(at).and_then(|text| {
            let re = re?;
            let m = re.find(text)?;
            let line = text[m.start()..].split('\n').next().unwrap_or("");
            let line = line.split("//").next().unwrap_or(line).trim_end();
            Some((m.start(), line.len()))
        });
        match found {
            Some((start, len)) => ir::Span {
                start: at.start + u32::try_from(start).unwrap_or(0),
                end: at.start + u32::try_from(start + len).unwrap_or(0),
                ..at
            },
            None => self.head(at),
        }
    }

    fn text(&self, at: ir::Span) -> Option<&str> {
        let file = self.map?.get(FileId(at.file));
        file.text.get(at.start as usize..at.end as usize)
    }

    /// A new logical id starting with `base` (letters and digits only), unique in the
    /// template.
    fn id(&mut self, base: &str) -> String {
        let clean: String = base.chars().filter(char::is_ascii_alphanumeric).collect();
        let mut id = clean.clone();
        let mut n = 2;
        while !self.ids.insert(id.clone()) {
            id = format!("{clean}{n}");
            n += 1;
        }
        id
    }

    /// Adds a template parameter (once), and returns a reference to it.
    fn param(&mut self, name: &str, description: String, default: Option<&str>) -> Node {
        if !self.params.iter().any(|(n, _)| n == name) {
            self.ids.insert(name.to_string());
            let mut entries = vec![
                ("Type".to_string(), Node::str("String")),
                ("Description".to_string(), Node::Str(description)),
            ];
            if let Some(d) = default {
                entries.push(("Default".to_string(), Node::str(d)));
            }
            self.params.push((name.to_string(), Node::Map(entries)));
        }
        Node::Ref(name.to_string())
    }

    /// The file and line of a span, for comments (`app.pipe:12`).
    fn place(&self, at: ir::Span) -> String {
        crate::export::place(self.ir, at)
    }

    fn stage(&self, name: &str) -> Option<&'a ir::Stage> {
        let i = *self.stage_index.get(name)?;
        self.ir.pipeline.stages.get(i)
    }

    /// The action `stage.action` of the pipeline.
    fn action(&self, stage: &str, action: &str) -> Option<&'a ir::Action> {
        self.stage(stage)?.actions.iter().find(|a| a.name == action)
    }

    fn param_decl(&self, name: &str) -> Option<&'a ir::Param> {
        self.ir.pipeline.params.iter().find(|p| p.name == name)
    }

    /// Whether the pipeline has a push or pull request trigger.
    fn git_triggers(&self) -> bool {
        self.ir
            .pipeline
            .triggers
            .iter()
            .any(|t| matches!(t.kind, ir::TriggerKind::Push | ir::TriggerKind::PullRequest))
    }
}

/// Whether the action is a source action of the first stage (`dir`, `git`, an `aws` source).
fn is_source(a: &ir::Action) -> bool {
    match a.kind {
        ir::Kind::Dir | ir::Kind::Git => true,
        ir::Kind::Aws => a.category == ir::Category::Source,
        _ => false,
    }
}

/// An action's namespace: `STAGE_ACTION`.
fn namespace(stage: &str, action: &str) -> String {
    format!("{stage}_{action}")
}

/// `Ab` for `a_b` (for logical ids).
fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
