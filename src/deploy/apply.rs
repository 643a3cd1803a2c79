//! Entry points of the acting subcommands: build the plan, then print it or run
//! it through the one executor. May touch: the system, only via `exec::RealSystem`
//! and only when not in dry-run, as root, on FreeBSD.

use super::command::Plan;
use super::exec::{self, RealSystem, StepResult};
use super::model::Site;
use super::plan;
use std::io::Write;

/// What to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Create(String),
    Destroy(String),
    PfLoad { host: String },
    IpsecLoad { host: String },
}

pub fn build(site: &Site, t: &Target) -> Result<Plan, plan::PlanError> {
    match t {
        Target::Create(j) => plan::create(site, j),
        Target::Destroy(j) => plan::destroy(site, j),
        Target::PfLoad { host } => plan::pf_load(site, host),
        Target::IpsecLoad { host } => plan::ipsec_load(site, host),
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

/// Prints the plan as shell (`dry_run`), or runs it on this machine.
pub fn apply(
    site: &Site,
    t: &Target,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<(), ApplyError> {
    let p = build(site, t)?;
    if dry_run {
        out.write_all(p.to_shell().as_bytes())?;
        return Ok(());
    }
    if !cfg!(target_os = "freebsd") {
        return Err(ApplyError::Refused(
            "this backend acts on FreeBSD only; use --dry-run to print the plan".into(),
        ));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(ApplyError::Refused(
            "must run as root (or use --dry-run)".into(),
        ));
    }
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
