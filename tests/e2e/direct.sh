#!/usr/bin/env bash
# Direct paths through real NATs (issue 14, items 2-3): two leaves under different parents,
# each behind its own Linux NAT router, a tunnel between them, and how often, how fast and
# how well the tunnel moves from the tree to a direct UDP path, per kind of NAT.
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/direct.sh                  (CI: ~3 min)
#   sudo DIRECT_FULL=1 flock /tmp/mcc-netns.lock bash tests/e2e/direct.sh    (measurement)
#
# CI mode took 82 s before the feature landed (direct checks skipped); with it, each try
# that does not go direct waits DIRECT_WAIT more (easy-hard, hard-hard: 2 x 3 x 15 s). A
# try restarts both leaves in about 1.4 s; full mode (50 tries, iperf3, 60 s idle
# captures) is about 30 min, mostly the hard combinations' 15 s waits.
#
#   core bridge 10.245.0.0/24: root .2, P1 .3, P2 .4, N1 .5 (eth0), N2 .6 (eth0)
#   L1 10.245.1.2 ── N1 (lan0 10.245.1.1, MASQUERADE out of eth0) ── core
#   L2 10.245.2.2 ── N2 (lan0 10.245.2.1, MASQUERADE out of eth0) ── core
#   overlay: root; P1, P2 -> root; L1 -> P1; L2 -> P2. Tunnel "web" (tcp:8080, tcp:5201,
#   icmp): server endpoint on L2 (python3 http.server 8080, iperf3 5201), client on L1.
#
# NAT kinds (per NAT namespace: its own conntrack table and UDP timeouts):
#   easy   iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE   (port kept: one public
#          port for every destination; conntrack filters by address and port)
#   hard   ... -j MASQUERADE --random-fully                       (a random public port per
#          destination)
# Each NAT router also drops new inbound connections on its outside (eth0) in INPUT and
# FORWARD, as a home router's firewall does (OpenWrt's wan zone): a datagram that no
# mapping lets in is then dropped before conntrack keeps an entry for it. Without that
# (NAT_FIREWALL=0: a bare MASQUERADE box) the peer's first punch, arriving before the
# local side sent, leaves an unreplied entry (peer -> NAT:port, refreshed by each punch)
# that takes the reply tuple port preservation would need: the local side's own datagrams
# to the peer then get a random port, and easy-easy punching fails whatever the order.
# Combinations (DIRECT_COMBOS): easy-easy easy-hard hard-hard easy-easy-30s (both NATs
# with nf_conntrack_udp_timeout = nf_conntrack_udp_timeout_stream = 30 s).
#
# Per combination:
#   0  the NATs are what they claim: plain UDP from one port to two destinations leaves an
#      easy NAT from one public port and a hard NAT from two; a plain UDP punch (both
#      leaves send to the other's public address:port for 2 s, no mcc) gets through
#      easy-easy and not through a hard NAT: the ceiling for mcc's success rate.
#   A  direct-paths = off on both leaves: the tunnel works over the tree (curl and ping by
#      name), PATH stays `tree`; RTT over the tree (avg of 20 pings), iperf3 in full mode.
#   B  direct-paths = $DIRECT_PATHS (default all) on both leaves; DIRECT_TRIES tries, each:
#      both leaves' daemons restart and the NATs forget their mappings (conntrack -F), the
#      tunnel must work over the tree again (up to 30 s), then up to DIRECT_WAIT (15 s) for
#      PATH `direct`; the time from "works over the tree" to `direct` is recorded.
#   C  when direct: RTT direct, the datagrams really go NAT to NAT (tcpdump on N1's eth0),
#      "direct path up" logged by both leaves; full mode: iperf3 direct and the idle cost
#      (UDP bytes between the two public addresses over DIRECT_IDLE_SECS, 60 s, per hour).
#      easy-easy: the direct path is then blocked in N1: the tunnel must fall back to the
#      tree within 10 s ("direct path down" logged). easy-easy-30s: 40 s of silence (longer
#      than the NAT timeout), then the tunnel must still work (and still be direct).
#      hard-hard: 30 s of one ping a second: none lost (one allowed), no flapping (the PATH
#      never changes, at most one "direct path up/down" event).
#   Last: a table (combo, tries, direct, median time to direct, RTT tree / direct, and in
#   full mode throughput and idle bytes per hour), also in $W/results.txt.
#
# The feature's interface (written against before it landed): mcc.conf `direct-paths =
# off|all|NAME,...`, `mcc tunnels --json` (field `path`: direct|tree), events "direct path
# up" / "direct path down" in mccd.log. While `mcc tunnels` does not exist the key is not
# written and the direct checks are skipped (SKIP lines): everything relayed is checked.
#
# Knobs: DIRECT_FULL (1: 50 tries, iperf3, idle cost), DIRECT_TRIES (3; 50 in full mode),
# DIRECT_WAIT (15), DIRECT_PATHS (all), DIRECT_COMBOS, DIRECT_IDLE_SECS (60), NAT_FIREWALL
# (1).
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccdirect /tmp/mccdirect
CHECKS=1
PORT=9376
DIRECT_FULL=${DIRECT_FULL:-0}
if [ "$DIRECT_FULL" = 1 ]; then DIRECT_TRIES=${DIRECT_TRIES:-50}; else DIRECT_TRIES=${DIRECT_TRIES:-3}; fi
DIRECT_WAIT=${DIRECT_WAIT:-15}
DIRECT_PATHS=${DIRECT_PATHS:-all}
DIRECT_COMBOS=${DIRECT_COMBOS:-easy-easy easy-hard hard-hard easy-easy-30s}
DIRECT_IDLE_SECS=${DIRECT_IDLE_SECS:-60}
NAT_FIREWALL=${NAT_FIREWALL:-1}
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"
N1_PUB=10.245.0.5
N2_PUB=10.245.0.6
SKIPPED=0

need_root
need_tools ip:iproute2 iptables:iptables conntrack:conntrack tcpdump:tcpdump dig:dnsutils \
    curl:curl ping:iputils-ping python3:python3 awk:gawk || exit 2
[ "$DIRECT_FULL" != 1 ] || need_tools iperf3:iperf3 || exit 2
need_tun
lib_start
build_release mcc-linux

# The feature is there when the client knows `mcc tunnels`.
FEATURE=0
"$MCC" tunnels --help >/dev/null 2>&1 && FEATURE=1
log "direct-path feature: $([ $FEATURE = 1 ] && echo present || echo 'absent (direct checks skipped)')"
skip() { echo "SKIP: $1"; SKIPPED=$((SKIPPED + 1)); }

# ---------------------------------------------------------------- underlay

ns_add core root p1 p2 n1 n2 l1 l2 || die "namespaces"
star 10.245.0 core root p1 p2 n1 n2 || die "core bridge"
veth n1 lan0 l1 eth0 10.245.1.1/24 10.245.1.2/24 || die "veth n1-l1"
veth n2 lan0 l2 eth0 10.245.2.1/24 10.245.2.2/24 || die "veth n2-l2"
ns_route l1 default 10.245.1.1 || die "route l1"
ns_route l2 default 10.245.2.1 || die "route l2"
ns_forward n1 && ns_forward n2 || die "forwarding"

# nat_kind NS easy|hard [TIMEOUT]: NS masquerades what leaves eth0, port-preserving or
# --random-fully, with both UDP conntrack timeouts TIMEOUT (default: the kernel's 30/120)
# and (NAT_FIREWALL=1) drops new inbound connections on eth0; it forgets every mapping.
nat_kind() {
    local ns=$1 kind=$2 t=${3:-} rf=() c
    [ "$kind" = hard ] && rf=(--random-fully)
    nsx "$ns" iptables -t nat -F POSTROUTING &&
        nsx "$ns" iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE "${rf[@]}" || return 1
    nsx "$ns" iptables -F INPUT && nsx "$ns" iptables -F FORWARD || return 1
    if [ "$NAT_FIREWALL" = 1 ]; then
        for c in INPUT FORWARD; do
            nsx "$ns" iptables -A "$c" -i eth0 -m conntrack --ctstate NEW -j DROP || return 1
        done
    fi
    if [ -n "$t" ]; then
        nsx "$ns" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$t" net.netfilter.nf_conntrack_udp_timeout_stream="$t"
    else
        nsx "$ns" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=30 net.netfilter.nf_conntrack_udp_timeout_stream=120
    fi || return 1
    nsx "$ns" conntrack -F >/dev/null 2>&1
    return 0
}
nat_kind n1 easy && nat_kind n2 easy || die "NAT rules"
wait_until 10 0.2 nsx l1 ping -c 1 -W 1 10.245.0.3 >/dev/null || die "underlay: l1 cannot reach p1 through n1"
wait_until 10 0.2 nsx l2 ping -c 1 -W 1 10.245.0.4 >/dev/null || die "underlay: l2 cannot reach p2 through n2"
# The conntrack timeouts are per namespace: n1's must not be the host's (checked once).
nsx n1 sysctl -qw net.netfilter.nf_conntrack_udp_timeout=29
host_t=$(sysctl -n net.netfilter.nf_conntrack_udp_timeout 2>/dev/null)
n1_t=$(nsx n1 sysctl -n net.netfilter.nf_conntrack_udp_timeout)
log "nf_conntrack_udp_timeout: n1 $n1_t, host $host_t"
per_ns() { [ "$n1_t" = 29 ] && [ "$host_t" != 29 ]; }
check "0 the UDP conntrack timeout is per namespace (n1 $n1_t, host $host_t)" per_ns
nat_kind n1 easy || die "NAT rules"

# ---------------------------------------------------------------- nodes and the tunnel

pki "$W/pki" ca net || die "CA and network"
declare -A ID
declare -A PARENT=([root]="" [p1]=root [p2]=root [l1]=p1 [l2]=p2)
for n in root p1 p2 l1 l2; do
    par=${PARENT[$n]}
    mcc_node "$n" "$W/$n" "${par:+${IP[$par]}:$PORT}" network-lookup-timeout 5s || die "mcc init $n"
    ID[$n]=$NODE_ID
done
# direct_policy VALUE: `direct-paths = VALUE` on both leaves (when the feature exists).
direct_policy() {
    [ "$FEATURE" = 1 ] || return 0
    mcc_set "$W/l1/mcc.conf" direct-paths "$1" && mcc_set "$W/l2/mcc.conf" direct-paths "$1"
}
direct_policy off || die "direct-paths"
for n in root p1 p2 l1 l2; do mccd_start "$n" "$W/$n"; done
for n in root p1 p2 l1 l2; do wait_until 30 0.2 mccd_healthy "$n" "$W/$n" || die "mccd $n not healthy"; done

MARKER="direct-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$W/www" && echo "$MARKER" >"$W/www/who.txt"
spawn l2 "$W/http.log" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$W/www"
[ "$DIRECT_FULL" != 1 ] || spawn l2 "$W/iperf3-server.log" iperf3 -s -p 5201
mcc_tunnel l2 "$W/l2" "${ID[l1]}" tcp:8080,tcp:5201,icmp --dns-names web || die "create-tunnel on l2"

ADDR=""
web_resolves() { ADDR=$(nsx l1 timeout 5 dig @127.0.0.1 -p 8353 +short +time=2 +tries=1 web.home.arpa A | head -n 1); [[ $ADDR =~ ^[0-9]+(\.[0-9]+){3}$ ]]; }
wait_until 40 0.5 web_resolves || die "web.home.arpa does not resolve on l1"
log "web.home.arpa = $ADDR on l1 (server endpoint $SEP)"

# ---------------------------------------------------------------- probes

curl_ok() { [ "$(nsx l1 curl -s --noproxy '*' --max-time 3 "http://$ADDR:8080/who.txt")" = "$MARKER" ]; }
ping1() { nsx l1 ping -c 1 -W 1 "$ADDR" >/dev/null 2>&1; }
# ping_avg: the average RTT in ms of 20 pings (0.05 s apart), "-" when one is lost.
ping_avg() {
    local out
    out=$(nsx l1 ping -q -c 20 -i 0.05 -W 2 "$ADDR" 2>&1)
    grep -q ' 0% packet loss' <<<"$out" || { echo -; return 1; }
    sed -nE 's|.*= [0-9.]+/([0-9.]+)/.*|\1|p' <<<"$out"
}
# iperf_mbps: throughput through the tunnel, l1 to l2, 5 s (full mode), Mbit/s.
iperf_mbps() {
    nsx l1 timeout 20 iperf3 -c "$ADDR" -p 5201 -t 5 -J 2>/dev/null | python3 -c '
import json, sys
try:
    print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("-")'
}
# path_of NODE: the PATH of the tunnel "web" (server endpoint SEP) as NODE's daemon reports
# it: direct, tree, or n/a (no feature, or no such tunnel listed).
path_of() {
    [ "$FEATURE" = 1 ] || { echo n/a; return; }
    mcc_in "$1" "$W/$1" tunnels --json 2>/dev/null | python3 -c '
import json, sys
sep = sys.argv[1]
try:
    doc = json.load(sys.stdin)
except Exception:
    print("n/a"); sys.exit()
found = []
def walk(v):
    if isinstance(v, dict):
        if "path" in v:
            found.append(v)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(doc)
mine = [t for t in found if sep in json.dumps(t) or "web" in json.dumps(t)] or found
print(mine[0]["path"] if mine else "n/a")' "$SEP"
}
is_direct() { [ "$(path_of l1)" = direct ]; }
# A direct path is tried while tunnel traffic flows: a ping each time it looks.
ping_is_direct() { ping1; is_direct; }
is_tree() { [ "$(path_of l1)" = tree ]; }
fell_back() { ping1 && is_tree; }
events() { # events NODE TEXT: lines of NODE's log with TEXT so far
    local c
    c=$(grep -c "$2" "$W/$1/mccd.log" 2>/dev/null)
    echo "${c:-0}"
}
# restart_leaves: both leaves' daemons stop, both NATs forget their mappings, both start;
# true once the tunnel carries a ping over the tree again (30 s at most).
restart_leaves() {
    kill -TERM "${MCCD_PID[$W/l1]}" "${MCCD_PID[$W/l2]}" 2>/dev/null
    mccd_stop "$W/l1"
    mccd_stop "$W/l2"
    nsx n1 conntrack -F >/dev/null 2>&1
    nsx n2 conntrack -F >/dev/null 2>&1
    mccd_start l1 "$W/l1"
    mccd_start l2 "$W/l2"
    wait_until 30 0.1 ping1
}
# capture_start NAME: captures the UDP datagrams between the two NATs' public addresses on
# n1's eth0 into $W/n1-NAME.pcap until capture_stop.
capture_start() {
    rm -f "$W/n1-$1.pcap"
    spawn n1 "$W/tcpdump-$1.log" tcpdump -Z root --immediate-mode -i eth0 -U -w "$W/n1-$1.pcap" "udp and host $N1_PUB and host $N2_PUB"
    CAP=$SPAWNED
    wait_until 5 0.1 grep -q 'listening on eth0' "$W/tcpdump-$1.log" && sleep 0.3
}
capture_stop() { sleep 0.5; kill_pids "$CAP"; }
# pcap_stats FILE: "PACKETS BYTES" (frames on the wire, Ethernet headers included).
pcap_stats() {
    python3 - "$1" <<'PY'
import struct, sys
try:
    d = open(sys.argv[1], "rb").read()
except OSError:
    print("0 0"); sys.exit()
e = "<" if d[:4] == b"\xd4\xc3\xb2\xa1" else ">"
i, n, b = 24, 0, 0
while i + 16 <= len(d):
    _, _, incl, orig = struct.unpack(e + "IIII", d[i:i + 16])
    n, b, i = n + 1, b + orig, i + 16 + incl
print(n, b)
PY
}
cat >"$W/punch.py" <<'PY'
# punch.py PORT PEER_IP PEER_PORT [DESTS]: sends to the peer every 0.1 s for 2 s from PORT;
# prints how many datagrams arrived and from where. With DESTS (IP:PORT,...) it sends one
# datagram to each instead and exits.
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
if len(sys.argv) > 4:
    for d in sys.argv[4].split(","):
        ip, port = d.split(":")
        s.sendto(b"probe", (ip, int(port)))
    sys.exit()
s.settimeout(0.02)
t0, sent, got, srcs = time.time(), 0, 0, set()
while time.time() - t0 < 2:
    if sent <= (time.time() - t0) * 10:
        s.sendto(b"punch", (sys.argv[2], int(sys.argv[3])))
        sent += 1
    try:
        _, a = s.recvfrom(100)
        got += 1
        srcs.add("%s:%d" % a)
    except OSError:
        pass
print(got, ",".join(sorted(srcs)) or "-")
PY
# raw_punch: a plain UDP punch between l1 and l2 (port 40002, both at once), through the
# NATs as they are, after they forgot everything; sets PUNCH1 and PUNCH2 (datagrams each got).
raw_punch() {
    local o1 o2 a b
    nsx n1 conntrack -F >/dev/null 2>&1
    nsx n2 conntrack -F >/dev/null 2>&1
    nsx l1 python3 "$W/punch.py" 40002 "$N2_PUB" 40002 >"$W/punch-l1.out" 2>&1 &
    a=$!
    nsx l2 python3 "$W/punch.py" 40002 "$N1_PUB" 40002 >"$W/punch-l2.out" 2>&1 &
    b=$!
    wait "$a" "$b"
    read -r PUNCH1 o1 <"$W/punch-l1.out"
    read -r PUNCH2 o2 <"$W/punch-l2.out"
    log "raw punch: l1 got ${PUNCH1:-?} from $o1, l2 got ${PUNCH2:-?} from $o2"
}
# nat_ports LEAF NAT: the public ports NAT gives LEAF's port 40003 toward p1 and p2.
nat_ports() {
    nsx "$1" python3 "$W/punch.py" 40003 - 0 "10.245.0.3:40009,10.245.0.4:40009"
    nsx "$2" conntrack -L -p udp --orig-port-src 40003 2>/dev/null |
        sed -nE 's/.* dport=([0-9]+) .*/\1/p' | sort -n | tr '\n' ' '
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------- per combination

RESULTS=()
run_combo() {
    local combo=$1 k1 k2 t="" try ok=0 ups=0 times=() up_t tdir rtt_tree rtt_direct=- \
        tput_tree=- tput_direct=- idle=- fallback=- relayed=0 p
    case $combo in
    easy-easy) k1=easy k2=easy ;;
    easy-hard) k1=easy k2=hard ;;
    hard-hard) k1=hard k2=hard ;;
    easy-easy-30s) k1=easy k2=easy t=30 ;;
    *) fail "unknown combination $combo"; return ;;
    esac
    log "==== $combo: n1 $k1, n2 $k2${t:+, UDP timeout ${t}s}"
    nat_kind n1 "$k1" "$t" && nat_kind n2 "$k2" "$t" || { fail "$combo: NAT rules"; return; }

    # 0: the NATs themselves.
    local ports1 ports2
    ports1=$(nat_ports l1 n1)
    ports2=$(nat_ports l2 n2)
    log "$combo: public ports of 40003 toward p1 and p2: n1 $ports1, n2 $ports2"
    nat_is() { # nat_is KIND PORTS: easy: one port (40003) for both; hard: two ports
        set -- "$1" $2
        case $1 in easy) [ $# = 3 ] && [ "$2" = 40003 ] && [ "$3" = 40003 ] ;; hard) [ $# = 3 ] && [ "$2" != "$3" ] ;; esac
    }
    check "$combo 0: n1 maps as $k1 NAT ($ports1)" nat_is "$k1" "$ports1"
    check "$combo 0: n2 maps as $k2 NAT ($ports2)" nat_is "$k2" "$ports2"
    raw_punch
    local raw=fail
    [ "${PUNCH1:-0}" -gt 0 ] && [ "${PUNCH2:-0}" -gt 0 ] && raw=ok
    if [ "$NAT_FIREWALL" != 1 ]; then
        log "$combo 0: bare MASQUERADE: the plain UDP punch $raw (not checked)"
    elif [ "$k1$k2" = easyeasy ]; then
        check "$combo 0: a plain UDP punch gets through (l1 got $PUNCH1, l2 got $PUNCH2)" [ "$raw" = ok ]
    else
        check "$combo 0: a plain UDP punch does not get through a hard NAT (l1 got $PUNCH1, l2 got $PUNCH2)" [ "$raw" = fail ]
    fi
    nsx n1 conntrack -F >/dev/null 2>&1
    nsx n2 conntrack -F >/dev/null 2>&1

    # A: over the tree.
    direct_policy off
    restart_leaves || { fail "$combo A: the tunnel does not come back over the tree"; return; }
    check "$combo A: curl through the tunnel over the tree" wait_until 10 0.5 curl_ok
    rtt_tree=$(ping_avg)
    check "$combo A: 20 pings through the tunnel by name over the tree (avg $rtt_tree ms)" [ "$rtt_tree" != - ]
    [ "$DIRECT_FULL" != 1 ] || tput_tree=$(iperf_mbps)
    if [ "$FEATURE" = 1 ]; then
        check "$combo A: PATH is tree with direct-paths = off" is_tree
    else
        skip "$combo A: PATH with direct-paths = off (no mcc tunnels)"
    fi
    nsx n1 conntrack -L -p udp 2>/dev/null >"$W/conntrack-$combo-n1.txt"
    nsx n2 conntrack -L -p udp 2>/dev/null >"$W/conntrack-$combo-n2.txt"

    # B: the tries.
    local up1 up2
    up1=$(events l1 'direct path up')
    up2=$(events l2 'direct path up')
    direct_policy "$DIRECT_PATHS"
    for try in $(seq "$DIRECT_TRIES"); do
        if ! restart_leaves; then
            log "$combo try $try: the tunnel did not come back over the tree in 30 s"
            continue
        fi
        relayed=$((relayed + 1))
        up_t=$(now)
        if [ "$FEATURE" = 1 ] && wait_until "$DIRECT_WAIT" 0.2 ping_is_direct; then
            tdir=$(since "$up_t" 2)
            ok=$((ok + 1))
            times+=("$tdir")
            log "$combo try $try: direct after $tdir s"
        else
            log "$combo try $try: path $(path_of l1) after ${DIRECT_WAIT} s"
        fi
    done
    check "$combo B: the tunnel came back over the tree after each of $DIRECT_TRIES restarts ($relayed)" [ "$relayed" = "$DIRECT_TRIES" ]
    local med
    med=$(printf '%s\n' "${times[@]}" | grep . | median)
    p=$(path_of l1)

    # C: on the direct path.
    if [ "$FEATURE" != 1 ] || [ "$DIRECT_PATHS" = off ]; then
        if [ "$FEATURE" = 1 ]; then
            check "$combo B: no try went direct with direct-paths = off ($ok)" [ "$ok" = 0 ]
        else
            skip "$combo B/C: direct path checks (no mcc tunnels)"
        fi
    else
        case $combo in
        easy-easy*)
            # 90 % at least (all of 3 in CI).
            check "$combo B: direct within ${DIRECT_WAIT} s in $ok of $DIRECT_TRIES tries" [ $((ok * 10)) -ge $((DIRECT_TRIES * 9)) ]
            ;;
        esac
        if [ "$p" = direct ]; then
            capture_start direct || fail "$combo C: tcpdump on n1"
            rtt_direct=$(ping_avg)
            check "$combo C: curl through the tunnel on the direct path" curl_ok
            capture_stop
            read -r pk by < <(pcap_stats "$W/n1-direct.pcap")
            check "$combo C: 20 pings on the direct path (avg $rtt_direct ms)" [ "$rtt_direct" != - ]
            check "$combo C: the datagrams go NAT to NAT ($pk between $N1_PUB and $N2_PUB)" [ "$pk" -ge 30 ]
            check "$combo C: l1 logged direct path up" [ "$(events l1 'direct path up')" -gt "$up1" ]
            check "$combo C: l2 logged direct path up" [ "$(events l2 'direct path up')" -gt "$up2" ]
            if [ "$DIRECT_FULL" = 1 ]; then
                tput_direct=$(iperf_mbps)
                capture_start idle || fail "$combo C: tcpdump on n1"
                sleep "$DIRECT_IDLE_SECS"
                capture_stop
                read -r pk by < <(pcap_stats "$W/n1-idle.pcap")
                idle=$((by * 3600 / DIRECT_IDLE_SECS))
                log "$combo idle: $pk datagrams, $by B in ${DIRECT_IDLE_SECS} s: $idle B/hour"
            fi
        fi
    fi

    case $combo in
    easy-easy)
        if [ "$p" = direct ]; then
            local d0 t0
            d0=$(events l1 'direct path down')
            nsx n1 iptables -I FORWARD -p udp -d "$N2_PUB" -j DROP
            nsx n1 iptables -I FORWARD -p udp -s "$N2_PUB" -j DROP
            t0=$(now)
            if wait_until 20 0.2 fell_back; then
                fallback=$(since "$t0" 1)
            fi
            nsx n1 iptables -D FORWARD -p udp -d "$N2_PUB" -j DROP
            nsx n1 iptables -D FORWARD -p udp -s "$N2_PUB" -j DROP
            check "$combo C: direct path blocked: back on the tree within 10 s ($fallback s)" awk -v f="$fallback" 'BEGIN { exit !(f != "-" && f <= 10) }'
            check "$combo C: l1 logged direct path down" [ "$(events l1 'direct path down')" -gt "$d0" ]
            check "$combo C: curl over the tree after the fallback" curl_ok
        elif [ "$FEATURE" = 1 ] && [ "$DIRECT_PATHS" != off ]; then
            fail "$combo C: fallback" "never direct"
        fi
        ;;
    easy-easy-30s)
        log "$combo: 40 s of silence behind the 30 s NATs"
        sleep 40
        check "$combo C: the tunnel works after 40 s of silence (ping)" wait_until 5 0.2 ping1
        if [ "$p" = direct ]; then
            check "$combo C: still direct after 40 s of silence" is_direct
        elif [ "$FEATURE" = 1 ] && [ "$DIRECT_PATHS" != off ]; then
            fail "$combo C: still direct after silence" "never direct"
        fi
        ;;
    hard-hard)
        local e0 samples=() lost=0 changes=0 prev="" s
        e0=$(($(events l1 'direct path up') + $(events l1 'direct path down')))
        for _ in $(seq 30); do
            ping1 || lost=$((lost + 1))
            s=$(path_of l1)
            [ -z "$prev" ] || [ "$s" = "$prev" ] || changes=$((changes + 1))
            prev=$s
            samples+=("$s")
        done
        local e1=$(($(events l1 'direct path up') + $(events l1 'direct path down') - e0))
        log "$combo: 30 s: $lost pings lost, paths $(printf '%s\n' "${samples[@]}" | sort | uniq -c | tr -s ' \n' ' '), $changes changes, $e1 up/down events"
        check "$combo C: 30 s of pings over the tree, $lost of 30 lost" [ "$lost" -le 1 ]
        if [ "$FEATURE" = 1 ]; then
            stable() { [ "$changes" = 0 ] && [ "$e1" -le 1 ]; }
            check "$combo C: no flapping in 30 s ($changes PATH changes, $e1 up/down events)" stable
        else
            skip "$combo C: flapping (no mcc tunnels)"
        fi
        ;;
    esac
    check "$combo: curl through the tunnel at the end" wait_until 10 0.5 curl_ok
    nsx n1 conntrack -L -p udp 2>/dev/null >>"$W/conntrack-$combo-n1.txt"
    nsx n2 conntrack -L -p udp 2>/dev/null >>"$W/conntrack-$combo-n2.txt"
    RESULTS+=("$combo $raw $DIRECT_TRIES $ok $med $rtt_tree $rtt_direct $fallback $tput_tree $tput_direct $idle")
}

for c in $DIRECT_COMBOS; do run_combo "$c"; done

# ---------------------------------------------------------------- summary

{
    echo "direct paths: tries per combination $DIRECT_TRIES, direct-paths = $DIRECT_PATHS, NAT firewall $NAT_FIREWALL, feature $([ $FEATURE = 1 ] && echo present || echo absent)"
    printf '%-14s %9s %5s %6s %10s %9s %11s %9s' combo 'raw punch' tries direct 'median s' 'RTT tree' 'RTT direct' 'fallback'
    [ "$DIRECT_FULL" != 1 ] || printf ' %10s %12s %10s' 'Mb/s tree' 'Mb/s direct' 'idle B/h'
    echo
    for r in "${RESULTS[@]}"; do
        read -r c rp n k m rt rd fb tt td id <<<"$r"
        printf '%-14s %9s %5s %6s %10s %9s %11s %9s' "$c" "$rp" "$n" "$k" "$m" "$rt" "$rd" "$fb"
        [ "$DIRECT_FULL" != 1 ] || printf ' %10s %12s %10s' "$tt" "$td" "$id"
        echo
    done
    echo "(raw punch: plain UDP, no mcc, the ceiling; RTT in ms, avg of 20 pings; median s: from the tunnel working over the tree to PATH direct; fallback s: from blocking the direct path to a ping over the tree)"
} | tee "$W/results.txt"
log "$SKIPPED checks skipped"
