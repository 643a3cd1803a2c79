//! Blocklist groups per policy and lists fetched by URL, against the real
//! binary and a small HTTP server this test runs on loopback (each test in
//! its own 127.x.y.0/24): refresh, 304, broken and binary downloads, the
//! size bound, restart from the cache dir, and the real lists over HTTP.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const PROXY: u8 = 1;

/// What the test server answers for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with this body and ETag (304 when the client already has it).
    List { body: Vec<u8>, etag: String },
    /// 200 with this body and no Content-Length, ended by closing.
    Unsized(Vec<u8>),
    /// An error status.
    Status(u16),
}

/// A request as the server saw it: path and If-None-Match.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    path: String,
    if_none_match: Option<String>,
}

/// A tiny HTTP/1.1 server on loopback: one thread, one request per
/// connection; stops when dropped.
struct ListServer {
    addr: SocketAddr,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ListServer {
    fn start(addr: SocketAddr) -> ListServer {
        ListServer::start_with(addr, None)
    }

    /// The same over TLS (rustls with ring), with this certificate.
    fn start_with(addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> ListServer {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (replies.clone(), seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(5)))
                            .unwrap();
                        match &tls {
                            None => serve_one(stream, &r, &s),
                            Some(config) => {
                                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                                let mut tls = rustls::StreamOwned::new(conn, stream);
                                serve_one(&mut tls, &r, &s);
                                tls.conn.send_close_notify();
                                let _ = tls.flush();
                            }
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ListServer {
            addr,
            replies,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn set(&self, path: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(path.into(), reply);
    }

    fn list(&self, path: &str, body: &str, etag: &str) {
        self.set(
            path,
            Reply::List {
                body: body.as_bytes().to_vec(),
                etag: etag.into(),
            },
        );
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ListServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(
    mut stream: impl Read + Write,
    replies: &Mutex<HashMap<String, Reply>>,
    seen: &Mutex<Vec<Request>>,
) {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut if_none_match = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(v.trim().to_string());
        }
    }
    seen.lock().unwrap().push(Request {
        path: path.clone(),
        if_none_match: if_none_match.clone(),
    });
    drop(reader);
    let reply = replies.lock().unwrap().get(&path).cloned();
    let mut out = stream;
    let _ = match reply {
        Some(Reply::List { etag, .. }) if if_none_match.as_deref() == Some(etag.as_str()) => {
            write!(
                out,
                "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n"
            )
        }
        Some(Reply::List { body, etag }) => write!(
            out,
            "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .and_then(|()| out.write_all(&body)),
        Some(Reply::Unsized(body)) => write!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .and_then(|()| out.write_all(&body)),
        Some(Reply::Status(code)) => write!(
            out,
            "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        None => write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    };
    let _ = out.flush();
}

fn ip(b: &Block, host: u8) -> IpAddr {
    IpAddr::V4(b.ip(host))
}

/// `[server]`, `[control]` and an upstream forwarder on the block.
fn head(b: &Block, up: SocketAddr) -> String {
    format!(
        "[server]\nlisten = [\"{}\"]\ntimeout = \"300ms\"\nworkers = 1\n\n[control]\nlisten = \"{}\"\n\n\
         [[forwarder]]\nname = \"up\"\naddress = \"{up}\"\n\n",
        b.addr(PROXY, 5353),
        b.addr(PROXY, 8053)
    )
}

fn blocked(p: &Proxy, from: IpAddr, name: &str) -> bool {
    let r = ask(p.addr, from, name, RecordType::A);
    r.metadata.response_code == ResponseCode::NXDomain
}

/// Waits until `name` is blocked (or not) for `from`.
fn wait_blocked(p: &Proxy, from: IpAddr, name: &str, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked(p, from, name) != want {
        assert!(
            Instant::now() < deadline,
            "{name} for {from}: blocked should be {want}\n{}",
            p.log_text()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn refresh(b: &Block) -> serde_json::Value {
    let (code, v) = http_json(b.addr(PROXY, 8053), "POST", "/lists/refresh");
    assert_eq!(code, 200, "{v}");
    v
}

fn status(b: &Block) -> serde_json::Value {
    http_json(b.addr(PROXY, 8053), "GET", "/status").1
}

fn failures(b: &Block) -> u64 {
    let (_, text) = http(b.addr(PROXY, 8053), "GET", "/metrics");
    let line = text
        .lines()
        .find(|l| l.starts_with("vpndns_list_refresh_failures_total"))
        .unwrap_or_else(|| panic!("no failure counter in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// The status entry of the list written as `source`.
fn list_status(b: &Block, source: &str) -> serde_json::Value {
    let s = status(b);
    let all = s["blocklists"].as_array().unwrap().clone();
    all.into_iter()
        .find(|l| l["source"] == source)
        .unwrap_or_else(|| panic!("no {source} in {s}"))
}

#[test]
fn groups_apply_per_client_network() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let http = ListServer::start(b.addr(3, 8080));
    http.list("/ads.txt", "ads.example\n", "\"a1\"");
    let cache = tempfile::tempdir().unwrap();
    let kids = format!("{}/28", b.ip(16));
    let work = format!("{}/28", b.ip(32));
    let config = format!(
        "{}[block]\ncache_dir = {:?}\n\n[[blocklist]]\nname = \"ads\"\nlists = [{:?}]\n\n\
         [[blocklist]]\nname = \"adult\"\nlists = [\"adult.txt\"]\n\n\
         [[policy]]\nsource = [\"{kids}\"]\nforward = \"up\"\nblock = [\"ads\", \"adult\"]\n\n\
         [[policy]]\nsource = [\"{work}\"]\nforward = \"up\"\nblock = [\"ads\"]\n",
        head(&b, up.addr),
        cache.path(),
        http.url("/ads.txt"),
    );
    let p = Proxy::start(
        b.addr(PROXY, 5353),
        &config,
        &[("adult.txt", "adult.example\n")],
    );
    let (kid, worker) = (ip(&b, 17), ip(&b, 33));
    wait_blocked(&p, kid, "x.ads.example", true);
    assert!(blocked(&p, worker, "ads.example"));
    assert!(blocked(&p, kid, "adult.example"));
    assert!(
        !blocked(&p, worker, "adult.example"),
        "not in the work policy's groups"
    );
    let (_, v) = http_json(
        b.addr(PROXY, 8053),
        "GET",
        &format!("/policy?client={kid}&name=www.adult.example"),
    );
    assert_eq!(
        (v["group"].as_str(), v["list"].as_str()),
        (Some("adult"), Some("adult.txt")),
        "{v}"
    );
    assert!(
        v["explanation"].as_str().unwrap().contains("(group adult)"),
        "{v}"
    );
}

#[test]
fn refresh_picks_up_a_change_and_304_keeps_the_list() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let http = ListServer::start(b.addr(3, 8080));
    http.list("/l.txt", "one.example\nboth.example\n", "\"v1\"");
    let cache = tempfile::tempdir().unwrap();
    let url = http.url("/l.txt");
    let config = format!(
        "{}[block]\nlists = [{url:?}]\ncache_dir = {:?}\n\n[[policy]]\nsource = [\"{}\"]\nforward = \"up\"\n",
        head(&b, up.addr),
        cache.path(),
        b.net()
    );
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let c = ip(&b, 20);
    wait_blocked(&p, c, "one.example", true);
    assert_eq!(
        http.requests()[0].if_none_match,
        None,
        "no copy: unconditional"
    );

    http.list("/l.txt", "two.example\nboth.example\n", "\"v2\"");
    let v = refresh(&b);
    assert_eq!(v["blocklists"][0]["entries"], 2, "{v}");
    wait_blocked(&p, c, "two.example", true);
    assert!(!blocked(&p, c, "one.example"));
    assert_eq!(http.requests()[1].if_none_match.as_deref(), Some("\"v1\""));

    let before = status(&b)["lists"]["blocked_domains"].clone();
    refresh(&b);
    let last = http.requests().last().unwrap().clone();
    assert_eq!(last.if_none_match.as_deref(), Some("\"v2\""), "conditional");
    assert!(p.log_text().contains("not modified"), "{}", p.log_text());
    assert!(blocked(&p, c, "two.example") && blocked(&p, c, "both.example"));
    assert_eq!(status(&b)["lists"]["blocked_domains"], before);
    let s = list_status(&b, &url);
    assert_eq!(
        (s["kind"].as_str(), s["entries"].as_u64()),
        (Some("url"), Some(2)),
        "{s}"
    );
    assert!(s["last_success"].as_str().unwrap().ends_with('Z'), "{s}");
    assert!(s["failure"].is_null(), "{s}");
    assert_eq!(failures(&b), 0);
}

#[test]
fn a_broken_binary_shrunk_or_oversized_download_keeps_the_last_good_list() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let http = ListServer::start(b.addr(3, 8080));
    let good: String = (0..40).map(|i| format!("n{i}.bad.example\n")).collect();
    http.list("/l.txt", &good, "\"g\"");
    let cache = tempfile::tempdir().unwrap();
    let url = http.url("/l.txt");
    let config = format!(
        "{}[block]\nlists = [{url:?}]\ncache_dir = {:?}\nmax_list_bytes = 2000\n\n[[policy]]\nsource = [\"{}\"]\nforward = \"up\"\n",
        head(&b, up.addr),
        cache.path(),
        b.net()
    );
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let c = ip(&b, 20);
    wait_blocked(&p, c, "n7.bad.example", true);
    let cases: [(Reply, &str); 6] = [
        (Reply::Status(500), "HTTP status 500"),
        (
            Reply::List {
                body: b"n1.bad.example\n\x00\x7fELF\x02\x01".to_vec(),
                etag: "\"bin\"".into(),
            },
            "binary data",
        ),
        (
            Reply::List {
                body: b"<html>\n<head><title>Log in</title></head>\n<body>portal</body>\n</html>\n"
                    .to_vec(),
                etag: "\"html\"".into(),
            },
            "lines not understood",
        ),
        (
            Reply::List {
                body: b"n1.bad.example\n".to_vec(),
                etag: "\"tiny\"".into(),
            },
            "shrank from 40 to 1 entries",
        ),
        (
            Reply::List {
                body: "x.example\n".repeat(300).into_bytes(),
                etag: "\"big\"".into(),
            },
            "larger than max_list_bytes",
        ),
        (
            Reply::Unsized("y.example\n".repeat(300).into_bytes()),
            "larger than max_list_bytes",
        ),
    ];
    for (n, (reply, why)) in cases.into_iter().enumerate() {
        http.set("/l.txt", reply);
        refresh(&b);
        let s = list_status(&b, &url);
        assert!(s["failure"].as_str().unwrap().contains(why), "{why}: {s}");
        assert_eq!(s["entries"], 40, "{s}");
        assert_eq!(failures(&b), n as u64 + 1);
        assert!(blocked(&p, c, "n7.bad.example") && blocked(&p, c, "x.n39.bad.example"));
        assert!(!blocked(&p, c, "x.example") && !blocked(&p, c, "y.example"));
    }
    assert!(
        p.log_text()
            .contains("refresh failed, keeping the last good copy")
    );
    // Nothing but the good copy and its meta is left in the cache dir.
    let mut files: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].ends_with(".list") && files[1].ends_with(".meta"),
        "{files:?}"
    );
}

#[test]
fn a_restart_with_the_server_gone_serves_the_cached_copy() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let cache = tempfile::tempdir().unwrap();
    let server_addr = b.addr(3, 8080);
    let url = format!("http://{server_addr}/l.txt");
    let gone = format!("http://{}/never.txt", b.addr(4, 8080));
    let config = format!(
        "{}[block]\nlists = [\"local.txt\"]\ncache_dir = {:?}\n\n[[blocklist]]\nname = \"remote\"\nlists = [{url:?}]\n\n\
         [[blocklist]]\nname = \"unreachable\"\nlists = [{gone:?}]\n\n\
         [[policy]]\nsource = [\"{}\"]\nforward = \"up\"\nblock = [\"default\", \"remote\", \"unreachable\"]\n",
        head(&b, up.addr),
        cache.path(),
        b.net()
    );
    let files = [("local.txt", "local.example\n")];
    let c = ip(&b, 20);
    {
        let http = ListServer::start(server_addr);
        http.list("/l.txt", "cached.example\n", "\"c\"");
        let p = Proxy::start(b.addr(PROXY, 5353), &config, &files);
        wait_blocked(&p, c, "cached.example", true);
        // No copy of the unreachable list: the rest serves, the group is empty.
        assert!(blocked(&p, c, "local.example"));
        let s = list_status(&b, &gone);
        assert_eq!(s["entries"], 0);
        assert_eq!(s["empty_because"], "no copy downloaded yet", "{s}");
        assert!(s["failure"].as_str().is_some(), "{s}");
    }
    // Both servers gone: the cached copy serves from the first query on.
    let started = Instant::now();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &files);
    assert!(blocked(&p, c, "cached.example"), "{}", p.log_text());
    eprintln!("blocked from the cache {:?} after start", started.elapsed());
    assert!(blocked(&p, c, "local.example"));
    assert_eq!(
        ask(p.addr, c, "www.example.org", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NoError
    );
    let s = list_status(&b, &url);
    assert_eq!(s["entries"], 1, "{s}");
    assert!(
        s["last_success"].as_str().is_some(),
        "kept in the cache dir: {s}"
    );
    // A refresh now fails, and keeps the copy.
    refresh(&b);
    assert!(blocked(&p, c, "cached.example"));
    assert!(list_status(&b, &url)["failure"].as_str().is_some());
}

#[test]
fn the_real_lists_over_http_load_as_from_files() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let dir = shared_blocklists();
    let http = ListServer::start(b.addr(3, 8080));
    let names = [
        "stevenblack.domains.txt",
        "adguarddns.hosts.txt",
        "hagezi-light.adblock.txt",
        "easylist.wildcard.txt",
    ];
    let mut urls = Vec::new();
    for n in names {
        let body = std::fs::read(dir.join(n)).unwrap();
        http.set(
            &format!("/{n}"),
            Reply::List {
                body,
                etag: format!("\"{n}\""),
            },
        );
        urls.push(format!("{:?}", http.url(&format!("/{n}"))));
    }
    let cache = tempfile::tempdir().unwrap();
    let files: Vec<String> = names
        .iter()
        .map(|n| format!("{:?}", dir.join(n).display().to_string()))
        .collect();
    let config = format!(
        "{}[block]\nlists = [{}]\ncache_dir = {:?}\n\n[[blocklist]]\nname = \"web\"\nlists = [{}]\n\n\
         [[policy]]\nsource = [\"{}/25\"]\nforward = \"up\"\n\n[[policy]]\nsource = [\"{}/25\"]\nforward = \"up\"\nblock = [\"web\"]\n",
        head(&b, up.addr),
        files.join(", "),
        cache.path(),
        urls.join(", "),
        b.ip(0),
        b.ip(128),
    );
    let started = Instant::now();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let (by_file, by_url) = (ip(&b, 20), ip(&b, 140));
    wait_blocked(&p, by_url, "doubleclick.com", true);
    // The downloads land one by one; the last rebuild has them all.
    let deadline = Instant::now() + Duration::from_secs(30);
    let groups = loop {
        let s = status(&b);
        let g = s["groups"].as_array().unwrap().clone();
        if g[0]["blocked_domains"] == g[1]["blocked_domains"] {
            break g;
        }
        assert!(Instant::now() < deadline, "{s}");
        thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "4 real lists over HTTP: {} domains, ready {:?} after start",
        groups[1]["blocked_domains"],
        started.elapsed()
    );
    let all = status(&b)["blocklists"].as_array().unwrap().clone();
    // The counts tests/real_blocklists.rs pins for the files.
    for (n, want) in names.iter().zip([140_626, 123_962, 122_680, 50_231]) {
        let entries: Vec<u64> = all
            .iter()
            .filter(|l| l["source"].as_str().unwrap().ends_with(n))
            .map(|l| l["entries"].as_u64().unwrap())
            .collect();
        assert_eq!(entries.len(), 2, "{n}");
        assert_eq!(entries[0], entries[1], "{n}: file vs URL");
        assert_eq!(entries[0], want, "{n}");
    }
    for name in [
        "0001.best",
        "1435575.fls.doubleclick.net",
        "x.y.doubleclick.com",
    ] {
        assert!(
            blocked(&p, by_file, name) && blocked(&p, by_url, name),
            "{name}"
        );
    }
    assert!(!blocked(&p, by_url, "www.example.org"));
}

/// A CA and a server certificate for `ip`, made with openssl(1) in `dir`:
/// (CA PEM path, server config).
fn test_pki(
    dir: &std::path::Path,
    ip: Ipv4Addr,
) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=vpndns test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=lists",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("srv.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    (dir.join("ca.pem"), Arc::new(config))
}

#[test]
fn https_lists_are_verified_against_tls_ca() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let pki = tempfile::tempdir().unwrap();
    let (ca, tls) = test_pki(pki.path(), b.ip(3));
    let https = ListServer::start_with(b.addr(3, 8443), Some(tls));
    https.list("/l.txt", "secure.example\n", "\"s1\"");
    let cache = tempfile::tempdir().unwrap();
    let url = https.https_url("/l.txt");
    let config = |ca_line: &str| {
        format!(
            "{}[block]\nlists = [{url:?}]\ncache_dir = {:?}\n{ca_line}\n[[policy]]\nsource = [\"{}\"]\nforward = \"up\"\n",
            head(&b, up.addr),
            cache.path(),
            b.net()
        )
    };
    let c = ip(&b, 20);
    {
        // The web's roots do not know the test CA: refused, nothing blocked.
        let p = Proxy::start(b.addr(PROXY, 5353), &config(""), &[]);
        refresh(&b);
        let s = list_status(&b, &url);
        assert!(
            s["failure"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("certificate"),
            "{s}"
        );
        assert!(!blocked(&p, c, "secure.example"));
    }
    let p = Proxy::start(
        b.addr(PROXY, 5353),
        &config(&format!("tls_ca = {ca:?}")),
        &[],
    );
    wait_blocked(&p, c, "secure.example", true);
    assert_eq!(https.requests().last().unwrap().path, "/l.txt");
}
