#!/usr/bin/env python3
"""Where a forwarded query's time goes, hop by hop, from a packet capture on
loopback: client -> proxy (t0), proxy -> upstream (t1), upstream -> proxy
(t2), proxy -> client (t3), matched by query name (case folded, so 0x20
randomisation does not break the match). Needs every query name to be
unique in the capture, as compare.py's forwarded query files are.

    tcpdump -i lo -n -s 160 -B 65536 --time-stamp-precision=nano \\
        -w cap.pcap udp and host 127.53.0.1 &
    dnsperf -s 127.53.0.1 -p 5302 -d q-forward.txt -l 3 -Q 10000 -c 2
    python3 bench/hops.py cap.pcap 5302 5301

prints p50/p90/p99 in µs of the query hop (t1 - t0), the upstream (t2 -
t1), the answer hop (t3 - t2) and the total, over the queries seen on all
four legs. The capture adds work on every packet, so compare proxies in the
same run, not against figures taken without it.
"""

import struct
import sys


def qname(dns):
    i, labels = 12, []
    while i < len(dns) and dns[i]:
        labels.append(dns[i + 1:i + 1 + dns[i]])
        i += 1 + dns[i]
    return b".".join(labels).lower()


def legs(path, proxy_port, upstream_port):
    """Per query name, the first time seen on each of the four legs."""
    seen = {}

    def leg(response, sport, dport):
        if response:
            return {upstream_port: 2, proxy_port: 3}.get(sport)
        return {proxy_port: 0, upstream_port: 1}.get(dport)

    with open(path, "rb") as f:
        magic, = struct.unpack("<I", f.read(4))
        f.read(20)
        scale = 1e9 if magic == 0xA1B23C4D else 1e6
        while True:
            header = f.read(16)
            if len(header) < 16:
                break
            sec, frac, incl, _ = struct.unpack("<IIII", header)
            frame = f.read(incl)
            ip = frame[14:]  # Ethernet header, as tcpdump writes loopback
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
            dns = ip[ihl + 8:]
            if len(dns) < 13:
                continue
            k = leg(dns[2] >> 7, sport, dport)
            if k is None:
                continue
            times = seen.setdefault(qname(dns), [None] * 4)
            if times[k] is None:
                times[k] = sec + frac / scale
    return [t for t in seen.values() if None not in t]


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1e6


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    complete = legs(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    if not complete:
        sys.exit("no query seen on all four legs")
    print(f"{len(complete)} queries    p50 µs   p90 µs   p99 µs")
    for name, a, b in [("query hop", 0, 1), ("upstream", 1, 2), ("answer hop", 2, 3),
                       ("total", 0, 3)]:
        d = [t[b] - t[a] for t in complete]
        print(f"  {name:11s} {quantile(d, .5):8.1f} {quantile(d, .9):8.1f} {quantile(d, .99):8.1f}")


if __name__ == "__main__":
    main()
