//! Running a bundle's `test` blocks: each evaluates the policies of its own
//! file on its `given` facts and compares the decision with its `expect`s.

use crate::interp::{self, Decider, Decision, Options};
use crate::ir::{Bundle, Expectation, Test, Verdict};
use crate::span::{SourceMap, Span};

#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub span: Span,
    /// One line per unmet expectation: what was expected, what happened.
    pub failures: Vec<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn run(bundle: &Bundle, sources: &SourceMap) -> Vec<TestResult> {
    bundle
        .tests
        .iter()
        .map(|test| run_one(bundle, sources, test))
        .collect()
}

/// Evaluates one test's facts, as the engine under test decides them.
pub fn decide(bundle: &Bundle, test: &Test) -> Decision {
    interp::evaluate(
        bundle,
        &test.facts,
        Options {
            trace: false,
            only: Some(&test.policies),
        },
    )
}

pub fn run_one(bundle: &Bundle, sources: &SourceMap, test: &Test) -> TestResult {
    let decision = decide(bundle, test);
    let failures = compare(bundle, sources, test, &decision);
    TestResult {
        name: test.name.clone(),
        span: test.span,
        failures,
    }
}

/// What the decision gets wrong about the test's expectations.
pub fn compare(
    bundle: &Bundle,
    sources: &SourceMap,
    test: &Test,
    decision: &Decision,
) -> Vec<String> {
    let mut failures = Vec::new();
    for expect in &test.expects {
        match expect {
            Expectation::Verdict {
                would,
                verdict,
                by,
                span,
            } => {
                let (actual, decider) = if *would {
                    match decision.would() {
                        Some(o) => (o.verdict, Some(o.decider)),
                        None => (Verdict::ALLOW, None),
                    }
                } else {
                    (decision.verdict, decision.decider)
                };
                let by_name = decider.map(|d| interp::decider_name(bundle, d).1.to_owned());
                let kind_ok = actual.kind == verdict.kind;
                let respond_ok = verdict.respond.is_none() || verdict.respond == actual.respond;
                let by_ok = by
                    .as_ref()
                    .is_none_or(|b| by_name.as_deref() == Some(b.as_str()));
                if !(kind_ok && respond_ok && by_ok) {
                    let want = describe(*verdict, by.as_deref(), *would);
                    let got = describe(actual, by_name.as_deref(), *would);
                    let location =
                        decider.map(|d| sources.location(interp::decider_name(bundle, d).2));
                    let why = match (decider, would) {
                        (Some(_), _) => location.map(|l| format!(" (decided at {l})")).unwrap_or_default(),
                        (None, false) => " (no enforcing policy decides this event; for a monitor-mode policy write `expect would ...`)".to_owned(),
                        (None, true) => " (no monitor-mode policy decides this event)".to_owned(),
                    };
                    failures.push(format!(
                        "{}: expected {want}, got {got}{why}",
                        sources.location(*span)
                    ));
                }
            }
            Expectation::Alert {
                severity,
                message,
                span,
            } => {
                let found = decision.alerts.iter().any(|a| {
                    a.severity == *severity && message.as_ref().is_none_or(|m| *m == a.message)
                });
                if !found {
                    let raised: Vec<String> = decision
                        .alerts
                        .iter()
                        .map(|a| format!("{} {:?}", a.severity.name(), a.message))
                        .collect();
                    failures.push(format!(
                        "{}: expected alert {}{}, got {}",
                        sources.location(*span),
                        severity.name(),
                        message
                            .as_ref()
                            .map(|m| format!(" {m:?}"))
                            .unwrap_or_default(),
                        if raised.is_empty() {
                            "no alerts".to_owned()
                        } else {
                            raised.join(", ")
                        }
                    ));
                }
            }
        }
    }
    failures
}

fn describe(verdict: Verdict, by: Option<&str>, would: bool) -> String {
    let mut text = String::new();
    if would {
        text.push_str("would ");
    }
    text.push_str(verdict.kind.name());
    if let Some(r) = verdict.respond {
        text.push_str(" respond ");
        text.push_str(r.name());
    }
    if let Some(by) = by {
        text.push_str(" by ");
        text.push_str(by);
    }
    text
}

/// The decider of a decision as `policy/rule`, for messages.
pub fn decider_label(bundle: &Bundle, decider: Option<Decider>) -> String {
    match decider {
        Some(d) => {
            let (policy, rule, _) = interp::decider_name(bundle, d);
            format!("{policy}/{rule}")
        }
        None => "nothing".to_owned(),
    }
}
