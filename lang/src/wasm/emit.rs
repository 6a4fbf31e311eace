//! Code generation: a checked bundle becomes one module.
//!
//! The module has one function per event (`flow`, `dns`, `url`), each a
//! straight-line decision procedure for that event only: the policies that
//! decide the event, in bundle order, each a block of its rules for the
//! event, in order. A rule's condition is short-circuit code over the fact
//! slots; a test that occurs more than once in the event's rules is
//! computed once and kept in a memo byte (0 not yet known, 1 false, 2 true),
//! so shared tests cost one evaluation per decision. Enum tests compare
//! integers and enum lists are one bit-mask test; class subtrees are a
//! bitset lookup; category sets arrive as bitsets, so `has any [..]` is an
//! `and` with a constant mask. What the interpreter decides at run time
//! and the compiler knows already (which rules apply to the event, a DNS
//! block's default response) is settled here.

use std::collections::HashMap;
use std::net::IpAddr;

use ward_sdk::{
    ABI_VERSION, ALERT_SIZE, AlertEntry, EXPORT_ABI_VERSION, EXPORT_EVALUATE, EXPORT_MEMORY,
    FLAG_FILTER, FactKind, FactSlot, Layout, MANIFEST_SECTION, Manifest, OUT_ALERTS, OUT_DECIDER,
    OUT_HEADER_SIZE, OUT_OUTCOMES, OUTCOME_SIZE, PolicyEntry, RuleEntry, SLOT_BITSET, SLOT_FAMILY,
    SLOT_LEN, SLOT_SIZE, SLOT_TAG, SLOT_V6_HI, SLOT_V6_LO, SLOT_VALUE, STATUS_BAD_EVENT, STATUS_OK,
};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, ExportKind, ExportSection,
    Function, FunctionSection, InstructionSink, MemorySection, MemoryType, Module, NameMap,
    NameSection, TypeSection, ValType,
};

use super::helpers::{self, mem};
use super::{CompileError, dns_default, event_code, glob, manifest};
use crate::ir::{Bundle, Cond, FactTest, Mode, Policy, TestOp, Verdict, VerdictKind};
use crate::schema::{Event, FactId, Type};
use crate::span::SourceMap;
use crate::value::{IpNet, Value};

/// Function indexes, in the order the module defines them.
const F_ABI_VERSION: u32 = 0;
const F_EVALUATE: u32 = 1;
const F_BYTES_EQ: u32 = 2;
const F_VERSION_CMP: u32 = 3;
const F_DFA_WALK: u32 = 4;
const F_STR_SET_HAS: u32 = 5;
const F_IP_SET_HAS: u32 = 6;
const F_EVENT_BASE: u32 = 7;

/// The output header starts here; address 0 stays unused.
const OUTPUT_BASE: u32 = 16;
const PAGE: u32 = 65536;
/// Heap space the module asks for beyond its fixed areas; the host grows
/// memory when a decision's facts need more.
const HEAP_PAGES: u32 = 1;

/// Locals of an event function, after its `flags` parameter.
const L_FLAGS: u32 = 0;
const L_ALERT_BYTES: u32 = 1;
const L_OUTCOMES: u32 = 2;
const L_OUTCOME_BYTES: u32 = 3;
const L_BEST_KIND: u32 = 4;
const L_BEST: u32 = 5;
const L_RULE: u32 = 6;
const L_VERDICT: u32 = 7;
const L_KIND: u32 = 8;
const L_N64: u32 = 9;
/// Scratch: a memo byte just read, and a test's value just computed.
const L_MEMO: u32 = 10;
const L_VALUE: u32 = 11;
const FIXED_LOCALS: [ValType; 11] = [
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I64,
    ValType::I32,
    ValType::I32,
];

pub(super) struct Output {
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// Constant data, laid out from `base`, after the fact slots.
struct Data {
    base: u32,
    bytes: Vec<u8>,
    strings: HashMap<Vec<u8>, u32>,
}

impl Data {
    fn add(&mut self, bytes: &[u8], align: u32) -> u32 {
        while !(self.bytes.len() as u32).is_multiple_of(align) {
            self.bytes.push(0);
        }
        let at = self.base + self.bytes.len() as u32;
        self.bytes.extend_from_slice(bytes);
        at
    }

    fn string(&mut self, text: &str) -> u32 {
        if let Some(at) = self.strings.get(text.as_bytes()) {
            return *at;
        }
        let at = self.add(text.as_bytes(), 1);
        self.strings.insert(text.as_bytes().to_vec(), at);
        at
    }

    fn end(&self) -> u32 {
        self.base + self.bytes.len() as u32
    }
}

fn kind_of(ty: &Type) -> Option<FactKind> {
    Some(match ty {
        Type::Bool => FactKind::Bool,
        Type::Int => FactKind::Int,
        Type::Str | Type::Name => FactKind::Str,
        Type::Ip => FactKind::Ip,
        Type::Enum(_) => FactKind::Enum,
        Type::Class => FactKind::Class,
        Type::Version => FactKind::Version,
        Type::Set(elem) => match elem.as_ref() {
            Type::Str | Type::Name => FactKind::StrSet,
            Type::Ip => FactKind::IpSet,
            Type::Category => FactKind::CategorySet,
            _ => return None,
        },
        Type::Category => return None,
    })
}

fn kind_code(kind: VerdictKind) -> i32 {
    match kind {
        VerdictKind::Allow => 0,
        VerdictKind::Block => 1,
        VerdictKind::Quarantine => 2,
    }
}

/// Everything the code of one bundle shares.
struct Compiler<'b> {
    bundle: &'b Bundle,
    data: Data,
    /// Slot offset (from `layout.input`) and kind of each fact read.
    slots: HashMap<FactId, (u32, FactKind)>,
    slot_list: Vec<FactSlot>,
    verdicts: Vec<Verdict>,
    /// Data offsets of glob tables, by the glob list's key.
    dfas: HashMap<String, (u32, u32, u32, bool)>,
    /// Data offsets of class bitsets, by the class list's key.
    class_sets: HashMap<String, (u32, u32)>,
    output: u32,
    alerts: u32,
    filter: u32,
    /// One byte per shared test, shared by the event functions.
    memo: u32,
    input: u32,
    category_words: u32,
}

impl Compiler<'_> {
    fn verdict(&mut self, verdict: Verdict) -> u32 {
        if let Some(i) = self.verdicts.iter().position(|v| *v == verdict) {
            return i as u32;
        }
        self.verdicts.push(verdict);
        self.verdicts.len() as u32 - 1
    }

    /// Assigns a slot to every fact the conditions read.
    fn collect_slots(&mut self, cond: &Cond) -> Result<(), CompileError> {
        let fact = match cond {
            Cond::Const(_) => return Ok(()),
            Cond::And(items) | Cond::Or(items) => {
                for item in items {
                    self.collect_slots(item)?;
                }
                return Ok(());
            }
            Cond::Not(inner) => return self.collect_slots(inner),
            Cond::Exists(fact, _) => *fact,
            Cond::Test(test) => test.fact,
        };
        if self.slots.contains_key(&fact) {
            return Ok(());
        }
        let def = self.bundle.schema.def(fact);
        let kind = kind_of(&def.ty).ok_or_else(|| CompileError::Unsupported {
            what: format!("fact `{}` of type {}", def.name, def.ty),
        })?;
        let offset = self.slot_list.len() as u32 * SLOT_SIZE;
        self.slots.insert(fact, (offset, kind));
        self.slot_list.push(FactSlot {
            name: def.name.clone(),
            kind,
            offset,
        });
        Ok(())
    }

    /// Lays out the constants a test needs before code is emitted, so
    /// that the memory layout is known.
    fn collect_data(&mut self, cond: &Cond) -> Result<(), CompileError> {
        match cond {
            Cond::And(items) | Cond::Or(items) => {
                for item in items {
                    self.collect_data(item)?;
                }
            }
            Cond::Not(inner) => self.collect_data(inner)?,
            Cond::Test(test) => match &test.op {
                TestOp::Matches(globs) if !globs.is_empty() => {
                    let key = format!("{globs:?}");
                    if !self.dfas.contains_key(&key) {
                        let table = glob::build(globs)?;
                        let at = self.data.add(&table.bytes(), 2);
                        let accept = at + 256 + table.next.len() as u32 * 2;
                        self.dfas
                            .insert(key, (at, accept, table.class_count, table.fold_case));
                    }
                }
                TestOp::Within(classes) => {
                    let key = format!("{classes:?}");
                    if !self.class_sets.contains_key(&key) {
                        let taxonomy = &self.bundle.schema.taxonomy;
                        let n = taxonomy.len();
                        let mut bits = vec![0u8; n.div_ceil(8).max(1)];
                        for c in 0..n {
                            let id = crate::schema::ClassId(c as u32);
                            if classes.iter().any(|a| taxonomy.is_within(id, *a))
                                && let Some(byte) = bits.get_mut(c / 8)
                            {
                                *byte |= 1 << (c % 8);
                            }
                        }
                        let at = self.data.add(&bits, 1);
                        self.class_sets.insert(key, (at, n as u32));
                    }
                }
                _ => {}
            },
            Cond::Const(_) | Cond::Exists(..) => {}
        }
        Ok(())
    }
}

/// A key that identifies a test regardless of where it is written.
fn atom_key(cond: &Cond) -> Option<String> {
    match cond {
        Cond::Exists(fact, _) => Some(format!("e{}", fact.0)),
        Cond::Test(test) => Some(format!("t{}:{:?}", test.fact.0, test.op)),
        _ => None,
    }
}

fn count_atoms(cond: &Cond, counts: &mut HashMap<String, u32>) {
    match cond {
        Cond::And(items) | Cond::Or(items) => {
            for item in items {
                count_atoms(item, counts);
            }
        }
        Cond::Not(inner) => count_atoms(inner, counts),
        Cond::Exists(..) | Cond::Test(_) => {
            if let Some(key) = atom_key(cond) {
                *counts.entry(key).or_default() += 1;
            }
        }
        Cond::Const(_) => {}
    }
}

/// The code of one event function.
struct EventCode<'c, 'b> {
    c: &'c mut Compiler<'b>,
    body: Vec<u8>,
    /// Memo local of each shared test.
    memo: HashMap<String, u32>,
    locals: Vec<ValType>,
}

impl EventCode<'_, '_> {
    fn s(&mut self) -> InstructionSink<'_> {
        InstructionSink::new(&mut self.body)
    }

    /// Pushes 1 if the condition holds, else 0.
    fn cond(&mut self, cond: &Cond) {
        match cond {
            Cond::Const(b) => {
                self.s().i32_const(i32::from(*b));
            }
            Cond::And(items) => self.chain(items, true),
            Cond::Or(items) => self.chain(items, false),
            Cond::Not(inner) => {
                self.cond(inner);
                self.s().i32_eqz();
            }
            Cond::Exists(..) | Cond::Test(_) => {
                let memo = atom_key(cond).and_then(|k| self.memo.get(&k).copied());
                match memo {
                    Some(at) => {
                        // One byte of memory per shared test: 0 unknown,
                        // 1 false, 2 true. Memory rather than locals keeps
                        // Cranelift from threading every memo through
                        // every block of a large function.
                        self.s()
                            .i32_const(0)
                            .i32_load8_u(mem(at, 0))
                            .local_tee(L_MEMO)
                            .i32_eqz()
                            .if_(BlockType::Result(ValType::I32));
                        self.atom(cond);
                        self.s()
                            .local_set(L_VALUE)
                            .i32_const(0)
                            .local_get(L_VALUE)
                            .i32_const(1)
                            .i32_add()
                            .i32_store8(mem(at, 0))
                            .local_get(L_VALUE)
                            .else_()
                            .local_get(L_MEMO)
                            .i32_const(1)
                            .i32_sub()
                            .end();
                    }
                    None => self.atom(cond),
                }
            }
        }
    }

    /// `and` (all) or `or` (any), short-circuit.
    fn chain(&mut self, items: &[Cond], all: bool) {
        let Some((first, rest)) = items.split_first() else {
            self.s().i32_const(i32::from(all));
            return;
        };
        self.cond(first);
        if rest.is_empty() {
            return;
        }
        self.s().if_(BlockType::Result(ValType::I32));
        if all {
            self.chain(rest, all);
            self.s().else_().i32_const(0).end();
        } else {
            self.s().i32_const(1).else_();
            self.chain(rest, all);
            self.s().end();
        }
    }

    fn atom(&mut self, cond: &Cond) {
        let (fact, test) = match cond {
            Cond::Exists(fact, _) => (*fact, None),
            Cond::Test(test) => (test.fact, Some(test)),
            _ => return,
        };
        let Some(&(offset, kind)) = self.c.slots.get(&fact) else {
            self.s().i32_const(0);
            return;
        };
        let slot = self.c.input + offset;
        self.s().i32_const(0).i32_load(mem(slot + SLOT_TAG, 2));
        let Some(test) = test else {
            return;
        };
        self.s().if_(BlockType::Result(ValType::I32));
        self.test(slot, kind, test);
        self.s().else_().i32_const(0).end();
    }

    fn load_i32(&mut self, at: u32) {
        self.s().i32_const(0).i32_load(mem(at, 2));
    }

    fn load_i64(&mut self, at: u32) {
        self.s().i32_const(0).i64_load(mem(at, 3));
    }

    /// The test of a present fact; pushes 0 or 1.
    fn test(&mut self, slot: u32, kind: FactKind, test: &FactTest) {
        match &test.op {
            TestOp::IsTrue => match kind {
                FactKind::Bool => self.load_i32(slot + SLOT_VALUE),
                _ => {
                    self.s().i32_const(0);
                }
            },
            TestOp::Eq(value) => self.equals(slot, kind, value),
            TestOp::Ne(value) => {
                self.equals(slot, kind, value);
                self.s().i32_eqz();
            }
            TestOp::Lt(v) | TestOp::Le(v) | TestOp::Gt(v) | TestOp::Ge(v) => {
                self.order(slot, kind, &test.op, v);
            }
            TestOp::In(values) => self.any_equal(slot, kind, values),
            TestOp::InNets(nets) => self.in_nets(slot, kind, nets),
            TestOp::Within(classes) => {
                let key = format!("{classes:?}");
                match (kind, self.c.class_sets.get(&key).copied()) {
                    (FactKind::Class, Some((bits, n))) => {
                        // v < n && bits[v >> 3] >> (v & 7) & 1
                        self.load_i32(slot + SLOT_VALUE);
                        self.s()
                            .local_set(L_KIND)
                            .local_get(L_KIND)
                            .i32_const(n as i32)
                            .i32_lt_u()
                            .if_(BlockType::Result(ValType::I32))
                            .local_get(L_KIND)
                            .i32_const(3)
                            .i32_shr_u()
                            .i32_load8_u(mem(bits, 0))
                            .local_get(L_KIND)
                            .i32_const(7)
                            .i32_and()
                            .i32_shr_u()
                            .i32_const(1)
                            .i32_and()
                            .else_()
                            .i32_const(0)
                            .end();
                    }
                    _ => {
                        self.s().i32_const(0);
                    }
                }
            }
            TestOp::InRange { lo, hi } => {
                match kind {
                    FactKind::Int => self.load_i64(slot + SLOT_VALUE),
                    FactKind::Enum => {
                        self.load_i32(slot + SLOT_VALUE);
                        self.s().i64_extend_i32_u();
                    }
                    _ => {
                        self.s().i32_const(0);
                        return;
                    }
                }
                let (lo, hi) = (*lo, *hi);
                let mut s = self.s();
                s.local_set(L_N64);
                s.local_get(L_N64).i64_const(lo).i64_ge_s();
                s.local_get(L_N64).i64_const(hi).i64_le_s();
                if lo <= hi {
                    s.i32_and();
                } else {
                    s.i32_or();
                }
            }
            TestOp::Matches(globs) => {
                let key = format!("{globs:?}");
                match (kind, self.c.dfas.get(&key).copied()) {
                    (FactKind::Str, Some((table, accept, classes, fold))) => {
                        self.load_i32(slot + SLOT_VALUE);
                        self.load_i32(slot + SLOT_LEN);
                        self.s()
                            .i32_const(table as i32)
                            .i32_const(accept as i32)
                            .i32_const(classes as i32)
                            .i32_const(i32::from(fold))
                            .call(F_DFA_WALK);
                    }
                    _ => {
                        self.s().i32_const(0);
                    }
                }
            }
            TestOp::HasAny(values) => self.set_has(slot, kind, values, false),
            TestOp::HasAll(values) => self.set_has(slot, kind, values, true),
        }
    }

    /// Pushes whether the present scalar fact equals the value.
    fn equals(&mut self, slot: u32, kind: FactKind, value: &Value) {
        match (kind, value) {
            (FactKind::Bool, Value::Bool(b)) => {
                self.load_i32(slot + SLOT_VALUE);
                self.s().i32_const(i32::from(*b)).i32_eq();
            }
            (FactKind::Int, Value::Int(n)) => {
                self.load_i64(slot + SLOT_VALUE);
                self.s().i64_const(*n).i64_eq();
            }
            (FactKind::Enum, Value::Enum(_, i)) => {
                self.load_i32(slot + SLOT_VALUE);
                self.s().i32_const(i32::from(*i)).i32_eq();
            }
            (FactKind::Class, Value::Class(c)) => {
                self.load_i32(slot + SLOT_VALUE);
                self.s().i32_const(c.0 as i32).i32_eq();
            }
            (FactKind::Ip, Value::Ip(ip)) => {
                let net = IpNet {
                    addr: *ip,
                    prefix: if ip.is_ipv4() { 32 } else { 128 },
                };
                self.in_net(slot, &net);
            }
            (FactKind::Str, Value::Str(text)) => {
                let at = self.c.data.string(text);
                let len = text.len() as i32;
                self.load_i32(slot + SLOT_LEN);
                self.s().i32_const(len).i32_eq();
                if len > 0 {
                    self.s().if_(BlockType::Result(ValType::I32));
                    self.load_i32(slot + SLOT_VALUE);
                    self.s()
                        .i32_const(at as i32)
                        .i32_const(len)
                        .call(F_BYTES_EQ)
                        .else_()
                        .i32_const(0)
                        .end();
                }
            }
            (FactKind::Version, Value::Version(v)) => {
                self.version_cmp(slot, v);
                self.s().i32_eqz();
            }
            _ => {
                self.s().i32_const(0);
            }
        }
    }

    /// Pushes `version_cmp(fact, literal)`.
    fn version_cmp(&mut self, slot: u32, version: &crate::value::Version) {
        let bytes: Vec<u8> = version.0.iter().flat_map(|p| p.to_le_bytes()).collect();
        let at = self.c.data.add(&bytes, 8);
        self.load_i32(slot + SLOT_VALUE);
        self.load_i32(slot + SLOT_LEN);
        self.s()
            .i32_const(at as i32)
            .i32_const(version.0.len() as i32)
            .call(F_VERSION_CMP);
    }

    fn order(&mut self, slot: u32, kind: FactKind, op: &TestOp, value: &Value) {
        match (kind, value) {
            (FactKind::Int, Value::Int(n)) => {
                self.load_i64(slot + SLOT_VALUE);
                let mut s = self.s();
                s.i64_const(*n);
                match op {
                    TestOp::Lt(_) => s.i64_lt_s(),
                    TestOp::Le(_) => s.i64_le_s(),
                    TestOp::Gt(_) => s.i64_gt_s(),
                    _ => s.i64_ge_s(),
                };
            }
            (FactKind::Version, Value::Version(v)) => {
                self.version_cmp(slot, v);
                let mut s = self.s();
                s.i32_const(0);
                match op {
                    TestOp::Lt(_) => s.i32_lt_s(),
                    TestOp::Le(_) => s.i32_le_s(),
                    TestOp::Gt(_) => s.i32_gt_s(),
                    _ => s.i32_ge_s(),
                };
            }
            _ => {
                self.s().i32_const(0);
            }
        }
    }

    fn any_equal(&mut self, slot: u32, kind: FactKind, values: &[Value]) {
        // An enum list is one mask test.
        if kind == FactKind::Enum
            && values
                .iter()
                .all(|v| matches!(v, Value::Enum(_, i) if *i < 32))
        {
            let mask = values.iter().fold(0u32, |m, v| match v {
                Value::Enum(_, i) => m | (1 << i),
                _ => m,
            });
            self.load_i32(slot + SLOT_VALUE);
            self.s()
                .local_set(L_KIND)
                .local_get(L_KIND)
                .i32_const(32)
                .i32_lt_u()
                .i32_const(mask as i32)
                .local_get(L_KIND)
                .i32_shr_u()
                .i32_const(1)
                .i32_and()
                .i32_and();
            return;
        }
        let Some((first, rest)) = values.split_first() else {
            self.s().i32_const(0);
            return;
        };
        self.equals(slot, kind, first);
        for value in rest {
            self.s()
                .if_(BlockType::Result(ValType::I32))
                .i32_const(1)
                .else_();
            self.equals(slot, kind, value);
            self.s().end();
        }
    }

    fn in_nets(&mut self, slot: u32, kind: FactKind, nets: &[IpNet]) {
        if kind != FactKind::Ip || nets.is_empty() {
            self.s().i32_const(0);
            return;
        }
        for (i, net) in nets.iter().enumerate() {
            self.in_net(slot, net);
            if i > 0 {
                self.s().i32_or();
            }
        }
    }

    /// Pushes whether the present address fact lies in the network; as in
    /// `IpNet::contains`, the address must be of the network's family
    /// (inputs are canonical: mapped IPv4 arrives as IPv4).
    fn in_net(&mut self, slot: u32, net: &IpNet) {
        match net.network() {
            IpAddr::V4(addr) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(net.prefix))
                    .unwrap_or(0);
                let want = (u32::from(addr) & mask) as i32;
                self.load_i32(slot + SLOT_FAMILY);
                self.s().i32_const(4).i32_eq();
                self.load_i32(slot + SLOT_VALUE);
                self.s()
                    .i32_const(mask as i32)
                    .i32_and()
                    .i32_const(want)
                    .i32_eq()
                    .i32_and();
            }
            IpAddr::V6(addr) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(net.prefix))
                    .unwrap_or(0);
                let value = u128::from(addr) & mask;
                self.load_i32(slot + SLOT_FAMILY);
                self.s().i32_const(6).i32_eq();
                for (at, shift) in [(SLOT_V6_HI, 64), (SLOT_V6_LO, 0)] {
                    self.load_i64(slot + at);
                    self.s()
                        .i64_const((mask >> shift) as u64 as i64)
                        .i64_and()
                        .i64_const((value >> shift) as u64 as i64)
                        .i64_eq()
                        .i32_and();
                }
            }
        }
    }

    fn set_has(&mut self, slot: u32, kind: FactKind, values: &[Value], all: bool) {
        if values.is_empty() {
            self.s().i32_const(i32::from(all));
            return;
        }
        if kind == FactKind::CategorySet {
            // Group the wanted ids by bitset word.
            let mut words: Vec<(u32, u32)> = Vec::new();
            let mut foreign = false;
            for value in values {
                let Value::Category(id) = value else {
                    foreign = true;
                    continue;
                };
                let (word, bit) = (id.0 / 32, 1u32 << (id.0 % 32));
                if word >= self.c.category_words {
                    foreign = true;
                    continue;
                }
                match words.iter_mut().find(|(w, _)| *w == word) {
                    Some((_, mask)) => *mask |= bit,
                    None => words.push((word, bit)),
                }
            }
            if all && foreign {
                self.s().i32_const(0);
                return;
            }
            self.s().i32_const(i32::from(all));
            for (word, mask) in words {
                self.load_i32(slot + SLOT_BITSET);
                let mut s = self.s();
                s.i32_load(mem(word * 4, 2))
                    .i32_const(mask as i32)
                    .i32_and();
                if all {
                    s.i32_const(mask as i32).i32_eq().i32_and();
                } else {
                    s.i32_const(0).i32_ne().i32_or();
                }
            }
            return;
        }
        self.s().i32_const(i32::from(all));
        for value in values {
            match (kind, value) {
                (FactKind::StrSet, Value::Str(text)) => {
                    let at = self.c.data.string(text);
                    self.load_i32(slot + SLOT_VALUE);
                    self.load_i32(slot + SLOT_LEN);
                    self.s()
                        .i32_const(at as i32)
                        .i32_const(text.len() as i32)
                        .call(F_STR_SET_HAS);
                }
                (FactKind::IpSet, Value::Ip(ip)) => {
                    let (family, v4, hi, lo) = match ip {
                        IpAddr::V4(a) => (4, u32::from(*a) as i32, 0i64, 0i64),
                        IpAddr::V6(a) => {
                            let n = u128::from(*a);
                            (6, 0, (n >> 64) as u64 as i64, n as u64 as i64)
                        }
                    };
                    self.load_i32(slot + SLOT_VALUE);
                    self.load_i32(slot + SLOT_LEN);
                    self.s()
                        .i32_const(family)
                        .i32_const(v4)
                        .i64_const(hi)
                        .i64_const(lo)
                        .call(F_IP_SET_HAS);
                }
                _ => {
                    self.s().i32_const(0);
                }
            }
            if all {
                self.s().i32_and();
            } else {
                self.s().i32_or();
            }
        }
    }

    /// One policy's block for the event.
    fn policy(&mut self, index: u32, policy: &Policy, event: Event, alert_ids: &[Vec<Vec<u32>>]) {
        let filter = self.c.filter + index;
        self.s().block(BlockType::Empty);

        // Skip the policy when the host filters it out.
        self.s()
            .local_get(L_FLAGS)
            .i32_const(FLAG_FILTER)
            .i32_and()
            .if_(BlockType::Empty)
            .i32_const(0)
            .i32_load8_u(mem(filter, 0))
            .i32_eqz()
            .br_if(1)
            .end();

        // Skip it when its `for` condition does not hold.
        if policy.scope != Cond::Const(true) {
            self.cond(&policy.scope);
            self.s().i32_eqz().br_if(0);
        }

        // The rules in order; the first with a verdict decides.
        self.s().block(BlockType::Empty);
        for (r, rule) in policy.rules.iter().enumerate() {
            if rule.event != event {
                continue;
            }
            self.cond(&rule.cond);
            self.s().if_(BlockType::Empty);
            let ids = alert_ids
                .get(index as usize)
                .and_then(|p| p.get(r))
                .cloned()
                .unwrap_or_default();
            let alerts = self.c.alerts;
            for id in ids {
                self.s()
                    .local_get(L_ALERT_BYTES)
                    .i32_const(id as i32)
                    .i32_store(mem(alerts, 2))
                    .local_get(L_ALERT_BYTES)
                    .i32_const(ALERT_SIZE as i32)
                    .i32_add()
                    .local_set(L_ALERT_BYTES);
            }
            if let Some(verdict) = rule.verdict {
                let verdict = dns_default(verdict, event);
                let id = self.c.verdict(verdict);
                self.s()
                    .i32_const(r as i32)
                    .local_set(L_RULE)
                    .i32_const(id as i32)
                    .local_set(L_VERDICT)
                    .i32_const(kind_code(verdict.kind))
                    .local_set(L_KIND)
                    .br(1);
            }
            self.s().end();
        }
        let default = dns_default(policy.default, event);
        let id = self.c.verdict(default);
        self.s()
            .i32_const(-1)
            .local_set(L_RULE)
            .i32_const(id as i32)
            .local_set(L_VERDICT)
            .i32_const(kind_code(default.kind))
            .local_set(L_KIND)
            .end();

        // Record the outcome; an enforcing one may become the decider.
        let outcomes = self.c.output + OUT_HEADER_SIZE;
        let mut s = self.s();
        s.local_get(L_OUTCOME_BYTES)
            .i32_const(index as i32)
            .i32_store(mem(outcomes, 2));
        s.local_get(L_OUTCOME_BYTES)
            .local_get(L_RULE)
            .i32_store(mem(outcomes + 4, 2));
        s.local_get(L_OUTCOME_BYTES)
            .local_get(L_VERDICT)
            .i32_store(mem(outcomes + 8, 2));
        if policy.mode == Mode::Enforce {
            s.local_get(L_KIND)
                .local_get(L_BEST_KIND)
                .i32_gt_s()
                .if_(BlockType::Empty)
                .local_get(L_KIND)
                .local_set(L_BEST_KIND)
                .local_get(L_OUTCOMES)
                .local_set(L_BEST)
                .end();
        }
        s.local_get(L_OUTCOMES)
            .i32_const(1)
            .i32_add()
            .local_set(L_OUTCOMES);
        s.local_get(L_OUTCOME_BYTES)
            .i32_const(OUTCOME_SIZE as i32)
            .i32_add()
            .local_set(L_OUTCOME_BYTES);
        s.end();
    }
}

fn align8(n: u32) -> u32 {
    n.div_ceil(8) * 8
}

pub(super) fn compile(bundle: &Bundle, sources: &SourceMap) -> Result<Output, CompileError> {
    let mut c = Compiler {
        bundle,
        data: Data {
            base: 0,
            bytes: Vec::new(),
            strings: HashMap::new(),
        },
        slots: HashMap::new(),
        slot_list: Vec::new(),
        verdicts: vec![Verdict::ALLOW],
        dfas: HashMap::new(),
        class_sets: HashMap::new(),
        output: OUTPUT_BASE,
        alerts: 0,
        filter: 0,
        memo: 0,
        input: 0,
        category_words: (bundle.schema.categories.len() as u32).div_ceil(32).max(1),
    };

    // The facts read, each with its slot.
    for policy in &bundle.policies {
        c.collect_slots(&policy.scope)?;
        for rule in &policy.rules {
            c.collect_slots(&rule.cond)?;
        }
    }

    // Every alert gets an index; the module reports alerts by index.
    let mut alerts = Vec::new();
    let mut alert_ids: Vec<Vec<Vec<u32>>> = Vec::new();
    for (p, policy) in bundle.policies.iter().enumerate() {
        let mut rules = Vec::new();
        for (r, rule) in policy.rules.iter().enumerate() {
            let mut ids = Vec::new();
            for alert in &rule.alerts {
                ids.push(alerts.len() as u32);
                alerts.push(AlertEntry {
                    policy: p as u32,
                    rule: r as u32,
                    severity: alert.severity.name().to_owned(),
                    message: alert.message.clone(),
                });
            }
            rules.push(ids);
        }
        alert_ids.push(rules);
    }

    // The layout: output, alerts, filter, slots, constants, heap.
    let policies = bundle.policies.len() as u32;
    c.alerts = c.output + OUT_HEADER_SIZE + OUTCOME_SIZE * policies;
    c.filter = c.alerts + ALERT_SIZE * alerts.len() as u32;
    c.memo = c.filter + policies;
    let memo_bytes = Event::ALL
        .into_iter()
        .map(|e| shared_tests(bundle, e).len() as u32)
        .max()
        .unwrap_or(0);
    c.input = align8(c.memo + memo_bytes);
    c.data.base = c.input + SLOT_SIZE * c.slot_list.len() as u32;
    for policy in &bundle.policies {
        c.collect_data(&policy.scope)?;
        for rule in &policy.rules {
            c.collect_data(&rule.cond)?;
        }
    }

    // One decision procedure per event.
    let mut event_functions = Vec::new();
    for event in Event::ALL {
        event_functions.push(event_function(&mut c, event, &alert_ids));
    }

    // The manifest, with the names and places a decision is told with.
    let mut policy_entries = Vec::new();
    for policy in &bundle.policies {
        let on_error = c.verdict(policy.on_error);
        policy_entries.push(PolicyEntry {
            name: policy.name.clone(),
            mode: manifest::mode_name(policy.mode).to_owned(),
            events: policy
                .events
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            on_error,
            default_location: sources.location(policy.default_span),
            rules: policy
                .rules
                .iter()
                .map(|rule| RuleEntry {
                    name: rule.name.clone(),
                    event: rule.event.name().to_owned(),
                    location: sources.location(rule.span),
                })
                .collect(),
        });
    }
    let heap = align8(c.data.end());
    let manifest = Manifest {
        abi: ABI_VERSION,
        classes: bundle.schema.taxonomy.names().map(str::to_owned).collect(),
        categories: bundle
            .schema
            .categories
            .names()
            .map(str::to_owned)
            .collect(),
        layout: Layout {
            output: c.output,
            max_outcomes: policies,
            alerts: c.alerts,
            max_alerts: alerts.len() as u32,
            filter: c.filter,
            input: c.input,
            heap,
            category_words: c.category_words,
        },
        facts: c.slot_list.clone(),
        policies: policy_entries,
        verdicts: c
            .verdicts
            .iter()
            .map(|v| manifest::verdict_entry(*v))
            .collect(),
        alerts,
    };
    let manifest_json = serde_json::to_vec(&manifest).map_err(|e| CompileError::Unsupported {
        what: format!("a manifest that cannot be written ({e})"),
    })?;

    let pages = u64::from((heap + HEAP_PAGES * PAGE).div_ceil(PAGE));
    let bytes = assemble(&c.data, pages, event_functions, &manifest_json);
    Ok(Output { bytes, manifest })
}

/// The tests of an event's rules that occur more than once, in a fixed
/// order.
fn shared_tests(bundle: &Bundle, event: Event) -> Vec<String> {
    let mut counts = HashMap::new();
    for policy in &bundle.policies {
        if !policy.events.contains(event) {
            continue;
        }
        count_atoms(&policy.scope, &mut counts);
        for rule in policy.rules.iter().filter(|r| r.event == event) {
            count_atoms(&rule.cond, &mut counts);
        }
    }
    let mut shared: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect();
    shared.sort();
    shared
}

fn event_function(c: &mut Compiler<'_>, event: Event, alert_ids: &[Vec<Vec<u32>>]) -> Function {
    let bundle = c.bundle;

    // Tests used more than once for this event get a memo byte, cleared
    // at the start of each decision.
    let shared = shared_tests(bundle, event);
    let memo_base = c.memo;
    let memo: HashMap<String, u32> = shared
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), memo_base + i as u32))
        .collect();

    let mut code = EventCode {
        c,
        body: Vec::new(),
        memo,
        locals: FIXED_LOCALS.to_vec(),
    };
    if !shared.is_empty() {
        code.s()
            .i32_const(memo_base as i32)
            .i32_const(0)
            .i32_const(shared.len() as i32)
            .memory_fill(0);
    }
    code.s()
        .i32_const(-1)
        .local_set(L_BEST_KIND)
        .i32_const(-1)
        .local_set(L_BEST);
    for (p, policy) in bundle.policies.iter().enumerate() {
        if policy.events.contains(event) {
            code.policy(p as u32, policy, event, alert_ids);
        }
    }

    // The header: counts and the decider.
    let output = code.c.output;
    code.s()
        .i32_const(0)
        .local_get(L_OUTCOMES)
        .i32_store(mem(output + OUT_OUTCOMES, 2))
        .i32_const(0)
        .local_get(L_ALERT_BYTES)
        .i32_const(2)
        .i32_shr_u()
        .i32_store(mem(output + OUT_ALERTS, 2))
        .i32_const(0)
        .local_get(L_BEST)
        .i32_store(mem(output + OUT_DECIDER, 2));
    // Declared locals follow the `flags` parameter.
    let locals = code.locals.clone();
    helpers::function(&locals, &code.body)
}

fn assemble(data: &Data, pages: u64, events: Vec<Function>, manifest: &[u8]) -> Vec<u8> {
    let i32s = |n: usize| vec![ValType::I32; n];
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function(i32s(2), [ValType::I32]);
    types.ty().function(i32s(3), [ValType::I32]);
    types.ty().function(i32s(4), [ValType::I32]);
    types.ty().function(i32s(6), [ValType::I32]);
    types.ty().function(
        [
            ValType::I32,
            ValType::I32,
            ValType::I32,
            ValType::I32,
            ValType::I64,
            ValType::I64,
        ],
        [ValType::I32],
    );
    types.ty().function([ValType::I32], []);

    let mut functions = FunctionSection::new();
    for ty in [0, 1, 2, 3, 4, 3, 5] {
        functions.function(ty);
    }
    for _ in &events {
        functions.function(6);
    }

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut exports = ExportSection::new();
    exports.export(EXPORT_MEMORY, ExportKind::Memory, 0);
    exports.export(EXPORT_ABI_VERSION, ExportKind::Func, F_ABI_VERSION);
    exports.export(EXPORT_EVALUATE, ExportKind::Func, F_EVALUATE);

    let mut code = CodeSection::new();
    let mut version = Vec::new();
    InstructionSink::new(&mut version).i32_const(ABI_VERSION as i32);
    code.function(&helpers::function(&[], &version));
    code.function(&evaluate_function());
    code.function(&helpers::bytes_eq());
    code.function(&helpers::version_cmp());
    code.function(&helpers::dfa_walk());
    code.function(&helpers::str_set_has(F_BYTES_EQ));
    code.function(&helpers::ip_set_has());
    for f in &events {
        code.function(f);
    }

    let mut datas = DataSection::new();
    if !data.bytes.is_empty() {
        datas.active(
            0,
            &ConstExpr::i32_const(data.base as i32),
            data.bytes.iter().copied(),
        );
    }

    let mut names = NameMap::new();
    for (i, name) in [
        "ward_abi_version",
        "ward_evaluate",
        "bytes_eq",
        "version_cmp",
        "dfa_walk",
        "str_set_has",
        "ip_set_has",
        "decide_flow",
        "decide_dns",
        "decide_url",
    ]
    .iter()
    .enumerate()
    {
        names.append(i as u32, name);
    }
    let mut name_section = NameSection::new();
    name_section.functions(&names);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code)
        .section(&datas)
        .section(&name_section)
        .section(&CustomSection {
            name: MANIFEST_SECTION.into(),
            data: manifest.into(),
        });
    module.finish()
}

/// `ward_evaluate(event, flags) -> status`: dispatch on the event.
fn evaluate_function() -> Function {
    let mut body = Vec::new();
    let mut s = InstructionSink::new(&mut body);
    for (i, event) in Event::ALL.into_iter().enumerate() {
        s.local_get(0)
            .i32_const(event_code(event))
            .i32_eq()
            .if_(BlockType::Empty)
            .local_get(1)
            .call(F_EVENT_BASE + i as u32)
            .i32_const(STATUS_OK)
            .return_()
            .end();
    }
    s.i32_const(STATUS_BAD_EVENT);
    helpers::function(&[], &body)
}
