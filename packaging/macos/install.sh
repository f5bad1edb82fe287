#!/bin/sh
# Installs mcc on macOS from this tarball: mccd and mcc in /usr/local/bin, the launchd job
# /Library/LaunchDaemons/io.staex.mcc.plist, and /etc/mcc.
#
#   sudo ./install.sh                  install; the job is loaded but not started at boot
#   sudo ./install.sh --run-at-load    the same, and launchd starts mccd at boot
#   sudo ./install.sh --uninstall      unload the job, remove the files; /etc/mcc stays
#
# Then, as the docs' quick start says:
#   sudo mcc init ...
#   sudo launchctl start io.staex.mcc          # start (launchd restarts it if it exits)
#   sudo launchctl list io.staex.mcc           # status
#   sudo launchctl stop io.staex.mcc           # restart: KeepAlive starts it again
#   sudo launchctl unload /Library/LaunchDaemons/io.staex.mcc.plist   # stop for good
#   sudo less +G /Library/Logs/mcc.log         # logs
# Enable on boot: <key>RunAtLoad</key><true/> in the plist (what --run-at-load writes).
#
# DESTDIR (empty) stages into another root, without launchctl.
set -eu

cd "$(dirname "$0")"
DESTDIR=${DESTDIR:-}
BIN=/usr/local/bin
PLIST=/Library/LaunchDaemons/io.staex.mcc.plist
run_at_load=false
mode=install
case ${1:-} in
"") ;;
--run-at-load) run_at_load=true ;;
--uninstall) mode=uninstall ;;
*)
    echo "usage: install.sh [--run-at-load|--uninstall]" >&2
    exit 2
    ;;
esac

launchctl_here() { [ -z "$DESTDIR" ] && command -v launchctl >/dev/null 2>&1; }

if [ "$mode" = uninstall ]; then
    if launchctl_here && [ -e "$PLIST" ]; then launchctl unload "$PLIST" 2>/dev/null || true; fi
    rm -f "$DESTDIR$BIN/mccd" "$DESTDIR$BIN/mcc" "$DESTDIR$PLIST"
    echo "mcc removed; /etc/mcc is kept"
    exit 0
fi

install -d "$DESTDIR$BIN" "$DESTDIR/Library/LaunchDaemons" "$DESTDIR/Library/Logs"
install -d -m 0755 "$DESTDIR/etc/mcc" "$DESTDIR/etc/mcc/tunnels"
install -m 0755 bin/mccd bin/mcc "$DESTDIR$BIN/"
if launchctl_here && [ -e "$PLIST" ]; then launchctl unload "$PLIST" 2>/dev/null || true; fi
# The shipped plist has RunAtLoad false (the docs' default); --run-at-load flips the value
# that follows the key.
awk -v want="$run_at_load" '
    after_key && /<(true|false)\/>/ { sub(/<(true|false)\/>/, "<" want "/>"); after_key = 0 }
    /<key>RunAtLoad<\/key>/ { after_key = 1 }
    { print }
' io.staex.mcc.plist >"$DESTDIR$PLIST.tmp"
chmod 0644 "$DESTDIR$PLIST.tmp"
mv -f "$DESTDIR$PLIST.tmp" "$DESTDIR$PLIST"
if launchctl_here; then launchctl load "$DESTDIR$PLIST"; fi
echo "mcc installed; next: sudo mcc init ..., then sudo launchctl start io.staex.mcc"
[ "$run_at_load" = true ] || echo "to start at boot: <key>RunAtLoad</key><true/> in $PLIST (./install.sh --run-at-load)"
