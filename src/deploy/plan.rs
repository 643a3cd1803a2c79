//! Decides the steps that create or destroy a jail, or load a host's pf anchors
//! and IPsec configuration, on FreeBSD. May touch: nothing (it only builds
//! [`Plan`] values from the validated site and the rendered files).
//!
//! This is the FreeBSD backend. A Linux backend (network namespaces, veth,
//! nftables) adds a sibling module with the same four functions built from its
//! own `command::linux` constructors, chosen by the host's platform; the
//! executor, the dry-run printer, the recorder and rollback are shared.
//!
//! - [`linux`]: the Linux backend (namespaces, veth, nftables, daemons);
//! - [`roadwarrior`]: the Linux steps for road warriors (pools, routes, filter);
//! - [`wireguard`]: the Linux steps of a WireGuard client (wireguard-go, wg setconf, routes).

pub mod linux;
pub mod roadwarrior;
pub mod wireguard;

use super::command::{Action, Cmd, Guard, HEREDOC, Plan, Step, freebsd as fb};
use super::model::{Host, JailKind, LinkMode, Platform, Provision, Site, VpnClient};
use super::render::{self, File, Owner, RenderError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no jail {0:?} in the site")]
    UnknownJail(String),
    #[error("no host {0:?} in the site")]
    UnknownHost(String),
    #[error("host {0:?} has no ipsec jail")]
    NoIpsecJail(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    Invalid(String),
}

/// The host `jail` is acted on: `host` when given (which must hold it), else
/// the one host that holds it. A replicated vpn jail is on several hosts
/// (docs/ha.md), and naming none of them is refused rather than guessed.
pub fn locate<'a>(site: &'a Site, jail: &str, host: Option<&str>) -> Result<&'a Host, PlanError> {
    if let Some(h) = host {
        let host = site
            .host(h)
            .ok_or_else(|| PlanError::UnknownHost(h.to_string()))?;
        return match host.jail(jail) {
            Some(_) => Ok(host),
            None => Err(PlanError::Invalid(format!(
                "host {h:?} has no jail {jail:?}"
            ))),
        };
    }
    let holders: Vec<&Host> = site
        .hosts
        .iter()
        .filter(|h| h.jail(jail).is_some())
        .collect();
    match holders.as_slice() {
        [] => Err(PlanError::UnknownJail(jail.to_string())),
        [one] => Ok(one),
        many => Err(PlanError::Invalid(format!(
            "jail {jail:?} is replicated on hosts {}; name the one to act on with --host",
            many.iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(crate) fn write(f: &File) -> Result<Step, PlanError> {
    if f.content.lines().any(|l| l == HEREDOC) || !f.content.ends_with('\n') {
        return Err(PlanError::Invalid(format!(
            "{}: cannot be printed as a heredoc",
            f.path.display()
        )));
    }
    Ok(Step {
        what: format!("install {}", f.path.display()),
        guard: Guard::Always,
        action: Action::Write {
            path: f.path.clone(),
            mode: f.mode,
            content: f.content.clone(),
        },
        undo: vec![],
    })
}

pub(crate) fn run(what: impl Into<String>, guard: Guard, cmd: Cmd, undo: Vec<Cmd>) -> Step {
    Step {
        what: what.into(),
        guard,
        action: Action::Run(cmd),
        undo,
    }
}

/// The ZFS dataset for a jail cloned from `pool/ds@snap`: `pool/<jail>` beside `ds`.
pub fn zfs_dataset(snapshot: &str, jail: &str) -> String {
    let ds = snapshot.split('@').next().unwrap_or(snapshot);
    match ds.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{jail}"),
        None => format!("{ds}/{jail}"),
    }
}

fn conf(jail: &str) -> PathBuf {
    PathBuf::from(format!("/etc/jail.conf.d/{jail}.conf"))
}

const IPSEC_ANCHOR: &str = "vpnjail/ipsec";
pub use super::names::{VPNDNS_BIN, VPNJAIL_BIN};

/// `vpnjail create JAIL`: provision the root, install the jail's files, start
/// it, and (ipsec jail) load the host's rdr anchor for IKE. Every step is
/// guarded, so running it again changes nothing.
pub fn create(site: &Site, jail: &str, host: Option<&str>) -> Result<Plan, PlanError> {
    create_on(site, locate(site, jail, host)?, jail)
}

/// `create` on a given host: a replicated vpn jail is on several (docs/ha.md).
pub fn create_on(site: &Site, host: &Host, jail: &str) -> Result<Plan, PlanError> {
    let j = host
        .jail(jail)
        .ok_or_else(|| PlanError::UnknownJail(jail.into()))?;
    if host.platform == Platform::Linux {
        return Ok(Plan {
            title: format!(
                "vpnjail create {jail} (linux host {}, site {})",
                host.name, site.name
            ),
            steps: linux::create_steps(site, host, j)?,
        });
    }
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
    if let JailKind::Vpn(v) = &j.kind
        && matches!(v.client, VpnClient::OpenVpn(_))
    {
        // From the host, before the jail (and with it its kill switch) starts:
        // inside, only the tunnel leads out (platform.md: `pkg -r`).
        let pkg = render::openvpn::FREEBSD_PKG;
        steps.push(run(
            format!("install the {pkg} package into {}", root.display()),
            Guard::UnlessOk(fb::pkg_installed(&root, pkg)),
            fb::pkg_install(&root, pkg),
            vec![fb::pkg_delete(&root, pkg)],
        ));
    }
    for f in render::jail_files(site, host, jail)? {
        steps.push(write(&f)?);
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
    if let JailKind::Vpn(v) = &j.kind
        && let VpnClient::WireGuard(_) = v.client
    {
        // The kill switch loads when the jail starts: install the client
        // from the host before, into the root.
        steps.push(run(
            "install wireguard-tools into the jail root (pkg -r, before the kill switch loads)",
            Guard::UnlessOk(fb::test_exists(&root.join("usr/local/bin/wg-quick"))),
            fb::pkg_install_root(&root, "wireguard-tools"),
            vec![],
        ));
    }
    let mut host_anchor = None;
    if j.kind == JailKind::Ipsec {
        for f in render::host(site, &host.name)? {
            if f.owner == Owner::Jail(jail.to_string()) && f.path.starts_with("/etc/pf.vpnjail") {
                steps.push(write(&f)?);
                host_anchor = Some(f.path.clone());
            }
        }
    }
    steps.push(run(
        format!("start jail {jail}"),
        Guard::UnlessOk(fb::jail_running(jail)),
        fb::jail_create(&conf(jail), jail),
        vec![fb::jail_remove(&conf(jail), jail)],
    ));
    if let Some(file) = host_anchor {
        steps.push(run(
            format!("load the host anchor {IPSEC_ANCHOR} (IKE/NAT-T to {jail})"),
            Guard::Always,
            fb::pf_load(None, IPSEC_ANCHOR, &file),
            vec![fb::pf_flush(None, IPSEC_ANCHOR)],
        ));
    }
    Ok(Plan {
        title: format!(
            "vpnjail create {jail} (host {}, site {})",
            host.name, site.name
        ),
        steps,
    })
}

/// `vpnjail destroy JAIL`: flush its host anchor, stop it (its poststop
/// destroys the epair), remove a leftover epair, and remove its jail.conf.
/// The root filesystem is kept: it may hold data.
pub fn destroy(site: &Site, jail: &str, host: Option<&str>) -> Result<Plan, PlanError> {
    destroy_on(site, locate(site, jail, host)?, jail)
}

/// `destroy` on a given host.
pub fn destroy_on(site: &Site, host: &Host, jail: &str) -> Result<Plan, PlanError> {
    let j = host
        .jail(jail)
        .ok_or_else(|| PlanError::UnknownJail(jail.into()))?;
    if host.platform == Platform::Linux {
        return Ok(Plan {
            title: format!(
                "vpnjail destroy {jail} (linux host {}, site {})",
                host.name, site.name
            ),
            steps: linux::destroy_steps(site, host, j)?,
        });
    }
    let mut steps = Vec::new();
    if j.kind == JailKind::Ipsec {
        steps.push(run(
            format!("flush the host anchor {IPSEC_ANCHOR}"),
            Guard::Always,
            fb::pf_flush(None, IPSEC_ANCHOR),
            vec![fb::pf_load(
                None,
                IPSEC_ANCHOR,
                Path::new("/etc/pf.vpnjail/ipsec.conf"),
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
            what: "remove /etc/pf.vpnjail/ipsec.conf".into(),
            guard: Guard::Always,
            action: Action::Remove {
                path: "/etc/pf.vpnjail/ipsec.conf".into(),
            },
            undo: vec![],
        });
    }
    Ok(Plan {
        title: format!(
            "vpnjail destroy {jail} (host {}, site {})",
            host.name, site.name
        ),
        steps,
    })
}

/// `vpnjail pf --load`: install the host's pf files and load its anchors, and
/// reload the `vpnjail/dns` anchor inside each running vpn jail.
pub fn pf_load(site: &Site, host_name: &str) -> Result<Plan, PlanError> {
    let host = site
        .host(host_name)
        .ok_or_else(|| PlanError::UnknownHost(host_name.into()))?;
    if host.platform == Platform::Linux {
        return linux::nft_load(site, host);
    }
    let files = render::host(site, host_name)?;
    let mut steps = Vec::new();
    for f in files.iter().filter(|f| {
        f.path.starts_with("/etc/pf.vpnjail") || f.path == Path::new("/etc/pf.conf.vpnjail")
    }) {
        steps.push(write(f)?);
    }
    for (name, file) in render::pf_host_anchors(host) {
        let anchor = format!("vpnjail/{name}");
        steps.push(run(
            format!("load the host anchor {anchor}"),
            Guard::Always,
            fb::pf_load(None, &anchor, Path::new(&file)),
            vec![],
        ));
    }
    for j in &host.jails {
        if let JailKind::Vpn(_) = j.kind {
            let f = files
                .iter()
                .find(|f| {
                    f.owner == Owner::Jail(j.name.clone())
                        && f.path.ends_with("etc/pf.vpnjail/dns.conf")
                })
                .ok_or_else(|| {
                    PlanError::Invalid(format!("no pf anchor rendered for {}", j.name))
                })?;
            steps.push(write(f)?);
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

/// `vpnjail ipsec --load`: install the ipsec jail's IPsec files and load them
/// (swanctl --load-all and/or setkey -f) inside the running ipsec jail.
pub fn ipsec_load(site: &Site, host_name: &str) -> Result<Plan, PlanError> {
    let host = site
        .host(host_name)
        .ok_or_else(|| PlanError::UnknownHost(host_name.into()))?;
    let j = host
        .ipsec_jail()
        .ok_or_else(|| PlanError::NoIpsecJail(host_name.into()))?;
    if host.platform == Platform::Linux {
        return linux::ipsec_load(site, host, j);
    }
    let mut steps = vec![Step {
        what: format!(
            "ipsec jail {} is running (vpnjail create {} first)",
            j.name, j.name
        ),
        guard: Guard::Always,
        action: Action::Check(fb::jail_running(&j.name)),
        undo: vec![],
    }];
    for f in render::jail_files(site, host, &j.name)? {
        let p = f.path.to_string_lossy();
        if p.ends_with("swanctl.conf")
            || p.ends_with("strongswan.conf")
            || p.ends_with("/etc/ipsec.conf")
            || p.contains("/swanctl/x509")
            || p.contains("/swanctl/private/")
        {
            steps.push(write(&f)?);
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

fn hosts_of<'a>(site: &'a Site, host: Option<&str>) -> Result<Vec<&'a Host>, PlanError> {
    match host {
        None => Ok(site.hosts.iter().collect()),
        Some(h) => site
            .host(h)
            .map(|h| vec![h])
            .ok_or_else(|| PlanError::UnknownHost(h.into())),
    }
}

/// `vpnjail create --all [--host NAME]`: every jail of the host (or of every
/// host), in file order, as one plan, so a failure anywhere undoes it all. A
/// Linux host is brought up first (its namespace, bridge, table and routes).
pub fn create_all(site: &Site, host: Option<&str>) -> Result<Plan, PlanError> {
    let mut steps = Vec::new();
    for h in hosts_of(site, host)? {
        if h.platform == Platform::Linux {
            steps.extend(linux::host_up_steps(site, h)?);
        }
        for j in &h.jails {
            steps.extend(create_on(site, h, &j.name)?.steps);
        }
    }
    Ok(Plan {
        title: format!(
            "vpnjail create --all ({}, site {})",
            host.map_or("every host".to_string(), |h| format!("host {h}")),
            site.name
        ),
        steps,
    })
}

/// `vpnjail destroy --all [--host NAME]`: every jail in reverse order, then
/// (Linux) the host's table, bridge and namespace.
pub fn destroy_all(site: &Site, host: Option<&str>) -> Result<Plan, PlanError> {
    let mut steps = Vec::new();
    for h in hosts_of(site, host)?.into_iter().rev() {
        for j in h.jails.iter().rev() {
            steps.extend(destroy_on(site, h, &j.name)?.steps);
        }
        if h.platform == Platform::Linux {
            steps.extend(linux::host_down_steps(site, h));
        }
    }
    Ok(Plan {
        title: format!(
            "vpnjail destroy --all ({}, site {})",
            host.map_or("every host".to_string(), |h| format!("host {h}")),
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
