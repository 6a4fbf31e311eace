//! The policy host: runs compiled policy modules in wasmtime, sandboxed
//! and limited, and answers the gateway's one question: what is the
//! decision for these facts?
//!
//! - [`HostConfig`]: every limit, with its default.
//! - [`Host::load`]: the ABI check and compilation (or the precompiled
//!   [`cache`]), off the decision path.
//! - [`Host::evaluate`]: a fresh pooled instance per decision (the
//!   default, nothing shared between decisions); [`WarmEvaluator`] reuses
//!   one instance for a thread's stream of decisions.
//! - [`PolicyHost`]: the module serving now, swapped atomically.
//!
//! A module failure never fails the host: the decision falls back to the
//! policies' `on error` verdicts and the failure is logged and returned
//! in [`Evaluation::failure`].

pub mod cache;
pub mod compare;
pub mod config;
pub mod eval;
pub mod module;
pub mod swap;
pub mod testing;
pub mod warm;

use std::path::PathBuf;

use wasmtime::{Engine, StoreLimits, StoreLimitsBuilder};

pub use cache::ModuleCache;
pub use config::HostConfig;
pub use eval::{Evaluation, ModuleFailure};
pub use module::PolicyModule;
pub use swap::PolicyHost;
pub use warm::WarmEvaluator;

/// Why a module was refused at load time. The host keeps serving what it
/// served before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("the host configuration is invalid: {0}")]
    Config(String),
    #[error("the file is not a WebAssembly module: {0}")]
    Malformed(String),
    #[error(
        "the module imports {kind} `{module}::{name}`; policy modules may import nothing (no WASI, no host calls)"
    )]
    ForbiddenImport {
        module: String,
        name: String,
        kind: &'static str,
    },
    #[error("the module does not export `{0}`, which the Ward ABI requires")]
    MissingExport(&'static str),
    #[error("the module's export `{0}` has the wrong type: {1}")]
    BadExport(&'static str, String),
    #[error("the module has no `ward.manifest` section; build it with `ward build`")]
    MissingManifest,
    #[error("the module's manifest is not valid: {0}")]
    Manifest(String),
    #[error("the module was built for ABI version {found}; this host speaks version {expected}")]
    AbiVersion { found: u32, expected: u32 },
    #[error("the module does not compile: {0}")]
    Compile(String),
    #[error("the module cannot be instantiated: {0}")]
    Instantiate(String),
    #[error("the module cache `{path}` cannot be used: {message}")]
    Cache { path: PathBuf, message: String },
}

/// What each store carries: its resource limits.
pub struct StoreData {
    limits: StoreLimits,
}

/// The engine and its limits; shared by every module it loads.
pub struct Host {
    engine: Engine,
    config: HostConfig,
    cache: Option<ModuleCache>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Host {
    pub fn new(config: HostConfig) -> Result<Host, LoadError> {
        let engine = config.engine()?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(ModuleCache::open(dir)?),
            None => None,
        };
        Ok(Host {
            engine,
            config,
            cache,
        })
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    fn store_data(&self) -> StoreData {
        StoreData {
            limits: StoreLimitsBuilder::new()
                .memory_size(self.config.max_memory_bytes)
                .table_elements(self.config.max_table_elements)
                .instances(1)
                .tables(1)
                .memories(1)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}
