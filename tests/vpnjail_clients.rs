//! Road warriors without root (issue 12): the site checks of `[[client]]` and
//! `client_pool` with file:line, `vpnjail pki` issuing only what is missing
//! and never overwriting a key, golden files of the FreeBSD responder
//! (swanctl.conf, rc.conf routes, the ipsec jail's pf anchor) held to the
//! jail.conf/pf checkers, the Linux plan, and the exported profiles parsed as
//! a phone would (JSON, plist with Python's plistlib, PKCS#12 with openssl).

mod vpnjail_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use vpndns::deploy::{check, lint, pki, render};
use vpnjail_support::*;

const VPNJAIL: &str = env!("CARGO_BIN_EXE_vpnjail");

/// examples/roadwarriors.toml in a temp dir, edited, with its PKI issued.
fn site_with_pki(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("examples/roadwarriors.toml")).expect("example");
    let p = dir.path().join("site.toml");
    std::fs::write(&p, edit(text)).expect("write");
    let s = check::load_without_pki(&p).unwrap_or_else(|e| panic!("{e}"));
    pki::ensure(&s).expect("pki");
    (dir, p)
}

fn problems(p: &Path) -> String {
    match check::load(p) {
        Ok(_) => panic!("{} was accepted", p.display()),
        Err(e) => e.to_string(),
    }
}

fn vpnjail(args: &[&str]) -> Result<String, String> {
    let o = Command::new(VPNJAIL).args(args).output().expect("vpnjail");
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn the_example_passes_check_once_its_pki_exists() {
    let (_d, p) = site_with_pki(|t| t);
    let s = check::load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.clients.len(), 2);
    assert_eq!(s.road_warriors_via("vpnus").len(), 1);
}

#[test]
fn bad_clients_are_named_with_their_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "address = \"10.30.0.6\"",
            "address = \"10.40.0.6\"",
            "client[laptop].address",
            "is not a host address of \"alpha\"'s client_pool 10.30.0.0/24",
        ),
        (
            "address = \"10.30.0.6\"",
            "address = \"10.30.0.5\"",
            "client[laptop].address",
            "already the address of client \"phone\"",
        ),
        (
            "exit = \"vpnus\"",
            "exit = \"dns\"",
            "client[phone].exit",
            "\"dns\" is not a vpn jail on host \"alpha\"",
        ),
        (
            "client_pool = \"10.30.0.0/24\"",
            "client_pool = \"10.10.2.0/25\"",
            "host[alpha].client_pool",
            "overlaps 10.10.2.0/24, the bridge network of host \"beta\"",
        ),
        (
            "name = \"laptop\"",
            "name = \"lap-top\"",
            "client.name",
            "letters, digits and '_'",
        ),
    ];
    for (from, to, key, msg) in cases {
        let (_d, p) = site_with_pki(|t| t);
        let text = std::fs::read_to_string(&p)
            .expect("site")
            .replacen(from, to, 1);
        std::fs::write(&p, &text).expect("edit");
        let line = text
            .lines()
            .collect::<Vec<_>>()
            .iter()
            .rposition(|l| l.contains(to))
            .expect("edited line")
            + 1;
        let e = problems(&p);
        let want = format!("{}:{line}: {key}: ", p.display());
        assert!(
            e.contains(&want) && e.contains(msg),
            "{to}: wanted {want}…{msg}, got:\n{e}"
        );
    }
}

#[test]
fn a_missing_pki_is_an_error_naming_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("site.toml");
    std::fs::copy(root().join("examples/roadwarriors.toml"), &p).expect("copy");
    let e = problems(&p);
    assert!(
        e.contains("missing PKI: cannot read") && e.contains("run vpnjail pki --site"),
        "{e}"
    );
    let text = std::fs::read_to_string(&p).expect("site");
    let line = text
        .lines()
        .position(|l| l == "name = \"alpha\"")
        .expect("alpha")
        + 1;
    assert!(
        e.contains(&format!(":{line}: host[alpha]: ")) && e.contains("hosts/alpha.crt"),
        "{e}"
    );
    assert!(e.contains("clients/phone.crt"), "{e}");
    // The CLI says the same and fails.
    assert!(vpnjail(&["check", &p.display().to_string()]).is_err());
}

#[test]
fn pki_issues_only_what_is_missing_and_never_overwrites_a_key() {
    let (d, p) = site_with_pki(|t| t);
    let paths = pki::Paths::beside(&p);
    let key = paths.client_key("phone");
    let before = std::fs::read(&key).expect("key");
    for k in [
        paths.ca_key(),
        paths.host_key("alpha"),
        paths.host_key("beta"),
        key.clone(),
    ] {
        let mode = std::fs::metadata(&k).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", k.display());
    }
    // Again: nothing is created, nothing changes.
    let out = vpnjail(&["pki", "--site", &p.display().to_string()]).expect("pki again");
    assert!(out.contains("nothing to issue"), "{out}");
    assert_eq!(std::fs::read(&key).expect("key"), before);
    // A new client gets its own certificate only.
    let text = std::fs::read_to_string(&p).expect("site")
        + "\n[[client]]\nname = \"tablet\"\nhost = \"alpha\"\naddress = \"10.30.0.9\"\n";
    std::fs::write(&p, text).expect("site");
    let out = vpnjail(&["pki", "--site", &p.display().to_string()]).expect("pki new client");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("clients/tablet.key") && out.contains("clients/tablet.crt"),
        "{out}"
    );
    // A key whose certificate is gone is refused, and kept as it was.
    std::fs::remove_file(paths.client_cert("phone")).expect("rm cert");
    let e = vpnjail(&["pki", "--site", &p.display().to_string()]).expect_err("refused");
    assert!(e.contains("never overwritten"), "{e}");
    assert_eq!(std::fs::read(&key).expect("key"), before);
    drop(d);
}

/// The certificates of the rendered tree differ per run: every other file
/// of the road-warrior jails and the host is golden.
#[test]
fn freebsd_responder_golden_files_and_checkers() {
    let (d, p) = site_with_pki(|t| t);
    let s = check::load(&p).unwrap_or_else(|e| panic!("{e}"));
    for h in ["alpha", "beta"] {
        let (files, bad) = lint::host(&s, h).expect("render");
        assert!(bad.is_empty(), "{bad:?}");
        for f in &files {
            let path = f.path.display().to_string();
            if path.contains("/swanctl/x509") || path.contains("/swanctl/private/") {
                assert!(f.content.starts_with("-----BEGIN"), "{path}");
                let want = if path.contains("/private/") {
                    0o600
                } else {
                    0o644
                };
                assert_eq!(f.mode, want, "{path}");
                continue;
            }
            let keep = path.contains("swanctl.conf")
                || path.ends_with("rc.conf")
                || path.ends_with("rc.conf.vpnjail")
                || path.contains("pf")
                || path.ends_with("vpndns.toml");
            if keep {
                let rel = Path::new("clients")
                    .join(h)
                    .join(path.trim_start_matches('/'));
                golden(&rel, &f.content);
            }
        }
    }
    drop(d);
}

/// The example with host alpha on Linux.
fn linux_alpha(t: String) -> String {
    t.replacen(
        "external_if = \"vtnet0\"",
        "external_if = \"vtnet0\"\nplatform = \"linux\"\nnetns = \"vjh-ex-alpha\"",
        1,
    )
    .replace(
        "jail_root = \"/usr/local/jails\"\nbase = \"/usr/freebsd-dist/base.txz\"",
        "jail_root = \"/var/lib/vpnjail\"",
    )
}

#[test]
fn linux_plan_of_the_ipsec_namespace() {
    let (d, p) = site_with_pki(linux_alpha);
    let out = vpnjail(&[
        "plan",
        "create",
        "ipsec",
        "--site",
        &p.display().to_string(),
    ])
    .expect("plan");
    let out = out.replace(&d.path().display().to_string(), "<dir>");
    golden(Path::new("clients/linux-plan-create-ipsec.txt"), &out);
}

/// The exit namespace of a road warrior admits it through its kill switch
/// and translates it out of the tunnel (the provider cannot answer a pool
/// address; roadwarrior_e2e runs this for real).
#[test]
fn linux_exit_admits_and_translates_its_road_warrior() {
    let (d, p) = site_with_pki(linux_alpha);
    let s = check::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let files = render::host(&s, "alpha").expect("render");
    for name in ["nft.conf", "killswitch.nft"] {
        let f = files
            .iter()
            .find(|f| f.path.ends_with(Path::new("vpnus").join(name)))
            .unwrap_or_else(|| panic!("vpnus/{name} rendered"));
        golden(&Path::new("clients/linux-vpnus").join(name), &f.content);
    }
    drop(d);
}

#[test]
fn profiles_parse_as_phones_read_them() {
    let (d, p) = site_with_pki(|t| t);
    let site = p.display().to_string();
    let pw = d.path().join("pw");
    std::fs::write(&pw, "correct-horse-battery\n").expect("pw");
    let pws = pw.display().to_string();
    // swanctl: a directory; the key owner-only.
    let sw = d.path().join("laptop-swanctl");
    vpnjail(&[
        "client",
        "laptop",
        "--site",
        &site,
        "--format",
        "swanctl",
        "--out",
        &sw.display().to_string(),
    ])
    .expect("swanctl");
    let conf = std::fs::read_to_string(sw.join("swanctl.conf")).expect("conf");
    assert!(
        conf.contains("remote_ts = 10.10.1.0/24, 10.10.2.0/24"),
        "{conf}"
    );
    assert!(
        conf.contains("id = laptop@vpncore") && conf.contains("remote_addrs = 192.0.2.10"),
        "{conf}"
    );
    let mode = std::fs::metadata(sw.join("private/laptop.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // sswan: JSON with the fields the Android app reads.
    let ss = d.path().join("phone.sswan");
    vpnjail(&[
        "client",
        "phone",
        "--site",
        &site,
        "--format",
        "sswan",
        "--out",
        &ss.display().to_string(),
        "--password-file",
        &pws,
    ])
    .expect("sswan");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ss).expect("sswan")).expect("json");
    assert_eq!(v["type"], "ikev2-cert");
    assert_eq!(v["remote"]["addr"], "192.0.2.10");
    assert_eq!(v["remote"]["id"], "alpha");
    assert_eq!(v["local"]["id"], "phone@vpncore");
    for k in ["uuid", "name", "ike-proposal", "esp-proposal"] {
        assert!(v[k].is_string(), "{k}: {v}");
    }
    assert!(
        v["remote"]["cert"].is_string() && v["split-tunneling"].is_object(),
        "{v}"
    );
    use base64::Engine;
    let p12 = base64::engine::general_purpose::STANDARD
        .decode(v["local"]["p12"].as_str().expect("p12"))
        .expect("base64");
    let p12f = d.path().join("phone.p12");
    std::fs::write(&p12f, &p12).expect("p12");
    let info = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            &p12f.display().to_string(),
            "-info",
            "-noout",
            "-passin",
            &format!("file:{pws}"),
        ])
        .output()
        .expect("openssl");
    let text =
        String::from_utf8_lossy(&info.stderr).into_owned() + &String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    assert!(text.contains("MAC: sha1"), "{text}");
    assert!(text.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{text}");
    let wrong = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            &p12f.display().to_string(),
            "-noout",
            "-passin",
            "pass:wrong-password",
        ])
        .output()
        .expect("openssl");
    assert!(!wrong.status.success(), "a wrong password must not open it");
    // mobileconfig: a plist with the CA, the PKCS#12 and the IKEv2 payload.
    let mc = d.path().join("phone.mobileconfig");
    let out = vpnjail(&[
        "client",
        "phone",
        "--site",
        &site,
        "--format",
        "mobileconfig",
        "--out",
        &mc.display().to_string(),
    ])
    .expect("mobileconfig");
    assert!(out.contains("PKCS#12 password (shown once"), "{out}");
    let py = r#"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], 'rb'))
assert p['PayloadType'] == 'Configuration'
t = {c['PayloadType']: c for c in p['PayloadContent']}
assert set(t) == {'com.apple.security.root', 'com.apple.security.pkcs12', 'com.apple.vpn.managed'}, t.keys()
v = t['com.apple.vpn.managed']
assert v['VPNType'] == 'IKEv2'
i = v['IKEv2']
assert i['AuthenticationMethod'] == 'Certificate' and i['CertificateType'] == 'ECDSA256'
assert i['RemoteAddress'] == '192.0.2.10' and i['RemoteIdentifier'] == 'alpha'
assert i['LocalIdentifier'] == 'phone@vpncore'
assert i['PayloadCertificateUUID'] == t['com.apple.security.pkcs12']['PayloadUUID']
assert len(t['com.apple.security.pkcs12']['PayloadContent']) > 500
assert len(t['com.apple.security.root']['PayloadContent']) > 200
print('ok')
"#;
    let o = Command::new("python3")
        .args(["-c", py, &mc.display().to_string()])
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Never overwritten.
    assert!(
        vpnjail(&[
            "client",
            "phone",
            "--site",
            &site,
            "--format",
            "mobileconfig",
            "--out",
            &mc.display().to_string()
        ])
        .is_err()
    );
}

#[test]
fn revoking_writes_a_crl_naming_the_certificate() {
    let (d, p) = site_with_pki(|t| t);
    let site = p.display().to_string();
    let out =
        vpnjail(&["client", "revoke", "laptop", "--site", &site, "--no-load"]).expect("revoke");
    assert!(out.contains("revoked laptop"), "{out}");
    let paths = pki::Paths::beside(&p);
    let serial = Command::new("openssl")
        .args([
            "x509",
            "-in",
            &paths.client_cert("laptop").display().to_string(),
            "-noout",
            "-serial",
        ])
        .output()
        .expect("openssl");
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    let crl = Command::new("openssl")
        .args([
            "crl",
            "-in",
            &paths.crl().display().to_string(),
            "-noout",
            "-text",
        ])
        .output()
        .expect("openssl");
    let crl = String::from_utf8_lossy(&crl.stdout).to_string();
    assert!(crl.contains(&serial), "{serial} in\n{crl}");
    // The CRL verifies against the CA.
    let v = Command::new("openssl")
        .args([
            "crl",
            "-in",
            &paths.crl().display().to_string(),
            "-CAfile",
            &paths.ca_cert().display().to_string(),
            "-noout",
        ])
        .output()
        .expect("openssl");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // Twice is once; an unknown client is an error.
    vpnjail(&["client", "revoke", "laptop", "--site", &site, "--no-load"]).expect("again");
    assert_eq!(
        std::fs::read_to_string(paths.revoked())
            .expect("list")
            .lines()
            .count(),
        1
    );
    assert!(vpnjail(&["client", "revoke", "nobody", "--site", &site, "--no-load"]).is_err());
    drop(d);
}

/// With `routing = "bgp"` each host's ipsec jail advertises its pool
/// (frr.conf `network POOL`), has the route FRR's import check needs
/// (rc.conf `route_rw_pool`), and FRR's own parser accepts the result
/// (`vtysh --dryrun`, where FRR is installed). roadwarrior_e2e runs it.
#[test]
fn bgp_advertises_the_pool() {
    let (d, p) = site_with_pki(|t| t.replacen("[site]\n", "[site]\nrouting = \"bgp\"\n", 1));
    let s = check::load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.bgp);
    let (files, bad) = lint::host(&s, "alpha").expect("render");
    assert!(bad.is_empty(), "{bad:?}");
    let mut confs = Vec::new();
    for f in &files {
        let path = f.path.display().to_string();
        if path.ends_with("jails/ipsec/usr/local/etc/frr/frr.conf")
            || path.ends_with("jails/ipsec/etc/rc.conf")
        {
            golden(
                &Path::new("clients-bgp/alpha").join(path.trim_start_matches('/')),
                &f.content,
            );
        }
        if path.ends_with("frr.conf") {
            confs.push(f.content.clone());
        }
    }
    assert_eq!(confs.len(), 1, "one frr.conf");
    assert!(
        confs[0].contains("\n  network 10.30.0.0/24\n"),
        "{}",
        confs[0]
    );
    // Linux: the pool's route into kernel-libipsec's TUN, after charon.
    let (ld, lp) =
        site_with_pki(|t| linux_alpha(t).replacen("[site]\n", "[site]\nrouting = \"bgp\"\n", 1));
    let plan = vpnjail(&[
        "plan",
        "create",
        "ipsec",
        "--site",
        &lp.display().to_string(),
    ])
    .expect("plan");
    let (charon, route) = (
        plan.find("start charon"),
        plan.find("route replace 10.30.0.0/24 dev ipsec0"),
    );
    assert!(
        charon.is_some() && route > charon,
        "the pool routed into ipsec0 after charon starts:\n{plan}"
    );
    drop(ld);
    let vtysh = Path::new("/usr/bin/vtysh");
    if !vtysh.exists() {
        eprintln!("SKIP the vtysh --dryrun part: no /usr/bin/vtysh (apt-get install frr)");
        return;
    }
    let conf = d.path().join("alpha-frr.conf");
    std::fs::write(&conf, &confs[0]).expect("write");
    let out = std::process::Command::new(vtysh)
        .arg("--dryrun")
        .arg("-f")
        .arg(&conf)
        .output()
        .expect("run vtysh");
    assert!(
        out.status.success(),
        "vtysh --dryrun: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
