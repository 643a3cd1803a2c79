//! Replicated vpn jails (docs/ha.md) without namespaces: `check` errors with
//! their lines, what is rendered on each replica host, and the monitor's
//! announce/withdraw changes recorded by the executor on a simulated host.

mod vpnjail_support;

use std::path::PathBuf;
use vpndns::deploy::exec::execute;
use vpndns::deploy::fake::FakeHost;
use vpndns::deploy::model::Site;
use vpndns::deploy::monitor::{self, decide::Action};
use vpndns::deploy::render;
use vpnjail_support::*;

fn wan_path() -> PathBuf {
    root().join("examples/wan-site.toml")
}

fn wan_text() -> String {
    std::fs::read_to_string(wan_path()).expect("read the wan example")
}

fn wan() -> Site {
    vpndns::deploy::check::load(&wan_path())
        .unwrap_or_else(|e| panic!("examples/wan-site.toml must pass check:\n{e}"))
}

/// Checks an edited wan example (as if it were the example file, so its
/// secret files resolve) and returns the report.
fn rejected(edit: impl FnOnce(String) -> String) -> String {
    let text = edit(wan_text());
    vpndns::deploy::check::check_text(&wan_path(), &text)
        .map(|_| ())
        .expect_err("the site must be rejected")
        .to_string()
}

/// The 1-based line of the first line of the example holding `needle`.
fn line_of(needle: &str) -> usize {
    wan_text()
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the example"))
}

fn assert_line(report: &str, line: usize, key: &str, msg: &str) {
    let want = format!("wan-site.toml:{line}: {key}: ");
    assert!(
        report.lines().any(|l| l.contains(&want) && l.contains(msg)),
        "expected {want}...{msg:?}, got:\n{report}"
    );
}

const REPLICAS: &str = "replicas = [\"alpha\", \"beta\"]";
const KEY: &str = "host[alpha].jail[vpnha]";

#[test]
fn replicas_must_be_existing_hosts_listed_once() {
    let r = rejected(|t| t.replace(REPLICAS, "replicas = [\"alpha\", \"delta\"]"));
    assert_line(
        &r,
        line_of(REPLICAS),
        &format!("{KEY}.replicas"),
        "no host named \"delta\" (hosts: alpha, beta, gamma)",
    );
    let r = rejected(|t| t.replace(REPLICAS, "replicas = [\"alpha\", \"beta\", \"alpha\"]"));
    assert_line(
        &r,
        line_of(REPLICAS),
        &format!("{KEY}.replicas"),
        "host \"alpha\" is listed twice",
    );
    let r = rejected(|t| t.replace(REPLICAS, "replicas = [\"alpha\"]"));
    assert_line(
        &r,
        line_of(REPLICAS),
        &format!("{KEY}.replicas"),
        "at least two hosts",
    );
    let r = rejected(|t| t.replace(REPLICAS, "replicas = [\"beta\", \"gamma\"]"));
    assert_line(
        &r,
        line_of(REPLICAS),
        &format!("{KEY}.replicas"),
        "written under host \"alpha\", which must be one of its replicas",
    );
}

#[test]
fn replicas_need_bgp_and_an_anycast_network() {
    let r = rejected(|t| {
        t.replace("routing = \"bgp\"", "routing = \"static\"")
            .replace("redundancy = 1", "redundancy = 0")
    });
    assert_line(
        &r,
        line_of(REPLICAS),
        &format!("{KEY}.replicas"),
        "replicas need routing = \"bgp\"",
    );
    let r = rejected(|t| t.replace("anycast = { network", "#anycast = { network"));
    assert_line(
        &r,
        line_of("anycast = \"10.10.200.1\""),
        &format!("{KEY}.anycast"),
        "there is no anycast network: add anycast = { network",
    );
}

#[test]
fn anycast_and_address_lie_in_the_anycast_network() {
    let r = rejected(|t| t.replace("anycast = \"10.10.200.1\"", "anycast = \"10.10.201.1\""));
    assert_line(
        &r,
        line_of("anycast = \"10.10.200.1\""),
        &format!("{KEY}.anycast"),
        "10.10.201.1 is not a host address of the anycast network 10.10.200.0/24",
    );
    let r = rejected(|t| t.replace("address = \"10.10.200.10\"", "address = \"10.10.1.10\""));
    assert_line(
        &r,
        line_of("address = \"10.10.200.10\""),
        &format!("{KEY}.address"),
        "10.10.1.10 is not a host address of the anycast network",
    );
    // The anycast address is unique in the site (here: the router's).
    let r = rejected(|t| t.replace("anycast = \"10.10.200.1\"", "anycast = \"10.10.200.254\""));
    assert_line(
        &r,
        line_of("anycast = \"10.10.200.1\""),
        &format!("{KEY}.anycast"),
        "address 10.10.200.254 is already used by site.anycast.router",
    );
}

#[test]
fn anycast_without_replicas_and_on_other_kinds_is_rejected() {
    let r = rejected(|t| t.replace(&format!("{REPLICAS}\n"), ""));
    assert_line(
        &r,
        line_of("anycast = \"10.10.200.1\""),
        &format!("{KEY}.replicas"),
        "missing: anycast needs replicas",
    );
    let r = rejected(|t| {
        t.replace(
            "kind = \"ipsec\"\naddress = \"10.10.1.4\"",
            "kind = \"ipsec\"\naddress = \"10.10.1.4\"\nreplicas = [\"alpha\", \"beta\"]",
        )
    });
    assert!(
        r.contains(
            "host[alpha].jail[ipsec].replicas: replicas does not apply to a jail of kind \"ipsec\""
        ),
        "{r}"
    );
}

#[test]
fn anycast_network_and_monitor_settings_are_checked() {
    let r = rejected(|t| {
        t.replace(
            "network = \"10.10.200.0/24\", bridge = \"vjbr1\"",
            "network = \"10.10.1.0/25\", bridge = \"vjbr0\"",
        )
    });
    let l = line_of("anycast = { network");
    assert_line(
        &r,
        l,
        "site.anycast.network",
        "overlaps 10.10.1.0/24, the bridge network of host \"alpha\"",
    );
    assert_line(
        &r,
        l,
        "site.anycast.bridge",
        "\"vjbr0\" is already the bridge of host",
    );
    let r = rejected(|t| t.replace("interval = \"200ms\"", "interval = \"10ms\""));
    assert_line(
        &r,
        line_of("interval = \"200ms\""),
        "site.monitor.interval",
        "expected a duration from 100ms to 1h",
    );
    let r = rejected(|t| t.replace("fail_after = 3", "fail_after = 0"));
    assert_line(
        &r,
        line_of("fail_after = 3"),
        "site.monitor.fail_after",
        "0: expected 1..100",
    );
    let r = rejected(|t| t.replace("failback = true", "failback = \"no\""));
    assert!(r.contains("site.monitor.failback: invalid type"), "{r}");
}

#[test]
fn the_example_has_defaults_and_a_replica_on_alpha_and_beta() {
    let site = wan();
    let m = &site.monitor;
    assert_eq!(m.interval, std::time::Duration::from_millis(200));
    assert_eq!(
        *m,
        vpndns::deploy::model::MonitorSettings::default(),
        "the example spells out the defaults"
    );
    assert_eq!(m.fail_after, 3);
    assert_eq!(m.hold_down, std::time::Duration::from_secs(10));
    assert!(m.failback);
    let a = site.anycast.as_ref().expect("anycast");
    assert_eq!(
        a.router.to_string(),
        "10.10.200.254",
        "the last host address by default"
    );
    let prio: Vec<(String, usize)> = site
        .hosts
        .iter()
        .flat_map(|h| {
            h.replicas()
                .map(|(j, _, k)| (format!("{}/{}", h.name, j.name), k))
        })
        .collect();
    assert_eq!(
        prio,
        vec![
            ("alpha/vpnha".to_string(), 0),
            ("beta/vpnha".to_string(), 1)
        ]
    );
}

fn file<'a>(files: &'a [render::File], path: &str) -> Option<&'a render::File> {
    files.iter().find(|f| f.path.to_string_lossy() == path)
}

#[test]
fn freebsd_files_of_each_replica_host() {
    let site = wan();
    for (host, root, prio) in [("alpha", "/usr/local/jails", 0), ("beta", "/jails", 1)] {
        let files = render::host(&site, host).expect("render");
        let jc = file(&files, "/etc/jail.conf.d/vpnha.conf").expect("vpnha's jail.conf");
        assert!(jc.content.contains("$br = \"vjbr1\""), "{}", jc.content);
        let rc = file(&files, &format!("{root}/vpnha/etc/rc.conf")).expect("rc.conf");
        assert!(
            rc.content
                .contains("ifconfig_e0b_vpnha_alias0=\"inet 10.10.200.1/32\""),
            "{}",
            rc.content
        );
        let mon = file(&files, render::RC_MONITOR_PATH).expect("the monitor's rc.d script");
        assert_eq!(mon.mode, 0o755);
        shellcheck(render::RC_MONITOR_PATH, &mon.content, &[]);
        let host_rc = file(&files, "/etc/rc.conf.vpnjail").expect("host rc.conf");
        assert!(
            host_rc
                .content
                .contains(&format!("vpnjail_monitor_host=\"{host}\""))
        );
        let ipsec = if host == "alpha" { "ipsec" } else { "ipsec_b" };
        let frr = file(
            &files,
            &format!("{root}/{ipsec}/usr/local/etc/frr/frr.conf"),
        )
        .expect("frr.conf");
        for want in [
            "no bgp network import-check",
            "route-map VJ-ANYCAST-IN permit 10",
            "route-map VJ-ANYCAST-P0 permit 10",
            "route-map VJ-ANYCAST-P2 permit 10",
            &format!("vpnha 10.10.200.1/32 (priority {prio})"),
        ] {
            assert!(
                frr.content.contains(want),
                "{host}: {want:?} in\n{}",
                frr.content
            );
        }
    }
    // gamma applies the election but announces nothing of its own.
    let files = render::host(&site, "gamma").expect("render");
    let frr = file(&files, "/jails/ipsec_g/usr/local/etc/frr/frr.conf").expect("frr.conf");
    assert!(
        frr.content
            .contains("neighbor 172.16.0.5 route-map VJ-ANYCAST-IN in")
    );
    assert!(!frr.content.contains("VJ-ANYCAST-P0"), "{}", frr.content);
    assert!(!frr.content.contains("import-check"));
    assert!(file(&files, render::RC_MONITOR_PATH).is_none());
    assert!(file(&files, "/etc/jail.conf.d/vpnha.conf").is_none());
}

#[test]
fn monitor_changes_run_through_the_executor() {
    let site = wan();
    let alpha = site.host("alpha").expect("alpha");
    let w = monitor::watched(&site, alpha);
    assert_eq!(w.len(), 1);
    let w = &w[0];
    let announce = monitor::action_plan(alpha, w, Action::Announce(0)).expect("plan");
    assert_eq!(
        announce.steps[0].action,
        vpndns::deploy::command::Action::Run(vpndns::deploy::command::Cmd::new(
            "jexec",
            [
                "ipsec",
                "vtysh",
                "-c",
                "configure terminal",
                "-c",
                "router bgp 4200000001",
                "-c",
                "address-family ipv4 unicast",
                "-c",
                "network 10.10.200.1/32 route-map VJ-ANYCAST-P0",
            ]
        ))
    );
    shellcheck("the announce plan", &announce.to_shell(), &[]);
    let withdraw = monitor::action_plan(alpha, w, Action::Withdraw).expect("plan");
    let mut f = FakeHost::default();
    // FRR is only reachable in a running ipsec jail.
    assert!(execute(&announce, &mut f).is_err());
    f.state.running.insert("ipsec".into());
    execute(&announce, &mut f).expect("announce");
    let key = ("ipsec".to_string(), "10.10.200.1/32".to_string());
    assert_eq!(
        f.state.bgp_networks.get(&key).map(String::as_str),
        Some("VJ-ANYCAST-P0")
    );
    execute(&withdraw, &mut f).expect("withdraw");
    assert!(f.state.bgp_networks.is_empty());
    // As in FRR, `no network` of an absent prefix fails.
    assert!(execute(&withdraw, &mut f).is_err());
    let standby = monitor::action_plan(alpha, w, Action::Announce(2)).expect("plan");
    assert!(
        standby.steps[0].what.ends_with("(standby)"),
        "{}",
        standby.steps[0].what
    );
}

#[test]
fn monitor_cli_teaches_and_refuses_a_host_without_replicas() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["monitor", "--help"])
        .output()
        .expect("run vpnjail");
    let help = String::from_utf8_lossy(&out.stdout);
    for want in [
        "fail_after",
        "hold_down",
        "failback",
        "standby",
        "--dry-run",
        "--once",
        "vtysh",
    ] {
        assert!(help.contains(want), "--help must mention {want}:\n{help}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["monitor", "--site"])
        .arg(wan_path())
        .args(["--host", "gamma", "--once"])
        .output()
        .expect("run vpnjail");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host \"gamma\" holds no replica"), "{err}");
}

#[test]
fn a_gre_tunnel_into_a_replicated_jail_is_rejected() {
    let r = rejected(|t| {
        t + "\n[[gre]]\njail = \"vpnha\"\nremote = \"10.10.3.20\"\ninner = [\"10.255.0.1\", \"10.255.0.2\"]\n"
    });
    assert!(
        r.contains("gre[0].jail: \"vpnha\" is replicated on several hosts"),
        "{r}"
    );
}

/// `vpnjail create JAIL` of a replicated jail names the host it acts on:
/// without `--host` it is refused, not guessed; with it, the plan is that
/// host's; a host without a copy is refused.
#[test]
fn a_replicated_jail_is_created_on_the_host_named() {
    use vpndns::deploy::apply::{Target, build};
    let site = wan();
    let err = build(
        &site,
        &Target::Create {
            jail: "vpnha".into(),
            host: None,
        },
    )
    .expect_err("which host?")
    .to_string();
    assert!(
        err.contains("replicated on hosts alpha, beta") && err.contains("--host"),
        "{err}"
    );
    let on = |host: &str| {
        build(
            &site,
            &Target::Create {
                jail: "vpnha".into(),
                host: Some(host.into()),
            },
        )
    };
    let alpha = on("alpha").expect("alpha's copy").to_shell();
    let beta = on("beta").expect("beta's copy").to_shell();
    let root = |h: &str| site.host(h).expect("host").jail_root.display().to_string();
    assert!(
        alpha.contains(&format!("{}/vpnha", root("alpha"))),
        "{alpha}"
    );
    assert!(beta.contains(&format!("{}/vpnha", root("beta"))), "{beta}");
    assert_ne!(alpha, beta);
    let err = on("gamma").expect_err("no copy on gamma").to_string();
    assert!(
        err.contains("host \"gamma\" has no jail \"vpnha\""),
        "{err}"
    );
    // The same through the command line, as a dry run.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["create", "vpnha", "--dry-run", "--site"])
        .arg(wan_path())
        .output()
        .expect("run vpnjail");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .args(["create", "vpnha", "--host", "beta", "--dry-run", "--site"])
        .arg(wan_path())
        .output()
        .expect("run vpnjail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{}/vpnha", root("beta"))));
}

/// Two Linux hosts with `vpnx` replicated on both and the given jail lines
/// (`standby`, `openvpn`), written with a provider file and a psk into a
/// temporary directory; the site's path.
fn linux_replicas(dir: &std::path::Path, jail_lines: &str, beta_platform: &str) -> PathBuf {
    std::fs::write(
        dir.join("p.ovpn"),
        "client\ndev tun\nproto udp\nremote 198.51.100.1 1194\nnobind\n\
         <ca>\n-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n</ca>\n",
    )
    .expect("ovpn");
    std::fs::write(dir.join("l.psk"), "a-test-key-of-enough-length\n").expect("psk");
    let mut t = "[site]\nname = \"c\"\nrouting = \"bgp\"\n\
                 anycast = { network = \"10.10.200.0/24\", bridge = \"vjbr1\" }\n"
        .to_string();
    for (n, (h, platform)) in [("alpha", "linux"), ("beta", beta_platform)]
        .iter()
        .enumerate()
    {
        let n = n + 1;
        let base = if *platform == "freebsd" {
            "base = \"/usr/freebsd-dist/base.txz\"\n"
        } else {
            ""
        };
        t += &format!(
            "\n[[host]]\nname = \"{h}\"\nexternal_if = \"eth0\"\npublic_address = \"192.0.2.{n}\"\n\
             bridge = {{ name = \"vjbr0\", network = \"10.10.{n}.0/24\", address = \"10.10.{n}.1\" }}\n\
             jail_root = \"/j\"\nplatform = \"{platform}\"\n{base}\n\
             [[host.jail]]\nname = \"ipsec_{h}\"\nkind = \"ipsec\"\naddress = \"10.10.{n}.4\"\n"
        );
        if *h == "alpha" {
            t += &format!(
                "\n[[host.jail]]\nname = \"vpnx\"\nkind = \"vpn\"\naddress = \"10.10.200.10\"\n\
                 anycast = \"10.10.200.1\"\nreplicas = [\"alpha\", \"beta\"]\ntun = \"tun0\"\n\
                 provider_dns = \"198.18.0.53\"\n{jail_lines}"
            );
        }
    }
    t += "\n[[link]]\nhosts = [\"alpha\", \"beta\"]\nmode = \"swanctl\"\nreqid = 100\n\
          inner = [\"172.16.0.1\", \"172.16.0.2\"]\npsk_file = \"l.psk\"\n";
    let site = dir.join("site.toml");
    std::fs::write(&site, t).expect("site");
    site
}

/// [`linux_replicas`] with a WireGuard file `p.conf` (its `DNS =` the
/// site's `provider_dns`) and no `tun` (vpnjail names a WireGuard
/// interface itself).
fn wireguard_replicas(dir: &std::path::Path, jail_lines: &str, beta_platform: &str) -> PathBuf {
    std::fs::write(
        dir.join("p.conf"),
        "[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAddress = 10.64.0.2/32\n\
         DNS = 198.18.0.53\n\n[Peer]\nPublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\
         Endpoint = 203.0.113.7:51820\nAllowedIPs = 0.0.0.0/0\n",
    )
    .expect("wg");
    let lines = format!("{jail_lines}wireguard = \"p.conf\"\n");
    let path = linux_replicas(dir, &lines, beta_platform);
    let text = std::fs::read_to_string(&path)
        .expect("site")
        .replace("tun = \"tun0\"\n", "");
    std::fs::write(&path, text).expect("site");
    path
}

fn check_report(site: &std::path::Path) -> Result<Site, String> {
    vpndns::deploy::check::load(site).map_err(|e| e.to_string())
}

#[test]
fn standby_is_hot_or_cold_and_cold_needs_a_client_vpnjail_runs() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    let key = "host[alpha].jail[vpnx].standby";
    let r =
        check_report(&linux_replicas(dir, "standby = \"tepid\"\n", "linux")).expect_err("tepid");
    assert!(
        r.contains(&format!("{key}: \"tepid\": expected \"hot\"")),
        "{r}"
    );
    let r = check_report(&linux_replicas(dir, "standby = \"cold\"\n", "linux"))
        .expect_err("a client of one's own");
    assert!(
        r.contains(&format!(
            "{key}: standby = \"cold\" needs a VPN client vpnjail runs"
        )),
        "{r}"
    );
    // WireGuard too, on both platforms (the monitor drives wireguard-go on
    // Linux, the port's rc.d script on FreeBSD: monitor/client.rs).
    use vpndns::deploy::model::Standby;
    for beta in ["linux", "freebsd"] {
        let site = check_report(&wireguard_replicas(dir, "standby = \"cold\"\n", beta))
            .unwrap_or_else(|e| panic!("cold WireGuard on {beta}: {e}"));
        for h in ["alpha", "beta"] {
            let (_, r, _) = site.host(h).expect("host").replicas().next().expect("copy");
            assert_eq!(r.standby, Standby::Cold, "{h} ({beta})");
        }
    }
    // Hot is the default, and may be written; cold is accepted on a FreeBSD
    // replica host too (the monitor drives the port's rc.d script:
    // a_cold_freebsd_replica_boots_without_its_client).
    for (lines, beta, want) in [
        ("openvpn = \"p.ovpn\"\n", "linux", Standby::Hot),
        (
            "standby = \"hot\"\nopenvpn = \"p.ovpn\"\n",
            "linux",
            Standby::Hot,
        ),
        (
            "standby = \"cold\"\nopenvpn = \"p.ovpn\"\n",
            "freebsd",
            Standby::Cold,
        ),
    ] {
        let site = check_report(&linux_replicas(dir, lines, beta)).expect(lines);
        let (_, r, _) = site
            .host("beta")
            .expect("beta")
            .replicas()
            .next()
            .expect("copy");
        assert_eq!(r.standby, want, "{lines} on {beta}");
    }
    // A vpn jail that is not replicated has no standby.
    let path = linux_replicas(dir, "standby = \"cold\"\nopenvpn = \"p.ovpn\"\n", "linux");
    let text = std::fs::read_to_string(&path).expect("site").replace(
        "address = \"10.10.200.10\"\nanycast = \"10.10.200.1\"\nreplicas = [\"alpha\", \"beta\"]\n",
        "address = \"10.10.1.2\"\n",
    );
    std::fs::write(&path, text).expect("site");
    let r = check_report(&path).expect_err("not replicated");
    assert!(
        r.contains(&format!(
            "{key}: standby applies only to a replicated vpn jail (replicas = [...])"
        )),
        "{r}"
    );
}

/// In cold standby `create` writes the client's files but does not start
/// it; the monitor's changes start and stop it with the backend's commands,
/// and every host's FRR has the route-maps of the cold priorities.
#[test]
fn a_cold_replica_is_created_without_its_client_and_the_monitor_drives_it() {
    use vpndns::deploy::apply::{Target, build};
    use vpndns::deploy::monitor::cold::Action as ColdAction;
    let d = tempfile::tempdir().expect("tempdir");
    let plan = |lines: &str| {
        let site = check_report(&linux_replicas(d.path(), lines, "linux")).expect("site");
        let shell = build(
            &site,
            &Target::Create {
                jail: "vpnx".into(),
                host: Some("beta".into()),
            },
        )
        .expect("plan")
        .to_shell();
        (site, shell)
    };
    let (_, hot) = plan("openvpn = \"p.ovpn\"\n");
    assert!(hot.contains("openvpn --daemon vpnjail-vpnx"), "{hot}");
    let (site, cold) = plan("standby = \"cold\"\nopenvpn = \"p.ovpn\"\n");
    assert!(cold.contains("/j/vpnx/openvpn.conf"), "{cold}");
    assert!(!cold.contains("openvpn --daemon"), "{cold}");
    let beta = site.host("beta").expect("beta");
    let ws = monitor::watched(&site, beta);
    let w = &ws[0];
    let c = w.cold.as_ref().expect("a cold replica");
    assert_eq!((c.policy.priority, c.policy.cold), (1, 3));
    let p = monitor::cold_plan(
        &site,
        beta,
        w,
        c,
        &[ColdAction::StartClient, ColdAction::Announce(1)],
    )
    .expect("plan")
    .to_shell();
    assert!(
        p.contains("openvpn --daemon vpnjail-vpnx --writepid /j/vpnx/openvpn.pid"),
        "{p}"
    );
    assert!(p.contains("route-map VJ-ANYCAST-P1'"), "{p}");
    let p = monitor::cold_plan(
        &site,
        beta,
        w,
        c,
        &[ColdAction::StopClient, ColdAction::Announce(3)],
    )
    .expect("plan")
    .to_shell();
    assert!(
        p.contains("start-stop-daemon --stop --pidfile /j/vpnx/openvpn.pid"),
        "{p}"
    );
    assert!(p.contains("(cold standby)"), "{p}");
    for h in ["alpha", "beta"] {
        let files = render::host(&site, h).expect("render");
        let frr = files
            .iter()
            .find(|f| f.path.ends_with("frr.conf"))
            .expect("frr.conf");
        assert!(
            frr.content.contains("route-map VJ-ANYCAST-P3 permit"),
            "{h}: {}",
            frr.content
        );
    }
}

/// The checked site at `path` and beta's rendered file `path_of_file`
/// (beta a FreeBSD host; the rendered files pass the lint).
fn beta_file(path: PathBuf, path_of_file: &str) -> (Site, render::File) {
    let site = check_report(&path).expect("site");
    let (files, bad) = vpndns::deploy::lint::host(&site, "beta").expect("render");
    assert!(bad.is_empty(), "{bad:?}");
    let f = file(&files, path_of_file).expect(path_of_file).clone();
    (site, f)
}

/// Beta's FreeBSD file `path` (from [`beta_file`]) of the site `site_of`
/// writes for the jail lines `hot`, which says `knob="YES"`, then for
/// `cold`, which says `knob="NO"`: the cold site and file.
fn hot_then_cold(
    site_of: &dyn Fn(&str) -> PathBuf,
    path: &str,
    knob: &str,
    hot: &str,
    cold: &str,
) -> (Site, render::File) {
    let (_, h) = beta_file(site_of(hot), path);
    let yes = format!("{knob}=\"YES\"\n");
    assert!(h.content.contains(&yes), "{yes} in\n{}", h.content);
    let (site, c) = beta_file(site_of(cold), path);
    let no = format!("{knob}=\"NO\"\n");
    assert!(c.content.contains(&no), "{no} in\n{}", c.content);
    (site, c)
}

/// The monitor's plan on beta for `actions` of its cold replica, as shell.
fn cold_shell(site: &Site, actions: &[monitor::cold::Action]) -> String {
    let beta = site.host("beta").expect("beta");
    let ws = monitor::watched(site, beta);
    let c = ws[0].cold.as_ref().expect("a cold replica");
    monitor::cold_plan(site, beta, &ws[0], c, actions)
        .expect("plan")
        .to_shell()
}

/// A cold replica on a FreeBSD host: its jail's rc.conf.d/openvpn does not
/// start the client at boot (golden; a hot one does), and the monitor's
/// changes start and stop it through the port's rc.d script in the jail.
#[test]
fn a_cold_freebsd_replica_boots_without_its_client() {
    use vpndns::deploy::monitor::cold::Action as ColdAction;
    let d = tempfile::tempdir().expect("tempdir");
    let (site, cold) = hot_then_cold(
        &|lines| linux_replicas(d.path(), lines, "freebsd"),
        "/j/vpnx/etc/rc.conf.d/openvpn",
        "openvpn_enable",
        "openvpn = \"p.ovpn\"\n",
        "standby = \"cold\"\nopenvpn = \"p.ovpn\"\n",
    );
    assert_eq!(cold.mode, 0o644);
    golden(
        std::path::Path::new("ha/cold-freebsd/j/vpnx/etc/rc.conf.d/openvpn"),
        &cold.content,
    );
    shellcheck("rc.conf.d/openvpn", &cold.content, &["-e", "SC2034"]);
    let plan = |actions: &[ColdAction]| cold_shell(&site, actions);
    let p = plan(&[ColdAction::StartClient, ColdAction::Announce(1)]);
    assert!(p.contains("jexec vpnx service openvpn onestart"), "{p}");
    assert!(p.contains("route-map VJ-ANYCAST-P1'"), "{p}");
    let p = plan(&[ColdAction::StopClient, ColdAction::Announce(3)]);
    assert!(p.contains("jexec vpnx service openvpn onestop"), "{p}");
    assert!(!p.contains("start-stop-daemon"), "{p}");
}

/// A cold WireGuard replica on Linux: `create` installs the `wg setconf`
/// file but starts no wireguard-go; the monitor's start is the very steps
/// a hot jail's `create` runs (wireguard-go, `wg setconf`, address, the
/// endpoint's route outside the tunnel, the routes into it), its stop waits
/// for wireguard-go's exit, and "runs" does not count a zombie.
#[test]
fn a_cold_wireguard_replica_is_created_without_its_tunnel_and_the_monitor_drives_it() {
    use vpndns::deploy::apply::{Target, build};
    use vpndns::deploy::command::linux as lx;
    use vpndns::deploy::monitor::cold::Action as ColdAction;
    use vpndns::deploy::plan::linux as pl;
    let d = tempfile::tempdir().expect("tempdir");
    let plan = |lines: &str| {
        let site = check_report(&wireguard_replicas(d.path(), lines, "linux")).expect("site");
        let target = Target::Create {
            jail: "vpnx".into(),
            host: Some("beta".into()),
        };
        let shell = build(&site, &target).expect("plan").to_shell();
        (site, shell)
    };
    let (hot_site, hot) = plan("");
    let (site, cold) = plan("standby = \"cold\"\n");
    let beta = site.host("beta").expect("beta");
    let wg = &hot_site
        .host("beta")
        .and_then(|h| h.jail("vpnx"))
        .map(|j| match &j.kind {
            vpndns::deploy::model::JailKind::Vpn(v) => v.tun.clone(),
            _ => unreachable!(),
        })
        .expect("vpnx");
    for (text, want) in [
        ("/j/vpnx/wireguard.conf", true),
        ("--exec /usr/bin/wireguard-go -- -f", false),
        ("wg setconf", false),
    ] {
        assert!(hot.contains(text), "hot: {text}\n{hot}");
        assert_eq!(cold.contains(text), want, "cold: {text}\n{cold}");
    }
    let ws = monitor::watched(&site, beta);
    let (w, c) = (&ws[0], ws[0].cold.as_ref().expect("a cold replica"));
    let start = monitor::cold_plan(
        &site,
        beta,
        w,
        c,
        &[ColdAction::StartClient, ColdAction::Announce(1)],
    )
    .expect("plan");
    let up = pl::wireguard_up_steps(&site, beta, &w.jail).expect("WireGuard");
    assert_eq!(start.steps[..up.len()], up[..], "the backend's steps");
    let shell = start.to_shell();
    for want in [
        format!("--exec /usr/bin/wireguard-go -- -f {wg}"),
        format!("wg setconf {wg} /j/vpnx/wireguard.conf"),
        format!("addr replace 10.64.0.2/32 dev {wg}"),
        "route replace 203.0.113.7/32 via 10.10.200.254".to_string(),
        format!("route replace 0.0.0.0/1 dev {wg}"),
        format!("route replace 128.0.0.0/1 dev {wg}"),
        "route-map VJ-ANYCAST-P1'".to_string(),
    ] {
        assert!(shell.contains(&want), "{want}\n{shell}");
        // One definition: the hot jail's create runs the same commands.
        if !want.contains("route-map") {
            assert!(hot.contains(&want), "{want} in the hot create\n{hot}");
        }
    }
    let stop = cold_shell(&site, &[ColdAction::StopClient, ColdAction::Announce(3)]);
    assert!(
        stop.contains("start-stop-daemon --stop --pidfile /j/vpnx/wireguard-go.pid"),
        "{stop}"
    );
    let pid = pl::pidfile(beta, "vpnx", "wireguard-go");
    assert_eq!(
        monitor::client::running(beta, &w.jail).expect("cmd"),
        lx::daemon_running(&pid)
    );
}

/// A cold WireGuard replica whose file names its endpoint by host name:
/// `create` pinned the address into the installed `wg setconf` file (and
/// the kill switch); the monitor reads it back from there, so that its start
/// routes that address outside the tunnel, without resolving again.
#[test]
fn a_cold_wireguard_replica_routes_the_endpoint_create_pinned() {
    use vpndns::deploy::monitor::cold::Action as ColdAction;
    let d = tempfile::tempdir().expect("tempdir");
    let path = wireguard_replicas(d.path(), "standby = \"cold\"\n", "linux");
    let root = d.path().join("root");
    let text = std::fs::read_to_string(&path).expect("site").replace(
        "jail_root = \"/j\"",
        &format!("jail_root = \"{}\"", root.display()),
    );
    std::fs::write(&path, text).expect("site");
    let conf = d.path().join("p.conf");
    let named = std::fs::read_to_string(&conf)
        .expect("p.conf")
        .replace("203.0.113.7:51820", "vpn.provider.test:51820");
    std::fs::write(&conf, named).expect("p.conf");
    let site = check_report(&path).expect("site");
    let beta = site.host("beta").expect("beta");
    // What `create` installed: the provider's keys with the address pinned.
    let installed = root.join("vpnx/wireguard.conf");
    std::fs::create_dir_all(installed.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &installed,
        "# Generated by vpnjail from the provider's file\n[Interface]\n\
         PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n[Peer]\n\
         PublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\
         Endpoint = 198.51.100.9:51820\nAllowedIPs = 0.0.0.0/0\n",
    )
    .expect("installed");
    let mut ws = monitor::watched(&site, beta);
    let start = |w: &monitor::Watched| {
        let c = w.cold.as_ref().expect("a cold replica");
        monitor::cold_plan(&site, beta, w, c, &[ColdAction::StartClient])
            .expect("plan")
            .to_shell()
    };
    let before = start(&ws[0]);
    assert!(!before.contains("198.51.100.9/32"), "{before}");
    monitor::pinned_endpoints(beta, &mut ws[0].jail);
    let after = start(&ws[0]);
    assert!(
        after.contains("route replace 198.51.100.9/32 via 10.10.200.254"),
        "{after}"
    );
}

/// A cold WireGuard replica on FreeBSD: the jail's rc.conf does not enable
/// the port's script (golden; a hot one does), `create` starts the jail
/// without the tunnel (golden plan), and the monitor runs `service
/// wireguard onestart|onestop|onestatus` in the jail.
#[test]
fn a_cold_freebsd_wireguard_replica_boots_without_its_tunnel() {
    use vpndns::deploy::apply::{Target, build};
    use vpndns::deploy::monitor::cold::Action as ColdAction;
    let d = tempfile::tempdir().expect("tempdir");
    let (site, cold) = hot_then_cold(
        &|lines| wireguard_replicas(d.path(), lines, "freebsd"),
        "/j/vpnx/etc/rc.conf",
        "wireguard_enable",
        "",
        "standby = \"cold\"\n",
    );
    golden(
        std::path::Path::new("ha/cold-freebsd-wireguard/j/vpnx/etc/rc.conf"),
        &cold.content,
    );
    shellcheck("rc.conf", &cold.content, &["-e", "SC2034"]);
    let target = Target::Create {
        jail: "vpnx".into(),
        host: Some("beta".into()),
    };
    let create = build(&site, &target).expect("plan").to_shell();
    golden(
        std::path::Path::new("ha/cold-freebsd-wireguard/create-vpnx-beta.sh"),
        &create,
    );
    assert!(!create.contains("service wireguard"), "{create}");
    let plan = |actions: &[ColdAction]| cold_shell(&site, actions);
    let p = plan(&[ColdAction::StartClient, ColdAction::Announce(1)]);
    assert!(p.contains("jexec vpnx service wireguard onestart"), "{p}");
    let p = plan(&[ColdAction::StopClient, ColdAction::Announce(3)]);
    assert!(p.contains("jexec vpnx service wireguard onestop"), "{p}");
    let beta = site.host("beta").expect("beta");
    let vpnx = beta.jail("vpnx").expect("vpnx");
    assert_eq!(
        monitor::client::running(beta, vpnx)
            .expect("cmd")
            .to_string(),
        "jexec vpnx service wireguard onestatus"
    );
}

/// `vpnjail status` of a cold standby: its jail is up with the tunnel down
/// while it waits, and the replica that serves is the one whose tunnel is up,
/// not the best priority among those announced (alpha waits cold, beta serves).
#[test]
fn status_counts_a_waiting_cold_replica_up_and_the_tunnel_holder_as_serving() {
    use vpndns::deploy::command::Cmd;
    use vpndns::deploy::status::{self, probe::Probe};
    struct Answers;
    impl Probe for Answers {
        fn query(&mut self, cmd: &Cmd) -> std::io::Result<(bool, String)> {
            let c = cmd.to_string();
            Ok(if c.contains("link show dev tun0") {
                // Only beta's client runs.
                (
                    c.contains("-beta-"),
                    "9: tun0: <POINTOPOINT,UP,LOWER_UP> mtu 1500".into(),
                )
            } else if c.contains("show ip bgp 10.10.200.1/32 json") {
                let lp = if c.contains("ipsec_alpha") { 98 } else { 99 };
                let json = format!(
                    r#"{{"paths":[{{"locPrf":{lp},"valid":true,"local":true,"peer":{{"peerId":"0.0.0.0"}}}}]}}"#
                );
                (true, json)
            } else {
                (true, String::new())
            })
        }
        fn http_get(
            &mut self,
            _: Option<&str>,
            _: std::net::SocketAddr,
            _: &str,
        ) -> Result<String, String> {
            Err("no".into())
        }
        fn read(&mut self, _: &std::path::Path) -> Option<String> {
            None
        }
    }
    let d = tempfile::tempdir().expect("tempdir");
    let cold = "standby = \"cold\"\nopenvpn = \"p.ovpn\"\n";
    let site = check_report(&linux_replicas(d.path(), cold, "linux")).expect("site");
    let r = status::gather(&site, None, &mut Answers).expect("gather");
    let vpnx = |h: &str| {
        r.hosts
            .iter()
            .find(|x| x.name == h)
            .and_then(|x| x.jails.iter().find(|j| j.name == "vpnx"))
            .expect("vpnx")
    };
    let (a, b) = (vpnx("alpha"), vpnx("beta"));
    let ra = a
        .vpn
        .as_ref()
        .and_then(|v| v.replica.as_ref())
        .expect("replica");
    assert!(ra.cold && ra.announced, "{ra:?}");
    assert!(a.up && !a.vpn.as_ref().expect("vpn").tunnel_up, "{a:?}");
    assert!(b.up && b.vpn.as_ref().expect("vpn").tunnel_up, "{b:?}");
    assert_eq!(r.replicated[0].served_by.as_deref(), Some("beta"));
}

#[test]
fn a_replica_admits_every_hosts_wan_networks() {
    // gamma's clients (its bridge, its road warriors' pool) and every
    // host's vpndns reach the anycast address: each replica's kill switch
    // admits them, on both platforms, with no two elements overlapping.
    let text = wan_text().replace(
        "bridge = { name = \"vjbr0\", network = \"10.10.3.0/24\", address = \"10.10.3.1\" }",
        "bridge = { name = \"vjbr0\", network = \"10.10.3.0/24\", address = \"10.10.3.1\" }\n\
         client_pool = \"10.77.0.0/24\"",
    );
    let site = vpndns::deploy::check::check_text(&wan_path(), &text)
        .unwrap_or_else(|e| panic!("a pool on gamma must pass check:\n{e}"));
    let want = "10.10.1.0/24, 10.10.2.0/23, 10.10.200.0/24, 10.77.0.0/24";
    for (host, root) in [("alpha", "/usr/local/jails"), ("beta", "/jails")] {
        let files = render::host(&site, host).expect("render");
        let ks = file(
            &files,
            &format!("{root}/vpnha/etc/pf.vpnjail/killswitch.conf"),
        )
        .expect("the replica's kill switch");
        let line = format!("table <egress> const {{ {want} }}");
        assert!(
            ks.content.contains(&line),
            "{host}: {line:?} in\n{}",
            ks.content
        );
    }
    let (h, j, v) = site
        .vpn_jails()
        .find(|(h, j, _)| h.name == "alpha" && j.name == "vpnha")
        .expect("alpha's replica");
    let nft = render::killswitch::nft(&site, h, j, v).expect("render nft");
    assert!(nft.contains(&format!("elements = {{ {want} }}")), "{nft}");
}
