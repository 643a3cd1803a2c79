//! `vpnjail tunnel-up`: what happens when a vpn jail's tunnel comes up
//! (OpenVPN's `--route-up` hook). The DNS the tunnel pushed becomes the
//! target of seed step 5 and the only resolver its kill switch lets through,
//! unless the site names `provider_dns` (which wins). Decides here, acts as a
//! plan through the one executor. May touch: nothing (it only builds plans).

use super::command::{Guard, Plan, linux as lx};
use super::model::{JailKind, Platform, Site};
use super::plan::{PlanError, run, write};
use super::render::{File, Owner, killswitch};
use std::net::Ipv4Addr;

/// What `tunnel-up` decided: the DNS now in use, what to say, what to do.
#[derive(Debug)]
pub struct TunnelUp {
    /// The DNS servers step 5 and the kill switch now lead to.
    pub dns: Vec<Ipv4Addr>,
    /// One line for the client's log: which DNS the tunnel pushed and which is used.
    pub message: String,
    pub plan: Plan,
}

/// Decides what the tunnel of vpn jail `jail` (on `host`, or wherever it
/// is) coming up with `pushed` DNS servers changes.
pub fn up(
    site: &Site,
    host: Option<&str>,
    jail: &str,
    pushed: &[Ipv4Addr],
) -> Result<TunnelUp, PlanError> {
    let (h, j) = match host {
        Some(hn) => {
            let h = site
                .host(hn)
                .ok_or_else(|| PlanError::Invalid(format!("no host {hn:?} in the site")))?;
            let j = h
                .jail(jail)
                .ok_or_else(|| PlanError::Invalid(format!("no jail {jail:?} on host {hn:?}")))?;
            (h, j)
        }
        None => site
            .jail(jail)
            .ok_or_else(|| PlanError::Invalid(format!("no jail {jail:?} in the site")))?,
    };
    let JailKind::Vpn(v) = &j.kind else {
        return Err(PlanError::Invalid(format!("{jail:?} is not a vpn jail")));
    };
    if h.platform != Platform::Linux {
        return Err(PlanError::Invalid(
            "tunnel-up acts on Linux hosts; a FreeBSD jail runs /usr/local/libexec/vpnjail-route-up"
                .into(),
        ));
    }
    let shown = |d: &[Ipv4Addr]| {
        if d.is_empty() {
            "none".to_string()
        } else {
            d.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut plan = Plan {
        title: format!(
            "vpnjail tunnel-up {jail} (host {}, site {})",
            h.name, site.name
        ),
        steps: Vec::new(),
    };
    if let Some(p) = v.provider_dns {
        return Ok(TunnelUp {
            dns: vec![p],
            message: format!(
                "vpn jail {jail}: tunnel {} up; DNS pushed by the provider: {}; using provider_dns {p} (the site file wins)",
                v.tun,
                shown(pushed)
            ),
            plan,
        });
    }
    let ns = site.jail_netns(h, j);
    let file = File {
        path: h.jail_path(&j.name).join(killswitch::TUNNEL_FILE),
        mode: 0o644,
        content: killswitch::tunnel_nft(site, h, j, v, pushed)?,
        owner: Owner::Jail(j.name.clone()),
    };
    plan.steps.push(write(&file)?);
    plan.steps.push(run(
        format!(
            "load nftables table {} in {ns} (DNS: {})",
            killswitch::TUNNEL_TABLE,
            shown(pushed)
        ),
        Guard::Always,
        lx::nft_load(Some(&ns), &file.path),
        vec![],
    ));
    let message = if pushed.is_empty() {
        format!(
            "vpn jail {jail}: tunnel {} up; the provider pushed no DNS: DNS through it stays blocked (set provider_dns)",
            v.tun
        )
    } else {
        format!(
            "vpn jail {jail}: tunnel {} up; DNS pushed by the provider: {}",
            v.tun,
            shown(pushed)
        )
    };
    Ok(TunnelUp {
        dns: pushed.to_vec(),
        message,
        plan,
    })
}
