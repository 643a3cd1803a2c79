//! Entry points of the acting subcommands: build the plan, then print it or run
//! it through the one executor. May touch: the system, only via `exec::RealSystem`
//! and only when not in dry-run, as root, on the platform of the hosts acted on;
//! the host's resolver, for the provider host names the plan pins
//! (`provider::resolve`).

use super::command::Plan;
use super::exec::{self, RealSystem, StepResult};
use super::model::{Platform, Site};
use super::plan;
use super::provider::resolve::{self, Pinned, Resolver};
use std::io::Write;

/// What to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One jail; `host` names which copy of a replicated vpn jail (required
    /// for those, docs/ha.md).
    Create {
        jail: String,
        host: Option<String>,
    },
    Destroy {
        jail: String,
        host: Option<String>,
    },
    PfLoad {
        host: String,
    },
    IpsecLoad {
        host: String,
    },
    /// Every jail of one host (or of every host), Linux hosts brought up first.
    CreateAll {
        host: Option<String>,
    },
    DestroyAll {
        host: Option<String>,
    },
}

/// The platform a target acts on; a target spanning hosts of both is refused.
pub fn platform(site: &Site, t: &Target) -> Result<Platform, ApplyError> {
    let hosts: Vec<&crate::deploy::model::Host> = match t {
        Target::Create { jail, host } | Target::Destroy { jail, host } => {
            vec![plan::locate(site, jail, host.as_deref())?]
        }
        Target::PfLoad { host } | Target::IpsecLoad { host } => vec![
            site.host(host)
                .ok_or_else(|| plan::PlanError::UnknownHost(host.clone()))?,
        ],
        Target::CreateAll { host } | Target::DestroyAll { host } => match host {
            Some(h) => vec![
                site.host(h)
                    .ok_or_else(|| plan::PlanError::UnknownHost(h.clone()))?,
            ],
            None => site.hosts.iter().collect(),
        },
    };
    let mut ps: Vec<Platform> = hosts.iter().map(|h| h.platform).collect();
    ps.dedup();
    match ps.as_slice() {
        [p] => Ok(*p),
        [] => Err(ApplyError::Refused("the site has no hosts".into())),
        _ => Err(ApplyError::Refused(
            "these hosts are of different platforms; act on one host at a time (--host)".into(),
        )),
    }
}

pub fn build(site: &Site, t: &Target) -> Result<Plan, plan::PlanError> {
    match t {
        Target::Create { jail, host } => plan::create(site, jail, host.as_deref()),
        Target::Destroy { jail, host } => plan::destroy(site, jail, host.as_deref()),
        Target::PfLoad { host } => plan::pf_load(site, host),
        Target::IpsecLoad { host } => plan::ipsec_load(site, host),
        Target::CreateAll { host } => plan::create_all(site, host.as_deref()),
        Target::DestroyAll { host } => plan::destroy_all(site, host.as_deref()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error("{0}")]
    Refused(String),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// The site with the provider host names of the vpn jails `t` creates
/// resolved by `resolver` and pinned (`provider::resolve`), and what was
/// pinned. Every name that does not resolve is an error, all at once, and
/// nothing is created; destroying resolves nothing.
pub fn pinned(
    site: &Site,
    t: &Target,
    resolver: &Resolver,
) -> Result<(Site, Vec<Pinned>), ApplyError> {
    let on = |want: &Option<String>, h: &str| want.as_deref().is_none_or(|w| w == h);
    let want = |h: &str, j: &str| match t {
        Target::Create { jail, host } => j == jail && on(host, h),
        Target::CreateAll { host } => on(host, h),
        Target::PfLoad { host } => h == host,
        Target::Destroy { .. } | Target::DestroyAll { .. } | Target::IpsecLoad { .. } => false,
    };
    let resolved =
        resolve::resolve(site, &want, resolver).map_err(|e| ApplyError::Refused(e.join("\n")))?;
    Ok(resolve::pin(site, &resolved))
}

/// Prints the plan as shell (`dry_run`), or runs it on this machine, with
/// provider host names resolved by the host's resolver.
pub fn apply(
    site: &Site,
    t: &Target,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<(), ApplyError> {
    apply_with(site, t, dry_run, &resolve::system, out)
}

/// [`apply`] with the resolver given. A dry run resolves too (a lookup
/// changes nothing), so the plan it prints holds the addresses `create`
/// would pin now; `create` itself resolves again.
pub fn apply_with(
    site: &Site,
    t: &Target,
    dry_run: bool,
    resolver: &Resolver,
    out: &mut dyn Write,
) -> Result<(), ApplyError> {
    let (site, pins) = pinned(site, t, resolver)?;
    let site = &site;
    let p = build(site, t)?;
    let mut said = String::new();
    for pin in &pins {
        let (mark, what) = match dry_run {
            true => ("# ", "would pin"),
            false => ("", "pinned"),
        };
        said.push_str(&format!("{mark}{pin} ({what}, jail {})\n", pin.jail));
    }
    if dry_run {
        // After the `#!` line: the script stays pasteable.
        let shell = p.to_shell();
        let (bang, rest) = match shell.split_once('\n') {
            Some((b, r)) if b.starts_with("#!") => (format!("{b}\n"), r),
            _ => (String::new(), shell.as_str()),
        };
        out.write_all(format!("{bang}{said}{rest}").as_bytes())?;
        return Ok(());
    }
    let here = if cfg!(target_os = "freebsd") {
        Some(Platform::FreeBsd)
    } else if cfg!(target_os = "linux") {
        Some(Platform::Linux)
    } else {
        None
    };
    let want = platform(site, t)?;
    if here != Some(want) {
        return Err(ApplyError::Refused(format!(
            "acting on {0} hosts works on {0} only; use --dry-run to print the plan",
            match want {
                Platform::FreeBsd => "FreeBSD",
                Platform::Linux => "Linux",
            }
        )));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(ApplyError::Refused(
            "must run as root (or use --dry-run)".into(),
        ));
    }
    out.write_all(said.as_bytes())?;
    let results = exec::execute(&p, &mut RealSystem)?;
    for (st, r) in p.steps.iter().zip(results) {
        let mark = match r {
            StepResult::Done => "done",
            StepResult::Skipped => "already so",
        };
        writeln!(out, "{mark:>10}: {}", st.what)?;
    }
    Ok(())
}
