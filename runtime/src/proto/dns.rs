//! DNS messages (RFC 1035) over UDP and TCP, also used for mDNS.
//!
//! Names are read with compression pointers followed at most a fixed number
//! of times, so a pointer loop ends the name instead of the program. The
//! answers are kept in full (addresses and CNAME targets) so the flow
//! table can map addresses back to the names they were resolved from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::bytes::Cursor;
use super::{Attributes, put_list, put_str};

/// Most compression pointers followed in one name.
const MAX_POINTERS: usize = 16;
/// Most records of each section read.
const MAX_RECORDS: u16 = 64;

/// A decoded DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// The message id.
    pub id: u16,
    /// Whether this is a response.
    pub is_response: bool,
    /// The response code.
    pub rcode: u8,
    /// Questions: (name, type).
    pub questions: Vec<(String, u16)>,
    /// Answer records.
    pub answers: Vec<Answer>,
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The owner name.
    pub name: String,
    /// The record type.
    pub rtype: u16,
    /// The data, for the types we keep.
    pub data: AnswerData,
}

/// The data of an answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerData {
    /// An A or AAAA address.
    Address(IpAddr),
    /// A CNAME target.
    Cname(String),
    /// Anything else.
    Other,
}

impl DnsMessage {
    /// The CNAME targets in answer order.
    pub fn cnames(&self) -> Vec<String> {
        self.answers
            .iter()
            .filter_map(|a| match &a.data {
                AnswerData::Cname(target) => Some(target.clone()),
                _ => None,
            })
            .collect()
    }

    /// The addresses in answer order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.answers
            .iter()
            .filter_map(|a| match a.data {
                AnswerData::Address(ip) => Some(ip),
                _ => None,
            })
            .collect()
    }
}

/// The lowercase name of a query type (`dns.qtype`).
pub fn type_name(qtype: u16) -> String {
    let name = match qtype {
        1 => "a",
        2 => "ns",
        5 => "cname",
        6 => "soa",
        12 => "ptr",
        13 => "hinfo",
        15 => "mx",
        16 => "txt",
        28 => "aaaa",
        33 => "srv",
        35 => "naptr",
        43 => "ds",
        46 => "rrsig",
        47 => "nsec",
        48 => "dnskey",
        64 => "svcb",
        65 => "https",
        252 => "axfr",
        255 => "any",
        257 => "caa",
        other => return format!("type{other}"),
    };
    name.to_owned()
}

/// Parses one DNS message. With `strict`, bytes after the last record or
/// an impossible header reject the message (for use without a port hint).
pub fn parse_message(bytes: &[u8], strict: bool) -> Option<DnsMessage> {
    let mut c = Cursor::new(bytes);
    let id = c.be16()?;
    let flags = c.be16()?;
    let qdcount = c.be16()?;
    let ancount = c.be16()?;
    let nscount = c.be16()?;
    let arcount = c.be16()?;
    let opcode = (flags >> 11) & 0x0f;
    if opcode > 6 || qdcount > MAX_RECORDS || ancount > MAX_RECORDS * 4 {
        return None;
    }
    let is_response = flags & 0x8000 != 0;
    if qdcount == 0 && !is_response {
        return None;
    }
    let mut message = DnsMessage {
        id,
        is_response,
        rcode: u8::try_from(flags & 0x0f).unwrap_or(0),
        questions: Vec::new(),
        answers: Vec::new(),
    };
    for _ in 0..qdcount {
        let name = read_name(bytes, &mut c)?;
        let qtype = c.be16()?;
        c.be16()?;
        message.questions.push((name, qtype));
    }
    for _ in 0..ancount.min(MAX_RECORDS) {
        let Some(answer) = read_record(bytes, &mut c) else {
            if strict {
                return None;
            }
            break;
        };
        message.answers.push(answer);
    }
    if strict {
        for _ in 0..(u32::from(nscount) + u32::from(arcount)) {
            read_record(bytes, &mut c)?;
        }
        if !c.is_empty() {
            return None;
        }
    }
    Some(message)
}

fn read_record<'a>(message: &'a [u8], c: &mut Cursor<'a>) -> Option<Answer> {
    let name = read_name(message, c)?;
    let rtype = c.be16()?;
    c.be16()?;
    c.be32()?;
    let rdlength = usize::from(c.be16()?);
    let start = *c;
    let rdata = c.take(rdlength)?;
    let data = match (rtype, rdata.len()) {
        (1, 4) => {
            let octets: [u8; 4] = rdata.try_into().ok()?;
            AnswerData::Address(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        (28, 16) => {
            let octets: [u8; 16] = rdata.try_into().ok()?;
            AnswerData::Address(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        (5, _) => {
            let mut inner = start;
            AnswerData::Cname(read_name(message, &mut inner)?)
        }
        _ => AnswerData::Other,
    };
    Some(Answer { name, rtype, data })
}

/// Reads a possibly compressed name, lowercased, without the final dot.
fn read_name<'a>(message: &'a [u8], c: &mut Cursor<'a>) -> Option<String> {
    let mut name = String::new();
    let mut cursor = *c;
    let mut jumped = false;
    let mut pointers = 0;
    loop {
        let len = cursor.u8()?;
        match len {
            0 => break,
            1..=63 => {
                let label = cursor.take(usize::from(len))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    if b == b'.' || !(0x21..0x7f).contains(&b) {
                        // Keep odd bytes visible but unambiguous.
                        name.push_str(&format!("\\{b:03}"));
                    } else {
                        name.push(char::from(b.to_ascii_lowercase()));
                    }
                }
                if name.len() > 1024 {
                    return None;
                }
            }
            0xc0..=0xff => {
                let low = cursor.u8()?;
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return None;
                }
                if !jumped {
                    *c = cursor;
                    jumped = true;
                }
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                let mut next = Cursor::new(message);
                next.skip(target)?;
                cursor = next;
            }
            _ => return None,
        }
    }
    if !jumped {
        *c = cursor;
    }
    Some(name)
}

/// Attributes of a DNS flow from its first query and response.
pub fn parse_flow(client: &[u8], server: &[u8], port_hint: bool) -> Option<Attributes> {
    let strict = !port_hint;
    let query = parse_message(client, strict);
    let response = parse_message(server, strict).filter(|m| m.is_response);
    let message = match (&query, &response) {
        (Some(q), _) if !q.is_response => q,
        (_, Some(r)) => r,
        // A response on the client side (mDNS announcements).
        (Some(q), None) => q,
        (None, None) => return None,
    };
    let mut attributes = Attributes::new();
    message_attributes(message, response.as_ref(), &mut attributes);
    Some(attributes)
}

/// Attributes of a DNS-over-TCP flow (two-byte length prefixes).
pub fn parse_tcp_flow(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let unframe = |s: &[u8]| -> Option<Vec<u8>> {
        let mut c = Cursor::new(s);
        let len = usize::from(c.be16()?);
        Some(c.take_up_to(len).to_vec())
    };
    let client = unframe(client)?;
    let server = unframe(server).unwrap_or_default();
    parse_flow(&client, &server, true)
}

/// The `dns.*` facts of a query and, when known, its response.
pub fn message_attributes(
    query: &DnsMessage,
    response: Option<&DnsMessage>,
    attributes: &mut Attributes,
) {
    if let Some((name, qtype)) = query.questions.first() {
        put_str(attributes, "dns.qname", name);
        put_str(attributes, "dns.qtype", &type_name(*qtype));
    }
    let answered = response.unwrap_or(query);
    if answered.is_response {
        put_list(attributes, "dns.cnames", &answered.cnames());
        let addresses: Vec<String> = answered
            .addresses()
            .iter()
            .map(ToString::to_string)
            .collect();
        put_list(attributes, "dns.answers", &addresses);
        attributes.insert("dns.rcode".to_owned(), Value::from(answered.rcode));
    }
}

/// Builders of DNS messages, for tests, benchmarks and fuzz seeds.
pub mod build {
    fn name(out: &mut Vec<u8>, name: &str) {
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }

    /// A query for `qname` of type `qtype`.
    pub fn query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        name(&mut out, qname);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out
    }

    /// A response with a CNAME chain ending in one A record.
    pub fn response(id: u16, qname: &str, cnames: &[&str], address: [u8; 4]) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend_from_slice(&[0x81, 0x80, 0, 1]);
        out.extend_from_slice(&((cnames.len() + 1) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        name(&mut out, qname);
        out.extend_from_slice(&[0, 1, 0, 1]);
        // Each record's owner points at the previous name (question first).
        let mut previous_offset = 12u16;
        for target in cnames {
            out.extend_from_slice(&(0xc000 | previous_offset).to_be_bytes());
            out.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0, 60]);
            let mut rdata = Vec::new();
            name(&mut rdata, target);
            out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            previous_offset = out.len() as u16;
            out.extend_from_slice(&rdata);
        }
        out.extend_from_slice(&(0xc000 | previous_offset).to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&address);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::{query, response};
    use super::*;
    use serde_json::json;

    #[test]
    fn query_and_response_with_cname_chain() {
        let q = query(7, "WWW.Example.com", 1);
        let r = response(
            7,
            "www.example.com",
            &["cdn.example.net", "edge.tracker.example"],
            [192, 0, 2, 9],
        );
        let a = parse_flow(&q, &r, false).unwrap();
        assert_eq!(a["dns.qname"], json!("www.example.com"));
        assert_eq!(a["dns.qtype"], json!("a"));
        assert_eq!(
            a["dns.cnames"],
            json!(["cdn.example.net", "edge.tracker.example"])
        );
        assert_eq!(a["dns.answers"], json!(["192.0.2.9"]));
        let message = parse_message(&r, true).unwrap();
        assert_eq!(message.answers[2].name, "edge.tracker.example");
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name(28), "aaaa");
        assert_eq!(type_name(65), "https");
        assert_eq!(type_name(999), "type999");
    }

    #[test]
    fn pointer_loops_end() {
        let mut q = query(1, "a", 1);
        // Replace the name with a pointer to itself.
        q.truncate(12);
        q.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_message(&q, false), None);
    }

    #[test]
    fn strict_mode_rejects_trailing_bytes() {
        let mut q = query(1, "example.org", 28);
        assert!(parse_message(&q, true).is_some());
        q.push(0);
        assert!(parse_message(&q, true).is_none());
        assert!(parse_message(&q, false).is_some());
    }

    #[test]
    fn other_bytes_are_not_dns() {
        for input in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0; 5], &[0xff; 40], b""] {
            assert!(parse_flow(input, &[], false).is_none(), "{input:?}");
        }
        // Truncated inside the question.
        let q = query(1, "example.org", 1);
        assert!(parse_flow(&q[..16], &[], true).is_none());
    }

    #[test]
    fn dns_over_tcp() {
        let q = query(3, "pacs.hospital.example", 1);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        let a = parse_tcp_flow(&framed, &[]).unwrap();
        assert_eq!(a["dns.qname"], json!("pacs.hospital.example"));
    }
}
