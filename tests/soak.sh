#!/usr/bin/env bash
# Soak test (not run by CI): vpndns on 127.77.0.1:5353 under a steady load
# from a small Python client for MINUTES (default 10), the fake upstream
# killed every 30 s and restarted 5 s later, SIGHUP every 10 s, RSS sampled
# every 5 s. Fails if vpndns dies, any query goes unanswered (it must get the
# real answer, NXDOMAIN for a blocked name, or SERVFAIL while the upstream is
# down), or RSS grows by more than 10% (+1 MiB) from the first quarter of the
# run (after 30 s of warm-up) to the last.
#
#   tests/soak.sh [MINUTES] [QPS]      # e.g. tests/soak.sh 10 1000
#
# Writes the RSS curve to target/soak-rss.csv. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
qps=${2:-1000}
cargo build --release --locked --bin vpndns
exec python3 tests/soak.py --binary target/release/vpndns \
    --minutes "$minutes" --qps "$qps" --csv target/soak-rss.csv
