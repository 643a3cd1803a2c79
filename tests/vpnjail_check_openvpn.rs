//! `vpnjail check` and `create --dry-run` over the CLI on bad OpenVPN input:
//! each problem is named with the provider file (or site file) and its line,
//! the exit status is non-zero, and `create` builds nothing. Also the warning
//! for a bring-your-own vpn jail without `endpoints`.

mod vpnjail_support;

use std::path::Path;
use std::process::{Command, Output};
use vpnjail_support::*;

const GOOD: &str = "client\ndev tun\nproto udp\nremote 203.0.113.7 1194\nremote-cert-tls server\n";

fn vpnjail(args: &[&str], site: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(args)
        .arg(site)
        .output()
        .expect("run vpnjail")
}

/// The example with vpnus using `openvpn = "vpnus.ovpn"` (no provider_dns),
/// its jail root moved into the temp dir; `setup` makes the provider file.
/// Returns check's stderr after asserting both commands fail and create
/// made nothing.
fn refused(setup: impl FnOnce(&Path)) -> String {
    let (dir, p) = edited_site(|t| {
        t.replacen("provider_dns = \"10.8.0.1\"", "openvpn = \"vpnus.ovpn\"", 1)
            .replacen(
                "jail_root = \"/usr/local/jails\"",
                "jail_root = \"JAILS\"",
                1,
            )
    });
    let jails = dir.path().join("jails");
    let text = std::fs::read_to_string(&p).expect("site");
    std::fs::write(
        &p,
        text.replace("\"JAILS\"", &format!("{:?}", jails.display().to_string())),
    )
    .expect("site");
    setup(dir.path());
    let out = vpnjail(&["check"], &p);
    assert!(!out.status.success(), "check must fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let out = vpnjail(&["create", "vpnus", "--dry-run", "--site"], &p);
    assert!(!out.status.success(), "create --dry-run must fail");
    assert!(
        out.stdout.is_empty(),
        "no plan is printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!jails.exists(), "create made the jail root");
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for e in &entries {
        assert!(
            ["site.toml", "secrets", "vpnus.ovpn"].contains(&e.as_str()),
            "create left {e} behind"
        );
    }
    err
}

fn ovpn(text: &'static str) -> impl FnOnce(&Path) {
    move |d: &Path| write(d, "vpnus.ovpn", text)
}

#[test]
fn a_missing_provider_file_is_named() {
    let err = refused(|_| {});
    assert!(
        err.contains("cannot read the OpenVPN file") && err.contains("vpnus.ovpn"),
        "{err}"
    );
    assert!(
        err.contains("site.toml:") && err.contains(".openvpn:"),
        "{err}"
    );
}

#[test]
fn an_unreadable_provider_file_is_named() {
    // Root reads any mode; a directory in its place cannot be read by anyone.
    let err = refused(|d| std::fs::create_dir(d.join("vpnus.ovpn")).expect("mkdir"));
    assert!(
        err.contains("cannot read the OpenVPN file") && err.contains("vpnus.ovpn"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_an_openvpn_client_config() {
    let err = refused(ovpn("[Interface]\nPrivateKey = x\n"));
    assert!(err.contains("vpnus.ovpn:"), "{err}");
    assert!(err.contains("not an OpenVPN client file"), "{err}");
}

#[test]
fn a_file_without_remote() {
    let err = refused(ovpn("client\ndev tun\nproto udp\n"));
    assert!(
        err.contains("vpnus.ovpn:") && err.contains("no `remote`"),
        "{err}"
    );
}

#[test]
fn a_remote_neither_address_nor_host_name_is_refused_at_its_line() {
    let err = refused(ovpn("client\nremote vpn_1.example.com 1194\n"));
    assert!(err.contains("vpnus.ovpn:2: "), "{err}");
    assert!(
        err.contains("neither an IPv4 address nor a host name"),
        "{err}"
    );
}

#[test]
fn the_providers_own_scripts_are_refused_each_at_its_line() {
    let err = refused(ovpn(
        "client\nremote 203.0.113.7 1194\nscript-security 2\nup /etc/openvpn/update-resolv-conf\ndown /etc/openvpn/update-resolv-conf\n",
    ));
    for (line, what) in [
        (3, "`script-security` is refused"),
        (4, "`up` is refused"),
        (5, "`down` is refused"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("vpnus.ovpn:{line}: ")) && l.contains(what)),
            "line {line}: {what}\n{err}"
        );
    }
}

#[test]
fn a_good_file_passes_and_a_bring_your_own_jail_without_endpoints_is_warned_about() {
    let (dir, p) =
        edited_site(|t| t.replacen("provider_dns = \"10.8.0.1\"", "openvpn = \"vpnus.ovpn\"", 1));
    write(dir.path(), "vpnus.ovpn", GOOD);
    let out = vpnjail(&["check"], &p);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("unrestricted"),
        "openvpn gives the endpoints: {err}"
    );
    // The example's vpnus brings its own client and names no endpoints.
    let out = vpnjail(&["check"], &example_path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "warning: host alpha, jail vpnus: no endpoints: the jail's own traffic is unrestricted"
        ),
        "{err}"
    );
    // With endpoints, no warning.
    let (_d, p) = edited_site(|t| {
        t.replacen(
            "provider_dns = \"10.8.0.1\"",
            "provider_dns = \"10.8.0.1\"\nendpoints = [\"203.0.113.7:1194/udp\"]",
            1,
        )
    });
    let out = vpnjail(&["check"], &p);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("host alpha, jail vpnus: no endpoints"),
        "{err}"
    );
}
