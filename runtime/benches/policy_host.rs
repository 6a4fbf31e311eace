//! Speed of the policy host (issue 3's targets, quoted in BENCHMARKS.md):
//! warm and fresh-instance decisions, compile-and-load and cache loads,
//! for a ~100-rule hospital policy and a generated 1,000-rule one, next
//! to the reference interpreter on the same facts.
//!
//! Run: `cargo bench -p ward-runtime --bench policy_host`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

mod scenario;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ward_lang::interp::{self, Options};
use ward_lang::{Facts, check_source, wasm};
use ward_runtime::host::{Host, HostConfig, WarmEvaluator};

fn bench(c: &mut Criterion) {
    let host = Arc::new(Host::new(HostConfig::default()).unwrap());
    for rules in [100, 1000] {
        let source = scenario::ward_source(rules);
        let (sources, checked) = check_source("bench.ward", &source);
        let bundle = checked.bundle.expect("the bench policy checks");
        let facts = Facts::from_json(&bundle.schema, &scenario::facts_json()).unwrap();
        let compiled = wasm::compile(&bundle, &sources).unwrap();
        let module = host.load(&compiled.bytes).unwrap();

        let mut group = c.benchmark_group(format!("{rules}_rules"));
        group.bench_function("interpreter", |b| {
            b.iter(|| interp::evaluate(&bundle, black_box(&facts), Options::default()))
        });
        let mut warm = WarmEvaluator::new(Arc::clone(&host), Arc::clone(&module));
        group.bench_function("wasm_warm_instance", |b| {
            b.iter(|| warm.evaluate(black_box(&facts), None))
        });
        group.bench_function("wasm_fresh_instance", |b| {
            b.iter(|| host.evaluate(&module, black_box(&facts), None))
        });
        group.bench_function("compile_only", |b| {
            b.iter(|| wasm::compile(black_box(&bundle), &sources).unwrap())
        });
        group.bench_function("compile_and_load", |b| {
            b.iter(|| {
                let compiled = wasm::compile(&bundle, &sources).unwrap();
                host.load(black_box(&compiled.bytes)).unwrap()
            })
        });

        let dir = tempfile::tempdir().unwrap();
        let cached = Host::new(HostConfig {
            cache_dir: Some(dir.path().to_owned()),
            ..HostConfig::default()
        })
        .unwrap();
        cached.load(&compiled.bytes).unwrap();
        group.bench_function("load_from_cache", |b| {
            b.iter(|| cached.load(black_box(&compiled.bytes)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
