//! The Linux steps for road warriors (docs/clients.md): in the ipsec
//! namespace the site's certificates, the pool's filter and the policy
//! routing that sends each full-tunnel client to its exit namespace; on the
//! host and in every other namespace the route for the pool back through the
//! ipsec namespace. May touch: nothing (it only builds steps).

use super::{PlanError, run, write};
use crate::deploy::command::{Cmd, Guard, Step, linux as lx};
use crate::deploy::model::{Host, Jail, Site};
use crate::deploy::render::{self, roadwarrior as rw};

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
fn rule_steps(ns: &str, what: String, pref: u32, selector: &[String]) -> [Step; 2] {
    let flush = ip_rule(ns, &["flush".into(), "pref".into(), pref.to_string()]);
    let mut add = vec!["add".to_string(), "pref".into(), pref.to_string()];
    add.extend(selector.iter().cloned());
    [
        run(
            format!("remove an earlier rule {pref} in {ns}"),
            Guard::Always,
            flush.clone(),
            vec![],
        ),
        run(what, Guard::Always, ip_rule(ns, &add), vec![flush]),
    ]
}

/// The ipsec namespace's road-warrior steps, run before charon loads its
/// configuration: certificates, filter, policy routing.
pub fn ipsec_steps(
    site: &Site,
    host: &Host,
    j: &Jail,
    files: &[render::File],
) -> Result<Vec<Step>, PlanError> {
    let ns = site.jail_netns(host, j);
    let mut steps = Vec::new();
    let dir = host.jail_path(&j.name);
    for f in files {
        let under = |d: &str| f.path.starts_with(dir.join(d));
        if ["x509", "x509ca", "x509crl", "private"]
            .into_iter()
            .any(under)
        {
            steps.push(write(f)?);
        }
    }
    let Some(pool) = host.client_pool else {
        return Ok(steps);
    };
    if let Some(f) = files.iter().find(|f| f.path == dir.join(rw::NFT_FILE)) {
        steps.push(write(f)?);
        steps.push(run(
            format!(
                "load nftables table {} (what road warriors may reach)",
                rw::NFT_TABLE
            ),
            Guard::Always,
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
            Guard::Always,
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
    Ok(steps)
}

/// The pool's route through the ipsec namespace, in `ns` (the host's when
/// `None`); nothing on a host without a pool.
pub fn pool_route(host: &Host, ns: Option<&str>) -> Option<Step> {
    let (pool, ipsec) = (host.client_pool?, host.ipsec_jail()?);
    Some(run(
        format!(
            "route the client pool {pool} via the ipsec namespace {}",
            ipsec.address
        ),
        Guard::Always,
        lx::route_replace(ns, &pool.to_string(), &ipsec.address.to_string()),
        vec![],
    ))
}
