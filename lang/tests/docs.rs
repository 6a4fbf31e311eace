//! Keeps docs/language.md in step with the schema: its fact table, taxonomy
//! and category lists are generated from the code and must match it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use ward_lang::Schema;
use ward_lang::schema::{BUILTIN_CATEGORIES, BUILTIN_CLASSES, fact_table_markdown};

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md");
    std::fs::read_to_string(path).expect("docs/language.md exists")
}

/// The text between `<!-- begin NAME -->` and `<!-- end NAME -->`.
fn section(doc: &str, name: &str) -> String {
    let begin = format!("<!-- begin {name} -->\n");
    let end = format!("<!-- end {name} -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("no `{begin}` in docs/language.md"))
        + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no `{end}`"))
        + start;
    doc[start..stop].to_owned()
}

#[test]
fn the_fact_table_matches_the_schema() {
    let generated = fact_table_markdown(&Schema::default());
    assert_eq!(
        section(&reference(), "facts"),
        generated,
        "docs/language.md's fact table is stale; replace it with:\n{generated}"
    );
}

#[test]
fn the_fact_table_appears_once() {
    // Regression: a generated table was once pasted into a sentence too.
    let header = "| fact | type | events | always present | notes |";
    assert_eq!(reference().matches(header).count(), 1);
}

#[test]
fn the_taxonomy_and_categories_are_listed() {
    let doc = reference();
    let classes = section(&doc, "classes");
    for class in BUILTIN_CLASSES {
        assert!(
            classes.contains(&format!("`{class}`")),
            "class `{class}` missing from docs/language.md"
        );
    }
    let categories = section(&doc, "categories");
    for category in BUILTIN_CATEGORIES {
        assert!(
            categories.contains(&format!("`{category}`")),
            "category `{category}` missing"
        );
    }
}
