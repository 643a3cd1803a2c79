//! `vpnjail monitor`: checks each replica of a replicated vpn jail on this
//! host and announces or withdraws its anycast /32 in BGP (docs/ha.md).
//!
//! The decisions are in [`decide`] (pure), and for replicas in cold standby
//! in [`cold`] (pure); [`client`] builds the commands that start and stop a
//! cold replica's VPN client. This module does the I/O: the
//! health checks (jail running, tun up, a DNS query through the replica), the
//! read-only `vtysh -c 'show ip bgp A/32 json'`, and the announce/withdraw
//! changes, which are one-step [`Plan`]s run by the one executor (so
//! `--dry-run` prints them and tests record them).
//! May touch: FRR's configuration in the ipsec jail (through the executor);
//! reads jail and interface state; sends DNS probes to the local replicas.

pub mod client;
pub mod cold;
pub mod decide;

use super::command::{Action, Cmd, Guard, Plan, Step, freebsd as fb, linux as lx};
use super::exec::{self, System};
use super::model::{Host, Jail, JailKind, Platform, Site, Standby, VpnClient};
use super::provider;
use super::render::{frr, linux as rl, wireguard};
use crate::proxy::name::Name;
use crate::proxy::wire;
use decide::{Observation, Policy, Replica};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("no host named {0:?} in the site")]
    UnknownHost(String),
    #[error("host {0:?} has no ipsec jail (it runs FRR, which the monitor drives)")]
    NoIpsec(String),
    #[error(
        "host {0:?} holds no replica of a replicated vpn jail (replicas = [...] in the site file); nothing to monitor"
    )]
    NothingToMonitor(String),
    #[error("{0:?} is not a domain name")]
    ProbeName(String),
    #[error(
        "vpn jail {0:?}: cold standby needs a VPN client vpnjail runs (openvpn = \"FILE\" or wireguard = \"FILE\")"
    )]
    ColdClient(String),
}

/// One local replica and its decision state.
#[derive(Debug, Clone)]
pub struct Watched {
    pub jail: Jail,
    pub tun: String,
    pub anycast: Ipv4Addr,
    pub state: Replica,
    /// `standby = "cold"`: its own decisions (`state` is then unused).
    pub cold: Option<cold::Replica>,
}

/// How long a cold replica's route must be BGP's best before its client
/// starts: longer than BGP takes to carry a better replica's route here.
pub const COLD_SETTLE: Duration = Duration::from_millis(500);
/// How long after its start the monitor starts no client (cold::Policy).
pub const COLD_START_WAIT: Duration = Duration::from_secs(5);
/// How long a started client may fail the checks while it connects.
pub const CLIENT_GRACE: Duration = Duration::from_secs(15);

/// The replicas on `host`, each with its decision policy.
pub fn watched(site: &Site, host: &Host) -> Vec<Watched> {
    host.replicas()
        .filter_map(|(j, r, k)| {
            let JailKind::Vpn(v) = &j.kind else {
                return None;
            };
            let cold = (r.standby == Standby::Cold).then(|| {
                cold::Replica::new(
                    cold::Policy {
                        priority: k,
                        cold: frr::cold_priority(r.replicas.len(), k),
                        fail_after: site.monitor.fail_after,
                        hold_down: site.monitor.hold_down,
                        settle: COLD_SETTLE,
                        start_wait: COLD_START_WAIT,
                        grace: CLIENT_GRACE,
                    },
                    cold::Client::Stopped,
                )
            });
            Some(Watched {
                jail: j.clone(),
                tun: v.tun.clone(),
                anycast: r.anycast,
                cold,
                state: Replica::new(Policy {
                    priority: k,
                    standby: r.replicas.len(),
                    fail_after: site.monitor.fail_after,
                    hold_down: site.monitor.hold_down,
                    failback: site.monitor.failback,
                }),
            })
        })
        .collect()
}

/// FRR's shell for the host's ipsec jail: `jexec` on FreeBSD, the vty
/// sockets in the ipsec namespace's directory on Linux.
pub fn vtysh(host: &Host, lines: &[String]) -> Result<Cmd, MonitorError> {
    let ipsec = host
        .ipsec_jail()
        .ok_or_else(|| MonitorError::NoIpsec(host.name.clone()))?;
    Ok(match host.platform {
        Platform::FreeBsd => fb::vtysh(&ipsec.name, lines),
        Platform::Linux => lx::vtysh(&host.jail_path(&ipsec.name).join(rl::FRR_RUN_DIR), lines),
    })
}

/// The vtysh lines that announce (`Some(k)`) or withdraw (`None`) `anycast`.
pub fn bgp_lines(host: &Host, anycast: Ipv4Addr, priority: Option<usize>) -> Vec<String> {
    let mut l = vec![
        "configure terminal".to_string(),
        format!("router bgp {}", host.asn),
        "address-family ipv4 unicast".to_string(),
    ];
    l.push(match priority {
        Some(k) => format!(
            "network {anycast}/32 route-map {}",
            frr::announce_route_map(k)
        ),
        None => format!("no network {anycast}/32"),
    });
    l
}

/// The change for one decision, as a plan of one step for the executor.
pub fn action_plan(host: &Host, w: &Watched, action: decide::Action) -> Result<Plan, MonitorError> {
    let (what, k) = match action {
        decide::Action::Announce(k) => (
            format!(
                "announce {} {}/32 with priority {k}{}",
                w.jail.name,
                w.anycast,
                if k == w.state.policy.standby && k != w.state.policy.priority {
                    " (standby)"
                } else {
                    ""
                }
            ),
            Some(k),
        ),
        decide::Action::Withdraw => (format!("withdraw {} {}/32", w.jail.name, w.anycast), None),
    };
    let cmd = vtysh(host, &bgp_lines(host, w.anycast, k))?;
    Ok(Plan {
        title: format!("vpnjail monitor on host {}: {what}", host.name),
        steps: vec![Step {
            what,
            guard: Guard::Always,
            action: Action::Run(cmd),
            undo: vec![],
        }],
    })
}

/// `show ip bgp A/32 json` in the host's FRR.
pub fn show_cmd(host: &Host, anycast: Ipv4Addr) -> Result<Cmd, MonitorError> {
    vtysh(host, &[format!("show ip bgp {anycast}/32 json")])
}

/// What BGP's JSON for the /32 says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BgpView {
    /// This host's own route is there (a `network` statement: `"local":
    /// true`, peer 0.0.0.0).
    pub ours: bool,
    /// Another host announces it better than standby (a serving replica).
    pub other_serving: bool,
    /// BGP's best route is this host's own.
    pub best_ours: bool,
}

/// BGP's view from `show ip bgp A/32 json`, with `standby_local_pref` the
/// local preference of a standby. Unparsable text reads as "nothing known".
pub fn bgp_view(json: &str, standby_local_pref: u32) -> BgpView {
    let mut view = BgpView::default();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return view;
    };
    let Some(paths) = v.get("paths").and_then(|p| p.as_array()) else {
        return view;
    };
    for p in paths {
        let local = p.get("local").and_then(|l| l.as_bool()) == Some(true)
            || p.pointer("/peer/peerId").and_then(|x| x.as_str()) == Some("0.0.0.0");
        if local {
            view.ours = true;
            view.best_ours |=
                p.pointer("/bestpath/overall").and_then(|b| b.as_bool()) == Some(true);
            continue;
        }
        let valid = p.get("valid").and_then(|x| x.as_bool()).unwrap_or(true);
        let lp = p.get("locPrf").and_then(|x| x.as_u64()).unwrap_or(100);
        if valid && lp > u64::from(standby_local_pref) {
            view.other_serving = true;
        }
    }
    view
}

/// Whether an interface's flags (`flags=8051<UP,POINTOPOINT,RUNNING,...>`
/// from FreeBSD's ifconfig, `<POINTOPOINT,UP,LOWER_UP>` from `ip -o link`)
/// say it is up and carrying: UP, and RUNNING (FreeBSD: a VPN client holds
/// the tun open) or LOWER_UP (Linux).
pub fn flags_up(out: &str) -> bool {
    let Some(start) = out.find('<') else {
        return false;
    };
    let Some(len) = out[start..].find('>') else {
        return false;
    };
    let flags: Vec<&str> = out[start + 1..start + len].split(',').collect();
    flags.contains(&"UP") && (flags.contains(&"RUNNING") || flags.contains(&"LOWER_UP"))
}

/// A DNS query (type A for `name`) to `addr`:53, answered within `timeout`
/// with NOERROR or NXDOMAIN: the provider's resolver works through the tun.
pub fn dns_probe(addr: Ipv4Addr, name: &Name, timeout: Duration) -> Result<(), String> {
    let sock = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .map_err(|e| format!("socket: {e}"))?;
    sock.connect(SocketAddr::from((addr, 53)))
        .map_err(|e| format!("connect {addr}:53: {e}"))?;
    let id: u16 = rand::random();
    let q = wire::encode_query(id, name, 1, 1);
    let qend = q.len();
    sock.send(&q)
        .map_err(|e| format!("send to {addr}:53: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer from {addr}:53 within {timeout:?}"));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| format!("timeout: {e}"))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("from {addr}:53: {e}")),
        };
        let r = &buf[..n];
        if wire::id(r) != Some(id) || !wire::answers_question(r, &q, qend) {
            continue;
        }
        return match wire::rcode(r) {
            0 | 3 => Ok(()),
            c => Err(format!("{addr}:53 answered {}", wire::Rcode::name_of(c))),
        };
    }
}

/// Whether the replica's jail runs (FreeBSD: `jls`; Linux: its namespace).
pub fn jail_up(site: &Site, host: &Host, w: &Watched) -> bool {
    let running = match host.platform {
        Platform::FreeBsd => fb::jail_running(&w.jail.name),
        Platform::Linux => lx::netns_exists(&site.jail_netns(host, &w.jail)),
    };
    matches!(exec::query(&running), Ok((true, _)))
}

/// The plan for a cold replica's actions, in their order: client start and
/// stop through [`client`], announcements as for a hot replica.
pub fn cold_plan(
    site: &Site,
    host: &Host,
    w: &Watched,
    c: &cold::Replica,
    actions: &[cold::Action],
) -> Result<Plan, MonitorError> {
    let mut steps = Vec::new();
    let mut whats = Vec::new();
    for a in actions {
        let step = |what: String, cmd: Cmd| Step {
            what,
            guard: Guard::Always,
            action: Action::Run(cmd),
            undo: vec![],
        };
        let (what, new): (String, Vec<Step>) = match *a {
            cold::Action::StartClient => (
                format!(
                    "start the VPN client of {} (elected, cold standby)",
                    w.jail.name
                ),
                client::start(site, host, &w.jail)?,
            ),
            cold::Action::StopClient => {
                let what = format!("stop the VPN client of {}", w.jail.name);
                let s = step(what.clone(), client::stop(host, &w.jail)?);
                (what, vec![s])
            }
            cold::Action::Announce(k) => {
                let what = format!(
                    "announce {} {}/32 with priority {k}{}",
                    w.jail.name,
                    w.anycast,
                    if k == c.policy.cold {
                        " (cold standby)"
                    } else {
                        ""
                    }
                );
                let cmd = vtysh(host, &bgp_lines(host, w.anycast, Some(k)))?;
                (what.clone(), vec![step(what, cmd)])
            }
            cold::Action::Withdraw => {
                let what = format!("withdraw {} {}/32", w.jail.name, w.anycast);
                let cmd = vtysh(host, &bgp_lines(host, w.anycast, None))?;
                (what.clone(), vec![step(what, cmd)])
            }
        };
        whats.push(what);
        steps.extend(new);
    }
    let title = whats.join(", ");
    Ok(Plan {
        title: format!("vpnjail monitor on host {}: {title}", host.name),
        steps,
    })
}

/// Checks one replica: its jail runs, its tun is up, and a DNS query to its
/// own address (redirected by its firewall to the provider's resolver,
/// through the tun) is answered. The error says which check failed.
pub fn health(
    site: &Site,
    host: &Host,
    w: &Watched,
    name: &Name,
    timeout: Duration,
) -> Result<(), String> {
    let (running, tun) = match host.platform {
        Platform::FreeBsd => (
            fb::jail_running(&w.jail.name),
            fb::jail_ifconfig(&w.jail.name, &w.tun),
        ),
        Platform::Linux => {
            let ns = site.jail_netns(host, &w.jail);
            (lx::netns_exists(&ns), lx::link_show(&ns, &w.tun))
        }
    };
    match exec::query(&running) {
        Ok((true, _)) => {}
        Ok((false, _)) => return Err(format!("jail {} is not running", w.jail.name)),
        Err(e) => return Err(format!("{running}: {e}")),
    }
    match exec::query(&tun) {
        Ok((true, out)) if flags_up(&out) => {}
        Ok((true, out)) => {
            return Err(format!(
                "{} in jail {} is not up: {}",
                w.tun,
                w.jail.name,
                out.trim()
            ));
        }
        Ok((false, _)) => return Err(format!("{} is missing in jail {}", w.tun, w.jail.name)),
        Err(e) => return Err(format!("{tun}: {e}")),
    }
    dns_probe(w.jail.address, name, timeout)
}

/// How `run` behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Print each change (as a shell script) instead of making it.
    pub dry_run: bool,
    /// One round of checks, then exit.
    pub once: bool,
}

/// The monitor loop for `host_name`: every `[site.monitor] interval`, checks
/// each local replica, asks BGP about its /32, and carries out the decision.
pub fn run(
    site: &Site,
    host_name: &str,
    opts: Options,
    sys: &mut dyn System,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let host = site
        .host(host_name)
        .ok_or_else(|| MonitorError::UnknownHost(host_name.into()))?;
    host.ipsec_jail()
        .ok_or_else(|| MonitorError::NoIpsec(host.name.clone()))?;
    let mut ws = watched(site, host);
    if ws.is_empty() {
        return Err(MonitorError::NothingToMonitor(host.name.clone()).into());
    }
    let name = Name::from_text(&site.monitor.probe_name)
        .map_err(|_| MonitorError::ProbeName(site.monitor.probe_name.clone()))?;
    let interval = site.monitor.interval;
    let timeout = interval.min(Duration::from_secs(2));
    tracing::info!(
        host = %host.name,
        replicas = ws.len(),
        ?interval,
        fail_after = site.monitor.fail_after,
        hold_down = ?site.monitor.hold_down,
        failback = site.monitor.failback,
        "monitor starts"
    );
    for w in &mut ws {
        if w.cold.is_some() && host.platform == Platform::Linux {
            pinned_endpoints(host, &mut w.jail);
        }
        if let Some(c) = &mut w.cold
            && matches!(exec::query(&client::running(host, &w.jail)?), Ok((true, _)))
        {
            // Left running by an earlier monitor: the first round decides.
            c.client = cold::Client::Running;
        }
    }
    let start = Instant::now();
    loop {
        let round = Instant::now();
        for w in &mut ws {
            if w.cold.is_some() {
                cold_round(site, host, w, &name, timeout, start, opts, sys, out)?;
                continue;
            }
            let standby_lp = frr::anycast_local_pref(w.state.policy.standby);
            let (h, view) = beside_bgp(host, w, standby_lp, || {
                health(site, host, w, &name, timeout)
            });
            let (ours, other) = match view {
                Some(v) => (v.ours, v.other_serving),
                None => (matches!(w.state.announced, decide::Announced::At(_)), false),
            };
            if let Err(reason) = &h {
                tracing::info!(jail = %w.jail.name, failures = w.state.failures + 1, %reason, "check failed");
            }
            let before = w.state.clone();
            let Some(action) = w.state.step(Observation {
                now: start.elapsed(),
                healthy: h.is_ok(),
                ours_in_bgp: ours,
                other_serving: other,
            }) else {
                continue;
            };
            let plan = action_plan(host, w, action)?;
            tracing::warn!(jail = %w.jail.name, change = %plan.steps[0].what, reason = h.as_ref().err().map_or("healthy", String::as_str), "replica changes");
            if opts.dry_run {
                write!(out, "{}", plan.to_shell())?;
                continue;
            }
            if let Err(e) = exec::execute(&plan, sys) {
                tracing::error!(jail = %w.jail.name, error = %e, "BGP change failed; retrying next round");
                // The executor undid the change, so BGP is as before this
                // step, and so is what we believe: the next round decides
                // again (a reset to "unknown" would skip the hold-down).
                w.state = before;
            }
        }
        if opts.once {
            return Ok(());
        }
        std::thread::sleep(interval.saturating_sub(round.elapsed()));
    }
}

/// A cold WireGuard replica whose file names its endpoints by host name:
/// `create` resolved them and pinned the addresses into the installed
/// `wg setconf` file (provider::resolve) and the kill switch; the monitor
/// reads them back from that file, so that its start routes the very
/// addresses the kill switch admits (resolving again might give others).
/// Left as it is when the file cannot be read (the start then lacks the
/// endpoint's route and its checks fail, logged).
pub fn pinned_endpoints(host: &Host, j: &mut Jail) {
    let path = host.jail_path(&j.name).join(wireguard::LINUX_CONF);
    let JailKind::Vpn(v) = &mut j.kind else {
        return;
    };
    let VpnClient::WireGuard(w) = &mut v.client else {
        return;
    };
    if w.named.is_empty() {
        return;
    }
    match std::fs::read_to_string(&path).map(|t| provider::wireguard::parse_installed(&t)) {
        Ok(Ok(f)) if f.named.is_empty() => {
            v.endpoints = Some(f.endpoints);
            w.named.clear();
        }
        _ => {
            tracing::error!(jail = %j.name, file = %path.display(), "cannot read the endpoints create pinned")
        }
    }
}

/// Runs `checks` while BGP's view of `w`'s /32 is read beside them, so that
/// a round (a probe may wait out its whole timeout) takes one interval, not
/// one interval plus a `vtysh` call: detection stays fail_after intervals.
fn beside_bgp<T: Send>(
    host: &Host,
    w: &Watched,
    standby_lp: u32,
    checks: impl FnOnce() -> T + Send,
) -> (T, Option<BgpView>) {
    std::thread::scope(|s| {
        let bgp = s.spawn(|| read_bgp(host, w, standby_lp));
        let t = checks();
        (t, bgp.join().ok().flatten())
    })
}

/// BGP's view of `w`'s /32, or `None` (logged) when FRR cannot be asked.
fn read_bgp(host: &Host, w: &Watched, standby_lp: u32) -> Option<BgpView> {
    match show_cmd(host, w.anycast).map(|c| exec::query(&c)) {
        Ok(Ok((true, json))) => Some(bgp_view(&json, standby_lp)),
        Ok(Ok((false, _))) | Ok(Err(_)) | Err(_) => {
            tracing::warn!(jail = %w.jail.name, "cannot read BGP's view of the anycast route (is FRR running?)");
            None
        }
    }
}

/// One round for a replica in cold standby: the jail's state, the client's
/// checks while it runs, BGP's view, then [`cold`]'s decision.
#[allow(clippy::too_many_arguments)]
fn cold_round(
    site: &Site,
    host: &Host,
    w: &mut Watched,
    name: &Name,
    timeout: Duration,
    start: Instant,
    opts: Options,
    sys: &mut dyn System,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let Some(c) = &w.cold else {
        return Ok(());
    };
    let standby_lp = frr::anycast_local_pref(c.policy.cold);
    let stopped = c.client == cold::Client::Stopped;
    let announced = matches!(c.announced, decide::Announced::At(_));
    let ((up, checks), view) = beside_bgp(host, w, standby_lp, || {
        let up = jail_up(site, host, w);
        let checks = if up && !stopped {
            health(site, host, w, name, timeout)
        } else {
            Err("client stopped".into())
        };
        (up, checks)
    });
    let bgp_known = view.is_some();
    let view = view.unwrap_or(BgpView {
        ours: announced,
        ..BgpView::default()
    });
    let Some(c) = &mut w.cold else {
        return Ok(());
    };
    let before = c.clone();
    let actions = c.step(cold::Observation {
        now: start.elapsed(),
        jail_up: up,
        healthy: checks.is_ok(),
        ours_in_bgp: view.ours,
        best_ours: view.best_ours,
        bgp_known,
    });
    if actions.is_empty() {
        return Ok(());
    }
    let c = c.clone();
    let plan = cold_plan(site, host, w, &c, &actions)?;
    tracing::warn!(jail = %w.jail.name, change = %plan.title, reason = checks.as_ref().err().map_or("healthy", String::as_str), "replica changes");
    if opts.dry_run {
        write!(out, "{}", plan.to_shell())?;
        return Ok(());
    }
    if let Err(e) = exec::execute(&plan, sys) {
        tracing::error!(jail = %w.jail.name, error = %e, "change failed; retrying next round");
        // Forget what we believed we told BGP; the client is as it is now.
        let runs = client::running(host, &w.jail).map(|c| exec::query(&c));
        if let Some(c) = &mut w.cold {
            *c = before;
            c.announced = decide::Announced::Unknown;
            c.client = match runs {
                Ok(Ok((true, _))) => cold::Client::Running,
                _ => cold::Client::Stopped,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_flags() {
        assert!(flags_up(
            "tun0: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1500"
        ));
        assert!(!flags_up(
            "tun0: flags=8010<POINTOPOINT,MULTICAST> metric 0 mtu 1500"
        ));
        assert!(!flags_up("tun0: flags=8011<UP,POINTOPOINT,MULTICAST>"));
        assert!(flags_up(
            "7: tun0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue"
        ));
        assert!(!flags_up(
            "7: tun0@if6: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 state LOWERLAYERDOWN"
        ));
        assert!(!flags_up(""));
    }

    #[test]
    fn bgp_json_views() {
        // Shapes seen from FRR 8.4's `show ip bgp A/32 json`.
        let both = r#"{"prefix":"10.99.200.1/32","paths":[
            {"locPrf":100,"valid":true,"bestpath":{"overall":true},"peer":{"peerId":"172.31.0.1","type":"external"}},
            {"locPrf":99,"valid":true,"sourced":true,"local":true,"peer":{"peerId":"0.0.0.0"}}]}"#;
        let v = |ours, other_serving, best_ours| BgpView {
            ours,
            other_serving,
            best_ours,
        };
        assert_eq!(bgp_view(both, 98), v(true, true, false));
        let standby_other =
            r#"{"paths":[{"locPrf":98,"valid":true,"peer":{"peerId":"172.31.0.1"}}]}"#;
        assert_eq!(bgp_view(standby_other, 98), v(false, false, false));
        let best_local = r#"{"paths":[
            {"locPrf":97,"valid":true,"peer":{"peerId":"172.31.0.1"}},
            {"locPrf":98,"valid":true,"bestpath":{"overall":true},"local":true,"peer":{"peerId":"0.0.0.0"}}]}"#;
        assert_eq!(bgp_view(best_local, 98), v(true, false, true));
        assert_eq!(bgp_view("{\n}\n", 98), BgpView::default());
        assert_eq!(bgp_view("% bgpd is not running", 98), BgpView::default());
    }
}
