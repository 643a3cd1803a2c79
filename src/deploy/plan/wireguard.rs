//! The Linux steps of a WireGuard vpn namespace's client (issue 11):
//! wireguard-go under start-stop-daemon (again when it died, over its stale
//! socket), `wg setconf`, the file's addresses and the routes — and what
//! `destroy` removes besides its process. Builds steps from `command`
//! values only, so that `plan/linux.rs` calls it and it imports nothing of
//! the plan. May touch: nothing.

use crate::deploy::command::{Action, Cmd, Guard, Step, linux as lx};
use crate::deploy::model::{Vpn, WireGuardClient};
use crate::deploy::render::wireguard::SOCKET_DIR;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Debian's wireguard-go (userspace: this kernel has no WireGuard).
pub const WIREGUARD_GO: &str = "/usr/bin/wireguard-go";
/// The daemon's name for its pid file and log (`<dir>/wireguard-go.pid`).
pub const DAEMON: &str = "wireguard-go";

fn step(what: String, guard: Guard, action: Action, undo: Vec<Cmd>) -> Step {
    Step {
        what,
        guard,
        action,
        undo,
    }
}

/// `rm -f PATH`: for a socket, which a `Remove` step cannot read to undo.
fn rm_f(path: &Path) -> Cmd {
    Cmd::new("rm", vec!["-f".into(), path.display().to_string()])
}

/// wireguard-go's control socket for `ifname` (shared by every namespace).
pub fn socket(ifname: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{ifname}.sock"))
}

/// `wireguard-go -f IF` in the foreground under start-stop-daemon, so that
/// its pid file is its own.
pub fn start(ns: &str, pid: &Path, log: &Path, ifname: &str) -> Cmd {
    lx::daemon_start(
        ns,
        &[],
        pid,
        log,
        Path::new(WIREGUARD_GO),
        &["-f".into(), ifname.into()],
        false,
    )
}

/// The client brought up, after the kill switch and the installed `conf`:
/// wireguard-go, `wg setconf`, the file's addresses, a route to each
/// endpoint via the bridge (`gw`; the kill switch's endpoint rule admits
/// that traffic) and the peers' AllowedIPs into the tunnel (`0.0.0.0/0` as
/// two /1 halves, as wg-quick does, so the default route stays and the
/// kill switch drops what would take it when the tunnel is gone). `create`
/// runs them for a hot jail, `vpnjail monitor` for an elected cold replica
/// (plan/linux.rs `wireguard_up_steps`, monitor/client.rs).
pub fn up_steps(
    ns: &str,
    v: &Vpn,
    w: &WireGuardClient,
    gw: Ipv4Addr,
    conf: &Path,
    pid: &Path,
    log: &Path,
) -> Vec<Step> {
    let nsr = Some(ns);
    let wg = v.tun.as_str();
    let sock = socket(wg);
    let run = |what: String, cmd: Cmd| step(what, Guard::Always, Action::Run(cmd), vec![]);
    let mut steps = vec![
        step(
            format!("remove a dead wireguard-go's socket {}", sock.display()),
            Guard::UnlessOk(lx::daemon_running(pid)),
            Action::Run(rm_f(&sock)),
            vec![],
        ),
        step(
            format!("start wireguard-go ({wg}) in {ns} (after the kill switch)"),
            Guard::UnlessOk(lx::daemon_running(pid)),
            Action::Run(start(ns, pid, log, wg)),
            vec![lx::daemon_stop(pid)],
        ),
        step(
            format!("wireguard-go listens on {}", sock.display()),
            Guard::Always,
            Action::Check(lx::wait_for_socket(&sock, 5)),
            vec![],
        ),
        run(
            format!("wg setconf {wg} (keys and peers)"),
            lx::wg_setconf(ns, wg, conf),
        ),
    ];
    for a in &w.addresses {
        steps.push(run(
            format!("address {a} on {wg}"),
            lx::addr_replace(nsr, &a.to_string(), wg),
        ));
    }
    if let Some(m) = w.mtu {
        steps.push(run(format!("MTU {m} on {wg}"), lx::link_mtu(nsr, wg, m)));
    }
    steps.push(run(format!("bring up {wg}"), lx::link_up(nsr, wg)));
    for e in v.endpoints.iter().flatten() {
        steps.push(run(
            format!(
                "route the endpoint {} via {gw} (outside the tunnel)",
                e.addr
            ),
            lx::route_replace(nsr, &format!("{}/32", e.addr), &gw.to_string()),
        ));
    }
    for n in &w.allowed {
        let dests = if n.prefix_len() == 0 {
            vec!["0.0.0.0/1".to_string(), "128.0.0.0/1".to_string()]
        } else {
            vec![n.to_string()]
        };
        for d in dests {
            steps.push(run(
                format!("route {d} into {wg}"),
                lx::route_replace_dev(nsr, &d, wg),
            ));
        }
    }
    steps
}

/// What `destroy` removes after stopping wireguard-go: its socket, left
/// behind when it was killed rather than stopped.
pub fn destroy_step(v: &Vpn) -> Step {
    let sock = socket(&v.tun);
    step(
        format!("remove {}", sock.display()),
        Guard::Always,
        Action::Run(rm_f(&sock)),
        vec![],
    )
}
