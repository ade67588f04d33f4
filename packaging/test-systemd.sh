#!/usr/bin/env bash
# The package under a real systemd: boots a Debian bookworm container
# (systemd-nspawn, systemd as PID 1) on a throw-away overlay over a cached root,
# installs the .deb there and runs packaging/systemd-test/inside.sh as a unit
# that ends with `systemctl exit N`, so the container's exit code is the
# test's. Prints "N passed, M failed" and exits non-zero on any failure.
#
# Run by .ci/run after the package tests, as root, on a host where systemd is
# not PID 1. The root (debootstrap + PostgreSQL 15, about 2 min cold) is cached
# under ~/.cache/dbcheckin-ci/, keyed by a hash of
# packaging/systemd-test/build-root.sh; the release binary and packages are
# reused when packaging/build.sh already made them from the current binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# Bound of one boot of the container (the test waits at most ~65 s for a
# watchdog ping, and each of its other waits is bounded too).
BOOT_LIMIT=420
HERE=$PWD/packaging/systemd-test
FIXTURES=${DBCHECKIN_FIXTURES:-$PWD/../shared/fixtures/odoo}

fail() {
    echo "test-systemd: FAIL: $*" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap, overlayfs, systemd-nspawn)"
for tool in systemd-nspawn debootstrap openssl dpkg-deb flock timeout sha256sum; do
    command -v "$tool" >/dev/null || fail "$tool is missing: apt install systemd-container debootstrap openssl"
done
[ -r "$FIXTURES/odoo_fixture_a.sql.gz" ] || fail "no $FIXTURES/odoo_fixture_a.sql.gz: shared/ must be beside the checkout"
started=$(date +%s)

# One run at a time on this host (the cache and the lock are shared).
exec 8>/run/lock/dbcheckin-systemd-test.lock
flock -w 900 8 || fail "another run still holds /run/lock/dbcheckin-systemd-test.lock"

echo "== root (cached by the hash of build-root.sh)"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/dbcheckin-ci
key=$(sha256sum "$HERE/build-root.sh" | cut -c1-16)
root=$cache/systemd-root-$key
if [ ! -e "$root/.dbcheckin-root-complete" ]; then
    mkdir -p "$cache"
    rm -rf "$root.tmp"
    cold=$(date +%s)
    "$HERE/build-root.sh" "$root.tmp" || fail "building the root failed (above)"
    mv "$root.tmp" "$root"
    echo "cold root build took $(($(date +%s) - cold)) s"
    for old in "$cache"/systemd-root-*; do
        [ "$old" = "$root" ] || rm -rf "$old"
    done
fi
echo "root: $root"

echo "== packages"
target=${CARGO_TARGET_DIR:-$PWD/target}
# DBCHECKIN_DEB=path tests that package as it is (no build).
deb=${DBCHECKIN_DEB:-}
if [ -z "$deb" ]; then
    cargo build --release --locked --quiet
    deb=$(ls -t "$target"/packages/dbcheckin_*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ] || [ "$target/release/dbcheckin" -nt "$deb" ] ||
        [ -n "$(find packaging/debian systemd packaging/config.toml -newer "$deb" 2>/dev/null)" ]; then
        packaging/build.sh >/dev/null
        deb=$(ls -t "$target"/packages/dbcheckin_*.deb | head -n 1)
    fi
fi
echo "package: $deb"

work=$(mktemp -d /var/tmp/dbcheckin-systemd.XXXXXX)
merged=$work/merged
cleanup() {
    if mountpoint -q "$merged"; then umount "$merged" 2>/dev/null || umount -l "$merged"; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The upgrade: the same package with a higher version.
version=$(dpkg-deb -f "$deb" Version)
new_version="$version.1"
dpkg-deb -R "$deb" "$work/repack"
sed -i "s/^Version: .*/Version: $new_version/" "$work/repack/DEBIAN/control"
dpkg-deb -Zgzip -b "$work/repack" "$work/dbcheckin_new.deb" >/dev/null
rm -rf "$work/repack"

# The stand-in validation server's CA and certificate (localhost, 127.0.0.1).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dbcheckin test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$work/server.key" -out "$work/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/ext" -out "$work/server.pem" >/dev/null 2>&1

echo "== overlay"
mkdir -p "$work/upper" "$work/work" "$merged"
mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/work" "$merged"
t=$merged/opt/dbcheckin-test
install -d -m 0755 "$t"
install -m 0755 "$HERE/inside.sh" "$HERE/vserver.py" "$FIXTURES/restore.sh" "$t/"
install -m 0644 "$FIXTURES/odoo_fixture_a.sql.gz" "$work/ca.pem" "$work/server.pem" "$t/"
install -m 0600 "$work/server.key" "$t/"
install -m 0644 "$deb" "$t/dbcheckin_old.deb"
install -m 0644 "$work/dbcheckin_new.deb" "$t/dbcheckin_new.deb"
echo "$new_version" >"$t/new-version"
units=$merged/etc/systemd/system
cat >"$units/dbcheckin-vserver.service" <<UNIT
[Unit]
Description=stand-in validation server for the dbcheckin test
[Service]
ExecStart=/usr/bin/python3 /opt/dbcheckin-test/vserver.py /opt/dbcheckin-test/server.pem /opt/dbcheckin-test/server.key /var/lib/vserver/requests.log
StateDirectory=vserver
[Install]
WantedBy=multi-user.target
UNIT
cat >"$units/dbcheckin-test.service" <<UNIT
[Unit]
Description=dbcheckin system test (packaging/test-systemd.sh)
After=multi-user.target postgresql.service dbcheckin-vserver.service
[Service]
Type=exec
ExecStart=/opt/dbcheckin-test/inside.sh
StandardOutput=append:/opt/dbcheckin-test/log
StandardError=inherit
[Install]
WantedBy=multi-user.target
UNIT
ln -sf ../dbcheckin-vserver.service "$units/multi-user.target.wants/dbcheckin-vserver.service"
ln -sf ../dbcheckin-test.service "$units/multi-user.target.wants/dbcheckin-test.service"

echo "== boot (systemd-nspawn; the test reboots the container once)"
booted=$(date +%s)
rc=0
for boot in 1 2 3; do
    rc=0
    timeout --kill-after=15 "$BOOT_LIMIT" systemd-nspawn --quiet --boot --register=no --keep-unit \
        --private-network --console=pipe -D "$merged" -- systemd.show_status=false </dev/null || rc=$?
    # 133: the container rebooted; boot it again, as systemd-nspawn@.service does.
    [ "$rc" = 133 ] || break
    echo "-- the container rebooted (boot $((boot + 1)))"
done
echo "container runs took $(($(date +%s) - booted)) s (exit code $rc)"
[ "$rc" != 124 ] && [ "$rc" != 137 ] || echo "test-systemd: the container did not finish within ${BOOT_LIMIT} s" >&2

results=$work/upper/opt/dbcheckin-test
cat "$results/log" 2>/dev/null || echo "test-systemd: the test left no log" >&2
if [ -s "$results/metrics" ]; then
    echo "== metrics"
    cat "$results/metrics"
fi
grep '^FAIL' "$results/results" 2>/dev/null || true
summary=$(cat "$results/summary" 2>/dev/null || echo "no summary: the test did not finish")
echo "systemd test: $summary; whole run $(($(date +%s) - started)) s"
[ "$rc" = 0 ] && grep -q ' 0 failed$' <<<"$summary" || exit 1
