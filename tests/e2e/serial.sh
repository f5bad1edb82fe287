#!/usr/bin/env bash
# The microcontroller node over a serial line: examples/mcu-node --serial (no IP stack, the
# link to its parent in wire::stream frames) as the child of a Linux mccd whose
# `serial-links` holds the other end, through a line that loses, corrupts and duplicates
# bytes at 115,200 baud.
#
#   sudo bash tests/e2e/serial.sh       (from anywhere; needs root, netns, /dev/net/tun)
#
# The cable: two pty pairs made by socat, and a relay (Python, below) between their inner
# ends that paces each direction to 11,520 B/s (115,200 baud, 8N1) and mangles it with a
# seeded generator: each byte is dropped, replaced by a random one or sent twice with
# probability SERIAL_MANGLE each (default 1e-4: ~3 damaged bytes in 10,000).
#
#   mccd (ns root, TUN mcc0) -- ttyA | ttyA2 -- relay -- ttyB2 | ttyB -- mcu-node --serial
#
# Only mccd needs a namespace (its TUN and routes); the MCU binary and the relay run on the
# host and touch nothing but the ptys. The tunnel has the MCU as its server (as in mcu.sh):
# root's UDP to the server endpoint's port 7 must come back from the MCU's echo service.
# Checks: the MCU joins, echoes come back through the mangled line, both deframers dropped
# damaged frames and went on delivering (resynchronised), a cut cable (the relay stopped
# for 5 s, then restarted) recovers. Prints the throughput of a burst of echoes next to
# the line rate and the frame loss under mangling. SERIAL_SECS=N: the burst's length [8];
# SERIAL_SIZE, SERIAL_WINDOW: its echoes' payload [200 B] and how many are in flight [12].
#
# Exit status: 0 when every assertion passed. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccser /tmp/mccser
CHECKS=1
MANGLE=${SERIAL_MANGLE:-0.0001}
BURST_SECS=${SERIAL_SECS:-8}
WINDOW=${SERIAL_WINDOW:-12}
SIZE=${SERIAL_SIZE:-200}
DUMP_LOGS="$W/root/mccd.log $W/root/mccd.stderr $W/mcu/mcu-node.log $W/relay.log $W/socat*.log"

mccr() { mcc_in root "$W/root" "$@"; }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 python3:python3 socat:socat awk:gawk || exit 2
need_tun
lib_start
build_release mcc-linux mcu-node
MCU=$TARGET/mcu-node
[ -x "$MCU" ] || die "missing $MCU"

# ---------------------------------------------------------------- the cable

cat >"$W/relay.py" <<'EOF'
# relay.py A B SEED MANGLE STATS: copies bytes between the ptys A and B, each direction
# paced to 11,520 B/s and mangled (drop / corrupt / duplicate, each with probability
# MANGLE per byte); writes its counters to STATS every 0.5 s (JSON).
import json, os, random, select, sys, termios, time, tty
a_path, b_path, seed, p, stats_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
RATE = 11520.0  # bytes per second: 115,200 baud, 10 bits a byte
rng = random.Random(seed)
def open_raw(path):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)  # what piled up while the cable was cut is lost
    return fd
fa, fb = open_raw(a_path), open_raw(b_path)
dirs = {fa: [fb, "a2b"], fb: [fa, "b2a"]}
st = {d: {"bytes": 0, "dropped": 0, "corrupted": 0, "duplicated": 0} for d in ("a2b", "b2a")}
budget = {fa: 0.0, fb: 0.0}
pending = {fa: b"", fb: b""}  # mangled bytes not yet written (the other side was full)
last = time.monotonic()
next_stats = 0.0
def mangle(data, s):
    out = bytearray()
    for x in data:
        r = rng.random()
        if r < p:
            s["dropped"] += 1
        elif r < 2 * p:
            out.append(rng.randrange(256) if x != 0 else rng.randrange(1, 256))
            s["corrupted"] += 1
        elif r < 3 * p:
            out += bytes([x, x])
            s["duplicated"] += 1
        else:
            out.append(x)
    return bytes(out)
while True:
    now = time.monotonic()
    for fd in budget:
        # At most 20 ms of line time banked: a burst cannot exceed the line rate.
        budget[fd] = min(budget[fd] + (now - last) * RATE, RATE * 0.02)
    last = now
    if now >= next_stats:
        with open(stats_path + ".tmp", "w") as f:
            json.dump(st, f)
        os.replace(stats_path + ".tmp", stats_path)
        next_stats = now + 0.5
    readable = [fd for fd in (fa, fb) if budget[fd] >= 1 and not pending[fd]]
    r, _, _ = select.select(readable, [], [], 0.005)
    for fd in (fa, fb):
        out, name = dirs[fd]
        if fd in r:
            try:
                data = os.read(fd, int(budget[fd]))
            except BlockingIOError:
                data = b""
            budget[fd] -= len(data)
            st[name]["bytes"] += len(data)
            pending[fd] += mangle(data, st[name])
        if pending[fd]:
            try:
                n = os.write(out, pending[fd])
            except BlockingIOError:
                n = 0
            pending[fd] = pending[fd][n:]
EOF

log "cable: socat pty pairs $W/ttyA <-> ttyA2, $W/ttyB2 <-> ttyB; relay between ttyA2 and ttyB2"
# cables_start: the two pty pairs (new /dev/pts devices behind the same links each time).
cables_start() {
    rm -f "$W/ttyA" "$W/ttyA2" "$W/ttyB" "$W/ttyB2"
    spawn - "$W/socatA.log" socat -d -d pty,raw,echo=0,link="$W/ttyA" pty,raw,echo=0,link="$W/ttyA2"
    SOCAT_A=$SPAWNED
    spawn - "$W/socatB.log" socat -d -d pty,raw,echo=0,link="$W/ttyB2" pty,raw,echo=0,link="$W/ttyB"
    SOCAT_B=$SPAWNED
    wait_until 10 0.1 sh -c "[ -e '$W/ttyA' ] && [ -e '$W/ttyA2' ] && [ -e '$W/ttyB' ] && [ -e '$W/ttyB2' ]" ||
        die "socat made no ptys"
}
cables_start
RELAY_RUN=0
relay_start() {
    RELAY_RUN=$((RELAY_RUN + 1))
    spawn - "$W/relay.log" python3 "$W/relay.py" "$W/ttyA2" "$W/ttyB2" $((1000 + RELAY_RUN)) "$MANGLE" "$W/relay.$RELAY_RUN.json"
    RELAY_PID=$SPAWNED
}
relay_start

# ---------------------------------------------------------------- provisioning

log "namespace root (mccd with its TUN); provisioning: CA, network, root, mcu"
ns_add root || die "namespace"
pki "$W" || die "CA and network certificate"
mcc_node root "$W/root" "" log-level debug serial-links "$W/ttyA@115200" || die "mcc init root"
ROOT_ID=$NODE_ID
mcc_node - "$W/mcu" "" || die "mcc init mcu"
MCU_ID=$NODE_ID
log "root = $ROOT_ID; mcu = $MCU_ID"
mcc_tunnel - "$W/mcu" "$ROOT_ID" udp:7 || die "mcc create-tunnel"
log "tunnel: server endpoint $SEP (on mcu), client root"

# ---------------------------------------------------------------- run

# A device that cannot be opened stops mccd at start, naming key and device.
mcc_set "$W/root/mcc.conf" serial-links "$W/no-such-tty@115200"
out=$(nsx root timeout 20 "$MCCD" "$W/root" 2>&1)
rc=$?
check "0 mccd refuses to start with a missing serial device (exit $rc: $(printf '%s' "$out" | grep -o 'cannot open serial-links[^:]*: [^"]*' | head -n 1))" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && printf '%s' '$out' | grep -q 'cannot open serial-links $W/no-such-tty@115200'"
mcc_set "$W/root/mcc.conf" serial-links "$W/ttyA@115200"

T_JOIN=$(now)
mccd_start root "$W/root"
wait_until 20 0.3 mccd_healthy root "$W/root" || die "root mccd not healthy"
grep -q "serial link $W/ttyA@115200 up" "$W/root/mccd.log" || die "mccd did not open $W/ttyA"
spawn - "$W/mcu/mcu-node.log" "$MCU" "$W/mcu" --serial "$W/ttyB" --baud 115200 --report-secs 1
MCU_PID=$SPAWNED
log "started mccd (root) and mcu-node --serial (pid $MCU_PID)"

mcu_is_child() { mccr nodes 2>/dev/null | grep -q "$MCU_ID"; }
if wait_until 30 0.3 mcu_is_child; then
    pass "1 the MCU node joined root over the serial line in $(since "$T_JOIN") s (mcc nodes on root lists it)"
else
    fail "1 the MCU node joined root over the serial line"
fi
check "2 MCU log reports its parent up" wait_until 15 0.5 grep -q "parent up" "$W/mcu/mcu-node.log"

ADDR=""
if mcc_resolve_wait 30 root "$W/root" "$SEP"; then
    pass "3 the tunnel offer crossed the line (mcc resolve SEP on root = $ADDR)"
else
    fail "3 the tunnel offer crossed the line" "mcc resolve $SEP failed"
fi

# echo_run MODE ARGS: the UDP client in root toward ADDR:7.
#   seq N SIZE: N echoes one after another (1 s timeout each, no retry); prints "ok N".
#   burst SECS SIZE WINDOW: WINDOW requests in flight for SECS; prints the counts.
echo_run() {
    nsx root timeout 60 python3 - "$ADDR" "$@" <<'EOF'
import os, socket, sys, time
addr, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def payload(i, size):
    head = b"%08d:" % i
    return head + bytes((i * 7 + j) % 251 + 1 for j in range(max(0, size - len(head))))
if mode == "seq":
    n, size = int(sys.argv[3]), int(sys.argv[4])
    s.settimeout(1.0)
    ok = 0
    for i in range(n):
        m = payload(i, size)
        s.sendto(m, (addr, 7))
        t = time.monotonic() + 1.0
        while time.monotonic() < t:
            try:
                d, a = s.recvfrom(4096)
            except socket.timeout:
                break
            if d == m:
                ok += 1
                break
    print("ok %d" % ok)
else:
    secs, size, window = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    s.settimeout(0.05)
    sent, got, seq, lost = {}, 0, 0, 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        now = time.monotonic()
        # Requests unanswered for 2 s are lost; refill the window.
        for k in [k for k, (t, _) in sent.items() if now - t > 2.0]:
            del sent[k]
            lost += 1
        while len(sent) < window:
            m = payload(seq, size)
            s.sendto(m, (addr, 7))
            sent[seq] = (now, m)
            seq += 1
        try:
            d, a = s.recvfrom(4096)
        except socket.timeout:
            continue
        k = int(d[:8])
        if k in sent and sent[k][1] == d:
            del sent[k]
            got += 1
    el = time.monotonic() - start
    # Still in flight at the end: neither answered nor lost.
    print("sent %d got %d secs %.2f bytes %d lost %d" % (seq - len(sent), got, el, got * size, lost))
EOF
}

log "echoes through the mangled line (mangle $MANGLE per byte and kind)"
rec() { [ "$(echo_run seq 1 32)" = "ok 1" ]; }
wait_until 10 0.2 rec || log "first echo not answered within 10 s"
out=$(echo_run seq 30 64)
ok=${out#ok }
check "4 UDP echo on the MCU through tunnel and serial line: $ok/30 round trips of 64 B (1 s each, no retry)" [ "${ok:-0}" -ge 20 ]
out=$(echo_run seq 5 500)
ok5=${out#ok }
check "5 500-byte echoes come back intact through the mangled line: $ok5/5" [ "${ok5:-0}" -ge 2 ]

# Throughput: SIZE-byte echoes [200], WINDOW in flight [12], for BURST_SECS. Bytes on the line come from the
# relay's counters over the same interval.
relay_bytes() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['a2b']['bytes'], s['b2a']['bytes'])" "$W/relay.$RELAY_RUN.json"; }
read -r a0 b0 <<<"$(relay_bytes)"
t0=$(now)
burst=$(echo_run burst "$BURST_SECS" "$SIZE" "$WINDOW")
sleep 0.6
read -r a1 b1 <<<"$(relay_bytes)"
el=$(since "$t0" 2)
read -r _ sent _ got _ secs _ bytes _ lost <<<"$burst"
log "burst: $burst"
THROUGHPUT=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / s }')
LINE_A=$(awk -v x=$((a1 - a0)) -v s="$el" 'BEGIN { printf "%.0f", x / s }')
LINE_B=$(awk -v x=$((b1 - b0)) -v s="$el" 'BEGIN { printf "%.0f", x / s }')
LOSS=$(awk -v s="$sent" -v l="$lost" 'BEGIN { printf "%.1f", s ? 100 * l / s : 100 }')
echo "THROUGHPUT at 115200 baud: echo payload $THROUGHPUT B/s each way ($got of $sent $SIZE-byte echoes ($WINDOW in flight) in $secs s," \
    "$LOSS% lost); line use mccd->mcu $LINE_A B/s, mcu->mccd $LINE_B B/s of 11520 B/s"
check "6 the burst moved data: $THROUGHPUT B/s of echo payload each way, $LOSS% of round trips lost" [ "${got:-0}" -gt 20 ]

# Both deframers dropped damaged frames and went on delivering good ones.
line_stat() { grep -o "line frames [0-9]* bad-crc [0-9]* malformed [0-9]*" "$W/mcu/mcu-node.log" | tail -n 1; }
read -r _ _ mframes _ mcrc _ mmal <<<"$(line_stat)"
log "MCU deframer: $mframes frames, $mcrc bad CRC, $mmal malformed"
check "7 the MCU's deframer dropped damaged frames ($((mcrc + mmal))) and delivered $mframes good ones" \
    sh -c "[ $((mcrc + mmal)) -gt 0 ] && [ ${mframes:-0} -gt 50 ]"
DAMAGED=$(grep -o "[0-9]* damaged frames dropped" "$W/root/mccd.log" | awk '{ n += $1 } END { print n + 0 }')
check "8 mccd's deframer dropped damaged frames ($DAMAGED, logged each second) and went on" \
    sh -c "[ $DAMAGED -gt 0 ] && [ $got -gt 20 ]"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print('    relay:', s)" "$W/relay.$RELAY_RUN.json"
RGOOD=$(grep -o "([0-9]* good in" "$W/root/mccd.log" | tail -n 1 | tr -dc 0-9)
echo "FRAME LOSS under mangling $MANGLE per byte and kind: mccd->mcu $((mcrc + mmal)) of $((mframes + mcrc + mmal)) frames" \
    "($(awk -v d=$((mcrc + mmal)) -v g="$mframes" 'BEGIN { printf "%.1f", 100 * d / (d + g) }')%), mcu->mccd $DAMAGED of $((${RGOOD:-0} + DAMAGED))" \
    "($(awk -v d="$DAMAGED" -v g="${RGOOD:-0}" 'BEGIN { printf "%.1f", 100 * d / (d + g) }')%) dropped by the deframers"

# A cut cable: the relay stopped for 5 s (what each side writes meanwhile is lost, a frame
# may be cut in half), then a new one.
log "cable cut: relay stopped for 5 s"
kill_pids "$RELAY_PID"
sleep 5
relay_start
T_CUT=$(now)
if wait_until 30 0.2 rec; then
    pass "9 after a 5 s cable cut echoes come back again ($(since "$T_CUT") s after reconnecting)"
else
    fail "9 after a 5 s cable cut echoes come back again"
fi
out=$(echo_run seq 10 64)
check "10 after the cut: ${out#ok }/10 round trips" [ "${out#ok }" -ge 6 ]
# The devices vanish and come back (both socats and the relay stopped, new ptys behind the
# same paths after 2 s): mccd and the MCU each reopen their device.
log "devices unplugged: socats and relay stopped for 2 s, new ptys"
kill_pids "$RELAY_PID" "$SOCAT_A" "$SOCAT_B"
sleep 2
cables_start
relay_start
T_PLUG=$(now)
if wait_until 30 0.2 rec; then
    pass "11 after the devices came back echoes return ($(since "$T_PLUG") s)"
else
    fail "11 after the devices came back echoes return"
fi
check "12 mccd reopened its serial device" grep -q "serial link $W/ttyA reopened" "$W/root/mccd.log"
check "13 the MCU reopened its serial device" grep -q "reopening in 1 s" "$W/mcu/mcu-node.log"
check "14 the MCU node is still running, heap within 64 KiB" \
    sh -c "kill -0 $MCU_PID && ! grep -q 'HEAP BUDGET EXCEEDED' '$W/mcu/mcu-node.log'"
HWM=$(grep -o 'heap high-water mark [0-9]* B' "$W/mcu/mcu-node.log" | tail -n 1 | awk '{print $4}')
log "MCU heap high-water mark over serial: ${HWM:-?} B of 65536"
tail -n 2 "$W/mcu/mcu-node.log" | sed 's/^/    /'
exit 0
