//! A VPN provider's WireGuard file (wg-quick style: `[Interface]` and
//! `[Peer]` sections), read and judged before anything uses it: its keys,
//! its endpoints, its addresses and DNS, and the hooks vpnjail refuses
//! because wg-quick would run them as root. Produces the two texts vpnjail
//! installs: the `wg setconf` file (wg(8) keys only) and the wg-quick file
//! of FreeBSD's rc script. May touch: nothing (pure parsing; `check` reads
//! the file).

use super::is_host_name;
use super::openvpn::FileError;
use crate::deploy::model::{Endpoint, NamedEndpoint, Proto};
use base64::Engine;
use ipnet::Ipv4Net;
use std::net::{Ipv4Addr, SocketAddrV4};

/// What vpnjail keeps of a provider's WireGuard file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireGuardFile {
    /// For `wg setconf`: `[Interface]` PrivateKey, ListenPort and every
    /// `[Peer]`, without wg-quick's own keys (Address, DNS, MTU).
    pub setconf: String,
    /// The IPv4 addresses of `Address =` (IPv6 ones are left out: the kill
    /// switch blocks IPv6).
    pub addresses: Vec<Ipv4Net>,
    /// The IPv4 resolvers of `DNS =` (search domains are left out).
    pub dns: Vec<Ipv4Addr>,
    pub mtu: Option<u16>,
    /// Every peer's `Endpoint` (UDP).
    pub endpoints: Vec<Endpoint>,
    /// Every peer's `Endpoint` given as a host name (resolved and pinned at
    /// `create`; `setconf` keeps the name until then).
    pub named: Vec<NamedEndpoint>,
    /// The IPv4 networks of every peer's `AllowedIPs`: routed into the tunnel.
    pub allowed: Vec<Ipv4Net>,
}

impl WireGuardFile {
    /// The wg-quick file FreeBSD's `wireguard` rc script brings up: the
    /// setconf keys plus Address and MTU. No DNS: vpnjail points seed step
    /// 5 at it instead of letting wg-quick run resolvconf.
    pub fn wg_quick(&self) -> String {
        let mut iface = String::new();
        for a in &self.addresses {
            iface.push_str(&format!("Address = {a}\n"));
        }
        if let Some(m) = self.mtu {
            iface.push_str(&format!("MTU = {m}\n"));
        }
        // After the [Interface] line, before its keys.
        self.setconf
            .replacen("[Interface]\n", &format!("[Interface]\n{iface}"), 1)
    }
}

/// Keys wg-quick runs as shell commands (as root).
const HOOKS: &[&str] = &["PreUp", "PostUp", "PreDown", "PostDown"];

/// A WireGuard key: 32 bytes in base64.
fn is_key(s: &str) -> bool {
    s.len() == 44
        && base64::engine::general_purpose::STANDARD
            .decode(s)
            .is_ok_and(|b| b.len() == 32)
}

fn ipv4_net(s: &str) -> Result<Option<Ipv4Net>, ()> {
    if s.contains(':') {
        // IPv6: syntax-checked by wg itself; not routed here.
        return s
            .split('/')
            .next()
            .and_then(|a| a.parse::<std::net::Ipv6Addr>().ok())
            .map(|_| None)
            .ok_or(());
    }
    match s.parse::<Ipv4Net>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => s
            .parse::<Ipv4Addr>()
            .map(|a| Some(a.into()))
            .map_err(|_| ()),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    None,
    Interface,
    Peer,
}

/// Parses the text of a provider's WireGuard file. Every problem is
/// reported, each at its line.
pub fn parse(text: &str) -> Result<WireGuardFile, Vec<FileError>> {
    parse_with(text, true)
}

/// Parses the `wg setconf` file `create` installed (render/wireguard.rs
/// `setconf`: the provider's file without wg-quick's Address, DNS and MTU,
/// its endpoints pinned): what `vpnjail monitor` reads the pinned
/// endpoints back from for a cold replica.
pub fn parse_installed(text: &str) -> Result<WireGuardFile, Vec<FileError>> {
    parse_with(text, false)
}

/// [`parse`], requiring `Address =` only with `need_address`.
fn parse_with(text: &str, need_address: bool) -> Result<WireGuardFile, Vec<FileError>> {
    let mut errors = Vec::new();
    let mut f = WireGuardFile::default();
    let mut section = Section::None;
    let (mut interfaces, mut private_key, mut peers) = (0, false, 0usize);
    // Per peer: its line, whether it has a PublicKey, whether an Endpoint.
    let mut peer_has: Vec<(usize, bool, bool)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or_default().trim();
        let mut err = |message: String| errors.push(FileError { line: n, message });
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = match line {
                "[Interface]" => {
                    interfaces += 1;
                    if interfaces > 1 {
                        err("a second [Interface] section".into());
                    }
                    Section::Interface
                }
                "[Peer]" => {
                    peers += 1;
                    peer_has.push((n, false, false));
                    Section::Peer
                }
                other => {
                    err(format!(
                        "{other} is not a section of a WireGuard file ([Interface] or [Peer])"
                    ));
                    Section::None
                }
            };
            f.setconf.push_str(line);
            f.setconf.push('\n');
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            err(format!("{line:?} is not `Key = value`"));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if HOOKS.iter().any(|h| h.eq_ignore_ascii_case(key)) {
            err(format!(
                "`{key}` is refused: wg-quick would run the provider's command as root"
            ));
            continue;
        }
        let list = || value.split(',').map(str::trim).filter(|s| !s.is_empty());
        let mut keep = false;
        match (section, key.to_ascii_lowercase().as_str()) {
            (Section::None, _) => err(format!("`{key}` outside [Interface] or [Peer]")),
            (Section::Interface, "privatekey") => {
                private_key = true;
                keep = true;
                if !is_key(value) {
                    err("PrivateKey is not a WireGuard key (32 bytes in base64, as `wg genkey` prints)".into());
                }
            }
            (Section::Interface, "listenport") => {
                keep = true;
                if value.parse::<u16>().is_err() {
                    err(format!("ListenPort {value:?} is not a port"));
                }
            }
            (Section::Interface, "address") => {
                for a in list() {
                    match ipv4_net(a) {
                        Ok(Some(net)) => f.addresses.push(net),
                        Ok(None) => {}
                        Err(()) => err(format!(
                            "Address {a:?} is not an address such as 10.64.0.2/32"
                        )),
                    }
                }
            }
            (Section::Interface, "dns") => {
                for a in list() {
                    if let Ok(ip) = a.parse::<Ipv4Addr>() {
                        f.dns.push(ip);
                    }
                }
            }
            (Section::Interface, "mtu") => match value.parse::<u16>() {
                Ok(m) if (1280..=9000).contains(&m) => f.mtu = Some(m),
                _ => err(format!("MTU {value:?} is not a number from 1280 to 9000")),
            },
            (Section::Interface, "table" | "saveconfig" | "fwmark") => err(format!(
                "`{key}` is refused: vpnjail sets the routes itself"
            )),
            (Section::Peer, "publickey") => {
                keep = true;
                if let Some(p) = peer_has.last_mut() {
                    p.1 = true;
                }
                if !is_key(value) {
                    err("PublicKey is not a WireGuard key (32 bytes in base64)".into());
                }
            }
            (Section::Peer, "presharedkey") => {
                keep = true;
                if !is_key(value) {
                    err("PresharedKey is not a WireGuard key (32 bytes in base64)".into());
                }
            }
            (Section::Peer, "endpoint") => {
                keep = true;
                if let Some(p) = peer_has.last_mut() {
                    p.2 = true;
                }
                let named = value
                    .rsplit_once(':')
                    .filter(|(h, _)| h.parse::<Ipv4Addr>().is_err() && is_host_name(h))
                    .and_then(|(h, p)| Some((h, p.parse::<u16>().ok().filter(|p| *p > 0)?)));
                match (value.parse::<SocketAddrV4>(), named) {
                    (Ok(s), _) if s.port() > 0 => f.endpoints.push(Endpoint {
                        addr: *s.ip(),
                        port: s.port(),
                        proto: Proto::Udp,
                    }),
                    (_, Some((name, port))) => f.named.push(NamedEndpoint {
                        name: name.to_string(),
                        port,
                        proto: Proto::Udp,
                    }),
                    _ => err(format!(
                        "Endpoint {value:?} is not an IPv4 address or host name with a port, such as 203.0.113.7:51820 or vpn.example.net:51820"
                    )),
                }
            }
            (Section::Peer, "allowedips") => {
                keep = true;
                for a in list() {
                    match ipv4_net(a) {
                        Ok(Some(net)) => f.allowed.push(net),
                        Ok(None) => {}
                        Err(()) => err(format!(
                            "AllowedIPs {a:?} is not a network such as 0.0.0.0/0"
                        )),
                    }
                }
            }
            (Section::Peer, "persistentkeepalive") => {
                keep = true;
                if value != "off" && value.parse::<u16>().is_err() {
                    err(format!(
                        "PersistentKeepalive {value:?} is not a number of seconds"
                    ));
                }
            }
            (_, _) => err(format!(
                "`{key}` is not a key of a WireGuard file's {} section",
                if section == Section::Peer {
                    "[Peer]"
                } else {
                    "[Interface]"
                }
            )),
        }
        if keep {
            f.setconf.push_str(&format!("{key} = {value}\n"));
        }
    }
    if interfaces == 0 || (peers == 0 && !private_key) {
        errors.push(FileError {
            line: 0,
            message: "not a WireGuard file (no [Interface] with a PrivateKey and [Peer])".into(),
        });
    } else {
        let at = |line, message: &str| FileError {
            line,
            message: message.into(),
        };
        if !private_key {
            errors.push(at(0, "[Interface] has no PrivateKey"));
        }
        if need_address && f.addresses.is_empty() {
            errors.push(at(
                0,
                "[Interface] has no IPv4 Address: the tunnel needs one",
            ));
        }
        if peers == 0 {
            errors.push(at(
                0,
                "no [Peer]: the file does not say where the provider is",
            ));
        }
        for &(line, public, endpoint) in &peer_has {
            if !public {
                errors.push(at(line, "this [Peer] has no PublicKey"));
            }
            if !endpoint {
                errors.push(at(
                    line,
                    "this [Peer] has no Endpoint: the file does not say where the provider is",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIV: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    const PUB: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

    fn good() -> String {
        format!(
            "# provider\n[Interface]\nPrivateKey = {PRIV}\nAddress = 10.64.0.2/32, fc00:bbbb::2/128\nDNS = 10.64.0.1, vpn.example\nMTU = 1380\n\n[Peer]\nPublicKey = {PUB}\nPresharedKey = {PUB}\nEndpoint = 203.0.113.7:51820\nAllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n"
        )
    }

    #[test]
    fn a_provider_file_gives_its_endpoint_addresses_and_dns() {
        let f = parse(&good()).unwrap();
        assert_eq!(
            f.endpoints,
            vec![Endpoint {
                addr: Ipv4Addr::new(203, 0, 113, 7),
                port: 51820,
                proto: Proto::Udp
            }]
        );
        assert_eq!(
            f.addresses,
            vec!["10.64.0.2/32".parse::<Ipv4Net>().unwrap()]
        );
        assert_eq!(f.dns, vec![Ipv4Addr::new(10, 64, 0, 1)]);
        assert_eq!(f.mtu, Some(1380));
        assert_eq!(f.allowed, vec!["0.0.0.0/0".parse::<Ipv4Net>().unwrap()]);
        // wg setconf refuses wg-quick's keys: they are not in its file.
        for k in ["Address", "DNS", "MTU", "#"] {
            assert!(!f.setconf.contains(k), "{k} in\n{}", f.setconf);
        }
        assert!(
            f.setconf
                .starts_with(&format!("[Interface]\nPrivateKey = {PRIV}\n[Peer]\n"))
        );
        assert!(f.setconf.contains("AllowedIPs = 0.0.0.0/0, ::/0\n"));
        let q = f.wg_quick();
        assert!(
            q.starts_with("[Interface]\nAddress = 10.64.0.2/32\nMTU = 1380\nPrivateKey"),
            "{q}"
        );
        assert!(!q.contains("DNS"), "{q}");
    }

    #[test]
    fn an_endpoint_host_name_is_kept_unresolved() {
        let f = parse(&good().replace("203.0.113.7:51820", "vpn.example.net:51820")).unwrap();
        assert!(f.endpoints.is_empty());
        assert_eq!(
            f.named,
            vec![NamedEndpoint {
                name: "vpn.example.net".into(),
                port: 51820,
                proto: Proto::Udp
            }]
        );
        assert!(f.setconf.contains("Endpoint = vpn.example.net:51820\n"));
    }

    #[test]
    fn hooks_bad_keys_and_a_missing_endpoint_are_named_at_their_line() {
        let bad = good()
            .replace("MTU = 1380", "PostUp = iptables -F")
            .replace(
                &format!("PublicKey = {PUB}\nPreshared"),
                "PublicKey = abc\nPreshared",
            );
        let e = parse(&bad).unwrap_err();
        let at = |l: usize| e.iter().find(|x| x.line == l).map(|x| x.message.clone());
        assert!(at(6).unwrap().contains("`PostUp` is refused"), "{e:?}");
        assert!(
            at(9).unwrap().contains("PublicKey is not a WireGuard key"),
            "{e:?}"
        );
        let e = parse(&good().replace("Endpoint = 203.0.113.7:51820\n", "")).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, 8);
        assert!(e[0].message.contains("no Endpoint"), "{e:?}");
        for bad in [
            "vpn_x.example.com:51820",
            "vpn.example.com",
            "vpn.example.com:0",
            "203.0.113.7:0",
            "203.0.113.300:51820",
            "[2001:db8::1]:51820",
        ] {
            let e = parse(&good().replace("203.0.113.7:51820", bad)).unwrap_err();
            assert_eq!(e[0].line, 11, "{bad}: {e:?}");
            assert!(
                e[0].message.contains("not an IPv4 address or host name"),
                "{e:?}"
            );
        }
        for hook in ["PreUp = x", "predown = x", "PostDown=x"] {
            let e = parse(&good().replace("MTU = 1380", hook)).unwrap_err();
            assert_eq!(e[0].line, 6, "{hook}: {e:?}");
        }
    }

    #[test]
    fn not_a_wireguard_file() {
        for text in ["client\nremote 203.0.113.7 1194\n", "", "[Peer]\n"] {
            let e = parse(text).unwrap_err();
            assert!(
                e.iter()
                    .any(|x| x.message.contains("not") || x.message.contains("no [")),
                "{text:?}: {e:?}"
            );
        }
        assert!(is_key(PRIV) && !is_key("AAAA") && !is_key(&"A".repeat(44)));
    }
}
