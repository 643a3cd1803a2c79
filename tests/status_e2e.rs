//! `vpnjail status --json` against a live Linux site (issue 16): two hosts
//! built by `vpnjail create --all` in network namespaces, routed through an
//! "internet" namespace, joined by a strongSwan link with BGP over it;
//! alpha also runs vpndns (with its control API) and a vpn jail whose
//! OpenVPN client dials a stand-in provider that pushes its DNS.
//!
//! Once everything is up, status exits 0 with every field true: jails and
//! daemons running, the tunnel up with the pushed DNS, the SA established
//! with bytes both ways, the BGP session established, vpndns's forwarder up.
//! Then vpndns and the OpenVPN client are killed (the tunnel goes with it):
//! status exits 1 with exactly those fields false, the rest still true, and
//! the kill switch's drop counter counting. Without its tools status exits 2.
//!
//! Runs as root with FRR, strongSwan, OpenVPN and openssl; skips with a
//! message otherwise. Names carry a per-run tag; a guard stops every daemon
//! by its pid file and deletes every namespace of the tag, also on failure.
//! Addresses are used only inside the namespaces the test creates.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/openvpn.rs"]
mod openvpn;
#[path = "common/sitefile.rs"]
mod sitefile;

use e2e::{Lab, VPNDNS, VPNJAIL, wait_until_or};
use netns::must;
use serde_json::Value;
use sitefile::{Host, SiteFile, Table};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The provider's OpenVPN server, behind the internet namespace.
const PROVIDER: &str = "10.99.3.2";
/// The resolver the provider pushes.
const PUSHED_DNS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);
/// IKE, BGP's first session and OpenVPN's handshake, on a loaded 2-core machine.
const UP_BOUND: Duration = Duration::from_secs(40);
const DOWN_BOUND: Duration = Duration::from_secs(10);

fn skip_reason() -> Option<String> {
    netns::skip_reason()
        .or_else(e2e::skip_reason_strongswan)
        .or_else(|| {
            (!openvpn::available())
                .then(|| "openvpn or openssl is missing (.ci/run installs them)".into())
        })
}

fn site(tag: &str, dir: &Path) -> String {
    std::fs::write(dir.join("alpha-beta.psk"), "status-e2e-psk-0123456789abc\n").expect("psk");
    SiteFile::new(tag)
        .set("routing", "bgp")
        .host(
            Host::linux(tag, "alpha", dir, "10.99.1.2", 1)
                .set("vpndns_bin", VPNDNS)
                .set("vpnjail_bin", VPNJAIL)
                .jail(Table::jail("ipsec", "ipsec", "10.10.1.4"))
                .jail(Table::jail("dns", "vpndns", "10.10.1.53"))
                .jail(Table::jail("vpna", "vpn", "10.10.1.2").set("openvpn", "a.ovpn"))
                .jail(Table::jail("svca", "service", "10.10.1.30").set("via", "vpna")),
        )
        .host(
            Host::linux(tag, "beta", dir, "10.99.2.2", 2).jail(Table::jail(
                "ipsec_b",
                "ipsec",
                "10.10.2.4",
            )),
        )
        .link(Table::swanctl_link("alpha", "beta", 100).set("psk_file", "alpha-beta.psk"))
        .dns(Table::new().set("control", "127.0.0.1:8053"))
        .to_string()
}

fn inet_ns(lab: &Lab) -> String {
    lab.own_ns("vji", "net")
}

fn provider_ns(lab: &Lab) -> String {
    lab.own_ns("vjp", "a")
}

/// `vpnjail status --json` (with `path` as PATH when given): its exit
/// status and document.
fn status(lab: &Lab, path: Option<&str>) -> (i32, Value) {
    status_as(lab, Command::new(VPNJAIL), path)
}

/// The same, run by `c` (`setpriv ... vpnjail`, to drop root).
fn status_as(lab: &Lab, mut c: Command, path: Option<&str>) -> (i32, Value) {
    c.args(["status", "--json", "--site"]).arg(&lab.site);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let out = c.output().expect("vpnjail status runs");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json is not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// The internet namespace routing between the two hosts and the provider.
fn wan(lab: &mut Lab) {
    let (ha, hb, i, p) = (
        lab.host_ns("alpha"),
        lab.host_ns("beta"),
        inet_ns(lab),
        provider_ns(lab),
    );
    for n in [&ha, &hb, &i, &p] {
        lab.add_netns(n);
    }
    netns::veth(&ha, "wan0", "10.99.1.2/24", &i, "i0", "10.99.1.1/24");
    netns::veth(&hb, "wan0", "10.99.2.2/24", &i, "i1", "10.99.2.1/24");
    netns::veth(
        &p,
        "up0",
        &format!("{PROVIDER}/24"),
        &i,
        "pa",
        "10.99.3.1/24",
    );
    for (n, gw) in [(&ha, "10.99.1.1"), (&hb, "10.99.2.1"), (&p, "10.99.3.1")] {
        must("ip", &["-n", n, "route", "add", "default", "via", gw]);
    }
    e2e::ns_must(&i, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
    let d = format!("{PUSHED_DNS}/32");
    must("ip", &["-n", &p, "addr", "add", &d, "dev", "lo"]);
}

/// Polls `status --json` until `done` holds for it; the last document.
#[track_caller]
fn wait_status(
    lab: &Lab,
    what: &str,
    bound: Duration,
    done: impl Fn(i32, &Value) -> bool,
) -> Value {
    let last = std::cell::RefCell::new(Value::Null);
    wait_until_or(
        what,
        bound,
        || {
            let (code, doc) = status(lab, None);
            let ok = done(code, &doc);
            *last.borrow_mut() = doc;
            ok
        },
        || lab.vpnjail(&["status"]).unwrap_or_else(|e| e),
    );
    last.into_inner()
}

fn host<'v>(doc: &'v Value, name: &str) -> &'v Value {
    doc["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["name"] == name))
        .unwrap_or_else(|| panic!("no host {name} in {doc:#}"))
}

fn jail<'v>(doc: &'v Value, h: &str, name: &str) -> &'v Value {
    host(doc, h)["jails"]
        .as_array()
        .and_then(|j| j.iter().find(|j| j["name"] == name))
        .unwrap_or_else(|| panic!("no jail {h}/{name} in {doc:#}"))
}

fn process(j: &Value, name: &str) -> bool {
    j["processes"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no process {name} in {j:#}"))["running"]
        .as_bool()
        .expect("running is a bool")
}

/// The packets of the vpn jail's kill-switch counter `name`.
fn counter(j: &Value, name: &str) -> u64 {
    j["vpn"]["counters"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .and_then(|c| c["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter {name} in {j:#}"))
}

/// The link and the BGP session still up, both ways: what killing a vpn
/// jail's client and vpndns must not touch.
fn assert_link_and_bgp_up(doc: &Value) {
    for (h, j, peer) in [("alpha", "ipsec", "beta"), ("beta", "ipsec_b", "alpha")] {
        let ipsec = jail(doc, h, j);
        assert_eq!(ipsec["up"], true, "{ipsec:#}");
        assert!(
            process(ipsec, "charon") && process(ipsec, "bgpd"),
            "{ipsec:#}"
        );
        let l = &ipsec["ipsec"]["links"][0];
        assert_eq!(
            (&l["peer"], &l["sa"], &l["up"]),
            (
                &Value::from(peer),
                &Value::from("ESTABLISHED"),
                &Value::from(true)
            ),
            "{l:#}"
        );
        assert!(
            l["bytes_in"].as_u64() > Some(0) && l["bytes_out"].as_u64() > Some(0),
            "BGP's packets crossed the SA both ways: {l:#}"
        );
        let b = &ipsec["ipsec"]["bgp"][0];
        assert_eq!(
            (&b["state"], &b["up"]),
            (&Value::from("Established"), &Value::from(true)),
            "{b:#}"
        );
    }
    assert_eq!(host(doc, "beta")["up"], true);
}

#[test]
fn status_json_exits_0_all_up_and_1_naming_a_dead_client_and_vpndns() {
    skip_if!("status_e2e", skip_reason());
    let started = Instant::now();
    let mut lab = Lab::new('s', site);
    // FRR runs as user frr and reads its files under the jails' directories.
    lab.readable_by_frr();
    wan(&mut lab);
    openvpn::pki(lab.path());
    lab.file("a.ovpn", &openvpn::client_ovpn(lab.path(), PROVIDER));
    let pid = openvpn::start_server(&provider_ns(&lab), lab.path(), PROVIDER, PUSHED_DNS);
    lab.daemons.push(pid);

    // Before create: nothing runs, and status says so with exit 1.
    let (code, doc) = status(&lab, None);
    assert_eq!((code, &doc["up"]), (1, &Value::from(false)), "{doc:#}");
    assert_eq!(jail(&doc, "alpha", "vpna")["running"], false);

    lab.create_all();
    // Exit 0, and the counters of the fresh SAs have seen BGP's packets.
    let up = wait_status(&lab, "everything up (exit 0)", UP_BOUND, |code, d| {
        code == 0
            && [("alpha", "ipsec"), ("beta", "ipsec_b")]
                .iter()
                .all(|(h, j)| {
                    let l = &jail(d, h, j)["ipsec"]["links"][0];
                    l["bytes_in"].as_u64() > Some(0) && l["bytes_out"].as_u64() > Some(0)
                })
    });
    eprintln!("status_e2e: up since the start: {:.1?}", started.elapsed());
    assert_eq!(
        (&up["schema"], &up["up"]),
        (&Value::from(1), &Value::from(true))
    );
    assert_eq!(up["could_not_look"], Value::Array(vec![]));
    for h in ["alpha", "beta"] {
        let hs = host(&up, h);
        assert_eq!(
            (&hs["up"], &hs["bridge_up"]),
            (&Value::from(true), &Value::from(true)),
            "{hs:#}"
        );
        for j in hs["jails"].as_array().expect("jails") {
            assert_eq!(
                (&j["running"], &j["up"]),
                (&Value::from(true), &Value::from(true)),
                "{j:#}"
            );
        }
    }
    let vpna = jail(&up, "alpha", "vpna");
    assert!(process(vpna, "openvpn"));
    let v = &vpna["vpn"];
    assert_eq!(v["tunnel_up"], true);
    assert_eq!(
        (&v["dns"], &v["dns_source"]),
        (
            &Value::from(vec![PUSHED_DNS.to_string()]),
            &Value::from("pushed")
        ),
        "the DNS tunnel-up recorded: {v:#}"
    );
    let dns = jail(&up, "alpha", "dns");
    assert!(process(dns, "vpndns"));
    assert_eq!(dns["vpndns"]["control"], "127.0.0.1:8053");
    let f = &dns["vpndns"]["forwarders"][0];
    assert_eq!(
        (&f["name"], &f["address"], &f["up"]),
        (
            &Value::from("vpna"),
            &Value::from("10.10.1.2:53"),
            &Value::from(true)
        ),
        "{dns:#}"
    );
    assert_link_and_bgp_up(&up);
    let table = lab.vpnjail(&["status"]).expect("status table exits 0");
    assert!(
        table.starts_with("site ")
            && table.contains("5 of 5 jails up")
            && table.contains(&format!("DNS {PUSHED_DNS} (pushed)")),
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour off a terminal");

    // Kill vpndns and vpna's OpenVPN client outright: the tunnel goes too.
    for (j, d) in [("dns", "vpndns"), ("vpna", "openvpn")] {
        e2e::kill_pidfile(&lab.jail_file("alpha", j, &format!("{d}.pid")));
    }
    let dropped = counter(vpna, "vpnjail_killswitch/forward_dropped");
    let down = wait_status(
        &lab,
        "tunnel and vpndns down (exit 1)",
        DOWN_BOUND,
        |code, d| code == 1 && jail(d, "alpha", "vpna")["vpn"]["tunnel_up"] == false,
    );
    assert_eq!(down["up"], false);
    assert_eq!(host(&down, "alpha")["up"], false);
    let vpna = jail(&down, "alpha", "vpna");
    assert_eq!(
        (&vpna["running"], &vpna["up"]),
        (&Value::from(true), &Value::from(false))
    );
    assert!(!process(vpna, "openvpn"), "{vpna:#}");
    let dns = jail(&down, "alpha", "dns");
    assert_eq!(
        (&dns["running"], &dns["up"]),
        (&Value::from(true), &Value::from(false))
    );
    assert!(!process(dns, "vpndns"), "{dns:#}");
    assert!(
        dns["vpndns"]["error"].is_string(),
        "GET /status failed: {dns:#}"
    );
    assert_eq!(jail(&down, "alpha", "svca")["up"], true);
    assert_link_and_bgp_up(&down);

    // beta alone is all up: `--host beta` exits 0 while alpha is down.
    let o = Command::new(VPNJAIL)
        .args(["status", "--json", "--host", "beta", "--site"])
        .arg(&lab.site)
        .output()
        .expect("status --host");
    let beta: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(o.status.code(), Some(0), "{beta:#}");
    assert_eq!(beta["hosts"].as_array().map(Vec::len), Some(1));

    // svca's traffic now dies in the kill switch, and status counts it.
    let svca = lab.ns("alpha", "svca");
    e2e::in_ns(&svca, || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
        for _ in 0..5 {
            let _ = s.send_to(b"leak?", ("198.51.100.1", 7));
        }
    });
    let after = wait_status(&lab, "the drops counted", DOWN_BOUND, |_, d| {
        counter(
            jail(d, "alpha", "vpna"),
            "vpnjail_killswitch/forward_dropped",
        ) >= dropped + 5
    });
    assert_eq!(jail(&after, "alpha", "vpna")["vpn"]["dns_source"], "pushed");

    // Without its tools status cannot look: exit 2, saying what it missed.
    let empty = lab.path().join("no-tools");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (code, blind) = status(&lab, Some(&empty.display().to_string()));
    assert_eq!(code, 2, "{blind:#}");
    assert!(!blind["could_not_look"].as_array().expect("list").is_empty());
    // Nor without root (user nobody): exit 2, not a table of "down".
    if netns::ok("setpriv", &["--version"]) {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", VPNJAIL]);
        let (code, doc) = status_as(&lab, c, None);
        assert_eq!(code, 2, "{doc:#}");
        assert!(
            doc["could_not_look"][0]
                .as_str()
                .is_some_and(|m| m.starts_with("not root")),
            "{doc:#}"
        );
    }
    eprintln!("status_e2e: whole test {:.1?}", started.elapsed());
}
