//! The links and keys part of the site check: `[[link]]` (inner addresses,
//! from `[site] link_network` when not given), its IPsec SPIs and keys, and
//! GRE. May touch: the key files the site names (read only).

use super::{Checker, Problem};
use crate::deploy::linknet;
use crate::deploy::model::{
    Cipher, Gre, JailKind, Link, LinkAuth, LinkMode, Platform, SaKey, Site,
};
use crate::deploy::site::{self, LinkDef, S, SiteFile};
use ipnet::Ipv4Net;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;

impl Checker<'_> {
    /// `[site] link_network`, and the inner addresses it gives the links
    /// without `inner`, in file order (see [`linknet::allocate`]).
    pub(super) fn link_inner(
        &mut self,
        f: &SiteFile,
        site: &Site,
        addrs: &HashMap<Ipv4Addr, String>,
    ) -> Vec<[Ipv4Addr; 2]> {
        let default = site::DEFAULT_LINK_NETWORK;
        let (net, span) = match &f.site.link_network {
            Some(v) => match self.net(v, "site.link_network") {
                Some(n) => (n, v.span()),
                None => return Vec::new(),
            },
            None => (default.parse().unwrap_or(Ipv4Net::default()), 0..0),
        };
        let wanted = f
            .link
            .iter()
            .filter(|l| l.get_ref().inner.is_none())
            .count();
        if wanted == 0 {
            return Vec::new();
        }
        for h in &site.hosts {
            let b = h.bridge.network;
            if b.contains(&net.network()) || net.contains(&b.network()) {
                self.err(
                    span.clone(),
                    "site.link_network",
                    format!("{net} overlaps {b}, the bridge network of host {:?}; set [site] link_network to a free private network", h.name),
                );
                return Vec::new();
            }
        }
        // Every address given explicitly anywhere stays out of the pool.
        let mut used: HashSet<Ipv4Addr> = addrs.keys().copied().collect();
        let explicit = f.link.iter().filter_map(|l| l.get_ref().inner.as_ref());
        let gre = f.gre.iter().map(|g| &g.get_ref().inner);
        for list in explicit.chain(gre) {
            used.extend(
                list.get_ref()
                    .iter()
                    .filter_map(|a| a.get_ref().parse::<Ipv4Addr>().ok()),
            );
        }
        match linknet::allocate(net, &used, wanted) {
            Ok(pairs) => pairs,
            Err(fit) => {
                self.err(
                    span,
                    "site.link_network",
                    format!("{net} has room for the inner addresses of {fit} links, but {wanted} links have no inner; use a larger network"),
                );
                Vec::new()
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn link(
        &mut self,
        i: usize,
        l: &S<LinkDef>,
        allocated: Option<[Ipv4Addr; 2]>,
        site: &Site,
        reqids: &mut HashMap<u16, usize>,
        spis: &mut HashSet<u32>,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) -> Option<Link> {
        let d = l.get_ref();
        let k = |key: &str| format!("link[{i}].{key}");
        let hs = d.hosts.get_ref();
        let mut ok = true;
        if hs.len() != 2 {
            self.err(
                d.hosts.span(),
                k("hosts"),
                "expected exactly two host names",
            );
            ok = false;
        } else if hs[0].get_ref() == hs[1].get_ref() {
            self.err(
                d.hosts.span(),
                k("hosts"),
                "a link joins two different hosts",
            );
            ok = false;
        }
        for h in hs {
            if site.host(h.get_ref()).is_none() {
                self.err(
                    h.span(),
                    k("hosts"),
                    format!("{:?} is not a [[host]] of this site", h.get_ref()),
                );
                ok = false;
            }
        }
        let inner: Vec<Ipv4Addr> = match &d.inner {
            Some(given) => {
                let inner: Vec<Ipv4Addr> = given
                    .get_ref()
                    .iter()
                    .map(|a| self.addr(a, &k("inner")))
                    .collect();
                if inner.len() != 2 || inner[0] == inner[1] {
                    self.err(given.span(), k("inner"), "expected two different addresses: the if_ipsec inner /32 of each host, in the order of hosts");
                    ok = false;
                } else {
                    for (a, v) in inner.iter().zip(given.get_ref()) {
                        self.unique_addr(addrs, *a, v, &k("inner"));
                    }
                }
                inner
            }
            // Allocated from [site] link_network; none means that failed (reported there).
            None => match allocated {
                Some(pair) => {
                    for a in pair {
                        addrs.insert(a, format!("{} (allocated from link_network)", k("inner")));
                    }
                    pair.to_vec()
                }
                None => return None,
            },
        };
        let reqid = *d.reqid.get_ref();
        if !(1..=16383).contains(&reqid) {
            self.err(
                d.reqid.span(),
                k("reqid"),
                format!("{reqid} is outside 1..16383 (FreeBSD if_ipsec reqids)"),
            );
            ok = false;
        } else if let Some(prev) = reqids.insert(reqid as u16, i) {
            self.err(
                d.reqid.span(),
                k("reqid"),
                format!("reqid {reqid} is already used by link[{prev}]"),
            );
        }
        let mode = match d.mode.get_ref().as_str() {
            "swanctl" => {
                for (key, span) in [
                    ("cipher", d.cipher.as_ref().map(|v| v.span())),
                    ("spi", d.spi.as_ref().map(|v| v.span())),
                    ("key_file", d.key_file.as_ref().map(|v| v.span())),
                ] {
                    if let Some(span) = span {
                        self.err(span, k(key), format!("{key} is only for mode = \"setkey\""));
                    }
                }
                match d.auth.as_ref().map(|a| (a.get_ref().as_str(), a)) {
                    Some(("pubkey", _)) => {
                        if let Some(p) = &d.psk_file {
                            self.err(
                                p.span(),
                                k("psk_file"),
                                "psk_file is only for auth = \"psk\"",
                            );
                        }
                        LinkMode::Swanctl {
                            auth: LinkAuth::Pubkey,
                        }
                    }
                    None | Some(("psk", _)) => {
                        let Some(pf) = &d.psk_file else {
                            self.err(l.span(), k("psk_file"), "missing: mode = \"swanctl\" needs psk_file, a file holding the pre-shared key (or auth = \"pubkey\")");
                            return None;
                        };
                        let (full, text) = self.secret(pf, &k("psk_file"))?;
                        let psk = text.trim().to_string();
                        if psk.len() < 16 || psk.contains(['"', '\\', '\n', '\r']) {
                            self.err(pf.span(), k("psk_file"), format!("{}: the key must be one line of at least 16 characters without '\"' or '\\'", full.display()));
                            return None;
                        }
                        LinkMode::Swanctl {
                            auth: LinkAuth::Psk(psk),
                        }
                    }
                    Some((other, a)) => {
                        self.err(
                            a.span(),
                            k("auth"),
                            format!("{other:?}: expected \"psk\" or \"pubkey\""),
                        );
                        return None;
                    }
                }
            }
            "setkey" => {
                if let Some(a) = &d.auth {
                    self.err(a.span(), k("auth"), "auth is only for mode = \"swanctl\"");
                }
                if let Some(p) = &d.psk_file {
                    self.err(
                        p.span(),
                        k("psk_file"),
                        "psk_file is only for mode = \"swanctl\"",
                    );
                }
                let cipher = match d.cipher.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
                    None | Some(("aes-gcm-16", _)) => Cipher::AesGcm16,
                    Some(("aes-cbc", _)) => Cipher::AesCbc,
                    Some((other, span)) => {
                        self.err(
                            span,
                            k("cipher"),
                            format!("{other:?}: expected \"aes-gcm-16\" or \"aes-cbc\""),
                        );
                        return None;
                    }
                };
                let spi = self.spis(d, &k("spi"), l.span(), spis)?;
                let Some(kf) = &d.key_file else {
                    self.err(l.span(), k("key_file"), "missing: mode = \"setkey\" needs key_file, two lines of hex keys (one per direction)");
                    return None;
                };
                let (full, text) = self.secret(kf, &k("key_file"))?;
                let keys = self.keys(cipher, &full, &text, kf, &k("key_file"))?;
                LinkMode::Setkey { cipher, spi, keys }
            }
            other => {
                self.err(
                    d.mode.span(),
                    k("mode"),
                    format!("{other:?}: expected \"swanctl\" or \"setkey\""),
                );
                return None;
            }
        };
        if !ok {
            return None;
        }
        Some(Link {
            hosts: [hs[0].get_ref().clone(), hs[1].get_ref().clone()],
            inner: [inner[0], inner[1]],
            reqid: reqid as u16,
            mode,
        })
    }

    pub(super) fn spis(
        &mut self,
        d: &LinkDef,
        key: &str,
        whole: Range<usize>,
        seen: &mut HashSet<u32>,
    ) -> Option<[u32; 2]> {
        let Some(spi) = &d.spi else {
            self.err(
                whole,
                key,
                "missing: mode = \"setkey\" needs spi = [OUT, IN], two SPIs greater than 255",
            );
            return None;
        };
        let v = spi.get_ref();
        if v.len() != 2 {
            self.err(
                spi.span(),
                key,
                "expected two SPIs: hosts[0]->hosts[1], then hosts[1]->hosts[0]",
            );
            return None;
        }
        let mut out = [0u32; 2];
        for (o, s) in out.iter_mut().zip(v) {
            let n = *s.get_ref();
            if n <= 255 || n > i64::from(u32::MAX) {
                self.err(
                    s.span(),
                    key,
                    format!(
                        "SPI {n} must be greater than 255 (0..255 are reserved) and fit 32 bits"
                    ),
                );
                return None;
            }
            *o = n as u32;
            if !seen.insert(*o) {
                self.err(s.span(), key, format!("SPI {n} is used twice in the site"));
            }
        }
        Some(out)
    }

    pub(super) fn keys(
        &mut self,
        cipher: Cipher,
        full: &Path,
        text: &str,
        v: &S<String>,
        key: &str,
    ) -> Option<[SaKey; 2]> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.len() != 2 {
            self.err(
                v.span(),
                key,
                format!(
                    "{}: expected two key lines (hosts[0]->hosts[1], then back), found {}",
                    full.display(),
                    lines.len()
                ),
            );
            return None;
        }
        let (enc_bits, want_auth): (&[usize], bool) = match cipher {
            Cipher::AesGcm16 => (&[160, 224, 288], false),
            Cipher::AesCbc => (&[128, 192, 256], true),
        };
        let mut keys = Vec::new();
        for (n, l) in lines {
            let words: Vec<&str> = l.split_whitespace().collect();
            let expect = if want_auth { 2 } else { 1 };
            let named_at = format!("{}:{}", self.file.display(), self.line(v.span().start));
            let mut bad = |what: String| {
                let message = format!("{what} (key file named at {named_at})");
                (self.problems).push(Problem::keyed(full, n, key, message));
            };
            if words.len() != expect {
                bad(format!(
                    "expected {expect} hex key(s) on this line for {}",
                    cipher.setkey_name()
                ));
                return None;
            }
            let hex = |w: &str| {
                let h = w.strip_prefix("0x").unwrap_or(w);
                (!h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| h.to_ascii_lowercase())
            };
            let Some(enc) = hex(words[0]) else {
                bad("the key is not hexadecimal".into());
                return None;
            };
            if !enc_bits.contains(&(enc.len() * 4)) {
                bad(format!(
                    "{} key is {} bits; {} needs {:?} bits",
                    cipher.setkey_name(),
                    enc.len() * 4,
                    cipher.setkey_name(),
                    enc_bits
                ));
                return None;
            }
            let auth = if want_auth {
                let Some(a) = hex(words[1]) else {
                    bad("the hmac-sha2-256 key is not hexadecimal".into());
                    return None;
                };
                if a.len() * 4 != 256 {
                    bad(format!(
                        "hmac-sha2-256 key is {} bits; it needs 256",
                        a.len() * 4
                    ));
                    return None;
                }
                Some(a)
            } else {
                None
            };
            keys.push(SaKey { enc, auth });
        }
        let b = keys.pop()?;
        let a = keys.pop()?;
        Some([a, b])
    }

    pub(super) fn gre(
        &mut self,
        i: usize,
        g: &S<site::GreDef>,
        site: &Site,
        addrs: &mut HashMap<Ipv4Addr, String>,
    ) -> Option<Gre> {
        let d = g.get_ref();
        let k = |key: &str| format!("gre[{i}].{key}");
        let jail = d.jail.get_ref().clone();
        let is_vpn = site
            .jail(&jail)
            .is_some_and(|(_, j)| matches!(j.kind, JailKind::Vpn(_)));
        if !is_vpn {
            self.err(
                d.jail.span(),
                k("jail"),
                format!("{jail:?} is not a vpn jail of this site"),
            );
        } else if site
            .jail(&jail)
            .is_some_and(|(_, j)| j.replication().is_some())
        {
            self.err(
                d.jail.span(),
                k("jail"),
                format!("{jail:?} is replicated on several hosts and a GRE tunnel has one far end; route the client to its anycast address instead (docs/ha.md)"),
            );
        }
        let remote = self.addr(&d.remote, &k("remote"));
        let inner: Vec<Ipv4Addr> = d
            .inner
            .get_ref()
            .iter()
            .map(|a| self.addr(a, &k("inner")))
            .collect();
        if inner.len() != 2 || inner[0] == inner[1] {
            self.err(
                d.inner.span(),
                k("inner"),
                "expected two different addresses: the jail's end, then the client's",
            );
            return None;
        }
        for (a, v) in inner.iter().zip(d.inner.get_ref()) {
            self.unique_addr(addrs, *a, v, &k("inner"));
        }
        if !is_vpn {
            return None;
        }
        if site
            .jail(&jail)
            .is_some_and(|(h, _)| h.platform == Platform::Linux)
        {
            self.err(
                d.jail.span(),
                k("jail"),
                format!("{jail:?} is on a linux host; [[gre]] is only built on freebsd hosts"),
            );
            return None;
        }
        let n = site.gres_of(&jail).count();
        Some(Gre {
            ifname: format!("gre{n}"),
            jail,
            remote,
            inner: [inner[0], inner[1]],
        })
    }
}
