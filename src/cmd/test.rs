//! `ward test`: run the `test` blocks written beside the policies, on both
//! engines (the interpreter and the compiled module); any difference
//! between them fails the test.

use std::path::PathBuf;
use std::process::ExitCode;

use ward_runtime::host::testing::run_both;

use super::{EXIT_FAILED, EXIT_OK, host, load_and_check, paths_or_default, report_text};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Policy files or bundle directories (default: `policies/`).
    pub paths: Vec<PathBuf>,
}

pub fn run(args: &TestArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let session = match load_and_check(&paths) {
        Ok(session) => session,
        Err(code) => return code,
    };
    let errors: Vec<_> = session
        .checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    let Some(bundle) = &session.checked.bundle else {
        report_text(&session.sources, &errors);
        output::outln("0 passed, 0 failed");
        output::err(&format!(
            "error: the bundle has {} error(s); run `ward check` for details\n",
            errors.len()
        ));
        return ExitCode::from(EXIT_FAILED);
    };

    let host = match host() {
        Ok(host) => host,
        Err(code) => return code,
    };
    let results = match run_both(&host, bundle, &session.sources) {
        Ok(results) => results,
        Err(err) => {
            output::outln("0 passed, 0 failed");
            output::err(&format!(
                "error: the wasm engine cannot run the bundle: {err}\n"
            ));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut passed = 0;
    let mut failed = 0;
    for result in &results {
        if result.passed() {
            passed += 1;
            continue;
        }
        failed += 1;
        let mut text = format!(
            "FAIL {} ({})\n",
            result.name,
            session.sources.location(result.span)
        );
        for failure in &result.failures {
            text.push_str(&format!("  {failure}\n"));
        }
        if !output::out(&text) {
            break;
        }
    }
    output::outln(&format!("{passed} passed, {failed} failed"));
    ExitCode::from(if failed > 0 { EXIT_FAILED } else { EXIT_OK })
}
