//! `vpnjail render`: golden files for examples/site.toml, and static checks of
//! every generated file (jail.conf grammar, pf anchors, shellcheck, vpndns check).

mod vpnjail_support;

use std::path::Path;
use vpndns::deploy::lint;
use vpndns::deploy::render::{self, File};
use vpnjail_support::*;

fn all_files() -> Vec<(String, File)> {
    let site = example();
    let mut v = Vec::new();
    for h in &site.hosts {
        for f in render::host(&site, &h.name).expect("render") {
            v.push((h.name.clone(), f));
        }
    }
    v
}

#[test]
fn golden_files_for_example_site() {
    let files = all_files();
    assert!(files.len() > 20, "expected every file of both hosts");
    for (host, f) in &files {
        let rel = Path::new(host).join(f.path.strip_prefix("/").expect("absolute"));
        golden(&rel, &f.content);
    }
    // No golden file is left that the renderer no longer produces.
    for host in ["alpha", "beta"] {
        // (tests/golden/plans/ is checked by vpnjail_exec.)
        let dir = root().join("tests/golden").join(host);
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("golden dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = Path::new("/").join(p.strip_prefix(&dir).expect("under"));
                    assert!(
                        files.iter().any(|(h, f)| h == host && f.path == rel),
                        "stale golden file {}",
                        p.display()
                    );
                }
            }
        }
    }
}

#[test]
fn every_jail_conf_parses_and_its_exec_commands_pass_shellcheck() {
    let mut n = 0;
    for (_, f) in all_files()
        .iter()
        .filter(|(_, f)| f.path.starts_with("/etc/jail.conf.d"))
    {
        let conf = lint::jailconf::parse(&f.content)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.path.display(), f.content));
        assert_eq!(conf.jails.len(), 1, "{}", f.path.display());
        let j = &conf.jails[0];
        assert_eq!(
            f.path.file_stem().and_then(|s| s.to_str()),
            Some(j.name.as_str())
        );
        for iface in j.values("vnet.interface") {
            assert!(iface.len() <= 15, "{iface} exceeds IFNAMSIZ");
            assert_eq!(iface, format!("e0b_{}", j.name));
        }
        for key in [
            "exec.prestart",
            "exec.start",
            "exec.stop",
            "exec.prestop",
            "exec.poststop",
        ] {
            let cmds = j.values(key);
            assert!(!cmds.is_empty(), "{}: {key} missing", f.path.display());
            for c in cmds {
                shellcheck(
                    &format!("{} {key}", f.path.display()),
                    &format!("{c}\n"),
                    &[],
                );
            }
        }
        // Cleanup never fails the stop.
        for c in j
            .values("exec.prestop")
            .iter()
            .chain(j.values("exec.poststop").iter())
        {
            assert!(c.ends_with("|| true"), "{c}");
        }
        n += 1;
    }
    assert_eq!(n, 7, "one jail.conf per jail of both hosts");
}

#[test]
fn every_pf_file_declares_its_macros_and_translates_before_filtering() {
    let mut n = 0;
    for (_, f) in all_files() {
        let p = f.path.to_string_lossy();
        if p.contains("pf.vpnjail/") || p.ends_with("pf.conf") || p.ends_with("pf.conf.vpnjail") {
            let classes =
                lint::pf::check(&f.content).unwrap_or_else(|e| panic!("{p}: {e}\n{}", f.content));
            assert!(!classes.is_empty(), "{p} is empty");
            n += 1;
        }
    }
    // alpha: main + nat + ipsec + vpn jail main + dns and killswitch anchors;
    // beta: main + nat + ipsec.
    assert_eq!(n, 9);
}

/// Every vpn jail's pf.conf blocks (and logs) by default before its anchors,
/// and its kill switch anchor lets its clients out only through the tunnel.
#[test]
fn every_vpn_jail_fails_closed() {
    let files = all_files();
    let mut n = 0;
    for (_, f) in &files {
        let p = f.path.to_string_lossy();
        if p.ends_with("/etc/pf.conf") && p != "/etc/pf.conf" {
            lint::pf::fails_closed(&f.content).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert!(f.content.contains("set state-policy if-bound"), "{p}");
            let ks = files
                .iter()
                .find(|(_, k)| k.path == f.path.with_file_name("pf.vpnjail/killswitch.conf"))
                .unwrap_or_else(|| panic!("no kill switch anchor beside {p}"));
            assert!(
                f.content.contains(
                    "load anchor \"vpnjail/killswitch\" from \"/etc/pf.vpnjail/killswitch.conf\""
                ),
                "{p}"
            );
            let ks = &ks.1.content;
            // Every pass rule is quick (first match decides), none passes out
            // on the LAN side to anywhere but the site, the jail's own
            // address, or a provider endpoint.
            for l in ks.lines().filter(|l| l.starts_with("pass")) {
                assert!(
                    l.starts_with("pass in quick") || l.starts_with("pass out quick"),
                    "{l}"
                );
                if l.starts_with("pass out quick on $lan_if")
                    || l.starts_with("pass out quick on ! $tun_if")
                {
                    assert!(
                        l.contains("to <site>") || l.contains("from ($lan_if)"),
                        "{l}"
                    );
                }
            }
            n += 1;
        }
    }
    assert_eq!(n, 1, "the example has one vpn jail");
}

#[test]
fn rc_d_script_and_rc_conf_files_pass_shellcheck() {
    shellcheck("rc.d/vpndns", render::RC_VPNDNS, &[]);
    for (_, f) in all_files() {
        let p = f.path.to_string_lossy().to_string();
        if p.ends_with("rc.conf") || p.ends_with("rc.conf.vpnjail") || p.contains("rc.conf.d/") {
            // rc.conf is sourced by sh; its variables are read by rc.subr.
            shellcheck(&p, &f.content, &["-e", "SC2034"]);
        }
    }
}

#[test]
fn rc_d_script_follows_platform_reference() {
    let s = render::RC_VPNDNS;
    for want in [
        "command=\"/usr/sbin/daemon\"",
        "-r -R 5 -P ${pidfile} -p ${child_pidfile}",
        "extra_commands=\"reload configtest\"",
        "kill -HUP \"$(cat \"${child_pidfile}\")\"",
        "/usr/local/sbin/vpndns check -c \"${vpndns_config}\"",
        "run_rc_command \"$1\"",
    ] {
        assert!(s.contains(want), "rc.d/vpndns lacks {want}");
    }
    assert!(
        !s.contains("vpndns_user:=") && !s.contains("vpndns_user="),
        "no vpndns_user: rc.subr would su first"
    );
    assert!(!s.contains("vpndns_flags="), "daemon(8) would get them");
}

#[test]
fn generated_vpndns_config_passes_vpndns_check() {
    // Meaningful once the vpndns binary (built on main) lands: it exits non-zero
    // on any config error.
    let dir = tempfile::tempdir().expect("tempdir");
    for (host, f) in all_files() {
        if f.path.ends_with("usr/local/etc/vpndns/vpndns.toml") {
            let p = dir.path().join(format!("{host}.toml"));
            std::fs::write(&p, &f.content).expect("write");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpndns"))
                .args(["check", "-c"])
                .arg(&p)
                .output()
                .expect("run vpndns");
            assert!(
                out.status.success(),
                "vpndns check rejects the config for {host}:\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                f.content
            );
        }
    }
}

#[test]
fn vpndns_config_has_identity_dns_policy_and_via_policies() {
    let site = example();
    let files = render::host(&site, "alpha").expect("render");
    let f = files
        .iter()
        .find(|f| f.path.ends_with("vpndns.toml"))
        .expect("vpndns.toml");
    let v: toml::Value = toml::from_str(&f.content).expect("valid toml");
    let pol = v["policy"].as_array().expect("policies");
    let find = |src: &str| {
        pol.iter()
            .find(|p| p["source"].as_array().expect("source")[0].as_str() == Some(src))
            .unwrap_or_else(|| panic!("no policy for {src}"))
    };
    assert_eq!(find("10.10.1.2/32")["forward"].as_str(), Some("source"));
    assert_eq!(find("10.10.2.0/24")["forward"][0].as_str(), Some("vpnus"));
    assert_eq!(find("10.10.1.30/32")["forward"][0].as_str(), Some("vpnus"));
    assert_eq!(v["server"]["listen"][0].as_str(), Some("10.10.1.53:53"));
    assert_eq!(v["forwarder"][0]["address"].as_str(), Some("10.10.1.2"));
    // [[dns.blocklist]] and the policy's choice, as vpndns reads them.
    let c = vpndns::proxy::config::Config::parse(Path::new(&f.path), &f.content).expect("parses");
    assert_eq!(c.block.groups[0].name, "ads");
    assert_eq!(c.block.fetch.cache_dir, Path::new("/var/db/vpndns/lists"));
    let blocks = |src: &str| {
        let p = c
            .policies
            .iter()
            .find(|p| p.sources[0].to_string() == src)
            .expect(src);
        p.block
    };
    use vpndns::proxy::policy::GroupMask;
    assert_eq!(
        blocks("10.10.2.0/24"),
        GroupMask(0b10),
        "the ads group only"
    );
    assert_eq!(blocks("10.10.1.2/32"), GroupMask::DEFAULT);
}

#[test]
fn setkey_link_renders_static_sas_with_the_reqid() {
    let gcm_a = "a".repeat(72);
    let gcm_b = "b".repeat(72);
    let (dir, p) = edited_site(|t| {
        t.replace(
            "mode = \"swanctl\"",
            "mode = \"setkey\"\ncipher = \"aes-gcm-16\"\nspi = [4097, 4098]\nkey_file = \"secrets/alpha-beta.keys\"",
        )
        .replace("psk_file = \"secrets/alpha-beta.psk\"\n", "")
    });
    write(
        dir.path(),
        "secrets/alpha-beta.keys",
        &format!("# alpha -> beta, then back\n0x{gcm_a}\n0x{gcm_b}\n"),
    );
    let site = vpndns::deploy::check::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let alpha = render::host(&site, "alpha").expect("render");
    let f = alpha
        .iter()
        .find(|f| f.path.ends_with("etc/ipsec.conf"))
        .expect("ipsec.conf");
    assert_eq!(f.mode, 0o600);
    assert!(
        f.content.contains(&format!(
            "add 10.10.1.4 198.51.100.20 esp 4097 -m tunnel -u 100 -E aes-gcm-16 0x{gcm_a};"
        )),
        "{}",
        f.content
    );
    assert!(f.content.contains(&format!(
        "add 198.51.100.20 10.10.1.4 esp 4098 -m tunnel -u 100 -E aes-gcm-16 0x{gcm_b};"
    )));
    assert!(
        !f.content.lines().any(|l| l.starts_with("spdadd")),
        "if_ipsec installs its own policies"
    );
    let beta = render::host(&site, "beta").expect("render");
    let f = beta
        .iter()
        .find(|f| f.path.ends_with("etc/ipsec.conf"))
        .expect("ipsec.conf");
    assert!(
        f.content.contains(&format!(
            "add 10.10.2.4 192.0.2.10 esp 4098 -m tunnel -u 100 -E aes-gcm-16 0x{gcm_b};"
        )),
        "{}",
        f.content
    );
    assert!(!alpha.iter().any(|f| f.path.ends_with("swanctl.conf")));
}

#[test]
fn render_cli_writes_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["render"])
        .arg(example_path())
        .args(["--host", "beta", "--out"])
        .arg(dir.path())
        .output()
        .expect("run vpnjail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = dir.path().join("jails/dns_b/usr/local/etc/rc.d/vpndns");
    let meta = std::fs::metadata(&script).expect("rc.d script written");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert!(dir.path().join("etc/jail.conf.d/laptop.conf").exists());
}

#[test]
fn gre_client_jail_gets_its_end_of_the_tunnel() {
    let site = example();
    let beta = render::host(&site, "beta").expect("render");
    let rc = beta
        .iter()
        .find(|f| f.path.ends_with("jails/laptop/etc/rc.conf"))
        .expect("laptop rc.conf");
    assert!(
        rc.content.contains("cloned_interfaces=\"gre0\""),
        "{}",
        rc.content
    );
    assert!(
        rc.content
            .contains("ifconfig_gre0=\"inet tunnel 10.10.2.77 10.10.1.2\"")
    );
    assert!(
        rc.content
            .contains("ifconfig_gre0_alias0=\"inet 10.255.0.2 10.255.0.1 netmask 0xffffffff\"")
    );
    let alpha = render::host(&site, "alpha").expect("render");
    let rc = alpha
        .iter()
        .find(|f| f.path.ends_with("jails/vpnus/etc/rc.conf"))
        .expect("vpnus rc.conf");
    assert!(
        rc.content
            .contains("ifconfig_gre0=\"inet tunnel 10.10.1.2 10.10.2.77\"")
    );
}
