//! How each daemon of a Linux jail is started inside its namespace: vpndns,
//! OpenVPN, charon (and swanctl loading its config), the FRR daemons and the
//! link monitor, each under start-stop-daemon with its pidfile and log.
//! May touch: nothing (it only builds commands).

use super::{CHARON, FRR_DIR, logfile, p, pidfile};
use crate::deploy::command::{Cmd, linux as lx};
use crate::deploy::model::{Host, Jail, Site};
use crate::deploy::render::{self, linux as rl, openvpn};
use std::path::Path;

pub(super) fn vpndns_start(host: &Host, ns: &str, j: &Jail) -> Cmd {
    let conf = host.jail_path(&j.name).join(rl::VPNDNS_FILE);
    lx::daemon_start(
        ns,
        &[],
        &pidfile(host, &j.name, "vpndns"),
        &logfile(host, &j.name, "vpndns"),
        &host.vpndns_bin,
        &["-c".into(), p(&conf), "run".into()],
        false,
    )
}

/// Starts the jail's OpenVPN client (also `vpnjail monitor` in cold
/// standby, monitor/client.rs).
pub fn openvpn_start(host: &Host, ns: &str, j: &Jail) -> Cmd {
    lx::openvpn_start(
        ns,
        &format!("vpnjail-{}", j.name),
        &pidfile(host, &j.name, "openvpn"),
        &logfile(host, &j.name, "openvpn"),
        &host.jail_path(&j.name).join(openvpn::LINUX_CONF),
    )
}

pub(super) fn charon_start(host: &Host, ns: &str, j: &Jail) -> Cmd {
    let conf = host.jail_path(&j.name).join(rl::STRONGSWAN_FILE);
    lx::daemon_start(
        ns,
        &[format!("STRONGSWAN_CONF={}", p(&conf))],
        &pidfile(host, &j.name, "charon"),
        &logfile(host, &j.name, "charon"),
        Path::new(CHARON),
        &[],
        true,
    )
}

/// FRR's daemons, in start order: bfdd (with `[site] bfd`) before bgpd,
/// which registers its sessions' BFD peers through zebra.
pub fn frr_daemons(site: &Site) -> &'static [&'static str] {
    if site.bfd.is_some() {
        &["zebra", "bfdd", "bgpd"]
    } else {
        &["zebra", "bgpd"]
    }
}

/// `zebra`, `bfdd` or `bgpd` in the foreground under start-stop-daemon, with its
/// configuration, pid file, vty and zebra sockets in the jail's directory
/// (platform.md: `-N`, `--vty_socket`, `-z`).
pub fn frr_start(host: &Host, ns: &str, j: &Jail, daemon: &str) -> Cmd {
    let dir = host.jail_path(&j.name);
    let run_dir = dir.join(rl::FRR_RUN_DIR);
    let conf = match daemon {
        "bgpd" => rl::FRR_FILE,
        "bfdd" => rl::BFDD_FILE,
        _ => rl::ZEBRA_FILE,
    };
    lx::daemon_start(
        ns,
        &[],
        &pidfile(host, &j.name, daemon),
        &logfile(host, &j.name, daemon),
        &Path::new(FRR_DIR).join(daemon),
        &[
            "-N".into(),
            ns.into(),
            "-f".into(),
            p(&dir.join(conf)),
            "-i".into(),
            p(&run_dir.join(format!("{daemon}.pid"))),
            "--vty_socket".into(),
            p(&run_dir),
            "-z".into(),
            p(&run_dir.join("zserv.api")),
        ],
        false,
    )
}

pub(super) fn swanctl_load(site: &Site, host: &Host, j: &Jail) -> Cmd {
    let dir = host.jail_path(&j.name);
    if render::roadwarrior::needs_pki(site, host) {
        // The jail's directory is its swanctl directory: x509/, private/, ...
        return lx::swanctl_dir(
            Some(&site.jail_netns(host, j)),
            &dir.join(rl::STRONGSWAN_FILE),
            &dir,
            // --clear: a new CRL replaces the old one (docs/clients.md).
            vec!["--load-all".into(), "--clear".into()],
        );
    }
    lx::swanctl(
        Some(&site.jail_netns(host, j)),
        &dir.join(rl::STRONGSWAN_FILE),
        vec![
            "--load-all".into(),
            "--file".into(),
            p(&dir.join(rl::SWANCTL_FILE)),
        ],
    )
}

/// `vpnjail monitor` in the ipsec namespace under start-stop-daemon
/// (docs/ha.md): `bin` is the vpnjail binary, `site_file` the site file
/// it reads; pid file and log `monitor.pid`, `monitor.log` beside FRR's.
pub fn monitor_start(host: &Host, ns: &str, j: &Jail, bin: &Path, site_file: &Path) -> Cmd {
    lx::daemon_start(
        ns,
        &[],
        &pidfile(host, &j.name, "monitor"),
        &logfile(host, &j.name, "monitor"),
        bin,
        &[
            "-v".into(),
            "monitor".into(),
            "--site".into(),
            p(site_file),
            "--host".into(),
            host.name.clone(),
        ],
        false,
    )
}
