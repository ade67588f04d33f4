#!/usr/bin/env bash
# Package tests, run by .ci/run after `cargo test`, as root, on a Debian host
# where systemd is not PID 1. Builds both packages once (build.sh), then:
#   .deb: lintian; install; every file with its owner and mode; the user and
#         group; --version; status as the dbcheckin user; the monitoring
#         definitions (test-monitoring.sh on the installed files); man pages render;
#         completions load; systemd-analyze verify and security; reinstall
#         (upgrade path) keeping the admin's conffile; remove (conffile and
#         state kept); reinstall after removal; purge leaves nothing.
#   .rpm: rpm -qplv / --requires / --configfiles / --scripts.
# Every check fails loudly, naming what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

# The highest `systemd-analyze security` exposure the unit may have.
MAX_EXPOSURE=1.5
UNIT=/usr/lib/systemd/system/dbcheckin.service
WANTS=/etc/systemd/system/multi-user.target.wants/dbcheckin.service
GRANT="sudo -u postgres dbcheckin grant --role dbcheckin"

fail() {
    echo "test-packages: FAIL: $*" >&2
    exit 1
}
ok() { echo "  ok: $*"; }
step() { printf '\n== %s\n' "$*"; }

[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package); CI runs as root"
for tool in dpkg lintian rpm man groff bash zsh fish systemd-analyze runuser flock strace unshare promtool icinga2; do
    command -v "$tool" >/dev/null ||
        fail "$tool is missing: .ci/run installs it (apt install lintian rpm man-db groff-base zsh fish strace prometheus icinga2-bin)"
done

# The package is system-wide: one run at a time on this host.
exec 9>/run/lock/dbcheckin-package-tests.lock
flock -w 900 9 || fail "another package test still holds /run/lock/dbcheckin-package-tests.lock"

installed() { dpkg-query -W -f='${db:Status-Abbrev}' dbcheckin 2>/dev/null | grep -q '^.[ic]'; }
if installed; then
    fail "dbcheckin is already installed on this host; purge it first: dpkg --purge dbcheckin"
fi
if getent passwd dbcheckin >/dev/null || getent group dbcheckin >/dev/null; then
    fail "a user or group dbcheckin exists without the package; remove them (userdel dbcheckin; groupdel dbcheckin) or run elsewhere"
fi
cleanup() {
    if installed; then
        echo "test-packages: purging the package left by the failed run" >&2
        dpkg --purge dbcheckin >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

step "build (packaging/build.sh)"
started=$(date +%s)
packaging/build.sh
echo "build took $(($(date +%s) - started)) s"
target=${CARGO_TARGET_DIR:-$PWD/target}
deb=$(ls "$target"/packages/dbcheckin_*.deb)
rpm=$(ls "$target"/packages/dbcheckin-*.rpm)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

step "lintian"
lintian --fail-on error,warning --display-info "$deb" 2>&1 |
    grep -v 'running with root privileges' || true
lintian --fail-on error,warning "$deb" >/dev/null 2>&1 ||
    fail "lintian reports errors or warnings (above); fix them, or override with a justification in packaging/debian/lintian-overrides"
ok "lintian: no error, no warning"

step "install"
out=$(dpkg -i "$deb" 2>&1) || fail "dpkg -i failed: $out"
echo "$out"
grep -qF "$GRANT" <<<"$out" || fail "postinst did not print the next step ($GRANT)"
ok "postinst prints the next step"

# path type mode owner:group
expect() {
    local path=$1 type=$2 mode=$3 owner=$4 actual
    [ -e "$path" ] || fail "$path is missing"
    case "$type" in
        f) [ -f "$path" ] && [ ! -L "$path" ] || fail "$path is not a regular file" ;;
        d) [ -d "$path" ] || fail "$path is not a directory" ;;
    esac
    actual=$(stat -c '%a %U:%G' "$path")
    [ "$actual" = "$mode $owner" ] || fail "$path is $actual, expected $mode $owner"
}
step "files, owners and modes"
files=(
    "/usr/bin/dbcheckin f 755 root:root"
    "$UNIT f 644 root:root"
    "/usr/lib/sysusers.d/dbcheckin.conf f 644 root:root"
    "/usr/lib/tmpfiles.d/dbcheckin.conf f 644 root:root"
    "/etc/dbcheckin d 755 root:root"
    "/etc/dbcheckin/config.toml f 644 root:root"
    "/etc/dbcheckin/config.d d 755 root:root"
    "/var/lib/dbcheckin d 750 dbcheckin:dbcheckin"
    "/run/dbcheckin d 750 dbcheckin:dbcheckin"
    "/usr/share/man/man5/dbcheckin.toml.5.gz f 644 root:root"
    "/usr/share/bash-completion/completions/dbcheckin f 644 root:root"
    "/usr/share/zsh/vendor-completions/_dbcheckin f 644 root:root"
    "/usr/share/fish/vendor_completions.d/dbcheckin.fish f 644 root:root"
    "/usr/share/doc/dbcheckin/README.md f 644 root:root"
    "/usr/share/doc/dbcheckin/copyright f 644 root:root"
    "/usr/share/doc/dbcheckin/changelog.Debian.gz f 644 root:root"
    "/usr/share/lintian/overrides/dbcheckin f 644 root:root"
    "/usr/share/dbcheckin/prometheus/dbcheckin.rules.yml f 644 root:root"
    "/usr/share/dbcheckin/icinga2/dbcheckin.conf f 644 root:root"
    "/usr/share/dbcheckin/nagios/dbcheckin.cfg f 644 root:root"
)
# One page per subcommand, nested ones too (dbcheckin-uuid-list), from the
# installed binary's own help.
subcommands_of() {
    /usr/bin/dbcheckin "$@" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF && $1 != "help" { print $1 }'
}
pages=(/usr/share/man/man1/dbcheckin.1.gz)
add_pages() {
    local sub
    for sub in $(subcommands_of "$@"); do
        local path=("$@" "$sub")
        local IFS=-
        pages+=("/usr/share/man/man1/dbcheckin-${path[*]}.1.gz")
        unset IFS
        add_pages "${path[@]}"
    done
}
add_pages
[ ${#pages[@]} -gt 1 ] || fail "dbcheckin --help lists no subcommand"
for page in "${pages[@]}"; do files+=("$page f 644 root:root"); done
for entry in "${files[@]}"; do
    # shellcheck disable=SC2086 # the entry is four words on purpose
    expect $entry
done
ok "${#files[@]} paths with the right type, mode and owner"
[ -z "$(ls -A /etc/dbcheckin/config.d)" ] || fail "/etc/dbcheckin/config.d is not empty"
# Nothing the package ships is missing from the list above.
while read -r path; do
    [ -f "$path" ] || continue
    printf '%s\n' "${files[@]}" | grep -q "^$path " || fail "the package ships $path, which this test does not check"
done < <(dpkg -L dbcheckin)
ok "the package ships no file beyond those"
dpkg-query -W -f='${Conffiles}\n' dbcheckin | grep -q '^ /etc/dbcheckin/config.toml ' ||
    fail "/etc/dbcheckin/config.toml is not a conffile"
ok "/etc/dbcheckin/config.toml is a conffile"

step "user and group"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd dbcheckin) || fail "no user dbcheckin"
getent group dbcheckin >/dev/null || fail "no group dbcheckin"
[ "$(getent group dbcheckin | cut -d: -f3)" = "$gid" ] || fail "dbcheckin's primary group is not group dbcheckin"
[ "$uid" -lt 1000 ] || fail "dbcheckin is not a system user (uid $uid)"
[ "$home" = /var/lib/dbcheckin ] || fail "dbcheckin's home is $home, expected /var/lib/dbcheckin"
case "$shell" in */nologin) ;; *) fail "dbcheckin's shell is $shell, expected nologin" ;; esac
ok "system user dbcheckin (uid $uid), group dbcheckin, home /var/lib/dbcheckin, shell $shell"
[ "$(systemctl is-enabled dbcheckin.service 2>/dev/null)" = enabled ] ||
    fail "the service is not enabled after install"
ok "the service is enabled (systemd is not running here, so it is not started)"

step "the binary"
[ "$(/usr/bin/dbcheckin --version)" = "dbcheckin $version" ] ||
    fail "dbcheckin --version says '$(/usr/bin/dbcheckin --version)', expected 'dbcheckin $version'"
ok "dbcheckin --version: dbcheckin $version"
set +e
status=$(cd / && runuser -u dbcheckin -- /usr/bin/dbcheckin status 2>&1)
code=$?
set -e
echo "$status"
[ "$code" = 3 ] || fail "dbcheckin status as user dbcheckin exited $code, expected 3 (UNKNOWN: role dbcheckin cannot connect here)"
grep -qF 'role "dbcheckin"' <<<"$status" || fail "dbcheckin status does not name role dbcheckin"
grep -qF "$GRANT" <<<"$status" || fail "dbcheckin status does not give the fix: $GRANT"
ok "status as user dbcheckin: UNKNOWN (exit 3), naming the role and the fix"

step "monitoring definitions, as installed (packaging/test-monitoring.sh)"
for file in prometheus/dbcheckin.rules.yml icinga2/dbcheckin.conf nagios/dbcheckin.cfg; do
    cmp -s "/usr/share/dbcheckin/$file" "packaging/$file" || fail "/usr/share/dbcheckin/$file differs from packaging/$file"
done
packaging/test-monitoring.sh /usr/share/dbcheckin /usr/bin/dbcheckin || fail "the installed monitoring definitions fail their tests (above)"
ok "Prometheus rules, Icinga 2 CheckCommand and Nagios command installed and valid"

step "man pages render"
for page in "${pages[@]}" /usr/share/man/man5/dbcheckin.toml.5.gz; do
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || fail "man warns about $page: $warnings"
    warnings=$(zcat "$page" | groff -man -ww -z 2>&1)
    [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
    MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q '^NAME' || fail "$page has no NAME section"
done
ok "${#pages[@]} + 1 man pages render without warnings"

step "completions load"
bash -n /usr/share/bash-completion/completions/dbcheckin || fail "bash completion: syntax error"
spec=$(bash -c 'source /usr/share/bash-completion/completions/dbcheckin && complete -p dbcheckin') ||
    fail "bash completion does not register for dbcheckin"
ok "bash: $spec"
zsh -n /usr/share/zsh/vendor-completions/_dbcheckin || fail "zsh completion: syntax error"
head -n 1 /usr/share/zsh/vendor-completions/_dbcheckin | grep -q '^#compdef dbcheckin' ||
    fail "zsh completion lacks its #compdef line"
ok "zsh: parses, #compdef dbcheckin"
fish -n /usr/share/fish/vendor_completions.d/dbcheckin.fish || fail "fish completion: syntax error"
offered=$(fish -c 'source /usr/share/fish/vendor_completions.d/dbcheckin.fish; complete -C"dbcheckin "' | cut -f1)
for sub in $(subcommands_of); do
    grep -qx "$sub" <<<"$offered" || fail "fish does not complete subcommand $sub (offered: $offered)"
done
ok "fish: completes every subcommand"

step "systemd-analyze"
verify=$(systemd-analyze verify "$UNIT" 2>&1) || fail "systemd-analyze verify failed: $verify"
# It exits 0 on typos and unknown directives: any output is a failure.
[ -z "$verify" ] || fail "systemd-analyze verify said: $verify"
ok "systemd-analyze verify: silent"
security=$(systemd-analyze security --offline=true "$UNIT" 2>&1) || true
exposure=$(sed -n 's/.*Overall exposure level for dbcheckin.service: \([0-9.]*\).*/\1/p' <<<"$security")
[ -n "$exposure" ] || fail "no exposure level in: $security"
awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e <= max) }' ||
    fail "the unit's exposure is $exposure, above $MAX_EXPOSURE: $security"
ok "exposure $exposure (at most $MAX_EXPOSURE)"

step "getaddrinfo without AF_NETLINK (the unit's RestrictAddressFamilies= leaves it out)"
# A name with three addresses, in a private mount namespace's /etc/hosts: with
# several answers glibc asks the kernel (netlink) how to sort them. Every
# socket() refused as RestrictAddressFamilies= refuses it, all still resolve.
hosts=$(mktemp)
trace=$(mktemp)
printf '127.0.0.1 localhost\n10.9.8.7 three.test\n10.9.8.6 three.test\nfd00::7 three.test\n' >"$hosts"
resolved=$(unshare -m sh -c "mount --bind '$hosts' /etc/hosts &&
    strace -f -qq -e trace=socket -e inject=socket:error=EAFNOSUPPORT -o '$trace' getent ahosts three.test") ||
    fail "getent ahosts three.test failed with every socket refused: $resolved $(cat "$trace")"
grep -q 'socket(AF_NETLINK.*EAFNOSUPPORT' "$trace" ||
    fail "getaddrinfo no longer asks netlink, so this check tests nothing: $(cat "$trace")"
rm -f "$hosts" "$trace"
for address in 10.9.8.7 10.9.8.6 fd00::7; do
    grep -q "^$address " <<<"$resolved" || fail "getaddrinfo without sockets lost $address: $resolved"
done
ok "getaddrinfo resolves every address with AF_NETLINK refused"

step "upgrade path: install again over an edited conffile and some state"
sed -i 's/^# first_delay = "2m"$/first_delay = "3m"/' /etc/dbcheckin/config.toml
grep -q '^first_delay = "3m"$' /etc/dbcheckin/config.toml || fail "could not edit the conffile"
runuser -u dbcheckin -- touch /var/lib/dbcheckin/kept.json
out=$(dpkg -i "$deb" 2>&1) || fail "reinstalling failed: $out"
grep -q '^first_delay = "3m"$' /etc/dbcheckin/config.toml || fail "the upgrade lost the admin's conffile edit"
[ -e /var/lib/dbcheckin/kept.json ] || fail "the upgrade lost the state"
[ "$(systemctl is-enabled dbcheckin.service 2>/dev/null)" = enabled ] || fail "the upgrade disabled the service"
ok "upgrade keeps the conffile edit, the state and the enablement (try-restart is skipped without systemd)"

step "remove (not purge)"
out=$(dpkg -r dbcheckin 2>&1) || fail "dpkg -r failed: $out"
for path in /usr/bin/dbcheckin "$UNIT" /usr/share/man/man1/dbcheckin.1.gz; do
    [ ! -e "$path" ] || fail "$path is left after removal"
done
grep -q '^first_delay = "3m"$' /etc/dbcheckin/config.toml || fail "removal lost the conffile"
[ -e /var/lib/dbcheckin/kept.json ] || fail "removal lost the state"
getent passwd dbcheckin >/dev/null || fail "removal deleted the user (only purge may)"
[ ! -e "$WANTS" ] || fail "removal left the service enabled ($WANTS)"
ok "binary gone; conffile, state and user kept; service disabled"

step "install after removal, then purge"
out=$(dpkg -i "$deb" 2>&1) || fail "installing after removal failed: $out"
[ "$(systemctl is-enabled dbcheckin.service 2>/dev/null)" = enabled ] ||
    fail "installing after a removal did not enable the service again"
grep -q '^first_delay = "3m"$' /etc/dbcheckin/config.toml || fail "reinstalling lost the conffile edit"
ok "enabled again, conffile edit kept"
out=$(dpkg --purge dbcheckin 2>&1) || fail "dpkg --purge failed: $out"
if grep -qi warning <<<"$out"; then fail "dpkg --purge warned: $out"; fi
installed && fail "dpkg still lists dbcheckin after purge"
for entry in "${files[@]}" "$WANTS - - -"; do
    path=${entry%% *}
    [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path is left after purge"
done
getent passwd dbcheckin >/dev/null && fail "user dbcheckin is left after purge"
getent group dbcheckin >/dev/null && fail "group dbcheckin is left after purge"
ok "purge leaves no file, directory, user, group or enablement behind"

step "rpm"
listing=$(rpm -qplv "$rpm" 2>/dev/null) || fail "rpm -qplv cannot read $rpm"
echo "$listing"
# mode owner group path
while read -r mode owner group path; do
    grep -qE "^$mode +[0-9]+ +$owner +$group .* $path\$" <<<"$listing" ||
        fail "rpm -qplv: no '$mode $owner $group $path'"
done <<EOF
-rwxr-xr-x root root /usr/bin/dbcheckin
-rw-r--r-- root root $UNIT
-rw-r--r-- root root /usr/lib/sysusers.d/dbcheckin.conf
-rw-r--r-- root root /usr/lib/tmpfiles.d/dbcheckin.conf
-rw-r--r-- root root /etc/dbcheckin/config.toml
-rw-r--r-- root root /usr/share/man/man5/dbcheckin.toml.5.gz
-rw-r--r-- root root /usr/share/bash-completion/completions/dbcheckin
-rw-r--r-- root root /usr/share/zsh/site-functions/_dbcheckin
-rw-r--r-- root root /usr/share/fish/vendor_completions.d/dbcheckin.fish
-rw-r--r-- root root /usr/share/doc/dbcheckin/README.md
-rw-r--r-- root root /usr/share/licenses/dbcheckin/LICENSE-MIT
-rw-r--r-- root root /usr/share/licenses/dbcheckin/LICENSE-APACHE
-rw-r--r-- root root /usr/share/dbcheckin/prometheus/dbcheckin.rules.yml
-rw-r--r-- root root /usr/share/dbcheckin/icinga2/dbcheckin.conf
-rw-r--r-- root root /usr/share/dbcheckin/nagios/dbcheckin.cfg
EOF
for page in "${pages[@]}"; do
    grep -qE " $page\$" <<<"$listing" || fail "rpm -qplv: no $page"
done
ok "rpm -qplv lists every file with its mode and owner"
[ "$(rpm -qp --configfiles "$rpm" 2>/dev/null)" = /etc/dbcheckin/config.toml ] ||
    fail "rpm --configfiles: $(rpm -qp --configfiles "$rpm" 2>&1)"
flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null | grep ' /etc/dbcheckin/config.toml$')
grep -q '^cn ' <<<"$flags" || fail "the conffile is not %config(noreplace): $flags"
ok "rpm --configfiles: /etc/dbcheckin/config.toml, %config(noreplace)"
requires=$(rpm -qp --requires "$rpm" 2>/dev/null)
echo "$requires"
grep -qx '/bin/sh' <<<"$requires" || fail "rpm --requires lacks /bin/sh (the scriptlets need it)"
grep -q '^libc.so.6' <<<"$requires" || fail "rpm --requires lacks libc.so.6"
ok "rpm --requires: /bin/sh, libc"
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
for scriptlet in preinstall postinstall preuninstall postuninstall; do
    grep -q "^$scriptlet scriptlet" <<<"$scripts" || fail "rpm --scripts: no $scriptlet scriptlet"
done
for needle in 'systemd-sysusers' 'useradd --system' 'systemd-tmpfiles --create' 'enable --now dbcheckin.service' \
    'try-restart dbcheckin.service' 'stop dbcheckin.service' 'disable dbcheckin.service' "$GRANT"; do
    grep -qF -- "$needle" <<<"$scripts" || fail "rpm --scripts: no '$needle'"
done
sysusers_line=$(grep '^u ' packaging/sysusers.d/dbcheckin.conf)
grep -qF "echo '$sysusers_line'" <<<"$scripts" || fail "the %pre user line differs from packaging/sysusers.d/dbcheckin.conf's"
ok "rpm --scripts: %pre, %post, %preun, %postun do what the .deb's scripts do"

step "sizes"
printf '%-12s %10s bytes\n' "binary" "$(stat -c %s "$target/release/dbcheckin")" \
    ".deb" "$(stat -c %s "$deb")" ".rpm" "$(stat -c %s "$rpm")"
echo "package tests passed in $(($(date +%s) - started)) s"
