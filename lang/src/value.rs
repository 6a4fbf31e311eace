//! Values of facts and literals, and the facts of one event.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::schema::{CategoryId, ClassId, EnumKind, Event, FactId, Schema, Type};

/// A dotted version, compared part by part as numbers; missing parts are
/// zero, so `10` equals `10.0`.
#[derive(Debug, Clone)]
pub struct Version(pub Vec<u64>);

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches(['v', 'V']);
        if text.is_empty() {
            return None;
        }
        text.split('.')
            .map(|part| part.parse().ok())
            .collect::<Option<Vec<u64>>>()
            .map(Version)
    }

    fn part(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.0.len().max(other.0.len());
        (0..len)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    /// Consistent with equality: trailing zero parts do not count.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let significant = self
            .0
            .iter()
            .rposition(|part| *part != 0)
            .map_or(0, |i| i + 1);
        self.0.get(..significant).unwrap_or_default().hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// An address with a prefix length: a single address has the full length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("`{addr_text}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`/{p}` is not a prefix length (0 to {max})")),
            },
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }

    /// Whether host bits are set below the prefix (`10.0.0.1/8`).
    pub fn has_host_bits(&self) -> bool {
        self.network() != self.addr
    }

    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// Whether the network holds `ip`; an IPv4-mapped IPv6 address counts as
    /// its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                IpNet {
                    addr: ip,
                    prefix: self.prefix,
                }
                .network()
                    == self.network()
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Str(String),
    Ip(IpAddr),
    Enum(EnumKind, u16),
    Class(ClassId),
    Category(CategoryId),
    Version(Version),
    Set(Vec<Value>),
}

impl Value {
    /// Renders the value as the language writes it.
    pub fn render(&self, schema: &Schema) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Str(s) => format!("{s:?}"),
            Value::Ip(ip) => ip.to_string(),
            Value::Enum(kind, i) => kind
                .variants()
                .get(*i as usize)
                .copied()
                .unwrap_or("?")
                .to_owned(),
            Value::Class(c) => schema.taxonomy.name(*c).to_owned(),
            Value::Category(c) => schema.categories.name(*c).to_owned(),
            Value::Version(v) => format!("\"{v}\""),
            Value::Set(items) => {
                let items: Vec<String> = items.iter().map(|v| v.render(schema)).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }

    pub fn to_json(&self, schema: &Schema) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::Int(n) => J::from(*n),
            Value::Str(s) => J::String(s.clone()),
            Value::Ip(ip) => J::String(ip.to_string()),
            Value::Enum(kind, i) => J::String(
                kind.variants()
                    .get(*i as usize)
                    .copied()
                    .unwrap_or("?")
                    .to_owned(),
            ),
            Value::Class(c) => J::String(schema.taxonomy.name(*c).to_owned()),
            Value::Category(c) => J::String(schema.categories.name(*c).to_owned()),
            Value::Version(v) => J::String(v.to_string()),
            Value::Set(items) => J::Array(items.iter().map(|v| v.to_json(schema)).collect()),
        }
    }
}

/// Normalises a DNS name for comparison: lower case, no trailing dot.
pub fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Parses a JSON value as a value of type `ty`.
pub fn from_json(schema: &Schema, ty: &Type, json: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    let text = json.as_str();
    match (ty, json) {
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Int, J::Number(n)) => n
            .as_i64()
            .map(Value::Int)
            .ok_or_else(|| format!("`{n}` is not an integer")),
        (Type::Str, J::String(s)) => Ok(Value::Str(s.clone())),
        (Type::Name, J::String(s)) => Ok(Value::Str(normalize_name(s))),
        (Type::Ip, J::String(s)) => s
            .trim()
            .parse::<IpAddr>()
            .map(|ip| Value::Ip(ip.to_canonical()))
            .map_err(|_| format!("`{s}` is not an IP address")),
        (Type::Enum(kind), J::String(s)) => {
            kind.index(s).map(|i| Value::Enum(*kind, i)).ok_or_else(|| {
                format!(
                    "`{s}` is not {}; expected one of {}",
                    Type::Enum(*kind).with_article(),
                    kind.variants().join(", ")
                )
            })
        }
        (Type::Class, J::String(s)) => class_value(schema, s),
        (Type::Category, J::String(s)) => schema
            .categories
            .get(s)
            .map(Value::Category)
            .ok_or_else(|| format!("`{s}` is not a known category")),
        (Type::Version, J::String(s)) => Version::parse(s)
            .map(Value::Version)
            .ok_or_else(|| format!("`{s}` is not a version")),
        // A JSON number such as 6.10 is the float 6.1: only whole numbers
        // are versions as numbers; dotted versions must be strings.
        (Type::Version, J::Number(n)) => match n.as_u64() {
            Some(whole) => Ok(Value::Version(Version(vec![whole]))),
            None => Err(format!(
                "give versions as strings, as \"{n}\"; as a number `{n}` may lose digits"
            )),
        },
        (Type::Set(elem), J::Array(items)) => {
            let mut values = items
                .iter()
                .map(|item| from_json(schema, elem, item))
                .collect::<Result<Vec<_>, _>>()?;
            dedup(&mut values);
            Ok(Value::Set(values))
        }
        _ => Err(match text {
            Some(s) => format!("expected {}, found the string `{s}`", ty.with_article()),
            None => format!("expected {}, found `{json}`", ty.with_article()),
        }),
    }
}

/// Refuses values the fact cannot take: integers outside its range (an
/// hour of 99, a port of 70000) and text longer than its protocol allows
/// (an AE title of 17 characters). They would make tests and decisions
/// turn on impossible inputs.
pub(crate) fn within_range(def: &crate::schema::FactDef, value: Value) -> Result<Value, String> {
    match (&value, def.range, def.max_len) {
        (Value::Int(n), Some((lo, hi)), _) if *n < lo || *n > hi => {
            Err(format!("`{n}` is out of range: it goes from {lo} to {hi}"))
        }
        (Value::Str(text), _, Some(max)) if text.chars().count() > max => Err(format!(
            "`{text}` is longer than the {max} characters it can have"
        )),
        _ => Ok(value),
    }
}

/// A class name, falling back to its nearest known ancestor so that a
/// finer class than the bundle knows (`imaging.ct.spectral`) still counts
/// as `imaging.ct`.
pub fn class_value(schema: &Schema, name: &str) -> Result<Value, String> {
    let mut at = name.trim().to_ascii_lowercase();
    loop {
        if let Some(id) = schema.taxonomy.get(&at) {
            return Ok(Value::Class(id));
        }
        match at.rsplit_once('.') {
            Some((parent, _)) => at = parent.to_owned(),
            None => return Err(format!("`{name}` is not a class of the device taxonomy")),
        }
    }
}

/// Removes repeated values, keeping the first of each, in linear time.
pub(crate) fn dedup(values: &mut Vec<Value>) {
    let mut seen = std::collections::HashSet::with_capacity(values.len());
    values.retain(|v| seen.insert(v.clone()));
}

/// The facts of one event: which event, and the facts the host supplied.
/// A fact not in the map is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub event: Event,
    pub values: BTreeMap<FactId, Value>,
}

/// Why a facts document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("the input must be one JSON object")]
    NotAnObject,
    #[error("the input has no `event` field; add `\"event\": \"flow\"`, `\"dns\"` or `\"url\"`")]
    NoEvent,
    #[error("`{0}` is not an event; expected `flow`, `dns` or `url`")]
    BadEvent(String),
    #[error("unknown fact `{name}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownFact {
        name: String,
        suggestion: Option<String>,
    },
    #[error("fact `{name}` is not available on `{event}` events")]
    WrongEvent { name: String, event: Event },
    #[error("fact `{name}`: {message}")]
    BadValue { name: String, message: String },
}

impl Facts {
    pub fn new(event: Event) -> Self {
        Facts {
            event,
            values: BTreeMap::new(),
        }
    }

    pub fn get(&self, fact: FactId) -> Option<&Value> {
        self.values.get(&fact)
    }

    /// The facts the host always supplies for this event that are missing:
    /// tests of them are false, which the checker does not warn about.
    pub fn missing_always_present<'s>(&self, schema: &'s Schema) -> Vec<&'s str> {
        schema
            .facts()
            .filter(|(id, def)| {
                def.always_present
                    && def.events.contains(self.event)
                    && !self.values.contains_key(id)
            })
            .map(|(_, def)| def.name.as_str())
            .collect()
    }

    /// Reads facts from a JSON object: `event` plus fact names as keys.
    /// `null` means absent. Every problem is reported, not just the first.
    pub fn from_json(schema: &Schema, json: &serde_json::Value) -> Result<Facts, Vec<FactsError>> {
        let object = json
            .as_object()
            .ok_or_else(|| vec![FactsError::NotAnObject])?;
        let event = match object.get("event") {
            Some(serde_json::Value::String(name)) => {
                Event::from_name(name).ok_or_else(|| vec![FactsError::BadEvent(name.clone())])?
            }
            Some(other) => return Err(vec![FactsError::BadEvent(other.to_string())]),
            None => return Err(vec![FactsError::NoEvent]),
        };
        let mut facts = Facts::new(event);
        let mut errors = Vec::new();
        for (name, json) in object {
            if name == "event" || json.is_null() {
                continue;
            }
            let Some(id) = schema.fact(name) else {
                let names = schema.facts().map(|(_, def)| def.name.as_str());
                let suggestion = crate::diag::did_you_mean(name, names).map(str::to_owned);
                errors.push(FactsError::UnknownFact {
                    name: name.clone(),
                    suggestion,
                });
                continue;
            };
            let def = schema.def(id);
            if !def.events.contains(event) {
                errors.push(FactsError::WrongEvent {
                    name: name.clone(),
                    event,
                });
                continue;
            }
            match from_json(schema, &def.ty, json).and_then(|v| within_range(def, v)) {
                Ok(value) => {
                    facts.values.insert(id, value);
                }
                Err(message) => errors.push(FactsError::BadValue {
                    name: name.clone(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(facts)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("10.0.19041") > v("6.1"));
        assert!(v("2.10") > v("2.9"));
        assert_eq!(v("10"), v("10.0"));
        assert!(Version::parse("ten").is_none());
    }

    #[test]
    fn cidrs_contain_their_hosts() {
        let net = IpNet::parse("10.20.0.0/28").unwrap();
        assert!(net.contains("10.20.0.15".parse().unwrap()));
        assert!(!net.contains("10.20.0.16".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.1/8").unwrap().has_host_bits());
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn facts_from_json_report_every_problem() {
        let schema = Schema::default();
        let json = serde_json::json!({
            "event": "flow",
            "device.clas": "imaging.ct",
            "dns.qname": "example.com",
            "peer.port": "eighty",
        });
        let errors = Facts::from_json(&schema, &json).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0]
                .to_string()
                .contains("did you mean `device.class`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn input_values_are_validated() {
        let schema = Schema::default();
        let facts = |json| Facts::from_json(&schema, &json);
        // Regressions: out-of-range integers, float versions, mapped IPv6.
        assert!(facts(serde_json::json!({"event": "flow", "time.hour": 99})).is_err());
        assert!(facts(serde_json::json!({"event": "flow", "peer.port": -5})).is_err());
        assert!(facts(serde_json::json!({"event": "flow", "device.risk": 500})).is_err());
        assert!(facts(serde_json::json!({"event": "flow", "smb.version": 6.10})).is_err());
        let ok = facts(
            serde_json::json!({"event": "flow", "smb.version": 3, "peer.ip": "::ffff:10.20.0.10"}),
        )
        .unwrap();
        let ip = schema.fact("peer.ip").unwrap();
        assert_eq!(ok.get(ip), Some(&Value::Ip("10.20.0.10".parse().unwrap())));
        assert!(ok.missing_always_present(&schema).contains(&"time.hour"));
    }

    #[test]
    fn finer_classes_fall_back_to_their_ancestor() {
        let schema = Schema::default();
        let ct = schema.taxonomy.get("imaging.ct").unwrap();
        assert_eq!(
            class_value(&schema, "imaging.ct.spectral"),
            Ok(Value::Class(ct))
        );
        assert!(class_value(&schema, "spaceship").is_err());
    }
}
