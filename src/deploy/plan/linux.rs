//! The Linux backend of the plans: a network namespace per jail, a veth pair
//! per jail with its host end on the host's Linux bridge, nftables tables in
//! place of the pf anchors, vpndns and charon as processes inside their
//! namespaces (pidfiles, started and stopped with start-stop-daemon). The
//! steps go through the same executor as FreeBSD's, with the same guards and
//! undo. May touch: nothing (it only builds plans).
//!
//! This file builds a jail's create and destroy steps and the reload plans;
//!
//! - `daemons`: how each daemon is started in its namespace;
//! - `host`: a host's own steps, bringing it up and down.

use super::{PlanError, run, write};
use crate::deploy::command::{Action, Cmd, Guard, Plan, Step, linux as lx};
use crate::deploy::model::{Host, Jail, JailKind, LinkMode, Site, Standby, Vpn, VpnClient};
use crate::deploy::render::linux::{ClientFiles, IpsecFiles, NsFiles};
use crate::deploy::render::{self, killswitch, linux as rl, openvpn};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use crate::deploy::names::{CHARON, FRR_DIR, LIBIPSEC_IF};

mod daemons;
mod host;

use daemons::{charon_start, swanctl_load, vpndns_start};
pub use daemons::{frr_daemons, frr_start, monitor_start, openvpn_start};
pub use host::{host_down_steps, host_up_steps};

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Where the pidfile and the output of a jail's daemon go.
pub fn pidfile(host: &Host, jail: &str, daemon: &str) -> PathBuf {
    host.jail_path(jail).join(format!("{daemon}.pid"))
}
fn logfile(host: &Host, jail: &str, daemon: &str) -> PathBuf {
    host.jail_path(jail).join(format!("{daemon}.log"))
}

fn check(what: impl Into<String>, cmd: Cmd) -> Step {
    Step {
        what: what.into(),
        guard: Guard::Always,
        action: Action::Check(cmd),
        undo: vec![],
    }
}

fn remove(path: PathBuf) -> Step {
    Step {
        what: format!("remove {}", path.display()),
        guard: Guard::Always,
        action: Action::Remove { path },
        undo: vec![],
    }
}

fn mkdir(dir: &Path, undo_rm: bool) -> Step {
    run(
        format!("create {}", dir.display()),
        Guard::UnlessOk(Cmd::new("test", vec!["-d".into(), p(dir)])),
        Cmd::new("mkdir", vec!["-p".into(), p(dir)]),
        if undo_rm {
            vec![Cmd::new("rm", vec!["-rf".into(), p(dir)])]
        } else {
            vec![]
        },
    )
}

/// A file the jail's kind needs and render left out.
fn missing(name: &str) -> PlanError {
    PlanError::Invalid(format!("no {name} was rendered"))
}

/// An ipsec namespace's files, with the swanctl.conf strongSwan needs.
fn swanctl_files(f: &NsFiles) -> Result<(&IpsecFiles, &render::File), PlanError> {
    match f {
        NsFiles::Ipsec(i) => Ok((
            i,
            i.swanctl
                .as_ref()
                .ok_or_else(|| missing(rl::SWANCTL_FILE))?,
        )),
        _ => Err(missing(rl::STRONGSWAN_FILE)),
    }
}

/// The road-warrior decisions (plan/roadwarrior.rs) as steps of the plan.
fn rw_steps(
    v: impl IntoIterator<Item = super::roadwarrior::RwStep>,
) -> Result<Vec<Step>, PlanError> {
    use super::roadwarrior::RwStep;
    v.into_iter()
        .map(|s| match s {
            RwStep::Write(f) => write(&f),
            RwStep::Run { what, cmd, undo } => Ok(run(what, Guard::Always, cmd, undo)),
        })
        .collect()
}

/// With BGP, each strongSwan link's inner /32 on ipsec0 with the peer's inner
/// address as its point-to-point peer: the BGP session runs between the two
/// (a connected neighbour, as over FreeBSD's if_ipsec), and BGP's routes via
/// the peer's inner address enter the tunnel. With road warriors, their
/// pool's route into ipsec0 too. charon creates ipsec0 when it starts,
/// before its vici socket answers the load above.
pub fn inner_address_steps(site: &Site, host: &Host, ns: &str) -> Vec<Step> {
    let nsr = Some(ns);
    let mut steps = Vec::new();
    for e in site.link_ends(host) {
        if !matches!(e.link.mode, LinkMode::Swanctl { .. }) {
            continue;
        }
        let (l, r) = (e.local_inner().to_string(), e.remote_inner().to_string());
        steps.push(run(
            format!(
                "inner address {l} (peer {r}, {}) on {LIBIPSEC_IF}",
                e.peer.name
            ),
            Guard::Always,
            lx::addr_replace_peer(nsr, &l, &r, LIBIPSEC_IF),
            vec![],
        ));
    }
    if !steps.is_empty() || host.client_pool.is_some() {
        steps.push(run(
            format!("bring up {LIBIPSEC_IF}"),
            Guard::Always,
            lx::link_up(nsr, LIBIPSEC_IF),
            vec![],
        ));
    }
    if let Some(pool) = host.client_pool {
        // With BGP, charon's table 220 comes after the main table
        // (strongswan.conf), whose default route would send the clients'
        // traffic back to the host: the pool goes into the TUN device in
        // the main table, where kernel-libipsec picks the client's SA by its
        // selectors. It is also the route FRR's import check needs to
        // advertise the pool (frr.conf).
        let pool = pool.to_string();
        steps.push(run(
            format!("route the client pool {pool} into {LIBIPSEC_IF}"),
            Guard::Always,
            lx::ip(nsr, ["route", "replace", &pool, "dev", LIBIPSEC_IF]),
            vec![],
        ));
    }
    steps
}

/// Whether a vpn jail is a replica in cold standby: `create` sets up its
/// client but does not start it; `vpnjail monitor` does (docs/ha.md).
fn is_cold(v: &Vpn) -> bool {
    v.replication
        .as_ref()
        .is_some_and(|r| r.standby == Standby::Cold)
}

/// A jail's default gateway: the anycast router for a replica, the vpn jail
/// a service routes through, otherwise the host's bridge address.
fn gateway(site: &Site, host: &Host, j: &Jail) -> Ipv4Addr {
    match (&j.kind, j.replication().zip(site.anycast.as_ref())) {
        (_, Some((_, a))) => a.router,
        (JailKind::Service { via: Some(v) }, _) => host
            .jail(v)
            .map(|vj| vj.address)
            .unwrap_or(host.bridge.address),
        _ => host.bridge.address,
    }
}

/// A replica's routes to every host's bridge network via the anycast
/// router, as FreeBSD's replica rc.conf has them (`route_net_<host>`): the
/// answers to another host's clients find their way back whatever routes
/// the VPN client installs (a full tunnel's `0.0.0.0/1` and `128.0.0.0/1`
/// would otherwise take them into the tunnel). Empty for any other jail.
pub fn replica_routes(site: &Site, host: &Host, j: &Jail) -> Vec<Step> {
    let Some((_, a)) = j.replication().zip(site.anycast.as_ref()) else {
        return Vec::new();
    };
    let ns = site.jail_netns(host, j);
    site.hosts
        .iter()
        .map(|h| {
            let net = h.bridge.network.to_string();
            run(
                format!("route {net} ({}) via {}", h.name, a.router),
                Guard::Always,
                lx::route_replace(Some(&ns), &net, &a.router.to_string()),
                vec![],
            )
        })
        .collect()
}

/// The steps that bring up a WireGuard vpn jail's client once its namespace,
/// kill switch and `wg setconf` file exist (plan/wireguard.rs): `create`
/// runs them for a hot jail, `vpnjail monitor` for an elected cold replica
/// (monitor/client.rs). `None` for any other jail.
pub fn wireguard_up_steps(site: &Site, host: &Host, j: &Jail) -> Option<Vec<Step>> {
    use super::wireguard as wg;
    let JailKind::Vpn(v) = &j.kind else {
        return None;
    };
    let VpnClient::WireGuard(w) = &v.client else {
        return None;
    };
    Some(wg::up_steps(
        &site.jail_netns(host, j),
        v,
        w,
        gateway(site, host, j),
        &host.jail_path(&j.name).join(render::wireguard::LINUX_CONF),
        &pidfile(host, &j.name, wg::DAEMON),
        &logfile(host, &j.name, wg::DAEMON),
    ))
}

/// The steps that create one jail's namespace and start what its kind runs.
pub fn create_steps(site: &Site, host: &Host, j: &Jail) -> Result<Vec<Step>, PlanError> {
    let hns = host.netns.as_deref();
    let ns = site.jail_netns(host, j);
    let nsr = Some(ns.as_str());
    let va = site.veth_host(host, j);
    let vb = j.epair_jail();
    let dir = host.jail_path(&j.name);
    // A replica sits on the anycast bridge (docs/ha.md).
    let replica = j.replication().zip(site.anycast.as_ref());
    let (br, prefix) = match replica {
        Some((_, a)) => (&a.bridge, a.network.prefix_len()),
        None => (&host.bridge.name, host.bridge.network.prefix_len()),
    };
    let files = rl::ns_files(site, host, j)?;
    let mut steps = vec![
        check(
            format!("bridge {br} exists (vpnjail create --all brings the host up)"),
            lx::link_exists(hns, br),
        ),
        mkdir(&dir, true),
        run(
            format!("create network namespace {ns}"),
            Guard::UnlessOk(lx::netns_exists(&ns)),
            lx::netns_add(&ns),
            vec![lx::netns_del(&ns)],
        ),
        run(
            "bring up its loopback",
            Guard::Always,
            lx::link_up(nsr, "lo"),
            vec![],
        ),
        run(
            format!("create veth pair {va} (host) / {vb} (in {ns})"),
            Guard::UnlessOk(lx::link_exists(hns, &va)),
            lx::veth_add(hns, &va, &vb, &site.veth_jail_mac(host, j), &ns),
            vec![lx::link_del(hns, &va)],
        ),
        run(
            format!("attach {va} to bridge {br}"),
            Guard::Always,
            lx::link_master_up(hns, &va, br),
            vec![],
        ),
        run(
            format!("address {} on {vb}", j.address),
            Guard::Always,
            lx::addr_replace(nsr, &format!("{}/{prefix}", j.address), &vb),
            vec![],
        ),
        run(
            format!("bring up {vb}"),
            Guard::Always,
            lx::link_up(nsr, &vb),
            vec![],
        ),
    ];
    if let Some((r, _)) = replica {
        steps.push(run(
            format!("anycast address {} on {vb}", r.anycast),
            Guard::Always,
            lx::addr_replace(nsr, &format!("{}/32", r.anycast), &vb),
            vec![],
        ));
    }
    if let (JailKind::Ipsec, Some(a)) = (&j.kind, &site.anycast)
        && host.replicas().next().is_some()
    {
        // The ipsec namespace is the router of the anycast bridge.
        let va1 = site.veth_host_anycast(host, j);
        let vb1 = j.anycast_epair_jail();
        let abr = &a.bridge;
        steps.extend([
            run(
                format!("create veth pair {va1} (host) / {vb1} (in {ns})"),
                Guard::UnlessOk(lx::link_exists(hns, &va1)),
                lx::veth_add(hns, &va1, &vb1, &site.veth_jail_mac_anycast(host, j), &ns),
                vec![lx::link_del(hns, &va1)],
            ),
            run(
                format!("attach {va1} to the anycast bridge {abr}"),
                Guard::Always,
                lx::link_master_up(hns, &va1, abr),
                vec![],
            ),
            run(
                format!("address {} on {vb1}", a.router),
                Guard::Always,
                lx::addr_replace(
                    nsr,
                    &format!("{}/{}", a.router, a.network.prefix_len()),
                    &vb1,
                ),
                vec![],
            ),
            run(
                format!("bring up {vb1}"),
                Guard::Always,
                lx::link_up(nsr, &vb1),
                vec![],
            ),
        ]);
    }
    let gw = gateway(site, host, j);
    steps.push(run(
        format!("default route via {gw}"),
        Guard::Always,
        lx::route_replace(nsr, "default", &gw.to_string()),
        vec![],
    ));
    steps.extend(replica_routes(site, host, j));
    if j.kind != JailKind::Ipsec {
        steps.extend(rw_steps(super::roadwarrior::pool_route(host, nsr))?);
    }
    match (&j.kind, &files) {
        (JailKind::Vpn(v), NsFiles::Vpn(vf)) => {
            // Fail closed from the first packet: the kill switch is in place
            // before the namespace forwards anything.
            let ks = &vf.killswitch;
            steps.push(write(ks)?);
            steps.push(run(
                format!(
                    "load nftables table {} (kill switch: out only through the tunnel)",
                    killswitch::NFT_TABLE
                ),
                Guard::Always,
                lx::nft_load(nsr, &ks.path),
                vec![lx::nft_delete_table_family(
                    nsr,
                    "inet",
                    killswitch::NFT_TABLE,
                )],
            ));
            steps.push(run(
                "enable forwarding in the namespace",
                Guard::Always,
                lx::forwarding_on(nsr),
                vec![],
            ));
            let f = &vf.nat;
            steps.push(write(f)?);
            steps.push(run(
                format!("load nftables table {} (seed steps 2 and 5)", rl::VPN_TABLE),
                Guard::Always,
                lx::nft_load(nsr, &f.path),
                vec![lx::nft_delete_table(nsr, rl::VPN_TABLE)],
            ));
            if let VpnClient::OpenVpn(_) = &v.client {
                let ClientFiles::OpenVpn { conf, auth } = &vf.client else {
                    return Err(missing(openvpn::LINUX_CONF));
                };
                steps.push(write(conf)?);
                if let Some(a) = auth {
                    steps.push(write(a)?);
                }
                // In cold standby `vpnjail monitor` starts it when BGP
                // elects this replica (monitor/client.rs).
                let pid = pidfile(host, &j.name, "openvpn");
                if !is_cold(v) {
                    steps.push(run(
                        format!("start openvpn in {ns} (after the kill switch)"),
                        Guard::UnlessOk(lx::daemon_running(&pid)),
                        openvpn_start(host, &ns, j),
                        vec![lx::daemon_stop(&pid)],
                    ));
                }
            }
            if let VpnClient::WireGuard(_) = &v.client {
                let ClientFiles::WireGuard { conf } = &vf.client else {
                    return Err(missing(render::wireguard::LINUX_CONF));
                };
                steps.push(write(conf)?);
                // In cold standby, as OpenVPN's above: the monitor runs
                // these same steps when BGP elects this replica.
                if !is_cold(v) {
                    steps.extend(wireguard_up_steps(site, host, j).unwrap_or_default());
                }
            }
        }
        (JailKind::Vpndns, NsFiles::Vpndns { config: f, .. }) => {
            for f in files.files() {
                steps.push(write(f)?);
            }
            steps.push(check(
                format!("{} check accepts the config", host.vpndns_bin.display()),
                Cmd::new(
                    "env",
                    vec![p(&host.vpndns_bin), "-c".into(), p(&f.path), "check".into()],
                ),
            ));
            let pid = pidfile(host, &j.name, "vpndns");
            steps.push(run(
                format!("start vpndns in {ns}"),
                Guard::UnlessOk(lx::daemon_running(&pid)),
                vpndns_start(host, &ns, j),
                vec![lx::daemon_stop(&pid)],
            ));
        }
        (JailKind::Ipsec, NsFiles::Ipsec(i)) => {
            steps.push(run(
                "enable forwarding in the namespace",
                Guard::Always,
                lx::forwarding_on(nsr),
                vec![],
            ));
            if site.runs_strongswan(host) {
                steps.push(mkdir(&dir.join("run"), false));
                let (_, swanctl) = swanctl_files(&files)?;
                steps.push(write(&i.strongswan)?);
                steps.push(write(swanctl)?);
                let rw = super::roadwarrior::ipsec_steps(site, host, j, &i.pki, i.filter.as_ref());
                steps.extend(rw_steps(rw)?);
                let pid = pidfile(host, &j.name, "charon");
                steps.push(run(
                    format!("start charon (kernel-libipsec) in {ns}"),
                    Guard::UnlessOk(lx::daemon_running(&pid)),
                    charon_start(host, &ns, j),
                    vec![lx::daemon_stop(&pid)],
                ));
                steps.push(run(
                    "load strongSwan connections and secrets",
                    Guard::Always,
                    swanctl_load(site, host, j),
                    vec![],
                ));
                if site.bgp {
                    steps.extend(inner_address_steps(site, host, &ns));
                }
            }
            if site.bgp {
                let run_dir = dir.join(rl::FRR_RUN_DIR);
                steps.push(mkdir(&run_dir, true));
                steps.push(run(
                    format!("let user frr write in {}", run_dir.display()),
                    Guard::Always,
                    Cmd::new("chown", vec!["frr:frr".into(), p(&run_dir)]),
                    vec![],
                ));
                let frr = i.frr.as_ref().ok_or_else(|| missing(rl::FRR_FILE))?;
                steps.push(write(&frr.frr)?);
                steps.push(write(&frr.zebra)?);
                if site.bfd.is_some() {
                    let bfdd = frr.bfdd.as_ref().ok_or_else(|| missing(rl::BFDD_FILE))?;
                    steps.push(write(bfdd)?);
                }
                for &d in frr_daemons(site) {
                    let pid = pidfile(host, &j.name, d);
                    steps.push(run(
                        format!("start {d} (FRR) in {ns}"),
                        Guard::UnlessOk(lx::daemon_running(&pid)),
                        frr_start(host, &ns, j, d),
                        vec![lx::daemon_stop(&pid)],
                    ));
                }
                if host.replicas().next().is_some() {
                    // It reads the site file: by absolute path, since the
                    // daemon runs from /.
                    let site_file =
                        std::path::absolute(&site.file).unwrap_or_else(|_| site.file.clone());
                    let pid = pidfile(host, &j.name, "monitor");
                    steps.push(run(
                        format!("start vpnjail monitor in {ns} (docs/ha.md)"),
                        Guard::UnlessOk(lx::daemon_running(&pid)),
                        monitor_start(host, &ns, j, &host.vpnjail_bin, &site_file),
                        vec![lx::daemon_stop(&pid)],
                    ));
                }
            }
        }
        (JailKind::Service { .. }, NsFiles::Service) => {}
        _ => {
            return Err(PlanError::Invalid(format!(
                "the files rendered for {} are not those of its kind",
                j.name
            )));
        }
    }
    Ok(steps)
}

/// The steps that stop a jail's processes and remove its namespace, veth
/// pair, tables (they go with the namespace) and files.
pub fn destroy_steps(site: &Site, host: &Host, j: &Jail) -> Result<Vec<Step>, PlanError> {
    let hns = host.netns.as_deref();
    let ns = site.jail_netns(host, j);
    let va = site.veth_host(host, j);
    let mut steps = Vec::new();
    let daemon = match &j.kind {
        JailKind::Vpndns => Some(("vpndns", vpndns_start(host, &ns, j))),
        JailKind::Vpn(v) if matches!(v.client, VpnClient::OpenVpn(_)) => {
            Some(("openvpn", openvpn_start(host, &ns, j)))
        }
        JailKind::Vpn(v) if matches!(v.client, VpnClient::WireGuard(_)) => {
            let (pid, log) = (
                pidfile(host, &j.name, super::wireguard::DAEMON),
                logfile(host, &j.name, super::wireguard::DAEMON),
            );
            Some((
                super::wireguard::DAEMON,
                super::wireguard::start(&ns, &pid, &log, &v.tun),
            ))
        }
        JailKind::Ipsec if site.runs_strongswan(host) => {
            Some(("charon", charon_start(host, &ns, j)))
        }
        _ => None,
    };
    let mut daemons: Vec<(&str, Cmd)> = Vec::new();
    if j.kind == JailKind::Ipsec && site.bgp {
        for d in frr_daemons(site).iter().rev() {
            daemons.push((d, frr_start(host, &ns, j, d)));
        }
    }
    daemons.extend(daemon);
    if j.kind == JailKind::Ipsec && host.replicas().next().is_some() {
        // Started by create (or by hand, or a test); stopped first.
        let pid = pidfile(host, &j.name, "monitor");
        steps.push(run(
            format!("stop vpnjail monitor in {ns}"),
            Guard::IfOk(lx::daemon_running(&pid)),
            lx::daemon_stop(&pid),
            vec![],
        ));
    }
    for (name, start) in daemons {
        let pid = pidfile(host, &j.name, name);
        steps.push(run(
            format!("stop {name} in {ns}"),
            Guard::IfOk(lx::daemon_running(&pid)),
            lx::daemon_stop(&pid),
            vec![start],
        ));
    }
    if let JailKind::Vpn(v) = &j.kind
        && matches!(v.client, VpnClient::WireGuard(_))
    {
        steps.push(super::wireguard::destroy_step(v));
    }
    steps.push(run(
        format!("delete veth pair {va}"),
        Guard::IfOk(lx::link_exists(hns, &va)),
        lx::link_del(hns, &va),
        vec![],
    ));
    if j.kind == JailKind::Ipsec && site.anycast.is_some() && host.replicas().next().is_some() {
        let va1 = site.veth_host_anycast(host, j);
        steps.push(run(
            format!("delete veth pair {va1}"),
            Guard::IfOk(lx::link_exists(hns, &va1)),
            lx::link_del(hns, &va1),
            vec![],
        ));
    }
    steps.push(run(
        format!("delete network namespace {ns} (and its nftables tables)"),
        Guard::IfOk(lx::netns_exists(&ns)),
        lx::netns_del(&ns),
        vec![],
    ));
    for f in render::jail_files(site, host, &j.name)? {
        steps.push(remove(f.path));
    }
    let dir = host.jail_path(&j.name);
    if j.kind == JailKind::Ipsec && site.bgp {
        // FRR's pid files and sockets: runtime state only.
        let run_dir = dir.join(rl::FRR_RUN_DIR);
        steps.push(run(
            format!("remove {}", run_dir.display()),
            Guard::IfOk(Cmd::new("test", vec!["-d".into(), p(&run_dir)])),
            Cmd::new("rm", vec!["-rf".into(), p(&run_dir)]),
            vec![],
        ));
    }
    if let JailKind::Vpn(_) = j.kind {
        // Written by `vpnjail tunnel-up` when the tunnel came up.
        steps.push(remove(dir.join(killswitch::TUNNEL_FILE)));
    }
    let mut names = vec!["vpndns", "charon"];
    if matches!(&j.kind, JailKind::Vpn(v) if matches!(v.client, VpnClient::OpenVpn(_))) {
        names.push("openvpn");
    }
    if matches!(&j.kind, JailKind::Vpn(v) if matches!(v.client, VpnClient::WireGuard(_))) {
        names.push(super::wireguard::DAEMON);
    }
    if j.kind == JailKind::Ipsec && site.bgp {
        names.extend(frr_daemons(site));
    }
    if j.kind == JailKind::Ipsec && host.replicas().next().is_some() {
        names.push("monitor");
    }
    for d in names {
        steps.push(remove(logfile(host, &j.name, d)));
        // A pidfile left by a process that died on its own.
        steps.push(remove(pidfile(host, &j.name, d)));
    }
    // The ipsec namespace's credential directories (docs/clients.md).
    let swanctl_dirs: Vec<PathBuf> =
        if j.kind == JailKind::Ipsec && render::roadwarrior::needs_pki(site, host) {
            ["x509", "x509ca", "x509crl", "private"]
                .map(|d| dir.join(d))
                .to_vec()
        } else {
            Vec::new()
        };
    for d in swanctl_dirs
        .into_iter()
        .chain([dir.join("run"), dir.clone()])
    {
        steps.push(run(
            format!("remove the directory {} if empty", d.display()),
            Guard::IfOk(Cmd::new("test", vec!["-d".into(), p(&d)])),
            rmdir(&d),
            vec![],
        ));
    }
    Ok(steps)
}

/// `rmdir --ignore-fail-on-non-empty DIR`: never removes anything but an empty directory.
fn rmdir(d: &Path) -> Cmd {
    Cmd::new("rmdir", vec!["--ignore-fail-on-non-empty".into(), p(d)])
}

/// `vpnjail nft --load` (Linux's `pf --load`): reload the host's table and the
/// table of each vpn namespace that exists.
pub fn nft_load(site: &Site, host: &Host) -> Result<Plan, PlanError> {
    let hns = host.netns.as_deref();
    let files = rl::host_files(site, host)?;
    let vpns: Vec<(&Jail, &rl::VpnFiles)> = files
        .jails
        .iter()
        .filter_map(|(j, f)| match f {
            NsFiles::Vpn(v) => Some((*j, v)),
            _ => None,
        })
        .collect();
    let mut steps = vec![write(&files.nft)?];
    for (_, v) in &vpns {
        steps.push(write(&v.nat)?);
        steps.push(write(&v.killswitch)?);
    }
    steps.push(run(
        format!("load nftables table {}", site.host_nft_table(host)),
        Guard::Always,
        lx::nft_load(hns, &files.nft.path),
        vec![],
    ));
    for (j, v) in vpns {
        let ns = site.jail_netns(host, j);
        steps.push(run(
            format!("load nftables table {} in {ns}", killswitch::NFT_TABLE),
            Guard::IfOk(lx::netns_exists(&ns)),
            lx::nft_load(Some(&ns), &v.killswitch.path),
            vec![],
        ));
        steps.push(run(
            format!("load nftables table {} in {ns}", rl::VPN_TABLE),
            Guard::IfOk(lx::netns_exists(&ns)),
            lx::nft_load(Some(&ns), &v.nat.path),
            vec![],
        ));
    }
    Ok(Plan {
        title: format!(
            "vpnjail pf --load (nftables; host {}, site {})",
            host.name, site.name
        ),
        steps,
    })
}

/// `vpnjail ipsec --load` on Linux: install swanctl.conf and load it into the
/// running charon of the ipsec namespace.
pub fn ipsec_load(site: &Site, host: &Host, j: &Jail) -> Result<Plan, PlanError> {
    let files = rl::ns_files(site, host, j)?;
    let mut steps = vec![check(
        format!(
            "charon runs in the ipsec namespace (vpnjail create {} first)",
            j.name
        ),
        lx::daemon_running(&pidfile(host, &j.name, "charon")),
    )];
    let (i, swanctl) = swanctl_files(&files)?;
    steps.push(write(&i.strongswan)?);
    steps.push(write(swanctl)?);
    // The certificates and CRL (`vpnjail client revoke` reloads through here).
    for f in &i.pki {
        steps.push(write(f)?);
    }
    steps.push(run(
        "load strongSwan connections and secrets",
        Guard::Always,
        swanctl_load(site, host, j),
        vec![],
    ));
    Ok(Plan {
        title: format!(
            "vpnjail ipsec --load (host {}, site {})",
            host.name, site.name
        ),
        steps,
    })
}
