//! The kill switch of a vpn jail, on both platforms: what may leave it and
//! how (pf anchor `vpnjail/killswitch` in the jail, nftables table
//! `vpnjail_killswitch` in the namespace). Its clients come from
//! [`Site::egress_sources`], its exceptions from [`Site::site_networks`] and
//! the provider's endpoints. May touch: nothing (pure).

use super::{RenderError, render};
use crate::deploy::model::{Host, Jail, Proto, Site, Vpn};
use serde::Serialize;
use tera::Context;

/// The anchor file inside a vpn jail (FreeBSD).
pub const PF_ANCHOR_FILE: &str = "/etc/pf.vpnjail/killswitch.conf";
/// The nftables table in a vpn namespace (Linux), and its file in the jail's directory.
pub const NFT_TABLE: &str = "vpnjail_killswitch";
pub const NFT_FILE: &str = "killswitch.nft";
/// The set holding the DNS servers reached through the tunnel (nftables),
/// and the table of the same name (pf).
pub const DNS_SET: &str = "dns";
/// The table `vpnjail tunnel-up` loads in a vpn namespace whose tunnel
/// pushes its DNS, and its file in the jail's directory.
pub const TUNNEL_TABLE: &str = "vpnjail_tunnel";
pub const TUNNEL_FILE: &str = "tunnel.nft";

#[derive(Serialize)]
struct Ep {
    addr: String,
    port: u16,
    proto: &'static str,
}

/// The DNS server the tunnel leads to, when it is known before the tunnel
/// comes up (`provider_dns`); a pushed one is added by the tunnel's hook.
fn dns(v: &Vpn) -> String {
    v.provider_dns.map(|a| a.to_string()).unwrap_or_default()
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn context(site: &Site, host: &Host, j: &Jail, v: &Vpn) -> Context {
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("jail", &j.name);
    ctx.insert("lan_if", &j.epair_jail());
    ctx.insert("tun_if", &v.tun);
    ctx.insert("egress", &join(&site.egress_sources(host, j, v)));
    ctx.insert("site_nets", &join(&site.site_networks()));
    ctx.insert("dns", &dns(v));
    ctx.insert("restricted", &v.endpoints.is_some());
    ctx
}

/// The FreeBSD anchor `vpnjail/killswitch` (filter rules only; the jail's
/// pf.conf holds the default `block log all`).
pub fn pf(site: &Site, host: &Host, j: &Jail, v: &Vpn) -> Result<String, RenderError> {
    let mut ctx = context(site, host, j, v);
    let eps: Vec<Ep> = v
        .endpoints
        .iter()
        .flatten()
        .map(|e| Ep {
            addr: e.addr.to_string(),
            port: e.port,
            proto: e.proto.name(),
        })
        .collect();
    ctx.insert("endpoints", &eps);
    render("vpn-killswitch.conf", &ctx)
}

/// The Linux table `inet vpnjail_killswitch` of a vpn namespace.
pub fn nft(site: &Site, host: &Host, j: &Jail, v: &Vpn) -> Result<String, RenderError> {
    let mut ctx = context(site, host, j, v);
    ctx.insert("netns", &site.jail_netns(host, j));
    ctx.insert("table", NFT_TABLE);
    let eps: Vec<String> = v
        .endpoints
        .iter()
        .flatten()
        .map(|e| {
            let proto = match e.proto {
                Proto::Udp => "udp",
                Proto::Tcp => "tcp",
            };
            format!("{} . {proto} . {}", e.addr, e.port)
        })
        .collect();
    ctx.insert("endpoints", &eps.join(", "));
    render("killswitch.nft", &ctx)
}

/// The Linux table `inet vpnjail_tunnel` of a vpn namespace whose tunnel
/// pushed `dns`: step 5 to the first of them, and DNS through the tunnel
/// only to them (no DNS at all when the tunnel pushed none).
pub fn tunnel_nft(
    site: &Site,
    host: &Host,
    j: &Jail,
    v: &Vpn,
    dns: &[std::net::Ipv4Addr],
) -> Result<String, RenderError> {
    let mut ctx = context(site, host, j, v);
    ctx.insert("netns", &site.jail_netns(host, j));
    ctx.insert("table", TUNNEL_TABLE);
    ctx.insert("dns", &join(dns));
    ctx.insert(
        "first_dns",
        &dns.first().map(|a| a.to_string()).unwrap_or_default(),
    );
    let address = match (&v.replication, &site.anycast) {
        (Some(r), Some(_)) => format!("{{ {}, {} }}", j.address, r.anycast),
        _ => j.address.to_string(),
    };
    ctx.insert("address", &address);
    render("tunnel.nft", &ctx)
}
