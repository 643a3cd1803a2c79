//! The VPN client of a replicated vpn jail in cold standby, as `vpnjail
//! monitor` drives it: one command starts it, one stops it, one asks whether
//! it runs. The client is the one vpnjail runs for the jail (`openvpn =
//! "FILE"`), with the very commands and pid file of the Linux backend
//! (plan/linux.rs), so `create`, `destroy` and `status` see the same process.
//! May touch: nothing (it builds commands; the executor runs them).

use super::super::command::{Cmd, linux as lx};
use super::super::model::{Host, Jail, JailKind, Platform, Site, VpnClient};
use super::super::plan::linux as pl;
use super::MonitorError;

/// The pid file name of the client (beside the Linux jail's other files).
const OPENVPN: &str = "openvpn";

/// Refuses what `vpnjail check` refuses for cold standby (check/cold.rs):
/// a client vpnjail does not run, a FreeBSD host.
fn supported(host: &Host, j: &Jail) -> Result<(), MonitorError> {
    let vpnjail_runs =
        matches!(&j.kind, JailKind::Vpn(v) if matches!(v.client, VpnClient::OpenVpn(_)));
    if vpnjail_runs && host.platform == Platform::Linux {
        Ok(())
    } else {
        Err(MonitorError::ColdClient(j.name.clone()))
    }
}

/// Starts the client in jail `j` (it daemonizes and writes its pid file).
pub fn start(site: &Site, host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    supported(host, j)?;
    Ok(pl::openvpn_start(host, &site.jail_netns(host, j), j))
}

/// Stops the client and waits for it to exit (SIGTERM, SIGKILL after 5 s):
/// the next replica starts only after this one's session is gone.
pub fn stop(host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    supported(host, j)?;
    Ok(lx::daemon_stop(&pl::pidfile(host, &j.name, OPENVPN)))
}

/// Exits 0 while the client runs.
pub fn running(host: &Host, j: &Jail) -> Result<Cmd, MonitorError> {
    supported(host, j)?;
    Ok(lx::daemon_running(&pl::pidfile(host, &j.name, OPENVPN)))
}
