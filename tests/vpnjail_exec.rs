//! The executor and the plans, recorded against a simulated FreeBSD host:
//! exact command sequences for create, destroy and re-create, idempotence, and
//! rollback when each step in turn fails. Also shellcheck of every dry-run plan.

mod vpnjail_support;

use vpndns::deploy::apply::build;
use vpndns::deploy::exec::{StepResult, execute};
use vpndns::deploy::fake::{FakeHost, State};
use vpnjail_support::*;

fn host() -> FakeHost {
    FakeHost::with_bridges(&["vjbr0"])
}

fn create(f: &mut FakeHost, jail: &str) -> Vec<StepResult> {
    let site = example();
    let p = build(&site, &target::create(jail)).expect("plan");
    execute(&p, f).unwrap_or_else(|e| panic!("create {jail}: {e}"))
}

fn destroy(f: &mut FakeHost, jail: &str) {
    let site = example();
    let p = build(&site, &target::destroy(jail)).expect("plan");
    execute(&p, f).unwrap_or_else(|e| panic!("destroy {jail}: {e}"));
}

#[test]
fn create_vpn_jail_exact_sequence() {
    let mut f = host();
    create(&mut f, "vpnus");
    let root = "/usr/local/jails/vpnus";
    let want = vec![
        "ifconfig vjbr0".to_string(),
        format!("test -d {root}"),
        format!("mkdir -p {root}"),
        format!("test -e {root}/bin/sh"),
        format!("tar -xpf /usr/freebsd-dist/base.txz -C {root}"),
        "write /etc/jail.conf.d/vpnus.conf".into(),
        format!("write {root}/etc/rc.conf"),
        format!("write {root}/etc/resolv.conf"),
        format!("write {root}/etc/pf.conf"),
        format!("write {root}/etc/pf.vpnjail/dns.conf"),
        format!("write {root}/etc/pf.vpnjail/killswitch.conf"),
        "jls -j vpnus jid".into(),
        "jail -f /etc/jail.conf.d/vpnus.conf -c vpnus".into(),
    ];
    assert_eq!(f.log, want);
    assert!(f.state.running.contains("vpnus"));
    assert!(
        f.state
            .members
            .contains(&("vjbr0".into(), "e0a_vpnus".into()))
    );
}

#[test]
fn create_ipsec_jail_loads_its_host_anchor_and_zfs_root_on_beta() {
    let mut f = host();
    create(&mut f, "ipsec");
    assert_eq!(
        f.log.last().map(String::as_str),
        Some("pfctl -a vpnjail/ipsec -f /etc/pf.vpnjail/ipsec.conf")
    );
    assert!(
        f.state
            .anchors
            .contains_key(&(String::new(), "vpnjail/ipsec".into()))
    );
    let mut g = host();
    create(&mut g, "dns_b");
    assert_eq!(
        &g.log[..3],
        [
            "ifconfig vjbr0",
            "zfs list -H -o name zroot/jails/dns_b",
            "zfs clone -o mountpoint=/jails/dns_b zroot/jails/base@clean zroot/jails/dns_b",
        ]
    );
    let script = g.state.files.get(std::path::Path::new(
        "/jails/dns_b/usr/local/etc/rc.d/vpndns",
    ));
    assert_eq!(script.map(|(_, m)| *m), Some(0o755));
}

#[test]
fn create_twice_changes_nothing_the_second_time() {
    for jail in ["vpnus", "ipsec", "dns", "desk"] {
        let mut f = host();
        create(&mut f, jail);
        let after_first = f.state.clone();
        f.log.clear();
        let results = create(&mut f, jail);
        assert_eq!(f.state, after_first, "{jail}");
        // Only probes run (and, for the ipsec jail, the anchor reload, which
        // replaces the anchor with the same rules).
        for l in &f.log {
            let probe = l.starts_with("jls ")
                || l.starts_with("test ")
                || l.starts_with("cmp -s ")
                || l == "ifconfig vjbr0";
            assert!(
                probe || l.starts_with("pfctl -a vpnjail/ipsec -f"),
                "{jail}: second run did {l}"
            );
        }
        let done = results.iter().filter(|r| **r == StepResult::Done).count();
        assert!(done <= 2, "{jail}: {results:?}");
    }
}

#[test]
fn destroy_leaves_no_jail_epair_member_or_anchor_then_recreate() {
    for jail in ["vpnus", "ipsec", "dns", "desk"] {
        let mut f = host();
        let initial_ifaces = f.state.interfaces.clone();
        create(&mut f, jail);
        let created = f.state.clone();
        f.log.clear();
        destroy(&mut f, jail);
        assert!(f.state.running.is_empty(), "{jail}");
        assert_eq!(
            f.state.interfaces, initial_ifaces,
            "{jail}: epair left behind"
        );
        assert!(
            f.state.members.is_empty(),
            "{jail}: bridge member left behind"
        );
        assert!(f.state.anchors.is_empty(), "{jail}: anchor left behind");
        let conf = format!("/etc/jail.conf.d/{jail}.conf");
        assert!(!f.state.files.contains_key(std::path::Path::new(&conf)));
        if jail == "ipsec" {
            assert_eq!(
                f.log,
                [
                    "pfctl -a vpnjail/ipsec -F all",
                    "jls -j ipsec jid",
                    "jail -f /etc/jail.conf.d/ipsec.conf -r ipsec",
                    "ifconfig e0a_ipsec",
                    "remove /etc/jail.conf.d/ipsec.conf",
                    "remove /etc/pf.vpnjail/ipsec.conf",
                ]
            );
        }
        // Destroying again is harmless; re-create restores the same state.
        destroy(&mut f, jail);
        create(&mut f, jail);
        assert_eq!(f.state, created, "{jail}: re-create differs");
    }
}

#[test]
fn destroy_removes_a_leftover_epair() {
    let mut f = host();
    f.state.interfaces.insert("e0a_desk".into());
    f.state.members.insert(("vjbr0".into(), "e0a_desk".into()));
    destroy(&mut f, "desk");
    assert!(
        f.log.contains(&"ifconfig e0a_desk destroy".to_string()),
        "{:?}",
        f.log
    );
    assert!(f.state.members.is_empty());
}

/// Fails each changing operation of a clean create in turn; the host must end
/// exactly as it began.
fn rollback_at_every_step(jail: &str) {
    let mut clean = host();
    create(&mut clean, jail);
    let n = clean.changes();
    assert!(n >= 5, "{jail}: {n} changes");
    for k in 0..n {
        let mut f = host();
        let before: State = f.state.clone();
        f.fail_at = Some(k);
        let site = example();
        let p = build(&site, &target::create(jail)).expect("plan");
        let e = execute(&p, &mut f).expect_err("must fail");
        assert!(e.undo_failures.is_empty(), "{jail} at {k}: {e}");
        assert_eq!(
            f.state, before,
            "{jail}: failure at change {k} ({e}) left state behind"
        );
    }
}

#[test]
fn rollback_vpn_jail_at_each_step() {
    rollback_at_every_step("vpnus");
}

#[test]
fn rollback_ipsec_jail_at_each_step() {
    rollback_at_every_step("ipsec");
}

#[test]
fn rollback_zfs_jail_at_each_step() {
    rollback_at_every_step("laptop");
}

#[test]
fn rollback_when_the_anchor_load_fails_exact_sequence() {
    let mut f = host();
    let mut clean = host();
    create(&mut clean, "ipsec");
    f.fail_at = Some(clean.changes() - 1);
    let site = example();
    let p = build(&site, &target::create("ipsec")).expect("plan");
    let e = execute(&p, &mut f).expect_err("must fail");
    assert_eq!(e.step, p.steps.len());
    let root = "/usr/local/jails/ipsec";
    let tail: Vec<&str> = f
        .log
        .iter()
        .map(String::as_str)
        .skip_while(|l| !l.starts_with("pfctl -a vpnjail/ipsec -f"))
        .collect();
    assert_eq!(
        tail,
        [
            "pfctl -a vpnjail/ipsec -f /etc/pf.vpnjail/ipsec.conf",
            "jail -f /etc/jail.conf.d/ipsec.conf -r ipsec",
            "remove /etc/pf.vpnjail/ipsec.conf",
            &format!("remove {root}/usr/local/etc/strongswan.conf"),
            &format!("remove {root}/usr/local/etc/swanctl/swanctl.conf"),
            &format!("remove {root}/etc/resolv.conf"),
            &format!("remove {root}/etc/rc.conf"),
            "remove /etc/jail.conf.d/ipsec.conf",
            &format!("chflags -R noschg {root}"),
            &format!("rm -rf {root}"),
        ]
    );
}

#[test]
fn rollback_restores_a_file_that_was_there_before() {
    let mut f = host();
    let conf = std::path::PathBuf::from("/etc/jail.conf.d/desk.conf");
    f.state
        .files
        .insert(conf.clone(), (b"old\n".to_vec(), 0o644));
    let mut clean = host();
    create(&mut clean, "desk");
    f.fail_at = Some(clean.changes() - 1); // jail -c
    let site = example();
    let p = build(&site, &target::create("desk")).expect("plan");
    execute(&p, &mut f).expect_err("must fail");
    assert_eq!(
        f.state.files.get(&conf).map(|(c, _)| c.as_slice()),
        Some(&b"old\n"[..])
    );
}

#[test]
fn destroy_failure_restarts_the_jail() {
    let mut f = host();
    create(&mut f, "desk");
    let created = f.state.clone();
    let n = f.changes();
    f.fail_at = Some(n + 1); // after `jail -r`, removing the jail.conf fails
    let site = example();
    let p = build(&site, &target::destroy("desk")).expect("plan");
    let e = execute(&p, &mut f).expect_err("must fail");
    assert!(e.what.contains("remove /etc/jail.conf.d/desk.conf"), "{e}");
    assert_eq!(f.state, created);
}

#[test]
fn pf_and_ipsec_load_sequences() {
    let site = example();
    let mut f = host();
    create(&mut f, "vpnus");
    create(&mut f, "ipsec");
    f.log.clear();
    let p = build(&site, &target::pf_load("alpha")).expect("plan");
    execute(&p, &mut f).unwrap_or_else(|e| panic!("{e}"));
    let runs: Vec<&str> = f
        .log
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("write"))
        .collect();
    assert_eq!(
        runs,
        [
            "pfctl -a vpnjail/nat -f /etc/pf.vpnjail/nat.conf",
            "pfctl -a vpnjail/ipsec -f /etc/pf.vpnjail/ipsec.conf",
            "jls -j vpnus jid",
            "jexec vpnus pfctl -a vpnjail/dns -f /etc/pf.vpnjail/dns.conf",
        ]
    );
    f.log.clear();
    let p = build(&site, &target::ipsec_load("alpha")).expect("plan");
    execute(&p, &mut f).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.log,
        ["jls -j ipsec jid", "jexec ipsec swanctl --load-all"]
    );
    // Without a running ipsec jail, ipsec --load refuses before changing anything.
    let mut g = host();
    let e = execute(&p, &mut g).expect_err("jail not running");
    assert_eq!(e.step, 1);
    assert_eq!(g.log, ["jls -j ipsec jid"]);
}

#[test]
fn every_dry_run_plan_passes_shellcheck() {
    let site = example();
    for t in target::every_jail_and_host(&site) {
        let p = build(&site, &t).expect("plan");
        shellcheck(&p.title, &p.to_shell(), &[]);
    }
}

#[test]
fn dry_run_cli_prints_the_plan_and_real_runs_are_refused_off_freebsd() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vpnjail"))
            .args(args)
            .arg("--site")
            .arg(example_path())
            .output()
            .expect("run vpnjail")
    };
    let out = run(&["create", "vpnus", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let site = example();
    let p = build(&site, &target::create("vpnus")).expect("plan");
    assert_eq!(String::from_utf8_lossy(&out.stdout), p.to_shell());
    let out = run(&["plan", "destroy", "vpnus"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("jail -f /etc/jail.conf.d/vpnus.conf -r vpnus")
    );
    if !cfg!(target_os = "freebsd") {
        let out = run(&["create", "vpnus"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("FreeBSD only"));
    }
}

#[test]
fn rollback_vpndns_jail_at_each_step() {
    rollback_at_every_step("dns");
}

#[test]
fn create_vpndns_jail_installs_the_binary_once() {
    let mut f = host();
    create(&mut f, "dns");
    let bin = std::path::Path::new("/usr/local/jails/dns/usr/local/sbin/vpndns");
    assert_eq!(f.state.files.get(bin).map(|(_, m)| *m), Some(0o555));
    assert!(
        f.log.contains(
            &"install -m 0555 /usr/local/sbin/vpndns /usr/local/jails/dns/usr/local/sbin/vpndns"
                .to_string()
        )
    );
    f.log.clear();
    create(&mut f, "dns");
    assert!(
        !f.log.iter().any(|l| l.starts_with("install")),
        "{:?}",
        f.log
    );
}

#[test]
fn golden_dry_run_plans() {
    let site = example();
    let cases = [
        ("create-vpnus.sh", target::create("vpnus")),
        ("create-ipsec.sh", target::create("ipsec")),
        ("create-dns_b.sh", target::create("dns_b")),
        ("destroy-ipsec.sh", target::destroy("ipsec")),
        ("pf-load-alpha.sh", target::pf_load("alpha")),
        ("ipsec-load-alpha.sh", target::ipsec_load("alpha")),
    ];
    for (name, t) in cases {
        let p = build(&site, &t).expect("plan");
        golden(&std::path::Path::new("plans").join(name), &p.to_shell());
    }
    let p = build(&site, &target::create("vpnus")).expect("plan");
    golden(
        std::path::Path::new("plans/plan-create-vpnus.txt"),
        &p.describe(),
    );
}
