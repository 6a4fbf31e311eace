//! A warm evaluator: one instance reused across decisions, for a thread
//! that decides many events in a row. The host rewrites every fact slot
//! and the output on each call, and Ward's compiled modules keep no other
//! state (their locals end with the call; their memory holds constants,
//! slots, heap and output), so nothing of one decision reaches the next.
//! A hand-made module could keep state in its memory; where that matters,
//! use [`Host::evaluate`], which takes a fresh instance per decision. After
//! a failure the instance is dropped and the next call makes a fresh one.

use std::sync::Arc;

use ward_lang::value::Facts;

use super::Host;
use super::eval::{Evaluation, Live};
use super::module::PolicyModule;

pub struct WarmEvaluator {
    host: Arc<Host>,
    module: Arc<PolicyModule>,
    live: Option<Live>,
}

impl std::fmt::Debug for WarmEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmEvaluator")
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

impl WarmEvaluator {
    pub fn new(host: Arc<Host>, module: Arc<PolicyModule>) -> WarmEvaluator {
        WarmEvaluator {
            host,
            module,
            live: None,
        }
    }

    pub fn evaluate(&mut self, facts: &Facts, only: Option<&[usize]>) -> Evaluation {
        let live = match self.live.take() {
            Some(live) => Ok(live),
            None => self.host.instantiate(&self.module),
        };
        let result = live.and_then(|mut live| {
            let decision = self.host.run(&self.module, &mut live, facts, only);
            if decision.is_ok() {
                self.live = Some(live);
            }
            decision
        });
        self.host.finish(&self.module, facts, only, result)
    }

    /// Forces the next evaluation onto a fresh instance.
    pub fn reset(&mut self) {
        self.live = None;
    }
}
