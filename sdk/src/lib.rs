//! The guest ABI shared by Ward's host and every policy module it loads.
//!
//! A policy module is a core WebAssembly module with no imports at all. It
//! exports its linear memory and two functions, and carries a manifest in a
//! custom section that tells the host where each fact goes in memory and
//! how to read the answer back. docs/abi.md is the prose version of this
//! file; the two must say the same thing.
//!
//! One evaluation, from the host's side:
//! 1. write every fact slot the manifest lists (absent facts get tag 0) at
//!    `layout.input + slot.offset`, and the bytes that strings, versions
//!    and sets point to in the heap from `layout.heap` on;
//! 2. when only some policies should decide, write one byte per policy at
//!    `layout.filter` (1 = decide, 0 = skip) and pass [`FLAG_FILTER`];
//! 3. call `ward_evaluate(event, flags)`; 0 means the output is written;
//! 4. read the output header at `layout.output` and the records after it,
//!    checking every count and index against the manifest (a module is
//!    untrusted).

pub mod manifest;

pub use manifest::{
    AlertEntry, FactKind, FactSlot, Layout, Manifest, PolicyEntry, RuleEntry, VerdictEntry,
};

/// The ABI version a module declares and the host checks at load time.
pub const ABI_VERSION: u32 = 1;

/// The name of the exported linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// `() -> i32`: the ABI version the module was built for.
pub const EXPORT_ABI_VERSION: &str = "ward_abi_version";
/// `(event: i32, flags: i32) -> i32`: decides one event; 0 on success.
pub const EXPORT_EVALUATE: &str = "ward_evaluate";
/// The custom section that holds the manifest, as JSON.
pub const MANIFEST_SECTION: &str = "ward.manifest";

/// Event codes passed to `ward_evaluate`.
pub const EVENT_FLOW: i32 = 0;
pub const EVENT_DNS: i32 = 1;
pub const EVENT_URL: i32 = 2;

/// `ward_evaluate` flag: honour the per-policy filter bytes.
pub const FLAG_FILTER: i32 = 1;

/// `ward_evaluate` result: the output is written.
pub const STATUS_OK: i32 = 0;
/// `ward_evaluate` result: the event code is unknown.
pub const STATUS_BAD_EVENT: i32 = 1;

/// Every fact slot is this many bytes, 8-byte aligned.
pub const SLOT_SIZE: u32 = 32;
/// Slot field offsets. `TAG` is an i32: 0 absent, 1 present.
pub const SLOT_TAG: u32 = 0;
/// IP slots: the address family, 4 or 6 (i32).
pub const SLOT_FAMILY: u32 = 4;
/// The scalar value (i32 or i64), or a heap pointer (i32).
pub const SLOT_VALUE: u32 = 8;
/// The length of a string, or the element count of a version or set (i32).
pub const SLOT_LEN: u32 = 12;
/// IPv6 slots: the high 64 bits of the address as an integer (i64).
pub const SLOT_V6_HI: u32 = 16;
/// IPv6 slots: the low 64 bits (i64).
pub const SLOT_V6_LO: u32 = 24;
/// Category-set slots: pointer to the bitset, `layout.category_words` u32
/// words, bit `id % 32` of word `id / 32` set for each member.
pub const SLOT_BITSET: u32 = 16;

/// In a string set, each element is `{ptr: u32, len: u32}`.
pub const STR_ENTRY_SIZE: u32 = 8;
/// In an address set, each element is 24 bytes: family (u32) at 0, an IPv4
/// address as an integer (u32) at 4, IPv6 high and low halves (u64) at 8
/// and 16.
pub const IP_ENTRY_SIZE: u32 = 24;
pub const IP_ENTRY_FAMILY: u32 = 0;
pub const IP_ENTRY_V4: u32 = 4;
pub const IP_ENTRY_V6_HI: u32 = 8;
pub const IP_ENTRY_V6_LO: u32 = 16;

/// Output header fields at `layout.output`, each an i32.
pub const OUT_OUTCOMES: u32 = 0;
pub const OUT_ALERTS: u32 = 4;
/// Index of the deciding outcome, or -1 when no enforcing policy decided.
pub const OUT_DECIDER: u32 = 8;
/// The header's size; outcome records follow it.
pub const OUT_HEADER_SIZE: u32 = 16;
/// Each outcome record: policy index, rule index (-1 for `default`) and
/// verdict index into the manifest, each an i32.
pub const OUTCOME_SIZE: u32 = 12;
/// Each alert record: an i32 index into the manifest's alert table. Alert
/// records start at `layout.alerts`.
pub const ALERT_SIZE: u32 = 4;
