# mcc %post ($1: 1 install, 2 upgrade): the docs' layout and the NSS entry; on upgrade a
# running mccd is restarted on the new binary.
/usr/libexec/mcc/mcc-setup configure
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 2 ]; then
        systemctl try-restart mcc.service >/dev/null 2>&1 || :
    fi
fi
