#!/usr/bin/env bash
# End-to-end test of a consortium (docs/SECURITY.md "Consortium"): two organisations, each
# with a CA of its own and a network certificate signed by it, share one tree. Each side
# lists the other's network certificate in `network-certificates` and its key in
# `trusted-networks`; B's boundary node shares only b2 with A (`shared-nodes`).
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/consortium.sh
#
#   ra (A, root) ── a1 (A) ── a2 (A, tunnel client)
#    │               └── b1 (B, boundary, shared-nodes = b2) ── b2 (B, server), b3 (B,
#    │                                                           hidden), a4 (A)
#    └── a3 (A, knows B's certificate but does not trust B)
#
#   1 A's root and relay list b1, b2 and a4, not b3; b1 lists its whole subtree
#   2 a tunnel from b2 (B's CA) to a2 (A's CA) carries ping and curl
#   3 with dig against each node's DNS server: A cannot resolve b3, not from a2 (asked up
#     A's tree), not from a4 (asked of b1 itself); A resolves b2; B resolves b3 and a2
#   4 trust must be mutual: a3 (which does not trust B) refuses the tunnel b2 offers it:
#     no tunnel file, nothing gets through
#   5 mccd -C lists shared-nodes = all; a bad value is refused with file and line
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mcccons /tmp/mcccons
CHECKS=1
PORT=9376
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"

need_root
need_tools ip:iproute2 ping:iputils-ping curl:curl dig:dnsutils python3:python3 || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- two organisations

NODES=(ra a1 a2 a3 a4 b1 b2 b3)
ns_add "${NODES[@]}" || die "namespaces"
star 10.236.0 "${NODES[@]}" || die "links"
pki "$W/pa" ca-a net-a || die "A's CA and network"
A_B64=$NETB64 A_KEY=$NETKEY
pki "$W/pb" ca-b net-b || die "B's CA and network"
B_B64=$NETB64 B_KEY=$NETKEY
network_of() { "$MCC" certificates --json "$1/mcc.conf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_certificate"]["issuer"])'; }

declare -A ID NET
# node NAME ORG PARENT [KEY VALUE]...: mcc init of NAME in network ORG (a or b).
node() {
    local name=$1 org=$2 parent=$3 d=$W/$1
    shift 3
    if [ "$org" = a ]; then NETB64=$A_B64 NETKEY=$A_KEY; else NETB64=$B_B64 NETKEY=$B_KEY; fi
    mcc_node "$name" "$d" "${parent:+${IP[$parent]}:$PORT}" dns-names "$name" network-lookup-timeout 5s "$@" || return 1
    ID[$name]=$NODE_ID
    NET[$name]=$org
}
node ra a "" || die "ra"
node a1 a ra || die "a1"
node a2 a a1 || die "a2"
node a3 a ra || die "a3"
node b1 b a1 || die "b1"
node b2 b b1 || die "b2"
node b3 b b1 || die "b3"
node a4 a b1 || die "a4"
NET_A=$(network_of "$W/ra")
NET_B=$(network_of "$W/b1")
[ "$NET_A" != "$NET_B" ] || die "one network"
cp "$W/ra/network-certificate.txt" "$W/net-a.txt"
cp "$W/b1/network-certificate.txt" "$W/net-b.txt"
for n in "${NODES[@]}"; do
    if [ "${NET[$n]}" = a ]; then other=net-b.txt trust=$NET_B; else other=net-a.txt trust=$NET_A; fi
    cp "$W/$other" "$W/$n/$other"
    # a3 knows B's certificate but does not trust B.
    [ "$n" = a3 ] && trust=
    mcc_set "$W/$n/mcc.conf" network-certificates "network-certificate.txt,$other" trusted-networks "$trust" || die "$n trust"
done
mcc_set "$W/b1/mcc.conf" shared-nodes "${ID[b2]}" || die "b1 shared-nodes"
log "A = $NET_A, B = $NET_B; b1 shares ${ID[b2]} (b2) only; b3 = ${ID[b3]}"

for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n" || die "mccd $n"; done
for n in "${NODES[@]}"; do wait_until 20 0.2 mccd_healthy "$n" "$W/$n" || die "mccd $n not healthy"; done
lists_id() { mcc_in "$1" "$W/$1" nodes 2>/dev/null | grep -q "$2"; } # lists_id AT ID
lists() { lists_id "$1" "${ID[$2]}"; }                                 # lists AT NODE
wait_until 40 0.5 lists ra b2 || die "b2 never reached A's root"
wait_until 40 0.5 lists ra a4 || die "a4 never reached A's root"
wait_until 40 0.5 lists b1 b3 || die "b3 never joined b1"
wait_until 40 0.5 lists ra a3 || die "a3 never joined ra"

# ---------------------------------------------------------------- 1 what A sees

for at in ra a1; do
    for n in b1 b2 a4; do check "1 $at lists $n" lists "$at" "$n"; done
    check_not "1 $at does not list the hidden b3" lists "$at" b3
done
for n in b2 b3 a4; do check "1 b1 lists $n" lists b1 "$n"; done

# ---------------------------------------------------------------- 2 a tunnel across

mkdir -p "$W/www" && echo "consortium-marker" >"$W/www/marker.txt"
spawn b2 "$W/http.log" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$W/www"
NETKEY=$B_KEY mcc_tunnel b2 "$W/b2" "${ID[a2]}" icmp,tcp:8080 || die "create-tunnel on b2"
SEP2=$SEP
mcc_resolve_wait 30 a2 "$W/a2" "$SEP2" || die "a2 does not resolve b2's server endpoint"
check "2 ping from a2 through the tunnel to b2 (B's CA)" wait_until 20 0.5 nsx a2 ping -c 1 -W 1 "$ADDR"
got() { [ "$(nsx a2 curl -s --noproxy '*' --max-time 3 "http://$ADDR:8080/marker.txt")" = consortium-marker ]; }
check "2 curl from a2 through the tunnel to b2" wait_until 20 0.5 got
check "2 A's root lists b2's server endpoint (hosted by a shared node)" lists_id ra "$SEP2"

# ---------------------------------------------------------------- 3 lookups

# resolves AT NAME: the node's DNS server answers NAME.home.arpa (a name not known there is
# asked up the tree; unanswered, the lookup ends after network-lookup-timeout).
resolves() { nsx "$1" timeout 12 dig @127.0.0.1 -p 8353 +short +time=10 +tries=1 "$2.home.arpa" A | grep -Eq '^[0-9]+(\.[0-9]+){3}$'; }
check "3 a2 resolves the shared b2" resolves a2 b2
check_not "3 a2 cannot resolve the hidden b3" resolves a2 b3
check_not "3 a4 (A's node under b1) cannot resolve b3: b1 filters its answer" resolves a4 b3
check "3 a4 resolves the shared b2 from b1" resolves a4 b2
check "3 b2 resolves b3 (its own network)" resolves b2 b3
check "3 b2 resolves a2 (A shares everything by default)" resolves b2 a2

# ---------------------------------------------------------------- 4 one-sided trust

NETKEY=$B_KEY mcc_tunnel b2 "$W/b2" "${ID[a3]}" icmp || die "create-tunnel to a3"
SEP3=$SEP
sleep 5
A3_TO=$(mcc_in a3 "$W/a3" resolve "$SEP3" 2>/dev/null | head -n 1)
check_not "4 a3 (not trusting B) reaches nothing through b2's tunnel ($A3_TO)" nsx a3 ping -c 3 -W 1 "$A3_TO"
check_not "4 a3 wrote no tunnel file" sh -c "ls '$W/a3/tunnels/'*.conf 2>/dev/null | grep -q ."

# ---------------------------------------------------------------- 5 the key

check "5 mccd -C lists shared-nodes = all" sh -c "'$MCCD' -C | grep -qx 'shared-nodes = all'"
mkdir -p "$W/bad" && printf 'listen-addr = 0.0.0.0:1\nshared-nodes = nobody\n' >"$W/bad/mcc.conf"
out=$("$MCCD" "$W/bad" 2>&1)
check "5 a bad shared-nodes names file and line ($out)" grep -q "$W/bad/mcc.conf:2: shared-nodes: invalid node ID \"nobody\"" <<<"$out"
