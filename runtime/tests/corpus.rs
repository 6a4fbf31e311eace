//! Opt-in test over the real captures of the shared corpus: set
//! `WARD_CORPUS` to the corpus folder (`../shared/corpus` from the
//! repository) to run it; without it the test checks nothing and says so.
//!
//! Every capture under `ndpi-pcaps`, `tapirx-testdata` and `zeek-traces`
//! must be read without a capture error; the DICOM, HL7, TLS, SMB, DHCP and
//! DNS captures must yield the values read from them by hand (and checked
//! against tshark 4.0 where it decodes the protocol).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "a test: a panic is a failing test, and the skip is said aloud"
)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use ward_runtime::flow::FlowConfig;
use ward_runtime::inspect::{Event, Inspector};
use ward_runtime::proto::Protocol;

fn corpus() -> Option<PathBuf> {
    std::env::var_os("WARD_CORPUS").map(PathBuf::from)
}

/// The flows and DNS records of one capture, as JSON objects.
fn inspect(
    path: &Path,
) -> (
    Vec<serde_json::Map<String, Value>>,
    ward_runtime::inspect::Summary,
) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut events = Vec::new();
    let mut inspector = Inspector::new(FlowConfig::default(), None, None);
    inspector
        .read(std::io::BufReader::new(file), &mut |e| events.push(e))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, summary) = inspector.finish(&mut |e| events.push(e));
    let records = events
        .into_iter()
        .map(|e| match e {
            Event::Flow(f) => f.to_json(),
            Event::Dns(d) => d.to_json(),
        })
        .collect();
    (records, summary)
}

fn flows_of(
    records: &[serde_json::Map<String, Value>],
    protocol: Protocol,
) -> Vec<&serde_json::Map<String, Value>> {
    records
        .iter()
        .filter(|r| r["type"] == "flow" && r["protocol"] == protocol.name())
        .collect()
}

fn attr<'a>(record: &'a serde_json::Map<String, Value>, name: &str) -> &'a Value {
    &record["attributes"][name]
}

fn captures_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            captures_under(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_capture_parses() {
    let Some(root) = corpus() else {
        eprintln!("WARD_CORPUS not set: corpus test skipped");
        return;
    };
    let mut captures = Vec::new();
    for dir in ["ndpi-pcaps", "tapirx-testdata", "zeek-traces"] {
        captures_under(&root.join(dir), &mut captures);
    }
    assert!(
        captures.len() >= 25,
        "found only {} captures",
        captures.len()
    );
    for path in &captures {
        let (records, summary) = inspect(path);
        assert_eq!(summary.capture_errors, 0, "{}", path.display());
        assert!(summary.packets > 0, "{}", path.display());
        assert!(!records.is_empty(), "{}: no flow", path.display());
    }
}

#[test]
fn known_values() {
    let Some(root) = corpus() else {
        eprintln!("WARD_CORPUS not set: corpus test skipped");
        return;
    };

    // DICOM association requests (tapirx): AE titles and the client's
    // implementation.
    for (file, sop) in [
        (
            "dicom_arq_1_find_testclient.pcap",
            "1.2.840.10008.5.1.4.1.2.1.1",
        ),
        (
            "dicom_arq_2_get_testclient.pcap",
            "1.2.840.10008.5.1.4.1.2.1.3",
        ),
    ] {
        let (records, _) = inspect(&root.join("tapirx-testdata").join(file));
        let dicom = flows_of(&records, Protocol::Dicom);
        assert_eq!(dicom.len(), 1, "{file}");
        assert_eq!(attr(dicom[0], "dicom.calling_ae"), "testclient");
        assert_eq!(attr(dicom[0], "dicom.called_ae"), "testserver");
        assert_eq!(
            attr(dicom[0], "dicom.application_context"),
            "1.2.840.10008.3.1.1.1"
        );
        let sops = attr(dicom[0], "dicom.sop_classes").as_array().unwrap();
        assert!(sops.iter().any(|s| s == sop), "{file}: {sops:?}");
    }
    let (records, _) = inspect(&root.join("tapirx-testdata/dicom_arq_1_find_testclient.pcap"));
    let dicom = flows_of(&records, Protocol::Dicom);
    assert_eq!(
        attr(dicom[0], "dicom.implementation_class_uid"),
        "1.2.826.0.1.3680043.9.7133.1.1"
    );
    assert_eq!(
        attr(dicom[0], "dicom.implementation_version"),
        "GODICOM_1_1"
    );
    assert_eq!(
        attr(dicom[0], "dicom.sop_classes")
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // HL7 over MLLP: message types, applications, the acknowledgment.
    for (file, message_type, sender, version) in [
        (
            "tapirx-testdata/HL7-ADT.pcap",
            "ADT^A01",
            "SENDING_APPLICATION",
            "2.3",
        ),
        (
            "tapirx-testdata/HL7-ORM.pcap",
            "ORM^O01",
            "SendingApp",
            "2.3",
        ),
        (
            "ndpi-pcaps/hl7.pcap",
            "ADT^A01",
            "SENDING_APPLICATION",
            "2.3",
        ),
    ] {
        let (records, _) = inspect(&root.join(file));
        let hl7 = flows_of(&records, Protocol::Hl7);
        assert_eq!(hl7.len(), 1, "{file}");
        assert_eq!(attr(hl7[0], "hl7.message_type"), message_type, "{file}");
        assert_eq!(attr(hl7[0], "hl7.sending_application"), sender, "{file}");
        assert_eq!(attr(hl7[0], "hl7.version"), version, "{file}");
        assert_eq!(attr(hl7[0], "hl7.ack_code"), "AA", "{file}");
    }

    // TLS: server names and ALPN (as tshark decodes them), versions.
    for (file, sni, alpn, version) in [
        (
            "ndpi-pcaps/tls_1.2_unidirectional_client.pcapng",
            Some("notifications-pa.googleapis.com"),
            Some(vec!["h2", "http/1.1"]),
            "1.2",
        ),
        (
            "ndpi-pcaps/tls_1.3_unidirectional_client.pcapng",
            Some("www.google.com"),
            Some(vec!["http/1.1"]),
            "1.3",
        ),
        ("zeek-traces/tls/ecdhe.pcap", None, None, "1.2"),
        ("ndpi-pcaps/google_ssl.pcap", None, None, "1.0"),
    ] {
        let (records, _) = inspect(&root.join(file));
        let tls = flows_of(&records, Protocol::Tls);
        assert_eq!(tls.len(), 1, "{file}");
        match sni {
            Some(name) => assert_eq!(attr(tls[0], "tls.sni"), name, "{file}"),
            None => assert!(attr(tls[0], "tls.sni").is_null(), "{file}"),
        }
        if let Some(alpn) = alpn {
            assert_eq!(attr(tls[0], "tls.alpn"), &serde_json::json!(alpn), "{file}");
        }
        assert_eq!(attr(tls[0], "tls.version"), version, "{file}");
        assert_eq!(tls[0]["attributes"]["flow.encrypted"], true);
        let ja4 = attr(tls[0], "tls.ja4").as_str().unwrap();
        assert_eq!(ja4.len(), 36, "{file}: {ja4}");
    }

    // SMBv1 (nDPI, Zeek): dialects offered, version 1.
    for file in [
        "ndpi-pcaps/smbv1.pcap",
        "zeek-traces/smb/cifs_negotiate_lanman.pcap",
    ] {
        let (records, _) = inspect(&root.join(file));
        let smb = flows_of(&records, Protocol::Smb);
        assert_eq!(smb.len(), 1, "{file}");
        assert_eq!(attr(smb[0], "smb.version"), "1", "{file}");
        assert_eq!(attr(smb[0], "smb.dialects")[1], "LANMAN1.0", "{file}");
    }

    // DHCP: host name and parameter request list of a client request.
    let (records, _) = inspect(&root.join("zeek-traces/dhcp/dhcp_time_and_nameserver.pcap"));
    let dhcp = flows_of(&records, Protocol::Dhcp);
    let request = dhcp
        .iter()
        .find(|r| attr(r, "dhcp.message_type") == "request")
        .unwrap();
    assert_eq!(attr(request, "dhcp.hostname"), "pop-os");
    assert_eq!(attr(request, "dhcp.client_mac"), "00:90:f5:91:cd:1f");
    assert_eq!(
        attr(request, "dhcp.fingerprint"),
        "1,28,2,3,15,6,119,12,44,47,26,121,42,4,5,249,33,252"
    );

    // DNS: a query with its answers.
    let (records, _) = inspect(&root.join("zeek-traces/dns53.pcap"));
    let dns: Vec<_> = records.iter().filter(|r| r["type"] == "dns").collect();
    assert_eq!(dns.len(), 1);
    assert_eq!(attr(dns[0], "dns.qname"), "us.v27.distributed.net");
    assert_eq!(attr(dns[0], "dns.answers").as_array().unwrap().len(), 8);

    // The rest of the protocol mix.
    for (file, protocol) in [
        ("ndpi-pcaps/NTPv4.pcap", Protocol::Ntp),
        ("ndpi-pcaps/snmp.pcap", Protocol::Snmp),
        ("ndpi-pcaps/ssdp-m-search.pcap", Protocol::Ssdp),
        ("ndpi-pcaps/syslog.pcap", Protocol::Syslog),
        ("ndpi-pcaps/telnet.pcap", Protocol::Telnet),
        ("ndpi-pcaps/soap.pcap", Protocol::Http),
        ("zeek-traces/dns/mdns.pcap", Protocol::Mdns),
    ] {
        let (records, _) = inspect(&root.join(file));
        assert!(
            !flows_of(&records, protocol).is_empty(),
            "{file}: no {} flow",
            protocol.name()
        );
    }
}

/// Loads a corpus list and returns the set and its report.
fn load_list(
    set: &mut ward_runtime::categories::CategorySet,
    root: &Path,
    category: &str,
    file: &str,
) -> ward_runtime::categories::LoadReport {
    let bytes = std::fs::read(root.join("lists").join(file)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    set.load(
        category,
        ward_runtime::categories::ListKind::Block,
        &text,
        None,
    )
    .unwrap()
}

#[test]
fn real_lists_load_with_their_published_counts() {
    use ward_runtime::categories::{CategorySet, ListFormat};
    let Some(root) = corpus() else {
        eprintln!("WARD_CORPUS not set: corpus test skipped");
        return;
    };
    let mut set = CategorySet::new();

    // (file, format, rules, ip addresses, unsupported) as the README and
    // SOURCE.txt files count them.
    let expected = [
        (
            "stevenblack/hosts.fakenews-gambling-porn-social.2019-03-27",
            ListFormat::Hosts,
            55_981,
            2,
            0,
        ),
        (
            "stevenblack/base-unified.2026-06-26.domains.txt",
            ListFormat::Domains,
            83_808,
            0,
            0,
        ),
        (
            "urlhaus-filter/urlhaus-filter-domains.txt",
            ListFormat::Domains,
            2_689,
            23_079,
            0,
        ),
        (
            "urlhaus-filter/urlhaus-filter-wildcard.txt",
            ListFormat::Wildcard,
            2_689,
            23_079,
            0,
        ),
        (
            "urlhaus-filter/urlhaus-filter-agh.txt",
            ListFormat::Adblock,
            2_689,
            23_079,
            0,
        ),
        (
            "urlhaus-filter/urlhaus-filter-ag.txt",
            ListFormat::Adblock,
            2_692,
            23_079,
            6_051,
        ),
        (
            "urlhaus-filter/urlhaus-filter-hosts.txt",
            ListFormat::Hosts,
            2_689,
            0,
            0,
        ),
        (
            "urlhaus-filter/urlhaus-filter-rpz.conf",
            ListFormat::Rpz,
            2_689,
            0,
            0,
        ),
        (
            "ut1/malware/domains",
            ListFormat::Domains,
            216_597,
            1_844,
            0,
        ),
        ("hagezi/light.rpz.txt", ListFormat::Rpz, 139_502, 0, 0),
        (
            "hagezi/light.adblock.txt",
            ListFormat::Adblock,
            69_751,
            0,
            0,
        ),
        (
            "hagezi/light.wildcard.txt",
            ListFormat::Wildcard,
            69_751,
            0,
            0,
        ),
    ];
    for (i, (file, format, rules, ips, unsupported)) in expected.iter().enumerate() {
        let report = load_list(&mut set, &root, &format!("c{i}"), file);
        assert_eq!(report.format, Some(*format), "{file}");
        assert_eq!(report.added, *rules, "{file}");
        assert_eq!(report.ip_literals, *ips, "{file}");
        assert_eq!(report.unsupported, *unsupported, "{file}");
        assert_eq!(report.bad, 0, "{file}: {:?}", report.bad_lines);
    }
    // The CNAME-cloaking list repeats 124 names under several trackers.
    let report = load_list(
        &mut set,
        &root,
        "cname",
        "adguard-cname-trackers/combined_disguised_trackers.txt",
    );
    assert_eq!((report.added, report.duplicates), (6_019, 124));

    // The same URLhaus names in five formats match alike: the name and its
    // subdomains (RPZ lists the name itself only).
    let domains =
        std::fs::read_to_string(root.join("lists/urlhaus-filter/urlhaus-filter-hosts.txt"))
            .unwrap();
    let mut checked = 0;
    for name in domains.lines().filter_map(|l| l.strip_prefix("0.0.0.0 ")) {
        let exact = set.categories_of(name);
        for category in ["c2", "c3", "c4", "c6", "c7"] {
            assert!(exact.iter().any(|c| c == category), "{name}: {exact:?}");
        }
        let below = set.categories_of(&format!("sub.{name}"));
        for category in ["c2", "c3", "c4", "c6"] {
            assert!(below.iter().any(|c| c == category), "sub.{name}: {below:?}");
        }
        assert!(!below.iter().any(|c| c == "c7"), "sub.{name}: {below:?}");
        checked += 1;
    }
    assert_eq!(checked, 2_689);

    // HaGeZi's RPZ writes `name` and `*.name`: the same coverage as its
    // Adblock form.
    assert!(
        set.categories_of("marketing.globalpointofcare.abbott")
            .contains(&"c9".to_owned())
    );
    assert!(
        set.categories_of("x.marketing.globalpointofcare.abbott")
            .contains(&"c9".to_owned())
    );
    assert!(
        set.categories_of("x.marketing.globalpointofcare.abbott")
            .contains(&"c10".to_owned())
    );
    assert!(
        !set.categories_of("globalpointofcare.abbott")
            .contains(&"c9".to_owned())
    );
}
