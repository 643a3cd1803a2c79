//! The high-availability part of the site check: `[site.monitor]`,
//! `[site] anycast` and replicated vpn jails (docs/ha.md). May touch: nothing.

use super::{Checker, is_dns_name};
use crate::deploy::model::{Anycast, Jail, JailKind, MonitorSettings, Replication, Site};
use crate::deploy::site::{S, SiteFile};
use crate::parse::parse_duration;
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;

impl Checker<'_> {
    /// `[site.monitor]`, with defaults for what is not given.
    pub(super) fn monitor(&mut self, f: &SiteFile) -> MonitorSettings {
        let mut m = MonitorSettings::default();
        let Some(d) = &f.site.monitor else {
            return m;
        };
        let d = d.get_ref();
        let dur = |c: &mut Self, v: &Option<S<String>>, key: &str, min_ms: u64| {
            let v = v.as_ref()?;
            match parse_duration(v.get_ref()) {
                Some(t) if t.as_millis() >= u128::from(min_ms) && t.as_secs() <= 3600 => Some(t),
                _ => {
                    c.err(
                        v.span(),
                        format!("site.monitor.{key}"),
                        format!(
                            "{:?}: expected a duration from {min_ms}ms to 1h such as \"1s\" or \"500ms\"",
                            v.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        if let Some(t) = dur(self, &d.interval, "interval", 100) {
            m.interval = t;
        }
        if let Some(t) = dur(self, &d.hold_down, "hold_down", 0) {
            m.hold_down = t;
        }
        if let Some(n) = &d.fail_after {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if (1..=100).contains(&v) => m.fail_after = v,
                _ => self.err(
                    n.span(),
                    "site.monitor.fail_after",
                    format!("{}: expected 1..100 consecutive failed checks", n.get_ref()),
                ),
            }
        }
        if let Some(b) = &d.failback {
            m.failback = *b.get_ref();
        }
        if let Some(n) = &d.probe_name {
            if is_dns_name(n.get_ref()) {
                m.probe_name = n.get_ref().to_ascii_lowercase();
            } else {
                self.err(
                    n.span(),
                    "site.monitor.probe_name",
                    format!("{:?} is not a domain name", n.get_ref()),
                );
            }
        }
        m
    }

    /// `[site] anycast = { network, bridge, router }`.
    pub(super) fn anycast(
        &mut self,
        f: &SiteFile,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) -> Option<Anycast> {
        let a = f.site.anycast.as_ref()?;
        let d = a.get_ref();
        let bridge = self.ifname(&d.bridge, "site.anycast.bridge");
        let network = self.net(&d.network, "site.anycast.network")?;
        if network.prefix_len() > 29 {
            self.err(
                d.network.span(),
                "site.anycast.network",
                format!("{network} is too small: give a /29 or larger (the router, and per replica an address and an anycast address)"),
            );
            return None;
        }
        for hd in &f.host {
            let hb = hd.get_ref().bridge.get_ref();
            if hb.name.get_ref() == &bridge {
                self.err(
                    d.bridge.span(),
                    "site.anycast.bridge",
                    format!(
                        "{bridge:?} is already the bridge of host {:?}; the anycast bridge is a second one (such as \"vjbr1\")",
                        hd.get_ref().name.get_ref()
                    ),
                );
            }
            if let Ok(n) = hb.network.get_ref().parse::<Ipv4Net>()
                && (n.contains(&network.network()) || network.contains(&n.network()))
            {
                self.err(
                    d.network.span(),
                    "site.anycast.network",
                    format!(
                        "{network} overlaps {n}, the bridge network of host {:?}",
                        hd.get_ref().name.get_ref()
                    ),
                );
            }
        }
        let router = match &d.router {
            Some(r) => {
                let a = self.addr(r, "site.anycast.router");
                if !a.is_unspecified()
                    && (!network.contains(&a) || a == network.network() || a == network.broadcast())
                {
                    self.err(
                        r.span(),
                        "site.anycast.router",
                        format!("{a} is not a host address of the anycast network {network}"),
                    );
                }
                self.unique_addr(addrs, a, r, "site.anycast.router");
                a
            }
            None => {
                let last = Ipv4Addr::from(u32::from(network.broadcast()) - 1);
                addrs.insert(last, "site.anycast.router".into());
                last
            }
        };
        Some(Anycast {
            network,
            bridge,
            router,
        })
    }

    /// Replicated vpn jails: `replicas` names existing hosts, once each,
    /// including the host the jail is written under; `anycast` (and the
    /// jail's `address`) lie in `[site] anycast`; routing is BGP. Each
    /// replica host gets a copy of the jail.
    pub(super) fn replicas(
        &mut self,
        f: &SiteFile,
        site: &mut Site,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) {
        let mut copies: Vec<(String, Jail)> = Vec::new();
        for (hd, hi) in f.host.iter().zip(0..site.hosts.len()) {
            let hname = site.hosts[hi].name.clone();
            for jd in &hd.get_ref().jail {
                let d = jd.get_ref();
                let Some(ji) = site.hosts[hi]
                    .jails
                    .iter()
                    .position(|j| j.name == *d.name.get_ref())
                else {
                    continue;
                };
                let jname = site.hosts[hi].jails[ji].name.clone();
                let k = |key: &str| format!("host[{hname}].jail[{jname}].{key}");
                let (reps, any) = match (&d.replicas, &d.anycast) {
                    (None, None) => {
                        if let Some(s) = &d.standby {
                            self.err(
                                s.span(),
                                k("standby"),
                                "standby applies only to a replicated vpn jail (replicas = [...])",
                            );
                        }
                        continue;
                    }
                    (Some(r), Some(a)) => (r, a),
                    (Some(r), None) => {
                        self.err(
                            r.span(),
                            k("anycast"),
                            "missing: a jail with replicas needs anycast = \"<address in [site] anycast network>\", the address its clients use",
                        );
                        continue;
                    }
                    (None, Some(a)) => {
                        self.err(
                            a.span(),
                            k("replicas"),
                            "missing: anycast needs replicas = [\"host\", ...], the hosts that run this jail in priority order",
                        );
                        continue;
                    }
                };
                if !matches!(site.hosts[hi].jails[ji].kind, JailKind::Vpn(_)) {
                    // `jail` already reported the key as not applying to the kind.
                    continue;
                }
                if !site.bgp {
                    self.err(
                        reps.span(),
                        k("replicas"),
                        "replicas need routing = \"bgp\" in [site]: BGP elects the replica that serves (docs/ha.md)",
                    );
                }
                let Some(net) = site.anycast.clone() else {
                    if f.site.anycast.is_none() {
                        self.err(
                            any.span(),
                            k("anycast"),
                            "there is no anycast network: add anycast = { network = \"10.10.200.0/24\", bridge = \"vjbr1\" } to [site]",
                        );
                    }
                    continue;
                };
                let mut names: Vec<String> = Vec::new();
                for r in reps.get_ref() {
                    let n = r.get_ref();
                    if site.host(n).is_none() {
                        let known: Vec<&str> = site.hosts.iter().map(|h| h.name.as_str()).collect();
                        self.err(
                            r.span(),
                            k("replicas"),
                            format!("no host named {n:?} (hosts: {})", known.join(", ")),
                        );
                    } else if names.contains(n) {
                        self.err(
                            r.span(),
                            k("replicas"),
                            format!("host {n:?} is listed twice"),
                        );
                    } else {
                        names.push(n.clone());
                    }
                }
                if reps.get_ref().len() < 2 {
                    self.err(
                        reps.span(),
                        k("replicas"),
                        "give at least two hosts, in priority order (the first is the primary)",
                    );
                }
                if !reps.get_ref().iter().any(|r| *r.get_ref() == hname) {
                    self.err(
                        reps.span(),
                        k("replicas"),
                        format!("the jail is written under host {hname:?}, which must be one of its replicas"),
                    );
                }
                let anycast = self.addr(any, &k("anycast"));
                let address = site.hosts[hi].jails[ji].address;
                for (a, v, key) in [(anycast, any, "anycast"), (address, &d.address, "address")] {
                    if a.is_unspecified() {
                        continue;
                    }
                    if !net.network.contains(&a)
                        || a == net.network.network()
                        || a == net.network.broadcast()
                    {
                        self.err(
                            v.span(),
                            k(key),
                            format!(
                                "{a} is not a host address of the anycast network {}",
                                net.network
                            ),
                        );
                    }
                }
                self.unique_addr(addrs, anycast, any, &k("anycast"));
                for h in &names {
                    if let Some(host) = site.host(h)
                        && host.ipsec_jail().is_none()
                    {
                        self.err(
                            reps.span(),
                            k("replicas"),
                            format!("host {h:?} has no ipsec jail, which routes to its replica"),
                        );
                    }
                }
                let rep = Replication {
                    anycast,
                    replicas: names.clone(),
                    standby: self.standby(d, &k, &site.hosts[hi].jails[ji]),
                };
                if let JailKind::Vpn(v) = &mut site.hosts[hi].jails[ji].kind {
                    v.replication = Some(rep);
                }
                let jail = site.hosts[hi].jails[ji].clone();
                for h in names.iter().filter(|h| **h != hname) {
                    copies.push((h.clone(), jail.clone()));
                }
            }
        }
        for (h, j) in copies {
            if let Some(host) = site.hosts.iter_mut().find(|x| x.name == h) {
                host.jails.push(j);
            }
        }
    }
}
