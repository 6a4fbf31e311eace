//! The hot path's DNS wire format: reading a query and writing the
//! answers Ward makes itself (blocks, errors, cached answers).
//!
//! Every read is bounds-checked; names in a query's question cannot use
//! compression (nothing precedes them to point at), names elsewhere are
//! skipped by following no pointer at all, so no packet can loop the
//! reader. Upstream answers are read with hickory-proto (`upstream.rs`);
//! this module only handles the shapes Ward itself produces or must read
//! on every query.

use std::fmt::Write as _;
use std::net::IpAddr;

pub const HEADER_LEN: usize = 12;
pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
/// BADVERS, an extended rcode: 16 = upper bits 1 in the OPT record.
pub const RCODE_BADVERS: u16 = 16;

/// The rcode for a question whose type is not data a resolver looks up,
/// answered by Ward without asking anyone: OPT, TKEY and TSIG are records
/// of a message, never a question's type (FORMERR); a zone transfer (AXFR,
/// IXFR) is the authoritative server's to give, not a resolver's (REFUSED,
/// as RFC 5936 4.2 has a server that will not transfer answer); MAILA and
/// MAILB are obsolete (NOTIMP). `None` for every other type.
pub fn meta_qtype_rcode(qtype: u16) -> Option<u8> {
    match qtype {
        41 | 249 | 250 => Some(RCODE_FORMERR),
        251 | 252 => Some(RCODE_REFUSED),
        253 | 254 => Some(RCODE_NOTIMP),
        _ => None,
    }
}

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_CD: u16 = 0x0010;
const OPCODE_MASK: u16 = 0x7800;

/// The largest UDP answer to a client without EDNS (RFC 1035).
pub const PLAIN_UDP_SIZE: usize = 512;

/// A query's EDNS (OPT record), as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A query Ward can decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    flags: u16,
    /// The question's bytes as sent (name, type, class), case kept.
    pub question: Vec<u8>,
    /// The name, lowercase, dotted, without the trailing dot (`""` is the
    /// root); bytes outside letters, digits, `-` and `_` are written as
    /// `\DDD`.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

/// Why a packet is not a query Ward decides, and what to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Not worth an answer: too short for a header, or a response.
    Drop,
    /// Answer with this rcode (and the header's id and flags).
    Answer {
        id: u16,
        flags: u16,
        rcode: u8,
        /// The question, when it could be read.
        question: Option<Vec<u8>>,
        edns: Option<Edns>,
    },
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.bytes.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.at.checked_add(n)?;
        (end <= self.bytes.len()).then(|| self.at = end)
    }
    /// Skips a name anywhere in a message: a pointer ends it.
    fn skip_name(&mut self) -> Option<()> {
        let mut total = 0usize;
        loop {
            let len = self.u8()?;
            match len & 0xC0 {
                0x00 if len == 0 => return Some(()),
                0x00 => {
                    total += usize::from(len) + 1;
                    if total > 255 {
                        return None;
                    }
                    self.skip(usize::from(len))?;
                }
                0xC0 => return self.u8().map(|_| ()),
                _ => return None,
            }
        }
    }
}

/// Reads the question name, with no compression, into lowercase text.
fn read_question_name(reader: &mut Reader<'_>, text: &mut String) -> Option<()> {
    let mut total = 1usize;
    loop {
        let len = usize::from(reader.u8()?);
        if len == 0 {
            return Some(());
        }
        if len > 63 {
            return None;
        }
        total += len + 1;
        if total > 255 {
            return None;
        }
        let label = reader.bytes.get(reader.at..reader.at + len)?;
        reader.at += len;
        push_label(text, label);
    }
}

/// Appends a label to a name in Ward's form (`Query::name`): lowercase,
/// bytes other than letters, digits, `-` and `_` written as `\DDD`.
fn push_label(text: &mut String, label: &[u8]) {
    if !text.is_empty() {
        text.push('.');
    }
    for &b in label {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => text.push(char::from(b)),
            b'A'..=b'Z' => text.push(char::from(b.to_ascii_lowercase())),
            _ => {
                let _ = write!(text, "\\{b:03}");
            }
        }
    }
}

/// A name given by its labels (as hickory's `Name::iter` yields them) in
/// Ward's form, so names read by hickory compare with `Query::name`.
pub fn name_from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut text = String::new();
    for label in labels {
        push_label(&mut text, label);
    }
    text
}

/// Reads a query. Anything not a well-formed standard query comes back
/// as a `Reject` saying whether to answer and with what.
pub fn parse_query(packet: &[u8]) -> Result<Query, Reject> {
    if packet.len() < HEADER_LEN {
        return Err(Reject::Drop);
    }
    let mut r = Reader {
        bytes: packet,
        at: 0,
    };
    let (Some(id), Some(flags)) = (r.u16(), r.u16()) else {
        return Err(Reject::Drop);
    };
    if flags & FLAG_QR != 0 {
        return Err(Reject::Drop);
    }
    let counts = [r.u16(), r.u16(), r.u16(), r.u16()];
    let [Some(qd), Some(an), Some(ns), Some(ar)] = counts else {
        return Err(Reject::Drop);
    };
    let reject = |rcode: u8, question: Option<Vec<u8>>, edns: Option<Edns>| {
        Err(Reject::Answer {
            id,
            flags,
            rcode,
            question,
            edns,
        })
    };
    if flags & OPCODE_MASK != 0 {
        return reject(RCODE_NOTIMP, None, None);
    }
    if qd != 1 {
        return reject(RCODE_FORMERR, None, None);
    }
    let mut name = String::new();
    let start = r.at;
    if read_question_name(&mut r, &mut name).is_none() {
        return reject(RCODE_FORMERR, None, None);
    }
    let (Some(qtype), Some(qclass)) = (r.u16(), r.u16()) else {
        return reject(RCODE_FORMERR, None, None);
    };
    let question = packet.get(start..r.at).unwrap_or_default().to_vec();
    // Queries carry no answer or authority records, but a packet may; skip
    // them, bounded by the packet's length (a huge count runs out of bytes).
    for _ in 0..(u32::from(an) + u32::from(ns)) {
        match read_record_head(&mut r) {
            // OPT belongs in the additional section only (RFC 6891 6.1.1).
            Some(head)
                if head.rtype != TYPE_OPT && r.skip(usize::from(head.rdlength)).is_some() => {}
            _ => return reject(RCODE_FORMERR, Some(question), None),
        }
    }
    let mut edns = None;
    for _ in 0..ar {
        let owner_root = r.bytes.get(r.at) == Some(&0);
        let Some(record) = read_record_head(&mut r) else {
            return reject(RCODE_FORMERR, Some(question), edns);
        };
        if record.rtype == TYPE_OPT {
            if edns.is_some() || !owner_root {
                // Two OPT records, or one not at the root: RFC 6891 6.1.1.
                return reject(RCODE_FORMERR, Some(question), None);
            }
            // Its options must fill its data exactly (RFC 6891 6.1.2).
            let options = r.bytes.get(r.at..r.at + usize::from(record.rdlength));
            if !options.is_some_and(options_well_formed) {
                return reject(RCODE_FORMERR, Some(question), None);
            }
            edns = Some(Edns {
                udp_size: record.class.max(PLAIN_UDP_SIZE as u16),
                version: (record.ttl >> 16) as u8,
                dnssec_ok: record.ttl & 0x8000 != 0,
            });
        }
        if r.skip(usize::from(record.rdlength)).is_none() {
            return reject(RCODE_FORMERR, Some(question), None);
        }
    }
    Ok(Query {
        id,
        flags,
        question,
        name,
        qtype,
        qclass,
        edns,
    })
}

struct RecordHead {
    rtype: u16,
    class: u16,
    ttl: u32,
    rdlength: u16,
}

fn read_record_head(r: &mut Reader<'_>) -> Option<RecordHead> {
    r.skip_name()?;
    Some(RecordHead {
        rtype: r.u16()?,
        class: r.u16()?,
        ttl: r.u32()?,
        rdlength: r.u16()?,
    })
}

/// Whether OPT data is a whole number of options, each a code, a length
/// and that many bytes.
fn options_well_formed(mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let Some(&[_, _, high, low]) = data.get(..4) else {
            return false;
        };
        let end = 4 + usize::from(u16::from_be_bytes([high, low]));
        match data.get(end..) {
            Some(rest) => data = rest,
            None => return false,
        }
    }
    true
}

/// Where each record's TTL sits in a message, skipping the OPT record
/// (whose "TTL" holds flags). `None` when the message cannot be walked.
pub fn ttl_offsets(message: &[u8]) -> Option<Vec<usize>> {
    let mut r = Reader {
        bytes: message,
        at: 4,
    };
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    for _ in 0..qd {
        r.skip_name()?;
        r.skip(4)?;
    }
    let mut offsets = Vec::new();
    for _ in 0..(u32::from(an) + u32::from(ns) + u32::from(ar)) {
        r.skip_name()?;
        let rtype = r.u16()?;
        r.skip(2)?;
        if rtype != TYPE_OPT {
            offsets.push(r.at);
        }
        r.skip(4)?;
        let rdlength = r.u16()?;
        r.skip(usize::from(rdlength))?;
    }
    Some(offsets)
}

impl Query {
    /// Whether the client asked for recursion.
    pub fn recursion_desired(&self) -> bool {
        self.flags & FLAG_RD != 0
    }

    /// The header flags of an answer to this query.
    fn answer_flags(&self, rcode: u8, authoritative: bool) -> u16 {
        let mut flags = FLAG_QR | FLAG_RA | (self.flags & (FLAG_RD | FLAG_CD));
        if authoritative {
            flags |= FLAG_AA;
        }
        flags | u16::from(rcode & 0x0F)
    }

    /// The largest UDP answer this client takes.
    pub fn udp_limit(&self, ours: u16) -> usize {
        match self.edns {
            Some(edns) => usize::from(edns.udp_size.min(ours)),
            None => PLAIN_UDP_SIZE,
        }
    }
}

/// Writes a message a record at a time; the counts are patched as it goes.
#[derive(Debug)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn new(id: u16, flags: u16) -> Writer {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        Writer { buf }
    }

    /// Counts one more entry in a section: 0 question, 1 answer,
    /// 2 authority, 3 additional.
    fn bump(&mut self, section: usize) {
        let at = 4 + 2 * section;
        if let Some(count) = self.buf.get_mut(at..at + 2) {
            let n = u16::from_be_bytes([count[0], count[1]]).saturating_add(1);
            count.copy_from_slice(&n.to_be_bytes());
        }
    }

    fn question(&mut self, question: &[u8]) {
        self.buf.extend_from_slice(question);
        self.bump(0);
    }

    /// A record whose owner is the question's name (a pointer to it).
    fn record_at_qname(&mut self, section: usize, rtype: u16, ttl: u32, rdata: &[u8]) {
        self.buf.extend_from_slice(&[0xC0, HEADER_LEN as u8]);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len = u16::try_from(rdata.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(rdata);
        self.bump(section);
    }

    fn opt(&mut self, ours: u16, extended_rcode: u8, dnssec_ok: bool) {
        self.buf.push(0);
        self.buf.extend_from_slice(&TYPE_OPT.to_be_bytes());
        self.buf.extend_from_slice(&ours.to_be_bytes());
        self.buf.push(extended_rcode);
        self.buf.push(0); // version 0
        self.buf
            .extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
        self.buf.extend_from_slice(&0u16.to_be_bytes());
        self.bump(3);
    }
}

/// The SOA Ward puts in the authority section of its negative answers
/// (RFC 2308): owned by the asked name, with `ttl` as both its TTL and its
/// minimum, so a negative answer is cached for `ttl` seconds.
fn synthetic_soa(ttl: u32) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(64);
    for name in [
        &b"\x04ward\x07invalid\x00"[..],
        b"\x0Ahostmaster\x04ward\x07invalid\x00",
    ] {
        rdata.extend_from_slice(name);
    }
    for value in [1u32, 3600, 600, 86400, ttl] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    rdata
}

/// How Ward answers a blocked query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockAnswer {
    NxDomain,
    NoData,
    Refused,
    Sinkhole(IpAddr),
}

/// The answer to a blocked query: the same for every query type of the
/// name, with an SOA in the authority section of negative answers.
pub fn block_answer(query: &Query, how: BlockAnswer, ttl: u32, ours: u16) -> Vec<u8> {
    let address = match how {
        BlockAnswer::Sinkhole(IpAddr::V4(a)) if matches!(query.qtype, TYPE_A | TYPE_ANY) => {
            Some((TYPE_A, a.octets().to_vec()))
        }
        BlockAnswer::Sinkhole(IpAddr::V6(a)) if matches!(query.qtype, TYPE_AAAA | TYPE_ANY) => {
            Some((TYPE_AAAA, a.octets().to_vec()))
        }
        _ => None,
    };
    let rcode = match how {
        BlockAnswer::NxDomain => RCODE_NXDOMAIN,
        BlockAnswer::Refused => RCODE_REFUSED,
        BlockAnswer::NoData | BlockAnswer::Sinkhole(_) => RCODE_NOERROR,
    };
    let mut w = Writer::new(query.id, query.answer_flags(rcode, false));
    w.question(&query.question);
    match (how, address) {
        (_, Some((rtype, rdata))) => w.record_at_qname(1, rtype, ttl, &rdata),
        (BlockAnswer::Refused, None) => {}
        (_, None) => w.record_at_qname(2, TYPE_SOA, ttl, &synthetic_soa(ttl)),
    }
    if let Some(edns) = query.edns {
        w.opt(ours, 0, edns.dnssec_ok);
    }
    w.buf
}

/// An answer with only an rcode (SERVFAIL, REFUSED, FORMERR, NOTIMP,
/// BADVERS), echoing the question when there is one.
pub fn error_answer(
    id: u16,
    query_flags: u16,
    question: Option<&[u8]>,
    edns: Option<Edns>,
    rcode: u16,
    ours: u16,
) -> Vec<u8> {
    let flags = FLAG_QR | FLAG_RA | (query_flags & (FLAG_RD | FLAG_CD | OPCODE_MASK));
    let mut w = Writer::new(id, flags | (rcode & 0x0F));
    if let Some(question) = question {
        w.question(question);
    }
    if let Some(edns) = edns {
        w.opt(ours, (rcode >> 4) as u8, edns.dnssec_ok);
    }
    w.buf
}

impl Query {
    /// SERVFAIL, REFUSED and the like for this query.
    pub fn error(&self, rcode: u16, ours: u16) -> Vec<u8> {
        error_answer(
            self.id,
            self.flags,
            Some(&self.question),
            self.edns,
            rcode,
            ours,
        )
    }

    /// An empty answer with TC set: "ask again over TCP".
    pub fn truncated(&self, ours: u16) -> Vec<u8> {
        let mut w = Writer::new(self.id, self.answer_flags(RCODE_NOERROR, false) | FLAG_TC);
        w.question(&self.question);
        if let Some(edns) = self.edns {
            w.opt(ours, 0, edns.dnssec_ok);
        }
        w.buf
    }

    /// This query's answer made from a stored message whose question is the
    /// same name (any case), type and class: the id, flags and question
    /// are this query's, every TTL is `age` seconds less, and an OPT record
    /// is added exactly when the query had one.
    pub fn answer_from(
        &self,
        stored: &[u8],
        ttl_offsets: &[usize],
        age: u32,
        authoritative: bool,
        ours: u16,
    ) -> Vec<u8> {
        let mut out = stored.to_vec();
        let rcode = stored.get(3).map_or(RCODE_SERVFAIL, |b| b & 0x0F);
        let flags = self.answer_flags(rcode, authoritative).to_be_bytes();
        if let Some(header) = out.get_mut(..4) {
            header[..2].copy_from_slice(&self.id.to_be_bytes());
            header[2..].copy_from_slice(&flags);
        }
        let end = HEADER_LEN + self.question.len();
        if let Some(question) = out.get_mut(HEADER_LEN..end)
            && question.len() == self.question.len()
        {
            question.copy_from_slice(&self.question);
        }
        for &at in ttl_offsets {
            if let Some(field) = out.get_mut(at..at + 4) {
                let ttl = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
                field.copy_from_slice(&ttl.saturating_sub(age).to_be_bytes());
            }
        }
        if let Some(edns) = self.edns {
            let mut w = Writer { buf: out };
            w.opt(ours, 0, edns.dnssec_ok);
            out = w.buf;
        }
        out
    }
}

/// The wire form of a dotted name (lowercase text as `Query::name`
/// writes it, `\DDD` escapes included).
pub fn name_to_wire(name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            let start = out.len();
            out.push(0);
            let mut bytes = label.bytes();
            while let Some(b) = bytes.next() {
                if b == b'\\' {
                    let digits: String = bytes.by_ref().take(3).map(char::from).collect();
                    out.push(digits.parse::<u8>().ok()?);
                } else {
                    out.push(b);
                }
            }
            let len = out.len() - start - 1;
            if len == 0 || len > 63 {
                return None;
            }
            *out.get_mut(start)? = len as u8;
        }
    }
    out.push(0);
    (out.len() <= 255).then_some(out)
}

/// A query Ward sends upstream for `name`, `qtype`: recursion desired,
/// EDNS with our buffer size, DNSSEC not asked for.
pub fn upstream_query(id: u16, name: &str, qtype: u16, qclass: u16, ours: u16) -> Option<Vec<u8>> {
    let mut w = Writer::new(id, FLAG_RD);
    let mut question = name_to_wire(name)?;
    question.extend_from_slice(&qtype.to_be_bytes());
    question.extend_from_slice(&qclass.to_be_bytes());
    w.question(&question);
    w.opt(ours, 0, false);
    Some(w.buf)
}

/// A response's id and flags; `None` for what is not a response (shorter
/// than a header, or QR clear: a query, perhaps our own reflected back).
pub fn response_header(message: &[u8]) -> Option<(u16, u16)> {
    if message.len() < HEADER_LEN {
        return None;
    }
    let id = u16::from_be_bytes([*message.first()?, *message.get(1)?]);
    let flags = u16::from_be_bytes([*message.get(2)?, *message.get(3)?]);
    (flags & FLAG_QR != 0).then_some((id, flags))
}

pub fn is_truncated(flags: u16) -> bool {
    flags & FLAG_TC != 0
}

/// The query type's name as the policy language spells it.
pub fn qtype_name(qtype: u16) -> &'static str {
    match qtype {
        1 => "a",
        2 => "ns",
        5 => "cname",
        6 => "soa",
        12 => "ptr",
        15 => "mx",
        16 => "txt",
        28 => "aaaa",
        33 => "srv",
        35 => "naptr",
        43 => "ds",
        48 => "dnskey",
        64 => "svcb",
        65 => "https",
        257 => "caa",
        255 => "any",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_bytes(name: &[u8], qtype: u16, opt: bool) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(opt)];
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        if opt {
            p.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        }
        p
    }

    /// Regression: an OPT record in the authority section, or EDNS options
    /// running past the OPT data, were answered as if well formed.
    #[test]
    fn misplaced_opt_and_overrunning_options_are_formerr() {
        let formerr = |packet: &[u8]| matches!(parse_query(packet), Err(Reject::Answer { rcode, .. }) if rcode == RCODE_FORMERR);
        // The OPT record moved to the authority section.
        let mut p = query_bytes(b"\x03www\x00", 1, true);
        p[9] = 1;
        p[11] = 0;
        assert!(formerr(&p));
        // An option claiming 8 bytes with 2 there.
        let mut p = query_bytes(b"\x03www\x00", 1, false);
        p[11] = 1;
        p.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2]);
        assert!(formerr(&p));
        // The same option with its 8 bytes is fine, and so is a cookie pair.
        let mut p = query_bytes(b"\x03www\x00", 1, false);
        p[11] = 1;
        p.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8]);
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(parse_query(&p).is_ok());
    }

    #[test]
    fn reads_a_query_keeping_case() {
        let q = parse_query(&query_bytes(b"\x03WwW\x07Example\x03cOm\x00", 1, true)).unwrap();
        assert_eq!(q.name, "www.example.com");
        assert_eq!(q.qtype, TYPE_A);
        assert_eq!(&q.question[..4], b"\x03WwW");
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_size: 1232,
                version: 0,
                dnssec_ok: true
            })
        );
    }

    #[test]
    fn odd_bytes_are_escaped() {
        let q = parse_query(&query_bytes(b"\x03a.b\x02c\x00\x00", 1, false)).unwrap();
        assert_eq!(q.name, "a\\046b.c\\000");
        assert_eq!(name_to_wire(&q.name).unwrap(), b"\x03a.b\x02c\x00\x00");
    }

    #[test]
    fn bad_packets_are_rejected_not_read() {
        assert_eq!(parse_query(b"\x00\x01"), Err(Reject::Drop));
        // A response is never answered.
        let mut response = query_bytes(b"\x01a\x00", 1, false);
        response[2] |= 0x80;
        assert_eq!(parse_query(&response), Err(Reject::Drop));
        // A compression pointer in the question (a loop onto itself).
        let looped = query_bytes(b"\xC0\x0C", 1, false);
        assert!(matches!(
            parse_query(&looped),
            Err(Reject::Answer {
                rcode: RCODE_FORMERR,
                ..
            })
        ));
        // A huge record count with no records.
        let mut counts = query_bytes(b"\x01a\x00", 1, false);
        counts[6] = 0xFF;
        counts[7] = 0xFF;
        assert!(matches!(
            parse_query(&counts),
            Err(Reject::Answer {
                rcode: RCODE_FORMERR,
                ..
            })
        ));
        // Truncated in the middle of the name.
        let short = query_bytes(b"\x05ab", 1, false);
        assert!(parse_query(&short[..15]).is_err());
    }

    #[test]
    fn blocked_answer_has_soa_and_edns_only_when_asked() {
        let q = parse_query(&query_bytes(b"\x03ADS\x01x\x00", 65, false)).unwrap();
        let a = block_answer(&q, BlockAnswer::NxDomain, 60, 1232);
        assert_eq!(a[3] & 0x0F, RCODE_NXDOMAIN);
        assert_eq!(&a[4..12], &[0, 1, 0, 0, 0, 1, 0, 0]);
        let q = parse_query(&query_bytes(b"\x03ADS\x01x\x00", 1, true)).unwrap();
        let a = block_answer(
            &q,
            BlockAnswer::Sinkhole("0.0.0.0".parse().unwrap()),
            60,
            1232,
        );
        assert_eq!(&a[4..12], &[0, 1, 0, 1, 0, 0, 0, 1]);
        assert_eq!(ttl_offsets(&a).unwrap().len(), 1);
    }

    #[test]
    fn answers_from_store_take_the_querys_case_and_age() {
        let q = parse_query(&query_bytes(b"\x01a\x00", 1, false)).unwrap();
        let stored = block_answer(
            &q,
            BlockAnswer::Sinkhole("192.0.2.1".parse().unwrap()),
            300,
            1232,
        );
        let offsets = ttl_offsets(&stored).unwrap();
        let asked = parse_query(&query_bytes(b"\x01A\x00", 1, true)).unwrap();
        let out = asked.answer_from(&stored, &offsets, 100, false, 1232);
        assert_eq!(&out[12..14], b"\x01A");
        let at = offsets[0];
        assert_eq!(&out[at..at + 4], &200u32.to_be_bytes());
        assert_eq!(out[11], 1, "an OPT record was added");
    }
}
