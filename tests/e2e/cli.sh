#!/usr/bin/env bash
# End-to-end test of the mcc client and mccd command lines as documented
# (shared/seeds/staex-docs-cli-config.txt; docs/CLI.md says where they deviate), against
# real daemons: r (root) ← m ← a, and b under r, on one bridge; e, a root of its own that
# mccd runs from /etc/mcc without an argument (a private mount of /etc: the host's /etc is
# never touched).
#
#   sudo bash tests/e2e/cli.sh
#
#   1 create-tunnel with the documented options alone: -s names the daemon, which tells the
#     server node (its certificate is nowhere the client looks); without an output
#     directory the tunnel goes where that daemon reads tunnels; -p follows -C; a -C of
#     another node than the daemon's is refused; a port range is refused; nothing written
#   2 init checks parents, certificate and key before writing anything; a half-done
#     directory is refused whole; the key prompt (a terminal) reads one line, unechoed
#   3 generate-node-certificate never replaces a node key without -y; its default lifetime
#     is 7 days for a node that renews (cert-update-addr), else 10 years
#   4 mcc parent prints ip:port; --id the ID; a root has none
#   5 mccd without an argument runs /etc/mcc
#   6 mcc certificates FILE reads FILE, whatever its name
#   7 mcc route from a leaf: the hops it knows, then "via parent"; the root: every hop,
#     from any source; unknown: no route
#   8 --json on every read command; 9 mcc status and mcc events
#   10 --help lists the exit codes; a bad command line exits 2
#   11 a closed standard output (| head -1) ends mcc quietly, exit 0, for every read command
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mcccli /tmp/mcccli
CHECKS=1
PORT=9376
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/*.err"

need_root
need_tools ip:iproute2 jq:jq script:util-linux unshare:util-linux || exit 2
need_tun
lib_start
build_release mcc-linux

ERR=$W/err.txt
# mcc_at NODE ARGS...: the client against NODE's daemon (the sockets are files; any
# namespace reaches them).
mcc_at() { timeout 10 "$MCC" -s "$W/$1/mcc.sock" "${@:2}"; }
# json_is NODE JQ ARGS...: `mcc ARGS --json` against NODE parses and JQ holds.
json_is() { mcc_at "$1" "${@:3}" --json 2>"$ERR" | jq -e "$2" >/dev/null; }
nfiles() { find "$1" -type f 2>/dev/null | wc -l; } # nfiles DIR

# ---------------------------------------------------------------- nodes

ns_add sw r m a b e || die "namespaces"
bridge sw br0 || die "bridge"
i=1
declare -A IP
for n in r m a b; do
    IP[$n]=10.234.0.$i
    bridge_port sw br0 "p$n" "$n" eth0 "${IP[$n]}/24" || die "bridge port $n"
    i=$((i + 1))
done
pki "$W" || die "CA and network certificate"
mkdir -p "$W/pub"
mcc_node r "$W/r" "" keep-alive-period 2s || die "mcc init r"
R_ID=$NODE_ID
mcc_node m "$W/m" "${IP[r]}:$PORT" keep-alive-period 2s || die "mcc init m"
M_ID=$NODE_ID
mcc_node a "$W/a" "${IP[m]}:$PORT" keep-alive-period 2s || die "mcc init a"
A_ID=$NODE_ID
mcc_node b "$W/b" "${IP[r]}:$PORT" keep-alive-period 2s || die "mcc init b"
B_ID=$NODE_ID
cp "$W/r/network-certificate.txt" "$W/pub/"
NETCERT=$W/pub/network-certificate.txt
for n in r m a b; do mccd_start "$n" "$W/$n"; done
all_healthy() { for n in r m a b; do mccd_healthy "$n" "$W/$n" || return 1; done; }
wait_until 40 0.3 all_healthy || die "the four daemons did not become healthy within 40 s"
# a's record has reached the root through m.
r_knows_a() { mcc_at r nodes 2>/dev/null | grep -q "$A_ID"; }
wait_until 20 0.3 r_knows_a || die "r does not list a"
log "r = $R_ID, m = $M_ID, a = $A_ID, b = $B_ID"
etc_mcc() { [ -e /etc/mcc ] && echo present || echo absent; }
HOST_ETC_MCC=$(etc_mcc)
log "/etc/mcc on this host: $HOST_ETC_MCC (no check relies on it)"

# ---------------------------------------------------------------- 1 create-tunnel

tunnels_r=$(nfiles "$W/r/tunnels")
out=$(mcc_at r create-tunnel -p "$NETCERT" --stdin --targets tcp:80 --remote-node "$A_ID" \
    "$W/r/tunnels" <"$NETKEY" 2>"$ERR")
rc=$?
SEP1=$(tail -n 1 <<<"$out")
log "create-tunnel -s r (documented options): exit $rc: $out $(cat "$ERR")"
check "1a create-tunnel with -s and the documented options only (exit $rc)" \
    eval '[ "$rc" = 0 ] && [[ $SEP1 =~ ^[0-9a-z]{52}$ ]]'
server_is_r() { # the tunnel certificate of SEP1 names r as its server node
    mcc_at r certificates "$W/r/mcc.conf" --json 2>"$ERR" |
        jq -e --arg s "$SEP1" --arg r "$R_ID" \
            '.tunnel_certificates[] | select(.subject == $s) | .server_node == $r' >/dev/null
}
check "1b its certificate names r, the daemon's node, as the server" server_is_r
# on_a SEP: a, the client node, runs the tunnel of server endpoint SEP (delivered by r).
on_a() { json_is a "[.tunnels[] | select(.remote_endpoint == \"$1\")] | length == 1" status; }
check "1c a, the client, received the tunnel from r and runs it" wait_until 30 0.3 on_a "$SEP1"
tunnels_r=$(nfiles "$W/r/tunnels")
out=$(mcc_at r create-tunnel -p "$NETCERT" --stdin --targets udp:5000 --remote-node "$B_ID" <"$NETKEY" 2>"$ERR")
rc=$?
log "create-tunnel -s r without an output directory: exit $rc: $out $(cat "$ERR")"
SEP2=$(tail -n 1 <<<"$out")
check "1d without an output directory: into the daemon's tunnels directory ($(nfiles "$W/r/tunnels") files, were $tunnels_r)" \
    eval '[ "$rc" = 0 ] && [ "$(nfiles "$W/r/tunnels")" -gt "$tunnels_r" ]'
on_r() { json_is r "[.tunnels[] | select(.remote_endpoint != null)] | length >= $1" status; }
check "1e ... and r runs it at once (two tunnels)" wait_until 10 0.3 on_r 2
out=$(mcc_at r create-tunnel -C "$W/r" --stdin --targets tcp:81 --remote-node "$A_ID" <"$NETKEY" 2>"$ERR")
rc=$?
log "create-tunnel -C r without -p: exit $rc: $out $(cat "$ERR")"
check "1f -p defaults to CONFIG_DIR/network-certificate.txt (exit $rc)" [ "$rc" = 0 ]
before=$(nfiles "$W/a/tunnels")
mcc_at r create-tunnel -C "$W/a" --stdin --targets tcp:82 --remote-node "$B_ID" <"$NETKEY" >/dev/null 2>"$ERR"
rc=$?
log "create-tunnel -s r -C a: exit $rc: $(cat "$ERR")"
check "1g -C of another node than the daemon's: refused (exit $rc), naming both" \
    eval '[ "$rc" = 2 ] && grep -q "$R_ID" "$ERR" && grep -q "$A_ID" "$ERR"'
check "1h ... nothing written to a's tunnels" [ "$(nfiles "$W/a/tunnels")" = "$before" ]
before=$(nfiles "$W/r/tunnels")
mcc_at r create-tunnel -p "$NETCERT" --stdin --targets tcp:8000-8010 --remote-node "$A_ID" <"$NETKEY" >/dev/null 2>"$ERR"
rc=$?
log "create-tunnel --targets tcp:8000-8010: exit $rc: $(cat "$ERR")"
check "1i a port range is refused as usage (exit $rc), saying so" eval '[ "$rc" = 2 ] && grep -qi range "$ERR"'
check "1j ... nothing written" [ "$(nfiles "$W/r/tunnels")" = "$before" ]

# ---------------------------------------------------------------- 2 init

init_x() { timeout 10 "$MCC" init -C "$W/x" --stdin "$@" >/dev/null 2>"$ERR"; } # init_x ARGS... <KEY
init_x -p 10.0.0.1:99999 "$NETB64" <"$NETKEY"
rc=$?
check "2a init with a bad parent: exit 2 (is $rc), names it" eval '[ "$rc" = 2 ] && grep -q 10.0.0.1:99999 "$ERR"'
check "2b ... nothing written" [ ! -e "$W/x" ]
init_x AAAAnot-a-certificate <"$NETKEY"
rc=$?
check "2c init with a bad certificate: exit 2 (is $rc), nothing written" eval '[ "$rc" = 2 ] && [ ! -e "$W/x" ]'
init_x "$NETB64" <"$W/ca/ca-private-key.txt"
rc=$?
check "2d init with another key than the network's: exit 2 (is $rc), nothing written" eval '[ "$rc" = 2 ] && [ ! -e "$W/x" ]'
init_x -p nowhere.invalid "$NETB64" <"$NETKEY"
rc=$?
check "2e init with a parent that does not resolve: exit 2 (is $rc), nothing written" eval '[ "$rc" = 2 ] && [ ! -e "$W/x" ]'
mkdir -p "$W/x"
echo "# mine" >"$W/x/mcc.conf"
init_x "$NETB64" <"$NETKEY"
rc=$?
check "2f init over a half-done directory (mcc.conf only): exit 2 (is $rc), no key written" \
    eval '[ "$rc" = 2 ] && [ "$(ls "$W/x")" = mcc.conf ]'
# The prompt on a terminal (script(1) gives mcc one): a line answers it; stdin stays open.
# The line comes once mcc has had time to turn the echo off (the terminal echoes what it
# receives before that).
key=$(tr -d '[:space:]' <"$NETKEY")
timeout 15 script -qec "$MCC init -C $W/z $NETB64" /dev/null >"$W/prompt.out" 2>&1 \
    < <(sleep 1.5; printf '%s\n' "$key"; exec sleep 20)
rc=$?
kill "$!" 2>/dev/null # the input's writer, still holding standard input open
log "init at a terminal: exit $rc: $(tr -d '\r' <"$W/prompt.out")"
check "2g the key prompt reads one line (exit $rc, not the 124 of waiting for end of file)" \
    eval '[ "$rc" = 0 ] && [ -s "$W/z/node-certificate.txt" ]'
check_not "2h ... and does not echo the key" grep -qF "$key" "$W/prompt.out"

# ---------------------------------------------------------------- 3 generate-node-certificate

gen() { timeout 10 "$MCC" generate-node-certificate -p "$NETCERT" --stdin "$@" <"$NETKEY" 2>"$ERR"; }
g1=$(gen "$W/g")
check "3a generate-node-certificate into a new directory" eval '[[ $g1 =~ ^[0-9a-z]{52}$ ]]'
cp "$W/g/node-private-key.txt" "$W/g.key"
gen "$W/g" >/dev/null
rc=$?
check "3b again: refused (exit $rc), naming the key" eval '[ "$rc" = 2 ] && grep -q node-private-key.txt "$ERR"'
check "3c ... the key is unchanged" cmp -s "$W/g/node-private-key.txt" "$W/g.key"
g2=$(gen -y "$W/g")
check "3d with -y: a new node ($g2), said on stderr" \
    eval '[[ $g2 =~ ^[0-9a-z]{52}$ ]] && [ "$g2" != "$g1" ] && grep -q "$g1" "$ERR"'

# The default lifetime follows the node's renewal (docs/RENEWAL.md): 7 days where its
# mcc.conf names a renewal service, 10 years where it does not.
mkdir -p "$W/h" "$W/k"
printf 'cert-update-addr = %s\n' "$g1" >"$W/h/mcc.conf"
printf 'log-level = info\n' >"$W/k/mcc.conf"
gen "$W/h" >/dev/null && gen "$W/k" >/dev/null || die "generate-node-certificate h, k"
days_left() { # days_left DIR: whole days until its node certificate ends
    "$MCC" certificates --json "$1/mcc.conf" 2>/dev/null | python3 -c '
import datetime as d, json, sys
end = json.load(sys.stdin)["node_certificate"]["not_after"]
end = d.datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=d.timezone.utc)
print((end - d.datetime.now(d.timezone.utc)).days)'
}
dh=$(days_left "$W/h") dk=$(days_left "$W/k")
check "3e with cert-update-addr in mcc.conf: 7 days by default (is $dh)" test "${dh:-0}" -eq 6 -o "${dh:-0}" -eq 7
check "3f without: 10 years (is $dk days)" test "${dk:-0}" -ge 3649
g3=$(gen -y --lifetime 2m "$W/h")
check "3g --lifetime wins over the default" eval '[ "$(days_left "$W/h")" = 0 ]'

# ---------------------------------------------------------------- 4 parent

check "4a mcc parent prints ip:port ($(mcc_at m parent 2>&1))" [ "$(mcc_at m parent 2>&1)" = "${IP[r]}:$PORT" ]
check "4b mcc parent --id prints the ID" [ "$(mcc_at m parent --id 2>&1)" = "$R_ID" ]
check "4c mcc parent --json" json_is m ".address == \"${IP[r]}:$PORT\" and .id == \"$R_ID\"" parent
out=$(mcc_at r parent 2>"$ERR")
rc=$?
check "4d on a root: nothing on stdout, exit 0 (is $rc), said on stderr" \
    eval '[ "$rc" = 0 ] && [ -z "$out" ] && grep -q root "$ERR"'
check "4e on a root --json: root true" json_is r '.root == true and .address == null' parent

# ---------------------------------------------------------------- 5 mccd without an argument

mcc_node e "$W/e" "" || die "mcc init e"
E_ID=$NODE_ID
# mccd in a private mount namespace where /etc is an overlay of the host's and /etc/mcc is
# e's directory: what it reads there is e's.
mkdir -p "$W/etc-up" "$W/etc-work"
spawn e "$W/e/mccd.stderr" unshare -m sh -c '
    mount --make-rprivate / &&
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc &&
    mkdir -p /etc/mcc && mount --bind "$3" /etc/mcc && exec "$4"' _ \
    "$W/etc-up" "$W/etc-work" "$W/e" "$MCCD"
e_id() { [ "$(mcc_at e id 2>/dev/null)" = "$E_ID" ]; }
check "5a mccd without an argument runs the node of /etc/mcc" wait_until 15 0.3 e_id
check "5b ... the host's /etc is as it was (/etc/mcc: $HOST_ETC_MCC)" [ "$(etc_mcc)" = "$HOST_ETC_MCC" ]

# ---------------------------------------------------------------- 6 certificates FILE

mkdir -p "$W/alt"
printf 'node-certificate = %s\nnetwork-certificates = %s\ntunnels = %s\n' \
    "$W/a/node-certificate.txt" "$W/a/network-certificate.txt" "$W/alt/tunnels" >"$W/alt/other.conf"
out=$(timeout 10 "$MCC" certificates "$W/alt/other.conf" 2>&1)
log "mcc certificates other.conf: $out"
check "6a mcc certificates FILE shows FILE's node certificate (a's)" grep -q "$A_ID" <<<"$out"
alt_json() { "$MCC" certificates "$W/alt/other.conf" --json | jq -e --arg a "$A_ID" '.node_certificate.subject == $a' >/dev/null; }
check "6b ... --json: the node certificate's subject is a" alt_json

# ---------------------------------------------------------------- 7 route

out=$(mcc_at a route "$B_ID" 2>"$ERR")
log "route b from a: $(tr '\n' '|' <<<"$out")"
route_a_b() {
    [ "$(head -n 2 <<<"$out" | tr '\n' ' ')" = "$A_ID $M_ID " ] && grep -qi "via parent" <<<"$out" &&
        [ "$(tail -n 1 <<<"$out" | awk '{print $1}')" = "$B_ID" ] && ! grep -q "$R_ID" <<<"$out"
}
check "7a from the leaf a: a, m, then via parent to b; not r, which a does not know" route_a_b
check "7b ... --json: hops [a, m], via_parent" json_is a ".hops == [\"$A_ID\", \"$M_ID\"] and .via_parent" route "$B_ID"
out=$(mcc_at r route "$A_ID" 2>"$ERR")
check "7c from the root: r, m, a" [ "$(tr '\n' ' ' <<<"$out")" = "$R_ID $M_ID $A_ID " ]
out=$(mcc_at r route "$A_ID" "$B_ID" 2>"$ERR")
check "7d from the root, source b: b, r, m, a" [ "$(tr '\n' ' ' <<<"$out")" = "$B_ID $R_ID $M_ID $A_ID " ]
mcc_at r route "$E_ID" >/dev/null 2>"$ERR"
rc=$?
check "7e a node the root does not know: no route (exit $rc)" eval '[ "$rc" = 1 ] && grep -qi "no route" "$ERR"'

# ---------------------------------------------------------------- 8 --json, 9 status, events

check "8a id --json" json_is r ".id == \"$R_ID\"" id
check "8b health --json" json_is r '.healthy == true' health
check "8c resolve --json" json_is r ".result | test(\"^10\\\\.83\\\\.\")" resolve "$A_ID"
check "8d nodes --json" json_is r "[.[].node_id] | index(\"$A_ID\") != null" nodes
check "8e status --json" json_is r ".id == \"$R_ID\" and (.peers >= 2)" status
check "8f events --json" json_is r '[.[].event | select(test("link up"))] | length > 0' events
check "8g certificates --json" json_is r ".node_certificate.subject == \"$R_ID\"" certificates "$W/r/mcc.conf"
out=$(mcc_at r status 2>"$ERR")
check "9a mcc status" eval 'grep -q "$R_ID" <<<"$out" && grep -qi peers <<<"$out"'
out=$(mcc_at r events 2>"$ERR")
check "9b mcc events" grep -q "link up with" <<<"$out"

# ---------------------------------------------------------------- 10 help

out=$("$MCC" --help)
check "10a mcc --help lists the exit codes" eval 'grep -qi "exit codes" <<<"$out" && grep -q "^  3 " <<<"$out"'
# (help text on every option: the unit test every_option_has_help in mcc.rs)
"$MCC" no-such-command >/dev/null 2>&1
check "10c a bad command line exits 2" [ $? = 2 ]

# ---------------------------------------------------------------- 11 closed pipe

out=$(mcc_at r nodes 2>"$ERR" | head -1)
check "11a mcc nodes | head -1: the header, nothing on stderr" eval 'grep -q NODE_ID <<<"$out" && [ ! -s "$ERR" ]'
# head has exited before mcc writes: every write meets a closed pipe.
closed_pipe() { # closed_pipe ARGS...: mcc ARGS into a pipe whose reader is gone
    local rc
    rm -f "$W/pipe.rc"
    {
        echo first
        sleep 0.5
        mcc_at r "$@" 2>"$ERR"
        echo $? >"$W/pipe.rc"
    } | head -1 >/dev/null
    rc=$(cat "$W/pipe.rc")
    [ "$rc" = 0 ] && [ ! -s "$ERR" ] || { log "mcc $*: exit $rc into a closed pipe: $(cat "$ERR")"; return 1; }
}
for args in "nodes" "nodes --json" "events" "status" "route $A_ID" "id" "parent --json" \
    "certificates $W/r/mcc.conf" "--help"; do
    # shellcheck disable=SC2086 # the arguments are words
    check "11b mcc $args into a closed pipe: exit 0, no panic" closed_pipe $args
done
