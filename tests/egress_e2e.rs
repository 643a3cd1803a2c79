//! A vpn jail's egress fails closed, with real packets in Linux network
//! namespaces built by `vpnjail create --all` (issue 11). Runs as root; skips
//! with a message otherwise.
//!
//! The machine: the host namespace's `external_if` (`wan0`, the host's
//! public address 203.0.113.2) is wired to an "internet" namespace that
//! counts, with nftables, every packet arriving from the host's address. The
//! providers sit in their own namespaces, each with an exit service (UDP
//! echo, TCP, DNS) on 198.51.100.1. Whatever a vpn jail's clients send with
//! the tunnel down must never show up in the internet namespace.
//!
//! Each test has its own site name (a run tag) that every namespace it makes
//! carries, so parallel tests or runs cannot collide; a guard destroys
//! everything on drop, also when the test fails.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/openvpn.rs"]
mod openvpn;
#[path = "common/sitefile.rs"]
mod sitefile;
#[path = "common/wireguard.rs"]
mod wireguard;

use e2e::{TcpServer, UdpServer, VPNDNS, VPNJAIL};
use netns::{alive, must, ok, sh};
use openvpn::{client_ovpn, pki};
use sitefile::{Host, SiteFile, Table};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HOST_PUBLIC: &str = "203.0.113.2";
/// Provider A's public address (its OpenVPN server), behind the internet namespace.
const PROVIDER_A: &str = "192.0.2.2";
/// The exit service every provider runs (on its own loopback).
const EXIT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Every provider's resolver (on its own loopback, reached through its tunnel).
const RESOLVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);
const VPNDNS_ADDR: &str = "10.10.1.53";
/// Answers unique to each provider's resolver.
const ANSWER_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ANSWER_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

macro_rules! require_root_netns {
    () => {
        skip_if!("egress_e2e", e2e::skip_reason())
    };
}

// ---------------------------------------------------------------- probes

/// One A query from inside `ns`; the first A address of the answer.
fn dns(ns: &str, server: &str, name: &str, wait: Duration) -> Option<Ipv4Addr> {
    e2e::dns::ask(ns, server, name, wait)?.addr()
}

/// A UDP datagram to `dst:7` from inside `ns`; true when it is echoed.
fn udp_echo(ns: &str, dst: Ipv4Addr, wait: Duration) -> bool {
    e2e::udp_echo(ns, None, SocketAddr::from((dst, 7)), wait)
}

/// A TCP connection to `dst:80` from inside `ns`; true when it is answered.
fn tcp_get(ns: &str, dst: Ipv4Addr, wait: Duration) -> bool {
    e2e::in_ns(ns, move || {
        let Ok(mut s) = TcpStream::connect_timeout(&SocketAddr::from((dst, 80)), wait) else {
            return false;
        };
        s.set_read_timeout(Some(wait)).ok();
        let mut b = [0u8; 2];
        s.read_exact(&mut b).is_ok() && &b == b"ok"
    })
}

// ---------------------------------------------------------------- exit service

/// UDP echo on `EXIT`:7, TCP on `EXIT`:80 and a DNS resolver on
/// `RESOLVER`:53 answering `answer`, in a provider's namespace; counts what
/// it served. (Bound to their addresses, so replies leave from them.)
struct Exit {
    udp: [UdpServer; 2],
    tcp: TcpServer,
}

impl Exit {
    fn start(ns: &str, answer: Ipv4Addr) -> Exit {
        Exit {
            udp: [
                UdpServer::echo(ns, SocketAddr::from((EXIT, 7))),
                UdpServer::dns(ns, SocketAddr::from((RESOLVER, 53)), answer),
            ],
            tcp: TcpServer::start(ns, SocketAddr::from((EXIT, 80)), b"ok"),
        }
    }
    fn served(&self) -> usize {
        self.udp.iter().map(UdpServer::count).sum::<usize>() + self.tcp.count()
    }
}

// ---------------------------------------------------------------- the lab

/// Everything a test made (the site's lab, and the providers' exit
/// services, stopped first); dropping it destroys all of it.
struct Lab {
    exits: Vec<Exit>,
    inner: e2e::Lab,
}

impl std::ops::Deref for Lab {
    type Target = e2e::Lab;
    fn deref(&self) -> &e2e::Lab {
        &self.inner
    }
}

impl std::ops::DerefMut for Lab {
    fn deref_mut(&mut self) -> &mut e2e::Lab {
        &mut self.inner
    }
}

impl Lab {
    /// The host and internet namespaces, wired; the site file written.
    fn new(site_text: impl FnOnce(&str, &Path) -> String) -> Lab {
        let mut lab = Lab {
            exits: Vec::new(),
            inner: e2e::Lab::new('e', site_text),
        };
        let (h, i) = (lab.host_ns("alpha"), lab.inet_ns());
        lab.add_netns(&h);
        lab.add_netns(&i);
        netns::veth(
            &h,
            "wan0",
            &format!("{HOST_PUBLIC}/24"),
            &i,
            "i0",
            "203.0.113.1/24",
        );
        must(
            "ip",
            &["-n", &h, "route", "add", "default", "via", "203.0.113.1"],
        );
        e2e::ns_must(&i, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        // Count every packet that reaches the Internet from the host's address.
        e2e::nft_load(
            &i,
            lab.path(),
            "internet.nft",
            &format!(
                "table ip watch {{\n\tchain pre {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tiifname \"i0\" ip saddr {HOST_PUBLIC} udp dport {{ 1194, 51820 }} counter accept comment \"tunnel\"\n\t\tiifname \"i0\" ip saddr {HOST_PUBLIC} counter comment \"leak\"\n\t}}\n}}\n"
            ),
        );
        lab
    }

    fn inet_ns(&self) -> String {
        self.own_ns("vji", "net")
    }
    /// The namespace of jail `jail` (of the one host, alpha).
    fn ns(&self, jail: &str) -> String {
        self.inner.ns("alpha", jail)
    }

    /// A provider namespace with the exit service on `EXIT` (its loopback)
    /// and its resolver answering `answer`.
    fn provider(&mut self, name: &str, answer: Ipv4Addr) -> String {
        let p = self.own_ns("vjp", name);
        self.add_netns(&p);
        for a in [EXIT, RESOLVER] {
            must(
                "ip",
                &["-n", &p, "addr", "add", &format!("{a}/32"), "dev", "lo"],
            );
        }
        self.exits.push(Exit::start(&p, answer));
        p
    }

    /// A bring-your-own tunnel: a veth pair `tun0` (vpn namespace,
    /// `net`.2/30) / `p0` (provider, `net`.1/30) and the vpn namespace's
    /// routes through it, as a VPN client would set them (`def1`).
    fn veth_tunnel(&self, jail: &str, provider: &str, net: &str) {
        let v = self.ns(jail);
        netns::veth(
            &v,
            "tun0",
            &format!("{net}.2/30"),
            provider,
            "p0",
            &format!("{net}.1/30"),
        );
        for half in ["0.0.0.0/1", "128.0.0.0/1"] {
            must(
                "ip",
                &["-n", &v, "route", "add", half, "via", &format!("{net}.1")],
            );
        }
    }

    /// The counter of the internet namespace's rule with `comment`.
    fn watched(&self, comment: &str) -> u64 {
        let out = e2e::ns_must(
            &self.inet_ns(),
            "nft",
            &["list", "chain", "ip", "watch", "pre"],
        );
        counter_of(&out, &format!("comment \"{comment}\""))
    }

    /// Packets that reached the internet namespace from the host's address.
    fn leaked(&self) -> u64 {
        self.watched("leak")
    }

    /// Packets of the host's address to an OpenVPN or WireGuard endpoint
    /// (port 1194 or 51820, udp).
    fn to_endpoint(&self) -> u64 {
        self.watched("tunnel")
    }

    /// A named counter of a vpn namespace's kill switch.
    fn dropped(&self, jail: &str, counter: &str) -> u64 {
        let out = e2e::ns_must(
            &self.ns(jail),
            "nft",
            &["list", "counter", "inet", "vpnjail_killswitch", counter],
        );
        counter_of(&out, "packets")
    }
}

fn dir_file(lab: &Lab, name: &str, text: &str) -> PathBuf {
    lab.file(name, text)
}

/// `packets N` on the first line of `out` that contains `needle`.
#[track_caller]
fn counter_of(out: &str, needle: &str) -> u64 {
    e2e::packets(out, needle).unwrap_or_else(|| panic!("no counter with {needle:?} in:\n{out}"))
}

// ---------------------------------------------------------------- sites

/// One host behind the internet namespace: vpndns, two vpn jails with
/// bring-your-own tunnels (vpna restricted to one provider endpoint), a
/// service via each, and a LAN client that uses no VPN.
fn byo_site(tag: &str, dir: &Path) -> String {
    let resolver = RESOLVER.to_string();
    let service = |name: &str, address: &str, via: &str| {
        Table::jail(name, "service", address).set("via", via)
    };
    SiteFile::new(tag)
        .host(
            Host::linux(tag, "alpha", dir, HOST_PUBLIC, 1)
                .set("vpndns_bin", VPNDNS)
                .jail(Table::jail("dns", "vpndns", VPNDNS_ADDR))
                .jail(
                    Table::jail("vpna", "vpn", "10.10.1.2")
                        .set("provider_dns", resolver.as_str())
                        .set("endpoints", [format!("{PROVIDER_A}:1194/udp")]),
                )
                .jail(
                    Table::jail("vpnb", "vpn", "10.10.1.3").set("provider_dns", resolver.as_str()),
                )
                .jail(service("svca", "10.10.1.30", "vpna"))
                .jail(service("svcb", "10.10.1.31", "vpnb"))
                .jail(Table::jail("lan", "service", "10.10.1.40")),
        )
        .to_string()
}

// ---------------------------------------------------------------- the tests

const QUICK: Duration = Duration::from_millis(300);

#[track_caller]
fn eventually(what: &str, f: impl FnMut() -> bool) {
    e2e::wait_until(what, Duration::from_secs(10), f);
}

/// For `secs` seconds, `ns` sends UDP, TCP and DNS (through vpndns, to its
/// vpn jail's own address, and straight to an outside resolver) towards the
/// Internet; returns how many of them were answered.
fn hammer(ns: &str, secs: u64) -> usize {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut answered = 0;
    while Instant::now() < end {
        answered += usize::from(udp_echo(ns, EXIT, QUICK));
        answered += usize::from(tcp_get(ns, EXIT, QUICK));
        answered += usize::from(dns(ns, VPNDNS_ADDR, "leak.example.com", QUICK).is_some());
        answered += usize::from(dns(ns, &EXIT.to_string(), "direct.example.com", QUICK).is_some());
    }
    answered
}

/// A bring-your-own vpn jail whose tunnel goes away: its service's UDP, TCP
/// and DNS are dropped and counted in the jail, nothing reaches the Internet
/// from the host's address, the other vpn jail keeps working, and the jail's
/// own traffic reaches only its provider endpoint.
#[test]
fn byo_vpn_jail_fails_closed_when_its_tunnel_dies() {
    require_root_netns!();
    let started = Instant::now();
    let mut lab = Lab::new(byo_site);
    lab.create_all();
    let pa = lab.provider("a", ANSWER_A);
    let pb = lab.provider("b", ANSWER_B);
    lab.veth_tunnel("vpna", &pa, "10.8.1");
    lab.veth_tunnel("vpnb", &pb, "10.8.2");
    let (svca, svcb, lan) = (lab.ns("svca"), lab.ns("svcb"), lab.ns("lan"));

    // The probe can see a leak: the LAN client (no VPN) reaches the
    // Internet from the host's address, and it is counted there.
    let l0 = lab.leaked();
    let _ = udp_echo(&lan, EXIT, QUICK);
    assert!(
        lab.leaked() > l0,
        "the internet namespace counts the host's packets"
    );

    // Tunnels up: each service reaches its provider's exit, and its DNS
    // through vpndns is answered by its own provider.
    eventually("svca through vpna", || udp_echo(&svca, EXIT, QUICK));
    assert!(tcp_get(&svca, EXIT, QUICK));
    eventually("svca's DNS via vpndns and vpna", || {
        dns(&svca, VPNDNS_ADDR, "up.example.com", QUICK) == Some(ANSWER_A)
    });
    eventually("svcb through vpnb", || udp_echo(&svcb, EXIT, QUICK));
    assert!(lab.exits[0].served() > 0 && lab.exits[1].served() > 0);
    let before = lab.leaked();

    // vpna's tunnel dies (its client is gone, and so is tun0 with its routes).
    must("ip", &["-n", &lab.ns("vpna"), "link", "del", "tun0"]);
    let (fwd0, dns0) = (
        lab.dropped("vpna", "forward_dropped"),
        lab.dropped("vpna", "dns_dropped"),
    );
    let answered = hammer(&svca, 4);
    assert_eq!(answered, 0, "nothing is answered with the tunnel down");
    assert_eq!(
        lab.leaked(),
        before,
        "packets reached the Internet from the host's address"
    );
    assert!(lab.dropped("vpna", "forward_dropped") > fwd0);
    assert!(lab.dropped("vpna", "dns_dropped") > dns0);

    // The other vpn jail is unaffected.
    assert!(udp_echo(&svcb, EXIT, QUICK));
    assert!(tcp_get(&svcb, EXIT, QUICK));
    assert_eq!(
        dns(&svcb, VPNDNS_ADDR, "b.example.org", QUICK),
        Some(ANSWER_B)
    );

    // vpna's own traffic (endpoints = [...]): to anywhere but its provider
    // endpoint it is dropped; to the endpoint it leaves (and is counted).
    let out0 = lab.dropped("vpna", "output_dropped");
    assert!(!udp_echo(&lab.ns("vpna"), EXIT, QUICK));
    assert!(lab.dropped("vpna", "output_dropped") > out0);
    assert_eq!(lab.leaked(), before);
    let vpna = lab.ns("vpna");
    let t0 = lab.to_endpoint();
    e2e::in_ns(&vpna, || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
        s.send_to(b"hello provider", (PROVIDER_A, 1194))
            .expect("send");
    });
    eventually("the jail's own packet to its endpoint leaves", || {
        lab.to_endpoint() > t0
    });
    assert_eq!(lab.leaked(), before);
    eprintln!("byo kill switch: {:?}", started.elapsed());
}

// ---------------------------------------------------------------- OpenVPN

impl Lab {
    /// Provider A behind the internet namespace at `PROVIDER_A`: its exit
    /// services, and an OpenVPN server that pushes `redirect-gateway def1`
    /// and its resolver as `dhcp-option DNS`.
    fn openvpn_provider(&mut self) -> String {
        let p = self.provider_a();
        let pid = openvpn::start_server(&p, self.dir.path(), PROVIDER_A, RESOLVER);
        self.daemons.push(pid);
        p
    }

    /// Provider A's namespace, reached from the internet namespace at `PROVIDER_A`.
    fn provider_a(&mut self) -> String {
        let p = self.provider("a", ANSWER_A);
        let inet = self.inet_ns();
        netns::veth(
            &inet,
            "pa",
            "192.0.2.1/30",
            &p,
            "up0",
            &format!("{PROVIDER_A}/30"),
        );
        must(
            "ip",
            &["-n", &p, "route", "add", "default", "via", "192.0.2.1"],
        );
        p
    }

    /// A file of jail `jail` (of the one host, alpha).
    fn jail_file(&self, jail: &str, name: &str) -> PathBuf {
        self.inner.jail_file("alpha", jail, name)
    }

    fn link_exists(&self, jail: &str, ifname: &str) -> bool {
        ok("ip", &["-n", &self.ns(jail), "link", "show", "dev", ifname])
    }
}

/// vpna runs OpenVPN from the stand-in provider's file (no provider_dns:
/// the pushed DNS is used); vpnc's file names an endpoint where nobody
/// answers, so its tunnel never comes up.
fn openvpn_site(tag: &str, dir: &Path) -> String {
    SiteFile::new(tag)
        .host(
            Host::linux(tag, "alpha", dir, HOST_PUBLIC, 1)
                .set("vpndns_bin", VPNDNS)
                .set("vpnjail_bin", VPNJAIL)
                .jail(Table::jail("dns", "vpndns", VPNDNS_ADDR))
                .jail(Table::jail("vpna", "vpn", "10.10.1.2").set("openvpn", "a.ovpn"))
                .jail(Table::jail("vpnc", "vpn", "10.10.1.4").set("openvpn", "c.ovpn"))
                .jail(Table::jail("svca", "service", "10.10.1.30").set("via", "vpna"))
                .jail(Table::jail("svcc", "service", "10.10.1.32").set("via", "vpnc")),
        )
        .to_string()
}

/// OpenVPN from the provider's own file: the tunnel comes up, the pushed
/// DNS answers the service's DNS through vpndns, a killed client leaks
/// nothing, `create --all` brings it back, a tunnel that never comes up
/// leaks nothing either, and `destroy --all` leaves no process behind.
#[test]
fn openvpn_from_the_providers_file_pushes_dns_and_fails_closed() {
    require_root_netns!();
    if !ok("openvpn", &["--version"]) || !ok("openssl", &["version"]) {
        eprintln!("SKIP openvpn test: needs openvpn and openssl (.ci/run installs them)");
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new(openvpn_site);
    let d = lab.dir.path().to_path_buf();
    pki(&d);
    std::fs::write(d.join("a.ovpn"), client_ovpn(&d, PROVIDER_A)).expect("a.ovpn");
    std::fs::write(d.join("c.ovpn"), client_ovpn(&d, "192.0.2.99")).expect("c.ovpn");
    lab.openvpn_provider();
    let out = lab.create_all();
    assert!(out.contains("done: start openvpn in"), "{out}");
    let conf = lab.jail_file("vpna", "openvpn.conf");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&conf)
        .expect("openvpn.conf")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the client's keys are owner-only");
    let (svca, svcc) = (lab.ns("svca"), lab.ns("svcc"));

    // The tunnel comes up: the service reaches the provider's exit through
    // it, and its DNS through vpndns is answered by the pushed resolver.
    eventually("svca through vpna's OpenVPN tunnel", || {
        udp_echo(&svca, EXIT, QUICK)
    });
    let up = started.elapsed();
    assert!(tcp_get(&svca, EXIT, QUICK));
    let vpna_log =
        || std::fs::read_to_string(lab.jail_file("vpna", "openvpn.log")).unwrap_or_default();
    if dns(
        &svca,
        VPNDNS_ADDR,
        "first.example.com",
        Duration::from_secs(2),
    ) != Some(ANSWER_A)
    {
        eprintln!("vpna's log:\n{}", vpna_log());
    }
    eventually("svca's DNS via vpndns and the pushed resolver", || {
        dns(&svca, VPNDNS_ADDR, "up.example.com", QUICK) == Some(ANSWER_A)
    });
    let log = std::fs::read_to_string(lab.jail_file("vpna", "openvpn.log")).unwrap_or_default();
    assert!(
        log.contains(&format!("DNS pushed by the provider: {RESOLVER}")),
        "vpnjail says which DNS was pushed:\n{log}"
    );

    // vpnc never gets a tunnel: its service's traffic goes nowhere.
    let before = lab.leaked();
    assert_eq!(hammer(&svcc, 2), 0);
    assert_eq!(lab.leaked(), before, "leak with the tunnel never up");

    // Kill vpna's client outright.
    let pid = lab.jail_file("vpna", "openvpn.pid");
    e2e::kill_pidfile(&pid);
    eventually("tun0 goes with the client", || {
        !lab.link_exists("vpna", "tun0") && !alive(&pid)
    });
    let fwd0 = lab.dropped("vpna", "forward_dropped");
    assert_eq!(hammer(&svca, 4), 0, "nothing answered with the client dead");
    assert_eq!(lab.leaked(), before, "leak with the client dead");
    assert!(lab.dropped("vpna", "forward_dropped") > fwd0);

    // create --all again restarts the client, and the tunnel is back.
    let out = lab.vpnjail(&["create", "--all"]).expect("create again");
    assert!(out.contains("done: start openvpn in"), "{out}");
    eventually("the tunnel is back", || udp_echo(&svca, EXIT, QUICK));
    eventually("and so is DNS", || {
        dns(&svca, VPNDNS_ADDR, "back.example.com", QUICK) == Some(ANSWER_A)
    });
    assert_eq!(lab.leaked(), before);

    // destroy leaves no client running and no tunnel state behind.
    lab.vpnjail(&["destroy", "--all"]).expect("destroy --all");
    assert!(!alive(&pid), "openvpn still runs");
    assert!(!lab.jail_file("vpna", "tunnel.nft").exists());
    let ours = must("ip", &["netns", "list"]);
    assert!(
        !ours.contains(&format!("vj-{}-", lab.tag)),
        "namespaces left:\n{ours}"
    );
    eprintln!(
        "openvpn e2e: tunnel up after {up:?}, whole test {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- WireGuard

/// Provider A's WireGuard peer: wireguard-go in the provider namespace on
/// `PROVIDER_A`:51820 (10.64.0.1/24 inside the tunnel), accepting the
/// client key `client_pub`. Returns the provider's public key.
impl Lab {
    fn wireguard_provider(&mut self, client_pub: &str) -> String {
        let p = self.provider_a();
        let (private, public) = wireguard::keys();
        let d = self.dir.path().to_path_buf();
        let conf = dir_file(
            self,
            "provider-wg.conf",
            &format!(
                "[Interface]\nPrivateKey = {private}\nListenPort = 51820\n[Peer]\nPublicKey = {client_pub}\nAllowedIPs = 10.64.0.2/32\n"
            ),
        );
        // Unique on the machine: wireguard-go's socket is in /var/run/wireguard.
        let wg = format!("wp{}", self.tag);
        let pid = d.join("provider-wg.pid");
        self.daemons.push(pid.clone());
        let log = d.join("provider-wg.log");
        wireguard::start_peer(&p, &wg, &conf, "10.64.0.1/24", &pid, &log);
        public
    }
}

impl Lab {
    /// What a WireGuard vpn namespace and the provider hold, for a failure.
    fn show_wireguard(&self, jail: &str) {
        let v = self.ns(jail);
        for cmd in [
            vec!["-n", &v, "addr"],
            vec!["-n", &v, "route"],
            vec!["netns", "exec", &v, "wg", "show"],
            vec!["netns", "exec", &v, "nft", "list", "ruleset"],
        ] {
            eprintln!("ip {cmd:?}:\n{}", sh("ip", &cmd).unwrap_or_else(|e| e));
        }
        for f in [
            self.jail_file(jail, "wireguard-go.log"),
            self.dir.path().join("provider-wg.log"),
        ] {
            eprintln!(
                "{}:\n{}",
                f.display(),
                std::fs::read_to_string(&f).unwrap_or_default()
            );
        }
    }
}

/// The OpenVPN test's site with WireGuard files instead: vpna's names the
/// stand-in provider (no provider_dns: the file's `DNS =` is used); vpnc's
/// names an endpoint where nobody answers, so its tunnel never comes up.
fn wireguard_site(tag: &str, dir: &Path) -> String {
    openvpn_site(tag, dir)
        .replace("openvpn = \"a.ovpn\"", "wireguard = \"a.conf\"")
        .replace("openvpn = \"c.ovpn\"", "wireguard = \"c.conf\"")
}

/// WireGuard from the provider's own file: wireguard-go comes up in the
/// vpn namespace, the file's DNS answers the service's DNS through vpndns,
/// a killed wireguard-go leaks nothing, `create --all` brings it back, a
/// tunnel that never comes up leaks nothing, and `destroy --all` leaves no
/// process, socket or namespace behind.
#[test]
fn wireguard_from_the_providers_file_uses_its_dns_and_fails_closed() {
    require_root_netns!();
    if !wireguard::available() {
        eprintln!(
            "SKIP wireguard test: needs wireguard-tools and wireguard-go (.ci/run installs them)"
        );
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new(wireguard_site);
    let (client_priv, client_pub) = wireguard::keys();
    let provider_pub = lab.wireguard_provider(&client_pub);
    let client = |endpoint: &str| {
        format!(
            "# from the provider\n[Interface]\nPrivateKey = {client_priv}\nAddress = 10.64.0.2/32\nDNS = {RESOLVER}\n\n[Peer]\nPublicKey = {provider_pub}\nEndpoint = {endpoint}:51820\nAllowedIPs = 0.0.0.0/0\nPersistentKeepalive = 5\n"
        )
    };
    // Provider A by name: resolved by getaddrinfo at create (through a
    // hosts file of the test's own) and pinned.
    let hosts = dir_file(&lab, "hosts", &format!("{PROVIDER_A} wg-a.vpnjail.test\n"));
    lab.hosts = Some(hosts);
    dir_file(&lab, "a.conf", &client("wg-a.vpnjail.test"));
    dir_file(&lab, "c.conf", &client("192.0.2.99"));
    // A dry run resolves too and says what it would pin.
    let plan = lab
        .vpnjail(&["create", "--all", "--dry-run"])
        .expect("create --all --dry-run");
    let would =
        format!("# resolved wg-a.vpnjail.test \u{2192} {PROVIDER_A} (would pin, jail vpna)");
    assert!(plan.contains(&would), "{plan}");
    assert!(
        plan.contains(&format!("Endpoint = {PROVIDER_A}:51820\n")),
        "{plan}"
    );
    let out = lab
        .vpnjail(&["create", "--all"])
        .unwrap_or_else(|e| panic!("vpnjail create --all: {e}"));
    assert!(out.contains("done: start wireguard-go"), "{out}");
    let pinned = format!("resolved wg-a.vpnjail.test \u{2192} {PROVIDER_A} (pinned, jail vpna)");
    assert!(out.contains(&pinned), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let conf = lab.jail_file("vpna", "wireguard.conf");
    let mode = std::fs::metadata(&conf)
        .expect("wireguard.conf")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is owner-only");
    let text = std::fs::read_to_string(&conf).expect("wireguard.conf");
    assert!(!text.contains("Address") && !text.contains("DNS"), "{text}");
    assert!(
        text.contains(&format!("Endpoint = {PROVIDER_A}:51820\n")),
        "{text}"
    );
    let (svca, svcc) = (lab.ns("svca"), lab.ns("svcc"));
    if !(0..100).any(|_| {
        udp_echo(&svca, EXIT, QUICK) || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    }) {
        lab.show_wireguard("vpna");
        panic!("svca through vpna's WireGuard tunnel: not within 100 tries");
    }
    let up = started.elapsed();
    assert!(tcp_get(&svca, EXIT, QUICK));
    eventually("svca's DNS via vpndns and the file's DNS", || {
        dns(&svca, VPNDNS_ADDR, "up.example.com", QUICK) == Some(ANSWER_A)
    });
    // The interface: named after site, host and jail, unique on the machine.
    let wg = must("ip", &["-n", &lab.ns("vpna"), "-o", "link", "show"])
        .lines()
        .find_map(|l| {
            l.split(": ")
                .nth(1)
                .filter(|n| n.starts_with("wg"))
                .map(str::to_string)
        })
        .expect("a wg interface in vpna");
    let sock = PathBuf::from(format!("/var/run/wireguard/{wg}.sock"));
    assert!(sock.exists(), "{}", sock.display());
    // vpnc never gets a tunnel: its service's traffic goes nowhere.
    let before = lab.leaked();
    assert_eq!(hammer(&svcc, 2), 0);
    assert_eq!(lab.leaked(), before, "leak with the tunnel never up");
    // Kill vpna's wireguard-go outright.
    let pid = lab.jail_file("vpna", "wireguard-go.pid");
    let n: i32 = std::fs::read_to_string(&pid)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(n),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill wireguard-go");
    eventually("the wg interface goes with wireguard-go", || {
        !lab.link_exists("vpna", &wg) && !alive(&pid)
    });
    let fwd0 = lab.dropped("vpna", "forward_dropped");
    assert_eq!(
        hammer(&svca, 4),
        0,
        "nothing answered with wireguard-go dead"
    );
    assert_eq!(lab.leaked(), before, "leak with wireguard-go dead");
    assert!(lab.dropped("vpna", "forward_dropped") > fwd0);
    // create --all again restarts it (over its stale socket).
    let out = lab.vpnjail(&["create", "--all"]).expect("create again");
    assert!(out.contains("done: start wireguard-go"), "{out}");
    eventually("the tunnel is back", || udp_echo(&svca, EXIT, QUICK));
    eventually("and so is DNS", || {
        dns(&svca, VPNDNS_ADDR, "back.example.com", QUICK) == Some(ANSWER_A)
    });
    assert_eq!(lab.leaked(), before);
    // destroy leaves no process, socket or namespace behind.
    lab.vpnjail(&["destroy", "--all"]).expect("destroy --all");
    assert!(!alive(&pid), "wireguard-go still runs");
    assert!(!sock.exists(), "{} left behind", sock.display());
    let ours = must("ip", &["netns", "list"]);
    assert!(
        !ours.contains(&format!("vj-{}-", lab.tag)),
        "namespaces left:\n{ours}"
    );
    eprintln!(
        "wireguard e2e: tunnel up after {up:?}, whole test {:?}",
        started.elapsed()
    );
}
