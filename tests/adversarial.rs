//! Spoofing and amplification against the real binary on loopback, beyond
//! what tests/proxy.rs covers (40 queries with distinct IDs, the three
//! forgeries of `Mode::Spoof`, REFUSED with EDNS):
//!
//! - thousands of queries in flight at once never share an upstream ID, the
//!   IDs are spread over the whole range, and the source ports over several
//!   sockets;
//! - REFUSED, FORMERR and NOTIMP answers to clients no policy covers are
//!   never larger than the query, with or without EDNS;
//! - a response with the right ID and question but from the wrong address or
//!   port, with the wrong type or class, replayed after the answer, or late
//!   after the timeout, is dropped: the client gets the real answer once.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::RecordType;

const PROXY: u8 = 1;

fn server(b: &Block, extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"{}\"]\n{extra}\n\n[log]\nqueries = true\n\n",
        b.addr(PROXY, 5353)
    )
}

fn forwarder(name: &str, addr: SocketAddr) -> String {
    format!("[[forwarder]]\nname = \"{name}\"\naddress = \"{addr}\"\n\n")
}

fn client_socket(b: &Block, host: u8) -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&SocketAddr::new(IpAddr::V4(b.ip(host)), 0).into())
        .unwrap();
    s.into()
}

#[test]
fn thousands_in_flight_never_share_an_upstream_id() {
    const N: usize = 3000;
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Silent);
    // One worker, so every query is in the same in-flight table; a timeout
    // long enough that all of them are in flight together.
    let config = format!(
        "{}{}[[policy]]\nsource = [\"{}\"]\nforward = \"up\"\n",
        server(&b, "timeout = \"4s\"\nworkers = 1\nmax_inflight = 10000\n"),
        forwarder("up", up.addr),
        b.net()
    );
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let client = client_socket(&b, 20);
    let started = Instant::now();
    for i in 0..N {
        // Every query carries the same client ID: the upstream IDs must come
        // from the proxy, not from the client.
        let mut q = query(&format!("n{i}.example.com."), RecordType::A);
        q.metadata.id = 7;
        client.send_to(&q.to_vec().unwrap(), p.addr).unwrap();
        if i % 20 == 19 {
            std::thread::sleep(Duration::from_millis(4));
        }
    }
    let sending = started.elapsed();
    assert!(
        sending < Duration::from_secs(3),
        "all {N} must be in flight together; sending took {sending:?}"
    );
    // Every query is answered: SERVFAIL once the timeout passes.
    client
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut servfails = 0;
    while servfails < N {
        let Ok((n, _)) = client.recv_from(&mut buf) else {
            break;
        };
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.metadata.id, 7);
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        servfails += 1;
    }
    let seen = up.seen.queries.lock().unwrap().clone();
    assert!(
        seen.len() >= N * 95 / 100,
        "the upstream saw {} of {N}",
        seen.len()
    );
    assert!(
        servfails >= N * 95 / 100,
        "{servfails} of {N} SERVFAIL answers"
    );

    let mut first: HashMap<u16, usize> = HashMap::new();
    for (i, (id, _)) in seen.iter().enumerate() {
        if let Some(j) = first.insert(*id, i) {
            panic!("upstream ID {id:#06x} used twice while in flight (queries {j} and {i})");
        }
    }
    // Spread over the range: with random IDs nearly every high byte occurs,
    // and consecutive IDs are not counters.
    let high: HashSet<u8> = seen.iter().map(|(id, _)| (id >> 8) as u8).collect();
    assert!(high.len() > 230, "only {} distinct high bytes", high.len());
    let steps = seen
        .windows(2)
        .filter(|w| w[1].0.wrapping_sub(w[0].0) < 16)
        .count();
    assert!(steps < seen.len() / 50, "{steps} small steps between IDs");
    // Spread over the workers' pools of upstream sockets, each a random
    // port, with no port carrying much of the flood.
    let mut ports: HashMap<u16, usize> = HashMap::new();
    for (_, from) in &seen {
        *ports.entry(from.port()).or_default() += 1;
    }
    assert!(ports.len() >= 16, "source ports: {ports:?}");
    for (port, n) in &ports {
        assert!(
            *n <= seen.len() / 4,
            "port {port} carried {n} of {}: {ports:?}",
            seen.len()
        );
        assert_ne!(*port, 5353);
    }
}

/// Raw queries of several shapes, each with the ID 0x5a5a.
fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let with = |edns: Option<(u16, bool)>, rtype, name: &str| {
        let mut q = query(name, rtype);
        q.metadata.id = 0x5a5a;
        if let Some((size, d)) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            e.set_dnssec_ok(d);
            q.set_edns(e);
        }
        q.to_vec().unwrap()
    };
    let long = format!("{}.example.", vec!["a".repeat(60); 3].join("."));
    let mut v = vec![
        ("plain", with(None, RecordType::A, "www.example.com.")),
        ("root ANY", with(None, RecordType::ANY, ".")),
        (
            "EDNS 4096 DO",
            with(Some((4096, true)), RecordType::ANY, "."),
        ),
        (
            "EDNS 512",
            with(Some((512, false)), RecordType::TXT, "example."),
        ),
        ("long name", with(None, RecordType::AAAA, &long)),
        (
            "long name EDNS",
            with(Some((65535, true)), RecordType::DNSKEY, &long),
        ),
    ];
    // A query whose records the proxy does not echo.
    let mut extra = with(Some((1232, true)), RecordType::A, "x.example.");
    extra[11] = 2;
    extra.extend_from_slice(&[0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    v.push(("EDNS and a TXT in additional", extra));
    // Malformed or not a query: FORMERR and NOTIMP are headers only.
    let mut bad = with(None, RecordType::A, "x.example.");
    bad[12] = 0x50;
    v.push(("FORMERR", bad));
    let mut notify = with(None, RecordType::SOA, "x.example.");
    notify[2] = 4 << 3;
    v.push(("NOTIMP", notify));
    v
}

#[test]
fn answers_to_uncovered_or_refused_clients_never_amplify() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = format!(
        "{}{}[[policy]]\nsource = [\"{}/28\"]\nforward = \"up\"\n\n[[policy]]\nsource = [\"{}/28\"]\nforward = \"refuse\"\n\n[static]\nrecords = {{ \"example\" = \"10.0.0.1\" }}\n",
        server(&b, "timeout = \"300ms\"\nworkers = 2\n"),
        forwarder("up", up.addr),
        b.ip(0),
        b.ip(16),
    );
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    for host in [100, 17] {
        // .100 is covered by no policy; .17 by a refuse policy.
        let from = IpAddr::V4(b.ip(host));
        for (what, msg) in shapes() {
            let reply = exchange_raw(p.addr, from, &msg, Duration::from_secs(5))
                .unwrap_or_else(|| panic!("{what} from .{host}: no answer"));
            assert!(
                reply.len() <= msg.len(),
                "{what} from .{host}: {} bytes answer a {}-byte query",
                reply.len(),
                msg.len()
            );
            assert_eq!(&reply[..2], &[0x5a, 0x5a], "{what}");
            let rcode = reply[3] & 0x0f;
            let expected = match what {
                "FORMERR" => 1,
                "NOTIMP" => 4,
                _ => 5,
            };
            assert_eq!(rcode, expected, "{what} from .{host}");
        }
    }
    assert_eq!(up.udp_count(), 0, "nothing was forwarded");
}

/// A hand-driven upstream: receives the proxy's query, then the test decides
/// what is sent back, from where.
struct Manual {
    socket: UdpSocket,
}

impl Manual {
    fn new(addr: SocketAddr) -> Manual {
        let socket = UdpSocket::bind(addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Manual { socket }
    }

    /// The next query and the proxy socket it came from.
    fn recv(&self) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 4096];
        let (n, from) = self.socket.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from)
    }
}

fn send_from(addr: SocketAddr, msg: &[u8], to: SocketAddr) {
    UdpSocket::bind(addr).unwrap().send_to(msg, to).unwrap();
}

/// Reads answers for `wait`; each as (ID, A addresses).
fn answers(client: &UdpSocket, wait: Duration) -> Vec<Message> {
    client.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = client.recv_from(&mut buf) {
        out.push(Message::from_vec(&buf[..n]).unwrap());
    }
    out
}

#[test]
fn forged_replayed_and_late_responses_are_dropped() {
    let b = Block::new();
    let real = b.addr(2, 5300);
    let upstream = Manual::new(real);
    let config = format!(
        "{}{}[[policy]]\nsource = [\"{}\"]\nforward = \"up\"\n",
        server(&b, "timeout = \"1s\"\nworkers = 1\n"),
        forwarder("up", real),
        b.net()
    );
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let client = client_socket(&b, 20);
    let good = Ipv4Addr::new(192, 0, 2, 2);
    let evil = Ipv4Addr::new(6, 6, 6, 6);

    let q = query("www.example.com.", RecordType::A);
    client.send_to(&q.to_vec().unwrap(), p.addr).unwrap();
    let (sent, proxy_socket) = upstream.recv();
    let forged = respond(&sent, evil, ResponseCode::NoError, false);

    // Right ID and question, wrong address (same port).
    send_from(b.addr(3, 5300), &forged, proxy_socket);
    // Right ID and question, right address, wrong port.
    send_from(b.addr(2, 5301), &forged, proxy_socket);
    // Right ID, address and name, wrong type; then wrong class.
    // (`query` adds no OPT record: the question ends the message.)
    for (at, value) in [(sent.len() - 3, 28u8), (sent.len() - 1, 3)] {
        let mut other = sent.clone();
        other[at] = value; // AAAA instead of A; class CH instead of IN
        let r = respond(&other, evil, ResponseCode::NoError, false);
        upstream.socket.send_to(&r, proxy_socket).unwrap();
    }
    // Right address, port and question, an ID not in flight.
    let mut wrong_id = forged.clone();
    wrong_id[0] ^= 0x55;
    upstream.socket.send_to(&wrong_id, proxy_socket).unwrap();
    assert!(
        answers(&client, Duration::from_millis(300)).is_empty(),
        "no forgery reaches the client"
    );

    // The real answer, then a replay of it and a forgery with the same ID
    // (these reach a closed port: the socket is replaced once answered).
    let real_answer = respond(&sent, good, ResponseCode::NoError, false);
    upstream.socket.send_to(&real_answer, proxy_socket).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    upstream.socket.send_to(&real_answer, proxy_socket).unwrap();
    upstream.socket.send_to(&forged, proxy_socket).unwrap();
    let got = answers(&client, Duration::from_millis(500));
    assert_eq!(got.len(), 1, "exactly one answer: {got:?}");
    assert_eq!(got[0].metadata.id, q.metadata.id);
    assert_eq!(addresses(&got[0]), vec![IpAddr::V4(good)]);

    // A late answer, after the proxy gave up: the client has its SERVFAIL
    // and nothing else.
    let q = query("late.example.com.", RecordType::A);
    client.send_to(&q.to_vec().unwrap(), p.addr).unwrap();
    let (sent, proxy_socket) = upstream.recv();
    let got = answers(&client, Duration::from_millis(1500));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].metadata.response_code, ResponseCode::ServFail);
    let late = respond(&sent, good, ResponseCode::NoError, false);
    upstream.socket.send_to(&late, proxy_socket).unwrap();
    assert!(answers(&client, Duration::from_millis(300)).is_empty());

    let log = p.log_text();
    let dropped = log.matches("dropped a datagram").count();
    assert!(
        dropped >= 5,
        "each forgery is dropped and logged ({dropped}):\n{log}"
    );
    for why in ["WrongSource", "WrongQuestion", "UnknownId"] {
        assert!(log.contains(why), "{why} in:\n{log}");
    }
}
