//! The vpnjail site file on arbitrary UTF-8: `check_text` returns a site or
//! located problems, never panics; a site it accepts renders for every host,
//! every vpndns config it generates is one vpndns accepts, and a plan can be
//! made for every jail.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vpndns::deploy::{check, plan, render};
use vpndns::proxy::config::Config;

fuzz_target!(|text: &str| {
    // Beside the examples, so the secret files they name resolve and
    // accepted sites go on to render and plan.
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fuzz-site.toml"));
    let site = match check::check_text(path, text) {
        Ok(site) => site,
        Err(problems) => {
            assert!(!problems.0.is_empty(), "an error names at least one problem");
            let _ = problems.to_string();
            return;
        }
    };
    for host in &site.hosts {
        let files = render::host(&site, &host.name).expect("a checked site renders");
        for f in files.iter().filter(|f| f.path.ends_with("vpndns.toml")) {
            if let Err(e) = Config::parse(Path::new("/x/vpndns.toml"), &f.content) {
                panic!("generated {} is refused by vpndns: {e}\n{}", f.path.display(), f.content);
            }
        }
        for jail in &host.jails {
            plan::create(&site, &jail.name, Some(&host.name)).expect("a checked site plans");
        }
    }
});
