#!/usr/bin/env python3
"""Side-by-side benchmark of vpndns, dnsdist and dnsmasq (issue 6).

Run through bench/compare.sh, which installs the packages and builds vpndns.
Everything listens on one loopback address only, 127.53.0.1 unless
$BENCH_HOST says otherwise (not 127.0.0.1, where tests and other servers on a
shared machine listen on the same ports); every server this script starts is
stopped when it ends, also on failure or Ctrl-C (and compare.sh kills any pid
left in WORKDIR/pids).

Phases:
  A. throughput, repeated --rounds times, each proxy started fresh:
     forwarding (unique names, nothing cacheable) and locally answered
     (static and blocked names); CPU time of the proxy process from
     /proc/PID/stat over each phase, divided by the queries answered.
  B. latency and loss at a fixed offered load (dnsperf -Q), by default 50% of
     dnsdist's forwarding throughput from phase A; the upstream's own latency
     at the same load is measured too so the added latency can be read off.
  C. blocklist scale: 1,000,000 generated domains plus the real lists; time
     from exec until the first blocked name is answered, and VmRSS.
  D. vpndns with that list under the fixed load (half forwarded, half local),
     sent SIGHUP every 2 s: reloads done and queries lost.
  L. latency added at a fixed load (issue 17): dnsdist's forwarding
     saturation measured first, then 25% and 50% of it; each round runs the
     upstream alone, vpndns, dnsdist and dnsmasq back to back at that rate
     (dnsperf -Q, per-query latencies), and the upstream's p50/p99/p99.9 is
     subtracted from each proxy's in the same round.
  F. failover (issue 17): two upstreams; after a 2 s warm-up at the fixed load
     the first is stopped (SIGSTOP: silent, its socket still accepts) and
     dnsperf measures the next --failover-window seconds: p50/p99 and loss of
     vpndns (forward = [first, second]) and of dnsdist (firstAvailable over
     the same two, with its default health checks), in alternating rounds.
"""

import argparse
import atexit
import json
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HOST = os.environ.get("BENCH_HOST", "127.53.0.1")
PORT_UPSTREAM = 5301
PORT = {"vpndns": 5302, "dnsdist": 5303, "dnsmasq": 5304}
PROXIES = ["vpndns", "dnsdist", "dnsmasq"]
STATIC_NAMES = 1000
BLOCKED_NAMES = 1000
HZ = os.sysconf("SC_CLK_TCK")

procs = []  # (name, Popen) still running


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def start(name, argv, workdir):
    out = open(os.path.join(workdir, f"{name}.log"), "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    procs.append((name, p))
    with open(os.path.join(workdir, "pids"), "a") as f:
        f.write(f"{p.pid}\n")
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for i, (_, q) in enumerate(procs):
        if q is p:
            del procs[i]
            break


def stop_all():
    while procs:
        stop(procs[-1][1])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / HZ


def cpu_times():
    """The machine's CPU counters from /proc/stat (user, nice, system, idle,
    iowait, irq, softirq, steal, ...), for `steal_pct`."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def steal_pct(before, after):
    """The share of CPU time the hypervisor took between two `cpu_times`
    readings, in percent: on a virtual machine a run with much steal measures
    the host's other guests as much as the proxy."""
    d = [b - a for a, b in zip(before, after)]
    return 100.0 * d[7] / sum(d) if len(d) > 7 and sum(d) > 0 else 0.0


def vmrss_kib(pid, key="VmRSS:"):
    """VmRSS (or, with key="VmHWM:", its peak) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- DNS probe


def query_bytes(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def wait_answer(port, name, want_ip=None, timeout=60.0, proc=None):
    """Polls every 5 ms until `name` A is answered (with `want_ip` as the last
    four bytes of the answer when given). Returns the time it was answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.005)
    deadline = time.monotonic() + timeout
    qid = 0
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before answering")
            qid = (qid + 1) & 0xFFFF
            try:
                s.sendto(query_bytes(qid, name), (HOST, port))
                while True:
                    data = s.recv(4096)
                    if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                        break
            except (socket.timeout, ConnectionRefusedError):
                continue
            ancount = struct.unpack(">H", data[6:8])[0]
            if want_ip is None or (ancount >= 1 and data[-4:] == socket.inet_aton(want_ip)):
                return time.monotonic()
            time.sleep(0.005)
    finally:
        s.close()
    raise RuntimeError(f"no answer for {name} on port {port} within {timeout}s")


# ---------------------------------------------------------------- dnsperf


def pct(lat, q, lost=0):
    """The q-quantile of sorted latencies `lat`; `lost` queries count as
    never answered (infinite), so a loss above 1 - q makes it infinite."""
    n = len(lat) + lost
    i = min(n - 1, int(n * q))
    if n == 0:
        return float("nan")
    return lat[i] if i < len(lat) else float("inf")


def dnsperf(port, datafile, duration, extra=(), verbose=False, every=None, on_start=None,
            timeout=2):
    """Runs dnsperf and parses its summary; with `verbose`, also p50/p99/p99.9
    from the per-query lines (answered queries only; "*_all" counts the lost
    ones as infinite). `every`, if given, is called about once a second while
    dnsperf runs; `on_start` right after it is started."""
    # -t 2: queries still unanswered 2 s after the time limit count as lost
    # (the default, 5 s, only makes each phase longer).
    argv = ["dnsperf", "-s", HOST, "-p", str(port), "-d", datafile,
            "-l", str(duration), "-t", str(timeout), *extra]
    if verbose:
        argv.append("-v")
    t0 = cpu_times()
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        if on_start:
            on_start()
        while p.poll() is None:
            try:
                p.wait(1)
            except subprocess.TimeoutExpired:
                if every:
                    every()
        if p.returncode != 0:
            raise RuntimeError(f"dnsperf exited with {p.returncode}")
        out.seek(0)
        text = out.read()
    num = lambda pat: float(re.search(pat, text).group(1))
    r = {
        "sent": num(r"Queries sent:\s+(\d+)"),
        "completed": num(r"Queries completed:\s+(\d+)"),
        "lost": num(r"Queries lost:\s+(\d+)"),
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "avg": num(r"Average Latency \(s\):\s+([\d.]+)"),
        "steal": steal_pct(t0, cpu_times()),
    }
    if verbose:
        lat = sorted(float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", text, re.M))
        for q, key in ((0.5, "p50"), (0.99, "p99"), (0.999, "p999")):
            r[key] = pct(lat, q)
            r[key + "_all"] = pct(lat, q, int(r["lost"]))
        r["max"] = lat[-1] if lat else float("nan")
    return r


def measured(name, p, port, datafile, duration, extra):
    c0 = cpu_seconds(p.pid)
    r = dnsperf(port, datafile, duration, extra)
    r["cpu_us"] = (cpu_seconds(p.pid) - c0) / max(r["completed"], 1) * 1e6
    log(f"  {name}: {r['qps']:.0f} qps, {r['cpu_us']:.2f} us CPU/query, lost {r['lost']:.0f}")
    return r


# ---------------------------------------------------------------- configs


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def static_name(i):
    return f"s{i}.static.bench"


def static_ip(i):
    return f"10.1.{i // 250}.{i % 250 + 1}"


def blocked_name(i):
    return f"b{i}.blocked.bench"


def make_inputs(w, duration):
    """Query files and the small local lists every proxy is given."""
    n_fwd = max(1_000_000, duration * 150_000)
    with open(f"{w}/q-forward.txt", "w") as f:
        tag = random.getrandbits(32)
        for i in range(n_fwd):
            f.write(f"q{i}-{tag:08x}.fwd.bench A\n")
    with open(f"{w}/q-local.txt", "w") as f:
        for i in range(max(STATIC_NAMES, BLOCKED_NAMES)):
            f.write(f"{static_name(i % STATIC_NAMES)} A\n{blocked_name(i % BLOCKED_NAMES)} A\n")
    write(f"{w}/static.hosts",
          "".join(f"{static_ip(i)} {static_name(i)}\n" for i in range(STATIC_NAMES)))
    write(f"{w}/blocked.txt", "".join(f"{blocked_name(i)}\n" for i in range(BLOCKED_NAMES)))


def vpndns_conf(w, port, workers, lists, upstreams=(PORT_UPSTREAM,)):
    """Forwarders up, up2, ... on `upstreams`, tried in that order."""
    quoted = ", ".join(f'"{x}"' for x in lists)
    names = [f"up{i + 1 if i else ''}" for i in range(len(upstreams))]
    fwds = "".join(f'[[forwarder]]\nname = "{n}"\naddress = "{HOST}:{u}"\n\n'
                   for n, u in zip(names, upstreams))
    order = ", ".join(f'"{n}"' for n in names)
    return write(f"{w}/vpndns-{port}.toml", f"""\
[server]
listen = ["{HOST}:{port}"]
workers = {workers}
timeout = "1500ms"
max_inflight = 8192

{fwds}[[policy]]
source = ["127.0.0.0/8"]
forward = [{order}]

[static]
ttl = 300
auto_ptr = false
files = ["{w}/static.hosts"]

[block]
lists = [{quoted}]
response = "null"
ttl = 60

[log]
queries = false
""")


def dnsdist_conf(w):
    static = "\n".join(f'st:add(newDNSName("{static_name(i)}"))' for i in range(STATIC_NAMES))
    blocked = "\n".join(f'bl:add(newDNSName("{blocked_name(i)}"))' for i in range(BLOCKED_NAMES))
    return write(f"{w}/dnsdist.conf", f"""\
setSecurityPollSuffix("")
setLocal("{HOST}:{PORT['dnsdist']}")
newServer({{address="{HOST}:{PORT_UPSTREAM}", name="up"}})
st = newSuffixMatchNode()
{static}
bl = newSuffixMatchNode()
{blocked}
addAction(SuffixMatchNodeRule(st), SpoofAction("10.1.0.1"))
addAction(SuffixMatchNodeRule(bl), SpoofAction("0.0.0.0"))
""")


def dnsmasq_argv(w, port, conf, extra=()):
    return ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}",
            "--no-resolv", "--no-hosts", "--no-poll", "--cache-size=0",
            f"--server={HOST}#{PORT_UPSTREAM}", f"--listen-address={HOST}",
            "--bind-interfaces", f"--port={port}", "--pid-file=",
            "--dns-forward-max=1000", "--log-facility=-", *extra]


def dnsmasq_local_conf(w):
    lines = [f"address=/{static_name(i)}/{static_ip(i)}\n" for i in range(STATIC_NAMES)]
    lines += [f"address=/{blocked_name(i)}/#\n" for i in range(BLOCKED_NAMES)]
    return write(f"{w}/dnsmasq-local.conf", "".join(lines))


def start_proxy(name, args, w):
    port = PORT[name]
    if name == "vpndns":
        conf = vpndns_conf(w, port, args.workers, [f"{w}/blocked.txt"])
        p = start(name, [args.vpndns, "-c", conf, "run"], w)
    elif name == "dnsdist":
        p = start(name, ["dnsdist", "--supervised", "--disable-syslog", "-C", dnsdist_conf(w)], w)
    else:
        p = start(name, dnsmasq_argv(w, port, dnsmasq_local_conf(w)), w)
    wait_answer(port, static_name(1), proc=p)
    wait_answer(port, "ready.fwd.bench", proc=p)
    return p


# ---------------------------------------------------------------- blocklists


def parse_list_line(line):
    """Mirror of vpndns's blocklist::parse_line for the dnsmasq conversion:
    returns the domains a line blocks (allow rules are not converted)."""
    line = line.strip()
    if not line or line[0] in "#![" or line.startswith("@@"):
        return []
    if line.startswith("||"):
        d = line[2:]
        return [d[:-1]] if d.endswith("^") and is_domain(d[:-1]) else []
    toks = line.split("#", 1)[0].split()
    if not toks:
        return []
    if is_ip(toks[0]):
        names = [t for t in toks[1:] if t.lower() not in HOSTS_SELF]
        return names if all(is_domain(t) for t in names) else []
    if len(toks) > 1:
        return []
    d = toks[0][2:] if toks[0].startswith("*.") else toks[0]
    return [d] if is_domain(d) else []


HOSTS_SELF = {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
              "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes",
              "ip6-allrouters", "ip6-allhosts", "0.0.0.0"}
DOMAIN_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?$")


def is_ip(s):
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, s)
            return True
        except OSError:
            pass
    return False


def is_domain(s):
    return len(s) <= 254 and bool(DOMAIN_RE.match(s)) and not is_ip(s.rstrip("."))


def make_blocklist(w, n, real_dir):
    rng = random.Random(6)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    tlds = ["com", "net", "org", "io", "info", "xyz", "de", "ru", "co.uk", "app"]
    gen = set()
    while len(gen) < n:
        parts = ["".join(rng.choices(letters, k=rng.randint(4, 12)))
                 for _ in range(rng.randint(1, 3))]
        gen.add(".".join(parts) + "." + rng.choice(tlds))
    gen = sorted(gen)
    rng.shuffle(gen)
    write(f"{w}/gen-1m.txt", "\n".join(gen) + "\n")
    real_dir = os.path.abspath(real_dir) if real_dir else ""
    real = sorted(os.path.join(real_dir, f) for f in os.listdir(real_dir)
                  if f.endswith(".txt")) if real_dir and os.path.isdir(real_dir) else []
    domains = {d.lower().rstrip(".") for d in gen}
    for path in real:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                domains.update(d.lower().rstrip(".") for d in parse_list_line(line))
    with open(f"{w}/dnsmasq-1m.conf", "w") as f:
        for d in domains:
            f.write(f"address=/{d}/#\n")
    return [f"{w}/gen-1m.txt", *real], len(gen), len(domains), gen[0]


_blocklist = []


def blocklist_files(args, w):
    """The generated list and the real ones, made once per run."""
    if not _blocklist:
        log(f"generating {args.domains} domains (+ real lists from {args.real_lists or '-'})")
        _blocklist.append(make_blocklist(w, args.domains, args.real_lists))
        log(f"  {_blocklist[0][1]} generated, {_blocklist[0][2]} distinct with the real lists")
    return _blocklist[0]


def scale_run(name, args, w, lists, probe):
    """Starts `name` with the full list (`lists`) or with only the probe domain
    (`lists` empty), and times exec until the probe is answered 0.0.0.0."""
    port = PORT[name]
    if name == "vpndns":
        small = [write(f"{w}/probe.txt", probe + "\n")]
        argv = [args.vpndns, "-c", vpndns_conf(w, port, args.workers, lists or small), "run"]
    else:
        conf = (f"{w}/dnsmasq-1m.conf" if lists
                else write(f"{w}/dnsmasq-probe.conf", f"address=/{probe}/#\n"))
        argv = dnsmasq_argv(w, port, conf)
    t0 = time.monotonic()
    p = start(name, argv, w)
    try:
        t1 = wait_answer(port, probe, "0.0.0.0", timeout=120, proc=p)
        time.sleep(0.3)
        rss, peak = vmrss_kib(p.pid), vmrss_kib(p.pid, "VmHWM:")
    finally:
        stop(p)
    log(f"  {name} {'with the full list' if lists else 'with one domain'}: "
        f"ready {t1 - t0:.3f} s, VmRSS {rss / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB")
    return t1 - t0, rss, peak


# ---------------------------------------------------------------- latency, failover


PORT_SECOND = 5305  # phase F: the second upstream
PORT_FIRST = 5306   # phase F: the first upstream, the one that goes silent


def spoofer(name, port, w):
    """A dnsdist that answers every name itself (the upstream)."""
    p = start(name, ["dnsdist", "--supervised", "--disable-syslog",
                     "-C", write(f"{w}/{name}.conf", f"""\
setSecurityPollSuffix("")
setLocal("{HOST}:{port}")
addAction(AllRule(), SpoofAction("192.0.2.1"))
""")], w)
    wait_answer(port, "ready.fwd.bench", proc=p)
    return p


def saturation(args, w, res, load):
    """dnsdist's forwarding QPS: phase A's median if it ran, else one run."""
    base = [r["qps"] for r in res.get("dnsdist", {}).get("fwd", [])]
    if not base:
        p = start_proxy("dnsdist", args, w)
        try:
            base = [measured("dnsdist forwarding (saturation)", p, PORT["dnsdist"],
                             f"{w}/q-forward.txt", args.duration, load)["qps"]]
        finally:
            stop(p)
        res.setdefault("dnsdist", {"fwd": [], "local": []})["fwd"].extend(
            {"qps": q} for q in base)
    return med(base)


def latency_phase(args, w, sat, proxies, load):
    """Phase L: {fraction: {target: [dnsperf result per round]}}."""
    out = {}
    for frac in (0.25, 0.5):
        rate = max(100, int(frac * sat))
        per = out.setdefault(frac, {"rate": rate, "upstream direct": []})
        for rnd in range(args.rounds):
            log(f"phase L, {frac:.0%} of {sat:,.0f} = {rate} QPS, round {rnd + 1}/{args.rounds}")
            extra = [*load, "-Q", str(rate)]
            # The order turns round by round, so that no target always runs
            # first, or right after the upstream, on a machine that drifts.
            order = ["upstream direct", *proxies]
            k = rnd % len(order)
            for name in order[k:] + order[:k]:
                if name == "upstream direct":
                    r = dnsperf(PORT_UPSTREAM, f"{w}/q-forward.txt", args.duration, extra, True)
                    per[name].append(r)
                    continue
                # Fresh each time: the same names are sent every round and
                # must not be answered from vpndns's cache.
                p = start_proxy(name, args, w)
                try:
                    per.setdefault(name, []).append(
                        dnsperf(PORT[name], f"{w}/q-forward.txt", args.duration, extra, True))
                finally:
                    stop(p)
            for k in order:
                x = per[k][-1]
                log(f"  {k}: p50 {x['p50'] * 1e6:.0f} p99 {x['p99'] * 1e6:.0f} "
                    f"p99.9 {x['p999'] * 1e6:.0f} us, lost {x['lost']:.0f}/{x['sent']:.0f}, "
                    f"steal {x['steal']:.1f}%")
    return out


def dnsdist_failover_conf(w):
    # dnsdist's own health checks, written out at their defaults (a check
    # query every second, 1 s timeout, down after 1 failure, up after 1).
    return write(f"{w}/dnsdist-failover.conf", f"""\
setSecurityPollSuffix("")
setLocal("{HOST}:{PORT['dnsdist']}")
newServer({{address="{HOST}:{PORT_FIRST}", name="first", order=1,
           checkInterval=1, checkTimeout=1000, maxCheckFailures=1, rise=1}})
newServer({{address="{HOST}:{PORT_SECOND}", name="second", order=2,
           checkInterval=1, checkTimeout=1000, maxCheckFailures=1, rise=1}})
setServerPolicy(firstAvailable)
""")


def failover_phase(args, w, rate):
    """Phase F: {target: [dnsperf result of the window after the stop]}."""
    targets = [x for x in args.proxies.split(",") if x in ("vpndns", "dnsdist")]
    warm = f"{w}/q-warm.txt"
    with open(warm, "w") as f:
        tag = random.getrandbits(32)
        for i in range(max(50_000, rate * 3)):
            f.write(f"w{i}-{tag:08x}.fwd.bench A\n")
    second = spoofer("second", PORT_SECOND, w)
    out = {t: [] for t in targets}
    try:
        for rnd in range(args.rounds):
            for name in targets:
                log(f"phase F, round {rnd + 1}/{args.rounds}: {name}, {rate} QPS, "
                    f"first upstream silent after {args.warmup}s")
                first = spoofer("first", PORT_FIRST, w)
                if name == "vpndns":
                    conf = vpndns_conf(w, PORT[name], args.workers, [f"{w}/blocked.txt"],
                                       (PORT_FIRST, PORT_SECOND))
                    p = start(name, [args.vpndns, "-c", conf, "run"], w)
                else:
                    p = start(name, ["dnsdist", "--supervised", "--disable-syslog",
                                     "-C", dnsdist_failover_conf(w)], w)
                try:
                    wait_answer(PORT[name], "ready.fwd.bench", proc=p)
                    seen = 0
                    if name == "vpndns":
                        seen = open(f"{w}/vpndns.log", errors="replace").read().count(
                            "forwarder up2 (")
                    # Enough outstanding queries that dnsperf keeps sending
                    # at the rate while unanswered ones wait out -t (3 s).
                    q = min(65000, max(args.outstanding, rate * 3 + 500))
                    extra = ["-c", str(args.clients), "-q", str(q), "-Q", str(rate)]
                    dnsperf(PORT[name], warm, args.warmup, extra)
                    r = dnsperf(PORT[name], f"{w}/q-forward.txt", args.failover_window, extra,
                                True, on_start=lambda: first.send_signal(signal.SIGSTOP),
                                timeout=3)
                    if name == "vpndns":
                        time.sleep(0.2)
                        text = open(f"{w}/vpndns.log", errors="replace").read()
                        # Times the healthy second forwarder was marked down.
                        r["second_down"] = text.count("forwarder up2 (") - seen
                    out[name].append(r)
                    log(f"  {name}: p50 {r['p50'] * 1e6:.0f} us, p99 {r['p99'] * 1e6:.0f} us "
                        f"(answered), max {r['max'] * 1e3:.0f} ms, "
                        f"lost {r['lost']:.0f}/{r['sent']:.0f}")
                finally:
                    stop(p)
                    first.send_signal(signal.SIGCONT)
                    stop(first)
    finally:
        stop(second)
    return out


# ---------------------------------------------------------------- report


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt):
    if len(xs) < 2:
        return ""
    return f" ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def hold_cpus_awake():
    """Asks the kernel for zero CPU wake-up latency until this process exits:
    the idle loop then polls instead of halting (PM QoS, /dev/cpu_dma_latency;
    the request lasts while the file is open)."""
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(fd, struct.pack("i", 0))
    except OSError as e:
        sys.exit(f"--idle-poll: cannot hold /dev/cpu_dma_latency at 0 ({e}); "
                 "it needs root and a kernel with PM QoS")
    atexit.register(os.close, fd)
    log("idle poll: the CPUs poll instead of halting for this run")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vpndns", default="target/release/vpndns")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--duration", type=int, default=10, help="seconds per dnsperf phase")
    ap.add_argument("--rounds", type=int, default=2, help="repeats of the throughput phases")
    ap.add_argument("--rate", type=int, default=0,
                    help="fixed offered load in QPS (default: 50%% of dnsdist's forwarding QPS)")
    ap.add_argument("--workers", type=int, default=2, help="vpndns UDP workers")
    ap.add_argument("--clients", type=int, default=2, help="dnsperf -c")
    ap.add_argument("--outstanding", type=int, default=200, help="dnsperf -q")
    ap.add_argument("--domains", type=int, default=1_000_000)
    ap.add_argument("--real-lists", default="",
                    help="folder of real blocklists added to the generated ones")
    ap.add_argument("--phases", default="ABCD",
                    help="which phases to run: A throughput, B fixed load, C blocklist scale, "
                         "D SIGHUP reloads under load, L latency added at 25%% and 50%% of "
                         "dnsdist's saturation, F failover (L and F are not in the default)")
    ap.add_argument("--failover-window", type=int, default=10,
                    help="phase F: seconds measured after the first upstream goes silent")
    ap.add_argument("--warmup", type=int, default=2,
                    help="phase F: seconds of load before the first upstream goes silent")
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--json", default="", help="also write every measurement to this file")
    ap.add_argument("--idle-poll", action="store_true",
                    help="keep the CPUs from halting while the run lasts (0 written to "
                         "/dev/cpu_dma_latency, held open): on a virtual machine without "
                         "guest halt polling, waking a halted vCPU adds tens of µs to a hop")
    args = ap.parse_args()
    if args.idle_poll:
        hold_cpus_awake()
    w = os.path.abspath(args.workdir)
    args.vpndns = os.path.abspath(args.vpndns)
    proxies = args.proxies.split(",")
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = ["-c", str(args.clients), "-q", str(args.outstanding)]

    log(f"workdir {w}; generating query files")
    make_inputs(w, args.duration)
    fwd, local = f"{w}/q-forward.txt", f"{w}/q-local.txt"
    res = {p: {"fwd": [], "local": []} for p in proxies}
    direct = []
    lat = {}
    scale = {}
    reload_result = {}

    if any(x in args.phases for x in "ABDLF"):
        up = start("upstream", ["dnsdist", "--supervised", "--disable-syslog",
                                "-C", write(f"{w}/upstream.conf", f"""\
setSecurityPollSuffix("")
setLocal("{HOST}:{PORT_UPSTREAM}")
addAction(AllRule(), SpoofAction("192.0.2.1"))
""")], w)
        wait_answer(PORT_UPSTREAM, "ready.fwd.bench", proc=up)

    if "A" in args.phases:
        for rnd in range(args.rounds):
            log(f"phase A, round {rnd + 1}/{args.rounds}: throughput")
            r = measured("upstream direct", up, PORT_UPSTREAM, fwd, args.duration, load)
            direct.append(r)
            for name in proxies:
                p = start_proxy(name, args, w)
                try:
                    res[name]["fwd"].append(
                        measured(f"{name} forwarding", p, PORT[name], fwd, args.duration, load))
                    res[name]["local"].append(
                        measured(f"{name} local", p, PORT[name], local, args.duration, load))
                finally:
                    stop(p)

    if "B" in args.phases:
        rate = args.rate
        if not rate:
            base = [r["qps"] for r in res.get("dnsdist", {}).get("fwd", [])]
            rate = int(0.5 * med(base)) if base else 20000
        log(f"phase B: fixed load {rate} QPS")
        lat["upstream direct"] = dnsperf(PORT_UPSTREAM, fwd, args.duration,
                                         [*load, "-Q", str(rate)], True)
        for name in proxies:
            p = start_proxy(name, args, w)
            try:
                rss = [vmrss_kib(p.pid)]
                lat[name] = dnsperf(PORT[name], fwd, args.duration, [*load, "-Q", str(rate)],
                                    True, lambda: rss.append(vmrss_kib(p.pid)))
                rss.append(vmrss_kib(p.pid))
                lat[name]["rss"] = rss
            finally:
                stop(p)
        for k, r in lat.items():
            log(f"  {k}: avg {r['avg'] * 1e6:.0f} us, p99 {r['p99'] * 1e6:.0f} us, "
                f"lost {r['lost']:.0f}/{r['sent']:.0f}")
        args.rate = rate
    sat = 0
    added = {}
    failover = {}
    if "L" in args.phases:
        sat = saturation(args, w, res, load)
        added = latency_phase(args, w, sat, proxies, load)
    if "F" in args.phases:
        rate = args.rate
        if not rate:
            sat = sat or saturation(args, w, res, load)
            rate = int(0.25 * sat)
        failover = failover_phase(args, w, rate)
        failover["rate"] = rate
    if "D" in args.phases:
        lists, n_gen, n_all, probe = blocklist_files(args, w)
        rate = args.rate or 20000
        mixed = f"{w}/q-mixed.txt"
        with open(fwd) as f_fwd, open(local) as f_local, open(mixed, "w") as out:
            local_lines = f_local.readlines()
            for i, line in enumerate(f_fwd):
                out.write(line + local_lines[i % len(local_lines)])
        log(f"phase D: SIGHUP every 2 s under {rate} QPS (half forwarded, half local), "
            f"{n_all} blocked domains")
        conf = vpndns_conf(w, PORT["vpndns"], args.workers, [*lists, f"{w}/blocked.txt"])
        p = start("vpndns", [args.vpndns, "-c", conf, "run"], w)
        try:
            wait_answer(PORT["vpndns"], probe, "0.0.0.0", timeout=120, proc=p)
            logfile = f"{w}/vpndns.log"
            before = open(logfile, errors="replace").read().count("reloaded")
            ticks = [0]

            def hup():
                ticks[0] += 1
                if ticks[0] % 2 == 0:
                    p.send_signal(signal.SIGHUP)

            r = dnsperf(PORT["vpndns"], mixed, args.duration, [*load, "-Q", str(rate)], True, hup)
            time.sleep(1)
            text = open(logfile, errors="replace").read()
            r["reloads"] = text.count("reloaded") - before
            r["failed"] = text.count("reload failed")
            r["rate"] = rate
            reload_result["vpndns"] = r
            log(f"  {r['reloads']} reloads, lost {r['lost']:.0f}/{r['sent']:.0f}, "
                f"p99 {r['p99'] * 1e6:.0f} us")
        finally:
            stop(p)
    stop_all()

    if "C" in args.phases:
        lists, n_gen, n_all, probe = blocklist_files(args, w)
        for name in [p for p in proxies if p in ("vpndns", "dnsmasq")]:
            scale[name] = {
                "empty": scale_run(name, args, w, [], probe),
                "full": [scale_run(name, args, w, lists, probe) for _ in range(2)],
            }
        scale["n"] = n_all

    report(args, proxies, res, direct, lat, scale, reload_result)
    report_added(args, sat, proxies, added)
    report_failover(args, failover)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "throughput": res, "direct": direct,
                       "latency": lat, "scale": scale, "reload": reload_result,
                       "saturation": sat, "added": {str(k): v for k, v in added.items()},
                       "failover": failover}, f, indent=1)


def report(args, proxies, res, direct, lat, scale, reload_result):
    out = []
    p = out.append
    p("")
    p(f"duration {args.duration}s per phase, {args.rounds} round(s); dnsperf -c {args.clients} "
      f"-q {args.outstanding}; vpndns workers={args.workers}; medians, (min–max) over rounds")
    if direct:
        d = [r["qps"] for r in direct]
        p(f"dnsperf straight to the upstream: {med(d):,.0f} QPS{spread(d, '{:,.0f}')}")
    if "A" in args.phases and any(res[x]["fwd"] for x in proxies):
        p("")
        p("| proxy | forwarding QPS | CPU µs/query | local QPS | CPU µs/query | lost |")
        p("| --- | ---: | ---: | ---: | ---: | ---: |")
        for x in proxies:
            f, l = res[x]["fwd"], res[x]["local"]
            fq, fc = [r["qps"] for r in f], [r["cpu_us"] for r in f]
            lq, lc = [r["qps"] for r in l], [r["cpu_us"] for r in l]
            lost = sum(r["lost"] for r in f + l)
            p(f"| {x} | {med(fq):,.0f}{spread(fq, '{:,.0f}')} | {med(fc):.2f}{spread(fc, '{:.2f}')} "
              f"| {med(lq):,.0f}{spread(lq, '{:,.0f}')} | {med(lc):.2f}{spread(lc, '{:.2f}')} "
              f"| {lost:.0f} |")
        if "vpndns" in proxies:
            v = res["vpndns"]
            p("")
            p("| vpndns ratio | to dnsdist | to dnsmasq | target (vs dnsdist) |")
            p("| --- | ---: | ---: | --- |")
            for key, label, target in [("fwd", "forwarding", "≥ 1.15"), ("local", "local", "≥ 1.15")]:
                for metric, mlabel, tgt in [("qps", "throughput", target), ("cpu_us", "CPU/query", "≤ 0.60")]:
                    mine = med([r[metric] for r in v[key]])
                    ratio = lambda other: (f"{mine / med([r[metric] for r in res[other][key]]):.2f}"
                                           if other in res and res[other][key] else "-")
                    p(f"| {label} {mlabel} | {ratio('dnsdist')} | {ratio('dnsmasq')} | {tgt} |")
    if lat:
        p("")
        p(f"fixed load {args.rate} QPS for {args.duration}s (forwarded, unique names):")
        p("")
        p("| target | avg µs | p50 µs | p99 µs | lost / sent "
          "| VmRSS start → end (min–max after the first second) |")
        p("| --- | ---: | ---: | ---: | ---: | ---: |")
        for k, r in lat.items():
            m = r.get("rss", [])
            rest = m[2:] or m[-1:]
            rss = (f"{m[0] / 1024:.1f} → {m[-1] / 1024:.1f} MiB ({min(rest) / 1024:.1f}–"
                   f"{max(rest) / 1024:.1f})" if m else "-")
            p(f"| {k} | {r['avg'] * 1e6:.0f} | {r['p50'] * 1e6:.0f} | {r['p99'] * 1e6:.0f} "
              f"| {r['lost']:.0f} / {r['sent']:.0f} | {rss} |")
    if scale:
        p("")
        p(f"blocklist scale: {args.domains:,} generated domains + real lists = {scale['n']:,} "
          "distinct (dnsmasq: address=/d/# lines); ready = exec to first blocked answer")
        p("")
        p("| server | ready, 1 domain | VmRSS, 1 domain | ready, full list | VmRSS, full list "
          "| peak (VmHWM), full list |")
        p("| --- | ---: | ---: | ---: | ---: | ---: |")
        for x in ("vpndns", "dnsmasq"):
            if x in scale:
                e, full = scale[x]["empty"], scale[x]["full"]
                t = [r[0] for r in full]
                m = [r[1] / 1024 for r in full]
                h = [r[2] / 1024 for r in full]
                p(f"| {x} | {e[0]:.3f} s | {e[1] / 1024:.1f} MiB | {med(t):.3f} s{spread(t, '{:.3f}')} "
                  f"| {med(m):.1f} MiB{spread(m, '{:.1f}')} | {med(h):.1f} MiB |")
        if "vpndns" in scale and "dnsmasq" in scale:
            vt = med([r[0] for r in scale["vpndns"]["full"]])
            dt = med([r[0] for r in scale["dnsmasq"]["full"]])
            vm = med([r[1] for r in scale["vpndns"]["full"]])
            dm = med([r[1] for r in scale["dnsmasq"]["full"]])
            p("")
            p(f"vpndns/dnsmasq: ready time {vt / dt:.2f} (target ≤ 0.5), "
              f"VmRSS {vm / dm:.2f} (target ≤ 0.4)")
    if reload_result:
        r = reload_result["vpndns"]
        p("")
        p(f"SIGHUP reload of the full blocklist every 2 s under {r['rate']} QPS (half forwarded, "
          f"half local) for {args.duration}s: {r['reloads']} reloads ({r['failed']} failed), "
          f"lost {r['lost']:.0f} / {r['sent']:.0f}, avg {r['avg'] * 1e6:.0f} µs, "
          f"p99 {r['p99'] * 1e6:.0f} µs")
    print("\n".join(out), flush=True)


def us(x):
    return "∞" if x == float("inf") else f"{x * 1e6:,.0f}"


def report_added(args, sat, proxies, added):
    """Phase L's tables: raw percentiles, added ones (the proxy's minus the
    upstream's in the same round; medians over rounds) and the ratios."""
    if not added:
        return
    p = lambda *x: print(*x, flush=True)
    keys = [("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")]
    p("")
    p(f"latency at a fixed load, forwarded unique names, {args.rounds} round(s) of "
      f"{args.duration}s per target; dnsdist's forwarding saturation {sat:,.0f} QPS; medians over "
      "rounds (min–max); added = the target's minus the upstream's in the same round")
    p("")
    p("| load | target | p50 µs | p99 µs | p99.9 µs | added p50 µs | added p99 µs "
      "| added p99.9 µs | lost / sent | steal % |")
    p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    add = {}
    for frac, per in added.items():
        up = per["upstream direct"]
        for k in ["upstream direct", *proxies]:
            rs = per.get(k, [])
            cells = []
            for key, _ in keys:
                xs = [r[key] * 1e6 for r in rs]
                cells.append(f"{med(xs):,.0f}{spread(xs, '{:,.0f}')}")
            for key, _ in keys:
                if k == "upstream direct":
                    cells.append("-")
                    continue
                d = [(r[key] - u[key]) * 1e6 for r, u in zip(rs, up)]
                add[(frac, k, key)] = med(d)
                cells.append(f"{med(d):,.0f}{spread(d, '{:,.0f}')}")
            lost = sum(r["lost"] for r in rs)
            sent = sum(r["sent"] for r in rs)
            st = [r["steal"] for r in rs]
            p(f"| {frac:.0%} ({per['rate']:,} QPS) | {k} | {' | '.join(cells)} "
              f"| {lost:.0f} / {sent:.0f} | {med(st):.1f}{spread(st, '{:.1f}')} |")
    if "vpndns" not in proxies:
        return
    p("")
    p("| vpndns added latency, ratio | to dnsdist | to dnsdist, per round | to dnsmasq "
      "| target (vs dnsdist) |")
    p("| --- | ---: | ---: | ---: | --- |")
    for frac, per in added.items():
        for key, label in keys:
            mine = add.get((frac, "vpndns", key))

            def paired(other):
                # The ratio within each round (the same upstream reading for
                # both), then the median of those: drift between rounds
                # cancels out.
                xs = [(v[key] - u[key]) / (o[key] - u[key])
                      for v, o, u in zip(per.get("vpndns", []), per.get(other, []),
                                         per["upstream direct"])
                      if o[key] > u[key] and v[key] >= u[key]]
                if not xs:
                    return "-"
                # Rounds where a proxy added nothing measurable are left out;
                # say how many were left.
                n = len(per["upstream direct"])
                of = f", {len(xs)} of {n} rounds" if len(xs) < n else ""
                return f"{med(xs):.2f}{spread(xs, '{:.2f}')}{of}"

            def ratio(other):
                theirs = add.get((frac, other, key))
                if mine is None or theirs is None:
                    return "-"
                if theirs <= 0 or mine < 0:
                    return f"{mine:,.0f} µs vs {theirs:,.0f} µs"
                return f"{mine / theirs:.2f}"
            tgt = "≤ 1.00" if key in ("p50", "p99") else "-"
            p(f"| {frac:.0%}, {label} | {ratio('dnsdist')} | {paired('dnsdist')} "
              f"| {ratio('dnsmasq')} | {tgt} |")


def report_failover(args, failover):
    if not failover:
        return
    p = lambda *x: print(*x, flush=True)
    rate = failover["rate"]
    p("")
    p(f"failover: two upstreams, the first silent (SIGSTOP) from the start of a "
      f"{args.failover_window}s window after {args.warmup}s of warm-up, {rate:,} QPS; "
      f"{args.rounds} round(s); medians (min–max); lost = unanswered after 3 s; "
      "\"lost = ∞\" counts lost queries as never answered")
    p("")
    p("| target | p50 µs | p99 µs (answered) | p99 µs (lost = ∞) | p99.9 µs (answered) | max ms "
      "| lost / sent | steal % |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k, rs in failover.items():
        if k == "rate" or not rs:
            continue
        cells = []
        for key in ("p50", "p99", "p99_all", "p999"):
            xs = [r[key] for r in rs]
            m = med(xs)
            rng = f" ({us(min(xs))}–{us(max(xs))})" if len(xs) > 1 else ""
            cells.append(us(m) + rng)
        mx = [r["max"] * 1e3 for r in rs]
        lost = [int(r["lost"]) for r in rs]
        sent = [int(r["sent"]) for r in rs]
        st = [r["steal"] for r in rs]
        p(f"| {k} | {' | '.join(cells)} | {med(mx):,.0f}{spread(mx, '{:,.0f}')} "
          f"| {sum(lost)} / {sum(sent)} ({', '.join(map(str, lost))}) "
          f"| {med(st):.1f}{spread(st, '{:.1f}')} |")
    v, d = failover.get("vpndns"), failover.get("dnsdist")
    if v and d:
        vp, dp = med([r["p99"] for r in v]), med([r["p99"] for r in d])
        vl, dl = sum(r["lost"] for r in v), sum(r["lost"] for r in d)
        va, da = med([r["p99_all"] for r in v]), med([r["p99_all"] for r in d])
        p("")
        p("| failover, vpndns to dnsdist | ratio | target |")
        p("| --- | ---: | --- |")
        p(f"| p99, answered queries | {vp / dp:.2f} | ≤ 0.25 |")
        all_ratio = ("∞ / ∞" if va == da == float("inf") else f"{va / da:.2f}")
        p(f"| p99, lost = ∞ | {all_ratio} | ≤ 0.25 |")
        p(f"| queries lost | {vl:.0f} vs {dl:.0f} | 0 |")
        downs = [r.get("second_down", 0) for r in v]
        p("")
        p(f"vpndns logged the healthy second forwarder going down or up again "
          f"{', '.join(map(str, downs))} time(s) per round (its hedge-time misses count as failures).")


if __name__ == "__main__":
    main()
