# dbcheckin %post ($1: 1 on install, 2 on upgrade): the directories, and the
# service enabled and started on install. PostgreSQL is not touched: the one
# command that gives role dbcheckin its access is printed.
if command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/dbcheckin.conf
else
    install -d -o dbcheckin -g dbcheckin -m 0750 /var/lib/dbcheckin /run/dbcheckin
fi
# cargo-generate-rpm cannot ship an empty directory: drop-ins go here.
install -d -m 0755 /etc/dbcheckin/config.d
if [ "$1" -eq 1 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable --now dbcheckin.service
    elif command -v systemctl >/dev/null 2>&1; then
        # No running systemd (a container, an image being built): enabled for
        # the next boot, not started.
        systemctl enable dbcheckin.service
    fi
    echo "dbcheckin: next step, as root: sudo -u postgres dbcheckin grant --role dbcheckin"
    echo "dbcheckin: (it gives PostgreSQL role dbcheckin what the check-ins need; nothing was changed in PostgreSQL)"
    echo "dbcheckin: then: sudo systemctl reload dbcheckin (the check-ins start at once, not within retry_min)"
fi
