//! House rules checked on every source file: each opens with a `//!` line
//! saying what it is for, no test is `#[ignore]`d, and every FIXME names
//! its issue.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::path::{Path, PathBuf};

const ROOTS: &[&str] = &[
    "src",
    "tests",
    "lang",
    "runtime",
    "sdk",
    "dns",
    "fuzz/fuzz_targets",
    "benches",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ROOTS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "found only {} files", files.len());
    files
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let offenders: Vec<_> = sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.starts_with("//!")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files without a leading `//!` line: {offenders:?}"
    );
}

#[test]
fn no_ignored_tests_and_no_unlinked_fixmes() {
    let ignore = ["#[", "ignore]"].concat();
    let mut offenders = Vec::new();
    // This file names the markers it looks for, so it is not searched.
    for path in sources()
        .into_iter()
        .filter(|p| !p.ends_with("tests/tidy.rs"))
    {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let unlinked = ["TODO", "FIXME", "XXX"].iter().any(|marker| {
                line.match_indices(marker)
                    .any(|(at, _)| !line[at + marker.len()..].starts_with("(#"))
            });
            if line.contains(&ignore) || unlinked {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
