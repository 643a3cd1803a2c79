//! DNS over TLS forwarders (`address = "tls://…"`) over real sockets on
//! loopback, against a TLS DNS server run by the test with a CA the test
//! makes: answers over UDP and TCP, cached; many queries pipelined on one
//! connection; a certificate for another name, or from an unknown CA,
//! refused with the reason logged; a restarted server reconnected to; a
//! query on a connection the server closes sent again on a new one; a
//! refused or silent tls forwarder failed over or hedged around.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::config::{Config, Table};
use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROXY: u8 = 1;
const SERVER: u8 = 2;
const NAME: &str = "dns.test.example";
const ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

/// A CA made for one test: its PEM, and a leaf certificate it signs.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        let pem = p.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(p, key),
        }
    }

    /// A certificate for `name` and its key.
    fn leaf(&self, name: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let der = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        (cert.der().clone(), der)
    }
}

/// What the TLS DNS server saw.
#[derive(Default)]
struct Counts {
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// Handshakes completed.
    handshakes: AtomicUsize,
    queries: AtomicUsize,
    /// Queries waiting for their answer on one connection, and the most
    /// there ever were at once.
    waiting: AtomicUsize,
    most_waiting: AtomicUsize,
    /// When set, the next query read closes its connection unanswered.
    hang_up: AtomicBool,
}

/// A DNS-over-TLS server on its own thread that answers every A query with
/// [`ANSWER`] after `delay`, concurrently; stops (closing every connection)
/// when dropped.
struct TlsServer {
    counts: Arc<Counts>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TlsServer {
    fn start(
        addr: SocketAddr,
        cert: (CertificateDer<'static>, PrivateKeyDer<'static>),
        delay: Duration,
        counts: Arc<Counts>,
    ) -> TlsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.0], cert.1)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let c = counts.clone();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        c.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(serve(acceptor.clone(), tcp, delay, c.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        TlsServer {
            counts,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    delay: Duration,
    counts: Arc<Counts>,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return; // the client refused our certificate
    };
    counts.handshakes.fetch_add(1, Ordering::SeqCst);
    let (mut rd, wr) = tokio::io::split(tls);
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    loop {
        let Ok(len) = rd.read_u16().await else { return };
        let mut query = vec![0; usize::from(len)];
        if rd.read_exact(&mut query).await.is_err() {
            return;
        }
        counts.queries.fetch_add(1, Ordering::SeqCst);
        if counts.hang_up.swap(false, Ordering::SeqCst) {
            return;
        }
        let now = counts.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        counts.most_waiting.fetch_max(now, Ordering::SeqCst);
        let (wr, counts) = (wr.clone(), counts.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            counts.waiting.fetch_sub(1, Ordering::SeqCst);
            let resp = respond(&query, ANSWER, ResponseCode::NoError, false);
            let mut framed = (resp.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&resp);
            let _ = wr.lock().await.write_all(&framed).await;
        });
    }
}

/// A `tls://` forwarder's keys: the server's name, and the test CA (the
/// file `ca.pem` the proxy is started with).
fn tls(tls_name: &str) -> Table {
    Table::new()
        .set("tls_name", tls_name)
        .set("tls_ca", "ca.pem")
}

/// vpndns on the block's .1 with one `tls://` forwarder at `server`.
fn proxy(b: &Block, server: SocketAddr, tls_name: &str, ca_pem: &str) -> Proxy {
    let config = Config::new(b.addr(PROXY, 5353))
        .control(b.addr(PROXY, 8053))
        .forwarder_with("dot", format!("tls://{server}"), tls(tls_name))
        .policy(&b.net(), "dot")
        .to_string();
    Proxy::start(b.addr(PROXY, 5353), &config, &[("ca.pem", ca_pem)])
}

/// The value of the metrics line that starts with `line_start`.
fn metric(b: &Block, line_start: &str) -> f64 {
    let (code, text) = http(b.addr(PROXY, 8053), "GET", "/metrics");
    assert_eq!(code, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in:\n{text}"))
}

/// A DoT server on the block's server address with a certificate for
/// [`NAME`] from a fresh test CA, answering at once, and vpndns trusting
/// that CA: (the server's address, the server, the proxy).
fn trusted_dot(b: &Block) -> (SocketAddr, TlsServer, Proxy) {
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    let tls = TlsServer::start(server, ca.leaf(NAME), Duration::ZERO, Arc::default());
    let p = proxy(b, server, NAME, &ca.pem);
    (server, tls, p)
}

fn client(b: &Block, host: u8) -> IpAddr {
    IpAddr::V4(b.ip(host))
}

#[test]
fn answers_come_over_tls_and_are_cached() {
    let b = Block::new();
    let (server, tls, p) = trusted_dot(&b);

    let a = ask(p.addr, client(&b, 10), "www.example.com", RecordType::A);
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
    let over_tcp = ask_tcp(
        p.addr,
        client(&b, 11),
        &[query("tcp.example.com", RecordType::A)],
    );
    assert_eq!(addresses(&over_tcp[0]), vec![IpAddr::V4(ANSWER)]);
    assert_eq!(tls.counts.queries.load(Ordering::SeqCst), 2);

    let again = ask(p.addr, client(&b, 12), "www.example.com", RecordType::A);
    assert_eq!(addresses(&again), vec![IpAddr::V4(ANSWER)]);
    assert_eq!(
        tls.counts.queries.load(Ordering::SeqCst),
        2,
        "the second ask is a cache hit"
    );
    assert_eq!(
        tls.counts.connections.load(Ordering::SeqCst),
        1,
        "UDP and TCP clients share the one connection"
    );
    let labels = format!("{{forwarder=\"dot\",address=\"{server}\"}}");
    assert_eq!(
        metric(
            &b,
            &format!("vpndns_forwarder_tls_connections_total{labels}")
        ),
        1.0
    );
    assert_eq!(
        metric(&b, &format!("vpndns_forwarder_tls_failures_total{labels}")),
        0.0
    );
    assert_eq!(
        metric(&b, &format!("vpndns_forwarder_queries_total{labels}")),
        2.0
    );
    assert_eq!(metric(&b, "vpndns_cache_hits_total"), 1.0);
}

#[test]
fn concurrent_queries_are_pipelined_on_one_connection() {
    const CLIENTS: usize = 40;
    let b = Block::new();
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    // Each answer waits, so the queries are on the wire together.
    let tls = TlsServer::start(
        server,
        ca.leaf(NAME),
        Duration::from_millis(200),
        Arc::default(),
    );
    let p = proxy(&b, server, NAME, &ca.pem);
    // Open the connection first, so the burst meets it established.
    ask(p.addr, client(&b, 9), "warm.example.com", RecordType::A);

    let start = Arc::new(Barrier::new(CLIENTS));
    let began = Instant::now();
    let askers: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (addr, from, start) = (p.addr, client(&b, 10 + n as u8), start.clone());
            thread::spawn(move || {
                start.wait();
                let name = format!("n{n}.example.com");
                let a = ask(addr, from, &name, RecordType::A);
                assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)], "{name}");
            })
        })
        .collect();
    for t in askers {
        t.join().unwrap();
    }
    let took = began.elapsed();
    let c = &tls.counts;
    assert_eq!(c.queries.load(Ordering::SeqCst), CLIENTS + 1);
    assert_eq!(
        c.connections.load(Ordering::SeqCst),
        1,
        "every query on one connection"
    );
    let most = c.most_waiting.load(Ordering::SeqCst);
    assert!(
        most >= CLIENTS / 2,
        "at most {most} queries were in flight at once on the connection"
    );
    // Serially the 40 answers would take 8 s.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    eprintln!("{CLIENTS} queries, {most} in flight at once, {took:?}");
}

/// A query that must fail: SERVFAIL, quickly, the server never asked.
fn refused(b: &Block, p: &Proxy, tls: &TlsServer, reason: &str) {
    let began = Instant::now();
    let a = ask(p.addr, client(b, 10), "www.example.com", RecordType::A);
    assert_eq!(a.metadata.response_code, ResponseCode::ServFail);
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "a refused handshake fails the query at once, took {:?}",
        began.elapsed()
    );
    assert_eq!(tls.counts.queries.load(Ordering::SeqCst), 0);
    assert_eq!(tls.counts.handshakes.load(Ordering::SeqCst), 0);
    assert!(tls.counts.connections.load(Ordering::SeqCst) >= 1);
    let log = p.wait_for_log(reason);
    let line = log
        .lines()
        .find(|l| l.contains(reason))
        .unwrap_or_else(|| panic!("no {reason} in the log:\n{log}"));
    assert!(
        line.contains("WARN") && line.contains("tls forwarder dot"),
        "the failure is a warning naming the forwarder: {line}"
    );
    let labels = format!("{{forwarder=\"dot\",address=\"{}\"}}", b.addr(SERVER, 8853));
    assert_eq!(
        metric(b, &format!("vpndns_forwarder_tls_failures_total{labels}")),
        1.0
    );
    assert_eq!(
        metric(
            b,
            &format!("vpndns_forwarder_tls_connections_total{labels}")
        ),
        0.0
    );
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let b = Block::new();
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    let tls = TlsServer::start(
        server,
        ca.leaf("other.test.example"),
        Duration::ZERO,
        Arc::default(),
    );
    let p = proxy(&b, server, NAME, &ca.pem);
    refused(&b, &p, &tls, "certificate not valid for name");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    let b = Block::new();
    let (trusted, other) = (Ca::new("trusted CA"), Ca::new("unknown CA"));
    let server = b.addr(SERVER, 8853);
    let tls = TlsServer::start(server, other.leaf(NAME), Duration::ZERO, Arc::default());
    let p = proxy(&b, server, NAME, &trusted.pem);
    refused(&b, &p, &tls, "UnknownIssuer");
}

#[test]
fn a_restarted_server_is_reconnected_to() {
    let b = Block::new();
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    let counts = Arc::new(Counts::default());
    let tls = TlsServer::start(server, ca.leaf(NAME), Duration::ZERO, counts.clone());
    let p = proxy(&b, server, NAME, &ca.pem);
    let a = ask(p.addr, client(&b, 10), "one.example.com", RecordType::A);
    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
    drop(tls); // closes the connection
    let log = p.wait_for_log("closed by the forwarder");
    assert!(log.contains("closed by the forwarder"), "{log}");

    let _tls = TlsServer::start(server, ca.leaf(NAME), Duration::ZERO, counts.clone());
    let a = ask(p.addr, client(&b, 11), "two.example.com", RecordType::A);
    assert_eq!(
        a.metadata.response_code,
        ResponseCode::NoError,
        "the first query after the restart opens a new connection"
    );
    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 2);
    assert_eq!(counts.queries.load(Ordering::SeqCst), 2);
}

#[test]
fn a_query_on_a_connection_the_server_closes_is_sent_again() {
    let b = Block::new();
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    let counts = Arc::new(Counts::default());
    let _tls = TlsServer::start(server, ca.leaf(NAME), Duration::ZERO, counts.clone());
    let p = proxy(&b, server, NAME, &ca.pem);
    counts.hang_up.store(true, Ordering::SeqCst);
    let a = ask(p.addr, client(&b, 10), "www.example.com", RecordType::A);
    assert_eq!(
        a.metadata.response_code,
        ResponseCode::NoError,
        "answered on a second connection"
    );
    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 2);
    assert_eq!(
        counts.queries.load(Ordering::SeqCst),
        2,
        "the same query twice"
    );
}

/// vpndns with the `tls://` forwarder at `server` first, then a plain one.
fn proxy_with_fallback(b: &Block, server: SocketAddr, ca_pem: &str, plain: SocketAddr) -> Proxy {
    let config = Config::new(b.addr(PROXY, 5353))
        .server("workers", 1u32)
        .forwarder_with("dot", format!("tls://{server}"), tls(NAME))
        .forwarder("plain", plain)
        .policy(&b.net(), ["dot", "plain"])
        .to_string();
    Proxy::start(b.addr(PROXY, 5353), &config, &[("ca.pem", ca_pem)])
}

#[test]
fn a_refused_certificate_fails_over_to_the_next_forwarder_at_once() {
    let b = Block::new();
    let (trusted, other) = (Ca::new("trusted CA"), Ca::new("unknown CA"));
    let server = b.addr(SERVER, 8853);
    let _tls = TlsServer::start(server, other.leaf(NAME), Duration::ZERO, Arc::default());
    let plain = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let p = proxy_with_fallback(&b, server, &trusted.pem, plain.addr);
    for n in 0..3 {
        let began = Instant::now();
        let a = ask(
            p.addr,
            client(&b, 10),
            &format!("n{n}.example.com"),
            RecordType::A,
        );
        assert_eq!(addresses(&a), vec![IpAddr::V4(plain.answer)]);
        // Well under the 1.5 s timeout: the handshake's failure moves on.
        assert!(
            began.elapsed() < Duration::from_millis(700),
            "{:?}",
            began.elapsed()
        );
    }
    assert_eq!(plain.udp_count(), 3);
}

#[test]
fn a_silent_tls_forwarder_is_hedged_around() {
    let b = Block::new();
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    // Accepts and reads queries, answers none within the timeout.
    let tls = TlsServer::start(
        server,
        ca.leaf(NAME),
        Duration::from_secs(30),
        Arc::default(),
    );
    let plain = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let p = proxy_with_fallback(&b, server, &ca.pem, plain.addr);
    let mut slowest = Duration::ZERO;
    for n in 0..5 {
        let began = Instant::now();
        let a = ask(
            p.addr,
            client(&b, 10),
            &format!("n{n}.example.com"),
            RecordType::A,
        );
        assert_eq!(addresses(&a), vec![IpAddr::V4(plain.answer)]);
        slowest = slowest.max(began.elapsed());
    }
    assert!(
        tls.counts.queries.load(Ordering::SeqCst) >= 1,
        "the tls forwarder was asked"
    );
    // Hedged at 50 ms (the forwarder has no RTT yet), not timed out at
    // 1.5 s; the margin is for a loaded machine.
    assert!(slowest < Duration::from_millis(700), "slowest {slowest:?}");
    eprintln!("slowest of 5 answers with a silent tls forwarder first: {slowest:?}");
}

/// A measurement, by hand (`cargo test --release --test dot -- --ignored
/// --nocapture`): 20 clients asking 100 names each, none cached, all over the
/// one TLS connection.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_over_one_connection() {
    const CLIENTS: usize = 20;
    const EACH: usize = 100;
    let b = Block::new();
    let (_, tls, p) = trusted_dot(&b);
    ask(p.addr, client(&b, 9), "warm.example.com", RecordType::A);
    let began = Instant::now();
    let askers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, from) = (p.addr, client(&b, 10 + c as u8));
            thread::spawn(move || {
                for n in 0..EACH {
                    let a = ask(addr, from, &format!("c{c}n{n}.example.com"), RecordType::A);
                    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
                }
            })
        })
        .collect();
    for t in askers {
        t.join().unwrap();
    }
    let took = began.elapsed();
    let total = CLIENTS * EACH;
    assert_eq!(tls.counts.connections.load(Ordering::SeqCst), 1);
    eprintln!(
        "{total} queries in {took:?}: {:.0}/s, {:?} each on average with {CLIENTS} at once",
        total as f64 / took.as_secs_f64(),
        took * CLIENTS as u32 / total as u32
    );
}

/// The connection task belongs to the forwarder, not to the runtime of its
/// first user: at shutdown a UDP worker's runtime ends first, and TCP
/// clients' queries over the same connection must still be answered.
#[test]
fn the_connection_outlives_the_runtime_that_opened_it() {
    let b = Block::new();
    let ca = Ca::new("vpndns test CA");
    let server = b.addr(SERVER, 8853);
    let counts = Arc::new(Counts::default());
    let _tls = TlsServer::start(server, ca.leaf(NAME), Duration::ZERO, counts.clone());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let tls = vpndns::proxy::config::TlsConfig {
        address: format!("tls://{server}"),
        address_at: (1, 1),
        host: server.ip().to_string(),
        port: server.port(),
        server_name: NAME.into(),
        ca: Some(vpndns::proxy::config::FileRef {
            path: ca_file.clone(),
            written: "ca.pem".into(),
            at: (1, 1),
        }),
    };
    let (_, dot) =
        vpndns::proxy::dot::Dot::from_config("dot", &tls, Duration::from_secs(2)).unwrap();
    let ask = |name: &str| {
        let q = query(name, RecordType::A).to_vec().unwrap();
        let qend = vpndns::proxy::wire::parse_query(&q).unwrap().question_end;
        // A runtime for this one ask, dropped after it, as a UDP worker's is.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(dot.exchange(q, qend))
    };
    let first = ask("first.example.com").expect("the first answer");
    assert_eq!(wire_rcode(&first), 0);
    let second = ask("second.example.com")
        .expect("answered after the runtime that opened the connection is gone");
    assert_eq!(wire_rcode(&second), 0);
    assert_eq!(counts.queries.load(Ordering::SeqCst), 2);
    assert_eq!(
        counts.connections.load(Ordering::SeqCst),
        1,
        "the same connection"
    );
}

fn wire_rcode(resp: &[u8]) -> u8 {
    resp[3] & 0x0f
}

/// A reload keeps the TLS counters, as it keeps the forwarder's others.
#[test]
fn a_reload_keeps_the_tls_counters() {
    let b = Block::new();
    let (server, tls, p) = trusted_dot(&b);
    let a = ask(p.addr, client(&b, 10), "one.example.com", RecordType::A);
    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
    let labels = format!("{{forwarder=\"dot\",address=\"{server}\"}}");
    let connections = format!("vpndns_forwarder_tls_connections_total{labels}");
    let queries = format!("vpndns_forwarder_queries_total{labels}");
    assert_eq!(metric(&b, &connections), 1.0);

    let log = p.reload();
    assert!(log.contains("reloaded"), "{log}");
    assert_eq!(metric(&b, &queries), 1.0, "the forwarder's queries survive");
    assert_eq!(metric(&b, &connections), 1.0, "and so does the TLS count");
    // The new config's forwarder opens its own connection, counted on.
    let a = ask(p.addr, client(&b, 11), "two.example.com", RecordType::A);
    assert_eq!(addresses(&a), vec![IpAddr::V4(ANSWER)]);
    assert_eq!(metric(&b, &queries), 2.0);
    assert_eq!(metric(&b, &connections), 2.0);
    assert_eq!(tls.counts.handshakes.load(Ordering::SeqCst), 2);
    // The old config's connection thread ends with its last user.
    let threads = || {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", p.child.id())).unwrap();
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim() == "vpndns-dot")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while threads() > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        threads(),
        1,
        "one connection thread, the new config's:\n{}",
        p.log_text()
    );
}
