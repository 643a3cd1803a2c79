//! FreeBSD OpenVPN in a vpn jail (`openvpn = "FILE"` on a FreeBSD host): the
//! files in the jail root (golden, modes, linted), the `pkg -r` step ordered
//! before the jail and its kill switch start, devfs unhiding tun, and the
//! route-up hook run for real under sh with a recording `pfctl`.

mod vpnjail_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use vpndns::deploy::apply::{Target, build};
use vpndns::deploy::command::Action;
use vpndns::deploy::lint;
use vpndns::deploy::model::Site;
use vpndns::deploy::render::{self, File, openvpn};
use vpnjail_support::*;

const OVPN: &str = "# the provider's file\nclient\ndev tun\nproto udp\nremote 203.0.113.7 1194\nremote 203.0.113.8 443 tcp\nauth-user-pass\nremote-cert-tls server\nredirect-gateway def1\n<ca>\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n</ca>\nverb 3\n";

/// The example site with vpn jail vpnus on FreeBSD host alpha using OpenVPN
/// from the provider's file; `dns` is what stays of its `provider_dns` line
/// (empty: the tunnel pushes it).
fn site_with(dns: &str) -> (tempfile::TempDir, Site) {
    let (dir, path) = edited_site(|t| {
        t.replacen(
            "provider_dns = \"10.8.0.1\"",
            &format!("{dns}\nopenvpn = \"vpnus.ovpn\"\nopenvpn_auth = \"vpnus.auth\""),
            1,
        )
    });
    write(dir.path(), "vpnus.ovpn", OVPN);
    write(dir.path(), "vpnus.auth", "user\npassword\n");
    let site = vpndns::deploy::check::load(&path).unwrap_or_else(|e| panic!("check:\n{e}"));
    (dir, site)
}

fn site() -> (tempfile::TempDir, Site) {
    site_with("")
}

fn vpnus_files(site: &Site) -> Vec<File> {
    render::host(site, "alpha")
        .expect("render")
        .into_iter()
        .filter(|f| f.owner == render::Owner::Jail("vpnus".into()))
        .collect()
}

#[test]
fn the_jail_root_holds_the_client_owner_only_with_rc_conf_d_and_the_hook() {
    let (_d, site) = site();
    let files = vpnus_files(&site);
    for f in &files {
        let rel = Path::new("openvpn/alpha").join(f.path.strip_prefix("/").expect("absolute"));
        golden(&rel, &f.content);
    }
    let get = |suffix: &str| {
        files
            .iter()
            .find(|f| f.path.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| {
                panic!(
                    "no {suffix} among {:?}",
                    files.iter().map(|f| &f.path).collect::<Vec<_>>()
                )
            })
    };
    let conf = get(openvpn::FREEBSD_CONF);
    assert_eq!(conf.mode, 0o600);
    assert!(
        conf.content.contains("remote 203.0.113.7 1194 udp\n"),
        "{}",
        conf.content
    );
    assert!(
        conf.content
            .contains(&format!("auth-user-pass \"{}\"", openvpn::FREEBSD_AUTH))
    );
    assert!(
        conf.content
            .contains(&format!("route-up \"{}\"\n", openvpn::FREEBSD_HOOK))
    );
    assert!(
        !conf.content.contains("\ndev tun\n"),
        "the provider's dev line is vpnjail's"
    );
    assert_eq!(get(openvpn::FREEBSD_AUTH).mode, 0o600);
    assert_eq!(get(openvpn::FREEBSD_AUTH).content, "user\npassword\n");
    assert_eq!(get(openvpn::FREEBSD_HOOK).mode, 0o755);
    let rc = get("etc/rc.conf.d/openvpn");
    assert!(rc.content.contains("openvpn_enable=\"YES\"\n"));
    assert!(
        rc.content
            .contains("openvpn_flags=\"--log-append /var/log/openvpn.log\"\n")
    );
    assert!(
        !rc.content.contains("openvpn_if"),
        "the host loads if_tuntap"
    );
    // The kill switch: its own endpoints are the file's remotes; pf.conf fails closed.
    let ks = get("etc/pf.vpnjail/killswitch.conf");
    assert!(
        ks.content
            .contains("proto udp from ($lan_if) to 203.0.113.7 port 1194"),
        "{}",
        ks.content
    );
    assert!(
        ks.content
            .contains("proto tcp from ($lan_if) to 203.0.113.8 port 443"),
        "{}",
        ks.content
    );
    assert!(
        ks.content.contains("table <dns> persist\n"),
        "empty until the tunnel pushes one"
    );
    assert!(
        get("etc/pf.vpnjail/dns.conf")
            .content
            .contains("vpn_dns = \"127.0.0.1\"")
    );
    let (_, bad) = lint::host(&site, "alpha").expect("render");
    assert!(bad.is_empty(), "{bad:?}");
    // devfs: the vpn jail uses ruleset 20, which unhides tun*.
    let jc = lint::jailconf::parse(&get("/etc/jail.conf.d/vpnus.conf").content).expect("jail.conf");
    assert_eq!(jc.jails[0].values("devfs_ruleset"), vec!["20"]);
    let devfs = render::host(&site, "alpha")
        .expect("render")
        .into_iter()
        .find(|f| f.path == Path::new("/etc/devfs.rules"))
        .expect("devfs.rules");
    assert!(
        devfs
            .content
            .contains("[vpnjail=20]\nadd include $devfsrules_jail_vnet\nadd path 'tun*' unhide\n")
    );
}

#[test]
fn with_provider_dns_the_hook_only_reports_and_the_anchor_leads_there() {
    let (_d, site) = site_with("provider_dns = \"10.8.0.1\"");
    let files = vpnus_files(&site);
    let conf = files
        .iter()
        .find(|f| f.path.ends_with("openvpn/openvpn.conf"))
        .expect("conf");
    assert!(
        conf.content.contains(&format!(
            "route-up \"{} 10.8.0.1\"\n",
            openvpn::FREEBSD_HOOK
        )),
        "{}",
        conf.content
    );
    let dns = files
        .iter()
        .find(|f| f.path.ends_with("pf.vpnjail/dns.conf"))
        .expect("dns");
    assert!(dns.content.contains("vpn_dns = \"10.8.0.1\""));
}

#[test]
fn create_installs_the_package_with_pkg_r_before_the_jail_starts() {
    let (_d, site) = site();
    let plan = build(
        &site,
        &Target::Create {
            jail: "vpnus".into(),
            host: None,
        },
    )
    .expect("plan");
    golden(Path::new("openvpn/plan-create-vpnus.sh"), &plan.to_shell());
    shellcheck(&plan.title, &plan.to_shell(), &[]);
    let at = |what: &str| {
        plan.steps
            .iter()
            .position(|s| s.what.starts_with(what))
            .unwrap_or_else(|| panic!("no step {what:?}"))
    };
    let pkg = at("install the openvpn package into /usr/local/jails/vpnus");
    let Action::Run(cmd) = &plan.steps[pkg].action else {
        panic!("pkg is a command")
    };
    assert_eq!(
        cmd.to_string(),
        "pkg -r /usr/local/jails/vpnus install -y openvpn"
    );
    assert!(pkg > at("extract "), "the root exists first");
    assert!(
        pkg < at("start jail vpnus"),
        "before the jail's pf (the kill switch) is loaded"
    );
    assert!(pkg < at("install /usr/local/jails/vpnus/usr/local/etc/openvpn/openvpn.conf"));
    // A jail without openvpn gets no package.
    let plain = build(
        &example(),
        &Target::Create {
            jail: "vpnus".into(),
            host: None,
        },
    )
    .expect("plan");
    assert!(!plain.steps.iter().any(|s| s.what.contains("package")));
}

/// The hook under sh with a `pfctl` that records its arguments.
fn run_hook(args: &[&str], env: &[(&str, &str)]) -> (String, Vec<String>) {
    let d = tempfile::tempdir().expect("tempdir");
    let calls = d.path().join("calls");
    let fake = d.path().join("pfctl");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
    )
    .expect("fake");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let hook = d.path().join("vpnjail-route-up");
    std::fs::write(&hook, openvpn::FREEBSD_HOOK_SCRIPT).expect("hook");
    let out = std::process::Command::new("sh")
        .arg(&hook)
        .args(args)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", d.path().display()))
        .env("dev", "tun0")
        .envs(env.iter().copied())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        calls.lines().map(String::from).collect(),
    )
}

#[test]
fn the_route_up_hook_passes_shellcheck_and_loads_only_well_formed_pushed_dns() {
    shellcheck(
        "openvpn/vpnjail-route-up",
        openvpn::FREEBSD_HOOK_SCRIPT,
        &[],
    );
    let (out, calls) = run_hook(
        &[],
        &[
            ("foreign_option_2", "dhcp-option DNS 10.8.0.2"),
            ("foreign_option_1", "dhcp-option DNS 10.8.0.1"),
            ("foreign_option_10", "dns server 0 address 10.8.0.3"),
            ("foreign_option_3", "dhcp-option DNS 999.1.1.1"),
            ("foreign_option_4", "dhcp-option DNS 10.8.0.9;reboot"),
            ("foreign_option_5", "dhcp-option DNS 10.8.0.2"),
            ("foreign_option_6", "dhcp-option DOMAIN example.com"),
        ],
    );
    assert_eq!(
        calls,
        vec![
            "-a vpnjail/killswitch -t dns -T replace 10.8.0.1 10.8.0.2 10.8.0.3",
            "-a vpnjail/dns -D vpn_dns=10.8.0.1 -f /etc/pf.vpnjail/dns.conf",
        ]
    );
    assert!(
        out.contains("tunnel tun0 up; DNS pushed by the provider: 10.8.0.1, 10.8.0.2, 10.8.0.3"),
        "{out}"
    );
    // Nothing pushed: DNS through the tunnel stays blocked (the table is emptied).
    let (out, calls) = run_hook(&[], &[]);
    assert_eq!(calls, vec!["-a vpnjail/killswitch -t dns -T flush"]);
    assert!(out.contains("pushed no DNS"), "{out}");
    // provider_dns wins: nothing is reloaded, the pushed DNS is reported.
    let (out, calls) = run_hook(
        &["10.8.0.1"],
        &[("foreign_option_1", "dhcp-option DNS 10.9.9.9")],
    );
    assert!(calls.is_empty(), "{calls:?}");
    assert!(
        out.contains("pushed by the provider: 10.9.9.9; using provider_dns 10.8.0.1"),
        "{out}"
    );
}

#[test]
fn create_on_a_fake_host_installs_once_and_writes_the_secrets_owner_only() {
    use vpndns::deploy::exec::{StepResult, execute};
    use vpndns::deploy::fake::FakeHost;
    let (_d, site) = site();
    let plan = build(
        &site,
        &Target::Create {
            jail: "vpnus".into(),
            host: None,
        },
    )
    .expect("plan");
    let mut f = FakeHost::with_bridges(&["vjbr0"]);
    execute(&plan, &mut f).unwrap_or_else(|e| panic!("create: {e}"));
    let root = Path::new("/usr/local/jails/vpnus");
    let st = &f.state;
    assert!(st.files.contains_key(&root.join("usr/local/sbin/openvpn")));
    for (rel, mode) in [
        ("usr/local/etc/openvpn/openvpn.conf", 0o600),
        ("usr/local/etc/openvpn/auth.txt", 0o600),
        ("usr/local/libexec/vpnjail-route-up", 0o755),
        ("etc/rc.conf.d/openvpn", 0o644),
    ] {
        let (_, m) = st
            .files
            .get(&root.join(rel))
            .unwrap_or_else(|| panic!("no {rel}"));
        assert_eq!(*m, mode, "{rel}");
    }
    assert!(st.running.contains("vpnus"));
    // Again: the package step is skipped (the guard sees it installed).
    let again = execute(&plan, &mut f).unwrap_or_else(|e| panic!("create again: {e}"));
    let pkg = plan
        .steps
        .iter()
        .position(|s| s.what.starts_with("install the openvpn package"))
        .expect("pkg step");
    assert_eq!(again[pkg], StepResult::Skipped);
}
