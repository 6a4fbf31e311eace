//! The host's own behaviour beyond equivalence: the precompiled cache
//! (hit after a restart, refused when others can write it, a damaged entry
//! recompiled, its directory made private), the warm evaluator (no state between decisions, recovery
//! after a failure), and the on-error decision shape.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::sync::Arc;

use ward_lang::ir::{DnsResponse, VerdictKind};
use ward_lang::schema::Event;
use ward_lang::value::{Facts, Value};
use ward_lang::{Bundle, check_source, wasm};
use ward_runtime::host::{Host, HostConfig, LoadError, WarmEvaluator};

const POLICY: &str = r#"
policy "dns" {
  mode enforce
  on error block
  rule bad on dns {
    when dns.categories has any [phishing, malware]
    then block respond refused
    alert high "bad domain"
  }
  rule trackers on dns {
    when dns.qname matches ["*.tracker.test"]
    then block
  }
  default allow
}
"#;

fn bundle() -> (Bundle, wasm::WasmModule) {
    let (sources, checked) = check_source("dns.ward", POLICY);
    let bundle = checked.bundle.unwrap();
    let compiled = wasm::compile(&bundle, &sources).unwrap();
    (bundle, compiled)
}

fn query(bundle: &Bundle, name: &str, categories: &[&str]) -> Facts {
    let schema = &bundle.schema;
    let mut facts = Facts::new(Event::Dns);
    facts.values.insert(
        schema.fact("dns.qname").unwrap(),
        Value::Str(name.to_owned()),
    );
    facts.values.insert(
        schema.fact("dns.categories").unwrap(),
        Value::Set(
            categories
                .iter()
                .map(|c| Value::Category(schema.categories.get(c).unwrap()))
                .collect(),
        ),
    );
    facts
}

fn small(cache_dir: Option<std::path::PathBuf>) -> Host {
    Host::new(HostConfig {
        max_instances: 4,
        cache_dir,
        ..HostConfig::default()
    })
    .unwrap()
}

#[test]
fn the_cache_serves_a_restarted_host() {
    let (bundle, compiled) = bundle();
    let dir = tempfile::tempdir().unwrap();
    let first = small(Some(dir.path().to_owned()));
    first.load(&compiled.bytes).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "one precompiled entry");

    // A new host (a restart) loads from the entry and decides the same.
    let second = small(Some(dir.path().to_owned()));
    let module = second.load(&compiled.bytes).unwrap();
    let decision = second
        .evaluate(&module, &query(&bundle, "a.tracker.test", &[]), None)
        .decision;
    assert_eq!(decision.verdict.kind, VerdictKind::Block);
    assert_eq!(decision.verdict.respond, Some(DnsResponse::NxDomain));
}

#[test]
fn a_damaged_cache_entry_is_recompiled() {
    let (bundle, compiled) = bundle();
    let dir = tempfile::tempdir().unwrap();
    small(Some(dir.path().to_owned()))
        .load(&compiled.bytes)
        .unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a precompiled module").unwrap();
    }
    let host = small(Some(dir.path().to_owned()));
    let module = host.load(&compiled.bytes).unwrap();
    let evaluation = host.evaluate(&module, &query(&bundle, "x.test", &["phishing"]), None);
    assert_eq!(evaluation.failure, None);
    assert_eq!(
        evaluation.decision.verdict.respond,
        Some(DnsResponse::Refused)
    );
}

#[cfg(unix)]
#[test]
fn a_cache_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Our own directory is tightened to 0700 rather than refused.
    assert!(small(Some(shared.clone())).config().cache_dir.is_some());
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn the_warm_evaluator_carries_nothing_between_decisions() {
    let (bundle, compiled) = bundle();
    let host = Arc::new(small(None));
    let module = host.load(&compiled.bytes).unwrap();
    let mut warm = WarmEvaluator::new(Arc::clone(&host), Arc::clone(&module));
    let bad = query(&bundle, "x.test", &["malware"]);
    let good = query(&bundle, "x.test", &[]);
    for _ in 0..3 {
        let decision = warm.evaluate(&bad, None).decision;
        assert_eq!(decision.verdict.kind, VerdictKind::Block);
        assert_eq!(decision.alerts.len(), 1);
        let decision = warm.evaluate(&good, None).decision;
        assert_eq!(decision.verdict.kind, VerdictKind::Allow);
        assert!(decision.alerts.is_empty());
        assert_eq!(decision, host.evaluate(&module, &good, None).decision);
    }
}

#[test]
fn too_little_fuel_fails_the_load_and_other_events_are_left_alone() {
    let (_, compiled) = bundle();
    let host = Host::new(HostConfig {
        fuel: 1,
        max_instances: 4,
        ..HostConfig::default()
    });
    // One unit of fuel is not even enough to check the ABI version.
    assert!(matches!(
        host.as_ref().unwrap().load(&compiled.bytes),
        Err(LoadError::Instantiate(_))
    ));
    let (bundle, compiled) = bundle();
    let host = small(None);
    let module = host.load(&compiled.bytes).unwrap();
    // The dns policy does not decide flows, so no policy decides one.
    let _ = &bundle;
    let decision = host
        .evaluate(&module, &Facts::new(Event::Flow), None)
        .decision;
    assert_eq!(decision.decider, None);
    assert!(decision.outcomes.is_empty());
}

#[test]
fn invalid_configurations_are_refused() {
    for config in [
        HostConfig {
            fuel: 0,
            ..HostConfig::default()
        },
        HostConfig {
            max_memory_bytes: 1024,
            ..HostConfig::default()
        },
    ] {
        assert!(matches!(Host::new(config), Err(LoadError::Config(_))));
    }
}
