//! Road warriors for real (issue 12): a host built by `vpnjail create --all`
//! in its own namespace, its `external_if` on an "internet" namespace that
//! also stands for a carrier NAT in front of two phone namespaces. Each phone
//! runs its own charon (kernel-libipsec) with the profile `vpnjail client
//! --format swanctl` exported, and dials the host's public address through
//! the carrier NAT and the host's DNAT (NAT-T).
//!
//! - `phone` (exit = vpna): its fixed virtual address, DNS to vpndns answered
//!   by vpna's provider, and a datagram to an Internet address leaves through
//!   vpna's (stand-in) tunnel, seen at the provider from the tunnel's address.
//! - `laptop` (no exit): reaches the bridge (vpndns), and over the link the
//!   second host beta's bridge (its vpndns), but not the Internet: its child
//!   SA is narrowed to the WAN, and its datagram never reaches the provider.
//! - `old`: connects, is revoked with `vpnjail client revoke`, then is refused
//!   (AUTH_FAILED).
//! - The same two hosts with `routing = "bgp"` (a second test, its own tag):
//!   beta learns alpha's pool from alpha's FRR and the laptop reaches vpndns
//!   on beta's bridge through that route.
//!
//! Runs as root with strongSwan installed (the BGP test also FRR); skips
//! with a message otherwise.
//! Every namespace carries a per-run tag; a guard kills the charons it started
//! (by pid) and destroys every namespace on drop, also when the test fails.
//! Addresses are used only inside the namespaces the test creates.

#[path = "common/netns.rs"]
mod netns;

use netns::{must, ok, sh};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");
const VPNDNS: &str = env!("CARGO_BIN_EXE_vpndns");
const CHARON: &str = "/usr/sbin/charon-systemd";
/// What vpna's provider answers for every A question.
const ANSWER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
/// An "Internet" address: only vpna's provider has it.
const INTERNET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
const ECHO_PORT: u16 = 7;
const PUBLIC: &str = "203.0.113.1";
/// Host beta, alpha's link peer, on the other half of the "internet".
const BETA_PUBLIC: &str = "203.0.113.130";
/// vpndns on beta's bridge: the WAN beyond the host the clients dial.
const BETA_DNS: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 53);

fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces need root; CI runs as root)".into());
    }
    for (what, ok_) in [
        ("iproute2", ok("ip", &["netns", "list"])),
        ("nftables", ok("nft", &["--version"])),
        (
            "dpkg (start-stop-daemon)",
            ok("start-stop-daemon", &["--version"]),
        ),
        ("openssl", ok("openssl", &["version"])),
        ("charon-systemd", Path::new(CHARON).exists()),
        (
            "strongswan-swanctl",
            Path::new("/usr/sbin/swanctl").exists(),
        ),
    ] {
        if !ok_ {
            return Some(format!("{what} is missing"));
        }
    }
    None
}

/// The site; with `bgp`, `routing = "bgp"` (FRR in both ipsec namespaces).
fn site(tag: &str, dir: &Path, bgp: bool) -> String {
    let routing = if bgp { "routing = \"bgp\"\n" } else { "" };
    format!(
        r#"[site]
name = "{tag}"
{routing}

[[host]]
name = "alpha"
platform = "linux"
netns = "vjh-{tag}-alpha"
external_if = "wan0"
public_address = "{PUBLIC}"
bridge = {{ name = "vjbr0", network = "10.10.1.0/24", address = "10.10.1.1" }}
jail_root = "{root}"
client_pool = "10.20.0.0/24"
vpndns_bin = "{VPNDNS}"

[[host.jail]]
name = "ipsec"
kind = "ipsec"
address = "10.10.1.4"

[[host.jail]]
name = "dns"
kind = "vpndns"
address = "10.10.1.53"

[[host.jail]]
name = "vpna"
kind = "vpn"
address = "10.10.1.2"
tun = "tun0"
provider_dns = "10.8.1.1"

[[host]]
name = "beta"
platform = "linux"
netns = "vjh-{tag}-beta"
external_if = "wan0"
public_address = "{BETA_PUBLIC}"
bridge = {{ name = "vjbr0", network = "10.10.2.0/24", address = "10.10.2.1" }}
jail_root = "{beta_root}"
vpndns_bin = "{VPNDNS}"

[[host.jail]]
name = "ipsecb"
kind = "ipsec"
address = "10.10.2.4"

[[host.jail]]
name = "dnsb"
kind = "vpndns"
address = "{BETA_DNS}"

[[link]]
hosts = ["alpha", "beta"]
mode = "swanctl"
auth = "pubkey"
reqid = 100
inner = ["172.16.0.1", "172.16.0.2"]

[[client]]
name = "phone"
host = "alpha"
address = "10.20.0.5"
exit = "vpna"

[[client]]
name = "laptop"
host = "alpha"
address = "10.20.0.6"

[[client]]
name = "old"
host = "alpha"
address = "10.20.0.7"
"#,
        root = dir.join("alpha").display(),
        beta_root = dir.join("beta").display(),
    )
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    netns::spawn_in_netns(ns, f)
        .join()
        .unwrap_or_else(|_| panic!("thread in namespace panicked"))
}

/// A server in the provider namespace: DNS on 10.8.1.1:53 answering
/// [`ANSWER`], and UDP echo on [`INTERNET`]:7 recording who sent.
struct Provider {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    echo_from: Arc<Mutex<Vec<Ipv4Addr>>>,
}

impl Provider {
    fn start(ns: &str) -> Provider {
        let stop = Arc::new(AtomicBool::new(false));
        let echo_from = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for (bind, dns) in [
            (SocketAddr::from(([10, 8, 1, 1], 53)), true),
            (SocketAddr::from((INTERNET, ECHO_PORT)), false),
        ] {
            let (st, from) = (stop.clone(), echo_from.clone());
            let path = format!("/run/netns/{ns}");
            let (tx, rx) = std::sync::mpsc::channel();
            threads.push(std::thread::spawn(move || {
                let f = std::fs::File::open(&path).expect("provider namespace");
                // SAFETY: setns on this thread only, with a descriptor we own.
                assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
                let s = UdpSocket::bind(bind).expect("bind");
                s.set_read_timeout(Some(Duration::from_millis(50))).ok();
                tx.send(()).ok();
                let mut buf = [0u8; 512];
                while !st.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = s.recv_from(&mut buf) else {
                        continue;
                    };
                    let reply = if dns {
                        match dns_answer(&buf[..n]) {
                            Some(r) => r,
                            None => continue,
                        }
                    } else {
                        if let SocketAddr::V4(a) = peer {
                            from.lock().expect("lock").push(*a.ip());
                        }
                        buf[..n].to_vec()
                    };
                    s.send_to(&reply, peer).ok();
                }
            }));
            rx.recv_timeout(Duration::from_secs(5))
                .expect("provider server did not start");
        }
        Provider {
            stop,
            threads,
            echo_from,
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().ok();
        }
    }
}

/// The query with one A record [`ANSWER`] appended (question names only as
/// this test asks them: no compression in the question).
fn dns_answer(q: &[u8]) -> Option<Vec<u8>> {
    let mut i = 12;
    while *q.get(i)? != 0 {
        i += usize::from(q[i]) + 1;
    }
    let end = i + 5;
    let mut r = q.get(..end)?.to_vec();
    r[2] = 0x81;
    r[3] = 0x80;
    r[7] = 1;
    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    r.extend_from_slice(&ANSWER.octets());
    Some(r)
}

/// Asks `server` for A `example.com` from namespace `ns`: the reply, if any.
fn reply(ns: &str, server: Ipv4Addr) -> Option<Vec<u8>> {
    in_netns(ns, move || {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["example", "com"] {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        s.send_to(&q, (server, 53)).ok()?;
        let mut buf = [0u8; 512];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        (n >= 12 && buf[..2] == q[..2]).then(|| buf[..n].to_vec())
    })
}

/// The first address of the answer to [`reply`].
fn ask(ns: &str, server: Ipv4Addr) -> Option<Ipv4Addr> {
    let b = reply(ns, server)?;
    let n = b.len();
    (n >= 33 && b[7] >= 1).then(|| Ipv4Addr::new(b[n - 4], b[n - 3], b[n - 2], b[n - 1]))
}

/// Sends one datagram to the Internet echo server from `ns`; whether it came back.
fn echo(ns: &str) -> bool {
    in_netns(ns, || {
        let Ok(s) = UdpSocket::bind("0.0.0.0:0") else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
        let mut buf = [0u8; 16];
        s.send_to(b"rw", (INTERNET, ECHO_PORT)).is_ok() && s.recv_from(&mut buf).is_ok()
    })
}

/// The packet count of an nftables rule printed with `counter packets N`.
fn counter(rule: &str) -> u64 {
    rule.split_once("counter packets ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A phone: a namespace behind the carrier, its charon and its profiles.
struct Phone {
    ns: String,
    dir: PathBuf,
}

impl Phone {
    fn conf(&self) -> PathBuf {
        self.dir.join("strongswan.conf")
    }
    /// `swanctl ARGS` against this phone's charon, with the profile in `profile`.
    fn swanctl(&self, profile: &Path, args: &[&str]) -> Result<String, String> {
        let mut a = vec![
            "netns".to_string(),
            "exec".into(),
            self.ns.clone(),
            "env".into(),
            format!("STRONGSWAN_CONF={}", self.conf().display()),
            format!("SWANCTL_DIR={}", profile.display()),
            "swanctl".into(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        sh("ip", &a)
    }
}

/// Everything the test made; dropping it removes all of it.
struct Topo {
    tag: String,
    dir: tempfile::TempDir,
    site: PathBuf,
    extra: Vec<String>,
    charons: Vec<std::process::Child>,
    provider: Option<Provider>,
}

impl Topo {
    fn vpnjail(&self, args: &[&str]) -> Result<String, String> {
        let site = self.site.display().to_string();
        let mut a = args.to_vec();
        a.extend(["--site", &site]);
        sh(VPNJAIL, &a)
    }

    fn add_netns(&mut self, name: &str) {
        must("ip", &["netns", "add", name]);
        self.extra.push(name.to_string());
        must("ip", &["-n", name, "link", "set", "dev", "lo", "up"]);
    }

    fn wire(&self, ns_a: &str, a: &str, addr_a: &str, ns_b: &str, b: &str, addr_b: &str) {
        must(
            "ip",
            &[
                "-n", ns_a, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b,
            ],
        );
        for (ns, i, addr) in [(ns_a, a, addr_a), (ns_b, b, addr_b)] {
            must("ip", &["-n", ns, "addr", "add", addr, "dev", i]);
            must("ip", &["-n", ns, "link", "set", "dev", i, "up"]);
        }
    }

    /// A phone namespace `k` behind the carrier (198.51.100+k.2/24), with
    /// its own charon (kernel-libipsec, never the `resolve` plugin).
    fn phone(&mut self, inet: &str, k: u8) -> Phone {
        let ns = format!("vjph{k}-{}", self.tag);
        self.add_netns(&ns);
        let net = format!("198.51.{}", 100 + u16::from(k));
        self.wire(
            inet,
            &format!("cg{k}"),
            &format!("{net}.1/24"),
            &ns,
            "ph0",
            &format!("{net}.2/24"),
        );
        must(
            "ip",
            &[
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &format!("{net}.1"),
            ],
        );
        let dir = self.dir.path().join(format!("phone{k}"));
        std::fs::create_dir_all(dir.join("run")).expect("phone dir");
        let d = dir.display();
        std::fs::write(
            dir.join("strongswan.conf"),
            format!(
                "charon-systemd {{\n  load = random nonce aes sha1 sha2 hmac gcm pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl kdf kernel-libipsec kernel-netlink socket-default vici updown\n  piddir = {d}/run\n  plugins {{\n    vici {{\n      socket = unix://{d}/run/charon.vici\n    }}\n  }}\n  filelog {{\n    f {{\n      path = {d}/charon.log\n      default = 1\n    }}\n  }}\n}}\nswanctl {{\n  socket = unix://{d}/run/charon.vici\n}}\n"
            ),
        )
        .expect("strongswan.conf");
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "env"])
            .arg(format!("STRONGSWAN_CONF={d}/strongswan.conf"))
            .arg(CHARON)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the phone's charon");
        self.charons.push(child);
        let p = Phone { ns, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.swanctl(&p.dir, &["--stats"]).is_err() {
            assert!(
                Instant::now() < deadline,
                "the phone's charon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    /// `vpnjail client NAME --format swanctl`, into the test's directory.
    fn profile(&self, name: &str) -> PathBuf {
        let out = self.dir.path().join(format!("{name}-swanctl"));
        let o = out.display().to_string();
        self.vpnjail(&["client", name, "--format", "swanctl", "--out", &o])
            .unwrap_or_else(|e| panic!("export {name}: {e}"));
        out
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        self.provider.take();
        for c in &mut self.charons {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for c in &mut self.charons {
            let deadline = Instant::now() + Duration::from_secs(3);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = self.vpnjail(&["destroy", "--all"]) {
            eprintln!("cleanup: vpnjail destroy --all: {e}");
        }
        for n in &self.extra {
            let _ = sh("ip", &["netns", "del", n]);
        }
        let mark = format!("-{}-", self.tag);
        for l in sh("ip", &["netns", "list"]).unwrap_or_default().lines() {
            if let Some(n) = l.split_whitespace().next().filter(|n| n.contains(&mark)) {
                let _ = sh("ip", &["netns", "del", n]);
            }
        }
    }
}

/// Whether `server` answers a question from `ns` (any reply) within `bound`.
fn answered(ns: &str, server: Ipv4Addr, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if reply(ns, server).is_some() {
            return true;
        }
    }
    false
}

/// The laptop's SA, narrowed to the WAN, and vpndns on alpha's bridge
/// answering it (by the site's default policy: none here, so REFUSED).
fn laptop_up(laptop: &Phone, profile: &Path, tag: &str) {
    laptop
        .swanctl(profile, &["--load-all"])
        .expect("load laptop");
    let up = laptop
        .swanctl(profile, &["--initiate", "--child", tag, "--timeout", "20"])
        .unwrap_or_else(|e| panic!("laptop's SA: {e}"));
    assert!(
        up.contains("10.20.0.6/32 === 10.10.1.0/24"),
        "narrowed to the WAN: {up}"
    );
    assert!(
        answered(
            &laptop.ns,
            Ipv4Addr::new(10, 10, 1, 53),
            Duration::from_secs(10)
        ),
        "the laptop reaches vpndns on its own bridge"
    );
}

/// Both hosts made by `vpnjail create --all`, on the Internet namespace
/// (returned) with the carrier NAT, and vpna's provider. `t` is a prefix
/// that keeps the two tests' names apart when they run at once.
fn build(t: char, bgp: bool) -> (Topo, String) {
    let tag = format!("{t}{:x}", std::process::id() & 0xfffff);
    let dir = tempfile::tempdir().expect("tempdir");
    if bgp {
        // FRR runs as user frr and reads its files under the jails'
        // directories (the keys in pki/ stay 0600).
        must("chmod", &["755", &dir.path().display().to_string()]);
    }
    let site_file = dir.path().join("site.toml");
    std::fs::write(&site_file, site(&tag, dir.path(), bgp)).expect("site");
    let mut t = Topo {
        tag: tag.clone(),
        dir,
        site: site_file,
        extra: Vec::new(),
        charons: Vec::new(),
        provider: None,
    };
    t.vpnjail(&["pki"]).expect("vpnjail pki");
    t.vpnjail(&["create", "--all"])
        .unwrap_or_else(|e| panic!("vpnjail create --all: {e}"));
    let host = format!("vjh-{tag}-alpha");
    let vpna = format!("vj-{tag}-alpha-vpna");
    // The Internet: the host's external interface on it, the carrier NAT
    // in front of the phones.
    let inet = format!("vjin-{tag}");
    t.add_netns(&inet);
    t.wire(
        &host,
        "wan0",
        &format!("{PUBLIC}/25"),
        &inet,
        "inet0",
        "203.0.113.126/25",
    );
    let beta = format!("vjh-{tag}-beta");
    t.wire(
        &beta,
        "wan0",
        &format!("{BETA_PUBLIC}/25"),
        &inet,
        "inet1",
        "203.0.113.129/25",
    );
    for (ns, gw) in [(&host, "203.0.113.126"), (&beta, "203.0.113.129")] {
        must("ip", &["-n", ns, "route", "replace", "default", "via", gw]);
    }
    must(
        "ip",
        &[
            "netns",
            "exec",
            &inet,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    let nat = t.dir.path().join("carrier.nft");
    std::fs::write(
        &nat,
        "table ip carrier {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"inet0\" ip saddr 198.51.0.0/16 masquerade\n\t}\n}\n",
    )
    .expect("carrier.nft");
    must(
        "ip",
        &[
            "netns",
            "exec",
            &inet,
            "nft",
            "-f",
            &nat.display().to_string(),
        ],
    );
    // vpna's provider behind a stand-in tun0; the vpn client's default route.
    let prov = format!("vjpr-{tag}");
    t.add_netns(&prov);
    t.wire(&vpna, "tun0", "10.8.1.2/30", &prov, "p0", "10.8.1.1/30");
    must(
        "ip",
        &[
            "-n",
            &prov,
            "addr",
            "add",
            &format!("{INTERNET}/32"),
            "dev",
            "lo",
        ],
    );
    must(
        "ip",
        &[
            "-n", &vpna, "route", "replace", "default", "via", "10.8.1.1",
        ],
    );
    t.provider = Some(Provider::start(&prov));
    (t, inet)
}

#[test]
fn phones_dial_in_get_their_exit_and_a_revoked_one_is_refused() {
    if let Some(r) = skip_reason() {
        eprintln!("SKIP roadwarrior_e2e: {r}");
        return;
    }
    let started = Instant::now();
    let (mut t, inet) = build('r', false);
    let tag = t.tag.clone();
    let host = format!("vjh-{tag}-alpha");
    let vpna = format!("vj-{tag}-alpha-vpna");
    let phone = t.phone(&inet, 0);
    let laptop = t.phone(&inet, 1);
    let (pp, lp, op) = (t.profile("phone"), t.profile("laptop"), t.profile("old"));
    let p12_free = std::fs::read_dir(&pp).expect("profile").count();
    assert_eq!(p12_free, 4, "swanctl.conf, x509/, x509ca/, private/");

    // The phone: SA through both NATs, its fixed address, DNS via its exit.
    phone.swanctl(&pp, &["--load-all"]).expect("load phone");
    let t0 = Instant::now();
    let up = phone
        .swanctl(&pp, &["--initiate", "--child", &tag, "--timeout", "20"])
        .unwrap_or_else(|e| panic!("phone's SA: {e}"));
    let sa_time = t0.elapsed();
    assert!(up.contains("10.20.0.5/32 === 0.0.0.0/0"), "{up}");
    let sas = phone.swanctl(&pp, &["--list-sas"]).expect("list-sas");
    assert!(
        sas.contains(&format!("{PUBLIC}[4500]")) && sas.contains("TUNNEL-in-UDP"),
        "NAT-T (ESP in UDP to the host's port 4500): {sas}"
    );
    // ... and it went through the host's DNAT to the ipsec namespace.
    let host_nft = must(
        "ip",
        &[
            "netns",
            "exec",
            &host,
            "nft",
            "list",
            "table",
            "ip",
            &format!("vpnjail_{tag}_alpha"),
        ],
    );
    let dnat = host_nft
        .lines()
        .find(|l| l.contains("dnat to 10.10.1.4"))
        .unwrap_or_else(|| panic!("the host's DNAT rule: {host_nft}"));
    assert!(
        counter(dnat) > 0,
        "IKE reached the ipsec namespace through the host's DNAT: {dnat}"
    );
    let addrs = must(
        "ip",
        &["-n", &phone.ns, "-4", "-o", "addr", "show", "dev", "ipsec0"],
    );
    assert!(addrs.contains("10.20.0.5/32"), "virtual IP: {addrs}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    while Instant::now() < deadline && got != Some(ANSWER) {
        got = ask(&phone.ns, Ipv4Addr::new(10, 10, 1, 53));
    }
    assert_eq!(
        got,
        Some(ANSWER),
        "the phone's DNS is answered through vpna's provider"
    );
    // The exit's kill switch is in force (policy drop) and admits the phone.
    let ks = must(
        "ip",
        &[
            "netns",
            "exec",
            &vpna,
            "nft",
            "list",
            "table",
            "inet",
            "vpnjail_killswitch",
        ],
    );
    assert!(
        ks.contains("hook forward priority filter; policy drop;"),
        "{ks}"
    );
    assert!(echo(&phone.ns), "the phone reaches the Internet");
    let from = t
        .provider
        .as_ref()
        .expect("provider")
        .echo_from
        .lock()
        .expect("lock")
        .clone();
    assert_eq!(
        from,
        vec![Ipv4Addr::new(10, 8, 1, 2)],
        "its datagram left through vpna's tunnel with the tunnel's address"
    );

    // The laptop: the WAN only.
    laptop_up(&laptop, &lp, &tag);
    // The WAN is also the link peer's bridge: the link carries the pool,
    // and beta routes it back (selectors and routes: Host::wan_networks).
    assert!(
        answered(&laptop.ns, BETA_DNS, Duration::from_secs(30)),
        "the laptop reaches vpndns on beta's bridge over the link"
    );
    assert!(!echo(&laptop.ns), "the laptop does not reach the Internet");
    assert_eq!(
        t.provider
            .as_ref()
            .expect("provider")
            .echo_from
            .lock()
            .expect("lock")
            .len(),
        1,
        "nothing of the laptop's reached the provider"
    );
    // And what it might send into the tunnel anyway is dropped and counted.
    let rw = must(
        "ip",
        &[
            "netns",
            "exec",
            &format!("vj-{tag}-alpha-ipsec"),
            "nft",
            "list",
            "table",
            "ip",
            "vpnjail_rw",
        ],
    );
    assert!(rw.contains("set full_tunnel"), "{rw}");
    laptop
        .swanctl(&lp, &["--terminate", "--ike", &tag])
        .expect("terminate laptop");

    // `old`: allowed, revoked, refused.
    laptop.swanctl(&op, &["--load-all"]).expect("load old");
    laptop
        .swanctl(&op, &["--initiate", "--child", &tag, "--timeout", "20"])
        .unwrap_or_else(|e| panic!("old before revocation: {e}"));
    laptop
        .swanctl(&op, &["--terminate", "--ike", &tag])
        .expect("terminate old");
    let r = t.vpnjail(&["client", "revoke", "old"]).expect("revoke");
    assert!(r.contains("load strongSwan connections"), "{r}");
    let refused = laptop.swanctl(&op, &["--initiate", "--child", &tag, "--timeout", "20"]);
    let e = refused.expect_err("a revoked client must be refused");
    assert!(
        e.contains("AUTHENTICATION_FAILED") || e.contains("AUTH_FAILED"),
        "{e}"
    );
    // The phone is still up and still served.
    assert_eq!(ask(&phone.ns, Ipv4Addr::new(10, 10, 1, 53)), Some(ANSWER));
    eprintln!(
        "roadwarrior_e2e: phone SA up in {:?}; whole run {:?}",
        sa_time,
        started.elapsed()
    );
}

/// IKE of the link, then BGP's first session and update, on a loaded 2-core
/// machine (docs/bgp.md measures 5.8–10.8 s for the link and BGP alone).
const BGP_BOUND: Duration = Duration::from_secs(40);

/// With `routing = "bgp"` the pool is advertised from alpha's ipsec
/// namespace: beta's ipsec namespace learns it over the link (`proto bgp`),
/// and the split-tunnel laptop on alpha reaches vpndns on beta's bridge.
/// Without the advertisement beta has no route back to the pool (its ipsec
/// namespace's default route leads to its host) and the laptop's question
/// stays unanswered.
#[test]
fn with_bgp_a_road_warrior_reaches_the_other_host() {
    if let Some(r) = skip_reason().or_else(netns::skip_reason) {
        eprintln!("SKIP roadwarrior_e2e (bgp): {r}");
        return;
    }
    let started = Instant::now();
    let (mut t, inet) = build('b', true);
    let tag = t.tag.clone();
    let laptop = t.phone(&inet, 1);
    let lp = t.profile("laptop");
    laptop_up(&laptop, &lp, &tag);
    // beta learns the pool from alpha over the link.
    let ipsec_b = format!("vj-{tag}-beta-ipsecb");
    let route = || {
        sh(
            "ip",
            &["-n", &ipsec_b, "-4", "route", "show", "10.20.0.0/24"],
        )
        .unwrap_or_default()
    };
    let t0 = Instant::now();
    while !route().contains("proto bgp") && t0.elapsed() < BGP_BOUND {
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = route();
    assert!(
        r.contains("proto bgp") && r.contains("via 172.16.0.1"),
        "beta's ipsec namespace learns the pool over the link: {r:?} after {:?}",
        t0.elapsed()
    );
    let learned = t0.elapsed();
    assert!(
        answered(&laptop.ns, BETA_DNS, Duration::from_secs(10)),
        "the laptop reaches vpndns on beta's bridge over the BGP-routed link"
    );
    assert!(!echo(&laptop.ns), "the laptop does not reach the Internet");
    eprintln!(
        "roadwarrior_e2e (bgp): pool learned by beta {learned:?} after the laptop's SA; whole run {:?}",
        started.elapsed()
    );
}
