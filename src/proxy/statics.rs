//! Static records: names the proxy answers itself (A, AAAA and, optionally,
//! the matching PTR), from the config and from hosts-format files.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::name::Name;
use super::wire::{TYPE_A, TYPE_AAAA, TYPE_PTR};

/// Addresses of one static name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

/// What the static table says about a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit<'a> {
    V4(&'a [Ipv4Addr]),
    V6(&'a [Ipv6Addr]),
    Ptr(&'a Name),
    /// The name exists here but has no record of the asked type.
    NoData,
}

/// The table, keyed by lowercase wire-format name.
#[derive(Debug, Default)]
pub struct StaticRecords {
    names: HashMap<Box<[u8]>, Addresses, foldhash::fast::RandomState>,
    ptrs: HashMap<Box<[u8]>, Name, foldhash::fast::RandomState>,
    /// TTL of every static answer.
    pub ttl: u32,
}

impl StaticRecords {
    /// An empty table answering with `ttl`.
    pub fn new(ttl: u32) -> StaticRecords {
        StaticRecords {
            ttl,
            ..StaticRecords::default()
        }
    }

    /// Adds an address to `name` (duplicates are ignored).
    pub fn add(&mut self, name: &Name, addr: IpAddr) {
        let entry = self.names.entry(name.wire().into()).or_default();
        match addr {
            IpAddr::V4(a) if !entry.v4.contains(&a) => entry.v4.push(a),
            IpAddr::V6(a) if !entry.v6.contains(&a) => entry.v6.push(a),
            _ => {}
        }
    }

    /// Adds a PTR record for every address, pointing at its first name.
    pub fn add_reverse_records(&mut self) {
        let mut sorted: Vec<(&Box<[u8]>, &Addresses)> = self.names.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut ptrs = Vec::new();
        for (wire, addrs) in sorted {
            let Ok((target, _)) = Name::from_wire(&[wire.as_ref(), &[0]].concat(), 0) else {
                continue;
            };
            let all = addrs.v4.iter().map(|&a| IpAddr::V4(a));
            for addr in all.chain(addrs.v6.iter().map(|&a| IpAddr::V6(a))) {
                if let Ok(reverse) = Name::from_text(&reverse_name(addr)) {
                    ptrs.push((reverse, target.clone()));
                }
            }
        }
        for (reverse, target) in ptrs {
            self.ptrs.entry(reverse.wire().into()).or_insert(target);
        }
    }

    /// Looks up a query's name and type.
    pub fn lookup(&self, name: &Name, qtype: u16) -> Option<Hit<'_>> {
        if let Some(addrs) = self.names.get(name.wire()) {
            return Some(match qtype {
                TYPE_A if !addrs.v4.is_empty() => Hit::V4(&addrs.v4),
                TYPE_AAAA if !addrs.v6.is_empty() => Hit::V6(&addrs.v6),
                _ => Hit::NoData,
            });
        }
        let target = self.ptrs.get(name.wire())?;
        Some(if qtype == TYPE_PTR {
            Hit::Ptr(target)
        } else {
            Hit::NoData
        })
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of PTR records.
    pub fn ptr_count(&self) -> usize {
        self.ptrs.len()
    }

    /// Every name with its addresses, sorted by name, for display.
    pub fn entries(&self) -> Vec<(String, &Addresses)> {
        let mut v: Vec<(String, &Addresses)> = self
            .names
            .iter()
            .filter_map(|(w, a)| {
                let (n, _) = Name::from_wire(&[w.as_ref(), &[0]].concat(), 0).ok()?;
                Some((n.to_string(), a))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The `in-addr.arpa` / `ip6.arpa` name of an address.
pub fn reverse_name(addr: IpAddr) -> String {
    let mut s = String::with_capacity(72);
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            let _ = write!(s, "{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]);
        }
        IpAddr::V6(a) => {
            for byte in a.octets().iter().rev() {
                let _ = write!(s, "{:x}.{:x}.", byte & 0x0f, byte >> 4);
            }
            s.push_str("ip6.arpa");
        }
    }
    s
}

/// One line of a hosts-format file: `address name [name...]`, `#` comments.
/// `Ok(None)` for blank and comment lines.
pub fn parse_hosts_line(line: &str) -> Result<Option<(IpAddr, Vec<Name>)>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut tokens = line.split_whitespace();
    let Some(first) = tokens.next() else {
        return Ok(None);
    };
    let addr: IpAddr = first.parse().map_err(|_| {
        format!("expected \"address name [name...]\", found {first:?} where the address should be")
    })?;
    let names = tokens
        .map(|t| Name::from_text(t).map_err(|e| format!("{t:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        return Err(format!("expected at least one name after {addr}"));
    }
    Ok(Some((addr, names)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_text(s).unwrap()
    }

    #[test]
    fn answers_by_type_with_nodata_for_the_rest() {
        let mut t = StaticRecords::new(300);
        t.add(&n("Printer.WAN"), "10.10.1.21".parse().unwrap());
        t.add(&n("printer.wan"), "fd00::21".parse().unwrap());
        t.add(&n("printer.wan"), "10.10.1.21".parse().unwrap());
        t.add_reverse_records();
        let v4: [Ipv4Addr; 1] = ["10.10.1.21".parse().unwrap()];
        assert_eq!(t.lookup(&n("printer.wan"), TYPE_A), Some(Hit::V4(&v4)));
        assert!(matches!(t.lookup(&n("printer.wan"), TYPE_AAAA), Some(Hit::V6(a)) if a.len() == 1));
        assert_eq!(t.lookup(&n("printer.wan"), 15), Some(Hit::NoData));
        assert_eq!(t.lookup(&n("other.wan"), TYPE_A), None);
        let target = n("printer.wan");
        assert_eq!(
            t.lookup(&n("21.1.10.10.in-addr.arpa"), TYPE_PTR),
            Some(Hit::Ptr(&target))
        );
        let v6rev = reverse_name("fd00::21".parse().unwrap());
        assert!(v6rev.starts_with("1.2.0.0.") && v6rev.ends_with(".0.d.f.ip6.arpa"));
        assert_eq!(t.lookup(&n(&v6rev), TYPE_PTR), Some(Hit::Ptr(&target)));
        assert_eq!(
            t.lookup(&n("21.1.10.10.in-addr.arpa"), TYPE_A),
            Some(Hit::NoData)
        );
        assert_eq!(t.ptr_count(), 2);
    }

    #[test]
    fn hosts_lines() {
        assert_eq!(parse_hosts_line("  # only a comment").unwrap(), None);
        let (a, names) = parse_hosts_line("10.0.0.1 a.wan b.wan # x")
            .unwrap()
            .unwrap();
        assert_eq!(a, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(names.len(), 2);
        assert!(
            parse_hosts_line("nas.wan 10.0.0.1")
                .unwrap_err()
                .contains("address")
        );
        assert!(parse_hosts_line("10.0.0.1").is_err());
    }
}
