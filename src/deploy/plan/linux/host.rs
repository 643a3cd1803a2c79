//! A Linux host's own steps, outside any jail: bringing it up (its
//! namespace, the bridge, forwarding, its nftables table, the routes to the
//! other hosts) and down again. May touch: nothing (it only builds plans).

use super::{PlanError, p, remove, rmdir, run, rw_steps, write};
use crate::deploy::command::{Cmd, Guard, Step, linux as lx};
use crate::deploy::model::{Host, Site};
use crate::deploy::render::linux as rl;

/// Brings a host up: its namespace (when it has one), the bridge with the
/// host's address, forwarding, its nftables table and routes to the other
/// hosts' bridge networks through the ipsec namespace.
pub fn host_up_steps(site: &Site, host: &Host) -> Result<Vec<Step>, PlanError> {
    let hns = host.netns.as_deref();
    let br = &host.bridge.name;
    let mut steps = Vec::new();
    if let Some(n) = hns {
        steps.push(run(
            format!("create the host's network namespace {n}"),
            Guard::UnlessOk(lx::netns_exists(n)),
            lx::netns_add(n),
            vec![lx::netns_del(n)],
        ));
        steps.push(run(
            "bring up its loopback",
            Guard::Always,
            lx::link_up(hns, "lo"),
            vec![],
        ));
    }
    steps.push(run(
        format!("create {}", host.jail_root.display()),
        Guard::UnlessOk(Cmd::new("test", vec!["-d".into(), p(&host.jail_root)])),
        Cmd::new("mkdir", vec!["-p".into(), p(&host.jail_root)]),
        vec![rmdir(&host.jail_root)],
    ));
    steps.push(run(
        format!("create bridge {br}"),
        Guard::UnlessOk(lx::link_exists(hns, br)),
        lx::bridge_add(hns, br, &site.bridge_mac(host, br)),
        vec![lx::link_del(hns, br)],
    ));
    steps.push(run(
        format!("address {} on {br}", host.bridge.address),
        Guard::Always,
        lx::addr_replace(
            hns,
            &format!(
                "{}/{}",
                host.bridge.address,
                host.bridge.network.prefix_len()
            ),
            br,
        ),
        vec![],
    ));
    steps.push(run(
        format!("bring up {br}"),
        Guard::Always,
        lx::link_up(hns, br),
        vec![],
    ));
    if let Some(a) = site
        .anycast
        .as_ref()
        .filter(|_| host.replicas().next().is_some())
    {
        let abr = &a.bridge;
        steps.push(run(
            format!("create the anycast bridge {abr} (no address: docs/ha.md)"),
            Guard::UnlessOk(lx::link_exists(hns, abr)),
            lx::bridge_add(hns, abr, &site.bridge_mac(host, abr)),
            vec![lx::link_del(hns, abr)],
        ));
        steps.push(run(
            format!("bring up {abr}"),
            Guard::Always,
            lx::link_up(hns, abr),
            vec![],
        ));
    }
    steps.push(run(
        "enable forwarding",
        Guard::Always,
        lx::forwarding_on(hns),
        vec![],
    ));
    let nft = rl::host_files(site, host)?.nft;
    steps.push(write(&nft)?);
    let table = site.host_nft_table(host);
    steps.push(run(
        format!(
            "load nftables table {table} (NAT out of {}, IKE to the ipsec namespace)",
            host.external_if
        ),
        Guard::Always,
        lx::nft_load(hns, &nft.path),
        vec![lx::nft_delete_table(hns, &table)],
    ));
    if let Some(ipsec) = host.ipsec_jail() {
        for net in site
            .remote_hosts(host)
            .iter()
            .flat_map(|h| h.wan_networks())
        {
            let net = net.to_string();
            steps.push(run(
                format!("route {net} via the ipsec namespace {}", ipsec.address),
                Guard::Always,
                lx::route_replace(hns, &net, &ipsec.address.to_string()),
                vec![],
            ));
        }
        if let Some(a) = &site.anycast {
            let net = a.network.to_string();
            steps.push(run(
                format!(
                    "route the anycast network {net} via the ipsec namespace {}",
                    ipsec.address
                ),
                Guard::Always,
                lx::route_replace(hns, &net, &ipsec.address.to_string()),
                vec![],
            ));
        }
    }
    steps.extend(rw_steps(crate::deploy::plan::roadwarrior::pool_route(
        host, hns,
    ))?);
    Ok(steps)
}

/// Takes a host down: its table, its bridge, its namespace.
pub fn host_down_steps(site: &Site, host: &Host) -> Vec<Step> {
    let hns = host.netns.as_deref();
    let br = &host.bridge.name;
    let table = site.host_nft_table(host);
    let mut steps = vec![
        run(
            format!("delete nftables table {table}"),
            Guard::IfOk(lx::nft_table_exists(hns, &table)),
            lx::nft_delete_table(hns, &table),
            vec![lx::nft_load(hns, &rl::host_nft_path(host))],
        ),
        run(
            format!("delete bridge {br}"),
            Guard::IfOk(lx::link_exists(hns, br)),
            lx::link_del(hns, br),
            vec![],
        ),
    ];
    if let Some(a) = site
        .anycast
        .as_ref()
        .filter(|_| host.replicas().next().is_some())
    {
        steps.push(run(
            format!("delete the anycast bridge {}", a.bridge),
            Guard::IfOk(lx::link_exists(hns, &a.bridge)),
            lx::link_del(hns, &a.bridge),
            vec![],
        ));
    }
    if let Some(n) = hns {
        steps.push(run(
            format!("delete the host's network namespace {n}"),
            Guard::IfOk(lx::netns_exists(n)),
            lx::netns_del(n),
            vec![],
        ));
    }
    steps.push(remove(rl::host_nft_path(host)));
    steps.push(run(
        format!("remove the directory {} if empty", host.jail_root.display()),
        Guard::IfOk(Cmd::new("test", vec!["-d".into(), p(&host.jail_root)])),
        rmdir(&host.jail_root),
        vec![],
    ));
    steps
}
