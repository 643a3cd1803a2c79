//! `[site] routing = "bgp"`: golden files for examples/wan-site.toml (three
//! FreeBSD hosts in a triangle), and the facts both ends of every BGP session
//! must agree on. The sessions themselves run for real in tests/bgp_e2e.rs.

mod vpnjail_support;

use std::path::{Path, PathBuf};
use vpndns::deploy::model::Site;
use vpndns::deploy::render::{self, File};
use vpnjail_support::*;

fn wan_path() -> PathBuf {
    root().join("examples/wan-site.toml")
}

fn wan() -> Site {
    vpndns::deploy::check::load(&wan_path())
        .unwrap_or_else(|e| panic!("examples/wan-site.toml must pass check:\n{e}"))
}

fn files(site: &Site) -> Vec<(String, File)> {
    let mut v = Vec::new();
    for h in &site.hosts {
        for f in render::host(site, &h.name).expect("render") {
            v.push((h.name.clone(), f));
        }
    }
    v
}

fn frr_conf<'a>(files: &'a [(String, File)], host: &str) -> &'a str {
    files
        .iter()
        .find(|(h, f)| h == host && f.path.ends_with("usr/local/etc/frr/frr.conf"))
        .map(|(_, f)| f.content.as_str())
        .unwrap_or_else(|| panic!("no frr.conf for {host}"))
}

#[test]
fn golden_files_for_wan_site() {
    let site = wan();
    assert!(site.bgp);
    assert_eq!(site.redundancy, 1);
    let files = files(&site);
    for (host, f) in &files {
        let rel = Path::new("wan")
            .join(host)
            .join(f.path.strip_prefix("/").expect("absolute"));
        golden(&rel, &f.content);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
        .arg("check")
        .arg(wan_path())
        .output()
        .expect("run vpnjail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_session_is_configured_at_both_ends() {
    let site = wan();
    let files = files(&site);
    for link in &site.links {
        for side in 0..2 {
            let (me, peer) = (&link.hosts[side], &link.hosts[1 - side]);
            let peer_asn = site.host(peer).expect("peer").asn;
            let my_asn = site.host(me).expect("me").asn;
            let conf = frr_conf(&files, me);
            assert!(conf.contains(&format!("router bgp {my_asn}\n")), "{conf}");
            let n = link.inner[1 - side];
            assert!(
                conf.contains(&format!(" neighbor {n} remote-as {peer_asn}\n")),
                "{me} must peer with {peer} at {n} AS {peer_asn}:\n{conf}"
            );
            assert!(
                conf.contains(&format!(
                    " neighbor {n} update-source {}\n",
                    link.inner[side]
                )),
                "{conf}"
            );
        }
    }
    for h in &site.hosts {
        let conf = frr_conf(&files, &h.name);
        assert!(conf.contains("no bgp ebgp-requires-policy"), "{conf}");
        assert!(conf.contains("timers bgp 1 3"), "{conf}");
        assert!(
            conf.contains(&format!("  network {}\n", h.bridge.network)),
            "{conf}"
        );
        let rc = files
            .iter()
            .find(|(hn, f)| {
                *hn == h.name && f.path.ends_with("etc/rc.conf") && f.content.contains("frr_enable")
            })
            .map(|(_, f)| f.content.as_str())
            .expect("the ipsec jail's rc.conf enables frr");
        // BFD is on by default with BGP: bfdd runs too (platform.md).
        assert!(
            rc.contains("frr_daemons=\"mgmtd zebra staticd bgpd bfdd\""),
            "{rc}"
        );
        // Every session runs BFD with the one profile, defined once.
        for e in site.link_ends(h) {
            let n = format!(" neighbor {} bfd profile vpnjail\n", e.remote_inner());
            assert!(conf.contains(&n), "{n} in\n{conf}");
        }
        assert_eq!(
            conf.matches("\nbfd\n profile vpnjail\n").count(),
            1,
            "{conf}"
        );
        assert!(
            conf.contains(
                "  detect-multiplier 3\n  receive-interval 100\n  transmit-interval 100\n"
            ),
            "{conf}"
        );
        // No static routes in the ipsec jail: BGP owns them.
        assert!(!rc.contains("static_routes"), "{rc}");
    }
    // gamma's asn is given; the others are assigned in host order.
    let asns: Vec<u32> = site.hosts.iter().map(|h| h.asn).collect();
    assert_eq!(asns, vec![4_200_000_001, 4_200_000_002, 64512]);
}

#[test]
fn static_routing_renders_no_frr() {
    let site = example();
    assert!(!site.bgp);
    assert!(
        files(&site)
            .iter()
            .all(|(_, f)| !f.path.to_string_lossy().contains("frr")),
        "no FRR files without routing = \"bgp\""
    );
}

#[test]
fn linux_hosts_get_frr_conf_in_the_ipsec_directory() {
    let text = std::fs::read_to_string(wan_path()).expect("read");
    let linux = text
        .replace(
            "base = \"/usr/freebsd-dist/base.txz\"",
            "platform = \"linux\"",
        )
        .replace(
            "zfs_clone = \"zroot/jails/base@clean\"",
            "platform = \"linux\"",
        );
    let site = vpndns::deploy::check::check_text(&wan_path(), &linux).expect("linux wan");
    let files = render::host(&site, "alpha").expect("render");
    let f = files
        .iter()
        .find(|f| f.path == Path::new("/usr/local/jails/ipsec/frr.conf"))
        .expect("frr.conf beside swanctl.conf");
    assert!(f.content.contains("router bgp 4200000001"), "{}", f.content);
    // The same sessions as on FreeBSD; over Linux's strongSwan links
    // (kernel-libipsec, selectors of the two ends only) the host advertises
    // its own network only, never transit.
    let bsd = files_of_wan_alpha();
    let sessions = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with(" neighbor ") && !l.contains(" description "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(sessions(&f.content), sessions(&bsd));
    for peer in ["172.16.0.2", "172.16.0.10"] {
        let out = format!("  neighbor {peer} route-map vpnjail-own-only out");
        assert!(f.content.contains(&out), "{}", f.content);
        assert!(!bsd.contains(&out), "{bsd}");
    }
    assert!(
        f.content
            .contains("bgp as-path access-list vpnjail-own seq 5 permit ^$")
    );
}

fn files_of_wan_alpha() -> String {
    let site = wan();
    frr_conf(&files(&site), "alpha").to_string()
}

/// The wan example on Linux, each host in its own namespace `vjh-wan-<n>`.
fn linux_wan() -> Site {
    let text = std::fs::read_to_string(wan_path()).expect("read");
    let mut out = String::new();
    let mut n = 0;
    for line in text.lines() {
        if line.starts_with("base =") || line.starts_with("zfs_clone =") {
            out += &format!("platform = \"linux\"\nnetns = \"vjh-wan-{n}\"\n");
            n += 1;
        } else {
            out += line;
            out += "\n";
        }
    }
    vpndns::deploy::check::check_text(&wan_path(), &out).expect("linux wan")
}

#[test]
fn linux_create_all_starts_frr_and_destroy_all_stops_it() {
    use vpndns::deploy::apply::{Target, build};
    use vpndns::deploy::exec::execute;
    use vpndns::deploy::fake::FakeHost;
    let site = linux_wan();
    let mut f = FakeHost::linux(&site.hosts[0].vpndns_bin);
    let before = f.state.clone();
    let p = build(&site, &Target::CreateAll { host: None }).expect("plan");
    let shell = p.to_shell();
    for d in [
        "/usr/lib/frr/zebra",
        "/usr/lib/frr/bfdd",
        "/usr/lib/frr/bgpd",
    ] {
        assert_eq!(
            shell.matches(d).count(),
            3,
            "{d} started once per host:\n{shell}"
        );
    }
    execute(&p, &mut f).unwrap_or_else(|e| panic!("create --all: {e}"));
    // Per host: charon, zebra, bfdd, bgpd; on the replica hosts of vpnha
    // (alpha, beta) also vpnjail monitor.
    assert_eq!(f.state.daemons.len(), 14, "{:?}", f.state.daemons);
    for host_dir in ["/usr/local/jails/ipsec", "/jails/ipsec_b"] {
        let pid = Path::new(host_dir).join("monitor.pid");
        assert!(f.state.daemons.contains(&pid), "monitor on {host_dir}");
    }
    assert!(
        !f.state
            .daemons
            .contains(Path::new("/jails/ipsec_g/monitor.pid"))
    );
    let conf = Path::new("/usr/local/jails/ipsec/frr.conf");
    assert!(f.state.files.contains_key(conf), "frr.conf installed");
    // bgpd's file on Linux holds no BFD block (bfdd's is its own file).
    let bgpd = String::from_utf8_lossy(&f.state.files[conf].0).into_owned();
    assert!(
        bgpd.contains("bfd profile vpnjail") && !bgpd.contains("\nbfd\n"),
        "{bgpd}"
    );
    let bfdd = Path::new("/usr/local/jails/ipsec/bfdd.conf");
    assert!(f.state.files.contains_key(bfdd), "bfdd.conf installed");
    let after = f.state.clone();
    execute(&p, &mut f).expect("create again");
    assert_eq!(f.state, after, "create --all twice changes nothing");
    let d = build(&site, &Target::DestroyAll { host: None }).expect("plan");
    execute(&d, &mut f).unwrap_or_else(|e| panic!("destroy --all: {e}"));
    assert_eq!(f.state, before, "destroy --all left state behind");
}

#[test]
fn golden_linux_bgp_plan() {
    use vpndns::deploy::apply::{Target, build};
    let site = linux_wan();
    let p = build(
        &site,
        &Target::CreateAll {
            host: Some("alpha".into()),
        },
    )
    .expect("plan");
    golden(Path::new("plans/linux-bgp-create-alpha.sh"), &p.to_shell());
    shellcheck("the linux bgp plan", &p.to_shell(), &[]);
}

/// Fails each changing operation of `create --all` on the Linux BGP site in
/// turn: the host must end exactly as it began, with no undo failing.
#[test]
fn linux_bgp_create_rolls_back_at_every_step() {
    use vpndns::deploy::apply::{Target, build};
    use vpndns::deploy::exec::execute;
    use vpndns::deploy::fake::FakeHost;
    let site = linux_wan();
    let p = build(&site, &Target::CreateAll { host: None }).expect("plan");
    let mut clean = FakeHost::linux(&site.hosts[0].vpndns_bin);
    execute(&p, &mut clean).expect("clean create");
    let n = clean.changes();
    for k in 0..n {
        let mut f = FakeHost::linux(&site.hosts[0].vpndns_bin);
        let before = f.state.clone();
        f.fail_at = Some(k);
        let e = execute(&p, &mut f).expect_err("must fail");
        assert!(
            e.undo_failures.is_empty(),
            "at {k}: {e}\n{}",
            f.log.join("\n")
        );
        assert_eq!(
            f.state, before,
            "failure at change {k} ({e}) left state behind"
        );
    }
}

/// FRR's own parser accepts every generated frr.conf (`vtysh --dryrun`).
/// Skips with a message where FRR is not installed (.ci/run installs it).
#[test]
fn frr_accepts_the_generated_config() {
    let vtysh = Path::new("/usr/bin/vtysh");
    if !vtysh.exists() {
        eprintln!("SKIP frr_accepts_the_generated_config: no /usr/bin/vtysh (apt-get install frr)");
        return;
    }
    let site = wan();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut confs: Vec<(String, String)> = site
        .hosts
        .iter()
        .map(|h| (h.name.clone(), frr_conf(&files(&site), &h.name).to_string()))
        .collect();
    // Linux's, with the own-network-only route-map on strongSwan links.
    let linux = linux_wan();
    for h in &linux.hosts {
        let j = h.ipsec_jail().expect("ipsec");
        let conf = render::frr::conf(&linux, h, j).expect("frr.conf");
        assert!(conf.contains("route-map vpnjail-own-only out"), "{conf}");
        confs.push((format!("{}-linux", h.name), conf));
        let bfdd = render::frr::bfdd_conf(&linux, h, j)
            .expect("bfdd.conf")
            .expect("BFD is on");
        confs.push((format!("{}-linux-bfdd", h.name), bfdd));
    }
    for (name, conf) in &confs {
        let h = &name;
        let p = dir.path().join(format!("{name}.conf"));
        std::fs::write(&p, conf).expect("write");
        let out = std::process::Command::new(vtysh)
            .arg("--dryrun")
            .arg("-f")
            .arg(&p)
            .output()
            .expect("run vtysh");
        assert!(
            out.status.success(),
            "vtysh --dryrun rejects {h}'s frr.conf:\n{}{}\n{conf}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn wan_rc_conf_and_jail_conf_files_pass_their_checkers() {
    let site = wan();
    let mut jails = 0;
    for (_, f) in files(&site) {
        let p = f.path.to_string_lossy().to_string();
        if p.ends_with("rc.conf") || p.ends_with("rc.conf.vpnjail") {
            shellcheck(&p, &f.content, &["-e", "SC2034"]);
        }
        if p.starts_with("/etc/jail.conf.d") {
            vpndns::deploy::lint::jailconf::parse(&f.content)
                .unwrap_or_else(|e| panic!("{p}: {e}\n{}", f.content));
            jails += 1;
        }
        if p.contains("pf.vpnjail/") || p.ends_with("pf.conf.vpnjail") {
            vpndns::deploy::lint::pf::check(&f.content)
                .unwrap_or_else(|e| panic!("{p}: {e}\n{}", f.content));
        }
    }
    assert_eq!(jails, 5, "three ipsec jails and vpnha on alpha and beta");
}
