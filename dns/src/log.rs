//! The decision log: one JSON line per decision.
//!
//! STUB: the interface the server calls; a helper fills in the bodies.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::config::LogSection;

/// One decision, as the server knows it.
#[derive(Debug, Clone)]
pub struct DecisionRecord<'a> {
    pub time: SystemTime,
    pub client: IpAddr,
    pub transport: &'static str,
    /// The device's class (`unknown` when the device is not known).
    pub device_class: &'a str,
    /// The name as asked (lowercase, no trailing dot).
    pub name: &'a str,
    /// The query type's name (`a`, `aaaa`, `https`, ...).
    pub qtype: &'a str,
    /// `allow`, `block` or `quarantine`.
    pub verdict: &'a str,
    /// How a block was answered (`nxdomain`, `nodata`, `refused`,
    /// `sinkhole`), or the answer's rcode for allowed queries
    /// (`noerror`, `nxdomain`, `servfail`, ...).
    pub response: &'a str,
    pub policy: Option<&'a str>,
    pub rule: Option<&'a str>,
    /// What monitor-mode policies would have done, if anything.
    pub would: Option<&'a str>,
    pub categories: &'a [String],
    /// The CNAME target that decided, when the block came from the answer.
    pub cname: Option<&'a str>,
    /// Where the answer came from: `policy`, `zone`, `cache`, `upstream`.
    pub source: &'a str,
    /// Set when the module failed and `on error` decided.
    pub module_error: Option<&'a str>,
    pub latency: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the decision log `{path}`: {message}")]
    Open { path: String, message: String },
}

/// The log writer; records go to a background thread.
#[derive(Debug)]
pub struct DecisionLog {}

impl DecisionLog {
    /// Opens the log the section describes; `None` when no path is set.
    pub fn open(section: &LogSection) -> Result<Option<DecisionLog>, LogError> {
        let _ = section;
        Ok(None)
    }

    /// Queues one record; never blocks the caller.
    pub fn record(&self, record: &DecisionRecord<'_>) {
        let _ = record;
    }

    /// Writes out everything queued (at shutdown).
    pub fn flush(&self) {}
}
