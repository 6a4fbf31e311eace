//! Local zones: the hospital's internal names, from zone files in RFC 1035
//! master format (read by hickory-proto's parser), answered by Ward itself
//! with the AA flag. A name inside a zone is answered from the zone only:
//! what the zone lacks is NXDOMAIN or NODATA with the zone's SOA, never a
//! question for the upstreams (so internal names do not leak out).
//!
//! Not supported: wildcard records and delegations inside a zone (an `NS`
//! record below the apex is answered as data).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_proto::serialize::txt::Parser;

use crate::wire;

/// The largest zone file read.
const MAX_ZONE_BYTES: u64 = 64 * 1024 * 1024;
/// CNAME chains followed inside the zones.
const MAX_CHAIN: usize = 8;

/// A local zone's answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneAnswer {
    /// The message, its question the query's own bytes.
    pub message: Vec<u8>,
    /// The CNAME targets in the answer, in order, in Ward's name form.
    pub cnames: Vec<String>,
    /// The addresses in the answer.
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, Default)]
pub struct Zones {
    /// Zone apex (Ward's name form) to its SOA record.
    apexes: HashMap<String, Record>,
    /// Name to its records by type.
    names: HashMap<String, HashMap<u16, Vec<Record>>>,
    /// Names that exist only because names below them do.
    empty_non_terminals: std::collections::HashSet<String>,
}

/// Ward's name form (`Query::name`): lowercase, no trailing dot, odd bytes
/// as `\DDD`, so zone names compare with the names asked.
fn text_name(name: &hickory_proto::rr::Name) -> String {
    wire::name_from_labels(name.iter())
}

/// The line a zone file's parse error is on. hickory's parser does not
/// say, so the file is parsed again cut after each line where no
/// parenthesis is open (a record may span lines inside them), halving the
/// range each time: the first cut that fails ends with the bad line. Only
/// on the error path, and zone files are small. `None` when every cut
/// parses (an error only the whole file has).
fn line_of_error(text: &str, path: &Path) -> Option<usize> {
    // Byte offsets just after each line at which no parenthesis is open.
    let mut cuts = Vec::new();
    let mut depth = 0i32;
    let mut opened = 0;
    let mut at = 0;
    for (index, text_line) in text.split_inclusive('\n').enumerate() {
        at += text_line.len();
        let line = index + 1;
        let mut quoted = false;
        for c in text_line.chars() {
            match c {
                '"' => quoted = !quoted,
                ';' if !quoted => break,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                _ => {}
            }
        }
        if depth <= 0 {
            cuts.push((line, at));
        } else if cuts.last().is_some_and(|&(last, _)| last == line - 1) || line == 1 {
            // The line a still-open parenthesis was opened on.
            opened = line;
        }
    }
    let fails = |end: usize| {
        let prefix = text.get(..end).unwrap_or(text);
        Parser::new(prefix, Some(path.to_owned()), None)
            .parse()
            .is_err()
    };
    // The first cut that fails.
    let (mut low, mut high) = (0, cuts.len());
    while low < high {
        let mid = low + (high - low) / 2;
        if cuts.get(mid).is_some_and(|&(_, end)| fails(end)) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    match cuts.get(low) {
        Some(&(line, _)) => Some(line),
        // Every cut parses and a parenthesis is still open at the end.
        None => (depth > 0).then_some(opened),
    }
}

impl Zones {
    pub fn is_empty(&self) -> bool {
        self.apexes.is_empty()
    }

    pub fn load(&mut self, path: &Path) -> Result<(), String> {
        let text = crate::bundle::read_text(path, MAX_ZONE_BYTES)?;
        let (origin, records) = Parser::new(text.as_str(), Some(path.to_owned()), None)
            .parse()
            .map_err(|e| match line_of_error(&text, path) {
                Some(line) => format!("line {line}: {e}"),
                None => e.to_string(),
            })?;
        let apex = text_name(&origin);
        let mut soa = None;
        for (key, set) in records {
            let owner = text_name(set.name());
            if !(owner == apex || apex.is_empty() || owner.ends_with(&format!(".{apex}"))) {
                return Err(format!("`{owner}` is outside the zone `{apex}`"));
            }
            for record in set.records_without_rrsigs() {
                if key.record_type == RecordType::SOA && owner == apex {
                    soa = Some(record.clone());
                }
                self.names
                    .entry(owner.clone())
                    .or_default()
                    .entry(u16::from(record.record_type()))
                    .or_default()
                    .push(record.clone());
            }
            let mut parent = owner.as_str();
            while parent != apex {
                match parent.split_once('.') {
                    Some((_, rest)) => {
                        parent = rest;
                        self.empty_non_terminals.insert(parent.to_owned());
                    }
                    None => break,
                }
            }
        }
        // RFC 1034 3.6.2: a name with a CNAME has no other data (DNSSEC
        // records aside); a zone that breaks this answers differently by
        // question type, so it is refused.
        for (owner, types) in &self.names {
            if types.contains_key(&5) && types.keys().any(|t| !matches!(*t, 5 | 46 | 47)) {
                return Err(format!(
                    "`{owner}` has a CNAME and other records; a name with a CNAME has no \
                     other data (RFC 1034 3.6.2)"
                ));
            }
        }
        let soa = soa.ok_or_else(|| format!("the zone `{apex}` has no SOA record at its apex"))?;
        if self.apexes.insert(apex.clone(), soa).is_some() {
            return Err(format!("the zone `{apex}` is loaded twice"));
        }
        Ok(())
    }

    /// The zone a name is in: its apex, longest first.
    fn zone_of(&self, name: &str) -> Option<&str> {
        let mut at = name;
        loop {
            if let Some((apex, _)) = self.apexes.get_key_value(at) {
                return Some(apex);
            }
            if at.is_empty() {
                return None;
            }
            at = at.split_once('.').map_or("", |(_, rest)| rest);
        }
    }

    /// The answer for a name inside a local zone, as a message whose
    /// question is `question` (the query's own bytes), or `None` when the
    /// name is in no local zone.
    pub fn answer(&self, name: &str, qtype: u16, question: &[u8]) -> Option<ZoneAnswer> {
        let apex = self.zone_of(name)?;
        let soa = self.apexes.get(apex)?;
        let mut answers: Vec<&Record> = Vec::new();
        let mut at = name.to_owned();
        let mut rcode = wire::RCODE_NOERROR;
        let mut negative = false;
        for _ in 0..MAX_CHAIN {
            let records = self.names.get(&at);
            if let Some(found) = records.and_then(|r| r.get(&qtype)) {
                answers.extend(found);
                break;
            }
            if qtype != wire::TYPE_CNAME
                && let Some(cname) = records.and_then(|r| r.get(&wire::TYPE_CNAME))
                && let Some(record) = cname.first()
            {
                answers.push(record);
                let RData::CNAME(target) = &record.data else {
                    break;
                };
                at = text_name(&target.0);
                if self.zone_of(&at) != Some(apex) {
                    break;
                }
                continue;
            }
            if records.is_none() && !self.empty_non_terminals.contains(&at) {
                rcode = wire::RCODE_NXDOMAIN;
            }
            negative = true;
            break;
        }
        let mut cnames = Vec::new();
        let mut addresses = Vec::new();
        for record in &answers {
            match &record.data {
                RData::CNAME(target) => cnames.push(text_name(&target.0)),
                RData::A(a) => addresses.push(IpAddr::V4(a.0)),
                RData::AAAA(a) => addresses.push(IpAddr::V6(a.0)),
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&[0, 0, 0x84, rcode, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(question);
        let mut count = 0u16;
        for record in &answers {
            if emit(record, &mut out) {
                count += 1;
            }
        }
        set_count(&mut out, 6, count);
        if negative {
            // RFC 2308: the SOA's TTL is the smaller of its own and its
            // minimum field.
            let mut soa = soa.clone();
            if let RData::SOA(data) = &soa.data {
                soa.ttl = soa.ttl.min(data.minimum);
            }
            if emit(&soa, &mut out) {
                set_count(&mut out, 8, 1);
            }
        }
        Some(ZoneAnswer {
            message: out,
            cnames,
            addresses,
        })
    }
}

fn set_count(out: &mut [u8], at: usize, count: u16) {
    if let Some(field) = out.get_mut(at..at + 2) {
        field.copy_from_slice(&count.to_be_bytes());
    }
}

/// Appends a record without name compression (so it can sit after any
/// question); false when hickory cannot encode it.
fn emit(record: &Record, out: &mut Vec<u8>) -> bool {
    let mut bytes = Vec::with_capacity(64);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_canonical_form(true);
    if record.emit(&mut encoder).is_err() {
        return false;
    }
    out.extend_from_slice(&bytes);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "$ORIGIN hospital.example.\n$TTL 300\n\
        @ IN SOA ns.hospital.example. admin.hospital.example. 1 3600 600 86400 120\n\
        pacs IN A 10.1.2.3\n\
        www IN CNAME pacs\n\
        a.b.c IN TXT \"deep\"\n";

    fn zones() -> Zones {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hospital.zone");
        std::fs::write(&path, ZONE).unwrap();
        let mut zones = Zones::default();
        zones.load(&path).unwrap();
        zones
    }

    fn question(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = wire::name_to_wire(name).unwrap();
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    fn counts(m: &[u8]) -> (u8, u16, u16) {
        (
            m[3] & 0x0F,
            u16::from_be_bytes([m[6], m[7]]),
            u16::from_be_bytes([m[8], m[9]]),
        )
    }

    #[test]
    fn answers_names_cnames_and_negatives() {
        let z = zones();
        let q = |n: &str, t| z.answer(n, t, &question(n, t)).unwrap().message;
        assert_eq!(counts(&q("pacs.hospital.example", 1)), (0, 1, 0));
        assert_eq!(counts(&q("www.hospital.example", 1)), (0, 2, 0));
        assert_eq!(counts(&q("pacs.hospital.example", 28)), (0, 0, 1), "NODATA");
        assert_eq!(
            counts(&q("nope.hospital.example", 1)),
            (3, 0, 1),
            "NXDOMAIN"
        );
        assert_eq!(
            counts(&q("b.c.hospital.example", 1)),
            (0, 0, 1),
            "empty non-terminal"
        );
        assert!(
            z.answer("example.com", 1, &question("example.com", 1))
                .is_none()
        );
        let answer = q("pacs.hospital.example", 1);
        assert!(wire::ttl_offsets(&answer).is_some());

        // What the policy decides the answer with.
        let www = z
            .answer(
                "www.hospital.example",
                1,
                &question("www.hospital.example", 1),
            )
            .unwrap();
        assert_eq!(www.cnames, vec!["pacs.hospital.example".to_owned()]);
        assert_eq!(www.addresses, vec![IpAddr::from([10, 1, 2, 3])]);
    }

    #[test]
    fn a_zone_without_soa_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.zone");
        std::fs::write(&path, "$ORIGIN x.example.\nwww 300 IN A 10.0.0.1\n").unwrap();
        let err = Zones::default().load(&path).unwrap_err();
        assert!(err.contains("no SOA"), "{err}");
        std::fs::write(&path, "this is not a zone (").unwrap();
        assert!(Zones::default().load(&path).is_err());
    }

    /// Regression: zone file errors had no line (hickory's parser does
    /// not give one), so `record type string unknown: BOGUSTYPE` in a
    /// long file had to be searched for by hand.
    #[test]
    fn a_zone_file_error_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.zone");
        let good = "$ORIGIN x.example.\n$TTL 300\n\
                    @ IN SOA ns admin (\n  1 3600 600\n  86400 300 )\n\
                    ; a comment with a ( in it\n\
                    www IN A 10.0.0.1\n";
        for (bad, line) in [
            ("foo IN BOGUSTYPE 1\n", 9),
            ("foo IN A 999.1.1.1\n", 9),
            (
                "ok IN A 10.0.0.2\nfoo IN TXT \"a ( b\"\nbar IN A 10.0.0.300\n",
                11,
            ),
        ] {
            std::fs::write(&path, format!("{good}\n{bad}")).unwrap();
            let err = Zones::default().load(&path).unwrap_err();
            assert!(err.starts_with(&format!("line {line}: ")), "{bad}: {err}");
        }
        // A parenthesis never closed: the line it was opened on.
        std::fs::write(&path, format!("{good}\nfoo IN A 10.0.0.9 (\n\n")).unwrap();
        let err = Zones::default().load(&path).unwrap_err();
        assert!(err.starts_with("line 9: "), "{err}");
        // The good part alone loads.
        std::fs::write(&path, good).unwrap();
        Zones::default().load(&path).unwrap();
    }

    /// Regression: a CNAME beside other records at one name was taken,
    /// and the name then answered differently by question type.
    #[test]
    fn a_cname_beside_other_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.zone");
        let zone = "$ORIGIN z.example.\n$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 300\n\
                    a IN CNAME b\nb IN A 10.0.0.2\n";
        std::fs::write(&path, zone).unwrap();
        Zones::default().load(&path).unwrap();
        std::fs::write(&path, format!("{zone}a IN A 10.0.0.1\n")).unwrap();
        let err = Zones::default().load(&path).unwrap_err();
        assert!(
            err.contains("`a.z.example` has a CNAME and other records"),
            "{err}"
        );
    }

    /// Regression: zone names were kept in hickory's text form (`a\.b`)
    /// and looked up in Ward's (`a\046b`), so a name with a byte other
    /// than a letter, digit, `-` or `_` was NXDOMAIN though in the zone.
    #[test]
    fn names_with_odd_bytes_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.zone");
        std::fs::write(
            &path,
            "$ORIGIN hospital.example.\n$TTL 300\n\
             @ IN SOA ns admin 1 3600 600 86400 120\n\
             Room\\.b IN A 10.0.0.1\n",
        )
        .unwrap();
        let mut zones = Zones::default();
        zones.load(&path).unwrap();
        let name = "room\\046b.hospital.example";
        let answer = zones.answer(name, 1, &question(name, 1)).unwrap();
        assert_eq!(counts(&answer.message), (0, 1, 0));
    }
}
