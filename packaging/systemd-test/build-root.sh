#!/usr/bin/env bash
# Builds the Debian bookworm root that packaging/test-systemd.sh boots with
# systemd-nspawn: systemd as PID 1, D-Bus, PostgreSQL 15 on port 5432, python3
# and openssl for the stand-in validation server, sudo for the users' checks.
# The result is cached by test-systemd.sh under ~/.cache/dbcheckin-ci/, keyed
# by a hash of this file: change anything here and the root is rebuilt.
# Usage: build-root.sh DIR     (DIR must not exist; about 2.5 min cold)
set -euo pipefail

root=$1
[ ! -e "$root" ] || { echo "build-root.sh: $root already exists" >&2; exit 1; }

# The mirror apt on this host is configured with (deb822 or one-line form).
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
echo "build-root.sh: bookworm from $mirror"

debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,sudo,procps,ca-certificates,openssl,python3,iproute2 \
    bookworm "$root" "$mirror" >/dev/null

# PostgreSQL 15 on 5432, the package's default socket. The cluster is created
# by hand: the automatic one would pick another port when it sees the host's
# PostgreSQL on 5432 (the chroot shares the host's network).
mkdir -p "$root/etc/postgresql-common"
echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
# No service may start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql-15 >/dev/null
chroot "$root" pg_createcluster --port 5432 15 main >/dev/null
conf=$root/etc/postgresql/15/main/postgresql.conf
sed -i 's/^port = .*/port = 5432/' "$conf"
grep -q '^port = 5432' "$conf" || { echo "build-root.sh: the cluster is not on 5432" >&2; exit 1; }
rm -f "$root/usr/sbin/policy-rc.d"
chroot "$root" systemctl enable postgresql.service >/dev/null 2>&1

# The test's users: an admin added to group dbcheckin later, as README says,
# an NRPE-like monitoring user (also added to the group), and someone else.
chroot "$root" useradd --create-home --shell /bin/bash alice
chroot "$root" useradd --system --no-create-home --shell /usr/sbin/nologin nagios
chroot "$root" useradd --create-home --shell /bin/bash mallory

# A quiet, fast boot: no getty on the console, nothing waiting for a network.
chroot "$root" systemctl mask console-getty.service getty@tty1.service \
    systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
echo dbcheckin-test >"$root/etc/hostname"
printf '127.0.0.1 localhost dbcheckin-test\n::1 localhost\n' >"$root/etc/hosts"
# No root password; the container is only ever booted by the test.
chroot "$root" passwd -d root >/dev/null
chroot "$root" apt-get clean
touch "$root/.dbcheckin-root-complete"
