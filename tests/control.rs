//! The cache, forwarder health and the HTTP control API, over real sockets on
//! loopback (each test in its own 127.x.y.0/24).

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::config::{Config, Raw, Table};
use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const PROXY: u8 = 1;

fn ip(b: &Block, host: u8) -> IpAddr {
    IpAddr::V4(b.ip(host))
}

fn control(b: &Block) -> SocketAddr {
    b.addr(PROXY, 8053)
}

/// `[server]` and `[control]` on the block's .1, a 300 ms timeout, and
/// `[cache]` as given.
fn head(b: &Block, cache: Table) -> Config {
    Config::new(b.addr(PROXY, 5353))
        .server("timeout", "300ms")
        .control(control(b))
        .section("[cache]", cache)
}

/// `[cache]` holding `size` entries.
fn cache(size: u32) -> Table {
    Table::new().set("size", size)
}

/// The block as a CIDR ending at /`len` from address `.host`.
fn net(b: &Block, host: u8, len: u8) -> String {
    format!("{}/{len}", b.ip(host))
}

#[test]
fn the_cache_never_crosses_forwarders_and_ages_its_ttls() {
    let b = Block::new();
    let us = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let eu = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = head(&b, cache(1000))
        .forwarder("us", us.addr)
        .forwarder("eu", eu.addr)
        .policy(&net(&b, 16, 28), "us")
        .policy(&net(&b, 32, 28), "eu")
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let via_us = ask(p.addr, ip(&b, 17), "same.example.", RecordType::A);
    let via_eu = ask(p.addr, ip(&b, 33), "same.example.", RecordType::A);
    assert_eq!(addresses(&via_us), vec![IpAddr::V4(us.answer)]);
    assert_eq!(
        addresses(&via_eu),
        vec![IpAddr::V4(eu.answer)],
        "never the other VPN's cached answer"
    );
    assert_eq!((us.udp_count(), eu.udp_count()), (1, 1));

    std::thread::sleep(Duration::from_millis(1100));
    let hit = ask(p.addr, ip(&b, 18), "SAME.example.", RecordType::A);
    assert_eq!(addresses(&hit), vec![IpAddr::V4(us.answer)]);
    assert_eq!(
        us.udp_count(),
        1,
        "a third client of the first forwarder is answered from the cache"
    );
    assert!(
        hit.answers[0].ttl < 60 && hit.answers[0].ttl >= 58,
        "TTL aged: {}",
        hit.answers[0].ttl
    );
    assert_eq!(
        hit.queries[0].name().to_string(),
        "SAME.example.",
        "the client's question case"
    );
    let log = p.wait_for_log("cache_hit");
    assert!(
        log.contains("same.example A cache_hit NOERROR") || log.contains("cache_hit"),
        "{log}"
    );
}

#[test]
fn identity_clients_each_have_their_own_cache() {
    let b = Block::new();
    let a = Upstream::start(b.addr(10, 5399), Ipv4Addr::new(10, 8, 0, 10), Mode::Answer);
    let c = Upstream::start(b.addr(11, 5399), Ipv4Addr::new(10, 8, 0, 11), Mode::Answer);
    let config = head(&b, cache(100))
        .server("identity_port", 5399u32)
        .policy(&net(&b, 0, 28), "source")
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    for _ in 0..2 {
        assert_eq!(
            addresses(&ask(p.addr, ip(&b, 10), "ip.example.", RecordType::A)),
            vec![IpAddr::V4(a.answer)]
        );
        assert_eq!(
            addresses(&ask(p.addr, ip(&b, 11), "ip.example.", RecordType::A)),
            vec![IpAddr::V4(c.answer)]
        );
    }
    assert_eq!((a.udp_count(), c.udp_count()), (1, 1));
}

#[test]
fn negative_answers_are_cached_and_ttl_override_applies() {
    let b = Block::new();
    let nx = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::NxDomain);
    let ok = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = head(
        &b,
        cache(100)
            .set("negative_ttl", 20u32)
            .set("ttl_override", Raw(r#"{ "pinned.example" = 4321 }"#)),
    )
    .forwarder("nx", nx.addr)
    .forwarder("ok", ok.addr)
    .policy(&net(&b, 16, 28), "nx")
    .policy(&net(&b, 32, 28), "ok")
    .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    for i in 0..3 {
        let r = ask(p.addr, ip(&b, 17), "gone.example.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(r.authorities.len(), 1, "query {i}: {r:?}");
        let ttl = r.authorities[0].ttl;
        if i == 0 {
            assert_eq!(ttl, 3600, "relayed untouched");
        } else {
            assert!(
                ttl <= 20,
                "the cached SOA TTL is bounded by negative_ttl: {ttl}"
            );
        }
    }
    assert_eq!(nx.udp_count(), 1, "NXDOMAIN with an SOA is cached");
    let r = ask(p.addr, ip(&b, 33), "www.pinned.example.", RecordType::A);
    assert_eq!(r.answers[0].ttl, 4321);
    let r = ask(p.addr, ip(&b, 33), "www.pinned.example.", RecordType::A);
    assert_eq!(r.answers[0].ttl, 4321);
    assert_eq!(ok.udp_count(), 1);
}

/// The cache is written before the answer leaves: a client that asks again
/// the moment it has its answer is answered from the cache, whichever of the
/// two workers its second query (from a new port) lands on.
#[test]
fn an_answer_received_is_already_in_the_cache() {
    const ROUNDS: usize = 1000;
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = head(&b, cache(1000))
        .forward_to("up", up.addr, &b.net())
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    for i in 0..ROUNDS {
        let name = format!("again{i}.example.");
        for _ in 0..2 {
            let r = ask(p.addr, ip(&b, 20), &name, RecordType::A);
            assert_eq!(addresses(&r), vec![IpAddr::V4(up.answer)]);
        }
        assert_eq!(
            up.udp_count(),
            i + 1,
            "round {i}: the second ask was a miss"
        );
    }
}

#[test]
fn eviction_keeps_the_cache_at_its_size() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = head(&b, cache(32))
        .forward_to("up", up.addr, &b.net())
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    for i in 0..100 {
        ask(p.addr, ip(&b, 20), &format!("n{i}.example."), RecordType::A);
    }
    let (_, status) = http_json(control(&b), "GET", "/status");
    let entries = status["cache"]["entries"].as_u64().unwrap();
    assert!(entries <= 32 && entries > 0, "{status}");
    assert!(
        status["cache"]["evictions"].as_u64().unwrap() >= 60,
        "{status}"
    );
}

#[test]
fn a_dead_forwarder_is_skipped_until_it_comes_back() {
    let b = Block::new();
    let a = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Silent);
    let spare = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::Answer);
    let config = head(&b, cache(0))
        .forwarder_with(
            "a",
            a.addr,
            Table::new()
                .set("max_failures", 2u32)
                .set("probe", "probe.example")
                .set("probe_interval", "200ms"),
        )
        .forwarder("spare", spare.addr)
        .policy(&b.net(), ["a", "spare"])
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    let c = ip(&b, 20);
    // The probe and the first queries time out on `a`; each query still gets
    // the spare's answer after one timeout.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    loop {
        let (_, status) = http_json(control(&b), "GET", "/status");
        if status["forwarders"][0]["state"] == "down" {
            break;
        }
        assert!(Instant::now() < deadline, "a never went down: {status}");
        let r = ask(p.addr, c, &format!("q{n}.example."), RecordType::A);
        assert_eq!(addresses(&r), vec![IpAddr::V4(spare.answer)]);
        n += 1;
    }
    assert!(
        p.wait_for_log("is down after").contains("forwarder a"),
        "{}",
        p.log_text()
    );
    // Down: skipped, so no waiting for its timeout.
    let t = Instant::now();
    let r = ask(p.addr, c, "fast.example.", RecordType::A);
    assert_eq!(addresses(&r), vec![IpAddr::V4(spare.answer)]);
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "no timeout spent on a dead forwarder: {:?}",
        t.elapsed()
    );

    // Back: the probe sees it answer and it is used again.
    a.set_mode(Mode::Answer);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = ask(p.addr, c, &format!("back{n}.example."), RecordType::A);
        if addresses(&r) == vec![IpAddr::V4(a.answer)] {
            break;
        }
        assert!(Instant::now() < deadline, "a never came back");
        std::thread::sleep(Duration::from_millis(100));
        n += 1;
    }
    assert!(p.wait_for_log("is up again").contains("forwarder a"));
}

#[test]
fn upstream_servfail_does_not_mark_a_forwarder_down_unless_asked_to() {
    let b = Block::new();
    let sf = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::ServFail);
    let strict = Upstream::start(b.addr(3, 5300), Ipv4Addr::new(192, 0, 2, 3), Mode::ServFail);
    let spare = Upstream::start(b.addr(4, 5300), Ipv4Addr::new(192, 0, 2, 4), Mode::Answer);
    let config = head(&b, cache(0))
        .forwarder_with("sf", sf.addr, Table::new().set("max_failures", 1u32))
        .forwarder_with(
            "strict",
            strict.addr,
            Table::new()
                .set("max_failures", 1u32)
                .set("servfail_is_failure", true),
        )
        .forwarder("spare", spare.addr)
        .policy(&net(&b, 16, 28), ["sf", "spare"])
        .policy(&net(&b, 32, 28), ["strict", "spare"])
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &config, &[]);
    for i in 0..3 {
        let r = ask(p.addr, ip(&b, 17), &format!("s{i}.example."), RecordType::A);
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::ServFail,
            "relayed as an answer"
        );
    }
    let r = ask(p.addr, ip(&b, 33), "t.example.", RecordType::A);
    assert_eq!(
        addresses(&r),
        vec![IpAddr::V4(spare.answer)],
        "servfail_is_failure moves on"
    );
    let (_, status) = http_json(control(&b), "GET", "/status");
    let state = |i: usize| {
        status["forwarders"][i]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        (state(0), state(1), state(2)),
        ("up".into(), "down".into(), "up".into()),
        "{status}"
    );
}

#[test]
fn every_control_endpoint_answers_and_a_bad_reload_keeps_serving() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let base = head(&b, cache(100))
        .forward_to("up", up.addr, &b.net())
        .section("[block]", Table::new().set("lists", ["ads.txt"]))
        .to_string();
    let p = Proxy::start(b.addr(PROXY, 5353), &base, &[("ads.txt", "ads.example\n")]);
    let ctl = control(&b);
    let c = ip(&b, 20);

    let (code, status) = http_json(ctl, "GET", "/status");
    assert_eq!(code, 200);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["forwarders"][0]["name"], "up");
    assert_eq!(status["forwarders"][0]["state"], "up");
    assert_eq!(status["lists"]["blocked_domains"], 1);
    assert!(status["config"].as_str().unwrap().ends_with("vpndns.toml"));

    // /policy explains.
    let (_, v) = http_json(
        ctl,
        "GET",
        &format!("/policy?client={c}&name=x.ads.example&type=AAAA"),
    );
    assert_eq!(
        (v["action"].as_str(), v["list"].as_str()),
        (Some("blocked"), Some("ads.txt")),
        "{v}"
    );
    let (_, v) = http_json(
        ctl,
        "GET",
        &format!("/policy?client={c}&name=www.example.org"),
    );
    assert_eq!(v["action"], "forwarded");
    assert_eq!(v["policy"], b.net());
    assert_eq!(v["try_in_order"][0]["name"], "up");
    assert_eq!(v["try_in_order"][0]["cached"], false);
    let mut edns_query = query_edns("www.example.org.", RecordType::A);
    edns_query.edns.as_mut().unwrap().set_dnssec_ok(false);
    ask_msg(p.addr, c, &edns_query);
    let (_, v) = http_json(
        ctl,
        "GET",
        &format!("/policy?client={c}&name=www.example.org"),
    );
    assert_eq!(
        v["try_in_order"][0]["cached"], true,
        "an EDNS client's answer counts too"
    );
    let (_, v) = http_json(ctl, "GET", "/policy?client=192.0.2.99&name=www.example.org");
    assert_eq!(v["action"], "refused");
    let (code, v) = http_json(ctl, "GET", "/policy?client=nonsense&name=x");
    assert_eq!(code, 400, "{v}");

    // Exceptions unblock, survive a reload, and can be removed.
    assert_eq!(
        ask(p.addr, c, "ads.example.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    let (code, _) = http_json(ctl, "POST", "/block/exceptions/ads.example");
    assert_eq!(code, 200);
    assert_eq!(
        addresses(&ask(p.addr, c, "www.ads.example.", RecordType::A)),
        vec![IpAddr::V4(up.answer)]
    );
    let (code, _) = http_json(ctl, "POST", "/reload");
    assert_eq!(code, 200);
    let (_, v) = http_json(ctl, "GET", "/block/exceptions");
    assert_eq!(v["exceptions"], serde_json::json!(["ads.example"]));
    assert_eq!(
        ask(p.addr, c, "ads.example.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NoError
    );
    let (code, _) = http_json(ctl, "DELETE", "/block/exceptions/ads.example");
    assert_eq!(code, 200);
    let (code, _) = http_json(ctl, "DELETE", "/block/exceptions/ads.example");
    assert_eq!(code, 404);
    assert_eq!(
        ask(p.addr, c, "ads.example.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    let (code, _) = http_json(ctl, "POST", "/block/exceptions/bad..name");
    assert_eq!(code, 400);

    // The cache: list, filter, remove one name, flush.
    for name in ["one.example.", "two.example."] {
        ask(p.addr, c, name, RecordType::A);
    }
    let (_, v) = http_json(ctl, "GET", "/cache");
    assert_eq!(v["count"], 5, "{v}"); // www.example.org, www.ads.example and ads.example too
    let (_, v) = http_json(ctl, "GET", "/cache?name=one.example");
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert_eq!(v["entries"][0]["upstream"], up.addr.to_string());
    let (_, v) = http_json(ctl, "DELETE", "/cache/one.example");
    assert_eq!(v["removed"], 1);
    let before = up.udp_count();
    ask(p.addr, c, "one.example.", RecordType::A);
    ask(p.addr, c, "two.example.", RecordType::A);
    assert_eq!(
        up.udp_count(),
        before + 1,
        "only the removed name goes upstream again"
    );
    let (_, v) = http_json(ctl, "DELETE", "/cache");
    assert_eq!(v["flushed"], 5);
    let (_, v) = http_json(ctl, "GET", "/cache");
    assert_eq!(v["count"], 0);

    // A bad reload answers the error and the old config keeps serving.
    std::fs::write(
        p.config_path(),
        base.replace("forward = \"up\"", "forward = \"missing\""),
    )
    .unwrap();
    let (code, v) = http_json(ctl, "POST", "/reload");
    assert_eq!(code, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no [[forwarder]] named \"missing\""),
        "{v}"
    );
    assert_eq!(
        addresses(&ask(p.addr, c, "after.example.", RecordType::A)),
        vec![IpAddr::V4(up.answer)]
    );
    let (code, _) = http(ctl, "GET", "/nowhere");
    assert_eq!(code, 404);
}

#[test]
fn metrics_parse_and_count_what_was_sent() {
    let b = Block::new();
    let up = Upstream::start(b.addr(2, 5300), Ipv4Addr::new(192, 0, 2, 2), Mode::Answer);
    let config = head(&b, cache(100))
        .forwarder("up", up.addr)
        .policy(&net(&b, 0, 25), "up")
        .static_records(r#"{ "nas.wan" = "10.0.0.1" }"#)
        .section(
            "[block]",
            Table::new()
                .set("lists", ["ads.txt"])
                .set("local_only", ["home.arpa"]),
        )
        .to_string();
    let p = Proxy::start(
        b.addr(PROXY, 5353),
        &config,
        &[("ads.txt", "ads.example\n")],
    );
    let c = ip(&b, 20);
    for _ in 0..3 {
        ask(p.addr, c, "nas.wan.", RecordType::A);
    }
    for _ in 0..2 {
        ask(p.addr, c, "ads.example.", RecordType::A);
    }
    ask(p.addr, c, "x.home.arpa.", RecordType::A);
    ask(p.addr, c, "www.example.org.", RecordType::A); // forwarded
    ask(p.addr, c, "www.example.org.", RecordType::A); // cache hit
    ask(p.addr, ip(&b, 200), "www.example.org.", RecordType::A); // refused
    ask_tcp(p.addr, c, &[query("nas.wan.", RecordType::A)]);
    std::fs::write(p.config_path(), "not toml [").unwrap();
    let (code, _) = http(control(&b), "POST", "/reload");
    assert_eq!(code, 400);

    let (code, text) = http(control(&b), "GET", "/metrics");
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let want: HashMap<&str, &str> = labels.iter().copied().collect();
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && want.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?} in:\n{text}");
        found[0]
    };
    let q = |action: &str, protocol: &str| {
        value(
            "vpndns_queries_total",
            &[("action", action), ("protocol", protocol)],
        )
    };
    assert_eq!(q("static", "udp"), 3.0);
    assert_eq!(q("blocked", "udp"), 2.0);
    assert_eq!(q("local_only", "udp"), 1.0);
    assert_eq!(q("forwarded", "udp"), 1.0);
    assert_eq!(q("cache_hit", "udp"), 1.0);
    assert_eq!(q("refused", "udp"), 1.0);
    assert_eq!(q("static", "tcp"), 1.0);
    assert_eq!(q("servfail", "udp"), 0.0);
    assert_eq!(
        value("vpndns_forwarder_queries_total", &[("forwarder", "up")]),
        1.0
    );
    assert_eq!(value("vpndns_forwarder_up", &[("forwarder", "up")]), 1.0);
    assert_eq!(value("vpndns_cache_hits_total", &[]), 1.0);
    assert_eq!(value("vpndns_cache_entries", &[]), 1.0);
    assert_eq!(value("vpndns_list_entries", &[("set", "block")]), 1.0);
    assert_eq!(value("vpndns_reload_failures_total", &[]), 1.0);
    assert!(
        text.contains("vpndns_forwarder_latency_seconds_count{forwarder=\"up\""),
        "{text}"
    );
}

#[test]
fn control_refuses_a_remote_address_unless_allowed() {
    let src = "[control]\nlisten = \"10.1.2.3:8053\"\n";
    let e = vpndns::proxy::config::Config::parse(std::path::Path::new("x.toml"), src).unwrap_err();
    assert!(e.to_string().contains("not a loopback address"), "{e}");
    let ok = "[control]\nlisten = \"10.1.2.3:8053\"\nallow_remote = true\n";
    assert!(vpndns::proxy::config::Config::parse(std::path::Path::new("x.toml"), ok).is_ok());
}
