//! The compiler's output as text: each policy file in tests/data/wasm/
//! compiles to a module that validates, and its WAT (with the manifest)
//! is snapshotted, so any change to generated code shows in review.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::path::Path;

use ward_lang::{check_source, wasm};

fn compile(name: &str) -> wasm::WasmModule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wasm")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let (sources, checked) = check_source(name, &text);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    wasm::compile(&checked.bundle.unwrap(), &sources).unwrap()
}

fn check(name: &str) {
    let module = compile(name);
    wasm::validate(&module.bytes).unwrap();
    let wat = wasmprinter::print_bytes(&module.bytes).unwrap();
    let manifest = serde_json::to_string_pretty(&serde_json::json!({
        "layout": module.manifest.layout,
        "facts": module.manifest.facts,
        "policies": module.manifest.policies,
        "verdicts": module.manifest.verdicts,
        "alerts": module.manifest.alerts,
    }))
    .unwrap();
    insta::assert_snapshot!(name, format!("{manifest}\n\n{wat}"));
}

#[test]
fn imaging() {
    check("imaging.ward");
}

#[test]
fn dns() {
    check("dns.ward");
}

#[test]
fn maintenance() {
    check("maintenance.ward");
}

#[test]
fn modules_are_deterministic() {
    for name in ["imaging.ward", "dns.ward", "maintenance.ward"] {
        assert_eq!(compile(name).bytes, compile(name).bytes, "{name}");
    }
}
