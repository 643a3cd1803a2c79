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

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/sitefile.rs"]
mod sitefile;

use e2e::{Lab, UdpServer, VPNDNS, wait_until, wait_until_or};
use netns::{must, sh};
use sitefile::{Host, SiteFile, Table};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
/// vpndns on alpha's bridge.
const ALPHA_DNS: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 53);

fn skip_reason() -> Option<String> {
    e2e::skip_reason_strongswan()
        .or_else(|| (!netns::ok("openssl", &["version"])).then(|| "openssl is missing".to_string()))
}

/// The site; with `bgp`, `routing = "bgp"` (FRR in both ipsec namespaces).
fn site(tag: &str, dir: &Path, bgp: bool) -> String {
    let mut site = SiteFile::new(tag);
    if bgp {
        site = site.set("routing", "bgp");
    }
    site.host(
        Host::linux(tag, "alpha", dir, PUBLIC, 1)
            .set("client_pool", "10.20.0.0/24")
            .set("vpndns_bin", VPNDNS)
            .jail(Table::jail("ipsec", "ipsec", "10.10.1.4"))
            .jail(Table::jail("dns", "vpndns", &ALPHA_DNS.to_string()))
            .jail(
                Table::jail("vpna", "vpn", "10.10.1.2")
                    .set("tun", "tun0")
                    .set("provider_dns", "10.8.1.1"),
            ),
    )
    .host(
        Host::linux(tag, "beta", dir, BETA_PUBLIC, 2)
            .set("vpndns_bin", VPNDNS)
            .jail(Table::jail("ipsecb", "ipsec", "10.10.2.4"))
            .jail(Table::jail("dnsb", "vpndns", &BETA_DNS.to_string())),
    )
    .link(
        Table::swanctl_link("alpha", "beta", 100)
            .set("auth", "pubkey")
            .set("inner", ["172.16.0.1", "172.16.0.2"]),
    )
    .client("phone", "alpha", "10.20.0.5", Some("vpna"))
    .client("laptop", "alpha", "10.20.0.6", None)
    .client("old", "alpha", "10.20.0.7", None)
    .to_string()
}

/// Asks `server` for A `example.com` from namespace `ns`: the reply, if any.
fn reply(ns: &str, server: Ipv4Addr) -> Option<e2e::dns::Reply> {
    e2e::dns::ask(
        ns,
        &server.to_string(),
        "example.com",
        Duration::from_millis(1500),
    )
}

/// The first address of the answer to [`reply`].
fn ask(ns: &str, server: Ipv4Addr) -> Option<Ipv4Addr> {
    reply(ns, server)?.addr()
}

/// Sends one datagram to the Internet echo server from `ns`; whether it came back.
fn echo(ns: &str) -> bool {
    e2e::udp_echo(
        ns,
        None,
        SocketAddr::from((INTERNET, ECHO_PORT)),
        Duration::from_millis(1500),
    )
}

/// The packet count of an nftables rule printed with `counter packets N`.
fn counter(rule: &str) -> u64 {
    e2e::packets(rule, "counter packets").unwrap_or(0)
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
        let conf = format!("STRONGSWAN_CONF={}", self.conf().display());
        let dir = format!("SWANCTL_DIR={}", profile.display());
        let mut a = vec![conf.as_str(), dir.as_str(), "swanctl"];
        a.extend_from_slice(args);
        e2e::ns_exec(&self.ns, "env", &a)
    }
}

/// Everything the test made (the lab; its servers are vpna's provider:
/// its resolver on 10.8.1.1:53 answering [`ANSWER`], and UDP echo on
/// [`INTERNET`]:7 recording who sent).
type Topo = Lab;

/// What the road-warrior tests do with their lab.
trait RoadWarriors {
    fn echo_from(&self) -> Vec<Ipv4Addr>;
    fn phone(&mut self, inet: &str, k: u8) -> Phone;
    fn profile(&self, name: &str) -> PathBuf;
}

impl RoadWarriors for Lab {
    /// Who sent datagrams to the provider's Internet echo server.
    fn echo_from(&self) -> Vec<Ipv4Addr> {
        self.servers[1].sources()
    }

    /// A phone namespace `k` behind the carrier (198.51.100+k.2/24), with
    /// its own charon (kernel-libipsec, never the `resolve` plugin).
    fn phone(&mut self, inet: &str, k: u8) -> Phone {
        let ns = format!("vjph{k}-{}", self.tag);
        self.add_netns(&ns);
        let net = format!("198.51.{}", 100 + u16::from(k));
        netns::veth(
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
        let dir = self.path().join(format!("phone{k}"));
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
            .arg(vpndns::deploy::plan::linux::CHARON)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the phone's charon");
        self.children.push(child);
        let p = Phone { ns, dir };
        wait_until("the phone's charon starts", Duration::from_secs(10), || {
            p.swanctl(&p.dir, &["--stats"]).is_ok()
        });
        p
    }

    /// `vpnjail client NAME --format swanctl`, into the test's directory.
    fn profile(&self, name: &str) -> PathBuf {
        let out = self.path().join(format!("{name}-swanctl"));
        let o = out.display().to_string();
        self.vpnjail(&["client", name, "--format", "swanctl", "--out", &o])
            .unwrap_or_else(|e| panic!("export {name}: {e}"));
        out
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
        answered(&laptop.ns, ALPHA_DNS, Duration::from_secs(10)),
        "the laptop reaches vpndns on its own bridge"
    );
}

/// Both hosts made by `vpnjail create --all`, on the Internet namespace
/// (returned) with the carrier NAT, and vpna's provider. `t` is a prefix
/// that keeps the two tests' names apart when they run at once.
fn build(t: char, bgp: bool) -> (Topo, String) {
    let mut t = Lab::new(t, |tag, dir| site(tag, dir, bgp));
    if bgp {
        // FRR runs as user frr and reads its files under the jails'
        // directories (the keys in pki/ stay 0600).
        t.readable_by_frr();
    }
    t.vpnjail(&["pki"]).expect("vpnjail pki");
    t.create_all();
    let host = t.host_ns("alpha");
    let vpna = t.ns("alpha", "vpna");
    // The Internet: the host's external interface on it, the carrier NAT
    // in front of the phones.
    let inet = format!("vjin-{}", t.tag);
    t.add_netns(&inet);
    netns::veth(
        &host,
        "wan0",
        &format!("{PUBLIC}/25"),
        &inet,
        "inet0",
        "203.0.113.126/25",
    );
    let beta = t.host_ns("beta");
    netns::veth(
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
    e2e::ns_must(&inet, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
    e2e::nft_load(
        &inet,
        t.path(),
        "carrier.nft",
        "table ip carrier {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"inet0\" ip saddr 198.51.0.0/16 masquerade\n\t}\n}\n",
    );
    // vpna's provider behind a stand-in tun0; the vpn client's default route.
    let prov = format!("vjpr-{}", t.tag);
    t.add_netns(&prov);
    netns::veth(&vpna, "tun0", "10.8.1.2/30", &prov, "p0", "10.8.1.1/30");
    let internet = format!("{INTERNET}/32");
    must("ip", &["-n", &prov, "addr", "add", &internet, "dev", "lo"]);
    must(
        "ip",
        &[
            "-n", &vpna, "route", "replace", "default", "via", "10.8.1.1",
        ],
    );
    t.servers = vec![
        UdpServer::dns(&prov, SocketAddr::from(([10, 8, 1, 1], 53)), ANSWER),
        UdpServer::echo(&prov, SocketAddr::from((INTERNET, ECHO_PORT))),
    ];
    (t, inet)
}

#[test]
fn phones_dial_in_get_their_exit_and_a_revoked_one_is_refused() {
    skip_if!("roadwarrior_e2e", skip_reason());
    let started = Instant::now();
    let (mut t, inet) = build('r', false);
    let tag = t.tag.clone();
    let host = t.host_ns("alpha");
    let vpna = t.ns("alpha", "vpna");
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
    let table = format!("vpnjail_{tag}_alpha");
    let host_nft = e2e::ns_must(&host, "nft", &["list", "table", "ip", &table]);
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
    e2e::wait_for(
        "the phone's DNS is answered through vpna's provider",
        Duration::from_secs(10),
        || match ask(&phone.ns, ALPHA_DNS) {
            Some(a) if a == ANSWER => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // The exit's kill switch is in force (policy drop) and admits the phone.
    let ks = e2e::ns_must(
        &vpna,
        "nft",
        &["list", "table", "inet", "vpnjail_killswitch"],
    );
    assert!(
        ks.contains("hook forward priority filter; policy drop;"),
        "{ks}"
    );
    assert!(echo(&phone.ns), "the phone reaches the Internet");
    assert_eq!(
        t.echo_from(),
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
        t.echo_from().len(),
        1,
        "nothing of the laptop's reached the provider"
    );
    // And what it might send into the tunnel anyway is dropped and counted.
    let rw = e2e::ns_must(
        &t.ns("alpha", "ipsec"),
        "nft",
        &["list", "table", "ip", "vpnjail_rw"],
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
    assert_eq!(ask(&phone.ns, ALPHA_DNS), Some(ANSWER));
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
    skip_if!(
        "roadwarrior_e2e (bgp)",
        skip_reason().or_else(netns::skip_reason)
    );
    let started = Instant::now();
    let (mut t, inet) = build('b', true);
    let tag = t.tag.clone();
    let laptop = t.phone(&inet, 1);
    let lp = t.profile("laptop");
    laptop_up(&laptop, &lp, &tag);
    // beta learns the pool from alpha over the link.
    let ipsec_b = t.ns("beta", "ipsecb");
    let route = || {
        sh(
            "ip",
            &["-n", &ipsec_b, "-4", "route", "show", "10.20.0.0/24"],
        )
        .unwrap_or_default()
    };
    let learned = wait_until_or(
        "beta's ipsec namespace learns the pool over the link",
        BGP_BOUND,
        || route().contains("proto bgp"),
        route,
    );
    let r = route();
    assert!(r.contains("via 172.16.0.1"), "learned from alpha: {r:?}");
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
