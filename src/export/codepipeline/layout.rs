//! The stage graph as CodePipeline's one sequence of stages, and `after` as `RunOrder`.
//!
//! Stages are put in a topological order of the graph, file order first among the ready
//! ones. In a sequence every stage waits for all the stages before it, which keeps a
//! chain's meaning; a branch of the graph is kept by a `SKIP` entry condition on the
//! stage, the guards of the edges that lead to it (its *reach*): a stage is reached when
//! every guard on the unique path to it holds. A join of branches is reached when any of
//! them ran — an "or" that CodePipeline's conditions (all of their rules) can say only when
//! the branches' reaches are the same, or differ in one guard and its negation (E0503
//! otherwise).

use std::collections::{BTreeMap, BinaryHeap};

use super::Cx;
use crate::diagnostics::Code;
use crate::export::cx::Report as _;
use crate::ir::{self, BinOp, Expr};

/// A guard on the way to a stage, with the edge it stands on.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Guard {
    pub(super) expr: Expr,
    pub(super) span: ir::Span,
}

/// The stages in CodePipeline's order (indices into the pipeline's stages), and each
/// stage's reach: the guards that must all hold for it to run.
pub(super) struct Layout {
    pub(super) order: Vec<usize>,
    pub(super) reach: Vec<Vec<Guard>>,
}

pub(super) fn lay_out(cx: &mut Cx<'_>) -> Layout {
    let stages = &cx.ir.pipeline.stages;
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let order = topological(stages, &index);
    let mut reach: Vec<Vec<Guard>> = vec![Vec::new(); stages.len()];
    for &i in &order {
        let stage = &stages[i];
        let ways: Vec<Vec<Guard>> = stage
            .inbound
            .iter()
            .map(|e| {
                let mut way = index
                    .get(e.from.as_str())
                    .map_or_else(Vec::new, |&f| reach[f].clone());
                if let Some(g) = &e.guard {
                    way.push(Guard {
                        expr: g.clone(),
                        span: e.span,
                    });
                }
                way
            })
            .collect();
        reach[i] = if let Some(r) = join(&ways) {
            r
        } else {
            {
                let at = stage.inbound.last().map_or(stage.span, |e| e.span);
                cx.refuse(
                    Code::E0503,
                    at,
                    format!(
                        "stage `{}` joins branches that run under different guards",
                        stage.name
                    ),
                    "reached when any of its branches ran",
                    "CodePipeline runs stages in one sequence and its entry conditions cannot say \"or\": give the branches guards that are each other's negation, or join after a stage every branch passes through",
                );
                Vec::new()
            }
        };
        disabled_edges(cx, stage);
    }
    Layout { order, reach }
}

/// Kahn's algorithm, taking the first stage in file order among the ready ones.
fn topological(stages: &[ir::Stage], index: &BTreeMap<&str, usize>) -> Vec<usize> {
    let mut indegree: Vec<usize> = stages.iter().map(|s| s.inbound.len()).collect();
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); stages.len()];
    for (i, s) in stages.iter().enumerate() {
        for e in &s.inbound {
            if let Some(&f) = index.get(e.from.as_str()) {
                out_edges[f].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = indegree
        .iter()
        .enumerate()
        .filter(|(_, d)| **d == 0)
        .map(|(i, _)| std::cmp::Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(stages.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &t in &out_edges[i] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(std::cmp::Reverse(t));
            }
        }
    }
    order
}

/// The reach of a stage with these ways in: `None` when it is an "or" of different ones.
fn join(ways: &[Vec<Guard>]) -> Option<Vec<Guard>> {
    let Some(first) = ways.first() else {
        return Some(Vec::new());
    };
    let mut acc = first.clone();
    for way in &ways[1..] {
        acc = join_two(&acc, way)?;
    }
    Some(acc)
}

fn join_two(a: &[Guard], b: &[Guard]) -> Option<Vec<Guard>> {
    if same(a, b) {
        return Some(a.to_vec());
    }
    // `X && g` or `X && !g` is `X`.
    let (Some((ga, ra)), Some((gb, rb))) = (a.split_last(), b.split_last()) else {
        return None;
    };
    (same(ra, rb) && negations(&ga.expr, &gb.expr)).then(|| ra.to_vec())
}

fn same(a: &[Guard], b: &[Guard]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.expr == y.expr)
}

/// Whether one expression is the other's negation.
fn negations(a: &Expr, b: &Expr) -> bool {
    let not_of = |x: &Expr, y: &Expr| matches!(x, Expr::Not { operand } if **operand == *y);
    if not_of(a, b) || not_of(b, a) {
        return true;
    }
    match (a, b) {
        (
            Expr::Binary {
                op: o1,
                lhs: l1,
                rhs: r1,
            },
            Expr::Binary {
                op: o2,
                lhs: l2,
                rhs: r2,
            },
        ) => {
            let opposite = matches!((o1, o2), (BinOp::Eq, BinOp::Ne) | (BinOp::Ne, BinOp::Eq));
            opposite && ((l1 == l2 && r1 == r2) || (l1 == r2 && r1 == l2))
        }
        _ => false,
    }
}

/// A `disabled` edge becomes a disabled inbound transition of its target, which holds
/// every run there: the same only when it is the stage's one way in.
fn disabled_edges(cx: &mut Cx<'_>, stage: &ir::Stage) {
    let disabled = stage
        .inbound
        .iter()
        .filter(|e| e.disabled.is_some())
        .count();
    if disabled > 0 && stage.inbound.len() > 1 {
        let at = stage
            .inbound
            .iter()
            .find(|e| e.disabled.is_some())
            .map_or(stage.span, |e| e.span);
        cx.refuse(
            Code::E0503,
            at,
            format!(
                "a disabled transition into `{}`, which has other ways in",
                stage.name
            ),
            "CodePipeline disables every way into a stage at once",
            "disable the stage's other inbound transitions too, or none",
        );
    }
}

/// `RunOrder` of each action of a stage: 1 for those with no `after`, else one more than
/// the highest of those it comes after. The stage's `after` graph is acyclic (E0403).
pub(super) fn run_orders(stage: &ir::Stage) -> Vec<u32> {
    // Source actions moved to the source stage (a mixed entry stage) count as done.
    let mut level: BTreeMap<&str, u32> = stage
        .actions
        .iter()
        .filter(|a| super::is_source(a))
        .map(|a| (a.name.as_str(), 0))
        .collect();
    let mut left: Vec<&ir::Action> = stage
        .actions
        .iter()
        .filter(|a| !super::is_source(a))
        .collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|a| {
            let known: Option<Vec<u32>> = a
                .after
                .iter()
                .map(|p| level.get(p.as_str()).copied())
                .collect();
            match known {
                Some(levels) => {
                    level.insert(&a.name, levels.into_iter().max().unwrap_or(0) + 1);
                    false
                }
                None => true,
            }
        });
        if left.len() == before {
            break; // a cycle: the checker reports it (E0403); never here for clean IR
        }
    }
    stage
        .actions
        .iter()
        .map(|a| level.get(a.name.as_str()).copied().unwrap_or(1))
        .collect()
}

/// Where `RunOrder` levels make an action wait for actions it does not come after: each
/// action of level N > 1 waits for all of level N - 1 (a comment says so).
pub(super) fn lost_parallelism(stage: &ir::Stage, orders: &[u32], i: usize) -> Option<String> {
    let a = &stage.actions[i];
    let mine = orders[i];
    if mine <= 1 {
        return None;
    }
    let waits: Vec<&str> = stage
        .actions
        .iter()
        .zip(orders)
        .filter(|(b, o)| {
            **o < mine && !a.after.contains(&b.name) && !before(stage, &a.name, &b.name)
        })
        .map(|(b, _)| b.name.as_str())
        .collect();
    (!waits.is_empty()).then(|| {
        format!(
            "RunOrder {mine} also waits for {} (not in its `after`)",
            waits.join(", ")
        )
    })
}

/// Whether `b` comes before `a` through `after` (transitively).
fn before(stage: &ir::Stage, a: &str, b: &str) -> bool {
    let mut stack = vec![a];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        if let Some(act) = stage.actions.iter().find(|c| c.name == x) {
            for p in &act.after {
                if p == b {
                    return true;
                }
                stack.push(p);
            }
        }
    }
    false
}
