//! Fuzzes the language front end: any bytes must lex, parse, check and
//! format without panicking, and formatting must keep the syntax tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_lang::fmt::format_source;
use ward_lang::parse::parse_file;
use ward_lang::{FileId, check_source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = check_source("fuzz.ward", text);

    let parsed = parse_file(FileId(0), text);
    if parsed.has_errors() {
        return;
    }
    if let Ok(formatted) = format_source(text) {
        let again = parse_file(FileId(0), &formatted);
        assert!(!again.has_errors(), "formatted text does not parse:\n{formatted}");
        assert_eq!(parsed.tree, again.tree, "formatting changed the tree:\n{formatted}");
        assert_eq!(format_source(&formatted).ok().as_deref(), Some(formatted.as_str()), "not idempotent");
    }
});
