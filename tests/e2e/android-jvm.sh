#!/usr/bin/env bash
# End-to-end test of the Android bindings (mcc-android) on a host JVM: no Android
# device or emulator. The JVM plays the VpnService app.
#
#   sudo bash tests/e2e/android-jvm.sh      (needs root, network namespaces, /dev/net/tun,
#                                            javac/java 17+)
#
# Namespace mccjvm-a (10.233.0.1/24): the root node, a Linux mccd, plus UDP and TCP echo
# servers. Namespace mccjvm-b (10.233.0.2/24): a JVM running the harness
# mcc-android/java-test/McTest.java, which opens a real TUN device (Mcc.openTun,
# standing in for VpnService.establish()), starts the node through io.mcc.Mcc with a
# Protector that records the fd, and checks the error paths (MccException, VM survives).
# Once the JVM node is linked, this script creates a tunnel on the root (server) for the JVM
# node (client); the harness resolves the server endpoint and sends UDP and TCP through it.
#
# The whole test runs twice: on a chacha20-poly1305 network and on an aes-256-gcm one (the
# root mccd and the JVM node both configured with the cipher; each picks it in the shared
# daemon start-up). MCC_CIPHER=NAME runs it once, with that cipher.
#
# Only addresses inside the namespaces created here are used. Everything is torn down on
# exit, even on failure (tests/e2e/lib.sh); the work directory /tmp/mccjvm-CIPHER stays for
# post-mortem.
# Last line: "N passed, M failed"; exit status 0 only when every check passed.

set -u -o pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.." || exit 2
if [ -z "${MCC_CIPHER:-}" ]; then
    rc=0 sum_p=0 sum_f=0
    for c in chacha20-poly1305 aes-256-gcm; do
        echo "===== network cipher: $c"
        MCC_CIPHER=$c bash "$SELF" "$@" | tee "/tmp/mccjvm-$c.out" || rc=1
        read -r p _ f _ < <(tail -n 1 "/tmp/mccjvm-$c.out")
        sum_p=$((sum_p + ${p:-0})) sum_f=$((sum_f + ${f:-1}))
    done
    echo "$sum_p passed, $sum_f failed"
    exit "$rc"
fi
CIPHER=$MCC_CIPHER
. tests/e2e/lib.sh
lib_init mccjvm "/tmp/mccjvm-$CIPHER"
CHECKS=1
PORT=9376
UDP_PORT=7777
TCP_PORT=7778
DUMP_LOGS="$W/root/mccd.log $W/root/mccd.stderr $W/jvm/node.log $W/jvm.out"

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 socat:socat ping:iputils-ping python3:python3 javac:default-jdk-headless java:default-jdk-headless ||
    { echo "0 passed, 1 failed"; exit 1; }
need_tun
lib_start
mkdir -p "$W/classes"

build_release mcc-android mcc-linux
LIB=$TARGET/libmcc_android.so
[ -f "$LIB" ] || die "missing $LIB"
log "compiling the Java classes"
javac -Xlint:all -Werror -d "$W/classes" mcc-android/java/io/mcc/*.java \
    mcc-android/java-test/McTest.java || die "javac"
check "javadoc of io.mcc has no errors or warnings" \
    javadoc -quiet -Xdoclint:all -Werror -d "$W/javadoc" mcc-android/java/io/mcc/*.java

# ---------------------------------------------------------------- underlay

ns_add a b || die "ip netns add"
veth a eth0 b eth0 10.233.0.1/24 10.233.0.2/24 || die "veth"
wait_until 10 0.2 nsx b ping -c 1 -W 1 10.233.0.1 >/dev/null || die "underlay: b cannot reach a"

# ---------------------------------------------------------------- provisioning

log "provisioning: CA, network, the root (mccd) and the JVM node"
pki "$W" || die "CA and network certificate"
declare -A ID
mcc_node a "$W/root" "" log-level debug keep-alive-period 2s cipher "$CIPHER" || die "mcc init root"
ID[root]=$NODE_ID
mcc_node b "$W/jvm" "10.233.0.1:$PORT" log-file "$W/jvm/node.log" log-level debug keep-alive-period 2s cipher "$CIPHER" ||
    die "mcc init jvm"
ID[jvm]=$NODE_ID
log "root = ${ID[root]}"
log "jvm = ${ID[jvm]}"

mccd_start a "$W/root"
ROOT_PID=$SPAWNED
spawn a "$W/udpecho.log" socat UDP-LISTEN:$UDP_PORT,fork,reuseaddr EXEC:cat
spawn a "$W/tcpecho.log" socat TCP-LISTEN:$TCP_PORT,fork,reuseaddr EXEC:cat
wait_until 15 0.2 mccd_healthy a "$W/root" || die "root mccd not healthy"
wait_until 10 0.2 sh -c "echo hi | ip netns exec $P-a socat -t 1 - UDP:127.0.0.1:$UDP_PORT | grep -q hi" ||
    die "udp echo does not answer locally"

# ---------------------------------------------------------------- the JVM node

log "starting the JVM harness in $P-b"
spawn b "$W/jvm.out" java -Xcheck:jni -Djava.library.path="$TARGET" -cp "$W/classes" \
    McTest "$W" "$W/jvm" "${ID[root]}" "$UDP_PORT" "$TCP_PORT"
JVM=$SPAWNED
if wait_until 60 0.2 test -e "$W/jvm.ready"; then
    log "JVM node linked to the root; creating the tunnel on the root for it"
    if mcc_tunnel a "$W/root" "${ID[jvm]}" "udp:$UDP_PORT,tcp:$TCP_PORT"; then
        pass "mcc create-tunnel on the root for the JVM node"
        echo "$SEP" >"$W/sep.txt.tmp" && mv "$W/sep.txt.tmp" "$W/sep.txt"
        # The JVM node's DNS server answers for the server endpoint too.
        dns_ok() {
            local a
            a=$(nsx b dig @127.0.0.1 -p 8353 +short +time=1 +tries=1 "$SEP.home.arpa" A 2>/dev/null | head -n 1)
            [[ $a =~ ^[0-9]+(\.[0-9]+){3}$ ]]
        }
        if command -v dig >/dev/null; then
            check "dig in $P-b resolves the server endpoint through the JVM node's DNS" wait_until 30 0.2 dns_ok
        fi
    else
        fail "mcc create-tunnel" "$(cat "$W/root.tunnel.err")"
    fi
else
    fail "JVM node ready within 60 s"
fi
wait_until 120 0.2 sh -c "! kill -0 $JVM 2>/dev/null" || fail "JVM harness finished within 120 s"
wait "$JVM"
jrc=$?
unset "BG[$JVM]"
sed 's/^/    jvm| /' "$W/jvm.out"
jp=$(grep -c '^PASS: ' "$W/jvm.out")
jf=$(grep -c '^FAIL: ' "$W/jvm.out")
PASSED=$((PASSED + jp))
FAILED=$((FAILED + jf))
grep -q '^harness: ' "$W/jvm.out" || fail "JVM harness ran to the end" "exit status $jrc"
[ "$jrc" = 0 ] || [ "$jf" -gt 0 ] || fail "JVM harness exit status" "$jrc"
grep -q 'SIGSEGV\|hs_err\|fatal error' "$W/jvm.out" && fail "no JVM crash" "see $W/jvm.out"
check "the root mccd is still running" kill -0 "$ROOT_PID"
check "the root mccd runs $CIPHER" grep -q "both layers sealed with $CIPHER" "$W/root/mccd.log"
check "the JVM node runs $CIPHER" grep -q "both layers sealed with $CIPHER" "$W/jvm/node.log"
exit 0
