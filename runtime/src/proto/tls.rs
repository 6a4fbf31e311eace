//! TLS ClientHello and ServerHello: server name, ALPN, versions and the
//! JA4 client fingerprint.
//!
//! The handshake may span several records and the capture may end inside
//! it, so the parser gathers handshake bytes across records and reads as
//! many ClientHello fields as are present. Old and odd clients are
//! tolerated: SSL 2.0-compatible hellos, hellos without extensions, and
//! extensions that lie about their lengths (the rest of the hello is kept).
//!
//! JA4 (the FoxIO fingerprint, BSD-3 licensed specification) is computed
//! from the fields as the specification defines it: `t` + version + SNI
//! flag + cipher and extension counts + ALPN ends, then truncated SHA-256
//! of the sorted cipher list and of the sorted extensions followed by the
//! signature algorithms, GREASE values left out.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::bytes::{Cursor, hex};
use super::{Attributes, put_list, put_str};

const HANDSHAKE: u8 = 0x16;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
/// Most handshake bytes gathered from one direction.
const MAX_HANDSHAKE: usize = 1 << 16;

/// A parsed ClientHello, as far as it was captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The record-layer-independent `legacy_version` field.
    pub legacy_version: u16,
    /// Cipher suites in offered order.
    pub ciphers: Vec<u16>,
    /// Extension types in offered order.
    pub extensions: Vec<u16>,
    /// The host name from the server_name extension.
    pub sni: Option<String>,
    /// ALPN protocol names in offered order.
    pub alpn: Vec<String>,
    /// Versions from the supported_versions extension.
    pub supported_versions: Vec<u16>,
    /// Signature algorithms in offered order.
    pub signature_algorithms: Vec<u16>,
}

/// Parses both directions' first handshake messages; `None` unless TLS.
pub fn parse(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let hello = client_hello(client)?;
    let mut attributes = Attributes::new();
    if let Some(sni) = &hello.sni {
        put_str(&mut attributes, "tls.sni", sni);
    }
    put_list(&mut attributes, "tls.alpn", &hello.alpn);
    let offered = hello.max_version();
    put_str(&mut attributes, "tls.client_version", version_name(offered));
    let negotiated = server_hello_version(server).unwrap_or(offered);
    put_str(&mut attributes, "tls.version", version_name(negotiated));
    attributes.insert("tls.ja4".to_owned(), Value::String(hello.ja4()));
    Some(attributes)
}

impl ClientHello {
    /// The highest version offered (supported_versions first).
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// The JA4 fingerprint (TCP).
    pub fn ja4(&self) -> String {
        let version = match self.max_version() {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let sni = if self.sni.is_some() { 'd' } else { 'i' };
        let ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let extensions: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|e| !is_grease(*e))
            .collect();
        let alpn = match self.alpn.first().map(String::as_bytes) {
            Some([first, .., last])
                if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() =>
            {
                format!("{}{}", char::from(*first), char::from(*last))
            }
            Some([only]) if only.is_ascii_alphanumeric() => format!("{0}{0}", char::from(*only)),
            Some(bytes @ [_, ..]) => {
                let h = hex(bytes);
                let first = h.chars().next().unwrap_or('0');
                let last = h.chars().last().unwrap_or('0');
                format!("{first}{last}")
            }
            _ => "00".to_owned(),
        };
        let prefix = format!(
            "t{version}{sni}{:02}{:02}{alpn}",
            ciphers.len().min(99),
            extensions.len().min(99)
        );

        let mut sorted_ciphers = ciphers;
        sorted_ciphers.sort_unstable();
        let cipher_hash = truncated_hash(&join_hex(&sorted_ciphers));

        let mut sorted_extensions: Vec<u16> = extensions
            .into_iter()
            .filter(|e| *e != 0x0000 && *e != 0x0010)
            .collect();
        sorted_extensions.sort_unstable();
        let mut extension_text = join_hex(&sorted_extensions);
        if !self.signature_algorithms.is_empty() {
            extension_text.push('_');
            extension_text.push_str(&join_hex(&self.signature_algorithms));
        }
        let extension_hash = if sorted_extensions.is_empty() {
            "000000000000".to_owned()
        } else {
            truncated_hash(&extension_text)
        };
        format!("{prefix}_{cipher_hash}_{extension_hash}")
    }
}

fn join_hex(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn truncated_hash(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = Sha256::digest(text.as_bytes());
    hex(digest.get(..6).unwrap_or_default())
}

/// GREASE values (RFC 8701): 0x?a?a with both bytes equal.
fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

/// A version's dotted name (`tls.version`).
pub fn version_name(version: u16) -> &'static str {
    match version {
        0x0304 => "1.3",
        0x0303 => "1.2",
        0x0302 => "1.1",
        0x0301 => "1.0",
        0x0300 => "ssl3",
        0x0002 => "ssl2",
        _ => "unknown",
    }
}

/// Handshake bytes gathered from the records at the start of a stream.
fn handshake_bytes(stream: &[u8]) -> Option<Vec<u8>> {
    let mut c = Cursor::new(stream);
    let mut out = Vec::new();
    while out.len() < MAX_HANDSHAKE {
        let Some(content_type) = c.u8() else { break };
        if content_type != HANDSHAKE {
            break;
        }
        let major = c.u8()?;
        let minor = c.u8()?;
        if major != 3 || minor > 4 {
            return None;
        }
        let length = usize::from(c.be16()?);
        if length == 0 || length > (1 << 14) + 2048 {
            return None;
        }
        out.extend_from_slice(c.take_up_to(length));
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Parses a ClientHello at the start of a client stream.
pub fn client_hello(stream: &[u8]) -> Option<ClientHello> {
    if stream.first().is_some_and(|b| b & 0x80 != 0) {
        return ssl2_client_hello(stream);
    }
    let handshake = handshake_bytes(stream)?;
    let mut c = Cursor::new(&handshake);
    if c.u8()? != CLIENT_HELLO {
        return None;
    }
    let length = usize::try_from(c.be24()?).ok()?;
    let mut body = Cursor::new(c.take_up_to(length));
    let mut hello = ClientHello {
        legacy_version: body.be16()?,
        ..ClientHello::default()
    };
    if hello.legacy_version >> 8 != 3 {
        return None;
    }

    // From here on a short read ends the hello, keeping what was read.
    let _ = read_hello_body(&mut body, &mut hello);
    Some(hello)
}

fn read_hello_body(body: &mut Cursor<'_>, hello: &mut ClientHello) -> Option<()> {
    body.skip(32)?;
    let session_len = usize::from(body.u8()?);
    body.skip(session_len)?;
    let cipher_len = usize::from(body.be16()?);
    let mut ciphers = Cursor::new(body.take_up_to(cipher_len));
    while let Some(cipher) = ciphers.be16() {
        hello.ciphers.push(cipher);
    }
    let compression_len = usize::from(body.u8()?);
    body.skip(compression_len)?;
    let extensions_len = usize::from(body.be16()?);
    let mut extensions = Cursor::new(body.take_up_to(extensions_len));
    while let Some(kind) = extensions.be16() {
        let len = usize::from(extensions.be16()?);
        hello.extensions.push(kind);
        let data = extensions.take_up_to(len);
        read_extension(kind, data, hello);
    }
    Some(())
}

fn read_extension(kind: u16, data: &[u8], hello: &mut ClientHello) {
    let mut c = Cursor::new(data);
    match kind {
        0x0000 => {
            let Some(list_len) = c.be16() else { return };
            let mut list = Cursor::new(c.take_up_to(usize::from(list_len)));
            while let (Some(name_type), Some(len)) = (list.u8(), list.be16()) {
                let name = list.take_up_to(usize::from(len));
                if name_type == 0 && hello.sni.is_none() {
                    let name = String::from_utf8_lossy(name)
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    if !name.is_empty() {
                        hello.sni = Some(name);
                    }
                }
            }
        }
        0x0010 => {
            let Some(list_len) = c.be16() else { return };
            let mut list = Cursor::new(c.take_up_to(usize::from(list_len)));
            while let Some(len) = list.u8() {
                let name = list.take_up_to(usize::from(len));
                if !name.is_empty() {
                    hello.alpn.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        0x002b => {
            let Some(len) = c.u8() else { return };
            let mut list = Cursor::new(c.take_up_to(usize::from(len)));
            while let Some(version) = list.be16() {
                hello.supported_versions.push(version);
            }
        }
        0x000d => {
            let Some(len) = c.be16() else { return };
            let mut list = Cursor::new(c.take_up_to(usize::from(len)));
            while let Some(algorithm) = list.be16() {
                hello.signature_algorithms.push(algorithm);
            }
        }
        _ => {}
    }
}

/// An SSL 2.0-format ClientHello (sent by old clients offering SSL 3/TLS).
fn ssl2_client_hello(stream: &[u8]) -> Option<ClientHello> {
    let mut c = Cursor::new(stream);
    let length = usize::from(c.be16()? & 0x7fff);
    if length < 9 {
        return None;
    }
    let mut body = Cursor::new(c.take_up_to(length));
    if body.u8()? != CLIENT_HELLO {
        return None;
    }
    let version = body.be16()?;
    if !matches!(version, 0x0002 | 0x0300..=0x0303) {
        return None;
    }
    let cipher_len = usize::from(body.be16()?);
    let session_len = usize::from(body.be16()?);
    let challenge_len = usize::from(body.be16()?);
    if cipher_len % 3 != 0 || session_len > 32 || !(16..=32).contains(&challenge_len) {
        return None;
    }
    let mut hello = ClientHello {
        legacy_version: version,
        ..ClientHello::default()
    };
    let mut ciphers = Cursor::new(body.take_up_to(cipher_len));
    while let Some(spec) = ciphers.take(3) {
        // Only SSL 3/TLS suites (first byte zero) have a two-byte code.
        if let [0, hi, lo] = spec {
            hello.ciphers.push(u16::from_be_bytes([*hi, *lo]));
        }
    }
    Some(hello)
}

/// The version a ServerHello selected, from supported_versions if present.
fn server_hello_version(stream: &[u8]) -> Option<u16> {
    let handshake = handshake_bytes(stream)?;
    let mut c = Cursor::new(&handshake);
    if c.u8()? != SERVER_HELLO {
        return None;
    }
    c.be24()?;
    let legacy = c.be16()?;
    let selected = (|| {
        c.skip(32)?;
        let session_len = usize::from(c.u8()?);
        c.skip(session_len)?;
        c.skip(3)?;
        let extensions_len = usize::from(c.be16()?);
        let mut extensions = Cursor::new(c.take_up_to(extensions_len));
        while let Some(kind) = extensions.be16() {
            let len = usize::from(extensions.be16()?);
            let data = extensions.take_up_to(len);
            if kind == 0x002b {
                return Cursor::new(data).be16();
            }
        }
        None
    })();
    Some(selected.unwrap_or(legacy))
}

/// Builders of TLS hellos, for tests, benchmarks and fuzz seeds.
pub mod build {
    fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }

    /// A ClientHello record with the given SNI, ALPN list and versions.
    pub fn client_hello(sni: Option<&str>, alpn: &[&str], versions: &[u16]) -> Vec<u8> {
        let mut ext = Vec::new();
        extension(&mut ext, 0x0a0a, &[]);
        if let Some(name) = sni {
            let mut body = Vec::new();
            body.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
            body.push(0);
            body.extend_from_slice(&(name.len() as u16).to_be_bytes());
            body.extend_from_slice(name.as_bytes());
            extension(&mut ext, 0x0000, &body);
        }
        extension(&mut ext, 0x000a, &[0, 4, 0, 0x1d, 0, 0x17]);
        if !alpn.is_empty() {
            let mut list = Vec::new();
            for p in alpn {
                list.push(p.len() as u8);
                list.extend_from_slice(p.as_bytes());
            }
            let mut body = (list.len() as u16).to_be_bytes().to_vec();
            body.extend_from_slice(&list);
            extension(&mut ext, 0x0010, &body);
        }
        extension(&mut ext, 0x000d, &[0, 4, 0x04, 0x03, 0x08, 0x04]);
        if !versions.is_empty() {
            let mut body = vec![(versions.len() * 2) as u8];
            for v in versions {
                body.extend_from_slice(&v.to_be_bytes());
            }
            extension(&mut ext, 0x002b, &body);
        }
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[7; 32]);
        hello.push(0);
        let ciphers: [u16; 4] = [0x1a1a, 0x1301, 0x1302, 0xc02f];
        hello.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            hello.extend_from_slice(&c.to_be_bytes());
        }
        hello.extend_from_slice(&[1, 0]);
        hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        hello.extend_from_slice(&ext);
        let mut handshake = vec![1];
        handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
        handshake.extend_from_slice(&hello);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
        record.extend_from_slice(&handshake);
        record
    }
}

#[cfg(test)]
mod tests {
    use super::build::client_hello as build_hello;
    use super::*;
    use serde_json::json;

    #[test]
    fn client_hello_fields() {
        let record = build_hello(
            Some("Pacs.Example.org."),
            &["h2", "http/1.1"],
            &[0x7a7a, 0x0304, 0x0303],
        );
        let a = parse(&record, &[]).unwrap();
        assert_eq!(a["tls.sni"], json!("pacs.example.org"));
        assert_eq!(a["tls.alpn"], json!(["h2", "http/1.1"]));
        assert_eq!(a["tls.version"], json!("1.3"));
        let ja4 = a["tls.ja4"].as_str().unwrap();
        // 3 ciphers and 5 extensions once GREASE is left out.
        assert!(ja4.starts_with("t13d0305h2_"), "{ja4}");
        assert_eq!(ja4.len(), "t13d0305h2_".len() + 12 + 1 + 12);
    }

    #[test]
    fn ja4_hashes_follow_the_specification() {
        let hello = ClientHello {
            legacy_version: 0x0303,
            ciphers: vec![0x1302, 0x1301],
            extensions: vec![0x0000, 0x000a],
            sni: Some("a".into()),
            alpn: vec![],
            supported_versions: vec![],
            signature_algorithms: vec![0x0403],
        };
        // sha256("1301,1302") and sha256("000a_0403"), first 12 hex digits.
        let want_ciphers = hex(&Sha256::digest(b"1301,1302")[..6]);
        let want_ext = hex(&Sha256::digest(b"000a_0403")[..6]);
        assert_eq!(hello.ja4(), format!("t12d020200_{want_ciphers}_{want_ext}"));
    }

    #[test]
    fn split_records_and_server_version() {
        let record = build_hello(Some("a.example"), &[], &[]);
        // Split the handshake over two records.
        let body = &record[5..];
        let (first, second) = body.split_at(20);
        let mut split = vec![0x16, 3, 1];
        split.extend_from_slice(&(first.len() as u16).to_be_bytes());
        split.extend_from_slice(first);
        split.extend_from_slice(&[0x16, 3, 1]);
        split.extend_from_slice(&(second.len() as u16).to_be_bytes());
        split.extend_from_slice(second);
        let server = [0x16, 3, 3, 0, 42, 2, 0, 0, 38, 3, 2];
        let a = parse(&split, &server).unwrap();
        assert_eq!(a["tls.sni"], json!("a.example"));
        assert_eq!(a["tls.client_version"], json!("1.2"));
        assert_eq!(a["tls.version"], json!("1.1"));
    }

    #[test]
    fn truncated_hello_keeps_what_it_has() {
        let record = build_hello(Some("trunc.example"), &["h2"], &[0x0304]);
        // Cut inside the extension that follows the server name.
        let a = parse(&record[..90], &[]).unwrap();
        assert_eq!(a["tls.sni"], json!("trunc.example"));
        assert!(!a.contains_key("tls.alpn"));
    }

    #[test]
    fn ssl2_compatible_hello() {
        let mut body = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
        body.extend_from_slice(&[0, 0, 0x2f, 0x01, 0, 0x80]);
        body.extend_from_slice(&[9; 16]);
        let mut record = (((body.len()) as u16) | 0x8000).to_be_bytes().to_vec();
        record.extend_from_slice(&body);
        let hello = client_hello(&record).unwrap();
        assert_eq!(hello.ciphers, vec![0x002f]);
        assert_eq!(version_name(hello.max_version()), "1.0");
    }

    #[test]
    fn other_bytes_are_not_tls() {
        for input in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            &[0x16, 3, 1, 0, 0],
            &[0x16, 2, 0, 0, 5, 1, 0, 0, 1, 0],
            &[0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5],
            &[0x16, 3, 1, 0, 4, 2, 0, 0, 0],
            &[],
        ] {
            assert_eq!(parse(input, &[]), None, "{input:?}");
        }
    }
}
