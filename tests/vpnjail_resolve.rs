//! Provider endpoints given as host names: `check` keeps them unresolved;
//! `create` resolves them (a fake resolver in-process, the real getaddrinfo
//! for `localhost` over the CLI) and pins the addresses in the kill switch
//! and the client's config, so nothing left for the client resolves a name;
//! a name resolving to nothing refuses the plan; `destroy` resolves nothing.

mod vpnjail_support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use vpndns::deploy::apply::{Target, apply_with};
use vpndns::deploy::model::{JailKind, Site, VpnClient};
use vpnjail_support::*;

const PRIV: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const PUB: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

const OVPN: &str = "client\ndev tun\nproto udp\nremote vpn.example.net 1194\nremote 203.0.113.8 443 tcp\nremote-cert-tls server\n";

fn wireguard() -> String {
    format!(
        "[Interface]\nPrivateKey = {PRIV}\nAddress = 10.64.0.2/32\nDNS = 10.64.0.1\n\n[Peer]\nPublicKey = {PUB}\nEndpoint = wg.example.net:51820\nAllowedIPs = 0.0.0.0/0\n"
    )
}

/// The example site with vpnus running `key = "FILE"` holding `text`.
fn site_with(key: &str, file: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let line = match key {
        "openvpn" => "tun = \"tun0\"\nopenvpn = \"FILE\"".replace("FILE", file),
        _ => format!("wireguard = \"{file}\""),
    };
    let (dir, p) =
        edited_site(|t| t.replacen("tun = \"tun0\"\nprovider_dns = \"10.8.0.1\"", &line, 1));
    write(dir.path(), file, text);
    (dir, p)
}

fn load(p: &Path) -> Site {
    vpndns::deploy::check::load(p).unwrap_or_else(|e| panic!("check: {e}"))
}

fn create() -> Target {
    Target::Create {
        jail: "vpnus".into(),
        host: None,
    }
}

fn fake(name: &str) -> Result<Vec<Ipv4Addr>, String> {
    match name {
        "vpn.example.net" => Ok(vec![
            Ipv4Addr::new(198, 51, 100, 7),
            Ipv4Addr::new(198, 51, 100, 8),
        ]),
        "wg.example.net" => Ok(vec![
            Ipv4Addr::new(198, 51, 100, 9),
            Ipv4Addr::new(198, 51, 100, 10),
        ]),
        "empty.example.net" => Ok(Vec::new()),
        _ => Err("no such host".into()),
    }
}

fn dry_run(site: &Site, t: &Target) -> Result<String, String> {
    let mut out = Vec::new();
    apply_with(site, t, true, &fake, &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("utf-8"))
}

#[test]
fn a_site_without_names_is_left_as_it_is() {
    // The example's vpnus brings its own client, unrestricted (no endpoints).
    let site = example();
    let (pinned, pins) =
        vpndns::deploy::apply::pinned(&site, &create(), &fake).expect("nothing to resolve");
    assert!(pins.is_empty());
    let kinds = |s: &Site| -> Vec<JailKind> {
        s.hosts
            .iter()
            .flat_map(|h| h.jails.iter().map(|j| j.kind.clone()))
            .collect()
    };
    assert_eq!(kinds(&pinned), kinds(&site));
    let JailKind::Vpn(v) = &pinned.jail("vpnus").expect("vpnus").1.kind else {
        panic!("not a vpn jail")
    };
    assert_eq!(v.endpoints, None, "unrestricted stays unrestricted");
}

#[test]
fn check_keeps_the_names_unresolved() {
    let (_d, p) = site_with("openvpn", "vpnus.ovpn", OVPN);
    let site = load(&p);
    let JailKind::Vpn(v) = &site.jail("vpnus").expect("vpnus").1.kind else {
        panic!("not a vpn jail")
    };
    let VpnClient::OpenVpn(o) = &v.client else {
        panic!("not openvpn")
    };
    assert_eq!(o.named.len(), 1);
    assert_eq!(o.named[0].name, "vpn.example.net");
    // Only the address endpoint is admitted before the name is pinned.
    let e = v.endpoints.as_deref().expect("endpoints");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].addr, Ipv4Addr::new(203, 0, 113, 8));
}

#[test]
fn openvpn_remote_names_are_pinned_in_the_kill_switch_and_the_config_in_order() {
    let (_d, p) = site_with("openvpn", "vpnus.ovpn", OVPN);
    let out = dry_run(&load(&p), &create()).expect("dry run");
    assert!(
        out.starts_with(
            "#!/bin/sh\n# resolved vpn.example.net \u{2192} 198.51.100.7, 198.51.100.8 (would pin, jail vpnus)\n"
        ),
        "{out}"
    );
    // The provider's order: the name's addresses at its place, then the next remote.
    assert!(
        out.contains(
            "remote 198.51.100.7 1194 udp\nremote 198.51.100.8 1194 udp\nremote 203.0.113.8 443 tcp-client\n"
        ),
        "{out}"
    );
    for a in ["198.51.100.7", "198.51.100.8", "203.0.113.8"] {
        let in_pf = out
            .lines()
            .any(|l| (l.contains("table") || l.contains("pass")) && l.contains(a));
        assert!(in_pf, "{a} not in the kill switch:\n{out}");
    }
    // Nothing but the comment names the host: the client resolves nothing.
    assert_eq!(out.matches("vpn.example.net").count(), 1, "{out}");
}

#[test]
fn a_wireguard_endpoint_name_is_pinned_to_its_first_address() {
    let (_d, p) = site_with("wireguard", "wg.conf", &wireguard());
    let out = dry_run(&load(&p), &create()).expect("dry run");
    assert!(
        out.starts_with(
            "#!/bin/sh\n# resolved wg.example.net \u{2192} 198.51.100.9 (would pin, jail vpnus)\n"
        ),
        "{out}"
    );
    assert!(out.contains("Endpoint = 198.51.100.9:51820\n"), "{out}");
    assert!(
        !out.contains("198.51.100.10"),
        "one peer, one endpoint:\n{out}"
    );
    assert_eq!(out.matches("wg.example.net").count(), 1, "{out}");
}

#[test]
fn a_name_resolving_to_nothing_refuses_the_plan_and_destroy_resolves_nothing() {
    for (name, why) in [
        ("empty.example.net", "resolves to no IPv4 address"),
        ("gone.example.net", "cannot resolve it: no such host"),
    ] {
        let (_d, p) = site_with(
            "openvpn",
            "vpnus.ovpn",
            &OVPN.replace("vpn.example.net", name),
        );
        let site = load(&p);
        let e = dry_run(&site, &create()).expect_err("must refuse");
        assert!(
            e.contains(&format!("jail vpnus: provider endpoint {name}: {why}")),
            "{e}"
        );
        let never = |n: &str| -> Result<Vec<Ipv4Addr>, String> { panic!("destroy resolved {n}") };
        let t = Target::Destroy {
            jail: "vpnus".into(),
            host: None,
        };
        apply_with(&site, &t, true, &never, &mut Vec::new()).expect("destroy");
    }
}

#[test]
fn the_cli_resolves_localhost_through_getaddrinfo() {
    let (_d, p) = site_with(
        "openvpn",
        "vpnus.ovpn",
        &OVPN.replace("vpn.example.net", "localhost"),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["create", "vpnus", "--dry-run", "--site"])
        .arg(&p)
        .output()
        .expect("run vpnjail");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().nth(1).unwrap_or_default();
    assert!(
        first.starts_with("# resolved localhost \u{2192} 127.0.0.1")
            && first.ends_with("(would pin, jail vpnus)"),
        "{text}"
    );
    assert!(text.contains("remote 127.0.0.1 1194 udp\n"), "{text}");
    assert!(!text.contains("remote localhost"), "{text}");
}

#[test]
fn on_linux_the_nftables_kill_switch_admits_the_pinned_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    std::fs::copy(
        root().join("examples/secrets/alpha-beta.psk"),
        dir.path().join("secrets/alpha-beta.psk"),
    )
    .expect("copy psk");
    let text = std::fs::read_to_string(root().join("examples/linux-site.toml")).expect("site");
    let p = dir.path().join("site.toml");
    let text = text.replacen("provider_dns = \"10.8.1.1\"", "openvpn = \"vpnus.ovpn\"", 1);
    write(dir.path(), "site.toml", &text);
    write(dir.path(), "vpnus.ovpn", OVPN);
    let out = dry_run(&load(&p), &create()).expect("dry run");
    assert!(out.contains("remote 198.51.100.7 1194 udp\n"), "{out}");
    for a in ["198.51.100.7", "198.51.100.8"] {
        let element = format!("{a} . udp . 1194");
        assert!(
            out.lines()
                .any(|l| l.contains("elements = {") && l.contains(&element)),
            "{a} not in the kill switch's endpoint set:\n{out}"
        );
    }
    assert_eq!(out.matches("vpn.example.net").count(), 1, "{out}");
}
