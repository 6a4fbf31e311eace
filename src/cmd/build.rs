//! `ward build`: compile a checked bundle to one WebAssembly module, its
//! manifest inside (docs/abi.md), ready for `ward eval --policy` and the
//! runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use ward_lang::wasm;

use super::{EXIT_FAILED, EXIT_OK, load_and_check, paths_or_default, report_text};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Policy files or bundle directories (default: `policies/`).
    pub paths: Vec<PathBuf>,
    /// Where to write the module.
    #[arg(short, long, default_value = "bundle.wasm")]
    pub output: PathBuf,
}

pub fn run(args: &BuildArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let session = match load_and_check(&paths) {
        Ok(session) => session,
        Err(code) => return code,
    };
    report_text(&session.sources, &session.checked.diagnostics);
    let Some(bundle) = &session.checked.bundle else {
        output::err("error: the bundle has errors; nothing was built\n");
        return ExitCode::from(EXIT_FAILED);
    };
    let compiled = match wasm::compile(bundle, &session.sources) {
        Ok(compiled) => compiled,
        Err(err) => {
            output::err(&format!("error: cannot compile the bundle: {err}\n"));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if let Err(err) = std::fs::write(&args.output, &compiled.bytes) {
        output::err(&format!(
            "error: cannot write `{}`: {err}\n",
            args.output.display()
        ));
        return ExitCode::from(EXIT_FAILED);
    }
    output::outln(&format!(
        "built {} ({} bytes): {} polic{}, {} fact slot{}",
        args.output.display(),
        compiled.bytes.len(),
        bundle.policies.len(),
        if bundle.policies.len() == 1 {
            "y"
        } else {
            "ies"
        },
        compiled.manifest.facts.len(),
        if compiled.manifest.facts.len() == 1 {
            ""
        } else {
            "s"
        },
    ));
    ExitCode::from(EXIT_OK)
}
