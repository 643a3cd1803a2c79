//! The shared end-to-end harness for tests that build a site in Linux network
//! namespaces: a guard ([`Lab`]) that owns the test's site (its directory, the
//! site file, the namespaces and daemons the test made itself) and tears all
//! of it down on drop, also when the test panics; one bounded wait
//! ([`wait_until`]); and the small servers and clients the tests run inside
//! namespaces (UDP echo and DNS stand-ins, a DNS client). Included with
//! `#[path = "common/e2e.rs"] mod e2e;` next to `common/netns.rs` as `netns`.
//!
//! Every name a lab makes carries its tag (`<prefix><pid hex><n>`), so tests
//! of one run, and runs of other people on the machine, never collide, and
//! cleanup removes only what carries the tag.

#![allow(dead_code)]

use super::netns::{self, must, sh};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");
pub const VPNDNS: &str = env!("CARGO_BIN_EXE_vpndns");

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A short tag unique to this run and test: `<prefix><pid hex><n>`.
pub fn run_tag(prefix: char) -> String {
    format!(
        "{prefix}{:x}{}",
        std::process::id() & 0xfffff,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Why a namespace test without FRR cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces need root; CI runs as root)".into());
    }
    for (what, present) in [
        ("iproute2 (`ip netns`)", netns::ok("ip", &["netns", "list"])),
        ("nftables", netns::ok("nft", &["--version"])),
        (
            "dpkg (start-stop-daemon)",
            netns::ok("start-stop-daemon", &["--version"]),
        ),
    ] {
        if !present {
            return Some(format!("{what} is missing"));
        }
    }
    None
}

/// The reasons of [`skip_reason`], plus strongSwan's charon and swanctl.
pub fn skip_reason_strongswan() -> Option<String> {
    skip_reason().or_else(|| {
        [
            ("charon-systemd", vpndns::deploy::plan::linux::CHARON),
            ("strongswan-swanctl", "/usr/sbin/swanctl"),
        ]
        .into_iter()
        .find(|(_, path)| !Path::new(path).exists())
        .map(|(what, path)| format!("{path} is missing (apt-get install {what})"))
    })
}

/// Returns from the test, saying why, when `$reason` (an `Option<String>`)
/// is `Some`.
#[macro_export]
macro_rules! skip_if {
    ($test:expr, $reason:expr) => {
        if let Some(r) = $reason {
            eprintln!("SKIP {}: {r}", $test);
            return;
        }
    };
}

/// How often the waits below look again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it holds; the time it took (also printed). Panics saying
/// what it waited for and for how long.
#[track_caller]
pub fn wait_until(what: &str, timeout: Duration, f: impl FnMut() -> bool) -> Duration {
    wait_until_or(what, timeout, f, String::new)
}

/// [`wait_until`], with `explain`'s text (the state that explains a
/// failure) in the panic.
#[track_caller]
pub fn wait_until_or(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) -> Duration {
    let t = Instant::now();
    loop {
        if f() {
            let took = t.elapsed();
            eprintln!("{what}: {took:.1?}");
            return took;
        }
        if t.elapsed() > timeout {
            panic!("{what}: not within {timeout:?}\n{}", explain());
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `f` until it returns `Ok`; its value. `Err` says what was seen
/// instead: the last one is in the panic when `timeout` passes.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let t = Instant::now();
    loop {
        match f() {
            Ok(v) => {
                eprintln!("{what}: {:.1?}", t.elapsed());
                return v;
            }
            Err(seen) if t.elapsed() > timeout => {
                panic!("{what}: not within {timeout:?}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Runs `f` on a thread inside namespace `ns` and waits for it.
#[track_caller]
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    netns::spawn_in_netns(ns, f)
        .join()
        .unwrap_or_else(|_| panic!("the thread in namespace {ns} panicked"))
}

/// `program args` inside namespace `ns` (`ip netns exec`).
pub fn ns_exec(ns: &str, program: &str, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["netns", "exec", ns, program];
    a.extend_from_slice(args);
    sh("ip", &a)
}

/// The same; panics with the command's output when it fails.
#[track_caller]
pub fn ns_must(ns: &str, program: &str, args: &[&str]) -> String {
    ns_exec(ns, program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads nftables rules `text` in namespace `ns` (the file written to `dir`).
pub fn nft_load(ns: &str, dir: &Path, name: &str, text: &str) {
    let f = dir.join(name);
    std::fs::write(&f, text).expect("write nft rules");
    ns_must(ns, "nft", &["-f", &f.display().to_string()]);
}

/// Every network namespace of the machine.
pub fn netns_list() -> Vec<String> {
    sh("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// `N` of the `packets N` on the first line of `out` containing `needle`.
pub fn packets(out: &str, needle: &str) -> Option<u64> {
    out.lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split("packets ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Sends SIGKILL to the process whose pid `pidfile` holds.
#[track_caller]
pub fn kill_pidfile(pidfile: &Path) {
    let pid: i32 = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", pidfile.display()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap_or_else(|e| panic!("kill {pid} ({}): {e}", pidfile.display()));
}

// ---------------------------------------------------------------- the guard

/// A test's site and everything the test made for it; dropping it stops
/// every daemon and child by pid, runs `vpnjail destroy --all`, and deletes
/// every namespace carrying the tag (and those in `extra`).
pub struct Lab {
    /// In every name this lab makes (the site's name too).
    pub tag: String,
    /// The site file, the jails' directories and whatever the test writes.
    pub dir: tempfile::TempDir,
    /// The site file, `dir/site.toml`.
    pub site: PathBuf,
    /// Namespaces the test made itself that do not carry `-<tag>-`.
    pub extra: Vec<String>,
    /// Pid files of the daemons the test itself started (stand-in providers).
    pub daemons: Vec<PathBuf>,
    /// Processes the test started itself (stopped with SIGTERM, then SIGKILL).
    pub children: Vec<Child>,
    /// Servers the test runs in its namespaces (stand-in providers), stopped
    /// first.
    pub servers: Vec<UdpServer>,
    /// A hosts file vpnjail sees as /etc/hosts (bound in a mount namespace
    /// of its own, so the machine's stays untouched): names resolve offline.
    pub hosts: Option<PathBuf>,
}

impl Lab {
    /// A fresh tag (`prefix` keeps the tests of one binary apart by eye) and
    /// directory, and the site file `site_text(tag, dir)` written in it.
    /// Nothing is created yet: see [`Lab::create_all`].
    pub fn new(prefix: char, site_text: impl FnOnce(&str, &Path) -> String) -> Lab {
        let lab = Lab::bare(prefix);
        std::fs::write(&lab.site, site_text(&lab.tag, lab.path())).expect("write the site file");
        lab
    }

    /// A lab without a site file, for a test that builds its namespaces
    /// itself (drop then runs no `vpnjail destroy`).
    pub fn bare(prefix: char) -> Lab {
        let tag = run_tag(prefix);
        let dir = tempfile::tempdir().expect("tempdir");
        let site = dir.path().join("site.toml");
        Lab {
            tag,
            dir,
            site,
            extra: Vec::new(),
            daemons: Vec::new(),
            children: Vec::new(),
            servers: Vec::new(),
            hosts: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Lets FRR (user frr) read the jails' files under the lab's directory.
    pub fn readable_by_frr(&self) {
        must("chmod", &["755", &self.path().display().to_string()]);
    }

    /// Writes `text` to `name` in the lab's directory; its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write a lab file");
        p
    }

    /// The namespace of jail `jail` of host `host`.
    pub fn ns(&self, host: &str, jail: &str) -> String {
        format!("vj-{}-{host}-{jail}", self.tag)
    }

    /// The namespace standing in for host `host` (the site's `netns`).
    pub fn host_ns(&self, host: &str) -> String {
        format!("vjh-{}-{host}", self.tag)
    }

    /// A namespace of the test's own, `<kind>-<tag>-<name>`.
    pub fn own_ns(&self, kind: &str, name: &str) -> String {
        format!("{kind}-{}-{name}", self.tag)
    }

    /// A file of jail `jail` of host `host`.
    pub fn jail_file(&self, host: &str, jail: &str, name: &str) -> PathBuf {
        self.path().join(host).join(jail).join(name)
    }

    /// The pid of `daemon` in jail `jail` of host `host`, from its pid file.
    #[track_caller]
    pub fn pid(&self, host: &str, jail: &str, daemon: &str) -> i32 {
        let f = self.jail_file(host, jail, &format!("{daemon}.pid"));
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {}", f.display()))
    }

    /// `vpnjail ARGS --site <the site>` (seeing `hosts` as /etc/hosts when set).
    pub fn vpnjail(&self, args: &[&str]) -> Result<String, String> {
        let site = self.site.display().to_string();
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--site", &site]);
        let Some(hosts) = &self.hosts else {
            return sh(VPNJAIL, &a);
        };
        // A mount namespace whose root is private (the bind stays in it)
        // while /run/netns keeps sharing, so the namespaces vpnjail adds are
        // seen outside. The paths are arguments of the script, never its text.
        let script =
            "mount --make-private / && mount --bind \"$1\" /etc/hosts && shift && exec \"$@\"";
        let hosts = hosts.display().to_string();
        let mut u = vec![
            "--mount",
            "--propagation",
            "unchanged",
            "sh",
            "-c",
            script,
            "sh",
        ];
        u.extend([hosts.as_str(), VPNJAIL]);
        u.extend(a);
        sh("unshare", &u)
    }

    /// `vpnjail create --all`; panics with its output when it fails.
    #[track_caller]
    pub fn create_all(&self) -> String {
        self.vpnjail(&["create", "--all"])
            .unwrap_or_else(|e| panic!("vpnjail create --all: {e}"))
    }

    /// Adds namespace `name` (loopback up); deleted on drop.
    pub fn add_netns(&mut self, name: &str) {
        must("ip", &["netns", "add", name]);
        if !name.contains(&self.mark()) {
            self.extra.push(name.to_string());
        }
        must("ip", &["-n", name, "link", "set", "dev", "lo", "up"]);
    }

    /// The namespaces of the machine carrying this lab's tag.
    pub fn tagged_netns(&self) -> Vec<String> {
        let mark = self.mark();
        netns_list()
            .into_iter()
            .filter(|n| n.contains(&mark))
            .collect()
    }

    /// Every `*.pid` file under the lab's directory.
    pub fn pidfiles(&self) -> Vec<PathBuf> {
        netns::pidfiles_under(self.path())
    }

    fn mark(&self) -> String {
        format!("-{}-", self.tag)
    }

    fn stop_children(&mut self) {
        use nix::sys::signal::{Signal, kill};
        for c in &self.children {
            let _ = kill(nix::unistd::Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
        for c in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(3);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let t = Instant::now();
        self.servers.clear();
        self.stop_children();
        netns::stop_pidfiles(&self.daemons);
        // Every daemon of the site at once, by its pid file (destroy stops
        // them one after the other, bgpd taking seconds to say goodbye):
        // bounded. Those the test killed may linger as zombies until this
        // container's init reaps them; destroy would wait out its stop
        // retries on them.
        netns::stop_pidfiles(&self.pidfiles());
        for f in self.pidfiles() {
            if netns::zombie(&f) {
                let _ = std::fs::remove_file(&f);
            }
        }
        if self.site.exists()
            && let Err(e) = self.vpnjail(&["destroy", "--all"])
        {
            eprintln!("cleanup: vpnjail destroy --all: {e}");
        }
        // Whatever destroy could not stop.
        for f in self.pidfiles() {
            if netns::alive(&f) {
                netns::stop_pidfiles(&[f]);
            }
        }
        for n in self.extra.iter().cloned().chain(self.tagged_netns()) {
            let _ = sh("ip", &["netns", "del", &n]);
        }
        eprintln!("cleanup of {}: {:.1?}", self.tag, t.elapsed());
    }
}

// ---------------------------------------------------------------- servers

/// A loop on a thread inside a namespace, told to stop by a flag it polls;
/// stopped (and joined) when dropped.
struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Runs `body(stop, ready)` on a thread in `ns` and waits until it
    /// sends `ready` (it is bound); panics naming `what` otherwise.
    #[track_caller]
    fn start(
        ns: &str,
        what: &str,
        body: impl FnOnce(Arc<AtomicBool>, std::sync::mpsc::Sender<()>) + Send + 'static,
    ) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let st = stop.clone();
        let thread = netns::spawn_in_netns(ns, move || body(st, ready_tx));
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{what} in {ns} did not start"));
        Background {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A UDP server on `bind` inside a namespace: each datagram goes to a
/// handler whose reply (if any) is sent back; what it answered is counted,
/// with its sources. Stops when dropped.
pub struct UdpServer {
    background: Background,
    count: Arc<AtomicUsize>,
    sources: Arc<Mutex<Vec<Ipv4Addr>>>,
}

impl UdpServer {
    /// Starts the server in `ns` and waits until it is bound.
    #[track_caller]
    pub fn start(
        ns: &str,
        bind: SocketAddr,
        handler: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    ) -> UdpServer {
        let count = Arc::new(AtomicUsize::new(0));
        let sources = Arc::new(Mutex::new(Vec::new()));
        let (c, src) = (count.clone(), sources.clone());
        let what = format!("the UDP server on {bind}");
        let background = Background::start(ns, &what, move |stop, ready| {
            let s = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
            s.set_read_timeout(Some(Duration::from_millis(50))).ok();
            ready.send(()).ok();
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    continue;
                };
                let Some(reply) = handler(&buf[..n]) else {
                    continue;
                };
                c.fetch_add(1, Ordering::Relaxed);
                if let SocketAddr::V4(a) = from {
                    src.lock().expect("lock").push(*a.ip());
                }
                s.send_to(&reply, from).ok();
            }
        });
        UdpServer {
            background,
            count,
            sources,
        }
    }

    /// A UDP echo server.
    pub fn echo(ns: &str, bind: SocketAddr) -> UdpServer {
        UdpServer::start(ns, bind, |q| Some(q.to_vec()))
    }

    /// A DNS server answering every A question with `answer`.
    pub fn dns(ns: &str, bind: SocketAddr, answer: Ipv4Addr) -> UdpServer {
        UdpServer::start(ns, bind, move |q| dns::answer(q, answer))
    }

    /// How many datagrams it answered.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// The source address of each datagram it answered, in order.
    pub fn sources(&self) -> Vec<Ipv4Addr> {
        self.sources.lock().expect("lock").clone()
    }

    /// Stops it (it answers nothing more).
    pub fn stop(&mut self) {
        self.background.stop();
    }
}

/// A TCP server on `bind` inside a namespace that writes `reply` to every
/// connection and closes it, counting them. Stops when dropped.
pub struct TcpServer {
    _background: Background,
    count: Arc<AtomicUsize>,
}

impl TcpServer {
    /// Starts the server in `ns` and waits until it listens.
    #[track_caller]
    pub fn start(ns: &str, bind: SocketAddr, reply: &'static [u8]) -> TcpServer {
        use std::io::Write;
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let what = format!("the TCP server on {bind}");
        let background = Background::start(ns, &what, move |stop, ready| {
            let l = std::net::TcpListener::bind(bind)
                .unwrap_or_else(|e| panic!("bind tcp {bind}: {e}"));
            l.set_nonblocking(true).ok();
            ready.send(()).ok();
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut conn, _)) => {
                        c.fetch_add(1, Ordering::Relaxed);
                        conn.write_all(reply).ok();
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        TcpServer {
            _background: background,
            count,
        }
    }

    /// How many connections it served.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------- DNS

/// DNS packets as the tests need them: an A query, the answer a stand-in
/// resolver gives, and what a client reads from a reply.
pub mod dns {
    use super::in_ns;
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::time::{Duration, Instant};

    /// What a client got: the rcode and the A addresses in the answer.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Reply {
        pub rcode: u8,
        pub addrs: Vec<Ipv4Addr>,
    }

    impl Reply {
        /// The first A address of the answer.
        pub fn addr(&self) -> Option<Ipv4Addr> {
            self.addrs.first().copied()
        }
    }

    fn encode_name(name: &str, out: &mut Vec<u8>) {
        for l in name.trim_end_matches('.').split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
    }

    /// An A query for `name` with ID `id` and RD set.
    pub fn query_packet(id: u16, name: &str) -> Vec<u8> {
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

    /// The answer of a stand-in resolver to query `q`: its question, and for
    /// an A question one record `answer` (last, so its address ends the
    /// packet). `None` for what is not a query.
    pub fn answer(q: &[u8], answer: Ipv4Addr) -> Option<Vec<u8>> {
        let qend = skip_name(q, 12)? + 4;
        if q.len() < qend || q[2] & 0x80 != 0 {
            return None;
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
        Some(r)
    }

    /// The rcode and A addresses of reply `b`.
    pub fn parse_reply(b: &[u8]) -> Option<Reply> {
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
                addrs.push(Ipv4Addr::new(*b.get(i)?, b[i + 1], b[i + 2], b[i + 3]));
            }
            i += len;
        }
        Some(Reply { rcode, addrs })
    }

    static ID: AtomicU16 = AtomicU16::new(0x5a5a);

    /// Sends one A query for `name` from inside `ns` to `server`:53; the
    /// reply from `server` with the query's ID, or `None` within `wait`.
    pub fn ask(ns: &str, server: &str, name: &str, wait: Duration) -> Option<Reply> {
        let server: SocketAddr = format!("{server}:53").parse().expect("server address");
        let name = name.to_string();
        in_ns(ns, move || {
            let s = UdpSocket::bind("0.0.0.0:0").ok()?;
            s.set_read_timeout(Some(wait)).ok();
            let id = (std::process::id() as u16) ^ ID.fetch_add(1, Ordering::Relaxed);
            s.send_to(&query_packet(id, &name), server).ok()?;
            let mut buf = [0u8; 1500];
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                let (n, from) = s.recv_from(&mut buf).ok()?;
                if from == server && n >= 2 && buf[..2] == id.to_be_bytes() {
                    return parse_reply(&buf[..n]);
                }
            }
            None
        })
    }
}

/// One UDP datagram to `dst` from inside `ns` (from `src` when given);
/// whether it came back unchanged within `wait`.
pub fn udp_echo(ns: &str, src: Option<Ipv4Addr>, dst: SocketAddr, wait: Duration) -> bool {
    in_ns(ns, move || {
        let from = SocketAddr::from((src.unwrap_or(Ipv4Addr::UNSPECIFIED), 0));
        let Ok(s) = UdpSocket::bind(from) else {
            return false;
        };
        s.set_read_timeout(Some(wait)).ok();
        let mut b = [0u8; 16];
        s.send_to(b"ping", dst).is_ok()
            && s.recv_from(&mut b).is_ok_and(|(n, _)| &b[..n] == b"ping")
    })
}
