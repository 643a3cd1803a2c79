//! The files of a FreeBSD host and its jails: rc.conf fragments, jail.conf(5)
//! and devfs.rules, the pf anchors, and each jail's root, by what each is
//! for, so that the plans take the file they need from its field (a renamed
//! file cannot silently break a plan). May touch: nothing (pure).
//!
//! - [`jail`]: jail.conf, devfs.rules and each jail's root ([`JailFiles`]);
//! - [`pf`]: the pf anchors and the pf.conf fragments that load them ([`pf::HostPf`]);
//! - [`rcconf`]: the rc.conf fragments of the host and each jail.
//!
//! Here: the typed outputs, [`HostFiles`] (the host's own files and each
//! jail's) and [`JailFiles`] (one jail's, with [`KindFiles`] for what its
//! kind adds: [`VpnFiles`] and its [`ClientFiles`] ([`OpenVpnFiles`]), [`VpndnsFiles`],
//! [`IpsecFiles`] with [`StrongSwanFiles`], [`RoadWarriorFiles`] and
//! [`FrrFiles`]), each with `files()` / `into_files()` in install order.

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

/// A FreeBSD host's files by what each is for.
pub struct HostFiles<'a> {
    /// `/etc/rc.conf.vpnjail`: the host's rc.conf settings (bridge, modules,
    /// pf, jail_list, routes), merged into /etc/rc.conf by the operator.
    pub rc_conf: File,
    /// `/etc/devfs.rules`: the vpn jails' ruleset.
    pub devfs_rules: File,
    /// The monitor's rc.d script: with replicas (docs/ha.md).
    pub monitor: Option<File>,
    /// The host's pf.conf fragment and anchors.
    pub pf: pf::HostPf,
    /// Each jail's files, in the host's order.
    pub jails: Vec<(&'a Jail, JailFiles)>,
}

/// One jail's files by what each is for.
pub struct JailFiles {
    /// Its jail.conf, on the host (`/etc/jail.conf.d/<jail>.conf`).
    pub jail_conf: File,
    /// Its /etc/rc.conf.
    pub rc_conf: File,
    /// Its /etc/resolv.conf naming the host's vpndns: every jail's but the
    /// vpndns jail's own, when the host has one.
    pub resolv_conf: Option<File>,
    /// What its kind adds.
    pub kind: KindFiles,
}

/// The files a jail's kind adds to its root.
pub enum KindFiles {
    Vpn(VpnFiles),
    Vpndns(VpndnsFiles),
    Ipsec(Box<IpsecFiles>),
    Service,
}

/// A vpn jail's files.
pub struct VpnFiles {
    /// /etc/pf.conf: blocks by default, loads the two anchors.
    pub pf_conf: File,
    /// The `vpnjail/dns` anchor (seed steps 2 and 5), reloaded by `pf --load`.
    pub dns_anchor: File,
    /// The `vpnjail/killswitch` anchor.
    pub killswitch: File,
    pub client: ClientFiles,
}

/// The files of a vpn jail's tunnel client, if vpnjail runs it.
pub enum ClientFiles {
    Own,
    OpenVpn(Box<OpenVpnFiles>),
    /// The wg-quick file (owner-only: it holds the private key).
    WireGuard {
        conf: File,
    },
}

/// An OpenVPN client's files in its jail's root.
pub struct OpenVpnFiles {
    /// The client's config (owner-only).
    pub conf: File,
    /// Its credentials (owner-only), when the site names them.
    pub auth: Option<File>,
    /// vpnjail's route-up hook.
    pub route_up: File,
    /// `/etc/rc.conf.d/openvpn` for the port's rc script.
    pub rc_conf_d: File,
}

/// The vpndns jail's files.
pub struct VpndnsFiles {
    /// Its rc.d script.
    pub rc_script: File,
    /// `/etc/rc.conf.d/vpndns`, enabling it.
    pub rc_conf_d: File,
    /// vpndns.toml.
    pub config: File,
    /// The blocklist (`[dns] block`), if any.
    pub blocklist: Option<File>,
}

/// The ipsec jail's files.
pub struct IpsecFiles {
    /// strongSwan's: with strongSwan links or road warriors.
    pub strongswan: Option<StrongSwanFiles>,
    /// setkey's ipsec.conf: with setkey links.
    pub setkey: Option<File>,
    /// The road warriors' certificates, key and CRL (docs/clients.md).
    pub pki: Vec<File>,
    /// The road warriors' filter, with a pool.
    pub roadwarrior: Option<RoadWarriorFiles>,
    /// FRR's (`[site] routing = "bgp"`).
    pub frr: Option<FrrFiles>,
}

/// strongSwan's files in the ipsec jail.
pub struct StrongSwanFiles {
    pub swanctl: File,
    /// strongswan.conf.
    pub conf: File,
}

/// The ipsec jail's own pf ruleset for road warriors.
pub struct RoadWarriorFiles {
    /// /etc/pf.conf, loading the anchor.
    pub pf_conf: File,
    /// The `vpnjail/rw` anchor: the filter and route-to.
    pub anchor: File,
}

/// FRR's files in the ipsec jail.
pub struct FrrFiles {
    /// The integrated frr.conf.
    pub frr: File,
    /// vtysh.conf.
    pub vtysh: File,
}

impl HostFiles<'_> {
    /// Every file, the host's own first, then each jail's.
    pub fn files(&self) -> Vec<&File> {
        let mut out = vec![&self.rc_conf, &self.devfs_rules];
        out.extend(&self.monitor);
        out.extend(self.pf.files());
        for (_, j) in &self.jails {
            out.extend(j.files());
        }
        out
    }

    pub fn into_files(self) -> Vec<File> {
        self.files().into_iter().cloned().collect()
    }
}

impl JailFiles {
    /// Every file of the jail, in the order it is installed.
    pub fn files(&self) -> Vec<&File> {
        let mut out = vec![&self.jail_conf, &self.rc_conf];
        out.extend(&self.resolv_conf);
        match &self.kind {
            KindFiles::Vpn(v) => {
                out.extend([&v.pf_conf, &v.dns_anchor, &v.killswitch]);
                match &v.client {
                    ClientFiles::Own => {}
                    ClientFiles::OpenVpn(o) => {
                        out.push(&o.conf);
                        out.extend(&o.auth);
                        out.extend([&o.route_up, &o.rc_conf_d]);
                    }
                    ClientFiles::WireGuard { conf } => out.push(conf),
                }
            }
            KindFiles::Vpndns(d) => {
                out.extend([&d.rc_script, &d.rc_conf_d, &d.config]);
                out.extend(&d.blocklist);
            }
            KindFiles::Ipsec(i) => {
                out.extend(i.ipsec_files());
                if let Some(rw) = &i.roadwarrior {
                    out.extend([&rw.pf_conf, &rw.anchor]);
                }
                if let Some(f) = &i.frr {
                    out.extend([&f.frr, &f.vtysh]);
                }
            }
            KindFiles::Service => {}
        }
        out
    }

    pub fn into_files(self) -> Vec<File> {
        self.files().into_iter().cloned().collect()
    }
}

impl IpsecFiles {
    /// The files `ipsec --load` installs: strongSwan's, setkey's and the
    /// certificates.
    pub fn ipsec_files(&self) -> Vec<&File> {
        let mut out = Vec::new();
        if let Some(s) = &self.strongswan {
            out.extend([&s.swanctl, &s.conf]);
        }
        out.extend(&self.setkey);
        out.extend(&self.pki);
        out
    }
}

/// Every file of a FreeBSD host: its own and those of its jails.
pub fn host(site: &Site, host: &Host) -> Result<Vec<File>, RenderError> {
    host_files(site, host).map(HostFiles::into_files)
}

/// [`host`]'s files by what each is for.
pub fn host_files<'a>(site: &Site, host: &'a Host) -> Result<HostFiles<'a>, RenderError> {
    let rc_conf = File {
        path: "/etc/rc.conf.vpnjail".into(),
        mode: 0o644,
        content: rcconf::host(site, host)
            .text(&format!("host {}: merge into /etc/rc.conf", host.name))?,
        owner: Owner::Host,
    };
    let devfs_rules = jail::devfs_rules(site, host)?;
    let monitor = host.replicas().next().map(|_| File {
        path: RC_MONITOR_PATH.into(),
        mode: 0o755,
        content: RC_MONITOR.to_string(),
        owner: Owner::Host,
    });
    let pf = pf::host(site, host)?;
    let jails = host
        .jails
        .iter()
        .map(|j| Ok((j, jail::files(site, host, j)?)))
        .collect::<Result<_, RenderError>>()?;
    Ok(HostFiles {
        rc_conf,
        devfs_rules,
        monitor,
        pf,
        jails,
    })
}

/// The files `create JAIL` installs on FreeBSD: the jail's own, plus its jail.conf.
pub fn jail(site: &Site, host: &Host, j: &Jail) -> Result<Vec<File>, RenderError> {
    jail::files(site, host, j).map(JailFiles::into_files)
}
