//! The hosts and jails part of the site check: each `[[host]]` (bridge,
//! addresses, platform), its `[[host.jail]]`s and their VPN clients (the
//! provider's files read and judged), and what each host may hold.
//! May touch: the provider files the site names (read only).

use super::{Checker, JAIL_NAME_MAX, NETNS_MAX, Problem, is_netns, is_plain_path};
use crate::deploy::model::{
    Bridge, Host, Jail, JailKind, OpenVpnClient, Platform, Provision, Site, Vpn, VpnClient,
};
use crate::deploy::site::{self, JailDef, S, SiteFile};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::PathBuf;

impl Checker<'_> {
    pub(super) fn host(
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
            None => PathBuf::from(crate::deploy::names::VPNDNS_BIN),
        };
        let vpnjail_bin = match &d.vpnjail_bin {
            Some(b) => self.path(b, &k("vpnjail_bin"), true),
            None => PathBuf::from(crate::deploy::names::VPNJAIL_BIN),
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

    pub(super) fn unique_addr(
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

    pub(super) fn in_net(&mut self, net: Ipv4Net, a: Ipv4Addr, v: &S<String>, key: &str) {
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

    pub(super) fn jail(
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
                "standby",
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
        let present: [(&str, Option<Range<usize>>); 10] = [
            ("standby", d.standby.as_ref().map(|v| v.span())),
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
                                crate::deploy::provider::parse_endpoint(e.get_ref())
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
    pub(super) fn vpn_client(
        &mut self,
        d: &JailDef,
        k: &dyn Fn(&str) -> String,
    ) -> (VpnClient, Option<Vec<crate::deploy::model::Endpoint>>) {
        let Some(f) = &d.openvpn else {
            if let Some(a) = &d.openvpn_auth {
                self.err(a.span(), k("openvpn_auth"), "openvpn_auth needs openvpn");
            }
            return (VpnClient::Own, None);
        };
        let Some((path, text)) = self.provider_file(f, &k("openvpn"), "OpenVPN") else {
            return (VpnClient::OpenVpn(OpenVpnClient::default()), None);
        };
        let parsed = match crate::deploy::provider::openvpn::parse(&text) {
            Ok(p) => p,
            Err(errs) => {
                for e in errs {
                    let problem = Problem::keyed(&path, e.line, k("openvpn"), e.message);
                    self.problems.push(problem);
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
                named: parsed.named,
            }),
            Some(parsed.endpoints),
        )
    }

    /// Reads a file named relative to the site file (a provider's, or a
    /// secret: `what` names it in the error).
    pub(super) fn provider_file(
        &mut self,
        v: &S<String>,
        key: &str,
        what: &str,
    ) -> Option<(PathBuf, String)> {
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
    pub(super) fn kinds_per_host(&mut self, f: &SiteFile, site: &Site) {
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
}
