//! The pipeline's items: mode, timeout, params, secrets, triggers, stages and their items,
//! and the inbound edges of every stage (§6).

use std::collections::BTreeMap;

use super::hash::FastMap;
use super::kinds::{MAX_TIMEOUT, RESERVED_STAGES, kind_by_name};
use super::types::{Ctx, Scope};
use super::{
    ActionModel, Checker, ConditionModel, EdgeModel, Model, Site, StageModel, TemplateDef,
};
use crate::ast::{self, AttrValue, ExprKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Kind};
use crate::source::Span;
use crate::syntax::{Restart, StageStream};

impl Checker<'_> {
    // ------------------------------------------------------------------ pipeline

    /// Checks the pipeline. It takes the AST by value and drops each stage's syntax once the
    /// stage is checked, so that a big file never holds its whole AST and model at once.
    pub(super) fn pipeline(
        &mut self,
        p: ast::Pipeline,
        streamed: Option<StageStream>,
    ) -> Result<Model, Restart> {
        let mut model = Model {
            name: p.name.clone(),
            span: p.span,
            mode: ir::Mode::Superseded,
            timeout: None,
            retention: ir::Retention::default(),
            params: vec![],
            secrets: vec![],
            triggers: vec![],
            notify: vec![],
            stages: vec![],
        };
        self.default_image = self.pipeline_image(&p.items);
        // Declarations first, so that every expression can refer to any of them.
        self.declarations(&p.items, &mut model);
        for item in &p.items {
            match item {
                // A repeated declaration was reported (E0202) and is not checked again.
                ast::PipelineItem::Param(param)
                    if self
                        .params
                        .get(&param.name.name)
                        .is_some_and(|(_, s)| *s == param.name.span) =>
                {
                    model.params.push(self.param(param));
                }
                ast::PipelineItem::Secret(sec)
                    if self
                        .secrets
                        .get(&sec.name.name)
                        .is_some_and(|s| *s == sec.name.span) =>
                {
                    model.secrets.push(self.secret(sec));
                }
                _ => {}
            }
        }
        self.triggers_and_notify(&p.items, &mut model);
        // Stages in file order, each declared, checked and dropped before the next; uses
        // of later stages are resolved once all are declared.
        let mut transitions: Vec<ast::Transition> = Vec::new();
        for item in p.items {
            match item {
                ast::PipelineItem::Stage(st) => self.stage_in_order(&st),
                ast::PipelineItem::Transition(t) => transitions.push(t),
                _ => {}
            }
        }
        if let Some(mut stream) = streamed {
            while let Some((st, literal_errors)) = stream.next_stage()? {
                self.sink.extend(literal_errors);
                self.stage_in_order(&st);
                stream.done(st);
            }
        }
        self.resolve_pending();
        let transitions: Vec<&ast::Transition> = transitions.iter().collect();
        self.edges(&transitions);
        self.release_rules(&mut model);
        model.stages = std::mem::take(&mut self.stages);
        Ok(model)
    }

    /// The pipeline's settings (each at most once, E0202), params and secrets.
    fn declarations(&mut self, items: &[ast::PipelineItem], model: &mut Model) {
        let mut first_of: BTreeMap<&str, Span> = BTreeMap::new();
        let mut once = |this: &mut Self, what: &'static str, span: Span| {
            if let Some(first) = first_of.get(what) {
                this.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!("`{what}` is set twice"),
                        span,
                        "set again here",
                    )
                    .label(*first, "first set here"),
                );
                false
            } else {
                first_of.insert(what, span);
                true
            }
        };
        for item in items {
            match item {
                ast::PipelineItem::Mode(m, span, _) => {
                    if once(self, "mode", *span) {
                        model.mode = *m;
                    }
                }
                ast::PipelineItem::Timeout(d, span) => {
                    if once(self, "timeout", *span) {
                        model.timeout = d.secs.map(|s| (s, d.span));
                        if let Some(secs) = d.secs {
                            self.timeout_range(secs, d.span, "pipeline");
                        }
                    }
                }
                ast::PipelineItem::Keep(ast::Keep::Runs(n, _), span) => {
                    if once(self, "keep … runs", *span) {
                        model.retention.runs = *n;
                    }
                }
                ast::PipelineItem::Keep(ast::Keep::Age(d), span) => {
                    if once(self, "keep DURATION", *span) {
                        model.retention.age_secs = d.secs;
                    }
                }
                ast::PipelineItem::Param(param) => self.declare_param(param),
                ast::PipelineItem::Secret(sec) => self.declare_secret(sec),
                ast::PipelineItem::Stage(_)
                | ast::PipelineItem::Trigger(_)
                | ast::PipelineItem::Transition(_)
                | ast::PipelineItem::Notify(_)
                | ast::PipelineItem::Image(..) => {}
            }
        }
    }

    /// The pipeline's triggers and `notify` items, in file order.
    fn triggers_and_notify(&mut self, items: &[ast::PipelineItem], model: &mut Model) {
        for item in items {
            match item {
                ast::PipelineItem::Trigger(t) => {
                    if let Some(t) = self.trigger(t) {
                        model.triggers.push(t);
                    }
                }
                ast::PipelineItem::Notify(n) => {
                    if let Some(n) = self.notify(n) {
                        model.notify.push(n);
                    }
                }
                _ => {}
            }
        }
    }

    /// Without a model to keep, a checked condition keeps only what the release rules read:
    /// its `else` result and the inputs of its `check` actions.
    fn lean_condition(&self, mut c: ConditionModel) -> ConditionModel {
        if !self.keep_model {
            c.rules.retain(|r| matches!(r, ir::CondRule::Check { .. }));
        }
        c
    }

    fn stage_in_order(&mut self, st: &ast::Stage) {
        if let Some(index) = self.declare_stage(st) {
            self.stage(index, st);
        }
    }

    pub(crate) fn timeout_range(&mut self, secs: u64, span: Span, what: &str) {
        if secs == 0 || secs > MAX_TIMEOUT {
            self.report(
                Diagnostic::new(
                    Code::E0410,
                    format!(
                        "{what} timeout is {}",
                        if secs == 0 {
                            "zero"
                        } else {
                            "longer than 30 days"
                        }
                    ),
                    span,
                    "out of range",
                )
                .note("a timeout must be more than zero and at most 30d"),
            );
        }
    }

    // ------------------------------------------------------------------ stages

    /// Declares a stage and its actions; `None` for a duplicate (reported).
    fn declare_stage(&mut self, st: &ast::Stage) -> Option<usize> {
        let name = &st.name.name;
        if let Some(&first) = self.stage_index.get(name) {
            let d = Diagnostic::new(
                Code::E0202,
                format!("stage `{name}` is defined twice"),
                st.name.span,
                "defined again here",
            )
            .label(self.stages[first].name.span, "first defined here");
            self.report(d);
            return None;
        }
        if RESERVED_STAGES.contains(&name.as_str()) {
            self.report(
                Diagnostic::new(Code::E0202, format!("`{name}` is a reserved name"), st.name.span, "reserved")
                    .help(format!("rename the stage, e.g. `{name}_stage`"))
                    .note("stages may not be named `run`, `params` or `secrets`: those names start references"),
            );
        }
        let index = self.stages.len();
        self.stage_index.insert(name.clone(), index);
        let mut stage = StageModel {
            name: st.name.clone(),
            span: st.span,
            inbound: vec![],
            timeout: None,
            entry: None,
            on_success: None,
            on_failure: ir::FailurePolicy::Fail,
            // Sized exactly: every stage of the pipeline is kept until the release rules,
            // and growing by doubling would hold 8 slots for 5 actions.
            actions: Vec::with_capacity(
                st.items
                    .iter()
                    .filter(|i| matches!(i, ast::StageItem::Action(_)))
                    .count(),
            ),
            after: None,
            rollbacks: vec![],
            dangling: false,
        };
        for item in &st.items {
            let ast::StageItem::Action(a) = item else {
                continue;
            };
            let first = self.action_index.get(&(index, a.name.name.clone()));
            if let Some(first) = first.map(|&i| &stage.actions[i]) {
                let d = Diagnostic::new(
                    Code::E0202,
                    format!(
                        "action `{}` is defined twice in stage `{name}`",
                        a.name.name
                    ),
                    a.name.span,
                    "defined again here",
                )
                .label(first.name.span, "first defined here");
                self.report(d);
                continue;
            }
            let exports = self.declared_exports(a);
            for e in &exports {
                self.export_index
                    .insert((index, stage.actions.len(), e.name.clone()));
            }
            let kind = self.peek_kind(&a.kind);
            self.action_index
                .insert((index, a.name.name.clone()), stage.actions.len());
            stage.actions.push(ActionModel {
                name: a.name.clone(),
                span: a.span,
                kind: kind.unwrap_or(Kind::Sh),
                template: None,
                category: ir::Category::Build,
                params: Vec::new(),
                after: vec![],
                inputs: vec![],
                outputs: vec![],
                exports,
                kind_exports: if kind == Some(Kind::Git) {
                    vec!["commit".into(), "branch".into()]
                } else {
                    vec![]
                },
                env: Vec::new(),
                timeout: None,
                retry: ir::Retry {
                    count: 0,
                    backoff_secs: 0,
                },
                when: None,
                conditional: false,
                image: None,
            });
        }
        self.stages.push(stage);
        Some(index)
    }

    /// The kind under a kind reference, without reporting anything.
    fn peek_kind(&self, k: &ast::KindRef) -> Option<Kind> {
        self.template_for(k).map_or_else(
            || k.segments.first().and_then(|s| kind_by_name(&s.name)),
            |t| t.kind,
        )
    }

    fn template_for(&self, k: &ast::KindRef) -> Option<&TemplateDef> {
        match k.segments.as_slice() {
            [one] => self.local.templates.get(&one.name),
            [m, t] => self
                .modules
                .get(&m.name)
                .and_then(|m| m.templates.get(&t.name)),
            _ => None,
        }
    }

    /// Exports named at the call site, else by the template body.
    fn declared_exports(&self, a: &ast::Action) -> Vec<ast::Ident> {
        if let Some(attr) = a.attrs.iter().find(|x| x.name.name == "exports") {
            if let AttrValue::Expr(ast::Expr {
                kind: ExprKind::List(items),
                ..
            }) = &attr.value
            {
                // Kept for the whole pipeline: sized exactly.
                let mut names = Vec::with_capacity(items.len());
                names.extend(items.iter().filter_map(|i| match &i.kind {
                    ExprKind::Path(p) if p.len() == 1 => Some(p[0].clone()),
                    _ => None,
                }));
                return names;
            }
            return vec![];
        }
        self.template_for(&a.kind)
            .map(|t| t.body.exports.clone())
            .unwrap_or_default()
    }

    fn stage(&mut self, index: usize, st: &ast::Stage) {
        let mut first_of: BTreeMap<&str, Span> = BTreeMap::new();
        let mut action_index = 0;
        for item in &st.items {
            let key = match item {
                ast::StageItem::After(..) => "after",
                ast::StageItem::Timeout(..) => "timeout",
                ast::StageItem::Entry(_) => "entry",
                ast::StageItem::OnSuccess(_) => "on success",
                ast::StageItem::OnFailure(..) => "on failure",
                ast::StageItem::Action(_) => "",
            };
            if !key.is_empty() {
                if let Some(first) = first_of.get(key) {
                    self.report(
                        Diagnostic::new(
                            Code::E0202,
                            format!("`{key}` is set twice in stage `{}`", st.name.name),
                            item.span(),
                            "set again here",
                        )
                        .label(*first, "first set here"),
                    );
                    continue;
                }
                first_of.insert(key, item.span());
            }
            match item {
                ast::StageItem::After(e, _) => {
                    let names = self.names(&AttrValue::Expr(e.clone()), true, "stage");
                    self.stages[index].after = Some(names);
                }
                ast::StageItem::Timeout(d, _) => {
                    if let Some(secs) = d.secs {
                        self.timeout_range(secs, d.span, "stage");
                        self.stages[index].timeout = Some((secs, d.span));
                    }
                }
                ast::StageItem::Entry(c) => {
                    let c = self.stage_condition(c, Site::Entry(index));
                    self.stages[index].entry = Some(self.lean_condition(c));
                }
                ast::StageItem::OnSuccess(c) => {
                    if let Some((ast::ElseResult::Rollback, span)) = c.otherwise {
                        self.stages[index].rollbacks.push(span);
                    }
                    let c = self.stage_condition(c, Site::OnSuccess(index));
                    self.stages[index].on_success = Some(self.lean_condition(c));
                }
                ast::StageItem::OnFailure(policy, _) => {
                    if let ast::FailurePolicy::Rollback(span) = policy {
                        self.stages[index].rollbacks.push(*span);
                    }
                    self.stages[index].on_failure = self.failure_policy(policy);
                }
                ast::StageItem::Action(a) => {
                    // Skip duplicates (declared once, reported by `declare_stage`).
                    let slot = self
                        .action_index
                        .get(&(index, a.name.name.clone()))
                        .copied();
                    if slot == Some(action_index)
                        && self.stages[index].actions[action_index].span == a.span
                    {
                        let mut model = self.action(a, Site::Action(index, action_index));
                        if !self.keep_model {
                            // Checked; only the IR would need them.
                            model.params = Vec::new();
                            model.env = Vec::new();
                            model.when = None;
                        }
                        let exports =
                            std::mem::take(&mut self.stages[index].actions[action_index].exports);
                        self.stages[index].actions[action_index] = ActionModel { exports, ..model };
                        action_index += 1;
                    }
                }
            }
        }
    }

    fn failure_policy(&mut self, p: &ast::FailurePolicy) -> ir::FailurePolicy {
        match p {
            ast::FailurePolicy::Fail => ir::FailurePolicy::Fail,
            ast::FailurePolicy::Rollback(_) => ir::FailurePolicy::Rollback,
            ast::FailurePolicy::Retry(count, scope) => {
                let n = match count {
                    Some((n, span)) if !(1..=10).contains(n) => {
                        self.report(
                            Diagnostic::new(Code::E0410, format!("`on failure retry {n}` is out of range"), *span, "must be 1 to 10")
                                .note("`on failure retry N` re-runs the stage's failed actions up to N times, 1 to 10"),
                        );
                        1
                    }
                    Some((n, _)) => u32::try_from(*n).unwrap_or(1),
                    None => 1,
                };
                let scope = match scope {
                    ast::RetryScope::Failed => ir::RetryScope::Failed,
                    ast::RetryScope::All => ir::RetryScope::All,
                };
                ir::FailurePolicy::Retry { count: n, scope }
            }
        }
    }

    fn stage_condition(&mut self, c: &ast::Condition, site: Site) -> ConditionModel {
        let ctx = Ctx {
            scope: Scope::Pipeline,
            site,
        };
        let mut rules = Vec::new();
        for r in &c.rules {
            match r {
                ast::CondRule::Require(e, span) => {
                    let expr = self.condition_expr(e, ctx, "a `require` rule");
                    // Without a model it would be dropped (`lean_condition`): spare its span's
                    // line and column.
                    if self.keep_model {
                        rules.push(ir::CondRule::Require {
                            expr,
                            span: self.ir_span(*span),
                        });
                    }
                }
                ast::CondRule::Window { cron, tz, span } => {
                    let c = self.pattern_string(cron, crate::patterns::cron, "cron expression");
                    let z = tz
                        .as_ref()
                        .map(|t| self.pattern_string(t, crate::patterns::time_zone, "time zone"));
                    if self.keep_model {
                        rules.push(ir::CondRule::Window {
                            cron: c,
                            tz: z,
                            span: self.ir_span(*span),
                        });
                    }
                }
                ast::CondRule::Check { kind, attrs, span } => {
                    let a = ast::Action {
                        name: ast::Ident {
                            name: "check".into(),
                            span: kind.span,
                        },
                        kind: kind.clone(),
                        attrs: attrs.clone(),
                        span: *span,
                    };
                    let m = self.action(&a, site);
                    rules.push(ir::CondRule::Check {
                        action: Box::new(super::lower::action(self.map, &m)),
                    });
                }
            }
        }
        let otherwise = match c.otherwise {
            Some((ir::ElseResult::Wait, at)) => self.else_wait(c, at),
            Some((result, _)) => result,
            None => ir::ElseResult::Fail,
        };
        ConditionModel {
            rules,
            otherwise,
            span: c.span,
        }
    }

    fn pattern_string<T>(
        &mut self,
        s: &ast::StrLit,
        check: fn(&str) -> Result<T, String>,
        what: &str,
    ) -> String {
        let Some(v) = s.as_plain() else {
            self.report(Diagnostic::new(
                Code::E0301,
                format!("a {what} cannot be interpolated"),
                s.span,
                "interpolated",
            ));
            return String::new();
        };
        if let Err(e) = check(&v) {
            self.report(Diagnostic::new(
                Code::E0304,
                format!("invalid {what} `{v}`"),
                s.span,
                e,
            ));
        }
        v
    }

    // ------------------------------------------------------------------ edges

    fn edges(&mut self, transitions: &[&ast::Transition]) {
        let mut targeted = vec![false; self.stages.len()];
        let mut explicit: Vec<Vec<EdgeModel>> = vec![Vec::new(); self.stages.len()];
        let afters: Vec<Option<Vec<ast::Ident>>> =
            self.stages.iter_mut().map(|s| s.after.take()).collect();
        for (i, after) in afters.iter().enumerate() {
            if let Some(after) = after {
                targeted[i] = true;
                for id in after {
                    if let Some(&from) = self.stage_index.get(&id.name) {
                        self.resolved(id.span, || super::Resolved::Stage(id.name.clone()));
                        explicit[i].push(EdgeModel {
                            from,
                            guard: None,
                            disabled: None,
                            span: id.span,
                        });
                    } else {
                        self.unknown_stage(id);
                        self.stages[i].dangling = true;
                    }
                }
            }
        }
        for t in transitions {
            let from = self.stage_index.get(&t.from.name).copied();
            let to = self.stage_index.get(&t.to.name).copied();
            for (end, found) in [(&t.from, from), (&t.to, to)] {
                match found {
                    Some(_) => self.resolved(end.span, || super::Resolved::Stage(end.name.clone())),
                    None => self.unknown_stage(end),
                }
            }
            let (Some(from), Some(to)) = (from, to) else {
                if let Some(to) = to {
                    self.stages[to].dangling = true;
                }
                continue;
            };
            targeted[to] = true;
            let guard = t.guard.as_ref().map(|g| {
                self.condition_expr(
                    g,
                    Ctx {
                        scope: Scope::Pipeline,
                        site: Site::Guard(from),
                    },
                    "a transition guard",
                )
            });
            let disabled = t.disabled.as_ref().map(|d| {
                let text = d.as_plain();
                if text.is_none() {
                    let e = ast::Expr {
                        kind: ExprKind::Str(d.clone()),
                        span: d.span,
                    };
                    self.not_interpolated(
                        &e,
                        Ctx {
                            scope: Scope::Pipeline,
                            site: Site::Nowhere,
                        },
                    );
                }
                text.unwrap_or_default()
            });
            explicit[to].push(EdgeModel {
                from,
                guard,
                disabled,
                span: t.span,
            });
        }
        for (i, edges) in explicit.into_iter().enumerate() {
            let inbound = if targeted[i] {
                edges
            } else if i > 0 {
                vec![EdgeModel {
                    from: i - 1,
                    guard: None,
                    disabled: None,
                    span: self.stages[i].name.span,
                }]
            } else {
                vec![]
            };
            self.stages[i].inbound = self.without_repeated_edges(i, inbound);
        }
    }

    /// E0202 for an edge declared twice; keeps the first of each.
    fn without_repeated_edges(&mut self, i: usize, inbound: Vec<EdgeModel>) -> Vec<EdgeModel> {
        let mut inbound = inbound;
        // The later declaration is the duplicate (§8), whichever form it has.
        inbound.sort_by_key(|e| e.span.start);
        let mut kept: Vec<EdgeModel> = Vec::with_capacity(inbound.len());
        let mut first_from: FastMap<usize, Span> = FastMap::default();
        for e in inbound {
            if let Some(&first) = first_from.get(&e.from) {
                self.report(
                    Diagnostic::new(
                        Code::E0202,
                        format!(
                            "edge `{}` -> `{}` is declared twice",
                            self.stages[e.from].name.name, self.stages[i].name.name
                        ),
                        e.span,
                        "declared again here",
                    )
                    .label(first, "first declared here"),
                );
                continue;
            }
            first_from.insert(e.from, e.span);
            kept.push(e);
        }
        kept
    }
}
