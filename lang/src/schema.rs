//! The fact schema: every fact a policy may test, its type, the events that
//! carry it, and the vocabularies (taxonomy, categories, enums) its values
//! come from. One table, documented in docs/language.md.

use std::collections::HashMap;
use std::fmt;

/// The events a rule can be `on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Flow,
    Dns,
    Url,
}

impl Event {
    pub const ALL: [Event; 3] = [Event::Flow, Event::Dns, Event::Url];

    pub fn name(self) -> &'static str {
        match self {
            Event::Flow => "flow",
            Event::Dns => "dns",
            Event::Url => "url",
        }
    }

    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of events, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events(u8);

impl Events {
    pub const ALL: Events = Events(0b111);
    pub const FLOW: Events = Events(0b001);
    pub const DNS: Events = Events(0b010);
    pub const URL: Events = Events(0b100);

    pub fn contains(self, event: Event) -> bool {
        self.0 & event.bit() != 0
    }

    pub fn with(self, event: Event) -> Events {
        Events(self.0 | event.bit())
    }

    pub fn union(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }

    pub fn names(self) -> Vec<&'static str> {
        Event::ALL
            .into_iter()
            .filter(|e| self.contains(*e))
            .map(Event::name)
            .collect()
    }
}

/// The closed vocabularies of enum-typed facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnumKind {
    Protocol,
    Transport,
    Direction,
    OsFamily,
    Mds2Answer,
    DnsType,
    Weekday,
}

impl EnumKind {
    pub fn name(self) -> &'static str {
        match self {
            EnumKind::Protocol => "protocol",
            EnumKind::Transport => "transport",
            EnumKind::Direction => "direction",
            EnumKind::OsFamily => "os family",
            EnumKind::Mds2Answer => "MDS2 answer",
            EnumKind::DnsType => "DNS type",
            EnumKind::Weekday => "weekday",
        }
    }

    pub fn variants(self) -> &'static [&'static str] {
        match self {
            EnumKind::Protocol => &[
                "dicom",
                "hl7",
                "fhir",
                "http",
                "tls",
                "dns",
                "dhcp",
                "smb",
                "astm",
                "poct1a",
                "sdc",
                "intellivue",
                "ssh",
                "rdp",
                "telnet",
                "ftp",
                "ntp",
                "syslog",
                "snmp",
                "mdns",
                "ssdp",
                "unknown",
            ],
            EnumKind::Transport => &["tcp", "udp"],
            EnumKind::Direction => &["inbound", "outbound", "internal"],
            EnumKind::OsFamily => &[
                "windows", "linux", "macos", "android", "ios", "vxworks", "qnx", "other",
            ],
            EnumKind::Mds2Answer => &["yes", "no", "n-a", "unknown"],
            EnumKind::DnsType => &[
                "a", "ns", "cname", "soa", "ptr", "mx", "txt", "aaaa", "srv", "naptr", "ds",
                "dnskey", "svcb", "https", "caa", "any", "other",
            ],
            EnumKind::Weekday => &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        }
    }

    pub fn index(self, name: &str) -> Option<u16> {
        let lower = name.to_ascii_lowercase();
        let lower = match (self, lower.as_str()) {
            (EnumKind::Mds2Answer, "na" | "n/a") => "n-a".to_owned(),
            // Record types without a name of their own (`type65535`, as
            // RFC 3597 writes them, or a bare number) are `other`.
            (EnumKind::DnsType, t)
                if !t.is_empty()
                    && t.trim_start_matches("type")
                        .chars()
                        .all(|c| c.is_ascii_digit())
                    && !self.variants().contains(&t) =>
            {
                "other".to_owned()
            }
            _ => lower,
        };
        self.variants()
            .iter()
            .position(|v| *v == lower)
            .map(|i| i as u16)
    }

    /// Whether `a..b` with `a > b` wraps around (Friday to Monday).
    pub fn is_cyclic(self) -> bool {
        self == EnumKind::Weekday
    }
}

/// The type of a fact or a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    /// Text compared exactly (AE titles, vendors, paths).
    Str,
    /// A DNS name: compared without case and without a trailing dot.
    Name,
    Ip,
    Enum(EnumKind),
    /// A class of the device taxonomy.
    Class,
    /// A category name (from the built-in list or `ward.toml`).
    Category,
    /// A dotted version, compared numerically part by part.
    Version,
    Set(Box<Type>),
}

impl Type {
    /// The type's name with `a` or `an`, for messages.
    pub fn with_article(&self) -> String {
        let name = self.to_string();
        let vowel = name.starts_with(['a', 'e', 'i', 'o', 'u', 'M']);
        format!("{} {name}", if vowel { "an" } else { "a" })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("integer"),
            Type::Str => f.write_str("string"),
            Type::Name => f.write_str("name"),
            Type::Ip => f.write_str("address"),
            Type::Enum(kind) => f.write_str(kind.name()),
            Type::Class => f.write_str("class"),
            Type::Category => f.write_str("category"),
            Type::Version => f.write_str("version"),
            Type::Set(elem) => write!(f, "set of {elem}"),
        }
    }
}

/// Index of a fact in the [`Schema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactId(pub u32);

#[derive(Debug, Clone)]
pub struct FactDef {
    pub name: String,
    pub ty: Type,
    pub events: Events,
    /// Whether the host always supplies it for its events. Facts that are
    /// not always supplied may be absent; see "absent facts" in the docs.
    pub always_present: bool,
    /// Inclusive bounds of integer facts.
    pub range: Option<(i64, i64)>,
    /// Longest possible string value, where the protocol fixes one.
    pub max_len: Option<usize>,
    pub doc: &'static str,
}

/// Index of a class in the [`Taxonomy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(pub u32);

/// The medical device taxonomy: dotted names, each covering its subtree.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    names: Vec<String>,
    parents: Vec<Option<ClassId>>,
    by_name: HashMap<String, ClassId>,
}

/// The built-in classes. `ward.toml` may add more below any of them.
pub const BUILTIN_CLASSES: &[&str] = &[
    "unknown",
    "imaging",
    "imaging.ct",
    "imaging.mri",
    "imaging.xray",
    "imaging.fluoroscopy",
    "imaging.mammography",
    "imaging.ultrasound",
    "imaging.nuclear",
    "imaging.nuclear.pet",
    "imaging.nuclear.spect",
    "imaging.angiography",
    "imaging.endoscopy",
    "imaging.video",
    "imaging.workstation",
    "imaging.contrast_injector",
    "infusion",
    "infusion.pump",
    "infusion.syringe",
    "infusion.pca",
    "infusion.server",
    "monitoring",
    "monitoring.bedside",
    "monitoring.central",
    "monitoring.telemetry",
    "monitoring.vital_signs",
    "monitoring.fetal",
    "therapy",
    "therapy.ventilator",
    "therapy.anesthesia",
    "therapy.dialysis",
    "therapy.defibrillator",
    "therapy.radiotherapy",
    "lab",
    "lab.analyzer",
    "lab.poct",
    "lab.middleware",
    "lab.blood_gas",
    "clinical_it",
    "clinical_it.pacs",
    "clinical_it.ris",
    "clinical_it.ehr",
    "clinical_it.interface_engine",
    "clinical_it.lis",
    "clinical_it.nurse_call",
    "clinical_it.workstation",
    "it",
    "it.workstation",
    "it.server",
    "it.printer",
    "it.phone",
    "it.network",
    "it.mobile",
    "building",
    "building.camera",
    "building.hvac",
    "building.access_control",
    "building.rtls",
];

impl Taxonomy {
    pub fn builtin() -> Self {
        let mut taxonomy = Taxonomy {
            names: Vec::new(),
            parents: Vec::new(),
            by_name: HashMap::new(),
        };
        for name in BUILTIN_CLASSES {
            // The built-in list is ordered parents first, so this cannot fail.
            let _ = taxonomy.add(name);
        }
        taxonomy
    }

    /// Adds a class under its parent; the parent must exist.
    pub fn add(&mut self, name: &str) -> Result<ClassId, String> {
        let name = name.to_ascii_lowercase();
        if let Some(id) = self.by_name.get(&name) {
            return Ok(*id);
        }
        let valid = !name.is_empty()
            && name.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !valid {
            return Err(format!(
                "`{name}` is not a class name: use dotted lowercase words"
            ));
        }
        let parent = match name.rsplit_once('.') {
            Some((parent, _)) => match self.by_name.get(parent) {
                Some(id) => Some(*id),
                None => return Err(format!("class `{name}` has no parent class `{parent}`")),
            },
            None => None,
        };
        let id = ClassId(self.names.len() as u32);
        self.names.push(name.clone());
        self.parents.push(parent);
        self.by_name.insert(name, id);
        Ok(id)
    }

    pub fn get(&self, name: &str) -> Option<ClassId> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn name(&self, id: ClassId) -> &str {
        self.names
            .get(id.0 as usize)
            .map_or("unknown", String::as_str)
    }

    pub fn parent(&self, id: ClassId) -> Option<ClassId> {
        self.parents.get(id.0 as usize).copied().flatten()
    }

    /// Whether `class` is `ancestor` or lies below it.
    pub fn is_within(&self, class: ClassId, ancestor: ClassId) -> bool {
        let mut at = Some(class);
        while let Some(id) = at {
            if id == ancestor {
                return true;
            }
            at = self.parent(id);
        }
        false
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Index of a category in the [`Categories`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryId(pub u32);

/// The built-in category names; `ward.toml` may add more.
pub const BUILTIN_CATEGORIES: &[&str] = &[
    "malware",
    "phishing",
    "ransomware",
    "botnet",
    "cryptojacking",
    "spam",
    "ads",
    "tracking",
    "cname-cloaking",
    "vpn",
    "proxy",
    "doh",
    "remote-control",
    "file-sharing",
    "social",
    "streaming",
    "gaming",
    "gambling",
    "adult",
    "newly-seen",
    "parked",
    "dynamic-dns",
    "vendor-cloud",
    "medical-partner",
];

#[derive(Debug, Clone)]
pub struct Categories {
    names: Vec<String>,
}

impl Categories {
    pub fn builtin() -> Self {
        Categories {
            names: BUILTIN_CATEGORIES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn add(&mut self, name: &str) -> Result<CategoryId, String> {
        let name = name.to_ascii_lowercase();
        if let Some(id) = self.get(&name) {
            return Ok(id);
        }
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphabetic());
        if !valid {
            return Err(format!(
                "`{name}` is not a category name: use lowercase letters, digits and hyphens"
            ));
        }
        self.names.push(name);
        Ok(CategoryId(self.names.len() as u32 - 1))
    }

    pub fn get(&self, name: &str) -> Option<CategoryId> {
        let lower = name.to_ascii_lowercase();
        self.names
            .iter()
            .position(|n| *n == lower)
            .map(|i| CategoryId(i as u32))
    }

    pub fn name(&self, id: CategoryId) -> &str {
        self.names.get(id.0 as usize).map_or("?", String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Question ids of the 2019 MDS2 form (HN 1-2019), in form order.
pub const MDS2_QUESTIONS: &[&str] = &[
    "DOC-1",
    "DOC-2",
    "DOC-3",
    "DOC-4",
    "DOC-5",
    "DOC-6",
    "DOC-7",
    "DOC-8",
    "DOC-9",
    "DOC-10",
    "DOC-11",
    "DOC-11.1",
    "DOC-11.2",
    "DOC-11.3",
    "DOC-11.4",
    "MPII-1",
    "MPII-2",
    "MPII-2.1",
    "MPII-2.2",
    "MPII-2.3",
    "MPII-2.4",
    "MPII-2.5",
    "MPII-2.6",
    "MPII-2.7",
    "MPII-2.8",
    "MPII-2.9",
    "MPII-3",
    "MPII-3.1",
    "MPII-3.2",
    "MPII-3.3",
    "MPII-3.4",
    "MPII-3.5",
    "MPII-3.6",
    "MPII-3.7",
    "MPII-3.8",
    "MPII-3.9",
    "MPII-3.10",
    "ALOF-1",
    "ALOF-2",
    "AUDT-1",
    "AUDT-1.1",
    "AUDT-1.2",
    "AUDT-2",
    "AUDT-2.1",
    "AUDT-2.2",
    "AUDT-2.3",
    "AUDT-2.4",
    "AUDT-2.5",
    "AUDT-2.6",
    "AUDT-2.7",
    "AUDT-2.8",
    "AUDT-2.8.1",
    "AUDT-2.8.2",
    "AUDT-2.9",
    "AUDT-2.10",
    "AUDT-2.11",
    "AUDT-3",
    "AUDT-4",
    "AUDT-4.1",
    "AUDT-4.1.1",
    "AUDT-5",
    "AUDT-5.1",
    "AUDT-5.2",
    "AUDT-5.3",
    "AUDT-5.4",
    "AUDT-6",
    "AUDT-7",
    "AUDT-7.1",
    "AUDT-8",
    "AUTH-1",
    "AUTH-1.1",
    "AUTH-1.2",
    "AUTH-1.3",
    "AUTH-2",
    "AUTH-3",
    "AUTH-4",
    "AUTH-5",
    "CSUP-1",
    "CSUP-2",
    "CSUP-2.1",
    "CSUP-2.2",
    "CSUP-2.3",
    "CSUP-2.4",
    "CSUP-3",
    "CSUP-3.1",
    "CSUP-3.2",
    "CSUP-3.3",
    "CSUP-3.4",
    "CSUP-4",
    "CSUP-4.1",
    "CSUP-4.2",
    "CSUP-4.3",
    "CSUP-4.4",
    "CSUP-5",
    "CSUP-5.1",
    "CSUP-5.2",
    "CSUP-5.3",
    "CSUP-5.4",
    "CSUP-6",
    "CSUP-6.1",
    "CSUP-6.2",
    "CSUP-6.3",
    "CSUP-6.4",
    "CSUP-7",
    "CSUP-8",
    "CSUP-9",
    "CSUP-10",
    "CSUP-10.1",
    "CSUP-11",
    "CSUP-11.1",
    "CSUP-11.2",
    "DIDT-1",
    "DIDT-1.1",
    "DTBK-1",
    "DTBK-2",
    "DTBK-3",
    "DTBK-4",
    "DTBK-5",
    "DTBK-6",
    "EMRG-1",
    "IGAU-1",
    "IGAU-2",
    "MLDP-1",
    "MLDP-2",
    "MLDP-2.1",
    "MLDP-2.2",
    "MLDP-2.3",
    "MLDP-2.4",
    "MLDP-2.5",
    "MLDP-2.6",
    "MLDP-2.7",
    "MLDP-2.8",
    "MLDP-3",
    "MLDP-4",
    "MLDP-5",
    "MLDP-5.1",
    "MLDP-5.2",
    "NAUT-1",
    "NAUT-2",
    "NAUT-2.1",
    "NAUT-3",
    "CONN-1",
    "CONN-1.1",
    "CONN-1.1.1",
    "CONN-1.1.2",
    "CONN-1.1.3",
    "CONN-1.1.4",
    "CONN-1.2",
    "CONN-1.2.1",
    "CONN-1.2.2",
    "CONN-1.2.3",
    "CONN-1.2.4",
    "CONN-2",
    "CONN-3",
    "CONN-4",
    "CONN-5",
    "CONN-6",
    "CONN-7",
    "CONN-7.1",
    "CONN-8",
    "PAUT-1",
    "PAUT-1.1",
    "PAUT-2",
    "PAUT-3",
    "PAUT-4",
    "PAUT-5",
    "PAUT-6",
    "PAUT-7",
    "PAUT-8",
    "PAUT-9",
    "PAUT-10",
    "PAUT-11",
    "PAUT-12",
    "PAUT-13",
    "PAUT-14",
    "PAUT-14.1",
    "PLOK-1",
    "PLOK-2",
    "PLOK-3",
    "PLOK-4",
    "RDMP-1",
    "RDMP-2",
    "RDMP-3",
    "RDMP-4",
    "SBOM-1",
    "SBOM-2",
    "SBOM-2.1",
    "SBOM-2.2",
    "SBOM-2.3",
    "SBOM-2.4",
    "SBOM-3",
    "SBOM-4",
    "SAHD-1",
    "SAHD-2",
    "SAHD-3",
    "SAHD-3.1",
    "SAHD-3.2",
    "SAHD-4",
    "SAHD-5",
    "SAHD-5.1",
    "SAHD-6",
    "SAHD-6.1",
    "SAHD-6.2",
    "SAHD-7",
    "SAHD-8",
    "SAHD-9",
    "SAHD-10",
    "SAHD-11",
    "SAHD-12",
    "SAHD-13",
    "SAHD-14",
    "SAHD-14.1",
    "SAHD-15",
    "SAHD-16",
    "SGUD-1",
    "SGUD-2",
    "SGUD-3",
    "SGUD-3.1",
    "SGUD-4",
    "STCF-1",
    "STCF-1.1",
    "STCF-1.2",
    "STCF-1.3",
    "STCF-2",
    "STCF-3",
    "STCF-4",
    "TXCF-1",
    "TXCF-2",
    "TXCF-2.1",
    "TXCF-3",
    "TXCF-4",
    "TXCF-5",
    "TXIG-1",
    "TXIG-2",
    "RMOT-1",
    "RMOT-1.1",
    "RMOT-1.2",
    "RMOT-1.3",
    "RMOT-2",
    "RMOT-3",
];

/// The schema of a bundle: the fixed facts plus the bundle's vocabularies.
#[derive(Debug, Clone)]
pub struct Schema {
    facts: Vec<FactDef>,
    by_name: HashMap<String, FactId>,
    /// The first segments of fact names.
    namespaces: Vec<String>,
    pub taxonomy: Taxonomy,
    pub categories: Categories,
}

/// The facts that describe one device, under `device.` and `peer.device.`.
fn device_facts(prefix: &str, events: Events, out: &mut Vec<FactDef>) {
    let fact = |name: &str, ty: Type, doc: &'static str| FactDef {
        name: format!("{prefix}.{name}"),
        ty,
        events,
        always_present: false,
        range: None,
        max_len: None,
        doc,
    };
    out.push(FactDef {
        always_present: true,
        ..fact(
            "class",
            Type::Class,
            "class in the device taxonomy; `unknown` until identified",
        )
    });
    out.push(fact(
        "mac",
        Type::Str,
        "hardware address, lowercase with colons",
    ));
    out.push(fact("vendor", Type::Str, "manufacturer"));
    out.push(fact("model", Type::Str, "model name"));
    out.push(fact(
        "hostname",
        Type::Name,
        "host name the device gave (DHCP) or was given",
    ));
    out.push(fact(
        "os.family",
        Type::Enum(EnumKind::OsFamily),
        "operating system family",
    ));
    out.push(fact(
        "os.version",
        Type::Version,
        "operating system version",
    ));
    out.push(fact(
        "os.supported",
        Type::Bool,
        "whether the OS still gets security updates",
    ));
    out.push(FactDef {
        range: Some((0, 100)),
        ..fact("risk", Type::Int, "risk score, 0 none to 100 critical")
    });
    out.push(fact(
        "tags",
        Type::Set(Box::new(Type::Str)),
        "free-form tags from the inventory",
    ));
    out.push(fact("zone", Type::Str, "network zone the device sits in"));
    for question in MDS2_QUESTIONS {
        out.push(fact(
            &format!("mds2.{question}"),
            Type::Enum(EnumKind::Mds2Answer),
            "answer to this question of the manufacturer's MDS2 form",
        ));
    }
}

fn builtin_facts() -> Vec<FactDef> {
    let mut out = Vec::new();
    let mut fact = |name: &str, ty: Type, events: Events, doc: &'static str| {
        out.push(FactDef {
            name: name.to_owned(),
            ty,
            events,
            always_present: false,
            range: None,
            max_len: None,
            doc,
        });
    };
    let flow = Events::FLOW;
    let strings = || Type::Set(Box::new(Type::Str));

    fact("device.ip", Type::Ip, Events::ALL, "the device's address");
    fact("peer.ip", Type::Ip, flow, "the other end's address");
    fact("peer.port", Type::Int, flow, "the other end's port");
    fact(
        "peer.internal",
        Type::Bool,
        flow,
        "whether the peer is inside the hospital network",
    );
    fact("peer.zone", Type::Str, flow, "network zone of the peer");
    fact(
        "peer.domain",
        Type::Name,
        flow,
        "the name the peer's address was resolved from",
    );
    fact(
        "peer.categories",
        Type::Set(Box::new(Type::Category)),
        flow,
        "categories of peer.domain",
    );
    fact(
        "flow.protocol",
        Type::Enum(EnumKind::Protocol),
        flow,
        "protocol recognised from the payload",
    );
    fact(
        "flow.transport",
        Type::Enum(EnumKind::Transport),
        flow,
        "tcp or udp",
    );
    fact(
        "flow.direction",
        Type::Enum(EnumKind::Direction),
        flow,
        "who opened the flow",
    );
    fact(
        "flow.encrypted",
        Type::Bool,
        flow,
        "whether the payload is encrypted",
    );
    fact(
        "dicom.calling_ae",
        Type::Str,
        flow,
        "calling AE title of the association",
    );
    fact(
        "dicom.called_ae",
        Type::Str,
        flow,
        "called AE title of the association",
    );
    fact(
        "dicom.sop_classes",
        strings(),
        flow,
        "abstract syntaxes (SOP class UIDs) proposed",
    );
    fact(
        "dicom.application_context",
        Type::Str,
        flow,
        "application context name UID",
    );
    fact(
        "dicom.implementation_class_uid",
        Type::Str,
        flow,
        "implementation class UID",
    );
    fact(
        "dicom.implementation_version",
        Type::Str,
        flow,
        "implementation version name",
    );
    fact(
        "hl7.message_type",
        Type::Str,
        flow,
        "message type and trigger, as `ORU^R01`",
    );
    fact("hl7.version", Type::Version, flow, "HL7 version (MSH-12)");
    fact("hl7.sending_application", Type::Str, flow, "MSH-3");
    fact("hl7.sending_facility", Type::Str, flow, "MSH-4");
    fact("hl7.receiving_application", Type::Str, flow, "MSH-5");
    fact("hl7.receiving_facility", Type::Str, flow, "MSH-6");
    fact(
        "fhir.resource",
        Type::Str,
        flow,
        "FHIR resource type in the request path",
    );
    fact(
        "tls.sni",
        Type::Name,
        flow,
        "server name of the TLS ClientHello",
    );
    fact("tls.alpn", strings(), flow, "ALPN protocols offered");
    fact(
        "tls.version",
        Type::Version,
        flow,
        "highest TLS version offered, as `1.3`",
    );
    fact(
        "tls.ja4",
        Type::Str,
        flow,
        "JA4 fingerprint of the ClientHello",
    );
    fact("http.host", Type::Name, Events(0b101), "Host header");
    fact("http.path", Type::Str, Events(0b101), "request path");
    fact(
        "http.method",
        Type::Str,
        Events(0b101),
        "request method, upper case",
    );
    fact(
        "http.user_agent",
        Type::Str,
        Events(0b101),
        "User-Agent header",
    );
    fact(
        "smb.version",
        Type::Version,
        flow,
        "SMB dialect, as `1`, `2.1` or `3.1.1`",
    );
    fact(
        "dicom.transfer_syntaxes",
        strings(),
        flow,
        "transfer syntax UIDs proposed",
    );
    fact(
        "dicom.association",
        Type::Str,
        flow,
        "outcome: `accepted`, `rejected` or `aborted`",
    );
    fact(
        "dicom.reject_reason",
        Type::Str,
        flow,
        "reason given in an A-ASSOCIATE-RJ",
    );
    fact(
        "hl7.control_id",
        Type::Str,
        flow,
        "message control id (MSH-10)",
    );
    fact(
        "hl7.ack_code",
        Type::Str,
        flow,
        "acknowledgement code (MSA-1), as `AA`, `AE`, `AR`",
    );
    fact(
        "hl7.device_ids",
        strings(),
        flow,
        "device identifiers from PRT and OBX segments",
    );
    fact(
        "tls.client_version",
        Type::Version,
        flow,
        "legacy version field of the ClientHello",
    );
    fact("http.status", Type::Int, flow, "response status code");
    fact(
        "http.server",
        Type::Str,
        flow,
        "Server header of the response",
    );
    fact(
        "smb.dialects",
        strings(),
        flow,
        "SMB dialects the client offered",
    );
    fact(
        "smb.encrypted",
        Type::Bool,
        flow,
        "whether the SMB session encrypts",
    );
    fact(
        "dhcp.message_type",
        Type::Str,
        flow,
        "DHCP message type, as `discover`",
    );
    fact(
        "dhcp.client_mac",
        Type::Str,
        flow,
        "client hardware address",
    );
    fact("dhcp.hostname", Type::Name, flow, "host name option (12)");
    fact(
        "dhcp.vendor_class",
        Type::Str,
        flow,
        "vendor class identifier (option 60)",
    );
    fact(
        "dhcp.client_id",
        Type::Str,
        flow,
        "client identifier (option 61)",
    );
    fact(
        "dhcp.fingerprint",
        Type::Str,
        flow,
        "parameter request list (option 55), comma-separated",
    );
    fact(
        "dhcp.requested_ip",
        Type::Ip,
        flow,
        "requested address (option 50)",
    );
    fact("dhcp.fqdn", Type::Name, flow, "client FQDN (option 81)");
    fact(
        "ssh.client_banner",
        Type::Str,
        flow,
        "SSH client identification string",
    );
    fact(
        "ssh.server_banner",
        Type::Str,
        flow,
        "SSH server identification string",
    );
    fact(
        "rdp.cookie",
        Type::Str,
        flow,
        "RDP routing cookie (`mstshash`)",
    );
    fact(
        "rdp.requested_protocols",
        Type::Int,
        flow,
        "RDP requested protocols bit mask",
    );
    fact(
        "rdp.encrypted",
        Type::Bool,
        flow,
        "whether the RDP session negotiated TLS or CredSSP",
    );
    fact("ftp.banner", Type::Str, flow, "FTP server greeting");
    fact("ftp.user", Type::Str, flow, "user name sent with USER");
    fact("ntp.version", Type::Int, flow, "NTP version");
    fact("ntp.mode", Type::Str, flow, "NTP mode, as `client`");
    fact("syslog.facility", Type::Int, flow, "syslog facility");
    fact("syslog.severity", Type::Int, flow, "syslog severity");
    fact(
        "snmp.version",
        Type::Str,
        flow,
        "SNMP version, as `1` or `2c`",
    );
    fact("snmp.pdu", Type::Str, flow, "SNMP PDU type");
    fact(
        "snmp.default_community",
        Type::Bool,
        flow,
        "whether a default community (`public`, `private`) was used",
    );
    fact("ssdp.method", Type::Str, flow, "SSDP method");
    fact(
        "ssdp.target",
        Type::Str,
        flow,
        "search target or notification type",
    );
    fact("ssdp.server", Type::Str, flow, "SERVER header");
    fact("ssdp.user_agent", Type::Str, flow, "USER-AGENT header");
    fact(
        "sdc.action",
        Type::Str,
        flow,
        "WS-Discovery action of IEEE 11073 SDC",
    );
    fact(
        "intellivue.message",
        Type::Str,
        flow,
        "IntelliVue data export message type",
    );
    fact(
        "astm.sender",
        Type::Str,
        flow,
        "sender name of the ASTM header record",
    );
    fact(
        "astm.sender_version",
        Type::Str,
        flow,
        "sender software version of the ASTM header",
    );
    fact("poct1a.message", Type::Str, flow, "POCT1-A message type");
    fact("poct1a.device_id", Type::Str, flow, "POCT1-A device id");
    fact("poct1a.vendor_id", Type::Str, flow, "POCT1-A vendor id");
    fact("poct1a.model_id", Type::Str, flow, "POCT1-A model id");
    fact("poct1a.serial_id", Type::Str, flow, "POCT1-A serial number");
    fact("dns.qname", Type::Name, Events::DNS, "the name asked for");
    fact(
        "dns.qtype",
        Type::Enum(EnumKind::DnsType),
        Events::DNS,
        "the record type asked for",
    );
    fact(
        "dns.categories",
        Type::Set(Box::new(Type::Category)),
        Events::DNS,
        "categories of the name",
    );
    fact(
        "dns.cnames",
        Type::Set(Box::new(Type::Name)),
        Events::DNS,
        "CNAME targets in the answer",
    );
    fact(
        "dns.answers",
        Type::Set(Box::new(Type::Ip)),
        Events::DNS,
        "addresses in the answer",
    );
    fact("url.host", Type::Name, Events::URL, "host of the URL");
    fact("url.path", Type::Str, Events::URL, "path of the URL");
    fact(
        "url.categories",
        Type::Set(Box::new(Type::Category)),
        Events::URL,
        "categories of the host",
    );
    fact(
        "time.hour",
        Type::Int,
        Events::ALL,
        "hour of the day, gateway local time",
    );
    fact(
        "time.weekday",
        Type::Enum(EnumKind::Weekday),
        Events::ALL,
        "day of the week",
    );

    device_facts("device", Events::ALL, &mut out);
    device_facts("peer.device", Events::FLOW, &mut out);

    for def in &mut out {
        match def.name.as_str() {
            "device.ip" | "time.hour" | "time.weekday" | "dns.qname" | "dns.qtype"
            | "dns.categories" | "url.host" | "url.path" | "url.categories" => {
                def.always_present = true;
            }
            "peer.ip" | "peer.port" | "peer.internal" | "flow.protocol" | "flow.transport"
            | "flow.direction" => def.always_present = true,
            _ => {}
        }
        match def.name.as_str() {
            "time.hour" => def.range = Some((0, 23)),
            "peer.port" => def.range = Some((0, 65535)),
            "dicom.calling_ae" | "dicom.called_ae" => def.max_len = Some(16),
            "dns.qname" | "url.host" | "tls.sni" | "http.host" | "peer.domain" => {
                def.max_len = Some(253);
            }
            _ => {}
        }
    }
    out
}

impl Default for Schema {
    fn default() -> Self {
        Schema::new(Taxonomy::builtin(), Categories::builtin())
    }
}

impl Schema {
    pub fn new(taxonomy: Taxonomy, categories: Categories) -> Self {
        let facts = builtin_facts();
        let by_name = facts
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), FactId(i as u32)))
            .collect();
        let mut namespaces: Vec<String> = facts
            .iter()
            .filter_map(|f| f.name.split('.').next())
            .map(str::to_owned)
            .collect();
        namespaces.sort();
        namespaces.dedup();
        Schema {
            facts,
            by_name,
            namespaces,
            taxonomy,
            categories,
        }
    }

    /// Finds a fact by its name; MDS2 ids are matched without case.
    pub fn fact(&self, name: &str) -> Option<FactId> {
        if let Some(id) = self.by_name.get(name) {
            return Some(*id);
        }
        let (prefix, question) = name.split_once(".mds2.")?;
        self.by_name
            .get(&format!("{prefix}.mds2.{}", question.to_ascii_uppercase()))
            .copied()
    }

    pub fn def(&self, id: FactId) -> &FactDef {
        // FactIds are only made by this schema, from indexes into `facts`.
        #[allow(
            clippy::indexing_slicing,
            reason = "FactIds index the table they came from"
        )]
        &self.facts[id.0 as usize]
    }

    pub fn facts(&self) -> impl Iterator<Item = (FactId, &FactDef)> {
        self.facts
            .iter()
            .enumerate()
            .map(|(i, f)| (FactId(i as u32), f))
    }

    pub fn len(&self) -> usize {
        self.facts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// The namespaces facts live under (`device`, `peer`, `dns`, ...).
    pub fn is_namespace(&self, word: &str) -> bool {
        self.namespaces.iter().any(|n| n == word)
    }
}

/// The fact table of docs/language.md, generated so that the reference can
/// never drift from the schema (a test compares them).
pub fn fact_table_markdown(schema: &Schema) -> String {
    let mut out = String::from(
        "| fact | type | events | always present | notes |\n| --- | --- | --- | --- | --- |\n",
    );
    let mut mds2_done = [false, false];
    for (_, def) in schema.facts() {
        let (name, doc) = match def.name.split_once(".mds2.") {
            Some((prefix, _)) => {
                let slot = usize::from(prefix != "device");
                if mds2_done[slot] {
                    continue;
                }
                mds2_done[slot] = true;
                (
                    format!("{prefix}.mds2.<ID>"),
                    "answer to MDS2 question ID (`AUTH-1`, `CONN-1.1`, ...); every id of the 2019 form",
                )
            }
            None => (def.name.clone(), def.doc),
        };
        let mut notes = doc.to_owned();
        if let Some((lo, hi)) = def.range {
            notes.push_str(&format!("; {lo} to {hi}"));
        }
        if let Some(max) = def.max_len {
            notes.push_str(&format!("; at most {max} characters"));
        }
        let ty = match &def.ty {
            Type::Enum(kind) => format!("{} (`{}`)", kind.name(), kind.variants().join("`, `")),
            other => other.to_string(),
        };
        out.push_str(&format!(
            "| `{name}` | {ty} | {} | {} | {notes} |\n",
            def.events.names().join(", "),
            if def.always_present { "yes" } else { "no" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_subtrees() {
        let t = Taxonomy::builtin();
        let ct = t.get("imaging.ct").unwrap();
        let imaging = t.get("imaging").unwrap();
        let lab = t.get("lab").unwrap();
        assert!(t.is_within(ct, imaging));
        assert!(t.is_within(ct, ct));
        assert!(!t.is_within(imaging, ct));
        assert!(!t.is_within(ct, lab));
    }

    #[test]
    fn taxonomy_extensions_need_a_parent() {
        let mut t = Taxonomy::builtin();
        assert!(t.add("imaging.ct.photon_counting").is_ok());
        assert!(t.add("robots.surgical").is_err());
        assert!(t.add("Bad Name").is_err());
    }

    #[test]
    fn every_mds2_question_is_a_fact() {
        let schema = Schema::default();
        assert_eq!(MDS2_QUESTIONS.len(), 240);
        for q in MDS2_QUESTIONS {
            assert!(schema.fact(&format!("device.mds2.{q}")).is_some(), "{q}");
        }
        assert_eq!(
            schema.fact("device.mds2.auth-1.1"),
            schema.fact("device.mds2.AUTH-1.1")
        );
    }

    #[test]
    fn unnamed_dns_types_are_other() {
        let other = EnumKind::DnsType.index("other");
        assert_eq!(EnumKind::DnsType.index("TYPE65535"), other);
        assert_eq!(EnumKind::DnsType.index("type0"), other);
        assert_eq!(EnumKind::DnsType.index("99"), other);
        assert_eq!(EnumKind::DnsType.index("AAAA"), Some(7));
        assert_eq!(EnumKind::DnsType.index("typo"), None);
    }

    #[test]
    fn mds2_answers_accept_common_spellings() {
        assert_eq!(EnumKind::Mds2Answer.index("N/A"), Some(2));
        assert_eq!(EnumKind::Mds2Answer.index("Yes"), Some(0));
    }
}
