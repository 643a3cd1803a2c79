//! Upstream UDP sockets on unguessable ports, after Unbound's
//! `outgoing-range`: one worker's pool of sockets per address family, each
//! on a port the kernel picks at random when it first sends. A socket lent
//! to a batch of queries gives up its port once its last answer is in (or
//! timed out), and sends the next batch from a new one, so sequential
//! queries leave from ever new ports and an off-path forger must guess the
//! port as well as the ID. A socket waiting in the pool has no port at all.
//! Owned by one worker thread: no locks. Opens, unbinds and closes sockets;
//! nothing else.
//!
//! How a socket gets a new port depends on the kernel ([`Renewal`]): Linux
//! forgets a port it chose when the socket is disconnected, so the socket,
//! its descriptor and its registration with the reactor stay; FreeBSD keeps
//! the port, so there the socket is closed and another opened.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::rc::Rc;

use rand::{Rng, RngExt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::Notify;
use tracing::debug;

use super::batch::{self, UdpSocket};

/// Sockets per address family per worker: the queries of this many batches
/// can be in flight on distinct ports before ports are shared.
pub const PER_FAMILY: usize = 32;

struct Member {
    socket: RefCell<Rc<UdpSocket>>,
    v6: bool,
    /// Lent out since its port was renewed: renewed once no query uses it.
    lent: Cell<bool>,
    /// Woken when `socket` is replaced, so its reader moves to the new one.
    replaced: Notify,
}

/// The pool. Sockets are known by a stable index; the socket behind an index
/// changes when it is reopened.
pub struct PortPool {
    members: Vec<Member>,
    /// Per family (0: IPv4, 1: IPv6), members not yet lent.
    fresh: [RefCell<Vec<usize>>; 2],
    /// Per family, every member.
    all: [Vec<usize>; 2],
    renewal: Renewal,
    /// Used sockets given a new port.
    pub renewed: Cell<u64>,
}

/// How a used socket gets a new port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Disconnect it (`connect` to AF_UNSPEC), which releases a port the
    /// kernel chose, and drop what arrived on that port: its next send binds
    /// a new random one. Two system calls, where reopening takes six.
    Unbind,
    /// Close it and open another.
    Reopen,
}

impl Renewal {
    /// What this kernel does: a socket given a port by `connect` (which
    /// sends nothing) is disconnected, and still has a port or not.
    pub fn probe() -> Renewal {
        let released = (|| -> io::Result<bool> {
            let s = open(false)?;
            s.connect((Ipv4Addr::LOCALHOST, 9))?;
            batch::disconnect(&s)?;
            Ok(s.local_addr()?.port() == 0)
        })();
        match released {
            Ok(true) => Renewal::Unbind,
            Ok(false) => Renewal::Reopen,
            Err(e) => {
                debug!("cannot probe how to renew upstream ports, reopening sockets: {e}");
                Renewal::Reopen
            }
        }
    }
}

/// A UDP socket of the family with no port yet: its first send binds one
/// the kernel picks at random from the ephemeral range.
fn open(v6: bool) -> io::Result<std::net::UdpSocket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    Ok(socket.into())
}

fn register(v6: bool) -> io::Result<UdpSocket> {
    UdpSocket::from_std(open(v6)?)
}

impl PortPool {
    /// Opens `per_family` IPv4 sockets and as many IPv6 ones (none on a host
    /// without IPv6), renewing ports as `renewal` says. Must run inside the
    /// worker's runtime.
    pub fn new(per_family: usize, renewal: Renewal) -> io::Result<PortPool> {
        let mut pool = PortPool {
            members: Vec::new(),
            fresh: Default::default(),
            all: Default::default(),
            renewal,
            renewed: Cell::new(0),
        };
        for v6 in [false, true] {
            for _ in 0..per_family {
                let socket = match register(v6) {
                    Ok(s) => s,
                    Err(e) if v6 => {
                        debug!("no IPv6 upstream sockets: {e}");
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let j = pool.members.len();
                pool.members.push(Member {
                    socket: RefCell::new(Rc::new(socket)),
                    v6,
                    lent: Cell::new(false),
                    replaced: Notify::new(),
                });
                pool.all[usize::from(v6)].push(j);
                pool.fresh[usize::from(v6)].get_mut().push(j);
            }
        }
        Ok(pool)
    }

    /// Number of sockets (indexes are `0..len`).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether the pool has sockets for this family.
    pub fn has(&self, v6: bool) -> bool {
        !self.all[usize::from(v6)].is_empty()
    }

    /// A socket of the family for new queries: a fresh one chosen at random,
    /// or, when all are lent (a burst larger than the pool), any at random.
    pub fn lend(&self, v6: bool, rng: &mut impl Rng) -> Option<usize> {
        let all = &self.all[usize::from(v6)];
        if all.is_empty() {
            return None;
        }
        let mut fresh = self.fresh[usize::from(v6)].borrow_mut();
        let j = if fresh.is_empty() {
            all[rng.random_range(0..all.len())]
        } else {
            let k = rng.random_range(0..fresh.len());
            fresh.swap_remove(k)
        };
        self.members[j].lent.set(true);
        Some(j)
    }

    /// No query uses socket `j` any more: if it was lent, give it a new
    /// random port for its next batch. If that fails (descriptors exhausted
    /// when reopening), the socket keeps its port and stays in service.
    pub fn recycle(&self, j: usize) {
        let Some(m) = self.members.get(j) else { return };
        if !m.lent.get() {
            return;
        }
        let renewed = match self.renewal {
            Renewal::Unbind => batch::disconnect(m.socket.borrow().get_ref())
                .map(|()| m.socket.borrow().discard_queued()),
            Renewal::Reopen => register(m.v6).map(|s| {
                *m.socket.borrow_mut() = Rc::new(s);
                m.replaced.notify_one();
            }),
        };
        match renewed {
            Ok(()) => self.renewed.set(self.renewed.get() + 1),
            Err(e) => debug!("cannot renew an upstream port, reusing the old one: {e}"),
        }
        m.lent.set(false);
        self.fresh[usize::from(m.v6)].borrow_mut().push(j);
    }

    /// The socket now behind index `j`.
    pub fn socket(&self, j: usize) -> Rc<UdpSocket> {
        self.members[j].socket.borrow().clone()
    }

    /// Its descriptor, for batched sends.
    pub fn fd(&self, j: usize) -> Option<RawFd> {
        self.members.get(j).map(|m| m.socket.borrow().as_raw_fd())
    }

    /// Completes when the socket behind `j` is replaced by another (when
    /// renewing by reopening).
    pub async fn replaced(&self, j: usize) {
        if self.renewal == Renewal::Unbind {
            // Sockets are renewed in place, never replaced. A pending future
            // registers no waiter, which `notified()` would on every batch.
            return std::future::pending().await;
        }
        self.members[j].replaced.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    /// The port socket `j` sends from (to loopback's discard port),
    /// binding one if it has none yet.
    fn port(pool: &PortPool, j: usize) -> u16 {
        let socket = pool.socket(j);
        let to: std::net::IpAddr = if pool.members[j].v6 {
            Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        socket.get_ref().send_to(b"x", (to, 9)).unwrap();
        socket.local_addr().unwrap().port()
    }

    async fn lent_sockets_come_back_on_new_ports_and_unlent_ones_stay(renewal: Renewal) {
        let pool = PortPool::new(4, renewal).unwrap();
        let mut rng = rand::rng();
        let j = pool.lend(false, &mut rng).unwrap();
        let before = port(&pool, j);
        pool.recycle(j);
        assert_ne!(port(&pool, j), before, "a lent socket gets a new port");
        assert_eq!(pool.renewed.get(), 1);
        let k = (0..pool.len())
            .find(|&k| k != j && !pool.members[k].v6)
            .unwrap();
        let kept = port(&pool, k);
        pool.recycle(k);
        assert_eq!(port(&pool, k), kept, "never lent: kept");
        let lent: std::collections::HashSet<_> = (0..4)
            .map(|_| pool.lend(false, &mut rng).unwrap())
            .collect();
        assert_eq!(lent.len(), 4, "fresh ones first");
        assert!(pool.lend(false, &mut rng).is_some(), "then shared");
    }

    #[tokio::test]
    async fn reopened_sockets_come_back_on_new_ports() {
        lent_sockets_come_back_on_new_ports_and_unlent_ones_stay(Renewal::Reopen).await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn linux_releases_a_port_on_disconnect_and_unbound_ones_renew() {
        assert_eq!(Renewal::probe(), Renewal::Unbind);
        lent_sockets_come_back_on_new_ports_and_unlent_ones_stay(Renewal::Unbind).await;
        let pool = PortPool::new(1, Renewal::Unbind).unwrap();
        if pool.has(true) {
            let j = pool.lend(true, &mut rand::rng()).unwrap();
            let before = port(&pool, j);
            pool.recycle(j);
            assert_ne!(port(&pool, j), before, "IPv6 too");
        }
    }

    #[tokio::test]
    async fn a_socket_waiting_in_the_pool_has_no_port() {
        let pool = PortPool::new(2, Renewal::probe()).unwrap();
        let j = pool.lend(false, &mut rand::rng()).unwrap();
        assert_eq!(pool.socket(j).local_addr().unwrap().port(), 0);
        port(&pool, j);
        pool.recycle(j);
        assert_eq!(
            pool.socket(j).local_addr().unwrap().port(),
            0,
            "nor once renewed"
        );
    }

    /// What reached the old port before it was given up is not read as an
    /// answer on the new one.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn datagrams_queued_on_the_old_port_are_dropped() {
        let pool = PortPool::new(1, Renewal::Unbind).unwrap();
        let j = pool.lend(false, &mut rand::rng()).unwrap();
        let old = port(&pool, j);
        let forger = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        for _ in 0..3 {
            forger
                .send_to(b"forged", (Ipv4Addr::LOCALHOST, old))
                .unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        pool.recycle(j);
        let new = port(&pool, j);
        assert_ne!(new, old);
        forger.send_to(b"late", (Ipv4Addr::LOCALHOST, new)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut buf = [0u8; 16];
        let n = pool.socket(j).get_ref().recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"late", "only what came to the new port");
    }
}
