//! The validated site: typed values that every later stage (render, plan) reads.
//! May touch: nothing; built only by `check.rs`, so its invariants hold.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// A site whose every fact has been checked.
#[derive(Debug, Clone)]
pub struct Site {
    /// `[site] name`.
    pub name: String,
    /// The site file it came from (for messages).
    pub file: PathBuf,
    pub hosts: Vec<Host>,
    pub links: Vec<Link>,
    pub gres: Vec<Gre>,
    pub dns_policies: Vec<DnsPolicy>,
    /// `[dns] static`: names every vpndns answers itself.
    pub dns_static: Vec<(String, Ipv4Addr)>,
    /// `[dns] block`: names every vpndns blocks (with everything below them).
    pub dns_block: Vec<String>,
    /// `[[dns.blocklist]]`: named list groups for the policies to choose.
    pub dns_blocklists: Vec<DnsBlocklist>,
    /// `[dns] control`: each vpndns's control API, on its jail's loopback.
    pub dns_control: Option<std::net::SocketAddr>,
    /// `[site] redundancy`: 0, or 1 when no single link failure may partition
    /// the link graph (checked by `check.rs`).
    pub redundancy: u8,
    /// `[site] routing = "bgp"`: routes between hosts come from BGP (FRR in
    /// each ipsec jail, docs/bgp.md) instead of static routes.
    pub bgp: bool,
    /// `[site] anycast`: the anycast network and bridge of replicated vpn
    /// jails (docs/ha.md); `None` when the site has none.
    pub anycast: Option<Anycast>,
    /// `[site.monitor]`: settings of `vpnjail monitor`.
    pub monitor: MonitorSettings,
    /// `[[client]]`: road warriors dialling an ipsec jail (docs/clients.md).
    pub clients: Vec<Client>,
    /// The certificates of `pki/` the ipsec jails need (`vpnjail pki`); read
    /// when a client or a `auth = "pubkey"` link needs them.
    pub pki: Option<Pki>,
    /// `[site] bfd`: BFD on every BGP session (FRR's bfdd); `None` without
    /// BGP or with `bfd = false`.
    pub bfd: Option<Bfd>,
}

/// `[[client]]`: a phone or laptop that dials its host's ipsec jail with IKEv2
/// and a certificate, and gets a fixed virtual address from the host's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    /// The host it dials (its `public_address`).
    pub host: String,
    /// Its fixed virtual address, inside the host's `client_pool`.
    pub address: Ipv4Addr,
    /// A vpn jail of that host: its Internet traffic and its DNS go there.
    /// `None`: it reaches the WAN only (split tunnel).
    pub exit: Option<String>,
}

impl Client {
    /// Its IKE identity, also its certificate's rfc822Name: `NAME@SITE`.
    pub fn identity(&self, site: &str) -> String {
        format!("{}@{site}", self.name)
    }
}

/// The site's certificates as the ipsec jails load them (PEM text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    pub ca_cert: String,
    /// The CRL of revoked clients (`vpnjail client revoke`).
    pub crl: String,
    /// Each host's ipsec jail: (host name, certificate, private key).
    pub gateways: Vec<(String, String, String)>,
}

impl Pki {
    /// The certificate and key of a host's ipsec jail.
    pub fn gateway(&self, host: &str) -> Option<(&str, &str)> {
        self.gateways
            .iter()
            .find(|(h, _, _)| h == host)
            .map(|(_, c, k)| (c.as_str(), k.as_str()))
    }
}

/// BFD timers of every BGP session (docs/bgp.md): a silent link is declared
/// down after `multiplier` intervals without a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bfd {
    /// Transmit and receive interval in milliseconds (FRR: 10..60000).
    pub interval_ms: u32,
    /// Detect multiplier (FRR: 2..255).
    pub multiplier: u8,
}

impl Default for Bfd {
    fn default() -> Self {
        Bfd {
            interval_ms: 100,
            multiplier: 3,
        }
    }
}

impl Bfd {
    /// How long a silent peer takes to be declared down.
    pub fn detect_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(self.interval_ms) * u64::from(self.multiplier))
    }
}

/// The anycast network: on every host a second bridge holding the ipsec
/// jail (as `router`) and the local replicas of replicated vpn jails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anycast {
    pub network: Ipv4Net,
    pub bridge: String,
    /// The ipsec jail's address on the anycast bridge (the same on every host).
    pub router: Ipv4Addr,
}

/// How `vpnjail monitor` checks and damps (docs/ha.md). The defaults withdraw
/// a dead or silent provider within about a second (3 checks 200 ms apart,
/// each probe waiting at most 200 ms), while one lost probe never does: with
/// 1% probe loss, 3 losses in a row are about one in a million checks
/// (decide.rs measures the rate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSettings {
    pub interval: std::time::Duration,
    pub fail_after: u32,
    pub hold_down: std::time::Duration,
    pub failback: bool,
    pub probe_name: String,
}

/// `[site.monitor] interval` by default: also each probe's timeout.
pub const DEFAULT_MONITOR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
/// `[site.monitor] fail_after` by default.
pub const DEFAULT_FAIL_AFTER: u32 = 3;

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            interval: DEFAULT_MONITOR_INTERVAL,
            fail_after: DEFAULT_FAIL_AFTER,
            hold_down: std::time::Duration::from_secs(10),
            failback: true,
            probe_name: "example.com".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// The interface facing the Internet: NAT goes out of it, IKE comes in on it.
    pub external_if: String,
    pub public_address: Ipv4Addr,
    pub bridge: Bridge,
    /// Directory holding one root per jail (`<jail_root>/<jail>`).
    pub jail_root: PathBuf,
    pub provision: Provision,
    pub jails: Vec<Jail>,
    pub platform: Platform,
    /// Linux: the network namespace that stands for this host; `None` is the
    /// namespace vpnjail runs in.
    pub netns: Option<String>,
    /// Linux: the vpndns binary run inside the vpndns namespace.
    pub vpndns_bin: PathBuf,
    /// Linux: the vpnjail binary whose `monitor` runs in the ipsec namespace.
    pub vpnjail_bin: PathBuf,
    /// BGP AS number of the host's ipsec jail (unique in the site).
    pub asn: u32,
    /// `client_pool`: the virtual addresses its ipsec jail hands to `[[client]]`s.
    pub client_pool: Option<Ipv4Net>,
}

/// Which backend builds a host's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// VNET jails, epairs, if_bridge, pf, rc.d.
    FreeBsd,
    /// Network namespaces, veth pairs, a Linux bridge, nftables, processes.
    Linux,
}

#[derive(Debug, Clone)]
pub struct Bridge {
    pub name: String,
    pub network: Ipv4Net,
    /// The host's own address on the bridge: the jails' default gateway.
    pub address: Ipv4Addr,
}

/// How a jail's root filesystem is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    /// Extract a base.txz into the root.
    Base(PathBuf),
    /// `zfs clone` this snapshot into a sibling dataset named after the jail.
    ZfsClone { snapshot: String },
    /// Linux: namespaces share the host's filesystem; nothing to provision.
    Shared,
}

#[derive(Debug, Clone)]
pub struct Jail {
    pub name: String,
    pub address: Ipv4Addr,
    pub kind: JailKind,
}

// A site holds a handful of jails, built once by `check`: boxing `Vpn`
// would buy nothing but a deref at every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailKind {
    /// Terminates the site-to-site IPsec links of its host.
    Ipsec,
    /// Runs the vpndns proxy.
    Vpndns,
    /// Holds an external VPN connection on its tun interface.
    Vpn(Vpn),
    /// Any other container; with `via`, its Internet traffic leaves through that VPN jail.
    Service { via: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpn {
    pub tun: String,
    /// Seed step 5: where port 53 arriving on the LAN side is redirected;
    /// `None` when the tunnel pushes it (OpenVPN's `dhcp-option DNS`).
    pub provider_dns: Option<Ipv4Addr>,
    /// Seed step 2: remote clients whose DNS to vpndns is source-translated.
    pub clients: Vec<Ipv4Net>,
    /// Replicated on several hosts behind one anycast address (docs/ha.md).
    pub replication: Option<Replication>,
    /// Where the jail's own traffic may go besides the site's networks (the
    /// kill switch, docs/site.md): `None` leaves it unrestricted.
    pub endpoints: Option<Vec<Endpoint>>,
    /// Who runs the tunnel: the user (bring your own) or vpnjail.
    pub client: VpnClient,
}

/// The VPN client of a vpn jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpnClient {
    /// Installed, configured and run by the user.
    Own,
    /// OpenVPN from the provider's file (`openvpn = "FILE"`), run by vpnjail.
    OpenVpn(OpenVpnClient),
    /// WireGuard from the provider's file (`wireguard = "FILE"`), run by vpnjail.
    WireGuard(WireGuardClient),
}

/// What vpnjail installs for a WireGuard client (from
/// `provider::wireguard::WireGuardFile`; its `DNS =` is the jail's
/// `provider_dns` unless the site names one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireGuardClient {
    /// The `wg setconf` file (wg(8) keys only).
    pub setconf: String,
    /// The wg-quick file (FreeBSD's rc script): setconf plus Address and MTU.
    pub wg_quick: String,
    /// `Address =`, IPv4.
    pub addresses: Vec<Ipv4Net>,
    /// The peers' `AllowedIPs`, IPv4: routed into the tunnel.
    pub allowed: Vec<Ipv4Net>,
    pub mtu: Option<u16>,
    /// Peers' `Endpoint`s given as host names: pinned at `create`
    /// (`provider::resolve`), then in `endpoints` and `setconf`.
    pub named: Vec<NamedEndpoint>,
}

/// What vpnjail installs for an OpenVPN client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenVpnClient {
    /// The provider's file as checked (`provider::openvpn::OpenVpnFile::body`).
    pub config: String,
    /// The `auth-user-pass` file's text (two lines), from `openvpn_auth`.
    pub auth: Option<String>,
    /// `remote` lines given as host names: pinned at `create`
    /// (`provider::resolve`), then in `endpoints` and `config`.
    pub named: Vec<NamedEndpoint>,
}

/// A provider endpoint the vpn jail's client may reach outside the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
}

/// A provider endpoint given as a host name: resolved when the jail is
/// created and pinned (the kill switch admits addresses, never names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedEndpoint {
    pub name: String,
    pub port: u16,
    pub proto: Proto,
}

/// The transport of an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// A vpn jail that runs on several hosts: each copy has the jail's `address`
/// (its own, for health probes) and the shared `anycast` address on the
/// host's anycast bridge; BGP elects the one that serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub anycast: Ipv4Addr,
    /// Host names in priority order: index 0 is the primary.
    pub replicas: Vec<String>,
    /// Whether the replicas that do not serve run their VPN client.
    pub standby: Standby,
}

/// `standby` of a replicated vpn jail (docs/ha.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Standby {
    /// Every healthy replica runs its client; BGP picks one (the default).
    #[default]
    Hot,
    /// Only the elected replica runs its client (providers that allow one
    /// session per account): the others announce a lower preference while
    /// their jail runs, and `vpnjail monitor` starts their client (the one
    /// vpnjail runs, `openvpn = "FILE"`) when BGP makes them the best route
    /// and stops it when they lose that.
    Cold,
}

impl Replication {
    /// The priority of `host` (0 = primary), if it holds a replica.
    pub fn priority(&self, host: &str) -> Option<usize> {
        self.replicas.iter().position(|h| h == host)
    }
}

#[derive(Debug, Clone)]
pub struct Link {
    pub hosts: [String; 2],
    /// Inner /32 addresses of the if_ipsec interfaces, in the order of `hosts`.
    pub inner: [Ipv4Addr; 2],
    pub reqid: u16,
    pub mode: LinkMode,
}

#[derive(Debug, Clone)]
pub enum LinkMode {
    /// strongSwan (IKEv2), with a pre-shared key or the site's certificates.
    Swanctl { auth: LinkAuth },
    /// Static keys loaded with setkey(8): for testing only.
    Setkey {
        cipher: Cipher,
        /// SPIs for hosts[0]→hosts[1] and hosts[1]→hosts[0].
        spi: [u32; 2],
        keys: [SaKey; 2],
    },
}

/// How the two ipsec jails of a strongSwan link authenticate each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAuth {
    /// `psk_file`: a pre-shared key.
    Psk(String),
    /// `auth = "pubkey"`: each host's certificate from `pki/`.
    Pubkey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// `-E aes-gcm-16`: key plus 32-bit salt, 160/224/288 bits.
    AesGcm16,
    /// `-E aes-cbc` (128/192/256 bits) with `-A hmac-sha2-256` (256 bits).
    AesCbc,
}

impl Cipher {
    pub fn setkey_name(self) -> &'static str {
        match self {
            Cipher::AesGcm16 => "aes-gcm-16",
            Cipher::AesCbc => "aes-cbc",
        }
    }
}

/// One direction's keys, hex digits without `0x`.
#[derive(Debug, Clone)]
pub struct SaKey {
    pub enc: String,
    pub auth: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Gre {
    /// The VPN jail the tunnel terminates in.
    pub jail: String,
    /// The interface name inside that jail (`gre0`, `gre1`, ...).
    pub ifname: String,
    /// The client's outer address.
    pub remote: Ipv4Addr,
    /// Inner point-to-point addresses: the jail's end, then the client's.
    pub inner: [Ipv4Addr; 2],
}

#[derive(Debug, Clone)]
pub struct DnsPolicy {
    pub source: Vec<Ipv4Net>,
    /// VPN jails tried in order (the next on timeout).
    pub via: Vec<String>,
    /// The blocklist groups its clients get; `None`: `[dns] block` only.
    pub block: Option<Vec<String>>,
}

/// One `[[dns.blocklist]]`, checked.
#[derive(Debug, Clone)]
pub struct DnsBlocklist {
    pub name: String,
    /// URLs or absolute paths in the vpndns jail.
    pub lists: Vec<String>,
    pub allow: Vec<String>,
    /// As written (checked by vpndns's own duration parser).
    pub refresh: Option<String>,
}

/// One host's end of a link, seen from that host.
#[derive(Debug, Clone)]
pub struct LinkEnd<'a> {
    pub link: &'a Link,
    /// Which of `link.hosts` is us (0 or 1).
    pub side: usize,
    /// `ipsecN` inside our ipsec jail.
    pub ifname: String,
    pub peer: &'a Host,
}

impl LinkEnd<'_> {
    pub fn local_inner(&self) -> Ipv4Addr {
        self.link.inner[self.side]
    }
    pub fn remote_inner(&self) -> Ipv4Addr {
        self.link.inner[1 - self.side]
    }
}

impl Site {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Finds a jail anywhere in the site (jail names are unique site-wide).
    pub fn jail(&self, name: &str) -> Option<(&Host, &Jail)> {
        self.hosts
            .iter()
            .flat_map(|h| h.jails.iter().map(move |j| (h, j)))
            .find(|(_, j)| j.name == name)
    }

    /// Every VPN jail of the site, in file order.
    pub fn vpn_jails(&self) -> impl Iterator<Item = (&Host, &Jail, &Vpn)> {
        self.hosts.iter().flat_map(|h| {
            h.jails.iter().filter_map(move |j| match &j.kind {
                JailKind::Vpn(v) => Some((h, j, v)),
                _ => None,
            })
        })
    }

    /// The links this host takes part in, numbered `ipsec0`, `ipsec1`, ... in file order.
    pub fn link_ends(&self, host: &Host) -> Vec<LinkEnd<'_>> {
        let mut ends = Vec::new();
        for link in &self.links {
            let Some(side) = link.hosts.iter().position(|h| *h == host.name) else {
                continue;
            };
            let Some(peer) = self.host(&link.hosts[1 - side]) else {
                continue;
            };
            ends.push(LinkEnd {
                link,
                side,
                ifname: format!("ipsec{}", ends.len()),
                peer,
            });
        }
        ends
    }

    /// The hosts whose bridge networks this host routes to its ipsec jail:
    /// its link peers, or with BGP every other host (BGP may reach them over
    /// several links).
    pub fn remote_hosts(&self, host: &Host) -> Vec<&Host> {
        if self.bgp {
            self.hosts.iter().filter(|h| h.name != host.name).collect()
        } else {
            self.link_ends(host).iter().map(|e| e.peer).collect()
        }
    }

    /// The `[[client]]`s that dial this host, in file order.
    pub fn clients_of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Client> + 'a {
        self.clients.iter().filter(move |c| c.host == host)
    }

    /// Whether this host's ipsec jail runs charon and loads swanctl.conf: it
    /// has links or a client pool.
    pub fn runs_strongswan(&self, host: &Host) -> bool {
        host.client_pool.is_some() || !self.link_ends(host).is_empty()
    }

    /// The road warriors whose Internet traffic leaves through vpn jail
    /// `jail`: the sources its ruleset must admit and translate out of its
    /// tunnel (one /32 per `[[client]]` with `exit = jail`).
    pub fn road_warriors_via(&self, jail: &str) -> Vec<Ipv4Net> {
        self.clients
            .iter()
            .filter(|c| c.exit.as_deref() == Some(jail))
            .map(|c| Ipv4Net::from(c.address))
            .collect()
    }

    /// The sources a vpn jail admits as its clients (the kill switch lets
    /// them out only through the tunnel): the network it sits on, its
    /// `clients`, the inner addresses of the GRE clients terminating in it
    /// and the road warriors whose exit it is. A replica sits on the anycast
    /// network and serves every host that routes to the anycast address, so
    /// it also admits every host's WAN networks ([`Host::wan_networks`]: its
    /// bridge, with each vpndns forwarding to it, and its road warriors'
    /// pool), aggregated so that no two overlap. The one place that says who
    /// may use a vpn jail; every renderer asks here.
    pub fn egress_sources(&self, host: &Host, jail: &Jail, vpn: &Vpn) -> Vec<Ipv4Net> {
        match (&vpn.replication, &self.anycast) {
            (Some(_), Some(a)) => {
                let mut v = vec![a.network];
                v.extend(self.hosts.iter().flat_map(Host::wan_networks));
                v.extend(self.remote_egress_sources(jail, vpn));
                let mut v = Ipv4Net::aggregate(&v);
                v.sort();
                v
            }
            _ => {
                let mut v = vec![host.bridge.network];
                v.extend(self.remote_egress_sources(jail, vpn));
                v
            }
        }
    }

    /// The [`egress_sources`](Self::egress_sources) that are not on the
    /// jail's own network: its `clients`, its GRE clients' inner addresses
    /// and the road warriors whose exit it is. Their packets arrive routed,
    /// so their DNS to the host's vpndns is source-translated to the jail's
    /// own address (seed step 2); out of the tunnel the jail translates
    /// everything, whoever sent it.
    pub fn remote_egress_sources(&self, jail: &Jail, vpn: &Vpn) -> Vec<Ipv4Net> {
        let mut v = vpn.clients.clone();
        v.extend(
            self.gres_of(&jail.name)
                .filter_map(|g| Ipv4Net::new(g.inner[1], 32).ok()),
        );
        v.extend(self.road_warriors_via(&jail.name));
        v
    }

    /// The site's own networks: every host's bridge, the anycast network,
    /// every vpn jail's clients and GRE clients. Traffic to them never needs
    /// a provider, so a kill switch lets it through outside the tunnel.
    pub fn site_networks(&self) -> Vec<Ipv4Net> {
        let mut v: Vec<Ipv4Net> = self.hosts.iter().map(|h| h.bridge.network).collect();
        v.extend(self.anycast.iter().map(|a| a.network));
        for (h, j, vpn) in self.vpn_jails() {
            v.extend(self.egress_sources(h, j, vpn));
        }
        let mut v = Ipv4Net::aggregate(&v);
        v.sort();
        v
    }

    /// GRE tunnels terminating in this jail.
    pub fn gres_of<'a>(&'a self, jail: &'a str) -> impl Iterator<Item = &'a Gre> + 'a {
        self.gres.iter().filter(move |g| g.jail == jail)
    }
}

impl Host {
    /// The networks the WAN reaches at this host: its bridge network and its
    /// road warriors' `client_pool` (docs/clients.md). A link's selectors
    /// and the static routes to a link peer carry all of them.
    pub fn wan_networks(&self) -> Vec<Ipv4Net> {
        std::iter::once(self.bridge.network)
            .chain(self.client_pool)
            .collect()
    }

    /// The replicated vpn jails that have a replica on this host, with this
    /// host's priority for each.
    pub fn replicas(&self) -> impl Iterator<Item = (&Jail, &Replication, usize)> {
        self.jails.iter().filter_map(|j| {
            let r = j.replication()?;
            Some((j, r, r.priority(&self.name)?))
        })
    }
    fn jail_of_kind(&self, want: fn(&JailKind) -> bool) -> Option<&Jail> {
        self.jails.iter().find(|j| want(&j.kind))
    }
    pub fn ipsec_jail(&self) -> Option<&Jail> {
        self.jail_of_kind(|k| *k == JailKind::Ipsec)
    }
    pub fn vpndns_jail(&self) -> Option<&Jail> {
        self.jail_of_kind(|k| *k == JailKind::Vpndns)
    }
    pub fn jail(&self, name: &str) -> Option<&Jail> {
        self.jails.iter().find(|j| j.name == name)
    }
    /// The root directory of a jail on this host.
    pub fn jail_path(&self, jail: &str) -> PathBuf {
        self.jail_root.join(jail)
    }
}

impl Jail {
    /// Host side of the epair (platform.md: `e0a_<jail>`).
    pub fn epair_host(&self) -> String {
        format!("e0a_{}", self.name)
    }
    /// Jail side of the epair (`e0b_<jail>`).
    pub fn epair_jail(&self) -> String {
        format!("e0b_{}", self.name)
    }
    /// The replication of a replicated vpn jail.
    pub fn replication(&self) -> Option<&Replication> {
        match &self.kind {
            JailKind::Vpn(v) => v.replication.as_ref(),
            _ => None,
        }
    }
    /// Host side of the ipsec jail's second epair, on the anycast bridge.
    pub fn anycast_epair_host(&self) -> String {
        format!("e1a_{}", self.name)
    }
    /// Jail side of the ipsec jail's second epair.
    pub fn anycast_epair_jail(&self) -> String {
        format!("e1b_{}", self.name)
    }
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            JailKind::Ipsec => "ipsec",
            JailKind::Vpndns => "vpndns",
            JailKind::Vpn(_) => "vpn",
            JailKind::Service { .. } => "service",
        }
    }
}

/// FNV-1a, 32 bits: a stable short tag for generated names.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A locally administered MAC address, `02:76:` and the FNV-1a hash of `s`.
fn local_mac(s: &str) -> String {
    let b = fnv1a(s).to_be_bytes();
    format!("02:76:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

/// Linux names: one network namespace per jail, named after site, host and
/// jail so that two sites (or two test runs) on one machine cannot collide.
impl Site {
    /// The jail's network namespace: `vj-<site>-<host>-<jail>` (the parts are
    /// `[A-Za-z0-9_]`, so `-` separates them unambiguously).
    pub fn jail_netns(&self, host: &Host, jail: &Jail) -> String {
        format!("vj-{}-{}-{}", self.name, host.name, jail.name)
    }
    /// Host side of the jail's veth pair, in the host's namespace: `vj` and
    /// eight hex digits of a hash of site, host and jail (10 characters, within
    /// the 15 of IFNAMSIZ; unique per site, host and jail).
    pub fn veth_host(&self, host: &Host, jail: &Jail) -> String {
        format!(
            "vj{:08x}",
            fnv1a(&format!("{}/{}/{}", self.name, host.name, jail.name))
        )
    }
    /// The WireGuard interface of a vpn jail: `wg` and the same eight hex
    /// digits as [`Site::veth_host`]. Unique on the machine, not only in its
    /// namespace: wireguard-go's control socket is /var/run/wireguard/IF.sock
    /// on the shared filesystem.
    pub fn wireguard_if(&self, host: &Host, jail: &Jail) -> String {
        format!(
            "wg{:08x}",
            fnv1a(&format!("{}/{}/{}", self.name, host.name, jail.name))
        )
    }
    /// Names every WireGuard vpn jail's interface (its `tun`) once the
    /// site's name is known (`check` calls it).
    pub fn name_wireguard_interfaces(&mut self) {
        let names: Vec<Vec<String>> = self
            .hosts
            .iter()
            .map(|h| h.jails.iter().map(|j| self.wireguard_if(h, j)).collect())
            .collect();
        for (h, names) in self.hosts.iter_mut().zip(names) {
            for (j, name) in h.jails.iter_mut().zip(names) {
                if let JailKind::Vpn(v) = &mut j.kind
                    && matches!(v.client, VpnClient::WireGuard(_))
                {
                    v.tun = name;
                }
            }
        }
    }
    /// Host side of the ipsec jail's second veth pair, on the anycast
    /// bridge: `vk` and the same eight hex digits as [`Site::veth_host`].
    pub fn veth_host_anycast(&self, host: &Host, jail: &Jail) -> String {
        format!(
            "vk{:08x}",
            fnv1a(&format!("{}/{}/{}", self.name, host.name, jail.name))
        )
    }
    /// MAC address of the jail's end of its second veth pair.
    pub fn veth_jail_mac_anycast(&self, host: &Host, jail: &Jail) -> String {
        local_mac(&format!(
            "{}/{}/{}/anycast",
            self.name, host.name, jail.name
        ))
    }
    /// MAC address of the jail's end of its veth pair: fixed (locally
    /// administered, from the same hash), so a namespace destroyed and created
    /// again keeps the MAC its neighbours have in their ARP caches.
    pub fn veth_jail_mac(&self, host: &Host, jail: &Jail) -> String {
        local_mac(&format!("{}/{}/{}", self.name, host.name, jail.name))
    }
    /// MAC address of the host's bridge `br`: fixed (locally administered,
    /// from the same hash), so that it never follows its ports' (the kernel's
    /// default) and the jails' ARP entries for their gateway stay true.
    pub fn bridge_mac(&self, host: &Host, br: &str) -> String {
        local_mac(&format!("{}/{}/bridge/{br}", self.name, host.name))
    }
    /// The host's own nftables table (NAT out of the external interface, IKE
    /// to the ipsec namespace): `vpnjail_<site>_<host>`.
    pub fn host_nft_table(&self, host: &Host) -> String {
        format!("vpnjail_{}_{}", self.name, host.name)
    }
}
