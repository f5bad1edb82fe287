#!/usr/bin/env bash
# Scale benchmark with real processes (issue 4, "Scale, real processes"): one root mccd and
# N child mccd processes, each in its own network namespace, all children of the root.
#
#   sudo bench/scale-real.sh [N ...]          (default: 500; e.g. `bench/scale-real.sh 500 1000`)
#
# Each N is a separate run (own namespaces, keys, daemons), one CSV row each; the CSV is
# rewritten unless APPEND=1. The machine's load matters: N daemons starting at once compete
# for the CPU with the root (on 2 cores a launch storm can starve the root's handshakes for
# seconds, and a child's unanswered Init is retried after 1, 2, 4, 8 s), so the load average
# before the run is logged.
# Environment knobs [defaults]: BIN [build with cargo] directory holding mccd and mcc (skips
# the build; BIN_LABEL names it in the CSV), W [/tmp/mccscale] work directory, CSV [bench/scale-real.csv], LOG
# [bench/scale-real.log] summary, PING_SAMPLE [10] tunnels pinged, REACH_TIMEOUT [300] s,
# SETTLE [5] s between "all reachable" and the memory snapshot, KEEP_ALIVE [30s]
# keep-alive-period of every node, LAUNCH [nsenter] or `ip` (ip netns exec) to start daemons.
#
# Underlay: namespace mccs-sw holds the bridges; the root (mccs-r, 10.90.0.1) and the children
# (mccs-c1 ... mccs-cN, 10.90.x.y/16) each have a veth whose other end is a bridge port. A
# bridge takes at most 1023 ports, so every 1000 ports get their own bridge, chained to br0
# by a veth pair. Neighbour entries are static (nud permanent): the ARP table's gc_thresh
# limits are global (not per namespace; a namespace cannot even read them) and count only
# dynamic entries, so 1000+ nodes need no change of any host setting. Nothing is created in
# the host's namespace and every address is inside 10.90.0.0/16 in these namespaces.
#
# Provisioning as in tests/e2e/linux.sh: one CA, one network certificate and key, then
# `mcc init -C DIR --stdin -p 10.90.0.1:9376 NETCERT < network key` per node (key, node
# certificate and mcc.conf), run in parallel with xargs -P. The root's mcc.conf sets
# `max-peers = N + 16` (the core's peer table defaults to 256 slots).
#
# Measured:
#   launch_s         time to start the N child processes (one loop, no waiting)
#   all_reachable_s  first child started -> every child reachable from the root. Reachable:
#                    the root's control socket `nodes` (what `mcc nodes` prints) lists the
#                    child with an underlay ADDRESS (a direct peer with a live session) and
#                    PARENT = the root (the child's own topology update arrived, so the child
#                    completed its side of the link). Polled every 0.2 s.
#   reach_p50/p90_s  the same per child (time at which it was first seen reachable; the
#                    poller runs at nice -10, yet while N processes start on 2 cores its first
#                    answer can come late, so these are upper bounds)
#   linkup_*_s       per child, the root's log line "link up with <child>" (microsecond
#                    timestamps, no polling): p50, p90 and the last one
#   rss/pss/private  per child after SETTLE s: VmRSS (/proc/PID/status), Pss and
#                    Private_Clean+Private_Dirty (/proc/PID/smaps_rollup). RSS counts the
#                    shared binary text and libc in every process; Pss divides shared pages
#                    among their users; Private is what one more process really costs.
#   root_*           the root's VmRSS before any child started and after SETTLE, and the
#                    growth per child ((end - start) / N). The peer table (max-peers slots) is
#                    allocated at start, so it is in root_rss_start_kb, not in the growth.
#   root_inits_rate_limited  handshake Inits past the root's rate limit (core init_rate,
#                    50/s): answered with a cookie, which costs the child one round trip.
#   root_cpu_s       the root daemon's CPU time (user + system) from the first child start
#                    until all were reachable.
#   ping             PING_SAMPLE tunnels (server: child s, client: another child, icmp
#                    allowed), created with `mcc create-tunnel`; the client pings the server
#                    endpoint 3 times through the tunnel, which crosses the root (2 hops).
# Per-process rows go to W/N/procs.csv, the reachability timeline (t, reachable, root RSS)
# to W/N/timeline.csv. Everything (daemons, namespaces) is removed on exit, even on failure;
# W stays for post-mortem and is wiped at the next run.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 2
. tests/e2e/lib.sh
lib_init mccs "${W:-/tmp/mccscale}"   # namespace prefix: mccs-sw, mccs-r, mccs-c1 ...

RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(500)
CSV=${CSV:-$REPO/bench/scale-real.csv}
LOG=${LOG:-$REPO/bench/scale-real.log}
PING_SAMPLE=${PING_SAMPLE:-10}
REACH_TIMEOUT=${REACH_TIMEOUT:-300}
SETTLE=${SETTLE:-5}
KEEP_ALIVE=${KEEP_ALIVE:-30s}
LAUNCH=${LAUNCH:-nsenter}
# Daemons are started as `nsenter --net=... -- mccd` (or `ip netns exec`, LAUNCH=ip): both
# exec the program, so the PIDs are the daemons themselves (signals, /proc/PID).
NS_LAUNCH=$LAUNCH
LOG_FILE=$LOG
PORTS_PER_BRIDGE=1000
ROOT_IP=10.90.0.1
PORT=9376
ROOT_PID=""

# Child i (1-based) has underlay index i + 1 (the root is 1): 10.90.(idx/256).(idx%256).
child_ip() { local x=$(($1 + 1)); echo "10.90.$((x / 256)).$((x % 256))"; }
mac_of() { local x=$1; printf '02:90:00:%02x:%02x:%02x' $(((x >> 16) & 255)) $(((x >> 8) & 255)) $((x & 255)); }

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 nsenter:util-linux python3:python3 awk:gawk xargs:findutils ping:iputils-ping || exit 2
need_tun
: >"$LOG"
if [ -n "${BIN:-}" ]; then
    use_bins "$BIN" || die "missing $MCC or $MCCD"
else
    build_release mcc-linux
fi
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || COMMIT="$COMMIT+dirty"
[ -n "${BIN:-}" ] && COMMIT="BIN ${BIN_LABEL:-$BIN}"

lib_start

# `ip -batch` keeps a descriptor per namespace it names: as many as the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ---------------------------------------------------------------- helpers in python

mkdir -p "$W"
# ctl.py SOCKET CMD: one control-socket request, prints the JSON result.
cat >"$W/ctl.py" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(json.dumps({"version": 1, "cmd": sys.argv[2]}).encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(1 << 20)
    if not d:
        break
    buf += d
r = json.loads(buf)
if r.get("error"):
    sys.exit("error: " + str(r["error"]))
print(json.dumps(r.get("result")))
EOF
# poll.py SOCKET ROOT_ID ROOT_PID T0_FILE IDS_FILE TIMEOUT OUT_REACH OUT_TIMELINE: polls the
# root's `nodes` until every child is reachable (see the header); T0_FILE appears when the
# first child is started. Exit 0: all reachable.
cat >"$W/poll.py" <<'EOF'
import json, os, socket, sys, time
sock, root_id, root_pid, t0_file, ids_file, timeout, out_reach, out_tl = sys.argv[1:9]
want = [l.split(",") for l in open(ids_file).read().split()]   # "i,id"
pending = {nid: int(i) for i, nid in want}
reach = {}
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return 0
def nodes():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(b'{"version":1,"cmd":"nodes"}\n')
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    s.close()
    return json.loads(buf).get("result") or []
while not os.path.exists(t0_file):
    time.sleep(0.01)
t0 = float(open(t0_file).read())
tl = open(out_tl, "w")
tl.write("t_s,reachable,root_rss_kb\n")
deadline = time.time() + float(timeout)
while pending and time.time() < deadline:
    try:
        rows = nodes()
    except Exception as e:
        print("poll:", e, file=sys.stderr)
        rows = []
    t = time.time() - t0
    for r in rows:
        nid = r.get("node_id")
        if nid in pending and r.get("address") and r.get("parent") == root_id:
            reach[nid] = (pending.pop(nid), t)
    tl.write(f"{t:.2f},{len(reach)},{rss(root_pid)}\n")
    tl.flush()
    if pending:
        time.sleep(0.2)
with open(out_reach, "w") as f:
    f.write("child,node_id,reach_s\n")
    for nid, (i, t) in sorted(reach.items(), key=lambda kv: kv[1][0]):
        f.write(f"{i},{nid},{t:.2f}\n")
sys.exit(0 if not pending else 1)
EOF
# procmem.py OUT ROLE:PID ...: VmRSS, VmHWM, RssAnon, RssFile, Pss, Private per process.
cat >"$W/procmem.py" <<'EOF'
import sys
out = open(sys.argv[1], "w")
out.write("node,pid,vmrss_kb,vmhwm_kb,rss_anon_kb,rss_file_kb,pss_kb,private_kb\n")
for arg in sys.argv[2:]:
    node, pid = arg.split(":")
    try:
        st = {l.split(":")[0]: l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "VmHWM", "RssAnon", "RssFile"))}
        sm = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{pid}/smaps_rollup") if l.split(":")[0] in ("Pss", "Private_Clean", "Private_Dirty")}
    except OSError:
        continue   # exited: counted as not alive
    out.write(f"{node},{pid},{st['VmRSS']},{st['VmHWM']},{st['RssAnon']},{st['RssFile']},{sm['Pss']},{sm['Private_Clean'] + sm['Private_Dirty']}\n")
EOF
# summary.py DIR N ...: one CSV row (without the leading columns) from procs.csv etc.
cat >"$W/summary.py" <<'EOF'
import csv, datetime, re, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
procs = list(csv.DictReader(open(f"{d}/procs.csv")))
kids = [p for p in procs if p["node"] != "root"]
root = [p for p in procs if p["node"] == "root"]
reach = [float(r["reach_s"]) for r in csv.DictReader(open(f"{d}/reach.csv"))]
# The root's log: "<RFC 3339 time> INFO link up with <id> at <addr>", first one per child.
t0 = float(open(f"{d}/t0").read())
kids_ids = {l.split(",")[1] for l in open(f"{d}/ids").read().split()}
up = {}
for line in open(f"{d}/root/mccd.log", errors="replace"):
    m = re.match(r"(\S+)\s+INFO\s+link up with (\w+)", line)
    if m and m.group(2) in kids_ids and m.group(2) not in up:
        t = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        up[m.group(2)] = t - t0
linkup = list(up.values()) if len(up) == len(kids_ids) else []
def mmm(key):
    v = sorted(int(p[key]) for p in kids)
    return (v[0], int(statistics.median(v)), v[-1]) if v else ("", "", "")
def pct(v, q):
    v = sorted(v)
    return f"{v[min(len(v) - 1, int(q * len(v)))]:.2f}" if v else ""
print(",".join(str(x) for x in [
    len(reach), len(kids),
    pct(reach, 0.5), pct(reach, 0.9),
    pct(linkup, 0.5), pct(linkup, 0.9), f"{max(linkup):.2f}" if linkup else "",
    *mmm("vmrss_kb"), *mmm("pss_kb"), *mmm("private_kb"), *mmm("rss_anon_kb"),
    root[0]["vmrss_kb"] if root else "", root[0]["pss_kb"] if root else "",
    root[0]["rss_anon_kb"] if root else "",
]))
EOF

[ -f "$CSV" ] && [ "${APPEND:-0}" = 1 ] || echo "date,commit,kernel,n,launch_s,all_reachable_s,reachable,alive,reach_p50_s,reach_p90_s,linkup_p50_s,linkup_p90_s,linkup_max_s,rss_min_kb,rss_median_kb,rss_max_kb,pss_min_kb,pss_median_kb,pss_max_kb,private_min_kb,private_median_kb,private_max_kb,anon_min_kb,anon_median_kb,anon_max_kb,root_rss_start_kb,root_rss_end_kb,root_pss_end_kb,root_anon_end_kb,root_growth_per_child_kb,root_inits_rate_limited,root_cpu_s,ping_ok,ping_total,ping_rtt_median_ms" >"$CSV"

# ---------------------------------------------------------------- one run

run() {
    local N=$1 D i nb b t0 t_launch all_s reach_rc
    D=$W/$N
    rm -rf "$D"
    mkdir -p "$D"
    log "=== N=$N (load average: $(cut -d' ' -f1-3 /proc/loadavg)): provisioning (CA, network, $((N + 1)) node certificates)"
    pki "$D" || die "CA and network certificate"
    t0=$(now)
    mcc_node - "$D/root" "" keep-alive-period "$KEEP_ALIVE" max-peers $((N + 16)) || die "mcc init root"
    # The children in parallel: each xargs job sources the harness once for 64 mcc_node calls.
    export D W MCC NETB64 NETKEY KEEP_ALIVE ROOT_IP PORT
    seq "$N" | sed 's/^/c/' | xargs -P "$(nproc)" -n 64 bash -c '. tests/e2e/lib.sh && lib_init mccs "$W" &&
        for n; do mcc_node - "$D/$n" "$ROOT_IP:$PORT" keep-alive-period "$KEEP_ALIVE" || exit 1; done' _ ||
        die "mcc init of some child failed: $(cat "$D"/*.init.err 2>/dev/null | head -n 3)"
    ROOT_ID=$(cat "$D/root.id")
    : >"$D/ids"
    for i in $(seq "$N"); do
        b=$(cat "$D/c$i.id")
        [[ $b =~ ^[0-9a-z]{52}$ ]] || die "child $i: bad node ID '$b'"
        echo "$i,$b" >>"$D/ids"
    done
    log "provisioned $((N + 1)) nodes in $(since "$t0" 2) s (root $ROOT_ID)"

    log "underlay: $((N + 2)) namespaces, $(((N + PORTS_PER_BRIDGE) / PORTS_PER_BRIDGE)) bridge(s), $((N + 1)) veth pairs"
    t0=$(now)
    nb=$(((N + 1 + PORTS_PER_BRIDGE - 1) / PORTS_PER_BRIDGE))
    {
        echo "netns add $P-sw"
        echo "netns add $P-r"
        for i in $(seq "$N"); do echo "netns add $P-c$i"; done
        echo "link add eth0 netns $P-r address $(mac_of 1) type veth peer name r0 netns $P-sw"
        for i in $(seq "$N"); do
            echo "link add eth0 netns $P-c$i address $(mac_of $((i + 1))) type veth peer name c$i netns $P-sw"
        done
        for b in $(seq 1 $((nb - 1))); do
            echo "link add up$b netns $P-sw type veth peer name dn$b netns $P-sw"
        done
    } >"$D/net-host.batch"
    # In chunks: ip keeps the namespace descriptors of a batch open until it ends.
    split -l 1000 "$D/net-host.batch" "$D/net-host.batch."
    for b in "$D"/net-host.batch.*; do
        ip -batch "$b" >/dev/null || die "ip -batch (namespaces, veths) failed: $b"
    done
    {
        echo "link set lo up"
        for b in $(seq 0 $((nb - 1))); do
            echo "link add br$b type bridge stp_state 0 mcast_snooping 0"
            echo "link set br$b addrgenmode none"
            echo "link set br$b up"
        done
        for b in $(seq 1 $((nb - 1))); do
            echo "link set up$b addrgenmode none master br0 up"
            echo "link set dn$b addrgenmode none master br$b up"
        done
        echo "link set r0 addrgenmode none master br0 up"
        for i in $(seq "$N"); do
            echo "link set c$i addrgenmode none master br$(((i) / PORTS_PER_BRIDGE)) up"
        done
    } >"$D/net-sw.batch"
    ip -n "$P-sw" -batch "$D/net-sw.batch" >/dev/null || die "ip -batch (bridge) failed"
    {
        echo "link set lo up"
        echo "link set eth0 addrgenmode none"
        echo "addr add $ROOT_IP/16 dev eth0"
        echo "link set eth0 up"
        for i in $(seq "$N"); do
            echo "neigh replace $(child_ip "$i") lladdr $(mac_of $((i + 1))) dev eth0 nud permanent"
        done
    } >"$D/net-root.batch"
    ip -n "$P-r" -batch "$D/net-root.batch" >/dev/null || die "ip -batch (root namespace) failed"
    for i in $(seq "$N"); do
        printf 'link set lo up\nlink set eth0 addrgenmode none\naddr add %s/16 dev eth0\nlink set eth0 up\nneigh replace %s lladdr %s dev eth0 nud permanent\n' \
            "$(child_ip "$i")" "$ROOT_IP" "$(mac_of 1)" >"$D/c$i/net.batch"
    done
    seq "$N" | xargs -P "$(nproc)" -I{} ip -n "$P-c{}" -batch "$D/c{}/net.batch" >/dev/null ||
        die "ip -batch (child namespaces) failed"
    log "underlay ready in $(since "$t0" 2) s"
    for i in 1 "$N"; do
        nsx "c$i" ping -c 1 -W 2 "$ROOT_IP" >/dev/null || die "underlay: child $i cannot ping the root"
    done

    log "starting the root"
    mccd_start r "$D/root"
    ROOT_PID=$SPAWNED
    wait_until 10 0.1 mccd_healthy - "$D/root" || die "root not healthy: $(tail -n 5 "$D/root/mccd.stderr" "$D/root/mccd.log" 2>/dev/null)"
    sleep 1
    ROOT_RSS0=$(awk '/^VmRSS/{print $2}' "/proc/$ROOT_PID/status")
    log "root up (pid $ROOT_PID, VmRSS $ROOT_RSS0 kB with $((N + 16)) peer slots)"

    rm -f "$D/t0"
    local cpu0
    cpu0=$(awk '{print $14 + $15}' "/proc/$ROOT_PID/stat")
    nice -n -10 python3 "$W/poll.py" "$D/root/mcc.sock" "$ROOT_ID" "$ROOT_PID" "$D/t0" "$D/ids" "$REACH_TIMEOUT" \
        "$D/reach.csv" "$D/timeline.csv" 2>"$D/poll.err" &
    local poller=$!
    log "starting $N children"
    t0=$(now)
    echo "$t0" >"$D/t0"
    for i in $(seq "$N"); do mccd_start "c$i" "$D/c$i"; done
    t_launch=$(since "$t0" 2)
    log "$N children started in $t_launch s; waiting until the root reaches all of them (timeout $REACH_TIMEOUT s)"
    wait "$poller"
    reach_rc=$?
    all_s=$(since "$t0" 2)
    local nreach root_cpu
    root_cpu=$(awk -v c="$cpu0" -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15 - c) / hz}' "/proc/$ROOT_PID/stat")
    nreach=$(($(wc -l <"$D/reach.csv") - 1))
    if [ $reach_rc = 0 ]; then
        all_s=$(tail -n 1 "$D/timeline.csv" | cut -d, -f1)
        log "all $N children reachable after $all_s s"
    else
        all_s=""
        log "only $nreach of $N children reachable after $REACH_TIMEOUT s"
    fi
    sleep "$SETTLE"

    local alive=0 args=("root:$ROOT_PID") cpid
    for i in $(seq "$N"); do
        cpid=${MCCD_PID[$D/c$i]}
        kill -0 "$cpid" 2>/dev/null && alive=$((alive + 1))
        args+=("c$i:$cpid")
    done
    python3 "$W/procmem.py" "$D/procs.csv" "${args[@]}"
    # Diagnostics: the root's counters and its namespace's UDP statistics (drops).
    python3 "$W/ctl.py" "$D/root/mcc.sock" status >"$D/root-status.json" 2>&1
    nsx r cat /proc/net/snmp >"$D/root-snmp.txt" 2>&1
    local root_end
    root_end=$(awk -F, '$1 == "root" {print $3}' "$D/procs.csv")
    log "$alive of $N children alive; root VmRSS $ROOT_RSS0 -> $root_end kB"

    # Tunnels: server = child s (spread over 1..N), client = another child; the client pings.
    local k S=$PING_SAMPLE srv cli sep addr ok=0 total=0 rtts=()
    [ "$S" -gt $((N / 2)) ] && S=$((N / 2))
    for k in $(seq 0 $((S - 1))); do
        srv=$((1 + k * N / S))
        cli=$((1 + (k * N / S + N / 2) % N))
        [ "$cli" = "$srv" ] && continue
        total=$((total + 1))
        if ! mcc_tunnel - "$D/c$srv" "$(cat "$D/c$cli.id")" icmp; then
            log "tunnel c$srv <- c$cli: create-tunnel failed"
            continue
        fi
        echo "$srv,$cli,$SEP" >>"$D/tunnels.csv"
    done
    while IFS=, read -r srv cli sep; do
        addr=$(mcc_in - "$D/c$cli" resolve "$sep" 2>/dev/null | head -n 1 | tr -d '[:space:]')
        local out="" t1
        t1=$(now)
        # The tunnel must first reach the client (offer through the root) and shake hands.
        while [ "$(since "$t1" | cut -d. -f1)" -lt 30 ]; do
            out=$(nsx "c$cli" ping -c 3 -i 0.2 -W 1 "$addr" 2>/dev/null) && break
            out=""
        done
        if [ -n "$out" ]; then
            ok=$((ok + 1))
            rtts+=("$(echo "$out" | awk -F/ '/^rtt/ {print $5}')")
            log "ping c$cli -> c$srv's endpoint $addr through the tunnel: ok (avg $(echo "$out" | awk -F/ '/^rtt/ {print $5}') ms, after $(since "$t1" 2) s)"
        else
            log "ping c$cli -> c$srv's endpoint $addr through the tunnel: FAILED"
        fi
    done < <(cat "$D/tunnels.csv" 2>/dev/null)
    local rtt_med=""
    [ ${#rtts[@]} -gt 0 ] && rtt_med=$(printf '%s\n' "${rtts[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}')

    local s growth
    s=$(python3 "$W/summary.py" "$D" "$N")
    IFS=, read -r nreach nkids p50 p90 l50 l90 lmax rmin rmed rmax pmin pmed pmax vmin vmed vmax amin amed amax root_rss root_pss root_anon <<<"$s"
    local limited
    limited=$(grep -o 'drop_rate_limited: [0-9]*' "$D/root-status.json" | awk '{print $2}')
    growth=$(awk -v a="$ROOT_RSS0" -v b="$root_rss" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ),$COMMIT,$(uname -r),$N,$t_launch,$all_s,$nreach,$alive,$p50,$p90,$l50,$l90,$lmax,$rmin,$rmed,$rmax,$pmin,$pmed,$pmax,$vmin,$vmed,$vmax,$amin,$amed,$amax,$ROOT_RSS0,$root_rss,$root_pss,$root_anon,$growth,$limited,$root_cpu,$ok,$total,$rtt_med" >>"$CSV"
    log "--- N=$N summary"
    log "children started in $t_launch s; all reachable after ${all_s:-TIMEOUT} s (p50 $p50 s, p90 $p90 s); $nreach reachable, $alive alive"
    log "link up in the root's log: p50 ${l50:-?} s, p90 ${l90:-?} s, last ${lmax:-?} s after the first child started"
    log "child VmRSS kB min/median/max $rmin/$rmed/$rmax; Pss $pmin/$pmed/$pmax; Private $vmin/$vmed/$vmax; RssAnon $amin/$amed/$amax"
    log "root VmRSS $ROOT_RSS0 kB before the children, $root_rss kB after (Pss $root_pss, RssAnon $root_anon): $growth kB per child"
    log "root: ${root_cpu} s CPU until all were reachable; ${limited:-?} handshake Inits past its rate limit (answered with a cookie)"
    log "tunnel pings: $ok of $total ok, median avg RTT ${rtt_med:-n/a} ms"

    kill_pids "${!BG[@]}"
    ROOT_PID=""
    teardown_prefix "$P"
}

for n in "${RUNS[@]}"; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ "$n" -le 20000 ] || die "N must be a number from 2 to 20000: $n"
    run "$n"
done
log "CSV: $CSV"
