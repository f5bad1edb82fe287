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
# down on exit (tests/e2e/lib.sh); the work directory /tmp/mccmcu stays for post-mortem.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccmcu /tmp/mccmcu
CHECKS=1
PORT=9376
ROOT_IP=10.232.0.1
MCU_FWD_IP=10.232.0.2
TUN_KERNEL=10.77.0.1
TUN_SMOLTCP=10.77.0.2
DUMP_LOGS="$W/root/mccd.log $W/root/mccd.stderr $W/mcu/mcu-node.log"

mccr() { mcc_in root "$W/root" "$@"; }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 python3:python3 awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux mcu-node
MCU=$TARGET/mcu-node
[ -x "$MCU" ] || die "missing $MCU"

# ---------------------------------------------------------------- underlay

log "namespaces: root, mcu (veth), tun0 in mcu for smoltcp"
ns_add root mcu || die "namespaces"
veth root eth0 mcu eth0 "$ROOT_IP/24" "$MCU_FWD_IP/24" || die "veth root<->mcu"
ns_route root 10.77.0.0/30 "$MCU_FWD_IP" || die "route to the smoltcp /30 in root"
ns_forward mcu || die "ip_forward in mcu"
# A persistent TUN (no packet info, as smoltcp opens it): configured before the MCU attaches.
ip -n "$P-mcu" tuntap add dev tun0 mode tun || die "tun0 in mcu"
ip -n "$P-mcu" addr add "$TUN_KERNEL/30" dev tun0
ip -n "$P-mcu" link set tun0 up
wait_until 10 0.2 nsx root ping -c 1 -W 1 "$MCU_FWD_IP" >/dev/null 2>&1 || die "underlay: root cannot reach mcu"

# ---------------------------------------------------------------- provisioning

log "provisioning: CA, network, root, mcu"
pki "$W" || die "CA and network certificate"
mcc_node root "$W/root" "" log-level debug || die "mcc init root"
ROOT_ID=$NODE_ID
# The MCU binary reads only its keys and certificates from this directory.
mcc_node mcu "$W/mcu" "$ROOT_IP:$PORT" || die "mcc init mcu"
MCU_ID=$NODE_ID
log "root = $ROOT_ID; mcu = $MCU_ID"

# The tunnel: server = the MCU node (its config dir only gives the server node ID),
# client = root. No daemon serves that dir: point -s at nothing.
mcc_tunnel mcu "$W/mcu" "$ROOT_ID" udp:7 || die "mcc create-tunnel"
ls "$W/mcu/tunnels/client-$SEP-private-key.txt" >/dev/null || die "no client key file next to the server key"
log "tunnel: server endpoint $SEP (on mcu), client root"

# ---------------------------------------------------------------- run

mccd_start root "$W/root"
wait_until 20 0.3 mccd_healthy root "$W/root" || die "root mccd not healthy"
spawn mcu "$W/mcu/mcu-node.log" "$MCU" "$W/mcu" "$ROOT_IP:$PORT" --tun tun0 --ip "$TUN_SMOLTCP/30" \
    --gateway "$TUN_KERNEL" --report-secs 1
MCU_PID=$SPAWNED
log "started mccd (root) and mcu-node (pid $MCU_PID)"

mcu_is_child() { mccr nodes 2>/dev/null | grep -q "$MCU_ID"; }
if wait_until 30 0.5 mcu_is_child; then
    pass "1 the MCU node joined root as its child (mcc nodes on root lists it)"
else
    fail "1 the MCU node joined root"
fi
check "2 MCU log reports its parent up" wait_until 15 0.5 grep -q "parent up" "$W/mcu/mcu-node.log"

ADDR=""
if mcc_resolve_wait 30 root "$W/root" "$SEP"; then
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
exit 0
