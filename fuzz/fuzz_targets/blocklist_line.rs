//! List and hosts lines: `blocklist::parse_line` and
//! `statics::parse_hosts_line` on every line of arbitrary text, then the sets
//! built from what they accepted. Invariants: no panic; every blocked or
//! allowed domain is a substring of its line, a valid name (`Name::from_text`
//! accepts it) and not an address; a hosts-format list line never blocks
//! `localhost` (a plain line may); every blocked name is found in the built
//! `DomainSet` as listed itself (depth 0) and a name one label below it at
//! depth 0 or 1; every accepted hosts line's name answers its address from
//! `StaticRecords`, and the address's reverse name answers PTR.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use vpndns::proxy::blocklist::{Line, parse_line};
use vpndns::proxy::domainset::DomainSetBuilder;
use vpndns::proxy::name::Name;
use vpndns::proxy::statics::{self, Hit, StaticRecords};
use vpndns::proxy::wire::{TYPE_A, TYPE_AAAA, TYPE_PTR};

fn check(line: &str, domain: &str) -> Name {
    assert!(line.contains(domain), "{domain:?} not in {line:?}");
    assert!(domain.parse::<IpAddr>().is_err());
    let hosts = line
        .split_whitespace()
        .next()
        .is_some_and(|t| t.parse::<IpAddr>().is_ok());
    assert!(
        !(hosts && domain.eq_ignore_ascii_case("localhost")),
        "{line:?}"
    );
    Name::from_text(domain).unwrap_or_else(|e| panic!("{domain:?} is not a name: {e}"))
}

fuzz_target!(|text: &str| {
    let mut block = DomainSetBuilder::default();
    let mut blocked = Vec::new();
    let mut statics = StaticRecords::new(60);
    let mut hosts = Vec::new();
    for line in text.split_inclusive('\n') {
        match parse_line(line) {
            Line::Nothing | Line::Skip(_) => {}
            Line::Allow(d) => {
                check(line, d);
            }
            Line::Block(names) => {
                assert!(names.clone().next().is_some(), "a block line blocks something");
                for d in names {
                    let name = check(line, d);
                    block.insert(&name, 0);
                    blocked.push(name);
                }
            }
        }
        if let Ok(Some((addr, names))) = statics::parse_hosts_line(line) {
            assert!(!names.is_empty());
            for n in names {
                statics.add(&n, addr);
                hosts.push((n, addr));
            }
        }
    }
    let set = block.build();
    assert!(set.len() <= blocked.len());
    for name in &blocked {
        assert_eq!(set.lookup(name).map(|m| m.depth), Some(0), "{name}");
        let mut below = String::from("x.");
        below.push_str(&name.to_string());
        if let Ok(child) = Name::from_text(&below) {
            let depth = set.lookup(&child).map(|m| m.depth);
            assert!(matches!(depth, Some(0 | 1)), "{child}: {depth:?}");
        }
    }
    statics.add_reverse_records();
    for (name, addr) in &hosts {
        let found = match (
            statics.lookup(name, TYPE_A),
            statics.lookup(name, TYPE_AAAA),
            addr,
        ) {
            (Some(Hit::V4(a)), _, IpAddr::V4(x)) => a.contains(x),
            (_, Some(Hit::V6(a)), IpAddr::V6(x)) => a.contains(x),
            _ => false,
        };
        assert!(found, "{name} does not answer {addr}");
        if let Ok(reverse) = Name::from_text(&statics::reverse_name(*addr)) {
            assert!(
                matches!(
                    statics.lookup(&reverse, TYPE_PTR),
                    Some(Hit::Ptr(_)) | Some(Hit::NoData)
                ),
                "no PTR for {addr}"
            );
        }
    }
});
