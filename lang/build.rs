//! Generates the parser from `src/grammar.lalrpop`.

fn main() {
    lalrpop::process_src().unwrap_or_else(|err| {
        // A build script reports failure by exiting non-zero; the message is
        // lalrpop's own description of the grammar error.
        #[allow(clippy::print_stderr, reason = "build scripts report on stderr")]
        {
            eprintln!("cannot generate the parser: {err}");
        }
        std::process::exit(1)
    });
}
