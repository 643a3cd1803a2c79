//! Binds the listening sockets, starts the UDP workers and TCP listeners,
//! swaps in a new engine on reload, and shuts down with a drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;
use tracing::{info, warn};

use std::time::Instant;

use super::cache::Cache;
use super::engine::{Engine, Exceptions};
use super::lists::Refresher;
use super::metrics::Metrics;
pub use super::state::{Handle, Shared};
use super::{control, probe, tcp, udp};

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    /// Per worker, one socket per listen address (SO_REUSEPORT siblings).
    udp: Vec<Vec<std::net::UdpSocket>>,
    tcp: Vec<std::net::TcpListener>,
    control: Option<std::net::TcpListener>,
}

impl Server {
    /// Binds UDP (one socket per worker per address) and TCP on every listen
    /// address of `engine`'s config.
    pub fn bind(engine: Engine) -> anyhow::Result<Server> {
        let server = &engine.config.server;
        let workers = match server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut udp = (0..workers).map(|_| Vec::new()).collect::<Vec<_>>();
        let mut tcp = Vec::new();
        for &addr in &server.listen {
            for sockets in udp.iter_mut() {
                sockets
                    .push(bind_udp(addr).with_context(|| format!("cannot listen on udp {addr}"))?);
            }
            #[cfg(target_os = "linux")]
            if let Some(first) = udp.first().and_then(|s| s.last()) {
                // Few clients, many queries each: spread them over every worker.
                if let Err(e) = super::batch::spread_at_random(
                    first,
                    u32::try_from(workers).unwrap_or(u32::MAX),
                ) {
                    warn!("udp {addr}: datagrams go to workers by a hash of the sender: {e}");
                }
            }
            tcp.push(bind_tcp(addr).with_context(|| format!("cannot listen on tcp {addr}"))?);
        }
        let control = match &engine.config.control {
            Some(c) => Some(
                std::net::TcpListener::bind(c.listen)
                    .with_context(|| format!("cannot listen on tcp {} for [control]", c.listen))?,
            ),
            None => None,
        };
        let exceptions: Arc<ArcSwap<Exceptions>> = Arc::default();
        let mut engine = engine;
        engine.exceptions = exceptions.clone();
        Ok(Server {
            shared: Arc::new(Shared {
                config_path: engine.config.path.clone(),
                cache: ArcSwap::from_pointee(Cache::new(&engine.config.cache)),
                metrics: Metrics::default(),
                exceptions,
                started: Instant::now(),
                lists: Refresher::default(),
                rebuilding: std::sync::Mutex::default(),
                engine: ArcSwap::from_pointee(engine),
            }),
            udp,
            tcp,
            control,
        })
    }

    /// A handle to reload the server once it runs.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Serves until `shutdown` completes, then stops reading new queries and
    /// waits for the forwarded ones to be answered or to time out. Must be
    /// called inside a tokio runtime, which runs the TCP side.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut workers: Vec<JoinHandle<io::Result<()>>> = Vec::new();
        for (n, sockets) in self.udp.into_iter().enumerate() {
            let (shared, stopped) = (self.shared.clone(), stopped.clone());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("vpndns-udp{n}"))
                    .spawn(move || udp::run(shared, sockets, stopped))?,
            );
        }
        let mut tcp_tasks = Vec::new();
        for listener in self.tcp {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tcp_tasks.push(tokio::spawn(tcp::serve(
                listener,
                self.shared.clone(),
                stopped.clone(),
            )));
        }
        if let Some(listener) = self.control {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            info!("control API on http://{}", listener.local_addr()?);
            tokio::spawn(control::serve(
                listener,
                Handle {
                    shared: self.shared.clone(),
                },
                stopped.clone(),
            ));
        }
        tokio::spawn(probe::probe(self.shared.clone(), stopped.clone()));
        Refresher::start(Handle {
            shared: self.shared.clone(),
        })?;
        // In one statement: a `let` of a reference into the guard would keep
        // the first engine (and its tls:// connections) alive until exit.
        let listen = list(&self.shared.engine.load().config.server.listen);
        info!("serving on {listen} with {} UDP workers", workers.len());

        shutdown.await;
        info!("shutting down: draining queries in flight");
        let _ = stop.send(true);
        self.shared.lists.stop();
        for t in tcp_tasks {
            let _ = t.await;
        }
        tokio::task::spawn_blocking(move || {
            for w in workers {
                match w.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!("udp worker: {e}"),
                    Err(_) => warn!("udp worker panicked"),
                }
            }
        })
        .await?;
        info!("stopped");
        Ok(())
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn socket_for(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// Socket buffer asked for on every UDP listener.
const LISTEN_BUFFER: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = socket_for(addr, Type::DGRAM, Protocol::UDP)?;
    // Every worker binds the same address; the kernel spreads clients over them.
    socket.set_reuse_port(true)?;
    #[cfg(target_os = "freebsd")]
    socket.set_reuse_port_lb(true)?;
    // Room for bursts: the kernel caps this at its maximum (net.core.rmem_max,
    // kern.ipc.maxsockbuf), and a smaller buffer is no reason to fail.
    let _ = socket.set_recv_buffer_size(LISTEN_BUFFER);
    let _ = socket.set_send_buffer_size(LISTEN_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(256)?;
    Ok(socket.into())
}

/// Switches to `user` and `group` (names) for good, after binding.
pub fn drop_privileges(user: Option<&str>, group: Option<&str>) -> anyhow::Result<()> {
    use nix::unistd::{Group, User, setgid, setgroups, setuid};
    let user = match user {
        Some(name) => Some(User::from_name(name)?.with_context(|| format!("no user {name:?}"))?),
        None => None,
    };
    let gid = match (group, &user) {
        (Some(name), _) => Some(
            Group::from_name(name)?
                .with_context(|| format!("no group {name:?}"))?
                .gid,
        ),
        (None, Some(u)) => Some(u.gid),
        (None, None) => None,
    };
    if let Some(gid) = gid {
        setgroups(&[gid]).context("setgroups")?;
        setgid(gid).context("setgid")?;
    }
    if let Some(u) = user {
        setuid(u.uid).context("setuid")?;
        info!(
            "running as user {} (uid {}, gid {})",
            u.name,
            u.uid,
            nix::unistd::getgid()
        );
    }
    Ok(())
}
