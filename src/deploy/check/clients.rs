//! The road-warrior part of the site check: `[[host]] client_pool`,
//! `[[client]]`, and the `pki/` files the ipsec jails need (issue 12,
//! docs/clients.md). May touch: the site's `pki/` directory (read only).

use super::Checker;
use crate::deploy::model::{Client, JailKind, LinkAuth, LinkMode, Pki, Site};
use crate::deploy::pki::Paths;
use crate::deploy::site::SiteFile;
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Checker<'_> {
    /// Pools first (each host's, against every other network of the site),
    /// then the clients in them.
    pub(super) fn clients(&mut self, f: &SiteFile, site: &mut Site) {
        // Every network a pool must stay clear of, with what it is.
        let mut taken: Vec<(Ipv4Net, String)> = Vec::new();
        for h in &site.hosts {
            taken.push((
                h.bridge.network,
                format!("the bridge network of host {:?}", h.name),
            ));
            for j in &h.jails {
                if let JailKind::Vpn(v) = &j.kind {
                    for n in &v.clients {
                        taken.push((*n, format!("a client network of vpn jail {:?}", j.name)));
                    }
                }
            }
        }
        if let Some(a) = &site.anycast {
            taken.push((a.network, "the anycast network".into()));
        }
        for (hd, host) in f.host.iter().zip(site.hosts.iter_mut()) {
            let Some(p) = &hd.get_ref().client_pool else {
                continue;
            };
            let key = format!("host[{}].client_pool", host.name);
            let Some(pool) = self.net(p, &key) else {
                continue;
            };
            if let Some((n, what)) = taken.iter().find(|(n, _)| overlaps(*n, pool)) {
                let msg = format!("{pool} overlaps {n}, {what}");
                self.err(p.span(), &key, msg);
                continue;
            }
            if host.ipsec_jail().is_none() {
                self.err(
                    p.span(),
                    &key,
                    format!("host {:?} has no ipsec jail to hand out a pool", host.name),
                );
                continue;
            }
            if pool.prefix_len() > 30 {
                self.err(
                    p.span(),
                    &key,
                    format!("{pool} is too small: a pool needs at least a /30"),
                );
                continue;
            }
            taken.push((pool, format!("the client pool of host {:?}", host.name)));
            host.client_pool = Some(pool);
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut addrs: HashMap<Ipv4Addr, String> = HashMap::new();
        for (i, cd) in f.client.iter().enumerate() {
            let d = cd.get_ref();
            let name = d.name.get_ref().clone();
            let k = |key: &str| format!("client[{name}].{key}");
            if !super::is_name(&name) {
                self.err(
                    d.name.span(),
                    "client.name",
                    format!("{name:?} must be made of letters, digits and '_' only"),
                );
                continue;
            }
            if let Some(prev) = names.insert(name.clone(), i) {
                self.err(
                    d.name.span(),
                    k("name"),
                    format!("client {name:?} is already defined by client[{prev}]"),
                );
                continue;
            }
            let host_name = d.host.get_ref();
            let Some(host) = site.host(host_name) else {
                self.err(
                    d.host.span(),
                    k("host"),
                    format!("{host_name:?} is not a [[host]] of this site"),
                );
                continue;
            };
            let address = self.addr(&d.address, &k("address"));
            let Some(pool) = host.client_pool else {
                self.err(
                    d.host.span(),
                    k("host"),
                    format!(
                        "host {host_name:?} has no client_pool to give {name:?} an address from"
                    ),
                );
                continue;
            };
            if !pool.contains(&address) || address == pool.network() || address == pool.broadcast()
            {
                self.err(
                    d.address.span(),
                    k("address"),
                    format!(
                        "{address} is not a host address of {host_name:?}'s client_pool {pool}"
                    ),
                );
                continue;
            }
            if let Some(other) = addrs.insert(address, name.clone()) {
                self.err(
                    d.address.span(),
                    k("address"),
                    format!("{address} is already the address of client {other:?}"),
                );
                continue;
            }
            let exit = match &d.exit {
                None => None,
                Some(e) => {
                    let ok = host
                        .jail(e.get_ref())
                        .is_some_and(|j| matches!(j.kind, JailKind::Vpn(_)));
                    if !ok {
                        self.err(
                            e.span(),
                            k("exit"),
                            format!("{:?} is not a vpn jail on host {host_name:?}", e.get_ref()),
                        );
                        continue;
                    }
                    if host.vpndns_jail().is_none() {
                        self.err(e.span(), k("exit"), format!("host {host_name:?} has no vpndns jail to send {name:?}'s DNS through its exit"));
                        continue;
                    }
                    Some(e.get_ref().clone())
                }
            };
            if exit.is_some() {
                // vpndns refuses two policies for one CIDR: the client's own wins here.
                let own = Ipv4Net::from(address);
                for (j, pd) in f.dns.policy.iter().enumerate() {
                    for src in pd.get_ref().source.get_ref() {
                        if src.get_ref().parse::<Ipv4Net>().ok() == Some(own) {
                            let msg = format!(
                                "{own} is client {name:?}'s own DNS policy (its exit); remove it here"
                            );
                            self.err(src.span(), format!("dns.policy[{j}].source"), msg);
                        }
                    }
                }
            }
            site.clients.push(Client {
                name,
                host: host_name.clone(),
                address,
                exit,
            });
        }
    }

    /// The CA, CRL and gateway certificates the ipsec jails load, and every
    /// client's certificate (its profile needs it): read from `pki/` when a
    /// client or a pubkey link needs them.
    pub(super) fn pki(&mut self, f: &SiteFile, site: &mut Site) {
        let pubkey_links: Vec<(usize, Range<usize>)> = f
            .link
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.get_ref()
                    .auth
                    .as_ref()
                    .is_some_and(|a| a.get_ref() == "pubkey")
            })
            .map(|(i, l)| (i, l.span()))
            .collect();
        let first = f
            .client
            .first()
            .map(|c| (c.span(), "client".to_string()))
            .or_else(|| {
                pubkey_links
                    .first()
                    .map(|(i, s)| (s.clone(), format!("link[{i}].auth")))
            });
        let (Some((span, key)), true) = (first, self.read_pki) else {
            return;
        };
        let paths = Paths::beside(&self.file);
        let hint = format!("run vpnjail pki --site {}", self.file.display());
        let read = |c: &mut Self,
                    path: std::path::PathBuf,
                    span: Range<usize>,
                    key: &str,
                    private: bool| {
            use std::os::unix::fs::PermissionsExt;
            match std::fs::read_to_string(&path) {
                Ok(t) => {
                    let mode = std::fs::metadata(&path)
                        .map(|m| m.permissions().mode())
                        .unwrap_or(0);
                    if private && mode & 0o077 != 0 {
                        c.err(span, key, format!("{} is readable by others (mode {:04o}); a key must be owner-only (chmod 600)", path.display(), mode & 0o777));
                    }
                    Some(t)
                }
                Err(e) => {
                    c.err(
                        span,
                        key,
                        format!("missing PKI: cannot read {}: {e} ({hint})", path.display()),
                    );
                    None
                }
            }
        };
        let ca_cert = read(self, paths.ca_cert(), span.clone(), &key, false);
        let crl = read(self, paths.crl(), span.clone(), &key, false);
        let mut gateways = Vec::new();
        let links = &site.links;
        for (hd, h) in f.host.iter().zip(&site.hosts) {
            let pubkey = links.iter().any(|l| {
                l.hosts.contains(&h.name)
                    && matches!(
                        l.mode,
                        LinkMode::Swanctl {
                            auth: LinkAuth::Pubkey
                        }
                    )
            });
            if h.client_pool.is_none() && !pubkey {
                continue;
            }
            let s = hd.get_ref().name.span();
            let k = format!("host[{}]", h.name);
            let cert = read(self, paths.host_cert(&h.name), s.clone(), &k, false);
            let key = read(self, paths.host_key(&h.name), s, &k, true);
            if let (Some(c), Some(k)) = (cert, key) {
                gateways.push((h.name.clone(), c, k));
            }
        }
        for (cd, c) in f.client.iter().zip(&site.clients) {
            let k = format!("client[{}]", c.name);
            read(self, paths.client_cert(&c.name), cd.span(), &k, false);
            read(self, paths.client_key(&c.name), cd.span(), &k, true);
        }
        if let (Some(ca_cert), Some(crl)) = (ca_cert, crl) {
            site.pki = Some(Pki {
                ca_cert,
                crl,
                gateways,
            });
        }
    }
}
