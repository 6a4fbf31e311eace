//! The decision log as the server uses it: lines on disk, their fields,
//! hashing of personal data, rotation and flushing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use ward_dns::config::LogSection;
use ward_dns::log::{DecisionLog, DecisionRecord, LogError};

const CATEGORIES: &[String] = &[];

fn record(index: u64) -> DecisionRecord<'static> {
    DecisionRecord {
        time: SystemTime::now(),
        client: IpAddr::from([10, 1, 2, 3]),
        transport: "udp",
        device_class: "infusion_pump",
        name: "updates.example.org",
        qtype: "aaaa",
        verdict: "allow",
        response: "noerror",
        policy: None,
        rule: None,
        would: None,
        categories: CATEGORIES,
        cname: None,
        source: "upstream",
        module_error: None,
        // The index, so tests can tell lines apart.
        latency: Duration::from_micros(index),
    }
}

fn section(path: &Path) -> LogSection {
    LogSection {
        path: Some(path.to_owned()),
        ..LogSection::default()
    }
}

fn open(section: &LogSection) -> DecisionLog {
    DecisionLog::open(section).unwrap().unwrap()
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{path:?} ends mid-line"
    );
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Writes one record and reads back its line.
fn one_line(section: &LogSection, record: &DecisionRecord<'_>) -> serde_json::Value {
    let log = open(section);
    log.record(record);
    log.flush();
    let path = section.path.as_deref().unwrap();
    let mut lines = lines(path);
    std::fs::remove_file(path).unwrap();
    assert_eq!(lines.len(), 1);
    lines.pop().unwrap()
}

/// `h:` and the first 16 bytes of HMAC-SHA256, computed here on its own.
fn expected_hash(key: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("h:{hex}")
}

fn keys(line: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn no_path_means_no_log() {
    assert!(DecisionLog::open(&LogSection::default()).unwrap().is_none());
}

#[test]
fn lines_have_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut section = section(&dir.path().join("decisions.jsonl"));
    section.clients = true;
    section.names = true;
    let categories = ["ads".to_owned(), "tracking".to_owned()];

    let mut full = record(1500);
    full.verdict = "block";
    full.response = "nxdomain";
    full.policy = Some("baseline");
    full.rule = Some("no-ads");
    full.would = Some("quarantine");
    full.categories = &categories;
    full.cname = Some("ads.tracker.example");
    full.source = "policy";
    full.module_error = Some("out of fuel");
    full.transport = "tls";
    let line = one_line(&section, &full);
    assert_eq!(
        keys(&line),
        [
            "categories",
            "client",
            "cname",
            "device_class",
            "latency_us",
            "module_error",
            "name",
            "policy",
            "response",
            "rule",
            "source",
            "time",
            "transport",
            "type",
            "verdict",
            "would",
        ]
    );
    assert_eq!(line["client"], "10.1.2.3");
    assert_eq!(line["device_class"], "infusion_pump");
    assert_eq!(line["name"], "updates.example.org");
    assert_eq!(line["type"], "aaaa");
    assert_eq!(line["verdict"], "block");
    assert_eq!(line["policy"], "baseline");
    assert_eq!(line["rule"], "no-ads");
    assert_eq!(line["categories"], serde_json::json!(["ads", "tracking"]));
    assert_eq!(line["cname"], "ads.tracker.example");
    assert_eq!(line["latency_us"], 1500);
    assert_eq!(line["transport"], "tls");
    assert_eq!(line["response"], "nxdomain");
    assert_eq!(line["would"], "quarantine");
    assert_eq!(line["source"], "policy");
    assert_eq!(line["module_error"], "out of fuel");
    let time = line["time"].as_str().unwrap();
    assert_eq!(time.len(), "2024-01-01T00:00:00.000Z".len(), "{time}");
    assert!(time.ends_with('Z'), "{time}");

    // Unset options: `policy`, `rule` and `cname` are null, the optional
    // extras are left out.
    let line = one_line(&section, &record(7));
    assert_eq!(line["policy"], serde_json::Value::Null);
    assert_eq!(line["rule"], serde_json::Value::Null);
    assert_eq!(line["cname"], serde_json::Value::Null);
    assert_eq!(line["categories"], serde_json::json!([]));
    assert!(line.get("would").is_none());
    assert!(line.get("module_error").is_none());
}

#[test]
fn names_with_quotes_and_controls_stay_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut section = section(&dir.path().join("decisions.jsonl"));
    section.names = true;
    let mut odd = record(1);
    odd.name = "a\"b\\c\n\u{1}.example";
    let line = one_line(&section, &odd);
    assert_eq!(line["name"], "a\"b\\c\n\u{1}.example");
}

#[test]
fn clients_and_names_are_hashed_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut section = section(&dir.path().join("decisions.jsonl"));
    section.hash_key = Some("site secret".to_owned());
    let mut asked = record(1);
    asked.client = IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, 0x53]);
    asked.cname = Some("cdn.example.net");

    let line = one_line(&section, &asked);
    assert_eq!(line["client"], expected_hash("site secret", "fd00::53"));
    assert_eq!(
        line["name"],
        expected_hash("site secret", "updates.example.org")
    );
    assert_eq!(
        line["cname"],
        expected_hash("site secret", "cdn.example.net")
    );

    // Stable for one key, across starts.
    let again = one_line(&section, &asked);
    for field in ["client", "name", "cname"] {
        assert_eq!(again[field], line[field], "{field}");
    }

    // Another key, other hashes.
    section.hash_key = Some("another secret".to_owned());
    let other = one_line(&section, &asked);
    assert_ne!(other["client"], line["client"]);
    assert_ne!(other["name"], line["name"]);
}

#[test]
fn without_a_key_each_start_draws_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let section = section(&dir.path().join("decisions.jsonl"));
    assert!(section.hash_key.is_none());

    let log = open(&section);
    log.record(&record(1));
    log.record(&record(2));
    log.flush();
    drop(log);
    let first_run = lines(section.path.as_deref().unwrap());
    assert_eq!(first_run.len(), 2);
    // One run links its records...
    assert_eq!(first_run[0]["client"], first_run[1]["client"]);
    assert_eq!(first_run[0]["name"], first_run[1]["name"]);
    let client = first_run[0]["client"].as_str().unwrap();
    assert!(client.starts_with("h:") && client.len() == 34, "{client}");
    assert_ne!(client, "10.1.2.3");

    // ...but not across runs.
    std::fs::remove_file(section.path.as_deref().unwrap()).unwrap();
    let second_run = one_line(&section, &record(3));
    assert_ne!(second_run["client"], first_run[0]["client"]);
}

#[test]
fn clear_text_only_where_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut section = section(&dir.path().join("decisions.jsonl"));
    let mut asked = record(1);
    asked.cname = Some("cdn.example.net");

    section.clients = true;
    let line = one_line(&section, &asked);
    assert_eq!(line["client"], "10.1.2.3");
    assert!(line["name"].as_str().unwrap().starts_with("h:"));
    assert!(line["cname"].as_str().unwrap().starts_with("h:"));

    section.clients = false;
    section.names = true;
    let line = one_line(&section, &asked);
    assert!(line["client"].as_str().unwrap().starts_with("h:"));
    assert_eq!(line["name"], "updates.example.org");
    assert_eq!(line["cname"], "cdn.example.net");
}

#[test]
fn flush_makes_lines_visible_while_the_log_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    let log = open(&section(&path));
    for index in 0..3 {
        log.record(&record(index));
    }
    log.flush();
    assert_eq!(lines(&path).len(), 3);
    log.record(&record(3));
    log.flush();
    assert_eq!(lines(&path).len(), 4);
    assert_eq!(log.dropped(), 0);
    assert_eq!(log.write_errors(), 0);
}

#[test]
fn dropping_the_log_writes_everything_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    let log = open(&section(&path));
    for index in 0..1000 {
        log.record(&record(index));
    }
    drop(log);
    let indices: Vec<u64> = lines(&path)
        .iter()
        .map(|line| line["latency_us"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, (0..1000).collect::<Vec<_>>());
}

#[test]
fn a_restart_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    for index in 0..2 {
        let log = open(&section(&path));
        log.record(&record(index));
    }
    assert_eq!(lines(&path).len(), 2);
}

/// `path.n`, or `path` for 0.
fn rotated(path: &Path, n: usize) -> PathBuf {
    if n == 0 {
        return path.to_owned();
    }
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// Writes `count` records through a log rotating at `max_bytes` and
/// returns the indices found, oldest file first, and each file's size.
fn rotate(max_bytes: u64, keep: usize, count: u64) -> (Vec<u64>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    let mut section = section(&path);
    section.max_bytes = max_bytes;
    section.keep = keep;
    let log = open(&section);
    for index in 0..count {
        log.record(&record(index));
    }
    log.flush();
    assert_eq!(log.dropped(), 0);
    assert_eq!(log.write_errors(), 0);

    assert!(
        !rotated(&path, keep + 1).exists(),
        "more than {keep} rotated files"
    );
    let mut indices = Vec::new();
    let mut sizes = Vec::new();
    for n in (0..=keep).rev() {
        let file = rotated(&path, n);
        if !file.exists() {
            continue;
        }
        sizes.push(std::fs::metadata(&file).unwrap().len());
        indices.extend(
            lines(&file)
                .iter()
                .map(|line| line["latency_us"].as_u64().unwrap()),
        );
    }
    (indices, sizes)
}

#[test]
fn rotation_loses_and_splits_no_line() {
    // Room for every file: all 500 lines are there once, in order.
    let (indices, sizes) = rotate(4096, 100, 500);
    assert_eq!(indices, (0..500).collect::<Vec<_>>());
    assert!(sizes.len() > 5, "{sizes:?}");
    assert!(sizes.iter().all(|&size| size <= 4096), "{sizes:?}");
    assert!(sizes.iter().all(|&size| size > 0), "{sizes:?}");
}

#[test]
fn rotation_keeps_the_newest_files() {
    let (indices, sizes) = rotate(2048, 3, 500);
    assert_eq!(sizes.len(), 4, "{sizes:?}");
    assert!(sizes.iter().all(|&size| size <= 2048), "{sizes:?}");
    // The newest lines, with no gap.
    let first = indices[0];
    assert!(first > 0);
    assert_eq!(indices, (first..500).collect::<Vec<_>>());
}

#[test]
fn keep_zero_truncates() {
    let (indices, sizes) = rotate(2048, 0, 500);
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    assert!(sizes[0] <= 2048);
    let first = indices[0];
    assert!(first > 0);
    assert_eq!(indices, (first..500).collect::<Vec<_>>());
}

#[test]
fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
    let (indices, sizes) = rotate(10, 100, 3);
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(sizes.len(), 3, "{sizes:?}");
}

#[test]
fn a_missing_folder_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no such folder").join("decisions.jsonl");
    let error = DecisionLog::open(&section(&path)).unwrap_err();
    assert!(matches!(error, LogError::Open { .. }));
    let message = error.to_string();
    assert!(message.contains("decisions.jsonl"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
}

#[test]
fn a_folder_as_the_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = DecisionLog::open(&section(dir.path())).unwrap_err();
    assert!(error.to_string().contains("folder"), "{error}");
}

#[cfg(target_os = "linux")]
#[test]
fn write_errors_are_counted_and_serving_goes_on() {
    // Every write to /dev/full fails with "no space left on device". No
    // rotation here: `max_bytes = 0` keeps the writer from renaming it.
    let mut section = section(Path::new("/dev/full"));
    section.max_bytes = 0;
    let log = open(&section);
    log.record(&record(1));
    log.flush();
    let errors = log.write_errors();
    assert!(errors >= 1);
    log.record(&record(2));
    log.flush();
    assert!(log.write_errors() > errors);
    assert_eq!(log.dropped(), 0);
}
