//! The wire parse of one query: `wire::parse_query`, as the UDP worker calls
//! it on every datagram.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vpndns::proxy::wire::parse_query;

/// A query for `name` type A; with `edns`, an OPT record (4096, DO) as
/// resolvers send it.
fn query(name: &str, edns: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]);
    }
    q
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_query");
    g.throughput(Throughput::Elements(1));
    for (label, name, edns) in [
        ("short", "example.com", false),
        ("typical_edns", "www.example.com", true),
        (
            "long_edns",
            "a-fairly-long-label.with.several.labels.cdn.example-content.net",
            true,
        ),
    ] {
        let msg = query(name, edns);
        assert!(parse_query(&msg).is_ok());
        g.bench_function(label, |b| b.iter(|| parse_query(black_box(&msg))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
