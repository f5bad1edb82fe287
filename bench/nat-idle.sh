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
#   natidle<pid>-leaf<k> --veth-- natidle<pid>-nat<k> --veth-- natidle<pid>-srv<k>
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
. tests/e2e/lib.sh
. bench/peers.sh
# Namespaces, work directory and WireGuard interfaces carry this run's PID, so two runs
# (bench/run.sh calls this script too) never tear down each other's sets.
TAG=$$
lib_init "natidle$TAG" "/tmp/mcc-nat-idle-$TAG"
LOG_FD=2

IDLE_S=${IDLE_S:-180}
WARMUP_S=${WARMUP_S:-360}
SYSTEMS=${SYSTEMS:-"mcc wireguard-go nebula yggdrasil"}
TIMEOUTS=${TIMEOUTS:-"30 120"}
OUT=${OUT:-$REPO/bench/nat-idle.csv}

need_root
need_tun

# ---------------------------------------------------------------- tools
have() { command -v "$1" >/dev/null 2>&1; }
need=(iptables:iptables ip:iproute2 ping:iputils-ping python3:python3)
for s in $SYSTEMS; do
    case $s in
    wireguard-go) need+=(wireguard-go:wireguard-go wg:wireguard-tools) ;;
    nebula) need+=(nebula:nebula) ;;
    yggdrasil) need+=(yggdrasil:yggdrasil) ;;
    esac
done
need_tools "${need[@]}"        # a peer that stays missing is skipped below
have iptables || die "iptables is missing"
run=()
for s in $SYSTEMS; do
    case $s in
    mcc) use_bins "$REPO/target/release" || { log "mcc: $MCCD missing (cargo build --release -p mcc-linux): skipped"; continue; } ;;
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
# The WireGuard control sockets of run TAG are outside its namespaces.
rm_wg_sockets() { rm -f /var/run/wireguard/wg[ls]"$1"x[0-9]*.sock; }
on_cleanup() { rm_wg_sockets "$TAG"; }
# Sets of runs that are gone (killed before their cleanup).
for pid in $(ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^natidle([0-9]+)-.*/\1/p' | sort -u); do
    kill -0 "$pid" 2>/dev/null || { teardown_prefix "natidle$pid"; rm_wg_sockets "$pid"; }
done
lib_start

L() { nsx "leaf$1" "${@:2}"; }
N() { nsx "nat$1" "${@:2}"; }
S() { nsx "srv$1" "${@:2}"; }
lan() { echo "10.78.$((2 * $1))"; }     # leaf .2, nat .1
wan() { echo "10.78.$((2 * $1 + 1))"; } # nat .1, srv .2
mac() { nsx "$1" cat "/sys/class/net/$2/address"; }

mkset() { # mkset K TIMEOUT
    local k=$1 t=$2
    ns_add "leaf$k" "nat$k" "srv$k" || return 1
    veth "leaf$k" "nl$k" "nat$k" "nn$k" "$(lan "$k").2/24" "$(lan "$k").1/24" || return 1
    veth "nat$k" "nw$k" "srv$k" "ns$k" "$(wan "$k").1/24" "$(wan "$k").2/24" || return 1
    L "$k" sysctl -qw "net.ipv6.conf.nl$k.disable_ipv6=1"
    N "$k" sysctl -qw "net.ipv6.conf.nn$k.disable_ipv6=1" "net.ipv6.conf.nw$k.disable_ipv6=1"
    S "$k" sysctl -qw "net.ipv6.conf.ns$k.disable_ipv6=1"
    ns_route "leaf$k" default "$(lan "$k").1"
    # Static neighbours on the counted link: no ARP bytes.
    ip -n "$P-leaf$k" neigh replace "$(lan "$k").1" lladdr "$(mac "nat$k" "nn$k")" dev "nl$k" nud permanent
    ip -n "$P-nat$k" neigh replace "$(lan "$k").2" lladdr "$(mac "leaf$k" "nl$k")" dev "nn$k" nud permanent
    ns_masquerade "nat$k" "nw$k" || return 1
    N "$k" sysctl -qw "net.netfilter.nf_conntrack_udp_timeout=$t" \
        "net.netfilter.nf_conntrack_udp_timeout_stream=$t" || return 1
    L "$k" ping -c1 -W2 "$(wan "$k").2" >/dev/null || return 1
}

wait_for() { wait_until "$1" 0.2 "${@:2}" >/dev/null 2>&1; } # wait_for TIMEOUT_S CMD...: quietly

# Each setup writes $W/set<k>.reach: the command that pings the leaf from the server.
setup_mcc() {
    local k=$1
    local d=$W/set$k
    pki "$d" || return 1
    mcc_node "srv$k" "$d/srv" "" || return 1
    mcc_node "leaf$k" "$d/leaf" "$(wan "$k").2:9376" || return 1
    mccd_start "srv$k" "$d/srv"
    mccd_start "leaf$k" "$d/leaf"
    wait_for 20 mccd_healthy "srv$k" "$d/srv" || return 1
    wait_for 20 mccd_healthy "leaf$k" "$d/leaf" || return 1
    # The leaf serves icmp; the root is the tunnel's client, so it may ping the leaf.
    mcc_tunnel "leaf$k" "$d/leaf" "$(cat "$d/srv.id")" icmp || return 1
    mcc_resolve_wait 30 "srv$k" "$d/srv" "$SEP" || { log "mcc set $k: resolve $SEP gave '$ADDR'"; return 1; }
    wait_for 30 S "$k" ping -c1 -W1 "$ADDR" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 $ADDR" >"$W/set$k.reach"
}

setup_wireguard_go() {
    local k=$1
    local d=$W/set$k
    mkdir -p "$d"
    wg_keys "$d" leaf srv || return 1
    spawn "srv$k" "$d/srv.log" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "wgs${TAG}x$k"
    spawn "leaf$k" "$d/leaf.log" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "wgl${TAG}x$k"
    wait_for 10 test -S "/var/run/wireguard/wgs${TAG}x$k.sock" -a -S "/var/run/wireguard/wgl${TAG}x$k.sock" || return 1
    S "$k" wg set "wgs${TAG}x$k" private-key "$d/srv.key" listen-port 51820 \
        peer "$(cat "$d/leaf.pub")" allowed-ips "10.79.$k.1/32" || return 1
    L "$k" wg set "wgl${TAG}x$k" private-key "$d/leaf.key" \
        peer "$(cat "$d/srv.pub")" allowed-ips "10.79.$k.2/32" endpoint "$(wan "$k").2:51820" \
        persistent-keepalive 25 || return 1
    ns_ip "srv$k" "wgs${TAG}x$k" "10.79.$k.2/24"
    ns_ip "leaf$k" "wgl${TAG}x$k" "10.79.$k.1/24"
    wait_for 30 L "$k" ping -c1 -W1 "10.79.$k.2" || return 1
    wait_for 10 S "$k" ping -c1 -W1 "10.79.$k.1" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 10.79.$k.1" >"$W/set$k.reach"
}

setup_nebula() {
    local k=$1
    local d=$W/set$k n
    mkdir -p "$d"
    nebula_pki "$d" "natidle$k" "srv:10.80.$k.2/24" "leaf:10.80.$k.1/24" || return 1
    for n in srv leaf; do
        {
            if [ $n = srv ]; then
                echo "static_host_map: {}"
                echo "lighthouse: {am_lighthouse: true}"
                echo "listen: {host: 0.0.0.0, port: 4242}"
                nebula_node "$d" srv "nebs$k"
            else
                echo "static_host_map: {'10.80.$k.2': ['$(wan "$k").2:4242']}"
                echo "lighthouse: {am_lighthouse: false, hosts: ['10.80.$k.2']}"
                echo "listen: {host: 0.0.0.0, port: 0}"
                nebula_node "$d" leaf "nebl$k"
            fi
        } >"$d/$n.yml"
    done
    spawn "srv$k" "$d/srv.log" nebula -config "$d/srv.yml"
    spawn "leaf$k" "$d/leaf.log" nebula -config "$d/leaf.yml"
    wait_for 30 L "$k" ping -c1 -W1 "10.80.$k.2" || return 1
    wait_for 10 S "$k" ping -c1 -W1 "10.80.$k.1" || return 1
    echo "S $k ping -c 2 -i 1 -W 2 10.80.$k.1" >"$W/set$k.reach"
}

setup_yggdrasil() {
    local k=$1
    local d=$W/set$k n addr
    mkdir -p "$d"
    ygg_conf "$d/srv.json" "yggs$k" "" "tls://$(wan "$k").2:9001" &&
        ygg_conf "$d/leaf.json" "yggl$k" "tls://$(wan "$k").2:9001" "" || return 1
    addr=$(yggdrasil -useconffile "$d/leaf.json" -address) || return 1
    spawn "srv$k" "$d/srv.log" yggdrasil -useconffile "$d/srv.json"
    wait_for 10 grep -q 'listener started' "$d/srv.log" || return 1
    spawn "leaf$k" "$d/leaf.log" yggdrasil -useconffile "$d/leaf.json"
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
BG[$!]=1     # the EXIT trap ends the sampler too

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
