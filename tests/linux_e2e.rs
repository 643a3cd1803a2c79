//! The seed's DNS path (steps 1–11) with real packets, in Linux network
//! namespaces built by `vpnjail create --all` from a site file with
//! `platform = "linux"`. Runs as root; skips with a message otherwise.
//!
//! Each test has its own site name (a run tag), so every namespace it makes
//! carries the tag and parallel tests or runs cannot collide. A guard destroys
//! everything on drop, also when the test fails. Addresses are used only inside
//! the namespaces the test creates.
//!
//! The VPN tunnel of a vpn namespace is stood in for by a veth pair named
//! `tun0` into a "provider" namespace, where a DNS responder (in this file)
//! answers every A question with an address unique to that provider. A remote
//! client routed through a vpn namespace (the seed's GRE client) is a namespace
//! joined to it by another veth pair.

#[path = "common/netns.rs"]
mod netns;

use netns::{must, ok, sh};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");
const VPNDNS: &str = env!("CARGO_BIN_EXE_vpndns");

/// Answers unique to each provider (data in DNS answers, never configured).
const ANSWER_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ANSWER_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VPNDNS_ADDR: &str = "10.10.1.53";

// ---------------------------------------------------------------- skipping

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces need root; CI runs as root)".into());
    }
    if !ok("ip", &["netns", "list"]) {
        return Some("`ip netns` is unavailable (install iproute2)".into());
    }
    if !ok("nft", &["--version"]) {
        return Some("nft is missing (install nftables)".into());
    }
    if !ok("start-stop-daemon", &["--version"]) {
        return Some("start-stop-daemon is missing (dpkg)".into());
    }
    None
}

macro_rules! require_root_netns {
    () => {
        if let Some(r) = skip_reason() {
            eprintln!("SKIP linux_e2e: {r}");
            return;
        }
    };
}

// ---------------------------------------------------------------- commands

fn netns_list() -> BTreeSet<String> {
    must("ip", &["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn link_names(ns: Option<&str>) -> BTreeSet<String> {
    let out = match ns {
        Some(n) => must("ip", &["-n", n, "-o", "link", "show"]),
        None => must("ip", &["-o", "link", "show"]),
    };
    out.lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A short tag unique to this run and test: `t<pid hex><n>`.
fn run_tag() -> String {
    format!(
        "t{:x}{}",
        std::process::id() & 0xfffff,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------- in a namespace

/// Runs `f` on a thread that has entered network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on this thread only, with a namespace file descriptor we own.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap_or_else(|_| panic!("thread in {ns} panicked"))
}

// ---------------------------------------------------------------- DNS

fn encode_name(name: &str, out: &mut Vec<u8>) {
    for l in name.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
}

fn query_packet(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(name, &mut q);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// End of the name starting at `i` (after its terminating zero or pointer).
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *b.get(i)? as usize;
        if l == 0 {
            return Some(i + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        i += 1 + l;
    }
}

/// What a client got: the rcode and the A addresses in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    rcode: u8,
    addrs: Vec<Ipv4Addr>,
}

fn parse_reply(b: &[u8]) -> Option<Reply> {
    if b.len() < 12 {
        return None;
    }
    let rcode = b[3] & 0x0f;
    let qd = u16::from_be_bytes([b[4], b[5]]);
    let an = u16::from_be_bytes([b[6], b[7]]);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        i = skip_name(b, i)?;
        let t = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]);
        let len = u16::from_be_bytes([*b.get(i + 8)?, *b.get(i + 9)?]) as usize;
        i += 10;
        if t == 1 && len == 4 {
            addrs.push(Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]));
        }
        i += len;
    }
    Some(Reply { rcode, addrs })
}

/// Sends one A query from inside `ns` to `server:53`; `None` on timeout.
fn query(ns: &str, server: &str, name: &str) -> Option<Reply> {
    let server: SocketAddr = format!("{server}:53").parse().expect("server address");
    let name = name.to_string();
    in_netns(ns, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(4))).ok();
        let id = (std::process::id() as u16) ^ (SEQ.fetch_add(1, Ordering::Relaxed) as u16);
        s.send_to(&query_packet(id, &name), server).ok()?;
        let mut buf = [0u8; 1500];
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            let (n, from) = s.recv_from(&mut buf).ok()?;
            if from == server && n >= 2 && buf[..2] == id.to_be_bytes() {
                return parse_reply(&buf[..n]);
            }
        }
        None
    })
}

/// Retries a query until the answer is `want` (services take a moment to bind).
#[track_caller]
fn expect_answer(ns: &str, server: &str, name: &str, want: Ipv4Addr) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(ns, server, name);
        if last.as_ref().is_some_and(|r| r.addrs == [want]) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{ns} asking {server} for {name}: wanted {want}, got {last:?}");
}

/// A DNS server in a provider namespace answering every A question with one address.
struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    count: Arc<AtomicUsize>,
    sources: Arc<Mutex<BTreeSet<Ipv4Addr>>>,
}

impl Responder {
    fn start(ns: &str, bind: &str, answer: Ipv4Addr) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let sources = Arc::new(Mutex::new(BTreeSet::new()));
        let path = format!("/run/netns/{ns}");
        let bind: SocketAddr = format!("{bind}:53").parse().expect("bind address");
        let (st, c, src) = (stop.clone(), count.clone(), sources.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("provider namespace");
            // SAFETY: setns on this thread only, with a descriptor we own.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {path}");
            let s = UdpSocket::bind(bind).expect("responder bind");
            s.set_read_timeout(Some(Duration::from_millis(50))).ok();
            ready_tx.send(()).ok();
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                let Some(qend) = skip_name(q, 12).map(|i| i + 4) else {
                    continue;
                };
                if q.len() < qend || q[2] & 0x80 != 0 {
                    continue;
                }
                c.fetch_add(1, Ordering::Relaxed);
                if let SocketAddr::V4(a) = from {
                    src.lock().expect("lock").insert(*a.ip());
                }
                let qtype = u16::from_be_bytes([q[qend - 4], q[qend - 3]]);
                let mut r = Vec::with_capacity(qend + 16);
                r.extend_from_slice(&q[..2]);
                r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(qtype == 1), 0, 0, 0, 0]);
                r.extend_from_slice(&q[12..qend]);
                if qtype == 1 {
                    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                    r.extend_from_slice(&answer.octets());
                }
                s.send_to(&r, from).ok();
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("responder did not start");
        Responder {
            stop,
            thread: Some(thread),
            count,
            sources,
        }
    }
    fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
    fn sources(&self) -> BTreeSet<Ipv4Addr> {
        self.sources.lock().expect("lock").clone()
    }
    fn kill(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- the topology

/// One host `alpha` in its own namespace: vpndns, vpn namespaces `vpna` and
/// `vpnb` each with a provider, service namespaces using each, a LAN client
/// with two forwarders, and a remote client behind each vpn namespace.
fn one_host_site(tag: &str, dir: &Path) -> String {
    format!(
        r#"[site]
name = "{tag}"

[[host]]
name = "alpha"
platform = "linux"
netns = "vjh-{tag}-alpha"
external_if = "wan0"
public_address = "10.99.0.1"
bridge = {{ name = "vjbr0", network = "10.10.1.0/24", address = "10.10.1.1" }}
jail_root = "{root}"
vpndns_bin = "{VPNDNS}"

[[host.jail]]
name = "dns"
kind = "vpndns"
address = "{VPNDNS_ADDR}"

[[host.jail]]
name = "vpna"
kind = "vpn"
address = "10.10.1.2"
tun = "tun0"
provider_dns = "10.8.1.1"
clients = ["10.20.1.0/24"]

[[host.jail]]
name = "vpnb"
kind = "vpn"
address = "10.10.1.3"
tun = "tun0"
provider_dns = "10.8.2.1"
clients = ["10.20.2.0/24"]

[[host.jail]]
name = "svca"
kind = "service"
address = "10.10.1.30"
via = "vpna"

[[host.jail]]
name = "svcb"
kind = "service"
address = "10.10.1.31"
via = "vpnb"

[[host.jail]]
name = "lan"
kind = "service"
address = "10.10.1.40"

[[dns.policy]]
source = ["10.10.1.40/32"]
via = ["vpna", "vpnb"]

[dns]
static = {{ "nas.wan" = "10.10.1.20" }}
block = ["ads.example.net"]
"#,
        root = dir.join("alpha").display()
    )
}

/// Everything a test made; dropping it destroys all of it.
struct Topo {
    tag: String,
    dir: tempfile::TempDir,
    site: PathBuf,
    /// Namespaces the test made itself (providers, remote clients).
    extra: Vec<String>,
    responders: Vec<Responder>,
}

impl Topo {
    fn new(site_text: impl FnOnce(&str, &Path) -> String) -> Topo {
        let tag = run_tag();
        let dir = tempfile::tempdir().expect("tempdir");
        let site = dir.path().join("site.toml");
        std::fs::write(&site, site_text(&tag, dir.path())).expect("write site");
        Topo {
            tag,
            dir,
            site,
            extra: Vec::new(),
            responders: Vec::new(),
        }
    }

    fn vpnjail(&self, args: &[&str]) -> Result<String, String> {
        let site = self.site.display().to_string();
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--site", &site]);
        sh(VPNJAIL, &a)
    }

    fn ns(&self, host: &str, jail: &str) -> String {
        format!("vj-{}-{host}-{jail}", self.tag)
    }

    fn add_netns(&mut self, name: &str) {
        must("ip", &["netns", "add", name]);
        self.extra.push(name.to_string());
        must("ip", &["-n", name, "link", "set", "dev", "lo", "up"]);
    }

    /// A veth pair `a` (in `ns_a`, address `addr_a`) / `b` (in `ns_b`), both /24.
    fn wire(&self, ns_a: &str, a: &str, addr_a: &str, ns_b: &str, b: &str, addr_b: &str) {
        must(
            "ip",
            &[
                "-n", ns_a, "link", "add", "name", a, "type", "veth", "peer", "name", b, "netns",
                ns_b,
            ],
        );
        for (ns, ifname, addr) in [(ns_a, a, addr_a), (ns_b, b, addr_b)] {
            must("ip", &["-n", ns, "addr", "add", addr, "dev", ifname]);
            must("ip", &["-n", ns, "link", "set", "dev", ifname, "up"]);
        }
    }

    /// A provider behind vpn namespace `jail`: `tun0` in the vpn namespace
    /// (`net`.2/30), the provider's resolver at `net`.1 answering `answer`.
    fn provider(&mut self, host: &str, jail: &str, net: &str, answer: Ipv4Addr) -> usize {
        let p = format!("vjp-{}-{jail}", self.tag);
        self.add_netns(&p);
        let vpn = self.ns(host, jail);
        self.wire(
            &vpn,
            "tun0",
            &format!("{net}.2/30"),
            &p,
            "p0",
            &format!("{net}.1/30"),
        );
        self.responders
            .push(Responder::start(&p, &format!("{net}.1"), answer));
        self.responders.len() - 1
    }

    /// A remote client routed through vpn namespace `jail` (the seed's GRE
    /// client): `net`.1 on the vpn side, the client at `net`.2.
    fn remote_client(&mut self, host: &str, jail: &str, net: &str) -> String {
        let r = format!("vjr-{}-{jail}", self.tag);
        self.add_netns(&r);
        let vpn = self.ns(host, jail);
        self.wire(
            &vpn,
            "rc0",
            &format!("{net}.1/24"),
            &r,
            "r0",
            &format!("{net}.2/24"),
        );
        must(
            "ip",
            &[
                "-n",
                &r,
                "route",
                "add",
                "default",
                "via",
                &format!("{net}.1"),
            ],
        );
        r
    }

    /// `packets N` of the rule in `ns`'s table `vpnjail`, chain `chain`, that contains `needle`.
    fn nft_packets(&self, ns: &str, chain: &str, needle: &str) -> u64 {
        let out = must(
            "ip",
            &[
                "netns", "exec", ns, "nft", "list", "chain", "ip", "vpnjail", chain,
            ],
        );
        let line = out
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no rule with {needle:?} in {ns} {chain}:\n{out}"));
        line.split("packets ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no counter in {line:?}"))
    }

    fn pidfiles(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "pid") {
                    out.push(p);
                }
            }
        }
        let mut v = Vec::new();
        walk(self.dir.path(), &mut v);
        v
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for r in &mut self.responders {
            r.kill();
        }
        if let Err(e) = self.vpnjail(&["destroy", "--all"]) {
            eprintln!("cleanup: vpnjail destroy --all: {e}");
        }
        // Whatever destroy could not stop or remove.
        for p in self.pidfiles() {
            if let Some(pid) = std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let mark = format!("-{}-", self.tag);
        for ns in netns_list() {
            if ns.contains(&mark) {
                let _ = sh("ip", &["netns", "del", &ns]);
            }
        }
    }
}

/// Brings up the one-host topology with providers and remote clients.
fn one_host() -> (Topo, [String; 2]) {
    let mut t = Topo::new(one_host_site);
    if let Err(e) = t.vpnjail(&["create", "--all"]) {
        panic!("vpnjail create --all: {e}");
    }
    t.provider("alpha", "vpna", "10.8.1", ANSWER_A);
    t.provider("alpha", "vpnb", "10.8.2", ANSWER_B);
    let ra = t.remote_client("alpha", "vpna", "10.20.1");
    let rb = t.remote_client("alpha", "vpnb", "10.20.2");
    (t, [ra, rb])
}

// ---------------------------------------------------------------- the tests

/// Seed steps 1–11 on one host (GRE/IPsec replaced by a direct veth): policy
/// by client, identity, step-2 translation, step-5 redirect, static, blocked.
#[test]
fn one_host_dns_path_through_vpn_namespaces() {
    require_root_netns!();
    let started = Instant::now();
    let (t, [ra, rb]) = one_host();
    let svca = t.ns("alpha", "svca");
    let svcb = t.ns("alpha", "svcb");
    let vpna = t.ns("alpha", "vpna");

    // Policy by client: svca's forwarder is vpna, svcb's is vpnb.
    expect_answer(&svca, VPNDNS_ADDR, "www.example.com", ANSWER_A);
    let (a0, b0) = (t.responders[0].count(), t.responders[1].count());
    expect_answer(&svcb, VPNDNS_ADDR, "www.example.org", ANSWER_B);
    assert_eq!(t.responders[0].count(), a0, "B's client must not reach A");
    assert!(t.responders[1].count() > b0);
    // Steps 5-8: the providers saw the queries from the vpn namespace's tun
    // address (masquerade on tun0), never from vpndns or the client.
    assert_eq!(
        t.responders[0].sources(),
        BTreeSet::from([Ipv4Addr::new(10, 8, 1, 2)])
    );
    assert_eq!(
        t.responders[1].sources(),
        BTreeSet::from([Ipv4Addr::new(10, 8, 2, 2)])
    );

    // Step 5 alone: a query to vpna's own bridge address goes to provider A.
    let dnat0 = t.nft_packets(&vpna, "prerouting", "dnat to 10.8.1.1");
    let a1 = t.responders[0].count();
    expect_answer(&svcb, "10.10.1.2", "direct.example.com", ANSWER_A);
    assert!(t.responders[0].count() > a1);
    assert!(t.nft_packets(&vpna, "prerouting", "dnat to 10.8.1.1") > dnat0);

    // Identity (steps 3-4): vpndns sends vpna's own query back to vpna:53,
    // where nftables redirects it to provider A.
    expect_answer(&vpna, VPNDNS_ADDR, "identity.example.com", ANSWER_A);

    // Steps 2 and 9-10: a remote client behind vpna asks vpndns; vpna
    // translates its source to 10.10.1.2, vpndns applies vpna's identity
    // policy, and the answer comes back to the client through the translation.
    // (NAT rules count the first packet of a flow; vpndns may reuse the
    // socket of an earlier identity forward, so the provider's own counter is
    // the proof that this query went through vpna to provider A.)
    let snat0 = t.nft_packets(&vpna, "postrouting", "ip daddr 10.10.1.53");
    let a3 = t.responders[0].count();
    expect_answer(&ra, VPNDNS_ADDR, "remote.example.com", ANSWER_A);
    assert!(t.nft_packets(&vpna, "postrouting", "ip daddr 10.10.1.53") > snat0);
    assert!(t.responders[0].count() > a3);
    expect_answer(&rb, VPNDNS_ADDR, "remote.example.org", ANSWER_B);

    // Static and blocked names: answered by vpndns, no provider asked.
    let (a2, b2) = (t.responders[0].count(), t.responders[1].count());
    expect_answer(&svca, VPNDNS_ADDR, "nas.wan", Ipv4Addr::new(10, 10, 1, 20));
    let blocked = query(&svcb, VPNDNS_ADDR, "x.ads.example.net").expect("blocked answer");
    assert_eq!(blocked.rcode, 3, "blocked names get NXDOMAIN: {blocked:?}");
    assert_eq!((t.responders[0].count(), t.responders[1].count()), (a2, b2));

    // The LAN client's policy lists vpna first.
    expect_answer(
        &t.ns("alpha", "lan"),
        VPNDNS_ADDR,
        "lan.example.com",
        ANSWER_A,
    );
    eprintln!("one_host_dns_path: {:?}", started.elapsed());
}

/// Faults: a dead provider fails over to the policy's second forwarder while
/// static and blocked names keep answering; vpndns killed and brought back by
/// running `vpnjail create --all` again serves the same clients.
#[test]
fn faults_failover_and_vpndns_restart() {
    require_root_netns!();
    let started = Instant::now();
    let (mut t, _) = one_host();
    let lan = t.ns("alpha", "lan");
    let svca = t.ns("alpha", "svca");
    expect_answer(&lan, VPNDNS_ADDR, "before.example.com", ANSWER_A);

    t.responders[0].kill();
    // vpna's provider is gone: the LAN client's second forwarder (vpnb) answers.
    expect_answer(&lan, VPNDNS_ADDR, "after.example.com", ANSWER_B);
    // A client whose only forwarder is vpna gets SERVFAIL, not silence.
    let r = query(&svca, VPNDNS_ADDR, "dead.example.com").expect("an answer");
    assert_eq!(r.rcode, 2, "SERVFAIL when every forwarder is down: {r:?}");
    // Local answers do not depend on any provider.
    expect_answer(&svca, VPNDNS_ADDR, "nas.wan", Ipv4Addr::new(10, 10, 1, 20));
    let r = query(&svca, VPNDNS_ADDR, "ads.example.net").expect("an answer");
    assert_eq!(r.rcode, 3);

    // Kill vpndns outright: clients get nothing.
    let pidfile = t.dir.path().join("alpha/dns/vpndns.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill vpndns");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(query(&lan, VPNDNS_ADDR, "down.example.com"), None);
    // create is idempotent: run again, it only restarts what is missing.
    let out = t.vpnjail(&["create", "--all"]).expect("create again");
    assert!(out.contains("done: start vpndns"), "{out}");
    assert!(
        out.contains("already so: create network namespace"),
        "{out}"
    );
    expect_answer(&lan, VPNDNS_ADDR, "back.example.com", ANSWER_B);
    expect_answer(&svca, VPNDNS_ADDR, "nas.wan", Ipv4Addr::new(10, 10, 1, 20));

    // A clean stop (SIGTERM via destroy of the vpndns namespace) and create.
    t.vpnjail(&["destroy", "dns"]).expect("destroy dns");
    assert_eq!(query(&lan, VPNDNS_ADDR, "gone.example.com"), None);
    t.vpnjail(&["create", "dns"]).expect("create dns");
    expect_answer(&lan, VPNDNS_ADDR, "again.example.com", ANSWER_B);
    eprintln!("faults: {:?}", started.elapsed());
}

/// `vpnjail destroy --all` leaves no namespace, link or nftables table behind:
/// the machine's own namespace list, links and ruleset are as before.
#[test]
fn destroy_all_leaves_the_machine_as_it_was() {
    require_root_netns!();
    // Namespaces of other tests (this run's, or another process's test
    // namespaces, `vj-`/`vjh-`/`vjs-`) come and go meanwhile; all others must
    // be exactly as they were, and a sentinel made for this test survives.
    let this_run = format!("-t{:x}", std::process::id() & 0xfffff);
    let others = || -> BTreeSet<String> {
        netns_list()
            .into_iter()
            .filter(|n| {
                !n.contains(&this_run) && !["vj-", "vjh-", "vjs-"].iter().any(|p| n.starts_with(p))
            })
            .collect()
    };
    let netns0 = others();
    let links0 = link_names(None);
    let rules0 = must("nft", &["list", "ruleset"]);
    let mut t = Topo::new(one_host_site);
    let mark = format!("-{}-", t.tag);
    // Carries the tag: the guard removes it if the test fails.
    let sentinel = format!("vjs-{}-keep", t.tag);
    must("ip", &["netns", "add", &sentinel]);
    t.vpnjail(&["create", "--all"]).expect("create --all");
    let ours: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.contains(&mark) && *n != sentinel)
        .collect();
    assert_eq!(ours.len(), 7, "host + 6 jails: {ours:?}");
    let host_ns = format!("vjh-{}-alpha", t.tag);
    assert!(link_names(Some(&host_ns)).contains("vjbr0"));
    let out = t.vpnjail(&["destroy", "--all"]).expect("destroy --all");
    assert!(out.contains("done: stop vpndns"), "{out}");
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.contains(&mark) && *n != sentinel)
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let kept = netns_list().contains(&sentinel);
    let _ = sh("ip", &["netns", "del", &sentinel]);
    assert!(kept, "destroy --all removed another namespace ({sentinel})");
    assert_eq!(others(), netns0, "other namespaces changed");
    assert_eq!(link_names(None), links0, "links of this namespace changed");
    assert_eq!(must("nft", &["list", "ruleset"]), rules0);
    assert!(t.pidfiles().is_empty(), "pidfiles left: {:?}", t.pidfiles());
    // Destroy again: nothing to do, no error.
    let again = t.vpnjail(&["destroy", "--all"]).expect("destroy twice");
    assert!(!again.contains("done: delete"), "{again}");
    t.extra.clear();
}

/// A failing step undoes the completed ones: a vpndns binary that does not
/// exist fails its config check, and everything made before is removed.
#[test]
fn failed_create_rolls_back_on_the_real_system() {
    require_root_netns!();
    let mut t =
        Topo::new(|tag, dir| one_host_site(tag, dir).replace(VPNDNS, "/nonexistent/vpndns"));
    let mark = format!("-{}-", t.tag);
    let err = t.vpnjail(&["create", "--all"]).expect_err("must fail");
    assert!(err.contains("completed steps were undone"), "{err}");
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.contains(&mark))
        .collect();
    assert!(left.is_empty(), "namespaces left after rollback: {left:?}");
    t.extra.clear();
}

/// Two hosts, each in its own namespace, joined by a "WAN" veth pair made by
/// the test: alpha (vpndns, vpna with its provider, ipsec) and beta (ipsec, a
/// laptop). The site's `[[link]]` is brought up by strongSwan (charon with
/// kernel-libipsec, one per ipsec namespace) from the generated swanctl.conf,
/// with IKE and NAT-T passing each host's nftables NAT.
fn two_host_site(tag: &str, dir: &Path) -> String {
    std::fs::write(dir.join("alpha-beta.psk"), "e2e-test-psk-0123456789\n").expect("psk");
    format!(
        r#"[site]
name = "{tag}"

[[host]]
name = "alpha"
platform = "linux"
netns = "vjh-{tag}-alpha"
external_if = "wan0"
public_address = "10.99.0.1"
bridge = {{ name = "vjbr0", network = "10.10.1.0/24", address = "10.10.1.1" }}
jail_root = "{a}"
vpndns_bin = "{VPNDNS}"

[[host.jail]]
name = "ipsec"
kind = "ipsec"
address = "10.10.1.4"

[[host.jail]]
name = "dns"
kind = "vpndns"
address = "{VPNDNS_ADDR}"

[[host.jail]]
name = "vpna"
kind = "vpn"
address = "10.10.1.2"
provider_dns = "10.8.1.1"

[[host]]
name = "beta"
platform = "linux"
netns = "vjh-{tag}-beta"
external_if = "wan0"
public_address = "10.99.0.2"
bridge = {{ name = "vjbr0", network = "10.10.2.0/24", address = "10.10.2.1" }}
jail_root = "{b}"

[[host.jail]]
name = "ipsec_b"
kind = "ipsec"
address = "10.10.2.4"

[[host.jail]]
name = "laptop"
kind = "service"
address = "10.10.2.77"

[[link]]
hosts = ["alpha", "beta"]
mode = "swanctl"
reqid = 100
inner = ["172.16.0.1", "172.16.0.2"]
psk_file = "alpha-beta.psk"

[[dns.policy]]
source = ["10.10.2.0/24"]
via = "vpna"
"#,
        a = dir.join("alpha").display(),
        b = dir.join("beta").display()
    )
}

/// ESP packets counted by charon in an ipsec namespace (both directions).
fn esp_packets(t: &Topo, host: &str, jail: &str) -> u64 {
    let conf = t.dir.path().join(host).join(jail).join("strongswan.conf");
    let out = sh(
        "ip",
        &[
            "netns",
            "exec",
            &t.ns(host, jail),
            "env",
            &format!("STRONGSWAN_CONF={}", conf.display()),
            "swanctl",
            "--list-sas",
        ],
    )
    .unwrap_or_default();
    out.lines()
        .filter(|l| l.trim_start().starts_with("in ") || l.trim_start().starts_with("out "))
        .filter_map(|l| l.split("bytes,").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Seed steps 1 and 11 over a real IKEv2/ESP tunnel: a laptop on beta
/// resolves through vpndns on alpha, which forwards through vpna's provider.
#[test]
fn two_hosts_over_strongswan() {
    require_root_netns!();
    if !Path::new(vpndns_deploy_charon()).exists() || !Path::new("/usr/sbin/swanctl").exists() {
        eprintln!(
            "SKIP two_hosts_over_strongswan: needs charon-systemd, strongswan-swanctl and libcharon-extra-plugins (kernel-libipsec)"
        );
        return;
    }
    let started = Instant::now();
    let mut t = Topo::new(two_host_site);
    // The machine: two host namespaces joined by a WAN link.
    let (ha, hb) = (
        format!("vjh-{}-alpha", t.tag),
        format!("vjh-{}-beta", t.tag),
    );
    t.add_netns(&ha);
    t.add_netns(&hb);
    t.wire(&ha, "wan0", "10.99.0.1/24", &hb, "wan0", "10.99.0.2/24");
    if let Err(e) = t.vpnjail(&["create", "--all"]) {
        panic!("vpnjail create --all: {e}");
    }
    t.provider("alpha", "vpna", "10.8.1", ANSWER_A);
    let laptop = t.ns("beta", "laptop");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(&laptop, VPNDNS_ADDR, "far.example.com");
        if last.as_ref().is_some_and(|r| r.addrs == [ANSWER_A]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        last.map(|r| r.addrs),
        Some(vec![ANSWER_A]),
        "laptop on beta via the tunnel to vpndns on alpha"
    );
    assert!(t.responders[0].count() > 0);
    assert!(
        esp_packets(&t, "beta", "ipsec_b") >= 2,
        "the query and its answer crossed the ESP tunnel"
    );
    assert!(esp_packets(&t, "alpha", "ipsec") >= 2);
    eprintln!("two_hosts_over_strongswan: {:?}", started.elapsed());
}

fn vpndns_deploy_charon() -> &'static str {
    vpndns::deploy::plan::linux::CHARON
}
