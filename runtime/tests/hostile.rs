//! Hand-written hostile modules: each must end in its documented error,
//! at load time or as a module failure with the `on error` verdicts, and
//! the host must go on serving afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::sync::{Arc, OnceLock};

use ward_lang::ir::VerdictKind;
use ward_lang::schema::Event;
use ward_lang::value::{Facts, Value};
use ward_lang::{SourceMap, check_source, wasm};
use ward_runtime::host::{Host, HostConfig, LoadError, ModuleFailure, PolicyHost};

fn host() -> Arc<Host> {
    static HOST: OnceLock<Arc<Host>> = OnceLock::new();
    Arc::clone(HOST.get_or_init(|| {
        Arc::new(
            Host::new(HostConfig {
                fuel: 1_000_000,
                max_memory_bytes: 4 << 20,
                ..HostConfig::default()
            })
            .unwrap(),
        )
    }))
}

/// A manifest for a one-policy module that blocks on error; the layout
/// points at the start of a one-page memory.
fn manifest(abi: u32) -> String {
    let manifest = serde_json::json!({
        "abi": abi,
        "classes": ward_lang::Schema::default().taxonomy.names().collect::<Vec<_>>(),
        "categories": ward_lang::Schema::default().categories.names().collect::<Vec<_>>(),
        "layout": {
            "output": 16, "max_outcomes": 1, "alerts": 64, "max_alerts": 0,
            "filter": 128, "input": 136, "heap": 1024, "category_words": 1
        },
        "facts": [],
        "policies": [{
            "name": "hostile", "mode": "enforce", "events": ["flow", "dns", "url"],
            "on_error": 1, "default_location": "hostile.wat:1:1", "rules": []
        }],
        "verdicts": [
            {"kind": "allow", "respond": null, "sinkhole": null},
            {"kind": "block", "respond": null, "sinkhole": null}
        ],
        "alerts": []
    });
    // A WAT string literal: escape quotes and backslashes.
    manifest
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// A module with the ABI's exports, whose `ward_evaluate` body is given.
fn module(evaluate_body: &str, extra: &str, abi: u32) -> Vec<u8> {
    let text = format!(
        r#"(module
            {extra}
            (memory (export "memory") 1)
            (func (export "ward_abi_version") (result i32) i32.const {abi})
            (func (export "ward_evaluate") (param i32 i32) (result i32) {evaluate_body})
            (@custom "ward.manifest" "{}"))"#,
        manifest(abi)
    );
    wat::parse_str(text).unwrap()
}

fn flow() -> Facts {
    Facts::new(Event::Flow)
}

/// Loads the module and evaluates once; returns the failure.
fn failure_of(bytes: &[u8]) -> ModuleFailure {
    let module = host().load(bytes).unwrap();
    let evaluation = host().evaluate(&module, &flow(), None);
    // The policy's `on error block` decides.
    assert_eq!(evaluation.decision.verdict.kind, VerdictKind::Block);
    assert_eq!(evaluation.decision.outcomes.len(), 1);
    evaluation.failure.expect("the module must fail")
}

/// After any hostile module, a real one still decides.
fn host_still_serves() {
    let (sources, checked) = check_source(
        "ok.ward",
        r#"policy "ok" { mode enforce on error allow
            rule r on flow { when peer.port == 23 then block }
            default allow }"#,
    );
    let bundle = checked.bundle.unwrap();
    let compiled = wasm::compile(&bundle, &sources).unwrap();
    let module = host().load(&compiled.bytes).unwrap();
    let mut facts = flow();
    facts
        .values
        .insert(bundle.schema.fact("peer.port").unwrap(), Value::Int(23));
    let evaluation = host().evaluate(&module, &facts, None);
    assert_eq!(evaluation.failure, None);
    assert_eq!(evaluation.decision.verdict.kind, VerdictKind::Block);
}

#[test]
fn a_well_behaved_hand_written_module_decides() {
    // Writes "1 outcome, 0 alerts, decider 0: policy 0, default, verdict 0".
    let body = "
        (i32.store (i32.const 16) (i32.const 1))
        (i32.store (i32.const 20) (i32.const 0))
        (i32.store (i32.const 24) (i32.const 0))
        (i32.store (i32.const 32) (i32.const 0))
        (i32.store (i32.const 36) (i32.const -1))
        (i32.store (i32.const 40) (i32.const 0))
        i32.const 0";
    let module = host().load(&module(body, "", 1)).unwrap();
    let evaluation = host().evaluate(&module, &flow(), None);
    assert_eq!(evaluation.failure, None);
    assert_eq!(evaluation.decision.verdict.kind, VerdictKind::Allow);
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let failure = failure_of(&module("(loop (br 0)) i32.const 0", "", 1));
    assert_eq!(failure, ModuleFailure::OutOfFuel);
    host_still_serves();
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let body = "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) i32.const 0";
    let failure = failure_of(&module(body, "", 1));
    assert!(matches!(failure, ModuleFailure::MemoryLimit), "{failure:?}");
    host_still_serves();
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let extra =
        "(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))";
    let failure = failure_of(&module("(call $down (i32.const 0))", extra, 1));
    assert_eq!(failure, ModuleFailure::StackOverflow);
    host_still_serves();
}

#[test]
fn a_trap_applies_on_error() {
    let failure = failure_of(&module("unreachable", "", 1));
    assert!(matches!(failure, ModuleFailure::Trap(_)), "{failure:?}");
    host_still_serves();
}

#[test]
fn nonsense_output_is_refused() {
    // Claims 1,000 outcomes where the manifest allows one.
    let body = "(i32.store (i32.const 16) (i32.const 1000)) i32.const 0";
    let failure = failure_of(&module(body, "", 1));
    assert!(
        matches!(failure, ModuleFailure::BadOutput(_)),
        "{failure:?}"
    );
    // And an outcome naming a verdict that does not exist.
    let body = "
        (i32.store (i32.const 16) (i32.const 1))
        (i32.store (i32.const 24) (i32.const 0))
        (i32.store (i32.const 36) (i32.const -1))
        (i32.store (i32.const 40) (i32.const 99))
        i32.const 0";
    let failure = failure_of(&module(body, "", 1));
    assert!(
        matches!(failure, ModuleFailure::BadOutput(_)),
        "{failure:?}"
    );
}

#[test]
fn a_wasi_import_is_refused_at_load() {
    let extra = r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#;
    let error = host().load(&module("i32.const 0", extra, 1)).unwrap_err();
    assert_eq!(
        error,
        LoadError::ForbiddenImport {
            module: "wasi_snapshot_preview1".into(),
            name: "fd_write".into(),
            kind: "function",
        }
    );
    assert!(error.to_string().contains("no WASI"), "{error}");
}

#[test]
fn any_other_import_is_refused_at_load() {
    let extra = r#"(import "env" "table" (table 1 funcref))"#;
    let error = host().load(&module("i32.const 0", extra, 1)).unwrap_err();
    assert!(
        matches!(error, LoadError::ForbiddenImport { kind: "table", .. }),
        "{error:?}"
    );
}

#[test]
fn a_wrong_abi_version_is_refused_at_load() {
    let error = host().load(&module("i32.const 0", "", 2)).unwrap_err();
    assert_eq!(
        error,
        LoadError::AbiVersion {
            found: 2,
            expected: 1
        }
    );
    // The manifest says 1 but the code says 7.
    let mut text = String::from_utf8(Vec::new()).unwrap();
    text.push_str(&format!(
        r#"(module (memory (export "memory") 1)
            (func (export "ward_abi_version") (result i32) i32.const 7)
            (func (export "ward_evaluate") (param i32 i32) (result i32) i32.const 0)
            (@custom "ward.manifest" "{}"))"#,
        manifest(1)
    ));
    let error = host().load(&wat::parse_str(text).unwrap()).unwrap_err();
    assert_eq!(
        error,
        LoadError::AbiVersion {
            found: 7,
            expected: 1
        }
    );
}

#[test]
fn a_missing_export_or_manifest_is_refused_at_load() {
    let bytes = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    assert_eq!(
        host().load(&bytes).unwrap_err(),
        LoadError::MissingExport("ward_abi_version")
    );
    let bytes = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "ward_abi_version") (result i32) i32.const 1)
            (func (export "ward_evaluate") (param i32 i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    assert_eq!(host().load(&bytes).unwrap_err(), LoadError::MissingManifest);
    // The right names with the wrong types.
    let bytes = module("i32.const 0", "", 1);
    let text = wasmprinter_free_retype(&bytes);
    assert!(matches!(
        host().load(&text).unwrap_err(),
        LoadError::BadExport("ward_evaluate", _)
    ));
}

/// A module whose `ward_evaluate` takes one parameter instead of two.
fn wasmprinter_free_retype(_: &[u8]) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1)
            (func (export "ward_abi_version") (result i32) i32.const 1)
            (func (export "ward_evaluate") (param i32) (result i32) i32.const 0)
            (@custom "ward.manifest" "{}"))"#,
        manifest(1)
    ))
    .unwrap()
}

#[test]
fn a_truncated_file_is_refused_at_load() {
    let (sources, checked) = check_source(
        "ok.ward",
        r#"policy "ok" { mode enforce on error allow default allow }"#,
    );
    let compiled = wasm::compile(&checked.bundle.unwrap(), &sources).unwrap();
    for cut in [0, 4, 8, compiled.bytes.len() / 2, compiled.bytes.len() - 1] {
        let error = host().load(&compiled.bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                error,
                LoadError::Malformed(_) | LoadError::MissingExport(_) | LoadError::MissingManifest
            ),
            "cut at {cut}: {error:?}"
        );
    }
    assert!(matches!(
        host().load(b"not wasm at all").unwrap_err(),
        LoadError::Malformed(_)
    ));
}

#[test]
fn a_failed_swap_leaves_the_old_module_serving() {
    let (sources, checked) = check_source(
        "ok.ward",
        r#"policy "ok" { mode enforce on error allow
            rule r on flow { when peer.port == 23 then block }
            default allow }"#,
    );
    let bundle = checked.bundle.unwrap();
    let compiled = wasm::compile(&bundle, &sources).unwrap();
    let serving = PolicyHost::new(host(), &compiled.bytes).unwrap();
    let before = serving.current().hash_hex();
    assert!(serving.swap(b"\0asm garbage").is_err());
    assert_eq!(serving.current().hash_hex(), before);

    let mut facts = flow();
    facts
        .values
        .insert(bundle.schema.fact("peer.port").unwrap(), Value::Int(23));
    assert_eq!(
        serving.evaluate(&facts).decision.verdict.kind,
        VerdictKind::Block
    );

    // A good swap takes effect for the next decision.
    let (sources, checked) = check_source(
        "ok.ward",
        r#"policy "ok" { mode enforce on error allow default allow }"#,
    );
    let next = wasm::compile(&checked.bundle.unwrap(), &sources).unwrap();
    serving.swap(&next.bytes).unwrap();
    assert_ne!(serving.current().hash_hex(), before);
    assert_eq!(
        serving.evaluate(&facts).decision.verdict.kind,
        VerdictKind::Allow
    );
    let _ = SourceMap::new();
}
