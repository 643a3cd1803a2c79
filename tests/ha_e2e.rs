//! VPN jails that move, for real (issue 8, "Tests in network namespaces" 2):
//! a vpn jail replicated on alpha (primary) and beta behind the anycast
//! address 10.10.200.1, each replica with a stand-in provider resolver that
//! answers differently (192.0.2.1 on alpha, 192.0.2.2 on beta; these are only
//! answer payloads, never contacted). A client on gamma resolves through the
//! anycast address. The real `vpnjail monitor` runs in alpha's and beta's
//! ipsec namespaces and drives FRR (started from the generated frr.conf with
//! the commands `vpnjail create` uses); BGP elects the replica.
//!
//! Each host's ipsec jail is a namespace (`vj-<site>-<host>-<jail>`, the
//! model's name) with its bridge address on `lo` and veth links as in
//! bgp_e2e; on alpha and beta the anycast bridge `vjbr1` is a Linux bridge
//! inside the ipsec namespace carrying the router address, and the replica
//! namespace hangs off it with its own address and the anycast /32, loads the
//! nftables table vpnjail rendered for it, and reaches its provider over a
//! veth named `tun0`. All addresses live only in namespaces the test creates.
//!
//! Runs as root with FRR installed; skips with a message otherwise. A guard
//! stops the monitors, FRR and the resolvers and deletes the namespaces and
//! files on drop, also when the test fails. Failover times are printed.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/openvpn.rs"]
mod openvpn;
#[path = "common/wireguard.rs"]
mod wireguard;

use e2e::Lab;
use netns::{alive, must, sh, spawn_in_netns, veth_links};
use openvpn::pki;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vpndns::deploy::model::Site;
use vpndns::deploy::plan::linux as plan_linux;
use vpndns::deploy::render;

const ANYCAST: Ipv4Addr = Ipv4Addr::new(10, 10, 200, 1);
const PROVIDER_DNS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 53);
const TUN_JAIL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The stand-in OpenVPN server of each replica's provider (cold standby),
/// over a /30 from the replica: the same address in both providers'
/// namespaces, as one provider's endpoint seen from two hosts.
const OVPN_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The exit service of each replica's WireGuard provider (UDP echo, on the
/// provider's `lo`): an Internet address reached only through the tunnel.
const EXIT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
const ALPHA_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const BETA_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// Start-up: BGP sessions (about 2 s, docs/bgp.md) and the first check.
const START_BOUND: Duration = Duration::from_secs(20);
/// Failover bound of issue 17 for a dead or silent provider with the
/// defaults (interval 200 ms, fail_after 3): detection takes 3 checks of at
/// most 200 ms each (BGP is read beside them), and up to one interval more
/// for where in it the failure lands; BGP then moves the route in
/// milliseconds (MRAI 0). Measured 0.77-1.19 s on the loaded 2-core machine
/// (docs/ha.md); 1.5 s is the issue's bound, 0.3 s over the slowest run.
const FAILOVER_BOUND: Duration = Duration::from_millis(1500);
/// Failback: the hold-down (3 s here) + one interval + BGP, with margin.
const FAILBACK_BOUND: Duration = Duration::from_secs(8);
/// Cold standby (`standby = "cold"`): detection as above, the stop (about
/// 1.1-1.6 s here: this container's pid 1 reaps late), then the other
/// replica's route must be BGP's best for 500 ms before it starts OpenVPN,
/// which connects (0.2-0.3 s to the stand-in) before the replica answers.
/// Measured 2.87-3.90 s (docs/ha.md).
const COLD_FAILOVER_BOUND: Duration = Duration::from_secs(8);
/// A host that falls silent: BFD (100 ms x 3) ends its sessions; no monitor
/// is involved. Bound as for a silent link in docs/bgp.md.
const HOST_SILENT_BOUND: Duration = Duration::from_secs(1);
/// How long one client query waits, and the pause between queries, while
/// waiting for an answer to change: the measured times are this coarse
/// (an answer through the namespaces takes a few milliseconds).
const ASK_TIMEOUT: Duration = Duration::from_millis(60);
const ASK_PAUSE: Duration = Duration::from_millis(20);

/// The test's site: the wan triangle on Linux with `vpnx` replicated on
/// alpha and beta; the defaults of [site.monitor] (and of BFD) but a 3 s
/// hold-down.
fn site_text(tag: &str, dir: &Path, failback: bool, tunnel: Tunnel) -> String {
    let cold = tunnel != Tunnel::Veth;
    let psk = dir.join("link.psk");
    let psk = psk.display();
    let mut t = format!(
        "[site]\nname = \"{tag}\"\nrouting = \"bgp\"\nredundancy = 1\n\
         anycast = {{ network = \"10.10.200.0/24\", bridge = \"vjbr1\" }}\n\n\
         [site.monitor]\nhold_down = \"3s\"\nfailback = {failback}\n\
         probe_name = \"probe.test\"\n"
    );
    // Cold standby: OpenVPN's route-up hook runs this build's vpnjail.
    let bin = if cold {
        format!("vpnjail_bin = \"{}\"\n", env!("CARGO_BIN_EXE_vpnjail"))
    } else {
        String::new()
    };
    for (i, h) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let n = i + 1;
        t += &format!(
            "\n[[host]]\nname = \"{h}\"\nexternal_if = \"eth0\"\npublic_address = \"192.0.2.{}\"\n\
             bridge = {{ name = \"vjbr0\", network = \"10.10.{n}.0/24\", address = \"10.10.{n}.1\" }}\n\
             jail_root = \"{}\"\nplatform = \"linux\"\n{bin}\n\
             [[host.jail]]\nname = \"ipsec_{h}\"\nkind = \"ipsec\"\naddress = \"10.10.{n}.4\"\n",
            100 + n,
            dir.join(h).display()
        );
        if *h == "alpha" {
            t += &format!(
                "\n[[host.jail]]\nname = \"vpnx\"\nkind = \"vpn\"\naddress = \"10.10.200.10\"\n\
                 anycast = \"{ANYCAST}\"\nreplicas = [\"alpha\", \"beta\"]\n"
            );
            t += &match tunnel {
                Tunnel::Veth => format!("tun = \"tun0\"\nprovider_dns = \"{PROVIDER_DNS}\"\n"),
                Tunnel::OpenVpn => format!(
                    "tun = \"tun0\"\nprovider_dns = \"{PROVIDER_DNS}\"\n\
                     standby = \"cold\"\nopenvpn = \"vpnx.ovpn\"\n"
                ),
                // The file's `DNS =` is the resolver (seed step 5's target);
                // vpnjail names the interface.
                Tunnel::WireGuard => "standby = \"cold\"\nwireguard = \"vpnx.conf\"\n".into(),
            };
        }
    }
    for (k, (a, b)) in [("alpha", "beta"), ("beta", "gamma"), ("alpha", "gamma")]
        .iter()
        .enumerate()
    {
        t += &format!(
            "\n[[link]]\nhosts = [\"{a}\", \"{b}\"]\nmode = \"swanctl\"\nreqid = {}\n\
             inner = [\"172.16.0.{}\", \"172.16.0.{}\"]\npsk_file = \"{psk}\"\n",
            100 + k,
            4 * k + 1,
            4 * k + 2
        );
    }
    t
}

/// What stands in for each replica's VPN tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tunnel {
    /// A veth named `tun0` to the provider, always up (hot standby).
    Veth,
    /// Cold standby: OpenVPN, started by the monitor.
    OpenVpn,
    /// Cold standby: WireGuard (wireguard-go), started by the monitor.
    WireGuard,
}

/// A UDP echo at EXIT:7 in `ns` that answers every datagram with `me`.
fn exit_echo(ns: &str, me: &'static str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    spawn_in_netns(ns, move || {
        let s = UdpSocket::bind(SocketAddr::from((EXIT, 7))).expect("bind echo");
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((_, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(me.as_bytes(), from);
            }
        }
    })
}

/// One datagram from namespace `ns` to EXIT:7: who answered, if anyone
/// within 500 ms.
fn datagram(ns: &str) -> Option<String> {
    spawn_in_netns(ns, move || {
        let s = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        s.send_to(b"hello", SocketAddr::from((EXIT, 7))).ok()?;
        let mut buf = [0u8; 64];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .join()
    .ok()
    .flatten()
}

/// The wireguard-go processes running as one of `ifnames` (argv `-f IF`),
/// zombies not counted (their command line is empty): read from /proc.
fn wireguard_go_running(ifnames: &[String]) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| {
            let argv: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            argv.first().is_some_and(|a| a.ends_with(b"wireguard-go"))
                && argv
                    .windows(2)
                    .any(|w| w[0] == b"-f" && ifnames.iter().any(|i| i.as_bytes() == w[1]))
        })
        .count()
}

/// A stand-in provider resolver: answers every A query with `answer`
/// (TTL 1) until `stop` is set.
fn resolver(ns: &str, answer: Ipv4Addr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    spawn_in_netns(ns, move || {
        let s = UdpSocket::bind(SocketAddr::from((PROVIDER_DNS, 53))).expect("bind resolver");
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                continue;
            };
            let q = &buf[..n];
            let Some(qend) = vpndns::proxy::wire::question_end(q) else {
                continue;
            };
            let mut r = q[..qend].to_vec();
            r[2] = 0x80 | (q[2] & 0x01); // QR, RD as asked
            r[3] = 0x80; // RA, NOERROR
            r[6..8].copy_from_slice(&1u16.to_be_bytes()); // ANCOUNT
            r[8..12].fill(0);
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
            r.extend_from_slice(&answer.octets());
            let _ = s.send_to(&r, from);
        }
    })
}

/// One query for `probe.test` A from `src` to `dst`: the address
/// answered, if any within `timeout`.
fn ask(ns: &str, src: Ipv4Addr, dst: SocketAddr, timeout: Duration) -> Option<Ipv4Addr> {
    spawn_in_netns(ns, move || {
        let s = UdpSocket::bind(SocketAddr::from((src, 0))).ok()?;
        s.set_read_timeout(Some(timeout)).ok()?;
        let name = vpndns::proxy::name::Name::from_text("probe.test").ok()?;
        let id: u16 = rand::random();
        let q = vpndns::proxy::wire::encode_query(id, &name, 1, 1);
        s.send_to(&q, dst).ok()?;
        let mut buf = [0u8; 512];
        loop {
            let (n, _) = s.recv_from(&mut buf).ok()?;
            if n >= 4 && vpndns::proxy::wire::id(&buf[..n]) == Some(id) {
                let a = &buf[n - 4..n];
                return Some(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            }
        }
    })
    .join()
    .ok()
    .flatten()
}

/// The WAN of the test; everything is torn down on drop.
struct Ha {
    /// The tag (also the site's name), the directory and the guard that
    /// stops FRR, the monitors, the stand-in servers and vpndns by pid and
    /// deletes every namespace carrying the tag.
    lab: Lab,
    site: Site,
    /// Not `lab.site`: the test builds the namespaces itself, so the lab's
    /// drop runs no `vpnjail destroy`.
    site_file: PathBuf,
    /// Per replica host (alpha, beta): the resolver's stop flag and thread.
    resolvers: Vec<(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>)>,
    /// The replicas' OpenVPN clients (cold standby): stopped again after
    /// the monitors, which may have started one while they were stopped.
    clients: Vec<PathBuf>,
    /// Other threads (the WireGuard providers' exit echoes).
    threads: Vec<(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>)>,
    /// wireguard-go control sockets to remove (a killed one leaves its own).
    sockets: Vec<String>,
}

impl Drop for Ha {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for h in ["alpha", "beta"] {
                let log = self.ipsec_dir(h).join("monitor.log");
                eprintln!(
                    "--- {}:\n{}",
                    log.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            for pid in &self.clients {
                let log = pid.with_extension("log");
                eprintln!(
                    "--- {}:\n{}",
                    log.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        for (stop, h) in self.resolvers.iter_mut().chain(&mut self.threads) {
            stop.store(true, Ordering::Relaxed);
            if let Some(h) = h.take() {
                let _ = h.join();
            }
        }
        // The monitors first, then the clients they may have started;
        // the lab does the rest.
        netns::stop_pidfiles(&self.lab.daemons);
        netns::stop_pidfiles(&self.clients);
        for sock in &self.sockets {
            let _ = std::fs::remove_file(sock);
        }
    }
}

impl Ha {
    fn host_ns(&self, host: &str) -> String {
        let h = self.site.host(host).expect("host");
        self.site.jail_netns(h, h.ipsec_jail().expect("ipsec jail"))
    }

    fn ipsec_dir(&self, host: &str) -> PathBuf {
        let h = self.site.host(host).expect("host");
        h.jail_path(&h.ipsec_jail().expect("ipsec").name)
    }

    fn provider_ns(&self, host: &str) -> String {
        self.lab.own_ns("vj", &format!("{host}-prov"))
    }

    fn up(failback: bool) -> Ha {
        Ha::up_as(failback, Tunnel::Veth)
    }

    /// With `cold`, the replica runs in cold standby and its tunnel is
    /// OpenVPN (started by the monitor) to a stand-in OpenVPN server in the
    /// provider's namespace, which pushes the route to the resolver.
    fn up_as(failback: bool, tunnel: Tunnel) -> Ha {
        let cold = tunnel == Tunnel::OpenVpn;
        let lab = Lab::bare('a');
        let (tag, dir) = (lab.tag.clone(), lab.path().to_path_buf());
        std::fs::write(dir.join("link.psk"), "a-test-key-of-enough-length\n").expect("psk");
        if cold {
            pki(&dir);
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("pki file");
            let ovpn = format!(
                "client\ndev tun\nproto udp\nremote {OVPN_SERVER} 1194\nnobind\nremote-cert-tls server\nverb 3\n\
                 <ca>\n{}</ca>\n<cert>\n{}</cert>\n<key>\n{}</key>\n",
                read("ca.crt"),
                read("client.crt"),
                read("client.key")
            );
            std::fs::write(dir.join("vpnx.ovpn"), ovpn).expect("ovpn");
        }
        // WireGuard: one client key (one device registered with the
        // provider) in the one file both replicas install, and one server
        // key that both providers' endpoints hold.
        let wg_keys = (tunnel == Tunnel::WireGuard).then(|| {
            let (client, server) = (wireguard::keys(), wireguard::keys());
            std::fs::write(
                dir.join("vpnx.conf"),
                format!(
                    "[Interface]\nPrivateKey = {}\nAddress = 10.64.0.2/32\nDNS = {PROVIDER_DNS}\n\n\
                     [Peer]\nPublicKey = {}\nEndpoint = {OVPN_SERVER}:51820\nAllowedIPs = 0.0.0.0/0\n",
                    client.0, server.1
                ),
            )
            .expect("vpnx.conf");
            (client.1, server.0)
        });
        let text = site_text(&tag, &dir, failback, tunnel);
        let site_file = dir.join("ha-site.toml");
        std::fs::write(&site_file, &text).expect("site");
        let site = vpndns::deploy::check::load(&site_file)
            .unwrap_or_else(|e| panic!("site must pass check:\n{e}\n{text}"));
        let mut ha = Ha {
            lab,
            site: site.clone(),
            site_file,
            resolvers: Vec::new(),
            clients: Vec::new(),
            threads: Vec::new(),
            sockets: Vec::new(),
        };
        let anycast = site.anycast.clone().expect("anycast network");
        // The ipsec namespaces, with the bridge address on lo.
        for h in &site.hosts {
            let ipsec = h.ipsec_jail().expect("ipsec jail");
            let ns = site.jail_netns(h, ipsec);
            must("ip", &["netns", "add", &ns]);
            must("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            let a = format!("{}/{}", ipsec.address, h.bridge.network.prefix_len());
            must("ip", &["-n", &ns, "addr", "add", &a, "dev", "lo"]);
            must(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "sysctl",
                    "-qw",
                    "net.ipv4.ip_forward=1",
                ],
            );
        }
        veth_links(&site, |hn| ha.host_ns(hn));
        // Files: everything vpnjail renders for the hosts.
        for h in &site.hosts {
            let files = render::host(&site, &h.name).expect("render");
            render::write_tree(&files, Path::new("/")).expect("write");
        }
        // The replicas: anycast bridge in the ipsec namespace, the replica
        // namespace on it, its provider behind `tun0`.
        for (i, hn) in ["alpha", "beta"].iter().enumerate() {
            let h = site.host(hn).expect("host");
            let (j, r, _) = h.replicas().next().expect("a replica");
            let ins = ha.host_ns(hn);
            let jns = site.jail_netns(h, j);
            let pns = ha.provider_ns(hn);
            for ns in [&jns, &pns] {
                must("ip", &["netns", "add", ns]);
                must("ip", &["-n", ns, "link", "set", "lo", "up"]);
            }
            let br = &anycast.bridge;
            must("ip", &["-n", &ins, "link", "add", br, "type", "bridge"]);
            let router = format!("{}/{}", anycast.router, anycast.network.prefix_len());
            must("ip", &["-n", &ins, "addr", "add", &router, "dev", br]);
            must("ip", &["-n", &ins, "link", "set", br, "up"]);
            let va = site.veth_host(h, j);
            let vb = j.epair_jail();
            must(
                "ip",
                &[
                    "-n", &ins, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns",
                    &jns,
                ],
            );
            must("ip", &["-n", &ins, "link", "set", &va, "master", br, "up"]);
            let own = format!("{}/{}", j.address, anycast.network.prefix_len());
            let any = format!("{}/32", r.anycast);
            must("ip", &["-n", &jns, "addr", "add", &own, "dev", &vb]);
            must("ip", &["-n", &jns, "addr", "add", &any, "dev", &vb]);
            must("ip", &["-n", &jns, "link", "set", &vb, "up"]);
            let gw = anycast.router.to_string();
            must("ip", &["-n", &jns, "route", "add", "default", "via", &gw]);
            // The routes back to every host's bridge, as `create` adds them.
            for step in plan_linux::replica_routes(&site, h, j) {
                let vpndns::deploy::command::Action::Run(c) = step.action else {
                    panic!("a route is a command: {}", step.what);
                };
                let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
                must(c.program, &args);
            }
            must(
                "ip",
                &[
                    "netns",
                    "exec",
                    &jns,
                    "sysctl",
                    "-qw",
                    "net.ipv4.ip_forward=1",
                ],
            );
            if let Some((client_pub, server_priv)) = &wg_keys {
                ha.wireguard_provider(hn, &ins, &pns, client_pub, server_priv, i);
            } else if cold {
                ha.openvpn_provider(hn, &jns, &pns);
            } else {
                // The provider, over a veth named like the VPN's tun.
                must(
                    "ip",
                    &[
                        "-n", &jns, "link", "add", "tun0", "type", "veth", "peer", "name", "up0",
                        "netns", &pns,
                    ],
                );
                let tun = format!("{TUN_JAIL}/24");
                let prov = format!("{PROVIDER_DNS}/24");
                must("ip", &["-n", &jns, "addr", "add", &tun, "dev", "tun0"]);
                must("ip", &["-n", &jns, "link", "set", "tun0", "up"]);
                must("ip", &["-n", &pns, "addr", "add", &prov, "dev", "up0"]);
                // No route back to the site: the replica translates all
                // that leaves through its tun, as a provider needs.
                must("ip", &["-n", &pns, "link", "set", "up0", "up"]);
            }
            // The replica's kill switch, then its nftables table (seed
            // steps 2 and 5), as rendered and in the order `create` loads them.
            for file in [render::killswitch::NFT_FILE, render::linux::NFT_FILE] {
                let nft = h.jail_path(&j.name).join(file);
                nft_file(&jns, &nft);
            }
            let stop = Arc::new(AtomicBool::new(false));
            let answer = [ALPHA_ANSWER, BETA_ANSWER][i];
            let t = resolver(&pns, answer, stop.clone());
            ha.resolvers.push((stop, Some(t)));
        }
        // FRR in each ipsec namespace, exactly as `vpnjail create` starts it.
        let dir_s = ha.lab.path().display().to_string();
        must("chmod", &["755", &dir_s]);
        must("chown", &["-R", "frr:frr", &dir_s]);
        for h in &site.hosts {
            let ipsec = h.ipsec_jail().expect("ipsec");
            let d = h.jail_path(&ipsec.name);
            let run_dir = d.join(render::linux::FRR_RUN_DIR);
            std::fs::create_dir_all(&run_dir).expect("mkdir frr");
            must("chown", &["frr:frr", &run_dir.display().to_string()]);
            let ns = site.jail_netns(h, ipsec);
            let zserv = run_dir.join("zserv.api");
            for &daemon in plan_linux::frr_daemons(&site) {
                ha.lab
                    .daemons
                    .push(plan_linux::pidfile(h, &ipsec.name, daemon));
                let c = plan_linux::frr_start(h, &ns, ipsec, daemon);
                let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
                must(c.program, &args);
                if daemon == "zebra" {
                    let t = Instant::now();
                    while !zserv.exists() && t.elapsed() < Duration::from_secs(5) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
        ha
    }

    /// The provider of `host`'s replica in cold standby: an OpenVPN server
    /// at OVPN_SERVER in `pns`, reached from the replica `jns` over a veth
    /// (`wan0`), pushing a route to the resolver at PROVIDER_DNS (on its
    /// `lo`). The replica's `tun0` exists only while its client runs. The
    /// server knows no route to the site's networks (no `iroute`): gamma's
    /// queries come back only because the replica translates them.
    fn openvpn_provider(&mut self, host: &str, jns: &str, pns: &str) {
        must(
            "ip",
            &[
                "-n", jns, "link", "add", "wan0", "type", "veth", "peer", "name", "up1", "netns",
                pns,
            ],
        );
        must(
            "ip",
            &["-n", jns, "addr", "add", "198.51.100.2/30", "dev", "wan0"],
        );
        must("ip", &["-n", jns, "link", "set", "wan0", "up"]);
        let server = format!("{OVPN_SERVER}/30");
        must("ip", &["-n", pns, "addr", "add", &server, "dev", "up1"]);
        must("ip", &["-n", pns, "link", "set", "up1", "up"]);
        let dns = format!("{PROVIDER_DNS}/32");
        must("ip", &["-n", pns, "addr", "add", &dns, "dev", "lo"]);
        let d = self.lab.path().display().to_string();
        let conf = self.lab.path().join(format!("server-{host}.conf"));
        std::fs::write(
            &conf,
            format!(
                "dev tun\nproto udp\nlocal {OVPN_SERVER}\nport 1194\nserver 10.8.0.0 255.255.255.0\n\
                 topology subnet\nca {d}/ca.crt\ncert {d}/server.crt\nkey {d}/server.key\ndh none\n\
                 push \"route {PROVIDER_DNS} 255.255.255.255\"\nkeepalive 2 10\nverb 3\n"
            ),
        )
        .expect("server.conf");
        let pid = self.lab.path().join(format!("server-{host}.pid"));
        let log = self.lab.path().join(format!("server-{host}.log"));
        self.lab.daemons.push(pid.clone());
        openvpn::start_server_conf(pns, &conf, &pid, &log);
        let h = self.site.host(host).expect("host");
        self.clients.push(plan_linux::pidfile(h, "vpnx", "openvpn"));
    }

    /// The provider of `host`'s replica in cold standby with WireGuard:
    /// wireguard-go at OVPN_SERVER:51820 in `pns` (10.64.0.1/24 in the
    /// tunnel, accepting the one client key), the resolver at PROVIDER_DNS
    /// and an exit echo at EXIT on its `lo`. It is reached from the ipsec
    /// namespace `ins` over a veth, as a real endpoint is reached through
    /// the host: the replica routes the endpoint via the anycast router
    /// (plan/wireguard.rs), everything else into its tunnel. The replica's
    /// wireguard-go exists only while the monitor runs it.
    fn wireguard_provider(
        &mut self,
        host: &str,
        ins: &str,
        pns: &str,
        client_pub: &str,
        server_priv: &str,
        i: usize,
    ) {
        let server = format!("{OVPN_SERVER}/30");
        netns::veth(ins, "prov0", "198.51.100.2/30", pns, "up1", &server);
        must(
            "ip",
            &["-n", pns, "route", "add", "default", "via", "198.51.100.2"],
        );
        for a in [PROVIDER_DNS, EXIT] {
            must(
                "ip",
                &["-n", pns, "addr", "add", &format!("{a}/32"), "dev", "lo"],
            );
        }
        let conf = self.lab.path().join(format!("provider-{host}.conf"));
        std::fs::write(
            &conf,
            format!(
                "[Interface]\nPrivateKey = {server_priv}\nListenPort = 51820\n\n\
                 [Peer]\nPublicKey = {client_pub}\nAllowedIPs = 10.64.0.2/32\n"
            ),
        )
        .expect("provider conf");
        // Unique on the machine: wireguard-go's socket is in /var/run/wireguard.
        let ifname = format!("wp{}{}", self.lab.tag, ["a", "b"][i]);
        let pid = self.lab.path().join(format!("provider-{host}.pid"));
        let log = self.lab.path().join(format!("provider-{host}.log"));
        self.lab.daemons.push(pid.clone());
        self.sockets.push(wireguard::socket(&ifname));
        wireguard::start_peer(pns, &ifname, &conf, "10.64.0.1/24", &pid, &log);
        let stop = Arc::new(AtomicBool::new(false));
        let t = exit_echo(pns, ["alpha", "beta"][i], stop.clone());
        self.threads.push((stop, Some(t)));
        let h = self.site.host(host).expect("host");
        self.clients
            .push(plan_linux::pidfile(h, "vpnx", "wireguard-go"));
        self.sockets.push(wireguard::socket(&self.wg_if(host)));
    }

    /// The WireGuard interface vpnjail named for `host`'s replica.
    fn wg_if(&self, host: &str) -> String {
        let h = self.site.host(host).expect("host");
        match &h.jail("vpnx").expect("vpnx").kind {
            vpndns::deploy::model::JailKind::Vpn(v) => v.tun.clone(),
            _ => unreachable!("vpnx is a vpn jail"),
        }
    }

    /// `host`'s replica namespace.
    fn replica_ns(&self, host: &str) -> String {
        let h = self.site.host(host).expect("host");
        self.site.jail_netns(h, h.jail("vpnx").expect("vpnx"))
    }

    /// Starts the real `vpnjail monitor` in `host`'s ipsec namespace.
    fn start_monitor(&mut self, host: &str) {
        let h = self.site.host(host).expect("host").clone();
        let ipsec = h.ipsec_jail().expect("ipsec").clone();
        let ns = self.site.jail_netns(&h, &ipsec);
        self.lab
            .daemons
            .push(plan_linux::pidfile(&h, &ipsec.name, "monitor"));
        let c = plan_linux::monitor_start(
            &h,
            &ns,
            &ipsec,
            Path::new(env!("CARGO_BIN_EXE_vpnjail")),
            &self.site_file,
        );
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        must(c.program, &args);
    }

    fn kill_provider(&mut self, i: usize) {
        let (stop, h) = &mut self.resolvers[i];
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = h.take() {
            let _ = h.join();
        }
    }

    /// The provider stops answering but still takes the packets (no ICMP
    /// error comes back): each probe waits out its timeout.
    fn mute_provider(&mut self, i: usize) {
        self.kill_provider(i);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = spawn_in_netns(&self.provider_ns(["alpha", "beta"][i]), move || {
            let s = UdpSocket::bind(SocketAddr::from((PROVIDER_DNS, 53))).expect("bind");
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                let _ = s.recv_from(&mut buf);
            }
        });
        self.resolvers[i] = (stop, Some(t));
    }

    /// `host` falls silent on every link, as if it had crashed: nftables in
    /// its ipsec namespace drops everything in and out of its link interfaces.
    fn cut_off(&self, host: &str) {
        let ns = self.host_ns(host);
        let rules = r#"table ip vjtest {
    chain i { type filter hook input priority -10; policy accept; iifname "ipsec*" drop; }
    chain o { type filter hook output priority -10; policy accept; oifname "ipsec*" drop; }
    chain f { type filter hook forward priority -10; policy accept; iifname "ipsec*" drop; oifname "ipsec*" drop; }
}
"#;
        let file = self.lab.path().join(format!("cut-{host}.nft"));
        std::fs::write(&file, rules).expect("write nft");
        nft_file(&ns, &file);
    }

    fn restore_provider(&mut self, i: usize) {
        // Stops a muted one first: it holds the resolver's port.
        self.kill_provider(i);
        let host = ["alpha", "beta"][i];
        let stop = Arc::new(AtomicBool::new(false));
        let t = resolver(
            &self.provider_ns(host),
            [ALPHA_ANSWER, BETA_ANSWER][i],
            stop.clone(),
        );
        self.resolvers[i] = (stop, Some(t));
    }

    /// The client: gamma's bridge address, inside gamma's ipsec namespace.
    fn client(&self) -> (String, Ipv4Addr) {
        let h = self.site.host("gamma").expect("gamma");
        (
            self.host_ns("gamma"),
            h.ipsec_jail().expect("ipsec").address,
        )
    }

    /// Asks the anycast address until the answer is `want`;
    /// the time it took.
    fn wait_answer(&self, what: &str, want: Ipv4Addr, bound: Duration) -> Duration {
        self.wait_answer_at(what, SocketAddr::from((ANYCAST, 53)), want, bound)
    }

    /// The same, asking `dst` (vpndns on gamma, forwarding to the anycast address).
    fn wait_answer_at(
        &self,
        what: &str,
        dst: SocketAddr,
        want: Ipv4Addr,
        bound: Duration,
    ) -> Duration {
        let (ns, src) = self.client();
        let t = Instant::now();
        loop {
            let got = ask(&ns, src, dst, ASK_TIMEOUT);
            if got == Some(want) {
                let took = t.elapsed();
                eprintln!("ha_e2e: {what}: {} ms", took.as_millis());
                return took;
            }
            if t.elapsed() > bound {
                let view = |h: &str| {
                    let d = self.ipsec_dir(h).join(render::linux::FRR_RUN_DIR);
                    sh(
                        "vtysh",
                        &[
                            "--vty_socket",
                            &d.display().to_string(),
                            "-c",
                            &format!("show ip bgp {ANYCAST}/32"),
                        ],
                    )
                    .unwrap_or_else(|e| e)
                };
                panic!(
                    "{what}: still not {want} after {bound:?} (last answer {got:?})\n\
                     gamma: {}\nalpha: {}\nbeta: {}",
                    view("gamma"),
                    view("alpha"),
                    view("beta")
                );
            }
            std::thread::sleep(ASK_PAUSE);
        }
    }

    /// Runs the real vpndns in gamma's ipsec namespace on gamma's address,
    /// port 5353, with one forwarder: the anycast address, unchanged by any
    /// failover. Its answers (TTL 1 from the stand-in resolvers) are cached.
    fn start_vpndns_on_gamma(&mut self) -> SocketAddr {
        let (ns, addr) = self.client();
        let listen = SocketAddr::from((addr, 5353));
        let conf = self.lab.path().join("vpndns.toml");
        std::fs::write(
            &conf,
            format!(
                "[server]\nlisten = [\"{listen}\"]\ntimeout = \"500ms\"\n\n\
                 [[forwarder]]\nname = \"vpnx\"\naddress = \"{ANYCAST}\"\n\n\
                 [[policy]]\nsource = [\"10.10.3.0/24\"]\nforward = \"vpnx\"\n\n\
                 [cache]\nsize = 1000\n"
            ),
        )
        .expect("write vpndns.toml");
        // A real vpndns sits in its jail on gamma's bridge and forwards from
        // its bridge address; this one, in the ipsec namespace, would send
        // from the link's address (the route's interface), which no replica
        // admits: give its queries to the anycast address the bridge source.
        let rules = format!(
            "table ip vjsrc {{\n\tchain post {{ type nat hook postrouting priority srcnat; \
             ip daddr {ANYCAST} udp dport 53 ip saddr != {addr} snat to {addr}; }}\n}}\n"
        );
        let file = self.lab.path().join("vpndns-src.nft");
        std::fs::write(&file, rules).expect("write nft");
        nft_file(&ns, &file);
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_vpndns"), "-c"])
            .arg(&conf)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start vpndns");
        self.lab.children.push(child);
        listen
    }

    /// The local preference of `host`'s own route for the anycast /32 (a
    /// `network` statement of its monitor), if it announces one.
    fn own_local_pref(&self, host: &str) -> Option<u64> {
        let d = self.ipsec_dir(host).join(render::linux::FRR_RUN_DIR);
        let json = sh(
            "vtysh",
            &[
                "--vty_socket",
                &d.display().to_string(),
                "-c",
                &format!("show ip bgp {ANYCAST}/32 json"),
            ],
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(&json).ok()?;
        v.get("paths")?
            .as_array()?
            .iter()
            .find(|p| p.get("local").and_then(|l| l.as_bool()) == Some(true))
            .and_then(|p| p.get("locPrf")?.as_u64())
    }

    /// alpha's monitor first, so the start is deterministic: gamma gets
    /// alpha's provider; then beta's monitor, and nothing changes.
    fn start_monitors(&mut self) {
        self.start_monitor("alpha");
        self.wait_answer(
            "start: gamma gets alpha's provider",
            ALPHA_ANSWER,
            START_BOUND,
        );
        self.start_monitor("beta");
        self.stays(
            "beta's monitor starts",
            ALPHA_ANSWER,
            Duration::from_secs(2),
        );
    }

    /// The answer stays `want` for `d` (checked every 200 ms).
    fn stays(&self, what: &str, want: Ipv4Addr, d: Duration) {
        let (ns, src) = self.client();
        let dst = SocketAddr::from((ANYCAST, 53));
        let t = Instant::now();
        while t.elapsed() < d {
            let got = ask(&ns, src, dst, Duration::from_millis(400));
            assert!(
                got == Some(want) || got.is_none(),
                "{what}: answer changed to {got:?} after {:?}",
                t.elapsed()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Polls how many replicas' clients run (`running`) every 10 ms until
/// `stop`: the moments both ran, and the longest time neither did after one
/// first ran.
struct ClientPoll {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u32, Duration, u32)>>,
}

impl ClientPoll {
    /// The replicas' OpenVPN clients, by their pid files.
    fn pidfiles(pidfiles: Vec<PathBuf>) -> ClientPoll {
        ClientPoll::start(move || pidfiles.iter().filter(|p| alive(p)).count())
    }

    fn start(running: impl Fn() -> usize + Send + 'static) -> ClientPoll {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut both, mut polls) = (0u32, 0u32);
            let (mut longest, mut none_since) = (Duration::ZERO, None::<Instant>);
            let mut seen_one = false;
            while !flag.load(Ordering::Relaxed) {
                let n = running();
                polls += 1;
                both += u32::from(n > 1);
                match (n, none_since) {
                    (0, None) if seen_one => none_since = Some(Instant::now()),
                    (1.., Some(t)) => {
                        longest = longest.max(t.elapsed());
                        none_since = None;
                    }
                    _ => {}
                }
                seen_one |= n > 0;
                std::thread::sleep(Duration::from_millis(10));
            }
            (both, longest, polls)
        });
        ClientPoll {
            stop,
            thread: Some(thread),
        }
    }

    /// (polls with both clients running, the longest gap with none, polls).
    fn finish(mut self) -> (u32, Duration, u32) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

macro_rules! require_root_frr {
    () => {
        if let Some(r) = netns::skip_reason() {
            eprintln!("SKIP ha_e2e: {r}");
            return;
        }
    };
}

/// failback = true (the default): alpha serves, beta takes over when alpha's
/// provider dies, alpha takes the traffic back after its hold-down.
#[test]
fn replica_fails_over_and_back() {
    require_root_frr!();
    let mut ha = Ha::up(true);
    ha.start_monitors();
    let vpndns = ha.start_vpndns_on_gamma();
    ha.wait_answer_at(
        "vpndns on gamma, forwarding to the anycast address: alpha's",
        vpndns,
        ALPHA_ANSWER,
        Duration::from_secs(5),
    );
    ha.kill_provider(0);
    ha.wait_answer(
        "failover: alpha's provider killed, gamma gets beta's",
        BETA_ANSWER,
        FAILOVER_BOUND,
    );
    // vpndns needs no change; its cached answer (TTL 1) is gone by now.
    ha.wait_answer_at(
        "vpndns on gamma after the failover: beta's",
        vpndns,
        BETA_ANSWER,
        Duration::from_secs(3),
    );
    assert_eq!(ha.own_local_pref("alpha"), None, "alpha withdrew");
    ha.restore_provider(0);
    ha.wait_answer(
        "failback: alpha's provider back, gamma gets alpha's again",
        ALPHA_ANSWER,
        FAILBACK_BOUND,
    );
}

/// failback = false: after alpha recovers it joins as standby and beta keeps
/// serving; when beta's provider dies in turn, alpha takes over again.
#[test]
fn without_failback_the_recovered_primary_stays_standby() {
    require_root_frr!();
    let mut ha = Ha::up(false);
    ha.start_monitors();
    ha.kill_provider(0);
    ha.wait_answer(
        "failover (failback off): gamma gets beta's",
        BETA_ANSWER,
        FAILOVER_BOUND,
    );
    ha.restore_provider(0);
    // Hold-down (3 s) and a few checks more: beta keeps serving.
    ha.stays(
        "alpha recovered as standby",
        BETA_ANSWER,
        Duration::from_secs(6),
    );
    // alpha announces itself, below beta: priority 2 (the number of
    // replicas), local preference 100 - 2.
    assert_eq!(ha.own_local_pref("alpha"), Some(98), "alpha is a standby");
    assert_eq!(
        ha.own_local_pref("beta"),
        Some(99),
        "beta keeps its priority"
    );
    ha.kill_provider(1);
    ha.wait_answer(
        "beta's provider killed, the standby alpha takes over",
        ALPHA_ANSWER,
        FAILOVER_BOUND,
    );
    // The standby took its own priority back once no other replica served.
    let t = Instant::now();
    while ha.own_local_pref("alpha") != Some(100) && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        ha.own_local_pref("alpha"),
        Some(100),
        "alpha serves as primary"
    );
    assert_eq!(ha.own_local_pref("beta"), None, "beta withdrew");
}

/// A provider that swallows queries (no ICMP error): the probes time out
/// (200 ms each) and the replica is withdrawn after three of them.
#[test]
fn silent_provider_fails_over() {
    require_root_frr!();
    let mut ha = Ha::up(true);
    // One round with --dry-run first: the real checks pass and the change
    // is printed, not made.
    let ns = ha.host_ns("alpha");
    let out = must(
        "ip",
        &[
            "netns",
            "exec",
            &ns,
            env!("CARGO_BIN_EXE_vpnjail"),
            "monitor",
            "--site",
            &ha.site_file.display().to_string(),
            "--host",
            "alpha",
            "--once",
            "--dry-run",
        ],
    );
    assert!(
        out.contains("'network 10.10.200.1/32 route-map VJ-ANYCAST-P0'"),
        "{out}"
    );
    assert_eq!(
        ha.own_local_pref("alpha"),
        None,
        "--dry-run changed nothing"
    );
    ha.start_monitors();
    ha.mute_provider(0);
    ha.wait_answer(
        "failover: alpha's provider silent, gamma gets beta's",
        BETA_ANSWER,
        FAILOVER_BOUND,
    );
}

/// alpha's host falls silent as a whole (failure 3 of the seed): BFD ends
/// its BGP sessions and beta's replica serves, while
/// alpha's monitor still believes its replica healthy.
#[test]
fn silent_host_fails_over() {
    require_root_frr!();
    let mut ha = Ha::up(true);
    ha.start_monitors();
    let took = netns::wait_bfd_up(&ha.site, START_BOUND);
    eprintln!("ha_e2e: BFD sessions up {} ms later", took.as_millis());
    ha.cut_off("alpha");
    ha.wait_answer(
        "alpha's host silent on every link, gamma gets beta's",
        BETA_ANSWER,
        HOST_SILENT_BOUND,
    );
    assert_eq!(
        ha.own_local_pref("alpha"),
        Some(100),
        "alpha still announces: only BGP moved"
    );
}

/// Loads nftables file `file` in namespace `ns`.
fn nft_file(ns: &str, file: &Path) {
    must(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "nft",
            "-f",
            &file.display().to_string(),
        ],
    );
}

/// The packets an nftables counter of table `inet vjloss` in `ns` saw.
fn loss_counter(ns: &str, name: &str) -> u64 {
    let out = must(
        "ip",
        &[
            "netns", "exec", ns, "nft", "list", "counter", "inet", "vjloss", name,
        ],
    );
    out.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Issue 17's false-withdraw rate, measured (opt-in, 10 minutes by default;
/// `VJ_LOSS_SECS` sets another length): alpha's provider drops 1% of the
/// queries at random (nftables `numgen random`), the real monitor probes
/// every 200 ms with fail_after 3, and every withdrawal it makes counts.
/// `cargo test --test ha_e2e -- --ignored --nocapture probe_loss` prints
/// the probes, the ones lost and the withdrawals; docs/ha.md has the result.
/// It asserts none: three losses in a row (1 in 10^6 checks) should not occur
/// in 3000 checks.
#[test]
#[ignore = "takes 10 minutes: cargo test --test ha_e2e -- --ignored probe_loss"]
fn probe_loss_of_one_percent_withdraws_nothing() {
    require_root_frr!();
    let secs: u64 = std::env::var("VJ_LOSS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let mut ha = Ha::up(true);
    ha.start_monitors();
    let pns = ha.provider_ns("alpha");
    let rules = "table inet vjloss {\n counter seen { }\n counter lost { }\n chain in {\n  \
                 type filter hook input priority -10; policy accept;\n  \
                 udp dport 53 counter name \"seen\"\n  \
                 udp dport 53 numgen random mod 100 < 1 counter name \"lost\" drop\n }\n}\n";
    let file = ha.lab.path().join("loss.nft");
    std::fs::write(&file, rules).expect("write nft");
    nft_file(&pns, &file);
    let log = ha.ipsec_dir("alpha").join("monitor.log");
    let withdrawals = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("withdraw vpnx")
            .count()
    };
    let before = withdrawals();
    let t = Instant::now();
    let mut gaps = 0;
    while t.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        gaps += usize::from(ha.own_local_pref("alpha") != Some(100));
    }
    let (seen, lost) = (loss_counter(&pns, "seen"), loss_counter(&pns, "lost"));
    let withdrawn = withdrawals() - before;
    eprintln!(
        "ha_e2e: probe loss over {secs} s: {seen} probes, {lost} dropped ({:.2}%), \
         {withdrawn} withdrawals, {gaps} one-second samples without alpha's route at priority 0",
        100.0 * lost as f64 / seen.max(1) as f64
    );
    assert!(
        lost > 0,
        "the loss rule dropped nothing: is it in the probes' path?"
    );
    assert_eq!(withdrawn, 0, "false withdrawals with 1% probe loss");
    assert_eq!(gaps, 0, "alpha's route left BGP");
}

/// Cold standby with the real monitor, FRR and OpenVPN: only alpha's client
/// runs; when alpha's provider falls silent alpha stops its client and
/// withdraws, beta's cold route becomes the best, beta starts its client and
/// serves; alpha, recovered, waits cold; when beta's provider fails in turn,
/// alpha takes over again. A poller reads both clients' pid files every
/// 10 ms throughout: never both at once.
#[test]
fn cold_standby_runs_one_client_and_fails_over() {
    require_root_frr!();
    if !netns::ok("openvpn", &["--version"]) || !netns::ok("openssl", &["version"]) {
        eprintln!("SKIP cold standby: needs openvpn and openssl (.ci/run installs them)");
        return;
    }
    let mut ha = Ha::up_as(true, Tunnel::OpenVpn);
    let poll = ClientPoll::pidfiles(ha.clients.clone());
    let pids = ha.clients.clone();
    cold_failovers(
        &mut ha,
        "",
        "polls of both pid files",
        poll,
        &|i| alive(&pids[i]),
        &|_, _| {},
    );
}

/// The cold-standby scenario of both tests above, with `runs(i)` whether
/// replica `i`'s client runs (alpha 0, beta 1) and `serving(ha, i)` more
/// checks while replica `i` serves: alpha's client starts; alpha's provider
/// falls silent and beta's client takes over; alpha recovers and waits cold;
/// beta's provider is killed and alpha's client takes over again. `poll`
/// must never have seen two clients at once. Times are printed, with `tag`.
fn cold_failovers(
    ha: &mut Ha,
    tag: &str,
    polled: &str,
    poll: ClientPoll,
    runs: &dyn Fn(usize) -> bool,
    serving: &dyn Fn(&Ha, usize),
) {
    let only = |i: usize| runs(i) && !runs(1 - i);
    let t = Instant::now();
    ha.start_monitors();
    eprintln!(
        "ha_e2e: cold start{tag}, alpha's client up and answering: {} ms",
        t.elapsed().as_millis()
    );
    assert!(only(0), "only alpha's client runs");
    assert_eq!(
        ha.own_local_pref("beta"),
        Some(97),
        "beta waits cold: priority 2 + 1"
    );
    serving(ha, 0);
    ha.mute_provider(0);
    let took = ha.wait_answer(
        &format!("cold failover{tag}: alpha's provider silent, beta starts its client"),
        BETA_ANSWER,
        COLD_FAILOVER_BOUND,
    );
    eprintln!("ha_e2e: cold failover{tag} {} ms", took.as_millis());
    assert!(only(1), "only beta's client runs");
    serving(ha, 1);
    ha.restore_provider(0);
    // Hold-down (3 s) and more: alpha comes back cold, below the serving beta.
    ha.stays("alpha recovered, cold", BETA_ANSWER, Duration::from_secs(5));
    assert_eq!(
        ha.own_local_pref("alpha"),
        Some(98),
        "alpha waits cold: priority 2 + 0"
    );
    assert!(!runs(0), "alpha's client stays stopped");
    ha.kill_provider(1);
    let back = ha.wait_answer(
        &format!("cold failover back{tag}: beta's provider killed, alpha starts its client"),
        ALPHA_ANSWER,
        COLD_FAILOVER_BOUND,
    );
    eprintln!("ha_e2e: cold failover back{tag} {} ms", back.as_millis());
    assert!(only(0), "only alpha's client runs again");
    serving(ha, 0);
    let (both, gap, polls) = poll.finish();
    eprintln!(
        "ha_e2e: cold standby{tag}: {polls} {polled}, {both} with both clients running, \
         longest gap with none {} ms",
        gap.as_millis()
    );
    assert!(polls > 100, "the poller ran ({polls} polls)");
    assert_eq!(both, 0, "two replicas ran their client at once");
}

/// Cold standby with WireGuard (a provider registers one key per device:
/// two replicas with the same key would fight over its endpoint), with the
/// real monitor, FRR and wireguard-go: both replicas install the same file,
/// only alpha's monitor starts wireguard-go; alpha's provider falls silent,
/// alpha stops its wireguard-go, beta starts its own (the backend's steps:
/// wireguard-go, `wg setconf`, address, routes) and serves DNS (the file's
/// `DNS =`) and Internet datagrams; alpha recovers and waits cold; beta's
/// provider is killed and alpha takes over again. A poller counts the
/// replicas' wireguard-go processes in /proc every 10 ms throughout: never
/// two at once.
#[test]
fn cold_standby_with_wireguard_runs_one_client_and_fails_over() {
    require_root_frr!();
    if !wireguard::available() {
        eprintln!("SKIP cold standby (WireGuard): needs wireguard-tools and wireguard-go");
        return;
    }
    let mut ha = Ha::up_as(true, Tunnel::WireGuard);
    let ifs = vec![ha.wg_if("alpha"), ha.wg_if("beta")];
    assert_ne!(ifs[0], ifs[1], "one interface name per replica");
    let poll = {
        let ifs = ifs.clone();
        ClientPoll::start(move || wireguard_go_running(&ifs))
    };
    let runs = |i: usize| match wireguard_go_running(&ifs[i..=i]) {
        0 => false,
        1 => true,
        n => panic!("{n} wireguard-go for {}", ifs[i]),
    };
    // DNS through the serving replica is what the scenario waits for; an
    // Internet datagram goes through its tunnel too, and through no other.
    let serving = |ha: &Ha, i: usize| {
        let hosts = ["alpha", "beta"];
        let ns = |i: usize| ha.replica_ns(hosts[i]);
        assert_eq!(
            datagram(&ns(i)).as_deref(),
            Some(hosts[i]),
            "a datagram through {}'s tunnel",
            hosts[i]
        );
        assert_eq!(
            datagram(&ns(1 - i)),
            None,
            "{} has no tunnel: its kill switch drops the datagram",
            hosts[1 - i]
        );
    };
    cold_failovers(
        &mut ha,
        " (WireGuard)",
        "polls of /proc for wireguard-go",
        poll,
        &runs,
        &serving,
    );
}
