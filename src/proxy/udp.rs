//! One UDP worker: a thread with its own runtime, its own listening sockets
//! (SO_REUSEPORT siblings of the other workers'), its own pool of upstream
//! sockets on random ports and in-flight table. It only moves datagrams: what
//! to answer, forward, relay or give up on is [`pipeline`](super::pipeline)'s
//! call. Nothing on the per-packet path locks or allocates.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use std::sync::atomic::Ordering;

use rand::rngs::ThreadRng;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, warn};

use super::answer;
use super::batch::{BATCH, RecvBatch, SendBatch, UdpSocket};
use super::dot;
use super::metrics::{Outcome, Protocol};
use super::pipeline::{Pipeline, Step, Verdict};
use super::portpool::{self, PortPool, Renewal};
use super::querylog;
use super::state::Shared;
use super::upstream::{InFlight, NO_SOCKET, Origin, Which};
use super::wire::{self, Query, Rcode};

/// Batches read per wake-up before yielding to the worker's other tasks.
const ROUNDS: usize = 4;

struct Worker {
    shared: Arc<Shared>,
    listeners: Vec<UdpSocket>,
    /// Upstream sockets on random ports, replaced once used.
    pool: PortPool,
    inflight: RefCell<InFlight>,
    rng: RefCell<ThreadRng>,
    /// While a received batch is handled: per family, the pool socket its
    /// forwarded queries leave from, lent on first use. One socket per batch
    /// means one `sendmmsg` for them and one wake-up for their answers; the
    /// next batch gets a fresh socket on a new random port.
    batch_socket: Cell<Option<[Option<usize>; 2]>>,
    /// When the expiry task wakes next, and how to wake it sooner: a hedge
    /// point can come before the timeouts already waited for.
    next_wake: Cell<Option<Instant>>,
    wake: Notify,
    /// Where `tls://` forwarders' connections deliver this worker's answers.
    dot_done: mpsc::UnboundedSender<dot::Done>,
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
        let (dot_done, dot_answers) = mpsc::unbounded_channel();
        let worker = Rc::new(Worker::new(shared, listeners, dot_done)?);
        tokio::task::spawn_local(worker.clone().serve_dot(dot_answers));
        let listening: Vec<_> = (0..worker.listeners.len())
            .map(|i| tokio::task::spawn_local(worker.clone().serve_clients(i)))
            .collect();
        for j in 0..worker.pool.len() {
            tokio::task::spawn_local(worker.clone().serve_upstream(j));
        }
        tokio::task::spawn_local(worker.clone().expire());
        let mut shutdown = shutdown;
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        // Stop taking queries. A listener task only waits in `readable()`
        // and handles a batch without awaiting, so it stops between batches.
        for task in listening {
            task.abort();
        }
        // Drain: answers still arrive and timeouts still fire.
        while !worker.inflight.borrow().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(())
    })
}

/// The deadline of an attempt sent at `sent`: its hedge point (`true`) when
/// it has one (`hedge_after`), else its timeout.
fn next_deadline(
    sent: Instant,
    hedge_after: Option<std::time::Duration>,
    timeout: std::time::Duration,
) -> (Instant, bool) {
    match hedge_after {
        Some(after) => (sent + after, true),
        None => (sent + timeout, false),
    }
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        listeners: Vec<std::net::UdpSocket>,
        dot_done: mpsc::UnboundedSender<dot::Done>,
    ) -> io::Result<Worker> {
        let listeners = listeners
            .into_iter()
            .map(UdpSocket::from_std)
            .collect::<io::Result<Vec<_>>>()?;
        let capacity = shared.engine.load().config.server.max_inflight;
        Ok(Worker {
            shared,
            listeners,
            pool: PortPool::new(portpool::PER_FAMILY, Renewal::probe())?,
            inflight: RefCell::new(InFlight::new(capacity)),
            rng: RefCell::new(rand::rng()),
            batch_socket: Cell::new(None),
            next_wake: Cell::new(None),
            wake: Notify::new(),
            dot_done,
        })
    }

    /// Reads listener `i` until the task is aborted at shutdown (so no
    /// shutdown signal is polled per batch).
    async fn serve_clients(self: Rc<Self>, i: usize) {
        let mut rx = RecvBatch::default();
        let mut tx = SendBatch::default();
        let mut up = SendBatch::default();
        let mut q = Query::default();
        let socket = &self.listeners[i];
        loop {
            if let Err(e) = socket.readable().await {
                warn!("udp listener {:?}: {e}", socket.local_addr());
                return;
            }
            for _ in 0..ROUNDS {
                match rx.recv(socket) {
                    Ok(n) => {
                        self.batch_socket.set(Some([None; 2]));
                        for k in 0..n {
                            if let Some((msg, from)) = rx.get_mut(k) {
                                self.on_query(i, msg, from, &mut q, &mut tx, &mut up);
                            }
                        }
                        self.batch_socket.set(None);
                        tx.flush(&self.listeners);
                        up.flush_by(|j| self.pool.fd(j));
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

    /// The pipeline over the current engine and cache.
    fn pipeline<'a>(
        &'a self,
        engine: &'a super::engine::Engine,
        cache: &'a super::cache::Cache,
    ) -> Pipeline<'a> {
        Pipeline {
            engine,
            cache,
            metrics: &self.shared.metrics,
            protocol: Protocol::Udp,
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
        let cache = self.shared.cache.load();
        let p = self.pipeline(&engine, &cache);
        let targets = match p.query(from, msg, q, started, tx.next_buf()) {
            Step::Drop => return,
            Step::Reply => return tx.push(listener, from),
            Step::Forward(targets) => targets,
        };
        let q = &*q;
        let timeout = engine.config.server.timeout;
        let (wake, hedge) = next_deadline(
            started,
            Pipeline::hedge_after(&targets, 0, timeout),
            timeout,
        );
        let origin = Origin {
            client: from,
            listener,
        };
        let slot = {
            let mut rng = self.rng.borrow_mut();
            let mut inflight = self.inflight.borrow_mut();
            let slot = inflight.insert(&mut *rng, origin, msg, q, targets, wake, hedge);
            if let Some(i) = slot {
                p.prepare_upstream(q, inflight.query_mut(i));
            }
            slot
        };
        self.wake_by(wake);
        match slot {
            Some(i) => self.queue_upstream(i, up),
            None => {
                debug!("in-flight table full; SERVFAIL to {from}");
                answer::encode_failure(msg, q.question_end, q.id, Rcode::ServFail, tx.next_buf());
                tx.push(listener, from);
                self.shared.metrics.count(Protocol::Udp, Outcome::ServFail);
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
        let v6 = !target.is_ipv4();
        if self.send_dot(&inflight, i) {
            return;
        }
        if !self.pool.has(v6) {
            drop(inflight);
            return self.next_target_or_fail_after(i, false);
        }
        if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
            f.health.sent();
        }
        let Some(socket) = self.batch_socket_for(v6) else {
            return;
        };
        inflight.set_socket(i, socket);
        up.next_buf().extend_from_slice(&inflight.slot(i).query);
        up.push(socket, target);
    }

    /// The socket of family `v6` for the batch being handled (lent on first
    /// use), or outside a batch a freshly lent one.
    fn batch_socket_for(&self, v6: bool) -> Option<usize> {
        let Some(mut pick) = self.batch_socket.get() else {
            return self.pool.lend(v6, &mut *self.rng.borrow_mut());
        };
        let family = usize::from(v6);
        if pick[family].is_none() {
            pick[family] = self.pool.lend(v6, &mut *self.rng.borrow_mut());
            self.batch_socket.set(Some(pick));
        }
        pick[family]
    }

    /// Hands the sockets no query uses any more back to the pool, which
    /// replaces the used ones with sockets on new ports.
    fn recycle_sockets(&self) {
        self.inflight
            .borrow_mut()
            .drain_idle(|j| self.pool.recycle(j));
    }

    /// Sends the query in slot `i` to its current target now; on a send
    /// error moves on as if it had timed out. For retries, off the batch path.
    fn send_upstream(&self, i: u32) {
        let mut inflight = self.inflight.borrow_mut();
        if self.send_dot(&inflight, i) {
            return;
        }
        let s = inflight.slot(i);
        let target = s.target;
        if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
            f.health.sent();
        }
        let sent = match self
            .pool
            .lend(!target.is_ipv4(), &mut *self.rng.borrow_mut())
        {
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no socket of this address family",
            )),
            Some(socket) => {
                inflight.set_socket(i, socket);
                self.pool
                    .socket(socket)
                    .try_send_to(&inflight.slot(i).query, target)
            }
        };
        if let Err(e) = sent {
            debug!("send to {target}: {e}");
            drop(inflight);
            self.next_target_or_fail(i);
        }
    }

    /// Sends slot `i`'s current attempt over its forwarder's TLS connection
    /// if it is a `tls://` one; `false` if it is not.
    fn send_dot(&self, inflight: &InFlight, i: u32) -> bool {
        let s = inflight.slot(i);
        let forwarder = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt));
        let Some((f, dot)) = forwarder.and_then(|f| Some((f, f.tls.as_ref()?))) else {
            return false;
        };
        f.health.sent();
        let tag = u64::from(i) << 16 | u64::from(wire::id(&s.query).unwrap_or(0));
        dot.send(&s.query, s.question_end, &self.dot_done, tag);
        true
    }

    /// Relays the answers `tls://` forwarders' connections deliver, and
    /// moves a query whose connection failed on to its next target.
    async fn serve_dot(self: Rc<Self>, mut answers: mpsc::UnboundedReceiver<dot::Done>) {
        let mut tx = SendBatch::default();
        while let Some(done) = answers.recv().await {
            self.on_dot(done, &mut tx);
            while let Ok(more) = answers.try_recv() {
                self.on_dot(more, &mut tx);
            }
            tx.flush(&self.listeners);
            self.recycle_sockets();
        }
    }

    fn on_dot(&self, done: dot::Done, tx: &mut SendBatch) {
        let (i, id) = ((done.tag >> 16) as u32, done.tag as u16);
        let Some(which) = self.inflight.borrow().awaiting(i, id) else {
            return; // timed out or answered by another attempt meanwhile
        };
        match done.result {
            Ok(mut resp) => {
                let limit = self.inflight.borrow().slot(i).question.udp_limit();
                dot::truncate_for_udp(&mut resp, limit);
                self.on_response(NO_SOCKET, &mut resp, done.from, tx);
            }
            Err(e) => {
                debug!("{e}");
                let inflight = self.inflight.borrow();
                let s = inflight.slot(i);
                let (attempt, sent_at) = match (which, s.earlier) {
                    (Which::Earlier, Some(e)) => (e.attempt, e.sent_at),
                    _ => (s.attempt, s.sent_at),
                };
                if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(attempt)) {
                    let overtaken = s.watch == Some(Which::Earlier);
                    let timed_out = e.kind() == io::ErrorKind::TimedOut;
                    Pipeline::watched_failed(f, overtaken, timed_out, sent_at);
                }
                let watched = s.watch.is_some();
                drop(inflight);
                match which {
                    _ if watched => self.inflight.borrow_mut().remove(i),
                    Which::Earlier => self.inflight.borrow_mut().drop_earlier(i),
                    Which::Current => self.next_target_or_fail_after(i, false),
                }
            }
        }
    }

    async fn serve_upstream(self: Rc<Self>, j: usize) {
        let mut rx = RecvBatch::default();
        let mut tx = SendBatch::default();
        loop {
            let socket = self.pool.socket(j);
            tokio::select! {
                biased;
                _ = self.pool.replaced(j) => continue,
                ready = socket.readable() => if let Err(e) = ready {
                    warn!("upstream socket: {e}");
                    return;
                },
            }
            for _ in 0..ROUNDS {
                match rx.recv(&socket) {
                    Ok(n) => {
                        for k in 0..n {
                            if let Some((msg, from)) = rx.get_mut(k) {
                                self.on_response(j, msg, from, &mut tx);
                            }
                        }
                        tx.flush(&self.listeners);
                        self.recycle_sockets();
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

    /// Relays one upstream datagram (or drops it) into `tx`, cached before
    /// it is sent ([`Pipeline::relay`]).
    fn on_response(&self, socket: usize, msg: &mut [u8], from: SocketAddr, tx: &mut SendBatch) {
        let now = Instant::now();
        let mut inflight = self.inflight.borrow_mut();
        let (i, which) = match inflight.match_response(socket, from, msg) {
            Ok(x) => x,
            Err(why) => {
                debug!("dropped a datagram from {from}: {why:?}");
                self.shared.metrics.dropped(why);
                return;
            }
        };
        let s = inflight.slot(i);
        let (attempt, sent_at) = match (which, s.earlier) {
            (Which::Earlier, Some(e)) => (e.attempt, e.sent_at),
            _ => (s.attempt, s.sent_at),
        };
        let targets = s.targets.as_ref();
        let has_next = match which {
            Which::Earlier => s.earlier.is_some(), // the current attempt is still out
            Which::Current => targets.and_then(|t| t.get(s.attempt + 1)).is_some(),
        };
        let forwarder = targets.and_then(|t| t.forwarder(attempt));
        let rtt = now.duration_since(sent_at);
        if s.watch.is_some() {
            // A late answer of the copy that lost: its forwarder is alive.
            Pipeline::judge(forwarder, msg, rtt, false);
            return inflight.remove(i);
        }
        if Pipeline::judge(forwarder, msg, rtt, has_next) == Verdict::TryNext {
            if which == Which::Earlier {
                return inflight.drop_earlier(i);
            }
            drop(inflight);
            return self.next_target_or_fail_after(i, false);
        }
        let engine = self.shared.engine.load();
        let cache = self.shared.cache.load();
        let p = self.pipeline(&engine, &cache);
        let answered_by = match (which, s.earlier) {
            (Which::Earlier, Some(e)) => e.target,
            _ => s.target,
        };
        p.relay(answered_by, &s.query, &s.question, msg, now);
        tx.next_buf().extend_from_slice(msg);
        tx.push(s.listener, s.client);
        if engine.config.log_queries {
            querylog::forwarded(s, msg, false);
        }
        // The other copy of a hedged query lost the race: record it, and
        // keep waiting for it when Pipeline::lost_race says so.
        let loser = s.earlier.map(|e| match which {
            Which::Current => (Which::Earlier, e.attempt, e.sent_at),
            Which::Earlier => (Which::Current, s.attempt, s.sent_at),
        });
        let watch = loser.filter(|&(_, n, sent)| {
            targets.is_some_and(|t| Pipeline::lost_race(t, attempt, n, sent))
        });
        match watch {
            Some((keep, _, sent)) if inflight.may_watch() => {
                let deadline = sent + engine.config.server.timeout;
                inflight.watch(i, keep, deadline);
                self.wake_by(deadline);
            }
            _ => inflight.remove(i),
        }
    }

    /// Makes sure the expiry task wakes by `at`.
    fn wake_by(&self, at: Instant) {
        if self.next_wake.get().is_none_or(|w| at < w) {
            self.next_wake.set(Some(at));
            self.wake.notify_one();
        }
    }

    async fn expire(self: Rc<Self>) {
        loop {
            let next = self.inflight.borrow_mut().next_deadline();
            let timeout = self.shared.engine.load().config.server.timeout;
            let wake = next.unwrap_or_else(|| Instant::now() + timeout);
            self.next_wake.set(Some(wake));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = self.wake.notified() => {}
            }
            let now = Instant::now();
            loop {
                let expired = self.inflight.borrow_mut().pop_expired(now);
                let Some(i) = expired else { break };
                if self.inflight.borrow().slot(i).watch.is_some() {
                    self.watch_timed_out(i);
                } else if self.inflight.borrow().slot(i).hedge_due {
                    self.hedge(i);
                } else {
                    self.next_target_or_fail(i);
                }
            }
            self.recycle_sockets();
        }
    }

    /// The losing copy watched in slot `i` got no answer in time: a real
    /// timeout of its forwarder.
    fn watch_timed_out(&self, i: u32) {
        let mut inflight = self.inflight.borrow_mut();
        let s = inflight.slot(i);
        if let Some(f) = s.targets.as_ref().and_then(|t| t.forwarder(s.attempt)) {
            Pipeline::watched_failed(f, s.watch == Some(Which::Earlier), true, s.sent_at);
        }
        inflight.remove(i);
    }

    /// Slot `i`'s forwarder is late: ask the next one too, keep waiting for
    /// both until the timeout, or, when the one after that is up, until the
    /// next one is late as well and that one is asked.
    fn hedge(&self, i: u32) {
        let timeout = self.shared.engine.load().config.server.timeout;
        let next = {
            let mut rng = self.rng.borrow_mut();
            let mut inflight = self.inflight.borrow_mut();
            let s = inflight.slot(i);
            // Hedge again only towards a forwarder that is up: the slot
            // keeps two attempts, and one that may still answer is not given
            // up for one to a forwarder known to be down.
            let after = s.targets.as_ref().and_then(|t| {
                t.forwarder(s.attempt + 2)
                    .filter(|f| f.health.is_up())
                    .and_then(|_| Pipeline::hedge_after(t, s.attempt + 1, timeout))
            });
            let (wake, hedge_due) = next_deadline(Instant::now(), after, timeout);
            self.wake_by(wake);
            inflight.hedge(&mut *rng, i, wake, hedge_due)
        };
        match next {
            Some(_) => {
                self.shared.metrics.hedged.fetch_add(1, Ordering::Relaxed);
                self.send_upstream(i);
            }
            None => self.next_target_or_fail(i),
        }
    }

    /// Counts a timeout against slot `i`'s current forwarder (and a hedged
    /// earlier one), then tries the next target or gives up.
    fn next_target_or_fail(&self, i: u32) {
        self.next_target_or_fail_after(i, true)
    }

    /// Tries slot `i`'s next target, or gives up (stale answer or SERVFAIL)
    /// when none is left; `timed_out` counts a timeout against the current
    /// forwarder first.
    fn next_target_or_fail_after(&self, i: u32, timed_out: bool) {
        let engine = self.shared.engine.load();
        let timeout = engine.config.server.timeout;
        if timed_out {
            let inflight = self.inflight.borrow();
            let s = inflight.slot(i);
            if let Some(t) = s.targets.as_ref() {
                let current = t.forwarder(s.attempt);
                if let Some(f) = current {
                    f.failed(true, s.sent_at);
                }
                // A hedged earlier attempt timed out too, unless it went to
                // the same forwarder (a retransmission): one query, one failure.
                if let Some((f, e)) = s.earlier.and_then(|e| Some((t.forwarder(e.attempt)?, e)))
                    && !current.is_some_and(|c| std::ptr::eq(c, f))
                {
                    f.failed(true, e.sent_at);
                }
            }
        }
        let next = {
            let mut rng = self.rng.borrow_mut();
            let mut inflight = self.inflight.borrow_mut();
            let s = inflight.slot(i);
            let hedge = s
                .targets
                .as_ref()
                .and_then(|t| Pipeline::hedge_after(t, s.attempt + 1, timeout));
            let (wake, hedge_due) = next_deadline(Instant::now(), hedge, timeout);
            self.wake_by(wake);
            inflight.advance(&mut *rng, i, wake, hedge_due)
        };
        if next.is_some() {
            return self.send_upstream(i);
        }
        let mut inflight = self.inflight.borrow_mut();
        let s = inflight.slot(i);
        let cache = self.shared.cache.load();
        let p = self.pipeline(&engine, &cache);
        let mut out = Vec::with_capacity(s.question_end);
        let Some(targets) = s.targets.as_ref() else {
            return inflight.remove(i);
        };
        let outcome = p.give_up(targets, &s.query, &s.question, Instant::now(), &mut out);
        self.reply(s.listener, &out, s.client);
        if engine.config.log_queries {
            querylog::forwarded(s, &out, outcome != Outcome::Stale);
        }
        inflight.remove(i);
    }

    fn reply(&self, listener: usize, msg: &[u8], to: SocketAddr) {
        if let Err(e) = self.listeners[listener].try_send_to(msg, to) {
            debug!("reply to {to}: {e}");
        }
    }
}
