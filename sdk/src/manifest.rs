//! The manifest a policy module carries in its `ward.manifest` custom
//! section: what the host needs to feed the module and to turn its answer
//! into a decision with names. Serialised as JSON; unknown fields are
//! refused so that a newer module is never half understood.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Must equal [`crate::ABI_VERSION`].
    pub abi: u32,
    /// Every taxonomy class in id order (built-in ones first, then the
    /// bundle's own), so the host can rebuild the same ids.
    pub classes: Vec<String>,
    /// Every category name in id order, likewise.
    pub categories: Vec<String>,
    pub layout: Layout,
    /// The facts the module reads; facts not listed are never looked at.
    pub facts: Vec<FactSlot>,
    pub policies: Vec<PolicyEntry>,
    /// The distinct verdicts the module can return, by index.
    pub verdicts: Vec<VerdictEntry>,
    /// Every alert of every rule, by index.
    pub alerts: Vec<AlertEntry>,
}

/// Where things live in linear memory, as byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The output header, followed by up to `max_outcomes` outcome records.
    pub output: u32,
    pub max_outcomes: u32,
    /// The alert records.
    pub alerts: u32,
    pub max_alerts: u32,
    /// One byte per policy, read with [`crate::FLAG_FILTER`].
    pub filter: u32,
    /// The fact slots.
    pub input: u32,
    /// Free memory for the bytes slots point to, up to the memory's end.
    pub heap: u32,
    /// The length of a category bitset, in u32 words.
    pub category_words: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    Bool,
    Int,
    Enum,
    Class,
    Ip,
    /// Text and names: pointer and length of UTF-8 bytes.
    Str,
    /// Pointer to the parts (u64 each) and their count.
    Version,
    StrSet,
    IpSet,
    CategorySet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactSlot {
    /// The fact's name in the schema, as `device.class`.
    pub name: String,
    pub kind: FactKind,
    /// The slot's offset from `layout.input`.
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    pub name: String,
    /// `enforce` or `monitor`.
    pub mode: String,
    /// The events the policy decides: `flow`, `dns`, `url`.
    pub events: Vec<String>,
    /// Verdict index applied when the module fails.
    pub on_error: u32,
    /// Where `default` is written, as `file:line:column`.
    pub default_location: String,
    pub rules: Vec<RuleEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub name: String,
    pub event: String,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictEntry {
    /// `allow`, `block` or `quarantine`.
    pub kind: String,
    /// `nxdomain`, `nodata`, `refused` or `sinkhole`, on DNS blocks.
    pub respond: Option<String>,
    /// The address a sinkhole answers with.
    pub sinkhole: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEntry {
    pub policy: u32,
    pub rule: u32,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    pub message: String,
}
