#!/usr/bin/env bash
# End-to-end test of internet tunnels: a client whose traffic goes through an exit node
# (gateway, exit-node, exit-node-clients), the kill switch, the gateway hooks, and
# reroute-dns (docs: "Internet tunnels", "How to configure IP forwarding for Android
# clients?").
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/internet.sh
#
# Underlay (prefix mccinet): bridge br0 in sw, 10.238.0.0/24: exit .2, cli .3, cli2 .4,
# strg .5, and the router rtr .254, their default route. Behind rtr: root (10.239.0.1, its
# own link) and the namespace inet, "the internet": a web server on 198.18.0.10 (benchmark
# range), with routes back and no NAT on the way, so its log shows who really asked. The
# client's own default route reaches both: a leak would work, and would show. The parent
# is reached through the default route too, and cli filters reverse paths strictly
# (rp_filter = 1): the answers to mccd's own datagrams must still come in.
#
# Overlay: root; exit, cli, cli2, strg -> root. exit has exit-node = true and
# exit-node-clients = cli, strg. cli: gateway = exit, kill-switch = true, hooks, and
# reroute-dns = root:5353 (a tunnel from root allows udp:5353; root runs a tiny DNS
# responder there). cli2 (same network, not listed) and strg (another network, trusted by
# root, listed) set gateway = exit too, and must not get out.
#
# Measured (MEASURE lines, not asserted): throughput and RTT from cli to the internet host
# through the exit node, and through a regular tunnel from cli to the exit node itself.
#
# Traffic goes only to addresses inside the namespaces created here. Everything is torn
# down on exit (tests/e2e/lib.sh); the work directory /tmp/mccinet stays for post-mortem.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccinet /tmp/mccinet
CHECKS=1
NODES=(root exit cli cli2 strg)
PORT=9376
WEB=198.18.0.10
HIDDEN=203.0.113.5 # an address of exit's host that only exit has
declare -A UNDERLAY=([root]=10.239.0.1 [exit]=10.238.0.2 [cli]=10.238.0.3 [cli2]=10.238.0.4 [strg]=10.238.0.5)
ROOT=${UNDERLAY[root]}
declare -A ID=()
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/web.log $W/dns.log $W/*.hook.log"

mccn() { mcc_in "$1" "$W/$1" "${@:2}"; }
curl_in() { nsx "$1" curl -s --noproxy '*' --max-time "${3:-5}" "$2"; }
web_ok() { [ "$(curl_in "$1" "http://$WEB/m.txt" "${2:-5}")" = "$MARKER" ]; }
healthy() { mccd_healthy "$1" "$W/$1"; }
all_healthy() {
    local n
    for n in "${NODES[@]}"; do healthy "$n" || return 1; done
}
# web_hits SRC: requests the web server logged from underlay address SRC.
web_hits() { grep -c "^$1 - - .*GET /m.txt" "$W/web.log"; }
# capture NODE NAME: tcpdump of NODE's underlay interface to $W/NAME.pcap, in the background.
capture() {
    spawn "$1" "$W/$2.tcpdump.log" tcpdump -i eth0 -n -U -w "$W/$2.pcap"
    CAPTURE=$SPAWNED
    sleep 1
}
# capture_end: stops the capture and waits for tcpdump to write it out.
capture_end() { kill_pids "$CAPTURE"; }
# in_clear NAME: packets of capture NAME to or from the internet host.
in_clear() { tcpdump -r "$W/$1.pcap" -n "host $WEB" 2>/dev/null | wc -l; }
# not_mcc NAME: packets of capture NAME that are neither mcc's own UDP nor link-local.
# Link-local chatter (ARP, IGMP reports, IPv6 neighbour discovery) is no leak.
NOT_MCC="(ip and not udp port $PORT and not igmp and not dst net 224.0.0.0/24) or (ip6 and not src net fe80::/10 and not dst net ff00::/8)"
not_mcc() { tcpdump -r "$W/$1.pcap" -n "$NOT_MCC" 2>/dev/null | wc -l; }
# our_rules NODE: mcc's routing rules of both families; table NODE: its table 9376.
our_rules() { { nsx "$1" ip -4 rule show; nsx "$1" ip -6 rule show; } | grep -cE '^93(65|66|70|71):'; }
table() { nsx "$1" ip -4 route show table 9376 2>/dev/null; nsx "$1" ip -6 route show table 9376 2>/dev/null; }
blackholes() { table "$1" | grep -c '^blackhole default'; }
hook_rules() { nsx "$1" ip rule show | grep -c 'sport 1234 lookup main'; }
mcc_tables() { nsx "$1" nft list tables 2>/dev/null | grep -c '^table inet MCC$'; }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 nft:nftables dig:dnsutils curl:curl ping:iputils-ping python3:python3 \
    iperf3:iperf3 tcpdump:tcpdump awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- underlay and internet

log "namespaces: sw (br0), root, exit, cli, cli2, strg, rtr, inet"
ns_add sw root exit cli cli2 strg rtr inet || die "namespaces"
bridge sw br0 || die "bridge br0"
for n in exit cli cli2 strg; do
    bridge_port sw br0 "p-$n" "$n" eth0 "${UNDERLAY[$n]}/24" || die "veth $n"
    ip -n "$P-$n" route add default via 10.238.0.254 || die "default route $n"
done
bridge_port sw br0 p-rtr rtr eth0 10.238.0.254/24 || die "veth rtr"
veth rtr root0 root eth0 10.239.0.254/24 "$ROOT/24" || die "veth rtr<->root"
ip -n "$P-root" route add default via 10.239.0.254 || die "default route root"
veth rtr inet0 inet eth0 198.18.0.1/24 "$WEB/24" || die "veth rtr<->inet"
ns_forward rtr || die "rtr forwarding"
for net in 10.238.0.0/24 10.239.0.0/24; do
    ip -n "$P-inet" route add "$net" via 198.18.0.1 || die "inet route back to $net"
done
wait_until 10 0.3 nsx cli ping -c 1 -W 1 "$ROOT" >/dev/null || die "cli cannot reach root through rtr"
# An address of exit's host that only it has: a client must not reach it through exit.
ip -n "$P-exit" addr add "$HIDDEN/32" dev lo || die "exit's hidden address"
# Strict reverse-path filtering on the client: its underlay answers must still come in.
nsx cli sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.eth0.rp_filter=1 || die "rp_filter"

MARKER="INTERNET-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$W/www" "$W/hidden"
printf '%s\n' "$MARKER" >"$W/www/m.txt"
printf 'HIDDEN\n' >"$W/hidden/m.txt"
spawn inet "$W/web.log" python3 -u -m http.server 80 --bind "$WEB" --directory "$W/www"
spawn inet "$W/iperf3.log" iperf3 -s -p 5201
spawn exit "$W/hidden.log" python3 -u -m http.server 8080 --bind "$HIDDEN" --directory "$W/hidden"
spawn exit "$W/exit-iperf3.log" iperf3 -s -p 5202
wait_until 10 0.3 web_ok cli 2 || die "the web server does not answer"
check "0a before mcc, cli reaches the internet host in clear (a leak would show)" [ "$(web_hits "${UNDERLAY[cli]}")" -ge 1 ]
wait_until 10 0.3 sh -c "ip netns exec $P-exit curl -s --max-time 2 http://$HIDDEN:8080/m.txt | grep -q HIDDEN" ||
    die "exit's hidden server does not answer"
: >"$W/web.log"

# ---------------------------------------------------------------- DNS responder on root

# Answers every A question with 192.0.2.53 and logs who asked.
fake_dns root "$W/dns.log"

# ---------------------------------------------------------------- nodes

log "provisioning: one network for root, exit, cli, cli2; another for strg"
pki "$W" || die "CA and network certificate"
NET1B64=$NETB64 NET1KEY=$NETKEY
for n in root exit cli cli2; do
    parents="$ROOT:$PORT"
    [ "$n" = root ] && parents=""
    mcc_node "$n" "$W/$n" "$parents" log-level debug keep-alive-period 2s || die "mcc init $n"
    ID[$n]=$NODE_ID
done
pki "$W/net2" "ca2" "net2" || die "second network"
mcc_node strg "$W/strg" "$ROOT:$PORT" log-level debug keep-alive-period 2s || die "mcc init strg"
ID[strg]=$NODE_ID
NETB64=$NET1B64 NETKEY=$NET1KEY
# root admits strg (another network, one node trusted); strg trusts root and exit.
mcc_set "$W/root/mcc.conf" trusted-nodes "${ID[strg]}" \
    network-certificates "network-certificate.txt, $W/strg/network-certificate.txt" || die "root trust"
mcc_set "$W/strg/mcc.conf" trusted-nodes "${ID[root]}, ${ID[exit]}" \
    network-certificates "network-certificate.txt, $W/root/network-certificate.txt" gateway "${ID[exit]}" ||
    die "strg trust"
# exit serves cli and (it says) strg; never another network, whatever the list says.
mcc_set "$W/exit/mcc.conf" exit-node true exit-node-clients "${ID[cli]}, ${ID[strg]}" || die "exit config"
mcc_set "$W/cli/mcc.conf" gateway "${ID[exit]}" kill-switch true reroute-dns "${ID[root]}:5353" \
    gateway-post-add-hook "ip rule add sport 1234 lookup main; echo added >>$W/cli.hook.log" \
    gateway-post-delete-hook "ip rule del sport 1234 lookup main || true; echo deleted >>$W/cli.hook.log" ||
    die "cli config"
mcc_set "$W/cli2/mcc.conf" gateway "${ID[exit]}" || die "cli2 config"
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n"; done
wait_until 40 0.3 all_healthy || die "not every node became healthy within 40 s"
log "all nodes healthy; exit ${ID[exit]}"

# ---------------------------------------------------------------- 1 through the exit node

check "1a cli has the gateway's rules (9365 own, 9366 reroutes udp and tcp, 9370, 9371) in both families" \
    [ "$(our_rules cli)" = 10 ]
check "1b table 9376 on cli: into mcc0, and the blackhole, in both families" \
    sh -c "[ \"\$(ip -n $P-cli -4 route show table 9376 | grep -c '^default dev mcc0')\" = 1 ] && [ \"\$(ip -n $P-cli -6 route show table 9376 | grep -c '^default dev mcc0')\" = 1 ]"
check "1b' with the blackhole in both" [ "$(blackholes cli)" = 2 ]
check "1c the add hook ran once" [ "$(hook_rules cli)" = 1 ]
check "1d exit has its table (masquerade of the overlay)" \
    sh -c "ip netns exec $P-exit nft list table inet MCC | grep -q 'ip saddr 10.83.0.0/16 masquerade'"
check "1e exit forwards on mcc0 and eth0, not host-wide" \
    sh -c "[ \"\$(ip netns exec $P-exit sysctl -n net.ipv4.conf.mcc0.forwarding net.ipv4.conf.eth0.forwarding)\" = \"\$(printf '1\n1')\" ] && [ \"\$(ip netns exec $P-exit sysctl -n net.ipv4.ip_forward)\" = 0 ]"
capture cli through
wait_until 30 1 web_ok cli
check "1f cli's curl to the internet host works through the gateway" web_ok cli
check "1g the web server saw exit's address" [ "$(web_hits "${UNDERLAY[exit]}")" -ge 1 ]
check "1h and never cli's" [ "$(web_hits "${UNDERLAY[cli]}")" = 0 ]
PINGS=$(nsx cli ping -c 3 -W 2 "$WEB" | grep -c 'bytes from')
check "1i ping through the gateway ($PINGS/3)" [ "$PINGS" -ge 2 ]
check_not "1j cli cannot reach exit's own host address $HIDDEN through it" \
    curl_in cli "http://$HIDDEN:8080/m.txt" 3
capture_end
check "1l tcpdump on cli's eth0: nothing to or from $WEB in clear ($(in_clear through))" [ "$(in_clear through)" = 0 ]
others=$(not_mcc through)
check "1m and nothing but mcc's UDP and link-local chatter at all ($others)" [ "$others" = 0 ]
[ "$others" = 0 ] || tcpdump -r "$W/through.pcap" -n -v "$NOT_MCC" 2>/dev/null | head -n 10 | sed 's/^/    /'

# ---------------------------------------------------------------- 2 reroute-dns

log "reroute-dns: a tunnel from root to cli allowing udp:5353"
mcc_tunnel root "$W/root" "${ID[cli]}" udp:5353 || die "create-tunnel udp:5353 on root"
dig_any() { nsx cli timeout 6 dig "@$1" +short +time=2 +tries=1 example.test A 2>/dev/null | head -n 1; }
dig_ok() { [ "$(dig_any "$1")" = 192.0.2.53 ]; }
wait_until 40 1 dig_ok 198.51.100.7 || log "warning: no DNS answer after 40 s"
check "2a dig @198.51.100.7 on cli is answered by root's service" dig_ok 198.51.100.7
check "2b dig @8.8.8.8 too" dig_ok 8.8.8.8
check "2c and dig @10.238.0.254 (an address of a local network)" dig_ok 10.238.0.254
check "2d the service saw the client endpoint's overlay address, not an underlay one" \
    sh -c "grep -q '^query from 10\.83\.' '$W/dns.log' && ! grep -q '^query from 10\.238\.' '$W/dns.log'"

# ---------------------------------------------------------------- 3 who may use the exit node

check "3a cli2 routes its traffic into mcc0 too" [ "$(our_rules cli2)" = 6 ]
check_not "3b cli2 (same network, not in exit-node-clients) does not get out" web_ok cli2 10
check "3c exit refused it: not listed" grep -q "refused gateway client ${ID[cli2]}: exit-node-clients does not list" "$W/exit/mccd.log"
check_not "3d strg (another network, listed) does not get out" web_ok strg 10
check "3e exit refused it: another network" grep -q "refused gateway client ${ID[strg]}: the client belongs to another network" "$W/exit/mccd.log"
check "3f the web server saw neither of them" \
    sh -c "[ \"\$(grep -cE '^10\.238\.0\.(4|5) ' '$W/web.log')\" = 0 ]"

# ---------------------------------------------------------------- 4 kill switch

log "kill switch: mccd on cli stopped"
mccd_stop "$W/cli" || fail "4 cli's mccd stopped cleanly"
capture cli stopped
check "4a the rules stay while mccd is down" [ "$(our_rules cli)" = 10 ]
check "4b the blackholes stay" [ "$(blackholes cli)" = 2 ]
check "4b' mcc0 is gone, and its routes with it" \
    sh -c "! ip -n $P-cli link show mcc0 >/dev/null 2>&1 && ! ip -n $P-cli route show table 9376 | grep -q mcc0"
before=$(web_hits "${UNDERLAY[cli]}")
check_not "4c the same curl fails" web_ok cli 5
check_not "4d ping fails" nsx cli ping -c 2 -W 1 "$WEB"
check "4e the delete hook did not run" [ "$(grep -c deleted "$W/cli.hook.log")" = 0 ]
mccd_start cli "$W/cli"
wait_until 20 0.3 healthy cli || fail "4f cli healthy after the restart"
check "4f after a restart, the curl works again" wait_until 30 1 web_ok cli
check "4g the hooks alternate: one bypass rule after the restart" [ "$(hook_rules cli)" = 1 ]
log "kill -9 of cli's mccd"
kill -KILL "${MCCD_PID[$W/cli]}"
wait "${MCCD_PID[$W/cli]}" 2>/dev/null
unset "BG[${MCCD_PID[$W/cli]}]" "MCCD_PID[$W/cli]"
check "4h after kill -9 the rules are there" [ "$(our_rules cli)" = 10 ]
check "4h' and the blackholes" [ "$(blackholes cli)" = 2 ]
check_not "4i the same curl fails" web_ok cli 5
capture_end
check "4j while mccd was down, nothing left cli's eth0 to or from $WEB ($(in_clear stopped))" [ "$(in_clear stopped)" = 0 ]
check "4k the web server saw no request from cli" [ "$(web_hits "${UNDERLAY[cli]}")" = "$before" ]
mccd_start cli "$W/cli"
wait_until 20 0.3 healthy cli || fail "4l cli healthy after kill -9"
check "4l after kill -9 and a restart, the curl works again" wait_until 30 1 web_ok cli
check "4m one bypass rule still" [ "$(hook_rules cli)" = 1 ]

# ---------------------------------------------------------------- 5 measurements

log "a regular tunnel from exit to cli (tcp:5202, icmp), for comparison"
mcc_tunnel exit "$W/exit" "${ID[cli]}" tcp:5202,icmp || die "create-tunnel on exit"
mcc_resolve_wait 40 cli "$W/cli" "$SEP" || die "cli does not resolve exit's endpoint"
RADDR=$ADDR
wait_until 30 1 nsx cli ping -c 1 -W 1 "$RADDR" >/dev/null || log "warning: no ping through the regular tunnel"
measure_tcp() { # measure_tcp ADDR PORT: Mbit/s of a 5 s iperf3 upload from cli
    nsx cli timeout 20 iperf3 -c "$1" -p "$2" -t 5 -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))' 2>/dev/null
}
measure_rtt() { nsx cli ping -q -c 20 -i 0.2 -W 2 "$1" 2>/dev/null | awk -F' = ' '/^rtt/ {sub(/\/[0-9.]+ ms$/, "", $2); print $2}'; }
GW_MBPS=$(measure_tcp "$WEB" 5201)
REG_MBPS=$(measure_tcp "$RADDR" 5202)
GW_RTT=$(measure_rtt "$WEB")
REG_RTT=$(measure_rtt "$RADDR")
echo "MEASURE through the exit node (cli -> root -> exit -> internet host): ${GW_MBPS:-?} Mbit/s, RTT min/avg/max ${GW_RTT:-?} ms"
echo "MEASURE regular tunnel        (cli -> root -> exit itself):          ${REG_MBPS:-?} Mbit/s, RTT min/avg/max ${REG_RTT:-?} ms"
check "5 iperf3 ran through the gateway and the tunnel" sh -c "[ -n '$GW_MBPS' ] && [ -n '$REG_MBPS' ]"

# ---------------------------------------------------------------- 6 kill switch off, clean stops

log "kill-switch = false on cli, restart, clean stop"
mccd_stop "$W/cli"
mcc_set "$W/cli/mcc.conf" kill-switch false || die "kill-switch false"
mccd_start cli "$W/cli"
wait_until 20 0.3 healthy cli || fail "6 cli healthy"
check "6a with the kill switch off, the gateway works" wait_until 30 1 web_ok cli
mccd_stop "$W/cli" || fail "6b cli's mccd stopped cleanly"
check "6b a clean stop without kill switch removes every rule" [ "$(our_rules cli)" = 0 ]
check "6c and table 9376" [ -z "$(table cli)" ]
check "6d and the delete hook ran (the bypass rule is gone)" [ "$(hook_rules cli)" = 0 ]
check "6e without mcc, the curl goes out in clear again (the kill switch was what held it)" web_ok cli
check "6f the web server saw cli's own address this time" [ "$(web_hits "${UNDERLAY[cli]}")" -ge 1 ]
mccd_stop "$W/exit" || fail "6g exit's mccd stopped cleanly"
check "6g exit's table is gone after its clean stop" [ "$(mcc_tables exit)" = 0 ]
check "6h and eth0 forwards no more" [ "$(nsx exit sysctl -n net.ipv4.conf.eth0.forwarding)" = 0 ]
