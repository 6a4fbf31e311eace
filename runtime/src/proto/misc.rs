//! Identifiers for the protocols whose attributes are few: SSH, RDP,
//! Telnet, FTP, NTP, syslog, SNMP, SSDP, IEEE 11073 SDC discovery, Philips
//! IntelliVue data export, ASTM E1381 laboratory framing and POCT1-A.
//!
//! Where a protocol's bytes say little (NTP, syslog, Telnet, IntelliVue),
//! the identifier also wants the usual port; where they say much (an SSH
//! banner, an ASTM header record, a POCT1-A hello) any port will do.

use serde_json::Value;

use super::bytes::{Cursor, contains, find, is_printable, text};
use super::{Attributes, FlowBytes, put_str};

/// The first line of a stream, without its line ending.
fn first_line(stream: &[u8]) -> &[u8] {
    let end = find(stream, b"\n").unwrap_or(stream.len());
    let line = stream.get(..end).unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// SSH: both sides open with an `SSH-` identification line.
pub fn ssh(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let banner = |s: &[u8]| {
        let line = first_line(s);
        (line.starts_with(b"SSH-1.") || line.starts_with(b"SSH-2.")).then(|| text(line))
    };
    let client_banner = banner(client);
    let server_banner = banner(server);
    if client_banner.is_none() && server_banner.is_none() {
        return None;
    }
    let mut a = Attributes::new();
    put_str(
        &mut a,
        "ssh.client_banner",
        client_banner.as_deref().unwrap_or_default(),
    );
    put_str(
        &mut a,
        "ssh.server_banner",
        server_banner.as_deref().unwrap_or_default(),
    );
    Some(a)
}

/// RDP: a TPKT-framed X.224 connection request, with the optional
/// `Cookie: mstshash=` and RDP negotiation request.
pub fn rdp(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let mut c = Cursor::new(client);
    if c.u8()? != 3 || c.u8()? != 0 {
        return None;
    }
    let length = usize::from(c.be16()?);
    let li = usize::from(c.u8()?);
    let code = c.u8()?;
    if code != 0xe0 || li + 5 != length || length < 11 {
        return None;
    }
    c.skip(5)?;
    let rest = c.take_up_to(li.saturating_sub(6));
    let mut a = Attributes::new();
    if let Some(cookie) = rest.strip_prefix(b"Cookie: mstshash=") {
        put_str(&mut a, "rdp.cookie", &text(first_line(cookie)));
    }
    // RDP_NEG_REQ: type 1, flags, length 8, requested protocols (LE).
    if let Some(at) =
        find(rest, &[0x01, 0x00, 0x08, 0x00]).or_else(|| find(rest, &[0x01, 0x08, 0x08, 0x00]))
    {
        let mut neg = Cursor::new(rest.get(at + 4..).unwrap_or_default());
        let protocols = neg.le16().unwrap_or(0);
        a.insert("rdp.requested_protocols".to_owned(), Value::from(protocols));
    }
    // The server's negotiation response: TPKT, X.224 CC (0xd0), RDP_NEG_RSP.
    let mut s = Cursor::new(server);
    let selected = (|| {
        if s.u8()? != 3 {
            return None;
        }
        s.skip(4)?;
        if s.u8()? != 0xd0 {
            return None;
        }
        s.skip(5)?;
        if s.u8()? != 2 {
            return None;
        }
        s.skip(3)?;
        s.le16()
    })();
    if let Some(protocol) = selected {
        a.insert("rdp.encrypted".to_owned(), Value::Bool(protocol != 0));
    }
    Some(a)
}

/// Telnet: option negotiation (IAC WILL/WONT/DO/DONT) at the start of
/// either side, or printable text on port 23.
pub fn telnet(flow: &FlowBytes<'_>) -> Option<Attributes> {
    let negotiates = |s: &[u8]| {
        s.first() == Some(&0xff)
            && s.get(1).is_some_and(|b| (251..=254).contains(b))
            && s.len() >= 3
    };
    if negotiates(flow.client) || negotiates(flow.server) {
        return Some(Attributes::new());
    }
    let printable_start =
        |s: &[u8]| !s.is_empty() && is_printable(s.get(..s.len().min(64)).unwrap_or_default());
    (flow.port(23) && (printable_start(flow.server) || printable_start(flow.client)))
        .then(Attributes::new)
}

/// FTP control: a `220` greeting and client commands.
pub fn ftp(flow: &FlowBytes<'_>) -> Option<Attributes> {
    let greeting = first_line(flow.server);
    let greets = greeting.starts_with(b"220 ") || greeting.starts_with(b"220-");
    let command = first_line(flow.client);
    const COMMANDS: [&[u8]; 8] = [
        b"USER ", b"AUTH ", b"FEAT", b"SYST", b"OPTS ", b"HOST ", b"PASV", b"LIST",
    ];
    let commands = COMMANDS.iter().any(|c| command.starts_with(c));
    if !(greets && (commands || flow.port(21) || flow.client.is_empty())) {
        return None;
    }
    let mut a = Attributes::new();
    put_str(
        &mut a,
        "ftp.banner",
        &text(greeting.get(4..).unwrap_or_default()),
    );
    if let Some(user) = command.strip_prefix(b"USER ") {
        put_str(&mut a, "ftp.user", &text(user));
    }
    Some(a)
}

/// NTP: a 48-byte header (plus extensions) with a sane version and mode.
pub fn ntp(datagram: &[u8]) -> Option<Attributes> {
    let first = *datagram.first()?;
    let version = (first >> 3) & 0x07;
    let mode = first & 0x07;
    if datagram.len() < 48 || !(1..=4).contains(&version) || !(1..=5).contains(&mode) {
        return None;
    }
    let mut a = Attributes::new();
    a.insert("ntp.version".to_owned(), Value::from(version));
    let mode_name = match mode {
        1 => "symmetric_active",
        2 => "symmetric_passive",
        3 => "client",
        4 => "server",
        _ => "broadcast",
    };
    put_str(&mut a, "ntp.mode", mode_name);
    Some(a)
}

/// Syslog: `<PRI>` (0..=191) and then text. Without the port hint the
/// message must also look like RFC 5424 (`<PRI>1 `) or RFC 3164 (a month).
pub fn syslog(payload: &[u8], port_hint: bool) -> Option<Attributes> {
    let rest = payload.strip_prefix(b"<")?;
    let close = rest.iter().take(4).position(|b| *b == b'>')?;
    let digits = rest.get(..close)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let priority: u16 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    if priority > 191 {
        return None;
    }
    let message = rest.get(close + 1..).unwrap_or_default();
    let sample = message.get(..message.len().min(32)).unwrap_or_default();
    if !is_printable(sample) && std::str::from_utf8(sample).is_err() {
        return None;
    }
    if !port_hint {
        const MONTHS: [&[u8]; 12] = [
            b"Jan ", b"Feb ", b"Mar ", b"Apr ", b"May ", b"Jun ", b"Jul ", b"Aug ", b"Sep ",
            b"Oct ", b"Nov ", b"Dec ",
        ];
        let rfc5424 = message.starts_with(b"1 ");
        let rfc3164 = MONTHS.iter().any(|m| message.starts_with(m));
        if !rfc5424 && !rfc3164 {
            return None;
        }
    }
    let mut a = Attributes::new();
    a.insert("syslog.facility".to_owned(), Value::from(priority / 8));
    a.insert("syslog.severity".to_owned(), Value::from(priority % 8));
    Some(a)
}

/// Reads a BER length.
fn ber_length(c: &mut Cursor<'_>) -> Option<usize> {
    let first = c.u8()?;
    if first & 0x80 == 0 {
        return Some(usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 3 {
        return None;
    }
    let mut length = 0usize;
    for _ in 0..count {
        length = (length << 8) | usize::from(c.u8()?);
    }
    Some(length)
}

/// SNMP: a BER sequence holding the version, then a community string
/// (v1, v2c) or a header (v3), then a PDU.
pub fn snmp(datagram: &[u8]) -> Option<Attributes> {
    let mut c = Cursor::new(datagram);
    if c.u8()? != 0x30 {
        return None;
    }
    let length = ber_length(&mut c)?;
    if length == 0 || length > c.rest().len().saturating_add(16) {
        return None;
    }
    if c.u8()? != 0x02 || c.u8()? != 1 {
        return None;
    }
    let version = c.u8()?;
    let mut a = Attributes::new();
    match version {
        0 | 1 => {
            if c.u8()? != 0x04 {
                return None;
            }
            let community_len = ber_length(&mut c)?;
            let community = c.take(community_len)?;
            let pdu = c.u8()?;
            if !(0xa0..=0xa8).contains(&pdu) {
                return None;
            }
            put_str(
                &mut a,
                "snmp.version",
                if version == 0 { "1" } else { "2c" },
            );
            let default = matches!(community, b"public" | b"private");
            a.insert("snmp.default_community".to_owned(), Value::Bool(default));
            put_str(&mut a, "snmp.pdu", pdu_name(pdu));
        }
        3 => {
            if c.u8()? != 0x30 {
                return None;
            }
            put_str(&mut a, "snmp.version", "3");
        }
        _ => return None,
    }
    Some(a)
}

fn pdu_name(tag: u8) -> &'static str {
    match tag {
        0xa0 => "get",
        0xa1 => "getnext",
        0xa2 => "response",
        0xa3 => "set",
        0xa4 => "trap",
        0xa5 => "getbulk",
        0xa6 => "inform",
        0xa7 => "trap2",
        _ => "report",
    }
}

/// The value of an HTTP-style header in a text message.
fn header_value(message: &str, name: &str) -> String {
    message
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// SSDP: UPnP discovery in HTTP-over-UDP (`M-SEARCH`, `NOTIFY`, answers).
pub fn ssdp(datagram: &[u8]) -> Option<Attributes> {
    let line = first_line(datagram);
    let method = if line.starts_with(b"M-SEARCH * HTTP/1.1") {
        "m-search"
    } else if line.starts_with(b"NOTIFY * HTTP/1.1") {
        "notify"
    } else if line.starts_with(b"HTTP/1.1 200") && contains(datagram, b"USN:") {
        "response"
    } else {
        return None;
    };
    let message = String::from_utf8_lossy(datagram);
    let mut a = Attributes::new();
    put_str(&mut a, "ssdp.method", method);
    let target = header_value(&message, if method == "notify" { "NT" } else { "ST" });
    put_str(&mut a, "ssdp.target", &target);
    put_str(&mut a, "ssdp.server", &header_value(&message, "SERVER"));
    put_str(
        &mut a,
        "ssdp.user_agent",
        &header_value(&message, "USER-AGENT"),
    );
    Some(a)
}

/// IEEE 11073 SDC discovery: WS-Discovery SOAP envelopes naming the SDC
/// (11073-20702 MDPWS / 20701) types.
pub fn sdc(datagram: &[u8]) -> Option<Attributes> {
    let sample = datagram.get(..datagram.len().min(8192)).unwrap_or_default();
    if !contains(sample, b"Envelope")
        || !contains(sample, b"docs.oasis-open.org/ws-dd/ns/discovery")
    {
        return None;
    }
    if !contains(sample, b"11073") {
        return None;
    }
    let text = String::from_utf8_lossy(sample);
    let mut a = Attributes::new();
    for (action, name) in [
        ("/Hello", "hello"),
        ("/Bye", "bye"),
        ("/ProbeMatches", "probe_matches"),
        ("/Probe", "probe"),
        ("/ResolveMatches", "resolve_matches"),
        ("/Resolve", "resolve"),
    ] {
        if text.contains(&format!("2009/01{action}<")) {
            put_str(&mut a, "sdc.action", name);
            break;
        }
    }
    Some(a)
}

/// Philips IntelliVue data export (LAN): the session headers of the
/// association protocol on the data export port 24105, or the connect
/// indication broadcast on port 24005.
pub fn intellivue(flow: &FlowBytes<'_>) -> Option<Attributes> {
    if !(flow.port(24105) || flow.port(24005)) {
        return None;
    }
    let first = |s: &[u8]| s.first().copied();
    let kind = match (first(flow.client), first(flow.server)) {
        // CN (association request), AC, RF (refuse), FN/DN (release), AB.
        (Some(0x0d), _) | (_, Some(0x0e)) => "association",
        (Some(0x09) | Some(0x0a) | Some(0x19), _) => "release",
        // Remote operation invoke/result (data export commands).
        (Some(0xe1), _) | (_, Some(0xe1)) => "data_export",
        // Connect indication: an event report with the monitor's identity.
        (Some(0x00), _) if flow.port(24005) && flow.client.len() > 30 => "connect_indication",
        _ => return None,
    };
    let mut a = Attributes::new();
    put_str(&mut a, "intellivue.message", kind);
    Some(a)
}

const ENQ: u8 = 0x05;
const ACK: u8 = 0x06;
const STX: u8 = 0x02;

/// ASTM E1381/E1394 (CLSI LIS01/LIS02): ENQ/ACK establishment and framed
/// records, or unframed records starting with the header `H|\^&`.
pub fn astm(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let header = |s: &[u8]| -> Option<usize> {
        let start = match s {
            [ENQ, STX, digit, ..] | [STX, digit, ..] if digit.is_ascii_digit() => {
                s.iter().position(|b| *b == STX)? + 2
            }
            [ENQ] if server.first() == Some(&ACK) => return Some(usize::MAX),
            _ => 0,
        };
        let record = s.get(start..)?;
        (record.starts_with(b"H|\\^&") || record.starts_with(b"H|\\!~")).then_some(start)
    };
    let (stream, at) = match (header(client), header(server)) {
        (Some(at), _) => (client, at),
        (None, Some(at)) => (server, at),
        (None, None) => return None,
    };
    let mut a = Attributes::new();
    if at == usize::MAX {
        return Some(a);
    }
    let record = stream.get(at..).unwrap_or_default();
    let end = record
        .iter()
        .position(|b| matches!(b, b'\r' | 0x03 | 0x17))
        .unwrap_or(record.len());
    let line = String::from_utf8_lossy(record.get(..end).unwrap_or_default()).into_owned();
    let fields: Vec<&str> = line.split('|').collect();
    // H-5: sender name or id (name^software version^serial ...).
    let sender = fields.get(4).copied().unwrap_or_default();
    let mut parts = sender.split('^');
    put_str(
        &mut a,
        "astm.sender",
        parts.next().unwrap_or_default().trim(),
    );
    put_str(
        &mut a,
        "astm.sender_version",
        parts.next().unwrap_or_default().trim(),
    );
    Some(a)
}

/// POCT1-A: XML messages named `TOPIC.Rnn` (`HEL.R01`, `DST.R01`,
/// `OBS.R01`, `ACK.R01`, ...), the device announcing itself in `HEL.R01`.
pub fn poct1a(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let message = |s: &[u8]| -> Option<String> {
        let sample = s.get(..s.len().min(4096)).unwrap_or_default();
        let text = String::from_utf8_lossy(sample);
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        let body = if trimmed.starts_with("<?xml") {
            trimmed.split_once("?>").map(|(_, b)| b.trim_start())?
        } else {
            trimmed
        };
        let name: String = body
            .strip_prefix('<')?
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let (topic, rest) = name.split_once('.')?;
        let valid = topic.len() == 3
            && topic.chars().all(|c| c.is_ascii_uppercase())
            && rest.len() == 3
            && rest.starts_with('R')
            && rest.chars().skip(1).all(|c| c.is_ascii_digit());
        valid.then_some(name)
    };
    let (stream, name) = match (message(client), message(server)) {
        (Some(n), _) => (client, n),
        (None, Some(n)) => (server, n),
        (None, None) => return None,
    };
    let mut a = Attributes::new();
    put_str(&mut a, "poct1a.message", &name);
    let text = String::from_utf8_lossy(stream.get(..stream.len().min(16384)).unwrap_or_default())
        .into_owned();
    for (element, attribute) in [
        ("DEV.device_id", "poct1a.device_id"),
        ("DEV.vendor_id", "poct1a.vendor_id"),
        ("DEV.model_id", "poct1a.model_id"),
        ("DEV.serial_id", "poct1a.serial_id"),
    ] {
        put_str(&mut a, attribute, &xml_value(&text, element));
    }
    Some(a)
}

/// The `V="..."` attribute of the first `<element ...>` in `text`.
fn xml_value(text: &str, element: &str) -> String {
    let open = format!("<{element}");
    let Some(start) = text.find(&open) else {
        return String::new();
    };
    let rest = text.get(start + open.len()..).unwrap_or_default();
    let tag = rest.split('>').next().unwrap_or_default();
    let Some(v) = tag.find("V=\"") else {
        return String::new();
    };
    tag.get(v + 3..)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::TransportKind;
    use super::*;
    use serde_json::json;

    fn flow<'a>(client: &'a [u8], server: &'a [u8], port: u16) -> FlowBytes<'a> {
        FlowBytes {
            transport: TransportKind::Tcp,
            client_port: 50000,
            server_port: port,
            client,
            server,
        }
    }

    #[test]
    fn ssh_banners() {
        let a = ssh(
            b"SSH-2.0-PuTTY_Release_0.81\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n",
        )
        .unwrap();
        assert_eq!(a["ssh.client_banner"], json!("SSH-2.0-PuTTY_Release_0.81"));
        assert_eq!(a["ssh.server_banner"], json!("SSH-2.0-OpenSSH_9.6"));
        assert!(ssh(b"SSH-3.0-x\r\n", b"").is_none());
        assert!(ssh(b"GET / HTTP/1.1\r\n", b"").is_none());
    }

    #[test]
    fn rdp_connection_request() {
        let cookie = b"Cookie: mstshash=admin\r\n";
        let mut x224 = vec![0u8, 0xe0, 0, 0, 0, 0, 0];
        x224.extend_from_slice(cookie);
        x224.extend_from_slice(&[1, 0, 8, 0, 3, 0, 0, 0]);
        x224[0] = (x224.len() - 1) as u8;
        let mut pdu = vec![3, 0];
        pdu.extend_from_slice(&((x224.len() + 4) as u16).to_be_bytes());
        pdu.extend_from_slice(&x224);
        let server = [
            3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0, 8, 0, 1, 0, 0, 0,
        ];
        let a = rdp(&pdu, &server).unwrap();
        assert_eq!(a["rdp.cookie"], json!("admin"));
        assert_eq!(a["rdp.requested_protocols"], json!(3));
        assert_eq!(a["rdp.encrypted"], json!(true));
        assert!(rdp(&[3, 0, 0, 11, 6, 0xf0, 0, 0, 0, 0, 0], &[]).is_none());
    }

    #[test]
    fn telnet_and_ftp() {
        assert!(telnet(&flow(b"", &[0xff, 0xfd, 0x18], 2323)).is_some());
        assert!(telnet(&flow(b"", b"login: ", 23)).is_some());
        assert!(telnet(&flow(b"", b"login: ", 24)).is_none());
        let a = ftp(&flow(
            b"USER anonymous\r\n",
            b"220 ProFTPD Server ready\r\n",
            2121,
        ))
        .unwrap();
        assert_eq!(a["ftp.user"], json!("anonymous"));
        assert_eq!(a["ftp.banner"], json!("ProFTPD Server ready"));
        assert!(ftp(&flow(b"EHLO x\r\n", b"220 mail ESMTP\r\n", 25)).is_none());
    }

    #[test]
    fn ntp_and_syslog() {
        let mut packet = vec![0x23];
        packet.resize(48, 0);
        let a = ntp(&packet).unwrap();
        assert_eq!(a["ntp.version"], json!(4));
        assert_eq!(a["ntp.mode"], json!("client"));
        assert!(ntp(&packet[..40]).is_none());
        assert!(ntp(&[0x07; 48]).is_none());

        let a = syslog(b"<134>Jan  1 00:00:00 pump1 app: started", false).unwrap();
        assert_eq!(a["syslog.facility"], json!(16));
        assert_eq!(a["syslog.severity"], json!(6));
        assert!(syslog(b"<134>hello", false).is_none());
        assert!(syslog(b"<134>hello", true).is_some());
        assert!(syslog(b"<999>Jan ", true).is_none());
        assert!(syslog(b"<html>", true).is_none());
    }

    #[test]
    fn snmp_versions() {
        let v2c = [
            0x30, 0x19, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0,
            0x0c, 0x02, 0x01, 0x01, 0x02, 0x01, 0, 0x02, 0x01, 0, 0x30, 0x00,
        ];
        let a = snmp(&v2c).unwrap();
        assert_eq!(a["snmp.version"], json!("2c"));
        assert_eq!(a["snmp.default_community"], json!(true));
        assert_eq!(a["snmp.pdu"], json!("get"));
        assert!(snmp(&v2c[..8]).is_none());
        assert!(snmp(&[0x30, 3, 2, 1, 9]).is_none());
    }

    #[test]
    fn ssdp_and_sdc() {
        let a = ssdp(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMAN: \"ssdp:discover\"\r\n\r\n").unwrap();
        assert_eq!(a["ssdp.method"], json!("m-search"));
        assert_eq!(a["ssdp.target"], json!("ssdp:all"));
        assert!(ssdp(b"GET / HTTP/1.1\r\n").is_none());

        let hello = br#"<s12:Envelope xmlns:s12="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsd="http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01" xmlns:mdpws="http://standards.ieee.org/downloads/11073/11073-20702-2016"><s12:Header><wsa:Action>http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/Hello</wsa:Action></s12:Header><s12:Body><wsd:Hello><wsd:Types>mdpws:MedicalDevice</wsd:Types></wsd:Hello></s12:Body></s12:Envelope>"#;
        let a = sdc(hello).unwrap();
        assert_eq!(a["sdc.action"], json!("hello"));
        let plain = String::from_utf8_lossy(hello).replace("11073/11073-20702-2016", "printer");
        assert!(sdc(plain.as_bytes()).is_none());
    }

    #[test]
    fn intellivue_needs_its_port() {
        let mut f = flow(&[0x0d, 0xec, 0x05, 0x08], &[0x0e, 0x00], 24105);
        f.transport = TransportKind::Udp;
        assert_eq!(
            intellivue(&f).unwrap()["intellivue.message"],
            json!("association")
        );
        f.server_port = 24106;
        assert!(intellivue(&f).is_none());
    }

    #[test]
    fn astm_framed_and_bare() {
        let framed = b"\x05\x021H|\\^&|||ARCHITECT^8.1^SN123|||||||P|1\r\x0310\r\n";
        let a = astm(framed, &[ACK]).unwrap();
        assert_eq!(a["astm.sender"], json!("ARCHITECT"));
        assert_eq!(a["astm.sender_version"], json!("8.1"));
        let a = astm(b"H|\\^&|||cobas^2.0\rP|1\r", b"").unwrap();
        assert_eq!(a["astm.sender"], json!("cobas"));
        assert!(astm(&[ENQ], &[ACK]).is_some());
        assert!(astm(&[ENQ], &[]).is_none());
        assert!(astm(b"\x021X|x", b"").is_none());
    }

    #[test]
    fn poct1a_hello() {
        let hello = br#"<?xml version="1.0" encoding="UTF-8"?><HEL.R01><HDR><HDR.message_type V="HEL.R01"/></HDR><DEV><DEV.device_id V="00:11:22:33"/><DEV.vendor_id V="ABBOTT"/><DEV.model_id V="i-STAT"/><DEV.serial_id V="SN42"/></DEV></HEL.R01>"#;
        let a = poct1a(hello, b"").unwrap();
        assert_eq!(a["poct1a.message"], json!("HEL.R01"));
        assert_eq!(a["poct1a.vendor_id"], json!("ABBOTT"));
        assert_eq!(a["poct1a.model_id"], json!("i-STAT"));
        assert_eq!(a["poct1a.serial_id"], json!("SN42"));
        assert!(poct1a(b"<html><body>", b"").is_none());
        assert!(poct1a(b"<ABC.X01>", b"").is_none());
    }
}
