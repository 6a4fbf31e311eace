//! `ward check`: parse and check a bundle, report every diagnostic.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use ward_lang::diag;

use super::{EXIT_FAILED, EXIT_OK, Format, load_and_check, paths_or_default, report_text};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Policy files or bundle directories (default: `policies/`).
    pub paths: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let session = match load_and_check(&paths) {
        Ok(session) => session,
        Err(code) => return code,
    };
    let checked = &session.checked;
    let (errors, warnings) = (checked.errors(), checked.warnings());
    let (policies, tests) = checked
        .bundle
        .as_ref()
        .map_or((0, 0), |b| (b.policies.len(), b.tests.len()));

    match args.format {
        Format::Text => {
            report_text(&session.sources, &checked.diagnostics);
            let files = session.sources.ids().count();
            output::outln(&format!(
                "checked {files} file{}: {policies} polic{}, {tests} test{}; {errors} error{}, {warnings} warning{}",
                plural(files),
                if policies == 1 { "y" } else { "ies" },
                plural(tests),
                plural(errors),
                plural(warnings),
            ));
        }
        Format::Json => {
            let diagnostics: Vec<_> = checked
                .diagnostics
                .iter()
                .map(|d| diag::to_json(&session.sources, d))
                .collect();
            let report = json!({
                "diagnostics": diagnostics,
                "errors": errors,
                "warnings": warnings,
                "policies": policies,
                "tests": tests,
            });
            output::outln(&report.to_string());
        }
    }

    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    ExitCode::from(if failed { EXIT_FAILED } else { EXIT_OK })
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
