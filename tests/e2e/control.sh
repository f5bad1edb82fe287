#!/usr/bin/env bash
# End-to-end test of the control socket against a local unprivileged user (docs/SECURITY.md,
# "Control socket"): a root node r and its child a in two namespaces; r's socket lives in a
# sticky world-writable directory, as /tmp/.mcc-socket does. An unprivileged user U
# (nobody, or a system user created here) runs the mcc client with setpriv.
#
#   sudo bash tests/e2e/control.sh
#
#   1 the socket's mode is the documented 0666 even though mccd runs with umask 000
#   2 read-only requests (id, health, parent, nodes, resolve, route) work for U
#   3 `mcc revoke` as U is refused by the daemon (exit 1) and changes nothing
#   4 create-tunnel as U (the socket request, and the CLI's reload) is refused, no tunnel
#   5 clients that connect and stall (half a request line, held open) do not stop
#     `mcc health` from answering, for U and, past the connection bound, for root
#   6 with mccd stopped and the path squatted by U, root's `mcc revoke`, `mcc health` and
#     `mcc create-tunnel` fail with a clear error instead of reporting success
#   7 a restarted mccd takes the path back
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccctl /tmp/mccctl
CHECKS=1
PORT=9376
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/*.log"

need_root
need_tools ip:iproute2 setpriv:util-linux python3:python3 || exit 2
need_tun
lib_start
build_release mcc-linux

# ---------------------------------------------------------------- the unprivileged user

if id nobody >/dev/null 2>&1; then
    U=nobody
else
    id mcctest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mcctest ||
        die "useradd mcctest"
    U=mcctest
fi
U_UID=$(id -u "$U")
U_GID=$(id -g "$U")
[ "$U_UID" != 0 ] || die "$U is root"
# The system python (pyenv shims under /root are not reachable by U).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
AS_U=(setpriv --reuid="$U_UID" --regid="$U_GID" --clear-groups --)
as_u() { "${AS_U[@]}" "$@"; }

# Binaries and helpers where U can read them; RUN is sticky and world-writable like /tmp.
chmod 755 "$W"
mkdir -p "$W/bin" "$W/pub" "$W/run" "$W/u"
cp "$MCC" "$MCCD" "$W/bin/"
MCC=$W/bin/mcc
MCCD=$W/bin/mccd
chmod 1777 "$W/run"
chown "$U_UID:$U_GID" "$W/u"
SOCK=$W/run/.mcc-socket

# stall.py PATH N SECONDS: N connections that each send half a request line, then hold.
cat >"$W/bin/stall.py" <<'PY'
import socket, sys, time
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.sendall(b'{"version":1,"cmd":')
        conns.append(s)
    except OSError as e:
        print("connect:", e, flush=True)
print("ready", len(conns), flush=True)
time.sleep(secs)
PY
# ask.py PATH JSON: one raw request; prints the response line.
cat >"$W/bin/ask.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.decode().strip())
PY
# squat.py PATH: what a squatter serves: "ok" to every request.
cat >"$W/bin/squat.py" <<'PY'
import os, socket, sys
path = sys.argv[1]
l = socket.socket(socket.AF_UNIX)
l.bind(path)
os.chmod(path, 0o666)
l.listen(16)
print("listening", flush=True)
while True:
    c, _ = l.accept()
    c.settimeout(2)
    try:
        c.recv(65536)
        c.sendall(b'{"version":1,"ok":true,"result":{"healthy":true,"revoked":true,"tunnels":1}}\n')
    except OSError:
        pass
    c.close()
PY
chmod 755 "$W/bin"/*.py

# ---------------------------------------------------------------- nodes

ns_add r a || die "namespaces"
veth r eth0 a eth0 10.232.0.1/24 10.232.0.2/24 || die "veth"
pki "$W" || die "CA and network certificate"
mcc_node r "$W/r" "" keep-alive-period 2s unix-socket-path "$SOCK" || die "mcc init r"
R_ID=$NODE_ID
mcc_node a "$W/a" "10.232.0.1:$PORT" keep-alive-period 2s rejoin-period 5s || die "mcc init a"
A_ID=$NODE_ID
cp "$W/r/network-certificate.txt" "$W/pub/"
cp "$W/r/network-certificate.txt" "$W/r/node-certificate.txt" "$W/u/"
chmod 644 "$W/pub/"* "$W/u/"*

# mccd must not rely on its umask for the socket's mode: start it with the loosest one.
start_r() {
    umask 000
    mccd_start r "$W/r"
    umask 022
}
start_r
mccd_start a "$W/a"
both_healthy() { "$MCC" -s "$SOCK" health >/dev/null 2>&1 && mccd_healthy a "$W/a"; }
wait_until 30 0.3 both_healthy || die "r and a did not become healthy within 30 s"
a_listed() { "$MCC" -s "$SOCK" nodes 2>/dev/null | grep -q "$A_ID"; }
wait_until 20 0.3 a_listed || die "r does not list a"
log "r = $R_ID, a = $A_ID; U = $U (uid $U_UID)"

umcc() { as_u timeout 10 "$MCC" -s "$SOCK" "$@"; } # umcc ARGS...: the client as U
ERR=$W/err.txt

# ---------------------------------------------------------------- 1 mode

mode=$(stat -c %a "$SOCK")
check "1 socket mode is 666 under umask 000 (is $mode)" [ "$mode" = 666 ]

# ---------------------------------------------------------------- 2 read-only as U

check "2a mcc id as $U" [ "$(umcc id 2>"$ERR")" = "$R_ID" ]
check "2b mcc health as $U" umcc health
u_prints() { umcc "${@:2}" 2>"$ERR" | grep -q -- "$1"; } # u_prints PATTERN ARGS...
check "2c mcc parent as $U" u_prints '"root": true' parent --json
# (retried: it failed once while the android lane loaded both cores; the cause is not found yet)
check "2d mcc nodes as $U lists a" wait_until 10 0.3 u_prints "$A_ID" nodes
addr=$(umcc resolve "$A_ID" 2>"$ERR")
check "2e mcc resolve as $U ($addr)" grep -Eq '^10\.83\.[0-9]+\.[0-9]+$' <<<"$addr"
check "2f mcc route as $U" u_prints "$A_ID" route "$A_ID"

# ---------------------------------------------------------------- 3 revoke as U

umcc revoke -p "$W/pub/network-certificate.txt" --stdin "$A_ID" <"$NETKEY" >"$W/revoke.out" 2>"$ERR"
rc=$?
log "revoke as $U: exit $rc: $(cat "$W/revoke.out" "$ERR")"
check "3a revoke as $U: the daemon refuses it (exit 1, is $rc)" [ "$rc" = 1 ]
check "3b revoke as $U: the error names the rule" grep -qi "only root or the daemon's user" "$ERR"
check_not "3c revoke as $U: no 'revoked'" grep -q revoked "$W/revoke.out"
sleep 3
check "3d after the refused revoke r still lists a" a_listed
check "3e after the refused revoke a is still healthy" mccd_healthy a "$W/a"

# ---------------------------------------------------------------- 4 create-tunnel as U

tunnels_before=$(find "$W/r/tunnels" -type f 2>/dev/null | wc -l)
key_b64=$(tr -d '[:space:]' <"$NETKEY")
req=$(printf '{"version":1,"cmd":"create-tunnel","network_key":"%s","targets":"tcp:80","remote_node":"%s"}' "$key_b64" "$A_ID")
resp=$(as_u timeout 10 "$PY" "$W/bin/ask.py" "$SOCK" "$req" 2>&1)
log "create-tunnel request as $U: $resp"
check "4a create-tunnel request as $U: refused" grep -q '"ok":false' <<<"$resp"
check "4b create-tunnel request as $U: the error names the rule" grep -qi "only root or the daemon's user" <<<"$resp"
umcc create-tunnel -C "$W/u" -p "$W/u/network-certificate.txt" --stdin --targets tcp:80 \
    --remote-node "$A_ID" "$W/u/tunnels" <"$NETKEY" >"$W/ct.out" 2>"$ERR"
rc=$?
log "mcc create-tunnel as $U: exit $rc: $(cat "$W/ct.out" "$ERR")"
check "4c mcc create-tunnel as $U: the daemon refuses the reload (exit 1, is $rc)" [ "$rc" = 1 ]
tunnels_after=$(find "$W/r/tunnels" -type f 2>/dev/null | wc -l)
check "4d r's tunnels directory unchanged ($tunnels_before -> $tunnels_after files)" [ "$tunnels_before" = "$tunnels_after" ]
st=$("$PY" "$W/bin/ask.py" "$SOCK" '{"version":1,"cmd":"status"}' 2>&1)
check "4e r runs no tunnel" grep -q '"tunnels":\[\]' <<<"$st"

# ---------------------------------------------------------------- 5 stalled clients

timed_health() { # timed_health LIMIT_S CMD...: CMD health answers within LIMIT_S
    local t0 lim=$1
    shift
    t0=$(now)
    timeout "$lim" "$@" health >/dev/null 2>&1 || return 1
    log "health answered in $(since "$t0" 2) s"
}
spawn - "$W/stall1.log" "${AS_U[@]}" "$PY" "$W/bin/stall.py" "$SOCK" 1 15
wait_until 5 0.1 grep -q ready "$W/stall1.log" || fail "5 staller did not start"
check "5a one stalled client: health as $U answers within 1 s" timed_health 1 "${AS_U[@]}" "$MCC" -s "$SOCK"
check "5b one stalled client: health as root answers within 1 s" timed_health 1 "$MCC" -s "$SOCK"
spawn - "$W/stall64.log" "${AS_U[@]}" "$PY" "$W/bin/stall.py" "$SOCK" 64 15
STALL64=$SPAWNED
wait_until 5 0.1 grep -q ready "$W/stall64.log" || fail "5 stallers did not start"
log "stallers: $(tail -n 1 "$W/stall64.log")"
check "5c 64 stalled clients of $U: health as root answers within 1 s" timed_health 1 "$MCC" -s "$SOCK"
check "5d 64 stalled clients of $U: a stays healthy" mccd_healthy a "$W/a"
kill_pids "$STALL64"

# ---------------------------------------------------------------- 6 squatted socket

mccd_stop "$W/r" || log "mccd r exit status $?"
[ ! -e "$SOCK" ] || log "warning: $SOCK still exists after mccd stopped"
spawn - "$W/squat.log" "${AS_U[@]}" "$PY" "$W/bin/squat.py" "$SOCK"
SQUAT=$SPAWNED
wait_until 5 0.1 grep -q listening "$W/squat.log" || die "the squatter did not start"
log "squatted: $(stat -c '%U %a %F' "$SOCK")"
"$MCC" -s "$SOCK" revoke -p "$W/r/network-certificate.txt" --stdin "$A_ID" <"$NETKEY" >"$W/revoke2.out" 2>"$ERR"
rc=$?
log "revoke as root against the squatter: exit $rc: $(cat "$W/revoke2.out" "$ERR")"
check "6a squatted: root's mcc revoke fails (exit $rc)" [ "$rc" != 0 ]
check_not "6b squatted: no 'revoked'" grep -q revoked "$W/revoke2.out"
check "6c squatted: the error names the socket's uid $U_UID" grep -q "uid $U_UID" "$ERR"
"$MCC" -s "$SOCK" health >"$W/health2.out" 2>"$ERR"
rc=$?
log "health as root against the squatter: exit $rc: $(cat "$W/health2.out" "$ERR")"
check "6d squatted: root's mcc health fails (exit $rc)" [ "$rc" != 0 ]
"$MCC" -s "$SOCK" create-tunnel -C "$W/r" -p "$W/r/network-certificate.txt" --stdin --targets tcp:80 \
    --remote-node "$A_ID" "$W/squat-tunnels" <"$NETKEY" >"$W/ct2.out" 2>"$ERR"
rc=$?
log "create-tunnel as root against the squatter: exit $rc: $(cat "$W/ct2.out" "$ERR")"
check "6e squatted: root's mcc create-tunnel fails (exit $rc)" [ "$rc" != 0 ]
check "6f squatted: create-tunnel's error names the socket's uid $U_UID" grep -q "uid $U_UID" "$ERR"

# ---------------------------------------------------------------- 7 restart

start_r
r_healthy() { "$MCC" -s "$SOCK" health >/dev/null 2>&1; }
check "7a restarted mccd takes the squatted path back" wait_until 20 0.3 r_healthy
mode=$(stat -c %a "$SOCK")
owner=$(stat -c %u "$SOCK")
check "7b socket mode 666 and owner root again (is $mode, uid $owner)" [ "$mode:$owner" = 666:0 ]
kill_pids "$SQUAT"
