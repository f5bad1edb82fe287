#!/usr/bin/env bash
# End-to-end test of the Linux node: real mccd daemons in network namespaces, real TUN
# devices, real NAT (iptables MASQUERADE), real programs (curl, socat, ping, dig, tcpdump).
#
#   sudo bash tests/e2e/linux.sh          (from anywhere; needs root, netns, /dev/net/tun)
#
# Underlay: namespace mcce2e-sw holds bridge br0; root .1, a .2, b .3, srv .4, nat .5 on
# 10.231.0.0/24. cli sits behind nat (192.168.77.2/24, masqueraded by nat).
# Overlay tree (parents on UDP 9376): root; a -> root; b -> root; srv -> a; cli -> [b, a].
# A tunnel from cli (client) to srv (server) allows tcp:8080, udp:5353 and icmp, so
# cli -> srv traffic crosses b, root and a (3 relays). Its certificate signs the server
# endpoint's static address 10.115.7.9; srv's own static-addr is 10.115.4.4 (checks 13).
#
# Traffic goes only to loopback and to addresses inside the namespaces created here.
# Everything is torn down on exit (daemons, servers, captures, namespaces, bridge); the
# work directory /tmp/mcce2e stays for post-mortem and is wiped at the next start.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".
# The harness (namespaces, checks, provisioning, cleanup) is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mcce2e /tmp/mcce2e
CHECKS=1
NODES=(root a b srv cli)       # nodes running mccd
PORT=9376
declare -A UNDERLAY=([root]=10.231.0.1 [a]=10.231.0.2 [b]=10.231.0.3 [srv]=10.231.0.4 [nat]=10.231.0.5)
declare -A PARENTS=([root]="" [a]="10.231.0.1:$PORT" [b]="10.231.0.1:$PORT" [srv]="10.231.0.2:$PORT"
    [cli]="10.231.0.3:$PORT,10.231.0.2:$PORT")
declare -A ID=()
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"

# ---------------------------------------------------------------- helpers

mccn() { mcc_in "$1" "$W/$1" "${@:2}"; } # mccn NODE ARGS...: the mcc client against NODE's daemon
digq() { # digq NODE ARGS...: built-in DNS of NODE's daemon
    local n=$1
    shift
    nsx "$n" timeout 8 dig @127.0.0.1 -p 8353 +short +time=2 +tries=1 "$@"
}
curl_in() { # curl_in NODE URL
    nsx "$1" curl -s --noproxy '*' --max-time 5 "$2"
}
healthy() { mccd_healthy "$1" "$W/$1"; }
all_healthy() {
    local n
    for n in "${NODES[@]}"; do healthy "$n" || return 1; done
}
# stop_mccd NODE: mccd_stop, then checks the exit status and that mcc0 is gone (test 11).
stop_mccd() {
    local rc
    mccd_stop "$W/$1"
    rc=$?
    check "11 $1 exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
    check "11 $1's mcc0 is gone after SIGTERM" sh -c "! ip -n $P-$1 link show mcc0 >/dev/null 2>&1"
}

pcap_has_udp_port() { [ "$(timeout 20 tcpdump -nn -r "$1" "udp port $PORT" 2>/dev/null | wc -l)" -gt 0 ]; }
pcap_lacks() { [ "$(grep -a -c -- "$2" "$1")" = 0 ]; }
pcap_holds() { [ "$(grep -a -c -- "$2" "$1")" != 0 ]; }

# The control socket's status request (control.rs, "for operators and tests"): used only
# to wait for the tunnel handshake, never for an assertion.
tunnel_established() { # tunnel_established NODE REMOTE_ENDPOINT
    nsx "$1" timeout 5 python3 - "$W/$1/mcc.sock" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(4)
s.connect(sys.argv[1])
s.sendall(b'{"version":1,"cmd":"status"}\n')
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
r = json.loads(buf)
ok = any(t.get("remote_endpoint") == sys.argv[2] and t.get("established") for t in r.get("result", {}).get("tunnels", []))
sys.exit(0 if ok else 1)
PY
}

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 iptables:iptables tcpdump:tcpdump dig:dnsutils socat:socat curl:curl \
    ping:iputils-ping python3:python3 awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- underlay

log "creating namespaces and the bridge"
ns_add sw root a b srv nat cli || die "namespaces"
bridge sw br0 || die "bridge br0"
for n in root a b srv nat; do
    bridge_port sw br0 "p-$n" "$n" eth0 "${UNDERLAY[$n]}/24" || die "veth $n"
done
veth nat lan0 cli eth0 192.168.77.1/24 192.168.77.2/24 || die "veth cli<->nat"
ns_route cli default 192.168.77.1 || die "default route in cli"
ns_masquerade nat eth0 192.168.77.0/24 || die "MASQUERADE in nat"
wait_until 10 0.2 nsx cli ping -c 1 -W 1 10.231.0.1 >/dev/null || die "underlay: cli cannot reach root through the NAT"
wait_until 10 0.2 nsx srv ping -c 1 -W 1 10.231.0.2 >/dev/null || die "underlay: srv cannot reach a"

# ---------------------------------------------------------------- provisioning

log "provisioning: CA, network, nodes"
pki "$W" || die "CA and network certificate"
for n in "${NODES[@]}"; do
    mcc_node "$n" "$W/$n" "${PARENTS[$n]}" log-level debug keep-alive-period 2s rejoin-period 10s ||
        die "mcc init $n"
    ID[$n]=$NODE_ID
    log "node $n = ${ID[$n]}"
done
SRV_STATIC=10.115.4.4 # srv's static-addr
WEB_STATIC=10.115.7.9 # the tunnel's server endpoint, signed into its certificate
mcc_set "$W/srv/mcc.conf" static-addr "$SRV_STATIC" || die "static-addr on srv"
# Every node has its own state: the filesystem is shared between the namespaces.
shared=$(grep -hE '^[[:space:]]*[a-z.-]+[[:space:]]*=[[:space:]]*/(etc|var)/' "$W"/*/mcc.conf | sort -u)
[ -z "$shared" ] || die "mcc.conf still points at shared system paths: $shared"

log "starting daemons"
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n"; done
if ! wait_until 30 0.3 all_healthy; then
    for n in "${NODES[@]}"; do
        healthy "$n" || echo "unhealthy: $n: $(mccn "$n" health 2>&1)"
    done
    die "not every node became healthy within 30 s"
fi
log "all 5 daemons healthy"

# ---------------------------------------------------------------- servers and tunnel

MARKER="MCC-E2E-PLAINTEXT-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
UDP_MARKER="hello-udp-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$W/www" "$W/www2"
printf '%s\n' "$MARKER" >"$W/www/marker.txt"
printf 'NOT-IN-TUNNEL\n' >"$W/www2/marker.txt"
spawn srv "$W/http8080.log" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$W/www"
spawn srv "$W/http8081.log" python3 -m http.server 8081 --bind 0.0.0.0 --directory "$W/www2"
spawn srv "$W/udpecho.log" socat UDP-LISTEN:5353,fork,reuseaddr EXEC:cat
# The servers answer locally: a failure through the overlay is then the overlay's doing.
wait_until 10 0.2 sh -c "[ \"\$(ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://127.0.0.1:8080/marker.txt)\" = '$MARKER' ]" ||
    die "http server on srv:8080 does not answer locally"
wait_until 10 0.2 sh -c "ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://127.0.0.1:8081/marker.txt | grep -q NOT-IN-TUNNEL" ||
    die "http server on srv:8081 does not answer locally"
wait_until 10 0.2 sh -c "echo ping | ip netns exec $P-srv socat -t 1 - UDP:127.0.0.1:5353 | grep -q ping" ||
    die "udp echo on srv:5353 does not answer locally"

log "creating the tunnel on srv (client: cli)"
mcc_tunnel srv "$W/srv" "${ID[cli]}" tcp:8080,udp:5353,icmp --dns-names web \
    --static-ip-address "$WEB_STATIC" || die "mcc create-tunnel"
log "server endpoint $SEP"

# The tunnel reaches cli through the network: then its DNS name resolves there.
ADDR=""
web_resolves() { ADDR=$(digq cli web.home.arpa A | head -n 1); [[ $ADDR =~ ^[0-9]+(\.[0-9]+){3}$ ]]; }
t0=$(now)
wait_until 30 0.5 web_resolves || die "the tunnel did not reach cli within 30 s (web.home.arpa does not resolve there)"
log "tunnel delivered to cli after $(since "$t0") s; web.home.arpa = $ADDR"
wait_until 30 0.5 tunnel_established cli "$SEP" || log "warning: cli reports no established tunnel after 30 s"
log "tunnel established after $(since "$t0") s"

# ---------------------------------------------------------------- 1-3 data path, captured

log "capturing on br0 (sw) and lan0 (nat); srv's mcc0 as the plaintext control"
spawn sw "$W/tcpdump-br0.log" tcpdump -Z root -i br0 -U -w "$W/br0.pcap"
TCPD=("$SPAWNED")
spawn nat "$W/tcpdump-lan0.log" tcpdump -Z root -i lan0 -U -w "$W/nat-lan0.pcap"
TCPD+=("$SPAWNED")
spawn srv "$W/tcpdump-mcc0.log" tcpdump -Z root -i mcc0 -U -w "$W/srv-mcc0.pcap"
TCPD+=("$SPAWNED")
wait_until 10 0.2 sh -c "grep -q 'listening on br0' $W/tcpdump-br0.log && grep -q 'listening on lan0' $W/tcpdump-lan0.log && grep -q 'listening on mcc0' $W/tcpdump-mcc0.log" ||
    die "tcpdump did not start"

got=$(curl_in cli "http://$ADDR:8080/marker.txt")
check "1 tcp:8080 through 3 relays returns the marker" [ "$got" = "$MARKER" ]
got=$(echo "$UDP_MARKER" | nsx cli timeout 8 socat -t 3 - "UDP:$ADDR:5353")
check "2 udp:5353 echo through the tunnel" [ "$got" = "$UDP_MARKER" ]
check "3 ping (icmp target) through the tunnel" nsx cli ping -c 3 -W 2 "$ADDR"
sleep 1
for p in "${TCPD[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${TCPD[@]}"; do wait "$p" 2>/dev/null; done

# ---------------------------------------------------------------- 4-6 default deny

check_not "4 default deny: tcp:8081 (not a target) gets no answer" curl_in cli "http://$ADDR:8081/marker.txt"
B_SEP=$(mccn b resolve "$SEP" 2>/dev/null)
B_SRV=$(mccn b resolve "${ID[srv]}" 2>/dev/null)
if [ -n "$B_SEP" ] && [ -n "$B_SRV" ]; then
    check_not "5a not the tunnel's client: b -> server endpoint ($B_SEP):8080 fails" curl_in b "http://$B_SEP:8080/marker.txt"
    check_not "5b not the tunnel's client: b -> srv node ($B_SRV):8080 fails" curl_in b "http://$B_SRV:8080/marker.txt"
else
    fail "5 not the tunnel's client" "mcc resolve on b failed: '$B_SEP' '$B_SRV'"
fi
ROOT_ADDR=$(mccn cli resolve "${ID[root]}" 2>/dev/null)
if [ -n "$ROOT_ADDR" ]; then
    check_not "6 no tunnel: cli cannot ping root ($ROOT_ADDR)" nsx cli ping -c 2 -W 2 "$ROOT_ADDR"
else
    fail "6 no tunnel" "mcc resolve ${ID[root]} on cli failed"
fi

# ---------------------------------------------------------------- 7 client commands

nodes=$(mccn root nodes)
echo "$nodes" | sed 's/^/    /'
missing=""
for n in "${NODES[@]}"; do grep -q "${ID[$n]}" <<<"$nodes" || missing+=" $n"; done
check "7a mcc nodes on root lists all 5 daemon nodes${missing:+ (missing:$missing)}" [ -z "$missing" ]
check "7b mcc nodes on root: the server endpoint, TYPE server-endpoint" \
    grep -Eq "^[[:space:]]*${SEP}[[:space:]].*server-endpoint[[:space:]]*\$" <<<"$nodes"
# cli saved the delivered tunnel under its client endpoint's ID (driver.rs).
CEP=$(find "$W/cli/tunnels" -name '*.conf' -printf '%f\n' 2>/dev/null | head -n 1)
CEP=${CEP%.conf}
if [[ $CEP =~ ^[0-9a-z]{52}$ ]]; then
    check "7c mcc nodes on root: the client endpoint $CEP, TYPE client-endpoint" \
        grep -Eq "^[[:space:]]*${CEP}[[:space:]].*client-endpoint[[:space:]]*\$" <<<"$nodes"
else
    check "7c mcc nodes on root: a client endpoint, TYPE client-endpoint" grep -Eq "client-endpoint[[:space:]]*\$" <<<"$nodes"
fi
bad=""
for n in "${NODES[@]}"; do [ "$(mccn "$n" id)" = "${ID[$n]}" ] || bad+=" $n"; done
check "7d mcc id prints each node's ID${bad:+ (wrong:$bad)}" [ -z "$bad" ]
parent="$(mccn cli parent) $(mccn cli parent --id)"
check "7e mcc parent on cli is b ($parent)" [ "$parent" = "${UNDERLAY[b]}:$PORT ${ID[b]}" ]
bad=""
for n in "${NODES[@]}"; do mccn "$n" health >/dev/null || bad+=" $n"; done
check "7f mcc health exits 0 on every node${bad:+ (unhealthy:$bad)}" [ -z "$bad" ]
route=$(mccn root route "${ID[srv]}")
echo "$route" | sed 's/^/    route: /'
check "7g mcc route srv on root ends in srv and passes a" \
    sh -c '[ "$(printf "%s\n" "$1" | tail -n 1)" = "$2" ] && printf "%s\n" "$1" | grep -qx "$3"' _ "$route" "${ID[srv]}" "${ID[a]}"
check "7h mcc resolve -t node-id $ADDR on cli is the server endpoint" [ "$(mccn cli resolve -t node-id "$ADDR")" = "$SEP" ]
check "7i dig web.home.arpa on cli" [ "$(digq cli web.home.arpa A)" = "$ADDR" ]
check "7j dig $SEP.home.arpa on cli" [ "$(digq cli "$SEP.home.arpa" A)" = "$ADDR" ]
rev=$(digq cli -x "$ADDR")
check "7k dig -x $ADDR on cli is $SEP.home.arpa ($rev)" [ "${rev%.}" = "$SEP.home.arpa" ]

# ---------------------------------------------------------------- 8 captures

for f in br0 nat-lan0; do
    pcap=$W/$f.pcap
    check "8 capture $f: non-empty with UDP $PORT traffic" pcap_has_udp_port "$pcap"
    check "8 capture $f: HTTP marker absent" pcap_lacks "$pcap" "$MARKER"
    check "8 capture $f: UDP payload absent" pcap_lacks "$pcap" "$UDP_MARKER"
done
check "8 control: the marker is visible in plaintext on srv's mcc0" pcap_holds "$W/srv-mcc0.pcap" "$MARKER"

# ---------------------------------------------------------------- 13 static addresses
# cli is two levels below the root, on the other side of the tree from srv: what it does
# not know (srv's static-addr) it asks b, which passes it to the root, which answers.

check "13a srv's mcc0 holds its static address $SRV_STATIC/32" \
    sh -c "ip -n $P-srv -4 addr show mcc0 | grep -q 'inet $SRV_STATIC/32'"
check "13b ping $WEB_STATIC (the server endpoint's static address) from cli" nsx cli ping -c 3 -W 2 "$WEB_STATIC"
got=$(curl_in cli "http://$WEB_STATIC:8080/marker.txt")
check "13c tcp:8080 to $WEB_STATIC from cli returns the marker" [ "$got" = "$MARKER" ]
check_not "13d default deny at the static address too: tcp:8081 gets no answer" curl_in cli "http://$WEB_STATIC:8081/marker.txt"
got=$(mccn cli resolve -t node-id "$WEB_STATIC" 2>&1)
check "13e mcc resolve -t node-id $WEB_STATIC on cli is the server endpoint ($got)" [ "$got" = "$SEP" ]
# Each of these asks the tree first: the DNS server and mcc hold the question meanwhile.
rev=$(digq cli -x "$SRV_STATIC")
check "13f dig -x $SRV_STATIC on cli is srv's name, through b and root ($rev)" [ "${rev%.}" = "${ID[srv]}.home.arpa" ]
got=$(mccn cli resolve -t node-id "$SRV_STATIC" 2>&1)
check "13g mcc resolve -t node-id $SRV_STATIC on cli is srv ($got)" [ "$got" = "${ID[srv]}" ]
got=$(mccn b resolve -t node-id "$WEB_STATIC" 2>&1)
check "13h mcc resolve -t node-id $WEB_STATIC on b (not the client) is the server endpoint ($got)" [ "$got" = "$SEP" ]
check_not "13i nothing claims 10.115.1.1: mcc resolve fails on cli" mccn cli resolve 10.115.1.1
check_not "13j no tunnel to srv's node address: cli cannot ping $SRV_STATIC" nsx cli ping -c 2 -W 2 "$SRV_STATIC"

# ---------------------------------------------------------------- 9 failover

log "failover: stopping b"
parent_is() { [ "$(mccn cli parent --id 2>/dev/null)" = "$1" ]; }
t0=$(now)
stop_mccd b
if wait_until 30 0.5 parent_is "${ID[a]}"; then
    FAILOVER=$(since "$t0")
    pass "9a cli fails over to a"
else
    FAILOVER="none within 30 s"
    fail "9a cli fails over to a" "parent: $(mccn cli parent 2>&1)"
fi
echo "FAILOVER TIME: $FAILOVER s"
t1=$(now)
tcp_ok() { [ "$(curl_in cli "http://$ADDR:8080/marker.txt")" = "$MARKER" ]; }
if wait_until 15 0.5 tcp_ok; then
    pass "9b tunnel works through a after failover ($(since "$t1") s after the switch)"
else
    fail "9b tunnel works through a after failover"
fi
log "restarting b"
t1=$(now)
mccd_start b "$W/b"
if wait_until 25 0.5 parent_is "${ID[b]}"; then
    pass "9c cli returns to b within rejoin-period + 15 s ($(since "$t1") s)"
else
    fail "9c cli returns to b within rejoin-period + 15 s" "parent: $(mccn cli parent 2>&1)"
fi
t1=$(now)
if wait_until 15 0.5 tcp_ok; then
    pass "9d tunnel works again through b ($(since "$t1") s after the switch back)"
else
    fail "9d tunnel works again through b"
fi

# ---------------------------------------------------------------- 10 restart srv

log "restarting srv"
stop_mccd srv
t1=$(now)
mccd_start srv "$W/srv"
wait_until 20 0.3 healthy srv || fail "10 srv healthy after restart"
check "10a srv keeps its ID across a restart" [ "$(mccn srv id)" = "${ID[srv]}" ]
if wait_until 20 0.5 tcp_ok; then
    pass "10b tunnel works after srv restarts ($(since "$t1") s)"
else
    fail "10b tunnel works after srv restarts"
fi
static_ok() { [ "$(curl_in cli "http://$WEB_STATIC:8080/marker.txt")" = "$MARKER" ]; }
check "10c the static address works after srv restarts" wait_until 20 0.5 static_ok

# ---------------------------------------------------------------- 12 revocation sticks
# srv is revoked at its parent a; a's mccd restarts and must load the revocation from its
# data-dir before any neighbour could re-send it (the log line), and still refuse srv.

srv_under_a() { [ "$(mccn srv parent --id 2>/dev/null)" = "${ID[a]}" ]; }
srv_not_under_a() { ! srv_under_a; }
revoke_srv_at_a() { nsx a timeout 10 "$MCC" -s "$W/a/mcc.sock" revoke -p "$W/a/network-certificate.txt" --stdin "${ID[srv]}" <"$NETKEY" >/dev/null; }
a_loaded_one() { grep 'node started' "$W/a/mccd.log" | tail -n 1 | grep -q 'revocations=1'; }
log "revoking srv at a"
check "12a mcc revoke is accepted" revoke_srv_at_a
check "12b srv loses a as its parent" wait_until 20 0.5 srv_not_under_a
check "12c a saved the revocation" grep -q '"revocations"' "$W/a/data/revocations.json"
mccd_stop "$W/a"
mccd_start a "$W/a"
wait_until 20 0.3 healthy a || fail "12 a healthy after restart"
check "12d a loaded 1 revocation from data-dir at start" a_loaded_one
sleep 8
check "12e the restarted a still refuses srv" srv_not_under_a

# ---------------------------------------------------------------- 11 clean shutdown

for n in root a b srv cli; do
    [ -n "${MCCD_PID[$W/$n]:-}" ] || continue
    stop_mccd "$n"
done

# ---------------------------------------------------------------- summary

log "failover time: $FAILOVER s"
exit 0     # the EXIT trap cleans up, lists failures and prints "N passed, M failed" last
