//! The VPN client of a replicated vpn jail in cold standby, as `vpnjail
//! monitor` drives it: one command starts it, one stops it, one asks whether
//! it runs. The client is the one vpnjail runs for the jail (`openvpn =
//! "FILE"`): on Linux with the very commands and pid file of the Linux
//! backend (plan/linux.rs), on FreeBSD through the port's rc.d script in the
//! jail (`service openvpn onestart`: its rc.conf.d says `openvpn_enable="NO"`
//! in cold standby, render/openvpn.rs), so `create`, `destroy` and `status`
//! see the same process.
//! May touch: nothing (it builds commands; the executor runs them).

use super::super::command::{Cmd, freebsd as fb, linux as lx};
use super::super::model::{Host, Jail, JailKind, Platform, Site, VpnClient};
use super::super::plan::linux as pl;
use super::super::render::openvpn::FREEBSD_SERVICE;
use super::MonitorError;

/// The pid file name of the Linux client (beside the jail's other files).
const OPENVPN: &str = "openvpn";

/// Refuses what `vpnjail check` refuses for cold standby (check/cold.rs):
/// a client vpnjail does not run.
fn supported(j: &Jail) -> Result<(), MonitorError> {
    if matches!(&j.kind, JailKind::Vpn(v) if matches!(v.client, VpnClient::OpenVpn(_))) {
        Ok(())
    } else {
        Err(MonitorError::ColdClient(j.name.clone()))
    }
}

/// Starts the client in jail `j` (it daemonizes and writes its pid file).
pub fn start(site: &Site, host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    supported(j)?;
    Ok(match host.platform {
        Platform::Linux => pl::openvpn_start(host, &site.jail_netns(host, j), j),
        Platform::FreeBsd => fb::service_onestart(&j.name, FREEBSD_SERVICE),
    })
}

/// Stops the client and waits for it to exit (Linux: SIGTERM, SIGKILL after
/// 5 s; FreeBSD: rc.subr waits for the pid): the next replica starts only
/// after this one's session is gone.
pub fn stop(host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    supported(j)?;
    Ok(match host.platform {
        Platform::Linux => lx::daemon_stop(&pl::pidfile(host, &j.name, OPENVPN)),
        Platform::FreeBsd => fb::service_onestop(&j.name, FREEBSD_SERVICE),
    })
}

/// Exits 0 while the client runs.
pub fn running(host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    supported(j)?;
    Ok(match host.platform {
        Platform::Linux => lx::daemon_running(&pl::pidfile(host, &j.name, OPENVPN)),
        Platform::FreeBsd => fb::service_onestatus(&j.name, FREEBSD_SERVICE),
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
        assert_eq!(
            shell(start(&site, &host, &j)),
            "jexec vpnus service openvpn onestart"
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
        assert!(
            start(&site, &host, &j)
                .expect("cmd")
                .to_string()
                .contains("openvpn --daemon vpnjail-vpnus")
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
