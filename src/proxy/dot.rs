//! DNS over TLS forwarders (RFC 7858): a `tls://` forwarder's transport,
//! built from the config's settings ([`Dot::from_config`]), and its one connection,
//! opened on first use, kept while in use and closed after [`IDLE`], that
//! carries every listener's and probe's queries at once (RFC 7766 6.2.1.1
//! pipelining): each gets a wire ID unique on the connection and its answer
//! is matched back by it, in any order. Messages are framed as on TCP, by
//! [`framing`](super::framing)'s decoder. When a connection closes, the
//! queries it carried are sent once more on a new one (a second close fails
//! them), and otherwise the next query opens it; a handshake that
//! fails (a certificate that does not verify, say) is logged with rustls'
//! reason and fails the queries for [`BACKOFF`] before the next attempt.
//!
//! Touches the network (one TCP connection per forwarder, from a thread of
//! its own, started on first use and ended when the last handle is gone) and, once when the engine is
//! built, the `tls_ca` file and the system resolver for a forwarder given by host name. Health
//! and the cache are the listeners' business, exactly as for UDP forwarders.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rand::RngExt;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tracing::{debug, warn};

use super::config::TlsConfig;
use super::framing::{Decoder, MAX_MESSAGE};
use super::wire;

/// A connection with nothing in flight for this long is closed.
pub const IDLE: Duration = Duration::from_secs(10);
/// After a failed connect or handshake, queries fail at once for this long.
pub const BACKOFF: Duration = Duration::from_millis(500);
/// Most queries in flight on one connection; more fail at once.
const MAX_PENDING: usize = 4096;

/// A DNS-over-TLS forwarder's transport, shared by every copy of the
/// forwarder (listeners, probes) through an `Arc`.
pub struct Dot {
    /// The forwarder's name, for logs.
    label: Box<str>,
    addr: SocketAddr,
    /// The name the certificate must be valid for.
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    /// How long a query waits for its answer before it is forgotten.
    timeout: Duration,
    /// The connection task's queue, started on first use.
    requests: OnceLock<mpsc::UnboundedSender<Request>>,
    counters: Arc<Counters>,
}

/// What the metrics report of a `tls://` forwarder's connections.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections opened (handshake completed).
    pub connections: AtomicU64,
    /// Connects or handshakes that failed.
    pub failures: AtomicU64,
}

impl Counters {
    /// Takes over `old`'s counts: a reload keeps counting, as the other
    /// forwarder counters do (the health's `copy_from`).
    pub fn copy_from(&self, old: &Counters) {
        for (new, old) in [
            (&self.connections, &old.connections),
            (&self.failures, &old.failures),
        ] {
            new.store(old.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dot({} {:?})", self.addr, self.server_name)
    }
}

/// An answer (or why there is none) for a query sent with [`Dot::send`].
#[derive(Debug)]
pub struct Done {
    /// The caller's tag for the query.
    pub tag: u64,
    /// The forwarder's address.
    pub from: SocketAddr,
    /// The answer, with the ID the query was sent with.
    pub result: io::Result<Vec<u8>>,
}

enum Reply {
    Once(oneshot::Sender<io::Result<Vec<u8>>>),
    Tagged(mpsc::UnboundedSender<Done>, u64),
}

impl Reply {
    fn send(self, from: SocketAddr, result: io::Result<Vec<u8>>) {
        match self {
            Reply::Once(tx) => {
                let _ = tx.send(result);
            }
            Reply::Tagged(tx, tag) => {
                let _ = tx.send(Done { tag, from, result });
            }
        }
    }
}

struct Request {
    query: Vec<u8>,
    question_end: usize,
    reply: Reply,
    /// Sent once already, on a connection that closed before the answer.
    retried: bool,
}

/// Cuts `resp`, an answer over TLS, to its header and question with TC
/// set when it is longer than `limit`, a UDP client's: the client asks again
/// over TCP, as it would a UDP forwarder's truncated answer.
pub fn truncate_for_udp(resp: &mut Vec<u8>, limit: usize) {
    if resp.len() <= limit {
        return;
    }
    match wire::question_end(resp) {
        Some(end) => resp.truncate(end),
        None => resp.truncate(wire::HEADER_LEN.min(resp.len())),
    }
    if resp.len() >= wire::HEADER_LEN {
        resp[2] |= 0x02;
        resp[6..12].fill(0);
    }
}

impl Dot {
    /// The transport of forwarder `label` with the config's `tls` settings,
    /// verifying the certificate for its server name against the roots in
    /// `tls_ca` (default: the web's, from webpki-roots). Reads `tls_ca` and
    /// resolves a host name, here, once. Errors start with the key.
    pub fn from_config(
        label: &str,
        tls: &TlsConfig,
        timeout: Duration,
    ) -> Result<(SocketAddr, Dot), String> {
        let (host, port) = (tls.host.as_str(), tls.port);
        let name = tls.server_name.as_str();
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| format!("tls_name: expected a host name, found {name:?}"))?;
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(file) => {
                let shown = file.path.display();
                let pem = std::fs::read(&file.path).map_err(|e| format!("tls_ca: {shown}: {e}"))?;
                for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("tls_ca: {shown}: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("tls_ca: {shown}: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("tls_ca: {shown}: no PEM certificate in it"));
                }
            }
        }
        let addr = match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("address: cannot resolve {host:?}: {e}"))?
                .next()
                .ok_or_else(|| format!("address: {host:?} has no address"))?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"dot".to_vec()];
        Ok((
            addr,
            Dot {
                label: label.into(),
                addr,
                server_name,
                tls: Arc::new(tls),
                timeout,
                requests: OnceLock::new(),
                counters: Arc::default(),
            },
        ))
    }

    /// Its connections so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The name the certificate is verified for.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// Sends `query` (whose question ends at `question_end`); its answer, or
    /// the error, comes to `to` as a [`Done`] with `tag`. A query that gets
    /// no answer within the timeout is dropped without a word: the caller
    /// times it out itself.
    pub fn send(
        &self,
        query: &[u8],
        question_end: usize,
        to: &mpsc::UnboundedSender<Done>,
        tag: u64,
    ) {
        self.submit(Request {
            query: query.to_vec(),
            question_end,
            reply: Reply::Tagged(to.clone(), tag),
            retried: false,
        });
    }

    /// Sends `query` and waits for its answer, at most the timeout. Must be
    /// called within a tokio runtime.
    pub async fn exchange(&self, query: Vec<u8>, question_end: usize) -> io::Result<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.submit(Request {
            query,
            question_end,
            reply: Reply::Once(tx),
            retried: false,
        });
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(result)) => result,
            _ => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
        }
    }

    fn submit(&self, request: Request) {
        let queue = self.requests.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let session = Session::new(self, rx);
            // A thread and runtime of its own: the connection lives as long
            // as the forwarder's users, not as long as the runtime of the
            // first one (a UDP worker's ends at shutdown while TCP clients
            // are still being answered).
            let started = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|runtime| {
                    std::thread::Builder::new()
                        .name("vpndns-dot".into())
                        .spawn(move || runtime.block_on(session.run()))
                });
            if let Err(e) = started {
                warn!(
                    "tls forwarder {}: cannot start its connection thread: {e}",
                    self.label
                );
            }
            tx
        });
        if let Err(mpsc::error::SendError(r)) = queue.send(request) {
            r.reply
                .send(self.addr, Err(io::Error::other("no connection task")));
        }
    }
}

/// A query on the wire, waiting for its answer.
struct Pending {
    /// The query as the caller sent it (its ID put back on the answer).
    query: Vec<u8>,
    question_end: usize,
    reply: Reply,
    retried: bool,
    /// Tells this query from a later one that reuses its wire ID.
    seq: u64,
}

/// The connection task's state.
struct Session {
    label: Box<str>,
    addr: SocketAddr,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    timeout: Duration,
    requests: mpsc::UnboundedReceiver<Request>,
    counters: Arc<Counters>,
    stream: Option<TlsStream<TcpStream>>,
    /// Wire ID → query in flight.
    pending: HashMap<u16, Pending, foldhash::fast::RandomState>,
    /// (deadline, wire ID, seq) in the order sent: deadlines are the send
    /// time plus one timeout, so the front expires first.
    deadlines: VecDeque<(Instant, u16, u64)>,
    seq: u64,
    /// Queries of a connection that closed, to send again on a new one.
    retry: Vec<Request>,
    /// The last connect or handshake failure, while within [`BACKOFF`].
    failed: Option<(Instant, String)>,
    last_used: Instant,
    frames: Decoder,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
}

impl Session {
    fn new(dot: &Dot, requests: mpsc::UnboundedReceiver<Request>) -> Session {
        Session {
            label: dot.label.clone(),
            addr: dot.addr,
            server_name: dot.server_name.clone(),
            connector: TlsConnector::from(dot.tls.clone()),
            timeout: dot.timeout,
            requests,
            counters: dot.counters.clone(),
            stream: None,
            pending: HashMap::default(),
            deadlines: VecDeque::new(),
            seq: 0,
            retry: Vec::new(),
            failed: None,
            last_used: Instant::now(),
            frames: Decoder::new(MAX_MESSAGE),
            read_buf: vec![0; 16 * 1024],
            write_buf: Vec::with_capacity(4096),
        }
    }

    /// Serves requests until every [`Dot`] handle is gone.
    async fn run(mut self) {
        loop {
            let wake = match self.deadlines.front() {
                Some(&(at, ..)) => at,
                None => self.last_used + IDLE,
            };
            tokio::select! {
                request = self.requests.recv() => {
                    let Some(request) = request else { break };
                    self.write_buf.clear();
                    self.queue(request).await;
                    while let Ok(more) = self.requests.try_recv() {
                        self.queue(more).await;
                    }
                    self.flush().await;
                }
                read = read_some(&mut self.stream, &mut self.read_buf) => match read {
                    Ok(0) => self.lost("closed by the forwarder"),
                    Ok(n) => self.on_bytes(n),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        self.lost("closed by the forwarder (without TLS close_notify)");
                    }
                    Err(e) => self.lost(&format!("connection broken: {e}")),
                },
                _ = tokio::time::sleep_until(wake.into()) => self.expire().await,
            }
            if !self.retry.is_empty() {
                self.write_buf.clear();
                let mut retry = std::mem::take(&mut self.retry);
                for r in retry.drain(..) {
                    self.queue(r).await;
                }
                self.retry = retry; // keeps its allocation
                self.flush().await;
            }
        }
        if let Some(mut s) = self.stream.take() {
            let _ = s.shutdown().await;
        }
        debug!(
            "tls forwarder {} ({}): no users left",
            self.label, self.addr
        );
    }

    /// Frames `r` into the write buffer, connecting first if need be; or
    /// fails it.
    async fn queue(&mut self, r: Request) {
        if self.stream.is_none() {
            if let Some((at, why)) = &self.failed
                && at.elapsed() < BACKOFF
            {
                return r.reply.send(self.addr, Err(io::Error::other(why.clone())));
            }
            match self.connect().await {
                Ok(s) => {
                    debug!("tls forwarder {} ({}): connected", self.label, self.addr);
                    self.counters.connections.fetch_add(1, Ordering::Relaxed);
                    self.stream = Some(s);
                    self.failed = None;
                    self.frames = Decoder::new(MAX_MESSAGE);
                }
                Err(e) => {
                    self.counters.failures.fetch_add(1, Ordering::Relaxed);
                    let why = format!("tls forwarder {} ({}): {e}", self.label, self.addr);
                    warn!("{why}");
                    self.failed = Some((Instant::now(), why.clone()));
                    return r.reply.send(self.addr, Err(io::Error::new(e.kind(), why)));
                }
            }
        }
        let (Ok(len), true) = (u16::try_from(r.query.len()), r.query.len() >= 12) else {
            return r
                .reply
                .send(self.addr, Err(io::Error::other("not a DNS query")));
        };
        if self.pending.len() >= MAX_PENDING {
            let e = io::Error::other("too many queries in flight on the connection");
            return r.reply.send(self.addr, Err(e));
        }
        let id = loop {
            let id: u16 = rand::rng().random();
            if !self.pending.contains_key(&id) {
                break id;
            }
        };
        self.write_buf.extend_from_slice(&len.to_be_bytes());
        let at = self.write_buf.len();
        self.write_buf.extend_from_slice(&r.query);
        wire::set_id(&mut self.write_buf[at..], id);
        self.seq += 1;
        let now = Instant::now();
        self.last_used = now;
        self.deadlines.push_back((now + self.timeout, id, self.seq));
        self.pending.insert(
            id,
            Pending {
                query: r.query,
                question_end: r.question_end,
                reply: r.reply,
                retried: r.retried,
                seq: self.seq,
            },
        );
    }

    async fn connect(&self) -> io::Result<TlsStream<TcpStream>> {
        let open = async {
            let tcp = TcpStream::connect(self.addr).await?;
            tcp.set_nodelay(true)?;
            self.connector.connect(self.server_name.clone(), tcp).await
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }

    /// Writes the queued queries.
    async fn flush(&mut self) {
        if self.write_buf.is_empty() {
            return;
        }
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let written = async {
            s.write_all(&self.write_buf).await?;
            s.flush().await
        };
        if let Err(e) = written.await {
            self.lost(&e.to_string());
        }
    }

    /// Matches the answers among `n` bytes just read to their queries.
    fn on_bytes(&mut self, n: usize) {
        self.frames.feed(&self.read_buf[..n]);
        loop {
            let msg = match self.frames.next_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => return,
                Err(e) => return self.lost(&e.to_string()),
            };
            let Some(id) = wire::id(msg) else { continue };
            let Some(p) = self.pending.get(&id) else {
                debug!("tls forwarder {}: answer to no query in flight", self.label);
                continue;
            };
            let mut query = [0u8; 2];
            query.copy_from_slice(&p.query[..2]);
            let mut answer = msg.to_vec();
            wire::set_id(&mut answer, u16::from_be_bytes(query));
            if !wire::answers_question(&answer, &p.query, p.question_end) {
                debug!("tls forwarder {}: answer to another question", self.label);
                continue;
            }
            if let Some(p) = self.pending.remove(&id) {
                p.reply.send(self.addr, Ok(answer));
            }
            self.last_used = Instant::now();
        }
    }

    /// The connection is gone: each query on it is sent once more on a new
    /// one (RFC 7766 6.2.1: the server may close whenever it likes), and
    /// fails with `why` if it was already.
    fn lost(&mut self, why: &str) {
        self.stream = None;
        self.deadlines.clear();
        if self.pending.is_empty() {
            debug!("tls forwarder {} ({}): {why}", self.label, self.addr);
            return;
        }
        warn!(
            "tls forwarder {} ({}): {why}, with {} queries in flight",
            self.label,
            self.addr,
            self.pending.len()
        );
        for (_, p) in self.pending.drain() {
            if p.retried {
                let e = io::Error::new(io::ErrorKind::ConnectionReset, why.to_string());
                p.reply.send(self.addr, Err(e));
            } else {
                self.retry.push(Request {
                    query: p.query,
                    question_end: p.question_end,
                    reply: p.reply,
                    retried: true,
                });
            }
        }
    }

    /// Forgets the queries past their deadline (their callers have timed
    /// them out) and closes a connection idle for [`IDLE`].
    async fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&(at, id, seq)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if self.pending.get(&id).is_some_and(|p| p.seq == seq) {
                self.pending.remove(&id);
            }
        }
        if self.pending.is_empty() && now >= self.last_used + IDLE {
            self.last_used = now;
            if let Some(mut s) = self.stream.take() {
                debug!(
                    "tls forwarder {} ({}): idle, closing",
                    self.label, self.addr
                );
                let _ = s.shutdown().await;
            }
        }
    }
}

/// Reads from the connection if there is one; never completes without.
async fn read_some(stream: &mut Option<TlsStream<TcpStream>>, buf: &mut [u8]) -> io::Result<usize> {
    match stream {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tls://` forwarder's settings, as the config would check them.
    fn settings(
        host: &str,
        port: u16,
        server_name: &str,
        ca: Option<&std::path::Path>,
    ) -> TlsConfig {
        TlsConfig {
            address: format!("tls://{host}:{port}"),
            address_at: (3, 11),
            host: host.into(),
            port,
            server_name: server_name.into(),
            ca: ca.map(|p| crate::proxy::config::FileRef {
                path: p.to_path_buf(),
                written: p.display().to_string(),
                at: (4, 10),
            }),
        }
    }

    #[test]
    fn an_ip_address_is_verified_for_tls_name() {
        let t = Duration::from_secs(1);
        let (addr, dot) =
            Dot::from_config("f", &settings("192.0.2.1", 853, "dns.example.net", None), t).unwrap();
        assert_eq!(addr, "192.0.2.1:853".parse().unwrap());
        assert_eq!(dot.server_name(), "dns.example.net");
    }

    #[test]
    fn a_host_name_is_resolved() {
        let t = Duration::from_secs(1);
        let tls = settings("localhost", 8853, "localhost", None);
        let (addr, dot) = Dot::from_config("f", &tls, t).unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 8853);
        assert_eq!(dot.server_name(), "localhost");
    }

    /// The problems of a config with forwarder `f`'s lines, and of building
    /// its engine, one a line.
    fn build_errors(forwarder: &str) -> String {
        let src = format!(
            "[[forwarder]]\nname = \"f\"\n{forwarder}\n[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = \"f\"\n"
        );
        let path = std::path::Path::new("/etc/vpndns/vpndns.toml");
        match crate::proxy::config::Config::parse(path, &src)
            .and_then(crate::proxy::engine::Engine::build)
        {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn build_errors_name_the_file_line_and_key() {
        let e = build_errors(
            "address = \"tls://192.0.2.1\"\ntls_name = \"dns.example.net\"\ntls_ca = \"missing.pem\"",
        );
        assert!(
            e.starts_with("/etc/vpndns/vpndns.toml:5:10: tls_ca: /etc/vpndns/missing.pem: "),
            "{e}"
        );
        assert_eq!(
            build_errors("address = \"tls://192.0.2.1:8853\"\ntls_name = \"dns.example.net\""),
            ""
        );
    }

    #[test]
    fn answers_too_long_for_a_udp_client_are_truncated() {
        let q = crate::proxy::wire::tests::query("www.example.com", wire::TYPE_A, None);
        let mut resp = q.clone();
        resp[2] |= 0x80;
        resp[7] = 1; // one answer, made up of padding
        resp.extend_from_slice(&[0; 600]);
        let full = resp.clone();
        truncate_for_udp(&mut resp, 4096);
        assert_eq!(resp, full, "within the limit: untouched");
        truncate_for_udp(&mut resp, 512);
        assert_eq!(resp.len(), q.len(), "header and question");
        assert!(wire::is_truncated(&resp));
        assert_eq!(&resp[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn tls_ca_must_hold_a_certificate() {
        let t = Duration::from_secs(1);
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Dot::from_config(
            "f",
            &settings("a.example", 853, "a.example", Some(&empty)),
            t,
        )
        .unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = Dot::from_config(
            "f",
            &settings("a.example", 853, "a.example", Some(&missing)),
            t,
        )
        .unwrap_err();
        assert!(e.starts_with("tls_ca: "), "{e}");
    }
}
