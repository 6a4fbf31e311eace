//! What a reload replaces in one swap: the policy module, the category
//! lists, the local zones and the device table. A bundle is built whole
//! beside the serving one; only a bundle that built completely is swapped
//! in, so a bad file leaves the old bundle serving.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ward_lang::schema::{FactId, Schema};
use ward_lang::value::{Facts, IpNet, Value};
use ward_runtime::categories::{CategorySet, ListKind};
use ward_runtime::host::Host;
use ward_runtime::host::module::PolicyModule;

use crate::config::{Config, DeviceEntry};
use crate::zones::Zones;

/// Compiles policy paths (files, directories or one `.wasm`) into module
/// bytes; the `ward` command supplies it, with the same loader and checker
/// as `ward build`. The error is the rendered diagnostics.
pub type ModuleBuilder = dyn Fn(&[PathBuf]) -> Result<Vec<u8>, String> + Send + Sync;

/// The largest list file read (a 1-million-name list is ~30 MB).
const MAX_LIST_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("policy: {0}")]
    Policy(String),
    #[error("list `{path}`: {message}")]
    List { path: PathBuf, message: String },
    #[error("zone `{path}`: {message}")]
    Zone { path: PathBuf, message: String },
    #[error("device `{address}`: {message}")]
    Device { address: String, message: String },
    #[error("inventory `{path}`: {message}")]
    Inventory { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
}

/// One device-table row, resolved against the bundle's schema.
#[derive(Debug, Clone)]
struct DeviceRow {
    network: IpNet,
    facts: Facts,
}

/// The ids of the facts Ward sets on every query, looked up once.
#[derive(Debug, Clone, Copy)]
pub struct FactIds {
    pub qname: Option<FactId>,
    pub qtype: Option<FactId>,
    pub categories: Option<FactId>,
    pub cnames: Option<FactId>,
    pub answers: Option<FactId>,
    pub hour: Option<FactId>,
    pub weekday: Option<FactId>,
}

#[derive(Debug)]
pub struct Bundle {
    pub module: Arc<PolicyModule>,
    pub ids: FactIds,
    pub categories: CategorySet,
    /// The schema id of each list category, by the list's bit.
    category_values: Vec<Option<Value>>,
    pub zones: Zones,
    /// The static table: exact addresses first, then networks longest
    /// prefix first.
    exact: HashMap<IpAddr, Arc<Facts>>,
    networks: Vec<DeviceRow>,
    /// Devices from `ward inspect` inventories, after the static table.
    learned: HashMap<IpAddr, Arc<Facts>>,
    unknown_class: Option<Value>,
    /// Names of list lines skipped as malformed, by file (for the reload log).
    pub list_problems: usize,
    /// The files and directories the bundle was built from (policy paths,
    /// lists, zones and their includes, inventories): what is watched.
    pub inputs: Vec<PathBuf>,
    /// The zone `time.hour` and `time.weekday` are read in.
    pub time_zone: jiff::tz::TimeZone,
}

impl Bundle {
    pub fn load(
        host: &Host,
        config: &Config,
        build: &ModuleBuilder,
    ) -> Result<Bundle, BundleError> {
        let bytes = build(&config.policy.paths).map_err(BundleError::Policy)?;
        let module = host
            .load(&bytes)
            .map_err(|e| BundleError::Policy(e.to_string()))?;
        let schema = module.schema();

        let mut categories = CategorySet::new();
        let mut list_problems = 0;
        for (category, files) in &config.lists {
            if schema.categories.get(category.as_str()).is_none() {
                let known: Vec<&str> = schema.categories.names().collect();
                return Err(BundleError::List {
                    path: files.paths().first().cloned().unwrap_or_default(),
                    message: format!(
                        "`{category}` is not a category the policies know; known: {}",
                        known.join(", ")
                    ),
                });
            }
            for path in files.paths() {
                let bytes =
                    read_bytes(&path, MAX_LIST_BYTES).map_err(|message| BundleError::List {
                        path: path.clone(),
                        message,
                    })?;
                // Feeds carry the odd Latin-1 byte: such a line decodes with
                // U+FFFD, which no name may hold, so it is skipped and
                // counted like any bad line and the rest of the list loads.
                let text = String::from_utf8_lossy(&bytes);
                let report = categories
                    .load(category, ListKind::Block, &text, None)
                    .map_err(|e| BundleError::List {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                tracing::info!(
                    list = %path.display(),
                    category,
                    added = report.added,
                    "list loaded"
                );
                if report.bad > 0 {
                    let first = report.bad_lines.first();
                    tracing::warn!(
                        list = %path.display(),
                        skipped = report.bad,
                        first_line = first.map(|b| b.line),
                        first_reason = first.map(|b| b.reason.as_str()),
                        "list lines skipped as malformed"
                    );
                    list_problems += report.bad;
                }
            }
        }
        let category_values = categories
            .names()
            .map(|name| schema.categories.get(name).map(Value::Category))
            .collect();

        let mut zones = Zones::default();
        for path in &config.zones.files {
            zones.load(path).map_err(|message| BundleError::Zone {
                path: path.clone(),
                message,
            })?;
        }

        let mut learned = HashMap::new();
        for path in &config.inventory.files {
            load_inventory(schema, path, &mut learned)?;
        }
        let mut inputs = config.policy.paths.clone();
        inputs.extend(config.lists.values().flat_map(|list| list.paths()));
        inputs.extend(config.zones.files.iter().cloned());
        inputs.extend(zones.included_files().iter().cloned());
        inputs.extend(config.inventory.files.iter().cloned());
        let mut exact = HashMap::new();
        let mut networks = Vec::new();
        for entry in &config.devices {
            let network = IpNet::parse(&entry.address).map_err(|message| BundleError::Device {
                address: entry.address.clone(),
                message,
            })?;
            let facts = device_facts(schema, entry)?;
            let full = matches!(
                (network.addr, network.prefix),
                (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128)
            );
            if full {
                exact.insert(network.addr, Arc::new(facts));
            } else {
                networks.push(DeviceRow { network, facts });
            }
        }
        networks.sort_by_key(|row| std::cmp::Reverse(row.network.prefix));
        let unknown_class = ward_lang::value::class_value(schema, "unknown").ok();

        let time_zone = config
            .time_zone()
            .map_err(|e| BundleError::Config(e.to_string()))?;

        let ids = FactIds {
            qname: schema.fact("dns.qname"),
            qtype: schema.fact("dns.qtype"),
            categories: schema.fact("dns.categories"),
            cnames: schema.fact("dns.cnames"),
            answers: schema.fact("dns.answers"),
            hour: schema.fact("time.hour"),
            weekday: schema.fact("time.weekday"),
        };
        Ok(Bundle {
            ids,
            module,
            categories,
            category_values,
            zones,
            exact,
            networks,
            learned,
            unknown_class,
            list_problems,
            inputs,
            time_zone,
        })
    }

    pub fn schema(&self) -> &Schema {
        self.module.schema()
    }

    /// The device facts of a client (its table row, or an unknown device),
    /// as a `dns` event's facts to add the query's to.
    pub fn device(&self, client: IpAddr) -> Facts {
        let client = client.to_canonical();
        let row = self.exact.get(&client).map(|f| &**f).or_else(|| {
            self.networks
                .iter()
                .find(|row| row.network.contains(client))
                .map(|row| &row.facts)
                .or_else(|| self.learned.get(&client).map(|f| &**f))
        });
        let mut facts = match row {
            Some(facts) => facts.clone(),
            None => Facts::new(ward_lang::schema::Event::Dns),
        };
        let schema = self.schema();
        if let Some(id) = schema.fact("device.ip") {
            facts.values.insert(id, Value::Ip(client));
        }
        if let (Some(id), Some(unknown)) = (schema.fact("device.class"), &self.unknown_class) {
            facts.values.entry(id).or_insert_with(|| unknown.clone());
        }
        facts
    }

    /// The block categories of a name as policy values, and their mask.
    pub fn categories_of(&self, name: &str) -> u32 {
        self.categories.lookup(name).block
    }

    pub fn category_values(&self, mask: u32) -> Value {
        let mut items = Vec::new();
        for (bit, value) in self.category_values.iter().enumerate() {
            if mask & (1u32 << bit) != 0
                && let Some(value) = value
            {
                items.push(value.clone());
            }
        }
        Value::Set(items)
    }

    pub fn category_names(&self, mask: u32) -> Vec<String> {
        self.categories.names_of(mask)
    }
}

fn device_facts(schema: &Schema, entry: &DeviceEntry) -> Result<Facts, BundleError> {
    use serde_json::json;
    let mut object = serde_json::Map::new();
    object.insert("event".into(), json!("dns"));
    let mut put = |key: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            object.insert(key.to_owned(), value);
        }
    };
    put("device.class", entry.class.as_ref().map(|v| json!(v)));
    put("device.vendor", entry.vendor.as_ref().map(|v| json!(v)));
    put("device.model", entry.model.as_ref().map(|v| json!(v)));
    put("device.hostname", entry.hostname.as_ref().map(|v| json!(v)));
    put(
        "device.os.family",
        entry.os_family.as_ref().map(|v| json!(v)),
    );
    put(
        "device.os.version",
        entry.os_version.as_ref().map(|v| json!(v)),
    );
    put("device.os.supported", entry.os_supported.map(|v| json!(v)));
    put("device.risk", entry.risk.map(|v| json!(v)));
    put("device.zone", entry.zone.as_ref().map(|v| json!(v)));
    if !entry.tags.is_empty() {
        put("device.tags", Some(json!(entry.tags)));
    }
    for (question, answer) in &entry.mds2 {
        put(&format!("device.mds2.{question}"), Some(json!(answer)));
    }
    Facts::from_json(schema, &serde_json::Value::Object(object)).map_err(|errors| {
        BundleError::Device {
            address: entry.address.clone(),
            message: errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }
    })
}

/// The largest inventory file read.
const MAX_INVENTORY_BYTES: u64 = 256 * 1024 * 1024;

/// Reads the `device` records of `ward inspect --format json` output. A
/// record whose facts do not fit the schema is skipped with a warning (an
/// inventory from another bundle's taxonomy, say), not fatal.
fn load_inventory(
    schema: &Schema,
    path: &Path,
    exact: &mut HashMap<IpAddr, Arc<Facts>>,
) -> Result<(), BundleError> {
    let bytes =
        read_bytes(path, MAX_INVENTORY_BYTES).map_err(|message| BundleError::Inventory {
            path: path.to_owned(),
            message,
        })?;
    let (mut loaded, mut skipped) = (0usize, 0usize);
    // A line that cannot be read is skipped with a warning, as a list's
    // is: one truncated line (a capture cut short) must not cost every
    // device its profile.
    let mut skip = |line: usize, why: &str| {
        skipped += 1;
        tracing::warn!(inventory = %path.display(), line, why, "device record skipped");
    };
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(line) else {
            skip(n + 1, "not UTF-8");
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let record: serde_json::Value = match serde_json::from_str(line) {
            Ok(record) => record,
            Err(e) => {
                skip(n + 1, &format!("not JSON: {e}"));
                continue;
            }
        };
        if record.get("type").and_then(|t| t.as_str()) != Some("device") {
            continue;
        }
        let ip = record
            .get("ip")
            .and_then(|ip| ip.as_str())
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        let Some(ip) = ip else {
            skip(n + 1, "no `ip` that is one IP address");
            continue;
        };
        let Some(serde_json::Value::Object(facts)) = record.get("facts") else {
            skip(n + 1, "no `facts` object");
            continue;
        };
        let mut object = facts.clone();
        object.insert("event".into(), serde_json::json!("dns"));
        match Facts::from_json(schema, &serde_json::Value::Object(object)) {
            Ok(facts) => {
                exact.insert(ip.to_canonical(), Arc::new(facts));
                loaded += 1;
            }
            Err(errors) => {
                let error = errors.first().map(ToString::to_string).unwrap_or_default();
                skip(n + 1, &error);
            }
        }
    }
    tracing::info!(inventory = %path.display(), loaded, skipped, "inventory loaded");
    Ok(())
}

/// Reads a file from outside, with a size cap.
fn read_bytes(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    ward_runtime::files::read_capped(path, max).map_err(|e| e.to_string())
}

/// Reads a text file from outside, with a size cap and a UTF-8 check.
pub fn read_text(path: &Path, max: u64) -> Result<String, String> {
    String::from_utf8(read_bytes(path, max)?)
        .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by a hostile test): one truncated JSON line or
    /// one byte that is not UTF-8 refused the whole inventory, so Ward
    /// would not start, and records with no usable `ip` or `facts` were
    /// skipped without a word. Now each bad line is skipped (and logged)
    /// and the rest load.
    #[test]
    fn bad_inventory_lines_are_skipped_and_the_rest_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.jsonl");
        let mut text = Vec::new();
        text.extend_from_slice(
            b"{\"type\":\"device\",\"ip\":\"10.0.0.1\",\"facts\":{\"device.class\":\"infusion.pump\"}}\n",
        );
        text.extend_from_slice(b"{\"type\":\"device\",\"ip\":\"10.0.0.2\",\"fac\n");
        text.extend_from_slice(
            b"{\"type\":\"device\",\"ip\":\"10.0.0.3\",\"facts\":{\"device.hostname\":\"\xff\"}}\n",
        );
        text.extend_from_slice(b"{\"type\":\"device\",\"ip\":\"banana\",\"facts\":{}}\n");
        text.extend_from_slice(b"{\"type\":\"device\",\"ip\":\"10.0.0.5\",\"facts\":null}\n");
        text.extend_from_slice(b"{\"type\":\"flow\",\"src\":\"10.0.0.1\"}\n");
        text.extend_from_slice(
            b"{\"type\":\"device\",\"ip\":\"10.0.0.6\",\"facts\":{\"device.class\":\"imaging.ct\"}}",
        );
        std::fs::write(&path, text).unwrap();
        let mut learned = HashMap::new();
        load_inventory(&Schema::default(), &path, &mut learned).unwrap();
        let mut ips: Vec<IpAddr> = learned.keys().copied().collect();
        ips.sort();
        assert_eq!(
            ips,
            [IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 6])]
        );
    }
}
