//! Local zones: the hospital's internal names, from zone files in RFC 1035
//! master format (read by hickory-proto's parser), answered by Ward itself
//! with the AA flag. A name inside a zone is answered from the zone only:
//! what the zone lacks is NXDOMAIN or NODATA with the zone's SOA, never a
//! question for the upstreams (so internal names do not leak out).
//!
//! A zone is the owner of its file's one SOA record; every name in the
//! file must be at or below it (`$ORIGIN` may change inside the file).
//! `$INCLUDE` is followed (a relative name from the including file's
//! directory), checked first: regular files only, at most 8 deep, no
//! `$ORIGIN` inside, and at most 64 MiB with the zone. Records that could
//! not be served right (another class, a TTL over 31 bits, one that cannot
//! be encoded, a CNAME loop) refuse the zone. The included files are watched for changes
//! like the zone file.
//!
//! Not supported: wildcard records and delegations inside a zone (an `NS`
//! record below the apex is answered as data), and `$INCLUDE` with an
//! origin (hickory's parser refuses it).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_proto::serialize::txt::Parser;

use crate::wire;

/// The largest zone file read.
const MAX_ZONE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest TTL (RFC 2181 8: a TTL is 31 bits).
const MAX_TTL: u32 = 0x7FFF_FFFF;
/// The deepest `$INCLUDE` nesting read.
const MAX_INCLUDE_DEPTH: usize = 8;
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
    /// The files the zone files' `$INCLUDE`s read.
    included: Vec<PathBuf>,
}

/// Ward's name form (`Query::name`): lowercase, no trailing dot, odd bytes
/// as `\DDD`, so zone names compare with the names asked.
fn text_name(name: &hickory_proto::rr::Name) -> String {
    wire::name_from_labels(name.iter())
}

/// The parenthesis depth after a line of a zone file that starts at
/// `depth`; comments and quoted text aside.
fn depth_after(line: &str, mut depth: i32) -> i32 {
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => break,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The line a zone file's error is on, for errors hickory's parser gives
/// without one: the file is cut after each line where no parenthesis is
/// open (a record may span lines inside them) and `bad` asked of each cut,
/// halving the range each time; the first bad cut ends with the bad line.
/// Only on the error path, and zone files are small. `None` when no cut is
/// bad (an error only the whole file has).
fn first_bad_line(text: &str, bad: impl Fn(&str) -> bool) -> Option<usize> {
    // Byte offsets just after each line at which no parenthesis is open.
    let mut cuts = Vec::new();
    let mut depth = 0i32;
    let mut opened = 0;
    let mut at = 0;
    for (index, text_line) in text.split_inclusive('\n').enumerate() {
        at += text_line.len();
        let line = index + 1;
        depth = depth_after(text_line, depth);
        if depth <= 0 {
            cuts.push((line, at));
        } else if cuts.last().is_some_and(|&(last, _)| last == line - 1) || line == 1 {
            // The line a still-open parenthesis was opened on.
            opened = line;
        }
    }
    // The first cut that is bad.
    let (mut low, mut high) = (0, cuts.len());
    while low < high {
        let mid = low + (high - low) / 2;
        if cuts
            .get(mid)
            .is_some_and(|&(_, end)| bad(text.get(..end).unwrap_or(text)))
        {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    match cuts.get(low) {
        Some(&(line, _)) => Some(line),
        // No cut is bad and a parenthesis is still open at the end.
        None => (depth > 0).then_some(opened),
    }
}

/// `line N: ` when the line is known.
fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!("line {line}: "))
        .unwrap_or_default()
}

/// Checks the files a zone file's `$INCLUDE`s name, nested ones too,
/// before hickory's parser reads them (it reads without a size limit):
/// each must be a regular file (not a device or a pipe, which may never
/// end), at most `MAX_INCLUDE_DEPTH` deep, and the zone with all its
/// includes at most `MAX_ZONE_BYTES`. A relative name is taken from the
/// including file's directory, as the parser does. The files are added to
/// `found` (they are watched for changes like the zone file itself).
fn check_includes(
    text: &str,
    path: &Path,
    depth: usize,
    total: &mut u64,
    found: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let mut open = 0i32;
    for (index, line) in text.lines().enumerate() {
        let inside = open > 0;
        open = depth_after(line, open);
        // hickory's parser carries an included file's `$ORIGIN` back into
        // the including file (RFC 1035 5.1 says it must not), which would
        // put the names after the `$INCLUDE` somewhere else.
        if depth > 0
            && !inside
            && line
                .strip_prefix("$ORIGIN")
                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_uppercase()))
        {
            return Err(format!(
                "`{}` line {}: $ORIGIN in an included file is not supported; give the \
                 origin before the $INCLUDE, or names in full",
                path.display(),
                index + 1
            ));
        }
        // The parser takes `$INCLUDE` only at the start of a line, outside
        // parentheses; `$INCLUDEX` is another directive.
        let Some(rest) = line.strip_prefix("$INCLUDE") else {
            continue;
        };
        if inside || rest.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let here = || {
            if depth == 0 {
                format!("line {}: ", index + 1)
            } else {
                format!("`{}` line {}: ", path.display(), index + 1)
            }
        };
        let rest = rest.trim_start();
        let name = match rest.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((name, _)) if !name.contains('\\') => name,
                _ => {
                    return Err(format!(
                        "{}a quoted $INCLUDE name must be closed and have no `\\`",
                        here()
                    ));
                }
            },
            None => rest
                .split(|c: char| c.is_whitespace() || c == ';' || c == ')')
                .next()
                .unwrap_or_default(),
        };
        if name.is_empty() {
            // The parser says what is wrong.
            continue;
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(format!(
                "{}$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (does a file include itself?)",
                here()
            ));
        }
        let file = match Path::new(name).is_absolute() {
            true => PathBuf::from(name),
            false => path.parent().unwrap_or(Path::new("")).join(name),
        };
        let meta = std::fs::metadata(&file)
            .map_err(|e| format!("{}$INCLUDE `{}`: {e}", here(), file.display()))?;
        if !meta.is_file() {
            return Err(format!(
                "{}$INCLUDE `{}` is not a regular file",
                here(),
                file.display()
            ));
        }
        *total = total.saturating_add(meta.len());
        if *total > MAX_ZONE_BYTES {
            return Err(format!(
                "{}$INCLUDE `{}`: the zone and its includes are over the {MAX_ZONE_BYTES}-byte limit",
                here(),
                file.display()
            ));
        }
        let included = crate::bundle::read_text(&file, MAX_ZONE_BYTES)
            .map_err(|e| format!("{}$INCLUDE `{}`: {e}", here(), file.display()))?;
        check_includes(&included, &file, depth + 1, total, found)?;
        found.push(file);
    }
    Ok(())
}

/// What is wrong with one record of the zone at `apex`, if anything.
fn record_problem(apex: &str, record: &Record) -> Option<String> {
    let owner = text_name(&record.name);
    let rtype = record.record_type();
    if outside(apex, &owner) {
        return Some(format!("`{owner}` is outside the zone `{apex}`"));
    }
    if record.dns_class != DNSClass::IN {
        return Some(format!(
            "`{owner}` {rtype} has class {}; a local zone holds class IN only",
            record.dns_class
        ));
    }
    if record.ttl > MAX_TTL {
        return Some(format!(
            "`{owner}` {rtype} has TTL {}, over {MAX_TTL} (RFC 2181 8)",
            record.ttl
        ));
    }
    if !emit(record, &mut Vec::new()) {
        return Some(format!(
            "`{owner}` {rtype} cannot be written as DNS (a TXT string over 255 bytes?)"
        ));
    }
    None
}

/// A CNAME loop among the zones' names, as `a -> b -> a`.
fn cname_loop(names: &HashMap<String, HashMap<u16, Vec<Record>>>) -> Option<String> {
    let target = |name: &str| match &names.get(name)?.get(&wire::TYPE_CNAME)?.first()?.data {
        RData::CNAME(cname) => Some(text_name(&cname.0)),
        _ => None,
    };
    let mut starts: Vec<&String> = names.keys().collect();
    starts.sort();
    for start in starts {
        let mut chain = vec![start.clone()];
        let mut at = start.clone();
        while let Some(next) = target(&at) {
            if let Some(seen) = chain.iter().position(|name| *name == next) {
                let mut shown: Vec<String> = chain.split_off(seen);
                shown.push(next);
                return Some(shown.join(" -> "));
            }
            chain.push(next.clone());
            at = next;
        }
    }
    None
}

/// Whether `owner` is outside the zone at `apex` (both in Ward's name
/// form; the root zone holds every name).
fn outside(apex: &str, owner: &str) -> bool {
    !(owner == apex || apex.is_empty() || owner.ends_with(&format!(".{apex}")))
}

impl Zones {
    pub fn is_empty(&self) -> bool {
        self.apexes.is_empty()
    }

    /// The files the zones' `$INCLUDE`s read.
    pub fn included_files(&self) -> &[PathBuf] {
        &self.included
    }

    pub fn load(&mut self, path: &Path) -> Result<(), String> {
        let text = crate::bundle::read_text(path, MAX_ZONE_BYTES)?;
        let mut total = text.len() as u64;
        check_includes(&text, path, 0, &mut total, &mut self.included)?;
        // With no `$ORIGIN`, names are taken as absolute (a file of
        // absolute names, as `dig axfr` writes it, needs none).
        let parse =
            |text: &str| Parser::new(text, Some(path.to_owned()), Some(Name::root())).parse();
        let (origin, records) = parse(&text).map_err(|e| {
            let line = first_bad_line(&text, |cut| parse(cut).is_err());
            format!("{}{e}", at_line(line))
        })?;
        // The zone is the SOA's owner (the parser's origin is the last
        // `$ORIGIN`, which may be a name inside the zone).
        let soa_owners = |records: &BTreeMap<RrKey, RecordSet>| -> Vec<String> {
            records
                .iter()
                .filter(|(key, _)| key.record_type == RecordType::SOA)
                .map(|(_, set)| text_name(set.name()))
                .collect()
        };
        let apex = match soa_owners(&records).as_slice() {
            [apex] => apex.clone(),
            [] => {
                return Err(format!(
                    "the zone `{}` has no SOA record",
                    text_name(&origin)
                ));
            }
            [first, second, ..] => {
                let line = first_bad_line(&text, |cut| {
                    parse(cut).map_or(true, |(_, records)| soa_owners(&records).len() > 1)
                });
                return Err(format!(
                    "{}two SOA records (`{first}` and `{second}`): one zone per file",
                    at_line(line)
                ));
            }
        };
        let first_problem = |records: &BTreeMap<RrKey, RecordSet>| {
            records
                .values()
                .flat_map(RecordSet::records_without_rrsigs)
                .find_map(|record| record_problem(&apex, record))
        };
        if let Some(problem) = first_problem(&records) {
            let line = first_bad_line(&text, |cut| {
                parse(cut).map_or(true, |(_, records)| first_problem(&records).is_some())
            });
            return Err(format!("{}{problem}", at_line(line)));
        }
        let mut soa = None;
        for (key, set) in records {
            let owner = text_name(set.name());
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
        if let Some(cycle) = cname_loop(&self.names) {
            return Err(format!("a CNAME loop: {cycle}"));
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

    const SOA: &str = "$ORIGIN z.example.\n$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 300\n";

    /// `$INCLUDE` is followed from the including file's directory, nested
    /// too, and the files it read are kept for the watcher.
    #[test]
    fn includes_are_followed_and_kept_for_watching() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let path = dir.path().join("z.zone");
        std::fs::write(
            &path,
            format!("{SOA}$INCLUDE sub/a.inc ; the ICU\nb IN A 10.0.0.2\n"),
        )
        .unwrap();
        std::fs::write(sub.join("a.inc"), "a IN A 10.0.0.1\n$INCLUDE \"c.inc\"\n").unwrap();
        std::fs::write(sub.join("c.inc"), "c IN A 10.0.0.3\n").unwrap();
        let mut zones = Zones::default();
        zones.load(&path).unwrap();
        for name in ["a.z.example", "b.z.example", "c.z.example"] {
            let answer = zones.answer(name, 1, &question(name, 1)).unwrap();
            assert_eq!(counts(&answer.message), (0, 1, 0), "{name}");
        }
        assert_eq!(
            zones.included_files(),
            [sub.join("c.inc"), sub.join("a.inc")]
        );
    }

    /// Regression: hickory's parser reads an `$INCLUDE`d file whole with
    /// no limit, so `$INCLUDE /dev/zero` took memory until the machine ran
    /// out; and a file that includes itself must end with an error.
    #[test]
    fn includes_that_never_end_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.zone");
        let load = |zone: String| {
            std::fs::write(&path, zone).unwrap();
            Zones::default().load(&path).unwrap_err()
        };
        let err = load(format!("{SOA}$INCLUDE /dev/zero\n"));
        assert_eq!(err, "line 4: $INCLUDE `/dev/zero` is not a regular file");
        let err = load(format!("{SOA}$INCLUDE {}\n", dir.path().display()));
        assert!(err.ends_with("is not a regular file"), "{err}");
        let err = load(format!("{SOA}$INCLUDE missing.inc\n"));
        assert!(err.starts_with("line 4: $INCLUDE `"), "{err}");

        std::fs::write(
            dir.path().join("self.inc"),
            "x IN A 10.0.0.9\n$INCLUDE self.inc\n",
        )
        .unwrap();
        let err = load(format!("{SOA}$INCLUDE self.inc\n"));
        assert!(
            err.contains("self.inc` line 2: $INCLUDE nested more than 8 deep"),
            "{err}"
        );
        let err = load(format!("{SOA}$INCLUDE \"a\\\\b.inc\"\n"));
        assert!(err.contains("have no `\\`"), "{err}");
        // `$INCLUDE` inside parentheses is not a directive but data.
        std::fs::write(&path, format!("{SOA}a IN TXT (\n$INCLUDE /dev/zero )\n")).unwrap();
        let mut zones = Zones::default();
        zones.load(&path).unwrap();
        assert!(zones.included_files().is_empty());
    }

    /// Regression: the zone was taken to be the parser's origin, which is
    /// the file's last `$ORIGIN`, so a file that moved `$ORIGIN` to a
    /// name inside the zone was refused (`hosp.example` outside the zone
    /// `icu.hosp.example`).
    #[test]
    fn the_zone_is_the_soas_owner_whatever_the_last_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.zone");
        std::fs::write(
            &path,
            "$ORIGIN hosp.example.\n$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 300\n\
             $ORIGIN icu.hosp.example.\nmonitor IN A 10.1.1.1\n",
        )
        .unwrap();
        let mut zones = Zones::default();
        zones.load(&path).unwrap();
        let name = "monitor.icu.hosp.example";
        let answer = zones.answer(name, 1, &question(name, 1)).unwrap();
        assert_eq!(counts(&answer.message), (0, 1, 0));
        let name = "nope.hosp.example";
        let answer = zones.answer(name, 1, &question(name, 1)).unwrap();
        assert_eq!(counts(&answer.message), (3, 0, 1), "NXDOMAIN with the SOA");
    }

    /// Regression: a name outside the zone was refused without its line.
    #[test]
    fn a_name_outside_the_zone_or_a_second_soa_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.zone");
        let load = |zone: String| {
            std::fs::write(&path, zone).unwrap();
            Zones::default().load(&path).unwrap_err()
        };
        let err = load(format!(
            "{SOA}a IN A 10.0.0.1\n\nwww.other.example. IN A 10.0.0.2\nb IN A 10.0.0.3\n"
        ));
        assert_eq!(
            err,
            "line 6: `www.other.example` is outside the zone `z.example`"
        );
        let err = load(format!(
            "{SOA}a IN A 10.0.0.1\nsub IN SOA ns admin 1 3600 600 86400 300\n"
        ));
        assert_eq!(
            err,
            "line 5: two SOA records (`z.example` and `sub.z.example`): one zone per file"
        );
        let err = load("$ORIGIN z.example.\na 300 IN A 10.0.0.1\n".to_owned());
        assert_eq!(err, "the zone `z.example` has no SOA record");
    }

    /// Regressions (found by a hostile test): each of these loaded, and
    /// was then served wrong: a CNAME loop as 8 CNAMEs, a TXT string over
    /// 255 bytes as an empty NOERROR without SOA, a CH record to an IN
    /// question, a TTL over 2^31-1 as is, the names after an `$INCLUDE`
    /// under the included file's `$ORIGIN`. And a file of absolute names
    /// with no `$ORIGIN` (as `dig axfr` writes) was refused.
    #[test]
    fn records_that_cannot_be_served_right_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.zone");
        let load = |zone: String| {
            std::fs::write(&path, zone).unwrap();
            Zones::default().load(&path)
        };
        let long = "x".repeat(300);
        for (bad, error) in [
            (
                "a IN CNAME b\nb IN CNAME c\nc IN CNAME a\n".to_owned(),
                "a CNAME loop: a.z.example -> b.z.example -> c.z.example -> a.z.example".to_owned(),
            ),
            (
                format!("t IN TXT \"{long}\"\n"),
                "line 4: `t.z.example` TXT cannot be written as DNS (a TXT string over 255 bytes?)"
                    .to_owned(),
            ),
            (
                "ok IN A 10.0.0.1\nx CH A 10.0.0.2\n".to_owned(),
                "line 5: `x.z.example` A has class CH; a local zone holds class IN only".to_owned(),
            ),
            (
                "x 4294967295 IN A 10.0.0.2\n".to_owned(),
                "line 4: `x.z.example` A has TTL 4294967295, over 2147483647 (RFC 2181 8)"
                    .to_owned(),
            ),
        ] {
            assert_eq!(load(format!("{SOA}{bad}")).unwrap_err(), error, "{bad}");
        }
        // A CNAME into a loop elsewhere is refused too; a chain is fine.
        load(format!(
            "{SOA}a IN CNAME b\nb IN CNAME c\nc IN A 10.0.0.3\n"
        ))
        .unwrap();

        std::fs::write(
            dir.path().join("sub.inc"),
            "$ORIGIN sub.z.example.\nx IN A 10.0.0.4\n",
        )
        .unwrap();
        let err = load(format!("{SOA}$INCLUDE sub.inc\nz IN A 10.0.0.5\n")).unwrap_err();
        assert!(
            err.contains("sub.inc` line 1: $ORIGIN in an included file is not supported"),
            "{err}"
        );

        // Absolute names and no `$ORIGIN`.
        load(
            "$TTL 300\nabs.example. IN SOA ns.abs.example. admin.abs.example. 1 3600 600 86400 300\n\
             x.abs.example. IN A 10.0.0.6\n"
                .to_owned(),
        )
        .unwrap();
        let err = load(
            "$TTL 300\nabs.example. IN SOA ns admin 1 3600 600 86400 300\nx IN A 10.0.0.6\n"
                .to_owned(),
        )
        .unwrap_err();
        assert!(err.contains("is outside the zone `abs.example`"), "{err}");
    }
}
