//! The steps of a stage's job: its actions in `after` order, each a step (`sh`, `git`,
//! `dir`, `wait`), with the downloads of the artifacts other stages made before them and an
//! upload after each step that outputs one.

use std::collections::BTreeSet;

use super::expr::{self, Site};
use super::{CHECKOUT, CHECKOUT_TAG, Cx, DOWNLOAD, DOWNLOAD_TAG, UPLOAD, UPLOAD_TAG};
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::export::doc::Node;
use crate::export::runner::{self, Host, Runner};
use crate::export::stages;
use crate::ir::{self, Expr, Kind, Part, Ref, Type};

/// The steps of `stage`'s actions. `gate` is the step condition of the stage's entry
/// (`steps.pipec_entry.outputs.entered == 'true'`), when it has one.
pub(super) fn steps(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    needs: &mut Vec<String>,
    gate: Option<&str>,
) -> Vec<Node> {
    let mut out = downloads(stage);
    if stage.actions.iter().any(|a| a.kind == Kind::Dir) {
        out.push(
            Node::map([
                ("name", Node::str("checkout")),
                ("uses", Node::str(CHECKOUT)),
                (
                    "with",
                    Node::map([("persist-credentials", Node::Bool(false))]),
                ),
            ])
            .commented(format!("actions/checkout {CHECKOUT_TAG}, pinned by commit")),
        );
    }
    for a in stages::order(stage) {
        let mut site = Site {
            stage: &stage.name,
            needs,
        };
        let cond = condition(cx, a, gate, &mut site);
        let Some(mut step) = step(cx, stage, a, &mut site) else {
            continue;
        };
        if let Some(c) = &cond {
            step.insert(1, ("if".into(), Node::Str(format!("${{{{ {c} }}}}"))));
        }
        out.push(Node::Map(step).commented(format!("{} ({})", a.name, cx.place(a.span))));
        for o in &a.outputs {
            out.push(upload(&a.name, &o.name));
        }
    }
    out
}

/// The step's `if`: the stage's entry and the action's `when`.
fn condition(
    cx: &mut Cx<'_>,
    a: &ir::Action,
    gate: Option<&str>,
    site: &mut Site<'_>,
) -> Option<String> {
    let when = a
        .when
        .as_ref()
        .and_then(|w| expr::expr(cx, w, site, a.span));
    match (gate, when) {
        (Some(g), Some(w)) => Some(format!("{g} && {w}")),
        (Some(g), None) => Some(g.to_string()),
        (None, w) => w,
    }
}

/// Downloads of the artifacts this stage's actions take that another stage made.
fn downloads(stage: &ir::Stage) -> Vec<Node> {
    let made_here: BTreeSet<&str> = stage
        .actions
        .iter()
        .flat_map(|a| a.outputs.iter().map(|o| o.name.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for i in stage.actions.iter().flat_map(|a| &a.inputs) {
        if made_here.contains(i.name.as_str()) || !seen.insert(i.name.as_str()) {
            continue;
        }
        out.push(
            Node::map([
                ("name", Node::Str(format!("download {}", i.name))),
                ("uses", Node::str(DOWNLOAD)),
                (
                    "with",
                    Node::map([
                        ("name", Node::str(i.name.clone())),
                        ("path", Node::Str(art_path(&i.name))),
                    ]),
                ),
            ])
            .commented(format!(
                "actions/download-artifact {DOWNLOAD_TAG}, pinned by commit"
            )),
        );
    }
    out
}

fn art_path(name: &str) -> String {
    format!(".pipec/art/{name}")
}

fn upload(action: &str, name: &str) -> Node {
    Node::map([
        ("name", Node::Str(format!("upload {name}"))),
        (
            "if",
            Node::Str(format!("${{{{ steps.{action}.outcome == 'success' }}}}")),
        ),
        ("uses", Node::str(UPLOAD)),
        (
            "with",
            Node::map([
                ("name", Node::str(name)),
                ("path", Node::Str(art_path(name))),
                ("include-hidden-files", Node::Bool(true)),
                ("if-no-files-found", Node::str("error")),
            ]),
        ),
    ])
    .commented(format!(
        "actions/upload-artifact {UPLOAD_TAG}, pinned by commit"
    ))
}

/// One action's step (without its `if`).
#[allow(clippy::match_wildcard_for_single_variants)] // Reason: kinds added later (`aws`) are refused too.
fn step(
    cx: &mut Cx<'_>,
    stage: &ir::Stage,
    a: &ir::Action,
    site: &mut Site<'_>,
) -> Option<Vec<(String, Node)>> {
    let mut m: Vec<(String, Node)> = vec![
        ("name".into(), Node::str(a.name.clone())),
        ("id".into(), Node::str(a.name.clone())),
    ];
    match a.kind {
        Kind::Sh | Kind::Git => {
            let (script, mut env, shell) = if a.kind == Kind::Git {
                git(cx, a, site)?
            } else {
                sh(cx, a, site)?
            };
            for (k, v) in &a.env {
                env.push((k.clone(), Node::Str(expr::text(cx, v, site, a.span)?)));
            }
            let runner = Runner {
                script,
                shell,
                workdir: literal(cx, a, "workdir", ".")?,
                ..Runner::of(Host::GitHub, stage, a)
            };
            m.push(("shell".into(), Node::str("bash")));
            if let Some(t) = a.timeout_secs {
                let total = (t + 5) * u64::from(a.retry.count + 1)
                    + a.retry.backoff_secs * u64::from(a.retry.count);
                m.push((
                    "timeout-minutes".into(),
                    Node::Int(i64::try_from(total.div_ceil(60)).unwrap_or(i64::MAX)),
                ));
            }
            if !env.is_empty() {
                m.push(("env".into(), Node::Map(env)));
            }
            m.push(("run".into(), Node::Str(runner::runner(&runner))));
        }
        Kind::Dir => {
            let path = literal(cx, a, "path", ".")?;
            let exclude = stages::globs(cx, a, "workflow")?;
            let name = a.outputs.first().map_or("src", |o| o.name.as_str());
            m.push(("shell".into(), Node::str("bash")));
            m.push((
                "run".into(),
                Node::Str(runner::dir(Host::GitHub, name, &path, &exclude)),
            ));
        }
        Kind::Wait => {
            let Some(run) = runner::sleep(a) else {
                return refuse_kind(cx, a, "a `wait` whose duration is not written out");
            };
            m.push(("run".into(), Node::Str(run)));
        }
        Kind::Approval => return None,
        Kind::Aws => return stages::refuse_aws(cx, a),
        _ => {
            let kind = stages::kind_name(a.kind);
            return refuse_kind(cx, a, &format!("a `{kind}` action"));
        }
    }
    Some(m)
}

fn refuse_kind<T>(cx: &mut Cx<'_>, a: &ir::Action, what: &str) -> Option<T> {
    cx.refuse(
        Code::E0501,
        a.span,
        format!("{what} on GitHub Actions (`{}`)", a.name),
        "not expressible on GitHub Actions",
        "run it as an `sh` action, or in a workflow of its own",
    );
    None
}

/// A kind parameter that must be written out (a plain string).
fn literal(cx: &mut Cx<'_>, a: &ir::Action, key: &str, default: &str) -> Option<String> {
    stages::literal(cx, a, key, default, "workflow")
}

type Script = (String, Vec<(String, Node)>, String);

/// A `git` action: pipec's checkout script, with its repository and reference in `env`.
fn git(cx: &mut Cx<'_>, a: &ir::Action, site: &mut Site<'_>) -> Option<Script> {
    let repo = a.params.get("repo");
    if let Some(Expr::Str { value }) = repo {
        if !value.contains("://") && !value.contains('@') {
            cx.refuse(
                Code::E0501,
                a.span,
                format!("`{}` clones a local repository on GitHub Actions", a.name),
                "a runner has no such folder",
                "name the repository by its URL",
            );
            return None;
        }
    }
    let mut env = Vec::new();
    for (var, key, default) in [
        ("PIPEC_GIT_REPO", "repo", ""),
        ("PIPEC_GIT_REF", "ref", "HEAD"),
    ] {
        let v = match a.params.get(key) {
            Some(e) => expr::text(cx, e, site, a.span)?,
            None => default.to_string(),
        };
        env.push((var.to_string(), Node::Str(v)));
    }
    Some((crate::shell::GIT_CHECKOUT.to_string(), env, "bash".into()))
}

/// An `sh` action: the script with each interpolation a quoted reference to a variable of
/// the step's `env` (as the runtime renders it).
fn sh(cx: &mut Cx<'_>, a: &ir::Action, site: &mut Site<'_>) -> Option<Script> {
    let shell = literal(cx, a, "shell", "bash")?;
    let parts: Vec<Part> = match a.params.get("run") {
        Some(Expr::Interp { parts, .. }) => parts.clone(),
        Some(Expr::Str { value }) => vec![Part::Text(value.clone())],
        _ => Vec::new(),
    };
    let posix = matches!(
        shell.rsplit('/').next().unwrap_or(&shell),
        "sh" | "bash" | "dash" | "zsh" | "ksh"
    );
    let mut text = String::new();
    let mut env = Vec::new();
    let mut quotes = crate::shell::QuoteTracker::new();
    let mut n = 0;
    let mut ok = true;
    for p in &parts {
        match p {
            Part::Text(t) => {
                quotes.feed(t);
                text.push_str(t);
            }
            Part::Expr(e) => {
                n += 1;
                if !posix || is_list(cx, e) {
                    cx.refuse(
                        Code::E0501,
                        a.span,
                        if posix {
                            format!("a list interpolated into the script of `{}` on GitHub Actions", a.name)
                        } else {
                            format!("`${{…}}` in the script of `{}`, whose shell `{shell}` is not a POSIX shell", a.name)
                        },
                        "the workflow passes values to scripts as single variables",
                        "pass the value in `env` and read it from the environment",
                    );
                    ok = false;
                    continue;
                }
                let var = format!("PIPEC_ARG_{n}");
                match expr::text(cx, e, site, a.span) {
                    Some(v) => env.push((var.clone(), Node::Str(v))),
                    None => ok = false,
                }
                let words = format!("\"${{{var}}}\"");
                let bare = format!("${{{var}}}");
                if let Some(r) = crate::shell::reference(quotes.quote(), &words, &bare, false) {
                    text.push_str(&r);
                } else {
                    cx.refuse(
                        Code::E0501,
                        a.span,
                        format!("`${{…}}` in `{}` stands in a here-document with a quoted delimiter (`<<'EOF'`), where nothing expands", a.name),
                        "`pipec run` refuses to run this script",
                        "quote the delimiter's word no more (`<<EOF`) or pass the value in `env`",
                    );
                    ok = false;
                }
                quotes.value();
            }
        }
    }
    ok.then_some((text, env, shell))
}

fn is_list(cx: &Cx<'_>, e: &Expr) -> bool {
    match e {
        Expr::List { .. } => true,
        Expr::Ref(Ref::Param { name }) => matches!(cx.param_type(name), Some(Type::List(_))),
        _ => false,
    }
}
