//! SMB over NetBIOS session service or direct TCP: version 1 versus the
//! 2/3 dialects.
//!
//! The client's first SMB message is a negotiate request; the server's
//! answer selects the dialect. `smb.version` is the selected dialect when
//! the answer was captured ("1" for an SMB1 answer, "2.0.2" ... "3.1.1"),
//! otherwise the highest the client offered. A client that offers only
//! SMB1 dialects is the WannaCry-era exposure policies look for.

use serde_json::Value;

use super::bytes::Cursor;
use super::{Attributes, put_list, put_str};

/// The first SMB message in a stream of NetBIOS session messages.
fn first_smb(stream: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(stream);
    for _ in 0..4 {
        let kind = c.u8()?;
        let length = usize::try_from(c.be24()?).ok()?;
        let body = c.take_up_to(length);
        match kind {
            0x00 => {
                let magic = body.get(..4)?;
                return matches!(magic, b"\xffSMB" | b"\xfeSMB" | b"\xfdSMB").then_some(body);
            }
            // Session request, positive/negative response, keepalive.
            0x81 | 0x82 | 0x83 | 0x85 => continue,
            _ => return None,
        }
    }
    None
}

/// A dialect revision's dotted name.
pub fn dialect_name(revision: u16) -> Option<&'static str> {
    Some(match revision {
        0x0202 => "2.0.2",
        0x0210 => "2.1",
        0x0300 => "3.0",
        0x0302 => "3.0.2",
        0x0311 => "3.1.1",
        0x02ff => "2.x",
        _ => return None,
    })
}

/// Parses the negotiation; `None` unless SMB.
pub fn parse(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let request = first_smb(client);
    let response = first_smb(server);
    if request.is_none() && response.is_none() {
        return None;
    }
    let mut attributes = Attributes::new();
    let mut offered: Vec<String> = Vec::new();
    let mut best_offered: Option<&str> = None;

    if let Some(message) = request {
        match message.get(..4) {
            Some(b"\xffSMB") => {
                // SMB1 negotiate (command 0x72): dialect strings.
                if message.get(4) == Some(&0x72) {
                    let mut c = Cursor::new(message.get(32..).unwrap_or_default());
                    let words = usize::from(c.u8().unwrap_or(0));
                    let _ = c.skip(words * 2);
                    let byte_count = usize::from(c.le16().unwrap_or(0));
                    for dialect in c.take_up_to(byte_count).split(|b| *b == 0) {
                        if let Some(name) = dialect.strip_prefix(&[0x02]) {
                            offered.push(String::from_utf8_lossy(name).into_owned());
                        }
                    }
                }
                let smb2 = offered.iter().any(|d| d.starts_with("SMB 2."));
                best_offered = Some(if smb2 { "2.x" } else { "1" });
            }
            Some(b"\xfeSMB") => {
                let command = Cursor::new(message.get(12..).unwrap_or_default()).le16();
                if command == Some(0) {
                    let mut c = Cursor::new(message.get(64..).unwrap_or_default());
                    let _ = c.le16();
                    let count = usize::from(c.le16().unwrap_or(0)).min(16);
                    let _ = c.skip(32);
                    let mut best = 0;
                    for _ in 0..count {
                        let Some(revision) = c.le16() else { break };
                        if let Some(name) = dialect_name(revision) {
                            offered.push(name.to_owned());
                            if revision > best && revision != 0x02ff {
                                best = revision;
                            }
                        }
                    }
                    best_offered = dialect_name(best).or(Some("2.x"));
                } else {
                    best_offered = Some("2.x");
                }
            }
            Some(b"\xfdSMB") => {
                attributes.insert("smb.encrypted".to_owned(), Value::Bool(true));
                best_offered = Some("3.x");
            }
            _ => {}
        }
    }

    let selected = response.and_then(|message| match message.get(..4) {
        Some(b"\xffSMB") => Some("1"),
        Some(b"\xfeSMB") => {
            let command = Cursor::new(message.get(12..).unwrap_or_default()).le16();
            if command != Some(0) {
                return None;
            }
            let revision = Cursor::new(message.get(68..).unwrap_or_default()).le16()?;
            dialect_name(revision)
        }
        _ => None,
    });
    put_list(&mut attributes, "smb.dialects", &offered);
    if let Some(version) = selected.or(best_offered) {
        put_str(&mut attributes, "smb.version", version);
    }
    Some(attributes)
}

/// Builders of SMB negotiations, for tests, benchmarks and fuzz seeds.
pub mod build {
    fn nbss(body: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(body);
        out
    }

    /// An SMB1 negotiate request offering `dialects`.
    pub fn smb1_negotiate(dialects: &[&str]) -> Vec<u8> {
        let mut header = b"\xffSMB\x72".to_vec();
        header.resize(32, 0);
        header.push(0);
        let mut names = Vec::new();
        for d in dialects {
            names.push(2);
            names.extend_from_slice(d.as_bytes());
            names.push(0);
        }
        header.extend_from_slice(&(names.len() as u16).to_le_bytes());
        header.extend_from_slice(&names);
        nbss(&header)
    }

    /// An SMB2 negotiate request (`response` false) or response.
    pub fn smb2_negotiate(response: bool, dialects: &[u16]) -> Vec<u8> {
        let mut header = b"\xfeSMB".to_vec();
        header.extend_from_slice(&64u16.to_le_bytes());
        header.resize(64, 0);
        if response {
            header.extend_from_slice(&65u16.to_le_bytes());
            header.extend_from_slice(&0u16.to_le_bytes());
            header.extend_from_slice(&dialects.first().copied().unwrap_or(0).to_le_bytes());
        } else {
            header.extend_from_slice(&36u16.to_le_bytes());
            header.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
            header.resize(64 + 36, 0);
            for d in dialects {
                header.extend_from_slice(&d.to_le_bytes());
            }
        }
        nbss(&header)
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn smb1_only_client() {
        let a = parse(
            &smb1_negotiate(&["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12"]),
            &[],
        )
        .unwrap();
        assert_eq!(a["smb.version"], json!("1"));
        assert_eq!(
            a["smb.dialects"],
            json!(["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12"])
        );
    }

    #[test]
    fn smb2_negotiation_uses_the_server_choice() {
        let client = smb2_negotiate(false, &[0x0202, 0x0210, 0x0300, 0x0302, 0x0311]);
        let a = parse(&client, &[]).unwrap();
        assert_eq!(a["smb.version"], json!("3.1.1"));
        let a = parse(&client, &smb2_negotiate(true, &[0x0302])).unwrap();
        assert_eq!(a["smb.version"], json!("3.0.2"));
        // Multi-protocol negotiate answered in SMB1.
        let a = parse(
            &smb1_negotiate(&["NT LM 0.12", "SMB 2.002"]),
            &smb1_negotiate(&[]),
        )
        .unwrap();
        assert_eq!(a["smb.version"], json!("1"));
    }

    #[test]
    fn truncated_negotiation_keeps_what_it_has() {
        let client = smb2_negotiate(false, &[0x0202, 0x0311]);
        // The header is complete, the dialect list cut off.
        let a = parse(&client[..4 + 64 + 10], &[]).unwrap();
        assert_eq!(a["smb.version"], json!("2.x"));
        let a = parse(&client[..4 + 10], &[]);
        assert_eq!(a.unwrap()["smb.version"], json!("2.x"));
        assert!(parse(&client[..6], &[]).is_none());
    }

    #[test]
    fn session_request_before_smb() {
        let mut stream = vec![0x81, 0, 0, 4, 1, 2, 3, 4];
        stream.extend_from_slice(&smb1_negotiate(&["NT LM 0.12"]));
        assert_eq!(parse(&stream, &[]).unwrap()["smb.version"], json!("1"));
    }

    #[test]
    fn other_bytes_are_not_smb() {
        for input in [
            &b"GET / HTTP/1.1\r\n"[..],
            &[0, 0, 0, 4, 1, 2, 3, 4],
            &[0, 0, 0, 8, 0xff, b'S'],
            b"",
        ] {
            assert!(parse(input, &[]).is_none(), "{input:?}");
        }
    }
}
