//! The WireGuard part of the site check: a vpn jail's `wireguard = "FILE"`
//! read and judged by `provider::wireguard`, its problems reported at the
//! provider file's own lines (issue 11, docs/site.md). May touch: the
//! provider's file (read only).

use super::{Checker, Problem};
use crate::deploy::model::{Endpoint, VpnClient, WireGuardClient};
use crate::deploy::provider::wireguard;
use crate::deploy::site::JailDef;
use std::net::Ipv4Addr;

impl Checker<'_> {
    /// `Some` when the jail names a WireGuard file: the client, its
    /// endpoints and its `DNS =` (empty when the file is unreadable or
    /// wrong; the problems are recorded).
    pub(super) fn wireguard_client(
        &mut self,
        d: &JailDef,
        k: &dyn Fn(&str) -> String,
    ) -> Option<(VpnClient, Vec<Endpoint>, Option<Ipv4Addr>)> {
        let f = d.wireguard.as_ref()?;
        let empty = || {
            (
                VpnClient::WireGuard(WireGuardClient::default()),
                Vec::new(),
                None,
            )
        };
        for (key, given) in [
            ("openvpn", d.openvpn.as_ref().map(|v| v.span())),
            ("tun", d.tun.as_ref().map(|v| v.span())),
            ("openvpn_auth", d.openvpn_auth.as_ref().map(|v| v.span())),
            ("endpoints", d.endpoints.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = given {
                let why = match key {
                    "openvpn" => "a vpn jail runs one client: openvpn or wireguard, not both",
                    "openvpn_auth" => "openvpn_auth needs openvpn",
                    "tun" => {
                        "vpnjail names a WireGuard interface itself (wg and a hash, unique on the machine)"
                    }
                    _ => {
                        "the endpoints of a vpn jail with wireguard are its file's `Endpoint` lines"
                    }
                };
                self.err(span, k(key), why);
            }
        }
        let Some((path, text)) = self.provider_file(f, &k("wireguard"), "WireGuard") else {
            return Some(empty());
        };
        match wireguard::parse(&text) {
            Ok(w) => Some((
                VpnClient::WireGuard(WireGuardClient {
                    wg_quick: w.wg_quick(),
                    setconf: w.setconf,
                    addresses: w.addresses,
                    allowed: w.allowed,
                    mtu: w.mtu,
                    named: w.named,
                }),
                w.endpoints,
                w.dns.first().copied(),
            )),
            Err(errs) => {
                for e in errs {
                    let problem = Problem::keyed(&path, e.line, k("wireguard"), e.message);
                    self.problems.push(problem);
                }
                Some(empty())
            }
        }
    }
}
