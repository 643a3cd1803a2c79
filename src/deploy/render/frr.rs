//! FRR configuration of a host's ipsec jail when `[site] routing = "bgp"`:
//! one eBGP session per `[[link]]` over the link's inner /32 addresses, the
//! host's bridge network and road-warrior pool advertised. May touch:
//! nothing (pure).

use super::{RenderError, render};
use crate::deploy::model::{Host, Jail, LinkMode, Platform, Site, Standby};
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
/// The BFD profile every BGP session names (`neighbor X bfd profile ...`).
pub const BFD_PROFILE: &str = "vpnjail";

/// Where the BFD profile goes: the integrated frr.conf holds it for every
/// daemon (FreeBSD's `vtysh -b` hands each its part); on Linux each daemon
/// reads its own file, and bgpd must not see bfdd's block (its `exit` lines
/// end bgpd's parse before `router bgp`, seen with FRR 8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BfdBlock {
    In,
    Out,
}

/// The standard community `65100:<priority>` marks an anycast route with the
/// priority of the replica that announces it (65100 is a private AS number;
/// the community only has meaning inside the site).
pub const ANYCAST_COMMUNITY: u16 = 65100;
/// Local preference of a priority-0 (primary) anycast route; priority k gets
/// this minus k.
pub const ANYCAST_LOCAL_PREF: u32 = 100;

/// The route-map `vpnjail monitor` names in `network A/32 route-map ...` to
/// announce a replica with priority `k`.
pub fn announce_route_map(k: usize) -> String {
    format!("VJ-ANYCAST-P{k}")
}

/// Local preference every host gives an anycast route of priority `k`.
pub fn anycast_local_pref(k: usize) -> u32 {
    ANYCAST_LOCAL_PREF.saturating_sub(u32::try_from(k).unwrap_or(u32::MAX))
}

/// The highest priority number in use: a standby replica announces itself
/// with the number of replicas of its jail (below every real priority); in
/// cold standby, replica k waits with [`cold_priority`], below those.
pub fn max_priority(site: &Site) -> Option<usize> {
    site.vpn_jails()
        .filter_map(|(_, _, v)| {
            v.replication.as_ref().map(|r| match r.standby {
                Standby::Hot => r.replicas.len(),
                Standby::Cold => cold_priority(r.replicas.len(), r.replicas.len() - 1),
            })
        })
        .max()
}

/// The priority a cold replica of priority `k` announces while its client is
/// stopped: `n + k` for `n` replicas, below every serving replica and still
/// in priority order, so that all hosts agree which one starts its client.
pub fn cold_priority(n: usize, k: usize) -> usize {
    n + k
}

#[derive(Serialize)]
struct Priority {
    k: usize,
    local_pref: u32,
    prepend: String,
}

#[derive(Serialize)]
struct LocalReplica {
    jail: String,
    anycast: String,
    priority: usize,
}

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

/// frr.conf for `host`'s ipsec jail `j`: integrated (with the BFD profile)
/// on FreeBSD; on Linux bgpd's part only, bfdd's is [`bfdd_conf`].
pub fn conf(site: &Site, host: &Host, j: &Jail) -> Result<String, RenderError> {
    let block = match host.platform {
        Platform::FreeBsd => BfdBlock::In,
        Platform::Linux => BfdBlock::Out,
    };
    conf_with(site, host, j, block)
}

/// bgpd's part of frr.conf whatever the platform (the namespace tests run a
/// FreeBSD host's sessions under Linux's separate daemons with it).
pub fn bgpd_conf(site: &Site, host: &Host, j: &Jail) -> Result<String, RenderError> {
    conf_with(site, host, j, BfdBlock::Out)
}

/// Linux: bfdd's own configuration, the BFD profile alone; `None` without BFD.
pub fn bfdd_conf(site: &Site, host: &Host, j: &Jail) -> Result<Option<String>, RenderError> {
    let Some(bfd) = site.bfd else {
        return Ok(None);
    };
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("jail", &j.name);
    ctx.insert("bfd_profile", BFD_PROFILE);
    ctx.insert("bfd", &bfd_ctx(bfd));
    ctx.insert("standalone", &true);
    render("bfd.conf", &ctx).map(Some)
}

#[derive(Serialize)]
struct BfdTimers {
    interval_ms: u32,
    multiplier: u8,
}

fn bfd_ctx(b: crate::deploy::model::Bfd) -> BfdTimers {
    BfdTimers {
        interval_ms: b.interval_ms,
        multiplier: b.multiplier,
    }
}

fn conf_with(site: &Site, host: &Host, j: &Jail, block: BfdBlock) -> Result<String, RenderError> {
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
                crate::deploy::names::LIBIPSEC_IF.to_string()
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
    // Road warriors (docs/clients.md): the host's pool is advertised too.
    ctx.insert("client_pool", &host.client_pool.map(|p| p.to_string()));
    ctx.insert("own_only", &neighbors.iter().any(|n| n.own_only));
    ctx.insert("neighbors", &neighbors);
    let max = max_priority(site);
    let priorities: Vec<Priority> = (0..=max.unwrap_or(0))
        .map(|k| Priority {
            k,
            local_pref: anycast_local_pref(k),
            prepend: vec![host.asn.to_string(); k].join(" "),
        })
        .collect();
    let replicas: Vec<LocalReplica> = host
        .replicas()
        .map(|(j, r, k)| LocalReplica {
            jail: j.name.clone(),
            anycast: r.anycast.to_string(),
            priority: k,
        })
        .collect();
    ctx.insert("anycast", &max.is_some());
    ctx.insert("community", &ANYCAST_COMMUNITY);
    ctx.insert("max_priority", &max.unwrap_or(0));
    ctx.insert("priorities", &priorities);
    ctx.insert("replicas", &replicas);
    ctx.insert("bfd", &site.bfd.map(bfd_ctx));
    ctx.insert("bfd_profile", BFD_PROFILE);
    let bfd_block = match site.bfd {
        Some(_) if block == BfdBlock::In => {
            ctx.insert("standalone", &false);
            render("bfd.conf", &ctx)?
        }
        _ => String::new(),
    };
    ctx.insert("bfd_block", &bfd_block);
    let text = render("frr.conf", &ctx)?;
    debug_assert!(text.contains(&format!("timers bgp {KEEPALIVE_SECS} {HOLD_SECS}")));
    Ok(text)
}
