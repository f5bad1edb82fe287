# shellcheck shell=bash
# The harness of the namespace scripts (tests/e2e/*.sh, bench/*.sh, scripts/demo.sh):
# network namespaces, veth pairs, bridges, NAT, processes, checks, and the mcc set-up
# (CA, network certificate, `mcc init`, mccd). Source it, then call `lib_init PREFIX WORKDIR`.
#
# Every namespace is named PREFIX-NAME, and a function taking NS takes NAME (`-` is the
# host). Teardown deletes the namespaces PREFIX-* only: runs with other prefixes are never
# touched, and `lib_start` first removes what a killed run of the same prefix left behind.
# The EXIT trap (also on failure, INT and TERM) stops every process started here, deletes
# the namespaces (their veths, bridges and iptables rules go with them) and keeps WORKDIR
# for post-mortem. With CHECKS=1 it prints "N passed, M failed" last (CI reads that line)
# and exits non-zero when a check failed or none passed.
#
# Knobs a script may set: CHECKS (1: a test with pass/fail counts), LOG_FD [1] where `log`
# writes, LOG_FILE (a copy of the log), DUMP_LOGS (globs of logs shown when a check
# failed), NS_LAUNCH [ip] or nsenter (how processes enter a namespace), and a function
# `on_cleanup` that the EXIT trap calls first.

LIB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# lib_init PREFIX WORKDIR: the run's namespace prefix (letters and digits: a dash ends it,
# so no prefix is the start of another's names) and work directory.
lib_init() {
    [[ $1 =~ ^[A-Za-z0-9]+$ ]] || { echo "lib_init: bad prefix '$1'" >&2; exit 2; }
    P=$1
    W=$2
    REPO=$LIB_REPO
    T_START=$(date +%s.%N)
    PASSED=0
    FAILED=0
    FAILED_NAMES=()
    declare -gA BG=() MCCD_PID=()
    export PATH=$PATH:/usr/sbin:/sbin
    # Nothing may go through a proxy: every address used is inside our namespaces.
    unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy FTP_PROXY no_proxy NO_PROXY
}

# ---------------------------------------------------------------- time and log

now() { date +%s.%N; }
since() { awk -v s="$1" -v n="$(date +%s.%N)" -v f="%.${2:-1}f" 'BEGIN { printf f, n - s }'; } # since T0 [DIGITS]
elapsed() { since "$T_START"; }
log() {
    local line
    line=$(printf '[%6.1fs] %s' "$(elapsed)" "$*")
    printf '%s\n' "$line" >&"${LOG_FD:-1}"
    [ -z "${LOG_FILE:-}" ] || printf '%s\n' "$line" >>"$LOG_FILE"
}
die() {
    log "FATAL: $*"
    [ "${CHECKS:-0}" != 1 ] || fail "setup: $*"
    exit 1
}

# ---------------------------------------------------------------- checks

pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() {
    echo "FAIL: $1${2:+ ($2)}"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
}
# check NAME CMD...: PASS when CMD exits 0.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# check_not NAME CMD...: PASS when CMD fails.
check_not() {
    local name=$1
    shift
    if "$@"; then fail "$name" "unexpectedly succeeded"; else pass "$name"; fi
}
# wait_until TIMEOUT_S INTERVAL_S CMD...: runs CMD until it succeeds; fails after TIMEOUT_S.
wait_until() {
    local timeout=$1 interval=$2 t0
    shift 2
    t0=$(date +%s.%N)
    while :; do
        "$@" && return 0
        awk -v s="$t0" -v n="$(date +%s.%N)" -v t="$timeout" 'BEGIN { exit !(n - s >= t) }' && return 1
        sleep "$interval"
    done
}
# dump_logs: the last 30 lines of every non-empty file matching DUMP_LOGS.
dump_logs() {
    local f
    for f in ${DUMP_LOGS:-}; do
        [ -s "$f" ] || continue
        echo "----- $f (last 30 lines)"
        tail -n 30 "$f"
    done
    echo "-----"
}

# ---------------------------------------------------------------- prerequisites

need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, TUN): sudo $0" >&2; exit 2; }; }
need_tun() { [ -c /dev/net/tun ] || { echo "/dev/net/tun is missing" >&2; exit 2; }; }
# need_tools CMD:PACKAGE...: installs (apt-get) the packages of missing commands; fails
# when a command is still missing afterwards.
need_tools() {
    local t p rc=0 pkgs=()
    for t in "$@"; do command -v "${t%%:*}" >/dev/null 2>&1 || pkgs+=("${t#*:}"); done
    ((${#pkgs[@]})) || return 0
    if command -v apt-get >/dev/null; then
        log "installing $(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ')"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1
        for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
            apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || log "could not install $p"
        done
    fi
    for t in "$@"; do command -v "${t%%:*}" >/dev/null 2>&1 || { log "missing ${t%%:*}"; rc=1; }; done
    return "$rc"
}
# use_bins DIR: mcc and mccd from DIR.
use_bins() {
    MCC=$1/mcc
    MCCD=$1/mccd
    [ -x "$MCC" ] && [ -x "$MCCD" ]
}
# build_release PACKAGE...: cargo build --release of the packages, then use_bins.
build_release() {
    local p args=()
    for p in "$@"; do args+=(-p "$p"); done
    log "building: cargo build --release ${args[*]}"
    (cd "$REPO" && cargo build -q --release "${args[@]}") || die "cargo build failed"
    TARGET=${CARGO_TARGET_DIR:-$REPO/target}/release
    use_bins "$TARGET" || die "missing $MCC or $MCCD"
}

# ---------------------------------------------------------------- lifecycle

# lib_start: clears the leftovers of a previous run of this prefix, wipes WORKDIR and sets
# the traps that clean up on exit.
lib_start() {
    teardown_prefix "$P"
    rm -rf "$W"
    mkdir -p "$W"
    trap _lib_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

_lib_cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    declare -F on_cleanup >/dev/null && on_cleanup
    kill_pids "${!BG[@]}"
    teardown_prefix "$P"
    if [ "${CHECKS:-0}" = 1 ]; then
        if [ "$FAILED" -gt 0 ]; then
            printf 'failed: %s\n' "${FAILED_NAMES[@]}"
            dump_logs
        fi
        log "cleaned up: namespaces deleted; logs kept in $W; runtime $(elapsed) s"
        echo "$PASSED passed, $FAILED failed"
        if [ "$rc" = 0 ] && { [ "$FAILED" -gt 0 ] || [ "$PASSED" = 0 ]; }; then rc=1; fi
    else
        log "cleaned up: namespaces deleted; logs kept in $W"
    fi
    exit "$rc"
}

# teardown_prefix PREFIX: ends every process inside the namespaces PREFIX-* and deletes
# them (the bridges, veths and iptables rules inside go with them).
teardown_prefix() {
    local ns list pids=()
    list=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$1-") || true
    [ -n "$list" ] || return 0
    # shellcheck disable=SC2207 # PIDs are words
    for ns in $list; do pids+=($(ip netns pids "$ns" 2>/dev/null)); done
    if ((${#pids[@]})); then
        kill -TERM "${pids[@]}" 2>/dev/null
        sleep 0.5
        pids=()
        # shellcheck disable=SC2207
        for ns in $list; do pids+=($(ip netns pids "$ns" 2>/dev/null)); done
        ((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null
    fi
    printf 'netns del %s\n' $list | ip -force -batch - 2>/dev/null
    return 0
}

# kill_pids PID...: TERM, KILL what is still alive after 5 s, reap; forgets the PIDs.
kill_pids() {
    local p alive
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null
    for _ in $(seq 50); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && { alive=1; break; }; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    [ "$alive" = 0 ] || kill -KILL "$@" 2>/dev/null
    for p in "$@"; do
        wait "$p" 2>/dev/null
        unset "BG[$p]"
    done
    for p in "${!MCCD_PID[@]}"; do [ -n "${BG[${MCCD_PID[$p]}]:-}" ] || unset "MCCD_PID[$p]"; done
    return 0
}
# reap PID: waits for a spawned process to end; returns its exit status.
reap() {
    local rc
    wait "$1"
    rc=$?
    unset "BG[$1]"
    return "$rc"
}

# ---------------------------------------------------------------- namespaces

# _ns_cmd NS: sets NSX to the command prefix that runs a program in NS. Both prefixes exec
# the program, so `"${NSX[@]}" prog &` makes $! the program itself.
_ns_cmd() {
    if [ "$1" = - ]; then
        NSX=()
    elif [ "${NS_LAUNCH:-ip}" = nsenter ]; then
        NSX=(nsenter "--net=/run/netns/$P-$1" --)
    else
        NSX=(ip netns exec "$P-$1")
    fi
}
nsx() { # nsx NS CMD...
    local NSX
    _ns_cmd "$1"
    shift
    "${NSX[@]}" "$@"
}
# fake_dns NS LOG: a DNS responder on UDP port 5353 in NS that answers every A question
# with 192.0.2.53 and logs "query from IP:PORT" to LOG (the reroute-dns tests' service).
fake_dns() {
    spawn "$1" "$2" python3 -u -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    q, a = s.recvfrom(2048)
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 53])
    s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, a)
    print("query from %s:%d" % a, flush=True)'
}
# spawn NS LOG CMD...: CMD in the background in NS, stdout and stderr appended to LOG;
# SPAWNED is its PID. The EXIT trap stops it.
spawn() {
    local NSX log=$2
    _ns_cmd "$1"
    shift 2
    "${NSX[@]}" "$@" >>"$log" 2>&1 &
    SPAWNED=$!
    BG[$SPAWNED]=1
}

ns_add() { # ns_add NAME...: namespaces PREFIX-NAME with lo up
    local n
    for n in "$@"; do
        ip netns add "$P-$n" && ip -n "$P-$n" link set lo up || { log "ip netns add $P-$n failed"; return 1; }
    done
}
ns_ip() { # ns_ip NS IF [CIDR]: IF up, with address CIDR
    if [ -n "${3:-}" ]; then ip -n "$P-$1" addr add "$3" dev "$2" || return 1; fi
    ip -n "$P-$1" link set "$2" up
}
# veth NS1 IF1 NS2 IF2 [CIDR1 [CIDR2]]: a veth pair between two namespaces, both ends up.
veth() {
    ip link add "$2" netns "$P-$1" type veth peer name "$4" netns "$P-$3" || { log "veth $1/$2 - $3/$4 failed"; return 1; }
    ns_ip "$1" "$2" "${5:-}" && ns_ip "$3" "$4" "${6:-}"
}
bridge() { # bridge NS BR: a bridge in NS, up
    ip -n "$P-$1" link add "$2" type bridge && ip -n "$P-$1" link set "$2" up
}
# bridge_port SW BR PORT NS IF [CIDR]: IF in NS joined by a veth to port PORT of bridge BR in SW.
bridge_port() {
    ip link add "$5" netns "$P-$4" type veth peer name "$3" netns "$P-$1" || { log "veth $4/$5 - $1/$3 failed"; return 1; }
    ip -n "$P-$1" link set "$3" master "$2" up && ns_ip "$4" "$5" "${6:-}"
}
# star PREFIX HUB NODE...: a bridge br0 in HUB, which takes PREFIX.1/24; each NODE gets a
# port on it as eth0 with PREFIX.2, .3, ... in order. Sets IP[HUB] and IP[NODE].
star() {
    local prefix=$1 hub=$2 i=2 n
    shift 2
    declare -gA IP
    bridge "$hub" br0 && ns_ip "$hub" br0 "$prefix.1/24" || return 1
    IP[$hub]=$prefix.1
    for n in "$@"; do
        IP[$n]=$prefix.$i
        bridge_port "$hub" br0 "v$n" "$n" eth0 "${IP[$n]}/24" || return 1
        i=$((i + 1))
    done
}
ns_route() { ip -n "$P-$1" route add "$2" via "$3"; } # ns_route NS DEST GATEWAY
ns_forward() { nsx "$1" sysctl -qw net.ipv4.ip_forward=1; }
# ns_masquerade NS OUT_IF [SRC_CIDR]: NS forwards, and masquerades what leaves through OUT_IF.
ns_masquerade() {
    ns_forward "$1" && nsx "$1" iptables -t nat -A POSTROUTING ${3:+-s "$3"} -o "$2" -j MASQUERADE
}

# ---------------------------------------------------------------- mcc

# pki DIR [CA_NAME NET_NAME]: a CA in DIR/ca and a network certificate signed by it in
# DIR/net. Sets NETB64 (the certificate, what `mcc init` takes) and NETKEY (its key's file).
pki() {
    local d=$1 ca=() net=()
    [ -z "${2:-}" ] || ca=(--name "$2")
    [ -z "${3:-}" ] || net=(--name "$3")
    mkdir -p "$d"
    "$MCC" generate-ca-certificate "${ca[@]}" "$d/ca" >"$d/ca.id" || { log "mcc generate-ca-certificate failed"; return 1; }
    NETB64=$("$MCC" generate-network-certificate --ca "$d/ca" "${net[@]}" "$d/net" | tr -d '[:space:]')
    NETKEY=$d/net/network-private-key.txt
    [ -n "$NETB64" ] && [ -s "$NETKEY" ] || { log "mcc generate-network-certificate failed"; return 1; }
}

# mcc_set FILE KEY VALUE [KEY VALUE]...: sets keys of an mcc.conf: the first active line of
# KEY becomes "KEY = VALUE" (later ones are dropped), else the first commented "# KEY ="
# line, else the line is appended. One awk pass: scale-real.sh provisions 1000s of nodes.
mcc_set() {
    local f=$1
    shift
    MCC_SET_KV=$(printf '%s\n' "$@") awk '
        function key(s) {   # the key of an active "key = value" line
            if (s !~ /^[ \t]*[^# \t=][^ \t=]*[ \t]*=/) return ""
            sub(/^[ \t]+/, "", s); sub(/[ \t]*=.*$/, "", s); return s
        }
        function ckey(s) {  # the key of a commented "# key =" line
            if (s !~ /^[ \t]*#+[ \t]*[^ \t=#]+[ \t]*(=.*)?$/) return ""
            sub(/^[ \t]*#+[ \t]*/, "", s); sub(/[ \t]*(=.*)?$/, "", s); return s
        }
        BEGIN { n = split(ENVIRON["MCC_SET_KV"], a, "\n"); for (i = 1; i < n; i += 2) { k[++m] = a[i]; v[m] = a[i + 1] } }
        { line[NR] = $0 }
        END {
            for (j = 1; j <= m; j++) {
                done = 0
                for (i = 1; i <= NR; i++) if (!(i in gone) && key(line[i]) == k[j]) {
                    if (done) gone[i] = 1; else { line[i] = k[j] " = " v[j]; done = 1 }
                }
                for (i = 1; i <= NR && !done; i++) if (ckey(line[i]) == k[j]) { line[i] = k[j] " = " v[j]; done = 1 }
                if (!done) line[++NR] = k[j] " = " v[j]
            }
            for (i = 1; i <= NR; i++) if (!(i in gone)) print line[i]
        }' "$f" >"$f.tmp" && mv "$f.tmp" "$f" || { log "$f: could not set $*"; return 1; }
}

# mcc_node NS DIR PARENTS [KEY VALUE]...: `mcc init` of a node in DIR (run in NS) with
# PARENTS (comma-separated, may be empty), using NETB64 and NETKEY of `pki`. Its mcc.conf
# gets a socket, log file and data directory of its own inside DIR (the namespaces share
# the filesystem) and no dnsmasq drop-in (the host's /etc/dnsmasq.d is not the test's),
# then the KEY VALUE pairs. Sets NODE_ID and writes it to DIR.id.
mcc_node() {
    local ns=$1 d=$2 parents=$3 args out
    shift 3
    args=(init -C "$d" --stdin)
    [ -z "$parents" ] || args+=(-p "$parents")
    [ -d "${d%/*}" ] || mkdir -p "${d%/*}"
    out=$(nsx "$ns" "$MCC" "${args[@]}" "$NETB64" <"$NETKEY" 2>"$d.init.err") ||
        { log "mcc init $d: $(cat "$d.init.err")"; return 1; }
    # The ID is the last line (no extra processes: scale-real.sh provisions 1000s of nodes).
    NODE_ID=${out##*$'\n'}
    NODE_ID=${NODE_ID//[[:space:]]/}
    [[ $NODE_ID =~ ^[0-9a-z]{52}$ ]] || { log "mcc init $d printed '$out', not a node ID"; return 1; }
    echo "$NODE_ID" >"$d.id"
    # dnsmasq-directory too, so no line names a shared system path (linux.sh checks it).
    local dm=(dnsmasq-directory "$d/dnsmasq.d")
    [[ " $* " == *" dnsmasq-directory "* ]] && dm=()
    mcc_set "$d/mcc.conf" unix-socket-path "$d/mcc.sock" log-file "$d/mccd.log" data-dir "$d/data" \
        dnsmasq-enable false "${dm[@]}" "$@" || return 1
    mkdir -p "$d/data"
}

# mccd_start NS DIR [VAR=VALUE]...: mccd of DIR in NS (with the variables in its
# environment), stdout and stderr to DIR/mccd.stderr. MCCD_PID[DIR] is its PID.
mccd_start() {
    spawn "$1" "$2/mccd.stderr" env "${@:3}" "$MCCD" "$2"
    MCCD_PID[$2]=$SPAWNED
}
# mccd_stop DIR: SIGTERM, waits up to 10 s; returns the daemon's exit status (124: hung).
mccd_stop() {
    local p=${MCCD_PID[$1]} rc
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then
        kill -KILL "$p"
        rc=124
        wait "$p" 2>/dev/null
    else
        wait "$p"
        rc=$?
    fi
    unset "MCCD_PID[$1]" "BG[$p]"
    return "$rc"
}
# mcc_in NS DIR ARGS...: the mcc client against DIR's daemon, in NS.
mcc_in() {
    local ns=$1 d=$2
    shift 2
    nsx "$ns" timeout 10 "$MCC" -s "$d/mcc.sock" "$@"
}
mccd_healthy() { mcc_in "$1" "$2" health >/dev/null 2>&1; } # mccd_healthy NS DIR

# mcc_tunnel NS DIR REMOTE_ID TARGETS [ARGS...]: `mcc create-tunnel` with DIR's node as the
# server and REMOTE_ID as the client; sets SEP (the server endpoint's ID).
mcc_tunnel() {
    local ns=$1 d=$2 remote=$3 targets=$4 out
    shift 4
    out=$(nsx "$ns" timeout 30 "$MCC" -s "$d/mcc.sock" create-tunnel -C "$d" -p "$d/network-certificate.txt" --stdin \
        --targets "$targets" --remote-node "$remote" "$@" <"$NETKEY" 2>"$d.tunnel.err")
    SEP=$(printf '%s\n' "$out" | tail -n 1 | tr -d '[:space:]')
    [[ $SEP =~ ^[0-9a-z]{52}$ ]] || { log "mcc create-tunnel in $d printed '$SEP': $(cat "$d.tunnel.err")"; return 1; }
}
# mcc_resolve_wait TIMEOUT_S NS DIR NAME: waits until DIR's daemon resolves NAME (a node or
# endpoint ID) to an IPv4 address; sets ADDR.
mcc_resolve_wait() {
    local t=$1
    shift
    wait_until "$t" 0.2 _mcc_resolves "$@"
}
_mcc_resolves() {
    ADDR=$(mcc_in "$1" "$2" resolve "$3" 2>/dev/null | head -n 1 | tr -d '[:space:]')
    [[ $ADDR =~ ^[0-9]+(\.[0-9]+){3}$ ]]
}
