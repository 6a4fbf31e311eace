//! The decision semantics of docs/language.md, case by case, on the
//! reference interpreter: `check(policies, facts, expected)`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use serde_json::json;
use ward_lang::{Facts, Options, check_source, evaluate, interp};

/// Checks `source`, decides `facts`, and compares the fields of the
/// decision JSON named in `expected`.
fn check(source: &str, facts: serde_json::Value, expected: serde_json::Value) {
    let (sources, checked) = check_source("t.ward", source);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let bundle = checked.bundle.expect("the bundle checks");
    let facts = Facts::from_json(&bundle.schema, &facts).expect("facts parse");
    let decision = evaluate(&bundle, &facts, Options::default());
    let actual = interp::decision_json(&bundle, &sources, &decision);
    for (key, want) in expected.as_object().expect("expected is an object") {
        assert_eq!(&actual[key], want, "field `{key}` of {actual:#}");
    }
}

fn policy(name: &str, mode: &str, rules: &str, default: &str) -> String {
    format!(
        "policy \"{name}\" {{\n  mode {mode}\n  on error block\n{rules}\n  default {default}\n}}\n"
    )
}

#[test]
fn the_first_rule_with_a_verdict_decides() {
    let rules = "  rule a on flow {\n    when peer.port == 23\n    then block\n  }\n  rule b on flow {\n    when peer.port > 0\n    then quarantine\n  }";
    let p = policy("p", "enforce", rules, "allow");
    check(
        &p,
        json!({"event": "flow", "peer.port": 23}),
        json!({"verdict": "block", "rule": "a"}),
    );
    check(
        &p,
        json!({"event": "flow", "peer.port": 80}),
        json!({"verdict": "quarantine", "rule": "b"}),
    );
    check(
        &p,
        json!({"event": "flow", "peer.port": 0}),
        json!({"verdict": "allow", "rule": "default", "policy": "p"}),
    );
}

#[test]
fn alerts_accumulate_until_the_deciding_rule() {
    let rules = "  rule note on flow {\n    alert low \"first\"\n  }\n  rule decide on flow {\n    then allow\n    alert medium \"second\"\n  }\n  rule after on flow {\n    alert high \"never\"\n  }";
    let p = policy("p", "enforce", rules, "block");
    let (sources, checked) = check_source("t.ward", &p);
    let bundle = checked.bundle.unwrap();
    let facts = Facts::from_json(&bundle.schema, &json!({"event": "flow"})).unwrap();
    let d = interp::decision_json(
        &bundle,
        &sources,
        &evaluate(&bundle, &facts, Options::default()),
    );
    let messages: Vec<_> = d["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].clone())
        .collect();
    assert_eq!(messages, vec![json!("first"), json!("second")]);
}

#[test]
fn the_most_restrictive_enforcing_verdict_wins() {
    let a = policy(
        "a",
        "enforce",
        "  rule r on flow {\n    then block\n  }",
        "allow",
    );
    let b = policy(
        "b",
        "enforce",
        "  rule q on flow {\n    then quarantine\n  }",
        "allow",
    );
    let c = policy(
        "c",
        "enforce",
        "  rule s on flow {\n    then block\n  }",
        "allow",
    );
    check(
        &format!("{a}{b}"),
        json!({"event": "flow"}),
        json!({"verdict": "quarantine", "policy": "b"}),
    );
    // On a tie the earlier policy is named.
    check(
        &format!("{c}{a}"),
        json!({"event": "flow"}),
        json!({"verdict": "block", "policy": "c"}),
    );
}

#[test]
fn monitor_mode_reports_what_would_have_happened() {
    let m = policy(
        "watch",
        "monitor",
        "  rule r on flow {\n    then quarantine\n    alert high \"x\"\n  }",
        "allow",
    );
    let e = policy(
        "gate",
        "enforce",
        "  rule a on flow {\n    then allow\n  }",
        "block",
    );
    check(
        &format!("{m}{e}"),
        json!({"event": "flow"}),
        json!({"verdict": "allow", "policy": "gate", "would": {"verdict": "quarantine", "policy": "watch", "rule": "r"}}),
    );
    // Alone, a monitor-mode policy enforces nothing.
    check(
        &m,
        json!({"event": "flow"}),
        json!({"verdict": "allow", "policy": null, "rule": null}),
    );
}

#[test]
fn a_policy_decides_only_the_events_its_rules_are_on() {
    let p = policy(
        "dns-only",
        "enforce",
        "  rule r on dns {\n    when dns.qname == \"x.test\"\n    then block\n  }",
        "block",
    );
    check(
        &p,
        json!({"event": "flow"}),
        json!({"verdict": "allow", "policy": null}),
    );
    check(
        &p,
        json!({"event": "dns", "dns.qname": "y.test"}),
        json!({"verdict": "block", "rule": "default", "respond": "nxdomain"}),
    );
}

#[test]
fn any_test_of_an_absent_fact_is_false() {
    let eq = policy(
        "p",
        "enforce",
        "  rule r on flow {\n    when exists device.os.supported and device.os.supported == false\n    then block\n  }",
        "allow",
    );
    check(&eq, json!({"event": "flow"}), json!({"verdict": "allow"}));
    check(
        &eq,
        json!({"event": "flow", "device.os.supported": false}),
        json!({"verdict": "block"}),
    );
    let ne = policy(
        "p",
        "enforce",
        "  rule r on flow {\n    when device.vendor != \"Acme\"\n    then allow\n  }",
        "block",
    );
    check(&ne, json!({"event": "flow"}), json!({"verdict": "block"}));
    let negated = policy(
        "p",
        "enforce",
        "  rule r on flow {\n    when not device.os.supported\n    then block\n  }",
        "allow",
    );
    check(
        &negated,
        json!({"event": "flow"}),
        json!({"verdict": "block"}),
    );
    check(
        &negated,
        json!({"event": "flow", "device.os.supported": true}),
        json!({"verdict": "allow"}),
    );
}

#[test]
fn classes_cover_their_subtree() {
    let p = policy(
        "p",
        "enforce",
        "  rule r on flow {\n    when device.class in imaging\n    then block\n  }",
        "allow",
    );
    check(
        &p,
        json!({"event": "flow", "device.class": "imaging.ct"}),
        json!({"verdict": "block"}),
    );
    check(
        &p,
        json!({"event": "flow", "device.class": "imaging.nuclear.pet"}),
        json!({"verdict": "block"}),
    );
    check(
        &p,
        json!({"event": "flow", "device.class": "lab.analyzer"}),
        json!({"verdict": "allow"}),
    );
    check(
        &p,
        json!({"event": "flow", "device.class": "imaging.ct.spectral"}),
        json!({"verdict": "block"}),
    );
}

#[test]
fn networks_ranges_and_patterns() {
    let rules = "  let pacs = [10.20.0.10, 10.20.0.0/28, \"fd00::/8\"]\n  rule pacs on flow {\n    when peer.ip in pacs and dicom.called_ae matches [\"PACS_*\", \"ARCH?\"]\n    then allow\n  }\n  rule night on flow {\n    when time.hour in 22..2 and time.weekday in fri..mon\n    then quarantine\n  }";
    let p = policy("p", "enforce", rules, "block");
    let base = |ip: &str, ae: &str| json!({"event": "flow", "peer.ip": ip, "dicom.called_ae": ae, "time.hour": 12, "time.weekday": "wed"});
    check(
        &p,
        base("10.20.0.15", "PACS_MAIN"),
        json!({"verdict": "allow"}),
    );
    check(&p, base("fd12::1", "ARCH1"), json!({"verdict": "allow"}));
    check(
        &p,
        base("10.20.0.16", "PACS_MAIN"),
        json!({"verdict": "block"}),
    );
    check(
        &p,
        base("10.20.0.15", "ARCH12"),
        json!({"verdict": "block"}),
    );
    // AE titles compare with case.
    check(
        &p,
        base("10.20.0.15", "pacs_main"),
        json!({"verdict": "block"}),
    );
    let night = |hour: i64, day: &str| json!({"event": "flow", "peer.ip": "1.1.1.1", "time.hour": hour, "time.weekday": day});
    check(&p, night(23, "sat"), json!({"verdict": "quarantine"}));
    check(&p, night(2, "mon"), json!({"verdict": "quarantine"}));
    check(&p, night(3, "mon"), json!({"verdict": "block"}));
    check(&p, night(23, "tue"), json!({"verdict": "block"}));
}

#[test]
fn names_compare_without_case_or_trailing_dot() {
    let p = policy(
        "p",
        "enforce",
        "  rule r on dns {\n    when dns.qname == \"Bad.Example.\" or dns.qname matches \"*.TRACKER.test\"\n    then block respond sinkhole 0.0.0.0\n  }",
        "allow",
    );
    check(
        &p,
        json!({"event": "dns", "dns.qname": "BAD.example.com."}),
        json!({"verdict": "allow"}),
    );
    check(
        &p,
        json!({"event": "dns", "dns.qname": "bad.EXAMPLE."}),
        json!({"verdict": "block", "respond": "sinkhole", "sinkhole": "0.0.0.0"}),
    );
    check(
        &p,
        json!({"event": "dns", "dns.qname": "a.b.tracker.test"}),
        json!({"verdict": "block"}),
    );
}

#[test]
fn sets_versions_and_mds2_answers() {
    let rules = "  rule cats on dns {\n    when dns.categories has all [ads, tracking]\n    then block respond nodata\n  }\n  rule one on dns {\n    when dns.categories has malware\n    then block respond refused\n  }";
    let p = policy("p", "enforce", rules, "allow");
    check(
        &p,
        json!({"event": "dns", "dns.categories": ["ads"]}),
        json!({"verdict": "allow"}),
    );
    check(
        &p,
        json!({"event": "dns", "dns.categories": ["tracking", "ads"]}),
        json!({"respond": "nodata"}),
    );
    check(
        &p,
        json!({"event": "dns", "dns.categories": ["malware"]}),
        json!({"respond": "refused"}),
    );

    let rules = "  rule old on flow {\n    when device.os.version < \"6.2\" and device.mds2.MLDP-2 == no\n    then quarantine\n  }";
    let p = policy("p", "enforce", rules, "allow");
    check(
        &p,
        json!({"event": "flow", "device.os.version": "6.1.7601", "device.mds2.MLDP-2": "No"}),
        json!({"verdict": "quarantine"}),
    );
    check(
        &p,
        json!({"event": "flow", "device.os.version": "10.0", "device.mds2.MLDP-2": "no"}),
        json!({"verdict": "allow"}),
    );
    check(
        &p,
        json!({"event": "flow", "device.os.version": "6.1", "device.mds2.MLDP-2": "n/a"}),
        json!({"verdict": "allow"}),
    );
}

#[test]
fn a_policy_with_for_decides_only_its_devices() {
    let source = "policy \"pumps\" {\n  for device.class in infusion\n  mode enforce\n  on error block\n  rule r on flow {\n    when peer.port == 23\n    then block\n  }\n  default block\n}\n";
    check(
        source,
        json!({"event": "flow", "device.class": "infusion.pump", "peer.port": 443}),
        json!({"verdict": "block", "rule": "default"}),
    );
    // A monitor is outside the scope: the pump policy has no say.
    check(
        source,
        json!({"event": "flow", "device.class": "monitoring.bedside", "peer.port": 23}),
        json!({"verdict": "allow", "policy": null}),
    );
}
