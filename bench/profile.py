#!/usr/bin/env python3
"""Where the proxies spend their time per query (docs/performance.md).

    python3 bench/profile.py syscalls   # system calls per query, each proxy
    python3 bench/profile.py perf       # perf record of vpndns (cpu-clock);
                                        # RATE=20000 for a fixed rate
    python3 bench/profile.py callgrind  # user-space instructions per query
                                        # (KEEP=DIR keeps callgrind's output)
    python3 bench/profile.py floor      # CPU/query of a do-nothing responder
                                        # (examples/udp_floor.rs) vs the proxies

Needs what bench/compare.sh installs and builds, plus perf (Debian's
linux-perf) for the first two and valgrind for the last. Uses the same
loopback setup as compare.py (upstream $BENCH_HOST:5301, proxies 5302-5304);
every server started is stopped at the end.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402

SYSCALLS = ["sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
            "epoll_wait", "epoll_pwait", "poll", "ppoll", "futex", "read", "write"]


class Args:
    # VPNDNS_BIN and PROXIES (comma-separated) override the defaults.
    vpndns = os.path.abspath(os.environ.get("VPNDNS_BIN", "target/release/vpndns"))
    workers = 2


PROXIES = os.environ.get("PROXIES", ",".join(c.PROXIES)).split(",")


def upstream(w):
    conf = c.write(f"{w}/upstream.conf", f"""\
setSecurityPollSuffix("")
setLocal("{c.HOST}:{c.PORT_UPSTREAM}")
addAction(AllRule(), SpoofAction("192.0.2.1"))
""")
    up = c.start("upstream", ["dnsdist", "--supervised", "--disable-syslog", "-C", conf], w)
    c.wait_answer(c.PORT_UPSTREAM, "ready.fwd.bench", proc=up)


def syscalls(w, seconds=4):
    """perf stat on the syscalls:sys_enter_* tracepoints of each proxy while
    dnsperf runs, divided by the queries answered."""
    events = ",".join(f"syscalls:sys_enter_{e}" for e in SYSCALLS)
    for name in PROXIES:
        p = c.start_proxy(name, Args, w)
        for kind, qfile, extra in [("forward, 20k QPS", "q-forward.txt", ["-Q", "20000"]),
                                   ("forward, max", "q-forward.txt", []),
                                   ("local, 20k QPS", "q-local.txt", ["-Q", "20000"])]:
            out = f"{w}/syscalls.txt"
            perf = subprocess.Popen(["perf", "stat", "-x,", "-e", events, "-p", str(p.pid),
                                     "-o", out])
            time.sleep(0.3)
            r = c.dnsperf(c.PORT[name], f"{w}/{qfile}", seconds, ["-c", "2", "-q", "200", *extra])
            perf.send_signal(2)
            perf.wait()
            counts = {}
            with open(out) as f:
                for line in f:
                    m = re.match(r"(\d+),,syscalls:sys_enter_(\w+)", line)
                    if m and int(m.group(1)) > 0:
                        counts[m.group(2)] = int(m.group(1)) / r["completed"]
            detail = " ".join(f"{k}={v:.2f}" for k, v in counts.items() if v >= 0.01)
            print(f"{name:8} {kind:17} {r['qps']:8.0f} QPS  syscalls/query "
                  f"{sum(counts.values()):.2f}: {detail}", flush=True)
        c.stop(p)


def perf_record(w, seconds=8):
    p = c.start_proxy("vpndns", Args, w)
    for kind, qfile in [("forward", "q-forward.txt"), ("local", "q-local.txt")]:
        data = f"{w}/perf-{kind}.data"
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "4999", "-g",
                                 "-o", data, "-p", str(p.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        rate = ["-Q", os.environ["RATE"]] if os.environ.get("RATE") else []
        c.measured(f"vpndns {kind}", p, c.PORT["vpndns"], f"{w}/{qfile}", seconds,
                   ["-c", "2", "-q", "200", *rate])
        perf.send_signal(2)
        perf.wait()
        for sort in ("dso", "sym"):
            rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort,
                                  "--stdio", "-g", "none"], capture_output=True, text=True).stdout
            rows = [x for x in rep.splitlines() if x.strip() and not x.startswith("#")]
            print(f"== vpndns {kind}, by {sort}\n" + "\n".join(rows[:25 if sort == "sym" else 5]))


# CALLGRIND_SCOPE=tasks counts the whole UDP tasks (serve_clients and
# serve_upstream: batch receive and send set-up, per-batch loads, tokio's
# polling of them) instead of only on_query/on_response; toggles nest badly,
# so it is one or the other.
# CALLGRIND_SCOPE: the handlers (default), the worker's socket tasks, or
# everything the process runs ("all": every thread, runtime and timers too).
TOGGLE = {"handlers": ["--toggle-collect=*on_query*", "--toggle-collect=*on_response*"],
          "tasks": ["--toggle-collect=*serve_clients*", "--toggle-collect=*serve_upstream*"],
          "all": []}[os.environ.get("CALLGRIND_SCOPE", "handlers")]


def callgrind(w, queries=20000):
    """Instructions inside on_query/on_response per query, one worker, at a
    low fixed rate (valgrind is ~50x slower)."""
    for kind, qfile in [("forward", "q-forward.txt"), ("local", "q-local.txt")]:
        sub = f"{w}/cg-{kind}.txt"
        with open(f"{w}/{qfile}") as src, open(sub, "w") as dst:
            for _, line in zip(range(queries), src):
                dst.write(line)
        conf = c.vpndns_conf(w, c.PORT["vpndns"], 1, [f"{w}/blocked.txt"])
        out = f"{w}/callgrind-{kind}.out"
        p = c.start("callgrind", ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                  *TOGGLE,
                                  Args.vpndns, "-c", conf, "run"], w)
        c.wait_answer(c.PORT["vpndns"], c.static_name(1), timeout=60, proc=p)
        r = subprocess.run(["dnsperf", "-s", c.HOST, "-p", str(c.PORT["vpndns"]), "-d", sub,
                            "-n", "1", "-Q", "2000", "-t", "5"], capture_output=True, text=True)
        done = int(re.search(r"Queries completed:\s+(\d+)", r.stdout).group(1))
        c.stop(p)
        if os.environ.get("KEEP"):
            subprocess.run(["cp", out, os.environ["KEEP"]], check=True)
        rep = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
        total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", rep).group(1).replace(",", ""))
        print(f"== vpndns {kind}: {total / done:.0f} instructions/query over {done} queries")
        for line in rep.splitlines():
            m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+\S*?:?(\S+) ", line)
            if m and "PROGRAM" not in line and float(m.group(2)) >= 1.0:
                ir = int(m.group(1).replace(",", ""))
                print(f"  {ir / done:6.0f} Ir/query {m.group(2):>5}%  {m.group(3)[:90]}")


def floor(w, seconds=5, rounds=2):
    """CPU per locally answered query: examples/udp_floor.rs (no parsing;
    per-datagram syscalls, then recvmmsg/sendmmsg) against vpndns and dnsdist."""
    subprocess.run(["cargo", "build", "--release", "--example", "udp_floor"], check=True)
    binary = os.path.abspath("target/release/examples/udp_floor")
    res = {}
    for _ in range(rounds):
        for name in ["floor single", "floor batch", "vpndns", "dnsdist"]:
            if name.startswith("floor"):
                port = 5310
                p = c.start(name.replace(" ", "-"), [binary, f"{c.HOST}:{port}", name[6:]], w)
                c.wait_answer(port, "x.test", proc=p)
            else:
                port = c.PORT[name]
                p = c.start_proxy(name, Args, w)
            for load, extra in [("saturated", []), ("20k QPS", ["-Q", "20000"])]:
                r = c.measured(f"{name} {load}", p, port, f"{w}/q-local.txt", seconds,
                               ["-c", "2", "-q", "200", *extra])
                res.setdefault((name, load), []).append(f"{r['qps']:.0f} QPS {r['cpu_us']:.2f} µs")
            c.stop(p)
    for (name, load), runs in res.items():
        print(f"{name:13} {load:9}  " + "  |  ".join(runs))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "syscalls"
    with tempfile.TemporaryDirectory(prefix="vpndns-profile.") as w:
        try:
            c.make_inputs(w, 4)
            upstream(w)
            {"syscalls": syscalls, "perf": perf_record, "callgrind": callgrind,
             "floor": floor}[mode](w)
        finally:
            c.stop_all()


if __name__ == "__main__":
    main()
