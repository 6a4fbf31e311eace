//! The `ward` command: argument parsing and subcommands, nothing else.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command line prints"
)]

mod cmd;
mod inspect;
mod load;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ward: a policy engine and gateway for hospital networks full of medical
/// devices.
#[derive(Debug, Parser)]
#[command(name = "ward", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policy files: syntax, types, unreachable rules.
    Check(cmd::check::CheckArgs),
    /// Run the tests written beside the policies.
    Test(cmd::test::TestArgs),
    /// Format policy files in the canonical layout.
    Fmt(cmd::fmt::FmtArgs),
    /// Decide one event's facts and print the decision as JSON.
    Eval(cmd::eval::EvalArgs),
    /// Compile a bundle to one WebAssembly module for the runtime.
    Build(cmd::build::BuildArgs),
    /// Classify the traffic in packet captures: devices, flows, DNS.
    Inspect(inspect::InspectArgs),
    /// Answer DNS for the devices, deciding every query with the policies.
    Serve(cmd::serve::ServeArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or journal gets text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                cmd::EXIT_USAGE
            } else {
                cmd::EXIT_OK
            });
        }
    };
    // The front end's recursion is bounded by the lexer's limits; a roomy
    // stack keeps that bound far from the edge in debug builds too.
    let worker = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || run(&cli.command));
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        _ => {
            tracing::error!("the command's worker thread failed");
            ExitCode::from(cmd::EXIT_FAILED)
        }
    }
}

const STACK_BYTES: usize = 64 * 1024 * 1024;

fn run(command: &Command) -> ExitCode {
    match command {
        Command::Check(args) => cmd::check::run(args),
        Command::Test(args) => cmd::test::run(args),
        Command::Fmt(args) => cmd::fmt::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Build(args) => cmd::build::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Serve(args) => cmd::serve::run(args),
    }
}
