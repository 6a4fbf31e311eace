//! The reference interpreter: evaluates a checked bundle on the facts of
//! one event. The compiled Wasm module must agree with it on every input.
//!
//! Semantics, as docs/language.md states them:
//! - a policy decides the events its rules are `on` whose facts satisfy
//!   its `for` condition; other events it leaves alone;
//! - its rules for the event run in order; every rule whose condition holds
//!   adds its alerts, and the first with a verdict decides; `default`
//!   decides when none does;
//! - any test of an absent fact is false (so `not` of it is true);
//! - across policies, the most restrictive enforcing verdict wins
//!   (quarantine over block over allow; the earlier policy on a tie);
//!   monitor-mode verdicts are reported as what would have happened.

use serde_json::json;

use crate::ir::{
    Bundle, Cond, DnsResponse, FactTest, Mode, Severity, TestOp, Verdict, VerdictKind,
};
use crate::schema::Event;
use crate::span::{SourceMap, Span};
use crate::value::{Facts, Value};

/// Which rule decided, by index; `rule: None` is the policy's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decider {
    pub policy: usize,
    pub rule: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    pub decider: Decider,
    pub mode: Mode,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredAlert {
    pub policy: usize,
    pub rule: usize,
    pub severity: Severity,
    pub message: String,
    /// Whether the policy is in monitor mode.
    pub monitor: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceStep {
    pub policy: usize,
    pub rule: usize,
    pub fired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub event: Event,
    /// The verdict to carry out.
    pub verdict: Verdict,
    /// What decided it; `None` when no enforcing policy decides the event.
    pub decider: Option<Decider>,
    pub alerts: Vec<FiredAlert>,
    /// Each deciding policy's own outcome, in bundle order.
    pub outcomes: Vec<PolicyOutcome>,
    /// The rules tried, when asked for.
    pub trace: Vec<TraceStep>,
}

impl Decision {
    /// The most restrictive monitor-mode verdict: what would have happened
    /// had the monitor-only policies enforced.
    pub fn would(&self) -> Option<&PolicyOutcome> {
        most_restrictive(self.outcomes.iter().filter(|o| o.mode == Mode::Monitor))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    pub trace: bool,
    /// Only these policies (indexes into the bundle), as tests use.
    pub only: Option<&'a [usize]>,
}

pub fn evaluate(bundle: &Bundle, facts: &Facts, options: Options<'_>) -> Decision {
    let mut alerts = Vec::new();
    let mut outcomes = Vec::new();
    let mut trace = Vec::new();

    for (p, policy) in bundle.policies.iter().enumerate() {
        if options.only.is_some_and(|only| !only.contains(&p))
            || !policy.events.contains(facts.event)
            || !holds(bundle, &policy.scope, facts)
        {
            continue;
        }
        let mut decider = Decider {
            policy: p,
            rule: None,
        };
        let mut verdict = policy.default;
        for (r, rule) in policy.rules.iter().enumerate() {
            if rule.event != facts.event {
                continue;
            }
            let fired = holds(bundle, &rule.cond, facts);
            if options.trace {
                trace.push(TraceStep {
                    policy: p,
                    rule: r,
                    fired,
                });
            }
            if !fired {
                continue;
            }
            alerts.extend(rule.alerts.iter().map(|a| FiredAlert {
                policy: p,
                rule: r,
                severity: a.severity,
                message: a.message.clone(),
                monitor: policy.mode == Mode::Monitor,
            }));
            if let Some(v) = rule.verdict {
                decider.rule = Some(r);
                verdict = v;
                break;
            }
        }
        outcomes.push(PolicyOutcome {
            decider,
            mode: policy.mode,
            verdict: dns_default(verdict, facts.event),
        });
    }

    let enforced = most_restrictive(outcomes.iter().filter(|o| o.mode == Mode::Enforce));
    let (verdict, decider) = match enforced {
        Some(o) => (o.verdict, Some(o.decider)),
        None => (dns_default(Verdict::ALLOW, facts.event), None),
    };
    Decision {
        event: facts.event,
        verdict,
        decider,
        alerts,
        outcomes,
        trace,
    }
}

/// A DNS block without a response mode answers NXDOMAIN; other events
/// carry no response. The compiler and the host apply the same rule.
pub fn dns_default(mut verdict: Verdict, event: Event) -> Verdict {
    if event == Event::Dns && verdict.kind != VerdictKind::Allow && verdict.respond.is_none() {
        verdict.respond = Some(DnsResponse::NxDomain);
    }
    if event != Event::Dns {
        verdict.respond = None;
    }
    verdict
}

/// The most restrictive outcome; the earliest on a tie. The host uses it
/// for `on error` outcomes too, so both settle verdicts alike.
pub fn most_restrictive<'a>(
    outcomes: impl Iterator<Item = &'a PolicyOutcome>,
) -> Option<&'a PolicyOutcome> {
    // `max_by_key` keeps the last of equals; fold keeps the first.
    outcomes.fold(None, |best: Option<&PolicyOutcome>, o| match best {
        Some(b) if b.verdict.kind >= o.verdict.kind => Some(b),
        _ => Some(o),
    })
}

/// Whether a condition holds. Recursion depth is bounded by the lexer's
/// nesting limit.
pub fn holds(bundle: &Bundle, cond: &Cond, facts: &Facts) -> bool {
    match cond {
        Cond::Const(b) => *b,
        Cond::And(items) => items.iter().all(|c| holds(bundle, c, facts)),
        Cond::Or(items) => items.iter().any(|c| holds(bundle, c, facts)),
        Cond::Not(inner) => !holds(bundle, inner, facts),
        Cond::Exists(fact, _) => facts.get(*fact).is_some(),
        Cond::Test(test) => match facts.get(test.fact) {
            Some(value) => test_holds(bundle, test, value),
            None => false,
        },
    }
}

fn test_holds(bundle: &Bundle, test: &FactTest, value: &Value) -> bool {
    let taxonomy = &bundle.schema.taxonomy;
    match (&test.op, value) {
        (TestOp::IsTrue, Value::Bool(b)) => *b,
        (TestOp::Eq(x), v) => v == x,
        (TestOp::Ne(x), v) => v != x,
        (TestOp::Lt(x), v) => order(v, x).is_some_and(|o| o.is_lt()),
        (TestOp::Le(x), v) => order(v, x).is_some_and(|o| o.is_le()),
        (TestOp::Gt(x), v) => order(v, x).is_some_and(|o| o.is_gt()),
        (TestOp::Ge(x), v) => order(v, x).is_some_and(|o| o.is_ge()),
        (TestOp::In(list), v) => list.contains(v),
        (TestOp::InNets(nets), Value::Ip(ip)) => nets.iter().any(|n| n.contains(*ip)),
        (TestOp::Within(classes), Value::Class(c)) => {
            classes.iter().any(|a| taxonomy.is_within(*c, *a))
        }
        (TestOp::InRange { lo, hi }, v) => {
            let n = match v {
                Value::Int(n) => *n,
                Value::Enum(_, i) => i64::from(*i),
                _ => return false,
            };
            if lo <= hi {
                *lo <= n && n <= *hi
            } else {
                n >= *lo || n <= *hi
            }
        }
        (TestOp::Matches(globs), Value::Str(s)) => globs.iter().any(|g| g.matches(s)),
        (TestOp::HasAny(wanted), Value::Set(items)) => wanted.iter().any(|w| items.contains(w)),
        (TestOp::HasAll(wanted), Value::Set(items)) => wanted.iter().all(|w| items.contains(w)),
        _ => false,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Version(x), Value::Version(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The name of what decided: the rule's name, or `default`.
pub fn decider_name(bundle: &Bundle, decider: Decider) -> (&str, &str, Span) {
    let Some(policy) = bundle.policies.get(decider.policy) else {
        return ("?", "?", Span::default());
    };
    match decider.rule.and_then(|r| policy.rules.get(r)) {
        Some(rule) => (&policy.name, &rule.name, rule.span),
        None => (&policy.name, "default", policy.default_span),
    }
}

fn verdict_json(verdict: Verdict) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let respond = verdict
        .respond
        .map(|r| json!(r.name()))
        .unwrap_or(serde_json::Value::Null);
    let sinkhole = match verdict.respond {
        Some(DnsResponse::Sinkhole(ip)) => json!(ip.to_string()),
        _ => serde_json::Value::Null,
    };
    (json!(verdict.kind.name()), respond, sinkhole)
}

/// The decision as the JSON object `ward eval` prints.
pub fn decision_json(
    bundle: &Bundle,
    sources: &SourceMap,
    decision: &Decision,
) -> serde_json::Value {
    let (verdict, respond, sinkhole) = verdict_json(decision.verdict);
    let (policy, rule, location) = match decision.decider {
        Some(d) => {
            let (policy, rule, span) = decider_name(bundle, d);
            (json!(policy), json!(rule), json!(sources.location(span)))
        }
        None => (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null,
        ),
    };
    let alerts: Vec<_> = decision
        .alerts
        .iter()
        .map(|a| {
            let (policy, rule, span) = decider_name(
                bundle,
                Decider {
                    policy: a.policy,
                    rule: Some(a.rule),
                },
            );
            json!({
                "severity": a.severity.name(),
                "message": a.message,
                "policy": policy,
                "rule": rule,
                "location": sources.location(span),
                "monitor": a.monitor,
            })
        })
        .collect();
    let policies: Vec<_> = decision
        .outcomes
        .iter()
        .map(|o| {
            let (policy, rule, span) = decider_name(bundle, o.decider);
            let (verdict, respond, _) = verdict_json(o.verdict);
            json!({
                "policy": policy,
                "mode": o.mode,
                "verdict": verdict,
                "respond": respond,
                "rule": rule,
                "location": sources.location(span),
            })
        })
        .collect();
    let mut out = json!({
        "event": decision.event.name(),
        "verdict": verdict,
        "policy": policy,
        "rule": rule,
        "location": location,
        "alerts": alerts,
        "policies": policies,
    });
    if decision.event == Event::Dns {
        out["respond"] = respond;
        if !sinkhole.is_null() {
            out["sinkhole"] = sinkhole;
        }
    }
    if let Some(would) = decision.would() {
        let (policy, rule, _) = decider_name(bundle, would.decider);
        out["would"] =
            json!({ "verdict": would.verdict.kind.name(), "policy": policy, "rule": rule });
    }
    if !decision.trace.is_empty() {
        out["trace"] = decision
            .trace
            .iter()
            .map(|step| {
                let (policy, rule, span) = decider_name(bundle, Decider { policy: step.policy, rule: Some(step.rule) });
                json!({ "policy": policy, "rule": rule, "fired": step.fired, "location": sources.location(span) })
            })
            .collect();
    }
    out
}
