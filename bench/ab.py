#!/usr/bin/env python3
"""Alternating A/B runs of two vpndns binaries and dnsdist, same upstream, same
machine: CPU µs per query of each, forwarding and local, saturated and at a
fixed rate. On a shared 2-core machine the run-to-run noise is larger than
most single changes, so each round runs every contender back to back.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [MORE ...] [--rounds 3] [--duration 4]

The binaries are labelled A, B, C, ... in the order given; every ratio is
against A (to bisect a slowdown, give the commits in history order). A
binary written as PATH@N runs with N UDP workers (default --workers).

Uses compare.py's loopback setup (upstream $BENCH_HOST:5301, vpndns on 5302,
dnsdist on 5303); every server started is stopped at the end.
"""

import argparse
import os
import re
import subprocess
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402
import profile as prof  # noqa: E402


def switches(pid):
    """Context switches (voluntary + involuntary) of all of pid's threads."""
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        n += int(line.split()[1])
        except FileNotFoundError:
            pass
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+", help="two or more vpndns binaries (A, B, ...)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dnsdist", action="store_true")
    ap.add_argument("--phases", default="", help="only phases whose name contains this")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count system calls per query (perf stat on the "
                         "syscalls:sys_enter_* tracepoints, which adds to the CPU time)")
    args = ap.parse_args()
    if len(args.binaries) < 2:
        ap.error("give at least two binaries")
    who = [(chr(ord("A") + i), b) for i, b in enumerate(args.binaries)]
    for label, binary in who:
        print(f"{label}: {binary}")
    if not args.no_dnsdist:
        who.append(("dnsdist", None))
    phases = [("fwd max", "q-forward.txt", []),
              ("local max", "q-local.txt", []),
              (f"fwd {args.rate // 1000}k", "q-forward.txt", ["-Q", str(args.rate)]),
              (f"local {args.rate // 1000}k", "q-local.txt", ["-Q", str(args.rate)])]
    phases = [x for x in phases if args.phases in x[0]]
    res = {}
    with tempfile.TemporaryDirectory(prefix="vpndns-ab.") as w:
        try:
            c.make_inputs(w, args.duration * args.rounds * 2)
            prof.upstream(w)
            for _ in range(args.rounds):
                for label, binary in who:
                    path, _, n = (binary or "").partition("@")

                    class A:
                        vpndns = os.path.abspath(path) if path else None
                        workers = int(n) if n else args.workers
                    p = c.start_proxy("dnsdist" if binary is None else "vpndns", A, w)
                    port = c.PORT["dnsdist" if binary is None else "vpndns"]
                    for phase, qfile, extra in phases:
                        if args.syscalls:
                            events = ",".join(f"syscalls:sys_enter_{e}" for e in prof.SYSCALLS)
                            perf = subprocess.Popen(["perf", "stat", "-x,", "-e", events,
                                                     "-p", str(p.pid), "-o", f"{w}/sc.txt"])
                        cs0 = switches(p.pid)
                        r = c.measured(f"{label} {phase}", p, port, f"{w}/{qfile}",
                                       args.duration, ["-c", "2", "-q", "200", *extra])
                        r["cs"] = (switches(p.pid) - cs0) / max(r["completed"], 1)
                        sc = {}
                        if args.syscalls:
                            perf.send_signal(2)
                            perf.wait()
                            with open(f"{w}/sc.txt") as f:
                                for line in f:
                                    m = re.match(r"(\d+),,syscalls:sys_enter_(\w+)", line)
                                    if m and int(m.group(1)) > 0:
                                        sc[m.group(2)] = int(m.group(1)) / max(r["completed"], 1)
                        res.setdefault((phase, label), []).append((r["qps"], r["cpu_us"], sc, r["cs"]))
                    c.stop(p)
        finally:
            c.stop_all()
    print(f"load average at the end: {os.getloadavg()}")
    last = who[len(args.binaries) - 1][0]
    print(f"| phase | {' | '.join(l for l, _ in who)} | CPU {last}/A | CPU {last}/dnsdist "
          f"| QPS {last}/A | QPS {last}/dnsdist |")
    print("| --- |" + " ---: |" * (len(who) + 4))
    for phase, _, _ in phases:
        cells, med, qmed = [], {}, {}
        for label, _ in who:
            xs = res[(phase, label)]
            cpu = sorted(x[1] for x in xs)
            med[label] = statistics.median(cpu)
            qps = qmed[label] = statistics.median(x[0] for x in xs)
            cs = statistics.median(x[3] for x in xs)
            cell = (f"{med[label]:.2f} ({cpu[0]:.2f}–{cpu[-1]:.2f}) µs, {qps / 1000:.1f}k QPS, "
                    f"{cs:.2f} switches")
            if label not in ("A", "dnsdist"):
                cell += f", {med[label] / med['A']:.2f}× A"
            if args.syscalls:
                sc = sorted(sum(x[2].values()) for x in xs)
                cell += f", {statistics.median(sc):.2f} ({sc[0]:.2f}–{sc[-1]:.2f}) syscalls"
                names = sorted({k for x in xs for k in x[2]})
                cell += " (" + " ".join(
                    f"{k} {statistics.median(x[2].get(k, 0) for x in xs):.2f}" for k in names) + ")"
            cells.append(cell)
        ratio = f"{med[last] / med['A']:.2f}"
        vs = f"{med[last] / med['dnsdist']:.2f}" if "dnsdist" in med else "-"
        qratio = f"{qmed[last] / qmed['A']:.2f}"
        qvs = f"{qmed[last] / qmed['dnsdist']:.2f}" if "dnsdist" in qmed else "-"
        print(f"| {phase} | {' | '.join(cells)} | {ratio} | {vs} | {qratio} | {qvs} |")


if __name__ == "__main__":
    main()
