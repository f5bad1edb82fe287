#!/usr/bin/env bash
# End-to-end test of the NSS module libnss_mcc.so.2 (mcc-nss) and of the DNS server's
# names, with real mccd daemons, the real getent, getaddrinfo (python), ping and dig.
#
#   sudo bash tests/e2e/nss.sh          (needs root, netns, /dev/net/tun, overlayfs)
#
# Two namespaces joined by a veth (10.233.0.0/24): srv (the root node, dns-names node1, its
# DNS server on 10.233.0.1:53 as cli's fallback name server) and cli (its child, dns-names
# client1, resolver.ipv4-network 10.99.0.0/16, resolver.ipv6-network fd99::/64,
# resolver.ttl 42). srv creates a tunnel for cli (tcp:8080 and icmp) named `web`;
# resolver.domain is .staex on both, as in the docs.
#
# Lookups run in cli's network namespace inside a private mount namespace (unshare -m)
# where the test's nsswitch.conf and resolv.conf are bind-mounted over /etc and the built
# library is overlaid onto the system library directory, so glibc loads it by its soname
# as it would after installation (README of mcc-nss). The host's /etc/nsswitch.conf,
# /etc/resolv.conf and library directory are checksummed before and after: never touched.
#
#    1 mcc-nsswitch add/remove/check on a copy of nsswitch.conf: the docs' line, idempotent
#    2 getent hosts/ahosts of the server endpoint's ID, of `web` with and without the
#      domain, of node names known only up the tree (a lookup through srv), v4 and v6,
#      also as user nobody (host-by-* are read-only requests)
#    3 reverse: getent hosts of the endpoint's IPv4 and IPv6 addresses, and of srv's static
#      address 10.115.4.4, which cli does not know and asks of the root (srv)
#    4 ping -c1 through the tunnel by name and by ID (IPv4, IPv6 and getaddrinfo's choice)
#    5 an unknown name is not found; a socket served by another user is not believed
#    6 DNS: names without the domain, reverse zones of the configured networks (and the
#      static addresses' 115.10.in-addr.arpa), the TTL
#    7 the tunnel file's dns-names replace the certificate's on cli after a reload
#    8 mccd stopped (socket gone) or stuck (SIGSTOP): getent falls through to dns
#    9 the host's files are unchanged
# Also measured: lookup latency through the module (in-process getaddrinfo and getent).
#
# Last line: "N passed, M failed". The harness is tests/e2e/lib.sh.

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccnss /tmp/mccnss
CHECKS=1
PORT=9376
DUMP_LOGS="$W/*/mccd.log $W/*/mccd.stderr $W/*.log"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

need_root
need_tools ip:iproute2 dig:dnsutils ping:iputils-ping getent:libc-bin python3:python3 \
    unshare:util-linux setpriv:util-linux sha256sum:coreutils || exit 2
need_tun

# The system library directory glibc loads NSS modules from (/usr/lib/<multiarch>).
LIBDIR=$(dirname "$(readlink -f "$(ldconfig -p | awk '/libnss_files\.so\.2 /{print $NF; exit}')")")
[ -d "$LIBDIR" ] || { echo "no libnss_files.so.2 in the ld.so cache: not a glibc system?" >&2; exit 2; }
# The host's files, and any libnss_mcc* of its library directory (the directory as a whole
# may change meanwhile: another lane's apt-get).
host_sums() {
    sha256sum /etc/nsswitch.conf /etc/resolv.conf
    ls -la --time-style=full-iso "$LIBDIR"/libnss_mcc* 2>/dev/null
    sha256sum "$LIBDIR"/libnss_mcc* 2>/dev/null
}
HOST_BEFORE=$(host_sums)

lib_start
chmod 755 "$W"
build_release mcc-linux mcc-nss
NSSWITCH=$TARGET/mcc-nsswitch
mkdir -p "$W/nsslib"
cp "$TARGET/libnss_mcc.so" "$W/nsslib/libnss_mcc.so.2"

# ---------------------------------------------------------------- helpers

mccn() { mcc_in "$1" "$W/$1" "${@:2}"; }
digq() { # digq NODE ARGS...: the built-in DNS of NODE's daemon
    local n=$1
    shift
    nsx "$n" timeout 8 dig @127.0.0.1 -p 8353 +time=2 +tries=1 "$@"
}
# One raw control request (the reload after editing a tunnel file): ctl NODE JSON.
ctl() {
    nsx "$1" timeout 5 "$PY" - "$W/$1/mcc.sock" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(4)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
PY
}

LIB_MODE=overlay
# in_nss CMD...: CMD in cli's network namespace with the test's nsswitch.conf and
# resolv.conf and the module in the system library directory, in a mount namespace of its
# own; MCC_UNIX_SOCKET_PATH names cli's socket unless the caller set NSS_SOCK.
in_nss() {
    local sock=${NSS_SOCK:-$W/cli/mcc.sock}
    nsx cli env MCC_UNIX_SOCKET_PATH="$sock" unshare -m --propagation private sh -c '
        mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /etc/resolv.conf || exit 97
        if [ "$5" = overlay ]; then
            mount -t overlay overlay -o "lowerdir=$3:$4" "$4" || exit 98
        else
            export LD_LIBRARY_PATH="$3"
        fi
        shift 5
        exec "$@"' _ "$W/nsswitch.conf" "$W/resolv.conf" "$W/nsslib" "$LIBDIR" "$LIB_MODE" "$@"
}
# The address getent/getaddrinfo gives: ghost FAMILY NAME (FAMILY: hosts, ahostsv4, ahostsv6).
ghost() { in_nss timeout 10 getent "$1" "$2" | awk 'NR == 1 {print $1}'; }
# The first line of `getent hosts KEY`, blanks squeezed: "ADDRESS NAME ALIAS...".
ghosts() { in_nss timeout 10 getent hosts "$1" | awk 'NR == 1 {$1 = $1; print}'; }

# ---------------------------------------------------------------- 1 nsswitch.conf

cat >"$W/nsswitch.orig" <<'EOF'
# nsswitch.conf of the test (the host's is never touched)
passwd:         files
group:          files
hosts:          files dns
networks:       files
EOF
cp "$W/nsswitch.orig" "$W/nsswitch.conf"
check "1a mcc-nsswitch check: not enabled before (exit 1)" sh -c "! '$NSSWITCH' check '$W/nsswitch.conf' >/dev/null"
"$NSSWITCH" add "$W/nsswitch.conf" >/dev/null
check "1b add: the docs' hosts line" grep -qx 'hosts:          files mcc \[SUCCESS=return\] dns' "$W/nsswitch.conf"
cp "$W/nsswitch.conf" "$W/nsswitch.once"
out=$("$NSSWITCH" add "$W/nsswitch.conf")
check "1c add again: unchanged ($out)" cmp -s "$W/nsswitch.conf" "$W/nsswitch.once"
check "1d check: enabled (exit 0)" "$NSSWITCH" check "$W/nsswitch.conf"
"$NSSWITCH" remove "$W/nsswitch.conf" >/dev/null
check "1e remove: the original file, byte for byte" cmp -s "$W/nsswitch.conf" "$W/nsswitch.orig"
"$NSSWITCH" add "$W/nsswitch.conf" >/dev/null
check "1f the other lines are kept" sh -c "diff '$W/nsswitch.orig' '$W/nsswitch.conf' | grep -c '^[<>]' | grep -qx 2"
printf 'nameserver 10.233.0.1\noptions timeout:1 attempts:1\n' >"$W/resolv.conf"

# ---------------------------------------------------------------- network and nodes

log "creating namespaces"
ns_add srv cli || die "namespaces"
veth srv eth0 cli eth0 10.233.0.1/24 10.233.0.2/24 || die "veth"
wait_until 10 0.2 nsx cli ping -c 1 -W 1 10.233.0.1 >/dev/null || die "underlay: cli cannot reach srv"

pki "$W" || die "CA and network certificate"
mcc_node srv "$W/srv" "" log-level debug keep-alive-period 2s resolver.domain .staex dns-names node1 \
    dns-addr 10.233.0.1:53 static-addr 10.115.4.4 || die "mcc init srv"
SRV=$NODE_ID
mcc_node cli "$W/cli" "10.233.0.1:$PORT" log-level debug keep-alive-period 2s resolver.domain .staex \
    dns-names client1 resolver.ipv4-network 10.99.0.0/16 resolver.ipv6-network fd99::/64 resolver.ttl 42 ||
    die "mcc init cli"
CLI=$NODE_ID
mccd_start srv "$W/srv"
mccd_start cli "$W/cli"
wait_until 30 0.3 sh -c "ip netns exec $P-cli timeout 5 '$MCC' -s '$W/cli/mcc.sock' health >/dev/null 2>&1" ||
    die "cli not healthy within 30 s"
log "srv $SRV, cli $CLI"

mkdir -p "$W/www"
echo nss-ok >"$W/www/index.html"
spawn srv "$W/http.log" "$PY" -m http.server 8080 --bind 0.0.0.0 --directory "$W/www"
mcc_tunnel srv "$W/srv" "$CLI" tcp:8080,icmp --dns-names web || die "mcc create-tunnel"
log "server endpoint $SEP"
web_on_cli() { [[ $(digq cli +short web.staex A) =~ ^10\.99\. ]]; }
wait_until 30 0.5 web_on_cli || die "the tunnel did not reach cli within 30 s"
ADDR=$(digq cli +short web.staex A)
ADDR6=$(digq cli +short web.staex AAAA)
log "web.staex on cli: $ADDR $ADDR6"

# The overlay onto the library directory, or LD_LIBRARY_PATH where overlayfs is missing.
if ! in_nss true 2>/dev/null; then
    LIB_MODE=ld_library_path
    log "overlayfs unavailable: the module is found through LD_LIBRARY_PATH"
fi
check "0 inside the mount namespace: the test's nsswitch.conf" \
    in_nss grep -qx 'hosts:          files mcc \[SUCCESS=return\] dns' /etc/nsswitch.conf

# ---------------------------------------------------------------- 2 forward lookups

got=$(ghosts "$SEP")
check "2a getent hosts SEP: $ADDR6 ($got)" [ "$got" = "$ADDR6 $SEP" ]
check "2b getent ahostsv4 SEP = $ADDR" [ "$(ghost ahostsv4 "$SEP")" = "$ADDR" ]
check "2c getent ahostsv4 SEP.staex" [ "$(ghost ahostsv4 "$SEP.staex")" = "$ADDR" ]
check "2d getent hosts web.staex (v6 first, as getent asks)" [ "$(ghost hosts web.staex)" = "$ADDR6" ]
check "2e getent ahostsv4 web (no domain)" [ "$(ghost ahostsv4 web)" = "$ADDR" ]
check "2f getent ahostsv4 WEB.STAEX. (case, final dot)" [ "$(ghost ahostsv4 WEB.STAEX.)" = "$ADDR" ]
ah=$(in_nss getent ahosts web.staex)
echo "$ah" | sed 's/^/    ahosts: /'
both_families() { grep -q "^$ADDR " <<<"$ah" && grep -q "^$ADDR6 " <<<"$ah"; }
check "2g getent ahosts web.staex: IPv4 and IPv6 in one answer (gethostbyname4_r)" both_families
v4_of() { ghost ahostsv4 "$1"; }
in_cli_pool() { [[ $1 =~ ^10\.99\.[0-9]+\.[0-9]+$ ]]; }
NODE1=$(v4_of node1.staex)
check "2h getent node1.staex (srv's name, looked up through srv): $NODE1" in_cli_pool "$NODE1"
check "2i getent node1 = node1.staex" [ "$(v4_of node1)" = "$NODE1" ]
check "2j getent SRV-ID = node1" [ "$(v4_of "$SRV")" = "$NODE1" ]
OWN=$(mccn cli resolve "$CLI")
check "2k getent client1 (cli's own name) = its address $OWN" [ "$(v4_of client1)" = "$OWN" ]
check "2l getent ahostsv6 web: $ADDR6" [ "$(ghost ahostsv6 web)" = "$ADDR6" ]
# Every local user's programs: host-by-* are read-only requests (the socket is 0666; cli's
# directory gets search permission only, its keys stay 0600).
chmod 711 "$W/cli"
as_nobody() { in_nss setpriv --reuid=nobody --regid=nogroup --clear-groups -- timeout 10 getent ahostsv4 "$1" | awk 'NR == 1 {print $1}'; }
check "2m getent ahostsv4 web.staex as user nobody = $ADDR" [ "$(as_nobody web.staex)" = "$ADDR" ]

# ---------------------------------------------------------------- 3 reverse lookups

rev=$(ghosts "$ADDR")
check "3a getent hosts $ADDR: $SEP.staex, alias web.staex ($rev)" [ "$rev" = "$ADDR $SEP.staex web.staex" ]
rev=$(ghosts "$ADDR6")
check "3b getent hosts $ADDR6: $SEP.staex ($rev)" [ "$rev" = "$ADDR6 $SEP.staex web.staex" ]
check_not "3c getent hosts 10.99.200.200 (no one): not found" in_nss getent hosts 10.99.200.200
rev=$(ghosts 10.115.4.4 | awk '{print $1, $2}')
check "3d getent hosts 10.115.4.4 (srv's static address, asked of the root): $SRV.staex ($rev)" \
    [ "$rev" = "10.115.4.4 $SRV.staex" ]
check_not "3e getent hosts 10.115.4.5 (no one's static address): not found" in_nss getent hosts 10.115.4.5

# ---------------------------------------------------------------- 4 ping through the tunnel

check "4a ping -c1 web.staex (getaddrinfo's choice)" in_nss ping -c1 -W2 web.staex
check "4b ping -4 -c1 web" in_nss ping -4 -c1 -W2 web
check "4c ping -6 -c1 web" in_nss ping -6 -c1 -W2 web
check "4d ping -c1 SEP (the endpoint's ID)" in_nss ping -c1 -W2 "$SEP"
got=$(in_nss timeout 10 "$PY" -c "import urllib.request; print(urllib.request.urlopen('http://web.staex:8080/', timeout=5).read().decode().strip())")
check "4e HTTP to web.staex:8080 by name ($got)" [ "$got" = nss-ok ]

# ---------------------------------------------------------------- 5 not found, not trusted

t0=$(now)
check_not "5a getent hosts nope.staex: not found" in_nss getent hosts nope.staex
log "not found after $(since "$t0" 3) s"
mkdir -p "$W/evil"
chmod 1777 "$W/evil"
cat >"$W/evil.py" <<'PY'
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    print("connection", flush=True)
    r = {"name": "x", "aliases": [], "ipv4": ["10.99.9.9"], "ipv6": ["fd99::9:9"], "ttl": 0}
    try:
        c.settimeout(1)
        c.recv(4096)
        c.sendall((json.dumps({"version": 1, "ok": True, "result": r}) + "\n").encode())
    except OSError:
        pass
    c.close()
PY
spawn cli "$W/evil.log" setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$PY" "$W/evil.py" "$W/evil/s"
wait_until 5 0.1 grep -q listening "$W/evil.log" || fail "5 a user's socket" "evil.py did not start"
got=$(NSS_SOCK=$W/evil/s ghost ahostsv4 web.staex)
check "5b a socket served by another user is not believed (got '$got', srv's DNS answers instead)" \
    sh -c "[ -n '$got' ] && [ '$got' != 10.99.9.9 ] && grep -q connection '$W/evil.log'"

# ---------------------------------------------------------------- 6 DNS

check "6a dig web.staex" [ "$(digq cli +short web.staex A)" = "$ADDR" ]
check "6b dig web (no domain, dnsmasq's server=//)" [ "$(digq cli +short web. A)" = "$ADDR" ]
check "6c dig AAAA web" [ "$(digq cli +short web. AAAA)" = "$ADDR6" ]
check "6d dig -x $ADDR (zone of 10.99.0.0/16)" [ "$(digq cli +short -x "$ADDR")" = "$SEP.staex." ]
check "6e dig -x $ADDR6 (zone of fd99::/64)" [ "$(digq cli +short -x "$ADDR6")" = "$SEP.staex." ]
full=$(digq cli -x 10.83.0.1)
check "6f dig -x 10.83.0.1: REFUSED (10.83/16 is not cli's network)" grep -q 'status: REFUSED' <<<"$full"
full=$(digq cli 99.10.in-addr.arpa. PTR)
apex_nodata() { grep -q 'status: NOERROR' <<<"$full" && grep -q 'flags:.* aa' <<<"$full"; }
check "6g dig 99.10.in-addr.arpa: the zone's apex, NOERROR, authoritative" apex_nodata
ttl=$(digq cli +noall +answer web.staex A | awk '{print $2}')
check "6h resolver.ttl = 42 ($ttl)" [ "$ttl" = 42 ]
full=$(digq cli nope. A)
check "6i dig nope (no domain, unknown): NXDOMAIN" grep -q 'status: NXDOMAIN' <<<"$full"
full=$(nsx srv timeout 8 dig @10.233.0.1 -p 53 +time=2 +tries=1 -x 10.99.0.1)
check "6j srv (default networks) refuses 10.99/16" grep -q 'status: REFUSED' <<<"$full"
full=$(nsx srv timeout 8 dig @10.233.0.1 -p 53 +time=2 +tries=1 83.10.in-addr.arpa. PTR)
check "6k srv serves 83.10.in-addr.arpa" grep -q 'status: NOERROR' <<<"$full"
check "6l dig -x 10.115.4.4 on cli (its networks are 10.99/16 and fd99::/64; the static zone is served too)" \
    [ "$(digq cli +short -x 10.115.4.4)" = "$SRV.staex." ]

# ---------------------------------------------------------------- 7 tunnel file names

CONF=$(grep -l '^dns-names' "$W/cli/tunnels"/*.conf | head -n 1)
check "7a cli's delivered tunnel file gives the certificate's name" grep -qx 'dns-names = web' "$CONF"
sed -i 's/^dns-names = .*/dns-names = lamp/' "$CONF"
r=$(ctl cli '{"version":1,"cmd":"reload-tunnels"}')
log "reload: $r"
check "7b after the reload, lamp.staex is the tunnel on cli" [ "$(digq cli +short lamp.staex A)" = "$ADDR" ]
check "7c getent ahostsv4 lamp" [ "$(ghost ahostsv4 lamp)" = "$ADDR" ]
full=$(digq cli web.staex A)
check "7d web.staex is no longer the tunnel on cli (NXDOMAIN)" grep -q 'status: NXDOMAIN' <<<"$full"
check "7e getent hosts $ADDR: alias lamp.staex" [ "$(ghosts "$ADDR")" = "$ADDR $SEP.staex lamp.staex" ]
sed -i 's/^dns-names = .*/dns-names = web/' "$CONF"
ctl cli '{"version":1,"cmd":"reload-tunnels"}' >/dev/null

# ---------------------------------------------------------------- latency

# In-process: getaddrinfo (gethostbyname4_r, then getaddrinfo's address sorting) and
# gethostbyname (gethostbyname3_r), against /etc/hosts (`files` answers; the module is not
# asked). Per process: getent runs in one shell, so the mounts are not counted.
LAT=$(in_nss "$PY" - web.staex 2000 <<'PY'
import socket, sys, time
name, n = sys.argv[1], int(sys.argv[2])
def per(f, arg):
    f(arg)
    t = time.perf_counter()
    for _ in range(n):
        f(arg)
    return (time.perf_counter() - t) / n * 1e6
gai = lambda h: socket.getaddrinfo(h, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
print("%.0f %.0f %.0f %.0f" % (per(gai, name), per(gai, "localhost"),
      per(socket.gethostbyname, name), per(socket.gethostbyname, "localhost")))
PY
)
read -r GAI GAI_FILES GHBN GHBN_FILES <<<"$LAT"
getent_ms() { # getent_ms NAME: ms per `getent ahosts NAME` process, 200 runs
    in_nss bash -c 's=$EPOCHREALTIME; for i in {1..200}; do getent ahosts "$1" >/dev/null; done
        echo "$s $EPOCHREALTIME" | awk "{printf \"%.2f\", (\$2 - \$1) * 1000 / 200}"' _ "$1"
}
GETENT=$(getent_ms web.staex)
GETENT_FILES=$(getent_ms localhost)
echo "NSS LATENCY: getaddrinfo(web.staex) $GAI us (localhost from /etc/hosts: $GAI_FILES us)," \
    "gethostbyname $GHBN us ($GHBN_FILES us), getent ahosts $GETENT ms per process ($GETENT_FILES ms)"

# ---------------------------------------------------------------- 8 mccd down: the next source

SRV_SEP=$(nsx srv timeout 8 dig @10.233.0.1 -p 53 +short +time=2 +tries=1 web.staex A)
log "srv's DNS (cli's fallback name server) answers web.staex with $SRV_SEP"
kill -STOP "${MCCD_PID[$W/cli]}"
t0=$(now)
got=$(ghost ahostsv4 web.staex)
STUCK=$(since "$t0" 2)
kill -CONT "${MCCD_PID[$W/cli]}"
check "8a cli's mccd stuck (SIGSTOP): getent falls through to dns ($got after $STUCK s)" [ "$got" = "$SRV_SEP" ]
mccd_stop "$W/cli"
t0=$(now)
got=$(ghost ahostsv4 web.staex)
DOWN=$(since "$t0" 3)
check "8b cli's mccd stopped: getent falls through to dns ($got after $DOWN s)" [ "$got" = "$SRV_SEP" ]
check_not "8c mccd stopped: lamp (only cli knew it) is not found" in_nss getent hosts lamp.staex
echo "FALLTHROUGH: daemon stopped ${DOWN} s, daemon stuck ${STUCK} s (read timeout 1 s), both getent incl. process start"

# ---------------------------------------------------------------- 9 the host

mccd_stop "$W/srv"
HOST_AFTER=$(host_sums)
check "9 the host's nsswitch.conf, resolv.conf and $LIBDIR/libnss_mcc* are unchanged" [ "$HOST_BEFORE" = "$HOST_AFTER" ]

exit 0
