//! The host's configuration: every limit a policy module runs under, with
//! its default, validated once when the engine is built.

use std::path::PathBuf;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy,
};

use super::LoadError;

/// Limits and options of the policy host. `Default` gives the documented
/// defaults; each field says its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Fuel for one evaluation (about one unit per Wasm instruction).
    /// Default 10,000,000: a 1,000-rule bundle needs a few thousand; a
    /// module that loops forever stops within milliseconds.
    pub fuel: u64,
    /// The most linear memory one instance may have, in bytes. Default
    /// 16 MiB; a decision's facts need kilobytes.
    pub max_memory_bytes: usize,
    /// The most instances alive at once across the host (the pooling
    /// allocator's slots). Default 256.
    pub max_instances: u32,
    /// The most table elements per table. Default 1,000 (Ward's own
    /// modules have no tables).
    pub max_table_elements: usize,
    /// The Wasm stack an evaluation may use, in bytes. Default 256 KiB;
    /// deep recursion traps instead of crashing the host.
    pub max_stack_bytes: usize,
    /// Where precompiled modules are kept between runs; `None` (the
    /// default) compiles every module on load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            fuel: 10_000_000,
            max_memory_bytes: 16 << 20,
            max_instances: 256,
            max_table_elements: 1_000,
            max_stack_bytes: 256 << 10,
            cache_dir: None,
        }
    }
}

impl HostConfig {
    /// Builds the engine: Cranelift, fuel metering, a pooling allocator
    /// with copy-on-write memory images, and the limits above.
    pub fn engine(&self) -> Result<Engine, LoadError> {
        if self.fuel == 0 || self.max_memory_bytes < 65536 || self.max_instances == 0 {
            return Err(LoadError::Config(
                "fuel and instances must be positive, memory at least one page (64 KiB)".into(),
            ));
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(self.max_instances)
            .total_memories(self.max_instances)
            .total_tables(self.max_instances)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(self.max_memory_bytes)
            .table_elements(self.max_table_elements);

        let mut config = Config::new();
        config
            .strategy(Strategy::Cranelift)
            .cranelift_opt_level(OptLevel::Speed)
            .consume_fuel(true)
            .max_wasm_stack(self.max_stack_bytes)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Engine::new(&config).map_err(|e| LoadError::Config(e.to_string()))
    }
}
