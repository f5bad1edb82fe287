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
# cli -> srv traffic crosses b, root and a (3 relays).
#
# Traffic goes only to loopback and to addresses inside the namespaces created here.
# Everything is torn down on exit (daemons, servers, captures, namespaces, bridge); the
# work directory /tmp/mcce2e stays for post-mortem and is wiped at the next start.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".
# Each background process is started with `ip netns exec` directly (not through a shell
# function), so $! is the process itself: signals and exit statuses reach it.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD
# Nothing may go through a proxy: every request below is for a namespace-local address.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy FTP_PROXY no_proxy NO_PROXY

P=mcce2e                       # namespace prefix
W=/tmp/mcce2e                  # work directory
NODES=(root a b srv cli)       # nodes running mccd
NETNS=(sw root a b srv nat cli)
PORT=9376
declare -A UNDERLAY=([root]=10.231.0.1 [a]=10.231.0.2 [b]=10.231.0.3 [srv]=10.231.0.4 [nat]=10.231.0.5)
declare -A PARENTS=([root]="" [a]="10.231.0.1:$PORT" [b]="10.231.0.1:$PORT" [srv]="10.231.0.2:$PORT"
    [cli]="10.231.0.3:$PORT,10.231.0.2:$PORT")
declare -A ID=() PID=()
BG_PIDS=()                     # servers and captures started by this run
T_START=$(date +%s.%N)
PASSED=0
FAILED=0
FAILED_NAMES=()

# ---------------------------------------------------------------- helpers

log() { printf '[%5.1fs] %s\n' "$(elapsed)" "$*"; }
elapsed() { awk -v s="$T_START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }

pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() {
    echo "FAIL: $1${2:+ ($2)}"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
}
# check NAME CMD...: PASS when CMD exits 0.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# check_not NAME CMD...: PASS when CMD fails.
check_not() {
    local name=$1
    shift
    if "$@"; then fail "$name" "unexpectedly succeeded"; else pass "$name"; fi
}

# wait_until TIMEOUT_S INTERVAL_S CMD...: runs CMD until it succeeds; fails after TIMEOUT_S.
wait_until() {
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
# mccn NODE ARGS...: the mcc client against NODE's daemon, run inside NODE's namespace.
mccn() {
    local n=$1
    shift
    nsx "$n" timeout 10 "$MCC" -s "$W/$n/mcc.sock" "$@"
}
digq() { # digq NODE ARGS...: built-in DNS of NODE's daemon
    local n=$1
    shift
    nsx "$n" timeout 8 dig @127.0.0.1 -p 8353 +short +time=2 +tries=1 "$@"
}
curl_in() { # curl_in NODE URL
    nsx "$1" curl -s --noproxy '*' --max-time 5 "$2"
}

dump_logs() {
    local n f
    for n in "${NODES[@]}"; do
        for f in mccd.log mccd.stderr; do
            [ -s "$W/$n/$f" ] || continue
            echo "----- $n/$f (last 30 lines)"
            tail -n 30 "$W/$n/$f"
        done
    done
    echo "-----"
}

die() {
    echo "FATAL: $*" >&2
    fail "setup: $*"
    dump_logs
    exit 1
}

kill_pid() { # kill_pid PID: TERM, then KILL after 3 s
    local p=$1
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 30); do
        kill -0 "$p" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
}

# Stops every process inside our namespaces and deletes the namespaces (the bridge and
# every veth go with them). Also used at start to clear a previous run's leftovers.
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
    for p in "${PID[@]}" "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PID[@]}" "${BG_PIDS[@]}"; do kill_pid "$p"; done
    teardown_net
    log "cleaned up: namespaces deleted; logs and captures kept in $W; runtime $(elapsed) s"
    echo "$PASSED passed, $FAILED failed"
    exit "$rc"
}

start_mccd() {
    local n=$1
    # `ip netns exec` execs mccd: $! is the daemon's own PID (signals and exit status).
    ip netns exec "$P-$n" "$MCCD" "$W/$n" >>"$W/$n/mccd.stderr" 2>&1 &
    PID[$n]=$!
}

# stop_mccd NODE: SIGTERM, waits up to 10 s; returns the daemon's exit status (124: hung).
stop_mccd() {
    local n=$1 p=${PID[$1]} rc
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then
        kill -KILL "$p"
        wait "$p" 2>/dev/null
        unset "PID[$n]"
        return 124
    fi
    wait "$p"
    rc=$?
    unset "PID[$n]"
    return "$rc"
}

healthy() { mccn "$1" health >/dev/null 2>&1; }
all_healthy() {
    local n
    for n in "${NODES[@]}"; do healthy "$n" || return 1; done
}

# set_key FILE KEY VALUE: sets a key of mcc.conf: replaces the active line, else the first
# commented "# key =" line, else appends. Afterwards exactly one active line holds KEY.
set_key() {
    local f=$1 k=$2 v=$3 ke
    ke=$(printf '%s' "$k" | sed 's/[.[\*^$/]/\\&/g')
    if grep -Eq "^[[:space:]]*${ke}[[:space:]]*=" "$f"; then
        sed -i -E "s|^[[:space:]]*${ke}[[:space:]]*=.*|$k = $v|" "$f"
    elif grep -Eq "^[[:space:]]*#+[[:space:]]*${ke}[[:space:]]*(=|$)" "$f"; then
        sed -i -E "0,/^[[:space:]]*#+[[:space:]]*${ke}[[:space:]]*(=.*)?$/s||$k = $v|" "$f"
    else
        printf '%s = %s\n' "$k" "$v" >>"$f"
    fi
    [ "$(grep -Ec "^[[:space:]]*${ke}[[:space:]]*=" "$f")" = 1 ] &&
        grep -Eq "^$ke = $(printf '%s' "$v" | sed 's/[.[\*^$/]/\\&/g')\$" "$f"
}

pcap_has_udp_port() { [ "$(timeout 20 tcpdump -nn -r "$1" "udp port $PORT" 2>/dev/null | wc -l)" -gt 0 ]; }
pcap_lacks() { [ "$(grep -a -c -- "$2" "$1")" = 0 ]; }
pcap_holds() { [ "$(grep -a -c -- "$2" "$1")" != 0 ]; }

# The control socket's status request (control.rs, "for operators and tests"): used only
# to wait for the tunnel handshake, never for an assertion.
tunnel_established() { # tunnel_established NODE REMOTE_ENDPOINT
    nsx "$1" timeout 5 python3 - "$W/$1/mcc.sock" "$2" <<'EOF'
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
EOF
}

# ---------------------------------------------------------------- prerequisites

[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, TUN)" >&2; exit 2; }
need_pkgs=0
for c in ip iptables tcpdump dig socat curl ping python3 awk; do
    command -v "$c" >/dev/null 2>&1 || need_pkgs=1
done
if [ "$need_pkgs" = 1 ]; then
    log "installing missing test tools"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq iproute2 iptables tcpdump dnsutils socat curl iputils-ping python3 >/dev/null ||
        { echo "apt-get install failed" >&2; exit 2; }
fi
[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing" >&2; exit 2; }

log "building: cargo build --release -p mcc-linux"
if ! cargo build --release -p mcc-linux; then
    echo "build failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
MCC=$REPO/target/release/mcc
MCCD=$REPO/target/release/mccd
[ -x "$MCC" ] && [ -x "$MCCD" ] || { echo "missing $MCC or $MCCD" >&2; exit 1; }

# ---------------------------------------------------------------- underlay

teardown_net            # leftovers of a previous run
rm -rf "$W"
mkdir -p "$W"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "creating namespaces and the bridge"
for ns in "${NETNS[@]}"; do
    ip netns add "$P-$ns" || die "ip netns add $P-$ns"
    ip -n "$P-$ns" link set lo up || die "lo up in $P-$ns"
done
ip -n "$P-sw" link add br0 type bridge || die "bridge br0"
ip -n "$P-sw" link set br0 up
for n in root a b srv nat; do
    ip link add eth0 netns "$P-$n" type veth peer name "p-$n" netns "$P-sw" || die "veth $n"
    ip -n "$P-sw" link set "p-$n" master br0 up || die "attach p-$n to br0"
    ip -n "$P-$n" addr add "${UNDERLAY[$n]}/24" dev eth0
    ip -n "$P-$n" link set eth0 up
done
ip link add lan0 netns "$P-nat" type veth peer name eth0 netns "$P-cli" || die "veth cli<->nat"
ip -n "$P-nat" addr add 192.168.77.1/24 dev lan0
ip -n "$P-nat" link set lan0 up
ip -n "$P-cli" addr add 192.168.77.2/24 dev eth0
ip -n "$P-cli" link set eth0 up
ip -n "$P-cli" route add default via 192.168.77.1 || die "default route in cli"
nsx nat sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' || die "ip_forward in nat"
nsx nat iptables -t nat -A POSTROUTING -s 192.168.77.0/24 -o eth0 -j MASQUERADE || die "MASQUERADE in nat"
wait_until 10 0.2 nsx cli ping -c 1 -W 1 10.231.0.1 >/dev/null || die "underlay: cli cannot reach root through the NAT"
wait_until 10 0.2 nsx srv ping -c 1 -W 1 10.231.0.2 >/dev/null || die "underlay: srv cannot reach a"

# ---------------------------------------------------------------- provisioning

log "provisioning: CA, network, nodes"
mkdir -p "$W/ca" "$W/net"
"$MCC" generate-ca-certificate "$W/ca" >"$W/ca/id.txt" || die "mcc generate-ca-certificate"
NETB64=$("$MCC" generate-network-certificate --ca "$W/ca" "$W/net") || die "mcc generate-network-certificate"
NETB64=$(printf '%s' "$NETB64" | tr -d '[:space:]')
NETKEY=$W/net/network-private-key.txt
[ -n "$NETB64" ] && [ -s "$NETKEY" ] || die "no network certificate or key"

for n in "${NODES[@]}"; do
    mkdir -p "$W/$n"
    args=(init -C "$W/$n" --stdin)
    [ -n "${PARENTS[$n]}" ] && args+=(-p "${PARENTS[$n]}")
    out=$(nsx "$n" "$MCC" "${args[@]}" "$NETB64" <"$NETKEY" 2>"$W/$n/init.stderr") ||
        die "mcc init $n: $(cat "$W/$n/init.stderr")"
    ID[$n]=$(printf '%s\n' "$out" | tail -n 1 | tr -d '[:space:]')
    [[ ${ID[$n]} =~ ^[0-9a-z]{52}$ ]] || die "mcc init $n printed '${out}', not a node ID"
    conf=$W/$n/mcc.conf
    cp "$conf" "$W/$n/mcc.conf.generated"
    set_key "$conf" unix-socket-path "$W/$n/mcc.sock" &&
        set_key "$conf" log-file "$W/$n/mccd.log" &&
        set_key "$conf" log-level debug &&
        set_key "$conf" keep-alive-period 2s &&
        set_key "$conf" rejoin-period 10s &&
        set_key "$conf" data-dir "$W/$n/data" || die "editing $conf"
    log "node $n = ${ID[$n]}"
done
# Every node has its own state: the filesystem is shared between the namespaces.
shared=$(grep -hE '^[[:space:]]*[a-z.-]+[[:space:]]*=[[:space:]]*/(etc|var)/' "$W"/*/mcc.conf | sort -u)
[ -z "$shared" ] || die "mcc.conf still points at shared system paths: $shared"

log "starting daemons"
for n in "${NODES[@]}"; do
    mkdir -p "$W/$n/data"
    start_mccd "$n"
done
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
ip netns exec $P-srv python3 -m http.server 8080 --bind 0.0.0.0 --directory "$W/www" >"$W/http8080.log" 2>&1 &
BG_PIDS+=($!)
ip netns exec $P-srv python3 -m http.server 8081 --bind 0.0.0.0 --directory "$W/www2" >"$W/http8081.log" 2>&1 &
BG_PIDS+=($!)
ip netns exec $P-srv socat UDP-LISTEN:5353,fork,reuseaddr EXEC:cat >"$W/udpecho.log" 2>&1 &
BG_PIDS+=($!)
# The servers answer locally: a failure through the overlay is then the overlay's doing.
wait_until 10 0.2 sh -c "[ \"\$(ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://127.0.0.1:8080/marker.txt)\" = '$MARKER' ]" ||
    die "http server on srv:8080 does not answer locally"
wait_until 10 0.2 sh -c "ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://127.0.0.1:8081/marker.txt | grep -q NOT-IN-TUNNEL" ||
    die "http server on srv:8081 does not answer locally"
wait_until 10 0.2 sh -c "echo ping | ip netns exec $P-srv socat -t 1 - UDP:127.0.0.1:5353 | grep -q ping" ||
    die "udp echo on srv:5353 does not answer locally"

log "creating the tunnel on srv (client: cli)"
SEP=$(nsx srv timeout 20 "$MCC" -s "$W/srv/mcc.sock" create-tunnel -C "$W/srv" -p "$W/srv/network-certificate.txt" --stdin \
    --targets tcp:8080,udp:5353,icmp --dns-names web --remote-node "${ID[cli]}" <"$NETKEY" 2>"$W/create-tunnel.stderr") ||
    die "mcc create-tunnel: $(cat "$W/create-tunnel.stderr")"
SEP=$(printf '%s\n' "$SEP" | tail -n 1 | tr -d '[:space:]')
[[ $SEP =~ ^[0-9a-z]{52}$ ]] || die "create-tunnel printed '$SEP', not an endpoint ID"
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
ip netns exec $P-sw tcpdump -Z root -i br0 -U -w "$W/br0.pcap" >"$W/tcpdump-br0.log" 2>&1 &
TCPD=($!)
ip netns exec $P-nat tcpdump -Z root -i lan0 -U -w "$W/nat-lan0.pcap" >"$W/tcpdump-lan0.log" 2>&1 &
TCPD+=($!)
ip netns exec $P-srv tcpdump -Z root -i mcc0 -U -w "$W/srv-mcc0.pcap" >"$W/tcpdump-mcc0.log" 2>&1 &
TCPD+=($!)
BG_PIDS+=("${TCPD[@]}")
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
parent=$(mccn cli parent)
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

# ---------------------------------------------------------------- 9 failover

log "failover: stopping b"
parent_is() { [ "$(mccn cli parent 2>/dev/null | awk '{print $2}')" = "$1" ]; }
t0=$(now)
stop_mccd b
rc=$?
check "11 b exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
check "11 b's mcc0 is gone after SIGTERM" sh -c "! ip -n $P-b link show mcc0 >/dev/null 2>&1"
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
start_mccd b
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
rc=$?
check "11 srv exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
check "11 srv's mcc0 is gone after SIGTERM" sh -c "! ip -n $P-srv link show mcc0 >/dev/null 2>&1"
t1=$(now)
start_mccd srv
wait_until 20 0.3 healthy srv || fail "10 srv healthy after restart"
check "10a srv keeps its ID across a restart" [ "$(mccn srv id)" = "${ID[srv]}" ]
if wait_until 20 0.5 tcp_ok; then
    pass "10b tunnel works after srv restarts ($(since "$t1") s)"
else
    fail "10b tunnel works after srv restarts"
fi

# ---------------------------------------------------------------- 11 clean shutdown

for n in root a b srv cli; do
    [ -n "${PID[$n]:-}" ] || continue
    stop_mccd "$n"
    rc=$?
    check "11 $n exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
    check "11 $n's mcc0 is gone after SIGTERM" sh -c "! ip -n $P-$n link show mcc0 >/dev/null 2>&1"
done

# ---------------------------------------------------------------- summary

[ "$FAILED" = 0 ] || { printf 'failed: %s\n' "${FAILED_NAMES[@]}"; dump_logs; }
log "failover time: $FAILOVER s"
[ "$FAILED" = 0 ]     # the EXIT trap cleans up and prints "N passed, M failed" last
