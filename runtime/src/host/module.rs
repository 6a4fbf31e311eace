//! Loading a policy module: the ABI check (imports, exports, version,
//! manifest), compilation or the precompiled cache, and the tables the
//! host needs to feed the module and read its answer.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use ward_lang::ir::{Mode, Severity, Verdict};
use ward_lang::schema::{Event, Events, Schema};
use ward_lang::wasm::manifest as names;
use ward_sdk::{
    ABI_VERSION, EXPORT_ABI_VERSION, EXPORT_EVALUATE, EXPORT_MEMORY, FactKind, MANIFEST_SECTION,
    Manifest, SLOT_SIZE,
};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};
use wasmtime::{InstancePre, Linker, Module, Store};

use super::{Host, LoadError, StoreData};

/// A loaded module, ready to evaluate. Cheap to share: evaluations take
/// an `Arc` of it.
pub struct PolicyModule {
    pub(super) pre: InstancePre<StoreData>,
    pub(super) manifest: Manifest,
    pub(super) schema: Schema,
    /// Slot offset and kind of each schema fact, by `FactId`.
    pub(super) slots: Vec<Option<(u32, FactKind)>>,
    pub(super) policies: Vec<PolicyInfo>,
    pub(super) verdicts: Vec<Verdict>,
    pub(super) alerts: Vec<AlertInfo>,
    hash: [u8; 32],
}

pub(super) struct PolicyInfo {
    pub mode: Mode,
    pub events: Events,
    pub on_error: Verdict,
    pub rules: usize,
}

pub(super) struct AlertInfo {
    pub policy: usize,
    pub rule: usize,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("hash", &self.hash_hex())
            .field("policies", &self.policies.len())
            .finish_non_exhaustive()
    }
}

impl PolicyModule {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The schema the module was built against: facts for it are made
    /// with this schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The SHA-256 of the module's bytes, in hex.
    pub fn hash_hex(&self) -> String {
        hex(&self.hash)
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the ABI check reads from the module's bytes.
struct Shape {
    manifest: Manifest,
}

/// Checks imports, exports and the manifest without compiling.
fn check_shape(bytes: &[u8]) -> Result<Shape, LoadError> {
    let mut manifest = None;
    let mut exports: Vec<(String, ExternalKind)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| LoadError::Malformed(e.to_string()))?;
        match payload {
            Payload::ImportSection(reader) => {
                // Any import at all is refused; name the first.
                if let Some(import) = reader.into_imports().next() {
                    let import = import.map_err(|e| LoadError::Malformed(e.to_string()))?;
                    let kind = match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => "function",
                        TypeRef::Memory(_) => "memory",
                        TypeRef::Table(_) => "table",
                        TypeRef::Global(_) => "global",
                        TypeRef::Tag(_) => "tag",
                    };
                    return Err(LoadError::ForbiddenImport {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        kind,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| LoadError::Malformed(e.to_string()))?;
                    exports.push((export.name.to_owned(), export.kind));
                }
            }
            Payload::CustomSection(reader) if reader.name() == MANIFEST_SECTION => {
                let parsed: Manifest = serde_json::from_slice(reader.data())
                    .map_err(|e| LoadError::Manifest(e.to_string()))?;
                manifest = Some(parsed);
            }
            _ => {}
        }
    }
    for (name, kind) in [
        (EXPORT_MEMORY, ExternalKind::Memory),
        (EXPORT_ABI_VERSION, ExternalKind::Func),
        (EXPORT_EVALUATE, ExternalKind::Func),
    ] {
        if !exports.iter().any(|(n, k)| n == name && *k == kind) {
            return Err(LoadError::MissingExport(name));
        }
    }
    let manifest = manifest.ok_or(LoadError::MissingManifest)?;
    if manifest.abi != ABI_VERSION {
        return Err(LoadError::AbiVersion {
            found: manifest.abi,
            expected: ABI_VERSION,
        });
    }
    Ok(Shape { manifest })
}

impl Host {
    /// Loads a module: checks its ABI, compiles it (or takes it from the
    /// precompiled cache) and prepares instantiation. Nothing here runs on
    /// the decision path; a module that fails to load changes nothing.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<PolicyModule>, LoadError> {
        let Shape { manifest } = check_shape(bytes)?;
        let hash: [u8; 32] = Sha256::digest(bytes).into();

        let module = match self.cache.as_ref().and_then(|c| c.get(&self.engine, &hash)) {
            Some(module) => module,
            None => {
                let module = Module::new(&self.engine, bytes)
                    .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                if let Some(cache) = &self.cache {
                    cache.put(&self.engine, &hash, &module);
                }
                module
            }
        };

        let linker: Linker<StoreData> = Linker::new(&self.engine);
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let loaded = tables(pre, manifest, hash)?;
        self.check_version(&loaded)?;
        Ok(Arc::new(loaded))
    }

    /// Runs `ward_abi_version` once: the code must agree with its manifest.
    fn check_version(&self, module: &PolicyModule) -> Result<(), LoadError> {
        let mut store = Store::new(&self.engine, self.store_data());
        store.limiter(|data| &mut data.limits);
        store
            .set_fuel(self.config.fuel)
            .map_err(|e| LoadError::Config(e.to_string()))?;
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        let version = instance
            .get_typed_func::<(), i32>(&mut store, EXPORT_ABI_VERSION)
            .map_err(|e| LoadError::BadExport(EXPORT_ABI_VERSION, format!("{e:#}")))?
            .call(&mut store, ())
            .map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        if version as u32 != ABI_VERSION {
            return Err(LoadError::AbiVersion {
                found: version as u32,
                expected: ABI_VERSION,
            });
        }
        instance
            .get_typed_func::<(i32, i32), i32>(&mut store, EXPORT_EVALUATE)
            .map_err(|e| LoadError::BadExport(EXPORT_EVALUATE, format!("{e:#}")))?;
        Ok(())
    }
}

/// Turns the manifest into the tables evaluation uses, refusing anything
/// inconsistent.
fn tables(
    pre: InstancePre<StoreData>,
    manifest: Manifest,
    hash: [u8; 32],
) -> Result<PolicyModule, LoadError> {
    let bad = |e: names::ManifestError| LoadError::Manifest(e.to_string());
    let schema = names::schema_of(&manifest).map_err(bad)?;

    let mut slots = vec![None; schema.len()];
    for slot in &manifest.facts {
        let id = schema
            .fact(&slot.name)
            .ok_or_else(|| LoadError::Manifest(format!("unknown fact `{}`", slot.name)))?;
        if slot.offset % SLOT_SIZE != 0 {
            return Err(LoadError::Manifest(format!(
                "fact `{}` has a misaligned slot",
                slot.name
            )));
        }
        if let Some(entry) = slots.get_mut(id.0 as usize) {
            *entry = Some((slot.offset, slot.kind));
        }
    }

    let verdicts = manifest
        .verdicts
        .iter()
        .map(names::verdict_of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let mut policies = Vec::new();
    for policy in &manifest.policies {
        let mut events = Events::default();
        for name in &policy.events {
            events = events.with(names::event_of(name).map_err(bad)?);
        }
        let on_error = verdicts
            .get(policy.on_error as usize)
            .copied()
            .ok_or_else(|| {
                LoadError::Manifest(format!("policy `{}`: no such verdict", policy.name))
            })?;
        for rule in &policy.rules {
            names::event_of(&rule.event).map_err(bad)?;
        }
        policies.push(PolicyInfo {
            mode: names::mode_of(&policy.mode).map_err(bad)?,
            events,
            on_error,
            rules: policy.rules.len(),
        });
    }
    let mut alerts = Vec::new();
    for alert in &manifest.alerts {
        let (policy, rule) = (alert.policy as usize, alert.rule as usize);
        if policies.get(policy).is_none_or(|p| rule >= p.rules) {
            return Err(LoadError::Manifest(format!(
                "alert {:?} names no rule",
                alert.message
            )));
        }
        alerts.push(AlertInfo {
            policy,
            rule,
            severity: names::severity_of(&alert.severity).map_err(bad)?,
            message: alert.message.clone(),
        });
    }
    let _ = Event::ALL;
    Ok(PolicyModule {
        pre,
        manifest,
        schema,
        slots,
        policies,
        verdicts,
        alerts,
        hash,
    })
}
