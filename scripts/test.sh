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
echo "== doc";     RUSTDOCFLAGS="-D warnings" cargo doc -q -p mcc-core --no-deps   # the core's API docs link cleanly
echo "== tests";   cargo test --workspace --release
echo "== example"; cargo run --release -q -p udp-service-example   # two nodes on loopback UDP, a tunnel, an echo service
echo "== ring";    cargo test -p mcc-core --features ring --release
echo "== no_std";  scripts/nostd-probe.sh && examples/mcu-node/size.sh   # core alone, and the MCU node
echo "== web ui";  (cd mcc-web/ui && npm test --silent && ./vendor.sh --check)   # the UI's form checks and tree layout (node --test); the vendored cytoscape is what its lockfile gives
echo "== fuzz";    FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz-smoke.sh
echo "== e2e"
if [[ $EUID -eq 0 ]]; then
    # Every script builds what it needs first, so the lanes do not race on cargo. Each
    # script scopes its namespaces by its own prefix (tests/e2e/lib.sh), so two lanes can
    # run at once on two cores; each lane's output is printed when it ends.
    cargo build --release -q -p mcc-linux -p mcc-nss -p mcc-android -p mcu-node -p mcc-web
    lane() {
        local out=$1 rc=0 t0; shift
        for t in "$@"; do
            t0=$SECONDS
            bash "tests/e2e/$t" >>"$out" 2>&1 || { echo "FAILED: $t" >>"$out"; rc=1; }
            echo "e2e time: $t $((SECONDS - t0)) s" >>"$out"
        done
        return $rc
    }
    logs=$(mktemp -d)
    # packages.sh: every package built, checked and installed, the .deb booted under systemd
    # in a Debian root cached in /var/cache/mcc-test (debootstrap once: 1 to 2.5 min). Warm:
    # about 1.5 min; a fresh clone adds the static OpenWrt build (5 to 8 min on 2 busy cores).
    lane "$logs/a" linux.sh mcu.sh external.sh cli.sh packages.sh internet.sh flood.sh tcp.sh & a=$!   # mccd/mcc in 7 namespaces with a NAT; the no_std smoltcp node; a LAN device behind an external tunnel (nftables NAT); mcc and mccd as documented; the packages; a client through an exit node, the kill switch, reroute-dns; tunnel traffic and joins during 5 s floods of Inits, junk and unknown-index data; links over TCP through a NAT that drops UDP (tcp:// parents, the fallback, a cut connection, failover)
    lane "$logs/b" android-jvm.sh control.sh nss.sh dnsmasq.sh pinning.sh forwarding.sh direct.sh web.sh & b=$!   # the JNI library in a host JVM (both ciphers); the control socket as an unprivileged user; the NSS module with getent, ping, dig; a real dnsmasq with the drop-in; pinned parents against an impostor; forwarding rules with rollback (nftables DNAT into the tunnel); direct paths through real NATs (easy, hard, 30 s timeout), fallback; mcc-web next to a 4-node network: every OpenAPI route without a session, cookies, CSRF, the login limit, a tunnel created and revoked through the API and in Debian's chromium (Selenium), schemathesis, metrics, config + restart
    lane "$logs/c" renewal.sh ssl.sh android-gateway.sh consortium.sh providers.sh serial.sh & c=$!   # 1-minute node and tunnel certificates renewed through the network for 5 minutes under ping (mostly sleeps); SSL CA distribution with curl against a private trust store; JVM "phones" using their parent as gateway (masqueraded HTTP and UDP, reroute-dns, refused clients); two organisations with two CAs on one tree (shared-nodes); one name served by two providers, tags, a provider that dies; the no_std node over a mangled 115,200-baud pty line (serial-links), a cable cut
    rc=0
    wait $a || rc=1
    wait $b || rc=1
    wait $c || rc=1
    cat "$logs/a" "$logs/b" "$logs/c"
    grep -h 'passed, .* failed$' "$logs/a" "$logs/b" "$logs/c"
    grep -h '^e2e time: ' "$logs/a" "$logs/b" "$logs/c"
    rm -rf "$logs"
    ((rc == 0)) || { echo "== e2e FAILED"; exit 1; }
else
    echo "e2e: SKIPPED (needs root for network namespaces and TUN devices; CI runs as root)"
fi
echo "== all tests passed"
