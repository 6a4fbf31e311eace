//! Prints the fact table of docs/language.md from the schema.

#![allow(clippy::print_stdout, reason = "a tool that prints")]

fn main() {
    print!(
        "{}",
        ward_lang::schema::fact_table_markdown(&ward_lang::Schema::default())
    );
}
