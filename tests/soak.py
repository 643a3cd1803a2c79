#!/usr/bin/env python3
"""Soak test for vpndns (run by tests/soak.sh; not run by CI).

Runs the vpndns binary on loopback at a steady query rate for MINUTES while
a fake upstream is killed every 30 s (and restarted 5 s later) and vpndns gets
a SIGHUP every 10 s. Samples vpndns's RSS every 5 s. At the end checks that
every query got an answer (the real one or SERVFAIL), that no answer carried a
wrong ID or address, and that memory stayed flat; prints a summary and writes
the RSS curve as CSV.

Only loopback addresses are used (127.77.0.0/24).
"""

import argparse
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

PROXY = ("127.77.0.1", 5353)
UPSTREAM = ("127.77.0.2", 5300)
CLIENT_IP = "127.77.0.20"
ANSWER = bytes([192, 0, 2, 1])


def upstream_main():
    """The fake upstream: answers every A query with 192.0.2.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(UPSTREAM)
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        pos = 12
        while pos < len(msg) and msg[pos] != 0:
            pos += 1 + msg[pos]
        qend = pos + 5
        if qend > len(msg):
            continue
        header = msg[:2] + bytes([0x81, 0x80]) + struct.pack(">HHHH", 1, 1, 0, 0)
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + ANSWER
        s.sendto(header + msg[12:qend] + rr, peer)


def query(qid, name):
    out = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + struct.pack(">HH", 1, 1)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--qps", type=int, default=1000)
    ap.add_argument("--csv", default="soak-rss.csv")
    ap.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.upstream:
        return upstream_main()

    work = tempfile.mkdtemp(prefix="vpndns-soak-")
    with open(os.path.join(work, "ads.txt"), "w") as f:
        for i in range(20000):
            f.write(f"ad{i}.blocked.example\n")
    config = os.path.join(work, "vpndns.toml")
    with open(config, "w") as f:
        f.write(
            f'[server]\nlisten = ["{PROXY[0]}:{PROXY[1]}"]\ntimeout = "500ms"\n'
            f"workers = 2\nmax_inflight = 20000\n\n"
            f'[[forwarder]]\nname = "up"\naddress = "{UPSTREAM[0]}:{UPSTREAM[1]}"\n\n'
            f'[[policy]]\nsource = ["127.77.0.0/24"]\nforward = "up"\n\n'
            f'[block]\nlists = ["ads.txt"]\nresponse = "nxdomain"\n'
        )
    log = open(os.path.join(work, "vpndns.log"), "w")
    proxy = subprocess.Popen(
        [args.binary, "-c", config], stdout=subprocess.DEVNULL, stderr=log
    )
    up_cmd = [sys.executable, __file__, "--binary", "-", "--upstream"]
    upstream = subprocess.Popen(up_cmd)
    time.sleep(1.0)

    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    client.bind((CLIENT_IP, 0))
    client.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ)

    outstanding = {}  # id -> (sent at, blocked?)
    stats = dict(sent=0, noerror=0, nxdomain=0, servfail=0, lost=0, bad=0, dup=0)
    samples = []  # (seconds, rss KiB, outstanding)
    start = time.monotonic()
    end = start + args.minutes * 60
    next_send = start
    next_hup = start + 10
    next_kill = start + 30
    restart_at = None
    next_sample = start
    qid = 0
    interval = 1.0 / args.qps
    buf = bytearray(4096)

    while True:
        now = time.monotonic()
        if now >= end and not outstanding:
            break
        if now >= end + 5:
            break
        # Send what is due (in bursts if the loop fell behind).
        while now < end and next_send <= now:
            qid = (qid + 1) & 0xFFFF
            if qid in outstanding:
                stats["lost"] += 1  # wrapped around: never answered
            blocked = qid % 10 == 0
            name = f"ad{qid % 20000}.blocked.example" if blocked else f"q{qid}.soak.example"
            client.sendto(query(qid, name), PROXY)
            outstanding[qid] = (now, blocked)
            stats["sent"] += 1
            next_send += interval
        if now >= next_hup:
            proxy.send_signal(signal.SIGHUP)
            next_hup += 10
        if now >= next_kill:
            upstream.kill()
            upstream.wait()
            restart_at = now + 5
            next_kill += 30
        if restart_at is not None and now >= restart_at:
            upstream = subprocess.Popen(up_cmd)
            restart_at = None
        if now >= next_sample:
            if proxy.poll() is not None:
                print(f"vpndns exited with {proxy.returncode}", file=sys.stderr)
                break
            samples.append((round(now - start, 1), rss_kib(proxy.pid), len(outstanding)))
            next_sample += 5
        # Expire queries unanswered for 3 s (the proxy answers within 0.5 s).
        for k in [k for k, (t, _) in outstanding.items() if now - t > 3.0]:
            del outstanding[k]
            stats["lost"] += 1
        for _ in sel.select(timeout=min(interval, 0.01)):
            while True:
                try:
                    n, _ = client.recvfrom_into(buf)
                except BlockingIOError:
                    break
                if n < 12:
                    stats["bad"] += 1
                    continue
                rid = struct.unpack(">H", buf[:2])[0]
                entry = outstanding.pop(rid, None)
                if entry is None:
                    stats["dup"] += 1
                    continue
                rcode = buf[3] & 0x0F
                if rcode == 0 and not entry[1] and ANSWER in bytes(buf[:n]):
                    stats["noerror"] += 1
                elif rcode == 3 and entry[1]:
                    stats["nxdomain"] += 1
                elif rcode == 2 and not entry[1]:
                    stats["servfail"] += 1
                else:
                    stats["bad"] += 1

    upstream.kill()
    upstream.wait()
    alive = proxy.poll() is None
    proxy.terminate()
    proxy.wait()
    log.close()
    reloads = open(os.path.join(work, "vpndns.log")).read().count("reloaded")

    with open(args.csv, "w") as f:
        f.write("seconds,rss_kib,outstanding\n")
        for s in samples:
            f.write(f"{s[0]},{s[1]},{s[2]}\n")
    print(f"duration: {args.minutes} min at {args.qps} qps; reloads logged: {reloads}")
    print("counts: " + ", ".join(f"{k}={v}" for k, v in stats.items()))
    rss = [s[1] for s in samples if s[0] >= 30]
    if len(rss) >= 4:
        q = len(rss) // 4
        first, last = sum(rss[:q]) / q, sum(rss[-q:]) / q
        print(f"rss KiB: min {min(rss)}, max {max(rss)}, first quarter {first:.0f}, last quarter {last:.0f}")
        flat = last <= first * 1.10 + 1024
    else:
        flat = True
    print(f"rss curve written to {args.csv}")
    ok = alive and stats["lost"] == 0 and stats["bad"] == 0 and stats["dup"] == 0 and flat
    print("soak: OK" if ok else "soak: FAILED (alive=%s flat=%s)" % (alive, flat))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
