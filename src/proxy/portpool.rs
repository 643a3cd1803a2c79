//! Upstream UDP sockets on unguessable ports, after Unbound's
//! `outgoing-range`: one worker's pool of sockets per address family, each
//! bound to a port the kernel picks at random. A socket lent to a batch of
//! queries is closed once its last answer is in (or timed out) and replaced
//! by a fresh one, so sequential queries leave from ever new ports and an
//! off-path forger must guess the port as well as the ID. Owned by one
//! worker thread: no locks. Opens and closes sockets; nothing else.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;
use std::rc::Rc;

use rand::{Rng, RngExt};
use tokio::sync::Notify;
use tracing::debug;

use super::batch::UdpSocket;

/// Sockets per address family per worker: the queries of this many batches
/// can be in flight on distinct ports before ports are shared.
pub const PER_FAMILY: usize = 32;

struct Member {
    socket: RefCell<Rc<UdpSocket>>,
    v6: bool,
    /// Lent out since it was opened: replaced once no query uses it.
    lent: Cell<bool>,
    /// Woken when `socket` is replaced, so its reader moves to the new one.
    replaced: Notify,
}

/// The pool. Sockets are known by a stable index; the socket behind an index
/// changes when it is replaced.
pub struct PortPool {
    members: Vec<Member>,
    /// Per family (0: IPv4, 1: IPv6), members not yet lent.
    fresh: [RefCell<Vec<usize>>; 2],
    /// Per family, every member.
    all: [Vec<usize>; 2],
    /// Sockets opened to replace used ones.
    pub replaced: Cell<u64>,
}

fn bind(v6: bool) -> io::Result<UdpSocket> {
    let any: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    UdpSocket::from_std(std::net::UdpSocket::bind(any)?)
}

impl PortPool {
    /// Opens `per_family` IPv4 sockets and as many IPv6 ones (none on a host
    /// without IPv6). Must run inside the worker's runtime.
    pub fn new(per_family: usize) -> io::Result<PortPool> {
        let mut pool = PortPool {
            members: Vec::new(),
            fresh: Default::default(),
            all: Default::default(),
            replaced: Cell::new(0),
        };
        for v6 in [false, true] {
            for _ in 0..per_family {
                let socket = match bind(v6) {
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

    /// No query uses socket `j` any more: if it was lent, replace it with a
    /// socket on a new random port. If no socket can be opened (descriptors
    /// exhausted), the old one stays in service.
    pub fn recycle(&self, j: usize) {
        let Some(m) = self.members.get(j) else { return };
        if !m.lent.get() {
            return;
        }
        match bind(m.v6) {
            Ok(s) => {
                *m.socket.borrow_mut() = Rc::new(s);
                self.replaced.set(self.replaced.get() + 1);
                m.replaced.notify_one();
            }
            Err(e) => debug!("cannot open an upstream socket, reusing the old one: {e}"),
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

    /// Completes when the socket behind `j` is replaced.
    pub async fn replaced(&self, j: usize) {
        self.members[j].replaced.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lent_sockets_come_back_on_new_ports_and_unlent_ones_stay() {
        let pool = PortPool::new(4).unwrap();
        let mut rng = rand::rng();
        let port = |j| pool.socket(j).local_addr().unwrap().port();
        let j = pool.lend(false, &mut rng).unwrap();
        let before = port(j);
        pool.recycle(j);
        assert_ne!(port(j), before, "a lent socket is replaced");
        assert_eq!(pool.replaced.get(), 1);
        let k = (0..pool.len())
            .find(|&k| k != j && !pool.members[k].v6)
            .unwrap();
        let kept = port(k);
        pool.recycle(k);
        assert_eq!(port(k), kept, "never lent: kept");
        let lent: std::collections::HashSet<_> = (0..4)
            .map(|_| pool.lend(false, &mut rng).unwrap())
            .collect();
        assert_eq!(lent.len(), 4, "fresh ones first");
        assert!(pool.lend(false, &mut rng).is_some(), "then shared");
    }
}
