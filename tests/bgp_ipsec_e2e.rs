//! BGP over a real strongSwan link on Linux (issue 8, test 1's "one link also
//! with strongSwan"): two hosts built by `vpnjail create --all` from a site
//! with `routing = "bgp"`, each host a network namespace joined by a "WAN"
//! veth pair, each ipsec namespace running charon (kernel-libipsec) and FRR
//! exactly as the plan starts them. The BGP session runs between the link's
//! inner addresses on ipsec0, inside ESP; the bridge networks are learned by
//! BGP (not configured), and a laptop on beta reaches alpha's ipsec jail over
//! the tunnel. The WAN is then cut silently: the hold time withdraws the
//! route; restored, the session and the route come back.
//!
//! Runs as root with FRR and strongSwan installed; skips with a message
//! otherwise. Names carry a per-run tag; a guard destroys everything on drop,
//! also when the test fails. Addresses are used only inside the namespaces
//! the test creates.

#[path = "common/netns.rs"]
mod netns;

use netns::{must, sh, spawn_in_netns};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");
const ECHO_PORT: u16 = 7;
const ALPHA_IPSEC: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 4);
const LAPTOP: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 77);

/// IKE, then BGP's first session and update, on a loaded 2-core machine.
const UP_BOUND: Duration = Duration::from_secs(40);
/// Hold time 3 s (docs/bgp.md), plus margin.
const SILENT_BOUND: Duration = Duration::from_secs(6);
/// The SA is still up (DPD 30 s); BGP reconnects every second.
const BACK_BOUND: Duration = Duration::from_secs(15);

/// The FRR namespace tests' reasons, plus strongSwan.
fn skip_reason() -> Option<String> {
    if let Some(r) = netns::skip_reason() {
        return Some(r);
    }
    for (what, path) in [
        ("charon-systemd", vpndns::deploy::plan::linux::CHARON),
        ("strongswan-swanctl", "/usr/sbin/swanctl"),
    ] {
        if !Path::new(path).exists() {
            return Some(format!("{path} is missing (apt-get install {what})"));
        }
    }
    None
}

fn site(tag: &str, dir: &Path) -> String {
    std::fs::write(
        dir.join("alpha-beta.psk"),
        "bgp-ipsec-test-psk-0123456789\n",
    )
    .expect("psk");
    format!(
        r#"[site]
name = "{tag}"
routing = "bgp"

[[host]]
name = "alpha"
platform = "linux"
netns = "vjh-{tag}-alpha"
external_if = "wan0"
public_address = "10.99.0.1"
bridge = {{ name = "vjbr0", network = "10.10.1.0/24", address = "10.10.1.1" }}
jail_root = "{a}"

[[host.jail]]
name = "ipsec"
kind = "ipsec"
address = "{ALPHA_IPSEC}"

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
address = "{LAPTOP}"

[[link]]
hosts = ["alpha", "beta"]
mode = "swanctl"
reqid = 100
inner = ["172.16.0.1", "172.16.0.2"]
psk_file = "alpha-beta.psk"
"#,
        a = dir.join("alpha").display(),
        b = dir.join("beta").display()
    )
}

/// Everything the test made; dropping it destroys all of it.
struct Topo {
    tag: String,
    dir: PathBuf,
    site: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Topo {
    fn vpnjail(&self, args: &[&str]) -> Result<String, String> {
        let site = self.site.display().to_string();
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--site", &site]);
        sh(VPNJAIL, &a)
    }

    fn ns(&self, host: &str, jail: &str) -> String {
        format!("vj-{}-{host}-{jail}", self.tag)
    }

    fn host_ns(&self, host: &str) -> String {
        format!("vjh-{}-{host}", self.tag)
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(e) = self.vpnjail(&["destroy", "--all"]) {
            eprintln!("cleanup: vpnjail destroy --all: {e}");
        }
        // Whatever destroy could not stop.
        for pid in walk_pids(&self.dir) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let mark = format!("-{}-", self.tag);
        for ns in must("ip", &["netns", "list"]).lines() {
            let ns = ns.split_whitespace().next().unwrap_or("");
            if ns.contains(&mark) {
                let _ = sh("ip", &["netns", "del", ns]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn walk_pids(d: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_pids(&p));
        } else if p.extension().is_some_and(|x| x == "pid")
            && let Some(pid) = std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        {
            out.push(pid);
        }
    }
    out
}

/// One UDP round trip from the laptop to alpha's ipsec jail.
fn round_trip(ns: &str) -> bool {
    spawn_in_netns(ns, || {
        let Ok(s) = UdpSocket::bind(SocketAddr::from((LAPTOP, 0))) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
        let mut buf = [0u8; 16];
        s.send_to(b"ping", (ALPHA_IPSEC, ECHO_PORT)).is_ok()
            && s.recv_from(&mut buf)
                .is_ok_and(|(n, _)| &buf[..n] == b"ping")
    })
    .join()
    .unwrap_or(false)
}

/// beta's ipsec namespace's route to alpha's bridge network, as `ip` shows it.
fn route_to_alpha(t: &Topo) -> String {
    must(
        "ip",
        &[
            "-n",
            &t.ns("beta", "ipsec_b"),
            "route",
            "show",
            "10.10.1.0/24",
        ],
    )
}

fn wait(what: &str, bound: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while t.elapsed() < bound {
        if f() {
            let took = t.elapsed();
            eprintln!("bgp_ipsec_e2e: {what}: {took:.1?}");
            return took;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {bound:?}");
}

/// beta's ipsec namespace's routes, rules and addresses, and bgpd's log:
/// what explains a missing route.
fn routing_state(t: &Topo) -> String {
    let ns = t.ns("beta", "ipsec_b");
    let mut out = String::new();
    for a in [
        &["route", "show", "table", "all"][..],
        &["rule"][..],
        &["addr"][..],
    ] {
        let mut v = vec!["-n", ns.as_str()];
        v.extend_from_slice(a);
        out += &sh("ip", &v).unwrap_or_else(|e| e);
    }
    out + &std::fs::read_to_string(t.dir.join("beta/ipsec_b/bgpd.log")).unwrap_or_default()
}

/// ESP bytes counted by charon in beta's ipsec namespace (both directions).
fn esp_bytes(t: &Topo) -> u64 {
    let conf = t.dir.join("beta").join("ipsec_b").join("strongswan.conf");
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &t.ns("beta", "ipsec_b"),
            "env",
            &format!("STRONGSWAN_CONF={}", conf.display()),
            "swanctl",
            "--list-sas",
        ],
    )
    .unwrap_or_default()
    .lines()
    .filter(|l| l.trim_start().starts_with("in ") || l.trim_start().starts_with("out "))
    .filter_map(|l| {
        l.split("bytes,")
            .next()?
            .split_whitespace()
            .last()?
            .parse::<u64>()
            .ok()
    })
    .sum()
}

#[test]
fn bgp_session_and_routes_over_a_strongswan_link() {
    if let Some(r) = skip_reason() {
        eprintln!("SKIP bgp_ipsec_e2e: {r}");
        return;
    }
    let tag = format!("g{:x}", std::process::id() & 0xfffff);
    let dir = std::env::temp_dir().join(format!("vjbgpsec-{tag}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let site_path = dir.join("site.toml");
    std::fs::write(&site_path, site(&tag, &dir)).expect("site");
    let t = Topo {
        tag,
        dir,
        site: site_path,
        stop: Arc::new(AtomicBool::new(false)),
    };
    // FRR runs as user frr and reads its files under the jails' directories.
    must("chmod", &["755", &t.dir.display().to_string()]);
    let (ha, hb) = (t.host_ns("alpha"), t.host_ns("beta"));
    for ns in [&ha, &hb] {
        must("ip", &["netns", "add", ns]);
        must("ip", &["-n", ns, "link", "set", "dev", "lo", "up"]);
    }
    must(
        "ip",
        &[
            "-n", &ha, "link", "add", "name", "wan0", "type", "veth", "peer", "name", "wan0",
            "netns", &hb,
        ],
    );
    for (ns, a) in [(&ha, "10.99.0.1/24"), (&hb, "10.99.0.2/24")] {
        must("ip", &["-n", ns, "addr", "add", a, "dev", "wan0"]);
        must("ip", &["-n", ns, "link", "set", "dev", "wan0", "up"]);
    }
    let started = Instant::now();
    if let Err(e) = t.vpnjail(&["create", "--all"]) {
        panic!("vpnjail create --all: {e}");
    }
    // The generated configuration is what makes this work: no static route
    // between the bridge networks in the ipsec namespaces, and charon's own
    // routes off.
    let sw = std::fs::read_to_string(t.dir.join("alpha/ipsec/strongswan.conf")).expect("conf");
    assert!(sw.contains("install_routes = no"), "{sw}");

    // An echo responder on alpha's ipsec jail address.
    let stop = t.stop.clone();
    let echo = spawn_in_netns(&t.ns("alpha", "ipsec"), move || {
        let s = UdpSocket::bind(SocketAddr::from((ALPHA_IPSEC, ECHO_PORT))).expect("bind");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
            }
        }
    });
    let laptop = t.ns("beta", "laptop");
    wait(
        "IKE up, BGP route learned, laptop on beta reaches alpha",
        UP_BOUND,
        || round_trip(&laptop),
    );
    eprintln!("bgp_ipsec_e2e: since create: {:.1?}", started.elapsed());
    let r = route_to_alpha(&t);
    assert!(
        r.contains("proto bgp") && r.contains("via 172.16.0.1") && r.contains("ipsec0"),
        "alpha's network is a BGP route over the tunnel: {r:?}\n{}",
        routing_state(&t)
    );
    let before = esp_bytes(&t);
    assert!(round_trip(&laptop));
    assert!(
        esp_bytes(&t) > before,
        "the round trip crossed ESP ({before} bytes before)"
    );

    // The WAN stops carrying packets (interfaces stay up): the BGP hold time
    // ends the session and the route is withdrawn.
    let cut = t.dir.join("cut.nft");
    std::fs::write(
        &cut,
        "table ip cut {\n chain wan { type filter hook prerouting priority raw; iifname \"wan0\" drop; }\n}\n",
    )
    .expect("write nft");
    must(
        "ip",
        &[
            "netns",
            "exec",
            &hb,
            "nft",
            "-f",
            &cut.display().to_string(),
        ],
    );
    wait("silent WAN: BGP route withdrawn", SILENT_BOUND, || {
        !route_to_alpha(&t).contains("proto bgp")
    });
    assert!(!round_trip(&laptop), "no path while the only link is dead");

    must(
        "ip",
        &["netns", "exec", &hb, "nft", "delete", "table", "ip", "cut"],
    );
    wait("WAN back: session and route restored", BACK_BOUND, || {
        route_to_alpha(&t).contains("proto bgp") && round_trip(&laptop)
    });
    t.stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
}
