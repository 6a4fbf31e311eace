//! `ward serve`'s configuration: a TOML file whose every key has a built-in
//! default, so `ward serve` with no file starts on loopback. Unknown keys
//! are errors that name their line; command-line flags override the file
//! (`Overrides`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use ward_lang::value::IpNet;

/// The largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {message}")]
    Read { path: PathBuf, message: String },
    #[error("`{path}`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The whole configuration, defaults filled in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub serve: ServeSection,
    pub policy: PolicySection,
    /// Category name to list files.
    pub lists: BTreeMap<String, ListFiles>,
    pub upstream: UpstreamSection,
    pub cache: CacheSection,
    pub block: BlockSection,
    pub zones: ZonesSection,
    pub log: LogSection,
    pub metrics: MetricsSection,
    /// The static device table.
    #[serde(rename = "device")]
    pub devices: Vec<DeviceEntry>,
    pub inventory: InventorySection,
}

/// Devices the classification core learned: `ward inspect --format json`
/// output, whose `device` records carry each device's facts. The static
/// table wins where both know an address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySection {
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListFiles {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl ListFiles {
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            ListFiles::One(p) => vec![p.clone()],
            ListFiles::Many(ps) => ps.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// Plain DNS, UDP and TCP on each address.
    pub listen: Vec<SocketAddr>,
    /// DNS over TLS addresses (need `tls_cert` and `tls_key`).
    pub tls_listen: Vec<SocketAddr>,
    /// DNS over HTTPS addresses (`/dns-query`; same certificate and key).
    pub https_listen: Vec<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Client networks answered; others are dropped (no open resolver).
    pub allow_clients: Vec<String>,
    /// Queries a second per client, and the burst above it; 0 turns the
    /// limit off.
    pub rate_limit: u32,
    pub rate_burst: u32,
    /// Threads serving UDP.
    pub udp_threads: usize,
    /// The largest UDP answer Ward sends to an EDNS client.
    pub edns_udp_size: u16,
    /// Seconds a TCP or TLS connection may sit idle.
    pub tcp_idle_seconds: u64,
    /// TCP, TLS and HTTPS connections open at once.
    pub max_connections: usize,
    /// Of those, open at once from one client address; 0: no cap.
    pub max_connections_per_client: usize,
    /// Watch the configuration file and the bundle's inputs (policies,
    /// lists, zones, inventories) and reload when they change.
    pub watch: bool,
    /// The time zone of `time.hour` and `time.weekday`: an IANA name such
    /// as `Europe/Berlin`, or `UTC`. Unset: the system's (`TZ`, then
    /// `/etc/localtime`).
    pub time_zone: Option<String>,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            tls_listen: Vec::new(),
            https_listen: Vec::new(),
            tls_cert: None,
            tls_key: None,
            allow_clients: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
                "fe80::/10",
            ]
            .map(str::to_owned)
            .to_vec(),
            rate_limit: 0,
            rate_burst: 0,
            udp_threads: 1,
            edns_udp_size: 1232,
            tcp_idle_seconds: 10,
            max_connections: 1024,
            max_connections_per_client: 64,
            watch: true,
            time_zone: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// Policy files or bundle directories, or one compiled `.wasm` module.
    pub paths: Vec<PathBuf>,
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection {
            paths: vec![PathBuf::from("policies")],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSection {
    /// `ADDR[:PORT]` for plain DNS, `tls://ADDR[:PORT]#NAME` for DNS over
    /// TLS (NAME is checked against the certificate). Empty: the system
    /// resolver's (`/etc/resolv.conf`).
    pub servers: Vec<String>,
    pub timeout_ms: u64,
    /// Upstream questions waiting for an answer at once; a query that would
    /// need one more is answered SERVFAIL at once.
    pub max_in_flight: usize,
    /// Extra trust anchors for DNS-over-TLS upstreams (PEM), besides the
    /// Mozilla roots.
    pub tls_ca: Option<PathBuf>,
}

impl Default for UpstreamSection {
    fn default() -> Self {
        UpstreamSection {
            servers: Vec::new(),
            timeout_ms: 2000,
            max_in_flight: 1024,
            tls_ca: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    pub max_entries: usize,
    pub min_ttl: u32,
    pub max_ttl: u32,
    /// Cap on how long NXDOMAIN and NODATA answers are kept.
    pub max_negative_ttl: u32,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            max_entries: 100_000,
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3_600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockSection {
    /// TTL of blocked answers and of their SOA's negative-caching time.
    pub ttl: u32,
}

impl Default for BlockSection {
    fn default() -> Self {
        BlockSection { ttl: 60 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZonesSection {
    /// Zone files (RFC 1035 master format) answered locally.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// The decision log (one JSON line per decision); none when unset.
    pub path: Option<PathBuf>,
    /// Rotate when the file reaches this size.
    pub max_bytes: u64,
    /// Rotated files kept (`decisions.jsonl.1` ...).
    pub keep: usize,
    /// Write client addresses in clear; hashed otherwise.
    pub clients: bool,
    /// Write query names in clear; hashed otherwise.
    pub names: bool,
    /// Key for the hashes; a random one per start when unset (hashes then
    /// only link records of one run).
    pub hash_key: Option<String>,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            path: None,
            max_bytes: 100 * 1024 * 1024,
            keep: 5,
            clients: false,
            names: false,
            hash_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Prometheus metrics over HTTP at `/metrics`; off when unset.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9153))),
        }
    }
}

/// One row of the static device table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// An address or a network.
    pub address: String,
    pub class: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub hostname: Option<String>,
    pub os_family: Option<String>,
    pub os_version: Option<String>,
    pub os_supported: Option<bool>,
    pub risk: Option<i64>,
    pub zone: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// MDS2 question id to answer (`yes`, `no`, `n-a`).
    #[serde(default)]
    pub mds2: BTreeMap<String, String>,
}

/// Command-line flags, which take precedence over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Vec<SocketAddr>,
    pub policy: Vec<PathBuf>,
    pub lists: Vec<(String, PathBuf)>,
    pub upstreams: Vec<String>,
    pub zones: Vec<PathBuf>,
    pub log: Option<PathBuf>,
    pub metrics: Option<SocketAddr>,
}

impl Config {
    /// Reads a configuration file; paths in it are relative to its folder.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |message: String| ConfigError::Read {
            path: path.to_owned(),
            message,
        };
        let bytes = ward_runtime::files::read_capped(path, MAX_CONFIG_BYTES)
            .map_err(|e| read_error(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            read_error(format!(
                "not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let mut config = Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The built-in `policies` stays relative to where Ward runs;
            // only paths written in the file are the file's.
            let written = toml::from_str::<toml::Table>(&text).is_ok_and(|table| {
                table
                    .get("policy")
                    .and_then(toml::Value::as_table)
                    .is_some_and(|policy| policy.contains_key("paths"))
            });
            let saved = config.policy.paths.clone();
            config.rebase(base);
            if !written {
                config.policy.paths = saved;
            }
        }
        Ok(config)
    }

    /// Parses configuration text; the error names the line and column.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            let place = e.span().map(|span| {
                let before = text.get(..span.start).unwrap_or_default();
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, str::len) + 1;
                format!("line {line}, column {column}: ")
            });
            format!("{}{}", place.unwrap_or_default(), e.message())
        })
    }

    fn rebase(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.policy.paths.iter_mut().for_each(join);
        for files in self.lists.values_mut() {
            match files {
                ListFiles::One(p) => join(p),
                ListFiles::Many(ps) => ps.iter_mut().for_each(join),
            }
        }
        self.zones.files.iter_mut().for_each(join);
        self.inventory.files.iter_mut().for_each(join);
        self.serve.tls_cert.iter_mut().for_each(join);
        self.serve.tls_key.iter_mut().for_each(join);
        self.upstream.tls_ca.iter_mut().for_each(join);
        self.log.path.iter_mut().for_each(join);
    }

    /// Applies command-line flags: each given flag replaces the file's value.
    pub fn apply(&mut self, flags: &Overrides) {
        if !flags.listen.is_empty() {
            self.serve.listen.clone_from(&flags.listen);
        }
        if !flags.policy.is_empty() {
            self.policy.paths.clone_from(&flags.policy);
        }
        if !flags.lists.is_empty() {
            self.lists.clear();
            for (category, path) in &flags.lists {
                let entry = self
                    .lists
                    .entry(category.clone())
                    .or_insert_with(|| ListFiles::Many(Vec::new()));
                if let ListFiles::One(p) = entry {
                    *entry = ListFiles::Many(vec![p.clone()]);
                }
                if let ListFiles::Many(ps) = entry {
                    ps.push(path.clone());
                }
            }
        }
        if !flags.upstreams.is_empty() {
            self.upstream.servers.clone_from(&flags.upstreams);
        }
        if !flags.zones.is_empty() {
            self.zones.files.clone_from(&flags.zones);
        }
        if let Some(log) = &flags.log {
            self.log.path = Some(log.clone());
        }
        if let Some(metrics) = flags.metrics {
            self.metrics.listen = Some(metrics);
        }
    }

    /// The client networks, parsed.
    pub fn client_networks(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.serve
            .allow_clients
            .iter()
            .map(|text| {
                let invalid =
                    |e: String| ConfigError::Invalid(format!("serve.allow_clients: `{text}`: {e}"));
                let net = IpNet::parse(text).map_err(invalid)?;
                // `10.0.0.1/8` is most likely a typo for one address or
                // for the network; either way it is not what it says.
                if net.has_host_bits() {
                    return Err(invalid(format!(
                        "host bits are set below /{}; did you mean `{}/{}`?",
                        net.prefix,
                        net.network(),
                        net.prefix
                    )));
                }
                Ok(net)
            })
            .collect()
    }

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream.timeout_ms.max(1))
    }

    /// Checks what types alone cannot: TLS needs a certificate and key,
    /// sizes are in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.serve.listen.is_empty()
            && self.serve.tls_listen.is_empty()
            && self.serve.https_listen.is_empty()
        {
            return Err(ConfigError::Invalid(
                "serve.listen, serve.tls_listen and serve.https_listen are all empty: nothing \
                 to serve"
                    .into(),
            ));
        }
        if !(self.serve.tls_listen.is_empty() && self.serve.https_listen.is_empty())
            && (self.serve.tls_cert.is_none() || self.serve.tls_key.is_none())
        {
            return Err(ConfigError::Invalid(
                "serve.tls_listen and serve.https_listen need serve.tls_cert and serve.tls_key"
                    .into(),
            ));
        }
        if self.serve.edns_udp_size < 512 {
            return Err(ConfigError::Invalid(
                "serve.edns_udp_size must be at least 512".into(),
            ));
        }
        if self.serve.udp_threads == 0 || self.serve.udp_threads > 64 {
            return Err(ConfigError::Invalid(
                "serve.udp_threads must be 1 to 64".into(),
            ));
        }
        // Zero would mean "serve nothing" or "wait for nothing"; a burst
        // below the rate would cap a client below its rate. The serving
        // code clamps them anyway, so this only makes the mistake heard.
        if self.serve.rate_burst != 0 && self.serve.rate_burst < self.serve.rate_limit {
            return Err(ConfigError::Invalid(format!(
                "serve.rate_burst ({}) is below serve.rate_limit ({}): raise it, or leave it 0 \
                 for a burst of rate_limit",
                self.serve.rate_burst, self.serve.rate_limit
            )));
        }
        if self.serve.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "serve.max_connections must be at least 1".into(),
            ));
        }
        if self.serve.tcp_idle_seconds == 0 {
            return Err(ConfigError::Invalid(
                "serve.tcp_idle_seconds must be at least 1".into(),
            ));
        }
        if self.upstream.max_in_flight == 0 {
            return Err(ConfigError::Invalid(
                "upstream.max_in_flight must be at least 1".into(),
            ));
        }
        if self.upstream.timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "upstream.timeout_ms must be at least 1".into(),
            ));
        }
        if self.cache.min_ttl > self.cache.max_ttl {
            return Err(ConfigError::Invalid(
                "cache.min_ttl is above cache.max_ttl".into(),
            ));
        }
        self.client_networks()?;
        self.time_zone()?;
        Ok(())
    }

    /// The time zone policies read the hour and weekday in.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, ConfigError> {
        match &self.serve.time_zone {
            None => Ok(jiff::tz::TimeZone::system()),
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| {
                ConfigError::Invalid(format!(
                    "serve.time_zone `{name}` is not a time zone the tz database knows: {e}"
                ))
            }),
        }
    }
}

/// The system resolver's name servers, from `/etc/resolv.conf`, leaving
/// out loopback addresses on Ward's own listening ports (a forwarding loop).
pub fn system_upstreams(own: &[SocketAddr]) -> Vec<String> {
    let Ok(text) = std::fs::read("/etc/resolv.conf") else {
        return Vec::new();
    };
    let Ok(conf) = resolv_conf::Config::parse(&text) else {
        return Vec::new();
    };
    conf.nameservers
        .iter()
        .map(|ns| IpAddr::from(ns.clone()))
        .filter(|ip| !own.iter().any(|a| a.ip() == *ip && a.port() == 53))
        .map(|ip| SocketAddr::new(ip, 53).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zone_names_are_checked() {
        let mut config = Config::default();
        config.serve.time_zone = Some("Europe/Berlin".into());
        assert!(config.validate().is_ok());
        config.serve.time_zone = Some("Mars/Olympus_Mons".into());
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("serve.time_zone `Mars/Olympus_Mons`"),
            "{error}"
        );
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(
            config.serve.listen,
            vec![SocketAddr::from(([127, 0, 0, 1], 5353))]
        );
        assert_eq!(config.policy.paths, vec![PathBuf::from("policies")]);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_key_names_its_line() {
        let err = Config::from_toml("[serve]\nlisten = []\nlisten_udp = 1\n").unwrap_err();
        assert!(err.starts_with("line 3, column 1: "), "{err}");
        assert!(err.contains("listen_udp"), "{err}");
    }

    #[test]
    fn devices_and_lists_parse() {
        let config = Config::from_toml(
            r#"
            [lists]
            ads = "ads.txt"
            malware = ["a.txt", "b.txt"]

            [[device]]
            address = "10.1.0.0/16"
            class = "infusion_pump"
            mds2 = { "AUTH-1" = "yes" }
            "#,
        )
        .unwrap();
        assert_eq!(config.lists["malware"].paths().len(), 2);
        assert_eq!(config.devices[0].class.as_deref(), Some("infusion_pump"));
    }

    #[test]
    fn flags_override_the_file() {
        let mut config = Config::from_toml("[upstream]\nservers = [\"192.0.2.1\"]\n").unwrap();
        config.apply(&Overrides {
            upstreams: vec!["192.0.2.2:5300".into()],
            lists: vec![("ads".into(), "x".into()), ("ads".into(), "y".into())],
            // Regression: `--policy` could be given once only, though the
            // docs said it takes policy files.
            policy: vec!["a.ward".into(), "b.ward".into()],
            ..Overrides::default()
        });
        assert_eq!(config.upstream.servers, vec!["192.0.2.2:5300".to_owned()]);
        assert_eq!(config.lists["ads"].paths().len(), 2);
        assert_eq!(
            config.policy.paths,
            [PathBuf::from("a.ward"), PathBuf::from("b.ward")]
        );
    }

    #[test]
    fn paths_in_the_file_are_relative_to_it_and_defaults_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(&file, "[zones]\nfiles = [\"h.zone\"]\n").unwrap();
        let config = Config::from_file(&file).unwrap();
        assert_eq!(config.zones.files, vec![dir.path().join("h.zone")]);
        assert_eq!(config.policy.paths, vec![PathBuf::from("policies")]);
        std::fs::write(&file, "[policy]\npaths = [\"p\"]\n").unwrap();
        let config = Config::from_file(&file).unwrap();
        assert_eq!(config.policy.paths, vec![dir.path().join("p")]);
    }

    /// Regression: these were taken without a word and clamped.
    #[test]
    fn values_that_cannot_work_are_refused() {
        for (text, needle) in [
            (
                "[serve]\nrate_limit = 5\nrate_burst = 1\n",
                "rate_burst (1)",
            ),
            ("[serve]\nmax_connections = 0\n", "max_connections"),
            // Regressions (found by a hostile test): these were taken.
            (
                "[serve]\nallow_clients = [\"10.0.0.1/8\"]\n",
                "did you mean `10.0.0.0/8`?",
            ),
            ("[upstream]\nmax_in_flight = 0\n", "max_in_flight"),
            ("[serve]\ntcp_idle_seconds = 0\n", "tcp_idle_seconds"),
            ("[upstream]\ntimeout_ms = 0\n", "timeout_ms"),
        ] {
            let config = Config::from_toml(text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
        for fine in [
            "[serve]\nrate_limit = 5\n",
            "[serve]\nrate_limit = 5\nrate_burst = 5\n",
            "[serve]\nrate_limit = 5\nrate_burst = 50\n",
        ] {
            Config::from_toml(fine).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn tls_without_certificate_is_refused() {
        let config = Config::from_toml("[serve]\ntls_listen = [\"127.0.0.1:8853\"]\n").unwrap();
        assert!(config.validate().is_err());
    }
}
