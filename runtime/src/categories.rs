//! Category lists: domain block- and allow-lists in the formats real lists
//! come in, and the lookup of a name against all of them at once.
//!
//! # Matching rule
//!
//! A name listed in a hosts file, a plain domain list or a wildcard list
//! (`*.example.com`), or as an Adblock `||example.com^` rule, covers the
//! name itself and every name below it (`ads.example.com`,
//! `x.ads.example.com`). RPZ keeps its own distinction: `example.com`
//! covers exactly that name and `*.example.com` only the names below it.
//! A lookup walks the queried name and all its parents and collects, in
//! one pass, every category that lists any of them.
//!
//! Allow-lists override block-lists: a name covered by any allow-list has
//! no block category. Within one list, Adblock `@@` exceptions and RPZ
//! `rpz-passthru.` records take the name (and, for Adblock, its subdomains)
//! out of that list's category only.
//!
//! # Design
//!
//! Names are not stored. Each listed name is reduced to a keyed 64-bit
//! hash, computed label by label from the last to the first so that one
//! pass over a queried name yields the hashes of all its parents; an open-addressing
//! table maps each hash to two category bitmasks (the name itself, the
//! names below it). That is 16 bytes a slot at most three quarters full,
//! plus a bitmap of one byte a slot that answers most probes for unlisted
//! names from cache: about 23 to 36 bytes a name, one probe per label.
//! Two different names collide with probability about n/2^64 (one in ten
//! trillion for a million names); the seed is random per process so a
//! collision cannot be planned. Adblock `/regex/` rules are compiled
//! together into one regex-automata multi-pattern automaton, consulted
//! only when some list has such rules.
//!
//! Dirty input is the norm: byte-order marks, CRLF, trailing dots, inline
//! comments, several names per hosts line, IP addresses in the name column,
//! upper case, internationalised names (stored in A-label form), wildcards,
//! duplicates, over-long labels and names, and garbage. A line that cannot
//! be used is counted with its line number and skipped; it never rejects
//! the list.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

use regex_automata::meta::Regex;
use regex_automata::{Input, MatchKind, PatternSet};

/// Most categories one set holds (one bit each in a 32-bit mask).
pub const MAX_CATEGORIES: usize = 32;
/// Parent names whose probes are batched (deeper names probe one by one).
const MAX_BATCH: usize = 16;
/// Bad lines whose number and reason a [`LoadReport`] keeps.
const MAX_REPORTED_LINES: usize = 100;

/// Whether a list blocks or allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Names in the list belong to its category.
    Block,
    /// Names in the list are exempt from every block category.
    Allow,
}

/// The syntax of a list file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `0.0.0.0 name [name...]`.
    Hosts,
    /// One name a line.
    Domains,
    /// `*.name` a line.
    Wildcard,
    /// Adblock-style network rules (`||name^`, `@@`, `/regex/`).
    Adblock,
    /// A DNS response policy zone.
    Rpz,
}

impl ListFormat {
    /// The format's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ListFormat::Hosts => "hosts",
            ListFormat::Domains => "domains",
            ListFormat::Wildcard => "wildcard",
            ListFormat::Adblock => "adblock",
            ListFormat::Rpz => "rpz",
        }
    }

    /// Guesses the format from the first meaningful lines.
    pub fn detect(text: &str) -> ListFormat {
        let mut hosts = 0;
        let mut wildcard = 0;
        let mut domains = 0;
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .take(2000);
        for line in lines {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("$TTL")
                || upper.starts_with("$ORIGIN")
                || upper.contains(" SOA ")
                || upper.contains(" CNAME ")
            {
                return ListFormat::Rpz;
            }
            if line.starts_with("||")
                || line.starts_with("@@")
                || line.starts_with('!')
                || line.starts_with("[Adblock")
            {
                return ListFormat::Adblock;
            }
            if line.starts_with(';') {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or_default();
            if parse_ip(first).is_some() && line.split_whitespace().nth(1).is_some() {
                hosts += 1;
            } else if line.starts_with("*.") {
                wildcard += 1;
            } else {
                domains += 1;
            }
        }
        if hosts > 0 && hosts >= wildcard && hosts * 4 >= domains {
            ListFormat::Hosts
        } else if wildcard > domains {
            ListFormat::Wildcard
        } else {
            ListFormat::Domains
        }
    }
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Line number, from 1.
    pub line: usize,
    /// What was wrong, lowercase.
    pub reason: String,
}

/// What loading one list did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Category name.
    pub category: String,
    /// Format used.
    pub format: Option<ListFormat>,
    /// Lines read.
    pub lines: usize,
    /// Rules added (names, wildcards, exceptions, regexes).
    pub added: usize,
    /// Rules already present in this category.
    pub duplicates: usize,
    /// Comments, headers, cosmetic rules and hosts preamble names.
    pub ignored: usize,
    /// IP addresses where a name was expected (not names: not matched).
    pub ip_literals: usize,
    /// Valid rules a DNS filter cannot apply (URL paths, client options).
    pub unsupported: usize,
    /// Lines that could not be used.
    pub bad: usize,
    /// The first bad lines (up to 100), with reasons.
    pub bad_lines: Vec<BadLine>,
}

impl LoadReport {
    fn bad_line(&mut self, line: usize, reason: impl Into<String>) {
        self.bad += 1;
        if self.bad_lines.len() < MAX_REPORTED_LINES {
            let mut reason: String = reason.into();
            // A reason quotes its line, and a line from outside can be
            // megabytes long: keep what a log line can carry.
            if reason.len() > MAX_REASON_BYTES {
                let mut end = MAX_REASON_BYTES;
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                reason.truncate(end);
                reason.push('…');
            }
            self.bad_lines.push(BadLine { line, reason });
        }
    }
}

/// The longest reason kept for a bad line, in bytes (then `…`).
const MAX_REASON_BYTES: usize = 200;

/// Errors that stop a list from loading at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CategoryError {
    /// More categories than a mask holds.
    #[error("too many categories: at most {MAX_CATEGORIES}")]
    TooMany,
    /// The same category name loaded once as block and once as allow.
    #[error("category `{0}` is already loaded as the other kind of list")]
    KindMismatch(String),
    /// The combined `/regex/` rules could not be compiled.
    #[error("cannot compile the regex rules: {0}")]
    Regex(String),
}

/// The categories matching a name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Matches {
    /// Block categories that cover the name (after exceptions and allow-lists).
    pub block: u32,
    /// Allow-lists that cover the name.
    pub allow: u32,
}

#[derive(Debug, Clone)]
struct Category {
    name: String,
    kind: ListKind,
}

/// One table slot: a name's hash and its category masks.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    hash: u64,
    exact: u32,
    below: u32,
}

/// Open-addressing table of name hashes.
#[derive(Debug, Clone)]
struct NameTable {
    slots: Vec<Slot>,
    len: usize,
    /// A bitmap of eight bits a slot, set for every stored hash: an
    /// eighth of the table's size, it stays in cache longer and answers
    /// most probes for unlisted names without touching the table.
    filter: Vec<u64>,
}

impl NameTable {
    fn new() -> Self {
        NameTable {
            slots: vec![Slot::default(); 16],
            len: 0,
            filter: vec![0; 2],
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The filter bit of a hash: taken from its high half, which the slot
    /// index (the low bits) does not use.
    #[inline]
    fn filter_bit(&self, hash: u64) -> (usize, u64) {
        let bits = self.filter.len() * 64;
        let bit = ((hash >> 32) as usize) & (bits - 1);
        (bit / 64, 1u64 << (bit % 64))
    }

    /// Whether the hash may be stored (false: certainly not).
    #[inline]
    fn may_contain(&self, hash: u64) -> bool {
        let (word, mask) = self.filter_bit(hash);
        self.filter.get(word).is_some_and(|w| w & mask != 0)
    }

    fn find(&self, hash: u64) -> Option<&Slot> {
        if !self.may_contain(hash) {
            return None;
        }
        let mask = self.mask();
        // Truncation intended: the low bits index the table.
        let mut i = (hash as usize) & mask;
        loop {
            let slot = self.slots.get(i)?;
            if slot.hash == hash {
                return Some(slot);
            }
            if slot.hash == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Sets bits; returns whether they were all already set.
    fn insert(&mut self, hash: u64, exact: u32, below: u32) -> bool {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = (hash as usize) & mask;
        loop {
            let Some(slot) = self.slots.get_mut(i) else {
                return false;
            };
            if slot.hash == hash {
                let had = slot.exact & exact == exact && slot.below & below == below;
                slot.exact |= exact;
                slot.below |= below;
                return had;
            }
            if slot.hash == 0 {
                *slot = Slot { hash, exact, below };
                self.len += 1;
                let (word, mask) = self.filter_bit(hash);
                if let Some(w) = self.filter.get_mut(word) {
                    *w |= mask;
                }
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![Slot::default(); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        // Eight filter bits a slot: one word per eight slots.
        self.filter = vec![0; self.slots.len() / 8];
        self.len = 0;
        for slot in old.into_iter().filter(|s| s.hash != 0) {
            self.insert(slot.hash, slot.exact, slot.below);
        }
    }

    fn memory(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>() + self.filter.len() * 8
    }

    /// The union of the `below` masks of the given hashes. The first slot
    /// of every hash is read before any is examined, so the loads overlap.
    fn below_any(&self, hashes: &[u64]) -> u32 {
        let mask = self.mask();
        let mut first = [Slot::default(); MAX_BATCH];
        for (slot, &hash) in first.iter_mut().zip(hashes) {
            *slot = self
                .slots
                .get((hash as usize) & mask)
                .copied()
                .unwrap_or_default();
        }
        let mut below = 0;
        for (slot, &hash) in first.iter().zip(hashes) {
            if slot.hash == hash {
                below |= slot.below;
            } else if slot.hash != 0 {
                // Collided with another name: continue the probe.
                below |= self.find(hash).map_or(0, |s| s.below);
            }
        }
        below
    }
}

#[derive(Debug, Clone)]
struct RegexRule {
    pattern: String,
    category: u32,
    exception: bool,
}

/// Every loaded list, ready for lookups.
#[derive(Debug, Clone)]
pub struct CategorySet {
    categories: Vec<Category>,
    allow_kind: u32,
    block: NameTable,
    exceptions: NameTable,
    regex_rules: Vec<RegexRule>,
    regex: Option<Regex>,
    seed: u64,
}

impl Default for CategorySet {
    fn default() -> Self {
        Self::new()
    }
}

/// Hash of one label, eight bytes at a time, ASCII case folded by setting
/// bit 5 of every byte (exact for letters, digits, `-` and `_`, the bytes a
/// valid name holds; other bytes may fold together, which only lets one
/// invalid name match another).
#[inline]
fn label_hash(label: &[u8]) -> u64 {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let mut h = (label.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = label.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ (u64::from_le_bytes(word) | FOLD)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 29;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        for (slot, b) in word.iter_mut().zip(rest) {
            *slot = b | 0x20;
        }
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 29;
    }
    h
}

/// Extends the hash state of a parent with the label to its left.
#[inline]
fn step(state: u64, label: &[u8]) -> u64 {
    (state.rotate_left(23) ^ label_hash(label)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Final mix so the low bits index the table well; never zero.
#[inline]
fn finish(state: u64) -> u64 {
    let mut h = state;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    if h == 0 { 1 } else { h }
}

impl CategorySet {
    /// An empty set with a random hash seed.
    pub fn new() -> Self {
        let seed = RandomState::new().hash_one(0x5741_5244u32) | 1;
        Self::with_seed(seed)
    }

    /// An empty set with a fixed seed (for reproducible benchmarks).
    pub fn with_seed(seed: u64) -> Self {
        CategorySet {
            categories: Vec::new(),
            allow_kind: 0,
            block: NameTable::new(),
            exceptions: NameTable::new(),
            regex_rules: Vec::new(),
            regex: None,
            seed,
        }
    }

    /// Category names, by bit.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.categories.iter().map(|c| c.name.as_str())
    }

    /// The names of the categories in `mask`.
    pub fn names_of(&self, mask: u32) -> Vec<String> {
        self.categories
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1u32 << i) != 0)
            .map(|(_, c)| c.name.clone())
            .collect()
    }

    /// Names stored (distinct hashes, blocks and exceptions).
    pub fn len(&self) -> usize {
        self.block.len + self.exceptions.len
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.regex_rules.is_empty()
    }

    /// Bytes held by the name tables.
    pub fn memory(&self) -> usize {
        self.block.memory() + self.exceptions.memory()
    }

    fn hash_name(&self, name: &str) -> u64 {
        let mut state = self.seed;
        for label in name.as_bytes().rsplit(|b| *b == b'.') {
            state = step(state, label);
        }
        finish(state)
    }

    fn category_bit(&mut self, name: &str, kind: ListKind) -> Result<u32, CategoryError> {
        if let Some(i) = self.categories.iter().position(|c| c.name == name) {
            if self.categories.get(i).map(|c| c.kind) != Some(kind) {
                return Err(CategoryError::KindMismatch(name.to_owned()));
            }
            return Ok(1u32 << i);
        }
        if self.categories.len() >= MAX_CATEGORIES {
            return Err(CategoryError::TooMany);
        }
        let bit = 1u32 << self.categories.len();
        self.categories.push(Category {
            name: name.to_owned(),
            kind,
        });
        if kind == ListKind::Allow {
            self.allow_kind |= bit;
        }
        Ok(bit)
    }

    /// Loads a list's text under `category`, detecting its format unless
    /// one is given.
    pub fn load(
        &mut self,
        category: &str,
        kind: ListKind,
        text: &str,
        format: Option<ListFormat>,
    ) -> Result<LoadReport, CategoryError> {
        let bit = self.category_bit(category, kind)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let format = format.unwrap_or_else(|| ListFormat::detect(text));
        let mut report = LoadReport {
            category: category.to_owned(),
            format: Some(format),
            ..LoadReport::default()
        };
        let mut loader = Loader {
            set: self,
            bit,
            kind,
            report: &mut report,
            rpz_origin: None,
            rpz_parens: 0,
        };
        for (index, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            loader.report.lines += 1;
            match format {
                ListFormat::Hosts | ListFormat::Domains | ListFormat::Wildcard => {
                    loader.domain_line(index + 1, line)
                }
                ListFormat::Adblock => loader.adblock_line(index + 1, line),
                ListFormat::Rpz => loader.rpz_line(index + 1, line),
            }
        }
        if text.ends_with('\n') {
            report.lines = report.lines.saturating_sub(1);
        }
        self.compile_regexes()?;
        Ok(report)
    }

    fn compile_regexes(&mut self) -> Result<(), CategoryError> {
        if self.regex_rules.is_empty() {
            self.regex = None;
            return Ok(());
        }
        let patterns: Vec<&str> = self
            .regex_rules
            .iter()
            .map(|r| r.pattern.as_str())
            .collect();
        // Every matching rule counts, so the automaton reports all of them.
        let regex = Regex::builder()
            .configure(Regex::config().match_kind(MatchKind::All))
            .build_many(&patterns)
            .map_err(|e| CategoryError::Regex(e.to_string()))?;
        self.regex = Some(regex);
        Ok(())
    }

    /// Adds a name (already normalised) with masks for itself and below.
    fn add(&mut self, name: &str, exact: u32, below: u32, exception: bool) -> bool {
        let hash = self.hash_name(name);
        let table = if exception {
            &mut self.exceptions
        } else {
            &mut self.block
        };
        !table.insert(hash, exact, below)
    }

    /// The categories covering `name` (any case, with or without the
    /// trailing dot).
    // FIXME(#4): a lookup on 1M names takes 120-150 ns on the shared
    // machine, over the 50 ns target (BENCHMARKS.md).
    pub fn lookup(&self, name: &str) -> Matches {
        let name = name.strip_suffix('.').unwrap_or(name);
        let bytes = name.as_bytes();
        let check_exceptions = self.exceptions.len > 0;

        // One pass from the end, label by label: after each label the
        // state is the hash of that parent. The parents' hashes are
        // gathered first so that their table probes are independent loads
        // the processor can overlap (each is likely a cache miss in a
        // large table).
        let mut parents = [0u64; MAX_BATCH];
        let mut count = 0;
        let mut block = 0u32;
        let mut excepted = 0u32;
        let mut state = self.seed;
        let mut labels = bytes.rsplit(|b| *b == b'.').peekable();
        while let Some(label) = labels.next() {
            state = step(state, label);
            if labels.peek().is_none() {
                break;
            }
            let hash = finish(state);
            if let Some(slot) = parents.get_mut(count) {
                *slot = hash;
                count += 1;
            } else {
                // Deeper than the batch: probe one by one.
                block |= self.block.find(hash).map_or(0, |s| s.below);
                if check_exceptions {
                    excepted |= self.exceptions.find(hash).map_or(0, |s| s.below);
                }
            }
        }
        let full = finish(state);
        let parents = parents.get(..count).unwrap_or_default();

        block |= self.block.find(full).map_or(0, |s| s.exact) | self.block.below_any(parents);
        if check_exceptions {
            excepted |= self.exceptions.find(full).map_or(0, |s| s.exact)
                | self.exceptions.below_any(parents);
        }

        if let Some(regex) = &self.regex {
            let lower = name.to_ascii_lowercase();
            let mut set = PatternSet::new(regex.pattern_len());
            regex.which_overlapping_matches(&Input::new(&lower), &mut set);
            for pattern in set.iter() {
                if let Some(rule) = self.regex_rules.get(pattern.as_usize()) {
                    if rule.exception {
                        excepted |= rule.category;
                    } else {
                        block |= rule.category;
                    }
                }
            }
        }

        let allow = excepted & self.allow_kind;
        let block = if allow != 0 {
            0
        } else {
            block & !excepted & !self.allow_kind
        };
        Matches { block, allow }
    }

    /// The block category names covering `name`.
    pub fn categories_of(&self, name: &str) -> Vec<String> {
        self.names_of(self.lookup(name).block)
    }
}

/// State while loading one list.
struct Loader<'a> {
    set: &'a mut CategorySet,
    bit: u32,
    kind: ListKind,
    report: &'a mut LoadReport,
    rpz_origin: Option<String>,
    rpz_parens: i32,
}

/// Names in hosts-file preambles that must not become rules.
const HOSTS_PREAMBLE: [&str; 12] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

fn parse_ip(token: &str) -> Option<IpAddr> {
    // Zone ids (`fe80::1%lo0`) appear in hosts preambles.
    let address = token.split('%').next().unwrap_or(token);
    address.parse().ok()
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Nothing left after trimming.
    Empty,
    /// An IP address, not a name.
    IpLiteral,
    /// A label over 63 octets.
    LabelTooLong,
    /// A name over 253 octets (255 on the wire).
    NameTooLong,
    /// An empty label (`a..b`).
    EmptyLabel,
    /// A character no host name has.
    InvalidCharacter,
    /// An internationalised name that has no A-label form.
    BadIdn,
}

impl NameError {
    fn reason(self) -> &'static str {
        match self {
            NameError::Empty => "empty name",
            NameError::IpLiteral => "ip address instead of a name",
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 253 octets",
            NameError::EmptyLabel => "empty label",
            NameError::InvalidCharacter => "invalid character in name",
            NameError::BadIdn => "invalid internationalised name",
        }
    }
}

/// Normalises a listed or queried name: trimmed, without the trailing dot,
/// lowercase, internationalised labels in A-label (`xn--`) form.
pub fn normalize_name(raw: &str) -> Result<String, NameError> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    if parse_ip(trimmed).is_some() {
        return Err(NameError::IpLiteral);
    }
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(trimmed).map_err(|_| NameError::BadIdn)?
    };
    if ascii.len() > 253 {
        return Err(NameError::NameTooLong);
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(NameError::InvalidCharacter);
        }
    }
    Ok(ascii)
}

impl Loader<'_> {
    fn add_name(&mut self, line: usize, raw: &str, exact: bool, below: bool, exception: bool) {
        match normalize_name(raw) {
            Ok(name) => {
                let exact_mask = if exact { self.bit } else { 0 };
                let below_mask = if below { self.bit } else { 0 };
                // Allow-lists are stored as exceptions of their own bit.
                let exception = exception || self.kind == ListKind::Allow;
                if self.set.add(&name, exact_mask, below_mask, exception) {
                    self.report.added += 1;
                } else {
                    self.report.duplicates += 1;
                }
            }
            Err(NameError::IpLiteral) => self.report.ip_literals += 1,
            Err(e) => self
                .report
                .bad_line(line, format!("{}: `{}`", e.reason(), raw.trim())),
        }
    }

    /// A hosts, plain-domain or wildcard line (the three mix in practice).
    fn domain_line(&mut self, line: usize, text: &str) {
        let content = text.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            if !text.trim().is_empty() {
                self.report.ignored += 1;
            }
            return;
        }
        let mut tokens = content.split_whitespace();
        let first = tokens.next().unwrap_or_default();
        let rest: Vec<&str> = tokens.collect();
        if parse_ip(first).is_some() {
            if rest.is_empty() {
                self.report.ip_literals += 1;
                return;
            }
            for name in rest {
                let lower = name.to_ascii_lowercase();
                if HOSTS_PREAMBLE.contains(&lower.trim_end_matches('.')) {
                    self.report.ignored += 1;
                    continue;
                }
                self.add_name(line, name, true, true, false);
            }
            return;
        }
        if !rest.is_empty() {
            self.report
                .bad_line(line, format!("unexpected text after `{first}`"));
            return;
        }
        let name = first.strip_prefix("*.").unwrap_or(first);
        // Some wildcard lists write `.example.com` for the same meaning.
        let name = name.strip_prefix('.').unwrap_or(name);
        if name.contains('*') {
            self.report
                .bad_line(line, format!("wildcard inside a name: `{first}`"));
            return;
        }
        self.add_name(line, name, true, true, false);
    }

    fn adblock_line(&mut self, line: usize, text: &str) {
        let rule = text.trim();
        if rule.is_empty() {
            return;
        }
        if rule.starts_with('!') || rule.starts_with('[') || rule.starts_with('#') {
            self.report.ignored += 1;
            return;
        }
        if ["##", "#@#", "#?#", "#$#", "#%#", "$$"]
            .iter()
            .any(|m| rule.contains(m))
        {
            // Cosmetic and HTML rules hide page elements; not for DNS.
            self.report.ignored += 1;
            return;
        }
        let (exception, rule) = match rule.strip_prefix("@@") {
            Some(r) => (true, r),
            None => (false, rule),
        };

        // A /regex/ rule, possibly with options.
        if rule.starts_with('/') && rule.len() > 2 {
            let (body, options) = match rule.rfind("/$") {
                Some(at) => (
                    rule.get(..=at).unwrap_or(rule),
                    rule.get(at + 2..).unwrap_or_default(),
                ),
                None => (rule, ""),
            };
            if let Some(pattern) = body.strip_prefix('/').and_then(|b| b.strip_suffix('/'))
                && !pattern.is_empty()
            {
                if !self.options_supported(options) {
                    self.report.unsupported += 1;
                    return;
                }
                if let Err(e) = Regex::new(pattern) {
                    let reason = e.to_string();
                    let first_line = reason.lines().next().unwrap_or("invalid regex");
                    self.report
                        .bad_line(line, format!("invalid regex: {first_line}"));
                    return;
                }
                let category = self.bit;
                let exception = exception || self.kind == ListKind::Allow;
                self.set.regex_rules.push(RegexRule {
                    pattern: pattern.to_owned(),
                    category,
                    exception,
                });
                self.report.added += 1;
                return;
            }
        }

        let (pattern, options) = match rule.split_once('$') {
            Some((p, o)) => (p, o),
            None => (rule, ""),
        };
        if !self.options_supported(options) {
            self.report.unsupported += 1;
            return;
        }
        // Hosts syntax is accepted in Adblock-style DNS lists too.
        if pattern.split_whitespace().nth(1).is_some() {
            let first = pattern.split_whitespace().next().unwrap_or_default();
            if parse_ip(first).is_some() {
                self.domain_line(line, pattern);
            } else {
                self.report.bad_line(line, "unexpected whitespace in rule");
            }
            return;
        }
        let (host_part, below) = if let Some(rest) = pattern.strip_prefix("||") {
            (rest, true)
        } else if let Some(rest) = pattern.strip_prefix('|') {
            // `|name^` anchors at the start: exactly that host.
            let rest = rest
                .strip_prefix("http://")
                .or_else(|| rest.strip_prefix("https://"))
                .unwrap_or(rest);
            (rest, false)
        } else {
            (pattern, true)
        };
        let end = host_part
            .find(['^', '/', '|', ':'])
            .unwrap_or(host_part.len());
        let host = host_part.get(..end).unwrap_or_default();
        let after = host_part.get(end..).unwrap_or_default();
        let after = after
            .trim_start_matches([':'])
            .trim_start_matches(|c: char| c.is_ascii_digit());
        if !(after.is_empty()
            || after == "^"
            || after == "^|"
            || after == "|"
            || after == "/"
            || after == "^/")
        {
            // A URL with a path or query: DNS filtering cannot see it.
            self.report.unsupported += 1;
            return;
        }
        if host.contains('*') {
            self.report.unsupported += 1;
            return;
        }
        if host.is_empty() {
            self.report
                .bad_line(line, format!("no host in rule `{rule}`"));
            return;
        }
        self.add_name(line, host, true, below, exception);
    }

    /// Options that change who or what a rule applies to make it a rule a
    /// plain DNS category cannot express; the rest are harmless.
    fn options_supported(&self, options: &str) -> bool {
        const UNSUPPORTED: [&str; 8] = [
            "badfilter",
            "client",
            "ctag",
            "dnstype",
            "dnsrewrite",
            "denyallow",
            "domain",
            "redirect",
        ];
        options
            .split(',')
            .map(|o| o.trim().trim_start_matches('~'))
            .all(|o| {
                !UNSUPPORTED
                    .iter()
                    .any(|u| o == *u || o.starts_with(&format!("{u}=")))
            })
    }

    fn rpz_line(&mut self, line: usize, text: &str) {
        let content = text.split(';').next().unwrap_or_default().trim();
        if content.is_empty() {
            if !text.trim().is_empty() {
                self.report.ignored += 1;
            }
            return;
        }
        // Multi-line records (the SOA) sit inside parentheses.
        let opens = content.matches('(').count() as i32;
        let closes = content.matches(')').count() as i32;
        let inside = self.rpz_parens > 0;
        self.rpz_parens = (self.rpz_parens + opens - closes).max(0);
        if inside {
            self.report.ignored += 1;
            return;
        }
        let tokens: Vec<&str> = content.split_whitespace().collect();
        let Some(&owner) = tokens.first() else { return };
        if owner.eq_ignore_ascii_case("$ORIGIN") {
            self.rpz_origin = tokens
                .get(1)
                .map(|o| o.trim_end_matches('.').to_ascii_lowercase());
            self.report.ignored += 1;
            return;
        }
        if owner.starts_with('$') || owner == "@" || text.starts_with([' ', '\t']) {
            self.report.ignored += 1;
            return;
        }
        // owner [ttl] [class] type rdata
        let mut rest = tokens.iter().skip(1).peekable();
        while let Some(t) = rest.peek() {
            if t.bytes().all(|b| b.is_ascii_digit()) || t.eq_ignore_ascii_case("IN") {
                rest.next();
            } else {
                break;
            }
        }
        let rtype = rest
            .next()
            .map(|t| t.to_ascii_uppercase())
            .unwrap_or_default();
        let rdata = rest
            .next()
            .copied()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if matches!(rtype.as_str(), "SOA" | "NS") {
            self.report.ignored += 1;
            return;
        }
        let exception = match (rtype.as_str(), rdata.as_str()) {
            ("CNAME", "." | "*." | "rpz-drop.") => false,
            ("CNAME", "rpz-passthru.") => true,
            ("CNAME", "rpz-tcp-only.") => {
                self.report.unsupported += 1;
                return;
            }
            // Local data (a walled-garden address or name) blocks the name.
            ("CNAME" | "A" | "AAAA" | "TXT", _) => false,
            ("", _) => {
                self.report.bad_line(line, "record without a type");
                return;
            }
            _ => {
                self.report.unsupported += 1;
                return;
            }
        };
        let mut name = owner.to_ascii_lowercase();
        if name.ends_with('.') {
            name.pop();
            if let Some(origin) = &self.rpz_origin
                && let Some(relative) = name.strip_suffix(origin.as_str())
            {
                name = relative.trim_end_matches('.').to_owned();
            }
        }
        if [".rpz-ip", ".rpz-nsip", ".rpz-nsdname", ".rpz-client-ip"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            self.report.unsupported += 1;
            return;
        }
        match name.strip_prefix("*.") {
            Some(parent) => self.add_name(line, parent, false, true, exception),
            None => self.add_name(line, &name, true, false, exception),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with(category: &str, text: &str) -> (CategorySet, LoadReport) {
        let mut set = CategorySet::new();
        let report = set.load(category, ListKind::Block, text, None).unwrap();
        (set, report)
    }

    /// Checks each (name, expected categories) against the set.
    fn check(set: &CategorySet, cases: &[(&str, &[&str])]) {
        for (name, want) in cases {
            let got = set.categories_of(name);
            assert_eq!(
                got,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "lookup of `{name}`"
            );
        }
    }

    /// Regression: a bad line's reason quoted the whole line, so one
    /// 10-megabyte line became a 10-megabyte warning.
    #[test]
    fn a_huge_bad_line_is_quoted_only_in_part() {
        let huge = "é".repeat(5_000_000);
        let (set, report) = set_with("ads", &format!("ads.example\n{huge}\n"));
        check(&set, &[("ads.example", &["ads"])]);
        assert_eq!(report.bad, 1);
        let reason = &report.bad_lines[0].reason;
        assert!(
            reason.len() <= MAX_REASON_BYTES + '…'.len_utf8(),
            "{}",
            reason.len()
        );
        assert!(reason.ends_with("éé…"), "{reason}");
    }

    /// Text decoded lossily (a line with bytes that are not UTF-8) loads
    /// its good lines and counts the undecodable one as bad.
    #[test]
    fn a_line_that_was_not_utf8_is_bad_and_the_rest_loads() {
        let bytes = b"good.example\nbad\xffname.example\nother.example\n";
        let text = String::from_utf8_lossy(bytes);
        let (set, report) = set_with("ads", &text);
        check(
            &set,
            &[("good.example", &["ads"]), ("other.example", &["ads"])],
        );
        assert_eq!((report.added, report.bad), (2, 1));
        assert_eq!(report.bad_lines[0].line, 2);
    }

    #[test]
    fn hosts_file_with_preamble_and_dirt() {
        let text = "\u{feff}# Title: test\r\n127.0.0.1 localhost\r\n::1 localhost ip6-localhost ip6-loopback\r\nfe80::1%lo0 localhost\r\n255.255.255.255 broadcasthost\r\n0.0.0.0 0.0.0.0\r\n0.0.0.0 Ads.Example.COM. tracker.example.net # inline comment\r\n0.0.0.0\tads.example.com\r\n0.0.0.0 bad..name\r\n0.0.0.0 1.2.3.4\r\n";
        let (set, report) = set_with("ads", text);
        assert_eq!(report.format, Some(ListFormat::Hosts));
        assert_eq!(report.added, 2);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.ip_literals, 1);
        assert_eq!(report.bad, 1);
        assert_eq!(report.bad_lines[0].line, 9);
        assert_eq!(report.lines, 10);
        check(
            &set,
            &[
                ("ads.example.com", &["ads"]),
                ("x.ads.example.com.", &["ads"]),
                ("ADS.EXAMPLE.COM", &["ads"]),
                ("example.com", &[]),
                ("localhost", &[]),
                ("tracker.example.net", &["ads"]),
                ("notads.example.com", &[]),
            ],
        );
    }

    #[test]
    fn plain_list_with_idn_long_labels_and_garbage() {
        let long_label = "a".repeat(64);
        let long_name = vec!["abcdefghi"; 26].join(".");
        let text = format!(
            "bücher.example\nok.example\n{long_label}.example\n{long_name}\nnot a name\nbad_char!.example\n203.0.113.7\nok.example\n"
        );
        let (set, report) = set_with("malware", &text);
        assert_eq!(report.format, Some(ListFormat::Domains));
        assert_eq!(report.added, 2);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.ip_literals, 1);
        let lines: Vec<usize> = report.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(
            report.bad_lines[0]
                .reason
                .starts_with("label longer than 63")
        );
        assert!(
            report.bad_lines[1]
                .reason
                .starts_with("name longer than 253")
        );
        check(
            &set,
            &[
                ("xn--bcher-kva.example", &["malware"]),
                ("www.xn--bcher-kva.example", &["malware"]),
                ("ok.example", &["malware"]),
            ],
        );
    }

    #[test]
    fn wildcard_list() {
        let (set, report) = set_with(
            "phishing",
            "*.evil.example\n*.other.example\n*bad*.example\n",
        );
        assert_eq!(report.format, Some(ListFormat::Wildcard));
        assert_eq!(report.added, 2);
        assert_eq!(report.bad, 1);
        check(
            &set,
            &[
                ("evil.example", &["phishing"]),
                ("a.b.evil.example", &["phishing"]),
                ("example", &[]),
            ],
        );
    }

    #[test]
    fn adblock_rules_exceptions_and_regex() {
        let text = "[Adblock Plus 2.0]\n! comment\n||ads.example^\n||track.example^$important\n@@||good.ads.example^\nexample.org##.banner\n||cdn.example/path/script.js\n||client.example^$client=10.0.0.1\n/^ad[0-9]+\\./\n/([/\n@@/^ad7\\./\n|exact.example^\n";
        let (set, report) = set_with("ads", text);
        assert_eq!(report.format, Some(ListFormat::Adblock));
        assert_eq!(report.added, 6);
        assert_eq!(report.unsupported, 2);
        assert_eq!(report.ignored, 3);
        assert_eq!(report.bad, 1);
        assert_eq!(report.bad_lines[0].line, 10);
        check(
            &set,
            &[
                ("ads.example", &["ads"]),
                ("x.ads.example", &["ads"]),
                ("good.ads.example", &[]),
                ("y.good.ads.example", &[]),
                ("track.example", &["ads"]),
                ("ad42.example.com", &["ads"]),
                ("ad7.example.com", &[]),
                ("cdn.example", &[]),
                ("exact.example", &["ads"]),
                ("sub.exact.example", &[]),
            ],
        );
    }

    #[test]
    fn rpz_zone() {
        let text = "$TTL 2h\n@ IN SOA localhost. root.localhost. (\n 1 ; serial\n 2h 1h 2w 2h )\n  IN NS localhost.\nbad.example CNAME .\n*.bad.example CNAME .\nsub.example 300 IN CNAME .\n*.wild.example CNAME *.\nok.bad.example CNAME rpz-passthru.\n32.1.2.0.192.rpz-ip CNAME .\nnotype.example\n";
        let (set, report) = set_with("malware", text);
        assert_eq!(report.format, Some(ListFormat::Rpz));
        assert_eq!(report.added, 5);
        assert_eq!(report.unsupported, 1);
        assert_eq!(report.bad, 1);
        check(
            &set,
            &[
                ("bad.example", &["malware"]),
                ("x.bad.example", &["malware"]),
                ("ok.bad.example", &[]),
                ("sub.example", &["malware"]),
                ("x.sub.example", &[]),
                ("wild.example", &[]),
                ("a.wild.example", &["malware"]),
            ],
        );
    }

    #[test]
    fn all_categories_at_once_and_allow_lists_override() {
        let mut set = CategorySet::new();
        set.load(
            "malware",
            ListKind::Block,
            "evil.example\nshared.example\n",
            None,
        )
        .unwrap();
        set.load(
            "phishing",
            ListKind::Block,
            "shared.example\nlogin.evil.example\n",
            None,
        )
        .unwrap();
        set.load("allow", ListKind::Allow, "safe.shared.example\n", None)
            .unwrap();
        check(
            &set,
            &[
                ("login.evil.example", &["malware", "phishing"]),
                ("x.shared.example", &["malware", "phishing"]),
                ("safe.shared.example", &[]),
                ("a.safe.shared.example", &[]),
            ],
        );
        assert_ne!(set.lookup("safe.shared.example").allow, 0);
        assert_eq!(
            set.load("allow", ListKind::Block, "", None),
            Err(CategoryError::KindMismatch("allow".into()))
        );
    }

    #[test]
    fn names_deeper_than_the_probe_batch() {
        let (set, _) = set_with("deep", "example.org\n");
        let labels: Vec<String> = (0..40).map(|i| format!("l{i}")).collect();
        let name = format!("{}.example.org", labels.join("."));
        check(&set, &[(name.as_str(), &["deep"]), ("org", &[])]);
        let (set, _) = set_with("deep", &format!("{name}\n"));
        check(&set, &[(name.as_str(), &["deep"]), ("example.org", &[])]);
    }

    #[test]
    fn category_limit() {
        let mut set = CategorySet::new();
        for i in 0..MAX_CATEGORIES {
            set.load(&format!("c{i}"), ListKind::Block, "a.example\n", None)
                .unwrap();
        }
        assert_eq!(
            set.load("one-more", ListKind::Block, "", None),
            Err(CategoryError::TooMany)
        );
        assert_eq!(set.categories_of("a.example").len(), MAX_CATEGORIES);
    }

    #[test]
    fn many_names_survive_growth() {
        let text: String = (0..50_000).map(|i| format!("host{i}.example\n")).collect();
        let (set, report) = set_with("big", &text);
        assert_eq!(report.added, 50_000);
        for i in (0..50_000).step_by(997) {
            assert_eq!(
                set.categories_of(&format!("www.host{i}.example")),
                vec!["big".to_string()]
            );
        }
        assert!(set.categories_of("host50000.example").is_empty());
    }
}
