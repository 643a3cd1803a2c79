//! One UDP worker: a thread with its own runtime, its own listening sockets
//! (SO_REUSEPORT siblings of the other workers'), its own upstream sockets
//! and in-flight table. Nothing on the per-packet path locks or allocates.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use rand::RngExt;
use rand::rngs::ThreadRng;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::answer;
use super::batch::{BATCH, RecvBatch, SendBatch, UdpSocket};
use super::engine::{Decision, Route};
use super::metrics::{Outcome, Protocol};
use super::querylog;
use super::server::Shared;
use super::upstream::{InFlight, Origin, Targets};
use super::wire::{self, Query, Rcode, Reject};

/// Upstream sockets per address family per worker, each bound to a port the
/// kernel picked at random. The queries forwarded from one received batch
/// all leave from one of them, chosen at random per batch (see
/// `batch_socket`); retries choose per query.
const UPSTREAM_SOCKETS: usize = 4;
/// Batches read per wake-up before yielding to the worker's other tasks.
const ROUNDS: usize = 4;

struct Worker {
    shared: Arc<Shared>,
    listeners: Vec<UdpSocket>,
    /// Upstream sockets; `v4`/`v6` index into it by family.
    upstream: Vec<UdpSocket>,
    v4: Vec<usize>,
    v6: Vec<usize>,
    inflight: RefCell<InFlight>,
    rng: RefCell<ThreadRng>,
    /// While a received batch is handled: the positions in `v4` and `v6` of
    /// the socket its forwarded queries leave from. One socket per batch
    /// means one `sendmmsg` for them, and their answers come back to one
    /// socket (one wake-up, one `recvmmsg`) instead of up to four. Each
    /// query's port is still uniformly random over the family's sockets.
    batch_socket: Cell<Option<[usize; 2]>>,
}

/// Runs a worker on the current thread until `shutdown` turns true and every
/// query it forwarded has been answered or has timed out.
pub fn run(
    shared: Arc<Shared>,
    listeners: Vec<std::net::UdpSocket>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let worker = Rc::new(Worker::new(shared, listeners)?);
        for i in 0..worker.listeners.len() {
            tokio::task::spawn_local(worker.clone().serve_clients(i, shutdown.clone()));
        }
        for j in 0..worker.upstream.len() {
            tokio::task::spawn_local(worker.clone().serve_upstream(j));
        }
        tokio::task::spawn_local(worker.clone().expire());
        let mut shutdown = shutdown;
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        // Drain: answers still arrive and timeouts still fire.
        while !worker.inflight.borrow().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(())
    })
}

impl Worker {
    fn new(shared: Arc<Shared>, listeners: Vec<std::net::UdpSocket>) -> io::Result<Worker> {
        let listeners = listeners
            .into_iter()
            .map(UdpSocket::from_std)
            .collect::<io::Result<Vec<_>>>()?;
        let mut upstream = Vec::new();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for _ in 0..UPSTREAM_SOCKETS {
            let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
            v4.push(upstream.len());
            upstream.push(UdpSocket::from_std(s)?);
            // A host without IPv6 simply has no IPv6 upstream sockets.
            if let Ok(s) = std::net::UdpSocket::bind("[::]:0") {
                v6.push(upstream.len());
                upstream.push(UdpSocket::from_std(s)?);
            }
        }
        let capacity = shared.engine.load().config.server.max_inflight;
        Ok(Worker {
            shared,
            listeners,
            upstream,
            v4,
            v6,
            inflight: RefCell::new(InFlight::new(capacity)),
            rng: RefCell::new(rand::rng()),
            batch_socket: Cell::new(None),
        })
    }

    async fn serve_clients(self: Rc<Self>, i: usize, mut shutdown: watch::Receiver<bool>) {
        let mut rx = RecvBatch::default();
        let mut tx = SendBatch::default();
        let mut up = SendBatch::default();
        let mut q = Query::default();
        let socket = &self.listeners[i];
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                ready = socket.readable() => if let Err(e) = ready {
                    warn!("udp listener {:?}: {e}", socket.local_addr());
                    return;
                },
            }
            for _ in 0..ROUNDS {
                match rx.recv(socket) {
                    Ok(n) => {
                        let pick = {
                            let mut rng = self.rng.borrow_mut();
                            [
                                rng.random_range(0..self.v4.len().max(1)),
                                rng.random_range(0..self.v6.len().max(1)),
                            ]
                        };
                        self.batch_socket.set(Some(pick));
                        for k in 0..n {
                            if let Some((msg, from)) = rx.get_mut(k) {
                                self.on_query(i, msg, from, &mut q, &mut tx, &mut up);
                            }
                        }
                        self.batch_socket.set(None);
                        tx.flush(&self.listeners);
                        up.flush(&self.upstream);
                        if n < BATCH {
                            break; // drained; `recv` cleared the readiness
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => debug!("udp recv: {e}"),
                }
            }
        }
    }

    /// Answers or forwards one query: local and cached answers go into `tx`,
    /// queries to forward into `up` (both flushed by the caller). `q` is
    /// scratch space to parse into, reused from query to query.
    fn on_query(
        &self,
        listener: usize,
        msg: &[u8],
        from: SocketAddr,
        q: &mut Query,
        tx: &mut SendBatch,
        up: &mut SendBatch,
    ) {
        let started = Instant::now();
        let engine = self.shared.engine.load();
        let metrics = &self.shared.metrics;
        if let Some(limiter) = &engine.limiter
            && !limiter.allow(from.ip(), started)
        {
            metrics.count(Protocol::Udp, Outcome::RateLimited);
            return;
        }
        match wire::parse_query_into(msg, q) {
            Ok(()) => {}
            Err(Reject::Drop) => return,
            Err(reject) => {
                let (rcode, outcome) = match reject {
                    Reject::NotImp => (Rcode::NotImp, Outcome::NotImp),
                    _ => (Rcode::FormErr, Outcome::FormErr),
                };
                answer::encode_header_only(msg, rcode, tx.next_buf());
                tx.push(listener, from);
                metrics.count(Protocol::Udp, outcome);
                if engine.config.log_queries {
                    querylog::malformed(from, rcode);
                }
                return;
            }
        }
        let q = &*q;
        let decision = engine.decide(from.ip(), q);
        if let Some(a) = engine.local_answer(&decision, q) {
            let out = tx.next_buf();
            answer::encode(msg, q, &a, q.udp_limit(), out);
            if engine.config.log_queries {
                querylog::answered(from, q, decision.action(), out, started);
            }
            tx.push(listener, from);
            metrics.count(Protocol::Udp, decision.outcome());
            return;
        }
        let Decision::Forward { route, .. } = decision else {
            return;
        };
        let targets = match route {
            Route::Identity(a) => Targets::Identity(a),
            Route::Forwarders(list) => Targets::by_health(list),
        };
        let cache = self.shared.cache.load();
        let out = tx.next_buf();
        let hit = (0..)
            .map_while(|n| targets.get(n))
            .any(|t| cache.serve(t, msg, q, q.udp_limit(), started, out));
        cache.count(hit);
        if hit {
            if engine.config.log_queries {
                querylog::answered(from, q, "cache_hit", out, started);
            }
            tx.push(listener, from);
            metrics.count(Protocol::Udp, Outcome::CacheHit);
            return;
        }
        let deadline = started + engine.config.server.timeout;
        let origin = Origin {
            client: from,
            listener,
        };
        let slot = {
            let mut rng = self.rng.borrow_mut();
            self.inflight
                .borrow_mut()
                .insert(&mut *rng, origin, msg, q, targets, deadline)
        };
        match slot {
            Some(i) => self.queue_upstream(i, up),
            None => {
                debug!("in-flight table full; SERVFAIL to {from}");
                answer::encode_failure(msg, q.question_end, q.id, Rcode::ServFail, tx.next_buf());
                tx.push(listener, from);
                metrics.count(Protocol::Udp, Outcome::ServFail);
            }
        }
    }

    /// Queues the query in slot `i` for its current target, from the batch's
    /// upstream socket of its family (or a randomly chosen one outside a
    /// batch). With none of that family, moves on to the next target at once.
    fn queue_upstream(&self, i: u32, up: &mut SendBatch) {
        let mut inflight = self.inflight.borrow_mut();
        let s = inflight.slot(i);
        let target = s.target;
        let family = if target.is_ipv4() { &self.v4 } else { &self.v6 };
        if family.is_empty() {
            drop(inflight);
            return self.next_target_or_fail_after(i, false);
        }
        if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
            f.health.sent();
        }
        let k = match self.batch_socket.get() {
            Some(pick) => pick[usize::from(!target.is_ipv4())],
            None => self.rng.borrow_mut().random_range(0..family.len()),
        };
        let socket = family[k];
        inflight.set_socket(i, socket);
        up.next_buf().extend_from_slice(&inflight.slot(i).query);
        up.push(socket, target);
    }

    /// Sends the query in slot `i` to its current target now; on a send
    /// error moves on as if it had timed out. For retries, off the batch path.
    fn send_upstream(&self, i: u32) {
        let mut inflight = self.inflight.borrow_mut();
        let s = inflight.slot(i);
        let target = s.target;
        if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
            f.health.sent();
        }
        let family = if target.is_ipv4() { &self.v4 } else { &self.v6 };
        let sent = if family.is_empty() {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no socket of this address family",
            ))
        } else {
            let socket = family[self.rng.borrow_mut().random_range(0..family.len())];
            inflight.set_socket(i, socket);
            self.upstream[socket].try_send_to(&inflight.slot(i).query, target)
        };
        if let Err(e) = sent {
            debug!("send to {target}: {e}");
            drop(inflight);
            self.next_target_or_fail(i);
        }
    }

    async fn serve_upstream(self: Rc<Self>, j: usize) {
        let mut rx = RecvBatch::default();
        let mut tx = SendBatch::default();
        let socket = &self.upstream[j];
        loop {
            if let Err(e) = socket.readable().await {
                warn!("upstream socket: {e}");
                return;
            }
            for _ in 0..ROUNDS {
                match rx.recv(socket) {
                    Ok(n) => {
                        for k in 0..n {
                            if let Some((msg, from)) = rx.get_mut(k) {
                                self.on_response(j, msg, from, &mut tx);
                            }
                        }
                        tx.flush(&self.listeners);
                        if n < BATCH {
                            break; // drained; `recv` cleared the readiness
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // ICMP errors (port unreachable) surface here on Linux.
                    Err(e) => debug!("upstream recv: {e}"),
                }
            }
        }
    }

    fn on_response(&self, socket: usize, msg: &mut [u8], from: SocketAddr, tx: &mut SendBatch) {
        let now = Instant::now();
        let mut inflight = self.inflight.borrow_mut();
        let i = match inflight.match_response(socket, from, msg) {
            Ok(i) => i,
            Err(why) => {
                debug!("dropped a datagram from {from}: {why:?}");
                self.shared.metrics.dropped(why);
                return;
            }
        };
        let s = inflight.slot(i);
        if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
            if f.health_config.servfail_is_failure && wire::rcode(msg) == Rcode::ServFail as u8 {
                f.failed(false);
                if s.targets
                    .as_ref()
                    .and_then(|t| t.get(s.attempt + 1))
                    .is_some()
                {
                    drop(inflight);
                    return self.next_target_or_fail_after(i, false);
                }
            } else {
                f.succeeded(now.duration_since(s.sent_at));
            }
        }
        let cache = self.shared.cache.load();
        cache.store(s.target, &s.query, &s.question, msg, now);
        cache.apply_override(&s.question, msg);
        wire::set_id(msg, s.client_id);
        tx.next_buf().extend_from_slice(msg);
        tx.push(s.listener, s.client);
        self.shared.metrics.count(Protocol::Udp, Outcome::Forwarded);
        if self.shared.engine.load().config.log_queries {
            querylog::forwarded(s, msg, false);
        }
        inflight.remove(i);
    }

    async fn expire(self: Rc<Self>) {
        loop {
            let next = self.inflight.borrow_mut().next_deadline();
            let timeout = self.shared.engine.load().config.server.timeout;
            let wake = next.unwrap_or_else(|| Instant::now() + timeout);
            tokio::time::sleep_until(wake.into()).await;
            let now = Instant::now();
            loop {
                let expired = self.inflight.borrow_mut().pop_expired(now);
                let Some(i) = expired else { break };
                self.next_target_or_fail(i);
            }
        }
    }

    /// Counts a timeout against slot `i`'s current forwarder, then tries the
    /// next target or answers SERVFAIL.
    fn next_target_or_fail(&self, i: u32) {
        self.next_target_or_fail_after(i, true)
    }

    /// Tries slot `i`'s next target, or answers SERVFAIL when none is left;
    /// `timed_out` counts a timeout against the current forwarder first.
    fn next_target_or_fail_after(&self, i: u32, timed_out: bool) {
        if timed_out {
            let inflight = self.inflight.borrow();
            let s = inflight.slot(i);
            if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
                f.failed(true);
            }
        }
        let deadline = Instant::now() + self.shared.engine.load().config.server.timeout;
        let next = {
            let mut rng = self.rng.borrow_mut();
            self.inflight.borrow_mut().advance(&mut *rng, i, deadline)
        };
        if next.is_some() {
            return self.send_upstream(i);
        }
        let mut inflight = self.inflight.borrow_mut();
        let s = inflight.slot(i);
        let mut out = Vec::with_capacity(s.question_end);
        answer::encode_failure(
            &s.query,
            s.question_end,
            s.client_id,
            Rcode::ServFail,
            &mut out,
        );
        self.reply(s.listener, &out, s.client);
        self.shared.metrics.count(Protocol::Udp, Outcome::ServFail);
        if self.shared.engine.load().config.log_queries {
            querylog::forwarded(s, &out, true);
        }
        inflight.remove(i);
    }

    fn reply(&self, listener: usize, msg: &[u8], to: SocketAddr) {
        if let Err(e) = self.listeners[listener].try_send_to(msg, to) {
            debug!("reply to {to}: {e}");
        }
    }
}
