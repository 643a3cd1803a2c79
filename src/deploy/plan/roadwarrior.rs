//! The Linux steps for road warriors (docs/clients.md): in the ipsec
//! namespace the site's certificates, the pool's filter and the policy
//! routing that sends each full-tunnel client to its exit namespace; on the
//! host and in every other namespace the route for the pool back through the
//! ipsec namespace. It only decides, as a list of [`RwStep`]s that
//! `plan/linux.rs` turns into the plan's steps (so this file imports nothing
//! of the plan). May touch: nothing.

use crate::deploy::command::{Cmd, linux as lx};
use crate::deploy::model::{Host, Jail, Site};
use crate::deploy::render::{File, roadwarrior as rw};

/// One step to take, always (each is idempotent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RwStep {
    /// Install this rendered file.
    Write(File),
    /// Run a command; `undo` if a later step fails.
    Run {
        what: String,
        cmd: Cmd,
        undo: Vec<Cmd>,
    },
}

fn run(what: impl Into<String>, cmd: Cmd, undo: Vec<Cmd>) -> RwStep {
    RwStep::Run {
        what: what.into(),
        cmd,
        undo,
    }
}

/// The rule that keeps the pool's traffic to the main table's specific
/// routes (the bridge, the WAN) ahead of the clients' exit tables.
pub const MAIN_RULE_PREF: u32 = 100;
/// Client `i` (among its host's clients, file order) with an exit gets rule
/// priority and routing table `EXIT_BASE + i`: after charon's table 220,
/// before the main table's default route.
pub const EXIT_BASE: u32 = 1000;

fn ip_rule(ns: &str, args: &[String]) -> Cmd {
    let mut a = vec!["rule".to_string()];
    a.extend(args.iter().cloned());
    lx::ip(Some(ns), a)
}

/// `ip rule flush pref P` then `ip rule add pref P ...`: idempotent (a rule
/// added twice is refused by the kernel, and `ip rule` has no replace).
fn rule_steps(ns: &str, what: String, pref: u32, selector: &[String]) -> [RwStep; 2] {
    let flush = ip_rule(ns, &["flush".into(), "pref".into(), pref.to_string()]);
    let mut add = vec!["add".to_string(), "pref".into(), pref.to_string()];
    add.extend(selector.iter().cloned());
    [
        run(
            format!("remove an earlier rule {pref} in {ns}"),
            flush.clone(),
            vec![],
        ),
        run(what, ip_rule(ns, &add), vec![flush]),
    ]
}

/// The ipsec namespace's road-warrior steps, run before charon loads its
/// configuration: certificates (`pki`, as rendered), filter (`filter`, the
/// rendered road-warrior table), policy routing.
pub fn ipsec_steps(
    site: &Site,
    host: &Host,
    j: &Jail,
    pki: &[File],
    filter: Option<&File>,
) -> Vec<RwStep> {
    let ns = site.jail_netns(host, j);
    let mut steps: Vec<RwStep> = pki.iter().cloned().map(RwStep::Write).collect();
    let Some(pool) = host.client_pool else {
        return steps;
    };
    for a in libipsec_anchors(site, host, j) {
        steps.push(run(
            format!("anchor address {a} on lo: kernel-libipsec routes need a source in every local selector"),
            lx::addr_replace(Some(&ns), &format!("{a}/32"), "lo"),
            vec![],
        ));
    }
    if let Some(f) = filter {
        steps.push(RwStep::Write(f.clone()));
        steps.push(run(
            format!(
                "load nftables table {} (what road warriors may reach)",
                rw::NFT_TABLE
            ),
            lx::nft_load(Some(&ns), &f.path),
            vec![lx::nft_delete_table(Some(&ns), rw::NFT_TABLE)],
        ));
    }
    steps.extend(rule_steps(
        &ns,
        format!("the pool {pool} uses the main table's routes but its default"),
        MAIN_RULE_PREF,
        &[
            "from".into(),
            pool.to_string(),
            "lookup".into(),
            "main".into(),
            "suppress_prefixlength".into(),
            "0".into(),
        ],
    ));
    for (i, c) in site.clients_of(&host.name).enumerate() {
        let Some(exit) = c.exit.as_ref().and_then(|e| host.jail(e)) else {
            continue;
        };
        let t = (EXIT_BASE + i as u32).to_string();
        steps.push(run(
            format!(
                "table {t}: default route via {} ({})",
                exit.address, exit.name
            ),
            lx::ip(
                Some(&ns),
                [
                    "route",
                    "replace",
                    "default",
                    "via",
                    &exit.address.to_string(),
                    "table",
                    &t,
                ],
            ),
            vec![],
        ));
        steps.extend(rule_steps(
            &ns,
            format!(
                "client {} ({}) uses table {t}: the Internet via {}",
                c.name, c.address, exit.name
            ),
            EXIT_BASE + i as u32,
            &[
                "from".into(),
                format!("{}/32", c.address),
                "lookup".into(),
                t.clone(),
            ],
        ));
    }
    steps
}

/// The addresses the ipsec namespace holds on `lo` so that kernel-libipsec
/// can install a route for every selector pair of its children: it refuses a
/// child whose local selector holds none of the namespace's addresses. Those
/// selectors are the pool (a link's local side) and, for a split-tunnel
/// client, the WAN's other networks; each gets its network address, which
/// no host and no client ever has (check refuses it), so nothing else is
/// shadowed.
pub fn libipsec_anchors(site: &Site, host: &Host, j: &Jail) -> Vec<std::net::Ipv4Addr> {
    let mut nets: Vec<ipnet::Ipv4Net> = host.client_pool.into_iter().collect();
    if site.clients_of(&host.name).any(|c| c.exit.is_none()) {
        nets.extend(rw::wan(site));
    }
    let mut v: Vec<_> = nets
        .iter()
        .filter(|n| !n.contains(&j.address))
        .map(|n| n.network())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The pool's route through the ipsec namespace, in `ns` (the host's when
/// `None`); nothing on a host without a pool.
pub fn pool_route(host: &Host, ns: Option<&str>) -> Option<RwStep> {
    let (pool, ipsec) = (host.client_pool?, host.ipsec_jail()?);
    Some(run(
        format!(
            "route the client pool {pool} via the ipsec namespace {}",
            ipsec.address
        ),
        lx::route_replace(ns, &pool.to_string(), &ipsec.address.to_string()),
        vec![],
    ))
}
