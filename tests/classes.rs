//! Every device class the classification core can guess is a class of the
//! policy language's taxonomy, so `device.class in imaging` sees it.
//! The guesses are string literals in runtime/src/inventory.rs; this reads
//! them from the source so that a new guess cannot drift from the taxonomy.

#![allow(clippy::expect_used, reason = "a failing helper fails the test")]

use ward_lang::schema::{BUILTIN_CLASSES, Taxonomy};

#[test]
fn inventory_guesses_are_taxonomy_classes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/runtime/src/inventory.rs");
    let source = std::fs::read_to_string(path).expect("inventory source");
    let taxonomy = Taxonomy::builtin();
    let tops: Vec<&str> = BUILTIN_CLASSES
        .iter()
        .filter(|c| !c.contains('.'))
        .copied()
        .collect();

    let mut guesses = Vec::new();
    for literal in source.split('"').skip(1).step_by(2) {
        let top = literal.split('.').next().unwrap_or("");
        let shaped = literal
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
        if shaped && tops.contains(&top) && literal.contains('.') {
            guesses.push(literal);
        }
    }
    assert!(guesses.len() >= 10, "found only {guesses:?}");
    let unknown: Vec<_> = guesses
        .iter()
        .filter(|g| taxonomy.get(g).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "inventory guesses outside the taxonomy: {unknown:?}"
    );
}
