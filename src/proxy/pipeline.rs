//! The transport-neutral steps of one query, which the UDP and TCP listeners
//! both run and only move bytes around: admit and parse, decide, answer
//! locally or from the cache, or say whom to forward to ([`Step`]); judge an
//! upstream's answer and record its forwarder's health ([`Pipeline::judge`],
//! and for the loser of a hedged race [`Pipeline::lost_race`]);
//! relay it ([`Pipeline::relay`]); and when every forwarder failed, answer
//! from a stale entry of the same route or SERVFAIL ([`Pipeline::give_up`]).
//! Reads the engine and cache it is given, counts into the metrics; no
//! allocation, no locks.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::answer;
use super::cache::Cache;
use super::engine::{Decision, Engine, Route};
use super::metrics::{Metrics, Outcome, Protocol};
use super::policy::Forwarder;
use super::querylog;
use super::upstream::Targets;
use super::wire::{self, Query, Rcode, Reject};

/// What a listener does with a query after [`Pipeline::query`].
pub enum Step {
    /// Send `out` back to the client (already counted and logged).
    Reply,
    /// Forward the query to these targets, in order.
    Forward(Targets),
    /// Send nothing.
    Drop,
}

/// What to do with an upstream's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Relay it to the client.
    Relay,
    /// A SERVFAIL counted as the forwarder's failure: try the next target.
    TryNext,
}

/// One query's view of the server: the engine and cache of the moment, the
/// counters, and the transport it came over.
pub struct Pipeline<'a> {
    pub engine: &'a Engine,
    pub cache: &'a Cache,
    pub metrics: &'a Metrics,
    pub protocol: Protocol,
}

impl Pipeline<'_> {
    /// The largest answer `q` may get on this transport.
    pub fn limit(&self, q: &Query) -> usize {
        match self.protocol {
            Protocol::Udp => q.udp_limit(),
            Protocol::Tcp => usize::from(u16::MAX),
        }
    }

    /// Admits, parses (into `q`, reused scratch), decides and, where the
    /// proxy answers itself or from the cache, writes the answer into `out`.
    pub fn query(
        &self,
        from: SocketAddr,
        msg: &[u8],
        q: &mut Query,
        started: Instant,
        out: &mut Vec<u8>,
    ) -> Step {
        let (engine, metrics, proto) = (self.engine, self.metrics, self.protocol);
        if let Some(limiter) = &engine.limiter
            && !limiter.allow(from.ip(), started)
        {
            metrics.count(proto, Outcome::RateLimited);
            return Step::Drop;
        }
        match wire::parse_query_into(msg, q) {
            Ok(()) => {}
            Err(Reject::Drop) => return Step::Drop,
            Err(reject) => {
                let (rcode, outcome) = match reject {
                    Reject::NotImp => (Rcode::NotImp, Outcome::NotImp),
                    _ => (Rcode::FormErr, Outcome::FormErr),
                };
                answer::encode_header_only(msg, rcode, out);
                metrics.count(proto, outcome);
                if engine.config.log_queries {
                    querylog::malformed(from, rcode);
                }
                return Step::Reply;
            }
        }
        let q = &*q;
        let decision = engine.decide(from.ip(), q);
        if let Some(a) = engine.local_answer(&decision, q) {
            if q.opcode != 0 {
                // Records made up for a QUERY are no answer to a NOTIFY or
                // an UPDATE; only a forwarded one gets the upstream's say.
                answer::encode_header_only(msg, Rcode::NotImp, out);
                metrics.count(proto, Outcome::NotImp);
            } else {
                answer::encode(msg, q, &a, self.limit(q), out);
                metrics.count(proto, decision.outcome());
            }
            if engine.config.log_queries {
                querylog::answered(from, q, decision.action(), out, started);
            }
            return Step::Reply;
        }
        let Decision::Forward { route, .. } = decision else {
            return Step::Drop;
        };
        let targets = match route {
            Route::Identity(a) => Targets::Identity(a),
            Route::Forwarders(list) => Targets::by_health(list),
        };
        if self.cacheable(q) {
            let cache = self.cache;
            let limit = self.limit(q);
            let hit = (0..)
                .map_while(|n| targets.get(n))
                .any(|t| cache.serve(t, msg, q, limit, started, out));
            cache.count(hit);
            if hit {
                metrics.count(proto, Outcome::CacheHit);
                if engine.config.log_queries {
                    querylog::answered(from, q, "cache_hit", out, started);
                }
                return Step::Reply;
            }
        }
        Step::Forward(targets)
    }

    /// Whether answers to `q` go through the cache.
    pub fn cacheable(&self, q: &Query) -> bool {
        q.cacheable(self.engine.config.server.strip_ecs)
    }

    /// Makes `buf`, a copy of the client's query `q`, the query to forward:
    /// without its Client Subnet option unless `ecs = "pass"`.
    pub fn prepare_upstream(&self, q: &Query, buf: &mut Vec<u8>) {
        if self.engine.config.server.strip_ecs {
            wire::strip_ecs(buf, q);
        }
    }

    /// Records `forwarder`'s answer `resp`, which took `rtt`, in its health
    /// and says whether to relay it or try the next target (`has_next`).
    pub fn judge(
        forwarder: Option<&Forwarder>,
        resp: &[u8],
        rtt: Duration,
        has_next: bool,
    ) -> Verdict {
        let Some(f) = forwarder else {
            return Verdict::Relay;
        };
        if f.health_config.servfail_is_failure && wire::rcode(resp) == Rcode::ServFail as u8 {
            f.failed(false, Instant::now());
            if has_next {
                return Verdict::TryNext;
            }
        } else {
            f.succeeded(rtt);
        }
        Verdict::Relay
    }

    /// Attempt `loser` of `targets`, sent at `sent`, lost the race that
    /// attempt `winner` won. When the loser was the earlier one, a later
    /// hedge overtook it: counted as its forwarder's failure
    /// ([`Forwarder::overtaken`]). Returns whether to keep waiting for the
    /// loser's answer (its forwarder is another one, and up), so that the
    /// answer counts as a success and only a real timeout as a failure
    /// ([`Pipeline::watched_failed`]).
    pub fn lost_race(targets: &Targets, winner: usize, loser: usize, sent: Instant) -> bool {
        let (Some(w), Some(l)) = (targets.forwarder(winner), targets.forwarder(loser)) else {
            return false;
        };
        if std::ptr::eq(w, l) {
            return false; // a retransmission to the same forwarder answered
        }
        if loser < winner {
            l.overtaken(sent);
        }
        l.health.is_up()
    }

    /// The watched loser of a race (see [`Pipeline::lost_race`]), sent at
    /// `sent`, failed (`timed_out`: got no answer in time): a failure of
    /// its forwarder, unless it was `overtaken` and so counted already.
    pub fn watched_failed(forwarder: &Forwarder, overtaken: bool, timed_out: bool, sent: Instant) {
        match overtaken {
            false => forwarder.failed(timed_out, sent),
            true if timed_out => forwarder.health.timed_out_again(),
            true => {}
        }
    }

    /// Makes `resp`, the answer `target` gave to `sent` (the forwarded copy
    /// of `q`), the client's: applies TTL overrides, gives it the client's
    /// ID, counts it forwarded and caches it if it may be. Call it before
    /// the answer is sent: a client that asks again the moment it has it
    /// must find it cached, on whichever worker its next query lands. The
    /// entry is the same as for the upstream's own bytes: the cache forces
    /// overridden TTLs itself and stores no ID.
    pub fn relay(&self, target: SocketAddr, sent: &[u8], q: &Query, resp: &mut [u8], now: Instant) {
        self.cache.apply_override(q, resp);
        wire::set_id(resp, q.id);
        self.metrics.count(self.protocol, Outcome::Forwarded);
        if self.cacheable(q) {
            self.cache.store(target, sent, q, resp, now);
        }
    }

    /// Every target of `targets` failed for `q` (whose bytes are `msg`):
    /// writes into `out` a stale answer cached from one of these same
    /// targets (never another route's), or SERVFAIL; returns which.
    pub fn give_up(
        &self,
        targets: &Targets,
        msg: &[u8],
        q: &Query,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let limit = self.limit(q);
        let stale = self.cacheable(q)
            && (0..)
                .map_while(|n| targets.get(n))
                .any(|t| self.cache.serve_stale(t, msg, q, limit, now, out));
        let outcome = if stale {
            Outcome::Stale
        } else {
            answer::encode_failure(msg, q.question_end, q.id, Rcode::ServFail, out);
            Outcome::ServFail
        };
        self.metrics.count(self.protocol, outcome);
        outcome
    }

    /// How long attempt `n` of `targets` waits before the next target is
    /// asked too: `None` when there is no next target, or it would not be
    /// before `timeout` (or in identity mode, which has one target).
    pub fn hedge_after(targets: &Targets, n: usize, timeout: Duration) -> Option<Duration> {
        targets.get(n + 1)?;
        let after = targets.forwarder(n)?.health.hedge_after(timeout);
        (after < timeout).then_some(after)
    }
}
