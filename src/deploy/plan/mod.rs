//! Decides the steps that create or destroy a jail, or load a host's firewall
//! and IPsec configuration, and dispatches on the host's platform. May touch:
//! nothing (it only builds [`Plan`] values from the validated site and the
//! rendered files).
//!
//! The backends build their steps from their own `command` constructors; the
//! executor, the dry-run printer, the recorder and rollback are shared. This
//! file holds what both share: the errors, finding the host of a jail, the
//! step helpers, the plan titles and the `--all` plans.
//!
//! - [`freebsd`]: the FreeBSD backend (VNET jails, epairs, pf anchors, setkey/swanctl);
//! - [`linux`]: the Linux backend (namespaces, veth, nftables, daemons);
//! - [`roadwarrior`]: the Linux steps for road warriors (pools, routes, filter);
//! - [`wireguard`]: the Linux steps of a WireGuard client (wireguard-go, wg setconf, routes).

pub mod freebsd;
pub mod linux;
pub mod roadwarrior;
pub mod wireguard;

use super::command::{Action, Cmd, Guard, HEREDOC, Plan, Step};
use super::model::{Host, Platform, Site};
use super::render::{File, RenderError};

pub use super::names::{VPNDNS_BIN, VPNJAIL_BIN};
pub use freebsd::zfs_dataset;

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

/// `vpnjail create JAIL`: provision the root, install the jail's files, start
/// it, and (ipsec jail) load the host's rdr anchor for IKE. Every step is
/// guarded, so running it again changes nothing.
pub fn create(site: &Site, jail: &str, host: Option<&str>) -> Result<Plan, PlanError> {
    create_on(site, locate(site, jail, host)?, jail)
}

/// What a plan's title calls the host: FreeBSD is the default.
fn host_label(host: &Host) -> &'static str {
    match host.platform {
        Platform::Linux => "linux host",
        Platform::FreeBsd => "host",
    }
}

/// `create` on a given host: a replicated vpn jail is on several (docs/ha.md).
pub fn create_on(site: &Site, host: &Host, jail: &str) -> Result<Plan, PlanError> {
    let j = host
        .jail(jail)
        .ok_or_else(|| PlanError::UnknownJail(jail.into()))?;
    let steps = match host.platform {
        Platform::Linux => linux::create_steps(site, host, j)?,
        Platform::FreeBsd => freebsd::create_steps(site, host, j)?,
    };
    Ok(Plan {
        title: format!(
            "vpnjail create {jail} ({} {}, site {})",
            host_label(host),
            host.name,
            site.name
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
    let steps = match host.platform {
        Platform::Linux => linux::destroy_steps(site, host, j)?,
        Platform::FreeBsd => freebsd::destroy_steps(site, host, j)?,
    };
    Ok(Plan {
        title: format!(
            "vpnjail destroy {jail} ({} {}, site {})",
            host_label(host),
            host.name,
            site.name
        ),
        steps,
    })
}

/// `vpnjail pf --load` (`nft --load` on Linux): install the host's firewall
/// files and load its anchors or tables, and those of each running vpn jail.
pub fn pf_load(site: &Site, host_name: &str) -> Result<Plan, PlanError> {
    let host = site
        .host(host_name)
        .ok_or_else(|| PlanError::UnknownHost(host_name.into()))?;
    match host.platform {
        Platform::Linux => linux::nft_load(site, host),
        Platform::FreeBsd => freebsd::pf_load(site, host),
    }
}

/// `vpnjail ipsec --load`: install the ipsec jail's IPsec files and load them
/// into its running IKE daemon (and setkey's static SAs on FreeBSD).
pub fn ipsec_load(site: &Site, host_name: &str) -> Result<Plan, PlanError> {
    let host = site
        .host(host_name)
        .ok_or_else(|| PlanError::UnknownHost(host_name.into()))?;
    let j = host
        .ipsec_jail()
        .ok_or_else(|| PlanError::NoIpsecJail(host_name.into()))?;
    match host.platform {
        Platform::Linux => linux::ipsec_load(site, host, j),
        Platform::FreeBsd => freebsd::ipsec_load(site, host, j),
    }
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
