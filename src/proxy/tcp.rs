//! DNS over TCP (RFC 7766): length-prefixed messages, several per connection,
//! answered concurrently and possibly out of order; forwarded queries go
//! upstream over TCP. Connections are bounded in number and idle time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{debug, warn};

use super::answer;
use super::engine::{Decision, Route};
use super::framing::{Decoder, MAX_MESSAGE};
use super::metrics::{Outcome, Protocol};
use super::querylog;
use super::server::Shared;
use super::upstream::{self, Targets};
use super::wire::{self, Rcode, Reject};

/// Queries of one connection being answered at once.
const PER_CONNECTION: usize = 16;

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max = shared.engine.load().config.server.tcp_max_clients;
    let slots = Arc::new(Semaphore::new(max));
    let per_client = Arc::new(Mutex::new(HashMap::new()));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    warn!("tcp accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!("tcp: {max} connections open; closing the one from {peer}");
            continue;
        };
        let Some(mine) = PerClient::take(
            &per_client,
            peer,
            shared.engine.load().config.server.tcp_max_per_client,
        ) else {
            debug!("tcp: {peer} already holds its share of connections; closing the new one");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            connection(stream, peer, shared).await;
            drop((permit, mine));
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

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
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
            let (shared, tx) = (shared.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(resp) = answer_query(&msg, peer, &shared).await {
                    let _ = tx.send(resp).await;
                }
                drop(permit);
            });
        }
        let want = frames.wanted().clamp(1, buf.len());
        match tokio::time::timeout_at(deadline, rd.read(&mut buf[..want])).await {
            Ok(Ok(n)) if n > 0 => frames.feed(&buf[..n]),
            _ => break, // closed, broken or idle
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// The response to one TCP query, or `None` to send nothing.
async fn answer_query(msg: &[u8], peer: SocketAddr, shared: &Shared) -> Option<Vec<u8>> {
    let started = Instant::now();
    let engine = shared.engine.load_full();
    let metrics = &shared.metrics;
    if let Some(limiter) = &engine.limiter
        && !limiter.allow(peer.ip(), started)
    {
        metrics.count(Protocol::Tcp, Outcome::RateLimited);
        return None;
    }
    let mut out = Vec::new();
    let q = match wire::parse_query(msg) {
        Ok(q) => q,
        Err(Reject::Drop) => return None,
        Err(reject) => {
            let (rcode, outcome) = match reject {
                Reject::NotImp => (Rcode::NotImp, Outcome::NotImp),
                _ => (Rcode::FormErr, Outcome::FormErr),
            };
            answer::encode_header_only(msg, rcode, &mut out);
            metrics.count(Protocol::Tcp, outcome);
            return Some(out);
        }
    };
    let decision = engine.decide(peer.ip(), &q);
    if let Some(a) = engine.local_answer(&decision, &q) {
        answer::encode(msg, &q, &a, u16::MAX as usize, &mut out);
        metrics.count(Protocol::Tcp, decision.outcome());
        if engine.config.log_queries {
            querylog::answered(peer, &q, decision.action(), &out, started);
        }
        return Some(out);
    }
    let Decision::Forward { route, .. } = decision else {
        return None;
    };
    let targets = match route {
        Route::Identity(a) => Targets::Identity(a),
        Route::Forwarders(l) => Targets::by_health(l),
    };
    let cache = shared.cache.load_full();
    let hit = (0..)
        .map_while(|n| targets.get(n))
        .any(|t| cache.serve(t, msg, &q, u16::MAX as usize, started, &mut out));
    cache.count(hit);
    if hit {
        metrics.count(Protocol::Tcp, Outcome::CacheHit);
        if engine.config.log_queries {
            querylog::answered(peer, &q, "cache_hit", &out, started);
        }
        return Some(out);
    }
    let timeout = engine.config.server.timeout;
    let mut upstream_query = msg.to_vec();
    for attempt in 0.. {
        let Some(target) = targets.get(attempt) else {
            break;
        };
        let forwarder = targets.forwarder(attempt);
        wire::set_id(&mut upstream_query, rand::rng().random());
        if let Some(f) = forwarder {
            f.health.sent();
        }
        let sent_at = Instant::now();
        match upstream::exchange_tcp(target, &upstream_query, q.question_end, timeout).await {
            Ok(mut resp) => {
                if let Some(f) = forwarder {
                    if f.health_config.servfail_is_failure
                        && wire::rcode(&resp) == Rcode::ServFail as u8
                    {
                        f.failed(false);
                        if targets.get(attempt + 1).is_some() {
                            continue;
                        }
                    } else {
                        f.succeeded(sent_at.elapsed());
                    }
                }
                cache.store(target, &upstream_query, &q, &resp, Instant::now());
                cache.apply_override(&q, &mut resp);
                wire::set_id(&mut resp, q.id);
                metrics.count(Protocol::Tcp, Outcome::Forwarded);
                if engine.config.log_queries {
                    let action =
                        format!("forwarded to {} ({target}) over tcp", targets.name(attempt));
                    querylog::answered(peer, &q, &action, &resp, started);
                }
                return Some(resp);
            }
            Err(e) => {
                debug!("tcp upstream {target}: {e}");
                if let Some(f) = forwarder {
                    f.failed(e.kind() == std::io::ErrorKind::TimedOut);
                }
            }
        }
    }
    answer::encode_failure(msg, q.question_end, q.id, Rcode::ServFail, &mut out);
    metrics.count(Protocol::Tcp, Outcome::ServFail);
    if engine.config.log_queries {
        querylog::answered(peer, &q, "timeout over tcp", &out, started);
    }
    Some(out)
}
