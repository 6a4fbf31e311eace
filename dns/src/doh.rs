//! DNS over HTTPS (RFC 8484): `GET /dns-query?dns=BASE64URL` and `POST
//! /dns-query` with an `application/dns-message` body, over HTTP/2 or
//! HTTP/1.1 on TLS (hyper), answered by the same decision path as every
//! other transport.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gateway::{Gateway, Step};
use crate::metrics::{Dropped, Transport};
use crate::slots::Slots;

const PATH: &str = "/dns-query";
const MESSAGE_TYPE: &str = "application/dns-message";
/// A DNS message is at most 65,535 bytes.
const MAX_MESSAGE: usize = 65_535;
/// A body over `MAX_MESSAGE` is read on, and dropped, up to this much, so
/// that its 413 reaches an HTTP/2 client; past it the stream is reset.
const MAX_DRAINED: usize = 1024 * 1024;

/// Accepts TLS connections and serves DNS over HTTPS on them until
/// `shutdown` fires.
pub async fn accept_loop(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    gateway: Arc<Gateway>,
    slots: Arc<Slots>,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Some(slot) = slots.admit(&gateway, peer.ip()) else {
            continue;
        };
        let gateway = Arc::clone(&gateway);
        let tls = tls.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let stream = match tokio::time::timeout(idle, tls.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                _ => return,
            };
            let activity = Arc::new(Activity::new());
            let in_service = Arc::clone(&activity);
            let service = hyper::service::service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                let activity = Arc::clone(&in_service);
                async move {
                    activity.touch();
                    activity.in_flight.fetch_add(1, Ordering::Relaxed);
                    let response = answer(&gateway, peer, request, idle).await;
                    activity.in_flight.fetch_sub(1, Ordering::Relaxed);
                    activity.touch();
                    Ok::<_, Infallible>(response)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // A connection with no request started or ended, and none in
            // hand, for `idle` is closed (HTTP/2 with GOAWAY), as idle TCP
            // and TLS connections are: otherwise clients that drip headers
            // or only PING would hold every `max_connections` slot.
            let mut tick = tokio::time::interval((idle / 4).max(Duration::from_millis(100)));
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "DNS over HTTPS connection");
                        }
                        return;
                    }
                    _ = tick.tick() => {
                        if activity.idle_for() >= idle && activity.in_flight.load(Ordering::Relaxed) == 0 {
                            tracing::debug!(%peer, "DNS over HTTPS connection idle; closing it");
                            break;
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), connection).await;
        });
    }
}

/// When a request last started or ended on a connection, and the
/// requests it has in hand. Bytes moving are not activity: a client that
/// drips a request's headers a byte at a time, or keeps the connection
/// alive with HTTP/2 PINGs and asks nothing, is idle.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last request's start or end.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_ms.load(Ordering::Relaxed)),
        )
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

/// Why a request gets an HTTP error instead of a DNS answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NotFound,
    NoParameter,
    NotBase64,
    NotTyped,
    /// HEAD gets no body: over HTTP/2 one is a protocol error.
    Head,
    OtherMethod,
    TooLarge,
    Unreadable,
}

impl Refusal {
    fn response(self) -> Response<Full<Bytes>> {
        let (code, text) = match self {
            Refusal::NotFound => (StatusCode::NOT_FOUND, "not found\n"),
            Refusal::NoParameter => (StatusCode::BAD_REQUEST, "no dns parameter\n"),
            Refusal::NotBase64 => (StatusCode::BAD_REQUEST, "dns is not base64url\n"),
            Refusal::NotTyped => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/dns-message\n",
            ),
            Refusal::Head => (StatusCode::METHOD_NOT_ALLOWED, ""),
            Refusal::OtherMethod => (StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n"),
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
            Refusal::Unreadable => (StatusCode::BAD_REQUEST, "the body could not be read\n"),
        };
        let mut response = status(code, text);
        if code == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

/// The DNS query a request's head and body carry.
fn query_of(
    head: &hyper::http::request::Parts,
    body: Result<Bytes, Refusal>,
) -> Result<Vec<u8>, Refusal> {
    if head.uri.path() != PATH {
        return Err(Refusal::NotFound);
    }
    match head.method {
        Method::GET => {
            let param = head
                .uri
                .query()
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| pair.strip_prefix("dns="));
            let encoded = param.ok_or(Refusal::NoParameter)?.trim_end_matches('=');
            data_encoding::BASE64URL_NOPAD
                .decode(encoded.as_bytes())
                .ok()
                .filter(|q| q.len() <= MAX_MESSAGE)
                .ok_or(Refusal::NotBase64)
        }
        Method::POST => {
            let typed = head
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(MESSAGE_TYPE));
            if !typed {
                return Err(Refusal::NotTyped);
            }
            body.map(|body| body.to_vec())
        }
        Method::HEAD => Err(Refusal::Head),
        _ => Err(Refusal::OtherMethod),
    }
}

/// Reads a request's body, keeping at most `MAX_MESSAGE` bytes; `None`
/// when it takes longer than `patience`. Every request's body is read to
/// its end before the request is answered, even one about to get an
/// error, a body too large included (up to `MAX_DRAINED`): answering first
/// makes HTTP/2 reset the stream, and clients such as curl then report the
/// reset instead of the status. The time limit keeps a client that never
/// finishes its body from holding the connection (and its
/// `max_connections` slot) open forever.
async fn read_body(mut body: Incoming, patience: Duration) -> Option<Result<Bytes, Refusal>> {
    let read = async {
        let mut kept = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| Refusal::Unreadable)?.into_data() else {
                continue; // trailers
            };
            seen = seen.saturating_add(data.len());
            if seen > MAX_DRAINED {
                return Err(Refusal::TooLarge);
            }
            if seen <= MAX_MESSAGE {
                kept.extend_from_slice(&data);
            }
        }
        if seen > MAX_MESSAGE {
            return Err(Refusal::TooLarge);
        }
        Ok(Bytes::from(kept))
    };
    tokio::time::timeout(patience, read).await.ok()
}

async fn answer(
    gateway: &Gateway,
    peer: SocketAddr,
    request: Request<Incoming>,
    patience: Duration,
) -> Response<Full<Bytes>> {
    let (head, body) = request.into_parts();
    // A body declared larger than is ever drained is refused before any
    // of it is waited for.
    let declared = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_DRAINED as u64) {
        return Refusal::TooLarge.response();
    }
    let Some(body) = read_body(body, patience).await else {
        return status(StatusCode::REQUEST_TIMEOUT, "the body was too slow\n");
    };
    let query = match query_of(&head, body) {
        Ok(query) => query,
        Err(refusal) => return refusal.response(),
    };
    let reply = match gateway.begin(&query, peer.ip(), Transport::Https) {
        Step::Reply(reply) => reply,
        Step::Resolve(pending) => gateway.finish(*pending).await,
        Step::Drop(Dropped::ClientRefused) => {
            return status(StatusCode::FORBIDDEN, "not answered\n");
        }
        Step::Drop(Dropped::RateLimited) => {
            return status(StatusCode::TOO_MANY_REQUESTS, "over the rate limit\n");
        }
        Step::Drop(Dropped::Malformed) => {
            return status(StatusCode::BAD_REQUEST, "not a DNS query\n");
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(reply)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(MESSAGE_TYPE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, uri: &str, content_type: Option<&str>) -> hyper::http::request::Parts {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        request.body(()).unwrap().into_parts().0
    }

    const QUERY: &[u8] = &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];

    #[test]
    fn a_query_comes_from_the_dns_parameter_or_a_typed_body() {
        let encoded = data_encoding::BASE64URL_NOPAD.encode(QUERY);
        let get = head("GET", &format!("/dns-query?ct&dns={encoded}"), None);
        assert_eq!(query_of(&get, Ok(Bytes::new())), Ok(QUERY.to_vec()));
        // Padding is tolerated, though RFC 8484 says to leave it out.
        let padded = head("GET", &format!("/dns-query?dns={encoded}="), None);
        assert_eq!(query_of(&padded, Ok(Bytes::new())), Ok(QUERY.to_vec()));
        let post = head("POST", "/dns-query", Some(" Application/DNS-Message "));
        assert_eq!(
            query_of(&post, Ok(Bytes::from_static(QUERY))),
            Ok(QUERY.to_vec())
        );
    }

    #[test]
    fn each_bad_request_gets_its_own_refusal() {
        let cases = [
            (head("GET", "/other?dns=AAAA", None), Refusal::NotFound),
            (head("GET", "/dns-query", None), Refusal::NoParameter),
            (head("GET", "/dns-query?dns=a*b", None), Refusal::NotBase64),
            (head("POST", "/dns-query", None), Refusal::NotTyped),
            (
                head("POST", "/dns-query", Some("text/plain")),
                Refusal::NotTyped,
            ),
            (head("HEAD", "/dns-query", None), Refusal::Head),
            (head("PUT", "/dns-query", None), Refusal::OtherMethod),
        ];
        for (request, refusal) in cases {
            assert_eq!(
                query_of(&request, Ok(Bytes::new())),
                Err(refusal),
                "{request:?}"
            );
        }
        // The path and the type are judged before the body's own trouble.
        let elsewhere = head("POST", "/other", Some(MESSAGE_TYPE));
        assert_eq!(
            query_of(&elsewhere, Err(Refusal::TooLarge)),
            Err(Refusal::NotFound)
        );
        let typed = head("POST", "/dns-query", Some(MESSAGE_TYPE));
        assert_eq!(
            query_of(&typed, Err(Refusal::TooLarge)),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn refusals_carry_their_status_and_405_says_what_is_allowed() {
        assert_eq!(
            Refusal::NotTyped.response().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            Refusal::TooLarge.response().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        for refusal in [Refusal::Head, Refusal::OtherMethod] {
            let response = refusal.response();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(response.headers()[ALLOW], "GET, POST");
        }
        assert_eq!(Refusal::NotFound.response().headers().get(ALLOW), None);
        let size = hyper::body::Body::size_hint(Refusal::Head.response().body()).exact();
        assert_eq!(size, Some(0));
    }
}
