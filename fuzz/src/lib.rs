//! Shared fixtures for the fuzz targets: small engines built from in-memory
//! configs (one blocklist file written to a temporary folder once per process).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::LazyLock;

use vpndns::proxy::config::Config;
use vpndns::proxy::engine::Engine;

/// A config exercising every decision: identity, forward (v4 and v6), a
/// refuse policy, a domain rule, static records (one name with too many
/// addresses for 512 bytes), local-only suffixes, a blocklist with an
/// exception and an exempt client. `{response}` is the block response.
const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:5353"]
timeout = "1s"

[[forwarder]]
name = "a"
address = "10.9.0.1"

[[forwarder]]
name = "b"
address = "[fd00::2]:5353"

[[policy]]
source = ["10.10.1.0/28"]
forward = "source"

[[policy]]
source = ["192.168.10.0/29", "fd00:1::/64"]
forward = ["a", "b"]

[[policy]]
source = ["192.168.20.0/24"]
forward = "refuse"

[[domain]]
suffix = ["vpn.example"]
forward = "b"

[static]
records = { "nas.wan" = "10.10.1.20", "printer.wan" = ["10.10.1.21", "fd00::21"], "many.wan" = [MANY] }

[block]
lists = ["ads.txt"]
exempt = ["192.168.10.6"]
response = "RESPONSE"
local_only = ["localdomain", "home.arpa"]
"#;

const LIST: &str = "ads.example\n0.0.0.0 tracker.example b.example\n||ad.test^\n@@||ok.ads.example^\n*.wild.test\n";

/// Clients: identity policy, forward policy, exempt, refuse policy,
/// uncovered, IPv6 forward policy, IPv4-mapped IPv6.
pub const CLIENTS: [&str; 7] = [
    "10.10.1.5",
    "192.168.10.3",
    "192.168.10.6",
    "192.168.20.9",
    "203.0.113.7",
    "fd00:1::5",
    "::ffff:192.168.10.3",
];

/// The client address for selector `n`.
pub fn client(n: u8) -> IpAddr {
    CLIENTS[n as usize % CLIENTS.len()]
        .parse()
        .expect("a fixed address")
}

/// One engine per block response.
pub static ENGINES: LazyLock<Vec<Engine>> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("vpndns-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("ads.txt"), LIST).expect("list file");
    let many: Vec<String> = (1..=40).map(|i| format!("\"fd00::{i:x}\"")).collect();
    let engines = ["null", "nxdomain", "refused", "10.1.2.3", "fd00::99"]
        .iter()
        .map(|response| {
            let text = CONFIG
                .replace("RESPONSE", response)
                .replace("MANY", &many.join(", "));
            let path: PathBuf = dir.join("vpndns.toml");
            let config = Config::parse(&path, &text).expect("the fixed config parses");
            Engine::build(config).expect("the fixed engine builds")
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    engines
});
