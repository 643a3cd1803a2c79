//! `vpnjail diagram`: what a picture of the site shows, decided once from the
//! validated model; [`svg`] and [`dot`] only draw it. May touch: nothing (pure).
//!
//! - [`Picture`] lists the hosts (bridges, jails with their notes), the
//!   IPsec links (and BGP), the GRE tunnels, which vpn jail each service jail
//!   leaves through, the replicas, and the clients from outside the site.
//! - [`svg`] lays it out and writes SVG itself (no Graphviz at run time).
//! - [`dot`] writes the same picture as a Graphviz graph.

pub mod dot;
pub mod svg;

use super::model::{JailKind, LinkMode, Platform, Site};

/// What a jail is, for its colour and its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ipsec,
    Vpndns,
    Vpn,
    Service,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ipsec => "ipsec",
            Kind::Vpndns => "vpndns",
            Kind::Vpn => "vpn",
            Kind::Service => "service",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub site: String,
    pub bgp: bool,
    pub hosts: Vec<HostBox>,
    pub links: Vec<LinkEdge>,
    pub gres: Vec<GreEdge>,
    /// Clients from outside the site: GRE remotes that are no jail of the
    /// site, and road warriors (`[[client]]`): one [`Outside`] each, `into`
    /// the jail they leave through (a road warrior without `exit`: its
    /// host's ipsec jail, the WAN only).
    pub outside: Vec<Outside>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBox {
    pub name: String,
    /// `freebsd · 192.0.2.10` (and the AS with BGP).
    pub subtitle: String,
    /// `vjbr0 10.10.1.0/24 · host 10.10.1.1`.
    pub bridge: String,
    /// The anycast bridge, on a host holding replicas.
    pub anycast_bridge: Option<String>,
    pub jails: Vec<JailBox>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailBox {
    pub name: String,
    pub kind: Kind,
    pub address: String,
    /// One short line each: the tunnel, clients, replicas, link ends.
    pub notes: Vec<String>,
    /// A service jail's vpn jail (on the same host), drawn as an arrow.
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEdge {
    /// Indices into [`Picture::hosts`].
    pub hosts: [usize; 2],
    /// `IPsec reqid 100 · swanctl`.
    pub label: String,
    /// `172.16.0.1 – 172.16.0.2` (and `BGP` with bgp routing).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreEdge {
    /// (host index, jail name) of the client end and of the vpn jail.
    pub from: (usize, String),
    pub to: (usize, String),
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    pub label: String,
    /// (host index, jail name) the client leaves through.
    pub into: (usize, String),
    pub how: String,
}

fn kind_order(k: Kind) -> u8 {
    match k {
        Kind::Ipsec => 0,
        Kind::Vpndns => 1,
        Kind::Vpn => 2,
        Kind::Service => 3,
    }
}

/// The picture of a validated site.
pub fn picture(site: &Site) -> Picture {
    let index = |name: &str| site.hosts.iter().position(|h| h.name == name);
    let mut hosts = Vec::new();
    for h in &site.hosts {
        let platform = match h.platform {
            Platform::FreeBsd => "freebsd",
            Platform::Linux => "linux",
        };
        let mut subtitle = format!("{platform} · {}", h.public_address);
        if site.bgp {
            subtitle.push_str(&format!(" · AS {}", h.asn));
        }
        let mut jails = Vec::new();
        for j in &h.jails {
            let mut notes = Vec::new();
            let (kind, via) = match &j.kind {
                JailKind::Ipsec => {
                    for end in site.link_ends(h) {
                        notes.push(format!(
                            "{} ↔ {} {}",
                            end.ifname,
                            end.peer.name,
                            end.local_inner()
                        ));
                    }
                    if site.bgp {
                        notes.push("FRR: eBGP on every link".into());
                    }
                    (Kind::Ipsec, None)
                }
                JailKind::Vpndns => {
                    notes.push("resolver of this host's jails".into());
                    (Kind::Vpndns, None)
                }
                JailKind::Vpn(v) => {
                    notes.push(match v.provider_dns {
                        Some(d) => format!("{} → provider, DNS {d}", v.tun),
                        None => format!("{} → provider, DNS pushed", v.tun),
                    });
                    if !v.clients.is_empty() {
                        let c: Vec<String> = v.clients.iter().map(|n| n.to_string()).collect();
                        notes.push(format!("clients {}", c.join(", ")));
                    }
                    if let Some(r) = &v.replication {
                        let p = r.priority(&h.name).unwrap_or(0);
                        let role = if p == 0 { "primary" } else { "standby" };
                        notes.push(format!(
                            "replica {} of {} ({role}) · anycast {}",
                            p + 1,
                            r.replicas.len(),
                            r.anycast
                        ));
                    }
                    for p in site
                        .dns_policies
                        .iter()
                        .filter(|p| p.via.first() == Some(&j.name))
                    {
                        let nets: Vec<String> = p.source.iter().map(|n| n.to_string()).collect();
                        notes.push(format!("DNS of {} (dns.policy)", nets.join(", ")));
                    }
                    for g in site.gres_of(&j.name) {
                        notes.push(format!("{} ⇐ GRE from {}", g.ifname, g.remote));
                    }
                    (Kind::Vpn, None)
                }
                JailKind::Service { via } => {
                    if let Some(v) = via {
                        notes.push(format!("leaves via {v}"));
                    }
                    (Kind::Service, via.clone())
                }
            };
            jails.push(JailBox {
                name: j.name.clone(),
                kind,
                address: j.address.to_string(),
                notes,
                via,
            });
        }
        jails.sort_by_key(|j| kind_order(j.kind));
        let anycast_bridge = match &site.anycast {
            Some(a) if h.replicas().next().is_some() => {
                Some(format!("{} {} · anycast", a.bridge, a.network))
            }
            _ => None,
        };
        hosts.push(HostBox {
            name: h.name.clone(),
            subtitle,
            bridge: format!(
                "{} {} · host {}",
                h.bridge.name, h.bridge.network, h.bridge.address
            ),
            anycast_bridge,
            jails,
        });
    }
    let mut links = Vec::new();
    for l in &site.links {
        let (Some(a), Some(b)) = (index(&l.hosts[0]), index(&l.hosts[1])) else {
            continue;
        };
        let mode = match &l.mode {
            LinkMode::Swanctl { .. } => "swanctl".to_string(),
            LinkMode::Setkey { cipher, .. } => format!("setkey {}", cipher.setkey_name()),
        };
        let mut detail = format!("{} – {}", l.inner[0], l.inner[1]);
        if site.bgp {
            detail.push_str(" · BGP");
        }
        links.push(LinkEdge {
            hosts: [a, b],
            label: format!("IPsec reqid {} · {mode}", l.reqid),
            detail,
        });
    }
    let mut gres = Vec::new();
    let mut outside = Vec::new();
    for g in &site.gres {
        let Some(to) = site.jail(&g.jail).and_then(|(h, _)| index(&h.name)) else {
            continue;
        };
        let remote = site.hosts.iter().enumerate().find_map(|(i, h)| {
            h.jails
                .iter()
                .find(|j| j.address == g.remote)
                .map(|j| (i, j))
        });
        let label = format!("GRE {} {} – {}", g.ifname, g.inner[0], g.inner[1]);
        match remote {
            Some((i, j)) => gres.push(GreEdge {
                from: (i, j.name.clone()),
                to: (to, g.jail.clone()),
                label,
            }),
            None => outside.push(Outside {
                label: format!("client {}", g.remote),
                into: (to, g.jail.clone()),
                how: label,
            }),
        }
    }
    for c in &site.clients {
        let Some(h) = index(&c.host) else {
            continue;
        };
        let (jail, how) = match &c.exit {
            Some(e) => (Some(e.clone()), "IKEv2 · exit".to_string()),
            None => (
                site.hosts[h]
                    .jails
                    .iter()
                    .find(|j| matches!(j.kind, JailKind::Ipsec))
                    .map(|j| j.name.clone()),
                "IKEv2 · WAN only".to_string(),
            ),
        };
        if let Some(jail) = jail {
            outside.push(Outside {
                label: format!("{} {}", c.name, c.address),
                into: (h, jail),
                how,
            });
        }
    }
    Picture {
        site: site.name.clone(),
        bgp: site.bgp,
        hosts,
        links,
        gres,
        outside,
    }
}

/// XML/dot-safe text: names are restricted by `check`, but notes hold
/// addresses and punctuation.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
