//! Times the classification pipeline on a capture file, reading it from
//! disk as `ndpiReader -i FILE` does, for the comparison in BENCHMARKS.md.
//!
//! Run: `cargo run --release -p ward-runtime --example classify_file -- FILE`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measuring tool prints its measurements"
)]

use std::io::BufReader;
use std::process::ExitCode;
use std::time::Instant;

use ward_runtime::flow::FlowConfig;
use ward_runtime::inspect::{Event, Inspector};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: classify_file CAPTURE");
        return ExitCode::from(2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot open `{path}`: {e}");
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let mut flows = 0u64;
    let mut unknown = 0u64;
    let mut count = |e: Event| {
        if let Event::Flow(f) = e {
            flows += 1;
            if f.protocol.name() == "unknown" {
                unknown += 1;
            }
        }
    };
    let mut inspector = Inspector::new(FlowConfig::default(), None, None);
    if let Err(e) = inspector.read(BufReader::with_capacity(1 << 20, file), &mut count) {
        eprintln!("error: `{path}`: {e}");
        return ExitCode::from(1);
    }
    let (_, summary) = inspector.finish(&mut count);
    let elapsed = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} packets, {flows} flows ({unknown} unknown) in {:.0} ms: {:.0} K pps, {:.2} Gbit/s of capture file",
        summary.packets,
        elapsed * 1000.0,
        summary.packets as f64 / elapsed / 1000.0,
        bytes as f64 * 8.0 / elapsed / 1e9
    );
    ExitCode::SUCCESS
}
