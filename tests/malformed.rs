//! Every kind of malformed query, sent to the real binary over loopback: each
//! must get FORMERR (or NOTIMP), or be dropped, never crash the proxy, and the
//! proxy must go on answering good queries over UDP and TCP afterwards.
//! The cases are built byte by byte, since no DNS library writes them.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

const PROXY: u8 = 1;
const WAIT: Duration = Duration::from_millis(300);

/// What the proxy may do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// FORMERR: a bare header with the query's ID.
    FormErr,
    /// No answer at all.
    Drop,
    /// A well-formed answer with this rcode repeating the question (the
    /// message is acceptable as far as the proxy reads it).
    Answer(u8),
}

/// A 12-byte header: ID 0xbeef, RD, and the four counts.
fn header(qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut m = vec![0xbe, 0xef, 0x01, 0x00];
    for c in [qd, an, ns, ar] {
        m.extend_from_slice(&c.to_be_bytes());
    }
    m
}

/// Wire-format labels of a dotted name, with the root's zero byte.
fn name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in n.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// Type A, class IN.
const A_IN: [u8; 4] = [0, 1, 0, 1];

/// An OPT record owned by `owner` with `rdata` (its RDLENGTH is `rdlen`).
fn opt(owner: &[u8], rdlen: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&41u16.to_be_bytes());
    r.extend_from_slice(&1232u16.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&rdlen.to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

/// A good query for `n` with `ar` additional records following in `extra`.
fn query_with(n: &str, ar: u16, extra: &[u8]) -> Vec<u8> {
    let mut m = header(1, 0, 0, ar);
    m.extend(name(n));
    m.extend_from_slice(&A_IN);
    m.extend_from_slice(extra);
    m
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let mut cases = Vec::new();
    let mut add = |what, msg: Vec<u8>, expect| cases.push((what, msg, expect));

    add("zero-length datagram", vec![], Expect::Drop);
    add("shorter than a header", vec![0xbe, 0xef, 1], Expect::Drop);
    add(
        "a header and nothing else",
        header(1, 0, 0, 0),
        Expect::FormErr,
    );
    let mut resp = query_with("a.example", 0, &[]);
    resp[2] |= 0x80;
    add("a response sent as a query", resp, Expect::Drop);

    // Compression: pointers may not appear in the question; pointer loops
    // and pointers past the end must not be followed anywhere.
    let mut m = header(1, 0, 0, 0);
    m.extend_from_slice(&[0xc0, 12]);
    m.extend_from_slice(&A_IN);
    add(
        "question name is a pointer to itself (loop)",
        m,
        Expect::FormErr,
    );
    let mut m = header(1, 0, 0, 0);
    m.extend_from_slice(&[1, b'a', 0xc0, 12]);
    m.extend_from_slice(&A_IN);
    add("label then a pointer back to it (loop)", m, Expect::FormErr);
    let mut m = header(1, 0, 0, 0);
    m.extend_from_slice(&[0xc0, 0xff]);
    m.extend_from_slice(&A_IN);
    add("question pointer past the end", m, Expect::FormErr);
    let mut m = header(1, 0, 0, 0);
    m.push(0xc0);
    add("message ends inside a pointer", m, Expect::FormErr);
    // In the additional section a pointer is legal: the proxy skips it
    // without following it, so a loop or a target past the end costs nothing.
    let at = query_with("a.example", 0, &[]).len() as u8;
    let mut rec = vec![0xc0, at]; // points at itself
    rec.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0]); // TXT, one empty string
    add(
        "additional record owner is a pointer loop",
        query_with("a.example", 1, &rec),
        Expect::Answer(5),
    );
    add(
        "OPT owned by a pointer",
        query_with("a.example", 1, &opt(&[0xc0, at], 0, &[])),
        Expect::FormErr,
    );
    let mut rec = vec![0xc0, 0xff];
    rec.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0]); // TXT, one empty string
    add(
        "additional record owner points past the end",
        query_with("a.example", 1, &rec),
        Expect::Answer(5),
    );

    // Labels and names.
    let mut m = header(1, 0, 0, 0);
    m.push(64);
    m.extend_from_slice(&[b'a'; 64]);
    m.push(0);
    m.extend_from_slice(&A_IN);
    add("label of 64 bytes", m, Expect::FormErr);
    for (what, b) in [
        ("label type 0x40 (extended)", 0x40),
        ("label type 0x80 (reserved)", 0x80),
    ] {
        let mut m = header(1, 0, 0, 0);
        m.extend_from_slice(&[b, b'a', 0]);
        m.extend_from_slice(&A_IN);
        add(what, m, Expect::FormErr);
    }
    let long = vec!["a".repeat(63); 4].join("."); // 4 * 64 + 1 = 257 bytes
    add(
        "name of 257 bytes",
        query_with(&long, 0, &[]),
        Expect::FormErr,
    );
    let longest = vec!["a".repeat(61); 4].join("."); // 4 * 62 + 1 = 249 bytes
    add(
        "name of 249 bytes (fine)",
        query_with(&longest, 0, &[]),
        Expect::Answer(5),
    );
    let mut m = header(1, 0, 0, 0);
    m.extend_from_slice(&[5, b'a', b'b']);
    add("message ends inside a label", m, Expect::FormErr);
    let mut m = header(1, 0, 0, 0);
    m.extend(name("a.example"));
    m.extend_from_slice(&[0, 1]);
    add(
        "message ends inside the question's class",
        m,
        Expect::FormErr,
    );

    // Counts that lie.
    let good = query_with("a.example", 0, &[]);
    for (what, at, value) in [
        ("no question", 5, 0u8),
        ("two questions, one present", 5, 2),
        ("nine answers, none present", 7, 9),
        ("three authority records, none present", 9, 3),
        ("255 additional records, none present", 11, 255),
    ] {
        let mut m = good.clone();
        m[at] = value;
        add(what, m, Expect::FormErr);
    }
    let mut m = good.clone();
    m[4] = 0xff; // QDCOUNT 65281
    add("65281 questions", m, Expect::FormErr);

    // EDNS.
    add(
        "OPT with no options (fine)",
        query_with("a.example", 1, &opt(&[0], 0, &[])),
        Expect::Answer(5),
    );
    add(
        "OPT whose RDLENGTH runs past the end",
        query_with("a.example", 1, &opt(&[0], 8, &[0, 10, 0, 4])),
        Expect::FormErr,
    );
    let cut = opt(&[0], 0, &[]);
    add(
        "OPT cut inside its fixed part",
        query_with("a.example", 1, &cut[..6]),
        Expect::FormErr,
    );
    // The proxy reads the options (to strip Client Subnet and to keep
    // queries with options out of the cache): one running past the RDATA
    // is malformed.
    add(
        "OPT option longer than the OPT's RDATA",
        query_with("a.example", 1, &opt(&[0], 4, &[0, 10, 0, 40])),
        Expect::FormErr,
    );
    let mut two = opt(&[0], 0, &[]);
    two.extend(opt(&[0], 0, &[]));
    add(
        "two OPT records",
        query_with("a.example", 2, &two),
        Expect::FormErr,
    );
    add(
        "OPT owned by a name other than the root",
        query_with("a.example", 1, &opt(&name("x"), 0, &[])),
        Expect::FormErr,
    );

    // Garbage.
    let mut noise: Vec<u8> = (0..700u32).map(|i| (i * 131 % 251) as u8).collect();
    noise[2] = 0x01;
    noise[3] = 0;
    add(
        "700 bytes of noise with a query header",
        noise,
        Expect::FormErr,
    );
    cases
}

/// The proxy's answer to one case, checked against what is allowed.
fn check(what: &str, msg: &[u8], expect: Expect, reply: Option<Vec<u8>>) {
    match (expect, reply) {
        (Expect::Drop, None) => {}
        (Expect::Drop, Some(r)) => panic!("{what}: expected no answer, got {r:02x?}"),
        (_, None) => panic!("{what}: expected {expect:?}, got no answer"),
        (Expect::FormErr, Some(r)) => {
            assert_eq!(r.len(), 12, "{what}: FORMERR is a bare header: {r:02x?}");
            assert_eq!(&r[..2], &msg[..2], "{what}: the ID comes back");
            assert_eq!(r[2] & 0x80, 0x80, "{what}: QR");
            assert_eq!(r[3] & 0x0f, 1, "{what}: FORMERR, got {r:02x?}");
            assert_eq!(&r[4..], &[0; 8], "{what}: no records");
        }
        (Expect::Answer(rcode), Some(r)) => {
            let m = Message::from_vec(&r).unwrap_or_else(|e| panic!("{what}: {e}: {r:02x?}"));
            assert_eq!(&r[..2], &msg[..2], "{what}: the ID comes back");
            assert_eq!(
                u16::from(m.metadata.response_code),
                u16::from(rcode),
                "{what}"
            );
            assert_eq!(m.queries.len(), 1, "{what}");
            assert!(r.len() <= msg.len(), "{what}: no amplification");
        }
    }
}

/// Sends `frames` (raw bytes, length prefixes included) on one TCP
/// connection from `from`; returns the framed replies read within `wait`.
fn tcp_raw(server: SocketAddr, from: IpAddr, bytes: &[u8], wait: Duration) -> Vec<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from, 0).into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(wait)).unwrap();
    // The proxy may close the connection before reading it all.
    let _ = stream.write_all(bytes);
    let mut replies = Vec::new();
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return replies;
        }
        let mut buf = vec![0; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut buf).is_err() {
            return replies;
        }
        replies.push(buf);
    }
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut f = (msg.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

/// The proxy's config: the block's /24 refused (so no case reaches an
/// upstream, which would have to parse it), one static name.
fn start() -> (Block, Proxy) {
    let b = Block::new();
    let config = format!(
        "[server]\nlisten = [\"{}\"]\ntimeout = \"300ms\"\nworkers = 2\ntcp_idle_timeout = \"1s\"\n\n[log]\nqueries = true\n\n[[policy]]\nsource = [\"{}\"]\nforward = \"refuse\"\n",
        b.addr(PROXY, 5353),
        b.net()
    );
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    (b, p)
}

fn assert_still_serving(p: &mut Proxy, from: IpAddr) {
    let r = ask(p.addr, from, "still.example.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let r = ask_tcp(p.addr, from, &[query("still.example.", RecordType::A)]);
    assert_eq!(r[0].metadata.response_code, ResponseCode::Refused);
    assert!(p.child.try_wait().unwrap().is_none(), "vpndns exited");
    assert!(!p.log_text().contains("panicked"), "{}", p.log_text());
}

#[test]
fn every_malformed_datagram_gets_formerr_or_is_dropped() {
    let (b, mut p) = start();
    let client = IpAddr::V4(b.ip(20));
    for (what, msg, expect) in cases() {
        let reply = exchange_raw(p.addr, client, &msg, WAIT);
        check(what, &msg, expect, reply);
    }
    assert_still_serving(&mut p, client);
}

#[test]
fn every_malformed_message_over_tcp_gets_formerr_or_is_dropped() {
    let (b, mut p) = start();
    let client = IpAddr::V4(b.ip(21));
    for (what, msg, expect) in cases() {
        // A zero-length frame is a framing error, not a message: the
        // connection may be closed without an answer.
        let expect = if msg.len() < 12 { Expect::Drop } else { expect };
        let replies = tcp_raw(p.addr, client, &framed(&msg), WAIT);
        assert!(replies.len() <= 1, "{what}: one answer at most");
        check(what, &msg, expect, replies.into_iter().next());
    }
    assert_still_serving(&mut p, client);
}

#[test]
fn largest_messages_and_broken_frames_over_tcp() {
    let (b, mut p) = start();
    let client = IpAddr::V4(b.ip(22));

    // A 65535-byte frame of noise behind a query header: FORMERR.
    let mut noise = header(1, 0, 0, 0);
    noise.extend((0..65535 - 12).map(|i: u32| (i * 7 % 253) as u8));
    noise[12] = 0x41; // a label length over 63
    let replies = tcp_raw(p.addr, client, &framed(&noise), Duration::from_secs(2));
    assert_eq!(replies.len(), 1);
    check(
        "64 KiB of noise",
        &noise,
        Expect::FormErr,
        replies.into_iter().next(),
    );

    // A valid 65535-byte query (padded by a large EDNS option): answered,
    // and the answer is small.
    let pad = 65535 - query_with("big.example", 1, &opt(&[0], 0, &[])).len() - 4;
    let mut rdata = vec![0, 12]; // EDNS padding option
    rdata.extend_from_slice(&(pad as u16).to_be_bytes());
    rdata.resize(4 + pad, 0);
    let big = query_with("big.example", 1, &opt(&[0], rdata.len() as u16, &rdata));
    assert_eq!(big.len(), 65535);
    let replies = tcp_raw(p.addr, client, &framed(&big), Duration::from_secs(2));
    assert_eq!(replies.len(), 1);
    check(
        "64 KiB query",
        &big,
        Expect::Answer(5),
        replies.into_iter().next(),
    );

    // The same query as one 65507-byte UDP datagram (the most IPv4 carries):
    // UDP datagrams over 4096 bytes are dropped unread (see batch.rs; no real
    // query is that large, and TCP carries the large ones).
    let udp_big = query_with(
        "big.example",
        1,
        &opt(&[0], rdata.len() as u16 - 28, &rdata[..rdata.len() - 28]),
    );
    assert_eq!(udp_big.len(), 65507);
    let reply = exchange_raw(p.addr, client, &udp_big, WAIT);
    check("64 KiB datagram", &udp_big, Expect::Drop, reply);

    // A frame that promises 65535 bytes and stops after 100: nothing comes
    // back, and the connection is given up (idle timeout 1 s).
    let mut partial = vec![0xff, 0xff];
    partial.extend_from_slice(&noise[..100]);
    assert!(tcp_raw(p.addr, client, &partial, Duration::from_millis(1500)).is_empty());

    // A zero-length frame followed by a good query: at most the query's
    // answer, and only if the proxy chose to read on.
    let mut stream = framed(&[]);
    stream.extend(framed(&query_with("a.example", 0, &[])));
    let replies = tcp_raw(p.addr, client, &stream, WAIT);
    for r in &replies {
        assert_eq!(r[3] & 0x0f, 5, "REFUSED: {r:02x?}");
    }

    // Pipelined: a malformed message between two good ones on one
    // connection gets its FORMERR and the good ones their answers.
    let good1 = query_with("one.example", 0, &[]);
    let mut good2 = query_with("two.example", 0, &[]);
    good2[1] = 0xf0;
    let mut bad = header(1, 0, 0, 0);
    bad[1] = 0x0b;
    bad.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut stream = framed(&good1);
    stream.extend(framed(&bad));
    stream.extend(framed(&good2));
    let replies = tcp_raw(p.addr, client, &stream, WAIT);
    assert_eq!(replies.len(), 3, "three answers on one connection");
    let by_id = |id: u8| replies.iter().find(|r| r[1] == id).unwrap();
    check(
        "pipelined good",
        &good1,
        Expect::Answer(5),
        Some(by_id(0xef).clone()),
    );
    check(
        "pipelined bad",
        &bad,
        Expect::FormErr,
        Some(by_id(0x0b).clone()),
    );
    check(
        "pipelined good",
        &good2,
        Expect::Answer(5),
        Some(by_id(0xf0).clone()),
    );

    assert_still_serving(&mut p, client);
}

/// `vpndns check` (the same loading as startup and reload) on a config
/// naming `list`: its exit status and what it printed.
fn check_with_list(dir: &std::path::Path, list: &std::path::Path) -> (bool, String) {
    let config = dir.join("vpndns.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:5353\"]\n\n[block]\nlists = [{:?}]\n",
            list.display().to_string()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpndns"))
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused without reading the file"
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn huge_binary_and_endless_lists_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.txt");
    // 1 GiB, sparse: nothing is written, so this is instant, and vpndns must
    // refuse it by its size (reading it would take seconds and, whole, 1 GiB).
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let (ok, text) = check_with_list(dir.path(), &huge);
    assert!(!ok);
    assert!(text.contains("huge.txt"), "names the file: {text}");
    assert!(
        text.contains("1073741824 bytes is over the limit"),
        "says why: {text}"
    );

    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, b"ads.example\n\x7fELF\x02\x01\x01\x00\x00").unwrap();
    let (ok, text) = check_with_list(dir.path(), &binary);
    assert!(!ok);
    assert!(text.contains("line 2: binary data"), "{text}");

    let zero = std::path::Path::new("/dev/zero");
    if zero.exists() {
        let (ok, text) = check_with_list(dir.path(), zero);
        assert!(!ok);
        assert!(text.contains("binary data"), "{text}");
    }

    let good = dir.path().join("good.txt");
    std::fs::write(&good, "ads.example\n").unwrap();
    let (ok, text) = check_with_list(dir.path(), &good);
    assert!(ok, "{text}");
}
