# dbcheckin %postun ($1: 0 on erase, 1 on upgrade): restart the upgraded
# service if it runs. RPM has no purge: the state and the user are kept.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if [ "$1" -ge 1 ]; then
        systemctl try-restart dbcheckin.service || :
    fi
fi
if [ "$1" -eq 0 ]; then
    # The directories the scriptlets made, when no drop-in is left in them.
    rmdir /etc/dbcheckin/config.d /etc/dbcheckin 2>/dev/null || :
    echo "dbcheckin: /var/lib/dbcheckin and user dbcheckin are kept; to delete them: rm -rf /var/lib/dbcheckin /run/dbcheckin && userdel dbcheckin"
fi
