//! The proxy's counters and their Prometheus/OpenMetrics exposition. Counting
//! is one relaxed atomic add into a fixed array (no labels looked up per
//! query); a scrape snapshots them into a registry that prometheus-client
//! encodes.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::cache::Cache;
use super::engine::{Decision, Engine};
use super::health::HistogramSnapshot;
use super::upstream::Mismatch;

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Static,
    Blocked,
    LocalOnly,
    CacheHit,
    Forwarded,
    Refused,
    ServFail,
    FormErr,
    NotImp,
    /// Dropped: the client is over its `client_rate`.
    RateLimited,
    /// Every forwarder failed; answered from an expired entry (RFC 8767).
    Stale,
}

impl Outcome {
    const ALL: [Outcome; 11] = [
        Outcome::Static,
        Outcome::Blocked,
        Outcome::LocalOnly,
        Outcome::CacheHit,
        Outcome::Forwarded,
        Outcome::Refused,
        Outcome::ServFail,
        Outcome::FormErr,
        Outcome::NotImp,
        Outcome::RateLimited,
        Outcome::Stale,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Static => "static",
            Outcome::Blocked => "blocked",
            Outcome::LocalOnly => "local_only",
            Outcome::CacheHit => "cache_hit",
            Outcome::Forwarded => "forwarded",
            Outcome::Refused => "refused",
            Outcome::ServFail => "servfail",
            Outcome::FormErr => "formerr",
            Outcome::NotImp => "notimp",
            Outcome::RateLimited => "ratelimited",
            Outcome::Stale => "stale",
        }
    }
}

impl Decision<'_> {
    /// The metrics outcome of a decision answered locally.
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Refused { .. } => Outcome::Refused,
            Decision::LocalOnly => Outcome::LocalOnly,
            Decision::Static(_) => Outcome::Static,
            Decision::Blocked { .. } => Outcome::Blocked,
            Decision::Forward { .. } => Outcome::Forwarded,
        }
    }

    /// A short word for logs and metrics: its outcome's label.
    pub fn action(&self) -> &'static str {
        self.outcome().label()
    }
}

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

/// Process-wide counters (per-forwarder ones live in their health).
#[derive(Debug, Default)]
pub struct Metrics {
    queries: [[AtomicU64; Outcome::ALL.len()]; 2],
    dropped: [AtomicU64; 3],
    /// Queries also sent to the next forwarder because the first was late.
    pub hedged: AtomicU64,
    /// Idle TCP connections closed to admit a new one (table full).
    pub tcp_evicted: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// URL list refreshes that kept the last good copy.
    pub list_refresh_failures: AtomicU64,
}

impl Metrics {
    /// Counts a finished query.
    pub fn count(&self, protocol: Protocol, outcome: Outcome) {
        self.queries[protocol as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Queries that ended with `outcome` over `protocol` so far.
    pub fn get(&self, protocol: Protocol, outcome: Outcome) -> u64 {
        self.queries[protocol as usize][outcome as usize].load(Ordering::Relaxed)
    }

    /// Counts a datagram from upstream that was not relayed.
    pub fn dropped(&self, why: Mismatch) {
        self.dropped[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition, in the OpenMetrics text format.
    pub fn encode(&self, engine: &Engine, cache: &Cache) -> Result<String, fmt::Error> {
        let mut r = Registry::default();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);

        let mut queries = Vec::new();
        for (p, proto) in [(Protocol::Udp, "udp"), (Protocol::Tcp, "tcp")] {
            for o in Outcome::ALL {
                queries.push((
                    labels(&[("action", o.label()), ("protocol", proto)]),
                    self.get(p, o),
                ));
            }
        }
        r.register(
            "vpndns_queries",
            "Queries answered, by how and over what",
            Samples::Counter(queries),
        );
        let reasons = ["unknown_id", "wrong_source", "wrong_question"];
        let dropped = reasons
            .iter()
            .zip(&self.dropped)
            .map(|(why, n)| (labels(&[("reason", why)]), load(n)))
            .collect();
        r.register(
            "vpndns_upstream_dropped",
            "Datagrams from upstream not relayed (late, forged or stray)",
            Samples::Counter(dropped),
        );

        r.register(
            "vpndns_hedged",
            "Queries also sent to the next forwarder because the first was late",
            Samples::Counter(vec![(Vec::new(), load(&self.hedged))]),
        );
        r.register(
            "vpndns_tcp_evicted",
            "Idle TCP connections closed to admit a new client when the table was full",
            Samples::Counter(vec![(Vec::new(), load(&self.tcp_evicted))]),
        );

        let (mut sent, mut timeouts, mut up, mut changes, mut latency) =
            (vec![], vec![], vec![], vec![], vec![]);
        for f in &engine.forwarders {
            let l = labels(&[("forwarder", &f.name), ("address", &f.addr.to_string())]);
            let h = &f.health;
            sent.push((l.clone(), load(&h.queries)));
            timeouts.push((l.clone(), load(&h.timeouts)));
            changes.push((l.clone(), load(&h.changes)));
            up.push((l.clone(), i64::from(h.is_up())));
            latency.push((l, h.latency.snapshot()));
        }
        r.register(
            "vpndns_forwarder_queries",
            "Queries sent to each forwarder",
            Samples::Counter(sent),
        );
        r.register(
            "vpndns_forwarder_timeouts",
            "Queries to each forwarder that timed out",
            Samples::Counter(timeouts),
        );
        r.register(
            "vpndns_forwarder_state_changes",
            "Up/down transitions of each forwarder",
            Samples::Counter(changes),
        );
        r.register(
            "vpndns_forwarder_up",
            "1 if the forwarder is up, 0 if down",
            Samples::Gauge(up),
        );
        r.register(
            "vpndns_forwarder_latency_seconds",
            "Time from query to answer, per forwarder",
            Samples::Histogram(latency),
        );

        let (mut tls_connections, mut tls_failures) = (vec![], vec![]);
        for f in &engine.forwarders {
            if let Some(dot) = &f.tls {
                let l = labels(&[("forwarder", &f.name), ("address", &f.addr.to_string())]);
                let c = dot.counters();
                tls_connections.push((l.clone(), load(&c.connections)));
                tls_failures.push((l, load(&c.failures)));
            }
        }
        r.register(
            "vpndns_forwarder_tls_connections",
            "TLS connections opened to each tls:// forwarder",
            Samples::Counter(tls_connections),
        );
        r.register(
            "vpndns_forwarder_tls_failures",
            "Connects and TLS handshakes to each tls:// forwarder that failed",
            Samples::Counter(tls_failures),
        );

        let one = |v: u64| vec![(Vec::new(), v)];
        r.register(
            "vpndns_cache_entries",
            "Answers in the cache",
            Samples::Gauge(vec![(Vec::new(), cache.len() as i64)]),
        );
        r.register(
            "vpndns_cache_hits",
            "Cache lookups that answered",
            Samples::Counter(one(load(&cache.hits))),
        );
        r.register(
            "vpndns_cache_misses",
            "Cache lookups that did not",
            Samples::Counter(one(load(&cache.misses))),
        );
        r.register(
            "vpndns_cache_evictions",
            "Entries evicted to make room",
            Samples::Counter(one(cache.evictions())),
        );
        let lists = vec![
            (
                labels(&[("set", "block")]),
                engine.report.blocked_domains as i64,
            ),
            (
                labels(&[("set", "allow")]),
                engine.report.allowed_domains as i64,
            ),
            (labels(&[("set", "static")]), engine.statics.len() as i64),
        ];
        r.register(
            "vpndns_list_entries",
            "Domains loaded, by set",
            Samples::Gauge(lists),
        );
        let groups = (engine.groups.groups.iter())
            .map(|g| (labels(&[("group", &g.name)]), g.block.len() as i64))
            .collect();
        r.register(
            "vpndns_blocklist_group_entries",
            "Distinct blocked domains in each blocklist group",
            Samples::Gauge(groups),
        );
        r.register(
            "vpndns_list_refresh_failures",
            "Downloads of URL lists that failed or were refused (the last good copy kept)",
            Samples::Counter(one(load(&self.list_refresh_failures))),
        );
        r.register(
            "vpndns_reloads",
            "Config reloads that took effect",
            Samples::Counter(one(load(&self.reloads))),
        );
        r.register(
            "vpndns_reload_failures",
            "Config reloads refused for errors",
            Samples::Counter(one(load(&self.reload_failures))),
        );

        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r)?;
        Ok(out)
    }
}

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A snapshot of one metric family, encoded by prometheus-client.
#[derive(Debug)]
enum Samples {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, i64)>),
    Histogram(Vec<(Labels, HistogramSnapshot)>),
}

impl EncodeMetric for Samples {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        match self {
            Samples::Counter(v) => {
                for (l, n) in v {
                    encoder
                        .encode_family(l)?
                        .encode_counter::<NoLabelSet, u64, u64>(n, None)?;
                }
            }
            Samples::Gauge(v) => {
                for (l, n) in v {
                    encoder.encode_family(l)?.encode_gauge(n)?;
                }
            }
            Samples::Histogram(v) => {
                for (l, h) in v {
                    encoder
                        .encode_family(l)?
                        .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
                }
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        match self {
            Samples::Counter(_) => MetricType::Counter,
            Samples::Gauge(_) => MetricType::Gauge,
            Samples::Histogram(_) => MetricType::Histogram,
        }
    }
}
