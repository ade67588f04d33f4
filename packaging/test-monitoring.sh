#!/usr/bin/env bash
# Checks the monitoring definitions dbcheckin ships, with the real tools:
#   Prometheus rules: promtool check rules, then promtool test rules
#     (packaging/prometheus/dbcheckin.rules.test.yml: every alert firing and
#     not firing);
#   Icinga 2 CheckCommand: icinga2 daemon -C on a configuration that includes
#     it and uses it with every argument;
#   Nagios command: its command_line, with $ARG1$ filled in, is accepted by
#     the dbcheckin binary (a usage error would exit 2; a missing
#     configuration is UNKNOWN, exit 3).
# Usage: packaging/test-monitoring.sh [DIR BINARY]
#   DIR holds prometheus/, icinga2/ and nagios/ (default: packaging/, the
#   sources); BINARY is the dbcheckin to run (default: target/debug/dbcheckin).
#   test-packages.sh runs it on the installed files: /usr/share/dbcheckin /usr/bin/dbcheckin
# .ci/run installs promtool (Debian's prometheus) and icinga2-bin.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "test-monitoring: FAIL: $*" >&2
    exit 1
}
ok() { echo "  ok: $*"; }

dir=${1:-packaging}
binary=${2:-${CARGO_TARGET_DIR:-target}/debug/dbcheckin}
rules=$dir/prometheus/dbcheckin.rules.yml
icinga=$dir/icinga2/dbcheckin.conf
nagios=$dir/nagios/dbcheckin.cfg
for tool in promtool icinga2; do
    command -v "$tool" >/dev/null ||
        fail "$tool is missing: .ci/run installs it (apt install prometheus icinga2-bin, with services kept from starting)"
done
for file in "$rules" "$icinga" "$nagios"; do [ -f "$file" ] || fail "$file is missing"; done
[ -x "$binary" ] || fail "$binary is missing: build it first (cargo build)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# icinga2 reads its configuration as the nagios user.
chmod 755 "$work"

echo "== Prometheus rules ($rules)"
out=$(promtool check rules "$rules" 2>&1) || fail "promtool check rules: $out"
alerts=$(grep -c '^ *- alert: ' "$rules")
grep -q "SUCCESS: $alerts rules found" <<<"$out" || fail "promtool found other than $alerts rules: $out"
ok "promtool check rules: $alerts alerts"
# The unit tests sit beside the rules in the sources; they name the rules
# file relative to themselves, so run them on a copy next to the file tested.
cp packaging/prometheus/dbcheckin.rules.test.yml "$work/"
cp "$rules" "$work/dbcheckin.rules.yml"
out=$(cd "$work" && promtool test rules dbcheckin.rules.test.yml 2>&1) || fail "promtool test rules: $out"
ok "promtool test rules: passed"
# Every alert of the rules file has a test in which it fires.
for alert in $(sed -n 's/^ *- alert: //p' "$rules"); do
    grep -A2 "alertname: $alert\$" packaging/prometheus/dbcheckin.rules.test.yml | grep -q -- '- exp_labels' ||
        fail "no test shows $alert firing"
done
ok "every alert has a firing test"

echo "== Icinga 2 CheckCommand ($icinga)"
# A copy: the checkout may sit where the nagios user cannot read.
cp "$icinga" "$work/dbcheckin.conf"
cat >"$work/icinga2.conf" <<CONF
include "$work/dbcheckin.conf"
object Host "odoo1" {
  check_command = "dbcheckin"
}
object Service "dbcheckin" {
  host_name = "odoo1"
  check_command = "dbcheckin"
  vars.dbcheckin_database = [ "prod", "staging" ]
  vars.dbcheckin_config = "/etc/dbcheckin/config.toml"
}
CONF
chmod 644 "$work/icinga2.conf" "$work/dbcheckin.conf"
out=$(icinga2 daemon -C -c "$work/icinga2.conf" 2>&1) || fail "icinga2 daemon -C: $out"
grep -q 'Instantiated 1 CheckCommand' <<<"$out" || fail "icinga2 did not load the CheckCommand: $out"
ok "icinga2 daemon -C: valid, 1 CheckCommand"
# The command and arguments Icinga runs, as the binary must accept them.
grep -qF 'command = [ "/usr/bin/dbcheckin", "status", "--format", "nagios" ]' "$icinga" ||
    fail "the CheckCommand does not run /usr/bin/dbcheckin status --format nagios"

echo "== Nagios command ($nagios)"
line=$(sed -n 's/^ *command_line *//p' "$nagios")
[ "$(wc -l <<<"$line")" = 1 ] && [ -n "$line" ] || fail "$nagios has not exactly one command_line"
[ "${line%% *}" = /usr/bin/dbcheckin ] || fail "the command line does not run /usr/bin/dbcheckin: $line"
# Run with the binary under test, $ARG1$ as README shows it, and a
# configuration that does not exist: argument parsing must pass.
args=${line#/usr/bin/dbcheckin }
args=${args//\$ARG1\$/--database prod}
set +e
# shellcheck disable=SC2086 # the command line is words, as Nagios splits it
out=$(DBCHECKIN_CONFIG=$work/none.toml "$binary" $args 2>&1)
code=$?
set -e
[ "$code" = 3 ] || fail "'$binary $args' exited $code, expected 3 (UNKNOWN: no configuration): $out"
grep -q 'configuration error' <<<"$out" || fail "'$binary $args' did not report the missing configuration: $out"
# The same arguments as Icinga passes them.
set +e
out=$("$binary" status --format nagios --config "$work/none.toml" --database prod --database staging 2>&1)
code=$?
set -e
[ "$code" = 3 ] || fail "the Icinga 2 command line exited $code, expected 3: $out"
ok "the binary accepts both command lines (UNKNOWN without a configuration, no usage error)"
echo "monitoring definitions passed"
