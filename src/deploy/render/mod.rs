//! Pure functions from a validated site to the files of one host, as a tree
//! that mirrors the host's filesystem. May touch: nothing but `write_tree`,
//! which writes under the directory it is given.
//!
//! One module per kind of file:
//!
//! - `jail`: jail.conf, devfs.rules and each jail's root;
//! - `pf`: the pf anchors;
//! - [`killswitch`]: what may leave a vpn jail, in pf and nftables;
//! - [`openvpn`]: the client's config around the provider's file;
//! - [`wireguard`]: the client's files from the provider's WireGuard file;
//! - `ipsec`: strongSwan and setkey configuration of the links;
//! - [`frr`]: FRR's zebra, bgpd and bfdd configuration;
//! - [`rcconf`]: the rc.conf fragments;
//! - `vpndns`: the vpndns jail's config;
//! - [`roadwarrior`]: an ipsec jail's road-warrior connections, certificates and filter;
//! - [`linux`]: the Linux twin of them all.

pub mod frr;
mod ipsec;
mod jail;
pub mod killswitch;
pub mod linux;
pub mod openvpn;
mod pf;
pub mod rcconf;
pub mod roadwarrior;
mod vpndns;
pub mod wireguard;

use super::model::{Host, Jail, Platform, Site, Vpn};

pub use ipsec::{SETKEY_CONF, STRONGSWAN_CONF as STRONGSWAN_CONF_PATH, SWANCTL_CONF};
pub use pf::{VPN_ANCHOR_FILE, host_anchors as pf_host_anchors};
use std::path::{Path, PathBuf};

/// devfs ruleset number for vpn jails (platform.md: `[vpnjail=20]`).
pub const VPN_DEVFS_RULESET: u32 = 20;
/// The stock `devfsrules_jail_vnet` ruleset, which unhides /dev/pf.
pub const VNET_DEVFS_RULESET: u32 = 5;

/// Who a rendered file belongs to: the host itself or one jail (whose root it
/// lives under). `create JAIL` installs exactly the jail's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Host,
    Jail(String),
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Absolute path on the target host.
    pub path: PathBuf,
    /// Permission bits: 0o755 for rc.d scripts, 0o600 for files holding keys.
    pub mode: u32,
    pub content: String,
    pub owner: Owner,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no host named {0:?} in the site")]
    UnknownHost(String),
    #[error("template {name}: {source}")]
    Template {
        name: &'static str,
        #[source]
        source: tera::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The templates, embedded from the top-level template folders.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "jail.conf",
        include_str!("../../../jail.conf.d/jail.conf.tera"),
    ),
    (
        "devfs.rules",
        include_str!("../../../jail.conf.d/devfs.rules.tera"),
    ),
    ("pf.conf", include_str!("../../../pf/pf.conf.tera")),
    (
        "host-nat.conf",
        include_str!("../../../pf/host-nat.conf.tera"),
    ),
    (
        "host-ipsec.conf",
        include_str!("../../../pf/host-ipsec.conf.tera"),
    ),
    (
        "vpn-dns.conf",
        include_str!("../../../pf/vpn-dns.conf.tera"),
    ),
    (
        "swanctl.conf",
        include_str!("../../../ipsec/swanctl.conf.tera"),
    ),
    (
        "setkey.conf",
        include_str!("../../../ipsec/setkey.conf.tera"),
    ),
    ("vpn.nft", include_str!("../../../nft/vpn.nft.tera")),
    (
        "killswitch.nft",
        include_str!("../../../nft/killswitch.nft.tera"),
    ),
    ("tunnel.nft", include_str!("../../../nft/tunnel.nft.tera")),
    (
        "vpn-killswitch.conf",
        include_str!("../../../pf/vpn-killswitch.conf.tera"),
    ),
    ("host.nft", include_str!("../../../nft/host.nft.tera")),
    (
        "client-swanctl.conf",
        include_str!("../../../ipsec/client-swanctl.conf.tera"),
    ),
    (
        "roadwarrior.nft",
        include_str!("../../../nft/roadwarrior.nft.tera"),
    ),
    (
        "roadwarrior-pf.conf",
        include_str!("../../../pf/roadwarrior.conf.tera"),
    ),
    ("frr.conf", include_str!("../../../frr/frr.conf.tera")),
    ("bfd.conf", include_str!("../../../frr/bfd.conf.tera")),
    (
        "strongswan-linux.conf",
        include_str!("../../../ipsec/strongswan-linux.conf.tera"),
    ),
];

/// The rc.d script is not a template: it reads everything from rc.conf.
pub const RC_VPNDNS: &str = include_str!("../../../rc.d/vpndns");
/// The monitor's rc.d script (host side; docs/ha.md): reads rc.conf only.
pub const RC_MONITOR: &str = include_str!("../../../rc.d/vpnjail_monitor");
/// Where the monitor's rc.d script is installed on a FreeBSD host.
pub const RC_MONITOR_PATH: &str = "/usr/local/etc/rc.d/vpnjail_monitor";
/// vtysh.conf has no per-site facts.
pub const VTYSH_CONF: &str = include_str!("../../../frr/vtysh.conf");
/// strongswan.conf has no per-site facts.
pub const STRONGSWAN_CONF: &str = include_str!("../../../ipsec/strongswan.conf");

pub(crate) fn render(name: &'static str, ctx: &tera::Context) -> Result<String, RenderError> {
    let mut t = tera::Tera::new();
    let (_, text) = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or(RenderError::Invalid(format!("no template {name}")))?;
    t.add_raw_template(name, text)
        .and_then(|_| t.render(name, ctx))
        .map(|mut s| {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        })
        .map_err(|source| RenderError::Template { name, source })
}

/// Seed step 2 of vpn jail `j`, as its NAT templates want it: the address
/// of the host's vpndns and the routed sources (its `clients`, GRE clients,
/// road warriors) whose DNS to it the jail source-translates to its own
/// address; both empty without a vpndns jail. (What leaves through the
/// tunnel is translated whoever sent it: the kill switch decides who may.)
fn vpn_step2(site: &Site, host: &Host, j: &Jail, v: &Vpn) -> (String, String) {
    let Some(d) = host.vpndns_jail() else {
        return (String::new(), String::new());
    };
    let clients: Vec<String> = site
        .remote_egress_sources(j, v)
        .iter()
        .map(ToString::to_string)
        .collect();
    (d.address.to_string(), clients.join(", "))
}

/// Every file of one host: its own and those of its jails.
pub fn host(site: &Site, host_name: &str) -> Result<Vec<File>, RenderError> {
    let host = site
        .host(host_name)
        .ok_or_else(|| RenderError::UnknownHost(host_name.to_string()))?;
    if host.platform == Platform::Linux {
        return linux::host(site, host);
    }
    let mut files = Vec::new();
    files.push(File {
        path: "/etc/rc.conf.vpnjail".into(),
        mode: 0o644,
        content: rcconf::host(site, host)
            .text(&format!("host {}: merge into /etc/rc.conf", host.name))?,
        owner: Owner::Host,
    });
    files.push(jail::devfs_rules(site, host)?);
    if host.replicas().next().is_some() {
        files.push(File {
            path: RC_MONITOR_PATH.into(),
            mode: 0o755,
            content: RC_MONITOR.to_string(),
            owner: Owner::Host,
        });
    }
    files.extend(pf::host(site, host)?);
    for j in &host.jails {
        files.extend(jail::files(site, host, j)?);
    }
    Ok(files)
}

/// The files `create JAIL` installs: the jail's own, plus its jail.conf.
pub fn jail_files(site: &Site, host: &Host, jail: &str) -> Result<Vec<File>, RenderError> {
    let j = host
        .jail(jail)
        .ok_or_else(|| RenderError::Invalid(format!("no jail {jail:?} on host {:?}", host.name)))?;
    match host.platform {
        Platform::Linux => linux::jail(site, host, j),
        Platform::FreeBsd => jail::files(site, host, j),
    }
}

/// Writes files under `out`, mirroring their absolute paths.
pub fn write_tree(files: &[File], out: &Path) -> Result<(), RenderError> {
    for f in files {
        let rel = f.path.strip_prefix("/").unwrap_or(&f.path);
        let dest = out.join(rel);
        let w = |source| RenderError::Write {
            path: dest.clone(),
            source,
        };
        crate::deploy::exec::write_atomic(&dest, f.content.as_bytes(), f.mode).map_err(w)?;
    }
    Ok(())
}
