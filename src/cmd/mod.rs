//! The subcommands of `ward`, one module each.

pub mod build;
pub mod check;
pub mod eval;
pub mod fmt;
pub mod serve;
pub mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use ward_lang::{Checked, Diagnostic, SourceMap, diag};
use ward_runtime::host::{Host, HostConfig, PolicyModule};

use crate::load::{self, Loaded};
use crate::output;

/// Exit codes, as `ward check` documents them.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The paths to read, `policies/` when none are given.
pub fn paths_or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("policies")]
    } else {
        paths.to_vec()
    }
}

/// A bundle read and checked, with every diagnostic.
pub struct Session {
    pub sources: SourceMap,
    pub checked: Checked,
}

/// Reads and checks a bundle. `Err` carries the exit code when a path
/// could not be read at all.
pub fn load_and_check(paths: &[PathBuf]) -> Result<Session, ExitCode> {
    let Loaded {
        sources,
        policy_files,
        config,
        diagnostics,
    } = match load::load(paths) {
        Ok(loaded) => loaded,
        Err(err) => {
            output::err(&format!("error: {err}\n"));
            return Err(ExitCode::from(EXIT_USAGE));
        }
    };
    let mut checked = ward_lang::check(&sources, &policy_files, config);
    let mut all: Vec<Diagnostic> = diagnostics;
    all.append(&mut checked.diagnostics);
    checked.diagnostics = all;
    if checked.diagnostics.iter().any(Diagnostic::is_error) {
        checked.bundle = None;
    }
    Ok(Session { sources, checked })
}

/// Prints diagnostics as text on stderr.
pub fn report_text(sources: &SourceMap, diagnostics: &[Diagnostic]) {
    if !diagnostics.is_empty() {
        output::err(&diag::render_text(sources, diagnostics));
    }
}

/// The largest module file `--policy` reads.
const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

/// The policy host, with the default limits and a small instance pool:
/// the command makes a handful of decisions, not a gateway's worth.
pub fn host() -> Result<Host, ExitCode> {
    Host::new(HostConfig {
        max_instances: 4,
        ..HostConfig::default()
    })
    .map_err(|err| {
        output::err(&format!("error: cannot start the wasm engine: {err}\n"));
        ExitCode::from(EXIT_FAILED)
    })
}

/// Reads and loads a module built by `ward build`.
pub fn read_module(host: &Host, paths: &[PathBuf]) -> Result<Arc<PolicyModule>, ExitCode> {
    let Some(path) = paths.first() else {
        return Err(ExitCode::from(EXIT_USAGE));
    };
    let fail = |message: String| {
        output::err(&format!("error: `{}`: {message}\n", path.display()));
        ExitCode::from(EXIT_FAILED)
    };
    let bytes = read_module_bytes(path).map_err(fail)?;
    host.load(&bytes).map_err(|e| fail(e.to_string()))
}

/// The bytes of a module file, at most `MAX_MODULE_BYTES`.
pub fn read_module_bytes(path: &std::path::Path) -> Result<Vec<u8>, String> {
    ward_runtime::files::read_capped(path, MAX_MODULE_BYTES).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => format!("{e} for a module"),
        _ => e.to_string(),
    })
}
