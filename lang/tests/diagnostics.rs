//! Snapshots of the rendered diagnostics for every bad policy in
//! `tests/bad/`, one file per mistake, so the wording, the snippet and the
//! help of each diagnostic are reviewed like code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use ward_lang::{check_source, diag};

#[test]
fn bad_policies() {
    insta::glob!("bad/*.ward", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("bad.ward");
        let (sources, checked) = check_source(name, &text);
        assert!(
            !checked.diagnostics.is_empty(),
            "{name} produced no diagnostic"
        );
        if name.starts_with("warn_") {
            assert_eq!(checked.errors(), 0, "{name} should only warn");
        } else {
            assert!(checked.errors() > 0, "{name} should be an error");
        }
        let json: Vec<_> = checked
            .diagnostics
            .iter()
            .map(|d| diag::to_json(&sources, d))
            .collect();
        let rendered = format!(
            "{}\n---- json ----\n{}",
            diag::render_text(&sources, &checked.diagnostics),
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        insta::assert_snapshot!(rendered);
    });
}
