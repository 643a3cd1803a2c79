//! Forwarder health: up or down, driven by answers, timeouts and optional
//! active probes, with the per-forwarder counters the metrics report. Shared
//! by every worker through atomics; no locks.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::config::HealthConfig;

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
];

/// A histogram's values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Sum of observations, in seconds.
    pub sum: f64,
    pub count: u64,
    /// (upper bound, cumulative count), without `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

/// A latency histogram of atomic counters (the `+Inf` bucket is `count`).
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Latency {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(&b, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (b, cumulative)
            })
            .collect();
        HistogramSnapshot {
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: self.count.load(Ordering::Relaxed),
            buckets,
        }
    }

    fn copy_from(&self, other: &Latency) {
        for (a, b) in self.buckets.iter().zip(&other.buckets) {
            a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.count
            .store(other.count.load(Ordering::Relaxed), Ordering::Relaxed);
        self.sum_micros
            .store(other.sum_micros.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// The live state of one forwarder.
#[derive(Debug)]
pub struct Health {
    down: AtomicBool,
    failures: AtomicU32,
    successes: AtomicU32,
    /// Queries sent (including retries and probes).
    pub queries: AtomicU64,
    pub timeouts: AtomicU64,
    /// Up/down transitions.
    pub changes: AtomicU64,
    pub latency: Latency,
    /// Smoothed round-trip time in microseconds (RFC 6298's 1/8 gain);
    /// 0 until the first answer.
    srtt_micros: AtomicU32,
    /// When the latest-sent query that got an answer was sent ([`stamp`]);
    /// 0 until the first answer.
    answered_sent: AtomicU64,
}

/// `t` as microseconds since the first health was made, plus 1 (0: never).
fn stamp(t: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    t.saturating_duration_since(epoch).as_micros() as u64 + 1
}

/// The least a hedge waits: loopback and LAN forwarders answer in well under
/// this, so a hedge only fires for a forwarder that is really late.
pub const HEDGE_FLOOR: Duration = Duration::from_millis(50);

impl Default for Health {
    fn default() -> Self {
        stamp(Instant::now()); // the epoch starts before any query is sent
        Health {
            down: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            successes: AtomicU32::new(0),
            queries: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            latency: Latency::default(),
            srtt_micros: AtomicU32::new(0),
            answered_sent: AtomicU64::new(0),
        }
    }
}

impl Health {
    /// Whether the forwarder is considered up.
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    /// A query was sent.
    pub fn sent(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// The smoothed round-trip time, if an answer has been seen.
    pub fn srtt(&self) -> Option<Duration> {
        match self.srtt_micros.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(u64::from(us))),
        }
    }

    /// How long a query to this forwarder waits before it is also sent to
    /// the next one: max(3 × SRTT, 50 ms), at most `timeout` (then no hedge).
    pub fn hedge_after(&self, timeout: Duration) -> Duration {
        let srtt = self.srtt().unwrap_or_default();
        (srtt * 3).max(HEDGE_FLOOR).min(timeout)
    }

    /// An answer came back after `latency`. Logs a transition to up.
    pub fn succeeded(&self, config: &HealthConfig, who: (&str, SocketAddr), latency: Duration) {
        self.latency.observe(latency);
        let now = Instant::now();
        let sent = now.checked_sub(latency).unwrap_or(now);
        self.answered_sent.fetch_max(stamp(sent), Ordering::Relaxed);
        // Load then store: two workers racing lose one sample, no more.
        let sample = latency.as_micros().clamp(1, u128::from(u32::MAX)) as u64;
        let old = u64::from(self.srtt_micros.load(Ordering::Relaxed));
        let srtt = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.srtt_micros
            .store(srtt.clamp(1, u64::from(u32::MAX)) as u32, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        if self.is_up() {
            return;
        }
        let n = self.successes.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= config.rise && self.down.swap(false, Ordering::Relaxed) {
            self.successes.store(0, Ordering::Relaxed);
            self.changes.fetch_add(1, Ordering::Relaxed);
            info!(
                "forwarder {} ({}) is up again after {n} answers",
                who.0, who.1
            );
        }
    }

    /// A timeout (`timed_out`) or a SERVFAIL counted as failure of a query
    /// sent at `sent`. Logs a transition to down.
    ///
    /// A timeout is no failure of the forwarder when it has answered a query
    /// sent after this one: it is alive and lost one datagram (or the copy
    /// lost a race), and under load the timeouts of a burst of such queries
    /// would otherwise fall "in a row" between its answers.
    pub fn failed(
        &self,
        config: &HealthConfig,
        who: (&str, SocketAddr),
        timed_out: bool,
        sent: Instant,
    ) {
        if timed_out {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            if stamp(sent) < self.answered_sent.load(Ordering::Relaxed) {
                return;
            }
        }
        self.fail(config, who);
    }

    /// One more failure in a row; logs a transition to down.
    fn fail(&self, config: &HealthConfig, who: (&str, SocketAddr)) {
        self.successes.store(0, Ordering::Relaxed);
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= config.max_failures && !self.down.swap(true, Ordering::Relaxed) {
            self.changes.fetch_add(1, Ordering::Relaxed);
            warn!(
                "forwarder {} ({}) is down after {n} failures in a row",
                who.0, who.1
            );
        }
    }

    /// A hedge to another forwarder, sent after this forwarder's query of
    /// `sent`, was answered first: this one was late by at least its hedge
    /// time. That counts as a failure, as a timeout would, unless it has
    /// answered a query sent after this one (it is alive, only slow or one
    /// datagram was lost). Counting it now rather than at the timeout marks
    /// a silent forwarder down after `max_failures` hedges, in tens of
    /// milliseconds instead of seconds. Its late answer still counts as a
    /// success; its timeout, being the same query, counts no second failure
    /// ([`Health::timed_out_again`]).
    pub fn overtaken(&self, config: &HealthConfig, who: (&str, SocketAddr), sent: Instant) {
        if stamp(sent) < self.answered_sent.load(Ordering::Relaxed) {
            return;
        }
        self.fail(config, who);
    }

    /// The query that was [`overtaken`](Health::overtaken) also timed out:
    /// one more timeout, no second failure for one query.
    pub fn timed_out_again(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes over the state and counters of the same forwarder in the
    /// previous config, so a reload neither forgets a dead forwarder nor
    /// resets counters.
    pub fn copy_from(&self, old: &Health) {
        let copy32 =
            |a: &AtomicU32, b: &AtomicU32| a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        let copy64 =
            |a: &AtomicU64, b: &AtomicU64| a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        self.down
            .store(old.down.load(Ordering::Relaxed), Ordering::Relaxed);
        copy32(&self.failures, &old.failures);
        copy32(&self.successes, &old.successes);
        copy32(&self.srtt_micros, &old.srtt_micros);
        copy64(&self.answered_sent, &old.answered_sent);
        copy64(&self.queries, &old.queries);
        copy64(&self.timeouts, &old.timeouts);
        copy64(&self.changes, &old.changes);
        self.latency.copy_from(&old.latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: (&str, SocketAddr) = (
        "vpn",
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 53),
    );

    #[test]
    fn down_after_max_failures_up_after_rise() {
        let config = HealthConfig {
            max_failures: 2,
            rise: 2,
            ..HealthConfig::default()
        };
        let h = Health::default();
        h.failed(&config, WHO, true, Instant::now());
        assert!(h.is_up());
        h.succeeded(&config, WHO, Duration::from_millis(1));
        h.failed(&config, WHO, true, Instant::now());
        assert!(h.is_up(), "failures must be consecutive");
        h.failed(&config, WHO, true, Instant::now());
        assert!(!h.is_up());
        h.succeeded(&config, WHO, Duration::from_millis(1));
        assert!(!h.is_up(), "rise = 2");
        h.succeeded(&config, WHO, Duration::from_millis(1));
        assert!(h.is_up());
        assert_eq!(h.changes.load(Ordering::Relaxed), 2);
        assert_eq!(h.timeouts.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_timeout_of_a_query_sent_before_an_answered_one_is_no_failure() {
        let config = HealthConfig {
            max_failures: 1,
            ..HealthConfig::default()
        };
        let h = Health::default();
        let lost = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        h.succeeded(&config, WHO, Duration::from_micros(100));
        h.failed(&config, WHO, true, lost);
        assert!(h.is_up(), "it answered a later query: one datagram lost");
        assert_eq!(h.timeouts.load(Ordering::Relaxed), 1, "still counted");
        h.failed(&config, WHO, true, Instant::now());
        assert!(!h.is_up(), "nothing answered since this one was sent");
    }

    #[test]
    fn an_overtaken_query_is_a_failure_unless_a_later_one_was_answered() {
        let config = HealthConfig {
            max_failures: 2,
            ..HealthConfig::default()
        };
        let h = Health::default();
        let early = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        h.succeeded(&config, WHO, Duration::from_micros(100));
        h.overtaken(&config, WHO, early);
        assert_eq!(
            h.failures(),
            0,
            "it answered a query sent later: slow, alive"
        );
        h.overtaken(&config, WHO, Instant::now());
        assert_eq!(h.failures(), 1);
        assert!(h.is_up());
        h.overtaken(&config, WHO, Instant::now());
        assert!(!h.is_up(), "two overtaken in a row, nothing answered");
        h.timed_out_again();
        assert_eq!(
            h.failures(),
            2,
            "the same query's timeout is no second failure"
        );
        assert_eq!(h.timeouts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn hedge_waits_three_smoothed_rtts_between_the_floor_and_the_timeout() {
        let (config, h) = (HealthConfig::default(), Health::default());
        let timeout = Duration::from_millis(1500);
        assert_eq!(h.srtt(), None);
        assert_eq!(h.hedge_after(timeout), HEDGE_FLOOR);
        h.succeeded(&config, WHO, Duration::from_millis(40));
        assert_eq!(h.srtt(), Some(Duration::from_millis(40)));
        assert_eq!(h.hedge_after(timeout), Duration::from_millis(120));
        h.succeeded(&config, WHO, Duration::from_millis(120));
        assert_eq!(
            h.srtt(),
            Some(Duration::from_millis(50)),
            "(7 × 40 + 120) / 8"
        );
        for _ in 0..50 {
            h.succeeded(&config, WHO, Duration::from_secs(2));
        }
        assert_eq!(h.hedge_after(timeout), timeout);
        let fast = Health::default();
        fast.succeeded(&config, WHO, Duration::from_micros(200));
        assert_eq!(fast.hedge_after(timeout), HEDGE_FLOOR);
    }

    #[test]
    fn latency_buckets_are_cumulative() {
        let l = Latency::default();
        l.observe(Duration::from_micros(300));
        l.observe(Duration::from_millis(3));
        l.observe(Duration::from_secs(5));
        let h = l.snapshot();
        assert_eq!(h.count, 3);
        assert!((h.sum - 5.0033).abs() < 1e-6);
        assert_eq!(h.buckets[0], (0.0005, 1));
        assert_eq!(h.buckets[3], (0.005, 2));
        assert_eq!(h.buckets.last().unwrap().1, 2, "5 s is only in +Inf");
    }
}
