//! The front ends and the process around them: UDP on dedicated threads
//! (the hot path: receive, decide, answer from policy or cache, with no
//! async machinery in between), TCP and DNS over TLS on tokio, upstream
//! questions on tokio, metrics, reload on SIGHUP and on file changes, and
//! graceful shutdown on SIGTERM or SIGINT.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use ward_runtime::host::Host;
use ward_runtime::host::config::HostConfig;

use crate::bundle::{Bundle, ModuleBuilder};
use crate::config::Config;
use crate::gateway::{ConfigSource, Gateway, Settings, Step};
use crate::log::DecisionLog;
use crate::metrics::{Dropped, Metrics, Transport};
use crate::slots::Slots;

/// How often a UDP thread looks up from its socket to see whether to stop.
const UDP_POLL: Duration = Duration::from_millis(200);
/// Descriptors Ward may hold at once: one per waiting upstream question
/// and per connection, and a margin for listeners, files and the runtime.
fn open_files_needed(config: &Config) -> u64 {
    let held = config.upstream.max_in_flight + config.serve.max_connections;
    u64::try_from(held).unwrap_or(u64::MAX).saturating_add(256)
}

/// Raises the soft limit on open files to the hard limit. The soft limit
/// is often 1,024 (systemd's default), below what the defaults need: under
/// a flood of names no upstream answers, Ward would run out of descriptors
/// and could accept, answer and reload nothing. Warns when even the hard
/// limit is below `needed`.
fn raise_open_file_limit(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(soft) = limit.current else {
        return; // unlimited
    };
    // An unlimited hard limit cannot be the soft one for open files.
    let wanted = limit.maximum.unwrap_or(needed.max(soft));
    let soft = if wanted > soft {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => wanted,
            Err(error) => {
                tracing::warn!(%error, "cannot raise the limit on open files");
                soft
            }
        }
    } else {
        soft
    };
    if soft < needed {
        tracing::warn!(
            limit = soft,
            needed,
            "open files are limited below what upstream.max_in_flight and \
             serve.max_connections need: raise the limit (LimitNOFILE=) or lower them"
        );
    }
}

/// The largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// How often watched files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("cannot start: {0}")]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("cannot listen on {addr} ({proto}): {message}")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        message: String,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Runtime(String),
}

/// A running `ward serve`.
pub struct Server {
    gateway: Arc<Gateway>,
    runtime: tokio::runtime::Runtime,
    shutdown: watch::Sender<bool>,
    stop: Arc<AtomicBool>,
    udp_threads: Vec<JoinHandle<()>>,
    pub udp_addrs: Vec<SocketAddr>,
    pub tcp_addrs: Vec<SocketAddr>,
    pub tls_addrs: Vec<SocketAddr>,
    pub https_addrs: Vec<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    /// Whether to watch the inputs for changes, and the configuration
    /// file to watch with them.
    watch: Option<Option<PathBuf>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("udp", &self.udp_addrs)
            .field("tcp", &self.tcp_addrs)
            .field("tls", &self.tls_addrs)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the bundle, binds every address and starts serving.
    pub fn start(
        config: &Config,
        source: ConfigSource,
        builder: Arc<ModuleBuilder>,
    ) -> Result<Server, ServeError> {
        config
            .validate()
            .map_err(|e| ServeError::Config(e.to_string()))?;
        raise_open_file_limit(open_files_needed(config));
        let host =
            Host::new(HostConfig::default()).map_err(|e| ServeError::Runtime(e.to_string()))?;
        let settings = Settings::from_config(config).map_err(ServeError::Config)?;
        let log = DecisionLog::open(&config.log).map_err(|e| ServeError::Config(e.to_string()))?;
        let metrics = Arc::new(Metrics::new());
        let gateway = Arc::new(Gateway::new(
            Arc::new(host),
            config,
            source.clone(),
            builder,
            settings,
            log,
            metrics,
        )?);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ward-serve")
            .enable_all()
            .build()
            .map_err(|e| ServeError::Runtime(e.to_string()))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stop = Arc::new(AtomicBool::new(false));

        let mut udp_addrs = Vec::new();
        let mut udp_sockets = Vec::new();
        let mut plain_tcp = Vec::new();
        for addr in &config.serve.listen {
            let (socket, listener) = bind_plain(*addr)?;
            let bound = socket.local_addr().unwrap_or(*addr);
            socket
                .set_read_timeout(Some(UDP_POLL))
                .map_err(|e| ServeError::Runtime(e.to_string()))?;
            udp_addrs.push(bound);
            udp_sockets.push(Arc::new(socket));
            plain_tcp.push((bound, listener));
        }

        let slots = Slots::new(
            config.serve.max_connections,
            config.serve.max_connections_per_client,
        );
        let idle = Duration::from_secs(config.serve.tcp_idle_seconds.max(1));
        let mut tcp_addrs = Vec::new();
        for (addr, listener) in plain_tcp {
            let listener = tokio_listener(&runtime, listener, addr)?;
            tcp_addrs.push(listener.local_addr().unwrap_or(addr));
            runtime.spawn(accept_loop(
                listener,
                None,
                Arc::clone(&gateway),
                Arc::clone(&slots),
                idle,
                shutdown_rx.clone(),
            ));
        }

        let mut tls_addrs = Vec::new();
        if !config.serve.tls_listen.is_empty() {
            let acceptor = tls_acceptor(config, &[])?;
            for addr in &config.serve.tls_listen {
                let listener = bind_tcp(&runtime, *addr)?;
                tls_addrs.push(listener.local_addr().unwrap_or(*addr));
                runtime.spawn(accept_loop(
                    listener,
                    Some(acceptor.clone()),
                    Arc::clone(&gateway),
                    Arc::clone(&slots),
                    idle,
                    shutdown_rx.clone(),
                ));
            }
        }

        let mut https_addrs = Vec::new();
        if !config.serve.https_listen.is_empty() {
            let acceptor = tls_acceptor(config, &[b"h2", b"http/1.1"])?;
            for addr in &config.serve.https_listen {
                let listener = bind_tcp(&runtime, *addr)?;
                https_addrs.push(listener.local_addr().unwrap_or(*addr));
                runtime.spawn(crate::doh::accept_loop(
                    listener,
                    acceptor.clone(),
                    Arc::clone(&gateway),
                    Arc::clone(&slots),
                    idle,
                    shutdown_rx.clone(),
                ));
            }
        }

        let mut metrics_addr = None;
        if let Some(addr) = config.metrics.listen {
            let listener = bind_tcp(&runtime, addr)?;
            metrics_addr = Some(listener.local_addr().unwrap_or(addr));
            let metrics = Arc::clone(&gateway.metrics);
            let rx = shutdown_rx.clone();
            runtime.spawn(async move {
                if let Err(error) = crate::metrics::serve_metrics_on(listener, metrics, rx).await {
                    tracing::error!(%error, "the metrics endpoint stopped");
                }
            });
        }

        // Everything is bound: only now do the UDP threads start, so that a
        // start that fails leaves nothing serving (the runtime's tasks end
        // when it is dropped; threads would not).
        let mut udp_threads = Vec::new();
        for socket in &udp_sockets {
            for n in 0..config.serve.udp_threads {
                let socket = Arc::clone(socket);
                let gateway = Arc::clone(&gateway);
                let thread_stop = Arc::clone(&stop);
                let handle = runtime.handle().clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("ward-udp-{n}"))
                    .spawn(move || udp_loop(&socket, &gateway, &thread_stop, &handle));
                match spawned {
                    Ok(thread) => udp_threads.push(thread),
                    Err(error) => {
                        stop.store(true, Ordering::Relaxed);
                        for thread in udp_threads {
                            let _ = thread.join();
                        }
                        return Err(ServeError::Runtime(error.to_string()));
                    }
                }
            }
        }

        let watch = config.serve.watch.then(|| source.file.clone());
        Ok(Server {
            gateway,
            runtime,
            shutdown,
            stop,
            udp_threads,
            udp_addrs,
            tcp_addrs,
            tls_addrs,
            https_addrs,
            metrics_addr,
            watch,
        })
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Serves until SIGTERM or SIGINT; reloads on SIGHUP and when a
    /// watched file changes.
    pub fn run_until_signalled(self) -> Result<(), ServeError> {
        let gateway = Arc::clone(&self.gateway);
        let watch = self.watch.clone();
        let result = self.runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
            let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
            let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
            let mut tick = tokio::time::interval(WATCH_EVERY);
            // The inputs are those of the serving bundle, and directories
            // are listed anew, so they are asked for at each check.
            let files = |gateway: &Gateway| match &watch {
                Some(config_file) => watched_files(config_file.as_deref(), &gateway.bundle()),
                None => Vec::new(),
            };
            let mut seen = fingerprint(&files(&gateway));
            let mut changed_at: Option<Vec<Option<(SystemTime, u64)>>> = None;
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP: reloading");
                        reload_off_thread(&gateway).await;
                        seen = fingerprint(&files(&gateway));
                        changed_at = None;
                    }
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = tick.tick(), if watch.is_some() => {
                        let now = fingerprint(&files(&gateway));
                        // Reload once a change has stayed put for a tick, so
                        // a file caught half-written is not loaded.
                        match &changed_at {
                            Some(pending) if *pending == now => {
                                tracing::info!("a watched file changed: reloading");
                                reload_off_thread(&gateway).await;
                                seen = fingerprint(&files(&gateway));
                                changed_at = None;
                            }
                            _ if now != seen => changed_at = Some(now),
                            _ => changed_at = None,
                        }
                    }
                }
            }
            Ok::<(), String>(())
        });
        tracing::info!("shutting down");
        self.shutdown();
        result.map_err(ServeError::Runtime)
    }

    /// Stops serving: listeners close, UDP threads end, queued log lines
    /// are written.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        for thread in self.udp_threads {
            let _ = thread.join();
        }
        self.gateway.flush_log();
        self.runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

async fn reload_off_thread(gateway: &Arc<Gateway>) {
    let gateway = Arc::clone(gateway);
    let _ = tokio::task::spawn_blocking(move || gateway.reload()).await;
}

fn bind_error(addr: SocketAddr, proto: &'static str, error: &std::io::Error) -> ServeError {
    ServeError::Bind {
        addr,
        proto,
        message: error.to_string(),
    }
}

/// Ports tried for plain DNS on port 0 before giving up.
const PORT_TRIES: usize = 16;

/// Binds plain DNS on `addr`: UDP and TCP on one port. For port 0 the OS
/// picks a free UDP port, but the TCP port of the same number may be taken
/// (by a listener, or by the local end of any connection), so then the pair
/// is bound again on another port.
fn bind_plain(addr: SocketAddr) -> Result<(UdpSocket, std::net::TcpListener), ServeError> {
    let mut tries = 1;
    loop {
        let socket = UdpSocket::bind(addr).map_err(|e| bind_error(addr, "udp", &e))?;
        let bound = socket.local_addr().unwrap_or(addr);
        match std::net::TcpListener::bind(bound) {
            Ok(listener) => return Ok((socket, listener)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && tries < PORT_TRIES =>
            {
                tries += 1;
            }
            Err(e) => return Err(bind_error(bound, "tcp", &e)),
        }
    }
}

fn bind_tcp(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
) -> Result<TcpListener, ServeError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| bind_error(addr, "tcp", &e))?;
    tokio_listener(runtime, listener, addr)
}

fn tokio_listener(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    addr: SocketAddr,
) -> Result<TcpListener, ServeError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| bind_error(addr, "tcp", &e))?;
    let _guard = runtime.enter();
    TcpListener::from_std(listener).map_err(|e| bind_error(addr, "tcp", &e))
}

fn udp_loop(
    socket: &Arc<UdpSocket>,
    gateway: &Arc<Gateway>,
    stop: &AtomicBool,
    runtime: &tokio::runtime::Handle,
) {
    let mut buf = vec![0u8; 65_535];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(error) => {
                // ICMP errors from earlier sends surface here on some
                // systems; they are not fatal to the socket.
                tracing::debug!(%error, "udp receive");
                continue;
            }
        };
        let packet = buf.get(..len).unwrap_or_default();
        match gateway.begin(packet, peer.ip(), Transport::Udp) {
            Step::Reply(reply) => send_udp(socket, &reply, peer),
            Step::Drop(_) => {}
            Step::Resolve(pending) => {
                let socket = Arc::clone(socket);
                let gateway = Arc::clone(gateway);
                runtime.spawn(async move {
                    let reply = gateway.finish(*pending).await;
                    send_udp(&socket, &reply, peer);
                });
            }
        }
    }
}

fn send_udp(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(reply, peer) {
        tracing::debug!(%error, %peer, "udp send");
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
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
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "accept");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(slot) = slots.admit(&gateway, peer.ip()) else {
            continue;
        };
        let gateway = Arc::clone(&gateway);
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            match tls {
                None => serve_stream(stream, peer, Transport::Tcp, &gateway, idle, shutdown).await,
                Some(acceptor) => match tokio::time::timeout(idle, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        serve_stream(stream, peer, Transport::Tls, &gateway, idle, shutdown).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
}

/// Queries over one TCP or TLS connection, answered in order, until the
/// client closes, idles out, or sends something that is not framed DNS.
async fn serve_stream<S>(
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
    gateway: &Gateway,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(512);
    loop {
        let len = tokio::select! {
            len = tokio::time::timeout(idle, stream.read_u16()) => match len {
                Ok(Ok(len)) => usize::from(len),
                _ => return,
            },
            _ = shutdown.changed() => return,
        };
        buf.resize(len, 0);
        match tokio::time::timeout(idle, stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let reply = match gateway.begin(&buf, peer.ip(), transport) {
            Step::Reply(reply) => reply,
            Step::Resolve(pending) => gateway.finish(*pending).await,
            // A framed message Ward does not answer (a response, a stub
            // shorter than a header) is skipped: the framing still holds,
            // and the queries after it are answered.
            Step::Drop(Dropped::Malformed) => continue,
            Step::Drop(Dropped::ClientRefused | Dropped::RateLimited) => return,
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// The TLS acceptor for DNS over TLS (no ALPN: a client offering a
/// protocol the server does not list would be refused) or DNS over HTTPS
/// (`h2`, `http/1.1`).
fn tls_acceptor(config: &Config, alpn: &[&[u8]]) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&config.serve.tls_cert, &config.serve.tls_key) else {
        return Err(ServeError::Tls(
            "serve.tls_listen needs serve.tls_cert and serve.tls_key".into(),
        ));
    };
    let read = |path: &Path, what: &str| {
        ward_runtime::files::read_capped(path, MAX_PEM_BYTES)
            .map_err(|e| ServeError::Tls(format!("{what} `{}`: {e}", path.display())))
    };
    let cert_pem = read(cert, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServeError::Tls(format!("certificate `{}`: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "certificate `{}` has no certificate in it",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key, "key")?)
        .map_err(|e| ServeError::Tls(format!("key `{}`: {e}", key.display())))?;
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ServeError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| ServeError::Tls(e.to_string()))?;
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// The files whose change triggers a reload: the configuration file and
/// the serving bundle's inputs (policy paths with everything under them,
/// lists, zones and the files they include, inventories).
fn watched_files(config_file: Option<&Path>, bundle: &Bundle) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = config_file.into_iter().map(Path::to_owned).collect();
    for input in &bundle.inputs {
        files.push(input.clone());
        list_under(input, 0, &mut files);
    }
    files
}

/// Most directory levels below a watched path that are listed.
const MAX_WATCH_DEPTH: usize = 8;
/// Most files watched.
const MAX_WATCHED: usize = 10_000;

/// Adds what is under `dir` (nothing when it is not a directory), sorted so
/// that one check compares with the next entry by entry.
fn list_under(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    if depth >= MAX_WATCH_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
    entries.sort();
    for entry in entries {
        if files.len() >= MAX_WATCHED {
            return;
        }
        files.push(entry.clone());
        list_under(&entry, depth + 1, files);
    }
}

fn fingerprint(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with port 0, the TCP port of the number the OS picked
    /// for UDP was bound without a second try, so `ward serve` on port 0
    /// failed to start whenever that TCP port was in use (about one start
    /// in five while other tests made connections). With hundreds of TCP
    /// ports taken, a start without the retry fails within these tries
    /// almost surely; with it, every one succeeds.
    #[test]
    fn port_zero_finds_a_port_free_for_udp_and_tcp() {
        let taken: Vec<std::net::TcpListener> = (0..400)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        for _ in 0..300 {
            let (socket, listener) = bind_plain(any).unwrap();
            let udp = socket.local_addr().unwrap();
            assert_ne!(udp.port(), 0);
            assert_eq!(listener.local_addr().unwrap(), udp);
        }
        drop(taken);
    }

    /// Regression: only the first level of a policy directory was
    /// watched, though the loader reads its subdirectories too, and the
    /// list was made once at start, so a policy file added later was not
    /// watched at all.
    #[test]
    fn everything_under_a_watched_directory_is_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        for file in ["a.ward", "b/x.ward", "b/c/y.ward"] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let mut files = Vec::new();
        list_under(root, 0, &mut files);
        let names: Vec<PathBuf> = ["a.ward", "b", "b/c", "b/c/y.ward", "b/x.ward"]
            .iter()
            .map(|name| root.join(name))
            .collect();
        assert_eq!(files, names);

        // A file is not a directory: nothing under it.
        let mut files = Vec::new();
        list_under(&root.join("a.ward"), 0, &mut files);
        assert!(files.is_empty());

        // Nesting past the limit (a symlink loop, say) stops there.
        std::os::unix::fs::symlink(root, root.join("b/c/loop")).unwrap();
        let mut files = Vec::new();
        list_under(root, 0, &mut files);
        let depth = |f: &PathBuf| f.strip_prefix(root).unwrap().components().count();
        assert_eq!(files.iter().map(depth).max(), Some(MAX_WATCH_DEPTH));
        assert!(files.contains(&root.join("b/c/loop/b/c/loop")));
    }

    /// Regression (found by a hostile test): with the common soft limit of
    /// 1,024 open files, a flood of names no upstream answers took every
    /// descriptor although max_in_flight held (1,024 questions plus
    /// listeners), and Ward could accept, answer and reload nothing.
    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        let Some(hard) = before.maximum else {
            return; // an unlimited hard limit: nothing to raise to
        };
        // One below the hard limit: the limit is the whole process's, and
        // other tests running beside this one open hundreds of sockets.
        let low = hard.saturating_sub(1);
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(low),
                maximum: Some(hard),
            },
        )
        .unwrap();
        raise_open_file_limit(2304);
        assert_eq!(getrlimit(Resource::Nofile).current, Some(hard));
    }

    #[test]
    fn a_taken_fixed_port_is_an_error_not_a_retry() {
        let (socket, listener) = bind_plain(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = socket.local_addr().unwrap();
        drop(socket);
        let error = bind_plain(addr).unwrap_err();
        assert!(
            matches!(error, ServeError::Bind { proto: "tcp", addr: a, .. } if a == addr),
            "{error}"
        );
        drop(listener);
    }
}
