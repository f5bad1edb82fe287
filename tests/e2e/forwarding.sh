#!/usr/bin/env bash
# End-to-end test of forwarding rules (the forwarding-rules file and
# `mcc apply-forwarding-rules`): a port of the client node forwarded through a tunnel to
# the server's service, the confirmation, the rollback by the daemon when no answer comes
# (the docs' "SSH connection dropped"), the file after a confirmation and a kill -9.
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/forwarding.sh
#
# Underlay (prefix mccfwd): bridge br0 in sw; root .1, srv .2, cli .3 and out .9 (no mcc: a
# host that uses cli's forwarded ports) on 10.236.0.0/24. cli's second interface lan0
# (192.168.71.1/24) leads to the namespace lan (192.168.71.2, default route via cli); out
# routes 192.168.71.0/24 via cli, so only cli's firewall stands between them.
# Overlay: root; srv -> root; cli -> root. srv runs HTTP on 80 (a marker) and on 81, and a
# UDP echo on 5300; a tunnel created on srv for cli allows tcp:80 and udp:5300 (not 81).
# cli has forwarding-rules-commit-timeout = 5s. Rules (E: the tunnel's endpoint on cli):
#   A: port from 8080 to E:80 protocol tcp; port from 5300 to E:5300 protocol udp
#   B: port from 8081 to E:80 protocol tcp; port from 8082 to E:81 protocol tcp
#
# Traffic goes only to addresses inside the namespaces created here. Everything is torn
# down on exit (tests/e2e/lib.sh); the work directory /tmp/mccfwd stays for post-mortem.
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccfwd /tmp/mccfwd
CHECKS=1
NODES=(root srv cli)
PORT=9376
CLI=10.236.0.3
LANDEV=192.168.71.2
TIMEOUT=5
declare -A UNDERLAY=([root]=10.236.0.1 [srv]=10.236.0.2 [cli]=$CLI [out]=10.236.0.9)
declare -A PARENTS=([root]="" [srv]="10.236.0.1:$PORT" [cli]="10.236.0.1:$PORT")
declare -A ID=()
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/srv-*.log $W/apply-*.err"

healthy() { mccd_healthy "$1" "$W/$1"; }
all_healthy() {
    local n
    for n in "${NODES[@]}"; do healthy "$n" || return 1; done
}
curl_in() { nsx "$1" curl -s --noproxy '*' --max-time "${3:-4}" "$2"; }
# udp_echo NS HOST PORT TEXT: one datagram, prints the answer.
udp_echo() {
    nsx "$1" timeout 8 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for _ in range(3):
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recv(2048).decode())
        break
    except socket.timeout:
        pass' "$2" "$3" "$4"
}
mcc_tables() { nsx cli nft list tables 2>/dev/null | grep -c '^table inet MCC$'; }
cli_table() { nsx cli nft list table inet MCC 2>/dev/null; }
# forwards PORT: cli's table DNATs local PORT (into the overlay). Not `nft | grep -q`: grep
# may exit before nft has written all, and with pipefail nft's SIGPIPE would be the status.
forwards() {
    local t
    t=$(cli_table)
    grep -q "tcp dport $1 dnat ip to " <<<"$t"
}
not_forwards() { ! forwards "$1"; }
only_a() { forwards 8080 && not_forwards 8081; }
only_b() { forwards 8081 && not_forwards 8080; }
fwd_of() { nsx cli cat "/proc/sys/net/ipv4/conf/$1/forwarding"; }
# apply FILE ANSWER...: `mcc apply-forwarding-rules FILE` on cli with ANSWER on stdin; the
# exit status is the client's; its stdout and stderr go to $W/apply-N.{out,err}.
APPLY_N=0
apply() {
    local f=$1
    shift
    APPLY_N=$((APPLY_N + 1))
    printf '%s' "$*" | nsx cli timeout 20 "$MCC" -s "$W/cli/mcc.sock" apply-forwarding-rules "$f" \
        >"$W/apply-$APPLY_N.out" 2>"$W/apply-$APPLY_N.err"
}
last_err() { cat "$W/apply-$APPLY_N.err"; }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 nft:nftables curl:curl ping:iputils-ping python3:python3 setpriv:util-linux \
    iperf3:iperf3 awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- underlay and LAN

log "namespaces: sw (br0), root, srv, cli, out (a host using cli's ports), lan (behind cli)"
ns_add sw root srv cli out lan || die "namespaces"
bridge sw br0 || die "bridge br0"
for n in root srv cli out; do
    bridge_port sw br0 "p-$n" "$n" eth0 "${UNDERLAY[$n]}/24" || die "veth $n"
done
veth cli lan0 lan eth0 192.168.71.1/24 "$LANDEV/24" || die "veth cli<->lan"
nsx lan ip route add default via 192.168.71.1 || die "lan's default route"
ns_route out 192.168.71.0/24 "$CLI" || die "out's route to the LAN behind cli"
wait_until 10 0.2 nsx out ping -c 1 -W 1 "$CLI" >/dev/null || die "underlay: out cannot reach cli"
check_not "0a out cannot reach the LAN behind cli (cli forwards nothing)" \
    nsx out ping -c 1 -W 1 "$LANDEV"
check "0b cli forwards on no interface before mccd" \
    sh -c "[ \"\$(ip netns exec $P-cli sysctl -n net.ipv4.ip_forward net.ipv4.conf.eth0.forwarding net.ipv4.conf.lan0.forwarding | sort -u)\" = 0 ]"

# ---------------------------------------------------------------- services

MARKER="SRV-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$W/www" "$W/www81"
printf '%s\n' "$MARKER" >"$W/www/m.txt"
printf 'PORT-81\n' >"$W/www81/m.txt"
spawn srv "$W/srv-http.log" python3 -u -m http.server 80 --bind 0.0.0.0 --directory "$W/www"
spawn srv "$W/srv-http81.log" python3 -u -m http.server 81 --bind 0.0.0.0 --directory "$W/www81"
spawn srv "$W/srv-udp.log" python3 -u -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5300))
while True:
    d, a = s.recvfrom(2048)
    print("peer %s:%d" % a, flush=True)
    s.sendto(d, a)'
spawn srv "$W/srv-iperf3.log" iperf3 -s -p 5201
wait_until 10 0.2 sh -c "[ \"\$(ip netns exec $P-srv curl -s --noproxy '*' --max-time 2 http://127.0.0.1/m.txt)\" = '$MARKER' ]" ||
    die "srv's HTTP server does not answer"
: >"$W/srv-http.log"

# ---------------------------------------------------------------- nodes

log "provisioning and starting root, srv, cli"
pki "$W" || die "CA and network certificate"
for n in "${NODES[@]}"; do
    extra=()
    [ "$n" = cli ] && extra=(forwarding-rules-commit-timeout "${TIMEOUT}s")
    mcc_node "$n" "$W/$n" "${PARENTS[$n]}" log-level debug keep-alive-period 2s "${extra[@]}" ||
        die "mcc init $n"
    ID[$n]=$NODE_ID
done
check "0c mccd -C documents both keys with the docs' defaults" sh -c \
    "\"$MCCD\" -C | grep -qx 'forwarding-rules = forwarding-rules.conf' && \"$MCCD\" -C | grep -qx 'forwarding-rules-commit-timeout = 7s'"
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n"; done
wait_until 30 0.3 all_healthy || die "not every node became healthy within 30 s"
check "0d no mcc table on cli without rules" [ "$(mcc_tables)" = 0 ]

mcc_tunnel srv "$W/srv" "${ID[cli]}" tcp:80,udp:5300,tcp:5201 || die "create-tunnel"
SEP=$SEP
mcc_resolve_wait 40 cli "$W/cli" "$SEP" || die "cli does not resolve the server endpoint"
E=$ADDR
log "server endpoint $SEP is $E on cli"
wait_until 30 0.5 sh -c "[ \"\$(ip netns exec $P-cli curl -s --noproxy '*' --max-time 2 http://$E/m.txt)\" = '$MARKER' ]" ||
    die "cli does not reach srv's HTTP server through the tunnel"

RULES=$W/cli/forwarding-rules.conf
printf '# A\nport from 8080 to %s:80 protocol tcp\nport from 5300 to %s:5300 protocol udp\nport from 5201 to %s:5201 protocol tcp\n' "$E" "$E" "$E" >"$W/a.conf"
printf '# B\nport from 8081 to %s:80 protocol tcp\nport from 8082 to %s:81 protocol tcp\n' "$E" "$E" >"$W/b.conf"

# ---------------------------------------------------------------- 1 refusals

printf 'port from 8080 to %s:80 protocol tcp\n' "$LANDEV" >"$W/outside.conf"
apply "$W/outside.conf" y
check "1a a destination outside the overlay is refused naming file and line ($(last_err))" \
    grep -q "$W/outside.conf:1: $LANDEV is not an address of the MCC network" "$W/apply-$APPLY_N.err"
printf '# x\n\nport from 80800 to %s:80 protocol tcp\n' "$E" >"$W/port.conf"
apply "$W/port.conf" y
check "1b a bad port is refused naming its line ($(last_err))" \
    grep -q "$W/port.conf:3: invalid port \"80800\"" "$W/apply-$APPLY_N.err"
printf 'port from 8080 to %s:80 protocol tcp\nport from 8080 to %s:81 protocol tcp\n' "$E" "$E" >"$W/dup.conf"
apply "$W/dup.conf" y
check "1c a port forwarded twice is refused ($(last_err))" \
    grep -q "$W/dup.conf:2: port 8080/tcp is forwarded already on line 1" "$W/apply-$APPLY_N.err"
mkdir -p "$W/bin" && cp "$MCC" "$W/bin/mcc" && chmod 755 "$W" "$W/bin" "$W/cli"
out=$(nsx cli setpriv --reuid=65534 --regid=65534 --clear-groups -- "$W/bin/mcc" -s "$W/cli/mcc.sock" \
    apply-forwarding-rules "$W/a.conf" </dev/null 2>&1)
check "1d another user may not apply rules ($out)" grep -q "permission denied: \`apply-forwarding-rules\`" <<<"$out"
check "1e nothing was applied or written" sh -c "[ \"\$(ip netns exec $P-cli nft list tables | grep -c MCC)\" = 0 ] && [ ! -e '$RULES' ]"

# ---------------------------------------------------------------- 2 rules A, confirmed

: >"$W/srv-http.log"
apply "$W/a.conf" y
rc=$?
check "2a apply-forwarding-rules A answered y exits 0 ($(last_err))" [ "$rc" = 0 ]
check "2b and says where it saved them" grep -qx "kept; saved to $RULES" "$W/apply-$APPLY_N.out"
check "2c the rules file is A" cmp -s "$RULES" "$W/a.conf"
check "2d cli's table DNATs 8080 to the endpoint" sh -c "ip netns exec $P-cli nft list table inet MCC | grep -q 'tcp dport 8080 dnat ip to $E:80'"
a_out() { [ "$(curl_in out "http://$CLI:8080/m.txt")" = "$MARKER" ]; }
check "2e out reaches srv's HTTP through cli:8080 and the tunnel" wait_until 10 0.5 a_out
src=$(awk '/GET \/m.txt/ {print $1}' "$W/srv-http.log" | tail -n 1)
check "2f srv saw the request from cli's tunnel ($src), not from out" sh -c "case '$src' in 10.83.*) exit 0;; *) exit 1;; esac"
check "2g cli's own programs reach it through 127.0.0.1:8080" sh -c "[ \"\$(ip netns exec $P-cli curl -s --noproxy '*' --max-time 4 http://127.0.0.1:8080/m.txt)\" = '$MARKER' ]"
check "2h and through cli's own address $CLI:8080" sh -c "[ \"\$(ip netns exec $P-cli curl -s --noproxy '*' --max-time 4 http://$CLI:8080/m.txt)\" = '$MARKER' ]"
UDPM="udp-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
check "2i udp: out's datagram to cli:5300 is echoed by srv" [ "$(udp_echo out "$CLI" 5300 "$UDPM")" = "$UDPM" ]
check "2j cli forwards on eth0 and lan0 now, host-wide ip_forward stays off" \
    sh -c "[ \"\$(ip netns exec $P-cli cat /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/lan0/forwarding /proc/sys/net/ipv4/ip_forward | tr -d '\n')\" = 110 ]"
check_not "2k but out still cannot route through cli to the LAN (the guard)" nsx out ping -c 2 -W 1 "$LANDEV"

# Throughput and RTT printed, not asserted: out -> cli's forwarded port -> tunnel -> srv,
# next to cli's own programs straight into the tunnel.
measure_tcp() { # measure_tcp NS ADDR: Mbit/s of a 5 s iperf3 upload to ADDR:5201
    nsx "$1" timeout 20 iperf3 -c "$2" -p 5201 -t 5 -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))' 2>/dev/null
}
FWD_MBPS=$(measure_tcp out "$CLI")
TUN_MBPS=$(measure_tcp cli "$E")
# RTT of TCP connects (the tunnel forwards no ICMP to a port): curl's time_connect, 20 runs.
connect_ms() {
    local i
    for i in $(seq 20); do
        nsx "$1" curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{time_connect}\n' "$2"
    done | awk '$1 > 0 { n++; s += $1; if (!m || $1 < m) m = $1 } END { if (n) printf "%.3f / %.3f", m * 1000, s / n * 1000 }'
}
FWD_RTT=$(connect_ms out "http://$CLI:8080/m.txt")
TUN_RTT=$(connect_ms cli "http://$E/m.txt")
echo "MEASURE forwarding rule (out -> cli:5201 -> tunnel -> root -> srv): ${FWD_MBPS:-?} Mbit/s, TCP connect min/avg ${FWD_RTT:-?} ms"
echo "MEASURE regular tunnel  (cli -> root -> srv):                        ${TUN_MBPS:-?} Mbit/s, TCP connect min/avg ${TUN_RTT:-?} ms"
check "2l iperf3 ran through the forwarded port and the tunnel" sh -c "[ -n '$FWD_MBPS' ] && [ -n '$TUN_MBPS' ]"

# ---------------------------------------------------------------- 3 rules B, no answer: rollback

log "apply B and never answer; the client is killed (the SSH connection dropped)"
# The client's standard input stays open (a FIFO held here) and never says anything.
mkfifo "$W/stdin.fifo"
exec 7<>"$W/stdin.fifo"
nsx cli "$MCC" -s "$W/cli/mcc.sock" apply-forwarding-rules "$W/b.conf" <"$W/stdin.fifo" \
    >"$W/apply-b-noanswer.out" 2>"$W/apply-b-noanswer.err" &
CLIENT=$!
BG[$CLIENT]=1
wait_until 10 0.1 forwards 8081 || fail "3 B is applied on trial"
t0=$(now)
wait_until 2 0.1 grep -q "keep these rules? \[y/N\]" "$W/apply-b-noanswer.err"
kill -KILL "$CLIENT" 2>/dev/null
reap "$CLIENT" 2>/dev/null
exec 7>&-
check "3a the client asked, and was killed before any answer" grep -q "keep these rules? \[y/N\]" "$W/apply-b-noanswer.err"
b_out() { [ "$(curl_in out "http://$CLI:8081/m.txt" 2)" = "$MARKER" ]; }
check "3b on trial, B works: out reaches srv through cli:8081" b_out
check "3c and A is gone: cli does not forward 8080" not_forwards 8080
check_not "3d cli:8082 leads to port 81, which the tunnel does not allow: nothing" curl_in out "http://$CLI:8082/m.txt" 1
check "3e srv's port 81 got nothing" sh -c "! grep -q GET '$W/srv-http81.log'"
log "trial checks done $(since "$t0") s after B was applied"
# Within the timeout and a margin, before the daemon's 10 s refresh could mend anything.
check "3f after the timeout, B is gone" wait_until $((TIMEOUT + 2)) 0.2 not_forwards 8081
log "B gone $(since "$t0") s after it was applied (timeout ${TIMEOUT} s)"
check "3g and A is back" only_a
check "3h out reaches srv through cli:8080 again" wait_until 10 0.5 a_out
check "3i the rules file is still A" cmp -s "$RULES" "$W/a.conf"
check "3j mccd logged the rollback" grep -q "not confirmed within ${TIMEOUT} s: the previous rules are back" "$W/cli/mccd.log"

# ---------------------------------------------------------------- 4 a no, a late answer

apply "$W/b.conf" n
rc=$?
check "4a answered n: exit 1, not kept ($(last_err))" sh -c "[ $rc = 1 ] && grep -q 'not kept: the previous forwarding rules are back' '$W/apply-$APPLY_N.err'"
check "4b A is back at once" only_a
APPLY_N=$((APPLY_N + 1))
(sleep $((TIMEOUT + 2)); echo y) | nsx cli timeout 20 "$MCC" -s "$W/cli/mcc.sock" apply-forwarding-rules "$W/b.conf" \
    >"$W/apply-$APPLY_N.out" 2>"$W/apply-$APPLY_N.err"
rc=$?
check "4c an answer after the timeout comes too late: exit 1 ($(last_err))" sh -c "[ $rc = 1 ] && grep -q 'no answer within ${TIMEOUT} s' '$W/apply-$APPLY_N.err'"
check "4d and A stays" only_a
check "4e the rules file is still A" cmp -s "$RULES" "$W/a.conf"

# ---------------------------------------------------------------- 5 rules B, confirmed

apply "$W/b.conf" yes
rc=$?
check "5a apply-forwarding-rules B answered yes exits 0 ($(last_err))" [ "$rc" = 0 ]
sleep $((TIMEOUT + 1))
check "5b past the timeout B stays, A is gone" only_b
check "5c the rules file is B now" cmp -s "$RULES" "$W/b.conf"
check "5d out reaches srv through cli:8081" wait_until 10 0.5 b_out

log "an interface that comes up while rules exist"
nsx cli ip link add new0 type veth peer name new1 && nsx cli ip link set new0 up || fail "5e new0 on cli"
new0_guarded() {
    local t
    t=$(cli_table)
    [ "$(fwd_of new0)" = 1 ] && grep -q 'iifname { .*"new0".* } drop' <<<"$t"
}
check "5e is picked up within the 10 s refresh: forwarding on and guarded" wait_until 12 0.5 new0_guarded

# ---------------------------------------------------------------- 6 kill -9, restart

log "kill -9 of cli's mccd, then a restart"
kill -KILL "${MCCD_PID[$W/cli]}"
wait "${MCCD_PID[$W/cli]}" 2>/dev/null
unset "BG[${MCCD_PID[$W/cli]}]" "MCCD_PID[$W/cli]"
check "6a after kill -9 the table is still there (nothing ran to remove it)" [ "$(mcc_tables)" = 1 ]
check "6b and cli's data-dir remembers eth0's forwarding" grep -q '"eth0": "0"' "$W/cli/data/forwarding.json"
mccd_start cli "$W/cli"
wait_until 20 0.3 healthy cli || fail "6 cli healthy after restart"
check "6c after the restart: exactly one mcc table" [ "$(mcc_tables)" = 1 ]
rules=$(cli_table | grep -c 'tcp dport 8081 dnat ip to ')
check "6d with B's rules from the file, once each ($rules: prerouting and output)" [ "$rules" = 2 ]
check "6e out reaches srv through cli:8081 after the restart" wait_until 25 0.5 b_out

# ---------------------------------------------------------------- 7 clean stop

log "SIGTERM to every mccd"
mccd_stop "$W/cli"
rc=$?
check "7a cli exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
check "7b no mcc table after a clean stop" [ "$(mcc_tables)" = 0 ]
check "7c eth0's and lan0's forwarding are back to 0" sh -c "[ \"\$(ip netns exec $P-cli cat /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/lan0/forwarding | sort -u)\" = 0 ]"
check "7d the forwarding state file is gone" [ ! -e "$W/cli/data/forwarding.json" ]
check "7e the rules file stays B for the next start" cmp -s "$RULES" "$W/b.conf"
for n in root srv; do mccd_stop "$W/$n"; done

exit 0     # the EXIT trap cleans up, lists failures and prints "N passed, M failed" last
