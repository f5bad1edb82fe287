#!/usr/bin/env bash
# Links over TCP where UDP is blocked (issue 16, item 3), with real daemons in namespaces.
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/tcp.sh            (CI: about 1.5 min)
#   sudo TCP_IPERF_SECS=10 flock /tmp/mcc-netns.lock bash tests/e2e/tcp.sh   (longer iperf3)
#
#   core bridge 10.247.0.0/24: root .2, P1 .3, P2 .4, N .5 (eth0), SRV .6, C0 .7
#   C1 10.247.1.2, C2 10.247.1.3 ── N (br1 10.247.1.1; MASQUERADE out of eth0, and every
#   forwarded UDP datagram dropped) ── core
#   overlay: root; P1, P2, SRV, C0 -> root (UDP); C1 -> tcp://P1, tcp://P2 (TCP only);
#   C2 -> P1, P2 as plain UDP parents with parents-tcp-fallback = 5s.
#   Tunnels from SRV (python3 http.server 8080, iperf3 5201) to C0, C1 and C2.
#
#   1 C1 links to P1 over TCP through the UDP-dropping NAT; curl through its tunnel works
#   2 C2's UDP never gets out; after the fallback it dials TCP and links; curl works
#   3 the TCP connection is cut (conntrack entry deleted and the socket killed): C1 links
#     again over a new connection and curl works again
#   4 P1 dies: C1 fails over to tcp://P2 and curl works again
#   5 RTT and iperf3 throughput SRV <- C1 (first hop TCP) next to SRV <- C0 (all UDP),
#     printed and written to $W/results.txt (numbers, not assertions)
#   6 keys: mccd -C lists listen-tcp and parents-tcp-fallback; listen-tcp = false closes
#     the TCP port (a TCP-only child cannot link)
#
# Traffic goes only to addresses inside the namespaces created here; everything is torn
# down on exit. Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mcctcp /tmp/mcctcp
CHECKS=1
PORT=9376
IPERF_SECS=${TCP_IPERF_SECS:-3}
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"

need_root
need_tools ip:iproute2 iptables:iptables conntrack:conntrack ss:iproute2 curl:curl \
    ping:iputils-ping python3:python3 iperf3:iperf3 awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- underlay

ns_add core root p1 p2 n srv c0 c1 c2 || die "namespaces"
star 10.247.0 core root p1 p2 n srv c0 || die "core bridge"
bridge n br1 && ns_ip n br1 10.247.1.1/24 || die "lan bridge"
bridge_port n br1 vc1 c1 eth0 10.247.1.2/24 || die "c1"
bridge_port n br1 vc2 c2 eth0 10.247.1.3/24 || die "c2"
for c in c1 c2; do ns_route "$c" default 10.247.1.1 || die "route $c"; done
ns_masquerade n eth0 || die "NAT"
nsx n iptables -A FORWARD -p udp -j DROP || die "UDP drop"
udp_dropped() { nsx n iptables -L FORWARD -v -x -n | awk '$3 == "DROP" && ($4 == "udp" || $4 == 17) { print $1; exit }'; }

# ---------------------------------------------------------------- nodes and tunnels

pki "$W/pki" ca net || die "CA and network"
declare -A ID
fast=(keep-alive-period 2s network-lookup-timeout 5s)
mcc_node root "$W/root" "" "${fast[@]}" || die "root"; ID[root]=$NODE_ID
for n in p1 p2 srv c0; do
    mcc_node "$n" "$W/$n" "${IP[root]}:$PORT" "${fast[@]}" || die "mcc init $n"
    ID[$n]=$NODE_ID
done
mcc_set "$W/c0/mcc.conf" parents "${IP[p1]}:$PORT" || die "c0 parent"
mcc_node c1 "$W/c1" "tcp://${IP[p1]}:$PORT,tcp://${IP[p2]}:$PORT" "${fast[@]}" || die "mcc init c1"
ID[c1]=$NODE_ID
mcc_node c2 "$W/c2" "${IP[p1]}:$PORT,${IP[p2]}:$PORT" "${fast[@]}" parents-tcp-fallback 5s || die "mcc init c2"
ID[c2]=$NODE_ID
check "1 mcc init wrote the tcp:// parents" grep -qx "parents = tcp://${IP[p1]}:$PORT, tcp://${IP[p2]}:$PORT" "$W/c1/mcc.conf"

for n in root p1 p2 srv c0 c1 c2; do mccd_start "$n" "$W/$n"; done
for n in root p1 p2 srv c0 c1 c2; do wait_until 30 0.2 mccd_healthy "$n" "$W/$n" || die "mccd $n not healthy"; done
T_NODES=$(now)

MARKER="tcp-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$W/www" && echo "$MARKER" >"$W/www/who.txt"
spawn srv "$W/http.log" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$W/www"
spawn srv "$W/iperf3-server.log" iperf3 -s -p 5201
declare -A SADDR
for c in c0 c1 c2; do
    mcc_tunnel srv "$W/srv" "${ID[$c]}" tcp:8080,tcp:5201,icmp || die "create-tunnel to $c"
    S=$SEP
    mcc_resolve_wait 40 "$c" "$W/$c" "$S" || die "$c does not resolve its tunnel's server endpoint"
    SADDR[$c]=$ADDR
done

curl_ok() { [ "$(nsx "$1" curl -s --noproxy '*' --max-time 3 "http://${SADDR[$1]}:8080/who.txt")" = "$MARKER" ]; }
parent_of() { mcc_in "$1" "$W/$1" status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("parent") or "")' 2>/dev/null; }
is_parent() { [ "$(parent_of "$1")" = "${ID[$2]}" ]; }  # is_parent NODE PARENT
linked_to() { mcc_in "$2" "$W/$2" nodes 2>/dev/null | grep -q "${ID[$1]}"; } # linked_to NODE PARENT

# ---------------------------------------------------------------- 1 TCP-only parent

wait_until 30 0.2 is_parent c1 p1
check "1 c1's parent is p1 (over TCP, $(since "$T_NODES") s after start)" is_parent c1 p1
check "1 c1 logged the TCP connection to p1" grep -q "tcp link to parent ${IP[p1]}:$PORT connected" "$W/c1/mccd.log"
check "1 p1 lists c1" linked_to c1 p1
tcp_est() { nsx "$1" ss -Htn state established "( dport = :$PORT )" | grep -c "$2:$PORT"; }
check "1 c1 has an established TCP connection to p1:$PORT" [ "$(tcp_est c1 "${IP[p1]}")" -ge 1 ]
wait_until 20 0.5 curl_ok c1
check "1 curl from c1 through its tunnel to srv" curl_ok c1

# ---------------------------------------------------------------- 2 fallback

wait_until 40 0.5 is_parent c2 p1
check "2 c2 (UDP parents) linked after the fallback ($(since "$T_NODES") s after start)" is_parent c2 p1
check "2 c2 logged the fallback to TCP" grep -q "no parent over UDP for 5 s: dialling the parents over TCP" "$W/c2/mccd.log"
d=$(udp_dropped)
check "2 the NAT dropped c2's UDP datagrams (${d:-0})" [ "${d:-0}" -gt 0 ]
wait_until 20 0.5 curl_ok c2
check "2 curl from c2 through its tunnel to srv" curl_ok c2

# ---------------------------------------------------------------- 3 a cut connection

before=$(grep -c "tcp link to parent ${IP[p1]}:$PORT connected" "$W/c1/mccd.log")
nsx c1 ss -K dst "${IP[p1]}" dport = ":$PORT" >/dev/null 2>&1
nsx n conntrack -D -p tcp --orig-src 10.247.1.2 >/dev/null 2>&1
reconnected() { [ "$(grep -c "tcp link to parent ${IP[p1]}:$PORT connected" "$W/c1/mccd.log")" -gt "$before" ]; }
T0=$(now)
wait_until 20 0.2 reconnected
check "3 c1 dialled p1 again after the cut ($(since "$T0") s)" reconnected
wait_until 20 0.5 curl_ok c1
check "3 curl from c1 works again after the cut ($(since "$T0") s)" curl_ok c1
check "3 c1 kept p1 as its parent" is_parent c1 p1

# ---------------------------------------------------------------- 5 numbers (before p1 dies)

ping_avg() { # ping_avg NODE: average RTT in ms of 20 pings to its tunnel's server endpoint
    nsx "$1" ping -q -c 20 -i 0.05 -W 2 "${SADDR[$1]}" 2>&1 | sed -nE 's|.*= [0-9.]+/([0-9.]+)/.*|\1|p'
}
iperf_mbps() {
    nsx "$1" timeout $((IPERF_SECS + 15)) iperf3 -c "${SADDR[$1]}" -p 5201 -t "$IPERF_SECS" -J 2>/dev/null | python3 -c '
import json, sys
try:
    print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("-")'
}
rtt0=$(ping_avg c0); rtt1=$(ping_avg c1)
mb0=$(iperf_mbps c0); mb1=$(iperf_mbps c1)
{
    echo "first hop | RTT to srv (avg of 20, ms) | iperf3 ${IPERF_SECS} s (Mbit/s)"
    echo "UDP (c0)  | ${rtt0:--} | $mb0"
    echo "TCP (c1)  | ${rtt1:--} | $mb1"
} | tee "$W/results.txt"
check "5 the tunnel over the TCP hop carried iperf3 ($mb1 Mbit/s)" [ "$mb1" != - ]

# ---------------------------------------------------------------- 4 failover

mccd_stop "$W/p1"
T0=$(now)
wait_until 40 0.2 is_parent c1 p2
check "4 c1 failed over to tcp://p2 ($(since "$T0") s after p1 stopped)" is_parent c1 p2
check "4 c1 connected to p2 over TCP" grep -q "tcp link to parent ${IP[p2]}:$PORT connected" "$W/c1/mccd.log"
wait_until 30 0.5 curl_ok c1
check "4 curl from c1 works through p2 ($(since "$T0") s)" curl_ok c1

# ---------------------------------------------------------------- 6 keys

keys=$("$MCCD" -C)
check "6 mccd -C lists listen-tcp = true" grep -qx "listen-tcp = true" <<<"$keys"
check "6 mccd -C lists parents-tcp-fallback = 20s" grep -qx "parents-tcp-fallback = 20s" <<<"$keys"
mccd_stop "$W/p2"
mcc_set "$W/p2/mcc.conf" listen-tcp false || die "listen-tcp"
mccd_start p2 "$W/p2"
wait_until 30 0.2 mccd_healthy p2 "$W/p2" || die "p2 not healthy"
tcp_listening() { nsx p2 ss -Htln "( sport = :$PORT )" | grep -q .; }
check_not "6 listen-tcp = false: p2 listens on no TCP port" tcp_listening
sleep 8
check_not "6 c1 (TCP only) cannot link to p2 now" is_parent c1 p2

