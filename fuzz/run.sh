#!/usr/bin/env bash
# Builds every fuzz target and runs each, one after another on one core, for
# SECONDS (default 60) from the committed corpus in fuzz/corpus/<target>
# (new inputs go to fuzz/target/corpus/<target>, not committed). Fails on the
# first crash, panic, timeout or out-of-memory; the input is left in
# fuzz/artifacts/<target>/ and the way to replay it is printed.
#
#   fuzz/run.sh 60                        # CI: 60 s per target
#   FUZZ_RUNS=10000000 fuzz/run.sh        # a fixed number of executions each
#   fuzz/run.sh 60 query framing          # only some targets
#
# The machine has only the stable toolchain; cargo-fuzz passes nightly-only
# flags (-Zsanitizer, -Cpasses=sancov-module), which RUSTC_BOOTSTRAP=1 allows.
# The targets are safe Rust, so they are built without AddressSanitizer
# (-s none, several times faster) but with debug assertions (-a: overflow
# checks).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

flags=(-O -a -s none)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
echo "== building ${targets[*]}"
cargo fuzz build "${flags[@]}"

if [ -n "${FUZZ_RUNS:-}" ]; then
    bound=(-runs="$FUZZ_RUNS")
else
    bound=(-max_total_time="$seconds")
fi
for t in "${targets[@]}"; do
    work=target/corpus/$t
    mkdir -p "$work" "artifacts/$t"
    echo "== fuzzing $t (${bound[*]})"
    log=target/fuzz-$t.log
    # One process, one core; -timeout turns a hang into a failure.
    if ! cargo fuzz run "${flags[@]}" "$t" "$work" "corpus/$t" -- \
        "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "== $t FAILED; replay with: RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $t artifacts/$t/<file>" >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" |
        sed "s/^/   $t /"
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1 | sed "s/^/   $t /"
done
echo "== fuzzing: no crash in ${targets[*]}"
