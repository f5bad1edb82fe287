#!/usr/bin/env bash
# Short fuzzing run of every cargo-fuzz target in fuzz/ (nightly + cargo-fuzz).
#   FUZZ_SECONDS=N   seconds per target (default 20)
#   FUZZ_TARGETS="a b"  only these targets (default: every fuzz/fuzz_targets/*.rs)
#   FUZZ_JOBS=N      targets run at once (default: the number of cores)
# Each target starts from its committed seed corpus (fuzz/corpus/<target>/, read only here);
# what the fuzzer finds goes to a scratch directory, so the repo stays clean. A crash input
# is saved under fuzz/artifacts/<target>/. Exits non-zero if any target crashed or failed
# to build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/fuzz"
seconds="${FUZZ_SECONDS:-20}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    # A debug build: it only drives cargo, and needs no optimising compile (CI
    # installs it on every clean machine).
    cargo install cargo-fuzz --locked --debug
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    targets=()
    for f in "$fuzz_dir"/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# One build for all targets (sanitizer flags make it a separate build from the workspace's).
if ! cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" >"$scratch/build.log" 2>&1; then
    tail -n 40 "$scratch/build.log" >&2
    echo "fuzz-smoke: build FAILED" >&2
    exit 1
fi

# The targets run side by side, one per core (each is single-threaded): on CI's two cores
# the smoke run takes half the time. The binaries are run directly, as `cargo fuzz run`
# would after its build, so the parallel runs do not queue on cargo's lock.
bin_dir="$fuzz_dir/target/$(rustc -vV | sed -n 's/^host: //p')/release"
jobs="${FUZZ_JOBS:-$(nproc)}"
run_one() {
    local t=$1 log="$scratch/$1.log" rc=0
    mkdir -p "$scratch/$t"
    "$bin_dir/$t" "$scratch/$t" "$fuzz_dir/corpus/$t" \
        -artifact_prefix="$fuzz_dir/artifacts/$t/" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    local runs rate cov
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)"
    if [[ $rc -eq 0 ]]; then
        echo "fuzz-smoke: $t ok (${runs:-?} runs, ${rate:-?} exec/s, cov ${cov:-?}, ${seconds}s)" >"$scratch/$t.result"
    else
        {
            echo "fuzz-smoke: $t FAILED (exit $rc after ${runs:-?} runs)"
            grep -E '^(thread .* panicked|panicked at)|^==[0-9]+==ERROR|^SUMMARY|Test unit written to|^Base64:' -A2 "$log" \
                | head -n 30 | sed 's/^/    /'
        } >"$scratch/$t.result"
        return 1
    fi
}

failed=0
running=0
for t in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/artifacts/$t"
    run_one "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
done
for t in "${targets[@]}"; do cat "$scratch/$t.result"; done
exit "$failed"
