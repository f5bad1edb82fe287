#!/bin/sh
# Installs mcc from this tarball (no package manager): mccd, mcc, their man pages, the
# systemd unit and the docs' layout (/etc/mcc, /var/lib/mcc), like the .deb and .rpm do.
#
#   sudo ./install.sh                 install under /usr/local (PREFIX)
#   sudo ./install.sh --uninstall     remove the files; keys, mcc.conf and state stay
#   sudo ./install.sh --purge         remove the files and keys, mcc.conf and state
#
# Then: sudo mcc init ...; sudo systemctl enable --now mcc. Environment: PREFIX
# (/usr/local), DESTDIR (empty: a staging root for image builds; systemctl is not run
# then). Needs glibc 2.34 or newer and `ip` (iproute2).
set -eu

cd "$(dirname "$0")"
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
UNIT=/etc/systemd/system/mcc.service
mode=install
case ${1:-} in
"") ;;
--uninstall) mode=uninstall ;;
--purge) mode=purge ;;
*)
    echo "usage: install.sh [--uninstall|--purge]" >&2
    exit 2
    ;;
esac

systemd_running() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }

# Where glibc keeps libc.so.6: the NSS module goes beside it (the multiarch directory on
# Debian, /usr/lib64 on Fedora), where every process's dlopen finds it.
libdir() {
    d=$(ldconfig -p 2>/dev/null | awk '$1 == "libc.so.6" { print $NF; exit }')
    if [ -n "$d" ]; then dirname "$d"; else echo /usr/lib; fi
}

# The man pages this tarball has, as paths under share/man.
man_pages() { (cd man && find . -type f -name '*.gz' | sed 's|^\./||'); }

install_files() {
    install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$PREFIX/libexec/mcc" "$DESTDIR/etc/systemd/system"
    install -m 0755 bin/mccd bin/mcc "$DESTDIR$PREFIX/bin/"
    install -m 0755 libexec/mcc-setup "$DESTDIR$PREFIX/libexec/mcc/"
    install -D -m 0755 libexec/mcc-ssl-manage "$DESTDIR$PREFIX/libexec/mcc-ssl/manage"
    for m in $(man_pages); do
        install -D -m 0644 "man/$m" "$DESTDIR$PREFIX/share/man/$m"
    done
    # The unit as packaged, with this prefix's mccd.
    sed "s|^ExecStart=/usr/bin/mccd |ExecStart=$PREFIX/bin/mccd |" systemd/mcc.service >"$DESTDIR$UNIT.tmp"
    chmod 0644 "$DESTDIR$UNIT.tmp"
    mv -f "$DESTDIR$UNIT.tmp" "$DESTDIR$UNIT"
    if [ -e lib/libnss_mcc.so.2 ]; then
        l=$(libdir)
        install -D -m 0644 lib/libnss_mcc.so.2 "$DESTDIR$l/libnss_mcc.so.2"
        [ -n "$DESTDIR" ] || ldconfig
    fi
    MCC_ROOT=$DESTDIR "$DESTDIR$PREFIX/libexec/mcc/mcc-setup" configure
    if systemd_running; then systemctl daemon-reload; fi
    echo "mcc installed under $DESTDIR$PREFIX; next: mcc init, then systemctl enable --now mcc"
}

remove_files() {
    if systemd_running; then systemctl disable --now mcc.service 2>/dev/null || true; fi
    setup=$DESTDIR$PREFIX/libexec/mcc/mcc-setup
    if [ -x "$setup" ]; then MCC_ROOT=$DESTDIR "$setup" "$1"; fi
    rm -f "$DESTDIR$PREFIX/bin/mccd" "$DESTDIR$PREFIX/bin/mcc" "$setup" "$DESTDIR$UNIT"
    rm -f "$DESTDIR$PREFIX/libexec/mcc-ssl/manage"
    rmdir "$DESTDIR$PREFIX/libexec/mcc-ssl" "$DESTDIR$PREFIX/libexec/mcc" "$DESTDIR$PREFIX/libexec" 2>/dev/null || true
    for m in $(man_pages); do rm -f "$DESTDIR$PREFIX/share/man/$m"; done
    # The section directories install -D made, if nothing else is in them.
    rmdir "$DESTDIR$PREFIX/share/man/man1" "$DESTDIR$PREFIX/share/man/man8" 2>/dev/null || true
    if [ -e lib/libnss_mcc.so.2 ]; then
        rm -f "$DESTDIR$(libdir)/libnss_mcc.so.2"
        [ -n "$DESTDIR" ] || ldconfig
    fi
    if systemd_running; then systemctl daemon-reload; fi
    echo "mcc removed from $DESTDIR$PREFIX"
}

case $mode in
install) install_files ;;
uninstall) remove_files remove ;;
purge) remove_files purge ;;
esac
