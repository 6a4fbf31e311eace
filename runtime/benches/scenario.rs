//! The benchmark scenario shared by the policy-host bench and the
//! comparison with other engines: a hospital-shaped policy of about 100
//! rules, a generated one of 1,000, and the facts they decide.

#![allow(dead_code, reason = "shared by two benches, each using a part")]

use std::fmt::Write;

/// Classes, protocols and ports the rules are drawn from.
pub const CLASSES: &[&str] = &[
    "imaging.ct",
    "imaging.mri",
    "imaging.xray",
    "infusion.pump",
    "monitoring.bedside",
    "lab.analyzer",
    "therapy.ventilator",
    "clinical_it.pacs",
    "it.workstation",
    "building.camera",
];
pub const PROTOCOLS: &[&str] = &[
    "dicom", "hl7", "http", "tls", "smb", "ssh", "rdp", "telnet", "ftp", "snmp",
];

/// One rule's tests: class, protocol, port.
#[derive(Debug, Clone, Copy)]
pub struct RuleShape {
    pub class: &'static str,
    pub protocol: &'static str,
    pub port: i64,
}

pub fn rule_shapes(n: usize) -> Vec<RuleShape> {
    (0..n)
        .map(|i| RuleShape {
            class: CLASSES[i % CLASSES.len()],
            protocol: PROTOCOLS[(i / CLASSES.len()) % PROTOCOLS.len()],
            port: 1000 + i as i64,
        })
        .collect()
}

/// The Ward source of a policy with `n` block rules and a few of the
/// hospital rules every bundle has.
pub fn ward_source(n: usize) -> String {
    let mut out = String::from(
        "policy \"hospital\" {\n  mode enforce\n  on error block\n\
         let pacs = [10.20.0.10, 10.20.0.0/28]\n\
         rule dicom_only_to_pacs on flow {\n    when device.class in imaging and flow.protocol == dicom and not peer.ip in pacs\n    then block\n    alert high \"imaging device speaks DICOM outside the PACS\"\n  }\n\
         rule bad_domains on dns {\n    when dns.categories has any [phishing, malware]\n    then block respond nxdomain\n  }\n",
    );
    for (i, rule) in rule_shapes(n).iter().enumerate() {
        let _ = write!(
            out,
            "  rule r{i} on flow {{\n    when device.class in {} and flow.protocol == {} and peer.port == {}\n    then block\n  }}\n",
            rule.class, rule.protocol, rule.port
        );
    }
    out.push_str("  default allow\n}\n");
    out
}

/// The facts decided: an infusion pump speaking HTTPS to port 443, which
/// no rule blocks, so every rule is tried.
pub fn facts_json() -> serde_json::Value {
    serde_json::json!({
        "event": "flow",
        "device.class": "infusion.pump",
        "device.ip": "10.30.1.20",
        "flow.protocol": "tls",
        "peer.ip": "192.0.2.10",
        "peer.port": 443,
        "peer.internal": false,
        "flow.transport": "tcp",
        "flow.direction": "outbound",
        "time.hour": 10,
        "time.weekday": "tue",
    })
}
