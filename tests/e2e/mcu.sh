#!/usr/bin/env bash
# Interop test of the microcontroller node (examples/mcu-node: no_std mcc-core on smoltcp,
# 64 KiB heap) with a Linux mccd, in network namespaces.
#
#   sudo bash tests/e2e/mcu.sh          (from anywhere; needs root, netns, /dev/net/tun)
#
# Namespaces (prefix mccmcu): root runs mccd (10.232.0.1/24 on eth0); mcu runs the MCU
# binary. In mcu, the smoltcp stack sits behind TUN device tun0: smoltcp has 10.77.0.2/30
# with the kernel side 10.77.0.1/30 as its gateway; the mcu kernel forwards (ip_forward)
# between tun0 and its veth eth0 (10.232.0.2/24) toward root, which routes 10.77.0.0/30
# back via 10.232.0.2. The MCU node is a leaf with root as its parent (10.232.0.1:9376).
#
# The tunnel has the MCU node as its SERVER (it has no CLI): `mcc create-tunnel -C MCU_DIR`
# run here with the network key writes the server side into MCU_DIR/tunnels; the MCU
# binary offers it to root (the client) at start. Then root sends UDP to the server
# endpoint's address, port 7, and the MCU's echo service must answer.
#
# Traffic goes only to addresses inside the namespaces created here. Everything is torn
# down on exit; the work directory /tmp/mccmcu stays for post-mortem.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

P=mccmcu
W=/tmp/mccmcu
PORT=9376
ROOT_IP=10.232.0.1
MCU_FWD_IP=10.232.0.2
TUN_KERNEL=10.77.0.1
TUN_SMOLTCP=10.77.0.2
PIDS=()
PASSED=0
FAILED=0
T_START=$(date +%s.%N)

elapsed() { awk -v s="$T_START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
log() { printf '[%5.1fs] %s\n' "$(elapsed)" "$*"; }
pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $1${2:+ ($2)}"; FAILED=$((FAILED + 1)); }
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
wait_until() { # wait_until TIMEOUT_S INTERVAL_S CMD...
    local timeout=$1 interval=$2 t0
    shift 2
    t0=$(date +%s.%N)
    while :; do
        "$@" && return 0
        awk -v s="$t0" -v n="$(date +%s.%N)" -v t="$timeout" 'BEGIN { exit !(n - s >= t) }' && return 1
        sleep "$interval"
    done
}
nsx() {
    local n=$1
    shift
    ip netns exec "$P-$n" "$@"
}
mccr() { nsx root timeout 10 "$MCC" -s "$W/root/mcc.sock" "$@"; }

dump_logs() {
    local f
    for f in "$W/root/mccd.log" "$W/root/mccd.stderr" "$W/mcu/mcu-node.log"; do
        [ -s "$f" ] || continue
        echo "----- $f (last 30 lines)"
        tail -n 30 "$f"
    done
    echo "-----"
}
die() {
    echo "FATAL: $*" >&2
    fail "setup: $*"
    dump_logs
    exit 1
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
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    teardown_net
    log "cleaned up: namespaces deleted; logs kept in $W"
    echo "$PASSED passed, $FAILED failed"
    [ "$rc" = 0 ] && [ "$FAILED" != 0 ] && rc=1
    exit "$rc"
}

# ---------------------------------------------------------------- prerequisites

[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, TUN)" >&2; exit 2; }
for c in ip python3 awk; do
    command -v "$c" >/dev/null 2>&1 || { echo "missing $c" >&2; exit 2; }
done
[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing" >&2; exit 2; }

log "building: cargo build --release -p mcc-linux -p mcu-node"
if ! cargo build --release -p mcc-linux -p mcu-node; then
    echo "build failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
MCC=$TARGET/release/mcc
MCCD=$TARGET/release/mccd
MCU=$TARGET/release/mcu-node
for b in "$MCC" "$MCCD" "$MCU"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

# ---------------------------------------------------------------- underlay

teardown_net
rm -rf "$W"
mkdir -p "$W/root" "$W/mcu"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "namespaces: root, mcu (veth), tun0 in mcu for smoltcp"
for ns in root mcu; do
    ip netns add "$P-$ns" || die "ip netns add $P-$ns"
    ip -n "$P-$ns" link set lo up
done
ip link add eth0 netns "$P-root" type veth peer name eth0 netns "$P-mcu" || die "veth root<->mcu"
ip -n "$P-root" addr add "$ROOT_IP/24" dev eth0
ip -n "$P-root" link set eth0 up
ip -n "$P-root" route add 10.77.0.0/30 via "$MCU_FWD_IP" || die "route to the smoltcp /30 in root"
ip -n "$P-mcu" addr add "$MCU_FWD_IP/24" dev eth0
ip -n "$P-mcu" link set eth0 up
nsx mcu sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' || die "ip_forward in mcu"
# A persistent TUN (no packet info, as smoltcp opens it): configured before the MCU attaches.
ip -n "$P-mcu" tuntap add dev tun0 mode tun || die "tun0 in mcu"
ip -n "$P-mcu" addr add "$TUN_KERNEL/30" dev tun0
ip -n "$P-mcu" link set tun0 up
wait_until 10 0.2 nsx root ping -c 1 -W 1 "$MCU_FWD_IP" >/dev/null 2>&1 || die "underlay: root cannot reach mcu"

# ---------------------------------------------------------------- provisioning

log "provisioning: CA, network, root, mcu"
mkdir -p "$W/ca" "$W/net"
"$MCC" generate-ca-certificate "$W/ca" >/dev/null || die "generate-ca-certificate"
NETB64=$("$MCC" generate-network-certificate --ca "$W/ca" "$W/net" | tr -d '[:space:]') ||
    die "generate-network-certificate"
NETKEY=$W/net/network-private-key.txt
init_node() { # init_node NAME [PARENT]
    local args=(init -C "$W/$1" --stdin)
    [ -n "${2:-}" ] && args+=(-p "$2")
    "$MCC" "${args[@]}" "$NETB64" <"$NETKEY" 2>"$W/$1/init.stderr" | tail -n 1 | tr -d '[:space:]'
}
ROOT_ID=$(init_node root) || die "mcc init root: $(cat "$W/root/init.stderr")"
MCU_ID=$(init_node mcu "$ROOT_IP:$PORT") || die "mcc init mcu: $(cat "$W/mcu/init.stderr")"
[[ $ROOT_ID =~ ^[0-9a-z]{52}$ && $MCU_ID =~ ^[0-9a-z]{52}$ ]] || die "node IDs: '$ROOT_ID' '$MCU_ID'"
log "root = $ROOT_ID; mcu = $MCU_ID"
conf=$W/root/mcc.conf
{
    echo "unix-socket-path = $W/root/mcc.sock"
    echo "log-file = $W/root/mccd.log"
    echo "log-level = debug"
    echo "data-dir = $W/root/data"
} >>"$conf"
# (later lines win? make sure: drop earlier active lines of these keys)
for k in unix-socket-path log-file log-level data-dir; do
    last=$(grep -E "^[[:space:]]*$k[[:space:]]*=" "$conf" | tail -n 1)
    sed -i -E "/^[[:space:]]*$k[[:space:]]*=/d" "$conf"
    echo "$last" >>"$conf"
done
mkdir -p "$W/root/data"

# The tunnel: server = the MCU node (its config dir only gives the server node ID),
# client = root. No daemon serves that dir: point -s at nothing.
SEP=$("$MCC" -s "$W/mcu/none.sock" create-tunnel -C "$W/mcu" -p "$W/mcu/network-certificate.txt" --stdin \
    --targets udp:7 --remote-node "$ROOT_ID" <"$NETKEY" 2>"$W/create-tunnel.stderr" | tail -n 1 | tr -d '[:space:]')
[[ $SEP =~ ^[0-9a-z]{52}$ ]] || die "mcc create-tunnel printed '$SEP': $(cat "$W/create-tunnel.stderr")"
ls "$W/mcu/tunnels/client-$SEP-private-key.txt" >/dev/null || die "no client key file next to the server key"
log "tunnel: server endpoint $SEP (on mcu), client root"

# ---------------------------------------------------------------- run

ip netns exec "$P-root" "$MCCD" "$W/root" >>"$W/root/mccd.stderr" 2>&1 &
PIDS+=($!)
wait_until 20 0.3 sh -c "'$MCC' -s '$W/root/mcc.sock' health >/dev/null 2>&1" || die "root mccd not healthy"
ip netns exec "$P-mcu" "$MCU" "$W/mcu" "$ROOT_IP:$PORT" --tun tun0 --ip "$TUN_SMOLTCP/30" \
    --gateway "$TUN_KERNEL" --report-secs 1 >"$W/mcu/mcu-node.log" 2>&1 &
MCU_PID=$!
PIDS+=("$MCU_PID")
log "started mccd (root) and mcu-node (pid $MCU_PID)"

mcu_is_child() { mccr nodes 2>/dev/null | grep -q "$MCU_ID"; }
if wait_until 30 0.5 mcu_is_child; then
    pass "1 the MCU node joined root as its child (mcc nodes on root lists it)"
else
    fail "1 the MCU node joined root"
fi
check "2 MCU log reports its parent up" wait_until 15 0.5 grep -q "parent up" "$W/mcu/mcu-node.log"

ADDR=""
sep_resolves() { ADDR=$(mccr resolve "$SEP" 2>/dev/null | tr -d '[:space:]'); [[ $ADDR =~ ^[0-9]+(\.[0-9]+){3}$ ]]; }
if wait_until 30 0.5 sep_resolves; then
    log "server endpoint resolves on root: $ADDR"
    pass "3 the tunnel offer reached root (mcc resolve SEP = $ADDR)"
else
    fail "3 the tunnel offer reached root" "mcc resolve $SEP failed"
fi

# echo_via PAYLOAD: sends PAYLOAD from root to ADDR:7, prints the answer (3 tries).
echo_via() {
    nsx root timeout 12 python3 - "$ADDR" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for _ in range(5):
    s.sendto(sys.argv[2].encode(), (sys.argv[1], 7))
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        continue
    if a[0] == sys.argv[1] and a[1] == 7:
        print(d.decode(errors="replace"))
        sys.exit(0)
sys.exit(1)
EOF
}
M1="mcu-echo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
got=$(echo_via "$M1")
check "4 UDP echo on the MCU through the tunnel (root -> $ADDR:7 -> back)" [ "$got" = "$M1" ]
M2=$(head -c 400 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 500)
got=$(echo_via "$M2")
check "5 a 500-byte echo comes back intact" [ "$got" = "$M2" ]
ok=0
for i in $(seq 10); do
    [ "$(echo_via "burst-$i")" = "burst-$i" ] && ok=$((ok + 1))
done
check "6 10 sequential echoes ($ok/10 answered)" [ "$ok" -ge 9 ]
check "7 the MCU counted its echoes" grep -Eq "echoes ([1-9][0-9]*)" "$W/mcu/mcu-node.log"
check "8 the MCU node is still running" kill -0 "$MCU_PID"

# MCU_SOAK_SECS=N: keep echoing every 5 s for N more seconds (rekeys happen every 120 s)
# before reading the heap's high-water mark.
SOAK=${MCU_SOAK_SECS:-0}
if [ "$SOAK" -gt 0 ]; then
    log "soak: echoing every 5 s for $SOAK s"
    end=$(($(date +%s) + SOAK))
    sent=0 ok=0
    while [ "$(date +%s)" -lt "$end" ]; do
        sent=$((sent + 1))
        [ "$(echo_via "soak-$sent")" = "soak-$sent" ] && ok=$((ok + 1))
        sleep 5
    done
    check "8b soak: $ok/$sent echoes answered over $SOAK s, MCU still running" \
        sh -c "[ $ok -ge $((sent - 1)) ] && kill -0 $MCU_PID"
fi

HWM=$(grep -o 'heap high-water mark [0-9]* B' "$W/mcu/mcu-node.log" | tail -n 1 | awk '{print $4}')
log "MCU heap high-water mark: ${HWM:-?} B of 65536"
check "9 heap high-water mark within 64 KiB, no failed allocation" \
    sh -c "[ -n '$HWM' ] && [ '$HWM' -le 65536 ] && ! grep -q 'HEAP BUDGET EXCEEDED' '$W/mcu/mcu-node.log'"
tail -n 3 "$W/mcu/mcu-node.log" | sed 's/^/    /'
[ "$FAILED" = 0 ] || dump_logs
exit 0
