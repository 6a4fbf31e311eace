//! Ward's compiled module next to the `cedar-policy` crate (Cedar) and the
//! `regorus` crate (Rego) on equivalent policies and the same facts: N
//! rules "block when class, protocol and port match", no rule matching,
//! so every engine must look at every rule.
//!
//! Run: `cargo bench -p ward-runtime --features compare-engines --bench engines`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

mod scenario;

use std::fmt::Write;
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ward_lang::{Facts, check_source, wasm};
use ward_runtime::host::{Host, HostConfig, WarmEvaluator};

/// The same rules in Cedar: one `forbid` per rule over a `permit` all.
fn cedar_source(n: usize) -> String {
    let mut out = String::from("permit(principal, action, resource);\n");
    for rule in scenario::rule_shapes(n) {
        let _ = writeln!(
            out,
            "forbid(principal, action, resource) when {{ context.class == \"{}\" && context.protocol == \"{}\" && context.port == {} }};",
            rule.class, rule.protocol, rule.port
        );
    }
    out
}

/// The same rules in Rego v1.
fn rego_source(n: usize) -> String {
    let mut out = String::from("package hospital\n\ndefault block := false\n\n");
    for rule in scenario::rule_shapes(n) {
        let _ = writeln!(
            out,
            "block if {{\n  input.class == \"{}\"\n  input.protocol == \"{}\"\n  input.port == {}\n}}\n",
            rule.class, rule.protocol, rule.port
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let host = Arc::new(Host::new(HostConfig::default()).unwrap());
    let input = serde_json::json!({
        "class": "infusion.pump", "protocol": "tls", "port": 443
    });
    for n in [100, 1000] {
        let mut group = c.benchmark_group(format!("engines_{n}_rules"));

        // Ward: only the generated rules, so all three do the same work.
        let mut source = String::from("policy \"p\" {\n  mode enforce\n  on error block\n");
        for (i, rule) in scenario::rule_shapes(n).iter().enumerate() {
            let _ = write!(
                source,
                "  rule r{i} on flow {{\n    when device.class == {} and flow.protocol == {} and peer.port == {}\n    then block\n  }}\n",
                rule.class, rule.protocol, rule.port
            );
        }
        source.push_str("  default allow\n}\n");
        let (sources, checked) = check_source("p.ward", &source);
        let bundle = checked.bundle.unwrap();
        let facts = Facts::from_json(&bundle.schema, &scenario::facts_json()).unwrap();
        let compiled = wasm::compile(&bundle, &sources).unwrap();
        let module = host.load(&compiled.bytes).unwrap();
        let mut warm = WarmEvaluator::new(Arc::clone(&host), Arc::clone(&module));
        assert_eq!(
            warm.evaluate(&facts, None).decision.verdict.kind.name(),
            "allow"
        );
        group.bench_function("ward_wasm_warm", |b| {
            b.iter(|| warm.evaluate(black_box(&facts), None))
        });

        let policies = cedar_policy::PolicySet::from_str(&cedar_source(n)).unwrap();
        let request = cedar_policy::Request::new(
            cedar_policy::EntityUid::from_str(r#"Device::"pump""#).unwrap(),
            cedar_policy::EntityUid::from_str(r#"Action::"connect""#).unwrap(),
            cedar_policy::EntityUid::from_str(r#"Peer::"p""#).unwrap(),
            cedar_policy::Context::from_json_value(input.clone(), None).unwrap(),
            None,
        )
        .unwrap();
        let entities = cedar_policy::Entities::empty();
        let authorizer = cedar_policy::Authorizer::new();
        assert_eq!(
            authorizer
                .is_authorized(&request, &policies, &entities)
                .decision(),
            cedar_policy::Decision::Allow
        );
        group.bench_function("cedar", |b| {
            b.iter(|| authorizer.is_authorized(black_box(&request), &policies, &entities))
        });

        let mut rego = regorus::Engine::new();
        rego.add_policy("hospital.rego".into(), rego_source(n))
            .unwrap();
        rego.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
        assert_eq!(
            rego.eval_rule("data.hospital.block".into()).unwrap(),
            regorus::Value::from(false)
        );
        group.bench_function("regorus", |b| {
            b.iter(|| {
                rego.eval_rule(black_box("data.hospital.block".into()))
                    .unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
