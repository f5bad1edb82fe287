#!/usr/bin/env bash
# End-to-end test of Android clients using their parent as the gateway (docs: "How to
# configure IP forwarding for Android clients?"), with mcc's exit node instead of the
# how-to's hand-written iptables. The phones are host JVMs playing the VpnService app
# (mcc-android/java-test/McGatewayTest.java): a real TUN device, the Builder's routes
# (addRoute("0.0.0.0", 0) into the TUN device, in a table of its own with Android's rule
# for unprotected sockets) and a Protector that marks the node's UDP socket as
# VpnService.protect has netd do.
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/android-gateway.sh
#
# Underlay (prefix mccagw): bridge br0 in sw, 10.241.0.0/24: exit .2, ph1 .3, ph2 .4,
# ph3 .5, and the router rtr .254, everyone's default route. Behind rtr the namespace inet,
# "the internet": on 198.18.0.10 a web server answering "you are ADDR" and a UDP service
# answering "from ADDR:PORT" (no NAT on the way, so the answers say who really asked).
# The phones' own underlay reaches the internet host: a leak would work, and would show.
#
# Overlay: exit (a Linux mccd, the phones' parent) has exit-node = true and
# exit-node-clients = ph1, ph3, and a DNS responder on udp:5353 that answers 192.0.2.53.
# ph1: gateway = exit, reroute-dns = exit:5353 (a tunnel from exit allows udp:5353).
# ph2 (same network, not listed) and ph3 (another network, trusted by exit, listed) set
# gateway = exit too, and must get nothing.
#
# ph1's harness also checks that Android refuses exit-node, kill-switch and the gateway
# hooks by name, and runs the controls that show the checks bite: without the VPN rule
# the server sees the phone's own address (and this script's second capture sees the
# packets in clear); with the node's socket unprotected nothing works.
#
# MCC_AGW_BREAK=no-vpn-route (the harness leaves out the VPN rule) or list-all (exit also
# lists ph2) breaks the set-up on purpose: some checks must then fail.
#
# Only addresses inside the namespaces created here are used. Everything is torn down on
# exit (tests/e2e/lib.sh); the work directory /tmp/mccagw stays for post-mortem.
# Last line: "N passed, M failed"; exit status 0 only when every check passed.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccagw /tmp/mccagw
CHECKS=1
PORT=9376
WEB=198.18.0.10
UDP_PORT=7000
PHONES=(ph1 ph2 ph3)
declare -A UNDERLAY=([exit]=10.241.0.2 [ph1]=10.241.0.3 [ph2]=10.241.0.4 [ph3]=10.241.0.5)
declare -A MODE=([ph1]=client [ph2]=refused [ph3]=refused)
declare -A ID=() JVM=()
EXIT_UL=${UNDERLAY[exit]}
DUMP_LOGS="$W/*/mccd.log $W/exit/mccd.stderr $W/web.log $W/udp.log $W/dns.log $W/*.jvm.out"

# capture NODE NAME: tcpdump of NODE's underlay to $W/NAME.pcap, in the background.
capture() {
    spawn "$1" "$W/$2.tcpdump.log" tcpdump -i eth0 -n -U -w "$W/$2.pcap"
    CAPTURE=$SPAWNED
    wait_until 10 0.1 grep -q "listening on" "$W/$2.tcpdump.log" || log "warning: tcpdump $2 not listening yet"
}
capture_end() { kill_pids "$CAPTURE"; }
# in_clear NAME: packets of capture NAME to or from the internet host.
in_clear() { tcpdump -r "$W/$1.pcap" -n "host $WEB" 2>/dev/null | wc -l; }
# not_mcc NAME: packets that are neither mcc's UDP nor link-local chatter (ARP, IGMP, ND).
NOT_MCC="(ip and not udp port $PORT and not igmp and not dst net 224.0.0.0/24) or (ip6 and not src net fe80::/10 and not dst net ff00::/8)"
not_mcc() { tcpdump -r "$W/$1.pcap" -n "$NOT_MCC" 2>/dev/null | wc -l; }
# hits ADDR: requests and datagrams the internet host's services logged from ADDR.
hits() { cat "$W/web.log" "$W/udp.log" 2>/dev/null | grep -c "^$1 "; }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 nft:nftables python3:python3 tcpdump:tcpdump curl:curl \
    javac:default-jdk-headless java:default-jdk-headless ||
    { echo "0 passed, 1 failed"; exit 1; }
need_tun
lib_start
mkdir -p "$W/classes"
build_release mcc-android mcc-linux
[ -f "$TARGET/libmcc_android.so" ] || die "missing $TARGET/libmcc_android.so"
log "compiling the Java classes"
javac -Xlint:all -Werror -d "$W/classes" mcc-android/java/io/mcc/*.java \
    mcc-android/java-test/McGatewayTest.java || die "javac"

# ---------------------------------------------------------------- underlay and internet

log "namespaces: sw (br0), exit, ph1, ph2, ph3, rtr, inet"
ns_add sw exit "${PHONES[@]}" rtr inet || die "namespaces"
bridge sw br0 || die "bridge br0"
for n in exit "${PHONES[@]}"; do
    bridge_port sw br0 "p-$n" "$n" eth0 "${UNDERLAY[$n]}/24" || die "veth $n"
    ip -n "$P-$n" route add default via 10.241.0.254 || die "default route $n"
done
bridge_port sw br0 p-rtr rtr eth0 10.241.0.254/24 || die "veth rtr"
veth rtr inet0 inet eth0 198.18.0.1/24 "$WEB/24" || die "veth rtr<->inet"
ns_forward rtr || die "rtr forwarding"
ip -n "$P-inet" route add 10.241.0.0/24 via 198.18.0.1 || die "inet route back"

# "you are ADDR" over HTTP, "from ADDR:PORT" over UDP; each logs "ADDR ..." per request.
spawn inet "$W/web.log" python3 -u -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("you are %s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *a):
        print("%s %s" % (self.client_address[0], fmt % a), flush=True)
http.server.ThreadingHTTPServer((sys.argv[1], 80), H).serve_forever()' "$WEB"
spawn inet "$W/udp.log" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    q, a = s.recvfrom(2048)
    s.sendto(("from %s:%d" % a).encode(), a)
    print("%s udp %d bytes" % (a[0], len(q)), flush=True)' "$WEB" "$UDP_PORT"
web_ok() { [ "$(nsx "$1" curl -s --noproxy '*' --max-time 2 "http://$WEB/x" 2>/dev/null)" = "you are ${UNDERLAY[$1]}" ]; }
wait_until 10 0.3 web_ok ph1 || die "the web server does not answer ph1 in clear"
check "0 before mcc, ph1 reaches the internet host in clear (a leak would show)" web_ok ph1
: >"$W/web.log"

# The exit node's resolver: answers every A question with 192.0.2.53, logs who asked.
fake_dns exit "$W/dns.log"

# ---------------------------------------------------------------- nodes

log "provisioning: exit, ph1, ph2 on one network; ph3 on another"
pki "$W" || die "CA and network certificate"
NET1B64=$NETB64 NET1KEY=$NETKEY
mcc_node exit "$W/exit" "" log-level debug keep-alive-period 2s || die "mcc init exit"
ID[exit]=$NODE_ID
for n in ph1 ph2; do
    mcc_node "$n" "$W/$n" "$EXIT_UL:$PORT" log-level debug keep-alive-period 2s gateway "${ID[exit]}" ||
        die "mcc init $n"
    ID[$n]=$NODE_ID
done
pki "$W/net2" ca2 net2 || die "second network"
mcc_node ph3 "$W/ph3" "$EXIT_UL:$PORT" log-level debug keep-alive-period 2s gateway "${ID[exit]}" \
    trusted-nodes "${ID[exit]}" network-certificates "network-certificate.txt, $W/exit/network-certificate.txt" ||
    die "mcc init ph3"
ID[ph3]=$NODE_ID
NETB64=$NET1B64 NETKEY=$NET1KEY
mcc_set "$W/ph1/mcc.conf" reroute-dns "${ID[exit]}:5353" || die "ph1 config"
# The docs' iptables, as mcc.conf: exit forwards and masquerades for the phones it lists.
CLIENTS="${ID[ph1]}, ${ID[ph3]}"
[ "${MCC_AGW_BREAK:-}" = list-all ] && CLIENTS="$CLIENTS, ${ID[ph2]}"
mcc_set "$W/exit/mcc.conf" exit-node true exit-node-clients "$CLIENTS" \
    trusted-nodes "${ID[ph3]}" network-certificates "network-certificate.txt, $W/ph3/network-certificate.txt" ||
    die "exit config"
mccd_start exit "$W/exit"
EXIT_PID=$SPAWNED
wait_until 20 0.2 mccd_healthy exit "$W/exit" || die "exit mccd not healthy"
log "exit ${ID[exit]}"

# ---------------------------------------------------------------- the phones

for n in "${PHONES[@]}"; do
    log "JVM phone $n (${MODE[$n]}) ${ID[$n]}"
    spawn "$n" "$W/$n.jvm.out" java -Xcheck:jni -Djava.library.path="$TARGET" -cp "$W/classes" \
        McGatewayTest "$W" "$W/$n" "$n" "${MODE[$n]}" "${ID[exit]}" "$WEB" "$UDP_PORT" "$EXIT_UL" "${UNDERLAY[$n]}"
    JVM[$n]=$SPAWNED
done
for n in "${PHONES[@]}"; do
    wait_until 90 0.2 test -e "$W/$n.up" || fail "$n linked to exit within 90 s"
done
if [ -e "$W/ph1.up" ]; then
    mcc_tunnel exit "$W/exit" "${ID[ph1]}" udp:5353 || fail "create-tunnel udp:5353 on exit for ph1"
fi
capture ph1 through
for n in "${PHONES[@]}"; do touch "$W/$n.go"; done
wait_until 150 0.2 test -e "$W/ph1.done" || fail "ph1's gateway checks done within 150 s"
capture_end
check "1a tcpdump on ph1's underlay: nothing to or from $WEB in clear ($(in_clear through))" [ "$(in_clear through)" = 0 ]
others=$(not_mcc through)
check "1b and nothing but mcc's UDP and link-local chatter at all ($others)" [ "$others" = 0 ]
[ "$others" = 0 ] || tcpdump -r "$W/through.pcap" -n -v "$NOT_MCC" 2>/dev/null | head -n 10 | sed 's/^/    /'
check "1c the internet host saw the exit node's address" [ "$(hits "$EXIT_UL")" -ge 2 ]
check "1d and never ph1's" [ "$(hits "${UNDERLAY[ph1]}")" = 0 ]
check "1e the exit node's resolver was asked from the overlay" grep -q '^query from 10\.83\.' "$W/dns.log"

capture ph1 control
touch "$W/ph1.go2"
for n in "${PHONES[@]}"; do
    wait_until 180 0.2 sh -c "! kill -0 ${JVM[$n]} 2>/dev/null" || fail "$n's harness finished within 180 s"
done
capture_end
check "2a control: without the VPN route the capture does see ph1's packets to $WEB in clear ($(in_clear control))" \
    [ "$(in_clear control)" -ge 1 ]
check "2b and the internet host saw ph1's own address then" [ "$(hits "${UNDERLAY[ph1]}")" -ge 1 ]

check "3a exit refused ph2: not listed" \
    grep -q "refused gateway client ${ID[ph2]}: exit-node-clients does not list" "$W/exit/mccd.log"
check "3b exit refused ph3: another network" \
    grep -q "refused gateway client ${ID[ph3]}: the client belongs to another network" "$W/exit/mccd.log"
check "3c the internet host saw neither ph2 nor ph3" \
    [ "$(($(hits "${UNDERLAY[ph2]}") + $(hits "${UNDERLAY[ph3]}")))" = 0 ]
check "3d exit's mccd is still running" kill -0 "$EXIT_PID"

for n in "${PHONES[@]}"; do
    wait "${JVM[$n]}"
    jrc=$?
    unset "BG[${JVM[$n]}]"
    sed "s/^/    $n| /" "$W/$n.jvm.out"
    jp=$(grep -c '^PASS: ' "$W/$n.jvm.out")
    jf=$(grep -c '^FAIL: ' "$W/$n.jvm.out")
    PASSED=$((PASSED + jp))
    FAILED=$((FAILED + jf))
    grep -q '^harness: ' "$W/$n.jvm.out" || fail "$n's harness ran to the end" "exit status $jrc"
    [ "$jrc" = 0 ] || [ "$jf" -gt 0 ] || fail "$n's harness exit status" "$jrc"
    grep -q 'SIGSEGV\|hs_err\|fatal error' "$W/$n.jvm.out" && fail "$n: no JVM crash" "see $W/$n.jvm.out"
done
exit 0
