//! A builder for vpndns config files in tests: `[server]` on an address of
//! the test's block, forwarders, policies and the other sections, written out
//! as TOML text (the text is what vpndns parses, so the builder does not
//! depend on the config structs).
//!
//! ```ignore
//! let config = Config::new(b.addr(1, 5353))
//!     .forwarder("up", up.addr)
//!     .policy(&b.net(), "up")
//!     .to_string();
//! ```

use std::fmt;
use std::net::SocketAddr;

pub use super::sitefile::{Raw, Table, Toml};

/// A vpndns config: `[server]` and `[log]` first, then the sections in
/// the order added.
#[derive(Clone)]
pub struct Config {
    server: Table,
    sections: Vec<(String, Table)>,
}

impl Config {
    /// `[server]` listening on `listen` with two workers, and every query
    /// logged (`[log] queries = true`): what the tests read back.
    pub fn new(listen: SocketAddr) -> Config {
        Config {
            server: Table::new()
                .set("listen", [listen.to_string()])
                .set("workers", 2u32),
            sections: vec![("[log]".into(), Table::new().set("queries", true))],
        }
    }

    /// A key of `[server]` (`timeout`, `identity_port`, `workers`).
    pub fn server(mut self, key: &str, value: impl Toml) -> Config {
        self.server = self.server.set(key, value);
        self
    }

    /// `[control]` listening on `listen`.
    pub fn control(self, listen: SocketAddr) -> Config {
        self.section("[control]", Table::new().set("listen", listen.to_string()))
    }

    /// A plain `[[forwarder]]` at `address`.
    pub fn forwarder(self, name: &str, address: impl fmt::Display) -> Config {
        self.forwarder_with(name, address, Table::new())
    }

    /// A plain `[[forwarder]]` at `address` and a `[[policy]]` sending the
    /// clients in `source` to it: the one-upstream shape most tests use.
    pub fn forward_to(self, name: &str, address: impl fmt::Display, source: &str) -> Config {
        self.forwarder(name, address).policy(source, name)
    }

    /// A `[[forwarder]]` at `address` with more keys (`tls_name`, `health`).
    pub fn forwarder_with(self, name: &str, address: impl fmt::Display, keys: Table) -> Config {
        let mut t = Table::new()
            .set("name", name)
            .set("address", address.to_string());
        for (k, v) in keys.entries() {
            t = t.set(k, Raw(v));
        }
        self.section("[[forwarder]]", t)
    }

    /// A `[[policy]]`: clients in `source` (a CIDR) forward to `forward`
    /// (a forwarder's name, a list of them, `"source"` or `"refuse"`).
    pub fn policy(self, source: &str, forward: impl Toml) -> Config {
        self.section(
            "[[policy]]",
            Table::new().set("source", [source]).set("forward", forward),
        )
    }

    /// `[static]` with `records` (an inline table, as TOML).
    pub fn static_records(self, records: &str) -> Config {
        self.section("[static]", Table::new().set("records", Raw(records)))
    }

    /// Any other section (`[cache]`, `[block]`, `[health]`).
    pub fn section(mut self, header: &str, table: Table) -> Config {
        self.sections.push((header.to_string(), table));
        self
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.server.write("[server]", &mut out);
        for (header, t) in &self.sections {
            t.write(header, &mut out);
        }
        f.write_str(&out)
    }
}
