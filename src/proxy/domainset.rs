//! A compact set of domains that matches a name and every name below it.
//!
//! Each domain is kept as a 64-bit keyed hash of its lowercase wire form, in
//! one sorted array with a radix index on the top bits: about 10 bytes per
//! domain, built off the serving path, and a lookup probes one small range per
//! suffix of the query name. Two different names share a hash with odds of
//! about n/2^64 per probe (for a million domains, one in 10^13).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use super::name::Name;

/// Where a name matched: which suffix of it is the listed domain, and which
/// source (list file) listed it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Number of labels dropped from the left of the query name to reach the
    /// listed domain (0: the name itself is listed).
    pub depth: usize,
    /// Index of the source that listed it.
    pub source: u16,
}

/// Accumulates domains; [`DomainSetBuilder::build`] sorts them into a set.
#[derive(Default)]
pub struct DomainSetBuilder {
    state: RandomState,
    entries: Vec<(u64, u16)>,
}

impl DomainSetBuilder {
    /// Adds `name` (and so everything below it), listed by `source`.
    pub fn insert(&mut self, name: &Name, source: u16) {
        let h = self.state.hash_one(name.wire());
        self.entries.push((h, source));
    }

    /// Sorts and deduplicates, keeping the first source of each domain.
    pub fn build(mut self) -> DomainSet {
        self.entries.sort_unstable();
        self.entries.dedup_by_key(|e| e.0);
        let n = self.entries.len();
        // About 16 entries a bucket: log2(n) - 4 index bits, at most 20.
        let bits = (usize::BITS - n.leading_zeros()).saturating_sub(4).min(20);
        let shift = 64 - bits;
        let mut index = vec![0u32; (1 << bits) + 1];
        let mut hashes = Vec::with_capacity(n);
        let mut sources = Vec::with_capacity(n);
        for &(h, s) in &self.entries {
            index[bucket(h, shift) + 1] += 1;
            hashes.push(h);
            sources.push(s);
        }
        for i in 1..index.len() {
            index[i] += index[i - 1];
        }
        DomainSet {
            state: self.state,
            hashes,
            sources,
            index,
            shift,
        }
    }
}

fn bucket(h: u64, shift: u32) -> usize {
    // A 64-bit shift is not defined; with no index bits every hash is bucket 0.
    h.checked_shr(shift).unwrap_or(0) as usize
}

/// The built, immutable set; see the module docs.
pub struct DomainSet {
    state: RandomState,
    hashes: Vec<u64>,
    sources: Vec<u16>,
    index: Vec<u32>,
    shift: u32,
}

impl Default for DomainSet {
    fn default() -> Self {
        DomainSetBuilder::default().build()
    }
}

impl DomainSet {
    /// Builds a set from names, all from source 0.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a Name>) -> DomainSet {
        let mut b = DomainSetBuilder::default();
        for n in names {
            b.insert(n, 0);
        }
        b.build()
    }

    /// Number of distinct domains.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The most specific listed domain that is `name` or above it.
    pub fn lookup(&self, name: &Name) -> Option<Match> {
        if self.hashes.is_empty() {
            return None;
        }
        name.suffixes().enumerate().find_map(|(depth, suffix)| {
            let h = self.state.hash_one(suffix);
            let b = bucket(h, self.shift);
            let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
            let i = self.hashes[lo..hi].binary_search(&h).ok()?;
            Some(Match {
                depth,
                source: self.sources[lo + i],
            })
        })
    }

    /// Heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.hashes.capacity() * 8 + self.sources.capacity() * 2 + self.index.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_text(s).unwrap()
    }

    #[test]
    fn matches_domain_and_below_only() {
        let set = DomainSet::from_names(&[n("ads.example.com"), n("Tracker.NET")]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.lookup(&n("ads.example.com")).map(|m| m.depth), Some(0));
        assert_eq!(
            set.lookup(&n("x.y.ADS.example.com")).map(|m| m.depth),
            Some(2)
        );
        assert_eq!(set.lookup(&n("tracker.net")).map(|m| m.depth), Some(0));
        assert_eq!(set.lookup(&n("example.com")), None);
        assert_eq!(set.lookup(&n("notads.example.com")), None);
        assert_eq!(set.lookup(&n("com")), None);
        assert_eq!(set.lookup(&Name::root()), None);
    }

    #[test]
    fn empty_and_tiny_sets() {
        assert_eq!(DomainSet::default().lookup(&n("a")), None);
        let one = DomainSet::from_names(&[n("a")]);
        assert!(one.lookup(&n("x.a")).is_some());
    }

    #[test]
    fn keeps_first_source_and_finds_every_entry_of_a_large_set() {
        let mut b = DomainSetBuilder::default();
        let names: Vec<Name> = (0..50_000)
            .map(|i| n(&format!("host{i}.example{}", i % 7)))
            .collect();
        for name in &names {
            b.insert(name, 1);
        }
        b.insert(&names[0], 2);
        let set = b.build();
        assert_eq!(set.len(), 50_000);
        assert!(names.iter().all(|x| set.lookup(x).is_some()));
        assert_eq!(set.lookup(&names[0]).unwrap().source, 1);
        assert_eq!(set.lookup(&n("host50000.example0")), None);
        assert!(set.heap_bytes() < 50_000 * 12);
    }
}
