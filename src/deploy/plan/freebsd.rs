//! The FreeBSD backend of the plans: a jail's create and destroy steps (its
//! root provisioned from a base archive, a shared root or a ZFS clone, its
//! files installed, `jail -c`/`jail -r`), and the reloads of a host's pf
//! anchors and of the ipsec jail's IPsec configuration. May touch: nothing
//! (it only builds steps from the validated site and the rendered files).

use super::{PlanError, run, write};
use crate::deploy::command::{Action, Guard, Plan, Step, freebsd as fb};
use crate::deploy::model::{Host, Jail, JailKind, LinkMode, Provision, Site, VpnClient};
use crate::deploy::names::VPNDNS_BIN;
use crate::deploy::render;
use crate::deploy::render::freebsd::{self as rf, KindFiles, jail::conf_path as conf, pf};
use std::path::Path;

/// The ZFS dataset for a jail cloned from `pool/ds@snap`: `pool/<jail>` beside `ds`.
pub fn zfs_dataset(snapshot: &str, jail: &str) -> String {
    let ds = snapshot.split('@').next().unwrap_or(snapshot);
    match ds.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{jail}"),
        None => format!("{ds}/{jail}"),
    }
}

/// The steps of `vpnjail create JAIL` on FreeBSD: provision the root, install
/// the jail's files, start it, and (ipsec jail) load the host's rdr anchor for
/// IKE. Every step is guarded, so running it again changes nothing.
pub fn create_steps(site: &Site, host: &Host, j: &Jail) -> Result<Vec<Step>, PlanError> {
    let jail = j.name.as_str();
    let root = host.jail_path(jail);
    let mut steps = vec![Step {
        what: format!(
            "bridge {} exists (apply etc/rc.conf.vpnjail from `vpnjail render` first)",
            host.bridge.name
        ),
        guard: Guard::Always,
        action: Action::Check(fb::if_exists(&host.bridge.name)),
        undo: vec![],
    }];
    match &host.provision {
        Provision::Base(archive) => {
            // Only a root this run made is ever removed again.
            steps.push(run(
                format!("create the jail root {}", root.display()),
                Guard::UnlessOk(fb::test_dir(&root)),
                fb::mkdir_p(&root),
                fb::remove_tree(&root),
            ));
            steps.push(run(
                format!("extract {} into the root", archive.display()),
                Guard::UnlessOk(fb::test_exists(&root.join("bin/sh"))),
                fb::tar_extract(archive, &root),
                vec![],
            ));
        }
        Provision::Shared => {}
        Provision::ZfsClone { snapshot } => {
            let ds = zfs_dataset(snapshot, jail);
            steps.push(run(
                format!("clone {snapshot} to {ds} mounted at {}", root.display()),
                Guard::UnlessOk(fb::zfs_exists(&ds)),
                fb::zfs_clone(snapshot, &ds, &root),
                vec![fb::zfs_destroy(&ds)],
            ));
        }
    }
    // The VPN client's package, from the host, before the jail (and with it
    // its kill switch) starts: inside, only the tunnel leads out
    // (platform.md: `pkg -r`).
    let client_pkg = match &j.kind {
        JailKind::Vpn(v) => match v.client {
            VpnClient::OpenVpn(_) => Some(render::openvpn::FREEBSD_PKG),
            VpnClient::WireGuard(_) => Some(render::wireguard::FREEBSD_PKG),
            VpnClient::Own => None,
        },
        _ => None,
    };
    if let Some(pkg) = client_pkg {
        steps.push(run(
            format!("install the {pkg} package into {}", root.display()),
            Guard::UnlessOk(fb::pkg_installed(&root, pkg)),
            fb::pkg_install(&root, pkg),
            vec![fb::pkg_delete(&root, pkg)],
        ));
    }
    for f in rf::jail::files(site, host, j)?.files() {
        steps.push(write(f)?);
    }
    if j.kind == JailKind::Vpndns {
        // The rc.d script runs /usr/local/sbin/vpndns inside the jail: copy the
        // host's binary (built with vpnjail) into the jail root.
        let dst = root.join(VPNDNS_BIN.trim_start_matches('/'));
        let src = Path::new(VPNDNS_BIN);
        if let Some(dir) = dst.parent() {
            steps.push(run(
                format!("create {}", dir.display()),
                Guard::UnlessOk(fb::test_dir(dir)),
                fb::mkdir_p(dir),
                vec![],
            ));
        }
        steps.push(run(
            format!("install the host's {VPNDNS_BIN} into the jail"),
            Guard::UnlessOk(fb::same_file(src, &dst)),
            fb::install(0o555, src, &dst),
            vec![fb::rm_f(&dst)],
        ));
    }
    // The ipsec jail's anchor on the host: IKE/NAT-T to it.
    let host_anchor = match j.kind {
        JailKind::Ipsec => pf::host(site, host)?.ipsec,
        _ => None,
    };
    if let Some(f) = &host_anchor {
        steps.push(write(f)?);
    }
    steps.push(run(
        format!("start jail {jail}"),
        Guard::UnlessOk(fb::jail_running(jail)),
        fb::jail_create(&conf(jail), jail),
        vec![fb::jail_remove(&conf(jail), jail)],
    ));
    if let Some(f) = host_anchor {
        steps.push(run(
            format!(
                "load the host anchor {} (IKE/NAT-T to {jail})",
                pf::IPSEC_ANCHOR
            ),
            Guard::Always,
            fb::pf_load(None, pf::IPSEC_ANCHOR, &f.path),
            vec![fb::pf_flush(None, pf::IPSEC_ANCHOR)],
        ));
    }
    Ok(steps)
}

/// The steps of `vpnjail destroy JAIL` on FreeBSD: flush its host anchor, stop
/// it (its poststop destroys the epair), remove a leftover epair, and remove its
/// jail.conf. The root filesystem is kept: it may hold data.
pub fn destroy_steps(_site: &Site, host: &Host, j: &Jail) -> Result<Vec<Step>, PlanError> {
    let jail = j.name.as_str();
    let mut steps = Vec::new();
    if j.kind == JailKind::Ipsec {
        steps.push(run(
            format!("flush the host anchor {}", pf::IPSEC_ANCHOR),
            Guard::Always,
            fb::pf_flush(None, pf::IPSEC_ANCHOR),
            vec![fb::pf_load(
                None,
                pf::IPSEC_ANCHOR,
                Path::new(pf::IPSEC_ANCHOR_FILE),
            )],
        ));
    }
    steps.push(run(
        format!("stop jail {jail}"),
        Guard::IfOk(fb::jail_running(jail)),
        fb::jail_remove(&conf(jail), jail),
        vec![fb::jail_create(&conf(jail), jail)],
    ));
    let ea = j.epair_host();
    steps.push(run(
        format!(
            "destroy a leftover epair {ea} (leaves bridge {})",
            host.bridge.name
        ),
        Guard::IfOk(fb::if_exists(&ea)),
        fb::if_destroy(&ea),
        vec![],
    ));
    steps.push(Step {
        what: format!("remove {}", conf(jail).display()),
        guard: Guard::Always,
        action: Action::Remove { path: conf(jail) },
        undo: vec![],
    });
    if j.kind == JailKind::Ipsec {
        steps.push(Step {
            what: format!("remove {}", pf::IPSEC_ANCHOR_FILE),
            guard: Guard::Always,
            action: Action::Remove {
                path: pf::IPSEC_ANCHOR_FILE.into(),
            },
            undo: vec![],
        });
    }
    Ok(steps)
}

/// `vpnjail pf --load` on FreeBSD: install the host's pf files and load its
/// anchors, and reload the `vpnjail/dns` anchor inside each running vpn jail.
pub fn pf_load(site: &Site, host: &Host) -> Result<Plan, PlanError> {
    let host_name = host.name.as_str();
    let files = rf::host_files(site, host)?;
    let mut steps = Vec::new();
    // The host's pf.conf fragment and its anchors.
    for f in files.pf.files() {
        steps.push(write(f)?);
    }
    for (anchor, f) in files.pf.anchors() {
        steps.push(run(
            format!("load the host anchor {anchor}"),
            Guard::Always,
            fb::pf_load(None, anchor, &f.path),
            vec![],
        ));
    }
    for (j, jf) in &files.jails {
        if let KindFiles::Vpn(v) = &jf.kind {
            steps.push(write(&v.dns_anchor)?);
            steps.push(run(
                format!(
                    "load vpnjail/dns inside vpn jail {} (seed steps 2 and 5)",
                    j.name
                ),
                Guard::IfOk(fb::jail_running(&j.name)),
                fb::pf_load(
                    Some(&j.name),
                    "vpnjail/dns",
                    Path::new(render::VPN_ANCHOR_FILE),
                ),
                vec![],
            ));
        }
    }
    Ok(Plan {
        title: format!("vpnjail pf --load (host {host_name}, site {})", site.name),
        steps,
    })
}

/// `vpnjail ipsec --load` on FreeBSD: install the ipsec jail's IPsec files and
/// load them (swanctl --load-all and/or setkey -f) inside the running ipsec jail.
pub fn ipsec_load(site: &Site, host: &Host, j: &Jail) -> Result<Plan, PlanError> {
    let host_name = host.name.as_str();
    let mut steps = vec![Step {
        what: format!(
            "ipsec jail {} is running (vpnjail create {} first)",
            j.name, j.name
        ),
        guard: Guard::Always,
        action: Action::Check(fb::jail_running(&j.name)),
        undo: vec![],
    }];
    if let KindFiles::Ipsec(i) = rf::jail::files(site, host, j)?.kind {
        for f in i.ipsec_files() {
            steps.push(write(f)?);
        }
    }
    let ends = site.link_ends(host);
    if ends
        .iter()
        .any(|e| matches!(e.link.mode, LinkMode::Setkey { .. }))
    {
        steps.push(run(
            "load the static SAs",
            Guard::Always,
            fb::setkey_load(&j.name, Path::new(render::SETKEY_CONF)),
            vec![],
        ));
    }
    if host.client_pool.is_some()
        || ends
            .iter()
            .any(|e| matches!(e.link.mode, LinkMode::Swanctl { .. }))
    {
        steps.push(run(
            "load strongSwan connections and secrets",
            Guard::Always,
            if render::roadwarrior::needs_pki(site, host) {
                fb::swanctl_reload_all(&j.name)
            } else {
                fb::swanctl_load_all(&j.name)
            },
            vec![],
        ));
    }
    Ok(Plan {
        title: format!(
            "vpnjail ipsec --load (host {host_name}, site {})",
            site.name
        ),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zfs_dataset_is_a_sibling_of_the_snapshot_dataset() {
        assert_eq!(
            zfs_dataset("zroot/jails/base@clean", "vpnus"),
            "zroot/jails/vpnus"
        );
        assert_eq!(zfs_dataset("tank/base@s", "x"), "tank/x");
    }
}
