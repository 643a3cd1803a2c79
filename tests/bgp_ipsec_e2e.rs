//! BGP over a real strongSwan link on Linux (issue 8, test 1's "one link also
//! with strongSwan"): two hosts built by `vpnjail create --all` from a site
//! with `routing = "bgp"`, each host a network namespace joined by a "WAN"
//! veth pair, each ipsec namespace running charon (kernel-libipsec) and FRR
//! exactly as the plan starts them. The BGP session runs between the link's
//! inner addresses on ipsec0, inside ESP; the bridge networks are learned by
//! BGP (not configured), and a laptop on beta reaches alpha's ipsec jail over
//! the tunnel. The WAN is then cut silently: the hold time withdraws the
//! route; restored, the session and the route come back.
//!
//! Runs as root with FRR and strongSwan installed; skips with a message
//! otherwise. Names carry a per-run tag; a guard destroys everything on drop,
//! also when the test fails. Addresses are used only inside the namespaces
//! the test creates.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/sitefile.rs"]
mod sitefile;

use e2e::{Lab, UdpServer, wait_until, wait_until_or};
use netns::{must, sh};
use sitefile::{Host, SiteFile, Table};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

const ECHO_PORT: u16 = 7;
const ALPHA_IPSEC: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 4);
const LAPTOP: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 77);

/// IKE, then BGP's first session and update, on a loaded 2-core machine.
const UP_BOUND: Duration = Duration::from_secs(40);
/// Hold time 3 s (docs/bgp.md), plus margin.
const SILENT_BOUND: Duration = Duration::from_secs(6);
/// The SA is still up (DPD 30 s); BGP reconnects every second.
const BACK_BOUND: Duration = Duration::from_secs(15);

fn site(tag: &str, dir: &Path) -> String {
    std::fs::write(
        dir.join("alpha-beta.psk"),
        "bgp-ipsec-test-psk-0123456789\n",
    )
    .expect("psk");
    SiteFile::new(tag)
        .set("routing", "bgp")
        .host(
            Host::linux(tag, "alpha", dir, "10.99.0.1", 1).jail(Table::jail(
                "ipsec",
                "ipsec",
                &ALPHA_IPSEC.to_string(),
            )),
        )
        .host(
            Host::linux(tag, "beta", dir, "10.99.0.2", 2)
                .jail(Table::jail("ipsec_b", "ipsec", "10.10.2.4"))
                .jail(Table::jail("laptop", "service", &LAPTOP.to_string())),
        )
        .link(
            Table::swanctl_link("alpha", "beta", 100)
                .set("inner", ["172.16.0.1", "172.16.0.2"])
                .set("psk_file", "alpha-beta.psk"),
        )
        .to_string()
}

/// One UDP round trip from the laptop to alpha's ipsec jail.
fn round_trip(ns: &str) -> bool {
    e2e::udp_echo(
        ns,
        Some(LAPTOP),
        SocketAddr::from((ALPHA_IPSEC, ECHO_PORT)),
        Duration::from_millis(300),
    )
}

/// beta's ipsec namespace's route to alpha's bridge network, as `ip` shows it.
fn route_to_alpha(t: &Lab) -> String {
    must(
        "ip",
        &[
            "-n",
            &t.ns("beta", "ipsec_b"),
            "route",
            "show",
            "10.10.1.0/24",
        ],
    )
}

/// beta's ipsec namespace's routes, rules and addresses, and bgpd's log:
/// what explains a missing route.
fn routing_state(t: &Lab) -> String {
    let ns = t.ns("beta", "ipsec_b");
    let mut out = String::new();
    for a in [
        &["route", "show", "table", "all"][..],
        &["rule"][..],
        &["addr"][..],
    ] {
        let mut v = vec!["-n", ns.as_str()];
        v.extend_from_slice(a);
        out += &sh("ip", &v).unwrap_or_else(|e| e);
    }
    out + &std::fs::read_to_string(t.jail_file("beta", "ipsec_b", "bgpd.log")).unwrap_or_default()
}

/// ESP bytes counted by charon in beta's ipsec namespace (both directions).
fn esp_bytes(t: &Lab) -> u64 {
    let conf = t.jail_file("beta", "ipsec_b", "strongswan.conf");
    let env = format!("STRONGSWAN_CONF={}", conf.display());
    e2e::ns_exec(
        &t.ns("beta", "ipsec_b"),
        "env",
        &[&env, "swanctl", "--list-sas"],
    )
    .unwrap_or_default()
    .lines()
    .filter(|l| l.trim_start().starts_with("in ") || l.trim_start().starts_with("out "))
    .filter_map(|l| {
        l.split("bytes,")
            .next()?
            .split_whitespace()
            .last()?
            .parse::<u64>()
            .ok()
    })
    .sum()
}

#[test]
fn bgp_over_a_strongswan_link_learns_withdraws_and_restores_the_route() {
    skip_if!(
        "bgp_ipsec_e2e",
        netns::skip_reason().or_else(e2e::skip_reason_strongswan)
    );
    let mut t = Lab::new('g', site);
    // FRR runs as user frr and reads its files under the jails' directories.
    t.readable_by_frr();
    let (ha, hb) = (t.host_ns("alpha"), t.host_ns("beta"));
    t.add_netns(&ha);
    t.add_netns(&hb);
    netns::veth(&ha, "wan0", "10.99.0.1/24", &hb, "wan0", "10.99.0.2/24");
    let started = Instant::now();
    t.create_all();
    // The generated configuration is what makes this work: no static route
    // between the bridge networks in the ipsec namespaces, and charon's own
    // routes off.
    let sw =
        std::fs::read_to_string(t.jail_file("alpha", "ipsec", "strongswan.conf")).expect("conf");
    assert!(sw.contains("install_routes = no"), "{sw}");

    // An echo responder on alpha's ipsec jail address.
    let _echo = UdpServer::echo(
        &t.ns("alpha", "ipsec"),
        SocketAddr::from((ALPHA_IPSEC, ECHO_PORT)),
    );
    let laptop = t.ns("beta", "laptop");
    wait_until(
        "IKE up, BGP route learned, laptop on beta reaches alpha",
        UP_BOUND,
        || round_trip(&laptop),
    );
    eprintln!("bgp_ipsec_e2e: since create: {:.1?}", started.elapsed());
    let r = route_to_alpha(&t);
    assert!(
        r.contains("proto bgp") && r.contains("via 172.16.0.1") && r.contains("ipsec0"),
        "alpha's network is a BGP route over the tunnel: {r:?}\n{}",
        routing_state(&t)
    );
    let before = esp_bytes(&t);
    assert!(round_trip(&laptop));
    assert!(
        esp_bytes(&t) > before,
        "the round trip crossed ESP ({before} bytes before)"
    );

    // The WAN stops carrying packets (interfaces stay up): the BGP hold time
    // ends the session and the route is withdrawn.
    e2e::nft_load(
        &hb,
        t.path(),
        "cut.nft",
        "table ip cut {\n chain wan { type filter hook prerouting priority raw; iifname \"wan0\" drop; }\n}\n",
    );
    wait_until_or(
        "silent WAN: BGP route withdrawn",
        SILENT_BOUND,
        || !route_to_alpha(&t).contains("proto bgp"),
        || routing_state(&t),
    );
    assert!(!round_trip(&laptop), "no path while the only link is dead");

    e2e::ns_must(&hb, "nft", &["delete", "table", "ip", "cut"]);
    wait_until_or(
        "WAN back: session and route restored",
        BACK_BOUND,
        || route_to_alpha(&t).contains("proto bgp") && round_trip(&laptop),
        || routing_state(&t),
    );
}
