//! `ward inspect`: classify the traffic in packet captures and print the
//! devices, flows and DNS queries found, as tables or as JSON lines.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value};
use ward_lang::{Facts, Options, evaluate, interp, value::FactsError};
use ward_runtime::categories::{CategorySet, ListKind, LoadReport};
use ward_runtime::flow::FlowConfig;
use ward_runtime::inspect::{DnsRecord, Event, FlowRecord, Inspector, Summary};
use ward_runtime::inventory::DeviceReport;
use ward_runtime::oui::{DEFAULT_OUI_PATH, OuiTable, format_mac};

/// Exit code when a capture could not be read.
/// The largest block list `--list` reads (as `ward serve` does).
const MAX_LIST_BYTES: u64 = 512 * 1024 * 1024;
const EXIT_CAPTURE_ERROR: u8 = 1;
/// Exit code for unusable arguments (a list or policy that cannot load).
const EXIT_USAGE: u8 = 2;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Device, flow and DNS tables.
    Text,
    /// One JSON object per line, each with a `type` field.
    Json,
}

/// Arguments of `ward inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Packet captures (pcap or pcapng) to read, in order.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Policy bundle to decide each flow and DNS query with.
    #[arg(long, value_name = "PATH")]
    pub policy: Option<PathBuf>,
    /// A block-list loaded under a category name (hosts, domains, wildcard,
    /// Adblock or RPZ format, detected); repeatable.
    #[arg(long = "list", value_name = "CATEGORY=FILE")]
    pub lists: Vec<String>,
    /// An allow-list: names it covers are in no block category; repeatable.
    #[arg(long = "allow-list", value_name = "NAME=FILE")]
    pub allow_lists: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// IEEE OUI registry for MAC vendors.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_OUI_PATH)]
    pub oui: PathBuf,
    /// Most flows tracked at once; older flows are evicted (and counted).
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub max_flows: usize,
}

/// Runs `ward inspect`.
pub fn run(args: &InspectArgs) -> ExitCode {
    match inspect(args) {
        Ok(code) => code,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            let _ = writeln!(io::stderr(), "error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Io(e)) => {
            let _ = writeln!(io::stderr(), "error: cannot write the output: {e}");
            ExitCode::from(EXIT_CAPTURE_ERROR)
        }
        Err(Failure::Exit(code)) => code,
    }
}

/// A checked policy bundle deciding the events of the inspection.
struct PolicyDecider {
    session: crate::cmd::Session,
    /// Facts left out of decisions because the bundle's schema lacks them
    /// or rejects their value, by name.
    dropped: std::collections::BTreeMap<String, u64>,
}

impl PolicyDecider {
    fn load(path: &std::path::Path) -> Result<Self, Failure> {
        let session = crate::cmd::load_and_check(&[path.to_path_buf()]).map_err(Failure::Exit)?;
        if session.checked.bundle.is_none() {
            let errors: Vec<_> = session
                .checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            crate::cmd::report_text(&session.sources, &errors);
            return Err(Failure::Usage(
                "the policy has errors; nothing was inspected".to_owned(),
            ));
        }
        Ok(PolicyDecider {
            session,
            dropped: std::collections::BTreeMap::new(),
        })
    }

    /// Decides one event; `input` is `{"event": ..., <fact>: <value>}`.
    fn decide(&mut self, mut input: Map<String, Value>) -> Option<Value> {
        let bundle = self.session.checked.bundle.as_ref()?;
        // The classifier knows facts a given bundle may not (extra
        // attributes, categories it does not declare): keep what it takes.
        let mut facts = Facts::from_json(&bundle.schema, &Value::Object(input.clone()));
        if let Err(errors) = &facts {
            for error in errors {
                let name = match error {
                    FactsError::UnknownFact { name, .. }
                    | FactsError::WrongEvent { name, .. }
                    | FactsError::BadValue { name, .. } => name.clone(),
                    _ => continue,
                };
                let Some(value) = input.remove(&name) else {
                    continue;
                };
                // A set keeps the elements the bundle accepts.
                if let (FactsError::BadValue { .. }, Value::Array(items)) = (error, &value) {
                    let event = input.get("event").cloned().unwrap_or(Value::Null);
                    let kept: Vec<Value> = items
                        .iter()
                        .filter(|item| {
                            let mut one = Map::new();
                            one.insert("event".to_owned(), event.clone());
                            one.insert(name.clone(), Value::Array(vec![(*item).clone()]));
                            Facts::from_json(&bundle.schema, &Value::Object(one)).is_ok()
                        })
                        .cloned()
                        .collect();
                    if kept.len() < items.len() {
                        *self
                            .dropped
                            .entry(format!("{name} (some values)"))
                            .or_default() += 1;
                    }
                    input.insert(name, Value::Array(kept));
                    continue;
                }
                // A fact of another event (`dns.qname` on a DNS flow) is
                // expected; only facts the schema lacks are worth a word.
                if !matches!(error, FactsError::WrongEvent { .. }) {
                    *self.dropped.entry(name).or_default() += 1;
                }
            }
            facts = Facts::from_json(&bundle.schema, &Value::Object(input));
        }
        let facts = facts.ok()?;
        let decision = evaluate(
            bundle,
            &facts,
            Options {
                trace: false,
                only: None,
            },
        );
        Some(interp::decision_json(
            bundle,
            &self.session.sources,
            &decision,
        ))
    }
}

/// The `decision` output record for an event.
fn decision_record(decision: &Value, event: &str, key: (&str, Value)) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("type".to_owned(), Value::String("decision".to_owned()));
    out.insert("event".to_owned(), Value::String(event.to_owned()));
    out.insert(key.0.to_owned(), key.1);
    if let Value::Object(fields) = decision {
        for (k, v) in fields {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    out
}

/// The verdict word of a decision, for the text tables.
/// The verdict column: the verdict, what decided it, what monitor-mode
/// policies would have done, and the alerts, so a reader of the tables
/// sees why without the JSON.
fn verdict_of(decision: Option<&Value>) -> String {
    let Some(d) = decision else {
        return "-".to_owned();
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut out = text(d, "verdict");
    if out.is_empty() {
        return "-".to_owned();
    }
    let (policy, rule) = (text(d, "policy"), text(d, "rule"));
    if !policy.is_empty() && rule != "default" {
        out.push_str(&format!(" by {policy}/{rule}"));
    }
    if let Some(would) = d.get("would") {
        let verdict = text(would, "verdict");
        if !verdict.is_empty() && verdict != "allow" {
            out.push_str(&format!(
                "; monitor would {verdict} by {}/{}",
                text(would, "policy"),
                text(would, "rule")
            ));
        }
    }
    for alert in d
        .get("alerts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "; alert {}: {}",
            text(alert, "severity"),
            text(alert, "message")
        ));
    }
    out
}

enum Failure {
    /// The reader of our output went away: not an error.
    BrokenPipe,
    Usage(String),
    Io(io::Error),
    /// Already reported; exit with this code.
    Exit(ExitCode),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Io(e)
        }
    }
}

fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "warning: {message}");
}

fn load_lists(
    args: &InspectArgs,
    schema: &ward_lang::Schema,
) -> Result<Option<CategorySet>, Failure> {
    if args.lists.is_empty() && args.allow_lists.is_empty() {
        return Ok(None);
    }
    let mut set = CategorySet::new();
    let specs = args
        .lists
        .iter()
        .map(|s| (s, ListKind::Block))
        .chain(args.allow_lists.iter().map(|s| (s, ListKind::Allow)));
    for (spec, kind) in specs {
        let Some((category, path)) = spec.split_once('=') else {
            return Err(Failure::Usage(format!(
                "`{spec}` is not CATEGORY=FILE\n  help: for example `--list malware=lists/malware.txt`"
            )));
        };
        // A list under a name no policy can test would be dead weight, and
        // a typo (`malwre`) would silently switch the list off.
        if schema.categories.get(category).is_none() || category.is_empty() {
            let known: Vec<&str> = schema.categories.names().collect();
            let hint = ward_lang::diag::did_you_mean(category, known.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(Failure::Usage(format!(
                "unknown category `{category}` in `{spec}`\n  help: {hint}known categories: {}; declare others in the bundle's `ward.toml`",
                known.join(", ")
            )));
        }
        let bytes = ward_runtime::files::read_capped(Path::new(path), MAX_LIST_BYTES)
            .map_err(|e| Failure::Usage(format!("cannot read the list `{path}`: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        let report = set
            .load(category, kind, &text, None)
            .map_err(|e| Failure::Usage(format!("cannot load the list `{path}`: {e}")))?;
        report_list(path, &report);
    }
    Ok(Some(set))
}

fn report_list(path: &str, report: &LoadReport) {
    let format = report.format.map_or("unknown", |f| f.name());
    let _ = writeln!(
        io::stderr(),
        "list `{path}` ({format}) as `{}`: {} rules, {} duplicates, {} ignored, {} ip addresses, {} unsupported, {} bad lines",
        report.category,
        report.added,
        report.duplicates,
        report.ignored,
        report.ip_literals,
        report.unsupported,
        report.bad
    );
    for bad in report.bad_lines.iter().take(5) {
        let _ = writeln!(io::stderr(), "  line {}: {}", bad.line, bad.reason);
    }
    if report.bad > 5 {
        let _ = writeln!(io::stderr(), "  ... and {} more bad lines", report.bad - 5);
    }
}

fn write_json(out: &mut impl Write, object: Map<String, Value>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Value::Object(object))?;
    out.write_all(b"\n")
}

fn inspect(args: &InspectArgs) -> Result<ExitCode, Failure> {
    let mut decider = match &args.policy {
        Some(path) => Some(PolicyDecider::load(path)?),
        None => None,
    };
    let schema = decider
        .as_ref()
        .and_then(|d| d.session.checked.bundle.as_ref())
        .map_or_else(ward_lang::Schema::default, |b| b.schema.clone());
    let lists = load_lists(args, &schema)?;
    let oui = match OuiTable::load(&args.oui) {
        Ok(table) => Some(table),
        Err(e) => {
            warn(&format!(
                "{e}; MAC vendors are not shown\n  help: {}",
                e.help()
            ));
            None
        }
    };

    let config = FlowConfig {
        max_flows: args.max_flows.max(1),
        ..FlowConfig::default()
    };
    let mut inspector = Inspector::new(config, lists.as_ref(), oui.as_ref());
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut flows: Vec<(FlowRecord, Option<Value>)> = Vec::new();
    let mut queries: Vec<(DnsRecord, Option<Value>)> = Vec::new();
    let mut write_error: Option<io::Error> = None;
    let format = args.format;
    let mut emit = |event: Event| {
        if write_error.is_some() {
            return;
        }
        let decision = decider.as_mut().and_then(|d| match &event {
            Event::Flow(f) => d.decide(f.decision_input()),
            Event::Dns(q) => d.decide(q.decision_input()),
        });
        let result = match (format, event) {
            (Format::Json, Event::Flow(f)) => {
                write_json(&mut out, f.to_json()).and_then(|()| match &decision {
                    Some(d) => {
                        write_json(&mut out, decision_record(d, "flow", ("flow", f.id.into())))
                    }
                    None => Ok(()),
                })
            }
            (Format::Json, Event::Dns(q)) => write_json(&mut out, q.to_json()).and_then(|()| {
                let name = q
                    .attributes
                    .get("dns.qname")
                    .cloned()
                    .unwrap_or(Value::Null);
                match &decision {
                    Some(d) => write_json(&mut out, decision_record(d, "dns", ("qname", name))),
                    None => Ok(()),
                }
            }),
            (Format::Text, Event::Flow(f)) => {
                flows.push((*f, decision));
                Ok(())
            }
            (Format::Text, Event::Dns(q)) => {
                queries.push((*q, decision));
                Ok(())
            }
        };
        if let Err(e) = result {
            write_error = Some(e);
        }
    };

    let mut failed = false;
    for path in &args.captures {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(io::stderr(), "error: cannot open `{}`: {e}", path.display());
                failed = true;
                continue;
            }
        };
        if let Err(e) = inspector.read(BufReader::new(file), &mut emit) {
            let _ = writeln!(io::stderr(), "error: `{}`: {e}", path.display());
            failed = true;
        }
    }
    let (devices, summary) = inspector.finish(&mut emit);
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(decider) = &decider {
        for (fact, count) in &decider.dropped {
            warn(&format!(
                "fact `{fact}` left out of {count} decisions: the policy bundle does not take it"
            ));
        }
    }

    match format {
        Format::Json => {
            for device in &devices {
                write_json(&mut out, device.to_json())?;
            }
            write_json(&mut out, summary.to_json(devices.len()))?;
        }
        Format::Text => {
            // Packet bytes reach these tables: control characters are shown
            // escaped, so a capture cannot drive the reader's terminal.
            let mut text = Vec::new();
            write_text(&mut text, &devices, &flows, &queries, &summary)?;
            out.write_all(escape_controls(&String::from_utf8_lossy(&text)).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(EXIT_CAPTURE_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// Cuts `text` to `width` characters, marking the cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn attribute(record: &FlowRecord, name: &str) -> Option<String> {
    match record.attributes.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

/// The few attributes that say most about a flow, for the text table.
fn key_attributes(record: &FlowRecord) -> String {
    let get = |name: &str| attribute(record, name).unwrap_or_default();
    match record.protocol.name() {
        "dicom" => {
            let sops = record
                .attributes
                .get("dicom.sop_classes")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            format!(
                "{} -> {} ({sops} SOP classes)",
                get("dicom.calling_ae"),
                get("dicom.called_ae")
            )
        }
        "hl7" => format!(
            "{} {} -> {}",
            get("hl7.message_type"),
            get("hl7.sending_application"),
            get("hl7.receiving_application")
        ),
        "tls" => format!(
            "sni={} {} alpn={}",
            get("tls.sni"),
            get("tls.version"),
            get("tls.alpn")
        ),
        "http" | "fhir" => format!(
            "{} {}{} {}",
            get("http.method"),
            get("http.host"),
            get("http.path"),
            get("fhir.resource")
        ),
        "dns" | "mdns" => format!("{} {}", get("dns.qname"), get("dns.qtype")),
        "dhcp" => format!(
            "{} host={} vendor={}",
            get("dhcp.message_type"),
            get("dhcp.hostname"),
            get("dhcp.vendor_class")
        ),
        "smb" => format!("version {}", get("smb.version")),
        "ssh" => get("ssh.server_banner"),
        _ => String::new(),
    }
    .trim()
    .to_owned()
}

/// Escapes control characters other than line breaks.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn write_text(
    out: &mut impl Write,
    devices: &[DeviceReport],
    flows: &[(FlowRecord, Option<Value>)],
    queries: &[(DnsRecord, Option<Value>)],
    summary: &Summary,
) -> io::Result<()> {
    writeln!(out, "DEVICES")?;
    writeln!(
        out,
        "{:<40} {:<17} {:<24} {:<28} {:<24} {:>5}",
        "ADDRESS", "MAC", "MAC VENDOR", "CLASS GUESS", "PROTOCOLS", "FLOWS"
    )?;
    for report in devices {
        let d = &report.device;
        let protocols: Vec<&str> = d.protocols.iter().copied().collect();
        writeln!(
            out,
            "{:<40} {:<17} {:<24} {:<28} {:<24} {:>5}",
            d.ip.map_or("-".to_owned(), |ip| ip.to_string()),
            d.mac.map_or("-".to_owned(), format_mac),
            fit(report.mac_vendor.as_deref().unwrap_or("-"), 24),
            fit(report.class(), 28),
            fit(&protocols.join(","), 24),
            d.flows
        )?;
        if let Some(guess) = report.guesses.first() {
            writeln!(out, "    evidence: {}", guess.evidence)?;
        }
    }

    writeln!(out)?;
    writeln!(out, "FLOWS")?;
    writeln!(
        out,
        "{:>5} {:<46} {:<46} {:<10} {:<60} VERDICT",
        "ID", "CLIENT", "SERVER", "PROTOCOL", "ATTRIBUTES"
    )?;
    for (f, decision) in flows {
        writeln!(
            out,
            "{:>5} {:<46} {:<46} {:<10} {:<60} {}",
            f.id,
            format!("{}:{}", f.src.ip, f.src.port),
            format!("{}:{}/{}", f.dst.ip, f.dst.port, f.transport.name()),
            f.protocol.name(),
            fit(&key_attributes(f), 60),
            verdict_of(decision.as_ref())
        )?;
    }

    if !queries.is_empty() {
        writeln!(out)?;
        writeln!(out, "DNS QUERIES")?;
        writeln!(
            out,
            "{:<40} {:<50} {:<6} {:<30} {:<24} VERDICT",
            "CLIENT", "NAME", "TYPE", "ANSWERS", "CATEGORIES"
        )?;
        for (q, decision) in queries {
            let get = |name: &str| match q.attributes.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            writeln!(
                out,
                "{:<40} {:<50} {:<6} {:<30} {:<24} {}",
                q.client.ip.to_string(),
                fit(&get("dns.qname"), 50),
                get("dns.qtype"),
                fit(&get("dns.answers"), 30),
                fit(&get("dns.categories"), 24),
                verdict_of(decision.as_ref())
            )?;
        }
    }

    writeln!(out)?;
    writeln!(
        out,
        "{} captures, {} packets, {} flows, {} dns queries, {} devices; {} skipped, {} errors, {} evicted",
        summary.captures,
        summary.packets,
        summary.flows,
        summary.dns_queries,
        devices.len(),
        summary.skipped,
        summary.errors,
        summary.evicted
    )?;
    if summary.truncated_captures > 0 || summary.capture_errors > 0 {
        writeln!(
            out,
            "warning: {} capture(s) end inside a packet (what follows the cut is missing), {} could not be read in whole or part",
            summary.truncated_captures, summary.capture_errors
        )?;
    }
    for (reason, count) in summary
        .error_reasons
        .iter()
        .chain(summary.skip_reasons.iter())
    {
        writeln!(out, "  {count} {reason}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_column_says_why() {
        let decision = serde_json::json!({
            "verdict": "block", "policy": "unsupported-os", "rule": "smbv1_anywhere",
            "alerts": [{"severity": "critical", "message": "SMBv1"}],
            "would": {"verdict": "quarantine", "policy": "watch", "rule": "r"},
        });
        assert_eq!(
            verdict_of(Some(&decision)),
            "block by unsupported-os/smbv1_anywhere; monitor would quarantine by watch/r; alert critical: SMBv1"
        );
        let default = serde_json::json!({"verdict": "allow", "policy": "imaging", "rule": "default", "alerts": []});
        assert_eq!(verdict_of(Some(&default)), "allow");
        assert_eq!(verdict_of(None), "-");
    }

    #[test]
    fn control_characters_are_escaped() {
        // Regression: an HTTP Host header could carry terminal escapes.
        assert_eq!(escape_controls("ev\u{1b}[41mil\n"), "ev\\u{1b}[41mil\n");
    }

    #[test]
    fn fit_cuts_long_text() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
