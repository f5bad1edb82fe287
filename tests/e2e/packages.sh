#!/usr/bin/env bash
# The packages of scripts/package.sh, checked and installed as a user would (README,
# "Packages"):
#
#   sudo flock /tmp/mcc-netns.lock bash tests/e2e/packages.sh
#
#   1 contents: dpkg-deb -c / -f, rpm -qlp / -qip / --scripts, the tar.gz, and the .ipk in
#     the layout of OpenWrt's ipkg-build (a gzip'd tar of ./debian-binary, ./data.tar.gz,
#     ./control.tar.gz) with static binaries
#   2 lintian: no error, and no warning but the ones listed (with their reasons) below
#   3 systemd-analyze verify says nothing about the deb's unit or the tarball's
#   4 mcc-setup's nsswitch.conf edit on sample files
#   5 the RPM's scriptlets in a copy of a Debian root (rpm --root): install, upgrade, erase
#   6 the tarball's install.sh in a fresh mount, PID and network namespace chrooted into a
#     copy of the Debian root: the files, a node from the installed binaries, --uninstall
#     keeps /etc/mcc, --purge leaves nothing behind
#   7 OpenWrt: the init script and maintainer scripts pass `sh -n`; under busybox ash with
#     a stub procd (tests/e2e/packages/): postinst's dnsmasq set-up, start refused
#     without mcc.conf, start runs mccd (mcc health), which finds the shipped dnsmasq
#     drop-in up to date, kill -9 respawns it, stop, enable and disable links, prerm
#   8 macOS: install.sh stages the plist (valid; RunAtLoad false, or true with
#     --run-at-load) and the binaries; --uninstall
#   9 install and boot: a minimal Debian bookworm root (debootstrap, cached outside the
#     clone in /var/cache/mcc-test/debian-root) booted with systemd-nspawn on a private
#     network: dpkg -i adds the NSS entry to nsswitch.conf; mcc init; a start whose
#     READY=1 cannot arrive times out and one with a broken mcc.conf fails; `systemctl
#     enable --now mcc` is active through READY=1; mcc health; `getent hosts NODE-ID` and
#     `getent -s mcc hosts NODE-ID` answer through the module; with /etc/dnsmasq.d there,
#     mccd writes its drop-in and runs `systemctl restart dnsmasq` from inside the sandbox;
#     the features that write under the unit's sandbox (a forwarding rule applied with
#     `mcc apply-forwarding-rules`: /etc/mcc/forwarding-rules.conf, the nftables table,
#     /proc/sys/net/ipv4/conf); kill -9 of mccd is restarted; the unit's systemd-analyze
#     security score; an upgrade to a rebuilt package (revision 2) keeps the node ID and
#     the one NSS entry; remove takes the entry out; purge leaves nothing behind and
#     nsswitch.conf byte-identical.
#
# The cached root takes about a minute to build (once; MCC_TEST_ROOT moves it; the cold
# path of a fresh clone is measured in the README); every run uses overlays on it, so it
# stays clean. Last line: "N passed, M failed".

set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/e2e/lib.sh
lib_init mccpkg /tmp/mccpkg
CHECKS=1
DUMP_LOGS="$W/*.log"
ROOT_CACHE=${MCC_TEST_ROOT:-/var/cache/mcc-test/debian-root}
# What the cached root is made of; a change rebuilds it.
ROOT_SPEC="bookworm minbase systemd,systemd-sysv,dbus,iproute2,nftables"
HERE=tests/e2e/packages

need_root
need_tools debootstrap:debootstrap systemd-nspawn:systemd-container rpm:rpm lintian:lintian \
    busybox:busybox-static unshare:util-linux nsenter:util-linux readelf:binutils \
    python3:python3 man:man-db || exit 2
need_tun

OVERLAYS=()
HOLDERS=()
on_cleanup() {
    local m
    [ -n "${LEADER:-}" ] && kill -KILL "$LEADER" 2>/dev/null
    for m in "${HOLDERS[@]}"; do kill -KILL "$m" 2>/dev/null; done
    sleep 0.5
    for m in "${OVERLAYS[@]}"; do umount -l "$m" 2>/dev/null; done
}
lib_start

# ---------------------------------------------------------------- helpers

# has LISTFILE PATH...: every PATH is a line of LISTFILE.
has() {
    local f=$1 p miss=()
    shift
    for p in "$@"; do grep -qxF -- "$p" "$f" || miss+=("$p"); done
    ((${#miss[@]} == 0)) || { log "missing from $(basename "$f"): ${miss[*]}"; return 1; }
}
# quiet_ok LOG CMD...: CMD exits 0 and prints nothing (systemd-analyze verify warns and
# still exits 0).
quiet_ok() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 && [ ! -s "$out" ]
}

# The Debian mirror apt uses here (package registries are all this machine reaches).
mirror() {
    local m
    m=$({
        grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{ print $2 }'
        grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{ print $2 }'
    } | grep -v security | grep debian | head -n 1)
    echo "${m:-http://deb.debian.org/debian}"
}

# The cached minimal Debian root, built when missing or of another ROOT_SPEC.
ensure_root() {
    if [ -d "$ROOT_CACHE" ] && [ "$(cat "$ROOT_CACHE.spec" 2>/dev/null)" = "$ROOT_SPEC" ]; then return 0; fi
    local t0 m
    t0=$(now)
    m=$(mirror)
    log "building the Debian root in $ROOT_CACHE (debootstrap from $m; once)"
    rm -rf "$ROOT_CACHE" "$ROOT_CACHE.new" "$ROOT_CACHE.spec"
    mkdir -p "$(dirname "$ROOT_CACHE")"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,nftables bookworm \
        "$ROOT_CACHE.new" "$m" >"$W/debootstrap.log" 2>&1 || return 1
    # No services of a real machine: a getty on the console would only hold the boot log.
    chroot "$ROOT_CACHE.new" systemctl mask console-getty.service >/dev/null 2>&1
    mv "$ROOT_CACHE.new" "$ROOT_CACHE"
    echo "$ROOT_SPEC" >"$ROOT_CACHE.spec"
    log "Debian root built in $(since "$t0") s"
}

# overlay NAME: a writable copy of the cached root at $W/NAME/root (an overlay: the cache
# stays as it is); sets R.
overlay() {
    local d=$W/$1
    mkdir -p "$d/upper" "$d/work" "$d/root"
    mount -t overlay overlay -o "lowerdir=$ROOT_CACHE,upperdir=$d/upper,workdir=$d/work" "$d/root" || return 1
    OVERLAYS+=("$d/root")
    R=$d/root
}

# holder ROOT: a process chrooted into ROOT in new mount, PID and network namespaces (lo
# up, /dev, /proc and /sys mounted inside, nothing visible outside); sets HOLDER. ns_in
# runs a command in it; everything started there ends with the holder.
holder() {
    local root=$1
    unshare --mount --pid --net --fork --kill-child sh -c '
        set -e
        mount --rbind /dev "$0/dev"
        mount -t proc proc "$0/proc"
        mount -t sysfs sysfs "$0/sys"
        ip link set lo up
        exec chroot "$0" sleep infinity' "$root" >>"$W/holder.log" 2>&1 &
    local u=$!
    BG[$u]=1
    HOLDERS+=("$u")
    HOLDER=
    wait_until 10 0.1 holder_ready "$u" || return 1
}
holder_ready() {
    local c
    for c in $(pgrep -P "$1"); do
        [ "$(readlink "/proc/$c/root")" != / ] && [ "$(cat "/proc/$c/comm")" = sleep ] && { HOLDER=$c; return 0; }
    done
    return 1
}
ns_in() { nsenter -t "$HOLDER" -m -n -p -r -w -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

# logged LOG CMD...: CMD with its output appended to LOG (check prints only PASS/FAIL).
logged() {
    local l=$1
    shift
    "$@" >>"$l" 2>&1
}

# The file tree of a root, for before/after comparisons.
tree_of() { (cd "$1" && find . -xdev | sort); }

# ---------------------------------------------------------------- build

log "building the packages (scripts/package.sh), and revision 2 for the upgrades"
rm -rf target/packages
t0=$(now)
scripts/package.sh >"$W/package.log" 2>&1 || die "scripts/package.sh failed (see $W/package.log)"
log "packages built in $(since "$t0") s"
MCC_PKG_REVISION=2 MCC_PKG_OUT="$W/rev2" scripts/package.sh deb rpm >>"$W/package.log" 2>&1 || die "revision 2 failed"
use_bins target/release
DEB=$(ls target/packages/mcc_*_"$(dpkg --print-architecture)".deb)
RPM=$(ls target/packages/mcc-*."$(uname -m)".rpm)
TGZ=$(ls target/packages/mcc-*-linux-"$(uname -m)".tar.gz)
IPK=$(ls target/packages/mcc_*.ipk)
DEB2=$(ls "$W"/rev2/mcc_*-2_*.deb)
RPM2=$(ls "$W"/rev2/mcc-*-2.*.rpm)
VERSION=$(dpkg-deb -f "$DEB" Version)
for f in "$DEB" "$RPM" "$TGZ" "$IPK"; do log "$(printf '%9d bytes  %s' "$(stat -c %s "$f")" "$(basename "$f")")"; done
pki "$W/pki" || die "pki"

# ---------------------------------------------------------------- 1 contents

log "1 contents"
dpkg-deb -c "$DEB" >"$W/deb.tv"
awk '{ print $6 }' "$W/deb.tv" >"$W/deb.list"
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
DEB_FILES=(./usr/bin/mccd ./usr/bin/mcc ./usr/libexec/mcc/mcc-setup ./usr/lib/systemd/system/mcc.service
    ./usr/share/man/man8/mccd.8.gz ./usr/share/man/man1/mcc.1.gz ./usr/share/man/man1/mcc-init.1.gz
    ./usr/share/man/man1/mcc-create-tunnel.1.gz ./usr/share/doc/mcc/copyright ./usr/share/doc/mcc/changelog.Debian.gz)
check "deb: dpkg-deb -c lists mccd, mcc, mcc-setup, the unit, man pages, copyright" has "$W/deb.list" "${DEB_FILES[@]}"
check "deb: the NSS module in the multiarch directory (/usr/lib/$MULTIARCH/libnss_mcc.so.2)" \
    has "$W/deb.list" "./usr/lib/$MULTIARCH/libnss_mcc.so.2"
t_deb_soname() {
    mkdir -p "$W/debx0" && dpkg-deb -x "$DEB" "$W/debx0" &&
        readelf -dW "$W/debx0/usr/lib/$MULTIARCH/libnss_mcc.so.2" | grep -q 'SONAME.*\[libnss_mcc\.so\.2\]' &&
        readelf -sW --dyn-syms "$W/debx0/usr/lib/$MULTIARCH/libnss_mcc.so.2" | grep -q ' _nss_mcc_gethostbyname4_r$'
}
check "deb: ... with its soname and NSS entry points (stripped, dynamic symbols kept)" t_deb_soname
# An architecture's library and binaries that run on it: neither foreign nor same.
check_not "deb: no Multi-Arch field" bash -c "dpkg-deb -f '$DEB' | grep -q '^Multi-Arch:'"
# Keys and mcc.conf are `mcc init`'s: a file of the package under /etc would be a conffile
# that `mcc init` refuses to overwrite.
check_not "deb: nothing outside /usr" grep -v -e '^\./usr/' -e '^\./$' "$W/deb.list"
t_deb_modes() {
    awk '$6 ~ /usr\/(bin\/mccd?|libexec\/mcc\/mcc-setup)$/ { n++; if ($1 != "-rwxr-xr-x") bad = 1 }
         END { exit bad || n != 3 }' "$W/deb.tv"
}
check "deb: mcc-setup and the binaries are executable" t_deb_modes
t_deb_control() { [ "$(dpkg-deb -f "$DEB" Package)" = mcc ] && dpkg-deb -f "$DEB" Depends | grep -qw iproute2; }
check "deb: control names mcc, depends on iproute2" t_deb_control
mkdir -p "$W/debctl" && dpkg-deb -e "$DEB" "$W/debctl"
t_deb_scripts() {
    grep -q 'mcc-setup configure' "$W/debctl/postinst" && grep -q 'mcc-setup remove' "$W/debctl/prerm" &&
        grep -q 'rm -rf /etc/mcc /var/lib/mcc' "$W/debctl/postrm"
}
check "deb: postinst, prerm and postrm run mcc-setup, postrm purges" t_deb_scripts
check "deb: an ldconfig trigger (the NSS module is a shared library)" grep -qx 'activate-noawait ldconfig' "$W/debctl/triggers"

rpm -qlp "$RPM" 2>/dev/null | sed 's|^|.|' >"$W/rpm.list"
check "rpm: rpm -qlp lists mccd, mcc, mcc-setup, the unit, man pages" has "$W/rpm.list" "${DEB_FILES[@]:0:8}"
check "rpm: the NSS module in /usr/lib64" has "$W/rpm.list" ./usr/lib64/libnss_mcc.so.2
rpm -qip "$RPM" >"$W/rpm.info" 2>/dev/null
t_rpm_info() { grep -q '^Name *: mcc$' "$W/rpm.info" && grep -q '^License *: Apache-2.0 OR MIT$' "$W/rpm.info"; }
check "rpm: rpm -qip names mcc and its license" t_rpm_info
t_rpm_scripts() {
    rpm -qp --scripts "$RPM" 2>/dev/null | grep -q 'mcc-setup configure' &&
        rpm -qp --scripts "$RPM" 2>/dev/null | grep -q 'mcc-setup remove' && rpm -qpR "$RPM" 2>/dev/null | grep -qx iproute
}
check "rpm: scriptlets run mcc-setup, requires iproute" t_rpm_scripts

TGZ_DIR=$(basename "$TGZ" .tar.gz)
tar -tzf "$TGZ" >"$W/tgz.list"
check "tar.gz: install.sh, binaries, mcc-setup, unit, man pages in $TGZ_DIR/" has "$W/tgz.list" \
    "$TGZ_DIR/install.sh" "$TGZ_DIR/bin/mccd" "$TGZ_DIR/bin/mcc" "$TGZ_DIR/libexec/mcc-setup" \
    "$TGZ_DIR/systemd/mcc.service" "$TGZ_DIR/man/man8/mccd.8.gz" "$TGZ_DIR/man/man1/mcc.1.gz" \
    "$TGZ_DIR/lib/libnss_mcc.so.2"

mkdir -p "$W/ipk/control" "$W/ipk/data"
tar -xzf "$IPK" -C "$W/ipk"
t_ipk_outer() { [ "$(tar -tzf "$IPK" | tr '\n' ' ')" = './debian-binary ./data.tar.gz ./control.tar.gz ' ]; }
check "ipk: a gzip'd tar of ./debian-binary, ./data.tar.gz, ./control.tar.gz in that order" t_ipk_outer
check "ipk: debian-binary is 2.0" grep -qx 2.0 "$W/ipk/debian-binary"
tar -tzf "$W/ipk/control.tar.gz" >"$W/ipk-control.list"
check "ipk: control.tar.gz holds control, postinst, prerm, postrm, conffiles" has "$W/ipk-control.list" \
    ./control ./postinst ./prerm ./postrm ./conffiles
tar -xzf "$W/ipk/control.tar.gz" -C "$W/ipk/control" && tar -xzf "$W/ipk/data.tar.gz" -C "$W/ipk/data"
field() { sed -n "s/^$1: //p" "$W/ipk/control/control"; }
t_ipk_control() {
    [ "$(field Package)" = mcc ] && [ "$(field Version)" = "$VERSION" ] && [ -n "$(field Architecture)" ] &&
        [[ "$(field Depends)" == *kmod-tun* ]] && grep -qx /etc/dnsmasq.d/mcc.conf "$W/ipk/control/conffiles"
}
check "ipk: control has Package mcc, Version $VERSION, Architecture, Depends kmod-tun; conffiles" t_ipk_control
t_ipk_size() { [ "$(field Installed-Size)" = "$(gzip -dc "$W/ipk/data.tar.gz" | wc -c)" ]; }
check "ipk: Installed-Size is the unpacked size of data.tar" t_ipk_size
tar -tvzf "$W/ipk/data.tar.gz" >"$W/ipk-data.tv"
awk '{ print $6 }' "$W/ipk-data.tv" >"$W/ipk-data.list"
check "ipk: data.tar.gz holds /usr/bin/mccd, mcc, /etc/init.d/mcc, /etc/dnsmasq.d/mcc.conf" has "$W/ipk-data.list" \
    ./usr/bin/mccd ./usr/bin/mcc ./etc/init.d/mcc ./etc/dnsmasq.d/mcc.conf
t_ipk_modes() {
    awk '$2 != "0/0" { exit 1 }' "$W/ipk-data.tv" && grep -q '^drwxr-xr-x 0/0 .* \./$' "$W/ipk-data.tv" &&
        grep -q '^-rwxr-xr-x .* \./etc/init.d/mcc$' "$W/ipk-data.tv"
}
check "ipk: every entry owned by 0/0, ./ is drwxr-xr-x, the init script executable" t_ipk_modes
# OpenWrt's libc is musl: the binaries must need no loader and no library.
t_static() {
    local b
    for b in "$W/ipk/data/usr/bin/mccd" "$W/ipk/data/usr/bin/mcc"; do
        readelf -lW "$b" | grep -q 'program interpreter' && return 1
        readelf -dW "$b" | grep -q NEEDED && return 1
    done
    return 0
}
check "ipk: mccd and mcc are static (no interpreter, no NEEDED library)" t_static
# musl has no NSS: on OpenWrt names go through dnsmasq (the drop-in above).
check_not "ipk: no NSS module" grep -q libnss "$W/ipk-data.list"

# ---------------------------------------------------------------- 2 lintian

log "2 lintian"
# Errors fixed so far: lacks-ldconfig-trigger (the NSS module is a shared library in a
# public directory: packaging/debian/triggers).
# Warnings that stay, each with its reason:
#   initial-upload-closes-no-bugs: the package is not uploaded to Debian; there is no ITP
#     bug to close.
#   possibly-insecure-handling-of-tmp-files-in-maintainer-script: postrm purge deletes the
#     control socket a killed mccd left at /tmp/.mcc-socket; `find -type s -user root
#     -delete` neither follows links nor writes, and takes only a socket root owns.
LINTIAN_ALLOWED=" initial-upload-closes-no-bugs possibly-insecure-handling-of-tmp-files-in-maintainer-script "
lintian --allow-root "$DEB" >"$W/lintian.log" 2>&1
check_not "lintian: no error" grep '^E:' "$W/lintian.log"
t_lintian_warnings() {
    local t bad=0
    for t in $(awk '/^W:/ { print $3 }' "$W/lintian.log" | sort -u); do
        [[ $LINTIAN_ALLOWED == *" $t "* ]] || { log "lintian warning without a reason here: $t"; bad=1; }
    done
    return $bad
}
check "lintian: no warning but the explained ones" t_lintian_warnings

# ---------------------------------------------------------------- 3 the unit

log "3 systemd-analyze verify"
mkdir -p "$W/debx" && dpkg-deb -x "$DEB" "$W/debx"
# Verified where its ExecStart and man pages exist: the extracted package.
sed "s|^ExecStart=/usr/bin/mccd|ExecStart=$W/debx/usr/bin/mccd|" "$W/debx/usr/lib/systemd/system/mcc.service" >"$W/mcc.service"
check "unit: systemd-analyze verify accepts the deb's mcc.service without a message" \
    env MANPATH="$W/debx/usr/share/man" bash -c "systemd-analyze verify '$W/mcc.service' >'$W/verify.log' 2>&1 && [ ! -s '$W/verify.log' ]"
t_unit_lines() {
    local l
    for l in Type=notify Restart=on-failure CapabilityBoundingSet=CAP_NET_ADMIN NoNewPrivileges=yes \
        ProtectSystem=strict ProtectHome=yes PrivateTmp=no StateDirectory=mcc PrivateDevices=yes; do
        grep -qx "$l" "$W/debx/usr/lib/systemd/system/mcc.service" || { log "unit lacks $l"; return 1; }
    done
}
check "unit: Type=notify, Restart=on-failure, the hardening of the issue" t_unit_lines

# ---------------------------------------------------------------- 4 nsswitch.conf

log "4 mcc-setup nsswitch"
# nss_case LINE AFTER_ADD: add gives AFTER_ADD, a second add changes nothing, status says
# so, remove gives LINE back and status says so; the file keeps its mode and other lines.
nss_case() {
    local f=$W/nss.conf
    printf 'passwd:         files\n%s\nnetworks:       files\n' "$1" >"$f"
    chmod 0640 "$f"
    packaging/mcc-setup nsswitch add "$f" && [ "$(sed -n 2p "$f")" = "$2" ] &&
        packaging/mcc-setup nsswitch add "$f" && [ "$(sed -n 2p "$f")" = "$2" ] &&
        packaging/mcc-setup nsswitch status "$f" &&
        packaging/mcc-setup nsswitch remove "$f" && [ "$(sed -n 2p "$f")" = "$1" ] &&
        ! packaging/mcc-setup nsswitch status "$f" &&
        [ "$(stat -c %a "$f")" = 640 ] && [ "$(sed -n 1p "$f")" = "passwd:         files" ] &&
        [ "$(sed -n 3p "$f")" = "networks:       files" ]
}
check "nsswitch: Debian's line gets the docs' entry after files" \
    nss_case "hosts:          files dns" "hosts:          files mcc [SUCCESS=return] dns"
check "nsswitch: after files, before the other modules" \
    nss_case "hosts: files myhostname mdns4_minimal [NOTFOUND=return] dns" \
    "hosts: files mcc [SUCCESS=return] myhostname mdns4_minimal [NOTFOUND=return] dns"
check "nsswitch: after the action of files; a comment is kept" \
    nss_case "hosts: files [NOTFOUND=return TRYAGAIN=continue] dns # local" \
    "hosts: files [NOTFOUND=return TRYAGAIN=continue] mcc [SUCCESS=return] dns # local"
check "nsswitch: dns before files: before dns" nss_case "hosts: dns files" "hosts: mcc [SUCCESS=return] dns files"
t_nss_missing() { packaging/mcc-setup nsswitch add "$W/no-such.conf" 2>/dev/null && [ ! -e "$W/no-such.conf" ]; }
check "nsswitch: a missing file is left alone" t_nss_missing

# ---------------------------------------------------------------- 5 RPM scriptlets

ensure_root || die "could not build the Debian root (see $W/debootstrap.log)"

log "5 rpm --root"
overlay rpm || die "overlay"
RR=$R
rpm --root "$RR" --initdb 2>>"$W/rpm.log"
check "rpm: install (runs %post)" logged "$W/rpm.log" rpm --root "$RR" -i --nodeps "$RPM"
t_rpm_layout() {
    [ -x "$RR/usr/bin/mccd" ] && [ -x "$RR/usr/libexec/mcc/mcc-setup" ] && [ -d "$RR/etc/mcc/tunnels" ] &&
        [ "$(readlink "$RR/etc/mcc/data")" = /var/lib/mcc ] && [ "$(stat -c %a "$RR/var/lib/mcc")" = 700 ]
}
check "rpm: the files and the docs' layout (/etc/mcc, /etc/mcc/data -> /var/lib/mcc 0700)" t_rpm_layout
nss_line() { grep '^hosts:' "$1/etc/nsswitch.conf"; }
t_rpm_nss() { [ -e "$RR/usr/lib64/libnss_mcc.so.2" ] && [ "$(nss_line "$RR")" = "hosts:          files mcc [SUCCESS=return] dns" ]; }
check "rpm: %post adds mcc [SUCCESS=return] to nsswitch.conf" t_rpm_nss
check "rpm: the installed mccd runs" logged "$W/rpm.log" chroot "$RR" /usr/bin/mccd --version
echo key >"$RR/etc/mcc/node-private-key.txt"
t_rpm_upgrade() {
    rpm --root "$RR" -U --nodeps "$RPM2" 2>>"$W/rpm.log" && [ "$(rpm --root "$RR" -q --qf '%{RELEASE}' mcc 2>/dev/null)" = 2 ] &&
        [ -x "$RR/usr/bin/mccd" ] && [ -s "$RR/etc/mcc/node-private-key.txt" ]
}
check "rpm: upgrade to release 2 keeps the key" t_rpm_upgrade
check "rpm: ... and the NSS entry, once" t_rpm_nss
t_rpm_erase() {
    rpm --root "$RR" -e mcc 2>>"$W/rpm.log" && [ ! -e "$RR/usr/bin/mccd" ] &&
        [ ! -e "$RR/usr/lib/systemd/system/mcc.service" ] && [ -s "$RR/etc/mcc/node-private-key.txt" ]
}
check "rpm: erase (runs %preun, %postun) removes the files, keeps /etc/mcc" t_rpm_erase
check "rpm: ... and nsswitch.conf is byte-identical to before" cmp "$ROOT_CACHE/etc/nsswitch.conf" "$RR/etc/nsswitch.conf"

# ---------------------------------------------------------------- 6 tarball

log "6 tar.gz install.sh in a fresh namespace"
overlay tar || die "overlay"
TR=$R
tar -xzf "$TGZ" -C "$TR/root"
tree_of "$TR" >"$W/tar-before.list"
cp "$NETKEY" "$TR/root/network-private-key.txt"
holder "$TR" || die "namespace for the tarball"
check "tar: install.sh succeeds" logged "$W/tar.log" ns_in sh -c "cd /root/$TGZ_DIR && ./install.sh"
t_tar_files() {
    [ -x "$TR/usr/local/bin/mccd" ] && [ -x "$TR/usr/local/bin/mcc" ] && [ -x "$TR/usr/local/libexec/mcc/mcc-setup" ] &&
        [ -f "$TR/usr/local/share/man/man8/mccd.8.gz" ] &&
        grep -qx 'ExecStart=/usr/local/bin/mccd /etc/mcc' "$TR/etc/systemd/system/mcc.service"
}
check "tar: binaries, mcc-setup and man pages under /usr/local, the unit in /etc/systemd/system" t_tar_files
t_tar_layout() {
    [ -d "$TR/etc/mcc/tunnels" ] && [ "$(readlink "$TR/etc/mcc/data")" = /var/lib/mcc ] &&
        [ "$(stat -c %a "$TR/var/lib/mcc")" = 700 ]
}
check "tar: the docs' layout" t_tar_layout
t_tar_nss() {
    [ -f "$TR/lib/$MULTIARCH/libnss_mcc.so.2" ] || [ -f "$TR/usr/lib/$MULTIARCH/libnss_mcc.so.2" ] || return 1
    [ "$(nss_line "$TR")" = "hosts:          files mcc [SUCCESS=return] dns" ]
}
check "tar: the NSS module beside libc, its nsswitch.conf entry" t_tar_nss
sed "s|^ExecStart=/usr/local/bin/mccd|ExecStart=$TR/usr/local/bin/mccd|" "$TR/etc/systemd/system/mcc.service" >"$W/tar-mcc.service"
check "tar: systemd-analyze verify accepts the installed unit without a message" \
    env MANPATH="$TR/usr/local/share/man" bash -c "systemd-analyze verify '$W/tar-mcc.service' >'$W/verify-tar.log' 2>&1 && [ ! -s '$W/verify-tar.log' ]"
ns_in sh -c "mcc init --stdin '$NETB64' </root/network-private-key.txt >/root/id" 2>>"$W/tar.log"
ns_in sh -c 'mccd /etc/mcc >/root/mccd.log 2>&1 & echo $! >/root/mccd.pid'
tar_health() { ns_in mcc health >/dev/null 2>&1; }
check "tar: a node runs from the installed binaries (mcc init, mccd, mcc health)" wait_until 15 0.2 tar_health
t_tar_id() { [ "$(ns_in mcc id)" = "$(cat "$TR/root/id")" ] && [ -n "$(ls "$TR/var/lib/mcc")" ]; }
check "tar: its ID is mcc init's; its state is in /var/lib/mcc" t_tar_id
# getent hosts asks for IPv6 first: the node's 200::/7 address (ahostsv4: its 10.83 one).
t_tar_getent() { ns_in getent hosts "$(cat "$TR/root/id")" | grep -Eq "^200:[0-9a-f:]* +$(cat "$TR/root/id")\$"; }
check "tar: getent hosts NODE-ID through the installed module" t_tar_getent
ns_in sh -c 'kill $(cat /root/mccd.pid); sleep 1'
t_tar_uninstall() {
    ns_in sh -c "cd /root/$TGZ_DIR && ./install.sh --uninstall" >>"$W/tar.log" 2>&1 &&
        [ ! -e "$TR/usr/local/bin/mccd" ] && [ ! -e "$TR/etc/systemd/system/mcc.service" ] &&
        [ ! -e "$TR/usr/local/share/man/man8/mccd.8.gz" ] && [ -s "$TR/etc/mcc/node-private-key.txt" ] &&
        [ -s "$TR/etc/mcc/mcc.conf" ]
}
check "tar: --uninstall removes the files, keeps keys and mcc.conf" t_tar_uninstall
check "tar: install.sh again, then --purge" logged "$W/tar.log" ns_in sh -c "cd /root/$TGZ_DIR && ./install.sh && ./install.sh --purge"
rm -f "$TR/root/network-private-key.txt" "$TR/root/id" "$TR/root/mccd.log" "$TR/root/mccd.pid"
tree_of "$TR" >"$W/tar-after.list"
check "tar: --purge leaves the tree as it was before install.sh" diff "$W/tar-before.list" "$W/tar-after.list"
check "tar: ... and nsswitch.conf byte-identical" cmp "$ROOT_CACHE/etc/nsswitch.conf" "$TR/etc/nsswitch.conf"

# ---------------------------------------------------------------- 7 OpenWrt

log "7 OpenWrt init script under busybox ash and a stub procd"
for s in "$W/ipk/data/etc/init.d/mcc" "$W/ipk/control/postinst" "$W/ipk/control/prerm" "$W/ipk/control/postrm"; do
    t_sh_n() { sh -n "$1" && busybox sh -n "$1"; }
    check "openwrt: sh -n $(basename "$s") (dash and busybox ash)" t_sh_n "$s"
done
overlay owrt || die "overlay"
OR=$R
tar -xzf "$W/ipk/data.tar.gz" -C "$OR"
mkdir -p "$OR/root/ctl" "$OR/lib/functions" "$OR/var/log"
cp "$W/ipk/control/"* "$OR/root/ctl/"
install -m 0755 "$HERE/rc.common" "$OR/etc/rc.common"
install -m 0644 "$HERE/procd.sh" "$OR/lib/functions/procd.sh"
install -m 0755 "$HERE/stub-procd" "$OR/usr/sbin/stub-procd"
# OpenWrt's /bin/sh is busybox ash.
cp "$(command -v busybox)" "$OR/usr/bin/busybox" && ln -sf busybox "$OR/usr/bin/sh"
# uci and the other services' init scripts only record what they are asked.
printf '#!/bin/sh\necho "uci $*" >>/var/log/uci.log\n[ "$*" = "-q get dhcp.@dnsmasq[-1]" ] && echo dnsmasq\nexit 0\n' >"$OR/usr/sbin/uci"
for s in dnsmasq firewall; do printf '#!/bin/sh\necho "%s $*" >>/var/log/initd.log\n' "$s" >"$OR/etc/init.d/$s"; done
chmod 0755 "$OR/usr/sbin/uci" "$OR/etc/init.d/dnsmasq" "$OR/etc/init.d/firewall"
cp "$NETKEY" "$OR/root/network-private-key.txt"
holder "$OR" || die "namespace for OpenWrt"
check "openwrt: postinst succeeds" logged "$W/owrt.log" ns_in /root/ctl/postinst
cat >"$W/uci.expected" <<'UCI'
uci -q get dhcp.@dnsmasq[-1]
uci set dhcp.@dnsmasq[-1].domainneeded=0
uci set dhcp.@dnsmasq[-1].confdir=/etc/dnsmasq.d
uci commit dhcp
UCI
check "openwrt: postinst makes the docs' dnsmasq settings (rebind protection left on)" \
    diff "$W/uci.expected" "$OR/var/log/uci.log"
t_owrt_restarts() { [ "$(cat "$OR/var/log/initd.log")" = "$(printf 'dnsmasq restart\nfirewall reload')" ]; }
check "openwrt: postinst restarts dnsmasq and reloads the firewall" t_owrt_restarts
check "openwrt: dnsmasq sends home.arpa to mccd's DNS server" grep -qx 'server=/home.arpa/127.0.0.1#8353' "$OR/etc/dnsmasq.d/mcc.conf"
check "openwrt: ... and lets its private addresses through rebind protection" grep -qx 'rebind-domain-ok=/home.arpa/' "$OR/etc/dnsmasq.d/mcc.conf"
DROP_STAMP=$(stat -c '%i %y' "$OR/etc/dnsmasq.d/mcc.conf")
check_not "openwrt: start without mcc.conf is refused" logged "$W/owrt-noconf.log" ns_in /etc/init.d/mcc start
check "openwrt: ... saying mcc init comes first" grep -q "run mcc init first" "$W/owrt-noconf.log"
ns_in sh -c "mcc init --stdin '$NETB64' </root/network-private-key.txt" >"$W/owrt.id" 2>>"$W/owrt.log"
check "openwrt: service start" ns_in /etc/init.d/mcc start
health_in() { ns_in mcc health >/dev/null 2>&1; }
check "openwrt: mccd answers mcc health" wait_until 15 0.2 health_in
# (/var/run links to /run: read it inside, where the link leads into the chroot.)
opid() { ns_in cat /var/run/stub-procd/mcc.pid 2>/dev/null; }
P1=$(opid)
t_owrt_cmdline() { [ "$(ns_in cat "/proc/$P1/cmdline" | tr '\0' ' ')" = '/usr/bin/mccd /etc/mcc ' ]; }
check "openwrt: procd runs /usr/bin/mccd /etc/mcc" t_owrt_cmdline
check "openwrt: mccd's output goes to the log (logread)" wait_until 5 0.2 grep -q "node started" "$OR/var/log/stub-procd.log"
# /etc/dnsmasq.d exists, so mccd's dnsmasq integration is on: the shipped drop-in is what
# it writes for the defaults, so it is left as it is (no restart of dnsmasq needed).
t_owrt_dropin() {
    grep -q "dnsmasq: /etc/dnsmasq.d/mcc.conf is up to date" "$OR/var/log/stub-procd.log" &&
        [ "$(stat -c '%i %y' "$OR/etc/dnsmasq.d/mcc.conf")" = "$DROP_STAMP" ] &&
        cmp -s "$OR/etc/dnsmasq.d/mcc.conf" "$W/ipk/data/etc/dnsmasq.d/mcc.conf"
}
check "openwrt: mccd finds the shipped /etc/dnsmasq.d/mcc.conf up to date (not rewritten)" t_owrt_dropin
t_owrt_status() { [ "$(ns_in /etc/init.d/mcc status)" = running ]; }
check "openwrt: status says running" t_owrt_status
ns_in sh -c "kill -9 $P1"
respawned() { [ -n "$(opid)" ] && [ "$(opid)" != "$P1" ] && health_in; }
check "openwrt: kill -9 of mccd: procd respawns it" wait_until 20 0.2 respawned
check "openwrt: service stop" ns_in /etc/init.d/mcc stop
check_not "openwrt: ... mccd is gone" health_in
t_owrt_enable() {
    ns_in /etc/init.d/mcc enable && [ "$(readlink "$OR/etc/rc.d/S90mcc")" = ../init.d/mcc ] &&
        [ "$(readlink "$OR/etc/rc.d/K10mcc")" = ../init.d/mcc ] && ns_in /etc/init.d/mcc enabled
}
check "openwrt: enable links /etc/rc.d/S90mcc and K10mcc" t_owrt_enable
t_owrt_disable() { ns_in /etc/init.d/mcc disable && [ ! -e "$OR/etc/rc.d/S90mcc" ] && ! ns_in /etc/init.d/mcc enabled; }
check "openwrt: disable removes them" t_owrt_disable
ns_in /etc/init.d/mcc enable
check "openwrt: restart" ns_in /etc/init.d/mcc restart
check "openwrt: ... and mccd answers again" wait_until 15 0.2 health_in
t_owrt_prerm() { ns_in /root/ctl/prerm && [ ! -e "$OR/etc/rc.d/S90mcc" ]; }
check "openwrt: prerm stops and disables the service" t_owrt_prerm
check_not "openwrt: ... mccd is stopped" health_in

# ---------------------------------------------------------------- 8 macOS

log "8 macOS install.sh (staged with DESTDIR: no launchd here)"
# The tarball's layout as package.sh makes it on a Mac; the binaries are stand-ins, as
# install.sh only copies them.
MD=$W/macos-tarball
MR=$W/macroot
mkdir -p "$MD/bin" "$MR"
cp "$MCC" "$MCCD" "$MD/bin/"
cp mcc-macos/io.staex.mcc.plist packaging/macos/install.sh "$MD/"
PL=$MR/Library/LaunchDaemons/io.staex.mcc.plist
plist() { python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1], "rb"))[sys.argv[2]])' "$PL" "$1"; }
check "macos: sh -n install.sh" sh -n "$MD/install.sh"
t_mac_install() {
    DESTDIR=$MR sh "$MD/install.sh" >/dev/null && [ -x "$MR/usr/local/bin/mccd" ] && [ -x "$MR/usr/local/bin/mcc" ] &&
        [ -d "$MR/etc/mcc/tunnels" ] && [ "$(stat -c %a "$PL")" = 644 ]
}
check "macos: install.sh stages mccd, mcc, the plist and /etc/mcc" t_mac_install
t_mac_plist() {
    [ "$(plist Label)" = io.staex.mcc ] && [ "$(plist ProgramArguments)" = "['/usr/local/bin/mccd', '/etc/mcc']" ] &&
        [ "$(plist KeepAlive)" = True ] && [ "$(plist StandardErrorPath)" = /Library/Logs/mcc.log ]
}
check "macos: the plist is valid: io.staex.mcc runs /usr/local/bin/mccd /etc/mcc, KeepAlive, the log" t_mac_plist
t_mac_default() { [ "$(plist RunAtLoad)" = False ]; }
check "macos: RunAtLoad false by default (the docs' note says how to start at boot)" t_mac_default
t_mac_ral() { DESTDIR=$MR sh "$MD/install.sh" --run-at-load >/dev/null && [ "$(plist RunAtLoad)" = True ] && t_mac_plist; }
check "macos: --run-at-load writes RunAtLoad true" t_mac_ral
t_mac_uninstall() {
    DESTDIR=$MR sh "$MD/install.sh" --uninstall >/dev/null && [ ! -e "$MR/usr/local/bin/mccd" ] && [ ! -e "$PL" ] &&
        [ -d "$MR/etc/mcc" ]
}
check "macos: --uninstall removes the binaries and the plist, keeps /etc/mcc" t_mac_uninstall

# ---------------------------------------------------------------- 9 install and boot

log "9 install and boot: systemd-nspawn of the Debian root"
overlay boot || die "overlay"
BR=$R
mkdir -p "$BR/root/pki"
cp "$DEB" "$BR/root/mcc-1.deb" && cp "$DEB2" "$BR/root/mcc-2.deb"
cp "$NETKEY" "$BR/root/pki/network-private-key.txt" && echo "$NETB64" >"$BR/root/pki/net.b64"
t_boot=$(now)
spawn - "$W/nspawn.log" systemd-nspawn --keep-unit --register=no --private-network --console=read-only \
    -b -D "$BR" -M mccpkg
NSPAWN=$SPAWNED
# The container's init: the process below nspawn whose PID inside is 1.
find_leader() {
    local p
    for p in $(pgrep -P "$NSPAWN") $(for c in $(pgrep -P "$NSPAWN"); do pgrep -P "$c"; done); do
        if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$p/status" 2>/dev/null &&
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then
            LEADER=$p
            return 0
        fi
    done
    return 1
}
wait_until 30 0.2 find_leader || die "the container did not start (see $W/nspawn.log)"
inside() { nsenter -t "$LEADER" -m -u -i -n -p -r -w -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# --wait prints nothing while systemd's bus is not up yet (a busy machine): ask again.
boot_state() {
    state=$(inside systemctl is-system-running --wait 2>/dev/null)
    [ -n "$state" ] && [ "$state" != starting ] && [ "$state" != initializing ]
}
wait_until 90 0.5 boot_state
log "container booted in $(since "$t_boot") s ($state)"
t_booted() { [ "$state" = running ] || [ "$state" = degraded ]; }
check "boot: systemd runs in the container" t_booted
t_private() { [ "$(inside ip -o link | awk -F': ' '{ print $2 }' | tr '\n' ' ')" = 'lo ' ]; }
check "boot: the container has only lo (private network)" t_private
inside sh -c 'find / -xdev | sort' >"$W/boot-before.list"
NSS_BEFORE=$(inside sha256sum /etc/nsswitch.conf)

check "deb: dpkg -i" logged "$W/dpkg.log" inside dpkg -i /root/mcc-1.deb
t_not_started() { [ "$(inside systemctl is-enabled mcc)" = disabled ] && ! inside systemctl -q is-active mcc; }
check "deb: not enabled or started before mcc init" t_not_started
t_deb_layout() {
    [ -d "$BR/etc/mcc/tunnels" ] && [ "$(readlink "$BR/etc/mcc/data")" = /var/lib/mcc ] &&
        [ "$(stat -c %a "$BR/var/lib/mcc")" = 700 ]
}
check "deb: the docs' layout (/etc/mcc, /etc/mcc/data -> /var/lib/mcc 0700)" t_deb_layout
t_nss_installed() { inside dpkg -L mcc | grep -qx "/usr/lib/$MULTIARCH/libnss_mcc.so.2"; }
check "nss: the module is installed in /usr/lib/$MULTIARCH" t_nss_installed
t_nss_entry() {
    [ "$(nss_line "$BR")" = "hosts:          files mcc [SUCCESS=return] dns" ] &&
        [ "$(grep -c 'mcc \[SUCCESS=return\]' "$BR/etc/nsswitch.conf")" = 1 ]
}
check "nss: nsswitch.conf gets the docs' entry, once" t_nss_entry
NODE_ID=$(inside sh -c 'mcc init --stdin "$(cat /root/pki/net.b64)" </root/pki/network-private-key.txt' 2>>"$W/boot.log")
t_init() { [ -n "$NODE_ID" ] && [ -s "$BR/etc/mcc/mcc.conf" ]; }
check "deb: mcc init writes the node's key and mcc.conf" t_init
KEY_SUM=$(sha256sum <"$BR/etc/mcc/node-private-key.txt")

# READY=1 is what makes the unit active: with NOTIFY_SOCKET pointing nowhere, mccd runs
# and serves, but the start times out.
inside sh -c 'mkdir -p /run/systemd/system/mcc.service.d &&
    printf "[Service]\nEnvironment=NOTIFY_SOCKET=/run/nowhere\nTimeoutStartSec=5s\nRestart=no\n" >/run/systemd/system/mcc.service.d/test.conf &&
    systemctl daemon-reload'
check_not "ready: a start whose READY=1 cannot arrive does not succeed" logged "$W/boot.log" inside systemctl start mcc
t_timeout() { [ "$(inside systemctl show -p Result --value mcc)" = timeout ]; }
check "ready: ... it timed out" t_timeout
inside sh -c 'rm -r /run/systemd/system/mcc.service.d && systemctl daemon-reload && systemctl reset-failed mcc'
# ... and comes after the configuration is loaded: a broken mcc.conf fails the start.
cp "$BR/etc/mcc/mcc.conf" "$W/mcc.conf.good"
sed -i 's/^listen-addr = .*/listen-addr = not-an-address/' "$BR/etc/mcc/mcc.conf"
check_not "ready: a start with a broken mcc.conf fails" logged "$W/boot.log" inside systemctl start mcc
logged "$W/boot.log" inside systemctl stop mcc
cp "$W/mcc.conf.good" "$BR/etc/mcc/mcc.conf"
logged "$W/boot.log" inside systemctl reset-failed mcc
# The dnsmasq integration under the unit's sandbox: /etc/dnsmasq.d exists (as a dnsmasq
# package makes it), and a stand-in dnsmasq.service (in /run) records its restart.
mkdir -p "$BR/etc/dnsmasq.d"
inside sh -c 'printf "[Service]\nType=oneshot\nExecStart=/bin/touch /run/dnsmasq-restarted\n" >/run/systemd/system/dnsmasq.service &&
    systemctl daemon-reload'
echo "dnsmasq-restart-command = systemctl restart dnsmasq" >>"$BR/etc/mcc/mcc.conf"

check "systemd: systemctl enable --now mcc" logged "$W/boot.log" inside systemctl enable --now mcc
t_active() { [ "$(inside systemctl is-active mcc)" = active ]; }
check "systemd: systemctl is-active mcc: active" t_active
t_status_text() { [ "$(inside systemctl show -p StatusText --value mcc)" = "node $NODE_ID up" ]; }
check "systemd: the status line that comes with READY=1" t_status_text
check "systemd: mcc health" logged "$W/boot.log" inside mcc health
t_id() { [ "$(inside mcc id)" = "$NODE_ID" ]; }
check "systemd: mcc id is the node's" t_id
t_addrs() { inside ip -o addr show dev mcc0 >"$W/mcc0.addr" && grep -q ' inet 10\.83\.' "$W/mcc0.addr" && grep -q ' inet6 200::' "$W/mcc0.addr"; }
check "systemd: mcc0 has the node's IPv4 and IPv6 addresses (ip under the unit's filters)" t_addrs
t_state() { [ -n "$(ls "$BR/var/lib/mcc")" ] && ! inside journalctl -u mcc --no-pager | grep -qi 'read-only'; }
check "systemd: state written to /var/lib/mcc, no read-only warning" t_state
check "dnsmasq: mccd writes /etc/dnsmasq.d/mcc.conf from inside the sandbox" grep -qx 'server=//127.0.0.1#8353' "$BR/etc/dnsmasq.d/mcc.conf"
t_dnsmasq_restarted() {
    [ -e "$BR/run/dnsmasq-restarted" ] || inside test -e /run/dnsmasq-restarted || return 1
    inside journalctl -u mcc --no-pager | grep -q 'dnsmasq-restart-command `systemctl restart dnsmasq`: done'
}
check "dnsmasq: ... and its systemctl restart dnsmasq works there" wait_until 10 0.2 t_dnsmasq_restarted
# Not the package's: the drop-in stays after mccd (the docs), so the test takes it away
# (and the key, which the upgrade's check of mcc.conf compares).
rm -r "$BR/etc/dnsmasq.d"
cp "$W/mcc.conf.good" "$BR/etc/mcc/mcc.conf"
inside sh -c 'rm /run/systemd/system/dnsmasq.service && systemctl daemon-reload'
t_getent() {
    inside getent hosts "$NODE_ID" | grep -Eq "^200:[0-9a-f:]* +$NODE_ID\$" &&
        inside getent ahostsv4 "$NODE_ID" | grep -Eq "^10\.83\.[0-9.]+ +STREAM $NODE_ID\$"
}
check "nss: getent hosts NODE-ID (and ahostsv4)" t_getent
t_getent_mcc() { inside getent -s mcc hosts "$NODE_ID" | grep -Eq "^200:[0-9a-f:]* +$NODE_ID\$"; }
check "nss: getent -s mcc hosts NODE-ID (the module alone)" t_getent_mcc
check_not "nss: ... and files alone do not know it" inside getent -s files hosts "$NODE_ID"

# What the unit's sandbox must let mccd write: a forwarding rule applied with `mcc
# apply-forwarding-rules` is saved to /etc/mcc/forwarding-rules.conf (ProtectSystem=strict
# makes /etc read-only), goes into mccd's nftables table (nft over netlink: CAP_NET_ADMIN)
# and turns on forwarding on mcc0 in /proc/sys/net/ipv4/conf (ProtectKernelTunables and
# ProcSubset=pid hide or freeze /proc/sys). 10.115.0.9 is in the static range: a rule
# needs no other node to be applied.
printf 'port from 8080 to 10.115.0.9:80 protocol tcp\n' >"$BR/root/rules.conf"
t_apply() {
    inside sh -c 'echo y | timeout 20 mcc apply-forwarding-rules /root/rules.conf' >"$W/apply.log" 2>&1 &&
        grep -q 'kept; saved to /etc/mcc/forwarding-rules.conf$' "$W/apply.log"
}
check "sandbox: mcc apply-forwarding-rules under the unit (answered y) is kept and saved" t_apply
check "sandbox: ... /etc/mcc/forwarding-rules.conf is the applied file" cmp "$BR/root/rules.conf" "$BR/etc/mcc/forwarding-rules.conf"
t_nft_rule() { inside nft list table inet MCC >"$W/nft.log" 2>&1 && grep -q 'tcp dport 8080 dnat ip to 10.115.0.9:80' "$W/nft.log"; }
check "sandbox: ... mccd's nftables table DNATs 8080" t_nft_rule
t_mcc0_fwd() { [ "$(inside cat /proc/sys/net/ipv4/conf/mcc0/forwarding)" = 1 ]; }
check "sandbox: ... and forwarding is on on mcc0 (/proc/sys/net/ipv4/conf)" t_mcc0_fwd
inside journalctl -u mcc --no-pager >"$W/journal-sandbox.log" 2>&1
check_not "sandbox: no read-only or permission error in mccd's log" grep -Ei 'read-only file system|permission denied|operation not permitted' "$W/journal-sandbox.log"
# ... and no more: in mccd's mount namespace the rest of /proc/sys and of /etc stay
# read-only (even for root without the unit's limits: the mounts are read-only).
in_mccd() { inside nsenter -t "$(inside systemctl show -p MainPID --value mcc)" -m -- "$@"; }
t_rest_ro() {
    in_mccd test -w /proc/sys/net/ipv4/conf/mcc0/forwarding &&
        ! in_mccd sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward' 2>/dev/null &&
        ! in_mccd touch /etc/mcc-sandbox-test 2>/dev/null && ! in_mccd touch /usr/mcc-sandbox-test 2>/dev/null
}
check "sandbox: mccd's /proc/sys/net/ipv4/ip_forward, /etc and /usr stay read-only" t_rest_ro
# Back to no rule (mccd restores mcc0's forwarding and empties its section).
: >"$BR/root/none.conf"
logged "$W/apply.log" inside sh -c 'echo y | timeout 20 mcc apply-forwarding-rules /root/none.conf'
rm -f "$BR/root/rules.conf" "$BR/root/none.conf"
t_verify_in() { inside systemd-analyze verify --man=no /lib/systemd/system/mcc.service >"$W/verify-boot.log" 2>&1 && [ ! -s "$W/verify-boot.log" ]; }
check "systemd: systemd-analyze verify in the container says nothing" t_verify_in
inside systemd-analyze security mcc.service --no-pager >"$W/security.log" 2>&1
SCORE=$(sed -n 's/.*Overall exposure level for mcc.service: \([0-9.]*\).*/\1/p' "$W/security.log")
log "systemd-analyze security mcc.service: $(grep -o 'Overall exposure level.*' "$W/security.log")"
# A guard against hardening lost by accident: 2.0 with systemd 252 (Debian 12) when
# written (what is left: root with CAP_NET_ADMIN, the host's network, /tmp for the
# socket, /etc/mcc and /proc/sys/net/ipv4/conf writable); another systemd weighs a little
# differently.
check "systemd: exposure level at most 2.2" awk -v s="${SCORE:-99}" 'BEGIN { exit !(s <= 2.2) }'

mainpid() { inside systemctl show -p MainPID --value mcc; }
P1=$(mainpid)
inside kill -9 "$P1" 2>/dev/null || inside sh -c "kill -9 $P1"
restarted() { local p; p=$(mainpid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$P1" ] && inside mcc health >/dev/null 2>&1; }
check "systemd: kill -9 of mccd: systemd restarts it" wait_until 20 0.2 restarted
t_nrestarts() { [ "$(inside systemctl show -p NRestarts --value mcc)" -ge 1 ]; }
check "systemd: ... counted as a restart" t_nrestarts

P2=$(mainpid)
check "upgrade: dpkg -i of revision 2" logged "$W/dpkg.log" inside dpkg -i /root/mcc-2.deb
t_rev2() { [ "$(inside dpkg-query -W -f '${Version}' mcc)" = "${VERSION%-*}-2" ]; }
check "upgrade: ${VERSION%-*}-2 installed" t_rev2
upgraded() { local p; p=$(mainpid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$P2" ] && inside mcc health >/dev/null 2>&1; }
check "upgrade: mccd restarted from the new package, healthy" wait_until 20 0.2 upgraded
check "upgrade: the node ID is kept" t_id
t_kept() { [ "$(sha256sum <"$BR/etc/mcc/node-private-key.txt")" = "$KEY_SUM" ] && cmp -s "$W/mcc.conf.good" "$BR/etc/mcc/mcc.conf"; }
check "upgrade: the key and mcc.conf are kept" t_kept
t_enabled() { [ "$(inside systemctl is-enabled mcc)" = enabled ]; }
check "upgrade: still enabled" t_enabled
check "upgrade: the NSS entry is there once" t_nss_entry

t_remove() {
    inside dpkg -r mcc >>"$W/dpkg.log" 2>&1 && [ ! -e "$BR/usr/bin/mccd" ] && ! inside systemctl -q is-active mcc && t_kept
}
check "remove: dpkg -r stops mccd, removes the files, keeps the key and mcc.conf" t_remove
t_nss_same() { [ "$(inside sha256sum /etc/nsswitch.conf)" = "$NSS_BEFORE" ]; }
check "remove: prerm takes the NSS entry out (nsswitch.conf byte-identical)" t_nss_same
check "purge: dpkg --purge" logged "$W/dpkg.log" inside dpkg --purge mcc
inside sh -c 'find / -xdev | sort' >"$W/boot-after.list"
# What dpkg and systemd keep for themselves may change; nothing else may.
comm -3 "$W/boot-before.list" "$W/boot-after.list" |
    grep -v -e '^[[:space:]]*/var/lib/dpkg/' -e '^[[:space:]]*/var/log/' -e '^[[:space:]]*/var/cache/' \
        -e '^[[:space:]]*/var/lib/systemd/' -e '^[[:space:]]*/var/tmp/systemd-private-' \
        -e '^[[:space:]]*/tmp/systemd-private-' >"$W/purge.diff"
check "purge: the file tree is as before dpkg -i" bash -c "[ ! -s '$W/purge.diff' ]"
t_no_mcc() { ! grep -i mcc "$W/boot-after.list" | grep -v '^/root/'; }
check "purge: no file named mcc is left (but the test's own in /root)" t_no_mcc
check "purge: nsswitch.conf as before" t_nss_same

inside systemctl poweroff >/dev/null 2>&1
stopped() { ! kill -0 "$NSPAWN" 2>/dev/null; }
wait_until 20 0.2 stopped || log "the container did not power off; it is killed"
LEADER=
log "total $(elapsed) s"
