//! `pipec import codepipeline`: an AWS CodePipeline declaration to `.pipe` text.
//!
//! Input: a file's name and text. Output: one formatted `.pipe` text per pipeline in the
//! file, or an [`Error`] (with the line, and what to do). Pure: the CLI reads and writes.
//!
//! Method: a reader per format turns the text into one document tree (`tree.rs`):
//! CloudFormation YAML (`yaml.rs`, short-form tags become the long form) or JSON
//! (`json.rs`), whose intrinsic functions `cfn.rs` evaluates; the CodePipeline API's JSON
//! (`api.rs`); Terraform (`hcl.rs`: `.tf` files, the `.tf.json` syntax, and the state of
//! `terraform show -json`); a shell script's `jq` template (`jq.rs`). One reader
//! (`read.rs`) turns a pipeline declaration of any of them into the model (`model.rs`),
//! and the generator (`generate/`) turns the model into `.pipe` text, run through
//! `pipec fmt`'s formatter. The mapping is `docs/import.md`.
//!
//! Limits: values the file does not give (`!GetAtt`, `!ImportValue`, a Terraform
//! resource's attribute) become params with a comment; `Fn::If` is decided with the
//! parameters' defaults (a comment says so); YAML anchors/aliases are refused.

// Reason: two-armed matches on an `Option` with long arms read better than `if let … else`.
#![allow(clippy::single_match_else)]

mod api;
mod cfn;
mod error;
mod generate;
mod hcl;
mod jq;
mod json;
pub mod model;
mod names;
mod read;
pub mod tree;
mod yaml;

#[cfg(test)]
mod tests;

pub use error::Error;
use names::Names;

/// Inputs larger than this are refused (no pipeline declaration is near it).
pub const MAX_INPUT: usize = 16 * 1024 * 1024;

/// One imported pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The pipeline's identifier in the output (also names its file when there are several).
    pub name: String,
    /// The `.pipe` text, in `pipec fmt`'s layout.
    pub text: String,
}

/// The importer of CodePipeline declarations.
pub struct Importer;

impl Importer {
    /// Imports every pipeline of `text`; `file` is its name, for the header comment and to
    /// tell formats apart (`.tf`, `.sh`).
    pub fn import(file: &str, text: &str) -> Result<Vec<Imported>, Error> {
        let pipelines = Importer::read(file, text)?;
        let base = file.rsplit('/').next().unwrap_or(file);
        Importer::generate_all(&pipelines, base)
    }

    fn generate_all(pipelines: &[model::Pipeline], base: &str) -> Result<Vec<Imported>, Error> {
        let mut names = Names::default();
        let mut out = Vec::new();
        for p in pipelines {
            if p.stages.iter().all(|s| s.actions.is_empty()) {
                let notes = p.notes.join("; ");
                return Err(Error::new(
                    format!("the pipeline `{}` has no stage with actions here", p.label),
                    if notes.is_empty() {
                        "a pipeline needs at least one stage with an action".to_string()
                    } else {
                        notes
                    },
                ));
            }
            let id = names.keyed(
                &format!("{}#{}", p.label, out.len()),
                &generate::pipeline_id(p),
            );
            let text = generate::generate(p, &id, base).map_err(|bug| Error {
                file: None,
                line: None,
                column: None,
                message: format!("internal error: the imported text does not parse: {bug}"),
                help: "this is a bug in pipec; please report it with the input file".to_string(),
            })?;
            out.push(Imported { name: id, text });
        }
        Ok(out)
    }

    /// Imports the `aws_codepipeline` resources of a Terraform module: its `*.tf` files
    /// (name, text) read as one, so `variable` defaults in `variables.tf` apply; `folder`
    /// names it in the header comment.
    pub fn import_module(folder: &str, files: &[(&str, &str)]) -> Result<Vec<Imported>, Error> {
        let pipelines = hcl::module(files)?;
        if pipelines.is_empty() {
            return Err(Error::new(
                "no `aws_codepipeline` resource in this folder's `.tf` files",
                "give the folder of the Terraform module that declares the pipeline, or one file",
            ));
        }
        Importer::generate_all(&pipelines, folder)
    }

    /// Reads the pipelines of `text` into the model (no `.pipe` text yet).
    pub fn read(file: &str, text: &str) -> Result<Vec<model::Pipeline>, Error> {
        if text.len() > MAX_INPUT {
            return Err(Error::new(
                format!("the file is larger than {} MiB", MAX_INPUT >> 20),
                "import the pipeline's own declaration, not a bundle of files",
            ));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        placeholders(text)?;
        let ext = file
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let first = text.trim_start().chars().next();
        let pipelines = if ext == "tf" || (first != Some('{') && hcl::looks_like_hcl(text)) {
            hcl::pipelines(text)?
        } else if ext == "sh" || text.starts_with("#!") {
            let (root, inputs) = jq::parse(text)?;
            let mut ps = api::pipelines(&root);
            for p in &mut ps {
                p.inputs.clone_from(&inputs);
                p.origin.what = "the `jq` template of a shell script".to_string();
            }
            ps
        } else {
            let roots = if matches!(first, Some('{' | '[')) {
                vec![json::parse(text)?]
            } else {
                yaml::parse(text)?
            };
            let mut ps = Vec::new();
            for root in &roots {
                if cfn::is_template(root) {
                    ps.extend(cfn::pipelines(root));
                } else if hcl::is_terraform_json(root) {
                    ps.extend(hcl::json_pipelines(root));
                } else {
                    let api = api::pipelines(root);
                    if api.is_empty() {
                        ps.extend(hcl::state_pipelines(root));
                    } else {
                        ps.extend(api);
                    }
                }
            }
            ps
        };
        if pipelines.is_empty() {
            return Err(Error::new(
                "no CodePipeline pipeline in this file",
                "give a CloudFormation template with an `AWS::CodePipeline::Pipeline` \
                 resource, the JSON of `aws codepipeline get-pipeline --name NAME`, or a \
                 Terraform file with an `aws_codepipeline` resource",
            )
            .at(1, 1));
        }
        Ok(pipelines)
    }
}

/// Template placeholders (`%NAME%`, `{{NAME}}`) that a script fills in before use.
fn placeholders(text: &str) -> Result<(), Error> {
    let mut found: Vec<(usize, &str)> = Vec::new();
    for (open, close) in [("%", "%"), ("{{", "}}")] {
        let mut from = 0;
        while let Some(start) = text[from..].find(open).map(|s| s + from) {
            let name_start = start + open.len();
            let rest = &text[name_start..];
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..len];
            let closes = rest[len..].starts_with(close);
            let dollar = open == "{{" && text[..start].ends_with('$');
            if closes && len >= 2 && !dollar && name.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                found.push((start, &text[start..name_start + len + close.len()]));
                from = name_start + len + close.len();
            } else {
                from = name_start;
            }
        }
    }
    found.sort_unstable();
    let Some((offset, first)) = found.first() else {
        return Ok(());
    };
    let mut distinct: Vec<&str> = found.iter().map(|(_, p)| *p).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let (line, column) = error::position(text, *offset);
    Err(Error::new(
        format!(
            "the file is a template with placeholders to fill in first: {}",
            distinct.join(", ")
        ),
        format!(
            "replace each placeholder with its value (e.g. `sed 's/{}/VALUE/g'`), then import \
             the filled-in file",
            first.replace('/', "\\/")
        ),
    )
    .at(line, column))
}
