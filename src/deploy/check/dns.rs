//! The DNS part of the site check: `[[dns.policy]]`, `[[dns.blocklist]]`
//! and the policies vpndns would reject as clashing. May touch: nothing.

use super::Checker;
use crate::deploy::model::{DnsBlocklist, DnsPolicy, JailKind, Site};
use crate::deploy::site::{self, S, SiteFile};
use crate::parse::parse_duration;
use crate::proxy::listconfig::{DEFAULT_GROUP, MIN_REFRESH};
use ipnet::Ipv4Net;
use std::collections::HashMap;

impl Checker<'_> {
    pub(super) fn dns_policy(
        &mut self,
        i: usize,
        p: &S<site::DnsPolicyDef>,
        site: &Site,
    ) -> Option<DnsPolicy> {
        let d = p.get_ref();
        let k = |key: &str| format!("dns.policy[{i}].{key}");
        let via = match d.via.get_ref() {
            site::OneOrMany::One(v) => vec![v.clone()],
            site::OneOrMany::Many(v) => v.clone(),
        };
        let mut ok = true;
        if via.is_empty() {
            self.err(d.via.span(), k("via"), "expected at least one vpn jail");
            ok = false;
        }
        for v in &via {
            if !site
                .jail(v)
                .is_some_and(|(_, j)| matches!(j.kind, JailKind::Vpn(_)))
            {
                self.err(
                    d.via.span(),
                    k("via"),
                    format!("{v:?} is not a vpn jail of this site"),
                );
                ok = false;
            }
        }
        let mut source = Vec::new();
        for s in d.source.get_ref() {
            match self.net(s, &k("source")) {
                Some(n) => source.push(n),
                None => ok = false,
            }
        }
        if source.is_empty() && ok {
            self.err(
                d.source.span(),
                k("source"),
                "expected at least one client network",
            );
            ok = false;
        }
        let mut block = None;
        if let Some(names) = &d.block {
            let mut chosen = Vec::new();
            for n in names.get_ref() {
                let name = n.get_ref();
                if name == DEFAULT_GROUP || site.dns_blocklists.iter().any(|b| &b.name == name) {
                    chosen.push(name.clone());
                } else {
                    self.err(
                        n.span(),
                        k("block"),
                        format!("no [[dns.blocklist]] named {name:?}"),
                    );
                    ok = false;
                }
            }
            block = Some(chosen);
        }
        ok.then_some(DnsPolicy { source, via, block })
    }

    /// `[[dns.blocklist]]`: names unique and well-formed, lists URLs or
    /// absolute paths (nothing else reaches the jail), refresh as vpndns reads it.
    pub(super) fn dns_blocklists(&mut self, f: &SiteFile, site: &mut Site) {
        for (i, b) in f.dns.blocklist.iter().enumerate() {
            let d = b.get_ref();
            let k = |key: &str| format!("dns.blocklist[{i}].{key}");
            let name = d.name.get_ref();
            if name.is_empty()
                || name == DEFAULT_GROUP
                || !name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                self.err(
                    d.name.span(),
                    k("name"),
                    format!("{name:?}: expected letters, digits, '_' or '-', and not \"{DEFAULT_GROUP}\""),
                );
            } else if site.dns_blocklists.iter().any(|o| &o.name == name) {
                self.err(
                    d.name.span(),
                    k("name"),
                    format!("{name:?} is defined twice"),
                );
            }
            if d.lists.get_ref().is_empty() {
                self.err(d.lists.span(), k("lists"), "expected at least one list");
            }
            for (key, entries) in [("lists", d.lists.get_ref()), ("allow", &d.allow)] {
                for e in entries {
                    let t = e.get_ref();
                    let url = t.starts_with("http://") || t.starts_with("https://");
                    if !url && !t.starts_with('/') {
                        self.err(
                            e.span(),
                            k(key),
                            format!("{t:?}: expected an http:// or https:// URL, or an absolute path in the vpndns jail"),
                        );
                    }
                }
            }
            if let Some(r) = &d.refresh
                && parse_duration(r.get_ref()).is_none_or(|d| d < MIN_REFRESH)
            {
                self.err(
                    r.span(),
                    k("refresh"),
                    format!(
                        "{:?}: expected a duration of at least 1m, such as \"24h\"",
                        r.get_ref()
                    ),
                );
            }
            // Kept even when wrong (the site is rejected anyway), so later
            // names and policies are checked against every name declared.
            let text = |v: &[S<String>]| v.iter().map(|s| s.get_ref().clone()).collect();
            site.dns_blocklists.push(DnsBlocklist {
                name: name.clone(),
                lists: text(d.lists.get_ref()),
                allow: text(&d.allow),
                refresh: d.refresh.as_ref().map(|r| r.get_ref().clone()),
            });
        }
    }

    /// vpndns rejects two policies with the identical CIDR: find them now.
    pub(super) fn policy_clashes(&mut self, f: &SiteFile, site: &Site) {
        for host in &site.hosts {
            if host.vpndns_jail().is_none() {
                continue;
            }
            let mut seen: HashMap<Ipv4Net, String> = HashMap::new();
            for j in &host.jails {
                let owner = match &j.kind {
                    JailKind::Vpn(_) => format!("the identity policy of vpn jail {:?}", j.name),
                    JailKind::Service { via: Some(v) } => {
                        format!("service jail {:?} (via {v:?})", j.name)
                    }
                    _ => continue,
                };
                seen.insert(Ipv4Net::from(j.address), owner);
            }
            for (i, p) in f.dns.policy.iter().enumerate() {
                for s in p.get_ref().source.get_ref() {
                    let Ok(n) = s.get_ref().parse::<Ipv4Net>() else {
                        continue;
                    };
                    if let Some(owner) = seen.get(&n) {
                        let msg = format!(
                            "{n} is already the source of {owner} in host {:?}'s vpndns config",
                            host.name
                        );
                        self.err(s.span(), format!("dns.policy[{i}].source"), msg);
                    } else {
                        seen.insert(n, format!("dns.policy[{i}]"));
                    }
                }
            }
        }
    }
}
