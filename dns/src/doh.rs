//! DNS over HTTPS (RFC 8484): `GET /dns-query?dns=BASE64URL` and `POST
//! /dns-query` with an `application/dns-message` body, over HTTP/2 or
//! HTTP/1.1 on TLS (hyper), answered by the same decision path as every
//! other transport.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::gateway::{Gateway, Step};
use crate::metrics::{Dropped, Transport};

const PATH: &str = "/dns-query";
const MESSAGE_TYPE: &str = "application/dns-message";
/// A DNS message is at most 65,535 bytes.
const MAX_MESSAGE: usize = 65_535;

/// Accepts TLS connections and serves DNS over HTTPS on them until
/// `shutdown` fires.
pub async fn accept_loop(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    gateway: Arc<Gateway>,
    connections: Arc<Semaphore>,
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
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::warn!(%peer, "too many connections; closing this one");
            continue;
        };
        let gateway = Arc::clone(&gateway);
        let tls = tls.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(idle, tls.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                _ => return,
            };
            let activity = Arc::new(Activity::new());
            let stream = Watched {
                inner: stream,
                activity: Arc::clone(&activity),
            };
            let in_service = Arc::clone(&activity);
            let service = hyper::service::service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                let activity = Arc::clone(&in_service);
                async move {
                    activity.in_flight.fetch_add(1, Ordering::Relaxed);
                    let response = answer(&gateway, peer, request).await;
                    activity.in_flight.fetch_sub(1, Ordering::Relaxed);
                    activity.touch();
                    Ok::<_, Infallible>(response)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // A connection with no bytes moving and no request in hand for
            // `idle` is closed (HTTP/2 with GOAWAY), as idle TCP and TLS
            // connections are: otherwise a few idle clients would hold
            // every `max_connections` slot.
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

/// When bytes last moved on a connection, and the requests it has in hand.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last read or write.
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

/// A stream that tells its `Activity` whenever bytes move.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

fn with_allow(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// The DNS query in a request, or the HTTP error to answer with.
async fn query_of(request: Request<Incoming>) -> Result<Vec<u8>, Response<Full<Bytes>>> {
    if request.uri().path() != PATH {
        return Err(status(StatusCode::NOT_FOUND, "not found\n"));
    }
    match *request.method() {
        Method::GET => {
            let param = request
                .uri()
                .query()
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| pair.strip_prefix("dns="));
            let Some(encoded) = param else {
                return Err(status(StatusCode::BAD_REQUEST, "no dns parameter\n"));
            };
            let encoded = encoded.trim_end_matches('=');
            data_encoding::BASE64URL_NOPAD
                .decode(encoded.as_bytes())
                .ok()
                .filter(|q| q.len() <= MAX_MESSAGE)
                .ok_or_else(|| status(StatusCode::BAD_REQUEST, "dns is not base64url\n"))
        }
        Method::POST => {
            let typed = request
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(MESSAGE_TYPE));
            if !typed {
                return Err(status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected application/dns-message\n",
                ));
            }
            Limited::new(request.into_body(), MAX_MESSAGE)
                .collect()
                .await
                .map(|body| body.to_bytes().to_vec())
                .map_err(|_| status(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"))
        }
        // HEAD gets no body: over HTTP/2 one is a protocol error.
        Method::HEAD => Err(with_allow(status(StatusCode::METHOD_NOT_ALLOWED, ""))),
        _ => Err(with_allow(status(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET or POST\n",
        ))),
    }
}

async fn answer(
    gateway: &Gateway,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let query = match query_of(request).await {
        Ok(query) => query,
        Err(response) => return response,
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
