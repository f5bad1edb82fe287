#!/usr/bin/env bash
# End-to-end test of mcc-web (docs/WEB.md): the web daemon next to a real mccd network,
# its REST API checked from Python and its UI driven in a real headless browser.
#
#   sudo bash tests/e2e/web.sh        (from anywhere; needs root, netns, /dev/net/tun)
#   SCREENSHOT_DIR=docs/screenshots sudo -E bash tests/e2e/web.sh   (refreshes the docs' PNGs)
#
# Underlay: namespace mccweb-sw holds bridge br0 (10.249.0.1/24); root .2 (and .12, the
# browser's address: the login rate limit counts per client address), a .3, b .4, cli .5.
# Overlay: root; a -> root; b -> root; cli -> [a, b]. mcc-web runs as root in root's
# namespace with a config dir of its own (password set with `set-password --stdin`,
# network-key-file = the network key, mcc-config-dir = root's mcc dir, and as
# mcc-restart-command a script that restarts root's mccd as this test would and leaves a
# marker). Then:
#   - the daemon's commands (-C, --version, set-password, openapi) and its refusals,
#   - tests/e2e/web_browser.py: Selenium with Debian's chromium and chromedriver (apt
#     packages chromium, chromium-driver; Selenium from PyPI in a venv cached in
#     /var/cache/mcc-test/venv), screenshots of the dashboard and the topology,
#   - tests/e2e/web_api.py: every OpenAPI route without a session, cookies, CSRF, the
#     login limit, the data against `mcc`, a tunnel to cli and back, metrics, config + restart,
#   - /metrics only on loopback, mcc-web's RSS.
# Traffic stays inside the namespaces created here; everything is torn down on exit
# (tests/e2e/lib.sh); /tmp/mccweb stays for post-mortem. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccweb /tmp/mccweb
CHECKS=1
NODES=(root a b cli)
PORT=9376
NET=10.249.0
BROWSER_IP=$NET.12
FUZZ_IP=$NET.13 # schemathesis' session
WEB_PORT=8383
VENV=${MCC_TEST_VENV:-/var/cache/mcc-test/venv}
SELENIUM=selenium==4.50.0
ST_VENV=${MCC_TEST_ST_VENV:-/var/cache/mcc-test/venv-schemathesis}
SCHEMATHESIS=schemathesis==4.32.5
SHOTS=${SCREENSHOT_DIR:-$W/screenshots}
[[ $SHOTS = /* ]] || SHOTS=$REPO/$SHOTS
declare -A ID=()
DUMP_LOGS="$W/web.log $W/*/mccd.log $W/*/mccd.stderr" # and $W/chromedriver.log, $W/failure-*.png

mccn() { mcc_in "$1" "$W/$1" "${@:2}"; }
healthy() { mccd_healthy "$1" "$W/$1"; }
all_healthy() {
    local n
    for n in "${NODES[@]}"; do healthy "$n" || return 1; done
}
# The restart command may have replaced root's mccd: stop the one in the PID file too.
on_cleanup() {
    local p
    p=$(cat "$W/root/mccd.pid" 2>/dev/null) && kill -TERM "$p" 2>/dev/null
    return 0
}
# run_py NAME CMD...: a check script in root's namespace; its PASS:/FAIL: lines become
# this script's checks, the rest is shown as it comes. It must reach its summary line.
run_py() {
    local name=$1 line done=0
    shift
    while IFS= read -r line; do
        case $line in
            "PASS: "*) pass "${line#PASS: }" ;;
            "FAIL: "*) fail "${line#FAIL: }" ;;
            "$name: "*" passed, "*" failed checks") done=1 && printf '%s\n' "$line" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done < <(nsx root timeout 300 "$@" 2>"$W/$name.stderr")
    if [ "$done" = 0 ]; then
        fail "$name: the script ran to its end" "see $W/$name.stderr"
        tail -n 20 "$W/$name.stderr"
    fi
}

# ---------------------------------------------------------------- prerequisites

need_root
need_tools ip:iproute2 curl:curl ping:iputils-ping python3:python3 awk:gawk \
    chromium:chromium chromedriver:chromium-driver || exit 2
need_tun
# Selenium in a venv of its own, made once (the browser and its driver are Debian's).
if ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    log "creating $VENV with $SELENIUM"
    rm -rf "$VENV"
    mkdir -p "${VENV%/*}"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check "$SELENIUM" ||
        { echo "could not install $SELENIUM into $VENV" >&2; exit 2; }
fi
lib_start
build_release mcc-linux mcc-web
MCCWEB=$TARGET/mcc-web
[ -x "$MCCWEB" ] || die "missing $MCCWEB"
log "$("$MCCWEB" --version)"

# ---------------------------------------------------------------- underlay and overlay

log "creating namespaces, the bridge and the daemons"
ns_add sw "${NODES[@]}" || die "namespaces"
star "$NET" sw "${NODES[@]}" || die "bridge"
ip -n "$P-root" addr add "$BROWSER_IP/24" dev eth0 && ip -n "$P-root" addr add "$FUZZ_IP/24" dev eth0 ||
    die "$BROWSER_IP, $FUZZ_IP on root"
declare -A PARENTS=([root]="" [a]="${IP[root]}:$PORT" [b]="${IP[root]}:$PORT" [cli]="${IP[a]}:$PORT,${IP[b]}:$PORT")
pki "$W" web-ca web-net || die "CA and network certificate"
for n in "${NODES[@]}"; do
    mcc_node "$n" "$W/$n" "${PARENTS[$n]}" keep-alive-period 2s || die "mcc init $n"
    ID[$n]=$NODE_ID
    log "node $n = ${ID[$n]}"
done
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n"; done
echo "${MCCD_PID[$W/root]}" >"$W/root/mccd.pid"
wait_until 30 0.3 all_healthy || die "not every node became healthy within 30 s"
all_known() { # the root knows every node: the test compares mcc-web's lists with it
    local out n
    out=$(mccn root nodes 2>/dev/null) || return 1
    for n in "${NODES[@]}"; do grep -q "${ID[$n]}" <<<"$out" || return 1; done
}
wait_until 20 0.3 all_known || die "the root does not know all 4 nodes within 20 s"
log "4 daemons healthy, all known at the root"

# ---------------------------------------------------------------- mcc-web's own commands

WEB=$W/web
mkdir -p "$WEB"
PASSWORD="pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
defaults=$("$MCCWEB" -C)
missing=""
for k in log-level password-file valid-users http-listen static-files-path pre-session-timeout \
    max-pre-sessions session-timeout max-sessions mcc-config-dir mcc-restart-command \
    tls-certificate-file tls-key-file metrics-listen network-key-file; do
    grep -Eq "^#?[[:space:]]*$k[[:space:]]*=" <<<"$defaults" || missing+=" $k"
done
check "mcc-web -C prints every documented key${missing:+ (missing:$missing)}" [ -z "$missing" ]
check "mcc-web --version names the version" sh -c "'$MCCWEB' --version | grep -Eq '[0-9]+\.[0-9]+\.[0-9]+'"

# A config with an unknown key on line 3: refused, naming file and line.
mkdir -p "$W/web-bad"
printf '# a comment\nlog-level = info\nno-such-key = 1\n' >"$W/web-bad/mcc-web.conf"
out=$(timeout 10 "$MCCWEB" "$W/web-bad" 2>&1)
rc=$?
echo "    $out" | head -n 3
check "mcc-web refuses an unknown key: exit 1 (not hung, not 0; was $rc)" [ "$rc" = 1 ]
check "... naming file, line and key" grep -q "$W/web-bad/mcc-web.conf:3.*no-such-key" <<<"$out"
out=$(timeout 10 "$MCCWEB" "$W/no-such-dir" 2>&1)
check "mcc-web refuses a missing config directory, naming it (exit $?)" grep -q "$W/no-such-dir" <<<"$out"

RESTART=$W/restart-mccd.sh
cat >"$RESTART" <<EOF
#!/bin/sh
# mcc-restart-command of tests/e2e/web.sh: restarts root's mccd as the test would.
set -e
date +%s.%N >>"$W/restarted"
old=\$(cat "$W/root/mccd.pid")
kill -TERM "\$old"
i=0
while kill -0 "\$old" 2>/dev/null && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
setsid "$MCCD" "$W/root" >>"$W/root/mccd.stderr" 2>&1 </dev/null &
echo \$! >"$W/root/mccd.pid"
echo "mccd restarted: pid \$old -> \$!"
EOF
chmod 755 "$RESTART"
cat >"$WEB/mcc-web.conf" <<EOF
# tests/e2e/web.sh
log-level = debug
valid-users = mcc
http-listen = 0.0.0.0:$WEB_PORT
metrics-listen = 127.0.0.1:8384
mcc-config-dir = $W/root
mcc-restart-command = $RESTART
network-key-file = $NETKEY
EOF
printf '%s\n' "$PASSWORD" | "$MCCWEB" set-password "$WEB" --stdin >"$W/set-password.log" 2>&1
check "mcc-web set-password --stdin exits 0" [ $? = 0 ]
check "password.txt is mode 0600" [ "$(stat -c %a "$WEB/password.txt" 2>/dev/null)" = 600 ]
check "password.txt holds an argon2id PHC hash, not the password" \
    sh -c "[ \"\$(head -c 10 '$WEB/password.txt')\" = '\$argon2id\$' ] && ! grep -q '$PASSWORD' '$WEB/password.txt'"
"$MCCWEB" openapi >"$W/openapi.json" 2>"$W/openapi.err"
check "mcc-web openapi prints JSON" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$W/openapi.json"

log "starting mcc-web in root's namespace"
spawn root "$W/web.log" "$MCCWEB" "$WEB"
WEBPID=$SPAWNED
web_up() { nsx root curl -sk --noproxy '*' --max-time 2 -o /dev/null "https://${IP[root]}:$WEB_PORT/"; }
t0=$(now)
wait_until 20 0.2 web_up || die "mcc-web does not answer on https://${IP[root]}:$WEB_PORT/ within 20 s"
log "mcc-web up after $(since "$t0") s"
check "a self-signed certificate and key were generated; the key is mode 0600" \
    sh -c "[ -s '$WEB/tls-certificate.pem' ] && [ \"\$(stat -c %a '$WEB/tls-key.pem')\" = 600 ]"
check_not "/metrics is not reachable from another namespace (a -> ${IP[root]}:8384)" \
    nsx a curl -s --noproxy '*' --max-time 3 -o /dev/null "http://${IP[root]}:8384/metrics"
check_not "... nor on that namespace's own loopback" nsx a curl -s --noproxy '*' --max-time 3 -o /dev/null "http://127.0.0.1:8384/metrics"
check "the HTTPS API is reachable from another namespace (a -> ${IP[root]}:$WEB_PORT, 401)" \
    sh -c "[ \"\$(ip netns exec $P-a curl -sk --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' https://${IP[root]}:$WEB_PORT/api/v1/node)\" = 401 ]"
check_not "plain HTTP on the HTTPS port gets no API answer" \
    sh -c "ip netns exec $P-root curl -s --noproxy '*' --max-time 3 http://${IP[root]}:$WEB_PORT/api/v1/node | grep -q login"

# ---------------------------------------------------------------- browser, then API

socks="" nss=""
for n in "${NODES[@]}"; do
    socks+="${socks:+, }\"$n\": \"$W/$n/mcc.sock\""
    nss+="${nss:+, }\"$n\": \"$P-$n\""
done
ids=""
for n in "${NODES[@]}"; do ids+="${ids:+, }\"$n\": \"${ID[$n]}\""; done
cat >"$W/web-test.json" <<EOF
{
  "base": "https://${IP[root]}:$WEB_PORT",
  "alt_base": "https://127.0.0.1:$WEB_PORT",
  "browser_base": "https://$BROWSER_IP:$WEB_PORT",
  "cert": "$WEB/tls-certificate.pem",
  "user": "mcc",
  "password": "$PASSWORD",
  "metrics": "http://127.0.0.1:8384/metrics",
  "mcc": "$MCC",
  "ids": {$ids},
  "socks": {$socks},
  "ns": {$nss},
  "openapi_file": "$W/openapi.json",
  "docs": "$REPO/docs/WEB.md",
  "conf": "$W/root/mcc.conf",
  "restart_marker": "$W/restarted",
  "mccd_pid_file": "$W/root/mccd.pid",
  "screenshots": "$SHOTS",
  "workdir": "$W",
  "web_pid": $WEBPID
}
EOF

log "browser test (chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
t0=$(now)
HOME=$W run_py browser "$VENV/bin/python" -u tests/e2e/web_browser.py "$W/web-test.json"
log "browser test took $(since "$t0") s; screenshots in $SHOTS"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$WEBPID/status" 2>/dev/null; }
RSS_AFTER_BROWSER=$(rss)

# ---------------------------------------------------------------- schemathesis
# Property-based checks generated from the OpenAPI document: the read-only operations (not
# the endless event stream), logged in, a few examples each, within 60 s.

if ! "$ST_VENV/bin/st" --version >/dev/null 2>&1; then
    log "creating $ST_VENV with $SCHEMATHESIS"
    rm -rf "$ST_VENV"
    python3 -m venv "$ST_VENV" && "$ST_VENV/bin/pip" install -q --disable-pip-version-check "$SCHEMATHESIS" >"$W/st-install.log" 2>&1 ||
        log "could not install $SCHEMATHESIS (see $W/st-install.log)"
fi
if "$ST_VENV/bin/st" --version >/dev/null 2>&1; then
    t0=$(now)
    # The session as the document's security schemes name it, so schemathesis also
    # checks that requests without it are refused.
    read -r session token < <(nsx root python3 tests/e2e/web_api.py "$W/web-test.json" --login "https://$FUZZ_IP:$WEB_PORT" 2>"$W/st-login.err")
    printf '[auth.openapi.session]\napi_key = "%s"\n\n[auth.openapi.csrf]\napi_key = "%s"\n' "${session:-none}" "${token:-none}" >"$W/schemathesis.toml"
    # From the scratch directory: schemathesis writes .schemathesis/ where it runs.
    nsx root env -C "$W" timeout 60 "$ST_VENV/bin/st" --no-color --config-file "$W/schemathesis.toml" run "$W/openapi.json" \
        --url "https://$FUZZ_IP:$WEB_PORT" --tls-verify false --include-method GET \
        --exclude-path /api/v1/events/stream --exclude-path /api/v1/login \
        -n 10 --request-timeout 10 >"$W/schemathesis.log" 2>&1
    rc=$?
    tail -n 15 "$W/schemathesis.log" | sed 's/^/    st: /'
    check "schemathesis: the read-only operations conform to the OpenAPI document (exit $rc, $(since "$t0") s)" [ "$rc" = 0 ]
fi

log "API test"
t0=$(now)
run_py api python3 -u tests/e2e/web_api.py "$W/web-test.json"
log "API test took $(since "$t0") s"

# ---------------------------------------------------------------- RSS

RSS=$(rss)
HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$WEBPID/status" 2>/dev/null)
check "mcc-web is still running after the tests" kill -0 "$WEBPID"
echo "MCC-WEB RSS: ${RSS:-?} kB (after the browser test: ${RSS_AFTER_BROWSER:-?} kB, peak ${HWM:-?} kB)"
exit 0 # the EXIT trap cleans up, lists failures and prints "N passed, M failed" last
