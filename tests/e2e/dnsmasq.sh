#!/usr/bin/env bash
# End-to-end test of the dnsmasq integration (dnsmasq-enable, dnsmasq-directory,
# dnsmasq-restart-command; docs/DNSMASQ.md) with real mccd daemons and the real dnsmasq
# (Debian's dnsmasq-base: the binary alone, no service and no /etc/dnsmasq.d).
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/dnsmasq.sh
#
# Three namespaces: up (an "internet" name server: a second dnsmasq answering internet.test
# at 10.237.0.2), gw (the root node gw, dns-names node1, and the dnsmasq under test on
# 10.237.1.1:53, which forwards everything that is not mccd's to up) and cli (a LAN client
# asking dnsmasq with dig, and the node leaf, dns-names leaf1, gw's child). dnsmasq never
# reads the host's /etc/dnsmasq.conf or /etc/dnsmasq.d: it runs with -C /dev/null (or the
# how-to's file in the work directory) and --conf-dir on the test's directory, which is
# gw's dnsmasq-directory; the host's files are compared before and after.
#
#    1 mccd -C lists the three keys with their defaults, not among the unsupported ones
#    2 gw starts with dnsmasq-enable unset: the directory exists, so mccd writes mcc.conf
#      there (resolver.domain .staex, resolver.ipv4-network 10.99.0.0/20: sixteen reverse
#      zones, fd99::/64, the static 115.10.in-addr.arpa) and runs the restart command,
#      which starts dnsmasq
#    3 through dnsmasq on port 53, from cli: node IDs, names with and without the domain,
#      A and AAAA, PTR of overlay addresses (IPv4 and IPv6), an unknown name is NXDOMAIN
#      from mccd, an internet name comes from upstream
#    4 the same with OpenWrt's defaults after the package's postinst (bogus-priv,
#      stop-dns-rebind; domain-needed off): the file's rebind-domain-ok lines let the
#      overlay's private addresses through, for its names only
#    5 restarted with the same configuration: the file is not rewritten (inode, mtime),
#      the restart command does not run
#    6 another resolver.ipv4-network: the file is replaced (a new inode: rename), the
#      command runs, and dnsmasq answers from the new network
#    7 a failing restart command is logged with its exit status; mccd runs on
#    8 mccd stopped: the file stays; a missing directory with dnsmasq-enable true, or a
#      file in its place, stops mccd with an error naming dnsmasq-directory; with the key
#      unset a missing directory is left alone
#    9 the docs' "How to configure Dnsmasq for Android clients?": its dnsmasq.conf as
#      written (the upstream named by a resolv.conf of the test's), with the default
#      resolver settings, answers on the loopback but not a LAN client, since dnsmasq
#      takes `listen-address = 0.0.0.0` literally; with the LAN address there instead,
#      node IDs, names and PTR records (and internet names) reach the client
#   10 the host's /etc/dnsmasq.conf and /etc/dnsmasq.d are as before
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccdm /tmp/mccdm
CHECKS=1
PORT=9376
GW=10.237.1.1
UP=10.237.0.2
# An internet address the upstream gives out (never contacted). Not in a private or
# documentation range: dnsmasq's stop-dns-rebind would drop those.
NET_ADDR=93.184.215.14
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/*.log"

need_root
need_tools ip:iproute2 dig:dnsutils dnsmasq:dnsmasq-base sha256sum:coreutils || exit 2
need_tun
DNSMASQ=$(command -v dnsmasq)

host_state() {
    local f
    for f in /etc/dnsmasq.conf /etc/dnsmasq.d; do
        if [ -d "$f" ]; then
            ls -la --time-style=full-iso "$f"
            find "$f" -type f -exec sha256sum {} +
        elif [ -e "$f" ]; then sha256sum "$f"; else echo "$f absent"; fi
    done
}
HOST_BEFORE=$(host_state)

lib_start
chmod 755 "$W"
build_release mcc-linux

# ---------------------------------------------------------------- helpers

DROPDIR=$W/dnsmasq.d
DROP=$DROPDIR/mcc.conf
RESTARTS=$W/restarts.log
# dnsmasq's options besides the test's common ones (part 4 sets OpenWrt's).
: >"$W/dnsmasq.flags"
# The restart command: records the run, stops the running dnsmasq and starts a new one,
# which reads the conf-dir again (SIGHUP would not re-read --server lines).
cat >"$W/dnsmasq-restart.sh" <<EOF
#!/bin/sh
echo "restart \$(date +%s.%N)" >>"$RESTARTS"
if [ -s "$W/dnsmasq.pid" ]; then
    pid=\$(cat "$W/dnsmasq.pid")
    kill "\$pid" 2>/dev/null
    for _ in \$(seq 50); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
fi
exec "$DNSMASQ" -C /dev/null --conf-dir="$DROPDIR" --no-resolv --no-hosts --server=$UP \\
    --listen-address=$GW --bind-interfaces --port=53 --pid-file="$W/dnsmasq.pid" \\
    --log-queries --log-facility="$W/dnsmasq.log" \$(cat "$W/dnsmasq.flags")
EOF
chmod 755 "$W/dnsmasq-restart.sh"

# dq ARGS...: dig at dnsmasq (port 53 of gw) from cli, the short answer on one line.
dq() { nsx cli timeout 8 dig @"$GW" +time=2 +tries=1 +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
# dstatus ARGS...: the response code of that query.
dstatus() { nsx cli timeout 8 dig @"$GW" +time=2 +tries=1 "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
# mq ARGS...: mccd's own DNS server on gw, for comparison.
mq() { nsx gw timeout 8 dig @127.0.0.1 -p 8353 +time=2 +tries=1 +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
restarts() { [ -f "$RESTARTS" ] && wc -l <"$RESTARTS" || echo 0; }
stamp() { stat -c '%i %Y %y' "$DROP"; }
dnsmasq_up() { [ -s "$W/dnsmasq.pid" ] && kill -0 "$(cat "$W/dnsmasq.pid")" 2>/dev/null && [ -n "$(dq internet.test A)" ]; }
gw_restart() { # gw_restart: stops gw's mccd and starts it again (a new log)
    mccd_stop "$W/gw" || log "mccd gw exited with $?"
    mv "$W/gw/mccd.log" "$W/gw/mccd.log.$(date +%s%N)" 2>/dev/null
    mccd_start gw "$W/gw"
    wait_until 15 0.2 mccd_healthy gw "$W/gw" || die "mccd gw did not come back"
}
in_gw_log() { grep -q -- "$1" "$W/gw/mccd.log" 2>/dev/null; }
same() { [ -n "$1" ] && [ "$1" = "$2" ]; } # same A B: equal and not empty
# same_in A B REGEX: equal, not empty, and matching REGEX.
same_in() { same "$1" "$2" && [[ $1 =~ $3 ]]; }

# ---------------------------------------------------------------- 1 mccd -C

"$MCCD" -C >"$W/default.conf"
check "1a mccd -C: # dnsmasq-enable = (unset: on when the directory exists)" grep -qx '# dnsmasq-enable =' "$W/default.conf"
check "1b mccd -C: dnsmasq-directory = /etc/dnsmasq.d" grep -qx 'dnsmasq-directory = /etc/dnsmasq.d' "$W/default.conf"
check "1c mccd -C: # dnsmasq-restart-command =" grep -qx '# dnsmasq-restart-command =' "$W/default.conf"
t_not_unsupported() { ! sed -n '/accepted but not implemented/,$p' "$W/default.conf" | grep -q dnsmasq; }
check "1d mccd -C: no dnsmasq key in the unsupported list" t_not_unsupported

# ---------------------------------------------------------------- network and nodes

ns_add up gw cli || die "namespaces"
veth gw eth1 up eth0 10.237.0.1/24 "$UP/24" || die "veth gw-up"
veth gw eth0 cli eth0 "$GW/24" 10.237.1.2/24 || die "veth gw-cli"
spawn up "$W/upstream.log" "$DNSMASQ" -k -C /dev/null --no-resolv --no-hosts --listen-address=$UP \
    --bind-interfaces --port=53 --address=/internet.test/$NET_ADDR --address=/rebind.test/10.99.0.1 \
    --log-queries --log-facility=-
wait_until 10 0.2 sh -c "[ -n \"\$(ip netns exec $P-gw dig @$UP +time=1 +tries=1 +short internet.test)\" ]" ||
    die "the upstream name server does not answer"

pki "$W" || die "CA and network certificate"
mkdir -p "$DROPDIR"
mcc_node gw "$W/gw" "" keep-alive-period 2s resolver.domain .staex dns-names node1 \
    resolver.ipv4-network 10.99.0.0/20 resolver.ipv6-network fd99::/64 \
    dnsmasq-directory "$DROPDIR" dnsmasq-restart-command "$W/dnsmasq-restart.sh" || die "mcc init gw"
GW_ID=$NODE_ID
# lib.sh turns the integration off for every node; here the key is left unset (the default).
sed -i '/^dnsmasq-enable *=/d' "$W/gw/mcc.conf"
mcc_node cli "$W/leaf" "$GW:$PORT" keep-alive-period 2s resolver.domain .staex dns-names leaf1 || die "mcc init leaf"
LEAF_ID=$NODE_ID
log "gw $GW_ID, leaf $LEAF_ID"

# ---------------------------------------------------------------- 2 the drop-in

check "2a no dnsmasq runs before mccd" [ ! -e "$W/dnsmasq.pid" ]
mccd_start gw "$W/gw"
wait_until 15 0.2 mccd_healthy gw "$W/gw" || die "mccd gw not healthy"
check "2b mccd wrote DIR/mcc.conf (dnsmasq-enable unset, the directory exists)" [ -s "$DROP" ]
check "2c the restart command ran once" wait_until 10 0.2 sh -c "[ \"\$(wc -l <'$RESTARTS')\" = 1 ]"
check "2c ... to its end (mccd's log)" wait_until 10 0.2 in_gw_log "dnsmasq-restart-command .*: done"
check "2d ... and started dnsmasq, which answers" wait_until 10 0.2 dnsmasq_up
sed 's/^/    mcc.conf: /' "$DROP"
has_line() { grep -qxF -- "$1" "$DROP"; }
check "2e server=/staex/127.0.0.1#8353 (resolver.domain to dns-addr)" has_line 'server=/staex/127.0.0.1#8353'
check "2f server=//127.0.0.1#8353 (names without a dot: node IDs, dns-names)" has_line 'server=//127.0.0.1#8353'
t_v4_zones() {
    local i
    for i in $(seq 0 15); do has_line "server=/$i.99.10.in-addr.arpa/127.0.0.1#8353" || return 1; done
    ! grep -q '16\.99\.10\.in-addr' "$DROP"
}
check "2g the sixteen reverse zones of 10.99.0.0/20, no more" t_v4_zones
check "2h the reverse zone of fd99::/64" has_line 'server=/0.0.0.0.0.0.0.0.0.0.0.0.9.9.d.f.ip6.arpa/127.0.0.1#8353'
check "2i the static addresses' reverse zone" has_line 'server=/115.10.in-addr.arpa/127.0.0.1#8353'
check "2j rebind-domain-ok for the domain and for names without a dot" \
    sh -c "grep -qxF 'rebind-domain-ok=/staex/' '$DROP' && grep -qxF 'rebind-domain-ok=//' '$DROP'"
check "2k mode 0644, no temporary file left in the directory" \
    sh -c "[ \"\$(stat -c %a '$DROP')\" = 644 ] && [ \"\$(ls -A '$DROPDIR')\" = mcc.conf ]"
check "2l mccd logged the file it wrote" in_gw_log "dnsmasq: wrote $DROP"

mccd_start cli "$W/leaf"
leaf_known() { [ -n "$(mq leaf1.staex A)" ]; }
wait_until 30 0.3 leaf_known || die "gw does not know leaf1 within 30 s"

# ---------------------------------------------------------------- 3 names through dnsmasq

# t_names LABEL: the checks of part 3 (part 4 runs them again with OpenWrt's options).
t_names() {
    local l=$1 a
    a=$(mq node1.staex A)
    log "$l: node1.staex is $a at mccd"
    check "$l node1.staex A = $a (mccd's answer, in 10.99.0.0/20)" same_in "$(dq node1.staex A)" "$a" '^10\.99\.([0-9]|1[0-5])\.'
    check "$l node1 (no domain) A = $a" same "$(dq node1 A)" "$a"
    check "$l GW-ID (bare node ID) A = $a" same "$(dq "$GW_ID" A)" "$a"
    check "$l GW-ID.staex A = $a" same "$(dq "$GW_ID.staex" A)" "$a"
    local la a6
    la=$(mq "$LEAF_ID" A)
    check "$l LEAF-ID A = $la" same "$(dq "$LEAF_ID" A)" "$la"
    check "$l leaf1 (a child's name, no domain) = $la" same "$(dq leaf1 A)" "$la"
    check "$l leaf1.staex = $la" same "$(dq leaf1.staex A)" "$la"
    a6=$(mq node1.staex AAAA)
    check "$l node1.staex AAAA = $a6 (fd99::/64)" same_in "$(dq node1.staex AAAA)" "$a6" '^fd99:'
    check "$l PTR $la = LEAF-ID.staex." same "$(dq -x "$la")" "$LEAF_ID.staex."
    check "$l PTR $a6 = GW-ID.staex." same "$(dq -x "$a6")" "$GW_ID.staex."
    check "$l an unknown name without a dot: NXDOMAIN" [ "$(dstatus nosuchname A)" = NXDOMAIN ]
    check "$l an unknown name under .staex: NXDOMAIN" [ "$(dstatus nosuch.staex A)" = NXDOMAIN ]
    check "$l internet.test = $NET_ADDR from upstream" same "$(dq internet.test A)" "$NET_ADDR"
}
t_names 3
check "3 mccd's server answered what dnsmasq forwarded (dnsmasq's log)" \
    grep -q "forwarded $LEAF_ID to 127.0.0.1" "$W/dnsmasq.log"

# ---------------------------------------------------------------- 4 OpenWrt's options

# OpenWrt's dnsmasq defaults, with domainneeded=0 from the package's postinst: bogus-priv
# (private reverse lookups answered locally) and stop-dns-rebind (private addresses in
# answers dropped), localhost allowed (rebind_localhost).
echo "--bogus-priv --stop-dns-rebind --rebind-localhost-ok" >"$W/dnsmasq.flags"
nsx gw "$W/dnsmasq-restart.sh" 2>>"$W/restart-by-test.log"
wait_until 10 0.2 dnsmasq_up || fail "4 dnsmasq with OpenWrt's options did not start"
t_names 4
# The upstream answers rebind.test with 10.99.0.1; without these options dnsmasq passes it on.
check "4 stop-dns-rebind is on: an internet name's private address is dropped" [ -z "$(dq rebind.test A)" ]
: >"$W/dnsmasq.flags"
nsx gw "$W/dnsmasq-restart.sh" 2>>"$W/restart-by-test.log"
wait_until 10 0.2 dnsmasq_up || die "dnsmasq did not come back"
check "4 (and passed on without them)" same "$(dq rebind.test A)" 10.99.0.1

# ---------------------------------------------------------------- 5 unchanged

S0=$(stamp)
C0=$(sha256sum <"$DROP")
R0=$(restarts)
sleep 1.1 # a rewrite would show in the mtime
gw_restart
check "5a restarted, same configuration: the file is not rewritten ($S0)" [ "$(stamp)" = "$S0" ]
check "5b ... same content" [ "$(sha256sum <"$DROP")" = "$C0" ]
check "5c ... mccd says it is unchanged" in_gw_log "dnsmasq: $DROP is up to date"
sleep 1
check "5d ... and the restart command did not run" [ "$(restarts)" = "$R0" ]

# ---------------------------------------------------------------- 6 changed

mcc_set "$W/gw/mcc.conf" resolver.ipv4-network 10.98.0.0/16
gw_restart
check "6a another resolver.ipv4-network: the file is replaced (new inode)" \
    sh -c "[ \"\$(stat -c %i '$DROP')\" != '${S0%% *}' ]"
check "6b ... with 98.10.in-addr.arpa instead of the 99.10 zones" \
    sh -c "grep -qxF 'server=/98.10.in-addr.arpa/127.0.0.1#8353' '$DROP' && ! grep -q '99\.10\.in-addr' '$DROP'"
ran_again() { [ "$(restarts)" = $((R0 + 1)) ]; }
check "6c ... the restart command ran" wait_until 10 0.2 ran_again
check "6c ... to its end (mccd's log)" wait_until 10 0.2 in_gw_log "dnsmasq-restart-command .*: done"
wait_until 10 0.2 dnsmasq_up || fail "6 dnsmasq did not come back"
a=$(mq node1.staex A)
check "6d dnsmasq answers node1 from 10.98.0.0/16 ($a)" same_in "$(dq node1 A)" "$a" '^10\.98\.'
check "6e ... and its PTR (the new zone is forwarded)" same "$(dq -x "$a")" "$GW_ID.staex."
check "6f the old zone is not forwarded any more" [ "$(dstatus -x 10.99.0.5)" != NOERROR ]

# ---------------------------------------------------------------- 7 a failing command

mcc_set "$W/gw/mcc.conf" resolver.domain .mesh dnsmasq-restart-command "echo cannot restart >&2; exit 3"
gw_restart
check "7a a failing restart command is logged with its exit status" \
    wait_until 10 0.2 in_gw_log "dnsmasq-restart-command .* failed: exit status: 3"
check "7b ... with what it printed" in_gw_log "cannot restart"
check "7c ... and mccd runs on" mccd_healthy gw "$W/gw"
check "7d the file has the new domain" grep -qxF 'server=/mesh/127.0.0.1#8353' "$DROP"

# ---------------------------------------------------------------- 8 stop, bad directories

mccd_stop "$W/gw" || log "mccd gw exited with $?"
check "8a mccd stopped: the file stays (the docs: not deleted)" [ -s "$DROP" ]
# bad_dir KEY VALUE...: runs mccd of a copy of gw's directory with these keys; succeeds
# when it refused to start (exit status 1, not killed by the timeout); sets OUT.
bad_dir() {
    rm -rf "$W/bad"
    cp -a "$W/gw" "$W/bad"
    rm -f "$W/bad/mccd.log"
    mcc_set "$W/bad/mcc.conf" unix-socket-path "$W/bad/mcc.sock" log-file "$W/bad/mccd.log" data-dir "$W/bad/data" "$@"
    OUT=$(nsx gw timeout 15 "$MCCD" "$W/bad" 2>&1)
    [ $? = 1 ]
}
t_missing() { bad_dir dnsmasq-enable true dnsmasq-directory "$W/nodir" && [[ $OUT == *"dnsmasq-directory: $W/nodir"* ]]; }
check "8b dnsmasq-enable true, directory missing: mccd refuses to start, naming dnsmasq-directory" t_missing
log "    $OUT"
touch "$W/afile"
t_file() { bad_dir dnsmasq-enable true dnsmasq-directory "$W/afile" && [[ $OUT == *"dnsmasq-directory: $W/afile"*"not a directory"* ]]; }
check "8c a file where the directory should be: refused, naming dnsmasq-directory" t_file
log "    $OUT"
t_unset_missing() {
    rm -rf "$W/bad"
    cp -a "$W/gw" "$W/bad"
    rm -f "$W/bad/mccd.log"
    sed -i '/^dnsmasq-enable *=/d' "$W/bad/mcc.conf"
    mcc_set "$W/bad/mcc.conf" unix-socket-path "$W/bad/mcc.sock" log-file "$W/bad/mccd.log" data-dir "$W/bad/data" \
        dnsmasq-directory "$W/nodir"
    mccd_start gw "$W/bad"
    wait_until 15 0.2 mccd_healthy gw "$W/bad" || return 1
    mccd_stop "$W/bad"
    [ ! -e "$W/nodir" ]
}
check "8d dnsmasq-enable unset, directory missing: mccd runs and creates nothing" t_unset_missing

# ---------------------------------------------------------------- 9 the Android how-to

# The docs' file, as written; only the upstream differs: a resolv.conf of the test's
# (dnsmasq reads the system's /etc/resolv.conf by default).
mkdir -p "$W/howto"
cat >"$W/howto/dnsmasq.conf" <<'EOF'
# file /etc/dnsmasq.conf
# listen on all addresses
listen-address = 0.0.0.0
# listen on loopback for local name resolution
listen-address = 127.0.0.1
# use MCC to resolve .home.arpa domains
server=/home.arpa/127.0.0.1#8353
# use MCC to resolve DNS names without domains
server=//127.0.0.1#8353
# use MCC to resolve dynamic IP addresses from 10.83.0.0/16 network
server=/83.10.in-addr.arpa./127.0.0.1#8353
EOF
echo "nameserver $UP" >"$W/howto/resolv.conf"
# No dnsmasq of the earlier parts may hold port 53.
pid=$(cat "$W/dnsmasq.pid" 2>/dev/null)
[ -z "$pid" ] || kill "$pid" 2>/dev/null
port_free() { ! nsx gw ss -Hlun 'sport = :53' | grep -q .; }
wait_until 10 0.2 port_free || die "port 53 of gw is still taken"
# gw with the documented defaults (home.arpa, 10.83.0.0/16) and no drop-in.
mcc_set "$W/gw/mcc.conf" resolver.domain .home.arpa resolver.ipv4-network 10.83.0.0/16 \
    resolver.ipv6-network 200::/7 dnsmasq-enable false
mccd_start gw "$W/gw"
wait_until 15 0.2 mccd_healthy gw "$W/gw" || die "mccd gw (defaults) not healthy"
leaf_known_default() { [ -n "$(mq leaf1.home.arpa A)" ]; }
wait_until 30 0.3 leaf_known_default || log "gw does not know leaf1.home.arpa yet"
# howto CONF: dnsmasq with CONF (and the test's upstream) in gw, until the next call;
# succeeds once it answers on the loopback.
howto() {
    [ -z "${HOWTO_PID:-}" ] || kill_pids "$HOWTO_PID"
    spawn gw "$W/howto.log" "$DNSMASQ" -k -C "$1" --resolv-file="$W/howto/resolv.conf" --log-queries --log-facility=-
    HOWTO_PID=$SPAWNED
    wait_until 10 0.2 lo_answers
}
lo_answers() { [ -n "$(nsx gw dig @127.0.0.1 +time=1 +tries=1 +short internet.test)" ]; }
check "9a dnsmasq starts with the how-to's file as written, answers on the loopback" howto "$W/howto/dnsmasq.conf"
a=$(mq node1.home.arpa A)
check "9b ... node1.home.arpa on the loopback = $a" \
    same_in "$(nsx gw dig @127.0.0.1 +time=2 +tries=1 +short node1.home.arpa)" "$a" '^10\.83\.'
# dnsmasq takes `listen-address = 0.0.0.0` as the address 0.0.0.0, which no query is sent
# to, not as every address: a client on the LAN (an Android device) is not answered.
check_not "9c ... but not a LAN client (listen-address = 0.0.0.0 is not 'all addresses' to dnsmasq)" \
    nsx cli timeout 8 dig @"$GW" +time=2 +tries=1 internet.test
# The how-to with that line naming the LAN address (docs/DNSMASQ.md); the rest as written.
sed "s/^listen-address = 0\.0\.0\.0\$/listen-address = $GW/" "$W/howto/dnsmasq.conf" >"$W/howto/dnsmasq-lan.conf"
check "9d with listen-address = $GW instead" howto "$W/howto/dnsmasq-lan.conf"
check "9e node1.home.arpa = $a" same "$(dq node1.home.arpa A)" "$a"
check "9f GW-ID.home.arpa = $a" same "$(dq "$GW_ID.home.arpa" A)" "$a"
check "9g GW-ID (no domain) = $a" same "$(dq "$GW_ID" A)" "$a"
la=$(mq leaf1.home.arpa A)
check "9h leaf1 (no domain) = $la" same "$(dq leaf1 A)" "$la"
check "9i PTR $la = LEAF-ID.home.arpa. (83.10.in-addr.arpa.)" same "$(dq -x "$la")" "$LEAF_ID.home.arpa."
check "9j internet.test from the upstream" same "$(dq internet.test A)" "$NET_ADDR"
# What the how-to's file leaves out (mccd's drop-in has them): 200::/7's reverse zones.
a6=$(mq node1.home.arpa AAAA)
log "9 the how-to's file: PTR of $a6 through dnsmasq: $(dstatus -x "$a6") (200::/7 is not forwarded)"

# ---------------------------------------------------------------- 10 the host

check "10 the host's /etc/dnsmasq.conf and /etc/dnsmasq.d are as before" [ "$(host_state)" = "$HOST_BEFORE" ]
