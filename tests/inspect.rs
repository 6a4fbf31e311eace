//! End-to-end tests of `ward inspect`: the binary on captures the tests
//! write themselves (with `ward_runtime::synth`), in both output formats,
//! with lists, with a policy, and on bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a panic is a failing test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use ward_runtime::synth::{hospital_mix, pcap_file};

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ward-inspect-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .output()
        .expect("run ward")
}

fn write_mix(dir: &Path, conversations: usize) -> String {
    let path = dir.join("mix.pcap");
    std::fs::write(&path, pcap_file(1, &hospital_mix(conversations))).unwrap();
    path.display().to_string()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn json_output_has_flows_dns_devices_and_a_final_summary() {
    let dir = scratch("json");
    let capture = write_mix(&dir, 20);
    let list = dir.join("vendor.txt");
    std::fs::write(&list, "# a hosts file\n0.0.0.0 cdn.vendor.example\n").unwrap();
    let list_arg = format!("tracking={}", list.display());
    let out = ward(&["inspect", "--format", "json", "--list", &list_arg, &capture]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);

    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["captures"], 1);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["dns_queries"], 2);
    let packets = summary["packets"].as_u64().unwrap();
    assert!(packets > 100);

    let flows: Vec<&Value> = lines.iter().filter(|l| l["type"] == "flow").collect();
    assert_eq!(summary["flows"].as_u64().unwrap() as usize, flows.len());
    let dicom = flows.iter().find(|f| f["protocol"] == "dicom").unwrap();
    assert_eq!(dicom["transport"], "tcp");
    assert_eq!(dicom["dport"], 104);
    assert_eq!(dicom["attributes"]["dicom.calling_ae"], "CT_SCANNER");
    assert_eq!(dicom["attributes"]["flow.direction"], "internal");
    assert!(dicom["src"].as_str().unwrap().starts_with("10.1."));
    let tls = flows.iter().find(|f| f["protocol"] == "tls").unwrap();
    assert_eq!(tls["attributes"]["tls.sni"], "updates.vendor.example");

    let dns: Vec<&Value> = lines.iter().filter(|l| l["type"] == "dns").collect();
    assert_eq!(dns.len(), 2);
    // The answer goes through a listed CNAME: the query is in the category.
    assert_eq!(
        dns[0]["attributes"]["dns.categories"],
        serde_json::json!(["tracking"])
    );

    let devices: Vec<&Value> = lines.iter().filter(|l| l["type"] == "device").collect();
    assert!(devices.iter().any(|d| d["class"] == "imaging.ct"));
    assert!(devices.iter().any(|d| d["class"] == "infusion.pump"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 rules"));
}

#[test]
fn text_output_has_device_and_flow_tables() {
    let dir = scratch("text");
    let capture = write_mix(&dir, 10);
    let out = ward(&["inspect", &capture]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("DEVICES\nADDRESS"));
    assert!(text.contains("\nFLOWS\n"));
    assert!(text.contains("CT_SCANNER -> PACS"));
    assert!(text.contains("imaging.ct"));
    assert!(text.contains("1 captures,"));
}

#[test]
fn policy_decisions_fill_the_verdicts() {
    let dir = scratch("policy");
    let capture = write_mix(&dir, 10);
    let policy = dir.join("p.ward");
    std::fs::write(
        &policy,
        "policy \"no-smb\" {\n  mode enforce\n  on error block\n  rule smb on flow { when flow.protocol == smb then block }\n  default allow\n}\n",
    )
    .unwrap();
    let out = ward(&[
        "inspect",
        "--format",
        "json",
        "--policy",
        policy.to_str().unwrap(),
        &capture,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let decisions: Vec<&Value> = lines.iter().filter(|l| l["type"] == "decision").collect();
    let flows = lines.iter().filter(|l| l["type"] == "flow").count();
    let queries = lines.iter().filter(|l| l["type"] == "dns").count();
    assert_eq!(decisions.len(), flows + queries);
    let smb_flow = lines
        .iter()
        .find(|l| l["type"] == "flow" && l["protocol"] == "smb")
        .unwrap();
    let smb_decision = decisions
        .iter()
        .find(|d| d["flow"] == smb_flow["id"])
        .unwrap();
    assert_eq!(smb_decision["verdict"], "block");
    assert_eq!(smb_decision["rule"], "smb");
    assert!(decisions.iter().any(|d| d["verdict"] == "allow"));
}

#[test]
fn bad_input_is_reported_and_the_run_goes_on() {
    let dir = scratch("bad");
    let capture = write_mix(&dir, 5);
    let garbage = dir.join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
    let out = ward(&[
        "inspect",
        "--format",
        "json",
        garbage.to_str().unwrap(),
        &capture,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng capture"));
    let lines = json_lines(&out);
    assert_eq!(lines.last().unwrap()["capture_errors"], 1);
    assert!(lines.iter().any(|l| l["type"] == "flow"));

    let out = ward(&["inspect", "--list", "no-equals-sign", &capture]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not CATEGORY=FILE"));
}

#[test]
fn lists_under_unknown_categories_are_refused() {
    // Regression: a typo such as `malwre` silently switched a list off.
    let dir = scratch("category");
    let list = dir.join("list.txt");
    std::fs::write(&list, "bad.example\n").unwrap();
    let capture = write_mix(&dir, 10);
    let spec = format!("malwre={}", list.display());
    let out = ward(&["inspect", "--list", &spec, &capture]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `malware`?"), "{stderr}");
    let ok = format!("malware={}", list.display());
    assert_eq!(
        ward(&["inspect", "--list", &ok, &capture]).status.code(),
        Some(0)
    );
}

#[test]
fn flow_decisions_know_the_time_of_the_capture() {
    // Regression: time-window rules never fired in `ward inspect`, which
    // supplied no `time.*` facts.
    let dir = scratch("time");
    let capture = write_mix(&dir, 10);
    let policy = dir.join("time.ward");
    std::fs::write(
        &policy,
        "policy \"t\" {\n  mode enforce\n  on error allow\n  rule any_day on flow {\n    when time.weekday in mon..sun and time.hour in 0..23\n    then block\n  }\n  default allow\n}\n",
    )
    .unwrap();
    let policy = policy.display().to_string();
    let out = ward(&["inspect", "--format", "json", "--policy", &policy, &capture]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decisions: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|l| l["type"] == "decision" && l["event"] == "flow")
        .collect();
    assert!(!decisions.is_empty());
    assert!(
        decisions
            .iter()
            .all(|d| d["verdict"] == "block" && d["rule"] == "any_day"),
        "{decisions:?}"
    );
}
