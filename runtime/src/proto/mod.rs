//! Protocol identification from a flow's first bytes, and extraction of the
//! attributes policies decide on.
//!
//! Each protocol module exposes a parser that takes the first bytes of each
//! direction and returns `None` unless the bytes are that protocol. The
//! parsers are tolerant (a truncated message yields what it carries) and
//! total: every read is checked, so no input can make them panic (a
//! property test and a fuzz target hold them to that).
//!
//! [`identify`] tries the parsers from the most to the least distinctive
//! signature. Ports are hints, never proof: a strong signature (a DICOM
//! A-ASSOCIATE-RQ, a TLS ClientHello, an MLLP frame) wins on any port,
//! while protocols whose bytes say little (NTP, syslog, Telnet) are only
//! accepted on their usual port and when the bytes fit.
//!
//! Attribute names are the policy language's fact names (`dicom.called_ae`,
//! `tls.sni`, ...). Attributes the language does not know yet are kept
//! under the protocol's prefix (see docs/classification.md).

pub mod bytes;
pub mod dhcp;
pub mod dicom;
pub mod dns;
pub mod hl7;
pub mod http;
pub mod misc;
pub mod smb;
pub mod tls;

use serde_json::Value;

/// Attributes of a flow, keyed by fact name.
pub type Attributes = serde_json::Map<String, Value>;

/// The protocols the classifier names (`flow.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// DICOM upper layer.
    Dicom,
    /// HL7 v2, usually in MLLP frames.
    Hl7,
    /// HL7 FHIR over HTTP.
    Fhir,
    /// HTTP/1.x.
    Http,
    /// TLS (and SSL).
    Tls,
    /// DNS.
    Dns,
    /// DHCP (v4).
    Dhcp,
    /// SMB 1, 2 or 3.
    Smb,
    /// ASTM E1381/E1394 (LIS2-A2) laboratory framing.
    Astm,
    /// POCT1-A point-of-care device messages.
    Poct1a,
    /// IEEE 11073 SDC discovery.
    Sdc,
    /// Philips IntelliVue data export.
    Intellivue,
    /// SSH.
    Ssh,
    /// RDP.
    Rdp,
    /// Telnet.
    Telnet,
    /// FTP control.
    Ftp,
    /// NTP.
    Ntp,
    /// Syslog.
    Syslog,
    /// SNMP.
    Snmp,
    /// Multicast DNS.
    Mdns,
    /// SSDP (UPnP discovery).
    Ssdp,
    /// Not identified.
    Unknown,
}

impl Protocol {
    /// Every protocol, in the order of the policy language's enumeration.
    pub const ALL: [Protocol; 22] = [
        Protocol::Dicom,
        Protocol::Hl7,
        Protocol::Fhir,
        Protocol::Http,
        Protocol::Tls,
        Protocol::Dns,
        Protocol::Dhcp,
        Protocol::Smb,
        Protocol::Astm,
        Protocol::Poct1a,
        Protocol::Sdc,
        Protocol::Intellivue,
        Protocol::Ssh,
        Protocol::Rdp,
        Protocol::Telnet,
        Protocol::Ftp,
        Protocol::Ntp,
        Protocol::Syslog,
        Protocol::Snmp,
        Protocol::Mdns,
        Protocol::Ssdp,
        Protocol::Unknown,
    ];

    /// The name used in facts and output (`flow.protocol`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Dicom => "dicom",
            Protocol::Hl7 => "hl7",
            Protocol::Fhir => "fhir",
            Protocol::Http => "http",
            Protocol::Tls => "tls",
            Protocol::Dns => "dns",
            Protocol::Dhcp => "dhcp",
            Protocol::Smb => "smb",
            Protocol::Astm => "astm",
            Protocol::Poct1a => "poct1a",
            Protocol::Sdc => "sdc",
            Protocol::Intellivue => "intellivue",
            Protocol::Ssh => "ssh",
            Protocol::Rdp => "rdp",
            Protocol::Telnet => "telnet",
            Protocol::Ftp => "ftp",
            Protocol::Ntp => "ntp",
            Protocol::Syslog => "syslog",
            Protocol::Snmp => "snmp",
            Protocol::Mdns => "mdns",
            Protocol::Ssdp => "ssdp",
            Protocol::Unknown => "unknown",
        }
    }
}

/// The transport a flow runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl TransportKind {
    /// The name used in facts and output (`flow.transport`).
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Udp => "udp",
        }
    }
}

/// What the classifier sees of a flow.
#[derive(Debug, Clone, Copy)]
pub struct FlowBytes<'a> {
    /// TCP or UDP.
    pub transport: TransportKind,
    /// The initiator's port.
    pub client_port: u16,
    /// The responder's port.
    pub server_port: u16,
    /// Client-to-server bytes: the reassembled stream prefix (TCP) or the
    /// first datagram (UDP).
    pub client: &'a [u8],
    /// Server-to-client bytes, likewise.
    pub server: &'a [u8],
}

impl FlowBytes<'_> {
    /// Whether either endpoint uses `port`.
    pub fn port(&self, port: u16) -> bool {
        self.client_port == port || self.server_port == port
    }
}

/// The outcome of classifying a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    /// The protocol, or [`Protocol::Unknown`].
    pub protocol: Protocol,
    /// Extracted attributes keyed by fact name.
    pub attributes: Attributes,
    /// Whether the payload is encrypted (`flow.encrypted`).
    pub encrypted: bool,
}

impl Identified {
    fn new(protocol: Protocol, attributes: Attributes) -> Self {
        let encrypted = matches!(protocol, Protocol::Tls | Protocol::Ssh)
            || attributes.get("smb.encrypted") == Some(&Value::Bool(true))
            || attributes.get("rdp.encrypted") == Some(&Value::Bool(true));
        Identified {
            protocol,
            attributes,
            encrypted,
        }
    }

    /// An unidentified flow.
    pub fn unknown() -> Self {
        Identified::new(Protocol::Unknown, Attributes::new())
    }
}

/// Identifies a flow's protocol from its first bytes and extracts its
/// attributes.
pub fn identify(flow: &FlowBytes<'_>) -> Identified {
    if flow.client.is_empty() && flow.server.is_empty() {
        return Identified::unknown();
    }
    match flow.transport {
        TransportKind::Tcp => identify_tcp(flow),
        TransportKind::Udp => identify_udp(flow),
    }
}

fn identify_tcp(flow: &FlowBytes<'_>) -> Identified {
    // Distinctive signatures first, on any port.
    if let Some(a) = tls::parse(flow.client, flow.server) {
        return Identified::new(Protocol::Tls, a);
    }
    if let Some(a) = dicom::parse(flow.client, flow.server) {
        return Identified::new(Protocol::Dicom, a);
    }
    if let Some(a) = hl7::parse(flow.client, flow.server) {
        return Identified::new(Protocol::Hl7, a);
    }
    if let Some(a) = smb::parse(flow.client, flow.server) {
        return Identified::new(Protocol::Smb, a);
    }
    if let Some(a) = misc::ssh(flow.client, flow.server) {
        return Identified::new(Protocol::Ssh, a);
    }
    if let Some((protocol, a)) = http::parse(flow.client, flow.server) {
        return Identified::new(protocol, a);
    }
    if let Some(a) = misc::poct1a(flow.client, flow.server) {
        return Identified::new(Protocol::Poct1a, a);
    }
    if let Some(a) = misc::astm(flow.client, flow.server) {
        return Identified::new(Protocol::Astm, a);
    }
    if let Some(a) = misc::rdp(flow.client, flow.server) {
        return Identified::new(Protocol::Rdp, a);
    }
    if let Some(a) = misc::ftp(flow) {
        return Identified::new(Protocol::Ftp, a);
    }
    if let Some(a) = misc::telnet(flow) {
        return Identified::new(Protocol::Telnet, a);
    }
    if flow.port(53)
        && let Some(a) = dns::parse_tcp_flow(flow.client, flow.server)
    {
        return Identified::new(Protocol::Dns, a);
    }
    if (flow.port(601) || flow.port(514))
        && let Some(a) = misc::syslog(flow.client, true)
    {
        return Identified::new(Protocol::Syslog, a);
    }
    Identified::unknown()
}

fn identify_udp(flow: &FlowBytes<'_>) -> Identified {
    if let Some(a) = dhcp::parse(flow.client).or_else(|| dhcp::parse(flow.server)) {
        return Identified::new(Protocol::Dhcp, a);
    }
    if flow.port(5353)
        && let Some(a) = dns::parse_flow(flow.client, flow.server, true)
    {
        return Identified::new(Protocol::Mdns, a);
    }
    if let Some(a) = misc::sdc(flow.client).or_else(|| misc::sdc(flow.server)) {
        return Identified::new(Protocol::Sdc, a);
    }
    if let Some(a) = misc::ssdp(flow.client).or_else(|| misc::ssdp(flow.server)) {
        return Identified::new(Protocol::Ssdp, a);
    }
    let dns_port = flow.port(53) || flow.port(5355);
    if let Some(a) = dns::parse_flow(flow.client, flow.server, dns_port) {
        return Identified::new(Protocol::Dns, a);
    }
    if let Some(a) = misc::snmp(flow.client).or_else(|| misc::snmp(flow.server)) {
        return Identified::new(Protocol::Snmp, a);
    }
    if flow.port(123)
        && let Some(a) = misc::ntp(flow.client).or_else(|| misc::ntp(flow.server))
    {
        return Identified::new(Protocol::Ntp, a);
    }
    if let Some(a) = misc::intellivue(flow) {
        return Identified::new(Protocol::Intellivue, a);
    }
    if let Some(a) = misc::syslog(flow.client, flow.port(514)) {
        return Identified::new(Protocol::Syslog, a);
    }
    Identified::unknown()
}

/// Inserts a string attribute when it is not empty.
pub(crate) fn put_str(attributes: &mut Attributes, name: &str, value: &str) {
    if !value.is_empty() {
        attributes.insert(name.to_owned(), Value::String(value.to_owned()));
    }
}

/// Inserts an array of strings when it is not empty.
pub(crate) fn put_list(attributes: &mut Attributes, name: &str, values: &[String]) {
    if !values.is_empty() {
        let list = values.iter().cloned().map(Value::String).collect();
        attributes.insert(name.to_owned(), Value::Array(list));
    }
}

#[cfg(test)]
mod tests;
