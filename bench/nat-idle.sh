#!/usr/bin/env bash
# Idle bytes per hour of a LEAF behind a NAT (issue 4, item 4 "idle"), for mcc and, when
# installed or installable, wireguard-go, nebula and yggdrasil, behind NATs whose UDP
# bindings time out after 30 s and after 120 s.
#
#   sudo bench/nat-idle.sh            (build mccd first: cargo build --release -p mcc-linux)
#
# Knobs (defaults in brackets): IDLE_S [180] seconds counted; WARMUP_S [360] seconds of
# quiet before counting starts (mcc learns the NAT timeout then); SYSTEMS ["mcc
# wireguard-go nebula yggdrasil"]; TIMEOUTS ["30 120"]; OUT [bench/nat-idle.csv].
#
# Per (system, timeout) one set of three network namespaces, all sets in parallel:
#
#   natidle<pid>s<k>-leaf --veth-- natidle<pid>s<k>-nat --veth-- natidle<pid>s<k>-srv
#   10.78.<2k>.2      .1 |  MASQUERADE on WAN  | 10.78.<2k+1>.1    .2
#
# The NAT namespace forwards and masquerades the leaf; its conntrack UDP timeouts, both
# net.netfilter.nf_conntrack_udp_timeout and ..._udp_timeout_stream (per network
# namespace; the kernel uses _stream once a flow was seen both ways), are set to the
# set's timeout. The server has no route to the leaf's LAN: it reaches the leaf only
# through the NAT binding the leaf keeps open. The leaf is the client of each system:
#   mcc           leaf = child node, server = root (mccd from target/release, default
#                 mcc.conf: keep-alive-period 30m, nat-keep-alive auto); the leaf serves
#                 an icmp tunnel whose client is the root, so the root can ping the leaf
#   wireguard-go  PersistentKeepalive 25 on the leaf (the recommended NAT setting)
#   nebula        server = lighthouse; nebula's own defaults (no lighthouse.interval,
#                 no punchy section)
#   yggdrasil     leaf peers over tls:// (TCP: the UDP timeouts do not apply to it)
# Counted: tx+rx bytes of the leaf's veth (Ethernet frames: 14 B Ethernet + IPv4 + UDP +
# payload) from WARMUP_S after all sets are up until IDLE_S later, times 3600/IDLE_S.
# IPv6 is off on the veths and the leaf link's neighbour entries are static, so neither
# router solicitations nor ARP add bytes (a cellular link has neither). Then the server
# pings the leaf over the overlay (2 pings, 2 s timeout): still_reachable = 1 if one
# answers, which needs the NAT binding to be alive (or reopened within those 3 s).
#
# mcc's learning schedule (mcc-core/src/node.rs, docs/PROTOCOL.md "Liveness and
# NAT"): the leaf's last readiness reply goes unanswered, so 20 s after the sets are up it
# checks its parent once; 5 s later a NAT probe asks the root to answer after 118 s;
# answered, the next asks for 178 s; an answer missing 10 s after its delay ends the climb
# (nothing proven yet: 58 s, then 28 s). Learning therefore ends ~330 s after the sets are
# up behind a 120 s NAT (20 + 5 + 118 + 178 + 10 s; the first rekey is put off until
# then) and ~260 s behind a 30 s NAT (118 and 58 lost, 28 answered); WARMUP_S=360 covers
# both. Afterwards a 1-byte NAT keepalive goes out every 9/10 of the learned silence
# (106.2 s / 25.2 s), and every 30 min a probe re-checks it.
# With IDLE_S=180 the window holds 1 or 2 of the 106 s keepalives: the per-hour figure is
# coarse (43 B x 20 per keepalive); use IDLE_S=3600 for an exact hour.
#
# The CSV (system,udp_timeout_s,idle_s,bytes,bytes_per_hour,still_reachable) goes to
# bench/nat-idle.csv; a system that did not come up gets NA. Logs and packet timelines
# (per second, when the leaf's veth counters moved) stay in /tmp/mcc-nat-idle-<pid>. Only
# the namespaces and addresses created here are used; everything is removed on exit (and
# sets left behind by a run that was killed are removed at the next start).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 2
REPO=$PWD
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

IDLE_S=${IDLE_S:-180}
WARMUP_S=${WARMUP_S:-360}
SYSTEMS=${SYSTEMS:-"mcc wireguard-go nebula yggdrasil"}
TIMEOUTS=${TIMEOUTS:-"30 120"}
OUT=${OUT:-$REPO/bench/nat-idle.csv}
# Namespaces, work directory and WireGuard interfaces carry this run's PID, so two runs
# (bench/run.sh calls this script too) never tear down each other's sets.
TAG=$$
W=/tmp/mcc-nat-idle-$TAG
PFX=natidle${TAG}s
T_START=$(date +%s.%N)

log() { printf '[%6.1fs] %s\n' "$(awk -v s="$T_START" -v n="$(date +%s.%N)" 'BEGIN{print n-s}')" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { date +%s.%N; }

[ "$(id -u)" = 0 ] || { echo "run as root: sudo bench/nat-idle.sh" >&2; exit 2; }
[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing" >&2; exit 2; }
export PATH=$PATH:/usr/sbin:/sbin
MCC=$REPO/target/release/mcc
MCCD=$REPO/target/release/mccd

# ---------------------------------------------------------------- tools
have() { command -v "$1" >/dev/null 2>&1; }
need=()
have iptables || need+=(iptables)
have ip || need+=(iproute2)
have ping || need+=(iputils-ping)
have python3 || need+=(python3)
for s in $SYSTEMS; do
    case $s in
    wireguard-go) have wireguard-go || need+=(wireguard-go); have wg || need+=(wireguard-tools) ;;
    nebula) have nebula || need+=(nebula) ;;
    yggdrasil) have yggdrasil || need+=(yggdrasil) ;;
    esac
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1
    for p in "${need[@]}"; do
        apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || log "could not install $p"
    done
fi
have iptables || die "iptables is missing"
run=()
for s in $SYSTEMS; do
    case $s in
    mcc) [ -x "$MCCD" ] && [ -x "$MCC" ] || { log "mcc: $MCCD missing (cargo build --release -p mcc-linux): skipped"; continue; } ;;
    wireguard-go) have wireguard-go && have wg || { log "wireguard-go: not installed, skipped"; continue; } ;;
    nebula) have nebula && have nebula-cert || { log "nebula: not installed, skipped"; continue; } ;;
    yggdrasil) have yggdrasil || { log "yggdrasil: not installed, skipped"; continue; } ;;
    *) log "unknown system $s, skipped"; continue ;;
    esac
    run+=("$s")
done
((${#run[@]})) || die "nothing to run"

# ---------------------------------------------------------------- namespaces
SETS=()      # "k system timeout"
ours() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PFX}[0-9]+-(leaf|nat|srv)$"; }
stale() { # sets of runs that are gone (killed before their cleanup)
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^natidle[0-9]+s[0-9]+-(leaf|nat|srv)$'); do
        pid=${ns#natidle}
        pid=${pid%%s*}
        kill -0 "$pid" 2>/dev/null || echo "$ns"
    done
}
teardown() { # teardown NAMESPACES...
    local ns p
    for ns in "$@"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
    done
    (($#)) && sleep 0.5
    for ns in "$@"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -f /var/run/wireguard/wg[ls]"$TAG"x[0-9]*.sock
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "${SAMPLER:-}" ] && kill "$SAMPLER" 2>/dev/null
    teardown $(ours)
    log "cleaned up (namespaces deleted; logs in $W)"
    exit "$rc"
}
teardown $(stale)
rm -rf "$W" && mkdir -p "$W"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

L() { ip netns exec "${PFX}$1-leaf" "${@:2}"; }
N() { ip netns exec "${PFX}$1-nat" "${@:2}"; }
S() { ip netns exec "${PFX}$1-srv" "${@:2}"; }
lan() { echo "10.78.$((2 * $1))"; }     # leaf .2, nat .1
wan() { echo "10.78.$((2 * $1 + 1))"; } # nat .1, srv .2
mac() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

mkset() { # mkset K TIMEOUT
    local k=$1 t=$2 l=${PFX}$1-leaf n=${PFX}$1-nat s=${PFX}$1-srv ns
    for ns in $l $n $s; do ip netns add "$ns" && ip -n "$ns" link set lo up || return 1; done
    ip link add "nl$k" netns "$l" type veth peer name "nn$k" netns "$n" || return 1
    ip link add "nw$k" netns "$n" type veth peer name "ns$k" netns "$s" || return 1
    L "$k" sysctl -qw "net.ipv6.conf.nl$k.disable_ipv6=1"
    N "$k" sysctl -qw "net.ipv6.conf.nn$k.disable_ipv6=1" "net.ipv6.conf.nw$k.disable_ipv6=1"
    S "$k" sysctl -qw "net.ipv6.conf.ns$k.disable_ipv6=1"
    ip -n "$l" addr add "$(lan "$k").2/24" dev "nl$k"
    ip -n "$n" addr add "$(lan "$k").1/24" dev "nn$k"
    ip -n "$n" addr add "$(wan "$k").1/24" dev "nw$k"
    ip -n "$s" addr add "$(wan "$k").2/24" dev "ns$k"
    ip -n "$l" link set "nl$k" up && ip -n "$n" link set "nn$k" up
    ip -n "$n" link set "nw$k" up && ip -n "$s" link set "ns$k" up
    ip -n "$l" route add default via "$(lan "$k").1"
    # Static neighbours on the counted link: no ARP bytes.
    ip -n "$l" neigh replace "$(lan "$k").1" lladdr "$(mac "$n" "nn$k")" dev "nl$k" nud permanent
    ip -n "$n" neigh replace "$(lan "$k").2" lladdr "$(mac "$l" "nl$k")" dev "nn$k" nud permanent
    N "$k" sysctl -qw net.ipv4.ip_forward=1 || return 1
    N "$k" iptables -t nat -A POSTROUTING -o "nw$k" -j MASQUERADE || return 1
    N "$k" sysctl -qw "net.netfilter.nf_conntrack_udp_timeout=$t" \
        "net.netfilter.nf_conntrack_udp_timeout_stream=$t" || return 1
    L "$k" ping -c1 -W2 "$(wan "$k").2" >/dev/null || return 1
}

wait_for() { # wait_for TIMEOUT_S CMD...: retries CMD every 0.2 s
    local t0
    t0=$(now)
    until "${@:2}" >/dev/null 2>&1; do
        awk -v s="$t0" -v n="$(now)" -v t="$1" 'BEGIN{exit !(n-s>=t)}' && return 1
        sleep 0.2
    done
}

# Each setup writes $W/set<k>.reach: the command that pings the leaf from the server.
setup_mcc() {
    local k=$1 d=$W/set$k n out sep addr
    mkdir -p "$d"
    "$MCC" generate-ca-certificate "$d/ca" >/dev/null || return 1
    NETB64=$("$MCC" generate-network-certificate --ca "$d/ca" "$d/net" | tr -d '[:space:]') || return 1
    for n in srv leaf; do
        local args=(init -C "$d/$n" --stdin)
        [ $n = leaf ] && args+=(-p "$(wan "$k").2:9376")
        out=$(ip netns exec "${PFX}$k-$n" "$MCC" "${args[@]}" "$NETB64" <"$d/net/network-private-key.txt") || return 1
        printf '%s\n' "$out" | tail -n1 | tr -d '[:space:]' >"$d/$n.id"
        sed -i -E "s|^unix-socket-path = .*|unix-socket-path = $d/$n/mcc.sock|; s|^data-dir = .*|data-dir = $d/$n/data|; s|^# *log-file *=.*|log-file = $d/$n/mccd.log|" "$d/$n/mcc.conf"
        mkdir -p "$d/$n/data"
    done
    S "$k" "$MCCD" "$d/srv" >"$d/srv.stderr" 2>&1 &
    L "$k" "$MCCD" "$d/leaf" >"$d/leaf.stderr" 2>&1 &
    wait_for 20 S "$k" "$MCC" -s "$d/srv/mcc.sock" health || return 1
    wait_for 20 L "$k" "$MCC" -s "$d/leaf/mcc.sock" health || return 1
    # The leaf serves icmp; the root is the tunnel's client, so it may ping the leaf.
    sep=$(L "$k" timeout 30 "$MCC" -s "$d/leaf/mcc.sock" create-tunnel -C "$d/leaf" \
        -p "$d/leaf/network-certificate.txt" --stdin --targets icmp --remote-node "$(cat "$d/srv.id")" \
        <"$d/net/network-private-key.txt" 2>"$d/create-tunnel.err" | tail -n1 | tr -d '[:space:]')
    [ -n "$sep" ] || { log "mcc set $k: create-tunnel: $(cat "$d/create-tunnel.err")"; return 1; }
    for _ in $(seq 300); do
        addr=$(S "$k" "$MCC" -s "$d/srv/mcc.sock" resolve "$sep" 2>/dev/null | head -n1 | tr -d '[:space:]')
        [[ $addr =~ ^[0-9]+(\.[0-9]+){3}$ ]] && break
        sleep 0.1
    done
    [[ $addr =~ ^[0-9]+(\.[0-9]+){3}$ ]] || { log "mcc set $k: resolve $sep gave '$addr'"; return 1; }
    wait_for 30 S "$k" ping -c1 -W1 "$addr" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 $addr" >"$W/set$k.reach"
}

setup_wireguard_go() {
    local k=$1 d=$W/set$k
    mkdir -p "$d"
    (umask 077; wg genkey >"$d/leaf.key"; wg genkey >"$d/srv.key")
    wg pubkey <"$d/leaf.key" >"$d/leaf.pub"
    wg pubkey <"$d/srv.key" >"$d/srv.pub"
    S "$k" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "wgs${TAG}x$k" >"$d/srv.log" 2>&1 &
    L "$k" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "wgl${TAG}x$k" >"$d/leaf.log" 2>&1 &
    wait_for 10 test -S "/var/run/wireguard/wgs${TAG}x$k.sock" -a -S "/var/run/wireguard/wgl${TAG}x$k.sock" || return 1
    S "$k" wg set "wgs${TAG}x$k" private-key "$d/srv.key" listen-port 51820 \
        peer "$(cat "$d/leaf.pub")" allowed-ips "10.79.$k.1/32" || return 1
    L "$k" wg set "wgl${TAG}x$k" private-key "$d/leaf.key" \
        peer "$(cat "$d/srv.pub")" allowed-ips "10.79.$k.2/32" endpoint "$(wan "$k").2:51820" \
        persistent-keepalive 25 || return 1
    ip -n "${PFX}$k-srv" addr add "10.79.$k.2/24" dev "wgs${TAG}x$k" && ip -n "${PFX}$k-srv" link set "wgs${TAG}x$k" up
    ip -n "${PFX}$k-leaf" addr add "10.79.$k.1/24" dev "wgl${TAG}x$k" && ip -n "${PFX}$k-leaf" link set "wgl${TAG}x$k" up
    wait_for 30 L "$k" ping -c1 -W1 "10.79.$k.2" || return 1
    wait_for 10 S "$k" ping -c1 -W1 "10.79.$k.1" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 10.79.$k.1" >"$W/set$k.reach"
}

setup_nebula() {
    local k=$1 d=$W/set$k n
    mkdir -p "$d"
    (cd "$d" && nebula-cert ca -name "natidle$k" -out-crt ca.crt -out-key ca.key >/dev/null &&
        nebula-cert sign -ca-crt ca.crt -ca-key ca.key -name srv -ip "10.80.$k.2/24" -out-crt srv.crt -out-key srv.key &&
        nebula-cert sign -ca-crt ca.crt -ca-key ca.key -name leaf -ip "10.80.$k.1/24" -out-crt leaf.crt -out-key leaf.key) || return 1
    for n in srv leaf; do
        {
            echo "pki: {ca: $d/ca.crt, cert: $d/$n.crt, key: $d/$n.key}"
            if [ $n = srv ]; then
                echo "static_host_map: {}"
                echo "lighthouse: {am_lighthouse: true}"
                echo "listen: {host: 0.0.0.0, port: 4242}"
                echo "tun: {dev: nebs$k}"
            else
                echo "static_host_map: {'10.80.$k.2': ['$(wan "$k").2:4242']}"
                echo "lighthouse: {am_lighthouse: false, hosts: ['10.80.$k.2']}"
                echo "listen: {host: 0.0.0.0, port: 0}"
                echo "tun: {dev: nebl$k}"
            fi
            echo "logging: {level: info}"
            echo "firewall: {outbound: [{port: any, proto: any, host: any}], inbound: [{port: any, proto: any, host: any}]}"
        } >"$d/$n.yml"
    done
    S "$k" nebula -config "$d/srv.yml" >"$d/srv.log" 2>&1 &
    L "$k" nebula -config "$d/leaf.yml" >"$d/leaf.log" 2>&1 &
    wait_for 30 L "$k" ping -c1 -W1 "10.80.$k.2" || return 1
    wait_for 10 S "$k" ping -c1 -W1 "10.80.$k.1" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 10.80.$k.1" >"$W/set$k.reach"
}

setup_yggdrasil() {
    local k=$1 d=$W/set$k n addr
    mkdir -p "$d"
    for n in srv leaf; do
        yggdrasil -genconf -json >"$d/$n.gen.json" || return 1
        python3 - "$d/$n.gen.json" "$d/$n.json" "$n" "$(wan "$k").2" "$k" <<'EOF' || return 1
import json, sys
c = json.load(open(sys.argv[1]))
n, srv, k = sys.argv[3], sys.argv[4], sys.argv[5]
c["AdminListen"] = "none"
c["MulticastInterfaces"] = []
c["IfName"] = ("yggs" if n == "srv" else "yggl") + k
c["Peers"] = ["tls://%s:9001" % srv] if n == "leaf" else []
c["Listen"] = ["tls://%s:9001" % srv] if n == "srv" else []
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF
    done
    addr=$(yggdrasil -useconffile "$d/leaf.json" -address) || return 1
    S "$k" yggdrasil -useconffile "$d/srv.json" >"$d/srv.log" 2>&1 &
    wait_for 10 grep -q 'listener started' "$d/srv.log" || return 1
    L "$k" yggdrasil -useconffile "$d/leaf.json" >"$d/leaf.log" 2>&1 &
    wait_for 60 S "$k" ping -c1 -W1 "$addr" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 $addr" >"$W/set$k.reach"
}

# ---------------------------------------------------------------- run
k=0
for s in "${run[@]}"; do
    for t in $TIMEOUTS; do
        k=$((k + 1))
        mkset "$k" "$t" || die "namespaces for set $k ($s, $t s)"
        SETS+=("$k $s $t")
    done
done
log "${#SETS[@]} sets: ${SETS[*]}"
pids=()
for set in "${SETS[@]}"; do
    read -r k s t <<<"$set"
    (
        if setup_"${s//-/_}" "$k" >"$W/set$k.setup.log" 2>&1; then
            log "$s behind a $t s NAT (set $k): up"
        else
            log "$s behind a $t s NAT (set $k): FAILED to come up (see $W/set$k*)"
            rm -f "$W/set$k.reach"
        fi
    ) &
    pids+=($!)
done
wait "${pids[@]}"

# Packet timeline of every leaf veth: one line per second in which its counters moved.
(
    declare -A last
    while :; do
        ts=$(date +%s)
        for set in "${SETS[@]}"; do
            read -r k s t <<<"$set"
            v=$(L "$k" cat "/sys/class/net/nl$k/statistics/tx_packets" "/sys/class/net/nl$k/statistics/rx_packets" \
                "/sys/class/net/nl$k/statistics/tx_bytes" "/sys/class/net/nl$k/statistics/rx_bytes" 2>/dev/null | tr '\n' ' ')
            [ "${last[$k]:-}" != "$v" ] && echo "$ts $v" >>"$W/set$k.timeline"
            last[$k]=$v
        done
        sleep 1
    done
) &
SAMPLER=$!

log "warm-up: $WARMUP_S s of quiet"
sleep "$WARMUP_S"
bytes() { L "$1" cat "/sys/class/net/nl$1/statistics/tx_bytes" "/sys/class/net/nl$1/statistics/rx_bytes" | awk '{s += $1} END {print s}'; }
declare -A b0
for set in "${SETS[@]}"; do
    read -r k s t <<<"$set"
    b0[$k]=$(bytes "$k")
    echo "window start $(date +%s)" >>"$W/set$k.timeline"
done
log "counting: $IDLE_S s"
sleep "$IDLE_S"
declare -A b1
for set in "${SETS[@]}"; do
    read -r k s t <<<"$set"
    b1[$k]=$(bytes "$k")
    echo "window end $(date +%s)" >>"$W/set$k.timeline"
done
echo "system,udp_timeout_s,idle_s,bytes,bytes_per_hour,still_reachable" >"$W/nat-idle.csv"
for set in "${SETS[@]}"; do
    read -r k s t <<<"$set"
    if [ ! -f "$W/set$k.reach" ]; then
        echo "$s,$t,$IDLE_S,NA,NA,NA" >>"$W/nat-idle.csv"
        continue
    fi
    n=$((b1[$k] - b0[$k]))
    read -r -a cmd <"$W/set$k.reach"
    if "${cmd[@]}" >"$W/set$k.reach.log" 2>&1; then r=1; else r=0; fi
    N "$k" cat /proc/net/nf_conntrack >"$W/set$k.conntrack" 2>/dev/null
    ph=$(awk -v b="$n" -v t="$IDLE_S" 'BEGIN{printf "%.0f", b * 3600 / t}')
    log "$s, $t s NAT: $n B in $IDLE_S s = $ph B/h, still reachable: $r"
    echo "$s,$t,$IDLE_S,$n,$ph,$r" >>"$W/nat-idle.csv"
done
cp "$W/nat-idle.csv" "$OUT"
log "done: $OUT"
cat "$OUT"
