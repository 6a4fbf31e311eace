//! The decision path of every query, shared by the UDP, TCP and TLS
//! front ends:
//!
//! 1. read the query (`wire`); a packet that is not one gets FORMERR,
//!    NOTIMP or nothing;
//! 2. drop clients outside `serve.allow_clients`; slow clients over their
//!    rate (UDP only: TCP cannot be spoofed);
//! 3. decide the question: the device's facts, the name's categories, the
//!    time; a block is answered at once, the same way for every type;
//! 4. an allowed name is answered from a local zone, the cache or the
//!    upstreams; then the answer is decided again with its CNAME targets'
//!    categories and its addresses, and every CNAME target is decided as
//!    a question of its own, so a listed name behind an allowed one (CNAME
//!    cloaking) is still blocked;
//! 5. log the decision and count it.
//!
//! When the policy module fails, its `on error` verdicts decide (the host
//! does this), the failure is logged and counted, and serving goes on.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use ward_lang::ast::VerdictKind;
use ward_lang::ir::DnsResponse;
use ward_lang::schema::EnumKind;
use ward_lang::value::{Facts, IpNet, Value};
use ward_runtime::host::Host;
use ward_runtime::host::eval::Evaluation;
use ward_runtime::host::module::PolicyModule;
use ward_runtime::host::warm::WarmEvaluator;

use crate::bundle::{Bundle, BundleError, ModuleBuilder};
use crate::cache::{Cache, Entry};
use crate::config::{CacheSection, Config};
use crate::log::{DecisionLog, DecisionRecord};
use crate::metrics::{Dropped, Metrics, Transport};
use crate::upstream::Upstreams;
use crate::wire::{self, BlockAnswer, Query, Reject};

/// CNAME targets decided one by one, at most.
const MAX_CNAMES_CHECKED: usize = 16;

/// What the front end does next with a packet.
#[derive(Debug)]
pub enum Step {
    /// Send this.
    Reply(Vec<u8>),
    /// Ask the upstreams (`Gateway::finish`), then send what it returns.
    Resolve(Box<Pending>),
    /// Send nothing, for this reason (already counted).
    Drop(Dropped),
}

/// An allowed query waiting for its upstream answer.
#[derive(Debug)]
pub struct Pending {
    query: Query,
    client: IpAddr,
    transport: Transport,
    start: Instant,
    bundle: Arc<Bundle>,
    facts: Facts,
    mask: u32,
    question: Decided,
}

/// A decision, with the names the log and metrics need.
#[derive(Debug, Clone)]
struct Decided {
    kind: VerdictKind,
    respond: Option<DnsResponse>,
    policy: Option<String>,
    rule: Option<String>,
    would: Option<String>,
    failure: Option<String>,
}

impl Decided {
    fn blocks(&self) -> bool {
        self.kind != VerdictKind::Allow
    }

    fn block_answer(&self) -> BlockAnswer {
        match self.respond {
            Some(DnsResponse::NoData) => BlockAnswer::NoData,
            Some(DnsResponse::Refused) => BlockAnswer::Refused,
            Some(DnsResponse::Sinkhole(ip)) => BlockAnswer::Sinkhole(ip),
            Some(DnsResponse::NxDomain) | None => BlockAnswer::NxDomain,
        }
    }
}

fn verdict_name(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Allow => "allow",
        VerdictKind::Block => "block",
        VerdictKind::Quarantine => "quarantine",
    }
}

fn block_name(answer: BlockAnswer) -> &'static str {
    match answer {
        BlockAnswer::NxDomain => "nxdomain",
        BlockAnswer::NoData => "nodata",
        BlockAnswer::Refused => "refused",
        BlockAnswer::Sinkhole(_) => "sinkhole",
    }
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        wire::RCODE_NOERROR => "noerror",
        wire::RCODE_FORMERR => "formerr",
        wire::RCODE_SERVFAIL => "servfail",
        wire::RCODE_NXDOMAIN => "nxdomain",
        wire::RCODE_NOTIMP => "notimp",
        wire::RCODE_REFUSED => "refused",
        _ => "other",
    }
}

/// What a reload changes besides the bundle: which clients are answered,
/// at what rate, where allowed questions go and the TTL of blocks. Built
/// whole from the configuration and swapped in beside the bundle; the
/// rate limiter's buckets and the kept upstream connections start afresh.
#[derive(Debug)]
pub struct Settings {
    clients: Vec<IpNet>,
    limiter: Option<RateLimiter>,
    upstreams: Upstreams,
    block_ttl: u32,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, String> {
        let clients = config.client_networks().map_err(|e| e.to_string())?;
        let limiter = (config.serve.rate_limit > 0).then(|| RateLimiter {
            rate: f64::from(config.serve.rate_limit),
            burst: f64::from(config.serve.rate_burst.max(config.serve.rate_limit)),
            buckets: Mutex::new(HashMap::new()),
            slip: AtomicU64::new(0),
        });
        let mut upstream_specs = config.upstream.servers.clone();
        if upstream_specs.is_empty() {
            upstream_specs = crate::config::system_upstreams(&config.serve.listen);
            if upstream_specs.is_empty() {
                tracing::warn!(
                    "no upstream configured and none in /etc/resolv.conf: names outside the \
                     local zones get SERVFAIL"
                );
            }
        }
        let upstreams = Upstreams::new(
            &upstream_specs,
            config.upstream_timeout(),
            config.upstream.tls_ca.as_deref(),
            config.serve.edns_udp_size,
        )?;
        Ok(Settings {
            clients,
            limiter,
            upstreams,
            block_ttl: config.block.ttl,
        })
    }

    fn client_allowed(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.clients.iter().any(|net| net.contains(client))
    }
}

/// Why a query that needed an upstream answer has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// No upstream gave a usable answer.
    Failed,
    /// `upstream.max_in_flight` questions were already waiting.
    Overloaded,
}

/// Lets something happen at most once a second, counting the times it
/// did not.
#[derive(Debug)]
struct Throttle {
    started: Instant,
    /// Whole seconds since `started` of the last time allowed, plus one (0: never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            started: Instant::now(),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    /// `Some(times suppressed since the last allowed)` when allowed now.
    fn allow(&self) -> Option<u64> {
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != now
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// A token bucket per client.
#[derive(Debug)]
struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    slip: AtomicU64,
}

const MAX_TRACKED_CLIENTS: usize = 100_000;

impl RateLimiter {
    /// Whether the client may ask now.
    fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            // Forget clients whose buckets have refilled.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

thread_local! {
    /// Each serving thread's warm instance, for the module it was made for.
    static WARM: RefCell<Option<(Arc<PolicyModule>, WarmEvaluator)>> = const { RefCell::new(None) };
}

/// A query waiting for another's upstream answer to the same question.
type Waiter = tokio::sync::oneshot::Sender<Option<Arc<Entry>>>;

/// Where the configuration came from, to read it again on reload.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub file: Option<std::path::PathBuf>,
    pub overrides: crate::config::Overrides,
}

impl ConfigSource {
    pub fn read(&self) -> Result<Config, String> {
        let mut config = match &self.file {
            Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        config.apply(&self.overrides);
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

pub struct Gateway {
    host: Arc<Host>,
    bundle: ArcSwap<Bundle>,
    cache: Cache,
    settings: ArcSwap<Settings>,
    pub metrics: Arc<Metrics>,
    log: Option<DecisionLog>,
    pub edns_size: u16,
    limits: CacheSection,
    inflight: Mutex<HashMap<(String, u16, u16), Vec<Waiter>>>,
    /// `upstream.max_in_flight`: the most keys in `inflight`.
    max_in_flight: usize,
    /// "no upstream answered", at most once a second.
    unanswered_warning: Throttle,
    source: ConfigSource,
    builder: Arc<ModuleBuilder>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstreams", &self.settings.load().upstreams)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(
        host: Arc<Host>,
        config: &Config,
        source: ConfigSource,
        builder: Arc<ModuleBuilder>,
        settings: Settings,
        log: Option<DecisionLog>,
        metrics: Arc<Metrics>,
    ) -> Result<Gateway, BundleError> {
        let bundle = Bundle::load(&host, config, &*builder)?;
        Ok(Gateway {
            host,
            bundle: ArcSwap::from_pointee(bundle),
            cache: Cache::new(config.cache.max_entries),
            settings: ArcSwap::from_pointee(settings),
            metrics,
            log,
            edns_size: config.serve.edns_udp_size,
            limits: config.cache.clone(),
            inflight: Mutex::new(HashMap::new()),
            max_in_flight: config.upstream.max_in_flight,
            unanswered_warning: Throttle::default(),
            source,
            builder,
        })
    }

    /// The bundle serving now.
    pub fn bundle(&self) -> Arc<Bundle> {
        self.bundle.load_full()
    }

    /// Builds a new bundle from the configuration's files and swaps it in;
    /// on any error the old bundle keeps serving.
    pub fn reload(&self) -> Result<(), String> {
        let result = self.source.read().and_then(|config| {
            let settings = Settings::from_config(&config)?;
            let bundle =
                Bundle::load(&self.host, &config, &*self.builder).map_err(|e| e.to_string())?;
            Ok((bundle, settings))
        });
        match result {
            Ok((bundle, settings)) => {
                let module = bundle.module.hash_hex();
                self.settings.store(Arc::new(settings));
                self.bundle.store(Arc::new(bundle));
                self.metrics.reload(true);
                tracing::info!(module, "reloaded: the new bundle is serving");
                Ok(())
            }
            Err(error) => {
                self.metrics.reload(false);
                tracing::error!(%error, "reload refused; the old bundle keeps serving");
                Err(error)
            }
        }
    }

    pub fn flush_log(&self) {
        if let Some(log) = &self.log {
            log.flush();
        }
    }

    /// Whether `client` is in `serve.allow_clients`.
    pub fn client_allowed(&self, client: IpAddr) -> bool {
        self.settings.load().client_allowed(client)
    }

    /// First half of a query: everything that needs no upstream.
    pub fn begin(&self, packet: &[u8], client: IpAddr, transport: Transport) -> Step {
        let start = Instant::now();
        self.metrics.query(transport);
        let settings = self.settings.load();
        if !settings.client_allowed(client) {
            self.metrics.dropped(Dropped::ClientRefused);
            return Step::Drop(Dropped::ClientRefused);
        }
        if transport == Transport::Udp
            && let Some(limiter) = &settings.limiter
            && !limiter.allow(client.to_canonical(), start)
        {
            self.metrics.dropped(Dropped::RateLimited);
            // Every other limited query gets an empty truncated answer, so
            // a real client retries over TCP (which is not limited).
            let slip = limiter.slip.fetch_add(1, Ordering::Relaxed) % 2 == 0;
            return match wire::parse_query(packet) {
                Ok(query) if slip => Step::Reply(query.truncated(self.edns_size)),
                _ => Step::Drop(Dropped::RateLimited),
            };
        }
        let query = match wire::parse_query(packet) {
            Ok(query) => query,
            Err(Reject::Drop) => {
                self.metrics.dropped(Dropped::Malformed);
                return Step::Drop(Dropped::Malformed);
            }
            Err(Reject::Answer {
                id,
                flags,
                rcode,
                question,
                edns,
            }) => {
                self.metrics.dropped(Dropped::Malformed);
                return Step::Reply(wire::error_answer(
                    id,
                    flags,
                    question.as_deref(),
                    edns,
                    u16::from(rcode),
                    self.edns_size,
                ));
            }
        };
        if let Some(edns) = query.edns
            && edns.version != 0
        {
            return Step::Reply(query.error(wire::RCODE_BADVERS, self.edns_size));
        }
        if query.qclass != wire::CLASS_IN {
            return Step::Reply(query.error(u16::from(wire::RCODE_REFUSED), self.edns_size));
        }
        if let Some(rcode) = wire::meta_qtype_rcode(query.qtype) {
            return Step::Reply(query.error(u16::from(rcode), self.edns_size));
        }

        let bundle = self.bundle();
        let mut facts = bundle.device(client);
        let mask = bundle.categories_of(&query.name);
        set_question(&bundle, &mut facts, &query.name, query.qtype, mask);
        set_time(&bundle, &mut facts);
        let question = self.decide(&bundle, &facts);
        if question.blocks() {
            let how = question.block_answer();
            let reply = wire::block_answer(&query, how, settings.block_ttl, self.edns_size);
            self.record(&Outcome {
                query: &query,
                client,
                transport,
                start,
                bundle: &bundle,
                facts: &facts,
                mask,
                decided: &question,
                response: block_name(how),
                source: "policy",
                cname: None,
            });
            return Step::Reply(self.fit(&query, transport, reply));
        }
        if let Some(zone) = bundle
            .zones
            .answer(&query.name, query.qtype, &query.question)
        {
            // Decided again like an upstream answer: a zone's CNAME to a
            // name the policy blocks must not hand out that name's records.
            let (decided, cname, all_mask) = self.decide_answer(
                &bundle,
                &facts,
                mask,
                &question,
                &zone.cnames,
                &zone.addresses,
                query.qtype,
            );
            let (reply, response) = if decided.blocks() {
                let how = decided.block_answer();
                let reply = wire::block_answer(&query, how, settings.block_ttl, self.edns_size);
                (reply, block_name(how))
            } else {
                let rcode = zone.message.get(3).map_or(0, |b| b & 0x0F);
                let offsets = wire::ttl_offsets(&zone.message).unwrap_or_default();
                let reply = query.answer_from(&zone.message, &offsets, 0, true, self.edns_size);
                (reply, rcode_name(rcode))
            };
            self.record(&Outcome {
                query: &query,
                client,
                transport,
                start,
                bundle: &bundle,
                facts: &facts,
                mask: all_mask,
                decided: &decided,
                response,
                source: "zone",
                cname: cname.as_deref(),
            });
            return Step::Reply(self.fit(&query, transport, reply));
        }
        if let Some(entry) = self
            .cache
            .get(&query.name, query.qtype, query.qclass, start)
        {
            self.metrics.cache_hit();
            let reply = self.answer_with(
                &query, client, transport, start, &bundle, &facts, mask, &question, &entry, "cache",
            );
            return Step::Reply(reply);
        }
        self.metrics.cache_miss();
        Step::Resolve(Box::new(Pending {
            query,
            client,
            transport,
            start,
            bundle,
            facts,
            mask,
            question,
        }))
    }

    /// Second half: the upstream answer, decided again.
    pub async fn finish(&self, pending: Pending) -> Vec<u8> {
        let Pending {
            query,
            client,
            transport,
            start,
            bundle,
            facts,
            mask,
            question,
        } = pending;
        match self.resolve(&query).await {
            Ok(entry) => self.answer_with(
                &query, client, transport, start, &bundle, &facts, mask, &question, &entry,
                "upstream",
            ),
            Err(unanswered) => {
                match unanswered {
                    Unanswered::Failed => self.metrics.upstream_error(),
                    Unanswered::Overloaded => self.metrics.overloaded(),
                }
                self.record(&Outcome {
                    query: &query,
                    client,
                    transport,
                    start,
                    bundle: &bundle,
                    facts: &facts,
                    mask,
                    decided: &question,
                    response: "servfail",
                    source: "upstream",
                    cname: None,
                });
                query.error(u16::from(wire::RCODE_SERVFAIL), self.edns_size)
            }
        }
    }

    /// A UDP answer larger than the client takes becomes an empty one with
    /// TC set, and the client asks again over TCP.
    fn fit(&self, query: &Query, transport: Transport, reply: Vec<u8>) -> Vec<u8> {
        if transport == Transport::Udp && reply.len() > query.udp_limit(self.edns_size) {
            query.truncated(self.edns_size)
        } else {
            reply
        }
    }

    /// One upstream question at a time per name and type: later askers
    /// wait for the first one's answer. At most `max_in_flight` questions
    /// wait at once: each holds a socket and buffers, and a flood of names
    /// the upstream never answers would otherwise take memory and file
    /// descriptors until nothing else could be served.
    async fn resolve(&self, query: &Query) -> Result<Arc<Entry>, Unanswered> {
        let key = (query.name.clone(), query.qtype, query.qclass);
        let waiter = {
            let Ok(mut inflight) = self.inflight.lock() else {
                return Err(Unanswered::Failed);
            };
            let full = inflight.len() >= self.max_in_flight;
            match inflight.get_mut(&key) {
                Some(waiters) => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None if full => return Err(Unanswered::Overloaded),
                None => {
                    inflight.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiter {
            return rx.await.ok().flatten().ok_or(Unanswered::Failed);
        }
        // The upstreams of now: a reload may change them while this waits.
        let settings = self.settings.load_full();
        let result = settings
            .upstreams
            .resolve(&query.name, query.qtype, query.qclass, &self.limits)
            .await;
        let entry = match result {
            Ok(entry) => {
                let entry = Arc::new(entry);
                self.cache
                    .insert(&query.name, query.qtype, query.qclass, Arc::clone(&entry));
                Some(entry)
            }
            Err(error) => {
                if let Some(suppressed) = self.unanswered_warning.allow() {
                    tracing::warn!(
                        name = %query.name,
                        %error,
                        suppressed,
                        "no upstream answered (at most one such line a second; \
                         `suppressed` counts the others)"
                    );
                }
                None
            }
        };
        let waiters = self
            .inflight
            .lock()
            .ok()
            .and_then(|mut inflight| inflight.remove(&key))
            .unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(entry.clone());
        }
        entry.ok_or(Unanswered::Failed)
    }

    /// Answers an allowed query from a stored answer, after deciding the
    /// answer itself.
    #[allow(clippy::too_many_arguments, reason = "one query's whole state")]
    fn answer_with(
        &self,
        query: &Query,
        client: IpAddr,
        transport: Transport,
        start: Instant,
        bundle: &Bundle,
        facts: &Facts,
        mask: u32,
        question: &Decided,
        entry: &Entry,
        source: &str,
    ) -> Vec<u8> {
        let (decided, cname, all_mask) = self.decide_answer(
            bundle,
            facts,
            mask,
            question,
            &entry.cnames,
            &entry.answers,
            query.qtype,
        );
        if decided.blocks() {
            let how = decided.block_answer();
            let block_ttl = self.settings.load().block_ttl;
            let reply = wire::block_answer(query, how, block_ttl, self.edns_size);
            self.record(&Outcome {
                query,
                client,
                transport,
                start,
                bundle,
                facts,
                mask: all_mask,
                decided: &decided,
                response: block_name(how),
                source,
                cname: cname.as_deref(),
            });
            return self.fit(query, transport, reply);
        }
        let age = entry.age(Instant::now()).unwrap_or(0);
        let reply = query.answer_from(&entry.wire, &entry.ttl_offsets, age, false, self.edns_size);
        self.record(&Outcome {
            query,
            client,
            transport,
            start,
            bundle,
            facts,
            mask: all_mask,
            decided: &decided,
            response: rcode_name(entry.rcode),
            source,
            cname: None,
        });
        self.fit(query, transport, reply)
    }

    /// The answer's decision: once with the whole answer (the CNAME
    /// targets' categories joined to the name's, the addresses), then once
    /// per CNAME target as a question of its own. The first block wins.
    #[allow(clippy::too_many_arguments, reason = "one answer's whole state")]
    fn decide_answer(
        &self,
        bundle: &Bundle,
        facts: &Facts,
        mask: u32,
        question: &Decided,
        cnames: &[String],
        answers: &[IpAddr],
        qtype: u16,
    ) -> (Decided, Option<String>, u32) {
        if cnames.is_empty() && answers.is_empty() {
            return (question.clone(), None, mask);
        }
        let target_masks: Vec<u32> = cnames
            .iter()
            .map(|name| bundle.categories_of(name))
            .collect();
        let all = target_masks.iter().fold(mask, |acc, m| acc | m);
        let mut whole = facts.clone();
        let ids = bundle.ids;
        if let Some(id) = ids.categories {
            whole.values.insert(id, bundle.category_values(all));
        }
        if let Some(id) = ids.cnames
            && !cnames.is_empty()
        {
            let names = cnames.iter().map(|n| Value::Str(n.clone())).collect();
            whole.values.insert(id, Value::Set(names));
        }
        if let Some(id) = ids.answers
            && !answers.is_empty()
        {
            let ips = answers
                .iter()
                .map(|ip| Value::Ip(ip.to_canonical()))
                .collect();
            whole.values.insert(id, Value::Set(ips));
        }
        let decided = self.decide(bundle, &whole);
        if decided.blocks() {
            let cname = cnames
                .iter()
                .zip(&target_masks)
                .find(|(_, m)| **m & !mask != 0)
                .map(|(name, _)| name.clone());
            return (decided, cname, all);
        }
        for (name, target_mask) in cnames.iter().zip(&target_masks).take(MAX_CNAMES_CHECKED) {
            let mut target = facts.clone();
            set_question(bundle, &mut target, name, qtype, *target_mask);
            let on_target = self.decide(bundle, &target);
            if on_target.blocks() {
                return (on_target, Some(name.clone()), all);
            }
        }
        (decided, None, all)
    }

    /// Decides facts with this thread's warm instance of the module.
    fn decide(&self, bundle: &Bundle, facts: &Facts) -> Decided {
        let evaluation = WARM.with(|cell| {
            let mut slot = cell.borrow_mut();
            let fresh = match &*slot {
                Some((module, _)) => !Arc::ptr_eq(module, &bundle.module),
                None => true,
            };
            if fresh {
                *slot = Some((
                    Arc::clone(&bundle.module),
                    WarmEvaluator::new(Arc::clone(&self.host), Arc::clone(&bundle.module)),
                ));
            }
            match &mut *slot {
                Some((_, warm)) => warm.evaluate(facts, None),
                None => self.host.evaluate(&bundle.module, facts, None),
            }
        });
        self.decided(bundle, &evaluation)
    }

    fn decided(&self, bundle: &Bundle, evaluation: &Evaluation) -> Decided {
        let manifest = bundle.module.manifest();
        let names = |policy: usize, rule: Option<usize>| {
            let entry = manifest.policies.get(policy);
            (
                entry.map(|p| p.name.clone()),
                entry.and_then(|p| rule.and_then(|r| p.rules.get(r)).map(|r| r.name.clone())),
            )
        };
        let decision = &evaluation.decision;
        let (policy, rule) = decision
            .decider
            .map_or((None, None), |d| names(d.policy, d.rule));
        // Only a monitor-mode verdict that would have blocked is news.
        let would = decision
            .would()
            .filter(|o| o.verdict.kind != VerdictKind::Allow)
            .map(|outcome| {
                let (policy, rule) = names(outcome.decider.policy, outcome.decider.rule);
                format!(
                    "{} by {}/{}",
                    verdict_name(outcome.verdict.kind),
                    policy.unwrap_or_default(),
                    rule.unwrap_or_else(|| "default".into())
                )
            });
        let failure = evaluation.failure.as_ref().map(|f| {
            self.metrics.module_error();
            tracing::error!(failure = %f, "policy module failed; `on error` decided");
            f.to_string()
        });
        Decided {
            kind: decision.verdict.kind,
            respond: decision.verdict.respond,
            policy,
            rule,
            would,
            failure,
        }
    }

    fn record(&self, outcome: &Outcome<'_>) {
        let elapsed = outcome.start.elapsed();
        let categories = if outcome.mask == 0 {
            Vec::new()
        } else {
            outcome.bundle.category_names(outcome.mask)
        };
        self.metrics.answer(
            verdict_name(outcome.decided.kind),
            outcome.decided.policy.as_deref(),
            &categories,
        );
        self.metrics.latency(elapsed);
        let Some(log) = &self.log else {
            return;
        };
        let class = outcome
            .bundle
            .schema()
            .fact("device.class")
            .and_then(|id| outcome.facts.get(id))
            .map(|v| v.render(outcome.bundle.schema()))
            .unwrap_or_else(|| "unknown".into());
        log.record(&DecisionRecord {
            time: SystemTime::now(),
            client: outcome.client,
            transport: outcome.transport.name(),
            device_class: &class,
            name: &outcome.query.name,
            qtype: wire::qtype_name(outcome.query.qtype),
            verdict: verdict_name(outcome.decided.kind),
            response: outcome.response,
            policy: outcome.decided.policy.as_deref(),
            rule: outcome.decided.rule.as_deref(),
            would: outcome.decided.would.as_deref(),
            categories: &categories,
            cname: outcome.cname,
            source: outcome.source,
            module_error: outcome.decided.failure.as_deref(),
            latency: elapsed,
        });
    }
}

struct Outcome<'a> {
    query: &'a Query,
    client: IpAddr,
    transport: Transport,
    start: Instant,
    bundle: &'a Bundle,
    facts: &'a Facts,
    mask: u32,
    decided: &'a Decided,
    response: &'a str,
    source: &'a str,
    cname: Option<&'a str>,
}

fn set_question(bundle: &Bundle, facts: &mut Facts, name: &str, qtype: u16, mask: u32) {
    let ids = bundle.ids;
    if let Some(id) = ids.qname {
        facts.values.insert(id, Value::Str(name.to_owned()));
    }
    if let Some(id) = ids.qtype
        && let Some(index) = EnumKind::DnsType.index(wire::qtype_name(qtype))
    {
        facts
            .values
            .insert(id, Value::Enum(EnumKind::DnsType, index));
    }
    if let Some(id) = ids.categories {
        facts.values.insert(id, bundle.category_values(mask));
    }
}

/// `time.hour` and `time.weekday`, in the bundle's time zone.
fn set_time(bundle: &Bundle, facts: &mut Facts) {
    let (hour, weekday) = local_hour_and_weekday(&bundle.time_zone, jiff::Timestamp::now());
    if let Some(id) = bundle.ids.hour {
        facts.values.insert(id, Value::Int(hour));
    }
    if let Some(id) = bundle.ids.weekday {
        facts
            .values
            .insert(id, Value::Enum(EnumKind::Weekday, weekday));
    }
}

/// The hour (0 to 23) and the weekday (0 for Monday) of an instant on the
/// zone's wall clock.
fn local_hour_and_weekday(zone: &jiff::tz::TimeZone, now: jiff::Timestamp) -> (i64, u16) {
    let wall = zone.to_datetime(now);
    let weekday = u16::try_from(wall.weekday().to_monday_zero_offset()).unwrap_or(0);
    (i64::from(wall.hour()), weekday)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    /// Regression: `time.hour` and `time.weekday` were always UTC, so an
    /// after-hours rule in a hospital east of Greenwich fired at the wrong
    /// hours and, near midnight, on the wrong day.
    #[test]
    fn hour_and_weekday_are_read_on_the_configured_wall_clock() {
        // Tuesday 2026-12-01, 23:30 UTC.
        let now = at("2026-12-01T23:30:00Z");
        assert_eq!(
            local_hour_and_weekday(&jiff::tz::TimeZone::UTC, now),
            (23, 1)
        );
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            local_hour_and_weekday(&berlin, now),
            (0, 2),
            "Wednesday 00:30"
        );
        let chicago = jiff::tz::TimeZone::get("America/Chicago").unwrap();
        assert_eq!(local_hour_and_weekday(&chicago, now), (17, 1));
    }

    #[test]
    fn summer_time_moves_the_hour() {
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        // 07:00 UTC is 09:00 in summer (CEST) and 08:00 in winter (CET).
        assert_eq!(
            local_hour_and_weekday(&berlin, at("2026-07-06T07:00:00Z")).0,
            9
        );
        assert_eq!(
            local_hour_and_weekday(&berlin, at("2026-01-05T07:00:00Z")).0,
            8
        );
        // Sunday is the last day of the week.
        assert_eq!(
            local_hour_and_weekday(&berlin, at("2026-07-05T12:00:00Z")).1,
            6
        );
    }
}
