#!/usr/bin/env python3
"""Side-by-side benchmark of vpndns, dnsdist and dnsmasq (issue 6).

Run through bench/compare.sh, which installs the packages and builds vpndns.
Everything listens on 127.0.0.1 only; every server this script starts is
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

HOST = "127.0.0.1"
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


def dnsperf(port, datafile, duration, extra=(), verbose=False, every=None):
    """Runs dnsperf and parses its summary; with `verbose`, also p50/p99
    from the per-query lines. `every`, if given, is called about once a
    second while dnsperf runs."""
    # -t 2: queries still unanswered 2 s after the time limit count as lost
    # (the default, 5 s, only makes each phase longer).
    argv = ["dnsperf", "-s", HOST, "-p", str(port), "-d", datafile,
            "-l", str(duration), "-t", "2", *extra]
    if verbose:
        argv.append("-v")
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
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
    }
    if verbose:
        lat = sorted(float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", text, re.M))
        r["p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
        r["p50"] = lat[len(lat) // 2] if lat else float("nan")
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


def vpndns_conf(w, port, workers, lists):
    quoted = ", ".join(f'"{x}"' for x in lists)
    return write(f"{w}/vpndns-{port}.toml", f"""\
[server]
listen = ["{HOST}:{port}"]
workers = {workers}
timeout = "1500ms"
max_inflight = 8192

[[forwarder]]
name = "up"
address = "{HOST}:{PORT_UPSTREAM}"

[[policy]]
source = ["127.0.0.0/8"]
forward = "up"

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


# ---------------------------------------------------------------- report


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt):
    if len(xs) < 2:
        return ""
    return f" ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


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
                         "D SIGHUP reloads under load")
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--json", default="", help="also write every measurement to this file")
    args = ap.parse_args()
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

    if any(x in args.phases for x in "ABD"):
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
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "throughput": res, "direct": direct,
                       "latency": lat, "scale": scale, "reload": reload_result}, f, indent=1)


def report(args, proxies, res, direct, lat, scale, reload_result):
    out = []
    p = out.append
    p("")
    p(f"duration {args.duration}s per phase, {args.rounds} round(s); dnsperf -c {args.clients} "
      f"-q {args.outstanding}; vpndns workers={args.workers}; medians, (min–max) over rounds")
    if direct:
        d = [r["qps"] for r in direct]
        p(f"dnsperf straight to the upstream: {med(d):,.0f} QPS{spread(d, '{:,.0f}')}")
    if any(res[x]["fwd"] for x in proxies):
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


if __name__ == "__main__":
    main()
