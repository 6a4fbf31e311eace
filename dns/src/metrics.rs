//! Prometheus metrics for `ward serve`, served over HTTP at `/metrics`.
//!
//! STUB: the interface the server calls; a helper fills in the bodies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How a query reached Ward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// Why a query got no policy decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// The client is outside `serve.allow_clients`.
    ClientRefused,
    /// The client is over its rate.
    RateLimited,
    /// The packet is not a DNS query Ward can read (FORMERR or dropped).
    Malformed,
}

/// Counters and histograms; cheap to update from every serving thread.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {}
    }
    /// A query arrived.
    pub fn query(&self, _transport: Transport) {}
    /// An answer went out: its verdict (`allow`, `block`, `quarantine`),
    /// the deciding policy if any, and the name's categories.
    pub fn answer(&self, _verdict: &str, _policy: Option<&str>, _categories: &[String]) {}
    /// Time from receiving the query to sending the answer.
    pub fn latency(&self, _elapsed: Duration) {}
    pub fn cache_hit(&self) {}
    pub fn cache_miss(&self) {}
    pub fn upstream_error(&self) {}
    /// The policy module failed and `on error` decided.
    pub fn module_error(&self) {}
    /// A reload finished; `ok` is false when the new bundle was refused.
    pub fn reload(&self, _ok: bool) {}
    pub fn dropped(&self, _why: Dropped) {}
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        String::new()
    }
}

/// Serves `/metrics` on a bound listener until `shutdown` fires.
pub async fn serve_metrics_on(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = (listener, metrics, shutdown);
    Ok(())
}

/// Serves `/metrics` on `addr` until `shutdown` fires.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = (addr, metrics, shutdown);
    Ok(())
}
