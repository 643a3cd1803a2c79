//! Batched datagram I/O: `recvmmsg`/`sendmmsg` on a tokio `UdpSocket`, so a
//! busy worker pays one system call per batch instead of one per datagram.
//! On Linux it also spreads the listeners' datagrams over the workers
//! (`spread_at_random`). The only unsafe code of the proxy is here;
//! buffers are allocated once.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::SockAddr;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A non-blocking UDP socket registered with the worker's reactor for
/// readability only.
///
/// `tokio::net::UdpSocket` registers for reading and writing, edge-triggered:
/// then every datagram sent wakes epoll once more (EPOLLOUT, when loopback
/// frees the sent buffer), and strace showed an extra `epoll_wait` returning
/// only that event after each `sendmmsg`. The proxy never waits to send (a
/// datagram the kernel will not take is dropped, as UDP may), so it asks
/// for EPOLLIN alone and the kernel filters the rest.
pub struct UdpSocket(AsyncFd<std::net::UdpSocket>);

impl UdpSocket {
    /// Makes `socket` non-blocking and registers it with the current
    /// runtime's reactor (there must be one) for readability.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        // SAFETY: the AsyncFd owns `socket`, so its descriptor stays open and
        // refers to the same socket until the AsyncFd drops it, and
        // `as_raw_fd` on it always returns that descriptor.
        let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE)? };
        Ok(UdpSocket(fd))
    }

    /// Waits until the socket may have a datagram to read (readiness stays
    /// set until a read finds the queue empty).
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await.map(|_guard| ())
    }

    /// Sends one datagram now, without waiting; `WouldBlock` when the kernel
    /// will not take it.
    pub fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.0.get_ref().send_to(buf, to)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    /// The socket itself, for calls that need no readiness.
    pub fn get_ref(&self) -> &std::net::UdpSocket {
        self.0.get_ref()
    }

    /// Drops every datagram queued, without waiting. A pending socket
    /// error (reported once, then cleared) does not end the drain early.
    pub fn discard_queued(&self) {
        let mut byte = [0u8; 1];
        let mut errors = 0;
        loop {
            match self.0.get_ref().recv(&mut byte) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) if errors == 0 => errors += 1,
                Err(_) => return,
            }
        }
    }

    /// The descriptor, for system calls on it (it stays owned here).
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.get_ref().as_raw_fd()
    }
}

/// Makes the kernel hand each datagram that reaches `socket`'s SO_REUSEPORT
/// group to one of the group's first `n` sockets at random, instead of by a
/// hash of the sender's address and port. With the hash, a few busy clients
/// (the VPN jails, dnsperf's two sockets) land on one worker half the time
/// while the others idle. Linux only: a three-instruction classic BPF
/// program, `SO_ATTACH_REUSEPORT_CBPF`; an index past the group's end makes
/// the kernel fall back to the hash.
#[cfg(target_os = "linux")]
pub fn spread_at_random(socket: &std::net::UdpSocket, n: u32) -> io::Result<()> {
    let filter = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let mut program = [
        // A = a random u32; A %= n; return A.
        filter(
            libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
            (libc::SKF_AD_OFF + libc::SKF_AD_RANDOM) as u32,
        ),
        filter(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K, n.max(1)),
        filter(libc::BPF_RET | libc::BPF_A, 0),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `program`, both alive for the call; the
    // kernel copies the program and reads `size_of` bytes of `fprog`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&raw const fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    zero_or_errno(rc)
}

/// Dissolves `socket`'s association (`connect` to an AF_UNSPEC address).
/// On Linux this also releases a port the kernel chose for it (one not
/// given to `bind`): its next send binds a new one.
pub fn disconnect(socket: &std::net::UdpSocket) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr_storage, and its family is then
    // AF_UNSPEC (0); the kernel reads at most `size_of` bytes of it.
    let unspec: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer and length describe `unspec`, alive for the call.
    let rc = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            (&raw const unspec).cast(),
            size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        )
    };
    zero_or_errno(rc)
}

/// A system call's 0 as `Ok`, anything else as the `errno` it left.
fn zero_or_errno(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Largest datagram received in a batch; longer ones are dropped (DNS
/// queries and answers over UDP are far smaller).
pub const MAX_DATAGRAM: usize = 4096;

/// Datagrams received by one `recvmmsg`. The headers and their buffers are
/// set up once: each call only resets the address lengths the last one used.
pub struct RecvBatch {
    bufs: Box<[u8]>,
    addrs: Box<[MaybeUninit<libc::sockaddr_storage>]>,
    /// One per datagram, pointing into `bufs` (heap memory that never moves
    /// or is freed before `self`); only the headers read it.
    _iov: Box<[libc::iovec]>,
    /// One per datagram, pointing into `addrs` and `iov`, likewise.
    hdrs: Box<[libc::mmsghdr]>,
    lens: [usize; BATCH],
    from: [Option<SocketAddr>; BATCH],
    count: usize,
}

const NAME_LEN: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl Default for RecvBatch {
    fn default() -> Self {
        let mut bufs = vec![0u8; BATCH * MAX_DATAGRAM].into_boxed_slice();
        let mut addrs: Box<[MaybeUninit<libc::sockaddr_storage>]> =
            (0..BATCH).map(|_| MaybeUninit::zeroed()).collect();
        let mut iov: Box<[libc::iovec]> = bufs
            .chunks_exact_mut(MAX_DATAGRAM)
            .map(|buf| libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            })
            .collect();
        let hdrs = iov
            .iter_mut()
            .zip(addrs.iter_mut())
            .map(|(iov, addr)| {
                // SAFETY: all-zero is a valid mmsghdr (null pointers, zero
                // lengths); the fields set below point into boxed memory
                // that `RecvBatch` owns.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = addr.as_mut_ptr().cast();
                h.msg_hdr.msg_namelen = NAME_LEN;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        RecvBatch {
            bufs,
            addrs,
            _iov: iov,
            hdrs,
            lens: [0; BATCH],
            from: [None; BATCH],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Receives up to [`BATCH`] datagrams without waiting; `WouldBlock` when
    /// there are none (and tokio then waits for readiness again).
    ///
    /// A batch shorter than [`BATCH`] means the receive queue was empty when
    /// the kernel stopped reading, so tokio's readiness is cleared here and
    /// the caller must wait for `readable()` again: that saves the extra
    /// `recvmmsg` that would only return `EAGAIN`. Nothing is lost: every
    /// datagram queued after the kernel looked raises a new edge-triggered
    /// epoll event, which the driver reads after this task yields, and
    /// clearing only drops readiness tokio had already seen (its tick).
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        // The kernel shortened the address lengths of the datagrams it filled.
        for h in &mut self.hdrs[..self.count] {
            h.msg_hdr.msg_namelen = NAME_LEN;
        }
        self.count = 0;
        let hdrs = self.hdrs.as_mut_ptr();
        let fd = socket.as_raw_fd();
        let n = socket.0.try_io(Interest::READABLE, |_| {
            // SAFETY: `hdrs` holds BATCH initialised headers whose buffers
            // and address storage (owned by `self`, borrowed mutably for
            // this call) are valid for writes for the whole call.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    hdrs,
                    BATCH as _,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        })?;
        for (i, h) in self.hdrs.iter().take(n).enumerate() {
            let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.lens[i] = if truncated { 0 } else { h.msg_len as usize };
            // SAFETY: the storage was zeroed and the kernel wrote the sender's
            // address into it.
            self.from[i] = to_socket_addr(unsafe { self.addrs[i].assume_init_ref() });
        }
        self.count = n;
        if n < BATCH {
            // Not a system call: a closure returning WouldBlock makes tokio
            // clear the readiness it observed before calling it.
            let _ = socket.0.try_io(Interest::READABLE, |_| {
                Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
            });
        }
        Ok(n)
    }

    /// Datagram `i` of the last batch and its sender; `None` for one that
    /// was too long or came from a non-IP address.
    pub fn get_mut(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        if i >= self.count || self.lens[i] == 0 {
            return None;
        }
        let from = self.from[i]?;
        let start = i * MAX_DATAGRAM;
        Some((&mut self.bufs[start..start + self.lens[i]], from))
    }
}

/// The IP socket address in `ss`, if it holds one.
fn to_socket_addr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: an AF_INET storage holds a sockaddr_in, which is smaller.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: an AF_INET6 storage holds a sockaddr_in6, which is smaller.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Datagrams to send, grouped by the socket (index) they leave from, flushed
/// with one `sendmmsg` per socket.
pub struct SendBatch {
    bufs: Vec<Vec<u8>>,
    to: Vec<(usize, SocketAddr)>,
    count: usize,
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            bufs: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            to: Vec::with_capacity(BATCH),
            count: 0,
        }
    }
}

impl SendBatch {
    /// Whether the batch is full and must be flushed before the next push.
    pub fn is_full(&self) -> bool {
        self.count == BATCH
    }

    /// A cleared buffer for the next datagram; commit it with [`push`](Self::push).
    pub fn next_buf(&mut self) -> &mut Vec<u8> {
        let b = &mut self.bufs[self.count];
        b.clear();
        b
    }

    /// Commits the buffer from [`next_buf`](Self::next_buf), to leave from
    /// socket `socket` towards `to`.
    pub fn push(&mut self, socket: usize, to: SocketAddr) {
        self.to.push((socket, to));
        self.count += 1;
    }

    /// Sends everything, each datagram from `sockets[its index]`. Datagrams
    /// the kernel will not take now are dropped, as UDP may.
    pub fn flush(&mut self, sockets: &[UdpSocket]) {
        self.flush_by(|i| sockets.get(i).map(|s| s.as_raw_fd()))
    }

    /// As [`flush`](Self::flush), each datagram from the descriptor `fd`
    /// gives for its index (none: dropped).
    pub fn flush_by(&mut self, fd: impl Fn(usize) -> Option<std::os::fd::RawFd>) {
        let mut done = [false; BATCH];
        for first in 0..self.count {
            if done[first] {
                continue;
            }
            let socket = self.to[first].0;
            let mut names: [MaybeUninit<SockAddr>; BATCH] =
                [const { MaybeUninit::uninit() }; BATCH];
            let mut iov: [MaybeUninit<libc::iovec>; BATCH] =
                [const { MaybeUninit::uninit() }; BATCH];
            let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] =
                [const { MaybeUninit::uninit() }; BATCH];
            let mut n = 0;
            for (i, seen) in done.iter_mut().enumerate().take(self.count).skip(first) {
                if self.to[i].0 != socket {
                    continue;
                }
                *seen = true;
                let name = names[n].write(SockAddr::from(self.to[i].1));
                iov[n].write(libc::iovec {
                    iov_base: self.bufs[i].as_ptr() as *mut libc::c_void,
                    iov_len: self.bufs[i].len(),
                });
                // SAFETY: all-zero is a valid mmsghdr; the pointers set below
                // stay valid until sendmmsg returns.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = name.as_ptr() as *mut libc::c_void; // sockaddr_storage, read only
                h.msg_hdr.msg_namelen = name.len();
                h.msg_hdr.msg_iov = iov[n].as_mut_ptr();
                h.msg_hdr.msg_iovlen = 1;
                hdrs[n].write(h);
                n += 1;
            }
            let Some(sock) = fd(socket) else {
                continue;
            };
            // No readiness tracking for sends: a non-blocking sendmmsg takes
            // what fits, and UDP may drop the rest.
            let mut sent = 0;
            while sent < n {
                // SAFETY: `hdrs[sent..n]` are initialised and point at buffers
                // and addresses that live until we return.
                let r = unsafe {
                    libc::sendmmsg(
                        sock,
                        hdrs[sent..].as_mut_ptr().cast(),
                        (n - sent) as _,
                        libc::MSG_DONTWAIT,
                    )
                };
                if r <= 0 {
                    break;
                }
                sent += r as usize;
            }
            for name in &mut names[..n] {
                // SAFETY: the first `n` names were written above.
                unsafe { name.assume_init_drop() };
            }
        }
        self.to.clear();
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two SO_REUSEPORT siblings and one sender on one port: by the hash,
    /// every datagram goes to the same sibling; spread, both get some.
    #[cfg(target_os = "linux")]
    #[test]
    fn one_sender_is_spread_over_the_siblings() {
        use std::time::Duration;
        let sibling = |addr: std::net::SocketAddr| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            s.set_reuse_port(true)?;
            s.bind(&addr.into())?;
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
            io::Result::Ok(std::net::UdpSocket::from(s))
        };
        let count = |spread: bool| {
            let first = sibling("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = first.local_addr().unwrap();
            let second = sibling(addr).unwrap();
            if spread {
                spread_at_random(&first, 2).unwrap();
            }
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for _ in 0..64 {
                sender.send_to(b"q", addr).unwrap();
            }
            let drain = |s: &std::net::UdpSocket| {
                let mut buf = [0u8; 8];
                std::iter::from_fn(|| s.recv(&mut buf).ok()).count()
            };
            let (a, b) = (drain(&first), drain(&second));
            assert_eq!(a + b, 64, "every datagram arrives once");
            a.min(b)
        };
        assert_eq!(count(false), 0, "the hash sends one sender to one sibling");
        // 2 * 2^-64 that a random spread leaves one sibling empty.
        assert!(count(true) > 0, "spread over both");
    }

    #[tokio::test]
    async fn a_batch_round_trip() {
        let bind = || UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let (a, b) = (bind().unwrap(), bind().unwrap());
        let to = b.local_addr().unwrap();
        let mut out = SendBatch::default();
        for i in 0..40u8 {
            if out.is_full() {
                out.flush(std::slice::from_ref(&a));
            }
            out.next_buf().extend_from_slice(&[i; 20]);
            out.push(0, to);
        }
        out.flush(std::slice::from_ref(&a));
        let mut got = Vec::new();
        let mut batch = RecvBatch::default();
        while got.len() < 40 {
            b.readable().await.unwrap();
            let Ok(n) = batch.recv(&b) else { continue };
            for i in 0..n {
                let (msg, from) = batch.get_mut(i).unwrap();
                assert_eq!(from, a.local_addr().unwrap());
                assert_eq!(msg.len(), 20);
                got.push(msg[0]);
            }
        }
        assert_eq!(got, (0..40).collect::<Vec<u8>>());
    }

    #[tokio::test]
    async fn oversized_datagrams_are_dropped() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        a.send_to(&vec![1u8; MAX_DATAGRAM + 1], b.local_addr().unwrap())
            .unwrap();
        a.send_to(&[2u8; 12], b.local_addr().unwrap()).unwrap();
        let mut batch = RecvBatch::default();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            b.readable().await.unwrap();
            let Ok(n) = batch.recv(&b) else { continue };
            for i in 0..n {
                seen.push(batch.get_mut(i).map(|(m, _)| m.len()));
            }
        }
        assert_eq!(seen, vec![None, Some(12)]);
    }
}
