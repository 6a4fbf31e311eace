//! Prometheus metrics for `ward serve`, served over HTTP at `/metrics`.
//!
//! Every metric is named `ward_dns_...`: queries by transport, answers by
//! verdict, by deciding policy (`none` when no policy decided) and by
//! category, the latency histogram, cache hits and misses, upstream and
//! module errors, reloads by result and queries dropped before a decision,
//! by reason. `prometheus-client` keeps the registry and writes the text
//! exposition (format 0.0.4).
//!
//! The serving threads update the metrics on every query, so the common
//! calls are atomic increments on counters created up front: transports,
//! verdicts, drop reasons and reload results are fixed label values whose
//! handles `Metrics` keeps. Policies and categories come from the
//! configuration, so they are created on first use and kept in a map read
//! under a shared lock, looked up by `&str` without allocating. The
//! histogram takes a short lock per observation.
//!
//! The HTTP endpoint is hyper's HTTP/1.1 server: one task per connection,
//! one request per connection, a header read timeout and a limit on the
//! whole connection, so a slow or silent client holds only its own task.

use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const METRICS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency buckets, in seconds: 10 µs to 1 s in steps
/// of 1, 2.5 and 5.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one connection may last in all, response included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// The largest request head read.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// How long to wait after a failed accept (out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a query reached Ward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// DNS over HTTPS (RFC 8484).
    Https,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Https => "https",
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

/// Why a TCP, TLS or HTTPS connection was closed as soon as it was
/// accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client is outside `serve.allow_clients`.
    ClientRefused,
    /// `serve.max_connections` are open.
    ServerFull,
    /// `serve.max_connections_per_client` are open from this client.
    ClientFull,
}

impl Refused {
    pub fn name(self) -> &'static str {
        match self {
            Refused::ClientRefused => "client_refused",
            Refused::ServerFull => "server_full",
            Refused::ClientFull => "client_full",
        }
    }
}

impl Dropped {
    pub fn name(self) -> &'static str {
        match self {
            Dropped::ClientRefused => "client_refused",
            Dropped::RateLimited => "rate_limited",
            Dropped::Malformed => "malformed",
        }
    }
}

/// One label: its name and value.
type Label = [(&'static str, Cow<'static, str>); 1];

type CounterFamily = Family<Label, Counter>;

/// Counters and histograms; cheap to update from every serving thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// By `Transport`, in declaration order.
    queries: [Counter; 4],
    answers: CounterFamily,
    allowed: Counter,
    blocked: Counter,
    quarantined: Counter,
    by_policy: OpenLabel,
    by_category: OpenLabel,
    latency: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    upstream_errors: Counter,
    overloaded: Counter,
    module_errors: Counter,
    reloads_ok: Counter,
    reloads_refused: Counter,
    /// By `Dropped`, in declaration order.
    dropped: [Counter; 3],
    /// By `Refused`, in declaration order.
    refused: [Counter; 3],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ward_dns");

        let queries = CounterFamily::default();
        registry.register(
            "queries",
            "DNS queries received, by transport",
            queries.clone(),
        );
        let answers = CounterFamily::default();
        registry.register("answers", "Answers sent, by verdict", answers.clone());
        let by_policy = OpenLabel::new("policy");
        registry.register(
            "answers_by_policy",
            "Answers sent, by the policy that decided (none: no policy decided)",
            by_policy.family.clone(),
        );
        let by_category = OpenLabel::new("category");
        registry.register(
            "answers_by_category",
            "Answers sent, once for each category of the name",
            by_category.family.clone(),
        );
        let latency = Histogram::new(LATENCY_BUCKETS);
        registry.register_with_unit(
            "latency",
            "Time from receiving a query to sending its answer",
            Unit::Seconds,
            latency.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Answers taken from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Lookups the cache could not answer",
            cache_misses.clone(),
        );
        let upstream_errors = Counter::default();
        registry.register(
            "upstream_errors",
            "Upstream queries that failed",
            upstream_errors.clone(),
        );
        let overloaded = Counter::default();
        registry.register(
            "overloaded",
            "Queries answered SERVFAIL at once: upstream.max_in_flight questions were waiting",
            overloaded.clone(),
        );
        let module_errors = Counter::default();
        registry.register(
            "module_errors",
            "Policy module failures decided by `on error`",
            module_errors.clone(),
        );
        let reloads = CounterFamily::default();
        registry.register(
            "reloads",
            "Policy and list reloads, by result (refused: the old bundle stays)",
            reloads.clone(),
        );
        let dropped = CounterFamily::default();
        registry.register(
            "dropped",
            "Queries dropped before a policy decision, by reason",
            dropped.clone(),
        );
        let refused = CounterFamily::default();
        registry.register(
            "connections_refused",
            "TCP, TLS and HTTPS connections closed as soon as accepted, by reason",
            refused.clone(),
        );

        let fixed = |family: &CounterFamily, name: &'static str, value: &'static str| {
            family.get_or_create_owned(&[(name, Cow::Borrowed(value))])
        };
        let for_transport = |transport: Transport| fixed(&queries, "transport", transport.name());
        let for_reason = |reason: Dropped| fixed(&dropped, "reason", reason.name());
        let for_refusal = |reason: Refused| fixed(&refused, "reason", reason.name());
        Metrics {
            queries: [
                for_transport(Transport::Udp),
                for_transport(Transport::Tcp),
                for_transport(Transport::Tls),
                for_transport(Transport::Https),
            ],
            allowed: fixed(&answers, "verdict", "allow"),
            blocked: fixed(&answers, "verdict", "block"),
            quarantined: fixed(&answers, "verdict", "quarantine"),
            answers,
            by_policy,
            by_category,
            latency,
            cache_hits,
            cache_misses,
            upstream_errors,
            overloaded,
            module_errors,
            reloads_ok: fixed(&reloads, "result", "ok"),
            reloads_refused: fixed(&reloads, "result", "refused"),
            dropped: [
                for_reason(Dropped::ClientRefused),
                for_reason(Dropped::RateLimited),
                for_reason(Dropped::Malformed),
            ],
            refused: [
                for_refusal(Refused::ClientRefused),
                for_refusal(Refused::ServerFull),
                for_refusal(Refused::ClientFull),
            ],
            registry,
        }
    }

    /// A query arrived.
    pub fn query(&self, transport: Transport) {
        let [udp, tcp, tls, https] = &self.queries;
        match transport {
            Transport::Udp => udp.inc(),
            Transport::Tcp => tcp.inc(),
            Transport::Tls => tls.inc(),
            Transport::Https => https.inc(),
        };
    }

    /// An answer went out: its verdict (`allow`, `block`, `quarantine`),
    /// the deciding policy if any, and the name's categories.
    pub fn answer(&self, verdict: &str, policy: Option<&str>, categories: &[String]) {
        match verdict {
            "allow" => self.allowed.inc(),
            "block" => self.blocked.inc(),
            "quarantine" => self.quarantined.inc(),
            other => self
                .answers
                .get_or_create(&[("verdict", Cow::Owned(other.to_owned()))])
                .inc(),
        };
        self.by_policy
            .inc(policy.filter(|policy| !policy.is_empty()).unwrap_or("none"));
        for category in categories {
            self.by_category.inc(category);
        }
    }

    /// Time from receiving the query to sending the answer.
    pub fn latency(&self, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
    }

    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.inc();
    }

    /// A query needed an upstream question while `max_in_flight` waited.
    pub fn overloaded(&self) {
        self.overloaded.inc();
    }

    /// The policy module failed and `on error` decided.
    pub fn module_error(&self) {
        self.module_errors.inc();
    }

    /// A reload finished; `ok` is false when the new bundle was refused.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.inc();
        } else {
            self.reloads_refused.inc();
        }
    }

    pub fn dropped(&self, why: Dropped) {
        let [client_refused, rate_limited, malformed] = &self.dropped;
        match why {
            Dropped::ClientRefused => client_refused.inc(),
            Dropped::RateLimited => rate_limited.inc(),
            Dropped::Malformed => malformed.inc(),
        };
    }

    pub fn connection_refused(&self, why: Refused) {
        let [client_refused, server_full, client_full] = &self.refused;
        match why {
            Refused::ClientRefused => client_refused.inc(),
            Refused::ServerFull => server_full.inc(),
            Refused::ClientFull => client_full.inc(),
        };
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(4096);
        if let Err(e) = prometheus_text::encode(&mut text, &self.registry) {
            // Writing to a String does not fail; a metric's encoder would
            // have to. Serve what was written rather than nothing.
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

/// A counter family whose label values are not known in advance, with the
/// counters seen so far kept by value so that lookups need no allocation.
#[derive(Debug)]
struct OpenLabel {
    name: &'static str,
    family: CounterFamily,
    seen: RwLock<HashMap<Box<str>, Counter>>,
}

impl OpenLabel {
    fn new(name: &'static str) -> OpenLabel {
        OpenLabel {
            name,
            family: CounterFamily::default(),
            seen: RwLock::new(HashMap::new()),
        }
    }

    fn inc(&self, value: &str) {
        // A poisoned lock only skips the shortcut; the family still counts.
        if let Ok(seen) = self.seen.read()
            && let Some(counter) = seen.get(value)
        {
            counter.inc();
            return;
        }
        let counter = self
            .family
            .get_or_create_owned(&[(self.name, Cow::Owned(value.to_owned()))]);
        counter.inc();
        if let Ok(mut seen) = self.seen.write() {
            seen.insert(value.into(), counter);
        }
    }
}

/// Serves `/metrics` on `addr` until `shutdown` fires.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_metrics_on(listener, metrics, shutdown).await
}

/// Serves `/metrics` on a bound listener until `shutdown` turns true (or
/// its sender is gone). Connections still open then are closed.
pub async fn serve_metrics_on(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "serving metrics at /metrics");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();

    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        while connections.try_join_next().is_some() {}

        let accepted = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, or the peer left before accept:
                // wait a little rather than spin.
                tracing::warn!(error = %e, "metrics: cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "metrics: too many connections, closing one");
            continue;
        };
        connections.spawn(serve_connection(stream, Arc::clone(&metrics), slot));
    }

    tracing::info!(address = %local, "metrics endpoint stopped");
    // Dropping the set aborts the connections still open.
    Ok(())
}

/// Answers the one request of one connection, within the time limits.
async fn serve_connection(stream: TcpStream, metrics: Arc<Metrics>, slot: OwnedSemaphorePermit) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = respond(&metrics, &request);
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(false)
        .max_buf_size(MAX_REQUEST_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "metrics: connection failed"),
        Err(_) => tracing::debug!("metrics: connection timed out"),
    }
    drop(slot);
}

fn respond(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = if request.method() != Method::GET {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served\n".into(),
        )
    } else if request.uri().path() != "/metrics" {
        (StatusCode::NOT_FOUND, "metrics are at /metrics\n".into())
    } else {
        (StatusCode::OK, metrics.render())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let content_type = match status {
        StatusCode::OK => METRICS_CONTENT_TYPE,
        _ => "text/plain; charset=utf-8",
    };
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The value of one series (`name{labels}`) in rendered text.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().unwrap())
    }

    /// Checks each series' value.
    fn check(metrics: &Metrics, expected: &[(&str, f64)]) {
        let text = metrics.render();
        for &(series, want) in expected {
            assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
        }
    }

    fn categories(names: &[&str]) -> Vec<String> {
        names.iter().map(|&name| name.to_owned()).collect()
    }

    #[test]
    fn every_metric_is_rendered_with_its_help_and_type() {
        let metrics = Metrics::new();
        metrics.query(Transport::Udp);
        metrics.answer("allow", Some("baseline"), &categories(&["ads"]));
        metrics.latency(Duration::from_micros(40));
        metrics.cache_hit();
        metrics.cache_miss();
        metrics.upstream_error();
        metrics.module_error();
        metrics.reload(true);
        metrics.dropped(Dropped::Malformed);
        let text = metrics.render();
        for (name, kind) in [
            ("ward_dns_queries_total", "counter"),
            ("ward_dns_answers_total", "counter"),
            ("ward_dns_answers_by_policy_total", "counter"),
            ("ward_dns_answers_by_category_total", "counter"),
            ("ward_dns_latency_seconds", "histogram"),
            ("ward_dns_cache_hits_total", "counter"),
            ("ward_dns_cache_misses_total", "counter"),
            ("ward_dns_upstream_errors_total", "counter"),
            ("ward_dns_module_errors_total", "counter"),
            ("ward_dns_reloads_total", "counter"),
            ("ward_dns_dropped_total", "counter"),
        ] {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
    }

    #[test]
    fn counts_add_up() {
        let metrics = Metrics::new();
        for transport in [
            Transport::Udp,
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
        ] {
            metrics.query(transport);
        }
        for _ in 0..3 {
            metrics.answer("block", Some("baseline"), &categories(&["ads", "tracking"]));
        }
        metrics.answer("allow", None, &[]);
        metrics.answer("allow", Some(""), &categories(&["ads"]));
        metrics.answer("quarantine", Some("imaging"), &[]);
        metrics.cache_hit();
        metrics.cache_hit();
        metrics.cache_miss();
        metrics.upstream_error();
        metrics.module_error();
        metrics.module_error();
        metrics.reload(true);
        metrics.reload(false);
        metrics.reload(false);
        metrics.dropped(Dropped::ClientRefused);
        metrics.dropped(Dropped::RateLimited);
        metrics.dropped(Dropped::RateLimited);

        check(
            &metrics,
            &[
                (r#"ward_dns_queries_total{transport="udp"}"#, 2.0),
                (r#"ward_dns_queries_total{transport="tcp"}"#, 1.0),
                (r#"ward_dns_queries_total{transport="tls"}"#, 1.0),
                (r#"ward_dns_answers_total{verdict="block"}"#, 3.0),
                (r#"ward_dns_answers_total{verdict="allow"}"#, 2.0),
                (r#"ward_dns_answers_total{verdict="quarantine"}"#, 1.0),
                (
                    r#"ward_dns_answers_by_policy_total{policy="baseline"}"#,
                    3.0,
                ),
                (r#"ward_dns_answers_by_policy_total{policy="none"}"#, 2.0),
                (r#"ward_dns_answers_by_policy_total{policy="imaging"}"#, 1.0),
                (r#"ward_dns_answers_by_category_total{category="ads"}"#, 4.0),
                (
                    r#"ward_dns_answers_by_category_total{category="tracking"}"#,
                    3.0,
                ),
                ("ward_dns_cache_hits_total", 2.0),
                ("ward_dns_cache_misses_total", 1.0),
                ("ward_dns_upstream_errors_total", 1.0),
                ("ward_dns_module_errors_total", 2.0),
                (r#"ward_dns_reloads_total{result="ok"}"#, 1.0),
                (r#"ward_dns_reloads_total{result="refused"}"#, 2.0),
                (r#"ward_dns_dropped_total{reason="client_refused"}"#, 1.0),
                (r#"ward_dns_dropped_total{reason="rate_limited"}"#, 2.0),
                (r#"ward_dns_dropped_total{reason="malformed"}"#, 0.0),
            ],
        );
    }

    #[test]
    fn an_unexpected_verdict_gets_its_own_series() {
        let metrics = Metrics::new();
        metrics.answer("refuse", None, &[]);
        metrics.answer("refuse", None, &[]);
        check(
            &metrics,
            &[
                (r#"ward_dns_answers_total{verdict="refuse"}"#, 2.0),
                (r#"ward_dns_answers_total{verdict="allow"}"#, 0.0),
            ],
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.answer("allow", Some("a\"b"), &categories(&["x\ny"]));
        check(
            &metrics,
            &[
                (r#"ward_dns_answers_by_policy_total{policy="a\"b"}"#, 1.0),
                (
                    r#"ward_dns_answers_by_category_total{category="x\ny"}"#,
                    1.0,
                ),
            ],
        );
    }

    #[test]
    fn latencies_land_in_their_buckets() {
        let metrics = Metrics::new();
        for micros in [5, 10, 20, 2_000, 2_000_000] {
            metrics.latency(Duration::from_micros(micros));
        }
        check(
            &metrics,
            &[
                (r#"ward_dns_latency_seconds_bucket{le="1e-05"}"#, 2.0),
                (r#"ward_dns_latency_seconds_bucket{le="2.5e-05"}"#, 3.0),
                (r#"ward_dns_latency_seconds_bucket{le="0.001"}"#, 3.0),
                (r#"ward_dns_latency_seconds_bucket{le="0.0025"}"#, 4.0),
                (r#"ward_dns_latency_seconds_bucket{le="1"}"#, 4.0),
                (r#"ward_dns_latency_seconds_bucket{le="+Inf"}"#, 5.0),
                ("ward_dns_latency_seconds_count", 5.0),
            ],
        );
        let sum = value(&metrics.render(), "ward_dns_latency_seconds_sum").unwrap();
        assert!((sum - 2.002_035).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn buckets_run_from_10_microseconds_to_a_second() {
        assert_eq!(LATENCY_BUCKETS.first(), Some(&0.000_01));
        assert_eq!(LATENCY_BUCKETS.last(), Some(&1.0));
        assert!(LATENCY_BUCKETS.windows(2).all(|pair| pair[1] > pair[0]));
    }

    #[test]
    fn threads_lose_no_count() {
        let metrics = Arc::new(Metrics::new());
        let blocked = categories(&["ads"]);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        metrics.query(Transport::Udp);
                        metrics.answer("block", Some("baseline"), &blocked);
                        metrics.latency(Duration::from_micros(30));
                    }
                });
            }
        });
        check(
            &metrics,
            &[
                (r#"ward_dns_queries_total{transport="udp"}"#, 40_000.0),
                (r#"ward_dns_answers_total{verdict="block"}"#, 40_000.0),
                (
                    r#"ward_dns_answers_by_policy_total{policy="baseline"}"#,
                    40_000.0,
                ),
                (
                    r#"ward_dns_answers_by_category_total{category="ads"}"#,
                    40_000.0,
                ),
                ("ward_dns_latency_seconds_count", 40_000.0),
            ],
        );
    }

    /// A running endpoint on a loopback port.
    struct Endpoint {
        address: SocketAddr,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    async fn endpoint(metrics: Arc<Metrics>) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve_metrics_on(listener, metrics, stopped));
        Endpoint {
            address,
            stop,
            task,
        }
    }

    /// Sends a raw request and reads the whole response (the server closes
    /// the connection after one).
    async fn fetch(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
    }

    fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
        let head = response.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    #[tokio::test]
    async fn get_metrics_serves_the_exposition() {
        let metrics = Arc::new(Metrics::new());
        metrics.answer("block", None, &[]);
        let endpoint = endpoint(Arc::clone(&metrics)).await;

        let response = fetch(endpoint.address, &get("/metrics")).await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(
            header(&response, "content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let body = response.split_once("\r\n\r\n").unwrap().1;
        assert!(
            body.contains("ward_dns_answers_total{verdict=\"block\"} 1\n"),
            "{body}"
        );

        // A query string does not change the path.
        let response = fetch(endpoint.address, &get("/metrics?x=1")).await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused() {
        let endpoint = endpoint(Arc::new(Metrics::new())).await;

        let response = fetch(endpoint.address, &get("/other")).await;
        assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
        assert!(!response.contains("ward_dns"), "{response}");

        let post = "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
        let response = fetch(endpoint.address, post).await;
        assert!(response.starts_with("HTTP/1.1 405 "), "{response}");
        assert_eq!(header(&response, "allow"), Some("GET"));

        let response = fetch(endpoint.address, "NOT HTTP AT ALL\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    }

    #[tokio::test]
    async fn shutdown_ends_the_task() {
        let endpoint = endpoint(Arc::new(Metrics::new())).await;
        // A connection still open does not hold shutdown up.
        let _silent = TcpStream::connect(endpoint.address).await.unwrap();
        endpoint.stop.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), endpoint.task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[tokio::test]
    async fn a_dropped_shutdown_sender_ends_the_task() {
        let Endpoint { stop, task, .. } = endpoint(Arc::new(Metrics::new())).await;
        drop(stop);
        let ended = tokio::time::timeout(Duration::from_secs(10), task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[tokio::test]
    async fn already_shut_down_serves_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (_stop, stopped) = watch::channel(true);
        let served = serve_metrics_on(listener, Arc::new(Metrics::new()), stopped);
        let ended = tokio::time::timeout(Duration::from_secs(10), served).await;
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_does_not_block_others() {
        let endpoint = endpoint(Arc::new(Metrics::new())).await;
        let mut silent = TcpStream::connect(endpoint.address).await.unwrap();
        silent.write_all(b"GET /metr").await.unwrap();
        let start = tokio::time::Instant::now();
        let response = fetch(endpoint.address, &get("/metrics")).await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        // On the paused clock, waiting for the silent client to time out
        // would show as the header timeout gone by.
        assert!(start.elapsed() < HEADER_TIMEOUT, "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_too_slow_with_its_headers_is_cut_off() {
        let endpoint = endpoint(Arc::new(Metrics::new())).await;
        let mut slow = TcpStream::connect(endpoint.address).await.unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
        let start = tokio::time::Instant::now();
        let mut rest = Vec::new();
        // The server closes the connection (or resets it); either ends the read.
        let _ = slow.read_to_end(&mut rest).await;
        // The paused clock only moves to the next timer, so this is exact:
        // the header timeout fired, not the connection's overall limit.
        let waited = start.elapsed();
        assert!(waited >= HEADER_TIMEOUT, "{waited:?}");
        assert!(waited < CONNECTION_TIMEOUT, "{waited:?}");
        assert!(!String::from_utf8_lossy(&rest).contains("ward_dns"));
    }

    #[tokio::test]
    async fn serve_metrics_reports_a_bind_error() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = taken.local_addr().unwrap();
        let (_stop, stopped) = watch::channel(false);
        let result = serve_metrics(address, Arc::new(Metrics::new()), stopped).await;
        assert!(result.is_err());
    }
}
