//! DNS over TCP (RFC 7766): length-prefixed messages, several per connection,
//! answered concurrently and possibly out of order; forwarded queries go
//! upstream over TCP, hedged to the next forwarder when the first is late.
//! Connections are bounded in number (the longest idle one makes room, see
//! [`conntable`](super::conntable)) and in idle time. What to answer is
//! [`pipeline`](super::pipeline)'s call; this file moves the bytes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{debug, warn};

use super::conntable::{Admission, ConnTable, Entry};
use super::framing::{Decoder, MAX_MESSAGE};
use super::metrics::{Metrics, Outcome, Protocol};
use super::pipeline::{Pipeline, Step, Verdict};
use super::querylog;
use super::state::Shared;
use super::upstream::{self, Targets};
use super::wire::{self, Query};

/// Queries of one connection being answered at once.
const PER_CONNECTION: usize = 16;

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max = shared.engine.load().config.server.tcp_max_clients;
    let table = ConnTable::new(max);
    let per_client = Arc::new(Mutex::new(HashMap::new()));
    let mut open = tokio::task::JoinSet::new();
    loop {
        while open.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => {
                // Drain: every connection stops reading and finishes the
                // queries it has, which are bounded by the timeout (a
                // client that does not read its answers, by twice that).
                let bound = shared.engine.load().config.server.timeout * 2;
                if tokio::time::timeout(bound, async { while open.join_next().await.is_some() {} })
                    .await
                    .is_err()
                {
                    debug!("tcp: connections still open after {bound:?}; closing them");
                }
                return;
            }
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    warn!("tcp accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(mine) = PerClient::take(
            &per_client,
            peer,
            shared.engine.load().config.server.tcp_max_per_client,
        ) else {
            debug!("tcp: {peer} already holds its share of connections; closing the new one");
            continue;
        };
        let entry = match table.admit() {
            Admission::Admitted(e) => e,
            Admission::Evicted(e) => {
                debug!("tcp: {max} connections open; closed the longest idle for {peer}");
                shared.metrics.tcp_evicted.fetch_add(1, Ordering::Relaxed);
                e
            }
            Admission::Refused => {
                debug!("tcp: {max} connections open, all busy; closing the one from {peer}");
                continue;
            }
        };
        let (shared, stop) = (shared.clone(), shutdown.clone());
        open.spawn(async move {
            connection(stream, peer, shared, &entry, stop).await;
            drop((entry, mine));
        });
    }
}

/// One client address's share of the open connections; released on drop.
struct PerClient {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerClient {
    fn take(
        counts: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        peer: SocketAddr,
        max: usize,
    ) -> Option<PerClient> {
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(peer.ip()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerClient {
            counts: counts.clone(),
            ip: peer.ip(),
        })
    }
}

impl Drop for PerClient {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    entry: &Entry,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let idle = shared.engine.load().config.server.tcp_idle_timeout;
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PER_CONNECTION);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let mut framed = Vec::with_capacity(msg.len() + 2);
            framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            framed.extend_from_slice(&msg);
            if wr.write_all(&framed).await.is_err() {
                return;
            }
        }
    });
    let busy = Arc::new(Semaphore::new(PER_CONNECTION));
    let mut frames = Decoder::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 4096];
    // Each message must arrive whole within `idle` of the previous one, so a
    // client dripping bytes cannot hold the connection.
    let mut deadline = tokio::time::Instant::now() + idle;
    'read: loop {
        loop {
            let msg = match frames.next_message() {
                Ok(Some(msg)) => msg.to_vec(),
                Ok(None) => break,
                Err(e) => {
                    debug!("tcp {peer}: {e}; closing");
                    break 'read;
                }
            };
            deadline = tokio::time::Instant::now() + idle;
            let Ok(permit) = busy.clone().acquire_owned().await else {
                break 'read;
            };
            let (shared, tx, guard) = (shared.clone(), tx.clone(), entry.activity.busy());
            tokio::spawn(async move {
                if let Some(resp) = answer_query(&msg, peer, &shared).await {
                    let _ = tx.send(resp).await;
                }
                drop((permit, guard));
            });
        }
        let want = frames.wanted().clamp(1, buf.len());
        tokio::select! {
            read = tokio::time::timeout_at(deadline, rd.read(&mut buf[..want])) => match read {
                Ok(Ok(n)) if n > 0 => frames.feed(&buf[..n]),
                _ => break, // closed, broken or idle
            },
            _ = entry.activity.evicted() => {
                debug!("tcp {peer}: evicted, idle longest with the table full");
                break;
            }
            _ = shutdown.changed() => break, // the queries read are still answered
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// The response to one TCP query, or `None` to send nothing.
async fn answer_query(msg: &[u8], peer: SocketAddr, shared: &Shared) -> Option<Vec<u8>> {
    let started = Instant::now();
    let engine = shared.engine.load_full();
    let cache = shared.cache.load_full();
    let p = Pipeline {
        engine: &engine,
        cache: &cache,
        metrics: &shared.metrics,
        protocol: Protocol::Tcp,
    };
    let mut out = Vec::new();
    let mut q = Query::default();
    let targets = match p.query(peer, msg, &mut q, started, &mut out) {
        Step::Drop => return None,
        Step::Reply => return Some(out),
        Step::Forward(targets) => targets,
    };
    let mut sent = msg.to_vec();
    p.prepare_upstream(&q, &mut sent);
    let timeout = engine.config.server.timeout;
    if let Some((n, mut resp)) = race(&targets, &sent, q.question_end, timeout, p.metrics).await {
        let target = targets.get(n)?;
        p.relay(target, &sent, &q, &mut resp, Instant::now());
        if engine.config.log_queries {
            let action = format!("forwarded to {} ({target}) over tcp", targets.name(n));
            querylog::answered(peer, &q, &action, &resp, started);
        }
        return Some(resp);
    }
    let outcome = p.give_up(&targets, &sent, &q, Instant::now(), &mut out);
    if engine.config.log_queries {
        let action = match outcome {
            Outcome::Stale => "stale (every forwarder failed) over tcp",
            _ => "timeout over tcp",
        };
        querylog::answered(peer, &q, action, &out, started);
    }
    Some(out)
}

/// One attempt of a race: which target, when it was sent, the exchange.
type Attempt = (
    usize,
    Instant,
    Pin<Box<dyn Future<Output = io::Result<Vec<u8>>> + Send>>,
);

/// Sends `query` (whose question ends at `question_end`) over TCP to the
/// first of `targets`, and to the next one as well when the current one is
/// late (a hedge, see [`Pipeline::hedge_after`]) or fails; the first valid
/// answer wins. Returns the winning attempt and its answer, or `None` when
/// every target failed. Records each forwarder's health.
async fn race(
    targets: &Targets,
    query: &[u8],
    question_end: usize,
    timeout: Duration,
    metrics: &Metrics,
) -> Option<(usize, Vec<u8>)> {
    let start = |n: usize| -> Option<Attempt> {
        let target = targets.get(n)?;
        if let Some(f) = targets.forwarder(n) {
            f.health.sent();
        }
        let mut q = query.to_vec();
        wire::set_id(&mut q, rand::rng().random());
        let exchange: Pin<Box<dyn Future<Output = _> + Send>> =
            match targets.forwarder(n).and_then(|f| f.tls.clone()) {
                Some(dot) => Box::pin(async move { dot.exchange(q, question_end).await }),
                None => Box::pin(async move {
                    upstream::exchange_tcp(target, &q, question_end, timeout).await
                }),
            };
        Some((n, Instant::now(), exchange))
    };
    let mut running: Vec<Attempt> = Vec::with_capacity(2);
    let mut next = 0;
    loop {
        if running.is_empty() {
            running.push(start(next)?);
            next += 1;
        }
        let (newest, newest_at) = running.last().map(|a| (a.0, a.1))?;
        let hedge = Pipeline::hedge_after(targets, newest, timeout)
            .filter(|_| next == newest + 1)
            .map(|after| tokio::time::sleep_until((newest_at + after).into()));
        let mut hedge = hedge.map(Box::pin);
        let event = std::future::poll_fn(|cx| {
            for (k, attempt) in running.iter_mut().enumerate() {
                if let Poll::Ready(r) = attempt.2.as_mut().poll(cx) {
                    return Poll::Ready(Some((k, r)));
                }
            }
            match hedge.as_mut().map(|h| h.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(None),
                _ => Poll::Pending,
            }
        })
        .await;
        let Some((k, result)) = event else {
            if let Some(a) = start(next) {
                running.push(a);
                next += 1;
                metrics.hedged.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let (n, sent_at, _) = running.remove(k);
        let forwarder = targets.forwarder(n);
        match result {
            Ok(resp) => {
                let has_next = !running.is_empty() || targets.get(next).is_some();
                if Pipeline::judge(forwarder, &resp, sent_at.elapsed(), has_next) == Verdict::Relay
                {
                    for loser in running {
                        watch(targets, n, loser);
                    }
                    return Some((n, resp));
                }
            }
            Err(e) => {
                debug!("tcp upstream {:?}: {e}", targets.get(n));
                if let Some(f) = forwarder {
                    f.failed(e.kind() == io::ErrorKind::TimedOut, sent_at);
                }
            }
        }
        // A failure: the next target now, beside any still running.
        if let Some(a) = start(next) {
            running.push(a);
            next += 1;
        }
    }
}

/// Attempt `loser` lost the race that attempt `winner` of `targets` won:
/// recorded by [`Pipeline::lost_race`], and when that says so awaited on its
/// own (bounded by its timeout) so that its answer counts as its forwarder's
/// success and only a real timeout as a failure.
fn watch(targets: &Targets, winner: usize, loser: Attempt) {
    let (m, sent_at, exchange) = loser;
    if !Pipeline::lost_race(targets, winner, m, sent_at) {
        return;
    }
    let targets = targets.clone();
    tokio::spawn(async move {
        let Some(f) = targets.forwarder(m) else {
            return;
        };
        match exchange.await {
            Ok(resp) => {
                Pipeline::judge(Some(f), &resp, sent_at.elapsed(), false);
            }
            Err(e) => {
                let timed_out = e.kind() == io::ErrorKind::TimedOut;
                Pipeline::watched_failed(f, m < winner, timed_out, sent_at);
            }
        }
    });
}
