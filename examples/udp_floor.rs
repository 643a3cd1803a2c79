//! The cheapest possible "local answer" on this machine, to put the proxies'
//! CPU per query in proportion (bench/profile.py floor, docs/performance.md):
//! every datagram is sent straight back as an NXDOMAIN response, with no
//! parsing. `single` uses one recvfrom and one sendto per datagram (blocking,
//! as dnsdist does); `batch` uses recvmmsg(MSG_WAITFORONE) and sendmmsg with
//! up to 64 datagrams per call.
//!
//!     cargo run --release --example udp_floor -- 127.0.0.1:5310 single|batch

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

const BATCH: usize = 64;
const BUF: usize = 2048;

fn answer(msg: &mut [u8]) {
    if msg.len() >= 12 {
        msg[2] |= 0x80; // QR
        msg[3] = (msg[3] & 0xf0) | 3; // NXDOMAIN
    }
}

fn single(sock: &UdpSocket) -> ! {
    let mut buf = [0u8; BUF];
    loop {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            answer(&mut buf[..n]);
            let _ = sock.send_to(&buf[..n], from);
        }
    }
}

fn batch(sock: &UdpSocket) -> ! {
    let fd = sock.as_raw_fd();
    let mut bufs = vec![[0u8; BUF]; BATCH];
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    loop {
        for i in 0..BATCH {
            iovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr().cast(),
                iov_len: BUF,
            };
            let hdr = &mut msgs[i].msg_hdr;
            hdr.msg_name = (&raw mut addrs[i]).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            hdr.msg_iov = &raw mut iovs[i];
            hdr.msg_iovlen = 1;
        }
        // SAFETY: msgs points at BATCH headers whose buffers live in bufs,
        // addrs and iovs, which outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            let len = msgs[i].msg_len as usize;
            answer(&mut bufs[i][..len]);
            iovs[i].iov_len = len;
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: as above; the first n headers were filled by recvmmsg.
            let m =
                unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr().add(sent), (n - sent) as u32, 0) };
            if m <= 0 {
                break;
            }
            sent += m as usize;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(mode)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: udp_floor ADDR:PORT single|batch");
        std::process::exit(2);
    };
    let sock = UdpSocket::bind(addr).expect("bind");
    match mode.as_str() {
        "single" => single(&sock),
        "batch" => batch(&sock),
        _ => {
            eprintln!("mode is single or batch");
            std::process::exit(2);
        }
    }
}
