# dbcheckin %preun ($1: 0 on erase, 1 on upgrade): stop and disable the
# service when the package is erased.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop dbcheckin.service || :
    fi
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable dbcheckin.service || :
    fi
fi
