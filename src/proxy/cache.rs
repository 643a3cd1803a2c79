//! The answer cache, keyed by the upstream that answered: an answer fetched
//! through one VPN is only ever served to clients whose route includes that
//! same upstream (the split-cache bug of AdGuard Home, Blocky and the original
//! vpndns cannot happen).
//!
//! Entries keep the response bytes as received (ID zeroed, TTLs clamped) and
//! the offsets of their TTL fields, so a hit is one copy plus a few in-place
//! writes: the client's ID, the client's question case, TTLs less the age.
//! Sharded and S3-FIFO evicted by `quick_cache`: bounded by entry count, and
//! lookups on different shards never wait for one another.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::sync::Cache as Shards;
use quick_cache::{DefaultHashBuilder, Equivalent, Lifecycle, UnitWeighter};

use super::config::CacheConfig;
use super::name::Name;
use super::wire::{self, Query, Rcode, TYPE_OPT, TYPE_SOA};

/// Query bits that change an answer: RD, CD, DO, AD (RFC 6840 §5.7: AD in
/// a query asks for AD in the answer), and whether EDNS was used. Whatever
/// else changes it keeps the query out of the cache (`Query::cacheable`).
pub fn query_flags(msg: &[u8], q: &Query) -> u8 {
    let rd = msg[2] & 0x01;
    let cd = (msg[3] & 0x10) >> 3;
    let ad = (msg[3] & 0x20) >> 1;
    let (edns, dnssec_ok) = match q.edns {
        Some(e) => (4, if e.dnssec_ok { 8 } else { 0 }),
        None => (0, 0),
    };
    rd | cd | edns | dnssec_ok | ad
}

/// A cache key, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    upstream: SocketAddr,
    qtype: u16,
    qclass: u16,
    flags: u8,
    name: Box<[u8]>,
}

/// The same key, borrowed from a parsed query: looked up without allocating.
/// Hashes exactly as [`Key`] does (both through [`hash_key`]).
#[derive(Debug)]
struct KeyRef<'a> {
    upstream: SocketAddr,
    qtype: u16,
    qclass: u16,
    flags: u8,
    name: &'a [u8],
}

/// The hash of a key: its name, then the rest packed into two integers
/// (the derived `Hash` of `SocketAddr` walked the enum field by field, 175
/// instructions a query in callgrind). Keys that are equal hash equally;
/// IPv6 flow label and scope, left out, only make a few unequal keys collide.
fn hash_key<H: Hasher>(
    state: &mut H,
    upstream: &SocketAddr,
    qtype: u16,
    qclass: u16,
    flags: u8,
    name: &[u8],
) {
    state.write(name);
    let ip = match upstream.ip() {
        IpAddr::V4(a) => u128::from(a.to_bits()) | 1 << 127,
        IpAddr::V6(a) => a.to_bits(),
    };
    state.write_u128(ip);
    state.write_u64(
        u64::from(upstream.port())
            | u64::from(qtype) << 16
            | u64::from(qclass) << 32
            | u64::from(flags) << 48,
    );
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(
            state,
            &self.upstream,
            self.qtype,
            self.qclass,
            self.flags,
            &self.name,
        );
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(
            state,
            &self.upstream,
            self.qtype,
            self.qclass,
            self.flags,
            self.name,
        );
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, k: &Key) -> bool {
        self.upstream == k.upstream
            && self.qtype == k.qtype
            && self.qclass == k.qclass
            && self.flags == k.flags
            && *self.name == *k.name
    }
}

/// A cached response.
#[derive(Debug)]
pub struct Entry {
    /// The response bytes, then the offset of each TTL field in them (two
    /// bytes each, big-endian): one allocation for both.
    data: Box<[u8]>,
    msg_len: u16,
    question_end: u16,
    stored: Instant,
    expires: Instant,
}

impl Entry {
    /// The stored response (ID zeroed, TTLs clamped).
    fn msg(&self) -> &[u8] {
        &self.data[..usize::from(self.msg_len)]
    }

    /// Offsets of the TTL fields in [`msg`](Self::msg).
    fn ttl_offsets(&self) -> impl Iterator<Item = usize> + '_ {
        self.data[usize::from(self.msg_len)..]
            .chunks_exact(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    /// Seconds left.
    pub fn ttl_left(&self, now: Instant) -> u64 {
        self.expires.saturating_duration_since(now).as_secs()
    }
}

/// Counts evictions.
#[derive(Clone, Default)]
struct Evictions(Arc<AtomicU64>);

impl Lifecycle<Key, Arc<Entry>> for Evictions {
    type RequestState = ();
    fn on_evict(&self, _: &mut (), _: Key, _: Arc<Entry>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The cache. `size = 0` makes every call a no-op.
pub struct Cache {
    shards: Option<Shards<Key, Arc<Entry>, UnitWeighter, DefaultHashBuilder, Evictions>>,
    config: CacheConfig,
    overrides: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    evictions: Evictions,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

/// One listed entry, for the control API.
#[derive(Debug, serde::Serialize)]
pub struct Listed {
    pub name: String,
    pub qtype: String,
    pub upstream: SocketAddr,
    pub ttl_left: u64,
    pub rcode: &'static str,
}

impl Cache {
    /// A cache as `config` says.
    pub fn new(config: &CacheConfig) -> Cache {
        let evictions = Evictions::default();
        let shards = (config.size > 0).then(|| {
            let size = config.size;
            let options = quick_cache::OptionsBuilder::new()
                .estimated_items_capacity(size)
                .weight_capacity(size as u64)
                .build()
                .expect("capacity and weight are both set");
            Shards::with_options(
                options,
                UnitWeighter,
                DefaultHashBuilder::default(),
                evictions.clone(),
            )
        });
        let overrides = config
            .ttl_override
            .iter()
            .map(|(n, t)| (n.wire().into(), *t))
            .collect();
        Cache {
            shards,
            config: config.clone(),
            overrides,
            evictions,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The settings this cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards.as_ref().map_or(0, |s| s.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted to make room.
    pub fn evictions(&self) -> u64 {
        self.evictions.0.load(Ordering::Relaxed)
    }

    /// Writes into `out` the answer cached from `upstream` for the client's
    /// query `msg` (parsed as `q`), if one is fresh and fits `limit` bytes.
    pub fn serve(
        &self,
        upstream: SocketAddr,
        msg: &[u8],
        q: &Query,
        limit: usize,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        self.answer(upstream, msg, q, limit, now, None, out)
    }

    /// As [`serve`](Self::serve), from an entry expired less than
    /// `serve_stale` ago, with every TTL `stale_ttl` (RFC 8767): for when
    /// every forwarder of the route failed. Off when `serve_stale` is zero.
    pub fn serve_stale(
        &self,
        upstream: SocketAddr,
        msg: &[u8],
        q: &Query,
        limit: usize,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        !self.config.serve_stale.is_zero()
            && self.answer(
                upstream,
                msg,
                q,
                limit,
                now,
                Some(self.config.stale_ttl),
                out,
            )
    }

    /// The lookup of `serve` and `serve_stale`: with `stale_ttl`, any entry
    /// still inside the stale window, else only a fresh one. An entry past
    /// the stale window is removed.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        upstream: SocketAddr,
        msg: &[u8],
        q: &Query,
        limit: usize,
        now: Instant,
        stale_ttl: Option<u32>,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(shards) = &self.shards else {
            return false;
        };
        let key = KeyRef {
            upstream,
            qtype: q.qtype,
            qclass: q.qclass,
            flags: query_flags(msg, q),
            name: q.name.wire(),
        };
        let Some(entry) = shards.get(&key) else {
            return false;
        };
        if now >= entry.expires {
            if now >= entry.expires + self.config.serve_stale {
                shards.remove(&key);
                return false;
            }
            if stale_ttl.is_none() {
                return false;
            }
        }
        if usize::from(entry.msg_len) > limit || entry.question_end as usize != q.question_end {
            return false;
        }
        out.clear();
        out.extend_from_slice(entry.msg());
        wire::set_id(out, q.id);
        out[wire::HEADER_LEN..q.question_end]
            .copy_from_slice(&msg[wire::HEADER_LEN..q.question_end]);
        let age = now
            .duration_since(entry.stored)
            .as_secs()
            .min(u64::from(u32::MAX)) as u32;
        for at in entry.ttl_offsets() {
            let ttl = u32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]);
            let ttl = match stale_ttl {
                Some(stale) => stale.min(ttl),
                None => ttl.saturating_sub(age),
            };
            out[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
        }
        true
    }

    /// Counts a lookup outcome.
    pub fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores `resp`, which `upstream` gave to the query `query` (the bytes as
    /// sent, parsed as `q`), if it is cacheable: NOERROR with answers, or a
    /// negative answer (NXDOMAIN, NODATA) with an SOA to time it (RFC 2308).
    /// Truncated answers, SERVFAIL and other errors are not stored.
    pub fn store(&self, upstream: SocketAddr, query: &[u8], q: &Query, resp: &[u8], now: Instant) {
        let Some(shards) = &self.shards else { return };
        let Some((data, lifetime)) = self.prepare(q, resp) else {
            return;
        };
        let key = Key {
            upstream,
            qtype: q.qtype,
            qclass: q.qclass,
            flags: query_flags(query, q),
            name: q.name.wire().into(),
        };
        let entry = Entry {
            data: data.into_boxed_slice(),
            msg_len: resp.len() as u16,
            question_end: q.question_end as u16,
            stored: now,
            expires: now + Duration::from_secs(u64::from(lifetime)),
        };
        shards.insert(key, Arc::new(entry));
    }

    /// The stored form of a response (its bytes, then its TTL offsets as in
    /// [`Entry`]) and how long it lives, or `None`. Two walks over the
    /// records instead of collecting them: no allocation but the result.
    fn prepare(&self, q: &Query, resp: &[u8]) -> Option<(Vec<u8>, u32)> {
        if wire::is_truncated(resp) || resp.len() > usize::from(u16::MAX) {
            return None;
        }
        let rcode = wire::rcode(resp);
        if rcode != Rcode::NoError as u8 && rcode != Rcode::NxDomain as u8 {
            return None;
        }
        let qend = wire::question_end(resp)?;
        if qend != q.question_end {
            return None;
        }
        // First walk: the answers' smallest TTL, the first SOA of the
        // authority section, how many TTLs will be stored.
        let mut answers = 0usize;
        let mut min_answer_ttl = u32::MAX;
        let mut soa = None;
        let mut stored = 0usize;
        wire::walk_records(resp, qend, |r| {
            if r.section == 0 {
                answers += 1;
                min_answer_ttl = min_answer_ttl.min(r.ttl);
            }
            if r.section == 1 && r.rtype == TYPE_SOA && soa.is_none() {
                soa = Some(r);
            }
            stored += usize::from(r.rtype != TYPE_OPT);
        })?;
        let negative = rcode == Rcode::NxDomain as u8 || answers == 0;
        let (lo, hi) = (self.config.min_ttl, self.config.max_ttl);
        let forced = self.override_for(&q.name);
        let lifetime = if negative {
            let soa = soa?;
            let minimum = wire::soa_minimum(resp, soa.rdata_at, soa.rdata_len)?;
            forced.unwrap_or(soa.ttl.min(minimum).min(self.config.negative_ttl))
        } else {
            forced.unwrap_or(min_answer_ttl.clamp(lo, hi))
        };
        if lifetime == 0 {
            return None;
        }
        // Second walk: clamp each TTL in the copy and note where it is.
        let mut data = Vec::with_capacity(resp.len() + 2 * stored);
        data.extend_from_slice(resp);
        wire::set_id(&mut data, 0);
        wire::walk_records(resp, qend, |r| {
            if r.rtype == TYPE_OPT {
                return;
            }
            let ttl = match forced {
                Some(t) => t,
                None if negative => r.ttl.min(lifetime),
                None => r.ttl.clamp(lo, hi),
            };
            data[r.ttl_at..r.ttl_at + 4].copy_from_slice(&ttl.to_be_bytes());
            // After the message, so its offsets stay put; ttl_at <
            // resp.len() <= u16::MAX, checked above.
            data.extend_from_slice(&(r.ttl_at as u16).to_be_bytes());
        })?;
        Some((data, lifetime))
    }

    /// Rewrites every record TTL of `resp` (an answer to `q`) to the forced
    /// TTL of `ttl_override`, if one covers the name, so clients see it on the
    /// first answer as on cached ones.
    pub fn apply_override(&self, q: &Query, resp: &mut [u8]) {
        let Some(ttl) = self.override_for(&q.name) else {
            return;
        };
        let mut at = Vec::new();
        if wire::walk_records(resp, q.question_end, |r| {
            if r.rtype != TYPE_OPT {
                at.push(r.ttl_at)
            }
        })
        .is_some()
        {
            for i in at {
                resp[i..i + 4].copy_from_slice(&ttl.to_be_bytes());
            }
        }
    }

    /// The forced TTL of the longest `ttl_override` suffix of `name`.
    pub fn override_for(&self, name: &Name) -> Option<u32> {
        if self.overrides.is_empty() {
            return None;
        }
        name.suffixes().find_map(|s| self.overrides.get(s).copied())
    }

    /// Drops every entry.
    pub fn flush(&self) {
        if let Some(s) = &self.shards {
            s.clear();
        }
    }

    /// Drops every entry for `name` (any upstream, type or flags); how many.
    pub fn remove_name(&self, name: &Name) -> usize {
        let Some(shards) = &self.shards else { return 0 };
        let removed = std::sync::atomic::AtomicUsize::new(0);
        shards.retain(|k, _| {
            let keep = *k.name != *name.wire();
            removed.fetch_add(usize::from(!keep), Ordering::Relaxed);
            keep
        });
        removed.into_inner()
    }

    /// Fresh entries, optionally only those for `name`, at most `max`.
    pub fn list(&self, name: Option<&Name>, max: usize, now: Instant) -> Vec<Listed> {
        let Some(shards) = &self.shards else {
            return Vec::new();
        };
        shards
            .iter()
            .filter(|(k, e)| name.is_none_or(|n| *k.name == *n.wire()) && e.expires > now)
            .take(max)
            .filter_map(|(k, e)| {
                let (n, _) = Name::from_wire(&[&k.name[..], &[0]].concat(), 0).ok()?;
                Some(Listed {
                    name: n.to_string(),
                    qtype: hickory_proto::rr::RecordType::from(k.qtype).to_string(),
                    upstream: k.upstream,
                    ttl_left: e.ttl_left(now),
                    rcode: wire::Rcode::name_of(wire::rcode(e.msg())),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::wire::{TYPE_A, parse_query, tests::query};

    fn config(size: usize) -> CacheConfig {
        CacheConfig {
            size,
            ..CacheConfig::default()
        }
    }

    /// A response to `q` with one A record of `ttl`, or (if `ttl` is None) an
    /// NXDOMAIN with an SOA whose TTL is 900 and MINIMUM `soa_min`.
    fn response(q: &[u8], ttl: Option<u32>, soa_min: u32) -> Vec<u8> {
        let qend = parse_query(q).unwrap().question_end;
        let mut r = q[..qend].to_vec();
        r[2] |= 0x80;
        r[3] = 0x80;
        r[10] = 0;
        r[11] = 0;
        match ttl {
            Some(ttl) => {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
                r.extend_from_slice(&ttl.to_be_bytes());
                r.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
            }
            None => {
                r[3] |= 3;
                r[9] = 1;
                r.extend_from_slice(&[0, 0, 6, 0, 1]);
                r.extend_from_slice(&900u32.to_be_bytes());
                let mut rdata = vec![0, 0]; // root mname and rname
                rdata.extend_from_slice(&[0; 16]);
                rdata.extend_from_slice(&soa_min.to_be_bytes());
                r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                r.extend_from_slice(&rdata);
            }
        }
        r
    }

    fn ttls(msg: &[u8]) -> Vec<u32> {
        let qend = wire::question_end(msg).unwrap();
        let mut v = Vec::new();
        wire::walk_records(msg, qend, |r| v.push(r.ttl)).unwrap();
        v
    }

    const VPN_A: &str = "10.10.1.2:53";
    const VPN_B: &str = "10.10.1.3:53";

    #[test]
    fn answers_are_kept_per_upstream() {
        let cache = Cache::new(&config(100));
        let q = query("www.example.com", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        let t0 = Instant::now();
        cache.store(
            VPN_A.parse().unwrap(),
            &q,
            &pq,
            &response(&q, Some(300), 0),
            t0,
        );
        let mut out = Vec::new();
        assert!(
            !cache.serve(VPN_B.parse().unwrap(), &q, &pq, 512, t0, &mut out),
            "never across upstreams"
        );
        assert!(cache.serve(VPN_A.parse().unwrap(), &q, &pq, 512, t0, &mut out));
        assert_eq!(ttls(&out), vec![300]);
    }

    #[test]
    fn hits_restore_id_and_case_and_age_the_ttl() {
        let cache = Cache::new(&config(100));
        let q = query("www.example.com", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        let t0 = Instant::now();
        cache.store(
            VPN_A.parse().unwrap(),
            &q,
            &pq,
            &response(&q, Some(300), 0),
            t0,
        );
        let mut other = query("WWW.Example.COM", TYPE_A, None);
        other[0] = 0x77;
        let po = parse_query(&other).unwrap();
        let mut out = Vec::new();
        assert!(cache.serve(
            VPN_A.parse().unwrap(),
            &other,
            &po,
            512,
            t0 + Duration::from_secs(100),
            &mut out
        ));
        assert_eq!(&out[..2], &[0x77, 0x34]);
        assert_eq!(&out[12..po.question_end], &other[12..po.question_end]);
        assert_eq!(ttls(&out), vec![200]);
        assert!(
            !cache.serve(
                VPN_A.parse().unwrap(),
                &other,
                &po,
                512,
                t0 + Duration::from_secs(300),
                &mut out
            ),
            "expired"
        );
        assert_eq!(cache.len(), 1, "an expired entry is kept for serve-stale");
    }

    #[test]
    fn flags_are_part_of_the_key() {
        let cache = Cache::new(&config(100));
        let plain = query("a.example", TYPE_A, None);
        let dnssec = query("a.example", TYPE_A, Some((1232, true)));
        let (pp, pd) = (parse_query(&plain).unwrap(), parse_query(&dnssec).unwrap());
        let now = Instant::now();
        cache.store(
            VPN_A.parse().unwrap(),
            &plain,
            &pp,
            &response(&plain, Some(60), 0),
            now,
        );
        let mut out = Vec::new();
        assert!(!cache.serve(VPN_A.parse().unwrap(), &dnssec, &pd, 1232, now, &mut out));
    }

    #[test]
    fn min_max_and_override() {
        let cache = Cache::new(&CacheConfig {
            size: 100,
            min_ttl: 60,
            max_ttl: 3600,
            ttl_override: vec![(Name::from_text("pinned.example").unwrap(), 7)],
            ..CacheConfig::default()
        });
        let up: SocketAddr = VPN_A.parse().unwrap();
        let now = Instant::now();
        let mut out = Vec::new();
        for (name, ttl, want) in [
            ("low.example", 5, 60),
            ("high.example", 86_400, 3600),
            ("x.pinned.example", 300, 7),
        ] {
            let q = query(name, TYPE_A, None);
            let pq = parse_query(&q).unwrap();
            cache.store(up, &q, &pq, &response(&q, Some(ttl), 0), now);
            assert!(cache.serve(up, &q, &pq, 512, now, &mut out), "{name}");
            assert_eq!(ttls(&out), vec![want], "{name}");
        }
        let q = query("x.pinned.example", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        assert!(!cache.serve(up, &q, &pq, 512, now + Duration::from_secs(7), &mut out));
    }

    /// `Pipeline::relay` caches an answer after making it the client's (TTL override
    /// applied, the client's ID set): the entry is the one the raw answer
    /// gives, positive or negative, overridden or not.
    #[test]
    fn an_answer_as_relayed_is_cached_as_the_raw_one() {
        let config = CacheConfig {
            size: 100,
            min_ttl: 60,
            ttl_override: vec![(Name::from_text("pinned.example").unwrap(), 7)],
            ..CacheConfig::default()
        };
        let (raw, relayed) = (Cache::new(&config), Cache::new(&config));
        let up: SocketAddr = VPN_A.parse().unwrap();
        let now = Instant::now();
        for (name, ttl) in [
            ("x.pinned.example", Some(300)),
            ("gone.pinned.example", None),
            ("low.example", Some(5)),
            ("gone.example", None),
        ] {
            let q = query(name, TYPE_A, None);
            let pq = parse_query(&q).unwrap();
            let resp = response(&q, ttl, 30);
            raw.store(up, &q, &pq, &resp, now);
            let mut as_sent = resp.clone();
            relayed.apply_override(&pq, &mut as_sent);
            wire::set_id(&mut as_sent, 0x4242);
            relayed.store(up, &q, &pq, &as_sent, now);
            for later in [0, 5, 6, 7, 29, 30, 59, 60] {
                let at = now + Duration::from_secs(later);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let hit = raw.serve(up, &q, &pq, 512, at, &mut a);
                assert_eq!(
                    hit,
                    relayed.serve(up, &q, &pq, 512, at, &mut b),
                    "{name} +{later}s"
                );
                assert_eq!(a, b, "{name} +{later}s");
            }
        }
    }

    #[test]
    fn negative_answers_live_by_the_soa_minimum_bounded_by_negative_ttl() {
        let cache = Cache::new(&CacheConfig {
            size: 100,
            negative_ttl: 120,
            ..CacheConfig::default()
        });
        let up: SocketAddr = VPN_A.parse().unwrap();
        let now = Instant::now();
        let mut out = Vec::new();
        let q = query("gone.example", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        cache.store(up, &q, &pq, &response(&q, None, 30), now);
        assert!(cache.serve(up, &q, &pq, 512, now + Duration::from_secs(29), &mut out));
        assert_eq!(wire::rcode(&out), 3);
        assert!(!cache.serve(up, &q, &pq, 512, now + Duration::from_secs(30), &mut out));
        let q2 = query("long.example", TYPE_A, None);
        let pq2 = parse_query(&q2).unwrap();
        cache.store(up, &q2, &pq2, &response(&q2, None, 86_400), now);
        assert!(cache.serve(up, &q2, &pq2, 512, now + Duration::from_secs(119), &mut out));
        assert_eq!(ttls(&out), vec![1], "the SOA's TTL is bounded and aged too");
        assert!(!cache.serve(up, &q2, &pq2, 512, now + Duration::from_secs(120), &mut out));
    }

    #[test]
    fn not_cached_truncated_servfail_or_negative_without_soa() {
        let cache = Cache::new(&config(100));
        let up: SocketAddr = VPN_A.parse().unwrap();
        let q = query("a.example", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        let now = Instant::now();
        let mut tc = response(&q, Some(60), 0);
        tc[2] |= 0x02;
        let mut servfail = response(&q, Some(60), 0);
        servfail[3] = (servfail[3] & 0xf0) | 2;
        let mut nodata_no_soa = q[..pq.question_end].to_vec();
        nodata_no_soa[2] |= 0x80;
        for r in [tc, servfail, nodata_no_soa] {
            cache.store(up, &q, &pq, &r, now);
        }
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn bounded_by_size_with_evictions_counted() {
        let cache = Cache::new(&config(64));
        let up: SocketAddr = VPN_A.parse().unwrap();
        let now = Instant::now();
        for i in 0..500 {
            let q = query(&format!("n{i}.example"), TYPE_A, None);
            let pq = parse_query(&q).unwrap();
            cache.store(up, &q, &pq, &response(&q, Some(60), 0), now);
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        assert!(cache.evictions() >= 400, "{}", cache.evictions());
        let name = Name::from_text("n499.example").unwrap();
        assert_eq!(
            cache.list(Some(&name), 10, now).len(),
            cache.remove_name(&name)
        );
        cache.flush();
        assert!(cache.is_empty());
    }

    #[test]
    fn expired_entries_serve_stale_only_when_asked_and_only_in_the_window() {
        let cache = Cache::new(&CacheConfig {
            serve_stale: Duration::from_secs(60),
            stale_ttl: 30,
            ..config(100)
        });
        let q = query("www.example.com", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        let (a, b) = (VPN_A.parse().unwrap(), VPN_B.parse().unwrap());
        let t0 = Instant::now();
        cache.store(a, &q, &pq, &response(&q, Some(300), 0), t0);
        let mut out = Vec::new();
        let later = t0 + Duration::from_secs(310);
        assert!(!cache.serve(a, &q, &pq, 512, later, &mut out), "expired");
        assert!(cache.serve_stale(a, &q, &pq, 512, later, &mut out));
        assert_eq!(ttls(&out), vec![30]);
        assert!(
            !cache.serve_stale(b, &q, &pq, 512, later, &mut out),
            "only the upstream that answered"
        );
        let gone = t0 + Duration::from_secs(361);
        assert!(!cache.serve_stale(a, &q, &pq, 512, gone, &mut out));
        assert!(cache.is_empty(), "removed past the stale window");
        let off = Cache::new(&CacheConfig {
            serve_stale: Duration::ZERO,
            ..config(100)
        });
        off.store(a, &q, &pq, &response(&q, Some(300), 0), t0);
        assert!(!off.serve_stale(a, &q, &pq, 512, later, &mut out));
    }

    #[test]
    fn size_zero_disables() {
        let cache = Cache::new(&config(0));
        let q = query("a.example", TYPE_A, None);
        let pq = parse_query(&q).unwrap();
        let now = Instant::now();
        cache.store(
            VPN_A.parse().unwrap(),
            &q,
            &pq,
            &response(&q, Some(60), 0),
            now,
        );
        assert!(!cache.serve(VPN_A.parse().unwrap(), &q, &pq, 512, now, &mut Vec::new()));
    }
}
