//! The release-model rules (LANGUAGE.md §6–§8): stage graph and `after` graphs, cycles,
//! reachability, "certainly runs before", placement, ranges and warnings.
//!
//! "Certainly runs before" is decided with dominators of the stage graph: a producer in
//! stage P has certainly run before a use in stage S when every path from the entry to S
//! passes through P (P dominates S) and the producer cannot be skipped. Dominators are
//! computed in one pass over a topological order (Cooper–Harvey–Kennedy intersection), and
//! queried in O(1) with entry/exit numbers of the dominator tree, so the check stays linear
//! in the size of the pipeline.

use std::collections::BTreeMap;

use super::hash::FastMap;
use super::{Checker, Model, Site, UseKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir;
use crate::source::Span;

/// Index-based `after` graph of one stage: predecessors of each action.
type ActionGraph = Vec<Vec<usize>>;

struct Dominators {
    tin: Vec<usize>,
    tout: Vec<usize>,
    reachable: Vec<bool>,
}

impl Dominators {
    fn dominates(&self, a: usize, b: usize) -> bool {
        self.reachable[a]
            && self.reachable[b]
            && self.tin[a] <= self.tin[b]
            && self.tout[b] <= self.tout[a]
    }
}

impl Checker<'_> {
    pub(super) fn release_rules(&mut self, model: &mut Model) {
        self.empty(model);
        self.input_overlaps();
        // The first stage declaring each action name, for `after` naming another stage's.
        let mut owners: FastMap<String, usize> = FastMap::default();
        for (i, st) in self.stages.iter().enumerate() {
            for a in &st.actions {
                owners.entry(a.name.name.clone()).or_insert(i);
            }
        }
        let graphs: Vec<ActionGraph> = (0..self.stages.len())
            .map(|s| self.action_graph(s, &owners))
            .collect();
        let has_cycle = self.stage_graph_rules();
        let doms = if has_cycle || self.stages.is_empty() {
            None
        } else {
            Some(self.dominators())
        };
        let producers = self.artifact_producers();
        self.check_uses(doms.as_ref(), &graphs, &producers);
        self.placement(model.mode);
        self.unused(model);
        if let Some((limit, _)) = model.timeout {
            self.longer_than_pipeline(limit);
        }
    }

    /// E0407: a pipeline without stages, a stage without actions.
    fn empty(&mut self, model: &Model) {
        let broken_in = |this: &Self, span: Span| {
            this.broken_spans
                .iter()
                .any(|b| b.file == span.file && b.start >= span.start && b.end <= span.end)
        };
        if self.stages.is_empty() && !broken_in(self, model.span) {
            self.report(
                Diagnostic::new(
                    Code::E0407,
                    format!("pipeline `{}` has no stages", model.name.name),
                    model.name.span,
                    "empty pipeline",
                )
                .help("add a stage: `stage build { action compile: sh { run = \"make\" } }`"),
            );
        }
        for i in 0..self.stages.len() {
            let st = &self.stages[i];
            if st.actions.is_empty() && !broken_in(self, st.span) {
                let d = Diagnostic::new(
                    Code::E0407,
                    format!("stage `{}` has no actions", st.name.name),
                    st.name.span,
                    "empty stage",
                )
                .help("add an action, or remove the stage");
                self.report(d);
            }
        }
    }

    /// Resolves `after` within a stage (E0201, E0409) and reports cycles (E0403).
    fn action_graph(&mut self, s: usize, owners: &FastMap<String, usize>) -> ActionGraph {
        let n = self.stages[s].actions.len();
        let mut preds: ActionGraph = vec![Vec::new(); n];
        let mut spans: FastMap<(usize, usize), Span> = FastMap::default();
        for (a, pred) in preds.iter_mut().enumerate() {
            // Taken out while its entries are resolved (and put back below), not copied.
            let after = std::mem::take(&mut self.stages[s].actions[a].after);
            let mut key = (s, String::new());
            for id in &after {
                id.name.clone_into(&mut key.1);
                if let Some(&p) = self.action_index.get(&key) {
                    if self.resolutions.is_some() {
                        let stage = self.stages[s].name.name.clone();
                        self.resolved(id.span, || super::Resolved::Action(stage, id.name.clone()));
                    }
                    pred.push(p);
                    spans.insert((p, a), id.span);
                    continue;
                }
                // Not in stage `s`, so any owner is another stage.
                let elsewhere = owners.get(&id.name).map(|&i| &self.stages[i]);
                if let Some(other) = elsewhere {
                    self.report(
                        Diagnostic::new(
                            Code::E0409,
                            format!(
                                "`after` names action `{}` of stage `{}`",
                                id.name, other.name.name
                            ),
                            id.span,
                            "in another stage",
                        )
                        .help(format!(
                            "order stages with the stage's own `after = [{}]` or a `transition`",
                            other.name.name
                        ))
                        .note("an action's `after` orders actions of the same stage only"),
                    );
                } else {
                    let names = self.stages[s].actions.iter().map(|x| x.name.name.as_str());
                    let help = self.did_you_mean(&id.name, names);
                    let what = format!("action {{}} in stage `{}`", self.stages[s].name.name);
                    self.report_unknown(id, &what, help);
                }
            }
            self.stages[s].actions[a].after = after;
        }
        for (u, v) in back_edges(&preds) {
            // `v` is after `u` and closes a cycle: report at that `after` entry.
            let span = spans
                .get(&(u, v))
                .copied()
                .unwrap_or(self.stages[s].actions[v].name.span);
            let path = cycle_path(&preds, u, v);
            let names: Vec<&str> = path
                .iter()
                .map(|&i| self.stages[s].actions[i].name.name.as_str())
                .collect();
            let mut d = Diagnostic::new(
                Code::E0403,
                format!(
                    "cycle in `after` in stage `{}`: {}",
                    self.stages[s].name.name,
                    names.join(" -> ")
                ),
                span,
                "this `after` closes the cycle",
            );
            for w in path.windows(2) {
                if let Some(sp) = spans.get(&(w[0], w[1])) {
                    if *sp != span {
                        d = d.label(
                            *sp,
                            format!(
                                "`{}` runs after `{}`",
                                self.stages[s].actions[w[1]].name.name,
                                self.stages[s].actions[w[0]].name.name
                            ),
                        );
                    }
                }
            }
            self.report(d.help("remove one of these `after` entries"));
        }
        preds
    }

    /// E0409, E0404, E0405 on the stage graph. Returns whether it has a cycle.
    fn stage_graph_rules(&mut self) -> bool {
        let n = self.stages.len();
        if n == 0 {
            return false;
        }
        for e in std::mem::take(&mut self.stages[0].inbound) {
            self.report(
                Diagnostic::new(
                    Code::E0409,
                    format!("edge into the entry stage `{}`", self.stages[0].name.name),
                    e.span,
                    "edge into the entry stage",
                )
                .note("the first stage in the file is the entry; nothing may run before it")
                .help("move the stage that should run first to the top of the pipeline"),
            );
        }
        let preds: Vec<Vec<usize>> = self
            .stages
            .iter()
            .map(|s| s.inbound.iter().map(|e| e.from).collect())
            .collect();
        let back = back_edges(&preds);
        let mut on_cycle = vec![false; n];
        for &(u, v) in &back {
            let path = cycle_path(&preds, u, v);
            for &i in &path {
                on_cycle[i] = true;
            }
            let edge_span = |this: &Self, from: usize, to: usize| {
                this.stages[to]
                    .inbound
                    .iter()
                    .find(|e| e.from == from)
                    .map_or(this.stages[to].name.span, |e| e.span)
            };
            let names: Vec<&str> = path
                .iter()
                .map(|&i| self.stages[i].name.name.as_str())
                .collect();
            let mut d = Diagnostic::new(
                Code::E0404,
                format!("cycle in the stage graph: {}", names.join(" -> ")),
                edge_span(self, u, v),
                "this edge closes the cycle",
            );
            for w in path.windows(2) {
                if (w[0], w[1]) != (u, v) {
                    d = d.label(
                        edge_span(self, w[0], w[1]),
                        format!(
                            "`{}` follows `{}`",
                            self.stages[w[1]].name.name, self.stages[w[0]].name.name
                        ),
                    );
                }
            }
            self.report(d.help("remove one of these edges; stages run in file order unless `after` or `transition` says otherwise"));
        }
        let reach = self.reachable();
        for i in 1..n {
            if !reach[i] && !on_cycle[i] && !self.stages[i].dangling {
                let d = Diagnostic::new(Code::E0405, format!("stage `{}` is unreachable from the entry stage `{}`", self.stages[i].name.name, self.stages[0].name.name), self.stages[i].name.span, "never reached")
                    .help("give it an inbound edge from a reachable stage (`after = [...]` or a `transition`)");
                self.report(d);
            }
        }
        !back.is_empty()
    }

    fn successors(&self) -> Vec<Vec<usize>> {
        let mut succ = vec![Vec::new(); self.stages.len()];
        for (i, s) in self.stages.iter().enumerate() {
            for e in &s.inbound {
                succ[e.from].push(i);
            }
        }
        succ
    }

    fn reachable(&self) -> Vec<bool> {
        let succ = self.successors();
        let mut seen = vec![false; self.stages.len()];
        if seen.is_empty() {
            return seen;
        }
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(u) = stack.pop() {
            for &v in &succ[u] {
                if !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
        seen
    }

    /// Dominators of the (acyclic) stage graph from the entry.
    fn dominators(&self) -> Dominators {
        let n = self.stages.len();
        let reachable = self.reachable();
        let succ = self.successors();
        // Topological order of the reachable part (Kahn).
        let mut indeg = vec![0usize; n];
        for (i, s) in self.stages.iter().enumerate() {
            indeg[i] = s.inbound.iter().filter(|e| reachable[e.from]).count();
        }
        let mut order = Vec::with_capacity(n);
        let mut queue = std::collections::VecDeque::from([0]);
        while let Some(u) = queue.pop_front() {
            order.push(u);
            for &v in &succ[u] {
                indeg[v] -= 1;
                if indeg[v] == 0 {
                    queue.push_back(v);
                }
            }
        }
        let mut pos = vec![usize::MAX; n];
        for (i, &u) in order.iter().enumerate() {
            pos[u] = i;
        }
        let mut idom = vec![usize::MAX; n];
        idom[0] = 0;
        for &u in order.iter().skip(1) {
            let mut new: Option<usize> = None;
            for e in &self.stages[u].inbound {
                if !reachable[e.from] {
                    continue;
                }
                new = Some(match new {
                    None => e.from,
                    Some(mut a) => {
                        let mut b = e.from;
                        while a != b {
                            while pos[a] > pos[b] {
                                a = idom[a];
                            }
                            while pos[b] > pos[a] {
                                b = idom[b];
                            }
                        }
                        a
                    }
                });
            }
            idom[u] = new.unwrap_or(0);
        }
        let mut children = vec![Vec::new(); n];
        for &u in order.iter().skip(1) {
            children[idom[u]].push(u);
        }
        let (mut tin, mut tout) = (vec![0; n], vec![0; n]);
        let mut clock = 0;
        let mut stack = vec![(0usize, false)];
        while let Some((u, done)) = stack.pop() {
            if done {
                tout[u] = clock;
                clock += 1;
                continue;
            }
            tin[u] = clock;
            clock += 1;
            stack.push((u, true));
            for &c in &children[u] {
                stack.push((c, false));
            }
        }
        Dominators {
            tin,
            tout,
            reachable,
        }
    }

    /// Producers of each artifact name; E0202 for a name produced twice.
    fn artifact_producers(&mut self) -> BTreeMap<String, (usize, usize, Span)> {
        let mut producers: BTreeMap<String, (usize, usize, Span)> = BTreeMap::new();
        for s in 0..self.stages.len() {
            for a in 0..self.stages[s].actions.len() {
                for o in &self.stages[s].actions[a].outputs {
                    if let Some((_, _, first)) = producers.get(&o.name.name) {
                        let d = Diagnostic::new(
                            Code::E0202,
                            format!("artifact `{}` is produced twice", o.name.name),
                            o.name.span,
                            "produced again here",
                        )
                        .label(*first, "first produced here")
                        .help("give each output its own name");
                        self.sink.push(d);
                        continue;
                    }
                    producers.insert(o.name.name.clone(), (s, a, o.name.span));
                }
            }
        }
        producers
    }

    /// Whether the stage may run without its actions: skipped by its own entry condition
    /// (its outbound edges are still taken, §6). A guard on an edge into it does not count:
    /// when the stage is not reached, nothing it dominates is either (§7).
    fn may_skip_stage(&self, s: usize) -> bool {
        self.stages[s]
            .entry
            .as_ref()
            .is_some_and(|c| c.otherwise == ir::ElseResult::Skip)
    }

    /// Whether action (ps, pa) has certainly run (successfully) before `site`.
    fn certainly_before(
        &self,
        ps: usize,
        pa: usize,
        site: Site,
        doms: Option<&Dominators>,
        graphs: &[ActionGraph],
    ) -> bool {
        if self.stages[ps].actions[pa].conditional {
            return false;
        }
        let t = match site {
            Site::Action(s, a) if s == ps => return reaches(&graphs[s], pa, a),
            Site::OnSuccess(s) if s == ps => return true,
            Site::Guard(s) if s == ps => {
                return !self.stages[s]
                    .entry
                    .as_ref()
                    .is_some_and(|c| c.otherwise == ir::ElseResult::Skip);
            }
            Site::Entry(s) if s == ps => return false,
            Site::Nowhere => return false,
            Site::Action(s, _) | Site::Entry(s) | Site::OnSuccess(s) | Site::Guard(s) => s,
        };
        !self.may_skip_stage(ps) && doms.is_some_and(|d| d.dominates(ps, t))
    }

    fn site_text(&self, site: Site) -> String {
        match site {
            Site::Action(s, a) => format!(
                "action `{}.{}`",
                self.stages[s].name.name, self.stages[s].actions[a].name.name
            ),
            Site::Entry(s) => format!("the entry condition of `{}`", self.stages[s].name.name),
            Site::OnSuccess(s) => format!(
                "the `on success` condition of `{}`",
                self.stages[s].name.name
            ),
            Site::Guard(s) => format!("a guard of an edge out of `{}`", self.stages[s].name.name),
            Site::Nowhere => "this place".into(),
        }
    }

    fn why_not_certain(&self, ps: usize, pa: usize, site: Site) -> String {
        let st = &self.stages[ps];
        let a = &st.actions[pa];
        if a.conditional {
            return format!(
                "`{}.{}` has a `when` and may be skipped",
                st.name.name, a.name.name
            );
        }
        let same = matches!(site, Site::Action(s, _) | Site::Entry(s) if s == ps);
        if same {
            return format!("`{}` is not before it in an `after` chain", a.name.name);
        }
        if st
            .entry
            .as_ref()
            .is_some_and(|c| c.otherwise == ir::ElseResult::Skip)
        {
            return format!(
                "stage `{}` may be skipped by its entry condition",
                st.name.name
            );
        }
        format!("stage `{}` is not on every path to this use", st.name.name)
    }

    /// E0401 / E0402 (and E0201 for unknown artifacts) for every recorded use.
    fn check_uses(
        &mut self,
        doms: Option<&Dominators>,
        graphs: &[ActionGraph],
        producers: &BTreeMap<String, (usize, usize, Span)>,
    ) {
        for u in std::mem::take(&mut self.uses) {
            // What is used (`export NAME`), spelled out only when reported.
            let (ps, pa, code, what, name) = match &u.kind {
                UseKind::Export {
                    stage,
                    action,
                    name,
                } => (*stage, *action, Code::E0402, "export", name),
                UseKind::Artifact { name } => {
                    let Some(&(s, a, _)) = producers.get(name) else {
                        let id = crate::ast::Ident {
                            name: name.clone(),
                            span: u.span,
                        };
                        if !self.broken.contains(name) {
                            self.report(
                                Diagnostic::new(
                                    Code::E0201,
                                    format!("unknown artifact `{name}`"),
                                    u.span,
                                    "no action outputs it",
                                )
                                .help_opt(
                                    self.did_you_mean(
                                        &id.name,
                                        producers.keys().map(String::as_str),
                                    ),
                                ),
                            );
                        }
                        continue;
                    };
                    (s, a, Code::E0401, "artifact", name)
                }
            };
            if doms.is_none()
                && !matches!(u.site, Site::Action(s, _) | Site::OnSuccess(s) | Site::Guard(s) if s == ps)
            {
                continue; // The stage graph has a cycle (reported): no order to check against.
            }
            if !self.certainly_before(ps, pa, u.site, doms, graphs) {
                let producer = &self.stages[ps].actions[pa];
                let d = Diagnostic::new(
                    code,
                    format!("{what} `{name}` is used where `{}.{}` has not certainly run", self.stages[ps].name.name, producer.name.name),
                    u.span,
                    format!("used in {}", self.site_text(u.site)),
                )
                .label(producer.name.span, "produced here")
                .note(self.why_not_certain(ps, pa, u.site))
                .help(if matches!(u.site, Site::Action(s, _) if s == ps) {
                    format!("add `after = [{}]` to the consumer", producer.name.name)
                } else {
                    "use it only in stages that every path reaches through the producer's stage, and do not make the producer skippable".into()
                });
                self.report(d);
            }
        }
    }

    /// E0406 (source actions outside the entry stage) and E0408 (misplaced rollback).
    fn placement(&mut self, mode: ir::Mode) {
        for s in 0..self.stages.len() {
            if s > 0 {
                for a in &self.stages[s].actions {
                    if a.category == ir::Category::Source {
                        self.sink.push(
                            Diagnostic::new(Code::E0406, format!("source action `{}` is outside the entry stage", a.name.name), a.name.span, "source action")
                                .help(format!("move it to the first stage, `{}`", self.stages[0].name.name))
                                .note("source actions (`dir`, `git`, category `source`) belong to the entry stage, as in CodePipeline"),
                        );
                    }
                }
            }
            for span in self.stages[s].rollbacks.clone() {
                if mode == ir::Mode::Parallel {
                    self.report(
                        Diagnostic::new(Code::E0408, "`rollback` in a pipeline with `mode parallel`", span, "rollback")
                            .note("in parallel mode runs overlap, so there is no single last good run to roll back to")
                            .help("use `mode queued` or `mode superseded`, or `on failure fail`"),
                    );
                } else if s == 0 {
                    self.report(
                        Diagnostic::new(
                            Code::E0408,
                            format!(
                                "`rollback` in the entry stage `{}`",
                                self.stages[0].name.name
                            ),
                            span,
                            "rollback",
                        )
                        .note("the entry stage has no earlier state to roll back to")
                        .help("use `on failure fail` or `retry` here"),
                    );
                }
            }
        }
    }

    /// W0001 for params and secrets nobody reads. Artifacts and exports are a run's outputs
    /// (kept for the record, shown by `pipec show`): unused ones are fine (§8).
    fn unused(&mut self, model: &Model) {
        if !self.broken_spans.is_empty() {
            return; // Uses may sit in the part that failed to parse.
        }
        for p in &model.params {
            if !self.used_params.contains(&p.name.name) {
                self.report(
                    Diagnostic::new(
                        Code::W0001,
                        format!("unused param `{}`", p.name.name),
                        p.name.span,
                        "never used",
                    )
                    .help(format!("use it as `params.{}`, or remove it", p.name.name)),
                );
            }
        }
        for s in &model.secrets {
            if !self.used_secrets.contains(&s.name.name) {
                self.report(
                    Diagnostic::new(
                        Code::W0001,
                        format!("unused secret `{}`", s.name.name),
                        s.name.span,
                        "never used",
                    )
                    .help(format!(
                        "pass it to an action with `env = {{ NAME = secrets.{} }}`, or remove it",
                        s.name.name
                    )),
                );
            }
        }
    }

    /// W0003: an action's timeout beyond the pipeline's.
    fn longer_than_pipeline(&mut self, limit: u64) {
        for st in &self.stages {
            for a in &st.actions {
                if let Some((secs, span)) = a.timeout {
                    if secs > limit && a.kind != ir::Kind::Approval {
                        self.sink.push(
                            Diagnostic::new(Code::W0003, format!("action `{}` may run for {}, longer than the pipeline's timeout of {}", a.name.name, crate::duration::format(secs), crate::duration::format(limit)), span, "longer than the pipeline")
                                .help("shorten the action's timeout, or raise the pipeline's"),
                        );
                    }
                }
            }
        }
    }
}

/// Whether `from` precedes `to` through `after` edges.
fn reaches(preds: &ActionGraph, from: usize, to: usize) -> bool {
    let mut seen = vec![false; preds.len()];
    let mut stack = preds[to].clone();
    while let Some(u) = stack.pop() {
        if u == from {
            return true;
        }
        if !std::mem::replace(&mut seen[u], true) {
            stack.extend(preds[u].iter().copied());
        }
    }
    false
}

/// Edges `(u, v)` ("v after u") that close a cycle, found by depth-first search over
/// predecessor lists.
fn back_edges(preds: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let n = preds.len();
    let mut succ = vec![Vec::new(); n];
    for (v, ps) in preds.iter().enumerate() {
        for &u in ps {
            succ[u].push(v);
        }
    }
    let mut color = vec![0u8; n];
    let mut out = Vec::new();
    for root in 0..n {
        if color[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        color[root] = 1;
        while let Some(&mut (u, ref mut i)) = stack.last_mut() {
            if *i < succ[u].len() {
                let v = succ[u][*i];
                *i += 1;
                match color[v] {
                    0 => {
                        color[v] = 1;
                        stack.push((v, 0));
                    }
                    1 => out.push((u, v)),
                    _ => {}
                }
            } else {
                color[u] = 2;
                stack.pop();
            }
        }
    }
    out
}

/// The cycle closed by edge u -> v: v -> … -> u -> v.
fn cycle_path(preds: &[Vec<usize>], u: usize, v: usize) -> Vec<usize> {
    // Walk back from u to v through predecessors (breadth-first for the shortest path).
    let mut prev = vec![usize::MAX; preds.len()];
    let mut queue = std::collections::VecDeque::from([u]);
    prev[u] = u;
    while let Some(x) = queue.pop_front() {
        if x == v {
            break;
        }
        for &p in &preds[x] {
            if prev[p] == usize::MAX {
                prev[p] = x;
                queue.push_back(p);
            }
        }
    }
    let mut path = vec![v];
    let mut x = v;
    while x != u && prev[x] != usize::MAX {
        x = prev[x];
        path.push(x);
    }
    path.push(v);
    path
}
