# dbcheckin %pre: the system user and group, before the files land.
# The line is packaging/sysusers.d/dbcheckin.conf's (test-packages.sh checks it).
if command -v systemd-sysusers >/dev/null 2>&1; then
    echo 'u dbcheckin - "dbcheckin daemon" /var/lib/dbcheckin' |
        systemd-sysusers --replace=/usr/lib/sysusers.d/dbcheckin.conf -
elif ! getent passwd dbcheckin >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/dbcheckin --no-create-home \
        --shell /sbin/nologin --comment "dbcheckin daemon" dbcheckin
fi
