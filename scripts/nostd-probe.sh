#!/usr/bin/env bash
# Builds tests/nostd-probe, a no_std staticlib with its own panic handler and allocator that
# uses mcc-core without default features. The build fails if anything pulls `std` into
# mcc-core's dependency graph ("found duplicate lang item `panic_impl`").
#
# The probe is its own workspace (see its Cargo.toml): run from its directory so that its
# `panic = "abort"` profile applies and mcc-core's `std` feature is not unified in.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cd "$root/tests/nostd-probe"

cargo build --release --quiet

lib="$CARGO_TARGET_DIR/release/libnostd_probe.a"
if [[ ! -f "$lib" ]]; then
    echo "nostd-probe: FAILED (no $lib)" >&2
    exit 1
fi
# (no `grep -q` in a pipeline: it exits early, nm gets SIGPIPE and pipefail fails the check)
if ! nm --defined-only "$lib" 2>/dev/null | grep ' T mcc_probe$' >/dev/null; then
    echo "nostd-probe: FAILED (mcc_probe not exported from $lib)" >&2
    exit 1
fi
echo "nostd-probe: ok ($(stat -c %s "$lib") bytes staticlib)"
