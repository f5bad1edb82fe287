#!/usr/bin/env bash
# End-to-end test of one name with many providers and of tags (docs/PROTOCOL.md "One name,
# many providers"): two server nodes each create a tunnel named `web` to one client; both
# servers carry the tag `meter`.
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/providers.sh
#
#   r (root) ── s1 (server, tags = meter), s2 (server, tags = meter), c (client)
#
#   1 `mcc resolve web` on c lists both providers; dig answers two A records, in an order
#     that rotates; curl to the first answer reaches each server over successive answers
#   2 `meter._tag` answers both providers (one lookup up the tree); r's `mcc nodes` shows
#     the tags; a bad tag is refused with file and line
#   3 s2's daemon stops: c's traffic to it goes unanswered, and within the stated bound
#     (5 s; 12 s allowed) dig and `mcc resolve` answer s1 only, and curl to the answer works
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccprov /tmp/mccprov
CHECKS=1
PORT=9376
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"

need_root
need_tools ip:iproute2 curl:curl dig:dnsutils python3:python3 || exit 2
need_tun

lib_start
build_release mcc-linux

NODES=(r s1 s2 c)
ns_add "${NODES[@]}" || die "namespaces"
star 10.242.0 "${NODES[@]}" || die "links"
pki "$W/pki" ca net || die "CA and network"
declare -A ID
node() {
    local name=$1 parent=$2 d=$W/$1
    shift 2
    mcc_node "$name" "$d" "${parent:+${IP[$parent]}:$PORT}" network-lookup-timeout 5s "$@" || return 1
    ID[$name]=$NODE_ID
}
node r "" || die "r"
node s1 r tags meter,Site-1 || die "s1"
node s2 r tags meter || die "s2"
node c r || die "c"
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n" || die "mccd $n"; done
for n in "${NODES[@]}"; do wait_until 20 0.2 mccd_healthy "$n" "$W/$n" || die "mccd $n not healthy"; done

declare -A SEPOF
for s in s1 s2; do
    mkdir -p "$W/www-$s" && echo "$s" >"$W/www-$s/who.txt"
    spawn "$s" "$W/http-$s.log" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$W/www-$s"
    mcc_tunnel "$s" "$W/$s" "${ID[c]}" tcp:8080 --dns-names web || die "create-tunnel on $s"
    SEPOF[$s]=$SEP
done
for s in s1 s2; do mcc_resolve_wait 30 c "$W/c" "${SEPOF[$s]}" || die "c does not resolve $s's endpoint"; done

# ---------------------------------------------------------------- 1 one name, two providers

digs() { nsx c timeout 12 dig @127.0.0.1 -p 8353 +short +time=10 +tries=1 "$1.home.arpa" A | grep -E '^[0-9]+(\.[0-9]+){3}$'; }
count() { digs "$1" | wc -l; }
resolve_all() { mcc_in c "$W/c" resolve "$1" 2>/dev/null | grep -Ec '^[0-9]+(\.[0-9]+){3}$'; }
two_resolved() { [ "$(resolve_all web)" = 2 ]; }
check "1 mcc resolve web lists both providers" wait_until 20 0.5 two_resolved
two_dug() { [ "$(count web)" = 2 ]; }
check "1 dig web.home.arpa answers two A records" wait_until 20 0.5 two_dug
firsts=$(for _ in 1 2 3 4; do digs web | head -n 1; done | sort -u | wc -l)
check "1 the first answer rotates ($firsts distinct first answers in 4)" [ "$firsts" = 2 ]
who() { nsx c curl -s --noproxy '*' --max-time 3 "http://$1:8080/who.txt"; }
served=""
for _ in 1 2 3 4; do served+=" $(who "$(digs web | head -n 1)")"; done
log "curl to the first answer, 4 times:$served"
check "1 successive flows reach s1" grep -qw s1 <<<"$served"
check "1 successive flows reach s2" grep -qw s2 <<<"$served"

# ---------------------------------------------------------------- 2 tags

two_tagged() { [ "$(count meter._tag)" = 2 ]; }
check "2 dig meter._tag.home.arpa answers both providers" wait_until 20 0.5 two_tagged
tagged_addrs=$(digs meter._tag | sort | tr '\n' ' ')
web_addrs=$(digs web | sort | tr '\n' ' ')
check "2 the tag's answers are the providers' addresses ($tagged_addrs = $web_addrs)" [ "$tagged_addrs" = "$web_addrs" ]
nodes=$(mcc_in r "$W/r" nodes)
check "2 r's mcc nodes shows s1's tags" grep -Eq "^[[:space:]]*${ID[s1]}[[:space:]].*meter,site-1" <<<"$nodes"
check "2 r's mcc nodes shows s2's server endpoint tagged" grep -Eq "^[[:space:]]*${SEPOF[s2]}[[:space:]].*meter" <<<"$nodes"
mkdir -p "$W/bad" && printf 'listen-addr = 0.0.0.0:9\n\ntags = a_b\n' >"$W/bad/mcc.conf"
out=$("$MCCD" "$W/bad" 2>&1)
check "2 a bad tag names file and line ($out)" grep -q "$W/bad/mcc.conf:3: tags: invalid tag" <<<"$out"

# ---------------------------------------------------------------- 3 a provider dies

S2_ADDR=$(mcc_in c "$W/c" resolve "${SEPOF[s2]}" | head -n 1)
mccd_stop "$W/s2"
T0=$(now)
one_left() {
    # A flow that started at s2 keeps sending (each try is one SYN through the tunnel).
    nsx c curl -s --noproxy '*' --max-time 0.5 "http://$S2_ADDR:8080/who.txt" >/dev/null
    [ "$(count web)" = 1 ] && [ "$(resolve_all web)" = 1 ]
}
check "3 after s2 stops, dig and mcc resolve answer one provider" wait_until 20 0.5 one_left
log "s2 left out after $(since "$T0") s (bound: PROBE_AFTER + PROVIDER_TIMEOUT = 5 s plus the 0.5 s polls)"
gone=$(since "$T0" 0)
check "3 within 12 s ($gone s)" [ "$gone" -le 12 ]
check "3 the answer left is s1, and curl to it works" eval '[ "$(who "$(digs web)")" = s1 ]'
check "3 c logged the provider down" grep -q "provider ${SEPOF[s2]} does not answer" "$W/c/mccd.log"

