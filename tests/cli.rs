//! End-to-end tests of the `ward` binary: exit codes, output shapes, and
//! bad input that must end in a clear error, never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = r#"policy "imaging" {
  mode enforce
  on error block

  let pacs = [10.20.0.10]

  rule dicom_only_to_pacs on flow {
    when device.class in imaging and flow.protocol == dicom and not peer.ip in pacs
    then block
    alert high "DICOM outside the PACS"
  }
  default allow
}

test "a CT stores to the PACS" {
  given event flow, device.class imaging.ct, flow.protocol dicom, peer.ip 10.20.0.10
  expect allow by default
}

test "a CT sends elsewhere" {
  given event flow, device.class imaging.ct, flow.protocol dicom, peer.ip 10.99.0.1
  expect block by dicom_only_to_pacs
  expect alert high
}
"#;

fn ward(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ward runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `ward` and checks its exit code and that it did not panic.
fn check(args: &[&str], dir: &Path, code: i32) -> (String, String) {
    let out = ward(args, dir);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "ward {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "ward {args:?} panicked:\n{stderr}"
    );
    (stdout, stderr)
}

fn bundle(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("policies")).expect("mkdir");
    for (name, content) in files {
        std::fs::write(dir.path().join("policies").join(name), content).expect("write");
    }
    dir
}

#[test]
fn check_test_and_fmt_pass_on_a_good_bundle() {
    let dir = bundle(&[("imaging.ward", GOOD.as_bytes())]);
    let (stdout, _) = check(&["check"], dir.path(), 0);
    assert!(stdout.contains("1 policy, 2 tests; 0 errors"), "{stdout}");
    let (stdout, _) = check(&["test"], dir.path(), 0);
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"));
    check(&["fmt", "--check"], dir.path(), 0);
}

#[test]
fn check_exit_codes() {
    let bad = GOOD.replace("device.class in", "device.clas in");
    let dir = bundle(&[("imaging.ward", bad.as_bytes())]);
    let (_, stderr) = check(&["check"], dir.path(), 1);
    assert!(stderr.contains("did you mean `device.class`?"), "{stderr}");
    check(&["check", "no/such/dir"], dir.path(), 2);
    check(&["check", "--no-such-flag"], dir.path(), 2);

    let warned = GOOD.replace(
        "  let pacs = [10.20.0.10]\n",
        "  let pacs = [10.20.0.10]\n  let unused = [1.2.3.4]\n",
    );
    let dir = bundle(&[("imaging.ward", warned.as_bytes())]);
    check(&["check"], dir.path(), 0);
    check(&["check", "--deny-warnings"], dir.path(), 1);
}

#[test]
fn check_json_reports_positions() {
    let bad = GOOD.replace("flow.protocol == dicom", "flow.protocol == dicomm");
    let dir = bundle(&[("imaging.ward", bad.as_bytes())]);
    let (stdout, _) = check(&["check", "--format", "json"], dir.path(), 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["errors"], 1);
    let first = &report["diagnostics"][0];
    assert_eq!(first["code"], "unknown-value");
    assert_eq!(first["line"], 8);
    assert_eq!(first["help"], "did you mean `dicom`?");
}

#[test]
fn failing_tests_show_expected_and_actual() {
    let wrong = GOOD.replace("expect allow by default", "expect quarantine");
    let dir = bundle(&[("imaging.ward", wrong.as_bytes())]);
    let (stdout, _) = check(&["test"], dir.path(), 1);
    assert!(
        stdout.contains("expected quarantine, got allow"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn fmt_rewrites_and_check_detects() {
    let messy = GOOD.replace("  mode enforce\n", "    mode    enforce\n");
    let dir = bundle(&[("imaging.ward", messy.as_bytes())]);
    let (stdout, _) = check(&["fmt", "--check"], dir.path(), 1);
    assert!(stdout.contains("would reformat"), "{stdout}");
    check(&["fmt"], dir.path(), 0);
    check(&["fmt", "--check"], dir.path(), 0);
    let formatted = std::fs::read_to_string(dir.path().join("policies/imaging.ward")).unwrap();
    assert!(formatted.contains("\n  mode enforce\n"));
}

#[test]
fn eval_prints_the_decision() {
    let dir = bundle(&[("imaging.ward", GOOD.as_bytes())]);
    let input = r#"{"event": "flow", "device.class": "imaging.mri", "flow.protocol": "dicom", "peer.ip": "10.1.1.1"}"#;
    std::fs::write(dir.path().join("facts.json"), input).unwrap();
    let (stdout, _) = check(
        &[
            "eval",
            "--policy",
            "policies",
            "--input",
            "facts.json",
            "--explain",
        ],
        dir.path(),
        0,
    );
    let decision: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(decision["verdict"], "block");
    assert_eq!(decision["policy"], "imaging");
    assert_eq!(decision["rule"], "dicom_only_to_pacs");
    assert!(
        decision["location"]
            .as_str()
            .unwrap()
            .ends_with("imaging.ward:7:3"),
        "{decision}"
    );
    assert_eq!(decision["alerts"][0]["severity"], "high");
    assert_eq!(decision["trace"][0]["fired"], true);
}

#[test]
fn eval_refuses_bad_facts_clearly() {
    let dir = bundle(&[("imaging.ward", GOOD.as_bytes())]);
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "typo.json",
            br#"{"event": "flow", "peer.pot": 1}"#,
            "did you mean `peer.port`?",
        ),
        ("noevent.json", br#"{"peer.port": 1}"#, "no `event` field"),
        (
            "type.json",
            br#"{"event": "flow", "peer.port": "x"}"#,
            "expected an integer",
        ),
        ("notutf8.json", b"\xff\xfe{}", "not UTF-8"),
        ("garbage.json", b"\x00\x01garbage", "not valid JSON"),
        ("array.json", b"[1, 2]", "one JSON object"),
    ];
    for (name, content, message) in cases {
        std::fs::write(dir.path().join(name), content).unwrap();
        let out = ward(
            &["eval", "--policy", "policies", "--input", name],
            dir.path(),
        );
        let stderr = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{name}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(dir.path().join("deep.json"), deep).unwrap();
    check(
        &["eval", "--policy", "policies", "--input", "deep.json"],
        dir.path(),
        1,
    );
    check(
        &["eval", "--policy", "policies", "--input", "missing.json"],
        dir.path(),
        2,
    );
}

fn chain(op: &str) -> Vec<u8> {
    let terms = vec!["peer.internal"; 3000].join(&format!(" {op} "));
    format!("policy \"p\" {{ rule r on flow {{ when {terms} then block }} }}").into_bytes()
}

#[test]
fn hostile_policy_files_get_clear_errors() {
    let deep = format!(
        "policy \"p\" {{ rule r on flow {{ when {}peer.internal{} }} }}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let huge = vec![b'#'; 50 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "binary.ward",
            vec![0xff, 0xfe, 0x00, 0x13, 0x37],
            "not UTF-8",
        ),
        ("deep.ward", deep.into_bytes(), "nest too deeply"),
        ("huge.ward", huge, "too large"),
        (
            "garbage.ward",
            b"\x01\x02 policy {{{ \"".to_vec(),
            "unexpected",
        ),
        // Regressions: a line wider than the snippet renderer can draw, and
        // condition chains long enough to overflow a recursive checker.
        (
            "wide.ward",
            format!("policy \"p\" {{{}$", " ".repeat(65_600)).into_bytes(),
            "unexpected character `$`",
        ),
        ("chain.ward", chain("and"), "this condition is too long"),
        ("or-chain.ward", chain("or"), "this condition is too long"),
        (
            "nots.ward",
            format!(
                "policy \"p\" {{ rule r on flow {{ when {}peer.internal }} }}",
                "not ".repeat(5000)
            )
            .into_bytes(),
            "this condition is too long",
        ),
    ];
    for (name, content, message) in cases {
        let dir = bundle(&[(name, &content)]);
        let (_, stderr) = check(&["check"], dir.path(), 1);
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
}

/// Regression: the size cap was checked only against the size the file
/// system reports (0 for a device), so `ward check /dev/zero` read until
/// memory ran out (1.8 GB in 4 seconds). Devices and pipes are refused.
#[test]
fn a_policy_file_that_never_ends_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["check", "fmt"] {
        let (_, stderr) = check(&[command, "/dev/zero"], dir.path(), 2);
        assert!(
            stderr.contains("cannot read `/dev/zero`: not a regular file"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn ward_toml_extends_the_vocabulary() {
    let policy = r#"policy "p" {
  mode enforce
  on error block
  rule partner on dns {
    when dns.categories has hospital-partners and device.class in imaging.ct.photon_counting
    then allow
  }
  default block
}

test "a photon-counting CT may resolve partners" {
  given event dns, dns.qname "pacs.partner.example", dns.categories [hospital-partners],
        device.class imaging.ct.photon_counting
  expect allow by partner
}
"#;
    let config =
        b"categories = [\"hospital-partners\"]\nclasses = [\"imaging.ct.photon_counting\"]\n";
    let dir = bundle(&[("p.ward", policy.as_bytes()), ("ward.toml", config)]);
    let (stdout, _) = check(&["test"], dir.path(), 0);
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));

    // Without the config, both names are unknown, each with its own error.
    let dir = bundle(&[("p.ward", policy.as_bytes())]);
    let (_, stderr) = check(&["check"], dir.path(), 1);
    assert!(
        stderr.contains("unknown category `hospital-partners`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown device class `imaging.ct.photon_counting`"),
        "{stderr}"
    );

    // Unknown keys and classes without a parent are refused with their line.
    let bad = b"categories = [\"ok\"]\nclasess = [\"x\"]\n";
    let dir = bundle(&[("p.ward", policy.as_bytes()), ("ward.toml", bad)]);
    let (_, stderr) = check(&["check"], dir.path(), 1);
    assert!(stderr.contains("unknown field `clasess`"), "{stderr}");
    assert!(stderr.contains("ward.toml:2:1"), "{stderr}");
    let orphan = b"classes = [\"robots.surgical\"]\n";
    let dir = bundle(&[("p.ward", policy.as_bytes()), ("ward.toml", orphan)]);
    let (_, stderr) = check(&["check"], dir.path(), 1);
    assert!(stderr.contains("no parent class `robots`"), "{stderr}");
}

/// Regression: `ward serve`'s log kept its colour codes when stderr was a
/// file or a pipe, so log files and journals were full of `\x1b[33m`.
#[test]
fn serve_log_has_no_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("list.txt"), "good.example\nbad..name\n").unwrap();
    // A port already taken: the bundle loads (and warns about the list's
    // bad line), then serving cannot start.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let output = ward(
        &[
            "serve",
            "--policy",
            policies.to_str().unwrap(),
            "--list",
            "malware=list.txt",
            "--listen",
            &listen,
            "--upstream",
            "127.0.0.1:9",
            "--metrics",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("list lines skipped"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// Regression (found by a hostile test): an empty policy directory (or a
/// wrong one) built a bundle with no policy, and `ward serve` then allowed
/// every query, listed malware included, without a word; a reload to an
/// emptied directory did the same.
#[test]
fn serve_refuses_a_bundle_with_no_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let output = ward(
        &[
            "serve",
            "--policy",
            "empty",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:9",
            "--metrics",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no policy in `empty`: ward serve would allow every query"),
        "{stderr}"
    );
}
