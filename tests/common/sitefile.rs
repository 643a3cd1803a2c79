//! A builder for vpnjail site files in tests: the site, its hosts with their
//! jails, links, clients and the `[dns]` section, written out as TOML text
//! (so a test reads as the shape of its site, and the text is what vpnjail
//! parses). Included with `#[path = "common/sitefile.rs"] mod sitefile;`.
//!
//! ```ignore
//! let text = SiteFile::new(tag)
//!     .host(Host::linux(tag, "alpha", dir, "10.99.0.1", 1)
//!         .jail(Table::jail("ipsec", "ipsec", "10.10.1.4")))
//!     .to_string();
//! ```

#![allow(dead_code)]

use std::fmt;
use std::path::Path;

/// A value as TOML writes it.
pub trait Toml {
    fn toml(&self) -> String;
}

impl Toml for &str {
    fn toml(&self) -> String {
        format!("{self:?}")
    }
}

impl Toml for String {
    fn toml(&self) -> String {
        format!("{self:?}")
    }
}

impl Toml for bool {
    fn toml(&self) -> String {
        self.to_string()
    }
}

impl Toml for u32 {
    fn toml(&self) -> String {
        self.to_string()
    }
}

impl<T: Toml, const N: usize> Toml for [T; N] {
    fn toml(&self) -> String {
        let items: Vec<String> = self.iter().map(Toml::toml).collect();
        format!("[{}]", items.join(", "))
    }
}

/// A TOML value written as is (an inline table, say).
pub struct Raw<'a>(pub &'a str);

impl Toml for Raw<'_> {
    fn toml(&self) -> String {
        self.0.to_string()
    }
}

/// The keys of one table, in order.
#[derive(Clone, Default)]
pub struct Table {
    keys: Vec<(String, String)>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// A `[[host.jail]]`: its name, kind and address.
    pub fn jail(name: &str, kind: &str, address: &str) -> Table {
        Table::new()
            .set("name", name)
            .set("kind", kind)
            .set("address", address)
    }

    /// A `[[link]]` between hosts `a` and `b` with strongSwan (`swanctl`).
    pub fn swanctl_link(a: &str, b: &str, reqid: u32) -> Table {
        Table::new()
            .set("hosts", [a, b])
            .set("mode", "swanctl")
            .set("reqid", reqid)
    }

    /// Sets `key` (the last setting wins, in the first one's place).
    pub fn set(mut self, key: &str, value: impl Toml) -> Table {
        let v = value.toml();
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.keys.push((key.to_string(), v)),
        }
        self
    }

    /// The keys and their values as TOML, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Appends the table to `out` under `header` (`[server]`, `[[link]]`).
    pub fn write(&self, header: &str, out: &mut String) {
        out.push_str(header);
        out.push('\n');
        for (k, v) in &self.keys {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push('\n');
    }
}

/// A `[[host]]` and its `[[host.jail]]`s.
#[derive(Clone)]
pub struct Host {
    keys: Table,
    jails: Vec<Table>,
}

impl Host {
    /// A host with only its name set.
    pub fn new(name: &str) -> Host {
        Host {
            keys: Table::new().set("name", name),
            jails: Vec::new(),
        }
    }

    /// A Linux host as the namespace tests build it: in namespace
    /// `vjh-<tag>-<name>`, `wan0` its external interface with `public`,
    /// bridge `vjbr0` on 10.10.`n`.0/24 (the host at .1), its jails under
    /// `dir/<name>`.
    pub fn linux(tag: &str, name: &str, dir: &Path, public: &str, n: u8) -> Host {
        let bridge = format!(
            "{{ name = \"vjbr0\", network = \"10.10.{n}.0/24\", address = \"10.10.{n}.1\" }}"
        );
        Host::new(name)
            .set("platform", "linux")
            .set("netns", format!("vjh-{tag}-{name}"))
            .set("external_if", "wan0")
            .set("public_address", public)
            .set("bridge", Raw(&bridge))
            .set("jail_root", dir.join(name).display().to_string())
    }

    pub fn set(mut self, key: &str, value: impl Toml) -> Host {
        self.keys = self.keys.set(key, value);
        self
    }

    pub fn jail(mut self, jail: Table) -> Host {
        self.jails.push(jail);
        self
    }
}

/// A site file: `[site]`, hosts, then the other sections in the order added.
#[derive(Clone)]
pub struct SiteFile {
    site: Table,
    hosts: Vec<Host>,
    /// (header, table) of every other section.
    sections: Vec<(String, Table)>,
}

impl SiteFile {
    /// `[site]` with `name`.
    pub fn new(name: &str) -> SiteFile {
        SiteFile {
            site: Table::new().set("name", name),
            hosts: Vec::new(),
            sections: Vec::new(),
        }
    }

    /// A key of `[site]` (`routing`, `redundancy`, `bfd`).
    pub fn set(mut self, key: &str, value: impl Toml) -> SiteFile {
        self.site = self.site.set(key, value);
        self
    }

    pub fn host(mut self, host: Host) -> SiteFile {
        self.hosts.push(host);
        self
    }

    /// A `[[link]]`.
    pub fn link(self, link: Table) -> SiteFile {
        self.section("[[link]]", link)
    }

    /// A `[[client]]` (a road warrior) of `host`.
    pub fn client(self, name: &str, host: &str, address: &str, exit: Option<&str>) -> SiteFile {
        let mut c = Table::new()
            .set("name", name)
            .set("host", host)
            .set("address", address);
        if let Some(e) = exit {
            c = c.set("exit", e);
        }
        self.section("[[client]]", c)
    }

    /// The `[dns]` table.
    pub fn dns(self, dns: Table) -> SiteFile {
        self.section("[dns]", dns)
    }

    /// A `[[dns.policy]]`.
    pub fn policy(self, policy: Table) -> SiteFile {
        self.section("[[dns.policy]]", policy)
    }

    fn section(mut self, header: &str, table: Table) -> SiteFile {
        self.sections.push((header.to_string(), table));
        self
    }
}

impl fmt::Display for SiteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.site.write("[site]", &mut out);
        for h in &self.hosts {
            h.keys.write("[[host]]", &mut out);
            for j in &h.jails {
                j.write("[[host.jail]]", &mut out);
            }
        }
        for (header, t) in &self.sections {
            t.write(header, &mut out);
        }
        f.write_str(&out)
    }
}
