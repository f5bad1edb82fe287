#!/usr/bin/env bash
# Benchmark harness (issue 4, first slice): the same workload over the plain underlay
# (baseline), mcc (one hop: client node -> root node serving the tunnel), wireguard-go
# (userspace), nebula (lighthouse = server) and yggdrasil (two peers).
#
#   sudo bench/run.sh
#
# Environment knobs (defaults in brackets): IDLE_S [30] seconds of idle capture per system,
# IPERF_S [10] seconds per iperf3 run, SYSTEMS ["baseline mcc wireguard-go boringtun nebula yggdrasil
# mcc-chain nebula-chain yggdrasil-chain mcc-plain mcc-udp-batch mcc-aes"], NAT_IDLE [1] also run bench/nat-idle.sh (idle
# bytes of a leaf behind a NAT with 30 s and 120 s UDP timeouts, its own idle window,
# about 9 minutes; with NAT_IDLE=0 the report takes bench/nat-idle.csv of an earlier run),
# OUT [docs] where BENCHMARKS.md and the PNGs go (the CSV goes to bench/results.csv).
#
# Topology: two network namespaces joined by one veth pair, mccbench-a (client, 10.77.0.1 on
# va) and mccbench-b (server, 10.77.0.2 on vb). Each system is started, measured and stopped in
# turn; only one runs at a time. Traffic goes only to addresses inside these namespaces.
# Everything (daemons, iperf3 servers, namespaces) is removed on EXIT, even on failure; the
# work directory /tmp/mccbench stays for post-mortem.
# mcc-chain: a third namespace mccbench-c (10.77.1.2 on vc, joined to mccbench-b's vbc
# 10.77.1.1) holds the tunnel's server node, a child of the root node in mccbench-b: client -> root ->
# server, so the root relays (3-node chain). Its cpu/rss columns are the client's and the
# server's daemons; the relay's are in the log. nebula-chain and yggdrasil-chain are the
# same three namespaces for the peers that can relay: a and c have no route to each other
# (b does not forward IP), so their traffic must go through the daemon in b (nebula:
# lighthouse + relay; yggdrasil: both peer with b's node). The harness (namespaces,
# provisioning, cleanup) is tests/e2e/lib.sh.
#
# Per system:
#   ready_s      daemon start -> first overlay ping answered (for mcc this includes
#                `mcc create-tunnel` and the tunnel reaching the client)
#   tcp1/tcp4    iperf3 -t IPERF_S, 1 stream and -P 4, client -> server, receiver Mbit/s
#   udp64        iperf3 -u -l 64 -b 0 for 5 s: datagrams of 64 B payload received per second
#                (thousands), lost ones not counted
#   rtt          100 pings at -i 0.05 over the overlay; median and p99 of per-ping times
#   cpu          utime+stime (/proc/PID/stat) of each daemon during the 1-stream run
#   rss          VmRSS (/proc/PID/status) of each daemon after the throughput runs
#   wire         1000 UDP datagrams of 100 B payload at 500/s through the overlay; the
#                client veth's tx_bytes delta / 1000 = bytes per packet on the wire
#                (incl. 14 B Ethernet); overhead = wire - 14 - 28 (outer IPv4+UDP) - 100.
#                The overhead therefore includes the inner IP+UDP headers (28 B for IPv4
#                overlays, 48 B for IPv6 ones) plus the overlay's own framing/crypto.
#   idle         tx+rx bytes on the client veth over IDLE_S s with no traffic, per hour
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 2
. tests/e2e/lib.sh
. bench/peers.sh
lib_init mccbench /tmp/mccbench
LOG_FD=2

IDLE_S=${IDLE_S:-30}
IPERF_S=${IPERF_S:-10}
SYSTEMS=${SYSTEMS:-"baseline mcc wireguard-go boringtun nebula yggdrasil mcc-chain nebula-chain yggdrasil-chain mcc-plain mcc-udp-batch mcc-aes"}
NAT_IDLE=${NAT_IDLE:-1}
OUT=${OUT:-docs}
SRV=b           # namespace of the measured server (c for mcc-chain)
UA=10.77.0.1
UB=10.77.0.2
N_PKTS=1000
PAYLOAD=100
CMDLINE="sudo bench/run.sh"
[ $# -gt 0 ] && CMDLINE+=" $*"

nsa() { nsx a "$@"; }
nsb() { nsx b "$@"; }

need_root
need_tun
# The progress log (incl. the relay's numbers of mcc-chain) also goes to bench/last-run.log.
exec 2> >(tee "$REPO/bench/last-run.log" >&2)

# ---------------------------------------------------------------- peers and tools
need_tools wireguard-go:wireguard-go wg:wireguard-tools nebula:nebula nebula-cert:nebula \
    yggdrasil:yggdrasil iperf3:iperf3 ip:iproute2 ping:iputils-ping python3:python3 || die "apt-get install failed"
PLOTS=1
python3 -c 'import matplotlib' 2>/dev/null || { timeout 120 pip install -q matplotlib >/dev/null 2>&1 || PLOTS=0; }
python3 -c 'import matplotlib' 2>/dev/null || PLOTS=0

# boringtun is not packaged by Debian: cargo installs it once under target/bench-tools.
BORINGTUN=$REPO/target/bench-tools/bin/boringtun-cli
BORINGTUN_VERSION=0.7.1
if [[ " $SYSTEMS " == *" boringtun "* ]] && [ ! -x "$BORINGTUN" ]; then
    log "installing boringtun-cli $BORINGTUN_VERSION (cargo install, about 2 minutes)"
    cargo install -q --locked --version "$BORINGTUN_VERSION" --root "$REPO/target/bench-tools" boringtun-cli >&2 ||
        log "boringtun: cargo install failed; its row will be NA"
fi

build_release mcc-linux

VERSIONS="mcc $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null); wireguard-go $(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null); nebula $(dpkg-query -W -f '${Version}' nebula 2>/dev/null); yggdrasil $(dpkg-query -W -f '${Version}' yggdrasil 2>/dev/null); iperf3 $(dpkg-query -W -f '${Version}' iperf3 2>/dev/null); boringtun-cli $BORINGTUN_VERSION"

# ---------------------------------------------------------------- namespaces
DAEMONS=()       # PIDs of the running system's daemons
# daemon NS LOG CMD...: a daemon of the system under test (stop_daemons ends it).
daemon() {
    spawn "$@"
    DAEMONS+=("$SPAWNED")
}
# The WireGuard control sockets are outside the namespaces.
on_cleanup() { rm -f /var/run/wireguard/wgA.sock /var/run/wireguard/wgB.sock /var/run/wireguard/btA.sock /var/run/wireguard/btB.sock; }
on_cleanup
lib_start

ns_add a b c || die "ip netns add"
veth b vbc c vc 10.77.1.1/24 10.77.1.2/24 || die "veth b-c"
veth a va b vb $UA/24 $UB/24 || die "veth"
wait_until 5 0.1 nsa ping -c1 -W1 $UB >/dev/null 2>&1 || die "underlay does not work"

spawn b "$W/iperf3-server.log" iperf3 -s
spawn c "$W/iperf3-server-c.log" iperf3 -s
# UDP sink for the wire-overhead test: counts datagrams received on port 5201.
cat >"$W/udp.py" <<'EOF'
import socket, sys, time
mode = sys.argv[1]
if mode == "recv":
    fam = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], 5201))
    s.settimeout(float(sys.argv[3]))
    n = 0
    try:
        while True:
            s.recv(65535); n += 1
    except socket.timeout:
        pass
    print(n)
else:
    addr, n, size, rate = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    payload = b"x" * size
    t0 = time.time()
    for i in range(n):
        s.sendto(payload, (addr, 5201))
        d = t0 + (i + 1) / rate - time.time()
        if d > 0:
            time.sleep(d)
EOF

# ---------------------------------------------------------------- measurement helpers
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo NA; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo NA; }
# veth counters live in the namespace's sysfs: read them from inside.
va_stat() { nsa cat "/sys/class/net/va/statistics/$1"; }
HZ=$(getconf CLK_TCK)

wait_ping() { wait_until "$2" 0.1 nsa ping -c1 -W1 "$1" >/dev/null 2>&1; } # wait_ping ADDR TIMEOUT_S

iperf_mbps() { # iperf_mbps ADDR STREAMS
    nsa timeout $((IPERF_S + 15)) iperf3 -c "$1" -t "$IPERF_S" -P "$2" -J >"$W/iperf-$SYS-P$2.json" 2>&1
    python3 - "$W/iperf-$SYS-P$2.json" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print("%.0f" % (j["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("NA")
EOF
}

udp64_kpps() { # udp64_kpps ADDR: 64 B datagrams received per second (thousands)
    nsa timeout 20 iperf3 -c "$1" -u -l 64 -b 0 -t 5 -J >"$W/iperf-$SYS-udp64.json" 2>&1
    python3 - "$W/iperf-$SYS-udp64.json" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))["end"]["sum"]
    print("%.1f" % ((s["packets"] - s["lost_packets"]) / s["seconds"] / 1000))
except Exception:
    print("NA")
EOF
}

# measure SYS ADDR READY_S CLIENT_PID SERVER_PID: appends one CSV row.
measure() {
    local sys=$1 addr=$2 ready=$3 cpid=$4 spid=$5
    local c0 s0 c1 s1 tcp1 tcp4 udp64 rtt cpuc cpus rssc rsss b0 b1 p0 p1 rx wire ovh pk i0 i1 idle
    SYS=$sys
    log "$sys: ping x100 over $addr"
    nsa ping -c 100 -i 0.05 -W 2 "$addr" >"$W/ping-$sys.txt" 2>&1
    rtt=$(python3 - "$W/ping-$sys.txt" <<'EOF'
import re, sys
t = sorted(float(m) for m in re.findall(r"time=([0-9.]+)", open(sys.argv[1]).read()))
if not t:
    print("NA,NA,100"); sys.exit()
def q(p):
    k = (len(t) - 1) * p; f = int(k); c = min(f + 1, len(t) - 1)
    return t[f] + (t[c] - t[f]) * (k - f)
print("%.3f,%.3f,%d" % (q(0.5), q(0.99), 100 - len(t)))
EOF
)
    log "$sys: iperf3 1 stream"
    c0=$([ "$cpid" = - ] && echo NA || cpu_ticks "$cpid"); s0=$([ "$spid" = - ] && echo NA || cpu_ticks "$spid")
    tcp1=$(iperf_mbps "$addr" 1)
    c1=$([ "$cpid" = - ] && echo NA || cpu_ticks "$cpid"); s1=$([ "$spid" = - ] && echo NA || cpu_ticks "$spid")
    cpuc=$(awk -v a="$c0" -v b="$c1" -v h="$HZ" 'BEGIN{ if (a=="NA"||b=="NA") print "NA"; else printf "%.2f", (b-a)/h }')
    cpus=$(awk -v a="$s0" -v b="$s1" -v h="$HZ" 'BEGIN{ if (a=="NA"||b=="NA") print "NA"; else printf "%.2f", (b-a)/h }')
    log "$sys: iperf3 -P 4"
    tcp4=$(iperf_mbps "$addr" 4)
    rssc=$([ "$cpid" = - ] && echo NA || rss_kb "$cpid"); rsss=$([ "$spid" = - ] && echo NA || rss_kb "$spid")
    log "$sys: iperf3 -u -l 64 -b 0"
    udp64=$(udp64_kpps "$addr")
    log "$sys: $N_PKTS x $PAYLOAD B UDP"
    sleep 1
    spawn "$SRV" "$W/udp-recv-$sys.txt" python3 "$W/udp.py" recv "$(recv_bind "$addr")" 3
    pk=$SPAWNED
    sleep 0.5
    b0=$(va_stat tx_bytes); p0=$(va_stat tx_packets)
    nsa python3 "$W/udp.py" send "$addr" $N_PKTS $PAYLOAD 500
    sleep 0.5
    b1=$(va_stat tx_bytes); p1=$(va_stat tx_packets)
    reap "$pk"
    rx=$(tr -d '[:space:]' <"$W/udp-recv-$sys.txt")
    wire=$(awk -v a="$b0" -v b="$b1" -v n=$N_PKTS 'BEGIN{printf "%.1f", (b-a)/n}')
    ovh=$(awk -v w="$wire" -v p=$PAYLOAD 'BEGIN{printf "%.1f", w-14-28-p}')
    log "$sys: wire $wire B/pkt ($((p1 - p0)) frames), overhead $ovh B, delivered $rx/$N_PKTS"
    log "$sys: idle for $IDLE_S s"
    sleep 2
    i0=$(($(va_stat tx_bytes) + $(va_stat rx_bytes)))
    sleep "$IDLE_S"
    i1=$(($(va_stat tx_bytes) + $(va_stat rx_bytes)))
    idle=$(awk -v a="$i0" -v b="$i1" -v t="$IDLE_S" 'BEGIN{printf "%.0f", (b-a)*3600/t}')
    echo "$sys,$ready,$tcp1,$tcp4,$udp64,$rtt,$cpuc,$cpus,$rssc,$rsss,$wire,$((p1 - p0)),$ovh,$rx,$idle" >>"$W/results.csv"
    log "$sys: tcp1 $tcp1 tcp4 $tcp4 Mbit/s, udp64 $udp64 kpkt/s, rtt(med,p99,lost) $rtt, cpu $cpuc/$cpus s, rss $rssc/$rsss kB, idle $idle B/h"
}
# measure_chain SYS ADDR READY CLIENT_PID SERVER_PID RELAY_PID: measure with the server in
# namespace c, then log the relay daemon's CPU over the measurement and its RSS.
measure_chain() {
    local r0
    r0=$(cpu_ticks "$6")
    SRV=c
    measure "$1" "$2" "$3" "$4" "$5"
    SRV=b
    log "$1: relay daemon: cpu over the whole measurement $(awk -v a="$r0" -v b="$(cpu_ticks "$6")" -v h="$HZ" 'BEGIN{printf "%.2f", (b-a)/h}') s, rss $(rss_kb "$6") kB"
}

# nebula_common DIR NAME DEV: the nebula settings every benchmark node shares.
nebula_common() {
    echo "listen: {host: 0.0.0.0, port: 4242}"
    echo "punchy: {punch: false}"
    nebula_node "$1" "$2" "$3"
}

# The UDP sink binds the server-side address the overlay delivers to.
recv_bind() { case $1 in *:*) echo "::" ;; *) echo "0.0.0.0" ;; esac; }

stop_daemons() {
    kill_pids "${DAEMONS[@]}"
    DAEMONS=()
    sleep 0.5
}

echo "system,ready_s,tcp1_mbps,tcp4_mbps,udp64_kpps,rtt_median_ms,rtt_p99_ms,ping_lost,cpu_client_s,cpu_server_s,rss_client_kb,rss_server_kb,wire_bytes_per_pkt,wire_frames,overhead_bytes,udp_delivered,idle_bytes_per_hour" >"$W/results.csv"

# ---------------------------------------------------------------- systems
run_baseline() {
    measure baseline $UB 0 - -
}

run_mcc() { mcc_one_hop mcc; }
# The data-path levers, each switched off through the daemon's diagnostic variables:
# mcc-plain = one packet per system call everywhere (no TUN offload, no UDP GSO/recvmmsg);
# mcc-udp-batch = UDP batching (GSO out, recvmmsg in) but no TUN offload.
run_mcc_plain() { MCC_ENV="MCC_TUN_OFFLOAD=0 MCC_UDP_BATCH=0" mcc_one_hop mcc-plain; }
run_mcc_udp_batch() { MCC_ENV="MCC_TUN_OFFLOAD=0" mcc_one_hop mcc-udp-batch; }
# mcc-aes: all levers, both layers sealed with AES-256-GCM (`cipher` in mcc.conf), the
# cipher nebula uses by default.
run_mcc_aes() { MCC_CIPHER=aes-256-gcm mcc_one_hop mcc-aes; }

# mcc_overlay NAME SERVER NODE:PARENT...: an mcc network in $W/NAME, one node per namespace
# NODE, with $MCC_ENV in the daemons' environment and $MCC_CIPHER (if set) as the cipher.
# SERVER's node serves tcp:5201, udp:5201 and icmp to a's node. Sets ADDR (the server
# endpoint's address on a), READY (daemon start -> first ping answered) and MPID[NODE].
mcc_overlay() {
    local name=$1 srv=$2 d=$W/$1 spec n t0
    shift 2
    pki "$d" || die "mcc ca"
    for spec in "$@"; do
        n=${spec%%:*}
        mcc_node "$n" "$d/$n" "${spec#*:}" ${MCC_CIPHER:+cipher "$MCC_CIPHER"} || die "mcc init $n"
    done
    t0=$(now)
    declare -gA MPID=()
    for spec in "$@"; do
        n=${spec%%:*}
        mccd_start "$n" "$d/$n" ${MCC_ENV:-}
        DAEMONS+=("$SPAWNED")
        MPID[$n]=$SPAWNED
    done
    wait_until 10 0.1 mccd_healthy "$srv" "$d/$srv" && wait_until 10 0.1 mccd_healthy a "$d/a"
    mcc_tunnel "$srv" "$d/$srv" "$(cat "$d/a.id")" tcp:5201,udp:5201,icmp || { log "$name: create-tunnel failed"; return 1; }
    mcc_resolve_wait 30 a "$d/a" "$SEP" || { log "$name: resolve $SEP gave '$ADDR'"; return 1; }
    wait_ping "$ADDR" 30 || { log "$name: no ping to $ADDR"; return 1; }
    READY=$(since "$t0" 2)
    log "$name: server endpoint $SEP at $ADDR, ready after $READY s"
}

mcc_one_hop() { # mcc_one_hop NAME: client a -> root b, which serves the tunnel
    mcc_overlay "$1" b b: "a:$UB:9376" || return 1
    measure "$1" "$ADDR" "$READY" "${MPID[a]}" "${MPID[b]}"
}

run_wireguard_go() {
    local d=$W/wg t0 ready cpid spid
    mkdir -p "$d"
    wg_keys "$d" a b || return 1
    t0=$(now)
    daemon b "$d/b.log" env WG_PROCESS_FOREGROUND=1 wireguard-go -f wgB
    spid=$SPAWNED
    daemon a "$d/a.log" env WG_PROCESS_FOREGROUND=1 wireguard-go -f wgA
    cpid=$SPAWNED
    wait_until 5 0.1 test -S /var/run/wireguard/wgA.sock -a -S /var/run/wireguard/wgB.sock
    nsb wg set wgB private-key "$d/b.key" listen-port 51820 peer "$(cat "$d/a.pub")" allowed-ips 10.78.0.1/32 || return 1
    nsa wg set wgA private-key "$d/a.key" listen-port 51820 peer "$(cat "$d/b.pub")" allowed-ips 10.78.0.2/32 endpoint $UB:51820 || return 1
    ns_ip b wgB 10.78.0.2/24
    ns_ip a wgA 10.78.0.1/24
    wait_ping 10.78.0.2 30 || { log "wireguard-go: no ping"; return 1; }
    ready=$(since "$t0" 2)
    measure wireguard-go 10.78.0.2 "$ready" "$cpid" "$spid"
}

# boringtun (Cloudflare's userspace WireGuard in Rust), configured like wireguard-go.
run_boringtun() {
    local d=$W/boringtun t0 ready cpid spid
    [ -x "$BORINGTUN" ] || { log "boringtun: not installed"; return 1; }
    mkdir -p "$d"
    wg_keys "$d" a b || return 1
    t0=$(now)
    daemon b "$d/b.log" env WG_LOG_LEVEL=error "$BORINGTUN" --foreground --disable-drop-privileges btB
    spid=$SPAWNED
    daemon a "$d/a.log" env WG_LOG_LEVEL=error "$BORINGTUN" --foreground --disable-drop-privileges btA
    cpid=$SPAWNED
    wait_until 5 0.1 test -S /var/run/wireguard/btA.sock -a -S /var/run/wireguard/btB.sock
    nsb wg set btB private-key "$d/b.key" listen-port 51821 peer "$(cat "$d/a.pub")" allowed-ips 10.80.0.1/32 || return 1
    nsa wg set btA private-key "$d/a.key" listen-port 51821 peer "$(cat "$d/b.pub")" allowed-ips 10.80.0.2/32 endpoint $UB:51821 || return 1
    ns_ip b btB 10.80.0.2/24
    ns_ip a btA 10.80.0.1/24
    wait_ping 10.80.0.2 30 || { log "boringtun: no ping"; return 1; }
    ready=$(since "$t0" 2)
    measure boringtun 10.80.0.2 "$ready" "$cpid" "$spid"
}

run_nebula() {
    local d=$W/nebula t0 ready cpid spid n
    nebula_pki "$d" bench b:10.79.0.2/24 a:10.79.0.1/24 || return 1
    for n in a b; do
        {
            echo "static_host_map: {'10.79.0.2': ['$UB:4242']}"
            if [ $n = b ]; then
                echo "lighthouse: {am_lighthouse: true}"
            else
                echo "lighthouse: {am_lighthouse: false, interval: 60, hosts: ['10.79.0.2']}"
            fi
            nebula_common "$d" "$n" "neb${n^^}"
        } >"$d/$n.yml"
    done
    t0=$(now)
    daemon b "$d/b.log" nebula -config "$d/b.yml"
    spid=$SPAWNED
    daemon a "$d/a.log" nebula -config "$d/a.yml"
    cpid=$SPAWNED
    wait_ping 10.79.0.2 30 || { log "nebula: no ping"; return 1; }
    ready=$(since "$t0" 2)
    measure nebula 10.79.0.2 "$ready" "$cpid" "$spid"
}

run_yggdrasil() {
    local d=$W/ygg t0 ready cpid spid n addr
    mkdir -p "$d"
    ygg_conf "$d/a.json" yggA "tls://$UB:9001" "" && ygg_conf "$d/b.json" yggB "" "tls://$UB:9001" || return 1
    addr=$(yggdrasil -useconffile "$d/b.json" -address) || return 1
    t0=$(now)
    daemon b "$d/b.log" yggdrasil -useconffile "$d/b.json"
    spid=$SPAWNED
    # yggdrasil backs off for long after a refused dial: start the peer once B listens.
    wait_until 5 0.05 grep -q 'listener started' "$d/b.log"
    daemon a "$d/a.log" yggdrasil -useconffile "$d/a.json"
    cpid=$SPAWNED
    wait_ping "$addr" 30 || { log "yggdrasil: no ping to $addr"; return 1; }
    ready=$(since "$t0" 2)
    measure yggdrasil "$addr" "$ready" "$cpid" "$spid"
}

# mcc-chain: client a -> root b (the relay) -> server c, a child of b.
run_mcc_chain() {
    mcc_overlay mcc-chain c b: "c:10.77.1.1:9376" "a:$UB:9376" || return 1
    measure_chain mcc-chain "$ADDR" "$READY" "${MPID[a]}" "${MPID[c]}" "${MPID[b]}"
}

run_nebula_chain() {
    local d=$W/nebula-chain t0 ready cpid spid rpid n
    nebula_pki "$d" bench a:10.79.1.1/24 b:10.79.1.2/24 c:10.79.1.3/24 || return 1
    # b: lighthouse and relay; a and c reach b only (no route between a and c)
    # and name b as the relay others must use to reach them.
    declare -A lh=([a]="$UB:4242" [c]="10.77.1.1:4242")
    for n in a b c; do
        {
            if [ $n = b ]; then
                echo "lighthouse: {am_lighthouse: true}"
                echo "relay: {am_relay: true, use_relays: true}"
            else
                echo "static_host_map: {'10.79.1.2': ['${lh[$n]}']}"
                echo "lighthouse: {am_lighthouse: false, interval: 60, hosts: ['10.79.1.2']}"
                echo "relay: {relays: ['10.79.1.2'], am_relay: false, use_relays: true}"
            fi
            nebula_common "$d" "$n" "nbc${n^^}"
        } >"$d/$n.yml"
    done
    t0=$(now)
    daemon b "$d/b.log" nebula -config "$d/b.yml"
    rpid=$SPAWNED
    daemon c "$d/c.log" nebula -config "$d/c.yml"
    spid=$SPAWNED
    daemon a "$d/a.log" nebula -config "$d/a.yml"
    cpid=$SPAWNED
    wait_ping 10.79.1.3 60 || { log "nebula-chain: no ping"; return 1; }
    ready=$(since "$t0" 2)
    measure_chain nebula-chain 10.79.1.3 "$ready" "$cpid" "$spid" "$rpid"
}

run_yggdrasil_chain() {
    local d=$W/ygg-chain t0 ready cpid spid rpid n addr
    mkdir -p "$d"
    ygg_conf "$d/a.json" ygcA "tls://$UB:9001" "" && ygg_conf "$d/b.json" ygcB "" "tls://0.0.0.0:9001" &&
        ygg_conf "$d/c.json" ygcC "tls://10.77.1.1:9001" "" || return 1
    addr=$(yggdrasil -useconffile "$d/c.json" -address) || return 1
    t0=$(now)
    daemon b "$d/b.log" yggdrasil -useconffile "$d/b.json"
    rpid=$SPAWNED
    wait_until 5 0.05 grep -q 'listener started' "$d/b.log"
    daemon c "$d/c.log" yggdrasil -useconffile "$d/c.json"
    spid=$SPAWNED
    daemon a "$d/a.log" yggdrasil -useconffile "$d/a.json"
    cpid=$SPAWNED
    wait_ping "$addr" 60 || { log "yggdrasil-chain: no ping to $addr"; return 1; }
    ready=$(since "$t0" 2)
    measure_chain yggdrasil-chain "$addr" "$ready" "$cpid" "$spid" "$rpid"
}

for SYS in $SYSTEMS; do
    log "=== $SYS"
    fn=run_${SYS//-/_}
    if ! $fn; then
        log "$SYS: FAILED (see $W)"
        echo "$SYS,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA" >>"$W/results.csv"
    fi
    stop_daemons
done

# ---------------------------------------------------------------- NAT idle
# Its own namespaces and its own idle window (default 180 s); all systems in parallel.
if [ "$NAT_IDLE" = 1 ] && [ -x "$REPO/bench/nat-idle.sh" ]; then
    log "=== nat-idle (bench/nat-idle.sh)"
    env -u IDLE_S "$REPO/bench/nat-idle.sh" >"$W/nat-idle.log" 2>&1 || log "nat-idle: FAILED (see $W/nat-idle.log)"
fi
[ -f "$REPO/bench/nat-idle.csv" ] && cp -p "$REPO/bench/nat-idle.csv" "$W/nat-idle.csv"

# ---------------------------------------------------------------- report
mkdir -p "$OUT"
cp "$W/results.csv" "$REPO/bench/results.csv"
MACHINE="nproc $(nproc); memory $(free -h | awk '/^Mem:/{print $2}') total; kernel $(uname -r); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
NAT_CSV="$W/nat-idle.csv" python3 "$REPO/bench/report.py" "$W/results.csv" "$OUT" "$PLOTS" "$MACHINE" "$CMDLINE" "$VERSIONS" "$IDLE_S" "$IPERF_S" "$(date -u +%Y-%m-%dT%H:%MZ)" ||
    die "report failed"
log "done: $OUT/BENCHMARKS.md, bench/results.csv"
cat "$W/results.csv"
