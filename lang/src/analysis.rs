//! Analysis of a checked bundle: rules that can never fire, conditions that
//! contradict themselves, and block rules that absent facts silently turn
//! off. Everything here is a warning; the bundle is already valid.

use std::collections::{BTreeSet, HashMap};

use crate::diag::Diagnostic;
use crate::ir::{Bundle, Cond, FactTest, Mode, Policy, Rule, TestOp, VerdictKind, render_cond};
use crate::schema::{Event, FactId, Schema};
use crate::span::Span;
use crate::value::Value;

pub fn analyze(bundle: &Bundle) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for policy in &bundle.policies {
        settings(policy, &mut out);
        let shadows = shadowing(&bundle.schema, policy);
        for (index, rule) in policy.rules.iter().enumerate() {
            if contradictory(&bundle.schema, &rule.cond) {
                out.push(
                    Diagnostic::warning(
                        "never-fires",
                        format!("rule `{}` can never fire", rule.name),
                    )
                    .label(rule.name_span, "its condition contradicts itself")
                    .help("no facts can make this condition true; check the values it compares"),
                );
                continue;
            }
            if let Some(earlier) = shadows
                .get(index)
                .copied()
                .flatten()
                .and_then(|i| policy.rules.get(i))
            {
                out.push(
                    Diagnostic::warning("unreachable-rule", format!("rule `{}` is never reached", rule.name))
                        .label(rule.name_span, "every case it covers is decided earlier")
                        .label(earlier.name_span, format!("rule `{}` decides first", earlier.name))
                        .help("rules run in order and the first verdict decides; move this rule above the other, or narrow the other"),
                );
                continue;
            }
            absent_facts(&bundle.schema, rule, &mut out);
        }
    }
    out
}

fn settings(policy: &Policy, out: &mut Vec<Diagnostic>) {
    if policy.rules.is_empty() {
        out.push(
            Diagnostic::warning("no-rules", format!("policy `{}` has no rules", policy.name))
                .label(policy.span, "it decides no event")
                .help("a policy decides the events its rules are `on`; add a rule"),
        );
    }
    if policy.mode == Mode::Monitor && policy.on_error.kind != VerdictKind::Allow {
        out.push(
            Diagnostic::warning("monitor-fails-closed", format!("monitor-only policy `{}` blocks traffic when it fails", policy.name))
                .label(policy.span, format!("`mode monitor` with `on error {}`", policy.on_error.kind.name()))
                .help("a policy in monitor mode never blocks while it works; `on error allow` keeps that true when it fails"),
        );
    }
}

/// Conjunct sets up to this size are matched by enumerating their subsets.
const MAX_SUBSET_CONJUNCTS: usize = 10;

/// For each rule, the first earlier rule with a verdict that fires whenever
/// it would: one whose conjuncts are a subset of its own. Keys are the
/// conjuncts rendered as text; subsets are looked up, not compared pair by
/// pair, so a policy of thousands of rules checks in linear time.
fn shadowing(schema: &Schema, policy: &Policy) -> Vec<Option<usize>> {
    let mut deciders: HashMap<(Event, Vec<String>), usize> = HashMap::new();
    let mut out = Vec::with_capacity(policy.rules.len());
    for (index, rule) in policy.rules.iter().enumerate() {
        let mut keys: Vec<String> = conjuncts(&rule.cond)
            .iter()
            .map(|c| render_cond(schema, c))
            .collect();
        keys.sort();
        keys.dedup();

        let mut found: Option<usize> = None;
        if keys.len() <= MAX_SUBSET_CONJUNCTS {
            for mask in 0u32..(1 << keys.len()) {
                let subset: Vec<String> = keys
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| mask & (1 << bit) != 0)
                    .map(|(_, k)| k.clone())
                    .collect();
                if let Some(&earlier) = deciders.get(&(rule.event, subset)) {
                    found = Some(found.map_or(earlier, |f| f.min(earlier)));
                }
            }
        } else {
            for ((event, set), &earlier) in &deciders {
                if *event == rule.event && set.iter().all(|k| keys.binary_search(k).is_ok()) {
                    found = Some(found.map_or(earlier, |f| f.min(earlier)));
                }
            }
        }
        out.push(found);

        if rule.verdict.is_some() {
            deciders.entry((rule.event, keys)).or_insert(index);
        }
    }
    out
}

/// The top-level conjuncts of a condition; `true` has none.
fn conjuncts(cond: &Cond) -> Vec<&Cond> {
    match cond {
        Cond::Const(true) => Vec::new(),
        Cond::And(items) => items.iter().flat_map(conjuncts).collect(),
        other => vec![other],
    }
}

/// Whether the top-level conjuncts of `cond` cannot all hold at once.
fn contradictory(schema: &Schema, cond: &Cond) -> bool {
    let parts = conjuncts(cond);
    if parts.iter().any(|c| **c == Cond::Const(false)) {
        return true;
    }
    for (i, a) in parts.iter().enumerate() {
        for b in parts.iter().skip(i + 1) {
            if excludes(schema, a, b) || excludes(schema, b, a) {
                return true;
            }
        }
    }
    integer_bounds_empty(&parts)
}

/// Whether `a` and `b` cannot both be true.
fn excludes(schema: &Schema, a: &Cond, b: &Cond) -> bool {
    if let Cond::Not(inner) = b
        && **inner == *a
    {
        return true;
    }
    let (Cond::Test(a), Cond::Test(b)) = (a, b) else {
        return false;
    };
    if a.fact != b.fact {
        return false;
    }
    match (&a.op, &b.op) {
        (TestOp::Eq(x), TestOp::Eq(y)) => x != y,
        (TestOp::Eq(x), TestOp::Ne(y)) => x == y,
        (TestOp::Eq(x), TestOp::In(list)) => !list.contains(x),
        (TestOp::In(l1), TestOp::In(l2)) => !l1.iter().any(|v| l2.contains(v)),
        (TestOp::IsTrue, TestOp::Eq(Value::Bool(false))) => true,
        (TestOp::Within(c1), TestOp::Within(c2)) => !c1.iter().any(|x| {
            c2.iter()
                .any(|y| schema.taxonomy.is_within(*x, *y) || schema.taxonomy.is_within(*y, *x))
        }),
        (TestOp::Eq(Value::Class(x)), TestOp::Within(c)) => {
            !c.iter().any(|y| schema.taxonomy.is_within(*x, *y))
        }
        _ => false,
    }
}

/// Whether the integer comparisons among the conjuncts leave no value.
fn integer_bounds_empty(parts: &[&Cond]) -> bool {
    let mut facts: BTreeSet<FactId> = BTreeSet::new();
    for part in parts {
        if let Cond::Test(t) = part {
            facts.insert(t.fact);
        }
    }
    facts.into_iter().any(|fact| {
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        for part in parts {
            let Cond::Test(FactTest { fact: f, op, .. }) = part else {
                continue;
            };
            if *f != fact {
                continue;
            }
            match op {
                TestOp::Eq(Value::Int(n)) => (lo, hi) = (lo.max(*n), hi.min(*n)),
                TestOp::Lt(Value::Int(n)) => hi = hi.min(n.saturating_sub(1)),
                TestOp::Le(Value::Int(n)) => hi = hi.min(*n),
                TestOp::Gt(Value::Int(n)) => lo = lo.max(n.saturating_add(1)),
                TestOp::Ge(Value::Int(n)) => lo = lo.max(*n),
                TestOp::InRange { lo: a, hi: b } if a <= b => (lo, hi) = (lo.max(*a), hi.min(*b)),
                _ => {}
            }
        }
        lo > hi
    })
}

/// Warns where a block or quarantine rule needs a fact that may be absent:
/// then the rule silently does not fire.
fn absent_facts(schema: &Schema, rule: &Rule, out: &mut Vec<Diagnostic>) {
    let restrictive = rule.verdict.is_some_and(|v| v.kind != VerdictKind::Allow);
    if !restrictive {
        return;
    }
    let mut acknowledged = BTreeSet::new();
    exists_facts(&rule.cond, &mut acknowledged);
    for fact in required(&rule.cond, false) {
        let def = schema.def(fact);
        if def.always_present || acknowledged.contains(&fact) {
            continue;
        }
        let span = first_test_span(&rule.cond, fact).unwrap_or(rule.name_span);
        let verb = rule.verdict.map_or("block", |v| v.kind.name());
        out.push(
            Diagnostic::warning("absent-fact", format!("rule `{}` does not {verb} when `{}` is absent", rule.name, def.name))
                .label(span, "a test of an absent fact is false")
                .label(rule.name_span, "")
                .help(format!(
                    "to also {verb} when it is absent, replace the test with `(not exists {0} or ...)`; to keep this behaviour, say so with `exists {0} and ...`",
                    def.name
                )),
        );
    }
}

fn exists_facts(cond: &Cond, out: &mut BTreeSet<FactId>) {
    match cond {
        Cond::Exists(fact, _) => {
            out.insert(*fact);
        }
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| exists_facts(c, out)),
        Cond::Not(inner) => exists_facts(inner, out),
        Cond::Const(_) | Cond::Test(_) => {}
    }
}

/// Facts that must be present for `cond` (negated when `negated`) to hold.
fn required(cond: &Cond, negated: bool) -> BTreeSet<FactId> {
    match cond {
        Cond::Const(_) => BTreeSet::new(),
        Cond::Test(t) if !negated => BTreeSet::from([t.fact]),
        Cond::Exists(fact, _) if !negated => BTreeSet::from([*fact]),
        Cond::Test(_) | Cond::Exists(..) => BTreeSet::new(),
        Cond::Not(inner) => required(inner, !negated),
        Cond::And(items) | Cond::Or(items) => {
            let all = matches!(cond, Cond::And(_)) != negated;
            let mut sets = items.iter().map(|c| required(c, negated));
            let first = sets.next().unwrap_or_default();
            sets.fold(first, |acc, set| {
                if all {
                    acc.union(&set).copied().collect()
                } else {
                    acc.intersection(&set).copied().collect()
                }
            })
        }
    }
}

fn first_test_span(cond: &Cond, fact: FactId) -> Option<Span> {
    match cond {
        Cond::Test(t) if t.fact == fact => Some(t.span),
        Cond::Exists(f, span) if *f == fact => Some(*span),
        Cond::And(items) | Cond::Or(items) => items.iter().find_map(|c| first_test_span(c, fact)),
        Cond::Not(inner) => first_test_span(inner, fact),
        _ => None,
    }
}
