//! Running a bundle's test blocks on both engines: the interpreter and
//! the compiled module. A test passes when its expectations hold and the
//! two engines decide the same.

use ward_lang::ir::Bundle;
use ward_lang::span::SourceMap;
use ward_lang::testing::{self, TestResult};
use ward_lang::wasm;

use super::compare::differences;
use super::{Host, LoadError};

/// Why the module engine could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Compile(#[from] wasm::CompileError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Runs every test on the interpreter and on the module compiled once
/// from the whole bundle (each test filtered to its own file's policies).
pub fn run_both(
    host: &Host,
    bundle: &Bundle,
    sources: &SourceMap,
) -> Result<Vec<TestResult>, EngineError> {
    let compiled = wasm::compile(bundle, sources)?;
    let module = host.load(&compiled.bytes)?;
    let mut results = Vec::with_capacity(bundle.tests.len());
    for test in &bundle.tests {
        let mut result = testing::run_one(bundle, sources, test);
        let interpreted = testing::decide(bundle, test);
        let evaluation = host.evaluate(&module, &test.facts, Some(&test.policies));
        if let Some(failure) = &evaluation.failure {
            result
                .failures
                .push(format!("the wasm engine failed: {failure}"));
        }
        for difference in differences(&interpreted, &evaluation.decision) {
            result
                .failures
                .push(format!("the engines disagree on the {difference}"));
        }
        results.push(result);
    }
    Ok(results)
}
