//! The built-in kinds (LANGUAGE.md §5): their parameters, default categories, and the
//! names reserved for common attributes.

use std::collections::BTreeMap;

use crate::ir::{self, Kind};

use super::types::Ty;

/// The attributes every action accepts (LANGUAGE.md §5).
pub(crate) const COMMON: &[&str] = &[
    "after", "input", "inputs", "output", "outputs", "exports", "env", "timeout", "retry", "when",
    "category", "image",
];

pub(crate) const KINDS: &[&str] = &["sh", "dir", "git", "approval", "wait", "pipeline", "aws"];
pub(crate) const CATEGORIES: &[&str] = &["source", "build", "test", "deploy", "approval", "invoke"];
pub(crate) const TYPES: &[&str] = &[
    "string", "int", "bool", "duration", "list", "map", "secret", "artifact", "script",
];
/// Stage names that would shadow reference roots (§7).
pub(crate) const RESERVED_STAGES: &[&str] = &["run", "params", "secrets"];
/// Longest `timeout` (§8, E0410): 30 days.
pub(crate) const MAX_TIMEOUT: u64 = 30 * 86_400;

pub(crate) struct KindParam {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Option<fn() -> ir::Expr>,
}

fn s(v: &str) -> ir::Expr {
    ir::Expr::Str {
        value: v.to_string(),
    }
}

/// A built-in kind's own parameters.
pub(crate) fn kind_params(kind: Kind) -> Vec<KindParam> {
    let p = |name, ty, default| KindParam { name, ty, default };
    let list = || Ty::List(Box::new(Ty::String));
    match kind {
        Kind::Sh => vec![
            p("run", Ty::Script, None),
            p("shell", Ty::String, Some(|| s("bash"))),
            p("workdir", Ty::String, Some(|| s("."))),
            p("namespace", Ty::String, Some(|| s(""))),
        ],
        Kind::Dir => vec![
            p("path", Ty::String, None),
            p("exclude", list(), Some(|| ir::Expr::List { items: vec![] })),
        ],
        Kind::Git => vec![
            p("repo", Ty::String, None),
            p("ref", Ty::String, Some(|| s("HEAD"))),
        ],
        Kind::Approval => vec![
            p("summary", Ty::String, Some(|| s(""))),
            p("url", Ty::String, Some(|| s(""))),
            p("notify", Ty::String, Some(|| s(""))),
            p(
                "approvers",
                list(),
                Some(|| ir::Expr::List { items: vec![] }),
            ),
        ],
        Kind::Wait => vec![p("duration", Ty::Duration, None)],
        Kind::Pipeline => vec![
            p("file", Ty::String, None),
            p(
                "params",
                Ty::Map(Box::new(Ty::String)),
                Some(|| ir::Expr::Map {
                    entries: BTreeMap::new(),
                }),
            ),
        ],
        // An empty string means "not set" (docs/aws.md).
        Kind::Aws => vec![
            p("provider", Ty::String, None),
            p("owner", Ty::String, Some(|| s("AWS"))),
            p("version", Ty::String, Some(|| s("1"))),
            p(
                "configuration",
                Ty::Map(Box::new(Ty::String)),
                Some(|| ir::Expr::Map {
                    entries: BTreeMap::new(),
                }),
            ),
            p("region", Ty::String, Some(|| s(""))),
            p("role", Ty::String, Some(|| s(""))),
            p("namespace", Ty::String, Some(|| s(""))),
        ],
    }
}

pub(crate) fn kind_by_name(name: &str) -> Option<Kind> {
    Some(match name {
        "sh" => Kind::Sh,
        "dir" => Kind::Dir,
        "git" => Kind::Git,
        "approval" => Kind::Approval,
        "wait" => Kind::Wait,
        "pipeline" => Kind::Pipeline,
        "aws" => Kind::Aws,
        _ => return None,
    })
}

pub(crate) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Sh => "sh",
        Kind::Dir => "dir",
        Kind::Git => "git",
        Kind::Approval => "approval",
        Kind::Wait => "wait",
        Kind::Pipeline => "pipeline",
        Kind::Aws => "aws",
    }
}

pub(crate) fn default_category(kind: Kind) -> ir::Category {
    match kind {
        Kind::Sh => ir::Category::Build,
        Kind::Dir | Kind::Git => ir::Category::Source,
        Kind::Approval => ir::Category::Approval,
        // The provider's, from the catalog (`check/aws.rs`); this is only the fallback.
        Kind::Wait | Kind::Pipeline | Kind::Aws => ir::Category::Invoke,
    }
}
