//! Test harness for vpndns over real sockets on loopback: a unique 127.x.y.0/24
//! block per test, the real binary started with a config, fake upstreams that
//! count what they see and can be told to misbehave, and a small client.
#![allow(dead_code)]

pub mod config;
pub mod sitefile;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// A /24 of loopback addresses no other test (or concurrent run) uses:
/// 127.<100 + pid % 100>.<counter>.0.
pub struct Block {
    prefix: [u8; 3],
}

impl Block {
    pub fn new() -> Block {
        static NEXT: AtomicU8 = AtomicU8::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Block {
            prefix: [127, 100 + (std::process::id() % 100) as u8, n],
        }
    }

    /// Address `.host` of the block.
    pub fn ip(&self, host: u8) -> Ipv4Addr {
        let [a, b, c] = self.prefix;
        Ipv4Addr::new(a, b, c, host)
    }

    /// `127.x.y.host:port`.
    pub fn addr(&self, host: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.ip(host)), port)
    }

    /// The block as a CIDR, `127.x.y.0/24`.
    pub fn net(&self) -> String {
        format!("{}/24", self.ip(0))
    }
}

/// The vpndns binary running with a config in a temporary folder; killed on drop.
pub struct Proxy {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Proxy {
    /// Writes `config` (and `files`: name, contents) to a fresh folder, starts
    /// vpndns on it, and waits until `addr` answers.
    pub fn start(addr: SocketAddr, config: &str, files: &[(&str, &str)]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let config_path = dir.path().join("vpndns.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("vpndns.log");
        let child = Command::new(env!("CARGO_BIN_EXE_vpndns"))
            .arg("-c")
            .arg(&config_path)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut proxy = Proxy {
            child,
            dir,
            addr,
            log,
        };
        proxy.wait_ready();
        proxy
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("vpndns exited with {status}:\n{}", self.log_text());
            }
            if self.log_text().contains("serving on") {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("vpndns did not start:\n{}", self.log_text());
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("vpndns.toml")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to 2 s for `text` to appear in the log; the log so far.
    pub fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let log = self.log_text();
            if log.contains(text) || Instant::now() > deadline {
                return log;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Sends SIGHUP and waits for the log to report the outcome of that reload.
    pub fn reload(&self) -> String {
        let count = |t: &str| t.matches("reloaded").count() + t.matches("reload failed").count();
        let before = count(&self.log_text());
        self.signal(nix::sys::signal::Signal::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let text = self.log_text();
            if count(&text) > before {
                return text;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("no reload outcome in the log:\n{}", self.log_text());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a fake upstream behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer A queries with its address, others with NODATA.
    Answer,
    /// Receive and count, never answer.
    Silent,
    /// Answer SERVFAIL.
    ServFail,
    /// Answer NXDOMAIN with an SOA (TTL 3600, MINIMUM 30) in the authority.
    NxDomain,
    /// Answer with TC set over UDP and no records; TCP answers normally.
    Truncate,
    /// First send three forgeries (wrong ID, wrong question, wrong source
    /// port, each carrying 6.6.6.6), then the real answer.
    Spoof,
}

/// What an upstream saw.
#[derive(Default)]
pub struct Seen {
    pub udp: AtomicUsize,
    pub tcp: AtomicUsize,
    /// (query ID, source) of each UDP query.
    pub queries: Mutex<Vec<(u16, SocketAddr)>>,
    /// The raw bytes of the last UDP query.
    pub last: Mutex<Vec<u8>>,
}

/// A fake DNS server on UDP and TCP at one address; stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    pub answer: Ipv4Addr,
    pub seen: Arc<Seen>,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    delay: Arc<Mutex<Duration>>,
}

impl Upstream {
    /// Starts an upstream at `addr` answering A queries with `answer`.
    pub fn start(addr: SocketAddr, answer: Ipv4Addr, mode: Mode) -> Upstream {
        let up = Upstream {
            addr,
            answer,
            seen: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
            stop: Arc::default(),
            delay: Arc::default(),
        };
        let udp = UdpSocket::bind(addr).unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let (seen, mode, stop, delay) = (
            up.seen.clone(),
            up.mode.clone(),
            up.stop.clone(),
            up.delay.clone(),
        );
        thread::spawn(move || {
            let mut buf = [0u8; 65535];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((stream, _)) = tcp.accept() {
                    seen.tcp.fetch_add(1, Ordering::Relaxed);
                    serve_tcp(stream, answer);
                }
                let Ok((n, from)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                let query = &buf[..n];
                seen.udp.fetch_add(1, Ordering::Relaxed);
                let id = u16::from_be_bytes([query[0], query[1]]);
                seen.queries.lock().unwrap().push((id, from));
                *seen.last.lock().unwrap() = query.to_vec();
                let mode = *mode.lock().unwrap();
                let wait = *delay.lock().unwrap();
                if !wait.is_zero() {
                    thread::sleep(wait);
                }
                match mode {
                    Mode::Silent => {}
                    Mode::NxDomain => send(
                        &udp,
                        &respond(query, answer, ResponseCode::NXDomain, false),
                        from,
                    ),
                    Mode::Answer => send(
                        &udp,
                        &respond(query, answer, ResponseCode::NoError, false),
                        from,
                    ),
                    Mode::ServFail => send(
                        &udp,
                        &respond(query, answer, ResponseCode::ServFail, false),
                        from,
                    ),
                    Mode::Truncate => send(
                        &udp,
                        &respond(query, answer, ResponseCode::NoError, true),
                        from,
                    ),
                    Mode::Spoof => {
                        let evil = Ipv4Addr::new(6, 6, 6, 6);
                        let mut wrong_id = respond(query, evil, ResponseCode::NoError, false);
                        wrong_id[0] ^= 0x55;
                        send(&udp, &wrong_id, from);
                        let mut other = Message::from_vec(query).unwrap();
                        other.queries[0].set_name(Name::from_ascii("evil.example.").unwrap());
                        send(
                            &udp,
                            &respond(&other.to_vec().unwrap(), evil, ResponseCode::NoError, false),
                            from,
                        );
                        let side = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).unwrap();
                        send(
                            &side,
                            &respond(query, evil, ResponseCode::NoError, false),
                            from,
                        );
                        thread::sleep(Duration::from_millis(50));
                        send(
                            &udp,
                            &respond(query, answer, ResponseCode::NoError, false),
                            from,
                        );
                    }
                }
            }
        });
        up
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Delays every UDP answer.
    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    pub fn udp_count(&self) -> usize {
        self.seen.udp.load(Ordering::Relaxed)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn send(socket: &UdpSocket, msg: &[u8], to: SocketAddr) {
    let _ = socket.send_to(msg, to);
}

fn serve_tcp(mut stream: TcpStream, answer: Ipv4Addr) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut len = [0u8; 2];
    while stream.read_exact(&mut len).is_ok() {
        let mut query = vec![0; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        let resp = respond(&query, answer, ResponseCode::NoError, false);
        let mut framed = (resp.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&resp);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// A response to `query`: `answer` for an A question (unless truncated),
/// the query's EDNS echoed.
pub fn respond(query: &[u8], answer: Ipv4Addr, rcode: ResponseCode, truncated: bool) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    r.metadata.response_code = rcode;
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.metadata.truncation = truncated;
    r.metadata.checking_disabled = q.metadata.checking_disabled;
    r.add_queries(q.queries.clone());
    let question = &q.queries[0];
    if rcode == ResponseCode::NoError && !truncated && question.query_type() == RecordType::A {
        r.add_answer(Record::from_rdata(
            question.name().clone(),
            60,
            RData::A(A(answer)),
        ));
    }
    if rcode == ResponseCode::NXDomain {
        let soa = SOA::new(Name::root(), Name::root(), 1, 3600, 600, 86400, 30);
        r.add_authority(Record::from_rdata(Name::root(), 3600, RData::SOA(soa)));
    }
    if let Some(e) = &q.edns {
        r.set_edns(e.clone());
    }
    r.to_vec().unwrap()
}

/// A query message with a random ID and RD.
pub fn query(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

/// The same with an OPT record (payload 1232, DO set).
pub fn query_edns(name: &str, rtype: RecordType) -> Message {
    let mut m = query(name, rtype);
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(true);
    m.set_edns(e);
    m
}

/// Sends raw bytes from `from` to `server` over UDP; the reply, if one comes
/// within `wait`.
pub fn exchange_raw(
    server: SocketAddr,
    from: IpAddr,
    msg: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(msg, server).unwrap();
    let mut buf = [0u8; 65535];
    let (n, src) = socket.recv_from(&mut buf).ok()?;
    assert_eq!(src, server, "the answer must come from the address queried");
    Some(buf[..n].to_vec())
}

/// Asks `server` from address `from` over UDP; panics on no answer in 5 s.
pub fn ask_msg(server: SocketAddr, from: IpAddr, q: &Message) -> Message {
    let resp = exchange_raw(server, from, &q.to_vec().unwrap(), Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer from {server} to {from}"));
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(
        m.metadata.id, q.metadata.id,
        "the client's ID must come back"
    );
    m
}

/// Asks for `name`/`rtype` from `from`.
pub fn ask(server: SocketAddr, from: IpAddr, name: &str, rtype: RecordType) -> Message {
    ask_msg(server, from, &query(name, rtype))
}

/// Asks several queries on one TCP connection, pipelined, from `from`; the
/// answers (which may come in any order) are returned in query order.
pub fn ask_tcp(server: SocketAddr, from: IpAddr, queries: &[Message]) -> Vec<Message> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from, 0).into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for q in queries {
        let bytes = q.to_vec().unwrap();
        stream
            .write_all(&(bytes.len() as u16).to_be_bytes())
            .unwrap();
        stream.write_all(&bytes).unwrap();
    }
    let mut out = Vec::new();
    for _ in queries {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut buf = vec![0; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut buf).unwrap();
        out.push(Message::from_vec(&buf).unwrap());
    }
    queries
        .iter()
        .map(|q| {
            let i = out
                .iter()
                .position(|a| a.metadata.id == q.metadata.id)
                .expect("an answer per query");
            out.swap_remove(i)
        })
        .collect()
}

/// The A addresses in an answer.
pub fn addresses(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// An HTTP/1.1 request to `addr` (Connection: close); (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The same, with the body parsed as JSON.
pub fn http_json(addr: SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(addr, method, path);
    let v =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}"));
    (status, v)
}

/// The path of the shared real-world blocklists.
pub fn shared_blocklists() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/blocklists");
    assert!(
        dir.is_dir(),
        "the real blocklists are expected at {}",
        dir.display()
    );
    dir
}
