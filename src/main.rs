//! The `ward` command: argument parsing and subcommands, nothing else.

fn main() {}
