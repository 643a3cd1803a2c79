//! The per-query lookups: the policy table (longest prefix over the client
//! address), the blocklist (`DomainSet` with about a million domains) and the
//! whole decision, `Engine::decide`.

use std::hint::black_box;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipnet::IpNet;
use vpndns::proxy::config::Config;
use vpndns::proxy::domainset::{DomainSet, DomainSetBuilder};
use vpndns::proxy::engine::{Decision, Engine};
use vpndns::proxy::name::Name;
use vpndns::proxy::policy::{Action, GroupMask, Policy, PolicyTable};
use vpndns::proxy::wire::{Query, TYPE_A};

const DOMAINS: usize = 1_000_000;

/// A deterministic pseudo-random domain: one to three labels and a TLD.
fn domain(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5151_5151;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let labels = 1 + (next() % 3) as usize;
    let mut s = String::new();
    for _ in 0..labels {
        for _ in 0..4 + next() % 9 {
            s.push(b"abcdefghijklmnopqrstuvwxyz0123456789"[(next() % 36) as usize] as char);
        }
        s.push('.');
    }
    s.push_str(["com", "net", "org", "io", "de"][(next() % 5) as usize]);
    s
}

fn name(s: &str) -> Name {
    Name::from_text(s).unwrap()
}

fn query(s: &str) -> Query {
    Query {
        id: 1,
        qtype: TYPE_A,
        qclass: 1,
        name: name(s),
        question_end: 0,
        edns: None,
        ..Query::default()
    }
}

fn policy_lookup(c: &mut Criterion) {
    // A site's worth of policies: a few jails, some client LANs, a default.
    let mut policies = vec![Policy {
        sources: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        action: Action::Refuse,
        block: GroupMask::DEFAULT,
        line: 1,
    }];
    for i in 0..16u8 {
        let sources: Vec<IpNet> = vec![
            format!("10.10.{i}.0/28").parse().unwrap(),
            format!("192.168.{i}.0/24").parse().unwrap(),
            format!("fd00:{i}::/64").parse().unwrap(),
        ];
        policies.push(Policy {
            sources,
            action: Action::Identity,
            block: GroupMask::DEFAULT,
            line: 2 + usize::from(i),
        });
    }
    let table = PolicyTable::new(policies);
    let mut g = c.benchmark_group("policy_lookup");
    g.throughput(Throughput::Elements(1));
    for (label, addr) in [
        ("v4_first_match", "10.10.0.5"),
        ("v4_last_match", "192.168.15.7"),
        ("v4_default", "203.0.113.9"),
        ("v6", "fd00:f::1"),
    ] {
        let addr: IpAddr = addr.parse().unwrap();
        assert!(table.lookup(addr).is_some());
        g.bench_function(label, |b| b.iter(|| table.lookup(black_box(addr))));
    }
    g.finish();
}

fn blocklist_lookup(c: &mut Criterion) {
    let mut b = DomainSetBuilder::default();
    for i in 0..DOMAINS {
        b.insert(&name(&domain(i)), 0);
    }
    let set: DomainSet = b.build();
    let hit = name(&domain(12345));
    let below = name(&format!("www.cdn.{}", domain(777)));
    let miss = name("www.not-listed-anywhere.example.com");
    assert!(set.lookup(&hit).is_some() && set.lookup(&below).is_some());
    assert!(set.lookup(&miss).is_none());
    let mut g = c.benchmark_group("blocklist_lookup_1m");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hit", |bch| bch.iter(|| set.lookup(black_box(&hit))));
    g.bench_function("hit_2_below", |bch| {
        bch.iter(|| set.lookup(black_box(&below)))
    });
    g.bench_function("miss_4_labels", |bch| {
        bch.iter(|| set.lookup(black_box(&miss)))
    });
    g.finish();
}

fn write_file(dir: &Path, file: &str, lines: impl Iterator<Item = String>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(file)).unwrap());
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn engine_decide(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "block.txt", (0..DOMAINS).map(domain));
    write_file(
        dir.path(),
        "static.hosts",
        (0..1000).map(|i| format!("10.1.{}.{} s{i}.static.bench", i / 250, i % 250 + 1)),
    );
    let path = dir.path().join("vpndns.toml");
    let src = r#"
[server]
listen = ["127.0.0.1:5353"]

[[forwarder]]
name = "up"
address = "127.0.0.1:5301"

[[policy]]
source = ["127.0.0.0/8", "10.0.0.0/8"]
forward = "up"

[[policy]]
source = ["10.10.1.0/28"]
forward = "source"

[[domain]]
suffix = ["corp.example"]
forward = ["up"]

[static]
files = ["static.hosts"]

[block]
lists = ["block.txt"]
local_only = ["localdomain", "home.arpa"]
response = "null"

[log]
queries = false
"#;
    std::fs::write(&path, src).unwrap();
    let engine = Engine::build(Config::load(&path).unwrap()).unwrap();
    let client: IpAddr = "127.0.0.1".parse().unwrap();
    let mut g = c.benchmark_group("engine_decide");
    g.throughput(Throughput::Elements(1));
    for (label, q, want) in [
        ("forward", query("www.example.org"), "forwarded"),
        ("forward_domain_rule", query("x.corp.example"), "forwarded"),
        ("static", query("s500.static.bench"), "static"),
        (
            "blocked",
            query(&format!("ads.{}", domain(4242))),
            "blocked",
        ),
        ("local_only", query("printer.localdomain"), "local_only"),
    ] {
        assert_eq!(engine.decide(client, &q).action(), want, "{label}");
        g.bench_function(label, |b| {
            b.iter(|| {
                let d: Decision<'_> = engine.decide(black_box(client), black_box(&q));
                black_box(d.action())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, policy_lookup, blocklist_lookup, engine_decide);
criterion_main!(benches);
