//! DHCP (v4) messages: the evidence a device gives about itself when it
//! asks for an address.
//!
//! A datagram is DHCP when it is a BOOTP message with the DHCP magic cookie.
//! The options give the message type, host name, vendor class, client id,
//! requested address and the parameter request list, whose order is the
//! classic DHCP fingerprint of an operating system or firmware. Only a
//! client's requests describe the client: in a server's replies the same
//! options (a vendor class, say) describe the server, so replies yield the
//! message type and client MAC address alone.

use super::bytes::{Cursor, hex, text};
use super::{Attributes, put_str};

const MAGIC: u32 = 0x6382_5363;

/// Parses one DHCP datagram; `None` unless DHCP.
pub fn parse(datagram: &[u8]) -> Option<Attributes> {
    let mut c = Cursor::new(datagram);
    let op = c.u8()?;
    let htype = c.u8()?;
    let hlen = c.u8()?;
    if !matches!(op, 1 | 2) || hlen > 16 {
        return None;
    }
    c.skip(25)?; // hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr
    let chaddr = c.take(16)?;
    c.skip(192)?; // sname, file
    if c.be32()? != MAGIC {
        return None;
    }

    let mut attributes = Attributes::new();
    if htype == 1 && hlen == 6 {
        let mac = chaddr.get(..6).unwrap_or_default();
        let text: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
        put_str(&mut attributes, "dhcp.client_mac", &text.join(":"));
    }
    while let Some(code) = c.u8() {
        match code {
            0 => continue,
            255 => break,
            _ => {}
        }
        let Some(len) = c.u8() else { break };
        let value = c.take_up_to(usize::from(len));
        if op == 2 && code != 53 {
            continue;
        }
        match code {
            53 => {
                let kind = match value.first() {
                    Some(1) => "discover",
                    Some(2) => "offer",
                    Some(3) => "request",
                    Some(4) => "decline",
                    Some(5) => "ack",
                    Some(6) => "nak",
                    Some(7) => "release",
                    Some(8) => "inform",
                    _ => "other",
                };
                put_str(&mut attributes, "dhcp.message_type", kind);
            }
            12 => put_str(&mut attributes, "dhcp.hostname", &text(value)),
            60 => put_str(&mut attributes, "dhcp.vendor_class", &text(value)),
            61 => put_str(&mut attributes, "dhcp.client_id", &hex(value)),
            55 => {
                let list: Vec<String> = value.iter().map(u8::to_string).collect();
                put_str(&mut attributes, "dhcp.fingerprint", &list.join(","));
            }
            50 => {
                if let Ok(octets) = <[u8; 4]>::try_from(value) {
                    put_str(
                        &mut attributes,
                        "dhcp.requested_ip",
                        &std::net::Ipv4Addr::from(octets).to_string(),
                    );
                }
            }
            81 => {
                // Client FQDN: flags, two obsolete rcode bytes, then the name.
                if let Some(name) = value.get(3..) {
                    let name = if name.first().is_some_and(|b| *b < 64 && *b > 0) {
                        wire_name(name)
                    } else {
                        text(name)
                    };
                    put_str(&mut attributes, "dhcp.fqdn", &name);
                }
            }
            _ => {}
        }
    }
    Some(attributes)
}

/// A name in DNS wire form (no compression), dotted.
fn wire_name(bytes: &[u8]) -> String {
    let mut c = Cursor::new(bytes);
    let mut labels = Vec::new();
    while let Some(len) = c.u8() {
        if len == 0 || len > 63 {
            break;
        }
        labels.push(text(c.take_up_to(usize::from(len))));
    }
    labels.join(".")
}

/// Builders of DHCP messages, for tests, benchmarks and fuzz seeds.
pub mod build {
    /// A DHCPDISCOVER/REQUEST (`kind`) from `mac` with the given options.
    pub fn message(kind: u8, mac: [u8; 6], options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = vec![1, 1, 6, 0, 0x12, 0x34, 0x56, 0x78];
        out.resize(28, 0);
        out.extend_from_slice(&mac);
        out.resize(236, 0);
        out.extend_from_slice(&super::MAGIC.to_be_bytes());
        out.extend_from_slice(&[53, 1, kind]);
        for (code, value) in options {
            out.push(*code);
            out.push(value.len() as u8);
            out.extend_from_slice(value);
        }
        out.push(255);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAC: [u8; 6] = [0x00, 0x09, 0xfb, 0x11, 0x22, 0x33];

    #[test]
    fn discover_yields_device_evidence() {
        let m = build::message(
            1,
            MAC,
            &[
                (12, b"INFUSION-07"),
                (60, b"BBraun SpaceCom"),
                (55, &[1, 3, 6, 15, 119]),
                (61, &[1, 0, 9, 0xfb, 0x11, 0x22, 0x33]),
            ],
        );
        let a = parse(&m).unwrap();
        assert_eq!(a["dhcp.message_type"], json!("discover"));
        assert_eq!(a["dhcp.client_mac"], json!("00:09:fb:11:22:33"));
        assert_eq!(a["dhcp.hostname"], json!("INFUSION-07"));
        assert_eq!(a["dhcp.vendor_class"], json!("BBraun SpaceCom"));
        assert_eq!(a["dhcp.fingerprint"], json!("1,3,6,15,119"));
        assert_eq!(a["dhcp.client_id"], json!("010009fb112233"));
    }

    #[test]
    fn fqdn_and_requested_address() {
        let m = build::message(
            3,
            MAC,
            &[
                (50, &[10, 1, 2, 3]),
                (81, b"\x05\x00\x00\x04host\x07example\x00"),
            ],
        );
        let a = parse(&m).unwrap();
        assert_eq!(a["dhcp.requested_ip"], json!("10.1.2.3"));
        assert_eq!(a["dhcp.fqdn"], json!("host.example"));
    }

    #[test]
    fn replies_describe_only_the_exchange() {
        let mut offer = build::message(2, MAC, &[(60, b"ArubaAP"), (12, b"server")]);
        offer[0] = 2;
        let a = parse(&offer).unwrap();
        assert_eq!(a["dhcp.message_type"], json!("offer"));
        assert_eq!(a["dhcp.client_mac"], json!("00:09:fb:11:22:33"));
        assert!(!a.contains_key("dhcp.vendor_class"));
        assert!(!a.contains_key("dhcp.hostname"));
    }

    #[test]
    fn truncated_options_keep_earlier_ones() {
        let m = build::message(1, MAC, &[(12, b"MONITOR"), (60, b"a long vendor class")]);
        let a = parse(&m[..m.len() - 8]).unwrap();
        assert_eq!(a["dhcp.hostname"], json!("MONITOR"));
    }

    #[test]
    fn other_bytes_are_not_dhcp() {
        let mut no_magic = build::message(1, MAC, &[]);
        no_magic[236] = 0;
        for input in [
            &no_magic[..],
            &[1; 300],
            &[],
            &build::message(1, MAC, &[])[..200],
        ] {
            assert!(parse(input).is_none());
        }
    }
}
