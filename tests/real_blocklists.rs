//! The four real-world lists in ../shared/data/blocklists load completely and
//! block what they list, and only that.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use vpndns::proxy::config::Config;
use vpndns::proxy::engine::{Decision, Engine};
use vpndns::proxy::name::Name;
use vpndns::proxy::wire::{CLASS_IN, Query, TYPE_A};

fn decide<'e>(engine: &'e Engine, name: &str) -> Decision<'e> {
    let q = Query {
        id: 1,
        qtype: TYPE_A,
        qclass: CLASS_IN,
        name: Name::from_text(name).unwrap(),
        question_end: 0,
        edns: None,
        ..Query::default()
    };
    engine.decide("10.0.0.1".parse::<IpAddr>().unwrap(), &q)
}

#[test]
fn the_four_real_lists_load_and_match() {
    let dir = common::shared_blocklists();
    let files = [
        "stevenblack.domains.txt",
        "adguarddns.hosts.txt",
        "hagezi-light.adblock.txt",
        "easylist.wildcard.txt",
    ];
    let lists: Vec<String> = files
        .iter()
        .map(|f| format!("{:?}", dir.join(f).display().to_string()))
        .collect();
    let src = format!(
        "[[policy]]\nsource = [\"10.0.0.0/8\"]\nforward = \"source\"\n[block]\nlists = [{}]\n",
        lists.join(", ")
    );
    let started = Instant::now();
    let engine = Engine::build(Config::parse(Path::new("/tmp/real.toml"), &src).unwrap()).unwrap();
    eprintln!(
        "loaded {} domains in {:?}",
        engine.report.blocked_domains,
        started.elapsed()
    );

    // Every non-comment line of each file is one entry; none is skipped.
    let expected = [140_626, 123_962, 122_680, 50_231];
    let lists = engine.groups.groups[0].lists.iter();
    for ((name, stats), want) in lists.map(|l| (&l.written, &l.stats)).zip(expected) {
        assert_eq!(
            (stats.blocked, stats.skipped),
            (want, 0),
            "{name}: {stats:?}"
        );
    }
    // The lists overlap: the set holds their union, counted here naively.
    let mut union = std::collections::HashSet::new();
    for f in files {
        for line in std::fs::read_to_string(dir.join(f)).unwrap().lines() {
            if line.starts_with(['#', '!']) || line.trim().is_empty() {
                continue;
            }
            let d = line
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_start_matches("||")
                .trim_start_matches("*.");
            union.insert(d.trim_end_matches('^').to_ascii_lowercase());
        }
    }
    assert_eq!(engine.report.blocked_domains, union.len());

    let blocked = |name: &str| matches!(decide(&engine, name), Decision::Blocked { .. });
    let by = |name: &str| match decide(&engine, name) {
        Decision::Blocked { list, .. } => list.to_string(),
        other => format!("not blocked: {other}"),
    };
    // plain format (StevenBlack)
    assert!(by("000-038.net.daraz.com").contains("stevenblack"));
    assert!(blocked("1435575.fls.doubleclick.net"));
    // hosts format (AdGuard; names listed by no earlier file), and names below
    assert!(by("0001.best").contains("adguard"));
    assert!(blocked("cdn.0001.best"));
    assert!(blocked("doubleclick.com") && blocked("x.y.doubleclick.com"));
    // adblock format (HaGeZi)
    assert!(by("01counter.com").contains("hagezi"));
    assert!(blocked("www.01counter.com"));
    // wildcard format (EasyList): *.d blocks d and below
    assert!(by("00261bc6d5.com").contains("easylist"));
    assert!(blocked("0024aaaa.com") && blocked("ads.0024aaaa.com"));
    assert!(blocked("DOUBLECLICK.CTFILE.COM"));
    // outside every list
    for name in [
        "example.org",
        "wikipedia.org",
        "www.debian.org",
        "daraz.com",
        "ctfile.com",
        "best",
    ] {
        assert!(!blocked(name), "{name} must not be blocked: {}", by(name));
    }
    assert!(
        engine.groups.heap_bytes() < 16 * 1024 * 1024,
        "{} bytes",
        engine.groups.heap_bytes()
    );
}
