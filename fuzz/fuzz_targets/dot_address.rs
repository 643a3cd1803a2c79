//! A `tls://` forwarder's address (`config::split_address`) on arbitrary
//! UTF-8: a host and a port, or an error naming the key, never a panic; the
//! host it returns is a literal address or a name of LDH labels, and is part
//! of the input. (Engine::build would go on to resolve a name: not fuzzed
//! here, so the fuzzer never asks the system resolver.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpndns::proxy::config::split_address;

fuzz_target!(|text: &str| {
    match split_address(text) {
        Ok((host, port)) => {
            assert!(port > 0);
            assert!(text.contains(host) && !host.is_empty());
            assert!(
                host.parse::<std::net::IpAddr>().is_ok()
                    || host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "{host:?}"
            );
        }
        Err(e) => assert!(e.starts_with("address: expected"), "{e}"),
    }
});
