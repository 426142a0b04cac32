//! The intermediate representation: a checked, resolved pipeline, serialisable as JSON.
//!
//! Produced by `check` + [`lower`] from a file that checks clean, consumed by the runtime
//! (and written by `pipec compile`). Everything the runtime needs is here: templates are
//! expanded, names resolved to [`Ref`]s, durations in seconds, each input artifact carries the
//! path it is restored at, and spans (with line/column) point back at the source, so the
//! runtime never re-reads or re-checks source. The root carries [`IR_VERSION`]; a reader
//! rejects any other version with a clear error (see [`from_json`]).

pub mod aws;
pub mod describe;
pub mod graph;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped on every incompatible change of these types.
pub const IR_VERSION: u32 = 4;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ir {
    pub ir_version: u32,
    /// Source files, indexed by [`Span::file`]; relative paths in the pipeline are relative
    /// to the directory of the file a span names.
    pub files: Vec<String>,
    pub pipeline: Pipeline,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Superseded,
    Queued,
    Parallel,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub name: String,
    pub span: Span,
    pub mode: Mode,
    pub timeout_secs: Option<u64>,
    /// How many runs, or how long, `pipec prune` keeps (`keep 50 runs`, `keep 30d`; since
    /// version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    pub params: Vec<Param>,
    pub secrets: Vec<Secret>,
    pub triggers: Vec<Trigger>,
    /// `notify "URL" { … }`: the webhooks `pipec serve` sends on run events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    pub stages: Vec<Stage>,
}

/// A pipeline's retention: a run goes when it is not among the newest `runs`, or started
/// more than `age_secs` ago (docs/runtime.md, "Retention").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "of")]
pub enum Type {
    String,
    Int,
    Bool,
    Duration,
    List(Box<Type>),
    Map(Box<Type>),
    Secret,
    Artifact,
    Script,
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Int => f.write_str("int"),
            Type::Bool => f.write_str("bool"),
            Type::Duration => f.write_str("duration"),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Map(t) => write!(f, "map<{t}>"),
            Type::Secret => f.write_str("secret"),
            Type::Artifact => f.write_str("artifact"),
            Type::Script => f.write_str("script"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Type,
    /// `None`: required at run time (E0206).
    pub default: Option<Expr>,
    /// `allowed = […]`: the only values it may take (for a list, each element's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Expr>>,
    /// `pattern = "…"`: a regular expression the whole value (for a list, each element)
    /// must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum SecretSource {
    Env {
        var: String,
    },
    /// Relative to the directory of the file of the secret's span.
    File {
        path: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    pub source: SecretSource,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Push,
    PullRequest,
    Schedule,
    Manual,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub branches: Vec<String>,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    pub events: Vec<String>,
    pub cron: Option<String>,
    pub tz: Option<String>,
    /// `poll = DURATION` of a `push` trigger: how often `pipec serve` polls the pipeline's
    /// `git` sources (CodePipeline's `PollForSourceChanges`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_secs: Option<u64>,
    pub span: Span,
}

/// A run event a [`Notify`] is sent for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// An approval action began waiting for a decision.
    Approval,
    /// A run ended `failed`.
    Failed,
    /// A run ended `succeeded`.
    Succeeded,
    /// A stage is held (a disabled transition or an `else wait` window).
    Held,
}

impl NotifyEvent {
    /// Every event, in the order the language documents them.
    pub const ALL: [NotifyEvent; 4] = [
        NotifyEvent::Approval,
        NotifyEvent::Failed,
        NotifyEvent::Succeeded,
        NotifyEvent::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Approval => "approval",
            NotifyEvent::Failed => "failed",
            NotifyEvent::Succeeded => "succeeded",
            NotifyEvent::Held => "held",
        }
    }
}

/// `notify "URL" { events = […]  secret = secrets.NAME }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// An `http://` or `https://` URL.
    pub url: String,
    pub events: Vec<NotifyEvent>,
    /// The secret whose value signs each delivery (its name; the value is read by the server).
    pub secret: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    pub span: Span,
    /// Inbound edges (LANGUAGE.md §6); empty for the entry stage.
    pub inbound: Vec<Edge>,
    pub timeout_secs: Option<u64>,
    pub entry: Option<Condition>,
    pub on_success: Option<Condition>,
    pub on_failure: FailurePolicy,
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub from: String,
    pub guard: Option<Expr>,
    /// The reason, when declared `disabled`.
    pub disabled: Option<String>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElseResult {
    Skip,
    Fail,
    Rollback,
    /// An `entry` with a `window` rule: held (visible, resumable) until the window opens,
    /// at most the stage's timeout; its other rules that fail still fail the stage.
    Wait,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub rules: Vec<CondRule>,
    pub otherwise: ElseResult,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum CondRule {
    Require {
        expr: Expr,
        span: Span,
    },
    Window {
        cron: String,
        tz: Option<String>,
        span: Span,
    },
    Check {
        action: Box<Action>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryScope {
    Failed,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum FailurePolicy {
    Fail,
    Rollback,
    Retry { count: u32, scope: RetryScope },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Sh,
    Dir,
    Git,
    Approval,
    Wait,
    Pipeline,
    /// An AWS CodePipeline provider action (`ir::aws` is its catalog).
    Aws,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Source,
    Build,
    Test,
    Deploy,
    Approval,
    Invoke,
}

impl Category {
    /// The word as written in `.pipe` source (`deploy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Source => "source",
            Category::Build => "build",
            Category::Test => "test",
            Category::Deploy => "deploy",
            Category::Approval => "approval",
            Category::Invoke => "invoke",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub name: String,
    /// Relative path inside the workspace (`.` for `dir`/`git` results).
    pub path: String,
}

/// An input artifact of an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub name: String,
    /// The path its producer captured it from (`.` for `dir`/`git` results).
    pub path: String,
    /// `inputs = { NAME = "FOLDER" }`: restored under this folder of the workspace
    /// (relative, normalised, never `.`), at `FOLDER/PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
}

impl Input {
    /// Where it is restored, relative to the workspace.
    pub fn restored_at(&self) -> String {
        match &self.folder {
            Some(f) if self.path == "." => f.clone(),
            Some(f) => format!("{f}/{}", self.path),
            None => self.path.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub count: u32,
    pub backoff_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub span: Span,
    pub kind: Kind,
    /// `rust.build` when the action comes from a template.
    pub template: Option<String>,
    pub category: Category,
    /// The kind's own parameters (defaults filled in).
    pub params: BTreeMap<String, Expr>,
    pub after: Vec<String>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Artifact>,
    /// Names the action may write to `$PIPEC_OUTPUT` (for `git`: `commit`, `branch`).
    pub exports: Vec<String>,
    pub env: BTreeMap<String, Expr>,
    pub timeout_secs: Option<u64>,
    pub retry: Retry,
    pub when: Option<Expr>,
    /// The container image of an `sh` action (its own, else the pipeline's `image`): where
    /// `pipec run --containers` and the export targets run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Matches,
}

impl BinOp {
    /// The operator as written in `.pipe` source.
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Matches => "matches",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "ref")]
pub enum Ref {
    Param {
        name: String,
    },
    Secret {
        name: String,
    },
    Export {
        stage: String,
        action: String,
        name: String,
    },
    /// `run.id`, `run.branch`, …
    Run {
        field: String,
    },
    StageStatus {
        stage: String,
    },
    /// Only inside template bodies, replaced at expansion.
    TemplateParam {
        name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "part", content = "value")]
pub enum Part {
    Text(String),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "expr")]
pub enum Expr {
    Str {
        value: String,
    },
    Int {
        value: i64,
    },
    Bool {
        value: bool,
    },
    Duration {
        secs: u64,
    },
    List {
        items: Vec<Expr>,
    },
    Map {
        entries: BTreeMap<String, Expr>,
    },
    /// A string with interpolations; in a `script`, each interpolated value becomes one
    /// shell-quoted word (a list: one word per element).
    Interp {
        parts: Vec<Part>,
        script: bool,
    },
    Ref(Ref),
    Not {
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        func: String,
        args: Vec<Expr>,
    },
}

impl Expr {
    /// Calls `f` on every reference in the expression.
    pub fn refs<'a>(&'a self, f: &mut impl FnMut(&'a Ref)) {
        match self {
            Expr::Ref(r) => f(r),
            Expr::List { items } | Expr::Call { args: items, .. } => {
                for e in items {
                    e.refs(f);
                }
            }
            Expr::Map { entries } => entries.values().for_each(|e| e.refs(f)),
            Expr::Interp { parts, .. } => parts.iter().for_each(|p| {
                if let Part::Expr(e) = p {
                    e.refs(f);
                }
            }),
            Expr::Not { operand } => operand.refs(f),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.refs(f);
                rhs.refs(f);
            }
            Expr::Str { .. } | Expr::Int { .. } | Expr::Bool { .. } | Expr::Duration { .. } => {}
        }
    }

    /// Replaces template parameter references.
    #[must_use]
    pub fn substitute(&self, args: &BTreeMap<String, Expr>) -> Expr {
        let sub = |e: &Expr| e.substitute(args);
        match self {
            Expr::Ref(Ref::TemplateParam { name }) => {
                args.get(name).cloned().unwrap_or_else(|| self.clone())
            }
            Expr::List { items } => Expr::List {
                items: items.iter().map(sub).collect(),
            },
            Expr::Call { func, args: a } => Expr::Call {
                func: func.clone(),
                args: a.iter().map(sub).collect(),
            },
            Expr::Map { entries } => Expr::Map {
                entries: entries.iter().map(|(k, v)| (k.clone(), sub(v))).collect(),
            },
            Expr::Interp { parts, script } => Expr::Interp {
                parts: parts
                    .iter()
                    .map(|p| match p {
                        Part::Expr(e) => Part::Expr(sub(e)),
                        Part::Text(t) => Part::Text(t.clone()),
                    })
                    .collect(),
                script: *script,
            },
            Expr::Not { operand } => Expr::Not {
                operand: Box::new(sub(operand)),
            },
            Expr::Binary { op, lhs, rhs } => Expr::Binary {
                op: *op,
                lhs: Box::new(sub(lhs)),
                rhs: Box::new(sub(rhs)),
            },
            other => other.clone(),
        }
    }
}

/// Why an IR document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "this IR has version {found}, but this pipec reads version {IR_VERSION}; recompile it with `pipec compile`"
    )]
    Version { found: u64 },
    #[error("not a pipec IR document: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reads an IR document, checking its version before its shape.
pub fn from_json(text: &str) -> Result<Ir, ReadError> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let found = value
        .get("ir_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if found != u64::from(IR_VERSION) {
        return Err(ReadError::Version { found });
    }
    Ok(serde_json::from_value(value)?)
}

/// Writes an IR document as pretty JSON.
pub fn to_json(ir: &Ir) -> String {
    serde_json::to_string_pretty(ir).expect("IR types always serialise")
}

/// Writes an IR document as JSON on one line: what the run history keeps of each run (a
/// third of the pretty form's size; [`from_json`] takes either).
pub fn to_compact_json(ir: &Ir) -> String {
    serde_json::to_string(ir).expect("IR types always serialise")
}

/// Checks the structure a runtime relies on, for IR read from a file (which may have been
/// edited by hand): unique names, edges and `after` entries that name what exists, no
/// cycles, inputs that some action outputs. The IR `pipec compile` writes always passes.
pub fn validate(ir: &Ir) -> Result<(), Invalid> {
    check_structure(ir).map_err(Invalid)
}

/// Why an IR document is not a pipeline the runtime can run (see [`validate`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(String);

fn check_structure(ir: &Ir) -> Result<(), String> {
    let stages = &ir.pipeline.stages;
    if stages.is_empty() {
        return Err("the pipeline has no stages".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for s in stages {
        if !names.insert(s.name.as_str()) {
            return Err(format!("stage `{}` appears twice", s.name));
        }
    }
    let outputs: std::collections::BTreeSet<&str> = stages
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .flat_map(|a| a.outputs.iter().map(|o| o.name.as_str()))
        })
        .collect();
    for s in stages {
        if s.actions.is_empty() {
            return Err(format!("stage `{}` has no actions", s.name));
        }
        if let Some(e) = s.inbound.iter().find(|e| !names.contains(e.from.as_str())) {
            return Err(format!(
                "stage `{}` has an edge from unknown stage `{}`",
                s.name, e.from
            ));
        }
        let actions: std::collections::BTreeSet<&str> =
            s.actions.iter().map(|a| a.name.as_str()).collect();
        if actions.len() != s.actions.len() {
            return Err(format!("stage `{}` has two actions of one name", s.name));
        }
        for a in &s.actions {
            if let Some(p) = a.after.iter().find(|p| !actions.contains(p.as_str())) {
                return Err(format!(
                    "action `{}.{}` is after unknown action `{p}`",
                    s.name, a.name
                ));
            }
            if let Some(i) = a.inputs.iter().find(|i| !outputs.contains(i.name.as_str())) {
                return Err(format!(
                    "action `{}.{}` takes artifact `{}`, which no action outputs",
                    s.name, a.name, i.name
                ));
            }
            if let Some(i) = a.inputs.iter().find(|i| !inside(&i.restored_at())) {
                return Err(format!(
                    "action `{}.{}` restores artifact `{}` outside its workspace",
                    s.name, a.name, i.name
                ));
            }
        }
        let edges: Vec<(&str, &str)> = s
            .actions
            .iter()
            .flat_map(|a| a.after.iter().map(move |p| (p.as_str(), a.name.as_str())))
            .collect();
        if has_cycle(&actions.iter().copied().collect::<Vec<_>>(), &edges) {
            return Err(format!(
                "the actions of stage `{}` are ordered in a cycle",
                s.name
            ));
        }
    }
    let edges: Vec<(&str, &str)> = stages
        .iter()
        .flat_map(|s| {
            s.inbound
                .iter()
                .map(move |e| (e.from.as_str(), s.name.as_str()))
        })
        .collect();
    if has_cycle(&names.iter().copied().collect::<Vec<_>>(), &edges) {
        return Err("the stage graph has a cycle".into());
    }
    Ok(())
}

/// Whether a relative path stays inside the folder it is relative to.
fn inside(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && !path.split('/').any(|seg| seg == "..")
}

/// Kahn's algorithm: whether the graph has a cycle.
fn has_cycle(nodes: &[&str], edges: &[(&str, &str)]) -> bool {
    let mut indegree: BTreeMap<&str, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for (_, to) in edges {
        *indegree.entry(to).or_default() += 1;
    }
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut seen = 0;
    while let Some(n) = ready.pop() {
        seen += 1;
        for (from, to) in edges {
            if *from == n {
                let d = indegree.entry(to).or_default();
                *d -= 1;
                if *d == 0 {
                    ready.push(to);
                }
            }
        }
    }
    seen < indegree.len()
}
