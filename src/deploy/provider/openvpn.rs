//! A VPN provider's OpenVPN client file (`.ovpn`), read and judged before
//! anything runs it: its endpoints (`remote`), its inline blocks, and the
//! directives vpnjail refuses because they would run the provider's code as
//! root or take over what vpnjail manages. Produces the text vpnjail installs
//! (the provider's lines, minus the ones it manages, plus its own). May
//! touch: nothing (pure parsing; `check.rs` reads the file).

use super::{is_host_name, parse_proto};
use crate::deploy::model::{Endpoint, NamedEndpoint, Proto};
use std::net::Ipv4Addr;

/// One problem in the provider's file, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: usize,
    pub message: String,
}

/// What vpnjail keeps of a provider's OpenVPN file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenVpnFile {
    /// The provider's lines, minus those vpnjail manages (`dev`,
    /// `auth-user-pass`) and comments; inline blocks kept as they are.
    pub body: String,
    /// Every `remote`, with its port and protocol resolved against `port`/`proto`.
    pub endpoints: Vec<Endpoint>,
    /// Every `remote` given as a host name (resolved and pinned at `create`).
    pub named: Vec<NamedEndpoint>,
    /// The file asks for a user name and password (`auth-user-pass`).
    pub needs_auth: bool,
}

/// Inline blocks a client file may carry (keys and certificates).
const INLINE: &[&str] = &[
    "ca",
    "cert",
    "key",
    "tls-auth",
    "tls-crypt",
    "tls-crypt-v2",
    "extra-certs",
    "pkcs12",
    "crl-verify",
    "secret",
];

/// Directives refused, with why: they run programs, load code, or take over
/// what vpnjail itself sets (its daemon, log, pid file, hooks).
fn refused(directive: &str) -> Option<&'static str> {
    Some(match directive {
        "up"
        | "down"
        | "route-up"
        | "route-pre-down"
        | "ipchange"
        | "client-connect"
        | "client-disconnect"
        | "learn-address"
        | "auth-user-pass-verify"
        | "tls-verify" => {
            "it runs a program of the provider's as root (vpnjail sets its own route-up hook)"
        }
        "script-security" => "vpnjail sets script-security itself (2: only its own hook runs)",
        "plugin" => "it loads a shared library of the provider's into OpenVPN",
        "iproute" | "dev-node" | "tmp-dir" | "cd" | "chroot" | "config" => {
            "it names programs or files on the machine"
        }
        "management" | "management-client" | "management-hold" => {
            "it opens a control channel into the client"
        }
        "daemon" | "writepid" | "log" | "log-append" | "syslog" | "status" => {
            "vpnjail runs the client and owns its pid file and log"
        }
        "setenv" | "setenv-safe" => "it sets environment variables for scripts",
        _ => return None,
    })
}

/// Parses the text of a provider's OpenVPN client file. Every problem is
/// reported, each at its line.
pub fn parse(text: &str) -> Result<OpenVpnFile, Vec<FileError>> {
    let mut errors = Vec::new();
    let mut body = String::new();
    let mut remotes: Vec<(usize, &str, Option<&str>, Option<&str>)> = Vec::new();
    let (mut port, mut proto): (Option<u16>, Option<Proto>) = (None, None);
    let mut needs_auth = false;
    let mut client = false;
    let mut block: Option<(&str, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        let mut err = |message: String| errors.push(FileError { line: n, message });
        if let Some((tag, _)) = block {
            body.push_str(raw);
            body.push('\n');
            if line == format!("</{tag}>") {
                block = None;
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(tag) = line.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            if INLINE.contains(&tag) {
                block = Some((tag, n));
                body.push_str(raw);
                body.push('\n');
            } else {
                err(format!(
                    "<{tag}> is not an inline block a client file may carry"
                ));
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let directive = words.next().unwrap_or_default().trim_start_matches("--");
        let args: Vec<&str> = words.collect();
        if let Some(why) = refused(directive) {
            err(format!("`{directive}` is refused: {why}"));
            continue;
        }
        match directive {
            "client" | "tls-client" | "pull" => client = true,
            "remote" => match args.as_slice() {
                [host, rest @ ..] if rest.len() <= 2 => {
                    remotes.push((n, host, rest.first().copied(), rest.get(1).copied()));
                }
                _ => err("`remote` takes HOST [PORT [PROTO]]".into()),
            },
            "port" | "rport" => match args.first().and_then(|p| p.parse::<u16>().ok()) {
                Some(p) if p > 0 && args.len() == 1 => port = Some(p),
                _ => err(format!("`{directive}` takes one port number")),
            },
            "proto" => match args.first().and_then(|p| parse_proto(p)) {
                Some(p) if args.len() == 1 => proto = Some(p),
                _ => err("`proto` takes udp or tcp-client (IPv4)".into()),
            },
            // Managed by vpnjail: the interface is the jail's `tun`, the
            // credentials are `openvpn_auth`.
            "dev" | "dev-type" => continue,
            "auth-user-pass" => {
                needs_auth = true;
                continue;
            }
            _ => {}
        }
        if !matches!(directive, "remote" | "port" | "rport" | "proto") {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((tag, n)) = block {
        errors.push(FileError {
            line: n,
            message: format!("<{tag}> is never closed by </{tag}>"),
        });
    }
    let (mut endpoints, mut named) = (Vec::new(), Vec::new());
    // The `remote` lines vpnjail writes, in the provider's order.
    let mut lines = Vec::new();
    for (n, host, p, pr) in remotes {
        let addr = host.parse::<Ipv4Addr>().ok();
        if addr.is_none() && !is_host_name(host) {
            errors.push(FileError {
                line: n,
                message: format!(
                    "remote {host:?} is neither an IPv4 address nor a host name such as vpn.example.net"
                ),
            });
            continue;
        }
        let port = match p.map(str::parse::<u16>) {
            None => port.unwrap_or(1194),
            Some(Ok(p)) if p > 0 => p,
            Some(_) => {
                errors.push(FileError {
                    line: n,
                    message: format!("remote {host}: {:?} is not a port", p.unwrap_or_default()),
                });
                continue;
            }
        };
        let proto = match pr.map(parse_proto) {
            None => proto.unwrap_or(Proto::Udp),
            Some(Some(p)) => p,
            Some(None) => {
                errors.push(FileError {
                    line: n,
                    message: format!(
                        "remote {host}: {:?} is not udp or tcp",
                        pr.unwrap_or_default()
                    ),
                });
                continue;
            }
        };
        lines.push(format!("remote {host} {port} {}\n", openvpn_proto(proto)));
        match addr {
            Some(addr) => endpoints.push(Endpoint { addr, port, proto }),
            None => named.push(NamedEndpoint {
                name: host.to_string(),
                port,
                proto,
            }),
        }
    }
    if !client {
        errors.push(FileError {
            line: 0,
            message: "not an OpenVPN client file (no `client`, `tls-client` or `pull`)".into(),
        });
    } else if lines.is_empty() && errors.is_empty() {
        errors.push(FileError {
            line: 0,
            message: "no `remote`: the file does not say where the provider is".into(),
        });
    }
    if errors.is_empty() {
        // One `proto` for the whole file (OpenVPN's own rule for the default).
        if let Some(p) = proto {
            body.push_str(&format!("proto {}\n", openvpn_proto(p)));
        }
        body.extend(lines);
        Ok(OpenVpnFile {
            body,
            endpoints,
            named,
            needs_auth,
        })
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

pub(super) fn openvpn_proto(p: Proto) -> &'static str {
    match p {
        Proto::Udp => "udp",
        Proto::Tcp => "tcp-client",
    }
}

/// The DNS servers an OpenVPN server pushed, from the environment of a
/// `--route-up` script: `foreign_option_N=dhcp-option DNS 10.8.0.1` (OpenVPN
/// 2.6 hands pushed `dns server` options over in the same form). IPv4 only,
/// in the order of N; anything else is ignored.
pub fn pushed_dns<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Ipv4Addr> {
    let mut opts: Vec<(u32, Ipv4Addr)> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let n: u32 = k.strip_prefix("foreign_option_")?.parse().ok()?;
            let w: Vec<&str> = v.split_whitespace().collect();
            let addr = match w.as_slice() {
                ["dhcp-option", "DNS", a] => *a,
                // `dns server N address A` (OpenVPN 2.6)
                ["dns", "server", _, "address", a, ..] => *a,
                _ => return None,
            };
            Some((n, addr.parse().ok()?))
        })
        .collect();
    opts.sort();
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for (_, a) in opts {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# provider file\nclient\ndev tun\nproto udp\nremote 203.0.113.7 1194\nremote 203.0.113.8 443 tcp\nauth-user-pass\nremote-cert-tls server\n<ca>\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n</ca>\nverb 3\n";

    #[test]
    fn a_provider_file_gives_its_endpoints_and_loses_what_vpnjail_manages() {
        let f = parse(GOOD).unwrap();
        assert_eq!(
            f.endpoints,
            vec![
                Endpoint {
                    addr: Ipv4Addr::new(203, 0, 113, 7),
                    port: 1194,
                    proto: Proto::Udp
                },
                Endpoint {
                    addr: Ipv4Addr::new(203, 0, 113, 8),
                    port: 443,
                    proto: Proto::Tcp
                },
            ]
        );
        assert!(f.needs_auth);
        assert!(!f.body.contains("dev tun"), "{}", f.body);
        assert!(!f.body.contains("auth-user-pass"), "{}", f.body);
        assert!(f.body.contains("<ca>\n-----BEGIN CERTIFICATE-----\nMIIB\n"));
        assert!(f.body.contains("remote 203.0.113.8 443 tcp-client\n"));
        assert!(f.body.contains("remote-cert-tls server\n"));
    }

    #[test]
    fn a_remote_host_name_is_kept_unresolved_in_the_providers_order() {
        let f = parse("client\nproto tcp\nremote 203.0.113.7 443\nremote VPN.example.net\nremote 203.0.113.8 1194 udp\n").unwrap();
        assert_eq!(
            f.named,
            vec![NamedEndpoint {
                name: "VPN.example.net".into(),
                port: 1194,
                proto: Proto::Tcp
            }]
        );
        assert_eq!(f.endpoints.len(), 2);
        assert!(
            f.body.ends_with("remote 203.0.113.7 443 tcp-client\nremote VPN.example.net 1194 tcp-client\nremote 203.0.113.8 1194 udp\n"),
            "{}",
            f.body
        );
        // Only names: no address endpoint, still a valid file.
        assert_eq!(
            parse("client\nremote localhost 1194\n")
                .unwrap()
                .named
                .len(),
            1
        );
    }

    #[test]
    fn scripts_of_the_provider_are_refused_at_their_line() {
        let bad = format!("{GOOD}script-security 2\nup /etc/openvpn/update-resolv-conf\n<foo>\n");
        let e = parse(&bad).unwrap_err();
        let at = |l: usize| e.iter().find(|x| x.line == l).map(|x| x.message.clone());
        assert!(at(15).unwrap().contains("script-security"), "{e:?}");
        assert!(at(16).unwrap().contains("`up` is refused"), "{e:?}");
        assert!(at(17).unwrap().contains("<foo>"), "{e:?}");
        for d in [
            "plugin x.so",
            "route-up /x",
            "management 127.0.0.1 7505",
            "daemon",
        ] {
            let e = parse(&format!("{GOOD}{d}\n")).unwrap_err();
            assert_eq!(e[0].line, 15, "{d}: {e:?}");
        }
    }

    #[test]
    fn not_a_client_file_no_remote_or_bad_remote() {
        assert!(
            parse("[Interface]\nPrivateKey = x\n").unwrap_err()[0]
                .message
                .contains("not an OpenVPN client file")
        );
        assert!(
            parse("client\ndev tun\n").unwrap_err()[0]
                .message
                .contains("no `remote`")
        );
        for bad in [
            "vpn_1.example.com",
            "-vpn.example.com",
            "203.0.113.300",
            "a..b",
        ] {
            let e = parse(&format!("client\nremote {bad} 1194\n")).unwrap_err();
            assert_eq!(e[0].line, 2);
            assert!(e[0].message.contains("neither an IPv4"), "{e:?}");
        }
        let e = parse("client\nremote 203.0.113.7 1194\n<key>\nabc\n").unwrap_err();
        assert_eq!(
            (e[0].line, e[0].message.contains("never closed")),
            (3, true)
        );
    }

    #[test]
    fn pushed_dns_is_read_from_foreign_options_in_order() {
        let env = [
            ("foreign_option_2", "dhcp-option DNS 10.8.0.2"),
            ("foreign_option_1", "dhcp-option DNS 10.8.0.1"),
            ("foreign_option_3", "dhcp-option DOMAIN example.com"),
            ("foreign_option_4", "dns server 0 address 10.8.0.3"),
            ("foreign_option_5", "dhcp-option DNS not-an-address"),
            ("foreign_option_6", "dhcp-option DNS 10.8.0.1"),
            ("dev", "tun0"),
        ];
        assert_eq!(
            pushed_dns(env),
            vec![
                Ipv4Addr::new(10, 8, 0, 1),
                Ipv4Addr::new(10, 8, 0, 2),
                Ipv4Addr::new(10, 8, 0, 3)
            ]
        );
    }
}
