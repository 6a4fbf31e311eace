//! Between the checked bundle's types and the manifest's plain names: the
//! compiler writes verdicts, policies and alerts into the manifest, and a
//! host that only has a built module reads them back into the
//! interpreter's types (so both engines' decisions compare with `==` and
//! print through the same code).

use std::net::IpAddr;

use serde_json::json;
use ward_sdk::{Manifest, VerdictEntry};

use crate::interp::{Decider, Decision};
use crate::ir::{DnsResponse, Mode, Severity, Verdict, VerdictKind};
use crate::schema::{Categories, Event, Schema, Taxonomy};

/// Why a manifest cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid: {0}")]
    Invalid(String),
    #[error("the manifest's class `{0}` has no parent class")]
    Class(String),
    #[error("the manifest's category `{0}` is not a category name")]
    Category(String),
    #[error("the manifest's {what} `{value}` is not known")]
    Unknown { what: &'static str, value: String },
}

pub fn verdict_entry(verdict: Verdict) -> VerdictEntry {
    VerdictEntry {
        kind: verdict.kind.name().to_owned(),
        respond: verdict.respond.map(|r| r.name().to_owned()),
        sinkhole: match verdict.respond {
            Some(DnsResponse::Sinkhole(ip)) => Some(ip.to_string()),
            _ => None,
        },
    }
}

fn unknown(what: &'static str, value: &str) -> ManifestError {
    ManifestError::Unknown {
        what,
        value: value.to_owned(),
    }
}

pub fn verdict_of(entry: &VerdictEntry) -> Result<Verdict, ManifestError> {
    let kind = match entry.kind.as_str() {
        "allow" => VerdictKind::Allow,
        "block" => VerdictKind::Block,
        "quarantine" => VerdictKind::Quarantine,
        other => return Err(unknown("verdict", other)),
    };
    let respond = match entry.respond.as_deref() {
        None => None,
        Some("nxdomain") => Some(DnsResponse::NxDomain),
        Some("nodata") => Some(DnsResponse::NoData),
        Some("refused") => Some(DnsResponse::Refused),
        Some("sinkhole") => {
            let text = entry.sinkhole.as_deref().unwrap_or_default();
            let ip: IpAddr = text
                .parse()
                .map_err(|_| unknown("sinkhole address", text))?;
            Some(DnsResponse::Sinkhole(ip))
        }
        Some(other) => return Err(unknown("DNS response", other)),
    };
    Ok(Verdict { kind, respond })
}

pub fn mode_of(name: &str) -> Result<Mode, ManifestError> {
    match name {
        "enforce" => Ok(Mode::Enforce),
        "monitor" => Ok(Mode::Monitor),
        other => Err(unknown("mode", other)),
    }
}

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Monitor => "monitor",
    }
}

pub fn severity_of(name: &str) -> Result<Severity, ManifestError> {
    Severity::from_name(name).ok_or_else(|| unknown("severity", name))
}

pub fn event_of(name: &str) -> Result<Event, ManifestError> {
    Event::from_name(name).ok_or_else(|| unknown("event", name))
}

/// The schema a module was built against, with the same class and
/// category ids.
pub fn schema_of(manifest: &Manifest) -> Result<Schema, ManifestError> {
    let mut taxonomy = Taxonomy::builtin();
    for (i, name) in manifest.classes.iter().enumerate() {
        let id = taxonomy
            .add(name)
            .map_err(|_| ManifestError::Class(name.clone()))?;
        if id.0 as usize != i {
            return Err(ManifestError::Invalid(format!(
                "class `{name}` is listed at {i} but is number {} here",
                id.0
            )));
        }
    }
    let mut categories = Categories::builtin();
    for (i, name) in manifest.categories.iter().enumerate() {
        let id = categories
            .add(name)
            .map_err(|_| ManifestError::Category(name.clone()))?;
        if id.0 as usize != i {
            return Err(ManifestError::Invalid(format!(
                "category `{name}` is listed at {i} but is number {} here",
                id.0
            )));
        }
    }
    Ok(Schema::new(taxonomy, categories))
}

/// The names a decision needs for printing, from the manifest alone.
fn decider_names(manifest: &Manifest, decider: Decider) -> (&str, &str, &str) {
    let Some(policy) = manifest.policies.get(decider.policy) else {
        return ("?", "?", "<unknown>");
    };
    match decider.rule.and_then(|r| policy.rules.get(r)) {
        Some(rule) => (&policy.name, &rule.name, &rule.location),
        None => (&policy.name, "default", &policy.default_location),
    }
}

fn verdict_json(verdict: Verdict) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let respond = verdict
        .respond
        .map(|r| json!(r.name()))
        .unwrap_or(serde_json::Value::Null);
    let sinkhole = match verdict.respond {
        Some(DnsResponse::Sinkhole(ip)) => json!(ip.to_string()),
        _ => serde_json::Value::Null,
    };
    (json!(verdict.kind.name()), respond, sinkhole)
}

/// The decision as `ward eval` prints it, named from the manifest: the
/// same shape as [`crate::interp::decision_json`], so a built module and
/// its sources print the same thing.
pub fn decision_json(manifest: &Manifest, decision: &Decision) -> serde_json::Value {
    let (verdict, respond, sinkhole) = verdict_json(decision.verdict);
    let (policy, rule, location) = match decision.decider {
        Some(d) => {
            let (policy, rule, location) = decider_names(manifest, d);
            (json!(policy), json!(rule), json!(location))
        }
        None => (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null,
        ),
    };
    let alerts: Vec<_> = decision
        .alerts
        .iter()
        .map(|a| {
            let decider = Decider {
                policy: a.policy,
                rule: Some(a.rule),
            };
            let (policy, rule, location) = decider_names(manifest, decider);
            json!({
                "severity": a.severity.name(),
                "message": a.message,
                "policy": policy,
                "rule": rule,
                "location": location,
                "monitor": a.monitor,
            })
        })
        .collect();
    let policies: Vec<_> = decision
        .outcomes
        .iter()
        .map(|o| {
            let (policy, rule, location) = decider_names(manifest, o.decider);
            let (verdict, respond, _) = verdict_json(o.verdict);
            json!({
                "policy": policy,
                "mode": o.mode,
                "verdict": verdict,
                "respond": respond,
                "rule": rule,
                "location": location,
            })
        })
        .collect();
    let mut out = json!({
        "event": decision.event.name(),
        "verdict": verdict,
        "policy": policy,
        "rule": rule,
        "location": location,
        "alerts": alerts,
        "policies": policies,
    });
    if decision.event == Event::Dns {
        out["respond"] = respond;
        if !sinkhole.is_null() {
            out["sinkhole"] = sinkhole;
        }
    }
    if let Some(would) = decision.would() {
        let (policy, rule, _) = decider_names(manifest, would.decider);
        out["would"] =
            json!({ "verdict": would.verdict.kind.name(), "policy": policy, "rule": rule });
    }
    out
}
