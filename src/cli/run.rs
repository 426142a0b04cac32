//! `pipec run`: the plan (`--dry-run`), or the run itself with its history.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::check::{Format, print_report};
use super::error::{Error, Outcome};
use crate::ir::{Ir, TriggerKind};
use crate::runtime::eval::{EvalError, Scope, Value, eval};
use crate::runtime::plan::{Plan, RunFacts, Verdict, plan};
use crate::runtime::secrets::{Inherited, Sources};
use crate::runtime::trigger::{Decision, Event, decide};
use crate::source::SourceMap;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EventKind {
    Push,
    #[value(name = "pull_request")]
    PullRequest,
    Schedule,
    Manual,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PrEvent {
    Opened,
    Updated,
    Closed,
}

/// Run a pipeline (a `.pipe` file or the IR JSON of `pipec compile`) on this machine.
///
/// Stages follow the stage graph (independent branches side by side); actions of a stage run
/// as their `after` order allows, at most `--jobs` at once, each attempt in a fresh workspace
/// under the state directory. Artifacts and exports pass between actions; secrets are read
/// from the environment or files when the run starts and masked in everything shown or
/// stored. Every change is recorded in the run history (`pipec runs`, `pipec show`,
/// `pipec logs`). On a terminal you see a live view; otherwise timestamped lines. Ctrl-C stops
/// the run (a second one kills at once). `--dry-run` prints the plan instead.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec run ci/app.pipe                        run it, history in the nearest .pipec/\n  pipec run ci/app.pipe --param env=prod -v    set a param, stream every action's output\n  pipec run ci/app.pipe --dry-run              what would run, in what order, and why\n  pipec run ci/app.pipe --event push --branch main --changed src/lib.rs\n  pipec logs last build.compile                then: one action's output\n\nExit status: 0 succeeded (or planned, or no trigger matched the event), 1 invalid pipeline or params, or the run failed, 2 usage error or unusable state directory, 3 the run is held, 130 stopped (Ctrl-C, SIGTERM)."
)]
pub(crate) struct Args {
    /// The pipeline: a `.pipe` file, or IR JSON written by `pipec compile`.
    pub(crate) file: PathBuf,
    /// Set a param: NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = crate::params::parse_assignment)]
    pub(crate) params: Vec<(String, String)>,
    /// Print the plan and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// The event that starts the run: the triggers decide whether a push, pull request or
    /// schedule starts it; a manual start (`manual`, the default) always runs.
    #[arg(long, value_enum)]
    event: Option<EventKind>,
    /// The branch (also `run.branch`; default: from the git repository around the file).
    #[arg(long)]
    branch: Option<String>,
    /// The tag (also `run.tag`).
    #[arg(long)]
    tag: Option<String>,
    /// The commit (also `run.commit`; default: from the git repository around the file).
    #[arg(long)]
    commit: Option<String>,
    /// The pull request event.
    #[arg(long, value_enum)]
    pr_event: Option<PrEvent>,
    /// Changed paths, for `paths` filters (repeatable).
    #[arg(long, num_args = 1..)]
    changed: Vec<String>,
    /// State directory (default: `PIPEC_STATE_DIR`, else the nearest `.pipec/`, else `./.pipec/`).
    #[arg(long, env = "PIPEC_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Actions running at once, across the whole run (default: the number of CPUs; a nested
    /// `pipeline` action's run has a limit of its own).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// Run each `sh` action that has an `image` in a container of it, with podman or docker
    /// (`auto`, the default: podman, else docker). Without it, actions run on this machine.
    #[arg(long, env = "PIPEC_CONTAINERS", value_enum, num_args = 0..=1, default_missing_value = "auto", value_name = "RUNTIME")]
    pub(crate) containers: Option<super::containers::Choice>,
    /// The pipeline as IR JSON already checked (by `pipec serve`): it is run instead of
    /// reading FILE, which still names where the pipeline lives (its folder, its git facts).
    #[arg(long, hide = true, value_name = "IR")]
    compiled: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Outcome {
    // Asking git for the commit and branch takes a process start (milliseconds): it runs
    // while the file is checked.
    let (ir, facts) = std::thread::scope(|s| {
        let asked = s.spawn(|| facts(args));
        let ir = load(args);
        (ir, asked.join().unwrap_or_else(|_| facts(args)))
    });
    let ir = ir?;
    let event = event_of(args, &facts);
    let notes = match decide(&ir.pipeline.triggers, &event) {
        Decision::Start { notes } => notes,
        Decision::Ignore { reasons } => {
            super::output::say(&format!(
                "no trigger of pipeline `{}` matches this event; nothing runs:",
                ir.pipeline.name
            ));
            for r in reasons {
                super::output::say(&format!("  - {r}"));
            }
            return Ok(super::exit::OK);
        }
    };
    let Some(values) = param_values(&ir, args) else {
        return Err(Error::diagnosed());
    };
    for n in notes {
        super::output::say(&format!("note: {n}"));
    }
    if args.dry_run {
        print!(
            "{}",
            render(&ir, &plan(&ir, &values, &facts), &values, &facts)
        );
        return Ok(super::exit::OK);
    }
    let containers = super::containers::resolve(args.containers, &ir)?;
    super::execute::run(args, &ir, &values, &facts, &containers)
}

/// A pipeline file's IR: a `.pipe` file checked (its diagnostics shown), or compiled IR JSON
/// validated. `what` is what the caller does with it ("run", "draw"). The source map holds
/// the checked sources (empty for JSON).
pub(crate) fn load_ir(file: &std::path::Path, what: &str) -> Result<(Ir, SourceMap), Error> {
    let text = super::files::read_pipeline(file).map_err(Error::usage)?;
    if super::files::is_ir(file) {
        let ir = crate::ir::from_json(&text)
            .map_err(|e| Error::usage(format!("`{}`: {e}", file.display())))?;
        if let Err(why) = crate::ir::validate(&ir) {
            return Err(Error::invalid(format!(
                "`{}` is not a valid pipeline: {why}",
                file.display()
            ))
            .help("compile it again with `pipec compile`"));
        }
        return Ok((ir, SourceMap::new()));
    }
    let mut map = SourceMap::new();
    let root = map.add(super::files::display_name(file), text);
    let out = crate::compile(&mut map, root, &mut super::files::FsLoader);
    if !out.diagnostics.is_empty() {
        print_report(&map, 1, &out.diagnostics, Format::Human);
    }
    let Some(ir) = out.ir else {
        if !out
            .diagnostics
            .iter()
            .any(crate::diagnostics::Diagnostic::is_error)
        {
            return Err(Error::invalid(format!(
                "`{}` has no pipeline to {what} (only templates)",
                map.get(root).name
            )));
        }
        return Err(Error::diagnosed());
    };
    Ok((ir, map))
}

/// Whether the run's event starts the pipeline (a manual start, or no `--event`: yes).
fn triggered(ir: &Ir, args: &Args) -> bool {
    let event = event_of(args, &facts(args));
    matches!(
        decide(&ir.pipeline.triggers, &event),
        Decision::Start { .. }
    )
}

fn event_of(args: &Args, facts: &RunFacts) -> Event {
    Event {
        kind: args.event.map(|e| match e {
            EventKind::Push => TriggerKind::Push,
            EventKind::PullRequest => TriggerKind::PullRequest,
            EventKind::Schedule => TriggerKind::Schedule,
            EventKind::Manual => TriggerKind::Manual,
        }),
        branch: facts.branch.clone(),
        tag: facts.tag.clone(),
        changed: (!args.changed.is_empty()).then(|| {
            args.changed
                .iter()
                .map(|c| crate::paths::normalize(std::path::Path::new(c)))
                .collect()
        }),
        pr_event: args.pr_event.map(|e| match e {
            PrEvent::Opened => "opened".into(),
            PrEvent::Updated => "updated".into(),
            PrEvent::Closed => "closed".into(),
        }),
    }
}

fn load(args: &Args) -> Result<Ir, Error> {
    let (ir, map) = load_ir(args.compiled.as_ref().unwrap_or(&args.file), "run")?;
    // Param values are bound after the trigger decision (an event no trigger matches runs
    // nothing, whatever the params); here only to show E0206 with the source.
    if let Err(diags) = crate::params::bind(&ir, &args.params) {
        if triggered(&ir, args) {
            print_report(&map, 1, &diags, Format::Human);
            return Err(Error::diagnosed());
        }
    }
    Ok(ir)
}

/// Param values: given ones, else defaults (with `env(…)` and `file(…)` read now).
fn param_values(ir: &Ir, args: &Args) -> Option<BTreeMap<String, Value>> {
    let base = args
        .file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    match param_values_of(ir, &args.params, &base, &Inherited::default()) {
        Ok(v) => Some(v),
        Err(why) => {
            eprintln!("{why}");
            None
        }
    }
}

/// Binds `given` to the params of `ir` and evaluates defaults (relative `file(…)` paths
/// against `base`) in the environment the run inherits; the error is the text to show. A
/// default may not read the source of a secret (E0303), of this run or of one around it.
pub(crate) fn param_values_of(
    ir: &Ir,
    given: &[(String, String)],
    base: &std::path::Path,
    inherited: &Inherited,
) -> Result<BTreeMap<String, Value>, String> {
    let bound = crate::params::bind(ir, given).map_err(|diags| {
        diags
            .into_iter()
            .map(|d| {
                format!(
                    "error[{}]: {}{}",
                    d.code,
                    d.message,
                    d.help.map(|h| format!("\nhelp: {h}")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let scope = DefaultsScope {
        base: base.to_path_buf(),
        sources: Sources::new(ir, base, inherited),
        inherited,
        refused: std::cell::RefCell::new(None),
    };
    let mut out = BTreeMap::new();
    for (name, expr) in bound {
        let value = eval(&expr, &scope);
        if let Some(why) = scope.refused.take() {
            return Err(format!(
                "error[E0303]: param `{name}` cannot read {why}\nhelp: a secret reaches an action only through `env`; give `{name}` another default, or pass `--param {name}=VALUE`"
            ));
        }
        match value {
            Ok(v) => {
                // A default read from `env(…)` or `file(…)` is known only now.
                crate::params::check_value(ir, &name, &v.literal())?;
                out.insert(name, v);
            }
            Err(EvalError::Unknown(what) | EvalError::Invalid(what)) => {
                return Err(format!(
                    "error: param `{name}` has no value: {what}\nhelp: pass `--param {name}=VALUE`"
                ));
            }
        }
    }
    Ok(out)
}

/// Evaluates param defaults: literals, `env(…)` and `file(…)`, except the sources of secrets.
struct DefaultsScope<'a> {
    base: PathBuf,
    sources: Sources<'a>,
    inherited: &'a Inherited,
    /// What a default tried to read that is the source of a secret, and why it may not.
    refused: std::cell::RefCell<Option<String>>,
}

impl DefaultsScope<'_> {
    fn refuse(&self, what: String) {
        self.refused.borrow_mut().get_or_insert(what);
    }
}

impl Scope for DefaultsScope<'_> {
    fn param(&self, _: &str) -> Option<Value> {
        None
    }
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
    fn export(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }
    fn run_field(&self, _: &str) -> Option<Value> {
        None
    }
    fn stage_status(&self, _: &str) -> Option<String> {
        None
    }
    fn env_var(&self, name: &str) -> Option<String> {
        if let Some(why) = self.sources.var_refusal(name) {
            self.refuse(format!("`{name}`: {why}"));
            return None;
        }
        match self.inherited.env.get(name) {
            Some(passed) => Some(passed.value.clone()),
            None => std::env::var(name).ok(),
        }
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        let p = self.base.join(path);
        if let Some(why) = self.sources.file_refusal(&p) {
            self.refuse(format!("`{path}`: {why}"));
            return Err(why);
        }
        super::files::read_value(&p)
    }
}

/// `run.branch` and `run.commit`: the flags, else the git repository around the file (one
/// `git rev-parse` for both; none when both flags are given).
fn facts(args: &Args) -> RunFacts {
    let (commit, branch) = if args.commit.is_some() && args.branch.is_some() {
        (None, None)
    } else {
        repository_head(&args.file)
    };
    RunFacts {
        branch: args.branch.clone().or(branch),
        tag: args.tag.clone(),
        commit: args.commit.clone().or(commit),
        trigger: match args.event {
            Some(EventKind::Push) => "push",
            Some(EventKind::PullRequest) => "pull_request",
            Some(EventKind::Schedule) => "schedule",
            Some(EventKind::Manual) | None => "manual",
        }
        .into(),
    }
}

/// The commit and the branch checked out in the git repository around `file` (`None` for
/// each outside a repository, before its first commit, or, for the branch, on a detached
/// `HEAD`).
fn repository_head(file: &std::path::Path) -> (Option<String>, Option<String>) {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    // `--abbrev-ref` applies to the names after it: the full hash, then the branch.
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"])
        .output();
    let Ok(out) = out else {
        return (None, None);
    };
    if !out.status.success() {
        return (None, None);
    }
    let Ok(text) = String::from_utf8(out.stdout) else {
        return (None, None);
    };
    let mut lines = text.lines().map(str::trim);
    let known = |s: Option<&str>| {
        s.filter(|s| !s.is_empty() && *s != "HEAD")
            .map(str::to_string)
    };
    let commit = known(lines.next());
    let branch = known(lines.next());
    (commit, branch)
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Runs => "runs".into(),
        Verdict::Skipped(why) => format!("skipped: {why}"),
        Verdict::NotReached(why) => format!("not reached: {why}"),
        Verdict::Held(why) => format!("held: {why}"),
        Verdict::Fails(why) => format!("fails the run: {why}"),
        Verdict::Depends(why) => format!("decided while running: {why}"),
        Verdict::RunsOrSkipped(why) => {
            format!("runs, or is skipped by its entry (decided while running: {why})")
        }
        Verdict::AfterFailure(why) => format!("not started: {why}"),
        Verdict::Waits(why) => format!("runs in its deployment window: {why}"),
    }
}

fn render(ir: &Ir, plan: &Plan, values: &BTreeMap<String, Value>, facts: &RunFacts) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "plan of pipeline `{}` (dry run: nothing is executed)\n",
        ir.pipeline.name
    );
    for (i, s) in plan.stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. stage `{}`: {}",
            i + 1,
            s.name,
            verdict_text(&s.verdict)
        );
        let mut step = 0;
        let kinds = ir.pipeline.stages.iter().find(|st| st.name == s.name);
        for a in &s.actions {
            let approval = kinds
                .and_then(|st| st.actions.iter().find(|x| x.name == a.name))
                .is_some_and(|x| x.kind == crate::ir::Kind::Approval);
            if a.step != step {
                step = a.step;
                let _ = writeln!(out, "     step {step}:");
            }
            let after = if a.after.is_empty() {
                String::new()
            } else {
                format!(" (after {})", a.after.join(", "))
            };
            let verdict = match &a.verdict {
                // An approval holds its action until a decision (`pipec approve`).
                Verdict::Runs if approval => "waits for approval".to_string(),
                Verdict::RunsOrSkipped(why) if approval => format!(
                    "waits for approval, or is skipped by its entry (decided while running: {why})"
                ),
                v => verdict_text(v),
            };
            let _ = writeln!(out, "       - `{}`{after}: {verdict}", a.name);
            // An `aws` action: each call it would make.
            let aws = kinds
                .and_then(|st| st.actions.iter().find(|x| x.name == a.name))
                .filter(|x| x.kind == crate::ir::Kind::Aws);
            if let (Some(x), false) = (aws, matches!(a.verdict, Verdict::Skipped(_))) {
                let label = format!("{}.{}", s.name, a.name);
                for call in crate::runtime::plan::aws_calls(x, &label, values, facts) {
                    let _ = writeln!(out, "           {call}");
                }
            }
        }
    }
    out
}
