//! FRR configuration of a host's ipsec jail when `[site] routing = "bgp"`:
//! one eBGP session per `[[link]]` over the link's inner /32 addresses, the
//! host's bridge network advertised. May touch: nothing (pure).

use super::{RenderError, render};
use crate::deploy::model::{Host, Jail, LinkMode, Platform, Site};
use serde::Serialize;
use tera::Context;

/// Path of the integrated configuration inside a FreeBSD jail.
pub const FRR_CONF: &str = "/usr/local/etc/frr/frr.conf";
/// vtysh.conf: selects the integrated configuration.
pub const VTYSH_CONF: &str = "/usr/local/etc/frr/vtysh.conf";
/// BGP keepalive and hold time in seconds (`timers bgp 1 3`): FRR's smallest
/// hold time is 3 s. docs/bgp.md gives the convergence this yields.
pub const KEEPALIVE_SECS: u32 = 1;
pub const HOLD_SECS: u32 = 3;

#[derive(Serialize)]
struct Neighbor {
    addr: String,
    local: String,
    asn: u32,
    peer: String,
    ifname: String,
    reqid: u16,
    /// Advertise only this host's own network to this neighbour: a strongSwan
    /// link on Linux carries its two ends' traffic only (render/ipsec.rs).
    own_only: bool,
}

/// frr.conf for `host`'s ipsec jail `j`.
pub fn conf(site: &Site, host: &Host, j: &Jail) -> Result<String, RenderError> {
    let neighbors: Vec<Neighbor> = site
        .link_ends(host)
        .iter()
        .map(|e| Neighbor {
            addr: e.remote_inner().to_string(),
            local: e.local_inner().to_string(),
            asn: e.peer.asn,
            peer: e.peer.name.clone(),
            ifname: if host.platform == Platform::Linux
                && matches!(e.link.mode, LinkMode::Swanctl { .. })
            {
                crate::deploy::plan::linux::LIBIPSEC_IF.to_string()
            } else {
                e.ifname.clone()
            },
            reqid: e.link.reqid,
            own_only: host.platform == Platform::Linux
                && matches!(e.link.mode, LinkMode::Swanctl { .. }),
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("jail", &j.name);
    ctx.insert("asn", &host.asn);
    ctx.insert("router_id", &j.address.to_string());
    ctx.insert("bridge_net", &host.bridge.network.to_string());
    ctx.insert("own_only", &neighbors.iter().any(|n| n.own_only));
    ctx.insert("neighbors", &neighbors);
    let text = render("frr.conf", &ctx)?;
    debug_assert!(text.contains(&format!("timers bgp {KEEPALIVE_SECS} {HOLD_SECS}")));
    Ok(text)
}
