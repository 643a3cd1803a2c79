#!/usr/bin/env bash
# By hand, not in CI: the dig equivalents of ISC's EDNS compliance tests
# (genreport's tests, as ednscomp.isc.org lists them) run against an
# authoritative BIND directly, then through vpndns (default config, one
# forwarder) twice, the second time from vpndns's cache. Prints one line per
# test: what decides the test (rcode, flags, EDNS version and flags, option
# names, section counts) for each, and whether vpndns answered as BIND did.
# Exits 1 if any test differs.
#
#   cargo build && sudo tests/compliance.sh [target/debug/vpndns]
#   ECS=pass tests/compliance.sh      # [server] ecs = "pass" (default "strip")
#   TLS=1 tests/compliance.sh         # vpndns forwards to BIND's DNS-over-TLS port
#
# Needs named (9.18 or later, for TLS), dnssec-keygen/-signzone (Debian:
# bind9, bind9-utils), openssl and dig.
# Uses loopback 127.250.13.0/24 port 5300 (vpndns) and 127.0.0.1:5302 and
# 5853 (BIND, plain and TLS);
# every process it starts is
# stopped by pid on exit.
set -euo pipefail
vpndns=${1:-target/debug/vpndns}
net=127.250.13
# named listens only on addresses configured on an interface: 127.0.0.1.
auth=127.0.0.1 auth_port=5302 tls_port=5853 proxy=$net.1 client=$net.10 port=5300
zone=example.test
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/$zone.zone" <<EOF
\$TTL 300
@       IN SOA ns1.$zone. hostmaster.$zone. 1 3600 600 86400 300
@       IN NS  ns1.$zone.
ns1     IN A   192.0.2.1
www     IN A   192.0.2.80
EOF
(
    cd "$dir"
    dnssec-keygen -q -a ECDSAP256SHA256 -f KSK "$zone" >/dev/null
    dnssec-keygen -q -a ECDSAP256SHA256 "$zone" >/dev/null
    dnssec-signzone -q -S -K . -o "$zone" -f "$zone.signed" "$zone.zone" >/dev/null
)
# BIND's DNS-over-TLS listener, with a CA made here, for TLS=1.
(
    cd "$dir"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 1 -subj /CN=compliance-ca 2>/dev/null
    openssl req "${ec[@]}" -keyout tls.key -out tls.csr -subj /CN=auth.test 2>/dev/null
    printf 'subjectAltName=DNS:auth.test\n' >san.ext
    openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
        -extfile san.ext -out tls.pem 2>/dev/null
)
cat >"$dir/named.conf" <<EOF
tls local { key-file "$dir/tls.key"; cert-file "$dir/tls.pem"; };
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    listen-on port $auth_port { $auth; };
    listen-on port $tls_port tls local { $auth; };
    listen-on-v6 { none; };
    recursion no;
    server-id "auth";
};
zone "$zone" { type primary; file "$dir/$zone.signed"; };
EOF
named -g -c "$dir/named.conf" -u "$(id -un)" >"$dir/named.log" 2>&1 &
pids+=($!)

cat >"$dir/vpndns.toml" <<EOF
[server]
listen = ["$proxy:$port"]
workers = 1
ecs = "${ECS:-strip}"

[[forwarder]]
name = "auth"
EOF
if [ -n "${TLS:-}" ]; then
    printf 'address = "tls://%s:%s"\ntls_name = "auth.test"\ntls_ca = "ca.pem"\n' \
        $auth $tls_port >>"$dir/vpndns.toml"
else
    printf 'address = "%s:%s"\n' $auth $auth_port >>"$dir/vpndns.toml"
fi
cat >>"$dir/vpndns.toml" <<EOF

[[policy]]
source = ["$net.0/24"]
forward = "auth"
EOF
"$vpndns" -c "$dir/vpndns.toml" >"$dir/vpndns.log" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
    dig +short +time=1 +tries=1 -p $auth_port @$auth soa $zone >/dev/null 2>&1 &&
        dig +short +time=1 +tries=1 -p $port -b $client @$proxy soa $zone >/dev/null 2>&1 && break
    sleep 0.1
done

# name, dig arguments (ednscomp.isc.org's dig equivalents).
tests=(
    "dns|+norec +noedns soa $zone"
    "aa|+norec +noedns soa $zone"
    "rd|+rec +noedns soa $zone"
    "zflag|+norec +noedns +zflag soa $zone"
    "edns|+norec +edns=0 soa $zone"
    "edns1|+norec +edns=1 +noednsneg soa $zone"
    "edns@512|+norec +edns=0 +dnssec +bufsize=512 +ignore dnskey $zone"
    "ednsopt|+norec +edns=0 +ednsopt=100 soa $zone"
    "edns1opt|+norec +edns=1 +noednsneg +ednsopt=100 soa $zone"
    "do|+norec +edns=0 +dnssec soa $zone"
    "docd|+norec +edns=0 +dnssec +cd soa $zone"
    "ednsflags|+norec +edns=0 +ednsflags=0x80 soa $zone"
    "optlist|+norec +edns=0 +nsid +subnet=0.0.0.0/0 +expire +cookie soa $zone"
    "ednstcp|+norec +edns=0 +tcp soa $zone"
    "bufsize|+norec +edns=0 +dnssec +bufsize=512 +ignore dnskey $zone"
    "opcode|+norec +noedns +opcode=15 soa $zone"
    "opcodeflg|+norec +noedns +opcode=15 +ad +cd +zflag soa $zone"
    "opcode-hdr|+norec +noedns +opcode=15 +header-only"
    "type666|+norec +noedns type666 $zone"
    "tcp|+norec +noedns +tcp soa $zone"
    "cookie|+norec +edns=0 +cookie soa $zone"
    "nsid|+norec +edns=0 +nsid soa $zone"
    "expire|+norec +edns=0 +expire soa $zone"
    "subnet|+norec +edns=0 +subnet=0.0.0.0/0 soa $zone"
    "keepalive|+norec +edns=0 +keepalive +tcp soa $zone"
    "nxdomain|+norec +edns=0 +dnssec nope.$zone"
    "nodata|+norec +edns=0 +dnssec aaaa www.$zone"
    "dnssec|+norec +edns=0 +dnssec +cd dnskey $zone"
    "edns1do|+norec +edns=1 +noednsneg +dnssec soa $zone"
)

# What decides a test, from dig's output: rcode, header flags, EDNS version,
# EDNS flags, option names (values vary: cookies, ...), section counts.
summary() {
    python3 -c '
import re, sys
t = sys.stdin.read()
if "connection timed out" in t or "no servers could be reached" in t:
    print("no answer"); sys.exit()
status = re.search(r"status: (\w+)", t)
flags = re.search(r";; flags:([^;]*);", t)
counts = re.search(r"QUERY: (\d+), ANSWER: (\d+), AUTHORITY: (\d+), ADDITIONAL: (\d+)", t)
edns = re.search(r"; EDNS: version: (\d+), flags:([^;]*);", t)
opts = sorted(set(re.findall(r"^; ([A-Z][A-Z0-9-]+):", t, re.M)) - {"EDNS", "OPT"})
out = [status.group(1) if status else "?", "flags=" + (flags.group(1).strip().replace(" ", ",") if flags else "?")]
out.append("edns=%s%s" % (edns.group(1), ("/" + edns.group(2).strip().replace(" ", ",")) if edns.group(2).strip() else "") if edns else "noedns")
if opts: out.append("opts=" + ",".join(opts))
if counts: out.append("an=%s,ns=%s,ar=%s" % counts.groups()[1:])
print(" ".join(out))
'
}

ask() { { dig +time=2 +tries=1 "$@" 2>&1 || true; } | summary; }

printf '%-10s | %-58s | %s\n' test "BIND directly" "through vpndns: first, then cached"
fail=0 same=0 total=0
for t in "${tests[@]}"; do
    name=${t%%|*} args=${t#*|}
    # shellcheck disable=SC2086
    direct=$(ask -p $auth_port @$auth $args)
    # shellcheck disable=SC2086
    first=$(ask -p $port -b $client @$proxy $args)
    # shellcheck disable=SC2086
    cached=$(ask -p $port -b $client @$proxy $args)
    total=$((total + 1))
    if [ "$first" = "$direct" ] && [ "$cached" = "$direct" ]; then
        same=$((same + 1))
        printf '%-10s | %-58s | same, both times\n' "$name" "$direct"
    else
        fail=1
        printf '%-10s | %-58s | DIFFERS: %s / %s\n' "$name" "$direct" "$first" "$cached"
    fi
done
echo "$same of $total tests answered by vpndns as by BIND, first and from the cache"
exit $fail
