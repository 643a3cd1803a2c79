//! Blocklist lines: `blocklist::parse_line` on every line of arbitrary text.
//! Invariants: no panic; every blocked or allowed domain is a substring of
//! its line, is a valid name (`Name::from_text` accepts it) and is not an
//! address; a hosts line never blocks `localhost` (a plain line may).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpndns::proxy::blocklist::{Line, parse_line};
use vpndns::proxy::name::Name;

fn check(line: &str, domain: &str) {
    assert!(line.contains(domain), "{domain:?} not in {line:?}");
    assert!(Name::from_text(domain).is_ok(), "{domain:?} is not a name");
    let hosts = line
        .split_whitespace()
        .next()
        .is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok());
    assert!(
        !(hosts && domain.eq_ignore_ascii_case("localhost")),
        "{line:?}"
    );
    assert!(domain.parse::<std::net::IpAddr>().is_err());
}

fuzz_target!(|text: &str| {
    for line in text.split_inclusive('\n') {
        match parse_line(line) {
            Line::Nothing | Line::Skip(_) => {}
            Line::Allow(d) => check(line, d),
            Line::Block(names) => {
                assert!(!names.is_empty());
                names.iter().for_each(|d| check(line, d));
            }
        }
    }
});
