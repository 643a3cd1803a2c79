//! Pure functions from a validated site to the files of one host, as a tree
//! that mirrors the host's filesystem, chosen by the host's platform. May
//! touch: nothing but `write_tree`, which writes under the directory it is
//! given.
//!
//! One module per platform, then one per kind of file both share:
//!
//! - [`freebsd`]: a FreeBSD host's files by what each is for (rc.conf, jail.conf, devfs.rules, pf anchors);
//! - [`linux`]: a Linux host's files (nftables tables, each namespace's directory);
//! - [`template`]: the embedded templates and fixed files, and rendering one;
//! - [`killswitch`]: what may leave a vpn jail, in pf and nftables;
//! - [`openvpn`]: the client's config around the provider's file;
//! - [`wireguard`]: the client's files from the provider's WireGuard file;
//! - `ipsec`: strongSwan and setkey configuration of the links;
//! - [`frr`]: FRR's zebra, bgpd and bfdd configuration;
//! - `vpndns`: the vpndns jail's config;
//! - [`roadwarrior`]: an ipsec jail's road-warrior connections, certificates and filter.

pub mod freebsd;
pub mod frr;
mod ipsec;
pub mod killswitch;
pub mod linux;
pub mod openvpn;
pub mod roadwarrior;
pub mod template;
mod vpndns;
pub mod wireguard;

use super::model::{Host, Jail, Platform, Site, Vpn};

pub use freebsd::pf::VPN_ANCHOR_FILE;
pub use freebsd::{RC_MONITOR_PATH, VNET_DEVFS_RULESET, VPN_DEVFS_RULESET, rcconf};
pub use ipsec::{SETKEY_CONF, STRONGSWAN_CONF as STRONGSWAN_CONF_PATH, SWANCTL_CONF};
use std::path::{Path, PathBuf};
pub(crate) use template::render;
pub use template::{RC_MONITOR, RC_VPNDNS, STRONGSWAN_CONF, VTYSH_CONF};

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

/// One file of a jail before it has a root: its path under the root (as a
/// FreeBSD jail has it), its mode and its content. What the renderers shared
/// by both platforms return; each platform places it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub rel: &'static str,
    pub mode: u32,
    pub content: String,
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
    match host.platform {
        Platform::Linux => linux::host(site, host),
        Platform::FreeBsd => freebsd::host(site, host),
    }
}

/// The files `create JAIL` installs: the jail's own, plus its jail.conf.
pub fn jail_files(site: &Site, host: &Host, jail: &str) -> Result<Vec<File>, RenderError> {
    let j = host
        .jail(jail)
        .ok_or_else(|| RenderError::Invalid(format!("no jail {jail:?} on host {:?}", host.name)))?;
    match host.platform {
        Platform::Linux => linux::jail(site, host, j),
        Platform::FreeBsd => freebsd::jail(site, host, j),
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
