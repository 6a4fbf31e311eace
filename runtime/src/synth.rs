//! Synthetic traffic: writers of pcap and pcapng files and of Ethernet,
//! IP, TCP and UDP frames, and a generator of a realistic hospital protocol
//! mix. Used by the tests, the classification benchmark and the nDPI
//! comparison; nothing in the classification path depends on it.

use std::net::IpAddr;

/// A legacy pcap file (microsecond, little endian) of the given frames.
/// A legacy pcap file (microsecond, little endian) of the given frames.
pub fn pcap_file(linktype: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (ts, data) in frames {
        out.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// A pcapng file with one section, one interface and enhanced packets.
/// A pcapng file with one section, one interface and enhanced packets.
pub fn pcapng_file(linktype: u16, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&linktype.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (ts, data) in frames {
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        epb.resize(epb.len().div_ceil(4) * 4, 0);
        block(&mut out, 6, &epb);
    }
    out
}

/// An IPv4 or IPv6 header plus `payload` for IP protocol `protocol`.
/// An IPv4 or IPv6 header plus `payload` for IP protocol `protocol`.
pub fn ip(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x45);
            out.push(0);
            out.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            out.push(protocol);
            out.push(64);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        // Mixed address families make no packet.
        _ => return Vec::new(),
    }
    out.extend_from_slice(payload);
    out
}

/// A TCP header (no options) plus payload.
/// A TCP header (no options) plus payload.
pub fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.push(5 << 4);
    out.push(flags);
    out.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// A UDP header plus payload.
/// A UDP header plus payload.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

/// An Ethernet frame around an IP packet.
/// An Ethernet frame around an IP packet.
pub fn ethernet(src: [u8; 6], dst: [u8; 6], ip_packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    let ethertype: u16 = if ip_packet.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    };
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(ip_packet);
    out
}

/// One synthetic TCP conversation: handshake, the given request and
/// answer, `bulk` full-size data segments from the server, and the close.
#[allow(
    clippy::too_many_arguments,
    reason = "a conversation's endpoints, spelled out"
)]
fn tcp_conversation(
    frames: &mut Vec<(u64, Vec<u8>)>,
    ts: &mut u64,
    client: (IpAddr, [u8; 6], u16),
    server: (IpAddr, [u8; 6], u16),
    request: &[u8],
    answer: &[u8],
    bulk: usize,
) {
    let (cip, cmac, cport) = client;
    let (sip, smac, sport) = server;
    let mut push = |frames: &mut Vec<(u64, Vec<u8>)>,
                    from_client: bool,
                    seq: u32,
                    flags: u8,
                    payload: &[u8]| {
        *ts += 50;
        let frame = if from_client {
            ethernet(
                cmac,
                smac,
                &ip(cip, sip, 6, &tcp(cport, sport, seq, flags, payload)),
            )
        } else {
            ethernet(
                smac,
                cmac,
                &ip(sip, cip, 6, &tcp(sport, cport, seq, flags, payload)),
            )
        };
        frames.push((*ts, frame));
    };
    let (c_isn, s_isn) = (1000u32, 5000u32);
    push(frames, true, c_isn, 0x02, b"");
    push(frames, false, s_isn, 0x12, b"");
    push(frames, true, c_isn + 1, 0x10, b"");
    push(frames, true, c_isn + 1, 0x18, request);
    let mut s_seq = s_isn + 1;
    push(frames, false, s_seq, 0x18, answer);
    s_seq = s_seq.wrapping_add(answer.len() as u32);
    let chunk = [0x5au8; 1400];
    for _ in 0..bulk {
        push(frames, false, s_seq, 0x10, &chunk);
        s_seq = s_seq.wrapping_add(1400);
    }
    let c_end = (c_isn + 1).wrapping_add(request.len() as u32);
    push(frames, true, c_end, 0x11, b"");
    push(frames, false, s_seq, 0x11, b"");
}

/// A capture of `conversations` conversations in a hospital protocol mix
/// (DICOM stores, HL7 feeds, TLS and HTTP, SMB, DNS, DHCP, NTP, syslog),
/// with bulk data after each TCP request so that bytes per packet are
/// realistic. Deterministic.
pub fn hospital_mix(conversations: usize) -> Vec<(u64, Vec<u8>)> {
    use crate::proto::{dhcp, dicom, dns, smb, tls};
    let mut frames = Vec::new();
    let mut ts = 1_700_000_000_000_000u64;
    let ct_store = dicom::build::associate(
        1,
        "PACS",
        "CT_SCANNER",
        &["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.1"],
    );
    let ct_accept = dicom::build::associate(2, "PACS", "CT_SCANNER", &[]);
    let hl7 = b"\x0bMSH|^~\\&|PUMPGW|ICU|EMR|HOSP|20240101||ORU^R01|1|P|2.6\rPID|1||42\rOBX|1|NM|RATE||5|mL/h\r\x1c\r".to_vec();
    let hl7_ack =
        b"\x0bMSH|^~\\&|EMR|HOSP|PUMPGW|ICU|20240101||ACK^R01|2|P|2.6\rMSA|AA|1\r\x1c\r".to_vec();
    let hello = tls::build::client_hello(
        Some("updates.vendor.example"),
        &["h2", "http/1.1"],
        &[0x0304, 0x0303],
    );
    let http = b"GET /fhir/r4/Observation?patient=1 HTTP/1.1\r\nHost: emr.hospital.example\r\nUser-Agent: Monitor/1.0\r\nAccept: application/fhir+json\r\n\r\n".to_vec();
    let http_answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n\r\n{}".to_vec();
    let smb2 = smb::build::smb2_negotiate(false, &[0x0202, 0x0210, 0x0300, 0x0302, 0x0311]);
    let smb2_answer = smb::build::smb2_negotiate(true, &[0x0311]);
    let server_mac = [0x00, 0x50, 0x56, 0x00, 0x00, 0x01];

    for n in 0..conversations {
        let host = u8::try_from(n % 200).unwrap_or(0) + 10;
        let subnet = u8::try_from((n / 200) % 250).unwrap_or(0);
        let client_ip = IpAddr::from([10, 1, subnet, host]);
        let client_mac = [0x00, 0x09, 0xfb, subnet, host, 0x01];
        let port = 40000 + u16::try_from(n % 20000).unwrap_or(0);
        let client = (client_ip, client_mac, port);
        let server = |last: u8, port: u16| (IpAddr::from([10, 0, 0, last]), server_mac, port);
        match n % 10 {
            0 | 1 => tcp_conversation(
                &mut frames,
                &mut ts,
                client,
                server(9, 104),
                &ct_store,
                &ct_accept,
                12,
            ),
            2 => tcp_conversation(
                &mut frames,
                &mut ts,
                client,
                server(20, 2575),
                &hl7,
                &hl7_ack,
                0,
            ),
            3 | 4 => tcp_conversation(
                &mut frames,
                &mut ts,
                client,
                (IpAddr::from([198, 51, 100, 7]), server_mac, 443),
                &hello,
                &[0x16, 3, 3, 0, 4, 2, 0, 0, 0],
                8,
            ),
            5 => tcp_conversation(
                &mut frames,
                &mut ts,
                client,
                server(30, 80),
                &http,
                &http_answer,
                4,
            ),
            6 => tcp_conversation(
                &mut frames,
                &mut ts,
                client,
                server(40, 445),
                &smb2,
                &smb2_answer,
                6,
            ),
            7 => {
                let resolver = IpAddr::from([10, 0, 0, 53]);
                let name = format!("host{n}.vendor.example");
                ts += 50;
                let q = dns::build::query(u16::try_from(n % 65535).unwrap_or(0), &name, 1);
                frames.push((
                    ts,
                    ethernet(
                        client_mac,
                        server_mac,
                        &ip(client_ip, resolver, 17, &udp(port, 53, &q)),
                    ),
                ));
                ts += 50;
                let r = dns::build::response(
                    u16::try_from(n % 65535).unwrap_or(0),
                    &name,
                    &["cdn.vendor.example"],
                    [198, 51, 100, 7],
                );
                frames.push((
                    ts,
                    ethernet(
                        server_mac,
                        client_mac,
                        &ip(resolver, client_ip, 17, &udp(53, port, &r)),
                    ),
                ));
            }
            8 => {
                let discover = dhcp::build::message(
                    1,
                    client_mac,
                    &[(12, b"MONITOR-7"), (55, &[1, 3, 6, 15, 119, 252])],
                );
                let any = IpAddr::from([0, 0, 0, 0]);
                let all = IpAddr::from([255, 255, 255, 255]);
                ts += 50;
                frames.push((
                    ts,
                    ethernet(
                        client_mac,
                        [0xff; 6],
                        &ip(any, all, 17, &udp(68, 67, &discover)),
                    ),
                ));
            }
            _ => {
                let mut ntp = vec![0x23u8];
                ntp.resize(48, 0);
                let time_server = IpAddr::from([10, 0, 0, 123]);
                ts += 50;
                frames.push((
                    ts,
                    ethernet(
                        client_mac,
                        server_mac,
                        &ip(client_ip, time_server, 17, &udp(port, 123, &ntp)),
                    ),
                ));
                let log = b"<134>Jan  1 00:00:00 monitor app: alarm silenced";
                let collector = IpAddr::from([10, 0, 0, 114]);
                ts += 50;
                frames.push((
                    ts,
                    ethernet(
                        client_mac,
                        server_mac,
                        &ip(client_ip, collector, 17, &udp(port, 514, log)),
                    ),
                ));
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowConfig;
    use crate::inspect::{Event, Inspector};
    use std::collections::BTreeMap;

    #[test]
    fn the_mix_classifies_as_built() {
        let file = pcap_file(1, &hospital_mix(100));
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut inspector = Inspector::new(FlowConfig::default(), None, None);
        let mut count = |e: Event| {
            if let Event::Flow(f) = e {
                *counts.entry(f.protocol.name().to_owned()).or_default() += 1;
            }
        };
        inspector.read(&file[..], &mut count).unwrap();
        let (devices, summary) = inspector.finish(&mut count);
        assert_eq!(summary.errors, 0);
        let want: BTreeMap<String, usize> = [
            ("dicom", 20),
            ("hl7", 10),
            ("tls", 20),
            ("fhir", 10),
            ("smb", 10),
            ("dns", 10),
            // All discovers share one 0.0.0.0 -> broadcast flow.
            ("dhcp", 1),
            ("ntp", 10),
            ("syslog", 10),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(counts, want);
        assert!(devices.iter().any(|d| d.class() == "imaging.ct"));
        assert!(devices.iter().any(|d| d.class() == "infusion.pump"));
        // Yet each discover is evidence for its own device.
        let named = devices
            .iter()
            .filter(|d| d.device.hostname.as_deref() == Some("MONITOR-7"));
        assert_eq!(named.count(), 10);
    }
}
