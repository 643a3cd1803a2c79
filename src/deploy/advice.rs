//! Warnings about a valid site: choices `vpnjail check` accepts but the user
//! should know the cost of (today: a bring-your-own vpn jail without
//! `endpoints`, whose own traffic the kill switch does not restrict). May
//! touch: nothing (pure, over the validated [`Site`]).

use super::model::{JailKind, Site, VpnClient};

/// One line per warning, naming the host and jail.
pub fn warnings(site: &Site) -> Vec<String> {
    let mut out = Vec::new();
    for h in &site.hosts {
        for j in &h.jails {
            if let JailKind::Vpn(v) = &j.kind
                && matches!(v.client, VpnClient::Own)
                && v.endpoints.is_none()
            {
                out.push(format!(
                    "host {}, jail {}: no endpoints: the jail's own traffic is unrestricted (only its clients' traffic is held to {}); name the provider with endpoints = [\"ADDR:PORT/udp\"]",
                    h.name, j.name, v.tun
                ));
            }
        }
    }
    out
}
