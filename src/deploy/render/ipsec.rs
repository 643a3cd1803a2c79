//! The ipsec jail's IPsec configuration: swanctl.conf (+ strongswan.conf) for
//! strongSwan links, an ipsec.conf for setkey(8) links. May touch: nothing (pure).

use super::{Part, RenderError, render};
use crate::deploy::model::{Host, Jail, LinkAuth, LinkMode, Platform, Site};
use serde::Serialize;
use tera::Context;

pub const SWANCTL_CONF: &str = "/usr/local/etc/swanctl/swanctl.conf";
pub const STRONGSWAN_CONF: &str = "/usr/local/etc/strongswan.conf";
pub const SETKEY_CONF: &str = "/etc/ipsec.conf";

#[derive(Serialize)]
struct Conn {
    peer: String,
    local_addr: String,
    remote_addr: String,
    reqid: u16,
    local_ts: String,
    remote_ts: String,
    /// `None`: certificates (`auth = "pubkey"`).
    psk: Option<String>,
}

#[derive(Serialize)]
struct Sa {
    src: String,
    dst: String,
    spi: u32,
    reqid: u16,
    cipher: &'static str,
    enc: String,
    auth: Option<String>,
}

/// A link end's selectors: the host's bridge network and its road
/// warriors' pool.
fn nets(h: &Host) -> String {
    h.wan_networks()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ipsec jail's IPsec files, by what each is for.
pub struct Files {
    /// strongSwan's files: with strongSwan links or road warriors.
    pub strongswan: Option<StrongSwan>,
    /// setkey(8)'s ipsec.conf (owner-only: it holds the keys): with setkey links.
    pub setkey: Option<Part>,
}

/// strongSwan's files in the ipsec jail.
pub struct StrongSwan {
    /// swanctl.conf (owner-only: it holds the PSKs).
    pub swanctl: Part,
    /// strongswan.conf (FreeBSD's; Linux renders its own).
    pub conf: Part,
}

/// The IPsec files of ipsec jail `j`.
pub fn files(site: &Site, host: &Host, j: &Jail) -> Result<Files, RenderError> {
    let mut conns = Vec::new();
    let mut sas = Vec::new();
    // With BGP on FreeBSD, the route-based if_ipsec carries any network BGP
    // routes over it (transit after a link failure, the BGP session itself):
    // its SAs cover everything. On Linux, kernel-libipsec puts every SA of the
    // namespace on one TUN device and tells them apart by their selectors, so
    // a link covers its two ends only: the inner /32s (the BGP session) and
    // the two hosts' WAN networks (bridge, road-warrior pool); FRR advertises only the host's own network over
    // it (frr.conf), so BGP never routes transit traffic into it.
    let bgp_any = site.bgp && host.platform == Platform::FreeBsd;
    let inner = site.bgp && host.platform == Platform::Linux;
    for e in site.link_ends(host) {
        let local = j.address.to_string();
        let remote = e.peer.public_address.to_string();
        match &e.link.mode {
            LinkMode::Swanctl { auth } => conns.push(Conn {
                peer: e.peer.name.clone(),
                local_addr: local,
                remote_addr: remote,
                reqid: e.link.reqid,
                local_ts: if bgp_any {
                    "0.0.0.0/0".into()
                } else if inner {
                    format!("{}/32, {}", e.local_inner(), nets(host))
                } else {
                    nets(host)
                },
                remote_ts: if bgp_any {
                    "0.0.0.0/0".into()
                } else if inner {
                    format!("{}/32, {}", e.remote_inner(), nets(e.peer))
                } else {
                    nets(e.peer)
                },
                psk: match auth {
                    LinkAuth::Psk(k) => Some(k.clone()),
                    LinkAuth::Pubkey => None,
                },
            }),
            LinkMode::Setkey { cipher, spi, keys } => {
                // Index 0 is hosts[0] -> hosts[1]. Our outbound direction is ours.
                let out = e.side;
                let inb = 1 - e.side;
                for (dir, src, dst) in [(out, &local, &remote), (inb, &remote, &local)] {
                    sas.push(Sa {
                        src: src.clone(),
                        dst: dst.clone(),
                        spi: spi[dir],
                        reqid: e.link.reqid,
                        cipher: cipher.setkey_name(),
                        enc: keys[dir].enc.clone(),
                        auth: keys[dir].auth.clone(),
                    });
                }
            }
        }
    }
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("freebsd", &(host.platform == Platform::FreeBsd));
    ctx.insert("bgp", &site.bgp);
    super::roadwarrior::swanctl_context(site, host, &j.address.to_string(), &mut ctx);
    let mut out = Files {
        strongswan: None,
        setkey: None,
    };
    if !conns.is_empty() || host.client_pool.is_some() {
        ctx.insert("conns", &conns);
        out.strongswan = Some(StrongSwan {
            swanctl: Part {
                rel: SWANCTL_CONF.trim_start_matches('/'),
                mode: 0o600,
                content: render("swanctl.conf", &ctx)?,
            },
            conf: Part {
                rel: STRONGSWAN_CONF.trim_start_matches('/'),
                mode: 0o644,
                content: super::STRONGSWAN_CONF.to_string(),
            },
        });
    }
    if !sas.is_empty() {
        ctx.insert("sas", &sas);
        out.setkey = Some(Part {
            rel: SETKEY_CONF.trim_start_matches('/'),
            mode: 0o600,
            content: render("setkey.conf", &ctx)?,
        });
    }
    Ok(out)
}
