//! `ward fmt`: rewrite policy files in the one canonical layout.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, paths_or_default, report_text};
use crate::{load, output};

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Policy files or bundle directories (default: `policies/`).
    pub paths: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted and exit 1.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &FmtArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let loaded = match load::load(&paths) {
        Ok(loaded) => loaded,
        Err(err) => {
            output::err(&format!("error: {err}\n"));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    report_text(&loaded.sources, &loaded.diagnostics);
    let mut failed = !loaded.diagnostics.is_empty();
    let mut unformatted = 0;

    for &file in &loaded.policy_files {
        let Some(source) = loaded.sources.get(file) else {
            continue;
        };
        let formatted = match ward_lang::fmt::format_source(&source.text) {
            Ok(text) => text,
            Err(mut diagnostics) => {
                // Diagnostics from format_source point into a one-file map.
                let mut map = ward_lang::SourceMap::new();
                map.add(source.name.clone(), source.text.clone());
                for d in &mut diagnostics {
                    for label in &mut d.labels {
                        label.span.file = ward_lang::FileId(0);
                    }
                }
                report_text(&map, &diagnostics);
                failed = true;
                continue;
            }
        };
        if formatted == source.text {
            continue;
        }
        unformatted += 1;
        if args.check {
            output::outln(&format!("would reformat {}", source.name));
        } else if let Err(err) = std::fs::write(&source.name, formatted) {
            output::err(&format!("error: cannot write `{}`: {err}\n", source.name));
            failed = true;
        } else {
            output::outln(&format!("formatted {}", source.name));
        }
    }
    if args.check && unformatted > 0 {
        failed = true;
    }
    ExitCode::from(if failed { EXIT_FAILED } else { EXIT_OK })
}
