#!/usr/bin/env bash
# End-to-end test of the Android bindings (mcc-android) on a host JVM: no Android
# device or emulator. The JVM plays the VpnService app.
#
#   sudo bash tests/e2e/android-jvm.sh      (needs root, network namespaces, /dev/net/tun,
#                                            javac/java 17+)
#
# Namespace mccjvm-a (10.233.0.1/24): the root node, a Linux mccd, plus UDP and TCP echo
# servers. Namespace mccjvm-b (10.233.0.2/24): a JVM running the harness
# mcc-android/java-test/McTest.java, which opens a real TUN device (Mcc.openTun,
# standing in for VpnService.establish()), starts the node through io.mcc.Mcc with a
# Protector that records the fd, and checks the error paths (MccException, VM survives).
# Once the JVM node is linked, this script creates a tunnel on the root (server) for the JVM
# node (client); the harness resolves the server endpoint and sends UDP and TCP through it.
#
# The whole test runs twice: on a chacha20-poly1305 network and on an aes-256-gcm one (the
# root mccd and the JVM node both configured with the cipher; each picks it in the shared
# daemon start-up). MCC_CIPHER=NAME runs it once, with that cipher.
#
# Only addresses inside the namespaces created here are used. Everything is torn down on
# exit, even on failure; the work directory /tmp/mccjvm-CIPHER stays for post-mortem.
# Last line: "N passed, M failed"; exit status 0 only when every check passed.

set -u -o pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.." || exit 2
if [ -z "${MCC_CIPHER:-}" ]; then
    rc=0 sum_p=0 sum_f=0
    for c in chacha20-poly1305 aes-256-gcm; do
        echo "===== network cipher: $c"
        MCC_CIPHER=$c bash "$SELF" "$@" | tee "/tmp/mccjvm-$c.out" || rc=1
        read -r p _ f _ < <(tail -n 1 "/tmp/mccjvm-$c.out")
        sum_p=$((sum_p + ${p:-0})) sum_f=$((sum_f + ${f:-1}))
    done
    echo "$sum_p passed, $sum_f failed"
    exit "$rc"
fi
CIPHER=$MCC_CIPHER
REPO=$PWD
P=mccjvm
W=/tmp/mccjvm-$CIPHER
PORT=9376
UDP_PORT=7777
TCP_PORT=7778
PASSED=0
FAILED=0
BG_PIDS=()
T_START=$(date +%s.%N)

log() { printf '[%5.1fs] %s\n' "$(awk -v s="$T_START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')" "$*"; }
pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $1${2:+ ($2)}"; FAILED=$((FAILED + 1)); }
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
wait_until() { # wait_until TIMEOUT_S CMD...
    local end=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}
nsx() {
    local n=$1
    shift
    ip netns exec "$P-$n" "$@"
}

dump_logs() {
    local f
    for f in "$W/root/mccd.log" "$W/root/mccd.stderr" "$W/jvm/node.log" "$W/jvm.out"; do
        [ -s "$f" ] || continue
        echo "----- $f (last 30 lines)"
        tail -n 30 "$f"
    done
}

teardown_net() {
    local ns p pids
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-"); do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        for p in $pids; do kill -TERM "$p" 2>/dev/null; done
        [ -n "$pids" ] && sleep 0.5
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    teardown_net
    [ "$FAILED" -gt 0 ] && dump_logs
    log "cleaned up (namespaces deleted; logs kept in $W)"
    echo "$PASSED passed, $FAILED failed"
    if [ "$FAILED" -gt 0 ] || [ "$PASSED" -eq 0 ]; then exit 1; fi
    exit "$rc"
}

die() {
    fail "setup: $*"
    exit 1
}

# ---------------------------------------------------------------- prerequisites

[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, TUN)" >&2; exit 2; }
if ! command -v javac >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    log "installing a JDK (javac)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless >/dev/null
fi
for c in ip socat python3 javac java; do
    command -v "$c" >/dev/null 2>&1 || { echo "missing $c" >&2; echo "0 passed, 1 failed"; exit 1; }
done
[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing" >&2; exit 2; }

teardown_net
rm -rf "$W"
mkdir -p "$W/classes"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building: cargo build --release -p mcc-android -p mcc-linux"
cargo build --release -p mcc-android -p mcc-linux || die "cargo build"
MCC=$REPO/target/release/mcc
MCCD=$REPO/target/release/mccd
LIB=$REPO/target/release/libmcc_android.so
[ -x "$MCC" ] && [ -x "$MCCD" ] && [ -f "$LIB" ] || die "missing $MCC, $MCCD or $LIB"
log "compiling the Java classes"
javac -Xlint:all -Werror -d "$W/classes" mcc-android/java/io/mcc/*.java \
    mcc-android/java-test/McTest.java || die "javac"
check "javadoc of io.mcc has no errors or warnings" \
    javadoc -quiet -Xdoclint:all -Werror -d "$W/javadoc" mcc-android/java/io/mcc/*.java

# ---------------------------------------------------------------- underlay

ip netns add "$P-a" && ip netns add "$P-b" || die "ip netns add"
ip -n "$P-a" link set lo up && ip -n "$P-b" link set lo up
ip link add eth0 netns "$P-a" type veth peer name eth0 netns "$P-b" || die "veth"
ip -n "$P-a" addr add 10.233.0.1/24 dev eth0 && ip -n "$P-a" link set eth0 up
ip -n "$P-b" addr add 10.233.0.2/24 dev eth0 && ip -n "$P-b" link set eth0 up
wait_until 10 nsx b ping -c 1 -W 1 10.233.0.1 >/dev/null || die "underlay: b cannot reach a"

# ---------------------------------------------------------------- provisioning

log "provisioning: CA, network, the root (mccd) and the JVM node"
mkdir -p "$W/ca" "$W/net"
"$MCC" generate-ca-certificate "$W/ca" >/dev/null || die "generate-ca-certificate"
NETB64=$("$MCC" generate-network-certificate --ca "$W/ca" "$W/net" | tr -d '[:space:]') || die "generate-network-certificate"
NETKEY=$W/net/network-private-key.txt
declare -A ID
for n in root jvm; do
    args=(init -C "$W/$n" --stdin)
    [ "$n" = jvm ] && args+=(-p "10.233.0.1:$PORT")
    ID[$n]=$("$MCC" "${args[@]}" "$NETB64" <"$NETKEY" 2>"$W/$n-init.stderr" | tail -n 1 | tr -d '[:space:]')
    [[ ${ID[$n]} =~ ^[0-9a-z]{52}$ ]] || die "mcc init $n: $(cat "$W/$n-init.stderr")"
    conf=$W/$n/mcc.conf
    log_file=$W/$n/mccd.log
    [ "$n" = jvm ] && log_file=$W/$n/node.log
    sed -i -E "s|^#? *unix-socket-path *=.*|unix-socket-path = $W/$n/mcc.sock|; \
s|^#? *log-file *=.*|log-file = $log_file|; s|^#? *log-level *=.*|log-level = debug|; \
s|^#? *keep-alive-period *=.*|keep-alive-period = 2s|; s|^#? *data-dir *=.*|data-dir = $W/$n/data|; \
s|^#? *cipher *=.*|cipher = $CIPHER|" "$conf"
    for k in unix-socket-path log-file data-dir; do
        grep -q "^$k = $W/$n" "$conf" || die "$conf: could not set $k"
    done
    grep -q "^cipher = $CIPHER\$" "$conf" || die "$conf: could not set cipher"
    mkdir -p "$W/$n/data"
    log "$n = ${ID[$n]}"
done

ip netns exec "$P-a" "$MCCD" "$W/root" >>"$W/root/mccd.stderr" 2>&1 &
BG_PIDS+=($!)
ip netns exec "$P-a" socat UDP-LISTEN:$UDP_PORT,fork,reuseaddr EXEC:cat >"$W/udpecho.log" 2>&1 &
BG_PIDS+=($!)
ip netns exec "$P-a" socat TCP-LISTEN:$TCP_PORT,fork,reuseaddr EXEC:cat >"$W/tcpecho.log" 2>&1 &
BG_PIDS+=($!)
wait_until 15 nsx a "$MCC" -s "$W/root/mcc.sock" health >/dev/null 2>&1 || die "root mccd not healthy"
wait_until 10 sh -c "echo hi | ip netns exec $P-a socat -t 1 - UDP:127.0.0.1:$UDP_PORT | grep -q hi" ||
    die "udp echo does not answer locally"

# ---------------------------------------------------------------- the JVM node

log "starting the JVM harness in $P-b"
ip netns exec "$P-b" java -Xcheck:jni -Djava.library.path="$REPO/target/release" -cp "$W/classes" \
    McTest "$W" "$W/jvm" "${ID[root]}" "$UDP_PORT" "$TCP_PORT" >"$W/jvm.out" 2>&1 &
JVM=$!
BG_PIDS+=("$JVM")
if wait_until 60 test -e "$W/jvm.ready"; then
    log "JVM node linked to the root; creating the tunnel on the root for it"
    SEP=$(nsx a timeout 20 "$MCC" -s "$W/root/mcc.sock" create-tunnel -C "$W/root" \
        -p "$W/root/network-certificate.txt" --stdin --targets "udp:$UDP_PORT,tcp:$TCP_PORT" \
        --remote-node "${ID[jvm]}" <"$NETKEY" 2>"$W/create-tunnel.stderr" | tail -n 1 | tr -d '[:space:]')
    if [[ $SEP =~ ^[0-9a-z]{52}$ ]]; then
        pass "mcc create-tunnel on the root for the JVM node"
        echo "$SEP" >"$W/sep.txt.tmp" && mv "$W/sep.txt.tmp" "$W/sep.txt"
        # The JVM node's DNS server answers for the server endpoint too.
        dns_ok() {
            local a
            a=$(nsx b dig @127.0.0.1 -p 8353 +short +time=1 +tries=1 "$SEP.home.arpa" A 2>/dev/null | head -n 1)
            [[ $a =~ ^[0-9]+(\.[0-9]+){3}$ ]]
        }
        if command -v dig >/dev/null; then
            check "dig in $P-b resolves the server endpoint through the JVM node's DNS" wait_until 30 dns_ok
        fi
    else
        fail "mcc create-tunnel" "$(cat "$W/create-tunnel.stderr")"
    fi
else
    fail "JVM node ready within 60 s"
fi
wait_until 120 sh -c "! kill -0 $JVM 2>/dev/null" || fail "JVM harness finished within 120 s"
wait "$JVM"
jrc=$?
sed 's/^/    jvm| /' "$W/jvm.out"
jp=$(grep -c '^PASS: ' "$W/jvm.out")
jf=$(grep -c '^FAIL: ' "$W/jvm.out")
PASSED=$((PASSED + jp))
FAILED=$((FAILED + jf))
grep -q '^harness: ' "$W/jvm.out" || fail "JVM harness ran to the end" "exit status $jrc"
[ "$jrc" = 0 ] || [ "$jf" -gt 0 ] || fail "JVM harness exit status" "$jrc"
grep -q 'SIGSEGV\|hs_err\|fatal error' "$W/jvm.out" && fail "no JVM crash" "see $W/jvm.out"
check "the root mccd is still running" kill -0 "${BG_PIDS[0]}"
check "the root mccd runs $CIPHER" grep -q "both layers sealed with $CIPHER" "$W/root/mccd.log"
check "the JVM node runs $CIPHER" grep -q "both layers sealed with $CIPHER" "$W/jvm/node.log"
exit 0
