#!/usr/bin/env bash
# End-to-end test of external tunnels: a LAN device that runs no mcc, behind the server
# node, reached through a tunnel (docs: "How to add IP-based devices to network?").
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/external.sh
#
# Underlay (prefix mccext): bridge br0 in sw; root .1, srv .2, cli .3 on 10.234.0.0/24.
# Overlay: root; srv -> root; cli -> root. srv's second interface lan0 (192.168.60.1/24)
# leads to the namespace dev (192.168.60.2/24, no route beyond its own subnet: it can
# answer only what comes from srv's LAN address). dev runs an HTTP server on 8080 (and one
# on 8081, outside the tunnel), a UDP echo on 5353 that logs its peers, and iperf3 on 5201.
# srv runs its own HTTP server on 8080 (another marker) and iperf3 on 5202.
#
# Tunnels, both created on srv for the client cli while mccd runs:
#   external: --external-ip-address 192.168.60.2, tcp:8080,udp:5353,tcp:5201,icmp, name cam
#   regular:  tcp:8080,tcp:5202,icmp, name self (to srv itself, for comparison)
# srv has nat-table-expiry = 3s. Checked: both services through the tunnel by endpoint ID
# and by name, default deny, the device sees srv's LAN address, conntrack entries expire,
# one mcc table after kill -9 and restart, nothing left after a clean stop, the deprecated
# generate-dependent-node-certificate. Throughput and RTT through the external and the
# regular tunnel are printed (MEASURE lines), not asserted.
#
# Traffic goes only to addresses inside the namespaces created here. Everything is torn
# down on exit (tests/e2e/lib.sh); the work directory /tmp/mccext stays for post-mortem.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccext /tmp/mccext
CHECKS=1
NODES=(root srv cli)
PORT=9376
DEV=192.168.60.2
SRV_LAN=192.168.60.1
declare -A UNDERLAY=([root]=10.234.0.1 [srv]=10.234.0.2 [cli]=10.234.0.3)
declare -A PARENTS=([root]="" [srv]="10.234.0.1:$PORT" [cli]="10.234.0.1:$PORT")
declare -A ID=()
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/dev-*.log"

mccn() { mcc_in "$1" "$W/$1" "${@:2}"; }
digq() { nsx "$1" timeout 8 dig @127.0.0.1 -p 8353 +short +time=2 +tries=1 "${@:2}"; }
curl_in() { nsx "$1" curl -s --noproxy '*' --max-time 5 "$2"; }
# udp_echo NODE ADDR TEXT: one datagram to ADDR:5353, prints the answer (at once: the NAT
# expiry is seconds, so the client must not linger as socat -t does).
udp_echo() {
    nsx "$1" timeout 8 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for _ in range(2):
    s.sendto(sys.argv[2].encode(), (sys.argv[1], 5353))
    try:
        print(s.recv(2048).decode())
        break
    except socket.timeout:
        pass' "$2" "$3"
}
healthy() { mccd_healthy "$1" "$W/$1"; }
all_healthy() {
    local n
    for n in "${NODES[@]}"; do healthy "$n" || return 1; done
}
mcc_tables() { nsx srv nft list tables 2>/dev/null | grep -c '^table inet MCC$'; }
lan_forwarding() { nsx srv cat /proc/sys/net/ipv4/conf/lan0/forwarding; }
# Conntrack entries of flows translated to the device (their reply comes from it).
dev_flows() { nsx srv conntrack -L -p "$1" --reply-src "$DEV" 2>/dev/null; }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 nft:nftables conntrack:conntrack dig:dnsutils socat:socat curl:curl \
    ping:iputils-ping python3:python3 iperf3:iperf3 awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- underlay and LAN

log "namespaces: sw (br0), root, srv, cli, dev (the LAN device behind srv)"
ns_add sw root srv cli dev || die "namespaces"
bridge sw br0 || die "bridge br0"
for n in root srv cli; do
    bridge_port sw br0 "p-$n" "$n" eth0 "${UNDERLAY[$n]}/24" || die "veth $n"
done
veth srv lan0 dev eth0 "$SRV_LAN/24" "$DEV/24" || die "veth srv<->dev"
wait_until 10 0.2 nsx srv ping -c 1 -W 1 "$DEV" >/dev/null || die "srv cannot reach dev on the LAN"
wait_until 10 0.2 nsx cli ping -c 1 -W 1 10.234.0.1 >/dev/null || die "underlay: cli cannot reach root"
check "0a the device has no route beyond its LAN" \
    sh -c "[ \"\$(ip -n $P-dev -4 route show | grep -vc '^192.168.60.0/24')\" = 0 ]"
check "0b srv forwards on no interface before mccd" \
    sh -c "[ \"\$(ip netns exec $P-srv sysctl -n net.ipv4.ip_forward net.ipv4.conf.lan0.forwarding | sort -u)\" = 0 ]"

# ---------------------------------------------------------------- services

MARKER="DEVICE-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
SELF="SRV-ITSELF-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$W/dev-www" "$W/dev-www2" "$W/srv-www"
printf '%s\n' "$MARKER" >"$W/dev-www/m.txt"
printf 'NOT-IN-TUNNEL\n' >"$W/dev-www2/m.txt"
printf '%s\n' "$SELF" >"$W/srv-www/m.txt"
spawn dev "$W/dev-http.log" python3 -u -m http.server 8080 --bind 0.0.0.0 --directory "$W/dev-www"
spawn dev "$W/dev-http8081.log" python3 -u -m http.server 8081 --bind 0.0.0.0 --directory "$W/dev-www2"
spawn dev "$W/dev-udp.log" python3 -u -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    d, a = s.recvfrom(2048)
    print("peer %s:%d" % a, flush=True)
    s.sendto(d, a)'
spawn dev "$W/dev-iperf3.log" iperf3 -s -p 5201
spawn srv "$W/srv-http.log" python3 -u -m http.server 8080 --bind 0.0.0.0 --directory "$W/srv-www"
spawn srv "$W/srv-iperf3.log" iperf3 -s -p 5202
wait_until 10 0.2 sh -c "[ \"\$(ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://$DEV:8080/m.txt)\" = '$MARKER' ]" ||
    die "the device's HTTP server does not answer on the LAN"
wait_until 10 0.2 sh -c "echo x | ip netns exec $P-srv socat -t 1 - UDP:$DEV:5353 | grep -q x" ||
    die "the device's UDP echo does not answer on the LAN"
wait_until 10 0.2 sh -c "ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://$DEV:8081/m.txt | grep -q NOT-IN-TUNNEL" ||
    die "the device's HTTP server on 8081 does not answer on the LAN"
: >"$W/dev-http.log"
: >"$W/dev-udp.log"

# ---------------------------------------------------------------- nodes

log "provisioning and starting root, srv, cli"
pki "$W" || die "CA and network certificate"
for n in "${NODES[@]}"; do
    extra=()
    [ "$n" = srv ] && extra=(nat-table-expiry 3s)
    mcc_node "$n" "$W/$n" "${PARENTS[$n]}" log-level debug keep-alive-period 2s "${extra[@]}" ||
        die "mcc init $n"
    ID[$n]=$NODE_ID
done
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n"; done
wait_until 30 0.3 all_healthy || die "not every node became healthy within 30 s"
check "0c no mcc table while there is no external tunnel" [ "$(mcc_tables)" = 0 ]

# ---------------------------------------------------------------- 1 refusals

out=$(nsx srv "$MCC" -s "$W/srv/mcc.sock" create-tunnel -C "$W/srv" -p "$W/srv/network-certificate.txt" --stdin \
    --targets tcp:80 --remote-node "${ID[cli]}" --external-ip-address 8.8.8.8 <"$NETKEY" 2>&1)
check "1a --external-ip-address 8.8.8.8 is refused, naming the flag ($out)" \
    grep -q -- '--external-ip-address 8.8.8.8: only RFC 1918' <<<"$out"
out=$(nsx srv "$MCC" -s "$W/srv/mcc.sock" create-tunnel -C "$W/srv" -p "$W/srv/network-certificate.txt" --stdin \
    --targets tcp:80 --remote-node "${ID[cli]}" --external-ip-address 10.83.7.7 <"$NETKEY" 2>&1)
check "1b a device inside the overlay range is not activated, naming the tunnel file" \
    grep -Eq 'not activated: tunnel .*/tunnels/[0-9a-z]{52}\.conf: external tunnel not activated: .*10\.83\.0\.0/16' <<<"$out"
echo "    $out"
# That tunnel's files go, so later reloads have nothing to refuse.
bad=$(grep -l 'external-ip-address = 10.83.7.7' "$W"/srv/tunnels/*.conf)
for f in $bad; do rm -f "${f%.conf}"*; done
check "1c no table was left by the refusals" [ "$(mcc_tables)" = 0 ]

# ---------------------------------------------------------------- 2 tunnels

log "creating the external tunnel (device $DEV) and a regular one, mccd running"
mcc_tunnel srv "$W/srv" "${ID[cli]}" tcp:8080,udp:5353,tcp:5201,icmp --external-ip-address "$DEV" --dns-names cam ||
    die "create-tunnel --external-ip-address"
EXT=$SEP
mcc_tunnel srv "$W/srv" "${ID[cli]}" tcp:8080,tcp:5202,icmp --dns-names self || die "create-tunnel (regular)"
REG=$SEP
log "external endpoint $EXT, regular endpoint $REG"
check "2a the tunnel file names the device" grep -qx "external-ip-address = $DEV" "$W/srv/tunnels/$EXT.conf"
check "2b active without a restart: one mcc table on srv" [ "$(mcc_tables)" = 1 ]
check "2c srv forwards on lan0 now" [ "$(lan_forwarding)" = 1 ]
check "2d srv's host-wide ip_forward stays off" [ "$(nsx srv sysctl -n net.ipv4.ip_forward)" = 0 ]

mcc_resolve_wait 40 cli "$W/cli" "$EXT" || die "cli does not resolve the external endpoint"
EADDR=$ADDR
mcc_resolve_wait 30 cli "$W/cli" "$REG" || die "cli does not resolve the regular endpoint"
RADDR=$ADDR
log "cli: external endpoint at $EADDR, regular at $RADDR"
ext_http() { [ "$(curl_in cli "http://$EADDR:8080/m.txt")" = "$MARKER" ]; }
wait_until 30 0.5 ext_http || log "warning: no answer through the external tunnel after 30 s"

# ---------------------------------------------------------------- 3 traffic

check "3a tcp:8080 by endpoint ID (mcc resolve) reaches the device, not srv" ext_http
NADDR=$(digq cli cam.home.arpa A | head -n 1)
check "3b dig cam.home.arpa on cli is the endpoint's address ($NADDR)" [ "$NADDR" = "$EADDR" ]
check "3c dig $EXT.home.arpa on cli too" [ "$(digq cli "$EXT.home.arpa" A | head -n 1)" = "$EADDR" ]
got=$(nsx cli curl -s --noproxy '*' --max-time 5 --resolve "cam.home.arpa:8080:$NADDR" http://cam.home.arpa:8080/m.txt)
check "3d tcp:8080 by DNS name reaches the device" [ "$got" = "$MARKER" ]
UDPM="udp-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
check "3e udp:5353 echo from the device through the tunnel" [ "$(udp_echo cli "$EADDR" "$UDPM")" = "$UDPM" ]
check "3f ping (icmp target) reaches the device" nsx cli ping -c 2 -W 2 "$EADDR"
check_not "3g default deny: tcp:8081 (the device listens, not a target) gets nothing" \
    curl_in cli "http://$EADDR:8081/m.txt"
check "3h the device saw srv's LAN address over HTTP" grep -q "^$SRV_LAN - - .*GET /m.txt" "$W/dev-http.log"
check "3i the device saw srv's LAN address over UDP" grep -q "^peer $SRV_LAN:" "$W/dev-udp.log"
others=$(grep -v "^$SRV_LAN " "$W/dev-http.log" | grep -c GET)
check "3j the device saw no other source ($others)" [ "$others" = 0 ]
check "3k the regular tunnel still ends at srv itself" [ "$(curl_in cli "http://$RADDR:8080/m.txt")" = "$SELF" ]
self_gets=$(grep -c 'GET /m.txt' "$W/srv-http.log")
check "3l srv's own server got the regular tunnel's one request, none of the external's ($self_gets)" [ "$self_gets" = 1 ]

# The device's LAN forwards on srv only for the tunnel: a LAN host that routes through srv
# to another network (here root's underlay address) gets nothing through. Root logs what
# arrives; the control removes the guard to show the datagram would have arrived.
spawn root "$W/root-udp.log" python3 -u -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7777))
while True:
    d, a = s.recvfrom(2048)
    print("from %s %s" % (a[0], d.decode()), flush=True)'
nsx dev ip route add "${UNDERLAY[root]}/32" via "$SRV_LAN"
via_srv() { nsx dev python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), (sys.argv[1], 7777))' "${UNDERLAY[root]}" "$1"; }
sleep 0.5
via_srv guarded; sleep 1
check_not "3m a LAN host routing through srv to another network gets nothing through" grep -q guarded "$W/root-udp.log"
guard=$(nsx srv nft -a list chain inet MCC forward | grep 'iifname .*lan0.* drop' | sed -n 's/.*# handle //p' | head -n 1)
check "3n srv's table has the LAN guard" [ -n "$guard" ]
[ -n "$guard" ] && nsx srv nft delete rule inet MCC forward handle "$guard"
via_srv unguarded
check "3o (control) without the guard the datagram arrives" wait_until 5 0.2 grep -q unguarded "$W/root-udp.log"
nsx dev ip route del "${UNDERLAY[root]}/32" via "$SRV_LAN"

# ---------------------------------------------------------------- 4 NAT expiry

log "nat-table-expiry = 3s: a UDP flow's entry, then idle"
udp_echo cli "$EADDR" one >/dev/null
entry=$(dev_flows udp)
echo "$entry" | sed 's/^/    /'
check "4a conntrack holds the translated UDP flow" grep -q "dport=5353 src=$DEV dst=$SRV_LAN" <<<"$entry"
left=$(awk '{print $3}' <<<"$entry" | sort -n | tail -n 1)
check "4b its timeout is the expiry policy's (at most 3 s left: $left)" [ "${left:-99}" -le 3 ]
no_udp() { [ -z "$(dev_flows udp)" ]; }
t0=$(now)
check "4c the UDP entry is gone after 3 s idle" wait_until 10 0.5 no_udp
log "UDP entry gone $(since "$t0") s after the exchange"
no_tcp() { [ -z "$(dev_flows tcp)" ]; }
check "4d the TCP entries are gone too" wait_until 10 0.5 no_tcp
check "4e a new UDP flow works after the expiry" [ "$(udp_echo cli "$EADDR" two)" = two ]
check "4f a new TCP flow works after the expiry" ext_http

# ---------------------------------------------------------------- 5 deprecated command

out=$(nsx srv "$MCC" -s "$W/srv/mcc.sock" generate-dependent-node-certificate -C "$W/srv" \
    -p "$W/srv/network-certificate.txt" --stdin --targets tcp:8080 --remote-node "${ID[cli]}" \
    --dns-names cam2 "$DEV" <"$NETKEY" 2>"$W/dependent.err")
DEP=$(printf '%s\n' "$out" | tail -n 1 | tr -d '[:space:]')
check "5a generate-dependent-node-certificate prints its deprecation" grep -q "deprecated in MCC v2.*create-tunnel --external-ip-address $DEV" "$W/dependent.err"
check "5b and writes an external tunnel" grep -qx "external-ip-address = $DEV" "$W/srv/tunnels/$DEP.conf"
if mcc_resolve_wait 30 cli "$W/cli" "$DEP"; then
    dep_http() { [ "$(curl_in cli "http://$ADDR:8080/m.txt")" = "$MARKER" ]; }
    check "5c which reaches the device" wait_until 20 0.5 dep_http
else
    fail "5c which reaches the device" "cli does not resolve $DEP"
fi

# ---------------------------------------------------------------- 6 measurements

measure_tcp() { # measure_tcp ADDR PORT: Mbit/s of a 5 s iperf3 upload from cli
    nsx cli timeout 20 iperf3 -c "$1" -p "$2" -t 5 -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))' 2>/dev/null
}
# measure_rtt ADDR: min/avg/max ms of 20 pings from cli.
measure_rtt() { nsx cli ping -q -c 20 -i 0.2 -W 2 "$1" 2>/dev/null | awk -F' = ' '/^rtt/ {sub(/\/[0-9.]+ ms$/, "", $2); print $2}'; }
EXT_MBPS=$(measure_tcp "$EADDR" 5201)
REG_MBPS=$(measure_tcp "$RADDR" 5202)
EXT_RTT=$(measure_rtt "$EADDR")
REG_RTT=$(measure_rtt "$RADDR")
echo "MEASURE external tunnel (cli -> root -> srv -> LAN device): ${EXT_MBPS:-?} Mbit/s, RTT min/avg/max ${EXT_RTT:-?} ms"
echo "MEASURE regular tunnel  (cli -> root -> srv itself):        ${REG_MBPS:-?} Mbit/s, RTT min/avg/max ${REG_RTT:-?} ms"
check "6 iperf3 ran through both tunnels" sh -c "[ -n '$EXT_MBPS' ] && [ -n '$REG_MBPS' ]"

# ---------------------------------------------------------------- 7 kill -9, restart

log "kill -9 of srv's mccd, then a restart"
kill -KILL "${MCCD_PID[$W/srv]}"
wait "${MCCD_PID[$W/srv]}" 2>/dev/null
unset "BG[${MCCD_PID[$W/srv]}]" "MCCD_PID[$W/srv]"
check "7a after kill -9 the table is still there (nothing ran to remove it)" [ "$(mcc_tables)" = 1 ]
check "7b and srv's data-dir remembers lan0's forwarding" grep -q '"lan0": "0"' "$W/srv/data/forwarding.json"
mccd_start srv "$W/srv"
wait_until 20 0.3 healthy srv || fail "7 srv healthy after restart"
check "7c after the restart: exactly one mcc table" [ "$(mcc_tables)" = 1 ]
rules=$(nsx srv nft list table inet MCC | grep -c "dnat ip to $DEV")
check "7d with the DNAT rules once each (2 external tunnels: $rules)" [ "$rules" = 2 ]
check "7e the external tunnel works after the restart" wait_until 25 0.5 ext_http

# ---------------------------------------------------------------- 8 clean stop

log "SIGTERM to every mccd"
mccd_stop "$W/srv"
rc=$?
check "8a srv exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
check "8b no mcc table after a clean stop" [ "$(mcc_tables)" = 0 ]
check "8c lan0's forwarding is back to 0" [ "$(lan_forwarding)" = 0 ]
check "8d the forwarding state file is gone" [ ! -e "$W/srv/data/forwarding.json" ]
leftover=$(nsx srv nft list ruleset | grep -c .)
check "8e srv's ruleset is empty ($leftover lines)" [ "$leftover" = 0 ]
for n in root cli; do mccd_stop "$W/$n"; done

exit 0     # the EXIT trap cleans up, lists failures and prints "N passed, M failed" last
