//! The files of a FreeBSD host and its jails: rc.conf fragments, jail.conf(5)
//! and devfs.rules, the pf anchors, and each jail's root. May touch: nothing
//! (pure).
//!
//! - [`jail`]: jail.conf, devfs.rules and each jail's root;
//! - [`pf`]: the pf anchors and the pf.conf fragments that load them;
//! - [`rcconf`]: the rc.conf fragments of the host and each jail.

pub mod jail;
pub mod pf;
pub mod rcconf;

use super::{File, Owner, RC_MONITOR, RenderError};
use crate::deploy::model::{Host, Jail, Site};

/// Where the monitor's rc.d script is installed on a FreeBSD host.
pub const RC_MONITOR_PATH: &str = "/usr/local/etc/rc.d/vpnjail_monitor";

/// devfs ruleset number for vpn jails (platform.md: `[vpnjail=20]`).
pub const VPN_DEVFS_RULESET: u32 = 20;
/// The stock `devfsrules_jail_vnet` ruleset, which unhides /dev/pf.
pub const VNET_DEVFS_RULESET: u32 = 5;

/// Every file of a FreeBSD host: its own and those of its jails.
pub fn host(site: &Site, host: &Host) -> Result<Vec<File>, RenderError> {
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

/// The files `create JAIL` installs on FreeBSD: the jail's own, plus its jail.conf.
pub fn jail(site: &Site, host: &Host, j: &Jail) -> Result<Vec<File>, RenderError> {
    jail::files(site, host, j)
}
