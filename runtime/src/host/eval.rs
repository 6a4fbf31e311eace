//! One evaluation: facts into the module's memory, `ward_evaluate`, the
//! answer back out, checked against the manifest. A module failure (trap,
//! fuel exhausted, memory limit, nonsense output) becomes each deciding
//! policy's `on error` verdict, logged, and never a host failure.

use std::net::IpAddr;

use ward_lang::interp::{Decider, Decision, FiredAlert, PolicyOutcome};
use ward_lang::ir::{Mode, Verdict};
use ward_lang::schema::Event;
use ward_lang::value::{Facts, Value};
use ward_lang::wasm::{dns_default, event_code};
use ward_sdk::{
    ALERT_SIZE, FLAG_FILTER, FactKind, IP_ENTRY_FAMILY, IP_ENTRY_SIZE, IP_ENTRY_V4, IP_ENTRY_V6_HI,
    IP_ENTRY_V6_LO, OUT_ALERTS, OUT_DECIDER, OUT_HEADER_SIZE, OUT_OUTCOMES, OUTCOME_SIZE,
    SLOT_BITSET, SLOT_FAMILY, SLOT_LEN, SLOT_SIZE, SLOT_TAG, SLOT_V6_HI, SLOT_V6_LO, SLOT_VALUE,
    STATUS_OK,
};
use wasmtime::{Instance, Memory, Store, Trap, TypedFunc};

use super::module::PolicyModule;
use super::{Host, StoreData};

/// Why a module could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleFailure {
    #[error("the module ran out of fuel (it loops or the bundle is far too large)")]
    OutOfFuel,
    #[error("the module exhausted its stack")]
    StackOverflow,
    #[error("the module reached its memory limit")]
    MemoryLimit,
    #[error("the module trapped: {0}")]
    Trap(String),
    #[error("the module could not be instantiated: {0}")]
    Instantiate(String),
    #[error("the facts do not fit in the module's memory: {0}")]
    Input(String),
    #[error("the module's answer is not valid: {0}")]
    BadOutput(String),
}

/// A decision, and the failure when the module did not make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Set when the `on error` verdicts decided instead of the module.
    pub failure: Option<ModuleFailure>,
}

fn classify(error: &wasmtime::Error) -> ModuleFailure {
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ModuleFailure::OutOfFuel,
        Some(Trap::StackOverflow) => ModuleFailure::StackOverflow,
        Some(trap) => ModuleFailure::Trap(trap.to_string()),
        None => {
            let text = format!("{error:#}");
            if text.contains("memory") && (text.contains("limit") || text.contains("grow")) {
                ModuleFailure::MemoryLimit
            } else {
                ModuleFailure::Trap(text)
            }
        }
    }
}

/// Facts laid out for the module, built host-side then copied in one go.
#[derive(Debug, Default)]
struct Encoded {
    slots: Vec<u8>,
    heap: Vec<u8>,
}

impl Encoded {
    fn put_i32(buf: &mut [u8], at: u32, value: i32) {
        if let Some(dst) = buf.get_mut(at as usize..at as usize + 4) {
            dst.copy_from_slice(&value.to_le_bytes());
        }
    }

    fn put_i64(buf: &mut [u8], at: u32, value: i64) {
        if let Some(dst) = buf.get_mut(at as usize..at as usize + 8) {
            dst.copy_from_slice(&value.to_le_bytes());
        }
    }

    /// Appends bytes to the heap; returns their address in the module.
    fn alloc(&mut self, heap_base: u32, bytes: &[u8], align: usize) -> u32 {
        while !self.heap.len().is_multiple_of(align) {
            self.heap.push(0);
        }
        let at = heap_base + self.heap.len() as u32;
        self.heap.extend_from_slice(bytes);
        at
    }
}

fn ip_parts(ip: IpAddr) -> (i32, i32, i64, i64) {
    match ip {
        IpAddr::V4(a) => (4, u32::from(a) as i32, 0, 0),
        IpAddr::V6(a) => {
            let n = u128::from(a);
            (6, 0, (n >> 64) as u64 as i64, n as u64 as i64)
        }
    }
}

/// Up to four slot fields, without allocating on the decision path.
#[derive(Default)]
struct Fields {
    items: [(u32, i64, bool); 4],
    len: usize,
}

impl Fields {
    fn push(&mut self, field: (u32, i64, bool)) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = field;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[(u32, i64, bool)] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

fn encode(module: &PolicyModule, facts: &Facts, out: &mut Encoded) {
    let layout = module.manifest.layout;
    out.slots.clear();
    out.slots
        .resize(module.manifest.facts.len() * SLOT_SIZE as usize, 0);
    out.heap.clear();
    let heap = layout.heap;

    for (fact, value) in &facts.values {
        let Some(Some((offset, kind))) = module.slots.get(fact.0 as usize).copied() else {
            continue;
        };
        // (offset in the slot, value, whether it is 64 bits wide)
        let mut fields = Fields::default();
        match (kind, value) {
            (FactKind::Bool, Value::Bool(b)) => fields.push((SLOT_VALUE, i64::from(*b), false)),
            (FactKind::Int, Value::Int(n)) => fields.push((SLOT_VALUE, *n, true)),
            (FactKind::Enum, Value::Enum(_, i)) => {
                fields.push((SLOT_VALUE, i64::from(*i), false));
            }
            (FactKind::Class, Value::Class(c)) => {
                fields.push((SLOT_VALUE, i64::from(c.0), false));
            }
            (FactKind::Ip, Value::Ip(ip)) => {
                let (family, v4, hi, lo) = ip_parts(*ip);
                fields.push((SLOT_FAMILY, i64::from(family), false));
                fields.push((SLOT_VALUE, i64::from(v4), false));
                fields.push((SLOT_V6_HI, hi, true));
                fields.push((SLOT_V6_LO, lo, true));
            }
            (FactKind::Str, Value::Str(text)) => {
                let at = out.alloc(heap, text.as_bytes(), 1);
                fields.push((SLOT_VALUE, i64::from(at), false));
                fields.push((SLOT_LEN, text.len() as i64, false));
            }
            (FactKind::Version, Value::Version(v)) => {
                let bytes: Vec<u8> = v.0.iter().flat_map(|p| p.to_le_bytes()).collect();
                let at = out.alloc(heap, &bytes, 8);
                fields.push((SLOT_VALUE, i64::from(at), false));
                fields.push((SLOT_LEN, v.0.len() as i64, false));
            }
            (FactKind::StrSet, Value::Set(items)) => {
                let mut entries = Vec::with_capacity(items.len() * 8);
                for item in items {
                    let Value::Str(text) = item else { continue };
                    let at = out.alloc(heap, text.as_bytes(), 1);
                    entries.extend_from_slice(&at.to_le_bytes());
                    entries.extend_from_slice(&(text.len() as u32).to_le_bytes());
                }
                let count = entries.len() / 8;
                let at = out.alloc(heap, &entries, 8);
                fields.push((SLOT_VALUE, i64::from(at), false));
                fields.push((SLOT_LEN, count as i64, false));
            }
            (FactKind::IpSet, Value::Set(items)) => {
                let mut entries = vec![0u8; items.len() * IP_ENTRY_SIZE as usize];
                let mut count = 0u32;
                for item in items {
                    let Value::Ip(ip) = item else { continue };
                    let (family, v4, hi, lo) = ip_parts(*ip);
                    let base = count * IP_ENTRY_SIZE;
                    Encoded::put_i32(&mut entries, base + IP_ENTRY_FAMILY, family);
                    Encoded::put_i32(&mut entries, base + IP_ENTRY_V4, v4);
                    Encoded::put_i64(&mut entries, base + IP_ENTRY_V6_HI, hi);
                    Encoded::put_i64(&mut entries, base + IP_ENTRY_V6_LO, lo);
                    count += 1;
                }
                let at = out.alloc(heap, &entries, 8);
                fields.push((SLOT_VALUE, i64::from(at), false));
                fields.push((SLOT_LEN, i64::from(count), false));
            }
            (FactKind::CategorySet, Value::Set(items)) => {
                let mut ids = Vec::with_capacity(items.len() * 4);
                let mut bits = vec![0u8; layout.category_words as usize * 4];
                for item in items {
                    let Value::Category(id) = item else { continue };
                    ids.extend_from_slice(&id.0.to_le_bytes());
                    let (byte, bit) = (id.0 as usize / 8, id.0 % 8);
                    if let Some(b) = bits.get_mut(byte) {
                        *b |= 1 << bit;
                    }
                }
                let count = ids.len() / 4;
                let ids_at = out.alloc(heap, &ids, 4);
                let bits_at = out.alloc(heap, &bits, 4);
                fields.push((SLOT_VALUE, i64::from(ids_at), false));
                fields.push((SLOT_LEN, count as i64, false));
                fields.push((SLOT_BITSET, i64::from(bits_at), false));
            }
            // A value of another type than the schema's cannot come from
            // `Facts::from_json`; it is left absent.
            _ => continue,
        }
        Encoded::put_i32(&mut out.slots, offset + SLOT_TAG, 1);
        for &(at, value, wide) in fields.as_slice() {
            if wide {
                Encoded::put_i64(&mut out.slots, offset + at, value);
            } else {
                Encoded::put_i32(&mut out.slots, offset + at, value as i32);
            }
        }
    }
}

/// An instance and what evaluation needs from it.
pub(super) struct Live {
    pub store: Store<StoreData>,
    memory: Memory,
    evaluate: TypedFunc<(i32, i32), i32>,
    encoded: Encoded,
}

impl Host {
    /// A fresh instance of the module, from the pooling allocator.
    pub(super) fn instantiate(&self, module: &PolicyModule) -> Result<Live, ModuleFailure> {
        let mut store = Store::new(&self.engine, self.store_data());
        store.limiter(|data| &mut data.limits);
        let failed = |e: wasmtime::Error| ModuleFailure::Instantiate(format!("{e:#}"));
        let instance: Instance = module.pre.instantiate(&mut store).map_err(failed)?;
        let memory = instance
            .get_memory(&mut store, ward_sdk::EXPORT_MEMORY)
            .ok_or_else(|| ModuleFailure::Instantiate("no memory export".into()))?;
        let evaluate = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, ward_sdk::EXPORT_EVALUATE)
            .map_err(failed)?;
        Ok(Live {
            store,
            memory,
            evaluate,
            encoded: Encoded::default(),
        })
    }

    /// Decides with a fresh instance: nothing carries over between
    /// decisions. `only` restricts the deciding policies, as tests do.
    pub fn evaluate(
        &self,
        module: &PolicyModule,
        facts: &Facts,
        only: Option<&[usize]>,
    ) -> Evaluation {
        let result = self
            .instantiate(module)
            .and_then(|mut live| self.run(module, &mut live, facts, only));
        self.finish(module, facts, only, result)
    }

    pub(super) fn finish(
        &self,
        module: &PolicyModule,
        facts: &Facts,
        only: Option<&[usize]>,
        result: Result<Decision, ModuleFailure>,
    ) -> Evaluation {
        match result {
            Ok(decision) => Evaluation {
                decision,
                failure: None,
            },
            Err(failure) => {
                tracing::error!(
                    module = %module.hash_hex(),
                    event = %facts.event,
                    error = %failure,
                    "policy module failed; its policies' `on error` verdicts apply"
                );
                Evaluation {
                    decision: on_error(module, facts.event, only),
                    failure: Some(failure),
                }
            }
        }
    }

    /// One call of `ward_evaluate` on a live instance.
    pub(super) fn run(
        &self,
        module: &PolicyModule,
        live: &mut Live,
        facts: &Facts,
        only: Option<&[usize]>,
    ) -> Result<Decision, ModuleFailure> {
        let layout = module.manifest.layout;
        encode(module, facts, &mut live.encoded);

        // Make room for the heap, within the memory limit.
        let needed = layout.heap as usize + live.encoded.heap.len();
        let size = live.memory.data_size(&live.store);
        if needed > size {
            let pages = (needed - size).div_ceil(65536) as u64;
            live.memory
                .grow(&mut live.store, pages)
                .map_err(|e| ModuleFailure::Input(format!("{e:#}")))?;
        }

        let data = live.memory.data_mut(&mut live.store);
        let write = |data: &mut [u8], at: u32, bytes: &[u8]| {
            data.get_mut(at as usize..at as usize + bytes.len())
                .map(|dst| dst.copy_from_slice(bytes))
                .ok_or_else(|| ModuleFailure::Input(format!("address {at} is outside memory")))
        };
        write(data, layout.input, &live.encoded.slots)?;
        write(data, layout.heap, &live.encoded.heap)?;
        let mut flags = 0;
        if let Some(only) = only {
            let filter: Vec<u8> = (0..module.policies.len())
                .map(|p| u8::from(only.contains(&p)))
                .collect();
            write(data, layout.filter, &filter)?;
            flags |= FLAG_FILTER;
        }

        live.store
            .set_fuel(self.config.fuel)
            .map_err(|e| ModuleFailure::Trap(format!("{e:#}")))?;
        let status = live
            .evaluate
            .call(&mut live.store, (event_code(facts.event), flags))
            .map_err(|e| classify(&e))?;
        if status != STATUS_OK {
            return Err(ModuleFailure::BadOutput(format!("status {status}")));
        }
        decode(module, facts.event, live.memory.data(&live.store))
    }
}

fn read_i32(data: &[u8], at: u32) -> Result<i32, ModuleFailure> {
    data.get(at as usize..at as usize + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes)
        .ok_or_else(|| ModuleFailure::BadOutput(format!("address {at} is outside memory")))
}

/// Reads the answer, trusting nothing: every count and index is checked.
fn decode(module: &PolicyModule, event: Event, data: &[u8]) -> Result<Decision, ModuleFailure> {
    let layout = module.manifest.layout;
    let bad = |what: String| ModuleFailure::BadOutput(what);
    let count = |at: u32, max: u32, what: &str| -> Result<u32, ModuleFailure> {
        let n = read_i32(data, at)?;
        u32::try_from(n)
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| bad(format!("{n} {what}, at most {max} possible")))
    };
    let n_outcomes = count(
        layout.output + OUT_OUTCOMES,
        layout.max_outcomes,
        "outcomes",
    )?;
    let n_alerts = count(layout.output + OUT_ALERTS, layout.max_alerts, "alerts")?;
    let decider = read_i32(data, layout.output + OUT_DECIDER)?;

    let mut outcomes = Vec::with_capacity(n_outcomes as usize);
    for i in 0..n_outcomes {
        let at = layout.output + OUT_HEADER_SIZE + i * OUTCOME_SIZE;
        let (p, r, v) = (
            read_i32(data, at)?,
            read_i32(data, at + 4)?,
            read_i32(data, at + 8)?,
        );
        let policy = usize::try_from(p)
            .ok()
            .and_then(|p| module.policies.get(p).map(|info| (p, info)));
        let Some((policy, info)) = policy else {
            return Err(bad(format!("no policy {p}")));
        };
        let rule = match r {
            -1 => None,
            r => match usize::try_from(r).ok().filter(|r| *r < info.rules) {
                Some(r) => Some(r),
                None => return Err(bad(format!("no rule {r} in policy {p}"))),
            },
        };
        let verdict = usize::try_from(v)
            .ok()
            .and_then(|v| module.verdicts.get(v).copied())
            .ok_or_else(|| bad(format!("no verdict {v}")))?;
        outcomes.push(PolicyOutcome {
            decider: Decider { policy, rule },
            mode: info.mode,
            verdict,
        });
    }

    let mut alerts = Vec::with_capacity(n_alerts as usize);
    for i in 0..n_alerts {
        let id = read_i32(data, layout.alerts + i * ALERT_SIZE)?;
        let alert = usize::try_from(id)
            .ok()
            .and_then(|id| module.alerts.get(id))
            .ok_or_else(|| bad(format!("no alert {id}")))?;
        let monitor = module
            .policies
            .get(alert.policy)
            .is_some_and(|p| p.mode == Mode::Monitor);
        alerts.push(FiredAlert {
            policy: alert.policy,
            rule: alert.rule,
            severity: alert.severity,
            message: alert.message.clone(),
            monitor,
        });
    }

    let (verdict, decider) = match decider {
        -1 => (Verdict::ALLOW, None),
        d => {
            let outcome = usize::try_from(d)
                .ok()
                .and_then(|d| outcomes.get(d))
                .ok_or_else(|| bad(format!("no outcome {d}")))?;
            (outcome.verdict, Some(outcome.decider))
        }
    };
    Ok(Decision {
        event,
        verdict,
        decider,
        alerts,
        outcomes,
        trace: Vec::new(),
    })
}

/// The decision when the module failed: each policy that decides the
/// event answers with its `on error` verdict.
pub fn on_error(module: &PolicyModule, event: Event, only: Option<&[usize]>) -> Decision {
    let outcomes: Vec<PolicyOutcome> = module
        .policies
        .iter()
        .enumerate()
        .filter(|(p, info)| info.events.contains(event) && only.is_none_or(|only| only.contains(p)))
        .map(|(p, info)| PolicyOutcome {
            decider: Decider {
                policy: p,
                rule: None,
            },
            mode: info.mode,
            verdict: dns_default(info.on_error, event),
        })
        .collect();
    let enforced =
        ward_lang::interp::most_restrictive(outcomes.iter().filter(|o| o.mode == Mode::Enforce));
    let (verdict, decider) = match enforced {
        Some(o) => (o.verdict, Some(o.decider)),
        None => (Verdict::ALLOW, None),
    };
    Decision {
        event,
        verdict,
        decider,
        alerts: Vec::new(),
        outcomes,
        trace: Vec::new(),
    }
}
