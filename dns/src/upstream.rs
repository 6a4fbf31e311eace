//! Forwarding to the upstream resolvers: plain DNS (UDP, retried over TCP
//! when the answer is truncated) or DNS over TLS. Each query goes out with
//! a random id from a fresh random port, and only an answer to exactly
//! that question is taken. Upstreams are tried in order until one answers
//! with NOERROR or NXDOMAIN; when none does, the client gets SERVFAIL.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, Record, RecordType};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::cache::Entry;
use crate::config::CacheSection;
use crate::wire;

#[derive(Debug, Clone)]
pub enum Upstream {
    Plain(SocketAddr),
    Tls {
        addr: SocketAddr,
        name: ServerName<'static>,
    },
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::Plain(addr) => write!(f, "{addr}"),
            Upstream::Tls { addr, name } => write!(f, "tls://{addr}#{}", name.to_str()),
        }
    }
}

/// Parses `ADDR`, `ADDR:PORT`, `[V6]:PORT`, `tls://ADDR[:PORT]#NAME`.
pub fn parse_upstream(spec: &str) -> Result<Upstream, String> {
    let bad = |why: &str| format!("upstream `{spec}`: {why}");
    let (tls, rest) = match spec.strip_prefix("tls://") {
        Some(rest) => (true, rest),
        None => (false, spec.strip_prefix("udp://").unwrap_or(spec)),
    };
    let (addr_text, name) = match rest.split_once('#') {
        Some((a, n)) => (a, Some(n)),
        None => (rest, None),
    };
    let default_port = if tls { 853 } else { 53 };
    let addr = match addr_text.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => addr_text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, default_port))
            .map_err(|_| bad("expected an IP address, with an optional port"))?,
    };
    if addr.port() == 0 {
        return Err(bad("port 0 is not a port a server answers on"));
    }
    if tls {
        let name = name.ok_or_else(|| bad("DNS over TLS needs `#NAME`, the certificate's name"))?;
        let name = ServerName::try_from(name.to_owned()).map_err(|e| bad(&e.to_string()))?;
        Ok(Upstream::Tls { addr, name })
    } else if name.is_some() {
        Err(bad("`#NAME` is only for `tls://` upstreams"))
    } else {
        Ok(Upstream::Plain(addr))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream is configured")]
    None,
    #[error("every upstream failed; last: {0}")]
    AllFailed(String),
}

pub struct Upstreams {
    list: Vec<Upstream>,
    timeout: Duration,
    tls: tokio_rustls::TlsConnector,
    edns_size: u16,
    /// Open DNS-over-TLS connections not in use, by upstream address. A
    /// query takes one, or opens one, and puts it back after its answer,
    /// so that a cache miss costs a round trip rather than TCP and TLS
    /// handshakes as well (RFC 7858 3.4 asks clients to reuse).
    idle: Mutex<HashMap<SocketAddr, Vec<TlsStream>>>,
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Idle DNS-over-TLS connections kept per upstream; more are closed.
const MAX_IDLE_PER_UPSTREAM: usize = 16;

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("list", &self.list)
            .finish()
    }
}

impl Upstreams {
    pub fn new(
        specs: &[String],
        timeout: Duration,
        tls_ca: Option<&Path>,
        edns_size: u16,
    ) -> Result<Upstreams, String> {
        let list = specs
            .iter()
            .map(|s| parse_upstream(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = tls_ca {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let pem = ward_runtime::files::read_capped(path, 1024 * 1024)
                .map_err(|e| format!("upstream.tls_ca `{}`: {e}", path.display()))?;
            let certs = CertificateDer::pem_slice_iter(&pem);
            let mut added = 0;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("upstream.tls_ca `{}`: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("upstream.tls_ca `{}`: {e}", path.display()))?;
                added += 1;
            }
            // A key or a zone file by mistake would otherwise start, and
            // every DoT upstream fail with `UnknownIssuer`.
            if added == 0 {
                return Err(format!(
                    "upstream.tls_ca `{}` has no PEM certificate in it",
                    path.display()
                ));
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Upstreams {
            list,
            timeout,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            edns_size,
            idle: Mutex::new(HashMap::new()),
        })
    }

    fn take_idle(&self, addr: SocketAddr) -> Option<TlsStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get_mut(&addr)?.pop()
    }

    fn keep_idle(&self, addr: SocketAddr, stream: TlsStream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = idle.entry(addr).or_default();
        if kept.len() < MAX_IDLE_PER_UPSTREAM {
            kept.push(stream);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn list(&self) -> &[Upstream] {
        &self.list
    }

    /// Asks the upstreams in order; the first good answer comes back.
    pub async fn resolve(
        &self,
        name: &str,
        qtype: u16,
        qclass: u16,
        limits: &CacheSection,
    ) -> Result<Entry, UpstreamError> {
        let mut last = None;
        for upstream in &self.list {
            let result =
                tokio::time::timeout(self.timeout, self.ask(upstream, name, qtype, qclass))
                    .await
                    .unwrap_or_else(|_| Err("timed out".to_owned()))
                    .and_then(|bytes| entry_from_answer(&bytes, name, qtype, qclass, limits));
            match result {
                Ok(entry) => return Ok(entry),
                Err(why) => {
                    tracing::debug!(%upstream, name, why, "upstream failed");
                    last = Some(format!("{upstream}: {why}"));
                }
            }
        }
        Err(last.map_or(UpstreamError::None, UpstreamError::AllFailed))
    }

    async fn ask(
        &self,
        upstream: &Upstream,
        name: &str,
        qtype: u16,
        qclass: u16,
    ) -> Result<Vec<u8>, String> {
        let id: u16 = rand::random();
        let query = wire::upstream_query(id, name, qtype, qclass, self.edns_size)
            .ok_or("the name cannot be written")?;
        match upstream {
            Upstream::Plain(addr) => {
                let answer = self.udp(*addr, id, &query).await?;
                let truncated = wire::response_header(&answer)
                    .is_some_and(|(_, flags)| wire::is_truncated(flags));
                if truncated {
                    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                    exchange(&mut stream, id, &query).await
                } else {
                    Ok(answer)
                }
            }
            Upstream::Tls { addr, name } => {
                // A kept connection may have been closed by the server
                // since (idle timeout): it gets half the time, and on
                // failure a new connection is opened.
                if let Some(mut stream) = self.take_idle(*addr) {
                    let reused =
                        tokio::time::timeout(self.timeout / 2, exchange(&mut stream, id, &query));
                    if let Ok(Ok(answer)) = reused.await {
                        self.keep_idle(*addr, stream);
                        return Ok(answer);
                    }
                }
                let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                let mut stream = self
                    .tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| tls_failure(&e))?;
                let answer = exchange(&mut stream, id, &query).await?;
                self.keep_idle(*addr, stream);
                Ok(answer)
            }
        }
    }

    async fn udp(&self, addr: SocketAddr, id: u16, query: &[u8]) -> Result<Vec<u8>, String> {
        let local: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
        socket.connect(addr).await.map_err(|e| e.to_string())?;
        socket.send(query).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
            let answer = buf.get(..n).unwrap_or_default();
            // Anything but the answer to our id is ignored (a spoof, a late
            // answer), and the wait goes on until the timeout.
            if wire::response_header(answer).is_some_and(|(got, _)| got == id) {
                return Ok(answer.to_vec());
            }
        }
    }
}

/// What a failed TLS handshake with an upstream is logged as. A
/// certificate marked as a CA (`basicConstraints CA:TRUE`, which `openssl
/// req -x509` writes by default) is refused as a server's by webpki; that
/// is the usual first mistake with an internal DNS-over-TLS server, so the
/// message says what to do.
fn tls_failure(error: &std::io::Error) -> String {
    let ca_as_server = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| match e {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                )
            }
            _ => false,
        });
    if ca_as_server {
        format!(
            "TLS: {error}: the upstream presents a CA certificate as its own; give it a \
             certificate issued by a CA (not marked CA:TRUE) and put that CA in upstream.tls_ca"
        )
    } else {
        format!("TLS: {error}")
    }
}

/// One query and its answer over a stream, with the two-byte length
/// framing of RFC 1035 4.2.2.
async fn exchange<S>(stream: &mut S, id: u16, query: &[u8]) -> Result<Vec<u8>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let len = u16::try_from(query.len()).map_err(|_| "query too long")?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    loop {
        let len = stream.read_u16().await.map_err(|e| e.to_string())?;
        let mut answer = vec![0u8; usize::from(len)];
        stream
            .read_exact(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        if wire::response_header(&answer).is_some_and(|(got, _)| got == id) {
            return Ok(answer);
        }
    }
}

/// The answer records on the chain from the question's `name`: its own
/// records of the question's type and class, the name its CNAME points to
/// and that name's, and so on, plus a DNAME owned by a parent of a name on
/// the chain. The rest (a record for a name nobody asked about, or of
/// another type or class) is not passed on or cached: it is how a bad or
/// spoofed upstream would slip an address past the policy. Returns the
/// records kept, in their order, and the count dropped; a CNAME chain
/// that loops is an error, as no answer ends it.
fn on_the_chain(
    answers: Vec<Record>,
    name: &str,
    qtype: u16,
    qclass: u16,
) -> Result<(Vec<Record>, usize), String> {
    let mut on_chain = vec![false; answers.len()];
    let mut owners = vec![name.to_owned()];
    // Each pass adds at least one record or stops, so this ends.
    loop {
        let mut added = false;
        for (record, kept) in answers.iter().zip(on_chain.iter_mut()) {
            if *kept {
                continue;
            }
            let rtype = record.record_type();
            // ANY (255) asks for every type the name has.
            let wanted = qtype == 255
                || u16::from(rtype) == qtype
                || matches!(rtype, RecordType::CNAME | RecordType::DNAME);
            if !wanted || u16::from(record.dns_class) != qclass {
                continue;
            }
            let owner = wire::name_from_labels(record.name.iter());
            let belongs = if rtype == RecordType::DNAME {
                let suffix = format!(".{owner}");
                owners.iter().any(|o| o.ends_with(&suffix))
            } else {
                owners.contains(&owner)
            };
            if !belongs {
                continue;
            }
            if let RData::CNAME(target) = &record.data {
                let target = wire::name_from_labels(target.0.iter());
                // A target already on the chain closes a loop.
                if owners.contains(&target) {
                    return Err(format!("CNAME loop at `{target}`"));
                }
                owners.push(target);
            }
            *kept = true;
            added = true;
        }
        if !added {
            break;
        }
    }
    let dropped = on_chain.iter().filter(|kept| !**kept).count();
    let chain = answers
        .into_iter()
        .zip(on_chain)
        .filter_map(|(record, kept)| kept.then_some(record))
        .collect();
    Ok((chain, dropped))
}

/// Reads an upstream answer into a cache entry: checks it answers the
/// question, drops OPT and signatures, caps TTLs, notes CNAME targets and
/// addresses. NOERROR and NXDOMAIN are taken; other rcodes are failures.
pub fn entry_from_answer(
    bytes: &[u8],
    name: &str,
    qtype: u16,
    qclass: u16,
    limits: &CacheSection,
) -> Result<Entry, String> {
    let mut message = Message::from_vec(bytes).map_err(|e| format!("malformed answer: {e}"))?;
    let question_ok = message.queries.len() == 1
        && message.queries.first().is_some_and(|q| {
            u16::from(q.query_type()) == qtype
                && u16::from(q.query_class()) == qclass
                && wire::name_from_labels(q.name().iter()) == name
        });
    if !question_ok {
        return Err("the answer is for another question".into());
    }
    if message.metadata.truncation {
        return Err("truncated answer".into());
    }
    let rcode = u16::from(message.metadata.response_code);
    let rcode = match u8::try_from(rcode) {
        Ok(r @ (wire::RCODE_NOERROR | wire::RCODE_NXDOMAIN)) => r,
        _ => return Err(format!("rcode {}", message.metadata.response_code)),
    };
    message.edns = None;
    message.signature = None;
    message.metadata.id = 0;
    let answers = std::mem::take(&mut message.answers);
    let (chain, dropped) = on_the_chain(answers, name, qtype, qclass)?;
    // Of the other sections only the SOA of a negative answer is kept: an
    // NS or an address there (glue) would reach the client undecided.
    message
        .authorities
        .retain(|record| record.record_type() == RecordType::SOA);
    message.additionals.clear();
    if dropped > 0 {
        tracing::debug!(
            name,
            dropped,
            "answer records off the question's chain dropped"
        );
    }
    message.answers = chain;
    let negative = rcode == wire::RCODE_NXDOMAIN
        || !message.answers.iter().any(|r| {
            qtype == 255
                || u16::from(r.record_type()) == qtype
                || r.record_type() == RecordType::CNAME
        });
    let mut ttl = u32::MAX;
    let mut cnames = Vec::new();
    let mut answers = Vec::new();
    for record in &message.answers {
        ttl = ttl.min(record.ttl);
        match &record.data {
            RData::CNAME(target) => cnames.push(wire::name_from_labels(target.0.iter())),
            RData::A(a) => answers.push(IpAddr::V4(a.0)),
            RData::AAAA(a) => answers.push(IpAddr::V6(a.0)),
            _ => {}
        }
    }
    if negative {
        for record in &message.authorities {
            if let RData::SOA(soa) = &record.data {
                ttl = ttl.min(record.ttl.min(soa.minimum));
            }
        }
        if ttl == u32::MAX {
            ttl = limits.min_ttl;
        }
        ttl = ttl.min(limits.max_negative_ttl);
    }
    let ttl = ttl.clamp(limits.min_ttl, limits.max_ttl);
    for record in message
        .answers
        .iter_mut()
        .chain(message.authorities.iter_mut())
        .chain(message.additionals.iter_mut())
    {
        record.ttl = record.ttl.min(ttl).max(limits.min_ttl);
    }
    let wire_form = message
        .to_vec()
        .map_err(|e| format!("cannot write the answer: {e}"))?;
    let ttl_offsets = wire::ttl_offsets(&wire_form).ok_or("cannot walk the answer")?;
    Ok(Entry {
        wire: wire_form,
        ttl_offsets,
        stored: Instant::now(),
        ttl,
        rcode,
        cnames,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_specs() {
        assert!(matches!(parse_upstream("192.0.2.1"), Ok(Upstream::Plain(a)) if a.port() == 53));
        assert!(matches!(parse_upstream("[::1]:5300"), Ok(Upstream::Plain(a)) if a.port() == 5300));
        assert!(matches!(parse_upstream("::1"), Ok(Upstream::Plain(_))));
        assert!(matches!(
            parse_upstream("tls://192.0.2.1#dns.example"),
            Ok(Upstream::Tls { addr, .. }) if addr.port() == 853
        ));
        assert!(parse_upstream("tls://192.0.2.1").is_err());
        assert!(parse_upstream("dns.example").is_err());
        assert!(parse_upstream("192.0.2.1#name").is_err());
        // Regression (found by a hostile test): port 0 was taken.
        assert!(
            parse_upstream("192.0.2.1:0")
                .unwrap_err()
                .contains("port 0")
        );
    }

    #[test]
    fn a_ca_certificate_as_the_servers_is_explained() {
        let webpki_error = rustls::CertificateError::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        )));
        let error = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(webpki_error),
        );
        let message = tls_failure(&error);
        assert!(
            message.starts_with("TLS: invalid peer certificate"),
            "{message}"
        );
        assert!(
            message.contains("put that CA in upstream.tls_ca"),
            "{message}"
        );

        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            tls_failure(&other),
            "TLS: invalid peer certificate: UnknownIssuer"
        );
    }

    /// Regression: an upstream's answer was passed on whole, so a record
    /// for a name nobody asked about (an address a spoofer or a broken
    /// upstream adds) reached the client and the cache.
    #[test]
    fn only_records_on_the_questions_chain_are_kept() {
        use hickory_proto::op::{MessageType, OpCode, Query};
        use hickory_proto::rr::Name;
        use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, NULL, TXT};
        use hickory_proto::serialize::binary::BinEncodable;

        let n = |text: &str| Name::from_ascii(text).unwrap();
        let mut message = Message::new(7, MessageType::Response, OpCode::Query);
        message.add_query(Query::query(n("www.Example.com."), RecordType::A));
        for record in [
            // Out of order: the target's address before the CNAME.
            Record::from_rdata(n("cdn.example.net."), 60, RData::A(A::new(192, 0, 2, 2))),
            Record::from_rdata(n("bank.example."), 60, RData::A(A::new(203, 0, 113, 6))),
            Record::from_rdata(
                n("www.example.com."),
                60,
                RData::CNAME(CNAME(n("edge.cdn.example.net."))),
            ),
            Record::from_rdata(
                n("cdn.example.net."),
                60,
                // hickory has no DNAME type: its rdata, the target name.
                RData::Unknown {
                    code: RecordType::DNAME,
                    rdata: NULL::with(n("cdn.provider.test.").to_bytes().unwrap()),
                },
            ),
            Record::from_rdata(
                n("edge.cdn.example.net."),
                60,
                RData::CNAME(CNAME(n("edge.cdn.provider.test."))),
            ),
            Record::from_rdata(
                n("EDGE.cdn.provider.test."),
                60,
                RData::A(A::new(192, 0, 2, 1)),
            ),
            // On the chain, but not of the question's type or class.
            Record::from_rdata(
                n("edge.cdn.provider.test."),
                60,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            ),
            Record::from_rdata(
                n("www.example.com."),
                60,
                RData::TXT(TXT::new(vec!["not an address".into()])),
            ),
            {
                let mut chaos =
                    Record::from_rdata(n("www.example.com."), 60, RData::A(A::new(6, 6, 6, 6)));
                chaos.dns_class = hickory_proto::rr::DNSClass::CH;
                chaos
            },
        ] {
            message.add_answer(record);
        }
        // An NS and its glue: not on the chain, never decided.
        message.add_authority(Record::from_rdata(
            n("example.com."),
            60,
            RData::NS(NS(n("evil.bad.example."))),
        ));
        message.add_additional(Record::from_rdata(
            n("evil.bad.example."),
            60,
            RData::A(A::new(6, 6, 6, 6)),
        ));
        let bytes = message.to_vec().unwrap();
        let entry =
            entry_from_answer(&bytes, "www.example.com", 1, 1, &CacheSection::default()).unwrap();
        assert_eq!(
            entry.answers,
            vec![IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1))]
        );
        assert_eq!(
            entry.cnames,
            vec![
                "edge.cdn.example.net".to_owned(),
                "edge.cdn.provider.test".to_owned()
            ]
        );
        let passed_on = Message::from_vec(&entry.wire).unwrap();
        let owners: Vec<String> = passed_on
            .answers
            .iter()
            .map(|r| r.name.to_ascii())
            .collect();
        assert_eq!(
            owners,
            [
                "www.example.com.",
                "cdn.example.net.",
                "edge.cdn.example.net.",
                "EDGE.cdn.provider.test."
            ]
        );
        assert!(passed_on.authorities.is_empty() && passed_on.additionals.is_empty());

        // Regression (found by a hostile test): for ANY, every record was
        // dropped as of another type, and the client got an empty NOERROR.
        let mut message = Message::new(8, MessageType::Response, OpCode::Query);
        message.add_query(Query::query(n("host.example."), RecordType::ANY));
        message.add_answer(Record::from_rdata(
            n("host.example."),
            60,
            RData::A(A::new(192, 0, 2, 9)),
        ));
        message.add_answer(Record::from_rdata(
            n("host.example."),
            60,
            RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
        ));
        let bytes = message.to_vec().unwrap();
        let entry =
            entry_from_answer(&bytes, "host.example", 255, 1, &CacheSection::default()).unwrap();
        assert_eq!(Message::from_vec(&entry.wire).unwrap().answers.len(), 2);
        assert_eq!(
            entry.answers,
            vec![IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9))]
        );
    }

    /// Regression: an upstream's CNAME loop (a -> b -> a) was passed on as
    /// NOERROR; it is a failed upstream (SERVFAIL unless another answers).
    /// Regression: a `tls_ca` file with no certificate (a key, by
    /// mistake) was taken, and every DoT upstream then failed.
    #[test]
    fn a_tls_ca_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = Upstreams::new(&[], Duration::from_secs(1), Some(&path), 1232).unwrap_err();
        assert!(error.contains("has no PEM certificate"), "{error}");
    }

    #[test]
    fn a_cname_loop_is_a_failed_answer() {
        use hickory_proto::op::{MessageType, OpCode, Query};
        use hickory_proto::rr::Name;
        use hickory_proto::rr::rdata::CNAME;

        let n = |text: &str| Name::from_ascii(text).unwrap();
        let mut message = Message::new(7, MessageType::Response, OpCode::Query);
        message.add_query(Query::query(n("a.example."), RecordType::A));
        message.add_answer(Record::from_rdata(
            n("a.example."),
            60,
            RData::CNAME(CNAME(n("b.example."))),
        ));
        message.add_answer(Record::from_rdata(
            n("b.example."),
            60,
            RData::CNAME(CNAME(n("A.example."))),
        ));
        let bytes = message.to_vec().unwrap();
        let error =
            entry_from_answer(&bytes, "a.example", 1, 1, &CacheSection::default()).unwrap_err();
        assert_eq!(error, "CNAME loop at `a.example`");
    }

    #[test]
    fn only_responses_are_taken_as_answers() {
        let mut packet = vec![0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(wire::response_header(&packet), Some((0x1234, 0x8180)));
        // QR clear: a query, perhaps ours reflected back.
        packet[2] = 0x01;
        assert_eq!(wire::response_header(&packet), None);
        assert_eq!(wire::response_header(&packet[..11]), None);
    }

    /// Regression: the answer's question was compared as hickory's text
    /// (`a\.b`, octal escapes) with Ward's (`a\046b`), so every name with a
    /// byte outside letters, digits, `-` and `_` got SERVFAIL.
    #[test]
    fn answers_to_names_with_odd_bytes_are_taken() {
        use hickory_proto::op::{MessageType, OpCode, Query};
        use hickory_proto::rr::rdata::CNAME;
        use hickory_proto::rr::{Name, Record};

        let asked = Name::from_labels(vec![&b"A.b"[..], b"c d\xff", b"Example"]).unwrap();
        let target = Name::from_labels(vec![&b"T*"[..], b"example"]).unwrap();
        let mut message = Message::new(7, MessageType::Response, OpCode::Query);
        message.add_query(Query::query(asked.clone(), RecordType::A));
        message.add_answer(Record::from_rdata(asked, 60, RData::CNAME(CNAME(target))));
        let bytes = message.to_vec().unwrap();

        let ours = "a\\046b.c\\032d\\255.example";
        let entry = entry_from_answer(&bytes, ours, 1, 1, &CacheSection::default()).unwrap();
        assert_eq!(entry.rcode, wire::RCODE_NOERROR);
        assert_eq!(entry.cnames, vec!["t\\042.example".to_owned()]);
        // Another name is still refused.
        let other = entry_from_answer(&bytes, "a.b.c.example", 1, 1, &CacheSection::default());
        assert!(other.is_err());
    }
}
