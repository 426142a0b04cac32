//! Source actions and artifacts.
//!
//! CodePipeline's first stage holds source actions only, and only it does. pipec's `dir`
//! actions snapshot folders of the pipeline's own folder, which on AWS is the repository
//! the pipeline lives in: all of them become one source action of that repository (one
//! checkout, so every artifact comes from the same commit), and each `dir` artifact is a
//! folder of it (restored by the builds that take it). The repository is a
//! `CodeStarSourceConnection` (GitHub, GitLab, Bitbucket: connection, repository and branch
//! are template parameters) when the pipeline has push or pull request triggers — V2
//! triggers exist only for those — and an S3 object (a zip of the folder, bucket and key as
//! parameters) otherwise. Each `git` action is a `CodeStarSourceConnection` of its
//! repository. A pipeline whose entry stage has no source action gets a generated stage
//! `pipec_source` with an S3 source, whose artifact is what actions with no input are
//! given (CodeBuild needs one input). An entry stage that mixes sources with other actions
//! is split: its sources go to the stage `pipec_source`, the others stay after them.

use super::{Cx, camel, namespace};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::ir::{self, Expr, Kind};

/// Where a pipec artifact is on CodePipeline.
#[derive(Clone, Debug)]
pub(super) struct Loc {
    /// The CodePipeline artifact.
    pub(super) artifact: String,
    /// The folder of it that is the pipec artifact (for `dir` snapshots of a subfolder).
    pub(super) folder: Option<String>,
    /// `dir`'s `exclude` patterns, removed from the workspace of the builds that take it.
    pub(super) exclude: Vec<String>,
}

/// The repository source made of the `dir` actions.
#[derive(Clone, Debug)]
pub(super) struct Repo {
    pub(super) namespace: String,
    /// A `CodeStar` connection (else an S3 object).
    pub(super) git: bool,
}

/// The name of the generated source stage.
pub(super) const SOURCE_STAGE: &str = "pipec_source";

/// The first stage: `(name, span, actions)`; `None` when nothing could be mapped.
pub(super) fn first_stage(cx: &mut Cx<'_>, entry: &ir::Stage) -> (String, Vec<Node>) {
    let sources: Vec<&ir::Action> = entry
        .actions
        .iter()
        .filter(|a| super::is_source(a))
        .collect();
    if sources.is_empty() {
        if cx.git_triggers() {
            let at = cx.head(entry.span);
            cx.refuse(
                Code::E0501,
                at,
                "push and pull request triggers need a repository source on CodePipeline"
                    .to_string(),
                "the entry stage has no `dir` or `git` action",
                "add a `dir { path = \".\" }` action for the repository to the entry stage",
            );
        }
        return (SOURCE_STAGE.to_string(), vec![generated(cx)]);
    }
    let mut actions = Vec::new();
    let dirs: Vec<&ir::Action> = sources
        .iter()
        .copied()
        .filter(|a| a.kind == Kind::Dir)
        .collect();
    if let Some(first) = dirs.first() {
        actions.push(repository(cx, entry, first, &dirs));
    }
    for a in sources.iter().filter(|a| a.kind == Kind::Git) {
        if let Some(node) = git(cx, entry, a) {
            actions.push(node);
        }
    }
    for a in sources.iter().filter(|a| a.kind == Kind::Aws) {
        // CodePipeline's git triggers watch a connection source: an `aws` one written out
        // (as `pipec import codepipeline` writes it) is theirs, when no `dir`/`git` is.
        if cx.trigger_source.is_none()
            && cx.git_triggers()
            && super::aws::param(a, "provider") == "CodeStarSourceConnection"
        {
            cx.trigger_source = Some(a.name.clone());
        }
        if let Some(node) = super::aws::action(cx, entry, a, 1, Vec::new()) {
            actions.push(node);
        }
        // Builds that take no input read the first source's artifact.
        if let Some(o) = a.outputs.first() {
            cx.dummy.get_or_insert_with(|| o.name.clone());
        }
    }
    // A mixed entry stage: its sources go first, to a stage of their own; its other
    // actions stay in it (after them, as they were).
    let mixed = sources.len() < entry.actions.len();
    let name = if mixed { SOURCE_STAGE } else { &entry.name };
    (name.to_string(), actions)
}

/// The artifact name of a source action (its output's, else its own name).
fn artifact_of(a: &ir::Action) -> String {
    a.outputs
        .first()
        .map_or_else(|| a.name.clone(), |o| o.name.clone())
}

/// The repository: one source action for all the `dir` actions.
fn repository(
    cx: &mut Cx<'_>,
    entry: &ir::Stage,
    first: &ir::Action,
    dirs: &[&ir::Action],
) -> Node {
    let artifact = artifact_of(first);
    for d in dirs {
        let folder = match d.params.get("path") {
            Some(Expr::Str { value }) => folder(value),
            _ => None,
        };
        let Some(folder) = folder else {
            let at = cx.head(d.span);
            cx.refuse(
                Code::E0501,
                at,
                format!("`{}` snapshots a folder outside the pipeline's folder", d.name),
                "its `path` leaves the repository",
                "on CodePipeline a `dir` source is a folder of the repository holding the pipeline: use a relative path without `..`",
            );
            continue;
        };
        let exclude = match d.params.get("exclude") {
            Some(Expr::List { items }) => items
                .iter()
                .filter_map(|e| match e {
                    Expr::Str { value } => Some(value.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for o in &d.outputs {
            cx.artifacts.insert(
                o.name.clone(),
                Loc {
                    artifact: artifact.clone(),
                    folder: (folder != ".").then(|| folder.clone()),
                    exclude: exclude.clone(),
                },
            );
        }
    }
    repository_action(cx, entry, first, dirs, &artifact)
}

fn repository_action(
    cx: &mut Cx<'_>,
    entry: &ir::Stage,
    first: &ir::Action,
    dirs: &[&ir::Action],
    artifact: &str,
) -> Node {
    let git = cx.git_triggers();
    let ns = namespace(&entry.name, &first.name);
    cx.repo = Some(Repo {
        namespace: ns.clone(),
        git,
    });
    cx.dummy.get_or_insert_with(|| artifact.to_string());
    // Runs start on pushes when the pipeline has no trigger (every event), or through its
    // push and pull request triggers; not when it has only `schedule` and `manual` ones.
    let detect = cx.ir.pipeline.triggers.is_empty() || git;
    if git {
        cx.trigger_source = Some(first.name.clone());
    }
    let (provider, config) = if git {
        let connection = connection(cx);
        let repo = cx.param(
            "RepositoryId",
            "The repository holding the pipeline, as OWNER/NAME on its host".into(),
            None,
        );
        let branch = cx.param(
            "RepositoryBranch",
            "The branch the pipeline's `dir` sources are checked out from".into(),
            Some("main"),
        );
        (
            "CodeStarSourceConnection",
            Node::map([
                ("ConnectionArn", connection),
                ("FullRepositoryId", repo),
                ("BranchName", branch),
                ("OutputArtifactFormat", Node::str("CODE_ZIP")),
                (
                    "DetectChanges",
                    Node::str(if detect { "true" } else { "false" }),
                ),
            ]),
        )
    } else {
        let bucket = cx.param(
            "SourceBucket",
            "The S3 bucket (versioned) holding a zip of the pipeline's folder".into(),
            None,
        );
        let default_key = format!("{}/source.zip", cx.ir.pipeline.name);
        let key = cx.param(
            "SourceObjectKey",
            "The key of the zip of the pipeline's folder in SourceBucket".into(),
            Some(&default_key),
        );
        (
            "S3",
            Node::map([
                ("S3Bucket", bucket),
                ("S3ObjectKey", key),
                ("PollForSourceChanges", Node::str("false")),
            ]),
        )
    };
    let note = if dirs.len() > 1 {
        format!(
            "{} (and the `dir` actions {}): the repository",
            cx.place(first.span),
            dirs[1..]
                .iter()
                .map(|d| format!("`{}`", d.name))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!("{}: the repository", cx.place(first.span))
    };
    source_action(&first.name, provider, config, artifact, &ns).commented(note)
}

/// `path` of a `dir` action as a folder of the repository (`.` for its root), or `None`
/// when it leaves it.
fn folder(path: &str) -> Option<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if path.starts_with('/') || parts.contains(&"..") {
        return None;
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

fn connection(cx: &mut Cx<'_>) -> Node {
    cx.param(
        "ConnectionArn",
        "The ARN of the CodeStar connection to the repositories' host".into(),
        None,
    )
}

/// A `git` action: a `CodeStar` connection to its repository.
fn git(cx: &mut Cx<'_>, entry: &ir::Stage, a: &ir::Action) -> Option<Node> {
    let repo = match a.params.get("repo") {
        Some(Expr::Str { value }) => repository_id(value),
        _ => None,
    };
    let Some(repo) = repo else {
        let at = cx.head(a.span);
        cx.refuse(
            Code::E0501,
            at,
            format!("`{}` clones a repository CodePipeline cannot connect to", a.name),
            "not a GitHub, GitLab or Bitbucket repository written out",
            "CodePipeline checks out repositories through a CodeStar connection: write `repo` as `https://github.com/OWNER/NAME.git` (or gitlab.com, bitbucket.org)",
        );
        return None;
    };
    let branch = match a.params.get("ref") {
        Some(Expr::Str { value }) if value != "HEAD" => Node::str(value),
        Some(Expr::Str { .. }) | None => {
            let name = format!("{}Branch", camel(&a.name));
            cx.param(
                &name,
                format!("The branch `{}` checks out (`ref = \"HEAD\"`)", a.name),
                Some("main"),
            )
        }
        Some(_) => {
            let at = cx.head(a.span);
            cx.refuse(
                Code::E0502,
                at,
                format!("the `ref` of `{}` is computed", a.name),
                "CodePipeline needs the branch written out",
                "write `ref` as a branch name",
            );
            return None;
        }
    };
    let artifact = artifact_of(a);
    for o in &a.outputs {
        cx.artifacts.insert(
            o.name.clone(),
            Loc {
                artifact: artifact.clone(),
                folder: None,
                exclude: Vec::new(),
            },
        );
    }
    cx.dummy.get_or_insert_with(|| artifact.clone());
    let first_git = cx.trigger_source.is_none() && cx.git_triggers();
    if first_git {
        cx.trigger_source = Some(a.name.clone());
    }
    let detect = cx.ir.pipeline.triggers.is_empty() || first_git;
    let connection = connection(cx);
    let config = Node::map([
        ("ConnectionArn", connection),
        ("FullRepositoryId", Node::str(repo)),
        ("BranchName", branch),
        ("OutputArtifactFormat", Node::str("CODE_ZIP")),
        (
            "DetectChanges",
            Node::str(if detect { "true" } else { "false" }),
        ),
    ]);
    let ns = namespace(&entry.name, &a.name);
    let place = cx.place(a.span);
    Some(
        source_action(&a.name, "CodeStarSourceConnection", config, &artifact, &ns).commented(place),
    )
}

/// `OWNER/NAME` of a repository URL on GitHub, GitLab or Bitbucket.
fn repository_id(url: &str) -> Option<String> {
    let rest = ["https://", "http://", "ssh://git@", "git@"]
        .iter()
        .find_map(|p| url.strip_prefix(p))?;
    let rest = ["github.com", "gitlab.com", "bitbucket.org"]
        .iter()
        .find_map(|h| rest.strip_prefix(h))?;
    let rest = rest.trim_start_matches([':', '/']);
    let rest = rest
        .strip_suffix(".git")
        .unwrap_or(rest)
        .trim_end_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    let ok = parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    ok.then(|| rest.to_string())
}

/// The generated S3 source of a pipeline with none.
fn generated(cx: &mut Cx<'_>) -> Node {
    let bucket = cx.param(
        "SourceBucket",
        "The S3 bucket (versioned) holding the object that starts a run (any zip)".into(),
        None,
    );
    let default_key = format!("{}/start.zip", cx.ir.pipeline.name);
    let key = cx.param(
        "SourceObjectKey",
        "The key of that object in SourceBucket".into(),
        Some(&default_key),
    );
    cx.dummy = Some(SOURCE_STAGE.to_string());
    let config = Node::map([
        ("S3Bucket", bucket),
        ("S3ObjectKey", key),
        ("PollForSourceChanges", Node::str("false")),
    ]);
    source_action(SOURCE_STAGE, "S3", config, SOURCE_STAGE, SOURCE_STAGE)
        .commented("generated: CodePipeline's first stage must hold a source action; actions with no input get its artifact (unused)")
}

fn source_action(name: &str, provider: &str, config: Node, artifact: &str, ns: &str) -> Node {
    let owner = "AWS";
    Node::map([
        ("Name", Node::str(name)),
        (
            "ActionTypeId",
            Node::map([
                ("Category", Node::str("Source")),
                ("Owner", Node::str(owner)),
                ("Provider", Node::str(provider)),
                ("Version", Node::str("1")),
            ]),
        ),
        ("RunOrder", Node::Int(1)),
        ("Configuration", config),
        (
            "OutputArtifacts",
            Node::Seq(vec![Node::map([("Name", Node::str(artifact))])]),
        ),
        ("Namespace", Node::str(ns)),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_ids_from_urls() {
        let id = super::repository_id;
        assert_eq!(
            id("https://github.com/acme/engine.git").as_deref(),
            Some("acme/engine")
        );
        assert_eq!(
            id("git@gitlab.com:acme/sub/app.git").as_deref(),
            Some("acme/sub/app")
        );
        assert_eq!(id("https://example.com/acme/engine.git"), None);
        assert_eq!(id("https://github.com/acme"), None);
    }

    #[test]
    fn dir_paths_as_folders() {
        assert_eq!(super::folder(".").as_deref(), Some("."));
        assert_eq!(
            super::folder("./services/api/").as_deref(),
            Some("services/api")
        );
        assert_eq!(super::folder("../x"), None);
        assert_eq!(super::folder("/abs"), None);
    }
}
