//! What an ipsec jail needs for road warriors (`[[client]]`, docs/clients.md):
//! the responder connections and pools of swanctl.conf, the site's
//! certificates under the swanctl directory, and the filter that keeps each
//! client to its tunnel (the WAN, plus the Internet through its exit).
//! May touch: nothing (pure).

use super::{RenderError, render};
use crate::deploy::model::{Host, LinkAuth, LinkMode, Site};
use ipnet::Ipv4Net;
use serde::Serialize;
use tera::Context;

/// IKE proposals offered to phones: AES-GCM and AES-CBC/SHA-2 with the
/// groups iOS, macOS, Android and Windows propose.
pub const IKE_PROPOSALS: &str = "aes256gcm16-aes128gcm16-prfsha256-prfsha384-ecp256-ecp384-modp2048, aes256-aes128-sha256-sha384-ecp256-ecp384-modp2048";
/// ESP proposals with and without a key exchange: a rekey with PFS and one
/// without both find a match (platform.md, road-warrior gotchas).
pub const ESP_PROPOSALS: &str =
    "aes256gcm16-aes128gcm16-ecp256-ecp384-modp2048, aes256gcm16-aes128gcm16, aes256-sha256";
/// The nftables table of the ipsec namespace (Linux) holding the filter.
pub const NFT_TABLE: &str = "vpnjail_rw";
/// Its file in the ipsec jail's directory.
pub const NFT_FILE: &str = "roadwarrior.nft";
/// The swanctl directory inside a FreeBSD ipsec jail.
pub const SWANCTL_DIR: &str = "/usr/local/etc/swanctl";
/// The pf anchor of the ipsec jail (FreeBSD) holding the filter and route-to.
pub const PF_ANCHOR_FILE: &str = "/etc/pf.vpnjail/rw.conf";

/// One `[[client]]` as swanctl.conf shows it.
#[derive(Serialize)]
pub struct RwConn {
    name: String,
    identity: String,
    address: String,
    exit: Option<String>,
    /// What the client may reach through its tunnel.
    local_ts: String,
}

/// The networks a split-tunnel client reaches: every bridge network of the
/// site and the anycast network.
pub fn wan(site: &Site) -> Vec<Ipv4Net> {
    let mut v: Vec<Ipv4Net> = site.hosts.iter().map(|h| h.bridge.network).collect();
    v.extend(site.anycast.as_ref().map(|a| a.network));
    v.sort();
    v.dedup();
    v
}

fn join(nets: &[Ipv4Net]) -> String {
    nets.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds the road-warrior facts of `host` to a swanctl.conf context (the
/// template renders nothing for a host without clients).
pub fn swanctl_context(site: &Site, host: &Host, local_addr: &str, ctx: &mut Context) {
    let wan = join(&wan(site));
    let rw: Vec<RwConn> = site
        .clients_of(&host.name)
        .map(|c| RwConn {
            name: c.name.clone(),
            identity: c.identity(&site.name),
            address: c.address.to_string(),
            exit: c.exit.clone(),
            local_ts: if c.exit.is_some() {
                "0.0.0.0/0".into()
            } else {
                wan.clone()
            },
        })
        .collect();
    ctx.insert("rw", &rw);
    ctx.insert("rw_local", local_addr);
    ctx.insert("rw_ike", IKE_PROPOSALS);
    ctx.insert("rw_esp", ESP_PROPOSALS);
    ctx.insert(
        "rw_dns",
        &host
            .vpndns_jail()
            .map(|d| d.address.to_string())
            .unwrap_or_default(),
    );
}

/// Whether this host's ipsec jail loads the site's certificates.
pub fn needs_pki(site: &Site, host: &Host) -> bool {
    host.client_pool.is_some()
        || site.link_ends(host).iter().any(|e| {
            matches!(
                e.link.mode,
                LinkMode::Swanctl {
                    auth: LinkAuth::Pubkey
                }
            )
        })
}

/// The certificate files under the swanctl directory: (path relative to it,
/// mode, content). The key is owner-only.
pub fn pki_files(site: &Site, host: &Host) -> Result<Vec<(String, u32, String)>, RenderError> {
    if !needs_pki(site, host) {
        return Ok(Vec::new());
    }
    let pki = site.pki.as_ref().ok_or_else(|| {
        RenderError::Invalid(format!(
            "host {:?} needs the site's certificates: run vpnjail pki",
            host.name
        ))
    })?;
    let (cert, key) = pki.gateway(&host.name).ok_or_else(|| {
        RenderError::Invalid(format!(
            "no certificate for host {:?}: run vpnjail pki",
            host.name
        ))
    })?;
    Ok(vec![
        ("x509ca/ca.crt".into(), 0o644, pki.ca_cert.clone()),
        (format!("x509/{}.crt", host.name), 0o644, cert.to_string()),
        (format!("private/{}.key", host.name), 0o600, key.to_string()),
        ("x509crl/site.crl".into(), 0o644, pki.crl.clone()),
    ])
}

/// The sources a client may use and where each may go: (pool, the WAN,
/// the full-tunnel clients' addresses).
fn filter_context(site: &Site, host: &Host, ctx: &mut Context) -> Option<()> {
    let pool = host.client_pool?;
    let full: Vec<String> = site
        .clients_of(&host.name)
        .filter(|c| c.exit.is_some())
        .map(|c| c.address.to_string())
        .collect();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("pool", &pool.to_string());
    ctx.insert("wan", &join(&wan(site)));
    ctx.insert("full", &full.join(", "));
    Some(())
}

/// Linux: the ipsec namespace's filter for the pool (nftables), or `None`
/// without a pool.
pub fn nft(site: &Site, host: &Host) -> Result<Option<String>, RenderError> {
    let mut ctx = Context::new();
    if filter_context(site, host, &mut ctx).is_none() {
        return Ok(None);
    }
    ctx.insert("table", NFT_TABLE);
    ctx.insert("tunnel_if", crate::deploy::names::LIBIPSEC_IF);
    render("roadwarrior.nft", &ctx).map(Some)
}

/// FreeBSD: the ipsec jail's `vpnjail/rw` anchor: the filter, and
/// `route-to` the exit jail for each full-tunnel client.
pub fn pf(site: &Site, host: &Host, lan_if: &str) -> Result<Option<String>, RenderError> {
    let mut ctx = Context::new();
    if filter_context(site, host, &mut ctx).is_none() {
        return Ok(None);
    }
    #[derive(Serialize)]
    struct Route {
        client: String,
        address: String,
        exit: String,
        gateway: String,
    }
    let routes: Vec<Route> = site
        .clients_of(&host.name)
        .filter_map(|c| {
            let exit = c.exit.as_ref()?;
            Some(Route {
                client: c.name.clone(),
                address: c.address.to_string(),
                exit: exit.clone(),
                gateway: host.jail(exit)?.address.to_string(),
            })
        })
        .collect();
    ctx.insert("lan_if", lan_if);
    ctx.insert("routes", &routes);
    render("roadwarrior-pf.conf", &ctx).map(Some)
}

/// rc.conf's static route for the client pool via the ipsec jail (on the
/// host and in every other jail), so answers find their way back.
pub fn pool_route(host: &Host) -> Option<String> {
    let (pool, ipsec) = (host.client_pool?, host.ipsec_jail()?);
    Some(format!("-net {pool} {}", ipsec.address))
}
