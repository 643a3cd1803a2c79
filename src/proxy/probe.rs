//! Active health probes: asks every forwarder that has `probe` set a fixed
//! question at its interval and feeds the answer (or its absence) to the
//! forwarder's [`Health`](super::health::Health), as real queries do. Reads
//! the current engine from [`Shared`]; may touch: UDP sockets to forwarders (and a tls:// forwarder's connection).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::debug;

use super::state::Shared;
use super::wire;

/// Probes every forwarder that has `probe` set, each at its interval, until
/// `shutdown`; results feed the same health as real queries do.
pub async fn probe(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut last: HashMap<(Box<str>, SocketAddr), Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let engine = shared.engine.load_full();
        let now = Instant::now();
        for f in &engine.forwarders {
            let Some(name) = &f.health_config.probe else {
                continue;
            };
            let key = (f.name.clone(), f.addr);
            if last
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < f.health_config.probe_interval)
            {
                continue;
            }
            last.insert(key, now);
            let (f, query, timeout) = (
                f.clone(),
                wire::encode_query(rand::random(), name, wire::TYPE_A, wire::CLASS_IN),
                engine.config.server.timeout,
            );
            tokio::spawn(async move {
                f.health.sent();
                let started = Instant::now();
                let asked = async {
                    match &f.tls {
                        Some(dot) => dot.exchange(query.clone(), query.len()).await.map(drop),
                        None => ask(f.addr, &query).await,
                    }
                };
                match tokio::time::timeout(timeout, asked).await {
                    Ok(Ok(())) => f.succeeded(started.elapsed()),
                    Ok(Err(e)) => {
                        debug!("probe of {} ({}): {e}", f.name, f.addr);
                        f.failed(false, started)
                    }
                    Err(_) => f.failed(true, started),
                }
            });
        }
    }
}

/// Sends `query` to `target` and waits for a response to it (any rcode).
async fn ask(target: SocketAddr, query: &[u8]) -> std::io::Result<()> {
    let local: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    socket.send(query).await?;
    let mut buf = vec![0; 4096];
    loop {
        let n = socket.recv(&mut buf).await?;
        let resp = &buf[..n];
        if wire::id(resp) == wire::id(query) && wire::answers_question(resp, query, query.len()) {
            return Ok(());
        }
    }
}
