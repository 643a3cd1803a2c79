//! Validation of a parsed site file into the typed [`model::Site`], with every
//! problem reported as `file:line: key: what was expected`.
//! May touch: the site file and the secret files it names (read only).

use super::model::{Anycast, Bfd, MonitorSettings, Replication};
use super::model::{
    Bridge, Cipher, DnsBlocklist, DnsPolicy, Gre, Host, Jail, JailKind, Link, LinkAuth, LinkMode,
    OpenVpnClient, Platform, Provision, SaKey, Site, Vpn, VpnClient,
};
use super::site::{self, JailDef, LinkDef, S, SiteFile};
use super::{linknet, sitepath};
use crate::proxy::config::parse_duration;
use crate::proxy::listconfig::{DEFAULT_GROUP, MIN_REFRESH};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A vpn jail's `wireguard = "FILE"` (issue 11).
mod wireguard;

/// Interface names are limited to 15 characters (IFNAMSIZ 16).
pub const IFNAME_MAX: usize = 15;
/// `e0a_` + name must fit in [`IFNAME_MAX`].
pub const JAIL_NAME_MAX: usize = IFNAME_MAX - 4;

mod clients;

/// One thing wrong with the site, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    /// The key, written as a path: `host[alpha].jail[vpnus].provider_dns`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.key,
            self.message
        )
    }
}

/// Every problem found in a site, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Reads, parses and validates the site file at `path`.
pub fn load(path: &Path) -> Result<Site, Problems> {
    check_text(path, &read_site(path)?)
}

fn read_site(path: &Path) -> Result<String, Problems> {
    std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            file: path.to_path_buf(),
            line: 0,
            key: "-".into(),
            message: format!("cannot read the site file: {e}"),
        }])
    })
}

/// Parses and validates site text; `path` names it in messages and anchors
/// relative secret files.
pub fn check_text(path: &Path, text: &str) -> Result<Site, Problems> {
    check_with(path, text, true)
}

/// Like [`load`], without reading `pki/` (`vpnjail pki` creates it).
pub fn load_without_pki(path: &Path) -> Result<Site, Problems> {
    check_with(path, &read_site(path)?, false)
}

fn check_with(path: &Path, text: &str, read_pki: bool) -> Result<Site, Problems> {
    let mut c = Checker {
        file: path.to_path_buf(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        text,
        problems: Vec::new(),
        read_pki,
    };
    let parsed = match site::parse(text) {
        Ok(p) => p,
        Err(e) => {
            let line = e.span().map(|s| c.line(s.start)).unwrap_or(0);
            let key = match e.span() {
                Some(span) => sitepath::locate(text, span),
                None => "site file".into(),
            };
            return Err(Problems(vec![Problem {
                file: c.file.clone(),
                line,
                key,
                message: sitepath::message(e.message()),
            }]));
        }
    };
    let site = c.site(parsed);
    if c.problems.is_empty() {
        Ok(site)
    } else {
        c.problems.sort_by_key(|p| p.line);
        c.problems.dedup();
        Err(Problems(c.problems))
    }
}

struct Checker<'t> {
    file: PathBuf,
    dir: PathBuf,
    text: &'t str,
    problems: Vec<Problem>,
    /// Read and check `pki/` (off for `vpnjail pki`, which creates it).
    read_pki: bool,
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_ifname(s: &str) -> bool {
    s.len() <= IFNAME_MAX
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// AS numbers assigned to hosts without `asn`: this plus the host's position
/// (1-based), inside the 32-bit private range 4200000000..4294967294 (RFC 6996).
pub const ASN_BASE: u32 = 4_200_000_000;

/// Any AS number but 0, AS_TRANS (23456), 65535 and 4294967295.
fn valid_asn(a: u32) -> bool {
    !matches!(a, 0 | 23456 | 65535 | u32::MAX)
}

/// Connected component of each of `n` nodes, with edge `skip` left out.
fn components(n: usize, edges: &[[usize; 2]], skip: Option<usize>) -> Vec<usize> {
    let mut comp: Vec<usize> = (0..n).collect();
    fn root(c: &mut [usize], mut x: usize) -> usize {
        while c[x] != x {
            c[x] = c[c[x]];
            x = c[x];
        }
        x
    }
    for (i, [a, b]) in edges.iter().enumerate() {
        if Some(i) == skip || *a >= n || *b >= n {
            continue;
        }
        let (ra, rb) = (root(&mut comp, *a), root(&mut comp, *b));
        comp[ra] = rb;
    }
    (0..n).map(|x| root(&mut comp, x)).collect()
}

/// Longest network namespace name accepted for `[[host]] netns`.
pub const NETNS_MAX: usize = 64;

fn is_netns(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NETNS_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A domain name for `[dns] static` and `[dns] block`: dot-separated labels
/// of letters, digits, '-' and '_'.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_plain_path(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./-+".contains(&b))
}

impl Checker<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        let line = self.line(span.start);
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            key: key.into(),
            message: message.into(),
        });
    }

    fn name(&mut self, v: &S<String>, key: &str, max: usize) -> String {
        let s = v.get_ref();
        if !is_name(s) {
            self.err(
                v.span(),
                key,
                format!("{s:?} must be made of letters, digits and '_' only"),
            );
        } else if s.len() > max {
            self.err(
                v.span(),
                key,
                format!(
                    "{s:?} is {} characters; at most {max} fit (interface names such as e0a_{s} are limited to {IFNAME_MAX})",
                    s.len()
                ),
            );
        }
        s.clone()
    }

    fn ifname(&mut self, v: &S<String>, key: &str) -> String {
        let s = v.get_ref();
        if !is_ifname(s) {
            self.err(
                v.span(),
                key,
                format!("{s:?} is not an interface name (a letter, then letters, digits, '_' or '.', at most {IFNAME_MAX})"),
            );
        }
        s.clone()
    }

    fn addr(&mut self, v: &S<String>, key: &str) -> Ipv4Addr {
        match v.get_ref().parse::<Ipv4Addr>() {
            Ok(a) => a,
            Err(_) => {
                self.err(
                    v.span(),
                    key,
                    format!("{:?} is not an IPv4 address such as 10.10.1.2", v.get_ref()),
                );
                Ipv4Addr::UNSPECIFIED
            }
        }
    }

    fn net(&mut self, v: &S<String>, key: &str) -> Option<Ipv4Net> {
        match v.get_ref().parse::<Ipv4Net>() {
            Ok(n) if n.trunc() == n => Some(n),
            Ok(n) => {
                self.err(
                    v.span(),
                    key,
                    format!("{n} has host bits set; did you mean {}?", n.trunc()),
                );
                None
            }
            Err(_) => {
                self.err(
                    v.span(),
                    key,
                    format!(
                        "{:?} is not an IPv4 network such as 10.10.2.0/24",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn path(&mut self, v: &S<String>, key: &str, absolute: bool) -> PathBuf {
        let s = v.get_ref();
        if !is_plain_path(s) {
            self.err(
                v.span(),
                key,
                format!("{s:?}: use only letters, digits and _ . / - + in paths"),
            );
        } else if absolute && !s.starts_with('/') {
            self.err(v.span(), key, format!("{s:?} must be an absolute path"));
        }
        PathBuf::from(s)
    }

    /// Reads a secret file named relative to the site file.
    fn secret(&mut self, v: &S<String>, key: &str) -> Option<(PathBuf, String)> {
        let rel = self.path(v, key, false);
        let full = if rel.is_absolute() {
            rel
        } else {
            self.dir.join(rel)
        };
        match std::fs::read_to_string(&full) {
            Ok(t) => Some((full, t)),
            Err(e) => {
                self.err(
                    v.span(),
                    key,
                    format!("cannot read secret file {}: {e}", full.display()),
                );
                None
            }
        }
    }

    fn site(&mut self, f: SiteFile) -> Site {
        let name = self.name(&f.site.name, "site.name", usize::MAX);
        let mut addrs: HashMap<Ipv4Addr, String> = HashMap::new();
        let mut hosts = Vec::new();
        let mut host_names: HashSet<String> = HashSet::new();
        let mut jail_names: HashSet<String> = HashSet::new();
        let mut nets: Vec<(Ipv4Net, String)> = Vec::new();
        for h in &f.host {
            let host = self.host(h, &mut addrs, &mut jail_names);
            if !host_names.insert(host.name.clone()) {
                self.err(
                    h.get_ref().name.span(),
                    format!("host[{}].name", host.name),
                    format!("host {:?} is defined twice", host.name),
                );
            }
            if let Some((other, owner)) = nets.iter().find(|(n, _)| {
                n.contains(&host.bridge.network.network())
                    || host.bridge.network.contains(&n.network())
            }) {
                self.err(
                    h.get_ref().bridge.get_ref().network.span(),
                    format!("host[{}].bridge.network", host.name),
                    format!(
                        "{} overlaps {other}, the bridge network of host {owner:?}",
                        host.bridge.network
                    ),
                );
            }
            nets.push((host.bridge.network, host.name.clone()));
            hosts.push(host);
        }
        let mut site = Site {
            name,
            file: self.file.clone(),
            hosts,
            links: Vec::new(),
            gres: Vec::new(),
            dns_policies: Vec::new(),
            dns_static: Vec::new(),
            dns_block: Vec::new(),
            dns_blocklists: Vec::new(),
            redundancy: self.redundancy(&f),
            bgp: self.routing(&f),
            anycast: None,
            monitor: self.monitor(&f),
            clients: Vec::new(),
            pki: None,
            bfd: None,
        };
        site.bfd = self.bfd(&f, site.bgp);
        site.anycast = self.anycast(&f, &mut addrs);
        self.replicas(&f, &mut site, &mut addrs);
        site.name_wireguard_interfaces();
        self.asns(&f, &mut site);
        self.kinds_per_host(&f, &site);
        let mut reqids: HashMap<u16, usize> = HashMap::new();
        let mut spis: HashSet<u32> = HashSet::new();
        let mut pairs: HashSet<(String, String)> = HashSet::new();
        // For each checked link, its index in the file (messages name link[i]).
        let mut link_index: Vec<usize> = Vec::new();
        let mut allocated = self.link_inner(&f, &site, &addrs).into_iter();
        for (i, l) in f.link.iter().enumerate() {
            let given = l
                .get_ref()
                .inner
                .is_none()
                .then(|| allocated.next())
                .flatten();
            if let Some(link) = self.link(i, l, given, &site, &mut reqids, &mut spis, &mut addrs) {
                let mut pair = link.hosts.clone();
                pair.sort();
                let [a, b] = pair;
                if !pairs.insert((a.clone(), b.clone())) {
                    self.err(
                        l.get_ref().hosts.span(),
                        format!("link[{i}].hosts"),
                        format!("hosts {a:?} and {b:?} are already joined by an earlier link"),
                    );
                }
                site.links.push(link);
                link_index.push(i);
            }
        }
        for (i, g) in f.gre.iter().enumerate() {
            if let Some(gre) = self.gre(i, g, &site, &mut addrs) {
                site.gres.push(gre);
            }
        }
        self.dns_blocklists(&f, &mut site);
        for (i, p) in f.dns.policy.iter().enumerate() {
            if let Some(pol) = self.dns_policy(i, p, &site) {
                site.dns_policies.push(pol);
            }
        }
        if let Some(st) = &f.dns.static_records {
            for (name, addr) in st.get_ref() {
                let key = format!("dns.static.{name:?}");
                if !is_dns_name(name) {
                    self.err(st.span(), &key, format!("{name:?} is not a domain name"));
                    continue;
                }
                let a = self.addr(addr, &key);
                site.dns_static.push((name.to_ascii_lowercase(), a));
            }
        }
        if let Some(b) = &f.dns.block {
            for n in b.get_ref() {
                if is_dns_name(n.get_ref()) {
                    site.dns_block.push(n.get_ref().to_ascii_lowercase());
                } else {
                    self.err(
                        n.span(),
                        "dns.block",
                        format!("{:?} is not a domain name", n.get_ref()),
                    );
                }
            }
        }
        self.hosts_need_ipsec(&f, &site);
        // Road warriors and the site's certificates (check/clients.rs).
        self.clients(&f, &mut site);
        self.pki(&f, &mut site);
        if site.redundancy >= 1 && self.problems.is_empty() {
            self.single_points_of_failure(&f, &site, &link_index);
        }
        self.policy_clashes(&f, &site);
        site
    }

    fn host(
        &mut self,
        h: &S<site::HostDef>,
        addrs: &mut HashMap<Ipv4Addr, String>,
        jail_names: &mut HashSet<String>,
    ) -> Host {
        let d = h.get_ref();
        let name = self.name(&d.name, "host.name", usize::MAX);
        let k = |key: &str| format!("host[{name}].{key}");
        let external_if = self.ifname(&d.external_if, &k("external_if"));
        let public_address = self.addr(&d.public_address, &k("public_address"));
        self.unique_addr(
            addrs,
            public_address,
            &d.public_address,
            &k("public_address"),
        );
        let b = d.bridge.get_ref();
        let bname = self.ifname(&b.name, &k("bridge.name"));
        let network = self
            .net(&b.network, &k("bridge.network"))
            .unwrap_or_default();
        let baddr = self.addr(&b.address, &k("bridge.address"));
        self.in_net(network, baddr, &b.address, &k("bridge.address"));
        self.unique_addr(addrs, baddr, &b.address, &k("bridge.address"));
        let jail_root = self.path(&d.jail_root, &k("jail_root"), true);
        let platform = match d
            .platform
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()))
        {
            None | Some(("freebsd", _)) => Platform::FreeBsd,
            Some(("linux", _)) => Platform::Linux,
            Some((other, span)) => {
                self.err(
                    span,
                    k("platform"),
                    format!("{other:?}: expected \"freebsd\" or \"linux\""),
                );
                Platform::FreeBsd
            }
        };
        let linux_only = [
            ("netns", d.netns.as_ref().map(|v| v.span())),
            ("vpndns_bin", d.vpndns_bin.as_ref().map(|v| v.span())),
            ("vpnjail_bin", d.vpnjail_bin.as_ref().map(|v| v.span())),
        ];
        if platform != Platform::Linux {
            for (key, span) in linux_only {
                if let Some(span) = span {
                    self.err(
                        span,
                        k(key),
                        format!("{key} only applies to platform = \"linux\""),
                    );
                }
            }
        }
        let netns = d.netns.as_ref().map(|n| {
            let s = n.get_ref();
            if !is_netns(s) {
                self.err(
                    n.span(),
                    k("netns"),
                    format!(
                        "{s:?}: a namespace name is 1..{NETNS_MAX} letters, digits, '_' or '-'"
                    ),
                );
            }
            s.clone()
        });
        let vpndns_bin = match &d.vpndns_bin {
            Some(b) => self.path(b, &k("vpndns_bin"), true),
            None => PathBuf::from(super::plan::VPNDNS_BIN),
        };
        let vpnjail_bin = match &d.vpnjail_bin {
            Some(b) => self.path(b, &k("vpnjail_bin"), true),
            None => PathBuf::from(super::plan::VPNJAIL_BIN),
        };
        let provision = match (&d.base, &d.zfs_clone) {
            _ if platform == Platform::Linux => {
                for (key, span) in [
                    ("base", d.base.as_ref().map(|v| v.span())),
                    ("zfs_clone", d.zfs_clone.as_ref().map(|v| v.span())),
                ] {
                    if let Some(span) = span {
                        self.err(
                            span,
                            k(key),
                            format!("{key} does not apply to platform = \"linux\" (namespaces share the host's filesystem)"),
                        );
                    }
                }
                Provision::Shared
            }
            (Some(base), None) => Provision::Base(self.path(base, &k("base"), true)),
            (None, Some(z)) => {
                let s = z.get_ref();
                let ok = s.split_once('@').is_some_and(|(ds, snap)| {
                    is_plain_path(ds)
                        && !ds.starts_with('/')
                        && ds.contains('/')
                        && is_plain_path(snap)
                        && !snap.contains('/')
                });
                if !ok {
                    self.err(
                        z.span(),
                        k("zfs_clone"),
                        format!("{s:?} is not a snapshot such as \"zroot/jails/base@clean\" (pool/dataset@snapshot)"),
                    );
                }
                Provision::ZfsClone {
                    snapshot: s.clone(),
                }
            }
            (Some(_), Some(z)) => {
                self.err(
                    z.span(),
                    k("zfs_clone"),
                    "give either base or zfs_clone, not both",
                );
                Provision::Base(PathBuf::new())
            }
            (None, None) => {
                self.err(
                    d.name.span(),
                    k("base"),
                    "missing: give base = \"/path/base.txz\" or zfs_clone = \"pool/ds@snap\"",
                );
                Provision::Base(PathBuf::new())
            }
        };
        let bridge = Bridge {
            name: bname,
            network,
            address: baddr,
        };
        let mut jails = Vec::new();
        for j in &d.jail {
            if let Some(jail) = self.jail(&name, j, &bridge, addrs) {
                if !jail_names.insert(jail.name.clone()) {
                    self.err(
                        j.get_ref().name.span(),
                        format!("host[{name}].jail[{}].name", jail.name),
                        format!(
                            "jail {:?} is defined twice (jail names are unique in the whole site)",
                            jail.name
                        ),
                    );
                }
                jails.push(jail);
            }
        }
        Host {
            name,
            external_if,
            public_address,
            bridge,
            jail_root,
            provision,
            jails,
            platform,
            netns,
            vpndns_bin,
            vpnjail_bin,
            asn: 0,
            client_pool: None,
        }
    }

    fn unique_addr(
        &mut self,
        addrs: &mut HashMap<Ipv4Addr, String>,
        a: Ipv4Addr,
        v: &S<String>,
        key: &str,
    ) {
        if a.is_unspecified() {
            return;
        }
        if let Some(owner) = addrs.get(&a) {
            let msg = format!("address {a} is already used by {owner}");
            self.err(v.span(), key, msg);
        } else {
            addrs.insert(a, key.to_string());
        }
    }

    fn in_net(&mut self, net: Ipv4Net, a: Ipv4Addr, v: &S<String>, key: &str) {
        if a.is_unspecified() || net.prefix_len() == 0 {
            return;
        }
        if !net.contains(&a) {
            self.err(
                v.span(),
                key,
                format!("{a} is outside the bridge network {net}"),
            );
        } else if net.prefix_len() < 31 && (a == net.network() || a == net.broadcast()) {
            self.err(
                v.span(),
                key,
                format!("{a} is the network or broadcast address of {net}"),
            );
        }
    }

    fn jail(
        &mut self,
        host: &str,
        j: &S<JailDef>,
        bridge: &Bridge,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) -> Option<Jail> {
        let d = j.get_ref();
        let name = self.name(&d.name, &format!("host[{host}].jail.name"), JAIL_NAME_MAX);
        let k = |key: &str| format!("host[{host}].jail[{name}].{key}");
        let address = self.addr(&d.address, &k("address"));
        // A replicated jail's address is in the anycast network (checked in `replicas`).
        if d.replicas.is_none() {
            self.in_net(bridge.network, address, &d.address, &k("address"));
        }
        self.unique_addr(addrs, address, &d.address, &k("address"));
        let kind = d.kind.get_ref().as_str();
        // Keys that only some kinds take.
        let allowed: &[&str] = match kind {
            "vpn" => &[
                "tun",
                "provider_dns",
                "clients",
                "replicas",
                "anycast",
                "endpoints",
                "openvpn",
                "openvpn_auth",
            ],
            "service" => &["via"],
            "ipsec" | "vpndns" => &[],
            other => {
                self.err(
                    d.kind.span(),
                    k("kind"),
                    format!("{other:?} is not a jail kind; expected \"ipsec\", \"vpndns\", \"vpn\" or \"service\""),
                );
                return None;
            }
        };
        let present: [(&str, Option<Range<usize>>); 9] = [
            ("tun", d.tun.as_ref().map(|v| v.span())),
            ("provider_dns", d.provider_dns.as_ref().map(|v| v.span())),
            ("clients", d.clients.as_ref().map(|v| v.span())),
            ("via", d.via.as_ref().map(|v| v.span())),
            ("replicas", d.replicas.as_ref().map(|v| v.span())),
            ("anycast", d.anycast.as_ref().map(|v| v.span())),
            ("endpoints", d.endpoints.as_ref().map(|v| v.span())),
            ("openvpn", d.openvpn.as_ref().map(|v| v.span())),
            ("openvpn_auth", d.openvpn_auth.as_ref().map(|v| v.span())),
        ];
        for (key, span) in present {
            if let Some(span) = span
                && !allowed.contains(&key)
            {
                self.err(
                    span,
                    k(key),
                    format!("{key} does not apply to a jail of kind {kind:?}"),
                );
            }
        }
        if let Some(w) = d.wireguard.as_ref().filter(|_| kind != "vpn") {
            let m = format!("wireguard does not apply to a jail of kind {kind:?}");
            self.err(w.span(), k("wireguard"), m);
        }
        let kind = match kind {
            "ipsec" => JailKind::Ipsec,
            "vpndns" => JailKind::Vpndns,
            "service" => JailKind::Service {
                via: d.via.as_ref().map(|v| v.get_ref().clone()),
            },
            _ => {
                let tun = match &d.tun {
                    Some(t) if d.wireguard.is_none() => {
                        let t2 = self.ifname(t, &k("tun"));
                        if !t2.starts_with("tun") {
                            self.err(
                                t.span(),
                                k("tun"),
                                format!("{t2:?} should be a tun(4) interface such as \"tun0\""),
                            );
                        }
                        t2
                    }
                    _ => "tun0".to_string(),
                };
                // WireGuard (check/wireguard.rs): its endpoints, and its `DNS =`
                // as provider_dns unless the site names one.
                let (client, openvpn_endpoints, file_dns) = match self.wireguard_client(d, &k) {
                    Some((c, e, dns)) => (c, Some(e), dns),
                    None => {
                        let (c, e) = self.vpn_client(d, &k);
                        (c, e, None)
                    }
                };
                let provider_dns = match &d.provider_dns {
                    Some(p) => Some(self.addr(p, &k("provider_dns"))),
                    None if file_dns.is_some() => file_dns,
                    None if matches!(&client, VpnClient::WireGuard(w) if !w.setconf.is_empty()) => {
                        let m = "missing: the WireGuard file has no IPv4 `DNS =`; name provider_dns, the resolver reached through the tunnel";
                        self.err(j.span(), k("provider_dns"), m);
                        None
                    }
                    None if client != VpnClient::Own => None,
                    None => {
                        self.err(
                            j.span(),
                            k("provider_dns"),
                            "missing: a vpn jail needs provider_dns, the DNS server reached through its tun (seed step 5), unless its openvpn file's tunnel pushes one",
                        );
                        None
                    }
                };
                let mut clients = Vec::new();
                for c in d.clients.iter().flat_map(|c| c.get_ref().iter()) {
                    if let Some(n) = self.net(c, &k("clients")) {
                        if n.contains(&bridge.network.network())
                            || bridge.network.contains(&n.network())
                        {
                            self.err(
                                c.span(),
                                k("clients"),
                                format!("{n} overlaps the local bridge network {}; clients are remote networks", bridge.network),
                            );
                        }
                        clients.push(n);
                    }
                }
                if let (Some(e), Some(_), None) = (&d.endpoints, &openvpn_endpoints, &d.wireguard) {
                    self.err(
                        e.span(),
                        k("endpoints"),
                        "the endpoints of a vpn jail with openvpn are its file's `remote` lines",
                    );
                }
                let endpoints = openvpn_endpoints.or_else(|| {
                    d.endpoints.as_ref().map(|es| {
                        es.get_ref()
                            .iter()
                            .filter_map(|e| {
                                super::provider::parse_endpoint(e.get_ref())
                                    .map_err(|m| self.err(e.span(), k("endpoints"), m))
                                    .ok()
                            })
                            .collect()
                    })
                });
                JailKind::Vpn(Vpn {
                    tun,
                    provider_dns,
                    clients,
                    endpoints,
                    client,
                    // Filled in by `replicas`, which knows the hosts and the anycast network.
                    replication: None,
                })
            }
        };
        Some(Jail {
            name,
            address,
            kind,
        })
    }

    /// A vpn jail's client: `openvpn = "FILE"` read and judged (problems at
    /// the provider file's own lines), `openvpn_auth` read; the endpoints of
    /// the file's `remote` lines.
    fn vpn_client(
        &mut self,
        d: &JailDef,
        k: &dyn Fn(&str) -> String,
    ) -> (VpnClient, Option<Vec<super::model::Endpoint>>) {
        let Some(f) = &d.openvpn else {
            if let Some(a) = &d.openvpn_auth {
                self.err(a.span(), k("openvpn_auth"), "openvpn_auth needs openvpn");
            }
            return (VpnClient::Own, None);
        };
        let Some((path, text)) = self.provider_file(f, &k("openvpn"), "OpenVPN") else {
            return (VpnClient::OpenVpn(OpenVpnClient::default()), None);
        };
        let parsed = match super::provider::openvpn::parse(&text) {
            Ok(p) => p,
            Err(errs) => {
                for e in errs {
                    self.problems.push(Problem {
                        file: path.clone(),
                        line: e.line,
                        key: k("openvpn"),
                        message: e.message,
                    });
                }
                return (VpnClient::OpenVpn(OpenVpnClient::default()), None);
            }
        };
        let auth = d.openvpn_auth.as_ref().and_then(|a| {
            let (p, t) = self.provider_file(a, &k("openvpn_auth"), "auth-user-pass")?;
            let lines: Vec<&str> = t.lines().collect();
            if lines.len() != 2 || lines.iter().any(|l| l.trim().is_empty()) {
                self.err(
                    a.span(),
                    k("openvpn_auth"),
                    format!(
                        "{}: an auth-user-pass file is two lines, the user name and the password",
                        p.display()
                    ),
                );
            }
            Some(t)
        });
        if parsed.needs_auth && d.openvpn_auth.is_none() {
            self.err(
                f.span(),
                k("openvpn_auth"),
                format!(
                    "missing: {} asks for auth-user-pass; name the file with the user name and password",
                    path.display()
                ),
            );
        }
        (
            VpnClient::OpenVpn(OpenVpnClient {
                config: parsed.body,
                auth,
            }),
            Some(parsed.endpoints),
        )
    }

    /// Reads a provider's file named relative to the site file.
    fn provider_file(&mut self, v: &S<String>, key: &str, what: &str) -> Option<(PathBuf, String)> {
        let rel = self.path(v, key, false);
        let full = if rel.is_absolute() {
            rel
        } else {
            self.dir.join(rel)
        };
        match std::fs::read_to_string(&full) {
            Ok(t) => Some((full, t)),
            Err(e) => {
                self.err(
                    v.span(),
                    key,
                    format!("cannot read the {what} file {}: {e}", full.display()),
                );
                None
            }
        }
    }

    /// At most one ipsec and one vpndns jail per host; `via` names a local VPN jail.
    fn kinds_per_host(&mut self, f: &SiteFile, site: &Site) {
        for (hd, host) in f.host.iter().zip(&site.hosts) {
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            for (jd, jail) in hd.get_ref().jail.iter().zip(&host.jails) {
                let n = seen.entry(jail.kind_name()).or_default();
                *n += 1;
                if *n > 1 && matches!(jail.kind, JailKind::Ipsec | JailKind::Vpndns) {
                    self.err(
                        jd.get_ref().kind.span(),
                        format!("host[{}].jail[{}].kind", host.name, jail.name),
                        format!(
                            "host {:?} already has a {} jail; one per host",
                            host.name,
                            jail.kind_name()
                        ),
                    );
                }
                if let (JailKind::Service { via: Some(via) }, Some(vs)) =
                    (&jail.kind, &jd.get_ref().via)
                {
                    let ok = host
                        .jail(via)
                        .is_some_and(|v| matches!(v.kind, JailKind::Vpn(_)));
                    if !ok {
                        self.err(
                            vs.span(),
                            format!("host[{}].jail[{}].via", host.name, jail.name),
                            format!("{via:?} is not a vpn jail on host {:?}", host.name),
                        );
                    }
                }
            }
        }
    }

    /// `[site.monitor]`, with defaults for what is not given.
    fn monitor(&mut self, f: &SiteFile) -> MonitorSettings {
        let mut m = MonitorSettings::default();
        let Some(d) = &f.site.monitor else {
            return m;
        };
        let d = d.get_ref();
        let dur = |c: &mut Self, v: &Option<S<String>>, key: &str, min_ms: u64| {
            let v = v.as_ref()?;
            match crate::proxy::config::parse_duration(v.get_ref()) {
                Some(t) if t.as_millis() >= u128::from(min_ms) && t.as_secs() <= 3600 => Some(t),
                _ => {
                    c.err(
                        v.span(),
                        format!("site.monitor.{key}"),
                        format!(
                            "{:?}: expected a duration from {min_ms}ms to 1h such as \"1s\" or \"500ms\"",
                            v.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        if let Some(t) = dur(self, &d.interval, "interval", 100) {
            m.interval = t;
        }
        if let Some(t) = dur(self, &d.hold_down, "hold_down", 0) {
            m.hold_down = t;
        }
        if let Some(n) = &d.fail_after {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if (1..=100).contains(&v) => m.fail_after = v,
                _ => self.err(
                    n.span(),
                    "site.monitor.fail_after",
                    format!("{}: expected 1..100 consecutive failed checks", n.get_ref()),
                ),
            }
        }
        if let Some(b) = &d.failback {
            m.failback = *b.get_ref();
        }
        if let Some(n) = &d.probe_name {
            if is_dns_name(n.get_ref()) {
                m.probe_name = n.get_ref().to_ascii_lowercase();
            } else {
                self.err(
                    n.span(),
                    "site.monitor.probe_name",
                    format!("{:?} is not a domain name", n.get_ref()),
                );
            }
        }
        m
    }

    /// `[site] anycast = { network, bridge, router }`.
    fn anycast(&mut self, f: &SiteFile, addrs: &mut HashMap<Ipv4Addr, String>) -> Option<Anycast> {
        let a = f.site.anycast.as_ref()?;
        let d = a.get_ref();
        let bridge = self.ifname(&d.bridge, "site.anycast.bridge");
        let network = self.net(&d.network, "site.anycast.network")?;
        if network.prefix_len() > 29 {
            self.err(
                d.network.span(),
                "site.anycast.network",
                format!("{network} is too small: give a /29 or larger (the router, and per replica an address and an anycast address)"),
            );
            return None;
        }
        for hd in &f.host {
            let hb = hd.get_ref().bridge.get_ref();
            if hb.name.get_ref() == &bridge {
                self.err(
                    d.bridge.span(),
                    "site.anycast.bridge",
                    format!(
                        "{bridge:?} is already the bridge of host {:?}; the anycast bridge is a second one (such as \"vjbr1\")",
                        hd.get_ref().name.get_ref()
                    ),
                );
            }
            if let Ok(n) = hb.network.get_ref().parse::<Ipv4Net>()
                && (n.contains(&network.network()) || network.contains(&n.network()))
            {
                self.err(
                    d.network.span(),
                    "site.anycast.network",
                    format!(
                        "{network} overlaps {n}, the bridge network of host {:?}",
                        hd.get_ref().name.get_ref()
                    ),
                );
            }
        }
        let router = match &d.router {
            Some(r) => {
                let a = self.addr(r, "site.anycast.router");
                if !a.is_unspecified()
                    && (!network.contains(&a) || a == network.network() || a == network.broadcast())
                {
                    self.err(
                        r.span(),
                        "site.anycast.router",
                        format!("{a} is not a host address of the anycast network {network}"),
                    );
                }
                self.unique_addr(addrs, a, r, "site.anycast.router");
                a
            }
            None => {
                let last = Ipv4Addr::from(u32::from(network.broadcast()) - 1);
                addrs.insert(last, "site.anycast.router".into());
                last
            }
        };
        Some(Anycast {
            network,
            bridge,
            router,
        })
    }

    /// Replicated vpn jails: `replicas` names existing hosts, once each,
    /// including the host the jail is written under; `anycast` (and the
    /// jail's `address`) lie in `[site] anycast`; routing is BGP. Each
    /// replica host gets a copy of the jail.
    fn replicas(&mut self, f: &SiteFile, site: &mut Site, addrs: &mut HashMap<Ipv4Addr, String>) {
        let mut copies: Vec<(String, Jail)> = Vec::new();
        for (hd, hi) in f.host.iter().zip(0..site.hosts.len()) {
            let hname = site.hosts[hi].name.clone();
            for jd in &hd.get_ref().jail {
                let d = jd.get_ref();
                let Some(ji) = site.hosts[hi]
                    .jails
                    .iter()
                    .position(|j| j.name == *d.name.get_ref())
                else {
                    continue;
                };
                let jname = site.hosts[hi].jails[ji].name.clone();
                let k = |key: &str| format!("host[{hname}].jail[{jname}].{key}");
                let (reps, any) = match (&d.replicas, &d.anycast) {
                    (None, None) => continue,
                    (Some(r), Some(a)) => (r, a),
                    (Some(r), None) => {
                        self.err(
                            r.span(),
                            k("anycast"),
                            "missing: a jail with replicas needs anycast = \"<address in [site] anycast network>\", the address its clients use",
                        );
                        continue;
                    }
                    (None, Some(a)) => {
                        self.err(
                            a.span(),
                            k("replicas"),
                            "missing: anycast needs replicas = [\"host\", ...], the hosts that run this jail in priority order",
                        );
                        continue;
                    }
                };
                if !matches!(site.hosts[hi].jails[ji].kind, JailKind::Vpn(_)) {
                    // `jail` already reported the key as not applying to the kind.
                    continue;
                }
                if !site.bgp {
                    self.err(
                        reps.span(),
                        k("replicas"),
                        "replicas need routing = \"bgp\" in [site]: BGP elects the replica that serves (docs/ha.md)",
                    );
                }
                let Some(net) = site.anycast.clone() else {
                    if f.site.anycast.is_none() {
                        self.err(
                            any.span(),
                            k("anycast"),
                            "there is no anycast network: add anycast = { network = \"10.10.200.0/24\", bridge = \"vjbr1\" } to [site]",
                        );
                    }
                    continue;
                };
                let mut names: Vec<String> = Vec::new();
                for r in reps.get_ref() {
                    let n = r.get_ref();
                    if site.host(n).is_none() {
                        let known: Vec<&str> = site.hosts.iter().map(|h| h.name.as_str()).collect();
                        self.err(
                            r.span(),
                            k("replicas"),
                            format!("no host named {n:?} (hosts: {})", known.join(", ")),
                        );
                    } else if names.contains(n) {
                        self.err(
                            r.span(),
                            k("replicas"),
                            format!("host {n:?} is listed twice"),
                        );
                    } else {
                        names.push(n.clone());
                    }
                }
                if reps.get_ref().len() < 2 {
                    self.err(
                        reps.span(),
                        k("replicas"),
                        "give at least two hosts, in priority order (the first is the primary)",
                    );
                }
                if !reps.get_ref().iter().any(|r| *r.get_ref() == hname) {
                    self.err(
                        reps.span(),
                        k("replicas"),
                        format!("the jail is written under host {hname:?}, which must be one of its replicas"),
                    );
                }
                let anycast = self.addr(any, &k("anycast"));
                let address = site.hosts[hi].jails[ji].address;
                for (a, v, key) in [(anycast, any, "anycast"), (address, &d.address, "address")] {
                    if a.is_unspecified() {
                        continue;
                    }
                    if !net.network.contains(&a)
                        || a == net.network.network()
                        || a == net.network.broadcast()
                    {
                        self.err(
                            v.span(),
                            k(key),
                            format!(
                                "{a} is not a host address of the anycast network {}",
                                net.network
                            ),
                        );
                    }
                }
                self.unique_addr(addrs, anycast, any, &k("anycast"));
                for h in &names {
                    if let Some(host) = site.host(h)
                        && host.ipsec_jail().is_none()
                    {
                        self.err(
                            reps.span(),
                            k("replicas"),
                            format!("host {h:?} has no ipsec jail, which routes to its replica"),
                        );
                    }
                }
                let rep = Replication {
                    anycast,
                    replicas: names.clone(),
                };
                if let JailKind::Vpn(v) = &mut site.hosts[hi].jails[ji].kind {
                    v.replication = Some(rep);
                }
                let jail = site.hosts[hi].jails[ji].clone();
                for h in names.iter().filter(|h| **h != hname) {
                    copies.push((h.clone(), jail.clone()));
                }
            }
        }
        for (h, j) in copies {
            if let Some(host) = site.hosts.iter_mut().find(|x| x.name == h) {
                host.jails.push(j);
            }
        }
    }

    /// `[site] redundancy`: 0 (default) or 1.
    fn redundancy(&mut self, f: &SiteFile) -> u8 {
        match &f.site.redundancy {
            None => 0,
            Some(r) => {
                match *r.get_ref() {
                    0 => 0,
                    1 => 1,
                    n => {
                        self.err(
                        r.span(),
                        "site.redundancy",
                        format!("{n}: expected 0 (no requirement) or 1 (survive any one link failing)"),
                    );
                        0
                    }
                }
            }
        }
    }

    /// `[site] routing`: `"static"` (default) or `"bgp"`; redundancy needs bgp
    /// (static routes cannot go around a dead link).
    fn routing(&mut self, f: &SiteFile) -> bool {
        let bgp = match &f.site.routing {
            None => false,
            Some(r) => match r.get_ref().as_str() {
                "static" => false,
                "bgp" => true,
                other => {
                    self.err(
                        r.span(),
                        "site.routing",
                        format!("{other:?}: expected \"static\" or \"bgp\""),
                    );
                    return false;
                }
            },
        };
        if !bgp
            && let Some(r) = &f.site.redundancy
            && *r.get_ref() == 1
        {
            self.err(
                r.span(),
                "site.redundancy",
                "redundancy = 1 needs routing = \"bgp\" (static routes cannot go around a dead link)",
            );
        }
        bgp
    }

    /// `[site] bfd`: on by default with BGP (100 ms × 3); `false` turns it
    /// off; it needs `routing = "bgp"` (BFD only speeds up BGP here).
    fn bfd(&mut self, f: &SiteFile, bgp: bool) -> Option<Bfd> {
        let Some(b) = &f.site.bfd else {
            return bgp.then(Bfd::default);
        };
        let timers = match b.get_ref() {
            site::BfdDef::Enabled(false) => return None,
            site::BfdDef::Enabled(true) => None,
            site::BfdDef::Timers(t) => Some(t),
        };
        if !bgp {
            self.err(
                b.span(),
                "site.bfd",
                "BFD needs routing = \"bgp\" (it runs on the BGP sessions); remove it or set bfd = false",
            );
            return None;
        }
        let mut bfd = Bfd::default();
        let Some(t) = timers else {
            return Some(bfd);
        };
        if let Some(v) = &t.interval {
            // Whole milliseconds, as FRR takes them ("100ms" parses to 0.1 s).
            let ms = crate::proxy::config::parse_duration(v.get_ref())
                .map(|d| (d.as_nanos() + 500_000) / 1_000_000)
                .and_then(|ms| u32::try_from(ms).ok());
            match ms {
                Some(ms) if (10..=60_000).contains(&ms) => bfd.interval_ms = ms,
                _ => self.err(
                    v.span(),
                    "site.bfd.interval",
                    format!(
                        "{:?}: expected a duration from 10ms to 60s such as \"100ms\" (FRR's range)",
                        v.get_ref()
                    ),
                ),
            }
        }
        if let Some(n) = &t.multiplier {
            match u8::try_from(*n.get_ref()) {
                Ok(m) if m >= 2 => bfd.multiplier = m,
                _ => self.err(
                    n.span(),
                    "site.bfd.multiplier",
                    format!(
                        "{}: expected 2..255 packets missed in a row before a session is down",
                        n.get_ref()
                    ),
                ),
            }
        }
        Some(bfd)
    }

    /// Every host's BGP AS number: as given, else [`ASN_BASE`] + its position
    /// (1-based) in the file. Duplicates are rejected.
    fn asns(&mut self, f: &SiteFile, site: &mut Site) {
        let mut seen: HashMap<u32, String> = HashMap::new();
        for (i, (hd, host)) in f.host.iter().zip(site.hosts.iter_mut()).enumerate() {
            let d = hd.get_ref();
            let key = format!("host[{}].asn", host.name);
            let (asn, span) = match &d.asn {
                Some(a) => {
                    let n = *a.get_ref();
                    match u32::try_from(n) {
                        Ok(v) if valid_asn(v) => (v, a.span()),
                        _ => {
                            self.err(
                                a.span(),
                                &key,
                                format!("{n} is not a usable AS number (1..4294967294, not 23456 or 65535; private: 64512..65534, 4200000000..4294967294)"),
                            );
                            continue;
                        }
                    }
                }
                None => (
                    ASN_BASE.saturating_add(u32::try_from(i + 1).unwrap_or(u32::MAX)),
                    d.name.span(),
                ),
            };
            if let Some(other) = seen.get(&asn) {
                let msg = format!(
                    "AS {asn} is already the AS of host {other:?} (hosts without asn get {ASN_BASE} + their position)"
                );
                self.err(span, &key, msg);
            } else {
                seen.insert(asn, host.name.clone());
            }
            host.asn = asn;
        }
    }

    /// With `redundancy = 1`: the link graph must be connected and have no
    /// bridge (a link whose failure alone splits it).
    fn single_points_of_failure(&mut self, f: &SiteFile, site: &Site, link_index: &[usize]) {
        let names: Vec<&str> = site.hosts.iter().map(|h| h.name.as_str()).collect();
        let edges: Vec<[usize; 2]> = site
            .links
            .iter()
            .filter_map(|l| {
                let a = names.iter().position(|n| *n == l.hosts[0])?;
                let b = names.iter().position(|n| *n == l.hosts[1])?;
                Some([a, b])
            })
            .collect();
        let span = f.site.redundancy.as_ref().map(|r| r.span()).unwrap_or(0..0);
        let whole = components(names.len(), &edges, None);
        if names.len() > 1 && whole.iter().any(|&c| c != whole[0]) {
            let cut: Vec<&str> = names
                .iter()
                .zip(&whole)
                .filter(|(_, c)| **c != whole[0])
                .map(|(n, _)| *n)
                .collect();
            self.err(
                span,
                "site.redundancy",
                format!(
                    "redundancy = 1 but the links do not join all hosts: {} cannot reach {:?}",
                    cut.join(", "),
                    names[0]
                ),
            );
            return;
        }
        for (e, [a, b]) in edges.iter().enumerate() {
            let comp = components(names.len(), &edges, Some(e));
            if comp[*a] == comp[*b] {
                continue;
            }
            let side: Vec<&str> = names
                .iter()
                .zip(&comp)
                .filter(|(_, c)| **c == comp[*b])
                .map(|(n, _)| *n)
                .collect();
            let other: Vec<&str> = names
                .iter()
                .zip(&comp)
                .filter(|(_, c)| **c != comp[*b])
                .map(|(n, _)| *n)
                .collect();
            let i = link_index.get(e).copied().unwrap_or(e);
            let lspan = f.link.get(i).map(|l| l.span()).unwrap_or(span.clone());
            self.err(
                lspan,
                format!("link[{i}]"),
                format!(
                    "redundancy = 1: link {}–{} is a single point of failure; if it fails, hosts [{}] are cut off from [{}]. Add a link between the two groups.",
                    names[*a],
                    names[*b],
                    side.join(", "),
                    other.join(", ")
                ),
            );
        }
    }

    fn hosts_need_ipsec(&mut self, f: &SiteFile, site: &Site) {
        for (hd, host) in f.host.iter().zip(&site.hosts) {
            if host.ipsec_jail().is_none()
                && site.links.iter().any(|l| l.hosts.contains(&host.name))
            {
                self.err(
                    hd.get_ref().name.span(),
                    format!("host[{}].jail", host.name),
                    "this host takes part in a [[link]] but has no jail of kind \"ipsec\"",
                );
            }
        }
    }

    /// `[site] link_network`, and the inner addresses it gives the links
    /// without `inner`, in file order (see [`linknet::allocate`]).
    fn link_inner(
        &mut self,
        f: &SiteFile,
        site: &Site,
        addrs: &HashMap<Ipv4Addr, String>,
    ) -> Vec<[Ipv4Addr; 2]> {
        let default = site::DEFAULT_LINK_NETWORK;
        let (net, span) = match &f.site.link_network {
            Some(v) => match self.net(v, "site.link_network") {
                Some(n) => (n, v.span()),
                None => return Vec::new(),
            },
            None => (default.parse().unwrap_or(Ipv4Net::default()), 0..0),
        };
        let wanted = f
            .link
            .iter()
            .filter(|l| l.get_ref().inner.is_none())
            .count();
        if wanted == 0 {
            return Vec::new();
        }
        for h in &site.hosts {
            let b = h.bridge.network;
            if b.contains(&net.network()) || net.contains(&b.network()) {
                self.err(
                    span.clone(),
                    "site.link_network",
                    format!("{net} overlaps {b}, the bridge network of host {:?}; set [site] link_network to a free private network", h.name),
                );
                return Vec::new();
            }
        }
        // Every address given explicitly anywhere stays out of the pool.
        let mut used: HashSet<Ipv4Addr> = addrs.keys().copied().collect();
        let explicit = f.link.iter().filter_map(|l| l.get_ref().inner.as_ref());
        let gre = f.gre.iter().map(|g| &g.get_ref().inner);
        for list in explicit.chain(gre) {
            used.extend(
                list.get_ref()
                    .iter()
                    .filter_map(|a| a.get_ref().parse::<Ipv4Addr>().ok()),
            );
        }
        match linknet::allocate(net, &used, wanted) {
            Ok(pairs) => pairs,
            Err(fit) => {
                self.err(
                    span,
                    "site.link_network",
                    format!("{net} has room for the inner addresses of {fit} links, but {wanted} links have no inner; use a larger network"),
                );
                Vec::new()
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &mut self,
        i: usize,
        l: &S<LinkDef>,
        allocated: Option<[Ipv4Addr; 2]>,
        site: &Site,
        reqids: &mut HashMap<u16, usize>,
        spis: &mut HashSet<u32>,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) -> Option<Link> {
        let d = l.get_ref();
        let k = |key: &str| format!("link[{i}].{key}");
        let hs = d.hosts.get_ref();
        let mut ok = true;
        if hs.len() != 2 {
            self.err(
                d.hosts.span(),
                k("hosts"),
                "expected exactly two host names",
            );
            ok = false;
        } else if hs[0].get_ref() == hs[1].get_ref() {
            self.err(
                d.hosts.span(),
                k("hosts"),
                "a link joins two different hosts",
            );
            ok = false;
        }
        for h in hs {
            if site.host(h.get_ref()).is_none() {
                self.err(
                    h.span(),
                    k("hosts"),
                    format!("{:?} is not a [[host]] of this site", h.get_ref()),
                );
                ok = false;
            }
        }
        let inner: Vec<Ipv4Addr> = match &d.inner {
            Some(given) => {
                let inner: Vec<Ipv4Addr> = given
                    .get_ref()
                    .iter()
                    .map(|a| self.addr(a, &k("inner")))
                    .collect();
                if inner.len() != 2 || inner[0] == inner[1] {
                    self.err(given.span(), k("inner"), "expected two different addresses: the if_ipsec inner /32 of each host, in the order of hosts");
                    ok = false;
                } else {
                    for (a, v) in inner.iter().zip(given.get_ref()) {
                        self.unique_addr(addrs, *a, v, &k("inner"));
                    }
                }
                inner
            }
            // Allocated from [site] link_network; none means that failed (reported there).
            None => match allocated {
                Some(pair) => {
                    for a in pair {
                        addrs.insert(a, format!("{} (allocated from link_network)", k("inner")));
                    }
                    pair.to_vec()
                }
                None => return None,
            },
        };
        let reqid = *d.reqid.get_ref();
        if !(1..=16383).contains(&reqid) {
            self.err(
                d.reqid.span(),
                k("reqid"),
                format!("{reqid} is outside 1..16383 (FreeBSD if_ipsec reqids)"),
            );
            ok = false;
        } else if let Some(prev) = reqids.insert(reqid as u16, i) {
            self.err(
                d.reqid.span(),
                k("reqid"),
                format!("reqid {reqid} is already used by link[{prev}]"),
            );
        }
        let mode = match d.mode.get_ref().as_str() {
            "swanctl" => {
                for (key, span) in [
                    ("cipher", d.cipher.as_ref().map(|v| v.span())),
                    ("spi", d.spi.as_ref().map(|v| v.span())),
                    ("key_file", d.key_file.as_ref().map(|v| v.span())),
                ] {
                    if let Some(span) = span {
                        self.err(span, k(key), format!("{key} is only for mode = \"setkey\""));
                    }
                }
                match d.auth.as_ref().map(|a| (a.get_ref().as_str(), a)) {
                    Some(("pubkey", _)) => {
                        if let Some(p) = &d.psk_file {
                            self.err(
                                p.span(),
                                k("psk_file"),
                                "psk_file is only for auth = \"psk\"",
                            );
                        }
                        LinkMode::Swanctl {
                            auth: LinkAuth::Pubkey,
                        }
                    }
                    None | Some(("psk", _)) => {
                        let Some(pf) = &d.psk_file else {
                            self.err(l.span(), k("psk_file"), "missing: mode = \"swanctl\" needs psk_file, a file holding the pre-shared key (or auth = \"pubkey\")");
                            return None;
                        };
                        let (full, text) = self.secret(pf, &k("psk_file"))?;
                        let psk = text.trim().to_string();
                        if psk.len() < 16 || psk.contains(['"', '\\', '\n', '\r']) {
                            self.err(pf.span(), k("psk_file"), format!("{}: the key must be one line of at least 16 characters without '\"' or '\\'", full.display()));
                            return None;
                        }
                        LinkMode::Swanctl {
                            auth: LinkAuth::Psk(psk),
                        }
                    }
                    Some((other, a)) => {
                        self.err(
                            a.span(),
                            k("auth"),
                            format!("{other:?}: expected \"psk\" or \"pubkey\""),
                        );
                        return None;
                    }
                }
            }
            "setkey" => {
                if let Some(a) = &d.auth {
                    self.err(a.span(), k("auth"), "auth is only for mode = \"swanctl\"");
                }
                if let Some(p) = &d.psk_file {
                    self.err(
                        p.span(),
                        k("psk_file"),
                        "psk_file is only for mode = \"swanctl\"",
                    );
                }
                let cipher = match d.cipher.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
                    None | Some(("aes-gcm-16", _)) => Cipher::AesGcm16,
                    Some(("aes-cbc", _)) => Cipher::AesCbc,
                    Some((other, span)) => {
                        self.err(
                            span,
                            k("cipher"),
                            format!("{other:?}: expected \"aes-gcm-16\" or \"aes-cbc\""),
                        );
                        return None;
                    }
                };
                let spi = self.spis(d, &k("spi"), l.span(), spis)?;
                let Some(kf) = &d.key_file else {
                    self.err(l.span(), k("key_file"), "missing: mode = \"setkey\" needs key_file, two lines of hex keys (one per direction)");
                    return None;
                };
                let (full, text) = self.secret(kf, &k("key_file"))?;
                let keys = self.keys(cipher, &full, &text, kf, &k("key_file"))?;
                LinkMode::Setkey { cipher, spi, keys }
            }
            other => {
                self.err(
                    d.mode.span(),
                    k("mode"),
                    format!("{other:?}: expected \"swanctl\" or \"setkey\""),
                );
                return None;
            }
        };
        if !ok {
            return None;
        }
        Some(Link {
            hosts: [hs[0].get_ref().clone(), hs[1].get_ref().clone()],
            inner: [inner[0], inner[1]],
            reqid: reqid as u16,
            mode,
        })
    }

    fn spis(
        &mut self,
        d: &LinkDef,
        key: &str,
        whole: Range<usize>,
        seen: &mut HashSet<u32>,
    ) -> Option<[u32; 2]> {
        let Some(spi) = &d.spi else {
            self.err(
                whole,
                key,
                "missing: mode = \"setkey\" needs spi = [OUT, IN], two SPIs greater than 255",
            );
            return None;
        };
        let v = spi.get_ref();
        if v.len() != 2 {
            self.err(
                spi.span(),
                key,
                "expected two SPIs: hosts[0]->hosts[1], then hosts[1]->hosts[0]",
            );
            return None;
        }
        let mut out = [0u32; 2];
        for (o, s) in out.iter_mut().zip(v) {
            let n = *s.get_ref();
            if n <= 255 || n > i64::from(u32::MAX) {
                self.err(
                    s.span(),
                    key,
                    format!(
                        "SPI {n} must be greater than 255 (0..255 are reserved) and fit 32 bits"
                    ),
                );
                return None;
            }
            *o = n as u32;
            if !seen.insert(*o) {
                self.err(s.span(), key, format!("SPI {n} is used twice in the site"));
            }
        }
        Some(out)
    }

    fn keys(
        &mut self,
        cipher: Cipher,
        full: &Path,
        text: &str,
        v: &S<String>,
        key: &str,
    ) -> Option<[SaKey; 2]> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.len() != 2 {
            self.err(
                v.span(),
                key,
                format!(
                    "{}: expected two key lines (hosts[0]->hosts[1], then back), found {}",
                    full.display(),
                    lines.len()
                ),
            );
            return None;
        }
        let (enc_bits, want_auth): (&[usize], bool) = match cipher {
            Cipher::AesGcm16 => (&[160, 224, 288], false),
            Cipher::AesCbc => (&[128, 192, 256], true),
        };
        let mut keys = Vec::new();
        for (n, l) in lines {
            let words: Vec<&str> = l.split_whitespace().collect();
            let expect = if want_auth { 2 } else { 1 };
            let named_at = format!("{}:{}", self.file.display(), self.line(v.span().start));
            let mut bad = |what: String| {
                self.problems.push(Problem {
                    file: full.to_path_buf(),
                    line: n,
                    key: key.to_string(),
                    message: format!("{what} (key file named at {named_at})"),
                });
            };
            if words.len() != expect {
                bad(format!(
                    "expected {expect} hex key(s) on this line for {}",
                    cipher.setkey_name()
                ));
                return None;
            }
            let hex = |w: &str| {
                let h = w.strip_prefix("0x").unwrap_or(w);
                (!h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| h.to_ascii_lowercase())
            };
            let Some(enc) = hex(words[0]) else {
                bad("the key is not hexadecimal".into());
                return None;
            };
            if !enc_bits.contains(&(enc.len() * 4)) {
                bad(format!(
                    "{} key is {} bits; {} needs {:?} bits",
                    cipher.setkey_name(),
                    enc.len() * 4,
                    cipher.setkey_name(),
                    enc_bits
                ));
                return None;
            }
            let auth = if want_auth {
                let Some(a) = hex(words[1]) else {
                    bad("the hmac-sha2-256 key is not hexadecimal".into());
                    return None;
                };
                if a.len() * 4 != 256 {
                    bad(format!(
                        "hmac-sha2-256 key is {} bits; it needs 256",
                        a.len() * 4
                    ));
                    return None;
                }
                Some(a)
            } else {
                None
            };
            keys.push(SaKey { enc, auth });
        }
        let b = keys.pop()?;
        let a = keys.pop()?;
        Some([a, b])
    }

    fn gre(
        &mut self,
        i: usize,
        g: &S<site::GreDef>,
        site: &Site,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) -> Option<Gre> {
        let d = g.get_ref();
        let k = |key: &str| format!("gre[{i}].{key}");
        let jail = d.jail.get_ref().clone();
        let is_vpn = site
            .jail(&jail)
            .is_some_and(|(_, j)| matches!(j.kind, JailKind::Vpn(_)));
        if !is_vpn {
            self.err(
                d.jail.span(),
                k("jail"),
                format!("{jail:?} is not a vpn jail of this site"),
            );
        } else if site
            .jail(&jail)
            .is_some_and(|(_, j)| j.replication().is_some())
        {
            self.err(
                d.jail.span(),
                k("jail"),
                format!("{jail:?} is replicated on several hosts and a GRE tunnel has one far end; route the client to its anycast address instead (docs/ha.md)"),
            );
        }
        let remote = self.addr(&d.remote, &k("remote"));
        let inner: Vec<Ipv4Addr> = d
            .inner
            .get_ref()
            .iter()
            .map(|a| self.addr(a, &k("inner")))
            .collect();
        if inner.len() != 2 || inner[0] == inner[1] {
            self.err(
                d.inner.span(),
                k("inner"),
                "expected two different addresses: the jail's end, then the client's",
            );
            return None;
        }
        for (a, v) in inner.iter().zip(d.inner.get_ref()) {
            self.unique_addr(addrs, *a, v, &k("inner"));
        }
        if !is_vpn {
            return None;
        }
        if site
            .jail(&jail)
            .is_some_and(|(h, _)| h.platform == Platform::Linux)
        {
            self.err(
                d.jail.span(),
                k("jail"),
                format!("{jail:?} is on a linux host; [[gre]] is only built on freebsd hosts"),
            );
            return None;
        }
        let n = site.gres_of(&jail).count();
        Some(Gre {
            ifname: format!("gre{n}"),
            jail,
            remote,
            inner: [inner[0], inner[1]],
        })
    }

    fn dns_policy(
        &mut self,
        i: usize,
        p: &S<site::DnsPolicyDef>,
        site: &Site,
    ) -> Option<DnsPolicy> {
        let d = p.get_ref();
        let k = |key: &str| format!("dns.policy[{i}].{key}");
        let via = match d.via.get_ref() {
            site::OneOrMany::One(v) => vec![v.clone()],
            site::OneOrMany::Many(v) => v.clone(),
        };
        let mut ok = true;
        if via.is_empty() {
            self.err(d.via.span(), k("via"), "expected at least one vpn jail");
            ok = false;
        }
        for v in &via {
            if !site
                .jail(v)
                .is_some_and(|(_, j)| matches!(j.kind, JailKind::Vpn(_)))
            {
                self.err(
                    d.via.span(),
                    k("via"),
                    format!("{v:?} is not a vpn jail of this site"),
                );
                ok = false;
            }
        }
        let mut source = Vec::new();
        for s in d.source.get_ref() {
            match self.net(s, &k("source")) {
                Some(n) => source.push(n),
                None => ok = false,
            }
        }
        if source.is_empty() && ok {
            self.err(
                d.source.span(),
                k("source"),
                "expected at least one client network",
            );
            ok = false;
        }
        let mut block = None;
        if let Some(names) = &d.block {
            let mut chosen = Vec::new();
            for n in names.get_ref() {
                let name = n.get_ref();
                if name == DEFAULT_GROUP || site.dns_blocklists.iter().any(|b| &b.name == name) {
                    chosen.push(name.clone());
                } else {
                    self.err(
                        n.span(),
                        k("block"),
                        format!("no [[dns.blocklist]] named {name:?}"),
                    );
                    ok = false;
                }
            }
            block = Some(chosen);
        }
        ok.then_some(DnsPolicy { source, via, block })
    }

    /// `[[dns.blocklist]]`: names unique and well-formed, lists URLs or
    /// absolute paths (nothing else reaches the jail), refresh as vpndns reads it.
    fn dns_blocklists(&mut self, f: &SiteFile, site: &mut Site) {
        for (i, b) in f.dns.blocklist.iter().enumerate() {
            let d = b.get_ref();
            let k = |key: &str| format!("dns.blocklist[{i}].{key}");
            let name = d.name.get_ref();
            if name.is_empty()
                || name == DEFAULT_GROUP
                || !name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                self.err(
                    d.name.span(),
                    k("name"),
                    format!("{name:?}: expected letters, digits, '_' or '-', and not \"{DEFAULT_GROUP}\""),
                );
            } else if site.dns_blocklists.iter().any(|o| &o.name == name) {
                self.err(
                    d.name.span(),
                    k("name"),
                    format!("{name:?} is defined twice"),
                );
            }
            if d.lists.get_ref().is_empty() {
                self.err(d.lists.span(), k("lists"), "expected at least one list");
            }
            for (key, entries) in [("lists", d.lists.get_ref()), ("allow", &d.allow)] {
                for e in entries {
                    let t = e.get_ref();
                    let url = t.starts_with("http://") || t.starts_with("https://");
                    if !url && !t.starts_with('/') {
                        self.err(
                            e.span(),
                            k(key),
                            format!("{t:?}: expected an http:// or https:// URL, or an absolute path in the vpndns jail"),
                        );
                    }
                }
            }
            if let Some(r) = &d.refresh
                && parse_duration(r.get_ref()).is_none_or(|d| d < MIN_REFRESH)
            {
                self.err(
                    r.span(),
                    k("refresh"),
                    format!(
                        "{:?}: expected a duration of at least 1m, such as \"24h\"",
                        r.get_ref()
                    ),
                );
            }
            // Kept even when wrong (the site is rejected anyway), so later
            // names and policies are checked against every name declared.
            let text = |v: &[S<String>]| v.iter().map(|s| s.get_ref().clone()).collect();
            site.dns_blocklists.push(DnsBlocklist {
                name: name.clone(),
                lists: text(d.lists.get_ref()),
                allow: text(&d.allow),
                refresh: d.refresh.as_ref().map(|r| r.get_ref().clone()),
            });
        }
    }

    /// vpndns rejects two policies with the identical CIDR: find them now.
    fn policy_clashes(&mut self, f: &SiteFile, site: &Site) {
        for host in &site.hosts {
            if host.vpndns_jail().is_none() {
                continue;
            }
            let mut seen: HashMap<Ipv4Net, String> = HashMap::new();
            for j in &host.jails {
                let owner = match &j.kind {
                    JailKind::Vpn(_) => format!("the identity policy of vpn jail {:?}", j.name),
                    JailKind::Service { via: Some(v) } => {
                        format!("service jail {:?} (via {v:?})", j.name)
                    }
                    _ => continue,
                };
                seen.insert(Ipv4Net::from(j.address), owner);
            }
            for (i, p) in f.dns.policy.iter().enumerate() {
                for s in p.get_ref().source.get_ref() {
                    let Ok(n) = s.get_ref().parse::<Ipv4Net>() else {
                        continue;
                    };
                    if let Some(owner) = seen.get(&n) {
                        let msg = format!(
                            "{n} is already the source of {owner} in host {:?}'s vpndns config",
                            host.name
                        );
                        self.err(s.span(), format!("dns.policy[{i}].source"), msg);
                    } else {
                        seen.insert(n, format!("dns.policy[{i}]"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_interface_names() {
        assert!(is_name("vpn_us1"));
        assert!(!is_name("vpn-us"));
        assert!(!is_name(""));
        assert!(is_ifname("vjbr0"));
        assert!(is_ifname("vtnet0.100"));
        assert!(!is_ifname("0bridge"));
        assert!(!is_ifname("a_name_that_is_16"));
    }

    #[test]
    fn parse_errors_carry_the_line() {
        let e = check_text(Path::new("s.toml"), "[site]\nname = \"x\"\n[[host]\n").unwrap_err();
        assert_eq!(e.0[0].line, 3, "{e}");
        assert!(e.to_string().starts_with("s.toml:3: [[host]: "), "{e}");
    }

    const R1: &str = "redundancy = 1\nrouting = \"bgp\"";

    /// A site of `n` Linux hosts `h0..` (no jails but ipsec) and these links.
    fn wan(extra_site: &str, asns: &[(usize, u32)], n: usize, links: &[(usize, usize)]) -> String {
        let mut t = format!("[site]\nname = \"w\"\n{extra_site}\n");
        for i in 0..n {
            t += &format!(
                "[[host]]\nname = \"h{i}\"\nexternal_if = \"eth0\"\npublic_address = \"192.0.2.{}\"\n\
                 bridge = {{ name = \"br0\", network = \"10.1.{i}.0/24\", address = \"10.1.{i}.1\" }}\n\
                 jail_root = \"/j\"\nplatform = \"linux\"\n",
                i + 1
            );
            if let Some((_, a)) = asns.iter().find(|(h, _)| *h == i) {
                t += &format!("asn = {a}\n");
            }
            t += &format!(
                "[[host.jail]]\nname = \"ipsec{i}\"\nkind = \"ipsec\"\naddress = \"10.1.{i}.4\"\n"
            );
        }
        for (k, (a, b)) in links.iter().enumerate() {
            t += &format!(
                "[[link]]\nhosts = [\"h{a}\", \"h{b}\"]\nmode = \"swanctl\"\nreqid = {}\n\
                 inner = [\"172.16.{k}.1\", \"172.16.{k}.2\"]\npsk_file = \"/dev/null\"\n",
                100 + k
            );
        }
        t
    }

    fn check_wan(t: &str) -> Result<Site, Problems> {
        // psk_file = /dev/null is too short a key: swap in a real one.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vpnjail-wan-{}-{n}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let psk = dir.join("k.psk");
        let _ = std::fs::write(&psk, "a-test-key-of-enough-length\n");
        let r = check_text(
            &dir.join("s.toml"),
            &t.replace("/dev/null", &psk.display().to_string()),
        );
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn asns_are_assigned_in_host_order_unless_given() {
        let s = check_wan(&wan("", &[(1, 64512)], 3, &[(0, 1), (1, 2)])).expect("valid");
        let asns: Vec<u32> = s.hosts.iter().map(|h| h.asn).collect();
        assert_eq!(asns, vec![ASN_BASE + 1, 64512, ASN_BASE + 3]);
        assert_eq!(s.redundancy, 0);
    }

    #[test]
    fn duplicate_and_invalid_asns_are_rejected() {
        let e = check_wan(&wan("", &[(0, 65000), (2, 65000)], 3, &[])).unwrap_err();
        assert!(
            e.to_string()
                .contains("host[h2].asn: AS 65000 is already the AS of host \"h0\""),
            "{e}"
        );
        let e = check_wan(&wan("", &[(1, ASN_BASE + 1)], 2, &[])).unwrap_err();
        assert!(e.to_string().contains("host[h1].asn"), "{e}");
        let e = check_wan(&wan("", &[(0, 23456)], 1, &[])).unwrap_err();
        assert!(e.to_string().contains("not a usable AS number"), "{e}");
    }

    #[test]
    fn redundancy_accepts_a_triangle_and_a_ring_with_chords() {
        let s = check_wan(&wan(
            "redundancy = 1\nrouting = \"bgp\"",
            &[],
            3,
            &[(0, 1), (1, 2), (2, 0)],
        ))
        .expect("ok");
        assert!(s.bgp);
        assert_eq!(s.redundancy, 1);
        let mut links: Vec<(usize, usize)> = (0..10).map(|i| (i, (i + 1) % 10)).collect();
        links.extend([(0, 5), (2, 7)]);
        check_wan(&wan(R1, &[], 10, &links)).expect("a ring survives any one cut");
        // Without redundancy a chain is fine.
        check_wan(&wan("", &[], 3, &[(0, 1), (1, 2)])).expect("redundancy 0");
    }

    #[test]
    fn redundancy_names_the_bridges_of_the_link_graph() {
        // A triangle h0-h1-h2 with h3 hanging off h2: link[3] is the bridge.
        let e = check_wan(&wan(R1, &[], 4, &[(0, 1), (1, 2), (2, 0), (2, 3)])).unwrap_err();
        let s = e.to_string();
        assert_eq!(e.0.len(), 1, "{s}");
        assert!(
            s.contains("link[3]: redundancy = 1: link h2–h3 is a single point of failure; if it fails, hosts [h3] are cut off from [h0, h1, h2]"),
            "{s}"
        );
        // A chain: both links are single points of failure.
        let e = check_wan(&wan(R1, &[], 3, &[(0, 1), (1, 2)])).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        // Disconnected: named as such.
        let e = check_wan(&wan(R1, &[], 3, &[(0, 1)])).unwrap_err();
        assert!(
            e.to_string()
                .contains("do not join all hosts: h2 cannot reach"),
            "{e}"
        );
        // Bad values.
        let e = check_wan(&wan("redundancy = 2", &[], 1, &[])).unwrap_err();
        assert!(
            e.to_string().contains("site.redundancy: 2: expected 0"),
            "{e}"
        );
    }

    #[test]
    fn with_bgp_every_other_host_is_routed_to_the_ipsec_jail() {
        let names = |s: &Site| -> Vec<String> {
            s.remote_hosts(&s.hosts[0])
                .iter()
                .map(|h| h.name.clone())
                .collect()
        };
        let chain = [(0, 1), (1, 2)];
        let s = check_wan(&wan("", &[], 3, &chain)).expect("static");
        assert_eq!(names(&s), ["h1"]);
        let s = check_wan(&wan("routing = \"bgp\"", &[], 3, &chain)).expect("bgp");
        assert_eq!(names(&s), ["h1", "h2"]);
    }

    #[test]
    fn bfd_is_on_with_bgp_unless_turned_off_and_its_timers_are_checked() {
        let ring = [(0, 1), (1, 2), (2, 0)];
        let s = check_wan(&wan(R1, &[], 3, &ring)).expect("bgp");
        assert_eq!(s.bfd, Some(Bfd::default()));
        assert_eq!(s.bfd.map(|b| b.detect_time().as_millis()), Some(300));
        assert_eq!(
            check_wan(&wan("", &[], 3, &ring)).expect("static").bfd,
            None
        );
        let off = check_wan(&wan(&format!("{R1}\nbfd = false"), &[], 3, &ring)).expect("off");
        assert_eq!(off.bfd, None);
        let t = format!("{R1}\nbfd = {{ interval = \"250ms\", multiplier = 4 }}");
        let b = check_wan(&wan(&t, &[], 3, &ring)).expect("timers").bfd;
        assert_eq!(
            b,
            Some(Bfd {
                interval_ms: 250,
                multiplier: 4
            })
        );
        let bad = format!("{R1}\nbfd = {{ interval = \"5ms\", multiplier = 1 }}");
        let e = check_wan(&wan(&bad, &[], 3, &ring))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":5: site.bfd.interval: \"5ms\": expected a duration from 10ms to 60s"),
            "{e}"
        );
        assert!(
            e.contains(":5: site.bfd.multiplier: 1: expected 2..255"),
            "{e}"
        );
        let e = check_wan(&wan("bfd = { multiplier = 3 }", &[], 3, &ring))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3: site.bfd: BFD needs routing = \"bgp\""),
            "{e}"
        );
        let typo = format!("{R1}\nbfd = {{ intervall = \"1s\" }}");
        let e = check_wan(&wan(&typo, &[], 3, &ring))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":5: site.bfd.intervall: unknown key intervall"),
            "{e}"
        );
        let word = format!("{R1}\nbfd = \"on\"");
        let e = check_wan(&wan(&word, &[], 3, &ring))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":5:") && e.contains("expected false, true or a table"),
            "{e}"
        );
    }

    #[test]
    fn missing_required_key_is_named() {
        let e = check_text(Path::new("s.toml"), "[site]\n").unwrap_err();
        assert_eq!(e.to_string(), "s.toml:1: site: missing key name", "{e}");
        let t = wan("", &[], 3, &[(0, 1), (1, 2), (2, 0)]).replacen("reqid = 102\n", "", 1);
        let e = check_wan(&t).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": link[2] (h2–h0): missing key reqid"),
            "{e}"
        );
    }

    /// `wan` with the `inner` line of the links in `implicit` removed.
    fn without_inner(t: &str, implicit: &[usize]) -> String {
        let mut t = t.to_string();
        for k in implicit {
            t = t.replace(
                &format!("inner = [\"172.16.{k}.1\", \"172.16.{k}.2\"]\n"),
                "",
            );
        }
        t
    }

    #[test]
    fn links_without_inner_get_addresses_from_link_network() {
        let links = [(0, 1), (1, 2), (2, 0)];
        let t = without_inner(&wan("", &[], 3, &links), &[0, 2]);
        let s = check_wan(&t).expect("valid");
        let inner: Vec<[Ipv4Addr; 2]> = s.links.iter().map(|l| l.inner).collect();
        let a = |s: &str| s.parse::<Ipv4Addr>().expect("addr");
        assert_eq!(
            inner,
            [
                [a("172.31.255.1"), a("172.31.255.2")],
                [a("172.16.1.1"), a("172.16.1.2")],
                [a("172.31.255.3"), a("172.31.255.4")],
            ]
        );
        // Both ends render from the same file: the same text gives the same addresses.
        let again = check_wan(&t).expect("valid");
        assert_eq!(
            again.links.iter().map(|l| l.inner).collect::<Vec<_>>(),
            inner
        );
        // An explicit address inside link_network is never handed out again.
        let t = without_inner(
            &wan("link_network = \"172.16.1.0/29\"", &[], 3, &links),
            &[0, 2],
        );
        let s = check_wan(&t).expect("valid");
        assert_eq!(s.links[0].inner, [a("172.16.1.3"), a("172.16.1.4")]);
        assert_eq!(s.links[2].inner, [a("172.16.1.5"), a("172.16.1.6")]);
    }

    #[test]
    fn link_network_must_fit_and_not_overlap_a_bridge() {
        let links = [(0, 1), (1, 2), (2, 0)];
        let t = without_inner(
            &wan("link_network = \"10.9.0.0/30\"", &[], 3, &links),
            &[0, 1],
        );
        let e = check_wan(&t).unwrap_err();
        assert!(e.to_string().contains("site.link_network: 10.9.0.0/30 has room for the inner addresses of 1 links, but 2 links"), "{e}");
        let t = without_inner(
            &wan("link_network = \"10.1.0.0/16\"", &[], 2, &[(0, 1)]),
            &[0],
        );
        let e = check_wan(&t).unwrap_err();
        assert!(
            e.to_string()
                .contains("overlaps 10.1.0.0/24, the bridge network of host \"h0\""),
            "{e}"
        );
        let t = wan("link_network = \"10.9.0.1/24\"", &[], 2, &[(0, 1)]);
        let e = check_wan(&without_inner(&t, &[0])).unwrap_err();
        assert!(
            e.to_string()
                .contains("site.link_network: 10.9.0.1/24 has host bits set"),
            "{e}"
        );
    }
}
