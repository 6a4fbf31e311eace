//! Tests of [`identify`] across protocols: each signature is recognised on
//! an unusual port, weak signatures need their port, and no parser panics
//! on arbitrary or truncated bytes.

use super::*;
use proptest::prelude::*;

fn tcp<'a>(client: &'a [u8], server: &'a [u8], port: u16) -> FlowBytes<'a> {
    FlowBytes {
        transport: TransportKind::Tcp,
        client_port: 49152,
        server_port: port,
        client,
        server,
    }
}

fn udp<'a>(client: &'a [u8], server: &'a [u8], port: u16) -> FlowBytes<'a> {
    FlowBytes {
        transport: TransportKind::Udp,
        ..tcp(client, server, port)
    }
}

/// Inputs in every protocol the tests can build, with the expected result.
fn samples() -> Vec<(FlowBytes<'static>, Protocol)> {
    let leak = |v: Vec<u8>| -> &'static [u8] { Vec::leak(v) };
    let dicom_rq = leak(dicom::build::associate(
        1,
        "PACS",
        "CT1",
        &["1.2.840.10008.5.1.4.1.1.2"],
    ));
    let tls_hello = leak(tls::build::client_hello(
        Some("x.example"),
        &["h2"],
        &[0x0304],
    ));
    let smb1 = leak(smb::build::smb1_negotiate(&["NT LM 0.12"]));
    let dhcp_discover = leak(dhcp::build::message(
        1,
        [0, 1, 2, 3, 4, 5],
        &[(12, b"host")],
    ));
    let dns_query = leak(dns::build::query(1, "a.example", 1));
    let mut ntp_packet = vec![0x23];
    ntp_packet.resize(48, 0);
    let ntp_packet = leak(ntp_packet);
    vec![
        (tcp(dicom_rq, b"", 4242), Protocol::Dicom),
        (
            tcp(
                b"\x0bMSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r\x1c\r",
                b"",
                6000,
            ),
            Protocol::Hl7,
        ),
        (tcp(tls_hello, b"", 8443), Protocol::Tls),
        (
            tcp(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"", 8080),
            Protocol::Http,
        ),
        (
            tcp(b"GET /fhir/Patient/1 HTTP/1.1\r\n\r\n", b"", 80),
            Protocol::Fhir,
        ),
        (tcp(smb1, b"", 4445), Protocol::Smb),
        (tcp(b"SSH-2.0-x\r\n", b"SSH-2.0-y\r\n", 2222), Protocol::Ssh),
        (tcp(b"\x05", b"\x06", 5000), Protocol::Astm),
        (
            tcp(b"<HEL.R01><DEV/></HEL.R01>", b"", 7000),
            Protocol::Poct1a,
        ),
        (tcp(b"", b"login: ", 23), Protocol::Telnet),
        (tcp(b"USER x\r\n", b"220 hi\r\n", 2121), Protocol::Ftp),
        (udp(dhcp_discover, b"", 67), Protocol::Dhcp),
        (udp(dns_query, b"", 53), Protocol::Dns),
        (udp(dns_query, b"", 5353), Protocol::Mdns),
        (udp(ntp_packet, b"", 123), Protocol::Ntp),
        (
            udp(b"<13>Jan  1 00:00:00 host x", b"", 9999),
            Protocol::Syslog,
        ),
        (
            udp(
                b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n",
                b"",
                1900,
            ),
            Protocol::Ssdp,
        ),
        (udp(b"\x0d\x01", b"", 24105), Protocol::Intellivue),
    ]
}

#[test]
fn each_protocol_is_identified() {
    for (flow, want) in samples() {
        let got = identify(&flow).protocol;
        assert_eq!(
            got,
            want,
            "client {:?}",
            String::from_utf8_lossy(flow.client)
        );
    }
}

#[test]
fn weak_signatures_need_their_port() {
    let mut ntp_packet = vec![0x23];
    ntp_packet.resize(48, 0);
    assert_eq!(
        identify(&udp(&ntp_packet, b"", 4000)).protocol,
        Protocol::Unknown
    );
    assert_eq!(
        identify(&tcp(b"", b"login: ", 2300)).protocol,
        Protocol::Unknown
    );
}

#[test]
fn encrypted_flag() {
    let hello = tls::build::client_hello(None, &[], &[]);
    assert!(identify(&tcp(&hello, b"", 443)).encrypted);
    assert!(!identify(&tcp(b"GET / HTTP/1.1\r\n\r\n", b"", 80)).encrypted);
}

#[test]
fn random_bytes_are_unknown() {
    // A fixed pseudo-random stream (xorshift), not matching any signature.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..2048)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert_eq!(
        identify(&tcp(&bytes, &bytes, 40000)).protocol,
        Protocol::Unknown
    );
    assert_eq!(
        identify(&udp(&bytes, b"", 40000)).protocol,
        Protocol::Unknown
    );
}

#[test]
fn every_prefix_of_every_sample_is_safe() {
    for (flow, _) in samples() {
        for cut in 0..flow.client.len() {
            let short = FlowBytes {
                client: &flow.client[..cut],
                ..flow
            };
            let _ = identify(&short);
        }
    }
}

#[test]
fn protocol_names_are_the_language_enumeration() {
    let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(
        names.join(" "),
        "dicom hl7 fhir http tls dns dhcp smb astm poct1a sdc intellivue ssh rdp telnet ftp ntp syslog snmp mdns ssdp unknown"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No parser panics on arbitrary bytes, on any port or transport.
    #[test]
    fn no_parser_panics(
        client in proptest::collection::vec(any::<u8>(), 0..512),
        server in proptest::collection::vec(any::<u8>(), 0..512),
        port in prop_oneof![Just(53u16), Just(104), Just(123), Just(514), Just(5353), Just(24105), Just(23), any::<u16>()],
        is_udp in any::<bool>(),
    ) {
        let flow = if is_udp { udp(&client, &server, port) } else { tcp(&client, &server, port) };
        let _ = identify(&flow);
        let _ = dns::parse_message(&client, false);
        let _ = tls::client_hello(&client);
    }

    /// Valid prefixes followed by arbitrary bytes do not panic either.
    #[test]
    fn no_panic_after_a_valid_start(
        which in 0usize..18,
        tail in proptest::collection::vec(any::<u8>(), 0..256),
        cut in 0usize..400,
    ) {
        let samples = samples();
        let (flow, _) = samples[which % samples.len()];
        let mut client = flow.client[..cut.min(flow.client.len())].to_vec();
        client.extend_from_slice(&tail);
        let _ = identify(&FlowBytes { client: &client, ..flow });
    }
}
