#!/usr/bin/env bash
# Every test of the project, as CI runs it: formatting, lints, unit + scenario + invariant
# tests (release, so the 200-seed invariant run is quick), the ring backend, the no_std
# probe, a short fuzz run of every target, and the end-to-end tests with real daemons in
# network namespaces (as root). Installs the cargo tools and Debian packages it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# System packages the tests use (dig for the DNS tests, the rest for the namespace tests).
if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    missing=()
    for p in ip:iproute2 iptables:iptables tcpdump:tcpdump dig:dnsutils socat:socat curl:curl ping:iputils-ping python3:python3; do
        command -v "${p%%:*}" >/dev/null 2>&1 || missing+=("${p#*:}")
    done
    if ((${#missing[@]})); then
        echo "== installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

echo "== fmt";     cargo fmt --all -- --check
echo "== clippy";  cargo clippy --workspace --all-targets -- -D warnings
echo "== tests";   cargo test --workspace --release
echo "== example"; cargo run --release -q -p udp-service-example   # two nodes on loopback UDP, a tunnel, an echo service
echo "== ring";    cargo test -p mcc-core --features ring --release
echo "== no_std";  scripts/nostd-probe.sh && examples/mcu-node/size.sh   # core alone, and the MCU node
echo "== fuzz";    FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz-smoke.sh
echo "== e2e"
if [[ $EUID -eq 0 ]]; then
    bash tests/e2e/linux.sh        # mccd/mcc in 7 namespaces with a NAT
    bash tests/e2e/android-jvm.sh  # the JNI library in a host JVM against mccd
    bash tests/e2e/mcu.sh          # the no_std smoltcp node against mccd
    bash tests/e2e/control.sh      # the control socket against a local unprivileged user
else
    echo "e2e: SKIPPED (needs root for network namespaces and TUN devices; CI runs as root)"
fi
echo "== all tests passed"
