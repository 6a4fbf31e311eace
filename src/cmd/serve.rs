//! `ward serve`: the DNS front end. Flags override the configuration file,
//! which overrides the built-in defaults (dns/src/config.rs, and the
//! "Serving DNS" section of the README).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ward_dns::config::{Config, Overrides};
use ward_dns::gateway::ConfigSource;
use ward_dns::server::Server;
use ward_lang::{Diagnostic, diag, wasm};

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::{load, output};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); every key has a default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to answer plain DNS on, UDP and TCP (repeatable; default
    /// 127.0.0.1:5353).
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Policy file, bundle directory or compiled `.wasm` module
    /// (repeatable for several files or directories; default: `policies/`).
    #[arg(long, value_name = "PATH")]
    pub policy: Vec<PathBuf>,
    /// A category list: `CATEGORY=FILE` (repeatable).
    #[arg(long, value_name = "CATEGORY=FILE", value_parser = parse_list)]
    pub list: Vec<(String, PathBuf)>,
    /// Upstream resolver: `ADDR[:PORT]` or `tls://ADDR[:PORT]#NAME`
    /// (repeatable; default: the system resolver's).
    #[arg(long, value_name = "ADDR")]
    pub upstream: Vec<String>,
    /// A zone file answered locally (repeatable).
    #[arg(long, value_name = "FILE")]
    pub zone: Vec<PathBuf>,
    /// Write the decision log here (one JSON line per decision).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

fn parse_list(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((category, path)) if !category.is_empty() && !path.is_empty() => {
            Ok((category.to_owned(), PathBuf::from(path)))
        }
        _ => Err(format!("expected CATEGORY=FILE, got `{text}`")),
    }
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let source = ConfigSource {
        file: args.config.clone(),
        overrides: Overrides {
            listen: args.listen.clone(),
            policy: args.policy.clone(),
            lists: args.list.clone(),
            upstreams: args.upstream.clone(),
            zones: args.zone.clone(),
            log: args.log.clone(),
            metrics: args.metrics,
        },
    };
    let config: Config = match source.read() {
        Ok(config) => config,
        Err(message) => {
            output::err(&format!("error: {message}\n"));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let server = match Server::start(&config, source, Arc::new(build_module)) {
        Ok(server) => server,
        Err(error) => {
            output::err(&format!("error: {error}\n"));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let bundle = server.gateway().bundle();
    let listen: Vec<String> = server
        .udp_addrs
        .iter()
        .map(|a| format!("{a} (udp, tcp)"))
        .chain(server.tls_addrs.iter().map(|a| format!("{a} (tls)")))
        .chain(server.https_addrs.iter().map(|a| format!("{a} (https)")))
        .collect();
    output::err(&format!(
        "ward serve: answering on {}; module {}; {} listed names; time zone {}; metrics {}\n",
        listen.join(", "),
        &bundle.module.hash_hex()[..12],
        bundle.categories.len(),
        bundle.time_zone.iana_name().unwrap_or("of a fixed offset"),
        server
            .metrics_addr
            .map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics")),
    ));
    drop(bundle);
    match server.run_until_signalled() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::err(&format!("error: {error}\n"));
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Builds the module for the given paths: one `.wasm` file is read as a
/// module; anything else is loaded, checked and compiled like `ward build`.
fn build_module(paths: &[PathBuf]) -> Result<Vec<u8>, String> {
    if let [path] = paths
        && path.extension().is_some_and(|e| e == "wasm")
    {
        return super::read_module_bytes(path).map_err(|e| format!("`{}`: {e}", path.display()));
    }
    let loaded = load::load(paths).map_err(|e| e.to_string())?;
    let mut checked = ward_lang::check(&loaded.sources, &loaded.policy_files, loaded.config);
    let mut diagnostics = loaded.diagnostics;
    diagnostics.append(&mut checked.diagnostics);
    let errors: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    match (&checked.bundle, errors.is_empty()) {
        // Patient safety is explicit: no policy at all (an empty directory,
        // a wrong path) is a mistake, not an instruction to allow everything.
        (Some(bundle), true) if bundle.policies.is_empty() => Err(format!(
            "no policy in {}: ward serve would allow every query; write one (a policy with \
             only `default allow` serves without filtering)",
            paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (Some(bundle), true) => wasm::compile(bundle, &loaded.sources)
            .map(|compiled| compiled.bytes)
            .map_err(|e| format!("cannot compile the bundle: {e}")),
        _ => Err(format!(
            "the bundle has errors:\n{}",
            diag::render_text(&loaded.sources, &errors)
        )),
    }
}
