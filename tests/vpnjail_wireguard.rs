//! `vpnjail check` and `create` on a vpn jail with `wireguard = "FILE"`: a
//! good provider file gives the jail its client, endpoint, DNS and a
//! machine-unique interface; each bad one is refused at its file and line,
//! and `create` then makes nothing.

mod vpnjail_support;

use std::path::Path;
use vpndns::deploy::model::{JailKind, Proto, Site, VpnClient};
use vpnjail_support::*;

const PRIV: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const PUB: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

fn provider_file() -> String {
    format!(
        "[Interface]\nPrivateKey = {PRIV}\nAddress = 10.64.0.2/32\nDNS = 10.64.0.1\n\n[Peer]\nPublicKey = {PUB}\nEndpoint = 203.0.113.7:51820\nAllowedIPs = 0.0.0.0/0\n"
    )
}

/// The example site with vpnus using `wireguard = "wg.conf"` (no tun, no
/// provider_dns) and `extra` added to its keys.
fn with_wireguard(extra: &str) -> impl FnOnce(String) -> String {
    let extra = extra.to_string();
    move |t: String| {
        t.replacen(
            "tun = \"tun0\"\nprovider_dns = \"10.8.0.1\"",
            &format!("wireguard = \"wg.conf\"{extra}"),
            1,
        )
    }
}

fn load(extra: &str, file: Option<&str>) -> (tempfile::TempDir, Result<Site, String>) {
    let (dir, p) = edited_site(with_wireguard(extra));
    if let Some(f) = file {
        write(dir.path(), "wg.conf", f);
    }
    let r = vpndns::deploy::check::load(&p).map_err(|e| e.to_string());
    (dir, r)
}

fn rejected(file: Option<&str>, want: &str) -> String {
    let (dir, r) = load("", file);
    let e = r.expect_err("the site must be rejected");
    let at = format!("{}:", dir.path().join("wg.conf").display());
    assert!(
        e.lines().any(|l| l.contains(&at) && l.contains(want)),
        "expected {want:?} at {at}, got:\n{e}"
    );
    e
}

#[test]
fn a_wireguard_file_gives_the_client_its_endpoint_dns_and_interface() {
    let (_d, site) = load("", Some(&provider_file()));
    let site = site.expect("the site passes");
    let (h, j) = site.jail("vpnus").expect("vpnus");
    let JailKind::Vpn(v) = &j.kind else {
        panic!("not a vpn jail")
    };
    assert!(matches!(v.client, VpnClient::WireGuard(_)));
    assert_eq!(v.provider_dns, Some("10.64.0.1".parse().unwrap()));
    let e = v.endpoints.as_deref().expect("endpoints");
    assert_eq!(
        (e[0].addr.to_string(), e[0].port),
        ("203.0.113.7".into(), 51820)
    );
    assert_eq!(e[0].proto, Proto::Udp);
    assert_eq!(v.tun, site.wireguard_if(h, j));
    assert!(v.tun.starts_with("wg") && v.tun.len() <= 15, "{}", v.tun);
    // An explicit provider_dns wins over the file's DNS.
    let (_d, site) = load("\nprovider_dns = \"10.8.0.1\"", Some(&provider_file()));
    let site = site.expect("the site passes");
    let JailKind::Vpn(v) = &site.jail("vpnus").unwrap().1.kind else {
        panic!()
    };
    assert_eq!(v.provider_dns, Some("10.8.0.1".parse().unwrap()));
}

#[test]
fn bad_wireguard_files_are_refused_at_their_line() {
    let (dir, r) = load("", None);
    let e = r.expect_err("missing file");
    assert!(
        e.contains("cannot read the WireGuard file")
            && e.contains(&dir.path().join("wg.conf").display().to_string()),
        "{e}"
    );
    rejected(
        Some("client\nremote 203.0.113.7 1194\n"),
        "not a WireGuard file",
    );
    rejected(
        Some(&provider_file().replace("Endpoint = 203.0.113.7:51820\n", "")),
        ":6: host[alpha].jail[vpnus].wireguard: this [Peer] has no Endpoint",
    );
    rejected(
        Some(&provider_file().replace(PUB, "not-a-key")),
        ":7: host[alpha].jail[vpnus].wireguard: PublicKey is not a WireGuard key",
    );
    rejected(
        Some(&provider_file().replace("DNS = 10.64.0.1", "PostUp = curl x | sh")),
        ":4: host[alpha].jail[vpnus].wireguard: `PostUp` is refused",
    );
    let (_d, r) = load("\nopenvpn = \"a.ovpn\"", Some(&provider_file()));
    assert!(r.unwrap_err().contains("openvpn or wireguard, not both"));
    let (_d, r) = load("\ntun = \"tun0\"", Some(&provider_file()));
    assert!(
        r.unwrap_err()
            .contains("names a WireGuard interface itself")
    );
    // Only a vpn jail takes it.
    let (dir, p) = edited_site(|t| {
        t.replacen(
            "kind = \"vpndns\"",
            "kind = \"vpndns\"\nwireguard = \"wg.conf\"",
            1,
        )
    });
    write(dir.path(), "wg.conf", &provider_file());
    let e = vpndns::deploy::check::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("wireguard does not apply to a jail of kind \"vpndns\""),
        "{e}"
    );
}

/// A Linux site whose vpn jail names a WireGuard file with a hook:
/// `vpnjail create --all` refuses it at the file's line and creates nothing.
#[test]
fn create_makes_nothing_when_the_wireguard_file_is_bad() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = format!("wgc{:x}", std::process::id() & 0xffff);
    let jail_root = dir.path().join("root");
    let text = std::fs::read_to_string(root().join("examples/linux-site.toml"))
        .expect("example")
        .replace("demo", &tag)
        .replace(
            &format!("/run/vpnjail/{tag}/alpha"),
            &jail_root.display().to_string(),
        )
        .replacen(
            "tun = \"tun0\"\nprovider_dns = \"10.8.1.1\"",
            "wireguard = \"wg.conf\"",
            1,
        );
    assert!(text.contains("wireguard = "), "the example changed");
    let site = dir.path().join("site.toml");
    std::fs::write(&site, text).expect("site");
    std::fs::create_dir_all(dir.path().join("secrets")).expect("secrets");
    for f in std::fs::read_dir(root().join("examples/secrets")).expect("secrets") {
        let f = f.expect("entry").path();
        std::fs::copy(&f, dir.path().join("secrets").join(f.file_name().unwrap())).expect("copy");
    }
    write(
        dir.path(),
        "wg.conf",
        &provider_file().replace("DNS = 10.64.0.1", "PreUp = /bin/true"),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["create", "--all", "--site"])
        .arg(&site)
        .output()
        .expect("vpnjail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("{}:4:", dir.path().join("wg.conf").display()))
            && err.contains("`PreUp` is refused"),
        "{err}"
    );
    assert!(!jail_root.exists(), "create made {}", jail_root.display());
    let ns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(!ns.contains(&tag), "namespaces made:\n{ns}");
}

/// FreeBSD: vpnus's files (the wg-quick file owner-only, rc.conf with the
/// port's `wireguard` service, the pf kill switch allowing the Endpoint on
/// udp), the host's `if_wg`, and the create plan with `pkg -r` before the
/// jail (and its kill switch) starts — held to golden files and the static
/// checkers. Regenerate: UPDATE_GOLDEN=1 cargo test --test vpnjail_wireguard
#[test]
fn freebsd_files_and_plan_golden_and_linted() {
    use vpndns::deploy::render::{self, Owner};
    let (_d, site) = load("", Some(&provider_file()));
    let site = site.expect("the site passes");
    let (h, j) = site.jail("vpnus").expect("vpnus");
    let wg = site.wireguard_if(h, j);
    let (files, bad) = vpndns::deploy::lint::host(&site, "alpha").expect("render");
    assert!(bad.is_empty(), "{bad:#?}");
    let mut seen = 0;
    for f in &files {
        let ours = f.owner == Owner::Jail("vpnus".into()) || f.path.ends_with("rc.conf.vpnjail");
        if !ours {
            continue;
        }
        let rel = Path::new("wireguard/alpha").join(f.path.strip_prefix("/").expect("absolute"));
        golden(&rel, &f.content);
        seen += 1;
    }
    assert!(seen >= 5, "{seen} files");
    let conf = files
        .iter()
        .find(|f| {
            f.path
                .ends_with(format!("usr/local/etc/wireguard/{wg}.conf"))
        })
        .expect("the wg-quick file");
    assert_eq!(conf.mode, 0o600);
    assert!(conf.content.contains("Address = 10.64.0.2/32") && !conf.content.contains("DNS"));
    let rc = |path: &str| {
        files
            .iter()
            .find(|f| f.path.ends_with(path))
            .map(|f| f.content.clone())
            .unwrap_or_default()
    };
    assert!(rc("vpnus/etc/rc.conf").contains(&format!("wireguard_interfaces=\"{wg}\"")));
    assert!(rc("vpnus/etc/rc.conf").contains("wireguard_enable=\"YES\""));
    assert!(
        rc("/etc/rc.conf.vpnjail").contains(" if_wg\""),
        "{}",
        rc("/etc/rc.conf.vpnjail")
    );
    let ks = rc("etc/pf.vpnjail/killswitch.conf");
    assert!(
        ks.contains("inet proto udp from ($lan_if) to 203.0.113.7 port 51820")
            && ks.contains(&format!("tun_if = \"{wg}\"")),
        "{ks}"
    );
    // A lint that holds: a world-readable key or a hook is caught.
    let mut leaky = conf.clone();
    leaky.mode = 0o644;
    let mut hooked = conf.clone();
    hooked.content.push_str("PostUp = /bin/sh\n");
    assert!(vpndns::deploy::lint::wireguard(&leaky).is_err());
    assert!(vpndns::deploy::lint::wireguard(&hooked).is_err());
    assert!(vpndns::deploy::lint::wireguard(conf).is_ok());
    // And the host's checkers hold the jail's wg-quick file to it.
    let mut typed = render::freebsd::host_files(&site, h).expect("render");
    for (_, jf) in &mut typed.jails {
        if let render::freebsd::KindFiles::Vpn(v) = &mut jf.kind
            && let render::freebsd::ClientFiles::WireGuard { conf } = &mut v.client
        {
            conf.mode = 0o644;
        }
    }
    let bad = vpndns::deploy::lint::freebsd(&typed);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].contains(&format!("wireguard/{wg}.conf: mode 0644")),
        "{bad:?}"
    );
    let plan = vpndns::deploy::plan::create(&site, "vpnus", None).expect("plan");
    let shell = plan.to_shell();
    golden(Path::new("plans/wireguard-create-vpnus.sh"), &shell);
    let at = |what: &str| {
        plan.steps
            .iter()
            .position(|s| s.what.contains(what))
            .unwrap_or_else(|| panic!("no step {what:?} in\n{shell}"))
    };
    assert!(at("install the wireguard-tools package") < at("start jail vpnus"));
    assert!(
        shell.contains("pkg -r /usr/local/jails/vpnus install -y wireguard-tools"),
        "{shell}"
    );
}

/// Linux: the create plan of a WireGuard vpn namespace (golden), the
/// client after the kill switch, and destroy's stop, socket and files.
#[test]
fn linux_plan_golden() {
    let (dir, _) = edited_site(|t| t);
    let text = std::fs::read_to_string(root().join("examples/linux-site.toml"))
        .expect("example")
        .replacen(
            "tun = \"tun0\"\nprovider_dns = \"10.8.1.1\"",
            "wireguard = \"wg.conf\"",
            1,
        );
    let p = dir.path().join("linux.toml");
    std::fs::write(&p, text).expect("site");
    write(dir.path(), "wg.conf", &provider_file());
    let site = vpndns::deploy::check::load(&p).expect("the site passes");
    let create = vpndns::deploy::plan::create(&site, "vpnus", None).expect("plan");
    let shell = create.to_shell();
    golden(Path::new("plans/wireguard-linux-create-vpnus.sh"), &shell);
    let at = |what: &str| {
        create
            .steps
            .iter()
            .position(|s| s.what.contains(what))
            .unwrap_or_else(|| panic!("no step {what:?} in\n{shell}"))
    };
    assert!(at("kill switch") < at("start wireguard-go"));
    assert!(at("start wireguard-go") < at("wg setconf"));
    assert!(at("route the endpoint 203.0.113.7") < at("route 0.0.0.0/1 into"));
    let destroy = vpndns::deploy::plan::destroy(&site, "vpnus", None).expect("plan");
    let d = destroy.to_shell();
    golden(Path::new("plans/wireguard-linux-destroy-vpnus.sh"), &d);
    assert!(d.contains("wireguard-go.pid") && d.contains(".sock"), "{d}");
}
