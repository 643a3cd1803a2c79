//! The topology part of the site check: `[site] redundancy`, `routing` and
//! `bfd`, the hosts' AS numbers, the link graph's single points of failure,
//! and which hosts need an ipsec jail. May touch: nothing.

use super::{ASN_BASE, Checker, components, valid_asn};
use crate::deploy::model::{Bfd, Site};
use crate::deploy::site::{self, SiteFile};
use crate::parse::parse_duration;
use std::collections::HashMap;

impl Checker<'_> {
    /// `[site] redundancy`: 0 (default) or 1.
    pub(super) fn redundancy(&mut self, f: &SiteFile) -> u8 {
        match &f.site.redundancy {
            None => 0,
            Some(r) => {
                match *r.get_ref() {
                    0 => 0,
                    1 => 1,
                    n => {
                        self.err(
                        r.span(),
                        "site.redundancy",
                        format!("{n}: expected 0 (no requirement) or 1 (survive any one link failing)"),
                    );
                        0
                    }
                }
            }
        }
    }

    /// `[site] routing`: `"static"` (default) or `"bgp"`; redundancy needs bgp
    /// (static routes cannot go around a dead link).
    pub(super) fn routing(&mut self, f: &SiteFile) -> bool {
        let bgp = match &f.site.routing {
            None => false,
            Some(r) => match r.get_ref().as_str() {
                "static" => false,
                "bgp" => true,
                other => {
                    self.err(
                        r.span(),
                        "site.routing",
                        format!("{other:?}: expected \"static\" or \"bgp\""),
                    );
                    return false;
                }
            },
        };
        if !bgp
            && let Some(r) = &f.site.redundancy
            && *r.get_ref() == 1
        {
            self.err(
                r.span(),
                "site.redundancy",
                "redundancy = 1 needs routing = \"bgp\" (static routes cannot go around a dead link)",
            );
        }
        bgp
    }

    /// `[site] bfd`: on by default with BGP (100 ms × 3); `false` turns it
    /// off; it needs `routing = "bgp"` (BFD only speeds up BGP here).
    pub(super) fn bfd(&mut self, f: &SiteFile, bgp: bool) -> Option<Bfd> {
        let Some(b) = &f.site.bfd else {
            return bgp.then(Bfd::default);
        };
        let timers = match b.get_ref() {
            site::BfdDef::Enabled(false) => return None,
            site::BfdDef::Enabled(true) => None,
            site::BfdDef::Timers(t) => Some(t),
        };
        if !bgp {
            self.err(
                b.span(),
                "site.bfd",
                "BFD needs routing = \"bgp\" (it runs on the BGP sessions); remove it or set bfd = false",
            );
            return None;
        }
        let mut bfd = Bfd::default();
        let Some(t) = timers else {
            return Some(bfd);
        };
        if let Some(v) = &t.interval {
            // Whole milliseconds, as FRR takes them ("100ms" parses to 0.1 s).
            let ms = parse_duration(v.get_ref())
                .map(|d| (d.as_nanos() + 500_000) / 1_000_000)
                .and_then(|ms| u32::try_from(ms).ok());
            match ms {
                Some(ms) if (10..=60_000).contains(&ms) => bfd.interval_ms = ms,
                _ => self.err(
                    v.span(),
                    "site.bfd.interval",
                    format!(
                        "{:?}: expected a duration from 10ms to 60s such as \"100ms\" (FRR's range)",
                        v.get_ref()
                    ),
                ),
            }
        }
        if let Some(n) = &t.multiplier {
            match u8::try_from(*n.get_ref()) {
                Ok(m) if m >= 2 => bfd.multiplier = m,
                _ => self.err(
                    n.span(),
                    "site.bfd.multiplier",
                    format!(
                        "{}: expected 2..255 packets missed in a row before a session is down",
                        n.get_ref()
                    ),
                ),
            }
        }
        Some(bfd)
    }

    /// Every host's BGP AS number: as given, else [`ASN_BASE`] + its position
    /// (1-based) in the file. Duplicates are rejected.
    pub(super) fn asns(&mut self, f: &SiteFile, site: &mut Site) {
        let mut seen: HashMap<u32, String> = HashMap::new();
        for (i, (hd, host)) in f.host.iter().zip(site.hosts.iter_mut()).enumerate() {
            let d = hd.get_ref();
            let key = format!("host[{}].asn", host.name);
            let (asn, span) = match &d.asn {
                Some(a) => {
                    let n = *a.get_ref();
                    match u32::try_from(n) {
                        Ok(v) if valid_asn(v) => (v, a.span()),
                        _ => {
                            self.err(
                                a.span(),
                                &key,
                                format!("{n} is not a usable AS number (1..4294967294, not 23456 or 65535; private: 64512..65534, 4200000000..4294967294)"),
                            );
                            continue;
                        }
                    }
                }
                None => (
                    ASN_BASE.saturating_add(u32::try_from(i + 1).unwrap_or(u32::MAX)),
                    d.name.span(),
                ),
            };
            if let Some(other) = seen.get(&asn) {
                let msg = format!(
                    "AS {asn} is already the AS of host {other:?} (hosts without asn get {ASN_BASE} + their position)"
                );
                self.err(span, &key, msg);
            } else {
                seen.insert(asn, host.name.clone());
            }
            host.asn = asn;
        }
    }

    /// With `redundancy = 1`: the link graph must be connected and have no
    /// bridge (a link whose failure alone splits it).
    pub(super) fn single_points_of_failure(
        &mut self,
        f: &SiteFile,
        site: &Site,
        link_index: &[usize],
    ) {
        let names: Vec<&str> = site.hosts.iter().map(|h| h.name.as_str()).collect();
        let edges: Vec<[usize; 2]> = site
            .links
            .iter()
            .filter_map(|l| {
                let a = names.iter().position(|n| *n == l.hosts[0])?;
                let b = names.iter().position(|n| *n == l.hosts[1])?;
                Some([a, b])
            })
            .collect();
        let span = f.site.redundancy.as_ref().map(|r| r.span()).unwrap_or(0..0);
        let whole = components(names.len(), &edges, None);
        if names.len() > 1 && whole.iter().any(|&c| c != whole[0]) {
            let cut: Vec<&str> = names
                .iter()
                .zip(&whole)
                .filter(|(_, c)| **c != whole[0])
                .map(|(n, _)| *n)
                .collect();
            self.err(
                span,
                "site.redundancy",
                format!(
                    "redundancy = 1 but the links do not join all hosts: {} cannot reach {:?}",
                    cut.join(", "),
                    names[0]
                ),
            );
            return;
        }
        for (e, [a, b]) in edges.iter().enumerate() {
            let comp = components(names.len(), &edges, Some(e));
            if comp[*a] == comp[*b] {
                continue;
            }
            let side: Vec<&str> = names
                .iter()
                .zip(&comp)
                .filter(|(_, c)| **c == comp[*b])
                .map(|(n, _)| *n)
                .collect();
            let other: Vec<&str> = names
                .iter()
                .zip(&comp)
                .filter(|(_, c)| **c != comp[*b])
                .map(|(n, _)| *n)
                .collect();
            let i = link_index.get(e).copied().unwrap_or(e);
            let lspan = f.link.get(i).map(|l| l.span()).unwrap_or(span.clone());
            self.err(
                lspan,
                format!("link[{i}]"),
                format!(
                    "redundancy = 1: link {}–{} is a single point of failure; if it fails, hosts [{}] are cut off from [{}]. Add a link between the two groups.",
                    names[*a],
                    names[*b],
                    side.join(", "),
                    other.join(", ")
                ),
            );
        }
    }

    pub(super) fn hosts_need_ipsec(&mut self, f: &SiteFile, site: &Site) {
        for (hd, host) in f.host.iter().zip(&site.hosts) {
            if host.ipsec_jail().is_none()
                && site.links.iter().any(|l| l.hosts.contains(&host.name))
            {
                self.err(
                    hd.get_ref().name.span(),
                    format!("host[{}].jail", host.name),
                    "this host takes part in a [[link]] but has no jail of kind \"ipsec\"",
                );
            }
        }
    }
}
