# shellcheck shell=bash
# The set-up of the peer systems that bench/run.sh and bench/nat-idle.sh compare mcc with
# (wireguard-go/boringtun keys, nebula certificates and settings, yggdrasil configs).
# Sourced next to tests/e2e/lib.sh.

# wg_keys DIR NAME...: a WireGuard key pair per NAME: DIR/NAME.key and DIR/NAME.pub.
wg_keys() {
    local d=$1 n
    shift
    for n in "$@"; do
        (umask 077 && wg genkey >"$d/$n.key") && wg pubkey <"$d/$n.key" >"$d/$n.pub" || return 1
    done
}

# nebula_pki DIR CA_NAME NAME:CIDR...: a nebula CA in DIR and a certificate per NAME with
# the overlay address CIDR (DIR/NAME.crt, DIR/NAME.key).
nebula_pki() {
    local d=$1 ca=$2 nc
    shift 2
    mkdir -p "$d"
    (cd "$d" && nebula-cert ca -name "$ca" -out-crt ca.crt -out-key ca.key >/dev/null) || return 1
    for nc in "$@"; do
        (cd "$d" && nebula-cert sign -ca-crt ca.crt -ca-key ca.key -name "${nc%%:*}" -ip "${nc#*:}" \
            -out-crt "${nc%%:*}.crt" -out-key "${nc%%:*}.key") || return 1
    done
}
# nebula_node DIR NAME DEV: the settings every nebula node shares (its keys from nebula_pki,
# TUN device DEV, info log, a firewall that lets everything through).
nebula_node() {
    echo "pki: {ca: $1/ca.crt, cert: $1/$2.crt, key: $1/$2.key}"
    echo "tun: {dev: $3}"
    echo "logging: {level: info}"
    echo "firewall: {outbound: [{port: any, proto: any, host: any}], inbound: [{port: any, proto: any, host: any}]}"
}

# ygg_conf FILE IFNAME PEERS LISTEN: a yggdrasil config (generated, then no admin socket,
# no multicast discovery) with TUN IFNAME; PEERS and LISTEN are comma-separated URIs.
ygg_conf() {
    yggdrasil -genconf -json >"$1.gen" || return 1
    python3 - "$1.gen" "$1" "$2" "$3" "$4" <<'PY'
import json, sys
gen, out, ifname, peers, listen = sys.argv[1:6]
c = json.load(open(gen))
c["AdminListen"] = "none"
c["MulticastInterfaces"] = []
c["IfName"] = ifname
c["Peers"] = [p for p in peers.split(",") if p]
c["Listen"] = [p for p in listen.split(",") if p]
json.dump(c, open(out, "w"), indent=1)
PY
}
