#!/usr/bin/env bash
# End-to-end test of SSL CA distribution (ssl-* keys, ssl-publisher-grant; docs/SSL.md) with
# real mccd daemons, a test CA made with openssl, an HTTPS server (openssl s_server) and
# curl without -k.
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/ssl.sh
#
# Four namespaces on one bridge: pub (the root, the granted publisher), mid (pub's child),
# web (mid's child, two links from pub: the HTTPS server of web.test, its certificate
# signed by the test CA) and cli (mid's child, two links from pub, ssl-install on). cli's
# mccd runs in a mount namespace of its own in which /etc/ssl/certs and
# /usr/local/share/ca-certificates are private copies (bind mounts), so the packaged
# manage script (packaging/ssl/manage, real update-ca-certificates) installs there and
# never into the host's store; curl runs in that mount namespace too.
#
#    1 mccd -C lists the ssl keys with their defaults, none among the unsupported ones
#    2 before distribution curl https://web.test/ from cli fails (unknown CA)
#    3 pub publishes the CA: it reaches cli over two links, the manage script adds it,
#      and curl https://web.test/ succeeds without -k
#    4 a node granted nothing cannot publish: mid with ssl-certificates and a grant for
#      another node refuses to start, naming ssl-publisher-grant
#    5 restarted with the same set, cli runs no script and keeps the CA
#    6 pub withdraws the CA (publishes another one instead): cli's script removes it and
#      curl fails again
#    7 the host's /etc/ssl/certs and /usr/local/share/ca-certificates are as before
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccssl /tmp/mccssl
CHECKS=1
PORT=9376
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/*.log"

need_root
need_tools ip:iproute2 openssl:openssl curl:curl update-ca-certificates:ca-certificates unshare:util-linux nsenter:util-linux sha256sum:coreutils || exit 2
need_tun

host_state() {
    local f
    for f in /etc/ssl/certs /usr/local/share/ca-certificates; do
        if [ -d "$f" ]; then
            find "$f" -maxdepth 2 \( -type f -o -type l \) -printf '%p %l\n' | sort
            find "$f" -maxdepth 2 -type f -exec sha256sum {} + | sort
        else echo "$f absent"; fi
    done
}
HOST_BEFORE=$(host_state)

lib_start
chmod 755 "$W"
build_release mcc-linux

# ---------------------------------------------------------------- 1 mccd -C

"$MCCD" -C >"$W/default.conf"
for kv in "ssl-install = false" "ssl-manage-script = /usr/libexec/mcc-ssl/manage" \
    "ssl-storage-timeout = 24h" "ssl-storage-cleanup-period = 1h" "ssl-certificates-ttl = 64" \
    "ssl-update-batch-size = 10" "ssl-update-send-period = 30s" "# ssl-certificates =" \
    "# ssl-publisher-grant ="; do
    check "1 mccd -C: $kv" grep -qxF "$kv" "$W/default.conf"
done
check_not "1 no ssl key among the unsupported ones" sh -c "sed -n '/not supported/,\$p' '$W/default.conf' | grep -q ssl-"

# ---------------------------------------------------------------- set-up

ns_add sw pub mid web cli || die "namespaces"
bridge sw br0 || die "bridge"
bridge_port sw br0 p-pub pub eth0 10.238.0.1/24 || die "veth pub"
bridge_port sw br0 p-mid mid eth0 10.238.0.2/24 || die "veth mid"
bridge_port sw br0 p-web web eth0 10.238.0.3/24 || die "veth web"
bridge_port sw br0 p-cli cli eth0 10.238.0.4/24 || die "veth cli"

pki "$W/pki" || die "pki"
mcc_node pub "$W/pub" "" keep-alive-period 2s ssl-update-send-period 1s || die "init pub"
PUB_ID=$NODE_ID
mcc_node mid "$W/mid" "10.238.0.1:$PORT" keep-alive-period 2s ssl-update-send-period 1s || die "init mid"
mcc_node web "$W/web" "10.238.0.2:$PORT" keep-alive-period 2s ssl-update-send-period 1s || die "init web"
mcc_node cli "$W/cli" "10.238.0.2:$PORT" keep-alive-period 2s ssl-update-send-period 1s \
    ssl-install true ssl-manage-script "$REPO/packaging/ssl/manage" || die "init cli"

# The test CAs and web.test's certificate.
C=$W/ca
mkdir -p "$C"
mkca() { # mkca NAME
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=mcc e2e $1" -keyout "$C/$1.key" -out "$C/$1.pem" 2>>"$W/openssl.log"
}
mkca ca1 && mkca ca2 || die "openssl CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=web.test \
    -keyout "$C/web.key" -out "$C/web.csr" 2>>"$W/openssl.log" || die "openssl csr"
printf 'subjectAltName=DNS:web.test\nbasicConstraints=CA:FALSE\n' >"$C/ext"
openssl x509 -req -in "$C/web.csr" -CA "$C/ca1.pem" -CAkey "$C/ca1.key" -CAcreateserial \
    -days 1 -extfile "$C/ext" -out "$C/web.pem" 2>>"$W/openssl.log" || die "openssl sign"

# The grant: the network key names pub as the publisher.
"$MCC" grant-ssl-publisher -p "$W/pki/net/network-certificate.txt" --stdin "$PUB_ID" "$W/pub/ssl-grant.txt" \
    <"$NETKEY" >"$W/grant.out" 2>&1 || die "mcc grant-ssl-publisher: $(cat "$W/grant.out")"

spawn web "$W/s_server.log" openssl s_server -quiet -accept 443 -cert "$C/web.pem" -key "$C/web.key" -www

# cli's private trust store, and its mccd inside that mount namespace.
mkdir -p "$W/cli-store/local" && cp -a /etc/ssl/certs "$W/cli-store/certs"
cat >"$W/cli-mccd.sh" <<EOS
#!/bin/sh
set -e
mount --make-rprivate /
mount --bind "$W/cli-store/certs" /etc/ssl/certs
mount --bind "$W/cli-store/local" /usr/local/share/ca-certificates
echo \$\$ >"$W/cli-mccd.pid"
exec "$MCCD" "$W/cli"
EOS
chmod 755 "$W/cli-mccd.sh"
start_cli() {
    rm -f "$W/cli-mccd.pid"
    spawn cli "$W/cli/mccd.stderr" unshare -m "$W/cli-mccd.sh"
    CLI_PID=$SPAWNED
    wait_until 15 0.2 mccd_healthy cli "$W/cli" || die "mccd cli not healthy"
}
stop_cli() {
    kill -TERM "$CLI_PID" 2>/dev/null
    wait "$CLI_PID" 2>/dev/null
    unset "BG[$CLI_PID]"
}
in_cli() { nsenter -t "$(cat "$W/cli-mccd.pid")" -m -n "$@"; }
curl_web() { in_cli curl -sS --max-time 5 --resolve web.test:443:10.238.0.3 -o /dev/null https://web.test/ 2>>"$W/curl.log"; }
script_runs() { grep -c "ssl: installed\|ssl: removed" "$W/cli/mccd.log" 2>/dev/null || echo 0; }

mccd_start pub "$W/pub"
wait_until 15 0.2 mccd_healthy pub "$W/pub" || die "mccd pub"
mccd_start mid "$W/mid"
mccd_start web "$W/web"
start_cli
wait_until 15 0.2 mccd_healthy mid "$W/mid" || die "mccd mid"
linked() { mcc_in mid "$W/mid" nodes 2>/dev/null | grep -q "$(cat "$W/cli.id")"; }
wait_until 30 0.3 linked || die "cli not linked to mid"

# ---------------------------------------------------------------- 2 before

check_not "2 before distribution curl https://web.test/ fails (unknown CA)" curl_web

# ---------------------------------------------------------------- 3 distribution

mccd_stop "$W/pub"
mcc_set "$W/pub/mcc.conf" ssl-certificates "$C/ca1.pem" ssl-publisher-grant ssl-grant.txt || die "conf pub"
mccd_start pub "$W/pub"
wait_until 15 0.2 mccd_healthy pub "$W/pub" || die "mccd pub with ssl-certificates"
check "3a pub publishes" wait_until 10 0.2 grep -q "ssl: publishing 1 CA certificates" "$W/pub/mccd.log"
check "3b the set reaches cli over two links and the script installs it" \
    wait_until 60 0.3 grep -q "ssl: installed 1 CA certificates" "$W/cli/mccd.log"
check "3c ... into cli's private store" sh -c "ls '$W/cli-store/local/mcc/'mcc-*.crt >/dev/null"
check "3d curl https://web.test/ from cli succeeds without -k" wait_until 10 0.3 curl_web
check "3e the set is saved in cli's data-dir" test -s "$W/cli/data/ssl/set.json"

# ---------------------------------------------------------------- 4 no grant, no publishing

mccd_stop "$W/mid"
cp "$W/pub/ssl-grant.txt" "$W/mid/ssl-grant.txt"
mcc_set "$W/mid/mcc.conf" ssl-certificates "$C/ca2.pem" ssl-publisher-grant ssl-grant.txt || die "conf mid"
nsx mid timeout 10 "$MCCD" "$W/mid" >"$W/mid-refused.log" 2>&1
check "4 a node with another node's grant refuses to start, naming ssl-publisher-grant" \
    grep -q "ssl-publisher-grant: .*the grant names another node" "$W/mid-refused.log"
mcc_set "$W/mid/mcc.conf" ssl-certificates "" ssl-publisher-grant "" || die "conf mid back"
sed -i '/^ssl-certificates = $/d; /^ssl-publisher-grant = $/d' "$W/mid/mcc.conf"
mccd_start mid "$W/mid"
wait_until 15 0.2 mccd_healthy mid "$W/mid" || die "mccd mid again"

# ---------------------------------------------------------------- 5 restart, nothing changed

runs=$(script_runs)
stop_cli
start_cli
wait_until 30 0.3 linked || die "cli not linked again"
sleep 3
check "5a a restarted cli runs no script for the same set" test "$(script_runs)" = "$runs"
check "5b ... and curl still succeeds" curl_web

# ---------------------------------------------------------------- 6 withdrawal

mccd_stop "$W/pub"
mcc_set "$W/pub/mcc.conf" ssl-certificates "$C/ca2.pem" || die "conf pub 2"
mccd_start pub "$W/pub"
wait_until 15 0.2 mccd_healthy pub "$W/pub" || die "mccd pub with ca2"
check "6a the withdrawal reaches cli: the script removes the old CA" \
    wait_until 60 0.3 grep -q "ssl: removed 1 CA certificates" "$W/cli/mccd.log"
check "6b ... and adds the new one" wait_until 10 0.3 sh -c "[ \$(grep -c 'ssl: installed 1 CA' '$W/cli/mccd.log') -ge 2 ]"
check_not "6c curl https://web.test/ fails after the CA is withdrawn" curl_web

# ---------------------------------------------------------------- 7 host store

stop_cli
check "7 the host's /etc/ssl/certs and /usr/local/share/ca-certificates are unchanged" \
    test "$(host_state)" = "$HOST_BEFORE"
