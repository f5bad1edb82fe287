#!/usr/bin/env bash
# End-to-end test of pinned parents (docs/SECURITY.md, "Pinned parents") with real daemons:
# a parent p and its child c in two namespaces; x is a second node certified by the same
# network, run in p's place (same namespace, IP and port) while p's daemon is stopped.
#
#   sudo bash tests/e2e/pinning.sh
#
#   1 c joins p and remembers p's node ID in data-dir/parent-pins.json
#   2 p stops, x starts at p's address: c refuses it. c's Inits name p (their responder
#     tag), so x drops them unanswered: `mcc parent` on c does not show x, x has no link
#     with c, and c's log and `mcc health` name the address and p's ID with what to do
#   3 c's daemon restarts: the remembered pin holds, x is still refused
#   4 with parents-allow-id-change = true c takes x and remembers x instead
#   5 parents = P_ID@ip:port: x is refused even so (a configured pin holds whatever the
#     allow key says, with a warning that it differs from the remembered one); once p is
#     back at its address c joins it; a malformed pin stops mccd naming file, line and entry
#   6 parents by host name (parents-resolve-period): c's parent is parent.test:9376, a name
#     in a hosts file only c's namespace sees (`ip netns exec` binds /etc/netns/NS/hosts over
#     /etc/hosts, for that process alone); p moves to another address and the name follows:
#     c finds p at the new address without a restart, and the pin stays keyed by the name
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccpin /tmp/mccpin
CHECKS=1
PORT=9376
P_IP=10.233.0.1
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr"

need_root
need_tools ip:iproute2 tcpdump:tcpdump || exit 2
need_tun
# c's private hosts file (step 6); the host's own /etc/hosts is never touched.
HOSTS_DIR=/etc/netns/$P-c
on_cleanup() {
    rm -rf "$HOSTS_DIR"
    rmdir /etc/netns 2>/dev/null
    return 0
}
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- nodes

ns_add p c || die "namespaces"
veth p eth0 c eth0 "$P_IP/24" 10.233.0.2/24 || die "veth"
pki "$W" || die "CA and network certificate"
mcc_node p "$W/p" "" keep-alive-period 2s || die "mcc init p"
P_ID=$NODE_ID
# The impostor: certified by the same network, configured like p (a root on the same port).
mcc_node p "$W/x" "" keep-alive-period 2s || die "mcc init x"
X_ID=$NODE_ID
mcc_node c "$W/c" "$P_IP:$PORT" keep-alive-period 2s rejoin-period 3s || die "mcc init c"
C_ID=$NODE_ID
PINS=$W/c/data/parent-pins.json
CLOG=$W/c/mccd.log
log "p = $P_ID, x = $X_ID, c = $C_ID"

# c_parent_is ID: `mcc parent --id` on c is ID.
c_parent_is() { [ "$(mcc_in c "$W/c" parent --id 2>/dev/null)" = "$1" ]; }
# refusals: how many times c logged that its handshakes meant for p went unanswered at
# p's address (x, an honest node, drops Inits that name another node).
refusals() { grep -c "parent $P_IP:$PORT: no answer to a round of handshakes meant for node $P_ID" "$CLOG" 2>/dev/null; }
# refused_more N: c logged that more than N times.
refused_more() { [ "$(refusals)" -gt "$1" ]; }
pinned_to() { grep -q "\"$P_IP:$PORT\": \"$1\"" "$PINS"; } # pinned_to ID: the file says so
x_lists_c() { mcc_in p "$W/x" nodes 2>/dev/null | grep -q "$C_ID"; }
# x_linked_c: x logged a link with c (the responder's side of a confirmed session; an
# Init alone only leaves c in x's peer table, unconfirmed).
x_linked_c() { grep -q "link up with $C_ID" "$W/x/mccd.log" 2>/dev/null; }
x_took_c() { x_linked_c && x_lists_c; }
# swap A B: stops A's daemon (in p's namespace) and starts B's at the same address.
swap() {
    mccd_stop "$W/$1" || log "mccd $1 exited with $?"
    mccd_start p "$W/$2"
    wait_until 10 0.2 mccd_healthy p "$W/$2" || die "mccd $2 did not start"
}
restart_c() {
    mccd_stop "$W/c" || log "mccd c exited with $?"
    mccd_start c "$W/c"
}

# ---------------------------------------------------------------- 1 first contact

mccd_start p "$W/p"
mccd_start c "$W/c"
wait_until 30 0.3 c_parent_is "$P_ID" || die "c did not join p within 30 s"
check "1a c's parent is p" c_parent_is "$P_ID"
check "1b c remembers p's ID in data-dir" pinned_to "$P_ID"
check "1c the pin is logged" grep -q "parent $P_IP:$PORT pinned to node $P_ID" "$CLOG"

# ---------------------------------------------------------------- 2 an impostor at p's address

swap p x
# What reaches x and what it answers: Inits (link type 1) from c, InitAcks (2).
spawn p "$W/tcpdump.log" tcpdump -Z root -i eth0 -U -w "$W/p.pcap" udp port $PORT
wait_until 10 0.2 grep -q "listening on eth0" "$W/tcpdump.log" || die "tcpdump did not start"
check "2a c keeps x out at p's address (logged)" wait_until 60 0.5 refused_more 0
check "2b the log names the address and p's ID, and says what to do" \
    grep -q "no answer to a round of handshakes meant for node $P_ID, pinned there: .*; if the parent's key was replaced on purpose, set parents-allow-id-change = true" "$CLOG"
check_not "2c mcc parent on c does not show x" c_parent_is "$X_ID"
health=$(mcc_in c "$W/c" health 2>&1)
check "2d mcc health on c is unhealthy and names the pinned node" \
    sh -c 'printf "%s" "$1" | grep -q "unhealthy: no parent link; parent $2: no answer to a round of handshakes meant for node $3"' _ "$health" "$P_IP:$PORT" "$P_ID"
check_not "2e x has no link with c" x_linked_c
kill_pids "$SPAWNED"
count() { timeout 20 tcpdump -nn -r "$W/p.pcap" "$1" 2>/dev/null | wc -l; } # count FILTER
inits=$(count "src host 10.233.0.2 and dst port $PORT and udp[8] = 1")
acks=$(count "src host $P_IP and udp[8] = 2")
log "at p's address, x running: $inits Inits from c, $acks InitAcks"
check "2f c's Inits reached x, which answered none of them" test "$inits" -ge 2 -a "$acks" -eq 0
check "2g the pins file still holds p" pinned_to "$P_ID"

# ---------------------------------------------------------------- 3 the pin survives a restart

restart_c
c_started() { grep 'node started' "$CLOG" | tail -n 1 | grep -q 'parent_pins=1'; }
check "3a c started with its remembered pin" wait_until 10 0.2 c_started
before=$(refusals)
check "3b after the restart c refuses x again" wait_until 60 0.5 refused_more "$before"
check_not "3c mcc parent on c does not show x" c_parent_is "$X_ID"
check_not "3d x has no link with c" x_linked_c

# ---------------------------------------------------------------- 4 the operator allows the change

mcc_set "$W/c/mcc.conf" parents-allow-id-change true || die "mcc_set"
restart_c
check "4a with parents-allow-id-change c takes x" wait_until 60 0.3 c_parent_is "$X_ID"
check "4b x links c and lists it" wait_until 20 0.3 x_took_c
check "4c the pins file now holds x" pinned_to "$X_ID"
check "4d the change is logged" grep -q "node $X_ID accepted in place of node $P_ID (parents-allow-id-change = true" "$CLOG"

# ---------------------------------------------------------------- 5 an explicit pin in mcc.conf

mcc_set "$W/c/mcc.conf" parents "$P_ID@$P_IP:$PORT" || die "mcc_set"
restart_c
check "5a a configured pin that differs from the remembered one is warned about" \
    wait_until 10 0.2 grep -q "the configured node differs from node $X_ID remembered" "$CLOG"
before=$(refusals)
check "5b the configured pin refuses x even with parents-allow-id-change = true" wait_until 60 0.5 refused_more "$before"
check_not "5c mcc parent on c does not show x" c_parent_is "$X_ID"
check "5d the log points at the configured ID" grep -q "the node ID is configured in parents" "$CLOG"
swap x p
check "5e c joins p, the configured node" wait_until 60 0.3 c_parent_is "$P_ID"
check "5f the pins file holds p again" pinned_to "$P_ID"
# A malformed pin: mccd refuses to start, naming file, line and entry.
mkdir -p "$W/bad"
cp -a "$W/c/." "$W/bad/"
mcc_set "$W/bad/mcc.conf" parents "abc@$P_IP:$PORT" unix-socket-path "$W/bad/mcc.sock" log-file "$W/bad/mccd.log" || die "mcc_set"
line=$(grep -n '^parents = ' "$W/bad/mcc.conf" | cut -d: -f1)
err=$(nsx c timeout 10 "$MCCD" "$W/bad" 2>&1)
rc=$?
check "5g mccd refuses a malformed pin" test "$rc" -ne 0 -a "$rc" -ne 124
check "5h the error names file, line and entry" \
    sh -c 'printf "%s" "$1" | grep -qF "$2:$3: parents: invalid parent \"abc@$4\": invalid node ID \"abc\""' _ "$err" "$W/bad/mcc.conf" "$line" "$P_IP:$PORT"

# ---------------------------------------------------------------- 6 a parent by host name

P_IP2=10.233.0.11
mkdir -p "$HOSTS_DIR"
printf '127.0.0.1 localhost\n%s parent.test\n' "$P_IP" >"$HOSTS_DIR/hosts"
mcc_set "$W/c/mcc.conf" parents parent.test:$PORT parents-resolve-period 2s || die "mcc_set"
restart_c
check "6a c joins p by its host name" wait_until 60 0.3 c_parent_is "$P_ID"
check "6b the pin is kept by the name" wait_until 10 0.2 grep -q "\"parent.test:$PORT\": \"$P_ID\"" "$PINS"
starts=$(grep -c 'node started' "$CLOG")
# p moves: its old address goes, the new one comes, and the name follows (written in
# place: the bind mount holds the file, not the name).
# (Deleted first: deleting a primary address takes its subnet's secondaries with it.)
nsx p ip addr del "$P_IP/24" dev eth0 && nsx p ip addr add "$P_IP2/24" dev eth0 || die "moving p"
printf '127.0.0.1 localhost\n%s parent.test\n' "$P_IP2" >"$HOSTS_DIR/hosts"
check "6c c looks the name up again and logs the new address" \
    wait_until 20 0.3 grep -q "parent parent.test:$PORT now resolves to $P_IP2:$PORT" "$CLOG"
# The link at the old address fails over (keep-alive-period 2s), then c dials the new one.
c_at_new_address() { c_parent_is "$P_ID" && mcc_in c "$W/c" parent 2>/dev/null | grep -q "^$P_IP2:$PORT"; }
check "6d c's parent is p again, at its new address" wait_until 90 0.5 c_at_new_address
check "6e without a restart of c" test "$(grep -c 'node started' "$CLOG")" -eq "$starts"
check "6f the pin is still the name's" grep -q "\"parent.test:$PORT\": \"$P_ID\"" "$PINS"
