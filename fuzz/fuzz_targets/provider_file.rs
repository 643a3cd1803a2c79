//! A VPN provider's files on arbitrary UTF-8: the WireGuard and OpenVPN
//! parsers return a file or located problems, never panic; a WireGuard file
//! they accept gives a wg-quick file (what FreeBSD installs) that parses
//! again to the same endpoints, addresses and peers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpndns::deploy::provider::{openvpn, wireguard};

fuzz_target!(|text: &str| {
    if let Err(e) = openvpn::parse(text) {
        assert!(!e.is_empty());
    }
    match wireguard::parse(text) {
        Ok(f) => {
            let again = wireguard::parse(&f.wg_quick())
                .unwrap_or_else(|e| panic!("wg_quick() is refused: {e:?}\n{}", f.wg_quick()));
            assert_eq!(again.endpoints, f.endpoints);
            assert_eq!(again.addresses, f.addresses);
            assert_eq!(again.allowed, f.allowed);
            assert_eq!(again.setconf, f.setconf);
        }
        Err(e) => assert!(!e.is_empty()),
    }
});
