#!/usr/bin/env bash
# vpndns against dnsdist and dnsmasq, same machine, same run (issue 6).
#
#   sudo bash bench/compare.sh [--duration 10] [--rounds 2] [--rate QPS]
#                              [--workers 2] [--phases ABC] [--domains 1000000]
#   sudo bash bench/compare.sh latency  [flags]  # fixed-load p50/p99/p99.9 added (phase L)
#   sudo bash bench/compare.sh failover [flags]  # first of two forwarders silent (phase F)
#   sudo bash bench/compare.sh ports [--rounds 3] [--duration 4]
#       # the random-port pool against the commit before it (bench/ab.py, forwarding)
#   sudo bash bench/compare.sh against REV [--rounds 6] [--duration 4] [--rate QPS]
#       # HEAD against any older commit, the same way (e.g. a slowdown check)
#
# Installs dnsperf, dnsdist and dnsmasq from Debian's packages when missing
# (as root), builds vpndns in release, then runs bench/compare.py, which starts
# a spoofing dnsdist as the upstream on 127.53.0.1:5301 ($BENCH_HOST) and the
# proxies on ports 5302-5304 there, measures them with dnsperf and prints one table.
# Only loopback addresses are used. Every server is stopped when the script
# ends, also on failure or Ctrl-C. All flags are passed to compare.py
# (`python3 bench/compare.py --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v dnsperf >/dev/null 2>&1 || packages+=(dnsperf)
command -v dnsdist >/dev/null 2>&1 || packages+=(dnsdist)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || packages+=(dnsmasq)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
if [ ${#packages[@]} -gt 0 ]; then
    echo "== installing ${packages[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
# Our servers use ports 5301-5304, so a system dnsmasq or dnsdist service that
# the packages may have started on port 53 is not in the way (nor measured).
export PATH="$PATH:/usr/sbin:/sbin"

phase=""
case "${1:-}" in
latency) phase=L ;;
failover) phase=F ;;
ports) phase=ports ;;
against) phase=against ;;
esac
[ -z "$phase" ] || shift

echo "== building vpndns (release)" >&2
cargo build --release --locked --bin vpndns >&2

# ports / against: bench/ab.py with HEAD against an older commit, exported
# with git archive into /tmp (no worktree, nothing committed) and built into
# this target dir, so only vpndns is compiled; HEAD's binary is put back.
if [ "$phase" = ports ] || [ "$phase" = against ]; then
    if [ "$phase" = ports ]; then
        # The commit before the one that added src/proxy/portpool.rs.
        added=$(git log --diff-filter=A --format=%H -- src/proxy/portpool.rs | tail -n 1)
        rev=${PREPOOL_REV:-$added^}
        what="before the port pool"
    else
        rev=${1:?"usage: bench/compare.sh against REV [bench/ab.py flags]"}
        shift
        what="the older commit"
    fi
    rev=$(git rev-parse --short "$rev^{commit}")
    src=/tmp/vpndns-rev-$rev
    bins=$(mktemp -d /tmp/vpndns-ab.XXXXXX)
    trap 'rm -rf "$bins"' EXIT
    cp target/release/vpndns "$bins/head"
    if [ ! -f "$src/Cargo.toml" ]; then
        mkdir -p "$src"
        git archive "$rev" | tar -x -C "$src"
    fi
    echo "== building $rev ($what) in $src" >&2
    CARGO_TARGET_DIR="$PWD/target" cargo build --release --locked --bin vpndns \
        --manifest-path "$src/Cargo.toml" >&2
    cp target/release/vpndns "$bins/old"
    cp "$bins/head" target/release/vpndns
    echo "== A = $rev ($what), B = $(git rev-parse --short HEAD)" >&2
    python3 bench/ab.py "$bins/old" "$bins/head" --phases fwd "$@"
    exit
fi

workdir=$(mktemp -d /tmp/vpndns-bench.XXXXXX)
cleanup() {
    # Only the pids compare.py started (it writes each one here).
    if [ -f "$workdir/pids" ]; then
        while read -r pid; do
            kill "$pid" 2>/dev/null || true
            kill -CONT "$pid" 2>/dev/null || true
        done <"$workdir/pids"
    fi
    if [ -z "${KEEP_WORKDIR:-}" ]; then
        rm -rf "$workdir"
    else
        echo "== kept $workdir" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

real_lists=""
for d in ../shared/data/blocklists ../../shared/data/blocklists /work/shared/data/blocklists; do
    if [ -d "$d" ]; then
        real_lists=$d
        break
    fi
done

python3 bench/compare.py --vpndns target/release/vpndns --workdir "$workdir" \
    --real-lists "$real_lists" ${phase:+--phases "$phase"} "$@"
