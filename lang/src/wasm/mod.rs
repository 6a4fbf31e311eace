//! The compiler: a checked bundle becomes one self-contained WebAssembly
//! module that speaks Ward's guest ABI (`ward_sdk`, docs/abi.md).
//!
//! The pipeline is checked bundle → module bytes (wasm-encoder, in
//! [`emit`]) → validation (wasmparser) → [`WasmModule`]. Literal values,
//! address networks, class subtrees and glob DFAs ([`glob`]) live in the
//! module's data; the host passes facts in fixed slots and category sets
//! as bitsets. The manifest the host needs rides in a custom section
//! ([`ward_sdk::MANIFEST_SECTION`]), so a built module is one file.

mod emit;
pub mod glob;
mod helpers;
pub mod manifest;

use ward_sdk::Manifest;

use crate::ir::Bundle;
use crate::schema::Event;
use crate::span::SourceMap;

/// A compiled, validated policy module.
#[derive(Debug, Clone)]
pub struct WasmModule {
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("cannot compile {what}")]
    Unsupported { what: String },
    #[error(transparent)]
    Glob(#[from] glob::GlobError),
    /// A bug in the compiler: it emitted a module that does not validate.
    #[error("the compiler emitted an invalid module: {0}")]
    Invalid(String),
}

/// Compiles a checked bundle. `sources` gives the rules' locations for
/// the manifest.
pub fn compile(bundle: &Bundle, sources: &SourceMap) -> Result<WasmModule, CompileError> {
    let output = emit::compile(bundle, sources)?;
    validate(&output.bytes)?;
    Ok(WasmModule {
        bytes: output.bytes,
        manifest: output.manifest,
    })
}

/// Validates module bytes with the features the host enables.
pub fn validate(bytes: &[u8]) -> Result<(), CompileError> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::default())
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| CompileError::Invalid(e.to_string()))
}

/// The event code `ward_evaluate` takes.
pub fn event_code(event: Event) -> i32 {
    match event {
        Event::Flow => ward_sdk::EVENT_FLOW,
        Event::Dns => ward_sdk::EVENT_DNS,
        Event::Url => ward_sdk::EVENT_URL,
    }
}

/// How a verdict's DNS response is settled: the interpreter's own rule.
pub use crate::interp::dns_default;
