//! The device inventory: what each device on the network reveals about
//! itself in the traffic, and a first guess of what kind of device it is.
//!
//! A device is an address that opened a flow, or an internal address that
//! answered one. Evidence accumulates per device: protocols spoken, peers,
//! DHCP fingerprint and host name (joined through the MAC address), DICOM
//! AE titles, HL7 applications, TLS (JA4) and HTTP fingerprints, the MAC
//! vendor. The class guess comes from [`Profiler`]s, each of which looks at
//! a device and may propose a class with a confidence and the evidence that
//! led to it; the most confident proposal wins. The built-in
//! [`BehaviourProfiler`] reads behaviour only. Vendor device-profile modules
//! (a later issue) plug in here as further profilers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::flow::Flow;
use crate::oui::{OuiTable, format_mac};
use crate::proto::{Attributes, Identified, Protocol};

/// A proposed device class with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassGuess {
    /// Dotted taxonomy class (`imaging.ct`, `infusion.pump`, ...).
    pub class: String,
    /// 0 to 100; the highest proposal wins.
    pub confidence: u8,
    /// Why, in words.
    pub evidence: String,
}

/// Something that proposes device classes from a device's evidence.
pub trait Profiler {
    /// Proposals for `device` (may be empty).
    fn profile(&self, device: &Device) -> Vec<ClassGuess>;
}

/// What one device revealed.
#[derive(Debug, Clone, Default)]
pub struct Device {
    /// Its address, when seen with one.
    pub ip: Option<IpAddr>,
    /// Its MAC address, when the link layer showed it.
    pub mac: Option<[u8; 6]>,
    /// Host name (from DHCP).
    pub hostname: Option<String>,
    /// Vendor named by the device itself (POCT1-A hello).
    pub vendor: Option<String>,
    /// Model named by the device itself.
    pub model: Option<String>,
    /// Protocols spoken.
    pub protocols: BTreeSet<&'static str>,
    /// Peers talked to.
    pub peers: BTreeSet<IpAddr>,
    /// Flows taken part in.
    pub flows: u64,
    /// First packet time (µs).
    pub first_seen: u64,
    /// Last packet time (µs).
    pub last_seen: u64,
    /// DHCP parameter request list.
    pub dhcp_fingerprint: Option<String>,
    /// DHCP vendor class.
    pub dhcp_vendor_class: Option<String>,
    /// AE titles used (own, as caller or callee).
    pub dicom_ae_titles: BTreeSet<String>,
    /// SOP classes offered as a DICOM client.
    pub dicom_sop_classes: BTreeSet<String>,
    /// Whether it accepted DICOM associations (a server).
    pub dicom_server: bool,
    /// HL7 applications it sent as.
    pub hl7_applications: BTreeSet<String>,
    /// HL7 device identifiers it reported (PRT, OBX).
    pub hl7_device_ids: BTreeSet<String>,
    /// HL7 message types it sent.
    pub hl7_message_types: BTreeSet<String>,
    /// Whether it received HL7 messages.
    pub hl7_receiver: bool,
    /// JA4 fingerprints of its TLS clients.
    pub tls_ja4: BTreeSet<String>,
    /// HTTP user agents.
    pub http_user_agents: BTreeSet<String>,
    /// SMB versions it spoke.
    pub smb_versions: BTreeSet<String>,
    /// Protocols for which it was the client, and for which the server.
    pub roles: BTreeSet<(&'static str, bool)>,
}

impl Device {
    fn touch(&mut self, flow: &Flow) {
        if self.flows == 0 || flow.first_seen < self.first_seen {
            self.first_seen = flow.first_seen;
        }
        self.last_seen = self.last_seen.max(flow.last_seen);
        self.flows += 1;
    }
}

/// Whether an address is internal (private, loopback, link-local, unique
/// local, shared address space).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

fn text(attributes: &Attributes, name: &str) -> Option<String> {
    attributes
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn texts(attributes: &Attributes, name: &str) -> Vec<String> {
    match attributes.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The inventory of devices.
pub struct Inventory {
    devices: BTreeMap<IpAddr, Device>,
    dhcp_by_mac: BTreeMap<[u8; 6], Device>,
    profilers: Vec<Box<dyn Profiler + Send + Sync>>,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Self::new()
    }
}

impl Inventory {
    /// An empty inventory with the built-in behaviour profiler.
    pub fn new() -> Self {
        Inventory {
            devices: BTreeMap::new(),
            dhcp_by_mac: BTreeMap::new(),
            profilers: vec![Box::new(BehaviourProfiler)],
        }
    }

    /// Adds a profiler (a vendor module, later).
    pub fn add_profiler(&mut self, profiler: Box<dyn Profiler + Send + Sync>) {
        self.profilers.push(profiler);
    }

    /// Records what a classified flow reveals about its two ends.
    pub fn observe_flow(&mut self, flow: &Flow, identified: &Identified) {
        let protocol = identified.protocol;
        let a = &identified.attributes;

        // DHCP evidence is taken per message (see `observe_dhcp`): many
        // clients share one 0.0.0.0 -> broadcast flow.
        if protocol == Protocol::Dhcp {
            return;
        }

        for is_client in [true, false] {
            let (me, peer, mac) = if is_client {
                (flow.client.ip, flow.server.ip, flow.client_mac)
            } else {
                (flow.server.ip, flow.client.ip, flow.server_mac)
            };
            if !is_client && (!is_internal(me) || me == flow.client.ip) {
                // External servers are not ours; a host talking to itself
                // is one device (its server-side evidence still counts).
                if me == flow.client.ip
                    && let Some(device) = self.devices.get_mut(&me)
                {
                    record_evidence(device, protocol, a, false);
                    if protocol != Protocol::Unknown {
                        device.roles.insert((protocol.name(), false));
                    }
                }
                continue;
            }
            let device = self.devices.entry(me).or_default();
            device.ip = Some(me);
            if device.mac.is_none() {
                device.mac = mac;
            }
            device.touch(flow);
            device.peers.insert(peer);
            if protocol != Protocol::Unknown {
                device.protocols.insert(protocol.name());
                device.roles.insert((protocol.name(), is_client));
            }
            record_evidence(device, protocol, a, is_client);
        }
    }

    /// Records one DHCP message's evidence (from `proto::dhcp::parse`),
    /// which belongs to the client MAC address it names, seen at `ts` (µs).
    pub fn observe_dhcp(&mut self, attributes: &Attributes, ts: u64) {
        let Some(mac) = text(attributes, "dhcp.client_mac").and_then(|m| parse_mac(&m)) else {
            return;
        };
        let entry = self.dhcp_by_mac.entry(mac).or_default();
        entry.mac = Some(mac);
        entry.protocols.insert(Protocol::Dhcp.name());
        if let Some(h) = text(attributes, "dhcp.hostname") {
            entry.hostname = Some(h);
        }
        if let Some(f) = text(attributes, "dhcp.fingerprint") {
            entry.dhcp_fingerprint = Some(f);
        }
        if let Some(v) = text(attributes, "dhcp.vendor_class") {
            entry.dhcp_vendor_class = Some(v);
        }
        if entry.flows == 0 || ts < entry.first_seen {
            entry.first_seen = ts;
        }
        entry.last_seen = entry.last_seen.max(ts);
        entry.flows += 1;
    }

    /// Devices with their class guesses, in address order; devices known
    /// only from DHCP (no address seen) come last.
    pub fn devices(&self, oui: Option<&OuiTable>) -> Vec<DeviceReport> {
        let mut dhcp = self.dhcp_by_mac.clone();
        let mut out = Vec::new();
        for device in self.devices.values() {
            let mut merged = device.clone();
            if let Some(evidence) = device.mac.and_then(|m| dhcp.remove(&m)) {
                merge_dhcp(&mut merged, evidence);
            }
            out.push(self.report(merged, oui));
        }
        for (_, device) in dhcp {
            out.push(self.report(device, oui));
        }
        out
    }

    /// The `device.*` facts of the device at `ip`, as they stand now.
    pub fn facts(&self, ip: IpAddr, oui: Option<&OuiTable>) -> Attributes {
        let mut facts = Attributes::new();
        facts.insert("device.ip".to_owned(), Value::String(ip.to_string()));
        let Some(device) = self.devices.get(&ip) else {
            facts.insert(
                "device.class".to_owned(),
                Value::String("unknown".to_owned()),
            );
            return facts;
        };
        let mut merged = device.clone();
        if let Some(evidence) = device.mac.and_then(|m| self.dhcp_by_mac.get(&m)) {
            merge_dhcp(&mut merged, evidence.clone());
        }
        let report = self.report(merged, oui);
        report.facts_into(&mut facts);
        facts
    }

    fn report(&self, device: Device, oui: Option<&OuiTable>) -> DeviceReport {
        let mut guesses: Vec<ClassGuess> = self
            .profilers
            .iter()
            .flat_map(|p| p.profile(&device))
            .collect();
        guesses.sort_by(|x, y| {
            y.confidence
                .cmp(&x.confidence)
                .then_with(|| x.class.cmp(&y.class))
        });
        let mac_vendor = device
            .mac
            .and_then(|m| oui.and_then(|t| t.vendor(m)))
            .map(str::to_owned);
        DeviceReport {
            device,
            mac_vendor,
            guesses,
        }
    }
}

fn merge_dhcp(device: &mut Device, evidence: Device) {
    device.hostname = device.hostname.take().or(evidence.hostname);
    device.dhcp_fingerprint = evidence.dhcp_fingerprint.or(device.dhcp_fingerprint.take());
    device.dhcp_vendor_class = evidence
        .dhcp_vendor_class
        .or(device.dhcp_vendor_class.take());
    device.protocols.extend(evidence.protocols);
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    <[u8; 6]>::try_from(bytes.as_slice()).ok()
}

fn record_evidence(device: &mut Device, protocol: Protocol, a: &Attributes, is_client: bool) {
    match protocol {
        Protocol::Dicom => {
            let own = if is_client {
                "dicom.calling_ae"
            } else {
                "dicom.called_ae"
            };
            device.dicom_ae_titles.extend(text(a, own));
            if is_client {
                device
                    .dicom_sop_classes
                    .extend(texts(a, "dicom.sop_classes"));
            } else if text(a, "dicom.association").as_deref() != Some("rejected") {
                device.dicom_server = true;
            }
        }
        Protocol::Hl7 if is_client => {
            device
                .hl7_applications
                .extend(text(a, "hl7.sending_application"));
            device.hl7_device_ids.extend(texts(a, "hl7.device_ids"));
            device.hl7_message_types.extend(text(a, "hl7.message_type"));
        }
        Protocol::Hl7 => device.hl7_receiver = true,
        Protocol::Tls if is_client => device.tls_ja4.extend(text(a, "tls.ja4")),
        Protocol::Http | Protocol::Fhir if is_client => {
            device.http_user_agents.extend(text(a, "http.user_agent"));
        }
        Protocol::Smb => device.smb_versions.extend(text(a, "smb.version")),
        Protocol::Poct1a => {
            if let Some(v) = text(a, "poct1a.vendor_id") {
                device.vendor = Some(v);
            }
            if let Some(m) = text(a, "poct1a.model_id") {
                device.model = Some(m);
            }
        }
        _ => {}
    }
}

/// A device with its MAC vendor and class proposals.
#[derive(Debug, Clone)]
pub struct DeviceReport {
    /// The evidence.
    pub device: Device,
    /// Vendor registered for the MAC address's OUI.
    pub mac_vendor: Option<String>,
    /// Class proposals, most confident first.
    pub guesses: Vec<ClassGuess>,
}

impl DeviceReport {
    /// The winning class, or `unknown`.
    pub fn class(&self) -> &str {
        self.guesses.first().map_or("unknown", |g| g.class.as_str())
    }

    /// The `device.*` facts.
    pub fn facts_into(&self, facts: &mut Attributes) {
        let d = &self.device;
        if let Some(ip) = d.ip {
            facts.insert("device.ip".to_owned(), Value::String(ip.to_string()));
        }
        if let Some(mac) = d.mac {
            facts.insert("device.mac".to_owned(), Value::String(format_mac(mac)));
        }
        facts.insert(
            "device.class".to_owned(),
            Value::String(self.class().to_owned()),
        );
        if let Some(vendor) = d.vendor.clone().or_else(|| self.mac_vendor.clone()) {
            facts.insert("device.vendor".to_owned(), Value::String(vendor));
        }
        if let Some(model) = &d.model {
            facts.insert("device.model".to_owned(), Value::String(model.clone()));
        }
        if let Some(hostname) = &d.hostname {
            facts.insert(
                "device.hostname".to_owned(),
                Value::String(hostname.clone()),
            );
        }
    }

    /// The `device` output record.
    pub fn to_json(&self) -> Map<String, Value> {
        let d = &self.device;
        let mut out = Map::new();
        out.insert("type".to_owned(), json!("device"));
        out.insert(
            "ip".to_owned(),
            d.ip.map_or(Value::Null, |ip| json!(ip.to_string())),
        );
        out.insert(
            "mac".to_owned(),
            d.mac.map_or(Value::Null, |m| json!(format_mac(m))),
        );
        out.insert("mac_vendor".to_owned(), json!(self.mac_vendor));
        out.insert("class".to_owned(), json!(self.class()));
        let evidence: Vec<Value> = self
            .guesses
            .iter()
            .map(|g| json!({"class": g.class, "confidence": g.confidence, "evidence": g.evidence}))
            .collect();
        out.insert("class_evidence".to_owned(), Value::Array(evidence));
        out.insert("vendor".to_owned(), json!(d.vendor));
        out.insert("model".to_owned(), json!(d.model));
        out.insert("hostname".to_owned(), json!(d.hostname));
        out.insert("protocols".to_owned(), json!(d.protocols));
        out.insert(
            "peers".to_owned(),
            json!(d.peers.iter().map(ToString::to_string).collect::<Vec<_>>()),
        );
        out.insert("flows".to_owned(), json!(d.flows));
        out.insert("first_seen".to_owned(), json!(seconds(d.first_seen)));
        out.insert("last_seen".to_owned(), json!(seconds(d.last_seen)));
        let mut facts = Attributes::new();
        self.facts_into(&mut facts);
        let mut evidence = Map::new();
        let mut put = |k: &str, v: Value| {
            if !(v.is_null() || v.as_array().is_some_and(Vec::is_empty)) {
                evidence.insert(k.to_owned(), v);
            }
        };
        put("dhcp.fingerprint", json!(d.dhcp_fingerprint));
        put("dhcp.vendor_class", json!(d.dhcp_vendor_class));
        put("dicom.ae_titles", json!(d.dicom_ae_titles));
        put("hl7.applications", json!(d.hl7_applications));
        put("hl7.device_ids", json!(d.hl7_device_ids));
        put("tls.ja4", json!(d.tls_ja4));
        put("http.user_agents", json!(d.http_user_agents));
        put("smb.versions", json!(d.smb_versions));
        out.insert("evidence".to_owned(), Value::Object(evidence));
        out.insert("facts".to_owned(), Value::Object(facts));
        out
    }
}

/// Microseconds as fractional seconds.
pub fn seconds(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// DICOM storage SOP classes of common modalities, and the class they mark.
const MODALITY_SOP_CLASSES: [(&str, &str, &str); 9] = [
    (
        "1.2.840.10008.5.1.4.1.1.2",
        "imaging.ct",
        "CT Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.2.1",
        "imaging.ct",
        "Enhanced CT Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.4",
        "imaging.mri",
        "MR Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.6.1",
        "imaging.ultrasound",
        "Ultrasound Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1",
        "imaging.xray",
        "Computed Radiography Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1.1",
        "imaging.xray",
        "Digital X-Ray Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1.2",
        "imaging.mammography",
        "Digital Mammography Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.20",
        "imaging.nuclear",
        "Nuclear Medicine Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.128",
        "imaging.nuclear.pet",
        "PET Image Storage",
    ),
];

/// Storage SOP classes share this prefix.
const STORAGE_PREFIX: &str = "1.2.840.10008.5.1.4.1.1.";
/// Query/retrieve SOP classes share this prefix.
const QUERY_PREFIX: &str = "1.2.840.10008.5.1.4.1.2.";
/// More storage SOP classes than a single modality sends.
const MAX_MODALITY_STORAGE_CLASSES: usize = 10;
/// Words in HL7 identities that name infusion devices.
const PUMP_WORDS: [&str; 6] = ["PUMP", "INFUS", "ALARIS", "SPACECOM", "PLUM", "SIGMA"];

/// Class guesses from behaviour alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct BehaviourProfiler;

impl Profiler for BehaviourProfiler {
    fn profile(&self, d: &Device) -> Vec<ClassGuess> {
        let mut out = Vec::new();
        let mut guess = |class: &str, confidence: u8, evidence: String| {
            out.push(ClassGuess {
                class: class.to_owned(),
                confidence,
                evidence,
            });
        };

        // A DICOM client that stores images of one or a few kinds is a
        // modality, and the SOP class names the modality. A client that
        // queries or retrieves (C-GET needs storage contexts too) or offers
        // storage of many kinds is a workstation or router.
        let queries = d
            .dicom_sop_classes
            .iter()
            .any(|s| s.starts_with(QUERY_PREFIX));
        let storage = d
            .dicom_sop_classes
            .iter()
            .filter(|s| s.starts_with(STORAGE_PREFIX))
            .count();
        if queries {
            guess(
                "clinical_it.workstation",
                55,
                "DICOM client querying or retrieving studies".to_owned(),
            );
        } else if storage > MAX_MODALITY_STORAGE_CLASSES {
            guess(
                "clinical_it.workstation",
                40,
                format!("DICOM client offering {storage} kinds of image storage"),
            );
        } else if storage > 0 {
            for (uid, class, name) in MODALITY_SOP_CLASSES {
                if d.dicom_sop_classes.contains(uid) {
                    guess(class, 70, format!("DICOM client offering {name} ({uid})"));
                }
            }
            guess(
                "imaging",
                50,
                "DICOM client offering image storage".to_owned(),
            );
        }
        if d.dicom_server {
            guess(
                "clinical_it.pacs",
                55,
                "accepts DICOM associations".to_owned(),
            );
        }

        // HL7: a sender naming a pump is an infusion system.
        let hl7_identity: Vec<&String> = d
            .hl7_applications
            .iter()
            .chain(d.hl7_device_ids.iter())
            .collect();
        if let Some(name) = hl7_identity.iter().find(|n| {
            PUMP_WORDS
                .iter()
                .any(|w| n.to_ascii_uppercase().contains(w))
        }) {
            guess(
                "infusion.pump",
                65,
                format!("HL7 sender identifying as `{name}`"),
            );
        } else if !d.hl7_applications.is_empty() {
            let types: Vec<&str> = d.hl7_message_types.iter().map(String::as_str).collect();
            guess("clinical_it", 30, format!("sends HL7 {}", types.join(", ")));
        }
        if d.hl7_receiver {
            guess(
                "clinical_it.interface_engine",
                35,
                "receives HL7 messages".to_owned(),
            );
        }

        let speaks = |p: &str, client: bool| d.roles.contains(&(leak_name(p), client));
        if speaks("poct1a", true) || speaks("poct1a", false) {
            guess("lab.poct", 65, "speaks POCT1-A".to_owned());
        }
        if speaks("astm", true) {
            guess("lab.analyzer", 60, "opens ASTM E1381 sessions".to_owned());
        }
        if speaks("intellivue", false) {
            guess(
                "monitoring.bedside",
                65,
                "serves IntelliVue data export".to_owned(),
            );
        }
        if speaks("intellivue", true) {
            guess(
                "monitoring.central",
                40,
                "polls IntelliVue data export".to_owned(),
            );
        }
        if speaks("sdc", true) {
            guess(
                "monitoring",
                45,
                "announces IEEE 11073 SDC services".to_owned(),
            );
        }
        out
    }
}

/// The static name of a protocol (roles store `&'static str`).
fn leak_name(name: &str) -> &'static str {
    Protocol::ALL
        .iter()
        .map(|p| p.name())
        .find(|n| *n == name)
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowConfig, FlowEnd, FlowTable};
    use crate::packet::{Packet, TcpSegment, Transport};

    fn flow_with(client: &str, server: &str, dport: u16, request: &[u8], answer: &[u8]) -> Flow {
        let mut table = FlowTable::new(FlowConfig::default());
        let mut ended: Vec<(Flow, FlowEnd)> = Vec::new();
        let packet = |src: &str, dst: &str, sport, dport, seq, flags, payload| Packet {
            src_mac: Some([0x00, 0x09, 0xfb, 1, 2, 3]),
            dst_mac: None,
            src_ip: src.parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            transport: Transport::Tcp(TcpSegment {
                sport,
                dport,
                seq,
                flags,
                payload,
            }),
        };
        table.packet(
            0,
            &packet(client, server, 40000, dport, 1, 0x02, b""),
            &mut ended,
        );
        table.packet(
            1,
            &packet(client, server, 40000, dport, 2, 0x10, request),
            &mut ended,
        );
        table.packet(
            2,
            &packet(server, client, dport, 40000, 1, 0x10, answer),
            &mut ended,
        );
        table.finish(&mut ended);
        ended.remove(0).0
    }

    #[test]
    fn dicom_ct_modality_and_pacs() {
        let rq = crate::proto::dicom::build::associate(
            1,
            "PACS",
            "CT_SCANNER",
            &["1.2.840.10008.5.1.4.1.1.2"],
        );
        let ac = crate::proto::dicom::build::associate(2, "PACS", "CT_SCANNER", &[]);
        let flow = flow_with("10.1.0.5", "10.1.0.9", 104, &rq, &ac);
        let mut inventory = Inventory::new();
        inventory.observe_flow(&flow, &flow.identify());
        let devices = inventory.devices(None);
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].class(), "imaging.ct");
        assert!(devices[0].guesses[0].evidence.contains("CT Image Storage"));
        assert_eq!(
            devices[0].device.dicom_ae_titles.iter().next().unwrap(),
            "CT_SCANNER"
        );
        assert_eq!(devices[1].class(), "clinical_it.pacs");
        let facts = inventory.facts("10.1.0.5".parse().unwrap(), None);
        assert_eq!(facts["device.class"], "imaging.ct");
        assert_eq!(facts["device.mac"], "00:09:fb:01:02:03");
    }

    #[test]
    fn hl7_pump_sender() {
        let msg = b"\x0bMSH|^~\\&|ALARIS_GW|ICU|EMR|HOSP|x||ORU^R01|1|P|2.6\r\x1c\r";
        let flow = flow_with("10.2.0.7", "10.2.0.1", 2575, msg, b"");
        let mut inventory = Inventory::new();
        inventory.observe_flow(&flow, &flow.identify());
        let devices = inventory.devices(None);
        assert_eq!(devices[1].device.ip, Some("10.2.0.7".parse().unwrap()));
        assert_eq!(devices[1].class(), "infusion.pump");
        assert_eq!(devices[0].class(), "clinical_it.interface_engine");
    }

    #[test]
    fn external_servers_are_not_devices() {
        let flow = flow_with(
            "10.0.0.1",
            "93.184.216.34",
            80,
            b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n",
            b"",
        );
        let mut inventory = Inventory::new();
        inventory.observe_flow(&flow, &flow.identify());
        let devices = inventory.devices(None);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].class(), "unknown");
        assert!(devices[0].device.http_user_agents.contains("x"));
    }

    #[test]
    fn internal_ranges() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860::8888", "100.128.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
