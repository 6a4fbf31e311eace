//! `ward build`, `ward eval --engine` and `ward test` end to end: a
//! built module decides exactly as its sources do, on both engines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::path::Path;
use std::process::Command;

const POLICY: &str = r#"
policy "imaging" {
  mode enforce
  on error block
  let pacs = [10.20.0.10, 10.20.0.0/28]
  rule dicom_only_to_pacs on flow {
    when device.class in imaging and flow.protocol == dicom and not peer.ip in pacs
    then block
    alert high "imaging device speaks DICOM outside the PACS"
  }
  rule bad_domains on dns {
    when dns.categories has any [phishing, malware]
    then block respond sinkhole 0.0.0.0
  }
  default allow
}

test "a CT stores to the PACS" {
  given event flow, device.class imaging.ct, flow.protocol dicom, peer.ip 10.20.0.10
  expect allow
}

test "phishing is sinkholed" {
  given event dns, dns.qname "evil.test", dns.qtype a, dns.categories [phishing]
  expect block respond sinkhole 0.0.0.0 by bad_domains
}
"#;

fn ward(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imaging.ward"), POLICY).unwrap();
    for (name, json) in [
        (
            "ct.json",
            r#"{"event": "flow", "device.class": "imaging.ct", "flow.protocol": "dicom", "peer.ip": "192.0.2.7"}"#,
        ),
        (
            "dns.json",
            r#"{"event": "dns", "dns.qname": "Evil.Test.", "dns.qtype": "a", "dns.categories": ["malware"]}"#,
        ),
    ] {
        std::fs::write(dir.path().join(name), json).unwrap();
    }
    dir
}

#[test]
fn a_built_module_decides_as_its_sources_on_both_engines() {
    let dir = setup();
    let (code, out, err) = ward(&["build", "imaging.ward", "-o", "bundle.wasm"], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built bundle.wasm"), "{out}");

    for input in ["ct.json", "dns.json"] {
        let runs = [
            ward(
                &["eval", "--policy", "bundle.wasm", "--input", input],
                dir.path(),
            ),
            ward(
                &["eval", "--policy", "imaging.ward", "--input", input],
                dir.path(),
            ),
            ward(
                &[
                    "eval",
                    "--engine",
                    "interp",
                    "--policy",
                    "imaging.ward",
                    "--input",
                    input,
                ],
                dir.path(),
            ),
        ];
        for (code, out, err) in &runs {
            assert_eq!(*code, 0, "{input}: {out}{err}");
        }
        assert_eq!(runs[0].1, runs[1].1, "{input}: module vs sources");
        assert_eq!(runs[1].1, runs[2].1, "{input}: wasm vs interp");
        let json: serde_json::Value = serde_json::from_str(&runs[0].1).unwrap();
        assert_eq!(json["verdict"], "block", "{input}");
    }
    let (_, out, _) = ward(
        &["eval", "--policy", "bundle.wasm", "--input", "dns.json"],
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["respond"], "sinkhole");
    assert_eq!(json["sinkhole"], "0.0.0.0");
    assert_eq!(json["rule"], "bad_domains");
}

#[test]
fn a_built_module_refuses_the_interpreter() {
    let dir = setup();
    ward(&["build", "imaging.ward", "-o", "bundle.wasm"], dir.path());
    let (code, _, err) = ward(
        &[
            "eval",
            "--engine",
            "interp",
            "--policy",
            "bundle.wasm",
            "--input",
            "ct.json",
        ],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("only on the wasm engine"), "{err}");
}

#[test]
fn a_damaged_module_is_a_clear_error() {
    let dir = setup();
    std::fs::write(dir.path().join("bad.wasm"), b"\0asm\x01\0\0\0garbage").unwrap();
    let (code, _, err) = ward(
        &["eval", "--policy", "bad.wasm", "--input", "ct.json"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("not a WebAssembly module"), "{err}");
}

#[test]
fn ward_test_runs_both_engines() {
    let dir = setup();
    let (code, out, err) = ward(&["test", "imaging.ward"], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}
