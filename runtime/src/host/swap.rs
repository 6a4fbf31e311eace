//! Atomic hot swap: the module that serves decisions is replaced in one
//! pointer store. A new bundle is loaded (checked, compiled) before the
//! swap, off the decision path; evaluations in flight keep the `Arc` of
//! the module they started with; a bundle that fails to load leaves the
//! old one serving.

use std::sync::Arc;

use arc_swap::ArcSwap;
use ward_lang::value::Facts;

use super::eval::Evaluation;
use super::module::PolicyModule;
use super::{Host, LoadError};

#[derive(Debug)]
pub struct PolicyHost {
    host: Arc<Host>,
    current: ArcSwap<PolicyModule>,
}

impl PolicyHost {
    /// Starts serving the module.
    pub fn new(host: Arc<Host>, bytes: &[u8]) -> Result<PolicyHost, LoadError> {
        let module = host.load(bytes)?;
        tracing::info!(module = %module.hash_hex(), "policy module serving");
        Ok(PolicyHost {
            host,
            current: ArcSwap::new(module),
        })
    }

    /// Loads a new module and, if it loads, makes it the one that serves.
    pub fn swap(&self, bytes: &[u8]) -> Result<Arc<PolicyModule>, LoadError> {
        match self.host.load(bytes) {
            Ok(module) => {
                let old = self.current.swap(Arc::clone(&module));
                tracing::info!(
                    module = %module.hash_hex(),
                    replaced = %old.hash_hex(),
                    "policy module swapped"
                );
                Ok(module)
            }
            Err(error) => {
                tracing::error!(
                    error = %error,
                    serving = %self.current.load().hash_hex(),
                    "new policy module refused; the old one keeps serving"
                );
                Err(error)
            }
        }
    }

    /// The module serving now.
    pub fn current(&self) -> Arc<PolicyModule> {
        self.current.load_full()
    }

    /// The gateway's one call: decide this event's facts.
    pub fn evaluate(&self, facts: &Facts) -> Evaluation {
        let module = self.current.load();
        self.host.evaluate(&module, facts, None)
    }
}
