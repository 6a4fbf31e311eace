//! A snapshot over every file of the shipped `policies/`: each checks
//! without errors or warnings, and its lowered form (names resolved, lets
//! expanded) is reviewed like code when it changes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use ward_lang::{check_source, ir};

#[test]
fn shipped_policies() {
    insta::glob!("../../policies", "**/*.ward", |path| {
        let text = std::fs::read_to_string(path).expect("policy files are readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("policy.ward");
        let (_, checked) = check_source(name, &text);
        assert!(
            checked.diagnostics.is_empty(),
            "{name}: {:#?}",
            checked.diagnostics
        );
        let bundle = checked.bundle.expect("checks");
        let formatted = ward_lang::fmt::format_source(&text).expect("formats");
        assert_eq!(
            formatted, text,
            "{name} is not in the canonical layout; run `ward fmt`"
        );
        let tests: Vec<String> = bundle.tests.iter().map(|t| t.name.clone()).collect();
        insta::assert_snapshot!(format!(
            "{}tests: {tests:#?}\n",
            ir::render_policies(&bundle)
        ));
    });
}
