#!/usr/bin/env bash
# A real mcc network on this machine, narrated: five network namespaces joined by a bridge,
# one leaf behind a NAT router, real mccd daemons, real TUN devices, and real programs
# (ping, curl, dig) talking through a tunnel. Needs root (namespaces, TUN). Everything it
# creates is removed at the end, even on failure. Traffic stays inside the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
    echo "demo: needs root for network namespaces and TUN devices: sudo $0" >&2
    exit 1
fi
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
for p in ip:iproute2 iptables:iptables curl:curl dig:dnsutils ping:iputils-ping python3:python3; do
    need "${p%%:*}" || missing+=("${p#*:}")
done
if ((${#missing[@]})); then
    echo "demo: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

echo "demo: building mcc and mccd (release)"
cargo build -q --release -p mcc-linux
BIN=$PWD/target/release
W=/tmp/mcc-demo
P=mccdemo
NODES=(root relay server nat client)

cleanup() {
    pkill -f "mccd $W/" 2>/dev/null || true
    pkill -f "http.server 8080 --directory $W" 2>/dev/null || true
    for n in "${NODES[@]}" sw; do ip netns del "$P-$n" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup
rm -rf "$W" && mkdir -p "$W"

say "1. Underlay: namespaces on a bridge (10.250.0.0/24); the client sits behind a NAT router"
ip netns add "$P-sw"
ip -n "$P-sw" link add br0 type bridge && ip -n "$P-sw" link set br0 up
i=1
for n in root relay server nat; do
    ip netns add "$P-$n"
    ip link add "v-$n" netns "$P-$n" type veth peer name "s-$n" netns "$P-sw"
    ip -n "$P-sw" link set "s-$n" master br0 up
    ip -n "$P-$n" addr add "10.250.0.$i/24" dev "v-$n"
    ip -n "$P-$n" link set "v-$n" up && ip -n "$P-$n" link set lo up
    i=$((i + 1))
done
ip netns add "$P-client"
ip link add v-client netns "$P-client" type veth peer name v-lan netns "$P-nat"
ip -n "$P-client" addr add 192.168.99.2/24 dev v-client && ip -n "$P-client" link set v-client up
ip -n "$P-client" link set lo up && ip -n "$P-client" route add default via 192.168.99.1
ip -n "$P-nat" addr add 192.168.99.1/24 dev v-lan && ip -n "$P-nat" link set v-lan up
ip netns exec "$P-nat" sysctl -q -w net.ipv4.ip_forward=1
ip netns exec "$P-nat" iptables -t nat -A POSTROUTING -s 192.168.99.0/24 -o v-nat -j MASQUERADE
echo "root 10.250.0.1, relay 10.250.0.2, server 10.250.0.3; client 192.168.99.2 behind NAT 10.250.0.4"

say "2. Self-hosted trust: a CA, then a network certificate signed by it"
run "$BIN/mcc" generate-ca-certificate --name demo-ca "$W/ca" >/dev/null
NET=$("$BIN/mcc" generate-network-certificate --ca "$W/ca" --name demo-net "$W/net")
echo "network certificate (base64, what 'mcc init' takes): ${NET:0:40}..."

say "3. mcc init on every node (the network key comes on stdin)"
declare -A PARENTS=([root]="" [relay]="10.250.0.1" [server]="10.250.0.2" [client]="10.250.0.2,10.250.0.1")
declare -A ID
for n in root relay server client; do
    args=(init -C "$W/$n" --stdin)
    [[ -n "${PARENTS[$n]}" ]] && args+=(-p "${PARENTS[$n]}")
    ID[$n]=$(ip netns exec "$P-$n" "$BIN/mcc" "${args[@]}" "$NET" <"$W/net/network-private-key.txt")
    sed -i "s|^unix-socket-path = .*|unix-socket-path = $W/$n/mcc.sock|; s|^keep-alive-period = .*|keep-alive-period = 5s|; s|^# log-file =.*|log-file = $W/$n/mccd.log|" "$W/$n/mcc.conf"
    printf '%-7s %s  parents: %s\n' "$n" "${ID[$n]}" "${PARENTS[$n]:-none (root)}"
done
sed -i "s|^# dns-names =.*|dns-names = server|" "$W/server/mcc.conf"
m() { local n=$1; shift; ip netns exec "$P-$n" "$BIN/mcc" -s "$W/$n/mcc.sock" "$@"; }

say "4. Start mccd in each namespace"
for n in root relay server client; do
    ip netns exec "$P-$n" "$BIN/mccd" "$W/$n" 2>>"$W/$n/mccd.err" &
done
for n in root relay server client; do
    for _ in $(seq 50); do m "$n" health >/dev/null 2>&1 && break; sleep 0.2; done
    printf '%-7s health: %s\n' "$n" "$(m "$n" health 2>&1)"
done
sleep 1
run m root nodes

say "5. A tunnel, created on the server only: client may reach tcp:8080 and ping"
SEP=$(m server create-tunnel -C "$W/server" -p "$W/server/network-certificate.txt" --stdin \
    --targets tcp:8080,icmp --dns-names web --remote-node "${ID[client]}" <"$W/net/network-private-key.txt")
echo "server endpoint: $SEP"
mkdir -p "$W/www" && echo "hello through mcc, secret-marker-$RANDOM" >"$W/www/index.txt"
ip netns exec "$P-server" python3 -m http.server 8080 --directory "$W/www" >/dev/null 2>&1 &
for _ in $(seq 50); do ip netns exec "$P-client" dig @127.0.0.1 -p 8353 web.home.arpa +short | grep -q . && break; sleep 0.2; done
ADDR=$(ip netns exec "$P-client" dig @127.0.0.1 -p 8353 web.home.arpa +short)
echo "on the client, web.home.arpa resolves to $ADDR (a local address for the server endpoint)"

say "6. Traffic: client -> NAT -> relay -> server, encrypted twice"
run ip netns exec "$P-client" ping -c 3 -W 2 "$ADDR"
run ip netns exec "$P-client" curl -s --max-time 5 "http://$ADDR:8080/index.txt"

say "7. Default deny: port 22 is not in the tunnel, and the relay has no tunnel at all"
if ip netns exec "$P-client" curl -s --max-time 3 "http://$ADDR:22/" >/dev/null; then echo "UNEXPECTED: port 22 answered"; else echo "client -> $ADDR:22: no answer (dropped by the filter)"; fi
RELAY_TO_SERVER=$(m relay resolve "${ID[server]}")
if ip netns exec "$P-relay" curl -s --max-time 3 "http://$RELAY_TO_SERVER:8080/index.txt" >/dev/null; then echo "UNEXPECTED"; else echo "relay -> server:8080: no answer (the relay is not the tunnel's client)"; fi

say "8. The relay dies: the client fails over to its second parent (the root)"
pkill -f "mccd $W/relay" || true
start=$(date +%s.%N)
for _ in $(seq 120); do [[ "$(m client parent 2>/dev/null)" == *"${ID[root]}"* ]] && break; sleep 0.5; done
printf 'client parent is now: %s (after %s s)\n' "$(m client parent)" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
echo "(the server's parent was the relay too, so the server is cut off until the relay returns)"
ip netns exec "$P-relay" "$BIN/mccd" "$W/relay" 2>>"$W/relay/mccd.err" &
for _ in $(seq 60); do ip netns exec "$P-client" curl -s --max-time 2 "http://$ADDR:8080/index.txt" >/dev/null && break; sleep 1; done
run ip netns exec "$P-client" curl -s --max-time 5 "http://$ADDR:8080/index.txt"

say "Done. Logs were in $W/*/mccd.log; everything is cleaned up now."
