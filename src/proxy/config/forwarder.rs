//! `[[forwarder]]`: an upstream's name, address (plain DNS, or `tls://` with
//! the name its certificate is for and the roots to verify it against) and
//! health settings, as plain data. The engine builds the live forwarders
//! from them: it reads `tls_ca` and resolves a `tls://` host name. May
//! touch: nothing.

use std::net::{IpAddr, SocketAddr};

use rustls::pki_types::ServerName;
use serde::Deserialize;
use toml::Spanned;

use super::{Checker, FileRef, HealthConfig};
use crate::parse::parse_socket_addr;

/// The URL scheme of a DNS-over-TLS forwarder's `address`.
pub const SCHEME: &str = "tls://";
/// The port of `tls://HOST` without one.
pub const TLS_PORT: u16 = 853;

/// One `[[forwarder]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwarderConfig {
    /// Policies and domain rules name it by this.
    pub name: Box<str>,
    pub transport: Transport,
    pub health: HealthConfig,
}

/// How a forwarder is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain DNS, over UDP and TCP, to this address.
    Plain(SocketAddr),
    /// DNS over TLS (RFC 7858).
    Tls(TlsConfig),
}

/// A `tls://` forwarder's settings, checked as far as can be without
/// reading a file or asking a resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `address` as written (`tls://HOST[:PORT]`).
    pub address: String,
    /// Where `address` is written, for the problems found when the engine
    /// resolves the host.
    pub address_at: (usize, usize),
    /// HOST: a literal IP address, or a name resolved when the engine is built.
    pub host: String,
    pub port: u16,
    /// The name the certificate must be valid for (`tls_name`, or HOST).
    pub server_name: String,
    /// `tls_ca`: the roots to verify against; `None`: the web's.
    pub ca: Option<FileRef>,
}

impl TlsConfig {
    /// Where the key a build problem starts with (`"tls_ca: ..."`) is
    /// written: `tls_ca`, or else `address`.
    pub fn at_of(&self, problem: &str) -> (usize, usize) {
        match (&self.ca, problem.starts_with("tls_ca:")) {
            (Some(ca), true) => ca.at,
            _ => self.address_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForwarder {
    name: Spanned<String>,
    address: Spanned<String>,
    probe: Option<Spanned<String>>,
    probe_interval: Option<Spanned<String>>,
    max_failures: Option<Spanned<u32>>,
    rise: Option<Spanned<u32>>,
    #[serde(default)]
    servfail_is_failure: bool,
    tls_name: Option<Spanned<String>>,
    tls_ca: Option<Spanned<String>>,
}

pub(super) fn check_forwarders(c: &mut Checker, raw: &[RawForwarder]) -> Vec<ForwarderConfig> {
    let mut forwarders: Vec<ForwarderConfig> = Vec::new();
    for f in raw {
        let name = f.name.get_ref();
        if !valid_forwarder_name(name) {
            c.error(
                f.name.span(),
                format!("forwarder name {name:?}: expected letters, digits, '_' or '-'"),
            );
        } else if matches!(name.as_str(), "source" | "refuse") {
            c.error(
                f.name.span(),
                format!("forwarder name {name:?} is reserved (it is a forward mode)"),
            );
        } else if forwarders.iter().any(|x| x.name.as_ref() == name) {
            c.error(
                f.name.span(),
                format!("forwarder {name:?} is defined twice"),
            );
        }
        let health = check_health(c, f);
        let transport = if f.address.get_ref().starts_with(SCHEME)
            || f.tls_name.is_some()
            || f.tls_ca.is_some()
        {
            check_tls(c, f).map(Transport::Tls)
        } else {
            match parse_socket_addr(f.address.get_ref(), 53) {
                Some(addr) => Some(Transport::Plain(addr)),
                None => {
                    c.error(
                        f.address.span(),
                        format!("address: expected \"10.10.1.2\", \"10.10.1.2:53\" or \"[fd00::2]:53\", found {:?}", f.address.get_ref()),
                    );
                    None
                }
            }
        };
        if let Some(transport) = transport {
            forwarders.push(ForwarderConfig {
                name: name.as_str().into(),
                transport,
                health,
            });
        }
    }
    forwarders
}

fn check_health(c: &mut Checker, f: &RawForwarder) -> HealthConfig {
    let mut health = HealthConfig {
        probe: f.probe.as_ref().and_then(|p| c.name(p, "probe")),
        probe_interval: c.duration(
            &f.probe_interval,
            "probe_interval",
            HealthConfig::default().probe_interval,
        ),
        servfail_is_failure: f.servfail_is_failure,
        ..HealthConfig::default()
    };
    for (value, key, field) in [
        (&f.max_failures, "max_failures", &mut health.max_failures),
        (&f.rise, "rise", &mut health.rise),
    ] {
        match value {
            Some(v) if *v.get_ref() == 0 => c.error(v.span(), format!("{key}: expected 1 or more")),
            Some(v) => *field = *v.get_ref(),
            None => {}
        }
    }
    health
}

/// A forwarder with a `tls://` address or the `tls_name` and `tls_ca`
/// keys: its settings, or `None` with the problem reported at the key it is
/// about.
fn check_tls(c: &mut Checker, f: &RawForwarder) -> Option<TlsConfig> {
    let (address, tls_name) = (&f.address, f.tls_name.as_ref());
    if !address.get_ref().starts_with(SCHEME) {
        let key = tls_name.or(f.tls_ca.as_ref())?;
        let message = format!(
            "tls_name and tls_ca are for a \"tls://\" address, not {:?}",
            address.get_ref()
        );
        c.error(key.span(), message);
        return None;
    }
    let (host, port) = match split_address(address.get_ref()) {
        Ok(ok) => ok,
        Err(e) => {
            c.error(address.span(), e);
            return None;
        }
    };
    let name_key = match (tls_name, host.parse::<IpAddr>()) {
        (Some(n), _) => n,
        (None, Err(_)) => address,
        (None, Ok(_)) => {
            c.error(
                address.span(),
                format!(
                    "tls_name: required with an IP address in {:?}: the name the forwarder's certificate is for, such as \"dns.example.net\"",
                    address.get_ref()
                ),
            );
            return None;
        }
    };
    let name = match tls_name {
        Some(n) => n.get_ref().as_str(),
        None => host,
    };
    if ServerName::try_from(name).is_err() {
        c.error(
            name_key.span(),
            format!("tls_name: expected a host name, found {name:?}"),
        );
        return None;
    }
    Some(TlsConfig {
        address: address.get_ref().clone(),
        address_at: c.at(address.span()),
        host: host.to_string(),
        port,
        server_name: name.to_string(),
        ca: f.tls_ca.as_ref().map(|p| c.file_ref(p)),
    })
}

/// The parts of `tls://HOST[:PORT]`: the host as written and the port.
pub fn split_address(address: &str) -> Result<(&str, u16), String> {
    let expected = || {
        format!(
            "address: expected \"tls://dns.example.net\", \"tls://192.0.2.1:853\" or \"tls://[2001:db8::1]\", found {address:?}"
        )
    };
    let rest = address.strip_prefix(SCHEME).ok_or_else(expected)?;
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(expected)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(expected)?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return Err(expected()), // an IPv6 address needs brackets
            None => (rest, None),
        }
    };
    let port = match port {
        None => TLS_PORT,
        Some(p) => p.parse().ok().filter(|&p| p > 0).ok_or_else(expected)?,
    };
    let is_name = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if host.parse::<IpAddr>().is_err() && (!is_name || host.len() > 253) {
        return Err(expected());
    }
    Ok((host, port))
}

fn valid_forwarder_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::proxy::config::Config;

    #[test]
    fn addresses_with_and_without_port() {
        assert_eq!(
            split_address("tls://dns.example.net"),
            Ok(("dns.example.net", 853))
        );
        assert_eq!(
            split_address("tls://192.0.2.1:8853"),
            Ok(("192.0.2.1", 8853))
        );
        assert_eq!(
            split_address("tls://[2001:db8::1]"),
            Ok(("2001:db8::1", 853))
        );
        assert_eq!(
            split_address("tls://[2001:db8::1]:5853"),
            Ok(("2001:db8::1", 5853))
        );
        for bad in [
            "dns.example.net",
            "tls://",
            "tls://2001:db8::1",
            "tls://a..b",
            "tls://a.b:0",
            "tls://a.b:99999",
            "tls://[2001:db8::1]x",
            "tls://a b",
            "https://a.b",
        ] {
            let e = split_address(bad).unwrap_err();
            assert!(e.starts_with("address: expected"), "{bad}: {e}");
        }
    }

    /// The config for one forwarder `f` with these lines, or its errors.
    fn forwarder(lines: &str) -> Result<ForwarderConfig, String> {
        let src = format!(
            "[[forwarder]]\nname = \"f\"\n{lines}\n[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = \"f\"\n"
        );
        match Config::parse(Path::new("/etc/vpndns/vpndns.toml"), &src) {
            Ok(c) => Ok(c.forwarders[0].clone()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn tls(lines: &str) -> TlsConfig {
        match forwarder(lines) {
            Ok(ForwarderConfig {
                transport: Transport::Tls(t),
                ..
            }) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_ip_address_needs_tls_name() {
        let e = forwarder("address = \"tls://192.0.2.1\"").unwrap_err();
        assert!(
            e.starts_with("/etc/vpndns/vpndns.toml:3:11: tls_name: required with an IP address"),
            "{e}"
        );
        let t = tls("address = \"tls://192.0.2.1\"\ntls_name = \"dns.example.net\"");
        assert_eq!((t.host.as_str(), t.port), ("192.0.2.1", 853));
        assert_eq!(t.server_name, "dns.example.net");
        assert_eq!(t.address_at, (3, 11));
        let e = forwarder("address = \"tls://192.0.2.1\"\ntls_name = \"not a name\"").unwrap_err();
        assert!(e.contains(":4:12: tls_name: expected a host name"), "{e}");
    }

    #[test]
    fn a_host_name_is_the_default_tls_name_and_is_not_resolved_here() {
        let t = tls("address = \"tls://dns.invalid:8853\"");
        assert_eq!((t.host.as_str(), t.port), ("dns.invalid", 8853));
        assert_eq!(t.server_name, "dns.invalid");
        assert_eq!(t.ca, None);
    }

    #[test]
    fn tls_problems_name_the_file_line_and_key() {
        let e = forwarder("address = \"192.0.2.1\"\ntls_name = \"dns.example.net\"").unwrap_err();
        assert!(
            e.starts_with(
                "/etc/vpndns/vpndns.toml:4:12: tls_name and tls_ca are for a \"tls://\" address"
            ),
            "{e}"
        );
        let e = forwarder("address = \"tls://[2001:db8::1\"").unwrap_err();
        assert!(e.contains(":3:11: address: expected \"tls://"), "{e}");
        let t = tls("address = \"tls://a.example\"\ntls_ca = \"ca.pem\"");
        let ca = t.ca.clone().unwrap();
        assert_eq!(ca.path, Path::new("/etc/vpndns/ca.pem"));
        assert_eq!(t.at_of("tls_ca: /etc/vpndns/ca.pem: gone"), (4, 10));
        assert_eq!(t.at_of("address: cannot resolve"), (3, 11));
    }

    #[test]
    fn a_plain_forwarder_has_port_53_by_default() {
        let f = forwarder("address = \"10.0.0.1\"\nmax_failures = 2").unwrap();
        assert_eq!(
            f.transport,
            Transport::Plain("10.0.0.1:53".parse().unwrap())
        );
        assert_eq!(f.health.max_failures, 2);
        let e = forwarder("address = \"10.0.0.1\"\nrise = 0").unwrap_err();
        assert!(e.contains(":4:8: rise: expected 1 or more"), "{e}");
    }
}
