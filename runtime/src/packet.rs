//! Decoding a captured frame down to its transport header: link layers
//! (Ethernet with VLAN tags, Linux cooked v1 and v2, raw IP, BSD loopback),
//! IPv4 and IPv6 (with extension headers), TCP and UDP.
//!
//! Every length comes from the packet, so every read is checked: a frame
//! that lies about its lengths is reported as [`DecodeError`], never
//! trusted. Bytes the capture cut off (snap length) shorten the payload
//! rather than failing the packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Link types this decoder understands (LINKTYPE_* numbers).
pub mod linktype {
    /// BSD loopback: a 4-byte address family in host byte order.
    pub const NULL: i32 = 0;
    /// Ethernet II / 802.3.
    pub const ETHERNET: i32 = 1;
    /// Raw IP as some systems number it (DLT_RAW).
    pub const RAW_BSD: i32 = 12;
    /// Raw IP as OpenBSD numbers it.
    pub const RAW_OPENBSD: i32 = 14;
    /// Raw IPv4 or IPv6.
    pub const RAW: i32 = 101;
    /// OpenBSD loopback: family in network byte order.
    pub const LOOP: i32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: i32 = 113;
    /// Raw IPv4 only.
    pub const IPV4: i32 = 228;
    /// Raw IPv6 only.
    pub const IPV6: i32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: i32 = 276;
}

/// A decoded packet's addresses and transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source MAC address, when the link layer carries one.
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC address, when the link layer carries one.
    pub dst_mac: Option<[u8; 6]>,
    /// Source IP address.
    pub src_ip: IpAddr,
    /// Destination IP address.
    pub dst_ip: IpAddr,
    /// The transport header and payload.
    pub transport: Transport<'a>,
}

/// The transport layer of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Payload (as far as captured).
        payload: &'a [u8],
    },
    /// Another IP protocol (ICMP, ESP, ...), or a non-first fragment.
    Other {
        /// The IP protocol number.
        protocol: u8,
    },
}

/// A TCP segment's header fields that reassembly needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10).
    pub flags: u8,
    /// Payload (as far as captured).
    pub payload: &'a [u8],
}

/// TCP flag bits.
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
}

/// Why a frame was not decoded to a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A header is shorter than its fixed part or its stated length.
    #[error("truncated {0} header")]
    Truncated(&'static str),
    /// A header field holds an impossible value.
    #[error("malformed {0} header")]
    Malformed(&'static str),
    /// The frame is valid but carries no IP (ARP, LLDP, STP, ...).
    #[error("not an IP packet")]
    NotIp,
    /// The capture's link type is not one this decoder knows.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(i32),
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// Most VLAN tags we peel before giving up on a frame.
const MAX_VLAN_TAGS: usize = 4;

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn mac(bytes: &[u8], at: usize) -> Option<[u8; 6]> {
    bytes.get(at..at.checked_add(6)?)?.try_into().ok()
}

/// Decodes one frame of the given link type.
pub fn decode(linktype: i32, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match linktype {
        linktype::ETHERNET => decode_ethernet(frame),
        linktype::LINUX_SLL => {
            let ethertype = be16(frame, 14).ok_or(DecodeError::Truncated("linux cooked"))?;
            let src_mac = if be16(frame, 4) == Some(6) {
                mac(frame, 6)
            } else {
                None
            };
            let mut packet = decode_ethertype(ethertype, frame.get(16..).unwrap_or_default())?;
            packet.src_mac = src_mac;
            Ok(packet)
        }
        linktype::LINUX_SLL2 => {
            let ethertype = be16(frame, 0).ok_or(DecodeError::Truncated("linux cooked v2"))?;
            let addr_len = frame
                .get(11)
                .copied()
                .ok_or(DecodeError::Truncated("linux cooked v2"))?;
            let src_mac = if addr_len == 6 { mac(frame, 12) } else { None };
            let body = frame
                .get(20..)
                .ok_or(DecodeError::Truncated("linux cooked v2"))?;
            let mut packet = decode_ethertype(ethertype, body)?;
            packet.src_mac = src_mac;
            Ok(packet)
        }
        linktype::RAW | linktype::RAW_BSD | linktype::RAW_OPENBSD => decode_ip(frame),
        linktype::IPV4 => decode_ipv4(frame),
        linktype::IPV6 => decode_ipv6(frame),
        linktype::NULL | linktype::LOOP => {
            let family = frame.get(..4).ok_or(DecodeError::Truncated("loopback"))?;
            let family = if linktype == linktype::LOOP {
                u32::from_be_bytes(
                    family
                        .try_into()
                        .map_err(|_| DecodeError::Truncated("loopback"))?,
                )
            } else {
                // Host byte order of the capturing machine: accept either.
                let le = u32::from_le_bytes(
                    family
                        .try_into()
                        .map_err(|_| DecodeError::Truncated("loopback"))?,
                );
                if le > 0xffff { le.swap_bytes() } else { le }
            };
            let body = frame.get(4..).unwrap_or_default();
            match family {
                2 => decode_ipv4(body),
                24 | 28 | 30 => decode_ipv6(body),
                _ => Err(DecodeError::NotIp),
            }
        }
        other => Err(DecodeError::UnsupportedLinkType(other)),
    }
}

fn decode_ethernet(frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let dst_mac = mac(frame, 0).ok_or(DecodeError::Truncated("ethernet"))?;
    let src_mac = mac(frame, 6).ok_or(DecodeError::Truncated("ethernet"))?;
    let mut offset = 12;
    let mut ethertype = be16(frame, offset).ok_or(DecodeError::Truncated("ethernet"))?;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(DecodeError::Malformed("vlan"));
        }
        offset += 4;
        ethertype = be16(frame, offset).ok_or(DecodeError::Truncated("vlan"))?;
    }
    let body = frame.get(offset + 2..).unwrap_or_default();
    let mut packet = decode_ethertype(ethertype, body)?;
    packet.src_mac = Some(src_mac);
    packet.dst_mac = Some(dst_mac);
    Ok(packet)
}

fn decode_ethertype(ethertype: u16, body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match ethertype {
        ETHERTYPE_IPV4 => decode_ipv4(body),
        ETHERTYPE_IPV6 => decode_ipv6(body),
        _ => Err(DecodeError::NotIp),
    }
}

fn decode_ip(body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match body.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(body),
        Some(6) => decode_ipv6(body),
        Some(_) => Err(DecodeError::Malformed("ip version")),
        None => Err(DecodeError::Truncated("ip")),
    }
}

fn decode_ipv4(body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let first = *body.first().ok_or(DecodeError::Truncated("ipv4"))?;
    if first >> 4 != 4 {
        return Err(DecodeError::Malformed("ipv4 version"));
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 {
        return Err(DecodeError::Malformed("ipv4 header length"));
    }
    if body.len() < header_len {
        return Err(DecodeError::Truncated("ipv4"));
    }
    let total_len = usize::from(be16(body, 2).ok_or(DecodeError::Truncated("ipv4"))?);
    if total_len < header_len {
        // Zero total length happens with TSO captures; trust the capture.
        if total_len != 0 {
            return Err(DecodeError::Malformed("ipv4 total length"));
        }
    }
    let fragment = be16(body, 6).ok_or(DecodeError::Truncated("ipv4"))?;
    let protocol = *body.get(9).ok_or(DecodeError::Truncated("ipv4"))?;
    let src: [u8; 4] = body
        .get(12..16)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated("ipv4"))?;
    let dst: [u8; 4] = body
        .get(16..20)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated("ipv4"))?;
    let end = if total_len == 0 {
        body.len()
    } else {
        total_len.min(body.len())
    };
    let payload = body.get(header_len..end).unwrap_or_default();
    let src_ip = IpAddr::V4(Ipv4Addr::from(src));
    let dst_ip = IpAddr::V4(Ipv4Addr::from(dst));
    // Only the first fragment carries the transport header.
    if fragment & 0x1fff != 0 {
        return Ok(ip_packet(src_ip, dst_ip, Transport::Other { protocol }));
    }
    let transport = decode_transport(protocol, payload)?;
    Ok(ip_packet(src_ip, dst_ip, transport))
}

fn decode_ipv6(body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let first = *body.first().ok_or(DecodeError::Truncated("ipv6"))?;
    if first >> 4 != 6 {
        return Err(DecodeError::Malformed("ipv6 version"));
    }
    let payload_len = usize::from(be16(body, 4).ok_or(DecodeError::Truncated("ipv6"))?);
    let mut next = *body.get(6).ok_or(DecodeError::Truncated("ipv6"))?;
    let src: [u8; 16] = body
        .get(8..24)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated("ipv6"))?;
    let dst: [u8; 16] = body
        .get(24..40)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated("ipv6"))?;
    let src_ip = IpAddr::V6(Ipv6Addr::from(src));
    let dst_ip = IpAddr::V6(Ipv6Addr::from(dst));
    // Jumbograms (payload length 0) run to the end of the capture.
    let end = if payload_len == 0 {
        body.len()
    } else {
        40usize.saturating_add(payload_len).min(body.len())
    };
    let mut rest = body.get(40..end).unwrap_or_default();

    // Walk the extension headers.
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                let len = usize::from(
                    *rest
                        .get(1)
                        .ok_or(DecodeError::Truncated("ipv6 extension"))?,
                );
                let skip = (len + 1) * 8;
                next = *rest
                    .first()
                    .ok_or(DecodeError::Truncated("ipv6 extension"))?;
                rest = rest
                    .get(skip..)
                    .ok_or(DecodeError::Truncated("ipv6 extension"))?;
            }
            44 => {
                let offset = be16(rest, 2).ok_or(DecodeError::Truncated("ipv6 fragment"))?;
                let following = *rest
                    .first()
                    .ok_or(DecodeError::Truncated("ipv6 fragment"))?;
                if offset & 0xfff8 != 0 {
                    return Ok(ip_packet(
                        src_ip,
                        dst_ip,
                        Transport::Other {
                            protocol: following,
                        },
                    ));
                }
                next = following;
                rest = rest
                    .get(8..)
                    .ok_or(DecodeError::Truncated("ipv6 fragment"))?;
            }
            51 => {
                let len = usize::from(*rest.get(1).ok_or(DecodeError::Truncated("ipv6 ah"))?);
                next = *rest.first().ok_or(DecodeError::Truncated("ipv6 ah"))?;
                rest = rest
                    .get((len + 2) * 4..)
                    .ok_or(DecodeError::Truncated("ipv6 ah"))?;
            }
            _ => {
                let transport = decode_transport(next, rest)?;
                return Ok(ip_packet(src_ip, dst_ip, transport));
            }
        }
    }
    Err(DecodeError::Malformed("ipv6 extension chain"))
}

fn ip_packet<'a>(src_ip: IpAddr, dst_ip: IpAddr, transport: Transport<'a>) -> Packet<'a> {
    Packet {
        src_mac: None,
        dst_mac: None,
        src_ip,
        dst_ip,
        transport,
    }
}

fn decode_transport(protocol: u8, body: &[u8]) -> Result<Transport<'_>, DecodeError> {
    match protocol {
        6 => {
            let sport = be16(body, 0).ok_or(DecodeError::Truncated("tcp"))?;
            let dport = be16(body, 2).ok_or(DecodeError::Truncated("tcp"))?;
            let seq = be32(body, 4).ok_or(DecodeError::Truncated("tcp"))?;
            let offset_byte = *body.get(12).ok_or(DecodeError::Truncated("tcp"))?;
            let flags = *body.get(13).ok_or(DecodeError::Truncated("tcp"))?;
            let header_len = usize::from(offset_byte >> 4) * 4;
            if header_len < 20 {
                return Err(DecodeError::Malformed("tcp data offset"));
            }
            let payload = body
                .get(header_len..)
                .ok_or(DecodeError::Truncated("tcp"))?;
            Ok(Transport::Tcp(TcpSegment {
                sport,
                dport,
                seq,
                flags,
                payload,
            }))
        }
        17 => {
            let sport = be16(body, 0).ok_or(DecodeError::Truncated("udp"))?;
            let dport = be16(body, 2).ok_or(DecodeError::Truncated("udp"))?;
            let length = usize::from(be16(body, 4).ok_or(DecodeError::Truncated("udp"))?);
            if length != 0 && length < 8 {
                return Err(DecodeError::Malformed("udp length"));
            }
            let end = if length == 0 {
                body.len()
            } else {
                length.min(body.len())
            };
            let payload = body.get(8..end).unwrap_or_default();
            Ok(Transport::Udp {
                sport,
                dport,
                payload,
            })
        }
        other => Ok(Transport::Other { protocol: other }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::*;

    const A: [u8; 6] = [0x00, 0x1b, 0x21, 1, 2, 3];
    const B: [u8; 6] = [0x00, 0x50, 0x56, 4, 5, 6];

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let frame = ethernet(
            A,
            B,
            &ip(
                v4("10.0.0.1"),
                v4("10.0.0.2"),
                6,
                &tcp(40000, 104, 7, 0x18, b"hi"),
            ),
        );
        let packet = decode(linktype::ETHERNET, &frame).unwrap();
        assert_eq!(packet.src_mac, Some(A));
        assert_eq!(packet.dst_mac, Some(B));
        assert_eq!(packet.src_ip, v4("10.0.0.1"));
        let Transport::Tcp(seg) = packet.transport else {
            panic!("not tcp")
        };
        assert_eq!(
            (seg.sport, seg.dport, seg.seq, seg.flags, seg.payload),
            (40000, 104, 7, 0x18, &b"hi"[..])
        );
    }

    #[test]
    fn vlan_tags_are_peeled() {
        let inner = ip(v4("10.0.0.1"), v4("10.0.0.2"), 17, &udp(5353, 53, b"q"));
        let mut frame = Vec::new();
        frame.extend_from_slice(&B);
        frame.extend_from_slice(&A);
        frame.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        frame.extend_from_slice(&inner);
        let packet = decode(linktype::ETHERNET, &frame).unwrap();
        assert_eq!(
            packet.transport,
            Transport::Udp {
                sport: 5353,
                dport: 53,
                payload: b"q"
            }
        );
    }

    #[test]
    fn ipv6_with_hop_by_hop_header() {
        let udp_bytes = udp(1000, 2000, b"xyz");
        let mut ext = vec![17, 0, 0, 0, 0, 0, 0, 0];
        ext.extend_from_slice(&udp_bytes);
        let mut packet = ip(v4_6("2001:db8::1"), v4_6("2001:db8::2"), 0, &ext);
        packet[6] = 0;
        let decoded = decode(linktype::RAW, &packet).unwrap();
        assert_eq!(decoded.dst_ip, v4_6("2001:db8::2"));
        assert_eq!(
            decoded.transport,
            Transport::Udp {
                sport: 1000,
                dport: 2000,
                payload: b"xyz"
            }
        );
    }

    fn v4_6(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let inner = ip(v4("192.0.2.1"), v4("192.0.2.2"), 17, &udp(1, 2, b"a"));
        let mut v1 = vec![0, 0, 0, 1, 0, 6];
        v1.extend_from_slice(&A);
        v1.extend_from_slice(&[0, 0, 0x08, 0x00]);
        v1.extend_from_slice(&inner);
        let p1 = decode(linktype::LINUX_SLL, &v1).unwrap();
        assert_eq!(p1.src_mac, Some(A));
        assert_eq!(p1.src_ip, v4("192.0.2.1"));

        let mut v2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
        v2.extend_from_slice(&A);
        v2.extend_from_slice(&[0, 0]);
        v2.extend_from_slice(&inner);
        let p2 = decode(linktype::LINUX_SLL2, &v2).unwrap();
        assert_eq!(p2.src_mac, Some(A));
        assert_eq!(p2.dst_ip, v4("192.0.2.2"));
    }

    #[test]
    fn bsd_loopback_either_byte_order() {
        let inner = ip(v4("127.0.0.1"), v4("127.0.0.1"), 17, &udp(1, 2, b""));
        let mut le = 2u32.to_le_bytes().to_vec();
        le.extend_from_slice(&inner);
        assert!(decode(linktype::NULL, &le).is_ok());
        let mut be = 2u32.to_be_bytes().to_vec();
        be.extend_from_slice(&inner);
        assert!(decode(linktype::NULL, &be).is_ok());
        assert!(decode(linktype::LOOP, &be).is_ok());
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let good = ethernet(
            A,
            B,
            &ip(v4("10.0.0.1"), v4("10.0.0.2"), 6, &tcp(1, 2, 3, 2, b"")),
        );
        for cut in 0..good.len() {
            let _ = decode(linktype::ETHERNET, &good[..cut]);
        }
        assert_eq!(
            decode(linktype::ETHERNET, &good[..20]),
            Err(DecodeError::Truncated("ipv4"))
        );
        let mut arp = good.clone();
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert_eq!(decode(linktype::ETHERNET, &arp), Err(DecodeError::NotIp));
        let mut bad_ihl = good.clone();
        bad_ihl[14] = 0x41;
        assert_eq!(
            decode(linktype::ETHERNET, &bad_ihl),
            Err(DecodeError::Malformed("ipv4 header length"))
        );
        assert_eq!(
            decode(999, &good),
            Err(DecodeError::UnsupportedLinkType(999))
        );
    }

    #[test]
    fn non_first_fragment_has_no_transport() {
        let mut packet = ip(
            v4("10.0.0.1"),
            v4("10.0.0.2"),
            17,
            &[1, 2, 3, 4, 5, 6, 7, 8],
        );
        packet[6] = 0x00;
        packet[7] = 0x10;
        let decoded = decode(linktype::RAW, &packet).unwrap();
        assert_eq!(decoded.transport, Transport::Other { protocol: 17 });
    }
}
