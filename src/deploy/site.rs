//! The site file as written: serde structures with spans, no meaning checked yet
//! (that is `check.rs`). May touch: nothing but the text it is given.

use serde::Deserialize;
use toml::Spanned;

/// Shorthand: a value with the byte range it came from in the site file.
pub type S<T> = Spanned<T>;

/// The whole site file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    pub site: SiteSection,
    #[serde(default)]
    pub host: Vec<S<HostDef>>,
    #[serde(default)]
    pub link: Vec<S<LinkDef>>,
    #[serde(default)]
    pub gre: Vec<S<GreDef>>,
    #[serde(default)]
    pub dns: DnsSection,
    /// `[[client]]`: road warriors (docs/clients.md).
    #[serde(default)]
    pub client: Vec<S<ClientDef>>,
}

/// `[[client]]`: a phone or laptop dialling a host's ipsec jail with IKEv2.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDef {
    pub name: S<String>,
    pub host: S<String>,
    pub address: S<String>,
    pub exit: Option<S<String>>,
}

/// `[site]`: facts about the whole WAN.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    pub name: S<String>,
    /// `0` (default) or `1`: the link graph must survive any one link failing.
    pub redundancy: Option<S<i64>>,
    /// `"static"` (default): routes in rc.conf; `"bgp"`: FRR in each ipsec jail.
    pub routing: Option<S<String>>,
    /// `anycast = { network = "10.10.200.0/24", bridge = "vjbr1" }`: the
    /// network of replicated vpn jails' anycast addresses (docs/ha.md).
    pub anycast: Option<S<AnycastDef>>,
    /// `[site.monitor]`: health checks and damping of `vpnjail monitor`.
    pub monitor: Option<S<MonitorDef>>,
    /// The network `[[link]]`s without `inner` take their addresses from
    /// (default [`DEFAULT_LINK_NETWORK`]).
    pub link_network: Option<S<String>>,
    /// `bfd = { interval = "100ms", multiplier = 3 }` or `bfd = false`: BFD on
    /// every BGP session (default on with `routing = "bgp"`, docs/bgp.md).
    pub bfd: Option<S<BfdDef>>,
}

/// `[site] bfd`: `false` turns BFD off; a table sets its timers.
#[derive(Debug)]
pub enum BfdDef {
    Enabled(bool),
    Timers(BfdTimers),
}

/// By hand rather than `untagged`, so that a wrong key inside the table is
/// reported as such (and the table's values keep their spans).
impl<'de> Deserialize<'de> for BfdDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BfdDef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "false, true or a table such as { interval = \"100ms\", multiplier = 3 }",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<BfdDef, E> {
                Ok(BfdDef::Enabled(b))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<BfdDef, A::Error> {
                BfdTimers::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(BfdDef::Timers)
            }
        }
        d.deserialize_any(V)
    }
}

/// `bfd = { interval = "100ms", multiplier = 3 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdTimers {
    /// Transmit and receive interval; default "100ms".
    pub interval: Option<S<String>>,
    /// Packets missed in a row before the session is down; default 3.
    pub multiplier: Option<S<i64>>,
}

/// `[site] link_network` when absent: a private /24 for the inner addresses
/// of links that do not give their own.
pub const DEFAULT_LINK_NETWORK: &str = "172.31.255.0/24";

/// `[site] anycast = { ... }`: a second bridge on every host for the
/// addresses of replicated vpn jails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnycastDef {
    pub network: S<String>,
    pub bridge: S<String>,
    /// The ipsec jail's address on the anycast bridge of every host (the
    /// replicas' gateway); default: the network's last host address.
    pub router: Option<S<String>>,
}

/// `[site.monitor]`: how `vpnjail monitor` checks replicas.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorDef {
    /// Time between checks (also each DNS probe's timeout); default "1s".
    pub interval: Option<S<String>>,
    /// Consecutive failed checks before a replica is withdrawn; default 3.
    pub fail_after: Option<S<i64>>,
    /// How long a replica must stay healthy before it is announced again; default "10s".
    pub hold_down: Option<S<String>>,
    /// true (default): a recovered primary takes the traffic back; false: it
    /// joins as standby while another replica serves.
    pub failback: Option<S<bool>>,
    /// The name asked in each DNS probe (type A); default "example.com".
    pub probe_name: Option<S<String>>,
}

/// `[[host]]`: one FreeBSD machine with its bridge and jails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDef {
    pub name: S<String>,
    pub external_if: S<String>,
    pub public_address: S<String>,
    pub bridge: S<BridgeDef>,
    pub jail_root: S<String>,
    /// BGP AS number of the host's ipsec jail; assigned per host when absent.
    pub asn: Option<S<i64>>,
    /// `"freebsd"` (default) or `"linux"`.
    pub platform: Option<S<String>>,
    /// Linux: the network namespace that stands for the host (tests, demos).
    pub netns: Option<S<String>>,
    /// Linux: the vpndns binary started in the vpndns namespace.
    pub vpndns_bin: Option<S<String>>,
    /// Linux: the vpnjail binary that runs `vpnjail monitor` in the ipsec
    /// namespace of a host with replicated vpn jails.
    pub vpnjail_bin: Option<S<String>>,
    pub base: Option<S<String>>,
    pub zfs_clone: Option<S<String>>,
    /// The virtual addresses the ipsec jail hands to `[[client]]`s.
    pub client_pool: Option<S<String>>,
    #[serde(default)]
    pub jail: Vec<S<JailDef>>,
}

/// `bridge = { ... }`: the host's internal virtual network.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeDef {
    pub name: S<String>,
    pub network: S<String>,
    pub address: S<String>,
}

/// `[[host.jail]]`: one VNET jail. Kind-specific keys are optional here and
/// checked against `kind` in `check.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JailDef {
    pub name: S<String>,
    pub kind: S<String>,
    pub address: S<String>,
    pub tun: Option<S<String>>,
    pub provider_dns: Option<S<String>>,
    pub clients: Option<S<Vec<S<String>>>>,
    pub via: Option<S<String>>,
    /// vpn jails: the hosts that run this jail, in priority order (docs/ha.md).
    pub replicas: Option<S<Vec<S<String>>>>,
    /// vpn jails with replicas: the address clients use, in `[site] anycast`.
    pub anycast: Option<S<String>>,
    /// vpn jails: `["ADDR:PORT/udp", ...]`, the provider endpoints the jail's
    /// own traffic may reach outside the tunnel (the kill switch).
    pub endpoints: Option<S<Vec<S<String>>>>,
    /// vpn jails: the provider's OpenVPN client file, relative to the site file.
    pub openvpn: Option<S<String>>,
    /// vpn jails: the provider's WireGuard file (wg-quick style), relative to the site file.
    pub wireguard: Option<S<String>>,
    /// vpn jails with `openvpn`: the `auth-user-pass` file (user, password).
    pub openvpn_auth: Option<S<String>>,
    /// vpn jails with replicas: `"hot"` (default, every replica runs its VPN
    /// client) or `"cold"` (only the elected one does; docs/ha.md).
    pub standby: Option<S<String>>,
}

/// `[[link]]`: a site-to-site IPsec tunnel between two hosts' ipsec jails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDef {
    pub hosts: S<Vec<S<String>>>,
    pub mode: S<String>,
    pub reqid: S<i64>,
    /// Absent: two addresses allocated from `[site] link_network`.
    pub inner: Option<S<Vec<S<String>>>>,
    pub psk_file: Option<S<String>>,
    /// `"psk"` (default, with `psk_file`) or `"pubkey"` (the site's certificates).
    pub auth: Option<S<String>>,
    pub cipher: Option<S<String>>,
    pub spi: Option<S<Vec<S<i64>>>>,
    pub key_file: Option<S<String>>,
}

/// `[[gre]]`: a client's GRE tunnel terminating in a VPN jail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreDef {
    pub jail: S<String>,
    pub remote: S<String>,
    pub inner: S<Vec<S<String>>>,
}

/// `[dns]`: extra vpndns settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    #[serde(default)]
    pub policy: Vec<S<DnsPolicyDef>>,
    /// `static = { "nas.wan" = "10.10.1.20" }`: names every vpndns answers itself.
    #[serde(rename = "static")]
    pub static_records: Option<S<std::collections::BTreeMap<String, S<String>>>>,
    /// `block = ["ads.example.com"]`: names (and everything below) every vpndns blocks.
    pub block: Option<S<Vec<S<String>>>>,
    /// `[[dns.blocklist]]`: named groups of lists that policies choose.
    #[serde(default)]
    pub blocklist: Vec<S<DnsBlocklistDef>>,
    /// `control = "127.0.0.1:8053"`: every vpndns's `[control] listen`, on
    /// its jail's own loopback (what `vpnjail status` asks).
    pub control: Option<S<String>>,
}

/// `[[dns.blocklist]]`: a vpndns `[[blocklist]]` group, written into every
/// vpndns.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsBlocklistDef {
    pub name: S<String>,
    /// `http(s)://` URLs, or absolute paths inside the vpndns jail.
    pub lists: S<Vec<S<String>>>,
    #[serde(default)]
    pub allow: Vec<S<String>>,
    pub refresh: Option<S<String>>,
}

/// `via = "vpnus"` or `via = ["vpnus", "vpneu"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `[[dns.policy]]`: client networks whose DNS goes out through a VPN jail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsPolicyDef {
    pub source: S<Vec<S<String>>>,
    pub via: S<OneOrMany>,
    /// `[[dns.blocklist]]` names (or "default", the `[dns] block` names);
    /// absent: `[dns] block` only.
    pub block: Option<S<Vec<S<String>>>>,
}

/// Parses the text of a site file; errors carry toml's own message and span.
pub fn parse(text: &str) -> Result<SiteFile, toml::de::Error> {
    toml::from_str(text)
}
