//! The `standby` key of a replicated vpn jail, and whether it can run in
//! cold standby (`standby = "cold"`, docs/ha.md): `vpnjail monitor` must be
//! able to start and stop its VPN client, so vpnjail must run that client, on
//! Linux (the FreeBSD client is not started by the monitor yet).
//! May touch: nothing (pure).

use super::Checker;
use crate::deploy::model::{Jail, JailKind, Platform, Site, Standby, VpnClient};
use crate::deploy::site::JailDef;

impl Checker<'_> {
    /// `standby` of a replicated vpn jail (model::Standby, monitor/cold.rs).
    pub(super) fn standby(
        &mut self,
        d: &JailDef,
        k: &dyn Fn(&str) -> String,
        site: &Site,
        jail: &Jail,
        names: &[String],
    ) -> Standby {
        let Some(s) = &d.standby else {
            return Standby::Hot;
        };
        let problem = match s.get_ref().as_str() {
            "hot" => return Standby::Hot,
            "cold" => problem(site, jail, names),
            other => Some(format!(
                "{other:?}: expected \"hot\" (every replica runs its VPN client) or \"cold\" (only the elected one)"
            )),
        };
        match problem {
            None => Standby::Cold,
            Some(p) => {
                self.err(s.span(), k("standby"), p);
                Standby::Hot
            }
        }
    }
}

/// What stops `jail`, replicated on the hosts `replicas`, from cold standby.
pub fn problem(site: &Site, jail: &Jail, replicas: &[String]) -> Option<String> {
    let JailKind::Vpn(v) = &jail.kind else {
        return Some("standby applies only to a vpn jail".into());
    };
    if v.client == VpnClient::Own {
        return Some(
            "standby = \"cold\" needs a VPN client vpnjail runs, which the monitor starts and stops: \
             add openvpn = \"FILE\" (a client you run yourself cannot be started by vpnjail)"
                .into(),
        );
    }
    if matches!(v.client, VpnClient::WireGuard(_)) {
        return Some(
            "standby = \"cold\" does not drive a WireGuard client yet (the monitor starts and stops \
             OpenVPN only): use \"hot\", or openvpn = \"FILE\""
                .into(),
        );
    }
    let freebsd: Vec<&str> = replicas
        .iter()
        .filter(|h| {
            site.host(h)
                .is_some_and(|h| h.platform == Platform::FreeBsd)
        })
        .map(String::as_str)
        .collect();
    if !freebsd.is_empty() {
        return Some(format!(
            "standby = \"cold\" is not available on FreeBSD yet (replica hosts {freebsd:?}): use \"hot\""
        ));
    }
    None
}
