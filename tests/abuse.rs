//! A client that floods, or holds TCP connections open, cannot starve the
//! others.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn config(b: &Block, server_extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"{}\"]\nworkers = 2\n{server_extra}\n\n[control]\nlisten = \"{}\"\n\n[[policy]]\nsource = [\"{}\"]\nforward = \"refuse\"\n\n[[policy]]\nsource = [\"{}/25\"]\nforward = \"source\"\n\n[static]\nrecords = {{ \"nas.wan\" = \"10.0.0.1\" }}\n",
        b.addr(1, 5353),
        b.addr(1, 8053),
        b.ip(200),
        b.ip(0)
    )
}

fn tcp_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from, 0).into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream
}

/// Whether the server closed `stream` (EOF or reset) within its read timeout.
fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
        && stream.read(&mut buf).map_or(true, |n| n == 0)
}

#[test]
fn a_flooding_client_is_limited_and_the_others_are_still_answered() {
    let b = Block::new();
    let p = Proxy::start(
        b.addr(1, 5353),
        &config(&b, "client_rate = 100\nclient_burst = 50"),
        &[],
    );
    let flooder = UdpSocket::bind(SocketAddr::new(IpAddr::V4(b.ip(10)), 0)).unwrap();
    flooder
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let sender = flooder.try_clone().unwrap();
    let (to, q) = (p.addr, query("nas.wan.", RecordType::A).to_vec().unwrap());
    let started = Instant::now();
    // About 20,000 queries a second for one second, from one address.
    let flood = std::thread::spawn(move || {
        for i in 0..20_000u32 {
            let _ = sender.send_to(&q, to);
            if i % 20 == 19 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    // Meanwhile a well-behaved client, retrying like a stub resolver, gets
    // every answer.
    let good = IpAddr::V4(b.ip(11));
    for i in 0..20 {
        let q = query("nas.wan.", RecordType::A).to_vec().unwrap();
        let answered =
            (0..3).any(|_| exchange_raw(to, good, &q, Duration::from_millis(500)).is_some());
        assert!(answered, "query {i} of the good client was never answered");
    }
    flood.join().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let mut answered = 0;
    let mut buf = [0u8; 512];
    while flooder.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    let allowed = 50.0 + 100.0 * (elapsed + 0.3);
    assert!(
        answered as f64 <= allowed,
        "{answered} answers to the flood in {elapsed:.2}s"
    );
    assert!(answered >= 50, "the burst is served: {answered}");
    let (_, text) = http(b.addr(1, 8053), "GET", "/metrics");
    let limited = text
        .lines()
        .find(|l| l.starts_with("vpndns_queries_total{action=\"ratelimited\",protocol=\"udp\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    // The kernel may drop some of the flood before vpndns reads it; what
    // vpndns read and did not answer was counted.
    assert!(
        limited >= 5000.0 && limited + answered as f64 <= 20_000.0,
        "{limited} limited, {answered} answered"
    );
}

#[test]
fn tcp_connections_are_bounded_per_client_and_idle_ones_closed() {
    let b = Block::new();
    let p = Proxy::start(
        b.addr(1, 5353),
        &config(&b, "tcp_max_per_client = 2\ntcp_idle_timeout = \"400ms\""),
        &[],
    );
    let hog = IpAddr::V4(b.ip(10));
    let mut held: Vec<TcpStream> = (0..2).map(|_| tcp_from(hog, p.addr)).collect();
    std::thread::sleep(Duration::from_millis(50));
    let mut third = tcp_from(hog, p.addr);
    assert!(
        closed(&mut third),
        "a third connection from the same address is closed"
    );
    // Another client still gets in and is answered over TCP.
    let answers = ask_tcp(
        p.addr,
        IpAddr::V4(b.ip(11)),
        &[query("nas.wan.", RecordType::A)],
    );
    assert_eq!(answers[0].metadata.response_code, ResponseCode::NoError);

    // Slow loris: half a length prefix, then nothing. Closed after the idle timeout.
    held[0].write_all(&[0]).unwrap();
    let t = Instant::now();
    assert!(closed(&mut held[0]));
    assert!(closed(&mut held[1]));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    // Their slots are free again.
    let answers = ask_tcp(p.addr, hog, &[query("nas.wan.", RecordType::A)]);
    assert_eq!(answers[0].metadata.response_code, ResponseCode::NoError);
}
