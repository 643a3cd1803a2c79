//! vpndns over real UDP and TCP sockets on loopback: every client and
//! upstream has its own 127.x.y.z address, so policies by source address are
//! exercised as in a deployment.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::config::{Config, Raw, Table};
use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use nix::sys::signal::Signal;

const PROXY: u8 = 1;

/// `[server]` on the block's .1:5353 with a short timeout and identity port 5399.
fn server(b: &Block) -> Config {
    Config::new(b.addr(PROXY, 5353))
        .server("timeout", "300ms")
        .server("identity_port", 5399u32)
}

/// The block as a CIDR ending at /`len` from address `.host`.
fn net(b: &Block, host: u8, len: u8) -> String {
    format!("{}/{len}", b.ip(host))
}

fn ip(b: &Block, host: u8) -> IpAddr {
    IpAddr::V4(b.ip(host))
}

#[test]
fn longest_prefix_policy_picks_the_forwarder() {
    let b = Block::new();
    let wide = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let narrow = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    // The /24 is listed first; the /30 inside it must still win for its clients.
    let config = server(&b)
        .forwarder("wide", wide.addr)
        .forwarder("narrow", narrow.addr)
        .policy(&b.net(), "wide")
        .policy(&net(&b, 20, 30), "narrow")
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let from_narrow = ask(p.addr, ip(&b, 21), "www.example.com.", RecordType::A);
    assert_eq!(addresses(&from_narrow), vec![IpAddr::V4(narrow.answer)]);
    let from_wide = ask(p.addr, ip(&b, 30), "www.example.com.", RecordType::A);
    assert_eq!(addresses(&from_wide), vec![IpAddr::V4(wide.answer)]);
    assert_eq!((narrow.udp_count(), wide.udp_count()), (1, 1));
}

#[test]
fn uncovered_clients_are_refused_and_nothing_is_forwarded() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = server(&b)
        .forwarder("up", up.addr)
        .policy(&net(&b, 0, 28), "up")
        .policy(&b.ip(5).to_string(), "refuse")
        .static_records(r#"{ "nas.wan" = "10.0.0.1" }"#)
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let q = query_edns("www.example.com.", RecordType::A);
    let query_len = q.to_vec().unwrap().len();
    let raw = exchange_raw(
        p.addr,
        ip(&b, 100),
        &q.to_vec().unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let refused = hickory_proto::op::Message::from_vec(&raw).unwrap();
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(
        raw.len() <= query_len,
        "REFUSED must not amplify: {} > {query_len}",
        raw.len()
    );
    // A refuse policy inside a covered network refuses even static names.
    let r = ask(p.addr, ip(&b, 5), "nas.wan.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert_eq!(up.udp_count(), 0);
    let ok = ask(p.addr, ip(&b, 6), "www.example.com.", RecordType::A);
    assert_eq!(addresses(&ok), vec![IpAddr::V4(up.answer)]);
}

#[test]
fn identity_mode_sends_the_query_back_to_the_client_address() {
    let b = Block::new();
    // The "VPN jail" at .10 runs its resolver (the pf rdr target) on the identity port.
    let jail = Upstream::start(b.addr(10, 5399), Ipv4Addr::new(10, 8, 0, 10), Mode::Answer);
    let other = Upstream::start(b.addr(11, 5399), Ipv4Addr::new(10, 8, 0, 11), Mode::Answer);
    let config = server(&b).policy(&net(&b, 0, 28), "source").to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let r = ask(p.addr, ip(&b, 10), "ifconfig.example.", RecordType::A);
    assert_eq!(addresses(&r), vec![IpAddr::V4(jail.answer)]);
    let r = ask(p.addr, ip(&b, 11), "ifconfig.example.", RecordType::A);
    assert_eq!(addresses(&r), vec![IpAddr::V4(other.answer)]);
    assert_eq!((jail.udp_count(), other.udp_count()), (1, 1));
    let (_, src) = jail.seen.queries.lock().unwrap()[0];
    assert_ne!(
        src.port(),
        5353,
        "upstream queries leave from their own random port"
    );
}

#[test]
fn failover_on_timeout_then_servfail_when_all_are_down() {
    let b = Block::new();
    let dead = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Silent);
    let live = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = server(&b)
        .forwarder("dead", dead.addr)
        .forwarder("live", live.addr)
        .policy(&net(&b, 16, 28), ["dead", "live"])
        .policy(&net(&b, 32, 28), "dead")
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let t = Instant::now();
    let r = ask(p.addr, ip(&b, 17), "www.example.com.", RecordType::A);
    let took = t.elapsed();
    assert_eq!(addresses(&r), vec![IpAddr::V4(live.answer)]);
    // Not the whole 300 ms timeout: after the 50 ms hedge floor (no round
    // trip measured yet) the next forwarder is asked too.
    assert!(
        took >= Duration::from_millis(45) && took < Duration::from_millis(280),
        "the dead forwarder was hedged around: {took:?}"
    );
    assert_eq!((dead.udp_count(), live.udp_count()), (1, 1));

    let t = Instant::now();
    let r = ask(p.addr, ip(&b, 33), "www.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(r.queries.len(), 1, "SERVFAIL repeats the question");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        p.wait_for_log("timeout (last tried dead")
            .contains("timeout (last tried dead")
    );
}

/// Each query to a silent first forwarder is overtaken by its hedge to the
/// second; three such lost races in a row (max_failures = 3) mark it down
/// within a few hedge times, not after three 3 s timeouts, and the next
/// query goes to the second forwarder first.
#[test]
fn a_silent_forwarder_is_marked_down_by_lost_hedges_before_any_timeout() {
    let b = Block::new();
    let dead = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Silent);
    let live = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = Config::new(b.addr(PROXY, 5353))
        .server("timeout", "3s")
        .forwarder("dead", dead.addr)
        .forwarder("live", live.addr)
        .policy(&b.net(), ["dead", "live"])
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let t = Instant::now();
    for n in 0..3 {
        let r = ask(
            p.addr,
            ip(&b, 20),
            &format!("q{n}.example.com."),
            RecordType::A,
        );
        assert_eq!(addresses(&r), vec![IpAddr::V4(live.answer)]);
    }
    let log = p.wait_for_log("is down after");
    let took = t.elapsed();
    assert!(
        log.contains("forwarder dead") && log.contains("is down after 3 failures"),
        "three lost hedges mark it down:\n{log}"
    );
    assert!(
        took < Duration::from_secs(3),
        "down before its first timeout: {took:?}"
    );
    assert_eq!(dead.udp_count(), 3);
    let r = ask(p.addr, ip(&b, 20), "q3.example.com.", RecordType::A);
    assert_eq!(addresses(&r), vec![IpAddr::V4(live.answer)]);
    assert_eq!(
        dead.udp_count(),
        3,
        "a forwarder that is down is asked last"
    );
}

#[test]
fn upstream_servfail_and_nxdomain_are_answers_not_failures() {
    let b = Block::new();
    let first = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::ServFail);
    let second = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = server(&b)
        .forwarder("first", first.addr)
        .forwarder("second", second.addr)
        .policy(&b.net(), ["first", "second"])
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let r = ask(p.addr, ip(&b, 20), "www.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(second.udp_count(), 0);
}

#[test]
fn static_records_answer_a_aaaa_ptr_and_nodata() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = server(&b)
        .forward_to("up", up.addr, &b.net())
        .section(
            "[static]",
            Table::new()
                .set("ttl", 123u32)
                .set(
                    "records",
                    Raw(r#"{ "Nas.Wan" = "10.10.1.20", "printer.wan" = ["10.10.1.21", "fd00::21"] }"#),
                )
                .set("files", ["hosts"]),
        )
        .to_string();
    let p = Proxy::start(
        b.addr(PROXY, 5353),
        &config,
        &[("hosts", "# hosts\n10.10.1.53 dns.wan resolver.wan\n")],
    );
    let c = ip(&b, 20);
    let r = ask(p.addr, c, "NAS.wan.", RecordType::A);
    assert_eq!(addresses(&r), vec!["10.10.1.20".parse::<IpAddr>().unwrap()]);
    assert_eq!(r.answers[0].ttl, 123);
    assert_eq!(
        r.queries[0].name().to_string(),
        "NAS.wan.",
        "the question comes back as asked"
    );
    assert!(r.metadata.authoritative);
    let r = ask(p.addr, c, "printer.wan.", RecordType::AAAA);
    assert_eq!(addresses(&r), vec!["fd00::21".parse::<IpAddr>().unwrap()]);
    let r = ask(p.addr, c, "resolver.wan.", RecordType::A);
    assert_eq!(addresses(&r), vec!["10.10.1.53".parse::<IpAddr>().unwrap()]);
    let r = ask(p.addr, c, "20.1.10.10.in-addr.arpa.", RecordType::PTR);
    assert!(matches!(&r.answers[0].data, RData::PTR(n) if n.0.to_string() == "nas.wan."));
    let r = ask(
        p.addr,
        c,
        "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        RecordType::PTR,
    );
    assert!(matches!(&r.answers[0].data, RData::PTR(n) if n.0.to_string() == "printer.wan."));
    let r = ask(p.addr, c, "nas.wan.", RecordType::MX);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(
        r.answers.is_empty(),
        "other types of a static name are NODATA"
    );
    assert_eq!(up.udp_count(), 0, "static names are never forwarded");
    // Static records are class IN: a CHAOS query for the name is not theirs.
    let mut chaos = query("nas.wan.", RecordType::A);
    chaos.queries[0].set_query_class(hickory_proto::rr::DNSClass::CH);
    let r = ask_msg(p.addr, c, &chaos);
    assert!(!addresses(&r).contains(&"10.10.1.20".parse::<IpAddr>().unwrap()));
    assert_eq!(up.udp_count(), 1, "forwarded instead");
}

#[test]
fn a_hosts_file_that_is_a_device_or_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("binary.hosts"), b"10.0.0.1 a.wan\n\x00\x01").unwrap();
    for (file, why) in [
        ("/dev/zero", "binary data"),
        ("binary.hosts", "line 2: binary data"),
    ] {
        let src = format!("[static]\nfiles = [\"{file}\"]\n");
        let config =
            vpndns::proxy::config::Config::parse(&dir.path().join("c.toml"), &src).unwrap();
        let err = vpndns::proxy::engine::Engine::build(config)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains(why) && err.contains(":2:10:"), "{err}");
    }
}

#[test]
fn every_blocklist_format_blocks_and_allow_exempt_and_local_only_apply() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = server(&b)
        .forward_to("up", up.addr, &b.net())
        .section(
            "[block]",
            Table::new()
                .set(
                    "lists",
                    [
                        "lists/plain.txt",
                        "lists/hosts.txt",
                        "lists/adblock.txt",
                        "lists/wild.txt",
                    ],
                )
                .set("allow", ["allow.txt"])
                .set("exempt", [b.ip(50).to_string()])
                .set("local_only", ["localdomain", "home.arpa"]),
        )
        .to_string();
    let files = [
        ("lists/plain.txt", "# plain\nplain.test\n"),
        (
            "lists/hosts.txt",
            "0.0.0.0 hosts.test second.test\n127.0.0.1 localhost\n:: six.test\n",
        ),
        (
            "lists/adblock.txt",
            "! adblock\n||adblock.test^\n||skipped.test^$third-party\n@@||ok.adblock.test^\n",
        ),
        ("lists/wild.txt", "*.wild.test\n"),
        ("allow.txt", "fine.plain.test\n"),
    ];
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &files);
    let c = ip(&b, 20);
    for name in [
        "plain.test.",
        "deep.sub.plain.test.",
        "hosts.test.",
        "second.test.",
        "six.test.",
        "ADBLOCK.test.",
        "x.adblock.test.",
        "wild.test.",
        "a.wild.test.",
    ] {
        let r = ask(p.addr, c, name, RecordType::A);
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::NXDomain,
            "{name} should be blocked"
        );
    }
    assert_eq!(up.udp_count(), 0);
    for name in [
        "fine.plain.test.",
        "a.fine.plain.test.",
        "ok.adblock.test.",
        "skipped.test.",
        "localhost.",
        "test.",
    ] {
        let r = ask(p.addr, c, name, RecordType::A);
        assert_eq!(
            addresses(&r),
            vec![IpAddr::V4(up.answer)],
            "{name} should be forwarded"
        );
    }
    let exempt = ask(p.addr, ip(&b, 50), "plain.test.", RecordType::A);
    assert_eq!(
        addresses(&exempt),
        vec![IpAddr::V4(up.answer)],
        "exempt clients skip blocking"
    );
    let before = up.udp_count();
    for name in ["printer.localdomain.", "x.home.arpa.", "home.arpa."] {
        let r = ask(p.addr, ip(&b, 50), name, RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{name}");
    }
    assert_eq!(
        up.udp_count(),
        before,
        "local_only names are never forwarded"
    );
    let log = p.log_text();
    assert!(
        log.contains("lists/adblock.txt: 1 block, 1 allow entries, 1 lines skipped"),
        "{log}"
    );
}

#[test]
fn each_block_response_mode_answers_as_configured() {
    let b = Block::new();
    for (mode, a, aaaa) in [
        ("null", Some("0.0.0.0"), Some("::")),
        ("10.9.9.9", Some("10.9.9.9"), None),
        ("refused", None, None),
    ] {
        let config = server(&b)
            .policy(&b.net(), "source")
            .section(
                "[block]",
                Table::new()
                    .set("lists", ["l.txt"])
                    .set("response", mode)
                    .set("ttl", 7u32),
            )
            .to_string();
        let p = Proxy::start(b.addr(PROXY, 5353), &config, &[("l.txt", "ads.test\n")]);
        let c = ip(&b, 20);
        let r4 = ask(p.addr, c, "ads.test.", RecordType::A);
        let r6 = ask(p.addr, c, "ads.test.", RecordType::AAAA);
        if mode == "refused" {
            assert_eq!(r4.metadata.response_code, ResponseCode::Refused);
            continue;
        }
        let got4: Vec<String> = addresses(&r4).iter().map(|a| a.to_string()).collect();
        let got6: Vec<String> = addresses(&r6).iter().map(|a| a.to_string()).collect();
        assert_eq!(
            got4,
            a.map(String::from).into_iter().collect::<Vec<_>>(),
            "{mode} A"
        );
        assert_eq!(
            got6,
            aaaa.map(String::from).into_iter().collect::<Vec<_>>(),
            "{mode} AAAA"
        );
        assert_eq!(r4.answers[0].ttl, 7);
        drop(p);
    }
}

#[test]
fn domain_rules_override_the_source_policy() {
    let b = Block::new();
    let normal = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let isp = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = server(&b)
        .forwarder("normal", normal.addr)
        .forwarder("isp", isp.addr)
        .policy(&net(&b, 16, 28), "normal")
        .policy(&b.ip(100).to_string(), "refuse")
        .section(
            "[[domain]]",
            Table::new()
                .set("suffix", ["protonvpn.net"])
                .set("forward", ["isp"]),
        )
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let r = ask(
        p.addr,
        ip(&b, 17),
        "node-us-1.protonvpn.net.",
        RecordType::A,
    );
    assert_eq!(addresses(&r), vec![IpAddr::V4(isp.answer)]);
    let r = ask(p.addr, ip(&b, 17), "www.example.com.", RecordType::A);
    assert_eq!(addresses(&r), vec![IpAddr::V4(normal.answer)]);
    let r = ask(
        p.addr,
        ip(&b, 100),
        "node-us-1.protonvpn.net.",
        RecordType::A,
    );
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::Refused,
        "a domain rule never lets in a refused client"
    );
    assert_eq!(isp.udp_count(), 1);
}

#[test]
fn ids_are_rewritten_and_bytes_otherwise_relayed_unchanged() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = server(&b).forward_to("up", up.addr, &b.net()).to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let mut q = query_edns("www.example.com.", RecordType::A);
    q.metadata.checking_disabled = true;
    q.metadata.id = 0x4242;
    let sent = q.to_vec().unwrap();
    let r = ask_msg(p.addr, ip(&b, 20), &q);
    assert_eq!(addresses(&r), vec![IpAddr::V4(up.answer)]);
    assert!(r.metadata.checking_disabled, "CD passes through");
    assert!(
        r.edns
            .as_ref()
            .is_some_and(|e| e.flags().dnssec_ok && e.max_payload() == 1232),
        "EDNS passes through"
    );
    let seen = up.seen.last.lock().unwrap().clone();
    assert_ne!(seen[..2], sent[..2], "the upstream sees a fresh ID");
    assert_eq!(seen[2..], sent[2..], "and otherwise the client's bytes");

    // Upstream IDs are random: not sequential, and spread. Sequential queries
    // draw fresh random IDs, so a repeat is legitimate (41 draws from 65,536
    // repeat with probability ~1.2%, the birthday bound); only queries in
    // flight at the same time must differ, which the in-flight table ensures.
    // Three or more repeats would be a ~1e-6 event for a uniform draw.
    for i in 0..40 {
        ask(
            p.addr,
            ip(&b, 20),
            &format!("n{i}.example.com."),
            RecordType::A,
        );
    }
    let ids: Vec<u16> = up
        .seen
        .queries
        .lock()
        .unwrap()
        .iter()
        .map(|q| q.0)
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert!(
        unique.len() + 2 >= ids.len(),
        "upstream IDs repeat too often for random draws: {ids:?}"
    );
    assert!(ids.windows(2).any(|w| w[1] != w[0].wrapping_add(1)));
    let ports: std::collections::HashSet<u16> = up
        .seen
        .queries
        .lock()
        .unwrap()
        .iter()
        .map(|q| q.1.port())
        .collect();
    assert!(
        ports.len() > 1,
        "queries leave from several source ports: {ports:?}"
    );
}

#[test]
fn spoofed_responses_are_dropped() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Spoof);
    let config = server(&b).forward_to("up", up.addr, &b.net()).to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let r = ask(p.addr, ip(&b, 20), "www.example.com.", RecordType::A);
    assert_eq!(
        addresses(&r),
        vec![IpAddr::V4(up.answer)],
        "forgeries with a wrong ID, a wrong question or from a wrong port must be ignored"
    );
    let log = p.wait_for_log("WrongSource");
    for why in ["UnknownId", "WrongQuestion", "WrongSource"] {
        assert!(
            log.contains(why),
            "a forgery dropped for {why} is logged:\n{log}"
        );
    }
}

#[test]
fn truncated_answers_are_relayed_and_tcp_retries_go_upstream_over_tcp() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Truncate);
    let config = server(&b)
        .forward_to("up", up.addr, &b.net())
        .static_records(r#"{ "nas.wan" = "10.10.1.20" }"#)
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let c = ip(&b, 20);
    let r = ask(p.addr, c, "big.example.com.", RecordType::A);
    assert!(
        r.metadata.truncation,
        "TC is relayed so the client retries over TCP"
    );
    let queries = [
        query("big.example.com.", RecordType::A),
        query("nas.wan.", RecordType::A),
        query("other.example.com.", RecordType::A),
    ];
    let answers = ask_tcp(p.addr, c, &queries);
    for (q, a) in queries.iter().zip(&answers) {
        assert_eq!(q.metadata.id, a.metadata.id);
        assert!(!a.metadata.truncation);
    }
    assert_eq!(addresses(&answers[0]), vec![IpAddr::V4(up.answer)]);
    assert_eq!(
        addresses(&answers[1]),
        vec!["10.10.1.20".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(up.seen.tcp.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn malformed_queries_never_crash_the_proxy() {
    let b = Block::new();
    let config = server(&b).policy(&b.net(), "refuse").to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let c = ip(&b, 20);
    let wait = Duration::from_millis(300);
    assert_eq!(
        exchange_raw(p.addr, c, &[], wait),
        None,
        "empty datagram: dropped"
    );
    assert_eq!(
        exchange_raw(p.addr, c, &[1, 2, 3], wait),
        None,
        "short: dropped"
    );
    let good = query("a.example.", RecordType::A).to_vec().unwrap();
    let mut response = good.clone();
    response[2] |= 0x80;
    assert_eq!(
        exchange_raw(p.addr, c, &response, wait),
        None,
        "responses are not answered"
    );
    let mut bad_label = good.clone();
    bad_label[12] = 0x50;
    let r = exchange_raw(p.addr, c, &bad_label, wait).unwrap();
    assert_eq!(r[3] & 0x0f, 1, "FORMERR");
    assert_eq!(&r[..2], &good[..2]);
    let mut notify = good.clone();
    notify[2] = 4 << 3;
    let r = exchange_raw(p.addr, c, &notify, wait).unwrap();
    assert_eq!(r[3] & 0x0f, 4, "NOTIMP");
    let mut lying = good.clone();
    lying[7] = 9; // nine answers that are not there
    let r = exchange_raw(p.addr, c, &lying, wait).unwrap();
    assert_eq!(r[3] & 0x0f, 1, "FORMERR");
    let mut garbage = vec![0u8; 600];
    for (i, byte) in garbage.iter_mut().enumerate() {
        *byte = (i * 131 % 251) as u8;
    }
    garbage[2] = 0;
    let _ = exchange_raw(p.addr, c, &garbage, wait);
    // Still serving.
    let r = ask(p.addr, c, "still.example.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn sighup_reloads_and_a_broken_config_keeps_the_old_one() {
    let b = Block::new();
    let base = server(&b)
        .policy(&b.ip(200).to_string(), "refuse")
        .policy(&net(&b, 0, 28), "source");
    let with_nas = |records: &str| base.clone().static_records(records).to_string();
    let config = with_nas(r#"{ "nas.wan" = "10.0.0.1" }"#);
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let c = ip(&b, 2);
    let first = ask(p.addr, c, "nas.wan.", RecordType::A);
    assert_eq!(
        addresses(&first),
        vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
    );

    std::fs::write(
        p.config_path(),
        with_nas(r#"{ "nas.wan" = "not an address" }"#),
    )
    .unwrap();
    let log = p.reload();
    assert!(
        log.contains("reload failed") && log.contains("expected an IPv4 or IPv6 address"),
        "{log}"
    );
    let still = ask(p.addr, c, "nas.wan.", RecordType::A);
    assert_eq!(
        addresses(&still),
        vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
    );

    std::fs::write(p.config_path(), with_nas(r#"{ "nas.wan" = "10.0.0.2" }"#)).unwrap();
    let log = p.reload();
    assert!(log.contains("reloaded"), "{log}");
    let new = ask(p.addr, c, "nas.wan.", RecordType::A);
    assert_eq!(addresses(&new), vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
}

#[test]
fn sigterm_drains_queries_in_flight() {
    let b = Block::new();
    let slow = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    slow.set_delay(Duration::from_millis(150));
    let config = server(&b)
        .forward_to("slow", slow.addr, &b.net())
        .to_string();
    let mut p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let (addr, from) = (p.addr, ip(&b, 20));
    let client = std::thread::spawn(move || ask(addr, from, "slow.example.", RecordType::A));
    std::thread::sleep(Duration::from_millis(60));
    p.signal(Signal::SIGTERM);
    let status = p.child.wait().unwrap();
    assert!(status.success(), "clean exit: {status}");
    let answer = client.join().expect("the query in flight was answered");
    assert_eq!(addresses(&answer), vec![IpAddr::V4(slow.answer)]);
    assert!(p.log_text().contains("stopped"));
}

#[test]
fn privileges_are_dropped_after_binding_port_53() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to bind port 53 and switch users");
        return;
    }
    let b = Block::new();
    let config = format!(
        "[server]\nlisten = [\"{}\"]\nuser = \"nobody\"\n\n[[policy]]\nsource = [\"{}\"]\nforward = \"refuse\"\n",
        b.addr(PROXY, 53),
        b.net()
    );
    let p = Proxy::start(b.addr(PROXY, 53), &config, &[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id())).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .to_string();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == nobody),
        "{uid_line}"
    );
    let r = ask(p.addr, ip(&b, 20), "x.example.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
}
