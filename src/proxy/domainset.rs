//! A compact set of domains that matches a name and every name below it.
//!
//! Each domain is kept as a 64-bit keyed hash of its lowercase wire form, in
//! one sorted array with a radix index on the top bits: about 10 bytes per
//! domain, built off the serving path, and a lookup probes one small range per
//! suffix of the query name. Two different names share a hash with odds of
//! about n/2^64 per probe (for a million domains, one in 10^13).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use super::name::{MAX_WIRE_LEN, Name, NameError};

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
///
/// Hashes are kept in one flat array (8 bytes a domain while loading) with
/// the source of each run of consecutive inserts beside it, so a list file
/// costs no per-entry source; [`build`](DomainSetBuilder::build) sorts each
/// run in place and merges the runs.
#[derive(Default)]
pub struct DomainSetBuilder {
    state: RandomState,
    hashes: Vec<u64>,
    /// (start in `hashes`, source) of each run of inserts from one source.
    runs: Vec<(usize, u16)>,
    /// Scratch buffer for [`DomainSetBuilder::insert_text`].
    wire: Vec<u8>,
}

impl DomainSetBuilder {
    /// Adds `name` (and so everything below it), listed by `source`.
    pub fn insert(&mut self, name: &Name, source: u16) {
        let h = self.state.hash_one(name.wire());
        self.push(h, source);
    }

    /// Adds a domain written as text, as `insert(&Name::from_text(text)?)`
    /// would, without building a [`Name`]: the lowercase wire form is written
    /// into a reused buffer. On error nothing is added.
    pub fn insert_text(&mut self, text: &str, source: u16) -> Result<(), NameError> {
        let text = text.strip_suffix('.').unwrap_or(text).as_bytes();
        let wire = &mut self.wire;
        wire.clear();
        if !text.is_empty() {
            // One length byte, then the text lowercased; each dot becomes the
            // length byte of the label after it, checked left to right with
            // the same errors, in the same order, as Name::from_text.
            wire.push(0);
            wire.extend_from_slice(text);
            wire.make_ascii_lowercase();
            let mut len_at = 0;
            for end in 1..=wire.len() {
                if end < wire.len() && wire[end] != b'.' {
                    continue;
                }
                let len = end - len_at - 1;
                if len == 0 {
                    return Err(NameError::EmptyLabel);
                }
                if len > 63 {
                    return Err(NameError::LabelTooLong);
                }
                // As Name::push_label: the root's zero byte must still fit.
                if len_at + 1 + len > MAX_WIRE_LEN - 1 {
                    return Err(NameError::TooLong);
                }
                wire[len_at] = len as u8;
                len_at = end;
            }
        }
        let h = self.state.hash_one(&self.wire[..]);
        self.push(h, source);
        Ok(())
    }

    fn push(&mut self, h: u64, source: u16) {
        if self.runs.last().is_none_or(|&(_, s)| s != source) {
            self.runs.push((self.hashes.len(), source));
        }
        self.hashes.push(h);
    }

    /// Sorts and deduplicates, keeping the smallest source of each domain
    /// (list files are numbered in the order they are read, so the first).
    pub fn build(self) -> DomainSet {
        let DomainSetBuilder {
            state,
            mut hashes,
            runs,
            ..
        } = self;
        let (hashes, sources) = if runs.len() <= 1 {
            hashes.sort_unstable();
            hashes.dedup();
            hashes.shrink_to_fit();
            let source = runs.first().map_or(0, |r| r.1);
            let sources = vec![source; hashes.len()];
            (hashes, sources)
        } else {
            merge_runs(hashes, &runs)
        };
        let n = hashes.len();
        // About 16 entries a bucket: log2(n) - 4 index bits, at most 20.
        let bits = (usize::BITS - n.leading_zeros()).saturating_sub(4).min(20);
        let shift = 64 - bits;
        let mut index = vec![0u32; (1 << bits) + 1];
        for &h in &hashes {
            index[bucket(h, shift) + 1] += 1;
        }
        for i in 1..index.len() {
            index[i] += index[i - 1];
        }
        DomainSet {
            state,
            hashes,
            sources,
            index,
            shift,
        }
    }
}

/// Sorts each run of `hashes` in place, then merges the runs into one sorted,
/// deduplicated array, with the smallest source of each hash beside it.
fn merge_runs(mut hashes: Vec<u64>, runs: &[(usize, u16)]) -> (Vec<u64>, Vec<u16>) {
    let ends = runs.iter().skip(1).map(|r| r.0).chain([hashes.len()]);
    let bounds: Vec<(usize, usize, u16)> = runs
        .iter()
        .zip(ends)
        .map(|(&(start, source), end)| (start, end, source))
        .collect();
    for &(start, end, _) in &bounds {
        hashes[start..end].sort_unstable();
    }
    let mut out = Vec::with_capacity(hashes.len());
    let mut sources = Vec::with_capacity(hashes.len());
    let mut keep = |h: u64, source: u16| {
        // Equal hashes come in source order: the first kept has the smallest.
        if out.last() != Some(&h) {
            out.push(h);
            sources.push(source);
        }
    };
    if bounds.len() <= 8 {
        // Few runs (list files): a scan of the heads beats a heap.
        let mut heads: Vec<(usize, usize, u16)> =
            bounds.into_iter().filter(|b| b.0 < b.1).collect();
        while !heads.is_empty() {
            let mut min = 0;
            for r in 1..heads.len() {
                let (a, b) = (&heads[r], &heads[min]);
                if (hashes[a.0], a.2) < (hashes[b.0], b.2) {
                    min = r;
                }
            }
            let head = &mut heads[min];
            keep(hashes[head.0], head.2);
            head.0 += 1;
            if head.0 == head.1 {
                heads.swap_remove(min);
            }
        }
    } else {
        // A heap of (next hash, source, run, position) picks the smallest.
        let mut heap = std::collections::BinaryHeap::new();
        for (r, &(start, end, source)) in bounds.iter().enumerate() {
            if start < end {
                heap.push(std::cmp::Reverse((hashes[start], source, r, start)));
            }
        }
        while let Some(std::cmp::Reverse((h, source, r, at))) = heap.pop() {
            keep(h, source);
            if at + 1 < bounds[r].1 {
                heap.push(std::cmp::Reverse((hashes[at + 1], source, r, at + 1)));
            }
        }
    }
    drop(hashes);
    out.shrink_to_fit();
    sources.shrink_to_fit();
    (out, sources)
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

    #[test]
    fn insert_text_is_insert_of_from_text() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        let texts = [
            "Ads.Example.COM",
            "a.b.",
            "x",
            ".",
            "",
            "a..b",
            ".a",
            &long_label,
            &long_name,
        ];
        for t in texts {
            let mut by_text = DomainSetBuilder::default();
            let got = by_text.insert_text(t, 3);
            let want = Name::from_text(t);
            assert_eq!(got.err(), want.as_ref().err().copied(), "{t:?}");
            let Ok(name) = want else { continue };
            let set = by_text.build();
            // Same hasher state only within one builder: insert both ways.
            assert_eq!(set.len(), 1);
            assert_eq!(set.lookup(&name).map(|m| (m.depth, m.source)), {
                let mut both = DomainSetBuilder::default();
                both.insert(&name, 3);
                let one = both.build();
                one.lookup(&name).map(|m| (m.depth, m.source))
            });
            let mut b = DomainSetBuilder::default();
            b.insert(&name, 1);
            b.insert_text(t, 1).unwrap();
            assert_eq!(b.build().len(), 1, "{t:?} hashed differently");
        }
    }

    #[test]
    fn runs_merge_keeping_the_smallest_source() {
        let mut b = DomainSetBuilder::default();
        for (source, names) in [
            (2u16, &["c.test", "a.test", "a.test", "d.test"][..]),
            (1, &["b.test", "c.test"][..]),
            (3, &[][..]),
            (2, &["e.test", "b.test"][..]),
            (0, &["e.test"][..]),
        ] {
            for name in names {
                b.insert_text(name, source).unwrap();
            }
        }
        let set = b.build();
        assert_eq!(set.len(), 5);
        let source = |t| set.lookup(&n(t)).map(|m| m.source);
        assert_eq!(source("a.test"), Some(2));
        assert_eq!(source("b.test"), Some(1));
        assert_eq!(source("c.test"), Some(1));
        assert_eq!(source("d.test"), Some(2));
        assert_eq!(source("x.e.test"), Some(0));
        assert_eq!(source("f.test"), None);
    }

    #[test]
    fn many_runs_merge_like_few() {
        // 20 runs (more than the linear merge takes): source i lists
        // names i..i+30, so each name's smallest source is max(0, name-29).
        let mut b = DomainSetBuilder::default();
        for source in 0..20u16 {
            for k in source..source + 30 {
                b.insert_text(&format!("n{k}.test"), source).unwrap();
            }
        }
        let set = b.build();
        assert_eq!(set.len(), 49);
        for k in 0..49u16 {
            let m = set.lookup(&n(&format!("n{k}.test"))).unwrap();
            assert_eq!(m.source, k.saturating_sub(29), "n{k}");
        }
    }
}
