//! Ward's policy language: from source text to a checked policy bundle.
//!
//! The pipeline, by representation: source text ([`span::SourceMap`]) is
//! lexed and parsed into a syntax tree ([`ast`]), which the checker
//! ([`check`]) turns into a checked bundle ([`ir`]) and the analysis
//! ([`analysis`]) reviews; the interpreter ([`interp`]) evaluates a checked
//! bundle on the facts of one event, and the formatter ([`fmt`]) prints a
//! syntax tree back in its one canonical layout. This crate does no I/O.

pub mod analysis;
pub mod ast;
pub mod check;
pub mod config;
pub mod diag;
pub mod fmt;
pub mod interp;
pub mod ir;
pub mod lexer;
pub mod parse;
pub mod schema;
pub mod span;
pub mod testing;
pub mod value;
pub mod wasm;

pub use check::{Checked, check, check_source};
pub use diag::{Diagnostic, Severity};
pub use interp::{Decision, Options, evaluate};
pub use ir::Bundle;
pub use schema::{Event, Schema};
pub use span::{FileId, SourceMap};
pub use value::Facts;
