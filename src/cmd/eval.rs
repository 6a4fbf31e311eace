//! `ward eval`: decide one event's facts with a bundle (policy sources or
//! a module built by `ward build`) and print the decision as JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use ward_lang::{Facts, Options, evaluate, interp, wasm};
use ward_runtime::host::{Evaluation, Host, PolicyModule};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, host, load_and_check, read_module, report_text};
use crate::output;

/// Which engine decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The compiled WebAssembly module, in the sandboxed runtime.
    Wasm,
    /// The reference interpreter.
    Interp,
}

/// The largest facts document we read.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Policy files, a bundle directory, or one module built by `ward build`.
    #[arg(long, required = true)]
    pub policy: Vec<PathBuf>,
    /// A JSON object: `event` plus fact names (`-` reads standard input).
    #[arg(long)]
    pub input: PathBuf,
    /// Also list every rule tried, in order, and whether it fired (the
    /// interpreter records this, so it implies `--engine interp`).
    #[arg(long)]
    pub explain: bool,
    /// The engine that decides.
    #[arg(long, value_enum, default_value = "wasm")]
    pub engine: Engine,
}

fn is_module(paths: &[PathBuf]) -> bool {
    matches!(paths, [one] if one.extension().is_some_and(|e| e == "wasm"))
}

pub fn run(args: &EvalArgs) -> ExitCode {
    if is_module(&args.policy) {
        return run_module(args);
    }
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

    let json = match read_json(&args.input) {
        Ok(json) => json,
        Err(code) => return code,
    };
    let facts = match Facts::from_json(&bundle.schema, &json) {
        Ok(facts) => facts,
        Err(errors) => return facts_errors(errors),
    };
    warn_missing(&bundle.schema, &facts);

    if args.engine == Engine::Interp || args.explain {
        let decision = evaluate(
            bundle,
            &facts,
            Options {
                trace: args.explain,
                only: None,
            },
        );
        return print(&interp::decision_json(bundle, &session.sources, &decision));
    }
    let host = match host() {
        Ok(host) => host,
        Err(code) => return code,
    };
    let compiled = match wasm::compile(bundle, &session.sources) {
        Ok(compiled) => compiled,
        Err(err) => {
            output::err(&format!("error: cannot compile the bundle: {err}\n"));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let module = match host.load(&compiled.bytes) {
        Ok(module) => module,
        Err(err) => {
            output::err(&format!("error: cannot load the compiled bundle: {err}\n"));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let evaluation = host.evaluate(&module, &facts, None);
    let mut json = interp::decision_json(bundle, &session.sources, &evaluation.decision);
    add_failure(&mut json, &evaluation);
    print(&json)
}

/// `--policy bundle.wasm`: only the wasm engine can run a built module.
fn run_module(args: &EvalArgs) -> ExitCode {
    if args.engine == Engine::Interp || args.explain {
        output::err(
            "error: a built module runs only on the wasm engine; \
             give the policy sources for `--engine interp` or `--explain`\n",
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let host = match host() {
        Ok(host) => host,
        Err(code) => return code,
    };
    let module = match read_module(&host, &args.policy) {
        Ok(module) => module,
        Err(code) => return code,
    };
    let json = match read_json(&args.input) {
        Ok(json) => json,
        Err(code) => return code,
    };
    let facts = match Facts::from_json(module.schema(), &json) {
        Ok(facts) => facts,
        Err(errors) => return facts_errors(errors),
    };
    warn_missing(module.schema(), &facts);
    decide_module(&host, &module, &facts)
}

fn decide_module(host: &Host, module: &PolicyModule, facts: &Facts) -> ExitCode {
    let evaluation = host.evaluate(module, facts, None);
    let mut json = wasm::manifest::decision_json(module.manifest(), &evaluation.decision);
    add_failure(&mut json, &evaluation);
    print(&json)
}

/// A module failure is part of the answer: the `on error` verdicts decided.
fn add_failure(json: &mut serde_json::Value, evaluation: &Evaluation) {
    if let Some(failure) = &evaluation.failure {
        json["module_error"] = serde_json::json!(failure.to_string());
    }
}

fn print(json: &serde_json::Value) -> ExitCode {
    let text = serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string());
    output::outln(&text);
    ExitCode::from(EXIT_OK)
}

/// Facts the gateway always supplies but the input lacks.
fn warn_missing(schema: &ward_lang::Schema, facts: &Facts) {
    let missing = facts.missing_always_present(schema);
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        output::err(&format!(
            "warning: the input lacks {}; the gateway always supplies these, and any test of a missing fact is false\n",
            names.join(", ")
        ));
    }
}

fn facts_errors(errors: Vec<ward_lang::value::FactsError>) -> ExitCode {
    for error in errors {
        output::err(&format!("error: {error}\n"));
    }
    ExitCode::from(EXIT_FAILED)
}

fn read_json(input: &PathBuf) -> Result<serde_json::Value, ExitCode> {
    let text = match read_input(input) {
        Ok(text) => text,
        Err(message) => {
            output::err(&format!(
                "error: cannot read `{}`: {message}\n",
                input.display()
            ));
            return Err(ExitCode::from(EXIT_USAGE));
        }
    };
    serde_json::from_str(&text).map_err(|err| {
        output::err(&format!(
            "error: `{}` is not valid JSON: {err}\n",
            input.display()
        ));
        ExitCode::from(EXIT_FAILED)
    })
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
