//! Provider endpoints given as host names: which names a plan needs, their
//! resolution (IPv4 only: the kill switch blocks IPv6) through an injectable
//! resolver, and the pure pinning of the addresses into the model — the
//! kill switch's endpoints and the client's own config (OpenVPN `remote`,
//! WireGuard `Endpoint`) — so the client never resolves a name outside the
//! tunnel. May touch: the host's resolver, only in [`system`] (getaddrinfo);
//! everything else is pure.

use crate::deploy::model::{Endpoint, JailKind, NamedEndpoint, Site, Vpn, VpnClient};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

/// What each host name resolved to, in the resolver's order.
pub type Resolved = BTreeMap<String, Vec<Ipv4Addr>>;

/// A resolver: a host name to its IPv4 addresses, or why not.
pub type Resolver<'a> = dyn Fn(&str) -> Result<Vec<Ipv4Addr>, String> + 'a;

/// One name pinned in one jail, for the user to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub jail: String,
    pub name: String,
    pub addrs: Vec<Ipv4Addr>,
}

impl std::fmt::Display for Pinned {
    /// `resolved vpn.example.net → 198.51.100.7`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "resolved {} \u{2192} ", self.name)?;
        for (i, a) in self.addrs.iter().enumerate() {
            write!(f, "{}{a}", if i > 0 { ", " } else { "" })?;
        }
        Ok(())
    }
}

/// The host's resolver (getaddrinfo through std), IPv4 addresses only, each
/// once, in the order it gives them.
pub fn system(name: &str) -> Result<Vec<Ipv4Addr>, String> {
    let addrs = (name, 0).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut v4 = Vec::new();
    for a in addrs {
        if let SocketAddr::V4(a) = a
            && !v4.contains(a.ip())
        {
            v4.push(*a.ip());
        }
    }
    Ok(v4)
}

fn named(v: &Vpn) -> &[NamedEndpoint] {
    match &v.client {
        VpnClient::OpenVpn(o) => &o.named,
        VpnClient::WireGuard(w) => &w.named,
        VpnClient::Own => &[],
    }
}

/// The vpn jails of the site that `want` selects, with their names.
fn vpn_jails<'a>(
    site: &'a Site,
    want: &'a dyn Fn(&str, &str) -> bool,
) -> impl Iterator<Item = (&'a str, &'a Vpn)> + 'a {
    site.hosts.iter().flat_map(move |h| {
        h.jails.iter().filter_map(move |j| match &j.kind {
            JailKind::Vpn(v) if want(&h.name, &j.name) => Some((j.name.as_str(), v)),
            _ => None,
        })
    })
}

/// Resolves every host name of the jails `want(host, jail)` selects. Every
/// name that fails, or resolves to no IPv4 address, is reported at once.
pub fn resolve(
    site: &Site,
    want: &dyn Fn(&str, &str) -> bool,
    resolver: &Resolver,
) -> Result<Resolved, Vec<String>> {
    let mut out = Resolved::new();
    let mut errors = Vec::new();
    for (jail, v) in vpn_jails(site, want) {
        for n in named(v) {
            if out.contains_key(&n.name) {
                continue;
            }
            match resolver(&n.name) {
                Ok(a) if !a.is_empty() => {
                    out.insert(n.name.clone(), a);
                }
                Ok(_) => errors.push(format!(
                    "jail {jail}: provider endpoint {}: resolves to no IPv4 address (the kill switch blocks IPv6)",
                    n.name
                )),
                Err(e) => errors.push(format!(
                    "jail {jail}: provider endpoint {}: cannot resolve it: {e}",
                    n.name
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The site with every host name that `resolved` holds pinned: added to the
/// jail's endpoints (the kill switch's allow rules) and written into the
/// client's config in place of the name. OpenVPN gets one `remote` per
/// address, in the resolver's order at the name's place; a WireGuard peer
/// has one endpoint, so it gets the first address. Names `resolved` lacks
/// stay as they are (the kill switch then admits none of their traffic).
pub fn pin(site: &Site, resolved: &Resolved) -> (Site, Vec<Pinned>) {
    let mut site = site.clone();
    let mut pinned = Vec::new();
    for j in site.hosts.iter_mut().flat_map(|h| h.jails.iter_mut()) {
        let JailKind::Vpn(v) = &mut j.kind else {
            continue;
        };
        let (mut add, mut here) = (Vec::new(), Vec::new());
        match &mut v.client {
            VpnClient::OpenVpn(o) => {
                for n in std::mem::take(&mut o.named) {
                    let Some(addrs) = resolved.get(&n.name) else {
                        o.named.push(n);
                        continue;
                    };
                    let proto = super::openvpn::openvpn_proto(n.proto);
                    let line = format!("remote {} {} {proto}\n", n.name, n.port);
                    let with: String = addrs
                        .iter()
                        .map(|a| format!("remote {a} {} {proto}\n", n.port))
                        .collect();
                    o.config = replace_line(&o.config, &line, &with);
                    add.extend(addrs.iter().map(|&addr| (n.clone(), addr)));
                    here.push((n.name, addrs.clone()));
                }
            }
            VpnClient::WireGuard(w) => {
                for n in std::mem::take(&mut w.named) {
                    let Some(&addr) = resolved.get(&n.name).and_then(|a| a.first()) else {
                        w.named.push(n);
                        continue;
                    };
                    let is = |l: &str| {
                        l.split_once('=').is_some_and(|(k, val)| {
                            k.trim().eq_ignore_ascii_case("endpoint")
                                && val.trim() == format!("{}:{}", n.name, n.port)
                        })
                    };
                    let with = format!("Endpoint = {addr}:{}", n.port);
                    for text in [&mut w.setconf, &mut w.wg_quick] {
                        *text = text
                            .lines()
                            .map(|l| if is(l) { with.as_str() } else { l })
                            .flat_map(|l| [l, "\n"])
                            .collect();
                    }
                    add.push((n.clone(), addr));
                    here.push((n.name, vec![addr]));
                }
            }
            VpnClient::Own => {}
        }
        if add.is_empty() {
            // Nothing pinned: `None` (unrestricted) must stay `None`.
            continue;
        }
        let endpoints = v.endpoints.get_or_insert_with(Vec::new);
        for (n, addr) in add {
            let e = Endpoint {
                addr,
                port: n.port,
                proto: n.proto,
            };
            if !endpoints.contains(&e) {
                endpoints.push(e);
            }
        }
        pinned.extend(here.into_iter().map(|(name, addrs)| Pinned {
            jail: j.name.clone(),
            name,
            addrs,
        }));
    }
    (site, pinned)
}

/// `text` with every whole line equal to `line` replaced by `with`.
fn replace_line(text: &str, line: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    for l in text.split_inclusive('\n') {
        out.push_str(if l == line { with } else { l });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_line_swaps_whole_lines_only() {
        let t = "remote a 1 udp\nremote ab 1 udp\nremote a 1 udp\n";
        assert_eq!(
            replace_line(t, "remote a 1 udp\n", "remote 1.2.3.4 1 udp\n"),
            "remote 1.2.3.4 1 udp\nremote ab 1 udp\nremote 1.2.3.4 1 udp\n"
        );
    }

    #[test]
    fn the_system_resolver_resolves_localhost_through_getaddrinfo() {
        let a = system("localhost").expect("localhost resolves");
        assert!(a.contains(&Ipv4Addr::LOCALHOST), "{a:?}");
        assert!(a.iter().all(|a| a.is_loopback()), "{a:?}");
        assert!(system("no-such-host.invalid").map_or(true, |a| a.is_empty()));
    }
}
