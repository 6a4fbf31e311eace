//! The decision log: one JSON line per decision, written by a background
//! thread so that logging never blocks the DNS hot path.
//!
//! Each line holds `time` (RFC 3339, UTC, milliseconds), `client`,
//! `device_class`, `name`, `type`, `verdict`, `policy`, `rule`,
//! `categories`, `cname`, `latency_us`, `transport`, `response`, `source`,
//! and `would` and `module_error` when set.
//!
//! Client addresses and query names are personal data. Unless the operator
//! turns them on (`log.clients`, `log.names`), each is written as a keyed
//! hash: `h:` and the first 16 bytes, in hex, of HMAC-SHA256 over the text
//! that would have been written in clear (`10.1.2.3`, `pump.example.org`).
//! The key is `log.hash_key`, or a random one per start when that is unset,
//! so hashes link records without naming anyone, and an operator who holds
//! the key can still look for one address or name.
//!
//! The caller serializes the line and hands it to a bounded queue; when the
//! queue is full the line is dropped and counted ([`DecisionLog::dropped`]),
//! never waited for. The writer thread batches lines through a `BufWriter`,
//! writes them out whenever it catches up with the queue, and rotates by
//! size: `path` becomes `path.1`, `path.1` becomes `path.2`, and so on,
//! keeping `log.keep` rotated files (`keep = 0` truncates `path` instead). A
//! line is never split across two files. Write errors are counted
//! ([`DecisionLog::write_errors`]) and logged; serving goes on, and the
//! writer reopens the file, at most once a second.
//!
//! Rotation is written here rather than taken from a crate: the one we
//! looked at (`file-rotate`) either cuts a write at the byte limit, which
//! splits lines, or rotates only after the limit is passed.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use sha2::Sha256;

use crate::config::LogSection;

/// Lines waiting for the writer thread; past this, lines are dropped.
const QUEUE_CAPACITY: usize = 65_536;

/// Room reserved for one serialized line; typical lines fit.
const LINE_CAPACITY: usize = 384;

/// The writer's buffer: lines are written out in batches of up to this.
const WRITE_BUFFER: usize = 64 * 1024;

/// At most one warning (dropped lines) or error (writes) per interval.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// After a failed open, the writer waits this long before trying again.
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// After `path` could not be moved aside, the writer appends to it and
/// waits this long before rotating again.
const ROTATE_RETRY: Duration = Duration::from_secs(60);

/// The largest time written: the last millisecond of year 9999, past which
/// RFC 3339 has no four-digit year.
const LATEST_SECONDS: u64 = 253_402_300_799;

/// Bytes of the HMAC kept in a hash.
const HASH_BYTES: usize = 16;

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
    /// `log.hash_key` is set but empty: almost surely a mistake, and a
    /// known empty key would let anyone undo the hashes.
    #[error("`log.hash_key` is empty: remove it for a random key per start, or set a secret")]
    EmptyHashKey,
}

/// The log writer; records go to a background thread.
pub struct DecisionLog {
    /// `None` only while dropping.
    queue: Option<SyncSender<Message>>,
    /// `None` only while dropping.
    writer: Option<JoinHandle<()>>,
    privacy: Privacy,
    counts: Arc<Counts>,
    drop_reports: RateLimit,
}

impl fmt::Debug for DecisionLog {
    // Leaves out the hash key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionLog")
            .field("clients", &self.privacy.clients)
            .field("names", &self.privacy.names)
            .field("dropped", &self.dropped())
            .field("write_errors", &self.write_errors())
            .finish_non_exhaustive()
    }
}

/// What the writer thread is sent.
enum Message {
    /// One serialized line, newline included.
    Line(Vec<u8>),
    /// Write out everything before this, then answer.
    Flush(mpsc::Sender<()>),
}

/// Counters shared by the callers and the writer thread.
#[derive(Debug, Default)]
struct Counts {
    dropped: AtomicU64,
    write_errors: AtomicU64,
}

impl DecisionLog {
    /// Opens the log the section describes; `None` when no path is set.
    pub fn open(section: &LogSection) -> Result<Option<DecisionLog>, LogError> {
        let Some(path) = &section.path else {
            return Ok(None);
        };
        let open_error = |message: String| LogError::Open {
            path: path.display().to_string(),
            message,
        };

        let privacy = Privacy::new(section).map_err(|e| match e {
            PrivacyError::EmptyKey => LogError::EmptyHashKey,
            PrivacyError::Key(message) => open_error(message),
        })?;

        // Opening here, not in the thread, so a bad path is an error now.
        let file = open_append(path).map_err(|e| open_error(describe_open_error(path, &e)))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);

        let counts = Arc::new(Counts::default());
        let writer = Writer {
            path: path.clone(),
            max_bytes: section.max_bytes,
            keep: section.keep,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            size,
            counts: Arc::clone(&counts),
            error_reports: RateLimit::new(REPORT_INTERVAL),
            last_open_attempt: None,
            last_rotate_failure: None,
        };
        let (queue, lines) = mpsc::sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("ward-decision-log".to_owned())
            .spawn(move || writer.run(&lines))
            .map_err(|e| open_error(format!("cannot start the writer thread: {e}")))?;

        Ok(Some(DecisionLog {
            queue: Some(queue),
            writer: Some(thread),
            privacy,
            counts,
            drop_reports: RateLimit::new(REPORT_INTERVAL),
        }))
    }

    /// Queues one record; never blocks the caller.
    pub fn record(&self, record: &DecisionRecord<'_>) {
        let Some(queue) = &self.queue else {
            return;
        };

        let mut line = Vec::with_capacity(LINE_CAPACITY);
        let serialized = serde_json::to_writer(
            &mut line,
            &Line {
                record,
                privacy: &self.privacy,
            },
        );
        if let Err(e) = serialized {
            // Only a bug gets here: every field serializes.
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            if self.drop_reports.allow() {
                tracing::error!(error = %e, "cannot serialize a decision log line");
            }
            return;
        }
        line.push(b'\n');

        match queue.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if self.drop_reports.allow() {
                    tracing::warn!(
                        dropped,
                        "decision log queue full: lines dropped (the disk is slower than the queries)"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                let dropped = self.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if self.drop_reports.allow() {
                    tracing::error!(dropped, "decision log writer has stopped: lines dropped");
                }
            }
        }
    }

    /// Writes out everything queued (at shutdown).
    ///
    /// Blocks until every line queued before the call is written and synced
    /// to disk, or has failed (counted in [`DecisionLog::write_errors`]).
    pub fn flush(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (done, wait) = mpsc::channel();
        if queue.send(Message::Flush(done)).is_err() {
            return;
        }
        // An error means the writer stopped; nothing more can be written.
        let _ = wait.recv();
    }

    /// Lines dropped because the queue was full (or the writer had stopped).
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// I/O errors met writing, renaming or opening the log file, plus lines
    /// skipped while it could not be opened. A failed write loses the lines
    /// still buffered with it too.
    pub fn write_errors(&self) -> u64 {
        self.counts.write_errors.load(Ordering::Relaxed)
    }
}

impl Drop for DecisionLog {
    /// Closes the queue, so the writer writes out what is left and stops,
    /// and waits for it.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.writer.take()
            && thread.join().is_err()
        {
            tracing::error!("the decision log writer thread panicked");
        }
    }
}

/// What is written in clear and the key for what is not.
struct Privacy {
    clients: bool,
    names: bool,
    /// The keyed MAC, cloned for each hash.
    key: Hmac<Sha256>,
}

impl Privacy {
    fn new(section: &LogSection) -> Result<Privacy, PrivacyError> {
        let key = match &section.hash_key {
            Some(key) if key.is_empty() => return Err(PrivacyError::EmptyKey),
            Some(key) => Hmac::<Sha256>::new_from_slice(key.as_bytes()),
            None => Hmac::<Sha256>::new_from_slice(&rand::random::<[u8; 32]>()),
        };
        // HMAC takes keys of any length, so this error is not expected.
        let key = key.map_err(|e| PrivacyError::Key(format!("cannot key the hash: {e}")))?;
        Ok(Privacy {
            clients: section.clients,
            names: section.names,
            key,
        })
    }

    fn client(&self, address: IpAddr) -> Shown<'static> {
        if self.clients {
            return Shown::Address(address);
        }
        let mut mac = self.key.clone();
        // Formatting into the MAC cannot fail: `MacInput` never errors.
        let _ = write!(MacInput(&mut mac), "{address}");
        Shown::Hash(Hash::from_mac(mac))
    }

    fn name<'a>(&self, name: &'a str) -> Shown<'a> {
        if self.names {
            return Shown::Text(name);
        }
        let mut mac = self.key.clone();
        mac.update(name.as_bytes());
        Shown::Hash(Hash::from_mac(mac))
    }
}

enum PrivacyError {
    EmptyKey,
    Key(String),
}

/// Feeds formatted text to a MAC without building a string.
struct MacInput<'a>(&'a mut Hmac<Sha256>);

impl fmt::Write for MacInput<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.update(text.as_bytes());
        Ok(())
    }
}

/// A client address or a name, as the log shows it.
enum Shown<'a> {
    Address(IpAddr),
    Text(&'a str),
    Hash(Hash),
}

impl Serialize for Shown<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Shown::Address(address) => serializer.collect_str(address),
            Shown::Text(text) => serializer.serialize_str(text),
            Shown::Hash(hash) => hash.serialize(serializer),
        }
    }
}

/// A keyed hash as written: `h:` and the kept bytes in hex.
struct Hash([u8; 2 + 2 * HASH_BYTES]);

impl Hash {
    fn from_mac(mac: Hmac<Sha256>) -> Hash {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digest = mac.finalize().into_bytes();
        let mut text = [0; 2 + 2 * HASH_BYTES];
        text[..2].copy_from_slice(b"h:");
        // Spelled out rather than formatted: `write!` per byte cost more
        // than the HMAC itself. The indices hold: chunks of exactly two,
        // nibbles below 16.
        for (pair, byte) in text[2..].chunks_exact_mut(2).zip(digest) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        Hash(text)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Always ASCII: `h:` and hex digits.
        let text = std::str::from_utf8(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

/// A time as RFC 3339 in UTC with milliseconds, clamped to what that can
/// show (a clock set before 1970 writes 1970).
struct Rfc3339Millis(SystemTime);

impl Serialize for Rfc3339Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let latest = UNIX_EPOCH + Duration::from_millis(LATEST_SECONDS * 1000 + 999);
        let time = self.0.clamp(UNIX_EPOCH, latest);
        serializer.collect_str(&humantime::format_rfc3339_millis(time))
    }
}

/// One record as a JSON line, fields in the documented order.
struct Line<'a> {
    record: &'a DecisionRecord<'a>,
    privacy: &'a Privacy,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.record;
        let privacy = self.privacy;
        let latency_us = u64::try_from(record.latency.as_micros()).unwrap_or(u64::MAX);

        let mut line = serializer.serialize_struct("Decision", 16)?;
        line.serialize_field("time", &Rfc3339Millis(record.time))?;
        line.serialize_field("client", &privacy.client(record.client))?;
        line.serialize_field("device_class", record.device_class)?;
        line.serialize_field("name", &privacy.name(record.name))?;
        line.serialize_field("type", record.qtype)?;
        line.serialize_field("verdict", record.verdict)?;
        line.serialize_field("policy", &record.policy)?;
        line.serialize_field("rule", &record.rule)?;
        line.serialize_field("categories", record.categories)?;
        line.serialize_field("cname", &record.cname.map(|name| privacy.name(name)))?;
        line.serialize_field("latency_us", &latency_us)?;
        line.serialize_field("transport", record.transport)?;
        line.serialize_field("response", record.response)?;
        match record.would {
            Some(would) => line.serialize_field("would", would)?,
            None => line.skip_field("would")?,
        }
        line.serialize_field("source", record.source)?;
        match record.module_error {
            Some(error) => line.serialize_field("module_error", error)?,
            None => line.skip_field("module_error")?,
        }
        line.end()
    }
}

/// Lets one report through per interval; shared by threads.
struct RateLimit {
    start: Instant,
    interval_ms: u64,
    /// Milliseconds after `start` before which reports are held back.
    next_ms: AtomicU64,
}

impl RateLimit {
    fn new(interval: Duration) -> RateLimit {
        RateLimit {
            start: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
        }
    }

    fn allow(&self) -> bool {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

/// The writer thread's state: the open file and its size.
struct Writer {
    path: PathBuf,
    /// Rotate before a line would take the file past this; 0 never rotates.
    max_bytes: u64,
    keep: usize,
    /// `None` after an error, until reopened.
    file: Option<BufWriter<File>>,
    /// Bytes in the file, counting those still buffered.
    size: u64,
    counts: Arc<Counts>,
    error_reports: RateLimit,
    last_open_attempt: Option<Instant>,
    /// When moving `path` aside last failed, if it did.
    last_rotate_failure: Option<Instant>,
}

impl Writer {
    /// Writes lines until every sender is gone, writing the buffer out
    /// whenever the queue runs empty so that a quiet log is still current.
    fn run(mut self, lines: &Receiver<Message>) {
        loop {
            let message = match lines.try_recv() {
                Ok(message) => message,
                Err(TryRecvError::Empty) => {
                    self.write_out(false);
                    match lines.recv() {
                        Ok(message) => message,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            match message {
                Message::Line(line) => self.write_line(&line),
                Message::Flush(done) => {
                    self.write_out(true);
                    // The caller may have stopped waiting; nothing to do then.
                    let _ = done.send(());
                }
            }
        }
        self.write_out(true);
    }

    fn write_line(&mut self, line: &[u8]) {
        let length = line.len() as u64;
        if self.max_bytes > 0 && self.size > 0 && self.size.saturating_add(length) > self.max_bytes
        {
            self.rotate();
        }
        if self.file.is_none() {
            self.reopen();
        }
        let Some(file) = &mut self.file else {
            self.failed("cannot write to the decision log: it is not open", None);
            return;
        };
        match file.write_all(line) {
            Ok(()) => self.size = self.size.saturating_add(length),
            Err(e) => {
                self.discard_file();
                self.failed("cannot write to the decision log", Some(&e));
            }
        }
    }

    /// Writes the buffer to the file, and syncs it when `sync`.
    fn write_out(&mut self, sync: bool) {
        let Some(file) = &mut self.file else {
            return;
        };
        let mut result = file.flush();
        if sync && result.is_ok() {
            result = file.get_ref().sync_data();
        }
        if let Err(e) = result {
            self.discard_file();
            self.failed("cannot write to the decision log", Some(&e));
        }
    }

    /// Moves `path` to `path.1` (and older files up by one, the oldest
    /// dropped) and starts an empty `path`; with `keep = 0`, truncates.
    ///
    /// When `path` cannot be moved, the writer goes on appending to it
    /// rather than truncate it, and tries again after `ROTATE_RETRY`.
    fn rotate(&mut self) {
        if let Some(last) = self.last_rotate_failure
            && last.elapsed() < ROTATE_RETRY
        {
            return;
        }
        self.write_out(false);
        self.file = None;

        let mut moved = true;
        if self.keep > 0 {
            let oldest = numbered(&self.path, self.keep);
            if let Err(e) = remove_if_present(&oldest) {
                self.failed("cannot remove the oldest rotated decision log", Some(&e));
            }
            for n in (1..self.keep).rev() {
                let (from, to) = (numbered(&self.path, n), numbered(&self.path, n + 1));
                if let Err(e) = rename_if_present(&from, &to) {
                    self.failed("cannot rename a rotated decision log", Some(&e));
                }
            }
            if let Err(e) = rename_if_present(&self.path, &numbered(&self.path, 1)) {
                self.failed("cannot rotate the decision log", Some(&e));
                moved = false;
            }
        }

        self.last_rotate_failure = (!moved).then(Instant::now);
        self.last_open_attempt = Some(Instant::now());
        let opened = if moved {
            File::create(&self.path)
        } else {
            open_append(&self.path)
        };
        match opened.and_then(|file| Ok((file.metadata()?.len(), file))) {
            Ok((size, file)) => {
                self.size = size;
                self.file = Some(BufWriter::with_capacity(WRITE_BUFFER, file));
            }
            Err(e) => self.failed("cannot open the decision log after rotating", Some(&e)),
        }
    }

    /// Opens the file again after an error, at most once per interval.
    fn reopen(&mut self) {
        if let Some(last) = self.last_open_attempt
            && last.elapsed() < REOPEN_INTERVAL
        {
            return;
        }
        self.last_open_attempt = Some(Instant::now());
        match open_append(&self.path) {
            Ok(file) => {
                self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(BufWriter::with_capacity(WRITE_BUFFER, file));
                tracing::info!(path = %self.path.display(), "decision log reopened");
            }
            Err(e) => self.failed("cannot reopen the decision log", Some(&e)),
        }
    }

    /// Drops the file without writing its buffer again: after an error,
    /// what the buffer held may be half written already.
    fn discard_file(&mut self) {
        if let Some(file) = self.file.take() {
            drop(file.into_parts());
        }
        self.last_open_attempt = Some(Instant::now());
    }

    fn failed(&self, what: &str, error: Option<&io::Error>) {
        let errors = self.counts.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if self.error_reports.allow() {
            match error {
                Some(error) => tracing::error!(
                    path = %self.path.display(), %error, errors, "{what}"
                ),
                None => tracing::error!(path = %self.path.display(), errors, "{what}"),
            }
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `path.n`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut numbered = path.as_os_str().to_owned();
    numbered.push(format!(".{n}"));
    PathBuf::from(numbered)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An open error in words an operator can act on.
fn describe_open_error(path: &Path, error: &io::Error) -> String {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match error.kind() {
        io::ErrorKind::NotFound => {
            format!("the folder `{}` does not exist", folder.display())
        }
        io::ErrorKind::PermissionDenied => {
            format!("permission denied ({error})")
        }
        io::ErrorKind::IsADirectory => "it is a folder, not a file".to_owned(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(clients: bool, names: bool) -> LogSection {
        LogSection {
            clients,
            names,
            hash_key: Some("test key".to_owned()),
            ..LogSection::default()
        }
    }

    /// A log whose queue the test holds instead of a writer thread.
    fn queued(capacity: usize, section: &LogSection) -> (DecisionLog, Receiver<Message>) {
        let (queue, lines) = mpsc::sync_channel(capacity);
        let log = DecisionLog {
            queue: Some(queue),
            writer: None,
            privacy: Privacy::new(section).ok().unwrap_or_else(|| unreachable!()),
            counts: Arc::default(),
            drop_reports: RateLimit::new(REPORT_INTERVAL),
        };
        (log, lines)
    }

    fn record_at(time: SystemTime) -> DecisionRecord<'static> {
        DecisionRecord {
            time,
            client: IpAddr::from([10, 1, 2, 3]),
            transport: "udp",
            device_class: "unknown",
            name: "example.org",
            qtype: "a",
            verdict: "allow",
            response: "noerror",
            policy: None,
            rule: None,
            would: None,
            categories: &[],
            cname: None,
            source: "upstream",
            module_error: None,
            latency: Duration::from_micros(5),
        }
    }

    fn line_of(message: Message) -> serde_json::Value {
        let Message::Line(line) = message else {
            unreachable!("only lines are queued here")
        };
        assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice(&line).unwrap()
    }

    fn check_time(time: SystemTime, expected: &str) {
        let (log, lines) = queued(4, &section(true, true));
        log.record(&record_at(time));
        let line = line_of(lines.try_recv().unwrap());
        assert_eq!(line["time"], expected, "{time:?}");
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        check_time(UNIX_EPOCH, "1970-01-01T00:00:00.000Z");
        check_time(
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z",
        );
        // Microseconds are cut, not rounded.
        check_time(
            UNIX_EPOCH + Duration::from_micros(951_782_400_999_999),
            "2000-02-29T00:00:00.999Z",
        );
    }

    #[test]
    fn times_out_of_range_are_clamped_not_failed() {
        check_time(
            UNIX_EPOCH - Duration::from_secs(3600),
            "1970-01-01T00:00:00.000Z",
        );
        check_time(
            UNIX_EPOCH + Duration::from_secs(LATEST_SECONDS + 10),
            "9999-12-31T23:59:59.999Z",
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let (log, lines) = queued(2, &section(false, false));
        for _ in 0..5 {
            log.record(&record_at(SystemTime::now()));
        }
        assert_eq!(log.dropped(), 3);
        assert_eq!(lines.try_iter().count(), 2);
    }

    #[test]
    fn a_stopped_writer_drops_and_counts() {
        let (log, lines) = queued(2, &section(false, false));
        drop(lines);
        log.record(&record_at(SystemTime::now()));
        // Flush returns at once rather than wait for a writer that is gone.
        log.flush();
        assert_eq!(log.dropped(), 1);
    }

    #[test]
    fn latency_is_whole_microseconds() {
        let (log, lines) = queued(2, &section(false, false));
        let mut record = record_at(SystemTime::now());
        record.latency = Duration::from_nanos(1_234_567);
        log.record(&record);
        assert_eq!(line_of(lines.try_recv().unwrap())["latency_us"], 1234);
    }

    #[test]
    fn rate_limit_lets_one_report_through_per_interval() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert!(limit.allow());
        assert!(!limit.allow());
        let open = RateLimit::new(Duration::ZERO);
        assert!(open.allow());
        assert!(open.allow());
    }

    #[test]
    fn the_log_can_be_shared_by_serving_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<DecisionLog>();
    }

    #[test]
    fn empty_hash_key_is_refused() {
        let section = LogSection {
            path: Some(std::env::temp_dir().join("ward-never-created.jsonl")),
            hash_key: Some(String::new()),
            ..LogSection::default()
        };
        assert!(matches!(
            DecisionLog::open(&section),
            Err(LogError::EmptyHashKey)
        ));
    }
}
