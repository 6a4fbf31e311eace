//! Comparing two engines' decisions: what `ward test` and the
//! equivalence tests report when the module and the interpreter disagree.

use ward_lang::interp::Decision;

/// Each way the two decisions differ, as a sentence; empty when they
/// agree on verdict, decider, alerts (in order) and per-policy outcomes.
pub fn differences(interpreter: &Decision, module: &Decision) -> Vec<String> {
    let mut out = Vec::new();
    if interpreter.verdict != module.verdict {
        out.push(format!(
            "verdict: interpreter {:?}, module {:?}",
            interpreter.verdict, module.verdict
        ));
    }
    if interpreter.decider != module.decider {
        out.push(format!(
            "decider: interpreter {:?}, module {:?}",
            interpreter.decider, module.decider
        ));
    }
    if interpreter.alerts != module.alerts {
        out.push(format!(
            "alerts: interpreter {:?}, module {:?}",
            interpreter.alerts, module.alerts
        ));
    }
    if interpreter.outcomes != module.outcomes {
        out.push(format!(
            "outcomes: interpreter {:?}, module {:?}",
            interpreter.outcomes, module.outcomes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use ward_lang::interp::{Decider, FiredAlert};
    use ward_lang::ir::{Severity, Verdict, VerdictKind};
    use ward_lang::schema::Event;

    use super::*;

    fn decision() -> Decision {
        Decision {
            event: Event::Flow,
            verdict: Verdict::ALLOW,
            decider: None,
            alerts: Vec::new(),
            outcomes: Vec::new(),
            trace: Vec::new(),
        }
    }

    #[test]
    fn every_difference_is_named() {
        let a = decision();
        assert!(differences(&a, &a.clone()).is_empty());

        let mut b = decision();
        b.verdict = Verdict::new(VerdictKind::Block);
        b.decider = Some(Decider {
            policy: 0,
            rule: Some(1),
        });
        b.alerts.push(FiredAlert {
            policy: 0,
            rule: 1,
            severity: Severity::High,
            message: "x".into(),
            monitor: false,
        });
        let found = differences(&a, &b);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("verdict:"));
        assert!(found[1].starts_with("decider:"));
        assert!(found[2].starts_with("alerts:"));

        // The trace is the interpreter's alone and is not compared.
        let mut c = decision();
        c.trace.push(ward_lang::interp::TraceStep {
            policy: 0,
            rule: 0,
            fired: true,
        });
        assert!(differences(&a, &c).is_empty());
    }
}
