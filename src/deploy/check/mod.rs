//! Validation of a parsed site file into the typed [`Site`], with every
//! problem reported as `file:line: key: what was expected`.
//! May touch: the site file and the secret files it names (read only).
//!
//! This file reads the file and checks single values (names, addresses,
//! paths, secrets) and the site as a whole; one file per concern checks the rest:
//!
//! - `hosts`: `[[host]]` and its jails, their VPN clients and provider files;
//! - `ha`: `[site.monitor]`, `[site] anycast` and replicated vpn jails;
//! - `topology`: redundancy, routing, BFD, AS numbers, the link graph;
//! - `links`: `[[link]]`, its inner addresses, IPsec SPIs and keys, GRE;
//! - `dns`: `[[dns.policy]]`, `[[dns.blocklist]]` and their clashes;
//! - `clients`: road-warrior pools, `[[client]]` and the `pki/` files;
//! - `cold`: the `standby` key and what cold standby requires;
//! - `control`: `[dns] control`, the vpndns jails' control API;
//! - `wireguard`: a vpn jail's `wireguard = "FILE"` and what it implies.

use super::model::Site;
use super::site::{self, S, SiteFile};
use super::sitepath;
use ipnet::Ipv4Net;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Interface names are limited to 15 characters (IFNAMSIZ 16).
pub const IFNAME_MAX: usize = 15;
/// `e0a_` + name must fit in [`IFNAME_MAX`].
pub const JAIL_NAME_MAX: usize = IFNAME_MAX - 4;

mod clients;
mod cold;
mod control;
mod dns;
mod ha;
mod hosts;
mod links;
mod topology;
mod wireguard;

/// One thing wrong with the site, located in a file (the site checker
/// locates lines and keys, not columns).
pub use crate::diag::Problem;

/// Every problem found in a site, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::diag::write_lines(f, &self.0)
    }
}

impl std::error::Error for Problems {}

/// Reads, parses and validates the site file at `path`.
pub fn load(path: &Path) -> Result<Site, Problems> {
    check_text(path, &read_site(path)?)
}

fn read_site(path: &Path) -> Result<String, Problems> {
    std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem::whole(
            path,
            format!("cannot read the site file: {e}"),
        )])
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
            let message = sitepath::message(e.message());
            return Err(Problems(vec![Problem::keyed(&c.file, line, key, message)]));
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
        crate::diag::line_col(self.text, offset).0
    }

    fn err(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        let line = self.line(span.start);
        (self.problems).push(Problem::keyed(&self.file, line, key, message));
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
        self.provider_file(v, key, "secret")
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
            dns_control: self.dns_control(&f),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::model::Bfd;

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
