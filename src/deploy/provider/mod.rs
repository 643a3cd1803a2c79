//! What vpnjail reads from a VPN provider: the endpoints a vpn jail's client
//! may reach outside the tunnel (`endpoints = ["ADDR:PORT/udp"]`, or the
//! `remote` lines of an OpenVPN file) and, in [`openvpn`], the provider's
//! OpenVPN client file; in [`wireguard`], its WireGuard (wg-quick) file;
//! in [`resolve`], the endpoints given as host names, resolved at `create`
//! and pinned. May touch: nothing (pure parsing) but `resolve::system`.

pub mod openvpn;
pub mod resolve;
pub mod wireguard;

use super::model::{Endpoint, Proto};
use std::net::Ipv4Addr;

/// Parses `ADDR:PORT/udp` or `ADDR:PORT/tcp` (an IPv4 address: the kill
/// switch pins addresses, never names).
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let want = || format!("{s:?} is not an endpoint such as \"203.0.113.7:1194/udp\"");
    let (hostport, proto) = s.rsplit_once('/').ok_or_else(want)?;
    let proto = parse_proto(proto).ok_or_else(want)?;
    let (addr, port) = hostport.rsplit_once(':').ok_or_else(want)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| want())?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(want)?;
    Ok(Endpoint { addr, port, proto })
}

/// A host name as RFC 1123 writes one: dot-separated labels of letters,
/// digits and inner hyphens, the last not all digits (so a mistyped
/// address such as `203.0.113.300` is not taken for a name).
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    s.len() <= 253
        && s.split('.').all(label)
        && !s
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// `udp` or `tcp` (OpenVPN also writes `udp4`, `tcp-client`, `tcp4-client`).
pub fn parse_proto(s: &str) -> Option<Proto> {
    match s {
        "udp" | "udp4" => Some(Proto::Udp),
        "tcp" | "tcp4" | "tcp-client" | "tcp4-client" => Some(Proto::Tcp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_told_from_garbage() {
        for good in [
            "localhost",
            "vpn.example.net",
            "VPN-1.example.net.",
            "a1.b2",
        ] {
            assert!(is_host_name(good), "{good}");
        }
        let long = format!("{}.net", "a".repeat(64));
        for bad in [
            "",
            ".",
            "a..b",
            "-a.net",
            "a-.net",
            "vpn_1.net",
            "203.0.113.300",
            "1.2.3",
            "a b",
            "a/b",
            &long,
        ] {
            assert!(!is_host_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_parse_and_bad_ones_are_named() {
        let e = parse_endpoint("203.0.113.7:1194/udp").unwrap();
        assert_eq!(
            (e.addr, e.port, e.proto),
            (Ipv4Addr::new(203, 0, 113, 7), 1194, Proto::Udp)
        );
        assert_eq!(
            parse_endpoint("198.51.100.1:443/tcp").unwrap().proto,
            Proto::Tcp
        );
        for bad in [
            "203.0.113.7:1194",
            "203.0.113.7/udp",
            "vpn.example.com:1194/udp",
            "203.0.113.7:0/udp",
            "203.0.113.7:70000/udp",
            "203.0.113.7:1194/icmp",
        ] {
            let e = parse_endpoint(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
