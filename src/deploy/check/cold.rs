//! The `standby` key of a replicated vpn jail, and whether it can run in
//! cold standby (`standby = "cold"`, docs/ha.md): `vpnjail monitor` must be
//! able to start and stop its VPN client, so vpnjail must run that client
//! (OpenVPN or WireGuard, on Linux and FreeBSD alike: monitor/client.rs).
//! May touch: nothing (pure).

use super::Checker;
use crate::deploy::model::{Jail, JailKind, Standby, VpnClient};
use crate::deploy::site::JailDef;

impl Checker<'_> {
    /// `standby` of a replicated vpn jail (model::Standby, monitor/cold.rs).
    pub(super) fn standby(
        &mut self,
        d: &JailDef,
        k: &dyn Fn(&str) -> String,
        jail: &Jail,
    ) -> Standby {
        let Some(s) = &d.standby else {
            return Standby::Hot;
        };
        let problem = match s.get_ref().as_str() {
            "hot" => return Standby::Hot,
            "cold" => problem(jail),
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

/// What stops the replicated `jail` from cold standby.
pub fn problem(jail: &Jail) -> Option<String> {
    let JailKind::Vpn(v) = &jail.kind else {
        return Some("standby applies only to a vpn jail".into());
    };
    if v.client == VpnClient::Own {
        return Some(
            "standby = \"cold\" needs a VPN client vpnjail runs, which the monitor starts and stops: \
             add openvpn = \"FILE\" or wireguard = \"FILE\" (a client you run yourself cannot be \
             started by vpnjail)"
                .into(),
        );
    }
    None
}
