//! The VPN client of a replicated vpn jail in cold standby, as `vpnjail
//! monitor` drives it: the steps that start it, one command that stops it,
//! one that asks whether it runs. The client is the one vpnjail runs for the
//! jail (`openvpn = "FILE"` or `wireguard = "FILE"`): on Linux with the very
//! commands and pid files of the Linux backend (plan/linux.rs: OpenVPN's
//! daemon; WireGuard's wireguard-go, `wg setconf`, addresses and routes,
//! plan/wireguard.rs), on FreeBSD through the port's rc.d script in the
//! jail (`service openvpn|wireguard onestart`: the jail's rc.conf says the
//! client is not enabled in cold standby, render/openvpn.rs and
//! render/freebsd/rcconf.rs), so `create`, `destroy` and `status` see the
//! same process.
//! May touch: nothing (it builds commands; the executor runs them).

use super::super::command::{Action, Cmd, Guard, Step, freebsd as fb, linux as lx};
use super::super::model::{Host, Jail, JailKind, Platform, Site, VpnClient};
use super::super::plan::{linux as pl, wireguard as pw};
use super::super::render::{openvpn, wireguard};
use super::MonitorError;

/// The pid file name of the Linux OpenVPN client (beside the jail's other files).
const OPENVPN: &str = "openvpn";

/// Which client vpnjail runs for `j`; refuses what `vpnjail check` refuses
/// for cold standby (check/cold.rs): a client vpnjail does not run.
fn client(j: &Jail) -> Result<&VpnClient, MonitorError> {
    match &j.kind {
        JailKind::Vpn(v) if v.client != VpnClient::Own => Ok(&v.client),
        _ => Err(MonitorError::ColdClient(j.name.clone())),
    }
}

/// The FreeBSD rc.d script and the Linux pid file of `j`'s client.
fn names(j: &Jail) -> Result<(&'static str, &'static str), MonitorError> {
    Ok(match client(j)? {
        VpnClient::WireGuard(_) => (wireguard::FREEBSD_SERVICE, pw::DAEMON),
        _ => (openvpn::FREEBSD_SERVICE, OPENVPN),
    })
}

/// Starts the client in jail `j`: OpenVPN daemonizes and writes its pid
/// file; WireGuard is brought up as `create` brings up a hot jail's
/// (`pl::wireguard_up_steps`: wireguard-go, `wg setconf` from the 0600
/// file, the addresses, the endpoint's route outside the tunnel and the
/// routes into it). FreeBSD: the port's script, `wg-quick up` for WireGuard.
pub fn start(site: &Site, host: &Host, j: &Jail) -> Result<Vec<Step>, MonitorError> {
    let c = client(j)?;
    let cmd = match (host.platform, c) {
        (Platform::Linux, VpnClient::WireGuard(_)) => {
            return pl::wireguard_up_steps(site, host, j)
                .ok_or_else(|| MonitorError::ColdClient(j.name.clone()));
        }
        (Platform::Linux, _) => pl::openvpn_start(host, &site.jail_netns(host, j), j),
        (Platform::FreeBsd, _) => fb::service_onestart(&j.name, names(j)?.0),
    };
    Ok(vec![Step {
        what: format!("start the VPN client of {} (elected, cold standby)", j.name),
        guard: Guard::Always,
        action: Action::Run(cmd),
        undo: vec![],
    }])
}

/// Stops the client and waits for it to exit (Linux: SIGTERM, SIGKILL after
/// 5 s, until the process is gone; FreeBSD: rc.subr waits for OpenVPN's
/// pid, and `wg-quick down` destroys the wg(4) interface, which has no
/// process, before it returns): the next replica starts only after this one's session is
/// gone. A wireguard-go that exits on SIGTERM removes its interface (and
/// with it the routes into the tunnel) and its control socket; a killed
/// one's socket is removed by the next start (plan/wireguard.rs).
pub fn stop(host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    let (service, daemon) = names(j)?;
    Ok(match host.platform {
        Platform::Linux => lx::daemon_stop(&pl::pidfile(host, &j.name, daemon)),
        Platform::FreeBsd => fb::service_onestop(&j.name, service),
    })
}

/// Exits 0 while the client runs. Linux: its pid file's process exists and
/// is not a zombie (`lx::daemon_running`). FreeBSD: the script's `onestatus`.
/// What is verified for WireGuard there is platform.md's: the script is
/// `wireguard` (net/wireguard-tools), knobs `wireguard_enable` and
/// `wireguard_interfaces`, `wg-quick up` at start. That its status asks
/// `wg show` of those interfaces, failing once `wg-quick down` destroyed
/// the interface, is UNVERIFIED: neither platform.md nor the search tool
/// had the script's text (docs/ha.md, Not done).
pub fn running(host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    let (service, daemon) = names(j)?;
    Ok(match host.platform {
        Platform::Linux => lx::daemon_running(&pl::pidfile(host, &j.name, daemon)),
        Platform::FreeBsd => fb::service_onestatus(&j.name, service),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::model::OpenVpnClient;
    use std::path::Path;

    /// examples/site.toml (FreeBSD host alpha) with vpnus's client made the
    /// one vpnjail runs, and the same host as if it were Linux.
    fn vpnus() -> (Site, Host, Host, Jail) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site.toml");
        let site = crate::deploy::check::load(&path).expect("examples/site.toml checks");
        let freebsd = site.hosts[0].clone();
        assert_eq!(freebsd.platform, Platform::FreeBsd);
        let mut j = freebsd.jail("vpnus").expect("vpnus").clone();
        let JailKind::Vpn(v) = &mut j.kind else {
            panic!("vpnus is a vpn jail")
        };
        v.client = VpnClient::OpenVpn(OpenVpnClient {
            config: "client\n".into(),
            auth: None,
            named: Vec::new(),
        });
        let linux = Host {
            platform: Platform::Linux,
            ..freebsd.clone()
        };
        (site, freebsd, linux, j)
    }

    #[test]
    fn freebsd_drives_the_ports_rc_script_in_the_jail() {
        let (site, host, _, j) = vpnus();
        let shell = |c: Result<Cmd, MonitorError>| c.expect("cmd").to_string();
        let steps = start(&site, &host, &j).expect("steps");
        assert_eq!(steps.len(), 1);
        assert!(
            matches!(&steps[0].action, Action::Run(c) if c.to_string() == "jexec vpnus service openvpn onestart"),
            "{steps:?}"
        );
        assert_eq!(
            shell(stop(&host, &j)),
            "jexec vpnus service openvpn onestop"
        );
        assert_eq!(
            shell(running(&host, &j)),
            "jexec vpnus service openvpn onestatus"
        );
    }

    #[test]
    fn linux_drives_the_backends_daemon_and_pid_file() {
        let (site, _, host, j) = vpnus();
        let pid = pl::pidfile(&host, "vpnus", OPENVPN);
        let steps = start(&site, &host, &j).expect("steps");
        assert!(
            matches!(&steps[..], [s] if matches!(&s.action, Action::Run(c) if c.to_string().contains("openvpn --daemon vpnjail-vpnus"))),
            "{steps:?}"
        );
        assert_eq!(stop(&host, &j).expect("cmd"), lx::daemon_stop(&pid));
        assert_eq!(running(&host, &j).expect("cmd"), lx::daemon_running(&pid));
    }

    #[test]
    fn a_client_vpnjail_does_not_run_is_refused_on_both() {
        let (site, freebsd, linux, mut j) = vpnus();
        let JailKind::Vpn(v) = &mut j.kind else {
            unreachable!()
        };
        v.client = VpnClient::Own;
        for host in [&freebsd, &linux] {
            assert!(matches!(
                start(&site, host, &j),
                Err(MonitorError::ColdClient(n)) if n == "vpnus"
            ));
            assert!(stop(host, &j).is_err());
            assert!(running(host, &j).is_err());
        }
    }
}
