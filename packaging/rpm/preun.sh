# mcc %preun ($1: 0 erase, 1 upgrade): on erase the service stops and is disabled, and the
# NSS entry goes with the module. Keys, mcc.conf and state stay (RPM has no purge).
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now mcc.service >/dev/null 2>&1 || :
    fi
    /usr/libexec/mcc/mcc-setup remove
fi
