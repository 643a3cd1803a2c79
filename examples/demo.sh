#!/bin/sh
# Runs vpndns on examples/vpndns.toml with a stand-in upstream, asks it a few
# questions with dig, prints the answers and the query log, and stops.
# Needs: cargo, and dig (installed from Debian's bind9-dnsutils when missing).
set -eu
cd "$(dirname "$0")/.."
if ! command -v dig >/dev/null 2>&1; then
    echo "== installing dig (bind9-dnsutils)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils >/dev/null
fi
echo "== building"
cargo build --release --locked --bin vpndns 2>&1 | tail -n 1
bin=target/release/vpndns
log=$(mktemp)
$bin -c examples/upstream.toml 2>/dev/null &
upstream=$!
$bin -c examples/vpndns.toml 2>"$log" &
proxy=$!
trap 'kill $proxy $upstream 2>/dev/null || true; rm -f "$log"' EXIT INT TERM
sleep 0.5

echo "== the resolved configuration"
$bin check -c examples/vpndns.toml
ask() {
    printf '%-46s ' "$*"
    dig +tries=1 +time=3 -p 5353 "$@" | awk '/status:/ { gsub(",", ""); s = $6 } /^[^;]/ && NF { a = a " " $NF } END { print s a }'
}
echo "== queries (dig @127.0.0.1 -p 5353 ...)"
ask @127.0.0.1 nas.wan A
ask @127.0.0.1 printer.wan AAAA
ask @127.0.0.1 -x 10.10.1.20
ask @127.0.0.1 nas.wan MX
ask @127.0.0.1 ads.example.com A
ask @127.0.0.1 x.tracker.example.net A
ask @127.0.0.1 good.ads.example.com A
ask @127.0.0.1 printer.home.arpa A
ask @127.0.0.1 www.example.org A
ask @127.0.0.1 vpn.protonvpn.net A +tcp
ask -b 127.0.0.66 @127.0.0.1 nas.wan A
ask @::1 nas.wan A
echo "== why: vpndns explain"
$bin explain -c examples/vpndns.toml 127.0.0.1 www.example.org
$bin explain -c examples/vpndns.toml 10.10.1.2 www.example.org
$bin explain -c examples/vpndns.toml 127.0.0.66 nas.wan
echo "== query log"
kill -TERM $proxy
wait $proxy || true
grep 'vpndns::query' "$log" | sed 's/^.*vpndns::query: //'
