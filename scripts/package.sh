#!/usr/bin/env bash
# Builds every package of mcc into target/packages/ (README, "Packages"):
#
#   mcc_VERSION-REV_ARCH.deb            Debian/Ubuntu (cargo-deb): mccd + systemd unit, mcc,
#                                       the NSS module, man pages, /usr/libexec/mcc/mcc-setup
#   mcc-VERSION-REV.ARCH.rpm            Fedora/RHEL/openSUSE (rpmbuild, the spec written by
#                                       scripts/rpm-spec.py from Cargo.toml): the same
#   mcc-VERSION-linux-ARCH.tar.gz       any glibc Linux: the same files and install.sh
#   mcc_VERSION-REV_OWRTARCH.ipk        OpenWrt (opkg): static mccd + mcc, procd init
#                                       script, dnsmasq set-up; no NSS module (musl has no
#                                       NSS: names go through dnsmasq there)
#   mcc-VERSION-macos-ARCH.tar.gz       macOS (only when run on a Mac): launchd job
#
#   scripts/package.sh [deb|rpm|tar|ipk|macos ...]    all by default, or the ones named
#
# Environment: TARGET (a Rust target triple to cross-build for, e.g.
# aarch64-unknown-linux-gnu; default the host), MCC_PKG_REVISION (package revision, 1),
# MCC_PKG_OUT (the output directory, target/packages),
# OBJCOPY (objcopy for TARGET, e.g. aarch64-linux-gnu-objcopy), OPENWRT_ARCH (opkg
# architecture, derived from TARGET), SOURCE_DATE_EPOCH (file times; default the last
# commit's), MCC_PKG_CACHE (where the build tools and the OpenWrt build's dependencies are
# kept between clones: /var/cache/mcc-test when writable, else ~/.cache/mcc).
#
# Needs rpmbuild (Debian package `rpm`) for the .rpm; installs cargo-deb (pinned) from
# crates.io into MCC_PKG_CACHE/cargo-tools when it is missing there.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

OUT=${MCC_PKG_OUT:-target/packages}
REV=${MCC_PKG_REVISION:-1}
HOST=$(rustc -vV | sed -n 's/^host: //p')
TRIPLE=${TARGET:-$HOST}
VERSION=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "mcc-linux"))')
# Compiling sees the caller's SOURCE_DATE_EPOCH, not this default: cc-based build scripts
# (ring's) rerun when it changes, so the last commit's time would rebuild most of the
# workspace after every commit (and again for every other cargo run without it).
CALLER_SDE=${SOURCE_DATE_EPOCH:-}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
build() { # build CARGO-ARGS...: cargo with the caller's SOURCE_DATE_EPOCH
    if [[ -n $CALLER_SDE ]]; then SOURCE_DATE_EPOCH=$CALLER_SDE cargo "$@"; else env -u SOURCE_DATE_EPOCH cargo "$@"; fi
}
OBJCOPY=${OBJCOPY:-objcopy}
# cargo-deb and scripts/rpm-spec.py read "target/release/..." asset paths as this directory.
if [[ -n ${TARGET:-} ]]; then
    REL=target/$TARGET/release
    TARGET_ARGS=(--target "$TARGET")
else
    REL=target/release
    TARGET_ARGS=()
fi
STAGE=$REL/packaging
ARCH=${TRIPLE%%-*}
if [[ -n ${MCC_PKG_CACHE:-} ]]; then
    CACHE=$MCC_PKG_CACHE
elif mkdir -p /var/cache/mcc-test 2>/dev/null && [[ -w /var/cache/mcc-test ]]; then
    CACHE=/var/cache/mcc-test
else
    CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mcc
fi

ONLY=("$@")
for w in "${ONLY[@]}"; do
    case $w in deb | rpm | tar | ipk | macos) ;; *) echo "package.sh: unknown package '$w'" >&2; exit 2 ;; esac
done
# On a Mac only the macOS tarball can be built.
if [[ $(uname -s) == Darwin ]] && ((${#ONLY[@]} == 0)); then ONLY=(macos); fi
want() {
    ((${#ONLY[@]} == 0)) && return 0
    local w
    for w in "${ONLY[@]}"; do [[ $w == "$1" ]] && return 0; done
    return 1
}
log() { echo "== $*"; }
# The deterministic tar of the packages: root-owned, sorted, file times clamped.
ptar() { tar --format=gnu --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$SOURCE_DATE_EPOCH" "$@"; }

# cargo_tool CRATE VERSION: CRATE at VERSION in $CACHE/cargo-tools (outside the clone: a
# fresh clone does not compile it again), on PATH.
cargo_tool() {
    local root=$CACHE/cargo-tools
    if ! cargo install --list --root "$root" 2>/dev/null | grep -qx "$1 v$2:"; then
        log "installing $1 $2 from crates.io into $root"
        cargo install -q --locked --root "$root" "$1" --version "$2"
    fi
    PATH=$root/bin:$PATH
}

mkdir -p "$OUT"

# ---------------------------------------------------------------- Linux: shared pieces

# Debian's multiarch tuple of a Rust target (the NSS module's directory):
# x86_64-unknown-linux-gnu -> x86_64-linux-gnu, armv7-unknown-linux-gnueabihf ->
# arm-linux-gnueabihf.
multiarch() {
    local t=${1/-unknown-/-}
    case $t in armv7-* | armv5te-* | thumbv7neon-*) t=arm-${t#*-} ;; i586-* | i686-*) t=i386-${t#*-} ;; esac
    echo "$t"
}

linux_common() {
    log "build mcc, mccd, libnss_mcc.so ($TRIPLE)"
    build build --release -q -p mcc-linux --bins "${TARGET_ARGS[@]}"
    build build --release -q -p mcc-nss --lib "${TARGET_ARGS[@]}"
    log "man pages"
    rm -rf "$STAGE/man" "$STAGE/stripped" "$STAGE/multiarch"
    mkdir -p "$STAGE/man" "$STAGE/stripped" "$STAGE/multiarch/$(multiarch "$TRIPLE")"
    # Built for the host: the pages are the same for every target.
    build run --release -q -p mcc-linux --example man-pages -- "$STAGE/man"
    gzip -9n "$STAGE"/man/*
    for b in mcc mccd; do "$OBJCOPY" --strip-all "$REL/$b" "$STAGE/stripped/$b"; done
    # A shared library keeps its dynamic symbol table (the NSS entry points).
    "$OBJCOPY" --strip-unneeded "$REL/libnss_mcc.so" "$STAGE/stripped/libnss_mcc.so.2"
    cp "$STAGE/stripped/libnss_mcc.so.2" "$STAGE/multiarch/$(multiarch "$TRIPLE")/"
}

deb() {
    cargo_tool cargo-deb 3.8.0
    log "deb"
    cargo deb -q -p mcc-linux --no-build --strip --deb-revision "$REV" "${TARGET_ARGS[@]}" -o "$OUT/"
}

# RPM's name of the target's CPU.
rpm_arch() {
    case $1 in
    armv7-*hf) echo armv7hl ;;
    arm-*) echo armv5tel ;;
    i586-* | i686-*) echo i686 ;;
    *) echo "${1%%-*}" ;;
    esac
}

rpm_pkg() {
    command -v rpmbuild >/dev/null || { echo "package.sh: rpmbuild is missing (Debian: apt-get install rpm)" >&2; return 1; }
    log "rpm"
    local arch d
    arch=$(rpm_arch "$TRIPLE")
    d=$(mktemp -d)
    scripts/rpm-spec.py mcc-linux/Cargo.toml "$VERSION" "$REV" "$arch" "$REL" >"$d/mcc.spec"
    # --target sets %{_libdir}; the build root and every work directory are in $d.
    rpmbuild -bb --quiet --target "$arch-linux" --define "_topdir $d" --define "_rpmdir $d/out" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
        "$d/mcc.spec" >"$d/rpmbuild.log" 2>&1 || { cat "$d/rpmbuild.log" >&2; rm -rf "$d"; return 1; }
    mv "$d"/out/*.rpm "$OUT/"
    rm -rf "$d"
}

tarball() {
    log "tar.gz"
    local name=mcc-$VERSION-linux-$ARCH d
    d=$(mktemp -d)
    mkdir -p "$d/$name"/{bin,libexec,systemd,man/man1,man/man8}
    cp "$STAGE/stripped/mccd" "$STAGE/stripped/mcc" "$d/$name/bin/"
    cp packaging/mcc-setup "$d/$name/libexec/"
    cp packaging/ssl/manage "$d/$name/libexec/mcc-ssl-manage"
    cp packaging/systemd/mcc.service "$d/$name/systemd/"
    cp "$STAGE"/man/*.1.gz "$d/$name/man/man1/"
    cp "$STAGE"/man/*.8.gz "$d/$name/man/man8/"
    mkdir -p "$d/$name/lib"
    cp "$STAGE/stripped/libnss_mcc.so.2" "$d/$name/lib/"
    cp packaging/tar/install.sh "$d/$name/"
    cp README.md "$d/$name/"
    chmod -R u=rwX,go=rX "$d/$name"
    ptar -C "$d" -czf "$OUT/$name.tar.gz" "$name"
    rm -rf "$d"
}

# ---------------------------------------------------------------- OpenWrt

# The opkg architecture for a Rust target: OpenWrt names the CPU (and FPU) a build is
# for; these are the common ones, OPENWRT_ARCH overrides.
openwrt_arch() {
    case $1 in
    x86_64-*) echo x86_64 ;;
    aarch64-*) echo aarch64_generic ;;
    armv7-*hf) echo arm_cortex-a7_neon-vfpv4 ;;
    arm-*) echo arm_arm926ej-s ;;
    mipsel-*) echo mipsel_24kc ;;
    mips-*) echo mips_24kc ;;
    *) echo "package.sh: no OpenWrt architecture known for $1; set OPENWRT_ARCH" >&2; return 1 ;;
    esac
}

ipk() {
    local arch
    arch=${OPENWRT_ARCH:-$(openwrt_arch "$TRIPLE")}
    # OpenWrt's C library is musl: a glibc binary linked statically runs there (no
    # interpreter, no libraries), and it is what this machine can build without a musl
    # toolchain. A *-musl TARGET is linked statically by default and works the same.
    log "static mcc, mccd for OpenWrt ($TRIPLE)"
    # A target directory of its own (other RUSTFLAGS rebuild everything), outside the
    # clone so that a fresh clone compiles only mcc's own crates; no debug info: it is
    # stripped anyway. MCC_PKG_CACHE/openwrt-target is made again when missing.
    local sdir=$CACHE/openwrt-target
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" CARGO_TARGET_DIR=$sdir CARGO_PROFILE_RELEASE_DEBUG=0 \
        build build --release -q -p mcc-linux --bins --target "$TRIPLE"
    local bins=$sdir/$TRIPLE/release
    log "ipk ($arch)"
    local d
    d=$(mktemp -d)
    mkdir -p "$d/data/usr/bin" "$d/data/etc/init.d" "$d/data/etc/dnsmasq.d" "$d/control"
    for b in mcc mccd; do "$OBJCOPY" --strip-all "$bins/$b" "$d/data/usr/bin/$b"; done
    install -m 0755 packaging/openwrt/mcc.init "$d/data/etc/init.d/mcc"
    install -m 0644 packaging/openwrt/dnsmasq-mcc.conf "$d/data/etc/dnsmasq.d/mcc.conf"
    install -m 0755 packaging/openwrt/postinst packaging/openwrt/prerm packaging/openwrt/postrm "$d/control/"
    echo /etc/dnsmasq.d/mcc.conf >"$d/control/conffiles"
    packaging/openwrt/ipkg-build.sh "$d" "$arch" "$VERSION-$REV" "$OUT"
    rm -rf "$d"
}

# ---------------------------------------------------------------- macOS

macos() {
    if [[ $(uname -s) != Darwin ]]; then
        log "macOS tarball: skipped (needs a Mac: no Apple SDK or linker here)"
        return 0
    fi
    log "build mccd-macos, mcc"
    build build --release -q -p mcc-macos --bin mccd-macos
    build build --release -q -p mcc-linux --bin mcc
    local name=mcc-$VERSION-macos-$(uname -m) d
    d=$(mktemp -d)
    mkdir -p "$d/$name/bin"
    cp target/release/mccd-macos "$d/$name/bin/mccd"
    cp target/release/mcc "$d/$name/bin/mcc"
    strip "$d/$name/bin/mccd" "$d/$name/bin/mcc"
    cp mcc-macos/io.staex.mcc.plist packaging/macos/install.sh "$d/$name/"
    cp packaging/ssl/manage-macos "$d/$name/bin/mcc-ssl-manage"
    cp README.md "$d/$name/"
    tar -C "$d" -czf "$OUT/$name.tar.gz" "$name"
    rm -rf "$d"
}

# ---------------------------------------------------------------- main

if want deb || want rpm || want tar; then linux_common; fi
if want deb; then deb; fi
if want rpm; then rpm_pkg; fi
if want tar; then tarball; fi
if want ipk; then ipk; fi
if want macos; then macos; fi

log "packages in $OUT"
(cd "$OUT" && for f in *; do printf '%10d  %s\n' "$(stat -c %s "$f" 2>/dev/null || stat -f %z "$f")" "$f"; done)
