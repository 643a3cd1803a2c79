//! The config parser on arbitrary UTF-8: `Config::parse` must return a
//! config or located problems, never panic; a config that names no files
//! and has no `tls://` forwarder is also built into an engine (which then
//! reads nothing from disk and asks no resolver).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vpndns::proxy::config::{Config, Transport};
use vpndns::proxy::engine::Engine;

fuzz_target!(|text: &str| {
    let path = Path::new("/nonexistent/vpndns-fuzz/vpndns.toml");
    match Config::parse(path, text) {
        Ok(config) => {
            let reads_files = !(config.block.lists.is_empty()
                && config.block.allow.is_empty()
                && config.block.groups.is_empty()
                && config.block.fetch.tls_ca.is_none()
                && config.statics.files.is_empty());
            // Building a tls:// forwarder reads its tls_ca and resolves its
            // host with the system resolver: no files or network from a fuzzer.
            let has_tls =
                (config.forwarders.iter()).any(|f| matches!(f.transport, Transport::Tls(_)));
            if !reads_files && !has_tls {
                let _ = Engine::build(config);
            }
        }
        Err(e) => {
            assert!(!e.0.is_empty(), "an error names at least one problem");
            for p in &e.0 {
                if let Some((line, col)) = p.line_col() {
                    assert!(line >= 1 && col >= 1);
                    assert!(
                        line <= text.lines().count().max(1) + 1,
                        "line {line} is past the end"
                    );
                }
            }
            let _ = e.to_string();
        }
    }
});
