#!/usr/bin/env bash
# A real mcc network on this machine, narrated: five network namespaces joined by a bridge,
# one leaf behind a NAT router, real mccd daemons, real TUN devices, and real programs
# (ping, curl, dig) talking through a tunnel. Needs root (namespaces, TUN). Everything it
# creates is removed at the end, even on failure (tests/e2e/lib.sh). Traffic stays inside
# the namespaces.
#
#   sudo scripts/demo.sh          the narrated demo, then everything is removed
#   sudo scripts/demo.sh --web    the same, then mcc-web (docs/WEB.md) runs in the server's
#                                 namespace and the network stays up until Ctrl-C; the host
#                                 reaches the UI at https://127.0.0.1:8383/ through socat
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
lib_init mccdemo /tmp/mcc-demo

WEB=0
for a in "$@"; do
    case $a in
        --web) WEB=1 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown argument '$a' (only --web)" >&2; exit 2 ;;
    esac
done

need_root
need_tools ip:iproute2 iptables:iptables curl:curl dig:dnsutils ping:iputils-ping python3:python3
[ "$WEB" = 0 ] || need_tools socat:socat
need_tun

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

lib_start
if [ "$WEB" = 1 ]; then build_release mcc-linux mcc-web; else build_release mcc-linux; fi
NODES=(root relay server client)

say "1. Underlay: namespaces on a bridge (10.250.0.0/24); the client sits behind a NAT router"
ns_add sw root relay server nat client
bridge sw br0
i=1
for n in root relay server nat; do
    bridge_port sw br0 "s-$n" "$n" "v-$n" "10.250.0.$i/24"
    i=$((i + 1))
done
veth client v-client nat v-lan 192.168.99.2/24 192.168.99.1/24
ns_route client default 192.168.99.1
ns_masquerade nat v-nat 192.168.99.0/24
echo "root 10.250.0.1, relay 10.250.0.2, server 10.250.0.3; client 192.168.99.2 behind NAT 10.250.0.4"

say "2. Self-hosted trust: a CA, then a network certificate signed by it"
echo "\$ mcc generate-ca-certificate --name demo-ca $W/ca; mcc generate-network-certificate --ca $W/ca --name demo-net $W/net"
pki "$W" demo-ca demo-net
echo "network certificate (base64, what 'mcc init' takes): ${NETB64:0:40}..."

say "3. mcc init on every node (the network key comes on stdin)"
declare -A PARENTS=([root]="" [relay]="10.250.0.1" [server]="10.250.0.2" [client]="10.250.0.2,10.250.0.1")
declare -A ID
for n in "${NODES[@]}"; do
    mcc_node "$n" "$W/$n" "${PARENTS[$n]}" keep-alive-period 5s
    ID[$n]=$NODE_ID
    printf '%-7s %s  parents: %s\n' "$n" "${ID[$n]}" "${PARENTS[$n]:-none (root)}"
done
mcc_set "$W/server/mcc.conf" dns-names server
m() { nsx "$1" "$MCC" -s "$W/$1/mcc.sock" "${@:2}"; }

say "4. Start mccd in each namespace"
for n in "${NODES[@]}"; do mccd_start "$n" "$W/$n"; done
for n in "${NODES[@]}"; do
    wait_until 10 0.2 mccd_healthy "$n" "$W/$n" || true
    printf '%-7s health: %s\n' "$n" "$(m "$n" health 2>&1)"
done
sleep 1
run m root nodes

say "5. A tunnel, created on the server only: client may reach tcp:8080 and ping"
mcc_tunnel server "$W/server" "${ID[client]}" tcp:8080,icmp --dns-names web
echo "server endpoint: $SEP"
mkdir -p "$W/www" && echo "hello through mcc, secret-marker-$RANDOM" >"$W/www/index.txt"
spawn server "$W/http.log" python3 -m http.server 8080 --directory "$W/www"
web_resolves() { nsx client dig @127.0.0.1 -p 8353 web.home.arpa +short | grep -q .; }
wait_until 10 0.2 web_resolves || true
ADDR=$(nsx client dig @127.0.0.1 -p 8353 web.home.arpa +short)
echo "on the client, web.home.arpa resolves to $ADDR (a local address for the server endpoint)"

say "6. Traffic: client -> NAT -> relay -> server, encrypted twice"
run nsx client ping -c 3 -W 2 "$ADDR"
run nsx client curl -s --max-time 5 "http://$ADDR:8080/index.txt"

say "7. Default deny: port 22 is not in the tunnel, and the relay has no tunnel at all"
if nsx client curl -s --max-time 3 "http://$ADDR:22/" >/dev/null; then echo "UNEXPECTED: port 22 answered"; else echo "client -> $ADDR:22: no answer (dropped by the filter)"; fi
RELAY_TO_SERVER=$(m relay resolve "${ID[server]}")
if nsx relay curl -s --max-time 3 "http://$RELAY_TO_SERVER:8080/index.txt" >/dev/null; then echo "UNEXPECTED"; else echo "relay -> server:8080: no answer (the relay is not the tunnel's client)"; fi

say "8. The relay dies: the client fails over to its second parent (the root)"
mccd_stop "$W/relay" || true
start=$(now)
parent_is_root() { [ "$(m client parent --id 2>/dev/null)" = "${ID[root]}" ]; }
wait_until 60 0.5 parent_is_root || true
printf 'client parent is now: %s %s (after %s s)\n' "$(m client parent)" "$(m client parent --id)" "$(since "$start")"
echo "(the server's parent was the relay too, so the server is cut off until the relay returns)"
mccd_start relay "$W/relay"
web_answers() { nsx client curl -s --max-time 2 "http://$ADDR:8080/index.txt" >/dev/null; }
wait_until 60 1 web_answers || true
run nsx client curl -s --max-time 5 "http://$ADDR:8080/index.txt"

if [ "$WEB" = 0 ]; then
    say "Done. Logs were in $W/*/mccd.log; everything is cleaned up now."
    exit 0
fi

say "9. mcc-web in the server's namespace: manage this network from a browser"
MCCWEB=$TARGET/mcc-web
WD=$W/web
mkdir -p "$WD"
echo "${MCCD_PID[$W/server]}" >"$W/server/mccd.pid"
# mcc-restart-command: restarts the server's mccd (no systemd inside a namespace).
cat >"$W/restart-mccd.sh" <<EOF
#!/bin/sh
old=\$(cat "$W/server/mccd.pid")
kill -TERM "\$old"
while kill -0 "\$old" 2>/dev/null; do sleep 0.1; done
setsid "$MCCD" "$W/server" >>"$W/server/mccd.stderr" 2>&1 </dev/null &
echo \$! >"$W/server/mccd.pid"
echo "mccd restarted: pid \$old -> \$!"
EOF
chmod 755 "$W/restart-mccd.sh"
cat >"$WD/mcc-web.conf" <<EOF
http-listen = 0.0.0.0:8383
metrics-listen = 127.0.0.1:8384
mcc-config-dir = $W/server
mcc-restart-command = $W/restart-mccd.sh
network-key-file = $NETKEY
EOF
PASSWORD=$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$PASSWORD" | "$MCCWEB" set-password "$WD" --stdin
run cat "$WD/mcc-web.conf"
spawn server "$W/web.log" "$MCCWEB" "$WD"
web_up() { nsx server curl -sk --max-time 2 -o /dev/null https://127.0.0.1:8383/; }
wait_until 20 0.2 web_up || { tail -n 20 "$W/web.log"; die "mcc-web did not start"; }
# The host has no route into the namespaces: socat carries 127.0.0.1:8383 into the server's.
spawn - "$W/socat.log" socat TCP-LISTEN:8383,bind=127.0.0.1,reuseaddr,fork \
    "EXEC:ip netns exec $P-server socat STDIO TCP\:127.0.0.1\:8383"
# The restart command may have replaced the server's mccd: the exit trap stops that one too.
on_cleanup() { kill -TERM "$(cat "$W/server/mccd.pid")" 2>/dev/null || true; }
cat <<EOF

mcc-web runs in namespace $P-server (the tunnel's server node); its log is $W/web.log.
  open     https://127.0.0.1:8383/  on this machine (from another: ssh -L 8383:127.0.0.1:8383 ...);
           the certificate is self-signed: $WD/tls-certificate.pem
  log in   user mcc, password $PASSWORD
  API      https://127.0.0.1:8383/api/v1/openapi.json (with the session cookie)
  metrics  sudo ip netns exec $P-server curl -s http://127.0.0.1:8384/metrics
  nodes    root   ${ID[root]}
           relay  ${ID[relay]}
           client ${ID[client]} (the remote node for a new tunnel)
Press Ctrl-C to stop: the daemons, socat and the namespaces are removed.
EOF
spawn - /dev/null sleep infinity # the exit trap ends it
wait "$SPAWNED" || true
