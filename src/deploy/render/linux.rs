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

/// A Linux host's files by what each is for: what plans consume, so that a
/// renamed file cannot silently break a plan.
pub struct HostFiles<'a> {
    /// The host's own nftables table (`host.nft`).
    pub nft: File,
    /// Each jail's files, in the host's order.
    pub jails: Vec<(&'a Jail, NsFiles)>,
}

/// One namespace's files by what each is for, as its kind has them.
pub enum NsFiles {
    Vpn(VpnFiles),
    Vpndns {
        /// vpndns.toml.
        config: File,
        /// The blocklist (`[dns] block`), if any.
        blocklist: Option<File>,
    },
    Ipsec(IpsecFiles),
    Service,
}

/// A vpn namespace's files.
pub struct VpnFiles {
    /// The NAT table (seed steps 2 and 5).
    pub nat: File,
    /// The kill switch's table.
    pub killswitch: File,
    pub client: ClientFiles,
}

/// The files of the tunnel's client, if vpnjail runs it.
pub enum ClientFiles {
    Own,
    OpenVpn { conf: File, auth: Option<File> },
    WireGuard { conf: File },
}

/// An ipsec namespace's files.
pub struct IpsecFiles {
    pub strongswan: File,
    /// swanctl.conf: only with connections or road warriors.
    pub swanctl: Option<File>,
    /// The road warriors' certificates, key and CRL (docs/clients.md).
    pub pki: Vec<File>,
    /// The road warriors' filter.
    pub filter: Option<File>,
    /// FRR's files (`[site] routing = "bgp"`).
    pub frr: Option<FrrFiles>,
}

/// FRR's files in an ipsec namespace.
pub struct FrrFiles {
    pub frr: File,
    pub zebra: File,
    /// bfdd.conf (`[site] bfd`).
    pub bfdd: Option<File>,
}

impl HostFiles<'_> {
    /// Every file, the host's first, then each jail's.
    pub fn into_files(self) -> Vec<File> {
        let mut out = vec![self.nft];
        for (_, j) in self.jails {
            out.extend(j.into_files());
        }
        out
    }
}

impl NsFiles {
    /// Every file of the namespace, in the order it is installed.
    pub fn files(&self) -> Vec<&File> {
        let mut out = Vec::new();
        match self {
            NsFiles::Vpn(v) => {
                out.extend([&v.nat, &v.killswitch]);
                match &v.client {
                    ClientFiles::Own => {}
                    ClientFiles::OpenVpn { conf, auth } => {
                        out.extend(Some(conf).into_iter().chain(auth))
                    }
                    ClientFiles::WireGuard { conf } => out.push(conf),
                }
            }
            NsFiles::Vpndns { config, blocklist } => {
                out.extend(Some(config).into_iter().chain(blocklist))
            }
            NsFiles::Ipsec(i) => {
                out.push(&i.strongswan);
                out.extend(&i.swanctl);
                out.extend(&i.pki);
                out.extend(&i.filter);
                if let Some(f) = &i.frr {
                    out.extend([&f.frr, &f.zebra]);
                    out.extend(&f.bfdd);
                }
            }
            NsFiles::Service => {}
        }
        out
    }

    pub fn into_files(self) -> Vec<File> {
        self.files().into_iter().cloned().collect()
    }
}

/// Every file of a Linux host: its nftables table and its jails' files.
pub fn host(site: &Site, host: &Host) -> Result<Vec<File>, RenderError> {
    host_files(site, host).map(HostFiles::into_files)
}

/// [`host`]'s files by what each is for.
pub fn host_files<'a>(site: &Site, host: &'a Host) -> Result<HostFiles<'a>, RenderError> {
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
    let nft = File {
        path: host_nft_path(host),
        mode: 0o644,
        content: render("host.nft", &ctx)?,
        owner: Owner::Host,
    };
    let jails = host
        .jails
        .iter()
        .map(|j| Ok((j, ns_files(site, host, j)?)))
        .collect::<Result<_, RenderError>>()?;
    Ok(HostFiles { nft, jails })
}

/// The files of one namespace, in its directory.
pub fn jail(site: &Site, host: &Host, j: &Jail) -> Result<Vec<File>, RenderError> {
    ns_files(site, host, j).map(NsFiles::into_files)
}

/// [`jail`]'s files by what each is for.
pub fn ns_files(site: &Site, host: &Host, j: &Jail) -> Result<NsFiles, RenderError> {
    let dir = host.jail_path(&j.name);
    let owner = Owner::Jail(j.name.clone());
    let file = |name: &str, mode: u32, content: String| File {
        path: dir.join(name),
        mode,
        content,
        owner: owner.clone(),
    };
    Ok(match &j.kind {
        JailKind::Vpn(v) => {
            let nat = file(NFT_FILE, 0o644, vpn_nft(site, host, j, v, v.provider_dns)?);
            let killswitch = file(
                killswitch::NFT_FILE,
                0o644,
                killswitch::nft(site, host, j, v)?,
            );
            let client = match &v.client {
                VpnClient::Own => ClientFiles::Own,
                VpnClient::OpenVpn(o) => {
                    // Keys and credentials: owner-only from the first byte.
                    let auth = dir.join(openvpn::LINUX_AUTH);
                    ClientFiles::OpenVpn {
                        conf: file(
                            openvpn::LINUX_CONF,
                            0o600,
                            openvpn::client_conf(
                                o,
                                &v.tun,
                                &auth.display().to_string(),
                                &tunnel_up_command(site, host, j),
                            )?,
                        ),
                        auth: o
                            .auth
                            .as_ref()
                            .map(|a| file(openvpn::LINUX_AUTH, 0o600, a.clone())),
                    }
                }
                // The private key: owner-only from the first byte.
                VpnClient::WireGuard(w) => ClientFiles::WireGuard {
                    conf: file(wireguard::LINUX_CONF, 0o600, wireguard::setconf(w)),
                },
            };
            NsFiles::Vpn(VpnFiles {
                nat,
                killswitch,
                client,
            })
        }
        JailKind::Vpndns => NsFiles::Vpndns {
            config: file(VPNDNS_FILE, 0o644, vpndns::config(site, host, j)?),
            blocklist: vpndns::blocklist(site).map(|b| file(vpndns::BLOCKLIST_FILE, 0o644, b)),
        },
        JailKind::Ipsec => {
            let mut ctx = Context::new();
            ctx.insert("site", &site.name);
            ctx.insert("host", &host.name);
            ctx.insert("dir", &dir.display().to_string());
            ctx.insert("bgp", &site.bgp);
            let strongswan = file(
                STRONGSWAN_FILE,
                0o644,
                render("strongswan-linux.conf", &ctx)?,
            );
            let swanctl = ipsec::files(site, host, j)?
                .strongswan
                .map(|s| file(SWANCTL_FILE, s.swanctl.mode, s.swanctl.content));
            // Road warriors (docs/clients.md): the jail's directory is its
            // swanctl directory (SWANCTL_DIR), with x509/, x509ca/, ...
            let pki = roadwarrior::pki_files(site, host)?
                .into_iter()
                .map(|(rel, mode, content)| file(&rel, mode, content))
                .collect();
            let filter =
                roadwarrior::nft(site, host)?.map(|t| file(roadwarrior::NFT_FILE, 0o644, t));
            let frr = if site.bgp {
                Some(FrrFiles {
                    frr: file(FRR_FILE, 0o644, frr::conf(site, host, j)?),
                    zebra: file(
                        ZEBRA_FILE,
                        0o644,
                        "! Generated by vpnjail; do not edit by hand.\n! zebra needs no configuration: bgpd reads frr.conf (docs/bgp.md).\n".into(),
                    ),
                    bfdd: frr::bfdd_conf(site, host, j)?.map(|c| file(BFDD_FILE, 0o644, c)),
                })
            } else {
                None
            };
            NsFiles::Ipsec(IpsecFiles {
                strongswan,
                swanctl,
                pki,
                filter,
                frr,
            })
        }
        JailKind::Service { .. } => NsFiles::Service,
    })
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
