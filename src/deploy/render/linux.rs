//! The files of a Linux host and its namespaces: nftables tables in place of
//! the pf anchors (and a vpn namespace's kill switch), vpndns.toml, and strongSwan's configuration for
//! kernel-libipsec. Namespaces share the host's filesystem, so every file of a
//! jail lives in its own directory `<jail_root>/<jail>/`. May touch: nothing (pure).

use super::{
    File, Owner, RenderError, frr, ipsec, killswitch, openvpn, render, roadwarrior, vpndns,
    wireguard,
};
use crate::deploy::model::{Host, Jail, JailKind, Site, Vpn, VpnClient};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use tera::Context;

/// The nftables table inside each vpn namespace.
pub const VPN_TABLE: &str = "vpnjail";
/// File names inside a jail's directory.
pub const NFT_FILE: &str = "nft.conf";
pub const VPNDNS_FILE: &str = "vpndns.toml";
pub const STRONGSWAN_FILE: &str = "strongswan.conf";
pub const SWANCTL_FILE: &str = "swanctl.conf";
/// FRR's configuration (`[site] routing = "bgp"`): bgpd's part on Linux
/// (the integrated file, BFD profile included, on FreeBSD).
pub const FRR_FILE: &str = "frr.conf";
/// zebra's configuration: nothing of ours (zebra only carries routes).
pub const ZEBRA_FILE: &str = "zebra.conf";
/// bfdd's own configuration (`[site] bfd`): the BFD profile alone.
pub const BFDD_FILE: &str = "bfdd.conf";
/// Directory (owned by user frr) for FRR's pid files and sockets.
pub const FRR_RUN_DIR: &str = "frr";
/// The host's nftables file, beside the jails' directories.
pub const HOST_NFT_FILE: &str = "host.nft";

/// Where the host's nftables table is written.
pub fn host_nft_path(host: &Host) -> PathBuf {
    host.jail_root.join(HOST_NFT_FILE)
}

/// Every file of a Linux host: its nftables table and its jails' files.
pub fn host(site: &Site, host: &Host) -> Result<Vec<File>, RenderError> {
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("table", &site.host_nft_table(host));
    ctx.insert("ext_if", &host.external_if);
    ctx.insert("bridge_net", &host.bridge.network.to_string());
    ctx.insert(
        "ipsec_jail",
        &host
            .ipsec_jail()
            .map(|j| j.address.to_string())
            .unwrap_or_default(),
    );
    let mut files = vec![File {
        path: host_nft_path(host),
        mode: 0o644,
        content: render("host.nft", &ctx)?,
        owner: Owner::Host,
    }];
    for j in &host.jails {
        files.extend(jail(site, host, j)?);
    }
    Ok(files)
}

/// The files of one namespace, in its directory.
pub fn jail(site: &Site, host: &Host, j: &Jail) -> Result<Vec<File>, RenderError> {
    let dir = host.jail_path(&j.name);
    let owner = Owner::Jail(j.name.clone());
    let file = |name: &str, mode: u32, content: String| File {
        path: dir.join(name),
        mode,
        content,
        owner: owner.clone(),
    };
    let mut out = Vec::new();
    match &j.kind {
        JailKind::Vpn(v) => {
            out.push(file(
                NFT_FILE,
                0o644,
                vpn_nft(site, host, j, v, v.provider_dns)?,
            ));
            out.push(file(
                killswitch::NFT_FILE,
                0o644,
                killswitch::nft(site, host, j, v)?,
            ));
            if let VpnClient::OpenVpn(o) = &v.client {
                // Keys and credentials: owner-only from the first byte.
                let auth = dir.join(openvpn::LINUX_AUTH);
                out.push(file(
                    openvpn::LINUX_CONF,
                    0o600,
                    openvpn::client_conf(
                        o,
                        &v.tun,
                        &auth.display().to_string(),
                        &tunnel_up_command(site, host, j),
                    )?,
                ));
                if let Some(a) = &o.auth {
                    out.push(file(openvpn::LINUX_AUTH, 0o600, a.clone()));
                }
            }
            if let VpnClient::WireGuard(w) = &v.client {
                // The private key: owner-only from the first byte.
                out.push(file(wireguard::LINUX_CONF, 0o600, wireguard::setconf(w)));
            }
        }
        JailKind::Vpndns => {
            out.push(file(VPNDNS_FILE, 0o644, vpndns::config(site, host, j)?));
            if let Some(b) = vpndns::blocklist(site) {
                out.push(file(vpndns::BLOCKLIST_FILE, 0o644, b));
            }
        }
        JailKind::Ipsec => {
            let mut ctx = Context::new();
            ctx.insert("site", &site.name);
            ctx.insert("host", &host.name);
            ctx.insert("dir", &dir.display().to_string());
            ctx.insert("bgp", &site.bgp);
            out.push(file(
                STRONGSWAN_FILE,
                0o644,
                render("strongswan-linux.conf", &ctx)?,
            ));
            for (rel, mode, content) in ipsec::files(site, host, j)? {
                if rel.ends_with("swanctl.conf") {
                    out.push(file(SWANCTL_FILE, mode, content));
                }
            }
            // Road warriors (docs/clients.md): the jail's directory is its
            // swanctl directory (SWANCTL_DIR), with x509/, x509ca/, ...
            for (rel, mode, content) in roadwarrior::pki_files(site, host)? {
                out.push(file(&rel, mode, content));
            }
            if let Some(t) = roadwarrior::nft(site, host)? {
                out.push(file(roadwarrior::NFT_FILE, 0o644, t));
            }
            if site.bgp {
                out.push(file(FRR_FILE, 0o644, frr::conf(site, host, j)?));
                out.push(file(
                    ZEBRA_FILE,
                    0o644,
                    "! Generated by vpnjail; do not edit by hand.\n! zebra needs no configuration: bgpd reads frr.conf (docs/bgp.md).\n".into(),
                ));
                if let Some(conf) = frr::bfdd_conf(site, host, j)? {
                    out.push(file(BFDD_FILE, 0o644, conf));
                }
            }
        }
        JailKind::Service { .. } => {}
    }
    Ok(out)
}

/// The NAT table of a vpn namespace (seed steps 2 and 5), with `dns` as the
/// target of step 5: `provider_dns`, or the DNS the tunnel pushed (`vpnjail
/// tunnel-up` renders it again then); `None` leaves step 5 out.
pub fn vpn_nft(
    site: &Site,
    host: &Host,
    j: &Jail,
    v: &Vpn,
    dns: Option<Ipv4Addr>,
) -> Result<String, RenderError> {
    let (vpndns, clients) = super::vpn_step2(site, host, j, v);
    let mut ctx = Context::new();
    ctx.insert("site", &site.name);
    ctx.insert("host", &host.name);
    ctx.insert("jail", &j.name);
    ctx.insert("netns", &site.jail_netns(host, j));
    ctx.insert("table", VPN_TABLE);
    ctx.insert("lan_if", &j.epair_jail());
    match (&v.replication, &site.anycast) {
        // A replica answers DNS on its own address and the anycast one.
        (Some(r), Some(_)) => {
            ctx.insert("address", &format!("{{ {}, {} }}", j.address, r.anycast));
        }
        _ => ctx.insert("address", &j.address.to_string()),
    }
    ctx.insert("tun_if", &v.tun);
    // A pushed DNS comes with the tunnel (`vpnjail tunnel-up`).
    ctx.insert("vpn_dns", &dns.map(|a| a.to_string()).unwrap_or_default());
    ctx.insert("vpndns", &vpndns);
    ctx.insert("clients", &clients);
    render("vpn.nft", &ctx)
}

/// The hook OpenVPN runs in a vpn namespace when its routes are up:
/// `vpnjail tunnel-up` (by absolute paths: OpenVPN runs it from its own
/// directory).
pub fn tunnel_up_command(site: &Site, host: &Host, j: &Jail) -> Vec<String> {
    let site_file = std::path::absolute(&site.file).unwrap_or_else(|_| site.file.clone());
    vec![
        host.vpnjail_bin.display().to_string(),
        "tunnel-up".into(),
        "--site".into(),
        site_file.display().to_string(),
        "--host".into(),
        host.name.clone(),
        "--jail".into(),
        j.name.clone(),
    ]
}
