//! The upstream client: forwarded UDP queries in flight (a fresh random ID
//! each, a deadline, the forwarders still to try), the checks a response must
//! pass before it is relayed, and one-shot TCP exchanges.
//!
//! The table is owned by one worker thread: no locks. Slots, their query
//! buffers and the deadline queue are allocated once and reused.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::{Rng, RngExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::policy::{Forwarder, Forwarders, MAX_FORWARDERS};
use super::wire::{self, Query};

/// Where a query may be sent, in order.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Identity mode: the client's own address.
    Identity(SocketAddr),
    /// Configured forwarders, tried in `order` (indexes into `list`).
    List {
        list: Forwarders,
        order: [u8; MAX_FORWARDERS + 1],
        len: u8,
    },
}

impl Targets {
    /// The forwarders of `list` that are up, in their configured order, then
    /// those that are down: a dead forwarder is skipped while an alternative
    /// lives, and still tried (it may be back) when it is all there is.
    ///
    /// With more than one forwarder, the last one that is up comes once
    /// more before those that are down: a retransmission (fresh ID and
    /// port), hedged at its usual time, so that a datagram it lost does not
    /// leave the query waiting for the whole timeout on a forwarder that
    /// went silent.
    pub fn by_health(list: &Forwarders) -> Targets {
        // One look at each forwarder's health, which other workers change.
        let mut is_up = [false; MAX_FORWARDERS];
        let n = list.len().min(MAX_FORWARDERS);
        for (up, f) in is_up.iter_mut().zip(list.iter()) {
            *up = f.health.is_up();
        }
        let mut order = [0u8; MAX_FORWARDERS + 1];
        let mut len = 0;
        for want in [true, false] {
            for (i, _) in is_up[..n].iter().enumerate().filter(|(_, up)| **up == want) {
                order[len] = i as u8;
                len += 1;
            }
            if want && len > 0 && n > 1 {
                order[len] = order[len - 1];
                len += 1;
            }
        }
        Targets::List {
            list: list.clone(),
            order,
            len: len as u8,
        }
    }

    /// The forwarder of attempt `n` (0-based); `None` in identity mode.
    pub fn forwarder(&self, n: usize) -> Option<&Forwarder> {
        match self {
            Targets::Identity(_) => None,
            Targets::List { list, order, len } => {
                (n < *len as usize).then(|| &list[order[n] as usize])
            }
        }
    }

    /// The address of attempt `n`, if there is one.
    pub fn get(&self, n: usize) -> Option<SocketAddr> {
        match self {
            Targets::Identity(a) => (n == 0).then_some(*a),
            Targets::List { .. } => self.forwarder(n).map(|f| f.addr),
        }
    }

    /// A name for attempt `n`, for logs.
    pub fn name(&self, n: usize) -> &str {
        match self {
            Targets::Identity(_) => "source",
            Targets::List { .. } => self.forwarder(n).map_or("?", |f| &f.name),
        }
    }
}

/// Why a datagram from upstream was not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// No query in flight has this ID (late, replayed or forged).
    UnknownId,
    /// The ID is in flight, but to another address or port, or it came in on
    /// another socket.
    WrongSource,
    /// Not a response to the question that was asked.
    WrongQuestion,
}

/// An earlier attempt of a hedged query, still awaited beside the current
/// one: whichever answers first is relayed.
#[derive(Debug, Clone, Copy)]
pub struct Earlier {
    pub target: SocketAddr,
    pub socket: usize,
    upstream_id: u16,
    pub attempt: usize,
    pub sent_at: Instant,
}

/// Which attempt of a slot an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The attempt now in `target`, `attempt`, `sent_at`.
    Current,
    /// The hedged attempt in `earlier`.
    Earlier,
}

/// No socket: not sent yet, or sent over a `tls://` forwarder's connection.
pub const NO_SOCKET: usize = usize::MAX;

/// One forwarded query.
#[derive(Debug)]
pub struct Slot {
    /// Bumped whenever the slot's deadline changes or it is freed, so stale
    /// deadline entries are recognised.
    generation: u32,
    live: bool,
    /// Who asked, and on which of the worker's listening sockets.
    pub client: SocketAddr,
    pub listener: usize,
    pub client_id: u16,
    /// The ID on the wire upstream.
    upstream_id: u16,
    /// The worker's upstream socket the query left from.
    pub socket: usize,
    pub target: SocketAddr,
    pub targets: Option<Targets>,
    pub attempt: usize,
    /// The query as sent upstream (with `upstream_id`).
    pub query: Vec<u8>,
    pub question_end: usize,
    /// The client's query as parsed on arrival, kept so the response path
    /// (cache, query log) does not parse it again.
    pub question: Query,
    /// When the client's query arrived.
    pub started: Instant,
    /// When the current attempt was sent.
    pub sent_at: Instant,
    /// While hedged: the attempt before the current one, still awaited.
    pub earlier: Option<Earlier>,
    /// Whether the pending deadline is the hedge point (ask the next target
    /// too) rather than the current attempt's timeout.
    pub hedge_due: bool,
    /// `Some`: the client has its answer (another attempt won) and the slot
    /// only waits for this attempt's late answer, a success of its
    /// forwarder, or its timeout (see [`InFlight::watch`]). Which attempt it
    /// was: `Earlier`, overtaken by a later hedge and so already counted as
    /// a failure (its timeout counts no second one); `Current`, a hedge
    /// that lost (its timeout is a failure).
    pub watch: Option<Which>,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            generation: 0,
            live: false,
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            listener: 0,
            client_id: 0,
            upstream_id: 0,
            socket: 0,
            target: SocketAddr::from(([0, 0, 0, 0], 0)),
            targets: None,
            attempt: 0,
            query: Vec::new(),
            question_end: 0,
            question: Query::default(),
            started: Instant::now(),
            sent_at: Instant::now(),
            earlier: None,
            hedge_due: false,
            watch: None,
        }
    }
}

/// Where a new query came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub client: SocketAddr,
    pub listener: usize,
}

/// The in-flight table of one worker.
pub struct InFlight {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Upstream ID → slot index + 1 (0: none).
    by_id: Vec<u32>,
    /// (deadline, slot, generation), earliest first: hedge points and
    /// timeouts differ in length, so they are not in the order they were set.
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    capacity: usize,
    live: usize,
    /// Attempts in flight per upstream socket index.
    socket_users: Vec<u32>,
    /// Sockets whose last attempt ended since [`drain_idle`](Self::drain_idle).
    idle: Vec<usize>,
}

impl InFlight {
    /// A table for up to `capacity` queries (at most 60000, so that a free ID
    /// is always found quickly).
    pub fn new(capacity: usize) -> InFlight {
        let capacity = capacity.clamp(1, 60_000);
        InFlight {
            slots: Vec::new(),
            free: Vec::new(),
            by_id: vec![0; 1 << 16],
            deadlines: BinaryHeap::with_capacity(capacity),
            capacity,
            live: 0,
            socket_users: Vec::new(),
            idle: Vec::new(),
        }
    }

    fn hold(&mut self, socket: usize) {
        if socket == NO_SOCKET {
            return;
        }
        if self.socket_users.len() <= socket {
            self.socket_users.resize(socket + 1, 0);
        }
        self.socket_users[socket] += 1;
    }

    fn release(&mut self, socket: usize) {
        if let Some(n) = self.socket_users.get_mut(socket)
            && *n > 0
        {
            *n -= 1;
            if *n == 0 {
                self.idle.push(socket);
            }
        }
    }

    /// Calls `f` with each upstream socket that no attempt uses any more
    /// since the last call (the port pool replaces those it lent).
    pub fn drain_idle(&mut self, mut f: impl FnMut(usize)) {
        while let Some(j) = self.idle.pop() {
            if self.socket_users.get(j) == Some(&0) {
                f(j);
            }
        }
    }

    /// Number of queries in flight.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether a slot may be kept to [`watch`](Self::watch) a losing
    /// attempt: only while the table is less than half full, so watching
    /// never costs a client its slot.
    pub fn may_watch(&self) -> bool {
        self.live * 2 < self.capacity
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The slot at `i`.
    pub fn slot(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    /// Takes a slot for `query` (parsed as `q`), to be sent to `targets`'
    /// first address with a fresh random ID, until `deadline`: the timeout,
    /// or with `hedge_due` the moment to ask the next target too. `None`
    /// when the table is full.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        rng: &mut impl Rng,
        origin: Origin,
        query: &[u8],
        q: &Query,
        targets: Targets,
        deadline: Instant,
        hedge_due: bool,
    ) -> Option<u32> {
        let target = targets.get(0)?;
        let i = match self.free.pop() {
            Some(i) => i,
            None if self.slots.len() < self.capacity => {
                self.slots.push(Slot::empty());
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let id = self.fresh_id(rng);
        self.by_id[id as usize] = i + 1;
        let s = &mut self.slots[i as usize];
        s.live = true;
        s.generation = s.generation.wrapping_add(1);
        s.client = origin.client;
        s.listener = origin.listener;
        s.client_id = wire::id(query).unwrap_or(0);
        s.upstream_id = id;
        s.target = target;
        s.targets = Some(targets);
        s.attempt = 0;
        s.query.clear();
        s.query.extend_from_slice(query);
        wire::set_id(&mut s.query, id);
        s.question_end = q.question_end;
        s.question.clone_from(q);
        s.started = Instant::now();
        s.sent_at = s.started;
        s.socket = NO_SOCKET;
        s.earlier = None;
        s.hedge_due = hedge_due;
        s.watch = None;
        self.deadlines.push(Reverse((deadline, i, s.generation)));
        self.live += 1;
        Some(i)
    }

    /// The query bytes of slot `i`, to edit before they are sent.
    pub fn query_mut(&mut self, i: u32) -> &mut Vec<u8> {
        &mut self.slots[i as usize].query
    }

    fn fresh_id(&self, rng: &mut impl Rng) -> u16 {
        loop {
            let id: u16 = rng.random();
            if self.by_id[id as usize] == 0 {
                return id;
            }
        }
    }

    /// Records that the query in slot `i` left from upstream socket `socket`.
    pub fn set_socket(&mut self, i: u32, socket: usize) {
        let old = std::mem::replace(&mut self.slots[i as usize].socket, socket);
        self.hold(socket);
        self.release(old);
    }

    /// Finds the query, and which of its attempts, that `resp` answers,
    /// received on `socket` from `from`.
    pub fn match_response(
        &self,
        socket: usize,
        from: SocketAddr,
        resp: &[u8],
    ) -> Result<(u32, Which), Mismatch> {
        let id = wire::id(resp).ok_or(Mismatch::UnknownId)?;
        let i = self.by_id[id as usize]
            .checked_sub(1)
            .ok_or(Mismatch::UnknownId)?;
        let s = &self.slots[i as usize];
        let which = match s.earlier {
            Some(e) if e.upstream_id == id => {
                if e.socket != socket || e.target != from {
                    return Err(Mismatch::WrongSource);
                }
                Which::Earlier
            }
            _ if s.socket != socket || s.target != from => return Err(Mismatch::WrongSource),
            _ => Which::Current,
        };
        if !wire::answers_question(resp, &s.query, s.question_end) {
            return Err(Mismatch::WrongQuestion);
        }
        Ok((i, which))
    }

    /// Which attempt of slot `i`, if any, still waits for an answer to
    /// upstream ID `id` (a transport that failed asks before moving on).
    pub fn awaiting(&self, i: u32, id: u16) -> Option<Which> {
        let s = self.slots.get(i as usize).filter(|s| s.live)?;
        if s.upstream_id == id {
            Some(Which::Current)
        } else {
            s.earlier
                .filter(|e| e.upstream_id == id)
                .map(|_| Which::Earlier)
        }
    }

    /// Stops waiting for slot `i`'s earlier (hedged) attempt.
    pub fn drop_earlier(&mut self, i: u32) {
        if let Some(e) = self.slots[i as usize].earlier.take() {
            self.by_id[e.upstream_id as usize] = 0;
            self.release(e.socket);
        }
    }

    /// Slot `i`'s client has been answered by one of its two attempts: stop
    /// waiting for that one and keep waiting for the other (`keep`) until
    /// `deadline`, only to learn how its forwarder did. An answer or a
    /// timeout then ends the slot with [`remove`](Self::remove). Without a
    /// hedged attempt the slot is freed.
    pub fn watch(&mut self, i: u32, keep: Which, deadline: Instant) {
        let Some(e) = self.slots[i as usize].earlier.take() else {
            return self.remove(i);
        };
        let s = &mut self.slots[i as usize];
        let done_socket = match keep {
            Which::Current => {
                self.by_id[e.upstream_id as usize] = 0;
                e.socket
            }
            Which::Earlier => {
                self.by_id[s.upstream_id as usize] = 0;
                s.upstream_id = e.upstream_id;
                s.target = e.target;
                s.attempt = e.attempt;
                s.sent_at = e.sent_at;
                std::mem::replace(&mut s.socket, e.socket)
            }
        };
        s.watch = Some(keep);
        s.hedge_due = false;
        s.generation = s.generation.wrapping_add(1);
        self.deadlines.push(Reverse((deadline, i, s.generation)));
        self.release(done_socket);
    }

    /// Frees slot `i`.
    pub fn remove(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        if !s.live {
            return;
        }
        s.live = false;
        s.generation = s.generation.wrapping_add(1);
        s.targets = None;
        self.by_id[s.upstream_id as usize] = 0;
        let socket = std::mem::replace(&mut s.socket, NO_SOCKET);
        self.release(socket);
        self.drop_earlier(i);
        self.free.push(i);
        self.live -= 1;
    }

    /// The earliest deadline still pending.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((when, i, generation))) = self.deadlines.peek() {
            if self.slots[i as usize].generation == generation {
                return Some(when);
            }
            self.deadlines.pop();
        }
        None
    }

    /// The next query whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<u32> {
        while let Some(&Reverse((when, i, generation))) = self.deadlines.peek() {
            if self.slots[i as usize].generation != generation {
                self.deadlines.pop();
                continue;
            }
            if when > now {
                return None;
            }
            self.deadlines.pop();
            return Some(i);
        }
        None
    }

    /// Moves slot `i` to its next target with a new ID and `deadline` (with
    /// `hedge_due`, a hedge point), giving up on every attempt before;
    /// returns the target, or `None` when every target has been tried.
    pub fn advance(
        &mut self,
        rng: &mut impl Rng,
        i: u32,
        deadline: Instant,
        hedge_due: bool,
    ) -> Option<SocketAddr> {
        self.next_attempt(rng, i, deadline, hedge_due, false)
    }

    /// Sends slot `i` to its next target as well (a hedge): the current
    /// attempt becomes the earlier one and is still awaited (an earlier one
    /// before it is given up), the new one runs until `deadline` (with
    /// `hedge_due`, the point to hedge again). `None` when there is no next
    /// target.
    pub fn hedge(
        &mut self,
        rng: &mut impl Rng,
        i: u32,
        deadline: Instant,
        hedge_due: bool,
    ) -> Option<SocketAddr> {
        self.next_attempt(rng, i, deadline, hedge_due, true)
    }

    fn next_attempt(
        &mut self,
        rng: &mut impl Rng,
        i: u32,
        deadline: Instant,
        hedge_due: bool,
        keep_current: bool,
    ) -> Option<SocketAddr> {
        let next = {
            let s = &self.slots[i as usize];
            s.targets.as_ref()?.get(s.attempt + 1)?
        };
        self.drop_earlier(i);
        let id = self.fresh_id(rng);
        let s = &mut self.slots[i as usize];
        let socket = std::mem::replace(&mut s.socket, NO_SOCKET);
        if keep_current {
            s.earlier = Some(Earlier {
                target: s.target,
                socket,
                upstream_id: s.upstream_id,
                attempt: s.attempt,
                sent_at: s.sent_at,
            });
        } else {
            self.by_id[s.upstream_id as usize] = 0;
        }
        self.by_id[id as usize] = i + 1;
        s.upstream_id = id;
        wire::set_id(&mut s.query, id);
        s.attempt += 1;
        s.target = next;
        s.sent_at = Instant::now();
        s.hedge_due = hedge_due;
        s.generation = s.generation.wrapping_add(1);
        self.deadlines.push(Reverse((deadline, i, s.generation)));
        if !keep_current {
            self.release(socket);
        }
        Some(next)
    }
}

/// Sends `query` (already carrying its upstream ID) to `target` over TCP and
/// reads one response that carries the same ID and question. Bounded by
/// `timeout` in all.
pub async fn exchange_tcp(
    target: SocketAddr,
    query: &[u8],
    question_end: usize,
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(target).await?;
        stream.set_nodelay(true)?;
        let len =
            u16::try_from(query.len()).map_err(|_| io::Error::other("query over 65535 bytes"))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        let len = stream.read_u16().await? as usize;
        let mut resp = vec![0; len];
        stream.read_exact(&mut resp).await?;
        if wire::id(&resp) != wire::id(query) || !wire::answers_question(&resp, query, question_end)
        {
            return Err(io::Error::other("response does not match the query"));
        }
        Ok(resp)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::wire::{TYPE_A, parse_query, tests::query};
    use std::sync::Arc;

    fn two_forwarders() -> Targets {
        let hc = crate::proxy::config::HealthConfig::default();
        Targets::by_health(&Arc::from(vec![
            Forwarder::new("a", "10.0.0.1:53".parse().unwrap(), hc.clone()),
            Forwarder::new("b", "10.0.0.2:53".parse().unwrap(), hc),
        ]))
    }

    fn origin() -> Origin {
        Origin {
            client: "127.0.0.9:4000".parse().unwrap(),
            listener: 0,
        }
    }

    fn response_to(sent: &[u8]) -> Vec<u8> {
        let mut r = sent.to_vec();
        r[2] |= 0x80;
        r
    }

    #[test]
    fn a_response_must_match_id_source_socket_and_question() {
        let mut rng = rand::rng();
        let mut t = InFlight::new(16);
        let q = query("www.example.com", TYPE_A, None);
        let parsed = parse_query(&q).unwrap();
        let now = Instant::now();
        let i = t
            .insert(
                &mut rng,
                origin(),
                &q,
                &parsed,
                two_forwarders(),
                now,
                false,
            )
            .unwrap();
        t.set_socket(i, 1);
        let sent = t.slot(i).query.clone();
        assert_eq!(t.slot(i).client_id, 0x1234);
        let a = "10.0.0.1:53".parse().unwrap();
        let resp = response_to(&sent);
        assert_eq!(t.match_response(1, a, &resp), Ok((i, Which::Current)));
        assert_eq!(t.match_response(0, a, &resp), Err(Mismatch::WrongSource));
        assert_eq!(
            t.match_response(1, "10.0.0.1:54".parse().unwrap(), &resp),
            Err(Mismatch::WrongSource)
        );
        let mut other_id = resp.clone();
        other_id[0] ^= 0xff;
        other_id[1] ^= 0xff;
        assert_eq!(t.match_response(1, a, &other_id), Err(Mismatch::UnknownId));
        let mut other_q = response_to(&query("www.example.org", TYPE_A, None));
        other_q[..2].copy_from_slice(&sent[..2]);
        assert_eq!(
            t.match_response(1, a, &other_q),
            Err(Mismatch::WrongQuestion)
        );
        t.remove(i);
        assert_eq!(
            t.match_response(1, a, &resp),
            Err(Mismatch::UnknownId),
            "a replay after the answer"
        );
        assert!(t.is_empty());
    }

    #[test]
    fn timeouts_advance_through_the_targets_then_give_up() {
        let mut rng = rand::rng();
        let mut t = InFlight::new(16);
        let q = query("a.b", TYPE_A, None);
        let start = Instant::now();
        let i = t
            .insert(
                &mut rng,
                origin(),
                &q,
                &parse_query(&q).unwrap(),
                two_forwarders(),
                start,
                false,
            )
            .unwrap();
        let first_id = wire::id(&t.slot(i).query);
        assert_eq!(t.pop_expired(start), Some(i));
        let later = start + Duration::from_secs(1);
        assert_eq!(
            t.advance(&mut rng, i, later, false),
            Some("10.0.0.2:53".parse().unwrap())
        );
        assert_ne!(wire::id(&t.slot(i).query), first_id);
        assert_eq!(t.pop_expired(start), None);
        assert_eq!(t.next_deadline(), Some(later));
        assert_eq!(t.pop_expired(later), Some(i));
        assert_eq!(
            t.advance(&mut rng, i, later, false),
            Some("10.0.0.2:53".parse().unwrap()),
            "the retransmission to the last one up"
        );
        assert_eq!(t.advance(&mut rng, i, later, false), None);
        t.remove(i);
        assert_eq!(t.next_deadline(), None);
    }

    fn order(t: &Targets) -> Vec<&str> {
        (0..)
            .map_while(|n| t.forwarder(n))
            .map(|f| &*f.name)
            .collect()
    }

    #[test]
    fn the_last_forwarder_up_is_asked_again_before_those_down() {
        let hc = crate::proxy::config::HealthConfig::default();
        let list: Forwarders = Arc::from(vec![
            Forwarder::new("a", "10.0.0.1:53".parse().unwrap(), hc.clone()),
            Forwarder::new("b", "10.0.0.2:53".parse().unwrap(), hc.clone()),
        ]);
        assert_eq!(order(&Targets::by_health(&list)), ["a", "b", "b"]);
        for _ in 0..3 {
            list[0].failed(true, Instant::now());
        }
        assert_eq!(order(&Targets::by_health(&list)), ["b", "b", "a"]);
        for _ in 0..3 {
            list[1].failed(true, Instant::now());
        }
        assert_eq!(
            order(&Targets::by_health(&list)),
            ["a", "b"],
            "all down: each once, in order"
        );
        let one: Forwarders = Arc::from(vec![Forwarder::new(
            "a",
            "10.0.0.1:53".parse().unwrap(),
            hc,
        )]);
        assert_eq!(order(&Targets::by_health(&one)), ["a"], "one: unchanged");
    }

    /// A table with one query sent to a on socket 3 and hedged to b on
    /// socket 5: (table, slot, first copy, second copy, insert time).
    fn hedged() -> (InFlight, u32, Vec<u8>, Vec<u8>, Instant) {
        let mut rng = rand::rng();
        let mut t = InFlight::new(16);
        let q = query("a.b", TYPE_A, None);
        let now = Instant::now();
        let i = t
            .insert(
                &mut rng,
                origin(),
                &q,
                &parse_query(&q).unwrap(),
                two_forwarders(),
                now,
                true,
            )
            .unwrap();
        assert!(t.slot(i).hedge_due);
        t.set_socket(i, 3);
        let first = t.slot(i).query.clone();
        assert_eq!(t.pop_expired(now), Some(i));
        let b = t
            .hedge(&mut rng, i, now + Duration::from_secs(1), false)
            .unwrap();
        assert_eq!(b, "10.0.0.2:53".parse().unwrap());
        t.set_socket(i, 5);
        let second = t.slot(i).query.clone();
        (t, i, first, second, now)
    }

    #[test]
    fn a_watched_loser_keeps_only_its_own_id_and_socket() {
        let (mut t, i, first, second, now) = hedged();
        let (a, b) = (
            "10.0.0.1:53".parse().unwrap(),
            "10.0.0.2:53".parse().unwrap(),
        );
        // The hedge (b) won; keep waiting for a's copy.
        let until = now + Duration::from_millis(1500);
        t.watch(i, Which::Earlier, until);
        assert_eq!(t.slot(i).watch, Some(Which::Earlier));
        assert_eq!(t.slot(i).target, a);
        assert_eq!(
            t.match_response(5, b, &response_to(&second)),
            Err(Mismatch::UnknownId),
            "the winner's ID is done"
        );
        assert_eq!(
            t.match_response(3, a, &response_to(&first)),
            Ok((i, Which::Current))
        );
        let mut idle = Vec::new();
        t.drain_idle(|j| idle.push(j));
        assert_eq!(idle, vec![5], "the winner's socket is free");
        assert_eq!(t.next_deadline(), Some(until));
        assert_eq!(t.pop_expired(until), Some(i));
        t.remove(i);
        assert!(t.is_empty());
    }

    #[test]
    fn a_hedged_query_takes_the_answer_of_either_attempt_and_frees_both() {
        let (mut t, i, first, second, _) = hedged();
        let b = "10.0.0.2:53".parse().unwrap();
        let a = "10.0.0.1:53".parse().unwrap();
        assert_eq!(
            t.match_response(3, a, &response_to(&first)),
            Ok((i, Which::Earlier))
        );
        assert_eq!(
            t.match_response(5, b, &response_to(&second)),
            Ok((i, Which::Current))
        );
        assert_eq!(
            t.match_response(5, a, &response_to(&first)),
            Err(Mismatch::WrongSource),
            "the earlier attempt's answer on the hedge's socket"
        );
        let mut idle = Vec::new();
        t.drain_idle(|j| idle.push(j));
        assert!(idle.is_empty(), "both sockets still wait for an answer");
        t.remove(i);
        t.drain_idle(|j| idle.push(j));
        idle.sort();
        assert_eq!(idle, vec![3, 5]);
        assert_eq!(
            t.match_response(3, a, &response_to(&first)),
            Err(Mismatch::UnknownId)
        );
    }

    #[test]
    fn full_table_refuses_and_ids_are_unique() {
        let mut rng = rand::rng();
        let mut t = InFlight::new(16);
        let q = query("a.b", TYPE_A, None);
        let parsed = parse_query(&q).unwrap();
        let now = Instant::now();
        let ids: std::collections::HashSet<_> = (0..16)
            .map(|_| {
                let i = t
                    .insert(
                        &mut rng,
                        origin(),
                        &q,
                        &parsed,
                        two_forwarders(),
                        now,
                        false,
                    )
                    .unwrap();
                wire::id(&t.slot(i).query)
            })
            .collect();
        assert_eq!(ids.len(), 16);
        assert!(
            t.insert(
                &mut rng,
                origin(),
                &q,
                &parsed,
                two_forwarders(),
                now,
                false
            )
            .is_none()
        );
        assert_eq!(t.len(), 16);
    }
}
