//! The seed's DNS path (steps 1–11) with real packets, in Linux network
//! namespaces built by `vpnjail create --all` from a site file with
//! `platform = "linux"`. Runs as root; skips with a message otherwise.
//!
//! Each test has its own site name (a run tag), so every namespace it makes
//! carries the tag and parallel tests or runs cannot collide. A guard destroys
//! everything on drop, also when the test fails. Addresses are used only inside
//! the namespaces the test creates.
//!
//! The VPN tunnel of a vpn namespace is stood in for by a veth pair named
//! `tun0` into a "provider" namespace, where a DNS responder (in this file)
//! answers every A question with an address unique to that provider. A remote
//! client routed through a vpn namespace (the seed's GRE client) is a namespace
//! joined to it by another veth pair.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/sitefile.rs"]
mod sitefile;

use e2e::dns::{self, Reply};
use e2e::{Lab, UdpServer, VPNDNS, wait_for};
use netns::{must, sh};
use sitefile::{Host, Raw, SiteFile, Table};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

/// Answers unique to each provider (data in DNS answers, never configured).
const ANSWER_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ANSWER_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VPNDNS_ADDR: &str = "10.10.1.53";

macro_rules! require_root_netns {
    () => {
        skip_if!("linux_e2e", e2e::skip_reason())
    };
}

fn link_names(ns: Option<&str>) -> BTreeSet<String> {
    let out = match ns {
        Some(n) => must("ip", &["-n", n, "-o", "link", "show"]),
        None => must("ip", &["-o", "link", "show"]),
    };
    out.lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

/// The machine's namespaces, as a set.
fn netns_set() -> BTreeSet<String> {
    e2e::netns_list().into_iter().collect()
}

/// Sends one A query from inside `ns` to `server:53`; `None` on timeout.
fn query(ns: &str, server: &str, name: &str) -> Option<Reply> {
    dns::ask(ns, server, name, Duration::from_secs(4))
}

/// Retries a query until the answer is `want` (services take a moment to bind).
#[track_caller]
fn expect_answer(ns: &str, server: &str, name: &str, want: Ipv4Addr) {
    wait_for(
        &format!("{ns} asking {server} for {name}: {want}"),
        Duration::from_secs(15),
        || match query(ns, server, name) {
            Some(r) if r.addrs == [want] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
}

// ---------------------------------------------------------------- the topology

/// One host `alpha` in its own namespace: vpndns, vpn namespaces `vpna` and
/// `vpnb` each with a provider, service namespaces using each, a LAN client
/// with two forwarders, and a remote client behind each vpn namespace.
fn one_host_site(tag: &str, dir: &Path) -> String {
    let vpn = |name: &str, address: &str, dns: &str, clients: &str| {
        Table::jail(name, "vpn", address)
            .set("tun", "tun0")
            .set("provider_dns", dns)
            .set("clients", [clients])
    };
    let service = |name: &str, address: &str, via: &str| {
        Table::jail(name, "service", address).set("via", via)
    };
    SiteFile::new(tag)
        .host(
            Host::linux(tag, "alpha", dir, "10.99.0.1", 1)
                .set("vpndns_bin", VPNDNS)
                .jail(Table::jail("dns", "vpndns", VPNDNS_ADDR))
                .jail(vpn("vpna", "10.10.1.2", "10.8.1.1", "10.20.1.0/24"))
                .jail(vpn("vpnb", "10.10.1.3", "10.8.2.1", "10.20.2.0/24"))
                .jail(service("svca", "10.10.1.30", "vpna"))
                .jail(service("svcb", "10.10.1.31", "vpnb"))
                .jail(Table::jail("lan", "service", "10.10.1.40")),
        )
        .dns(
            Table::new()
                .set("static", Raw(r#"{ "nas.wan" = "10.10.1.20" }"#))
                .set("block", ["ads.example.net"]),
        )
        .policy(
            Table::new()
                .set("source", ["10.10.1.40/32"])
                .set("via", ["vpna", "vpnb"]),
        )
        .to_string()
}

/// A provider behind vpn namespace `jail`: `tun0` in the vpn namespace
/// (`net`.2/30), the provider's resolver at `net`.1 answering `answer`; its
/// index in `t.servers`.
fn provider(t: &mut Lab, host: &str, jail: &str, net: &str, answer: Ipv4Addr) -> usize {
    let p = t.own_ns("vjp", jail);
    t.add_netns(&p);
    let vpn = t.ns(host, jail);
    let (inside, outside) = (format!("{net}.2/30"), format!("{net}.1/30"));
    netns::veth(&vpn, "tun0", &inside, &p, "p0", &outside);
    let bind: SocketAddr = format!("{net}.1:53").parse().expect("bind address");
    t.servers.push(UdpServer::dns(&p, bind, answer));
    t.servers.len() - 1
}

/// A remote client routed through vpn namespace `jail` (the seed's GRE
/// client): `net`.1 on the vpn side, the client at `net`.2.
fn remote_client(t: &mut Lab, host: &str, jail: &str, net: &str) -> String {
    let r = t.own_ns("vjr", jail);
    t.add_netns(&r);
    let vpn = t.ns(host, jail);
    let (gw, client) = (format!("{net}.1"), format!("{net}.2/24"));
    netns::veth(&vpn, "rc0", &format!("{gw}/24"), &r, "r0", &client);
    must("ip", &["-n", &r, "route", "add", "default", "via", &gw]);
    r
}

/// The sources provider `i`'s resolver saw, as a set.
fn sources(t: &Lab, i: usize) -> BTreeSet<Ipv4Addr> {
    t.servers[i].sources().into_iter().collect()
}

/// `packets N` of the rule in `ns`'s table `vpnjail`, chain `chain`, that contains `needle`.
fn nft_packets(ns: &str, chain: &str, needle: &str) -> u64 {
    let out = e2e::ns_must(ns, "nft", &["list", "chain", "ip", "vpnjail", chain]);
    e2e::packets(&out, needle)
        .unwrap_or_else(|| panic!("no counted rule with {needle:?} in {ns} {chain}:\n{out}"))
}

/// Brings up the one-host topology with providers and remote clients.
fn one_host() -> (Lab, [String; 2]) {
    let mut t = Lab::new('t', one_host_site);
    t.create_all();
    provider(&mut t, "alpha", "vpna", "10.8.1", ANSWER_A);
    provider(&mut t, "alpha", "vpnb", "10.8.2", ANSWER_B);
    let ra = remote_client(&mut t, "alpha", "vpna", "10.20.1");
    let rb = remote_client(&mut t, "alpha", "vpnb", "10.20.2");
    (t, [ra, rb])
}

// ---------------------------------------------------------------- the tests

/// Seed steps 1–11 on one host (GRE/IPsec replaced by a direct veth): policy
/// by client, identity, step-2 translation, step-5 redirect, static, blocked.
#[test]
fn one_host_answers_each_client_through_its_own_vpn_namespace() {
    require_root_netns!();
    let started = Instant::now();
    let (t, [ra, rb]) = one_host();
    let svca = t.ns("alpha", "svca");
    let svcb = t.ns("alpha", "svcb");
    let vpna = t.ns("alpha", "vpna");

    // Policy by client: svca's forwarder is vpna, svcb's is vpnb.
    expect_answer(&svca, VPNDNS_ADDR, "www.example.com", ANSWER_A);
    let (a0, b0) = (t.servers[0].count(), t.servers[1].count());
    expect_answer(&svcb, VPNDNS_ADDR, "www.example.org", ANSWER_B);
    assert_eq!(t.servers[0].count(), a0, "B's client must not reach A");
    assert!(t.servers[1].count() > b0);
    // Steps 5-8: the providers saw the queries from the vpn namespace's tun
    // address (masquerade on tun0), never from vpndns or the client.
    assert_eq!(sources(&t, 0), BTreeSet::from([Ipv4Addr::new(10, 8, 1, 2)]));
    assert_eq!(sources(&t, 1), BTreeSet::from([Ipv4Addr::new(10, 8, 2, 2)]));

    // Step 5 alone: a query to vpna's own bridge address goes to provider A.
    let dnat0 = nft_packets(&vpna, "prerouting", "dnat to 10.8.1.1");
    let a1 = t.servers[0].count();
    expect_answer(&svcb, "10.10.1.2", "direct.example.com", ANSWER_A);
    assert!(t.servers[0].count() > a1);
    assert!(nft_packets(&vpna, "prerouting", "dnat to 10.8.1.1") > dnat0);

    // Identity (steps 3-4): vpndns sends vpna's own query back to vpna:53,
    // where nftables redirects it to provider A.
    expect_answer(&vpna, VPNDNS_ADDR, "identity.example.com", ANSWER_A);

    // Steps 2 and 9-10: a remote client behind vpna asks vpndns; vpna
    // translates its source to 10.10.1.2, vpndns applies vpna's identity
    // policy, and the answer comes back to the client through the translation.
    // (NAT rules count the first packet of a flow; vpndns may reuse the
    // socket of an earlier identity forward, so the provider's own counter is
    // the proof that this query went through vpna to provider A.)
    let snat0 = nft_packets(&vpna, "postrouting", "ip daddr 10.10.1.53");
    let a3 = t.servers[0].count();
    expect_answer(&ra, VPNDNS_ADDR, "remote.example.com", ANSWER_A);
    assert!(nft_packets(&vpna, "postrouting", "ip daddr 10.10.1.53") > snat0);
    assert!(t.servers[0].count() > a3);
    expect_answer(&rb, VPNDNS_ADDR, "remote.example.org", ANSWER_B);

    // Static and blocked names: answered by vpndns, no provider asked.
    let (a2, b2) = (t.servers[0].count(), t.servers[1].count());
    expect_answer(&svca, VPNDNS_ADDR, "nas.wan", Ipv4Addr::new(10, 10, 1, 20));
    let blocked = query(&svcb, VPNDNS_ADDR, "x.ads.example.net").expect("blocked answer");
    assert_eq!(blocked.rcode, 3, "blocked names get NXDOMAIN: {blocked:?}");
    assert_eq!((t.servers[0].count(), t.servers[1].count()), (a2, b2));

    // The LAN client's policy lists vpna first.
    expect_answer(
        &t.ns("alpha", "lan"),
        VPNDNS_ADDR,
        "lan.example.com",
        ANSWER_A,
    );
    eprintln!("one_host_dns_path: {:?}", started.elapsed());
}

/// Faults: a dead provider fails over to the policy's second forwarder while
/// static and blocked names keep answering; vpndns killed and brought back by
/// running `vpnjail create --all` again serves the same clients.
#[test]
fn a_dead_provider_fails_over_and_a_killed_vpndns_comes_back_with_create() {
    require_root_netns!();
    let started = Instant::now();
    let (mut t, _) = one_host();
    let lan = t.ns("alpha", "lan");
    let svca = t.ns("alpha", "svca");
    expect_answer(&lan, VPNDNS_ADDR, "before.example.com", ANSWER_A);

    t.servers[0].stop();
    // vpna's provider is gone: the LAN client's second forwarder (vpnb) answers.
    expect_answer(&lan, VPNDNS_ADDR, "after.example.com", ANSWER_B);
    // A client whose only forwarder is vpna gets SERVFAIL, not silence.
    let r = query(&svca, VPNDNS_ADDR, "dead.example.com").expect("an answer");
    assert_eq!(r.rcode, 2, "SERVFAIL when every forwarder is down: {r:?}");
    // Local answers do not depend on any provider.
    expect_answer(&svca, VPNDNS_ADDR, "nas.wan", Ipv4Addr::new(10, 10, 1, 20));
    let r = query(&svca, VPNDNS_ADDR, "ads.example.net").expect("an answer");
    assert_eq!(r.rcode, 3);

    // Kill vpndns outright: clients get nothing.
    e2e::kill_pidfile(&t.jail_file("alpha", "dns", "vpndns.pid"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(query(&lan, VPNDNS_ADDR, "down.example.com"), None);
    // create is idempotent: run again, it only restarts what is missing.
    let out = t.vpnjail(&["create", "--all"]).expect("create again");
    assert!(out.contains("done: start vpndns"), "{out}");
    assert!(
        out.contains("already so: create network namespace"),
        "{out}"
    );
    expect_answer(&lan, VPNDNS_ADDR, "back.example.com", ANSWER_B);
    expect_answer(&svca, VPNDNS_ADDR, "nas.wan", Ipv4Addr::new(10, 10, 1, 20));

    // A clean stop (SIGTERM via destroy of the vpndns namespace) and create.
    t.vpnjail(&["destroy", "dns"]).expect("destroy dns");
    assert_eq!(query(&lan, VPNDNS_ADDR, "gone.example.com"), None);
    t.vpnjail(&["create", "dns"]).expect("create dns");
    expect_answer(&lan, VPNDNS_ADDR, "again.example.com", ANSWER_B);
    eprintln!("faults: {:?}", started.elapsed());
}

/// `vpnjail destroy --all` leaves no namespace, link or nftables table behind:
/// the machine's own namespace list, links and ruleset are as before.
#[test]
fn destroy_all_leaves_the_machine_as_it_was() {
    require_root_netns!();
    // Namespaces of other tests (this run's, or another process's test
    // namespaces, `vj-`/`vjh-`/`vjs-`) come and go meanwhile; all others must
    // be exactly as they were, and a sentinel made for this test survives.
    let this_run = format!("-t{:x}", std::process::id() & 0xfffff);
    let others = || -> BTreeSet<String> {
        netns_set()
            .into_iter()
            .filter(|n| {
                !n.contains(&this_run) && !["vj-", "vjh-", "vjs-"].iter().any(|p| n.starts_with(p))
            })
            .collect()
    };
    let netns0 = others();
    let links0 = link_names(None);
    let rules0 = must("nft", &["list", "ruleset"]);
    let t = Lab::new('t', one_host_site);
    // Carries the tag: the guard removes it if the test fails.
    let sentinel = format!("vjs-{}-keep", t.tag);
    must("ip", &["netns", "add", &sentinel]);
    t.vpnjail(&["create", "--all"]).expect("create --all");
    let ours: Vec<String> = t
        .tagged_netns()
        .into_iter()
        .filter(|n| *n != sentinel)
        .collect();
    assert_eq!(ours.len(), 7, "host + 6 jails: {ours:?}");
    let host_ns = format!("vjh-{}-alpha", t.tag);
    assert!(link_names(Some(&host_ns)).contains("vjbr0"));
    let out = t.vpnjail(&["destroy", "--all"]).expect("destroy --all");
    assert!(out.contains("done: stop vpndns"), "{out}");
    let left: Vec<String> = t
        .tagged_netns()
        .into_iter()
        .filter(|n| *n != sentinel)
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let kept = netns_set().contains(&sentinel);
    let _ = sh("ip", &["netns", "del", &sentinel]);
    assert!(kept, "destroy --all removed another namespace ({sentinel})");
    assert_eq!(others(), netns0, "other namespaces changed");
    assert_eq!(link_names(None), links0, "links of this namespace changed");
    assert_eq!(must("nft", &["list", "ruleset"]), rules0);
    assert!(t.pidfiles().is_empty(), "pidfiles left: {:?}", t.pidfiles());
    // Destroy again: nothing to do, no error.
    let again = t.vpnjail(&["destroy", "--all"]).expect("destroy twice");
    assert!(!again.contains("done: delete"), "{again}");
}

/// A failing step undoes the completed ones: a vpndns binary that does not
/// exist fails its config check, and everything made before is removed.
#[test]
fn failed_create_rolls_back_on_the_real_system() {
    require_root_netns!();
    let t = Lab::new('t', |tag, dir| {
        one_host_site(tag, dir).replace(VPNDNS, "/nonexistent/vpndns")
    });
    let err = t.vpnjail(&["create", "--all"]).expect_err("must fail");
    assert!(err.contains("completed steps were undone"), "{err}");
    let left = t.tagged_netns();
    assert!(left.is_empty(), "namespaces left after rollback: {left:?}");
}

/// Two hosts, each in its own namespace, joined by a "WAN" veth pair made by
/// the test: alpha (vpndns, vpna with its provider, ipsec) and beta (ipsec, a
/// laptop). The site's `[[link]]` is brought up by strongSwan (charon with
/// kernel-libipsec, one per ipsec namespace) from the generated swanctl.conf,
/// with IKE and NAT-T passing each host's nftables NAT.
fn two_host_site(tag: &str, dir: &Path) -> String {
    std::fs::write(dir.join("alpha-beta.psk"), "e2e-test-psk-0123456789\n").expect("psk");
    SiteFile::new(tag)
        .host(
            Host::linux(tag, "alpha", dir, "10.99.0.1", 1)
                .set("vpndns_bin", VPNDNS)
                .jail(Table::jail("ipsec", "ipsec", "10.10.1.4"))
                .jail(Table::jail("dns", "vpndns", VPNDNS_ADDR))
                .jail(Table::jail("vpna", "vpn", "10.10.1.2").set("provider_dns", "10.8.1.1")),
        )
        .host(
            Host::linux(tag, "beta", dir, "10.99.0.2", 2)
                .jail(Table::jail("ipsec_b", "ipsec", "10.10.2.4"))
                .jail(Table::jail("laptop", "service", "10.10.2.77")),
        )
        .link(
            Table::swanctl_link("alpha", "beta", 100)
                .set("inner", ["172.16.0.1", "172.16.0.2"])
                .set("psk_file", "alpha-beta.psk"),
        )
        .policy(
            Table::new()
                .set("source", ["10.10.2.0/24"])
                .set("via", "vpna"),
        )
        .to_string()
}

/// ESP packets counted by charon in an ipsec namespace (both directions).
fn esp_packets(t: &Lab, host: &str, jail: &str) -> u64 {
    let conf = t.jail_file(host, jail, "strongswan.conf");
    let env = format!("STRONGSWAN_CONF={}", conf.display());
    let out = e2e::ns_exec(&t.ns(host, jail), "env", &[&env, "swanctl", "--list-sas"])
        .unwrap_or_default();
    out.lines()
        .filter(|l| l.trim_start().starts_with("in ") || l.trim_start().starts_with("out "))
        .filter_map(|l| l.split("bytes,").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Seed steps 1 and 11 over a real IKEv2/ESP tunnel: a laptop on beta
/// resolves through vpndns on alpha, which forwards through vpna's provider.
#[test]
fn a_laptop_resolves_through_vpndns_on_the_other_host_over_strongswan() {
    require_root_netns!();
    skip_if!(
        "a_laptop_resolves_through_vpndns_on_the_other_host_over_strongswan (needs charon-systemd, strongswan-swanctl and libcharon-extra-plugins)",
        e2e::skip_reason_strongswan()
    );
    let started = Instant::now();
    let mut t = Lab::new('t', two_host_site);
    // The machine: two host namespaces joined by a WAN link.
    let (ha, hb) = (t.host_ns("alpha"), t.host_ns("beta"));
    t.add_netns(&ha);
    t.add_netns(&hb);
    netns::veth(&ha, "wan0", "10.99.0.1/24", &hb, "wan0", "10.99.0.2/24");
    t.create_all();
    provider(&mut t, "alpha", "vpna", "10.8.1", ANSWER_A);
    let laptop = t.ns("beta", "laptop");
    wait_for(
        "laptop on beta via the tunnel to vpndns on alpha",
        Duration::from_secs(40),
        || match query(&laptop, VPNDNS_ADDR, "far.example.com") {
            Some(r) if r.addrs == [ANSWER_A] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    assert!(t.servers[0].count() > 0);
    assert!(
        esp_packets(&t, "beta", "ipsec_b") >= 2,
        "the query and its answer crossed the ESP tunnel"
    );
    assert!(esp_packets(&t, "alpha", "ipsec") >= 2);
    eprintln!(
        "a_laptop_resolves_through_vpndns_on_the_other_host_over_strongswan: {:?}",
        started.elapsed()
    );
}
