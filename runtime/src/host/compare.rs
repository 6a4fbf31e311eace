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
