#!/usr/bin/env bash
# End-to-end test of certificate renewal through the network (docs/RENEWAL.md) with real
# daemons: r is the root and the renewal service (cert-update-key = the network key), a and
# b its children; a serves a tunnel (icmp, udp) to b; x is a node of a second network r
# trusts, so r links it but its renewal is refused. Every node and tunnel certificate lives
# 1 minute (`--lifetime 1m`); the network runs 5 lifetimes with b pinging a's server
# endpoint 5 times a second the whole time.
#
#   sudo bash tests/e2e/renewal.sh                              # 1-minute certificates, 5 min
#   sudo RENEWAL_LIFETIME_MIN=2 bash tests/e2e/renewal.sh       # 2-minute certificates, 10 min
#
#   1 no ping lost in 5 lifetimes of the certificates (RENEWAL_RUN_SECS overrides the run)
#   2 a's and b's node certificates and both copies of the tunnel certificate on disk were
#     renewed (valid until after the run), with the same bytes on both ends of the tunnel
#   3 r refused x's renewal (another network), and r dropped x when x's certificate expired
#   4 mccd -C lists the cert-update keys with their defaults
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccren /tmp/mccren
CHECKS=1
PORT=9376
R_IP=10.234.0.1
LIFE_MIN=${RENEWAL_LIFETIME_MIN:-1}
LIFE_SECS=$((LIFE_MIN * 60))
RUN_SECS=${RENEWAL_RUN_SECS:-$((5 * LIFE_SECS))}
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"

need_root
need_tools ip:iproute2 ping:iputils-ping python3:python3 || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- nodes

ns_add r a b x || die "namespaces"
bridge r br0 || die "bridge"
ns_ip r br0 "$R_IP/24" || die "r address"
i=2
for n in a b x; do
    bridge_port r br0 "v$n" "$n" eth0 "10.234.0.$i/24" || die "link $n"
    i=$((i + 1))
done
pki "$W" || die "CA and network certificate"
NET1_B64=$NETB64
NET1_KEY=$NETKEY
NET2_B64=$("$MCC" generate-network-certificate --ca "$W/ca" --name other "$W/net2" | tr -d '[:space:]')
NET2_KEY=$W/net2/network-private-key.txt
[ -n "$NET2_B64" ] || die "second network"

# node NS NAME PARENTS NETKEY [KEY VALUE]...: mcc init, then a 2-minute node certificate.
declare -A ID
node() {
    local ns=$1 name=$2 d=$W/$2 parents=$3 key=$4
    shift 4
    mcc_node "$ns" "$d" "$parents" keep-alive-period 5s cert-update-period 5s "$@" || return 1
    ID[$name]=$(nsx "$ns" "$MCC" generate-node-certificate -y --lifetime ${LIFE_MIN}m -p "$d/network-certificate.txt" \
        --stdin "$d" <"$key" 2>>"$d.init.err" | tail -n 1 | tr -d '[:space:]')
    [[ ${ID[$name]} =~ ^[0-9a-z]{52}$ ]] || { log "generate-node-certificate $d: $(cat "$d.init.err")"; return 1; }
}
network_of() { "$MCC" certificates --json "$1/mcc.conf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_certificate"]["issuer"])'; }

node r r "" "$NET1_KEY" || die "r"
cp "$NET1_KEY" "$W/r/network-private-key.txt" && chmod 600 "$W/r/network-private-key.txt"
NET1=$(network_of "$W/r")
mcc_set "$W/r/mcc.conf" cert-update-key network-private-key.txt cert-update-addr "${ID[r]}" || die "r renewal keys"
node a a "$R_IP:$PORT" "$NET1_KEY" cert-update-addr "${ID[r]}" || die "a"
node b b "$R_IP:$PORT" "$NET1_KEY" cert-update-addr "${ID[r]}" || die "b"
NETB64=$NET2_B64 NETKEY=$NET2_KEY node x x "$R_IP:$PORT" "$NET2_KEY" cert-update-addr "${ID[r]}" || die "x"
NET2=$(network_of "$W/x")
# r and x trust each other's network: x links, only its renewal is refused.
cp "$W/x/network-certificate.txt" "$W/r/network-certificate-2.txt"
cp "$W/r/network-certificate.txt" "$W/x/network-certificate-1.txt"
mcc_set "$W/r/mcc.conf" network-certificates network-certificate.txt,network-certificate-2.txt trusted-networks "$NET2" || die "r trust"
mcc_set "$W/x/mcc.conf" network-certificates network-certificate.txt,network-certificate-1.txt trusted-networks "$NET1" || die "x trust"
log "r = ${ID[r]} (service), a = ${ID[a]}, b = ${ID[b]}, x = ${ID[x]} (network $NET2)"

for n in r a b x; do mccd_start "$n" "$W/$n" || die "mccd $n"; done
for n in r a b x; do wait_until 20 0.2 mccd_healthy "$n" "$W/$n" || die "mccd $n not healthy"; done
linked() { mcc_in r "$W/r" nodes 2>/dev/null | grep -q "$1"; } # linked ID: r lists it
for n in a b x; do wait_until 30 0.5 linked "${ID[$n]}" || die "$n did not join r"; done
X_EXPIRY=$(( $(date +%s) + LIFE_SECS ))

mcc_tunnel a "$W/a" "${ID[b]}" icmp,udp:7000 --lifetime ${LIFE_MIN}m || die "mcc create-tunnel"
mcc_resolve_wait 30 b "$W/b" "$SEP" || die "b does not resolve the server endpoint"
log "server endpoint $SEP at $ADDR on b"
wait_until 30 0.5 nsx b ping -c 1 -W 1 "$ADDR" >/dev/null || die "no ping through the tunnel"

# ---------------------------------------------------------------- 1 traffic through renewals

log "pinging $ADDR from b for $RUN_SECS s (5 per second)"
count=$((RUN_SECS * 5))
nsx b ping -i 0.2 -W 2 -c "$count" "$ADDR" >"$W/ping.log" 2>&1
summary=$(grep 'packets transmitted' "$W/ping.log")
log "ping: $summary"
sent=$(awk '{print $1}' <<<"$summary")
got=$(awk '{print $4}' <<<"$summary")
check "1 no ping lost across renewals ($got of $sent, $count sent)" [ "${sent:-0}" = "$count" -a "${got:-x}" = "$count" ]

# ---------------------------------------------------------------- 2 renewed on disk

END=$(date +%s)
not_after() { # not_after FILE: the certificate's end, Unix seconds
    "$MCC" certificates --json "$1" | python3 -c '
import json, sys, datetime
v = json.load(sys.stdin)["node_certificate"]["not_after"]
print(int(datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()))'
}
for n in a b; do
    na=$(not_after "$W/$n/mcc.conf")
    check "2 $n's node certificate on disk renewed (valid until $na, run ended $END)" [ "${na:-0}" -gt "$END" ]
done
TA=$(ls "$W"/a/tunnels/*-certificate.txt 2>/dev/null | head -n 1)
TB=$(ls "$W"/b/tunnels/*-certificate.txt 2>/dev/null | head -n 1)
check "2 the tunnel certificate is the same on both ends" cmp -s "$TA" "$TB"
# One renewal each half lifetime (past the midpoint); the first comes half a lifetime in.
MIN=$((RUN_SECS * 2 / LIFE_SECS - 2)); ((MIN >= 1)) || MIN=1
renewals() { grep -c "$1 certificate renewed" "$2" 2>/dev/null; }
for n in a b; do
    k=$(renewals node "$W/$n/mccd.log"); t=$(renewals tunnel "$W/$n/mccd.log")
    log "$n: $k node and $t tunnel certificate renewals"
    check "2 $n renewed its node certificate at least $MIN times ($k)" [ "$k" -ge "$MIN" ]
    check "2 $n swapped in the renewed tunnel certificate at least $MIN times ($t)" [ "$t" -ge "$MIN" ]
done
check_not "2 no certificate lapsed on a or b" grep -q "tunnel removed\|link dropped" "$W/a/mccd.log" "$W/b/mccd.log"

# ---------------------------------------------------------------- 3 refused node drops out

check "3 r refused x's renewal: another network" grep -q "certificate renewal for ${ID[x]} refused: certificate is from another network" "$W/r/mccd.log"
check "3 r dropped x when its certificate expired" grep -q "certificate of ${ID[x]}: certificate has expired; link dropped" "$W/r/mccd.log"
check_not "3 x is not linked any more" linked "${ID[x]}"
log "x's certificate expired at $X_EXPIRY"

# ---------------------------------------------------------------- 4 keys

keys=$("$MCCD" -C)
check "4 mccd -C lists cert-update-enable = true" grep -qx "cert-update-enable = true" <<<"$keys"
check "4 mccd -C lists cert-update-period = 3h" grep -qx "cert-update-period = 3h" <<<"$keys"
check "4 mccd -C lists cert-update-addr (empty by default)" grep -qx "# cert-update-addr =" <<<"$keys"
check "4 mccd -C lists cert-update-key (empty by default)" grep -qx "# cert-update-key =" <<<"$keys"
