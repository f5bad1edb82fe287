#!/usr/bin/env bash
# ipkg-build.sh DIR ARCH VERSION OUT_DIR: writes OUT_DIR/mcc_VERSION_ARCH.ipk from
# DIR/data (the files, as installed) and DIR/control (maintainer scripts, conffiles) in
# the layout OpenWrt's own ipkg-build makes, which opkg reads:
#
#   a gzip'd tar of ./debian-binary ("2.0"), ./data.tar.gz, ./control.tar.gz
#
# every tar GNU format, members sorted, owned by 0:0, times SOURCE_DATE_EPOCH; the control
# file's Installed-Size is the unpacked size of data.tar (as ipkg-build counts it). No
# crates.io or Debian tool writes this format, hence this script.
set -euo pipefail

dir=$1 arch=$2 version=$3 out=$4
: "${SOURCE_DATE_EPOCH:=$(date +%s)}"
ptar() { tar --format=gnu --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$SOURCE_DATE_EPOCH" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The archive's "./" entries are the target's / and the control directory: never 0700.
find "$dir/data" "$dir/control" -type d -exec chmod 0755 {} +
(cd "$dir/data" && ptar -cf - .) | gzip -9n >"$work/data.tar.gz"
size=$(gzip -dc "$work/data.tar.gz" | wc -c)
cat >"$dir/control/control" <<EOF
Package: mcc
Version: $version
Depends: kmod-tun, ip-tiny | ip-full
Source: https://example.invalid/mcc
SourceName: mcc
License: Apache-2.0 OR MIT
Section: net
SourceDateEpoch: $SOURCE_DATE_EPOCH
Maintainer: mcc developers <mcc@example.invalid>
Architecture: $arch
Installed-Size: $size
Description: mcc overlay network node (mccd with a procd init script, and mcc).
 Zero-trust overlay network for IoT devices. Run mcc init, then
 service mcc enable and service mcc start; dnsmasq resolves node IDs
 through mccd once installed (/etc/dnsmasq.d/mcc.conf).
EOF
(cd "$dir/control" && ptar -cf - .) | gzip -9n >"$work/control.tar.gz"
echo 2.0 >"$work/debian-binary"
mkdir -p "$out"
pkg=$out/mcc_${version}_$arch.ipk
(cd "$work" && ptar -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -9n >"$pkg"
echo "$pkg"
