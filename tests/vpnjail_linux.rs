//! The Linux backend without touching the machine: the example Linux site
//! checks, its names fit, its plans run against the simulated Linux host
//! (create, idempotent re-create, destroy back to nothing, rollback at every
//! step), every dry-run plan passes shellcheck, and the rendered nftables and
//! vpndns files pass `nft -c` (as root) and `vpndns check`.

mod vpnjail_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vpndns::deploy::apply::{Target, build};
use vpndns::deploy::check;
use vpndns::deploy::exec::{StepResult, execute};
use vpndns::deploy::fake::FakeHost;
use vpndns::deploy::model::{Platform, Site};
use vpndns::deploy::render;
use vpnjail_support::*;

fn linux_example() -> Site {
    let p = root().join("examples/linux-site.toml");
    check::load(&p).unwrap_or_else(|e| panic!("examples/linux-site.toml must pass check:\n{e}"))
}

fn fake(site: &Site) -> FakeHost {
    FakeHost::linux(&site.hosts[0].vpndns_bin)
}

fn all(create: bool) -> Target {
    if create {
        Target::CreateAll { host: None }
    } else {
        Target::DestroyAll { host: None }
    }
}

#[test]
fn linux_example_checks_and_its_names_fit() {
    let site = linux_example();
    assert!(site.hosts.iter().all(|h| h.platform == Platform::Linux));
    let mut veths = BTreeSet::new();
    let mut netns = BTreeSet::new();
    for h in &site.hosts {
        for j in &h.jails {
            let v = site.veth_host(h, j);
            assert!(v.len() <= 15 && j.epair_jail().len() <= 15, "{v}");
            assert!(veths.insert(v));
            let n = site.jail_netns(h, j);
            assert_eq!(n, format!("vj-demo-{}-{}", h.name, j.name));
            assert!(netns.insert(n));
        }
    }
}

#[test]
fn create_all_is_idempotent_and_destroy_all_leaves_nothing() {
    let site = linux_example();
    let mut f = fake(&site);
    let before = f.state.clone();
    let p = build(&site, &all(true)).expect("plan");
    execute(&p, &mut f).unwrap_or_else(|e| panic!("create --all: {e}"));
    // Two hosts and seven jails; vpndns and two charons; host and vpn tables.
    assert_eq!(f.state.netns.len(), 9, "{:?}", f.state.netns);
    assert_eq!(f.state.daemons.len(), 3, "{:?}", f.state.daemons);
    let tables: BTreeSet<&str> = f.state.nft.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        tables,
        BTreeSet::from([
            "inet vpnjail_killswitch",
            "vpnjail",
            "vpnjail_demo_alpha",
            "vpnjail_demo_beta"
        ])
    );
    // Each of the two vpn namespaces has its NAT table and its kill switch.
    assert_eq!(f.state.nft.len(), 6);
    // Bridge plus one veth end per jail on each host, the other end inside.
    let alpha: Vec<_> = f
        .state
        .links
        .keys()
        .filter(|(ns, _)| ns == "vjh-demo-alpha")
        .collect();
    assert_eq!(alpha.len(), 1 + 5, "{alpha:?}");

    // Again: nothing that makes something runs a second time.
    let after = f.state.clone();
    f.log.clear();
    let r = execute(&p, &mut f).expect("create again");
    assert_eq!(f.state, after);
    for (st, r) in p.steps.iter().zip(&r) {
        if st.what.starts_with("create ") || st.what.starts_with("start ") {
            assert_eq!(*r, StepResult::Skipped, "{}", st.what);
        }
    }

    let d = build(&site, &all(false)).expect("plan");
    execute(&d, &mut f).unwrap_or_else(|e| panic!("destroy --all: {e}"));
    assert_eq!(f.state, before, "destroy --all left state behind");
    // And again: nothing to do.
    f.log.clear();
    let r = execute(&d, &mut f).expect("destroy again");
    assert_eq!(f.state, before);
    assert!(
        d.steps
            .iter()
            .zip(&r)
            .filter(|(s, _)| s.what.starts_with("delete ") || s.what.starts_with("stop "))
            .all(|(_, r)| *r == StepResult::Skipped)
    );
}

/// Fails each changing operation of `create --all` in turn: the host must end
/// exactly as it began, with no undo failing.
#[test]
fn rollback_create_all_at_every_step() {
    let site = linux_example();
    let p = build(&site, &all(true)).expect("plan");
    let mut clean = fake(&site);
    execute(&p, &mut clean).expect("clean create");
    let n = clean.changes();
    assert!(n > 50, "{n} changes");
    for k in 0..n {
        let mut f = fake(&site);
        let before = f.state.clone();
        f.fail_at = Some(k);
        let e = execute(&p, &mut f).expect_err("must fail");
        assert!(e.undo_failures.is_empty(), "at {k}: {e}");
        assert_eq!(
            f.state, before,
            "failure at change {k} ({e}) left state behind"
        );
    }
}

#[test]
fn one_jail_create_needs_the_host_and_destroy_undoes_it() {
    let site = linux_example();
    let mut f = fake(&site);
    let e = execute(
        &build(&site, &target::create("vpnus")).expect("plan"),
        &mut f,
    )
    .expect_err("no bridge yet");
    assert_eq!(e.step, 1, "{e}");
    execute(&build(&site, &all(true)).expect("plan"), &mut f).expect("create --all");
    let full = f.state.clone();
    execute(
        &build(&site, &target::destroy("vpnus")).expect("plan"),
        &mut f,
    )
    .expect("destroy vpnus");
    assert!(!f.state.netns.contains("vj-demo-alpha-vpnus"));
    assert_eq!(f.state.netns.len(), 8);
    execute(
        &build(&site, &target::create("vpnus")).expect("plan"),
        &mut f,
    )
    .expect("create vpnus");
    assert_eq!(f.state, full);
}

#[test]
fn every_linux_dry_run_plan_passes_shellcheck() {
    let site = linux_example();
    let mut targets = vec![all(true), all(false)];
    targets.extend(target::every_jail_and_host(&site));
    for t in targets {
        let p = build(&site, &t).expect("plan");
        shellcheck(&p.title, &p.to_shell(), &[]);
    }
}

#[test]
fn rendered_linux_files_pass_their_checkers() {
    let site = linux_example();
    let dir = tempfile::tempdir().expect("tempdir");
    let root_is = nix::unistd::geteuid().is_root()
        && std::process::Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    for h in &site.hosts {
        let files = render::host(&site, &h.name).expect("render");
        render::write_tree(&files, dir.path()).expect("write");
        for f in &files {
            let at: PathBuf = dir.path().join(f.path.strip_prefix("/").unwrap_or(&f.path));
            let name = f.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".nft") || name == "nft.conf" {
                assert!(
                    f.content.contains("delete table ip")
                        || f.content.contains("delete table inet"),
                    "{}",
                    f.path.display()
                );
                if root_is {
                    // -c: parse and check against the kernel, change nothing.
                    let out = std::process::Command::new("nft")
                        .args(["-c", "-f"])
                        .arg(&at)
                        .output()
                        .expect("nft");
                    assert!(
                        out.status.success(),
                        "nft -c rejects {}:\n{}\n{}",
                        f.path.display(),
                        String::from_utf8_lossy(&out.stderr),
                        f.content
                    );
                }
            }
            if name == "vpndns.toml" {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpndns"))
                    .arg("-c")
                    .arg(&at)
                    .arg("check")
                    .output()
                    .expect("vpndns");
                assert!(
                    out.status.success(),
                    "vpndns check rejects {}:\n{}",
                    f.path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if name == "swanctl.conf" {
                assert!(!f.content.contains("policies = no"), "{}", f.content);
                assert_eq!(f.mode, 0o600);
            }
        }
    }
}

fn problems(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("site.toml");
    std::fs::write(&p, text).expect("write");
    match check::load(&p) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

const HOST: &str = r#"[site]
name = "s"
[[host]]
name = "a"
external_if = "wan0"
public_address = "10.99.0.1"
bridge = { name = "br0", network = "10.10.1.0/24", address = "10.10.1.1" }
jail_root = "/run/vj"
"#;

#[test]
fn linux_keys_are_checked() {
    let bad_platform = format!("{HOST}platform = \"solaris\"\nbase = \"/b.txz\"\n");
    assert!(
        problems(&bad_platform).contains("host[a].platform: \"solaris\": expected"),
        "{}",
        problems(&bad_platform)
    );
    let netns_on_freebsd = format!("{HOST}netns = \"x\"\nbase = \"/b.txz\"\n");
    assert!(problems(&netns_on_freebsd).contains("netns only applies to platform = \"linux\""));
    let base_on_linux = format!("{HOST}platform = \"linux\"\nbase = \"/b.txz\"\n");
    assert!(problems(&base_on_linux).contains("base does not apply to platform = \"linux\""));
    let bad_netns = format!("{HOST}platform = \"linux\"\nnetns = \"a b\"\n");
    assert!(problems(&bad_netns).contains("a namespace name is"));
    let ok = format!("{HOST}platform = \"linux\"\nnetns = \"vjh-s-a\"\n");
    assert_eq!(problems(&ok), "");
    let gre = format!(
        "{HOST}platform = \"linux\"\n[[host.jail]]\nname = \"v\"\nkind = \"vpn\"\naddress = \"10.10.1.2\"\nprovider_dns = \"10.8.0.1\"\n[[gre]]\njail = \"v\"\nremote = \"10.10.9.9\"\ninner = [\"10.255.0.1\", \"10.255.0.2\"]\n"
    );
    assert!(
        problems(&gre).contains("only built on freebsd hosts"),
        "{}",
        problems(&gre)
    );
    let dns = format!(
        "{HOST}platform = \"linux\"\n[dns]\nstatic = {{ \"bad name!\" = \"10.1.1.1\", \"ok.wan\" = \"x\" }}\nblock = [\"-ok\", \"a..b\"]\n"
    );
    let p = problems(&dns);
    assert!(p.contains("\"bad name!\" is not a domain name"), "{p}");
    assert!(p.contains("is not an IPv4 address"), "{p}");
    assert!(p.contains("\"a..b\" is not a domain name"), "{p}");
}

#[test]
fn refused_off_linux_or_mixed_but_dry_run_prints() {
    let site = linux_example();
    let mut out = Vec::new();
    vpndns::deploy::apply::apply(&site, &all(true), true, &mut out).expect("dry-run");
    let s = String::from_utf8(out).expect("utf8");
    assert!(s.contains("ip netns add vjh-demo-alpha"), "{s}");
    assert!(s.contains("--notify-await"), "{s}");
    let mixed = format!(
        "{}\n{}",
        std::fs::read_to_string(root().join("examples/linux-site.toml")).expect("read"),
        "[[host]]\nname = \"bsd\"\nexternal_if = \"em0\"\npublic_address = \"192.0.2.99\"\nbridge = { name = \"vjbr0\", network = \"10.10.9.0/24\", address = \"10.10.9.1\" }\njail_root = \"/j\"\nbase = \"/b.txz\"\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("site.toml");
    std::fs::write(&p, mixed).expect("write");
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    std::fs::copy(
        root().join("examples/secrets/alpha-beta.psk"),
        dir.path().join("secrets/alpha-beta.psk"),
    )
    .expect("psk");
    let site = check::load(Path::new(&p)).unwrap_or_else(|e| panic!("{e}"));
    let e = vpndns::deploy::apply::apply(&site, &all(true), false, &mut Vec::new())
        .expect_err("mixed platforms");
    assert!(e.to_string().contains("different platforms"), "{e}");
}

/// Golden files: every rendered file of examples/linux-site.toml and the
/// dry-run scripts of `create --all` and `destroy --all` (UPDATE_GOLDEN=1
/// rewrites them; review the diff).
#[test]
fn golden_linux_files_and_plans() {
    let site = linux_example();
    for h in &site.hosts {
        for f in render::host(&site, &h.name).expect("render") {
            let rel = Path::new("linux")
                .join(&h.name)
                .join(f.path.strip_prefix("/").unwrap_or(&f.path));
            golden(&rel, &f.content);
        }
    }
    for (name, t) in [
        ("linux-create-all.sh", all(true)),
        ("linux-destroy-all.sh", all(false)),
    ] {
        let p = build(&site, &t).expect("plan");
        golden(&Path::new("plans").join(name), &p.to_shell());
    }
}
