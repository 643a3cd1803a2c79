#!/usr/bin/env bash
# vpndns against dnsdist and dnsmasq, same machine, same run (issue 6).
#
#   sudo bash bench/compare.sh [--duration 10] [--rounds 2] [--rate QPS]
#                              [--workers 2] [--phases ABC] [--domains 1000000]
#
# Installs dnsperf, dnsdist and dnsmasq from Debian's packages when missing
# (as root), builds vpndns in release, then runs bench/compare.py, which starts
# a spoofing dnsdist as the upstream on 127.0.0.1:5301 and the proxies on
# 127.0.0.1:5302-5304, measures them with dnsperf and prints one table.
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

echo "== building vpndns (release)" >&2
cargo build --release --locked --bin vpndns >&2

workdir=$(mktemp -d /tmp/vpndns-bench.XXXXXX)
cleanup() {
    # Only the pids compare.py started (it writes each one here).
    if [ -f "$workdir/pids" ]; then
        while read -r pid; do
            kill "$pid" 2>/dev/null || true
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
    --real-lists "$real_lists" "$@"
