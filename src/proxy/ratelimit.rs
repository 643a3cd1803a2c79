//! Per-client query rate limits, so one client flooding queries cannot starve
//! the others: a token bucket per client address, kept in a fixed table of
//! atomics shared by all workers (one compare-and-swap per query, no lock, no
//! allocation). Clients whose addresses hash to the same slot share a bucket;
//! with 65536 slots that is rare, and errs towards limiting.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use foldhash::fast::RandomState;

const SLOTS: usize = 1 << 16;
/// Low 24 bits: tokens; high 40 bits: the time (ms since start) tokens were
/// last counted up to.
const TOKEN_BITS: u32 = 24;
const TOKEN_MASK: u64 = (1 << TOKEN_BITS) - 1;

/// Token buckets by client address.
pub struct RateLimiter {
    /// Queries per second per client.
    rate: u64,
    /// Largest burst (bucket size).
    burst: u64,
    slots: Box<[AtomicU64]>,
    hasher: RandomState,
    epoch: Instant,
}

impl RateLimiter {
    /// `rate` queries a second with bursts of `burst`; `None` when `rate` is 0.
    pub fn new(rate: u32, burst: u32) -> Option<RateLimiter> {
        if rate == 0 {
            return None;
        }
        let burst = u64::from(burst.max(1)).min(TOKEN_MASK);
        Some(RateLimiter {
            rate: u64::from(rate),
            burst,
            // A full bucket at time 0.
            slots: (0..SLOTS).map(|_| AtomicU64::new(burst)).collect(),
            hasher: RandomState::default(),
            epoch: Instant::now(),
        })
    }

    /// Takes a token for `client`; false when its bucket is empty.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let slot = &self.slots[self.hasher.hash_one(client.to_canonical()) as usize % SLOTS];
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let (tokens, since) = (current & TOKEN_MASK, current >> TOKEN_BITS);
            let elapsed = now_ms.saturating_sub(since);
            let earned = elapsed * self.rate / 1000;
            let (tokens, since) = if tokens + earned >= self.burst {
                (self.burst, now_ms)
            } else {
                // Advance the clock only by the time the earned tokens took,
                // so fractions of a token are not lost between queries.
                (tokens + earned, since + earned * 1000 / self.rate)
            };
            if tokens == 0 {
                return false;
            }
            let next = (since << TOKEN_BITS) | (tokens - 1);
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let l = RateLimiter::new(100, 10).unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = l.epoch;
        assert_eq!((0..50).filter(|_| l.allow(a, t0)).count(), 10, "the burst");
        assert!(l.allow(b, t0), "another client is not affected");
        // 100 a second: one token every 10 ms, fractions kept.
        let after = |ms| t0 + Duration::from_millis(ms);
        assert!(!l.allow(a, after(5)));
        assert!(l.allow(a, after(10)));
        assert!(!l.allow(a, after(15)));
        assert!(l.allow(a, after(20)));
        // Over a second at a steady pace, about `rate` get through.
        let passed = (0..2000).filter(|i| l.allow(a, after(1000 + i))).count();
        assert!((195..=215).contains(&passed), "{passed}");
        // A long pause refills the bucket only up to the burst.
        assert_eq!((0..50).filter(|_| l.allow(a, after(100_000))).count(), 10);
    }

    #[test]
    fn zero_rate_means_no_limiter() {
        assert!(RateLimiter::new(0, 10).is_none());
    }
}
