//! `ward eval`: decide one event's facts with a bundle and print the
//! decision as JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use ward_lang::{Facts, Options, evaluate, interp};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_and_check, report_text};
use crate::output;

/// The largest facts document we read.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Policy files or a bundle directory.
    #[arg(long, required = true)]
    pub policy: Vec<PathBuf>,
    /// A JSON object: `event` plus fact names (`-` reads standard input).
    #[arg(long)]
    pub input: PathBuf,
    /// Also list every rule tried, in order, and whether it fired.
    #[arg(long)]
    pub explain: bool,
}

pub fn run(args: &EvalArgs) -> ExitCode {
    let session = match load_and_check(&args.policy) {
        Ok(session) => session,
        Err(code) => return code,
    };
    let Some(bundle) = &session.checked.bundle else {
        let errors: Vec<_> = session
            .checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        report_text(&session.sources, &errors);
        output::err("error: the policy has errors; nothing was evaluated\n");
        return ExitCode::from(EXIT_FAILED);
    };

    let text = match read_input(&args.input) {
        Ok(text) => text,
        Err(message) => {
            output::err(&format!(
                "error: cannot read `{}`: {message}\n",
                args.input.display()
            ));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(err) => {
            output::err(&format!(
                "error: `{}` is not valid JSON: {err}\n",
                args.input.display()
            ));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let facts = match Facts::from_json(&bundle.schema, &json) {
        Ok(facts) => facts,
        Err(errors) => {
            for error in errors {
                output::err(&format!("error: {error}\n"));
            }
            return ExitCode::from(EXIT_FAILED);
        }
    };

    let decision = evaluate(
        bundle,
        &facts,
        Options {
            trace: args.explain,
            only: None,
        },
    );
    let json = interp::decision_json(bundle, &session.sources, &decision);
    let text = serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string());
    output::outln(&text);
    ExitCode::from(EXIT_OK)
}

fn read_input(path: &PathBuf) -> Result<String, String> {
    let mut bytes = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            _ => e.to_string(),
        })?;
        file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)
    };
    result.map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "larger than the {MAX_INPUT_BYTES}-byte limit for a facts document"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}
